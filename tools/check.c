/* check.c -- `cgicache check`: what the library will do with this
 * environment.
 *
 * The configuration is read by the library's own code (cc_config_load),
 * so every problem reported here is one the library would log at load.
 * Then Redis is pinged with the library's own connection code, and its
 * eviction policy read: one that may evict keys without an expiry (the
 * route generations) is worth a warning, not a failure.  Given a program
 * (and the arguments it will run with), says whether anything it serves
 * will be cached, and why (program.c).  --all looks at the running
 * processes instead (check_all.c). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "json.h"
#include "program.h"
#include "store.h"
#include "tool.h"

static const char *compress_name(cc_compress_mode m)
{
    return m == CC_COMPRESS_ALL ? "all" : m == CC_COMPRESS_OFF ? "off" : "smart";
}

static void print_methods(FILE *out, unsigned methods)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    int first = 1;
    char line[64] = "";
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (methods & (1u << i)) {
            strcat(line, first ? "" : ",");
            strcat(line, names[i]);
            first = 0;
        }
    fprintf(out, "%-16s", line);
}

/* Every global setting as it is in force, from the library's own table:
 * the names and values a user would write. */
static void print_settings(FILE *out, const cc_config *cfg)
{
    fprintf(out, "%-26s %s\n", "enabled", cfg->enabled ? "yes" : "no");
    for (size_t i = 0; i < cc_nsettings; i++) {
        const cc_setting *s = &cc_settings[i];
        char value[512];
        if (s->kind == CC_SET_NONE)
            continue;
        cc_setting_format(cfg, s, value, sizeof value);
        fprintf(out, "%-26s %s\n", s->name, value[0] != '\0' ? value : "(none)");
    }
}

static void print_routes(FILE *out, const cc_config *cfg)
{
    fprintf(out, "\n%-16s %-16s %-24s %-10s %-10s %s\n", "route", "methods", "pattern", "ttl",
            "stale", "options");
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const cc_route *rt = &cfg->routes[i];
        fprintf(out, "%-16s ", rt->name);
        print_methods(out, rt->methods);
        fprintf(out, " %-24s %-10lld %-10lld", rt->pattern, (long long)rt->ttl_ms,
                (long long)rt->stale_ms);
        fprintf(out, " query=%s",
                rt->query == CC_QUERY_ALL    ? "all"
                : rt->query == CC_QUERY_NONE ? "none"
                                             : "list");
        for (size_t v = 0; v < rt->nvary; v++)
            fprintf(out, "%s%s", v ? "," : " vary=", rt->vary[v].http);
        fprintf(out, " compress=%s lock=%s cookies=%s", compress_name(rt->compress),
                rt->lock ? "on" : "off", rt->cookies_ignore ? "ignore" : "bypass");
        if (rt->stale_if_error_ms > 0)
            fprintf(out, " stale-if-error=%lld", (long long)rt->stale_if_error_ms);
        fprintf(out, " pass=%lld", (long long)rt->pass_ms);
        if (rt->min_uses > 1)
            fprintf(out, " min-uses=%u", rt->min_uses);
        for (size_t v = 0; v < rt->ninvalidates; v++)
            fprintf(out, "%s%s", v ? "," : " invalidates=", rt->invalidates[v]);
        fprintf(out, "\n");
    }
    if (cfg->nroutes == 0)
        fprintf(out, "(no routes: set CGICACHE_ROUTE_<name>='GET /path/* ttl=60')\n");
}

/* What an eviction policy may take from cgicache, when that is more than
 * entries and the other keys that have an expiry (README, "Redis memory");
 * NULL when it is safe. */
static const char *policy_risk(const char *policy)
{
    if (strncmp(policy, "allkeys-", 8) == 0)
        return "may evict purge generations and locks: a purged page is still never served, "
               "but a route turns cold at once and stampede locks can lapse; "
               "noeviction or a volatile-* policy is safe";
    return NULL;
}

/* Reads maxmemory and maxmemory-policy into policy ("" when CONFIG GET is
 * refused: renamed, or not allowed to this user) and reports them. */
