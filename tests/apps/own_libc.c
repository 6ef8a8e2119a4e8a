/* own_libc.c -- an app that defines its own write, read and close, as
 * cgit does, and its own malloc, calloc, realloc and free, as apps with a
 * pool allocator do: they are the app's, not libc's, and only work once
 * main() ran.  A call that reaches them before main, or from libcgicache at any
 * time, aborts the process: the library must use libc's, whatever the app
 * defines.  After main they forward to the kernel, so libfcgi (which does
 * bind to them) keeps working.
 *
 * The same binary is a CGI program and a FastCGI app (fcgi_stdio's
 * FCGI_Accept answers once in CGI mode).  It counts its runs in
 * APP_COUNTER and prints the request URI and its pid. */
#include <dlfcn.h>
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int main_ran;

/* Aborts when the caller is not the app's own code at a time it expects. */
static void check_caller(const char *what, void *caller)
{
    Dl_info info;
    if (!main_ran) {
        static const char msg[] = "own_libc: called before main\n";
        syscall(SYS_write, 2, msg, sizeof msg - 1);
        abort();
    }
    if (dladdr(caller, &info) != 0 && info.dli_fname != NULL &&
        strstr(info.dli_fname, "libcgicache") != NULL) {
        syscall(SYS_write, 2, "own_libc: libcgicache called the app's ", 39);
        syscall(SYS_write, 2, what, strlen(what));
        syscall(SYS_write, 2, "\n", 1);
        abort();
    }
}

ssize_t write(int fd, const void *buf, size_t n)
{
    check_caller("write", __builtin_return_address(0));
    return syscall(SYS_write, fd, buf, n);
}

ssize_t read(int fd, void *buf, size_t n)
{
    check_caller("read", __builtin_return_address(0));
    return syscall(SYS_read, fd, buf, n);
}

int close(int fd)
{
    check_caller("close", __builtin_return_address(0));
    return (int)syscall(SYS_close, fd);
}

/* The app's allocator: a bump arena, usable only once main ran (as a pool
 * an app sets up in main would be).  Each block keeps its size in front,
 * for realloc; free returns nothing. */
static _Alignas(16) char arena[64 << 20];
static size_t arena_used;

/* Under AddressSanitizer the library keeps the process's malloc (see
 * lib/sys/alloc.c), so the test asks for the allocator's checks only
 * without it: OWN_LIBC_LAX_MALLOC=1. */
extern char **environ;

static void check_alloc(const char *what, void *caller)
{
    /* No getenv: this may run while libc is still starting.  Read once,
     * from the process's environment (fcgi_stdio later swaps in each
     * request's). */
    static int lax = -1;
    if (lax < 0 && environ != NULL) {
        lax = 0;
        for (char **e = environ; *e != NULL; e++)
            if (strcmp(*e, "OWN_LIBC_LAX_MALLOC=1") == 0)
                lax = 1;
    }
    if (lax != 1)
        check_caller(what, caller);
}

void *malloc(size_t n)
{
    check_alloc("malloc", __builtin_return_address(0));
    size_t need = ((n + 15) & ~(size_t)15) + 16;
    if (arena_used + need > sizeof arena)
        return NULL;
    char *p = arena + arena_used;
    arena_used += need;
    *(size_t *)p = n;
    return p + 16;
}

void *calloc(size_t n, size_t size)
{
    check_alloc("calloc", __builtin_return_address(0));
    if (size != 0 && n > (size_t)-1 / size)
        return NULL;
    char *p = malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *realloc(void *old, size_t n)
{
    check_alloc("realloc", __builtin_return_address(0));
    char *p = malloc(n);
    if (p != NULL && old != NULL) {
        size_t was = *(size_t *)((char *)old - 16);
        memcpy(p, old, was < n ? was : n);
    }
    return p;
}

void free(void *p)
{
    if (p != NULL)
        check_alloc("free", __builtin_return_address(0));
}

int main(void)
{
    main_ran = 1;
    /* Read before the first accept: FastCGI swaps in each request's params. */
    const char *counter = getenv("APP_COUNTER");
    while (FCGI_Accept() >= 0) {
        if (counter != NULL) {
            FILE *f = fopen(counter, "a");
            if (f != NULL) {
                fprintf(f, "run\n");
                fclose(f);
            }
        }
        const char *uri = getenv("REQUEST_URI");
        printf("Content-Type: text/plain\r\n\r\n");
        printf("own libc app: uri=%s pid=%d\n", uri != NULL ? uri : "", (int)getpid());
        for (int i = 0; i < 200; i++)
            printf("line %d\n", i);
    }
    return 0;
}
