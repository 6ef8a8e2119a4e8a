/* http.c -- the CGI response head: parsing what an app writes, and
 * building the heads cgicache sends.
 *
 * The parser runs on the bytes held so far, every time more arrive, until
 * it finds the blank line; it never allocates (headers point into the
 * caller's buffer) and refuses anything it cannot read exactly -- a line
 * without a colon, a name with blanks, a bad Status -- so that such a
 * response passes through as written and is never stored. */
#include "http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int is_token_char(unsigned char c)
{
    return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* Reads "NNN[ reason]" of a Status line. */
static int parse_status(cc_head *out, const char *v, size_t len)
{
    if (len < 3 || !isdigit((unsigned char)v[0]) || !isdigit((unsigned char)v[1]) ||
        !isdigit((unsigned char)v[2]) || (len > 3 && !is_blank(v[3])))
        return -1;
    int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    if (code < 100)
        return -1;
    out->status = code;
    size_t i = 3;
    while (i < len && is_blank(v[i]))
        i++;
    out->reason = v + i;
    out->reason_len = len - i;
    return 0;
}

/* Parses one "Name: value" line (without its line end) into out. */
static int parse_line(cc_head *out, const char *line, size_t len, int *saw_status)
{
    size_t n = 0;
    while (n < len && is_token_char((unsigned char)line[n]))
        n++;
    if (n == 0 || n == len || line[n] != ':')
        return -1;
    const char *v = line + n + 1, *end = line + len;
    while (v < end && is_blank(*v))
        v++;
    while (end > v && is_blank(end[-1]))
        end--;
    if (n == 6 && strncasecmp(line, "Status", 6) == 0) {
        if (*saw_status)
            return -1;
        *saw_status = 1;
        return parse_status(out, v, (size_t)(end - v));
    }
    if (out->nheaders == CC_HEADERS_MAX)
        return -1;
    out->headers[out->nheaders++] = (cc_header){line, n, v, (size_t)(end - v)};
    return 0;
}

cc_head_result cc_head_parse(const char *buf, size_t len, cc_head *out)
{
    int saw_status = 0;
    out->status = 200;
    out->reason = "";
    out->reason_len = 0;
    out->nheaders = 0;
    out->head_len = 0;
    size_t scan = len > CC_HEAD_MAX ? CC_HEAD_MAX : len;
    for (size_t pos = 0; pos < scan;) {
        const char *nl = memchr(buf + pos, '\n', scan - pos);
        if (nl == NULL)
            break;
        size_t end = (size_t)(nl - buf);
        size_t line_len = end - pos;
        if (line_len > 0 && buf[end - 1] == '\r')
            line_len--;
        if (line_len == 0) {
            out->head_len = end + 1;
            if (!saw_status && cc_head_find(out, "Location") != NULL)
                out->status = 302;
            return CC_HEAD_OK;
        }
        if (parse_line(out, buf + pos, line_len, &saw_status) != 0)
            return CC_HEAD_BAD;
        pos = end + 1;
    }
    return len >= CC_HEAD_MAX ? CC_HEAD_BAD : CC_HEAD_INCOMPLETE;
}

const cc_header *cc_head_find(const cc_head *h, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < h->nheaders; i++)
        if (h->headers[i].name_len == n && strncasecmp(h->headers[i].name, name, n) == 0)
            return &h->headers[i];
    return NULL;
}

/* Walks a comma-separated list: calls fn on each member (trimmed) until it
 * returns non-zero, and returns that. */
static int each_member(const char *v, size_t len,
                       int (*fn)(const char *m, size_t mlen, const void *arg, void *out),
                       const void *arg, void *out)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_blank(v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        int quoted = 0;
        while (i < len && (quoted || v[i] != ',')) {
            if (v[i] == '"')
                quoted = !quoted;
            i++;
        }
        size_t end = i;
        while (end > start && is_blank(v[end - 1]))
            end--;
        if (end > start) {
            int r = fn(v + start, end - start, arg, out);
            if (r != 0)
                return r;
        }
    }
    return 0;
}

/* The name part of "name=arg" (or the whole member). */
static size_t member_name_len(const char *m, size_t mlen)
{
    size_t n = 0;
    while (n < mlen && m[n] != '=' && !is_blank(m[n]))
        n++;
    return n;
}

static int has_token(const char *m, size_t mlen, const void *arg, void *out)
{
    (void)out;
    const char *token = arg;
    size_t n = member_name_len(m, mlen);
    return n == strlen(token) && strncasecmp(m, token, n) == 0;
}

int cc_list_has(const char *value, size_t value_len, const char *token)
{
    return each_member(value, value_len, has_token, token, NULL);
}

