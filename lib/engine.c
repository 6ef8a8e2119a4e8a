/* engine.c -- one request's way through the cache.
 *
 * begin: route, classify, look up (one round trip) and decide: serve a
 * fresh entry; serve a stale or soon-due one and refresh it in the
 * background; take the fill lock and let the app run; or wait for another
 * worker's fill and serve that.  While the app runs, its head is held only
 * until it is complete, so the status header can be injected; every byte
 * after it goes straight to the client, and a copy is kept when the
 * response may be stored.  finish: store, release the lock, bump the
 * purge generations the request invalidates -- all after the client
 * already has its whole response, so no round trip here delays it.
 *
 * The configuration is read once per process, at load, from the process
 * environment: inside a FastCGI accept loop `environ` may point at a
 * finished request's freed params, so nothing here calls getenv(). */
#include "engine.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>

#include "cache.h"
#include "clock.h"
#include "config_load.h"
#include "delivery.h"
#include "entry.h"
#include "hit.h"
#include "invalidate.h"
#include "key.h"
#include "log.h"
#include "near.h"
#include "pending.h"
#include "policy.h"
#include "random.h"
#include "request.h"
#include "route.h"
#include "stats.h"
#include "store.h"

/* What the cache did with a request, and each outcome's three faces: the
 * status header's value, its RFC 9211 Cache-Status, and the counter it
 * adds to.  A response the app gives says why it went forward (fwd=); one
 * from the cache says "hit; ttl=N" and its detail after that. */
typedef enum {
    CC_OUT_NONE,              /* followed only to purge: untouched, uncounted */
    CC_OUT_MISS,
    CC_OUT_HIT,
    CC_OUT_NEAR,              /* a hit from the worker's own memory */
    CC_OUT_STALE,
    CC_OUT_STALE_ERROR,       /* the stored copy, for an answer that failed */
    CC_OUT_COLLAPSED,         /* another worker's fill, waited for */
    CC_OUT_NO_CACHE,
    CC_OUT_METHOD,            /* an unsafe method */
    CC_OUT_BYPASS,
} cc_outcome;

static const struct outcome {
    const char *header;       /* X-Cache-Status value */
    const char *fwd;          /* Cache-Status fwd= of the app's response (for
                               * HIT and STALE, a refresh's, discarded) */
    const char *detail;       /* Cache-Status after "hit; ttl=N" */
    cc_stat stat;
} outcomes[] = {
    [CC_OUT_MISS] = {"MISS", "uri-miss", NULL, CC_STAT_MISS},
    [CC_OUT_HIT] = {"HIT", "uri-miss", "", CC_STAT_HIT},
    [CC_OUT_NEAR] = {"HIT", "uri-miss", "; detail=near", CC_STAT_HIT},
    [CC_OUT_STALE] = {"STALE", "uri-miss", "", CC_STAT_STALE},
    [CC_OUT_STALE_ERROR] = {"STALE", "uri-miss", NULL, CC_STAT_STALE},
    [CC_OUT_COLLAPSED] = {"HIT", "uri-miss", "; fwd=uri-miss; collapsed", CC_STAT_HIT},
    [CC_OUT_NO_CACHE] = {"NO_CACHE", "request", NULL, CC_STAT_NO_CACHE},
    [CC_OUT_METHOD] = {"BYPASS", "method", NULL, CC_STAT_BYPASS},
    [CC_OUT_BYPASS] = {"BYPASS", "bypass", NULL, CC_STAT_BYPASS},
};

/* The generation keys a finished request bumps. */
typedef struct bumps {
    size_t n;
    char keys[2 * CC_MAX_LIST + 8][CC_GEN_KEY_MAX];
    bool url[2 * CC_MAX_LIST + 8];
    cc_app_purge app;         /* the app's own purge headers */
} bumps;

struct cc_txn {
    const cc_config *cfg;     /* engine.cfg */
    cc_engine engine;         /* where its Redis connection comes from */
    const cc_route *route;    /* the request's route; NULL for a purge-only follow */
    cc_outcome outcome;       /* CC_OUT_NONE: inject nothing */
    bool cacheable;           /* may be answered from the cache */
    bool store;               /* keep a copy and store it at finish */
    bool background;          /* a refresh: nobody reads the output */
    bool head_done;           /* the head was sent (injected or as it was) */
    bool head_parsed;         /* t->head describes t->held */
    bool failed;              /* a write to the client failed */
    bool locked;              /* lock_token holds the key's fill lock */
    bool holdback;            /* may purge: the last bytes wait for the purge */
    bool range_hold;          /* a Range on a miss: the whole response is held,
                               * stored, and the client sent its part */
    bool hold_all;            /* the whole response is held until the app has
                               * ended (CGI with a fallback: its exit decides) */
    bool app_failed;          /* a 5xx, no head, or (CGI) a failed exit */
    bool discarding;          /* the fallback went out: the app's bytes go nowhere */
    bool pass;                /* the key is remembered uncacheable: no lock */
    bool uncacheable;         /* the answer turned out not storable */
    bool may_pass;            /* nothing worth keeping was found: an uncacheable
                               * answer may be remembered (pass=) */
    char seen[8];             /* the tail of what the lookup found (cc_found) */
    size_t seen_len;
    struct cc_found *fallback; /* what a failed answer gets (stale-if-error) */
    char error_detail[48];    /* Cache-Status of the fallback, after "hit; ttl=N" */
    int64_t content_length;   /* the head's Content-Length, or -1 */
    uint64_t body_out;        /* body bytes the app wrote */
    char lock_token[CC_LOCK_TOKEN_LEN + 1];
    uint64_t generation;      /* the key's generation when looked up */
    int64_t started;          /* monotonic ms at begin */
    int64_t compute_ms;
    struct bumps *bumps;      /* generations to bump if the request completes */
    cc_buf held;              /* the head, while incomplete; then kept for storing */
    cc_buf body;              /* the captured body */
    cc_buf tail;              /* with holdback: the app's latest write, unsent */
    cc_buf held_head;         /* with range_hold: the head as it would go out */
    cc_ask ask;               /* the request's preconditions and range */
    /* The large parts, kilobytes of buffers: not cleared when a txn is
     * made (a hit would spend most of its time clearing them).  rq is
     * copied in, key is written by cc_key_build before any use, and head
     * is read only once head_parsed says cc_head_parse filled it. */
    cc_request rq;
    cc_key key;
    cc_head head;
};

