/* route.h -- routes: the grammar of CGICACHE_ROUTE_<name>, and which
 * route, if any, a request belongs to. */
#ifndef CGICACHE_ROUTE_H
#define CGICACHE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

typedef enum { CC_COMPRESS_SMART, CC_COMPRESS_ALL, CC_COMPRESS_OFF } cc_compress_mode;
typedef enum { CC_QUERY_ALL, CC_QUERY_NONE, CC_QUERY_LIST } cc_query_mode;
#define CC_MAX_STATUSES 16
#define CC_MAX_LIST 16      /* vary headers, query names, invalidated routes */

typedef struct cc_route {
    char name[CC_NAME_MAX];          /* [A-Za-z0-9_]+ from CGICACHE_ROUTE_<name> */
    unsigned methods;                /* CC_M_* set; default GET|HEAD */
    char *pattern;                   /* fnmatch(3) glob, no FNM_PATHNAME */
    size_t literal_len;              /* literal text before the first wildcard */
    int64_t ttl_ms;                  /* ttl= or CGICACHE_TTL */
    int64_t stale_ms;                /* stale= or CGICACHE_STALE */
    int64_t stale_if_error_ms;       /* stale-if-error= [0]: the stored copy for a
                                      * failed answer, this long past its ttl */
    int64_t pass_ms;                 /* pass= [30s]: how long an uncacheable answer
                                      * is remembered (hit-for-pass) */
    uint32_t min_uses;               /* min-uses= [1]: stored from the Nth request */
    cc_query_mode query;             /* query= */
    size_t nquery;
    char query_names[CC_MAX_LIST][CC_NAME_MAX]; /* sorted, for CC_QUERY_LIST */
    size_t nvary;
    cc_header_name vary[CC_MAX_LIST];
    size_t nstatuses;
    uint16_t statuses[CC_MAX_STATUSES]; /* default {200} */
    int64_t status_ttl_ms[CC_MAX_STATUSES]; /* status=404:30s; 0: the route's ttl */
    cc_compress_mode compress;       /* compress= or CGICACHE_COMPRESS */
    bool lock;                       /* lock=on|off [on] */
    bool cookies_ignore;             /* cookies=ignore (default bypass) */
    bool etag_auto;                  /* etag=auto|off [auto]: an ETag from the body */
    size_t ninvalidates;
    char invalidates[CC_MAX_LIST][CC_NAME_MAX];
} cc_route;

/* Parses "[METHODS] PATTERN [opt=value...]" into r, whose defaults the
 * caller has set (route.c inherits nothing).  Returns NULL, or what is
 * wrong (in msg when it needs detail); r->pattern is then to be freed. */
const char *cc_route_parse(cc_route *r, const char *spec, char *msg, size_t msg_len);

/* Whether name[0..len) can name a route: 1 to 63 of [A-Za-z0-9_]. */
bool cc_route_name_valid(const char *name, size_t len);

/* The first of routes[0..n) (kept most specific first) whose methods
 * include method_bit and whose pattern matches path (HEAD also matches a
 * route that lists GET).  path need not be NUL-terminated.  NULL: none. */
const cc_route *cc_routes_match(const cc_route *routes, size_t n, unsigned method_bit,
                                const char *path, size_t path_len);

/* Literal text before the first wildcard of a glob, for ordering. */
size_t cc_route_literal_len(const char *pattern);

/* Orders routes most specific first: longer literal prefix, then name. */
int cc_route_compare(const void *a, const void *b);

#endif
