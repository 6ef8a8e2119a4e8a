/* route.c -- routes: their grammar, and which one a request belongs to.
 *
 * A route is "[METHOD[,METHOD...]] PATTERN [option=value ...]"; parsing
 * one needs nothing but the text (the caller fills in the defaults it
 * inherits from the globals first).
 * Routes are globs matched as fnmatch(3) does without FNM_PATHNAME, so '*'
 * crosses '/'.  cc_config_parse sorts them most specific first (longest
 * literal text before the first wildcard, then name), which makes matching
 * a first-hit scan and makes the winner independent of the order variables
 * happen to appear in the environment. */
#include "route.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

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

const cc_route *cc_routes_match(const cc_route *routes, size_t nroutes, unsigned method_bit,
                                const char *path, size_t path_len)
{
    char buf[CC_PATH_MAX];
    if (nroutes == 0 || path_len >= sizeof buf)
        return NULL;
    memcpy(buf, path, path_len);
    buf[path_len] = '\0';
    for (size_t i = 0; i < nroutes; i++) {
        const cc_route *r = &routes[i];
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

/* ---- the route grammar ------------------------------------------------ */

/* strdup(), but with this library's malloc: libc's strdup allocates with
 * whatever malloc the process has, and our free must not meet that. */
static char *copy_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    return c != NULL ? memcpy(c, s, n) : NULL;
}

static const char *const compress_words[] = {"smart", "all", "off", NULL};
static const char *const on_off_words[] = {"off", "on", NULL};

/* Splits a comma-separated list into items, each passed to add; stops at
 * the first item add refuses.  Returns 0 or -1. */
static int each_item(const char *list, size_t max, size_t *count,
                     int (*add)(void *ctx, const char *item, size_t len), void *ctx)
{
    *count = 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || *count >= max || add(ctx, p, len) < 0)
            return -1;
        (*count)++;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

typedef struct route_build {
    cc_route *route;
    size_t n;                 /* items added so far by each_item */
} route_build;

static int add_method(void *ctx, const char *item, size_t len)
{
    char name[16];
    if (len >= sizeof name)
        return -1;
    memcpy(name, item, len);
    name[len] = '\0';
    unsigned bit = cc_method_bit(name);
    if (bit == CC_M_OTHER)
        return -1;
    ((route_build *)ctx)->route->methods |= bit;
    return 0;
}

static int add_vary(void *ctx, const char *item, size_t len)
{
    route_build *rb = ctx;
    return cc_header_name_set(&rb->route->vary[rb->n++], item, len);
}

static int copy_name(char *out, const char *item, size_t len, const char *forbidden)
{
    if (len >= CC_NAME_MAX)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)item[i] <= ' ' || strchr(forbidden, item[i]) != NULL)
            return -1;
    memcpy(out, item, len);
    out[len] = '\0';
    return 0;
}

static int add_query_name(void *ctx, const char *item, size_t len)
{
    route_build *rb = ctx;
    return copy_name(rb->route->query_names[rb->n++], item, len, "&=#");
}

static int add_invalidate(void *ctx, const char *item, size_t len)
{
    route_build *rb = ctx;
    char *out = rb->route->invalidates[rb->n++];
    if (copy_name(out, item, len, "") < 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)out[i]) && out[i] != '_')
            return -1;
    return 0;
}

/* "404" or "404:30s": a status stored, for its own lifetime or the ttl. */
static int add_status(void *ctx, const char *item, size_t len)
{
    route_build *rb = ctx;
    int64_t ttl_ms = 0;
    if (len > 4 && item[3] == ':') {
        char duration[32];
        if (len - 4 >= sizeof duration)
            return -1;
        memcpy(duration, item + 4, len - 4);
        duration[len - 4] = '\0';
        if (cc_parse_duration(duration, &ttl_ms) < 0 || ttl_ms == 0)
            return -1;
        len = 3;
    }
    if (len != 3 || !isdigit((unsigned char)item[0]) || !isdigit((unsigned char)item[1]) ||
        !isdigit((unsigned char)item[2]))
        return -1;
    int code = (item[0] - '0') * 100 + (item[1] - '0') * 10 + (item[2] - '0');
    if (code < 100 || code > 599)
        return -1;
    rb->route->status_ttl_ms[rb->n] = ttl_ms;
    rb->route->statuses[rb->n++] = (uint16_t)code;
    return 0;
}

