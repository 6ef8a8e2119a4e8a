/* test_http.c -- parsing CGI response heads and building the heads sent. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static cc_head_result parse(const char *text, cc_head *h) { return cc_head_parse(text, strlen(text), h); }

Test(head, basic_crlf_and_lf)
{
    cc_head h;
    const char *t = "Content-Type: text/html\r\nX-A:  spaced value \t\r\n\r\nbody";
    cr_assert_eq(parse(t, &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.nheaders, 2);
    cr_assert_eq(h.head_len, strlen(t) - 4);
    const cc_header *x = cc_head_find(&h, "x-a");
    cr_assert_eq(x->value_len, 12);
    cr_assert_eq(strncmp(x->value, "spaced value", 12), 0);
    cr_assert_eq(parse("Content-Type: a\n\nbody", &h), CC_HEAD_OK);
    cr_assert_eq(h.head_len, 17);
}

Test(head, status_and_location)
{
    cc_head h;
    cr_assert_eq(parse("Status: 404 Not Found\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 404);
    cr_assert_eq(h.reason_len, 9);
    cr_assert_eq(h.nheaders, 0);
    cr_assert_eq(parse("Status: 204\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 204);
    cr_assert_eq(h.reason_len, 0);
    cr_assert_eq(parse("Location: /x\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 302);
    cr_assert_eq(parse("Status: 301 Moved\r\nLocation: /x\r\n\r\n", &h), CC_HEAD_OK);
    cr_assert_eq(h.status, 301);
}

Test(head, incomplete_and_bad)
{
    cc_head h;
    cr_assert_eq(parse("Content-Type: text/html\r\n", &h), CC_HEAD_INCOMPLETE);
    cr_assert_eq(parse("Content-Ty", &h), CC_HEAD_INCOMPLETE);
    cr_assert_eq(parse("no colon here\r\n\r\n", &h), CC_HEAD_BAD);
    cr_assert_eq(parse("Bad Name: x\r\n\r\n", &h), CC_HEAD_BAD);
    cr_assert_eq(parse("Status: abc\r\n\r\n", &h), CC_HEAD_BAD);
    cr_assert_eq(parse("Status: 200\r\nStatus: 500\r\n\r\n", &h), CC_HEAD_BAD);
    cr_assert_eq(parse(": empty\r\n\r\n", &h), CC_HEAD_BAD);
}

Test(head, limits)
{
    cc_head h;
    char *many = malloc(CC_HEADERS_MAX * 8 + 64), *p = many;
    for (int i = 0; i <= CC_HEADERS_MAX; i++)
        p += sprintf(p, "X%d: 1\r\n", i);
    strcpy(p, "\r\n");
    cr_assert_eq(parse(many, &h), CC_HEAD_BAD);
    free(many);
    char *big = malloc(CC_HEAD_MAX + 16);
    memset(big, 'a', CC_HEAD_MAX + 8);
    memcpy(big, "X: ", 3);
    big[CC_HEAD_MAX + 8] = '\0';
    cr_assert_eq(parse(big, &h), CC_HEAD_BAD);
    free(big);
}

Test(lists, tokens_and_seconds)
{
    const char *cc = "public, max-age=60, s-maxage=\"120\", no-cache=\"Set-Cookie, X\"";
    int64_t s;
    cr_assert(cc_list_has(cc, strlen(cc), "public"));
    cr_assert(cc_list_has(cc, strlen(cc), "NO-CACHE"));
    cr_assert_not(cc_list_has(cc, strlen(cc), "private"));
    cr_assert_not(cc_list_has("max-age-x=1", 11, "max-age"));
    cr_assert(cc_list_seconds(cc, strlen(cc), "max-age", &s));
    cr_assert_eq(s, 60);
    cr_assert(cc_list_seconds(cc, strlen(cc), "s-maxage", &s));
    cr_assert_eq(s, 120);
    cr_assert_not(cc_list_seconds("max-age=abc", 11, "max-age", &s));
}

Test(head, unstored)
{
    cr_assert(cc_header_is_unstored("set-cookie", 10, NULL));
    cr_assert(cc_header_is_unstored("Connection", 10, NULL));
    cr_assert(cc_header_is_unstored("X-Cache-Tags", 12, "X-Cache-Tags"));
    cr_assert_not(cc_header_is_unstored("Content-Type", 12, "X-Cache-Tags"));
}

static char *str_of(cc_buf *b)
{
    cc_buf_append(b, "", 1);
    return b->data;
}

Test(build, store_form_serve_and_inject)
{
    cc_head h;
    const char *t = "Content-Type: text/plain\nSet-Cookie: a=1\nX-Cache-Tags: t1\nKeep-Alive: 5\n\n";
    cr_assert_eq(parse(t, &h), CC_HEAD_OK);
    cc_buf stored = {0};
    cc_head_store_form(&stored, &h, "X-Cache-Tags");
    cr_assert_str_eq(str_of(&stored), "Status: 200 OK\r\nContent-Type: text/plain\r\n");
    stored.len--;
    cc_buf served = {0};
    cc_head_serve(&served, stored.data, stored.len, "X-Cache-Status: HIT\r\n", 21);
    cr_assert_str_eq(str_of(&served), "Status: 200 OK\r\nContent-Type: text/plain\r\nX-Cache-Status: HIT\r\n\r\n");
    cc_buf injected = {0};
    cc_head_inject(&injected, &h, "X-Cache-Tags", "X-Cache-Status: MISS\r\n", 22);
    cr_assert_str_eq(str_of(&injected), "Content-Type: text/plain\r\nSet-Cookie: a=1\r\nKeep-Alive: 5\r\n"
                                        "X-Cache-Status: MISS\r\n\r\n");
    cc_buf_free(&stored);
    cc_buf_free(&served);
    cc_buf_free(&injected);
    cr_assert_eq(parse("Status: 418\r\n\r\n", &h), CC_HEAD_OK);
    cc_buf s2 = {0};
    cc_head_store_form(&s2, &h, NULL);
    cr_assert_str_eq(str_of(&s2), "Status: 418\r\n");
    cc_buf i2 = {0};
    cc_head_inject(&i2, &h, NULL, "", 0);
    cr_assert_str_eq(str_of(&i2), "Status: 418\r\n\r\n");
    cc_buf_free(&s2);
    cc_buf_free(&i2);
}

Test(build, appendf_long)
{
    cc_buf b = {0};
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cc_buf_appendf(&b, "%s-%d", big, 7);
    cr_assert_eq(b.len, 1001);
    cr_assert_eq(memcmp(b.data + 999, "-7", 2), 0);
    cc_buf_free(&b);
}
