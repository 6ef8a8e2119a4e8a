/* config.c -- the CGICACHE_* environment turned into one immutable cc_config.
 *
 * Every setting is looked up first in envp, then in the KEY=VALUE text of
 * the CGICACHE_CONFIG file, so the environment always wins.  Each value is
 * checked on its own: a bad one becomes a cc_problem naming the variable and
 * what is wrong, and parsing carries on, so one typo never costs the rest of
 * the configuration (and never the app).  Routes are parsed last because
 * their options default to the globals, then sorted most specific first so
 * that matching is a first-hit scan. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "request.h"
#include "route.h"

#define ROUTE_PREFIX "CGICACHE_ROUTE_"
#define ROUTE_PREFIX_LEN (sizeof ROUTE_PREFIX - 1)

/* Where the settings come from: envp, then the file's lines. */
typedef struct source {
    char *const *envp;
    char **file;              /* "KEY=VALUE" lines of the file, NULL-terminated */
} source;

/* Parsing state: the config being filled and whether memory ran out. */
typedef struct parser {
    cc_config *cfg;
    const source *src;
    int oom;
} parser;

static void problem(parser *ps, bool warning, const char *variable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(parser *ps, bool warning, const char *variable, const char *fmt, ...)
{
    cc_config *cfg = ps->cfg;
    cc_problem *grown = realloc(cfg->problems, (cfg->nproblems + 1) * sizeof *grown);
    if (grown == NULL) {
        ps->oom = 1;
        return;
    }
    cfg->problems = grown;
    cc_problem *p = &grown[cfg->nproblems++];
    memset(p, 0, sizeof *p);
    p->warning = warning;
    snprintf(p->variable, sizeof p->variable, "%s", variable);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
}

/* ---- units ------------------------------------------------------------ */

/* Reads the leading decimal digits of text into *out; returns the first
 * character after them, or NULL when there are none or they overflow. */
static const char *parse_digits(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    const char *c = text;
    if (!isdigit((unsigned char)*c))
        return NULL;
    for (; isdigit((unsigned char)*c); c++) {
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = v;
    return c;
}

/* Multiplies, refusing results past limit. */
static int scale(uint64_t v, uint64_t unit, uint64_t limit, uint64_t *out)
{
    if (v != 0 && unit > limit / v)
        return -1;
    *out = v * unit;
    return 0;
}

int cc_parse_duration(const char *text, int64_t *out_ms)
{
    static const struct { const char *suffix; uint64_t ms; } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    uint64_t v, ms;
    const char *rest = text != NULL ? parse_digits(text, &v) : NULL;
    if (rest == NULL)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(rest, units[i].suffix) == 0) {
            /* A year is plenty; it also keeps every sum of durations safe. */
            if (scale(v, units[i].ms, 366ull * 24 * 3600000, &ms) < 0)
                return -1;
            *out_ms = (int64_t)ms;
            return 0;
        }
    }
    return -1;
}

int cc_parse_size(const char *text, size_t *out_bytes)
{
    uint64_t v, bytes, unit;
    const char *rest = text != NULL ? parse_digits(text, &v) : NULL;
    if (rest == NULL)
        return -1;
    switch (*rest) {
    case '\0': unit = 1; break;
    case 'k': case 'K': unit = 1024; break;
    case 'm': case 'M': unit = 1024 * 1024; break;
    case 'g': case 'G': unit = 1024 * 1024 * 1024; break;
    default: return -1;
    }
    if (*rest != '\0' && rest[1] != '\0')
        return -1;
    if (scale(v, unit, (uint64_t)1 << 40, &bytes) < 0)
        return -1;
    *out_bytes = (size_t)bytes;
    return 0;
}

unsigned cc_method_bit(const char *method)
{
    static const struct { const char *name; unsigned bit; } methods[] = {
        {"GET", CC_M_GET}, {"HEAD", CC_M_HEAD}, {"POST", CC_M_POST}, {"PUT", CC_M_PUT},
        {"PATCH", CC_M_PATCH}, {"DELETE", CC_M_DELETE}, {"OPTIONS", CC_M_OPTIONS},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcasecmp(method, methods[i].name) == 0)
            return methods[i].bit;
    return CC_M_OTHER;
}

