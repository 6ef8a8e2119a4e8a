/* inspect.c -- `cgicache inspect URL [-X METHOD] [-H 'Name: value']...`.
 *
 * Shows what the library would do with a request: its route, its
 * canonical key (and the hashed Redis key when the key is long), then the
 * stored entry if there is one: age, time left, stale window, compute
 * time, sizes, compression, generation and the stored head.  The request
 * view is built from the URL and headers exactly as a web server would
 * pass them, so the key is the library's own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "clock.h"
#include "entry.h"
#include "json.h"
#include "key.h"
#include "keyspace.h"
#include "policy.h"
#include "request.h"
#include "route.h"
#include "store.h"
#include "tool.h"

#define MAX_HEADERS 32

typedef struct fake_request {
    char *env[MAX_HEADERS + 8];
    size_t n;
} fake_request;

static int add_env(fake_request *f, const char *fmt, const char *a, size_t alen, const char *b)
{
    if (f->n + 1 >= sizeof f->env / sizeof f->env[0])
        return -1;
    size_t len = strlen(fmt) + alen + (b != NULL ? strlen(b) : 0) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return -1;
    snprintf(s, len, fmt, (int)alen, a, b != NULL ? b : "");
    f->env[f->n++] = s;
    f->env[f->n] = NULL;
    return 0;
}

/* "Accept-Language: fr" -> HTTP_ACCEPT_LANGUAGE=fr */
static int add_header(fake_request *f, const char *line)
{
    const char *colon = strchr(line, ':');
    char name[CC_NAME_MAX], cgi[CC_NAME_MAX + 8];
    if (colon == NULL || colon == line || (size_t)(colon - line) >= sizeof name)
        return -1;
    memcpy(name, line, (size_t)(colon - line));
    name[colon - line] = '\0';
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (cc_header_to_cgi(name, cgi, sizeof cgi) != 0)
        return -1;
    if (strcasecmp(name, "Host") == 0)
        return 0;      /* the URL's host is the Host */
    return add_env(f, "%.*s=%s", cgi, strlen(cgi), value);
}

