/* stats.c -- per-route counters, batched into the next Redis round trip.
 *
 * The counters are one array of atomics per process, sized by the number
 * of routes; whichever thread next talks to Redis after a second has
 * passed takes the counts (an atomic exchange each, so none is counted
 * twice or lost between threads) and sends them with its own commands. */
#include "stats.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "keyspace.h"

const char *const cc_stat_names[CC_STAT_KINDS] = {
    "hit",   "miss",        "stale",    "bypass",         "no_cache", "collapsed",
    "store", "store_error", "near_hit", "stale_if_error", "pass",     "min_uses_skip",
};

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

void cc_stats_count(const cc_config *cfg, const cc_route *route, cc_stat kind)
{
    _Atomic uint64_t *c = route != NULL ? counters_for(cfg) : NULL;
    if (c == NULL)
        return;
    size_t index = (size_t)(route - cfg->routes);
    atomic_fetch_add_explicit(&c[index * CC_STAT_KINDS + kind], 1, memory_order_relaxed);
}

int cc_stats_key(const cc_config *cfg, const char *route, char *out, size_t cap)
{
    return cc_keyspace_key(cfg, CC_KS_STATS, route, strlen(route), out, cap);
}

size_t cc_stats_take(const cc_config *cfg, cc_cmd *cmds, size_t max, cc_stats_flush *room)
{
    _Atomic uint64_t *c = atomic_load_explicit(&counters, memory_order_acquire);
    int64_t now = cc_mono_ms();
    int64_t due = atomic_load_explicit(&next_flush, memory_order_relaxed);
    if (c == NULL || now < due ||
        !atomic_compare_exchange_strong(&next_flush, &due, now + FLUSH_EVERY_MS))
        return 0;
    size_t n = 0;
    if (max > CC_STATS_BATCH)
        max = CC_STATS_BATCH;
    for (size_t r = 0; r < cfg->nroutes && n < max; r++) {
        for (size_t k = 0; k < CC_STAT_KINDS && n < max; k++) {
            uint64_t v = atomic_exchange_explicit(&c[r * CC_STAT_KINDS + k], 0,
                                                  memory_order_relaxed);
            if (v == 0)
                continue;
            cc_stats_key(cfg, cfg->routes[r].name, room->keys[n], sizeof room->keys[n]);
            snprintf(room->counts[n], sizeof room->counts[n], "%llu", (unsigned long long)v);
            cc_cmd *cmd = &cmds[n++];
            cmd->argc = 0;
            cc_cmd_arg(cmd, "HINCRBY", (size_t)-1);
            cc_cmd_arg(cmd, room->keys[n - 1], (size_t)-1);
            cc_cmd_arg(cmd, cc_stat_names[k], (size_t)-1);
            cc_cmd_arg(cmd, room->counts[n - 1], (size_t)-1);
        }
    }
    return n;
}
