/* cache.c -- the cache's operations spelled in Redis.
 *
 * Keys (keyspace.h), all under CGICACHE_PREFIX:
 *   <p>:<route>:...           the entry (entry.c), PX ttl + stale
 *   <p>:#lock:<route>:...     its fill lock, SET NX PX lock_ttl, a random token
 *   <p>:#fill:<route>:...     the pub/sub channel the lock holder publishes on
 *   <p>:#gen:<route>          the route's purge generation (never expires)
 *   <p>:#gen:<route>:<hash>   a URL's purge generation
 *   <p>:#tag:<tag>            the entries carrying a tag, "<entry key>\t<URL generation>"
 * A lookup reads the entry and both generations with one MGET, so a hit is
 * one round trip and a purge is one SET: an entry computed under other
 * generations than the current ones is simply never served again (or,
 * when a soft purge kept the old ones, served STALE until refreshed).  A
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
 * ARGV = value ('' for none), px, token, channel, what to say when
 * nothing is stored, the verb that publishes (publish_verb).  The SET is
 * a pcall: a Redis out of memory refuses it, and the lock must still be
 * released and the waiters woken (they would otherwise wait
 * CGICACHE_LOCK_WAIT for a fill that never comes).  The message is a
 * string: '1' stored, '0' not stored, 'e' the app failed (a Lua number
 * would be formatted with printf's %.17g by Redis on every call). */
static const char store_and_release[] =
    "local stored = '0'\n"
    "if ARGV[1] ~= '' then\n"
    "  local r = redis.pcall('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "  if type(r) == 'table' and r.err then stored = r.err else stored = '1' end\n"
    "end\n"
    "if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end\n"
    "redis.call(ARGV[6], ARGV[4], stored == '1' and '1' or ARGV[5])\n"
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

/* A key is remembered as uncacheable (hit-for-pass) only while it holds
 * what the lookup saw (compared as lock_if_unchanged does): an entry
 * another worker stored since then stays.  KEYS = entry; ARGV = the
 * marker, px, the tail seen. */
static const char mark_pass[] =
    "if redis.call('GETRANGE', KEYS[1], -8, -1) ~= ARGV[3] then return 0 end\n"
    "return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n";

/* A request counted for min-uses=: the count lives px from the first. */
static const char count_use[] = "local n = redis.call('INCR', KEYS[1])\n"
                                "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
                                "return n\n";

/* In a cluster the fill wake-up is sharded pub/sub (Redis 7): it stays
 * on the entry's master (its channel shares the entry's slot) instead of
 * crossing every node's bus. */
static const char *publish_verb(const cc_config *cfg)
{
    return cfg->redis.cluster ? "SPUBLISH" : "PUBLISH";
}

/* The key's lock, fill channel or use count into out. */
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
    if (cc_store_run(s, n, cmds, replies) != 0) {
        cc_stats_untake(&room);
        return NULL;
    }
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

/* The generation values a lookup read (NULL: missing). */
typedef struct gen_values {
    const char *route, *url;
    size_t route_len, url_len;
} gen_values;

