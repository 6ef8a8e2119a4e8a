/* request.c -- builds the cc_request view from CGI parameters.
 *
 * One pass over envp picks out the handful of parameters every request
 * needs, so the pass-through path (a request on no route) costs a scan and
 * a glob match, nothing more.  The path is the one the client asked for:
 * the path part of REQUEST_URI, or SCRIPT_NAME + PATH_INFO when a server
 * sends no REQUEST_URI; its decoded form (path.h) is what routes match. */
#include "request.h"

#include <stdbool.h>
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "path.h"

/* Compares "NAME=" at the start of kv with name; returns the value or NULL.
 * A loop of its own: names differ in their first bytes, and a call to
 * strncmp per parameter and name was most of a pass-through's cost. */
static const char *match_param(const char *kv, const char *name, size_t name_len)
{
    for (size_t i = 0; i < name_len; i++)
        if (kv[i] != name[i])
            return NULL;        /* also stops at kv's NUL: names have none */
    return kv[name_len] == '=' ? kv + name_len + 1 : NULL;
}

const char *cc_env_get(char *const *envp, const char *name)
{
    if (envp == NULL)
        return NULL;
    size_t n = strlen(name);
    for (char *const *e = envp; *e != NULL; e++) {
        const char *v = match_param(*e, name, n);
        if (v != NULL)
            return v;
    }
    return NULL;
}

bool cc_is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
            return false;
    return true;
}

int cc_header_name_set(cc_header_name *h, const char *name, size_t len)
{
    if (len == 0 || len >= sizeof h->http)
        return -1;
    memcpy(h->http, name, len);
    h->http[len] = '\0';
    if (!cc_is_token(h->http))
        return -1;
    return cc_header_to_cgi(h->http, h->cgi, sizeof h->cgi);
}

int cc_header_to_cgi(const char *header, char *out, size_t cap)
{
    size_t n = strlen(header);
    if (n + 6 > cap)
        return -1;
    memcpy(out, "HTTP_", 5);
    for (size_t i = 0; i < n; i++) {
        char c = header[i];
        if (c == '-')
            c = '_';
        else if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        out[5 + i] = c;
    }
    out[5 + n] = '\0';
    return 0;
}

/* The parameters the view is made of, found in one pass. */
struct params {
    const char *method, *uri, *script, *path_info, *query, *host, *server_name, *port, *https,
        *scheme, *content_length, *transfer_encoding;
};

#define TAKE(field, literal)                                                              \
    if (p->field == NULL && (v = match_param(kv, literal, sizeof literal - 1)) != NULL) { \
        p->field = v;                                                                     \
        continue;                                                                         \
    }

/* One pass over envp.  With target, only what routing needs (method and
 * path, and the query when the path is not REQUEST_URI), stopping as soon
 * as REQUEST_METHOD and REQUEST_URI are found: a request on no route
 * costs a few comparisons, not a scan of every parameter. */
static void collect(char *const *envp, struct params *p, bool target)
{
    memset(p, 0, sizeof *p);
    for (char *const *e = envp; *e != NULL; e++) {
        const char *kv = *e, *v;
        /* An empty REQUEST_URI does not count: the path then comes from
         * SCRIPT_NAME and PATH_INFO, which may come later. */
        if (target && p->method != NULL && p->uri != NULL && p->uri[0] != '\0')
            break;
        switch (kv[0]) {
        case 'R':
            TAKE(method, "REQUEST_METHOD");
            TAKE(uri, "REQUEST_URI");
            if (!target)
                TAKE(scheme, "REQUEST_SCHEME");
            break;
        case 'S':
            TAKE(script, "SCRIPT_NAME");
            if (target)
                break;
            TAKE(server_name, "SERVER_NAME");
            TAKE(port, "SERVER_PORT");
            break;
        case 'P':
            TAKE(path_info, "PATH_INFO");
            break;
        case 'Q':
            TAKE(query, "QUERY_STRING");
            break;
        case 'H':
            if (target)
                break;
            TAKE(host, "HTTP_HOST");
            TAKE(https, "HTTPS");
            TAKE(transfer_encoding, "HTTP_TRANSFER_ENCODING");
            break;
        case 'C':
            if (!target)
                TAKE(content_length, "CONTENT_LENGTH");
            break;
        default:
            break;
        }
    }
}

