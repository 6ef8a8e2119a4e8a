/* path.c -- decoding a request path and telling whether it is in normal
 * form (see path.h for why).
 *
 * One pass, no allocation: the caller's buffer gets the decoded path.
 * Most requests name a plain path ("/blogs/7"); for those the pass is a
 * scan and a copy. */
#include "path.h"

#include <string.h>

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Bytes that must never be escaped in a cacheable path: their escaped and
 * literal forms mean different things to different readers. */
static bool escape_is_ambiguous(unsigned char c)
{
    return is_unreserved(c) || c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ';' ||
           c == '?' || c == '#' || c == '%';
}

/* Bytes that must never appear literally in a cacheable path. */
static bool literal_is_ambiguous(unsigned char c)
{
    return c <= 0x20 || c == 0x7f || c == '\\' || c == ';';
}

long cc_path_decode(const char *p, size_t n, bool encoded, char *out, size_t cap, bool *normal)
{
    bool ok = n > 0 && p[0] == '/';
    size_t len = 0;
    if (!ok)
        goto done;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (encoded && c == '%') {
            int hi = i + 2 < n ? hex_value((unsigned char)p[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value((unsigned char)p[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                ok = false;          /* a lone '%': readers disagree */
            } else {
                c = (unsigned char)(hi * 16 + lo);
                i += 2;
                if (escape_is_ambiguous(c))
                    ok = false;
            }
        } else if (literal_is_ambiguous(c)) {
            ok = false;
        }
        if (len + 1 >= cap)
            return -1;
        out[len++] = (char)c;
        if (c != '/')
            continue;
        /* A segment just ended at out[len - 1]: merge and resolve it. */
        size_t seg = len - 1;        /* the slash ending the segment */
        size_t start = seg;          /* the slash before it */
        while (start > 0 && out[start - 1] != '/')
            start--;
        if (start == 0) {
            continue;                /* the leading slash */
        }
        size_t seglen = seg - start;
        if (seglen == 0 || (seglen == 1 && out[start] == '.')) {
            len = start;             /* "//" or "/./" */
            ok = false;
        } else if (seglen == 2 && out[start] == '.' && out[start + 1] == '.') {
            ok = false;
            size_t up = start - 1;   /* the slash before the ".." */
            while (up > 0 && out[up - 1] != '/')
                up--;
            len = up > 0 ? up : 1;
        }
    }
    /* A last segment of "." or "..". */
    if (len >= 2 && out[len - 1] == '.' && out[len - 2] == '/') {
        len--;
        ok = false;
    } else if (len >= 3 && out[len - 1] == '.' && out[len - 2] == '.' && out[len - 3] == '/') {
        ok = false;
        size_t up = len - 3;
        while (up > 0 && out[up - 1] != '/')
            up--;
        len = up > 0 ? up : 1;
    }
done:
    if (normal != NULL)
        *normal = ok;
    if (n == 0 || p[0] != '/')
        return -1;
    out[len] = '\0';
    return (long)len;
}
