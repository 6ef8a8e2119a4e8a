/* tls.c -- TLS on store.c's sockets, with OpenSSL.
 *
 * One SSL_CTX per process, made at the first TLS connection from
 * CGICACHE_REDIS_CA/_CERT/_KEY and kept (loading a CA store costs
 * milliseconds; a connection only takes a reference).  Each connection's
 * bytes go through a BIO of our own rather than OpenSSL's socket BIO:
 * that one writes with write(2), and a write to a closed connection
 * would raise SIGPIPE in an app that may not ignore it; ours sends with
 * MSG_NOSIGNAL and leaves EINTR to the caller's retry, as store.c does
 * for plain sockets.  Nothing here waits: store.c polls under its own
 * deadline for what a call reports it needs.
 *
 * The server is verified as any TLS client should: its chain against the
 * CA store (TLS 1.2 at least), and its name against the host asked for (a
 * DNS name, also sent as SNI, or an IP address, matched against the
 * certificate's IP entries).  An encrypted client key is refused, never
 * prompted for: the library has no terminal to ask on. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

struct cc_tls {
    SSL *ssl;
    int fd;
    short wants;       /* POLLIN or POLLOUT, after EAGAIN */
};

/* The process's context and the settings it was made from. */
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static SSL_CTX *ctx;
static char ctx_ca[256], ctx_cert[256], ctx_key[256];
static BIO_METHOD *method;

/* fork() while another thread makes the context must not leave the
 * child's lock held forever. */
static void before_fork(void)
{
    pthread_mutex_lock(&ctx_lock);
}

static void after_fork(void)
{
    pthread_mutex_unlock(&ctx_lock);
}

/* ---- the BIO: the socket without SIGPIPE ------------------------------------ */

static int bio_write(BIO *b, const char *p, int n)
{
    const cc_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t w = send(t->fd, p, (size_t)n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)w;
}

