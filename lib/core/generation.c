/* generation.c -- the generation a lookup finds: present values as they
 * are, missing ones replaced by values drawn for the store to create. */
#include "generation.h"

#include "key.h"

/* The value of one key: as read, or drawn into fresh when missing. */
static const char *value_or_fresh(const char *value, size_t *len, char *fresh, cc_gen_draw draw)
{
    if (value != NULL) {
        fresh[0] = '\0';
        return value;
    }
    draw(fresh);
    *len = CC_GEN_VALUE_LEN;
    return fresh;
}

uint64_t cc_generation_found(const char *route, size_t route_len, const char *url,
                             size_t url_len, char *fresh_route, char *fresh_url, cc_gen_draw draw)
{
    route = value_or_fresh(route, &route_len, fresh_route, draw);
    url = value_or_fresh(url, &url_len, fresh_url, draw);
    return cc_key_generation(route, route_len, url, url_len);
}
