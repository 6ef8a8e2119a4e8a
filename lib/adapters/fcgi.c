/* fcgi.c -- the FastCGI adapter: libfcgi's functions, interposed.
 *
 * Accept wrappers ask the engine about each new request; a hit is answered
 * and finished right there and the wrapper accepts the next one, so the
 * app never sees it.  On a request the engine wants to follow, the
 * request's out stream is registered, and every write the app makes to it
 * goes through the engine (which injects the status header and keeps a
 * copy); finishing the request lets the engine store it.
 *
 * Debian's libfcgi calls its own exported functions through the PLT, so
 * FCGX_Accept_r, FCGX_Finish_r, FCGX_PutStr and FCGX_PutChar see every
 * request and byte.  Builds linked with -Bsymbolic-functions bind those
 * calls internally, so the outer entry points (FCGX_Accept, FCGI_Accept,
 * the printf family ...) are wrapped too.  Only the outermost wrapped call
 * acts: a thread-local depth counter is raised around every call into the
 * real libfcgi, so the writes FCGX_VFPrintF makes per piece, and the
 * protocol records FCGX_FClose and FCGX_Finish_r push, are never seen
 * twice nor captured.
 *
 * A background refresh (a stale or early-due hit whose lock this worker
 * won) is answered from the cache first and finished, so the client has
 * its response; then the accept wrapper hands the app the same request
 * again, with a copy of its params, an empty input stream and output
 * streams that discard: the app recomputes the page, the engine captures
 * and stores it, and nobody waits for it.
 *
 * Followed streams are kept in a lock-free table (followed.c), not per
 * thread: with FCGX_Request a threaded app may accept a request on one
 * thread and answer it on another, and a per-thread list would let those
 * writes slip past the capture into a stored page that lacks them.  The
 * table needs no lock, so a write that is not followed costs the load of
 * the thread-local depth and one or two loads from a table line nobody
 * writes unless a stream hashing there is followed; nothing is allocated
 * for it.  And no lock is ever held across the app's code, so a fork from
 * any thread leaves the child nothing to deadlock on. */
#define NO_FCGI_DEFINES
#include <fcgi_stdio.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "followed.h"
#include "interpose.h"
#include "log.h"

#define EXPORT __attribute__((visibility("default")))
/* The printf family, wrapped: the format is the app's, checked as one. */
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

/* ---- followed streams ----------------------------------------------------- */

/* The request the app answers for a background refresh: streams that
 * read nothing and write nowhere, and a copy of the params. */
typedef struct refresh {
    FCGX_Stream in, out, err;
    unsigned char inbuf[1], outbuf[4096];
    FCGX_Request *r;        /* the request whose fields point here, or NULL */
    cc_txn *txn;
    char **envp;
} refresh;

typedef struct followed {
    FCGX_Stream *out;
    cc_txn *txn;
    refresh *rf;            /* set for a background refresh */
    bool close_failed;      /* the app closed the stream before finishing */
    cc_buf last_words;      /* what goes out if the app dies before its head */
    pthread_t thread;       /* ... on the thread that accepted it */
    pid_t pid;              /* ... in this process, not a child forked since */
} followed;

static void arm_last_words(followed *f);

static void free_followed(followed *f)
{
    cc_buf_free(&f->last_words);
    free(f);
}
/* initial-exec: the library is preloaded, so its thread-locals sit in
 * static TLS, and every wrapped call reads depth without a
 * __tls_get_addr call. */
#define HOT_TLS _Thread_local __attribute__((tls_model("initial-exec")))
static HOT_TLS int depth;
/* The stream of the last FCGX_Accept (the non-reentrant API) on this thread. */
static HOT_TLS FCGX_Stream *last_accept_out;

bool cc_fcgi_inside(void)
{
    return depth > 0;
}

