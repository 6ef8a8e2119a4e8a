/* command.h -- one Redis command, as the arguments it is sent with, and
 * which of them are keys.
 *
 * Commands are built in place (pointers to the caller's bytes, no
 * copies) and formatted by store.c.  A Redis Cluster routes a command by
 * the slot of its keys, so what a key is for each verb cgicache sends is
 * said here, once. */
#ifndef CGICACHE_COMMAND_H
#define CGICACHE_COMMAND_H

#include <stddef.h>

#define CC_CMD_ARGS 12

/* One command: argv[0] is the verb; lengths make arguments binary-safe. */
typedef struct cc_cmd {
    int argc;
    const char *argv[CC_CMD_ARGS];
    size_t argvlen[CC_CMD_ARGS];
} cc_cmd;

/* Appends an argument (a C string when len is (size_t)-1). */
void cc_cmd_arg(cc_cmd *cmd, const char *arg, size_t len);

/* Where cmd's keys are: argv[*first] and on, *count of them (0: none, a
 * command about the connection or the server).  A pub/sub channel counts
 * as a key: a node's own channels (SSUBSCRIBE) live in its slots. */
void cc_cmd_keys(const cc_cmd *cmd, int *first, int *count);

/* Whether cmd takes any number of keys and may be split into one command
 * per group of them (MGET, DEL, UNLINK, EXISTS, TOUCH), its replies then
 * joined: arrays in key order, counts added. */
int cc_cmd_splits(const cc_cmd *cmd);

#endif
