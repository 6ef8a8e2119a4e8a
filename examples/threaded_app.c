/* threaded_app.c -- a multi-threaded libfcgi app: four threads share the
 * listening socket, each with its own FCGX_Request, as libfcgi's threaded
 * example does.  /slow/... paths sleep 300 ms so requests overlap. */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *counter_path;
static long runs;

static void *serve(void *arg)
{
    long id = (long)arg;
    FCGX_Request r;
    FCGX_InitRequest(&r, 0, 0);
    for (;;) {
        pthread_mutex_lock(&accept_lock);
        int rc = FCGX_Accept_r(&r);
        pthread_mutex_unlock(&accept_lock);
        if (rc < 0)
            break;
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);
        pthread_mutex_lock(&count_lock);
        long n = ++runs;
        FILE *f = counter_path != NULL ? fopen(counter_path, "a") : NULL;
        if (f != NULL) {
            fprintf(f, "GET %s\n", uri != NULL ? uri : "-");
            fclose(f);
        }
        pthread_mutex_unlock(&count_lock);
        if (uri != NULL && strncmp(uri, "/slow/", 6) == 0)
            usleep(300000);
        FCGX_FPrintF(r.out, "Content-Type: text/plain\r\n\r\nuri=%s run=%ld thread=%ld\n",
                     uri != NULL ? uri : "", n, id);
        FCGX_Finish_r(&r);
    }
    return NULL;
}

int main(void)
{
    counter_path = getenv("APP_COUNTER");
    FCGX_Init();
    pthread_t threads[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, serve, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
