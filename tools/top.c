/* top.c -- `cgicache top [--once] [--interval SECONDS]`: a live view of
 * the cache, as varnishstat is of Varnish.
 *
 * Every interval (1 s) one pipelined batch reads Redis's INFO and the
 * counters every worker adds to "<prefix>:#stats:<route>" (see
 * lib/redis/stats.c): the routes configured here and, so that an
 * operator's shell needs only CGICACHE_REDIS, those found by a SCAN for
 * counter keys (every 10 s, every second while none is known; never a
 * KEYS).  The frame
 * shows the totals since the last `stats --reset` and, over the last
 * interval, each route's requests per second and hit ratio, busiest route
 * first; the header is Redis's own state (memory used against maxmemory,
 * evictions, clients, its mode and master).
 *
 * On a terminal it is full screen (term.c): q quits, a resize redraws.
 * Anywhere else (a pipe, a file) frames are plain text, full width, one
 * after another; --once prints a single frame, its rates measured over
 * one interval, for scripts.  Redis unreachable at the start is a message
 * and exit status 1; Redis lost while running is said in the header, the
 * last numbers stay, and the view reconnects when Redis is back. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "stats.h"
#include "store.h"
#include "term.h"
#include "tool.h"
#include "version.h"

#define TOP_ROUTES_MAX 256
#define TOP_LINES_MAX (TOP_ROUTES_MAX + 8)
#define TOP_LINE_MAX 1024
#define DISCOVER_EVERY_MS 10000

typedef struct {
    char name[CC_NAME_MAX];
    long long now[CC_STAT_KINDS];    /* totals at the last sample */
    long long prev[CC_STAT_KINDS];   /* at the one before */
    bool has_prev;
    double rate;                     /* requests per second over the last interval */
    double ratio;                    /* hits / lookups over the last interval; NAN: none */
} top_route;

typedef struct {
    cc_config *cfg;
    cc_store *store;
    top_route routes[TOP_ROUTES_MAX];
    size_t nroutes;
    int64_t discovered_ms;           /* last SCAN for counter keys; 0: never */
    int64_t sampled_ms, prev_ms;     /* monotonic times of the last two samples */
    char server[TOP_LINE_MAX];       /* Redis's identity and mode */
    char memory[TOP_LINE_MAX];       /* memory, evictions, clients */
    char error[TOP_LINE_MAX];        /* why the last sample failed; "" when it did not */
    char addr[300];                  /* where Redis is, as configured */
} top_view;

/* ---- sampling ------------------------------------------------------------ */

static top_route *route_named(top_view *v, const char *name, size_t len)
{
    for (size_t i = 0; i < v->nroutes; i++)
        if (strlen(v->routes[i].name) == len && memcmp(v->routes[i].name, name, len) == 0)
            return &v->routes[i];
    if (v->nroutes == TOP_ROUTES_MAX || len == 0 || len >= CC_NAME_MAX)
        return NULL;
    top_route *r = &v->routes[v->nroutes++];
    memset(r, 0, sizeof *r);
    memcpy(r->name, name, len);
    r->ratio = NAN;
    return r;
}

static bool route_name_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return len > 0;
}

/* Adds the routes whose counter keys are in Redis: a SCAN of at most
 * 100 pages, so a huge keyspace costs a bounded pause every 30 s. */
static int discover(top_view *v)
{
    char stem[2 * CC_NAME_MAX + 16], pattern[4 * CC_NAME_MAX + 40];
    cc_stats_key(v->cfg, "", stem, sizeof stem);
    size_t stem_len = strlen(stem), o = 0;
    for (const char *p = stem; *p != '\0' && o + 3 < sizeof pattern; p++) {
        if (strchr("*?[]\\", *p) != NULL)
            pattern[o++] = '\\';
        pattern[o++] = *p;
    }
    pattern[o++] = '*';
    pattern[o] = '\0';
    char cursor[32] = "0";
    for (int page = 0; page < 100; page++) {
        cc_cmd scan = {0};
        cc_cmd_arg(&scan, "SCAN", (size_t)-1);
        cc_cmd_arg(&scan, cursor, (size_t)-1);
        cc_cmd_arg(&scan, "MATCH", (size_t)-1);
        cc_cmd_arg(&scan, pattern, (size_t)-1);
        cc_cmd_arg(&scan, "COUNT", (size_t)-1);
        cc_cmd_arg(&scan, "1000", (size_t)-1);
        redisReply *reply = cc_store_command(v->store, &scan);
        if (reply == NULL)
            return -1;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(reply);
            return 0;  /* SCAN refused (an ACL): the configured routes only */
        }
        snprintf(cursor, sizeof cursor, "%s", reply->element[0]->str);
        const redisReply *keys = reply->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            if (k->type == REDIS_REPLY_STRING && k->len > stem_len &&
                memcmp(k->str, stem, stem_len) == 0 &&
                route_name_ok(k->str + stem_len, k->len - stem_len))
                route_named(v, k->str + stem_len, k->len - stem_len);
        }
        freeReplyObject(reply);
        if (strcmp(cursor, "0") == 0)
            break;
    }
    return 0;
}