static int list_option(cc_route *r, const char *value, size_t max, size_t *count,
                       int (*add)(void *, const char *, size_t))
{
    route_build rb = {r, 0};
    return each_item(value, max, count, add, &rb);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Applies one name=value option; returns NULL or what is wrong. */
static const char *route_option(cc_route *r, const char *name, const char *value)
{
    int64_t ms;
    int i;
    if (strcmp(name, "ttl") == 0) {
        if (cc_parse_duration(value, &ms) < 0 || ms == 0)
            return "ttl= expects a duration above 0, e.g. 300, 30s, 5m";
        r->ttl_ms = ms;
    } else if (strcmp(name, "stale") == 0) {
        if (cc_parse_duration(value, &ms) < 0)
            return "stale= expects a duration, e.g. 30s";
        r->stale_ms = ms;
    } else if (strcmp(name, "stale-if-error") == 0) {
        if (cc_parse_duration(value, &ms) < 0)
            return "stale-if-error= expects a duration, e.g. 1h";
        r->stale_if_error_ms = ms;
    } else if (strcmp(name, "pass") == 0) {
        if (cc_parse_duration(value, &ms) < 0)
            return "pass= expects a duration, e.g. 30s (0: never remembered)";
        r->pass_ms = ms;
    } else if (strcmp(name, "min-uses") == 0) {
        char *end;
        unsigned long n = strtoul(value, &end, 10);
        if (*value < '1' || *value > '9' || *end != '\0' || n > 1000000)
            return "min-uses= expects a count from 1 to 1000000";
        r->min_uses = (uint32_t)n;
    } else if (strcmp(name, "vary") == 0) {
        if (list_option(r, value, CC_MAX_LIST, &r->nvary, add_vary) < 0)
            return "vary= expects up to 16 header names, comma-separated";
    } else if (strcmp(name, "query") == 0) {
        r->nquery = 0;
        if (strcmp(value, "all") == 0)
            r->query = CC_QUERY_ALL;
        else if (strcmp(value, "none") == 0)
            r->query = CC_QUERY_NONE;
        else if (list_option(r, value, CC_MAX_LIST, &r->nquery, add_query_name) < 0)
            return "query= expects all, none or up to 16 parameter names";
        else {
            r->query = CC_QUERY_LIST;
            qsort(r->query_names, r->nquery, sizeof r->query_names[0], compare_names);
        }
    } else if (strcmp(name, "status") == 0) {
        if (list_option(r, value, CC_MAX_STATUSES, &r->nstatuses, add_status) < 0)
            return "status= expects up to 16 HTTP status codes, each with its own lifetime "
                   "or not, e.g. 200,301:1h,404:30s";
    } else if (strcmp(name, "compress") == 0) {
        if ((i = cc_word_index(value, compress_words)) < 0)
            return "compress= expects smart, all or off";
        r->compress = (cc_compress_mode)i;
    } else if (strcmp(name, "lock") == 0) {
        if ((i = cc_word_index(value, on_off_words)) < 0)
            return "lock= expects on or off";
        r->lock = i == 1;
    } else if (strcmp(name, "cookies") == 0) {
        if (strcmp(value, "bypass") != 0 && strcmp(value, "ignore") != 0)
            return "cookies= expects bypass or ignore";
        r->cookies_ignore = strcmp(value, "ignore") == 0;
    } else if (strcmp(name, "etag") == 0) {
        if (strcmp(value, "auto") != 0 && strcmp(value, "off") != 0)
            return "etag= expects auto or off";
        r->etag_auto = strcmp(value, "auto") == 0;
    } else if (strcmp(name, "invalidates") == 0) {
        if (list_option(r, value, CC_MAX_LIST, &r->ninvalidates, add_invalidate) < 0)
            return "invalidates= expects up to 16 route names";
    } else {
        return "unknown option (known: ttl, stale, stale-if-error, pass, min-uses, vary, query, "
               "status, compress, lock, cookies, etag, invalidates)";
    }
    return NULL;
}

static bool looks_like_methods(const char *word)
{
    for (const char *c = word; *c != '\0'; c++)
        if (!isalpha((unsigned char)*c) && *c != ',')
            return false;
    return true;
}

/* Parses "[METHODS] PATTERN [opt=value...]" into r (defaults already in
 * place).  Returns NULL or what is wrong, in msg when it needs detail. */
const char *cc_route_parse(cc_route *r, const char *spec, char *msg, size_t msg_len)
{
    char *copy = copy_text(spec);
    if (copy == NULL)
        return "out of memory";
    const char *why = NULL;
    char *save = NULL;
    char *word = strtok_r(copy, " \t", &save);
    if (word != NULL && looks_like_methods(word)) {
        size_t n;
        r->methods = 0;
        route_build rb = {r, 0};
        if (each_item(word, 8, &n, add_method, &rb) < 0) {
            snprintf(msg, msg_len,
                     "bad method list '%s': expected GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS", word);
            why = msg;
        }
        word = strtok_r(NULL, " \t", &save);
    }
    if (why == NULL && (word == NULL || (word[0] != '/' && word[0] != '*'))) {
        why = "expected [METHODS] /pattern [option=value ...]";
    }
    if (why == NULL && (r->pattern = copy_text(word)) == NULL)
        why = "out of memory";
    if (why == NULL)
        r->literal_len = cc_route_literal_len(r->pattern);
    while (why == NULL && (word = strtok_r(NULL, " \t", &save)) != NULL) {
        char *eq = strchr(word, '=');
        if (eq == NULL || eq[1] == '\0') {
            snprintf(msg, msg_len, "bad option '%s': expected name=value", word);
            why = msg;
            break;
        }
        *eq = '\0';
        const char *bad = route_option(r, word, eq + 1);
        if (bad != NULL) {
            snprintf(msg, msg_len, "%s=%s: %s", word, eq + 1, bad);
            why = msg;
        }
    }
    free(copy);
    return why;
}

bool cc_route_name_valid(const char *name, size_t len)
{
    if (len == 0 || len >= CC_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}