/* ---- sources ---------------------------------------------------------- */

static const char *lookup_in(char *const *list, const char *name)
{
    return list != NULL ? cc_env_get(list, name) : NULL;
}

static const char *lookup(const parser *ps, const char *name)
{
    const char *v = lookup_in(ps->src->envp, name);
    return v != NULL ? v : lookup_in(ps->src->file, name);
}

/* Splits a copy of the file text into "KEY=VALUE" lines: blank lines and
 * '#' comments dropped, blanks around KEY and VALUE trimmed, an optional
 * "export " and quotes around VALUE accepted so a shell env file works. */
static char **split_file(parser *ps, char *text)
{
    size_t cap = 1;
    for (const char *c = text; *c != '\0'; c++)
        cap += *c == '\n';
    char **lines = calloc(cap + 1, sizeof *lines);
    if (lines == NULL) {
        ps->oom = 1;
        return NULL;
    }
    size_t n = 0, lineno = 0;
    for (char *line = text, *next; line != NULL; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *end = line + strlen(line);
        while (end > line && isspace((unsigned char)end[-1]))
            *--end = '\0';
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (strncmp(line, "export ", 7) == 0)
            line += 7;
        char *eq = strchr(line, '=');
        if (eq == NULL || eq == line) {
            char where[32];
            snprintf(where, sizeof where, "line %zu", lineno);
            problem(ps, false, "CGICACHE_CONFIG", "%s: expected KEY=VALUE", where);
            continue;
        }
        char *value = eq + 1;
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '\'' || value[0] == '"') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            memmove(eq + 1, value + 1, vlen - 1);
        }
        lines[n++] = line;
    }
    return lines;
}

/* ---- global settings -------------------------------------------------- */

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
            return false;
    return true;
}

static void take_duration(parser *ps, const char *name, int64_t *out, bool zero_ok)
{
    const char *v = lookup(ps, name);
    int64_t ms;
    if (v == NULL)
        return;
    if (cc_parse_duration(v, &ms) < 0)
        problem(ps, false, name, "bad duration '%s': expected a number with ms, s, m or h", v);
    else if (ms == 0 && !zero_ok)
        problem(ps, false, name, "must be more than 0");
    else
        *out = ms;
}

static void take_size(parser *ps, const char *name, size_t *out)
{
    const char *v = lookup(ps, name);
    size_t bytes;
    if (v == NULL)
        return;
    if (cc_parse_size(v, &bytes) < 0)
        problem(ps, false, name, "bad size '%s': expected a number with k, M or G", v);
    else
        *out = bytes;
}

/* Looks text up in a NULL-terminated list of words; -1 when absent. */
static int word_index(const char *text, const char *const *words)
{
    for (int i = 0; words[i] != NULL; i++)
        if (strcasecmp(text, words[i]) == 0)
            return i;
    return -1;
}

static const char *const compress_words[] = {"smart", "all", "off", NULL};
static const char *const on_off_words[] = {"off", "on", NULL};

static void take_choice(parser *ps, const char *name, const char *const *words, int *out)
{
    const char *v = lookup(ps, name);
    if (v == NULL)
        return;
    int i = word_index(v, words);
    if (i < 0) {
        char allowed[128] = "";
        for (int w = 0; words[w] != NULL; w++)
            snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
                     w ? ", " : "", words[w]);
        problem(ps, false, name, "bad value '%s': expected one of %s", v, allowed);
        return;
    }
    *out = i;
}

static void take_int(parser *ps, const char *name, long lo, long hi, int *out)
{
    const char *v = lookup(ps, name);
    if (v == NULL)
        return;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
        problem(ps, false, name, "bad number '%s': expected %ld to %ld", v, lo, hi);
    else
        *out = (int)n;
}

/* A header name setting; empty_ok lets "" mean "disabled". */
static void take_header(parser *ps, const char *name, char *out, size_t cap, bool empty_ok)
{
    const char *v = lookup(ps, name);
    if (v == NULL)
        return;
    if ((v[0] == '\0' && empty_ok) || (is_token(v) && strlen(v) < cap))
        snprintf(out, cap, "%s", v);
    else
        problem(ps, false, name, "bad header name '%s'", v);
}

