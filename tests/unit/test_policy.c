/* test_policy.c -- what may be served and stored, and for how long. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

static cc_config *cfg;

static void setup(void)
{
    char *env[] = {"CGICACHE_ROUTE_r=/r/* ttl=60", "CGICACHE_ROUTE_v=/v/* vary=X-Lang,X-Forwarded-Host",
                   "CGICACHE_ROUTE_j=/j/* cookies=ignore", "CGICACHE_MAX_SIZE=1k",
                   "CGICACHE_BYPASS_VALUE=s3cret", NULL};
    cfg = cc_config_parse(env, NULL, 0);
}
static void teardown(void) { cc_config_free(cfg); }
TestSuite(policy, .init = setup, .fini = teardown);

static cc_req_class classify(const char *route, const char *method, const char *extra1, const char *extra2)
{
    char m[64];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    char *env[] = {m, "REQUEST_URI=/r/1", (char *)(extra1 ? extra1 : "X=1"), (char *)(extra2 ? extra2 : "Y=1"), NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, env), 0);
    return cc_policy_request(cfg, cc_config_route(cfg, route), &rq);
}

Test(policy, requests)
{
    cr_assert_eq(classify("r", "GET", NULL, NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify("r", "HEAD", NULL, NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify("r", "POST", NULL, NULL), CC_REQ_UNSAFE);
    cr_assert_eq(classify("r", "GET", "CONTENT_LENGTH=5", NULL), CC_REQ_UNSAFE);
    cr_assert_eq(classify("r", "GET", "CONTENT_LENGTH=0", NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify("r", "GET", "HTTP_X_FORWARDED_HOST=evil", NULL), CC_REQ_UNSAFE);
    cr_assert_eq(classify("v", "GET", "HTTP_X_FORWARDED_HOST=evil", NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify("r", "GET", "HTTP_X_HTTP_METHOD_OVERRIDE=DELETE", NULL), CC_REQ_UNSAFE);
    cr_assert_eq(classify("r", "GET", "HTTP_X_CACHE_BYPASS=s3cret", NULL), CC_REQ_BYPASS);
    cr_assert_eq(classify("r", "GET", "HTTP_X_CACHE_BYPASS=wrong", NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify("r", "GET", "HTTP_CACHE_CONTROL=max-age=0, no-cache", NULL), CC_REQ_NO_CACHE);
    cr_assert_eq(classify("r", "GET", "HTTP_CACHE_CONTROL=no-store", NULL), CC_REQ_NO_CACHE);
    cr_assert_eq(classify("r", "GET", "HTTP_PRAGMA=no-cache", NULL), CC_REQ_NO_CACHE);
    cr_assert_eq(classify("r", "GET", "HTTP_AUTHORIZATION=Basic x", NULL), CC_REQ_PRIVATE);
    cr_assert_eq(classify("r", "GET", "HTTP_COOKIE=s=1", NULL), CC_REQ_PRIVATE);
    cr_assert_eq(classify("r", "GET", "HTTP_COOKIE=", NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify("j", "GET", "HTTP_COOKIE=s=1", NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify("j", "GET", "HTTP_COOKIE=s=1", "HTTP_AUTHORIZATION=x"), CC_REQ_PRIVATE);
}

Test(policy, secret_equal)
{
    cr_assert(cc_secret_equal("abc", 3, "abc", 3));
    cr_assert_not(cc_secret_equal("abc", 3, "abd", 3));
    cr_assert_not(cc_secret_equal("abc", 3, "abcd", 4));
    cr_assert_not(cc_secret_equal("", 0, "a", 1));
    cr_assert(cc_secret_equal("", 0, "", 0));
}

static int64_t ttl_of(const char *route, const char *head_text, size_t body_len, const char **why)
{
    cc_head h;
    cr_assert_eq(cc_head_parse(head_text, strlen(head_text), &h), CC_HEAD_OK);
    return cc_policy_response_ttl(cfg, cc_config_route(cfg, route), &h, body_len, 1000000000000LL, why);
}

Test(policy, never_stored)
{
    const char *why = NULL;
    cr_assert_eq(ttl_of("r", "Status: 404 Not Found\n\n", 0, &why), 0);
    cr_assert_not_null(why);
    cr_assert_eq(ttl_of("r", "Set-Cookie: a=1\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "Cache-Control: private\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "Cache-Control: public, no-store\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "Cache-Control: no-cache\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "Vary: Accept-Encoding\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "Vary: *\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("v", "Vary: x-lang\n\n", 0, NULL), 60000);
    cr_assert_eq(ttl_of("v", "Vary: X-Lang, Cookie\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "X: 1\n\n", 1025, NULL), 0);
    cr_assert_eq(ttl_of("r", "X: 1\n\n", 1024, NULL), 60000);
}

Test(policy, expiry_precedence)
{
    cr_assert_eq(ttl_of("r", "X-Accel-Expires: 5\nCache-Control: max-age=100\n\n", 0, NULL), 5000);
    cr_assert_eq(ttl_of("r", "X-Accel-Expires: 0\nCache-Control: max-age=100\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "X-Accel-Expires: @1000000010\n\n", 0, NULL), 10000);
    cr_assert_eq(ttl_of("r", "Cache-Control: max-age=100, s-maxage=7\n\n", 0, NULL), 7000);
    cr_assert_eq(ttl_of("r", "Cache-Control: max-age=100\n\n", 0, NULL), 100000);
    cr_assert_eq(ttl_of("r", "Cache-Control: max-age=0\n\n", 0, NULL), 0);
    cr_assert_eq(ttl_of("r", "Date: Sun, 06 Nov 1994 08:49:37 GMT\nExpires: Sun, 06 Nov 1994 08:50:37 GMT\n\n", 0, NULL), 60000);
    cr_assert_eq(ttl_of("r", "Expires: 0\n\n", 0, NULL), 0);
    /* Found by fuzzing: huge deltas saturate instead of overflowing. */
    cr_assert_eq(ttl_of("r", "Cache-Control: max-age=99999999999999999999999999\n\n", 0, NULL),
                 CC_SECONDS_MAX * 1000);
    cr_assert_eq(ttl_of("r", "X-Accel-Expires: 999999999999999999\n\n", 0, NULL), CC_SECONDS_MAX * 1000);
    cr_assert_eq(ttl_of("r", "Expires: Sun, 06 Nov 1994 08:49:37 GMT\n\n", 0, NULL), 0);
}

