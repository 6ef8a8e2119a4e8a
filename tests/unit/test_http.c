/* test_http.c -- parsing CGI response heads, the list helpers, the byte
 * buffer, and the exact bytes of the heads cgicache builds. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static cc_head_result parse(const char *text, cc_head *h)
{
    return cc_head_parse(text, strlen(text), h);
}

/* Asserts header i of h is exactly name: value. */
static void assert_header(const cc_head *h, size_t i, const char *name, const char *value)
{
    cr_assert_lt(i, h->nheaders);
    const cc_header *hd = &h->headers[i];
    cr_assert_eq(hd->name_len, strlen(name), "name length of header %zu", i);
    cr_assert_eq(memcmp(hd->name, name, hd->name_len), 0, "name of header %zu", i);
    cr_assert_eq(hd->value_len, strlen(value), "value length of header %zu", i);
    cr_assert_eq(memcmp(hd->value, value, hd->value_len), 0, "value of header %zu", i);
}

/* The buffer's bytes as a C string (the NUL is not counted in len). */
static const char *text_of(cc_buf *b)
{
    cc_buf_append(b, "", 1);
    cr_assert_not(b->failed);
    b->len--;
    return b->data;
}

/* ---- parsing ---------------------------------------------------------------- */

Test(head_parse, crlf_head_then_body)
{
    cc_head h;
    const char *t = "Content-Type: text/html\r\nX-A:  spaced value \t\r\n\r\nbody";
    cr_assert_eq(parse(t, &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.reason_len, 0);
    cr_assert_eq(h.nheaders, 2);
    cr_assert_eq(h.head_len, strlen(t) - 4);
    assert_header(&h, 0, "Content-Type", "text/html");
    assert_header(&h, 1, "X-A", "spaced value");
}

Test(head_parse, lf_only_and_mixed_line_ends)
{
    cc_head h;
    cr_assert_eq(parse("Content-Type: a\n\nbody", &h), CC_HEAD_OK);
    cr_assert_eq(h.head_len, 17);
    assert_header(&h, 0, "Content-Type", "a");
    cr_assert_eq(parse("A: 1\r\nB: 2\n\r\nrest", &h), CC_HEAD_OK);
    cr_assert_eq(h.head_len, 13);
    cr_assert_eq(h.nheaders, 2);
    assert_header(&h, 1, "B", "2");
    cr_assert_eq(parse("A: 1\nB: 2\r\n\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.head_len, 12);
}

Test(head_parse, empty_head)
{
    cc_head h;
    cr_assert_eq(parse("\r\nbody", &h), CC_HEAD_OK);
    cr_assert_eq(h.head_len, 2);
    cr_assert_eq(h.nheaders, 0);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(parse("\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.head_len, 1);
}

Test(head_parse, values)
{
    cc_head h;
    cr_assert_eq(parse("X-Empty:\r\nX-Blank: \t \r\nX-Colon: a:b: c\r\nX-Tight:v\r\n\r\n", &h),
                 CC_HEAD_OK);
    cr_assert_eq(h.nheaders, 4);
    assert_header(&h, 0, "X-Empty", "");
    assert_header(&h, 1, "X-Blank", "");
    assert_header(&h, 2, "X-Colon", "a:b: c");
    assert_header(&h, 3, "X-Tight", "v");
    /* Bytes past ASCII (obs-text) are allowed in values. */
    cr_assert_eq(parse("X-Name: caf\xc3\xa9\r\n\r\n", &h), CC_HEAD_OK);
    assert_header(&h, 0, "X-Name", "caf\xc3\xa9");
}

Test(head_parse, status_with_and_without_reason)
{
    cc_head h;
    cr_assert_eq(parse("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", &h),
                 CC_HEAD_OK);
    cr_assert_eq(h.status, 404);
    cr_assert_eq(h.reason_len, 9);
    cr_assert_eq(memcmp(h.reason, "Not Found", 9), 0);
    cr_assert_eq(h.nheaders, 1, "Status is not one of the headers");
    assert_header(&h, 0, "Content-Type", "text/plain");

    cr_assert_eq(parse("Status: 204\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 204);
    cr_assert_eq(h.reason_len, 0);

    cr_assert_eq(parse("status:\t503\t Busy now \r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 503);
    cr_assert_eq(h.reason_len, 8);
    cr_assert_eq(memcmp(h.reason, "Busy now", 8), 0);

    cr_assert_eq(parse("Status: 100\n\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 100);
    cr_assert_eq(parse("Status: 999\n\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 999);
}

Test(head_parse, bad_status)
{
    cc_head h;
    const char *bad[] = {
        "Status: abc\r\n\r\n",   "Status: 20\r\n\r\n",   "Status: 2000\r\n\r\n",
        "Status: 200OK\r\n\r\n", "Status: 099\r\n\r\n",  "Status: 000 Zero\r\n\r\n",
        "Status:\r\n\r\n",       "Status: -200\r\n\r\n", "Status: 200\r\nStatus: 500\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(parse(bad[i], &h), CC_HEAD_BAD, "%s", bad[i]);
}

Test(head_parse, location_means_302)
{
    cc_head h;
    cr_assert_eq(parse("Location: /x\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 302);
    cr_assert_eq(h.reason_len, 0);
    cr_assert_eq(parse("location: http://example.com/\n\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 302);
    cr_assert_eq(parse("Status: 301 Moved\r\nLocation: /x\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 301);
    cr_assert_eq(parse("Location: /x\r\nStatus: 200\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 200, "an explicit Status wins wherever it is");
    cr_assert_eq(parse("X-Location: /x\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 200);
}

Test(head_parse, incomplete)
{
    cc_head h;
    cr_assert_eq(cc_head_parse("", 0, &h), CC_HEAD_INCOMPLETE);
    cr_assert_eq(parse("Content-Ty", &h), CC_HEAD_INCOMPLETE);
    cr_assert_eq(parse("Content-Type: text/html\r\n", &h), CC_HEAD_INCOMPLETE);
    cr_assert_eq(parse("Content-Type: text/html\r\n\r", &h), CC_HEAD_INCOMPLETE);
    cr_assert_eq(parse("A: 1\nB: 2\n", &h), CC_HEAD_INCOMPLETE);
    /* The same bytes, one more at a time, until the blank line. */
    const char *t = "Status: 201 Created\r\nX: y\r\n\r\n";
    for (size_t n = 0; n < strlen(t); n++)
        cr_assert_eq(cc_head_parse(t, n, &h), CC_HEAD_INCOMPLETE, "at %zu bytes", n);
    cr_assert_eq(cc_head_parse(t, strlen(t), &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 201);
}

Test(head_parse, malformed_lines)
{
    cc_head h;
    const char *bad[] = {
        "no colon here\r\n\r\n",
        "Bad Name: x\r\n\r\n",           /* a blank inside the name */
        "Name : x\r\n\r\n",              /* a blank before the colon */
        ": empty name\r\n\r\n",
        " X: folded\r\n\r\n",            /* obsolete line folding */
        "A: 1\r\n\tcontinued\r\n\r\n",
        "X(y): 1\r\n\r\n",               /* a separator in the name */
        "HTTP/1.1 200 OK\r\n\r\n",       /* an NPH status line */
        "X: a\rb\r\n\r\n",               /* a lone CR inside a line */
        "A: 1\r\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(parse(bad[i], &h), CC_HEAD_BAD, "case %zu", i);
    cr_assert_eq(cc_head_parse("X: a\0b\r\n\r\n", 10, &h), CC_HEAD_BAD, "a NUL in a line");
    /* A bad line is refused as soon as it is complete, blank line or not. */
    cr_assert_eq(parse("Good: 1\r\nbad line\r\n", &h), CC_HEAD_BAD);
}

Test(head_parse, header_count_limit)
{
    cc_head h;
    char *text = malloc(CC_HEADERS_MAX * 16 + 64), *p = text;
    p += sprintf(p, "Status: 200 OK\r\n");
    for (int i = 0; i < CC_HEADERS_MAX; i++)
        p += sprintf(p, "X%d: %d\r\n", i, i);
    char *end = p;
    strcpy(p, "\r\n");
    cr_assert_eq(parse(text, &h), CC_HEAD_OK, "exactly CC_HEADERS_MAX, Status not counted");
    cr_assert_eq(h.nheaders, CC_HEADERS_MAX);
    assert_header(&h, CC_HEADERS_MAX - 1, "X99", "99");
    sprintf(end, "One-Too-Many: 1\r\n\r\n");
    cr_assert_eq(parse(text, &h), CC_HEAD_BAD);
    free(text);
}

/* A head of exactly total bytes: one long header and a blank line. */
static char *head_of_size(size_t total, size_t extra_body)
{
    char *t = malloc(total + extra_body + 1);
    memset(t, 'a', total + extra_body);
    memcpy(t, "X: ", 3);
    memcpy(t + total - 4, "\r\n\r\n", 4);
    t[total + extra_body] = '\0';
    return t;
}

Test(head_parse, size_limit)
{
    cc_head h;
    char *fits = head_of_size(CC_HEAD_MAX, 100);
    cr_assert_eq(parse(fits, &h), CC_HEAD_OK);
    cr_assert_eq(h.head_len, CC_HEAD_MAX);
    cr_assert_eq(h.headers[0].value_len, CC_HEAD_MAX - 7);
    free(fits);

    char *over = head_of_size(CC_HEAD_MAX + 1, 0);
    cr_assert_eq(parse(over, &h), CC_HEAD_BAD);
    /* Short of the limit and no blank line yet: wait for more. */
    cr_assert_eq(cc_head_parse(over, CC_HEAD_MAX - 1, &h), CC_HEAD_INCOMPLETE);
    /* At the limit with no blank line: give up. */
    cr_assert_eq(cc_head_parse(over, CC_HEAD_MAX, &h), CC_HEAD_BAD);
    free(over);
}

Test(head_find, case_insensitive_first_match)
{
    cc_head h;
    cr_assert_eq(parse("Vary: A\r\nCONTENT-type: x\r\nvary: B\r\n\r\n", &h), CC_HEAD_OK);
    const cc_header *ct = cc_head_find(&h, "content-type");
    cr_assert_not_null(ct);
    cr_assert_eq(ct, &h.headers[1]);
    cr_assert_eq(cc_head_find(&h, "Vary"), &h.headers[0]);
    cr_assert_null(cc_head_find(&h, "Content"));
    cr_assert_null(cc_head_find(&h, "Content-Type-X"));
    cr_assert_null(cc_head_find(&h, "Status"));
}

/* ---- lists ------------------------------------------------------------------- */

static int has(const char *list, const char *token)
{
    return cc_list_has(list, strlen(list), token);
}

Test(lists, has_token)
{
    const char *cc = "public, max-age=60, s-maxage=\"120\", no-cache=\"Set-Cookie, X\"";
    cr_assert(has(cc, "public"));
    cr_assert(has(cc, "NO-CACHE"));
    cr_assert(has(cc, "max-age"));
    cr_assert(has(cc, "s-maxage"));
    cr_assert_not(has(cc, "private"));
    cr_assert_not(has(cc, "X"), "a quoted comma does not split");
    cr_assert_not(has(cc, "Set-Cookie"));
    cr_assert_not(has("max-age-x=1", "max-age"));
    cr_assert_not(has("no-cachex", "no-cache"));
    cr_assert_not(has("xno-cache", "no-cache"));
    cr_assert(has(" ,, no-store ,", "no-store"));
    cr_assert(has("a,b,c", "c"));
    cr_assert(has("\tprivate\t", "private"));
    cr_assert_not(has("", "private"));
    cr_assert_not(has(" , ,", "private"));
    /* Only the given length is read. */
    cr_assert_not(cc_list_has("public, private", 6, "private"));
    cr_assert(cc_list_has("public, private", 6, "public"));
}

static int seconds(const char *list, const char *name, int64_t *out)
{
    return cc_list_seconds(list, strlen(list), name, out);
}

Test(lists, seconds)
{
    const char *cc = "public, max-age=60, s-maxage=\"120\"";
    int64_t s = -1;
    cr_assert(seconds(cc, "max-age", &s));
    cr_assert_eq(s, 60);
    cr_assert(seconds(cc, "S-MAXAGE", &s));
    cr_assert_eq(s, 120);
    cr_assert(seconds("max-age = 7", "max-age", &s));
    cr_assert_eq(s, 7);
    cr_assert(seconds("max-age=0", "max-age", &s));
    cr_assert_eq(s, 0);
    cr_assert(seconds("max-age=007", "max-age", &s));
    cr_assert_eq(s, 7);

    s = -1;
    const char *bad[] = {"max-age=abc",   "max-age=",
                         "max-age",       "max-age=-5",
                         "max-age=60abc", "max-age=6 0",
                         "max-age=\"60",  "max-age=\"\"",
                         "public",        ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(seconds(bad[i], "max-age", &s), "%s", bad[i]);
    cr_assert_eq(s, -1, "*out untouched when absent or not a number");
    cr_assert_not(seconds("s-maxage=5", "max-age", &s));
    cr_assert_not(seconds("max-age=5", "s-maxage", &s));
}

Test(lists, seconds_saturate)
{
    int64_t s;
    cr_assert(seconds("max-age=99999999999999999999999999999", "max-age", &s));
    cr_assert_eq(s, CC_SECONDS_MAX);
    cr_assert(seconds("max-age=3155760000", "max-age", &s));
    cr_assert_eq(s, CC_SECONDS_MAX);
    cr_assert(seconds("max-age=3155759999", "max-age", &s));
    cr_assert_eq(s, CC_SECONDS_MAX - 1);
    cr_assert(seconds("max-age=31557600000", "max-age", &s));
    cr_assert_eq(s, CC_SECONDS_MAX);
}

Test(lists, unstored_headers)
{
    const char *never[] = {"Status",
                           "Set-Cookie",
                           "set-cookie",
                           "Connection",
                           "Keep-Alive",
                           "Transfer-Encoding",
                           "TE",
                           "Trailer",
                           "Upgrade",
                           "Proxy-Authenticate",
                           "Proxy-Authorization",
                           "Proxy-Connection"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        cr_assert(cc_header_is_unstored(never[i], strlen(never[i]), NULL), "%s", never[i]);
    cr_assert(cc_header_is_unstored("x-cache-tags", 12, "X-Cache-Tags"));
    cr_assert_not(cc_header_is_unstored("X-Cache-Tags", 12, NULL));
    /* The app's purge headers are the cache's, never the client's. */
    cr_assert(cc_header_is_unstored("x-cache-purge-tags", 18, NULL));
    cr_assert(cc_header_is_unstored("X-Cache-Purge-Prefix", 20, NULL));
    cr_assert(cc_header_is_unstored("X-CACHE-PURGE-SOFT", 18, NULL));
    cr_assert_not(cc_header_is_unstored("X-Cache-Purge", 13, NULL));
    cr_assert_not(cc_header_is_unstored("X-Cache-Tags", 12, ""));
    const char *kept[] = {"Content-Type", "Cache-Control", "Location", "Vary", "ETag", "T",
                          "Set-Cookie2x"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        cr_assert_not(cc_header_is_unstored(kept[i], strlen(kept[i]), "X-Cache-Tags"), "%s",
                      kept[i]);
    /* Names are counted, not NUL-terminated. */
    cr_assert(cc_header_is_unstored("TE: trailers", 2, NULL));
    cr_assert_not(cc_header_is_unstored("Set-Cookie", 3, NULL));
}

/* ---- buffers ------------------------------------------------------------------- */

Test(buf, grows_and_keeps_every_byte)
{
    cc_buf b = {0};
    char piece[37];
    for (size_t i = 0; i < sizeof piece; i++)
        piece[i] = (char)('a' + i % 26);
    for (int i = 0; i < 10000; i++)
        cc_buf_append(&b, piece, sizeof piece);
    cr_assert_not(b.failed);
    cr_assert_eq(b.len, 370000);
    cr_assert_geq(b.cap, b.len);
    cr_assert_lt(b.cap, 2 * b.len, "doubling, not exact fits");
    for (size_t i = 0; i < b.len; i += 997)
        cr_assert_eq(b.data[i], piece[i % sizeof piece]);
    cc_buf_append(&b, NULL, 0);
    cr_assert_eq(b.len, 370000);
    cc_buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
}

Test(buf, appendf_short_and_long)
{
    cc_buf b = {0};
    cc_buf_appendf(&b, "Age: %d\r\n", 42);
    cr_assert_eq(b.len, 9);
    cr_assert_eq(memcmp(b.data, "Age: 42\r\n", 9), 0);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cc_buf_appendf(&b, "%s-%d", big, 7);
    cr_assert_eq(b.len, 9 + 1001);
    cr_assert_eq(memcmp(b.data + 9 + 999, "-7", 2), 0);
    cr_assert_eq(b.data[9], 'x');
    cc_buf_appendf(&b, "%s", "");
    cr_assert_eq(b.len, 1010);
    cc_buf_free(&b);
}

Test(buf, integers_and_strings)
{
    cc_buf b = {0};
    cc_buf_append_str(&b, "Age: ");
    cc_buf_append_int(&b, 0);
    cc_buf_append_str(&b, " ttl=");
    cc_buf_append_int(&b, -42);
    cc_buf_append_str(&b, " ");
    cc_buf_append_int(&b, 1234567890123LL);
    cc_buf_append_str(&b, " ");
    cc_buf_append_int(&b, LLONG_MIN);
    cc_buf_append_str(&b, " ");
    cc_buf_append_int(&b, LLONG_MAX);
    cc_buf_append_str(&b, "");
    cr_assert_str_eq(text_of(&b),
                     "Age: 0 ttl=-42 1234567890123 -9223372036854775808 9223372036854775807");
    cc_buf_free(&b);
}

Test(buf, failed_buffer_stays_failed)
{
    cc_buf b = {0};
    cc_buf_append(&b, "abc", 3);
    b.failed = 1;                     /* as after an allocation failure */
    cc_buf_append(&b, "def", 3);
    cc_buf_appendf(&b, "%d", 1);
    cc_buf_append_int(&b, 7);
    cc_buf_append_str(&b, "x");
    cr_assert_eq(cc_buf_reserve(&b, 1), -1);
    cr_assert_eq(b.len, 3);
    cc_buf_free(&b);
    cr_assert_eq(b.failed, 0, "a freed buffer can be used again");
    cc_buf_append(&b, "x", 1);
    cr_assert_eq(b.len, 1);
    cc_buf_free(&b);
}

/* ---- building heads -------------------------------------------------------------- */

/* The stored form of the head text, as a string the caller frees. */
static char *store_form(const char *head_text, const char *tags)
{
    cc_head h;
    cr_assert_eq(parse(head_text, &h), CC_HEAD_OK, "%s", head_text);
    cc_buf b = {0};
    cc_head_store_form(&b, &h, tags);
    char *s = strdup(text_of(&b));
    cc_buf_free(&b);
    return s;
}

static char *injected(const char *head_text, const char *drop, const char *extra)
{
    cc_head h;
    cr_assert_eq(parse(head_text, &h), CC_HEAD_OK, "%s", head_text);
    cc_buf b = {0};
    cc_head_inject(&b, &h, drop, extra, strlen(extra));
    char *s = strdup(text_of(&b));
    cc_buf_free(&b);
    return s;
}

#define assert_built(call, expected)      \
    do {                                  \
        char *got_ = (call);              \
        cr_assert_str_eq(got_, expected); \
        free(got_);                       \
    } while (0)

Test(build, store_form_drops_unstored_and_uses_crlf)
{
    assert_built(store_form("Content-Type: text/plain\nSet-Cookie: a=1\nX-Cache-Tags: t1\n"
                            "Keep-Alive: 5\nConnection: close\nETag:  \"v1\" \n\nbody",
                            "X-Cache-Tags"),
                 "Status: 200 OK\r\nContent-Type: text/plain\r\nETag: \"v1\"\r\n");
    assert_built(store_form("X-Cache-Tags: t1\r\n\r\n", NULL),
                 "Status: 200 OK\r\nX-Cache-Tags: t1\r\n");
    assert_built(store_form("\r\n", "X-Cache-Tags"), "Status: 200 OK\r\n");
}

Test(build, store_form_status_line)
{
    assert_built(store_form("Status: 404 Nope\r\n\r\n", NULL), "Status: 404 Nope\r\n");
    assert_built(store_form("Status: 404\r\n\r\n", NULL), "Status: 404 Not Found\r\n");
    assert_built(store_form("Status: 301\r\nLocation: /new\r\n\r\n", NULL),
                 "Status: 301 Moved Permanently\r\nLocation: /new\r\n");
    assert_built(store_form("Location: /new\n\n", NULL), "Status: 302 Found\r\nLocation: /new\r\n");
    /* No made-up phrase for a status the table does not know. */
    assert_built(store_form("Status: 418\r\n\r\n", NULL), "Status: 418\r\n");
    assert_built(store_form("Status: 299\r\n\r\n", NULL), "Status: 299\r\n");
    assert_built(store_form("Status: 503\r\nRetry-After: 5\r\n\r\n", NULL),
                 "Status: 503 Service Unavailable\r\nRetry-After: 5\r\n");
}

Test(build, inject_keeps_the_apps_lines)
{
    /* Set-Cookie and hop-by-hop headers are the app's own answer to this
     * client: a miss streams them; only the tags header is dropped. */
    assert_built(injected("Content-Type: text/plain\nSet-Cookie: a=1\nX-Cache-Tags: "
                          "t1\nKeep-Alive: 5\n\n",
                          "X-Cache-Tags", "X-Cache-Status: MISS\r\n"),
                 "Content-Type: text/plain\r\nSet-Cookie: a=1\r\nKeep-Alive: 5\r\n"
                 "X-Cache-Status: MISS\r\n\r\n");
    assert_built(injected("X-Cache-Tags: t1\r\nx-cache-tags: t2\r\nA: 1\r\n\r\n", "X-Cache-Tags",
                          ""),
                 "A: 1\r\n\r\n");
    assert_built(injected("X-Cache-Tags: t1\r\n\r\n", NULL, ""), "X-Cache-Tags: t1\r\n\r\n");
    assert_built(injected("X-Cache-Tags: t1\r\n\r\n", "", ""), "X-Cache-Tags: t1\r\n\r\n");
    assert_built(injected("\n", NULL, "X-Cache-Status: MISS\r\n"), "X-Cache-Status: MISS\r\n\r\n");
    /* The purge headers go whatever drop names. */
    assert_built(injected("X-Cache-Purge-Tags: a\r\nA: 1\r\nx-cache-purge-prefix: /p\r\n"
                          "X-Cache-Purge-Soft: 1\r\n\r\n",
                          NULL, ""),
                 "A: 1\r\n\r\n");
}

Test(build, inject_status_line)
{
    assert_built(injected("Status: 404 Not Found\nContent-Type: text/html\n\n", NULL, "E: 1\r\n"),
                 "Status: 404 Not Found\r\nContent-Type: text/html\r\nE: 1\r\n\r\n");
    assert_built(injected("Content-Type: text/html\r\nStatus: 500\r\n\r\n", NULL, ""),
                 "Status: 500\r\nContent-Type: text/html\r\n\r\n");
    assert_built(injected("Status: 418\r\n\r\n", NULL, ""), "Status: 418\r\n\r\n");
    /* A Status the server would infer anyway may go... */
    assert_built(injected("Status: 200\r\nA: 1\r\n\r\n", NULL, ""), "A: 1\r\n\r\n");
    assert_built(injected("Location: /x\r\n\r\n", NULL, ""), "Location: /x\r\n\r\n");
    /* ...but not one that differs from it, nor one with its own phrase. */
    assert_built(injected("Status: 200\r\nLocation: /x\r\n\r\n", NULL, ""),
                 "Status: 200\r\nLocation: /x\r\n\r\n");
    assert_built(injected("Status: 200 Fine\r\n\r\n", NULL, ""), "Status: 200 Fine\r\n\r\n");
    assert_built(injected("Status: 301\r\nLocation: /y\r\n\r\n", NULL, ""),
                 "Status: 301\r\nLocation: /y\r\n\r\n");
}

Test(build, injected_head_parses_back_the_same)
{
    const char *t = "Status: 303 See Other\nLocation: /z\nX-Cache-Tags: a\nContent-Length: 0\n\n";
    cc_head app, out;
    cr_assert_eq(parse(t, &app), CC_HEAD_OK);
    cc_buf b = {0};
    cc_head_inject(&b, &app, "X-Cache-Tags", "X-Cache-Status: MISS\r\n", 22);
    cr_assert_eq(cc_head_parse(b.data, b.len, &out), CC_HEAD_OK);
    cr_assert_eq(out.head_len, b.len);
    cr_assert_eq(out.status, 303);
    cr_assert_eq(out.nheaders, 3);
    assert_header(&out, 0, "Location", "/z");
    assert_header(&out, 1, "Content-Length", "0");
    assert_header(&out, 2, "X-Cache-Status", "MISS");
    cc_buf_free(&b);
}
