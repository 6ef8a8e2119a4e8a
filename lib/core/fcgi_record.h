/* fcgi_record.h -- FastCGI records, read and written, without any I/O.
 *
 * The wire adapter (lib/adapters/wire.c) sees a FastCGI connection as the
 * bytes an app reads and writes, in pieces of any size: a record may
 * arrive a byte at a time, and one write may hold many records.  This
 * file is what it knows of the protocol (FastCGI 1.0, section 3):
 *   - a stream follows records through pieces and reports their parts,
 *     so a caller can pass records on, re-frame one kind, or just keep
 *     count of where a request ends;
 *   - a look at the bytes a connection holds (a MSG_PEEK of them) says
 *     whether they begin with a whole request, and where its parts are;
 *   - a request's params become an environment (NAME=value strings),
 *     refused when an app could read them another way;
 *   - a response is framed as STDOUT records and an END_REQUEST. */
#ifndef CGICACHE_FCGI_RECORD_H
#define CGICACHE_FCGI_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define CC_FCGI_HEADER_LEN ((size_t)8)
#define CC_FCGI_MAX_CONTENT ((size_t)65535)

enum {
    CC_FCGI_BEGIN_REQUEST = 1,
    CC_FCGI_ABORT_REQUEST = 2,
    CC_FCGI_END_REQUEST = 3,
    CC_FCGI_PARAMS = 4,
    CC_FCGI_STDIN = 5,
    CC_FCGI_STDOUT = 6,
    CC_FCGI_STDERR = 7,
    CC_FCGI_DATA = 8,
    CC_FCGI_GET_VALUES = 9,
    CC_FCGI_GET_VALUES_RESULT = 10,
    CC_FCGI_UNKNOWN_TYPE = 11,
};

#define CC_FCGI_RESPONDER 1
#define CC_FCGI_KEEP_CONN 1
#define CC_FCGI_REQUEST_COMPLETE 0

typedef struct cc_fcgi_header {
    uint8_t type;
    uint16_t id;
    uint16_t content_len;
    uint8_t padding_len;
} cc_fcgi_header;

/* Reads a record header; false unless it is version 1 with a type the
 * protocol defines (1..11). */
bool cc_fcgi_header_parse(const uint8_t p[CC_FCGI_HEADER_LEN], cc_fcgi_header *h);

/* A record stream, fed in pieces. */
typedef struct cc_fcgi_stream {
    uint8_t raw[CC_FCGI_HEADER_LEN];   /* the current header as it came */
    uint8_t raw_len;                   /* bytes of it so far */
    cc_fcgi_header h;                  /* the current record, once raw is whole */
    uint32_t content_left, padding_left;
    uint8_t body[8];                   /* its first 8 content bytes (BEGIN_REQUEST,
                                        * END_REQUEST and ABORT bodies) */
    uint8_t body_len;
    bool broken;                       /* a header was not FastCGI's: the rest is
                                        * not parsed */
} cc_fcgi_stream;

/* What a stream reports, each optional.  header: a header is whole (and
 * valid); content and padding: the record's bytes as they come; end: the
 * record is whole, content and padding (body holds its first 8 bytes). */
typedef struct cc_fcgi_events {
    void (*header)(void *ctx, const cc_fcgi_stream *s);
    void (*content)(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n);
    void (*padding)(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n);
    void (*end)(void *ctx, const cc_fcgi_stream *s);
} cc_fcgi_events;

/* Feeds n bytes to s.  Returns how many were taken: n, or, when a header
 * turns out not to be FastCGI's, the bytes up to and including it (its
 * bytes are in s->raw); s is then broken and takes nothing more. */
size_t cc_fcgi_feed(cc_fcgi_stream *s, const uint8_t *p, size_t n, const cc_fcgi_events *ev,
                    void *ctx);

/* True between records. */
bool cc_fcgi_at_boundary(const cc_fcgi_stream *s);

/* ---- a look at what a connection holds ---------------------------------- */

typedef enum {
    CC_FCGI_LOOK_MORE,        /* a request may follow: wait for more bytes */
    CC_FCGI_LOOK_REQUEST,     /* a request's head is whole (see the view) */
    CC_FCGI_LOOK_OTHER,       /* something else comes first: the app reads it */
    CC_FCGI_LOOK_NOT_FASTCGI, /* not a FastCGI stream */
} cc_fcgi_look;

typedef struct cc_fcgi_request_view {
    size_t skip;              /* bytes before its BEGIN_REQUEST: the rest of the
                               * previous request (records with prev_id) */
    bool begun;               /* a BEGIN_REQUEST is there, whole or not (MORE:
                               * a request's head is on its way) */
    uint16_t id, role;
    bool keep;                /* FCGI_KEEP_CONN */
    size_t params_at;         /* offset of its first PARAMS record */
    size_t params_end;        /* offset past its empty PARAMS record */
    size_t params_len;        /* params content bytes, all records */
    size_t end;               /* offset past its empty STDIN record when that
                               * directly follows, else 0 */
} cc_fcgi_request_view;

/* Looks at n bytes a connection holds, read from where stream at is now
 * (a copy of the stream that follows what the app has read; not
 * changed).  prev_id is the id of the request before, whose leftovers may
 * come first (0: none).  On CC_FCGI_LOOK_REQUEST, *v describes the
 * request; the bytes of its head, v->params_end of them, are all in p. */
cc_fcgi_look cc_fcgi_look_at(const cc_fcgi_stream *at, uint16_t prev_id, const uint8_t *p, size_t n,
                             cc_fcgi_request_view *v);

/* The request's params as an environment: one allocation holding a NULL-
 * terminated array of "NAME=value" strings, into *envp (free(*envp)).
 * Returns 0, or -1 when the params are malformed, when a name is empty
 * or holds '=' or NUL, or a value holds NUL (an app reading lengths would
 * see more than a C string shows), or memory ran out. */
int cc_fcgi_params_env(const uint8_t *p, const cc_fcgi_request_view *v, char ***envp);

/* ---- writing ----------------------------------------------------------------- */

/* Appends data as records of type for request id (none when len is 0). */
void cc_fcgi_frame(cc_buf *out, uint8_t type, uint16_t id, const void *data, size_t len);

/* Appends one record of type with no content (the end of a stream). */
void cc_fcgi_frame_empty(cc_buf *out, uint8_t type, uint16_t id);

/* Appends an END_REQUEST record. */
void cc_fcgi_frame_end(cc_buf *out, uint16_t id, uint32_t app_status, uint8_t protocol_status);

#endif
