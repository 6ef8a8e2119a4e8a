/* generation.h -- the purge generation a lookup finds, failing closed.
 *
 * An entry records the generation folded from its route's and its URL's
 * generation keys when it was computed, and is served only while they
 * still fold to it.  A purge writes a new value; but a key can also be
 * lost (evicted, deleted, gone with a restart), and if "missing" were a
 * value like any other, losing a key after a purge would make entries
 * from before it match again.  So missing is never a value: a lookup that
 * finds a key missing draws a fresh random value for it, folds that in,
 * and the store that follows creates the key with it (SET NX) in the same
 * batch as the entry.  No entry recorded earlier can match a value drawn
 * now; and when the key was made or bumped by someone else in between,
 * the NX fails and the new entry matches nothing either: a wasted store,
 * never an old page.  (So that requests computed side by side agree,
 * the lookup itself makes a missing route or URL generation, SET NX then
 * GET, see cache.c; only when that is refused does the store try.) */
#ifndef CGICACHE_GENERATION_H
#define CGICACHE_GENERATION_H

#include <stddef.h>
#include <stdint.h>

/* Folds the values of the route and URL generation keys (NULL when
 * absent) into the generation an entry records when it is computed.  A
 * purge writes a new random value into one of them, so every entry
 * computed before it stops matching, at once, without touching them:
 * an O(1) purge that a hit checks in the same round trip as its GET. */
uint64_t cc_key_generation(const char *route_gen, size_t route_len, const char *url_gen,
                           size_t url_len);

#define CC_GEN_VALUE_LEN 16     /* hex digits of a generation value */

/* Writes CC_GEN_VALUE_LEN random hex digits and a NUL (cc_random_hex). */
typedef void (*cc_gen_draw)(char *out);

/* The generation a lookup found from the values it read (NULL: missing).
 * For each missing key a value is drawn into fresh_route / fresh_url
 * (CC_GEN_VALUE_LEN + 1 bytes), which the next store must create the key
 * with; for a present one they are set to "". */
uint64_t cc_generation_found(const char *route, size_t route_len, const char *url, size_t url_len,
                             char *fresh_route, char *fresh_url, cc_gen_draw draw);

#endif
