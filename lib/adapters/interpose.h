/* interpose.h -- finding the real definitions of the symbols we wrap.
 *
 * Resolved lazily, once per symbol: dlsym(RTLD_NEXT) finds libfcgi when
 * the app links it; when it finds nothing (Perl's FCGI.so loads
 * libfcgi.so.0 with RTLD_LOCAL, out of the global scope) the already
 * loaded libfcgi.so.0 is looked up directly with RTLD_NOLOAD.  Nothing in
 * libcgicache.so refers to libfcgi at link time, so it loads into any
 * process, including CGI scripts that never heard of FastCGI. */
#ifndef CGICACHE_INTERPOSE_H
#define CGICACHE_INTERPOSE_H

#include <stdbool.h>

/* Returns the next definition of name, caching it in *slot. */
void *cc_real_symbol(void *volatile *slot, const char *name);

/* name as defined in the global scope (RTLD_DEFAULT: an app's
 * copy-relocated variable is the live one), else in a libfcgi.so.0 loaded
 * privately; NULL if neither has it.  For libfcgi's data, not cached. */
void *cc_fcgi_data(const char *name);

/* real(fn) yields a pointer to the real fn, typed like fn.  Once found,
 * it is one load: the wrappers call it for every write of the app. */
#define CC_REAL(fn)                                                                 \
    ({                                                                              \
        static void *volatile slot_##fn;                                            \
        void *real_ = __atomic_load_n(&slot_##fn, __ATOMIC_ACQUIRE);                \
        (__typeof__(&fn))(real_ != NULL ? real_ : cc_real_symbol(&slot_##fn, #fn)); \
    })

/* Once cgicache is active in a process (it accepts requests or is a CGI
 * request), programs it starts must not load it again: removes
 * libcgicache from LD_PRELOAD by editing environ directly (the shell's own
 * setenv/unsetenv may be the ones interposed in this process). */
void cc_preload_remove_self(void);

/* Whether cc_preload_remove_self has run: an adapter has met a request
 * (a libfcgi accept, or a CGI request at load) in this process. */
int cc_preload_active(void);

/* True while this thread is inside libfcgi, called by the libfcgi
 * adapter (fcgi.c): a connection libfcgi accepts is that adapter's, and
 * the wire adapter (wire.c) leaves it alone. */
bool cc_fcgi_inside(void);

#endif
