/* test_delivery.c -- the conformance table: RFC 9110's rules for
 * conditional and range requests, each as the request's headers, the
 * stored response's validators and the answer a cache must give. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "delivery.h"
#include "policy.h"

#define LM "Sun, 06 Nov 1994 08:49:37 GMT"
#define NOW 1700000000000LL  /* 2023: after LM, before 2094 */

typedef struct row {
    const char *rule;         /* what the row checks, for the message */
    cc_ask ask;
    int status;               /* the stored response's */
    const char *etag, *last_modified;
    bool get;
    cc_send_kind want;
    uint64_t first, last;     /* CC_SEND_PARTIAL */
} row;

#define A(...) ((cc_ask){__VA_ARGS__})

static const row table[] = {
    {"no precondition, no range: the whole", A(0), 200, "\"a\"", LM, true, CC_SEND_FULL, 0, 0},
    /* If-None-Match (§13.1.2): weak comparison, lists, "*" */
    {"INM equal", A(.if_none_match = "\"a\""), 200, "\"a\"", NULL, true, CC_SEND_NOT_MODIFIED, 0,
     0},
    {"INM weak vs strong: weak comparison", A(.if_none_match = "W/\"a\""), 200, "\"a\"", NULL, true,
     CC_SEND_NOT_MODIFIED, 0, 0},
    {"INM strong vs stored weak", A(.if_none_match = "\"a\""), 200, "W/\"a\"", NULL, true,
     CC_SEND_NOT_MODIFIED, 0, 0},
    {"INM list with it", A(.if_none_match = "\"x\", \"a\" ,W/\"y\""), 200, "\"a\"", NULL, true,
     CC_SEND_NOT_MODIFIED, 0, 0},
    {"INM list, empty members", A(.if_none_match = ",, \"a\","), 200, "\"a\"", NULL, true,
     CC_SEND_NOT_MODIFIED, 0, 0},
    {"INM star", A(.if_none_match = "*"), 200, NULL, NULL, true, CC_SEND_NOT_MODIFIED, 0, 0},
    {"INM other tag", A(.if_none_match = "\"b\""), 200, "\"a\"", LM, true, CC_SEND_FULL, 0, 0},
    {"INM tags compare case-sensitively", A(.if_none_match = "\"A\""), 200, "\"a\"", NULL, true,
     CC_SEND_FULL, 0, 0},
    {"INM unquoted: malformed, no 304", A(.if_none_match = "a"), 200, "\"a\"", NULL, true,
     CC_SEND_FULL, 0, 0},
    {"INM malformed member spoils the list", A(.if_none_match = "\"a\", b"), 200, "\"a\"", NULL,
     true, CC_SEND_FULL, 0, 0},
    {"INM lower-case w/ is not weak", A(.if_none_match = "w/\"a\""), 200, "\"a\"", NULL, true,
     CC_SEND_FULL, 0, 0},
    {"INM but no stored ETag", A(.if_none_match = "\"a\""), 200, NULL, LM, true, CC_SEND_FULL, 0,
     0},
    {"INM with a stored ETag that is not a tag", A(.if_none_match = "abc"), 200, "abc", NULL, true,
     CC_SEND_FULL, 0, 0},
    {"INM on HEAD", A(.if_none_match = "\"a\""), 200, "\"a\"", NULL, false, CC_SEND_NOT_MODIFIED, 0,
     0},
    {"INM on a 404: preconditions only for 2xx", A(.if_none_match = "\"a\""), 404, "\"a\"", NULL,
     true, CC_SEND_FULL, 0, 0},
    /* If-Modified-Since (§13.1.3), only without If-None-Match (§13.2.2) */
    {"IMS = LM", A(.if_modified_since = LM), 200, NULL, LM, true, CC_SEND_NOT_MODIFIED, 0, 0},
    {"IMS after LM", A(.if_modified_since = "Mon, 07 Nov 1994 08:49:37 GMT"), 200, NULL, LM, true,
     CC_SEND_NOT_MODIFIED, 0, 0},
    {"IMS before LM", A(.if_modified_since = "Sat, 05 Nov 1994 08:49:37 GMT"), 200, NULL, LM, true,
     CC_SEND_FULL, 0, 0},
    {"IMS in RFC 850 form", A(.if_modified_since = "Sunday, 06-Nov-94 08:49:37 GMT"), 200, NULL, LM,
     true, CC_SEND_NOT_MODIFIED, 0, 0},
    {"IMS in asctime form", A(.if_modified_since = "Sun Nov  6 08:49:37 1994"), 200, NULL, LM, true,
     CC_SEND_NOT_MODIFIED, 0, 0},
    {"IMS later than now: ignored", A(.if_modified_since = "Sun, 06 Nov 2094 08:49:37 GMT"), 200,
     NULL, LM, true, CC_SEND_FULL, 0, 0},
    {"IMS unreadable: ignored", A(.if_modified_since = "yesterday"), 200, NULL, LM, true,
     CC_SEND_FULL, 0, 0},
    {"IMS without a stored Last-Modified", A(.if_modified_since = LM), 200, "\"a\"", NULL, true,
     CC_SEND_FULL, 0, 0},
    {"INM that fails wins over IMS that holds",
     A(.if_none_match = "\"b\"", .if_modified_since = LM), 200, "\"a\"", LM, true, CC_SEND_FULL, 0,
     0},
    /* If-Match / If-Unmodified-Since (§13.1.1, §13.1.4) */
    {"If-Match equal", A(.if_match = "\"a\""), 200, "\"a\"", NULL, true, CC_SEND_FULL, 0, 0},
    {"If-Match star", A(.if_match = "*"), 200, NULL, NULL, true, CC_SEND_FULL, 0, 0},
    {"If-Match other", A(.if_match = "\"b\""), 200, "\"a\"", NULL, true,
     CC_SEND_PRECONDITION_FAILED, 0, 0},
    {"If-Match weak: strong comparison fails", A(.if_match = "W/\"a\""), 200, "\"a\"", NULL, true,
     CC_SEND_PRECONDITION_FAILED, 0, 0},
    {"If-Match against a stored weak tag", A(.if_match = "\"a\""), 200, "W/\"a\"", NULL, true,
     CC_SEND_PRECONDITION_FAILED, 0, 0},
    {"If-Match without a stored ETag", A(.if_match = "\"a\""), 200, NULL, LM, true,
     CC_SEND_PRECONDITION_FAILED, 0, 0},
    {"IUS before LM", A(.if_unmodified_since = "Sat, 05 Nov 1994 08:49:37 GMT"), 200, NULL, LM,
     true, CC_SEND_PRECONDITION_FAILED, 0, 0},
    {"IUS = LM", A(.if_unmodified_since = LM), 200, NULL, LM, true, CC_SEND_FULL, 0, 0},
    {"IUS ignored when If-Match is there",
     A(.if_match = "*", .if_unmodified_since = "Sat, 05 Nov 1994 08:49:37 GMT"), 200, NULL, LM,
     true, CC_SEND_FULL, 0, 0},
    {"If-Match holds, then INM decides", A(.if_match = "\"a\"", .if_none_match = "\"a\""), 200,
     "\"a\"", NULL, true, CC_SEND_NOT_MODIFIED, 0, 0},
    /* Range (§14.1.2, §14.2), body of 100 bytes */
    {"first-last", A(.range = "bytes=0-9"), 200, NULL, NULL, true, CC_SEND_PARTIAL, 0, 9},
    {"unit is case-insensitive", A(.range = "Bytes=10-19"), 200, NULL, NULL, true, CC_SEND_PARTIAL,
     10, 19},
    {"first-", A(.range = "bytes=90-"), 200, NULL, NULL, true, CC_SEND_PARTIAL, 90, 99},
    {"-suffix", A(.range = "bytes=-10"), 200, NULL, NULL, true, CC_SEND_PARTIAL, 90, 99},
    {"-suffix longer than the body", A(.range = "bytes=-500"), 200, NULL, NULL, true,
     CC_SEND_PARTIAL, 0, 99},
    {"last past the end is clamped", A(.range = "bytes=50-1000"), 200, NULL, NULL, true,
     CC_SEND_PARTIAL, 50, 99},
    {"huge numbers saturate", A(.range = "bytes=5-99999999999999999999999"), 200, NULL, NULL, true,
     CC_SEND_PARTIAL, 5, 99},
    {"the last byte", A(.range = "bytes=99-99"), 200, NULL, NULL, true, CC_SEND_PARTIAL, 99, 99},
    {"blanks around the spec", A(.range = "bytes= 1-2 "), 200, NULL, NULL, true, CC_SEND_PARTIAL, 1,
     2},
    {"first at the length: 416", A(.range = "bytes=100-"), 200, NULL, NULL, true,
     CC_SEND_UNSATISFIABLE, 0, 0},
    {"-0: 416", A(.range = "bytes=-0"), 200, NULL, NULL, true, CC_SEND_UNSATISFIABLE, 0, 0},
    {"several ranges: the whole", A(.range = "bytes=0-1,5-6"), 200, NULL, NULL, true, CC_SEND_FULL,
     0, 0},
    {"last < first: invalid, ignored", A(.range = "bytes=5-1"), 200, NULL, NULL, true, CC_SEND_FULL,
     0, 0},
    {"another unit: ignored", A(.range = "items=0-1"), 200, NULL, NULL, true, CC_SEND_FULL, 0, 0},
    {"no spec: ignored", A(.range = "bytes="), 200, NULL, NULL, true, CC_SEND_FULL, 0, 0},
    {"garbage after: ignored", A(.range = "bytes=0-1x"), 200, NULL, NULL, true, CC_SEND_FULL, 0, 0},
    {"a sign: ignored", A(.range = "bytes=+1-2"), 200, NULL, NULL, true, CC_SEND_FULL, 0, 0},
    {"a lone dash: ignored", A(.range = "bytes=-"), 200, NULL, NULL, true, CC_SEND_FULL, 0, 0},
    {"ranges are for GET only", A(.range = "bytes=0-9"), 200, NULL, NULL, false, CC_SEND_FULL, 0,
     0},
    {"ranges of a 200 only", A(.range = "bytes=0-9"), 203, NULL, NULL, true, CC_SEND_FULL, 0, 0},
    {"a 304 comes before the Range", A(.if_none_match = "\"a\"", .range = "bytes=0-9"), 200,
     "\"a\"", NULL, true, CC_SEND_NOT_MODIFIED, 0, 0},
    /* If-Range (§13.1.5) */
    {"If-Range strong tag equal", A(.range = "bytes=0-9", .if_range = "\"a\""), 200, "\"a\"", NULL,
     true, CC_SEND_PARTIAL, 0, 9},
    {"If-Range other tag: the whole", A(.range = "bytes=0-9", .if_range = "\"b\""), 200, "\"a\"",
     NULL, true, CC_SEND_FULL, 0, 0},
    {"If-Range weak tag never matches", A(.range = "bytes=0-9", .if_range = "W/\"a\""), 200,
     "W/\"a\"", NULL, true, CC_SEND_FULL, 0, 0},
    {"If-Range against a stored weak tag", A(.range = "bytes=0-9", .if_range = "\"a\""), 200,
     "W/\"a\"", NULL, true, CC_SEND_FULL, 0, 0},
    {"If-Range date equal", A(.range = "bytes=0-9", .if_range = LM), 200, NULL, LM, true,
     CC_SEND_PARTIAL, 0, 9},
    {"If-Range date later: the whole",
     A(.range = "bytes=0-9", .if_range = "Mon, 07 Nov 1994 08:49:37 GMT"), 200, NULL, LM, true,
     CC_SEND_FULL, 0, 0},
    {"If-Range unreadable: the whole", A(.range = "bytes=0-9", .if_range = "soon"), 200, "\"a\"",
     LM, true, CC_SEND_FULL, 0, 0},
    {"If-Range without a Range: nothing", A(.if_range = "\"a\""), 200, "\"a\"", NULL, true,
     CC_SEND_FULL, 0, 0},
};

