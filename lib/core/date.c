/* date.c -- HTTP dates (RFC 9110 §5.6.7): the three forms an app or a
 * client may send, read strictly into Unix milliseconds.  Expires, Date,
 * Last-Modified, If-Modified-Since and If-Range all come through here. */
#include "date.h"

#include <stdbool.h>
#include <string.h>

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
static const char *const weekdays_full[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                            "Friday", "Saturday", "Sunday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int take_month(scan *s)
{
    return take_name(s, months, NULL, 12) + 1;
}

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

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

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
