/* log.h -- cgicache's messages on stderr, one line each, "cgicache: ...".
 *
 * The level is set once at load from CGICACHE_LOG.  Messages never carry
 * secrets: callers pass keys and route names, never passwords or the
 * bypass value. */
#ifndef CGICACHE_LOG_H
#define CGICACHE_LOG_H

#include "config.h"

void cc_log_set_level(cc_log_level level);
int cc_log_enabled(cc_log_level level);
void cc_log(cc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cc_error(...) cc_log(CC_LOG_ERROR, __VA_ARGS__)
#define cc_warn(...) cc_log(CC_LOG_WARN, __VA_ARGS__)
#define cc_info(...) cc_log(CC_LOG_INFO, __VA_ARGS__)
#define cc_debug(...)                          \
    do {                                       \
        if (cc_log_enabled(CC_LOG_DEBUG))      \
            cc_log(CC_LOG_DEBUG, __VA_ARGS__); \
    } while (0)

#endif
