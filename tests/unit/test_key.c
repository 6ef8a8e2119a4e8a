/* test_key.c -- canonical keys: readable, normalised where the app cannot
 * tell the difference, distinct wherever it can. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "key.h"
#include "keyspace.h"
#include "request.h"
#include "slots.h"

static cc_config *cfg;

static void setup(void)
{
    char *env[] = {"CGICACHE_ROUTE_blogs=/blogs/*", "CGICACHE_ROUTE_some=/some/* query=page,id",
                   "CGICACHE_ROUTE_none=/none/* query=none",
                   "CGICACHE_ROUTE_lang=/lang/* vary=X-Lang", NULL};
    cfg = cc_config_parse(env, NULL, 0);
}
static void teardown(void)
{
    cc_config_free(cfg);
}

/* Builds the key of a request given as "METHOD URI" plus extra params. */
static cc_key *key_of(const char *route, const char *method, const char *uri, const char *host,
                      const char *extra)
{
    static char m[64], u[4096], h[256], x[256];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    snprintf(h, sizeof h, "HTTP_HOST=%s", host);
    snprintf(x, sizeof x, "%s", extra != NULL ? extra : "X_NONE=1");
    char *env[] = {m, u, h, x, NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, env), 0);
    cc_key *k = malloc(sizeof *k);
    cr_assert_eq(cc_key_build(cfg, cc_config_route(cfg, route), &rq, k), 0);
    return k;
}

/* k's full key without its hash tag, which is checked: "{<8 hex>}"
 * right after "<prefix>:<route>:", the URL generation's own tag. */
static const char *untagged(const cc_key *k)
{
    static char out[CC_KEY_MAX];
    const char *route_end = strchr(strchr(k->full, ':') + 1, ':') + 1;
    size_t head = (size_t)(route_end - k->full), tag = CC_KS_SLOT_TAG_LEN + 2;
    cr_assert_eq(route_end[0], '{', "%s", k->full);
    cr_assert_eq(strspn(route_end + 1, "0123456789abcdef"), CC_KS_SLOT_TAG_LEN, "%s", k->full);
    cr_assert_eq(route_end[tag - 1], '}', "%s", k->full);
    const char *gen_tag = strchr(k->url_gen, '{');
    cr_assert(gen_tag != NULL && strncmp(gen_tag, route_end, tag) == 0, "%s / %s", k->full,
              k->url_gen);
    snprintf(out, sizeof out, "%.*s%s", (int)head, k->full, route_end + tag);
    return out;
}

static void expect_key(const char *route, const char *method, const char *uri, const char *host,
                       const char *extra, const char *want)
{
    cc_key *k = key_of(route, method, uri, host, extra);
    cr_assert_str_eq(untagged(k), want);
    cr_assert_str_eq(k->redis, k->full);
    free(k);
}

TestSuite(key, .init = setup, .fini = teardown);

Test(key, readable_and_sorted)
{
    expect_key("blogs", "GET", "/blogs/7?b=2&a=1", "example.com", NULL,
               "cgicache:blogs:GET:http://example.com/blogs/7?a=1&b=2");
    expect_key("blogs", "GET", "/blogs/7?b=2&a=9&a=1", "example.com", NULL,
               "cgicache:blogs:GET:http://example.com/blogs/7?a=9&a=1&b=2");
    expect_key("blogs", "HEAD", "/blogs/7", "example.com", NULL,
               "cgicache:blogs:GET:http://example.com/blogs/7");
}

Test(key, host_normalised)
{
    expect_key("blogs", "GET", "/blogs/7", "EXAMPLE.com:80", NULL,
               "cgicache:blogs:GET:http://example.com/blogs/7");
    expect_key("blogs", "GET", "/blogs/7", "example.com:8080", NULL,
               "cgicache:blogs:GET:http://example.com:8080/blogs/7");
    expect_key("blogs", "GET", "/blogs/7", "example.com:443", "HTTPS=on",
               "cgicache:blogs:GET:https://example.com/blogs/7");
    expect_key("blogs", "GET", "/blogs/7", "example.com:80", "HTTPS=on",
               "cgicache:blogs:GET:https://example.com:80/blogs/7");
}