static int header_name_set(cc_header_name *h, const char *name, size_t len)
{
    if (len == 0 || len >= sizeof h->http)
        return -1;
    memcpy(h->http, name, len);
    h->http[len] = '\0';
    if (!is_token(h->http))
        return -1;
    return cc_header_to_cgi(h->http, h->cgi, sizeof h->cgi);
}

static void parse_log_and_enable(parser *ps)
{
    static const char *const levels[] = {"off", "error", "warn", "info", "debug", NULL};
    static const char *const enable_words[] = {"0", "1", "off", "on", "false", "true", "no", "yes", NULL};
    int level = CC_LOG_WARN, enable = 1;
    take_choice(ps, "CGICACHE_LOG", levels, &level);
    ps->cfg->log_level = (cc_log_level)level;
    take_choice(ps, "CGICACHE_ENABLE", enable_words, &enable);
    ps->cfg->enabled = enable % 2 == 1;
}

/* Percent-decodes src[0..len) into out; -1 on a bad escape or overflow. */
static int url_decode(const char *src, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            char hex[3] = {0};
            if (i + 2 >= len || !isxdigit((unsigned char)src[i + 1]) ||
                !isxdigit((unsigned char)src[i + 2]))
                return -1;
            hex[0] = src[i + 1];
            hex[1] = src[i + 2];
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

static int parse_db(const char *text, int *db)
{
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < 0 || n > 1000000)
        return -1;
    *db = (int)n;
    return 0;
}

/* redis://[[user]:password@]host[:port][/db]  or  unix:/path[?db=N].
 * Returns NULL or what is wrong. */
static const char *parse_redis(const char *url, cc_redis_addr *a)
{
    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (strncmp(url, "unix:", 5) == 0) {
        const char *path = url + 5;
        if (strncmp(path, "//", 2) == 0)
            path += 2;
        const char *q = strchr(path, '?');
        size_t len = q != NULL ? (size_t)(q - path) : strlen(path);
        if (len == 0 || path[0] != '/' || len >= sizeof a->path)
            return "expected unix:/absolute/path.sock";
        memcpy(a->path, path, len);
        a->kind = CC_REDIS_UNIX;
        if (q != NULL && (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, &a->db) < 0))
            return "expected ?db=<number> after the socket path";
        return NULL;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return "expected redis://host[:port][/db] or unix:/path";
    a->kind = CC_REDIS_TCP;
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *end = slash != NULL ? slash : p + strlen(p);
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL)
            return "expected :password@ before the host";
        if (colon != p && !(colon - p == 7 && strncmp(p, "default", 7) == 0))
            return "only the default user is supported: write redis://:password@host";
        if (url_decode(colon + 1, (size_t)(at - colon - 1), a->password, sizeof a->password) < 0)
            return "bad password encoding";
        p = at + 1;
    }
    const char *host = p, *host_end;
    if (*p == '[') {                  /* [IPv6]:port */
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (host_end == NULL)
            return "unclosed [ in host";
        p = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (host_end == NULL)
            host_end = end;
        p = host_end;
    }
    if (host_end == host || (size_t)(host_end - host) >= sizeof a->host)
        return "missing or too long host";
    memcpy(a->host, host, (size_t)(host_end - host));
    if (p < end && *p == ':') {
        char port[8] = "";
        size_t len = (size_t)(end - p - 1);
        char *stop;
        if (len == 0 || len >= sizeof port)
            return "bad port";
        memcpy(port, p + 1, len);
        long n = strtol(port, &stop, 10);
        if (*stop != '\0' || n < 1 || n > 65535)
            return "bad port";
        a->port = (int)n;
    } else if (p != end) {
        return "unexpected text after the host";
    }
    if (slash != NULL && slash[1] != '\0' && parse_db(slash + 1, &a->db) < 0)
        return "bad database number after /";
    return NULL;
}

