/* cgi.c -- caching plain CGI programs, from a constructor.
 *
 * A CGI program runs once per request with the request in its environment
 * and answers on stdout.  When libcgicache.so is preloaded into it, this
 * runs before the program's main() (or the interpreter's):
 *
 *   hit   the cached response is written to stdout and the process exits 0;
 *         the program never runs;
 *   miss  the process forks.  The child returns from here and runs the
 *         program with stdout on a pipe; the original process, the one the
 *         web server waits for, becomes the tee: it forwards every byte to
 *         the real stdout as it comes (the head with X-Cache-Status
 *         injected), keeps a copy, and when the program has exited 0 with a
 *         cacheable response, stores it.  It then ends as the program did;
 *   refresh  a stale (or early-due) hit whose refresh lock this process won:
 *         the cached response is written and stdout is let go, so the
 *         client has its answer at once; then the program runs as on a
 *         miss, its output captured and stored but sent nowhere.
 *
 * The output is captured at the file descriptor because glibc's stdio
 * writes through an internal write() no interposer sees, and a script's
 * interpreter may write any way it likes.  The child is the program (not
 * the tee) so that a program that wait()s for its own children is not
 * surprised by one more.  A CGI process always takes libcgicache out of
 * LD_PRELOAD first: a `cat` run by a shell script inherits the request's
 * environment and must not answer the request from the cache itself. */
#include "cgi.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "interpose.h"
#include "log.h"
#include "request.h"
#include "store.h"

/* How long a CGI process, its response sent, keeps retrying a purge that
 * Redis could not take: no worker lives on to retry it later. */
#define CC_CGI_SETTLE_MS 5000

static volatile pid_t program_pid;
/* Set once the program's whole response went out (its stdout reached EOF
 * and was passed on): from then on a signal from the server is not a
 * reason to cut the program short. */
static volatile sig_atomic_t response_delivered;
/* The transaction the tee is forwarding: the signal handler asks it
 * whether the whole Content-Length is out, since a server may SIGTERM
 * the moment its last byte arrives, before the tee's next statement.  The
 * engine counts bytes before it sends them, so it never answers late. */
static cc_txn *volatile teeing;
static volatile sig_atomic_t deferred_signal;

/* How long a program that has delivered its response may go on after
 * the server's SIGTERM before it gets the signal after all.  A background
 * refresh, whose client had its answer before the program started, may
 * go on as long as it may hold the key's lock (CGICACHE_LOCK_TTL). */
#define EXIT_GRACE_S 5
static unsigned grace_s = EXIT_GRACE_S;

static int fd_write(void *ctx, const char *data, size_t len)
{
    int fd = *(int *)ctx;
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w > 0) {
            data += w;
            len -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

/* A FastCGI app (fd 0 a listening socket) is not a CGI request, whatever
 * its environment says: the FastCGI adapter handles it. */
static bool is_cgi_request(void)
{
    if (cc_env_get(environ, "GATEWAY_INTERFACE") == NULL ||
        cc_env_get(environ, "REQUEST_METHOD") == NULL)
        return false;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening)
        return false;
    return true;
}

/* The server's signals go to the program while it is answering.  Once
 * the response is delivered they are held: lighttpd's mod_cgi sends
 * SIGTERM as soon as it reads the end of a CGI's output, and a program
 * that is still finishing then (fossil writes its page, then closes its
 * repository) would die by it and its entry be thrown away.  A program
 * still running grace_s later gets the signal after all (SIGALRM). */
static void forward_signal(int sig)
{
    if (sig == SIGALRM) {
        sig = deferred_signal;
    } else if (response_delivered || (teeing != NULL && cc_engine_output_complete(teeing))) {
        if (deferred_signal == 0) {
            deferred_signal = sig;
            alarm(grace_s);
        }
        return;
    }
    if (sig != 0 && program_pid > 0)
        kill(program_pid, sig);
}

/* The signals the tee handles, and what the program is to find them set
 * to (as the server left them). */
static const int tee_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGALRM, SIGPIPE};
static struct sigaction program_actions[sizeof tee_signals / sizeof tee_signals[0]];

static void forward_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof tee_signals / sizeof tee_signals[0]; i++) {
        /* A client gone away must not kill the tee before it reaps the
         * program: SIGPIPE is ignored, the others forwarded. */
        sa.sa_handler = tee_signals[i] == SIGPIPE ? SIG_IGN : forward_signal;
        sigaction(tee_signals[i], &sa, &program_actions[i]);
    }
}

/* In the program (a child forked after forward_signals): the server's
 * dispositions back, and no alarm of the tee's. */
static void restore_signals(void)
{
    for (size_t i = 0; i < sizeof tee_signals / sizeof tee_signals[0]; i++)
        sigaction(tee_signals[i], &program_actions[i], NULL);
    alarm(0);
}

