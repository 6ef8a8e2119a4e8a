/* procs.c -- finds the processes of this host that have libcgicache, from
 * /proc alone, for `cgicache check --all`.
 *
 * A process has the library when its memory maps hold a file named
 * libcgicache*.so (what ld.so loaded: the truth, whatever the environment
 * says), or when its LD_PRELOAD names one that is not mapped (a static or
 * setuid program, which ld.so never preloads: worth saying).  For each,
 * what the check needs: its command line and executable, its initial
 * environment (where the library read its configuration), whether
 * libfcgi is mapped too, and its sockets: whether one listens (a server)
 * and which connect to Redis.  The library connects to Redis only when a
 * request on one of its routes comes, so a connection is the evidence
 * that a process has answered requests through the cache (a unix socket's
 * peer, which /proc does not show, comes from the kernel's sock_diag, as
 * ss(8) reads it).  Another
 * user's environ and fds need root: such a process is marked private. */
#include "procs.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads a whole /proc file (they have no size) into a NUL-terminated
 * buffer; NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        if (n + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0) {
            if (r < 0) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (buf != NULL) {
        buf[n] = '\0';
        if (len != NULL)
            *len = n;
    }
    return buf;
}

/* Splits a NUL-separated block into a NULL-terminated vector. */
static char **split_nul(char *block, size_t len, int *count)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += block[i] == '\0';
    char **v = calloc((size_t)n + 2, sizeof *v);
    if (v == NULL)
        return NULL;
    int k = 0;
    for (size_t i = 0; i < len; i += strlen(block + i) + 1)
        v[k++] = block + i;
    v[k] = NULL;
    if (count != NULL)
        *count = k;
    return v;
}

static bool names_library(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    return strncmp(base, "libcgicache", 11) == 0 && strstr(base, ".so") != NULL;
}

/* The libcgicache and libfcgi mappings of pid. */
static int read_maps(proc_info *p)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", p->pid);
    char *maps = slurp(path, NULL);
    if (maps == NULL)
        return -1;
    for (char *save = NULL, *l = strtok_r(maps, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        char *file = strchr(l, '/');
        if (file == NULL)
            continue;
        const char *base = strrchr(file, '/') + 1;
        if (strncmp(base, "libfcgi.so", 10) == 0)
            p->libfcgi = true;
        if (p->library[0] == '\0' && names_library(file)) {
            char *deleted = strstr(file, " (deleted)");
            if (deleted != NULL) {
                *deleted = '\0';
                p->library_deleted = true;
            }
            snprintf(p->library, sizeof p->library, "%s", file);
        }
    }
    free(maps);
    return 0;
}

static void read_environ(proc_info *p)
{
    char path[64];
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%d/environ", p->pid);
    p->env_block = slurp(path, &len);
    if (p->env_block == NULL) {
        p->private = true;
        return;
    }
    p->env = split_nul(p->env_block, len, NULL);
    const char *preload = proc_getenv(p, "LD_PRELOAD");
    if (preload != NULL) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", preload);
        for (char *save = NULL, *e = strtok_r(copy, ": ", &save); e != NULL;
             e = strtok_r(NULL, ": ", &save))
            if (names_library(e))
                p->preload_named = true;
    }
}

static void read_identity(proc_info *p)
{
    char path[64];
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%d/cmdline", p->pid);
    p->argv_block = slurp(path, &len);
    if (p->argv_block != NULL) {
        p->argv = split_nul(p->argv_block, len, &p->argc);
        size_t o = 0;
        for (int i = 0; p->argv != NULL && i < p->argc && o + 1 < sizeof p->cmdline; i++)
            o += (size_t)snprintf(p->cmdline + o, sizeof p->cmdline - o, "%s%s", i ? " " : "",
                                  p->argv[i]);
    }
    snprintf(path, sizeof path, "/proc/%d/exe", p->pid);
    ssize_t n = readlink(path, p->exe, sizeof p->exe - 1);
    p->exe[n > 0 ? n : 0] = '\0';
    snprintf(path, sizeof path, "/proc/%d/status", p->pid);
    char *status = slurp(path, NULL);
    for (char *save = NULL, *l = status ? strtok_r(status, "\n", &save) : NULL; l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "Name:", 5) == 0)
            snprintf(p->comm, sizeof p->comm, "%s", l + 5 + strspn(l + 5, " \t"));
        else if (strncmp(l, "PPid:", 5) == 0)
            p->ppid = atoi(l + 5);
        else if (strncmp(l, "Uid:", 4) == 0)
            p->uid = (unsigned)strtoul(l + 4, NULL, 10);
    }
    free(status);
}