/* Early refresh's deterministic window: the last 1/REFRESH_WINDOW of a
 * TTL (refresh_due). */
#define REFRESH_WINDOW 10

static _Atomic(const cc_config *) current_config;
static cc_config disabled_config;   /* enabled == false, no routes */

static int discard(void *ctx, const char *data, size_t len)
{
    (void)ctx, (void)data, (void)len;
    return 0;
}

const cc_sink cc_engine_discard = {discard, NULL};

/* ---- configuration ------------------------------------------------------ */

static void report_problems(const cc_config *cfg)
{
    for (size_t i = 0; i < cfg->nproblems; i++) {
        const cc_problem *p = &cfg->problems[i];
        cc_log(p->warning ? CC_LOG_WARN : CC_LOG_ERROR, "%s: %s", p->variable, p->message);
    }
}

const cc_config *cc_engine_init(char *const *envp)
{
    const cc_config *cfg = atomic_load(&current_config);
    if (cfg != NULL)
        return cfg;
    cc_config *parsed = cc_config_load(envp);
    if (parsed == NULL) {
        cc_error("out of memory reading the configuration; caching off");
        cfg = &disabled_config;
    } else {
        cc_log_set_level(parsed->log_level);
        report_problems(parsed);
        cfg = parsed;
    }
    const cc_config *expected = NULL;
    if (!atomic_compare_exchange_strong(&current_config, &expected, cfg)) {
        /* Another thread got there first; its config stands. */
        if (parsed != NULL)
            cc_config_free(parsed);
        return expected;
    }
    return cfg;
}

void cc_engine_long_lived(void)
{
    cc_near_allow();
}

const cc_config *cc_engine_config(void)
{
    const cc_config *cfg = atomic_load(&current_config);
    return cfg != NULL ? cfg : &disabled_config;
}

/* The connection for this step of t: the engine's store, asked once. */
static cc_store *store_of(const cc_txn *t)
{
    return t->engine.store(t->engine.ctx, t->cfg);
}

static cc_store *thread_store(void *ctx, const cc_config *cfg)
{
    (void)ctx;
    return cc_store_for_thread(cfg);
}

/* ---- answers from the cache ---------------------------------------------- */

/* Appends the status header line ("X-Cache-Status: HIT\r\n") unless the
 * operator disabled it with an empty CGICACHE_STATUS_HEADER. */
static void append_status_line(cc_buf *b, const cc_config *cfg, const char *status)
{
    cc_status_line(b, cfg->status_header, status);
}

/* The response entry e gives t's request (hit.h). */
static void build_hit(cc_buf *out, cc_txn *t, const cc_entry *e, int64_t now)
{
    const char *detail = outcomes[t->outcome].detail;
    cc_hit_request rq = {
        .ask = &t->ask,
        .get = t->rq.method_bit != CC_M_HEAD,
        .status_header = t->cfg->status_header,
        .status = outcomes[t->outcome].header,
        .detail = detail != NULL ? detail : t->error_detail,
    };
    cc_hit_build(out, &rq, e, now);
}

/* Whether t's key is filled under the stampede lock. */
static bool locking(const cc_txn *t)
{
    return t->route->lock && !t->engine.shared_thread;
}

/* Should this fresh entry be recomputed now, in the background, before
 * it expires?  A request in its last tenth refreshes it: a key asked for
 * at least once in that window never expires cold, and one nobody asks
 * for is never refreshed (the lock lets one request do it).  Before that,
 * XFetch, with the compute time (at least 1% of the TTL) as its delta,
 * starts slow routes' refreshes earlier still. */
static bool refresh_due(const cc_txn *t, const cc_entry *e, int64_t now)
{
    double beta = t->cfg->early_refresh;
    int64_t expiry = e->stored_at_ms + e->ttl_ms;
    if (beta <= 0)
        return false;
    if (expiry - now <= e->ttl_ms / REFRESH_WINDOW)
        return true;
    int64_t weight = e->compute_ms > e->ttl_ms / 100 ? e->compute_ms : e->ttl_ms / 100;
    return cc_policy_early_refresh(now, expiry, weight, beta, cc_random_unit());
}

/* A stored entry was found: serves it, and keeps t for a background
 * refresh when it is stale or due early and this request wins the lock
 * (with lock=off every such request refreshes).  Returns false when the
 * hit could not be built (out of memory): the app answers instead. */
static bool serve_found(cc_txn *t, cc_store *s, cc_found *f, cc_buf *hit, bool *refresh)
{
    int64_t now = cc_now_ms();
    bool stale = f->state == CC_FOUND_STALE;
    *refresh = false;
    /* Only a GET can refresh: a HEAD's answer has no body to store. */
    if (t->store && (stale || refresh_due(t, &f->entry, now)))
        *refresh = !locking(t) || cc_cache_lock(s, t->cfg, &t->key, t->lock_token, NULL);
    t->outcome = stale ? CC_OUT_STALE : CC_OUT_HIT;
    build_hit(hit, t, &f->entry, now);
    cc_cache_found_free(f);
    /* Set before a failure too: a lock taken for the refresh is then the
     * miss's, released by its store, not left to wait out its TTL. */
    t->locked = *refresh && locking(t);
    if (hit->failed) {
        t->outcome = CC_OUT_MISS;     /* the app answers: said and counted so */
        cc_buf_free(hit);
        return false;
    }
    return true;
}

/* ---- begin ---------------------------------------------------------------- */

