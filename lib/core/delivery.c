/* delivery.c -- 304, 206, 416 and 412 from a stored response.
 *
 * RFC 9110 §13 (conditional requests) and §14 (ranges), read for a cache
 * that holds one whole 200 and answers from it.  Every parser here reads
 * text a client wrote, so each one is strict and total: it reads the
 * whole value or gives up, and giving up always falls on the side that
 * sends the full response (never a 304 or a 206 it is not sure of). */
#include "delivery.h"

#include <string.h>
#include <strings.h>

#include "entry.h"
#include "policy.h"

bool cc_ask_any(const cc_ask *a)
{
    return a->if_match != NULL || a->if_none_match != NULL || a->if_modified_since != NULL ||
           a->if_unmodified_since != NULL || a->range != NULL || a->if_range != NULL;
}

void cc_validators_of(const char *head, size_t head_len, int status, uint64_t length,
                      cc_validators *out)
{
    out->status = status;
    out->length = length;
    out->etag = out->last_modified = NULL;
    out->etag_len = out->last_modified_len = 0;
    int etags = 0, dates = 0;
    const char *p = head;
    cc_line line;
    while (cc_stored_line(&p, head + head_len, &line)) {
        if (line.name_len == 4 && cc_line_is(&line, "ETag") && etags++ == 0) {
            out->etag = line.value;
            out->etag_len = line.value_len;
        } else if (line.name_len == 13 && cc_line_is(&line, "Last-Modified") && dates++ == 0) {
            out->last_modified = line.value;
            out->last_modified_len = line.value_len;
        }
    }
    /* Two validators would be two answers to "did it change": none. */
    if (etags > 1)
        out->etag = NULL, out->etag_len = 0;
    if (dates > 1)
        out->last_modified = NULL, out->last_modified_len = 0;
}

/* ---- entity tags ------------------------------------------------------------ */

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

typedef struct tag {
    bool weak;
    const char *opaque;       /* from its opening quote to its closing one */
    size_t len;
} tag;

/* Reads an entity-tag ([W/] DQUOTE *etagc DQUOTE) at *p; advances *p. */
static bool take_tag(const char **p, const char *end, tag *t)
{
    const char *s = *p;
    t->weak = end - s >= 2 && s[0] == 'W' && s[1] == '/';
    if (t->weak)
        s += 2;
    if (s >= end || *s != '"')
        return false;
    const char *open = s++;
    for (; s < end && *s != '"'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x21 || c == 0x7f)   /* etagc: %x21 / %x23-7E / obs-text */
            return false;
    }
    if (s >= end)
        return false;
    t->opaque = open;
    t->len = (size_t)(++s - open);
    *p = s;
    return true;
}

/* The stored ETag as a tag: the whole value, one tag. */
static bool stored_tag(const char *etag, size_t len, tag *t)
{
    const char *p = etag;
    return etag != NULL && take_tag(&p, etag + len, t) && p == etag + len;
}

bool cc_etag_list_matches(const char *list, const char *etag, size_t etag_len, bool strong)
{
    const char *end = list + strlen(list), *p = skip_ows(list, end);
    if (p < end && *p == '*')   /* any current representation: the stored one */
        return skip_ows(p + 1, end) == end;
    tag mine;
    if (!stored_tag(etag, etag_len, &mine) || (strong && mine.weak))
        return false;
    bool matched = false, any = false;
    while ((p = skip_ows(p, end)) < end) {
        tag t;
        if (*p == ',') {        /* empty list elements are allowed */
            p++;
            continue;
        }
        if (!take_tag(&p, end, &t))
            return false;
        any = true;
        matched |= t.len == mine.len && memcmp(t.opaque, mine.opaque, t.len) == 0 &&
                   !(strong && t.weak);
        p = skip_ows(p, end);
        if (p < end && *p != ',')
            return false;
    }
    return any && matched;
}

void cc_etag_of_body(char out[CC_ETAG_AUTO_LEN + 1], const char *body, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = cc_entry_hash(body, len);
    out[0] = '"';
    for (int i = 0; i < 16; i++)
        out[1 + i] = hex[(h >> (60 - 4 * i)) & 0xf];
    out[17] = '"';
    out[18] = '\0';
}

/* ---- dates ------------------------------------------------------------------ */

