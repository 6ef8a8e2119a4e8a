/* cache.c -- the cache's operations spelled in Redis.
 *
 * Keys (keyspace.h), all under CGICACHE_PREFIX:
 *   <p>:<route>:...           the entry (entry.c), PX ttl + stale
 *   <p>:#lock:<route>:...     its fill lock, SET NX PX lock_ttl, a random token
 *   <p>:#fill:<route>:...     the pub/sub channel the lock holder publishes on
 *   <p>:#gen:<route>          the route's purge generation (never expires)
 *   <p>:#gen:<route>:<hash>   a URL's purge generation
 *   <p>:#tag:<tag>            the set of entry keys carrying a tag
 * A lookup reads the entry and both generations with one MGET, so a hit is
 * one round trip and a purge is one SET: an entry computed under other
 * generations than the current ones is simply never served again.  A
 * generation key that is missing matches nothing (generation.h); the
 * store creates it, in the same batch as the entry. */
#include "cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "holder.h"
#include "invalidate.h"
#include "keyspace.h"
#include "log.h"
#include "random.h"
#include "stats.h"
#include "store.h"

#define TAGS_MAX 8

/* Lock release is compare-and-delete, and wakes the waiters, in one call:
 * ARGV = value ('' for none), px, token, channel, the verb that publishes
 * (publish_verb).  The SET is a pcall: a
 * Redis out of memory refuses it, and the lock must still be released and
 * the waiters woken (they would otherwise wait CGICACHE_LOCK_WAIT for a
 * fill that never comes).  The message is the string '1' or '0' (a Lua
 * number would be formatted with printf's %.17g by Redis on every call). */
static const char store_and_release[] =
    "local stored = '0'\n"
    "if ARGV[1] ~= '' then\n"
    "  local r = redis.pcall('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "  if type(r) == 'table' and r.err then stored = r.err else stored = '1' end\n"
    "end\n"
    "if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end\n"
    "redis.call(ARGV[5], ARGV[4], stored == '1' and '1' or '0')\n"
    "if stored ~= '1' and stored ~= '0' then return redis.error_reply(stored) end\n"
    "return stored\n";

/* A cold key's lock is taken only while the key still holds what the
 * lookup saw (compared by its last 8 bytes, an entry's checksum): without
 * the check, a request that looked before another stored and locks after
 * it released would compute the page a second time.  KEYS = entry, lock;
 * ARGV = token, px, the tail seen ('' for nothing). */
static const char lock_if_unchanged[] =
    "if redis.call('GETRANGE', KEYS[1], -8, -1) ~= ARGV[3] then return 0 end\n"
    "return redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])\n";

/* In a cluster the fill wake-up is sharded pub/sub (Redis 7): it stays
 * on the entry's master (its channel shares the entry's slot) instead of
 * crossing every node's bus. */
static const char *publish_verb(const cc_config *cfg)
{
    return cfg->redis.cluster ? "SPUBLISH" : "PUBLISH";
}

/* The key's lock or fill channel into out. */
static int derived(const cc_config *cfg, const cc_key *key, cc_ks_kind kind, char *out, size_t cap)
{
    return cc_keyspace_of_entry(cfg, kind, key->redis, key->redis_len, out, cap);
}

static const char *reply_str(const redisReply *r, size_t *len)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        *len = 0;
        return NULL;
    }
    *len = r->len;
    return r->str;
}

/* Runs cmd, with any counters due riding along in the same round trip;
 * returns cmd's reply or NULL. */
static redisReply *run_counted(const cc_config *cfg, cc_store *s, const cc_cmd *cmd)
{
    cc_cmd cmds[1 + CC_STATS_BATCH];
    redisReply *replies[1 + CC_STATS_BATCH];
    cc_stats_flush room;
    cmds[0] = *cmd;
    size_t n = 1 + cc_stats_take(cfg, cmds + 1, CC_STATS_BATCH, &room);
    if (cc_store_run(s, n, cmds, replies) != 0)
        return NULL;
    cc_store_free_replies(n - 1, replies + 1);
    return replies[0];
}

