/* test_encoding.c -- Accept-Encoding read as RFC 9110 §12.5.3 says, the
 * buckets a route keyed on it uses, gzip, and the ETags of variants; and
 * the responses a hit builds from an entry in each coding (hit.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "encoding.h"
#include "entry.h"
#include "hit.h"

#define ALL (CC_OFFER(CC_CODING_GZIP) | CC_OFFER(CC_CODING_ZSTD))

static const struct {
    const char *value;
    cc_coding want;
} picks[] = {
    {NULL, CC_CODING_IDENTITY},
    {"", CC_CODING_IDENTITY},
    {"gzip", CC_CODING_GZIP},
    {"zstd", CC_CODING_ZSTD},
    {"gzip, deflate, br, zstd", CC_CODING_ZSTD},   /* curl --compressed */
    {"gzip, deflate, br", CC_CODING_GZIP},          /* older browsers */
    {"zstd;q=0.5, gzip", CC_CODING_GZIP},           /* q decides */
    {"zstd;q=0.5, gzip;q=0.5", CC_CODING_ZSTD},     /* a tie: zstd */
    {"*", CC_CODING_ZSTD},
    {"*;q=0.3, gzip;q=0.2", CC_CODING_ZSTD},
    {"*, zstd;q=0", CC_CODING_GZIP},
    {"x-gzip", CC_CODING_GZIP},
    {"GZIP", CC_CODING_GZIP},
    {"gzip;Q=1.000", CC_CODING_GZIP},
    {"gzip;q=0", CC_CODING_IDENTITY},
    {"gzip;q=0.000", CC_CODING_IDENTITY},
    {"identity;q=1, gzip;q=0.5", CC_CODING_IDENTITY},
    {"gzip;q=0.5, identity;q=0.1", CC_CODING_GZIP},
    {"br", CC_CODING_IDENTITY},
    {"gzip;q=1.1", CC_CODING_IDENTITY},            /* malformed: as absent */
    {"gzip;q=x", CC_CODING_IDENTITY},
    {"gzip;q=0.1234", CC_CODING_IDENTITY},
    {"gzip zstd", CC_CODING_IDENTITY},
    {"gzip;", CC_CODING_IDENTITY},
    {"gzip;level=9", CC_CODING_GZIP},              /* other params ignored */
    {" , gzip ,, ", CC_CODING_GZIP},
};

Test(encoding, accept_pick)
{
    for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++)
        cr_expect_eq(cc_accept_pick(picks[i].value, ALL), picks[i].want, "'%s'",
                     picks[i].value ? picks[i].value : "(none)");
    cr_expect_eq(cc_accept_pick("zstd, gzip", CC_OFFER(CC_CODING_GZIP)), CC_CODING_GZIP);
    cr_expect_eq(cc_accept_pick("zstd", CC_OFFER(CC_CODING_GZIP)), CC_CODING_IDENTITY);
}

Test(encoding, accept_has)
{
    cr_expect(cc_accept_has("gzip, br", "br", 2));
    cr_expect(cc_accept_has("gzip, BR", "br", 2));
    cr_expect(!cc_accept_has("gzip", "br", 2));
    cr_expect(!cc_accept_has("br;q=0", "br", 2));
    cr_expect(cc_accept_has("*", "br", 2));
    cr_expect(!cc_accept_has("*;q=0", "br", 2));
    cr_expect(!cc_accept_has(NULL, "br", 2));
    cr_expect(cc_accept_has(NULL, "identity", 8));
    cr_expect(!cc_accept_has("identity;q=0", "identity", 8));
    cr_expect(!cc_accept_has("*;q=0", "identity", 8));
    cr_expect(cc_accept_has("x-gzip", "gzip", 4));
    cr_expect(cc_accept_has("gzip", "x-gzip", 6));
    cr_expect(!cc_accept_has("br;q=x", "br", 2));   /* malformed: identity only */
}

Test(encoding, buckets)
{
    cr_expect_str_eq(cc_accept_bucket("gzip, deflate"), "gzip");
    cr_expect_str_eq(cc_accept_bucket("deflate, gzip;q=0.9"), "gzip");
    cr_expect_str_eq(cc_accept_bucket("gzip, deflate, br, zstd"), "zstd");
    cr_expect_str_eq(cc_accept_bucket("br"), "identity");
    cr_expect_str_eq(cc_accept_bucket(NULL), "identity");
}

Test(encoding, gzip_round_trip)
{
    char body[5000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = "abcdefgh\n"[i % 9];
    cc_buf out = {0};
    cr_assert_eq(cc_gzip(&out, body, sizeof body, 1), 0);
    cr_expect_lt(out.len, sizeof body);
    cr_expect(out.len > 2 && (unsigned char)out.data[0] == 0x1f &&
              (unsigned char)out.data[1] == 0x8b);
    char back[sizeof body + 10];
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)out.data;
    z.avail_in = (uInt)out.len;
    z.next_out = (Bytef *)back;
    z.avail_out = sizeof back;
    cr_expect_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    cr_expect_eq(z.total_out, sizeof body);
    cr_expect_eq(memcmp(back, body, sizeof body), 0);
    inflateEnd(&z);
    cc_buf_free(&out);
}

static const char *variant(const char *etag, cc_coding c)
{
    static char text[64];
    cc_buf b = {0};
    cc_etag_of_variant(&b, etag, strlen(etag), c);
    snprintf(text, sizeof text, "%.*s", (int)b.len, b.data);
    cc_buf_free(&b);
    return text;
}

