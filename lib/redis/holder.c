/* holder.c -- a fill lock's holder is known by its Redis connection's
 * name; see holder.h. */
#include "holder.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

#define NAME_PREFIX "cgicache-fill-"

void cc_holder_name_cmd(cc_cmd *cmd, char *name, const char *token)
{
    snprintf(name, CC_HOLDER_NAME_MAX, NAME_PREFIX "%.40s", token);
    memset(cmd, 0, sizeof *cmd);
    cc_cmd_arg(cmd, "CLIENT", (size_t)-1);
    cc_cmd_arg(cmd, "SETNAME", (size_t)-1);
    cc_cmd_arg(cmd, name, (size_t)-1);
}

/* Deletes the lock if it still holds token (a new holder may have taken
 * it since it was read). */
static const char delete_if_token[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* Whether CLIENT LIST's text has a connection named name.  Each line
 * reads "id=... name=<name> age=...". */
static int listed(const char *list, size_t len, const char *name)
{
    char field[CC_HOLDER_NAME_MAX + 8];
    int n = snprintf(field, sizeof field, " name=%s ", name);
    return n > 0 && memmem(list, len, field, (size_t)n) != NULL;
}

/* Whether CLIENT LIST's text has the connection numbered id: a list that
 * does not show the asker's own connection (a proxy in between) says
 * nothing about the holder's. */
static int listed_id(const char *list, size_t len, long long id)
{
    char field[32];
    int n = snprintf(field, sizeof field, "id=%lld ", id);
    for (const char *p = list, *end = list + len; n > 0 && p < end;) {
        const char *hit = memmem(p, (size_t)(end - p), field, (size_t)n);
        if (hit == NULL)
            return 0;
        if (hit == list || hit[-1] == '\n')
            return 1;
        p = hit + 1;
    }
    return 0;
}

cc_holder_state cc_holder_check(cc_store *s, const char *lock_key, bool liveness)
{
    cc_cmd cmds[3];
    memset(cmds, 0, sizeof cmds);
    cc_cmd_arg(&cmds[0], "GET", (size_t)-1);
    cc_cmd_arg(&cmds[0], lock_key, (size_t)-1);
    cc_cmd_arg(&cmds[1], "CLIENT", (size_t)-1);
    cc_cmd_arg(&cmds[1], "ID", (size_t)-1);
    cc_cmd_arg(&cmds[2], "CLIENT", (size_t)-1);
    cc_cmd_arg(&cmds[2], "LIST", (size_t)-1);
    cc_cmd_arg(&cmds[2], "TYPE", (size_t)-1);
    cc_cmd_arg(&cmds[2], "normal", (size_t)-1);
    redisReply *r[3] = {NULL, NULL, NULL};
    size_t n = liveness ? 3 : 1;
    if (s == NULL || cc_store_run(s, n, cmds, r) != 0)
        return CC_HOLDER_ALIVE;      /* cannot tell: the TTL decides */
    cc_holder_state state = CC_HOLDER_ALIVE;
    char token[41], name[CC_HOLDER_NAME_MAX];   /* tokens are 32 hex digits */
    if (r[0]->type == REDIS_REPLY_NIL) {
        state = CC_HOLDER_RELEASED;
    } else if (liveness && r[0]->type == REDIS_REPLY_STRING && r[0]->len < sizeof token &&
               r[1]->type == REDIS_REPLY_INTEGER && r[2]->type == REDIS_REPLY_STRING &&
               listed_id(r[2]->str, r[2]->len, r[1]->integer)) {
        memcpy(token, r[0]->str, r[0]->len);
        token[r[0]->len] = '\0';
        snprintf(name, sizeof name, NAME_PREFIX "%.40s", token);
        if (!listed(r[2]->str, r[2]->len, name))
            state = CC_HOLDER_DEAD;
    }
    cc_store_free_replies(n, r);
    if (state == CC_HOLDER_DEAD) {
        cc_cmd del = {0};
        cc_cmd_arg(&del, "EVAL", (size_t)-1);
        cc_cmd_arg(&del, delete_if_token, sizeof delete_if_token - 1);
        cc_cmd_arg(&del, "1", 1);
        cc_cmd_arg(&del, lock_key, (size_t)-1);
        cc_cmd_arg(&del, token, (size_t)-1);
        redisReply *reply = cc_store_command(s, &del);
        if (reply != NULL)
            freeReplyObject(reply);
        cc_info("%s: its holder's connection is gone; lock removed", lock_key);
    }
    return state;
}