Test(delivery, conformance_table)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const row *r = &table[i];
        cc_validators v = {r->status,
                           r->etag,
                           r->etag ? strlen(r->etag) : 0,
                           r->last_modified,
                           r->last_modified ? strlen(r->last_modified) : 0,
                           100};
        cc_send s;
        cc_delivery_decide(&r->ask, &v, r->get, NOW, &s);
        cr_expect_eq(s.kind, r->want, "%s: got %d, want %d", r->rule, s.kind, r->want);
        if (r->want == CC_SEND_PARTIAL && s.kind == CC_SEND_PARTIAL)
            cr_expect(s.first == r->first && s.last == r->last, "%s: got %llu-%llu", r->rule,
                      (unsigned long long)s.first, (unsigned long long)s.last);
    }
}

Test(delivery, ranges_on_an_empty_body_are_unsatisfiable)
{
    uint64_t f, l;
    cr_expect_eq(cc_range_parse("bytes=0-", 0, &f, &l), CC_SEND_UNSATISFIABLE);
    cr_expect_eq(cc_range_parse("bytes=-5", 0, &f, &l), CC_SEND_UNSATISFIABLE);
    cr_expect_eq(cc_range_parse("bytes=0-0", 1, &f, &l), CC_SEND_PARTIAL);
    cr_expect(f == 0 && l == 0);
}

