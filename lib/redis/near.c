/* near.c -- the near cache: fresh entries in the worker thread's memory,
 * dropped the moment Redis says they may have changed.
 *
 * Coherence, over RESP2 (see near.h for what and why):
 *   - the channel, a connection of the near cache's own, asks CLIENT ID
 *     and subscribes to __redis__:invalidate; the thread's data
 *     connection turns tracking on, redirected to that id, each time it
 *     is made (a new connection tracks nothing the old one read, and
 *     what the old one read is never told of again: the cache is emptied);
 *   - every message names one key (or, null, everything: FLUSHALL); each
 *     is applied before the next near hit, a non-blocking read; the
 *     worker's own writes send none (NOLOOP): it forgets what it changes
 *     itself (cc_near_forget, from the engine's stores and purges);
 *   - a message can overtake the reply of the lookup that read the key
 *     (they travel on two connections), so an entry is kept only if no
 *     message since the lookup named one of its keys (the last RECENT
 *     are remembered; more than that, or a flush, and it is not kept);
 *   - the channel and the data connection must be on one node (behind
 *     sentinels, a failover may put them on two: not served from then);
 *   - in a Redis Cluster each master tracks what was read on it: the
 *     thread's connection to each master it has used tracks for a channel
 *     of its own on that master; a connection to a master made or closed,
 *     or a map naming other masters (a failover), and the cache is emptied
 *     and tracking turned on again everywhere (a slot moved is followed:
 *     the old master tells of the keys it gave away as it deletes them);
 *   - the channel proves itself alive with a PING every HEARTBEAT_MS; no
 *     PONG within PONG_DEADLINE_MS, a closed channel, a message that is
 *     not one, or a data connection made anew: emptied, and not served
 *     from until it runs again.
 * Entries are kept decoded (head and raw body), in a chained hash table
 * with a least-recently-used list, within CGICACHE_NEAR_SIZE bytes. */
#include "near.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "slots.h"

#define HEARTBEAT_MS 1000
#define PONG_DEADLINE_MS 500
#define RETRY_MS 1000           /* the first wait after a failure, doubled up to */
#define RETRY_MAX_MS 60000      /* this while failures go on */
#define RECENT 64
#define BUCKETS_FIRST 1024

typedef struct item {
    struct item *older, *newer;       /* the least-recently-used ring */
    struct item *next;                /* in its bucket */
    uint64_t hash;
    size_t bytes;
    cc_entry e;                       /* points into data */
    char *key, *route_gen, *url_gen;  /* the Redis keys it was read from */
    size_t key_len;
    char *data;                       /* the copies, allocated with the item */
} item;

/* A connection subscribed to __redis__:invalidate on one node. */
typedef struct channel {
    cc_store *store;
    long long id;                     /* its CLIENT ID, to redirect tracking to */
    bool ready;                       /* subscribed */
    int64_t last_pong, ping_sent;
} channel;

struct cc_near {
    const cc_config *cfg;
    channel ch[CC_SLOT_NODES];        /* one, or in a cluster one per master */
    unsigned tracked_serial;          /* the data connection(s) tracking for them */
    unsigned map_serial;              /* in a cluster, the masters the channels are on */
    int64_t retry_at, retry_ms;
    item **buckets;
    size_t nbuckets, count, bytes;
    item lru;                         /* the ring's anchor: lru.newer is the oldest
                                       * item, lru.older the newest */
    uint64_t seq;                     /* messages applied; a flush counts RECENT + 1 */
    uint64_t recent[RECENT];          /* hashes of the keys the latest named */
    unsigned fork_gen;
};

static atomic_bool allowed;
/* Threads with a near cache: CGICACHE_NEAR_SIZE is the process's, and
 * each thread keeps its share (trimmed to it at its next store). */
