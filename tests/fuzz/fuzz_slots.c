/* fuzz_slots.c -- the slot map's parsers on any reply the bounded reader
 * accepts, and the MOVED/ASK parser on any text.  A map is either whole
 * (every served slot names a node it lists) or empty; a redirection
 * names a slot and a port in range. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "slots.h"

static const cc_reply_limits limits = {4096, 65536, 4};

static void check_map(const cc_slot_map *m, int rc)
{
    if (m->nnodes < 0 || m->nnodes > CC_SLOT_NODES || (rc < 0 && m->nnodes != 0))
        abort();
    for (size_t i = 0; i < CC_SLOTS; i++)
        if (m->slot[i] != CC_SLOT_NONE && (rc < 0 || m->slot[i] >= m->nnodes))
            abort();
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port < 1 || m->nodes[i].port > 65535 ||
            strnlen(m->nodes[i].host, sizeof m->nodes[i].host) == sizeof m->nodes[i].host)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_redirect moved;
    if (cc_redirect_parse((const char *)data, size, &moved) == 0 &&
        (moved.slot >= CC_SLOTS || moved.port < 1 || moved.port > 65535))
        abort();
    cc_reply_guard g;
    redisReader *r = cc_reply_reader(&g, &limits);
    static cc_slot_map m;
    redisReaderFeed(r, (const char *)data, size);
    void *reply = NULL;
    if (cc_reply_get(r, &reply) == REDIS_OK && reply != NULL) {
        check_map(&m, cc_slot_map_from_slots(&m, reply, "asked"));
        check_map(&m, cc_slot_map_from_shards(&m, reply, "asked"));
        freeReplyObject(reply);
    }
    redisReaderFree(r);
    return 0;
}
