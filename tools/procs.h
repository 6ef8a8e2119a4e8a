/* procs.h -- the processes of this host that have libcgicache (see procs.c). */
#ifndef CGICACHE_PROCS_H
#define CGICACHE_PROCS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define PROC_SOCKETS_MAX 256

typedef struct proc_info {
    int pid, ppid;
    unsigned uid;
    char comm[64];
    char cmdline[512];             /* the arguments, blank-separated, cut */
    char exe[PATH_MAX];            /* "" when not readable */
    char library[PATH_MAX];        /* the libcgicache mapped; "" when only named */
    bool library_deleted;          /* replaced on disk since it was loaded */
    bool libfcgi;                  /* libfcgi is mapped */
    bool preload_named;            /* LD_PRELOAD in its environment names libcgicache */
    bool private;                  /* environ or fds not readable (another user's) */
    char *env_block;               /* /proc/PID/environ */
    char **env;                    /* NULL-terminated pointers into env_block */
    char **argv;                   /* NULL-terminated, into argv_block */
    int argc;
    char *argv_block;
    unsigned long sockets[PROC_SOCKETS_MAX];  /* socket inodes of its fds */
    size_t nsockets;
    unsigned long listening;       /* the inode of one that listens (a server); 0: none */
} proc_info;

/* Every process but this one whose memory maps hold a libcgicache*.so or
 * whose LD_PRELOAD names one.  Returns how many, with *out an array to
 * free with procs_free; 0 and NULL when none (or out of memory). */
size_t procs_find(proc_info **out);
void procs_free(proc_info *procs, size_t n);

/* Its environment's value of name, or NULL. */
const char *proc_getenv(const proc_info *p, const char *name);

/* Writes "ip:port" (IPv6 as "[ip]:port"), the local end, of each of p's
 * TCP connections to port on one of the addresses in ips (numeric
 * strings); returns how many (at most max). */
size_t proc_tcp_peers(const proc_info *p, const char *const *ips, size_t nips, int port,
                      char (*local)[64], size_t max);

/* How many of p's unix sockets are connected to one bound to path. */
size_t proc_unix_peers(const proc_info *p, const char *path);

#endif
