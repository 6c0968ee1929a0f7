/* Capped exponential backoff with full jitter, for reconnecting uploaders and
 * followers: delay n is uniform in [base/2, min(cap, base * 2^n)]. */
#ifndef LS_COMMON_BACKOFF_H
#define LS_COMMON_BACKOFF_H

#include <stdint.h>

typedef struct ls_backoff {
    int64_t base_ms;
    int64_t cap_ms;
    unsigned attempt;
    uint64_t rng; /* xorshift state; never 0 */
} ls_backoff;

/* Initialises; seed 0 picks a seed from the clock and pid. base_ms below 1
 * is taken as 1 and cap_ms below base_ms as base_ms. */
void ls_backoff_init(ls_backoff *b, int64_t base_ms, int64_t cap_ms, uint64_t seed);
/* Returns the next delay in ms and advances the attempt counter. */
int64_t ls_backoff_next(ls_backoff *b);
/* Back to the first attempt (after a success). */
void ls_backoff_reset(ls_backoff *b);

#endif
