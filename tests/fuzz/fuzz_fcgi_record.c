/* fuzz_fcgi_record.c -- FastCGI records (lib/core/fcgi_record.c) on
 * arbitrary bytes, as a server may send them to an app.  The input is fed
 * to a stream whole, a byte at a time and cut at places it picks: every
 * way must report the same records.  It is looked at as a connection's
 * bytes, fresh and after the app read some of it: a request found must
 * lie within the bytes and be what its records say, what comes before it
 * must be the previous request's leftovers, and no prefix may say
 * anything but "more" or what all of it says; then its params become an
 * environment.  Last, it is framed and parsed back. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_record.h"

#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                   \
        }                                                              \
    } while (0)

/* ---- a stream's reports, however the bytes were cut ------------------------------ */

/* What a stream reported: the records' shapes in log, pieces of content
 * or padding joined, and their bytes in data. */
typedef struct trace {
    cc_buf log, data;
    char last;
} trace;

static void note(trace *t, char kind, const void *p, size_t n)
{
    cc_buf_append(&t->log, &kind, 1);
    cc_buf_append(&t->log, p, n);
    t->last = kind;
}

static void on_header(void *ctx, const cc_fcgi_stream *s)
{
    CHECK(s->raw_len == CC_FCGI_HEADER_LEN && !s->broken && s->body_len == 0);
    CHECK(s->content_left == s->h.content_len && s->padding_left == s->h.padding_len);
    cc_fcgi_header h;
    CHECK(cc_fcgi_header_parse(s->raw, &h));
    note(ctx, 'H', s->raw, CC_FCGI_HEADER_LEN);
}

static void on_piece(trace *t, char kind, const uint8_t *p, size_t n)
{
    CHECK(n > 0);
    if (t->last != kind)
        note(t, kind, NULL, 0);
    cc_buf_append(&t->data, p, n);
}

static void on_content(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    CHECK(n <= s->content_left && s->padding_left == s->h.padding_len);
    on_piece(ctx, 'C', p, n);
}

static void on_padding(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    CHECK(s->content_left == 0 && n <= s->padding_left);
    on_piece(ctx, 'P', p, n);
}

static void on_end(void *ctx, const cc_fcgi_stream *s)
{
    CHECK(s->content_left == 0 && s->padding_left == 0);
    CHECK(s->body_len == (s->h.content_len < 8 ? s->h.content_len : 8));
    note(ctx, 'E', s->body, s->body_len);
}

static const cc_fcgi_events events = {on_header, on_content, on_padding, on_end};

/* What feeding a stream came to. */
typedef struct fed {
    trace t;
    size_t taken;
    cc_fcgi_stream s;
} fed;

/* Feeds p to a fresh stream in pieces cut at cuts[] (ascending). */
static void feed_cut(fed *f, const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts)
{
    memset(f, 0, sizeof *f);
    size_t from = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        bool was_broken = f->s.broken;
        size_t took = cc_fcgi_feed(&f->s, p + from, to - from, &events, &f->t);
        CHECK(took <= to - from);
        CHECK(took == to - from || f->s.broken);
        CHECK(!was_broken || took == 0);
        f->taken += took;
        from = to;
    }
}

static void fed_free(fed *f)
{
    cc_buf_free(&f->t.log);
    cc_buf_free(&f->t.data);
}