/* The value of "name:" in an INFO reply, copied into out ("" if absent). */
static const char *info_field(const char *info, const char *name, char *out, size_t cap)
{
    size_t len = strlen(name);
    out[0] = '\0';
    for (const char *p = info; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, name, len) == 0 && p[len] == ':') {
            size_t n = strcspn(p + len + 1, "\r\n");
            snprintf(out, cap, "%.*s", (int)n, p + len + 1);
            break;
        }
    return out;
}

/* The mode the configuration asks for: "sentinel" and "cluster" come from
 * CGICACHE_REDIS's scheme, which INFO of the data node cannot tell. */
static const char *configured_mode(char *master, size_t cap)
{
    const char *url = getenv("CGICACHE_REDIS");
    master[0] = '\0';
    if (url == NULL)
        return NULL;
    if (strncmp(url, "redis-sentinel://", 17) == 0 || strncmp(url, "rediss-sentinel://", 18) == 0) {
        const char *hash = strrchr(url, '#');
        snprintf(master, cap, "%s", hash != NULL ? hash + 1 : "mymaster");
        return "sentinel";
    }
    if (strncmp(url, "redis-cluster://", 16) == 0 || strncmp(url, "rediss-cluster://", 17) == 0)
        return "cluster";
    return NULL;
}

static void human_bytes(long long b, char *out, size_t cap)
{
    static const char units[] = "BKMGTP";
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%lldB", b);
    else
        snprintf(out, cap, "%.1f%c", v, units[u]);
}

static void read_info(top_view *v, const char *info)
{
    char version[32], mode[32], role[32], mhost[256], mport[16], used[32], max[32], evicted[32],
        clients[32], ops[32], link[16], master_name[CC_NAME_MAX];
    info_field(info, "redis_version", version, sizeof version);
    info_field(info, "redis_mode", mode, sizeof mode);
    info_field(info, "role", role, sizeof role);
    info_field(info, "master_host", mhost, sizeof mhost);
    info_field(info, "master_port", mport, sizeof mport);
    info_field(info, "master_link_status", link, sizeof link);
    const char *wanted = configured_mode(master_name, sizeof master_name);
    char where[300];
    if (strcmp(role, "slave") == 0)
        snprintf(where, sizeof where, "replica of %s:%s%s", mhost, mport,
                 strcmp(link, "up") == 0 ? "" : " (link down)");
    else
        snprintf(where, sizeof where, "%s", role[0] != '\0' ? role : "?");
    if (wanted != NULL && strcmp(wanted, "sentinel") == 0)
        snprintf(v->server, sizeof v->server, "redis %s %s  sentinel, master %s  %s", v->addr,
                 version, master_name, where);
    else
        snprintf(v->server, sizeof v->server, "redis %s %s  %s  %s", v->addr, version,
                 mode[0] != '\0' ? mode : (wanted != NULL ? wanted : "standalone"), where);
    long long used_b = atoll(info_field(info, "used_memory", used, sizeof used));
    long long max_b = atoll(info_field(info, "maxmemory", max, sizeof max));
    char hused[16], hmax[16], share[24] = "";
    human_bytes(used_b, hused, sizeof hused);
    if (max_b > 0) {
        human_bytes(max_b, hmax, sizeof hmax);
        snprintf(share, sizeof share, " (%.0f%%)", 100.0 * (double)used_b / (double)max_b);
    } else {
        snprintf(hmax, sizeof hmax, "no limit");
    }
    info_field(info, "evicted_keys", evicted, sizeof evicted);
    info_field(info, "connected_clients", clients, sizeof clients);
    info_field(info, "instantaneous_ops_per_sec", ops, sizeof ops);
    snprintf(v->memory, sizeof v->memory, "memory %s of %s%s  evicted %s  clients %s  ops/s %s",
             hused, hmax, share, evicted[0] ? evicted : "?", clients[0] ? clients : "?",
             ops[0] ? ops : "?");
}

