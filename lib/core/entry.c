/* entry.c -- the value stored in Redis for one cached response.
 *
 * A fixed little-endian header, the full key (so a hashed Redis key can be
 * checked against the request's own), the stored head, the body (a zstd
 * frame when that is smaller) and an XXH3-64 checksum over all of it.
 * Whatever is in Redis may be garbage -- another program's value, a
 * truncated write, a future version -- so the decoder checks the magic,
 * the version, every length against the buffer and the checksum before it
 * trusts a byte, and decompresses into exactly the declared size. */
#include "entry.h"

#include <stdbool.h>

#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader: linked in statically */
#include <zstd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "encoding.h"

#define MAGIC "CGCE"
#define HEADER_LEN_V1 (4 + 1 + 1 + 2 + 8 + 8 + 8 + 4 + 8 + 4 + 4 + 4 + 4)
#define HEADER_LEN (HEADER_LEN_V1 + 4)
/* gzip is made once, when stored: the level that zlib calls default. */
#define GZIP_STORE_LEVEL 6
#define CHECKSUM_LEN 8
#define BODY_MAX ((size_t)1 << 30)   /* nothing larger is ever stored */

bool cc_entry_frame_for_clients(const cc_entry *e)
{
    ZSTD_frameHeader h;
    return (e->flags & CC_ENTRY_COMPRESSED) &&
           ZSTD_getFrameHeader(&h, e->stored_body, e->stored_body_len) == 0 &&
           h.frameType == ZSTD_frame && h.windowSize <= ((unsigned long long)8 << 20);
}

