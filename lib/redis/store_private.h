/* store_private.h -- what store.c and store_cluster.c share: a
 * connection's state, and the steps of its I/O that the cluster mode
 * runs on each master's connection.  Not for any other file: the rest of
 * the library sees a cc_store only through store.h. */
#ifndef CGICACHE_STORE_PRIVATE_H
#define CGICACHE_STORE_PRIVATE_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "command.h"
#include "config.h"
#include "reply.h"
#include "slots.h"
#include "tls.h"

/* store.h's types, by their tags: this header is store.h's inside, and
 * does not include it (store.h includes nothing of this). */
struct cc_store;
struct cc_store_peer;

/* redis-cluster://: the map and the connections of a thread's store. */
typedef struct cluster_state {
    cc_slot_map map;
    struct cc_store *nodes[CC_SLOT_NODES];   /* by the map's index; NULL until used */
    cc_cluster_plan plan;                     /* the batch being sent */
    cc_cmd out[CC_CLUSTER_PARTS];             /* one master's parts, in order */
    redisReply *replies[CC_CLUSTER_PARTS];    /* the parts' replies */
    bool stale;                               /* the map is wrong somewhere: ask again */
    int64_t map_at;                           /* when it was last asked for */
    int next_seed;                            /* the seed asked first */
    int last;                                 /* the node of the last part (subscriptions) */
    unsigned events;                          /* connections to masters made or closed */
    unsigned map_serial;                      /* changes when the map names other masters */
} cluster_state;

struct cc_store {
    const cc_config *cfg;
    int fd;                    /* -1: not connected */
    cc_tls *tls;               /* its TLS session (rediss://), or NULL */
    unsigned fork_gen;         /* store_fork_generation when fd was made */
    redisReader *reader;
    cc_reply_guard guard;      /* the reader's budget per reply */
    cc_reply_limits limits;
    char *out;                 /* formatted commands */
    size_t out_cap;
    char *in;                  /* RECV_CHUNK bytes for replies, on the heap:
                                * the app's threads may have small stacks */
    size_t owed;               /* replies to commands sent without waiting */
    int64_t down_until;        /* breaker: no attempt before (monotonic ms) */
    int64_t backoff;
    int owned;                 /* a cc_store_open connection, not the thread's */
    unsigned serial;           /* connections made so far: tells one from the next */
    bool to_sentinel;          /* a connection to a sentinel (sentinel.c's), not to data */
    bool demoted;              /* a write was refused READONLY: the master is a replica now */
    struct cc_store *watch;    /* a sentinel connection subscribed to +switch-master */
    int64_t watch_retry_at;    /* when to try making the watch again after a failure */
    int next_sentinel;         /* the sentinel asked first: the last one that answered */
    char host[256];            /* the node connected to (TCP) */
    int port;
    char node[300];            /* "host:port" or "unix:/path", for logs and the near cache */
    cluster_state *cluster;    /* redis-cluster://: this store routes (it has no socket) */
    bool to_node;              /* a connection to one master of a cluster */
    bool redirected;           /* a reply owed said MOVED or ASK: the map is out of date */
    struct cc_store *router;   /* a master's connection: the store that routes to it */
};


/* Bumped in a child after fork(): a connection made before is its
 * parent's, never used. */
extern volatile unsigned store_fork_generation;

/* A connection (not connected yet); owned: a cc_store_open one. */
struct cc_store *store_new(const cc_config *cfg, int owned);
void store_free(struct cc_store *s);
void store_disconnect(struct cc_store *s);
/* Connects s if it is not, under its breaker.  0 or -1. */
int store_ensure_connected(struct cc_store *s);
/* Reads the replies owed to commands sent without waiting.  0 or -1. */
int store_settle_owed(struct cc_store *s, int64_t deadline);
int store_send_commands(struct cc_store *s, size_t ncmd, const cc_cmd *cmds, int64_t deadline);
int store_read_reply(struct cc_store *s, redisReply **out, int64_t deadline);
/* Sends ncmd commands and reads their replies, all under deadline. */
int store_exchange(struct cc_store *s, size_t ncmd, const cc_cmd *cmds, redisReply **replies,
                   int64_t deadline);
/* Drops the connection and keeps s away from Redis for a back-off. */
void store_open_breaker(struct cc_store *s, const char *what);

/* The cluster mode (store_cluster.c), for a store whose cluster is set. */
struct cc_store *store_cluster_node(struct cc_store *s, int i);
int store_cluster_ready(struct cc_store *s);
int store_cluster_run(struct cc_store *s, size_t ncmd, const cc_cmd *cmds, redisReply **replies);
int store_cluster_send(struct cc_store *s, size_t ncmd, const cc_cmd *cmds);
int store_cluster_scan(struct cc_store *s, const cc_cmd *cmd, redisReply **reply);
void store_cluster_peer(const struct cc_store *s, struct cc_store_peer *out);

#endif