/* Decides what the stored bytes are worth to this key now. */
static cc_found_state judge(const cc_key *key, cc_found *f, const char *value, size_t len,
                            int64_t now, const gen_values *gens)
{
    cc_entry *e = &f->entry;
    if (value == NULL)
        return CC_FOUND_NONE;
    if (len == sizeof CC_PASS_MARKER - 1 && memcmp(value, CC_PASS_MARKER, len) == 0)
        return CC_FOUND_PASS;
    if (cc_entry_decode(value, len, e, &f->scratch) != 0) {
        cc_debug("%s: stored value does not decode; treated as a miss", key->full);
        return CC_FOUND_NONE;
    }
    if (e->key_len != key->full_len || memcmp(e->key, key->full, e->key_len) != 0) {
        cc_debug("%s: stored entry belongs to another key; treated as a miss", key->full);
        return CC_FOUND_NONE;
    }
    if (e->generation != f->generation) {
        /* Soft-purged since it was computed: stale whatever its stale
         * window (Redis still holds it, so it is within its life), and
         * refreshed under the lock; otherwise purged. */
        return cc_generation_soft(e->generation, gens->route, gens->route_len, gens->url,
                                  gens->url_len, key->path, key->path_len)
                   ? CC_FOUND_STALE
                   : CC_FOUND_NONE;
    }
    if (now < e->stored_at_ms + e->ttl_ms)
        return CC_FOUND_FRESH;
    if (now < e->stored_at_ms + e->ttl_ms + e->stale_ms)
        return CC_FOUND_STALE;
    /* Kept past its stale window (stale-if-error): the engine decides. */
    return CC_FOUND_FALLBACK;
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
    out->generation = cc_generation_found(rgen, rlen, ugen, ulen, key->path, key->path_len,
                                          key->route_gen_new, key->url_gen_new, draw_generation);
    out->tail_len = vlen < sizeof out->tail ? vlen : sizeof out->tail;
    if (value != NULL)
        memcpy(out->tail, value + vlen - out->tail_len, out->tail_len);
    out->reply = reply;
    gen_values gens = {rgen, ugen, rlen, ulen};
    out->state = judge(key, out, value, vlen, now_ms, &gens);
    for (int g = 0; g < 2; g++)
        if (made[g] != NULL)
            freeReplyObject(made[g]);
    if (out->state == CC_FOUND_NONE || out->state == CC_FOUND_PASS) {
        cc_found_state state = out->state;
        cc_cache_found_free(out);      /* keeps generation and tail */
        out->state = state;
    }
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
        return CC_FILL_NONE;
    /* A connection of its own: once subscribed it cannot run commands. */
    cc_store *sub = cc_store_open(cfg);
    if (sub == NULL)
        return CC_FILL_NONE;
    cc_cmd subscribe = {0};
    cc_cmd_arg(&subscribe, cfg->redis.cluster ? "SSUBSCRIBE" : "SUBSCRIBE", (size_t)-1);
    cc_cmd_arg(&subscribe, channel, (size_t)-1);
    redisReply *reply = cc_store_command(sub, &subscribe);
    int rc = CC_FILL_NONE;
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
            if (push == NULL) {
                /* Waited long enough, or the holder died: answer uncached. */
                if (holder == CC_HOLDER_DEAD)
                    rc = CC_FILL_FAILED;
                break;
            }
            /* ["message", channel, what the holder said] */
            if (push->type == REDIS_REPLY_ARRAY && push->elements == 3 &&
                push->element[2]->type == REDIS_REPLY_STRING && push->element[2]->len == 1 &&
                push->element[2]->str[0] == 'e')
                rc = CC_FILL_FAILED;
            freeReplyObject(push);
        }
    }
    cc_store_close(sub);
    return rc;
}

long long cc_cache_count_use(cc_store *s, const cc_config *cfg, const cc_key *key, int64_t px)
{
    char uses[CC_KEY_HASH_OVER + 16], px_text[24];
    if (s == NULL || derived(cfg, key, CC_KS_USES, uses, sizeof uses) < 0)
        return -1;
    snprintf(px_text, sizeof px_text, "%lld", (long long)px);
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "EVAL", (size_t)-1);
    cc_cmd_arg(&cmd, count_use, sizeof count_use - 1);
    cc_cmd_arg(&cmd, "1", 1);
    cc_cmd_arg(&cmd, uses, (size_t)-1);
    cc_cmd_arg(&cmd, px_text, (size_t)-1);
    redisReply *reply = run_counted(cfg, s, &cmd);
    long long n = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply != NULL)
        freeReplyObject(reply);
    return n;
}

/* Splits a tags header value into at most TAGS_MAX SADD + PEXPIRE
 * commands adding member to each tag's set; returns how many commands
 * were added to cmds. */
