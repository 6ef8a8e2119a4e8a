/* purge.c -- `cgicache purge --route NAME | --url URL | --tag TAG | --all`.
 *
 * A purge first gives the route (or URL) a new generation, which hides
 * every entry computed before it at once, on every worker and host; then
 * it walks the keys with SCAN (never KEYS, which blocks Redis) and UNLINKs
 * the entries it finds, so their memory is returned and the count printed
 * is the number of entries removed.  Generation keys are kept: dropping
 * one would make entries it hides match again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "key.h"
#include "request.h"
#include "route.h"
#include "store.h"
#include "tool.h"

typedef struct purge {
    const cc_config *cfg;
    cc_store *store;
    long removed;
    int failed;
} purge;

/* Runs one command, reporting a failure once. */
static redisReply *command(purge *p, const cc_cmd *cmd)
{
    redisReply *reply = cc_store_command(p->store, cmd);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (!p->failed)
            fprintf(stderr, "cgicache purge: redis: %s\n",
                    reply != NULL ? reply->str : "unreachable or timed out");
        p->failed = 1;
        if (reply != NULL)
            freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

static void unlink_keys(purge *p, size_t n, const char *const *keys, const size_t *lens)
{
    if (n == 0)
        return;
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "UNLINK", (size_t)-1);
    for (size_t i = 0; i < n; i++) {
        cc_cmd_arg(&cmd, keys[i], lens[i]);
        if (cmd.argc == CC_CMD_ARGS || i + 1 == n) {
            redisReply *reply = command(p, &cmd);
            if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
                p->removed += reply->integer;
            if (reply != NULL)
                freeReplyObject(reply);
            memset(&cmd, 0, sizeof cmd);
            cc_cmd_arg(&cmd, "UNLINK", (size_t)-1);
        }
    }
}

/* Whether a key under a route prefix is an entry (not a generation, a
 * lock or a tag set); keep(ctx, key) may narrow further. */
static int is_entry(const char *key, size_t len, size_t prefix_len)
{
    const char *rest = key + prefix_len;
    size_t rest_len = len - prefix_len;
    if (rest_len >= 3 && strncmp(rest, "gen", 3) == 0)
        return 0;
    if (len >= 5 && memcmp(key + len - 5, ":lock", 5) == 0)
        return 0;
    return 1;
}

/* SCANs keys matching pattern; UNLINKs those accepted by want. */
static void scan_unlink(purge *p, const char *pattern, size_t prefix_len,
                        int (*want)(const char *key, size_t len, void *ctx), void *ctx)
{
    char cursor[32] = "0";
    do {
        cc_cmd scan = {0};
        cc_cmd_arg(&scan, "SCAN", (size_t)-1);
        cc_cmd_arg(&scan, cursor, (size_t)-1);
        cc_cmd_arg(&scan, "MATCH", (size_t)-1);
        cc_cmd_arg(&scan, pattern, (size_t)-1);
        cc_cmd_arg(&scan, "COUNT", (size_t)-1);
        cc_cmd_arg(&scan, "1000", (size_t)-1);
        redisReply *reply = command(p, &scan);
        if (reply == NULL)
            return;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
            freeReplyObject(reply);
            p->failed = 1;
            return;
        }
        snprintf(cursor, sizeof cursor, "%s", reply->element[0]->str);
        redisReply *keys = reply->element[1];
        const char **names = calloc(keys->elements + 1, sizeof *names);
        size_t *lens = calloc(keys->elements + 1, sizeof *lens);
        size_t n = 0;
        for (size_t i = 0; names != NULL && lens != NULL && i < keys->elements; i++) {
            redisReply *k = keys->element[i];
            if (k->type == REDIS_REPLY_STRING && is_entry(k->str, k->len, prefix_len) &&
                (want == NULL || want(k->str, k->len, ctx))) {
                names[n] = k->str;
                lens[n++] = k->len;
            }
        }
        unlink_keys(p, n, names, lens);
        free(names);
        free(lens);
        freeReplyObject(reply);
    } while (strcmp(cursor, "0") != 0 && !p->failed);
}