static void parse_globals(parser *ps)
{
    cc_config *cfg = ps->cfg;
    int compress = CC_COMPRESS_SMART;

    parse_log_and_enable(ps);
    const char *url = lookup(ps, "CGICACHE_REDIS");
    const char *why = parse_redis(url != NULL ? url : "redis://127.0.0.1:6379/0", &cfg->redis);
    if (why != NULL) {
        problem(ps, false, "CGICACHE_REDIS", "bad address: %s; caching is disabled", why);
        cfg->enabled = false;
    }
    const char *prefix = lookup(ps, "CGICACHE_PREFIX");
    if (prefix != NULL) {
        if (prefix[0] == '\0' || strlen(prefix) >= sizeof cfg->prefix ||
            strpbrk(prefix, " \t\r\n*?[]\\") != NULL)
            problem(ps, false, "CGICACHE_PREFIX", "bad prefix '%s': 1 to 63 characters, no blanks or *?[]\\", prefix);
        else
            snprintf(cfg->prefix, sizeof cfg->prefix, "%s", prefix);
    }
    take_duration(ps, "CGICACHE_TTL", &cfg->ttl_ms, false);
    take_duration(ps, "CGICACHE_STALE", &cfg->stale_ms, true);
    take_duration(ps, "CGICACHE_LOCK_TTL", &cfg->lock_ttl_ms, false);
    cfg->lock_wait_ms = cfg->lock_ttl_ms;
    take_duration(ps, "CGICACHE_LOCK_WAIT", &cfg->lock_wait_ms, true);
    take_duration(ps, "CGICACHE_TIMEOUT", &cfg->timeout_ms, false);
    take_duration(ps, "CGICACHE_CONNECT_TIMEOUT", &cfg->connect_timeout_ms, false);
    take_size(ps, "CGICACHE_MAX_SIZE", &cfg->max_size);
    take_size(ps, "CGICACHE_COMPRESS_MIN", &cfg->compress_min);
    take_choice(ps, "CGICACHE_COMPRESS", compress_words, &compress);
    cfg->compress = (cc_compress_mode)compress;
    take_int(ps, "CGICACHE_COMPRESS_LEVEL", -7, 22, &cfg->compress_level);

    const char *early = lookup(ps, "CGICACHE_EARLY_REFRESH");
    if (early != NULL) {
        char *end;
        double beta = strtod(early, &end);
        if (end == early || *end != '\0' || !isfinite(beta) || beta < 0 || beta > 100)
            problem(ps, false, "CGICACHE_EARLY_REFRESH", "bad value '%s': expected a number from 0 to 100", early);
        else
            cfg->early_refresh = beta;
    }

    char bypass[CC_NAME_MAX];
    snprintf(bypass, sizeof bypass, "%s", cfg->bypass_header.http);
    take_header(ps, "CGICACHE_BYPASS_HEADER", bypass, sizeof bypass, true);
    if (bypass[0] == '\0')
        memset(&cfg->bypass_header, 0, sizeof cfg->bypass_header);
    else
        header_name_set(&cfg->bypass_header, bypass, strlen(bypass));
    const char *value = lookup(ps, "CGICACHE_BYPASS_VALUE");
    if (value != NULL) {
        if (strlen(value) >= sizeof cfg->bypass_value)
            problem(ps, false, "CGICACHE_BYPASS_VALUE", "longer than %zu bytes", sizeof cfg->bypass_value - 1);
        else {
            snprintf(cfg->bypass_value, sizeof cfg->bypass_value, "%s", value);
            cfg->bypass_value_set = true;
        }
    }
    take_header(ps, "CGICACHE_STATUS_HEADER", cfg->status_header, sizeof cfg->status_header, true);
    take_header(ps, "CGICACHE_TAGS_HEADER", cfg->tags_header, sizeof cfg->tags_header, true);
}

/* ---- routes ----------------------------------------------------------- */

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
    return header_name_set(&rb->route->vary[rb->n++], item, len);
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