static void follow(FCGX_Stream *out, cc_txn *txn, refresh *rf)
{
    followed *f = calloc(1, sizeof *f);
    if (f == NULL) {
        /* Cannot follow: let the request run unobserved, never stored. */
        cc_engine_finish(txn, false);
        return;
    }
    f->out = out;
    f->txn = txn;
    f->rf = rf;
    if (rf == NULL)
        arm_last_words(f);
    if (!cc_followed_add(out, f)) {
        cc_engine_finish(txn, false);   /* the table is full: as above */
        free_followed(f);
    }
}

/* The followed record of stream, or NULL.  With unlink, it is removed. */
static followed *find(FCGX_Stream *out, bool unlink)
{
    return unlink ? cc_followed_take(out) : cc_followed_get(out);
}

/* A write from the app that the engine should see: only at depth 0 (not
 * from inside libfcgi) and only on a followed stream. */
static followed *observed(FCGX_Stream *out)
{
    return depth == 0 ? find(out, false) : NULL;
}

/* ---- calling the real libfcgi ------------------------------------------------ */

#define CALL_REAL(fn, ...)                                                       \
    ({                                                                           \
        depth++;                                                                 \
        __typeof__(CC_REAL(fn)(__VA_ARGS__)) result_ = CC_REAL(fn)(__VA_ARGS__); \
        depth--;                                                                 \
        result_;                                                                 \
    })

#define CALL_REAL_VOID(fn, ...)   \
    do {                          \
        depth++;                  \
        CC_REAL(fn)(__VA_ARGS__); \
        depth--;                  \
    } while (0)

