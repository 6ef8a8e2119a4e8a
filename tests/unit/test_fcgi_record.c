/* test_fcgi_record.c -- FastCGI records without I/O (lib/core/fcgi_record.c).
 * The wire adapter sees a connection only as the bytes an app reads and
 * writes, cut wherever the kernel and the app cut them, and from a peek at
 * them decides whether to answer a request itself.  So each part is tried
 * on many shapes of the same bytes: a header is read only when it is
 * FastCGI's; a stream fed in any pieces reports the same records as one
 * fed whole, and stops at the first header that is not FastCGI's; a look
 * finds a request's parts at the right offsets, skips only the previous
 * request's leftovers (also from the middle of one), and says "more"
 * rather than guess at a prefix; params become an environment only when C
 * strings say what the lengths say; and what is framed parses back. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_record.h"

/* ---- building records ----------------------------------------------------------- */

/* Appends a record: its header, content, and padding bytes of 0xee. */
static void rec(cc_buf *b, uint8_t type, uint16_t id, const void *content, size_t len,
                uint8_t padding)
{
    cr_assert_leq(len, CC_FCGI_MAX_CONTENT);
    const uint8_t h[8] =
        {1, type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(len >> 8), (uint8_t)len, padding, 0};
    cc_buf_append(b, h, sizeof h);
    cc_buf_append(b, content, len);
    for (unsigned i = 0; i < padding; i++)
        cc_buf_append(b, "\xee", 1);
    cr_assert_not(b->failed);
}

static void rec_empty(cc_buf *b, uint8_t type, uint16_t id, uint8_t padding)
{
    rec(b, type, id, NULL, 0, padding);
}

static void begin(cc_buf *b, uint16_t id, uint16_t role, uint8_t flags, uint8_t padding)
{
    const uint8_t body[8] = {(uint8_t)(role >> 8), (uint8_t)role, flags, 0, 0, 0, 0, 0};
    rec(b, CC_FCGI_BEGIN_REQUEST, id, body, sizeof body, padding);
}

/* Appends one name-value pair; wide: 4-byte lengths even when 1 would do. */
static void pair(cc_buf *b, const char *name, size_t name_len, const char *value, size_t value_len,
                 bool wide)
{
    size_t lens[2] = {name_len, value_len};
    for (int i = 0; i < 2; i++) {
        if (lens[i] < 0x80 && !wide) {
            uint8_t l = (uint8_t)lens[i];
            cc_buf_append(b, &l, 1);
        } else {
            const uint8_t l[4] = {(uint8_t)(lens[i] >> 24 | 0x80), (uint8_t)(lens[i] >> 16),
                                  (uint8_t)(lens[i] >> 8), (uint8_t)lens[i]};
            cc_buf_append(b, l, 4);
        }
    }
    cc_buf_append(b, name, name_len);
    cc_buf_append(b, value, value_len);
    cr_assert_not(b->failed);
}

static void pair_str(cc_buf *b, const char *name, const char *value, bool wide)
{
    pair(b, name, strlen(name), value, strlen(value), wide);
}

/* A request built, with where its parts are. */
typedef struct req {
    cc_buf b;
    cc_fcgi_request_view v;   /* what a look at all of b should say */
} req;

/* Appends a request for id: BEGIN, the params content in PARAMS records
 * cut at cuts[] (offsets into params, ascending), the empty PARAMS, then
 * an empty STDIN, or a STDIN with stdin_data when it is given. */
static void request(req *r, uint16_t id, uint16_t role, uint8_t flags, const uint8_t *params,
                    size_t plen, const size_t *cuts, size_t ncuts, uint8_t padding,
                    const char *stdin_data)
{
    r->v.skip = r->b.len;
    r->v.id = id;
    r->v.role = role;
    r->v.keep = (flags & CC_FCGI_KEEP_CONN) != 0;
    begin(&r->b, id, role, flags, padding);
    r->v.params_at = r->b.len;
    size_t from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : plen;
        cr_assert_leq(from, to);
        /* An empty PARAMS would end them: a cut with nothing in it is not a record. */
        if (to > from)
            rec(&r->b, CC_FCGI_PARAMS, id, params + from, to - from, (uint8_t)(padding + i));
        from = to;
    }
    rec_empty(&r->b, CC_FCGI_PARAMS, id, padding);
    r->v.params_end = r->b.len;
    r->v.params_len = plen;
    if (stdin_data == NULL) {
        rec_empty(&r->b, CC_FCGI_STDIN, id, padding);
        r->v.end = r->b.len;
    } else {
        rec(&r->b, CC_FCGI_STDIN, id, stdin_data, strlen(stdin_data), padding);
        rec_empty(&r->b, CC_FCGI_STDIN, id, 0);
        r->v.end = 0;
    }
}

/* The params most tests use: short and long lengths, both encodings, an
 * empty value, and '=' in a value. */
static void sample_params(cc_buf *p)
{
    char long_value[200];
    memset(long_value, 'v', sizeof long_value);
    pair_str(p, "SCRIPT_NAME", "/index.php", false);
    pair_str(p, "REQUEST_METHOD", "GET", true);
    pair_str(p, "QUERY_STRING", "a=1&b=2", false);
    pair_str(p, "HTTP_COOKIE", "", false);
    pair(p, "HTTP_X_LONG", 11, long_value, sizeof long_value, false);
    pair_str(p, "X", "y", true);
}

static const char *const sample_env[] = {
    "SCRIPT_NAME=/index.php",
    "REQUEST_METHOD=GET",
    "QUERY_STRING=a=1&b=2",
    "HTTP_COOKIE=",
    NULL, /* HTTP_X_LONG=vvv...: checked apart */
    "X=y",
};

/* ---- following a stream --------------------------------------------------------- */

/* What a stream reported, pieces of content or padding joined. */
typedef struct event {
    char kind;                /* 'h' header, 'c' content, 'p' padding, 'e' end */
    cc_fcgi_header h;
    size_t len;               /* c, p: bytes */
    uint8_t body[8];          /* e: the record's first content bytes */
    uint8_t body_len;
} event;

typedef struct trace {
    event ev[1024];
    size_t n;
    cc_buf content, padding; /* all of it, in order */
    size_t record_content;   /* where the current record's content starts */
} trace;

static void trace_free(trace *t)
{
    cc_buf_free(&t->content);
    cc_buf_free(&t->padding);
}

static event *add(trace *t, char kind, const cc_fcgi_stream *s)
{
    cr_assert_lt(t->n, sizeof t->ev / sizeof t->ev[0]);
    event *e = &t->ev[t->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->h = s->h;
    return e;
}

static void on_header(void *ctx, const cc_fcgi_stream *s)
{
    trace *t = ctx;
    add(t, 'h', s);
    cr_assert_eq(s->raw_len, CC_FCGI_HEADER_LEN);
    cr_assert_eq(s->content_left, s->h.content_len);
    cr_assert_eq(s->padding_left, s->h.padding_len);
    t->record_content = t->content.len;
}

/* Joins a piece to the event before when it is of the same kind. */
static void on_piece(trace *t, char kind, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    cr_assert_gt(n, 0, "an empty %c piece", kind);
    if (t->n == 0 || t->ev[t->n - 1].kind != kind)
        add(t, kind, s);
    t->ev[t->n - 1].len += n;
    cc_buf_append(kind == 'c' ? &t->content : &t->padding, p, n);
}

static void on_content(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    on_piece(ctx, 'c', s, p, n);
    cr_assert_eq(s->padding_left, s->h.padding_len, "content after padding");
}

static void on_padding(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    on_piece(ctx, 'p', s, p, n);
    cr_assert_eq(s->content_left, 0, "padding before the content's end");
}

static void on_end(void *ctx, const cc_fcgi_stream *s)
{
    trace *t = ctx;
    event *e = add(t, 'e', s);
    cr_assert_eq(s->content_left, 0);
    cr_assert_eq(s->padding_left, 0);
    size_t first = s->h.content_len < 8 ? s->h.content_len : 8;
    cr_assert_eq(s->body_len, first);
    cr_assert_eq(t->content.len - t->record_content, s->h.content_len);
    cr_assert_eq(memcmp(s->body, t->content.data + t->record_content, first), 0,
                 "body[] is not the record's first bytes");
    memcpy(e->body, s->body, s->body_len);
    e->body_len = s->body_len;
}

static const cc_fcgi_events events = {on_header, on_content, on_padding, on_end};

/* Feeds p to a fresh stream in pieces cut at cuts[] (ascending); returns
 * the bytes taken, in all. */
static size_t feed_cut(cc_fcgi_stream *s, const uint8_t *p, size_t n, const size_t *cuts,
                       size_t ncuts, trace *t)
{
    memset(s, 0, sizeof *s);
    size_t from = 0, taken = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        size_t took = cc_fcgi_feed(s, p + from, to - from, &events, t);
        cr_assert_leq(took, to - from);
        if (took < to - from)
            cr_assert(s->broken, "took %zu of %zu without breaking", took, to - from);
        taken += took;
        from = to;
    }
    return taken;
}

