/* fuzz_head.c -- the CGI response head parser, and the heads built from
 * what it parsed, on arbitrary app output. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "http.h"
#include "policy.h"

static cc_config *cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL) {
        char *env[] = {"CGICACHE_ROUTE_r=/* ttl=60 vary=X-Lang status=200,404", NULL};
        cfg = cc_config_parse(env, NULL, 0);
    }
    cc_head h;
    if (cc_head_parse((const char *)data, size, &h) == CC_HEAD_OK) {
        if (h.head_len > size)
            abort();
        cc_buf a = {0}, b = {0};
        cc_head_store_form(&a, &h, "X-Cache-Tags");
        cc_head_inject(&b, &h, "X-Cache-Tags", "X-Cache-Status: MISS\r\n", 22);
        cc_policy_response_ttl(cfg, &cfg->routes[0], &h, size - h.head_len, 1700000000000LL, NULL);
        cc_buf_free(&a);
        cc_buf_free(&b);
    }
    int64_t ms;
    cc_parse_http_date((const char *)data, size, &ms);
    return 0;
}
