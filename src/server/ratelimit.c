#include "server/ratelimit.h"

#define NS_PER_S 1000000000u

uint64_t ls_ratelimit_default_burst(uint64_t rate)
{
    return rate / 4 ? rate / 4 : 1;
}

void ls_ratelimit_init(ls_ratelimit *rl, uint64_t rate, uint64_t burst, int64_t now_ns)
{
    rl->rate = rate;
    rl->burst = burst ? burst : ls_ratelimit_default_burst(rate);
    rl->tokens = rl->burst;
    rl->frac = 0;
    rl->last_ns = now_ns;
}

bool ls_ratelimit_active(const ls_ratelimit *rl)
{
    return rl->rate > 0;
}

/* Adds the bytes accrued since last_ns. The fraction of a byte left over
 * is kept in frac, so nothing is lost or gained by calling often. */
static void refill(ls_ratelimit *rl, int64_t now_ns)
{
    if (now_ns <= rl->last_ns)
        return;
    unsigned __int128 elapsed = (unsigned __int128)(now_ns - rl->last_ns);
    unsigned __int128 total = elapsed * rl->rate + rl->frac;
    unsigned __int128 add = total / NS_PER_S;
    rl->last_ns = now_ns;
    if (add >= rl->burst - rl->tokens) {
        rl->tokens = rl->burst;
        rl->frac = 0;
        return;
    }
    rl->tokens += (uint64_t)add;
    rl->frac = (uint64_t)(total % NS_PER_S);
}

static uint64_t needed(const ls_ratelimit *rl, size_t want)
{
    return want < rl->burst ? (uint64_t)want : rl->burst;
}

size_t ls_ratelimit_take(ls_ratelimit *rl, size_t want, int64_t now_ns)
{
    if (!rl->rate)
        return want;
    refill(rl, now_ns);
    if (want == 0 || rl->tokens < needed(rl, want))
        return 0;
    size_t n = rl->tokens < want ? (size_t)rl->tokens : want;
    rl->tokens -= n;
    return n;
}

int64_t ls_ratelimit_wait_ns(ls_ratelimit *rl, size_t want, int64_t now_ns)
{
    if (!rl->rate || want == 0)
        return 0;
    refill(rl, now_ns);
    uint64_t need = needed(rl, want);
    if (rl->tokens >= need)
        return 0;
    /* 1e-9 bytes still missing, from last_ns (= now_ns unless the clock
     * went backwards) */
    unsigned __int128 missing = (unsigned __int128)(need - rl->tokens) * NS_PER_S - rl->frac;
    int64_t t = (int64_t)((missing + rl->rate - 1) / rl->rate);
    int64_t wait = rl->last_ns + t - now_ns;
    return wait > 0 ? wait : 1;
}
