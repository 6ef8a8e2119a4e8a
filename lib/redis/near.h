/* near.h -- hits from the worker's own memory, kept coherent by Redis.
 *
 * Each FastCGI worker thread may keep the entries it found fresh in Redis
 * (CGICACHE_NEAR_SIZE bytes, least recently used out first) and answer
 * them without a Redis command.  Redis tells it when one could have
 * changed: the thread's data connection tracks what it reads (CLIENT
 * TRACKING, RESP2, redirected) and a connection of the near cache's own,
 * subscribed to __redis__:invalidate, receives a message for every key it
 * read that changes -- a store, a purge generation, an expiry, an
 * eviction -- and a null one for FLUSHALL.  Those are applied before every
 * near hit.  When that channel cannot vouch for itself (lost, Redis
 * restarted, the data connection made anew, no answer to its heartbeat
 * within the deadline), the near cache is emptied and refilled only once
 * tracking runs again.  Entries are served only while fresh; stale
 * serving, early refresh and the lock go through Redis as before. */
#ifndef CGICACHE_NEAR_H
#define CGICACHE_NEAR_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "entry.h"
#include "key.h"
#include "store.h"

typedef struct cc_near cc_near;

/* Lets this process keep near caches: called by the FastCGI adapters
 * (a CGI process lives for one request and never keeps one). */
void cc_near_allow(void);

/* This thread's near cache, or NULL when it is disabled (size 0, not a
 * FastCGI worker, caching off). */
cc_near *cc_near_for_thread(const cc_config *cfg);

/* Where Redis's answers stood before a lookup on s: cc_near_put keeps
 * what the lookup found only if nothing it read could have changed since
 * without the near cache being told. */
typedef struct cc_near_mark {
    uint64_t seq;
    unsigned serial;
    bool tracking;
} cc_near_mark;

cc_near_mark cc_near_mark_now(cc_near *n, cc_store *s);

/* The entry for key, if n holds it fresh at now and may serve it (its
 * invalidations applied first).  *e points into n until its next call. */
bool cc_near_get(cc_near *n, cc_store *s, const cc_key *key, int64_t now, cc_entry *e);

/* Keeps a copy of the fresh entry e a lookup on s found for key. */
void cc_near_put(cc_near *n, cc_store *s, const cc_key *key, const cc_entry *e, cc_near_mark mark);

/* Drops what n holds under key (an entry or a purge generation) at once:
 * for the worker that changes it, before Redis's message comes. */
void cc_near_forget(cc_near *n, const char *key);

#endif
