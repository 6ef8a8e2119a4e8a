/* store_cluster.c -- a store in a Redis Cluster (redis-cluster://).
 *
 * A thread's store holds no socket of its own here: it keeps the slot
 * map, asked of a master or a seed (CLUSTER SHARDS, or CLUSTER SLOTS
 * before Redis 7), and one connection per master, made when a command
 * first goes there, each under its own breaker, so a master that is down
 * pauses its slots only.  A batch is sent as cluster.c plans it: each
 * master its parts in one write, all at once, every reply read under the
 * batch's one deadline; a MOVED is followed at once and the map asked
 * for again, an ASK once after ASKING; SCAN walks the masters in turn. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "reply.h"
#include "store.h"
#include "store_private.h"

/* A slot map's reply: a node of a shard of the map is 4 arrays deep, and
 * a resharded cluster has a range for every run of slots. */
#define MAP_ELEMENTS (256 * 1024)
#define MAP_BYTES (16 * 1024 * 1024)
#define MAP_DEPTH 4
/* After a MOVED or a lost master the map is asked for again, at most
 * this often (each time costs a round trip to some node). */
#define MAP_RETRY_MS 100
/* Keyless commands sent again with a redirected one (a CLIENT SETNAME). */
#define REDIRECT_KEYLESS 2

/* The connection to node i of s's map, made (not connected) when first
 * wanted: it connects at its first command, under its own breaker, so a
 * master that is down pauses its slots only. */
cc_store *store_cluster_node(cc_store *s, int i)
{
    cluster_state *c = s->cluster;
    if (i < 0 || i >= c->map.nnodes)
        return NULL;
    if (c->nodes[i] == NULL) {
        cc_store *n = store_new(s->cfg, 1);
        if (n == NULL)
            return NULL;
        n->to_node = true;
        n->router = s;
        n->limits = s->limits;
        snprintf(n->host, sizeof n->host, "%s", c->map.nodes[i].host);
        n->port = c->map.nodes[i].port;
        c->nodes[i] = n;
    }
    return c->nodes[i];
}

/* Asks node n for the cluster's map (CLUSTER SHARDS, or CLUSTER SLOTS
 * before Redis 7) into m.  Returns 0 or -1. */
static int ask_map(cc_store *n, cc_slot_map *m)
{
    cc_cmd shards = {0}, slots = {0};
    cc_cmd_arg(&shards, "CLUSTER", (size_t)-1);
    cc_cmd_arg(&shards, "SHARDS", (size_t)-1);
    cc_cmd_arg(&slots, "CLUSTER", (size_t)-1);
    cc_cmd_arg(&slots, "SLOTS", (size_t)-1);
    cc_reply_limits kept = n->limits;
    n->limits = (cc_reply_limits){MAP_ELEMENTS, MAP_BYTES, MAP_DEPTH};
    n->guard.limits = n->limits;
    redisReply *r = cc_store_command(n, &shards);
    int rc = r != NULL ? cc_slot_map_from_shards(m, r, n->host) : -1;
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        r = cc_store_command(n, &slots);
        rc = r != NULL ? cc_slot_map_from_slots(m, r, n->host) : -1;
    }
    if (r != NULL && r->type == REDIS_REPLY_ERROR && n->backoff == 0)
        cc_warn("redis %s gave no slot map: %s", n->node, r->str);
    if (r != NULL)
        freeReplyObject(r);
    n->limits = kept;
    n->guard.limits = kept;
    return rc == 0 && m->nnodes > 0 ? 0 : -1;
}

/* Asks the masters s knows, then the seeds, for the map; the first
 * whole one is taken, and connections to masters it still names are
 * kept.  Returns 0, or -1 (s's map unchanged). */
