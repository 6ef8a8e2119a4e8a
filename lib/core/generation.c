/* generation.c -- the generation a lookup finds (present values read as
 * lists, missing ones replaced by values drawn for the store to create),
 * and whether an entry that does not match it was only soft-purged.
 *
 * Values come from Redis, so anything may be in them: every list is read
 * within its bounds, and a route generation with more records covering
 * one path than fit here folds as a whole (any change to it then changes
 * the generation: more misses, never an old page). */
#include "generation.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

typedef struct span {
    const char *s;
    size_t len;
} span;

/* "<current> <previous>...": the current token and at most
 * CC_GEN_PREVIOUS_MAX previous ones. */
typedef struct tokens {
    span tok[1 + CC_GEN_PREVIOUS_MAX];
    size_t n;
} tokens;

/* What a fold is made of: the route's tokens, then those of each record
 * covering the path (prefix set), then the URL's. */
typedef struct part {
    span prefix;
    tokens toks;
} part;

#define PARTS_MAX (CC_GEN_RECORDS_MAX + 2)

static void read_tokens(const char *s, const char *end, tokens *out)
{
    const char *blank = memchr(s, ' ', (size_t)(end - s));
    const char *p = blank != NULL ? blank : end;
    out->tok[0] = (span){s, (size_t)(p - s)};
    out->n = 1;
    while (p < end && out->n < 1 + CC_GEN_PREVIOUS_MAX) {
        p++;                    /* the blank */
        blank = memchr(p, ' ', (size_t)(end - p));
        const char *stop = blank != NULL ? blank : end;
        if (stop > p)
            out->tok[out->n++] = (span){p, (size_t)(stop - p)};
        p = stop;
    }
}

static const char *line_end(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    return nl != NULL ? nl : end;
}

/* A record's previous token "-": it did not exist then. */
static bool absent(span t)
{
    return t.len == 1 && t.s[0] == '-';
}

bool cc_prefix_covers(const char *prefix, size_t prefix_len, const char *path, size_t path_len)
{
    if (prefix_len == 0 || prefix_len > path_len || memcmp(prefix, path, prefix_len) != 0)
        return false;
    return prefix[prefix_len - 1] == '/' || path_len == prefix_len || path[prefix_len] == '/';
}

/* Reads the parts of a fold for path: false when more records cover it
 * than fit (the caller then folds the route's value whole). */
static bool read_parts(const char *route, size_t route_len, const char *url, size_t url_len,
                       const char *path, size_t path_len, part *parts, size_t *n)
{
    const char *end = route + route_len, *line = line_end(route, end);
    read_tokens(route, line, &parts[0].toks);
    parts[0].prefix = (span){NULL, 0};
    *n = 1;
    while (line < end) {
        const char *start = line + 1;
        line = line_end(start, end);
        const char *tab = memchr(start, '\t', (size_t)(line - start));
        if (tab == NULL || !cc_prefix_covers(start, (size_t)(tab - start), path, path_len))
            continue;
        if (*n == PARTS_MAX - 1)
            return false;
        parts[*n].prefix = (span){start, (size_t)(tab - start)};
        read_tokens(tab + 1, line, &parts[*n].toks);
        (*n)++;
    }
    const char *url_end = url + url_len;
    read_tokens(url, line_end(url, url_end), &parts[*n].toks);
    parts[*n].prefix = (span){NULL, 0};
    (*n)++;
    return true;
}

/* The fold of parts[0..n) with token choice[i] of each: what
 * cc_key_generation gives the route's token followed by "\n<prefix>\t<token>"
 * for each record present, and the URL's token. */
static uint64_t fold_parts(const part *parts, size_t n, const size_t *choice)
{
    size_t route_len = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        span t = parts[i].toks.tok[choice[i]];
        if (i > 0 && absent(t))
            continue;
        route_len += (i > 0 ? parts[i].prefix.len + 2 : 0) + t.len;
    }
    span url = parts[n - 1].toks.tok[choice[n - 1]];
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    uint64_t lens[2] = {route_len + 1, url.len + 1};
    XXH3_64bits_update(&st, lens, sizeof lens);
    for (size_t i = 0; i + 1 < n; i++) {
        span t = parts[i].toks.tok[choice[i]];
        if (i > 0) {
            if (absent(t))
                continue;
            XXH3_64bits_update(&st, "\n", 1);
            XXH3_64bits_update(&st, parts[i].prefix.s, parts[i].prefix.len);
            XXH3_64bits_update(&st, "\t", 1);
        }
        XXH3_64bits_update(&st, t.s, t.len);
    }
    XXH3_64bits_update(&st, url.s, url.len);
    uint64_t g = XXH3_64bits_digest(&st);
    return g != 0 ? g : 1;
}

/* The current token of a list: up to its first blank or newline (a
 * token is 16 bytes: a loop costs less than two memchr calls). */
static size_t current_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && s[i] != ' ' && s[i] != '\n')
        i++;
    return i;
}

/* The current generation of two present values. */
static uint64_t current(const char *route, size_t route_len, const char *url, size_t url_len,
                        const char *path, size_t path_len)
{
    /* Most route generations have no prefix record: their fold is that
     * of the current tokens, read where they are. */
    size_t token = current_len(route, route_len);
    if (memchr(route + token, '\n', route_len - token) == NULL)
        return cc_key_generation(route, token, url, current_len(url, url_len));
    part parts[PARTS_MAX];
    size_t choice[PARTS_MAX] = {0}, n;
    if (!read_parts(route, route_len, url, url_len, path, path_len, parts, &n))
        return cc_key_generation(route, route_len, url, current_len(url, url_len));
    return fold_parts(parts, n, choice);
}

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
                             const char *path, size_t path_len, char *fresh_route, char *fresh_url,
                             cc_gen_draw draw)
{
    route = value_or_fresh(route, &route_len, fresh_route, draw);
    url = value_or_fresh(url, &url_len, fresh_url, draw);
    return current(route, route_len, url, url_len, path, path_len);
}

bool cc_generation_soft(uint64_t recorded, const char *route, size_t route_len, const char *url,
                        size_t url_len, const char *path, size_t path_len)
{
    part parts[PARTS_MAX];
    size_t choice[PARTS_MAX] = {0}, n;
    if (route == NULL || url == NULL ||
        !read_parts(route, route_len, url, url_len, path, path_len, parts, &n))
        return false;
    /* Every choice of tokens but the current one (all zero), as an
     * odometer: the route's token turns fastest. */
    for (size_t tries = 0; tries < CC_GEN_CHOICES_MAX; tries++) {
        size_t i = 0;
        while (i < n && ++choice[i] == parts[i].toks.n)
            choice[i++] = 0;
        if (i == n)
            return false;       /* every choice tried */
        if (fold_parts(parts, n, choice) == recorded)
            return true;
    }
    return false;
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