static size_t tag_commands(const cc_config *cfg, const char *tags, size_t len, const char *px,
                           cc_cmd *cmds, char (*names)[CC_NAME_MAX * 2 + 8], const char *member,
                           size_t member_len)
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
        cc_cmd_arg(sadd, member, member_len);
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

/* The command remembering fill's key as uncacheable (pass=), into cmd;
 * false when there is nothing to remember. */
static bool pass_command(const cc_key *key, const cc_fill *fill, char *px, size_t px_cap,
                         cc_cmd *cmd)
{
    if (fill->value != NULL || fill->failed || fill->pass_ms <= 0)
        return false;
    snprintf(px, px_cap, "%lld", (long long)fill->pass_ms);
    cc_cmd_arg(cmd, "EVAL", (size_t)-1);
    cc_cmd_arg(cmd, mark_pass, sizeof mark_pass - 1);
    cc_cmd_arg(cmd, "1", 1);
    cc_cmd_arg(cmd, key->redis, key->redis_len);
    cc_cmd_arg(cmd, CC_PASS_MARKER, sizeof CC_PASS_MARKER - 1);
    cc_cmd_arg(cmd, px, (size_t)-1);
    cc_cmd_arg(cmd, fill->seen != NULL ? fill->seen : "", fill->seen_len);
    return true;
}

int cc_cache_store(cc_store *s, const cc_config *cfg, const cc_key *key, const cc_fill *fill)
{
    cc_cmd cmds[3 + 2 + 3 * TAGS_MAX];
    char names[TAGS_MAX][CC_NAME_MAX * 2 + 8];
    char px[24], pass_px[24], life[24], lock[CC_KEY_HASH_OVER + 16], channel[CC_KEY_HASH_OVER + 16];
    const char *value = fill->value, *token = fill->token;
    size_t len = fill->len;
    if (s == NULL)
        return -1;
    memset(cmds, 0, sizeof cmds);
    snprintf(px, sizeof px, "%lld", (long long)fill->px);
    snprintf(life, sizeof life, "%lld", (long long)CC_URL_GEN_LIFE_MS);
    /* The generations first: Redis runs a connection's commands in order.
     * A key remembered as uncacheable is so before its waiters wake. */
    size_t gens = value != NULL ? generation_commands(key, life, cmds) : 0;
    gens += pass_command(key, fill, pass_px, sizeof pass_px, &cmds[gens]);
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
        cc_cmd_arg(entry, fill->failed ? "e" : "0", 1);
        cc_cmd_arg(entry, publish_verb(cfg), (size_t)-1);
    } else if (value != NULL) {
        cc_cmd_arg(entry, "SET", (size_t)-1);
        cc_cmd_arg(entry, key->redis, key->redis_len);
        cc_cmd_arg(entry, value, len);
        cc_cmd_arg(entry, "PX", (size_t)-1);
        cc_cmd_arg(entry, px, (size_t)-1);
    } else if (gens > 0) {
        ncmd = gens;              /* only remembered as uncacheable */
    } else {
        return 0;
    }
    /* A tag's member names the entry and its URL generation, so that a
     * tag purge can bump the one (soft: mark it stale) and remove the other. */
    char member[CC_KEY_HASH_OVER + CC_GEN_KEY_MAX + 2];
    int member_len = value != NULL && fill->tags != NULL
                         ? snprintf(member, sizeof member, "%s\t%s", key->redis, key->url_gen)
                         : -1;
    if (member_len > 0 && (size_t)member_len < sizeof member)
        ncmd += tag_commands(cfg, fill->tags, fill->tags_len, px, cmds + ncmd, names, member,
                             (size_t)member_len);
    /* The client has its response: nobody waits for this round trip. */
    if (cc_store_send(s, ncmd, cmds) != 0)
        return -1;
    if (value != NULL)
        cc_debug("storing %s (%zu bytes for %lld ms)", key->full, len, (long long)fill->px);
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

