/* check_all.c -- `cgicache check --all [--json]`: is the cache working on
 * this host?
 *
 * Every process that has the library (procs.c) is judged as the library
 * in it sees things: its configuration is read from the process's own
 * initial environment by the library's own code (cc_config_load), its
 * Redis is pinged, its route counters read, and its adapter told from
 * what it maps and does (libfcgi mapped: libfcgi; a CGI request in its
 * environment: cgi; a listening socket without libfcgi: the wire
 * adapter).  Whether it has answered requests through the cache is read
 * from its sockets: the library connects to Redis on the first request
 * to a route, so an established connection from this process to its
 * Redis says yes, and Redis's CLIENT LIST says how long ago it last
 * spoke.  A process that serves nothing itself (spawn-fcgi, a shell: they
 * pass the library on to the app they start) is listed as a launcher.
 *
 * Exit status 1 when no process has the library, or one that serves has a
 * problem: a configuration error, caching disabled, no route, Redis
 * unreachable, a library replaced on disk since it was loaded (restart
 * it), or LD_PRELOAD naming the library where ld.so did not load it. */
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "procs.h"
#include "stats.h"
#include "store.h"
#include "tool.h"

#define PEERS_MAX 16

typedef struct {
    const proc_info *p;
    cc_config *cfg;
    const char *adapter;
    const char *adapter_why;
    bool server;                /* answers requests itself (not a launcher) */
    char version[32];           /* of the library file it mapped */
    bool reachable;
    size_t nconns;              /* its connections to its Redis */
    long long idle;             /* seconds since one of them last spoke; -1 unknown */
    char answered[160];
    char problems[512];
    char counters[512];         /* its routes' counters, in a line */
    char reached[128];          /* where the tool's connection to its Redis leads */
} verdict;

static void problem(verdict *v, const char *what)
{
    size_t o = strlen(v->problems);
    snprintf(v->problems + o, sizeof v->problems - o, "%s%s", o ? "; " : "", what);
}

/* The version the library file holds ("libcgicache version X"). */
static void library_version(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "?");
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    static const char tag[] = "libcgicache version ";
    char buf[65536 + 64];
    size_t keep = 0, n;
    while ((n = fread(buf + keep, 1, sizeof buf - keep - 1, f)) > 0) {
        size_t len = keep + n;
        buf[len] = '\0';
        const char *hit = memmem(buf, len, tag, sizeof tag - 1);
        if (hit != NULL && (size_t)(hit - buf) + sizeof tag + 16 <= len) {
            snprintf(out, cap, "%.16s", hit + sizeof tag - 1);
            out[strcspn(out, " \n")] = '\0';
            break;
        }
        keep = len < 64 ? len : 64;
        memmove(buf, buf + len - keep, keep);
    }
    fclose(f);
}

/* A child of p's in the list, listening on p's own socket: then p only
 * starts and watches the processes that answer (the php-fpm master,
 * multiwatch, a prefork script). */
static bool serves_through_children(const proc_info *p, const proc_info *all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (all[i].ppid == p->pid && all[i].listening == p->listening)
            return true;
    return false;
}

static void judge_adapter(verdict *v, const proc_info *all, size_t n)
{
    const proc_info *p = v->p;
    v->server = true;
    if (p->libfcgi) {
        v->adapter = "libfcgi";
        v->adapter_why = "libfcgi is loaded: its accept calls are followed";
    } else if (proc_getenv(p, "GATEWAY_INTERFACE") != NULL &&
               proc_getenv(p, "REQUEST_METHOD") != NULL) {
        v->adapter = "cgi";
        v->adapter_why = "a CGI request in its environment";
    } else if (p->listening != 0 && serves_through_children(p, all, n)) {
        v->adapter = "launcher";
        v->adapter_why = "its children answer on its listening socket";
        v->server = false;
    } else if (p->listening != 0) {
        v->adapter = "wire";
        v->adapter_why = "a server without libfcgi: FastCGI records on the connections it accepts";
    } else {
        v->adapter = "launcher";
        v->adapter_why = "serves nothing itself; passes the library on to what it starts";
        v->server = false;
    }
}

