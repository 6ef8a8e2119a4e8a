/* slots.c -- key slots, the slot map and redirections (slots.h).
 *
 * What the cluster specification says, and no more: CRC16 (XModem) mod
 * 16384 over the key or its hash tag; a map read from either of the two
 * replies that describe one; MOVED and ASK read from an error's text.
 * Replies come from the network and are checked for shape at every step:
 * a reply that is not the map it should be leaves no map, never half of
 * one. */
#include "slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b,
    0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738,
    0xf7df, 0xe7fe, 0xd79d, 0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5, 0x4ad4, 0x7ab7, 0x6a96,
    0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb,
    0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2,
    0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827,
    0x18c0, 0x08e1, 0x3882, 0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e, 0xed0f, 0xdd6c, 0xcd4d,
    0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

uint16_t cc_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ (uint8_t)buf[i]) & 0xff]);
    return crc;
}

unsigned cc_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        const char *tag = open + 1;
        const char *close = memchr(tag, '}', len - (size_t)(tag - key));
        if (close != NULL && close > tag)
            return cc_crc16(tag, (size_t)(close - tag)) & (CC_SLOTS - 1);
    }
    return cc_crc16(key, len) & (CC_SLOTS - 1);
}

void cc_slot_map_clear(cc_slot_map *m)
{
    m->nnodes = 0;
    memset(m->slot, CC_SLOT_NONE, sizeof m->slot);
}

int cc_slot_map_node(cc_slot_map *m, const char *host, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return i;
    if (m->nnodes == CC_SLOT_NODES || strlen(host) >= sizeof m->nodes[0].host)
        return -1;
    cc_redis_node *n = &m->nodes[m->nnodes];
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    return m->nnodes++;
}

static bool is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

static bool text_is(const redisReply *r, const char *text)
{
    size_t n = strlen(text);
    return is_string(r) && r->len == n && memcmp(r->str, text, n) == 0;
}

/* A number in an integer reply or in a string of digits (RESP2 carries
 * some fields as either); false when r is neither, or out of lo..hi. */
static bool number_of(const redisReply *r, long long lo, long long hi, long long *out)
{
    long long n;
    if (r->type == REDIS_REPLY_INTEGER) {
        n = r->integer;
    } else if (is_string(r) && r->len > 0 && r->len < 21) {
        char digits[24], *end;
        memcpy(digits, r->str, r->len);
        digits[r->len] = '\0';
        n = strtoll(digits, &end, 10);
        if (*end != '\0')
            return false;
    } else {
        return false;
    }
    if (n < lo || n > hi)
        return false;
    *out = n;
    return true;
}

/* Copies an announced address: an empty or "?" one is the node asked. */
static bool host_of(const redisReply *r, const char *asked, char *out, size_t cap)
{
    if (!is_string(r))
        return false;
    if (r->len == 0 || (r->len == 1 && r->str[0] == '?')) {
        if (asked == NULL || strlen(asked) >= cap)
            return false;
        snprintf(out, cap, "%s", asked);
        return true;
    }
    if (r->len >= cap || memchr(r->str, '\0', r->len) != NULL)
        return false;
    memcpy(out, r->str, r->len);
    out[r->len] = '\0';
    return true;
}

/* Gives slots start..end to host:port. */
static bool assign(cc_slot_map *m, long long start, long long end, const char *host, int port)
{
    if (start > end)
        return false;
    int node = cc_slot_map_node(m, host, port);
    if (node < 0)
        return false;
    memset(m->slot + start, node, (size_t)(end - start + 1));
    return true;
}

/* One CLUSTER SLOTS range: [start, end, [host, port, id, ...], ...]. */
static bool slots_range(cc_slot_map *m, const redisReply *r, const char *asked)
{
    long long start, end, port;
    char host[sizeof m->nodes[0].host];
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        !number_of(r->element[0], 0, CC_SLOTS - 1, &start) ||
        !number_of(r->element[1], 0, CC_SLOTS - 1, &end))
        return false;
    const redisReply *master = r->element[2];
    return master->type == REDIS_REPLY_ARRAY && master->elements >= 2 &&
           host_of(master->element[0], asked, host, sizeof host) &&
           number_of(master->element[1], 1, 65535, &port) && assign(m, start, end, host, (int)port);
}

int cc_slot_map_from_slots(cc_slot_map *m, const redisReply *r, const char *asked)
{
    cc_slot_map_clear(m);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < r->elements; i++)
        if (!slots_range(m, r->element[i], asked)) {
            cc_slot_map_clear(m);
            return -1;
        }
    return 0;
}

/* The value after the field name in a flat [name, value, ...] array. */
static const redisReply *field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (text_is(r->element[i], name))
            return r->element[i + 1];
    return NULL;
}

