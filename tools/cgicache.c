/* cgicache.c -- the command-line tool's entry point: picks a subcommand.
 *
 * Each subcommand lives in its own file and prints its own --help. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config_load.h"
#include "log.h"
#include "store.h"
#include "tool.h"
#include "version.h"

extern char **environ;

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "run a program with libcgicache.so preloaded"},
    {"check", cmd_check, "show the configuration, report its problems, ping Redis"},
    {"inspect", cmd_inspect, "show the key a URL maps to and its stored entry"},
    {"probe", cmd_probe, "send one FastCGI request to an app's socket; --compare with bypass"},
    {"purge", cmd_purge, "remove cached entries by route, URL, tag or all"},
    {"stats", cmd_stats, "per-route hits, misses, stores ... of every worker"},
    {"top", cmd_top, "the same, live: rates, hit ratio and Redis's state every second"},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: cgicache COMMAND [ARGS]   (cgicache COMMAND --help for more)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n  --version  print the version (the library's is the same)\n");
    fprintf(to, "\nexit status: 0 ok, 1 a problem was found, 2 bad usage\n");
}

int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

cc_config *tool_config(void)
{
    return tool_config_from(environ);
}

cc_config *tool_config_from(char *const *envp)
{
    cc_config *cfg = cc_config_load(envp);
    if (cfg == NULL) {
        fprintf(stderr, "cgicache: out of memory\n");
        exit(EXIT_PROBLEM);
    }
    return cfg;
}

cc_store *tool_store(cc_config *cfg)
{
    if (cfg->timeout_ms < 1000)
        cfg->timeout_ms = 1000;
    if (cfg->connect_timeout_ms < 1000)
        cfg->connect_timeout_ms = 1000;
    cc_store *s = cc_store_open(cfg);
    /* A person asked for a whole tag set or a SCAN page: room for them. */
    if (s != NULL)
        cc_store_reply_limits(s, 1u << 22, 1u << 30);
    return s;
}

int tool_store_peer(const cc_store *s, tool_peer *peer)
{
    memset(peer, 0, sizeof *peer);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    int fd = s != NULL ? cc_store_fd(s) : -1;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    if (sa.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&sa;
        snprintf(peer->path, sizeof peer->path, "%.*s", (int)sizeof peer->path - 1, un->sun_path);
        snprintf(peer->text, sizeof peer->text, "unix:%s", peer->path);
        return 0;
    }
    char port[16];
    if (getnameinfo((struct sockaddr *)&sa, len, peer->ip, sizeof peer->ip, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return -1;
    peer->port = atoi(port);
    /* An IPv4 peer on an IPv6 socket. */
    if (strncmp(peer->ip, "::ffff:", 7) == 0)
        memmove(peer->ip, peer->ip + 7, strlen(peer->ip + 7) + 1);
    snprintf(peer->text, sizeof peer->text, strchr(peer->ip, ':') ? "[%s]:%d" : "%s:%d", peer->ip,
             peer->port);
    return 0;
}

int main(int argc, char **argv)
{
    /* The subcommands report Redis trouble themselves, once. */
    cc_log_set_level(CC_LOG_ERROR);
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("cgicache %s\n", CGICACHE_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cgicache: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
