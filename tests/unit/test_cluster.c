/* test_cluster.c -- a batch planned over a cluster's masters: each
 * command to the master of its keys' slot, a keyless one with its
 * neighbour, a multi-key read split by slot and joined back in key
 * order, and no command ever sent with keys of two slots. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

static cc_slot_map *map;
static cc_cluster_plan *plan;

/* Three masters, as redis-cli --cluster create splits the slots. */
static void setup(void)
{
    map = malloc(sizeof *map);
    plan = malloc(sizeof *plan);
    cc_slot_map_clear(map);
    cr_assert_eq(cc_slot_map_node(map, "a", 7000), 0);
    cr_assert_eq(cc_slot_map_node(map, "b", 7001), 1);
    cr_assert_eq(cc_slot_map_node(map, "c", 7002), 2);
    memset(map->slot, 0, 5461);
    memset(map->slot + 5461, 1, 10923 - 5461);
    memset(map->slot + 10923, 2, CC_SLOTS - 10923);
}

static void teardown(void)
{
    free(map);
    free(plan);
}

TestSuite(cluster, .init = setup, .fini = teardown);

static cc_cmd cmd(const char *a0, const char *a1, const char *a2, const char *a3)
{
    cc_cmd c = {0};
    const char *args[] = {a0, a1, a2, a3};
    for (int i = 0; i < 4 && args[i] != NULL; i++)
        cc_cmd_arg(&c, args[i], (size_t)-1);
    return c;
}

static int node_of(const char *key)
{
    return map->slot[cc_key_slot(key, strlen(key))];
}

Test(cluster, keys_of_commands)
{
    int first, count;
    cc_cmd c = cmd("GET", "k", NULL, NULL);
    cc_cmd_keys(&c, &first, &count);
    cr_assert(first == 1 && count == 1);
    c = cmd("mget", "a", "b", "c");
    cc_cmd_keys(&c, &first, &count);
    cr_assert(first == 1 && count == 3);
    c = cmd("EVAL", "return 1", "2", "k1");
    cc_cmd_arg(&c, "k2", (size_t)-1);
    cc_cmd_arg(&c, "arg", (size_t)-1);
    cc_cmd_keys(&c, &first, &count);
    cr_assert(first == 3 && count == 2);
    c = cmd("EVAL", "return 1", "0", "arg");
    cc_cmd_keys(&c, &first, &count);
    cr_assert_eq(count, 0);
    c = cmd("EVAL", "return 1", "9", "k");    /* more keys than arguments: none trusted */
    cc_cmd_keys(&c, &first, &count);
    cr_assert_eq(count, 0);
    c = cmd("CLIENT", "SETNAME", "x", NULL);
    cc_cmd_keys(&c, &first, &count);
    cr_assert_eq(count, 0);
    c = cmd("SCAN", "0", NULL, NULL);
    cc_cmd_keys(&c, &first, &count);
    cr_assert_eq(count, 0);
    c = cmd("SUBSCRIBE", "chan", NULL, NULL);
    cc_cmd_keys(&c, &first, &count);
    cr_assert(first == 1 && count == 1);
}

Test(cluster, each_command_to_its_master)
{
    cc_cmd cmds[3] = {cmd("GET", "foo", NULL, NULL), cmd("GET", "bar", NULL, NULL),
                      cmd("SET", "{foo}x", "1", NULL)};
    char why[128];
    cr_assert_eq(cc_cluster_make_plan(map, 3, cmds, plan, why, sizeof why), 0, "%s", why);
    cr_assert_eq(plan->nparts, 3);
    cr_assert_eq(plan->parts[0].node, 2);    /* foo: slot 12182 */
    cr_assert_eq(plan->parts[1].node, 0);    /* bar: slot 5061 */
    cr_assert_eq(plan->parts[2].node, 2);
    cr_assert_eq(plan->parts[2].origin, 2);
}

Test(cluster, keyless_commands_go_with_their_neighbour)
{
    /* A lock: the holder names the connection that takes it. */
    cc_cmd lock[2] = {cmd("CLIENT", "SETNAME", "h", NULL), cmd("SET", "bar", "t", "NX")};
    char why[128];
    cr_assert_eq(cc_cluster_make_plan(map, 2, lock, plan, why, sizeof why), 0);
    cr_assert_eq(plan->parts[0].node, node_of("bar"));
    /* A holder check: CLIENT ID and LIST of the lock's node. */
    cc_cmd check[3] = {cmd("GET", "foo", NULL, NULL), cmd("CLIENT", "ID", NULL, NULL),
                       cmd("CLIENT", "LIST", NULL, NULL)};
    cr_assert_eq(cc_cluster_make_plan(map, 3, check, plan, why, sizeof why), 0);
    cr_assert_eq(plan->parts[1].node, node_of("foo"));
    cr_assert_eq(plan->parts[2].node, node_of("foo"));
    cc_cmd ping = cmd("PING", NULL, NULL, NULL);
    cr_assert_eq(cc_cluster_make_plan(map, 1, &ping, plan, why, sizeof why), 0);
    cr_assert_eq(plan->parts[0].node, 0);
}

