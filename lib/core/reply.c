/* reply.c -- a hiredis reader that refuses replies no Redis would send us.
 *
 * hiredis lets a reader make its reply objects through a table of
 * functions; the table installed here checks each value against what is
 * left of the reply's budget, then calls hiredis's own function, so the
 * objects are hiredis's and freeReplyObject frees them.  A refusal (NULL)
 * makes the reader fail the reply before anything was allocated for it.
 * A string is only made once all of it has arrived, so the bytes
 * buffered for an incomplete reply are bounded separately, after every
 * parse. */
#include "reply.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/* Framing around the strings of a reply: lengths, types, CRLFs. */
#define FRAMING_SLACK (64 * 1024)

/* Takes slots and bytes from the reply's budget; -1 when it is spent. */
static int spend(cc_reply_guard *g, size_t slots, size_t bytes)
{
    if (slots > g->limits.max_elements - g->elements || bytes > g->limits.max_bytes - g->bytes)
        return -1;
    g->elements += slots;
    g->bytes += bytes;
    return 0;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
    cc_reply_guard *g = task->privdata;
    return spend(g, 0, len) == 0 ? g->inner.createString(task, str, len) : NULL;
}

/* An array costs its slots up front: hiredis allocates them all at once,
 * before a single element has arrived. */
static void *create_array(const redisReadTask *task, int elements)
{
    cc_reply_guard *g = task->privdata;
    int depth = 1;
    for (const redisReadTask *t = task->parent; t != NULL; t = t->parent)
        depth++;
    if (elements < 0 || depth > g->limits.max_depth || spend(g, (size_t)elements, 0) < 0)
        return NULL;
    return g->inner.createArray(task, elements);
}

static void *create_integer(const redisReadTask *task, long long value)
{
    cc_reply_guard *g = task->privdata;
    return g->inner.createInteger(task, value);
}

static void *create_nil(const redisReadTask *task)
{
    cc_reply_guard *g = task->privdata;
    return g->inner.createNil(task);
}

redisReader *cc_reply_reader(cc_reply_guard *g, const cc_reply_limits *limits)
{
    redisReader *r = redisReaderCreate();
    if (r == NULL)
        return NULL;
    g->inner = *r->fn;
    g->fn = (redisReplyObjectFunctions){create_string, create_array, create_integer, create_nil,
                                        g->inner.freeObject};
    g->limits = *limits;
    g->elements = 0;
    g->bytes = 0;
    r->fn = &g->fn;
    r->privdata = g;
    return r;
}

int cc_reply_get(redisReader *r, void **reply)
{
    cc_reply_guard *g = r->privdata;
    if (r->ridx == -1) {          /* a new reply starts: a fresh budget */
        g->elements = 0;
        g->bytes = 0;
    }
    if (redisReaderGetReply(r, reply) != REDIS_OK)
        return REDIS_ERR;
    /* Incomplete, everything still buffered belongs to this one reply. */
    if (*reply == NULL && r->len - r->pos > g->limits.max_bytes - g->bytes + FRAMING_SLACK)
        return REDIS_ERR;
    return REDIS_OK;
}

int cc_reply_set_text(void *string_reply, const char *text)
{
    redisReply *r = string_reply;
    size_t len = strlen(text);
    /* realloc, not strdup: the reply's memory is the library's malloc
     * (alloc.c), and libc's strdup would take the app's. */
    char *grown = realloc(r->str, len + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown, text, len + 1);
    r->str = grown;
    r->len = len;
    return 0;
}
