/* pending.h -- purges this process could not deliver, kept until it can.
 *
 * A successful write bumps purge generations in Redis before its response
 * is complete.  When Redis cannot take the bump (down, frozen, breaker
 * open, refusing writes), forgetting it would leave the old page served
 * for its whole TTL.  So the generation keys are kept here, per process,
 * retried after later requests, and while any is pending, this process
 * serves no entry that the purge covers (cc_pending_covers).  Other
 * processes and hosts do not know of it: they serve the old entry until
 * the purge reaches Redis or the entry expires (README, "Safety").
 *
 * Bounded: at most CC_PENDING_MAX generation keys; past that, a URL's
 * purge is widened to its whole route (the route generation is a prefix
 * of the URL's), which can only purge more, never less. */
#ifndef CGICACHE_PENDING_H
#define CGICACHE_PENDING_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "key.h"
#include "store.h"

#define CC_PENDING_MAX 256

/* Keeps gen_key (a route generation, or a URL one when url) for retry. */
void cc_pending_add(const char *gen_key, bool url);

/* How many purges are pending: one atomic load, for the hot path. */
size_t cc_pending_count(void);

/* True when a pending purge covers key's entries (its route or its URL
 * generation is pending). */
bool cc_pending_covers(const cc_key *key);

/* Tries to deliver every pending purge on s (one round trip, at most
 * every 200 ms per process); those Redis took are forgotten.  Returns how
 * many are still pending. */
size_t cc_pending_retry(cc_store *s);

#endif
