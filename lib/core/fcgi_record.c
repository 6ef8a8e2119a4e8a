/* fcgi_record.c -- FastCGI records: a stream that follows them through
 * pieces, a look at the head of a request, its params, and framing.
 *
 * Nothing here trusts a length: every one is checked against the bytes
 * that are there, a header must be version 1 with a defined type, and a
 * look at a connection's bytes says "more" rather than guess past them. */
#include "fcgi_record.h"

#include <stdlib.h>
#include <string.h>

bool cc_fcgi_header_parse(const uint8_t p[CC_FCGI_HEADER_LEN], cc_fcgi_header *h)
{
    *h = (cc_fcgi_header){0};
    if (p[0] != 1 || p[1] < CC_FCGI_BEGIN_REQUEST || p[1] > CC_FCGI_UNKNOWN_TYPE)
        return false;
    h->type = p[1];
    h->id = (uint16_t)(p[2] << 8 | p[3]);
    h->content_len = (uint16_t)(p[4] << 8 | p[5]);
    h->padding_len = p[6];
    return true;
}

bool cc_fcgi_at_boundary(const cc_fcgi_stream *s)
{
    return s->raw_len == 0 && !s->broken;
}

/* Ends the current record: reported, and the stream is between records. */
static void record_done(cc_fcgi_stream *s, const cc_fcgi_events *ev, void *ctx)
{
    if (ev != NULL && ev->end != NULL)
        ev->end(ctx, s);
    s->raw_len = 0;
    s->body_len = 0;
}

size_t cc_fcgi_feed(cc_fcgi_stream *s, const uint8_t *p, size_t n, const cc_fcgi_events *ev,
                    void *ctx)
{
    size_t off = 0;
    while (off < n && !s->broken) {
        if (s->raw_len < CC_FCGI_HEADER_LEN) {
            size_t take = CC_FCGI_HEADER_LEN - s->raw_len;
            if (take > n - off)
                take = n - off;
            memcpy(s->raw + s->raw_len, p + off, take);
            s->raw_len = (uint8_t)(s->raw_len + take);
            off += take;
            if (s->raw_len < CC_FCGI_HEADER_LEN)
                break;
            if (!cc_fcgi_header_parse(s->raw, &s->h)) {
                s->broken = true;
                break;
            }
            s->content_left = s->h.content_len;
            s->padding_left = s->h.padding_len;
            s->body_len = 0;
            if (ev != NULL && ev->header != NULL)
                ev->header(ctx, s);
            if (s->content_left == 0 && s->padding_left == 0)
                record_done(s, ev, ctx);
            continue;
        }
        if (s->content_left > 0) {
            size_t take = s->content_left < n - off ? s->content_left : n - off;
            if (s->body_len < sizeof s->body) {
                size_t keep = sizeof s->body - s->body_len;
                keep = keep < take ? keep : take;
                memcpy(s->body + s->body_len, p + off, keep);
                s->body_len = (uint8_t)(s->body_len + keep);
            }
            if (ev != NULL && ev->content != NULL)
                ev->content(ctx, s, p + off, take);
            s->content_left -= (uint32_t)take;
            off += take;
        } else {
            size_t take = s->padding_left < n - off ? s->padding_left : n - off;
            if (ev != NULL && ev->padding != NULL)
                ev->padding(ctx, s, p + off, take);
            s->padding_left -= (uint32_t)take;
            off += take;
        }
        if (s->content_left == 0 && s->padding_left == 0)
            record_done(s, ev, ctx);
    }
    return off;
}

/* ---- looking at a connection's bytes ---------------------------------------- */

/* Records a finished request may leave unread: its input streams and an
 * abort the server sent as it ended. */
static bool is_leftover(const cc_fcgi_header *h, uint16_t prev_id)
{
    return prev_id != 0 && h->id == prev_id &&
           (h->type == CC_FCGI_STDIN || h->type == CC_FCGI_DATA || h->type == CC_FCGI_PARAMS ||
            h->type == CC_FCGI_ABORT_REQUEST);
}

/* Feeds at's copy s the rest of the record the app is in the middle of.
 * Returns the bytes it took, or (size_t)-1 when the stream broke. */
static size_t finish_record(cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (!cc_fcgi_at_boundary(s) && off < n && !s->broken) {
        size_t want = s->raw_len < CC_FCGI_HEADER_LEN ? CC_FCGI_HEADER_LEN - s->raw_len
                                                      : s->content_left + s->padding_left;
        off += cc_fcgi_feed(s, p + off, want < n - off ? want : n - off, NULL, NULL);
    }
    return s->broken ? (size_t)-1 : off;
}

