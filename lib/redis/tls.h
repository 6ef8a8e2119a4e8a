/* tls.h -- TLS on a connection store.c made: rediss://.
 *
 * store.c owns the socket, its deadlines and its breaker; this file turns
 * the socket's bytes into TLS records and back, and nothing else.  The
 * handshake is non-blocking, bounded by the deadline it is given, and
 * refuses a server whose certificate does not chain to CGICACHE_REDIS_CA
 * (the system's store by default) or does not name the host it was asked
 * for.  Reads and writes never block: they report what they wait for, and
 * store.c polls for it under its own deadline.  OpenSSL is linked in and
 * hidden, as hiredis is, so an app's own OpenSSL (of any version) never
 * meets ours. */
#ifndef CGICACHE_TLS_H
#define CGICACHE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

typedef struct cc_tls cc_tls;

/* A session for the connected non-blocking socket fd, which stays the
 * caller's, to host (a name or an address, checked against the
 * certificate; a name is also sent as SNI).  NULL with why (cap bytes)
 * saying what is wrong (a CA file that cannot be read...). */
cc_tls *cc_tls_new(const cc_config *cfg, int fd, const char *host, char *why, size_t cap);

/* Takes the handshake as far as it goes without waiting: 1 done, 0 to be
 * called again once the socket is ready for cc_tls_wants, -1 refused,
 * with why saying why in words an operator can act on ("certificate
 * refused: certificate has expired"); never a secret. */
int cc_tls_handshake(cc_tls *t, char *why, size_t cap);

/* Like send(2) and recv(2) on a non-blocking socket: the bytes moved, 0
 * for the peer's end (recv), or -1 with errno (EAGAIN: poll for
 * cc_tls_wants, then call again with the same arguments). */
ssize_t cc_tls_send(cc_tls *t, const void *p, size_t n);
ssize_t cc_tls_recv(cc_tls *t, void *p, size_t n);

/* POLLIN or POLLOUT: what the last call that failed with EAGAIN waits for
 * (a read may need to write, and a write to read). */
short cc_tls_wants(const cc_tls *t);

/* Whether decrypted bytes wait inside the session, which polling the
 * socket does not show. */
bool cc_tls_pending(const cc_tls *t);

/* For `cgicache check`: the protocol, the cipher and whom the verified
 * certificate names ("TLSv1.3 TLS_AES_256_GCM_SHA384, peer CN = redis,
 * issuer CN = ca"). */
void cc_tls_describe(const cc_tls *t, char *out, size_t cap);

/* Frees the session without a word to the peer: the process may be a
 * child that must not speak on its parent's connection.  NULL is fine. */
void cc_tls_free(cc_tls *t);

#endif