static int sink_write(void *ctx, const char *data, size_t len)
{
    FCGX_Stream *out = ctx;
    while (len > 0) {
        int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
        if (CALL_REAL(FCGX_PutStr, data, chunk, out) != chunk)
            return -1;
        data += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

static cc_sink sink_of(const followed *f)
{
    return f->rf != NULL ? cc_engine_discard : (cc_sink){sink_write, f->out};
}

static int write_followed(followed *f, const char *data, size_t len)
{
    cc_sink sink = sink_of(f);
    return cc_engine_write(f->txn, &sink, data, len);
}

/* ---- background refresh ---------------------------------------------------- */

static void discard_buffer(FCGX_Stream *stream, int doClose)
{
    (void)doClose;
    stream->wrNext = stream->stopUnget;   /* the buffer's start */
}

static void end_of_input(FCGX_Stream *stream)
{
    stream->isClosed = 1;
}

static void writer_init(FCGX_Stream *s, unsigned char *buf, size_t len)
{
    memset(s, 0, sizeof *s);
    s->wrNext = s->stopUnget = buf;
    s->stop = buf + len;
    s->emptyBuffProc = discard_buffer;
}

/* A refresh request for params envp, or NULL when out of memory.  The
 * params are copied in one allocation: the originals are freed when the
 * client's request is finished. */
static refresh *refresh_new(char **envp, cc_txn *txn)
{
    size_t n = 0, bytes = 0;
    for (; envp[n] != NULL; n++)
        bytes += strlen(envp[n]) + 1;
    refresh *rf = calloc(1, sizeof *rf + (n + 1) * sizeof(char *) + bytes);
    if (rf == NULL)
        return NULL;
    rf->envp = (char **)(rf + 1);
    char *text = (char *)(rf->envp + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(envp[i]) + 1;
        rf->envp[i] = memcpy(text, envp[i], len);
        text += len;
    }
    memset(&rf->in, 0, sizeof rf->in);
    rf->in.rdNext = rf->in.stop = rf->in.stopUnget = rf->inbuf;
    rf->in.isReader = 1;
    rf->in.fillBuffProc = end_of_input;
    writer_init(&rf->out, rf->outbuf, sizeof rf->outbuf);
    /* err shares out's buffer: both are thrown away. */
    writer_init(&rf->err, rf->outbuf, sizeof rf->outbuf);
    rf->txn = txn;
    cc_engine_rebind(txn, rf->envp);
    return rf;
}

/* Detaches a finished refresh from the request it was lent to. */
static void refresh_end(refresh *rf)
{
    if (rf->r != NULL) {
        rf->r->in = rf->r->out = rf->r->err = NULL;
        rf->r->envp = NULL;
    }
    free(rf);
}

PRINTF_LIKE(2, 0) static int vformat_followed(followed *f, const char *fmt, va_list ap)
{
    char small[1024];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    int rc = -1;
    if (n < 0) {
        rc = -1;
    } else if ((size_t)n < sizeof small) {
        rc = write_followed(f, small, (size_t)n) == 0 ? n : -1;
    } else {
        char *big = malloc((size_t)n + 1);
        if (big != NULL && vsnprintf(big, (size_t)n + 1, fmt, again) == n)
            rc = write_followed(f, big, (size_t)n) == 0 ? n : -1;
        free(big);
    }
    va_end(again);
    return rc;
}

/* ---- ending a followed request ---------------------------------------------- */

/* Ends the followed request on out (if any) around finish_real, which
 * really finishes it: the engine sends any held head, the stream is closed
 * so that its success is known, the request is finished, and only then is
 * the response stored, so storing never delays the client. */
static void end_followed(FCGX_Stream *out, void (*finish_real)(void *), void *arg)
{
    followed *f = depth == 0 ? find(out, true) : NULL;
    bool completed = false;
    if (f != NULL) {
        cc_sink sink = sink_of(f);
        completed = cc_engine_end_output(f->txn, &sink) == 0 && !f->close_failed &&
                    (f->rf != NULL || CALL_REAL(FCGX_FClose, out) == 0);
        if (f->rf != NULL) {
            /* The client's request was finished before the refresh began;
             * the real finish below then has nothing left to do. */
            refresh_end(f->rf);
        }
    }
    depth++;
    finish_real(arg);
    depth--;
    if (f != NULL) {
        cc_engine_finish(f->txn, completed);
        free_followed(f);
    }
}

static bool is_followed(FCGX_Stream *out)
{
    return find(out, false) != NULL;
}

static void finish_r_real(void *r)
{
    CC_REAL(FCGX_Finish_r)(r);
}
static void finish_real(void *unused)
{
    (void)unused;
    CC_REAL(FCGX_Finish)();
}
static void fcgi_finish_real(void *unused)
{
    (void)unused;
    CC_REAL(FCGI_Finish)();
}

/* fcgi_stdio's stdout, &_fcgi_sF[1].  An app that uses the stdout macro
 * usually holds a copy-relocated _fcgi_sF of its own, which libfcgi then
 * uses too: the first definition in global scope (RTLD_DEFAULT) is the
 * live one, not the next after us (RTLD_NEXT finds libfcgi's unused
 * original).  When libfcgi was loaded privately (lfcgi, with RTLD_LOCAL)
 * nothing in the global scope has it: libfcgi's own is the live one. */
static FCGI_FILE *fcgi_stdout(void)
{
    static FCGI_FILE *volatile files;
    if (files == NULL)
        files = cc_fcgi_data("_fcgi_sF");
    return files != NULL ? &files[1] : NULL;
}

static FCGX_Stream *fcgi_stdout_stream(void)
{
    FCGI_FILE *f = fcgi_stdout();
    return f != NULL ? f->fcgx_stream : NULL;
}

/* ---- an app that dies mid-request -------------------------------------------- */

/* A request with a stored copy to fall back on (stale-if-error) whose app
 * dies by a fatal signal before any of its answer went out gets that
 * copy: built when the request was accepted (a dying process can build
 * nothing), written by the signal handler through libfcgi's stream,
 * which then closes the request, before the signal takes its course.
 * Only requests this thread accepted, in this process, whose answer has
 * not begun: another thread's stream may be in use, and a child forked
 * since shares the parent's connections.  The handler is installed for
 * a signal only where the app left the default action. */
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

static void say_last_words(void *value)
{
    followed *f = value;
    if (f->last_words.len == 0 || f->rf != NULL || f->pid != getpid() ||
        !pthread_equal(f->thread, pthread_self()) || !cc_engine_unanswered(f->txn))
        return;
    depth++;
    if (CC_REAL(FCGX_PutStr)(f->last_words.data, (int)f->last_words.len, f->out) >= 0)
        CC_REAL(FCGX_FClose)(f->out);
    depth--;
    static const char said[] = "cgicache: the app died before its answer; the stored copy "
                               "was sent instead (stale-if-error)\n";
    /* The system call itself: nothing between it and the kernel to be
     * unsafe in a signal handler. */
    syscall(SYS_write, STDERR_FILENO, said, sizeof said - 1);
}

static void on_fatal_signal(int sig)
{
    cc_followed_each(say_last_words);
    /* SA_RESETHAND put the default action back: the signal ends the
     * process as it would have without the library. */
    raise(sig);
}

static void install_fatal_handlers(void)
{
    static atomic_int installed;
    if (atomic_exchange(&installed, 1) != 0)
        return;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = (int)(SA_RESETHAND | SA_NODEFER);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        if (sigaction(fatal_signals[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL)
            sigaction(fatal_signals[i], &sa, NULL);
}

static void arm_last_words(followed *f)
{
    if (!cc_engine_last_words(f->txn, &f->last_words))
        return;
    if (f->last_words.len > (1u << 30)) {
        cc_buf_free(&f->last_words);
        return;
    }
    f->thread = pthread_self();
    f->pid = getpid();
    install_fatal_handlers();
}

/* ---- accepting ------------------------------------------------------------------ */

/* Decides for a freshly accepted request.  Returns true when it was
 * answered from the cache: the caller finishes it, then either lends the
 * app *rf (a background refresh) or accepts the next request. */
static bool answered_from_cache(FCGX_Stream *out, char **envp, refresh **rf)
{
    *rf = NULL;
    if (out == NULL || envp == NULL)
        return false;
    cc_txn *txn = NULL;
    cc_buf hit = {0};
    switch (cc_engine_begin(envp, &txn, &hit)) {
    case CC_ACT_PASS:
        return false;
    case CC_ACT_RUN:
        follow(out, txn, NULL);
        return false;
    case CC_ACT_SERVE:
        sink_write(out, hit.data, hit.len);
        cc_buf_free(&hit);
        if (txn != NULL && (*rf = refresh_new(envp, txn)) == NULL)
            cc_engine_finish(txn, false);    /* no memory: skip the refresh */
        return true;
    }
    return false;
}

static void on_first_accept(void)
{
    static atomic_int activated;
    if (atomic_exchange(&activated, 1) == 0) {
        cc_preload_remove_self();
        cc_engine_long_lived();
    }
}

EXPORT int FCGX_Accept_r(FCGX_Request *r)
{
    if (depth > 0)
        return CC_REAL(FCGX_Accept_r)(r);
    on_first_accept();
    if (is_followed(r->out))
        FCGX_Finish_r(r);   /* ours: ends the followed previous request */
    for (;;) {
        refresh *rf;
        int rc = CALL_REAL(FCGX_Accept_r, r);
        if (rc < 0 || !answered_from_cache(r->out, r->envp, &rf))
            return rc;
        CALL_REAL_VOID(FCGX_Finish_r, r);
        if (rf != NULL) {
            rf->r = r;
            r->in = &rf->in;
            r->out = &rf->out;
            r->err = &rf->err;
            r->envp = rf->envp;
            follow(&rf->out, rf->txn, rf);
            return 0;
        }
    }
}

EXPORT void FCGX_Finish_r(FCGX_Request *r)
{
    if (r == NULL)
        return;
    end_followed(r->out, finish_r_real, r);
}

EXPORT void FCGX_Free(FCGX_Request *r, int close)
{
    if (r != NULL && depth == 0) {
        /* Freed without a finish: the app abandoned the response. */
        followed *f = find(r->out, true);
        if (f != NULL) {
            if (f->rf != NULL) {
                refresh_end(f->rf);
            } else {
                /* Ended all the same: whatever the app changed before it
                 * gave up is purged (the bytes go where libfcgi's own
                 * unflushed ones go: nowhere). */
                cc_sink sink = sink_of(f);
                cc_engine_end_output(f->txn, &sink);
            }
            cc_engine_finish(f->txn, false);
            free_followed(f);
        }
    }
    CALL_REAL_VOID(FCGX_Free, r, close);
}

EXPORT int FCGX_Accept(FCGX_Stream **in, FCGX_Stream **out, FCGX_Stream **err,
                       FCGX_ParamArray *envp)
{
    if (depth > 0)
        return CC_REAL(FCGX_Accept)(in, out, err, envp);
    on_first_accept();
    if (is_followed(last_accept_out))
        FCGX_Finish();
    for (;;) {
        refresh *rf;
        int rc = CALL_REAL(FCGX_Accept, in, out, err, envp);
        last_accept_out = rc >= 0 ? *out : NULL;
        if (rc < 0 || !answered_from_cache(*out, *envp, &rf))
            return rc;
        CALL_REAL_VOID(FCGX_Finish);
        if (rf != NULL) {
            *in = &rf->in;
            *out = last_accept_out = &rf->out;
            *err = &rf->err;
            *envp = rf->envp;
            follow(&rf->out, rf->txn, rf);
            return 0;
        }
    }
}

EXPORT void FCGX_Finish(void)
{
    FCGX_Stream *out = last_accept_out;
    last_accept_out = NULL;
    end_followed(out, finish_real, NULL);
}

EXPORT int FCGI_Accept(void)
{
    if (depth > 0)
        return CC_REAL(FCGI_Accept)();
    on_first_accept();
    if (is_followed(fcgi_stdout_stream()))
        FCGI_Finish();
    for (;;) {
        refresh *rf;
        int rc = CALL_REAL(FCGI_Accept);
        if (rc < 0)
            return rc;
        /* In CGI mode (no FastCGI socket) fcgx_stream is NULL: not ours. */
        FCGI_FILE *out = fcgi_stdout();
        if (out == NULL || !answered_from_cache(out->fcgx_stream, environ, &rf))
            return rc;
        CALL_REAL_VOID(FCGI_Finish);
        if (rf != NULL) {
            /* stdin, stdout, stderr; the real FCGI_Finish resets them
             * and environ again. */
            FCGI_FILE *files = out - 1;
            files[0].fcgx_stream = &rf->in;
            files[1].fcgx_stream = &rf->out;
            files[2].fcgx_stream = &rf->err;
            environ = rf->envp;
            follow(&rf->out, rf->txn, rf);
            return 0;
        }
    }
}

EXPORT void FCGI_Finish(void)
{
    end_followed(fcgi_stdout_stream(), fcgi_finish_real, NULL);
}

/* ---- the app's writes ------------------------------------------------------------- */

EXPORT int FCGX_PutStr(const char *str, int n, FCGX_Stream *stream)
{
    followed *f = n > 0 ? observed(stream) : NULL;
    if (f == NULL)
        return CALL_REAL(FCGX_PutStr, str, n, stream);
    return write_followed(f, str, (size_t)n) == 0 ? n : -1;
}

EXPORT int FCGX_PutChar(int c, FCGX_Stream *stream)
{
    followed *f = observed(stream);
    if (f == NULL)
        return CALL_REAL(FCGX_PutChar, c, stream);
    char byte = (char)c;
    return write_followed(f, &byte, 1) == 0 ? (unsigned char)c : EOF;
}

EXPORT int FCGX_PutS(const char *str, FCGX_Stream *stream)
{
    followed *f = observed(stream);
    if (f == NULL)
        return CALL_REAL(FCGX_PutS, str, stream);
    size_t n = strlen(str);
    return write_followed(f, str, n) == 0 ? (int)n : -1;
}

PRINTF_LIKE(2, 0) EXPORT int FCGX_VFPrintF(FCGX_Stream *stream, const char *format, va_list arg)
{
    followed *f = observed(stream);
    if (f == NULL)
        return CALL_REAL(FCGX_VFPrintF, stream, format, arg);
    return vformat_followed(f, format, arg);
}

PRINTF_LIKE(2, 3) EXPORT int FCGX_FPrintF(FCGX_Stream *stream, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int n = FCGX_VFPrintF(stream, format, ap);
    va_end(ap);
    return n;
}

EXPORT int FCGX_FClose(FCGX_Stream *stream)
{
    followed *f = observed(stream);
    if (f == NULL)
        return CALL_REAL(FCGX_FClose, stream);
    /* Closed before the finish: whatever was written goes out now, but
     * the response is never stored -- an app that closes early may be
     * cutting its answer short, and later writes are lost. */
    cc_sink sink = sink_of(f);
    cc_engine_end_output(f->txn, &sink);
    f->close_failed = true;
    return CALL_REAL(FCGX_FClose, stream);
}

/* ---- fcgi_stdio -------------------------------------------------------------------- */

static followed *observed_file(FCGI_FILE *fp)
{
    return fp != NULL && fp->stdio_stream == NULL ? observed(fp->fcgx_stream) : NULL;
}

PRINTF_LIKE(2, 0) EXPORT int FCGI_vfprintf(FCGI_FILE *fp, const char *format, va_list ap)
{
    followed *f = observed_file(fp);
    if (f == NULL)
        return CALL_REAL(FCGI_vfprintf, fp, format, ap);
    return vformat_followed(f, format, ap);
}

PRINTF_LIKE(2, 3) EXPORT int FCGI_fprintf(FCGI_FILE *fp, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int n = FCGI_vfprintf(fp, format, ap);
    va_end(ap);
    return n;
}

PRINTF_LIKE(1, 0) EXPORT int FCGI_vprintf(const char *format, va_list ap)
{
    return FCGI_vfprintf(fcgi_stdout(), format, ap);
}

PRINTF_LIKE(1, 2) EXPORT int FCGI_printf(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int n = FCGI_vfprintf(fcgi_stdout(), format, ap);
    va_end(ap);
    return n;
}

EXPORT size_t FCGI_fwrite(void *ptr, size_t size, size_t nmemb, FCGI_FILE *fp)
{
    followed *f = observed_file(fp);
    if (f == NULL)
        return CALL_REAL(FCGI_fwrite, ptr, size, nmemb, fp);
    if (size == 0 || nmemb == 0)
        return 0;
    return write_followed(f, ptr, size * nmemb) == 0 ? nmemb : 0;
}

EXPORT int FCGI_fputs(const char *str, FCGI_FILE *fp)
{
    followed *f = observed_file(fp);
    if (f == NULL)
        return CALL_REAL(FCGI_fputs, str, fp);
    return write_followed(f, str, strlen(str)) == 0 ? 0 : EOF;
}

EXPORT int FCGI_puts(const char *str)
{
    followed *f = observed_file(fcgi_stdout());
    if (f == NULL)
        return CALL_REAL(FCGI_puts, str);
    return write_followed(f, str, strlen(str)) == 0 && write_followed(f, "\n", 1) == 0 ? 0 : EOF;
}

EXPORT int FCGI_fputc(int c, FCGI_FILE *fp)
{
    followed *f = observed_file(fp);
    if (f == NULL)
        return CALL_REAL(FCGI_fputc, c, fp);
    char byte = (char)c;
    return write_followed(f, &byte, 1) == 0 ? (unsigned char)c : EOF;
}

EXPORT int FCGI_putchar(int c)
{
    return FCGI_fputc(c, fcgi_stdout());
}
