/* decimal.h -- integers to decimal text, without printf.
 *
 * A hit formats a few numbers (Age, the TTL left, the lengths in a Redis
 * command); printf's machinery was a tenth of a hit's instructions.  The
 * digits are written without a terminating NUL. */
#ifndef CGICACHE_DECIMAL_H
#define CGICACHE_DECIMAL_H

#include <stddef.h>

#define CC_DECIMAL_MAX 20   /* "-9223372036854775808" */

/* Writes v to out (CC_DECIMAL_MAX bytes of room); returns the length. */
static inline size_t cc_decimal(char *out, long long v)
{
    char digits[CC_DECIMAL_MAX];
    size_t n = 0, len = 0;
    /* Negated digit by digit, so that the most negative value works too. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = digits[--n];
    return len;
}

#endif
