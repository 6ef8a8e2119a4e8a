/* fuzz_keypair.c -- the key is injective, checked on pairs of requests.
 *
 * The fuzzer's bytes make two requests that share some fields and differ
 * in others.  For each, a reference written apart from key.c, as simply
 * as possible, lists what the key claims to cover: route, method class,
 * scheme, host (lowercased, default port dropped), the port the app was
 * reached on when the host does not name it, the path in URI form, the
 * query as apps may parse it, REQUEST_URI's query when a rewrite changed
 * it, and the vary headers.  Two requests with the same key must have the
 * same reference, and two with the same reference the same key. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "key.h"
#include "request.h"
#include "route.h"

static cc_config *cfg;

/* ---- making requests from bytes ------------------------------------------- */

typedef struct reader {
    const uint8_t *p, *end;
} reader;

static unsigned byte(reader *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

/* The bytes that separate, escape or fold somewhere. */
static const char alphabet[] = "/%?#&;=|:.aAbBqQ0129 +[]_-~\\\xc3\xa9XL";

static void field(reader *r, char *out, size_t cap)
{
    size_t n = byte(r) % 12, len = 0;
    for (size_t i = 0; i < n && len + 1 < cap; i++)
        out[len++] = alphabet[byte(r) % (sizeof alphabet - 1)];
    out[len] = '\0';
}

typedef struct fields {
    unsigned method, https, from_uri, has_port, has_qs, has_lang;
    char host[16], port[16], path[16], uq[16], qs[16], lang[16];
} fields;

static void make_fields(reader *r, fields *f, const fields *like)
{
    unsigned keep = like != NULL ? byte(r) | byte(r) << 8 : 0;
#define PICK(bit, stmt)           \
    do {                          \
        if (keep & (1u << (bit))) \
            ;                     \
        else {                    \
            stmt;                 \
        }                         \
    } while (0)
    if (like != NULL)
        *f = *like;
    PICK(0, f->method = byte(r) % 4);
    PICK(1, f->https = byte(r) & 1);
    PICK(2, f->from_uri = byte(r) & 1);
    PICK(3, f->has_port = byte(r) & 1);
    PICK(4, field(r, f->port, sizeof f->port));
    PICK(5, field(r, f->host, sizeof f->host));
    PICK(6, {
        f->path[0] = '/';
        field(r, f->path + 1, sizeof f->path - 1);
    });
    PICK(7, field(r, f->uq, sizeof f->uq));
    PICK(8, f->has_qs = byte(r) % 3);     /* 0 none, 1 as the uri's, 2 its own */
    PICK(9, field(r, f->qs, sizeof f->qs));
    PICK(10, f->has_lang = byte(r) & 1);
    PICK(11, field(r, f->lang, sizeof f->lang));
#undef PICK
}

typedef struct request {
    char text[8][64];
    char *env[9];
} request;

static void make_env(const fields *f, request *q)
{
    static const char *const methods[] = {"GET", "HEAD", "DELETE", "DELETE"};
    size_t n = 0;
    snprintf(q->text[n++], 64, "REQUEST_METHOD=%s", methods[f->method]);
    snprintf(q->text[n++], 64, "HTTP_HOST=%s", f->host);
    if (f->from_uri)
        snprintf(q->text[n++], 64, "REQUEST_URI=%s%s%s", f->path, f->uq[0] ? "?" : "", f->uq);
    else
        snprintf(q->text[n++], 64, "SCRIPT_NAME=%s", f->path);
    if (f->has_qs)
        snprintf(q->text[n++], 64, "QUERY_STRING=%s", f->has_qs == 1 ? f->uq : f->qs);
    if (f->has_port)
        snprintf(q->text[n++], 64, "SERVER_PORT=%s", f->port);
    if (f->https)
        snprintf(q->text[n++], 64, "HTTPS=on");
    if (f->has_lang)
        snprintf(q->text[n++], 64, "HTTP_X_LANG=%s", f->lang);
    for (size_t i = 0; i < n; i++)
        q->env[i] = q->text[i];
    q->env[n] = NULL;
}

/* ---- the reference ----------------------------------------------------------- */

typedef struct ref {
    char buf[4096];
    size_t len;
} ref;

/* A field, length first: no two lists of fields serialise alike. */
static void add(ref *r, const char *s, size_t n)
{
    if (r->len + n + 8 > sizeof r->buf)
        abort();
    memcpy(r->buf + r->len, &n, sizeof n);
    memcpy(r->buf + r->len + sizeof n, s, n);
    r->len += sizeof n + n;
}

static void add_str(ref *r, const char *s)
{
    add(r, s, strlen(s));
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* A query name as apps may read it (see key.c): decoded, cut at NUL,
 * leading blanks dropped, lowercased, ' ', '.', '[' read as '_'. */
static void fold(const char *s, size_t n, char *out, size_t *base)
{
    size_t len = 0;
    *base = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            c = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        }
        if (c == 0)
            break;
        if (len == 0 && (c == ' ' || c == '\t'))
            continue;
        if (c >= 'A' && c <= 'Z')
            c += 32;
        if (c == '[' && *base == (size_t)-1)
            *base = len;
        out[len++] = c == ' ' || c == '.' || c == '[' ? '_' : c;
    }
    out[len] = 0;
    if (*base == (size_t)-1)
        *base = len;
}