static void classify(cc_txn *t, cc_req_class cls)
{
    switch (cls) {
    case CC_REQ_CACHEABLE:
        t->cacheable = true;
        t->outcome = CC_OUT_MISS;
        t->store = t->rq.method_bit == CC_M_GET;  /* a HEAD's answer has no body */
        break;
    case CC_REQ_NO_CACHE:
        t->outcome = CC_OUT_NO_CACHE;
        break;
    case CC_REQ_UNSAFE:
        t->outcome = CC_OUT_METHOD;
        break;
    case CC_REQ_AMBIGUOUS:
        cc_debug("%s: request could be read two ways (repeated parameters or a path "
                 "not in normal form); not cached",
                 t->route->name);
        /* fall through */
    case CC_REQ_BYPASS:
    case CC_REQ_PRIVATE:
        t->outcome = CC_OUT_BYPASS;
        break;
    }
}

static cc_txn *new_txn(const cc_engine *e, const cc_route *route, const cc_request *rq)
{
    const cc_config *cfg = e->cfg;
    cc_txn *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    memset(t, 0, offsetof(cc_txn, rq));
    t->cfg = cfg;
    t->engine = *e;
    t->route = route;
    cc_request_copy(&t->rq, rq);
    t->started = cc_mono_ms();
    t->holdback = cc_invalidate_possible(cfg, route, rq->method_bit);
    return t;
}

void cc_engine_rebind(cc_txn *t, char *const *envp)
{
    cc_request rq;
    if (cc_request_init(&rq, envp) == 0)
        cc_request_copy(&t->rq, &rq);
}

/* A hit from the thread's near cache, unless XFetch says this request
 * should refresh the entry (through Redis, under its lock). */
static bool serve_near(cc_txn *t, cc_near *near, cc_store *s, cc_buf *hit)
{
    cc_entry e;
    int64_t now = cc_now_ms();
    if (!cc_near_get(near, s, &t->key, now, &e) || (t->store && refresh_due(t, &e, now)) ||
        !cc_hit_acceptable(&e, t->ask.accept_encoding))
        return false;
    t->outcome = CC_OUT_NEAR;
    build_hit(hit, t, &e, now);
    if (hit->failed) {
        t->outcome = CC_OUT_MISS;
        cc_buf_free(hit);
        return false;
    }
    cc_stats_count(t->cfg, t->route, CC_STAT_NEAR);
    return true;
}

/* ---- failed answers (stale-if-error) ---------------------------------------- */

static void drop_fallback(cc_txn *t)
{
    if (t->fallback == NULL)
        return;
    cc_cache_found_free(t->fallback);
    free(t->fallback);
    t->fallback = NULL;
}

/* An entry past its stale window: kept for t's answer to fall back on
 * while stale-if-error allows it, else let go.  Leaves f NONE. */
static void keep_fallback(cc_txn *t, cc_found *f, int64_t now)
{
    const cc_entry *e = &f->entry;
    int64_t window = cc_policy_error_window(t->route, e->head, e->head_len);
    if (now < e->stored_at_ms + e->ttl_ms + window &&
        cc_hit_acceptable(e, t->ask.accept_encoding) &&
        (t->fallback = malloc(sizeof *t->fallback)) != NULL) {
        *t->fallback = *f;
        f->reply = NULL;          /* owned by the fallback now */
        f->scratch = NULL;
        f->state = CC_FOUND_NONE; /* generation and tail stay, for the lock */
        return;
    }
    cc_cache_found_free(f);
}

/* The failure a fallback answers for: the app's 5xx status, or none. */
#define FAILED_NO_ANSWER 0     /* no head, a crash, a failed exit */
#define FAILED_FILL (-1)       /* the computation waited for failed */

/* The fallback's answer for a failure (status: the app's, or one of the
 * above), built into out; false when it cannot be (out of memory). */
static bool build_fallback(cc_txn *t, int status, cc_buf *out)
{
    if (status > 0)
        snprintf(t->error_detail, sizeof t->error_detail, "; fwd=uri-miss; fwd-status=%d", status);
    else
        snprintf(t->error_detail, sizeof t->error_detail, "; fwd=uri-miss; detail=%s",
                 status == FAILED_FILL ? "fill-failed" : "app-failed");
    cc_outcome was = t->outcome;
    t->outcome = CC_OUT_STALE_ERROR;
    build_hit(out, t, &t->fallback->entry, cc_now_ms());
    if (!out->failed)
        return true;
    cc_buf_free(out);
    t->outcome = was;
    return false;
}

/* t's answer failed: the fallback, built into out, answers instead.
 * Returns false when it cannot be built: the app's answer then goes out. */
static bool fall_back(cc_txn *t, int status, cc_buf *out)
{
    if (!build_fallback(t, status, out))
        return false;
    t->app_failed = true;
    t->store = false;
    cc_warn("%s: %s; the stored copy was served instead (stale-if-error)", t->key.full,
            status > 0              ? "the app answered with a server error"
            : status == FAILED_FILL ? "the computation waited for failed"
                                    : "the app failed to answer");
    cc_stats_count(t->cfg, t->route, CC_STAT_STALE_IF_ERROR);
    return true;
}

/* ---- begin, continued ---------------------------------------------------------- */

static bool has_entry(cc_found_state state)
{
    return state == CC_FOUND_FRESH || state == CC_FOUND_STALE;
}

/* Whether t's key has now been asked for min-uses times: counted in
 * Redis, fleet-wide, within a TTL.  Redis unable to say: not stored. */
static bool used_enough(cc_txn *t, cc_store *s)
{
    if (t->route->min_uses <= 1)
        return true;
    long long n = cc_cache_count_use(s, t->cfg, &t->key, t->route->ttl_ms);
    if (n >= (long long)t->route->min_uses)
        return true;
    cc_stats_count(t->cfg, t->route, CC_STAT_MIN_USES_SKIP);
    return false;
}

