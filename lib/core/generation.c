/* generation.c -- the generation a lookup finds: present values as they
 * are, missing ones replaced by values drawn for the store to create. */
#include "generation.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

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

uint64_t cc_generation_found(const char *route, size_t route_len, const char *url, size_t url_len,
                             char *fresh_route, char *fresh_url, cc_gen_draw draw)
{
    route = value_or_fresh(route, &route_len, fresh_route, draw);
    url = value_or_fresh(url, &url_len, fresh_url, draw);
    return cc_key_generation(route, route_len, url, url_len);
}

uint64_t cc_key_generation(const char *route_gen, size_t route_len, const char *url_gen,
                           size_t url_len)
{
    if (route_gen == NULL && url_gen == NULL)
        return 0;
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    /* The length first, so ("ab", "") and ("a", "b") differ. */
    uint64_t lens[2] = {route_gen != NULL ? route_len + 1 : 0, url_gen != NULL ? url_len + 1 : 0};
    XXH3_64bits_update(&st, lens, sizeof lens);
    if (route_gen != NULL)
        XXH3_64bits_update(&st, route_gen, route_len);
    if (url_gen != NULL)
        XXH3_64bits_update(&st, url_gen, url_len);
    uint64_t g = XXH3_64bits_digest(&st);
    return g != 0 ? g : 1;
}
