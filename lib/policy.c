/* policy.c -- what may be served from or stored in the cache.
 *
 * Requests: a forwarding header the key does not cover could make the app
 * answer for another host, scheme, URL or method than the key says (the
 * classic cache-poisoning vector), so such a request neither reads nor
 * writes the cache -- unless the route keys on that header with vary=,
 * which makes every variant an entry of its own.  Nor does a request with
 * a body or an unsafe method, one carrying the bypass header, a client's
 * no-cache, an Authorization or (unless cookies=ignore) a Cookie.
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
#include <string.h>
#include <strings.h>

/* ---- requests -------------------------------------------------------------- */

/* A parameter name with its length, so that most names are ruled out by
 * their length alone. */
typedef struct param_name {
    const char *name;
    size_t len;
} param_name;

#define PARAM(literal) {literal, sizeof literal - 1}

/* Request headers that make an app (or a framework under it) build URLs or
 * pick a handler for another host, port, scheme, path or method than the
 * request line says. */
static const param_name forwarding[] = {
    PARAM("HTTP_FORWARDED"),
    PARAM("HTTP_X_FORWARDED_HOST"),
    PARAM("HTTP_X_FORWARDED_SERVER"),
    PARAM("HTTP_X_FORWARDED_PORT"),
    PARAM("HTTP_X_FORWARDED_PROTO"),
    PARAM("HTTP_X_FORWARDED_SCHEME"),
    PARAM("HTTP_X_FORWARDED_SSL"),
    PARAM("HTTP_X_FORWARDED_PREFIX"),
    PARAM("HTTP_X_HOST"),
    PARAM("HTTP_X_ORIGINAL_HOST"),
    PARAM("HTTP_X_ORIGINAL_URL"),
    PARAM("HTTP_X_REWRITE_URL"),
    PARAM("HTTP_X_HTTP_METHOD_OVERRIDE"),
    PARAM("HTTP_X_HTTP_METHOD"),
    PARAM("HTTP_X_METHOD_OVERRIDE"),
};

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

/* The request headers the rules below look at.  They are found in one
 * pass over the params (a routed request is looked at on every hit, and
 * one lookup per header was most of a hit's work). */
typedef struct request_headers {
    const char *bypass, *cache_control, *pragma, *authorization, *cookie;
    bool uncovered_forwarding;
} request_headers;

/* Is the parameter kv, whose name is len bytes long, named p? */
static bool named(const char *kv, size_t len, param_name p)
{
    return len == p.len && memcmp(kv, p.name, len) == 0;
}

static void take(const char **slot, const char *kv, size_t len, param_name p)
{
    if (*slot == NULL && named(kv, len, p))
        *slot = kv + len + 1;   /* the first of a repeated parameter, as getenv() */
}

static void find_headers(const cc_config *cfg, const cc_route *route, char *const *envp,
                         request_headers *h)
{
    param_name bypass = {cfg->bypass_header.cgi, strlen(cfg->bypass_header.cgi)};
    memset(h, 0, sizeof *h);
    for (char *const *e = envp; *e != NULL; e++) {
        const char *kv = *e;
        const char *eq = strncmp(kv, "HTTP_", 5) == 0 ? strchr(kv + 5, '=') : NULL;
        if (eq == NULL)
            continue;
        size_t len = (size_t)(eq - kv);
        if (bypass.len > 0)
            take(&h->bypass, kv, len, bypass);
        take(&h->cache_control, kv, len, (param_name)PARAM("HTTP_CACHE_CONTROL"));
        take(&h->pragma, kv, len, (param_name)PARAM("HTTP_PRAGMA"));
        take(&h->authorization, kv, len, (param_name)PARAM("HTTP_AUTHORIZATION"));
        take(&h->cookie, kv, len, (param_name)PARAM("HTTP_COOKIE"));
        for (size_t i = 0; !h->uncovered_forwarding && i < sizeof forwarding / sizeof forwarding[0]; i++)
            if (named(kv, len, forwarding[i]) && !route_varies_on(route, forwarding[i].name))
                h->uncovered_forwarding = true;
    }
}

static bool bypass_matches(const cc_config *cfg, const char *v)
{
    if (v == NULL)
        return false;
    return !cfg->bypass_value_set ||
           cc_secret_equal(v, strlen(v), cfg->bypass_value, strlen(cfg->bypass_value));
}

static bool lists(const char *v, const char *token)
{
    return v != NULL && cc_list_has(v, strlen(v), token);
}

