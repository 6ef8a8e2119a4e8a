/* clock.h -- the two clocks cgicache uses: wall time in ms for entry ages
 * (shared across hosts through Redis) and a monotonic ms clock for
 * deadlines and measured compute time. */
#ifndef CGICACHE_CLOCK_H
#define CGICACHE_CLOCK_H

#include <stdint.h>

int64_t cc_now_ms(void);
int64_t cc_mono_ms(void);

#endif
