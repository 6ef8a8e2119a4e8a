/* libc.h -- the libc the library calls.
 *
 * The library runs inside someone else's program, and ld.so binds a
 * preloaded library's calls to the first definition in the global scope:
 * the program's own.  cgit, for one, defines a write() that only works
 * after its main() ran; the CGI tee and the logger, which write from the
 * constructor, crashed in it.  So the system calls the library (and the
 * hiredis and zstd code linked into it) makes are defined a second time
 * inside the library, hidden (lib/sys/libc.c): the static linker binds
 * every call in libcgicache.so to those, and they call the functions the
 * objects after the library define (libc), looked up once.  No call site
 * changes; a module written tomorrow gets libc's write() without knowing.
 *
 * malloc and friends likewise (lib/sys/alloc.c): apps define their own
 * (pools, debugging allocators), some usable only after main, and a CGI
 * is answered before main.  The library's heap is glibc's, kept apart:
 * what it allocates it frees, it never frees what libc allocated for it,
 * and it asks libc for nothing that libc would allocate with the app's
 * malloc and it would free (no strdup; a numeric Redis address is read
 * without getaddrinfo).
 * Pure functions (memcpy, strlen, snprintf ...) are left alone: an app's
 * version of those has the same meaning or the app is already broken. */
#ifndef CGICACHE_LIBC_H
#define CGICACHE_LIBC_H

/* Resolves every function from libc.so.6.  Runs as the library's first
 * constructor; each wrapper also calls it if it is somehow reached
 * earlier.  Safe to call any number of times, from any thread. */
void cc_libc_init(void);

/* The calls lib/adapters/wire.c interposes: defined in the library once,
 * exported under libc's names with protected visibility, so the app's
 * calls and the library's own (hiredis's too) reach the same wrapper,
 * which passes whatever is not a FastCGI connection it follows straight
 * to libc's definition, cc_libc_next(fn). */
/* clang-format off */
#define CC_LIBC_INTERPOSED(X)                                                  \
    X(accept) X(accept4) X(read) X(readv) X(recv) X(recvfrom) X(recvmsg)      \
    X(write) X(writev) X(send) X(sendto) X(sendmsg) X(sendfile) X(close)      \
    X(shutdown) X(dup2) X(dup3)
/* clang-format on */
#define CC_LIBC_AS_ENUM(fn) CC_LIBC_##fn,
enum { CC_LIBC_INTERPOSED(CC_LIBC_AS_ENUM) CC_LIBC_INTERPOSED_COUNT };

extern void *volatile cc_libc_interposed_slots[CC_LIBC_INTERPOSED_COUNT]
    __attribute__((visibility("hidden")));
extern volatile int cc_libc_resolved __attribute__((visibility("hidden")));

/* libc's fn (one of CC_LIBC_INTERPOSED), typed like its declaration. */
#define cc_libc_next(fn)                                                    \
    ((__typeof__(&fn))(__atomic_load_n(&cc_libc_resolved, __ATOMIC_ACQUIRE) \
                           ? cc_libc_interposed_slots[CC_LIBC_##fn]         \
                           : (cc_libc_init(), cc_libc_interposed_slots[CC_LIBC_##fn])))

#endif