static void memory_policy(FILE *out, cc_store *s, char *policy, size_t cap)
{
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "CONFIG", (size_t)-1);
    cc_cmd_arg(&cmd, "GET", (size_t)-1);
    cc_cmd_arg(&cmd, "maxmemory*", (size_t)-1);
    redisReply *reply = cc_store_command(s, &cmd);
    const char *limit = NULL;
    policy[0] = '\0';
    for (size_t i = 0; reply != NULL && reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements;
         i += 2) {
        const redisReply *name = reply->element[i], *value = reply->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(name->str, "maxmemory-policy") == 0)
            snprintf(policy, cap, "%s", value->str);
        else if (strcmp(name->str, "maxmemory") == 0)
            limit = value->str;
    }
    if (policy[0] == '\0')
        fprintf(out, "memory         maxmemory-policy unknown (CONFIG GET refused%s%s)\n",
                reply != NULL && reply->type == REDIS_REPLY_ERROR ? ": " : "",
                reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    else
        fprintf(out, "memory         maxmemory %s%s, maxmemory-policy %s\n",
                limit != NULL ? limit : "?",
                limit != NULL && strcmp(limit, "0") == 0 ? " (no limit)" : "", policy);
    if (reply != NULL)
        freeReplyObject(reply);
}

static int ping(FILE *out, const cc_config *cfg, char *policy, size_t cap, cc_store_peer *peer)
{
    policy[0] = '\0';
    memset(peer, 0, sizeof *peer);
    if (!cfg->enabled)
        return 0;
    cc_store *s = cc_store_open(cfg);
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "PING", (size_t)-1);
    redisReply *reply = s != NULL ? cc_store_command(s, &cmd) : NULL;
    int ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    fprintf(out, "\nredis          %s\n",
            ok ? "PONG" : "unreachable (requests will be answered by the app, uncached)");
    cc_store_peer_of(s, peer);
    if (ok)
        fprintf(out, "redis mode     %s\nredis node     %s\nredis tls      %s\n", peer->mode,
                peer->node, peer->tls[0] != '\0' ? peer->tls : "no");
    if (ok)
        memory_policy(out, s, policy, cap);
    if (reply != NULL)
        freeReplyObject(reply);
    cc_store_close(s);
    return ok;
}

static const char *kind_name(prog_kind k)
{
    return k == PROG_LIBFCGI ? "libfcgi" : k == PROG_WIRE ? "wire" : k == PROG_CGI ? "cgi" : "none";
}

