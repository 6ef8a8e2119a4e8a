/* cgi_printf.c -- a plain CGI program in C writing with printf (stdio
 * buffers and writes through glibc's internal write, which no interposer
 * sees).  QUERY_STRING: exit=1 exits 1 after its output, kill=1 is killed
 * by SIGKILL mid-output, cookie=1 sets a cookie. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    const char *q = getenv("QUERY_STRING");
    const char *counter = getenv("APP_COUNTER");
    const char *preload = getenv("LD_PRELOAD");
    if (q == NULL)
        q = "";
    if (counter != NULL) {
        FILE *f = fopen(counter, "a");
        if (f != NULL) {
            fprintf(f, "run\n");
            fclose(f);
        }
    }
    printf("Content-Type: text/plain\r\n");
    if (strstr(q, "cookie=1") != NULL)
        printf("Set-Cookie: s=%d\r\n", (int)getpid());
    printf("\r\nc program pid=%d preload=[%s]\n", (int)getpid(), preload != NULL ? preload : "");
    fflush(stdout);
    if (strstr(q, "kill=1") != NULL)
        kill(getpid(), SIGKILL);
    for (int i = 0; i < 1000; i++)
        printf("line %d\n", i);
    return strstr(q, "exit=1") != NULL ? 1 : 0;
}
