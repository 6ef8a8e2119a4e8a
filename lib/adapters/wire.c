/* wire.c -- the wire adapter: FastCGI on the app's own sockets.
 *
 * PHP (php-fpm, php-cgi -b) and FastCGI servers written in Perl, Python,
 * Ruby or Lua speak the protocol themselves; what they share is libc.  So
 * the calls a server makes on its connections are interposed:
 *
 *   accept, accept4  a connection is followed from its first read on, in
 *                    every process with routes, unless the libfcgi adapter
 *                    is the one accepting (one adapter owns a connection);
 *   read family      before the app reads a new request, the bytes waiting
 *                    on the socket are looked at with MSG_PEEK, without
 *                    taking them: a connection whose first record is not a
 *                    FastCGI BEGIN_REQUEST is let go at once, and for good.
 *                    Once a request's head is there, the engine decides:
 *                    pass or run: the app reads its request unchanged;
 *                    hit: the answer goes out as STDOUT records and an
 *                    END_REQUEST, the request is taken off the socket, and
 *                    the app's read goes on to the next request (keep-alive)
 *                    or finds the connection ended, as if the request had
 *                    never come.  Afterwards, what the app reads is counted
 *                    through its records, so the next request's start is
 *                    known, and an ABORT_REQUEST is seen;
 *   write family     the records of a followed request are parsed: its
 *                    STDOUT goes through the engine (status header injected,
 *                    copy kept) and out again as records of our framing;
 *                    all else passes as it came; its END_REQUEST ends it,
 *                    and the engine stores it after that was sent;
 *   close, shutdown, dup2, dup3
 *                    a request the app gives up is ended (and purges) and
 *                    the connection forgotten.
 *
 * Nothing is held back from the app across calls: a look never takes a
 * byte, so poll/select/epoll answer as they would without the library,
 * and each of the app's writes is sent before it returns.  A background
 * refresh is the request itself: the client has its answer from the
 * cache, then the app answers the request again and its output goes
 * nowhere.  On a connection the server does not keep, the app reads it
 * where it is, on the socket.  On one the server keeps, its next request
 * may come at once, with the same request id: so the request is taken
 * off, and the app reads it from a connection of the cache's own (a
 * socketpair put at the app's fd number, the server's connection kept
 * aside meanwhile); once the app has answered it and read it whole, the
 * server's connection is put back, and the app's next read finds the
 * server's next request there, untouched.
 *
 * A connection is used by one thread at a time (every FastCGI server
 * does so); the table from fd to connection is lock-free. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fcgi_record.h"
#include "interpose.h"
#include "libc.h"
#include "log.h"

/* Exported under libc's names; protected, so the library's own calls to
 * them bind here too (libc.h). */
#define EXPORT __attribute__((visibility("protected")))

/* How long a look waits for the rest of a request's head once its first
 * bytes are there: a web server sends it in one go, so this is only
 * reached when something is wrong; the app then reads it itself. */
#define HEAD_WAIT_MS 1000
/* The same for a non-blocking socket, whose app must not be held. */
#define HEAD_WAIT_NONBLOCK_MS 5
/* A look starts in a buffer on the stack (a request's head is a few
 * hundred bytes to a few kilobytes) and moves to the heap when larger. */
#define LOOK_FIRST (4 * 1024)
#define LOOK_MAX (256 * 1024)
/* A followed write larger than this is sent in parts. */
#define SEND_AT (256 * 1024)

typedef enum {
    PHASE_FIRST,              /* accepted, not yet read */
    PHASE_IDLE,               /* between requests: the next read looks first */
    PHASE_ACTIVE,             /* a request is the app's */
    PHASE_PASSED,             /* not followed any more: every call goes straight
                               * through until the app lets the fd go */
} phase;

typedef struct conn {
    int fd;
    dev_t dev;                /* the socket, to tell it from what may get */
    ino_t ino;                /* its fd after a close the app made unseen */
    unsigned fork_gen;
    phase phase;
    uint16_t id;              /* the current request, or the last */
    bool keep;                /* FCGI_KEEP_CONN */
    bool begin_seen;          /* the app has read the current BEGIN_REQUEST */
    bool mux;                 /* a second request came while one was active */
    bool eof;                 /* ended by a hit: the app's reads find the end */
    bool ended;               /* the app wrote the request's END_REQUEST */
    bool completed;           /* ... with app status 0, REQUEST_COMPLETE */
    bool aborted;             /* the server sent ABORT_REQUEST */
    bool failed;              /* a send to the server failed */
    bool refresh;             /* the client had a hit: the output goes nowhere */
    bool undecided;           /* the app reads a request no look could decide */
    bool output_ended;        /* cc_engine_end_output ran */
    int send_flags;           /* MSG_NOSIGNAL when the app's own call had it */
    int send_errno;
    cc_fcgi_stream in, out;   /* what the app read, and wrote */
    cc_txn *txn;              /* the followed request, if any */
    char **envp;              /* its params */
    cc_buf pending;           /* what the app's write becomes, sent before it returns */
    struct {                  /* a refresh on a connection of the cache's own */
        bool on;              /* the app's fd is our socketpair's end */
        bool cloexec;         /* the app's fd had FD_CLOEXEC */
        int server;           /* the server's connection, kept aside */
        int ours;             /* the socketpair's other end */
        size_t unread;        /* bytes of the request the app has still to read */
        dev_t dev;            /* the server's connection's identity */
        ino_t ino;
    } aside;
} conn;