static int bio_read(BIO *b, char *p, int n)
{
    const cc_tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t r = recv(t->fd, p, (size_t)n, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    return (int)r;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;    /* nothing is buffered here */
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void init_once(void)
{
    /* No atexit handler: an app's threads may still be running (and
     * using a connection) while exit() runs the process's handlers. */
    OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS, NULL);
    method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cgicache socket");
    if (method != NULL) {
        BIO_meth_set_write(method, bio_write);
        BIO_meth_set_read(method, bio_read);
        BIO_meth_set_ctrl(method, bio_ctrl);
        BIO_meth_set_create(method, bio_create);
    }
    pthread_atfork(before_fork, after_fork, after_fork);
}

/* ---- the context ------------------------------------------------------------ */

/* The last OpenSSL error as words, or fallback. */
static const char *ssl_reason(const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : fallback;
}

/* An encrypted key is refused rather than prompted for. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return 0;
}

static SSL_CTX *make_context(const cc_config *cfg, char *why, size_t cap)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (c == NULL) {
        snprintf(why, cap, "TLS unavailable: %s", ssl_reason("out of memory"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_default_passwd_cb(c, no_password);
    int ok;
    if (cfg->redis_ca[0] != '\0') {
        struct stat st;
        if (stat(cfg->redis_ca, &st) < 0) {
            snprintf(why, cap, "CGICACHE_REDIS_CA %s: %s", cfg->redis_ca, strerror(errno));
            goto fail;
        }
        ok = S_ISDIR(st.st_mode) ? SSL_CTX_load_verify_locations(c, NULL, cfg->redis_ca)
                                 : SSL_CTX_load_verify_locations(c, cfg->redis_ca, NULL);
        if (ok != 1) {
            snprintf(why, cap, "CGICACHE_REDIS_CA %s: %s", cfg->redis_ca,
                     ssl_reason("no certificate could be read"));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
        snprintf(why, cap, "the system's CA store: %s", ssl_reason("could not be read"));
        goto fail;
    }
    if (cfg->redis_cert[0] != '\0') {
        if (SSL_CTX_use_certificate_chain_file(c, cfg->redis_cert) != 1) {
            snprintf(why, cap, "CGICACHE_REDIS_CERT %s: %s", cfg->redis_cert,
                     ssl_reason("not a PEM certificate"));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(c, cfg->redis_key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c) != 1) {
            snprintf(why, cap, "CGICACHE_REDIS_KEY %s: %s", cfg->redis_key,
                     ssl_reason("not the certificate's unencrypted PEM key"));
            goto fail;
        }
    }
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

/* The process's context for cfg, with a reference for the caller. */
static SSL_CTX *context(const cc_config *cfg, char *why, size_t cap)
{
    pthread_mutex_lock(&ctx_lock);
    if (ctx == NULL || strcmp(ctx_ca, cfg->redis_ca) != 0 ||
        strcmp(ctx_cert, cfg->redis_cert) != 0 || strcmp(ctx_key, cfg->redis_key) != 0) {
        ERR_clear_error();
        SSL_CTX *made = make_context(cfg, why, cap);
        if (made != NULL) {
            SSL_CTX_free(ctx);    /* connections made with it keep their reference */
            ctx = made;
            snprintf(ctx_ca, sizeof ctx_ca, "%s", cfg->redis_ca);
            snprintf(ctx_cert, sizeof ctx_cert, "%s", cfg->redis_cert);
            snprintf(ctx_key, sizeof ctx_key, "%s", cfg->redis_key);
        } else {
            pthread_mutex_unlock(&ctx_lock);
            return NULL;
        }
    }
    SSL_CTX *c = ctx;
    SSL_CTX_up_ref(c);
    pthread_mutex_unlock(&ctx_lock);
    return c;
}

/* ---- connections ------------------------------------------------------------ */

static bool is_address(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

cc_tls *cc_tls_new(const cc_config *cfg, int fd, const char *host, char *why, size_t cap)
{
    pthread_once(&once, init_once);
    if (method == NULL) {
        snprintf(why, cap, "TLS unavailable: out of memory");
        return NULL;
    }
    SSL_CTX *c = context(cfg, why, cap);
    if (c == NULL)
        return NULL;
    cc_tls *t = calloc(1, sizeof *t);
    BIO *b = BIO_new(method);
    if (t != NULL)
        t->ssl = SSL_new(c);
    SSL_CTX_free(c);    /* the session holds its own reference */
    if (t == NULL || b == NULL || t->ssl == NULL) {
        snprintf(why, cap, "TLS unavailable: out of memory");
        BIO_free(b);
        cc_tls_free(t);
        return NULL;
    }
    t->fd = fd;
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    SSL_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    /* SSL_set_tlsext_host_name is a macro that casts its const away. */
    char name[256];
    snprintf(name, sizeof name, "%s", host);
    int ok = is_address(name)
                 ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name)
                 : SSL_set_tlsext_host_name(t->ssl, name) == 1 && SSL_set1_host(t->ssl, name) == 1;
    if (ok != 1) {
        snprintf(why, cap, "TLS: cannot check the name %s", host);
        cc_tls_free(t);
        return NULL;
    }
    return t;
}

/* Turns SSL's answer r into the socket's conventions: -1 with errno
 * (EAGAIN and t->wants), or 0 at the peer's end. */
static int failed(cc_tls *t, int r)
{
    int saved = errno;
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        t->wants = POLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        t->wants = POLLOUT;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        /* errno may be an EAGAIN left by an earlier read: the peer's
         * end without a close_notify must not read as "try again". */
        errno = saved != 0 && saved != EAGAIN && saved != EWOULDBLOCK && saved != EINTR
                    ? saved
                    : ECONNRESET;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

int cc_tls_handshake(cc_tls *t, char *why, size_t cap)
{
    ERR_clear_error();
    int r = SSL_connect(t->ssl);
    if (r == 1)
        return 1;
    if (failed(t, r) < 0 && errno == EAGAIN)
        return 0;
    long verify = SSL_get_verify_result(t->ssl);
    if (verify != X509_V_OK) {
        snprintf(why, cap, "certificate refused: %s", X509_verify_cert_error_string(verify));
    } else if (ERR_peek_last_error() != 0) {
        unsigned long e = ERR_peek_last_error();
        int reason = ERR_GET_REASON(e);
        /* What a server that does not speak TLS on this port looks like. */
        bool plain = reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG;
        snprintf(why, cap, "%s%s", ssl_reason("refused"),
                 plain ? " (the server does not speak TLS on this port?)" : "");
    } else {
        snprintf(why, cap, "the server closed the connection during the handshake%s",
                 errno == ECONNRESET ? " (the server does not speak TLS on this port?)" : "");
    }
    return -1;
}

ssize_t cc_tls_send(cc_tls *t, const void *p, size_t n)
{
    ERR_clear_error();
    int r = SSL_write(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0)
        return r;
    if (failed(t, r) == 0)
        errno = ECONNRESET;    /* closed: nothing more can be sent */
    return -1;
}

ssize_t cc_tls_recv(cc_tls *t, void *p, size_t n)
{
    ERR_clear_error();
    int r = SSL_read(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    return r > 0 ? r : failed(t, r);
}

short cc_tls_wants(const cc_tls *t)
{
    return t->wants;
}

bool cc_tls_pending(const cc_tls *t)
{
    return t != NULL && SSL_pending(t->ssl) > 0;
}

void cc_tls_describe(const cc_tls *t, char *out, size_t cap)
{
    char subject[160] = "?", issuer[160] = "?";
    X509 *peer = SSL_get1_peer_certificate(t->ssl);
    if (peer != NULL) {
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
        X509_NAME_oneline(X509_get_issuer_name(peer), issuer, sizeof issuer);
        X509_free(peer);
    }
    snprintf(out, cap, "%s %s, peer %s, issuer %s (verified)", SSL_get_version(t->ssl),
             SSL_get_cipher_name(t->ssl), subject, issuer);
}

void cc_tls_free(cc_tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);    /* no close_notify: see tls.h */
    free(t);
}
