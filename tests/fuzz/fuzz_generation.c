/* fuzz_generation.c -- generation values as Redis may hold them (anything:
 * lists, records, garbage) and purge prefixes as an app may send them.
 * The input is split at NUL bytes into a route value, a URL value, a path
 * and a prefix text.  Folding must stay within the values, a fold must
 * never be 0, the current generation must never count as only "soft",
 * and a prefix that cc_prefix_norm takes must be a path it covers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "generation.h"
#include "invalidate.h"

static void draw(char *out)
{
    memset(out, 'f', CC_GEN_VALUE_LEN);
    out[CC_GEN_VALUE_LEN] = '\0';
}

/* The next NUL-ended piece of data (or the rest), copied to the heap so
 * that reading past it is caught. */
static char *piece(const uint8_t **data, size_t *size, size_t *len)
{
    const uint8_t *nul = memchr(*data, '\0', *size);
    *len = nul != NULL ? (size_t)(nul - *data) : *size;
    char *out = malloc(*len + 1);
    memcpy(out, *data, *len);
    out[*len] = '\0';
    *data += *len + (nul != NULL);
    *size -= *len + (nul != NULL);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t rlen, ulen, plen, tlen;
    char *route = piece(&data, &size, &rlen), *url = piece(&data, &size, &ulen);
    char *path = piece(&data, &size, &plen), *text = piece(&data, &size, &tlen);
    char fr[CC_GEN_VALUE_LEN + 1], fu[CC_GEN_VALUE_LEN + 1];
    uint64_t g = cc_generation_found(route, rlen, url, ulen, path, plen, fr, fu, draw);
    if (g == 0)
        abort();
    uint64_t again = cc_generation_found(route, rlen, url, ulen, path, plen, fr, fu, draw);
    if (again != g)
        abort();
    cc_generation_soft(g ^ 0x5a5a, route, rlen, url, ulen, path, plen);
    char prefix[CC_GEN_PREFIX_MAX + 1];
    long n = cc_prefix_norm(text, tlen, prefix, sizeof prefix);
    if (n > CC_GEN_PREFIX_MAX ||
        (n > 0 && (prefix[0] != '/' || strlen(prefix) != (size_t)n ||
                   !cc_prefix_covers(prefix, (size_t)n, prefix, (size_t)n))))
        abort();
    free(route);
    free(url);
    free(path);
    free(text);
    return 0;
}