Test(key, query_modes)
{
    expect_key("none", "GET", "/none/x?a=1", "h", NULL, "cgicache:none:GET:http://h/none/x");
    expect_key("some", "GET", "/some/x?utm=1&page=2&id=3", "h", NULL,
               "cgicache:some:GET:http://h/some/x?id=3&page=2");
    expect_key("some", "GET", "/some/x?pag%65=2", "h", NULL,
               "cgicache:some:GET:http://h/some/x?pag%2565=2");
}

Test(key, vary)
{
    expect_key("lang", "GET", "/lang/x", "h", "HTTP_X_LANG=fr",
               "cgicache:lang:GET:http://h/lang/x|x-lang=fr");
    expect_key("lang", "GET", "/lang/x", "h", NULL, "cgicache:lang:GET:http://h/lang/x|x-lang");
    expect_key("lang", "GET", "/lang/x", "h",
               "HTTP_X_LANG=", "cgicache:lang:GET:http://h/lang/x|x-lang=");
}

Test(key, injective_escaping)
{
    /* A '|' in the path must not pass for a vary part, nor a space, '%' or
     * a byte >= 0x80 for anything else. */
    expect_key("lang", "GET", "/lang/x|x-lang=fr", "h", NULL,
               "cgicache:lang:GET:http://h/lang/x%7Cx-lang=fr|x-lang");
    expect_key("blogs", "GET", "/blogs/a b%20\xc3\xa9", "h", NULL,
               "cgicache:blogs:GET:http://h/blogs/a%20b%2520%C3%A9");
    expect_key("blogs", "GET", "/blogs/x", "h/blogs", NULL,
               "cgicache:blogs:GET:http://h%2Fblogs/blogs/x");
    cc_key *a = key_of("lang", "GET", "/lang/x|x-lang=fr", "h", NULL);
    cc_key *b = key_of("lang", "GET", "/lang/x", "h", "HTTP_X_LANG=fr");
    cr_assert_str_neq(a->full, b->full);
    free(a);
    free(b);
}

Test(key, long_keys_hashed)
{
    char uri[600] = "/blogs/";
    memset(uri + 7, 'a', 400);
    cc_key *k = key_of("blogs", "GET", uri, "h", NULL);
    cr_assert_gt(k->full_len, CC_KEY_HASH_OVER);
    cr_assert_eq(k->redis_len, strlen("cgicache:blogs:{12345678}#") + 32);
    cr_assert_eq(strncmp(k->redis, k->full, 25), 0, "the tag is kept");
    cr_assert_eq(k->redis[25], '#');
    uri[300] = 'b';
    cc_key *k2 = key_of("blogs", "GET", uri, "h", NULL);
    cr_assert_str_neq(k->redis, k2->redis);
    free(k);
    free(k2);
}

Test(key, generation_keys_and_route_prefix)
{
    cc_key *k = key_of("blogs", "GET", "/blogs/7?a=1", "h", NULL);
    cc_key *k2 = key_of("blogs", "GET", "/blogs/7?a=2", "h", "HTTP_X_LANG=fr");
    cc_key *k3 = key_of("blogs", "GET", "/blogs/8", "h", NULL);
    cr_assert_str_eq(k->route_gen, "cgicache:#gen:blogs");
    cr_assert_str_eq(k->url_gen, k2->url_gen);     /* every variant of one URL */
    cr_assert_str_neq(k->url_gen, k3->url_gen);
    char prefix[64];
    cr_assert_eq(cc_key_route_prefix(cfg, "blogs", prefix, sizeof prefix), 0);
    cr_assert_str_eq(prefix, "cgicache:blogs:");
    free(k);
    free(k2);
    free(k3);
}

/* A URL purge computes the URL generation key from a host and a path; a
 * request computes it while building its key.  They must agree, for any
 * spelling of the host the key treats as the same. */
Test(key, url_generation_matches_purge)
{
    cc_key *k = key_of("blogs", "GET", "/blogs/a%20b?x=1", "Example.COM:80", "HTTP_X_LANG=fr");
    char purge[CC_GEN_KEY_MAX];
    const char *path = "/blogs/a b";      /* decoded, as purges name it */
    cr_assert_eq(cc_key_url_gen(cfg, cc_config_route(cfg, "blogs"), false, "example.com", 11, path,
                                strlen(path), purge, sizeof purge),
                 0);
    cr_assert_str_eq(k->url_gen, purge);
    cr_assert_eq(strncmp(purge, "cgicache:#gen:blogs:{", 21), 0);
    cr_assert_eq(strlen(purge), 20 + 34);
    cr_assert_eq(strspn(purge + 21, "0123456789abcdef"), 8);
    cr_assert_eq(purge[29], '}');
    cr_assert_eq(strspn(purge + 30, "0123456789abcdef"), 24);
    /* https is another URL. */
    cr_assert_eq(cc_key_url_gen(cfg, cc_config_route(cfg, "blogs"), true, "example.com", 11, path,
                                strlen(path), purge, sizeof purge),
                 0);
    cr_assert_str_neq(k->url_gen, purge);
    free(k);
}

