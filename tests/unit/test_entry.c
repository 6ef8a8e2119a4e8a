/* test_entry.c -- the stored entry: round trips, compression choices, and
 * a decoder that never trusts a byte it has not checked. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"

static cc_entry sample(const char *body, size_t len)
{
    return (cc_entry){
        .status = 200,
        .stored_at_ms = 1700000000000LL,
        .ttl_ms = 60000,
        .stale_ms = 5000,
        .compute_ms = 42,
        .generation = 0x1234567890abcdefULL,
        .key = "cgicache:r:GET:http://h/x",
        .key_len = 25,
        .head = "Status: 200 OK\r\nContent-Type: text/plain\r\n",
        .head_len = 42,
        .body = body,
        .body_len = len,
    };
}

static void round_trip(const cc_entry *in, cc_compress_mode mode, size_t min, bool want_compressed)
{
    char *buf, *scratch;
    size_t len;
    cc_entry out;
    cr_assert_eq(cc_entry_encode(in, mode, min, 3, &buf, &len), 0);
    cr_assert_eq(cc_entry_decode(buf, len, &out, &scratch), 0);
    cr_assert_eq(!!(out.flags & CC_ENTRY_COMPRESSED), want_compressed);
    cr_assert_eq(out.status, in->status);
    cr_assert_eq(out.stored_at_ms, in->stored_at_ms);
    cr_assert_eq(out.ttl_ms, in->ttl_ms);
    cr_assert_eq(out.stale_ms, in->stale_ms);
    cr_assert_eq(out.compute_ms, in->compute_ms);
    cr_assert_eq(out.generation, in->generation);
    cr_assert_eq(out.key_len, in->key_len);
    cr_assert_eq(memcmp(out.key, in->key, in->key_len), 0);
    cr_assert_eq(out.head_len, in->head_len);
    cr_assert_eq(memcmp(out.head, in->head, in->head_len), 0);
    cr_assert_eq(out.body_len, in->body_len);
    cr_assert_eq(memcmp(out.body, in->body, in->body_len), 0);
    if (want_compressed)
        cr_assert_lt(out.stored_body_len, in->body_len);
    free(scratch);
    free(buf);
}

Test(entry, round_trips_and_compression_modes)
{
    char *text = malloc(20000);
    for (int i = 0; i < 20000; i++)
        text[i] = "hello world "[i % 12];
    cc_entry small = sample(text, 500), big = sample(text, 20000), empty = sample("", 0);
    round_trip(&small, CC_COMPRESS_SMART, 1024, false);
    round_trip(&big, CC_COMPRESS_SMART, 1024, true);
    round_trip(&small, CC_COMPRESS_ALL, 1024, true);
    round_trip(&big, CC_COMPRESS_OFF, 1024, false);
    round_trip(&empty, CC_COMPRESS_ALL, 0, false);
    /* Incompressible data is kept raw even when asked to compress. */
    for (int i = 0; i < 20000; i++)
        text[i] = (char)(rand() & 0xff);
    cc_entry noise = sample(text, 20000);
    round_trip(&noise, CC_COMPRESS_ALL, 0, false);
    free(text);
}

Test(entry, every_truncation_and_bit_flip_rejected)
{
    char body[3000];
    memset(body, 'z', sizeof body);
    cc_entry e = sample(body, sizeof body);
    char *buf, *scratch;
    size_t len;
    cc_entry out;
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_ALL, 0, 3, &buf, &len), 0);
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(cc_entry_decode(buf, cut, &out, &scratch), -1, "cut %zu", cut);
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x20;
        cr_assert_eq(cc_entry_decode(buf, len, &out, &scratch), -1, "flip at %zu", i);
        cr_assert_null(scratch);
        buf[i] ^= 0x20;
    }
    cr_assert_eq(cc_entry_decode(buf, len, &out, &scratch), 0);
    free(scratch);
    free(buf);
}

Test(entry, foreign_values)
{
    cc_entry out;
    char *scratch;
    cr_assert_eq(cc_entry_decode("not an entry at all", 19, &out, &scratch), -1);
    cr_assert_eq(cc_entry_decode("", 0, &out, &scratch), -1);
    /* A future version, and absurd lengths, are refused before any work. */
    cc_entry e = sample("body", 4);
    char *buf;
    size_t len;
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_OFF, 0, 3, &buf, &len), 0);
    buf[4] = CC_ENTRY_VERSION + 1;
    cr_assert_eq(cc_entry_peek(buf, len, &out), -1);
    buf[4] = CC_ENTRY_VERSION;
    memset(buf + 52, 0xff, 8);      /* body raw and stored lengths */
    cr_assert_eq(cc_entry_peek(buf, len, &out), -1);
    free(buf);
}