void cc_cache_found_free(cc_found *f)
{
    if (f->reply != NULL)
        freeReplyObject(f->reply);
    free(f->scratch);
    f->reply = NULL;
    f->scratch = NULL;
    f->state = CC_FOUND_NONE;
}

/* Decides what the stored bytes are worth to this key now. */
static cc_found_state judge(const cc_key *key, cc_found *f, const char *value, size_t len,
                            int64_t now)
{
    cc_entry *e = &f->entry;
    if (value == NULL)
        return CC_FOUND_NONE;
    if (cc_entry_decode(value, len, e, &f->scratch) != 0) {
        cc_debug("%s: stored value does not decode; treated as a miss", key->full);
        return CC_FOUND_NONE;
    }
    if (e->key_len != key->full_len || memcmp(e->key, key->full, e->key_len) != 0) {
        cc_debug("%s: stored entry belongs to another key; treated as a miss", key->full);
        return CC_FOUND_NONE;
    }
    if (e->generation != f->generation)
        return CC_FOUND_NONE;          /* purged since it was computed */
    if (now < e->stored_at_ms + e->ttl_ms)
        return CC_FOUND_FRESH;
    if (now < e->stored_at_ms + e->ttl_ms + e->stale_ms)
        return CC_FOUND_STALE;
    return CC_FOUND_NONE;
}

static void draw_generation(char *out)
{
    cc_random_hex(out, CC_GEN_VALUE_LEN / 2);
}

/* Missing generations are made at once rather than by the store: every
 * URL of a route folds in the route's generation, and every variant of a
 * URL (its queries, its vary values) the URL's, and requests computed
 * side by side on a cold route or URL must agree on them (each drawing its
 * own, all stores but the first would match nothing: on a first deploy,
 * most of a busy page's variants would be lost).  A generation is missing
 * only before its first store or after it was lost, so this round trip is
 * rare, and a hit, which needs both present, never pays it.  SET NX then
 * GET: whoever made it first, everyone reads the same value.  Fills
 * made[0] (route) and made[1] (URL) with the GET replies, or NULL. */
static void make_generations(cc_store *s, const cc_key *key, bool route, bool url,
                             redisReply *made[2])
{
    char values[2][CC_GEN_VALUE_LEN + 1], life[24];
    const char *names[2] = {key->route_gen, key->url_gen};
    bool want[2] = {route, url};
    int which[2] = {0, 0};    /* the generation each SET+GET pair makes */
    cc_cmd cmds[4];
    redisReply *replies[4];
    size_t n = 0;
    made[0] = made[1] = NULL;
    snprintf(life, sizeof life, "%lld", (long long)CC_URL_GEN_LIFE_MS);
    memset(cmds, 0, sizeof cmds);
    for (int g = 0; g < 2; g++) {
        if (!want[g])
            continue;
        draw_generation(values[g]);
        which[n / 2] = g;
        cc_cmd_arg(&cmds[n], "SET", (size_t)-1);
        cc_cmd_arg(&cmds[n], names[g], (size_t)-1);
        cc_cmd_arg(&cmds[n], values[g], (size_t)-1);
        cc_cmd_arg(&cmds[n], "NX", (size_t)-1);
        if (g == 1) {                 /* URL generations expire (invalidate.h) */
            cc_cmd_arg(&cmds[n], "PX", (size_t)-1);
            cc_cmd_arg(&cmds[n], life, (size_t)-1);
        }
        n++;
        cc_cmd_arg(&cmds[n], "GET", (size_t)-1);
        cc_cmd_arg(&cmds[n], names[g], (size_t)-1);
        n++;
    }
    if (n == 0 || cc_store_run(s, n, cmds, replies) != 0)
        return;
    for (size_t i = 0; i < n; i += 2) {
        freeReplyObject(replies[i]);
        made[which[i / 2]] = replies[i + 1];
    }
}

