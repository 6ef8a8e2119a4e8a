/* http.c -- the CGI response head: parsing what an app writes, and
 * building the heads cgicache sends.
 *
 * The parser runs on the bytes held so far, every time more arrive, until
 * it finds the blank line.  It never allocates (headers point into the
 * caller's buffer) and refuses anything it cannot read exactly -- a line
 * without a colon, a name that is not a token, a bad or repeated Status, a
 * stray CR or NUL -- so that such a response passes through as written and
 * is never stored or replayed.  The builders write every line with CRLF,
 * whatever the app used, because that is what servers and clients expect
 * of a head that is replayed or edited. */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decimal.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 9110 tchar: visible ASCII except the separators. */
static int is_token_char(unsigned char c)
{
    return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* Case-insensitive comparison of a counted name with a C string. */
static int name_is(const char *name, size_t name_len, const char *want)
{
    return strlen(want) == name_len && strncasecmp(name, want, name_len) == 0;
}

/* ---- parsing -------------------------------------------------------------- */

/* Reads "NNN[ reason]" of a Status line: three digits, 100 to 999, then
 * nothing or blanks and a reason phrase. */
static int parse_status(cc_head *out, const char *v, size_t len)
{
    if (len < 3 || !is_digit(v[0]) || !is_digit(v[1]) || !is_digit(v[2]) ||
        (len > 3 && !is_blank(v[3])))
        return -1;
    int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    if (code < 100)
        return -1;
    size_t i = 3;
    while (i < len && is_blank(v[i]))
        i++;
    out->status = code;
    out->reason = v + i;
    out->reason_len = len - i;
    return 0;
}

/* Parses one "Name: value" line (without its line end) into out.  A CR or
 * NUL inside a line is refused: some clients take a lone CR for a line end,
 * which would let a value smuggle in a header of its own. */
static int parse_line(cc_head *out, const char *line, size_t len, int *saw_status)
{
    if (memchr(line, '\r', len) != NULL || memchr(line, '\0', len) != NULL)
        return -1;
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
    if (name_is(line, n, "Status")) {
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

/* The status a server gives a head without a Status line (RFC 3875 6.3). */
static int implied_status(const cc_head *h)
{
    return cc_head_find(h, "Location") != NULL ? 302 : 200;
}

cc_head_result cc_head_parse(const char *buf, size_t len, cc_head *out)
{
    int saw_status = 0;
    out->status = 200;
    out->reason = "";
    out->reason_len = 0;
    out->nheaders = 0;
    out->head_len = 0;
    /* Only the first CC_HEAD_MAX bytes can hold a head we accept. */
    size_t window = len > CC_HEAD_MAX ? CC_HEAD_MAX : len;
    for (size_t pos = 0; pos < window;) {
        const char *nl = memchr(buf + pos, '\n', window - pos);
        if (nl == NULL)
            break;
        size_t eol = (size_t)(nl - buf);
        size_t line_len = eol - pos;
        if (line_len > 0 && buf[eol - 1] == '\r')
            line_len--;
        if (line_len == 0) {
            out->head_len = eol + 1;
            if (!saw_status)
                out->status = implied_status(out);
            return CC_HEAD_OK;
        }
        if (parse_line(out, buf + pos, line_len, &saw_status) != 0)
            return CC_HEAD_BAD;
        pos = eol + 1;
    }
    return len >= CC_HEAD_MAX ? CC_HEAD_BAD : CC_HEAD_INCOMPLETE;
}

const cc_header *cc_head_next(const cc_head *h, const cc_header *prev, const char *name)
{
    for (size_t i = prev != NULL ? (size_t)(prev - h->headers) + 1 : 0; i < h->nheaders; i++)
        if (name_is(h->headers[i].name, h->headers[i].name_len, name))
            return &h->headers[i];
    return NULL;
}

const cc_header *cc_head_find(const cc_head *h, const char *name)
{
    return cc_head_next(h, NULL, name);
}

/* ---- comma-separated lists ------------------------------------------------ */

/* Steps to the next member of a comma-separated list from *pos, trimmed of
 * blanks; commas inside double quotes do not split ("no-cache=\"a, b\"").
 * Returns 0 at the end of the list. */
static int next_member(const char *v, size_t len, size_t *pos, const char **m, size_t *mlen)
{
    size_t i = *pos;
    while (i < len && (is_blank(v[i]) || v[i] == ','))
        i++;
    if (i == len) {
        *pos = i;
        return 0;
    }
    size_t start = i;
    int quoted = 0;
    for (; i < len && (quoted || v[i] != ','); i++)
        if (v[i] == '"')
            quoted = !quoted;
    size_t end = i;
    while (is_blank(v[end - 1]))   /* stops at v[start], which is not blank */
        end--;
    *pos = i;
    *m = v + start;
    *mlen = end - start;
    return 1;
}

/* The length of the name part of a member "name=argument". */
static size_t member_name_len(const char *m, size_t mlen)
{
    size_t n = 0;
    while (n < mlen && m[n] != '=' && !is_blank(m[n]))
        n++;
    return n;
}

/* Finds the member named token; returns it or NULL. */
static const char *find_member(const char *value, size_t value_len, const char *token, size_t *mlen)
{
    const char *m;
    size_t pos = 0;
    while (next_member(value, value_len, &pos, &m, mlen))
        if (name_is(m, member_name_len(m, *mlen), token))
            return m;
    return NULL;
}

int cc_list_has(const char *value, size_t value_len, const char *token)
{
    size_t mlen;
    return find_member(value, value_len, token, &mlen) != NULL;
}

/* Reads the delta-seconds argument of a member: "=" then digits, quoted
 * or not, and nothing else.  Saturates at CC_SECONDS_MAX: anything past a
 * century is as good as a century, and callers multiply by 1000. */
static int member_seconds(const char *m, size_t mlen, int64_t *out)
{
    size_t i = member_name_len(m, mlen);
    while (i < mlen && is_blank(m[i]))
        i++;
    if (i == mlen || m[i++] != '=')
        return 0;
    while (i < mlen && is_blank(m[i]))
        i++;
    int quoted = i < mlen && m[i] == '"';
    i += (size_t)quoted;
    size_t first = i;
    int64_t v = 0;
    for (; i < mlen && is_digit(m[i]); i++)
        v = v >= CC_SECONDS_MAX / 10 ? CC_SECONDS_MAX : v * 10 + (m[i] - '0');
    if (i == first || (quoted && (i == mlen || m[i++] != '"')) || i != mlen)
        return 0;
    *out = v > CC_SECONDS_MAX ? CC_SECONDS_MAX : v;
    return 1;
}

int cc_list_seconds(const char *value, size_t value_len, const char *name, int64_t *out)
{
    size_t mlen;
    const char *m = find_member(value, value_len, name, &mlen);
    return m != NULL && member_seconds(m, mlen, out);
}

int cc_list_seconds_all(const char *value, size_t value_len, const char *name, int64_t *out)
{
    const char *m;
    size_t pos = 0, mlen;
    int found = 0;
    while (next_member(value, value_len, &pos, &m, &mlen)) {
        int64_t secs;
        if (!name_is(m, member_name_len(m, mlen), name))
            continue;
        if (!member_seconds(m, mlen, &secs) || (found && secs != *out))
            return -1;
        *out = secs;
        found = 1;
    }
    return found;
}

int cc_header_is_app_purge(const char *name, size_t name_len)
{
    /* Asked of every header of every response: most are told apart by
     * their length and first bytes. */
    static const char common[] = "X-Cache-Purge-";
    if (name_len < sizeof common - 1 || strncasecmp(name, common, sizeof common - 1) != 0)
        return 0;
    return name_is(name, name_len, CC_PURGE_TAGS_HEADER) ||
           name_is(name, name_len, CC_PURGE_PREFIX_HEADER) ||
           name_is(name, name_len, CC_PURGE_SOFT_HEADER);
}

int cc_head_has_app_purge(const cc_head *h)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (cc_header_is_app_purge(h->headers[i].name, h->headers[i].name_len))
            return 1;
    return 0;
}

int cc_header_is_unstored(const char *name, size_t name_len, const char *extra)
{
    static const char *const never[] = {
        "Status",
        "Set-Cookie",
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "TE",
        "Trailer",
        "Upgrade",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (name_is(name, name_len, never[i]))
            return 1;
    if (cc_header_is_app_purge(name, name_len))
        return 1;
    return extra != NULL && extra[0] != '\0' && name_is(name, name_len, extra);
}

/* ---- buffers -------------------------------------------------------------- */

/* Makes room for more bytes, doubling so that appends are amortised O(1).
 * After a failure the buffer stays failed: a head with a piece missing
 * must never be sent or stored. */
int cc_buf_reserve(cc_buf *b, size_t more)
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
    if (len == 0 || cc_buf_reserve(b, len) != 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void cc_buf_append_str(cc_buf *b, const char *s)
{
    cc_buf_append(b, s, strlen(s));
}

void cc_buf_append_int(cc_buf *b, long long v)
{
    char digits[CC_DECIMAL_MAX];
    size_t n = cc_decimal(digits, v);
    cc_buf_append(b, digits, n);
}

void cc_buf_appendf(cc_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
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
    /* Too long for the stack: format again, straight into the buffer
     * (the +1 is vsnprintf's NUL, which len then leaves out). */
    if (cc_buf_reserve(b, (size_t)n + 1) != 0)
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

/* ---- building heads --------------------------------------------------------- */

/* RFC 9110's phrase for the statuses an app is likely to send, used when
 * the app gave none.  Any other status is written without a phrase, which
 * CGI allows: a made-up phrase ("Unknown") would be worse than none. */
static const char *standard_reason(int status)
{
    static const struct {
        int code;
        const char *text;
    } reasons[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {206, "Partial Content"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {409, "Conflict"},
        {410, "Gone"},
        {412, "Precondition Failed"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {451, "Unavailable For Legal Reasons"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return NULL;
}

/* "Status: <code>[ <reason>]\r\n", with the given reason when not empty,
 * else the standard one when fill_reason, else none. */
static void append_status(cc_buf *out, const cc_head *h, int fill_reason)
{
    const char *reason = h->reason;
    size_t reason_len = h->reason_len;
    if (reason_len == 0 && fill_reason && (reason = standard_reason(h->status)) != NULL)
        reason_len = strlen(reason);
    if (reason_len > 0)
        cc_buf_appendf(out, "Status: %d %.*s\r\n", h->status, (int)reason_len, reason);
    else
        cc_buf_appendf(out, "Status: %d\r\n", h->status);
}

void cc_header_append(cc_buf *out, const cc_header *h)
{
    cc_buf_append(out, h->name, h->name_len);
    cc_buf_append(out, ": ", 2);
    cc_buf_append(out, h->value, h->value_len);
    cc_buf_append(out, "\r\n", 2);
}

int cc_stored_line(const char **p, const char *end, cc_line *line)
{
    if (*p >= end)
        return 0;
    const char *s = *p, *c = s;
    while (c < end && *c != ':' && *c != '\n')
        c++;
    int named = c < end && *c == ':';
    const char *eol = named ? memchr(c, '\n', (size_t)(end - c)) : (c < end ? c : NULL);
    const char *next = eol != NULL ? eol + 1 : end;
    const char *v = named ? c + 1 : next, *ve = next;
    while (v < ve && is_blank(*v))
        v++;
    while (ve > v && (ve[-1] == '\n' || ve[-1] == '\r' || is_blank(ve[-1])))
        ve--;
    line->start = s;
    line->len = (size_t)(next - s);
    line->name = s;
    line->name_len = named ? (size_t)(c - s) : 0;
    line->value = v;
    line->value_len = (size_t)(ve - v);
    *p = next;
    return 1;
}

int cc_line_is(const cc_line *line, const char *name)
{
    return name_is(line->name, line->name_len, name);
}

const char *cc_stored_field(const char *head, size_t len, const char *name, int only,
                            size_t *value_len)
{
    const char *found = NULL, *p = head;
    cc_line line;
    while (cc_stored_line(&p, head + len, &line)) {
        if (!cc_line_is(&line, name))
            continue;
        if (found != NULL)
            return NULL;        /* several: none when only one may count */
        found = line.value;
        *value_len = line.value_len;
        if (!only)
            break;
    }
    return found;
}

void cc_head_store_form(cc_buf *out, const cc_head *h, const char *tags_header)
{
    /* Always a Status line, so a replayed hit never depends on a server
     * inferring the status (a Location alone means 302 to one server and
     * an internal redirect to another). */
    append_status(out, h, 1);
    for (size_t i = 0; i < h->nheaders; i++)
        if (!cc_header_is_unstored(h->headers[i].name, h->headers[i].name_len, tags_header))
            cc_header_append(out, &h->headers[i]);
}

void cc_head_inject(cc_buf *out, const cc_head *h, const char *drop, const char *extra,
                    size_t extra_len)
{
    /* The parsed head no longer says whether the app wrote a Status line;
     * one is written whenever it carries something the server would not
     * infer from the other lines (a "Status: 200" beside a Location must
     * survive, or the response would become a redirect). */
    if (h->reason_len > 0 || h->status != implied_status(h))
        append_status(out, h, 0);
    for (size_t i = 0; i < h->nheaders; i++) {
        const cc_header *hd = &h->headers[i];
        if ((drop == NULL || drop[0] == '\0' || !name_is(hd->name, hd->name_len, drop)) &&
            !cc_header_is_app_purge(hd->name, hd->name_len))
            cc_header_append(out, hd);
    }
    cc_buf_append(out, extra, extra_len);
    cc_buf_append(out, "\r\n", 2);
}