Test(key, prefix_too_long_for_buffer)
{
    char small[8];
    cr_assert_eq(cc_key_route_prefix(cfg, "blogs", small, sizeof small), -1);
}

Test(key, query_names_folded_as_apps_read_them)
{
    /* query=page,id: every spelling an app may read as page is keyed. */
    expect_key("some", "GET", "/some/x?PAGE=2", "h", NULL,
               "cgicache:some:GET:http://h/some/x?PAGE=2");
    expect_key("some", "GET", "/some/x?pa.ge=2&utm=1", "h", NULL,
               "cgicache:some:GET:http://h/some/x");
    expect_key("some", "GET", "/some/x?page%00x=2", "h", NULL,
               "cgicache:some:GET:http://h/some/x?page%2500x=2");
    expect_key("some", "GET", "/some/x?page[]=2", "h", NULL,
               "cgicache:some:GET:http://h/some/x?page[]=2");
    expect_key("some", "GET", "/some/x?+page=2", "h", NULL,
               "cgicache:some:GET:http://h/some/x?+page=2");
    /* Sorted by folded name; names that fold alike keep their order. */
    expect_key("blogs", "GET", "/blogs/7?b=1&A=2&a=3", "h", NULL,
               "cgicache:blogs:GET:http://h/blogs/7?A=2&a=3&b=1");
    expect_key("blogs", "GET", "/blogs/7?a=3&A=2&b=1", "h", NULL,
               "cgicache:blogs:GET:http://h/blogs/7?a=3&A=2&b=1");
}

Test(key, semicolon_queries_are_verbatim)
{
    expect_key("some", "GET", "/some/x?x=1;page=9", "h", NULL,
               "cgicache:some:GET:http://h/some/x?x=1;page=9");
    expect_key("blogs", "GET", "/blogs/7?b=1;a=2&c", "h", NULL,
               "cgicache:blogs:GET:http://h/blogs/7?b=1;a=2&c");
    expect_key("none", "GET", "/none/x?a=1;b=2", "h", NULL, "cgicache:none:GET:http://h/none/x");
}

Test(key, port_and_rewritten_query)
{
    expect_key("blogs", "GET", "/blogs/7", "h", "SERVER_PORT=80",
               "cgicache:blogs:GET:http://h/blogs/7");
    expect_key("blogs", "GET", "/blogs/7", "h", "SERVER_PORT=8080",
               "cgicache:blogs:GET:http://h/blogs/7|:8080");
    expect_key("blogs", "GET", "/blogs/7", "h:8080", "SERVER_PORT=8080",
               "cgicache:blogs:GET:http://h:8080/blogs/7");
    expect_key("blogs", "GET", "/blogs/7", "h:80", "SERVER_PORT=81",
               "cgicache:blogs:GET:http://h/blogs/7|:81");
    /* QUERY_STRING is what apps parse; REQUEST_URI's query joins it when a
     * rewrite made them differ. */
    expect_key("blogs", "GET", "/blogs/7", "h", "QUERY_STRING=id=7",
               "cgicache:blogs:GET:http://h/blogs/7?id=7|?");
    expect_key("blogs", "GET", "/blogs/7?a=1", "h", "QUERY_STRING=id=7",
               "cgicache:blogs:GET:http://h/blogs/7?id=7|?=a=1");
    expect_key("blogs", "GET", "/blogs/7?a=1", "h", "QUERY_STRING=a=1",
               "cgicache:blogs:GET:http://h/blogs/7?a=1");
}

/* Without REQUEST_URI the path comes decoded from SCRIPT_NAME+PATH_INFO:
 * a literal '?', '#' or '%' there is not a separator or an escape. */
