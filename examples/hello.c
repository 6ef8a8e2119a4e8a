// hello.c -- the smallest libfcgi app: what cgicache is put in front of.
// Build: cc -o hello hello.c -lfcgi
// Run:   export CGICACHE_ROUTE_hello='GET /* ttl=60'
//        cgicache run -- spawn-fcgi -n -s /tmp/hello.sock -- ./hello
#include <fcgiapp.h>
#include <time.h>

int main(void)
{
    FCGX_Request r;
    FCGX_Init();
    FCGX_InitRequest(&r, 0, 0);
    while (FCGX_Accept_r(&r) >= 0) {
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);
        FCGX_FPrintF(r.out, "Content-Type: text/plain\r\n\r\nHello from %s at %ld\n",
                     uri != NULL ? uri : "?", (long)time(NULL));
        FCGX_Finish_r(&r);
    }
    return 0;
}
