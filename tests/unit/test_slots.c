/* test_slots.c -- key slots by the cluster specification's vectors, the
 * slot map from the replies Redis 7.0 sends (read from their RESP2 text),
 * and MOVED/ASK as nodes write them. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

static unsigned slot_of(const char *key)
{
    return cc_key_slot(key, strlen(key));
}

Test(slots, crc16_vector)
{
    cr_assert_eq(cc_crc16("123456789", 9), 0x31C3);
    cr_assert_eq(slot_of("123456789"), 0x31C3 & 16383);
}

Test(slots, known_keys)
{
    /* As CLUSTER KEYSLOT answers. */
    cr_assert_eq(slot_of("foo"), 12182);
    cr_assert_eq(slot_of("bar"), 5061);
    cr_assert_eq(slot_of("hello"), 866);
    cr_assert_eq(slot_of(""), 0);
}

Test(slots, hash_tags)
{
    cr_assert_eq(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    cr_assert_eq(slot_of("{user1000}.following"), slot_of("user1000"));
    /* An empty tag: the whole key. */
    cr_assert_eq(slot_of("foo{}{bar}"), cc_crc16("foo{}{bar}", 10) & 16383);
    cr_assert_neq(slot_of("foo{}{bar}"), slot_of("bar"));
    /* From the first '{' to the first '}' after it. */
    cr_assert_eq(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    cr_assert_eq(slot_of("foo{bar}{zap}"), slot_of("bar"));
    /* No closing brace: the whole key. */
    cr_assert_eq(slot_of("foo{bar"), cc_crc16("foo{bar", 7) & 16383);
    cr_assert_eq(slot_of("}{x}"), slot_of("x"));
    /* Binary-safe: the length counts, not a NUL. */
    cr_assert_eq(cc_key_slot("{a\0b}c", 6), cc_crc16("a\0b", 3) & 16383);
}

/* A reply read from RESP text. */
static redisReply *reply_of(const char *text)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    cr_assert_eq(redisReaderFeed(r, text, strlen(text)), REDIS_OK);
    cr_assert_eq(redisReaderGetReply(r, &reply), REDIS_OK);
    cr_assert_not_null(reply, "incomplete: %s", text);
    redisReaderFree(r);
    return reply;
}

static cc_slot_map *new_map(void)
{
    cc_slot_map *m = malloc(sizeof *m);
    cr_assert_not_null(m);
    cc_slot_map_clear(m);
    return m;
}

static const char *node_of(const cc_slot_map *m, unsigned slot, int *port)
{
    cr_assert_neq(m->slot[slot], CC_SLOT_NONE, "slot %u unserved", slot);
    *port = m->nodes[m->slot[slot]].port;
    return m->nodes[m->slot[slot]].host;
}

/* Three masters, one with a replica, as `redis-cli --cluster create`
 * splits the slots; Redis 7 adds an empty map (an empty array in RESP2)
 * of networking metadata to each node. */
static const char cluster_slots[] =
    "*3\r\n"
    "*4\r\n:0\r\n:5460\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n$40\r\n07c37dfeb235213a872192d90877d0cd55635b91\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:7003\r\n$40\r\ne7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca\r\n*0\r\n"
    "*3\r\n:5461\r\n:10922\r\n"
    "*4\r\n$0\r\n\r\n:7001\r\n$40\r\n67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1\r\n*0\r\n"
    "*3\r\n:10923\r\n:16383\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:7002\r\n$40\r\n292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f\r\n*0\r\n";

Test(slots, map_from_cluster_slots)
{
    cc_slot_map *m = new_map();
    redisReply *r = reply_of(cluster_slots);
    int port;
    cr_assert_eq(cc_slot_map_from_slots(m, r, "10.0.0.9"), 0);
    cr_assert_eq(m->nnodes, 3);
    cr_assert_str_eq(node_of(m, 0, &port), "127.0.0.1");
    cr_assert_eq(port, 7000);
    cr_assert_eq(m->slot[5460], m->slot[0]);
    /* An empty address: the node that was asked. */
    cr_assert_str_eq(node_of(m, 5461, &port), "10.0.0.9");
    cr_assert_eq(port, 7001);
    cr_assert_str_eq(node_of(m, 16383, &port), "127.0.0.1");
    cr_assert_eq(port, 7002);
    cr_assert(cc_slot_map_complete(m));
    freeReplyObject(r);
    free(m);
}

Test(slots, map_with_holes_is_incomplete)
{
    cc_slot_map *m = new_map();
    redisReply *r = reply_of("*1\r\n*3\r\n:0\r\n:100\r\n*2\r\n$1\r\nh\r\n:7000\r\n");
    cr_assert_eq(cc_slot_map_from_slots(m, r, "x"), 0);
    cr_assert_eq(m->slot[101], CC_SLOT_NONE);
    cr_assert_not(cc_slot_map_complete(m));
    freeReplyObject(r);
    free(m);
}

Test(slots, bad_cluster_slots_leave_no_map)
{
    static const char *const bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:7000\r\n",      /* past the last slot */
        "*1\r\n*3\r\n:9\r\n:1\r\n*2\r\n$1\r\nh\r\n:7000\r\n",          /* backwards */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",             /* port 0 */
        "*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n",                   /* no port */
        "*1\r\n*2\r\n:0\r\n:1\r\n",                                    /* no master */
        "*2\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:7000\r\n:5\r\n",   /* not a range */
        "*1\r\n*3\r\n$1\r\nx\r\n:1\r\n*2\r\n$1\r\nh\r\n:7000\r\n",   /* not a number */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cc_slot_map *m = new_map();
        redisReply *r = reply_of(bad[i]);
        cr_assert_eq(cc_slot_map_from_slots(m, r, "x"), -1, "case %zu", i);
        cr_assert_eq(m->nnodes, 0);
        cr_assert_eq(m->slot[0], CC_SLOT_NONE);
        freeReplyObject(r);
        free(m);
    }
}