/* Copies text into out with glob metacharacters escaped for MATCH. */
static void glob_escape(const char *text, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 3 < cap; i++) {
        if (strchr("*?[]\\", text[i]) != NULL)
            out[n++] = '\\';
        out[n++] = text[i];
    }
    out[n] = '\0';
}

static void bump(purge *p, const char *gen_key, bool url)
{
    cc_cache_bump(p->cfg, 1, &gen_key, &url);
}

static int purge_route(purge *p, const char *name)
{
    char prefix[2 * CC_NAME_MAX + 8], gen[CC_GEN_KEY_MAX], pattern[4 * CC_NAME_MAX + 16];
    if (cc_config_route(p->cfg, name) == NULL)
        fprintf(stderr, "cgicache purge: warning: no route '%s' is configured here\n", name);
    if (cc_key_route_prefix(p->cfg, name, prefix, sizeof prefix) != 0)
        return -1;
    snprintf(gen, sizeof gen, "%sgen", prefix);
    bump(p, gen, false);
    glob_escape(prefix, strlen(prefix), pattern, sizeof pattern - 2);
    strcat(pattern, "*");
    scan_unlink(p, pattern, strlen(prefix), NULL, NULL);
    return 0;
}

/* The keys of one URL: its key text up to the path, then nothing, a
 * query ('?') or a vary part ('|'). */
static int url_variant(const char *key, size_t len, void *ctx)
{
    size_t base = *(size_t *)ctx;
    return len == base || key[base] == '?' || key[base] == '|';
}

static int purge_url(purge *p, const char *url)
{
    bool https = strncasecmp(url, "https://", 8) == 0;
    if (!https && strncasecmp(url, "http://", 7) != 0) {
        fprintf(stderr, "cgicache purge: --url wants http://host/path or https://host/path\n");
        return -1;
    }
    const char *host = url + (https ? 8 : 7);
    const char *path = strchr(host, '/');
    if (path == NULL || path == host) {
        fprintf(stderr, "cgicache purge: --url %s has no host or no path\n", url);
        return -1;
    }
    size_t path_len = strcspn(path, "?#");
    char env_method[] = "REQUEST_METHOD=GET", env_uri[CC_PATH_MAX + 16], env_host[300],
         env_https[] = "HTTPS=on";
    snprintf(env_uri, sizeof env_uri, "REQUEST_URI=%.*s", (int)path_len, path);
    snprintf(env_host, sizeof env_host, "HTTP_HOST=%.*s", (int)(path - host), host);
    char *envp[] = {env_method, env_uri, env_host, https ? env_https : NULL, NULL};
    cc_request rq;
    const cc_route *route = NULL;
    if (cc_request_init(&rq, envp) == 0)
        route = cc_route_match(p->cfg, CC_M_GET, rq.norm, rq.norm_len);
    if (route == NULL) {
        fprintf(stderr, "cgicache purge: no configured route caches %s\n", url);
        return -1;
    }
    cc_route bare = *route;       /* key text without query or vary parts */
    bare.query = CC_QUERY_NONE;
    bare.nvary = 0;
    cc_key *key = malloc(sizeof *key);
    if (key == NULL || cc_key_build(p->cfg, &bare, &rq, key) != 0) {
        free(key);
        return -1;
    }
    bump(p, key->url_gen, true);
    char *pattern = malloc(2 * key->full_len + 2);
    if (pattern != NULL) {
        glob_escape(key->full, key->full_len, pattern, 2 * key->full_len + 1);
        strcat(pattern, "*");
        size_t prefix_len = strlen(p->cfg->prefix) + strlen(route->name) + 2;
        scan_unlink(p, pattern, prefix_len, url_variant, &key->full_len);
    }
    free(pattern);
    free(key);
    return 0;
}

