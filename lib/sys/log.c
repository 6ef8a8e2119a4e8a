/* log.c -- writes cgicache's messages to stderr.
 *
 * Each message is formatted into one buffer and written with a single
 * write(2), so lines from several workers sharing a stderr do not
 * interleave, and nothing here allocates or takes a stdio lock. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static cc_log_level current_level = CC_LOG_WARN;

void cc_log_set_level(cc_log_level level)
{
    current_level = level;
}

int cc_log_enabled(cc_log_level level)
{
    return level != CC_LOG_OFF && level <= current_level;
}

void cc_log(cc_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"", "error", "warn", "info", "debug"};
    if (!cc_log_enabled(level))
        return;
    int saved_errno = errno;
    char line[1024];
    int n = snprintf(line, sizeof line, "cgicache[%d] %s: ", (int)getpid(), names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w;
    do
        w = write(STDERR_FILENO, line, len);
    while (w < 0 && errno == EINTR);
    errno = saved_errno;
}
