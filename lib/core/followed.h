/* followed.h -- the output streams cgicache follows, looked up without a
 * lock.
 *
 * Every write the app makes asks "is this stream followed?", from any of
 * its threads, most often for a stream that is not.  The answer comes
 * from a fixed open-addressing table of stream addresses read with plain
 * atomic loads: no mutex (a fork while another thread held one would
 * leave it held in the child forever), no list walk, and a stream is
 * found whichever thread writes it -- a request accepted on one thread
 * and answered on another is still followed.  An entry is (key, value);
 * keys are unique: a stream is followed at most once at a time. */
#ifndef CGICACHE_FOLLOWED_H
#define CGICACHE_FOLLOWED_H

#include <stdbool.h>

/* Adds key -> value; false when no slot near key's is free (the caller
 * then lets the request run unobserved). */
bool cc_followed_add(const void *key, void *value);

/* The value of key, or NULL. */
void *cc_followed_get(const void *key);

/* Removes key; returns its value, or NULL if it was not there. */
void *cc_followed_take(const void *key);

/* Calls fn with every value followed now.  Atomic loads only, no lock:
 * callable from a signal handler, where a dying process answers what it
 * still can (fn must then keep to what that allows). */
void cc_followed_each(void (*fn)(void *value));

#endif
