/* test_policy.c -- what may be served and stored, and for how long.
 *
 * The configuration and routes are built by hand, field by field, so that
 * these rules are tested on their own, whatever the config parser does. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

static cc_config cfg;
static cc_route plain;       /* ttl 60 s, status 200, no vary */
static cc_route varied;      /* vary=X-Lang,X-Forwarded-Host,X-Forwarded-Proto */
static cc_route cookies_ok;  /* cookies=ignore, status=200,404 */

static void add_vary(cc_route *r, const char *header)
{
    cc_header_name *v = &r->vary[r->nvary++];
    snprintf(v->http, sizeof v->http, "%s", header);
    cr_assert_eq(cc_header_to_cgi(header, v->cgi, sizeof v->cgi), 0);
}

static void init_route(cc_route *r, const char *name)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->methods = CC_M_GET | CC_M_HEAD;
    r->ttl_ms = 60000;
    r->nstatuses = 1;
    r->statuses[0] = 200;
    r->lock = true;
}

static void setup(void)
{
    memset(&cfg, 0, sizeof cfg);
    cfg.enabled = true;
    cfg.ttl_ms = 60000;
    cfg.max_size = 1024;
    snprintf(cfg.bypass_header.http, sizeof cfg.bypass_header.http, "X-Cache-Bypass");
    snprintf(cfg.bypass_header.cgi, sizeof cfg.bypass_header.cgi, "HTTP_X_CACHE_BYPASS");
    init_route(&plain, "plain");
    init_route(&varied, "varied");
    add_vary(&varied, "X-Lang");
    add_vary(&varied, "X-Forwarded-Host");
    add_vary(&varied, "X-Forwarded-Proto");
    init_route(&cookies_ok, "cookies_ok");
    cookies_ok.cookies_ignore = true;
    cookies_ok.statuses[cookies_ok.nstatuses++] = 404;
}

TestSuite(policy_request, .init = setup);
TestSuite(policy_response, .init = setup);

/* ---- requests ---------------------------------------------------------------- */

/* Classifies a request with the given method and up to three more
 * parameters (NULL for none). */
static cc_req_class classify3(const cc_route *route, const char *method, const char *p1,
                              const char *p2, const char *p3)
{
    char m[64];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    char *env[8] = {m, "REQUEST_URI=/r/1?a=1", "HTTP_HOST=example.com"};
    size_t n = 3;
    const char *extra[] = {p1, p2, p3};
    for (size_t i = 0; i < 3; i++)
        if (extra[i] != NULL)
            env[n++] = (char *)extra[i];
    env[n] = NULL;
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, env), 0);
    return cc_policy_request(&cfg, route, &rq);
}

static cc_req_class classify(const cc_route *route, const char *method, const char *param)
{
    return classify3(route, method, param, NULL, NULL);
}

Test(policy_request, safe_methods_are_cacheable)
{
    cr_assert_eq(classify(&plain, "GET", NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "HEAD", NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "CONTENT_LENGTH=0"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "CONTENT_LENGTH="), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_FORWARDED_FOR=10.0.0.1"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_ACCEPT=text/html"), CC_REQ_CACHEABLE);
}

Test(policy_request, unsafe_methods_and_bodies)
{
    const char *methods[] = {"POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "BREW"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        cr_assert_eq(classify(&plain, methods[i], NULL), CC_REQ_UNSAFE, "%s", methods[i]);
    /* A GET with a body (a fat GET) could make the app answer differently
     * for the same key. */
    cr_assert_eq(classify(&plain, "GET", "CONTENT_LENGTH=5"), CC_REQ_UNSAFE);
    cr_assert_eq(classify(&plain, "HEAD", "CONTENT_LENGTH=10"), CC_REQ_UNSAFE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_TRANSFER_ENCODING=chunked"), CC_REQ_UNSAFE);
}

Test(policy_request, forwarding_headers_the_key_does_not_cover)
{
    const char *headers[] = {
        "HTTP_X_FORWARDED_HOST=evil.example",
        "HTTP_X_ORIGINAL_URL=/admin",
        "HTTP_X_REWRITE_URL=/admin",
        "HTTP_X_HTTP_METHOD_OVERRIDE=DELETE",
        "HTTP_X_HTTP_METHOD=PUT",
        "HTTP_X_METHOD_OVERRIDE=POST",
        "HTTP_X_FORWARDED_SCHEME=http",
        "HTTP_X_FORWARDED_PROTO=http",
        "HTTP_X_FORWARDED_PORT=8080",
        "HTTP_X_FORWARDED_PREFIX=/x",
        "HTTP_X_FORWARDED_SERVER=evil",
        "HTTP_X_FORWARDED_SSL=on",
        "HTTP_X_HOST=evil",
        "HTTP_X_ORIGINAL_HOST=evil",
        "HTTP_FORWARDED=host=evil;proto=http",
        "HTTP_X_FORWARDED_HOST=",   /* present, even empty, changes what the app sees */
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        cr_assert_eq(classify(&plain, "GET", headers[i]), CC_REQ_UNSAFE, "%s", headers[i]);
}

Test(policy_request, forwarding_header_covered_by_vary)
{
    cr_assert_eq(classify(&varied, "GET", "HTTP_X_FORWARDED_HOST=evil.example"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&varied, "GET", "HTTP_X_FORWARDED_PROTO=https"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify3(&varied, "GET", "HTTP_X_FORWARDED_HOST=a",
                           "HTTP_X_FORWARDED_PROTO=https", "HTTP_X_LANG=de"),
                 CC_REQ_CACHEABLE);
    /* Covering one forwarding header does not cover another. */
    cr_assert_eq(classify3(&varied, "GET", "HTTP_X_FORWARDED_HOST=a", "HTTP_X_ORIGINAL_URL=/b",
                           NULL),
                 CC_REQ_UNSAFE);
    cr_assert_eq(classify(&varied, "GET", "HTTP_X_FORWARDED_PORT=81"), CC_REQ_UNSAFE);
}

Test(policy_request, bypass_header_without_a_value)
{
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=1"), CC_REQ_BYPASS);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=anything"), CC_REQ_BYPASS);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS="), CC_REQ_BYPASS);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASSX=1"), CC_REQ_CACHEABLE);
    /* No bypass header configured: nothing bypasses. */
    cfg.bypass_header.http[0] = cfg.bypass_header.cgi[0] = '\0';
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=1"), CC_REQ_CACHEABLE);
}