/* A cacheable request: look up, then serve, refresh, lead or wait. */
static cc_action begin_cacheable(cc_txn *t, cc_txn **txn, cc_buf *hit)
{
    cc_found found;
    bool refresh;
    if (cc_key_build(t->cfg, t->route, &t->rq, &t->key) != 0) {
        t->store = false;         /* too long to key: answered, never stored */
        return CC_ACT_RUN;
    }
    cc_store *s = store_of(t);
    if (cc_pending_count() > 0 && cc_pending_retry(s) > 0 && cc_pending_covers(&t->key)) {
        /* A purge of this entry has not reached Redis yet: what Redis
         * holds for it may be the page the purge removes. */
        t->store = false;
        return CC_ACT_RUN;
    }
    cc_near *near = cc_near_for_thread(t->cfg);
    if (near != NULL && serve_near(t, near, s, hit))
        return CC_ACT_SERVE;
    cc_near_mark mark = near != NULL ? cc_near_mark_now(near, s) : (cc_near_mark){0};
    int64_t now = cc_now_ms();
    if (cc_cache_lookup(s, t->cfg, &t->key, now, &found) != 0) {
        /* Redis unreachable: the app answers, and Cache-Status does not
         * promise a store the open breaker will refuse. */
        t->store = false;
        return CC_ACT_RUN;
    }
    t->generation = found.generation;
    memcpy(t->seen, found.tail, found.tail_len);
    t->seen_len = found.tail_len;
    if (near != NULL && found.state == CC_FOUND_FRESH)
        cc_near_put(near, s, &t->key, &found.entry, mark);
    if (found.state == CC_FOUND_FALLBACK)
        keep_fallback(t, &found, now);
    t->pass = found.state == CC_FOUND_PASS;
    t->may_pass = !has_entry(found.state) && t->fallback == NULL;
    if (has_entry(found.state) && !cc_hit_acceptable(&found.entry, t->ask.accept_encoding)) {
        /* Stored as the app encoded it, in a coding this client does not
         * take: the app answers it, and the entry stays for the others. */
        cc_cache_found_free(&found);
        t->store = false;
        return CC_ACT_RUN;
    }
    if (has_entry(found.state) && serve_found(t, s, &found, hit, &refresh)) {
        if (!refresh)
            return CC_ACT_SERVE;
        t->background = true;
        t->store = true;
        *txn = t;
        return CC_ACT_SERVE;
    }
    cc_cache_found_free(&found);
    if (!t->store || t->locked)
        return CC_ACT_RUN;        /* t->locked: serve_found took it */
    if (!used_enough(t, s)) {
        t->store = false;
        return CC_ACT_RUN;
    }
    if (t->pass) {
        /* Remembered uncacheable: every request runs at once, none waits
         * behind another's computation; a cacheable answer is stored. */
        cc_stats_count(t->cfg, t->route, CC_STAT_PASS);
        return CC_ACT_RUN;
    }
    if (!locking(t))
        return CC_ACT_RUN;
    if (cc_cache_lock(s, t->cfg, &t->key, t->lock_token, &found)) {
        t->locked = true;
        return CC_ACT_RUN;
    }
    /* Another worker is computing this key: wait for its fill (and take
     * it, unless it is in a coding this client does not take). */
    int64_t wait_began = cc_mono_ms();
    int waited = cc_cache_wait_fill(s, t->cfg, &t->key, &found);
    cc_stats_lock_wait(t->cfg, t->route, cc_mono_ms() - wait_began);
    if (waited == 0) {
        bool taken = cc_hit_acceptable(&found.entry, t->ask.accept_encoding);
        if (taken) {
            t->outcome = CC_OUT_COLLAPSED;
            build_hit(hit, t, &found.entry, cc_now_ms());
            cc_stats_count(t->cfg, t->route, CC_STAT_COLLAPSED);
        }
        cc_cache_found_free(&found);
        if (taken && !hit->failed)
            return CC_ACT_SERVE;
        if (taken) {
            t->outcome = CC_OUT_MISS;
            cc_buf_free(hit);
        }
    } else if (waited == CC_FILL_FAILED && t->fallback != NULL && fall_back(t, FAILED_FILL, hit)) {
        return CC_ACT_SERVE;      /* the computation waited for failed */
    }
    t->store = false;             /* as nginx: a timed-out waiter does not store */
    cc_stats_count(t->cfg, t->route, CC_STAT_LOCK_GAVE_UP);
    return CC_ACT_RUN;
}

/* A Range on a request the app answers for the cache: the app is asked
 * for the whole response (its Range and If-Range parameters renamed in
 * place, to lower case, so getenv and FCGX_GetParam find none), which is
 * stored; with hold, the client then gets its part from it.  (The wire
 * adapter's app reads its params from the socket, not from envp: one
 * that answers the Range itself sends a 206, passed on, not stored.) */
static void ask_whole(cc_txn *t, bool hold)
{
    for (char *const *e = t->rq.envp; *e != NULL; e++) {
        char *kv = *e;
        if (strncmp(kv, "HTTP_RANGE=", 11) == 0 || strncmp(kv, "HTTP_IF_RANGE=", 14) == 0)
            for (char *c = kv; *c != '='; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + ('a' - 'A'));
    }
    t->range_hold = hold && t->rq.method_bit == CC_M_GET;
}

cc_action cc_engine_begin(char *const *envp, cc_txn **txn, cc_buf *hit)
{
    const cc_engine e = {cc_engine_config(), thread_store, NULL, false};
    return cc_engine_begin_with(&e, envp, txn, hit);
}

cc_action cc_engine_begin_shared(char *const *envp, cc_txn **txn, cc_buf *hit)
{
    const cc_engine e = {cc_engine_config(), thread_store, NULL, true};
    return cc_engine_begin_with(&e, envp, txn, hit);
}

