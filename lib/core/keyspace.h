/* keyspace.h -- where cgicache keeps what is not an entry, and the hash
 * tags that keep a request's keys together.
 *
 * An entry's key is "<prefix>:<route>:{<t>}..." (key.h) and a route name
 * is [A-Za-z0-9_]+, so no entry key starts "<prefix>:#".  Everything else
 * lives there, under a word that says what it is, so no route name, path
 * or tag can make one kind of key another:
 *   <prefix>:#gen:<route>              the route's purge generation
 *   <prefix>:#gen:<route>:{<t>}<h>     a URL's purge generation
 *   <prefix>:#lock:<route>:{<t>}<rest> an entry's fill lock
 *   <prefix>:#fill:<route>:{<t>}<rest> an entry's fill channel (pub/sub)
 *   <prefix>:#tag:<tag>                the entries with a tag: "<entry key>\t<URL generation>"
 *   <prefix>:#stats:<route>            a route's counters
 *   <prefix>:#uses:<route>:{<t>}<rest> an entry's request count (min-uses=)
 * where <route>:{<t>}<rest> is the entry's key after "<prefix>:".
 *
 * <t> is the first CC_KS_SLOT_TAG_LEN hex digits of the hash of the URL
 * the entry answers (scheme://host/path, path decoded: what a URL purge
 * names), and <h> the other 24.  Braced, they are a Redis Cluster hash
 * tag: Redis hashes only the text between the first '{' and the next '}'
 * to pick a key's slot, so every variant of a URL (its queries, methods,
 * vary values), their locks, fill channels and the URL's generation live
 * in one slot, on one master.  What a request does in one step touches
 * that slot, plus the route's generation (on its own slot, as each tag
 * set and counter hash is, each one key): a lookup is one MGET on the
 * URL's node and one GET on the route's, sent together; a lock, a store
 * and its release, a wait for a fill, a URL purge each stay on the URL's
 * node; and no command ever names keys of two slots (no CROSSSLOT).
 * The tag comes before anything the request wrote (its path or query
 * may hold a '{'), and the prefix may not hold braces.  Outside a
 * cluster the tag is only part of the name: one layout for every mode.
 * Keys written before the tags (cgicache 0.9 and earlier) are not found
 * by this layout: an upgrade starts cold, and the old entries expire. */
#ifndef CGICACHE_KEYSPACE_H
#define CGICACHE_KEYSPACE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Hex digits of a URL's hash in its keys' hash tag: 16^8 tags spread
 * evenly over a cluster's 16384 slots. */
#define CC_KS_SLOT_TAG_LEN 8

typedef enum { CC_KS_GEN, CC_KS_LOCK, CC_KS_FILL, CC_KS_TAG, CC_KS_STATS, CC_KS_USES } cc_ks_kind;

/* Writes "<prefix>:#<kind>:<name>" into out.  Returns 0, or -1 when it
 * does not fit cap. */
int cc_keyspace_key(const cc_config *cfg, cc_ks_kind kind, const char *name, size_t len, char *out,
                    size_t cap);

/* The lock, fill channel or use count of the entry whose Redis key is entry. */
int cc_keyspace_of_entry(const cc_config *cfg, cc_ks_kind kind, const char *entry, size_t len,
                         char *out, size_t cap);

/* Whether name can be a route's name: [A-Za-z0-9_]+, shorter than CC_NAME_MAX. */
bool cc_keyspace_route_name(const char *name);

/* Whether key has the shape of an entry's key under cfg's prefix:
 * "<prefix>:<route>:{<8 hex>}<METHOD>:http[s]://..." or
 * "<prefix>:<route>:{<8 hex>}#<32 hex>".
 * Purges remove such keys and no others. */
bool cc_keyspace_is_entry(const cc_config *cfg, const char *key, size_t len);

#endif
