/* generation.h -- the purge generation a lookup finds, failing closed,
 * and what an entry's recorded generation is worth against it.
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
 * GET, see cache.c; only when that is refused does the store try.)
 *
 * A generation key's value is a list, so that a purge can be soft (mark
 * stale) or cover a path prefix without touching an entry:
 *
 *   value  = tokens *( "\n" record )         records: route generations only
 *   tokens = current *( " " previous )       at most CC_GEN_PREVIOUS_MAX previous
 *   record = path-prefix "\t" tokens         a previous token "-": no record then
 *
 * A hard purge writes a lone new token (records and all gone); a soft one
 * writes a new current token and keeps the old ones after it.  A prefix
 * purge adds or renews a record on a route's generation.  A URL's
 * generation folds its route's current token, the current tokens of the
 * records whose prefix covers its path (in the order stored), and its
 * URL's current token.  An entry that matches that is as it was; one
 * that matches a fold with previous tokens in place of current ones was
 * soft-purged since: it is served STALE while one request refreshes it.
 * Anything else was purged.  A value of one token (every value before
 * soft and prefix purges existed) folds exactly as it always did. */
#ifndef CGICACHE_GENERATION_H
#define CGICACHE_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Folds the values of the route and URL generation keys (NULL when
 * absent) into the generation an entry records when it is computed.  A
 * purge writes a new random value into one of them, so every entry
 * computed before it stops matching, at once, without touching them:
 * an O(1) purge that a hit checks in the same round trip as its GET.
 * (The fold of two single-token values; cc_generation_found reads lists.) */
uint64_t cc_key_generation(const char *route_gen, size_t route_len, const char *url_gen,
                           size_t url_len);

#define CC_GEN_VALUE_LEN 16     /* hex digits of a generation value */

/* Soft-purged tokens a generation keeps after its current one: an entry
 * soft-purged more often than this before it is refreshed is a miss. */
#define CC_GEN_PREVIOUS_MAX 4
/* Prefix records a route generation keeps, and the bytes it may grow to:
 * the value is read on every lookup of the route.  The purge that would
 * pass either purges the whole route instead (hard) and starts afresh:
 * dropping a record must never bring back what it purged. */
#define CC_GEN_RECORDS_MAX 32
#define CC_GEN_ROUTE_VALUE_MAX 4096
/* The longest prefix recorded; a longer one is cut at a '/' (cc_prefix_norm). */
#define CC_GEN_PREFIX_MAX 256

/* Writes CC_GEN_VALUE_LEN random hex digits and a NUL (cc_random_hex). */
typedef void (*cc_gen_draw)(char *out);

/* The generation a lookup found from the values it read (NULL: missing),
 * for an entry whose decoded path (path.h) is path.  For each missing key
 * a value is drawn into fresh_route / fresh_url (CC_GEN_VALUE_LEN + 1
 * bytes), which the next store must create the key with; for a present
 * one they are set to "". */
uint64_t cc_generation_found(const char *route, size_t route_len, const char *url, size_t url_len,
                             const char *path, size_t path_len, char *fresh_route, char *fresh_url,
                             cc_gen_draw draw);

/* True when recorded, which is not the current generation, is what the
 * values fold to with previous (soft-purged) tokens in place of current
 * ones: the entry was soft-purged since it was computed, and nothing
 * hard-purged it.  NULL values (missing keys) have nothing previous.
 * Bounded: past CC_GEN_CHOICES_MAX folds, the rest count as purged. */
#define CC_GEN_CHOICES_MAX 128
bool cc_generation_soft(uint64_t recorded, const char *route, size_t route_len, const char *url,
                        size_t url_len, const char *path, size_t path_len);

/* Whether the purge prefix covers path (both decoded, path.h): a prefix
 * ending in '/' covers every path that starts with it; any other covers
 * itself and the paths under it ("/a/b" covers "/a/b" and "/a/b/c", never
 * "/a/bc").  Queries are not part of a path: every query of a covered
 * path is covered. */
bool cc_prefix_covers(const char *prefix, size_t prefix_len, const char *path, size_t path_len);

#endif
