/* test_engine.c -- the engine's request lifecycle against a real Redis.
 *
 * Each test starts its own redis-server on a free loopback port (killed
 * by its PID at the end, and by the kernel should the test die), builds a
 * configuration pointing at it, and drives cc_engine_begin_with /
 * cc_engine_write / cc_engine_end_output / cc_engine_finish the way an
 * adapter does, with a sink that keeps what the client would get.  The
 * engine's connections are the test's own (one per thread); a second,
 * plain hiredis connection looks at and changes what Redis holds.
 *
 * Built with -Wl,--wrap=realloc: a test can make the next large realloc
 * fail, to take the engine down its out-of-memory paths. */
#include <criterion/criterion.h>

#include <fcntl.h>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "log.h"
#include "pending.h"
#include "store.h"

/* ---- failing allocations ---------------------------------------------------- */

void *__real_realloc(void *p, size_t n);
static _Atomic size_t fail_realloc_from;    /* 0: never fail */
static _Atomic int failed_reallocs;

void *__wrap_realloc(void *p, size_t n)
{
    size_t from = atomic_load(&fail_realloc_from);
    if (from != 0 && n >= from) {
        atomic_fetch_add(&failed_reallocs, 1);
        return NULL;
    }
    return __real_realloc(p, n);
}

/* ---- a private redis-server ---------------------------------------------------- */

static pid_t redis_pid = -1;
static int redis_port;
static redisContext *ctl;          /* the test's own look into Redis */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(fd >= 0);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void start_redis(void)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        redis_port = free_port();
        char port[16];
        snprintf(port, sizeof port, "%d", redis_port);
        redis_pid = fork();
        cr_assert(redis_pid >= 0);
        if (redis_pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                   "", "--appendonly", "no", (char *)NULL);
            _exit(127);
        }
        struct timeval tv = {1, 0};
        for (int i = 0; i < 200; i++) {
            ctl = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
            if (ctl != NULL && ctl->err == 0) {
                redisReply *r = redisCommand(ctl, "PING");
                bool up = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
                if (r != NULL)
                    freeReplyObject(r);
                if (up)
                    return;
            }
            if (ctl != NULL)
                redisFree(ctl);
            ctl = NULL;
            if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid)
                break;           /* did not start (the port taken since): another */
            sleep_ms(10);
        }
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    cr_assert_fail("redis-server did not start");
}

static redisReply *last;           /* the test's last reply */

static void stop_redis(void)
{
    if (last != NULL)
        freeReplyObject(last);
    last = NULL;
    if (ctl != NULL)
        redisFree(ctl);
    ctl = NULL;
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    redis_pid = -1;
}

static void cleanup(void);

TestSuite(engine, .init = start_redis, .fini = cleanup, .timeout = 15);

/* Runs a command on the test's connection; the reply is freed by the next. */
static redisReply *R(const char *fmt, ...)
{
    if (last != NULL)
        freeReplyObject(last);
    va_list ap;
    va_start(ap, fmt);
    last = redisvCommand(ctl, fmt, ap);
    va_end(ap);
    cr_assert(last != NULL, "redis: %s", ctl->errstr);
    return last;
}

static long long count_keys(const char *pattern)
{
    redisReply *r = R("KEYS %s", pattern);
    cr_assert(r->type == REDIS_REPLY_ARRAY);
    return (long long)r->elements;
}

/* How many entries of route Redis holds (not its locks nor generations). */
static long long count_entries(const char *route)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "*:%s:*", route);
    redisReply *r = R("KEYS %s", pattern);
    cr_assert(r->type == REDIS_REPLY_ARRAY);
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++)
        n += strchr(r->element[i]->str, '#') == NULL;
    return n;
}

/* The name of the one key matching pattern. */
static char *one_key(const char *pattern)
{
    redisReply *r = R("KEYS %s", pattern);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1, "%s: %zu keys", pattern,
              r->type == REDIS_REPLY_ARRAY ? r->elements : 0);
    return strdup(r->element[0]->str);
}

/* ---- the engine, on connections of the test's ---------------------------------- */

static cc_config *cfg;
static __thread cc_store *mine;

static cc_store *test_store(void *ctx, const cc_config *c)
{
    (void)ctx;
    if (mine == NULL)
        mine = cc_store_open(c);
    return mine;
}

static cc_engine engine;

static void cleanup(void)
{
    stop_redis();
    if (mine != NULL)
        cc_store_close(mine);
    mine = NULL;
    if (cfg != NULL)
        cc_config_free(cfg);
    cfg = NULL;
}

/* The configuration: routes /page, /slow (ttl 300 ms, stale 60 s), /form
 * (GET and POST) and
 * whatever extra gives, a NULL-ended list of VAR=value. */
