/* key.c -- the canonical cache key of a request on a route.
 *
 * Two requests share a key only when the app, reading them any way a CGI
 * stack may, is given the same request as far as the route says it
 * matters: same route, method class (HEAD reads GET's entry), scheme,
 * host, port, path, query and vary headers.  Every part is written so
 * that it cannot be mistaken for another (key.h lists the separators and
 * what escapes them), which makes the mapping injective; fuzz_keypair
 * checks that on pairs of requests.
 *
 * The query is keyed as apps may parse it.  Names are compared with a
 * query= list after decoding, cut at a NUL, lowercased and renamed as PHP
 * renames them ("pag%65", "PAGE", "pa.ge" and "page[]" may all be read as
 * page), and parameters are sorted by that folded name, keeping the order
 * of those that fold alike (an app keeps the first or the last of them).
 * A query with a ';' is keyed verbatim: CGI.pm, Rack and older Python
 * split on ';' as well as '&', and no sorting is right for both. */
#include "key.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "keyspace.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#define QUERY_PARAMS_MAX 256
#define QUERY_PARAMS_SMALL 16

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

/* Printable bytes that stay readable in queries and header values: all
 * of them but the separators '%', '|', '#' and the blank. */
static const keep_set keep_text = {{
    ['!'] = 1, ['"'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1,  [')'] = 1, ['*'] = 1,
    ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1,  [':'] = 1,  [';'] = 1, ['<'] = 1,
    ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['['] = 1,  ['\\'] = 1, [']'] = 1, ['^'] = 1,
    ['_'] = 1, ['`'] = 1, ['{'] = 1, ['}'] = 1, ['~'] = 1,
}};
/* A path's: the same but '?', which ends the path and starts the query. */
static const keep_set keep_path = {{
    ['!'] = 1, ['"'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1,  ['/'] = 1, [':'] = 1,
    [';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1, ['@'] = 1,  ['['] = 1, ['\\'] = 1,
    [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['{'] = 1,  ['}'] = 1, ['~'] = 1,
}};
static const keep_set keep_host = {
    {['-'] = 1, ['.'] = 1, [':'] = 1, ['['] = 1, [']'] = 1, ['_'] = 1}};
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
/* The 32 hex digits of h into out. */
static void hash_hex(XXH128_hash_t h, char out[32])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[15 - i] = hex[(h.high64 >> (4 * i)) & 15];
        out[31 - i] = hex[(h.low64 >> (4 * i)) & 15];
    }
}

static void put_hash(writer *w, XXH128_hash_t h)
{
    char out[32];
    hash_hex(h, out);
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

/* Writes scheme://host, lowercased, without the scheme's default port. */
static void put_origin(writer *w, bool https, const char *host, size_t host_len)
{
    put_str(w, https ? "https://" : "http://");
    put_escaped(w, host, host_len_without_default_port(host, host_len, https), &keep_host, true);
}

/* Writes the request's path in URI form: REQUEST_URI's as sent; a decoded
 * one (SCRIPT_NAME + PATH_INFO) with the bytes a URI escapes ('%', '?',
 * '#') escaped first, so that both forms name a resource the same way and
 * a literal "%41" is never the key of an escaped 'A'. */
static void put_path(writer *w, const cc_request *rq)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *p = rq->path;
    size_t n = rq->path_len;
    if (rq->path_encoded) {
        put_escaped(w, p, n, &keep_path, false);
        return;
    }
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && p[run] != '%' && p[run] != '?' && p[run] != '#')
            run++;
        put_escaped(w, p + i, run - i, &keep_path, false);
        if (run == n)
            return;
        unsigned char c = (unsigned char)p[run];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        put_escaped(w, esc, 3, &keep_path, false);
        i = run + 1;
    }
}

/* A query name as an app may read it, folded: see the file comment. */
#define FOLD_MAX CC_NAME_MAX

typedef struct param {
    const char *text;          /* "name=value" or "name" */
    size_t len;
    char fold[FOLD_MAX];       /* the folded name; "" when too long to list */
    size_t fold_len;
    size_t order;              /* position in the request, for a stable sort */
} param;

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Folds s[0..n) into out: percent-decoded ('+' a blank), cut at a NUL,
 * leading blanks dropped (PHP), lowercased, and ' ', '.' and '[' turned
 * into '_' (PHP's renaming).  *base is the length before the first '[',
 * the name PHP gives "a[b]=1" (an array a).  Returns the length, or -1
 * when it does not fit (such a name is never listed). */
static long fold_name(const char *s, size_t n, char *out, size_t cap, size_t *base)
{
    size_t len = 0;
    *base = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            c = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        }
        if (c == '\0')
            break;
        if (len == 0 && (c == ' ' || c == '\t'))
            continue;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == '[' && *base == (size_t)-1)
            *base = len;
        if (c == ' ' || c == '.' || c == '[')
            c = '_';
        if (len + 1 >= cap)
            return -1;
        out[len++] = c;
    }
    out[len] = '\0';
    if (*base == (size_t)-1)
        *base = len;
    return (long)len;
}