Test(policy_request, bypass_header_with_a_value)
{
    snprintf(cfg.bypass_value, sizeof cfg.bypass_value, "s3cret");
    cfg.bypass_value_set = true;
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=s3cret"), CC_REQ_BYPASS);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=wrong"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=s3cre"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=s3crett"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS=S3CRET"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_CACHE_BYPASS="), CC_REQ_CACHEABLE);
    /* A wrong value is no bypass, so the request's other traits decide. */
    cr_assert_eq(classify3(&plain, "GET", "HTTP_X_CACHE_BYPASS=wrong", "HTTP_COOKIE=a=1", NULL),
                 CC_REQ_PRIVATE);
}

Test(policy_request, client_no_cache)
{
    cr_assert_eq(classify(&plain, "GET", "HTTP_CACHE_CONTROL=no-cache"), CC_REQ_NO_CACHE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_CACHE_CONTROL=max-age=0, no-cache"),
                 CC_REQ_NO_CACHE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_CACHE_CONTROL=NO-STORE"), CC_REQ_NO_CACHE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_PRAGMA=no-cache"), CC_REQ_NO_CACHE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_CACHE_CONTROL=max-age=0"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_CACHE_CONTROL=no-transform"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_PRAGMA=no-store"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_PRAGMA="), CC_REQ_CACHEABLE);
}

Test(policy_request, private_requests)
{
    cr_assert_eq(classify(&plain, "GET", "HTTP_AUTHORIZATION=Basic eDp5"), CC_REQ_PRIVATE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_AUTHORIZATION="), CC_REQ_PRIVATE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_COOKIE=session=1"), CC_REQ_PRIVATE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_COOKIE="), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&cookies_ok, "GET", "HTTP_COOKIE=session=1"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify3(&cookies_ok, "GET", "HTTP_COOKIE=s=1", "HTTP_AUTHORIZATION=x", NULL),
                 CC_REQ_PRIVATE);
}

Test(policy_request, order_of_the_rules)
{
    snprintf(cfg.bypass_value, sizeof cfg.bypass_value, "yes");
    cfg.bypass_value_set = true;
    /* UNSAFE before BYPASS before NO_CACHE before PRIVATE. */
    cr_assert_eq(classify(&plain, "POST", "HTTP_X_CACHE_BYPASS=yes"), CC_REQ_UNSAFE);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_X_ORIGINAL_URL=/a", "HTTP_X_CACHE_BYPASS=yes",
                           NULL),
                 CC_REQ_UNSAFE);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_X_CACHE_BYPASS=yes", "HTTP_PRAGMA=no-cache",
                           "HTTP_AUTHORIZATION=x"),
                 CC_REQ_BYPASS);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_COOKIE=a=1", "HTTP_CACHE_CONTROL=no-cache", NULL),
                 CC_REQ_NO_CACHE);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_AUTHORIZATION=x", "HTTP_CACHE_CONTROL=no-store",
                           NULL),
                 CC_REQ_NO_CACHE);
}