static void setup(const char *const *extra)
{
    static char redis[64];
    snprintf(redis, sizeof redis, "CGICACHE_REDIS=redis://127.0.0.1:%d/0", redis_port);
    char *env[32] = {
        redis,
        "CGICACHE_ROUTE_page=GET /page* ttl=60",
        "CGICACHE_ROUTE_slow=GET /slow ttl=300ms stale=60s",
        "CGICACHE_ROUTE_form=GET,POST /form ttl=60",
        "CGICACHE_EARLY_REFRESH=0",
        "CGICACHE_LOG=off",
    };
    size_t n = 6;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
        env[n++] = (char *)extra[i];
    cfg = cc_config_parse(env, NULL, 0);
    cr_assert(cfg != NULL);
    for (size_t i = 0; i < cfg->nproblems; i++)
        cr_assert(cfg->problems[i].warning, "%s: %s", cfg->problems[i].variable,
                  cfg->problems[i].message);
    cc_log_set_level(cfg->log_level);
    engine = (cc_engine){cfg, test_store, NULL, false};
}

/* One request's params, as nginx's fastcgi_params give them. */
typedef struct req {
    char method[32], uri[128], script[128], query[128];
    char *env[16];
} req;

static void make_req(req *r, const char *method, const char *uri)
{
    const char *q = strchr(uri, '?');
    snprintf(r->method, sizeof r->method, "REQUEST_METHOD=%s", method);
    snprintf(r->uri, sizeof r->uri, "REQUEST_URI=%s", uri);
    snprintf(r->script, sizeof r->script, "SCRIPT_NAME=%.*s",
             (int)(q ? q - uri : (long)strlen(uri)), uri);
    snprintf(r->query, sizeof r->query, "QUERY_STRING=%s", q ? q + 1 : "");
    char *fixed[] = {r->method,
                     r->uri,
                     r->script,
                     r->query,
                     "SERVER_NAME=localhost",
                     "SERVER_PORT=80",
                     "HTTP_HOST=localhost",
                     "SERVER_PROTOCOL=HTTP/1.1",
                     "GATEWAY_INTERFACE=CGI/1.1",
                     "REMOTE_ADDR=127.0.0.1",
                     NULL};
    memcpy(r->env, fixed, sizeof fixed);
}

/* What the client got. */
static int sink_write(void *ctx, const char *data, size_t len)
{
    cc_buf_append(ctx, data, len);
    return 0;
}

typedef struct outcome {
    cc_action action;
    cc_txn *txn;
    cc_buf hit;        /* CC_ACT_SERVE: the response */
    cc_buf out;        /* CC_ACT_RUN: what the app's output became */
    req r;             /* the params, alive as long as txn */
} outcome;

static void begin(outcome *o, const char *method, const char *uri)
{
    memset(o, 0, sizeof *o);
    make_req(&o->r, method, uri);
    o->action = cc_engine_begin_with(&engine, o->r.env, &o->txn, &o->hit);
}

/* Waits until Redis has done what the last finish sent: the store is
 * sent unwaited, so a round trip behind it on the same connection. */
static void settle(void)
{
    cc_cmd ping = {0};
    cc_cmd_arg(&ping, "PING", (size_t)-1);
    redisReply *r = cc_store_command(test_store(NULL, cfg), &ping);
    if (r != NULL)
        freeReplyObject(r);
}

/* The app answers o's request with body (in two writes), completely. */
static void app(outcome *o, const cc_sink *sink_or_null, const char *body)
{
    cc_sink sink = {sink_write, &o->out};
    const cc_sink *s = sink_or_null != NULL ? sink_or_null : &sink;
    const char *head = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    cr_assert_eq(cc_engine_write(o->txn, s, head, strlen(head)), 0);
    cr_assert_eq(cc_engine_write(o->txn, s, body, strlen(body)), 0);
    cr_assert_eq(cc_engine_end_output(o->txn, s), 0);
    cc_engine_finish(o->txn, true);
    o->txn = NULL;
    settle();
}

static bool has(const cc_buf *b, const char *text)
{
    return b->data != NULL && memmem(b->data, b->len, text, strlen(text)) != NULL;
}

static bool ends_with(const cc_buf *b, const char *text)
{
    size_t n = strlen(text);
    return b->len >= n && memcmp(b->data + b->len - n, text, n) == 0;
}

static void done(outcome *o)
{
    cc_buf_free(&o->hit);
    cc_buf_free(&o->out);
    if (o->txn != NULL)
        cc_engine_finish(o->txn, false);
}

/* A MISS on uri, answered with body and stored. */
static void fill(const char *uri, const char *body)
{
    outcome o;
    begin(&o, "GET", uri);
    cr_assert_eq(o.action, CC_ACT_RUN);
    app(&o, NULL, body);
    done(&o);
}

/* ---- the tests ------------------------------------------------------------------- */