Test(slots, too_many_masters)
{
    char *text = malloc(1 << 16);
    size_t n = (size_t)sprintf(text, "*%d\r\n", CC_SLOT_NODES + 1);
    for (int i = 0; i <= CC_SLOT_NODES; i++)
        n += (size_t)sprintf(text + n, "*3\r\n:%d\r\n:%d\r\n*2\r\n$1\r\nh\r\n:%d\r\n", i, i,
                             7000 + i);
    cc_slot_map *m = new_map();
    redisReply *r = reply_of(text);
    cr_assert_eq(cc_slot_map_from_slots(m, r, "x"), -1);
    freeReplyObject(r);
    free(m);
    free(text);
}

/* CLUSTER SHARDS in RESP2: each shard and each node a flat array of
 * field names and values; a master without slots is listed too. */
static const char cluster_shards[] =
    "*3\r\n"
    "*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:100\r\n:200\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n"
    "*14\r\n$2\r\nid\r\n$3\r\nabc\r\n$4\r\nport\r\n:7003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    "$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n"
    "$18\r\nreplication-offset\r\n:1\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*14\r\n$2\r\nid\r\n$3\r\ndef\r\n$4\r\nport\r\n:7000\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    "$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
    "$18\r\nreplication-offset\r\n:1\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*4\r\n$5\r\nslots\r\n*4\r\n:101\r\n:199\r\n:5461\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n"
    "*10\r\n$2\r\nid\r\n$3\r\nghi\r\n$4\r\nport\r\n:7001\r\n$2\r\nip\r\n$8\r\n10.0.0.2\r\n"
    "$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
    "*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n"
    "*6\r\n$2\r\nid\r\n$3\r\njkl\r\n$4\r\nport\r\n:7009\r\n$4\r\nrole\r\n$6\r\nmaster\r\n";

