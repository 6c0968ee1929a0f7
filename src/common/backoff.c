#include "common/backoff.h"

#include <time.h>
#include <unistd.h>

/* splitmix64: spreads a weak seed (clock, pid) over all 64 bits. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t clock_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^
           ((uint64_t)getpid() << 32);
}

static uint64_t xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

void ls_backoff_init(ls_backoff *b, int64_t base_ms, int64_t cap_ms, uint64_t seed)
{
    b->base_ms = base_ms < 1 ? 1 : base_ms;
    b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
    b->attempt = 0;
    b->rng = mix64(seed ? seed : clock_seed());
    if (b->rng == 0)
        b->rng = 0x9e3779b97f4a7c15ULL;
}

/* min(cap, base * 2^attempt) without overflowing. */
static int64_t upper_bound(const ls_backoff *b)
{
    int64_t hi = b->base_ms;
    for (unsigned i = 0; i < b->attempt && hi < b->cap_ms; i++)
        hi = hi > b->cap_ms / 2 ? b->cap_ms : hi * 2;
    return hi < b->cap_ms ? hi : b->cap_ms;
}

int64_t ls_backoff_next(ls_backoff *b)
{
    int64_t hi = upper_bound(b);
    int64_t lo = b->base_ms / 2;
    if (lo > hi)
        lo = hi;
    uint64_t span = (uint64_t)(hi - lo) + 1;
    int64_t delay = lo + (int64_t)(xorshift64(&b->rng) % span);
    if (b->attempt < 64)
        b->attempt++;
    return delay;
}

void ls_backoff_reset(ls_backoff *b)
{
    b->attempt = 0;
}
