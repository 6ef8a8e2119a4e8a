/* stats.c -- `cgicache stats [--reset] [--json | --prometheus]`: per-route
 * counters.
 *
 * Every worker adds its counts to "<prefix>:#stats:<route>" in Redis (see
 * lib/redis/stats.c), so one read shows the whole fleet.  Counters run from the
 * last --reset, whose time each hash keeps in its "since" field.  The
 * Prometheus form is the text exposition format (version 0.0.4), for
 * node_exporter's textfile collector or any scraper. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "stats.h"
#include "store.h"
#include "tool.h"

/* Reads one route's counters into counts (zero when absent). */
static int read_route(cc_store *s, const cc_config *cfg, const char *route,
                      long long counts[CC_STAT_KINDS], long long *since)
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
    memset(counts, 0, CC_STAT_KINDS * sizeof counts[0]);
    *since = 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const char *field = reply->element[i]->str;
        long long v = strtoll(reply->element[i + 1]->str, NULL, 10);
        if (strcmp(field, "since") == 0)
            *since = v;
        for (int k = 0; k < CC_STAT_KINDS; k++)
            if (strcmp(field, cc_stat_names[k]) == 0)
                counts[k] = v;
    }
    freeReplyObject(reply);
    return 0;
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
        printf(" %10lld", counts[k]);
    printf(" %8.1f%%\n", 100 * ratio);
}

/* ---- the Prometheus text format ---------------------------------------------- */

/* What each counter is called there: requests by outcome share a family. */
static const struct {
    const char *family, *help, *outcome;
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
};

/* A label value, escaped as the format asks (\\, \", \n). */
static void prom_label(const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            printf("\\%c", *v);
        else if (*v == '\n')
            printf("\\n");
        else
            putchar(*v);
    }
}

typedef struct route_counts {
    const char *name;
    long long counts[CC_STAT_KINDS];
    long long since;
} route_counts;

/* Every family at once, each with its HELP and TYPE, its samples
 * together: the format wants a family's lines in one group. */
static void print_prometheus(const route_counts *rows, size_t n)
{
    for (int k = 0; k < CC_STAT_KINDS; k++) {
        if (families[k].help != NULL)
            printf("# HELP %s %s\n# TYPE %s counter\n", families[k].family, families[k].help,
                   families[k].family);
        for (size_t i = 0; i < n; i++) {
            printf("%s{route=\"", families[k].family);
            prom_label(rows[i].name);
            if (families[k].outcome != NULL)
                printf("\",outcome=\"%s", families[k].outcome);
            printf("\"} %lld\n", rows[i].counts[k]);
        }
    }
    printf("# HELP cgicache_hit_ratio Hits and stale serves over those and misses, since the "
           "counters began.\n# TYPE cgicache_hit_ratio gauge\n");
    for (size_t i = 0; i < n; i++) {
        const long long *c = rows[i].counts;
        long long served = c[CC_STAT_HIT] + c[CC_STAT_STALE], lookups = served + c[CC_STAT_MISS];
        printf("cgicache_hit_ratio{route=\"");
        prom_label(rows[i].name);
        printf("\"} %.4f\n", lookups > 0 ? (double)served / (double)lookups : 0.0);
    }
    printf("# HELP cgicache_counters_since_seconds When the route's counters began (Unix time; "
           "0: never reset).\n# TYPE cgicache_counters_since_seconds gauge\n");
    for (size_t i = 0; i < n; i++) {
        printf("cgicache_counters_since_seconds{route=\"");
        prom_label(rows[i].name);
        printf("\"} %lld.%03lld\n", rows[i].since / 1000, rows[i].since % 1000);
    }
}

int cmd_stats(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: cgicache stats [--reset] [--json | --prometheus]\n\n"
               "Per-route counters of every worker sharing this Redis: hits, misses,\n"
               "stale serves, bypasses, no-cache requests, collapsed waits, stores and\n"
               "store errors, and the hit ratio.  Workers send their counts at most a\n"
               "second late.  --reset starts them again from zero.  --prometheus\n"
               "prints them in the Prometheus text format.\n");
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
            print_prometheus(rows, n);
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
            printf(" %10s", cc_stat_names[k]);
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
