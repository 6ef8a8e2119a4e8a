/* route.h -- which configured route, if any, a request belongs to. */
#ifndef CGICACHE_ROUTE_H
#define CGICACHE_ROUTE_H

#include "config.h"

/* The most specific route whose methods include method_bit and whose
 * pattern matches path (HEAD also matches a route that lists GET).
 * Routes are kept most specific first by cc_config_parse, so the first
 * match wins.  path need not be NUL-terminated.  NULL: no route. */
const cc_route *cc_route_match(const cc_config *cfg, unsigned method_bit,
                               const char *path, size_t path_len);

/* Literal text before the first wildcard of a glob, for ordering. */
size_t cc_route_literal_len(const char *pattern);

/* Orders routes most specific first: longer literal prefix, then name. */
int cc_route_compare(const void *a, const void *b);

#endif
