/* preload.c -- takes libcgicache out of LD_PRELOAD for child programs.
 *
 * LD_PRELOAD is inherited by everything an app starts; a FastCGI app that
 * runs a shell or an image converter must not turn those into cache
 * clients.  The entry in environ is rewritten in place (or removed) rather
 * than with unsetenv/setenv, which bash, among others, defines itself. */
#include "interpose.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

extern char **environ;

static const char *base_name(const char *path, size_t len, size_t *out_len)
{
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    *out_len = len - i;
    return path + i;
}

/* True for our own file name and for any libcgicache*.so (the sanitizer
 * build is libcgicache-asan.so). */
static int is_self(const char *item, size_t len, const char *self, size_t self_len)
{
    size_t blen;
    const char *b = base_name(item, len, &blen);
    if (self != NULL && blen == self_len && memcmp(b, self, blen) == 0)
        return 1;
    return blen >= 11 && memcmp(b, "libcgicache", 11) == 0;
}

static int done;

int cc_preload_active(void)
{
    return __atomic_load_n(&done, __ATOMIC_ACQUIRE);
}

void cc_preload_remove_self(void)
{
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    Dl_info info;
    const char *self = NULL;
    size_t self_len = 0;
    if (dladdr((void *)cc_preload_remove_self, &info) != 0 && info.dli_fname != NULL)
        self = base_name(info.dli_fname, strlen(info.dli_fname), &self_len);

    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
            continue;
        const char *v = *e + 11;
        char *kept = malloc(strlen(*e) + 1);
        if (kept == NULL)
            return;
        size_t n = 0;
        memcpy(kept, "LD_PRELOAD=", 11);
        n = 11;
        /* ld.so separates entries with colons or spaces. */
        while (*v != '\0') {
            size_t len = strcspn(v, ": ");
            if (len > 0 && !is_self(v, len, self, self_len)) {
                if (n > 11)
                    kept[n++] = ':';
                memcpy(kept + n, v, len);
                n += len;
            }
            v += len;
            v += strspn(v, ": ");
        }
        kept[n] = '\0';
        if (n > 11) {
            *e = kept;      /* owned by environ from now on */
        } else {
            free(kept);
            char **p = e;
            do
                p[0] = p[1];
            while (*p++ != NULL);
        }
        cc_debug("removed from LD_PRELOAD of child programs");
        return;
    }
}