Test(engine, miss_runs_the_app_and_stores)
{
    setup(NULL);
    outcome o;
    begin(&o, "GET", "/page?a=1");
    cr_assert_eq(o.action, CC_ACT_RUN);
    cr_assert_not_null(o.txn);
    cr_assert_eq(count_keys("*#lock:*"), 1, "a miss holds the fill lock");
    app(&o, NULL, "hello world");
    cr_assert(has(&o.out, "X-Cache-Status: MISS\r\n"), "%.*s", (int)o.out.len, o.out.data);
    cr_assert(has(&o.out, "Cache-Status: cgicache; fwd=uri-miss; stored\r\n"));
    cr_assert(ends_with(&o.out, "\r\n\r\nhello world"));
    cr_assert_eq(count_keys("*#lock:*"), 0, "the store released the lock");
    cr_assert_eq(count_entries("page"), 1, "the entry is in redis");
    done(&o);
}

Test(engine, stored_entry_is_served)
{
    setup(NULL);
    fill("/page?b=2", "cached body");
    outcome o;
    begin(&o, "GET", "/page?b=2");
    cr_assert_eq(o.action, CC_ACT_SERVE);
    cr_assert_null(o.txn, "a fresh hit asks for no refresh");
    cr_assert(has(&o.hit, "Content-Type: text/plain\r\n"), "%.*s", (int)o.hit.len, o.hit.data);
    cr_assert(has(&o.hit, "X-Cache-Status: HIT\r\n"));
    cr_assert(has(&o.hit, "Cache-Status: cgicache; hit; ttl="));
    cr_assert(ends_with(&o.hit, "\r\n\r\ncached body"));
    done(&o);
    /* Another URL of the route is not that entry. */
    begin(&o, "GET", "/page?b=3");
    cr_assert_eq(o.action, CC_ACT_RUN);
    done(&o);
}

Test(engine, not_cacheable_requests_are_bypassed)
{
    setup(NULL);
    outcome o;
    begin(&o, "GET", "/elsewhere");
    cr_assert_eq(o.action, CC_ACT_PASS);
    done(&o);
    /* An unsafe method on a route: answered by the app, said so. */
    begin(&o, "POST", "/form");
    cr_assert_eq(o.action, CC_ACT_RUN);
    app(&o, NULL, "posted");
    cr_assert(has(&o.out, "X-Cache-Status: BYPASS\r\n"), "%.*s", (int)o.out.len, o.out.data);
    cr_assert(has(&o.out, "Cache-Status: cgicache; fwd=method\r\n"));
    done(&o);
    /* One to a URL only a GET route caches: followed to purge it, its
     * answer untouched. */
    begin(&o, "DELETE", "/page?x=1");
    cr_assert_eq(o.action, CC_ACT_RUN);
    app(&o, NULL, "gone");
    cr_assert(!has(&o.out, "Cache-Status"), "%.*s", (int)o.out.len, o.out.data);
    cr_assert(ends_with(&o.out, "gone"));
    done(&o);
}

/* The waiter, on a thread (and so a connection) of its own. */
typedef struct waiter {
    outcome o;
    int64_t ms;
    pthread_t thread;
    char uri[64];            /* "" for /page?c=1 */
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    int64_t start = cc_mono_ms();
    begin(&w->o, "GET", w->uri[0] != '\0' ? w->uri : "/page?c=1");
    w->ms = cc_mono_ms() - start;
    if (mine != NULL)
        cc_store_close(mine);
    mine = NULL;
    return NULL;
}

Test(engine, collapsed_waiter_gets_the_fill)
{
    setup(NULL);
    outcome lead;
    begin(&lead, "GET", "/page?c=1");
    cr_assert_eq(lead.action, CC_ACT_RUN);
    waiter w = {.uri = ""};
    pthread_create(&w.thread, NULL, wait_main, &w);
    sleep_ms(150);                /* the waiter is subscribed and waiting */
    app(&lead, NULL, "computed once");
    pthread_join(w.thread, NULL);
    cr_assert_eq(w.o.action, CC_ACT_SERVE);
    cr_assert(has(&w.o.hit, "X-Cache-Status: HIT\r\n"));
    cr_assert(has(&w.o.hit, "; fwd=uri-miss; collapsed\r\n"), "%.*s", (int)w.o.hit.len,
              w.o.hit.data);
    cr_assert(ends_with(&w.o.hit, "computed once"));
    cr_assert_null(w.o.txn);
    done(&w.o);
    done(&lead);
}

