/* policy.c -- what may be served from or stored in the cache.
 *
 * Requests: a forwarding header the key does not cover could make the app
 * answer for another host, scheme, URL or method than the key says (the
 * classic cache-poisoning vector), so such a request neither reads nor
 * writes the cache -- unless the route keys on that header with vary=,
 * which makes every variant an entry of its own.  Nor does a request with
 * a body or an unsafe method, one carrying the bypass header, a client's
 * no-cache, an Authorization, a user the server authenticated or (unless
 * cookies=ignore) a Cookie; nor one that apps could read two ways: a
 * parameter the rules or the key read, repeated with different values,
 * or a path not in normal form (path.h).
 *
 * Responses: never stored with Set-Cookie, Cache-Control private /
 * no-store / no-cache, a Vary the key does not cover, a status the route
 * does not list or a body over the size limit.  The app's own expiry
 * headers override the route's TTL in nginx's order, and, as in nginx, a
 * malformed max-age or Expires means "do not store", never "store with
 * the route's TTL": the app asked for something, and we cannot tell what.
 *
 * Early refresh is XFetch (Vattani et al., VLDB 2015); the random draw is
 * the caller's, so the rule stays pure and testable. */
#include "policy.h"

#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

/* ---- requests -------------------------------------------------------------- */

/* What a request parameter means to the rules. */
typedef enum {
    RULE_NONE,               /* only watched for repeats */
    RULE_CACHE_CONTROL,
    RULE_PRAGMA,
    RULE_AUTHORIZATION,
    RULE_COOKIE,
    RULE_REMOTE_USER,        /* a user the server authenticated */
    RULE_CLIENT_CERT,        /* SSL_CLIENT_VERIFY: SUCCESS is a user too */
    RULE_FORWARDING,         /* see below */
    RULE_ASK,                /* a precondition or a range (delivery.h) */
} rule;

typedef struct known_param {
    const char *name;
    size_t len;
    rule rule;
    bool watched;            /* repeats that differ make the request ambiguous */
    size_t ask_at;           /* RULE_ASK: where in cc_ask its value goes */
} known_param;

#define WATCH(literal, r)                       \
    {                                           \
        literal, sizeof literal - 1, r, true, 0 \
    }
#define FORWARDING(literal)                                    \
    {                                                          \
        literal, sizeof literal - 1, RULE_FORWARDING, false, 0 \
    }
#define ASK(literal, field)                                                  \
    {                                                                        \
        literal, sizeof literal - 1, RULE_ASK, true, offsetof(cc_ask, field) \
    }

/* Every parameter the rules read.  Watched ones are those the key or the
 * rules read: a request that repeats one of them with different values is
 * not cached, since libfcgi and getenv() read the first copy, Perl's
 * FCGI.pm and dict-based servers the last, and the key cannot be right
 * for both.
 *
 * Forwarding headers make an app, or the framework or proxy-fix
 * middleware under it, build URLs or pick a handler for another host,
 * port, scheme, path or method than the request line says.  Gathered
 * from what Rack, Rails, Django, Werkzeug's ProxyFix, Flask, Symfony,
 * Laravel, Zend/Laminas, Spring, ASP.NET, Express, Tornado, Mojolicious,
 * Plack's ReverseProxy(Path), Catalyst, WordPress, Drupal, IIS ARR,
 * Traefik, CloudFront and nginx's auth_request setups read.  Headers that
 * only name the client (X-Forwarded-For, X-Real-IP) are not here: an app
 * that answers by client address must not be cached by address anyway.
 * README.md lists them; keep the two in step. */