/* ---- the table: fd -> connection ------------------------------------------- */

#define CHUNK_BITS 12
#define CHUNK (1u << CHUNK_BITS)
#define MAX_FDS (1u << 20)
static _Atomic(conn *) *_Atomic chunks[MAX_FDS / CHUNK];
static atomic_uint fork_gen;
/* Followed requests this thread has in progress: more than one at a time
 * is an event loop, whose requests must not wait for each other. */
static _Thread_local unsigned in_progress;

static void forget(conn *c);
static void pass_through(conn *c);
static void aside_end(conn *c);

static _Atomic(conn *) *slot(int fd, bool create)
{
    if (fd < 0 || (unsigned)fd >= MAX_FDS)
        return NULL;
    _Atomic(conn *) *chunk = atomic_load_explicit(&chunks[fd >> CHUNK_BITS], memory_order_acquire);
    if (chunk == NULL && create) {
        _Atomic(conn *) *fresh = calloc(CHUNK, sizeof *fresh);
        if (fresh == NULL)
            return NULL;
        if (atomic_compare_exchange_strong(&chunks[fd >> CHUNK_BITS], &chunk, fresh))
            chunk = fresh;
        else
            free(fresh);    /* another thread's chunk is in place: chunk */
    }
    return chunk != NULL ? &chunk[(unsigned)fd & (CHUNK - 1)] : NULL;
}

/* The connection followed on fd, or NULL: the cost of every call. */
static conn *tracked(int fd)
{
    _Atomic(conn *) *s = slot(fd, false);
    conn *c = s != NULL ? atomic_load_explicit(s, memory_order_acquire) : NULL;
    if (c != NULL && c->fork_gen != atomic_load_explicit(&fork_gen, memory_order_relaxed)) {
        /* Inherited across fork.  A request in progress belongs to the
         * parent (and its lock with it): the child lets the connection
         * go.  One between requests is the child's to follow now. */
        if (c->txn != NULL) {
            cc_engine_forget(c->txn);
            c->txn = NULL;      /* not counted in this process */
            pass_through(c);
        }
        c->fork_gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    }
    return c;
}

static void after_fork_in_child(void)
{
    atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
    in_progress = 0;    /* the parent's requests, let go by tracked() */
}

/* Frees c, whose request is settled: the app let its fd go. */
static void forget(conn *c)
{
    _Atomic(conn *) *s = slot(c->fd, false);
    if (s != NULL)
        atomic_store_explicit(s, NULL, memory_order_release);
    free(c->envp);
    cc_buf_free(&c->pending);
    free(c);
}

/* ---- sending ------------------------------------------------------------------- */

/* Whether c's fd is still the socket accepted.  An app may close it where
 * no interposer sees (stdio's fclose, close_range) and get the number
 * back for a file or another socket: a followed request's bytes must
 * never go there. */
static bool still_ours(const conn *c)
{
    struct stat st;
    return fstat(c->fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino;
}

/* Sends c->pending whole, waiting for a non-blocking socket as a blocking
 * one would; returns 0, or -1 (errno set, the connection failed). */
static int send_pending(conn *c)
{
    size_t off = 0;
    int rc = 0;
    if (c->pending.failed) {
        c->failed = true;
        c->send_errno = ENOMEM;
    }
    while (!c->failed && off < c->pending.len) {
        ssize_t w = cc_libc_next(send)(c->fd, c->pending.data + off, c->pending.len - off,
                                       c->send_flags);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = c->fd, .events = POLLOUT};
            poll(&p, 1, -1);
        } else {
            c->failed = true;
            c->send_errno = w < 0 ? errno : EPIPE;
        }
    }
    if (c->failed) {
        errno = c->send_errno;
        rc = -1;
    }
    c->pending.len = 0;
    c->pending.failed = 0;
    return rc;
}

