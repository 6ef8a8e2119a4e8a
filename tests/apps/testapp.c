/* testapp.c -- a libfcgi app whose every behaviour is chosen by the
 * request's query string, so the integration tests can drive each rule
 * of the cache through one real, unchanged FastCGI program.
 *
 * Flags (any order): status=N (no flag: no Status line), cookie=1,
 * cc=VALUE (Cache-Control, url-decoded), maxage=N (Cache-Control: max-age),
 * cc2=VALUE and xae2=N (a second Cache-Control / X-Accel-Expires line),
 * pragma=VALUE, etag=VALUE (ETag), lastmod=VALUE (Last-Modified),
 * ce=VALUE (Content-Encoding, the body left as it is),
 * vary=NAME, size=N (body bytes), rand=1 (a random line, so even plain=1
 * bodies differ run to run), xae=N (X-Accel-Expires), tags=a,b, sleep_ms=N,
 * crash=1 / exit=1 (die after the head), free=1 (FCGX_Free without a
 * finish), slowbody=1, echo=PARAM (print a CGI parameter, e.g.
 * echo=HTTP_X_NAME), child=1 (print the LD_PRELOAD a child process
 * inherits), lf=1 (LF line ends), location=/x (Location without Status),
 * fail=1 (status 500), plain=1 (the same bytes every run), ptags=a,b,
 * pprefix=/path and psoft=1 (the purge headers X-Cache-Purge-Tags,
 * -Prefix and -Soft).
 * The head goes out through FCGX_FPrintF, FCGX_PutS and FCGX_PutStr, the
 * body through FCGX_FPrintF and FCGX_PutChar: every entry point the
 * library hooks is exercised.
 * set=VALUE stores VALUE as the app's data (APP_COUNTER.data), which every
 * body shows as data=..., read when the request starts (so a slow GET
 * computes from what it read first, as a real app would).
 * While a file named APP_COUNTER.fail exists, every answer is a 500 (to
 * make a background refresh fail); while APP_COUNTER.crash exists, the app
 * aborts after its head (to kill a lock holder mid-compute); while
 * APP_COUNTER.die exists, it aborts before writing anything, and while
 * APP_COUNTER.empty exists it finishes the request without a byte.
 * Each request the app really runs appends "<METHOD> <URI>" to the file
 * named by APP_COUNTER, read once at start: getenv() inside the accept
 * loop would read a finished request's params.  Bodies carry the per
 * process run number, so a hit is told from a run. */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *counter_path;
static char fail_path[4096];
static char data_path[4096];
static char crash_path[4096];
static char die_path[4096];
static char empty_path[4096];

static void read_data(char *out, size_t cap)
{
    FILE *f = data_path[0] ? fopen(data_path, "r") : NULL;
    size_t n = f != NULL ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f != NULL)
        fclose(f);
}

static void write_data(const char *value)
{
    FILE *f = data_path[0] ? fopen(data_path, "w") : NULL;
    if (f != NULL) {
        fputs(value, f);
        fclose(f);
    }
}

/* The value of flag name in query q ("" when absent), copied into out. */
static const char *flag(const char *q, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = q; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            size_t len = strcspn(v, "&");
            size_t o = 0;
            for (size_t i = 0; i < len && o + 1 < cap; i++) {
                if (v[i] == '%' && i + 2 < len) {
                    char hex[3] = {v[i + 1], v[i + 2], 0};
                    out[o++] = (char)strtol(hex, NULL, 16);
                    i += 2;
                } else {
                    out[o++] = v[i] == '+' ? ' ' : v[i];
                }
            }
            out[o] = '\0';
            return out;
        }
        p = strchr(p, '&');
        p = p != NULL ? p + 1 : NULL;
    }
    return out;
}

/* What a program the app starts would inherit: the library must have
 * taken itself out of LD_PRELOAD, or every child would load it too. */
static void print_child_preload(FCGX_Stream *out)
{
    FILE *p = popen("echo \"child LD_PRELOAD=[$LD_PRELOAD]\"", "r");
    char line[4096];
    while (p != NULL && fgets(line, sizeof line, p) != NULL)
        FCGX_PutS(line, out);
    if (p != NULL)
        pclose(p);
}

static void count_run(FCGX_Request *r)
{
    if (counter_path == NULL)
        return;
    FILE *f = fopen(counter_path, "a");
    if (f == NULL)
        return;
    const char *m = FCGX_GetParam("REQUEST_METHOD", r->envp);
    const char *u = FCGX_GetParam("REQUEST_URI", r->envp);
    fprintf(f, "%s %s\n", m ? m : "-", u ? u : "-");
    fclose(f);
}