/* The numeric addresses of the configured Redis host. */
static size_t resolve(const char *host, char ips[][64], size_t max)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    size_t n = 0;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return 0;
    for (struct addrinfo *a = res; a != NULL && n < max; a = a->ai_next)
        if (getnameinfo(a->ai_addr, a->ai_addrlen, ips[n], 64, NULL, 0, NI_NUMERICHOST) == 0)
            n++;
    freeaddrinfo(res);
    return n;
}

/* Its connections to Redis and, from CLIENT LIST, how long since one spoke.
 * The Redis is the one the tool's own connection reached (behind
 * Sentinel, the master), and for TCP also every address of the
 * configured host (the app may have reached it by another). */
static void judge_requests(verdict *v, cc_store *s)
{
    const cc_redis_addr *r = &v->cfg->redis;
    v->idle = -1;
    if (v->p->private) {
        snprintf(v->answered, sizeof v->answered, "unknown (its sockets need root to read)");
        return;
    }
    tool_peer peer;
    if (s == NULL || tool_store_peer(s, &peer) != 0) {
        snprintf(v->answered, sizeof v->answered, "unknown (its Redis cannot be reached)");
        return;
    }
    snprintf(v->reached, sizeof v->reached, "%s", peer.text);
    char local[PEERS_MAX][64];
    if (peer.path[0] != '\0') {
        /* Redis's CLIENT LIST names no peer of a unix connection: no idle. */
        v->nconns = proc_unix_peers(v->p, peer.path);
        if (v->nconns > 0)
            snprintf(v->answered, sizeof v->answered, "yes: %zu connection(s) to Redis", v->nconns);
        else
            snprintf(v->answered, sizeof v->answered,
                     "not yet: no connection to Redis (made on the first request to a route)");
        return;
    }
    char ips[8][64];
    const char *ipv[9];
    size_t nips = r->kind == CC_REDIS_TCP && r->host[0] != '\0' ? resolve(r->host, ips, 8) : 0;
    for (size_t i = 0; i < nips; i++)
        ipv[i] = ips[i];
    ipv[nips++] = peer.ip;
    v->nconns = proc_tcp_peers(v->p, ipv, nips, peer.port, local, PEERS_MAX);
    if (v->nconns == 0) {
        snprintf(v->answered, sizeof v->answered,
                 "not yet: no connection to Redis (made on the first request to a route)");
        return;
    }
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "CLIENT", (size_t)-1);
    cc_cmd_arg(&cmd, "LIST", (size_t)-1);
    redisReply *reply = cc_store_command(s, &cmd);
    for (char *save = NULL, *l = reply != NULL && reply->type == REDIS_REPLY_STRING
                                     ? strtok_r(reply->str, "\n", &save)
                                     : NULL;
         l != NULL; l = strtok_r(NULL, "\n", &save)) {
        const char *addr = strstr(l, " addr="), *idle = strstr(l, " idle=");
        if (addr == NULL || idle == NULL)
            continue;
        addr += 6;
        size_t alen = strcspn(addr, " ");
        for (size_t i = 0; i < v->nconns; i++)
            if (strlen(local[i]) == alen && strncmp(local[i], addr, alen) == 0) {
                long long sec = atoll(idle + 6);
                if (v->idle < 0 || sec < v->idle)
                    v->idle = sec;
            }
    }
    if (reply != NULL)
        freeReplyObject(reply);
    if (v->idle >= 0)
        snprintf(v->answered, sizeof v->answered,
                 "yes: %zu connection(s) to Redis, the last command %llds ago", v->nconns, v->idle);
    else
        snprintf(v->answered, sizeof v->answered, "yes: %zu connection(s) to Redis", v->nconns);
}

