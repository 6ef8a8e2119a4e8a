/* key.c -- the canonical cache key of a request on a route.
 *
 * Two requests share a key exactly when the app would give them the same
 * answer, as far as the route's configuration can tell: same route, same
 * method class (HEAD reads GET's entry), scheme, host, path as sent, the
 * route's query parameters in sorted order and the route's vary headers.
 * Every byte that could blur those parts (the separators '|', '%', '#',
 * blanks, control and non-ASCII bytes) is %XX-escaped, so the mapping is
 * injective: no crafted request can land on another request's key.  Query
 * names are percent-decoded before they are compared with a query= list,
 * because the app decodes them: "?pag%65=2" is page=2 and must be keyed. */
#include "key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define QUERY_PARAMS_MAX 256

/* A bounded writer into cc_key.full; overflowing marks it failed. */
typedef struct writer {
    char *buf;
    size_t len, cap;
    int failed;
} writer;

static void put(writer *w, const char *s, size_t n)
{
    if (w->failed || n >= w->cap - w->len) {
        w->failed = 1;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void put_str(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Writes s escaped: bytes in keep pass as they are, along with letters and
 * digits; everything else becomes %XX. */
static void put_escaped(writer *w, const char *s, size_t n, const char *keep, int lower)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
            (c != '\0' && c < 0x80 && strchr(keep, c) != NULL)) {
            char out = (char)(lower && c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            put(w, &out, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(w, esc, 3);
        }
    }
}

/* Printable bytes that stay readable in paths, queries and header values:
 * all of them but the separators '%', '|', '#' and the blank. */
#define KEEP_TEXT "!\"$&'()*+,-./:;<=>?@[\\]^_`{}~"
#define KEEP_HOST "-.:[]_"

static size_t host_len_without_default_port(const char *host, int https)
{
    size_t n = strlen(host);
    const char *port = https ? ":443" : ":80";
    size_t plen = strlen(port);
    if (n > plen && strcmp(host + n - plen, port) == 0)
        return n - plen;
    return n;
}

typedef struct param {
    const char *text;          /* "name=value" or "name" */
    size_t len;
    size_t name_len;
    size_t order;              /* position in the request, for a stable sort */
} param;

static int compare_params(const void *a, const void *b)
{
    const param *pa = a, *pb = b;
    size_t n = pa->name_len < pb->name_len ? pa->name_len : pb->name_len;
    int c = memcmp(pa->text, pb->text, n);
    if (c != 0)
        return c;
    if (pa->name_len != pb->name_len)
        return pa->name_len < pb->name_len ? -1 : 1;
    return pa->order < pb->order ? -1 : 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Is the query name s[0..n), as the app decodes it, in the route's list? */
static int name_listed(const cc_route *route, const char *s, size_t n)
{
    char name[CC_NAME_MAX];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            c = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        }
        if (len + 1 >= sizeof name)
            return 0;
        name[len++] = c;
    }
    name[len] = '\0';
    for (size_t i = 0; i < route->nquery; i++)
        if (strcmp(route->query_names[i], name) == 0)
            return 1;
    return 0;
}

/* Appends "?a=1&b=2" built from the route's parameters, sorted by name;
 * nothing when none is kept.  Returns -1 when there are too many. */
static int put_query(writer *w, const cc_route *route, const char *q, size_t qlen)
{
    param params[QUERY_PARAMS_MAX];
    size_t n = 0;
    if (route->query == CC_QUERY_NONE)
        return 0;
    for (size_t start = 0; start < qlen;) {
        const char *amp = memchr(q + start, '&', qlen - start);
        size_t len = amp != NULL ? (size_t)(amp - (q + start)) : qlen - start;
        const char *text = q + start;
        start += len + 1;
        if (len == 0)
            continue;
        const char *eq = memchr(text, '=', len);
        size_t name_len = eq != NULL ? (size_t)(eq - text) : len;
        if (route->query == CC_QUERY_LIST && !name_listed(route, text, name_len))
            continue;
        if (n == QUERY_PARAMS_MAX)
            return -1;
        params[n] = (param){text, len, name_len, n};
        n++;
    }
    qsort(params, n, sizeof params[0], compare_params);
    for (size_t i = 0; i < n; i++) {
        put(w, i == 0 ? "?" : "&", 1);
        put_escaped(w, params[i].text, params[i].len, KEEP_TEXT, 0);
    }
    return 0;
}

static void put_vary(writer *w, const cc_route *route, char *const *envp)
{
    for (size_t i = 0; i < route->nvary; i++) {
        put(w, "|", 1);
        put_escaped(w, route->vary[i].http, strlen(route->vary[i].http), "-_", 1);
        const char *value = cc_env_get(envp, route->vary[i].cgi);
        if (value != NULL) {
            put(w, "=", 1);
            put_escaped(w, value, strlen(value), KEEP_TEXT, 0);
        }
    }
}

int cc_key_route_prefix(const cc_config *cfg, const char *route, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s:%s:", cfg->prefix, route);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int cc_key_url_gen(const cc_config *cfg, const cc_route *route, bool https,
                   const char *host, size_t host_len, const char *path,
                   size_t path_len, char *out, size_t cap)
{
    char url[CC_KEY_MAX];
    writer w = {url, 0, sizeof url, 0};
    char lowered[256];
    if (host_len >= sizeof lowered)
        return -1;
    memcpy(lowered, host, host_len);
    lowered[host_len] = '\0';
    put_str(&w, https ? "https://" : "http://");
    put_escaped(&w, lowered, host_len_without_default_port(lowered, https), KEEP_HOST, 1);
    put_escaped(&w, path, path_len, KEEP_TEXT, 0);
    if (w.failed)
        return -1;
    XXH128_hash_t h = XXH3_128bits(url, w.len);
    int n = snprintf(out, cap, "%s:%s:gen:%016llx%016llx", cfg->prefix, route->name,
                     (unsigned long long)h.high64, (unsigned long long)h.low64);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

uint64_t cc_key_generation(const char *route_gen, size_t route_len,
                           const char *url_gen, size_t url_len)
{
    if (route_gen == NULL && url_gen == NULL)
        return 0;
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    /* The length first, so ("ab", "") and ("a", "b") differ. */
    uint64_t lens[2] = {route_gen != NULL ? route_len + 1 : 0, url_gen != NULL ? url_len + 1 : 0};
    XXH3_64bits_update(&st, lens, sizeof lens);
    if (route_gen != NULL)
        XXH3_64bits_update(&st, route_gen, route_len);
    if (url_gen != NULL)
        XXH3_64bits_update(&st, url_gen, url_len);
    uint64_t g = XXH3_64bits_digest(&st);
    return g != 0 ? g : 1;
}

int cc_key_build(const cc_config *cfg, const cc_route *route,
                 const cc_request *rq, cc_key *out)
{
    writer w = {out->full, 0, sizeof out->full, 0};
    out->full[0] = '\0';
    char prefix[2 * CC_NAME_MAX + 4];
    if (cc_key_route_prefix(cfg, route->name, prefix, sizeof prefix) < 0)
        return -1;
    put_str(&w, prefix);
    if (rq->method_bit == CC_M_GET || rq->method_bit == CC_M_HEAD)
        put_str(&w, "GET");
    else
        put_escaped(&w, rq->method, strlen(rq->method), "-_", 0);
    put_str(&w, rq->https ? ":https://" : ":http://");
    put_escaped(&w, rq->host, host_len_without_default_port(rq->host, rq->https), KEEP_HOST, 1);
    put_escaped(&w, rq->path, rq->path_len, KEEP_TEXT, 0);
    if (put_query(&w, route, rq->query, rq->query_len) < 0)
        return -1;
    put_vary(&w, route, rq->envp);
    if (w.failed)
        return -1;
    out->full_len = w.len;
    snprintf(out->route_gen, sizeof out->route_gen, "%sgen", prefix);
    if (cc_key_url_gen(cfg, route, rq->https, rq->host, strlen(rq->host), rq->path,
                       rq->path_len, out->url_gen, sizeof out->url_gen) < 0)
        return -1;

    if (w.len <= CC_KEY_HASH_OVER) {
        memcpy(out->redis, out->full, w.len + 1);
        out->redis_len = w.len;
        return 0;
    }
    XXH128_hash_t h = XXH3_128bits(out->full, out->full_len);
    int n = snprintf(out->redis, sizeof out->redis, "%s#%016llx%016llx", prefix,
                     (unsigned long long)h.high64, (unsigned long long)h.low64);
    if (n < 0 || (size_t)n >= sizeof out->redis)
        return -1;
    out->redis_len = (size_t)n;
    return 0;
}