static atomic_uint live;
static atomic_uint fork_gen;
static pthread_key_t thread_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint64_t hash_of(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* ---- the table -------------------------------------------------------------- */

static void lru_remove(item *it)
{
    it->older->newer = it->newer;
    it->newer->older = it->older;
}

/* Puts it in the ring as the newest. */
static void lru_add(cc_near *n, item *it)
{
    it->newer = &n->lru;
    it->older = n->lru.older;
    it->older->newer = it;
    n->lru.older = it;
}

static void unlink_item(cc_near *n, item *it)
{
    item **p = &n->buckets[it->hash & (n->nbuckets - 1)];
    while (*p != it)
        p = &(*p)->next;
    *p = it->next;
    lru_remove(it);
    n->bytes -= it->bytes;
    n->count--;
    free(it);
}

/* Evicts the least recently used item (the ring is not empty). */
static void evict_oldest(cc_near *n)
{
    item *old = n->lru.newer;
    n->lru.newer = old->newer;
    old->newer->older = &n->lru;
    old->older = old->newer = old;
    unlink_item(n, old);
}

static item *find(const cc_near *n, uint64_t h, const char *key, size_t len)
{
    if (n->buckets == NULL)
        return NULL;
    for (item *it = n->buckets[h & (n->nbuckets - 1)]; it != NULL; it = it->next)
        if (it->hash == h && it->key_len == len && memcmp(it->key, key, len) == 0)
            return it;
    return NULL;
}

static void drop_all(cc_near *n)
{
    for (size_t i = 0; i < n->nbuckets; i++) {
        for (item *it = n->buckets[i], *next; it != NULL; it = next) {
            next = it->next;
            free(it);
        }
        n->buckets[i] = NULL;
    }
    n->lru.older = n->lru.newer = &n->lru;
    n->bytes = n->count = 0;
}

/* Empties n; an entry a lookup found before now is not kept. */
static void flush(cc_near *n)
{
    drop_all(n);
    n->seq += RECENT + 1;
}

static bool grow(cc_near *n)
{
    size_t size = n->nbuckets == 0 ? BUCKETS_FIRST : n->nbuckets * 2;
    item **b = calloc(size, sizeof *b);
    if (b == NULL)
        return n->buckets != NULL;
    for (size_t i = 0; i < n->nbuckets; i++)
        for (item *it = n->buckets[i], *next; it != NULL; it = next) {
            next = it->next;
            it->next = b[it->hash & (size - 1)];
            b[it->hash & (size - 1)] = it;
        }
    free(n->buckets);
    n->buckets = b;
    n->nbuckets = size;
    return true;
}

/* ---- the channels ------------------------------------------------------------ */

/* How many channels s needs (one per master in a cluster), and the data
 * connection channel i serves. */
static int channels_for(cc_store *s)
{
    int masters = cc_store_masters(s);
    return masters > 0 ? masters : 1;
}

static cc_store *data_of(cc_store *s, int i)
{
    return cc_store_masters(s) > 0 ? cc_store_master(s, i) : s;
}

static void close_channels(cc_near *n)
{
    for (int i = 0; i < CC_SLOT_NODES; i++) {
        cc_store_close(n->ch[i].store);
        n->ch[i].store = NULL;
        n->ch[i].ready = false;
    }
    n->tracked_serial = 0;
}

/* Every channel goes (what one missed, the cache cannot tell from the
 * others'); made again after a wait that doubles while failures go on. */
static void channel_down(cc_near *n, const char *why)
{
    if (n->ch[0].ready || n->tracked_serial != 0)
        cc_info("near cache emptied: invalidation channel %s", why);
    flush(n);
    close_channels(n);
    /* A Redis that refuses (an ACL without client or subscribe) is not
     * asked again on every request. */
    n->retry_ms = n->retry_ms == 0 ? RETRY_MS : n->retry_ms * 2;
    if (n->retry_ms > RETRY_MAX_MS)
        n->retry_ms = RETRY_MAX_MS;
    n->retry_at = cc_mono_ms() + n->retry_ms;
}

static bool is_str(const redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* Makes channel i for s's data connection i (on its node). */
static bool channel_up(cc_near *n, cc_store *s, int i)
{
    channel *c = &n->ch[i];
    if (c->ready)
        return true;
    if (cc_mono_ms() < n->retry_at)
        return false;
    cc_cmd id = {0}, sub = {0};
    cc_cmd_arg(&id, "CLIENT", (size_t)-1);
    cc_cmd_arg(&id, "ID", (size_t)-1);
    cc_cmd_arg(&sub, "SUBSCRIBE", (size_t)-1);
    cc_cmd_arg(&sub, "__redis__:invalidate", (size_t)-1);
    c->store = cc_store_masters(s) > 0 ? cc_store_open_master(s, i) : cc_store_open(n->cfg);
    redisReply *r = c->store != NULL ? cc_store_command(c->store, &id) : NULL;
    bool ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    c->id = ok ? r->integer : 0;
    if (r != NULL)
        freeReplyObject(r);
    r = ok ? cc_store_command(c->store, &sub) : NULL;
    ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
         is_str(r->element[0], "subscribe");
    if (r != NULL)
        freeReplyObject(r);
    c->ready = ok;
    if (!ok) {
        channel_down(n, "could not be made");
        return false;
    }
    c->last_pong = cc_mono_ms();
    c->ping_sent = 0;
    flush(n);
    n->tracked_serial = 0;    /* tracking is turned on again, for every channel */
    return true;
}

static void invalidate_key(cc_near *n, const char *key, size_t len)
{
    uint64_t h = hash_of(key, len);
    n->recent[n->seq % RECENT] = h;
    n->seq++;
    item *it = find(n, h, key, len);
    if (it != NULL)
        unlink_item(n, it);
    if (memmem(key, len, ":#gen:", 6) == NULL)
        return;
    /* A purge generation: every entry read with it goes. */
    for (item *i = n->lru.newer, *next; i != &n->lru; i = next) {
        next = i->newer;     /* from the oldest on */
        if ((strlen(i->route_gen) == len && memcmp(i->route_gen, key, len) == 0) ||
            (strlen(i->url_gen) == len && memcmp(i->url_gen, key, len) == 0))
            unlink_item(n, i);
    }
}

void cc_near_forget(cc_near *n, const char *key)
{
    invalidate_key(n, key, strlen(key));
}

/* One message from channel c; false when it is not one it expects. */
static bool apply(cc_near *n, channel *c, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return false;
    if (r->elements == 2 && is_str(r->element[0], "pong")) {
        c->last_pong = cc_mono_ms();
        c->ping_sent = 0;
        return true;
    }
    if (r->elements != 3 || !is_str(r->element[0], "message"))
        return false;
    const redisReply *keys = r->element[2];
    if (keys->type == REDIS_REPLY_NIL) {
        flush(n);     /* FLUSHALL, FLUSHDB: everything */
        return true;
    }
    if (keys->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < keys->elements; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING)
            return false;
        invalidate_key(n, keys->element[i]->str, keys->element[i]->len);
    }
    return true;
}

/* Turns tracking on for data connection d, redirected to channel c. */
static bool track(cc_near *n, const channel *c, cc_store *d)
{
    char id[24];
    /* Behind sentinels the channel and the data connection are each made
     * with the master of their time: across a failover they may be on two
     * nodes, where the channel's id would name another client, or none. */
    if (strcmp(cc_store_node(c->store), cc_store_node(d)) != 0) {
        channel_down(n, "is on another node than the data connection");
        return false;
    }
    snprintf(id, sizeof id, "%lld", c->id);
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "CLIENT", (size_t)-1);
    cc_cmd_arg(&cmd, "TRACKING", (size_t)-1);
    cc_cmd_arg(&cmd, "ON", (size_t)-1);
    cc_cmd_arg(&cmd, "REDIRECT", (size_t)-1);
    cc_cmd_arg(&cmd, id, (size_t)-1);
    /* Not told of its own writes: the worker forgets what it stores or
     * purges itself (engine.c), and its stores would otherwise come back
     * as messages to parse on every miss. */
    cc_cmd_arg(&cmd, "NOLOOP", (size_t)-1);
    redisReply *r = cc_store_command(d, &cmd);
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        cc_info("near cache off: redis refused client tracking (%s)", r->str);
    if (r != NULL)
        freeReplyObject(r);
    if (!ok) {
        channel_down(n, "unusable: tracking could not be turned on");
        return false;
    }
    return true;
}

