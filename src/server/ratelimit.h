/* A token bucket for the ingest body rate limit (--max-request-rate): one
 * per ingest request, refilled at `rate` bytes per second up to `burst`
 * bytes. Pure accounting: the clock is the caller's (every call takes the
 * monotonic time in nanoseconds), so tests drive it with a fake clock, and
 * the caller decides how to wait (ingest.c suspends the connection and asks
 * the server's timer thread to wake it, see sse_ping.h).
 *
 * Bytes are taken in pieces of at least min(wanted, burst) bytes: a request
 * never trickles in a few bytes at a time, it waits until a worthwhile piece
 * may pass. Over time at most rate bytes per second pass, plus one burst. */
#ifndef LS_SERVER_RATELIMIT_H
#define LS_SERVER_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_ratelimit {
    uint64_t rate;   /* bytes per second; 0 = no limit */
    uint64_t burst;  /* most bytes the bucket holds */
    uint64_t tokens; /* bytes that may pass (as of last_ns) */
    uint64_t frac;   /* and a part of a byte, in 1e-9 bytes */
    int64_t last_ns; /* time the tokens were counted for */
} ls_ratelimit;

/* The burst of a rate: a quarter of a second of it, at least 1 byte. */
uint64_t ls_ratelimit_default_burst(uint64_t rate);

/* Starts a full bucket at now_ns. rate 0 = no limit (take always grants
 * everything); burst 0 = ls_ratelimit_default_burst(rate). */
void ls_ratelimit_init(ls_ratelimit *rl, uint64_t rate, uint64_t burst, int64_t now_ns);

/* True when rl limits anything (rate > 0). */
bool ls_ratelimit_active(const ls_ratelimit *rl);

/* Takes up to want bytes at now_ns and returns how many may pass now: 0
 * when fewer than min(want, burst) tokens are available (the caller waits
 * ls_ratelimit_wait_ns), else min(want, tokens). A clock going backwards
 * is treated as no time passing. */
size_t ls_ratelimit_take(ls_ratelimit *rl, size_t want, int64_t now_ns);

/* Nanoseconds from now_ns until ls_ratelimit_take(rl, want, ...) grants
 * bytes; 0 when it would now (and always without a limit). */
int64_t ls_ratelimit_wait_ns(ls_ratelimit *rl, size_t want, int64_t now_ns);

#endif
