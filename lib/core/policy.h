/* policy.h -- what may be served from or stored in the cache.
 *
 * Pure rules, from the request's headers and the app's response head:
 * bypass and no-cache requests, private requests, requests that carry a
 * body or forwarding headers the key does not cover; responses that must
 * not be stored; the TTL an app's own expiry headers impose (as nginx
 * reads them); and the probabilistic early refresh (XFetch). */
#ifndef CGICACHE_POLICY_H
#define CGICACHE_POLICY_H

#include <stdint.h>

#include "config.h"
#include "date.h"
#include "delivery.h"
#include "http.h"
#include "request.h"

typedef enum {
    CC_REQ_CACHEABLE,        /* may be served from and stored to the cache */
    CC_REQ_BYPASS,           /* bypass header matched */
    CC_REQ_PRIVATE,          /* Authorization, REMOTE_USER, a verified client
                              * certificate, or Cookie unless cookies=ignore */
    CC_REQ_NO_CACHE,         /* Cache-Control: no-cache/no-store, Pragma: no-cache */
    CC_REQ_UNSAFE,           /* a method other than GET/HEAD, a body, or a
                              * forwarding header the key does not cover */
    CC_REQ_AMBIGUOUS,        /* apps may read it two ways: a parameter the key
                              * or these rules read, repeated with different
                              * values, or a path not in normal form */
} cc_req_class;

cc_req_class cc_policy_request(const cc_config *cfg, const cc_route *route, const cc_request *rq);

/* The same, and what the request asks of a stored response (its
 * preconditions and range, delivery.h), read in the same pass; a
 * repeated one with different values makes the request ambiguous. */
cc_req_class cc_policy_request_ask(const cc_config *cfg, const cc_route *route,
                                   const cc_request *rq, cc_ask *ask);

/* Compares two byte strings in time that depends only on their lengths. */
int cc_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* How long a response may be stored, in ms, or 0 when it must not be:
 * a status not in the route's list, Set-Cookie, Cache-Control private /
 * no-store / no-cache, a Vary naming a header the route does not key on
 * (or "*"), body_len over max_size.  Otherwise the app's own expiry wins
 * over the route's ttl, in nginx's order: X-Accel-Expires (seconds, or
 * "@<unix time>"), Cache-Control s-maxage, max-age, then Expires (against
 * Date, else now); any of them 0 or in the past: not stored.  *why, when
 * not NULL, is set to a short reason for a 0. */
int64_t cc_policy_response_ttl(const cc_config *cfg, const cc_route *route, const cc_head *head,
                               size_t body_len, int64_t now_ms, const char **why);

/* How long past its ttl, in ms, a stored response may stand in for an
 * answer that failed (RFC 5861 stale-if-error), read from its stored head
 * (http.h): the app's own stale-if-error directive, else the route's
 * stale-if-error=, except that must-revalidate or proxy-revalidate
 * without the directive allows none.  A malformed directive, or two that
 * disagree, allow none: a stale page is served only when clearly allowed. */
int64_t cc_policy_error_window(const cc_route *route, const char *head, size_t head_len);

/* XFetch (Vattani et al.): true when an entry that expires at expiry_ms,
 * whose computation took compute_ms, should be refreshed now.  rand01 is a
 * uniform number in (0, 1]; beta 0 never refreshes early.  compute_ms is
 * taken as at least 1 ms so fast routes refresh too. */
int cc_policy_early_refresh(int64_t now_ms, int64_t expiry_ms, int64_t compute_ms, double beta,
                            double rand01);

#endif