/* The engine's sink for a followed request: STDOUT records on c. */
static int sink_records(void *ctx, const char *data, size_t len)
{
    conn *c = ctx;
    cc_fcgi_frame(&c->pending, CC_FCGI_STDOUT, c->id, data, len);
    if (c->pending.len >= SEND_AT && send_pending(c) != 0)
        return -1;
    return c->failed || c->pending.failed ? -1 : 0;
}

static cc_sink sink_of(conn *c)
{
    return c->refresh ? cc_engine_discard : (cc_sink){sink_records, c};
}

/* ---- a refresh on a connection of the cache's own ------------------------------ */

/* fd moved above stdio's numbers, which an app may have closed and still
 * write to as its stdout or stderr. */
static int above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    cc_libc_next(close)(fd);
    return moved;
}

/* Puts a connection of the cache's own at c's fd number, holding request
 * (len bytes: the whole request just answered from the cache, for the app
 * to answer again), and keeps the server's connection aside until the app
 * has answered it and read it whole (aside_end).  False when it cannot
 * (the request does not fit in the socket's buffer, no fd left): then
 * nothing has changed. */
static bool aside_begin(conn *c, const uint8_t *request, size_t len)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return false;
    int app_end = above_stdio(pair[0]), ours = above_stdio(pair[1]);
    int fd_flags = fcntl(c->fd, F_GETFD);
    int server = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
    struct stat st;
    bool cloexec = fd_flags >= 0 && (fd_flags & FD_CLOEXEC) != 0;
    bool done = app_end >= 0 && ours >= 0 && fd_flags >= 0 && server >= 0 &&
                cc_libc_next(send)(ours, request, len, MSG_DONTWAIT | MSG_NOSIGNAL) ==
                    (ssize_t)len &&
                fstat(app_end, &st) == 0 &&
                cc_libc_next(dup3)(app_end, c->fd, cloexec ? O_CLOEXEC : 0) == c->fd;
    if (app_end >= 0)
        cc_libc_next(close)(app_end);
    if (!done) {
        if (ours >= 0)
            cc_libc_next(close)(ours);
        if (server >= 0)
            cc_libc_next(close)(server);
        return false;
    }
    c->aside.on = true;
    c->aside.cloexec = cloexec;
    c->aside.server = server;
    c->aside.ours = ours;
    c->aside.unread = len;
    c->aside.dev = c->dev;
    c->aside.ino = c->ino;
    c->dev = st.st_dev;  /* still_ours() now means our end */
    c->ino = st.st_ino;
    return true;
}

/* Puts the server's connection back at c's fd number, and closes the
 * cache's own.  When the app closed that fd unseen (the number may be
 * another file's now), the server's connection is only closed, as the
 * app meant. */
static void aside_end(conn *c)
{
    if (!c->aside.on)
        return;
    if (still_ours(c))
        cc_libc_next(dup3)(c->aside.server, c->fd, c->aside.cloexec ? O_CLOEXEC : 0);
    cc_libc_next(close)(c->aside.server);
    cc_libc_next(close)(c->aside.ours);
    c->dev = c->aside.dev;
    c->ino = c->aside.ino;
    c->aside.on = false;
    c->aside.unread = 0;
}

/* The app read got bytes of the request aside: once it has answered it
 * and read it whole, the server's connection is back. */
static void aside_read(conn *c, size_t got)
{
    c->aside.unread -= got < c->aside.unread ? got : c->aside.unread;
    if (c->aside.unread == 0 && c->phase != PHASE_ACTIVE)
        aside_end(c);
}

/* ---- one request's end --------------------------------------------------------- */

static void reset_request(conn *c)
{
    free(c->envp);
    c->envp = NULL;
    if (c->txn != NULL && in_progress > 0)
        in_progress--;
    c->txn = NULL;
    c->ended = c->completed = c->aborted = c->refresh = c->output_ended = c->undecided = false;
    memset(&c->out, 0, sizeof c->out);
}

/* The app's output for the followed request is over: the engine sends
 * what it still holds (and purges what the request changed). */
static void end_output(conn *c)
{
    if (c->output_ended || c->txn == NULL)
        return;
    c->output_ended = true;
    cc_sink sink = sink_of(c);
    cc_engine_end_output(c->txn, &sink);
}

/* The app wrote the request's END_REQUEST (it is sent): the next request
 * may come, unless the connection ends or carries several at once. */
static void request_done(conn *c)
{
    if (c->txn != NULL)
        cc_engine_finish(c->txn, c->completed && !c->aborted && !c->failed);
    reset_request(c);
    if (c->mux || !c->keep) {
        pass_through(c);
    } else {
        c->phase = PHASE_IDLE;
        if (c->aside.unread == 0)
            aside_end(c);
    }
}

/* No more requests on c are decided (it ended, carries several at once,
 * or is not FastCGI): c is kept until the app lets its fd go, so a
 * thread still in a call on it never meets freed memory. */
