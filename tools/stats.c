/* stats.c -- `cgicache stats [--reset] [--json | --prometheus]`: per-route
 * counters, and the Redis connection's.
 *
 * Every worker adds its counts to "<prefix>:#stats:<route>" in Redis (see
 * lib/redis/stats.c), and its Redis errors and breaker openings to
 * "<prefix>:#stats:#redis", so one read shows the whole fleet.  Counters
 * run from the last --reset, whose time each hash keeps in its "since"
 * field.  The Prometheus form is the text exposition format (prom.c), for
 * node_exporter's textfile collector or any scraper. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "prom.h"
#include "stats.h"
#include "store.h"
#include "tool.h"

/* Reads the counters of a hash (a route's, or CC_STATS_REDIS's) named
 * by names into counts (zero when absent). */
static int read_counters(cc_store *s, const cc_config *cfg, const char *route,
                         const char *const *names, int n, long long *counts, long long *since)
{
    char key[2 * CC_NAME_MAX + 16];
    cc_stats_key(cfg, route, key, sizeof key);
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "HGETALL", (size_t)-1);
    cc_cmd_arg(&cmd, key, (size_t)-1);
    redisReply *reply = cc_store_command(s, &cmd);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply != NULL)
            freeReplyObject(reply);
        return -1;
    }
    memset(counts, 0, (size_t)n * sizeof counts[0]);
    *since = 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *field = reply->element[i]->str;
        long long v = strtoll(reply->element[i + 1]->str, NULL, 10);
        if (strcmp(field, "since") == 0)
            *since = v;
        for (int k = 0; k < n; k++)
            if (strcmp(field, names[k]) == 0)
                counts[k] = v;
    }
    freeReplyObject(reply);
    return 0;
}

static int read_route(cc_store *s, const cc_config *cfg, const char *route,
                      long long counts[CC_STAT_KINDS], long long *since)
{
    return read_counters(s, cfg, route, cc_stat_names, CC_STAT_KINDS, counts, since);
}

static int read_redis(cc_store *s, const cc_config *cfg, long long counts[CC_STORE_COUNTERS],
                      long long *since)
{
    return read_counters(s, cfg, CC_STATS_REDIS, cc_stats_redis_names, CC_STORE_COUNTERS, counts,
                         since);
}

static int reset_route(cc_store *s, const cc_config *cfg, const char *route)
{
    char key[2 * CC_NAME_MAX + 16], now[24];
    cc_stats_key(cfg, route, key, sizeof key);
    snprintf(now, sizeof now, "%lld", (long long)cc_now_ms());
    cc_cmd cmds[2] = {{0}, {0}};
    cc_cmd_arg(&cmds[0], "DEL", (size_t)-1);
    cc_cmd_arg(&cmds[0], key, (size_t)-1);
    cc_cmd_arg(&cmds[1], "HSET", (size_t)-1);
    cc_cmd_arg(&cmds[1], key, (size_t)-1);
    cc_cmd_arg(&cmds[1], "since", (size_t)-1);
    cc_cmd_arg(&cmds[1], now, (size_t)-1);
    redisReply *replies[2];
    if (cc_store_run(s, 2, cmds, replies) != 0)
        return -1;
    cc_store_free_replies(2, replies);
    return 0;
}

/* A table column: as wide as its name, and at least 10. */
static int column_width(int k)
{
    int w = (int)strlen(cc_stat_names[k]);
    return w > 10 ? w : 10;
}

static void print_row(const char *route, const long long counts[CC_STAT_KINDS], json_writer *j)
{
    long long served = counts[CC_STAT_HIT] + counts[CC_STAT_STALE];
    long long lookups = served + counts[CC_STAT_MISS];
    double ratio = lookups > 0 ? (double)served / (double)lookups : 0;
    if (j != NULL) {
        json_object_begin(j);
        json_key(j, "route");
        json_string(j, route);
        for (int k = 0; k < CC_STAT_KINDS; k++) {
            json_key(j, cc_stat_names[k]);
            json_int(j, counts[k]);
        }
        json_key(j, "hit_ratio");
        json_fixed(j, ratio, 4);
        json_object_end(j);
        return;
    }
    printf("%-20s", route);
    for (int k = 0; k < CC_STAT_KINDS; k++)
        printf(" %*lld", column_width(k), counts[k]);
    printf(" %8.1f%%\n", 100 * ratio);
}

/* The Redis connection's counters: after the routes in JSON, as the
 * pseudo-route CC_STATS_REDIS (no route has that name); a line of their
 * own in the table. */
static void print_redis(const long long counts[CC_STORE_COUNTERS], json_writer *j)
{
    if (j == NULL) {
        printf("redis: %lld error(s), %lld breaker opening(s)\n", counts[CC_STORE_ERROR],
               counts[CC_STORE_BREAKER_OPEN]);
        return;
    }
    json_object_begin(j);
    json_key(j, "route");
    json_string(j, CC_STATS_REDIS);
    for (int k = 0; k < CC_STORE_COUNTERS; k++) {
        json_key(j, cc_stats_redis_names[k]);
        json_int(j, counts[k]);
    }
    json_object_end(j);
}

