/* route.c -- which configured route a request belongs to.
 *
 * Routes are globs matched as fnmatch(3) does without FNM_PATHNAME, so '*'
 * crosses '/'.  cc_config_parse sorts them most specific first (longest
 * literal text before the first wildcard, then name), which makes matching
 * a first-hit scan and makes the winner independent of the order variables
 * happen to appear in the environment. */
#include "route.h"

#include <fnmatch.h>
#include <string.h>

#include "request.h"

size_t cc_route_literal_len(const char *pattern)
{
    return strcspn(pattern, "*?[\\");
}

int cc_route_compare(const void *a, const void *b)
{
    const cc_route *ra = a, *rb = b;
    if (ra->literal_len != rb->literal_len)
        return ra->literal_len > rb->literal_len ? -1 : 1;
    return strcmp(ra->name, rb->name);
}

static int method_allowed(const cc_route *r, unsigned method_bit)
{
    if (r->methods & method_bit)
        return 1;
    /* HEAD is answered from GET's entry, so a GET route covers it. */
    return method_bit == CC_M_HEAD && (r->methods & CC_M_GET);
}

const cc_route *cc_route_match(const cc_config *cfg, unsigned method_bit,
                               const char *path, size_t path_len)
{
    char buf[CC_PATH_MAX];
    if (cfg->nroutes == 0 || path_len >= sizeof buf)
        return NULL;
    memcpy(buf, path, path_len);
    buf[path_len] = '\0';
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const cc_route *r = &cfg->routes[i];
        if (!method_allowed(r, method_bit))
            continue;
        /* A literal prefix that differs rules the route out cheaply. */
        if (r->literal_len > path_len || memcmp(r->pattern, buf, r->literal_len) != 0)
            continue;
        if (fnmatch(r->pattern, buf, 0) == 0)
            return r;
    }
    return NULL;
}
