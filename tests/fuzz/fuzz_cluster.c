/* fuzz_cluster.c -- a batch planned over three masters and its parts'
 * replies joined, on any commands and any replies: the first bytes make
 * commands (a verb from those cgicache sends, keys from the bytes), the
 * rest are the replies, read by the bounded reader, one per part.  A plan
 * never sends a command with keys of two slots, every part goes to a
 * master, and joining frees every reply exactly once. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "reply.h"

static const char *const verbs[] = {"GET",    "SET",        "MGET",  "DEL",    "UNLINK",
                                    "EVAL",   "CLIENT",     "PING",  "SADD",   "SCAN",
                                    "EXISTS", "SSUBSCRIBE", "TOUCH", "HINCRBY"};
static const cc_reply_limits limits = {256, 65536, 2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cc_slot_map map;
    static cc_cluster_plan plan;
    static char text[1024];
    if (size < 2)
        return 0;
    cc_slot_map_clear(&map);
    cc_slot_map_node(&map, "a", 1);
    cc_slot_map_node(&map, "b", 2);
    cc_slot_map_node(&map, "c", 3);
    for (size_t i = 0; i < CC_SLOTS; i++)
        map.slot[i] = (uint8_t)(i % 3);
    /* Commands: each a verb byte, an argument count byte, then arguments
     * of up to 8 bytes, until a 0xff byte ends the batch. */
    size_t ncmd = 0, at = 0, used = 0;
    cc_cmd cmds[8];
    memset(cmds, 0, sizeof cmds);
    while (at + 2 <= size && ncmd < 8 && data[at] != 0xff) {
        cc_cmd *c = &cmds[ncmd++];
        cc_cmd_arg(c, verbs[data[at] % (sizeof verbs / sizeof verbs[0])], (size_t)-1);
        int nargs = data[at + 1] % CC_CMD_ARGS;
        at += 2;
        for (int a = 0; a < nargs && at < size; a++) {
            size_t len = data[at] % 9;
            at++;
            if (at + len > size || used + len > sizeof text)
                break;
            memcpy(text + used, data + at, len);
            cc_cmd_arg(c, text + used, len);
            used += len;
            at += len;
        }
    }
    at++;
    char why[160];
    if (cc_cluster_make_plan(&map, ncmd, cmds, &plan, why, sizeof why) < 0)
        return 0;
    redisReply *parts[CC_CLUSTER_PARTS], *replies[8];
    for (size_t p = 0; p < plan.nparts; p++) {
        int first, count;
        cc_cmd_keys(&plan.parts[p].cmd, &first, &count);
        for (int k = first + 1; k < first + count; k++)
            if (cc_key_slot(plan.parts[p].cmd.argv[k], plan.parts[p].cmd.argvlen[k]) !=
                cc_key_slot(plan.parts[p].cmd.argv[first], plan.parts[p].cmd.argvlen[first]))
                abort();      /* a CROSSSLOT would be sent */
        if (plan.parts[p].node < 0 || plan.parts[p].node >= map.nnodes)
            abort();
    }
    cc_reply_guard g;
    redisReader *r = cc_reply_reader(&g, &limits);
    if (at < size)
        redisReaderFeed(r, (const char *)data + at, size - at);
    size_t got = 0;
    while (got < plan.nparts) {
        void *reply = NULL;
        if (cc_reply_get(r, &reply) != REDIS_OK || reply == NULL)
            break;
        parts[got++] = reply;
    }
    redisReaderFree(r);
    if (got < plan.nparts) {
        for (size_t p = 0; p < got; p++)
            freeReplyObject(parts[p]);
        return 0;
    }
    if (cc_cluster_join(&plan, ncmd, parts, replies) == 0)
        for (size_t c = 0; c < ncmd; c++)
            if (replies[c] != NULL)
                freeReplyObject(replies[c]);
    return 0;
}