static void assert_same_trace(const trace *a, const trace *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu events, not %zu", what, b->n, a->n);
    for (size_t i = 0; i < a->n; i++) {
        const event *x = &a->ev[i], *y = &b->ev[i];
        cr_assert_eq(x->kind, y->kind, "%s: event %zu", what, i);
        cr_assert_eq(x->h.type, y->h.type, "%s: event %zu", what, i);
        cr_assert_eq(x->h.id, y->h.id, "%s: event %zu", what, i);
        cr_assert_eq(x->h.content_len, y->h.content_len, "%s: event %zu", what, i);
        cr_assert_eq(x->h.padding_len, y->h.padding_len, "%s: event %zu", what, i);
        cr_assert_eq(x->len, y->len, "%s: event %zu", what, i);
        cr_assert_eq(x->body_len, y->body_len, "%s: event %zu", what, i);
        cr_assert_eq(memcmp(x->body, y->body, x->body_len), 0, "%s: event %zu", what, i);
    }
    cr_assert_eq(a->content.len, b->content.len, "%s", what);
    cr_assert_eq(memcmp(a->content.data, b->content.data, a->content.len), 0, "%s", what);
    cr_assert_eq(a->padding.len, b->padding.len, "%s", what);
    cr_assert_eq(memcmp(a->padding.data, b->padding.data, a->padding.len), 0, "%s", what);
}

/* ---- headers ------------------------------------------------------------------ */

Test(fcgi_header, parses_every_defined_type)
{
    const uint16_t ids[] = {0, 1, 0x0102, 0xff00, 0xffff};
    const uint16_t lens[] = {0, 1, 8, 0x0100, 0xfffe, 0xffff};
    const uint8_t paddings[] = {0, 1, 7, 255};
    for (unsigned type = 1; type <= 11; type++)
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++)
                for (size_t k = 0; k < sizeof paddings; k++) {
                    const uint8_t p[8] = {1,
                                          (uint8_t)type,
                                          (uint8_t)(ids[i] >> 8),
                                          (uint8_t)ids[i],
                                          (uint8_t)(lens[j] >> 8),
                                          (uint8_t)lens[j],
                                          paddings[k],
                                          (uint8_t)(k * 85)}; /* reserved: any */
                    cc_fcgi_header h;
                    cr_assert(cc_fcgi_header_parse(p, &h));
                    cr_assert_eq(h.type, type);
                    cr_assert_eq(h.id, ids[i]);
                    cr_assert_eq(h.content_len, lens[j]);
                    cr_assert_eq(h.padding_len, paddings[k]);
                }
}

Test(fcgi_header, refuses_other_versions_and_types)
{
    for (unsigned version = 0; version < 256; version++)
        for (unsigned type = 0; type < 256; type++) {
            const uint8_t p[8] = {(uint8_t)version, (uint8_t)type, 0, 1, 0, 8, 0, 0};
            cc_fcgi_header h;
            bool want = version == 1 && type >= 1 && type <= 11;
            cr_assert_eq(cc_fcgi_header_parse(p, &h), want, "version %u type %u", version, type);
        }
    /* Not FastCGI at all. */
    cc_fcgi_header h;
    cr_assert_not(cc_fcgi_header_parse((const uint8_t *)"GET / HT", &h));
    cr_assert_not(cc_fcgi_header_parse((const uint8_t *)"\x16\x03\x01\x02\x00\x01\x00\x01", &h));
    cr_assert_not(cc_fcgi_header_parse((const uint8_t *)"\x01\x00\x00\x01\x00\x08\x00\x00", &h));
    cr_assert_not(cc_fcgi_header_parse((const uint8_t *)"\x01\x0c\x00\x01\x00\x08\x00\x00", &h));
}

/* ---- the stream ----------------------------------------------------------------- */

/* A stream of many kinds of record: empty ones, with and without padding,
 * shorter and longer than a body, over 255 bytes, of several ids.  ends[]
 * gets the offset past each record. */
static void many_records(cc_buf *b, size_t *ends, size_t *nends)
{
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    size_t n = 0;
    begin(b, 1, CC_FCGI_RESPONDER, CC_FCGI_KEEP_CONN, 0);
    ends[n++] = b->len;
    rec(b, CC_FCGI_PARAMS, 1, "\x01\x02Q", 3, 5);
    ends[n++] = b->len;
    rec(b, CC_FCGI_PARAMS, 1, big, sizeof big, 0);
    ends[n++] = b->len;
    rec_empty(b, CC_FCGI_PARAMS, 1, 0);
    ends[n++] = b->len;
    rec(b, CC_FCGI_STDIN, 1, "x", 1, 7);
    ends[n++] = b->len;
    rec_empty(b, CC_FCGI_STDIN, 1, 3);
    ends[n++] = b->len;
    rec(b, CC_FCGI_STDOUT, 0xabcd, "12345678", 8, 0);
    ends[n++] = b->len;
    cc_fcgi_frame_end(b, 1, 0x01020304, 2);
    ends[n++] = b->len;
    rec(b, CC_FCGI_GET_VALUES, 0, "\16\0FCGI_MAX_CONNS", 16, 0);
    ends[n++] = b->len;
    rec(b, CC_FCGI_UNKNOWN_TYPE, 0, "\x63\0\0\0\0\0\0\0", 8, 0);
    ends[n++] = b->len;
    rec_empty(b, CC_FCGI_ABORT_REQUEST, 2, 0);
    ends[n++] = b->len;
    rec(b, CC_FCGI_STDERR, 2, "oops\n", 5, 255);
    ends[n++] = b->len;
    rec(b, CC_FCGI_DATA, 0xffff, big, 9, 1);
    ends[n++] = b->len;
    cr_assert_not(b->failed);
    *nends = n;
}

/* A short stream, for cutting in three at every pair of places. */
static void few_records(cc_buf *b)
{
    begin(b, 3, CC_FCGI_RESPONDER, 0, 2);
    rec(b, CC_FCGI_PARAMS, 3, "\1\1AB", 4, 0);
    rec_empty(b, CC_FCGI_PARAMS, 3, 1);
    rec(b, CC_FCGI_STDIN, 3, "0123456789", 10, 6);
    rec_empty(b, CC_FCGI_STDIN, 3, 0);
    cc_fcgi_frame_end(b, 3, 0, 0);
}

