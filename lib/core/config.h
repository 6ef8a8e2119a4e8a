/* config.h -- cgicache configuration, parsed once from the environment.
 *
 * The whole user contract of CGICACHE_* variables is turned into one
 * immutable cc_config.  Parsing is pure: it reads an envp array and the
 * text of the optional CGICACHE_CONFIG file (the caller reads the file), it
 * never calls getenv() and never aborts.  Every problem becomes a cc_problem
 * value naming the variable and what is wrong; a bad route is dropped, a bad
 * global keeps its default, a bad CGICACHE_REDIS disables caching. */
#ifndef CGICACHE_CONFIG_H
#define CGICACHE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Request method classes, as a bit set. */
enum {
    CC_M_GET = 1u << 0,
    CC_M_HEAD = 1u << 1,
    CC_M_POST = 1u << 2,
    CC_M_PUT = 1u << 3,
    CC_M_PATCH = 1u << 4,
    CC_M_DELETE = 1u << 5,
    CC_M_OPTIONS = 1u << 6,
    CC_M_OTHER = 1u << 7,
};
#define CC_M_SAFE (CC_M_GET | CC_M_HEAD)
#define CC_M_UNSAFE (CC_M_POST | CC_M_PUT | CC_M_PATCH | CC_M_DELETE)

/* Maps "GET", "post" ... to a CC_M_* bit; CC_M_OTHER for anything else. */
unsigned cc_method_bit(const char *method);

typedef enum { CC_COMPRESS_SMART, CC_COMPRESS_ALL, CC_COMPRESS_OFF } cc_compress_mode;
typedef enum { CC_QUERY_ALL, CC_QUERY_NONE, CC_QUERY_LIST } cc_query_mode;
typedef enum { CC_LOG_OFF, CC_LOG_ERROR, CC_LOG_WARN, CC_LOG_INFO, CC_LOG_DEBUG } cc_log_level;

#define CC_NAME_MAX 64      /* route names, header names */
#define CC_MAX_STATUSES 16
#define CC_MAX_LIST 16      /* vary headers, query names, invalidated routes */

/* A request header as configured ("X-Lang") and as the CGI parameter that
 * carries it ("HTTP_X_LANG"), computed once so lookups never convert. */
typedef struct cc_header_name {
    char http[CC_NAME_MAX];
    char cgi[CC_NAME_MAX + 5];
} cc_header_name;

typedef struct cc_route {
    char name[CC_NAME_MAX];          /* [A-Za-z0-9_]+ from CGICACHE_ROUTE_<name> */
    unsigned methods;                /* CC_M_* set; default GET|HEAD */
    char *pattern;                   /* fnmatch(3) glob, no FNM_PATHNAME */
    size_t literal_len;              /* literal text before the first wildcard */
    int64_t ttl_ms;                  /* ttl= or CGICACHE_TTL */
    int64_t stale_ms;                /* stale= or CGICACHE_STALE */
    cc_query_mode query;             /* query= */
    size_t nquery;
    char query_names[CC_MAX_LIST][CC_NAME_MAX]; /* sorted, for CC_QUERY_LIST */
    size_t nvary;
    cc_header_name vary[CC_MAX_LIST];
    size_t nstatuses;
    uint16_t statuses[CC_MAX_STATUSES]; /* default {200} */
    cc_compress_mode compress;       /* compress= or CGICACHE_COMPRESS */
    bool lock;                       /* lock=on|off [on] */
    bool cookies_ignore;             /* cookies=ignore (default bypass) */
    size_t ninvalidates;
    char invalidates[CC_MAX_LIST][CC_NAME_MAX];
} cc_route;

typedef enum { CC_REDIS_TCP, CC_REDIS_UNIX } cc_redis_kind;

typedef struct cc_redis_addr {
    cc_redis_kind kind;
    char host[256];                  /* TCP */
    int port;                        /* TCP, default 6379 */
    char path[108];                  /* unix socket path */
    char password[256];              /* empty: no AUTH */
    int db;                          /* SELECT when non-zero */
} cc_redis_addr;

/* One problem found while parsing, e.g. variable "CGICACHE_TTL",
 * message "bad duration 'x5': expected a number with ms, s, m or h". */
typedef struct cc_problem {
    char variable[CC_NAME_MAX + 16];
    char message[256];
    bool warning;                    /* true: advice, the setting still applies */
} cc_problem;

typedef struct cc_config {
    bool enabled;                    /* CGICACHE_ENABLE and a usable CGICACHE_REDIS */
    cc_redis_addr redis;
    char prefix[CC_NAME_MAX];        /* CGICACHE_PREFIX [cgicache] */
    int64_t ttl_ms;                  /* CGICACHE_TTL [60s] */
    int64_t stale_ms;                /* CGICACHE_STALE [0] */
    int64_t lock_ttl_ms;             /* CGICACHE_LOCK_TTL [5s] */
    int64_t lock_wait_ms;            /* CGICACHE_LOCK_WAIT [= lock_ttl_ms] */
    double early_refresh;            /* CGICACHE_EARLY_REFRESH [0.2], 0 disables */
    size_t max_size;                 /* CGICACHE_MAX_SIZE [8M] */
    cc_compress_mode compress;       /* CGICACHE_COMPRESS [smart] */
    size_t compress_min;             /* CGICACHE_COMPRESS_MIN [1024] */
    int compress_level;              /* CGICACHE_COMPRESS_LEVEL [3] */
    int64_t timeout_ms;              /* CGICACHE_TIMEOUT [50ms] */
    int64_t connect_timeout_ms;      /* CGICACHE_CONNECT_TIMEOUT [50ms] */
    cc_header_name bypass_header;    /* CGICACHE_BYPASS_HEADER [X-Cache-Bypass] */
    char bypass_value[256];          /* CGICACHE_BYPASS_VALUE [unset] */
    bool bypass_value_set;
    char status_header[CC_NAME_MAX]; /* CGICACHE_STATUS_HEADER [X-Cache-Status]; "" disables */
    char tags_header[CC_NAME_MAX];   /* CGICACHE_TAGS_HEADER [X-Cache-Tags] */
    cc_log_level log_level;          /* CGICACHE_LOG [warn] */
    size_t nroutes;
    cc_route *routes;                /* most specific first */
    size_t nproblems;
    cc_problem *problems;
} cc_config;

/* Parses envp (NAME=VALUE strings, NULL-terminated) and, when not NULL, the
 * text of the CGICACHE_CONFIG file (KEY=VALUE lines, '#' comments, blank
 * lines; the environment wins).  Returns NULL only when out of memory. */
cc_config *cc_config_parse(char *const *envp, const char *file_text, size_t file_len);
void cc_config_free(cc_config *cfg);

/* Looks a route up by name; NULL when there is none. */
const cc_route *cc_config_route(const cc_config *cfg, const char *name);

/* Units.  Both return 0 on success, -1 on a malformed or overflowing value.
 * Durations: "300" (seconds), "300ms", "30s", "5m", "1h" -> milliseconds.
 * Sizes: "512", "64k", "8M", "1G" (powers of 1024) -> bytes. */
int cc_parse_duration(const char *text, int64_t *out_ms);
int cc_parse_size(const char *text, size_t *out_bytes);

#endif