static bool client_refuses_cache(const request_headers *h)
{
    return lists(h->cache_control, "no-cache") || lists(h->cache_control, "no-store") ||
           lists(h->pragma, "no-cache");
}

static bool is_private(const cc_route *route, const request_headers *h)
{
    if (h->authorization != NULL)
        return true;
    return h->cookie != NULL && h->cookie[0] != '\0' && !route->cookies_ignore;
}

cc_req_class cc_policy_request(const cc_config *cfg, const cc_route *route, const cc_request *rq)
{
    if (!(rq->method_bit & CC_M_SAFE) || rq->has_body)
        return CC_REQ_UNSAFE;
    request_headers h;
    find_headers(cfg, route, rq->envp, &h);
    if (h.uncovered_forwarding)
        return CC_REQ_UNSAFE;
    if (bypass_matches(cfg, h.bypass))
        return CC_REQ_BYPASS;
    if (client_refuses_cache(&h))
        return CC_REQ_NO_CACHE;
    if (is_private(route, &h))
        return CC_REQ_PRIVATE;
    return CC_REQ_CACHEABLE;
}

/* ---- responses ------------------------------------------------------------- */

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static bool status_listed(const cc_route *route, int status)
{
    for (size_t i = 0; i < route->nstatuses; i++)
        if (route->statuses[i] == status)
            return true;
    return false;
}