Test(key, decoded_paths_in_uri_form)
{
    char *a[] = {"REQUEST_METHOD=GET", "SCRIPT_NAME=/a", "PATH_INFO=/x?b=1", "HTTP_HOST=h", NULL};
    char *b[] = {"REQUEST_METHOD=GET", "SCRIPT_NAME=/a", "PATH_INFO=/x",
                 "QUERY_STRING=b=1",   "HTTP_HOST=h",    NULL};
    char *c[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a/x%3Fb=1", "HTTP_HOST=h", NULL};
    char *d[] = {"REQUEST_METHOD=GET", "SCRIPT_NAME=/a%41", "HTTP_HOST=h", NULL};
    char *e[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/a%41", "HTTP_HOST=h", NULL};
    char **envs[] = {a, b, c, d, e};
    static cc_key keys[5];
    for (size_t i = 0; i < 5; i++) {
        cc_request rq;
        cr_assert_eq(cc_request_init(&rq, envs[i]), 0);
        cr_assert_eq(cc_key_build(cfg, cc_config_route(cfg, "blogs"), &rq, &keys[i]), 0);
    }
    cr_assert_str_eq(untagged(&keys[0]), "cgicache:blogs:GET:http://h/a/x%253Fb=1");
    cr_assert_str_eq(untagged(&keys[1]), "cgicache:blogs:GET:http://h/a/x?b=1");
    cr_assert_str_eq(keys[2].full, keys[0].full);     /* the same resource, two forms */
    cr_assert_str_neq(keys[3].full, keys[4].full);    /* a literal "%41" is not 'A' */
    cr_assert_str_eq(keys[0].url_gen, keys[2].url_gen);
}

/* A pending purge widened to its route (pending.c) cuts a URL generation
 * key at its last ':': that must be the route generation key. */
Test(key, url_generation_extends_the_route_generation)
{
    cc_key *k = key_of("blogs", "GET", "/blogs/a:b?x=1", "h:8080", NULL);
    const char *colon = strrchr(k->url_gen, ':');
    cr_assert_not_null(colon);
    cr_assert_eq((size_t)(colon - k->url_gen), strlen(k->route_gen));
    cr_assert_eq(strncmp(k->url_gen, k->route_gen, strlen(k->route_gen)), 0);
    free(k);
}

/* What one request does in one step lives in one cluster slot: the entry
 * (hashed or not), every variant of its URL, its lock, its fill channel
 * and its URL's generation; a '{' of the request's own cannot move it. */
Test(key, a_urls_keys_share_a_slot)
{
    cc_key *k = key_of("blogs", "GET", "/blogs/7?a=1", "h", NULL);
    cc_key *v = key_of("blogs", "GET", "/blogs/7?a={x}", "h", NULL);
    cc_key *p = key_of("blogs", "POST", "/blogs/7", "h", NULL);
    char uri[600] = "/blogs/7?";
    memset(uri + 9, 'a', 400);
    cc_key *l = key_of("blogs", "GET", uri, "h", NULL);
    cc_key *o = key_of("blogs", "GET", "/blogs/{8}", "h", NULL);
    unsigned slot = cc_key_slot(k->redis, k->redis_len);
    cr_assert_eq(cc_key_slot(v->redis, v->redis_len), slot);
    cr_assert_eq(cc_key_slot(p->redis, p->redis_len), slot);
    cr_assert_eq(cc_key_slot(l->redis, l->redis_len), slot, "a hashed key keeps the tag");
    cr_assert_eq(cc_key_slot(k->url_gen, strlen(k->url_gen)), slot);
    char lock[CC_KEY_HASH_OVER + 16], fill[CC_KEY_HASH_OVER + 16];
    cr_assert_eq(cc_keyspace_of_entry(cfg, CC_KS_LOCK, k->redis, k->redis_len, lock, sizeof lock),
                 0);
    cr_assert_eq(cc_keyspace_of_entry(cfg, CC_KS_FILL, k->redis, k->redis_len, fill, sizeof fill),
                 0);
    cr_assert_eq(cc_key_slot(lock, strlen(lock)), slot);
    cr_assert_eq(cc_key_slot(fill, strlen(fill)), slot);
    /* Another URL: its own tag, whatever braces its path holds. */
    cr_assert_str_neq(strchr(o->redis, '{'), strchr(k->redis, '{'));
    cr_assert_eq(cc_key_slot(o->redis, o->redis_len), cc_key_slot(o->url_gen, strlen(o->url_gen)));
    free(k);
    free(v);
    free(p);
    free(l);
    free(o);
}