static void read_counters(verdict *v, cc_store *s)
{
    size_t o = 0;
    for (size_t i = 0; i < v->cfg->nroutes && s != NULL; i++) {
        char key[2 * CC_NAME_MAX + 16];
        cc_stats_key(v->cfg, v->cfg->routes[i].name, key, sizeof key);
        cc_cmd cmd = {0};
        cc_cmd_arg(&cmd, "HGETALL", (size_t)-1);
        cc_cmd_arg(&cmd, key, (size_t)-1);
        redisReply *reply = cc_store_command(s, &cmd);
        long long c[CC_STAT_KINDS] = {0};
        for (size_t f = 0;
             reply != NULL && reply->type == REDIS_REPLY_ARRAY && f + 1 < reply->elements; f += 2)
            for (int k = 0; k < CC_STAT_KINDS; k++)
                if (reply->element[f]->type == REDIS_REPLY_STRING &&
                    reply->element[f + 1]->type == REDIS_REPLY_STRING &&
                    strcmp(reply->element[f]->str, cc_stat_names[k]) == 0)
                    c[k] = atoll(reply->element[f + 1]->str);
        if (reply != NULL)
            freeReplyObject(reply);
        if (o < sizeof v->counters)
            o += (size_t)snprintf(v->counters + o, sizeof v->counters - o,
                                  "%s%s %lld hit %lld miss %lld stale %lld bypass", i ? ", " : "",
                                  v->cfg->routes[i].name, c[CC_STAT_HIT], c[CC_STAT_MISS],
                                  c[CC_STAT_STALE], c[CC_STAT_BYPASS]);
    }
}

static void judge(verdict *v, const proc_info *p, const proc_info *all, size_t n)
{
    memset(v, 0, sizeof *v);
    v->p = p;
    judge_adapter(v, all, n);
    if (p->library[0] != '\0')
        library_version(p->library, v->version, sizeof v->version);
    /* The configuration as the library read it: its initial environment. */
    static char *empty_env[] = {NULL};
    v->cfg = tool_config_from(p->env != NULL ? p->env : empty_env);
    if (p->library[0] == '\0') {
        problem(v, "LD_PRELOAD names libcgicache but it is not loaded (a static or setuid "
                   "program, or a path that does not exist)");
        v->server = true;
    }
    if (p->library_deleted)
        problem(v, "its library was replaced on disk since it started: restart it to run the "
                   "installed version");
    if (p->private)
        problem(v, "its environment and sockets are not readable: run as root (or as its user)");
    size_t errors = 0;
    for (size_t i = 0; i < v->cfg->nproblems; i++)
        if (!v->cfg->problems[i].warning) {
            errors++;
            char line[400];
            snprintf(line, sizeof line, "%s: %s", v->cfg->problems[i].variable,
                     v->cfg->problems[i].message);
            problem(v, line);
        }
    if (!v->server)
        return;
    if (!v->cfg->enabled && !p->private && errors == 0)
        problem(v, "caching is disabled (CGICACHE_ENABLE=0 or a bad CGICACHE_REDIS)");
    if (v->cfg->nroutes == 0 && !p->private)
        problem(v, "no routes: nothing is cached (CGICACHE_ROUTE_<name>)");
    cc_store *s = NULL;
    if (v->cfg->enabled && !p->private) {
        s = tool_store(v->cfg);
        cc_cmd cmd = {0};
        cc_cmd_arg(&cmd, "PING", (size_t)-1);
        redisReply *reply = s != NULL ? cc_store_command(s, &cmd) : NULL;
        v->reachable = reply != NULL && reply->type == REDIS_REPLY_STATUS;
        if (reply != NULL)
            freeReplyObject(reply);
        if (!v->reachable)
            problem(v, "its Redis cannot be reached: every request is answered by the app, "
                       "uncached");
    }
    judge_requests(v, v->reachable ? s : NULL);
    if (v->reachable)
        read_counters(v, s);
    if (s != NULL)
        cc_store_close(s);
}

/* The Redis reached (behind Sentinel, the master), else the configured one. */
static void redis_text(const verdict *v, char *out, size_t cap)
{
    const cc_config *cfg = v->cfg;
    if (v->reached[0] != '\0')
        snprintf(out, cap, "%s", v->reached);
    else if (cfg->redis.kind == CC_REDIS_UNIX)
        snprintf(out, cap, "unix:%s", cfg->redis.path);
    else if (cfg->redis.host[0] != '\0')
        snprintf(out, cap, "%s:%d", cfg->redis.host, cfg->redis.port);
    else
        snprintf(out, cap, "(as CGICACHE_REDIS names it)");
}

