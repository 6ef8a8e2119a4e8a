/* key.h -- the canonical cache key of a request on a route.
 *
 * A key is readable, so that `cgicache inspect` and redis-cli show what it
 * covers:  <prefix>:<route>:{<t>}<GET|...>:<scheme>://<host><path>?<query>[|vary]
 * e.g.  cgicache:blogs:{9c1e07a2}GET:https://example.com/blogs/7?a=1&b=2|x-lang=fr
 * where {<t>} is the URL's hash tag (keyspace.h: a URL's keys share a
 * Redis Cluster slot).
 * HEAD shares GET's entry.  The host is lowercased and loses a default port;
 * the path is kept exactly as the client sent it; the route's query
 * parameters are sorted by name (duplicates keep their order); vary headers
 * follow in the route's order.  A full key longer than CC_KEY_HASH_OVER is
 * stored under <prefix>:<route>:{<t>}#<128-bit hex hash>, and the full key is kept
 * in the entry so a read can compare it. */
#ifndef CGICACHE_KEY_H
#define CGICACHE_KEY_H

#include "config.h"
#include "generation.h"
#include "request.h"

#define CC_KEY_MAX 8192
#define CC_KEY_HASH_OVER 250

#define CC_GEN_KEY_MAX (2 * CC_NAME_MAX + 48)

typedef struct cc_key {
    char full[CC_KEY_MAX];   /* the canonical key, NUL-terminated */
    size_t full_len;
    char redis[CC_KEY_HASH_OVER + 1]; /* the Redis key: full, or its hashed form */
    size_t redis_len;
    /* The purge generations the entry must match (see cc_key_generation):
     * the route's "<prefix>:#gen:<route>" and the URL's
     * "<prefix>:#gen:<route>:{<t>}<h>", <t><h> the hash of scheme://host/path
     * (keyspace.h). */
    char route_gen[CC_GEN_KEY_MAX];
    char url_gen[CC_GEN_KEY_MAX];
    /* Written by a lookup (generation.h): the values to create a missing
     * route / URL generation with when the entry is stored; "" when the
     * key was there. */
    char route_gen_new[CC_GEN_VALUE_LEN + 1];
    char url_gen_new[CC_GEN_VALUE_LEN + 1];
    /* The decoded path (path.h): which prefix purges cover the entry. */
    char path[CC_PATH_MAX];
    size_t path_len;
} cc_key;

/* Returns 0, or -1 when the key would not fit CC_KEY_MAX (not cached). */
int cc_key_build(const cc_config *cfg, const cc_route *route, const cc_request *rq, cc_key *out);

/* The URL generation key of scheme://host/path on route, as cc_key_build
 * makes it: for invalidating every variant of one URL.  Returns 0 or -1. */
int cc_key_url_gen(const cc_config *cfg, const cc_route *route, bool https, const char *host,
                   size_t host_len, const char *path, size_t path_len, char *out, size_t cap);

/* Prefix shared by every key of a route: "<prefix>:<route>:" (for purges). */
int cc_key_route_prefix(const cc_config *cfg, const char *route, char *out, size_t cap);

#endif
