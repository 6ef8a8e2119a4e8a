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

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keyspace.h"

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

/* Which ASCII bytes, besides letters and digits, pass unescaped. */
typedef struct keep_set {
    bool byte[128];
} keep_set;

/* Printable bytes that stay readable in paths, queries and header values:
 * all of them but the separators '%', '|', '#' and the blank. */
static const keep_set keep_text = {{
    ['!'] = 1, ['"'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1,
    [';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['['] = 1,
    ['\\'] = 1, [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['{'] = 1, ['}'] = 1,
    ['~'] = 1,
}};
static const keep_set keep_host = {{['-'] = 1, ['.'] = 1, [':'] = 1, ['['] = 1, [']'] = 1, ['_'] = 1}};
static const keep_set keep_name = {{['-'] = 1, ['_'] = 1}};

static bool kept(unsigned char c, const keep_set *keep)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c < 0x80 && keep->byte[c]);
}

/* Writes s escaped: bytes kept pass as they are (lowercased with lower),
 * everything else becomes %XX.  Runs of kept bytes are copied at once. */
static void put_escaped(writer *w, const char *s, size_t n, const keep_set *keep, bool lower)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && kept((unsigned char)s[run], keep) &&
               !(lower && s[run] >= 'A' && s[run] <= 'Z'))
            run++;
        put(w, s + i, run - i);
        if (run == n)
            return;
        unsigned char c = (unsigned char)s[run];
        if (kept(c, keep)) {
            char out = (char)(c - 'A' + 'a');     /* an uppercase letter, lowered */
            put(w, &out, 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(w, esc, 3);
        }
        i = run + 1;
    }
}

/* Writes the 128-bit hash h as 32 lowercase hex digits. */
static void put_hash(writer *w, XXH128_hash_t h)
{
    static const char hex[] = "0123456789abcdef";
    char out[32];
    for (int i = 0; i < 16; i++) {
        out[15 - i] = hex[(h.high64 >> (4 * i)) & 15];
        out[31 - i] = hex[(h.low64 >> (4 * i)) & 15];
    }
    put(w, out, sizeof out);
}

/* host without ":80" (http) or ":443" (https): the same resource. */
static size_t host_len_without_default_port(const char *host, size_t n, bool https)
{
    const char *port = https ? ":443" : ":80";
    size_t plen = strlen(port);
    if (n > plen && memcmp(host + n - plen, port, plen) == 0)
        return n - plen;
    return n;
}

/* Writes scheme://host/path, the part of a key a URL purge names. */
static void put_url(writer *w, bool https, const char *host, size_t host_len, const char *path,
                    size_t path_len)
{
    put_str(w, https ? "https://" : "http://");
    put_escaped(w, host, host_len_without_default_port(host, host_len, https), &keep_host, true);
    put_escaped(w, path, path_len, &keep_text, false);
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
        put_escaped(w, params[i].text, params[i].len, &keep_text, false);
    }
    return 0;
}

static void put_vary(writer *w, const cc_route *route, char *const *envp)
{
    for (size_t i = 0; i < route->nvary; i++) {
        put(w, "|", 1);
        put_escaped(w, route->vary[i].http, strlen(route->vary[i].http), &keep_name, true);
        const char *value = cc_env_get(envp, route->vary[i].cgi);
        if (value != NULL) {
            put(w, "=", 1);
            put_escaped(w, value, strlen(value), &keep_text, false);
        }
    }
}

/* Writes "<prefix>:<route>:". */
static void put_route_prefix(writer *w, const cc_config *cfg, const char *route)
{
    put_str(w, cfg->prefix);
    put(w, ":", 1);
    put_str(w, route);
    put(w, ":", 1);
}

int cc_key_route_prefix(const cc_config *cfg, const char *route, char *out, size_t cap)
{
    writer w = {out, 0, cap, 0};
    put_route_prefix(&w, cfg, route);
    return w.failed ? -1 : 0;
}

/* Writes the URL generation key of a URL whose canonical form is url. */
static int url_gen_key(const cc_config *cfg, const cc_route *route, const char *url, size_t len,
                       char *out, size_t cap)
{
    char name[CC_NAME_MAX + 40];
    writer w = {name, 0, sizeof name, 0};
    put_str(&w, route->name);
    put(&w, ":", 1);
    put_hash(&w, XXH3_128bits(url, len));
    return w.failed ? -1 : cc_keyspace_key(cfg, CC_KS_GEN, name, w.len, out, cap);
}

int cc_key_url_gen(const cc_config *cfg, const cc_route *route, bool https,
                   const char *host, size_t host_len, const char *path,
                   size_t path_len, char *out, size_t cap)
{
    char url[CC_KEY_MAX];
    writer w = {url, 0, sizeof url, 0};
    put_url(&w, https, host, host_len, path, path_len);
    if (w.failed)
        return -1;
    return url_gen_key(cfg, route, url, w.len, out, cap);
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
    out->route_gen_new[0] = out->url_gen_new[0] = '\0';   /* nothing to create until looked up */
    put_route_prefix(&w, cfg, route->name);
    size_t prefix_len = w.len;
    if (rq->method_bit == CC_M_GET || rq->method_bit == CC_M_HEAD)
        put_str(&w, "GET");
    else
        put_escaped(&w, rq->method, strlen(rq->method), &keep_name, false);
    put(&w, ":", 1);
    size_t url_start = w.len;
    put_url(&w, rq->https, rq->host, strlen(rq->host), rq->path, rq->path_len);
    size_t url_end = w.len;
    if (put_query(&w, route, rq->query, rq->query_len) < 0)
        return -1;
    put_vary(&w, route, rq->envp);
    if (w.failed)
        return -1;
    out->full_len = w.len;

    /* The URL part was written just as cc_key_url_gen writes it. */
    if (cc_keyspace_key(cfg, CC_KS_GEN, route->name, strlen(route->name), out->route_gen,
                        sizeof out->route_gen) < 0 ||
        url_gen_key(cfg, route, out->full + url_start, url_end - url_start,
                    out->url_gen, sizeof out->url_gen) < 0)
        return -1;

    if (w.len <= CC_KEY_HASH_OVER) {
        memcpy(out->redis, out->full, w.len + 1);
        out->redis_len = w.len;
        return 0;
    }
    writer hashed = {out->redis, 0, sizeof out->redis, 0};
    put(&hashed, out->full, prefix_len);
    put(&hashed, "#", 1);
    put_hash(&hashed, XXH3_128bits(out->full, out->full_len));
    if (hashed.failed)
        return -1;
    out->redis_len = hashed.len;
    return 0;
}
