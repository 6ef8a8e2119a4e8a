/* policy.c -- what may be served from or stored in the cache.
 *
 * Requests: a forwarding header the key does not cover could make the app
 * answer for another host or method than the key says (the classic
 * cache-poisoning vector), so such a request neither reads nor writes the
 * cache; nor does one with a body, a bypass header, an Authorization or
 * (unless the route says cookies=ignore) a Cookie.  Responses: never
 * stored with Set-Cookie, private / no-store / no-cache, a Vary the key
 * does not cover, or a status the route does not list; the app's own
 * expiry headers override the route's TTL, in nginx's order. */
#include "policy.h"

#include <ctype.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Request headers that make an app (or a framework under it) answer for
 * another URL, host, scheme or method than the one the key holds. */
static const char *const forwarding[] = {
    "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_SERVER", "HTTP_X_HOST", "HTTP_X_ORIGINAL_URL",
    "HTTP_X_REWRITE_URL", "HTTP_X_ORIGINAL_HOST", "HTTP_X_HTTP_METHOD_OVERRIDE",
    "HTTP_X_HTTP_METHOD", "HTTP_X_METHOD_OVERRIDE", "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_FORWARDED_SCHEME", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED", NULL,
};

static bool route_varies_on(const cc_route *route, const char *cgi_name)
{
    for (size_t i = 0; i < route->nvary; i++)
        if (strcmp(route->vary[i].cgi, cgi_name) == 0)
            return true;
    return false;
}

static bool uncovered_forwarding(const cc_route *route, char *const *envp)
{
    for (size_t i = 0; forwarding[i] != NULL; i++)
        if (cc_env_get(envp, forwarding[i]) != NULL && !route_varies_on(route, forwarding[i]))
            return true;
    return false;
}

int cc_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Every byte of the longer string is looked at, whatever matches. */
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

static bool bypass_matches(const cc_config *cfg, char *const *envp)
{
    if (cfg->bypass_header.cgi[0] == '\0')
        return false;
    const char *v = cc_env_get(envp, cfg->bypass_header.cgi);
    if (v == NULL)
        return false;
    if (!cfg->bypass_value_set)
        return true;
    return cc_secret_equal(v, strlen(v), cfg->bypass_value, strlen(cfg->bypass_value));
}

static bool list_param_has(char *const *envp, const char *param, const char *token)
{
    const char *v = cc_env_get(envp, param);
    return v != NULL && cc_list_has(v, strlen(v), token);
}

cc_req_class cc_policy_request(const cc_config *cfg, const cc_route *route, const cc_request *rq)
{
    char *const *envp = rq->envp;
    if (!(rq->method_bit & CC_M_SAFE) || rq->has_body || uncovered_forwarding(route, envp))
        return CC_REQ_UNSAFE;
    if (bypass_matches(cfg, envp))
        return CC_REQ_BYPASS;
    if (list_param_has(envp, "HTTP_CACHE_CONTROL", "no-cache") ||
        list_param_has(envp, "HTTP_CACHE_CONTROL", "no-store") ||
        list_param_has(envp, "HTTP_PRAGMA", "no-cache"))
        return CC_REQ_NO_CACHE;
    if (cc_env_get(envp, "HTTP_AUTHORIZATION") != NULL)
        return CC_REQ_PRIVATE;
    const char *cookie = cc_env_get(envp, "HTTP_COOKIE");
    if (cookie != NULL && cookie[0] != '\0' && !route->cookies_ignore)
        return CC_REQ_PRIVATE;
    return CC_REQ_CACHEABLE;
}

/* ---- responses --------------------------------------------------------- */

static bool status_listed(const cc_route *route, int status)
{
    for (size_t i = 0; i < route->nstatuses; i++)
        if (route->statuses[i] == status)
            return true;
    return false;
}

/* A Vary member the key does not cover means two users could get each
 * other's variant: not stored.  Each header listed may be anywhere in a
 * comma-separated value, and the header may repeat. */
