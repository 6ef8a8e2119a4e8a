/* store.c -- Redis I/O: connections, pipelined commands, deadlines and the
 * circuit breaker.
 *
 * hiredis provides the protocol reader; the socket work is done here, so
 * that every wait has one deadline for the whole batch (not one per
 * syscall), a write to a closed socket never raises SIGPIPE (the app may
 * not ignore it), EINTR from libfcgi's handlers (installed without
 * SA_RESTART) is retried, and a connection made before fork() is never
 * used by the child.  Commands are formatted into a per-connection buffer,
 * so a steady stream of hits does not allocate for sending.
 *
 * The bytes go through TLS (tls.c) for rediss://.  Behind sentinels
 * (redis-sentinel://) a connection is made to the master sentinel.c finds,
 * confirmed by ROLE, and a thread's connection keeps a watch on the
 * sentinels' +switch-master, so that no worker stays on an old master.
 * In a Redis Cluster (redis-cluster://) a thread's store holds no socket
 * of its own: it keeps the slot map and one connection per master, made
 * when a command first goes there, and sends each batch as cluster.c
 * plans it (each master its part in one write, all at once, read under
 * the batch's one deadline); a MOVED is followed at once and the map
 * asked for again, an ASK once after ASKING. */
#include "store.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "decimal.h"
#include "log.h"
#include "reply.h"
#include "sentinel.h"
#include "store_private.h"
#include "tls.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 4000
/* Behind sentinels an outage is usually a failover, over in seconds: the
 * breaker looks again at least this often, so hits resume promptly once
 * a new master is promoted (each look costs a sentinel query). */
#define BACKOFF_MAX_SENTINEL_MS 1000
#define RECV_CHUNK (64 * 1024)
/* What one reply may cost a request: the largest is an entry (a body of
 * CGICACHE_MAX_SIZE, its key and head); no command a request sends has
 * more than a handful of values in its reply.  The floor lets a worker
 * read entries stored by another pool with a larger CGICACHE_MAX_SIZE
 * (refusing one would drop the connection and open the breaker). */
#define REPLY_BYTES_OVER_MAX_SIZE (1024 * 1024)
#define REPLY_BYTES_MIN (64 * 1024 * 1024)
#define REPLY_ELEMENTS 1024
#define REPLY_DEPTH 2
_Atomic uint64_t cc_store_counters[CC_STORE_COUNTERS];

static void count(cc_store_counter c)
{
    atomic_fetch_add_explicit(&cc_store_counters[c], 1, memory_order_relaxed);
}

static pthread_key_t thread_key;
volatile unsigned store_fork_generation;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static void drop_watch(cc_store *s);
static cc_store *open_sentinel(const cc_config *cfg, const cc_redis_node *sentinel);
static cc_sentinel_asker ask_sentinel;

/* In a child, the parent's connection is closed without a word on it (the
 * parent may be mid-command on the same socket) and never leaks into a
 * program the child runs. */
static void on_fork_child(void)
{
    store_fork_generation++;
    cc_store *s = pthread_getspecific(thread_key);
    if (s != NULL) {
        drop_watch(s);
        store_disconnect(s);
    }
}


/* Closes the sentinel watch (the data connection stays). */
static void drop_watch(cc_store *s)
{
    if (s->watch != NULL)
        store_free(s->watch);
    s->watch = NULL;
}

void store_disconnect(cc_store *s)
{
    for (int i = 0; s->cluster != NULL && i < CC_SLOT_NODES; i++)
        if (s->cluster->nodes[i] != NULL)
            store_disconnect(s->cluster->nodes[i]);
    if (s->fd >= 0 && s->router != NULL)
        s->router->cluster->events++;
    cc_tls_free(s->tls);
    s->tls = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->owed = 0;
    if (s->reader != NULL) {
        redisReaderFree(s->reader);
        s->reader = NULL;
    }
}

void store_free(cc_store *s)
{
    if (s == NULL)
        return;
    drop_watch(s);
    store_disconnect(s);
    for (int i = 0; s->cluster != NULL && i < CC_SLOT_NODES; i++)
        store_free(s->cluster->nodes[i]);
    free(s->cluster);
    free(s->out);
    free(s->in);
    free(s);
}

