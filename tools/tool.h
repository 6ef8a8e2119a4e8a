/* tool.h -- what the cgicache subcommands share. */
#ifndef CGICACHE_TOOL_H
#define CGICACHE_TOOL_H

#include <stdbool.h>

#include "config.h"

/* Exit codes, documented in cgicache(1). */
enum { EXIT_OK = 0, EXIT_PROBLEM = 1, EXIT_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_purge(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_top(int argc, char **argv);

/* True when argv holds -h or --help before any "--". */
int wants_help(int argc, char **argv);

/* The configuration from the environment, exactly as the library reads it;
 * exits with EXIT_PROBLEM when memory runs out. */
cc_config *tool_config(void);
/* The same from another environment (a running process's). */
cc_config *tool_config_from(char *const *envp);

/* check --all (check_all.c): every process of this host with the library. */
int check_all(bool json);

/* A Redis connection of the tool's own, with timeouts fit for a person
 * waiting (at least a second) rather than for a request; NULL when Redis
 * cannot be reached. */
struct cc_store *tool_store(cc_config *cfg);

/* Where a connected store's socket leads: the Redis actually spoken to
 * (behind Sentinel, the master it found), as "ip:port" ("[ip]:port" for
 * IPv6) with ip and port, or as a unix socket's path. */
typedef struct tool_peer {
    char text[128];
    char ip[64];
    int port;        /* 0 for a unix socket */
    char path[108];  /* "" for TCP */
} tool_peer;
int tool_store_peer(const struct cc_store *s, tool_peer *peer);

#endif
