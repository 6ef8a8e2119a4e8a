/* module.c -- the FastCGI module host.c loads privately: written against
 * fcgi_stdio (FCGI_Accept, printf to FastCGI's stdout) like lfcgi, and
 * linked against libfcgi.so.0, which therefore lands in the module's
 * local scope.  Counts its runs in APP_COUNTER. */
#include <fcgi_stdio.h>
#include <stdlib.h>

int mod_run(void)
{
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
        printf("private libfcgi: uri=%s\n", uri != NULL ? uri : "");
        fwrite("fwrite\n", 1, 7, stdout);
        puts("puts");
    }
    return 0;
}
