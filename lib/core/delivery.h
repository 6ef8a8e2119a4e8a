/* delivery.h -- what a stored response gives a request that asks whether
 * it changed, or for part of it (RFC 9110 §13 and §14).
 *
 * A hit is answered from one stored copy, whatever the client asks:
 * If-None-Match / If-Modified-Since may turn it into a 304, a Range into
 * a 206 or a 416, a failed If-Match / If-Unmodified-Since into a 412.
 * cc_delivery_decide reads the request's headers and the stored
 * validators and says which; cc_delivery_head writes the head that goes
 * with it.  Pure functions: the conformance table in the unit tests runs
 * them rule by rule.  Anything malformed is read the safe way: a
 * precondition that cannot be read never yields a 304 or a 206 (the full
 * response goes), an If-Match that cannot be read fails. */
#ifndef CGICACHE_DELIVERY_H
#define CGICACHE_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* What the request asks, as its CGI parameters give it (NULL: absent). */
typedef struct cc_ask {
    const char *if_match;
    const char *if_none_match;
    const char *if_modified_since;
    const char *if_unmodified_since;
    const char *range;
    const char *if_range;
    const char *accept_encoding; /* the codings it takes (encoding.h) */
} cc_ask;

/* Whether the request has a precondition or a Range. */
bool cc_ask_any(const cc_ask *ask);

/* The stored response's status, validators and body length. */
typedef struct cc_validators {
    int status;
    const char *etag;         /* the ETag header's value, NULL when none (or several) */
    size_t etag_len;
    const char *last_modified; /* the same for Last-Modified */
    size_t last_modified_len;
    uint64_t length;          /* the body's length */
} cc_validators;

/* The validators of a head in stored form (head_len bytes, http.h) of a
 * response with status and a body of length. */
void cc_validators_of(const char *head, size_t head_len, int status, uint64_t length,
                      cc_validators *out);

typedef enum {
    CC_SEND_FULL,             /* the stored response as it is */
    CC_SEND_NOT_MODIFIED,     /* 304, no body */
    CC_SEND_PARTIAL,          /* 206, the body's bytes first..last */
    CC_SEND_UNSATISFIABLE,    /* 416, no body */
    CC_SEND_PRECONDITION_FAILED, /* 412, no body */
} cc_send_kind;

typedef struct cc_send {
    cc_send_kind kind;
    uint64_t first, last;     /* CC_SEND_PARTIAL: inclusive */
} cc_send;

/* Decides for a GET (get) or HEAD request at now_ms (Unix ms), in RFC
 * 9110 §13.2.2's order: If-Match, else If-Unmodified-Since; then
 * If-None-Match, else If-Modified-Since; then (GET only, status 200)
 * If-Range and Range.  Preconditions count only for a 2xx response.
 * A Range of several parts gets the full response (allowed). */
void cc_delivery_decide(const cc_ask *ask, const cc_validators *v, bool get, int64_t now_ms,
                        cc_send *out);

/* Appends the head lines (no blank line) of a response of send's kind
 * other than CC_SEND_FULL, made from a head in stored form: a 304 keeps the
 * fields RFC 9110 §15.4.5 names (Cache-Control, Content-Location, Date,
 * ETag, Expires, Vary) and Last-Modified; a 206 keeps every field but
 * Content-Length and gains Content-Range; a 416 and a 412 say only their
 * status, Content-Range (416) and Content-Length: 0. */
void cc_delivery_head(cc_buf *out, const char *head, size_t head_len, const cc_send *send,
                      uint64_t length);

/* A strong entity tag for a body: "\"" + 16 hex digits of its hash +
 * "\"", NUL-terminated in out. */
#define CC_ETAG_AUTO_LEN 18
void cc_etag_of_body(char out[CC_ETAG_AUTO_LEN + 1], const char *body, size_t len);

/* Parses a Range value against a body of length: CC_SEND_PARTIAL (one
 * satisfiable range, *first..*last), CC_SEND_UNSATISFIABLE, or
 * CC_SEND_FULL (not a valid bytes range, or several ranges). */
cc_send_kind cc_range_parse(const char *value, uint64_t length, uint64_t *first, uint64_t *last);

/* Whether a list of entity tags (If-None-Match, If-Match: "*" or
 * 1#entity-tag) matches the stored etag (etag_len bytes; NULL: none),
 * weakly or strongly: "*" always does, a tag that compares equal does.
 * A list that does not parse matches nothing. */
bool cc_etag_list_matches(const char *list, const char *etag, size_t etag_len, bool strong);

#endif
