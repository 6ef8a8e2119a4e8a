/* json.h -- the one JSON writer of the cgicache tool (see json.c).
 *
 * Usage: json_writer j; json_begin(&j, stdout); then values, each value
 * inside an object after a json_key.  The writer puts the commas and
 * colons; json_end finishes the line and says whether a whole, valid
 * document was written. */
#ifndef CGICACHE_TOOL_JSON_H
#define CGICACHE_TOOL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 16

typedef struct json_writer {
    FILE *out;
    int depth;                          /* containers open */
    bool object[JSON_DEPTH_MAX];        /* each an object (else an array) */
    bool empty[JSON_DEPTH_MAX];         /* nothing in it yet */
    bool keyed;                         /* a key was written; its value is next */
    bool done;                          /* the top-level value is complete */
    bool misuse;                        /* calls out of order: a bug in the tool */
} json_writer;

void json_begin(json_writer *j, FILE *out);
/* Ends the document with a newline and flushes; 0, or -1 (with a line on
 * stderr) when the document is incomplete or misbuilt or a write failed. */
int json_end(json_writer *j);

void json_object_begin(json_writer *j);
void json_object_end(json_writer *j);
void json_array_begin(json_writer *j);
void json_array_end(json_writer *j);

/* A member's name, escaped as any string; its value comes next. */
void json_key(json_writer *j, const char *key);
void json_key_n(json_writer *j, const char *key, size_t len);

/* A string from any bytes: NULL is null; see json.c for the escaping. */
void json_string(json_writer *j, const char *s);
void json_string_n(json_writer *j, const char *s, size_t len);
void json_int(json_writer *j, long long v);
void json_uint(json_writer *j, unsigned long long v);
/* A number with that many decimals; NaN and infinities are null. */
void json_fixed(json_writer *j, double v, int decimals);
void json_bool(json_writer *j, bool v);
void json_null(json_writer *j);

#endif
