/* run.c -- `cgicache run [-e KEY=VALUE]... -- COMMAND [ARGS]`.
 *
 * Starts COMMAND with libcgicache.so first in LD_PRELOAD, the way
 * libfaketime's faketime does.  The library is looked for in CGICACHE_LIB,
 * next to this executable (build/), in ../lib of its prefix, then in the
 * directory `make install` was told to put it in (INSTALL_LIBDIR: the
 * Debian package's is the multiarch one, /usr/lib/<triplet>). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#ifndef CGICACHE_LIBDIR
#define CGICACHE_LIBDIR "/usr/local/lib"
#endif

static int find_library(char *out, size_t cap)
{
    const char *forced = getenv("CGICACHE_LIB");
    if (forced != NULL && forced[0] != '\0') {
        snprintf(out, cap, "%s", forced);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    /* The last one names no directory of the tool's: %.0s takes none. */
    static const char *const candidates[] = {"%s/libcgicache.so", "%s/../lib/libcgicache.so",
                                             CGICACHE_LIBDIR "/libcgicache.so%.0s"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (snprintf(out, cap, candidates[i], self) >= (int)cap)
            continue;
        char resolved[PATH_MAX];
        if (realpath(out, resolved) != NULL && access(resolved, R_OK) == 0) {
            snprintf(out, cap, "%s", resolved);
            return 0;
        }
    }
    return -1;
}

static void help(void)
{
    printf("usage: cgicache run [-e KEY=VALUE]... -- COMMAND [ARGS]\n\n"
           "Runs COMMAND with libcgicache.so preloaded.  -e sets a variable for it,\n"
           "e.g. -e CGICACHE_ROUTE_blogs='GET /blogs/* ttl=300'.\n"
           "The library is CGICACHE_LIB, else the one next to this tool, else PREFIX/lib,\n"
           "else " CGICACHE_LIBDIR "/libcgicache.so.\n");
}

int cmd_run(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-e") == 0 && i + 1 < argc && strchr(argv[i + 1], '=') != NULL) {
            if (putenv(argv[++i]) != 0) {
                perror("cgicache run: -e");
                return EXIT_PROBLEM;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "cgicache run: unknown option '%s' (want -e KEY=VALUE or --)\n",
                    argv[i]);
            return EXIT_USAGE;
        } else {
            break;      /* the command itself, without a "--" */
        }
    }
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (i >= argc) {
        fprintf(stderr, "cgicache run: no command given\n");
        return EXIT_USAGE;
    }
    char lib[PATH_MAX];
    if (find_library(lib, sizeof lib) != 0) {
        fprintf(stderr, "cgicache run: libcgicache.so not found (set CGICACHE_LIB)\n");
        return EXIT_PROBLEM;
    }
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(lib) + (old != NULL ? strlen(old) + 1 : 0) + 1;
    char *preload = malloc(len);
    if (preload == NULL)
        return EXIT_PROBLEM;
    snprintf(preload, len, "%s%s%s", lib, old != NULL && old[0] ? ":" : "", old != NULL ? old : "");
    setenv("LD_PRELOAD", preload, 1);
    free(preload);
    execvp(argv[i], argv + i);
    fprintf(stderr, "cgicache run: cannot run %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
