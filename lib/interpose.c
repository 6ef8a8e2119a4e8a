/* interpose.c -- resolves the real libfcgi functions behind our wrappers. */
#include "interpose.h"

#include <dlfcn.h>
#include <stddef.h>

#include "log.h"

void *cc_real_symbol(void *volatile *slot, const char *name)
{
    void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (fn != NULL)
        return fn;
    fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL) {
        void *lib = dlopen("libfcgi.so.0", RTLD_LAZY | RTLD_NOLOAD);
        if (lib != NULL) {
            fn = dlsym(lib, name);
            dlclose(lib);   /* NOLOAD took a reference; the library stays */
        }
    }
    if (fn == NULL)
        cc_error("cannot find the real %s", name);
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
    return fn;
}