static void lost(top_view *v, const char *why)
{
    char when[16];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&now, &tm));
    if (v->error[0] == '\0' || strstr(v->error, why) == NULL)
        snprintf(v->error, sizeof v->error, "redis %s %s at %s; retrying (numbers as then)",
                 v->addr, why, when);
    if (v->store != NULL) {
        cc_store_close(v->store);
        v->store = NULL;
    }
}

/* One sample: INFO and every route's counters in one round trip.
 * Returns 0, or -1 with v->error set (the last numbers stay). */
static int sample(top_view *v)
{
    if (v->store == NULL) {
        v->store = tool_store(v->cfg);
        if (v->store == NULL) {
            lost(v, "unreachable");
            return -1;
        }
        /* The Redis actually reached: behind Sentinel, the master. */
        tool_peer peer;
        if (tool_store_peer(v->store, &peer) == 0)
            snprintf(v->addr, sizeof v->addr, "%s", peer.text);
    }
    int64_t now = cc_mono_ms();
    /* Until a route is known, every sample looks: top is often started
     * before the traffic it is to show. */
    if (v->discovered_ms == 0 || v->nroutes == 0 || now - v->discovered_ms >= DISCOVER_EVERY_MS) {
        if (discover(v) != 0) {
            lost(v, "connection lost");
            return -1;
        }
        v->discovered_ms = now;
    }
    size_t n = 1 + v->nroutes;
    cc_cmd *cmds = calloc(n, sizeof *cmds);
    redisReply **replies = calloc(n, sizeof *replies);
    char(*keys)[2 * CC_NAME_MAX + 16] = calloc(n, sizeof *keys);
    int rc = -1;
    if (cmds == NULL || replies == NULL || keys == NULL) {
        snprintf(v->error, sizeof v->error, "out of memory");
        goto out;
    }
    cc_cmd_arg(&cmds[0], "INFO", (size_t)-1);
    for (size_t i = 0; i < v->nroutes; i++) {
        cc_stats_key(v->cfg, v->routes[i].name, keys[i + 1], sizeof keys[i + 1]);
        cc_cmd_arg(&cmds[i + 1], "HGETALL", (size_t)-1);
        cc_cmd_arg(&cmds[i + 1], keys[i + 1], (size_t)-1);
    }
    if (cc_store_run(v->store, n, cmds, replies) != 0) {
        lost(v, "connection lost");
        goto out;
    }
    now = cc_mono_ms();
    if (replies[0]->type == REDIS_REPLY_STRING)
        read_info(v, replies[0]->str);
    else
        snprintf(v->memory, sizeof v->memory, "INFO refused: %.200s",
                 replies[0]->type == REDIS_REPLY_ERROR ? replies[0]->str : "?");
    double seconds = v->sampled_ms > 0 ? (double)(now - v->sampled_ms) / 1000.0 : 0;
    for (size_t i = 0; i < v->nroutes; i++) {
        top_route *r = &v->routes[i];
        const redisReply *h = replies[i + 1];
        long long counts[CC_STAT_KINDS] = {0};
        for (size_t f = 0; h->type == REDIS_REPLY_ARRAY && f + 1 < h->elements; f += 2) {
            if (h->element[f]->type != REDIS_REPLY_STRING ||
                h->element[f + 1]->type != REDIS_REPLY_STRING)
                continue;
            for (int k = 0; k < CC_STAT_KINDS; k++)
                if (strcmp(h->element[f]->str, cc_stat_names[k]) == 0)
                    counts[k] = strtoll(h->element[f + 1]->str, NULL, 10);
        }
        /* A --reset in between makes counts go down: that interval starts at zero. */
        bool was = v->sampled_ms > 0;
        memcpy(r->prev, was ? r->now : counts, sizeof r->prev);
        for (int k = 0; k < CC_STAT_KINDS; k++)
            if (counts[k] < r->prev[k])
                r->prev[k] = 0;
        r->has_prev = was;
        memcpy(r->now, counts, sizeof r->now);
        long long d[CC_STAT_KINDS] = {0};
        for (int k = 0; k < CC_STAT_KINDS; k++)
            d[k] = r->now[k] - r->prev[k];
        long long served = d[CC_STAT_HIT] + d[CC_STAT_STALE], lookups = served + d[CC_STAT_MISS];
        long long requests = lookups + d[CC_STAT_BYPASS] + d[CC_STAT_NO_CACHE];
        r->rate = seconds > 0 ? (double)requests / seconds : 0;
        r->ratio = lookups > 0 ? (double)served / (double)lookups : NAN;
    }
    v->prev_ms = v->sampled_ms;
    v->sampled_ms = now;
    v->error[0] = '\0';
    rc = 0;
out:
    if (replies != NULL && rc == 0)
        cc_store_free_replies(n, replies);
    free(cmds);
    free(replies);
    free(keys);
    return rc;
}

