/* purge.c -- `cgicache purge [--soft] (--route NAME | --url URL | --tag TAG
 * | --prefix URL | --all)`.
 *
 * A purge first gives the route (or URL) a new generation, which hides
 * every entry computed before it at once, on every worker and host; then
 * it walks the keys with SCAN (never KEYS, which blocks Redis) and UNLINKs
 * the entries it finds, so their memory is returned and the count printed
 * is the number of entries removed.  Only keys shaped like entries are
 * removed (keyspace.h): generations, locks, tag sets and counters live
 * under "<prefix>:#", where no route's SCAN reaches, and would be skipped
 * if they did.  A soft purge gives the generation a new current token and
 * keeps the old ones (generation.h): the entries stay, and are served
 * STALE until one request refreshes each; the walk then only counts them.
 * A prefix purge adds a record to the generation of each route that may
 * cache a path under the prefix, then walks those routes for the entries
 * under it.  Any refused write (a read-only replica, an ACL, a renamed
 * command) makes the purge fail with exit status 1: a generation that was
 * not bumped leaves entries in flight free to land. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "invalidate.h"
#include "json.h"
#include "key.h"
#include "keyspace.h"
#include "path.h"
#include "random.h"
#include "request.h"
#include "route.h"
#include "store.h"
#include "tool.h"

typedef struct purge {
    const cc_config *cfg;
    cc_store *store;
    bool soft;                /* mark stale: generations softened, entries kept */
    long removed;             /* entries removed, or with soft, marked stale */
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

/* What a purge does with the entries it finds: a hard one removes them,
 * a soft one (which leaves them, marked stale) counts them. */
static void count_keys(purge *p, size_t n, const char *const *keys, const size_t *lens)
{
    (void)keys, (void)lens;
    p->removed += (long)n;
}

static void settle_keys(purge *p, size_t n, const char *const *keys, const size_t *lens)
{
    if (p->soft)
        count_keys(p, n, keys, lens);
    else
        unlink_keys(p, n, keys, lens);
}

typedef int (*key_filter)(purge *p, const char *key, size_t len, void *ctx);

/* SCANs keys matching pattern; hands those accepted by want to use. */
static void scan_keys(purge *p, const char *pattern, key_filter want, void *ctx,
                      void (*use)(purge *p, size_t n, const char *const *keys, const size_t *lens))
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
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[1]->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "cgicache purge: redis: unexpected SCAN reply\n");
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
            if (k->type == REDIS_REPLY_STRING && want(p, k->str, k->len, ctx)) {
                names[n] = k->str;
                lens[n++] = k->len;
            }
        }
        use(p, n, names, lens);
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

/* Gives a generation key a new random value, as the library does (url
 * ones expire with CC_URL_GEN_LIFE_MS), or with soft a new current token
 * before its old ones; a refusal fails the purge. */
static void bump(purge *p, const char *gen_key, bool url)
{
    if (p->soft) {
        if (cc_cache_soften(p->store, 1, &gen_key, &url) != 0) {
            if (!p->failed)
                fprintf(stderr, "cgicache purge: redis refused or did not answer the purge\n");
            p->failed = 1;
        }
        return;
    }
    char value[24], life[24];
    cc_random_hex(value, 8);
    snprintf(life, sizeof life, "%lld", (long long)CC_URL_GEN_LIFE_MS);
    cc_cmd set = {0};
    cc_cmd_arg(&set, "SET", (size_t)-1);
    cc_cmd_arg(&set, gen_key, (size_t)-1);
    cc_cmd_arg(&set, value, (size_t)-1);
    if (url) {
        cc_cmd_arg(&set, "PX", (size_t)-1);
        cc_cmd_arg(&set, life, (size_t)-1);
    }
    redisReply *reply = command(p, &set);
    if (reply != NULL)
        freeReplyObject(reply);
}

static int entry_key(purge *p, const char *key, size_t len, void *ctx)
{
    (void)ctx;
    return cc_keyspace_is_entry(p->cfg, key, len);
}

