/* config_load.c -- reads the configuration the way every part of cgicache
 * must read it: the environment, plus the CGICACHE_CONFIG file it names.
 *
 * Kept apart from config.c, which is pure, so that the library and the
 * cgicache tool share exactly this code and `cgicache check` reports what
 * the library would do.  An unreadable file is a problem in the result,
 * like any other. */
#include "config_load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "request.h"

#define CONFIG_FILE_MAX (1024 * 1024)

static char *read_file(const char *path, size_t *len, char *why, size_t why_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(CONFIG_FILE_MAX + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (text != NULL && n < CONFIG_FILE_MAX) {
        r = read(fd, text + n, CONFIG_FILE_MAX - n);
        if (r > 0)
            n += (size_t)r;
        else if (r == 0 || errno != EINTR)
            break;
    }
    close(fd);
    if (text == NULL || r < 0) {
        snprintf(why, why_len, "cannot read %s", path);
        free(text);
        return NULL;
    }
    if (n == CONFIG_FILE_MAX) {
        snprintf(why, why_len, "%s is larger than %d bytes", path, CONFIG_FILE_MAX);
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

static void add_problem(cc_config *cfg, const char *message)
{
    cc_problem *grown = realloc(cfg->problems, (cfg->nproblems + 1) * sizeof *grown);
    if (grown == NULL)
        return;
    cfg->problems = grown;
    cc_problem *p = &grown[cfg->nproblems++];
    memset(p, 0, sizeof *p);
    snprintf(p->variable, sizeof p->variable, "CGICACHE_CONFIG");
    snprintf(p->message, sizeof p->message, "%s", message);
}

cc_config *cc_config_load(char *const *envp)
{
    const char *path = cc_env_get(envp, "CGICACHE_CONFIG");
    char why[256] = "";
    size_t len = 0;
    char *text = path != NULL && path[0] != '\0' ? read_file(path, &len, why, sizeof why) : NULL;
    cc_config *cfg = cc_config_parse(envp, text, len);
    free(text);
    if (cfg != NULL && why[0] != '\0')
        add_problem(cfg, why);
    return cfg;
}
