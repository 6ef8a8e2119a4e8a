/* test_config.c -- the CGICACHE_* contract: units, defaults, routes,
 * problems as values, the environment over the file. */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "units.h"

static cc_config *parse(char **env)
{
    cc_config *c = cc_config_parse(env, NULL, 0);
    cr_assert_not_null(c);
    return c;
}

static const cc_problem *problem_for(const cc_config *c, const char *variable)
{
    for (size_t i = 0; i < c->nproblems; i++)
        if (strcmp(c->problems[i].variable, variable) == 0)
            return &c->problems[i];
    return NULL;
}

Test(units, durations)
{
    int64_t ms;
    struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"300", 300000}, {"300ms", 300}, {"30s", 30000}, {"5m", 300000}, {"1h", 3600000}, {"0", 0},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cr_assert_eq(cc_parse_duration(good[i].text, &ms), 0, "%s", good[i].text);
        cr_assert_eq(ms, good[i].ms, "%s", good[i].text);
    }
    const char *bad[] = {"",       "x5", "5x", "-1", "5 s", "1.5s", "99999999999999999999",
                         "10000h", NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        cr_assert_eq(cc_parse_duration(bad[i], &ms), -1, "'%s'", bad[i]);
}

Test(units, sizes)
{
    size_t b;
    cr_assert_eq(cc_parse_size("512", &b), 0);
    cr_assert_eq(b, 512);
    cr_assert_eq(cc_parse_size("64k", &b), 0);
    cr_assert_eq(b, 65536);
    cr_assert_eq(cc_parse_size("8M", &b), 0);
    cr_assert_eq(b, 8u << 20);
    cr_assert_eq(cc_parse_size("1G", &b), 0);
    cr_assert_eq(b, 1u << 30);
    const char *bad[] = {"", "k", "8MB", "-1", "99999999999999999999", "2000000G", NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        cr_assert_eq(cc_parse_size(bad[i], &b), -1, "'%s'", bad[i]);
}

Test(config, defaults)
{
    char *env[] = {NULL};
    cc_config *c = parse(env);
    cr_assert(c->enabled);
    cr_assert_eq(c->redis.kind, CC_REDIS_TCP);
    cr_assert_str_eq(c->redis.host, "127.0.0.1");
    cr_assert_eq(c->redis.port, 6379);
    cr_assert_str_eq(c->prefix, "cgicache");
    cr_assert_eq(c->ttl_ms, 60000);
    cr_assert_eq(c->stale_ms, 0);
    cr_assert_eq(c->lock_ttl_ms, 5000);
    cr_assert_eq(c->lock_wait_ms, 5000);
    cr_assert_float_eq(c->early_refresh, 1.0, 1e-9);
    cr_assert_eq(c->max_size, 8u << 20);
    cr_assert_eq(c->compress, CC_COMPRESS_SMART);
    cr_assert_eq(c->compress_min, 1024);
    cr_assert_eq(c->compress_level, 3);
    cr_assert_eq(c->timeout_ms, 50);
    cr_assert_str_eq(c->bypass_header.http, "X-Cache-Bypass");
    cr_assert_str_eq(c->bypass_header.cgi, "HTTP_X_CACHE_BYPASS");
    cr_assert_not(c->bypass_value_set);
    cr_assert_str_eq(c->status_header, "X-Cache-Status");
    cr_assert_eq(c->log_level, CC_LOG_WARN);
    cr_assert_eq(c->nroutes, 0);
    cr_assert_eq(c->nproblems, 0);
    cc_config_free(c);
}

Test(config, globals_and_lock_wait_default)
{
    char *env[] = {"CGICACHE_TTL=5m",
                   "CGICACHE_LOCK_TTL=2s",
                   "CGICACHE_PREFIX=app1",
                   "CGICACHE_BYPASS_HEADER=X-No-Cache",
                   "CGICACHE_BYPASS_VALUE=s3cret",
                   "CGICACHE_STATUS_HEADER=",
                   "CGICACHE_COMPRESS=off",
                   "CGICACHE_LOG=debug",
                   NULL};
    cc_config *c = parse(env);
    cr_assert_eq(c->ttl_ms, 300000);
    cr_assert_eq(c->lock_wait_ms, 2000);
    cr_assert_str_eq(c->prefix, "app1");
    cr_assert_str_eq(c->bypass_header.cgi, "HTTP_X_NO_CACHE");
    cr_assert_str_eq(c->bypass_value, "s3cret");
    cr_assert_str_eq(c->status_header, "");
    cr_assert_eq(c->compress, CC_COMPRESS_OFF);
    cr_assert_eq(c->log_level, CC_LOG_DEBUG);
    cc_config_free(c);
}

Test(config, bad_global_keeps_default_and_names_variable)
{
    char *env[] = {"CGICACHE_TTL=x5", "CGICACHE_MAX_SIZE=lots", "CGICACHE_COMPRESS=maybe", NULL};
    cc_config *c = parse(env);
    cr_assert_eq(c->ttl_ms, 60000);
    cr_assert_eq(c->max_size, 8u << 20);
    cr_assert(c->enabled);
    const cc_problem *p = problem_for(c, "CGICACHE_TTL");
    cr_assert_not_null(p);
    cr_assert_not(p->warning);
    cr_assert(strstr(p->message, "x5") != NULL, "%s", p->message);
    cr_assert_not_null(problem_for(c, "CGICACHE_MAX_SIZE"));
    cr_assert_not_null(problem_for(c, "CGICACHE_COMPRESS"));
    cc_config_free(c);
}

/* A brace in the prefix would be every key's cluster hash tag (keyspace.h). */
Test(config, prefix_without_braces)
{
    char *env[] = {"CGICACHE_PREFIX=app{1}", NULL};
    cc_config *c = parse(env);
    cr_assert_str_eq(c->prefix, "cgicache");
    cr_assert_not_null(problem_for(c, "CGICACHE_PREFIX"));
    cc_config_free(c);
}

Test(config, redis_addresses)
{
    char *tcp[] = {"CGICACHE_REDIS=redis://:p%40ss@cache.local:1234/2", NULL};
    cc_config *c = parse(tcp);
    cr_assert_str_eq(c->redis.host, "cache.local");
    cr_assert_eq(c->redis.port, 1234);
    cr_assert_str_eq(c->redis.password, "p@ss");
    cr_assert_eq(c->redis.db, 2);
    cc_config_free(c);
    char *unix_[] = {"CGICACHE_REDIS=unix:/tmp/r.sock?db=3", NULL};
    c = parse(unix_);
    cr_assert_eq(c->redis.kind, CC_REDIS_UNIX);
    cr_assert_str_eq(c->redis.path, "/tmp/r.sock");
    cr_assert_eq(c->redis.db, 3);
    cc_config_free(c);
    char *acl[] = {"CGICACHE_REDIS=redis://app%3Aa:s3:cret@10.0.0.1", NULL};
    c = parse(acl);
    cr_assert_str_eq(c->redis.user, "app:a");
    cr_assert_str_eq(c->redis.password, "s3:cret");
    cr_assert_eq(c->redis.port, 6379);
    cc_config_free(c);
    /* The default user is AUTH password alone, which Redis 5 understands. */
    char *deflt[] = {"CGICACHE_REDIS=redis://default:pw@h", NULL};
    c = parse(deflt);
    cr_assert_str_eq(c->redis.user, "");
    cr_assert_str_eq(c->redis.password, "pw");
    cc_config_free(c);
    char *v6[] = {"CGICACHE_REDIS=redis://[::1]:7000", NULL};
    c = parse(v6);
    cr_assert_str_eq(c->redis.host, "::1");
    cr_assert_eq(c->redis.port, 7000);
    cc_config_free(c);
    const char *bad[] = {"CGICACHE_REDIS=http://x",          "CGICACHE_REDIS=redis://h:99999",
                         "CGICACHE_REDIS=unix:relative",     "CGICACHE_REDIS=redis://bob@h",
                         "CGICACHE_REDIS=redis://b%zz:pw@h", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        char *env[] = {(char *)bad[i], "CGICACHE_ROUTE_a=GET /a ttl=1", NULL};
        c = parse(env);
        cr_assert_not(c->enabled, "%s", bad[i]);
        cr_assert_not_null(problem_for(c, "CGICACHE_REDIS"), "%s", bad[i]);
        cc_config_free(c);
    }
}

Test(config, redis_tls)
{
    char *tls[] = {"CGICACHE_REDIS=rediss://u:p@redis.internal:6380/1",
                   "CGICACHE_REDIS_CA=/etc/ca.pem", NULL};
    cc_config *c = parse(tls);
    cr_assert(c->enabled);
    cr_assert(c->redis.tls);
    cr_assert_str_eq(c->redis.host, "redis.internal");
    cr_assert_eq(c->redis.port, 6380);
    cr_assert_str_eq(c->redis.user, "u");
    cr_assert_str_eq(c->redis_ca, "/etc/ca.pem");
    cr_assert_eq(c->nproblems, 0);
    cc_config_free(c);
    /* A certificate without its key could never be presented. */
    char *half[] = {"CGICACHE_REDIS=rediss://h", "CGICACHE_REDIS_CERT=/c.pem", NULL};
    c = parse(half);
    cr_assert_not(c->enabled);
    cr_assert_not_null(problem_for(c, "CGICACHE_REDIS_KEY"));
    cc_config_free(c);
    /* TLS settings with a plain address: advice, caching goes on. */
    char *plain[] = {"CGICACHE_REDIS=redis://h", "CGICACHE_REDIS_CA=/ca.pem", NULL};
    c = parse(plain);
    cr_assert(c->enabled);
    cr_assert_not(c->redis.tls);
    const cc_problem *p = problem_for(c, "CGICACHE_REDIS");
    cr_assert(p != NULL && p->warning);
    cc_config_free(c);
}

Test(config, redis_sentinel)
{
    char *env[] =
        {"CGICACHE_REDIS=rediss-sentinel://app:p%23w@10.0.0.1,[::1]:5000,s3:26380/2#my-master",
         NULL};
    cc_config *c = parse(env);
    cr_assert(c->enabled);
    cr_assert(c->redis.sentinel);
    cr_assert(c->redis.tls);
    cr_assert_eq(c->redis.nsentinels, 3);
    cr_assert_str_eq(c->redis.sentinels[0].host, "10.0.0.1");
    cr_assert_eq(c->redis.sentinels[0].port, 26379);
    cr_assert_str_eq(c->redis.sentinels[1].host, "::1");
    cr_assert_eq(c->redis.sentinels[1].port, 5000);
    cr_assert_str_eq(c->redis.sentinels[2].host, "s3");
    cr_assert_eq(c->redis.sentinels[2].port, 26380);
    cr_assert_str_eq(c->redis.master, "my-master");
    cr_assert_str_eq(c->redis.user, "app");
    cr_assert_str_eq(c->redis.password, "p#w");
    cr_assert_eq(c->redis.db, 2);
    char shown[512];
    for (size_t i = 0; i < cc_nsettings; i++)
        if (strcmp(cc_settings[i].name, "CGICACHE_REDIS") == 0)
            cc_setting_format(c, &cc_settings[i], shown, sizeof shown);
    cr_assert_str_eq(shown, "rediss-sentinel://app:(password)@10.0.0.1:26379,[::1]:5000,s3:26380/"
                            "2#my-master");
    cc_config_free(c);
    const char *bad[] = {"CGICACHE_REDIS=redis-sentinel://h1,h2/0",        /* no #master */
                         "CGICACHE_REDIS=redis-sentinel://h1#",            /* empty name */
                         "CGICACHE_REDIS=redis-sentinel://#m",             /* no sentinel */
                         "CGICACHE_REDIS=redis://h1,h2/0",                 /* two hosts */
                         "CGICACHE_REDIS=redis://h1/0#m", /* a name, no sentinels */
                         "CGICACHE_REDIS=redis-sentinel://h1:0#m",
                         "CGICACHE_REDIS=redis-sentinel://a,b,c,d,e,f,g,h,i#m",
                         NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        char *e[] = {(char *)bad[i], NULL};
        c = parse(e);
        cr_assert_not(c->enabled, "%s", bad[i]);
        cr_assert_not_null(problem_for(c, "CGICACHE_REDIS"), "%s", bad[i]);
        cc_config_free(c);
    }
}

Test(config, redis_cluster)
{
    char *env[] = {"CGICACHE_REDIS=rediss-cluster://app:p%40w@10.0.0.1:7000,[::1],n3:7002", NULL};
    cc_config *c = parse(env);
    cr_assert(c->enabled);
    cr_assert(c->redis.cluster);
    cr_assert_not(c->redis.sentinel);
    cr_assert(c->redis.tls);
    cr_assert_eq(c->redis.nseeds, 3);
    cr_assert_str_eq(c->redis.seeds[0].host, "10.0.0.1");
    cr_assert_eq(c->redis.seeds[0].port, 7000);
    cr_assert_str_eq(c->redis.seeds[1].host, "::1");
    cr_assert_eq(c->redis.seeds[1].port, 6379);
    cr_assert_str_eq(c->redis.seeds[2].host, "n3");
    cr_assert_eq(c->redis.seeds[2].port, 7002);
    cr_assert_str_eq(c->redis.user, "app");
    cr_assert_str_eq(c->redis.password, "p@w");
    cr_assert_eq(c->redis.db, 0);
    char shown[512];
    for (size_t i = 0; i < cc_nsettings; i++)
        if (strcmp(cc_settings[i].name, "CGICACHE_REDIS") == 0)
            cc_setting_format(c, &cc_settings[i], shown, sizeof shown);
    cr_assert_str_eq(shown, "rediss-cluster://app:(password)@10.0.0.1:7000,[::1]:6379,n3:7002");
    cc_config_free(c);
    char *one[] = {"CGICACHE_REDIS=redis-cluster://127.0.0.1:7000/0", NULL};
    c = parse(one);
    cr_assert(c->enabled);
    cr_assert_not(c->redis.tls);
    cr_assert_eq(c->redis.nseeds, 1);
    cc_config_free(c);
    const char *bad[] = {"CGICACHE_REDIS=redis-cluster://h1:7000,h2:7001/1", /* a db */
                         "CGICACHE_REDIS=redis-cluster://h1:7000#m",         /* a master */
                         "CGICACHE_REDIS=redis-cluster://",                  /* no node */
                         "CGICACHE_REDIS=redis-cluster://h1:70000",
                         "CGICACHE_REDIS=redis-cluster://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
                         NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        char *e[] = {(char *)bad[i], NULL};
        c = parse(e);
        cr_assert_not(c->enabled, "%s", bad[i]);
        cr_assert_not_null(problem_for(c, "CGICACHE_REDIS"), "%s", bad[i]);
        cc_config_free(c);
    }
}

Test(config, enable_off)
{
    char *env[] = {"CGICACHE_ENABLE=0", NULL};
    cc_config *c = parse(env);
    cr_assert_not(c->enabled);
    cc_config_free(c);
}

Test(routes, grammar_and_options)
{
    char *env[] = {"CGICACHE_TTL=10s",
                   "CGICACHE_STALE=5s",
                   "CGICACHE_ROUTE_blogs=GET /blogs/* ttl=300",
                   "CGICACHE_ROUTE_blog_edit=POST,PUT,DELETE /blogs/* invalidates=blogs",
                   "CGICACHE_ROUTE_api=/api/* vary=X-Lang,Accept query=b,a status=200,301 "
                   "compress=all lock=off cookies=ignore stale=1m",
                   "CGICACHE_ROUTE_plain=/plain query=none",
                   NULL};
    cc_config *c = parse(env);
    cr_assert_eq(c->nproblems, 0, "%s", c->nproblems ? c->problems[0].message : "");
    const cc_route *b = cc_config_route(c, "blogs");
    cr_assert_eq(b->methods, CC_M_GET);
    cr_assert_str_eq(b->pattern, "/blogs/*");
    cr_assert_eq(b->ttl_ms, 300000);
    cr_assert_eq(b->stale_ms, 5000);
    cr_assert(b->lock);
    cr_assert_eq(b->nstatuses, 1);
    cr_assert_eq(b->statuses[0], 200);
    const cc_route *e = cc_config_route(c, "blog_edit");
    cr_assert_eq(e->methods, CC_M_POST | CC_M_PUT | CC_M_DELETE);
    cr_assert_eq(e->ninvalidates, 1);
    cr_assert_str_eq(e->invalidates[0], "blogs");
    const cc_route *a = cc_config_route(c, "api");
    cr_assert_eq(a->methods, CC_M_GET | CC_M_HEAD);
    cr_assert_eq(a->ttl_ms, 10000);
    cr_assert_eq(a->stale_ms, 60000);
    cr_assert_eq(a->nvary, 2);
    cr_assert_str_eq(a->vary[0].cgi, "HTTP_X_LANG");
    cr_assert_eq(a->query, CC_QUERY_LIST);
    cr_assert_str_eq(a->query_names[0], "a");
    cr_assert_str_eq(a->query_names[1], "b");
    cr_assert_eq(a->nstatuses, 2);
    cr_assert_eq(a->statuses[1], 301);
    cr_assert_eq(a->compress, CC_COMPRESS_ALL);
    cr_assert_not(a->lock);
    cr_assert(a->cookies_ignore);
    cr_assert_eq(cc_config_route(c, "plain")->query, CC_QUERY_NONE);
    cc_config_free(c);
}

Test(routes, bad_route_dropped_with_its_variable_named)
{
    char *env[] = {"CGICACHE_ROUTE_ok=GET /ok",
                   "CGICACHE_ROUTE_bad=GET /x ttl=soon",
                   "CGICACHE_ROUTE_nopat=GET",
                   "CGICACHE_ROUTE_opt=/x colour=red",
                   "CGICACHE_ROUTE_meth=FETCH /x",
                   "CGICACHE_ROUTE_b-d=/x",
                   NULL};
    cc_config *c = parse(env);
    cr_assert_eq(c->nroutes, 1);
    cr_assert_str_eq(c->routes[0].name, "ok");
    cr_assert_not_null(problem_for(c, "CGICACHE_ROUTE_bad"));
    cr_assert(strstr(problem_for(c, "CGICACHE_ROUTE_bad")->message, "ttl") != NULL);
    cr_assert_not_null(problem_for(c, "CGICACHE_ROUTE_nopat"));
    cr_assert_not_null(problem_for(c, "CGICACHE_ROUTE_opt"));
    cr_assert_not_null(problem_for(c, "CGICACHE_ROUTE_meth"));
    cr_assert_not_null(problem_for(c, "CGICACHE_ROUTE_b-d"));
    cc_config_free(c);
}

Test(routes, most_specific_first_and_warnings)
{
    char *env[] = {"CGICACHE_ROUTE_z=/*",
                   "CGICACHE_ROUTE_long=/blogs/7/*",
                   "CGICACHE_ROUTE_mid=/blogs/*",
                   "CGICACHE_ROUTE_a=/blogs/* invalidates=ghost",
                   "CGICACHE_TYPO=1",
                   NULL};
    cc_config *c = parse(env);
    cr_assert_str_eq(c->routes[0].name, "long");
    cr_assert_str_eq(c->routes[1].name, "a");
    cr_assert_str_eq(c->routes[2].name, "mid");
    cr_assert_str_eq(c->routes[3].name, "z");
    cr_assert(problem_for(c, "CGICACHE_ROUTE_a")->warning);
    cr_assert(problem_for(c, "CGICACHE_TYPO")->warning);
    cc_config_free(c);
}

Test(config, file_and_environment_precedence)
{
    const char *file = "# comment\n\nCGICACHE_TTL=7s\nexport CGICACHE_PREFIX='fromfile'\n"
                       "CGICACHE_ROUTE_f=GET /f ttl=1\nCGICACHE_ROUTE_both=GET /file\nnot a line\n";
    char *env[] = {"CGICACHE_PREFIX=fromenv", "CGICACHE_ROUTE_both=GET /env", NULL};
    cc_config *c = cc_config_parse(env, file, strlen(file));
    cr_assert_eq(c->ttl_ms, 7000);
    cr_assert_str_eq(c->prefix, "fromenv");
    cr_assert_not_null(cc_config_route(c, "f"));
    cr_assert_str_eq(cc_config_route(c, "both")->pattern, "/env");
    cr_assert_not_null(problem_for(c, "CGICACHE_CONFIG"));
    cc_config_free(c);
}

Test(config, method_bits)
{
    cr_assert_eq(cc_method_bit("GET"), CC_M_GET);
    cr_assert_eq(cc_method_bit("delete"), CC_M_DELETE);
    cr_assert_eq(cc_method_bit("PROPFIND"), CC_M_OTHER);
}
