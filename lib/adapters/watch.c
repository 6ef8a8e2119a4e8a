/* watch.c -- says so, once, when routes are configured but this process
 * serves requests cgicache never sees.
 *
 * The adapters meet requests in two places only: libfcgi's accept calls
 * (fcgi.c) and a CGI environment at load (cgi.c).  A process that speaks
 * FastCGI by itself -- PHP's own code in php-fpm and `php-cgi -b`, a
 * pure-Python or pure-Ruby FastCGI server, a libfcgi linked in statically
 * -- accepts its connections through libc and is never followed: nothing
 * is cached and, without this file, nothing says so.  So accept() and
 * accept4() are interposed: the first call in a process that has routes
 * and in which no adapter has become active (cc_preload_active) logs one
 * warning.  libfcgi's own accept() is called from inside FCGX_Accept_r,
 * after the adapter became active, so a libfcgi app never warns.
 *
 * The cost is a flag load and an indirect call per accept; the real
 * functions are found with dlsym(RTLD_NEXT), which from a preloaded
 * library is libc's (or a sanitizer's, preloaded ahead of us), never an
 * accept the app defines.  errno and the result pass through untouched. */
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>

#include "engine.h"
#include "interpose.h"
#include "log.h"

#define EXPORT __attribute__((visibility("default")))

static int checked;

static void check_once(int fd)
{
    if (__atomic_exchange_n(&checked, 1, __ATOMIC_ACQ_REL))
        return;
    const cc_config *cfg = cc_engine_config();
    if (!cfg->enabled || cfg->nroutes == 0 || cc_preload_active())
        return;
    int saved = errno;
    cc_warn("routes are configured, but %s accepts connections itself (fd %d), not through "
            "libfcgi: "
            "its requests are not cached (`cgicache check -- PROGRAM ARGS` says why)",
            program_invocation_short_name, fd);
    errno = saved;
}

/* The real function, resolved once; ENOSYS if libc has none (never). */
static void *real(void *volatile *slot, const char *name)
{
    void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = dlsym(RTLD_NEXT, name);
        __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    static void *volatile slot;
    int (*fn)(int, struct sockaddr *, socklen_t *) = real(&slot, "accept");
    if (!__atomic_load_n(&checked, __ATOMIC_RELAXED))
        check_once(fd);
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return fn(fd, addr, len);
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    static void *volatile slot;
    int (*fn)(int, struct sockaddr *, socklen_t *, int) = real(&slot, "accept4");
    if (!__atomic_load_n(&checked, __ATOMIC_RELAXED))
        check_once(fd);
    if (fn == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return fn(fd, addr, len, flags);
}
