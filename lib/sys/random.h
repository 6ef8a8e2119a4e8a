/* random.h -- cheap per-thread randomness for lock tokens, purge
 * generations and XFetch draws. */
#ifndef CGICACHE_RANDOM_H
#define CGICACHE_RANDOM_H

#include <stddef.h>
#include <stdint.h>

uint64_t cc_random_u64(void);

/* A uniform double in (0, 1]: never 0, so log() of it is finite. */
double cc_random_unit(void);

/* Writes 2*bytes hex digits and a NUL into out (cap >= 2*bytes+1). */
void cc_random_hex(char *out, size_t bytes);

#endif