/* Is a name folded to fold (base: its array name's length) one that the
 * route's query= list names, under any of its readings? */
static bool listed(const cc_route *route, const char *fold, size_t len, size_t base)
{
    for (size_t i = 0; i < route->nquery; i++) {
        char want[FOLD_MAX];
        size_t wbase;
        const char *name = route->query_names[i];
        long wlen = fold_name(name, strlen(name), want, sizeof want, &wbase);
        if (wlen < 0)
            continue;
        if (((size_t)wlen == len && memcmp(want, fold, len) == 0) ||
            ((size_t)wlen == base && memcmp(want, fold, base) == 0))
            return true;
    }
    return false;
}

static int compare_params(const void *a, const void *b)
{
    const param *pa = a, *pb = b;
    int c = strcmp(pa->fold, pb->fold);
    if (c != 0)
        return c;
    return pa->order < pb->order ? -1 : 1;
}

/* Appends the query: "?" and the route's parameters sorted by folded
 * name, or the whole query verbatim when it has a ';'; nothing when no
 * parameter is kept.  Returns -1 when there are too many to sort. */
static int put_query(writer *w, const cc_route *route, const char *q, size_t qlen)
{
    if (route->query == CC_QUERY_NONE || qlen == 0)
        return 0;
    if (memchr(q, ';', qlen) != NULL) {
        put(w, "?", 1);
        put_escaped(w, q, qlen, &keep_text, false);
        return 0;
    }
    /* Most queries have a few parameters: those fit on the stack. */
    param small[QUERY_PARAMS_SMALL], *params = small;
    size_t n = 0, segments = 1;
    for (const char *a = q; (a = memchr(a, '&', qlen - (size_t)(a - q))) != NULL; a++)
        segments++;
    if (segments > QUERY_PARAMS_MAX)
        return -1;
    if (segments > QUERY_PARAMS_SMALL && (params = malloc(segments * sizeof *params)) == NULL)
        return -1;
    for (size_t start = 0; start < qlen;) {
        const char *amp = memchr(q + start, '&', qlen - start);
        size_t len = amp != NULL ? (size_t)(amp - (q + start)) : qlen - start;
        const char *text = q + start;
        start += len + 1;
        if (len == 0)
            continue;
        param *p = &params[n];
        const char *eq = memchr(text, '=', len);
        size_t base;
        long flen = fold_name(text, eq != NULL ? (size_t)(eq - text) : len, p->fold, sizeof p->fold,
                              &base);
        if (flen < 0) {
            p->fold[0] = '\0';
            flen = 0;
            base = 0;
        }
        /* A name too long to fold is never one the list names; with
         * query=all it is kept, sorted first. */
        if (route->query == CC_QUERY_LIST &&
            (flen == 0 || !listed(route, p->fold, (size_t)flen, base)))
            continue;
        p->text = text;
        p->len = len;
        p->fold_len = (size_t)flen;
        p->order = n++;
    }
    qsort(params, n, sizeof params[0], compare_params);
    for (size_t i = 0; i < n; i++) {
        put(w, i == 0 ? "?" : "&", 1);
        put_escaped(w, params[i].text, params[i].len, &keep_text, false);
    }
    if (params != small)
        free(params);
    return 0;
}