Test(entry, peek_reads_header_only)
{
    cc_entry e = sample("abc", 3), out;
    char *buf;
    size_t len;
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_OFF, 0, 3, &buf, &len), 0);
    buf[len - 1] ^= 1;               /* checksum broken: peek does not care */
    cr_assert_eq(cc_entry_peek(buf, len, &out), 0);
    cr_assert_eq(out.ttl_ms, 60000);
    cr_assert_eq(out.key_len, 25);
    free(buf);
}

/* Rewrites the checksum after a test changed a byte it covers. */
static void reseal(char *buf, size_t len)
{
    uint64_t h = cc_entry_hash(buf, len - 8);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + (size_t)i] = (char)(h >> (8 * i));
}

Test(entry, app_encoded_flag_and_version_1)
{
    cc_entry e = {.status = 200,
                  .ttl_ms = 1,
                  .key = "k",
                  .key_len = 1,
                  .head = "h",
                  .head_len = 1,
                  .body = "body",
                  .body_len = 4,
                  .flags = CC_ENTRY_APP_ENCODED};
    char *buf, *scratch;
    size_t len;
    cc_entry d;
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_OFF, 0, 1, &buf, &len), 0);
    cr_assert_eq(cc_entry_decode(buf, len, &d, &scratch), 0);
    cr_expect_eq(d.flags, CC_ENTRY_APP_ENCODED);
    cr_expect_eq(d.stored_body, d.body);
    /* Written by version 1 (no gzip_len after body_stored_len): read,
     * its coding unknown. */
    memmove(buf + 60, buf + 64, len - 64);
    len -= 4;
    buf[4] = 1;
    buf[5] = 0;
    reseal(buf, len);
    cr_assert_eq(cc_entry_decode(buf, len, &d, &scratch), 0);
    cr_expect_eq(d.flags, CC_ENTRY_CODING_UNKNOWN);
    /* Version 1 never had the flag: such a value is not an entry. */
    buf[5] = CC_ENTRY_APP_ENCODED;
    reseal(buf, len);
    cr_expect_eq(cc_entry_decode(buf, len, &d, &scratch), -1);
    buf[5] = 0x04;
    reseal(buf, len);
    cr_expect_eq(cc_entry_decode(buf, len, &d, &scratch), -1);
    free(buf);
}

Test(entry, a_compressed_body_is_kept_gzipped_too)
{
    char body[4000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = "some text, some more\n"[i % 22];
    cc_entry e = {.status = 200,
                  .ttl_ms = 1,
                  .key = "k",
                  .key_len = 1,
                  .head = "h",
                  .head_len = 1,
                  .body = body,
                  .body_len = sizeof body};
    char *buf, *scratch;
    size_t len;
    cc_entry d;
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_ALL, 0, 3, &buf, &len), 0);
    cr_assert_eq(cc_entry_decode(buf, len, &d, &scratch), 0);
    cr_expect(d.flags & CC_ENTRY_COMPRESSED);
    cr_expect_gt(d.gzip_len, 10);
    cr_expect_lt(d.gzip_len, sizeof body);
    cr_expect(d.gzip[0] == (char)0x1f && d.gzip[1] == (char)0x8b);
    cr_expect_eq(memcmp(d.body, body, sizeof body), 0);
    free(scratch);
    free(buf);
    /* The app encoded it: stored as sent, no gzip of ours. */
    e.flags = CC_ENTRY_APP_ENCODED;
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_ALL, 0, 3, &buf, &len), 0);
    cr_assert_eq(cc_entry_decode(buf, len, &d, &scratch), 0);
    cr_expect_eq(d.gzip_len, 0);
    free(scratch);
    free(buf);
    /* Too small to compress: nothing gzipped either. */
    e.flags = 0;
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_OFF, 0, 3, &buf, &len), 0);
    cr_assert_eq(cc_entry_decode(buf, len, &d, &scratch), 0);
    cr_expect_eq(d.gzip_len, 0);
    free(buf);
}