static bool date_of(const char *text, size_t len, int64_t *ms)
{
    return text != NULL && cc_parse_http_date(text, len, ms) == 0;
}

static bool request_date(const char *text, int64_t *ms)
{
    return text != NULL && date_of(text, strlen(text), ms);
}

/* ---- ranges ----------------------------------------------------------------- */

#define POS_MAX ((uint64_t)1 << 62)   /* larger positions saturate here */

static bool take_number(const char **p, const char *end, uint64_t *n)
{
    const char *s = *p;
    *n = 0;
    for (; s < end && *s >= '0' && *s <= '9'; s++)
        *n = *n >= POS_MAX / 10 ? POS_MAX : *n * 10 + (uint64_t)(*s - '0');
    if (s == *p)
        return false;
    *p = s;
    return true;
}

typedef struct spec {
    bool suffix;              /* "-N": the last N bytes */
    bool open;                /* "F-": from F to the end */
    uint64_t first, last;     /* suffix: last is N */
} spec;

static bool take_spec(const char **p, const char *end, spec *sp)
{
    memset(sp, 0, sizeof *sp);
    if (*p < end && **p == '-') {
        (*p)++;
        sp->suffix = true;
        return take_number(p, end, &sp->last);
    }
    if (!take_number(p, end, &sp->first) || *p >= end || **p != '-')
        return false;
    (*p)++;
    sp->open = !take_number(p, end, &sp->last);
    return sp->open || sp->last >= sp->first;   /* last < first: invalid */
}

cc_send_kind cc_range_parse(const char *value, uint64_t length, uint64_t *first, uint64_t *last)
{
    const char *end = value + strlen(value), *p = skip_ows(value, end);
    if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return CC_SEND_FULL;    /* another unit, or not a range: ignored */
    p += 6;
    spec one = {0}, sp;
    size_t count = 0;
    while ((p = skip_ows(p, end)) < end) {
        if (*p == ',') {
            p++;
            continue;
        }
        if (!take_spec(&p, end, &sp))
            return CC_SEND_FULL;
        if (count++ == 0)
            one = sp;
        p = skip_ows(p, end);
        if (p < end && *p != ',')
            return CC_SEND_FULL;
    }
    if (count != 1)
        return CC_SEND_FULL;    /* none, or several: the whole body */
    if (one.suffix) {
        if (one.last == 0 || length == 0)
            return CC_SEND_UNSATISFIABLE;
        *first = one.last >= length ? 0 : length - one.last;
        *last = length - 1;
        return CC_SEND_PARTIAL;
    }
    if (one.first >= length)
        return CC_SEND_UNSATISFIABLE;
    *first = one.first;
    *last = one.open || one.last >= length ? length - 1 : one.last;
    return CC_SEND_PARTIAL;
}

/* If-Range: the range is sent only when the validator is the stored
 * one, compared strongly (an entity tag; a weak one never matches) or as
 * the exact Last-Modified date. */
static bool if_range_holds(const char *value, const cc_validators *v)
{
    const char *end = value + strlen(value), *p = skip_ows(value, end);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (p < end && (*p == '"' || *p == 'W')) {
        tag theirs, mine;
        return take_tag(&p, end, &theirs) && p == end && !theirs.weak &&
               stored_tag(v->etag, v->etag_len, &mine) && !mine.weak && theirs.len == mine.len &&
               memcmp(theirs.opaque, mine.opaque, mine.len) == 0;
    }
    int64_t theirs_ms, mine_ms;
    return date_of(p, (size_t)(end - p), &theirs_ms) &&
           date_of(v->last_modified, v->last_modified_len, &mine_ms) && theirs_ms == mine_ms;
}

/* ---- the decision ----------------------------------------------------------- */

/* Whether the representation was modified after the date text says
 * (false when either date is missing or unreadable). */
static bool modified_since(const cc_validators *v, const char *text, int64_t now_ms, bool *known)
{
    int64_t since, modified;
    *known = request_date(text, &since) && since <= now_ms &&
             date_of(v->last_modified, v->last_modified_len, &modified);
    return *known && modified > since;
}

