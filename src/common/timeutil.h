/* Clocks. */
#ifndef LS_COMMON_TIMEUTIL_H
#define LS_COMMON_TIMEUTIL_H

#include <stdint.h>

/* Wall clock, unix milliseconds (for line timestamps and API times). */
int64_t ls_now_ms(void);
/* Monotonic clock in milliseconds (for timeouts and intervals). */
int64_t ls_mono_ms(void);
/* Monotonic clock in nanoseconds (for latency measurements). */
int64_t ls_mono_ns(void);

#endif