static int purge_route(purge *p, const char *name)
{
    if (name == NULL)
        return -1;
    char prefix[2 * CC_NAME_MAX + 8], gen[CC_GEN_KEY_MAX], pattern[4 * CC_NAME_MAX + 16];
    if (cc_config_route(p->cfg, name) == NULL)
        fprintf(stderr, "cgicache purge: warning: no route '%s' is configured here\n", name);
    if (cc_key_route_prefix(p->cfg, name, prefix, sizeof prefix) != 0 ||
        cc_keyspace_key(p->cfg, CC_KS_GEN, name, strlen(name), gen, sizeof gen) != 0)
        return -1;
    bump(p, gen, false);
    if (p->failed)
        return -1;
    glob_escape(prefix, strlen(prefix), pattern, sizeof pattern - 2);
    strcat(pattern, "*");
    scan_keys(p, pattern, entry_key, NULL, settle_keys);
    return 0;
}

/* The keys of one URL: entries whose key text is the URL's up to the
 * path, then nothing, a query ('?') or a vary part ('|'). */
static int url_variant(purge *p, const char *key, size_t len, void *ctx)
{
    size_t base = *(size_t *)ctx;
    return cc_keyspace_is_entry(p->cfg, key, len) &&
           (len == base || key[base] == '?' || key[base] == '|');
}

/* Purges the URL's entries as an app sees its host (host_len bytes). */
static int purge_url_as(purge *p, const char *url, bool https, const char *host, size_t host_len,
                        const char *path)
{
    size_t path_len = strcspn(path, "?#");
    char env_method[] = "REQUEST_METHOD=GET", env_uri[CC_PATH_MAX + 16], env_host[300],
         env_https[] = "HTTPS=on";
    snprintf(env_uri, sizeof env_uri, "REQUEST_URI=%.*s", (int)path_len, path);
    snprintf(env_host, sizeof env_host, "HTTP_HOST=%.*s", (int)host_len, host);
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
    if (pattern != NULL && !p->failed) {
        glob_escape(key->full, key->full_len, pattern, 2 * key->full_len + 1);
        strcat(pattern, "*");
        scan_keys(p, pattern, url_variant, &key->full_len, settle_keys);
    }
    free(pattern);
    free(key);
    return 0;
}

/* A URL with a port of its own is purged as an app may see it both ways:
 * with the port in HTTP_HOST, and without it (Debian's nginx passes $host,
 * the port going in SERVER_PORT, which the key keeps apart). */
static int purge_url(purge *p, const char *url)
{
    if (url == NULL)
        return -1;
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
    size_t host_len = (size_t)(path - host), bare_len = host_len;
    while (bare_len > 0 && host[bare_len - 1] >= '0' && host[bare_len - 1] <= '9')
        bare_len--;
    bool port = bare_len > 1 && bare_len < host_len && host[bare_len - 1] == ':' &&
                (host[0] != '[' || host[bare_len - 2] == ']');
    if (purge_url_as(p, url, https, host, host_len, path) != 0)
        return -1;
    return port ? purge_url_as(p, url, https, host, bare_len - 1, path) : 0;
}

/* The tag's entries, in one script call (cache.h): their URL generations
 * bumped or softened, and unless soft, the entries and the set removed. */
static int purge_tag(purge *p, const char *tag)
{
    if (tag == NULL)
        return -1;
    if (strlen(tag) >= CC_NAME_MAX) {
        fprintf(stderr, "cgicache purge: tag too long\n");
        return -1;
    }
    long n = cc_cache_purge_tag(p->store, p->cfg, tag, strlen(tag), p->soft);
    if (n < 0) {
        if (!p->failed)
            fprintf(stderr, "cgicache purge: redis refused or did not answer the purge\n");
        p->failed = 1;
        return -1;
    }
    p->removed += n;
    /* Every entry is also tagged with its route. */
    if (cc_config_route(p->cfg, tag) != NULL)
        return purge_route(p, tag);
    return 0;
}

/* The decoded path of an entry's key "<prefix>:<route>:<METHOD>:http[s]://host<path>[?...][|...]"
 * into out (its path is in normal form, or it was never stored); -1 for
 * a hashed key, whose path only its entry holds. */
static long key_path(const char *key, size_t len, char *out, size_t cap)
{
    const char *end = key + len, *scheme = memmem(key, len, "://", 3);
    const char *path = scheme != NULL ? memchr(scheme + 3, '/', (size_t)(end - scheme - 3)) : NULL;
    if (path == NULL)
        return -1;
    const char *stop = path;
    while (stop < end && *stop != '?' && *stop != '|')
        stop++;
    return cc_path_decode(path, (size_t)(stop - path), true, out, cap, NULL);
}