static void put_vary(writer *w, const cc_route *route, char *const *envp)
{
    for (size_t i = 0; i < route->nvary; i++) {
        put(w, "|", 1);
        put_escaped(w, route->vary[i].http, strlen(route->vary[i].http), &keep_name, true);
        const char *value = cc_env_get(envp, route->vary[i].cgi);
        /* Accept-Encoding is keyed by what it picks, not how it is
         * spelled: a few variants, not one per browser (encoding.h). */
        if (strcmp(route->vary[i].cgi, "HTTP_ACCEPT_ENCODING") == 0)
            value = cc_accept_bucket(value);
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

/* Writes the URL generation key of the URL whose hash is url_hash: its
 * 32 hex digits, the first CC_KS_SLOT_TAG_LEN of them braced, the hash tag
 * its entries, locks and fill channels carry too (keyspace.h). */
static int url_gen_key(const cc_config *cfg, const cc_route *route, const char url_hash[32],
                       char *out, size_t cap)
{
    char name[CC_NAME_MAX + 40];
    writer w = {name, 0, sizeof name, 0};
    put_str(&w, route->name);
    put(&w, ":{", 2);
    put(&w, url_hash, CC_KS_SLOT_TAG_LEN);
    put(&w, "}", 1);
    put(&w, url_hash + CC_KS_SLOT_TAG_LEN, 32 - CC_KS_SLOT_TAG_LEN);
    return w.failed ? -1 : cc_keyspace_key(cfg, CC_KS_GEN, name, w.len, out, cap);
}

/* Writes scheme://host/path, path decoded, into w: what a URL purge names,
 * so that every spelling of a path that decodes alike is purged. */
static void put_purge_url(writer *w, bool https, const char *host, size_t host_len,
                          const char *path, size_t path_len)
{
    put_origin(w, https, host, host_len);
    put_escaped(w, path, path_len, &keep_path, false);
}

int cc_key_url_gen(const cc_config *cfg, const cc_route *route, bool https, const char *host,
                   size_t host_len, const char *path, size_t path_len, char *out, size_t cap)
{
    char url[CC_KEY_MAX], url_hash[32];
    writer u = {url, 0, sizeof url, 0};
    put_purge_url(&u, https, host, host_len, path, path_len);
    if (u.failed)
        return -1;
    hash_hex(XXH3_128bits(url, u.len), url_hash);
    return url_gen_key(cfg, route, url_hash, out, cap);
}

/* The port the host names: its own ":port", else the scheme's default. */
static const char *host_port(const char *host, bool https, size_t *len)
{
    size_t n = strlen(host), digits = 0;
    while (digits < n && host[n - 1 - digits] >= '0' && host[n - 1 - digits] <= '9')
        digits++;
    if (digits > 0 && digits < n && host[n - 1 - digits] == ':') {
        *len = digits;
        return host + n - digits;
    }
    *len = https ? 3 : 2;
    return https ? "443" : "80";
}

/* What the app may read besides the URL the key already holds: the port
 * it was reached on when the host does not name it ("|:8080"; apps build
 * links from SERVER_PORT), and REQUEST_URI's own query when a rewrite
 * made QUERY_STRING differ from it ("|?=a=1", or "|?" when it had none). */
static void put_extras(writer *w, const cc_request *rq)
{
    size_t plen;
    const char *port = host_port(rq->host, rq->https, &plen);
    if (rq->port[0] != '\0' && (strlen(rq->port) != plen || memcmp(rq->port, port, plen) != 0)) {
        put(w, "|:", 2);
        put_escaped(w, rq->port, strlen(rq->port), &keep_name, false);
    }
    if (!rq->path_encoded)
        return;
    if (rq->uri_query == NULL) {
        if (rq->query_len > 0)
            put(w, "|?", 2);
    } else if (strlen(rq->uri_query) != rq->query_len ||
               memcmp(rq->uri_query, rq->query, rq->query_len) != 0) {
        put(w, "|?=", 3);
        put_escaped(w, rq->uri_query, strlen(rq->uri_query), &keep_text, false);
    }
}

int cc_key_build(const cc_config *cfg, const cc_route *route, const cc_request *rq, cc_key *out)
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
    put_origin(&w, rq->https, rq->host, strlen(rq->host));
    put_path(&w, rq);
    size_t url_end = w.len;
    if (put_query(&w, route, rq->query, rq->query_len) < 0)
        return -1;
    put_vary(&w, route, rq->envp);
    put_extras(&w, rq);
    if (w.failed)
        return -1;
    out->full_len = w.len;

    /* The URL a purge names is the key's own URL part when the path needs
     * no decoding (most do not); otherwise it is written after the key. */
    const char *url = out->full + url_start;
    size_t url_len = url_end - url_start;
    bool as_written = rq->norm_len == rq->path_len &&
                      memcmp(rq->norm, rq->path, rq->path_len) == 0 &&
                      (rq->path_encoded || strpbrk(rq->norm, "%?#") == NULL);
    if (!as_written) {
        writer u = {out->full + w.len + 1, 0, sizeof out->full - w.len - 1, 0};
        put_purge_url(&u, rq->https, rq->host, strlen(rq->host), rq->norm, rq->norm_len);
        if (u.failed)
            return -1;
        url = u.buf;
        url_len = u.len;
    }
    memcpy(out->path, rq->norm, rq->norm_len + 1);
    out->path_len = rq->norm_len;
    char url_hash[32];
    hash_hex(XXH3_128bits(url, url_len), url_hash);
    if (cc_keyspace_key(cfg, CC_KS_GEN, route->name, strlen(route->name), out->route_gen,
                        sizeof out->route_gen) < 0 ||
        url_gen_key(cfg, route, url_hash, out->url_gen, sizeof out->url_gen) < 0)
        return -1;
    /* The URL's hash tag goes after the route (keyspace.h), before any of
     * the request's own text, whose '{' must not make another tag: the
     * rest of the key moves up to make room (the purge URL written after
     * it is no longer needed). */
    enum { TAG = CC_KS_SLOT_TAG_LEN + 2 };
    if (out->full_len + TAG >= sizeof out->full)
        return -1;
    memmove(out->full + prefix_len + TAG, out->full + prefix_len, out->full_len - prefix_len);
    out->full[prefix_len] = '{';
    memcpy(out->full + prefix_len + 1, url_hash, CC_KS_SLOT_TAG_LEN);
    out->full[prefix_len + TAG - 1] = '}';
    out->full_len += TAG;
    prefix_len += TAG;
    w.len = out->full_len;
    out->full[out->full_len] = '\0';

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