Test(policy_request, secret_equal)
{
    cr_assert(cc_secret_equal("abc", 3, "abc", 3));
    cr_assert_not(cc_secret_equal("abc", 3, "abd", 3));
    cr_assert_not(cc_secret_equal("abc", 3, "xbc", 3));
    cr_assert_not(cc_secret_equal("abc", 3, "abcd", 4));
    cr_assert_not(cc_secret_equal("abcd", 4, "abc", 3));
    cr_assert_not(cc_secret_equal("", 0, "a", 1));
    cr_assert(cc_secret_equal("", 0, "", 0));
    /* Lengths are what count, not NULs. */
    cr_assert_not(cc_secret_equal("a\0", 2, "a", 1));
    cr_assert(cc_secret_equal("a\0b", 3, "a\0b", 3));
    cr_assert(cc_secret_equal("abcdef", 3, "abcxyz", 3));
}

/* ---- responses ------------------------------------------------------------------ */

#define NOW 1000000000000LL   /* 2001-09-09T01:46:40Z */

static int64_t ttl_why(const cc_route *route, const char *head_text, size_t body_len,
                       const char **why)
{
    cc_head h;
    cr_assert_eq(cc_head_parse(head_text, strlen(head_text), &h), CC_HEAD_OK, "%s", head_text);
    return cc_policy_response_ttl(&cfg, route, &h, body_len, NOW, why);
}

static int64_t ttl(const cc_route *route, const char *head_text)
{
    return ttl_why(route, head_text, 0, NULL);
}

/* Asserts the response is not stored, for a reason that mentions word. */
static void assert_refused(const cc_route *route, const char *head_text, size_t body_len,
                           const char *word)
{
    const char *why = NULL;
    cr_assert_eq(ttl_why(route, head_text, body_len, &why), 0, "%s", head_text);
    cr_assert_not_null(why, "%s", head_text);
    cr_assert_not_null(strstr(why, word), "'%s' for %s", why, head_text);
}

