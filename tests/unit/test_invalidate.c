/* test_invalidate.c -- which purge generations a finished request bumps. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "invalidate.h"
#include "key.h"
#include "request.h"

typedef struct seen {
    size_t n;
    char keys[16][CC_GEN_KEY_MAX];
    bool url[16];
} seen;

static void collect(void *ctx, const char *key, bool url)
{
    seen *s = ctx;
    cr_assert_lt(s->n, 16);
    snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
    s->url[s->n++] = url;
}

static cc_config *config(void)
{
    char *env[] = {
        "CGICACHE_ROUTE_blogs=GET /blogs/* ttl=60",
        "CGICACHE_ROUTE_list=GET /blogs ttl=60",
        "CGICACHE_ROUTE_items=GET /items/* ttl=60",
        "CGICACHE_ROUTE_edit=POST,PUT,DELETE /blogs/* invalidates=blogs,list",
        NULL,
    };
    cc_config *cfg = cc_config_parse(env, NULL, 0);
    cr_assert_not_null(cfg);
    cr_assert_eq(cfg->nroutes, 4);
    return cfg;
}

/* Runs a request + response head through cc_invalidate_targets. */
static seen run(const cc_config *cfg, const char *method, const char *uri, const char *head_text)
{
    char m[64], u[256];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    char *env[] = {m, u, "HTTP_HOST=example.com", NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, env), 0);
    const cc_route *route = NULL;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (cfg->routes[i].methods & rq.method_bit)
            if (strcmp(cfg->routes[i].name, "edit") == 0 && strncmp(uri, "/blogs/", 7) == 0)
                route = &cfg->routes[i];
    cc_head head;
    cr_assert_eq(cc_head_parse(head_text, strlen(head_text), &head), CC_HEAD_OK);
    seen s = {0};
    cc_invalidate_targets(cfg, route, &rq, &head, collect, &s);
    return s;
}

static void url_key(const cc_config *cfg, const char *route, const char *path, char *out)
{
    cr_assert_eq(cc_key_url_gen(cfg, cc_config_route(cfg, route), false, "example.com", 11, path,
                                strlen(path), out, CC_GEN_KEY_MAX),
                 0);
}

Test(invalidate, declared_routes_and_own_url_on_success)
{
    cc_config *cfg = config();
    seen s = run(cfg, "POST", "/blogs/7", "Status: 200 OK\r\n\r\n");
    char own[CC_GEN_KEY_MAX];
    url_key(cfg, "blogs", "/blogs/7", own);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.keys[0], "cgicache:#gen:blogs");
    cr_assert_not(s.url[0]);
    cr_assert_str_eq(s.keys[1], "cgicache:#gen:list");
    cr_assert_str_eq(s.keys[2], own);
    cr_assert(s.url[2]);
    cc_config_free(cfg);
}

Test(invalidate, failure_purges_nothing)
{
    cc_config *cfg = config();
    cr_assert_eq(run(cfg, "PUT", "/items/3", "Status: 500 Oops\r\n\r\n").n, 0);
    cr_assert_eq(run(cfg, "PUT", "/items/3", "Status: 404 Not Found\r\n\r\n").n, 0);
    cc_config_free(cfg);
}

Test(invalidate, undeclared_unsafe_request_purges_its_url)
{
    cc_config *cfg = config();
    seen s = run(cfg, "PUT", "/items/3?x=1", "Status: 204 No Content\r\n\r\n");
    char own[CC_GEN_KEY_MAX];
    url_key(cfg, "items", "/items/3", own);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.keys[0], own);
    cc_config_free(cfg);
}

Test(invalidate, location_on_same_host_only)
{
    cc_config *cfg = config();
    char loc[CC_GEN_KEY_MAX], own[CC_GEN_KEY_MAX];
    url_key(cfg, "items", "/items/9", loc);
    url_key(cfg, "items", "/items/new", own);
    seen s = run(cfg, "POST", "/items/new",
                 "Status: 201 Created\r\nLocation: http://EXAMPLE.com:80/items/9?a=b\r\n"
                 "Content-Location: http://other.org/items/10\r\n\r\n");
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[0], own);
    cr_assert_str_eq(s.keys[1], loc);
    s = run(cfg, "POST", "/items/new", "Status: 303 See Other\r\nLocation: /items/9\r\n\r\n");
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[1], loc);
    s = run(cfg, "POST", "/items/new",
            "Status: 303 See Other\r\nLocation: //evil.org/items/9\r\n\r\n");
    cr_assert_eq(s.n, 1);
    cc_config_free(cfg);
}