Test(fcgi_stream, whole_reports_every_record)
{
    cc_buf b = {0};
    size_t ends[32], nends;
    many_records(&b, ends, &nends);
    trace t = {0};
    cc_fcgi_stream s;
    cr_assert_eq(feed_cut(&s, (const uint8_t *)b.data, b.len, NULL, 0, &t), b.len);
    cr_assert(cc_fcgi_at_boundary(&s));
    cr_assert_not(s.broken);
    /* One header and one end per record, each with its own header. */
    size_t headers = 0, records = 0, content = 0, padding = 0;
    for (size_t i = 0; i < t.n; i++) {
        headers += t.ev[i].kind == 'h';
        records += t.ev[i].kind == 'e';
        if (t.ev[i].kind == 'e') {
            content += t.ev[i].h.content_len;
            padding += t.ev[i].h.padding_len;
        }
    }
    cr_assert_eq(headers, nends);
    cr_assert_eq(records, nends);
    cr_assert_eq(t.content.len, content);
    cr_assert_eq(t.padding.len, padding);
    cr_assert_eq(headers * 8 + content + padding, b.len);
    /* The END_REQUEST's body, as the end event saw it. */
    size_t at = 0;
    while (!(t.ev[at].kind == 'e' && t.ev[at].h.type == CC_FCGI_END_REQUEST))
        at++;
    cr_assert_eq(t.ev[at].body_len, 8);
    cr_assert_eq(memcmp(t.ev[at].body, "\x01\x02\x03\x04\x02\0\0\0", 8), 0);
    /* The empty STDIN with padding: a header, padding, an end; no content. */
    cr_assert_eq(t.ev[16].kind, 'h');
    cr_assert_eq(t.ev[16].h.type, CC_FCGI_STDIN);
    cr_assert_eq(t.ev[17].kind, 'p');
    cr_assert_eq(t.ev[17].len, 3);
    cr_assert_eq(t.ev[18].kind, 'e');
    cr_assert_eq(t.ev[18].body_len, 0);
    trace_free(&t);
    cc_buf_free(&b);
}

Test(fcgi_stream, any_cut_reports_the_same)
{
    cc_buf b = {0};
    size_t ends[32], nends;
    many_records(&b, ends, &nends);
    const uint8_t *p = (const uint8_t *)b.data;
    trace whole = {0};
    cc_fcgi_stream s;
    feed_cut(&s, p, b.len, NULL, 0, &whole);
    /* In two at every place, checking where records end on the way. */
    for (size_t k = 0; k <= b.len; k++) {
        trace t = {0};
        memset(&s, 0, sizeof s);
        cr_assert_eq(cc_fcgi_feed(&s, p, k, &events, &t), k);
        bool boundary = k == 0;
        for (size_t i = 0; i < nends; i++)
            boundary |= ends[i] == k;
        cr_assert_eq(cc_fcgi_at_boundary(&s), boundary, "after %zu bytes", k);
        cr_assert_eq(cc_fcgi_feed(&s, p + k, b.len - k, &events, &t), b.len - k);
        cr_assert(cc_fcgi_at_boundary(&s));
        assert_same_trace(&whole, &t, "cut in two");
        trace_free(&t);
    }
    /* A byte at a time, and in pieces of every size up to 40. */
    for (size_t step = 1; step <= 40; step++) {
        size_t cuts[1024], ncuts = 0;
        for (size_t at = step; at < b.len; at += step)
            cuts[ncuts++] = at;
        trace t = {0};
        cr_assert_eq(feed_cut(&s, p, b.len, cuts, ncuts, &t), b.len);
        assert_same_trace(&whole, &t, "in pieces");
        trace_free(&t);
    }
    trace_free(&whole);
    cc_buf_free(&b);
}

Test(fcgi_stream, cut_in_three_anywhere)
{
    cc_buf b = {0};
    few_records(&b);
    const uint8_t *p = (const uint8_t *)b.data;
    trace whole = {0};
    cc_fcgi_stream s;
    feed_cut(&s, p, b.len, NULL, 0, &whole);
    for (size_t i = 0; i <= b.len; i++)
        for (size_t j = i; j <= b.len; j++) {
            size_t cuts[2] = {i, j};
            trace t = {0};
            cr_assert_eq(feed_cut(&s, p, b.len, cuts, 2, &t), b.len);
            assert_same_trace(&whole, &t, "cut in three");
            trace_free(&t);
        }
    trace_free(&whole);
    cc_buf_free(&b);
}

/* The longest record there is: 65535 bytes of content, 255 of padding. */
Test(fcgi_stream, longest_record)
{
    cc_buf b = {0};
    uint8_t *content = malloc(CC_FCGI_MAX_CONTENT);
    for (size_t i = 0; i < CC_FCGI_MAX_CONTENT; i++)
        content[i] = (uint8_t)(i % 251);
    rec(&b, CC_FCGI_STDOUT, 0xffff, content, CC_FCGI_MAX_CONTENT, 255);
    rec(&b, CC_FCGI_STDOUT, 0xffff, content, CC_FCGI_MAX_CONTENT, 0);
    const uint8_t *p = (const uint8_t *)b.data;
    trace whole = {0};
    cc_fcgi_stream s;
    cr_assert_eq(feed_cut(&s, p, b.len, NULL, 0, &whole), b.len);
    cr_assert_eq(whole.n, 7);
    cr_assert_eq(whole.ev[0].h.content_len, 65535);
    cr_assert_eq(whole.ev[0].h.padding_len, 255);
    cr_assert_eq(whole.ev[1].len, 65535);
    cr_assert_eq(whole.ev[2].len, 255);
    cr_assert_eq(memcmp(whole.content.data, content, CC_FCGI_MAX_CONTENT), 0);
    const size_t cut_at[] = {1, 7, 8, 9, 4000, 65542, 65543, 65544, 65797, 65798, 65799, 65806};
    for (size_t i = 0; i < sizeof cut_at / sizeof cut_at[0]; i++) {
        trace t = {0};
        cr_assert_eq(feed_cut(&s, p, b.len, &cut_at[i], 1, &t), b.len);
        assert_same_trace(&whole, &t, "cut");
        trace_free(&t);
    }
    size_t *cuts = malloc(b.len * sizeof *cuts);
    for (size_t i = 0; i + 1 < b.len; i++)
        cuts[i] = i + 1;
    trace t = {0};
    cr_assert_eq(feed_cut(&s, p, b.len, cuts, b.len - 1, &t), b.len);
    assert_same_trace(&whole, &t, "a byte at a time");
    trace_free(&t);
    free(cuts);
    trace_free(&whole);
    free(content);
    cc_buf_free(&b);
}

static void count_end(void *ctx, const cc_fcgi_stream *s)
{
    (void)s;
    (*(size_t *)ctx)++;
}

/* Without events, and with only some of them. */
Test(fcgi_stream, events_are_optional)
{
    cc_buf b = {0};
    size_t ends[32], nends;
    many_records(&b, ends, &nends);
    cc_fcgi_stream s = {0};
    for (size_t i = 0; i < b.len; i++)
        cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)b.data + i, 1, NULL, NULL), 1);
    cr_assert(cc_fcgi_at_boundary(&s));
    const cc_fcgi_events only_end = {.end = count_end};
    size_t ended = 0;
    memset(&s, 0, sizeof s);
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)b.data, b.len, &only_end, &ended), b.len);
    cr_assert_eq(ended, nends);
    cc_buf_free(&b);
}

/* A header that is not FastCGI's stops the stream: the bytes up to and
 * including it are taken, the rest never, however the bytes come. */