/* ---- soft, prefix and tag purges ------------------------------------------
 *
 * Each is a script, so that reading a generation's list and writing it
 * back is one step no other purge can come between (generation.h has the
 * format).  The tokens are drawn here, not in Lua: ARGV[1] is a random
 * base, and a script that writes several values gives each the base and
 * a number. */

/* keep(list, token, max): token, then at most max tokens of list.
 * soften(value, token, max): the value with a new current token and its
 * old ones kept after it, records untouched; a missing one, just token. */
#define LUA_SOFTEN                                                                       \
    "local function keep(list, token, max)\n"                                            \
    "  local out, n = {token}, 0\n"                                                      \
    "  for t in string.gmatch(list, '[^ ]+') do\n"                                       \
    "    if n >= max then break end\n"                                                   \
    "    n = n + 1\n"                                                                    \
    "    out[n + 1] = t\n"                                                               \
    "  end\n"                                                                            \
    "  return table.concat(out, ' ')\n"                                                  \
    "end\n"                                                                              \
    "local function soften(value, token, max)\n"                                         \
    "  if not value then return token end\n"                                             \
    "  local nl = string.find(value, '\\n', 1, true)\n"                                  \
    "  if not nl then return keep(value, token, max) end\n"                              \
    "  return keep(string.sub(value, 1, nl - 1), token, max) .. string.sub(value, nl)\n" \
    "end\n"

/* KEYS = a generation; ARGV = token, PX ('' for none), max previous. */
static const char soften_script[] = LUA_SOFTEN
    "local new = soften(redis.call('GET', KEYS[1]), ARGV[1], tonumber(ARGV[3]))\n"
    "if ARGV[2] == '' then return redis.call('SET', KEYS[1], new) end\n"
    "return redis.call('SET', KEYS[1], new, 'PX', ARGV[2])\n";

/* KEYS = a route generation; ARGV = token, prefix, soft ('1'), max
 * previous, max records, max bytes.  Adds or renews the prefix's record;
 * past either bound, the route's generation starts afresh (a hard purge
 * of the route: dropping a record alone would bring back what it purged).
 * A missing generation is made: entries in flight must not create it. */
static const char prefix_script[] = LUA_SOFTEN
    "local value, token, prefix = redis.call('GET', KEYS[1]), ARGV[1], ARGV[2]\n"
    "local soft, max = ARGV[3] == '1', tonumber(ARGV[4])\n"
    "if not value then return redis.call('SET', KEYS[1], token) end\n"
    "local lines, pos, nl = {}, 1, nil\n"
    "repeat\n"
    "  nl = string.find(value, '\\n', pos, true)\n"
    "  lines[#lines + 1] = string.sub(value, pos, (nl or 0) - 1)\n"
    "  pos = (nl or 0) + 1\n"
    "until not nl\n"
    "local found = false\n"
    "for i = 2, #lines do\n"
    "  local tab = string.find(lines[i], '\\t', 1, true)\n"
    "  if tab and string.sub(lines[i], 1, tab - 1) == prefix then\n"
    "    local old = string.sub(lines[i], tab + 1)\n"
    "    lines[i] = prefix .. '\\t' .. (soft and keep(old, token, max) or token)\n"
    "    found = true\n"
    "  end\n"
    "end\n"
    "if not found then lines[#lines + 1] = prefix .. '\\t' .. token .. (soft and ' -' or '') end\n"
    "local new = table.concat(lines, '\\n')\n"
    "if #lines - 1 > tonumber(ARGV[5]) or #new > tonumber(ARGV[6]) then new = token end\n"
    "return redis.call('SET', KEYS[1], new)\n";