/* Reads what channel c says, and keeps its heartbeat.  False when it
 * is down (and the cache emptied). */
static bool listen_to(cc_near *n, channel *c, bool readable, int64_t now)
{
    redisReply *r;
    int got = 0;
    readable = readable || cc_store_buffered(c->store);
    while (readable && (got = cc_store_poll_push(c->store, &r)) > 0) {
        bool ok = apply(n, c, r);
        freeReplyObject(r);
        if (!ok) {
            channel_down(n, "sent something unexpected");
            return false;
        }
    }
    if (got < 0) {
        channel_down(n, "lost");
        return false;
    }
    if (c->ping_sent != 0 && now - c->ping_sent > PONG_DEADLINE_MS) {
        channel_down(n, "did not answer its heartbeat");
        return false;
    }
    if (c->ping_sent == 0 && now - c->last_pong >= HEARTBEAT_MS) {
        cc_cmd ping = {0};
        cc_cmd_arg(&ping, "PING", (size_t)-1);
        if (cc_store_send(c->store, 1, &ping) != 0) {
            channel_down(n, "lost");
            return false;
        }
        c->ping_sent = now;
    }
    return true;
}

/* Applies what the channels say, keeps their heartbeats, and makes sure
 * the data connection(s) of s track for them.  True when n may be served
 * from.  In a cluster a channel is needed on each master s has a
 * connection to (nothing was read on the others). */