static bool same_buf(const cc_buf *a, const cc_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_same(const fed *a, const fed *b)
{
    CHECK(a->taken == b->taken);
    CHECK(same_buf(&a->t.log, &b->t.log));
    CHECK(same_buf(&a->t.data, &b->t.data));
    CHECK(a->s.broken == b->s.broken && a->s.raw_len == b->s.raw_len);
    CHECK(memcmp(a->s.raw, b->s.raw, a->s.raw_len) == 0);
    CHECK(cc_fcgi_at_boundary(&a->s) == cc_fcgi_at_boundary(&b->s));
}

/* A place in the input, from its bytes. */
static size_t pick(const uint8_t *data, size_t size, size_t i)
{
    uint32_t h = 2166136261u ^ (uint32_t)i;
    for (size_t k = 0; k < size && k < 16; k++)
        h = (h ^ data[(i * 7 + k * 13) % size]) * 16777619u;
    return size > 0 ? h % (size + 1) : 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void stream_checks(const uint8_t *data, size_t size)
{
    fed whole, other;
    feed_cut(&whole, data, size, NULL, 0);
    /* What was taken: all of it, or up to a bad header's end. */
    CHECK(whole.taken == size || (whole.s.broken && whole.taken >= CC_FCGI_HEADER_LEN &&
                                  memcmp(whole.s.raw, data + whole.taken - 8, 8) == 0));
    if (!whole.s.broken)
        CHECK(cc_fcgi_at_boundary(&whole.s) == (whole.s.raw_len == 0));
    /* In two: everywhere when small, else at places the input picks. */
    size_t ncuts = size <= 256 ? size + 1 : 24;
    for (size_t i = 0; i < ncuts; i++) {
        size_t cut = size <= 256 ? i : pick(data, size, i);
        feed_cut(&other, data, size, &cut, 1);
        check_same(&whole, &other);
        fed_free(&other);
    }
    /* In many: a byte at a time, in steps the input picks, at picked places. */
    size_t *cuts = malloc((size + 1) * sizeof *cuts);
    const size_t steps[2] = {1, size > 0 ? 2 + data[0] % 19 : 2};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        for (size_t at = steps[i]; at < size; at += steps[i])
            cuts[n++] = at;
        feed_cut(&other, data, size, cuts, n);
        check_same(&whole, &other);
        fed_free(&other);
    }
    size_t n = size < 12 ? size : 12;
    for (size_t i = 0; i < n; i++)
        cuts[i] = pick(data, size, 100 + i);
    qsort(cuts, n, sizeof *cuts, cmp_size);
    feed_cut(&other, data, size, cuts, n);
    check_same(&whole, &other);
    fed_free(&other);
    free(cuts);
    fed_free(&whole);
}

/* ---- looking at a connection's bytes ----------------------------------------------- */

/* Records before a request must be the previous request's leftovers. */
static void leftover_end(void *ctx, const cc_fcgi_stream *s)
{
    uint16_t prev = *(const uint16_t *)ctx;
    CHECK(prev != 0 && s->h.id == prev);
    CHECK(s->h.type == CC_FCGI_STDIN || s->h.type == CC_FCGI_DATA || s->h.type == CC_FCGI_PARAMS ||
          s->h.type == CC_FCGI_ABORT_REQUEST);
}

/* A request the look found is what its records say. */
static void check_request(const cc_fcgi_stream *at, uint16_t prev, const uint8_t *p, size_t n,
                          const cc_fcgi_request_view *v)
{
    CHECK(v->skip < v->params_at && v->params_at <= v->params_end && v->params_end <= n);
    CHECK(v->end == 0 || (v->params_end < v->end && v->end <= n));
    /* What it skipped: whole records of the request before, from where
     * the app is. */
    cc_fcgi_stream s = *at;
    const cc_fcgi_events left = {.end = leftover_end};
    CHECK(cc_fcgi_feed(&s, p, v->skip, &left, &prev) == v->skip);
    CHECK(cc_fcgi_at_boundary(&s));
    /* Its BEGIN_REQUEST. */
    cc_fcgi_header h;
    CHECK(n - v->skip >= 16 && cc_fcgi_header_parse(p + v->skip, &h));
    CHECK(h.type == CC_FCGI_BEGIN_REQUEST && h.id == v->id && h.id != 0 && h.content_len == 8);
    CHECK(v->params_at == v->skip + 16 + h.padding_len);
    const uint8_t *body = p + v->skip + 8;
    CHECK(v->role == (body[0] << 8 | body[1]) && v->keep == ((body[2] & 1) != 0));
    /* Its PARAMS, the last one empty. */
    size_t off = v->params_at, len = 0;
    for (;;) {
        CHECK(n - off >= 8 && cc_fcgi_header_parse(p + off, &h));
        CHECK(h.type == CC_FCGI_PARAMS && h.id == v->id);
        off += 8 + (size_t)h.content_len + h.padding_len;
        CHECK(off <= v->params_end);
        len += h.content_len;
        if (h.content_len == 0)
            break;
    }
    CHECK(off == v->params_end && len == v->params_len);
    /* Its empty STDIN, when there is an end. */
    if (v->end != 0) {
        CHECK(cc_fcgi_header_parse(p + off, &h));
        CHECK(h.type == CC_FCGI_STDIN && h.id == v->id && h.content_len == 0);
        CHECK(v->end == off + 8 + h.padding_len);
    }
    char **env;
    if (cc_fcgi_params_env(p, v, &env) == 0) {
        size_t bytes = 0;
        for (char **e = env; *e != NULL; e++) {
            const char *eq = strchr(*e, '=');
            CHECK(eq != NULL && eq > *e);
            bytes += strlen(*e);
        }
        CHECK(bytes <= v->params_len);
        free(env);
    } else {
        CHECK(env == NULL);
    }
}

static bool same_view(const cc_fcgi_request_view *a, const cc_fcgi_request_view *b)
{
    return a->skip == b->skip && a->id == b->id && a->role == b->role && a->keep == b->keep &&
           a->params_at == b->params_at && a->params_end == b->params_end &&
           a->params_len == b->params_len;
}

/* Looks at p from stream at, then at prefixes of p: each says "more" or
 * what all of p says, a request from when its head is whole. */
static void look(const cc_fcgi_stream *at, uint16_t prev, const uint8_t *p, size_t n)
{
    cc_fcgi_stream copy;
    memcpy(&copy, at, sizeof copy);
    cc_fcgi_request_view v, w;
    cc_fcgi_look what = cc_fcgi_look_at(at, prev, p, n, &v);
    CHECK(memcmp(&copy, at, sizeof copy) == 0);
    if (what == CC_FCGI_LOOK_REQUEST)
        check_request(at, prev, p, n, &v);
    if (at->broken)
        CHECK(what == CC_FCGI_LOOK_NOT_FASTCGI);
    size_t tries = n <= 256 ? n : 24;
    for (size_t i = 0; i < tries + 2; i++) {
        size_t m = i < tries ? (n <= 256 ? i : pick(p, n, i)) : 0;
        if (i >= tries) {
            if (what != CC_FCGI_LOOK_REQUEST)
                break;
            m = i == tries ? v.params_end - 1 : v.params_end;
        }
        cc_fcgi_look got = cc_fcgi_look_at(at, prev, p, m, &w);
        if (what == CC_FCGI_LOOK_REQUEST) {
            CHECK(got == (m < v.params_end ? CC_FCGI_LOOK_MORE : CC_FCGI_LOOK_REQUEST));
            if (got == CC_FCGI_LOOK_REQUEST)
                CHECK(same_view(&v, &w) && w.end == (v.end != 0 && m >= v.end ? v.end : 0));
        } else {
            CHECK(got == CC_FCGI_LOOK_MORE || got == what);
        }
    }
}

static void look_checks(const uint8_t *data, size_t size)
{
    uint16_t prevs[3] = {0, 1, 0};
    if (size >= 4)
        prevs[2] = (uint16_t)(data[2] << 8 | data[3]);
    /* From a fresh stream, and after the app read some bytes. */
    size_t reads = size <= 48 ? size + 1 : 8;
    for (size_t i = 0; i < reads; i++) {
        size_t k = size <= 48 ? i : (i == 0 ? 0 : pick(data, size, 200 + i));
        cc_fcgi_stream s = {0};
        size_t took = cc_fcgi_feed(&s, data, k, NULL, NULL);
        for (int j = 0; j < 3; j++)
            look(&s, prevs[j], data + took, size - took);
    }
}

/* ---- framing ------------------------------------------------------------------------ */

typedef struct framed {
    uint8_t type;
    uint16_t id;
    size_t records;
    cc_buf content;
} framed;

static void framed_header(void *ctx, const cc_fcgi_stream *s)
{
    framed *f = ctx;
    f->records++;
    CHECK(s->h.padding_len == 0 && s->h.content_len <= CC_FCGI_MAX_CONTENT);
    if (f->type != 0)
        CHECK(s->h.type == f->type && s->h.id == f->id && s->h.content_len > 0);
}

static void framed_content(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    (void)s;
    cc_buf_append(&((framed *)ctx)->content, p, n);
}

static const cc_fcgi_events framed_events = {.header = framed_header, .content = framed_content};

static void frame_check(const uint8_t *data, size_t size, uint8_t type, uint16_t id)
{
    cc_buf out = {0};
    cc_fcgi_frame(&out, type, id, data, size);
    CHECK(!out.failed);
    framed f = {type, id, 0, {0}};
    cc_fcgi_stream s = {0};
    CHECK(cc_fcgi_feed(&s, (const uint8_t *)out.data, out.len, &framed_events, &f) == out.len);
    CHECK(cc_fcgi_at_boundary(&s));
    CHECK(f.records == (size + CC_FCGI_MAX_CONTENT - 1) / CC_FCGI_MAX_CONTENT);
    CHECK(f.content.len == size && (size == 0 || memcmp(f.content.data, data, size) == 0));
    cc_buf_free(&f.content);
    /* The end of its stream and of its request. */
    uint32_t status = size >= 4 ? (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                                      (uint32_t)data[2] << 8 | data[3]
                                : (uint32_t)size;
    size_t at = out.len;
    cc_fcgi_frame_empty(&out, type, id);
    cc_fcgi_frame_end(&out, id, status, (uint8_t)(size % 4));
    CHECK(out.len == at + 24);
    cc_fcgi_header h;
    const uint8_t *p = (const uint8_t *)out.data + at;
    CHECK(cc_fcgi_header_parse(p, &h) && h.type == type && h.id == id && h.content_len == 0);
    CHECK(cc_fcgi_header_parse(p + 8, &h) && h.type == CC_FCGI_END_REQUEST && h.id == id &&
          h.content_len == 8 && h.padding_len == 0);
    CHECK(((uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19]) == status);
    CHECK(p[20] == size % 4 && p[21] == 0 && p[22] == 0 && p[23] == 0);
    cc_buf_free(&out);
}

static void frame_checks(const uint8_t *data, size_t size)
{
    uint8_t type = size > 0 ? (uint8_t)(1 + data[size - 1] % 11) : CC_FCGI_STDOUT;
    uint16_t id = size > 1 ? (uint16_t)(data[0] << 8 | data[1]) : 1;
    frame_check(data, size, type, id);
    /* Now and then, past one record: the input over and over. */
    if (size > 0 && data[0] == 0xfe) {
        size_t big = CC_FCGI_MAX_CONTENT + 1 + size * 17;
        uint8_t *b = malloc(big);
        for (size_t i = 0; i < big; i++)
            b[i] = data[i % size];
        frame_check(b, big, type, id);
        free(b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream_checks(data, size);
    look_checks(data, size);
    frame_checks(data, size);
    return 0;
}