cc_action cc_engine_begin_with(const cc_engine *e, char *const *envp, cc_txn **txn, cc_buf *hit)
{
    const cc_config *cfg = e->cfg;
    *txn = NULL;
    if (!cfg->enabled || cfg->nroutes == 0)
        return CC_ACT_PASS;
    cc_request rq;
    if (cc_request_target(&rq, envp) != 0)
        return CC_ACT_PASS;
    const cc_route *route = cc_route_match(cfg, rq.method_bit, rq.norm, rq.norm_len);
    if (route == NULL) {
        /* An unsafe request to a URL a GET route caches: followed quietly,
         * only to purge that URL if it succeeds. */
        if (!(rq.method_bit & CC_M_UNSAFE) ||
            cc_route_match(cfg, CC_M_GET, rq.norm, rq.norm_len) == NULL)
            return CC_ACT_PASS;
        cc_request_details(&rq);
        return (*txn = new_txn(e, NULL, &rq)) != NULL ? CC_ACT_RUN : CC_ACT_PASS;
    }
    cc_request_details(&rq);
    cc_txn *t = new_txn(e, route, &rq);
    if (t == NULL)
        return CC_ACT_PASS;
    classify(t, cc_policy_request_ask(cfg, route, &t->rq, &t->ask));
    cc_action action = CC_ACT_RUN;
    if (t->cacheable)
        action = begin_cacheable(t, txn, hit);
    if (t->store && t->ask.range != NULL && (action == CC_ACT_RUN || *txn != NULL))
        ask_whole(t, action == CC_ACT_RUN);
    cc_stats_count(cfg, route, outcomes[t->outcome].stat);
    if (action == CC_ACT_SERVE) {
        if (*txn == NULL) {
            drop_fallback(t);
            free(t);
        }
        return CC_ACT_SERVE;
    }
    *txn = t;
    return CC_ACT_RUN;
}

/* ---- the app's output ------------------------------------------------------ */

static int send_now(cc_txn *t, const cc_sink *sink, const char *data, size_t len)
{
    if (len == 0 || t->failed)
        return t->failed ? -1 : 0;
    if (sink->write(sink->ctx, data, len) != 0) {
        t->failed = true;
        t->store = false;
        return -1;
    }
    return 0;
}

/* Sends what the app wrote.  A request that may purge keeps its latest
 * write back (sending the one before): until the purge is acknowledged,
 * the client must not have the whole response, or its next request
 * could still be answered with the page the purge removes. */
static int emit(cc_txn *t, const cc_sink *sink, const char *data, size_t len)
{
    if (!t->holdback)
        return send_now(t, sink, data, len);
    if (send_now(t, sink, t->tail.data, t->tail.len) != 0)
        return -1;
    t->tail.len = 0;
    cc_buf_append(&t->tail, data, len);
    if (!t->tail.failed)
        return 0;
    cc_buf_free(&t->tail);        /* no memory to hold it: send it now */
    return send_now(t, sink, data, len);
}

/* Whether the app's response is held whole before any of it goes out. */
static bool holding(const cc_txn *t)
{
    return t->range_hold || t->hold_all;
}

static void capture(cc_txn *t, const char *data, size_t len)
{
    if (!(t->store || holding(t)) || len == 0)
        return;
    if (t->body.len + len > t->cfg->max_size) {
        cc_debug("%s: response over CGICACHE_MAX_SIZE; not stored", t->route->name);
        t->uncacheable = t->store;
        t->store = false;
        cc_buf_free(&t->body);
        return;
    }
    cc_buf_append(&t->body, data, len);
    if (t->body.failed) {
        t->store = false;
        cc_buf_free(&t->body);
    }
}

/* Sends the fallback instead of the app's failed answer (status: the
 * app's, 0 for none); what the app writes from here on goes nowhere.
 * Returns 1 sent, -1 the client is gone, 0 it could not be built: the
 * caller sends the app's answer. */
static int send_fallback(cc_txn *t, const cc_sink *sink, int status);

/* The lines a response the app gives carries: the status header and
 * Cache-Status, each ending in CRLF. */
static void forward_lines(cc_buf *out, const cc_txn *t)
{
    append_status_line(out, t->cfg, outcomes[t->outcome].header);
    cc_buf_appendf(out, "Cache-Status: cgicache; fwd=%s%s\r\n", outcomes[t->outcome].fwd,
                   t->store ? "; stored" : "");
}

/* The head is complete: send it with the status lines injected (or, for
 * a Range held on a miss, keep it until the body is whole). */
static int send_head(cc_txn *t, const cc_sink *sink)
{
    const cc_config *cfg = t->cfg;
    if (t->outcome == CC_OUT_NONE) {
        /* Followed for a purge only: untouched but for its purge headers. */
        cc_buf out = {0};
        if (cc_head_has_app_purge(&t->head))
            cc_head_inject(&out, &t->head, NULL, "", 0);
        int rc = out.data != NULL && !out.failed ? emit(t, sink, out.data, out.len)
                                                 : emit(t, sink, t->held.data, t->head.head_len);
        cc_buf_free(&out);
        return rc;
    }
    int sent;
    t->app_failed = t->app_failed || t->head.status >= 500;
    if (t->fallback != NULL && t->head.status >= 500 &&
        (sent = send_fallback(t, sink, t->head.status)) != 0)
        return sent < 0 ? -1 : 0;
    bool storable = t->store &&
                    cc_policy_response_ttl(cfg, t->route, &t->head, 0, cc_now_ms(), NULL) > 0;
    if (!storable && t->store) {
        t->store = false;
        t->uncacheable = t->head.status != 206 && t->head.status != 304;
    }
    cc_buf extra = {0}, out = {0};
    forward_lines(&extra, t);
    cc_head_inject(&out, &t->head, cfg->tags_header, extra.data, extra.len);
    int rc = 0;
    if (extra.failed || out.failed) {
        /* No memory to rewrite the head: send it as the app wrote it. */
        t->store = false;
        t->range_hold = t->hold_all = false;
        drop_fallback(t);
        rc = emit(t, sink, t->held.data, t->head.head_len);
    } else {
        if (!storable || t->head.status != 200)
            t->range_hold = false; /* not a copy to take a part of: as the app wrote it */
        if (holding(t)) {
            t->held_head = out;   /* sent with the body, or its part, or not at all */
            out = (cc_buf){0};
        } else {
            rc = emit(t, sink, out.data, out.len);
        }
    }
    cc_buf_free(&extra);
    cc_buf_free(&out);
    return rc;
}