Test(fcgi_stream, stops_at_a_bad_header)
{
    const char *bad[] = {
        "\x00\x05\x00\x01\x00\x00\x00\x00", /* version 0 */
        "\x02\x05\x00\x01\x00\x00\x00\x00", /* version 2 */
        "\x01\x00\x00\x01\x00\x00\x00\x00", /* type 0 */
        "\x01\x0c\x00\x01\x00\x00\x00\x00", /* type 12 */
        "\x01\xff\x00\x01\x00\x00\x00\x00", /* type 255 */
        "GET / HTTP/1.1\r\n",               /* not FastCGI */
    };
    for (size_t v = 0; v < sizeof bad / sizeof bad[0]; v++) {
        cc_buf b = {0};
        few_records(&b);
        size_t good = b.len;
        cc_buf_append(&b, bad[v], 8);
        /* What follows would be a fine record. */
        rec(&b, CC_FCGI_STDIN, 1, "after", 5, 0);
        const uint8_t *p = (const uint8_t *)b.data;
        trace whole = {0};
        cc_fcgi_stream s;
        cr_assert_eq(feed_cut(&s, p, good, NULL, 0, &whole), good);
        for (size_t k = 0; k <= b.len; k++) {
            trace t = {0};
            cr_assert_eq(feed_cut(&s, p, b.len, &k, 1, &t), good + 8, "variant %zu, cut %zu", v, k);
            cr_assert(s.broken);
            cr_assert_not(cc_fcgi_at_boundary(&s));
            cr_assert_eq(s.raw_len, 8);
            cr_assert_eq(memcmp(s.raw, bad[v], 8), 0);
            assert_same_trace(&whole, &t, "broken");
            /* Nothing more is taken, nothing more reported. */
            size_t before = t.n;
            cr_assert_eq(cc_fcgi_feed(&s, p, b.len, &events, &t), 0);
            cr_assert_eq(t.n, before);
            trace_free(&t);
        }
        /* A byte at a time: every byte up to the bad header's last. */
        memset(&s, 0, sizeof s);
        size_t taken = 0;
        for (size_t i = 0; i < b.len; i++)
            taken += cc_fcgi_feed(&s, p + i, 1, NULL, NULL);
        cr_assert_eq(taken, good + 8);
        /* The bad header fed in the middle of a call: the count stops after it. */
        memset(&s, 0, sizeof s);
        cr_assert_eq(cc_fcgi_feed(&s, p, good + 3, NULL, NULL), good + 3);
        cr_assert_not(s.broken);
        cr_assert_eq(cc_fcgi_feed(&s, p + good + 3, b.len - good - 3, NULL, NULL), 5);
        cr_assert(s.broken);
        trace_free(&whole);
        cc_buf_free(&b);
    }
}

Test(fcgi_stream, at_boundary)
{
    cc_fcgi_stream s = {0};
    cr_assert(cc_fcgi_at_boundary(&s));
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"\x01\x05\x00\x01", 4, NULL, NULL), 4);
    cr_assert_not(cc_fcgi_at_boundary(&s));
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"\x00\x02\x01\x00", 4, NULL, NULL), 4);
    cr_assert_not(cc_fcgi_at_boundary(&s)); /* in the content */
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"ab", 2, NULL, NULL), 2);
    cr_assert_not(cc_fcgi_at_boundary(&s)); /* in the padding */
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"\0", 1, NULL, NULL), 1);
    cr_assert(cc_fcgi_at_boundary(&s));
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"x", 0, NULL, NULL), 0);
    cr_assert(cc_fcgi_at_boundary(&s));
}

/* ---- looking at a connection's bytes --------------------------------------------- */

static void assert_view(const cc_fcgi_request_view *got, const cc_fcgi_request_view *want,
                        const char *what, size_t k)
{
    cr_assert_eq(got->skip, want->skip, "%s %zu: skip", what, k);
    cr_assert_eq(got->id, want->id, "%s %zu: id", what, k);
    cr_assert_eq(got->role, want->role, "%s %zu: role", what, k);
    cr_assert_eq(got->keep, want->keep, "%s %zu: keep", what, k);
    cr_assert_eq(got->params_at, want->params_at, "%s %zu: params_at", what, k);
    cr_assert_eq(got->params_end, want->params_end, "%s %zu: params_end", what, k);
    cr_assert_eq(got->params_len, want->params_len, "%s %zu: params_len", what, k);
    cr_assert_eq(got->end, want->end, "%s %zu: end", what, k);
}

/* Looks at every prefix of p[0..n) from stream at: before the head is
 * whole, "more"; from then on the request as want says, its end only
 * once the empty STDIN is all there (the head being whole is what a look
 * promises; the adapter waits for the STDIN itself). */
static void assert_prefixes(const cc_fcgi_stream *at, uint16_t prev_id, const uint8_t *p, size_t n,
                            const cc_fcgi_request_view *want)
{
    cc_fcgi_stream copy;
    memcpy(&copy, at, sizeof copy);
    for (size_t m = 0; m <= n; m++) {
        cc_fcgi_request_view v;
        cc_fcgi_look what = cc_fcgi_look_at(at, prev_id, p, m, &v);
        cr_assert_eq(memcmp(&copy, at, sizeof copy), 0, "the stream changed");
        if (m < want->params_end) {
            cr_assert_eq(what, CC_FCGI_LOOK_MORE, "prefix %zu of %zu: %d", m, n, what);
            continue;
        }
        cr_assert_eq(what, CC_FCGI_LOOK_REQUEST, "prefix %zu of %zu: %d", m, n, what);
        cc_fcgi_request_view w = *want;
        if (want->end == 0 || m < want->end)
            w.end = 0;
        assert_view(&v, &w, "prefix", m);
    }
}

Test(fcgi_look, whole_request)
{
    cc_buf params = {0};
    sample_params(&params);
    const uint8_t *pp = (const uint8_t *)params.data;
    const uint16_t ids[] = {1, 0x0102, 0xffff};
    const uint16_t roles[] = {CC_FCGI_RESPONDER, 2, 3, 0x0100};
    const uint8_t flags[] = {0, CC_FCGI_KEEP_CONN, 0xff, 0xfe};
    /* The params in one record, cut between pairs, inside a pair's 4-byte
     * length, inside a name, in pieces of 1 byte. */
    const size_t cuts_one[] = {0};
    const size_t cuts_pairs[] = {23, 48};
    const size_t cuts_inside[] = {5, 24, 25, 29, 84, 200};
    size_t cuts_bytes[400], nbytes = 0;
    for (size_t i = 1; i < params.len; i++)
        cuts_bytes[nbytes++] = i;
    const struct {
        const size_t *cuts;
        size_t n;
    } cuts[] = {{cuts_one, 0}, {cuts_pairs, 2}, {cuts_inside, 6}, {cuts_bytes, nbytes}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        for (size_t j = 0; j < sizeof roles / sizeof roles[0]; j++)
            for (size_t f = 0; f < sizeof flags; f++)
                for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
                    for (uint8_t padding = 0; padding < 9; padding += 4) {
                        req r = {0};
                        request(&r, ids[i], roles[j], flags[f], pp, params.len, cuts[c].cuts,
                                cuts[c].n, padding, NULL);
                        cc_fcgi_stream s = {0};
                        cc_fcgi_request_view v;
                        cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)r.b.data, r.b.len, &v),
                                     CC_FCGI_LOOK_REQUEST);
                        assert_view(&v, &r.v, "whole", 0);
                        cr_assert_eq(v.end, r.b.len);
                        cr_assert_eq(v.params_at, 16 + padding);
                        /* What follows the request is not looked at. */
                        rec(&r.b, CC_FCGI_STDOUT, 9, "junk", 4, 0);
                        cc_buf_append(&r.b, "GET / HTTP/1.1\r\n", 16);
                        cr_assert_eq(cc_fcgi_look_at(&s, ids[i], (const uint8_t *)r.b.data, r.b.len,
                                                     &v),
                                     CC_FCGI_LOOK_REQUEST);
                        assert_view(&v, &r.v, "followed", 0);
                        cc_buf_free(&r.b);
                    }
    cc_buf_free(&params);
}

Test(fcgi_look, every_prefix_is_more_until_the_head_is_whole)
{
    cc_buf params = {0};
    sample_params(&params);
    const size_t cuts[] = {5, 14, 15, 60, 61};
    for (uint8_t padding = 0; padding < 3; padding++) {
        req r = {0};
        request(&r, 1, CC_FCGI_RESPONDER, CC_FCGI_KEEP_CONN, (const uint8_t *)params.data,
                params.len, cuts, 5, padding, NULL);
        cc_fcgi_stream s = {0};
        assert_prefixes(&s, 0, (const uint8_t *)r.b.data, r.b.len, &r.v);
        assert_prefixes(&s, 1, (const uint8_t *)r.b.data, r.b.len, &r.v);
        assert_prefixes(&s, 7, (const uint8_t *)r.b.data, r.b.len, &r.v);
        cc_buf_free(&r.b);
    }
    /* With no params at all: only the empty PARAMS. */
    req r = {0};
    request(&r, 2, CC_FCGI_RESPONDER, 0, NULL, 0, NULL, 0, 0, NULL);
    cr_assert_eq(r.v.params_end, r.v.params_at + 8);
    cc_fcgi_stream s = {0};
    assert_prefixes(&s, 0, (const uint8_t *)r.b.data, r.b.len, &r.v);
    cc_buf_free(&r.b);
    cc_buf_free(&params);
}

