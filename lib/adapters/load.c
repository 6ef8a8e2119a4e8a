/* load.c -- what happens when libcgicache.so is loaded into a process.
 *
 * The configuration is read here, once, from the process environment, while
 * environ is still the process's own (a FastCGI app later swaps in each
 * request's params).  Problems are reported once per process.  A CGI
 * request is then handled before main() runs (cgi.c).  The version is
 * logged (at info) and kept as a string in the file, where `cgicache check
 * --all` reads which version a running process has mapped. */
#include <stdlib.h>

#include "cgi.h"
#include "engine.h"
#include "log.h"
#include "version.h"

__attribute__((used)) static const char version_tag[] = "libcgicache version " CGICACHE_VERSION;

extern char **environ;

__attribute__((constructor)) static void cgicache_load(void)
{
    cc_engine_init(environ);
    cc_info("%s loaded", version_tag);
    cc_cgi_on_load();
}