/* A shard's master: the node whose role is "master".  Its address is
 * "endpoint" (the preferred one, as clients are told in MOVED), else
 * "ip"; its port "port", or "tls-port" for a TLS cluster. */
static bool shard_master(const redisReply *nodes, const char *asked, bool tls, char *host,
                         size_t cap, int *port)
{
    if (nodes->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < nodes->elements; i++) {
        const redisReply *n = nodes->element[i], *role, *addr, *p;
        long long number;
        if (n->type != REDIS_REPLY_ARRAY || (role = field(n, "role")) == NULL ||
            !text_is(role, "master"))
            continue;
        addr = field(n, "endpoint");
        if (addr == NULL)
            addr = field(n, "ip");
        p = field(n, tls ? "tls-port" : "port");
        if (p == NULL)
            p = field(n, "port");
        if (addr == NULL || p == NULL || !host_of(addr, asked, host, cap) ||
            !number_of(p, 1, 65535, &number))
            return false;
        *port = (int)number;
        return true;
    }
    return false;
}

/* One CLUSTER SHARDS shard: ["slots", [start, end, ...], "nodes", [...]].
 * A shard that serves no slot (a master just added, or one emptied by a
 * reshard) is no part of the map. */
static bool shards_entry(cc_slot_map *m, const redisReply *r, const char *asked, bool tls)
{
    const redisReply *slots, *nodes;
    char host[sizeof m->nodes[0].host];
    int port;
    if (r->type != REDIS_REPLY_ARRAY || (slots = field(r, "slots")) == NULL ||
        (nodes = field(r, "nodes")) == NULL || slots->type != REDIS_REPLY_ARRAY ||
        slots->elements % 2 != 0)
        return false;
    if (slots->elements == 0)
        return true;
    if (!shard_master(nodes, asked, tls, host, sizeof host, &port))
        return false;
    for (size_t i = 0; i < slots->elements; i += 2) {
        long long start, end;
        if (!number_of(slots->element[i], 0, CC_SLOTS - 1, &start) ||
            !number_of(slots->element[i + 1], 0, CC_SLOTS - 1, &end) ||
            !assign(m, start, end, host, port))
            return false;
    }
    return true;
}

int cc_slot_map_from_shards(cc_slot_map *m, const redisReply *r, const char *asked)
{
    cc_slot_map_clear(m);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return -1;
    /* A TLS cluster announces its TLS port as "tls-port" and its plain
     * one (0 when it has none) as "port". */
    bool tls = false;
    for (size_t i = 0; i < r->elements && !tls; i++) {
        const redisReply *nodes = r->element[i]->type == REDIS_REPLY_ARRAY
                                      ? field(r->element[i], "nodes")
                                      : NULL;
        for (size_t j = 0;
             nodes != NULL && nodes->type == REDIS_REPLY_ARRAY && j < nodes->elements && !tls; j++)
            tls = nodes->element[j]->type == REDIS_REPLY_ARRAY &&
                  field(nodes->element[j], "tls-port") != NULL;
    }
    for (size_t i = 0; i < r->elements; i++)
        if (!shards_entry(m, r->element[i], asked, tls)) {
            cc_slot_map_clear(m);
            return -1;
        }
    return 0;
}

bool cc_slot_map_complete(const cc_slot_map *m)
{
    return memchr(m->slot, CC_SLOT_NONE, sizeof m->slot) == NULL;
}

int cc_redirect_parse(const char *err, size_t len, cc_redirect *out)
{
    char text[200], *end;
    if (len >= sizeof text)
        return -1;
    memcpy(text, err, len);
    text[len] = '\0';
    memset(out, 0, sizeof *out);
    char *p;
    if (strncmp(text, "MOVED ", 6) == 0) {
        p = text + 6;
    } else if (strncmp(text, "ASK ", 4) == 0) {
        out->ask = true;
        p = text + 4;
    } else {
        return -1;
    }
    if (*p < '0' || *p > '9')
        return -1;
    unsigned long slot = strtoul(p, &end, 10);
    if (end == p || *end != ' ' || slot >= CC_SLOTS)
        return -1;
    out->slot = (unsigned)slot;
    char *addr = end + 1, *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] < '0' || colon[1] > '9')
        return -1;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return -1;
    out->port = (int)port;
    *colon = '\0';
    size_t hlen = strlen(addr);
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        addr[hlen - 1] = '\0';
        addr++;
        hlen -= 2;
    }
    if (hlen >= sizeof out->host || strchr(addr, ' ') != NULL)
        return -1;
    memcpy(out->host, addr, hlen + 1);
    return 0;
}