Test(engine, collapsed_waiter_times_out_to_run)
{
    setup((const char *[]){"CGICACHE_LOCK_WAIT=300ms", NULL});
    outcome lead;
    begin(&lead, "GET", "/page?c=1");
    cr_assert_eq(lead.action, CC_ACT_RUN);
    waiter w = {.uri = ""};
    pthread_create(&w.thread, NULL, wait_main, &w);
    pthread_join(w.thread, NULL);
    cr_assert_eq(w.o.action, CC_ACT_RUN);
    cr_assert_geq(w.ms, 250, "waited %lld ms", (long long)w.ms);
    cr_assert_lt(w.ms, 2000);
    /* It answers uncached, and does not store over the leader. */
    app(&w.o, NULL, "the waiter's");
    cr_assert(has(&w.o.out, "X-Cache-Status: MISS\r\n"));
    cr_assert(has(&w.o.out, "fwd=uri-miss\r\n"), "not stored: %.*s", (int)w.o.out.len,
              w.o.out.data);
    cr_assert_eq(count_keys("*#lock:*"), 1, "the leader's lock is still held");
    app(&lead, NULL, "the leader's");
    done(&w.o);
    done(&lead);
    begin(&lead, "GET", "/page?c=1");
    cr_assert_eq(lead.action, CC_ACT_SERVE);
    cr_assert(ends_with(&lead.hit, "the leader's"));
    done(&lead);
}

/* An event loop: a second request for a key this thread is computing
 * must not wait for it (the fill can only come from this very thread),
 * nor take a lock over the first's; it runs, and the first's fill stores. */
Test(engine, shared_thread_never_waits_for_its_own_fill)
{
    setup(NULL);                  /* a lock wait of 5 s */
    outcome lead;
    begin(&lead, "GET", "/page?e=1");
    cr_assert_eq(lead.action, CC_ACT_RUN);
    cr_assert_eq(count_keys("*#lock:*"), 1);
    engine.shared_thread = true;
    int64_t t0 = cc_mono_ms();
    outcome second;
    begin(&second, "GET", "/page?e=1");
    cr_assert_eq(second.action, CC_ACT_RUN);
    cr_assert_lt(cc_mono_ms() - t0, 1000, "it did not wait for the lock");
    app(&second, NULL, "the second's");
    cr_assert(has(&second.out, "X-Cache-Status: MISS\r\n"));
    cr_assert_eq(count_keys("*#lock:*"), 1, "the first's lock is left alone");
    engine.shared_thread = false;
    app(&lead, NULL, "the first's");
    cr_assert_eq(count_keys("*#lock:*"), 0, "the first's store released its lock");
    done(&second);
    done(&lead);
}

Test(engine, waiter_does_not_wait_for_a_dead_holder)
{
    setup(NULL);                  /* a lock wait of 5 s */
    outcome lead;
    begin(&lead, "GET", "/page?c=1");
    cr_assert_eq(lead.action, CC_ACT_RUN);
    /* The holder dies: its connection closes, its lock stays. */
    cc_engine_forget(lead.txn);
    lead.txn = NULL;
    cc_store_close(mine);
    mine = NULL;
    cr_assert_eq(count_keys("*#lock:*"), 1);
    waiter w = {.uri = ""};
    pthread_create(&w.thread, NULL, wait_main, &w);
    pthread_join(w.thread, NULL);
    cr_assert_eq(w.o.action, CC_ACT_RUN);
    cr_assert_lt(w.ms, 2000, "waited %lld ms", (long long)w.ms);
    cr_assert_eq(count_keys("*#lock:*"), 0, "the dead holder's lock was removed");
    done(&w.o);
    done(&lead);
}

Test(engine, stale_entry_is_served_and_refreshed)
{
    setup(NULL);
    fill("/slow", "version 1");
    sleep_ms(350);                /* past its 300 ms ttl, within its stale window */
    outcome o;
    begin(&o, "GET", "/slow");
    cr_assert_eq(o.action, CC_ACT_SERVE);
    cr_assert(has(&o.hit, "X-Cache-Status: STALE\r\n"), "%.*s", (int)o.hit.len, o.hit.data);
    cr_assert(has(&o.hit, "Cache-Status: cgicache; hit; ttl=-"));
    cr_assert(ends_with(&o.hit, "version 1"));
    cr_assert_not_null(o.txn, "this request refreshes it");
    cr_assert_eq(count_keys("*#lock:*"), 1);
    /* Meanwhile another client gets the stale copy, and no refresh. */
    outcome other;
    begin(&other, "GET", "/slow");
    cr_assert_eq(other.action, CC_ACT_SERVE);
    cr_assert_null(other.txn);
    cr_assert(has(&other.hit, "X-Cache-Status: STALE\r\n"));
    done(&other);
    /* The refresh: the app answers again, into the discarding sink. */
    app(&o, &cc_engine_discard, "version 2");
    cr_assert_eq(o.out.len, 0, "nobody reads a refresh");
    cr_assert_eq(count_keys("*#lock:*"), 0);
    begin(&other, "GET", "/slow");
    cr_assert_eq(other.action, CC_ACT_SERVE);
    cr_assert(has(&other.hit, "X-Cache-Status: HIT\r\n"));
    cr_assert(ends_with(&other.hit, "version 2"));
    done(&other);
    done(&o);
}