static int load_map(cc_store *s)
{
    cluster_state *c = s->cluster;
    const cc_redis_addr *a = &s->cfg->redis;
    cc_slot_map *m = malloc(sizeof *m);
    int rc = -1;
    c->map_at = cc_mono_ms();
    for (int i = 0; m != NULL && rc < 0 && i < c->map.nnodes + a->nseeds; i++) {
        cc_store *n, *asked = NULL;
        if (i < c->map.nnodes) {
            n = store_cluster_node(s, i);
        } else {
            const cc_redis_node *seed = &a->seeds[(c->next_seed + i - c->map.nnodes) % a->nseeds];
            n = asked = store_new(s->cfg, 1);
            if (n != NULL) {
                n->to_node = true;
                snprintf(n->host, sizeof n->host, "%s", seed->host);
                n->port = seed->port;
            }
        }
        /* A master whose breaker is open is not waited for. */
        if (n != NULL && (n->fd >= 0 || cc_mono_ms() >= n->down_until))
            rc = ask_map(n, m) == 0 && cc_slot_map_complete(m) ? 0 : -1;
        if (rc == 0 && asked != NULL)
            c->next_seed = (c->next_seed + i - c->map.nnodes) % a->nseeds;
        store_free(asked);
    }
    if (rc == 0) {
        cc_store *kept[CC_SLOT_NODES] = {NULL};
        for (int j = 0; j < c->map.nnodes; j++) {
            int k = -1;
            for (int i = 0; i < m->nnodes && k < 0; i++)
                if (m->nodes[i].port == c->map.nodes[j].port &&
                    strcmp(m->nodes[i].host, c->map.nodes[j].host) == 0)
                    k = i;
            if (k >= 0)
                kept[k] = c->nodes[j];
            else
                store_free(c->nodes[j]);
        }
        bool same = m->nnodes == c->map.nnodes &&
                    memcmp(m->nodes, c->map.nodes, (size_t)m->nnodes * sizeof m->nodes[0]) == 0;
        c->map_serial += same ? 0 : 1;
        memcpy(c->nodes, kept, sizeof kept);
        memcpy(&c->map, m, sizeof *m);
        c->stale = false;
        cc_debug("redis cluster map: %d masters", c->map.nnodes);
    }
    free(m);
    return rc;
}

/* A cluster store is ready when it has a map: the first call asks for
 * one, a stale one is asked for again (not more often than
 * MAP_RETRY_MS), and while none can be had the breaker is open. */
int store_cluster_ready(cc_store *s)
{
    cluster_state *c = s->cluster;
    if (s->fork_gen != store_fork_generation) {
        /* Our parent's connections: closed without a word, in store_disconnect. */
        store_disconnect(s);
        s->fork_gen = store_fork_generation;
        s->down_until = 0;
        s->backoff = 0;
    }
    bool empty = c->map.nnodes == 0;
    int64_t now = cc_mono_ms();
    if (!empty && (!c->stale || now < c->map_at + MAP_RETRY_MS))
        return 0;
    if (empty && now < s->down_until)
        return -1;
    if (load_map(s) == 0) {
        s->backoff = 0;
        return 0;
    }
    if (!empty)
        return 0;    /* the map we have: a node says MOVED where it is wrong */
    errno = EHOSTUNREACH;
    store_open_breaker(s, "slot map");
    return -1;
}

/* Sends node i its parts of c's plan in one write: the parts are copied
 * to c->out in plan order.  Returns how many, or -1 (its connection
 * failed: its breaker is open). */
static long post_node(cc_store *s, int i, int64_t deadline)
{
    cluster_state *c = s->cluster;
    size_t k = 0;
    for (size_t p = 0; p < c->plan.nparts; p++)
        if (c->plan.parts[p].node == i)
            c->out[k++] = c->plan.parts[p].cmd;
    cc_store *n = store_cluster_node(s, i);
    if (n == NULL || store_ensure_connected(n) < 0)
        return -1;
    if (store_send_commands(n, k, c->out, deadline) < 0) {
        store_open_breaker(n, "command");
        return -1;
    }
    return (long)k;
}

/* Reads node i's replies to its parts into c->replies.  -1: failed. */
static int collect_node(cc_store *s, int i, int64_t deadline)
{
    cluster_state *c = s->cluster;
    cc_store *n = c->nodes[i];
    if (store_settle_owed(n, deadline) < 0) {
        store_open_breaker(n, "command");
        return -1;
    }
    for (size_t p = 0; p < c->plan.nparts; p++) {
        if (c->plan.parts[p].node != i)
            continue;
        if (store_read_reply(n, &c->replies[p], deadline) < 0) {
            store_open_breaker(n, "command");
            return -1;
        }
    }
    n->backoff = 0;
    return 0;
}

/* Follows a MOVED or ASK in part p's reply: the map learns a MOVED at
 * once (and is asked for again), and the part is sent where the reply
 * says, once, with the keyless parts sent just before it on the same
 * connection (a lock holder's CLIENT SETNAME): after ASKING for an ASK.
 * Its reply replaces the redirection.  Returns the node the part was
 * answered by. */