Test(policy_response, route_ttl_by_default)
{
    cr_assert_eq(ttl(&plain, "Content-Type: text/html\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "\n"), 60000);
    cr_assert_eq(ttl(&plain, "Cache-Control: public\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "Status: 200 OK\n\n"), 60000);
    plain.ttl_ms = 1500;
    cr_assert_eq(ttl(&plain, "\n"), 1500);
    plain.ttl_ms = 0;
    assert_refused(&plain, "\n", 0, "ttl");
}

Test(policy_response, statuses)
{
    assert_refused(&plain, "Status: 404 Not Found\n\n", 0, "status");
    assert_refused(&plain, "Status: 500\n\n", 0, "status");
    assert_refused(&plain, "Location: /x\n\n", 0, "status");   /* an implied 302 */
    cr_assert_eq(ttl(&cookies_ok, "Status: 404 Not Found\n\n"), 60000);
    cr_assert_eq(ttl(&cookies_ok, "Status: 200\n\n"), 60000);
    plain.statuses[plain.nstatuses++] = 302;
    cr_assert_eq(ttl(&plain, "Location: /x\n\n"), 60000);
    plain.nstatuses = 0;
    assert_refused(&plain, "\n", 0, "status");
}

Test(policy_response, set_cookie)
{
    assert_refused(&plain, "Set-Cookie: a=1\n\n", 0, "Set-Cookie");
    assert_refused(&plain, "Content-Type: x\nset-cookie: a=1\nCache-Control: max-age=60\n\n", 0,
                   "Set-Cookie");
    assert_refused(&cookies_ok, "Set-Cookie: a=1\n\n", 0, "Set-Cookie");
}

Test(policy_response, cache_control_forbids)
{
    assert_refused(&plain, "Cache-Control: private\n\n", 0, "Cache-Control");
    assert_refused(&plain, "Cache-Control: public, no-store\n\n", 0, "Cache-Control");
    assert_refused(&plain, "Cache-Control: no-cache\n\n", 0, "Cache-Control");
    assert_refused(&plain, "Cache-Control: max-age=600, PRIVATE\n\n", 0, "Cache-Control");
    assert_refused(&plain, "Cache-Control: no-cache=\"Set-Cookie\"\n\n", 0, "Cache-Control");
    assert_refused(&plain, "X-Accel-Expires: 600\nCache-Control: private\n\n", 0, "Cache-Control");
    cr_assert_eq(ttl(&plain, "Cache-Control: public, must-revalidate\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "Cache-Control: proxy-revalidate, max-age=5\n\n"), 5000);
}

Test(policy_response, vary)
{
    assert_refused(&plain, "Vary: *\n\n", 0, "Vary");
    assert_refused(&varied, "Vary: *\n\n", 0, "Vary");
    /* Accept-Encoding is the cache's own to negotiate (hit.h): a body the
     * app encoded goes only to the clients that take its coding. */
    cr_assert_eq(ttl(&plain, "Vary: Accept-Encoding\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "Vary: accept-encoding, X-Lang\n\n"), 0);
    cr_assert_eq(ttl(&varied, "Vary: X-Lang, Accept-Encoding\n\n"), 60000);
    assert_refused(&varied, "Vary: X-Lang, Cookie\n\n", 0, "Vary");
    assert_refused(&varied, "Vary: X-Lang\nVary: Accept\n\n", 0, "Vary");
    assert_refused(&varied, "Vary: X-Langs\n\n", 0, "Vary");
    cr_assert_eq(ttl(&varied, "Vary: x-lang\n\n"), 60000);
    cr_assert_eq(ttl(&varied, "Vary: X-Lang,X-Forwarded-Host\n\n"), 60000);
    cr_assert_eq(ttl(&varied, "Vary: X-LANG , x-forwarded-proto\nvary: X-Lang\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "Vary:\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "Vary: , \n\n"), 60000);
}

Test(policy_response, size_limit)
{
    cr_assert_eq(ttl_why(&plain, "X: 1\n\n", 1024, NULL), 60000);
    assert_refused(&plain, "X: 1\n\n", 1025, "SIZE");
    cfg.max_size = 0;
    cr_assert_eq(ttl_why(&plain, "X: 1\n\n", 0, NULL), 60000);
    assert_refused(&plain, "X: 1\n\n", 1, "SIZE");
}

Test(policy_response, x_accel_expires)
{
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: 5\nCache-Control: max-age=100\n\n"), 5000);
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: 3600\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\n\n"),
                 3600000);
    assert_refused(&plain, "X-Accel-Expires: 0\nCache-Control: max-age=100\n\n", 0, "expired");
    /* "@" and an absolute Unix time. */
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: @1000000010\n\n"), 10000);
    assert_refused(&plain, "X-Accel-Expires: @1000000000\n\n", 0, "expired");
    assert_refused(&plain, "X-Accel-Expires: @999999999\n\n", 0, "expired");
    /* Not a number: ignored, as nginx does, and the next header decides. */
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: soon\nCache-Control: max-age=7\n\n"), 7000);
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: 5s\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: -5\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: @\n\n"), 60000);
    /* Huge values saturate at a century instead of overflowing. */
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: 999999999999999999999999\n\n"),
                 CC_SECONDS_MAX * 1000);
    cr_assert_eq(ttl(&plain, "X-Accel-Expires: @99999999999999999999\n\n"),
                 CC_SECONDS_MAX * 1000 - NOW);
}

Test(policy_response, cache_control_ages)
{
    cr_assert_eq(ttl(&plain, "Cache-Control: max-age=100\n\n"), 100000);
    cr_assert_eq(ttl(&plain, "Cache-Control: max-age=100, s-maxage=7\n\n"), 7000);
    cr_assert_eq(ttl(&plain, "Cache-Control: s-maxage=7, max-age=100\n\n"), 7000);
    cr_assert_eq(ttl(&plain, "Cache-Control: s-maxage=0, max-age=100\n\n"), 0);
    cr_assert_eq(ttl(&plain, "Cache-Control: max-age=0, s-maxage=100\n\n"), 100000);
    cr_assert_eq(ttl(&plain, "Cache-Control: public, max-age=\"30\"\n\n"), 30000);
    assert_refused(&plain, "Cache-Control: max-age=0\n\n", 0, "expired");
    /* A directive that is there but not a number: not stored (nginx). */
    assert_refused(&plain, "Cache-Control: max-age=abc\n\n", 0, "expired");
    assert_refused(&plain, "Cache-Control: max-age\n\n", 0, "expired");
    assert_refused(&plain, "Cache-Control: s-maxage=x, max-age=60\n\n", 0, "expired");
    /* max-age beats Expires. */
    cr_assert_eq(ttl(&plain,
                     "Cache-Control: max-age=9\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\n\n"),
                 9000);
    cr_assert_eq(ttl(&plain, "Cache-Control: max-age=99999999999999999999999999\n\n"),
                 CC_SECONDS_MAX * 1000);
}

Test(policy_response, expires)
{
    /* Against the response's own Date. */
    cr_assert_eq(ttl(&plain, "Date: Sun, 06 Nov 1994 08:49:37 GMT\nExpires: Sun, 06 Nov 1994 "
                             "08:50:37 GMT\n\n"),
                 60000);
    assert_refused(&plain,
                   "Date: Sun, 06 Nov 1994 08:49:37 GMT\nExpires: Sun, 06 Nov 1994 08:49:37 "
                   "GMT\n\n",
                   0, "expired");
    /* Against now without a Date, or with one that does not parse. */
    cr_assert_eq(ttl(&plain, "Expires: Sun, 09 Sep 2001 01:47:40 GMT\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "Date: yesterday\nExpires: Sun, 09 Sep 2001 01:47:40 GMT\n\n"), 60000);
    cr_assert_eq(ttl(&plain, "Cache-Control: public\nExpires: Sunday, 09-Sep-01 02:46:40 GMT\n\n"),
                 3600000);
    assert_refused(&plain, "Expires: Sun, 06 Nov 1994 08:49:37 GMT\n\n", 0, "expired");
    /* An Expires that does not parse means already expired (RFC 9111). */
    assert_refused(&plain, "Expires: 0\n\n", 0, "expired");
    assert_refused(&plain, "Expires: -1\n\n", 0, "expired");
    assert_refused(&plain, "Expires:\n\n", 0, "expired");
}

Test(policy_response, why_is_optional_and_untouched_when_stored)
{
    cc_head h;
    cr_assert_eq(cc_head_parse("Set-Cookie: a\n\n", 15, &h), CC_HEAD_OK);
    cr_assert_eq(cc_policy_response_ttl(&cfg, &plain, &h, 0, NOW, NULL), 0);
    const char *why = "unchanged";
    cr_assert_eq(cc_head_parse("X: 1\n\n", 6, &h), CC_HEAD_OK);
    cr_assert_eq(cc_policy_response_ttl(&cfg, &plain, &h, 0, NOW, &why), 60000);
    cr_assert_str_eq(why, "unchanged");
}

/* ---- HTTP dates ------------------------------------------------------------------- */

static int date(const char *text, int64_t *ms)
{
    return cc_parse_http_date(text, strlen(text), ms);
}

static void assert_date(const char *text, int64_t unix_seconds)
{
    int64_t ms = -1;
    cr_assert_eq(date(text, &ms), 0, "%s", text);
    cr_assert_eq(ms, unix_seconds * 1000, "%s: %lld", text, (long long)ms);
}

Test(http_date, the_three_formats)
{
    assert_date("Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
    assert_date("Sunday, 06-Nov-94 08:49:37 GMT", 784111777);
    assert_date("Sun Nov  6 08:49:37 1994", 784111777);
    assert_date("Wed Nov 16 08:49:37 1994", 784975777);
    assert_date("Wed, 16 Nov 1994 08:49:37 GMT", 784975777);
}

Test(http_date, calendar)
{
    assert_date("Thu, 01 Jan 1970 00:00:00 GMT", 0);
    assert_date("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800);
    assert_date("Tue, 29 Feb 2000 12:00:00 GMT", 951825600);
    assert_date("Thu, 01 Mar 1900 00:00:00 GMT", -2203891200LL);
    assert_date("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL);
    assert_date("Sun, 31 Dec 2023 23:59:60 GMT", 1704067200);   /* a leap second */
    assert_date("Sun, 09 Sep 2001 01:46:40 GMT", 1000000000);
}

Test(http_date, rfc850_years_and_cookie_style)
{
    assert_date("Thursday, 01-Jan-70 00:00:00 GMT", 0);
    assert_date("Tuesday, 01-Jan-69 00:00:00 GMT", 3124224000LL);
    assert_date("Sun, 06-Nov-1994 08:49:37 GMT", 784111777);
    assert_date("sun, 06 nov 1994 08:49:37 GMT", 784111777);
}

Test(http_date, refused)
{
    const char *bad[] = {
        "",
        "yesterday",
        "0",
        "-1",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nox 1994 08:49:37 GMT",
        "Sux, 06 Nov 1994 08:49:37 GMT",
        "06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 GMT+1",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Apr 1994 08:49:37 GMT",
        "Thu, 29 Feb 2023 00:00:00 GMT",
        "Thu, 29 Feb 1900 00:00:00 GMT",
        "Sun, 06 Nov 1899 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06-Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-994 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun,06 Nov 1994 08:49:37 GMT",
        "Sunday",
        "Sun, ",
        "Sun Nov",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        cr_assert_eq(date(bad[i], &ms), -1, "'%s'", bad[i]);
        cr_assert_eq(ms, 42, "*out_ms untouched for '%s'", bad[i]);
    }
}

Test(http_date, reads_only_len_bytes)
{
    int64_t ms;
    const char *t = "Sun, 06 Nov 1994 08:49:37 GMTXYZ";
    cr_assert_eq(cc_parse_http_date(t, 29, &ms), 0);
    cr_assert_eq(ms, 784111777000LL);
    cr_assert_eq(cc_parse_http_date(t, 28, &ms), -1);
    cr_assert_eq(cc_parse_http_date(t, 3, &ms), -1);
}

/* ---- early refresh -------------------------------------------------------------------- */

Test(xfetch, a_draw_of_one_refreshes_only_at_expiry)
{
    /* ln 1 = 0: no lead at all. */
    cr_assert_not(cc_policy_early_refresh(999, 1000, 100000, 1.0, 1.0));
    cr_assert(cc_policy_early_refresh(1000, 1000, 100, 1.0, 1.0));
    cr_assert(cc_policy_early_refresh(5000, 1000, 100, 1.0, 1.0));
}

Test(xfetch, small_draws_refresh_early_in_proportion_to_compute)
{
    /* -ln 0.001 = 6.9078: lead = compute * beta * 6.9. */
    cr_assert(cc_policy_early_refresh(500, 1000, 100, 1.0, 0.001));     /* lead 690.8 */
    cr_assert_not(cc_policy_early_refresh(500, 1000, 10, 1.0, 0.001));  /* lead 69.1 */
    cr_assert(cc_policy_early_refresh(931, 1000, 10, 1.0, 0.001));
    cr_assert_not(cc_policy_early_refresh(930, 1000, 10, 1.0, 0.001));
    /* beta scales the lead. */
    cr_assert(cc_policy_early_refresh(900, 1000, 10, 2.0, 0.001));      /* lead 138.2 */
    cr_assert_not(cc_policy_early_refresh(900, 1000, 10, 1.0, 0.001));
    cr_assert(cc_policy_early_refresh(0, 1000, 1000, 1.0, 1e-300));
}

Test(xfetch, disabled_and_out_of_range)
{
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, 0.0, 0.001));
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, -1.0, 0.001));
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, NAN, 0.001));
    cr_assert_not(cc_policy_early_refresh(2000, 1000, 100, 0.0, 1.0), "beta 0 never refreshes");
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, 1.0, 0.0));
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, 1.0, -0.5));
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, 1.0, 1.5));
    cr_assert_not(cc_policy_early_refresh(500, 1000, 100, 1.0, NAN));
}