/* A Range held on a miss is given up (the copy grew too large): what was
 * held goes out, whole, and the rest streams. */
static int release_hold(cc_txn *t, const cc_sink *sink)
{
    t->range_hold = t->hold_all = false;
    drop_fallback(t);             /* the app's answer is going out */
    int rc = emit(t, sink, t->held_head.data, t->held_head.len);
    if (rc == 0 && t->body.len > 0)
        rc = emit(t, sink, t->body.data, t->body.len);
    cc_buf_free(&t->held_head);
    return rc;
}

/* Body bytes the app wrote: sent and kept, or (a Range held on a miss)
 * only kept. */
static int body_bytes(cc_txn *t, const cc_sink *sink, const char *data, size_t len)
{
    t->body_out += len;
    if (t->discarding)
        return 0;
    if (holding(t) && t->body.len + len > t->cfg->max_size && release_hold(t, sink) != 0)
        return -1;
    if (!holding(t)) {
        int rc = emit(t, sink, data, len);
        capture(t, data, len);
        return rc;
    }
    capture(t, data, len);
    if (t->body.data != NULL)
        return 0;
    /* No memory to hold it: the response cannot be sent whole. */
    t->failed = true;
    return -1;
}

/* Gives up on the head (malformed or too large): from here on the app's
 * bytes go out exactly as written, and nothing is stored. */
static int pass_head_as_is(cc_txn *t, const cc_sink *sink)
{
    t->head_done = true;
    t->store = false;
    int sent;
    if (t->fallback != NULL && (sent = send_fallback(t, sink, FAILED_NO_ANSWER)) != 0) {
        cc_buf_free(&t->held);
        return sent < 0 ? -1 : 0;
    }
    drop_fallback(t);
    int rc = emit(t, sink, t->held.data, t->held.len);
    cc_buf_free(&t->held);
    return rc;
}

static int send_fallback(cc_txn *t, const cc_sink *sink, int status)
{
    cc_buf out = {0};
    if (!fall_back(t, status, &out))
        return 0;
    t->discarding = true;
    t->range_hold = t->hold_all = false;
    cc_buf_free(&t->held_head);
    drop_fallback(t);
    int rc = emit(t, sink, out.data, out.len);
    cc_buf_free(&out);
    return rc != 0 ? -1 : 1;
}

bool cc_engine_last_words(cc_txn *t, cc_buf *out)
{
    if (t->fallback == NULL || t->background)
        return false;
    cc_outcome was = t->outcome;
    bool built = build_fallback(t, FAILED_NO_ANSWER, out);
    t->outcome = was;
    return built;
}

bool cc_engine_unanswered(const cc_txn *t)
{
    return !t->head_done;
}

bool cc_engine_hold_to_end(cc_txn *t)
{
    t->hold_all = t->fallback != NULL;
    return t->hold_all;
}

void cc_engine_app_failed(cc_txn *t)
{
    t->app_failed = true;
}

/* The Content-Length the app declared, or -1. */
static int64_t declared_length(const cc_head *head)
{
    const cc_header *h = cc_head_find(head, "Content-Length");
    if (h == NULL || h->value_len == 0 || h->value_len > 15)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9')
            return -1;
        n = n * 10 + (h->value[i] - '0');
    }
    return n;
}

bool cc_engine_output_complete(const cc_txn *t)
{
    return t->head_parsed && t->content_length >= 0 && t->body_out >= (uint64_t)t->content_length;
}

int cc_engine_write(cc_txn *t, const cc_sink *sink, const char *data, size_t len)
{
    if (t->head_done)
        return body_bytes(t, sink, data, len);
    size_t before = t->held.len;
    cc_buf_append(&t->held, data, len);
    if (t->held.failed)
        return pass_head_as_is(t, sink);
    cc_head_result r = cc_head_parse(t->held.data, t->held.len, &t->head);
    if (r == CC_HEAD_INCOMPLETE)
        return 0;
    if (r == CC_HEAD_BAD)
        return pass_head_as_is(t, sink);
    t->head_parsed = true;
    t->head_done = true;
    t->content_length = declared_length(&t->head);
    int rc = send_head(t, sink);
    /* What followed the blank line in this write is body. */
    size_t body_off = t->head.head_len - before;
    if (rc == 0 && body_off < len)
        rc = body_bytes(t, sink, data + body_off, len - body_off);
    return rc;
}

/* Appends the head a stored copy of t's response keeps (stored form,
 * http.h), with the ETag etag=auto gives it: a 2xx without a validator of
 * its own (ETag or Last-Modified; one it has is never changed) gets one
 * made from its body. */
static void stored_head(cc_buf *out, const cc_txn *t)
{
    cc_head_store_form(out, &t->head, t->cfg->tags_header);
    if (!t->route->etag_auto || t->head.status < 200 || t->head.status > 299 ||
        cc_head_find(&t->head, "ETag") != NULL || cc_head_find(&t->head, "Last-Modified") != NULL)
        return;
    char etag[CC_ETAG_AUTO_LEN + 1];
    cc_etag_of_body(etag, t->body.data != NULL ? t->body.data : "", t->body.len);
    cc_buf_append_str(out, "ETag: ");
    cc_buf_append_str(out, etag);
    cc_buf_append(out, "\r\n", 2);
}

/* The app's whole response to a Range held on a miss is in: the client
 * gets its part (206) or a 416, made from the head a hit would give
 * (what the copy keeps), or the whole when the Range asks for that or
 * cannot be read.  Its preconditions went to the app with it. */