static const known_param known[] = {
    WATCH("REQUEST_METHOD", RULE_NONE),
    WATCH("REQUEST_URI", RULE_NONE),
    WATCH("QUERY_STRING", RULE_NONE),
    WATCH("SCRIPT_NAME", RULE_NONE),
    WATCH("PATH_INFO", RULE_NONE),
    WATCH("DOCUMENT_URI", RULE_NONE),
    WATCH("SERVER_NAME", RULE_NONE),
    WATCH("SERVER_PORT", RULE_NONE),
    WATCH("HTTPS", RULE_NONE),
    WATCH("REQUEST_SCHEME", RULE_NONE),
    WATCH("CONTENT_LENGTH", RULE_NONE),
    WATCH("AUTH_TYPE", RULE_NONE),
    WATCH("HTTP_HOST", RULE_NONE),
    WATCH("HTTP_TRANSFER_ENCODING", RULE_NONE),
    WATCH("REMOTE_USER", RULE_REMOTE_USER),
    WATCH("SSL_CLIENT_VERIFY", RULE_CLIENT_CERT),
    WATCH("HTTP_COOKIE", RULE_COOKIE),
    WATCH("HTTP_AUTHORIZATION", RULE_AUTHORIZATION),
    WATCH("HTTP_CACHE_CONTROL", RULE_CACHE_CONTROL),
    WATCH("HTTP_PRAGMA", RULE_PRAGMA),
    ASK("HTTP_IF_MATCH", if_match),
    ASK("HTTP_IF_NONE_MATCH", if_none_match),
    ASK("HTTP_IF_MODIFIED_SINCE", if_modified_since),
    ASK("HTTP_IF_UNMODIFIED_SINCE", if_unmodified_since),
    ASK("HTTP_RANGE", range),
    ASK("HTTP_IF_RANGE", if_range),
    ASK("HTTP_ACCEPT_ENCODING", accept_encoding),
    FORWARDING("HTTP_FORWARDED"),
    FORWARDING("HTTP_X_FORWARDED_HOST"),
    FORWARDING("HTTP_X_FORWARDED_SERVER"),
    FORWARDING("HTTP_X_FORWARDED_PORT"),
    FORWARDING("HTTP_X_FORWARDED_PROTO"),
    FORWARDING("HTTP_X_FORWARDED_PROTOCOL"),
    FORWARDING("HTTP_X_FORWARDED_SCHEME"),
    FORWARDING("HTTP_X_FORWARDED_SSL"),
    FORWARDING("HTTP_X_FORWARDED_HTTPS"),
    FORWARDING("HTTP_X_FORWARDED_PREFIX"),
    FORWARDING("HTTP_X_FORWARDED_PATH"),
    FORWARDING("HTTP_X_FORWARDED_URI"),
    FORWARDING("HTTP_X_FORWARDED_URL"),
    FORWARDING("HTTP_X_FORWARDED_SCRIPT_NAME"),
    FORWARDING("HTTP_X_FRONT_END_HTTPS"),
    FORWARDING("HTTP_FRONT_END_HTTPS"),
    FORWARDING("HTTP_X_URL_SCHEME"),
    FORWARDING("HTTP_X_SCHEME"),
    FORWARDING("HTTP_X_ARR_SSL"),
    FORWARDING("HTTP_CLOUDFRONT_FORWARDED_PROTO"),
    FORWARDING("HTTP_X_SCRIPT_NAME"),
    FORWARDING("HTTP_SCRIPT_NAME"),
    FORWARDING("HTTP_X_TRAVERSAL_PATH"),
    FORWARDING("HTTP_X_HOST"),
    FORWARDING("HTTP_X_HTTP_HOST_OVERRIDE"),
    FORWARDING("HTTP_X_ORIGINAL_HOST"),
    FORWARDING("HTTP_X_ORIGINAL_PROTO"),
    FORWARDING("HTTP_X_ORIGINAL_URI"),
    FORWARDING("HTTP_X_ORIGINAL_URL"),
    FORWARDING("HTTP_X_REWRITE_URL"),
    FORWARDING("HTTP_X_OVERRIDE_URL"),
    FORWARDING("HTTP_UNENCODED_URL"),
    FORWARDING("HTTP_X_HTTP_METHOD_OVERRIDE"),
    FORWARDING("HTTP_X_HTTP_METHOD"),
    FORWARDING("HTTP_X_METHOD_OVERRIDE"),
    FORWARDING("HTTP_X_ORIGINAL_METHOD"),
};

#define NKNOWN (sizeof known / sizeof known[0])