typedef struct under {
    purge *p;
    const char *prefix;
    size_t len;
} under;

/* An entry whose path the prefix covers. */
static int entry_under(purge *p, const char *key, size_t len, void *ctx)
{
    const under *u = ctx;
    char path[CC_PATH_MAX];
    long n = cc_keyspace_is_entry(p->cfg, key, len) ? key_path(key, len, path, sizeof path) : -1;
    return n > 0 && cc_prefix_covers(u->prefix, u->len, path, (size_t)n);
}

/* Walks the entries of the route whose generation is gen_key (a route
 * the prefix reaches) for those under the prefix. */
static void settle_under(void *ctx, const char *gen_key, bool url)
{
    under *u = ctx;
    purge *p = u->p;
    char gens[CC_GEN_KEY_MAX], prefix[2 * CC_NAME_MAX + 8], pattern[4 * CC_NAME_MAX + 16];
    (void)url;
    cc_keyspace_key(p->cfg, CC_KS_GEN, "", 0, gens, sizeof gens);
    if (p->failed ||
        cc_key_route_prefix(p->cfg, gen_key + strlen(gens), prefix, sizeof prefix) != 0)
        return;
    glob_escape(prefix, strlen(prefix), pattern, sizeof pattern - 2);
    strcat(pattern, "*");
    scan_keys(p, pattern, entry_under, u, settle_keys);
}

/* Every path under the URL's path, on every host and every route that
 * may cache one: a record in each route's generation, then the walk. */
static int purge_prefix(purge *p, const char *url)
{
    bool https = url != NULL && strncasecmp(url, "https://", 8) == 0;
    if (url == NULL || (!https && strncasecmp(url, "http://", 7) != 0)) {
        fprintf(stderr, "cgicache purge: --prefix wants http://host/path or https://host/path\n");
        return -2;
    }
    const char *host = url + (https ? 8 : 7), *path = strchr(host, '/');
    char prefix[CC_GEN_PREFIX_MAX + 1];
    long len = path != NULL ? cc_prefix_norm(path, strlen(path), prefix, sizeof prefix) : -1;
    if (path == NULL || path == host || len <= 0) {
        fprintf(stderr,
                "cgicache purge: --prefix %s: not a host and a path in normal form (no query, no "
                "'.' or '..' segment, no '//', no encoded '/')\n",
                url);
        return -2;
    }
    size_t routes = 0;
    if (cc_cache_purge_prefix(p->store, p->cfg, prefix, (size_t)len, p->soft, &routes) != 0) {
        if (!p->failed)
            fprintf(stderr, "cgicache purge: redis refused or did not answer the purge\n");
        p->failed = 1;
        return -1;
    }
    if (routes == 0) {
        fprintf(stderr, "cgicache purge: no configured route caches a path under %s\n", prefix);
        return -1;
    }
    under u = {p, prefix, (size_t)len};
    cc_invalidate_prefix_routes(p->cfg, prefix, (size_t)len, settle_under, &u);
    return 0;
}

/* A route generation ("<prefix>:#gen:<route>", no URL hash after it). */
static int route_gen(purge *p, const char *key, size_t len, void *ctx)
{
    size_t skip = *(size_t *)ctx;
    (void)p;
    return len > skip && memchr(key + skip, ':', len - skip) == NULL;
}

static void bump_keys(purge *p, size_t n, const char *const *keys, const size_t *lens)
{
    for (size_t i = 0; i < n && !p->failed; i++) {
        char gen[CC_GEN_KEY_MAX];
        snprintf(gen, sizeof gen, "%.*s", (int)lens[i], keys[i]);
        bump(p, gen, false);
    }
}

static int purge_all(purge *p)
{
    char gens[CC_GEN_KEY_MAX], pattern[4 * CC_NAME_MAX + 16];
    for (size_t i = 0; i < p->cfg->nroutes && !p->failed; i++) {
        const char *name = p->cfg->routes[i].name;
        if (cc_keyspace_key(p->cfg, CC_KS_GEN, name, strlen(name), gens, sizeof gens) == 0)
            bump(p, gens, false);
    }
    /* Routes configured elsewhere have generations here too. */
    cc_keyspace_key(p->cfg, CC_KS_GEN, "", 0, gens, sizeof gens);
    size_t skip = strlen(gens);
    glob_escape(gens, skip, pattern, sizeof pattern - 2);
    strcat(pattern, "*");
    if (!p->failed)
        scan_keys(p, pattern, route_gen, &skip, bump_keys);
    glob_escape(p->cfg->prefix, strlen(p->cfg->prefix), pattern, sizeof pattern - 3);
    strcat(pattern, ":*");
    if (!p->failed)
        scan_keys(p, pattern, entry_key, NULL, settle_keys);
    return p->failed ? -1 : 0;
}