static int seconds_of(const char *m, size_t mlen, const void *arg, void *out)
{
    const char *name = arg;
    size_t n = member_name_len(m, mlen);
    if (n != strlen(name) || strncasecmp(m, name, n) != 0)
        return 0;
    size_t i = n;
    while (i < mlen && is_blank(m[i]))
        i++;
    if (i == mlen || m[i] != '=')
        return 0;
    i++;
    while (i < mlen && is_blank(m[i]))
        i++;
    if (i < mlen && m[i] == '"')
        i++;
    int64_t v = 0;
    size_t digits = 0;
    /* Saturates: any value past a century is as good as a century, and
     * the caller may multiply it by 1000. */
    for (; i < mlen && isdigit((unsigned char)m[i]); i++, digits++)
        v = v >= CC_SECONDS_MAX ? CC_SECONDS_MAX : v * 10 + (m[i] - '0');
    if (v > CC_SECONDS_MAX)
        v = CC_SECONDS_MAX;
    if (digits == 0)
        return 0;
    *(int64_t *)out = v;
    return 1;
}

int cc_list_seconds(const char *value, size_t value_len, const char *name, int64_t *out)
{
    return each_member(value, value_len, seconds_of, name, out);
}

int cc_header_is_unstored(const char *name, size_t name_len, const char *extra)
{
    static const char *const never[] = {
        "Status", "Set-Cookie", "Connection", "Keep-Alive", "Transfer-Encoding", "TE",
        "Trailer", "Upgrade", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
        NULL,
    };
    for (size_t i = 0; never[i] != NULL; i++)
        if (strlen(never[i]) == name_len && strncasecmp(name, never[i], name_len) == 0)
            return 1;
    return extra != NULL && extra[0] != '\0' && strlen(extra) == name_len &&
           strncasecmp(name, extra, name_len) == 0;
}

/* ---- buffers --------------------------------------------------------- */

static int reserve(cc_buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (more <= b->cap - b->len)
        return 0;
    size_t cap = b->cap > 0 ? b->cap : 256;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

void cc_buf_append(cc_buf *b, const void *data, size_t len)
{
    if (len == 0 || reserve(b, len) != 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void cc_buf_appendf(cc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        cc_buf_append(b, small, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cc_buf_free(cc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

/* ---- heads ------------------------------------------------------------ */

static const char *standard_reason(int status)
{
    static const struct { int code; const char *text; } reasons[] = {
        {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {203, "Non-Authoritative Information"},
        {204, "No Content"}, {206, "Partial Content"}, {300, "Multiple Choices"},
        {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
        {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
        {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
        {410, "Gone"}, {414, "URI Too Long"}, {500, "Internal Server Error"},
        {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return "";
}

static void append_header(cc_buf *out, const cc_header *h)
{
    cc_buf_append(out, h->name, h->name_len);
    cc_buf_append(out, ": ", 2);
    cc_buf_append(out, h->value, h->value_len);
    cc_buf_append(out, "\r\n", 2);
}

void cc_head_store_form(cc_buf *out, const cc_head *h, const char *tags_header)
{
    /* The reason is kept as the app gave it, or the standard one, so the
     * replayed Status line is what the server would have sent. */
    if (h->reason_len > 0)
        cc_buf_appendf(out, "Status: %d %.*s\r\n", h->status, (int)h->reason_len, h->reason);
    else if (standard_reason(h->status)[0] != '\0')
        cc_buf_appendf(out, "Status: %d %s\r\n", h->status, standard_reason(h->status));
    else
        cc_buf_appendf(out, "Status: %d\r\n", h->status);
    for (size_t i = 0; i < h->nheaders; i++)
        if (!cc_header_is_unstored(h->headers[i].name, h->headers[i].name_len, tags_header))
            append_header(out, &h->headers[i]);
}

void cc_head_serve(cc_buf *out, const char *stored_head, size_t stored_len,
                   const char *extra, size_t extra_len)
{
    cc_buf_append(out, stored_head, stored_len);
    cc_buf_append(out, extra, extra_len);
    cc_buf_append(out, "\r\n", 2);
}

void cc_head_inject(cc_buf *out, const cc_head *h, const char *drop,
                    const char *extra, size_t extra_len)
{
    if (h->status != 200 || h->reason_len > 0) {
        /* The app wrote a Status line (a 302 from Location is implied and
         * needs none): keep it as it was. */
        if (h->reason_len > 0)
            cc_buf_appendf(out, "Status: %d %.*s\r\n", h->status, (int)h->reason_len, h->reason);
        else if (cc_head_find(h, "Location") == NULL || h->status != 302)
            cc_buf_appendf(out, "Status: %d\r\n", h->status);
    }
    for (size_t i = 0; i < h->nheaders; i++) {
        const cc_header *hd = &h->headers[i];
        if (drop != NULL && drop[0] != '\0' && strlen(drop) == hd->name_len &&
            strncasecmp(hd->name, drop, hd->name_len) == 0)
            continue;
        append_header(out, hd);
    }
    cc_buf_append(out, extra, extra_len);
    cc_buf_append(out, "\r\n", 2);
}
