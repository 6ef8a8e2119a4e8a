/* check.c -- `cgicache check`: what the library will do with this
 * environment.
 *
 * The configuration is read by the library's own code (cc_config_load),
 * so every problem reported here is one the library would log at load.
 * Then Redis is pinged with the library's own connection code.  Given a
 * program (and the arguments it will run with), says whether anything it
 * serves will be cached, and why (program.c). */
#include <stdio.h>
#include <string.h>

#include "config.h"
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

static void print_settings(FILE *out, const cc_config *cfg)
{
    const cc_redis_addr *r = &cfg->redis;
    fprintf(out, "enabled        %s\n", cfg->enabled ? "yes" : "no");
    if (r->kind == CC_REDIS_UNIX)
        fprintf(out, "redis          unix:%s db %d%s\n", r->path, r->db, r->password[0] ? " (password set)" : "");
    else
        fprintf(out, "redis          %s:%d db %d%s\n", r->host, r->port, r->db, r->password[0] ? " (password set)" : "");
    fprintf(out, "prefix         %s\n", cfg->prefix);
    fprintf(out, "ttl            %lld ms   stale %lld ms\n", (long long)cfg->ttl_ms, (long long)cfg->stale_ms);
    fprintf(out, "lock           ttl %lld ms, wait %lld ms\n", (long long)cfg->lock_ttl_ms, (long long)cfg->lock_wait_ms);
    fprintf(out, "early refresh  %g\n", cfg->early_refresh);
    fprintf(out, "compress       %s above %zu bytes, level %d\n", compress_name(cfg->compress), cfg->compress_min, cfg->compress_level);
    fprintf(out, "max size       %zu bytes\n", cfg->max_size);
    fprintf(out, "timeouts       command %lld ms, connect %lld ms\n", (long long)cfg->timeout_ms, (long long)cfg->connect_timeout_ms);
    fprintf(out, "bypass header  %s%s\n", cfg->bypass_header.http, cfg->bypass_value_set ? " (with a secret value)" : "");
    fprintf(out, "status header  %s\n", cfg->status_header[0] ? cfg->status_header : "(off)");
}

static void print_routes(FILE *out, const cc_config *cfg)
{
    fprintf(out, "\n%-16s %-16s %-24s %-10s %-10s %s\n", "route", "methods", "pattern", "ttl", "stale", "options");
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const cc_route *rt = &cfg->routes[i];
        fprintf(out, "%-16s ", rt->name);
        print_methods(out, rt->methods);
        fprintf(out, " %-24s %-10lld %-10lld", rt->pattern, (long long)rt->ttl_ms, (long long)rt->stale_ms);
        fprintf(out, " query=%s", rt->query == CC_QUERY_ALL ? "all" : rt->query == CC_QUERY_NONE ? "none" : "list");
        for (size_t v = 0; v < rt->nvary; v++)
            fprintf(out, "%s%s", v ? "," : " vary=", rt->vary[v].http);
        fprintf(out, " compress=%s lock=%s cookies=%s", compress_name(rt->compress), rt->lock ? "on" : "off",
               rt->cookies_ignore ? "ignore" : "bypass");
        for (size_t v = 0; v < rt->ninvalidates; v++)
            fprintf(out, "%s%s", v ? "," : " invalidates=", rt->invalidates[v]);
        fprintf(out, "\n");
    }
    if (cfg->nroutes == 0)
        fprintf(out, "(no routes: set CGICACHE_ROUTE_<name>='GET /path/* ttl=60')\n");
}

static int ping(FILE *out, const cc_config *cfg)
{
    if (!cfg->enabled)
        return 0;
    cc_store *s = cc_store_open(cfg);
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "PING", (size_t)-1);
    redisReply *reply = s != NULL ? cc_store_command(s, &cmd) : NULL;
    int ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    fprintf(out, "\nredis          %s\n", ok ? "PONG" : "unreachable (requests will be answered by the app, uncached)");
    if (reply != NULL)
        freeReplyObject(reply);
    cc_store_close(s);
    return ok;
}

static const char *kind_name(prog_kind k)
{
    return k == PROG_LIBFCGI ? "libfcgi" : k == PROG_CGI ? "cgi" : "none";
}

static void json_string(const char *str)
{
    putchar('"');
    for (const char *c = str; *c != '\0'; c++)
        printf((*c == '"' || *c == '\\') ? "\\%c" : ((unsigned char)*c < 0x20 ? "?" : "%c"), *c);
    putchar('"');
}

int cmd_check(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: cgicache check [--json] [--] [PROGRAM [ARG...]]\n\n"
               "Reads CGICACHE_* from the environment (and CGICACHE_CONFIG) as the library\n"
               "does, prints the effective settings and routes, reports every problem and\n"
               "pings Redis.  Given PROGRAM and the arguments it will run with, says what\n"
               "will be cached: a libfcgi app (cached), a CGI program (cached when a web\n"
               "server runs it as CGI), or nothing (static, setuid, or a program that\n"
               "speaks FastCGI with its own code: php-fpm, php-cgi -b ...), and why.\n"
               "`spawn-fcgi ... -- APP ARGS` judges APP as a FastCGI server.\n"
               "Exit status 1 when anything is wrong or nothing would be cached.\n");
        return EXIT_OK;
    }
    /* Options come first; PROGRAM and everything after it are the
     * program's own argument list (its -b must not be taken for ours). */
    int json = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--json") != 0) {
            fprintf(stderr, "cgicache check: unexpected '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
        json = 1;
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
            fprintf(stderr, "%s: %s: %s\n", p->warning ? "warning" : "error", p->variable, p->message);
        errors += !p->warning;
    }
    int reachable = ping(out, cfg);
    prog_verdict pv = {.kind = PROG_LIBFCGI};
    if (program != NULL) {
        program_verdict(program, program_argc, &pv);
        fprintf(out, "\nprogram        %s: %s\n", pv.path[0] ? pv.path : program[0], pv.loader);
        fprintf(out, "verdict        %s\n", pv.why);
    }
    int program_ok = pv.kind != PROG_NONE;
    int status = errors > 0 || (cfg->enabled && !reachable) || !program_ok ? EXIT_PROBLEM : EXIT_OK;
    if (json) {
        printf("{\"ok\": %s, \"enabled\": %s, \"redis_reachable\": %s, \"program_reachable\": %s, ",
               status == EXIT_OK ? "true" : "false", cfg->enabled ? "true" : "false",
               reachable ? "true" : "false", program == NULL || pv.preload_reaches ? "true" : "false");
        if (program != NULL) {
            printf("\"program\": {\"path\": ");
            json_string(pv.path[0] ? pv.path : program[0]);
            printf(", \"verdict\": \"%s\", \"cached\": %s, \"why\": ", kind_name(pv.kind), program_ok ? "true" : "false");
            json_string(pv.why);
            printf("}, ");
        }
        printf("\"routes\": [");
        for (size_t i = 0; i < cfg->nroutes; i++)
            printf("%s\"%s\"", i ? ", " : "", cfg->routes[i].name);
        printf("], \"problems\": [");
        for (size_t i = 0; i < cfg->nproblems; i++) {
            const cc_problem *p = &cfg->problems[i];
            printf("%s{\"variable\": \"%s\", \"warning\": %s, \"message\": ", i ? ", " : "", p->variable,
                   p->warning ? "true" : "false");
            json_string(p->message);
            printf("}");
        }
        printf("]}\n");
        fclose(out);
    }
    cc_config_free(cfg);
    return status;
}