static const char *head_text(const cc_send *s)
{
    static char text[1024];
    const char *stored = "Status: 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n"
                         "ETag: \"a\"\r\nCache-Control: max-age=60\r\nVary: X-Lang\r\n"
                         "Last-Modified: " LM "\r\nX-App: 1\r\n";
    cc_buf b = {0};
    cc_delivery_head(&b, stored, strlen(stored), s, 100);
    snprintf(text, sizeof text, "%.*s", (int)b.len, b.data);
    cc_buf_free(&b);
    return text;
}

Test(delivery, heads)
{
    cc_send s = {CC_SEND_NOT_MODIFIED, 0, 0};
    cr_expect_str_eq(head_text(&s),
                     "Status: 304 Not Modified\r\nETag: \"a\"\r\nCache-Control: max-age=60\r\n"
                     "Vary: X-Lang\r\nLast-Modified: " LM "\r\n");
    s = (cc_send){CC_SEND_PARTIAL, 10, 19};
    cr_expect_str_eq(head_text(&s),
                     "Status: 206 Partial Content\r\nContent-Type: text/html\r\nETag: \"a\"\r\n"
                     "Cache-Control: max-age=60\r\nVary: X-Lang\r\nLast-Modified: " LM
                     "\r\nX-App: 1\r\nContent-Range: bytes 10-19/100\r\nContent-Length: 10\r\n");
    s = (cc_send){CC_SEND_UNSATISFIABLE, 0, 0};
    cr_expect_str_eq(head_text(&s),
                     "Status: 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\n"
                     "Content-Length: 0\r\n");
    s = (cc_send){CC_SEND_PRECONDITION_FAILED, 0, 0};
    cr_expect_str_eq(head_text(&s), "Status: 412 Precondition Failed\r\nContent-Length: 0\r\n");
}

