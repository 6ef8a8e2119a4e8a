/* json.c -- the one JSON writer of the cgicache tool.
 *
 * Every --json output goes through here, because what the tool prints
 * comes from anywhere: URLs, paths, header values and stored heads from
 * clients and apps, variable names and values from the environment,
 * program paths from the command line.  Each may hold a quote, a
 * backslash, control bytes or bytes that are not UTF-8, and a document
 * built with printf breaks on the first of them.  So strings are written
 * per RFC 8259: '"' and '\' escaped, bytes below 0x20 and DEL as \u00XX,
 * valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF) as it is, and each byte that does not begin a valid sequence
 * as \ufffd (U+REPLACEMENT CHARACTER): the output is valid UTF-8 JSON
 * whatever the input, and the same input always gives the same output.
 * The writer keeps the nesting and puts the separators (", " and ": ") so
 * call sites cannot misplace a comma; a call out of order (a value with
 * no key in an object, an end that does not match) is noted and makes
 * json_end fail rather than print a document that is not JSON. */
#include "json.h"

#include <math.h>
#include <string.h>

void json_begin(json_writer *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
}

/* What goes before any value: a separator in an array, nothing after a
 * key; a value where none may go is misuse. */
static bool value_starts(json_writer *j)
{
    if (j->misuse)
        return false;
    if (j->depth == 0) {
        if (j->done)
            j->misuse = true;
        return !j->misuse;
    }
    int d = j->depth - 1;
    if (j->object[d]) {
        if (!j->keyed)
            j->misuse = true;
        j->keyed = false;
        return !j->misuse;
    }
    if (!j->empty[d])
        fputs(", ", j->out);
    j->empty[d] = false;
    return true;
}

/* After a value: the document is complete when it was the top level. */
static void value_ends(json_writer *j)
{
    if (j->depth == 0)
        j->done = true;
}

/* The length of the valid UTF-8 sequence at s, or 0 when s[0] does not
 * begin one (RFC 3629, section 4). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        lo = s[0] == 0xE0 ? 0xA0 : 0x80;      /* not overlong */
        hi = s[0] == 0xED ? 0x9F : 0xBF;      /* not a surrogate */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        lo = s[0] == 0xF0 ? 0x90 : 0x80;      /* not overlong */
        hi = s[0] == 0xF4 ? 0x8F : 0xBF;      /* not above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

static void string_out(FILE *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        /* A run that needs no escape goes out in one write. */
        size_t run = i;
        for (size_t n; run < len && s[run] >= 0x20 && s[run] != '"' && s[run] != '\\' &&
                       s[run] != 0x7F && (n = utf8_len(s + run, len - run)) > 0;)
            run += n;
        fwrite(s + i, 1, run - i, out);
        i = run;
        if (i == len)
            break;
        if (s[i] == '"' || s[i] == '\\')
            fprintf(out, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] == 0x7F)
            fprintf(out, "\\u%04x", s[i]);
        else
            fputs("\\ufffd", out);
        i++;
    }
    fputc('"', out);
}

static void open_container(json_writer *j, bool object)
{
    if (!value_starts(j))
        return;
    if (j->depth == JSON_DEPTH_MAX) {
        j->misuse = true;
        return;
    }
    fputc(object ? '{' : '[', j->out);
    j->object[j->depth] = object;
    j->empty[j->depth] = true;
    j->depth++;
}

static void close_container(json_writer *j, bool object)
{
    if (j->misuse)
        return;
    if (j->depth == 0 || j->object[j->depth - 1] != object || j->keyed) {
        j->misuse = true;
        return;
    }
    fputc(object ? '}' : ']', j->out);
    j->depth--;
    value_ends(j);
}

void json_object_begin(json_writer *j)
{
    open_container(j, true);
}

void json_object_end(json_writer *j)
{
    close_container(j, true);
}

void json_array_begin(json_writer *j)
{
    open_container(j, false);
}

void json_array_end(json_writer *j)
{
    close_container(j, false);
}

void json_key_n(json_writer *j, const char *key, size_t len)
{
    if (j->misuse)
        return;
    int d = j->depth - 1;
    if (d < 0 || !j->object[d] || j->keyed || key == NULL) {
        j->misuse = true;
        return;
    }
    if (!j->empty[d])
        fputs(", ", j->out);
    j->empty[d] = false;
    string_out(j->out, key, len);
    fputs(": ", j->out);
    j->keyed = true;
}

void json_key(json_writer *j, const char *key)
{
    json_key_n(j, key, key != NULL ? strlen(key) : 0);
}

void json_string_n(json_writer *j, const char *s, size_t len)
{
    if (s == NULL) {
        json_null(j);
        return;
    }
    if (!value_starts(j))
        return;
    string_out(j->out, s, len);
    value_ends(j);
}

void json_string(json_writer *j, const char *s)
{
    json_string_n(j, s, s != NULL ? strlen(s) : 0);
}

void json_int(json_writer *j, long long v)
{
    if (!value_starts(j))
        return;
    fprintf(j->out, "%lld", v);
    value_ends(j);
}

void json_uint(json_writer *j, unsigned long long v)
{
    if (!value_starts(j))
        return;
    fprintf(j->out, "%llu", v);
    value_ends(j);
}

void json_fixed(json_writer *j, double v, int decimals)
{
    if (!isfinite(v)) {
        json_null(j);
        return;
    }
    if (!value_starts(j))
        return;
    fprintf(j->out, "%.*f", decimals, v);
    value_ends(j);
}

void json_bool(json_writer *j, bool v)
{
    if (!value_starts(j))
        return;
    fputs(v ? "true" : "false", j->out);
    value_ends(j);
}

void json_null(json_writer *j)
{
    if (!value_starts(j))
        return;
    fputs("null", j->out);
    value_ends(j);
}

int json_end(json_writer *j)
{
    if (j->misuse || !j->done) {
        fprintf(stderr, "cgicache: internal error: the JSON document is %s\n",
                j->misuse ? "misbuilt" : "incomplete");
        fputc('\n', j->out);
        fflush(j->out);
        return -1;
    }
    fputc('\n', j->out);
    if (fflush(j->out) != 0 || ferror(j->out)) {
        fprintf(stderr, "cgicache: cannot write the JSON output\n");
        return -1;
    }
    return 0;
}