static void pass_through(conn *c)
{
    if (c->txn != NULL) {
        if (!c->ended) {
            if (!c->refresh && !still_ours(c))
                c->refresh = true;    /* its output goes nowhere */
            end_output(c);
            send_pending(c);
        }
        /* Never stored: ended by something that is not FastCGI, or not
         * ended at all. */
        cc_engine_finish(c->txn, false);
    }
    reset_request(c);
    cc_buf_free(&c->pending);
    aside_end(c);
    c->phase = PHASE_PASSED;
}

/* The app let the connection go (close, shutdown, dup2 over it) with or
 * without finishing: a request in progress ends, never stored. */
static void let_go(conn *c)
{
    pass_through(c);
    forget(c);
}

/* ---- the app's reads ------------------------------------------------------------- */

static void in_record(void *ctx, const cc_fcgi_stream *s)
{
    conn *c = ctx;
    if (s->h.type == CC_FCGI_BEGIN_REQUEST && s->body_len >= 3) {
        if (c->phase != PHASE_ACTIVE || c->undecided) {
            /* A request no look decided: followed only to see it end. */
            c->phase = PHASE_ACTIVE;
            c->undecided = false;
            c->id = s->h.id;
            c->keep = (s->body[2] & CC_FCGI_KEEP_CONN) != 0;
            c->begin_seen = true;
        } else if (!c->begin_seen && s->h.id == c->id) {
            c->begin_seen = true;
        } else {
            c->mux = true;
        }
    } else if (s->h.type == CC_FCGI_ABORT_REQUEST && c->phase == PHASE_ACTIVE && s->h.id == c->id) {
        c->aborted = true;
    }
}

static const cc_fcgi_events in_events = {.end = in_record};

/* Counts what a read of the app's returned through the records. */
static void count_read(conn *c, const struct iovec *iov, int iovcnt, ssize_t got)
{
    for (int i = 0; i < iovcnt && got > 0; i++) {
        size_t n = iov[i].iov_len < (size_t)got ? iov[i].iov_len : (size_t)got;
        cc_fcgi_feed(&c->in, iov[i].iov_base, n, &in_events, c);
        got -= (ssize_t)n;
    }
    /* Not FastCGI (any more): no request on it is decided again.  One the
     * app is answering keeps its framing to its end. */
    if (c->in.broken && c->txn != NULL)
        c->mux = true;
    else if (c->in.broken)
        pass_through(c);
}