/* An open-addressing hash of known[], made once, so that a parameter is
 * compared with at most one or two names (a hit looks at every parameter
 * of every request).  Slots hold index + 1; 0 is empty. */
#define SLOTS 256
static unsigned char slots[SLOTS];
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static size_t slot_of(const char *name, size_t len)
{
    return (len * 7 + (unsigned char)name[len - 1] * 3 + (unsigned char)name[len / 2]) % SLOTS;
}

static void build_index(void)
{
    for (size_t i = 0; i < NKNOWN; i++) {
        size_t h = slot_of(known[i].name, known[i].len);
        while (slots[h] != 0)
            h = (h + 1) % SLOTS;
        slots[h] = (unsigned char)(i + 1);
    }
}

/* The known parameter kv names (its name is len bytes long), or NULL. */
static const known_param *lookup(const char *kv, size_t len)
{
    if (len == 0)
        return NULL;
    for (size_t h = slot_of(kv, len); slots[h] != 0; h = (h + 1) % SLOTS) {
        const known_param *k = &known[slots[h] - 1];
        if (k->len == len && memcmp(kv, k->name, len) == 0)
            return k;
    }
    return NULL;
}

static bool route_varies_on(const cc_route *route, const char *cgi_name)
{
    for (size_t i = 0; i < route->nvary; i++)
        if (strcmp(route->vary[i].cgi, cgi_name) == 0)
            return true;
    return false;
}

int cc_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Every byte of the longer string is looked at, whatever matches, so
     * the time taken says nothing about how much of a guess was right. */
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* The route's vary headers and the bypass header, named by the
 * configuration rather than known[]: their lengths, found once. */
typedef struct configured {
    size_t vary_len[CC_MAX_LIST];
    size_t bypass_len;
} configured;

/* What the rules learn from one pass over the params (a routed request
 * is looked at on every hit).  Every copy of a repeated parameter counts:
 * a request is private, no-cache or bypassing if any copy makes it so. */
typedef struct request_view {
    bool bypass, no_cache, private, uncovered_forwarding, conflicting;
    cc_ask ask;
    /* The first value of each watched parameter, to compare repeats with:
     * known[] first, then the vary headers, then the bypass header. */
    const char *first[NKNOWN + CC_MAX_LIST + 1];
} request_view;

static bool bypass_matches(const cc_config *cfg, const char *v)
{
    return !cfg->bypass_value_set ||
           cc_secret_equal(v, strlen(v), cfg->bypass_value, strlen(cfg->bypass_value));
}

static bool lists(const char *v, const char *token)
{
    return cc_list_has(v, strlen(v), token);
}

/* Notes a watched parameter's value: a repeat that differs is a conflict. */
static void watch(request_view *h, size_t slot, const char *value)
{
    if (h->first[slot] == NULL)
        h->first[slot] = value;
    else if (strcmp(h->first[slot], value) != 0)
        h->conflicting = true;
}

static void apply(const cc_route *route, request_view *h, const known_param *k, const char *v)
{
    switch (k->rule) {
    case RULE_NONE:
        break;
    case RULE_CACHE_CONTROL:
        h->no_cache |= lists(v, "no-cache") || lists(v, "no-store");
        break;
    case RULE_PRAGMA:
        h->no_cache |= lists(v, "no-cache");
        break;
    case RULE_AUTHORIZATION:
        h->private = true;
        break;
    case RULE_COOKIE:
        h->private |= v[0] != '\0' && !route->cookies_ignore;
        break;
    case RULE_REMOTE_USER:
        h->private |= v[0] != '\0';
        break;
    case RULE_CLIENT_CERT:
        h->private |= strcmp(v, "SUCCESS") == 0;
        break;
    case RULE_FORWARDING:
        h->uncovered_forwarding |= !route_varies_on(route, k->name);
        break;
    case RULE_ASK:
        memcpy((char *)&h->ask + k->ask_at, &v, sizeof v);
        break;
    }
}

