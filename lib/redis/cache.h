/* cache.h -- the cache's operations in Redis, one round trip each.
 *
 * engine.c decides; this file knows how each decision is spelled in Redis:
 * which keys an entry, its lock, its fill channel, its generations and its
 * tags live under, and which commands go together in one pipelined batch.
 * Everything fails soft: an error is "not found", "not locked", "not
 * stored", and the app answers as if there were no cache.
 *
 * Each operation is given the connection it runs on (s, as hiredis is
 * given its redisContext); NULL, a Redis that cannot be reached now,
 * fails it as any connection error would.  Nothing here picks one. */
#ifndef CGICACHE_CACHE_H
#define CGICACHE_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "entry.h"
#include "invalidate.h"
#include "key.h"
#include "store.h"

typedef enum {
    CC_FOUND_NONE,
    CC_FOUND_FRESH,
    CC_FOUND_STALE,            /* in its stale window: served while refreshed */
    CC_FOUND_FALLBACK,         /* past it, yet still kept: only for a failed answer */
    CC_FOUND_PASS,             /* a remembered uncacheable answer: no entry */
} cc_found_state;

/* What a key holds while an uncacheable answer is remembered (pass=). */
#define CC_PASS_MARKER "cgicache:pass"


typedef struct cc_found {
    cc_found_state state;
    cc_entry entry;            /* valid unless NONE or PASS */
    uint64_t generation;       /* the key's current purge generation */
    char tail[8];              /* the last bytes of what the key held */
    size_t tail_len;           /* 0: the key held nothing */
    void *reply;               /* owns the bytes entry points into */
    char *scratch;             /* decompressed body */
} cc_found;

/* One round trip: the entry and the key's generations.  Returns 0 (with
 * *out filled; NONE when absent, unreadable, for another key, purged or
 * past the time Redis keeps it; STALE also when soft-purged; FALLBACK
 * when past its stale window),
 * or -1 when Redis could not answer.  A generation key found missing
 * gets a value drawn into key, for the store to create (generation.h). */
int cc_cache_lookup(cc_store *s, const cc_config *cfg, cc_key *key, int64_t now_ms, cc_found *out);
void cc_cache_found_free(cc_found *f);

#define CC_LOCK_TOKEN_LEN 32

/* Takes the key's fill lock for CGICACHE_LOCK_TTL with a fresh token
 * (written to token, CC_LOCK_TOKEN_LEN + 1 bytes).  True when taken.
 * With seen (a cold miss), only while the key still holds what that
 * lookup saw (one script call), so a request that looked just before
 * another's fill does not compute the page again; a refresh of a stored
 * entry passes NULL. */
bool cc_cache_lock(cc_store *s, const cc_config *cfg, const cc_key *key, char *token,
                   const cc_found *seen);

/* cc_cache_wait_fill's answers besides 0. */
#define CC_FILL_NONE (-1)     /* nothing stored: not cacheable, or waited too long */
#define CC_FILL_FAILED (-2)   /* the holder's app failed, or the holder died */

/* Waits up to CGICACHE_LOCK_WAIT for the lock holder to fill the key,
 * woken by the holder's publish, not by polling (on a connection of its
 * own, opened from cfg: a subscribed one runs no commands; its lookups
 * and lock checks go on s).  Returns 0 with a FRESH *out when the entry
 * landed, else CC_FILL_NONE or CC_FILL_FAILED. */
int cc_cache_wait_fill(cc_store *s, const cc_config *cfg, cc_key *key, cc_found *out);

/* Counts a request for the key (min-uses=) in a count that lives px ms
 * from the first; returns the count, or -1 when Redis could not say. */
long long cc_cache_count_use(cc_store *s, const cc_config *cfg, const cc_key *key, int64_t px);

/* How a request the app answered for the cache ends in Redis. */
typedef struct cc_fill {
    const char *value;        /* the encoded entry, or NULL: nothing stored */
    size_t len;
    int64_t px;               /* its life in Redis */
    const char *tags;         /* a tags header value, or NULL */
    size_t tags_len;
    const char *token;        /* the lock to release and whose waiters to wake */
    bool failed;              /* the app failed: waiters may serve a stale copy */
    int64_t pass_ms;          /* nothing stored and > 0: remember the key as
                               * uncacheable this long (pass=) ... */
    const char *seen;         /* ... if it still holds what its lookup saw */
    size_t seen_len;
} cc_fill;

/* One write, not waited for: stores the value (unless NULL) for px ms,
 * with the generation keys its lookup found missing (SET NX, before it)
 * and the URL generation's life extended past the entry's; adds the key
 * to each tag in tags (a comma- or blank-separated header value); or,
 * nothing stored, remembers the key as uncacheable (pass_ms); and, when
 * token is set, releases the lock if it is still ours and wakes the
 * waiters, telling them whether the app failed.  Returns 1 sent to be
 * stored, 0 nothing to store, -1 it could not be sent.  Redis refusing
 * it (out of memory) is logged when the reply is read, with the next
 * command. */
int cc_cache_store(cc_store *s, const cc_config *cfg, const cc_key *key, const cc_fill *fill);

/* One round trip, waited for: gives each generation key a new random
 * value (url ones expire after CC_URL_GEN_LIFE_MS).  Returns 0 when Redis
 * took every one, -1 when it could not be reached or refused any (the
 * caller keeps them for retry: bumping again is harmless). */
int cc_cache_bump(cc_store *s, size_t n, const char *const *gen_keys, const bool *url);

/* The soft purges (generation.h): one round trip, waited for, in which
 * each generation key gets a new current token and keeps its old ones
 * after it, so that the entries computed under them are served STALE
 * until one request refreshes each.  Returns 0, or -1 as cc_cache_bump. */
int cc_cache_soften(cc_store *s, size_t n, const char *const *gen_keys, const bool *url);

/* Purges every path the (decoded) prefix covers, on every host, on each
 * route that may cache one (cc_invalidate_prefix_routes; their number in
 * *routes): a record added to or renewed in the route's generation, so
 * each route costs one script call however many entries it holds.  soft
 * marks them stale instead.  Returns 0, or -1 as cc_cache_bump. */
int cc_cache_purge_prefix(cc_store *s, const cc_config *cfg, const char *prefix, size_t len,
                          bool soft, size_t *routes);

/* Purges the entries carrying tag: their URL generations bumped (soft:
 * softened) and, unless soft, the entries and the tag's set removed, in
 * one script call whose time in Redis grows with the tag's entries.
 * Returns how many entries it removed or marked, or -1. */
long cc_cache_purge_tag(cc_store *s, const cc_config *cfg, const char *tag, size_t len, bool soft);

/* Delivers the purges an app asked for (invalidate.h): each tag (and the
 * route of that name, if any) and each prefix.  Returns 0, or -1 when
 * any was not taken (the caller keeps the routes they may touch for
 * retry, cc_invalidate_app_routes). */
int cc_cache_app_purge(cc_store *s, const cc_config *cfg, const cc_app_purge *p);

#endif