Test(engine, lock_lost_still_stores_and_leaves_the_new_lock)
{
    setup(NULL);
    outcome o;
    begin(&o, "GET", "/page?d=1");
    cr_assert_eq(o.action, CC_ACT_RUN);
    char *lock = one_key("*#lock:*");
    /* It expired, and another request took it. */
    R("SET %s someone-elses", lock);
    app(&o, NULL, "late");
    cr_assert_eq(R("GET %s", lock)->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(last->str, "someone-elses", "a lock not ours is left alone");
    done(&o);
    begin(&o, "GET", "/page?d=1");
    cr_assert_eq(o.action, CC_ACT_SERVE);
    cr_assert(ends_with(&o.hit, "late"));
    done(&o);
    free(lock);
}

/* Subscribes a connection of the test's to the fill channel of lock. */
static redisContext *subscribe_fill(const char *lock)
{
    char channel[256];
    const char *mark = strstr(lock, "#lock:");
    cr_assert_not_null(mark);
    snprintf(channel, sizeof channel, "%.*s#fill:%s", (int)(mark - lock), lock, mark + 6);
    redisContext *sub = redisConnect("127.0.0.1", redis_port);
    cr_assert(sub != NULL && sub->err == 0);
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", channel);
    cr_assert_not_null(r);
    freeReplyObject(r);
    return sub;
}

static char *next_message(redisContext *sub)
{
    struct timeval tv = {3, 0};
    redisSetTimeout(sub, tv);
    redisReply *r = NULL;
    cr_assert_eq(redisGetReply(sub, (void **)&r), REDIS_OK, "no message: %s", sub->errstr);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    char *msg = strdup(r->element[2]->str);
    freeReplyObject(r);
    return msg;
}

Test(engine, store_refused_by_a_full_redis_still_releases_and_wakes)
{
    setup(NULL);
    outcome o;
    begin(&o, "GET", "/page?e=1");
    cr_assert_eq(o.action, CC_ACT_RUN);
    char *lock = one_key("*#lock:*");
    redisContext *sub = subscribe_fill(lock);
    R("CONFIG SET maxmemory-policy noeviction");
    R("CONFIG SET maxmemory 1");
    app(&o, NULL, "too much");
    char *msg = next_message(sub);
    cr_assert_str_eq(msg, "0", "waiters are told nothing was stored");
    cr_assert_eq(count_keys("*#lock:*"), 0, "the lock was released");
    R("CONFIG SET maxmemory 0");
    cr_assert_eq(count_entries("page"), 0, "nothing was stored");
    done(&o);
    begin(&o, "GET", "/page?e=1");
    cr_assert_eq(o.action, CC_ACT_RUN, "no entry, a new miss");
    done(&o);
    free(msg);
    free(lock);
    redisFree(sub);
}

Test(engine, out_of_memory_serving_a_stale_entry_releases_its_lock)
{
    setup(NULL);
    /* A body big enough that only the hit being built asks this much. */
    size_t big = 300000;
    char *body = malloc(big + 1);
    memset(body, 'a', big);
    body[big] = '\0';
    fill("/slow", body);
    sleep_ms(350);
    outcome o;
    atomic_store(&failed_reallocs, 0);
    atomic_store(&fail_realloc_from, big);
    begin(&o, "GET", "/slow");
    atomic_store(&fail_realloc_from, 0);
    cr_assert_gt(atomic_load(&failed_reallocs), 0, "the hit was not built");
    cr_assert_eq(o.action, CC_ACT_RUN, "no memory for the hit: the app answers");
    cr_assert_not_null(o.txn);
    cr_assert_eq(count_keys("*#lock:*"), 1, "the refresh lock was taken");
    app(&o, NULL, "fresh");
    cr_assert(has(&o.out, "X-Cache-Status: MISS\r\n"), "%.*s", (int)o.out.len, o.out.data);
    cr_assert(has(&o.out, "Cache-Status: cgicache; fwd=uri-miss; stored\r\n"));
    cr_assert_eq(count_keys("*#lock:*"), 0, "and released by the store, not left to its ttl");
    done(&o);
    begin(&o, "GET", "/slow");
    cr_assert_eq(o.action, CC_ACT_SERVE);
    cr_assert(has(&o.hit, "X-Cache-Status: HIT\r\n"));
    cr_assert(ends_with(&o.hit, "\r\n\r\nfresh"));
    done(&o);
    free(body);
}

Test(engine, refused_purge_stays_pending_and_covers_its_entries)
{
    setup(NULL);
    fill("/page?f=1", "old");
    /* Redis turns read-only (a replica of a master that is not there):
     * it still answers lookups, and refuses every write. */
    R("REPLICAOF 127.0.0.1 %d", free_port());
    outcome o;
    begin(&o, "POST", "/page?f=1");
    cr_assert_eq(o.action, CC_ACT_RUN, "a POST to a cached URL is followed, to purge it");
    app(&o, NULL, "changed");
    cr_assert(ends_with(&o.out, "changed"), "the client still gets its whole answer");
    cr_assert_gt(cc_pending_count(), 0, "the refused purge is kept");
    done(&o);
    /* Until it is delivered, the entry it covers is not served. */
    begin(&o, "GET", "/page?f=1");
    cr_assert_eq(o.action, CC_ACT_RUN);
    app(&o, NULL, "new");
    cr_assert(has(&o.out, "X-Cache-Status: MISS\r\n"));
    cr_assert(has(&o.out, "fwd=uri-miss\r\n"), "and its answer is not stored");
    done(&o);
    /* Redis takes writes again: the purge goes out with the next request. */
    R("REPLICAOF NO ONE");
    sleep_ms(250);                /* retries are spaced 200 ms */
    begin(&o, "GET", "/page?f=1");
    cr_assert_eq(cc_pending_count(), 0, "delivered");
    cr_assert_eq(o.action, CC_ACT_RUN, "the old entry is purged");
    app(&o, NULL, "newest");
    done(&o);
    begin(&o, "GET", "/page?f=1");
    cr_assert_eq(o.action, CC_ACT_SERVE);
    cr_assert(ends_with(&o.hit, "newest"));
    done(&o);
}

Test(engine, unreachable_redis_answers_uncached)
{
    setup(NULL);
    stop_redis();
    outcome o;
    begin(&o, "GET", "/page?g=1");
    cr_assert_eq(o.action, CC_ACT_RUN);
    app(&o, NULL, "no cache");
    cr_assert(has(&o.out, "X-Cache-Status: MISS\r\n"));
    cr_assert(has(&o.out, "fwd=uri-miss\r\n"), "no store is promised");
    cr_assert(ends_with(&o.out, "no cache"));
    done(&o);
}

static long long counter(const char *route, const char *name)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "*#stats:%s", route);
    char *key = one_key(pattern);
    redisReply *r = R("HGET %s %s", key, name);
    free(key);
    return r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
}

