/* engine.h -- the request lifecycle, independent of libfcgi and of CGI.
 *
 * An adapter asks cc_engine_begin what to do with a request:
 *   CC_ACT_PASS   not ours: touch nothing (the fast path);
 *   CC_ACT_SERVE  a cached response is in *hit: send it, skip the app;
 *   CC_ACT_RUN    let the app answer, feeding its output through
 *                 cc_engine_write (which injects the status header into the
 *                 head and keeps a copy when the response may be stored),
 *                 then cc_engine_end_output and cc_engine_finish.
 * The adapter supplies the sink: the function that really sends bytes to
 * the client (the real FCGX_PutStr, or write(2) on a CGI's stdout). */
#ifndef CGICACHE_ENGINE_H
#define CGICACHE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"

typedef enum { CC_ACT_PASS, CC_ACT_SERVE, CC_ACT_RUN } cc_action;

/* Sends bytes to the client; returns 0, or -1 when they could not be sent. */
typedef struct cc_sink {
    int (*write)(void *ctx, const char *data, size_t len);
    void *ctx;
} cc_sink;

typedef struct cc_txn cc_txn;

typedef struct cc_store cc_store;

/* What the engine works with: a configuration, and where a request gets
 * its Redis connection.  store is asked on the request's thread, once at
 * each step that talks to Redis (begin, the end of output, finish), and
 * returns NULL when Redis cannot be reached now; every cache operation of
 * that step runs on what it gave.  The process's engine (cc_engine_begin)
 * is the configuration cc_engine_init read with the calling thread's own
 * connection (cc_store_for_thread); a test gives a store of its own. */
typedef struct cc_engine {
    const cc_config *cfg;
    cc_store *(*store)(void *ctx, const cc_config *cfg);
    void *ctx;
    /* The thread serves other requests while this one is in progress (an
     * event loop): it must never wait for another request's fill (that
     * may be its own), and takes no fill lock (a lock's holder is known by
     * its connection, which the thread's requests share). */
    bool shared_thread;
} cc_engine;

/* Reads the configuration from envp once per process (idempotent), logs
 * its problems once, and sets the log level.  Returns the config (never
 * NULL; a disabled one when memory ran out). */
const cc_config *cc_engine_init(char *const *envp);
const cc_config *cc_engine_config(void);

/* This process answers many requests (a FastCGI worker, not a CGI
 * program): its threads may keep hits in their own memory (near.h). */
void cc_engine_long_lived(void);

/* Decides for one request.  On CC_ACT_SERVE, *hit holds the whole
 * response (the caller frees it with cc_buf_free); on CC_ACT_RUN, *txn is
 * the request's state.  envp must outlive the transaction.
 *
 * CC_ACT_SERVE with *txn set asks for a background refresh: this request
 * holds the refresh lock, and once the client has its (stale or still
 * fresh) response, the app should answer the same request again with its
 * output going to a sink that discards it (cc_engine_discard), so the
 * engine can store the new copy.  No client waits for it.  When envp will
 * not outlive that run, the caller gives a copy with cc_engine_rebind. */
cc_action cc_engine_begin(char *const *envp, cc_txn **txn, cc_buf *hit);

/* The same for a thread that has other requests in progress (see
 * cc_engine.shared_thread). */
cc_action cc_engine_begin_shared(char *const *envp, cc_txn **txn, cc_buf *hit);

/* The same with the engine e (copied into the transaction). */
cc_action cc_engine_begin_with(const cc_engine *e, char *const *envp, cc_txn **txn, cc_buf *hit);

/* Points txn at another copy of its request's params (same contents). */
void cc_engine_rebind(cc_txn *txn, char *const *envp);

/* The sink of a background refresh: accepts everything, sends nothing. */
extern const cc_sink cc_engine_discard;

/* The app wrote data.  Returns 0, or -1 when the sink failed (the app
 * sees the error it would have seen without cgicache). */
int cc_engine_write(cc_txn *txn, const cc_sink *sink, const char *data, size_t len);

/* True once the app has written the whole body its head's Content-Length
 * announced: a server may end the response there (lighttpd then sends a
 * CGI SIGTERM) before the app has exited. */
bool cc_engine_output_complete(const cc_txn *txn);

/* For an adapter that can still answer when the app dies (a fatal
 * signal) before its head went out: the answer the stored copy gives
 * then (stale-if-error), built into out now, since a dying process can
 * build nothing.  False when the request has none. */
bool cc_engine_last_words(cc_txn *txn, cc_buf *out);

/* Whether nothing of the app's answer has gone out yet (nor anything in
 * its place): a read of one field, safe in a signal handler. */
bool cc_engine_unanswered(const cc_txn *txn);

/* For an adapter that learns how the app ended only after its output
 * (a CGI program's exit status): when the request has a stored copy to
 * fall back on (stale-if-error), the whole response is held until
 * cc_engine_end_output (up to CGICACHE_MAX_SIZE; past it, it streams and
 * the fallback is let go).  Returns whether it is held. */
bool cc_engine_hold_to_end(cc_txn *txn);

/* The app failed (a CGI program exited non-zero or by a signal): said
 * before cc_engine_end_output, whose held response the fallback then
 * replaces. */
void cc_engine_app_failed(cc_txn *txn);

/* The app is done writing (finish, close or abandon): sends any head still
 * held, or, when the app failed (a 5xx, no head, cc_engine_app_failed)
 * and stale-if-error allows it, the stored copy instead.  Returns 0 or
 * -1 as above. */
int cc_engine_end_output(cc_txn *txn, const cc_sink *sink);

/* Ends the transaction: stores the captured response when completed is
 * true (the app finished normally and every write reached the client) and
 * policy allows it; then frees txn. */
void cc_engine_finish(cc_txn *txn, bool completed);

/* For a process about to exit (a CGI): reads the replies Redis still owes
 * and keeps retrying purges that could not be delivered, for at most
 * max_ms (the client already has its response).  A purge still pending
 * then is lost, and logged as an error. */
void cc_engine_settle(int64_t max_ms);

/* Ends the background refresh txn (CC_ACT_SERVE with *txn set) without
 * running it: its lock is released, nothing is stored or logged. */
void cc_engine_skip_refresh(cc_txn *txn);

/* Frees txn without a word to Redis: for a forked copy of a transaction
 * that another process owns (and whose lock it must not release). */
void cc_engine_forget(cc_txn *txn);

#endif
