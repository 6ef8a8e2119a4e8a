/* stdio_app.c -- a libfcgi app written with fcgi_stdio.h (FCGI_Accept and
 * printf), the other way legacy C apps use libfcgi. */
#include <fcgi_stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    const char *counter_path = getenv("APP_COUNTER");
    long runs = 0;
    while (FCGI_Accept() >= 0) {
        const char *uri = getenv("REQUEST_URI");
        runs++;
        if (counter_path != NULL) {
            FILE *f = fopen(counter_path, "a");
            if (f != NULL) {
                fprintf(f, "GET %s\n", uri != NULL ? uri : "-");
                fclose(f);
            }
        }
        printf("Content-Type: text/plain\r\n\r\n");
        printf("uri=%s run=%ld\n", uri != NULL ? uri : "", runs);
        fputs("stdio ", stdout);
        putchar('o');
        puts("k");
        fwrite("written\n", 1, 8, stdout);
    }
    return 0;
}
