/* hit.c -- the response one stored entry gives one request (hit.h).
 *
 * An entry whose body is stored as a zstd frame has three variants: that
 * frame (Content-Encoding: zstd), the body gzipped (made once, stored
 * with it: entry.h), and the body itself.
 * Each goes with Vary: Accept-Encoding and its own ETag, so that no cache
 * downstream, and no conditional request, mixes them.  A Range is served
 * from the identity body only (its bytes are the body's).  An entry the
 * app encoded itself, or one written before its coding was recorded, is
 * sent as it is. */
#include "hit.h"

#include <string.h>
#include <strings.h>

#include "encoding.h"

void cc_status_line(cc_buf *out, const char *name, const char *value)
{
    if (name[0] == '\0')
        return;
    cc_buf_append_str(out, name);
    cc_buf_append(out, ": ", 2);
    cc_buf_append_str(out, value);
    cc_buf_append(out, "\r\n", 2);
}

bool cc_hit_acceptable(const cc_entry *e, const char *accept_encoding)
{
    if (!(e->flags & CC_ENTRY_APP_ENCODED))
        return true;
    /* Every coding of every Content-Encoding line must be acceptable. */
    const char *p = e->head, *end = e->head + e->head_len;
    cc_line line;
    while (cc_stored_line(&p, end, &line)) {
        if (!cc_line_is(&line, "Content-Encoding"))
            continue;
        for (const char *c = line.value, *vend = line.value + line.value_len; c < vend;) {
            const char *comma = memchr(c, ',', (size_t)(vend - c));
            const char *item_end = comma != NULL ? comma : vend;
            while (c < item_end && (*c == ' ' || *c == '\t'))
                c++;
            const char *ie = item_end;
            while (ie > c && (ie[-1] == ' ' || ie[-1] == '\t'))
                ie--;
            if (ie > c && !cc_accept_has(accept_encoding, c, (size_t)(ie - c)))
                return false;
            c = item_end + 1;
        }
    }
    return true;
}

/* The variant of e this request gets. */
typedef struct variant {
    cc_coding coding;
    bool negotiated;          /* e has variants: Vary: Accept-Encoding */
    const char *head, *body;
    size_t head_len, body_len;
    cc_buf head_buf;
} variant;

/* Writes v's head: e's, with a Vary line added and, for an encoded
 * variant, Content-Encoding, its Content-Length and its ETag. */
static void variant_head(variant *v, const cc_entry *e)
{
    cc_buf *h = &v->head_buf;
    size_t etag_len = 0;
    const char *etag = cc_stored_field(e->head, e->head_len, "ETag", 0, &etag_len);
    const char *p = e->head, *end = e->head + e->head_len;
    cc_line line;
    while (cc_stored_line(&p, end, &line))
        if (v->coding == CC_CODING_IDENTITY ||
            !(cc_line_is(&line, "Content-Length") || cc_line_is(&line, "ETag")))
            cc_buf_append(h, line.start, line.len);
    cc_buf_append_str(h, "Vary: Accept-Encoding\r\n");
    if (v->coding != CC_CODING_IDENTITY) {
        cc_buf_append_str(h, "Content-Encoding: ");
        cc_buf_append_str(h, cc_coding_name(v->coding));
        cc_buf_append_str(h, "\r\nContent-Length: ");
        cc_buf_append_int(h, (long long)v->body_len);
        cc_buf_append(h, "\r\n", 2);
        if (etag != NULL) {
            cc_buf_append_str(h, "ETag: ");
            cc_etag_of_variant(h, etag, etag_len, v->coding);
            cc_buf_append(h, "\r\n", 2);
        }
    }
}

static void pick_variant(variant *v, const cc_hit_request *rq, const cc_entry *e)
{
    memset(v, 0, sizeof *v);
    v->head = e->head;
    v->head_len = e->head_len;
    v->body = e->body;
    v->body_len = e->body_len;
    /* Variants exist for a body stored compressed that the app did not
     * encode itself. */
    v->negotiated = (e->flags & CC_ENTRY_COMPRESSED) &&
                    !(e->flags & (CC_ENTRY_APP_ENCODED | CC_ENTRY_CODING_UNKNOWN));
    if (!v->negotiated)
        return;
    if (rq->ask->range == NULL) {
        unsigned offer = e->gzip_len > 0 ? CC_OFFER(CC_CODING_GZIP) : 0;
        if (cc_entry_frame_for_clients(e))
            offer |= CC_OFFER(CC_CODING_ZSTD);
        v->coding = cc_accept_pick(rq->ask->accept_encoding, offer);
    }
    if (v->coding == CC_CODING_ZSTD) {
        v->body = e->stored_body;
        v->body_len = e->stored_body_len;
    } else if (v->coding == CC_CODING_GZIP) {
        v->body = e->gzip;
        v->body_len = e->gzip_len;
    }
    variant_head(v, e);
    if (!v->head_buf.failed) {
        v->head = v->head_buf.data;
        v->head_len = v->head_buf.len;
    } else {
        /* No memory for the head: the stored response, as it is. */
        v->coding = CC_CODING_IDENTITY;
        v->body = e->body;
        v->body_len = e->body_len;
    }
}

/* For a request with preconditions or a Range: appends the head of a
 * 304, 206, 416 or 412 made from v (send->kind says which), or nothing. */
static void delivery_head(cc_buf *out, const cc_hit_request *rq, const cc_entry *e,
                          const variant *v, int64_t now, cc_send *send)
{
    cc_validators val;
    cc_validators_of(v->head, v->head_len, e->status, v->body_len, &val);
    cc_delivery_decide(rq->ask, &val, rq->get, now, send);
    cc_delivery_head(out, v->head, v->head_len, send, v->body_len);
}

void cc_hit_build(cc_buf *out, const cc_hit_request *rq, const cc_entry *e, int64_t now)
{
    int64_t age = (now - e->stored_at_ms) / 1000;
    int64_t left = e->stored_at_ms + e->ttl_ms - now;
    left = left >= 0 ? left / 1000 : -((-left + 999) / 1000);
    variant v;
    pick_variant(&v, rq, e);
    /* One allocation: the head, the lines added here, the body. */
    cc_buf_reserve(out, v.head_len + 256 + strlen(rq->status_header) + strlen(rq->detail) +
                            (rq->get ? v.body_len : 0));
    cc_send send = {CC_SEND_FULL, 0, 0};
    if (cc_ask_any(rq->ask))
        delivery_head(out, rq, e, &v, now, &send);
    if (send.kind == CC_SEND_FULL)
        cc_buf_append(out, v.head, v.head_len);
    cc_status_line(out, rq->status_header, rq->status);
    cc_buf_append_str(out, "Age: ");
    cc_buf_append_int(out, age < 0 ? 0 : age);
    cc_buf_append_str(out, "\r\nCache-Status: cgicache; hit; ttl=");
    cc_buf_append_int(out, left);
    cc_buf_append_str(out, rq->detail);
    cc_buf_append(out, "\r\n\r\n", 4);
    if (rq->get && send.kind == CC_SEND_FULL)
        cc_buf_append(out, v.body, v.body_len);
    else if (send.kind == CC_SEND_PARTIAL)
        cc_buf_append(out, v.body + send.first, send.last - send.first + 1);
    cc_buf_free(&v.head_buf);
}
