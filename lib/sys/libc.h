/* libc.h -- the libc the library calls.
 *
 * The library runs inside someone else's program, and ld.so binds a
 * preloaded library's calls to the first definition in the global scope:
 * the program's own.  cgit, for one, defines a write() that only works
 * after its main() ran; the CGI tee and the logger, which write from the
 * constructor, crashed in it.  So the system calls the library (and the
 * hiredis and zstd code linked into it) makes are defined a second time
 * inside the library, hidden (lib/libc.c): the static linker binds every
 * call in libcgicache.so to those, and they call the functions libc.so.6
 * itself defines, looked up once in libc's own handle.  No call site
 * changes; a module written tomorrow gets libc's write() without knowing.
 *
 * malloc and friends are deliberately not among them: an app that
 * replaces the allocator (jemalloc, tcmalloc, a debugging malloc) means
 * every allocation in the process, glibc's own included, to be its own;
 * and memory glibc allocates for us (getaddrinfo) is freed with the
 * process's free.  Calling around the app's malloc would split the heap.
 * Pure functions (memcpy, strlen, snprintf ...) are left alone: an app's
 * version of those has the same meaning or the app is already broken. */
#ifndef CGICACHE_LIBC_H
#define CGICACHE_LIBC_H

/* Resolves every function from libc.so.6.  Runs as the library's first
 * constructor; each wrapper also calls it if it is somehow reached
 * earlier.  Safe to call any number of times, from any thread. */
void cc_libc_init(void);

#endif