int cc_cache_lookup(cc_store *s, const cc_config *cfg, cc_key *key, int64_t now_ms, cc_found *out)
{
    memset(out, 0, sizeof *out);
    cc_cmd mget = {0};
    cc_cmd_arg(&mget, "MGET", (size_t)-1);
    cc_cmd_arg(&mget, key->redis, key->redis_len);
    cc_cmd_arg(&mget, key->route_gen, (size_t)-1);
    cc_cmd_arg(&mget, key->url_gen, (size_t)-1);
    redisReply *reply = s != NULL ? run_counted(cfg, s, &mget) : NULL;
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        freeReplyObject(reply);
        return -1;
    }
    size_t rlen, ulen, vlen;
    const char *rgen = reply_str(reply->element[1], &rlen);
    const char *ugen = reply_str(reply->element[2], &ulen);
    const char *value = reply_str(reply->element[0], &vlen);
    redisReply *made[2] = {NULL, NULL};
    if (rgen == NULL || ugen == NULL)
        make_generations(s, key, rgen == NULL, ugen == NULL, made);
    if (made[0] != NULL)
        rgen = reply_str(made[0], &rlen);
    if (made[1] != NULL)
        ugen = reply_str(made[1], &ulen);
    /* Still missing (refused): the store tries to create it, NX. */
    out->generation = cc_generation_found(rgen, rlen, ugen, ulen, key->route_gen_new,
                                          key->url_gen_new, draw_generation);
    for (int g = 0; g < 2; g++)
        if (made[g] != NULL)
            freeReplyObject(made[g]);
    out->tail_len = vlen < sizeof out->tail ? vlen : sizeof out->tail;
    if (value != NULL)
        memcpy(out->tail, value + vlen - out->tail_len, out->tail_len);
    out->reply = reply;
    out->state = judge(key, out, value, vlen, now_ms);
    if (out->state == CC_FOUND_NONE)
        cc_cache_found_free(out);      /* keeps generation and tail */
    return 0;
}

bool cc_cache_lock(cc_store *s, const cc_config *cfg, const cc_key *key, char *token,
                   const cc_found *seen)
{
    char lock[CC_KEY_HASH_OVER + 16], px[24];
    if (s == NULL || derived(cfg, key, CC_KS_LOCK, lock, sizeof lock) < 0)
        return false;
    cc_random_hex(token, CC_LOCK_TOKEN_LEN / 2);
    snprintf(px, sizeof px, "%lld", (long long)cfg->lock_ttl_ms);
    cc_cmd cmd = {0};
    if (seen != NULL) {
        cc_cmd_arg(&cmd, "EVAL", (size_t)-1);
        cc_cmd_arg(&cmd, lock_if_unchanged, sizeof lock_if_unchanged - 1);
        cc_cmd_arg(&cmd, "2", 1);
        cc_cmd_arg(&cmd, key->redis, key->redis_len);
        cc_cmd_arg(&cmd, lock, (size_t)-1);
        cc_cmd_arg(&cmd, token, (size_t)-1);
        cc_cmd_arg(&cmd, px, (size_t)-1);
        cc_cmd_arg(&cmd, seen->tail, seen->tail_len);
    } else {
        cc_cmd_arg(&cmd, "SET", (size_t)-1);
        cc_cmd_arg(&cmd, lock, (size_t)-1);
        cc_cmd_arg(&cmd, token, (size_t)-1);
        cc_cmd_arg(&cmd, "NX", (size_t)-1);
        cc_cmd_arg(&cmd, "PX", (size_t)-1);
        cc_cmd_arg(&cmd, px, (size_t)-1);
    }
    /* The connection is named after the token first, in the same round
     * trip: waiters tell a dead holder by its name missing (holder.h). */
    cc_cmd cmds[2];
    char name[CC_HOLDER_NAME_MAX];
    cc_holder_name_cmd(&cmds[0], name, token);
    cmds[1] = cmd;
    redisReply *replies[2];
    if (cc_store_run(s, 2, cmds, replies) != 0)
        return false;
    bool taken = replies[1]->type == REDIS_REPLY_STATUS;
    cc_store_free_replies(2, replies);
    return taken;
}