static bool nonblocking(int fd, int flags)
{
    return (flags & MSG_DONTWAIT) != 0 || (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

/* The server closed its side: what is not there yet never comes (a peek
 * cannot tell while unread bytes remain). */
static bool peer_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

typedef struct look {
    cc_fcgi_look what;
    cc_fcgi_request_view v;
    uint8_t *bytes;           /* small, or a heap copy when larger */
    size_t len;
    uint8_t small[LOOK_FIRST];
    bool eof;                 /* the server closed the connection */
    int error;                /* the peek failed with this errno */
} look;

static void look_free(look *l)
{
    if (l->bytes != l->small)
        free(l->bytes);
    l->bytes = l->small;
}

/* Peeks at what the connection holds until a request's head is whole,
 * and with until_stdin its empty STDIN too (or it is clear none is
 * coming, or waiting is over). */
static void look_ahead(conn *c, int flags, bool until_stdin, look *l)
{
    long waited_us = 0, step_us = 50, limit_us = -1;
    size_t cap = LOOK_FIRST;
    l->what = CC_FCGI_LOOK_MORE;
    l->len = 0;
    l->eof = false;
    l->error = 0;
    l->bytes = l->small;
    for (bool first = true;; first = false) {
        /* Not waiting, unless nothing at all is there yet and the app's
         * own read would wait too: then the first look blocks as it does. */
        ssize_t n = cc_libc_next(recv)(c->fd, l->bytes, cap, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && first) {
            if (nonblocking(c->fd, flags)) {
                l->error = errno;
                return;
            }
            n = cc_libc_next(recv)(c->fd, l->bytes, cap, MSG_PEEK);
        }
        if (n < 0 && errno == EINTR && !first)
            continue;
        if (n < 0 && (first || (errno != EAGAIN && errno != EWOULDBLOCK))) {
            l->error = errno;
            return;
        }
        if (n == 0) {
            l->eof = true;
            l->what = CC_FCGI_LOOK_MORE;
            return;
        }
        if (n > 0)
            l->len = (size_t)n;
        l->what = cc_fcgi_look_at(&c->in, c->phase == PHASE_IDLE ? c->id : 0, l->bytes, l->len,
                                  &l->v);
        /* The head is whole; the empty STDIN a hit needs, to take the
         * request off, may still be coming. */
        bool stdin_due = until_stdin && l->what == CC_FCGI_LOOK_REQUEST && l->v.end == 0 &&
                         l->len - l->v.params_end < CC_FCGI_HEADER_LEN;
        if (l->what != CC_FCGI_LOOK_MORE && !stdin_due)
            return;
        /* Only the rest of the request before (an unread STDIN): the
         * next may not come for a long time, and the app reads that. */
        if (l->what == CC_FCGI_LOOK_MORE && !l->v.begun)
            return;
        if (l->len == cap) {
            uint8_t *bigger = cap < LOOK_MAX ? malloc(cap * 4) : NULL;
            if (bigger == NULL)
                return;         /* too large to look at: the app reads it */
            look_free(l);
            l->bytes = bigger;
            cap *= 4;
            continue;
        }
        if (limit_us < 0)
            limit_us = 1000L * (nonblocking(c->fd, flags) ? HEAD_WAIT_NONBLOCK_MS : HEAD_WAIT_MS);
        if (waited_us >= limit_us || peer_closed(c->fd))
            return;
        pause_us(step_us);
        waited_us += step_us;
        step_us = step_us < 1000 ? step_us * 2 : 1000;
    }
}

/* Takes n bytes the look saw off the socket (they are there). */
static int take(conn *c, uint8_t *scratch, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t r = cc_libc_next(read)(c->fd, scratch + off, n - off);
        if (r > 0)
            off += (size_t)r;
        else if (!(r < 0 && errno == EINTR))
            return -1;
    }
    cc_fcgi_feed(&c->in, scratch, n, NULL, NULL);
    return 0;
}

typedef enum {
    READ_GO,                  /* the app's read goes ahead */
    READ_EOF,                 /* the app's read finds the end */
    READ_AGAIN,               /* answered: look at the next request */
    READ_FAIL,                /* the app's read fails with errno */
} read_step;

/* Answers the request the look found from the cache (hit.data); with a
 * refresh, the app then answers it again for the cache alone. */
static read_step serve(conn *c, int flags, look *l, cc_buf *hit, cc_txn *refresh, char **envp)
{
    cc_fcgi_frame(&c->pending, CC_FCGI_STDOUT, c->id, hit->data, hit->len);
    cc_fcgi_frame_empty(&c->pending, CC_FCGI_STDOUT, c->id);
    cc_fcgi_frame_end(&c->pending, c->id, 0, CC_FCGI_REQUEST_COMPLETE);
    cc_buf_free(hit);
    int sent = send_pending(c);
    if (refresh != NULL && sent == 0 && !c->keep) {
        /* The app reads the request where it is.  A server that ends a
         * response only when the connection closes (nginx without
         * fastcgi_keep_conn) is told now: its client must not wait for
         * the refresh. */
        c->txn = refresh;
        c->envp = envp;
        c->refresh = true;
        in_progress++;
        cc_libc_next(shutdown)(c->fd, SHUT_WR);
        return READ_GO;
    }
    /* On a kept connection the server's next request may come at once,
     * with the same id: the app reads the request from a connection of
     * our own.  Not for an app whose reads do not wait (an event loop
     * would watch the fd's readiness, which the swap would change): there
     * the stale copy is served without a refresh, the lock released. */
    bool taken = take(c, l->bytes, l->v.end) == 0;
    if (refresh != NULL && sent == 0 && taken && in_progress == 0 && !nonblocking(c->fd, flags) &&
        aside_begin(c, l->bytes, l->v.end)) {
        c->txn = refresh;
        c->envp = envp;
        c->refresh = true;
        in_progress++;
        return READ_GO;
    }
    cc_engine_skip_refresh(refresh);
    free(envp);
    c->phase = PHASE_IDLE;
    if (!taken || sent != 0 || !c->keep) {
        c->eof = true;
        return READ_EOF;
    }
    return READ_AGAIN;
}

/* The engine's decision on the request a look found.  A hit needs the
 * request's end (its empty STDIN) on the socket, to take it off: a web
 * server that sends it apart (Apache) is waited for, briefly. */
static read_step decide(conn *c, int flags, look *l)
{
    char **envp;
    c->phase = PHASE_ACTIVE;
    c->id = l->v.id;
    c->keep = l->v.keep;
    c->begin_seen = false;
    if (l->v.role != CC_FCGI_RESPONDER || cc_fcgi_params_env(l->bytes, &l->v, &envp) != 0)
        return READ_GO;
    cc_preload_remove_self();
    cc_engine_long_lived();
    cc_txn *txn = NULL;
    cc_buf hit = {0};
    cc_action action = in_progress > 0 ? cc_engine_begin_shared(envp, &txn, &hit)
                                       : cc_engine_begin(envp, &txn, &hit);
    switch (action) {
    case CC_ACT_PASS:
        break;
    case CC_ACT_RUN:
        c->txn = txn;
        c->envp = envp;
        in_progress++;
        return READ_GO;
    case CC_ACT_SERVE:
        if (l->v.end == 0 && l->len - l->v.params_end < CC_FCGI_HEADER_LEN) {
            look_free(l);
            look_ahead(c, flags, true, l);
        }
        if (l->what == CC_FCGI_LOOK_REQUEST && l->v.end != 0 && l->v.id == c->id)
            return serve(c, flags, l, &hit, txn, envp);
        /* The request has a body, or its end did not come: it cannot be
         * taken off the connection, so the app answers it. */
        cc_buf_free(&hit);
        cc_engine_finish(txn, false);
        break;
    }
    free(envp);
    return READ_GO;
}

/* Before an app's read on c: looks at a request that begins here, and
 * decides it. */
static read_step before_read(conn *c, int flags)
{
    if (c->phase == PHASE_ACTIVE)
        return READ_GO;
    if (c->eof)
        return READ_EOF;
    for (;;) {
        look l;
        read_step step = READ_GO;
        look_ahead(c, flags, false, &l);
        if (l.error != 0) {
            step = READ_FAIL;
        } else if (l.what == CC_FCGI_LOOK_NOT_FASTCGI) {
            pass_through(c);
        } else if (l.what == CC_FCGI_LOOK_OTHER) {
            c->phase = PHASE_IDLE;  /* FastCGI, a management record first */
        } else if (l.what == CC_FCGI_LOOK_REQUEST) {
            step = decide(c, flags, &l);
        } else if (l.what == CC_FCGI_LOOK_MORE && l.v.begun && !l.eof) {
            cc_debug("fd %d: a request's head did not arrive whole in time; the app reads it",
                     c->fd);
            /* No more looks until its BEGIN_REQUEST is read. */
            c->phase = PHASE_ACTIVE;
            c->undecided = true;
        }
        look_free(&l);
        if (step == READ_FAIL)
            errno = l.error;
        if (step != READ_AGAIN)
            return step;
    }
}

/* The app's read on fd, done by real with the bytes landing in iov. */
#define FOLLOWED_READ(fd, flags, iov, iovcnt, real_call)                    \
    do {                                                                    \
        conn *c_ = tracked(fd);                                             \
        if (c_ == NULL || c_->phase == PHASE_PASSED)                        \
            return real_call;                                               \
        int saved_ = errno;                                                 \
        switch (before_read(c_, (flags))) {                                 \
        case READ_EOF:                                                      \
            return 0;                                                       \
        case READ_FAIL:                                                     \
            return -1;                                                      \
        default:                                                            \
            break;                                                          \
        }                                                                   \
        errno = saved_;                                                     \
        ssize_t got_ = real_call;                                           \
        if (c_->phase != PHASE_PASSED && got_ > 0 && !((flags)&MSG_PEEK)) { \
            int after_ = errno;                                             \
            count_read(c_, (iov), (iovcnt), got_);                          \
            if (c_->aside.on)                                               \
                aside_read(c_, (size_t)got_);                               \
            errno = after_;                                                 \
        }                                                                   \
        return got_;                                                        \
    } while (0)

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    struct iovec one = {buf, n};
    FOLLOWED_READ(fd, 0, &one, 1, cc_libc_next(read)(fd, buf, n));
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    FOLLOWED_READ(fd, 0, iov, iovcnt, cc_libc_next(readv)(fd, iov, iovcnt));
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    struct iovec one = {buf, n};
    FOLLOWED_READ(fd, flags, &one, 1, cc_libc_next(recv)(fd, buf, n, flags));
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
                        socklen_t *from_len)
{
    struct iovec one = {buf, n};
    FOLLOWED_READ(fd, flags, &one, 1, cc_libc_next(recvfrom)(fd, buf, n, flags, from, from_len));
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    FOLLOWED_READ(fd, flags, msg->msg_iov, (int)msg->msg_iovlen,
                  cc_libc_next(recvmsg)(fd, msg, flags));
}

