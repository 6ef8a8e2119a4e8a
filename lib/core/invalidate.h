/* invalidate.h -- which purge generations a finished request bumps.
 *
 * Invalidation is declared, not coded: a route's invalidates= list names
 * the routes a successful request to it purges, and (RFC 9111 §4.4) a
 * successful unsafe request purges every variant of its own URL and of
 * its Location / Content-Location on the same host, on every route that
 * caches them.  A purge is one SET of a new random generation, which every
 * older entry then fails to match: O(1) whatever the number of entries. */
#ifndef CGICACHE_INVALIDATE_H
#define CGICACHE_INVALIDATE_H

#include <stdbool.h>

#include "config.h"
#include "generation.h"
#include "http.h"
#include "request.h"

/* URL generations outlive every entry they may still have to hide (see
 * CC_ENTRY_MAX_LIFE_MS), so an expired generation never revives one. */
#define CC_ENTRY_MAX_LIFE_MS (7LL * 24 * 3600 * 1000)
#define CC_URL_GEN_LIFE_MS (CC_ENTRY_MAX_LIFE_MS + 3600LL * 1000)

/* Called once per generation key to bump; url tells a URL generation
 * (which expires) from a route generation (which does not). */
typedef void (*cc_gen_fn)(void *ctx, const char *gen_key, bool url);

/* True when a request with this method on this route may invalidate
 * anything, so the adapter must follow its response. */
bool cc_invalidate_possible(const cc_config *cfg, const cc_route *route, unsigned method_bit);

/* Reports the generation keys that the request rq, answered with head,
 * invalidates (nothing unless the status is 2xx or 3xx).  route is the
 * request's own route, or NULL. */
void cc_invalidate_targets(const cc_config *cfg, const cc_route *route, const cc_request *rq,
                           const cc_head *head, cc_gen_fn fn, void *ctx);

/* ---- prefix purges (generation.h) ---------------------------------------- */

/* The purge prefix text names (a path as a URL spells it, %XX escapes
 * and all) in decoded form (path.h), into out (cap bytes, NUL added):
 * refused (-1) when empty, not beginning with '/', holding a query or a
 * fragment, or not in normal form (".." or "." segments, "//", an encoded
 * '/', ...: the app may read those two ways, and no entry is stored
 * under such a path).  One longer than CC_GEN_PREFIX_MAX is cut after
 * its last '/' within that length: it then covers more, never less.
 * Returns the length. */
long cc_prefix_norm(const char *text, size_t len, char *out, size_t cap);

/* Reports the route generation of every route that may cache a GET of a
 * path the prefix covers (generation.h), whatever the host: a prefix
 * purge applies to each (url false). */
void cc_invalidate_prefix_routes(const cc_config *cfg, const char *prefix, size_t len, cc_gen_fn fn,
                                 void *ctx);

/* ---- purges an app asks for ------------------------------------------------
 *
 * An app that cannot name generation keys names what it changed in its
 * response to a successful unsafe request, in headers the library strips
 * (http.h, cc_header_is_app_purge):
 *   X-Cache-Purge-Tags: a, b        the entries tagged a or b (as cgicache purge --tag)
 *   X-Cache-Purge-Prefix: /blogs/7  every URL under the path (cgicache purge --prefix)
 *   X-Cache-Purge-Soft: 1           those two mark stale instead of removing
 * Never followed on a safe request (GET, HEAD): a page must not purge the
 * cache by being fetched, which anyone can make it do.  A malformed value
 * is ignored (logged at debug level by the caller); the sizes are bounded. */
#define CC_APP_TAGS_MAX 8
#define CC_APP_PREFIXES_MAX 4

typedef struct cc_app_purge {
    bool soft;
    size_t ntags, nprefixes, ignored; /* ignored: malformed or over the bounds */
    char tags[CC_APP_TAGS_MAX][CC_NAME_MAX];
    char prefixes[CC_APP_PREFIXES_MAX][CC_GEN_PREFIX_MAX + 1];
    size_t prefix_len[CC_APP_PREFIXES_MAX];
} cc_app_purge;

/* Reads the purge headers of the request rq answered with head into out
 * (cleared first; nothing unless rq is unsafe and the status 2xx or 3xx).
 * Returns how many purges it holds. */
size_t cc_invalidate_app_purge(const cc_request *rq, const cc_head *head, cc_app_purge *out);

/* Reports the route generations an app purge may touch: the routes its
 * prefixes reach, and for tags every route that caches GETs.  This
 * worker's near cache forgets them; and when the purge cannot be
 * delivered they are kept for retry instead, purging the routes whole
 * (more, never less). */
void cc_invalidate_app_routes(const cc_config *cfg, const cc_app_purge *p, cc_gen_fn fn, void *ctx);

#endif
