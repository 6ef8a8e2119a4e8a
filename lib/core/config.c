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

/* gcc 12's analyzer loses track of the problems array grown by realloc in
 * problem() through the parser struct and reports a leak that is not
 * there (cc_config_free frees it); checked by ASan/LSan in the tests. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
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

/* host[:port] or [v6]:port, from p to end, into host and *port (which
 * holds the default).  Returns NULL or what is wrong. */
static const char *parse_hostport(const char *p, const char *end, char *out, size_t cap, int *port)
{
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
    if (host_end == host || (size_t)(host_end - host) >= cap)
        return "missing or too long host";
    memcpy(out, host, (size_t)(host_end - host));
    out[host_end - host] = '\0';
    if (p < end && *p == ':') {
        char digits[8] = "";
        size_t len = (size_t)(end - p - 1);
        char *stop;
        if (len == 0 || len >= sizeof digits)
            return "bad port";
        memcpy(digits, p + 1, len);
        long n = strtol(digits, &stop, 10);
        if (*stop != '\0' || n < 1 || n > 65535)
            return "bad port";
        *port = (int)n;
    } else if (p != end) {
        return "unexpected text after the host";
    }
    return NULL;
}

/* h1[:port],h2[:port],... from p to end into nodes (at most max, each
 * with port deflt unless it names one), asked in this order.  Returns
 * NULL, or what is wrong: too_many, missing or the address's fault. */
static const char *parse_nodes(const char *p, const char *end, cc_redis_node *nodes, int max,
                               int deflt, int *count, const char *too_many, const char *missing)
{
    *count = 0;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma != NULL ? comma : end;
        if (*count == max)
            return too_many;
        cc_redis_node *n = &nodes[(*count)++];
        n->port = deflt;
        const char *why = parse_hostport(p, item_end, n->host, sizeof n->host, &n->port);
        if (why != NULL)
            return why;
        p = comma != NULL ? comma + 1 : end;
    }
    return *count == 0 ? missing : NULL;
}

/* redis://[[user]:password@]host[:port][/db]  or  unix:/path[?db=N].
 * A user names a Redis 6 ACL user (AUTH user password); rediss:// is the
 * same over TLS; redis-sentinel://[cred@]h1[:port],h2[:port][/db]#master
 * (rediss-sentinel:// over TLS) names sentinels to ask for the master,
 * the form other Redis clients read; redis-cluster://[cred@]h1[:port],...
 * (rediss-cluster://) names nodes of a Redis Cluster to ask for its slot
 * map (database 0 only: a cluster has no other).
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
    static const struct {
        const char *scheme;
        bool tls, sentinel, cluster;
    } schemes[] = {
        {"redis://", false, false, false},         {"rediss://", true, false, false},
        {"redis-sentinel://", false, true, false}, {"rediss-sentinel://", true, true, false},
        {"redis-cluster://", false, false, true},  {"rediss-cluster://", true, false, true},
    };
    const char *p = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && p == NULL; i++)
        if (strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) {
            p = url + strlen(schemes[i].scheme);
            a->tls = schemes[i].tls;
            a->sentinel = schemes[i].sentinel;
            a->cluster = schemes[i].cluster;
        }
    if (p == NULL)
        return "expected redis://host[:port][/db], rediss://..., "
               "redis-sentinel://h1:26379,h2:26379[/db]#master, "
               "redis-cluster://h1:7000,h2:7001 or unix:/path";
    a->kind = CC_REDIS_TCP;
    /* The master's name, after '#' (a '#' in a password is written %23). */
    const char *hash = strchr(p, '#');
    if (hash != NULL && !a->sentinel)
        return "unexpected #: a master's name is for redis-sentinel://";
    if (a->sentinel) {
        if (hash == NULL || hash[1] == '\0' || strlen(hash + 1) >= sizeof a->master)
            return "expected #mastername at the end (the name the sentinels monitor)";
        snprintf(a->master, sizeof a->master, "%s", hash + 1);
    }
    const char *stop = hash != NULL ? hash : p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(stop - p));
    const char *end = slash != NULL ? slash : stop;
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL)
            return "expected user:password@ or :password@ before the host";
        /* "default" is the user a bare password authenticates as: it is
         * sent as AUTH password, which Redis before 6 understands too. */
        bool deflt = colon - p == 7 && strncmp(p, "default", 7) == 0;
        if (colon != p && !deflt && url_decode(p, (size_t)(colon - p), a->user, sizeof a->user) < 0)
            return "bad user name encoding";
        if (url_decode(colon + 1, (size_t)(at - colon - 1), a->password, sizeof a->password) < 0)
            return "bad password encoding";
        p = at + 1;
    }
    if (a->sentinel) {
        const char *why = parse_nodes(p, end, a->sentinels, CC_REDIS_SENTINELS, 26379,
                                      &a->nsentinels, "more than 8 sentinels",
                                      "missing sentinel address");
        if (why != NULL)
            return why;
    } else if (a->cluster) {
        const char *why = parse_nodes(p, end, a->seeds, CC_REDIS_SEEDS, 6379, &a->nseeds,
                                      "more than 16 cluster nodes", "missing cluster node address");
        if (why != NULL)
            return why;
        memcpy(a->host, a->seeds[0].host, sizeof a->seeds[0].host);
        a->port = a->seeds[0].port;
    } else {
        if (memchr(p, ',', (size_t)(end - p)) != NULL)
            return "one host only: several are for redis-sentinel:// and redis-cluster://";
        const char *why = parse_hostport(p, end, a->host, sizeof a->host, &a->port);
        if (why != NULL)
            return why;
    }
    if (slash != NULL && slash + 1 < stop) {
        char db[16];
        size_t len = (size_t)(stop - slash - 1);
        if (len >= sizeof db)
            return "bad database number after /";
        memcpy(db, slash + 1, len);
        db[len] = '\0';
        if (parse_db(db, &a->db) < 0)
            return "bad database number after /";
        if (a->cluster && a->db != 0)
            return "a Redis Cluster has database 0 only";
    }
    return NULL;
}