/* ---- the app's writes --------------------------------------------------------------- */

static bool is_ours(const conn *c, const cc_fcgi_stream *s)
{
    return !c->ended && s->h.id == c->id &&
           (c->refresh || s->h.type == CC_FCGI_STDOUT || s->h.type == CC_FCGI_END_REQUEST);
}

static void out_header(void *ctx, const cc_fcgi_stream *s)
{
    conn *c = ctx;
    if (!is_ours(c, s))
        cc_buf_append(&c->pending, s->raw, CC_FCGI_HEADER_LEN);
}

static void out_content(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    conn *c = ctx;
    if (!is_ours(c, s)) {
        cc_buf_append(&c->pending, p, n);
    } else if (s->h.type == CC_FCGI_STDOUT && !c->output_ended) {
        cc_sink sink = sink_of(c);
        cc_engine_write(c->txn, &sink, (const char *)p, n);
    }
}

static void out_padding(void *ctx, const cc_fcgi_stream *s, const uint8_t *p, size_t n)
{
    conn *c = ctx;
    if (!is_ours(c, s))
        cc_buf_append(&c->pending, p, n);
}

static void out_record(void *ctx, const cc_fcgi_stream *s)
{
    conn *c = ctx;
    if (!is_ours(c, s))
        return;
    if (s->h.type == CC_FCGI_STDOUT && s->h.content_len == 0) {
        end_output(c);
        if (!c->refresh)
            cc_fcgi_frame_empty(&c->pending, CC_FCGI_STDOUT, c->id);
    } else if (s->h.type == CC_FCGI_END_REQUEST) {
        uint32_t app_status = 1;
        uint8_t protocol = 0xff;
        if (s->body_len >= 5) {
            app_status = (uint32_t)s->body[0] << 24 | (uint32_t)s->body[1] << 16 |
                         (uint32_t)s->body[2] << 8 | s->body[3];
            protocol = s->body[4];
        }
        end_output(c);
        if (!c->refresh)
            cc_fcgi_frame_end(&c->pending, c->id, app_status, protocol);
        c->completed = app_status == 0 && protocol == CC_FCGI_REQUEST_COMPLETE;
        c->ended = true;
    }
}

