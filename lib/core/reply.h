/* reply.h -- a reply reader whose every reply has a bounded cost.
 *
 * hiredis 0.14's reader trusts its peer: "*2147483647\r\n" makes it
 * calloc 16 GB for one array (and freeing that array walks every slot,
 * seconds of work outside any deadline), "$9999999999\r\n" makes it
 * buffer whatever follows until ten gigabytes have come.  Nothing the
 * library or the tool asks Redis for is like that, so anything like that
 * is not Redis: the reader made here refuses it as a protocol error, and
 * the caller drops the connection like any other broken one. */
#ifndef CGICACHE_REPLY_H
#define CGICACHE_REPLY_H

#include <hiredis/read.h>
#include <stddef.h>

typedef struct cc_reply_limits {
    size_t max_elements;   /* values in one reply, counting every array slot */
    size_t max_bytes;      /* string bytes in one reply, and bytes buffered for it */
    int max_depth;         /* arrays within arrays: 1 is a flat array */
} cc_reply_limits;

/* What a reader spends on the reply it is reading; lives as long as the
 * reader (its privdata points here). */
typedef struct cc_reply_guard {
    redisReplyObjectFunctions fn;      /* the checks, then hiredis's own */
    redisReplyObjectFunctions inner;   /* hiredis's own object functions */
    cc_reply_limits limits;
    size_t elements;                   /* spent on the reply being read */
    size_t bytes;
} cc_reply_guard;

/* A hiredis reader bounded by limits, its accounts kept in g.  Free it
 * with redisReaderFree.  NULL when out of memory. */
redisReader *cc_reply_reader(cc_reply_guard *g, const cc_reply_limits *limits);

/* redisReaderGetReply, then the bound on bytes buffered for a reply not
 * yet complete.  Returns REDIS_OK (with *reply NULL while incomplete) or
 * REDIS_ERR when the peer broke the protocol or a limit. */
int cc_reply_get(redisReader *r, void **reply);

/* Replaces the text of a string reply (a redisReply from this reader)
 * with text, in memory the reply's own free releases.  Returns 0, or -1
 * when out of memory (the reply unchanged). */
int cc_reply_set_text(void *string_reply, const char *text);

#endif