/* Leftovers the previous request may leave unread, in several mixes. */
static void leftovers(cc_buf *b, int mix, uint16_t id)
{
    switch (mix) {
    case 0:
        rec_empty(b, CC_FCGI_STDIN, id, 0);
        break;
    case 1:
        rec(b, CC_FCGI_STDIN, id, "name=x&y=z", 10, 6);
        rec_empty(b, CC_FCGI_STDIN, id, 0);
        break;
    case 2:
        rec_empty(b, CC_FCGI_ABORT_REQUEST, id, 0);
        break;
    case 3:
        rec(b, CC_FCGI_DATA, id, "abc", 3, 0);
        rec_empty(b, CC_FCGI_DATA, id, 5);
        break;
    case 4:
        rec(b, CC_FCGI_STDIN, id, "0123456789abcdef0123", 20, 4);
        rec_empty(b, CC_FCGI_STDIN, id, 0);
        rec(b, CC_FCGI_DATA, id, "d", 1, 0);
        rec_empty(b, CC_FCGI_PARAMS, id, 0);
        rec_empty(b, CC_FCGI_ABORT_REQUEST, id, 2);
        break;
    }
}
#define MIXES 5

Test(fcgi_look, skips_the_previous_requests_leftovers)
{
    cc_buf params = {0};
    sample_params(&params);
    const size_t cuts[] = {30};
    const uint16_t prevs[] = {1, 0x0102, 0xffff};
    for (size_t i = 0; i < sizeof prevs / sizeof prevs[0]; i++)
        for (int mix = 0; mix < MIXES; mix++)
            for (int next = 0; next < 2; next++) {
                uint16_t prev = prevs[i], id = next ? (uint16_t)(prev + 1) : prev;
                if (id == 0)
                    id = 1;
                req r = {0};
                leftovers(&r.b, mix, prev);
                size_t left = r.b.len;
                request(&r, id, CC_FCGI_RESPONDER, CC_FCGI_KEEP_CONN, (const uint8_t *)params.data,
                        params.len, cuts, 1, 0, NULL);
                cr_assert_eq(r.v.skip, left);
                cc_fcgi_stream s = {0};
                cc_fcgi_request_view v;
                cr_assert_eq(cc_fcgi_look_at(&s, prev, (const uint8_t *)r.b.data, r.b.len, &v),
                             CC_FCGI_LOOK_REQUEST);
                assert_view(&v, &r.v, "leftovers", (size_t)mix);
                assert_prefixes(&s, prev, (const uint8_t *)r.b.data, r.b.len, &r.v);
                /* Not the previous request's: the app reads them. */
                uint16_t others[] = {0, (uint16_t)(prev ^ 0x0100), (uint16_t)(prev + 2)};
                for (size_t o = 0; o < sizeof others / sizeof others[0]; o++) {
                    cr_assert_eq(cc_fcgi_look_at(&s, others[o], (const uint8_t *)r.b.data, r.b.len,
                                                 &v),
                                 CC_FCGI_LOOK_OTHER, "mix %d, prev %u", mix, others[o]);
                }
                cc_buf_free(&r.b);
            }
    cc_buf_free(&params);
}

/* Records of the previous id that a finished request does not leave, or
 * leftovers of another id before the BEGIN: the app's to read. */
Test(fcgi_look, other_records_first)
{
    const uint16_t prev = 5;
    for (int v = 0; v < 8; v++) {
        cc_buf b = {0};
        switch (v) {
        case 0:
            rec_empty(&b, CC_FCGI_STDIN, 6, 0);
            break;
        case 1:
            rec(&b, CC_FCGI_STDIN, 0x0105, "data", 4, 0);
            break;
        case 2:
            rec_empty(&b, CC_FCGI_ABORT_REQUEST, 4, 0);
            break;
        case 3:
            rec(&b, CC_FCGI_DATA, 0, "x", 1, 0);
            break;
        case 4:
            rec(&b, CC_FCGI_STDOUT, prev, "x", 1, 0);
            break;
        case 5:
            cc_fcgi_frame_end(&b, prev, 0, 0);
            break;
        case 6:
            rec(&b, CC_FCGI_GET_VALUES, 0, "\16\0FCGI_MAX_CONNS", 16, 0);
            break;
        case 7: /* a leftover, then another id's */
            rec_empty(&b, CC_FCGI_STDIN, prev, 0);
            rec_empty(&b, CC_FCGI_STDIN, 6, 0);
            break;
        }
        req r = {.b = b};
        request(&r, prev, CC_FCGI_RESPONDER, 0, (const uint8_t *)"\1\1AB", 4, NULL, 0, 0, NULL);
        cc_fcgi_stream s = {0};
        cc_fcgi_request_view view;
        cr_assert_eq(cc_fcgi_look_at(&s, prev, (const uint8_t *)r.b.data, r.b.len, &view),
                     CC_FCGI_LOOK_OTHER, "variant %d", v);
        /* Only the first record decides: once its header is there. */
        size_t first_header = v == 7 ? 16 : 8;
        for (size_t m = 0; m < first_header; m++)
            cr_assert_eq(cc_fcgi_look_at(&s, prev, (const uint8_t *)r.b.data, m, &view),
                         CC_FCGI_LOOK_MORE, "variant %d, prefix %zu", v, m);
        cc_buf_free(&r.b);
    }
}

/* The app is in the middle of a record: the look finishes it on a copy
 * of the stream, from whatever byte the app stopped at. */
Test(fcgi_look, from_the_middle_of_a_leftover)
{
    cc_buf params = {0};
    sample_params(&params);
    const size_t cuts[] = {40};
    for (int mix = 0; mix < MIXES; mix++) {
        const uint16_t prev = 0x0203;
        req r = {0};
        leftovers(&r.b, mix, prev);
        size_t left = r.b.len;
        request(&r, prev, CC_FCGI_RESPONDER, CC_FCGI_KEEP_CONN, (const uint8_t *)params.data,
                params.len, cuts, 1, 1, NULL);
        const uint8_t *p = (const uint8_t *)r.b.data;
        for (size_t k = 0; k <= left; k++) {
            cc_fcgi_stream s = {0};
            cr_assert_eq(cc_fcgi_feed(&s, p, k, NULL, NULL), k);
            cc_fcgi_request_view want = r.v;
            want.skip -= k;
            want.params_at -= k;
            want.params_end -= k;
            want.end -= k;
            cc_fcgi_request_view v;
            cr_assert_eq(cc_fcgi_look_at(&s, prev, p + k, r.b.len - k, &v), CC_FCGI_LOOK_REQUEST,
                         "mix %d, read %zu", mix, k);
            assert_view(&v, &want, "read", k);
            assert_prefixes(&s, prev, p + k, r.b.len - k, &want);
            /* Not a leftover of this connection's last request. */
            if (k > 0 && k < left) {
                cr_assert_eq(cc_fcgi_look_at(&s, prev + 1, p + k, r.b.len - k, &v),
                             CC_FCGI_LOOK_OTHER, "mix %d, read %zu", mix, k);
                cr_assert_eq(cc_fcgi_look_at(&s, 0, p + k, r.b.len - k, &v), CC_FCGI_LOOK_OTHER,
                             "mix %d, read %zu", mix, k);
            }
        }
        cc_buf_free(&r.b);
    }
    cc_buf_free(&params);
}