static bool vary_covered(const cc_route *route, const cc_head *head)
{
    for (size_t i = 0; i < head->nheaders; i++) {
        const cc_header *h = &head->headers[i];
        if (h->name_len != 4 || strncasecmp(h->name, "Vary", 4) != 0)
            continue;
        for (size_t p = 0; p < h->value_len;) {
            while (p < h->value_len && (h->value[p] == ',' || h->value[p] == ' ' || h->value[p] == '\t'))
                p++;
            size_t start = p;
            while (p < h->value_len && h->value[p] != ',' && h->value[p] != ' ' && h->value[p] != '\t')
                p++;
            size_t len = p - start;
            if (len == 0)
                continue;
            bool covered = false;
            for (size_t v = 0; v < route->nvary && !covered; v++)
                covered = strlen(route->vary[v].http) == len &&
                          strncasecmp(route->vary[v].http, h->value + start, len) == 0;
            if (!covered)
                return false;   /* "*" included */
        }
    }
    return true;
}

/* Parses a run of digits (at most 18) at *p; -1 when none. */
static int64_t digits(const char **p, const char *end, int max_digits)
{
    int64_t v = 0;
    int n = 0;
    while (*p < end && isdigit((unsigned char)**p) && n < max_digits) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n == 0 ? -1 : v;
}

/* X-Accel-Expires: seconds, or "@" and an absolute Unix time. */
static int64_t accel_expires(const cc_header *h, int64_t now_ms)
{
    const char *p = h->value, *end = h->value + h->value_len;
    bool absolute = p < end && *p == '@';
    p += absolute;
    int64_t v = digits(&p, end, 18);
    if (v < 0 || p != end)
        return -1;
    if (v > CC_SECONDS_MAX)
        v = CC_SECONDS_MAX;
    if (!absolute)
        return v * 1000;
    int64_t left = v * 1000 - now_ms;   /* v <= a century of seconds: no overflow */
    return left > 0 ? left : 0;
}

int64_t cc_policy_response_ttl(const cc_config *cfg, const cc_route *route,
                               const cc_head *head, size_t body_len,
                               int64_t now_ms, const char **why)
{
    const char *reason = NULL;
    int64_t ttl = route->ttl_ms;
    const cc_header *h;
    if (!status_listed(route, head->status))
        reason = "status not in the route's status= list";
    else if (cc_head_find(head, "Set-Cookie") != NULL)
        reason = "Set-Cookie";
    else if (!vary_covered(route, head))
        reason = "Vary names a header the route does not key on";
    else if (body_len > cfg->max_size)
        reason = "larger than CGICACHE_MAX_SIZE";
    if (reason == NULL && (h = cc_head_find(head, "Cache-Control")) != NULL &&
        (cc_list_has(h->value, h->value_len, "private") ||
         cc_list_has(h->value, h->value_len, "no-store") ||
         cc_list_has(h->value, h->value_len, "no-cache")))
        reason = "Cache-Control forbids it";
    if (reason != NULL)
        goto refuse;

    int64_t secs, app = -1;
    if ((h = cc_head_find(head, "X-Accel-Expires")) != NULL) {
        app = accel_expires(h, now_ms);
    }
    if (app < 0 && (h = cc_head_find(head, "Cache-Control")) != NULL &&
        (cc_list_seconds(h->value, h->value_len, "s-maxage", &secs) ||
         cc_list_seconds(h->value, h->value_len, "max-age", &secs)))
        app = secs * 1000;
    if (app < 0 && (h = cc_head_find(head, "Expires")) != NULL) {
        int64_t expires, date = now_ms;
        const cc_header *d = cc_head_find(head, "Date");
        if (d != NULL && cc_parse_http_date(d->value, d->value_len, &date) != 0)
            date = now_ms;
        /* An Expires that does not parse means "already expired". */
        app = cc_parse_http_date(h->value, h->value_len, &expires) == 0 && expires > date
                  ? expires - date : 0;
    }
    if (app >= 0)
        ttl = app;
    if (ttl <= 0) {
        reason = "the app's expiry headers say not to keep it";
        goto refuse;
    }
    return ttl;
refuse:
    if (why != NULL)
        *why = reason;
    return 0;
}