int cmd_check(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: cgicache check [--json] [--] [PROGRAM [ARG...]]\n"
               "       cgicache check --all [--json]\n\n"
               "Reads CGICACHE_* from the environment (and CGICACHE_CONFIG) as the library\n"
               "does, prints the effective settings and routes, reports every problem,\n"
               "pings Redis and shows its maxmemory-policy (a warning for allkeys-*).\n"
               "Given PROGRAM and the arguments it will run with, says what\n"
               "will be cached, and by which adapter: libfcgi (an app linking libfcgi),\n"
               "wire (a FastCGI server with its own code: php-fpm, php-cgi -b, flup ...),\n"
               "cgi (cached when a web server runs it as CGI), or none (static or setuid:\n"
               "LD_PRELOAD never reaches it), and why.\n"
               "`spawn-fcgi ... -- APP ARGS` judges APP as a FastCGI server.\n"
               "--all checks this host instead: every running process that has the\n"
               "library (its memory maps, or LD_PRELOAD), with the configuration it\n"
               "started with, its routes, adapter, Redis, and whether it has answered\n"
               "requests through the cache (a connection of its own to Redis); root sees\n"
               "every user's processes.\n"
               "Exit status 1 when anything is wrong or nothing would be cached (--all:\n"
               "no process has the library, or one has a problem).\n");
        return EXIT_OK;
    }
    /* Options come first; PROGRAM and everything after it are the
     * program's own argument list (its -b must not be taken for ours). */
    int json = 0, all = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--all") == 0) {
            all = 1;
            continue;
        }
        if (strcmp(argv[i], "--json") != 0) {
            fprintf(stderr, "cgicache check: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
        json = 1;
    }
    if (all) {
        if (i < argc) {
            fprintf(stderr, "cgicache check: --all takes no program\n");
            return EXIT_USAGE;
        }
        return check_all(json);
    }
    char **program = i < argc ? argv + i : NULL;
    int program_argc = argc - i;
    cc_config *cfg = tool_config();
    /* With --json the human report is still written, to nowhere. */
    FILE *out = json ? fopen("/dev/null", "w") : stdout;
    if (out == NULL)
        out = stdout;
    print_settings(out, cfg);
    print_routes(out, cfg);
    int errors = 0;
    for (size_t i = 0; i < cfg->nproblems; i++) {
        const cc_problem *p = &cfg->problems[i];
        if (!json)
            fprintf(stderr, "%s: %s: %s\n", p->warning ? "warning" : "error", p->variable,
                    p->message);
        errors += !p->warning;
    }
    char policy[64];
    cc_store_peer peer;
    int reachable = ping(out, cfg, policy, sizeof policy, &peer);
    const char *risk = policy_risk(policy);
    if (risk != NULL && !json)
        fprintf(stderr, "warning: redis maxmemory-policy %s: %s\n", policy, risk);
    prog_verdict pv = {.kind = PROG_LIBFCGI};
    if (program != NULL) {
        program_verdict(program, program_argc, &pv);
        fprintf(out, "\nprogram        %s: %s\n", pv.path[0] ? pv.path : program[0], pv.loader);
        fprintf(out, "adapter        %s\n", kind_name(pv.kind));
        fprintf(out, "verdict        %s\n", pv.why);
    }
    int program_ok = pv.kind != PROG_NONE;
    int status = errors > 0 || (cfg->enabled && !reachable) || !program_ok ? EXIT_PROBLEM : EXIT_OK;
    if (json) {
        json_writer j;
        json_begin(&j, stdout);
        json_object_begin(&j);
        json_key(&j, "ok");
        json_bool(&j, status == EXIT_OK);
        json_key(&j, "enabled");
        json_bool(&j, cfg->enabled);
        json_key(&j, "redis_reachable");
        json_bool(&j, reachable);
        json_key(&j, "program_reachable");
        json_bool(&j, program == NULL || pv.preload_reaches);
        if (program != NULL) {
            json_key(&j, "program");
            json_object_begin(&j);
            json_key(&j, "path");
            json_string(&j, pv.path[0] ? pv.path : program[0]);
            json_key(&j, "verdict");
            json_string(&j, kind_name(pv.kind));
            json_key(&j, "cached");
            json_bool(&j, program_ok);
            json_key(&j, "why");
            json_string(&j, pv.why);
            json_object_end(&j);
        }
        json_key(&j, "redis_mode");
        json_string(&j, peer.mode[0] != '\0' ? peer.mode : NULL);
        json_key(&j, "redis_node");
        json_string(&j, peer.node[0] != '\0' ? peer.node : NULL);
        json_key(&j, "redis_tls");
        json_string(&j, peer.tls[0] != '\0' ? peer.tls : NULL);
        json_key(&j, "maxmemory_policy");
        json_string(&j, policy[0] != '\0' ? policy : NULL);
        if (policy[0] != '\0') {
            json_key(&j, "maxmemory_policy_safe");
            json_bool(&j, risk == NULL);
        }
        json_key(&j, "routes");
        json_array_begin(&j);
        for (size_t i = 0; i < cfg->nroutes; i++)
            json_string(&j, cfg->routes[i].name);
        json_array_end(&j);
        json_key(&j, "problems");
        json_array_begin(&j);
        for (size_t i = 0; i < cfg->nproblems; i++) {
            const cc_problem *p = &cfg->problems[i];
            json_object_begin(&j);
            json_key(&j, "variable");
            json_string(&j, p->variable);
            json_key(&j, "warning");
            json_bool(&j, p->warning);
            json_key(&j, "message");
            json_string(&j, p->message);
            json_object_end(&j);
        }
        json_array_end(&j);
        json_object_end(&j);
        if (json_end(&j) != 0)
            status = EXIT_PROBLEM;
        fclose(out);
    }
    cc_config_free(cfg);
    return status;
}