typedef struct seg {
    const char *text;
    size_t len;
    char fold[64];
    size_t order;
} seg;

static int by_fold(const void *a, const void *b)
{
    const seg *x = a, *y = b;
    int c = strcmp(x->fold, y->fold);
    return c != 0 ? c : x->order < y->order ? -1 : 1;
}

static void add_query(ref *r, const cc_route *route, const char *q)
{
    size_t n = strlen(q);
    if (route->query == CC_QUERY_NONE) {
        add_str(r, "no query");
        return;
    }
    if (strchr(q, ';') != NULL) {
        add_str(r, "verbatim");
        add_str(r, q);
        return;
    }
    seg segs[32];
    size_t count = 0;
    for (const char *p = q; p <= q + n;) {
        size_t len = strcspn(p, "&");
        if (len > 0) {
            seg *s = &segs[count];
            size_t base, name = strcspn(p, "=&");
            if (name > len)
                name = len;
            fold(p, name, s->fold, &base);
            bool keep = route->query == CC_QUERY_ALL;
            for (size_t i = 0; i < route->nquery && !keep; i++) {
                char want[64];
                size_t wbase;
                fold(route->query_names[i], strlen(route->query_names[i]), want, &wbase);
                keep = strcmp(want, s->fold) == 0 ||
                       (strlen(want) == base && strncmp(want, s->fold, base) == 0);
            }
            if (keep) {
                s->text = p;
                s->len = len;
                s->order = count++;
            }
        }
        p += len + 1;
    }
    qsort(segs, count, sizeof segs[0], by_fold);
    add_str(r, "params");
    for (size_t i = 0; i < count; i++)
        add(r, segs[i].text, segs[i].len);
}