static bool has_socket(const proc_info *p, unsigned long inode)
{
    for (size_t i = 0; i < p->nsockets; i++)
        if (p->sockets[i] == inode)
            return true;
    return false;
}

static void read_sockets(proc_info *p)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", p->pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        p->private = true;
        return;
    }
    /* The tool has one thread, and readdir_r is deprecated (glibc). */
    // cppcheck-suppress readdirCalled
    for (struct dirent *e; (e = readdir(d)) != NULL && p->nsockets < PROC_SOCKETS_MAX;) {
        char link[PATH_MAX + 64], target[64];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) == 1)
            p->sockets[p->nsockets++] = inode;
    }
    closedir(d);
    /* Listening: a unix socket with __SO_ACCEPTCON, a TCP one in LISTEN. */
    snprintf(path, sizeof path, "/proc/%d/net/unix", p->pid);
    char *unix_tab = slurp(path, NULL);
    for (char *save = NULL, *l = unix_tab ? strtok_r(unix_tab, "\n", &save) : NULL;
         l != NULL && !p->listening; l = strtok_r(NULL, "\n", &save)) {
        unsigned long flags, inode;
        if (sscanf(l, "%*s %*s %*s %lx %*s %*s %lu", &flags, &inode) == 2 && (flags & 0x10000) &&
            has_socket(p, inode))
            p->listening = inode;
    }
    free(unix_tab);
    for (int v6 = 0; v6 < 2 && !p->listening; v6++) {
        snprintf(path, sizeof path, "/proc/%d/net/tcp%s", p->pid, v6 ? "6" : "");
        char *tab = slurp(path, NULL);
        for (char *save = NULL, *l = tab ? strtok_r(tab, "\n", &save) : NULL;
             l != NULL && !p->listening; l = strtok_r(NULL, "\n", &save)) {
            unsigned st;
            unsigned long inode;
            if (sscanf(l, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &st, &inode) == 2 &&
                st == 0x0A && has_socket(p, inode))
                p->listening = inode;
        }
        free(tab);
    }
}

const char *proc_getenv(const proc_info *p, const char *name)
{
    size_t len = strlen(name);
    for (char **e = p->env; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* "0100007F:1F90" (as the kernel prints it) into "127.0.0.1" and 8080. */
static int parse_endpoint(const char *hex, bool v6, char *ip, size_t cap, int *port)
{
    const char *colon = strchr(hex, ':');
    if (colon == NULL || colon - hex != (v6 ? 32 : 8))
        return -1;
    unsigned char raw[16];
    for (int w = 0; w < (v6 ? 4 : 1); w++) {
        char word[9];
        memcpy(word, hex + 8 * w, 8);
        word[8] = '\0';
        /* Each 32-bit word is printed as the host sees it in memory. */
        uint32_t v = (uint32_t)strtoul(word, NULL, 16);
        memcpy(raw + 4 * w, &v, 4);
    }
    *port = (int)strtol(colon + 1, NULL, 16);
    return inet_ntop(v6 ? AF_INET6 : AF_INET, raw, ip, (socklen_t)cap) != NULL ? 0 : -1;
}

size_t proc_tcp_peers(const proc_info *p, const char *const *ips, size_t nips, int port,
                      char (*local)[64], size_t max)
{
    size_t n = 0;
    for (int v6 = 0; v6 < 2; v6++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/net/tcp%s", p->pid, v6 ? "6" : "");
        char *tab = slurp(path, NULL);
        for (char *save = NULL, *l = tab ? strtok_r(tab, "\n", &save) : NULL; l != NULL && n < max;
             l = strtok_r(NULL, "\n", &save)) {
            char lhex[64], rhex[64], lip[INET6_ADDRSTRLEN], rip[INET6_ADDRSTRLEN];
            unsigned st;
            unsigned long inode;
            int lport, rport;
            if (sscanf(l, "%*s %63s %63s %x %*s %*s %*s %*s %*s %lu", lhex, rhex, &st, &inode) !=
                    4 ||
                st != 0x01 || !has_socket(p, inode) ||
                parse_endpoint(rhex, v6, rip, sizeof rip, &rport) != 0 || rport != port ||
                parse_endpoint(lhex, v6, lip, sizeof lip, &lport) != 0)
                continue;
            /* An IPv4 peer on an IPv6 socket reads ::ffff:a.b.c.d. */
            const char *peer = strncmp(rip, "::ffff:", 7) == 0 ? rip + 7 : rip;
            const char *self = strncmp(lip, "::ffff:", 7) == 0 ? lip + 7 : lip;
            for (size_t i = 0; i < nips; i++)
                if (strcmp(ips[i], peer) == 0) {
                    snprintf(local[n++], 64, strchr(self, ':') ? "[%s]:%d" : "%s:%d", self, lport);
                    break;
                }
        }
        free(tab);
    }
    return n;
}

/* ---- unix sockets: who is connected to whom (sock_diag) ----------------- */

typedef struct {
    unsigned long inode, peer;
    char name[108];  /* the path it is bound to; "" when none */
} unix_sock;

static unix_sock *unix_table;
static size_t unix_count;
static bool unix_loaded;

static void unix_add(const unix_sock *u)
{
    static size_t cap;
    if (unix_count == cap) {
        unix_sock *bigger = realloc(unix_table, (cap = cap ? 2 * cap : 256) * sizeof *bigger);
        if (bigger == NULL)
            return;
        unix_table = bigger;
    }
    unix_table[unix_count++] = *u;
}

/* Every unix socket of this network namespace, with its peer and name:
 * one dump, read once. */
static void unix_load(void)
{
    unix_loaded = true;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return;
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = ~0u;
    msg.req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        close(fd);
        return;
    }
    static char buf[65536] __attribute__((aligned(8)));
    for (;;) {
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got <= 0)
            break;
        int len = (int)got;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                close(fd);
                return;
            }
            const struct unix_diag_msg *m = NLMSG_DATA(h);
            unix_sock u = {.inode = m->udiag_ino};
            int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
            for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen);
                 a = RTA_NEXT(a, alen)) {
                size_t plen = RTA_PAYLOAD(a);
                if (a->rta_type == UNIX_DIAG_NAME && plen > 0 &&
                    ((const char *)RTA_DATA(a))[0] != '\0') {
                    if (plen >= sizeof u.name)
                        plen = sizeof u.name - 1;
                    memcpy(u.name, RTA_DATA(a), plen);
                    u.name[plen] = '\0';
                } else if (a->rta_type == UNIX_DIAG_PEER && plen >= 4) {
                    uint32_t peer;
                    memcpy(&peer, RTA_DATA(a), 4);
                    u.peer = peer;
                }
            }
            unix_add(&u);
        }
    }
    close(fd);
}

