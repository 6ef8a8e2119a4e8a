/* load.c -- what happens when libcgicache.so is loaded into a process.
 *
 * The configuration is read here, once, from the process environment, while
 * environ is still the process's own (a FastCGI app later swaps in each
 * request's params).  Problems are reported once per process.  A CGI
 * request is then handled before main() runs (cgi.c). */
#include <stdlib.h>

#include "cgi.h"
#include "engine.h"

extern char **environ;

__attribute__((constructor)) static void cgicache_load(void)
{
    cc_engine_init(environ);
    cc_cgi_on_load();
}
