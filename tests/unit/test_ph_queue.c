/* links: pluginhost common */
/* A plugin's line queue in the host: the limit in memory, and the spill file
 * that takes the blocks beyond it and gives them back in order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pluginhost/queue.h"

#define LINES 100000
#define MEMORY ((size_t)64 * 1024)

static char dir[] = "/tmp/ls-ph-queue-XXXXXX";

static int setup(void **state)
{
    (void)state;
    memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(dir); /* fails unless the spill file was unlinked */
}

/* Pushes lines from..to ("line N", step N % 3) in runs of 100, publishing
 * after each run (one read of the host's input); returns the lines refused
 * and adds the lines dropped by publish to *dropped. */
static uint64_t push_lines(ls_ph_queue *q, int from, int to, uint64_t *dropped)
{
    uint64_t refused = 0, lines, bytes;
    char text[32];
    for (int i = from; i <= to; i++) {
        int n = snprintf(text, sizeof(text), "line %d", i);
        int r = ls_ph_queue_push(q, (uint32_t)(i % 3), text, (size_t)n);
        assert_true(r == 0 || r == -ENOBUFS);
        refused += r != 0;
        if (i % 100 == 0)
            ls_ph_queue_publish(q);
    }
    ls_ph_queue_publish(q);
    if (ls_ph_queue_take_dropped(q, &lines, &bytes))
        *dropped += lines;
    return refused;
}

/* Pops n blocks (they must be there) and gives them back. */
static uint64_t pop_blocks(ls_ph_queue *q, int n)
{
    uint64_t records = 0;
    for (int i = 0; i < n; i++) {
        ls_ph_block *b = ls_ph_queue_pop(q);
        assert_non_null(b);
        records += b->records;
        ls_ph_queue_done(q, b);
    }
    return records;
}

/* Pops until the queue is empty (it must be closed); checks that the lines
 * come in rising order, without gaps when gaps is false. Returns their count. */
static uint64_t pop_all(ls_ph_queue *q, bool gaps)
{
    uint64_t n = 0;
    long prev = -1;
    for (ls_ph_block *b; (b = ls_ph_queue_pop(q)) != NULL;) {
        uint64_t in_block = 0;
        size_t off = 0;
        uint32_t step;
        const char *text;
        size_t len;
        while (ls_ph_block_next(b, &off, &step, &text, &len)) {
            long v = strtol(text + 5, NULL, 10);
            assert_memory_equal(text, "line ", 5);
            assert_int_equal(step, (uint32_t)(v % 3));
            if (gaps || prev < 0)
                assert_true(v > prev);
            else
                assert_int_equal(v, prev + 1);
            prev = v;
            in_block++;
        }
        assert_int_equal(in_block, b->records);
        n += in_block;
        ls_ph_queue_done(q, b);
    }
    return n;
}

/* Beyond 64 KiB in memory the blocks go to the file; the consumer gets every
 * line in order, memory first, and the file is emptied once read. */
