/* stats.c -- per-route counters, batched into the next Redis round trip.
 *
 * The counters are one array of atomics per process, sized by the number
 * of routes; whichever thread next talks to Redis after a second has
 * passed takes the counts (an atomic exchange each, so none is counted
 * twice or lost between threads) and sends them with its own commands.
 * If that batch does not get through, the counts are given back, so what
 * is counted while Redis is away (its own failures first) reaches it
 * with the first batch that does. */
#include "stats.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "keyspace.h"

const char *const cc_stat_names[CC_STAT_KINDS] = {
    "hit",       "miss",          "stale",       "bypass",       "no_cache",
    "collapsed", "store",         "store_error", "near_hit",     "stale_if_error",
    "pass",      "min_uses_skip", "lock_wait",   "lock_wait_ms", "lock_gave_up",
};

const char *const cc_stats_redis_names[CC_STORE_COUNTERS] = {"redis_error", "breaker_open"};

#define FLUSH_EVERY_MS 1000

static _Atomic(_Atomic uint64_t *) counters;
static _Atomic int64_t next_flush;

static _Atomic uint64_t *counters_for(const cc_config *cfg)
{
    _Atomic uint64_t *c = atomic_load_explicit(&counters, memory_order_acquire);
    if (c != NULL || cfg->nroutes == 0)
        return c;
    _Atomic uint64_t *fresh = calloc(cfg->nroutes * CC_STAT_KINDS, sizeof *fresh);
    if (fresh == NULL)
        return NULL;
    _Atomic uint64_t *expected = NULL;
    if (!atomic_compare_exchange_strong(&counters, &expected, fresh)) {
        free(fresh);
        return expected;
    }
    return fresh;
}

static void add(const cc_config *cfg, const cc_route *route, cc_stat kind, uint64_t n)
{
    _Atomic uint64_t *c = route != NULL ? counters_for(cfg) : NULL;
    if (c == NULL)
        return;
    size_t index = (size_t)(route - cfg->routes);
    atomic_fetch_add_explicit(&c[index * CC_STAT_KINDS + kind], n, memory_order_relaxed);
}

void cc_stats_count(const cc_config *cfg, const cc_route *route, cc_stat kind)
{
    add(cfg, route, kind, 1);
}

void cc_stats_lock_wait(const cc_config *cfg, const cc_route *route, int64_t ms)
{
    add(cfg, route, CC_STAT_LOCK_WAIT, 1);
    add(cfg, route, CC_STAT_LOCK_WAIT_MS, ms > 0 ? (uint64_t)ms : 0);
}

int cc_stats_key(const cc_config *cfg, const char *route, char *out, size_t cap)
{
    return cc_keyspace_key(cfg, CC_KS_STATS, route, strlen(route), out, cap);
}

/* Takes one counter's count, if any, into the batch as an HINCRBY. */
static void take_one(const cc_config *cfg, const char *route, const char *field,
                     _Atomic uint64_t *counter, cc_cmd *cmd, cc_stats_flush *room)
{
    uint64_t v = atomic_exchange_explicit(counter, 0, memory_order_relaxed);
    if (v == 0)
        return;
    size_t n = room->n++;
    cc_stats_key(cfg, route, room->keys[n], sizeof room->keys[n]);
    snprintf(room->counts[n], sizeof room->counts[n], "%llu", (unsigned long long)v);
    room->from[n] = counter;
    room->taken[n] = v;
    cmd->argc = 0;
    cc_cmd_arg(cmd, "HINCRBY", (size_t)-1);
    cc_cmd_arg(cmd, room->keys[n], (size_t)-1);
    cc_cmd_arg(cmd, field, (size_t)-1);
    cc_cmd_arg(cmd, room->counts[n], (size_t)-1);
}

size_t cc_stats_take(const cc_config *cfg, cc_cmd *cmds, size_t max, cc_stats_flush *room)
{
    _Atomic uint64_t *c = atomic_load_explicit(&counters, memory_order_acquire);
    int64_t now = cc_mono_ms();
    int64_t due = atomic_load_explicit(&next_flush, memory_order_relaxed);
    room->n = 0;
    if (now < due || !atomic_compare_exchange_strong(&next_flush, &due, now + FLUSH_EVERY_MS))
        return 0;
    if (max > CC_STATS_BATCH)
        max = CC_STATS_BATCH;
    /* The connection's first: rare, and the likeliest to be waiting. */
    for (size_t k = 0; k < CC_STORE_COUNTERS && room->n < max; k++)
        take_one(cfg, CC_STATS_REDIS, cc_stats_redis_names[k], &cc_store_counters[k],
                 &cmds[room->n], room);
    for (size_t r = 0; c != NULL && r < cfg->nroutes && room->n < max; r++)
        for (size_t k = 0; k < CC_STAT_KINDS && room->n < max; k++)
            take_one(cfg, cfg->routes[r].name, cc_stat_names[k], &c[r * CC_STAT_KINDS + k],
                     &cmds[room->n], room);
    return room->n;
}

void cc_stats_untake(cc_stats_flush *room)
{
    for (size_t i = 0; i < room->n; i++)
        atomic_fetch_add_explicit(room->from[i], room->taken[i], memory_order_relaxed);
    room->n = 0;
}
