/* units.h -- durations and sizes as people write them in settings. */
#ifndef CGICACHE_UNITS_H
#define CGICACHE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Both return 0 on success, -1 on a malformed or overflowing value.
 * Durations: "300" (seconds), "300ms", "30s", "5m", "1h" -> milliseconds.
 * Sizes: "512", "64k", "8M", "1G" (powers of 1024) -> bytes. */
int cc_parse_duration(const char *text, int64_t *out_ms);
int cc_parse_size(const char *text, size_t *out_bytes);

/* Looks text up, case-insensitively, in a NULL-terminated list of words;
 * its index, or -1 when absent. */
int cc_word_index(const char *text, const char *const *words);

#endif