#undef TAKE

static bool has_body(const struct params *p)
{
    if (p->transfer_encoding != NULL && p->transfer_encoding[0] != '\0')
        return true;
    if (p->content_length == NULL)
        return false;
    for (const char *c = p->content_length; *c != '\0'; c++)
        if (*c >= '1' && *c <= '9')
            return true;        /* any non-zero digit: a body of some size */
    return false;
}

int cc_request_target(cc_request *rq, char *const *envp)
{
    struct params p;
    if (envp == NULL)
        return -1;
    collect(envp, &p, true);
    if (p.method == NULL || p.method[0] == '\0')
        return -1;
    memset(rq, 0, offsetof(cc_request, pathbuf));
    rq->envp = envp;
    rq->method = p.method;
    rq->method_bit = cc_method_bit(p.method);
    rq->host = rq->port = "";
    if (p.uri != NULL && p.uri[0] != '\0') {
        const char *q = strchr(p.uri, '?');
        rq->path = p.uri;
        rq->path_len = q != NULL ? (size_t)(q - p.uri) : strlen(p.uri);
        rq->path_encoded = true;
        rq->uri_query = q != NULL ? q + 1 : NULL;
        rq->query = q != NULL ? q + 1 : "";
    } else {
        size_t a = p.script != NULL ? strlen(p.script) : 0;
        size_t b = p.path_info != NULL ? strlen(p.path_info) : 0;
        if (a + b == 0 || a + b >= sizeof rq->pathbuf)
            return -1;
        if (a > 0)
            memcpy(rq->pathbuf, p.script, a);
        if (b > 0)
            memcpy(rq->pathbuf + a, p.path_info, b);
        rq->pathbuf[a + b] = '\0';
        rq->path = rq->pathbuf;
        rq->path_len = a + b;
        rq->query = p.query != NULL ? p.query : "";
    }
    rq->query_len = strlen(rq->query);
    if (rq->path_len == 0 || rq->path_len >= CC_PATH_MAX)
        return -1;
    long n = cc_path_decode(rq->path, rq->path_len, rq->path_encoded, rq->normbuf,
                            sizeof rq->normbuf, &rq->path_normal);
    if (n < 0)
        return -1;
    rq->norm = rq->normbuf;
    rq->norm_len = (size_t)n;
    return 0;
}

void cc_request_details(cc_request *rq)
{
    struct params p;
    collect(rq->envp, &p, false);
    rq->host = p.host != NULL ? p.host : (p.server_name != NULL ? p.server_name : "");
    rq->port = p.port != NULL ? p.port : "";
    rq->https = (p.https != NULL &&
                 (strcasecmp(p.https, "on") == 0 || strcmp(p.https, "1") == 0)) ||
                (p.scheme != NULL && strcasecmp(p.scheme, "https") == 0);
    rq->has_body = has_body(&p);
    /* What the app reads: CGI libraries parse QUERY_STRING, which a
     * server's rewrite may have changed from what the client sent. */
    if (p.query != NULL) {
        rq->query = p.query;
        rq->query_len = strlen(p.query);
    }
}

int cc_request_init(cc_request *rq, char *const *envp)
{
    if (cc_request_target(rq, envp) != 0)
        return -1;
    cc_request_details(rq);
    return 0;
}

void cc_request_copy(cc_request *dst, const cc_request *src)
{
    memcpy(dst, src, offsetof(cc_request, pathbuf));
    if (src->path == src->pathbuf) {
        memcpy(dst->pathbuf, src->pathbuf, src->path_len + 1);
        dst->path = dst->pathbuf;
    }
    memcpy(dst->normbuf, src->normbuf, src->norm_len + 1);
    dst->norm = dst->normbuf;
}

unsigned cc_method_bit(const char *method)
{
    static const struct {
        const char *name;
        unsigned bit;
    } methods[] = {
        {"GET", CC_M_GET},         {"HEAD", CC_M_HEAD},   {"POST", CC_M_POST},
        {"PUT", CC_M_PUT},         {"PATCH", CC_M_PATCH}, {"DELETE", CC_M_DELETE},
        {"OPTIONS", CC_M_OPTIONS},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcasecmp(method, methods[i].name) == 0)
            return methods[i].bit;
    return CC_M_OTHER;
}