static int build_request(fake_request *f, const char *url, const char *method)
{
    int https = strncasecmp(url, "https://", 8) == 0;
    if (!https && strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *host = url + (https ? 8 : 7);
    const char *path = strchr(host, '/');
    if (path == NULL || path == host)
        return -1;
    const char *q = strchr(path, '?');
    add_env(f, "REQUEST_METHOD=%.*s%s", method, strlen(method), NULL);
    add_env(f, "REQUEST_URI=%.*s%s", path, strlen(path), NULL);
    add_env(f, "QUERY_STRING=%.*s%s", q != NULL ? q + 1 : "", q != NULL ? strlen(q + 1) : 0, NULL);
    add_env(f, "HTTP_HOST=%.*s%s", host, (size_t)(path - host), NULL);
    add_env(f, "SERVER_NAME=%.*s%s", host, strcspn(host, ":/"), NULL);
    if (https)
        add_env(f, "HTTPS=%.*s%s", "on", 2, NULL);
    return 0;
}

/* The same request as a server that passes the Host without its port
 * would give it: HTTP_HOST without the port, the port in SERVER_PORT
 * (Debian's nginx passes $host; the key keeps the port apart).  Returns
 * -1 when the URL names no port. */
static int port_apart(const fake_request *f, fake_request *alt)
{
    const char *host = NULL;
    for (size_t i = 0; i < f->n; i++)
        if (strncmp(f->env[i], "HTTP_HOST=", 10) == 0)
            host = f->env[i] + 10;
    const char *colon = host != NULL ? strrchr(host, ':') : NULL;
    if (colon == NULL || colon[1] == '\0' || strchr(colon, ']') != NULL ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        const char *e = f->env[i];
        int rc = strncmp(e, "HTTP_HOST=", 10) == 0
                     ? add_env(alt, "HTTP_HOST=%.*s%s", host, (size_t)(colon - host), NULL)
                     : add_env(alt, "%.*s%s", e, strlen(e), NULL);
        if (rc != 0)
            return -1;
    }
    return add_env(alt, "SERVER_PORT=%.*s%s", colon + 1, strlen(colon + 1), NULL);
}

/* Whether Redis holds anything for the key of request env: an entry,
 * a mark, a count of its uses. */
static bool key_exists(const cc_config *cfg, cc_store *s, char **env, cc_key *key)
{
    cc_request rq;
    const cc_route *route = NULL;
    if (cc_request_init(&rq, env) == 0)
        route = cc_route_match(cfg, rq.method_bit, rq.norm, rq.norm_len);
    if (route == NULL || cc_key_build(cfg, route, &rq, key) != 0)
        return false;
    char uses[CC_KEY_HASH_OVER + 16];
    cc_cmd c = {0};
    cc_cmd_arg(&c, "EXISTS", (size_t)-1);
    cc_cmd_arg(&c, key->redis, key->redis_len);
    if (cc_keyspace_of_entry(cfg, CC_KS_USES, key->redis, key->redis_len, uses, sizeof uses) == 0)
        cc_cmd_arg(&c, uses, (size_t)-1);
    redisReply *r = cc_store_command(s, &c);
    bool yes = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    if (r != NULL)
        freeReplyObject(r);
    return yes;
}

static const char *class_name(cc_req_class c)
{
    static const char *const names[] = {
        [CC_REQ_CACHEABLE] = "cacheable",      [CC_REQ_BYPASS] = "bypass (header)",
        [CC_REQ_PRIVATE] = "bypass (private)", [CC_REQ_NO_CACHE] = "no-cache (client)",
        [CC_REQ_UNSAFE] = "bypass (unsafe)",   [CC_REQ_AMBIGUOUS] = "bypass (ambiguous)",
    };
    return (size_t)c < sizeof names / sizeof names[0] && names[c] != NULL ? names[c] : "unknown";
}

static void print_entry(const cc_route *route, const cc_entry *e, const char *state, json_writer *j,
                        int64_t now)
{
    long long age = (long long)(now - e->stored_at_ms);
    long long left = (long long)(e->stored_at_ms + e->ttl_ms - now);
    long long window = (long long)cc_policy_error_window(route, e->head, e->head_len);
    if (j != NULL) {
        json_key(j, "entry");
        json_object_begin(j);
        json_key(j, "state");
        json_string(j, state);
        json_key(j, "status");
        json_uint(j, e->status);
        json_key(j, "age_ms");
        json_int(j, age);
        json_key(j, "ttl_left_ms");
        json_int(j, left);
        json_key(j, "stale_ms");
        json_int(j, (long long)e->stale_ms);
        json_key(j, "stale_if_error_ms");
        json_int(j, window);
        json_key(j, "compute_ms");
        json_uint(j, e->compute_ms);
        json_key(j, "raw_bytes");
        json_uint(j, e->body_len);
        json_key(j, "stored_bytes");
        json_uint(j, e->stored_body_len);
        json_key(j, "compressed");
        json_bool(j, (e->flags & CC_ENTRY_COMPRESSED) != 0);
        json_object_end(j);
        return;
    }
    printf("entry      %s, status %u\n", state, e->status);
    printf("age        %lld ms, ttl left %lld ms, stale window %lld ms\n", age, left,
           (long long)e->stale_ms);
    if (window > 0)
        printf("on error   served for %lld ms past its ttl (stale-if-error)\n", window);
    printf("compute    %u ms\n", e->compute_ms);
    printf("body       %zu bytes, %zu stored%s\n", e->body_len, e->stored_body_len,
           (e->flags & CC_ENTRY_COMPRESSED) ? " (zstd)" : "");
    printf("generation %016llx\n", (unsigned long long)e->generation);
    printf("head\n%.*s", (int)e->head_len, e->head);
}

/* An integer Redis has for key under cmd (PTTL, GET), or -1. */
static long long redis_number(cc_store *s, const char *cmd, const char *key, size_t len)
{
    cc_cmd c = {0};
    cc_cmd_arg(&c, cmd, (size_t)-1);
    cc_cmd_arg(&c, key, len);
    redisReply *r = cc_store_command(s, &c);
    long long n = -1;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    else if (r != NULL && r->type == REDIS_REPLY_STRING)
        n = strtoll(r->str, NULL, 10);
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

/* What Redis remembers of the key besides an entry: an uncacheable
 * answer (pass=) and, on a min-uses= route, the requests counted. */
static void print_memory(const cc_config *cfg, const cc_route *route, cc_store *s,
                         const cc_key *key, const cc_found *found, json_writer *j)
{
    if (found->state == CC_FOUND_PASS) {
        long long left = redis_number(s, "PTTL", key->redis, key->redis_len);
        if (j != NULL) {
            json_key(j, "pass_ms_left");
            json_int(j, left);
        } else {
            printf("pass       remembered as uncacheable for %lld ms more (pass=): requests run "
                   "side by side, a cacheable answer is stored\n",
                   left);
        }
    }
    char uses[CC_KEY_HASH_OVER + 16];
    if (route->min_uses <= 1 ||
        cc_keyspace_of_entry(cfg, CC_KS_USES, key->redis, key->redis_len, uses, sizeof uses) != 0)
        return;
    long long n = redis_number(s, "GET", uses, strlen(uses));
    if (n < 0)
        n = 0;
    if (j != NULL) {
        json_key(j, "uses");
        json_int(j, n);
        json_key(j, "min_uses");
        json_uint(j, route->min_uses);
    } else {
        printf("uses       %lld of min-uses=%u within its ttl\n", n, route->min_uses);
    }
}

static const char *state_name(cc_found_state state)
{
    switch (state) {
    case CC_FOUND_FRESH:
        return "fresh";
    case CC_FOUND_STALE:
        return "stale";
    case CC_FOUND_FALLBACK:
        return "expired (kept only for stale-if-error)";
    default:
        return "none";
    }
}

static void help(void)
{
    printf("usage: cgicache inspect URL [-X METHOD] [-H 'Name: value']... [--json]\n\n"
           "Shows the route and cache key a request maps to, and the stored entry:\n"
           "its state (fresh, stale, purged, other key), age, ttl left, stale window,\n"
           "compute time, raw and stored sizes, compression and stored head.\n"
           "Exit status 0 when an entry is served for it, 1 otherwise, 2 bad usage.\n");
}

int cmd_inspect(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    fake_request f = {.n = 0};
    const char *url = NULL, *method = "GET";
    int json = 0, rc = EXIT_PROBLEM;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-X") == 0 && i + 1 < argc)
            method = argv[++i];
        else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc) {
            if (add_header(&f, argv[++i]) != 0) {
                fprintf(stderr, "cgicache inspect: bad header '%s' (want 'Name: value')\n",
                        argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (url == NULL && argv[i][0] != '-')
            url = argv[i];
        else {
            fprintf(stderr, "cgicache inspect: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (url == NULL || build_request(&f, url, method) != 0) {
        fprintf(stderr, "cgicache inspect: want a URL like http://host/path?query\n");
        return EXIT_USAGE;
    }
    cc_config *cfg = tool_config();
    cc_request rq;
    cc_key *key = malloc(sizeof *key);
    const cc_route *route = NULL;
    /* A URL with a port: the spelling of it that Redis has an entry for. */
    fake_request alt = {.n = 0};
    cc_store *probe = key != NULL && port_apart(&f, &alt) == 0 ? tool_store(cfg) : NULL;
    if (probe != NULL && !key_exists(cfg, probe, f.env, key) &&
        key_exists(cfg, probe, alt.env, key)) {
        fake_request swap = f;
        f = alt;
        alt = swap;
    }
    cc_store_close(probe);
    for (size_t i = 0; i < alt.n; i++)
        free(alt.env[i]);
    if (key != NULL && cc_request_init(&rq, f.env) == 0)
        route = cc_route_match(cfg, rq.method_bit, rq.norm, rq.norm_len);
    json_writer out = {0}, *j = json ? &out : NULL;
    if (j != NULL) {
        json_begin(j, stdout);
        json_object_begin(j);
        json_key(j, "route");
        json_string(j, route != NULL ? route->name : NULL);
    }
    if (route == NULL) {
        if (j == NULL)
            printf("route      (none: passes through uncached)\n");
    } else if (cc_key_build(cfg, route, &rq, key) != 0) {
        if (j != NULL) {
            json_key(j, "key");
            json_null(j);
        } else {
            printf("route      %s\nkey        (too long: never cached)\n", route->name);
        }
    } else {
        cc_req_class cls = cc_policy_request(cfg, route, &rq);
        if (j != NULL) {
            json_key(j, "class");
            json_string(j, class_name(cls));
            json_key(j, "key");
            json_string_n(j, key->full, key->full_len);
            json_key(j, "redis_key");
            json_string_n(j, key->redis, key->redis_len);
        } else {
            printf("route      %s\nrequest    %s\nkey        %s\nredis key  %s\n", route->name,
                   class_name(cls), key->full, key->redis);
        }
        cc_found found = {0};
        cc_store *s = tool_store(cfg);
        int64_t now = cc_now_ms();
        if (s == NULL) {
            fprintf(stderr, "cgicache inspect: redis unreachable\n");
        } else if (cc_cache_lookup(s, cfg, key, now, &found) != 0) {
            fprintf(stderr, "cgicache inspect: redis error\n");
        } else if (found.state == CC_FOUND_NONE || found.state == CC_FOUND_PASS) {
            if (j != NULL) {
                json_key(j, "entry");
                json_null(j);
            } else {
                printf("entry      none (absent, expired, purged or unreadable)\n");
            }
            print_memory(cfg, route, s, key, &found, j);
        } else {
            print_entry(route, &found.entry, state_name(found.state), j, now);
            print_memory(cfg, route, s, key, &found, j);
            rc = found.state == CC_FOUND_FALLBACK ? EXIT_PROBLEM : EXIT_OK;
        }
        cc_cache_found_free(&found);
        cc_store_close(s);
    }
    if (j != NULL) {
        json_object_end(j);
        if (json_end(j) != 0)
            rc = EXIT_PROBLEM;
    }
    free(key);
    for (size_t i = 0; i < f.n; i++)
        free(f.env[i]);
    cc_config_free(cfg);
    return rc;
}
