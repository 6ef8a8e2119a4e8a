/* pending.c -- purges this process could not deliver (see pending.h).
 *
 * The list is shared by the process's threads behind a mutex that is held
 * only to copy or edit it, never across Redis I/O, and that fork handlers
 * take and give back, so a child forked while another thread edits it
 * inherits a consistent list and an unlocked mutex.  Nothing here runs on
 * a request while the list is empty but one atomic load. */
#include "pending.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "log.h"

typedef struct pending_key {
    char name[CC_GEN_KEY_MAX];
    bool url;
} pending_key;

/* Retries are spaced: while Redis refuses writes but answers (out of
 * memory, a replica), every request retrying would double its latency. */
#define RETRY_EVERY_MS 200

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int64_t next_retry_ms;
static pending_key keys[CC_PENDING_MAX];
static atomic_size_t count;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
    pthread_mutex_lock(&lock);
}
static void after_fork(void)
{
    pthread_mutex_unlock(&lock);
}
static void install_fork_handlers(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
}

/* Is name pending?  Called with the lock held. */
static bool held(const char *name)
{
    size_t n = atomic_load(&count);
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].name, name) == 0)
            return true;
    return false;
}

/* The route generation a URL generation key "<p>:<route>:gen:<hash>"
 * belongs to: the key cut before its last ':'. */
static void route_of(const char *url_gen, char *out, size_t cap)
{
    const char *colon = strrchr(url_gen, ':');
    size_t n = colon != NULL ? (size_t)(colon - url_gen) : strlen(url_gen);
    snprintf(out, cap, "%.*s", (int)n, url_gen);
}

void cc_pending_add(const char *gen_key, bool url)
{
    pthread_once(&fork_once, install_fork_handlers);
    char widened[CC_GEN_KEY_MAX];
    pthread_mutex_lock(&lock);
    size_t n = atomic_load(&count);
    if (url && n >= CC_PENDING_MAX - 1) {
        route_of(gen_key, widened, sizeof widened);
        gen_key = widened;
        url = false;
    }
    if (!held(gen_key) && n < CC_PENDING_MAX) {
        snprintf(keys[n].name, sizeof keys[n].name, "%s", gen_key);
        keys[n].url = url;
        atomic_store(&count, n + 1);
    } else if (!held(gen_key)) {
        cc_error("purge of %s lost: %d purges already pending", gen_key, CC_PENDING_MAX);
    }
    pthread_mutex_unlock(&lock);
}

size_t cc_pending_count(void)
{
    return atomic_load_explicit(&count, memory_order_acquire);
}

bool cc_pending_covers(const cc_key *key)
{
    if (cc_pending_count() == 0)
        return false;
    pthread_mutex_lock(&lock);
    bool covered = held(key->route_gen) || held(key->url_gen);
    pthread_mutex_unlock(&lock);
    return covered;
}

size_t cc_pending_retry(cc_store *s)
{
    if (cc_pending_count() == 0)
        return 0;
    if (s == NULL)
        return cc_pending_count();       /* Redis down (breaker open): said once already */
    int64_t now = cc_mono_ms(), due = atomic_load(&next_retry_ms);
    if (now < due || !atomic_compare_exchange_strong(&next_retry_ms, &due, now + RETRY_EVERY_MS))
        return cc_pending_count();       /* tried a moment ago, or another thread is */
    /* On the heap: this runs only while a purge is pending, and the copy
     * is too large for the stack of an app's small threads. */
    pending_key *copy = malloc(CC_PENDING_MAX * sizeof *copy);
    const char *names[CC_PENDING_MAX];
    bool url[CC_PENDING_MAX];
    if (copy == NULL)
        return cc_pending_count();
    pthread_mutex_lock(&lock);
    size_t n = atomic_load(&count);
    memcpy(copy, keys, n * sizeof keys[0]);
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++) {
        names[i] = copy[i].name;
        url[i] = copy[i].url;
    }
    if (cc_cache_bump(s, n, names, url) != 0) {
        free(copy);
        return n;
    }
    /* Delivered: drop what was sent (others may have been added since). */
    pthread_mutex_lock(&lock);
    size_t left = 0, held_now = atomic_load(&count);
    for (size_t i = 0; i < held_now; i++) {
        bool sent = false;
        for (size_t j = 0; j < n && !sent; j++)
            sent = strcmp(keys[i].name, copy[j].name) == 0;
        if (!sent)
            keys[left++] = keys[i];
    }
    atomic_store(&count, left);
    pthread_mutex_unlock(&lock);
    free(copy);
    cc_info("%zu pending purge(s) delivered", n);
    return left;
}
