/* interpose.c -- finds libfcgi's own functions and data behind our
 * wrappers, in the global scope or in a privately loaded libfcgi. */
#include "interpose.h"

#include <dlfcn.h>
#include <stddef.h>

#include "log.h"

/* name in the libfcgi.so.0 already loaded, in whatever scope: Perl's
 * FCGI.so, Lua's lfcgi and the other bindings load it with RTLD_LOCAL,
 * out of the global scope that RTLD_NEXT and RTLD_DEFAULT search. */
static void *private_libfcgi_symbol(const char *name)
{
    void *sym = NULL;
    void *lib = dlopen("libfcgi.so.0", RTLD_LAZY | RTLD_NOLOAD);
    if (lib != NULL) {
        sym = dlsym(lib, name);
        dlclose(lib);   /* NOLOAD took a reference; the library stays */
    }
    return sym;
}

void *cc_fcgi_data(const char *name)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    return sym != NULL ? sym : private_libfcgi_symbol(name);
}

void *cc_real_symbol(void *volatile *slot, const char *name)
{
    void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (fn != NULL)
        return fn;
    fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL)
        fn = private_libfcgi_symbol(name);
    if (fn == NULL)
        cc_error("cannot find the real %s", name);
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
    return fn;
}