/* The global settings: one table from which parsing, the defaults,
 * `cgicache check`, the unknown-name warning and README's table of
 * variables are all made (a unit test holds README to it).  A default is
 * written as a user would write it and parsed like one. */
#define FIELD(f) offsetof(cc_config, f)
#define NO_FIELD ((size_t)-1)

static const char *const compress_words[] = {"smart", "all", "off", NULL};
static const char *const log_words[] = {"off", "error", "warn", "info", "debug", NULL};
/* Odd indexes are "on": see the ENABLE case below. */
static const char *const enable_words[] = {"0",    "1",  "off", "on", "false",
                                           "true", "no", "yes", NULL};

const cc_setting cc_settings[] = {
    {"CGICACHE_REDIS", CC_SET_REDIS, FIELD(redis), "redis://127.0.0.1:6379/0",
     "`redis://[[user]:password@]host[:port][/db]` (a user: Redis 6 ACL), "
     "`redis-sentinel://[[user]:password@]h1:26379,h2:26379[/db]#master`, "
     "`redis-cluster://[[user]:password@]h1:7000,h2:7001` (Redis Cluster), `rediss://...`, "
     "`rediss-sentinel://...` and `rediss-cluster://...` (TLS) or "
     "`unix:/path/redis.sock[?db=N]`; IPv6 as `redis://[::1]:6379`",
     NULL, 0, 0},
    {"CGICACHE_REDIS_CA", CC_SET_PATH, FIELD(redis_ca), NULL,
     "for `rediss://`: the CA certificates (a PEM file, or a directory hashed with `openssl "
     "rehash`) that Redis's certificate must chain to [the system's store]",
     NULL, 0, 0},
    {"CGICACHE_REDIS_CERT", CC_SET_PATH, FIELD(redis_cert), NULL,
     "for `rediss://`: a client certificate (PEM, chain allowed), for a Redis with "
     "`tls-auth-clients yes` [none]",
     NULL, 0, 0},
    {"CGICACHE_REDIS_KEY", CC_SET_PATH, FIELD(redis_key), NULL,
     "for `rediss://`: the client certificate's private key (PEM, unencrypted) [none]", NULL, 0, 0},
    {"CGICACHE_TTL", CC_SET_DURATION, FIELD(ttl_ms), "60s", "default TTL", NULL, 0, 0},
    {"CGICACHE_PREFIX", CC_SET_PREFIX, FIELD(prefix), "cgicache", "key prefix", NULL, 0, 0},
    {"CGICACHE_BYPASS_HEADER", CC_SET_HEADER_NAME, FIELD(bypass_header), "X-Cache-Bypass",
     "a request with this header skips the cache: `BYPASS`; empty disables bypassing", NULL, 0, 0},
    {"CGICACHE_BYPASS_VALUE", CC_SET_SECRET, FIELD(bypass_value), NULL,
     "when set, only this value of the bypass header bypasses (compared in constant time, "
     "never logged) [unset]",
     NULL, 0, 0},
    {"CGICACHE_COMPRESS", CC_SET_CHOICE, FIELD(compress), "smart",
     "`smart` (zstd from `CGICACHE_COMPRESS_MIN` bytes, kept only when smaller), `all`, `off`",
     compress_words, 0, 0},
    {"CGICACHE_COMPRESS_MIN", CC_SET_SIZE, FIELD(compress_min), "1024",
     "smallest body `smart` compresses", NULL, 0, 0},
    {"CGICACHE_COMPRESS_LEVEL", CC_SET_INT, FIELD(compress_level), "3", "zstd level", NULL, -7, 22},
    {"CGICACHE_LOCK_TTL", CC_SET_DURATION, FIELD(lock_ttl_ms), "5s", "stampede lock lifetime", NULL,
     0, 0},
    {"CGICACHE_LOCK_WAIT", CC_SET_DURATION_ZERO, FIELD(lock_wait_ms), NULL,
     "how long a request waits for another's computation [`= CGICACHE_LOCK_TTL`]", NULL, 0, 0},
    {"CGICACHE_STALE", CC_SET_DURATION_ZERO, FIELD(stale_ms), "0",
     "default grace after TTL in which a stale copy is served while one request refreshes", NULL, 0,
     0},
    {"CGICACHE_EARLY_REFRESH", CC_SET_NUMBER, FIELD(early_refresh), "1",
     "early refresh: XFetch beta, and a request in an entry's last tenth refreshes it; `0` "
     "disables",
     NULL, 0, 100},
    {"CGICACHE_MAX_SIZE", CC_SET_SIZE, FIELD(max_size), "8M", "largest body stored", NULL, 0, 0},
    {"CGICACHE_NEAR_SIZE", CC_SET_SIZE, FIELD(near_size), "8M",
     "memory for hits served from the worker's own memory (per process, shared among its "
     "threads); `0` disables",
     NULL, 0, 0},
    {"CGICACHE_TIMEOUT", CC_SET_DURATION, FIELD(timeout_ms), "50ms", "Redis command timeout", NULL,
     0, 0},
    {"CGICACHE_CONNECT_TIMEOUT", CC_SET_DURATION, FIELD(connect_timeout_ms), "50ms",
     "Redis connect timeout", NULL, 0, 0},
    {"CGICACHE_STATUS_HEADER", CC_SET_HEADER, FIELD(status_header), "X-Cache-Status",
     "name of the status header; empty disables it", NULL, 0, 0},
    {"CGICACHE_TAGS_HEADER", CC_SET_HEADER, FIELD(tags_header), "X-Cache-Tags",
     "response header naming the entry's tags, stripped before the client sees it", NULL, 0, 0},
    {"CGICACHE_LOG", CC_SET_CHOICE, FIELD(log_level), "warn",
     "`off`, `error`, `warn`, `info`, `debug`, on stderr", log_words, 0, 0},
    {"CGICACHE_ENABLE", CC_SET_ENABLE, FIELD(enabled), "1", "`0` turns everything off",
     enable_words, 0, 0},
    {"CGICACHE_CONFIG", CC_SET_NONE, NO_FIELD, NULL,
     "a file of `KEY=VALUE` lines (`#` comments, optional `export `, quotes); the environment "
     "wins",
     NULL, 0, 0},
    {"CGICACHE_LIB", CC_SET_NONE, NO_FIELD, NULL, "for `cgicache run`: the library to preload",
     NULL, 0, 0},
};
const size_t cc_nsettings = sizeof cc_settings / sizeof cc_settings[0];