static int add_status(void *ctx, const char *item, size_t len)
{
    route_build *rb = ctx;
    if (len != 3 || !isdigit((unsigned char)item[0]) || !isdigit((unsigned char)item[1]) ||
        !isdigit((unsigned char)item[2]))
        return -1;
    int code = (item[0] - '0') * 100 + (item[1] - '0') * 10 + (item[2] - '0');
    if (code < 100 || code > 599)
        return -1;
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
            return "status= expects up to 16 HTTP status codes, e.g. 200,301";
    } else if (strcmp(name, "compress") == 0) {
        if ((i = word_index(value, compress_words)) < 0)
            return "compress= expects smart, all or off";
        r->compress = (cc_compress_mode)i;
    } else if (strcmp(name, "lock") == 0) {
        if ((i = word_index(value, on_off_words)) < 0)
            return "lock= expects on or off";
        r->lock = i == 1;
    } else if (strcmp(name, "cookies") == 0) {
        if (strcmp(value, "bypass") != 0 && strcmp(value, "ignore") != 0)
            return "cookies= expects bypass or ignore";
        r->cookies_ignore = strcmp(value, "ignore") == 0;
    } else if (strcmp(name, "invalidates") == 0) {
        if (list_option(r, value, CC_MAX_LIST, &r->ninvalidates, add_invalidate) < 0)
            return "invalidates= expects up to 16 route names";
    } else {
        return "unknown option (known: ttl, stale, vary, query, status, compress, lock, cookies, invalidates)";
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
static const char *parse_route(cc_route *r, const char *spec, char *msg, size_t msg_len)
{
    char *copy = strdup(spec);
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
            snprintf(msg, msg_len, "bad method list '%s': expected GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS", word);
            why = msg;
        }
        word = strtok_r(NULL, " \t", &save);
    }
    if (why == NULL && (word == NULL || (word[0] != '/' && word[0] != '*'))) {
        why = "expected [METHODS] /pattern [option=value ...]";
    }
    if (why == NULL && (r->pattern = strdup(word)) == NULL)
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

static bool valid_route_name(const char *name, size_t len)
{
    if (len == 0 || len >= CC_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

static void route_defaults(const cc_config *cfg, cc_route *r)
{
    memset(r, 0, sizeof *r);
    r->methods = CC_M_GET | CC_M_HEAD;
    r->ttl_ms = cfg->ttl_ms;
    r->stale_ms = cfg->stale_ms;
    r->query = CC_QUERY_ALL;
    r->nstatuses = 1;
    r->statuses[0] = 200;
    r->compress = cfg->compress;
    r->lock = true;
}

/* Adds the route defined by "CGICACHE_ROUTE_<name>=<spec>", unless a route
 * of that name exists already (the environment is read first and wins). */
static void add_route(parser *ps, const char *kv)
{
    cc_config *cfg = ps->cfg;
    const char *eq = strchr(kv, '=');
    const char *name = kv + ROUTE_PREFIX_LEN;
    size_t name_len = (size_t)(eq - name);
    char variable[CC_NAME_MAX + 16];
    snprintf(variable, sizeof variable, "%.*s", (int)(eq - kv), kv);
    if (!valid_route_name(name, name_len)) {
        problem(ps, false, variable, "route names are 1 to 63 of A-Z a-z 0-9 _; route ignored");
        return;
    }
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strlen(cfg->routes[i].name) == name_len && memcmp(cfg->routes[i].name, name, name_len) == 0)
            return;
    cc_route *grown = realloc(cfg->routes, (cfg->nroutes + 1) * sizeof *grown);
    if (grown == NULL) {
        ps->oom = 1;
        return;
    }
    cfg->routes = grown;
    cc_route *r = &grown[cfg->nroutes];
    route_defaults(cfg, r);
    memcpy(r->name, name, name_len);
    char msg[200];
    const char *why = parse_route(r, eq + 1, msg, sizeof msg);
    if (why != NULL) {
        problem(ps, false, variable, "%s; route ignored", why);
        free(r->pattern);
        return;
    }
    cfg->nroutes++;
}

static void add_routes_from(parser *ps, char *const *list)
{
    for (char *const *e = list; e != NULL && *e != NULL; e++)
        if (strncmp(*e, ROUTE_PREFIX, ROUTE_PREFIX_LEN) == 0 && strchr(*e, '=') != NULL)
            add_route(ps, *e);
}

/* Names the routes an invalidates= list refers to but nobody defines: a
 * warning, since another host may define them. */
static void check_invalidates(parser *ps)
{
    const cc_config *cfg = ps->cfg;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const cc_route *r = &cfg->routes[i];
        for (size_t j = 0; j < r->ninvalidates; j++) {
            if (cc_config_route(cfg, r->invalidates[j]) != NULL)
                continue;
            char variable[CC_NAME_MAX + 16];
            snprintf(variable, sizeof variable, ROUTE_PREFIX "%s", r->name);
            problem(ps, true, variable, "invalidates unknown route '%s'", r->invalidates[j]);
        }
    }
}

