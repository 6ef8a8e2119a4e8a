/* test_keyspace.c -- cgicache's own keys never take an entry's shape, and
 * the shape test purges rely on accepts exactly what key.c makes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "key.h"
#include "keyspace.h"
#include "request.h"

static cc_config *cfg;

static void setup(void)
{
    char *env[] = {"CGICACHE_ROUTE_stats=GET /s/* ttl=60",
                   "CGICACHE_ROUTE_tag=GET,POST /t/* ttl=60", "CGICACHE_ROUTE_gen=GET /g/* ttl=60",
                   NULL};
    cfg = cc_config_parse(env, NULL, 0);
    cr_assert_not_null(cfg);
}

static void teardown(void)
{
    cc_config_free(cfg);
}

TestSuite(keyspace, .init = setup, .fini = teardown);

static cc_key *key_of(const char *route, const char *method, const char *uri)
{
    char m[64], u[4096];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    char *env[] = {m, u, "HTTP_HOST=example.com", NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, env), 0);
    cc_key *k = malloc(sizeof *k);
    cr_assert_eq(cc_key_build(cfg, cc_config_route(cfg, route), &rq, k), 0);
    return k;
}

static bool entry(const char *key)
{
    return cc_keyspace_is_entry(cfg, key, strlen(key));
}

Test(keyspace, names)
{
    char out[256];
    cr_assert_eq(cc_keyspace_key(cfg, CC_KS_STATS, "stats", 5, out, sizeof out), 0);
    cr_assert_str_eq(out, "cgicache:#stats:stats");
    cr_assert_eq(cc_keyspace_key(cfg, CC_KS_TAG, "a:b", 3, out, sizeof out), 0);
    cr_assert_str_eq(out, "cgicache:#tag:a:b");
    const char *e = "cgicache:tag:{0123abcd}GET:http://example.com/t/1";
    cr_assert_eq(cc_keyspace_of_entry(cfg, CC_KS_LOCK, e, strlen(e), out, sizeof out), 0);
    cr_assert_str_eq(out, "cgicache:#lock:tag:{0123abcd}GET:http://example.com/t/1");
    cr_assert_eq(cc_keyspace_key(cfg, CC_KS_GEN, "x", 1, out, 10), -1);
}

Test(keyspace, every_key_made_for_a_request_is_an_entry)
{
    const char *cases[][3] = {
        {"stats", "GET", "/s/1"},
        {"tag", "GET", "/t/x:lock?a=1"},
        {"gen", "HEAD", "/g/%23x"},
        {"tag", "POST", "/t/1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cc_key *k = key_of(cases[i][0], cases[i][1], cases[i][2]);
        cr_assert(entry(k->redis), "%s", k->redis);
        cr_assert_not(entry(k->route_gen), "%s", k->route_gen);
        cr_assert_not(entry(k->url_gen), "%s", k->url_gen);
        char lock[512];
        cr_assert_eq(cc_keyspace_of_entry(cfg, CC_KS_LOCK, k->redis, k->redis_len, lock,
                                          sizeof lock),
                     0);
        cr_assert_not(entry(lock), "%s", lock);
        free(k);
    }
    /* A long key is hashed, and still an entry. */
    char uri[400] = "/g/";
    memset(uri + 3, 'a', 300);
    cc_key *k = key_of("gen", "GET", uri);
    cr_assert(entry(k->redis), "%s", k->redis);
    free(k);
}

Test(keyspace, internal_and_foreign_keys_are_not_entries)
{
    const char *not_entries[] = {
        "cgicache:#stats:pages",
        "cgicache:#tag:red",
        "cgicache:#gen:pages",
        "cgicache:#gen:pages:0123456789abcdef0123456789abcdef",
        "cgicache:#lock:pages:GET:http://h/x",
        "cgicache:stats:pages",
        "cgicache:tag:red",
        "cgicache:pages:gen",
        "cgicache:pages:gen:0123",
        "cgicache:pages:#xyz",
        "cgicache:pages:#0123456789abcdef0123456789abcdeff",
        "cgicache:pages:{0123abcd}GET:ftp://h/",
        "cgicache:pages:{0123abcd}GET",
        "cgicache::{0123abcd}GET:http://h/",
        "other:pages:{0123abcd}GET:http://h/",
        "cgicachex:pages:{0123abcd}GET:http://h/",
        /* The layout before hash tags is no longer an entry's. */
        "cgicache:pages:GET:http://h/",
        "cgicache:pages:#0123456789abcdef0123456789abcdef",
        /* A tag of another length, or not hex. */
        "cgicache:pages:{0123abc}GET:http://h/",
        "cgicache:pages:{0123abcde}GET:http://h/",
        "cgicache:pages:{0123abcX}GET:http://h/",
        "cgicache:pages:{}GET:http://h/",
        "cgicache:pages:{0123abcd}",
        "cgicache:pages:{0123abcd}#0123",
        "cgicache",
        "",
    };
    for (size_t i = 0; i < sizeof not_entries / sizeof not_entries[0]; i++)
        cr_assert_not(entry(not_entries[i]), "%s", not_entries[i]);
    cr_assert(entry("cgicache:pages:{0123abcd}#0123456789abcdef0123456789abcdef"));
    cr_assert(entry("cgicache:pages:{0123abcd}M%2FX:https://h/"));
}

Test(keyspace, route_names)
{
    cr_assert(cc_keyspace_route_name("blog_list2"));
    cr_assert_not(cc_keyspace_route_name(""));
    cr_assert_not(cc_keyspace_route_name("#stats"));
    cr_assert_not(cc_keyspace_route_name("a:b"));
    cr_assert_not(cc_keyspace_route_name("a*"));
}