static void make_thread_key(void)
{
    pthread_key_create(&thread_key, (void (*)(void *))store_free);
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* Waits until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - cc_mono_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

static int connect_addr(int family, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
            goto fail;
        int err = 0;
        socklen_t elen = sizeof err;
        if (wait_fd(fd, POLLOUT, deadline) < 0)
            goto fail;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            goto fail;
        if (err != 0) {
            errno = err;
            goto fail;
        }
    }
    if (family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int open_socket(const cc_redis_addr *a, const char *host, int port_number, int64_t deadline)
{
    if (a->kind == CC_REDIS_UNIX) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", a->path);
        return connect_addr(AF_UNIX, (struct sockaddr *)&sun, sizeof sun, deadline);
    }
    /* A numeric address is read here, not by getaddrinfo: that allocates
     * with the process's malloc (the app's, perhaps unusable before its
     * main, and a CGI is answered before main).  A name goes to the
     * resolver, which may also block beyond our deadline: addresses are
     * what README recommends. */
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_number)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port_number)};
    if (inet_pton(AF_INET, host, &in4.sin_addr) == 1)
        return connect_addr(AF_INET, (struct sockaddr *)&in4, sizeof in4, deadline);
    if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1)
        return connect_addr(AF_INET6, (struct sockaddr *)&in6, sizeof in6, deadline);
    char port[16];
    snprintf(port, sizeof port, "%d", port_number);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline);
    freeaddrinfo(res);
    return fd;
}

/* The socket's bytes, through TLS when the connection has it. */
static ssize_t io_send(cc_store *s, const char *p, size_t n)
{
    return s->tls != NULL ? cc_tls_send(s->tls, p, n) : send(s->fd, p, n, MSG_NOSIGNAL);
}

static ssize_t io_recv(cc_store *s, char *p, size_t n)
{
    return s->tls != NULL ? cc_tls_recv(s->tls, p, n) : recv(s->fd, p, n, MSG_DONTWAIT);
}

/* What to poll for after EAGAIN: TLS may read to write, or write to read. */
static short io_wants(const cc_store *s, short plain)
{
    return s->tls != NULL ? cc_tls_wants(s->tls) : plain;
}