Test(engine, each_outcome_adds_to_its_counter)
{
    setup(NULL);
    fill("/page?h=1", "counted");                 /* miss, store */
    outcome o;
    begin(&o, "GET", "/page?h=1");                /* hit */
    cr_assert_eq(o.action, CC_ACT_SERVE);
    done(&o);
    begin(&o, "POST", "/form");                   /* bypass */
    app(&o, NULL, "posted");
    done(&o);
    /* The counts ride along with a lookup, at most once a second. */
    sleep_ms(1050);
    begin(&o, "GET", "/page?h=1");
    done(&o);
    cr_assert_eq(counter("page", "miss"), 1);
    cr_assert_eq(counter("page", "hit"), 1);
    cr_assert_eq(counter("page", "store"), 1);
    cr_assert_eq(counter("form", "bypass"), 1);
}

/* ---- failed answers, uncacheable keys, min-uses ---------------------------- */

static const char *const fallback_routes[] = {
    "CGICACHE_ROUTE_fb=GET /fb* ttl=300ms stale-if-error=60s",
    "CGICACHE_ROUTE_pz=GET /pz* ttl=60 pass=5s",
    "CGICACHE_ROUTE_mu=GET /mu* ttl=60 min-uses=2",
    "CGICACHE_MAX_SIZE=1k",
    NULL,
};

/* The app writes text (head and body as it likes) and ends its output. */
static void app_says(outcome *o, const char *text)
{
    cc_sink sink = {sink_write, &o->out};
    cr_assert_eq(cc_engine_write(o->txn, &sink, text, strlen(text)), 0);
    cr_assert_eq(cc_engine_end_output(o->txn, &sink), 0);
}

/* A stored /fb page, past its ttl and stale window: a fallback only. */
static void expired_fallback(const char *uri, const char *body)
{
    fill(uri, body);
    sleep_ms(350);
}