static void print_text(const verdict *v)
{
    const proc_info *p = v->p;
    char redis[400];
    redis_text(v, redis, sizeof redis);
    printf("pid %d  %s  (%s)  uid %u\n", p->pid, p->comm, p->cmdline, p->uid);
    printf("  library    %s%s%s%s\n", p->library[0] ? p->library : "(not loaded)",
           !p->library[0]                 ? ""
           : strcmp(v->version, "?") == 0 ? " (no version in the file: older than 0.9.0)"
                                          : " ",
           strcmp(v->version, "?") == 0 ? "" : v->version, p->library_deleted ? " (deleted)" : "");
    printf("  adapter    %s: %s\n", v->adapter, v->adapter_why);
    if (v->server) {
        printf("  routes    ");
        for (size_t i = 0; i < v->cfg->nroutes; i++)
            printf(" %s (%s)", v->cfg->routes[i].name, v->cfg->routes[i].pattern);
        printf("%s\n", v->cfg->nroutes == 0 ? " none" : "");
        if (v->cfg->enabled)
            printf("  redis      %s %s\n", redis, v->reachable ? "PONG" : "unreachable");
        else
            printf("  redis      (caching disabled)\n");
        printf("  answered   %s\n", v->answered);
        if (v->counters[0] != '\0')
            printf("  counters   %s\n", v->counters);
    }
    printf("  verdict    %s%s\n",
           v->problems[0] ? "PROBLEM: "
           : v->server    ? "ok"
                          : "launcher",
           v->problems);
}

static void print_json(json_writer *j, const verdict *v)
{
    const proc_info *p = v->p;
    char redis[400];
    redis_text(v, redis, sizeof redis);
    json_object_begin(j);
    json_key(j, "pid");
    json_int(j, p->pid);
    json_key(j, "ppid");
    json_int(j, p->ppid);
    json_key(j, "uid");
    json_uint(j, p->uid);
    json_key(j, "name");
    json_string(j, p->comm);
    json_key(j, "cmdline");
    json_string(j, p->cmdline);
    json_key(j, "exe");
    json_string(j, p->exe[0] ? p->exe : NULL);
    json_key(j, "library");
    json_string(j, p->library[0] ? p->library : NULL);
    json_key(j, "library_version");
    json_string(j, v->version[0] && strcmp(v->version, "?") != 0 ? v->version : NULL);
    json_key(j, "adapter");
    json_string(j, v->adapter);
    json_key(j, "serves");
    json_bool(j, v->server);
    json_key(j, "routes");
    json_array_begin(j);
    for (size_t i = 0; i < v->cfg->nroutes; i++)
        json_string(j, v->cfg->routes[i].name);
    json_array_end(j);
    json_key(j, "redis");
    json_string(j, redis);
    json_key(j, "redis_reachable");
    json_bool(j, v->reachable);
    json_key(j, "redis_connections");
    json_uint(j, v->nconns);
    json_key(j, "answered");
    json_bool(j, v->nconns > 0);
    json_key(j, "answered_detail");
    json_string(j, v->answered);
    json_key(j, "idle_seconds");
    if (v->idle >= 0)
        json_int(j, v->idle);
    else
        json_null(j);
    json_key(j, "problems");
    json_string(j, v->problems[0] ? v->problems : NULL);
    json_key(j, "ok");
    json_bool(j, v->problems[0] == '\0');
    json_object_end(j);
}

int check_all(bool json)
{
    proc_info *procs = NULL;
    size_t n = procs_find(&procs);
    int status = n == 0 ? EXIT_PROBLEM : EXIT_OK;
    size_t working = 0, servers = 0, troubled = 0;
    json_writer j;
    if (json) {
        json_begin(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "processes");
        json_array_begin(&j);
    }
    for (size_t i = 0; i < n; i++) {
        verdict v;
        judge(&v, &procs[i], procs, n);
        servers += v.server;
        troubled += v.problems[0] != '\0';
        working += v.server && v.problems[0] == '\0' && v.nconns > 0;
        if (v.problems[0] != '\0')
            status = EXIT_PROBLEM;
        if (json)
            print_json(&j, &v);
        else
            print_text(&v);
        cc_config_free(v.cfg);
    }
    if (json) {
        json_array_end(&j);
        json_key(&j, "ok");
        json_bool(&j, status == EXIT_OK);
        json_object_end(&j);
        if (json_end(&j) != 0)
            status = EXIT_PROBLEM;
    } else if (n == 0) {
        printf("no process on this host has libcgicache loaded or named in LD_PRELOAD\n");
    } else {
        printf("\n%zu process(es) with libcgicache: %zu serving, %zu answered through the cache, "
               "%zu with problems\n",
               n, servers, working, troubled);
    }
    procs_free(procs, n);
    return status;
}
