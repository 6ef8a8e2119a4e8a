/* cluster.h -- a batch of commands spread over a Redis Cluster's masters.
 *
 * A batch (what one step of a request sends in one round trip) becomes
 * parts, each a command for the master serving its keys' slot: one per
 * command, or, for a command of several keys on several slots (a
 * lookup's MGET of the entry, the URL's generation and the route's),
 * one per slot.  store.c sends each master its parts in one write, all
 * masters at once, and reads them all under one deadline, so a batch
 * costs one round trip however many masters it touches; the parts'
 * replies are then joined back into one per command.  A command without
 * keys (CLIENT SETNAME, CLIENT ID) goes to the node of the command after
 * it, else before it: what it says or asks is about the connection that
 * node's keys are read and written on (a lock's holder names the
 * connection that takes the lock).  Pure: the map in, the plan out. */
#ifndef CGICACHE_CLUSTER_H
#define CGICACHE_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "command.h"
#include "slots.h"

/* Parts in one batch: more than any batch sends (a store with its tags
 * is 28 commands, a purge 32). */
#define CC_CLUSTER_PARTS 64

typedef struct cc_cluster_part {
    cc_cmd cmd;                         /* what is sent */
    int node;                           /* an index into the map's nodes */
    unsigned slot;                      /* CC_SLOTS: no key */
    size_t origin;                      /* the batch's command it is (part of) */
    unsigned char keys[CC_CMD_ARGS];    /* split: where its keys were in origin */
} cc_cluster_part;

typedef struct cc_cluster_plan {
    size_t nparts;
    cc_cluster_part parts[CC_CLUSTER_PARTS];
} cc_cluster_plan;

/* Makes the plan of cmds on map m.  Returns 0, or -1 with why (cap
 * bytes) when it cannot be sent: a slot no master serves, too many
 * parts, or one command's keys on several slots where the command
 * cannot be split (an EVAL's: no CROSSSLOT is ever sent). */
int cc_cluster_make_plan(const cc_slot_map *m, size_t ncmd, const cc_cmd *cmds,
                         cc_cluster_plan *plan, char *why, size_t cap);

/* Joins the parts' replies (each non-NULL, taken over and freed) into
 * one reply per command of the batch: a split command's array replies
 * in the order of its keys, its integer replies added; an error reply of
 * any part stands for the whole.  Returns 0, or -1 when out of memory
 * (every reply freed, replies all NULL). */
int cc_cluster_join(const cc_cluster_plan *plan, size_t ncmd, redisReply **part_replies,
                    redisReply **replies);

#endif