static int purge_tag(purge *p, const char *tag)
{
    char set[3 * CC_NAME_MAX];
    snprintf(set, sizeof set, "%s:tag:%s", p->cfg->prefix, tag);
    cc_cmd members = {0};
    cc_cmd_arg(&members, "SMEMBERS", (size_t)-1);
    cc_cmd_arg(&members, set, (size_t)-1);
    redisReply *reply = command(p, &members);
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
        const char **names = calloc(reply->elements, sizeof *names);
        size_t *lens = calloc(reply->elements, sizeof *lens);
        for (size_t i = 0; names != NULL && lens != NULL && i < reply->elements; i++) {
            names[i] = reply->element[i]->str;
            lens[i] = reply->element[i]->len;
        }
        if (names != NULL && lens != NULL)
            unlink_keys(p, reply->elements, names, lens);
        free(names);
        free(lens);
    }
    freeReplyObject(reply);
    const char *set_name = set;
    size_t set_len = strlen(set);
    long removed = p->removed;
    unlink_keys(p, 1, &set_name, &set_len);
    p->removed = removed;         /* the set itself is not an entry */
    /* Every entry is also tagged with its route. */
    if (cc_config_route(p->cfg, tag) != NULL)
        return purge_route(p, tag);
    return 0;
}

static int purge_all(purge *p)
{
    for (size_t i = 0; i < p->cfg->nroutes && !p->failed; i++)
        purge_route(p, p->cfg->routes[i].name);
    char pattern[2 * CC_NAME_MAX + 4];
    glob_escape(p->cfg->prefix, strlen(p->cfg->prefix), pattern, sizeof pattern - 3);
    strcat(pattern, ":*");
    /* Routes configured elsewhere: their keys go too, their generations stay. */
    scan_unlink(p, pattern, 0, NULL, NULL);
    return 0;
}

static void help(void)
{
    printf("usage: cgicache purge (--route NAME | --url URL | --tag TAG | --all) [--json]\n\n"
           "Removes cached entries from Redis, for every worker and host at once:\n"
           "  --route NAME  every entry of route NAME\n"
           "  --url URL     every variant (query, vary) of http[s]://host/path\n"
           "  --tag TAG     every entry whose response carried TAG in its tags header\n"
           "                (X-Cache-Tags), and the route TAG if there is one\n"
           "  --all         every entry under CGICACHE_PREFIX\n"
           "Prints how many entries were removed.  Exit status 1 on a Redis error.\n");
}

int cmd_purge(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    const char *what = NULL, *arg = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--all") == 0 && what == NULL)
            what = argv[i];
        else if ((strcmp(argv[i], "--route") == 0 || strcmp(argv[i], "--url") == 0 ||
                  strcmp(argv[i], "--tag") == 0) && i + 1 < argc && what == NULL)
            what = argv[i], arg = argv[++i];
        else {
            fprintf(stderr, "cgicache purge: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (what == NULL) {
        fprintf(stderr, "cgicache purge: say what to purge: --route, --url, --tag or --all\n");
        return EXIT_USAGE;
    }
    cc_config *cfg = tool_config();
    purge p = {cfg, tool_store(cfg), 0, 0};
    int rc = -1;
    if (p.store == NULL)
        fprintf(stderr, "cgicache purge: redis unreachable\n");
    else if (strcmp(what, "--route") == 0)
        rc = purge_route(&p, arg);
    else if (strcmp(what, "--url") == 0)
        rc = purge_url(&p, arg);
    else if (strcmp(what, "--tag") == 0)
        rc = purge_tag(&p, arg);
    else
        rc = purge_all(&p);
    int ok = rc == 0 && !p.failed;
    if (json)
        printf("{\"ok\": %s, \"removed\": %ld}\n", ok ? "true" : "false", p.removed);
    else if (ok)
        printf("%ld entr%s removed\n", p.removed, p.removed == 1 ? "y" : "ies");
    cc_store_close(p.store);
    cc_config_free(cfg);
    return ok ? EXIT_OK : EXIT_PROBLEM;
}
