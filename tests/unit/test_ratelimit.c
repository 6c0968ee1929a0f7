/* links: server */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "server/ratelimit.h"

#define S 1000000000LL /* one second on the fake clock (ns) */

static void test_unlimited(void **state)
{
    ls_ratelimit rl;
    ls_ratelimit_init(&rl, 0, 0, 0);
    assert_false(ls_ratelimit_active(&rl));
    assert_int_equal(ls_ratelimit_take(&rl, 1 << 30, 0), 1 << 30);
    assert_int_equal(ls_ratelimit_take(&rl, 1 << 30, 0), 1 << 30);
    assert_int_equal(ls_ratelimit_wait_ns(&rl, 1 << 30, 0), 0);
}

static void test_default_burst(void **state)
{
    assert_int_equal(ls_ratelimit_default_burst(200 * 1024), 50 * 1024);
    assert_int_equal(ls_ratelimit_default_burst(3), 1);
    ls_ratelimit rl;
    ls_ratelimit_init(&rl, 1000, 0, 0);
    assert_true(ls_ratelimit_active(&rl));
    assert_int_equal(rl.burst, 250);
}

/* A new bucket is full: one burst passes at once, then nothing until the
 * bucket refills at the rate. */
static void test_burst_then_rate(void **state)
{
    ls_ratelimit rl;
    ls_ratelimit_init(&rl, 1000, 100, 5 * S);
    assert_int_equal(ls_ratelimit_take(&rl, 1000, 5 * S), 100);
    assert_int_equal(ls_ratelimit_take(&rl, 1000, 5 * S), 0);
    /* 100 bytes at 1000 B/s: 100 ms */
    assert_int_equal(ls_ratelimit_wait_ns(&rl, 1000, 5 * S), 100 * 1000000LL);
    assert_int_equal(ls_ratelimit_take(&rl, 1000, 5 * S + 99 * 1000000LL), 0);
    assert_int_equal(ls_ratelimit_take(&rl, 1000, 5 * S + 100 * 1000000LL), 100);
    /* a long pause refills only up to the burst */
    assert_int_equal(ls_ratelimit_take(&rl, 1000, 60 * S), 100);
    assert_int_equal(ls_ratelimit_take(&rl, 1000, 60 * S), 0);
}

/* No trickle: a big piece waits for a whole burst, a small one for itself;
 * a piece smaller than what is there passes whole. */
static void test_pieces(void **state)
{
    ls_ratelimit rl;
    ls_ratelimit_init(&rl, 1000, 100, 0);
    assert_int_equal(ls_ratelimit_take(&rl, 100, 0), 100);
    /* 10 ms later 10 bytes accrued: not enough for a 500-byte piece */
    assert_int_equal(ls_ratelimit_take(&rl, 500, 10 * 1000000LL), 0);
    assert_int_equal(ls_ratelimit_wait_ns(&rl, 500, 10 * 1000000LL), 90 * 1000000LL);
    /* but enough for a 10-byte one, and a 4-byte one passes whole */
    assert_int_equal(ls_ratelimit_take(&rl, 4, 10 * 1000000LL), 4);
    assert_int_equal(ls_ratelimit_take(&rl, 10, 10 * 1000000LL), 0);
    assert_int_equal(ls_ratelimit_wait_ns(&rl, 10, 10 * 1000000LL), 4 * 1000000LL);
    assert_int_equal(ls_ratelimit_take(&rl, 0, 10 * 1000000LL), 0);
    assert_int_equal(ls_ratelimit_wait_ns(&rl, 0, 10 * 1000000LL), 0);
}

/* Fractions of a byte are kept between calls: at 3 B/s, asking every
 * third of a second (rounded down to the ns) for one byte gets exactly
 * 3 bytes a second: the first ask finds 0.999999999 bytes, the rest one
 * each, and one byte is left at the end. */
static void test_fractions_kept(void **state)
{
    ls_ratelimit rl;
    ls_ratelimit_init(&rl, 3, 3, 0);
    assert_int_equal(ls_ratelimit_take(&rl, 3, 0), 3);
    uint64_t got = 0;
    int64_t now = 0;
    for (int i = 1; i <= 30; i++) {
        now = (int64_t)i * S / 3;
        got += ls_ratelimit_take(&rl, 1, now);
    }
    assert_int_equal(now, 10 * S);
    assert_int_equal(got, 29);
    assert_int_equal(ls_ratelimit_take(&rl, 1, now), 1);
    assert_int_equal(ls_ratelimit_take(&rl, 1, now), 0);
}

/* A consumer that always waits what wait_ns says moves exactly at the rate
 * (plus the first burst) and never finds the bucket empty after waiting. */
static void test_consumer_at_rate(void **state)
{
    const uint64_t rate = 200 * 1024, total = 1000000;
    ls_ratelimit rl;
    int64_t now = 7;
    ls_ratelimit_init(&rl, rate, 0, now);
    uint64_t sent = 0;
    unsigned waits = 0;
    srand(42);
    while (sent < total) {
        size_t want = 1 + (size_t)(rand() % (256 * 1024));
        if (want > total - sent)
            want = (size_t)(total - sent);
        size_t n = ls_ratelimit_take(&rl, want, now);
        if (n == 0) {
            int64_t w = ls_ratelimit_wait_ns(&rl, want, now);
            assert_true(w > 0);
            now += w;
            waits++;
            n = ls_ratelimit_take(&rl, want, now);
            assert_true(n > 0);
        }
        sent += n;
    }
    /* (1000000 - 51200) / 204800 s = 4.633 s */
    double secs = (double)(now - 7) / S;
    if (secs < 4.60 || secs > 4.66)
        fail_msg("1 MB at 200 KiB/s took %.3f s on the fake clock", secs);
    /* pieces of about a burst: a few waits per second, not thousands */
    assert_true(waits >= 15 && waits < 200);
}

static void test_clock_backwards(void **state)
{
    ls_ratelimit rl;
    ls_ratelimit_init(&rl, 1000, 100, 10 * S);
    assert_int_equal(ls_ratelimit_take(&rl, 100, 10 * S), 100);
    assert_int_equal(ls_ratelimit_take(&rl, 100, 9 * S), 0);
    assert_int_equal(ls_ratelimit_wait_ns(&rl, 100, 9 * S), S + 100 * 1000000LL);
    assert_int_equal(ls_ratelimit_take(&rl, 100, 10 * S + 100 * 1000000LL), 100);
}

/* Large rates and long idle times do not overflow. */
static void test_large_values(void **state)
{
    const uint64_t tib = 1ULL << 40;
    ls_ratelimit rl;
    ls_ratelimit_init(&rl, tib, 0, 0);
    assert_int_equal(rl.burst, tib / 4);
    assert_int_equal(ls_ratelimit_take(&rl, SIZE_MAX, 0), tib / 4);
    assert_int_equal(ls_ratelimit_take(&rl, 1 << 20, 0), 0);
    assert_true(ls_ratelimit_wait_ns(&rl, 1 << 20, 0) <= 1000000);
    assert_int_equal(ls_ratelimit_take(&rl, SIZE_MAX, 3600 * S), tib / 4);
    assert_int_equal(ls_ratelimit_take(&rl, 1 << 20, 3600 * S + S / 2), 1 << 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited),       cmocka_unit_test(test_default_burst),
        cmocka_unit_test(test_burst_then_rate), cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_fractions_kept),  cmocka_unit_test(test_consumer_at_rate),
        cmocka_unit_test(test_clock_backwards), cmocka_unit_test(test_large_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
