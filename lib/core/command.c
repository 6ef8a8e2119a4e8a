/* command.c -- building commands and finding their keys (command.h). */
#include "command.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cc_cmd_arg(cc_cmd *cmd, const char *arg, size_t len)
{
    if (cmd->argc >= CC_CMD_ARGS)
        return;
    cmd->argv[cmd->argc] = arg;
    cmd->argvlen[cmd->argc] = len == (size_t)-1 ? strlen(arg) : len;
    cmd->argc++;
}

static int verb_is(const cc_cmd *cmd, const char *verb)
{
    size_t n = strlen(verb);
    return cmd->argc > 0 && cmd->argvlen[0] == n && strncasecmp(cmd->argv[0], verb, n) == 0;
}

/* Verbs that name no key: the connection's and the server's. */
static const char *const keyless[] = {
    "AUTH",   "SELECT", "PING",  "CLIENT",   "ROLE",     "INFO",    "CONFIG",  "CLUSTER",
    "ASKING", "SCAN",   "HELLO", "READONLY", "DBSIZE",   "TIME",    "COMMAND", "SENTINEL",
    "QUIT",   "RESET",  "WAIT",  "SCRIPT",   "FLUSHALL", "FLUSHDB", "ACL",     "DEBUG",
};

static const char *const splitting[] = {"MGET", "DEL", "UNLINK", "EXISTS", "TOUCH"};

int cc_cmd_splits(const cc_cmd *cmd)
{
    for (size_t i = 0; i < sizeof splitting / sizeof splitting[0]; i++)
        if (verb_is(cmd, splitting[i]))
            return 1;
    return 0;
}

void cc_cmd_keys(const cc_cmd *cmd, int *first, int *count)
{
    *first = 1;
    *count = 0;
    if (cmd->argc < 2)
        return;
    for (size_t i = 0; i < sizeof keyless / sizeof keyless[0]; i++)
        if (verb_is(cmd, keyless[i]))
            return;
    if (verb_is(cmd, "EVAL") || verb_is(cmd, "EVALSHA")) {
        /* EVAL script numkeys key... arg... */
        char digits[8];
        if (cmd->argc < 3 || cmd->argvlen[2] == 0 || cmd->argvlen[2] >= sizeof digits)
            return;
        memcpy(digits, cmd->argv[2], cmd->argvlen[2]);
        digits[cmd->argvlen[2]] = '\0';
        long n = strtol(digits, NULL, 10);
        *first = 3;
        *count = n > 0 && n <= cmd->argc - 3 ? (int)n : 0;
        return;
    }
    if (cc_cmd_splits(cmd)) {
        *count = cmd->argc - 1;
        return;
    }
    *count = 1;    /* GET, SET, SADD, HINCRBY, PUBLISH, SUBSCRIBE...: the first argument */
}