/* ---- the frame ------------------------------------------------------------ */

static long long requests_of(const long long c[CC_STAT_KINDS])
{
    return c[CC_STAT_HIT] + c[CC_STAT_STALE] + c[CC_STAT_MISS] + c[CC_STAT_BYPASS] +
           c[CC_STAT_NO_CACHE];
}

/* Busiest first: requests per second, then all requests, then the name. */
static int by_traffic(const void *a, const void *b)
{
    const top_route *x = a, *y = b;
    if (x->rate != y->rate)
        return x->rate < y->rate ? 1 : -1;
    long long rx = requests_of(x->now), ry = requests_of(y->now);
    if (rx != ry)
        return rx < ry ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* The columns, and which go first when the terminal is narrow (the
 * highest drop number first; 0 never goes). */
typedef enum {
    COL_REQS,
    COL_HIT,
    COL_NEAR,
    COL_MISS,
    COL_STALE,
    COL_BYPASS,
    COL_STORE,
    COL_STORE_ERROR,
    COL_RATIO,
    NCOLS
} column;
static const struct {
    const char *title;
    int width;
    int drop;
    int stat;  /* the counter shown, or -1 */
} columns[NCOLS] = {
    [COL_REQS] = {"req/s", 7, 0, -1},
    [COL_HIT] = {"hit", 8, 0, CC_STAT_HIT},
    [COL_NEAR] = {"near", 8, 5, CC_STAT_NEAR},
    [COL_MISS] = {"miss", 8, 0, CC_STAT_MISS},
    [COL_STALE] = {"stale", 7, 4, CC_STAT_STALE},
    [COL_BYPASS] = {"bypass", 7, 3, CC_STAT_BYPASS},
    [COL_STORE] = {"store", 8, 2, CC_STAT_STORE},
    [COL_STORE_ERROR] = {"st_err", 7, 1, CC_STAT_STORE_ERROR},
    [COL_RATIO] = {"hit%", 7, 0, -1},
};

/* A count in width characters: 1234567 as 1.23M when it does not fit. */
static void fmt_count(char *out, size_t cap, long long v, int width)
{
    int n = snprintf(out, cap, "%lld", v);
    static const char suffix[] = "kMGTP";
    double d = (double)v;
    for (int s = 0; n >= width && s < 5; s++) {
        d /= 1000;
        n = snprintf(out, cap, "%.*f%c", d < 10 ? 2 : d < 100 ? 1 : 0, d, suffix[s]);
    }
}

typedef struct {
    char lines[TOP_LINES_MAX][TOP_LINE_MAX];
    int n;
} frame;

static void line(frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(frame *f, const char *fmt, ...)
{
    if (f->n == TOP_LINES_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->lines[f->n++], TOP_LINE_MAX, fmt, ap);
    va_end(ap);
}

/* Builds the frame for a terminal cols wide (0: as wide as it takes). */
static void render(top_view *v, frame *f, int cols, double interval_s)
{
    f->n = 0;
    char when[16];
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&t, &tm));
    line(f, "cgicache top %s  %s  every %gs%s", CGICACHE_VERSION, when, interval_s,
         cols > 0 ? "  q quits" : "");
    if (v->error[0] != '\0')
        line(f, "%s", v->error);
    else
        line(f, "%s", v->server);
    line(f, "%s", v->memory);

    qsort(v->routes, v->nroutes, sizeof v->routes[0], by_traffic);
    double total_rate = 0;
    long long served = 0, lookups = 0;
    for (size_t i = 0; i < v->nroutes; i++) {
        const top_route *r = &v->routes[i];
        total_rate += r->rate;
        long long s = (r->now[CC_STAT_HIT] - r->prev[CC_STAT_HIT]) +
                      (r->now[CC_STAT_STALE] - r->prev[CC_STAT_STALE]);
        served += s;
        lookups += s + r->now[CC_STAT_MISS] - r->prev[CC_STAT_MISS];
    }
    char ratio[16] = "-";
    if (lookups > 0)
        snprintf(ratio, sizeof ratio, "%.1f%%", 100.0 * (double)served / (double)lookups);
    if (v->prev_ms > 0)
        line(f, "%zu route(s)  %.1f req/s  hit ratio %s  (over the last %.1fs; counts since reset)",
             v->nroutes, total_rate, ratio, (double)(v->sampled_ms - v->prev_ms) / 1000.0);
    else
        line(f, "%zu route(s)  (rates from the next frame; counts since reset)", v->nroutes);
    line(f, "%s", "");

    /* Which columns fit: the route name keeps at least 8 characters. */
    bool shown[NCOLS];
    int name_width = 5;
    for (size_t i = 0; i < v->nroutes; i++)
        if ((int)strlen(v->routes[i].name) > name_width)
            name_width = (int)strlen(v->routes[i].name);
    int used = 0;
    for (int c = 0; c < NCOLS; c++) {
        shown[c] = true;
        used += columns[c].width;
    }
    if (cols > 0) {
        for (int drop = 5; drop >= 1 && used + 8 > cols; drop--)
            for (int c = 0; c < NCOLS; c++)
                if (columns[c].drop == drop && shown[c]) {
                    shown[c] = false;
                    used -= columns[c].width;
                }
        if (name_width > cols - used)
            name_width = cols - used > 5 ? cols - used : 5;
    }
    char *l = f->lines[f->n];
    int o = snprintf(l, TOP_LINE_MAX, "%-*.*s", name_width, name_width, "route");
    for (int c = 0; c < NCOLS; c++)
        if (shown[c])
            o += snprintf(l + o, TOP_LINE_MAX - (size_t)o, "%*s", columns[c].width,
                          columns[c].title);
    f->n++;
    for (size_t i = 0; i < v->nroutes && f->n < TOP_LINES_MAX; i++) {
        const top_route *r = &v->routes[i];
        l = f->lines[f->n++];
        o = snprintf(l, TOP_LINE_MAX, "%-*.*s", name_width, name_width, r->name);
        for (int c = 0; c < NCOLS && o < TOP_LINE_MAX; c++) {
            if (!shown[c])
                continue;
            char cell[32];
            if (c == COL_REQS)
                snprintf(cell, sizeof cell, "%.1f", r->rate);
            else if (c == COL_RATIO)
                snprintf(cell, sizeof cell, isnan(r->ratio) ? "-" : "%.1f%%", 100 * r->ratio);
            else
                fmt_count(cell, sizeof cell, r->now[columns[c].stat], columns[c].width);
            o += snprintf(l + o, TOP_LINE_MAX - (size_t)o, "%*s", columns[c].width, cell);
        }
    }
    if (v->nroutes == 0)
        line(f, "(no counters yet: set CGICACHE_ROUTE_<name>, or wait for a worker's first "
                "request)");
}