Test(policy, http_dates)
{
    int64_t ms;
    cr_assert_eq(cc_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &ms), 0);
    cr_assert_eq(ms, 784111777000LL);
    cr_assert_eq(cc_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30, &ms), 0);
    cr_assert_eq(ms, 784111777000LL);
    cr_assert_eq(cc_parse_http_date("Sun Nov  6 08:49:37 1994", 24, &ms), 0);
    cr_assert_eq(ms, 784111777000LL);
    cr_assert_eq(cc_parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT", 29, &ms), 0);
    cr_assert_eq(ms, 1709164800000LL);
    cr_assert_eq(cc_parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT", 29, &ms), -1);
    cr_assert_eq(cc_parse_http_date("Sun, 06 Nox 1994 08:49:37 GMT", 29, &ms), -1);
    cr_assert_eq(cc_parse_http_date("yesterday", 9, &ms), -1);
    cr_assert_eq(cc_parse_http_date("", 0, &ms), -1);
}

Test(policy, xfetch)
{
    /* rand01 = 1: ln 1 = 0, refresh only at or after expiry. */
    cr_assert_not(cc_policy_early_refresh(999, 1000, 100, 1.0, 1.0));
    cr_assert(cc_policy_early_refresh(1000, 1000, 100, 1.0, 1.0));
    /* A small draw refreshes well before expiry, in proportion to compute. */
    cr_assert(cc_policy_early_refresh(500, 1000, 100, 1.0, 0.001));    /* lead 690 */
    cr_assert_not(cc_policy_early_refresh(500, 1000, 10, 1.0, 0.001)); /* lead 69 */
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, 0.0, 0.001));
    /* compute 0 counts as 1 ms. */
    cr_assert(cc_policy_early_refresh(999, 1000, 0, 1.0, 0.1));
}