static const unix_sock *unix_find(unsigned long inode)
{
    for (size_t i = 0; i < unix_count; i++)
        if (unix_table[i].inode == inode)
            return &unix_table[i];
    return NULL;
}

size_t proc_unix_peers(const proc_info *p, const char *path)
{
    if (!unix_loaded)
        unix_load();
    size_t n = 0;
    for (size_t i = 0; i < p->nsockets; i++) {
        const unix_sock *mine = unix_find(p->sockets[i]);
        const unix_sock *peer = mine != NULL && mine->peer != 0 ? unix_find(mine->peer) : NULL;
        if (peer != NULL && strcmp(peer->name, path) == 0)
            n++;
    }
    return n;
}

void procs_free(proc_info *procs, size_t n)
{
    for (size_t i = 0; procs != NULL && i < n; i++) {
        free(procs[i].env);
        free(procs[i].env_block);
        free(procs[i].argv);
        free(procs[i].argv_block);
    }
    free(procs);
}

size_t procs_find(proc_info **out)
{
    *out = NULL;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    size_t n = 0, cap = 0;
    proc_info *all = NULL;
    int self = (int)getpid();
    // cppcheck-suppress readdirCalled ; one thread: readdir_r is deprecated
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        proc_info p;
        memset(&p, 0, sizeof p);
        p.pid = atoi(e->d_name);
        if (p.pid == self || read_maps(&p) != 0)
            continue;  /* gone, or a kernel thread */
        read_environ(&p);
        if (p.library[0] == '\0' && !p.preload_named) {
            free(p.env);
            free(p.env_block);
            continue;
        }
        read_identity(&p);
        read_sockets(&p);
        char self_dir[32];
        snprintf(self_dir, sizeof self_dir, "/proc/%d", p.pid);
        if (access(self_dir, F_OK) != 0) {
            /* It ended while being read: not "private", gone. */
            free(p.env);
            free(p.env_block);
            free(p.argv);
            free(p.argv_block);
            continue;
        }
        if (n == cap) {
            proc_info *bigger = realloc(all, (cap = cap ? 2 * cap : 16) * sizeof *all);
            if (bigger == NULL) {
                procs_free(all, n);
                closedir(d);
                return 0;
            }
            all = bigger;
        }
        all[n++] = p;
    }
    closedir(d);
    *out = all;
    return n;
}