/* A frame on the terminal: from the top left, each line cut to the width
 * and cleared to its end, the rest of the screen cleared. */
static void draw(const frame *f, int cols, int rows)
{
    fputs("\033[H", stdout);
    int shown = f->n < rows ? f->n : rows;
    for (int i = 0; i < shown; i++) {
        bool last = i == shown - 1;
        if (last && f->n > rows) {
            char more[80];
            snprintf(more, sizeof more, "... %d more line(s): a taller terminal shows them",
                     f->n - rows + 1);
            printf("%.*s\033[K", cols, more);
            break;
        }
        printf("%.*s\033[K%s", cols, f->lines[i], last ? "" : "\r\n");
    }
    fputs("\033[J", stdout);
    fflush(stdout);
}

static void print_plain(const frame *f)
{
    for (int i = 0; i < f->n; i++)
        printf("%s\n", f->lines[i]);
}

static void addr_of(const cc_config *cfg, char *out, size_t cap)
{
    if (cfg->redis.kind == CC_REDIS_UNIX)
        snprintf(out, cap, "unix:%s", cfg->redis.path);
    else
        snprintf(out, cap, "%s%s%s:%d", strchr(cfg->redis.host, ':') ? "[" : "", cfg->redis.host,
                 strchr(cfg->redis.host, ':') ? "]" : "", cfg->redis.port);
}