static void test_spilled_lines_come_back_in_order(void **state)
{
    (void)state;
    ls_ph_queue q;
    ls_ph_queue_init(&q, MEMORY);
    ls_ph_queue_spill_to(&q, dir, 64 * 1024 * 1024);
    uint64_t dropped = 0;
    push_lines(&q, 1, 1000, &dropped); /* ten blocks of 100 lines */
    /* a plugin at work: 64 times what it takes becomes spill credit */
    assert_int_equal(pop_blocks(&q, 10), 1000);
    assert_int_equal(push_lines(&q, 1001, 40000, &dropped), 0);
    assert_int_equal(dropped, 0);
    assert_true(q.spilling);
    assert_true(q.in_memory <= MEMORY);
    assert_true(ls_ph_queue_pending(&q) > 8 * MEMORY); /* 39,000 records, 600 KB */
    assert_true(q.file_records > 30000);
    ls_ph_queue_close(&q);
    assert_int_equal(pop_all(&q, false), 39000);
    assert_int_equal(ls_ph_queue_pending(&q), 0);
    assert_false(q.spilling);
    struct stat st;
    assert_int_equal(fstat(q.spill_fd, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(atomic_load(&q.lost_records), 0);
    ls_ph_queue_destroy(&q);
}

/* Once the file is read back, blocks stay in memory again; a second burst
 * spills again, to the same file. */
static void test_spilling_ends_and_starts_again(void **state)
{
    (void)state;
    ls_ph_queue q;
    ls_ph_queue_init(&q, MEMORY);
    ls_ph_queue_spill_to(&q, dir, 64 * 1024 * 1024);
    uint64_t dropped = 0;
    push_lines(&q, 1, 1000, &dropped);
    pop_blocks(&q, 10);
    push_lines(&q, 1001, 20000, &dropped);
    assert_true(q.spilling);
    uint64_t got = 0;
    while (q.spilling || q.head) {
        ls_ph_block *b = ls_ph_queue_pop(&q);
        got += b->records;
        ls_ph_queue_done(&q, b);
    }
    assert_int_equal(got, 19000);
    push_lines(&q, 20001, 20100, &dropped); /* a few: memory */
    assert_false(q.spilling);
    push_lines(&q, 20101, 40000, &dropped); /* a burst: the file again */
    assert_true(q.spilling);
    assert_int_equal(dropped, 0);
    ls_ph_queue_close(&q);
    assert_int_equal(pop_all(&q, true), 20000);
    ls_ph_queue_destroy(&q);
}

/* A consumer that takes nothing (stuck in its own code): the file takes only
 * the first credit (max_pending bytes), then lines are refused; each block
 * taken earns LS_PH_SPILL_CREDIT times its size again. */
static void test_a_stuck_consumer_gets_little_spill(void **state)
{
    (void)state;
    ls_ph_queue q;
    ls_ph_queue_init(&q, MEMORY);
    ls_ph_queue_spill_to(&q, dir, 64 * 1024 * 1024);
    uint64_t dropped = 0;
    uint64_t refused = push_lines(&q, 1, LINES, &dropped);
    assert_true(refused + dropped > LINES / 2);
    assert_true(q.file_bytes <= MEMORY);
    assert_true(ls_ph_queue_pending(&q) <= 2 * MEMORY + LS_PH_BLOCK_SIZE);
    uint64_t first = pop_blocks(&q, 1);
    uint64_t later = push_lines(&q, LINES + 1, 2 * LINES, &dropped);
    assert_true(later < LINES); /* some fitted: the credit the block earned */
    assert_true(q.file_bytes > MEMORY);
    ls_ph_queue_close(&q);
    assert_int_equal(first + pop_all(&q, true) + refused + later + dropped, 2 * LINES);
    ls_ph_queue_destroy(&q);
}

/* Memory plus max_spill is the limit: beyond it lines are refused. */
static void test_spill_limit_refuses_lines(void **state)
{
    (void)state;
    ls_ph_queue q;
    ls_ph_queue_init(&q, MEMORY);
    ls_ph_queue_spill_to(&q, dir, 256 * 1024);
    uint64_t dropped = 0;
    push_lines(&q, 1, 1000, &dropped);
    pop_blocks(&q, 10); /* credit: the whole 256 KiB */
    uint64_t refused = push_lines(&q, 1001, LINES, &dropped) + 1000;
    assert_true(refused > LINES / 2);
    assert_int_equal(dropped, 0);
    assert_true(ls_ph_queue_pending(&q) <= MEMORY + 256 * 1024 + LS_PH_BLOCK_SIZE);
    ls_ph_queue_close(&q);
    assert_int_equal(pop_all(&q, true), LINES - refused - dropped);
    ls_ph_queue_destroy(&q);
}

/* A spill file that cannot be created: the blocks beyond memory are
 * dropped (publish says how many lines) and no later block tries again. */
static void test_unusable_spill_dir_drops_blocks(void **state)
{
    (void)state;
    ls_ph_queue q;
    ls_ph_queue_init(&q, MEMORY);
    ls_ph_queue_spill_to(&q, "/nonexistent/spill", 64 * 1024 * 1024);
    uint64_t dropped = 0;
    uint64_t refused = push_lines(&q, 1, LINES, &dropped);
    assert_true(dropped > 0);
    assert_true(refused > 0); /* after the failure the limit is memory only */
    assert_true(atomic_load(&q.spill_failed));
    ls_ph_queue_close(&q);
    assert_int_equal(pop_all(&q, true) + dropped + refused, LINES);
    ls_ph_queue_destroy(&q);
}

/* Discarding (a plugin stopped by the breaker) drops the file too, counted. */
static void test_discard_drops_the_file(void **state)
{
    (void)state;
    ls_ph_queue q;
    ls_ph_queue_init(&q, MEMORY);
    ls_ph_queue_spill_to(&q, dir, 64 * 1024 * 1024);
    uint64_t dropped = 0;
    uint64_t refused = push_lines(&q, 1, LINES, &dropped);
    assert_true(q.file_bytes > 0);
    size_t pending = ls_ph_queue_pending(&q);
    assert_int_equal(ls_ph_queue_discard(&q), pending);
    assert_int_equal(atomic_load(&q.discarded_records), LINES - refused - dropped);
    assert_int_equal(ls_ph_queue_pending(&q), 0);
    assert_null(ls_ph_queue_pop(&q));
    ls_ph_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spilled_lines_come_back_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spilling_ends_and_starts_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_stuck_consumer_gets_little_spill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spill_limit_refuses_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_spill_dir_drops_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard_drops_the_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
