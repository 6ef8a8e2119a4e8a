/* hit.h -- the response one stored entry gives one request.
 *
 * What a client gets from the cache depends on what it asks: the stored
 * head and body, or a 304, 206, 416 or 412 made from them (delivery.h),
 * in the coding it accepts (encoding.h): the stored zstd frame as it is,
 * the stored gzip, or identity.  Pure: the engine gives the entry and
 * the request, and sends what comes out. */
#ifndef CGICACHE_HIT_H
#define CGICACHE_HIT_H

#include <stdbool.h>
#include <stdint.h>

#include "delivery.h"
#include "entry.h"
#include "http.h"

typedef struct cc_hit_request {
    const cc_ask *ask;        /* preconditions, range, Accept-Encoding */
    bool get;                 /* GET; else HEAD: no body */
    const char *status_header; /* the status header's name ("" for none) */
    const char *status;       /* its value: HIT, STALE */
    const char *detail;       /* Cache-Status after "hit; ttl=N" */
} cc_hit_request;

/* Whether e may answer a client with this Accept-Encoding at all: a body
 * the app encoded itself goes only to a client that accepts its coding. */
bool cc_hit_acceptable(const cc_entry *e, const char *accept_encoding);

/* Appends the whole response e gives rq at now_ms (Unix ms). */
void cc_hit_build(cc_buf *out, const cc_hit_request *rq, const cc_entry *e, int64_t now_ms);

/* Appends "Name: value\r\n" for the status header, unless name is "". */
void cc_status_line(cc_buf *out, const char *name, const char *value);

#endif