static void reference(const fields *f, const cc_route *route, ref *r)
{
    r->len = 0;
    add_str(r, route->name);
    add_str(r, f->method < 2 ? "GET" : "DELETE");
    add_str(r, f->https ? "https" : "http");
    char host[16];
    size_t hn = strlen(f->host);
    for (size_t i = 0; i <= hn; i++)
        host[i] = f->host[i] >= 'A' && f->host[i] <= 'Z' ? f->host[i] + 32 : f->host[i];
    const char *dflt = f->https ? ":443" : ":80";
    if (hn > strlen(dflt) && strcmp(host + hn - strlen(dflt), dflt) == 0)
        host[hn - strlen(dflt)] = 0;
    add_str(r, host);
    /* The port: the host's own, else the scheme's; SERVER_PORT counts when
     * it differs. */
    const char *hp = f->https ? "443" : "80";
    size_t d = 0;
    while (d < hn && f->host[hn - 1 - d] >= '0' && f->host[hn - 1 - d] <= '9')
        d++;
    if (d > 0 && d < hn && f->host[hn - 1 - d] == ':')
        hp = f->host + hn - d;
    if (f->has_port && f->port[0] != 0 && strcmp(f->port, hp) != 0)
        add_str(r, f->port);
    else
        add_str(r, "no port");
    /* REQUEST_URI as the server passes it: the path ends at the first '?'. */
    char uri[40], *uq = NULL;
    snprintf(uri, sizeof uri, "%s%s%s", f->path, f->uq[0] ? "?" : "", f->uq);
    if (f->from_uri && (uq = strchr(uri, '?')) != NULL)
        *uq++ = 0;
    /* The path in URI form. */
    char path[64];
    size_t pn = 0;
    for (const char *p = f->from_uri ? uri : f->path; *p; p++) {
        if (!f->from_uri && (*p == '%' || *p == '?' || *p == '#'))
            pn += (size_t)sprintf(path + pn, "%%%02X", (unsigned char)*p);
        else
            path[pn++] = *p;
    }
    add(r, path, pn);
    const char *qs = f->has_qs == 0 ? (uq != NULL ? uq : "") : f->has_qs == 1 ? f->uq : f->qs;
    add_query(r, route, qs);
    if (f->from_uri && (uq != NULL ? strcmp(uq, qs) != 0 : qs[0] != 0)) {
        add_str(r, uq != NULL ? "uri query" : "no uri query");
        add_str(r, uq != NULL ? uq : "");
    }
    for (size_t i = 0; i < route->nvary; i++)
        add_str(r, f->has_lang ? f->lang : "(absent)"), add_str(r, f->has_lang ? "present" : "");
}

/* ---- the property ------------------------------------------------------------ */

static bool key_of(const fields *f, request *q, cc_key *k, const cc_route **route)
{
    make_env(f, q);
    cc_request rq;
    if (cc_request_init(&rq, q->env) != 0)
        return false;
    *route = cc_route_match(cfg, rq.method_bit == CC_M_HEAD ? CC_M_GET : rq.method_bit, rq.norm,
                            rq.norm_len);
    return *route != NULL && cc_key_build(cfg, *route, &rq, k) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL) {
        char *env[] = {"CGICACHE_ROUTE_all=GET,DELETE /* ttl=60",
                       "CGICACHE_ROUTE_q=GET,DELETE /q* query=a,b,a.b vary=X-Lang",
                       "CGICACHE_ROUTE_n=GET,DELETE /n* query=none", NULL};
        cfg = cc_config_parse(env, NULL, 0);
    }
    reader r = {data, data + size};
    fields fa, fb;
    memset(&fa, 0, sizeof fa);
    make_fields(&r, &fa, NULL);
    make_fields(&r, &fb, &fa);
    static request qa, qb;
    static cc_key ka, kb;
    static ref ra, rb;
    const cc_route *route_a, *route_b;
    if (!key_of(&fa, &qa, &ka, &route_a) || !key_of(&fb, &qb, &kb, &route_b))
        return 0;
    reference(&fa, route_a, &ra);
    reference(&fb, route_b, &rb);
    bool same_key = strcmp(ka.full, kb.full) == 0;
    bool same_ref = ra.len == rb.len && memcmp(ra.buf, rb.buf, ra.len) == 0;
    if (same_key != same_ref) {
        fprintf(stderr, "key %s\nkey %s\nsame key %d, same reference %d\n", ka.full, kb.full,
                same_key, same_ref);
        for (int i = 0; qa.env[i]; i++)
            fprintf(stderr, "a: %s\n", qa.env[i]);
        for (int i = 0; qb.env[i]; i++)
            fprintf(stderr, "b: %s\n", qb.env[i]);
        abort();
    }
    return 0;
}
