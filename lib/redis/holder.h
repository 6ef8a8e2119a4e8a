/* holder.h -- is a fill lock's holder still alive?
 *
 * A fill lock lives CGICACHE_LOCK_TTL in Redis, but its holder may die
 * long before: a CGI process killed by its server, a FastCGI worker that
 * crashed.  Its waiters should not wait out the lock for a fill that
 * never comes.  The holder's Redis connection is what tells: it stays
 * open while the holder computes (the store goes out on it) and Redis
 * closes it when the holder dies, whatever killed it.  So the holder
 * names its connection after the lock's token (CLIENT SETNAME, pipelined
 * with taking the lock), and a waiter that finds no connection of that
 * name knows the holder is gone and removes its lock.  Where CLIENT is
 * not allowed (ACLs, renamed commands), or the list does not show the
 * asker's own connection (a proxy in between), the holder counts as
 * alive, and the lock's TTL bounds the wait as before.  A holder whose
 * CLIENT SETNAME alone was refused would be taken for dead: its waiters
 * then answer uncached, as on a timeout -- never a wrong answer. */
#ifndef CGICACHE_HOLDER_H
#define CGICACHE_HOLDER_H

#include <stdbool.h>

#include "store.h"

#define CC_HOLDER_NAME_MAX 64

/* CLIENT SETNAME for the holder of token; name is its storage
 * (CC_HOLDER_NAME_MAX bytes, alive as long as cmd). */
void cc_holder_name_cmd(cc_cmd *cmd, char *name, const char *token);

typedef enum {
    CC_HOLDER_ALIVE,     /* the lock is held by a live connection */
    CC_HOLDER_RELEASED,  /* no lock any more */
    CC_HOLDER_DEAD,      /* the holder's connection is gone: lock removed */
} cc_holder_state;

/* The state of the lock at lock_key, on connection s (one round trip, and
 * one more to remove a dead holder's lock).  Without liveness only
 * whether the lock is still there (a GET, no CLIENT LIST). */
cc_holder_state cc_holder_check(cc_store *s, const char *lock_key, bool liveness);

#endif
