/* stats.h -- per-route counters, shared in Redis by every worker.
 *
 * Counting is a relaxed atomic increment in process memory; the counts
 * ride along, as HINCRBY commands, with the next batch this process sends
 * to Redis anyway, at most once a second.  So `cgicache stats` sees every
 * worker's numbers (a second late at most) and the hit path never pays a
 * round trip for them.
 *
 * The Redis connection's own failures, counted by store.c for the whole
 * process (cc_store_counters), go the same way to "<prefix>:#stats:#redis"
 * (no route is named "#redis").  They happen while Redis is away, so a
 * batch that does not get through gives its counts back: they wait in
 * memory for the first batch that does. */
#ifndef CGICACHE_STATS_H
#define CGICACHE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

typedef enum {
    CC_STAT_HIT,
    CC_STAT_MISS,
    CC_STAT_STALE,
    CC_STAT_BYPASS,
    CC_STAT_NO_CACHE,
    CC_STAT_COLLAPSED,
    CC_STAT_STORE,
    CC_STAT_STORE_ERROR,
    CC_STAT_NEAR,             /* hits from a worker's own memory (also in HIT) */
    CC_STAT_STALE_IF_ERROR,   /* a stored copy served for a failed answer */
    CC_STAT_PASS,             /* misses that skipped the lock: known uncacheable */
    CC_STAT_MIN_USES_SKIP,    /* misses not stored: asked fewer than min-uses times */
    CC_STAT_LOCK_WAIT,        /* waits for another request's computation of the key */
    CC_STAT_LOCK_WAIT_MS,     /* their total time, in milliseconds */
    CC_STAT_LOCK_GAVE_UP,     /* waits that ended without its response: the app ran */
    CC_STAT_KINDS
} cc_stat;

extern const char *const cc_stat_names[CC_STAT_KINDS];

void cc_stats_count(const cc_config *cfg, const cc_route *route, cc_stat kind);

/* One wait for another request's fill, and how long it took. */
void cc_stats_lock_wait(const cc_config *cfg, const cc_route *route, int64_t ms);

/* The fields of the Redis connection's counters (cc_store_counters), and
 * the pseudo-route whose hash holds them. */
extern const char *const cc_stats_redis_names[CC_STORE_COUNTERS];
#define CC_STATS_REDIS "#redis"

#define CC_STATS_BATCH 24

/* Room for the arguments of one flush. */
typedef struct cc_stats_flush {
    char keys[CC_STATS_BATCH][2 * CC_NAME_MAX + 16];
    char counts[CC_STATS_BATCH][24];
    _Atomic uint64_t *from[CC_STATS_BATCH]; /* the counter each count was taken from */
    uint64_t taken[CC_STATS_BATCH];
    size_t n;
} cc_stats_flush;

/* When a flush is due (a second since the last), takes the counts and
 * writes up to max HINCRBY commands into cmds; returns how many. */
size_t cc_stats_take(const cc_config *cfg, cc_cmd *cmds, size_t max, cc_stats_flush *room);

/* Gives back what cc_stats_take took, when the batch carrying it did not
 * get through: the next one sends it.  (A batch that timed out after
 * Redis applied it is then counted twice, a rare overcount preferred to
 * losing every count made while Redis was away.) */
void cc_stats_untake(cc_stats_flush *room);

/* "<prefix>:#stats:<route>": the hash of a route's counters. */
int cc_stats_key(const cc_config *cfg, const char *route, char *out, size_t cap);

#endif