/* The key's lock: held (by a live holder, when liveness is asked),
 * released, or its holder dead. */
static cc_holder_state lock_state(cc_store *s, const cc_config *cfg, const cc_key *key,
                                  bool liveness)
{
    char lock[CC_KEY_HASH_OVER + 16];
    if (derived(cfg, key, CC_KS_LOCK, lock, sizeof lock) < 0)
        return CC_HOLDER_RELEASED;
    return cc_holder_check(s, lock, liveness);
}

/* How often a waiter checks that the holder is still alive. */
#define HOLDER_CHECK_MS 500

int cc_cache_wait_fill(cc_store *s, const cc_config *cfg, cc_key *key, cc_found *out)
{
    char channel[CC_KEY_HASH_OVER + 16];
    int64_t deadline = cc_mono_ms() + cfg->lock_wait_ms;
    memset(out, 0, sizeof *out);
    if (derived(cfg, key, CC_KS_FILL, channel, sizeof channel) < 0)
        return -1;
    /* A connection of its own: once subscribed it cannot run commands. */
    cc_store *sub = cc_store_open(cfg);
    if (sub == NULL)
        return -1;
    cc_cmd subscribe = {0};
    cc_cmd_arg(&subscribe, cfg->redis.cluster ? "SSUBSCRIBE" : "SUBSCRIBE", (size_t)-1);
    cc_cmd_arg(&subscribe, channel, (size_t)-1);
    redisReply *reply = cc_store_command(sub, &subscribe);
    int rc = -1;
    if (reply != NULL) {
        freeReplyObject(reply);
        /* Subscribed first, then looked: a fill in between is not missed. */
        for (int round = 0;; round++) {
            if (cc_cache_lookup(s, cfg, key, cc_now_ms(), out) == 0 &&
                out->state == CC_FOUND_FRESH) {
                rc = 0;
                break;
            }
            cc_cache_found_free(out);
            if (round > 0)
                break;          /* woken, yet nothing stored: the holder gave up */
            cc_holder_state holder;
            redisReply *push = NULL;
            /* Waits for the holder's publish in slices, between which it
             * checks that the holder lives: one that died (killed, crashed)
             * will never publish.  The first look only asks whether the
             * lock is still there: most fills land within a slice. */
            for (bool liveness = false;
                 (holder = lock_state(s, cfg, key, liveness)) == CC_HOLDER_ALIVE; liveness = true) {
                int64_t left = deadline - cc_mono_ms();
                if (left <= 0)
                    break;
                push = cc_store_next_push(sub,
                                          left < HOLDER_CHECK_MS ? (int)left : HOLDER_CHECK_MS);
                if (push != NULL || errno != ETIMEDOUT)
                    break;
            }
            if (holder == CC_HOLDER_RELEASED)
                continue;       /* released since the lookup: one more look */
            if (push == NULL)
                break;          /* waited long enough, or the holder died: answer uncached */
            freeReplyObject(push);
        }
    }
    cc_store_close(sub);
    return rc;
}

/* Splits a tags header value into at most TAGS_MAX SADD + PEXPIRE
 * commands; returns how many commands were added to cmds. */
