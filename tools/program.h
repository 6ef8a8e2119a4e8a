/* program.h -- what cgicache will do for a program (see program.c). */
#ifndef CGICACHE_PROGRAM_H
#define CGICACHE_PROGRAM_H

#include <limits.h>

typedef enum {
    PROG_NONE,      /* nothing will be cached: why says why */
    PROG_CGI,       /* cached when a web server runs it as CGI */
    PROG_LIBFCGI,   /* a libfcgi app: cached as a FastCGI server */
    PROG_WIRE,      /* serves FastCGI with its own code: the wire adapter */
} prog_kind;

typedef struct {
    prog_kind kind;
    int preload_reaches;    /* the loader will load libcgicache into it */
    char path[PATH_MAX];    /* the file judged (after a PATH search) */
    char loader[1200];       /* whether LD_PRELOAD reaches it, and how */
    char why[512];          /* the verdict, in a sentence */
} prog_verdict;

/* Judges argv[0] run with argv[1..argc-1]; "spawn-fcgi ... -- APP ARGS"
 * judges APP as a FastCGI server. */
void program_verdict(char *const *argv, int argc, prog_verdict *v);

#endif
