/* encoding.h -- content codings: what a client accepts, and the gzip and
 * ETag forms of a stored identity body.
 *
 * Entries keep their body as a zstd frame when that is smaller (entry.h):
 * a client that accepts zstd is sent that frame as it is, one that accepts
 * only gzip gets the body gzipped, the rest the identity body.  Each such
 * variant has its own strong ETag (the stored one with "-zstd" or "-gzip"
 * before its closing quote), so a 304 or an If-Range never mixes them.
 * Accept-Encoding is read as RFC 9110 §12.5.3 says (q-values, "*",
 * "identity;q=0") and sorted into a few buckets, so a route keyed on it
 * keeps three variants at most, not one per browser's spelling. */
#ifndef CGICACHE_ENCODING_H
#define CGICACHE_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

typedef enum {
    CC_CODING_IDENTITY = 0,
    CC_CODING_GZIP = 1,
    CC_CODING_ZSTD = 2,
} cc_coding;

#define CC_OFFER(c) (1u << (c))

/* The coding of those offered (a set of CC_OFFER bits; identity is
 * always possible) that an Accept-Encoding value (NULL: absent) prefers:
 * the highest q, then zstd before gzip before identity.  A value that
 * does not parse is read as absent: identity. */
cc_coding cc_accept_pick(const char *accept_encoding, unsigned offer);

/* Whether the value accepts the coding named name (name_len bytes, e.g.
 * "br", "gzip"; "identity" too) with a q above 0. */
bool cc_accept_has(const char *accept_encoding, const char *name, size_t name_len);

/* The bucket a request falls in for a route keyed on Accept-Encoding:
 * "zstd", "gzip" or "identity", by cc_accept_pick over all three. */
const char *cc_accept_bucket(const char *accept_encoding);

/* The coding's name in Content-Encoding ("zstd", "gzip"; "" for identity). */
const char *cc_coding_name(cc_coding c);

/* Appends data gzipped (RFC 1952) at level.  Returns 0, or -1 (out then
 * failed). */
int cc_gzip(cc_buf *out, const char *data, size_t len, int level);

/* Appends the ETag value etag (etag_len bytes, an entity-tag) of the
 * variant in coding c: "-zstd" or "-gzip" before the closing quote, or
 * the value unchanged for identity or a value that is not a tag. */
void cc_etag_of_variant(cc_buf *out, const char *etag, size_t etag_len, cc_coding c);

#endif