/* ---- the Prometheus text format ---------------------------------------------- */

/* What each counter is called there: requests by outcome share a family;
 * a time kept in milliseconds is shown in seconds (millis). */
static const struct {
    const char *family, *help, *outcome;
    bool millis;
} families[CC_STAT_KINDS] = {
    [CC_STAT_HIT] = {"cgicache_requests_total", "Requests on a route, by what the cache did.",
                     "hit"},
    [CC_STAT_MISS] = {"cgicache_requests_total", NULL, "miss"},
    [CC_STAT_STALE] = {"cgicache_requests_total", NULL, "stale"},
    [CC_STAT_BYPASS] = {"cgicache_requests_total", NULL, "bypass"},
    [CC_STAT_NO_CACHE] = {"cgicache_requests_total", NULL, "no_cache"},
    [CC_STAT_COLLAPSED] = {"cgicache_collapsed_total",
                           "Requests that waited for another's computation and were "
                           "answered by it (also counted as hits).",
                           NULL},
    [CC_STAT_STORE] = {"cgicache_stores_total", "Responses sent to Redis to be stored.", NULL},
    [CC_STAT_STORE_ERROR] = {"cgicache_store_errors_total",
                             "Responses that could not be sent to Redis to be stored.", NULL},
    [CC_STAT_NEAR] = {"cgicache_near_hits_total",
                      "Hits served from a worker's own memory (also counted as hits).", NULL},
    [CC_STAT_STALE_IF_ERROR] = {"cgicache_stale_if_error_total",
                                "Failed answers replaced by the stored copy (stale-if-error).",
                                NULL},
    [CC_STAT_PASS] = {"cgicache_pass_total",
                      "Misses that skipped the fill lock: the key is remembered as "
                      "uncacheable (pass=).",
                      NULL},
    [CC_STAT_MIN_USES_SKIP] = {"cgicache_min_uses_skips_total",
                               "Misses not stored: the key was asked for fewer than min-uses "
                               "times.",
                               NULL},
    [CC_STAT_LOCK_WAIT] = {"cgicache_lock_waits_total",
                           "Requests that waited for another request's computation of the "
                           "same key.",
                           NULL},
    [CC_STAT_LOCK_WAIT_MS] = {"cgicache_lock_wait_seconds_total",
                              "Time requests spent waiting for another request's computation "
                              "of the same key.",
                              NULL, true},
    [CC_STAT_LOCK_GAVE_UP] = {"cgicache_lock_gave_up_total",
                              "Lock waits that ended without the other's response (it took "
                              "longer than the lock wait, or came in a coding the client does "
                              "not take): the app ran.",
                              NULL},
};

/* The Redis connection's, for all workers: no route label. */
static const struct {
    const char *family, *help;
} redis_families[CC_STORE_COUNTERS] = {
    [CC_STORE_ERROR] = {"cgicache_redis_errors_total",
                        "Redis commands that failed: connection refused or lost, timed out, or "
                        "answered with an error."},
    [CC_STORE_BREAKER_OPEN] = {"cgicache_redis_breaker_openings_total",
                               "Times a worker stopped using Redis for a while after a failure "
                               "(the circuit breaker opened)."},
};

typedef struct route_counts {
    const char *name;
    long long counts[CC_STAT_KINDS];
    long long since;
} route_counts;

/* One sample per route of a family; outcome, when set, as a second label. */
static void route_sample(const char *family, const char *route, const char *outcome,
                         const char *value)
{
    prom_label labels[2] = {{"route", route}, {"outcome", outcome}};
    prom_sample(stdout, family, labels, outcome != NULL ? 2 : 1, value);
}

/* Every family at once, each with its HELP and TYPE, its samples
 * together: the format wants a family's lines in one group. */
static void print_prometheus(const route_counts *rows, size_t n,
                             const long long redis[CC_STORE_COUNTERS])
{
    char value[48];
    for (int k = 0; k < CC_STAT_KINDS; k++) {
        if (families[k].help != NULL)
            prom_family(stdout, families[k].family, "counter", families[k].help);
        for (size_t i = 0; i < n; i++) {
            prom_fixed(value, sizeof value, rows[i].counts[k], families[k].millis ? 3 : 0);
            route_sample(families[k].family, rows[i].name, families[k].outcome, value);
        }
    }
    for (int k = 0; k < CC_STORE_COUNTERS; k++) {
        prom_family(stdout, redis_families[k].family, "counter", redis_families[k].help);
        prom_fixed(value, sizeof value, redis[k], 0);
        prom_sample(stdout, redis_families[k].family, NULL, 0, value);
    }
    prom_family(stdout, "cgicache_hit_ratio", "gauge",
                "Hits and stale serves over those and misses, since the counters began.");
    for (size_t i = 0; i < n; i++) {
        const long long *c = rows[i].counts;
        long long served = c[CC_STAT_HIT] + c[CC_STAT_STALE], lookups = served + c[CC_STAT_MISS];
        snprintf(value, sizeof value, "%.4f", lookups > 0 ? (double)served / (double)lookups : 0.0);
        route_sample("cgicache_hit_ratio", rows[i].name, NULL, value);
    }
    prom_family(stdout, "cgicache_counters_since_seconds", "gauge",
                "When the route's counters began (Unix time; 0: never reset).");
    for (size_t i = 0; i < n; i++) {
        prom_fixed(value, sizeof value, rows[i].since, 3);
        route_sample("cgicache_counters_since_seconds", rows[i].name, NULL, value);
    }
}

