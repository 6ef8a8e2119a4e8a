/* app.c -- the benchmark's libfcgi app: /trivial answers a few bytes,
 * /slow takes 20 ms (a page that runs a query), /miss answers a few bytes
 * for requests whose unique query makes every one a cache miss.  Each
 * real computation of a /cold page appends a line to $BENCH_COUNTER (read
 * once, before the accept loop), for the stampede measure.  /page is an
 * 8 kB HTML-like page, for what a hit costs in each content coding. */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    const char *counter = getenv("BENCH_COUNTER");
    FCGX_Request r;
    FCGX_Init();
    FCGX_InitRequest(&r, 0, 0);
    while (FCGX_Accept_r(&r) >= 0) {
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);
        if (uri == NULL)
            uri = "/";
        if (strncmp(uri, "/slow", 5) == 0)
            usleep(20000);
        if (strncmp(uri, "/cold", 5) == 0) {
            usleep(200000);
            FILE *f = counter != NULL ? fopen(counter, "a") : NULL;
            if (f != NULL) {
                fputs("computed\n", f);
                fclose(f);
            }
        }
        FCGX_FPrintF(r.out, "Content-Type: text/plain\r\n\r\nbench page %s\n", uri);
        if (strncmp(uri, "/page", 5) == 0)
            for (int i = 0; i < 100; i++)
                FCGX_FPrintF(r.out, "<li><a href=\"/item/%d\">item %d of the list</a> %d</li>\n", i,
                             i, i * 7919 % 1000);
        FCGX_Finish_r(&r);
    }
    return 0;
}