Test(xfetch, compute_below_one_ms_counts_as_one)
{
    /* -ln 0.1 = 2.3: a 1 ms lead of 2.3 ms. */
    cr_assert(cc_policy_early_refresh(998, 1000, 0, 1.0, 0.1));
    cr_assert_not(cc_policy_early_refresh(997, 1000, 0, 1.0, 0.1));
    cr_assert(cc_policy_early_refresh(998, 1000, -50, 1.0, 0.1));
    cr_assert_not(cc_policy_early_refresh(997, 1000, -50, 1.0, 0.1));
}

/* ---- every copy, every line ------------------------------------------------- */

Test(policy_request, every_copy_of_a_repeated_header_counts)
{
    /* An empty cookie then a session: never cacheable, whichever copy an
     * app reads (ambiguous before private; both answer BYPASS). */
    cr_assert_eq(classify3(&plain, "GET", "HTTP_COOKIE=", "HTTP_COOKIE=session=alice", NULL),
                 CC_REQ_AMBIGUOUS);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_COOKIE=s=1", "HTTP_COOKIE=s=1", NULL),
                 CC_REQ_PRIVATE);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_AUTHORIZATION=", NULL, NULL), CC_REQ_PRIVATE);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_CACHE_CONTROL=max-age=0",
                           "HTTP_CACHE_CONTROL=no-cache", NULL),
                 CC_REQ_AMBIGUOUS);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_PRAGMA=no-cache", "HTTP_PRAGMA=no-cache", NULL),
                 CC_REQ_NO_CACHE);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_X_CACHE_BYPASS=1", "HTTP_X_CACHE_BYPASS=1", NULL),
                 CC_REQ_BYPASS);
}