/* KEYS = a tag's set; ARGV = token, soft ('1'), a URL generation's life,
 * max previous, CGICACHE_PREFIX.  A member is "<entry key>\t<its URL
 * generation>" (or, stored by an older version, the entry key alone).
 * Each URL generation is bumped, or softened, once; an entry is removed
 * unless soft and its generation known.  Only keys shaped as an entry's
 * and a generation's are touched.  Returns how many entries it removed
 * or marked. */
static const char tag_script[] = LUA_SOFTEN
    "local p, soft, max = ARGV[5] .. ':', ARGV[2] == '1', tonumber(ARGV[4])\n"
    "local count, seen = 0, {}\n"
    "for i, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local tab = string.find(m, '\\t', 1, true)\n"
    "  local entry, gen = m, nil\n"
    "  if tab then entry, gen = string.sub(m, 1, tab - 1), string.sub(m, tab + 1) end\n"
    "  if gen and string.sub(gen, 1, #p + 5) ~= p .. '#gen:' then gen = nil end\n"
    "  if string.sub(entry, 1, #p) == p and string.find(entry, '^[%w_]+:', #p + 1) then\n"
    "    if gen and not seen[gen] then\n"
    "      seen[gen] = true\n"
    "      local token = ARGV[1] .. string.format('%x', i)\n"
    "      local new = token\n"
    "      if soft then new = soften(redis.call('GET', gen), token, max) end\n"
    "      redis.call('SET', gen, new, 'PX', ARGV[3])\n"
    "    end\n"
    "    if soft and gen then count = count + redis.call('EXISTS', entry)\n"
    "    else count = count + redis.call('UNLINK', entry) end\n"
    "  end\n"
    "end\n"
    "if not soft then redis.call('UNLINK', KEYS[1]) end\n"
    "return count\n";

enum { SCRIPT_BATCH = 32 };

/* Runs n (at most SCRIPT_BATCH) script calls in one round trip, adding their integer replies
 * to *sum when it is not NULL.  Returns 0, or -1 when Redis could not be
 * reached or refused any (logged). */
static int run_scripts(cc_store *s, size_t n, const cc_cmd *cmds, long *sum)
{
    redisReply *replies[SCRIPT_BATCH];
    if (s == NULL || cc_store_run(s, n, cmds, replies) != 0) {
        cc_warn("purge of %zu key(s) not delivered: redis unreachable", n);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (replies[i]->type == REDIS_REPLY_ERROR && rc == 0) {
            cc_warn("purge of %s refused by redis: %s", cmds[i].argv[3], replies[i]->str);
            rc = -1;
        } else if (replies[i]->type == REDIS_REPLY_INTEGER && sum != NULL) {
            *sum += (long)replies[i]->integer;
        }
    }
    cc_store_free_replies(n, replies);
    return rc;
}

/* Starts an EVAL of script on key: EVAL script 1 key. */
static void eval_on(cc_cmd *cmd, const char *script, size_t len, const char *key)
{
    memset(cmd, 0, sizeof *cmd);
    cc_cmd_arg(cmd, "EVAL", (size_t)-1);
    cc_cmd_arg(cmd, script, len);
    cc_cmd_arg(cmd, "1", 1);
    cc_cmd_arg(cmd, key, (size_t)-1);
}

int cc_cache_soften(cc_store *s, size_t n, const char *const *gen_keys, const bool *url)
{
    char tokens[SCRIPT_BATCH][CC_GEN_VALUE_LEN + 1], life[24], max[8];
    cc_cmd cmds[SCRIPT_BATCH];
    snprintf(life, sizeof life, "%lld", (long long)CC_URL_GEN_LIFE_MS);
    snprintf(max, sizeof max, "%d", CC_GEN_PREVIOUS_MAX);
    for (size_t done = 0; done < n;) {
        size_t batch = n - done > SCRIPT_BATCH ? SCRIPT_BATCH : n - done;
        for (size_t i = 0; i < batch; i++) {
            draw_generation(tokens[i]);
            eval_on(&cmds[i], soften_script, sizeof soften_script - 1, gen_keys[done + i]);
            cc_cmd_arg(&cmds[i], tokens[i], (size_t)-1);
            cc_cmd_arg(&cmds[i], url[done + i] ? life : "", (size_t)-1);
            cc_cmd_arg(&cmds[i], max, (size_t)-1);
        }
        if (run_scripts(s, batch, cmds, NULL) != 0)
            return -1;
        done += batch;
    }
    return 0;
}