static int redirect(cc_store *s, size_t p, int64_t deadline)
{
    cluster_state *c = s->cluster;
    cc_redirect to;
    redisReply *r = c->replies[p];
    int from = c->plan.parts[p].node;
    if (r == NULL || r->type != REDIS_REPLY_ERROR || cc_redirect_parse(r->str, r->len, &to) < 0)
        return from;
    c->stale = c->stale || !to.ask;
    if (to.host[0] == '\0')    /* said without an address: the node that said it */
        snprintf(to.host, sizeof to.host, "%s", c->map.nodes[from].host);
    int i = cc_slot_map_node(&c->map, to.host, to.port);
    if (i < 0)
        return from;
    if (!to.ask)
        c->map.slot[to.slot] = (uint8_t)i;
    size_t first = p;
    while (first > 0 && p - first < REDIRECT_KEYLESS && c->plan.parts[first - 1].node == from &&
           c->plan.parts[first - 1].slot == CC_SLOTS)
        first--;
    cc_cmd cmds[REDIRECT_KEYLESS + 2];
    redisReply *got[REDIRECT_KEYLESS + 2];
    size_t n = 0;
    for (size_t q = first; q < p; q++)
        cmds[n++] = c->plan.parts[q].cmd;
    if (to.ask) {
        memset(&cmds[n], 0, sizeof cmds[n]);
        cc_cmd_arg(&cmds[n++], "ASKING", (size_t)-1);
    }
    cmds[n++] = c->plan.parts[p].cmd;
    cc_store *node = store_cluster_node(s, i);
    if (node == NULL || store_ensure_connected(node) < 0)
        return from;
    if (store_exchange(node, n, cmds, got, deadline) < 0) {
        store_open_breaker(node, "command");
        return from;
    }
    cc_debug("redis %s slot %u: %s %s", c->map.nodes[from].host, to.slot,
             to.ask ? "asked at" : "moved to", node->node);
    for (size_t q = first; q < p; q++) {
        freeReplyObject(c->replies[q]);
        c->replies[q] = got[q - first];
    }
    if (to.ask)
        freeReplyObject(got[n - 2]);
    freeReplyObject(c->replies[p]);
    c->replies[p] = got[n - 1];
    return i;
}

/* Whether node i has parts in c's plan before part p: sent already. */
static bool seen_before(const cluster_state *c, size_t p)
{
    for (size_t q = 0; q < p; q++)
        if (c->plan.parts[q].node == c->plan.parts[p].node)
            return true;
    return false;
}

/* Plans a batch; false (logged) when it cannot be sent. */
static bool plan_batch(cc_store *s, size_t ncmd, const cc_cmd *cmds)
{
    char why[160];
    if (cc_cluster_make_plan(&s->cluster->map, ncmd, cmds, &s->cluster->plan, why, sizeof why) == 0)
        return true;
    cc_info("redis cluster: not sent: %s", why);
    s->cluster->stale = true;
    return false;
}

/* SCAN in a cluster walks every master in turn: the cursor its caller
 * sees is "<master>:<cursor>" ("0" to start and at the end), so a
 * tool's SCAN loop (purges, top) covers the whole cluster unchanged.  A
 * reshard meanwhile may make it see a key twice or miss one moved, as
 * SCAN may on one node.  Returns 0 with *reply, or -1. */
int store_cluster_scan(cc_store *s, const cc_cmd *cmd, redisReply **reply)
{
    cluster_state *c = s->cluster;
    char cursor[32] = "0", next[48];
    long node = 0;
    if (cmd->argvlen[1] >= sizeof cursor)
        return -1;
    memcpy(cursor, cmd->argv[1], cmd->argvlen[1]);
    cursor[cmd->argvlen[1]] = '\0';
    const char *colon = strchr(cursor, ':');
    if (colon != NULL) {
        node = strtol(cursor, NULL, 10);
        memmove(cursor, colon + 1, strlen(colon + 1) + 1);
    }
    cc_cmd scan = *cmd;
    scan.argv[1] = cursor;
    scan.argvlen[1] = strlen(cursor);
    cc_store *n = node >= 0 && node < c->map.nnodes ? store_cluster_node(s, (int)node) : NULL;
    redisReply *r = NULL;
    if (n == NULL || store_ensure_connected(n) < 0)
        return -1;
    if (store_exchange(n, 1, &scan, &r, cc_mono_ms() + s->cfg->timeout_ms) < 0) {
        store_open_breaker(n, "command");
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        if (strcmp(r->element[0]->str, "0") != 0)
            snprintf(next, sizeof next, "%ld:%.30s", node, r->element[0]->str);
        else if (node + 1 < c->map.nnodes)
            snprintf(next, sizeof next, "%ld:0", node + 1);
        else
            snprintf(next, sizeof next, "0");
        if (cc_reply_set_text(r->element[0], next) != 0) {
            freeReplyObject(r);
            return -1;
        }
    }
    *reply = r;
    return 0;
}

