/* stats.h -- per-route counters, shared in Redis by every worker.
 *
 * Counting is a relaxed atomic increment in process memory; the counts
 * ride along, as HINCRBY commands, with the next batch this process sends
 * to Redis anyway, at most once a second.  So `cgicache stats` sees every
 * worker's numbers (a second late at most) and the hit path never pays a
 * round trip for them. */
#ifndef CGICACHE_STATS_H
#define CGICACHE_STATS_H

#include <stddef.h>

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
    CC_STAT_KINDS
} cc_stat;

extern const char *const cc_stat_names[CC_STAT_KINDS];

void cc_stats_count(const cc_config *cfg, const cc_route *route, cc_stat kind);

#define CC_STATS_BATCH 24

/* Room for the arguments of one flush. */
typedef struct cc_stats_flush {
    char keys[CC_STATS_BATCH][2 * CC_NAME_MAX + 16];
    char counts[CC_STATS_BATCH][24];
} cc_stats_flush;

/* When a flush is due (a second since the last), takes the counts and
 * writes up to max HINCRBY commands into cmds; returns how many. */
size_t cc_stats_take(const cc_config *cfg, cc_cmd *cmds, size_t max, cc_stats_flush *room);

/* "<prefix>:#stats:<route>": the hash of a route's counters. */
int cc_stats_key(const cc_config *cfg, const char *route, char *out, size_t cap);

#endif