Test(policy_request, repeats_that_differ_are_ambiguous)
{
    cr_assert_eq(classify3(&varied, "GET", "HTTP_X_LANG=en", "HTTP_X_LANG=fr", NULL),
                 CC_REQ_AMBIGUOUS);
    cr_assert_eq(classify3(&varied, "GET", "HTTP_X_LANG=en", "HTTP_X_LANG=en", NULL),
                 CC_REQ_CACHEABLE);
    cr_assert_eq(classify3(&plain, "GET", "HTTP_HOST=evil.example", NULL, NULL), CC_REQ_AMBIGUOUS);
    cr_assert_eq(classify3(&plain, "GET", "QUERY_STRING=a=1", "QUERY_STRING=a=2", NULL),
                 CC_REQ_AMBIGUOUS);
    cr_assert_eq(classify3(&plain, "GET", "REQUEST_URI=/r/1?a=1", NULL, NULL), CC_REQ_CACHEABLE);
    cr_assert_eq(classify3(&plain, "GET", "SERVER_PORT=80", "SERVER_PORT=8080", NULL),
                 CC_REQ_AMBIGUOUS);
    /* A header no rule reads may repeat freely. */
    cr_assert_eq(classify3(&plain, "GET", "HTTP_ACCEPT=a", "HTTP_ACCEPT=b", NULL),
                 CC_REQ_CACHEABLE);
}

Test(policy_request, users_the_server_authenticated_are_private)
{
    cr_assert_eq(classify(&cookies_ok, "GET", "REMOTE_USER=alice"), CC_REQ_PRIVATE);
    cr_assert_eq(classify(&cookies_ok, "GET", "REMOTE_USER="), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&cookies_ok, "GET", "SSL_CLIENT_VERIFY=SUCCESS"), CC_REQ_PRIVATE);
    cr_assert_eq(classify(&cookies_ok, "GET", "SSL_CLIENT_VERIFY=NONE"), CC_REQ_CACHEABLE);
}

