/* sentinel.c -- the master's address, from Redis Sentinel.
 *
 * The sentinels are asked in turn, each on a short connection of its own
 * (store.c's, with TLS when the URL is rediss-sentinel://: it is given
 * here as a function, so that this file needs nothing of store.c), under
 * CGICACHE_CONNECT_TIMEOUT + CGICACHE_TIMEOUT each: a dead sentinel costs
 * a refused connection, a frozen one a timeout, and the next is asked.
 * What one answers is not trusted as such: store.c writes to the node
 * only once ROLE says master, and otherwise starts from the next sentinel
 * (one that lags a failover, or lies).  A sentinel with requirepass is
 * asked again with the URL's credentials when it answers NOAUTH. */
#include "sentinel.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The address in a reply [host, port]; false when it is not one. */
static bool address_of(const redisReply *r, char *host, size_t cap, int *port)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[0]->len == 0 || r->element[0]->len >= cap)
        return false;
    char *end;
    long p = strtol(r->element[1]->str, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535)
        return false;
    memcpy(host, r->element[0]->str, r->element[0]->len);
    host[r->element[0]->len] = '\0';
    *port = (int)p;
    return true;
}

int cc_sentinel_master(const cc_config *cfg, cc_sentinel_asker *ask, int *next, char *host,
                       size_t cap, int *port, char *why, size_t why_cap)
{
    const cc_redis_addr *a = &cfg->redis;
    snprintf(why, why_cap, "no sentinel could be reached");
    for (int tried = 0; tried < a->nsentinels; tried++) {
        int i = (*next + tried) % a->nsentinels;
        const cc_redis_node *sn = &a->sentinels[i];
        redisReply *r = ask(cfg, sn, false);
        if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0 &&
            a->password[0] != '\0') {
            freeReplyObject(r);
            r = ask(cfg, sn, true);
        }
        bool found = r != NULL && address_of(r, host, cap, port);
        if (!found && r != NULL) {
            /* Said once for all: the caller logs why with its breaker. */
            if (r->type == REDIS_REPLY_NIL)
                snprintf(why, why_cap, "sentinel %s:%d does not know a master '%s'", sn->host,
                         sn->port, a->master);
            else if (r->type == REDIS_REPLY_ERROR)
                snprintf(why, why_cap, "sentinel %s:%d answered: %.120s", sn->host, sn->port,
                         r->str);
            else
                snprintf(why, why_cap, "sentinel %s:%d answered something not an address", sn->host,
                         sn->port);
        }
        if (r != NULL)
            freeReplyObject(r);
        if (found) {
            cc_debug("sentinel %s:%d names %s:%d master '%s'", sn->host, sn->port, host, *port,
                     a->master);
            *next = i;
            return 0;
        }
    }
    return -1;
}
