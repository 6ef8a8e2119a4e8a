/* entry.h -- the value stored in Redis for one cached response.
 *
 * Layout (all integers little-endian):
 *   magic "CGCE", u8 version, u8 flags, u16 status,
 *   i64 stored_at_ms, i64 ttl_ms, i64 stale_ms, u32 compute_ms,
 *   u64 generation, u32 key_len, u32 head_len, u32 body_raw_len,
 *   u32 body_stored_len, u32 gzip_len (version 2), key, head, body (zstd
 *   frame when compressed), the body gzipped (gzip_len bytes, version 2),
 *   u64 XXH3-64 checksum of everything before it.
 * Version 1 had no gzip_len and no app-encoded flag; it is still read.
 * The decoder checks magic, version, every length against the buffer and
 * the checksum; anything that does not decode is "no entry". */
#ifndef CGICACHE_ENTRY_H
#define CGICACHE_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CC_ENTRY_VERSION 2
#define CC_ENTRY_COMPRESSED 0x01u   /* the body is stored as a zstd frame */
#define CC_ENTRY_APP_ENCODED 0x02u  /* the app sent Content-Encoding: stored as sent */
/* Not stored: a version-1 entry, written before the flag above, whose
 * coding is not known (it is served as it is, never re-encoded). */
#define CC_ENTRY_CODING_UNKNOWN 0x80u

typedef struct cc_entry {
    uint16_t status;
    unsigned flags;             /* CC_ENTRY_COMPRESSED, set by the encoder;
                                 * CC_ENTRY_APP_ENCODED, given to it */
    int64_t stored_at_ms;
    int64_t ttl_ms;             /* fresh for ttl_ms after stored_at_ms */
    int64_t stale_ms;           /* then servable stale for stale_ms */
    uint32_t compute_ms;        /* how long the app took to answer */
    uint64_t generation; /* folded from the route and URL generations it was computed under */
    const char *key; /* the full canonical key */
    size_t key_len;
    const char *head; /* stored head form (see http.h) */
    size_t head_len;
    const char *body;
    size_t body_len; /* raw (decompressed) length */
    const char *stored_body; /* the body as stored: the zstd frame when compressed */
    size_t stored_body_len; /* length as stored (after compression) */
    const char *gzip;       /* the body gzipped, for clients without zstd */
    size_t gzip_len;        /* 0: none (not compressed, or not smaller) */
} cc_entry;

/* Encodes e into a malloc'd buffer (*out, *out_len).  Compresses the body
 * with zstd at level when mode is ALL, or SMART and body_len >= min_size,
 * and keeps the compressed form only when it is smaller; a body so kept
 * that the app did not encode itself is also kept gzipped (hit.h sends
 * it to clients that take gzip but not zstd).  Returns 0 or -1. */
int cc_entry_encode(const cc_entry *e, cc_compress_mode mode, size_t min_size, int level,
                    char **out, size_t *out_len);

/* Decodes buf into e.  key and head point into buf; the body points into
 * buf or, when compressed, into *scratch, a malloc'd buffer the caller
 * frees (it may be NULL on return).  Returns 0, or -1 for anything that is
 * not a whole, valid entry of this version. */
int cc_entry_decode(const char *buf, size_t len, cc_entry *e, char **scratch);

/* Whether e's stored zstd frame may go to HTTP clients as it is: its
 * window is at most 8 MiB, what RFC 9659 lets a client refuse beyond. */
bool cc_entry_frame_for_clients(const cc_entry *e);

/* The 64-bit hash entries are checked with (XXH3-64), for other uses. */
uint64_t cc_entry_hash(const void *data, size_t len);

/* Decodes only the fixed header (no checksum or body work): for inspect
 * and for deciding freshness before paying for decompression. Returns 0/-1. */
int cc_entry_peek(const char *buf, size_t len, cc_entry *e);

#endif
