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

#include "route.h"

typedef enum { CC_LOG_OFF, CC_LOG_ERROR, CC_LOG_WARN, CC_LOG_INFO, CC_LOG_DEBUG } cc_log_level;


typedef enum { CC_REDIS_TCP, CC_REDIS_UNIX } cc_redis_kind;

#define CC_REDIS_SENTINELS 8
#define CC_REDIS_SEEDS 16

typedef struct cc_redis_node {
    char host[128];
    int port;
} cc_redis_node;

typedef struct cc_redis_addr {
    cc_redis_kind kind;
    char host[256];                  /* TCP (not with sentinels; a cluster's first seed) */
    int port;                        /* TCP, default 6379 */
    char path[108];                  /* unix socket path */
    char user[128];                  /* ACL user; empty: the default user */
    char password[256];              /* empty: no AUTH */
    int db;                          /* SELECT when non-zero */
    bool tls;                        /* rediss:// */
    bool sentinel;                   /* redis-sentinel://: the master is asked for */
    char master[128];                /* the name the sentinels know the master by */
    int nsentinels;
    cc_redis_node sentinels[CC_REDIS_SENTINELS];   /* default port 26379 */
    bool cluster;                    /* redis-cluster://: the keys are spread over masters */
    int nseeds;
    cc_redis_node seeds[CC_REDIS_SEEDS];   /* nodes asked for the slot map; default port 6379 */
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
    char redis_ca[256];              /* CGICACHE_REDIS_CA: file or directory; "" the system's */
    char redis_cert[256];            /* CGICACHE_REDIS_CERT: client certificate (PEM chain) */
    char redis_key[256];             /* CGICACHE_REDIS_KEY: its private key */
    char prefix[CC_NAME_MAX];        /* CGICACHE_PREFIX [cgicache] */
    int64_t ttl_ms;                  /* CGICACHE_TTL [60s] */
    int64_t stale_ms;                /* CGICACHE_STALE [0] */
    int64_t lock_ttl_ms;             /* CGICACHE_LOCK_TTL [5s] */
    int64_t lock_wait_ms;            /* CGICACHE_LOCK_WAIT [= lock_ttl_ms] */
    double early_refresh;            /* CGICACHE_EARLY_REFRESH [1], 0 disables */
    size_t max_size;                 /* CGICACHE_MAX_SIZE [8M] */
    size_t near_size;                /* CGICACHE_NEAR_SIZE [8M]; 0: no near cache */
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

/* What kind of value a global setting takes. */
typedef enum {
    CC_SET_DURATION,         /* above 0 */
    CC_SET_DURATION_ZERO,    /* 0 or more */
    CC_SET_SIZE,
    CC_SET_INT,              /* lo to hi */
    CC_SET_NUMBER,           /* a double, lo to hi */
    CC_SET_CHOICE,           /* one of words, kept as its index */
    CC_SET_ENABLE,           /* one of words; odd indexes mean on */
    CC_SET_HEADER,           /* a header name; empty disables */
    CC_SET_HEADER_NAME,      /* a request header (cc_header_name); empty disables */
    CC_SET_SECRET,           /* never shown */
    CC_SET_PREFIX,
    CC_SET_REDIS,
    CC_SET_PATH,             /* a file or directory name; empty: none */
    CC_SET_NONE,             /* read by someone else (the loader, the tool) */
} cc_setting_kind;

/* One global setting: parsing, the defaults, `cgicache check`, the
 * unknown-name warning and README's table all come from cc_settings. */
typedef struct cc_setting {
    const char *name;        /* "CGICACHE_TTL" */
    cc_setting_kind kind;
    size_t offset;           /* of its field in cc_config */
    const char *fallback;    /* the default, as a user writes it; NULL: none */
    const char *doc;         /* one line for README and the tool */
    const char *const *words;
    long lo, hi;
} cc_setting;

extern const cc_setting cc_settings[];
extern const size_t cc_nsettings;

/* Writes the value cfg has for s the way a user would write it ("60s",
 * "8M", "smart"; a secret shows as "(set)"). */
void cc_setting_format(const cc_config *cfg, const cc_setting *s, char *out, size_t cap);

/* Parses envp (NAME=VALUE strings, NULL-terminated) and, when not NULL, the
 * text of the CGICACHE_CONFIG file (KEY=VALUE lines, '#' comments, blank
 * lines; the environment wins).  Returns NULL only when out of memory. */
cc_config *cc_config_parse(char *const *envp, const char *file_text, size_t file_len);
void cc_config_free(cc_config *cfg);

/* The most specific route of cfg for a request (see cc_routes_match). */
static inline const cc_route *cc_route_match(const cc_config *cfg, unsigned method_bit,
                                             const char *path, size_t path_len)
{
    return cc_routes_match(cfg->routes, cfg->nroutes, method_bit, path, path_len);
}

/* Looks a route up by name; NULL when there is none. */
const cc_route *cc_config_route(const cc_config *cfg, const char *name);

#endif