/* Flags that each add one header line: the line's start, then the value. */
static const struct {
    const char *flag, *line;
} header_flags[] = {
    {"cc", "Cache-Control: "},
    {"maxage", "Cache-Control: max-age="},
    {"vary", "Vary: "},
    {"xae", "X-Accel-Expires: "},
    {"tags", "X-Cache-Tags: "},
    {"cc2", "Cache-Control: "},           /* a second line of the same field */
    {"xae2", "X-Accel-Expires: "},
    {"pragma", "Pragma: "},
    {"etag", "ETag: "},
    {"lastmod", "Last-Modified: "},
    {"ce", "Content-Encoding: "},
    {"ptags", "X-Cache-Purge-Tags: "},
    {"pprefix", "X-Cache-Purge-Prefix: "},
    {"psoft", "X-Cache-Purge-Soft: "},
};

int main(void)
{
    counter_path = getenv("APP_COUNTER");
    if (counter_path != NULL) {
        snprintf(fail_path, sizeof fail_path, "%s.fail", counter_path);
        snprintf(data_path, sizeof data_path, "%s.data", counter_path);
        snprintf(crash_path, sizeof crash_path, "%s.crash", counter_path);
        snprintf(die_path, sizeof die_path, "%s.die", counter_path);
        snprintf(empty_path, sizeof empty_path, "%s.empty", counter_path);
    }
    FCGX_Request r;
    srandom((unsigned)getpid() ^ (unsigned)time(NULL));
    FCGX_Init();
    FCGX_InitRequest(&r, 0, 0);
    long runs = 0;
    char v[256], data[256];
    while (FCGX_Accept_r(&r) >= 0) {
        runs++;
        count_run(&r);
        const char *q = FCGX_GetParam("QUERY_STRING", r.envp);
        const char *uri = FCGX_GetParam("REQUEST_URI", r.envp);
        const char *nl = *flag(q, "lf", v, sizeof v) ? "\n" : "\r\n";
        read_data(data, sizeof data);
        if (*flag(q, "set", v, sizeof v)) {
            write_data(v);
            read_data(data, sizeof data);
        }
        if (*flag(q, "sleep_ms", v, sizeof v))
            usleep((useconds_t)atoi(v) * 1000);
        if (die_path[0] && access(die_path, F_OK) == 0)
            abort();
        if (empty_path[0] && access(empty_path, F_OK) == 0) {
            FCGX_Finish_r(&r);
            continue;
        }
        if (*flag(q, "fail", v, sizeof v) || (fail_path[0] && access(fail_path, F_OK) == 0))
            FCGX_FPrintF(r.out, "Status: 500 Internal Server Error%s", nl);
        if (*flag(q, "status", v, sizeof v))
            FCGX_FPrintF(r.out, "Status: %s%s", v, nl);
        if (*flag(q, "location", v, sizeof v))
            FCGX_FPrintF(r.out, "Location: %s%s", v, nl);
        FCGX_PutS("Content-Type: text/plain", r.out);
        FCGX_PutS(nl, r.out);
        if (*flag(q, "cookie", v, sizeof v))
            FCGX_FPrintF(r.out, "Set-Cookie: session=%ld%s", runs, nl);
        for (size_t i = 0; i < sizeof header_flags / sizeof header_flags[0]; i++)
            if (*flag(q, header_flags[i].flag, v, sizeof v))
                FCGX_FPrintF(r.out, "%s%s%s", header_flags[i].line, v, nl);
        FCGX_PutStr(nl, (int)strlen(nl), r.out);
        if (*flag(q, "crash", v, sizeof v) || (crash_path[0] && access(crash_path, F_OK) == 0)) {
            FCGX_FPrintF(r.out, "partial body");
            FCGX_FFlush(r.out);
            abort();
        }
        if (*flag(q, "exit", v, sizeof v)) {
            FCGX_FPrintF(r.out, "partial body");
            FCGX_FFlush(r.out);
            exit(3);
        }
        if (*flag(q, "plain", v, sizeof v))     /* the same bytes every run */
            FCGX_FPrintF(r.out, "plain page\n");
        else
            FCGX_FPrintF(r.out, "uri=%s run=%ld pid=%d data=%s\n", uri ? uri : "", runs,
                         (int)getpid(), data);
        if (*flag(q, "fclose", v, sizeof v)) {
            FCGX_FClose(r.out);
            FCGX_FPrintF(r.out, "after close\n");
        }
        if (*flag(q, "rand", v, sizeof v))
            FCGX_FPrintF(r.out, "rand=%ld\n", random());
        if (*flag(q, "child", v, sizeof v))
            print_child_preload(r.out);
        if (*flag(q, "echo", v, sizeof v)) {
            const char *p = FCGX_GetParam(v, r.envp);
            FCGX_FPrintF(r.out, "%s=%s\n", v, p ? p : "(unset)");
        }
        if (*flag(q, "slowbody", v, sizeof v)) {
            FCGX_FFlush(r.out);
            usleep(200000);
        }
        long size = *flag(q, "size", v, sizeof v) ? atol(v) : 0;
        for (long i = 0; i < size; i++)   /* byte by byte: the PutChar path */
            FCGX_PutChar("abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37], r.out);
        if (*flag(q, "free", v, sizeof v)) {
            FCGX_Free(&r, 1);          /* abandoned: never finished */
            continue;
        }
        FCGX_Finish_r(&r);
    }
    return 0;
}