int cmd_stats(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: cgicache stats [--reset] [--json | --prometheus]\n\n"
               "Per-route counters of every worker sharing this Redis: hits, misses,\n"
               "stale serves, bypasses, no-cache requests, collapsed waits, stores and\n"
               "store errors, stale-if-error serves, passes, min-uses skips, lock waits\n"
               "and their time, and the hit ratio; then Redis errors and breaker\n"
               "openings.  Workers send their counts at most a second late.  --reset\n"
               "starts them again from zero.  --prometheus prints them in the\n"
               "Prometheus text format.\n");
        return EXIT_OK;
    }
    int json = 0, reset = 0, prometheus = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--reset") == 0)
            reset = 1;
        else if (strcmp(argv[i], "--prometheus") == 0)
            prometheus = 1;
        else {
            fprintf(stderr, "cgicache stats: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (json + prometheus + reset > 1 && !(json && reset && !prometheus)) {
        fprintf(stderr, "cgicache stats: --prometheus goes alone\n");
        return EXIT_USAGE;
    }
    cc_config *cfg = tool_config();
    cc_store *s = tool_store(cfg);
    int rc = EXIT_OK;
    if (s == NULL) {
        fprintf(stderr, "cgicache stats: redis unreachable\n");
        cc_config_free(cfg);
        return EXIT_PROBLEM;
    }
    long long redis[CC_STORE_COUNTERS] = {0}, redis_since = 0;
    if (!reset && read_redis(s, cfg, redis, &redis_since) != 0) {
        fprintf(stderr, "cgicache stats: redis error reading the counters\n");
        cc_store_close(s);
        cc_config_free(cfg);
        return EXIT_PROBLEM;
    }
    if (prometheus) {
        route_counts *rows = calloc(cfg->nroutes > 0 ? cfg->nroutes : 1, sizeof *rows);
        size_t n = 0;
        for (; rows != NULL && n < cfg->nroutes; n++) {
            rows[n].name = cfg->routes[n].name;
            if (read_route(s, cfg, rows[n].name, rows[n].counts, &rows[n].since) != 0)
                break;
        }
        if (rows == NULL || n < cfg->nroutes) {
            fprintf(stderr, "cgicache stats: redis error reading the counters\n");
            rc = EXIT_PROBLEM;
        } else {
            print_prometheus(rows, n, redis);
            if (fflush(stdout) != 0)
                rc = EXIT_PROBLEM;
        }
        free(rows);
        cc_store_close(s);
        cc_config_free(cfg);
        return rc;
    }
    if (!json && !reset) {
        printf("%-20s", "route");
        for (int k = 0; k < CC_STAT_KINDS; k++)
            printf(" %*s", column_width(k), cc_stat_names[k]);
        printf(" %9s\n", "hit ratio");
    }
    json_writer out = {0}, *j = json ? &out : NULL;
    if (j != NULL) {
        json_begin(j, stdout);
        if (reset)
            json_object_begin(j);
        else
            json_array_begin(j);
    }
    size_t done = 0;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        long long counts[CC_STAT_KINDS], since;
        const char *name = cfg->routes[i].name;
        if (reset ? reset_route(s, cfg, name) != 0
                  : read_route(s, cfg, name, counts, &since) != 0) {
            fprintf(stderr, "cgicache stats: redis error on route %s\n", name);
            rc = EXIT_PROBLEM;
            break;
        }
        if (!reset)
            print_row(name, counts, j);
        done++;
    }
    if (reset && rc == EXIT_OK && reset_route(s, cfg, CC_STATS_REDIS) != 0) {
        fprintf(stderr, "cgicache stats: redis error on the redis counters\n");
        rc = EXIT_PROBLEM;
    }
    if (!reset && rc == EXIT_OK)
        print_redis(redis, j);
    if (j != NULL) {
        if (reset) {
            json_key(j, "ok");
            json_bool(j, rc == EXIT_OK);
            json_key(j, "reset");
            json_uint(j, done);
            json_object_end(j);
        } else {
            json_array_end(j);
        }
        if (json_end(j) != 0)
            rc = EXIT_PROBLEM;
    } else if (reset && rc == EXIT_OK) {
        printf("counters reset for %zu route(s)\n", cfg->nroutes);
    }
    cc_store_close(s);
    cc_config_free(cfg);
    return rc;
}
