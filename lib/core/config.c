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
#include "units.h"

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

static const char *const compress_words[] = {"smart", "all", "off", NULL};

static void take_choice(parser *ps, const char *name, const char *const *words, int *out)
{
    const char *v = lookup(ps, name);
    if (v == NULL)
        return;
    int i = cc_word_index(v, words);
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
    if ((v[0] == '\0' && empty_ok) || (cc_is_token(v) && strlen(v) < cap))
        snprintf(out, cap, "%s", v);
    else
        problem(ps, false, name, "bad header name '%s'", v);
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
        cc_header_name_set(&cfg->bypass_header, bypass, strlen(bypass));
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
    if (!cc_route_name_valid(name, name_len)) {
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
    const char *why = cc_route_parse(r, eq + 1, msg, sizeof msg);
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
    cc_header_name_set(&cfg->bypass_header, "X-Cache-Bypass", 14);
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
