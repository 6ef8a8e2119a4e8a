/* alloc.c -- the library's malloc: libc's own, never the app's.
 *
 * Legacy apps define malloc, free and friends themselves (debugging
 * allocators, pools), and some only work once main() has run -- but the
 * CGI adapter answers from a constructor, before main.  So, as libc.c
 * does for system calls, the library (hiredis and zstd, linked in,
 * included) gets hidden definitions of its own that call glibc's
 * __libc_malloc family.  What the library allocates it frees, and it
 * hands no allocation to libc to free, nor frees libc's (route.c does not
 * use strdup for that reason), so the two allocators never meet.
 *
 * Under AddressSanitizer the library keeps the process's malloc, which
 * is ASan's: its checks are worth more there than this guarantee. */
#include <stddef.h>
#include <stdlib.h>

#if !defined(__SANITIZE_ADDRESS__)

#define HIDDEN __attribute__((visibility("hidden")))

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

HIDDEN void *malloc(size_t size)
{
    return __libc_malloc(size);
}
HIDDEN void *calloc(size_t n, size_t size)
{
    return __libc_calloc(n, size);
}
HIDDEN void *realloc(void *p, size_t size)
{
    return __libc_realloc(p, size);
}
HIDDEN void free(void *p)
{
    __libc_free(p);
}

#endif
