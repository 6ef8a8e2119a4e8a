/* sentinel.h -- asking Redis Sentinel where the master is.
 *
 * redis-sentinel://h1:26379,h2:26379/0#name: store.c asks here, each time
 * it connects, which node is the master the sentinels call name, then
 * confirms it with ROLE before writing (store.c).  Nothing is cached
 * between connections: a connection is made anew only after a failure or
 * a failover, which is exactly when an old answer is wrong. */
#ifndef CGICACHE_SENTINEL_H
#define CGICACHE_SENTINEL_H

#include <stddef.h>

#include "config.h"

/* Asks the sentinels of cfg, from *next on and around, for the master's
 * address (SENTINEL GET-MASTER-ADDR-BY-NAME): the first that answers
 * with one wins, and *next is set to it, so the next connection asks it
 * first.  Returns 0 with host (cap bytes) and *port set, or -1 with why
 * (why_cap bytes) saying what the sentinels answered. */
int cc_sentinel_master(const cc_config *cfg, int *next, char *host, size_t cap, int *port,
                       char *why, size_t why_cap);

#endif