/* Adds or renews the prefix's record on each route generation. */
static int record_prefix(cc_store *s, size_t n, const char *const *route_gens, const char *prefix,
                         size_t prefix_len, bool soft)
{
    char tokens[SCRIPT_BATCH][CC_GEN_VALUE_LEN + 1], max[8], records[8], bytes[16];
    cc_cmd cmds[SCRIPT_BATCH];
    snprintf(max, sizeof max, "%d", CC_GEN_PREVIOUS_MAX);
    snprintf(records, sizeof records, "%d", CC_GEN_RECORDS_MAX);
    snprintf(bytes, sizeof bytes, "%d", CC_GEN_ROUTE_VALUE_MAX);
    for (size_t done = 0; done < n;) {
        size_t batch = n - done > SCRIPT_BATCH ? SCRIPT_BATCH : n - done;
        for (size_t i = 0; i < batch; i++) {
            draw_generation(tokens[i]);
            eval_on(&cmds[i], prefix_script, sizeof prefix_script - 1, route_gens[done + i]);
            cc_cmd_arg(&cmds[i], tokens[i], (size_t)-1);
            cc_cmd_arg(&cmds[i], prefix, prefix_len);
            cc_cmd_arg(&cmds[i], soft ? "1" : "0", 1);
            cc_cmd_arg(&cmds[i], max, (size_t)-1);
            cc_cmd_arg(&cmds[i], records, (size_t)-1);
            cc_cmd_arg(&cmds[i], bytes, (size_t)-1);
        }
        if (run_scripts(s, batch, cmds, NULL) != 0)
            return -1;
        done += batch;
    }
    return 0;
}

/* Runs verb over keys (n of them, lens long), as many to a command as
 * one holds and as many commands to a round trip as run_scripts sends,
 * adding the integer replies to *sum.  Returns 0 or -1 (logged). */