/* The field s describes in cfg (through void *: offsetof gave its place,
 * and its alignment is the field's own). */
#define AT(cfg, s, type) ((type *)(void *)((char *)(cfg) + (s)->offset))

/* Applies text (a user's value or the default) to s; returns NULL, or what
 * is wrong with it (in msg when it needs detail). */
static const char *apply_setting(cc_config *cfg, const cc_setting *s, const char *text, char *msg,
                                 size_t cap)
{
    int64_t ms;
    size_t bytes;
    int i;
    switch (s->kind) {
    case CC_SET_DURATION:
    case CC_SET_DURATION_ZERO:
        if (cc_parse_duration(text, &ms) < 0)
            return "bad duration: expected a number with ms, s, m or h";
        if (ms == 0 && s->kind == CC_SET_DURATION)
            return "must be more than 0";
        *AT(cfg, s, int64_t) = ms;
        return NULL;
    case CC_SET_SIZE:
        if (cc_parse_size(text, &bytes) < 0)
            return "bad size: expected a number with k, M or G";
        *AT(cfg, s, size_t) = bytes;
        return NULL;
    case CC_SET_INT: {
        char *end;
        errno = 0;
        long n = strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || n < s->lo || n > s->hi) {
            snprintf(msg, cap, "bad number: expected %ld to %ld", s->lo, s->hi);
            return msg;
        }
        *AT(cfg, s, int) = (int)n;
        return NULL;
    }
    case CC_SET_NUMBER: {
        char *end;
        double v = strtod(text, &end);
        if (end == text || *end != '\0' || !isfinite(v) || v < (double)s->lo || v > (double)s->hi) {
            snprintf(msg, cap, "bad value: expected a number from %ld to %ld", s->lo, s->hi);
            return msg;
        }
        *AT(cfg, s, double) = v;
        return NULL;
    }
    case CC_SET_CHOICE:
    case CC_SET_ENABLE:
        if ((i = cc_word_index(text, s->words)) < 0) {
            size_t n = (size_t)snprintf(msg, cap, "bad value: expected one of ");
            for (int w = 0; s->words[w] != NULL && n < cap; w++)
                n += (size_t)snprintf(msg + n, cap - n, "%s%s", w ? ", " : "", s->words[w]);
            return msg;
        }
        if (s->kind == CC_SET_ENABLE)
            *AT(cfg, s, bool) &= i % 2 == 1;  /* a bad CGICACHE_REDIS stays off */
        else
            *AT(cfg, s, int) = i;      /* the enums follow their words' order */
        return NULL;
    case CC_SET_HEADER:
        if (text[0] != '\0' && (!cc_is_token(text) || strlen(text) >= CC_NAME_MAX))
            return "bad header name";
        snprintf(AT(cfg, s, char), CC_NAME_MAX, "%s", text);
        return NULL;
    case CC_SET_HEADER_NAME: {
        cc_header_name *h = AT(cfg, s, cc_header_name);
        if (text[0] == '\0') {
            memset(h, 0, sizeof *h);
            return NULL;
        }
        cc_header_name set;
        if (cc_header_name_set(&set, text, strlen(text)) < 0)
            return "bad header name";
        *h = set;
        return NULL;
    }
    case CC_SET_SECRET:
        if (strlen(text) >= sizeof cfg->bypass_value)
            return "longer than 255 bytes";
        snprintf(AT(cfg, s, char), sizeof cfg->bypass_value, "%s", text);
        cfg->bypass_value_set = true;
        return NULL;
    case CC_SET_PREFIX:
        if (text[0] == '\0' || strlen(text) >= sizeof cfg->prefix ||
            strpbrk(text, " \t\r\n*?[]\\{}") != NULL)
            return "bad prefix: 1 to 63 characters, no blanks or *?[]\\{}";
        snprintf(cfg->prefix, sizeof cfg->prefix, "%s", text);
        return NULL;
    case CC_SET_REDIS: {
        const char *why = parse_redis(text, &cfg->redis);
        if (why == NULL)
            return NULL;
        snprintf(msg, cap, "bad address: %s; caching is disabled", why);
        cfg->enabled = false;
        return msg;
    }
    case CC_SET_PATH:
        if (strlen(text) >= sizeof cfg->redis_ca)
            return "longer than 255 bytes";
        snprintf(AT(cfg, s, char), sizeof cfg->redis_ca, "%s", text);
        return NULL;
    case CC_SET_NONE:
        return NULL;
    }
    return NULL;
}

