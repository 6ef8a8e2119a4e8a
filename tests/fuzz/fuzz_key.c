/* fuzz_key.c -- request views, route matching and key building on
 * arbitrary CGI parameters, over a fixed set of routes with every kind of
 * option.  Keys must always be NUL-terminated and within bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "key.h"
#include "policy.h"
#include "request.h"
#include "route.h"

static cc_config *cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL) {
        char *env[] = {"CGICACHE_ROUTE_all=/* ttl=60",
                       "CGICACHE_ROUTE_q=/q/* query=a,b vary=X-Lang",
                       "CGICACHE_ROUTE_n=GET,POST /n/*.css query=none cookies=ignore", NULL};
        cfg = cc_config_parse(env, NULL, 0);
    }
    char *env[32];
    char *text = fuzz_envp(data, size, env, 32);
    cc_request rq;
    if (cc_request_init(&rq, env) == 0) {
        const cc_route *r = cc_route_match(cfg, rq.method_bit, rq.norm, rq.norm_len);
        if (r != NULL) {
            cc_policy_request(cfg, r, &rq);
            cc_key *k = malloc(sizeof *k);
            if (cc_key_build(cfg, r, &rq, k) == 0 &&
                (strlen(k->full) != k->full_len || strlen(k->redis) != k->redis_len))
                abort();
            free(k);
        }
    }
    free(text);
    return 0;
}