Test(slots, map_from_cluster_shards)
{
    cc_slot_map *m = new_map();
    redisReply *r = reply_of(cluster_shards);
    int port;
    cr_assert_eq(cc_slot_map_from_shards(m, r, "10.0.0.7"), 0);
    cr_assert_eq(m->nnodes, 2, "the empty shard is no part of the map");
    cr_assert_str_eq(node_of(m, 0, &port), "127.0.0.1");
    cr_assert_eq(port, 7000, "the master, not the replica listed first");
    cr_assert_eq(m->slot[5460], m->slot[0]);
    cr_assert_eq(m->slot[200], m->slot[0]);
    /* "?": the endpoint is unknown, the node asked is used. */
    cr_assert_str_eq(node_of(m, 150, &port), "10.0.0.7");
    cr_assert_eq(port, 7001);
    cr_assert_eq(m->slot[16383], m->slot[150]);
    cr_assert(cc_slot_map_complete(m));
    freeReplyObject(r);
    free(m);
}

Test(slots, map_from_tls_shards)
{
    static const char text[] =
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n"
        "*8\r\n$4\r\nport\r\n:0\r\n$8\r\ntls-port\r\n:7400\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
        "$4\r\nrole\r\n$6\r\nmaster\r\n";
    cc_slot_map *m = new_map();
    redisReply *r = reply_of(text);
    int port;
    cr_assert_eq(cc_slot_map_from_shards(m, r, "x"), 0);
    node_of(m, 9, &port);
    cr_assert_eq(port, 7400);
    freeReplyObject(r);
    free(m);
}

Test(slots, bad_shards_leave_no_map)
{
    static const char *const bad[] = {
        "-ERR unknown subcommand 'SHARDS'\r\n",
        "*1\r\n*2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n",                 /* no nodes */
        "*1\r\n*4\r\n$5\r\nslots\r\n*1\r\n:0\r\n$5\r\nnodes\r\n*0\r\n",  /* odd slots */
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*0\r\n", /* no master */
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:1\r\n$5\r\nnodes\r\n*1\r\n"
        "*4\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$2\r\nip\r\n$1\r\nh\r\n",    /* no port */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cc_slot_map *m = new_map();
        redisReply *r = reply_of(bad[i]);
        cr_assert_eq(cc_slot_map_from_shards(m, r, "x"), -1, "case %zu", i);
        cr_assert_eq(m->nnodes, 0);
        freeReplyObject(r);
        free(m);
    }
}

static int redirect(const char *text, cc_redirect *out)
{
    return cc_redirect_parse(text, strlen(text), out);
}

Test(slots, moved_and_ask)
{
    cc_redirect r;
    cr_assert_eq(redirect("MOVED 3999 127.0.0.1:6381", &r), 0);
    cr_assert_not(r.ask);
    cr_assert_eq(r.slot, 3999);
    cr_assert_str_eq(r.host, "127.0.0.1");
    cr_assert_eq(r.port, 6381);
    cr_assert_eq(redirect("ASK 16383 ::1:7002", &r), 0);
    cr_assert(r.ask);
    cr_assert_eq(r.slot, 16383);
    cr_assert_str_eq(r.host, "::1");
    cr_assert_eq(r.port, 7002);
    cr_assert_eq(redirect("MOVED 0 [fe80::1]:7000", &r), 0);
    cr_assert_str_eq(r.host, "fe80::1");
    /* Redis 7 with an unknown endpoint: the node asked. */
    cr_assert_eq(redirect("MOVED 12 :7005", &r), 0);
    cr_assert_str_eq(r.host, "");
    cr_assert_eq(r.port, 7005);
}

Test(slots, not_redirects)
{
    static const char *const bad[] = {
        "ERR wrong number of arguments",
        "MOVED",
        "MOVED 16384 h:1",
        "MOVED -1 h:1",
        "MOVED x h:1",
        "MOVED 1 h",
        "MOVED 1 h:0",
        "MOVED 1 h:65536",
        "MOVED 1 h:1x",
        "ASK 1 h:",
        "MOVED 1  h:1 x",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN x",
        "moved 1 h:1",
    };
    cc_redirect r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(redirect(bad[i], &r), -1, "%s", bad[i]);
}
