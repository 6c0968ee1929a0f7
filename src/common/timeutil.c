#include "common/timeutil.h"

#include <time.h>

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ls_now_ms(void)
{
    return clock_ns(CLOCK_REALTIME) / 1000000;
}

int64_t ls_mono_ms(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t ls_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}