/* cc_store_run on a cluster: every master its parts at once, then every
 * reply under one deadline; MOVED and ASK followed; the replies joined. */
int store_cluster_run(cc_store *s, size_t ncmd, const cc_cmd *cmds, redisReply **replies)
{
    cluster_state *c = s->cluster;
    int64_t deadline = cc_mono_ms() + s->cfg->timeout_ms;
    if (ncmd == 1 && cmds[0].argc >= 2 && cmds[0].argvlen[0] == 4 &&
        strncasecmp(cmds[0].argv[0], "SCAN", 4) == 0)
        return store_cluster_scan(s, &cmds[0], replies);
    if (!plan_batch(s, ncmd, cmds))
        return -1;
    bool failed = false;
    bool posted[CC_SLOT_NODES] = {false};
    for (size_t p = 0; p < c->plan.nparts; p++) {
        int i = c->plan.parts[p].node;
        c->replies[p] = NULL;
        if (!seen_before(c, p))
            posted[i] = post_node(s, i, deadline) >= 0;
        failed = failed || !posted[i];
    }
    /* Every master that was sent its parts is read, even when another
     * failed: a connection must not be left owing replies. */
    for (int i = 0; i < c->map.nnodes; i++)
        if (posted[i] && collect_node(s, i, deadline) < 0)
            failed = true;
    for (int i = 0; i < c->map.nnodes; i++)
        if (c->nodes[i] != NULL && c->nodes[i]->redirected) {
            c->nodes[i]->redirected = false;
            c->stale = true;
        }
    if (failed) {
        for (size_t p = 0; p < c->plan.nparts; p++)
            if (c->replies[p] != NULL)
                freeReplyObject(c->replies[p]);
        c->stale = true;    /* a master lost: perhaps failed over */
        return -1;
    }
    for (size_t p = 0; p < c->plan.nparts; p++)
        c->last = redirect(s, p, deadline);
    return cc_cluster_join(&c->plan, ncmd, c->replies, replies);
}

/* cc_store_send on a cluster: every master its parts, replies owed. */
int store_cluster_send(cc_store *s, size_t ncmd, const cc_cmd *cmds)
{
    cluster_state *c = s->cluster;
    int64_t deadline = cc_mono_ms() + s->cfg->timeout_ms;
    int rc = 0;
    if (!plan_batch(s, ncmd, cmds))
        return -1;
    for (size_t p = 0; p < c->plan.nparts; p++) {
        int i = c->plan.parts[p].node;
        long sent = seen_before(c, p) ? 0 : post_node(s, i, deadline);
        if (sent < 0) {
            rc = -1;
            c->stale = true;    /* a master lost: perhaps failed over */
        } else {
            c->nodes[i]->owed += (size_t)sent;
        }
    }
    return rc;
}

/* `cgicache check`'s view of a cluster: its masters. */
void store_cluster_peer(const cc_store *s, cc_store_peer *out)
{
    const cluster_state *c = s->cluster;
    size_t len = 0;
    if (c->map.nnodes == 0)
        return;
    snprintf(out->mode, sizeof out->mode, "cluster");
    len = (size_t)snprintf(out->node, sizeof out->node, "%d masters:", c->map.nnodes);
    for (int i = 0; i < c->map.nnodes && len < sizeof out->node; i++) {
        bool v6 = strchr(c->map.nodes[i].host, ':') != NULL;
        len += (size_t)snprintf(out->node + len, sizeof out->node - len, " %s%s%s:%d",
                                v6 ? "[" : "", c->map.nodes[i].host, v6 ? "]" : "",
                                c->map.nodes[i].port);
    }
    for (int i = 0; i < c->map.nnodes; i++)
        if (c->nodes[i] != NULL && c->nodes[i]->tls != NULL) {
            cc_tls_describe(c->nodes[i]->tls, out->tls, sizeof out->tls);
            break;
        }
}
