/* test_reply.c -- the bounded reply reader: replies Redis really sends
 * pass; oversized arrays, strings, nesting and unterminated lines fail
 * at once, before anything large is allocated. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <string.h>
#include <sys/resource.h>

#include "reply.h"

static const cc_reply_limits limits = {1024, 1 << 20, 2};

/* Feeds text to a fresh reader in pieces of step bytes; returns
 * REDIS_OK with the reply, or REDIS_ERR. */
static int read_all(const char *text, size_t len, size_t step, redisReply **out)
{
    cc_reply_guard g;
    redisReader *r = cc_reply_reader(&g, &limits);
    cr_assert_not_null(r);
    void *reply = NULL;
    int rc = REDIS_OK;
    for (size_t at = 0; rc == REDIS_OK && reply == NULL && at < len; at += step) {
        cr_assert_eq(redisReaderFeed(r, text + at, len - at < step ? len - at : step), REDIS_OK);
        rc = cc_reply_get(r, &reply);
    }
    redisReaderFree(r);
    *out = reply;
    return rc;
}

static int read_text(const char *text, redisReply **out)
{
    return read_all(text, strlen(text), strlen(text), out);
}

Test(reply, passes_what_redis_sends)
{
    redisReply *r;
    cr_assert_eq(read_text("*3\r\n$3\r\nabc\r\n$-1\r\n$2\r\nxy\r\n", &r), REDIS_OK);
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 3);
    cr_assert_str_eq(r->element[0]->str, "abc");
    cr_assert_eq(r->element[1]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* A SCAN page: an array inside an array. */
    cr_assert_eq(read_text("*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", &r), REDIS_OK);
    cr_assert_eq(r->element[1]->elements, 2);
    freeReplyObject(r);
    cr_assert_eq(read_text(":42\r\n", &r), REDIS_OK);
    cr_assert_eq(r->integer, 42);
    freeReplyObject(r);
    cr_assert_eq(read_text("-ERR no\r\n", &r), REDIS_OK);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

Test(reply, byte_by_byte_is_the_same)
{
    const char *text = "*2\r\n$5\r\nhello\r\n:7\r\n";
    redisReply *r;
    cr_assert_eq(read_all(text, strlen(text), 1, &r), REDIS_OK);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->element[0]->str, "hello");
    freeReplyObject(r);
}

/* Under a 256 MB address-space limit, a reader that allocated what the
 * peer announced would fail differently (or crash); this one refuses. */
Test(reply, refuses_a_huge_array_without_allocating_it)
{
#ifndef __SANITIZE_ADDRESS__     /* ASan's shadow memory needs terabytes of it */
    struct rlimit lim = {256u << 20, 256u << 20};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
#endif
    redisReply *r = NULL;
    cr_assert_eq(read_text("*2147483647\r\n", &r), REDIS_ERR);
    cr_assert_null(r);
    cr_assert_eq(read_text("*1025\r\n", &r), REDIS_ERR);
    cr_assert_eq(read_text("*-5\r\n", &r), REDIS_ERR);
}

Test(reply, refuses_many_arrays_adding_up)
{
    /* Two arrays of 600: each fits, together they do not. */
    char text[64 * 1024];
    size_t n = (size_t)snprintf(text, sizeof text, "*2\r\n*600\r\n");
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, ":1\r\n");
    n += (size_t)snprintf(text + n, sizeof text - n, "*600\r\n");
    redisReply *r = NULL;
    cr_assert_eq(read_all(text, n, n, &r), REDIS_ERR);
}

Test(reply, refuses_deep_nesting)
{
    redisReply *r = NULL;
    cr_assert_eq(read_text("*1\r\n*1\r\n*1\r\n:1\r\n", &r), REDIS_ERR);
    cr_assert_eq(read_text("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n", &r),
                 REDIS_ERR);
}

Test(reply, refuses_a_huge_string_before_it_arrives)
{
    cc_reply_guard g;
    redisReader *r = cc_reply_reader(&g, &limits);
    void *reply = NULL;
    const char *head = "$9999999999\r\n";
    cr_assert_eq(redisReaderFeed(r, head, strlen(head)), REDIS_OK);
    int rc = REDIS_OK;
    static char chunk[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    /* Fed until refused: never more than the limit and some framing. */
    size_t fed = 0;
    while ((rc = cc_reply_get(r, &reply)) == REDIS_OK && fed < (4u << 20)) {
        cr_assert_eq(redisReaderFeed(r, chunk, sizeof chunk), REDIS_OK);
        fed += sizeof chunk;
    }
    cr_assert_eq(rc, REDIS_ERR);
    cr_assert_leq(fed, (1u << 20) + 2 * sizeof chunk);
    redisReaderFree(r);
}

Test(reply, refuses_an_endless_line)
{
    cc_reply_guard g;
    redisReader *r = cc_reply_reader(&g, &limits);
    void *reply = NULL;
    static char chunk[64 * 1024];
    memset(chunk, 'a', sizeof chunk);
    chunk[0] = '+';
    int rc = REDIS_OK;
    for (int i = 0; i < 64 && rc == REDIS_OK; i++) {
        cr_assert_eq(redisReaderFeed(r, chunk, sizeof chunk), REDIS_OK);
        chunk[0] = 'a';
        rc = cc_reply_get(r, &reply);
    }
    cr_assert_eq(rc, REDIS_ERR);
    redisReaderFree(r);
}

Test(reply, garbage_is_a_protocol_error)
{
    redisReply *r = NULL;
    cr_assert_eq(read_text("HTTP/1.1 400 Bad Request\r\n", &r), REDIS_ERR);
}

Test(reply, the_budget_is_per_reply)
{
    /* Two replies of 700 slots each in one buffer: each is within. */
    char text[64 * 1024];
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "*700\r\n");
        for (int i = 0; i < 700; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, ":1\r\n");
    }
    cc_reply_guard g;
    redisReader *r = cc_reply_reader(&g, &limits);
    cr_assert_eq(redisReaderFeed(r, text, n), REDIS_OK);
    for (int k = 0; k < 2; k++) {
        void *reply = NULL;
        cr_assert_eq(cc_reply_get(r, &reply), REDIS_OK);
        cr_assert_not_null(reply);
        cr_assert_eq(((redisReply *)reply)->elements, 700);
        freeReplyObject(reply);
    }
    redisReaderFree(r);
}

Test(reply, set_text_replaces_a_string_in_the_replys_memory)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->str = malloc(2);
    memcpy(r->str, "7", 2);
    r->len = 1;
    cr_assert_eq(cc_reply_set_text(r, "2:184467440737095516"), 0);
    cr_assert_str_eq(r->str, "2:184467440737095516");
    cr_assert_eq(r->len, strlen("2:184467440737095516"));
    cr_assert_eq(cc_reply_set_text(r, "0"), 0);
    cr_assert_str_eq(r->str, "0");
    cr_assert_eq(r->len, 1);
    freeReplyObject(r);
}