Test(policy_request, paths_not_in_normal_form_are_ambiguous)
{
    static const char *const bad[] = {"REQUEST_URI=/a/..%2Fb", "REQUEST_URI=/a/%2e%2e/b",
                                      "REQUEST_URI=/a//b",     "REQUEST_URI=/a/./b",
                                      "REQUEST_URI=/a;x.css",  "REQUEST_URI=/%61",
                                      "REQUEST_URI=/a%5Cb",    "REQUEST_URI=/a%",
                                      "REQUEST_URI=/a%2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *env[] = {"REQUEST_METHOD=GET", (char *)bad[i], NULL};
        cc_request rq;
        cr_assert_eq(cc_request_init(&rq, env), 0, "%s", bad[i]);
        cr_assert_eq(cc_policy_request(&cfg, &plain, &rq), CC_REQ_AMBIGUOUS, "%s", bad[i]);
    }
    char *good[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/caf%C3%A9/a%20b?x=%2F", NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, good), 0);
    cr_assert_eq(cc_policy_request(&cfg, &plain, &rq), CC_REQ_CACHEABLE);
}

Test(policy_response, every_cache_control_line_counts)
{
    assert_refused(&plain, "Cache-Control: max-age=60\nCache-Control: private\n\n", 0,
                   "Cache-Control");
    assert_refused(&plain, "Cache-Control: max-age=60\ncache-control: no-store\n\n", 0,
                   "Cache-Control");
    assert_refused(&plain, "Cache-Control: public\nPragma: no-cache\n\n", 0, "Pragma");
    assert_refused(&plain, "Set-Cookie2: a=1\n\n", 0, "Set-Cookie");
    /* Lifetimes that disagree, on one line or several: not stored. */
    assert_refused(&plain, "Cache-Control: max-age=60\nCache-Control: max-age=0\n\n", 0, "expired");
    assert_refused(&plain, "Cache-Control: max-age=60, max-age=5\n\n", 0, "expired");
    assert_refused(&plain, "X-Accel-Expires: 60\nX-Accel-Expires: 0\n\n", 0, "expired");
    assert_refused(&plain,
                   "Expires: Thu, 01 Jan 2099 00:00:00 GMT\nExpires: Thu, 01 Jan 1970 00:00:00 "
                   "GMT\n\n",
                   0, "expired");
    /* Lines that agree combine. */
    cr_assert_eq(ttl(&plain, "Cache-Control: public\nCache-Control: max-age=5\n\n"), 5000);
    cr_assert_eq(ttl(&plain, "Cache-Control: max-age=5\nCache-Control: max-age=5\n\n"), 5000);
    cr_assert_eq(ttl(&plain, "Cache-Control: s-maxage=7\nCache-Control: max-age=5\n\n"), 7000);
}

/* Every forwarding header README.md lists makes a request UNSAFE unless
 * the route keys on it. */
Test(policy_request, every_listed_forwarding_header)
{
    static const char *const names[] = {"FORWARDED",
                                        "X_FORWARDED_HOST",
                                        "X_FORWARDED_SERVER",
                                        "X_FORWARDED_PORT",
                                        "X_FORWARDED_PROTO",
                                        "X_FORWARDED_PROTOCOL",
                                        "X_FORWARDED_SCHEME",
                                        "X_FORWARDED_SSL",
                                        "X_FORWARDED_HTTPS",
                                        "X_FORWARDED_PREFIX",
                                        "X_FORWARDED_PATH",
                                        "X_FORWARDED_URI",
                                        "X_FORWARDED_URL",
                                        "X_FORWARDED_SCRIPT_NAME",
                                        "X_FRONT_END_HTTPS",
                                        "FRONT_END_HTTPS",
                                        "X_URL_SCHEME",
                                        "X_SCHEME",
                                        "X_ARR_SSL",
                                        "CLOUDFRONT_FORWARDED_PROTO",
                                        "X_SCRIPT_NAME",
                                        "SCRIPT_NAME",
                                        "X_TRAVERSAL_PATH",
                                        "X_HOST",
                                        "X_HTTP_HOST_OVERRIDE",
                                        "X_ORIGINAL_HOST",
                                        "X_ORIGINAL_PROTO",
                                        "X_ORIGINAL_URI",
                                        "X_ORIGINAL_URL",
                                        "X_REWRITE_URL",
                                        "X_OVERRIDE_URL",
                                        "UNENCODED_URL",
                                        "X_HTTP_METHOD_OVERRIDE",
                                        "X_HTTP_METHOD",
                                        "X_METHOD_OVERRIDE",
                                        "X_ORIGINAL_METHOD"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "HTTP_%s=x", names[i]);
        cr_assert_eq(classify(&plain, "GET", p), CC_REQ_UNSAFE, "%s", p);
    }
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_FORWARDED_FOR=1.2.3.4"), CC_REQ_CACHEABLE);
    cr_assert_eq(classify(&plain, "GET", "HTTP_X_REAL_IP=1.2.3.4"), CC_REQ_CACHEABLE);
}