static size_t tag_commands(const cc_config *cfg, const cc_key *key, const char *tags, size_t len,
                           const char *px, cc_cmd *cmds, char (*names)[CC_NAME_MAX * 2 + 8])
{
    size_t ncmd = 0, ntags = 0;
    for (size_t i = 0; i < len && ntags < TAGS_MAX;) {
        while (i < len && (tags[i] == ',' || tags[i] == ' ' || tags[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && tags[i] != ',' && tags[i] != ' ' && tags[i] != '\t')
            i++;
        if (i == start || i - start >= CC_NAME_MAX)
            continue;
        char *name = names[ntags++];
        if (cc_keyspace_key(cfg, CC_KS_TAG, tags + start, i - start, name, CC_NAME_MAX * 2 + 8) < 0)
            continue;
        cc_cmd *sadd = &cmds[ncmd++], *nx = &cmds[ncmd++], *gt = &cmds[ncmd++];
        cc_cmd_arg(sadd, "SADD", (size_t)-1);
        cc_cmd_arg(sadd, name, (size_t)-1);
        cc_cmd_arg(sadd, key->redis, key->redis_len);
        /* The set lives as long as its longest-lived entry. */
        cc_cmd_arg(nx, "PEXPIRE", (size_t)-1);
        cc_cmd_arg(nx, name, (size_t)-1);
        cc_cmd_arg(nx, px, (size_t)-1);
        cc_cmd_arg(nx, "NX", (size_t)-1);
        *gt = *nx;
        gt->argv[3] = "GT";
        gt->argvlen[3] = 2;
    }
    return ncmd;
}

/* The generation keys the lookup found missing, created with the values
 * it folded into the entry's generation (NX: one made or bumped since by
 * someone else stays, and this entry then matches nothing), and the URL
 * generation's life extended so that it outlives this entry.  Returns
 * how many commands were added to cmds. */
static size_t generation_commands(const cc_key *key, const char *life, cc_cmd *cmds)
{
    size_t n = 0;
    if (key->route_gen_new[0] != '\0') {
        cc_cmd *set = &cmds[n++];
        cc_cmd_arg(set, "SET", (size_t)-1);
        cc_cmd_arg(set, key->route_gen, (size_t)-1);
        cc_cmd_arg(set, key->route_gen_new, (size_t)-1);
        cc_cmd_arg(set, "NX", (size_t)-1);
    }
    if (key->url_gen_new[0] != '\0') {
        cc_cmd *set = &cmds[n++];
        cc_cmd_arg(set, "SET", (size_t)-1);
        cc_cmd_arg(set, key->url_gen, (size_t)-1);
        cc_cmd_arg(set, key->url_gen_new, (size_t)-1);
        cc_cmd_arg(set, "NX", (size_t)-1);
        cc_cmd_arg(set, "PX", (size_t)-1);
        cc_cmd_arg(set, life, (size_t)-1);
    }
    cc_cmd *extend = &cmds[n++];
    cc_cmd_arg(extend, "PEXPIRE", (size_t)-1);
    cc_cmd_arg(extend, key->url_gen, (size_t)-1);
    cc_cmd_arg(extend, life, (size_t)-1);
    return n;
}

int cc_cache_store(cc_store *s, const cc_config *cfg, const cc_key *key, const char *value,
                   size_t len, int64_t px_ms, const char *tags, size_t tags_len, const char *token)
{
    cc_cmd cmds[3 + 1 + 3 * TAGS_MAX];
    char names[TAGS_MAX][CC_NAME_MAX * 2 + 8];
    char px[24], life[24], lock[CC_KEY_HASH_OVER + 16], channel[CC_KEY_HASH_OVER + 16];
    if (s == NULL)
        return -1;
    memset(cmds, 0, sizeof cmds);
    snprintf(px, sizeof px, "%lld", (long long)px_ms);
    snprintf(life, sizeof life, "%lld", (long long)CC_URL_GEN_LIFE_MS);
    /* The generations first: Redis runs a connection's commands in order. */
    size_t gens = value != NULL ? generation_commands(key, life, cmds) : 0;
    cc_cmd *entry = &cmds[gens];
    size_t ncmd = gens + 1;
    if (token != NULL) {
        if (derived(cfg, key, CC_KS_LOCK, lock, sizeof lock) < 0 ||
            derived(cfg, key, CC_KS_FILL, channel, sizeof channel) < 0)
            return -1;
        cc_cmd_arg(entry, "EVAL", (size_t)-1);
        cc_cmd_arg(entry, store_and_release, sizeof store_and_release - 1);
        cc_cmd_arg(entry, "2", 1);
        cc_cmd_arg(entry, key->redis, key->redis_len);
        cc_cmd_arg(entry, lock, (size_t)-1);
        cc_cmd_arg(entry, value != NULL ? value : "", value != NULL ? len : 0);
        cc_cmd_arg(entry, px, (size_t)-1);
        cc_cmd_arg(entry, token, (size_t)-1);
        cc_cmd_arg(entry, channel, (size_t)-1);
        cc_cmd_arg(entry, publish_verb(cfg), (size_t)-1);
    } else if (value != NULL) {
        cc_cmd_arg(entry, "SET", (size_t)-1);
        cc_cmd_arg(entry, key->redis, key->redis_len);
        cc_cmd_arg(entry, value, len);
        cc_cmd_arg(entry, "PX", (size_t)-1);
        cc_cmd_arg(entry, px, (size_t)-1);
    } else {
        return 0;
    }
    if (value != NULL && tags != NULL)
        ncmd += tag_commands(cfg, key, tags, tags_len, px, cmds + ncmd, names);
    /* The client has its response: nobody waits for this round trip. */
    if (cc_store_send(s, ncmd, cmds) != 0)
        return -1;
    if (value != NULL)
        cc_debug("storing %s (%zu bytes for %lld ms)", key->full, len, (long long)px_ms);
    return value != NULL ? 1 : 0;
}

int cc_cache_bump(cc_store *s, size_t n, const char *const *gen_keys, const bool *url)
{
    enum { BATCH = 32 };
    char values[BATCH][24], life[24];
    cc_cmd cmds[BATCH];
    redisReply *replies[BATCH];
    snprintf(life, sizeof life, "%lld", (long long)CC_URL_GEN_LIFE_MS);
    if (s == NULL && n > 0) {
        cc_warn("purge of %zu generation(s) not delivered: redis unreachable", n);
        return -1;
    }
    for (size_t done = 0; done < n;) {
        size_t batch = n - done > BATCH ? BATCH : n - done;
        memset(cmds, 0, sizeof cmds);
        for (size_t i = 0; i < batch; i++) {
            cc_random_hex(values[i], 8);
            cc_cmd_arg(&cmds[i], "SET", (size_t)-1);
            cc_cmd_arg(&cmds[i], gen_keys[done + i], (size_t)-1);
            cc_cmd_arg(&cmds[i], values[i], (size_t)-1);
            if (url[done + i]) {
                cc_cmd_arg(&cmds[i], "PX", (size_t)-1);
                cc_cmd_arg(&cmds[i], life, (size_t)-1);
            }
        }
        if (cc_store_run(s, batch, cmds, replies) != 0) {
            cc_warn("purge of %zu generation(s) not delivered: redis unreachable", n - done);
            return -1;
        }
        /* A SET refused (a full Redis under noeviction refuses every
         * write that adds memory) falls back to deleting the generation:
         * Redis allows that when full, and a missing generation matches
         * no entry (generation.h), so it purges just the same. */
        cc_cmd dels[BATCH];
        size_t ndel = 0;
        for (size_t i = 0; i < batch; i++)
            if (replies[i]->type == REDIS_REPLY_ERROR) {
                cc_warn("purge of %s refused by redis: %s; deleting it instead", gen_keys[done + i],
                        replies[i]->str);
                memset(&dels[ndel], 0, sizeof dels[ndel]);
                cc_cmd_arg(&dels[ndel], "DEL", (size_t)-1);
                cc_cmd_arg(&dels[ndel], gen_keys[done + i], (size_t)-1);
                ndel++;
            }
        cc_store_free_replies(batch, replies);
        if (ndel > 0) {
            if (cc_store_run(s, ndel, dels, replies) != 0) {
                cc_warn("purge of %zu generation(s) not delivered: redis unreachable", n - done);
                return -1;
            }
            bool refused = false;
            for (size_t i = 0; i < ndel; i++)
                if (replies[i]->type == REDIS_REPLY_ERROR && !refused) {
                    cc_warn("purge of %s refused by redis: %s", dels[i].argv[1], replies[i]->str);
                    refused = true;
                }
            cc_store_free_replies(ndel, replies);
            if (refused)
                return -1;
        }
        done += batch;
    }
    return 0;
}