static int send_all(cc_store *s, const char *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = io_send(s, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(s->fd, io_wants(s, POLLOUT), deadline) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Reads until one whole reply is parsed.  Returns 0, or -1 on error, EOF
 * or deadline. */
int store_read_reply(cc_store *s, redisReply **out, int64_t deadline)
{
    bool fed = false;
    for (;;) {
        void *reply = NULL;
        if (cc_reply_get(s->reader, &reply) != REDIS_OK) {
            cc_debug("redis reply refused: %s", s->reader->err ? s->reader->errstr : "too large");
            errno = EPROTO;
            return -1;
        }
        if (reply != NULL) {
            *out = reply;
            return 0;
        }
        /* A peer that always has more to send never makes us wait, so the
         * deadline is checked here too, not only before poll(); what had
         * already arrived when we got here is parsed first. */
        if (fed && cc_mono_ms() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        ssize_t n = io_recv(s, s->in, RECV_CHUNK);
        if (n > 0) {
            if (redisReaderFeed(s->reader, s->in, (size_t)n) != REDIS_OK) {
                errno = EPROTO;
                return -1;
            }
            fed = true;
        } else if (n == 0) {
            errno = ECONNRESET;
            return -1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_fd(s->fd, io_wants(s, POLLIN), deadline) < 0)
                return -1;
        } else if (errno != EINTR) {
            return -1;
        }
    }
}

/* Writes "<type><n>\r\n" at out; returns the length. */
static size_t resp_line(char *out, char type, size_t n)
{
    out[0] = type;
    size_t len = 1 + cc_decimal(out + 1, (long long)n);
    out[len++] = '\r';
    out[len++] = '\n';
    return len;
}

/* Formats commands as RESP into s->out; returns the length or -1. */
static long format_commands(cc_store *s, size_t ncmd, const cc_cmd *cmds)
{
    enum { LINE_MAX = CC_DECIMAL_MAX + 3 };   /* type, digits, CRLF */
    size_t need = 0;
    for (size_t i = 0; i < ncmd; i++) {
        need += LINE_MAX;
        for (int a = 0; a < cmds[i].argc; a++)
            need += LINE_MAX + cmds[i].argvlen[a] + 2;
    }
    if (need > s->out_cap) {
        char *grown = realloc(s->out, need);
        if (grown == NULL)
            return -1;
        s->out = grown;
        s->out_cap = need;
    }
    size_t len = 0;
    for (size_t i = 0; i < ncmd; i++) {
        len += resp_line(s->out + len, '*', (size_t)cmds[i].argc);
        for (int a = 0; a < cmds[i].argc; a++) {
            len += resp_line(s->out + len, '$', cmds[i].argvlen[a]);
            memcpy(s->out + len, cmds[i].argv[a], cmds[i].argvlen[a]);
            len += cmds[i].argvlen[a];
            s->out[len++] = '\r';
            s->out[len++] = '\n';
        }
    }
    return (long)len;
}

void cc_store_free_replies(size_t n, redisReply **replies)
{
    for (size_t i = 0; i < n; i++) {
        if (replies[i] != NULL)
            freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

/* Reads the replies owed for commands sent with cc_store_send.  Nobody
 * waits for them any more, so an error reply is only logged. */
int store_settle_owed(cc_store *s, int64_t deadline)
{
    for (; s->owed > 0; s->owed--) {
        redisReply *reply = NULL;
        if (store_read_reply(s, &reply, deadline) < 0)
            return -1;
        cc_redirect moved;
        if (reply->type == REDIS_REPLY_ERROR && s->to_node &&
            cc_redirect_parse(reply->str, reply->len, &moved) == 0) {
            /* Its slot moved since the map was read: a store lost (a
             * miss), and the map asked for again. */
            cc_info("redis %s no longer serves slot %u: a write there is lost", s->node,
                    moved.slot);
            s->redirected = true;
        } else if (reply->type == REDIS_REPLY_ERROR) {
            cc_warn("redis refused a write: %s", reply->str);
            count(CC_STORE_ERROR);
        }
        if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "READONLY", 8) == 0)
            s->demoted = s->cfg->redis.sentinel;
        freeReplyObject(reply);
    }
    return 0;
}

int store_send_commands(cc_store *s, size_t ncmd, const cc_cmd *cmds, int64_t deadline)
{
    long len = format_commands(s, ncmd, cmds);
    return len < 0 ? -1 : send_all(s, s->out, (size_t)len, deadline);
}

int store_exchange(cc_store *s, size_t ncmd, const cc_cmd *cmds, redisReply **replies,
                   int64_t deadline)
{
    if (store_send_commands(s, ncmd, cmds, deadline) < 0 || store_settle_owed(s, deadline) < 0)
        return -1;
    for (size_t i = 0; i < ncmd; i++) {
        replies[i] = NULL;
        if (store_read_reply(s, &replies[i], deadline) < 0) {
            cc_store_free_replies(i, replies);
            return -1;
        }
    }
    return 0;
}

/* Marks Redis unreachable for a while.  Only the first failure after a
 * success is logged at warn level, so a dead Redis does not flood logs. */
void store_open_breaker(cc_store *s, const char *what)
{
    int err = errno;
    int64_t most = s->cfg->redis.sentinel || s->cfg->redis.cluster ? BACKOFF_MAX_SENTINEL_MS
                                                                   : BACKOFF_MAX_MS;
    store_disconnect(s);
    if (!s->to_sentinel)
        count(CC_STORE_ERROR);    /* a sentinel's failures are sentinel.c's */
    if (s->to_sentinel) {
        /* One sentinel down among several is sentinel.c's to judge. */
        cc_debug("redis sentinel %s %s failed (%s)", s->node, what, strerror(err));
    } else if (s->backoff == 0 && s->to_node) {
        cc_warn("redis %s %s failed (%s); its slots paused, retrying in %d ms", s->node, what,
                strerror(err), BACKOFF_FIRST_MS);
        s->backoff = BACKOFF_FIRST_MS;
    } else if (s->backoff == 0) {
        cc_warn("redis %s failed (%s); caching paused, retrying in %d ms", what, strerror(err),
                BACKOFF_FIRST_MS);
        count(CC_STORE_BREAKER_OPEN);
        s->backoff = BACKOFF_FIRST_MS;
    } else {
        cc_debug("redis %s failed again (%s)", what, strerror(err));
        s->backoff = s->backoff * 2 > most ? most : s->backoff * 2;
    }
    s->down_until = cc_mono_ms() + s->backoff;
}

/* Whether a ROLE reply says master; else its role into role. */
static bool is_master(const redisReply *r, char *role, size_t cap)
{
    snprintf(role, cap, "%s", "?");
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return false;
    snprintf(role, cap, "%.*s", (int)r->element[0]->len, r->element[0]->str);
    return strcmp(role, "master") == 0;
}

/* AUTH and SELECT, pipelined; any error reply means this address is
 * unusable (wrong user or password, wrong db), which the breaker treats
 * as down.  A user is a Redis 6 ACL user: AUTH user password.  What
 * Redis answered is logged, never what was sent.  Behind sentinels, ROLE
 * rides along: a node a sentinel named is written to only once it says
 * it is the master (a sentinel may lag a failover, or be wrong), and the
 * next attempt asks the next sentinel first.  A connection to a sentinel
 * has no handshake here (sentinel.c authenticates when asked to). */
static int handshake(cc_store *s, int64_t deadline)
{
    const cc_redis_addr *a = &s->cfg->redis;
    cc_cmd cmds[3];
    size_t n = 0;
    char db[16];
    if (s->to_sentinel)
        return 0;
    if (a->password[0] != '\0' || a->user[0] != '\0') {
        memset(&cmds[n], 0, sizeof cmds[n]);
        cc_cmd_arg(&cmds[n], "AUTH", (size_t)-1);
        if (a->user[0] != '\0')
            cc_cmd_arg(&cmds[n], a->user, (size_t)-1);
        cc_cmd_arg(&cmds[n], a->password, (size_t)-1);
        n++;
    }
    if (a->db != 0) {
        snprintf(db, sizeof db, "%d", a->db);
        memset(&cmds[n], 0, sizeof cmds[n]);
        cc_cmd_arg(&cmds[n], "SELECT", (size_t)-1);
        cc_cmd_arg(&cmds[n], db, (size_t)-1);
        n++;
    }
    if (a->sentinel) {
        memset(&cmds[n], 0, sizeof cmds[n]);
        cc_cmd_arg(&cmds[n], "ROLE", (size_t)-1);
        n++;
    }
    if (n == 0)
        return 0;
    redisReply *replies[3] = {NULL, NULL, NULL};
    if (store_exchange(s, n, cmds, replies, deadline) < 0)
        return -1;
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        if (replies[i]->type == REDIS_REPLY_ERROR) {
            if (!bad && s->backoff == 0)
                cc_warn("redis refused the connection's %s: %s", cmds[i].argv[0], replies[i]->str);
            bad = 1;
        }
    char role[32];
    if (!bad && a->sentinel && !is_master(replies[n - 1], role, sizeof role)) {
        if (s->backoff == 0)
            cc_warn("redis %s, named master '%s' by a sentinel, says it is a %s: not written to; "
                    "asking the next sentinel",
                    s->node, a->master, role);
        s->next_sentinel = (s->next_sentinel + 1) % a->nsentinels;
        bad = 1;
    }
    cc_store_free_replies(n, replies);
    if (bad) {
        errno = EACCES;
        return -1;
    }
    return 0;
}

/* The TLS handshake, under the connection's deadline.  Why it failed
 * (a certificate refused, a server that does not speak TLS) is said
 * once, with the first failure of a streak, as the breaker's own line is. */
static int start_tls(cc_store *s, const char *host, int port, int64_t deadline)
{
    char why[256] = "";
    int r = -1;
    s->tls = cc_tls_new(s->cfg, s->fd, host, why, sizeof why);
    while (s->tls != NULL && (r = cc_tls_handshake(s->tls, why, sizeof why)) == 0)
        if (cc_mono_ms() >= deadline || wait_fd(s->fd, cc_tls_wants(s->tls), deadline) < 0) {
            snprintf(why, sizeof why, "no answer to the TLS handshake in time (is it a TLS port?)");
            r = -1;
            break;
        }
    if (r == 1)
        return 0;
    if (s->backoff == 0)
        cc_warn("redis TLS with %s:%d failed: %s", host, port, why);
    else
        cc_debug("redis TLS with %s:%d failed: %s", host, port, why);
    errno = EPROTO;
    return -1;
}

/* Whether r is the sentinels' "+switch-master <name> <old> <new>" for
 * the master cfg names. */
static bool is_switch(const cc_config *cfg, const redisReply *r)
{
    size_t n = strlen(cfg->redis.master);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return false;
    const redisReply *kind = r->element[0], *channel = r->element[1], *text = r->element[2];
    return kind->type == REDIS_REPLY_STRING && kind->len == 7 &&
           memcmp(kind->str, "message", 7) == 0 && channel->type == REDIS_REPLY_STRING &&
           channel->len == 14 && memcmp(channel->str, "+switch-master", 14) == 0 &&
           text->type == REDIS_REPLY_STRING && text->len > n && text->str[n] == ' ' &&
           memcmp(text->str, cfg->redis.master, n) == 0;
}

/* Behind sentinels, a thread's data connection is followed by a watch:
 * a connection to a sentinel, subscribed to +switch-master.  A
 * failover's old master may stay a master for seconds after the switch
 * (until the sentinels convert it), and the connection to it would go on
 * reading and writing there, unpurged by what is purged on the new one.
 * The watch is read without waiting at each call: a switch of our master
 * and the data connection is made anew, with the master the sentinels
 * name now.  A watch is subscribed first and the sentinels asked after,
 * so a switch while none listened (the watch lost, a sentinel restarted)
 * is seen too.  The watch outlives a failed data connection: while the
 * breaker is open (the master died), a switch ends the wait at once, so
 * hits resume as soon as the new master is promoted. */
typedef enum { WATCH_QUIET, WATCH_SWITCHED, WATCH_LOST } watch_news;

/* Subscribes s's watch on the first sentinel that takes it, then asks
 * the sentinels for the master: false when they name another node than
 * the one s is connected to. */
static bool make_watch(cc_store *s)
{
    const cc_redis_addr *a = &s->cfg->redis;
    cc_cmd sub = {0};
    cc_cmd_arg(&sub, "SUBSCRIBE", (size_t)-1);
    cc_cmd_arg(&sub, "+switch-master", (size_t)-1);
    for (int tried = 0; tried < a->nsentinels && s->watch == NULL; tried++) {
        cc_store *w = open_sentinel(s->cfg,
                                    &a->sentinels[(s->next_sentinel + tried) % a->nsentinels]);
        redisReply *r = w != NULL ? cc_store_command(w, &sub) : NULL;
        if (r != NULL && r->type == REDIS_REPLY_ARRAY)
            s->watch = w;
        else if (w != NULL)
            store_free(w);
        if (r != NULL)
            freeReplyObject(r);
    }
    if (s->watch == NULL) {
        cc_debug("no sentinel watch for '%s': failovers are followed on errors", a->master);
        s->watch_retry_at = cc_mono_ms() + BACKOFF_MAX_SENTINEL_MS;
        return true;     /* the master we have stays, as the breaker would keep it */
    }
    char host[256], why[300];
    int port, next = s->next_sentinel;
    if (cc_sentinel_master(s->cfg, ask_sentinel, &next, host, sizeof host, &port, why, sizeof why) <
            0 ||
        (strcmp(host, s->host) == 0 && port == s->port))
        return true;
    cc_info("redis sentinels name %s:%d master '%s', not %s: following", host, port, a->master,
            s->node);
    return false;
}

/* What the watch has said since it was last read. */
static watch_news watch_read(cc_store *s)
{
    redisReply *r;
    int got;
    while ((got = cc_store_poll_push(s->watch, &r)) > 0) {
        bool moved = is_switch(s->cfg, r);
        if (moved)
            cc_info("redis sentinels switched master '%s' (%.*s): following", s->cfg->redis.master,
                    (int)r->element[2]->len, r->element[2]->str);
        freeReplyObject(r);
        if (moved)
            return WATCH_SWITCHED;
    }
    if (got < 0) {
        cc_info("redis sentinel watch lost: making it again, and asking for master '%s'",
                s->cfg->redis.master);
        return WATCH_LOST;
    }
    return WATCH_QUIET;
}

/* Behind sentinels: whether s's connection is still to the master they
 * name (false: it must be made anew). */
static bool still_master(cc_store *s)
{
    if (s->watch == NULL)
        return cc_mono_ms() < s->watch_retry_at || make_watch(s);
    watch_news news = watch_read(s);
    if (news == WATCH_QUIET)
        return true;
    drop_watch(s);
    s->watch_retry_at = 0;    /* made again, and the master asked, at the next call */
    return news == WATCH_LOST;
}

static int connect_anew(cc_store *s);


int store_ensure_connected(cc_store *s)
{
    if (s->cluster != NULL)
        return store_cluster_ready(s);
    if (s->fd >= 0 && s->fork_gen == store_fork_generation) {
        if (!s->cfg->redis.sentinel || s->owned || still_master(s))
            return 0;     /* the common case: one call, one branch */
        store_disconnect(s);
    }
    if (s->fd >= 0) {
        /* Made by our parent: close our copy without a word on it. */
        store_disconnect(s);
        s->down_until = 0;
        s->backoff = 0;
    }
    if (cc_mono_ms() < s->down_until) {
        watch_news news = s->watch != NULL ? watch_read(s) : WATCH_QUIET;
        if (news != WATCH_QUIET)
            drop_watch(s);
        if (news != WATCH_SWITCHED)
            return -1;
        /* switched: a new master is promoted, look now */
    }
    return connect_anew(s);
}

/* Makes s's connection: to the node, or behind sentinels to the master
 * they name; TLS, then the handshake.  A failure opens the breaker. */
static int connect_anew(cc_store *s)
{
    int64_t now = cc_mono_ms();
    const cc_redis_addr *a = &s->cfg->redis;
    if (a->sentinel && !s->to_sentinel) {
        char why[300] = "";
        if (cc_sentinel_master(s->cfg, ask_sentinel, &s->next_sentinel, s->host, sizeof s->host,
                               &s->port, why, sizeof why) < 0) {
            if (s->backoff == 0)
                cc_warn("redis sentinels named no master '%s': %s", a->master, why);
            store_open_breaker(s, "master discovery");
            return -1;
        }
        now = cc_mono_ms();
    } else if (!s->to_sentinel && !s->to_node) {
        snprintf(s->host, sizeof s->host, "%s", a->host);
        s->port = a->port;
    }
    if (a->kind == CC_REDIS_UNIX && !a->sentinel)
        snprintf(s->node, sizeof s->node, "unix:%s", a->path);
    else
        snprintf(s->node, sizeof s->node, "%s:%d", s->host, s->port);
    int64_t deadline = now + s->cfg->connect_timeout_ms;
    s->fd = open_socket(a, s->host, s->port, deadline);
    if (s->fd < 0) {
        store_open_breaker(s, "connect");
        return -1;
    }
    s->fork_gen = store_fork_generation;
    s->demoted = false;
    if (a->tls &&
        start_tls(s, s->host, s->port, now + s->cfg->connect_timeout_ms + s->cfg->timeout_ms) < 0) {
        store_open_breaker(s, "TLS handshake");
        return -1;
    }
    s->serial++;
    /* The receive buffer is made with the connection it serves (which
     * reads nothing without it), and kept across connections. */
    if (s->in == NULL)
        s->in = malloc(RECV_CHUNK);
    s->reader = cc_reply_reader(&s->guard, &s->limits);
    if (s->reader == NULL || s->in == NULL ||
        handshake(s, now + s->cfg->connect_timeout_ms + s->cfg->timeout_ms) < 0) {
        store_open_breaker(s, "handshake");
        return -1;
    }
    if (s->router != NULL)
        s->router->cluster->events++;
    return 0;
}

/* A store of cfg's: in a cluster, one that routes (the thread's, or one
 * opened), with connections to the masters made by store_cluster_node. */
static cc_store *new_router(const cc_config *cfg, int owned);

cc_store *store_new(const cc_config *cfg, int owned)
{
    cc_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->cfg = cfg;
    s->fd = -1;
    s->owned = owned;
    size_t bytes = cfg->max_size + REPLY_BYTES_OVER_MAX_SIZE;
    s->limits = (cc_reply_limits){REPLY_ELEMENTS, bytes > REPLY_BYTES_MIN ? bytes : REPLY_BYTES_MIN,
                                  REPLY_DEPTH};
    return s;
}

static cc_store *new_router(const cc_config *cfg, int owned)
{
    cc_store *s = store_new(cfg, owned);
    if (s == NULL || !cfg->redis.cluster)
        return s;
    if ((s->cluster = calloc(1, sizeof *s->cluster)) == NULL) {
        free(s);
        return NULL;
    }
    cc_slot_map_clear(&s->cluster->map);
    return s;
}

cc_store *cc_store_for_thread(const cc_config *cfg)
{
    if (cfg == NULL || !cfg->enabled)
        return NULL;
    pthread_once(&thread_key_once, make_thread_key);
    cc_store *s = pthread_getspecific(thread_key);
    if (s == NULL) {
        s = new_router(cfg, 0);
        if (s == NULL || pthread_setspecific(thread_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    return store_ensure_connected(s) == 0 ? s : NULL;
}

cc_store *cc_store_open(const cc_config *cfg)
{
    if (cfg == NULL || !cfg->enabled)
        return NULL;
    pthread_once(&thread_key_once, make_thread_key);
    cc_store *s = new_router(cfg, 1);
    if (s != NULL && store_ensure_connected(s) < 0) {
        store_free(s);
        return NULL;
    }
    return s;
}

void cc_store_reply_limits(cc_store *s, size_t max_elements, size_t max_bytes)
{
    s->limits.max_elements = max_elements;
    s->limits.max_bytes = max_bytes;
    s->guard.limits = s->limits;
    for (int i = 0; s->cluster != NULL && i < CC_SLOT_NODES; i++)
        if (s->cluster->nodes[i] != NULL)
            cc_store_reply_limits(s->cluster->nodes[i], max_elements, max_bytes);
}

void cc_store_close(cc_store *s)
{
    if (s != NULL && s->owned)
        store_free(s);
}

int cc_store_run(cc_store *s, size_t ncmd, const cc_cmd *cmds, redisReply **replies)
{
    if (s == NULL || store_ensure_connected(s) < 0)
        return -1;
    if (s->cluster != NULL)
        return store_cluster_run(s, ncmd, cmds, replies);
    if (store_exchange(s, ncmd, cmds, replies, cc_mono_ms() + s->cfg->timeout_ms) < 0) {
        store_open_breaker(s, "command");
        return -1;
    }
    s->backoff = 0;
    /* Behind sentinels only: a single Redis made a replica by hand is
     * still the one configured, its refusals fail soft as any other. */
    for (size_t i = 0; i < ncmd; i++)
        if (replies[i]->type == REDIS_REPLY_ERROR) {
            count(CC_STORE_ERROR);
            s->demoted |= s->cfg->redis.sentinel && strncmp(replies[i]->str, "READONLY", 8) == 0;
        }
    if (s->demoted) {
        /* The master became a replica under us (a failover, its
         * connections not killed yet): the next call finds the new one.
         * This call's refused writes fail soft, as any refusal does. */
        cc_info("redis %s refused a write as a replica: looking for the master again", s->node);
        store_disconnect(s);
    }
    return 0;
}

int cc_store_send(cc_store *s, size_t ncmd, const cc_cmd *cmds)
{
    if (s == NULL || store_ensure_connected(s) < 0)
        return -1;
    if (s->cluster != NULL)
        return store_cluster_send(s, ncmd, cmds);
    if (store_send_commands(s, ncmd, cmds, cc_mono_ms() + s->cfg->timeout_ms) < 0) {
        store_open_breaker(s, "command");
        return -1;
    }
    s->owed += ncmd;
    return 0;
}

void cc_store_settle(void)
{
    pthread_once(&thread_key_once, make_thread_key);
    cc_store *s = pthread_getspecific(thread_key);
    for (int i = 0; s != NULL && s->cluster != NULL && i < CC_SLOT_NODES; i++) {
        cc_store *n = s->cluster->nodes[i];
        if (n != NULL && n->fd >= 0 && n->owed > 0 &&
            store_settle_owed(n, cc_mono_ms() + s->cfg->timeout_ms) < 0)
            store_disconnect(n);
    }
    if (s == NULL || s->fd < 0 || s->owed == 0)
        return;
    if (store_settle_owed(s, cc_mono_ms() + s->cfg->timeout_ms) < 0) {
        count(CC_STORE_ERROR);
        store_disconnect(s);
    }
}

redisReply *cc_store_command(cc_store *s, const cc_cmd *cmd)
{
    redisReply *reply = NULL;
    return cc_store_run(s, 1, cmd, &reply) == 0 ? reply : NULL;
}

void cc_store_drop(cc_store *s)
{
    if (s != NULL)
        store_disconnect(s);
}

int cc_store_fd(const cc_store *s)
{
    return s != NULL && s->fork_gen == store_fork_generation ? s->fd : -1;
}

unsigned cc_store_serial(const cc_store *s)
{
    if (s != NULL && s->cluster != NULL)
        return s->cluster->map.nnodes > 0 ? s->cluster->events + 1 : 0;
    return s != NULL && s->fd >= 0 ? s->serial : 0;
}

int cc_store_masters(const cc_store *s)
{
    return s != NULL && s->cluster != NULL ? s->cluster->map.nnodes : 0;
}

cc_store *cc_store_master(cc_store *s, int i)
{
    return s != NULL && s->cluster != NULL ? store_cluster_node(s, i) : NULL;
}

unsigned cc_store_map_serial(const cc_store *s)
{
    return s != NULL && s->cluster != NULL ? s->cluster->map_serial : 0;
}

cc_store *cc_store_open_master(cc_store *s, int i)
{
    if (s == NULL || s->cluster == NULL || i < 0 || i >= s->cluster->map.nnodes)
        return NULL;
    cc_store *n = store_new(s->cfg, 1);
    if (n == NULL)
        return NULL;
    n->to_node = true;
    snprintf(n->host, sizeof n->host, "%s", s->cluster->map.nodes[i].host);
    n->port = s->cluster->map.nodes[i].port;
    if (store_ensure_connected(n) < 0) {
        store_free(n);
        return NULL;
    }
    return n;
}

bool cc_store_buffered(const cc_store *s)
{
    return s != NULL && s->fd >= 0 && cc_tls_pending(s->tls);
}

int cc_store_follow(cc_store *s)
{
    if (s == NULL || !s->cfg->redis.sentinel || s->owned || s->fd < 0 ||
        s->fork_gen != store_fork_generation || still_master(s))
        return 0;
    store_disconnect(s);
    return -1;
}

static cc_store *open_sentinel(const cc_config *cfg, const cc_redis_node *sentinel)
{
    pthread_once(&thread_key_once, make_thread_key);
    cc_store *s = store_new(cfg, 1);
    if (s == NULL)
        return NULL;
    s->to_sentinel = true;
    snprintf(s->host, sizeof s->host, "%s", sentinel->host);
    s->port = sentinel->port;
    if (connect_anew(s) < 0) {
        store_free(s);
        return NULL;
    }
    return s;
}

/* sentinel.c's question, on a connection made for it (and closed). */
static redisReply *ask_sentinel(const cc_config *cfg, const cc_redis_node *sentinel, bool with_auth)
{
    const cc_redis_addr *a = &cfg->redis;
    cc_cmd cmds[2];
    redisReply *replies[2];
    size_t n = 0;
    cc_store *q = open_sentinel(cfg, sentinel);
    if (q == NULL)
        return NULL;
    memset(cmds, 0, sizeof cmds);
    if (with_auth) {
        cc_cmd_arg(&cmds[n], "AUTH", (size_t)-1);
        if (a->user[0] != '\0')
            cc_cmd_arg(&cmds[n], a->user, (size_t)-1);
        cc_cmd_arg(&cmds[n], a->password, (size_t)-1);
        n++;
    }
    cc_cmd_arg(&cmds[n], "SENTINEL", (size_t)-1);
    cc_cmd_arg(&cmds[n], "GET-MASTER-ADDR-BY-NAME", (size_t)-1);
    cc_cmd_arg(&cmds[n], a->master, (size_t)-1);
    n++;
    redisReply *r = NULL;
    if (cc_store_run(q, n, cmds, replies) == 0) {
        cc_store_free_replies(n - 1, replies);
        r = replies[n - 1];
    }
    store_free(q);
    return r;
}

const char *cc_store_node(const cc_store *s)
{
    return s != NULL && s->fd >= 0 ? s->node : "";
}

void cc_store_peer_of(const cc_store *s, cc_store_peer *out)
{
    memset(out, 0, sizeof *out);
    if (s != NULL && s->cluster != NULL) {
        store_cluster_peer(s, out);
        return;
    }
    if (s == NULL || s->fd < 0)
        return;
    const cc_redis_addr *a = &s->cfg->redis;
    snprintf(out->mode, sizeof out->mode, "%s", a->sentinel ? "sentinel" : "single");
    if (a->sentinel)
        snprintf(out->node, sizeof out->node, "%s (master '%s', named by sentinel %s:%d)", s->node,
                 a->master, a->sentinels[s->next_sentinel].host,
                 a->sentinels[s->next_sentinel].port);
    else
        snprintf(out->node, sizeof out->node, "%s", s->node);
    if (s->tls != NULL)
        cc_tls_describe(s->tls, out->tls, sizeof out->tls);
}

int cc_store_poll_push(cc_store *s, redisReply **out)
{
    if (s == NULL || s->fd < 0 || s->fork_gen != store_fork_generation)
        return -1;
    for (;;) {
        void *reply = NULL;
        if (cc_reply_get(s->reader, &reply) != REDIS_OK)
            break;
        if (reply != NULL) {
            *out = reply;
            return 1;
        }
        ssize_t n = io_recv(s, s->in, RECV_CHUNK);
        if (n > 0 && redisReaderFeed(s->reader, s->in, (size_t)n) == REDIS_OK)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        break;      /* closed, failed, or not Redis */
    }
    store_disconnect(s);
    return -1;
}

redisReply *cc_store_next_push(cc_store *s, int timeout_ms)
{
    redisReply *reply = NULL;
    if (s != NULL && s->cluster != NULL)    /* the node the subscription went to */
        s = s->cluster->last >= 0 ? s->cluster->nodes[s->cluster->last] : NULL;
    if (s == NULL || s->fd < 0)
        return NULL;
    if (store_read_reply(s, &reply, cc_mono_ms() + timeout_ms) == 0)
        return reply;
    if (errno != ETIMEDOUT)
        store_disconnect(s);
    return NULL;
}