/* The rules of one parameter (name len bytes long, value v). */
static void look_at(const cc_config *cfg, const cc_route *route, const configured *c,
                    request_view *h, const char *kv, size_t len, const char *v)
{
    const known_param *k = lookup(kv, len);
    if (k != NULL) {
        if (k->watched)
            watch(h, (size_t)(k - known), v);
        apply(route, h, k, v);
    }
    for (size_t i = 0; i < route->nvary; i++)
        if (len == c->vary_len[i] && memcmp(kv, route->vary[i].cgi, len) == 0)
            watch(h, NKNOWN + i, v);
    if (len == c->bypass_len && c->bypass_len > 0 && memcmp(kv, cfg->bypass_header.cgi, len) == 0) {
        watch(h, NKNOWN + CC_MAX_LIST, v);
        h->bypass |= bypass_matches(cfg, v);
    }
}

static void view_request(const cc_config *cfg, const cc_route *route, char *const *envp,
                         request_view *h)
{
    configured c;
    pthread_once(&index_once, build_index);
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < route->nvary; i++)
        c.vary_len[i] = strlen(route->vary[i].cgi);
    c.bypass_len = strlen(cfg->bypass_header.cgi);
    for (char *const *e = envp; *e != NULL; e++) {
        const char *kv = *e;
        const char *eq = strchr(kv, '=');
        if (eq != NULL)
            look_at(cfg, route, &c, h, kv, (size_t)(eq - kv), eq + 1);
    }
}

cc_req_class cc_policy_request(const cc_config *cfg, const cc_route *route, const cc_request *rq)
{
    cc_ask ask;
    return cc_policy_request_ask(cfg, route, rq, &ask);
}

cc_req_class cc_policy_request_ask(const cc_config *cfg, const cc_route *route,
                                   const cc_request *rq, cc_ask *ask)
{
    memset(ask, 0, sizeof *ask);
    if (!(rq->method_bit & CC_M_SAFE) || rq->has_body)
        return CC_REQ_UNSAFE;
    request_view h;
    view_request(cfg, route, rq->envp, &h);
    *ask = h.ask;
    if (h.uncovered_forwarding)
        return CC_REQ_UNSAFE;
    if (h.conflicting || !rq->path_normal)
        return CC_REQ_AMBIGUOUS;
    if (h.bypass)
        return CC_REQ_BYPASS;
    if (h.no_cache)
        return CC_REQ_NO_CACHE;
    if (h.private)
        return CC_REQ_PRIVATE;
    return CC_REQ_CACHEABLE;
}

/* ---- responses ------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The route's lifetime for a status it stores (status=404:30s, else
 * ttl=), or -1 when it does not store that status. */
static int64_t status_ttl(const cc_route *route, int status)
{
    for (size_t i = 0; i < route->nstatuses; i++)
        if (route->statuses[i] == status)
            return route->status_ttl_ms[i] > 0 ? route->status_ttl_ms[i] : route->ttl_ms;
    return -1;
}

static bool route_keys_on(const cc_route *route, const char *name, size_t len)
{
    /* The cache's own negotiation answers for Accept-Encoding: a body the
     * app encoded goes only to clients that take its coding (hit.h). */
    if (len == 15 && strncasecmp(name, "Accept-Encoding", 15) == 0)
        return true;
    for (size_t i = 0; i < route->nvary; i++)
        if (strlen(route->vary[i].http) == len && strncasecmp(route->vary[i].http, name, len) == 0)
            return true;
    return false;
}

/* A Vary member the key does not cover means two clients could get each
 * other's variant.  Every Vary header counts, and every member of each;
 * "*" is never covered. */
static bool vary_covered(const cc_route *route, const cc_head *head)
{
    for (size_t i = 0; i < head->nheaders; i++) {
        const cc_header *h = &head->headers[i];
        if (h->name_len != 4 || strncasecmp(h->name, "Vary", 4) != 0)
            continue;
        const char *v = h->value, *end = h->value + h->value_len;
        while (v < end) {
            while (v < end && (*v == ',' || is_blank(*v)))
                v++;
            const char *name = v;
            while (v < end && *v != ',' && !is_blank(*v))
                v++;
            if (v > name && !route_keys_on(route, name, (size_t)(v - name)))
                return false;
        }
    }
    return true;
}