static int run_over_keys(cc_store *s, const char *verb, const char *const *keys, const size_t *lens,
                         size_t n, long *sum)
{
    cc_cmd cmds[SCRIPT_BATCH];
    for (size_t done = 0; done < n;) {
        size_t ncmd = 0;
        while (ncmd < SCRIPT_BATCH && done < n) {
            cc_cmd *c = &cmds[ncmd++];
            memset(c, 0, sizeof *c);
            cc_cmd_arg(c, verb, (size_t)-1);
            while (c->argc < CC_CMD_ARGS && done < n) {
                cc_cmd_arg(c, keys[done], lens[done]);
                done++;
            }
        }
        if (run_scripts(s, ncmd, cmds, sum) != 0)
            return -1;
    }
    return 0;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A tag purge done from here, as in a Redis Cluster it must be (a
 * script there may touch only keys of its own slot, and a tag's entries
 * live on every master): the same steps as tag_script, each command on
 * its keys' master.  The URL generations first, each once, so a page in
 * flight cannot land after the purge; then the entries removed (soft:
 * counted); then the members read taken out of the set (one added
 * meanwhile stays, for the next purge). */
static long purge_tag_by_client(cc_store *s, const cc_config *cfg, const char *set, bool soft)
{
    cc_cmd cmd = {0};
    cc_cmd_arg(&cmd, "SMEMBERS", (size_t)-1);
    cc_cmd_arg(&cmd, set, (size_t)-1);
    redisReply *members = cc_store_command(s, &cmd);
    if (members == NULL || members->type != REDIS_REPLY_ARRAY) {
        cc_warn("purge of tag set %s not delivered: %s", set,
                members != NULL && members->type == REDIS_REPLY_ERROR ? members->str
                                                                      : "redis unreachable");
        if (members != NULL)
            freeReplyObject(members);
        return -1;
    }
    size_t n = members->elements, ne = 0, nm = 0, ng = 0, nr = 0;
    const char **entries = calloc(n + 1, sizeof *entries),
               **removed = calloc(n + 1, sizeof *removed);
    const char **gens = calloc(n + 1, sizeof *gens), **marked = calloc(n + 1, sizeof *marked);
    size_t *elens = calloc(n + 1, sizeof *elens), *rlens = calloc(n + 1, sizeof *rlens);
    size_t *mlens = calloc(n + 1, sizeof *mlens);
    bool *url = calloc(n + 1, sizeof *url);
    char *text = malloc(n * CC_GEN_KEY_MAX + 1);
    char gen_start[CC_NAME_MAX + 8];
    snprintf(gen_start, sizeof gen_start, "%s:#gen:", cfg->prefix);
    long count = -1;
    if (entries == NULL || removed == NULL || gens == NULL || marked == NULL || elens == NULL ||
        rlens == NULL || mlens == NULL || url == NULL || text == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const redisReply *m = members->element[i];
        if (m->type != REDIS_REPLY_STRING)
            continue;
        removed[nr] = m->str;
        rlens[nr++] = m->len;
        const char *tab = memchr(m->str, '\t', m->len);
        size_t elen = tab != NULL ? (size_t)(tab - m->str) : m->len;
        if (!cc_keyspace_is_entry(cfg, m->str, elen))
            continue;
        size_t glen = tab != NULL ? m->len - elen - 1 : 0;
        bool gen = glen > strlen(gen_start) && glen < CC_GEN_KEY_MAX &&
                   memcmp(tab + 1, gen_start, strlen(gen_start)) == 0;
        if (gen) {
            char *copy = text + ng * CC_GEN_KEY_MAX;
            memcpy(copy, tab + 1, glen);
            copy[glen] = '\0';
            url[ng] = true;
            gens[ng++] = copy;
        }
        if (soft && gen) {        /* a soft purge marks what it can tell the URL of */
            marked[nm] = m->str;
            mlens[nm++] = elen;
        } else {
            entries[ne] = m->str;
            elens[ne++] = elen;
        }
    }
    qsort(gens, ng, sizeof *gens, compare_strings);
    size_t unique = 0;
    for (size_t i = 0; i < ng; i++)
        if (unique == 0 || strcmp(gens[unique - 1], gens[i]) != 0)
            gens[unique++] = gens[i];
    if ((soft ? cc_cache_soften(s, unique, gens, url) : cc_cache_bump(s, unique, gens, url)) != 0)
        goto out;
    count = 0;
    if (run_over_keys(s, "UNLINK", entries, elens, ne, &count) != 0 ||
        run_over_keys(s, "EXISTS", marked, mlens, nm, &count) != 0) {
        count = -1;
        goto out;
    }
    if (!soft) {
        /* SREM set m...: the set's own slot, members as arguments. */
        cc_cmd srem[SCRIPT_BATCH];
        for (size_t done = 0; done < nr && count >= 0;) {
            size_t ncmd = 0;
            while (ncmd < SCRIPT_BATCH && done < nr) {
                cc_cmd *c = &srem[ncmd++];
                memset(c, 0, sizeof *c);
                cc_cmd_arg(c, "SREM", (size_t)-1);
                cc_cmd_arg(c, set, (size_t)-1);
                while (c->argc < CC_CMD_ARGS && done < nr) {
                    cc_cmd_arg(c, removed[done], rlens[done]);
                    done++;
                }
            }
            if (run_scripts(s, ncmd, srem, NULL) != 0)
                count = -1;
        }
    }
out:
    free(entries);
    free(removed);
    free(gens);
    free(marked);
    free(mlens);
    free(elens);
    free(rlens);
    free(url);
    free(text);
    freeReplyObject(members);
    return count;
}

long cc_cache_purge_tag(cc_store *s, const cc_config *cfg, const char *tag, size_t len, bool soft)
{
    char set[CC_NAME_MAX * 2 + 8], token[CC_GEN_VALUE_LEN + 1], life[24], max[8];
    if (cc_keyspace_key(cfg, CC_KS_TAG, tag, len, set, sizeof set) < 0)
        return -1;
    if (cfg->redis.cluster)
        return s != NULL ? purge_tag_by_client(s, cfg, set, soft) : -1;
    draw_generation(token);
    snprintf(life, sizeof life, "%lld", (long long)CC_URL_GEN_LIFE_MS);
    snprintf(max, sizeof max, "%d", CC_GEN_PREVIOUS_MAX);
    cc_cmd cmd;
    eval_on(&cmd, tag_script, sizeof tag_script - 1, set);
    cc_cmd_arg(&cmd, token, (size_t)-1);
    cc_cmd_arg(&cmd, soft ? "1" : "0", 1);
    cc_cmd_arg(&cmd, life, (size_t)-1);
    cc_cmd_arg(&cmd, max, (size_t)-1);
    cc_cmd_arg(&cmd, cfg->prefix, (size_t)-1);
    long count = 0;
    return run_scripts(s, 1, &cmd, &count) == 0 ? count : -1;
}

/* Collects route generation keys (cc_gen_fn), on the heap: as many as
 * the configuration has routes. */
typedef struct gen_list {
    size_t n, cap;
    char (*keys)[CC_GEN_KEY_MAX];
    const char **names;
} gen_list;

static void add_gen(void *ctx, const char *gen_key, bool url)
{
    gen_list *l = ctx;
    (void)url;
    if (l->n < l->cap) {
        snprintf(l->keys[l->n], sizeof l->keys[0], "%s", gen_key);
        l->names[l->n] = l->keys[l->n];
        l->n++;
    }
}

int cc_cache_purge_prefix(cc_store *s, const cc_config *cfg, const char *prefix, size_t len,
                          bool soft, size_t *routes)
{
    gen_list l = {0, cfg->nroutes, NULL, NULL};
    *routes = 0;
    if (cfg->nroutes == 0)
        return 0;
    l.keys = malloc(cfg->nroutes * sizeof *l.keys);
    l.names = malloc(cfg->nroutes * sizeof *l.names);
    int rc = -1;
    if (l.keys != NULL && l.names != NULL) {
        cc_invalidate_prefix_routes(cfg, prefix, len, add_gen, &l);
        rc = record_prefix(s, l.n, l.names, prefix, len, soft);
        *routes = l.n;
    }
    free(l.keys);
    free(l.names);
    return rc;
}

int cc_cache_app_purge(cc_store *s, const cc_config *cfg, const cc_app_purge *p)
{
    int rc = 0;
    for (size_t i = 0; i < p->ntags; i++) {
        const char *tag = p->tags[i];
        if (cc_cache_purge_tag(s, cfg, tag, strlen(tag), p->soft) < 0)
            rc = -1;
        /* Every entry is also tagged with its route. */
        char gen[CC_GEN_KEY_MAX];
        const char *gens[1] = {gen};
        bool url[1] = {false};
        if (cc_config_route(cfg, tag) != NULL &&
            cc_keyspace_key(cfg, CC_KS_GEN, tag, strlen(tag), gen, sizeof gen) == 0 &&
            (p->soft ? cc_cache_soften(s, 1, gens, url) : cc_cache_bump(s, 1, gens, url)) != 0)
            rc = -1;
    }
    for (size_t i = 0; i < p->nprefixes; i++) {
        size_t routes;
        if (cc_cache_purge_prefix(s, cfg, p->prefixes[i], p->prefix_len[i], p->soft, &routes) != 0)
            rc = -1;
    }
    return rc;
}
