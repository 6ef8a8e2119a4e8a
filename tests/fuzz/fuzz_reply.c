/* fuzz_reply.c -- the bounded reply reader on arbitrary bytes, fed in
 * pieces whose sizes the first byte picks.  Every reply it returns must
 * be within its limits, and nothing may leak or crash. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>

#include "reply.h"

static const cc_reply_limits limits = {64, 4096, 2};

/* Counts the slots and string bytes of a reply, and its depth. */
static void measure(const redisReply *r, int depth, size_t *slots, size_t *bytes, int *deepest)
{
    if (depth > *deepest)
        *deepest = depth;
    if (r->type == REDIS_REPLY_ARRAY) {
        *slots += r->elements;
        for (size_t i = 0; i < r->elements; i++)
            measure(r->element[i], depth + 1, slots, bytes, deepest);
    } else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR) {
        *bytes += r->len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = 1 + data[0] % 16;
    data++, size--;
    cc_reply_guard g;
    redisReader *r = cc_reply_reader(&g, &limits);
    int rc = REDIS_OK;
    for (size_t at = 0; at < size && rc == REDIS_OK; at += step) {
        redisReaderFeed(r, (const char *)data + at, size - at < step ? size - at : step);
        void *reply = NULL;
        while (rc == REDIS_OK && (rc = cc_reply_get(r, &reply)) == REDIS_OK && reply != NULL) {
            size_t slots = 0, bytes = 0;
            int deepest = 0;
            measure(reply, 0, &slots, &bytes, &deepest);
            /* Depth counts arrays: a scalar inside max_depth arrays is at max_depth. */
            if (slots > limits.max_elements || bytes > limits.max_bytes ||
                deepest > limits.max_depth)
                abort();
            freeReplyObject(reply);
        }
    }
    redisReaderFree(r);
    return 0;
}