Test(invalidate, safe_request_without_declaration_purges_nothing)
{
    cc_config *cfg = config();
    cr_assert_eq(run(cfg, "GET", "/items/3", "Status: 200 OK\r\n\r\n").n, 0);
    cr_assert_not(cc_invalidate_possible(cfg, NULL, CC_M_GET));
    cr_assert(cc_invalidate_possible(cfg, NULL, CC_M_DELETE));
    cc_config_free(cfg);
}

Test(invalidate, generation_changes_with_either_part)
{
    uint64_t none = cc_key_generation(NULL, 0, NULL, 0);
    uint64_t a = cc_key_generation("1", 1, NULL, 0);
    uint64_t b = cc_key_generation(NULL, 0, "1", 1);
    uint64_t c = cc_key_generation("ab", 2, "", 0);
    uint64_t d = cc_key_generation("a", 1, "b", 1);
    cr_assert_eq(none, 0);
    cr_assert_neq(a, 0);
    cr_assert_neq(a, b);
    cr_assert_neq(c, d);
    cr_assert_eq(a, cc_key_generation("1", 1, NULL, 0));
}

/* ---- purges an app asks for ------------------------------------------------- */

static cc_app_purge app_purge(const char *method, const char *head_text)
{
    char m[64];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    char *env[] = {m, "REQUEST_URI=/admin/save", "HTTP_HOST=example.com", NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, env), 0);
    cc_head head;
    cr_assert_eq(cc_head_parse(head_text, strlen(head_text), &head), CC_HEAD_OK);
    cc_app_purge p;
    cc_invalidate_app_purge(&rq, &head, &p);
    return p;
}

Test(app_purge, headers_of_a_successful_unsafe_request)
{
    cc_app_purge p = app_purge("POST", "Status: 200 OK\r\nX-Cache-Purge-Tags: a, b,c\r\n"
                                       "X-Cache-Purge-Tags: d\r\n"
                                       "X-Cache-Purge-Prefix: /blogs/7\r\n"
                                       "x-cache-purge-prefix: /caf%C3%A9/\r\n\r\n");
    cr_assert_eq(p.ntags, 4);
    cr_assert_str_eq(p.tags[0], "a");
    cr_assert_str_eq(p.tags[2], "c");
    cr_assert_str_eq(p.tags[3], "d");
    cr_assert_eq(p.nprefixes, 2);
    cr_assert_str_eq(p.prefixes[0], "/blogs/7");
    cr_assert_str_eq(p.prefixes[1], "/caf\xc3\xa9/");
    cr_assert_eq(p.prefix_len[1], 7);
    cr_assert_not(p.soft);
    cr_assert_eq(p.ignored, 0);
    p = app_purge("DELETE", "Status: 303 See Other\r\nLocation: /\r\nX-Cache-Purge-Soft: 1\r\n"
                            "X-Cache-Purge-Tags: a\r\n\r\n");
    cr_assert(p.soft);
    cr_assert_eq(p.ntags, 1);
}

Test(app_purge, never_on_a_safe_request_or_a_failure)
{
    const char *head = "X-Cache-Purge-Tags: a\r\nX-Cache-Purge-Prefix: /\r\n\r\n";
    cc_app_purge p = app_purge("GET", head);
    cr_assert_eq(p.ntags + p.nprefixes, 0);
    p = app_purge("HEAD", head);
    cr_assert_eq(p.ntags + p.nprefixes, 0);
    p = app_purge("POST", "Status: 500 Oops\r\nX-Cache-Purge-Tags: a\r\n\r\n");
    cr_assert_eq(p.ntags + p.nprefixes, 0);
    p = app_purge("POST", "Status: 404 Not Found\r\nX-Cache-Purge-Prefix: /\r\n\r\n");
    cr_assert_eq(p.ntags + p.nprefixes, 0);
}