static int send_held_range(cc_txn *t, const cc_sink *sink)
{
    cc_validators v;
    cc_send send = {CC_SEND_FULL, 0, 0};
    cc_ask range_only = {.range = t->ask.range, .if_range = t->ask.if_range};
    cc_buf stored = {0}, out = {0};
    t->range_hold = false;
    stored_head(&stored, t);
    if (!stored.failed) {
        cc_validators_of(stored.data, stored.len, t->head.status, t->body.len, &v);
        cc_delivery_decide(&range_only, &v, true, cc_now_ms(), &send);
    }
    if (send.kind != CC_SEND_FULL) {
        cc_delivery_head(&out, stored.data, stored.len, &send, t->body.len);
        forward_lines(&out, t);
        cc_buf_append(&out, "\r\n", 2);
    }
    int rc;
    if (send.kind == CC_SEND_FULL || out.failed) {
        rc = release_hold(t, sink);
    } else {
        rc = emit(t, sink, out.data, out.len);
        if (rc == 0 && send.kind == CC_SEND_PARTIAL)
            rc = emit(t, sink, t->body.data + send.first, send.last - send.first + 1);
        cc_buf_free(&t->held_head);
    }
    cc_buf_free(&stored);
    cc_buf_free(&out);
    return rc;
}

/* The app has ended, its whole response held (hold_all): the fallback
 * if it failed, else its response (or the part a Range asks for). */
static int end_hold(cc_txn *t, const cc_sink *sink)
{
    t->hold_all = false;
    int sent;
    if (t->app_failed && t->fallback != NULL &&
        (sent = send_fallback(t, sink, FAILED_NO_ANSWER)) != 0)
        return sent < 0 ? -1 : 0;
    return t->range_hold ? send_held_range(t, sink) : release_hold(t, sink);
}

static void collect_bumps(cc_txn *t);

static void invalidate(cc_txn *t);

int cc_engine_end_output(cc_txn *t, const cc_sink *sink)
{
    if (t->compute_ms == 0)
        t->compute_ms = cc_mono_ms() - t->started;
    int rc = 0;
    if (t->hold_all && t->head_done)
        rc = end_hold(t, sink);
    else if (t->range_hold)
        rc = send_held_range(t, sink);
    if (!t->head_done) {
        /* The app ended without completing its head: it failed (the
         * fallback answers, if there is one), else what it wrote goes. */
        t->app_failed = t->outcome != CC_OUT_NONE;
        rc = pass_head_as_is(t, sink);
    } else
        collect_bumps(t);
    if (t->bumps != NULL && (t->bumps->n > 0 || t->bumps->app.ntags + t->bumps->app.nprefixes > 0))
        invalidate(t);
    if (t->holdback) {
        t->holdback = false;
        if (send_now(t, sink, t->tail.data, t->tail.len) != 0)
            rc = -1;
        cc_buf_free(&t->tail);
    }
    return t->failed ? -1 : rc;
}

/* ---- finish ------------------------------------------------------------------ */

static void add_bump(void *ctx, const char *gen_key, bool url)
{
    bumps *b = ctx;
    if (b->n == sizeof b->url / sizeof b->url[0])
        return;
    snprintf(b->keys[b->n], sizeof b->keys[0], "%s", gen_key);
    b->url[b->n++] = url;
}

/* Works out what the request invalidates while its params still exist:
 * the adapter frees them (the real finish) before cc_engine_finish. */
static void collect_bumps(cc_txn *t)
{
    /* A client gone away does not undo the app's write: purge anyway. */
    if (!t->head_parsed || t->bumps != NULL ||
        !cc_invalidate_possible(t->cfg, t->route, t->rq.method_bit))
        return;
    t->bumps = calloc(1, sizeof *t->bumps);
    if (t->bumps == NULL)
        return;
    cc_invalidate_targets(t->cfg, t->route, &t->rq, &t->head, add_bump, t->bumps);
    cc_invalidate_app_purge(&t->rq, &t->head, &t->bumps->app);
    if (t->bumps->app.ignored > 0)
        cc_debug("%zu purge header value(s) ignored: malformed or over the bounds",
                 t->bumps->app.ignored);
}

/* Encodes the captured response; returns its Redis lifetime, or 0 when it
 * must not be stored (*value is then NULL). */
static int64_t encode_response(cc_txn *t, bool completed, char **value, size_t *value_len)
{
    const cc_config *cfg = t->cfg;
    int64_t now = cc_now_ms();
    const char *why = "request not completed";
    int64_t ttl = 0;
    *value = NULL;
    if (completed && t->store && t->head_parsed && !t->failed)
        ttl = cc_policy_response_ttl(cfg, t->route, &t->head, t->body.len, now, &why);
    if (ttl <= 0) {
        if (t->background)
            cc_warn("%s: refresh not stored (%s); the stored copy stays until it expires",
                    t->key.full, why != NULL ? why : "policy");
        else
            cc_debug("%s: not stored (%s)", t->route->name, why != NULL ? why : "policy");
        return 0;
    }
    cc_buf head = {0};
    stored_head(&head, t);
    /* Redis keeps it through its stale window, and as long as it may
     * stand in for a failed answer (stale-if-error), whichever is longer;
     * the stale window is what the entry says (judged at lookup). */
    int64_t window = cc_policy_error_window(t->route, head.data != NULL ? head.data : "", head.len);
    int64_t stale = t->route->stale_ms;
    int64_t life = ttl + (window > stale ? window : stale);
    if (life > CC_ENTRY_MAX_LIFE_MS) {
        life = CC_ENTRY_MAX_LIFE_MS;
        ttl = life < ttl ? life : ttl;
    }
    if (stale > life - ttl)
        stale = life - ttl;
    const cc_header *coding = cc_head_find(&t->head, "Content-Encoding");
    bool encoded = coding != NULL &&
                   !(coding->value_len == 8 && strncasecmp(coding->value, "identity", 8) == 0);
    cc_entry e = {
        .status = (uint16_t)t->head.status,
        .flags = encoded ? CC_ENTRY_APP_ENCODED : 0,
        .stored_at_ms = now,
        .ttl_ms = ttl,
        .stale_ms = stale,
        .compute_ms = (uint32_t)(t->compute_ms < 0 ? 0 : t->compute_ms),
        .generation = t->generation,
        .key = t->key.full,
        .key_len = t->key.full_len,
        .head = head.data != NULL ? head.data : "",
        .head_len = head.len,
        .body = t->body.data != NULL ? t->body.data : "",
        .body_len = t->body.len,
    };
    if (head.failed || cc_entry_encode(&e, t->route->compress, cfg->compress_min,
                                       cfg->compress_level, value, value_len) != 0)
        life = 0;
    cc_buf_free(&head);
    return life;
}