Test(engine, server_error_gets_the_stored_copy)
{
    setup(fallback_routes);
    expired_fallback("/fb1", "good page");
    outcome o;
    begin(&o, "GET", "/fb1");
    cr_assert_eq(o.action, CC_ACT_RUN, "expired: the app is asked");
    app_says(&o, "Status: 503 Busy\r\nContent-Type: text/plain\r\n\r\nerror page");
    cr_assert(has(&o.out, "X-Cache-Status: STALE\r\n"), "%.*s", (int)o.out.len, o.out.data);
    cr_assert(has(&o.out, "fwd=uri-miss; fwd-status=503\r\n"));
    cr_assert(ends_with(&o.out, "\r\n\r\ngood page"));
    cr_assert_not(has(&o.out, "error page"), "none of the app's answer goes out");
    cc_engine_finish(o.txn, true);
    o.txn = NULL;
    settle();
    cr_assert_eq(count_keys("*#lock:*"), 0, "the lock was released");
    done(&o);
    /* The good entry is kept, and serves the next failure too. */
    begin(&o, "GET", "/fb1");
    cr_assert_eq(o.action, CC_ACT_RUN);
    app_says(&o, "Status: 500 Oops\r\n\r\n");
    cr_assert(ends_with(&o.out, "\r\n\r\ngood page"));
    done(&o);
    /* A good answer replaces it as usual. */
    begin(&o, "GET", "/fb1");
    app_says(&o, "Content-Type: text/plain\r\n\r\nnew page");
    cr_assert(has(&o.out, "X-Cache-Status: MISS\r\n"));
    cr_assert(ends_with(&o.out, "new page"));
    done(&o);
}

Test(engine, answer_without_a_head_gets_the_stored_copy)
{
    setup(fallback_routes);
    expired_fallback("/fb2", "good page");
    const char *answers[] = {"", "Content-Type: text/pl", "no colon here\r\n\r\nbody"};
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        outcome o;
        begin(&o, "GET", "/fb2");
        cr_assert_eq(o.action, CC_ACT_RUN);
        app_says(&o, answers[i]);
        cr_assert(has(&o.out, "X-Cache-Status: STALE\r\n"), "'%s': %.*s", answers[i],
                  (int)o.out.len, o.out.data);
        cr_assert(has(&o.out, "detail=app-failed"));
        cr_assert(ends_with(&o.out, "good page"));
        done(&o);
    }
}

Test(engine, held_answer_replaced_when_the_app_then_fails)
{
    setup(fallback_routes);
    expired_fallback("/fb3", "good page");
    outcome o;
    begin(&o, "GET", "/fb3");
    cr_assert(cc_engine_hold_to_end(o.txn), "a fallback exists: held");
    cc_sink sink = {sink_write, &o.out};
    const char *page = "Content-Type: text/plain\r\n\r\nfresh page";
    cr_assert_eq(cc_engine_write(o.txn, &sink, page, strlen(page)), 0);
    cr_assert_eq(o.out.len, 0, "nothing goes out before the app has ended");
    cc_engine_app_failed(o.txn);
    cr_assert_eq(cc_engine_end_output(o.txn, &sink), 0);
    cr_assert(has(&o.out, "X-Cache-Status: STALE\r\n"));
    cr_assert(ends_with(&o.out, "good page"));
    cc_engine_finish(o.txn, false);
    o.txn = NULL;
    done(&o);
    /* Held, and the app ends well: its answer goes out whole, stored. */
    begin(&o, "GET", "/fb3");
    cr_assert(cc_engine_hold_to_end(o.txn));
    app_says(&o, page);
    cr_assert(has(&o.out, "X-Cache-Status: MISS\r\n"));
    cr_assert(ends_with(&o.out, "fresh page"));
    done(&o);
    /* No fallback: nothing is held. */
    begin(&o, "GET", "/fb3-none");
    cr_assert_not(cc_engine_hold_to_end(o.txn));
    done(&o);
}

Test(engine, held_answer_past_max_size_streams_and_gives_up_the_fallback)
{
    setup(fallback_routes);       /* CGICACHE_MAX_SIZE=1k */
    expired_fallback("/fb4", "good page");
    outcome o;
    begin(&o, "GET", "/fb4");
    cr_assert(cc_engine_hold_to_end(o.txn));
    cc_sink sink = {sink_write, &o.out};
    const char *head = "Content-Type: text/plain\r\n\r\n";
    char big[700];
    memset(big, 'x', sizeof big);
    cr_assert_eq(cc_engine_write(o.txn, &sink, head, strlen(head)), 0);
    cr_assert_eq(cc_engine_write(o.txn, &sink, big, sizeof big), 0);
    cr_assert_eq(o.out.len, 0);
    cr_assert_eq(cc_engine_write(o.txn, &sink, big, sizeof big), 0);
    cr_assert_gt(o.out.len, 2 * sizeof big, "past the bound, it streams");
    cc_engine_app_failed(o.txn);
    cr_assert_eq(cc_engine_end_output(o.txn, &sink), 0);
    cr_assert_not(has(&o.out, "good page"), "the fallback was let go");
    cr_assert(has(&o.out, "X-Cache-Status: MISS\r\n"));
    done(&o);
}