/* Every setting: its default, then the user's value if any.  The lock
 * wait, which has no default of its own, takes the lock's lifetime. */
static void parse_globals(parser *ps)
{
    char msg[200];
    ps->cfg->enabled = true;
    for (size_t i = 0; i < cc_nsettings; i++) {
        const cc_setting *s = &cc_settings[i];
        if (s->fallback != NULL)
            apply_setting(ps->cfg, s, s->fallback, msg, sizeof msg);
        if (s->offset == FIELD(lock_wait_ms))
            ps->cfg->lock_wait_ms = ps->cfg->lock_ttl_ms;
        const char *v = lookup(ps, s->name);
        const char *why = v != NULL ? apply_setting(ps->cfg, s, v, msg, sizeof msg) : NULL;
        if (why != NULL)
            problem(ps, false, s->name, "'%s': %s", s->kind == CC_SET_SECRET ? "..." : v, why);
    }
    /* A certificate without its key (or the reverse) cannot be presented:
     * the handshake would fail on every connection. */
    cc_config *c = ps->cfg;
    if ((c->redis_cert[0] != '\0') != (c->redis_key[0] != '\0'))
        problem(ps, false, c->redis_cert[0] != '\0' ? "CGICACHE_REDIS_KEY" : "CGICACHE_REDIS_CERT",
                "missing: CGICACHE_REDIS_CERT and CGICACHE_REDIS_KEY go together; caching is "
                "disabled");
    if ((c->redis_cert[0] != '\0') != (c->redis_key[0] != '\0'))
        c->enabled = false;
    if (!c->redis.tls && (c->redis_ca[0] != '\0' || c->redis_cert[0] != '\0'))
        problem(ps, true, "CGICACHE_REDIS",
                "TLS settings are set but the address is not rediss://");
}