/* The header at off, when all its bytes are there. */
static bool header_at(const uint8_t *p, size_t n, size_t off, cc_fcgi_header *h, bool *valid)
{
    if (n - off < CC_FCGI_HEADER_LEN)
        return false;
    *valid = cc_fcgi_header_parse(p + off, h);
    return true;
}

static size_t record_len(const cc_fcgi_header *h)
{
    return CC_FCGI_HEADER_LEN + (size_t)h->content_len + h->padding_len;
}

/* From the BEGIN_REQUEST at v->skip: its params, then its stdin. */
static cc_fcgi_look look_at_request(const uint8_t *p, size_t n, cc_fcgi_request_view *v)
{
    cc_fcgi_header h;
    bool valid;
    size_t off = v->skip;
    header_at(p, n, off, &h, &valid);
    if (n - off < record_len(&h))
        return CC_FCGI_LOOK_MORE;
    const uint8_t *body = p + off + CC_FCGI_HEADER_LEN;
    v->id = h.id;
    v->role = (uint16_t)(body[0] << 8 | body[1]);
    v->keep = (body[2] & CC_FCGI_KEEP_CONN) != 0;
    off += record_len(&h);
    v->params_at = off;
    v->params_len = 0;
    for (;;) {
        if (!header_at(p, n, off, &h, &valid))
            return CC_FCGI_LOOK_MORE;
        if (!valid)
            return CC_FCGI_LOOK_NOT_FASTCGI;
        if (h.type != CC_FCGI_PARAMS || h.id != v->id)
            return CC_FCGI_LOOK_OTHER;    /* an order we do not decide on */
        if (n - off < record_len(&h))
            return CC_FCGI_LOOK_MORE;
        off += record_len(&h);
        if (h.content_len == 0)
            break;
        v->params_len += h.content_len;
    }
    v->params_end = off;
    v->end = 0;
    if (header_at(p, n, off, &h, &valid) && valid && h.type == CC_FCGI_STDIN && h.id == v->id &&
        h.content_len == 0 && n - off >= record_len(&h))
        v->end = off + record_len(&h);
    return CC_FCGI_LOOK_REQUEST;
}

cc_fcgi_look cc_fcgi_look_at(const cc_fcgi_stream *at, uint16_t prev_id, const uint8_t *p, size_t n,
                             cc_fcgi_request_view *v)
{
    memset(v, 0, sizeof *v);
    if (at->broken)
        return CC_FCGI_LOOK_NOT_FASTCGI;
    cc_fcgi_stream s = *at;
    if (!cc_fcgi_at_boundary(&s)) {
        /* The app stopped inside a record: only a leftover may be that. */
        if (s.raw_len == CC_FCGI_HEADER_LEN && !is_leftover(&s.h, prev_id))
            return CC_FCGI_LOOK_OTHER;
        size_t took = finish_record(&s, p, n);
        if (took == (size_t)-1)
            return CC_FCGI_LOOK_NOT_FASTCGI;
        if (!cc_fcgi_at_boundary(&s))
            return CC_FCGI_LOOK_MORE;
        if (!is_leftover(&s.h, prev_id))
            return CC_FCGI_LOOK_OTHER;
        v->skip = took;
    }
    for (;;) {
        cc_fcgi_header h;
        bool valid;
        if (!header_at(p, n, v->skip, &h, &valid))
            return CC_FCGI_LOOK_MORE;
        if (!valid)
            return CC_FCGI_LOOK_NOT_FASTCGI;
        if (is_leftover(&h, prev_id)) {
            if (n - v->skip < record_len(&h))
                return CC_FCGI_LOOK_MORE;
            v->skip += record_len(&h);
            continue;
        }
        if (h.type != CC_FCGI_BEGIN_REQUEST)
            return CC_FCGI_LOOK_OTHER;
        v->begun = true;
        /* A BEGIN_REQUEST is eight bytes to every app; any other is the
         * app's to refuse. */
        if (h.id == 0 || h.content_len != 8)
            return CC_FCGI_LOOK_OTHER;
        return look_at_request(p, n, v);
    }
}

/* ---- params ---------------------------------------------------------------------- */

/* One length of a name-value pair: 1 byte, or 4 with the top bit set. */
static bool read_length(const uint8_t *p, size_t n, size_t *off, size_t *len)
{
    if (*off >= n)
        return false;
    if (p[*off] < 0x80) {
        *len = p[(*off)++];
        return true;
    }
    if (n - *off < 4)
        return false;
    *len = (size_t)(p[*off] & 0x7f) << 24 | (size_t)p[*off + 1] << 16 | (size_t)p[*off + 2] << 8 |
           p[*off + 3];
    *off += 4;
    return true;
}

