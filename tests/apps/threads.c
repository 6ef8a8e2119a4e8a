/* threads.c -- a threaded libfcgi app as cgicache must tolerate it: four
 * threads of APP_STACK_KB (default 64) KiB stack each, one FCGX_Request
 * per thread, and forks from a serving thread while the others serve.
 *
 * QUERY_STRING flags:
 *   putc=N  writes N more bytes one FCGX_PutChar at a time
 *   fork=N  forks N times while answering; each child writes to the
 *           request's stream (through libfcgi, so through cgicache) and
 *           exits; the parent gives each 3 s and reports how many hung
 * Counts its runs in APP_COUNTER. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *counter_path;
static long runs;

static long flag(const char *q, const char *name)
{
    const char *p = q != NULL ? strstr(q, name) : NULL;
    return p != NULL ? atol(p + strlen(name)) : 0;
}

/* Forks n children that write to out and exit; returns how many did not
 * exit within 3 s (killed then). */
static int forks(long n, FCGX_Stream *out)
{
    int hung = 0;
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            FCGX_PutS("child\n", out);
            _exit(0);
        }
        if (pid < 0)
            continue;
        int status, waited = 0;
        while (waitpid(pid, &status, WNOHANG) == 0 && waited < 3000) {
            usleep(1000);
            waited++;
        }
        if (waited >= 3000) {
            hung++;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    return hung;
}

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
        const char *q = FCGX_GetParam("QUERY_STRING", r.envp);
        pthread_mutex_lock(&count_lock);
        long n = ++runs;
        FILE *f = counter_path != NULL ? fopen(counter_path, "a") : NULL;
        if (f != NULL) {
            fprintf(f, "GET %s\n", uri != NULL ? uri : "-");
            fclose(f);
        }
        pthread_mutex_unlock(&count_lock);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        FCGX_FPrintF(r.out,
                     "Content-Type: text/plain\r\n\r\nuri=%s run=%ld thread=%ld at=%ld.%09ld\n",
                     uri != NULL ? uri : "", n, id, (long)now.tv_sec, now.tv_nsec);
        for (long i = flag(q, "putc="); i > 0; i--)
            FCGX_PutChar(i % 64 == 0 ? '\n' : 'x', r.out);
        long nforks = flag(q, "fork=");
        if (nforks > 0)
            FCGX_FPrintF(r.out, "forks=%ld hung=%d\n", nforks, forks(nforks, r.out));
        FCGX_Finish_r(&r);
    }
    return NULL;
}

int main(void)
{
    counter_path = getenv("APP_COUNTER");
    long kb = getenv("APP_STACK_KB") != NULL ? atol(getenv("APP_STACK_KB")) : 64;
    FCGX_Init();
    /* libfcgi catches SIGTERM to end the accept loop, which threads
     * blocked in accept() never see: the test harness's TERM must end
     * the process. */
    signal(SIGTERM, SIG_DFL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (pthread_attr_setstacksize(&attr, (size_t)kb * 1024) != 0) {
        fprintf(stderr, "threads: bad stack size %ld KiB\n", kb);
        return 1;
    }
    pthread_t threads[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&threads[i], &attr, serve, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