/* In the middle of anything else, or after a stream broke. */
Test(fcgi_look, from_the_middle_of_something_else)
{
    req r = {0};
    request(&r, 1, CC_FCGI_RESPONDER, 0, (const uint8_t *)"\1\1AB", 4, NULL, 0, 0, NULL);
    rec_empty(&r.b, CC_FCGI_ABORT_REQUEST, 1, 0);
    request(&r, 1, CC_FCGI_RESPONDER, 0, (const uint8_t *)"\1\1CD", 4, NULL, 0, 0, NULL);
    const uint8_t *p = (const uint8_t *)r.b.data;
    /* The app read part of the first request: that is the app's (its
     * PARAMS and STDIN would be leftovers only were it the request before). */
    for (size_t k = 1; k < r.b.len / 2; k++) {
        cc_fcgi_stream s = {0};
        cc_fcgi_feed(&s, p, k, NULL, NULL);
        if (cc_fcgi_at_boundary(&s))
            continue;
        cc_fcgi_request_view v;
        cr_assert_eq(cc_fcgi_look_at(&s, 0, p + k, r.b.len - k, &v), CC_FCGI_LOOK_OTHER, "read %zu",
                     k);
        cr_assert_eq(cc_fcgi_look_at(&s, 2, p + k, r.b.len - k, &v), CC_FCGI_LOOK_OTHER, "read %zu",
                     k);
        if (k < 16) /* in its BEGIN_REQUEST */
            cr_assert_eq(cc_fcgi_look_at(&s, 1, p + k, r.b.len - k, &v), CC_FCGI_LOOK_OTHER,
                         "read %zu", k);
        /* Once its header is read, that is known without another byte. */
        if (s.raw_len == CC_FCGI_HEADER_LEN)
            for (size_t m = 0; m <= r.b.len - k; m++)
                cr_assert_eq(cc_fcgi_look_at(&s, 0, p + k, m, &v), CC_FCGI_LOOK_OTHER,
                             "read %zu, then %zu", k, m);
    }
    /* A broken stream, or one a bad header completes. */
    cc_fcgi_stream s = {0};
    cc_fcgi_request_view v;
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, NULL, NULL), 8);
    cr_assert_eq(cc_fcgi_look_at(&s, 0, p, r.b.len, &v), CC_FCGI_LOOK_NOT_FASTCGI);
    memset(&s, 0, sizeof s);
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"\x01\x05", 2, NULL, NULL), 2);
    cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)"\x00\x01\x00\x00\x00", 3, &v),
                 CC_FCGI_LOOK_MORE);
    /* An empty STDIN of 1: a leftover, then nothing yet; not one for 0. */
    cr_assert_eq(cc_fcgi_look_at(&s, 1, (const uint8_t *)"\x00\x01\x00\x00\x00\x00", 6, &v),
                 CC_FCGI_LOOK_MORE);
    cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)"\x00\x01\x00\x00\x00\x00", 6, &v),
                 CC_FCGI_LOOK_OTHER);
    memset(&s, 0, sizeof s);
    cr_assert_eq(cc_fcgi_feed(&s, (const uint8_t *)"\x02", 1, NULL, NULL), 1);
    cr_assert_eq(cc_fcgi_look_at(&s, 1, p + 1, r.b.len - 1, &v), CC_FCGI_LOOK_NOT_FASTCGI);
    cc_buf_free(&r.b);
}

Test(fcgi_look, not_fastcgi)
{
    const char *texts[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "\x01\x00\x00\x01\x00\x08\x00\x00",
        "\x01\x0c\x00\x01\x00\x08\x00\x00",
        "\x00\x01\x00\x01\x00\x08\x00\x00",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const uint8_t *p = (const uint8_t *)texts[i];
        size_t n = i < 2 ? strlen(texts[i]) : 8 + (i == 2) * 3;
        cc_fcgi_stream s = {0};
        cc_fcgi_request_view v;
        cr_assert_eq(cc_fcgi_look_at(&s, 0, p, n, &v), CC_FCGI_LOOK_NOT_FASTCGI, "text %zu", i);
        cr_assert_eq(cc_fcgi_look_at(&s, 1, p, n, &v), CC_FCGI_LOOK_NOT_FASTCGI, "text %zu", i);
        for (size_t m = 0; m < 8; m++)
            cr_assert_eq(cc_fcgi_look_at(&s, 0, p, m, &v), CC_FCGI_LOOK_MORE, "text %zu", i);
    }
    /* A bad header after a leftover, inside the params, after them. */
    cc_buf params = {0};
    sample_params(&params);
    for (int where = 0; where < 3; where++) {
        cc_buf b = {0};
        if (where == 0) {
            rec_empty(&b, CC_FCGI_STDIN, 4, 0);
            cc_buf_append(&b, "GET / HTTP/1.1\r\n", 16);
        } else {
            begin(&b, 4, CC_FCGI_RESPONDER, 0, 0);
            rec(&b, CC_FCGI_PARAMS, 4, params.data, params.len, 0);
            if (where == 2)
                rec_empty(&b, CC_FCGI_PARAMS, 4, 0);
            cc_buf_append(&b, "\x02\x04\x00\x04\x00\x00\x00\x00", 8);
        }
        cc_fcgi_stream s = {0};
        cc_fcgi_request_view v;
        cc_fcgi_look what = cc_fcgi_look_at(&s, 4, (const uint8_t *)b.data, b.len, &v);
        if (where == 2) {
            /* The head is whole: what follows it is the app's to find wrong. */
            cr_assert_eq(what, CC_FCGI_LOOK_REQUEST);
            cr_assert_eq(v.end, 0);
        } else {
            cr_assert_eq(what, CC_FCGI_LOOK_NOT_FASTCGI, "where %d", where);
        }
        cc_buf_free(&b);
    }
    cc_buf_free(&params);
}

/* With no request before (prev_id 0), nothing is a leftover, not even
 * records of id 0. */
Test(fcgi_look, no_leftovers_without_a_request_before)
{
    const uint8_t types[] = {CC_FCGI_STDIN, CC_FCGI_DATA, CC_FCGI_PARAMS, CC_FCGI_ABORT_REQUEST};
    for (size_t i = 0; i < sizeof types; i++)
        for (uint16_t id = 0; id < 2; id++) {
            req r = {0};
            rec_empty(&r.b, types[i], id, 0);
            request(&r, 1, CC_FCGI_RESPONDER, 0, NULL, 0, NULL, 0, 0, NULL);
            cc_fcgi_stream s = {0};
            cc_fcgi_request_view v;
            cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)r.b.data, r.b.len, &v),
                         CC_FCGI_LOOK_OTHER, "type %u, id %u", types[i], id);
            cc_buf_free(&r.b);
        }
}

/* A BEGIN_REQUEST only an app can judge: the app reads it. */
Test(fcgi_look, odd_begin_requests)
{
    const uint16_t lens[] = {0, 1, 7, 9, 16, 255, 0xffff};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        const uint8_t h[8] =
            {1, CC_FCGI_BEGIN_REQUEST, 0, 1, (uint8_t)(lens[i] >> 8), (uint8_t)lens[i], 0, 0};
        cc_fcgi_stream s = {0};
        cc_fcgi_request_view v;
        /* Said from the header alone. */
        cr_assert_eq(cc_fcgi_look_at(&s, 0, h, 8, &v), CC_FCGI_LOOK_OTHER, "length %u", lens[i]);
    }
    cc_buf b = {0};
    begin(&b, 0, CC_FCGI_RESPONDER, 0, 0);
    rec_empty(&b, CC_FCGI_PARAMS, 0, 0);
    rec_empty(&b, CC_FCGI_STDIN, 0, 0);
    cc_fcgi_stream s = {0};
    cc_fcgi_request_view v;
    cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)b.data, b.len, &v), CC_FCGI_LOOK_OTHER);
    cr_assert_eq(cc_fcgi_look_at(&s, 1, (const uint8_t *)b.data, b.len, &v), CC_FCGI_LOOK_OTHER);
    cc_buf_free(&b);
}

/* Records between the BEGIN and the empty PARAMS that are not its
 * PARAMS: an order the adapter does not decide on. */
