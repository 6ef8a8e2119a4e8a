/* libc.c -- the libc the library calls: hidden definitions of the system
 * calls the library makes, each forwarding to libc.so.6's own.
 *
 * See libc.h for why.  The calls the wire adapter interposes are only
 * looked up here (CC_LIBC_INTERPOSED, in libc.h): their definitions in
 * the library are the adapter's exported ones, which the library's own
 * calls bind to as well, and which reach libc through cc_libc_next.
 * The functions are found with dlsym(RTLD_NEXT),
 * which searches the objects loaded after this library (libc among them)
 * and never the program.  All are resolved at once,
 * by the library's first constructor, so a wrapper's cost is one load and
 * an indirect call.  Resolution is idempotent: two threads racing to do
 * it store the same pointers. */
#undef _FORTIFY_SOURCE   /* the headers' inline read() etc. would clash */
#include "libc.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* Every libc function the library reaches through here, once. */
/* clang-format off */
#define CC_LIBC_FUNCTIONS(X)                                                   \
    X(open) X(pipe2) X(fcntl) X(poll) X(nanosleep) X(fstat)                    \
    X(socket) X(socketpair) X(connect) X(bind) X(setsockopt) X(getsockopt)     \
    X(getaddrinfo) X(freeaddrinfo) X(fork) X(waitpid) X(_exit) X(getpid)       \
    X(kill) X(raise) X(alarm) X(signal) X(sigaction) X(sigprocmask) X(getrandom)        \
    X(clock_gettime)

/* clang-format on */
#define AS_ENUM(fn) LIBC_##fn,
#define AS_NAME(fn) #fn,
enum { CC_LIBC_FUNCTIONS(AS_ENUM) LIBC_COUNT };
static const char *const names[LIBC_COUNT] = {CC_LIBC_FUNCTIONS(AS_NAME)};
static void *volatile slots[LIBC_COUNT];
static const char *const interposed_names[CC_LIBC_INTERPOSED_COUNT] = {CC_LIBC_INTERPOSED(AS_NAME)};
void *volatile cc_libc_interposed_slots[CC_LIBC_INTERPOSED_COUNT];
volatile int cc_libc_resolved;
#define resolved cc_libc_resolved

__attribute__((constructor(101))) void cc_libc_init(void)
{
    if (__atomic_load_n(&resolved, __ATOMIC_ACQUIRE))
        return;
    /* RTLD_NEXT: the objects loaded after this library, libc among
     * them, and never the program (it comes first).  dlopen("libc.so.6",
     * RTLD_NOLOAD) would name libc exactly, but the loader allocates for
     * it with the process's malloc -- the app's, perhaps not usable
     * before its main. */
    for (int i = 0; i < LIBC_COUNT; i++)
        __atomic_store_n(&slots[i], dlsym(RTLD_NEXT, names[i]), __ATOMIC_RELAXED);
    for (int i = 0; i < CC_LIBC_INTERPOSED_COUNT; i++)
        __atomic_store_n(&cc_libc_interposed_slots[i], dlsym(RTLD_NEXT, interposed_names[i]),
                         __ATOMIC_RELAXED);
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
}

/* libc's fn, typed like the declaration in its header. */
#define REAL(fn)                                                    \
    ((__typeof__(&fn))(__atomic_load_n(&resolved, __ATOMIC_ACQUIRE) \
                           ? slots[LIBC_##fn]                       \
                           : (cc_libc_init(), slots[LIBC_##fn])))

/* One line a wrapper, kept that way: the list reads as a table. */
/* clang-format off */
HIDDEN int pipe2(int fds[2], int flags) { return REAL(pipe2)(fds, flags); }
HIDDEN int poll(struct pollfd *fds, nfds_t n, int timeout) { return REAL(poll)(fds, n, timeout); }
HIDDEN int nanosleep(const struct timespec *req, struct timespec *rem) { return REAL(nanosleep)(req, rem); }
HIDDEN int fstat(int fd, struct stat *st) { return REAL(fstat)(fd, st); }

/* open and fcntl take their third argument only for some flags or
 * commands; passing it always is what libc's own variadic callers do. */
HIDDEN int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    bool needs_mode = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
    mode_t mode = needs_mode ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    return REAL(open)(path, flags, mode);
}

HIDDEN int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);   /* an int or a pointer: same register */
    va_end(ap);
    return REAL(fcntl)(fd, cmd, arg);
}

HIDDEN int socket(int domain, int type, int protocol) { return REAL(socket)(domain, type, protocol); }
HIDDEN int socketpair(int domain, int type, int protocol, int fds[2]) { return REAL(socketpair)(domain, type, protocol, fds); }
HIDDEN int connect(int fd, const struct sockaddr *sa, socklen_t len) { return REAL(connect)(fd, sa, len); }
HIDDEN int bind(int fd, const struct sockaddr *sa, socklen_t len) { return REAL(bind)(fd, sa, len); }
HIDDEN int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    return REAL(setsockopt)(fd, level, name, value, len);
}
HIDDEN int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
    return REAL(getsockopt)(fd, level, name, value, len);
}
HIDDEN int getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    return REAL(getaddrinfo)(host, service, hints, res);
}
HIDDEN void freeaddrinfo(struct addrinfo *res) { REAL(freeaddrinfo)(res); }

HIDDEN pid_t fork(void) { return REAL(fork)(); }
HIDDEN pid_t waitpid(pid_t pid, int *status, int options) { return REAL(waitpid)(pid, status, options); }
HIDDEN void _exit(int status)
{
    REAL(_exit)(status);
    __builtin_unreachable();
}
HIDDEN pid_t getpid(void) { return REAL(getpid)(); }
HIDDEN int kill(pid_t pid, int sig) { return REAL(kill)(pid, sig); }
HIDDEN int raise(int sig) { return REAL(raise)(sig); }
HIDDEN unsigned alarm(unsigned seconds) { return REAL(alarm)(seconds); }
HIDDEN sighandler_t signal(int sig, sighandler_t handler) { return REAL(signal)(sig, handler); }
HIDDEN int sigaction(int sig, const struct sigaction *sa, struct sigaction *old)
{
    return REAL(sigaction)(sig, sa, old);
}
HIDDEN int sigprocmask(int how, const sigset_t *set, sigset_t *old) { return REAL(sigprocmask)(how, set, old); }
HIDDEN ssize_t getrandom(void *buf, size_t n, unsigned flags) { return REAL(getrandom)(buf, n, flags); }
HIDDEN int clock_gettime(clockid_t id, struct timespec *ts) { return REAL(clock_gettime)(id, ts); }
/* clang-format on */
