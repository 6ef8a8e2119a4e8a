/* http.h -- the CGI response head: parsing what an app writes, and
 * building the heads cgicache sends.
 *
 * A CGI/FastCGI app answers with header lines ("Name: value", an optional
 * "Status: 404 Not Found"), a blank line, then the body; lines end in CRLF
 * or LF.  The parser is incremental-friendly: it is given the bytes held so
 * far and says whether the head is complete.  It never allocates: header
 * views point into the caller's buffer. */
#ifndef CGICACHE_HTTP_H
#define CGICACHE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define CC_HEAD_MAX (64 * 1024)   /* a longer head is not parsed: pass through */
#define CC_HEADERS_MAX 100

typedef struct cc_header {
    const char *name;
    size_t name_len;
    const char *value;        /* leading and trailing blanks trimmed */
    size_t value_len;
} cc_header;

typedef struct cc_head {
    int status;               /* from Status:, else 302 with Location, else 200 */
    const char *reason;       /* text after the code in Status:, may be empty */
    size_t reason_len;
    size_t nheaders;          /* every line but Status: */
    cc_header headers[CC_HEADERS_MAX];
    size_t head_len;          /* bytes of the head, blank line included */
} cc_head;

typedef enum {
    CC_HEAD_INCOMPLETE = 0,   /* no blank line yet: give me more bytes */
    CC_HEAD_OK = 1,
    CC_HEAD_BAD = -1          /* malformed, too long or too many lines */
} cc_head_result;

cc_head_result cc_head_parse(const char *buf, size_t len, cc_head *out);

/* The first header named name (case-insensitive), or NULL. */
const cc_header *cc_head_find(const cc_head *h, const char *name);

/* True when the comma-separated list value has token (case-insensitive),
 * ignoring any "=argument" on list members: ("no-cache, max-age=0", "no-cache"). */
int cc_list_has(const char *value, size_t value_len, const char *token);

/* Delta-seconds saturate here (a century), so seconds * 1000 never overflows. */
#define CC_SECONDS_MAX 3155760000LL

/* Finds "name=<delta-seconds>" in a Cache-Control value; returns 1 and sets
 * *out when present and numeric (at most CC_SECONDS_MAX), else 0. */
int cc_list_seconds(const char *value, size_t value_len, const char *name, int64_t *out);

/* Every "name=<delta-seconds>" member of a list value: 0 when there is
 * none, 1 when all of them are numeric and agree (*out is set), -1 when
 * one is malformed or two disagree. */
int cc_list_seconds_all(const char *value, size_t value_len, const char *name, int64_t *out);

/* The next header named name after prev (NULL: the first), or NULL. */
const cc_header *cc_head_next(const cc_head *h, const cc_header *prev, const char *name);

/* The headers in which an app asks for purges (invalidate.h): never
 * stored, and stripped before the client sees them. */
#define CC_PURGE_TAGS_HEADER "X-Cache-Purge-Tags"
#define CC_PURGE_PREFIX_HEADER "X-Cache-Purge-Prefix"
#define CC_PURGE_SOFT_HEADER "X-Cache-Purge-Soft"
int cc_header_is_app_purge(const char *name, size_t name_len);
int cc_head_has_app_purge(const cc_head *h);

/* Headers a cache must not store or replay: hop-by-hop (Connection,
 * Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*),
 * Set-Cookie, the purge headers, and the extra name given (the tags
 * header), plus Status. */
int cc_header_is_unstored(const char *name, size_t name_len, const char *extra);

/* A growable byte buffer the builders append to. */
typedef struct cc_buf {
    char *data;
    size_t len, cap;
    int failed;               /* an allocation failed: contents unusable */
} cc_buf;

/* Makes room for more bytes; returns 0, or -1 (and the buffer is failed). */
int cc_buf_reserve(cc_buf *b, size_t more);
void cc_buf_append(cc_buf *b, const void *data, size_t len);
void cc_buf_append_str(cc_buf *b, const char *s);
void cc_buf_append_int(cc_buf *b, long long v);
void cc_buf_appendf(cc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cc_buf_free(cc_buf *b);

/* Appends "Name: value\r\n". */
void cc_header_append(cc_buf *out, const cc_header *h);

/* A line of a head in stored form (cc_head_store_form wrote it: "Name:
 * value\r\n" lines, never folded), read where it is, without parsing
 * the whole head: what a hit needs of it costs a scan, not a parse. */
typedef struct cc_line {
    const char *start;        /* the whole line, its CRLF included */
    size_t len;
    const char *name, *value; /* value without the blanks around it */
    size_t name_len, value_len;
} cc_line;

/* Reads the line at *p (before end) and moves *p past it; false at the end. */
int cc_stored_line(const char **p, const char *end, cc_line *line);

/* Whether line is named name (case-insensitive). */
int cc_line_is(const cc_line *line, const char *name);

/* The value of the one line named name in a stored head (value_len set),
 * or NULL when there is none -- or several (first: any one, the first). */
const char *cc_stored_field(const char *head, size_t len, const char *name, int only,
                            size_t *value_len);

/* Appends the head that is stored: "Status: <code> <reason>\r\n" then every
 * header of h that is not unstored (see above), each "Name: value\r\n",
 * without the blank line. */
void cc_head_store_form(cc_buf *out, const cc_head *h, const char *tags_header);

/* Appends the app's own head, every line kept as it was except those
 * named by drop (the tags header; NULL for none) and the purge headers,
 * then extra lines, then the blank line: a streamed miss with its status
 * header injected. */
void cc_head_inject(cc_buf *out, const cc_head *h, const char *drop, const char *extra,
                    size_t extra_len);

#endif
