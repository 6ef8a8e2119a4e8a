/* date.h -- HTTP dates, read strictly (date.c). */
#ifndef CGICACHE_DATE_H
#define CGICACHE_DATE_H

#include <stddef.h>
#include <stdint.h>

/* Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime) into Unix ms.
 * Returns 0 or -1. */
int cc_parse_http_date(const char *text, size_t len, int64_t *out_ms);

#endif