Test(app_purge, malformed_values_are_ignored_and_counted)
{
    cc_app_purge p = app_purge("POST", "X-Cache-Purge-Prefix: blogs\r\n"
                                       "X-Cache-Purge-Prefix: /a/../b\r\n"
                                       "X-Cache-Purge-Prefix: /a?x=1\r\n"
                                       "X-Cache-Purge-Prefix: /a%2Fb\r\n"
                                       "X-Cache-Purge-Prefix: \r\n"
                                       "X-Cache-Purge-Soft: maybe\r\n"
                                       "X-Cache-Purge-Tags: 1,2,3,4,5,6,7,8,9,10\r\n\r\n");
    cr_assert_eq(p.nprefixes, 0);
    cr_assert_eq(p.ntags, CC_APP_TAGS_MAX);
    cr_assert_eq(p.ignored, 5 + 1 + 2);
    cr_assert_not(p.soft);
    char many[2048] = "X-Cache-Purge-Tags: ";
    memset(many + strlen(many), 'x', 300);
    strcat(many, "\r\n\r\n");
    p = app_purge("PUT", many);
    cr_assert_eq(p.ntags, 0);
    cr_assert_eq(p.ignored, 1);
}

Test(prefix, forms)
{
    char out[CC_GEN_PREFIX_MAX + 1];
    const char *bad[] = {"",       "a/b",  "/a/./b", "/a/../b", "/a/%2e%2e/b", "//a",  "/a//b",
                         "/a%2Fb", "/a?q", "/a#f",   "/a b",    "/a%00",       "/a\\b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_lt(cc_prefix_norm(bad[i], strlen(bad[i]), out, sizeof out), 0, "%s", bad[i]);
    cr_assert_eq(cc_prefix_norm("/", 1, out, sizeof out), 1);
    cr_assert_eq(cc_prefix_norm("/a/b/", 5, out, sizeof out), 5);
    cr_assert_eq(cc_prefix_norm("/a%20b", 6, out, sizeof out), 4);
    cr_assert_str_eq(out, "/a b");
    /* Too long: cut after a '/', so that it covers more, never less. */
    char longer[1200] = "/top/";
    for (int i = 0; i < 100; i++)
        strcat(longer, "segment/");
    long n = cc_prefix_norm(longer, strlen(longer), out, sizeof out);
    cr_assert_leq(n, CC_GEN_PREFIX_MAX);
    cr_assert_eq(out[n - 1], '/');
    cr_assert(cc_prefix_covers(out, (size_t)n, longer, strlen(longer)));
    char flat[600] = "/";
    memset(flat + 1, 'x', 500);
    cr_assert_eq(cc_prefix_norm(flat, strlen(flat), out, sizeof out), 1);
}

static void collect_routes(void *ctx, const char *key, bool url)
{
    char *out = ctx;
    cr_assert_not(url);
    strcat(out, strrchr(key, ':') + 1);
    strcat(out, " ");
}

static const char *reached(const cc_config *cfg, const char *prefix)
{
    static char out[512];
    out[0] = '\0';
    cc_invalidate_prefix_routes(cfg, prefix, strlen(prefix), collect_routes, out);
    return out;
}

Test(prefix, reaches_the_routes_that_may_cache_under_it)
{
    char *env[] = {
        "CGICACHE_ROUTE_blogs=GET /blogs/* ttl=60",
        "CGICACHE_ROUTE_list=GET /blogs ttl=60",
        "CGICACHE_ROUTE_items=GET /items/*/view ttl=60",
        "CGICACHE_ROUTE_edit=POST,PUT,DELETE /blogs/* invalidates=blogs,list",
        NULL,
    };
    cc_config *cfg = cc_config_parse(env, NULL, 0);
    cr_assert_str_eq(reached(cfg, "/blogs/7"), "blogs ");
    cr_assert_str_eq(reached(cfg, "/blogs"), "blogs list ");
    cr_assert_str_eq(reached(cfg, "/blogs/"), "blogs ");
    cr_assert_str_eq(reached(cfg, "/blog"), "");
    cr_assert_str_eq(reached(cfg, "/items/"), "items ");
    cr_assert_str_eq(reached(cfg, "/items/3/view"), "items ");
    cr_assert_str_eq(reached(cfg, "/items/3/view/x"), "items ");
    cr_assert_str_eq(reached(cfg, "/x"), "");
    cr_assert_str_eq(reached(cfg, "/"), "blogs items list ");
    cc_config_free(cfg);
    /* A glob with a bracket is taken to reach every prefix. */
    char *odd[] = {"CGICACHE_ROUTE_odd=GET /o[a-z]/* ttl=60", NULL};
    cfg = cc_config_parse(odd, NULL, 0);
    cr_assert_str_eq(reached(cfg, "/x"), "odd ");
    cc_config_free(cfg);
}