/* Digits from *p to end, at least one; saturates at CC_SECONDS_MAX.
 * Returns -1 when there are none. */
static int64_t read_seconds(const char **p, const char *end)
{
    const char *first = *p;
    int64_t v = 0;
    for (; *p < end && **p >= '0' && **p <= '9'; (*p)++)
        v = v >= CC_SECONDS_MAX / 10 ? CC_SECONDS_MAX : v * 10 + (**p - '0');
    if (*p == first)
        return -1;
    return v > CC_SECONDS_MAX ? CC_SECONDS_MAX : v;
}

/* The lifetime X-Accel-Expires sets, in ms: seconds, or "@" and an
 * absolute Unix time (0 once past).  -1 when the value is not one of
 * those: nginx then ignores the header, and so do we. */
static int64_t accel_expires(const cc_header *h, int64_t now_ms)
{
    const char *p = h->value, *end = h->value + h->value_len;
    bool absolute = p < end && *p == '@';
    p += absolute;
    int64_t secs = read_seconds(&p, end);
    if (secs < 0 || p != end)
        return -1;
    if (!absolute)
        return secs * 1000;
    int64_t left = secs * 1000 - now_ms;
    return left > 0 ? left : 0;
}

/* The one value of a field the app may have written on several lines:
 * 1 with *out its first line when every line says the same, 0 when there
 * is none, -1 when two lines disagree (which of them a client or another
 * cache believes is anyone's guess, so the response is not stored). */
static int single_field(const cc_head *head, const char *name, const cc_header **out)
{
    const cc_header *first = cc_head_find(head, name);
    *out = first;
    if (first == NULL)
        return 0;
    for (const cc_header *h = first; (h = cc_head_next(head, h, name)) != NULL;)
        if (h->value_len != first->value_len || memcmp(h->value, first->value, h->value_len) != 0)
            return -1;
    return 1;
}

/* The lifetime Cache-Control sets, every line of it taken together (RFC
 * 9110 §5.3): s-maxage (meant for shared caches like this one) before
 * max-age.  -1 when it sets none; 0 when a directive is there but not a
 * number, or is given twice with different numbers. */
static int64_t cache_control_age(const cc_head *head)
{
    static const char *const directives[] = {"s-maxage", "max-age"};
    for (size_t i = 0; i < 2; i++) {
        int64_t secs = 0, v;
        bool found = false;
        for (const cc_header *h = NULL; (h = cc_head_next(head, h, "Cache-Control")) != NULL;) {
            int r = cc_list_seconds_all(h->value, h->value_len, directives[i], &v);
            if (r < 0 || (r > 0 && found && v != secs))
                return 0;
            if (r > 0) {
                secs = v;
                found = true;
            }
        }
        if (found)
            return secs * 1000;
    }
    return -1;
}

/* Expires against the response's Date (RFC 9111 4.2.1), else against now;
 * an Expires that does not parse means "already expired". */
static int64_t expires_age(const cc_head *head, const cc_header *expires, int64_t now_ms)
{
    int64_t at, date = now_ms;
    const cc_header *d;
    if (single_field(head, "Date", &d) < 0)
        return 0;
    if (d != NULL && cc_parse_http_date(d->value, d->value_len, &date) != 0)
        date = now_ms;
    if (cc_parse_http_date(expires->value, expires->value_len, &at) != 0 || at <= date)
        return 0;
    return at - date;
}

/* The lifetime the app's own headers set, in nginx's order, or -1; a
 * field repeated with different values sets 0. */
static int64_t app_lifetime(const cc_head *head, int64_t now_ms)
{
    const cc_header *h;
    int64_t ms = -1;
    int r = single_field(head, "X-Accel-Expires", &h);
    if (r < 0)
        return 0;
    if (r > 0)
        ms = accel_expires(h, now_ms);
    if (ms < 0)
        ms = cache_control_age(head);
    if (ms < 0 && (r = single_field(head, "Expires", &h)) != 0)
        ms = r < 0 ? 0 : expires_age(head, h, now_ms);
    return ms;
}