static void help(void)
{
    printf("usage: cgicache purge [--soft] (--route NAME | --url URL | --tag TAG |\n"
           "                                --prefix URL | --all) [--json]\n\n"
           "Removes cached entries from Redis, for every worker and host at once:\n"
           "  --route NAME  every entry of route NAME\n"
           "  --url URL     every variant (query, vary) of http[s]://host/path\n"
           "  --tag TAG     every entry whose response carried TAG in its tags header\n"
           "                (X-Cache-Tags), and the route TAG if there is one\n"
           "  --prefix URL  every URL whose path is the URL's path or under it, on every\n"
           "                host (\"/a/b\" covers /a/b and /a/b/..., not /a/bc; \"/a/b/\" only\n"
           "                what is under /a/b/), on each route that may cache one\n"
           "  --all         every entry under CGICACHE_PREFIX\n"
           "  --soft        mark them stale instead: each is served STALE while one\n"
           "                request refreshes it (whatever the route's stale=)\n"
           "Prints how many entries were removed (with --soft, marked).  Exit status 1\n"
           "when Redis cannot be reached or refuses any write of the purge (read-only\n"
           "replica, ACL, renamed command) or no route caches the URL, 2 on bad usage.\n");
}

int cmd_purge(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    const char *what = NULL, *arg = NULL;
    int json = 0;
    bool soft = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--soft") == 0)
            soft = true;
        else if (strcmp(argv[i], "--all") == 0 && what == NULL)
            what = argv[i];
        else if ((strcmp(argv[i], "--route") == 0 || strcmp(argv[i], "--url") == 0 ||
                  strcmp(argv[i], "--tag") == 0 || strcmp(argv[i], "--prefix") == 0) &&
                 i + 1 < argc && what == NULL)
            what = argv[i], arg = argv[++i];
        else {
            fprintf(stderr, "cgicache purge: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (what == NULL || (strcmp(what, "--all") != 0 && arg == NULL)) {
        fprintf(stderr,
                "cgicache purge: say what to purge: --route, --url, --tag, --prefix or --all\n");
        return EXIT_USAGE;
    }
    if (strcmp(what, "--route") == 0 && !cc_keyspace_route_name(arg)) {
        fprintf(stderr,
                "cgicache purge: '%s' is not a route name (CGICACHE_ROUTE_<name>: letters, digits, "
                "_)\n",
                arg);
        return EXIT_USAGE;
    }
    cc_config *cfg = tool_config();
    purge p = {cfg, tool_store(cfg), soft, 0, 0};
    int rc = -1;
    if (p.store == NULL)
        fprintf(stderr, "cgicache purge: redis unreachable\n");
    else if (strcmp(what, "--route") == 0)
        rc = purge_route(&p, arg);
    else if (strcmp(what, "--url") == 0)
        rc = purge_url(&p, arg);
    else if (strcmp(what, "--tag") == 0)
        rc = purge_tag(&p, arg);
    else if (strcmp(what, "--prefix") == 0)
        rc = purge_prefix(&p, arg);
    else
        rc = purge_all(&p);
    int ok = rc == 0 && !p.failed;
    if (json) {
        json_writer j;
        json_begin(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "ok");
        json_bool(&j, ok);
        json_key(&j, "removed");
        json_int(&j, soft ? 0 : p.removed);
        if (soft) {
            json_key(&j, "stale");
            json_int(&j, p.removed);
        }
        json_object_end(&j);
        ok = json_end(&j) == 0 && ok;
    } else if (ok)
        printf("%ld entr%s %s\n", p.removed, p.removed == 1 ? "y" : "ies",
               soft ? "marked stale" : "removed");
    cc_store_close(p.store);
    cc_config_free(cfg);
    if (rc == -2)
        return EXIT_USAGE;
    return ok ? EXIT_OK : EXIT_PROBLEM;
}