Test(fcgi_look, interleaved_records)
{
    for (int variant = 0; variant < 5; variant++) {
        cc_buf b = {0};
        begin(&b, 3, CC_FCGI_RESPONDER, 0, 0);
        rec(&b, CC_FCGI_PARAMS, 3, "\1\1AB", 4, 0);
        switch (variant) {
        case 0:
            rec(&b, CC_FCGI_PARAMS, 4, "\1\1CD", 4, 0);
            break;
        case 1:
            rec(&b, CC_FCGI_STDIN, 3, "x", 1, 0);
            break;
        case 2:
            rec_empty(&b, CC_FCGI_ABORT_REQUEST, 3, 0);
            break;
        case 3:
            begin(&b, 4, CC_FCGI_RESPONDER, 0, 0);
            break;
        case 4:
            rec(&b, CC_FCGI_GET_VALUES, 0, "", 0, 0);
            break;
        }
        rec_empty(&b, CC_FCGI_PARAMS, 3, 0);
        rec_empty(&b, CC_FCGI_STDIN, 3, 0);
        cc_fcgi_stream s = {0};
        cc_fcgi_request_view v;
        cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)b.data, b.len, &v), CC_FCGI_LOOK_OTHER,
                     "variant %d", variant);
        cc_buf_free(&b);
    }
}

/* A request with a body: its end is not known from its head. */
Test(fcgi_look, stdin_with_content_has_no_end)
{
    const char *bodies[] = {"a", "name=value", "0123456789abcdef"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        req r = {0};
        request(&r, 1, CC_FCGI_RESPONDER, CC_FCGI_KEEP_CONN, (const uint8_t *)"\1\1AB", 4, NULL, 0,
                (uint8_t)i, bodies[i]);
        cc_fcgi_stream s = {0};
        cc_fcgi_request_view v;
        cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)r.b.data, r.b.len, &v),
                     CC_FCGI_LOOK_REQUEST);
        assert_view(&v, &r.v, "stdin", i);
        cr_assert_eq(v.end, 0);
        cc_buf_free(&r.b);
    }
    /* An empty STDIN of another id, or an empty DATA, is not its end either. */
    for (int variant = 0; variant < 2; variant++) {
        cc_buf b = {0};
        begin(&b, 1, CC_FCGI_RESPONDER, 0, 0);
        rec_empty(&b, CC_FCGI_PARAMS, 1, 0);
        rec_empty(&b, variant == 0 ? CC_FCGI_STDIN : CC_FCGI_DATA, variant == 0 ? 2 : 1, 0);
        cc_fcgi_stream s = {0};
        cc_fcgi_request_view v;
        cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)b.data, b.len, &v),
                     CC_FCGI_LOOK_REQUEST);
        cr_assert_eq(v.params_end, 24);
        cr_assert_eq(v.end, 0);
        cc_buf_free(&b);
    }
}

/* ---- params ------------------------------------------------------------------------ */

/* Builds a request whose params are content, cut at cuts[], looks at it
 * and returns what cc_fcgi_params_env says. */
static int env_of(const cc_buf *content, const size_t *cuts, size_t ncuts, char ***envp)
{
    req r = {0};
    request(&r, 1, CC_FCGI_RESPONDER, 0, (const uint8_t *)content->data, content->len, cuts, ncuts,
            (uint8_t)ncuts, NULL);
    cc_fcgi_stream s = {0};
    cc_fcgi_request_view v;
    cr_assert_eq(cc_fcgi_look_at(&s, 0, (const uint8_t *)r.b.data, r.b.len, &v),
                 CC_FCGI_LOOK_REQUEST);
    int rc = cc_fcgi_params_env((const uint8_t *)r.b.data, &v, envp);
    if (rc != 0)
        cr_assert_null(*envp);
    cc_buf_free(&r.b);
    return rc;
}

static void assert_sample_env(char **env)
{
    char long_pair[12 + 200 + 1];
    memcpy(long_pair, "HTTP_X_LONG=", 12);
    memset(long_pair + 12, 'v', 200);
    long_pair[212] = '\0';
    size_t n = sizeof sample_env / sizeof sample_env[0];
    for (size_t i = 0; i < n; i++) {
        cr_assert_not_null(env[i], "entry %zu", i);
        cr_assert_str_eq(env[i], sample_env[i] != NULL ? sample_env[i] : long_pair);
    }
    cr_assert_null(env[n]);
}