void cc_delivery_decide(const cc_ask *ask, const cc_validators *v, bool get, int64_t now_ms,
                        cc_send *out)
{
    bool known;
    out->kind = CC_SEND_FULL;
    out->first = out->last = 0;
    if (v->status < 200 || v->status > 299)
        return;                 /* preconditions count only for a 2xx */
    if (ask->if_match != NULL) {
        if (!cc_etag_list_matches(ask->if_match, v->etag, v->etag_len, true)) {
            out->kind = CC_SEND_PRECONDITION_FAILED;
            return;
        }
    } else if (ask->if_unmodified_since != NULL &&
               modified_since(v, ask->if_unmodified_since, INT64_MAX, &known)) {
        out->kind = CC_SEND_PRECONDITION_FAILED;
        return;
    }
    if (ask->if_none_match != NULL) {
        if (cc_etag_list_matches(ask->if_none_match, v->etag, v->etag_len, false)) {
            out->kind = CC_SEND_NOT_MODIFIED;
            return;
        }
    } else if (ask->if_modified_since != NULL &&
               !modified_since(v, ask->if_modified_since, now_ms, &known) && known) {
        out->kind = CC_SEND_NOT_MODIFIED;
        return;
    }
    if (!get || v->status != 200 || ask->range == NULL ||
        (ask->if_range != NULL && !if_range_holds(ask->if_range, v)))
        return;
    out->kind = cc_range_parse(ask->range, v->length, &out->first, &out->last);
}

/* ---- heads ------------------------------------------------------------------ */

#define FIELD(name)           \
    {                         \
        name, sizeof name - 1 \
    }
static const struct {
    const char *name;
    size_t len;
} not_modified_keeps[] = {
    FIELD("Cache-Control"), FIELD("Content-Location"), FIELD("Date"),
    FIELD("ETag"),          FIELD("Expires"),          FIELD("Vary"),
    FIELD("Last-Modified"),
};

static bool kept_in_304(const cc_line *line)
{
    for (size_t i = 0; i < sizeof not_modified_keeps / sizeof not_modified_keeps[0]; i++)
        if (line->name_len == not_modified_keeps[i].len &&
            strncasecmp(line->name, not_modified_keeps[i].name, line->name_len) == 0)
            return true;
    return false;
}

static void append_u64(cc_buf *out, uint64_t n)
{
    cc_buf_append_int(out, (long long)n);
}

/* Whether a line of the stored head goes into a 206: all but its status
 * and what the part changes. */
static bool kept_in_206(const cc_line *line)
{
    return !cc_line_is(line, "Status") && !cc_line_is(line, "Content-Length") &&
           !cc_line_is(line, "Content-Range");
}

void cc_delivery_head(cc_buf *out, const char *head, size_t head_len, const cc_send *send,
                      uint64_t length)
{
    const char *p = head, *end = head + head_len;
    cc_line line;
    switch (send->kind) {
    case CC_SEND_FULL:
        break;
    case CC_SEND_NOT_MODIFIED:
        cc_buf_append_str(out, "Status: 304 Not Modified\r\n");
        while (cc_stored_line(&p, end, &line))
            if (kept_in_304(&line))
                cc_buf_append(out, line.start, line.len);
        break;
    case CC_SEND_PARTIAL:
        cc_buf_append_str(out, "Status: 206 Partial Content\r\n");
        while (cc_stored_line(&p, end, &line))
            if (kept_in_206(&line))
                cc_buf_append(out, line.start, line.len);
        cc_buf_append_str(out, "Content-Range: bytes ");
        append_u64(out, send->first);
        cc_buf_append(out, "-", 1);
        append_u64(out, send->last);
        cc_buf_append(out, "/", 1);
        append_u64(out, length);
        cc_buf_append_str(out, "\r\nContent-Length: ");
        append_u64(out, send->last - send->first + 1);
        cc_buf_append(out, "\r\n", 2);
        break;
    case CC_SEND_UNSATISFIABLE:
        cc_buf_append_str(out, "Status: 416 Range Not Satisfiable\r\nContent-Range: bytes */");
        append_u64(out, length);
        cc_buf_append_str(out, "\r\nContent-Length: 0\r\n");
        break;
    case CC_SEND_PRECONDITION_FAILED:
        cc_buf_append_str(out, "Status: 412 Precondition Failed\r\nContent-Length: 0\r\n");
        break;
    }
}