static const cc_fcgi_events out_events = {out_header, out_content, out_padding, out_record};

static void passed_record(void *ctx, const cc_fcgi_stream *s)
{
    conn *c = ctx;
    if (s->h.type == CC_FCGI_END_REQUEST && s->h.id == c->id)
        c->ended = true;
}

static const cc_fcgi_events passed_events = {.end = passed_record};

/* The app's bytes on a followed request: parsed, re-framed, sent.
 * Returns what the app's call returns. */
static ssize_t write_followed(conn *c, const struct iovec *iov, int iovcnt, int flags)
{
    size_t total = 0;
    c->send_flags = flags & MSG_NOSIGNAL;
    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        total += n;
        if (c->out.broken) {
            cc_buf_append(&c->pending, p, n);
            continue;
        }
        size_t took = cc_fcgi_feed(&c->out, p, n, &out_events, c);
        if (c->out.broken) {
            /* Not FastCGI: from here on the bytes go out as they are,
             * after whatever the engine still held. */
            end_output(c);
            cc_buf_append(&c->pending, c->out.raw, CC_FCGI_HEADER_LEN);
            cc_buf_append(&c->pending, p + took, n - took);
            cc_warn("fd %d: the app wrote something that is not a FastCGI record; "
                    "passed on as it is",
                    c->fd);
        }
    }
    if (c->ended && c->out.raw_len > 0 && c->out.raw_len < CC_FCGI_HEADER_LEN)
        /* The start of a record after the request's end (another request
         * on a multiplexed connection): it goes out as it came. */
        cc_buf_append(&c->pending, c->out.raw, c->out.raw_len);
    int rc = send_pending(c);
    int saved = errno;
    if (c->out.broken)
        pass_through(c);
    else if (c->ended)
        request_done(c);
    errno = saved;
    return rc == 0 ? (ssize_t)total : -1;
}