typedef struct app_touched {
    cc_near *near;
    bool undelivered;
} app_touched;

static void forget_or_keep(void *ctx, const char *gen_key, bool url)
{
    const app_touched *a = ctx;
    if (a->near != NULL)
        cc_near_forget(a->near, gen_key);
    if (a->undelivered)
        cc_pending_add(gen_key, url);
}

/* Sends the generation bumps found at the end of output and waits for
 * Redis to take them; those it could not take are kept for retry. */
static void invalidate(cc_txn *t)
{
    const char *keys[sizeof t->bumps->url / sizeof t->bumps->url[0]];
    /* This worker's own near entries go at once; the others' when
     * Redis's message about the generation reaches them. */
    cc_near *near = cc_near_for_thread(t->cfg);
    for (size_t i = 0; i < t->bumps->n; i++) {
        keys[i] = t->bumps->keys[i];
        cc_debug("purging generation %s", keys[i]);
        if (near != NULL)
            cc_near_forget(near, keys[i]);
    }
    if (cc_cache_bump(store_of(t), t->bumps->n, keys, t->bumps->url) != 0)
        for (size_t i = 0; i < t->bumps->n; i++)
            cc_pending_add(keys[i], t->bumps->url[i]);
    t->bumps->n = 0;
    if (t->bumps->app.ntags + t->bumps->app.nprefixes > 0) {
        /* What the app's purge may touch: forgotten here, and kept for
         * retry (whole routes) when Redis did not take it. */
        app_touched touched = {near, cc_cache_app_purge(store_of(t), t->cfg, &t->bumps->app) != 0};
        cc_invalidate_app_routes(t->cfg, &t->bumps->app, forget_or_keep, &touched);
        t->bumps->app.ntags = t->bumps->app.nprefixes = 0;
    }
}

void cc_engine_forget(cc_txn *t)
{
    if (t == NULL)
        return;
    drop_fallback(t);
    free(t->bumps);
    cc_buf_free(&t->held);
    cc_buf_free(&t->body);
    cc_buf_free(&t->tail);
    cc_buf_free(&t->held_head);
    free(t);
}

void cc_engine_finish(cc_txn *t, bool completed)
{
    if (t == NULL)
        return;
    cc_store *s = NULL;
    /* An answer that turned out uncacheable is remembered (pass=), so the
     * key's next requests run side by side, not one after another behind
     * its lock; not after a failure, a refresh, or a client gone away. */
    bool remember = t->uncacheable && completed && !t->failed && !t->app_failed && t->may_pass &&
                    t->route != NULL && t->route->pass_ms > 0;
    if (t->route != NULL && (t->store || t->locked || remember)) {
        s = store_of(t);
        char *value;
        size_t len = 0;
        int64_t life = encode_response(t, completed, &value, &len);
        const cc_header *tags = value != NULL ? cc_head_find(&t->head, t->cfg->tags_header) : NULL;
        cc_fill fill = {
            .value = value,
            .len = len,
            .px = life,
            .tags = tags != NULL ? tags->value : NULL,
            .tags_len = tags != NULL ? tags->value_len : 0,
            .token = t->locked ? t->lock_token : NULL,
            .failed = t->app_failed,
            .pass_ms = remember ? t->route->pass_ms : 0,
            .seen = t->seen,
            .seen_len = t->seen_len,
        };
        int stored = cc_cache_store(s, t->cfg, &t->key, &fill);
        /* Tracking runs with NOLOOP (near.c): Redis tells the others of
         * this store, and this worker forgets what it changes itself. */
        cc_near *near = stored > 0 ? cc_near_for_thread(t->cfg) : NULL;
        if (near != NULL) {
            cc_near_forget(near, t->key.redis);
            cc_near_forget(near, t->key.url_gen);
        }
        if (stored != 0 && value != NULL)
            cc_stats_count(t->cfg, t->route, stored > 0 ? CC_STAT_STORE : CC_STAT_STORE_ERROR);
        /* What happened, not what was meant: a refusal by Redis is logged
         * when its reply is read. */
        if (stored < 0 && value != NULL)
            cc_info("%s: not stored: redis unreachable", t->key.full);
        else if (stored > 0)
            cc_debug("%s: store sent", t->key.full);
        free(value);
    }
    /* The client has its response: a good moment to retry purges that
     * could not be delivered before. */
    if (cc_pending_count() > 0)
        cc_pending_retry(s != NULL ? s : store_of(t));
    cc_engine_forget(t);
}

void cc_engine_skip_refresh(cc_txn *t)
{
    if (t == NULL)
        return;
    t->background = false;     /* not a refresh that failed: nothing to warn of */
    cc_engine_finish(t, false);
}

void cc_engine_settle(int64_t max_ms)
{
    cc_store_settle();
    const cc_config *cfg = cc_engine_config();
    int64_t deadline = cc_mono_ms() + max_ms;
    size_t left;
    while ((left = cc_pending_retry(cc_store_for_thread(cfg))) > 0 && cc_mono_ms() < deadline) {
        /* The breaker answers at once while Redis is down: wait a while
         * (poll, one of the calls libc.c reaches libc for). */
        poll(NULL, 0, 200);
    }
    if (left > 0)
        cc_error("%zu purge(s) lost: redis did not take them within %lld ms of the response", left,
                 (long long)max_ms);
}
