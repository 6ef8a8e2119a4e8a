/* host.c -- a host that loads its FastCGI module privately, as Lua loads
 * lfcgi (and Perl, Python, Ruby and Tcl load their bindings): dlopen()
 * with RTLD_LOCAL, so the libfcgi.so.0 the module needs is loaded outside
 * the global scope.  The host itself does not link libfcgi.  Runs
 * mod_run() of the module named by its argument, by default of
 * private_module.so next to the host. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    char path[4096];
    if (argc >= 2) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        const char *slash = strrchr(argv[0], '/');
        int dir = slash != NULL ? (int)(slash - argv[0] + 1) : 0;
        snprintf(path, sizeof path, "%.*sprivate_module.so", dir, argv[0]);
    }
    void *mod = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (mod == NULL) {
        fprintf(stderr, "host: %s\n", dlerror());
        return 1;
    }
    int (*run)(void) = (int (*)(void))dlsym(mod, "mod_run");
    return run != NULL ? run() : 1;
}
