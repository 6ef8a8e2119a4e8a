/* sentinel.h -- asking Redis Sentinel where the master is.
 *
 * redis-sentinel://h1:26379,h2:26379/0#name: store.c asks here, each time
 * it connects, which node is the master the sentinels call name, then
 * confirms it with ROLE before writing (store.c).  Nothing is cached
 * between connections: a connection is made anew only after a failure or
 * a failover, which is exactly when an old answer is wrong. */
#ifndef CGICACHE_SENTINEL_H
#define CGICACHE_SENTINEL_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Asks the sentinel one question on a connection of its own: SENTINEL
 * GET-MASTER-ADDR-BY-NAME <cfg's master>, after AUTH with cfg's
 * credentials when with_auth.  Returns the reply (the caller frees it),
 * or NULL when the sentinel could not be asked.  store.c's, which makes
 * connections: this file only decides whom to ask and what an answer is
 * worth. */
typedef redisReply *cc_sentinel_asker(const cc_config *cfg, const cc_redis_node *sentinel,
                                      bool with_auth);

/* Asks the sentinels of cfg with ask, from *next on and around, for the
 * master's address: the first that answers with one wins, and *next is
 * set to it, so the next connection asks it first.  Returns 0 with host
 * (cap bytes) and *port set, or -1 with why (why_cap bytes) saying what
 * the sentinels answered. */
int cc_sentinel_master(const cc_config *cfg, cc_sentinel_asker *ask, int *next, char *host,
                       size_t cap, int *port, char *why, size_t why_cap);

#endif
