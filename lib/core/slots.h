/* slots.h -- Redis Cluster's key slots, its slot map and its redirections.
 *
 * A cluster splits the keys into 16384 slots by CRC16 of the key (of its
 * hash tag, the text between the first '{' and the next '}', when that is
 * not empty), and gives each slot to one master.  A client keeps the map
 * (which master serves which slot), asked of any node with CLUSTER SHARDS
 * (Redis 7) or CLUSTER SLOTS, and learns of a change when a node answers
 * "MOVED <slot> <host:port>" (the slot lives there now: ask for the map
 * again) or "ASK <slot> <host:port>" (the slot is being moved and this key
 * is already there: send ASKING then the command, once).  Pure: replies
 * in, map out; store.c does the asking. */
#ifndef CGICACHE_SLOTS_H
#define CGICACHE_SLOTS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CC_SLOTS 16384
/* Masters a map may name: far more than a cache is spread over. */
#define CC_SLOT_NODES 64
#define CC_SLOT_NONE 0xff

/* CRC16-CCITT (XModem), the cluster's: "123456789" gives 0x31C3. */
uint16_t cc_crc16(const char *buf, size_t len);

/* The slot of a key, by its hash tag when it has a non-empty one. */
unsigned cc_key_slot(const char *key, size_t len);

/* Which master serves each slot.  25 KB: always on the heap. */
typedef struct cc_slot_map {
    int nnodes;
    cc_redis_node nodes[CC_SLOT_NODES];
    uint8_t slot[CC_SLOTS];   /* an index into nodes, or CC_SLOT_NONE */
} cc_slot_map;

/* Empties m: no slot served. */
void cc_slot_map_clear(cc_slot_map *m);

/* The index of host:port in m's nodes, added when new; -1 when m is full
 * or host too long. */
int cc_slot_map_node(cc_slot_map *m, const char *host, int port);

/* Fills m from a CLUSTER SLOTS reply ([start, end, [host, port, id, ...],
 * replicas...] per range) or a CLUSTER SHARDS one (per shard, "slots"
 * [start, end, ...] and "nodes" [[field, value, ...], ...], the master's
 * "role" "master").  A node announced with an empty or "?" address is
 * reached at asked, the host that answered.  Returns 0, or -1 when the
 * reply is not such a map or names more than CC_SLOT_NODES masters (m is
 * then cleared).  Slots no master serves stay CC_SLOT_NONE. */
int cc_slot_map_from_slots(cc_slot_map *m, const redisReply *r, const char *asked);
int cc_slot_map_from_shards(cc_slot_map *m, const redisReply *r, const char *asked);

/* Whether every slot is served: a cluster whose slots are not all
 * covered answers CLUSTERDOWN for the others. */
bool cc_slot_map_complete(const cc_slot_map *m);

/* An error reply that sends the command elsewhere. */
typedef struct cc_redirect {
    bool ask;                 /* ASK (once, after ASKING), else MOVED */
    unsigned slot;
    char host[128];           /* "" when the node did not say: the one asked */
    int port;
} cc_redirect;

/* Parses "MOVED 3999 127.0.0.1:6381" or "ASK 3999 [::1]:6381" (the host
 * before the last ':', brackets optional).  Returns 0 with *out set, or
 * -1 when the text is not a redirection. */
int cc_redirect_parse(const char *err, size_t len, cc_redirect *out);

#endif