static void help(void)
{
    printf("usage: cgicache top [--once] [--interval SECONDS]\n\n"
           "A live view of the cache, refreshed every second (--interval): per route\n"
           "(busiest first) the requests per second and the hit ratio over the last\n"
           "interval, and the hit, near hit, miss, stale, bypass, store and store error\n"
           "counts of every worker since the last `stats --reset`; above them Redis's\n"
           "memory against maxmemory, evictions, clients, its mode and master.  Routes\n"
           "are those configured here and those whose counters are in Redis.\n"
           "q quits.  Not on a terminal, frames are printed one after another as plain\n"
           "text; --once prints one frame (its rates measured over one interval).\n"
           "Exit status 1 when Redis cannot be reached.\n");
}

int cmd_top(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    bool once = false;
    double interval = 1.0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--once") == 0) {
            once = true;
        } else if ((strcmp(argv[i], "--interval") == 0 || strcmp(argv[i], "-d") == 0) &&
                   i + 1 < argc) {
            interval = strtod(argv[++i], &end);
            if (end == argv[i] || *end != '\0' || !(interval >= 0.1 && interval <= 3600)) {
                fprintf(stderr, "cgicache top: --interval wants seconds, 0.1 to 3600\n");
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "cgicache top: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    cc_config *cfg = tool_config();
    top_view *v = calloc(1, sizeof *v);
    frame *f = calloc(1, sizeof *f);
    if (v == NULL || f == NULL) {
        fprintf(stderr, "cgicache top: out of memory\n");
        free(v);
        free(f);
        cc_config_free(cfg);
        return EXIT_PROBLEM;
    }
    v->cfg = cfg;
    addr_of(cfg, v->addr, sizeof v->addr);
    for (size_t i = 0; i < cfg->nroutes; i++)
        route_named(v, cfg->routes[i].name, strlen(cfg->routes[i].name));
    int rc = EXIT_OK;
    if (!cfg->enabled || sample(v) != 0) {
        if (!cfg->enabled)
            fprintf(stderr, "cgicache top: caching is disabled (CGICACHE_ENABLE=0 or a bad "
                            "CGICACHE_REDIS)\n");
        else
            fprintf(stderr, "cgicache top: cannot reach redis at %s\n", v->addr);
        rc = EXIT_PROBLEM;
        goto out;
    }
    int interval_ms = (int)(interval * 1000);
    if (once) {
        usleep((useconds_t)interval_ms * 1000);
        if (sample(v) != 0) {
            fprintf(stderr, "cgicache top: lost redis at %s\n", v->addr);
            rc = EXIT_PROBLEM;
            goto out;
        }
        render(v, f, 0, interval);
        print_plain(f);
        goto out;
    }
    bool screen = term_enter() == 0;
    int64_t next = cc_mono_ms();
    while (!term_quit) {
        int cols = 0, rows = 0;
        if (screen) {
            term_size(&cols, &rows);
            render(v, f, cols, interval);
            draw(f, cols, rows);
        } else {
            render(v, f, 0, interval);
            print_plain(f);
            printf("\n");
            if (fflush(stdout) != 0)
                break;  /* the reader went away */
        }
        next += interval_ms;
        /* Keys (and a resize) until the next sample is due. */
        for (;;) {
            int64_t left = next - cc_mono_ms();
            if (term_quit || left <= 0)
                break;
            if (!screen) {
                usleep((useconds_t)left * 1000);
                continue;
            }
            int key = term_key((int)left);
            if (key == 'q' || key == 'Q' || key < 0)
                term_quit = true;
            if (term_stop)
                term_suspend();
            if (term_resized) {
                term_resized = false;
                term_size(&cols, &rows);
                render(v, f, cols, interval);
                draw(f, cols, rows);
            }
        }
        if (cc_mono_ms() - next > interval_ms)
            next = cc_mono_ms();  /* a long stall (Redis timing out): no catching up */
        if (!term_quit)
            sample(v);
    }
    if (screen)
        term_leave();
out:
    if (v->store != NULL)
        cc_store_close(v->store);
    free(v);
    free(f);
    cc_config_free(cfg);
    return rc;
}