Test(cluster, no_crossslot_is_sent)
{
    cc_cmd eval = cmd("EVAL", "return 1", "2", "foo");
    cc_cmd_arg(&eval, "bar", (size_t)-1);
    char why[128];
    cr_assert_eq(cc_cluster_make_plan(map, 1, &eval, plan, why, sizeof why), -1);
    cr_assert(strstr(why, "several slots") != NULL, "%s", why);
    /* The same slot by a hash tag: sent whole. */
    eval = cmd("EVAL", "return 1", "2", "{u}a");
    cc_cmd_arg(&eval, "{u}b", (size_t)-1);
    cr_assert_eq(cc_cluster_make_plan(map, 1, &eval, plan, why, sizeof why), 0);
    cr_assert_eq(plan->nparts, 1);
}

Test(cluster, unserved_slot_is_refused)
{
    map->slot[cc_key_slot("foo", 3)] = CC_SLOT_NONE;
    cc_cmd get = cmd("GET", "foo", NULL, NULL);
    char why[128];
    cr_assert_eq(cc_cluster_make_plan(map, 1, &get, plan, why, sizeof why), -1);
    cr_assert(strstr(why, "no master") != NULL, "%s", why);
}

static redisReply *str(const char *s)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_STRING;
    r->len = strlen(s);
    r->str = strdup(s);
    return r;
}

static redisReply *array(size_t n, redisReply **e)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n, sizeof *r->element);
    memcpy(r->element, e, n * sizeof *e);
    return r;
}

static redisReply *integer(long long n)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = n;
    return r;
}

/* A lookup's MGET of an entry, the route's generation and the URL's:
 * two parts, joined in the order of the keys. */
Test(cluster, mget_split_by_slot_and_joined)
{
    cc_cmd cmds[2] = {cmd("MGET", "{u}entry", "route", "{u}gen"), cmd("GET", "x", NULL, NULL)};
    char why[128];
    cr_assert_eq(cc_cluster_make_plan(map, 2, cmds, plan, why, sizeof why), 0, "%s", why);
    cr_assert_eq(plan->nparts, 3);
    cr_assert_eq(plan->parts[0].cmd.argc, 3);
    cr_assert_str_eq(plan->parts[0].cmd.argv[1], "{u}entry");
    cr_assert_str_eq(plan->parts[0].cmd.argv[2], "{u}gen");
    cr_assert_eq(plan->parts[1].cmd.argc, 2);
    cr_assert_str_eq(plan->parts[1].cmd.argv[1], "route");
    cr_assert_eq(plan->parts[0].node, node_of("u"));
    cr_assert_eq(plan->parts[1].node, node_of("route"));
    redisReply *parts[3], *replies[2];
    parts[0] = array(2, (redisReply *[]){str("E"), str("G")});
    parts[1] = array(1, (redisReply *[]){str("R")});
    parts[2] = str("X");
    cr_assert_eq(cc_cluster_join(plan, 2, parts, replies), 0);
    cr_assert_eq(replies[0]->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(replies[0]->elements, 3);
    cr_assert_str_eq(replies[0]->element[0]->str, "E");
    cr_assert_str_eq(replies[0]->element[1]->str, "R");
    cr_assert_str_eq(replies[0]->element[2]->str, "G");
    cr_assert_str_eq(replies[1]->str, "X");
    freeReplyObject(replies[0]);
    freeReplyObject(replies[1]);
}

Test(cluster, unlink_counts_added_and_errors_win)
{
    cc_cmd un = cmd("UNLINK", "foo", "bar", "{foo}2");
    char why[128];
    cr_assert_eq(cc_cluster_make_plan(map, 1, &un, plan, why, sizeof why), 0);
    cr_assert_eq(plan->nparts, 2);
    redisReply *parts[2] = {integer(2), integer(1)}, *reply;
    cr_assert_eq(cc_cluster_join(plan, 1, parts, &reply), 0);
    cr_assert_eq(reply->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(reply->integer, 3);
    freeReplyObject(reply);
    /* A part refused: the command was not done. */
    redisReply *err = calloc(1, sizeof *err);
    err->type = REDIS_REPLY_ERROR;
    err->str = strdup("MOVED 1 h:1");
    err->len = strlen(err->str);
    parts[0] = integer(2);
    parts[1] = err;
    cr_assert_eq(cc_cluster_join(plan, 1, parts, &reply), 0);
    cr_assert_eq(reply->type, REDIS_REPLY_ERROR);
    freeReplyObject(reply);
}

Test(cluster, too_many_parts)
{
    static cc_cmd many[CC_CLUSTER_PARTS + 1];
    for (size_t i = 0; i <= CC_CLUSTER_PARTS; i++)
        many[i] = cmd("GET", "k", NULL, NULL);
    char why[128];
    cr_assert_eq(cc_cluster_make_plan(map, CC_CLUSTER_PARTS + 1, many, plan, why, sizeof why), -1);
}
