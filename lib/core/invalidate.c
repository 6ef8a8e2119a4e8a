/* invalidate.c -- the purge generations a successful request bumps, and
 * the purges its app asks for in its response headers.
 *
 * Pure: given the configuration, the request and the app's response head,
 * it names generation keys, tags and prefixes; the engine writes them
 * after the response is complete (never before the app runs, or a read in
 * between would cache the old data again). */
#include "invalidate.h"

#include <fnmatch.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "key.h"
#include "path.h"
#include "keyspace.h"
#include "route.h"

bool cc_invalidate_possible(const cc_config *cfg, const cc_route *route, unsigned method_bit)
{
    (void)cfg;
    return (method_bit & CC_M_UNSAFE) != 0 || (route != NULL && route->ninvalidates > 0);
}

/* Host names equal once lowercased and without the scheme's default port. */
static bool same_host(const char *a, size_t alen, const char *b, size_t blen, bool https)
{
    const char *port = https ? ":443" : ":80";
    size_t plen = strlen(port);
    if (alen > plen && strncmp(a + alen - plen, port, plen) == 0)
        alen -= plen;
    if (blen > plen && strncmp(b + blen - plen, port, plen) == 0)
        blen -= plen;
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* Bumps the URL generation of path (decoded, see path.h) on the route
 * that caches GET path. */
static void url_target(const cc_config *cfg, bool https, const char *host, const char *path,
                       size_t path_len, cc_gen_fn fn, void *ctx)
{
    const cc_route *r = cc_route_match(cfg, CC_M_GET, path, path_len);
    char key[CC_GEN_KEY_MAX];
    if (r != NULL &&
        cc_key_url_gen(cfg, r, https, host, strlen(host), path, path_len, key, sizeof key) == 0)
        fn(ctx, key, true);
}

/* The path of a Location or Content-Location value, when it is a path or
 * an absolute URL on the request's own host (RFC 9111 §4.4 forbids
 * purging other hosts).  Returns its length, 0 for none. */
static size_t location_path(const cc_request *rq, const cc_header *h, bool *https,
                            const char **path)
{
    const char *v = h->value, *end = h->value + h->value_len;
    size_t scheme = 0;
    *https = rq->https;
    if (h->value_len > 8 && strncasecmp(v, "https://", 8) == 0)
        scheme = 8, *https = true;
    else if (h->value_len > 7 && strncasecmp(v, "http://", 7) == 0)
        scheme = 7, *https = false;
    else if (v == end || v[0] != '/' || (v + 1 < end && v[1] == '/'))
        return 0;
    if (scheme > 0) {
        const char *host = v + scheme;
        const char *slash = memchr(host, '/', (size_t)(end - host));
        if (slash == NULL ||
            !same_host(host, (size_t)(slash - host), rq->host, strlen(rq->host), *https))
            return 0;
        v = slash;
    }
    const char *stop = v;
    while (stop < end && *stop != '?' && *stop != '#')
        stop++;
    *path = v;
    return (size_t)(stop - v);
}

void cc_invalidate_targets(const cc_config *cfg, const cc_route *route, const cc_request *rq,
                           const cc_head *head, cc_gen_fn fn, void *ctx)
{
    if (head->status < 200 || head->status > 399)
        return;
    if (route != NULL) {
        for (size_t i = 0; i < route->ninvalidates; i++) {
            char key[CC_GEN_KEY_MAX];
            const char *name = route->invalidates[i];
            if (cc_keyspace_key(cfg, CC_KS_GEN, name, strlen(name), key, sizeof key) == 0)
                fn(ctx, key, false);
        }
    }
    if (!(rq->method_bit & CC_M_UNSAFE))
        return;
    url_target(cfg, rq->https, rq->host, rq->norm, rq->norm_len, fn, ctx);
    static const char *const names[] = {"Location", "Content-Location"};
    for (size_t i = 0; i < 2; i++) {
        const cc_header *h = cc_head_find(head, names[i]);
        const char *path;
        bool https;
        size_t len = h != NULL ? location_path(rq, h, &https, &path) : 0;
        char decoded[CC_PATH_MAX];
        long n = len > 0 ? cc_path_decode(path, len, true, decoded, sizeof decoded, NULL) : -1;
        if (n > 0)
            url_target(cfg, https, rq->host, decoded, (size_t)n, fn, ctx);
    }
}

/* ---- prefix purges ------------------------------------------------------- */

long cc_prefix_norm(const char *text, size_t len, char *out, size_t cap)
{
    char decoded[CC_PATH_MAX];
    bool normal;
    if (len == 0 || memchr(text, '?', len) != NULL || memchr(text, '#', len) != NULL)
        return -1;
    long n = cc_path_decode(text, len, true, decoded, sizeof decoded, &normal);
    if (n <= 0 || !normal)
        return -1;
    if (n > CC_GEN_PREFIX_MAX) {
        n = CC_GEN_PREFIX_MAX;
        while (n > 1 && decoded[n - 1] != '/')
            n--;
    }
    if ((size_t)n >= cap)
        return -1;
    memcpy(out, decoded, (size_t)n);
    out[n] = '\0';
    return n;
}

/* Whether a route's glob may match a path the prefix covers.  The paths
 * it covers are the prefix itself (unless it ends in '/') and every path
 * that starts with it and a '/': a glob matches one of those when it
 * matches the prefix, or when a leading part of it, cut between two
 * tokens, matches the prefix and its '/' (what follows in the glob can
 * always match some rest).  Globs with brackets or escapes are taken to
 * reach every prefix: more purged, never less. */
static bool route_reaches(const char *pattern, const char *prefix, size_t len)
{
    char path[CC_GEN_PREFIX_MAX + 2], head[CC_PATH_MAX];
    size_t plen = strlen(pattern);
    if (len + 2 > sizeof path || plen >= sizeof head || strpbrk(pattern, "[\\") != NULL)
        return true;
    memcpy(path, prefix, len);
    path[len] = '\0';
    if (path[len - 1] != '/') {
        if (fnmatch(pattern, path, 0) == 0)
            return true;
        path[len++] = '/';
        path[len] = '\0';
    }
    for (size_t k = 0; k <= plen; k++) {
        memcpy(head, pattern, k);
        head[k] = '\0';
        if (fnmatch(head, path, 0) == 0)
            return true;
    }
    return false;
}

void cc_invalidate_prefix_routes(const cc_config *cfg, const char *prefix, size_t len, cc_gen_fn fn,
                                 void *ctx)
{
    for (size_t i = 0; len > 0 && i < cfg->nroutes; i++) {
        const cc_route *r = &cfg->routes[i];
        char key[CC_GEN_KEY_MAX];
        if ((r->methods & CC_M_GET) && route_reaches(r->pattern, prefix, len) &&
            cc_keyspace_key(cfg, CC_KS_GEN, r->name, strlen(r->name), key, sizeof key) == 0)
            fn(ctx, key, false);
    }
}

/* ---- purges an app asks for --------------------------------------------- */

/* Whether a X-Cache-Purge-Soft value says yes. */
static bool says_yes(const cc_header *h)
{
    static const char *const yes[] = {"1", "on", "true", "yes"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (h->value_len == strlen(yes[i]) && strncasecmp(h->value, yes[i], h->value_len) == 0)
            return true;
    return false;
}

/* Adds the tags of one header value: names separated by commas or blanks,
 * as the tags header is read when an entry is stored. */
static void add_tags(const cc_header *h, cc_app_purge *out)
{
    const char *v = h->value;
    for (size_t i = 0, n = h->value_len; i < n;) {
        while (i < n && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i == start)
            continue;
        if (i - start >= CC_NAME_MAX || out->ntags == CC_APP_TAGS_MAX) {
            out->ignored++;
            continue;
        }
        memcpy(out->tags[out->ntags], v + start, i - start);
        out->tags[out->ntags++][i - start] = '\0';
    }
}

size_t cc_invalidate_app_purge(const cc_request *rq, const cc_head *head, cc_app_purge *out)
{
    memset(out, 0, offsetof(cc_app_purge, tags));
    if (!(rq->method_bit & CC_M_UNSAFE) || head->status < 200 || head->status > 399)
        return 0;
    for (const cc_header *h = NULL; (h = cc_head_next(head, h, CC_PURGE_TAGS_HEADER)) != NULL;)
        add_tags(h, out);
    for (const cc_header *h = NULL; (h = cc_head_next(head, h, CC_PURGE_PREFIX_HEADER)) != NULL;) {
        size_t i = out->nprefixes;
        long n = i < CC_APP_PREFIXES_MAX ? cc_prefix_norm(h->value, h->value_len, out->prefixes[i],
                                                          sizeof out->prefixes[i])
                                         : -1;
        if (n < 0) {
            out->ignored++;
            continue;
        }
        out->prefix_len[out->nprefixes++] = (size_t)n;
    }
    const cc_header *soft = cc_head_find(head, CC_PURGE_SOFT_HEADER);
    out->soft = soft != NULL && says_yes(soft);
    if (soft != NULL && !out->soft && !(soft->value_len == 1 && soft->value[0] == '0'))
        out->ignored++;
    return out->ntags + out->nprefixes;
}

void cc_invalidate_app_routes(const cc_config *cfg, const cc_app_purge *p, cc_gen_fn fn, void *ctx)
{
    if (p->ntags > 0) {
        cc_invalidate_prefix_routes(cfg, "/", 1, fn, ctx);
        return;
    }
    for (size_t i = 0; i < p->nprefixes; i++)
        cc_invalidate_prefix_routes(cfg, p->prefixes[i], p->prefix_len[i], fn, ctx);
}