uint64_t cc_entry_hash(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Compresses body when the mode asks for it and it pays off; returns the
 * malloc'd frame (and its length) or NULL to store the body raw. */
static void *compress_body(const cc_entry *e, cc_compress_mode mode, size_t min_size, int level,
                           size_t *out_len)
{
    if (mode == CC_COMPRESS_OFF || e->body_len == 0 ||
        (mode == CC_COMPRESS_SMART && e->body_len < min_size))
        return NULL;
    size_t cap = ZSTD_compressBound(e->body_len);
    void *frame = malloc(cap);
    if (frame == NULL)
        return NULL;
    size_t n = ZSTD_compress(frame, cap, e->body, e->body_len, level);
    if (ZSTD_isError(n) || n >= e->body_len) {
        free(frame);
        return NULL;
    }
    *out_len = n;
    return frame;
}

int cc_entry_encode(const cc_entry *e, cc_compress_mode mode, size_t min_size, int level,
                    char **out, size_t *out_len)
{
    if (e->key_len > UINT32_MAX || e->head_len > UINT32_MAX || e->body_len > BODY_MAX)
        return -1;
    size_t stored_len = e->body_len;
    void *frame = compress_body(e, mode, min_size, level, &stored_len);
    const void *body = frame != NULL ? frame : e->body;
    cc_buf gzip = {0};
    if (frame != NULL && !(e->flags & CC_ENTRY_APP_ENCODED) &&
        (cc_gzip(&gzip, e->body, e->body_len, GZIP_STORE_LEVEL) != 0 || gzip.len >= e->body_len))
        cc_buf_free(&gzip);     /* none: gzip clients get identity */
    size_t total = HEADER_LEN + e->key_len + e->head_len + stored_len + gzip.len + CHECKSUM_LEN;
    unsigned char *buf = malloc(total);
    if (buf == NULL) {
        free(frame);
        cc_buf_free(&gzip);
        return -1;
    }
    unsigned char *p = buf;
    memcpy(p, MAGIC, 4);
    p[4] = CC_ENTRY_VERSION;
    p[5] = (unsigned char)((frame != NULL ? CC_ENTRY_COMPRESSED : 0) |
                           (e->flags & CC_ENTRY_APP_ENCODED));
    put_u16(p + 6, e->status);
    put_u64(p + 8, (uint64_t)e->stored_at_ms);
    put_u64(p + 16, (uint64_t)e->ttl_ms);
    put_u64(p + 24, (uint64_t)e->stale_ms);
    put_u32(p + 32, e->compute_ms);
    put_u64(p + 36, e->generation);
    put_u32(p + 44, (uint32_t)e->key_len);
    put_u32(p + 48, (uint32_t)e->head_len);
    put_u32(p + 52, (uint32_t)e->body_len);
    put_u32(p + 56, (uint32_t)stored_len);
    put_u32(p + 60, (uint32_t)gzip.len);
    p += HEADER_LEN;
    memcpy(p, e->key, e->key_len);
    p += e->key_len;
    memcpy(p, e->head, e->head_len);
    p += e->head_len;
    memcpy(p, body, stored_len);
    p += stored_len;
    if (gzip.len > 0)
        memcpy(p, gzip.data, gzip.len);
    p += gzip.len;
    put_u64(p, XXH3_64bits(buf, (size_t)(p - buf)));
    free(frame);
    cc_buf_free(&gzip);
    *out = (char *)buf;
    *out_len = total;
    return 0;
}

/* Reads the fixed header and checks that the declared parts fit len
 * exactly.  Pointers are set into buf (the body as stored). */
static int read_header(const unsigned char *p, size_t len, cc_entry *e)
{
    /* Version 1 differs only in not knowing the app's coding. */
    if (len < HEADER_LEN_V1 + CHECKSUM_LEN || memcmp(p, MAGIC, 4) != 0 ||
        (p[4] != CC_ENTRY_VERSION && p[4] != 1) ||
        (p[5] & ~(CC_ENTRY_COMPRESSED | CC_ENTRY_APP_ENCODED)) != 0 ||
        (p[4] == 1 && (p[5] & CC_ENTRY_APP_ENCODED) != 0))
        return -1;
    memset(e, 0, sizeof *e);
    e->flags = p[5] | (p[4] == 1 ? CC_ENTRY_CODING_UNKNOWN : 0);
    e->status = get_u16(p + 6);
    e->stored_at_ms = (int64_t)get_u64(p + 8);
    e->ttl_ms = (int64_t)get_u64(p + 16);
    e->stale_ms = (int64_t)get_u64(p + 24);
    e->compute_ms = get_u32(p + 32);
    e->generation = get_u64(p + 36);
    uint64_t key_len = get_u32(p + 44), head_len = get_u32(p + 48);
    uint64_t raw_len = get_u32(p + 52), stored_len = get_u32(p + 56);
    bool v1 = p[4] == 1;
    uint64_t header_len = v1 ? HEADER_LEN_V1 : HEADER_LEN;
    uint64_t gzip_len = v1 || len < HEADER_LEN + CHECKSUM_LEN ? 0 : get_u32(p + 60);
    if (raw_len > BODY_MAX || e->ttl_ms < 0 || e->stale_ms < 0 ||
        (!v1 && len < HEADER_LEN + CHECKSUM_LEN) ||
        header_len + key_len + head_len + stored_len + gzip_len + CHECKSUM_LEN != len ||
        (!(e->flags & CC_ENTRY_COMPRESSED) && stored_len != raw_len))
        return -1;
    e->key = (const char *)p + header_len;
    e->key_len = (size_t)key_len;
    e->head = e->key + key_len;
    e->head_len = (size_t)head_len;
    e->body = e->head + head_len;
    e->stored_body = e->body;
    e->body_len = (size_t)raw_len;
    e->stored_body_len = (size_t)stored_len;
    e->gzip = e->stored_body + stored_len;
    e->gzip_len = (size_t)gzip_len;
    return 0;
}

int cc_entry_peek(const char *buf, size_t len, cc_entry *e)
{
    return buf == NULL ? -1 : read_header((const unsigned char *)buf, len, e);
}

int cc_entry_decode(const char *buf, size_t len, cc_entry *e, char **scratch)
{
    *scratch = NULL;
    if (cc_entry_peek(buf, len, e) != 0)
        return -1;
    const unsigned char *p = (const unsigned char *)buf;
    if (XXH3_64bits(p, len - CHECKSUM_LEN) != get_u64(p + len - CHECKSUM_LEN))
        return -1;
    if (!(e->flags & CC_ENTRY_COMPRESSED))
        return 0;
    /* The frame must say it holds exactly the declared size. */
    unsigned long long content = ZSTD_getFrameContentSize(e->body, e->stored_body_len);
    if (content != e->body_len)
        return -1;
    char *raw = malloc(e->body_len > 0 ? e->body_len : 1);
    if (raw == NULL)
        return -1;
    size_t n = ZSTD_decompress(raw, e->body_len, e->body, e->stored_body_len);
    if (ZSTD_isError(n) || n != e->body_len) {
        free(raw);
        return -1;
    }
    e->body = raw;
    *scratch = raw;
    return 0;
}