/* Any line of Cache-Control forbidding a shared cache to store, or (for
 * HTTP/1.0 apps) any Pragma: no-cache. */
static bool cache_control_forbids(const cc_head *head)
{
    for (const cc_header *h = NULL; (h = cc_head_next(head, h, "Cache-Control")) != NULL;)
        if (cc_list_has(h->value, h->value_len, "private") ||
            cc_list_has(h->value, h->value_len, "no-store") ||
            cc_list_has(h->value, h->value_len, "no-cache"))
            return true;
    for (const cc_header *h = NULL; (h = cc_head_next(head, h, "Pragma")) != NULL;)
        if (cc_list_has(h->value, h->value_len, "no-cache"))
            return true;
    return false;
}

int64_t cc_policy_error_window(const cc_route *route, const char *head, size_t head_len)
{
    const char *p = head, *end = head + head_len;
    int64_t secs = 0, v;
    bool directive = false, revalidate = false;
    cc_line line;
    while (cc_stored_line(&p, end, &line)) {
        if (!cc_line_is(&line, "Cache-Control"))
            continue;
        int r = cc_list_seconds_all(line.value, line.value_len, "stale-if-error", &v);
        if (r < 0 || (r > 0 && directive && v != secs))
            return 0;
        if (r > 0) {
            secs = v;
            directive = true;
        }
        revalidate = revalidate || cc_list_has(line.value, line.value_len, "must-revalidate") ||
                     cc_list_has(line.value, line.value_len, "proxy-revalidate");
    }
    if (directive)
        return secs * 1000;
    return revalidate ? 0 : route->stale_if_error_ms;
}

/* Why a response must not be stored whatever its lifetime, or NULL. */
static const char *refusal(const cc_config *cfg, const cc_route *route, const cc_head *head,
                           size_t body_len)
{
    if (head->status == 206 || head->status == 304)
        return "a partial or not-modified response (never the whole representation)";
    if (status_ttl(route, head->status) < 0)
        return "status not in the route's list";
    if (cc_head_find(head, "Set-Cookie") != NULL || cc_head_find(head, "Set-Cookie2") != NULL)
        return "Set-Cookie";
    if (cache_control_forbids(head))
        return "Cache-Control private, no-store or no-cache, or Pragma no-cache";
    if (!vary_covered(route, head))
        return "Vary names a header the route does not key on";
    if (body_len > cfg->max_size)
        return "larger than CGICACHE_MAX_SIZE";
    return NULL;
}

int64_t cc_policy_response_ttl(const cc_config *cfg, const cc_route *route, const cc_head *head,
                               size_t body_len, int64_t now_ms, const char **why)
{
    const char *reason = refusal(cfg, route, head, body_len);
    int64_t ttl = 0;
    if (reason == NULL) {
        int64_t app = app_lifetime(head, now_ms);
        ttl = app >= 0 ? app : status_ttl(route, head->status);
        if (ttl <= 0)
            reason = app >= 0 ? "expired: the app's expiry headers say 0 or the past"
                              : "the route's ttl is 0";
    }
    if (reason != NULL) {
        if (why != NULL)
            *why = reason;
        return 0;
    }
    return ttl;
}

/* ---- early refresh ------------------------------------------------------------ */

int cc_policy_early_refresh(int64_t now_ms, int64_t expiry_ms, int64_t compute_ms, double beta,
                            double rand01)
{
    /* Written so that NaN refuses too. */
    if (!(beta > 0) || !(rand01 > 0 && rand01 <= 1))
        return 0;
    if (compute_ms < 1)
        compute_ms = 1;
    /* -ln(rand01) is an exponential draw: most refreshes land within a
     * few compute times of the expiry, the earliest rarely, and the
     * longer a recomputation takes the earlier it tends to start. */
    double lead = -(double)compute_ms * beta * log(rand01);
    return (double)now_ms + lead >= (double)expiry_ms;
}