/* ---- dates ---------------------------------------------------------------- */

static int month_of(const char *p, const char *end)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (end - p < 3)
        return -1;
    for (int m = 0; m < 12; m++)
        if (strncasecmp(p, months + 3 * m, 3) == 0)
            return m + 1;
    return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void skip(const char **p, const char *end, const char *chars)
{
    while (*p < end && strchr(chars, **p) != NULL && **p != '\0')
        (*p)++;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return -1;
    (*p)++;
    return 0;
}

/* "HH:MM:SS" */
static int64_t clock_time(const char **p, const char *end)
{
    int64_t h = digits(p, end, 2), m, s;
    if (h < 0 || expect(p, end, ':') < 0 || (m = digits(p, end, 2)) < 0 ||
        expect(p, end, ':') < 0 || (s = digits(p, end, 2)) < 0 || h > 23 || m > 59 || s > 60)
        return -1;
    return h * 3600 + m * 60 + s;
}

int cc_parse_http_date(const char *text, size_t len, int64_t *out_ms)
{
    const char *p = text, *end = text + len;
    int64_t day, year, secs;
    int month;
    /* Weekday name, then a comma (IMF-fixdate, RFC 850) or not (asctime). */
    while (p < end && isalpha((unsigned char)*p))
        p++;
    bool asctime_form = p < end && *p == ' ';
    skip(&p, end, ", ");
    if (asctime_form) {          /* Sun Nov  6 08:49:37 1994 */
        if ((month = month_of(p, end)) < 0)
            return -1;
        p += 3;
        skip(&p, end, " ");
        if ((day = digits(&p, end, 2)) < 0)
            return -1;
        skip(&p, end, " ");
        if ((secs = clock_time(&p, end)) < 0)
            return -1;
        skip(&p, end, " ");
        if ((year = digits(&p, end, 4)) < 0)
            return -1;
    } else {                     /* 06 Nov 1994 08:49:37 GMT, 06-Nov-94 ... */
        if ((day = digits(&p, end, 2)) < 0)
            return -1;
        skip(&p, end, " -");
        if ((month = month_of(p, end)) < 0)
            return -1;
        p += 3;
        skip(&p, end, " -");
        const char *year_start = p;
        if ((year = digits(&p, end, 4)) < 0)
            return -1;
        if (p - year_start == 2)  /* RFC 850: two digits, RFC 9110's 50-year rule */
            year += year < 70 ? 2000 : 1900;
        skip(&p, end, " ");
        if ((secs = clock_time(&p, end)) < 0)
            return -1;
        skip(&p, end, " ");
        if (end - p < 3 || strncmp(p, "GMT", 3) != 0)
            return -1;
        p += 3;
    }
    skip(&p, end, " ");
    if (p != end || day < 1 || day > 31 || year < 1970)
        return -1;
    *out_ms = (days_from_civil(year, month, (int)day) * 86400 + secs) * 1000;
    return 0;
}

int cc_policy_early_refresh(int64_t now_ms, int64_t expiry_ms,
                            int64_t compute_ms, double beta, double rand01)
{
    if (beta <= 0 || rand01 <= 0 || rand01 > 1)
        return 0;
    if (compute_ms < 1)
        compute_ms = 1;
    /* -log(rand) is an exponential draw: most refreshes land within a few
     * compute times of the expiry, the earliest rarely. */
    double lead = -(double)compute_ms * beta * log(rand01);
    return (double)now_ms + lead >= (double)expiry_ms;
}