Test(engine, last_words_prebuilt_while_nothing_is_out)
{
    setup(fallback_routes);
    expired_fallback("/fb5", "good page");
    outcome o;
    begin(&o, "GET", "/fb5");
    cc_buf words = {0};
    cr_assert(cc_engine_last_words(o.txn, &words));
    cr_assert(has(&words, "X-Cache-Status: STALE\r\n"));
    cr_assert(ends_with(&words, "good page"));
    cr_assert(cc_engine_unanswered(o.txn));
    app_says(&o, "Content-Type: text/plain\r\n\r\nfresh");
    cr_assert_not(cc_engine_unanswered(o.txn), "the app's head went out");
    cc_buf_free(&words);
    done(&o);
    begin(&o, "GET", "/fb5-none");
    cr_assert_not(cc_engine_last_words(o.txn, &words), "no fallback, no last words");
    done(&o);
}

Test(engine, waiters_of_a_failed_fill_get_the_stored_copy)
{
    setup(fallback_routes);
    expired_fallback("/fb6", "good page");
    outcome lead;
    begin(&lead, "GET", "/fb6");
    cr_assert_eq(count_keys("*#lock:*"), 1);
    waiter w = {.uri = "/fb6"};
    pthread_create(&w.thread, NULL, wait_main, &w);
    sleep_ms(100);
    app_says(&lead, "Status: 502 Bad Gateway\r\n\r\n");
    cc_engine_finish(lead.txn, true);
    lead.txn = NULL;
    settle();
    pthread_join(w.thread, NULL);
    cr_assert_eq(w.o.action, CC_ACT_SERVE);
    cr_assert(has(&w.o.hit, "X-Cache-Status: STALE\r\n"), "%.*s", (int)w.o.hit.len, w.o.hit.data);
    cr_assert(has(&w.o.hit, "detail=fill-failed"));
    cr_assert(ends_with(&w.o.hit, "good page"));
    cr_assert_lt(w.ms, 1000, "woken by the holder, not by a timeout");
    done(&w.o);
    done(&lead);
}

Test(engine, uncacheable_answer_is_remembered_and_skips_the_lock)
{
    setup(fallback_routes);
    outcome o;
    begin(&o, "GET", "/pz");
    cr_assert_eq(count_keys("*#lock:*"), 1, "the first request takes the lock");
    app_says(&o, "Set-Cookie: s=1\r\nContent-Type: text/plain\r\n\r\nmine");
    cc_engine_finish(o.txn, true);
    o.txn = NULL;
    settle();
    done(&o);
    char *key = one_key("cgicache:pz:*");
    redisReply *r = R("GET %s", key);
    cr_assert_str_eq(r->str, "cgicache:pass");
    r = R("PTTL %s", key);
    cr_assert(r->integer > 4000 && r->integer <= 5000, "pass=5s: %lld", r->integer);
    cr_assert_eq(count_keys("*#lock:*"), 0);
    /* The next requests run at once, without the lock. */
    begin(&o, "GET", "/pz");
    cr_assert_eq(o.action, CC_ACT_RUN);
    cr_assert_eq(count_keys("*#lock:*"), 0, "no lock taken");
    /* ... and a cacheable answer is stored over the mark. */
    app_says(&o, "Content-Type: text/plain\r\n\r\nfor all");
    cc_engine_finish(o.txn, true);
    o.txn = NULL;
    settle();
    done(&o);
    begin(&o, "GET", "/pz");
    cr_assert_eq(o.action, CC_ACT_SERVE);
    cr_assert(ends_with(&o.hit, "for all"));
    done(&o);
    /* A 5xx is a failure, never remembered as uncacheable. */
    begin(&o, "GET", "/pz-err");
    app_says(&o, "Status: 500 Oops\r\n\r\n");
    cc_engine_finish(o.txn, true);
    o.txn = NULL;
    settle();
    cr_assert_eq(count_keys("cgicache:pz:*pz-err*"), 0);
    done(&o);
    free(key);
}

Test(engine, min_uses_stores_from_the_nth_request)
{
    setup(fallback_routes);
    outcome o;
    begin(&o, "GET", "/mu");
    cr_assert_eq(o.action, CC_ACT_RUN);
    cr_assert_eq(count_keys("*#lock:*"), 0, "a first use takes no lock");
    app_says(&o, "Content-Type: text/plain\r\n\r\nonce");
    cr_assert(has(&o.out, "Cache-Status: cgicache; fwd=uri-miss\r\n"), "%.*s", (int)o.out.len,
              o.out.data);
    cc_engine_finish(o.txn, true);
    o.txn = NULL;
    settle();
    done(&o);
    cr_assert_eq(count_entries("mu"), 0, "not stored");
    begin(&o, "GET", "/mu");
    app_says(&o, "Content-Type: text/plain\r\n\r\ntwice");
    cr_assert(has(&o.out, "; stored\r\n"));
    cc_engine_finish(o.txn, true);
    o.txn = NULL;
    settle();
    done(&o);
    begin(&o, "GET", "/mu");
    cr_assert_eq(o.action, CC_ACT_SERVE);
    cr_assert(ends_with(&o.hit, "twice"));
    done(&o);
}