/* Copies the pairs of content (n bytes) into envp and text, sized for
 * the worst case by the caller.  Returns the number of pairs, or -1 when
 * malformed or when C strings could not say what an app reading lengths
 * sees. */
static long copy_pairs(const uint8_t *c, size_t n, char **envp, char *text)
{
    size_t off = 0;
    long pairs = 0;
    while (off < n) {
        size_t name_len, value_len;
        if (!read_length(c, n, &off, &name_len) || !read_length(c, n, &off, &value_len))
            return -1;
        if (name_len > n - off || value_len > n - off - name_len || name_len == 0)
            return -1;
        const uint8_t *name = c + off, *value = name + name_len;
        if (memchr(name, '=', name_len) != NULL || memchr(name, '\0', name_len) != NULL ||
            memchr(value, '\0', value_len) != NULL)
            return -1;
        memcpy(text, name, name_len);
        text[name_len] = '=';
        memcpy(text + name_len + 1, value, value_len);
        text[name_len + 1 + value_len] = '\0';
        envp[pairs++] = text;
        text += name_len + value_len + 2;
        off += name_len + value_len;
    }
    return pairs;
}

int cc_fcgi_params_env(const uint8_t *p, const cc_fcgi_request_view *v, char ***envp)
{
    *envp = NULL;
    /* Pairs may straddle records: content in several is joined first
     * (nginx sends it in one, read in place). */
    cc_fcgi_header first;
    cc_fcgi_header_parse(p + v->params_at, &first);
    const uint8_t *content = p + v->params_at + CC_FCGI_HEADER_LEN;
    uint8_t *joined = NULL;
    if (first.content_len != v->params_len) {
        joined = malloc(v->params_len > 0 ? v->params_len : 1);
        if (joined == NULL)
            return -1;
        size_t len = 0;
        for (size_t off = v->params_at; off < v->params_end && len < v->params_len;) {
            cc_fcgi_header h;
            cc_fcgi_header_parse(p + off, &h);
            if (h.content_len > v->params_len - len)
                break;
            memcpy(joined + len, p + off + CC_FCGI_HEADER_LEN, h.content_len);
            len += h.content_len;
            off += record_len(&h);
        }
        if (len != v->params_len) {   /* a view the records do not match */
            free(joined);
            return -1;
        }
        content = joined;
    }
    /* A pair takes at least two bytes of content and gives at most two
     * more of text ('=' and NUL): one allocation holds the worst case. */
    size_t max_pairs = v->params_len / 2;
    char **block = malloc((max_pairs + 1) * sizeof(char *) + v->params_len + 2 * max_pairs + 1);
    long pairs = block != NULL
                     ? copy_pairs(content, v->params_len, block, (char *)(block + max_pairs + 1))
                     : -1;
    free(joined);
    if (pairs < 0) {
        free(block);
        return -1;
    }
    block[pairs] = NULL;
    *envp = block;
    return 0;
}

/* ---- framing ------------------------------------------------------------------------ */

static void header(cc_buf *out, uint8_t type, uint16_t id, size_t len)
{
    const uint8_t h[CC_FCGI_HEADER_LEN] =
        {1, type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(len >> 8), (uint8_t)len, 0, 0};
    cc_buf_append(out, h, sizeof h);
}

void cc_fcgi_frame(cc_buf *out, uint8_t type, uint16_t id, const void *data, size_t len)
{
    const char *d = data;
    cc_buf_reserve(out, len + (len / CC_FCGI_MAX_CONTENT + 1) * CC_FCGI_HEADER_LEN);
    while (len > 0) {
        size_t chunk = len < CC_FCGI_MAX_CONTENT ? len : CC_FCGI_MAX_CONTENT;
        header(out, type, id, chunk);
        cc_buf_append(out, d, chunk);
        d += chunk;
        len -= chunk;
    }
}

void cc_fcgi_frame_empty(cc_buf *out, uint8_t type, uint16_t id)
{
    header(out, type, id, 0);
}

void cc_fcgi_frame_end(cc_buf *out, uint16_t id, uint32_t app_status, uint8_t protocol_status)
{
    const uint8_t body[8] = {(uint8_t)(app_status >> 24),
                             (uint8_t)(app_status >> 16),
                             (uint8_t)(app_status >> 8),
                             (uint8_t)app_status,
                             protocol_status,
                             0,
                             0,
                             0};
    header(out, CC_FCGI_END_REQUEST, id, sizeof body);
    cc_buf_append(out, body, sizeof body);
}
