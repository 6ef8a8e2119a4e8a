/* encoding.c -- Accept-Encoding, gzip and variant ETags (encoding.h).
 *
 * The client's Accept-Encoding is parsed strictly: a member that is not
 * "token [; q=qvalue] [; other params]" makes the whole value read as
 * absent, which picks identity -- the one coding every client takes. */
#include "encoding.h"

#include <string.h>
#include <strings.h>
#include <zlib.h>

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A qvalue ("0", "0.5", "1.000") in thousandths, or -1. */
static int qvalue(const char *p, const char *end)
{
    if (p >= end || (*p != '0' && *p != '1'))
        return -1;
    int q = (*p++ - '0') * 1000, scale = 100, digits = 0;
    if (p < end && *p == '.')
        for (p++; p < end && *p >= '0' && *p <= '9' && digits < 3; p++, digits++, scale /= 10)
            q += (*p - '0') * scale;
    return p == end && q <= 1000 ? q : -1;
}

/* The q of each coding the value names; "*" as star.  False when the
 * value does not parse. */
typedef struct accepts {
    int zstd, gzip, identity, star;  /* -1: not named */
} accepts;

static bool named(const char *t, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(t, name, len) == 0;
}

static bool read_accepts(const char *value, accepts *a, const char *want, size_t want_len,
                         int *want_q)
{
    a->zstd = a->gzip = a->identity = a->star = -1;
    if (want_q != NULL)
        *want_q = -1;
    const char *p = value, *end = value + strlen(value);
    while ((p = skip_ows(p, end)) < end) {
        if (*p == ',') {
            p++;
            continue;
        }
        const char *t = p;
        while (p < end && is_tchar(*p))
            p++;
        size_t len = (size_t)(p - t);
        if (len == 0)
            return false;
        int q = 1000;
        for (p = skip_ows(p, end); p < end && *p == ';'; p = skip_ows(p, end)) {
            const char *name = p = skip_ows(p + 1, end);
            while (p < end && is_tchar(*p))
                p++;
            size_t name_len = (size_t)(p - name);
            if (name_len == 0 || p >= end || *p != '=')
                return false;
            const char *v = ++p;
            while (p < end && is_tchar(*p))
                p++;
            if (name_len == 1 && (*name == 'q' || *name == 'Q') && (q = qvalue(v, p)) < 0)
                return false;
        }
        if (p < end && *p != ',')
            return false;
        if (named(t, len, "zstd"))
            a->zstd = q;
        else if (named(t, len, "gzip") || named(t, len, "x-gzip"))
            a->gzip = q;
        else if (named(t, len, "identity"))
            a->identity = q;
        else if (named(t, len, "*"))
            a->star = q;
        if (want_q != NULL && (len == want_len && strncasecmp(t, want, len) == 0))
            *want_q = q;
    }
    return true;
}

/* A coding's q: named, else "*"'s, else 0 -- identity is acceptable
 * unless refused by name or by "*;q=0" (RFC 9110 §12.5.3). */
static int q_of(const accepts *a, cc_coding c)
{
    int named_q = c == CC_CODING_ZSTD ? a->zstd : c == CC_CODING_GZIP ? a->gzip : a->identity;
    if (named_q >= 0)
        return named_q;
    if (c == CC_CODING_IDENTITY)
        return a->star == 0 ? 0 : 1;
    return a->star > 0 ? a->star : 0;
}

cc_coding cc_accept_pick(const char *value, unsigned offer)
{
    accepts a;
    if (value == NULL || !read_accepts(value, &a, NULL, 0, NULL))
        return CC_CODING_IDENTITY;
    cc_coding best = CC_CODING_IDENTITY;
    int best_q = q_of(&a, CC_CODING_IDENTITY);
    static const cc_coding order[] = {CC_CODING_ZSTD, CC_CODING_GZIP};
    for (size_t i = 0; i < 2; i++) {
        int q = q_of(&a, order[i]);
        if ((offer & CC_OFFER(order[i])) && q > 0 &&
            (q > best_q || (q == best_q && best == CC_CODING_IDENTITY)))
            best = order[i], best_q = q;
    }
    return best;
}

bool cc_accept_has(const char *value, const char *name, size_t name_len)
{
    accepts a;
    int q;
    bool identity = named(name, name_len, "identity");
    /* No preference given (or none readable): identity, the safe one. */
    if (value == NULL || !read_accepts(value, &a, name, name_len, &q))
        return identity;
    if (identity)
        return q_of(&a, CC_CODING_IDENTITY) > 0;
    if (named(name, name_len, "gzip") || named(name, name_len, "x-gzip"))
        return q_of(&a, CC_CODING_GZIP) > 0;
    if (named(name, name_len, "zstd"))
        return q_of(&a, CC_CODING_ZSTD) > 0;
    return q >= 0 ? q > 0 : a.star > 0;
}

const char *cc_accept_bucket(const char *value)
{
    static const char *const names[] = {"identity", "gzip", "zstd"};
    return names[cc_accept_pick(value, CC_OFFER(CC_CODING_GZIP) | CC_OFFER(CC_CODING_ZSTD))];
}

const char *cc_coding_name(cc_coding c)
{
    return c == CC_CODING_ZSTD ? "zstd" : c == CC_CODING_GZIP ? "gzip" : "";
}

int cc_gzip(cc_buf *out, const char *data, size_t len, int level)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip header and trailer around the deflate. */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        out->failed = 1;
        return -1;
    }
    uLong bound = deflateBound(&z, (uLong)len);
    int rc = -1;
    if (cc_buf_reserve(out, bound) == 0) {
        z.next_in = (Bytef *)(uintptr_t)data;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
            out->len += z.total_out;
            rc = 0;
        }
    }
    deflateEnd(&z);
    if (rc != 0)
        out->failed = 1;
    return rc;
}

void cc_etag_of_variant(cc_buf *out, const char *etag, size_t len, cc_coding c)
{
    if (c == CC_CODING_IDENTITY || len < 2 || etag[len - 1] != '"') {
        cc_buf_append(out, etag, len);
        return;
    }
    cc_buf_append(out, etag, len - 1);
    cc_buf_append(out, "-", 1);
    cc_buf_append_str(out, cc_coding_name(c));
    cc_buf_append(out, "\"", 1);
}
