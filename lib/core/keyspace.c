/* keyspace.c -- the names of cgicache's own keys, and the shape of an
 * entry's key.
 *
 * Pure string work.  The shape test is what keeps a purge to entries: a
 * SCAN under "<prefix>:<route>:" or "<prefix>:" may meet anything another
 * program or an older version left there, and only keys that key.c could
 * have made for an entry are removed. */
#include "keyspace.h"

#include <stdio.h>
#include <string.h>

static const char *const kinds[] = {
    [CC_KS_GEN] = "gen", [CC_KS_LOCK] = "lock",   [CC_KS_FILL] = "fill",
    [CC_KS_TAG] = "tag", [CC_KS_STATS] = "stats", [CC_KS_USES] = "uses",
};

int cc_keyspace_key(const cc_config *cfg, cc_ks_kind kind, const char *name, size_t len, char *out,
                    size_t cap)
{
    /* Pieces copied, not printed: every lookup writes two of these. */
    size_t plen = strlen(cfg->prefix), klen = strlen(kinds[kind]);
    if (plen + klen + len + 3 >= cap)
        return -1;
    char *p = out;
    memcpy(p, cfg->prefix, plen);
    p += plen;
    *p++ = ':';
    *p++ = '#';
    memcpy(p, kinds[kind], klen);
    p += klen;
    *p++ = ':';
    memcpy(p, name, len);
    p[len] = '\0';
    return 0;
}

int cc_keyspace_of_entry(const cc_config *cfg, cc_ks_kind kind, const char *entry, size_t len,
                         char *out, size_t cap)
{
    size_t skip = strlen(cfg->prefix) + 1;
    if (len < skip)
        return -1;
    return cc_keyspace_key(cfg, kind, entry + skip, len - skip, out, cap);
}

static bool name_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool cc_keyspace_route_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CC_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_byte(name[i]))
            return false;
    return true;
}

/* Length of the run of bytes at s (at most n) that pass ok. */
static size_t span(const char *s, size_t n, bool (*ok)(char))
{
    size_t i = 0;
    while (i < n && ok(s[i]))
        i++;
    return i;
}

/* A method as key.c writes it: GET, or escaped with letters, digits,
 * '-', '_' and %XX. */
static bool method_byte(char c)
{
    return name_byte(c) || c == '-' || c == '%';
}

static bool hex_byte(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool cc_keyspace_is_entry(const cc_config *cfg, const char *key, size_t len)
{
    size_t plen = strlen(cfg->prefix);
    if (len <= plen + 1 || memcmp(key, cfg->prefix, plen) != 0 || key[plen] != ':')
        return false;
    const char *p = key + plen + 1, *end = key + len;
    size_t route = span(p, (size_t)(end - p), name_byte);
    if (route == 0 || route >= CC_NAME_MAX || p + route == end || p[route] != ':')
        return false;
    p += route + 1;
    if (end - p < CC_KS_SLOT_TAG_LEN + 2 || p[0] != '{' ||
        span(p + 1, CC_KS_SLOT_TAG_LEN, hex_byte) != CC_KS_SLOT_TAG_LEN ||
        p[CC_KS_SLOT_TAG_LEN + 1] != '}')
        return false;
    p += CC_KS_SLOT_TAG_LEN + 2;
    if (p < end && *p == '#')       /* a hashed long key */
        return end - p == 33 && span(p + 1, 32, hex_byte) == 32;
    size_t method = span(p, (size_t)(end - p), method_byte);
    if (method == 0 || p + method == end || p[method] != ':')
        return false;
    p += method + 1;
    size_t rest = (size_t)(end - p);
    return (rest > 7 && memcmp(p, "http://", 7) == 0) ||
           (rest > 8 && memcmp(p, "https://", 8) == 0);
}