Test(fcgi_params, environment_in_order)
{
    cc_buf content = {0};
    sample_params(&content);
    char **env;
    cr_assert_eq(env_of(&content, NULL, 0, &env), 0);
    assert_sample_env(env);
    free(env);
    cc_buf_free(&content);
    /* None: cc_buf_free left it empty. */
    cr_assert_eq(env_of(&content, NULL, 0, &env), 0);
    cr_assert_null(env[0]);
    free(env);
    /* Lengths at the edges of the two encodings. */
    const size_t lens[] = {1, 126, 127, 128, 129, 255, 256, 1000, 70000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (int wide = 0; wide < 2; wide++) {
            char *name = malloc(lens[i]), *value = malloc(lens[i]);
            memset(name, 'N', lens[i]);
            memset(value, 'v', lens[i]);
            cc_buf c = {0};
            pair(&c, name, lens[i], value, lens[i], wide);
            pair(&c, name, 1, value, lens[i], !wide);
            pair(&c, name, lens[i], "", 0, wide);
            /* Over 65535 bytes of params: several records. */
            size_t cuts[8], ncuts = 0;
            for (size_t at = 60000; at < c.len; at += 60000)
                cuts[ncuts++] = at;
            cr_assert_eq(env_of(&c, cuts, ncuts, &env), 0, "length %zu", lens[i]);
            for (int k = 0; k < 3; k++) {
                size_t nl = k == 1 ? 1 : lens[i], vl = k == 2 ? 0 : lens[i];
                cr_assert_eq(strlen(env[k]), nl + 1 + vl);
                cr_assert_eq(strspn(env[k], "N"), nl);
                cr_assert_eq(env[k][nl], '=');
                cr_assert_eq(strspn(env[k] + nl + 1, "v"), vl);
            }
            cr_assert_null(env[3]);
            free(env);
            cc_buf_free(&c);
            free(name);
            free(value);
        }
    /* Any byte but NUL, and '=' in a name, goes through. */
    cc_buf c = {0};
    pair(&c, "\x01\xff\x80 ", 4, "\xc3\xa9=\r\n\x7f", 6, false);
    cr_assert_eq(env_of(&c, NULL, 0, &env), 0);
    cr_assert_str_eq(env[0], "\x01\xff\x80 =\xc3\xa9=\r\n\x7f");
    cr_assert_null(env[1]);
    free(env);
    cc_buf_free(&c);
}

/* A pair may straddle PARAMS records anywhere: in a length, a name, a
 * value.  Cut once and twice at every place. */
Test(fcgi_params, pairs_straddle_records)
{
    cc_buf content = {0};
    sample_params(&content);
    char **env;
    for (size_t i = 0; i <= content.len; i++) {
        cr_assert_eq(env_of(&content, &i, 1, &env), 0, "cut at %zu", i);
        assert_sample_env(env);
        free(env);
    }
    for (size_t i = 0; i <= content.len; i += 3)
        for (size_t j = i; j <= content.len; j++) {
            size_t cuts[2] = {i, j};
            cr_assert_eq(env_of(&content, cuts, 2, &env), 0, "cut at %zu, %zu", i, j);
            assert_sample_env(env);
            free(env);
        }
    cc_buf_free(&content);
}

/* Params a C string cannot tell as the lengths do, or lengths that do
 * not hold: refused, alone, after a good pair, before one, and cut
 * anywhere. */
Test(fcgi_params, refuses_the_malformed)
{
    cc_buf bad[20] = {{0}};
    size_t n = 0;
    pair(&bad[n++], "A\0B", 3, "v", 1, false);              /* NUL in a name */
    pair(&bad[n++], "\0", 1, "v", 1, true);                 /* a name of a NUL */
    pair(&bad[n++], "A", 1, "v\0w", 3, false);              /* NUL in a value */
    pair(&bad[n++], "A", 1, "vw\0", 3, true);               /* NUL ending a value */
    pair(&bad[n++], "A=B", 3, "v", 1, false);               /* '=' in a name */
    pair(&bad[n++], "=", 1, "v", 1, false);                 /* a name of '=' */
    pair(&bad[n++], "", 0, "v", 1, false);                  /* an empty name */
    pair(&bad[n++], "", 0, "", 0, true);                    /* an empty name, wide */
    cc_buf_append(&bad[n++], "\1", 1);                      /* no value length */
    cc_buf_append(&bad[n++], "\200\0\0", 3);                /* a short 4-byte length */
    cc_buf_append(&bad[n++], "\1\200\0", 3);                /* a short 4-byte value length */
    cc_buf_append(&bad[n++], "\5\1AB", 4);                  /* a name past the content */
    cc_buf_append(&bad[n++], "\1\5Ab", 4);                  /* a value past the content */
    cc_buf_append(&bad[n++], "\377\377\377\377\1A", 6);     /* a name of 2^31 - 1 */
    cc_buf_append(&bad[n++], "\2\377\377\377\377AB", 7);    /* a value of 2^31 - 1 */
    cc_buf_append(&bad[n++], "\300\0\0\1\1AB", 7);          /* 2^30 + 1: bit 30 counts */
    cc_buf_append(&bad[n++], "\1\300\0\0\1AB", 7);          /* the same, a value */
    cc_buf_append(&bad[n++], "\200\0\0\2\200\0\0\1AB", 10); /* a byte short */
    for (size_t i = 0; i < n; i++)
        for (int where = 0; where < 3; where++) {
            cc_buf c = {0};
            if (where == 1)
                pair_str(&c, "GOOD", "1", false);
            cc_buf_append(&c, bad[i].data, bad[i].len);
            /* A good pair after a malformed length is read as part of it. */
            if (where == 2 && i < 8)
                pair_str(&c, "GOOD", "1", true);
            char **env = (char **)&c; /* anything but NULL */
            for (size_t k = 0; k <= c.len; k++) {
                cr_assert_eq(env_of(&c, &k, 1, &env), -1, "bad %zu, where %d, cut %zu", i, where,
                             k);
                cr_assert_null(env);
            }
            cc_buf_free(&c);
        }
    for (size_t i = 0; i < n; i++)
        cc_buf_free(&bad[i]);
}

/* A view given by hand whose records do not add up to params_len. */
Test(fcgi_params, view_that_does_not_add_up)
{
    req r = {0};
    request(&r, 1, CC_FCGI_RESPONDER, 0, (const uint8_t *)"\1\1AB", 4, NULL, 0, 0, NULL);
    cc_fcgi_request_view v = r.v;
    char **env;
    cr_assert_eq(cc_fcgi_params_env((const uint8_t *)r.b.data, &v, &env), 0);
    cr_assert_str_eq(env[0], "A=B");
    free(env);
    v.params_len = 5;
    cr_assert_eq(cc_fcgi_params_env((const uint8_t *)r.b.data, &v, &env), -1);
    cr_assert_null(env);
    cc_buf_free(&r.b);
}

/* ---- framing ---------------------------------------------------------------------- */

Test(fcgi_frame, parses_back_in_records_of_at_most_65535)
{
    const size_t sizes[] = {0, 1, 8, 65534, 65535, 65536, 65535 * 2, 65535 * 2 + 1, 200000};
    uint8_t *data = malloc(200000);
    for (size_t i = 0; i < 200000; i++)
        data[i] = (uint8_t)(i * 31 + i / 251);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const uint16_t ids[] = {1, 0xffff};
        for (size_t j = 0; j < 2; j++) {
            cc_buf out = {0};
            cc_buf_append(&out, "before", 6);
            cc_fcgi_frame(&out, CC_FCGI_STDOUT, ids[j], data, sizes[i]);
            cr_assert_not(out.failed);
            cr_assert_eq(memcmp(out.data, "before", 6), 0);
            size_t records = (sizes[i] + CC_FCGI_MAX_CONTENT - 1) / CC_FCGI_MAX_CONTENT;
            cr_assert_eq(out.len, 6 + sizes[i] + records * 8, "size %zu", sizes[i]);
            trace t = {0};
            cc_fcgi_stream s;
            cr_assert_eq(feed_cut(&s, (const uint8_t *)out.data + 6, out.len - 6, NULL, 0, &t),
                         out.len - 6);
            cr_assert(cc_fcgi_at_boundary(&s));
            size_t seen = 0;
            for (size_t e = 0; e < t.n; e++) {
                if (t.ev[e].kind != 'h')
                    continue;
                seen++;
                cr_assert_eq(t.ev[e].h.type, CC_FCGI_STDOUT);
                cr_assert_eq(t.ev[e].h.id, ids[j]);
                cr_assert_gt(t.ev[e].h.content_len, 0);
                cr_assert_leq(t.ev[e].h.content_len, CC_FCGI_MAX_CONTENT);
                cr_assert_eq(t.ev[e].h.padding_len, 0);
                /* Full records, then the rest. */
                if (seen < records)
                    cr_assert_eq(t.ev[e].h.content_len, CC_FCGI_MAX_CONTENT);
            }
            cr_assert_eq(seen, records);
            cr_assert_eq(t.content.len, sizes[i]);
            if (sizes[i] > 0)
                cr_assert_eq(memcmp(t.content.data, data, sizes[i]), 0);
            cr_assert_eq(t.padding.len, 0);
            trace_free(&t);
            cc_buf_free(&out);
        }
    }
    free(data);
}

Test(fcgi_frame, exact_bytes)
{
    cc_buf out = {0};
    cc_fcgi_frame(&out, CC_FCGI_STDOUT, 0x0102, "ab", 2);
    cc_fcgi_frame_empty(&out, CC_FCGI_STDOUT, 0x0102);
    cc_fcgi_frame_empty(&out, CC_FCGI_STDERR, 0xfffe);
    cc_fcgi_frame_end(&out, 0x0102, 0x0a0b0c0d, 3);
    const uint8_t want[] = {1,   6,   1,    2,    0, 2, 0, 0, 'a', 'b', /* STDOUT "ab" */
                            1,   6,   1,    2,    0, 0, 0, 0,           /* its end */
                            1,   7,   0xff, 0xfe, 0, 0, 0, 0,           /* STDERR's */
                            1,   3,   1,    2,    0, 8, 0, 0,           /* END_REQUEST */
                            0xa, 0xb, 0xc,  0xd,  3, 0, 0, 0};
    cr_assert_eq(out.len, sizeof want);
    cr_assert_eq(memcmp(out.data, want, sizeof want), 0);
    cc_buf_free(&out);
}

Test(fcgi_frame, end_request_round_trips)
{
    const uint32_t statuses[] = {0, 1, 255, 256, 0x01020304, 0x7fffffff, 0x80000000, 0xffffffff};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        for (unsigned protocol = 0; protocol < 4; protocol++) {
            cc_buf out = {0};
            cc_fcgi_frame_end(&out, (uint16_t)(i * 4099 + 1), statuses[i], (uint8_t)protocol);
            trace t = {0};
            cc_fcgi_stream s;
            cr_assert_eq(feed_cut(&s, (const uint8_t *)out.data, out.len, NULL, 0, &t), 16);
            cr_assert_eq(t.n, 3);
            cr_assert_eq(t.ev[2].kind, 'e');
            cr_assert_eq(t.ev[2].h.type, CC_FCGI_END_REQUEST);
            cr_assert_eq(t.ev[2].h.id, (uint16_t)(i * 4099 + 1));
            cr_assert_eq(t.ev[2].body_len, 8);
            const uint8_t *b = t.ev[2].body;
            uint32_t app = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
            cr_assert_eq(app, statuses[i]);
            cr_assert_eq(b[4], protocol);
            cr_assert_eq(b[5] | b[6] | b[7], 0);
            trace_free(&t);
            cc_buf_free(&out);
        }
}
