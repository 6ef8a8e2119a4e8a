/* store.h -- the only module that talks to Redis.
 *
 * One connection per process and thread, made lazily, re-made after fork()
 * (a child never speaks on its parent's socket).  Every call pipelines a
 * batch of commands and waits for all replies under one deadline
 * (CGICACHE_TIMEOUT), so a hit is one round trip whatever it asks; a
 * write nobody waits for can be sent now and its reply read later.  A
 * failure closes the connection and opens a circuit breaker: while it is
 * open, calls fail at once, so a dead or frozen Redis costs at most one
 * timeout per back-off window.  Sockets are non-blocking, FD_CLOEXEC,
 * written with MSG_NOSIGNAL and retried on EINTR.  Replies are bounded in
 * size and shape (reply.h), so a peer that is not Redis costs no more.
 * The connection may be TLS (rediss://) and, behind sentinels, goes to
 * whichever node is the master now: callers see neither. */
#ifndef CGICACHE_STORE_H
#define CGICACHE_STORE_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "config.h"

typedef struct cc_store cc_store;

/* What went wrong with Redis, counted for the whole process: commands
 * that failed (refused, lost, timed out, answered with an error) and
 * openings of the breaker (the first failure after a success).  Relaxed
 * atomics; stats.c takes them into the batches that carry the counters. */
typedef enum { CC_STORE_ERROR, CC_STORE_BREAKER_OPEN, CC_STORE_COUNTERS } cc_store_counter;
extern _Atomic uint64_t cc_store_counters[CC_STORE_COUNTERS];

/* This thread's connection, made when needed.  NULL when caching is
 * disabled, the breaker is open or Redis cannot be reached now. */
cc_store *cc_store_for_thread(const cc_config *cfg);

/* Sends ncmd commands in one write and collects their replies (each may be
 * a REDIS_REPLY_ERROR; the caller frees them with cc_store_free_replies).
 * Returns 0, or -1 when the connection failed (nothing in replies). */
int cc_store_run(cc_store *s, size_t ncmd, const cc_cmd *cmds, redisReply **replies);

void cc_store_free_replies(size_t n, redisReply **replies);

/* Sends ncmd commands without waiting for their replies: for writes made
 * after the client has its response, so that the worker goes back to
 * accepting instead of waiting a round trip.  The replies are read (and
 * an error among them logged) by the next call on this connection, ahead
 * of its own.  Returns 0 when sent, -1 when the connection failed. */
int cc_store_send(cc_store *s, size_t ncmd, const cc_cmd *cmds);

/* Reads the replies this thread's connection still owes (within
 * CGICACHE_TIMEOUT): for a process about to exit, so that a refused store
 * is still logged and Redis is not left writing to a closed socket. */
void cc_store_settle(void);

/* Runs one command; returns its reply (free with freeReplyObject) or NULL. */
redisReply *cc_store_command(cc_store *s, const cc_cmd *cmd);

/* Waits up to timeout_ms for the next reply pushed on this connection (a
 * pub/sub message).  Returns it, or NULL on timeout or error (on error the
 * connection is dropped). */
redisReply *cc_store_next_push(cc_store *s, int timeout_ms);

/* Which connection s is: a number that changes each time s connects
 * anew, 0 while it is not connected.  State Redis keeps per connection
 * (client tracking) holds for one serial only. */
unsigned cc_store_serial(const cc_store *s);

/* In a Redis Cluster (s routes): how many masters s's slot map names (0
 * outside a cluster), s's own connection to master i (made on first use,
 * connected or not: cc_store_serial says), a number that changes each
 * time the map names other masters, and a connection of the caller's own
 * to master i (for subscribing; free with cc_store_close).  The near
 * cache tracks per master with these.  In a cluster cc_store_serial(s)
 * changes each time any of s's connections to masters is made or closed. */
int cc_store_masters(const cc_store *s);
cc_store *cc_store_master(cc_store *s, int i);
unsigned cc_store_map_serial(const cc_store *s);
cc_store *cc_store_open_master(cc_store *s, int i);

/* Closes s's connection, which its peer closed (seen by polling it): the
 * next call on s connects anew, with no breaker in between. */
void cc_store_drop(cc_store *s);

/* The socket of s, or -1: for polling it with others (it is s's to
 * read and write). */
int cc_store_fd(const cc_store *s);

/* Whether bytes already read from s's socket wait to be parsed (TLS
 * decrypts a record at a time): polling the socket does not show them. */
bool cc_store_buffered(const cc_store *s);

/* Takes the next reply pushed on s if one is there, without waiting.
 * Returns 1 with *out set, 0 when none is there, -1 when the connection
 * is gone (closed, failed or sent something that is not Redis; it is
 * dropped). */
int cc_store_poll_push(cc_store *s, redisReply **out);

/* Same as cc_store_for_thread, but a connection of its own that the
 * caller owns: for subscribing.  Free with cc_store_close. */
cc_store *cc_store_open(const cc_config *cfg);
void cc_store_close(cc_store *s);

/* Behind sentinels, reads what the sentinels said since (without
 * waiting): when the master was switched, closes s's connection (the next
 * call finds the new master) and returns -1; else 0.  For a caller that
 * answers without a command on s (the near cache), which would otherwise
 * not learn of a failover. */
int cc_store_follow(cc_store *s);

/* The node s is connected to ("host:port", "unix:/path"), "" when not
 * connected: behind sentinels, two connections made at different times
 * may be on different nodes. */
const char *cc_store_node(const cc_store *s);

/* What s is connected to, for `cgicache check`: the mode ("single", "sentinel"),
 * the node ("127.0.0.1:6379", "unix:/path"), and over TLS the session
 * (cc_tls_describe; "" without TLS).  Empty when s is not connected. */
typedef struct cc_store_peer {
    char mode[16];
    char node[700];
    char tls[400];
} cc_store_peer;
void cc_store_peer_of(const cc_store *s, cc_store_peer *out);

/* Every reply is bounded (reply.h): at most CGICACHE_MAX_SIZE + 1M of
 * strings (64M at least), arrays of arrays at most, and 1024 values, more than
 * any command of a request gets back.  The tool reads whole tag sets and
 * SCAN pages, and raises the bounds on its own connection with this. */
void cc_store_reply_limits(cc_store *s, size_t max_elements, size_t max_bytes);

#endif