static bool sync_with(cc_near *n, cc_store *s)
{
    if (s == NULL)
        return false;
    if (cc_store_map_serial(s) != n->map_serial) {
        /* Other masters (a failover): the channels are on the old ones. */
        if (n->tracked_serial != 0)
            cc_info("near cache emptied: the cluster's masters changed");
        flush(n);
        close_channels(n);
        n->map_serial = cc_store_map_serial(s);
    }
    int count = channels_for(s);
    bool used[CC_SLOT_NODES] = {false};
    struct pollfd p[2 * CC_SLOT_NODES];
    for (int i = 0; i < count; i++) {
        cc_store *d = data_of(s, i);
        used[i] = count == 1 || cc_store_serial(d) != 0;
        if (used[i] && !channel_up(n, s, i))
            return false;
        p[2 * i] = (struct pollfd){.fd = used[i] ? cc_store_fd(n->ch[i].store) : -1,
                                   .events = POLLIN};
        p[2 * i + 1] = (struct pollfd){.fd = used[i] ? cc_store_fd(d) : -1, .events = POLLRDHUP};
    }
    /* One look at every connection: messages waiting on the channels, and
     * whether the data connections are still there -- near hits send
     * nothing on them, and once one is gone (killed, Redis's idle
     * timeout) nothing it read is ever told of again. */
    if (poll(p, (nfds_t)(2 * count), 0) < 0)
        for (int i = 0; i < count; i++)
            p[2 * i].revents = POLLIN;    /* read anyway: the reads tell */
    for (int i = 0; i < count; i++) {
        cc_store *d = data_of(s, i);
        if (!used[i])
            continue;
        if (p[2 * i + 1].fd < 0 ||
            (p[2 * i + 1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0 ||
            cc_store_follow(d) < 0) {
            if (n->tracked_serial != 0)
                cc_info("near cache emptied: the redis connection it tracks for was closed");
            flush(n);
            n->tracked_serial = 0;
            cc_store_drop(d);   /* this request's lookup connects anew */
            return false;
        }
    }
    int64_t now = cc_mono_ms();
    for (int i = 0; i < count; i++)
        if (used[i] && !listen_to(n, &n->ch[i], p[2 * i].revents != 0, now))
            return false;
    unsigned serial = cc_store_serial(s);
    if (serial == 0)
        return false;
    if (serial != n->tracked_serial) {
        /* A data connection made anew: nothing read on the one before
         * will ever be told of. */
        flush(n);
        for (int i = 0; i < count; i++)
            if (used[i] && !track(n, &n->ch[i], data_of(s, i)))
                return false;
        /* The connections the commands ran on must still be the ones asked. */
        if (cc_store_serial(s) != serial) {
            channel_down(n, "unusable: tracking could not be turned on");
            return false;
        }
        n->tracked_serial = serial;
        n->retry_ms = 0;    /* working: the next failure waits RETRY_MS again */
    }
    for (int i = 0; i < count; i++)
        if (used[i] && now - n->ch[i].last_pong > HEARTBEAT_MS + PONG_DEADLINE_MS)
            return false;
    return true;
}

/* ---- per thread ------------------------------------------------------------------ */

static void reset(cc_near *n)
{
    drop_all(n);
    close_channels(n);
}

static void free_near(void *p)
{
    cc_near *n = p;
    atomic_fetch_sub(&live, 1);
    reset(n);
    free(n->buckets);
    free(n);
}

static void after_fork_in_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void make_key(void)
{
    pthread_key_create(&thread_key, free_near);
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

void cc_near_allow(void)
{
    atomic_store_explicit(&allowed, true, memory_order_relaxed);
}

cc_near *cc_near_for_thread(const cc_config *cfg)
{
    if (!atomic_load_explicit(&allowed, memory_order_relaxed) || cfg == NULL || !cfg->enabled ||
        cfg->near_size == 0)
        return NULL;
    pthread_once(&once, make_key);
    cc_near *n = pthread_getspecific(thread_key);
    if (n == NULL) {
        n = calloc(1, sizeof *n);
        if (n == NULL || pthread_setspecific(thread_key, n) != 0) {
            free(n);
            return NULL;
        }
        n->cfg = cfg;
        n->lru.older = n->lru.newer = &n->lru;
        atomic_fetch_add(&live, 1);
        n->fork_gen = atomic_load(&fork_gen);
    }
    if (n->fork_gen != atomic_load(&fork_gen)) {
        /* Our parent's copy: its entries were tracked for its connection. */
        reset(n);
        n->fork_gen = atomic_load(&fork_gen);
    }
    return n;
}

/* ---- the entries ------------------------------------------------------------------- */

cc_near_mark cc_near_mark_now(cc_near *n, cc_store *s)
{
    unsigned serial = cc_store_serial(s);
    return (cc_near_mark){n->seq, serial, serial != 0 && n->tracked_serial == serial};
}

bool cc_near_get(cc_near *n, cc_store *s, const cc_key *key, int64_t now, cc_entry *e)
{
    if (!sync_with(n, s))
        return false;
    item *it = find(n, hash_of(key->redis, key->redis_len), key->redis, key->redis_len);
    if (it == NULL)
        return false;
    if (now >= it->e.stored_at_ms + it->e.ttl_ms) {
        unlink_item(n, it);     /* stale: Redis serves it, and refreshes */
        return false;
    }
    lru_remove(it);
    lru_add(n, it);
    *e = it->e;
    return true;
}

/* Copies len bytes to *at and returns where they start. */
static char *copy_out(char **at, const char *p, size_t len)
{
    char *start = *at;
    memcpy(start, p, len);
    start[len] = '\0';
    *at += len + 1;
    return start;
}

void cc_near_put(cc_near *n, cc_store *s, const cc_key *key, const cc_entry *e, cc_near_mark mark)
{
    if (!mark.tracking || !sync_with(n, s) || n->tracked_serial != mark.serial ||
        n->seq - mark.seq > RECENT)
        return;
    uint64_t h = hash_of(key->redis, key->redis_len);
    uint64_t hr = hash_of(key->route_gen, strlen(key->route_gen));
    uint64_t hu = hash_of(key->url_gen, strlen(key->url_gen));
    for (uint64_t i = mark.seq; i < n->seq; i++) {
        uint64_t told = n->recent[i % RECENT];
        if (told == h || told == hr || told == hu)
            return;     /* changed since the lookup read it */
    }
    size_t size = sizeof(item) + key->redis_len + strlen(key->route_gen) + strlen(key->url_gen) +
                  e->key_len + e->head_len + e->body_len + 6 +
                  (e->flags & CC_ENTRY_COMPRESSED ? e->stored_body_len + 1 : 0) + e->gzip_len + 1;
    unsigned threads = atomic_load(&live);
    size_t share = n->cfg->near_size / (threads > 0 ? threads : 1);
    if (size > share / 4)
        return;         /* one entry never takes most of it */
    item *old = find(n, h, key->redis, key->redis_len);
    if (old != NULL)
        unlink_item(n, old);
    while (n->bytes + size > share && n->lru.newer != &n->lru)
        evict_oldest(n);
    if (n->count >= n->nbuckets && !grow(n))
        return;
    item *it = malloc(size);
    if (it == NULL)
        return;
    it->data = (char *)(it + 1);
    char *at = it->data;
    it->hash = h;
    it->bytes = size;
    it->key_len = key->redis_len;
    it->key = copy_out(&at, key->redis, key->redis_len);
    it->route_gen = copy_out(&at, key->route_gen, strlen(key->route_gen));
    it->url_gen = copy_out(&at, key->url_gen, strlen(key->url_gen));
    it->e = *e;
    it->e.key = copy_out(&at, e->key, e->key_len);
    it->e.head = copy_out(&at, e->head, e->head_len);
    it->e.body = copy_out(&at, e->body, e->body_len);
    /* The zstd frame too, for clients that take it as it is. */
    it->e.stored_body = e->flags & CC_ENTRY_COMPRESSED
                            ? copy_out(&at, e->stored_body, e->stored_body_len)
                            : it->e.body;
    it->e.gzip = copy_out(&at, e->gzip != NULL ? e->gzip : "", e->gzip_len);
    item **b = &n->buckets[h & (n->nbuckets - 1)];
    it->next = *b;
    *b = it;
    lru_add(n, it);
    n->bytes += size;
    n->count++;
}