/* The app's write on fd: followed ones re-framed, others counted. */
#define FOLLOWED_WRITE(fd, flags, iov, iovcnt, real_call)                                          \
    do {                                                                                           \
        conn *c_ = tracked(fd);                                                                    \
        if (c_ == NULL || c_->phase != PHASE_ACTIVE)                                               \
            return real_call;                                                                      \
        if (c_->txn != NULL && still_ours(c_))                                                     \
            return write_followed(c_, (iov), (iovcnt), (flags));                                   \
        if (c_->txn != NULL) {                                                                     \
            /* Not the connection any more: the request ends unseen. */                            \
            c_->refresh = true;                                                                    \
            pass_through(c_);                                                                      \
            return real_call;                                                                      \
        }                                                                                          \
        ssize_t put_ = real_call;                                                                  \
        if (put_ > 0) {                                                                            \
            int saved_ = errno;                                                                    \
            ssize_t left_ = put_;                                                                  \
            for (int i_ = 0; i_ < (iovcnt) && left_ > 0; i_++) {                                   \
                size_t n_ = (iov)[i_].iov_len < (size_t)left_ ? (iov)[i_].iov_len : (size_t)left_; \
                cc_fcgi_feed(&c_->out, (iov)[i_].iov_base, n_, &passed_events, c_);                \
                left_ -= (ssize_t)n_;                                                              \
            }                                                                                      \
            if (c_->out.broken)                                                                    \
                pass_through(c_);                                                                  \
            else if (c_->ended)                                                                    \
                request_done(c_);                                                                  \
            errno = saved_;                                                                        \
        }                                                                                          \
        return put_;                                                                               \
    } while (0)

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    struct iovec one = {(void *)(uintptr_t)buf, n};
    FOLLOWED_WRITE(fd, 0, &one, 1, cc_libc_next(write)(fd, buf, n));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    FOLLOWED_WRITE(fd, 0, iov, iovcnt, cc_libc_next(writev)(fd, iov, iovcnt));
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    struct iovec one = {(void *)(uintptr_t)buf, n};
    FOLLOWED_WRITE(fd, flags, &one, 1, cc_libc_next(send)(fd, buf, n, flags));
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
                      socklen_t to_len)
{
    struct iovec one = {(void *)(uintptr_t)buf, n};
    FOLLOWED_WRITE(fd, flags, &one, 1, cc_libc_next(sendto)(fd, buf, n, flags, to, to_len));
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    FOLLOWED_WRITE(fd, flags, msg->msg_iov, (int)msg->msg_iovlen,
                   cc_libc_next(sendmsg)(fd, msg, flags));
}

/* A file sent on a followed connection is read and written here, so its
 * records are parsed like any other bytes. */
static ssize_t sendfile_followed(int out, int in, off_t *offset, size_t count)
{
    enum { PIECE = 64 * 1024 };
    char *buf = malloc(PIECE);
    if (buf == NULL) {
        errno = ENOMEM;
        return -1;
    }
    size_t done = 0;
    ssize_t rc = 0;
    while (done < count) {
        size_t want = count - done < PIECE ? count - done : PIECE;
        ssize_t r = offset != NULL ? pread(in, buf, want, *offset)
                                   : cc_libc_next(read)(in, buf, want);
        if (r <= 0) {
            rc = r;
            break;
        }
        if (write(out, buf, (size_t)r) != r) {
            rc = -1;
            break;
        }
        if (offset != NULL)
            *offset += r;
        done += (size_t)r;
    }
    free(buf);
    return done > 0 ? (ssize_t)done : rc;
}

EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
    conn *c = tracked(out);
    if (c == NULL || c->phase != PHASE_ACTIVE)
        return cc_libc_next(sendfile)(out, in, offset, count);
    return sendfile_followed(out, in, offset, count);
}

/* ---- connections begin and end ------------------------------------------------------ */

static void wire_init(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static void follow_accepted(int fd)
{
    const cc_config *cfg = cc_engine_config();
    if (!cfg->enabled || cfg->nroutes == 0 || cc_fcgi_inside())
        return;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, wire_init);
    _Atomic(conn *) *s = slot(fd, true);
    if (s == NULL)
        return;
    conn *old = atomic_load_explicit(s, memory_order_acquire);
    if (old != NULL) {
        /* Its fd was closed behind our back (stdio, close_range) and is
         * this new connection now: what the old request still held goes
         * nowhere, never to this client. */
        old->refresh = true;
        let_go(old);
    }
    struct stat st;
    conn *c = fstat(fd, &st) == 0 ? calloc(1, sizeof *c) : NULL;
    if (c == NULL)
        return;
    c->fd = fd;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->fork_gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    atomic_store_explicit(s, c, memory_order_release);
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int c = cc_libc_next(accept)(fd, addr, len);
    if (c >= 0) {
        int saved = errno;
        follow_accepted(c);
        errno = saved;
    }
    return c;
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int c = cc_libc_next(accept4)(fd, addr, len, flags);
    if (c >= 0) {
        int saved = errno;
        follow_accepted(c);
        errno = saved;
    }
    return c;
}

/* Lets go of the connection on fd, if followed, keeping errno. */
static void release(int fd)
{
    conn *c = tracked(fd);
    if (c != NULL) {
        int saved = errno;
        let_go(c);
        errno = saved;
    }
}

EXPORT int close(int fd)
{
    release(fd);
    return cc_libc_next(close)(fd);
}

EXPORT int shutdown(int fd, int how)
{
    release(fd);
    return cc_libc_next(shutdown)(fd, how);
}

EXPORT int dup2(int from, int to)
{
    if (from != to)
        release(to);
    return cc_libc_next(dup2)(from, to);
}

EXPORT int dup3(int from, int to, int flags)
{
    if (from != to) /* dup3 refuses that, and to stays as it was */
        release(to);
    return cc_libc_next(dup3)(from, to, flags);
}
