/* units.c -- durations and sizes as people write them in settings.
 *
 * "300", "300ms", "30s", "5m", "1h" and "512", "64k", "8M", "1G": the
 * route grammar and the global settings read them alike, so they live
 * here, beneath both.  Overflow is an error, never a wrap. */
#include "units.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Reads the leading decimal digits of text into *out; returns the first
 * character after them, or NULL when there are none or they overflow. */
static const char *parse_digits(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    const char *c = text;
    if (!isdigit((unsigned char)*c))
        return NULL;
    for (; isdigit((unsigned char)*c); c++) {
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = v;
    return c;
}

/* Multiplies, refusing results past limit. */
static int scale(uint64_t v, uint64_t unit, uint64_t limit, uint64_t *out)
{
    if (v != 0 && unit > limit / v)
        return -1;
    *out = v * unit;
    return 0;
}

int cc_parse_duration(const char *text, int64_t *out_ms)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    uint64_t v, ms;
    const char *rest = text != NULL ? parse_digits(text, &v) : NULL;
    if (rest == NULL)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(rest, units[i].suffix) == 0) {
            /* A year is plenty; it also keeps every sum of durations safe. */
            if (scale(v, units[i].ms, 366ull * 24 * 3600000, &ms) < 0)
                return -1;
            *out_ms = (int64_t)ms;
            return 0;
        }
    }
    return -1;
}

int cc_parse_size(const char *text, size_t *out_bytes)
{
    uint64_t v, bytes, unit;
    const char *rest = text != NULL ? parse_digits(text, &v) : NULL;
    if (rest == NULL)
        return -1;
    switch (*rest) {
    case '\0':
        unit = 1;
        break;
    case 'k':
    case 'K':
        unit = 1024;
        break;
    case 'm':
    case 'M':
        unit = 1024 * 1024;
        break;
    case 'g':
    case 'G':
        unit = 1024 * 1024 * 1024;
        break;
    default:
        return -1;
    }
    if (*rest != '\0' && rest[1] != '\0')
        return -1;
    if (scale(v, unit, (uint64_t)1 << 40, &bytes) < 0)
        return -1;
    *out_bytes = (size_t)bytes;
    return 0;
}

int cc_word_index(const char *text, const char *const *words)
{
    for (int i = 0; words[i] != NULL; i++)
        if (strcasecmp(text, words[i]) == 0)
            return i;
    return -1;
}