Test(encoding, etag_of_variant)
{
    cr_expect_str_eq(variant("\"abc\"", CC_CODING_ZSTD), "\"abc-zstd\"");
    cr_expect_str_eq(variant("W/\"abc\"", CC_CODING_GZIP), "W/\"abc-gzip\"");
    cr_expect_str_eq(variant("\"abc\"", CC_CODING_IDENTITY), "\"abc\"");
    cr_expect_str_eq(variant("abc", CC_CODING_ZSTD), "abc");
}

/* ---- hits in each coding ----------------------------------------------------- */

static char body[20000];
static char *encoded;
static cc_entry entry;
static char *scratch;

static void make_entry(const char *head, unsigned flags)
{
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = "the page, again and again\n"[i % 26];
    cc_entry e = {.status = 200,
                  .stored_at_ms = 1000,
                  .ttl_ms = 60000,
                  .key = "k",
                  .key_len = 1,
                  .head = head,
                  .head_len = strlen(head),
                  .body = body,
                  .body_len = sizeof body,
                  .flags = flags};
    size_t len;
    free(encoded);
    free(scratch);
    cr_assert_eq(cc_entry_encode(&e, CC_COMPRESS_SMART, 1024, 3, &encoded, &len), 0);
    cr_assert_eq(cc_entry_decode(encoded, len, &entry, &scratch), 0);
}

static char *hit(const char *accept, const char *range, bool get, size_t *len)
{
    cc_ask ask = {.accept_encoding = accept, .range = range};
    cc_hit_request rq = {&ask, get, "X-Cache-Status", "HIT", ""};
    cc_buf out = {0};
    cc_hit_build(&out, &rq, &entry, 2000);
    cr_assert(!out.failed);
    cc_buf_append(&out, "", 1);
    *len = out.len - 1;
    return out.data;
}

static const char *body_of(const char *response)
{
    return strstr(response, "\r\n\r\n") + 4;
}

Test(hit, codings_of_a_stored_frame)
{
    make_entry("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20000\r\n"
               "ETag: \"e\"\r\n",
               0);
    cr_assert(entry.flags & CC_ENTRY_COMPRESSED);
    size_t len;
    char *r = hit("zstd", NULL, true, &len);
    cr_expect_not_null(strstr(r, "Content-Encoding: zstd\r\n"));
    cr_expect_not_null(strstr(r, "Vary: Accept-Encoding\r\n"));
    cr_expect_not_null(strstr(r, "ETag: \"e-zstd\"\r\n"));
    cr_expect_null(strstr(r, "Content-Length: 20000"));
    const char *b = body_of(r);
    size_t blen = len - (size_t)(b - r);
    cr_expect_eq(blen, entry.stored_body_len);
    char back[sizeof body];
    cr_expect_eq(ZSTD_decompress(back, sizeof back, b, blen), sizeof body);
    cr_expect_eq(memcmp(back, body, sizeof body), 0);
    free(r);
    r = hit("gzip", NULL, true, &len);
    cr_expect_not_null(strstr(r, "Content-Encoding: gzip\r\n"));
    cr_expect_not_null(strstr(r, "ETag: \"e-gzip\"\r\n"));
    free(r);
    r = hit(NULL, NULL, true, &len);
    cr_expect_null(strstr(r, "Content-Encoding"));
    cr_expect_not_null(strstr(r, "Vary: Accept-Encoding\r\n"));
    cr_expect_not_null(strstr(r, "Content-Length: 20000\r\n"));
    cr_expect_not_null(strstr(r, "ETag: \"e\"\r\n"));
    cr_expect_eq(len - (size_t)(body_of(r) - r), sizeof body);
    free(r);
    r = hit("zstd", "bytes=0-9", true, &len);   /* a part: of the identity body */
    cr_expect_not_null(strstr(r, "Status: 206"));
    cr_expect_null(strstr(r, "Content-Encoding"));
    cr_expect_eq(memcmp(body_of(r), body, 10), 0);
    free(r);
    r = hit("zstd", NULL, false, &len);          /* HEAD: no body */
    cr_expect_str_eq(body_of(r), "");
    cr_expect_not_null(strstr(r, "Content-Encoding: zstd\r\n"));
    free(r);
}

Test(hit, app_encoded_bodies_go_as_they_are_to_those_who_take_them)
{
    make_entry("Status: 200 OK\r\nContent-Encoding: br\r\n", CC_ENTRY_APP_ENCODED);
    cr_expect(cc_hit_acceptable(&entry, "br, gzip"));
    cr_expect(!cc_hit_acceptable(&entry, "gzip, zstd"));
    cr_expect(!cc_hit_acceptable(&entry, NULL));
    size_t len;
    char *r = hit("br, zstd", NULL, true, &len);
    cr_expect_null(strstr(r, "Content-Encoding: zstd"));
    cr_expect_eq(len - (size_t)(body_of(r) - r), sizeof body);
    free(r);
    make_entry("Status: 200 OK\r\nContent-Encoding: gzip, br\r\n", CC_ENTRY_APP_ENCODED);
    cr_expect(cc_hit_acceptable(&entry, "br, gzip"));
    cr_expect(!cc_hit_acceptable(&entry, "br"));
}