Test(policy_response, per_status_lifetimes, .init = setup)
{
    cc_route r;
    char msg[128];
    init_route(&r, "per_status");
    cr_assert_null(cc_route_parse(&r, "/x/* ttl=60 status=200,301:1h,404:30s", msg, sizeof msg));
    cr_expect_eq(ttl(&r, "Content-Type: text/html\n\n"), 60000);
    cr_expect_eq(ttl(&r, "Status: 301 Moved\nLocation: /y\n\n"), 3600000);
    cr_expect_eq(ttl(&r, "Status: 404 Not Found\n\n"), 30000);
    cr_expect_eq(ttl(&r, "Status: 410 Gone\n\n"), 0);      /* negative caching: opt-in */
    /* The app's own expiry still comes first. */
    cr_expect_eq(ttl(&r, "Status: 404 Not Found\nCache-Control: max-age=5\n\n"), 5000);
    const char *bad[] = {"status=404:",  "status=404:0",    "status=404:x",
                         "status=40:5s", "status=404:5s:1", "status=4040:5s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "/x/* %s", bad[i]);
        init_route(&r, "bad");
        cr_expect_not_null(cc_route_parse(&r, spec, msg, sizeof msg), "%s", bad[i]);
    }
}

/* The stale-if-error window, read from a stored head (RFC 5861). */
static int64_t window(const cc_route *r, const char *head)
{
    return cc_policy_error_window(r, head, strlen(head));
}

Test(policy_response, stale_if_error_window, .init = setup)
{
    cc_route r;
    char msg[128];
    init_route(&r, "sie");
    cr_expect_eq(window(&r, "Status: 200 OK\r\n"), 0, "no option, no directive: none");
    cr_assert_null(cc_route_parse(&r, "/x/* stale-if-error=1h", msg, sizeof msg));
    cr_expect_eq(window(&r, "Status: 200 OK\r\nContent-Type: text/html\r\n"), 3600000);
    /* The app's own directive wins, longer or shorter. */
    cr_expect_eq(window(&r, "Cache-Control: max-age=5, stale-if-error=30\r\n"), 30000);
    cr_expect_eq(window(&r, "cache-control: STALE-IF-ERROR=7200\r\n"), 7200000);
    cr_expect_eq(window(&r, "Cache-Control: max-age=5\r\nCache-Control: stale-if-error=0\r\n"), 0);
    /* Two lines that agree are one; that disagree, or malformed: none. */
    cr_expect_eq(window(&r,
                        "Cache-Control: stale-if-error=9\r\nCache-Control: stale-if-error=9\r\n"),
                 9000);
    cr_expect_eq(window(&r,
                        "Cache-Control: stale-if-error=9\r\nCache-Control: stale-if-error=8\r\n"),
                 0);
    const char *malformed[] = {"Cache-Control: stale-if-error=\r\n",
                               "Cache-Control: stale-if-error=x\r\n",
                               "Cache-Control: stale-if-error=-1\r\n",
                               "Cache-Control: stale-if-error=1.5\r\n"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        cr_expect_eq(window(&r, malformed[i]), 0, "%s", malformed[i]);
    /* must-revalidate and proxy-revalidate forbid it unless the app asks. */
    cr_expect_eq(window(&r, "Cache-Control: max-age=5, must-revalidate\r\n"), 0);
    cr_expect_eq(window(&r, "Cache-Control: max-age=5\r\nCache-Control: proxy-revalidate\r\n"), 0);
    cr_expect_eq(window(&r, "Cache-Control: must-revalidate, stale-if-error=60\r\n"), 60000);
    /* Other fields that only look like it do not count. */
    cr_expect_eq(window(&r, "X-Cache-Control: stale-if-error=5\r\n"), 3600000);
    cr_expect_eq(window(&r, "Cache-Control: stale-if-errors=5\r\n"), 3600000);
    /* A century at most: ms never overflow. */
    cr_expect_eq(window(&r, "Cache-Control: stale-if-error=99999999999999999999\r\n"),
                 CC_SECONDS_MAX * 1000);
}

Test(policy_response, fallback_options_parse, .init = setup)
{
    cc_route r;
    char msg[128];
    init_route(&r, "opts");
    cr_assert_null(
        cc_route_parse(&r, "/x/* stale-if-error=90s pass=5s min-uses=4", msg, sizeof msg));
    cr_expect_eq(r.stale_if_error_ms, 90000);
    cr_expect_eq(r.pass_ms, 5000);
    cr_expect_eq(r.min_uses, 4);
    init_route(&r, "opts");
    cr_assert_null(cc_route_parse(&r, "/x/* pass=0 min-uses=1", msg, sizeof msg));
    cr_expect_eq(r.pass_ms, 0);
    const char *bad[] = {"stale-if-error=soon", "pass=-1",          "min-uses=0",
                         "min-uses=",           "min-uses=x",       "min-uses=2x",
                         "min-uses=-3",         "min-uses=1000001", "min-uses=+2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "/x/* %s", bad[i]);
        init_route(&r, "bad");
        const char *why = cc_route_parse(&r, spec, msg, sizeof msg);
        cr_expect_not_null(why, "%s accepted", bad[i]);
    }
}