static bool route_keys_on(const cc_route *route, const char *name, size_t len)
{
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

/* The lifetime Cache-Control sets: s-maxage (meant for shared caches like
 * this one) before max-age.  -1 when it sets none; 0 when the directive
 * is there but not a number. */
static int64_t cache_control_age(const cc_header *h)
{
    static const char *const directives[] = {"s-maxage", "max-age"};
    for (size_t i = 0; i < 2; i++) {
        int64_t secs;
        if (cc_list_seconds(h->value, h->value_len, directives[i], &secs))
            return secs * 1000;
        if (cc_list_has(h->value, h->value_len, directives[i]))
            return 0;
    }
    return -1;
}

/* Expires against the response's Date (RFC 9111 4.2.1), else against now;
 * an Expires that does not parse means "already expired". */
static int64_t expires_age(const cc_head *head, const cc_header *expires, int64_t now_ms)
{
    int64_t at, date = now_ms;
    const cc_header *d = cc_head_find(head, "Date");
    if (d != NULL && cc_parse_http_date(d->value, d->value_len, &date) != 0)
        date = now_ms;
    if (cc_parse_http_date(expires->value, expires->value_len, &at) != 0 || at <= date)
        return 0;
    return at - date;
}

/* The lifetime the app's own headers set, in nginx's order, or -1. */
static int64_t app_lifetime(const cc_head *head, int64_t now_ms)
{
    const cc_header *h;
    int64_t ms = -1;
    if ((h = cc_head_find(head, "X-Accel-Expires")) != NULL)
        ms = accel_expires(h, now_ms);
    if (ms < 0 && (h = cc_head_find(head, "Cache-Control")) != NULL)
        ms = cache_control_age(h);
    if (ms < 0 && (h = cc_head_find(head, "Expires")) != NULL)
        ms = expires_age(head, h, now_ms);
    return ms;
}

static bool cache_control_forbids(const cc_head *head)
{
    const cc_header *h = cc_head_find(head, "Cache-Control");
    return h != NULL && (cc_list_has(h->value, h->value_len, "private") ||
                         cc_list_has(h->value, h->value_len, "no-store") ||
                         cc_list_has(h->value, h->value_len, "no-cache"));
}

/* Why a response must not be stored whatever its lifetime, or NULL. */
static const char *refusal(const cc_config *cfg, const cc_route *route, const cc_head *head,
                           size_t body_len)
{
    if (!status_listed(route, head->status))
        return "status not in the route's list";
    if (cc_head_find(head, "Set-Cookie") != NULL)
        return "Set-Cookie";
    if (cache_control_forbids(head))
        return "Cache-Control private, no-store or no-cache";
    if (!vary_covered(route, head))
        return "Vary names a header the route does not key on";
    if (body_len > cfg->max_size)
        return "larger than CGICACHE_MAX_SIZE";
    return NULL;
}

int64_t cc_policy_response_ttl(const cc_config *cfg, const cc_route *route,
                               const cc_head *head, size_t body_len,
                               int64_t now_ms, const char **why)
{
    const char *reason = refusal(cfg, route, head, body_len);
    int64_t ttl = 0;
    if (reason == NULL) {
        int64_t app = app_lifetime(head, now_ms);
        ttl = app >= 0 ? app : route->ttl_ms;
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

/* ---- HTTP dates --------------------------------------------------------------- */

/* A cursor over the text of a date. */
typedef struct scan {
    const char *p, *end;
} scan;

static bool take_char(scan *s, char c)
{
    if (s->p == s->end || *s->p != c)
        return false;
    s->p++;
    return true;
}

/* Between min and max digits; -1 when fewer. */
static int take_number(scan *s, int min, int max)
{
    int v = 0, n = 0;
    while (n < max && s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        v = v * 10 + (*s->p++ - '0');
        n++;
    }
    return n >= min ? v : -1;
}

/* One of names (three-letter abbreviations, or full names when full is
 * not NULL), case-insensitive; returns its index or -1. */
static int take_name(scan *s, const char *const *names, const char *const *full, int count)
{
    size_t n = 0;
    while (s->p + n < s->end && ((s->p[n] | 0x20) >= 'a' && (s->p[n] | 0x20) <= 'z'))
        n++;
    for (int i = 0; i < count; i++) {
        const char *name = n == 3 ? names[i] : full != NULL ? full[i] : NULL;
        if (name != NULL && strlen(name) == n && strncasecmp(s->p, name, n) == 0) {
            s->p += n;
            return i;
        }
    }
    return -1;
}

static const char *const weekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const weekdays_full[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                            "Friday", "Saturday", "Sunday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int take_month(scan *s) { return take_name(s, months, NULL, 12) + 1; }

/* "HH:MM:SS" as seconds of the day (60 allows a leap second); -1 if bad. */
static int take_time(scan *s)
{
    int h = take_number(s, 2, 2);
    if (h < 0 || !take_char(s, ':'))
        return -1;
    int m = take_number(s, 2, 2);
    if (m < 0 || !take_char(s, ':'))
        return -1;
    int sec = take_number(s, 2, 2);
    if (sec < 0 || h > 23 || m > 59 || sec > 60)
        return -1;
    return h * 3600 + m * 60 + sec;
}

static bool take_gmt(scan *s)
{
    return take_char(s, ' ') && take_char(s, 'G') && take_char(s, 'M') && take_char(s, 'T');
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no timegm(), so no time zone can leak in. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 850's "06-Nov-94": a two-digit year is taken as 1970-2069, since a
 * pure parser has no "now" for RFC 9110's fifty-year rule.  Netscape's
 * cookie-style "06-Nov-1994" is read too: it is common in Expires. */
static int take_year(scan *s)
{
    const char *start = s->p;
    int y = take_number(s, 2, 4);
    if (s->p - start == 2)
        return y + (y < 70 ? 2000 : 1900);
    return s->p - start == 4 ? y : -1;
}

int cc_parse_http_date(const char *text, size_t len, int64_t *out_ms)
{
    scan s = {text, text + len};
    int day, month, year, secs;
    if (take_name(&s, weekdays, weekdays_full, 7) < 0)
        return -1;
    if (take_char(&s, ',')) {
        /* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or
         * RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT". */
        if (!take_char(&s, ' ') || (day = take_number(&s, 1, 2)) < 0)
            return -1;
        char sep = s.p < s.end ? *s.p : '\0';
        if ((sep != ' ' && sep != '-') || !take_char(&s, sep) || (month = take_month(&s)) < 1 ||
            !take_char(&s, sep))
            return -1;
        year = sep == ' ' ? take_number(&s, 4, 4) : take_year(&s);
        if (year < 0 || !take_char(&s, ' ') || (secs = take_time(&s)) < 0 || !take_gmt(&s))
            return -1;
    } else {
        /* asctime "Sun Nov  6 08:49:37 1994": a one-digit day is padded
         * with a space. */
        if (!take_char(&s, ' ') || (month = take_month(&s)) < 1 || !take_char(&s, ' '))
            return -1;
        take_char(&s, ' ');
        if ((day = take_number(&s, 1, 2)) < 0 || !take_char(&s, ' ') ||
            (secs = take_time(&s)) < 0 || !take_char(&s, ' ') || (year = take_number(&s, 4, 4)) < 0)
            return -1;
    }
    if (s.p != s.end || year < 1900 || day < 1 || day > days_in_month(year, month))
        return -1;
    *out_ms = (days_from_civil(year, month, day) * 86400 + secs) * 1000;
    return 0;
}

/* ---- early refresh ------------------------------------------------------------ */

int cc_policy_early_refresh(int64_t now_ms, int64_t expiry_ms,
                            int64_t compute_ms, double beta, double rand01)
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