Test(delivery, validators_of_a_head_with_two_etags_are_none)
{
    const char *head = "Status: 200 OK\r\nETag: \"a\"\r\netag: \"b\"\r\nLast-Modified:  " LM
                       " \r\n";
    cc_validators v;
    cc_validators_of(head, strlen(head), 200, 5, &v);
    cr_expect_null(v.etag);
    cr_expect_eq(v.etag_len, 0);
    cr_assert_not_null(v.last_modified);
    cr_expect_eq(v.last_modified_len, strlen(LM));
    cr_expect_eq(v.status, 200);
}

Test(delivery, etag_of_a_body_is_strong_and_stable)
{
    char a[CC_ETAG_AUTO_LEN + 1], b[CC_ETAG_AUTO_LEN + 1], c[CC_ETAG_AUTO_LEN + 1];
    cc_etag_of_body(a, "page", 4);
    cc_etag_of_body(b, "page", 4);
    cc_etag_of_body(c, "page!", 5);
    cr_expect_str_eq(a, b);
    cr_expect_str_neq(a, c);
    cr_expect_eq(strlen(a), CC_ETAG_AUTO_LEN);
    cr_expect(a[0] == '"' && a[17] == '"');
    cr_expect(cc_etag_list_matches(a, a, strlen(a), true));
}