/* Ends this process the way the program ended: same exit code, or the
 * same fatal signal. */
__attribute__((noreturn)) static void end_like(int status)
{
    /* The store was sent, not waited for; a purge Redis could not take
     * yet is retried a while (pending.h). */
    cc_engine_settle(CC_CGI_SETTLE_MS);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

/* Waits for the program; returns its wait status. */
static int reap_program(void)
{
    int status = 0;
    while (waitpid(program_pid, &status, 0) < 0 && errno == EINTR)
        ;
    /* Reaped: a held signal must not reach whoever gets the pid next. */
    alarm(0);
    program_pid = 0;
    return status;
}

static bool exited_well(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The tee: forwards the program's output to sink, then stores and exits.
 * With a stored copy to fall back on (stale-if-error), the output is
 * held until the program has exited: a non-zero exit or a signal then
 * sends the stored copy instead. */
__attribute__((noreturn)) static void run_tee(cc_txn *txn, int from_program, cc_sink sink)
{
    bool delivered = true, held = cc_engine_hold_to_end(txn);
    int status = 0;
    /* Static, not on the stack (the library keeps its frames small): the
     * tee is a process of its own, with this one thread. */
    static char buf[64 * 1024];
    teeing = txn;
    for (;;) {
        ssize_t n = read(from_program, buf, sizeof buf);
        if (n > 0) {
            if (cc_engine_write(txn, &sink, buf, (size_t)n) != 0) {
                /* The client is gone: let the program meet the closed pipe
                 * as it would have met the closed stdout. */
                delivered = false;
                break;
            }

        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    close(from_program);
    if (held) {
        status = reap_program();
        if (!exited_well(status))
            cc_engine_app_failed(txn);
    }
    /* Ended even when the client went away: the program's write happened
     * all the same, and ending the output is what sends its purge. */
    if (cc_engine_end_output(txn, &sink) != 0)
        delivered = false;
    /* The server sees the end of the response now, not after the store. */
    response_delivered = delivered;
    teeing = NULL;
    close(STDOUT_FILENO);
    if (!held)
        status = reap_program();
    bool completed = delivered && exited_well(status);
    cc_engine_finish(txn, completed);
    end_like(status);
}

static int stdout_fd = STDOUT_FILENO;
static const cc_sink stdout_sink = {fd_write, &stdout_fd};

static int answer_hit(cc_buf *hit)
{
    int rc = fd_write(&stdout_fd, hit->data, hit->len);
    cc_buf_free(hit);
    return rc;
}

/* Lets go of the client's stdout: the server sees the response end. */
static void release_stdout(void)
{
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    } else {
        close(STDOUT_FILENO);
    }
}

void cc_cgi_on_load(void)
{
    if (!is_cgi_request())
        return;
    cc_preload_remove_self();
    cc_txn *txn = NULL;
    cc_buf hit = {0};
    cc_action action = cc_engine_begin(environ, &txn, &hit);
    if (action == CC_ACT_PASS)
        return;
    cc_sink sink = stdout_sink;
    if (action == CC_ACT_SERVE) {
        int rc = answer_hit(&hit);
        if (txn == NULL || rc != 0) {
            cc_engine_finish(txn, false);
            cc_store_settle();
            _exit(rc == 0 ? 0 : 1);
        }
        /* A refresh: the client has its answer, and the server signals
         * as soon as stdout is let go, before the program even starts;
         * it may go on as long as it may hold the key's lock. */
        int64_t ttl_s = (cc_engine_config()->lock_ttl_ms + 999) / 1000;
        if (ttl_s > EXIT_GRACE_S)
            grace_s = ttl_s > 3600 ? 3600 : (unsigned)ttl_s;
        response_delivered = 1;
        forward_signals();
        release_stdout();
        sink = cc_engine_discard;
    }

    int pipe_fds[2];
    pid_t pid = -1;
    if (pipe2(pipe_fds, O_CLOEXEC) == 0 && (pid = fork()) < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
    }
    if (pid < 0) {
        /* Cannot capture: the program answers alone (a refresh is dropped:
         * the client already has its answer). */
        cc_engine_finish(txn, false);
        if (sink.write != stdout_sink.write) {
            cc_store_settle();
            _exit(0);
        }
        return;
    }
    if (pid == 0) {
        /* The program: stdout becomes the pipe; the transaction belongs
         * to the tee. */
        dup2(pipe_fds[1], STDOUT_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        if (sink.write != stdout_sink.write)
            restore_signals();
        cc_engine_forget(txn);
        return;
    }
    program_pid = pid;
    close(pipe_fds[1]);
    if (sink.write == stdout_sink.write)
        forward_signals();      /* a refresh installed them before */
    run_tee(txn, pipe_fds[0], sink);
}