static void format_duration(int64_t ms, char *out, size_t cap)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {
        {3600000, "h"},
        {60000, "m"},
        {1000, "s"},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(out, cap, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(out, cap, ms == 0 ? "0" : "%lldms", (long long)ms);
}

static void format_size(size_t bytes, char *out, size_t cap)
{
    static const struct {
        size_t unit;
        const char *name;
    } units[] = {
        {1024 * 1024 * 1024, "G"},
        {1024 * 1024, "M"},
        {1024, "k"},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (bytes != 0 && bytes % units[i].unit == 0 && bytes / units[i].unit < 1024) {
            snprintf(out, cap, "%zu%s", bytes / units[i].unit, units[i].name);
            return;
        }
    snprintf(out, cap, "%zu", bytes);
}

/* A TCP address as a user writes it, the password never shown. */
static void format_redis(const cc_redis_addr *a, char *out, size_t cap)
{
    char hosts[CC_REDIS_SEEDS * 140] = "", db[16] = "";
    size_t len = 0;
    bool v6 = strchr(a->host, ':') != NULL;    /* written [::1]:6379 */
    const cc_redis_node *list = a->sentinel ? a->sentinels : a->seeds;
    int n = a->sentinel ? a->nsentinels : a->cluster ? a->nseeds : 0;
    if (n == 0)
        snprintf(hosts, sizeof hosts, "%s%s%s:%d", v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
    for (int i = 0; i < n && len < sizeof hosts; i++) {
        v6 = strchr(list[i].host, ':') != NULL;
        len += (size_t)snprintf(hosts + len, sizeof hosts - len, "%s%s%s%s:%d", i > 0 ? "," : "",
                                v6 ? "[" : "", list[i].host, v6 ? "]" : "", list[i].port);
    }
    if (!a->cluster)    /* a cluster has database 0 only */
        snprintf(db, sizeof db, "/%d", a->db);
    snprintf(out, cap, "redis%s%s://%s%s%s%s%s%s", a->tls ? "s" : "",
             a->sentinel  ? "-sentinel"
             : a->cluster ? "-cluster"
                          : "",
             a->user,
             a->password[0] ? ":(password)@"
             : a->user[0]   ? "@"
                            : "",
             hosts, db, a->sentinel ? "#" : "", a->sentinel ? a->master : "");
}

void cc_setting_format(const cc_config *cfg, const cc_setting *s, char *out, size_t cap)
{
    const char *base = (const char *)cfg;
    switch (s->kind) {
    case CC_SET_DURATION:
    case CC_SET_DURATION_ZERO:
        format_duration(*(const int64_t *)(const void *)(base + s->offset), out, cap);
        return;
    case CC_SET_SIZE:
        format_size(*(const size_t *)(const void *)(base + s->offset), out, cap);
        return;
    case CC_SET_INT:
        snprintf(out, cap, "%d", *(const int *)(const void *)(base + s->offset));
        return;
    case CC_SET_NUMBER:
        snprintf(out, cap, "%g", *(const double *)(const void *)(base + s->offset));
        return;
    case CC_SET_CHOICE:
        snprintf(out, cap, "%s", s->words[*(const int *)(const void *)(base + s->offset)]);
        return;
    case CC_SET_ENABLE:
        snprintf(out, cap, "%s", cfg->enabled ? "1" : "0");
        return;
    case CC_SET_HEADER:
    case CC_SET_PREFIX:
        snprintf(out, cap, "%s", base + s->offset);
        return;
    case CC_SET_HEADER_NAME:
        snprintf(out, cap, "%s", ((const cc_header_name *)(const void *)(base + s->offset))->http);
        return;
    case CC_SET_SECRET:
        snprintf(out, cap, "%s", cfg->bypass_value_set ? "(set)" : "");
        return;
    case CC_SET_REDIS:
        if (cfg->redis.kind == CC_REDIS_UNIX)
            snprintf(out, cap, "unix:%s?db=%d%s", cfg->redis.path, cfg->redis.db,
                     cfg->redis.password[0] ? " (password set)" : "");
        else
            format_redis(&cfg->redis, out, cap);
        return;
    case CC_SET_PATH:
        snprintf(out, cap, "%s", base + s->offset);
        return;
    case CC_SET_NONE:
        snprintf(out, cap, "%s", "");
        return;
    }
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
    r->etag_auto = true;
    r->pass_ms = 30000;
    r->min_uses = 1;
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
        if (strlen(cfg->routes[i].name) == name_len &&
            memcmp(cfg->routes[i].name, name, name_len) == 0)
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
    for (char *const *e = list; e != NULL && *e != NULL; e++) {
        const char *kv = *e, *eq = strchr(kv, '=');
        if (strncmp(kv, "CGICACHE_", 9) != 0 || eq == NULL ||
            strncmp(kv, ROUTE_PREFIX, ROUTE_PREFIX_LEN) == 0)
            continue;
        size_t len = (size_t)(eq - kv);
        bool found = false;
        for (size_t i = 0; i < cc_nsettings && !found; i++)
            found = strlen(cc_settings[i].name) == len && memcmp(cc_settings[i].name, kv, len) == 0;
        if (!found) {
            char variable[CC_NAME_MAX + 16];
            snprintf(variable, sizeof variable, "%.*s", (int)len, kv);
            problem(ps, true, variable, "unknown variable; ignored");
        }
    }
}

cc_config *cc_config_parse(char *const *envp, const char *file_text, size_t file_len)
{
    cc_config *cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL)
        return NULL;
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
