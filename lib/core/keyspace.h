/* keyspace.h -- where cgicache keeps what is not an entry.
 *
 * An entry's key is "<prefix>:<route>:..." (key.h) and a route name is
 * [A-Za-z0-9_]+, so no entry key starts "<prefix>:#".  Everything else
 * lives there, under a word that says what it is, so no route name, path
 * or tag can make one kind of key another:
 *   <prefix>:#gen:<route>              the route's purge generation
 *   <prefix>:#gen:<route>:<url hash>   a URL's purge generation
 *   <prefix>:#lock:<route>:<rest>      an entry's fill lock
 *   <prefix>:#fill:<route>:<rest>      an entry's fill channel (pub/sub)
 *   <prefix>:#tag:<tag>                the entries with a tag: "<entry key>\t<URL generation>"
 *   <prefix>:#stats:<route>            a route's counters
 *   <prefix>:#uses:<route>:<rest>      an entry's request count (min-uses=)
 * where <route>:<rest> is the entry's key after "<prefix>:". */
#ifndef CGICACHE_KEYSPACE_H
#define CGICACHE_KEYSPACE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

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
 * "<prefix>:<route>:<METHOD>:http[s]://..." or "<prefix>:<route>:#<32 hex>".
 * Purges remove such keys and no others. */
bool cc_keyspace_is_entry(const cc_config *cfg, const char *key, size_t len);

#endif