/* Warns about CGICACHE_* names that mean nothing: usually a typo. */
static void check_unknown(parser *ps, char *const *list)
{
    static const char *const known[] = {
        "REDIS", "TTL", "PREFIX", "BYPASS_HEADER", "BYPASS_VALUE", "COMPRESS",
        "COMPRESS_MIN", "COMPRESS_LEVEL", "LOCK_TTL", "LOCK_WAIT", "STALE",
        "EARLY_REFRESH", "MAX_SIZE", "TIMEOUT", "CONNECT_TIMEOUT", "STATUS_HEADER",
        "TAGS_HEADER", "LOG", "ENABLE", "CONFIG", "LIB", NULL,
    };
    for (char *const *e = list; e != NULL && *e != NULL; e++) {
        const char *kv = *e, *eq = strchr(kv, '=');
        if (strncmp(kv, "CGICACHE_", 9) != 0 || eq == NULL || strncmp(kv, ROUTE_PREFIX, ROUTE_PREFIX_LEN) == 0)
            continue;
        size_t len = (size_t)(eq - kv - 9);
        bool found = false;
        for (size_t i = 0; known[i] != NULL && !found; i++)
            found = strlen(known[i]) == len && memcmp(known[i], kv + 9, len) == 0;
        if (!found) {
            char variable[CC_NAME_MAX + 16];
            snprintf(variable, sizeof variable, "%.*s", (int)(eq - kv), kv);
            problem(ps, true, variable, "unknown variable; ignored");
        }
    }
}

static void set_defaults(cc_config *cfg)
{
    cfg->enabled = true;
    snprintf(cfg->prefix, sizeof cfg->prefix, "cgicache");
    cfg->ttl_ms = 60000;
    cfg->lock_ttl_ms = 5000;
    cfg->lock_wait_ms = 5000;
    cfg->early_refresh = 0.2;
    cfg->max_size = 8 * 1024 * 1024;
    cfg->compress = CC_COMPRESS_SMART;
    cfg->compress_min = 1024;
    cfg->compress_level = 3;
    cfg->timeout_ms = 50;
    cfg->connect_timeout_ms = 50;
    header_name_set(&cfg->bypass_header, "X-Cache-Bypass", 14);
    snprintf(cfg->status_header, sizeof cfg->status_header, "X-Cache-Status");
    snprintf(cfg->tags_header, sizeof cfg->tags_header, "X-Cache-Tags");
    cfg->log_level = CC_LOG_WARN;
}

cc_config *cc_config_parse(char *const *envp, const char *file_text, size_t file_len)
{
    cc_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return NULL;
    set_defaults(cfg);
    source src = {envp, NULL};
    parser ps = {cfg, &src, 0};
    char *text = NULL;
    if (file_text != NULL) {
        text = malloc(file_len + 1);
        if (text == NULL)
            ps.oom = 1;
        else {
            memcpy(text, file_text, file_len);
            text[file_len] = '\0';
            src.file = split_file(&ps, text);
        }
    }
    parse_globals(&ps);
    add_routes_from(&ps, envp);
    add_routes_from(&ps, src.file);
    if (cfg->nroutes > 1)
        qsort(cfg->routes, cfg->nroutes, sizeof *cfg->routes, cc_route_compare);
    check_invalidates(&ps);
    check_unknown(&ps, envp);
    check_unknown(&ps, src.file);
    free(src.file);
    free(text);
    if (ps.oom) {
        cc_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void cc_config_free(cc_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nroutes; i++)
        free(cfg->routes[i].pattern);
    free(cfg->routes);
    free(cfg->problems);
    free(cfg);
}

const cc_route *cc_config_route(const cc_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].name, name) == 0)
            return &cfg->routes[i];
    return NULL;
}
