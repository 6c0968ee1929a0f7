/* Clocks. */
#ifndef LS_COMMON_TIMEUTIL_H
#define LS_COMMON_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Wall clock, unix milliseconds (for line timestamps and API times). */
int64_t ls_now_ms(void);
/* Monotonic clock in milliseconds (for timeouts and intervals). */
int64_t ls_mono_ms(void);
/* Monotonic clock in nanoseconds (for latency measurements). */
int64_t ls_mono_ns(void);
/* The monotonic time ms milliseconds from now, for pthread_cond_timedwait on
 * a condition variable whose clock is CLOCK_MONOTONIC. */
void ls_mono_deadline(struct timespec *ret, int64_t ms);

#endif
