/* Store test cases shared by every back end's unit test (test_store_sqlite.c,
 * test_store_pg.c): the same cases, assertions and data run against each.
 *
 * The including file defines, before including this one:
 *   typedef struct fixture fixture;  one test's fresh, empty database
 *   static int open_raw(const fixture *f, const ls_store_options *o, ls_store **ret);
 *   static int64_t query_int(const fixture *f, const char *sql);  one integer, own connection
 *   static void exec_sql(const fixture *f, const char *sql);      own connection
 *   static uint64_t disk_full_limit(const fixture *f);  a max_db_bytes that a few MiB of
 *                                                       appends reach
 *   SCHEMA_VERSION_SQL, EXPECTED_SCHEMA_VERSION, SET_NEWER_SCHEMA_SQL,
 *   CORRUPT_FIRST_CHUNK_SQL (makes the chunk with first_seq = 1 undecodable)
 * and then lists STORE_CASES(setup, teardown) in its cmocka test table. */
#ifndef LS_TESTS_STORE_CASES_H
#define LS_TESTS_STORE_CASES_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/timeutil.h"
#include "store/store.h"

static ls_store *open_store(const fixture *f, size_t chunk_bytes)
{
    ls_store_options o = {.chunk_bytes = chunk_bytes};
    ls_store *st = NULL;
    int r = open_raw(f, &o, &st);
    if (r < 0)
        fprintf(stderr, "open: %s\n", ls_store_last_error());
    assert_int_equal(r, 0);
    assert_non_null(st);
    return st;
}

static ls_build_info create_build(ls_store *st, const char *name, size_t n_steps)
{
    ls_step_info steps[4];
    memset(steps, 0, sizeof(steps));
    assert_true(n_steps <= 4);
    for (size_t i = 0; i < n_steps; i++) {
        snprintf(steps[i].name, sizeof(steps[i].name), "step %zu", i + 1);
        steps[i].service = (i == 2);
    }
    ls_build_info b;
    assert_int_equal(ls_store_create_build(st, name, steps, n_steps, &b), 0);
    return b;
}

/* ---- deterministic log lines: everything derived from seq (and a variant) ---- */

static uint32_t text_len(uint64_t seq)
{
    return (uint32_t)((seq * 7919u) % 301u);
}

static void fill_text(uint64_t seq, int variant, char *out, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        out[i] = (char)((seq + i * 31u + (unsigned)variant * 101u) & 0xff);
}

static ls_line make_line(uint64_t seq, int variant, char *textbuf)
{
    ls_line l = {
        .seq = seq,
        .ts_ms = 1700000000000 + (int64_t)seq * 3 - (seq % 4 == 0 ? 10 : 0),
        .stream = seq % 5 == 0 ? 'e' : 'o',
        .continued = seq % 11 == 0,
        .len = text_len(seq),
        .text = textbuf,
    };
    fill_text(seq, variant, textbuf, l.len);
    return l;
}

/* Lines [first, first + n) in one array, with their text in one block. */
typedef struct line_set {
    ls_line *lines;
    char *text;
    size_t n;
} line_set;

static line_set make_lines(uint64_t first, size_t n, int variant)
{
    line_set s = {.lines = calloc(n ? n : 1, sizeof(ls_line)), .text = malloc(n * 301 + 1), .n = n};
    for (size_t i = 0; i < n; i++)
        s.lines[i] = make_line(first + i, variant, s.text + i * 301);
    return s;
}

static void free_lines(line_set *s)
{
    free(s->lines);
    free(s->text);
}

static uint64_t bytes_up_to(uint64_t last)
{
    uint64_t sum = 0;
    for (uint64_t seq = 1; seq <= last; seq++)
        sum += text_len(seq);
    return sum;
}

/* Appends lines [first, first + n) of one step in batches of sizes cycling
 * through batch_sizes, one ls_store_append per batch. */
static void append_lines(ls_store *st, int64_t build, int step, uint64_t first, size_t n,
                         const size_t *batch_sizes, size_t n_sizes)
{
    line_set s = make_lines(first, n, 0);
    size_t done = 0, k = 0;
    while (done < n) {
        size_t size = batch_sizes[k++ % n_sizes];
        if (size > n - done)
            size = n - done;
        ls_store_batch b = {
            .build_id = build, .step = step, .lines = s.lines + done, .n_lines = size};
        int r = ls_store_append(st, &b, 1);
        if (r < 0)
            fprintf(stderr, "append: %s\n", ls_store_last_error());
        assert_int_equal(r, 0);
        done += size;
    }
    free_lines(&s);
}

/* Checks each line read against the generator, in order from `next`. */
typedef struct checker {
    uint64_t next;
    uint64_t count;
    int variant;
    char text[512];
} checker;

static int check_line(void *userdata, const ls_line *line)
{
    checker *c = userdata;
    ls_line want = make_line(c->next, c->variant, c->text);
    assert_true(line->seq == want.seq);
    assert_true(line->ts_ms == want.ts_ms);
    assert_int_equal(line->stream, want.stream);
    assert_int_equal(line->continued, want.continued);
    assert_int_equal(line->len, want.len);
    if (want.len)
        assert_memory_equal(line->text, want.text, want.len);
    c->next++;
    c->count++;
    return 0;
}

/* Reads [from, from + limit) and expects exactly lines from..expect_last. */
static void assert_read_range(ls_store *st, int64_t build, int step, uint64_t from, uint64_t limit,
                              uint64_t expect_count)
{
    checker c = {.next = from ? from : 1};
    int r = ls_store_read(st, build, step, from, limit, check_line, &c);
    if (r != 0)
        fprintf(stderr, "read: %s\n", ls_store_last_error());
    assert_int_equal(r, 0);
    assert_int_equal(c.count, expect_count);
}

static void assert_counters(ls_store *st, int64_t build, int step, uint64_t lines)
{
    ls_step_info info;
    assert_int_equal(ls_store_get_step(st, build, step, &info), 0);
    assert_int_equal(info.line_count, lines);
    assert_int_equal(info.byte_count, bytes_up_to(lines));
}

/* ---- tests ---- */

static void test_status_helpers(void **state)
{
    (void)state;
    static const ls_status all[] = {LS_STATUS_PENDING, LS_STATUS_RUNNING, LS_STATUS_SUCCESS,
                                    LS_STATUS_FAILURE, LS_STATUS_CANCELED};
    static const char *const names[] = {"pending", "running", "success", "failure", "canceled"};
    for (size_t i = 0; i < 5; i++) {
        ls_status s = LS_STATUS_PENDING;
        assert_string_equal(ls_status_name(all[i]), names[i]);
        assert_int_equal(ls_status_parse(names[i], &s), 0);
        assert_int_equal(s, all[i]);
        assert_int_equal(ls_status_is_final(all[i]), i >= 2);
    }
    ls_status s = LS_STATUS_RUNNING;
    assert_int_equal(ls_status_parse("Success", &s), -EINVAL);
    assert_int_equal(ls_status_parse("", &s), -EINVAL);
    assert_int_equal(ls_status_parse(NULL, &s), -EINVAL);
    assert_int_equal(s, LS_STATUS_RUNNING);
}

static void test_builds_numbering_and_listing(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 0);
    ls_build_info a1 = create_build(st, "alpha", 3);
    ls_build_info a2 = create_build(st, "alpha", 1);
    ls_build_info b1 = create_build(st, "beta", 0);
    ls_build_info a3 = create_build(st, "alpha", 2);
    assert_int_equal(a1.number, 1);
    assert_int_equal(a2.number, 2);
    assert_int_equal(b1.number, 1);
    assert_int_equal(a3.number, 3);
    assert_true(a1.id < a2.id && a2.id < b1.id && b1.id < a3.id);
    assert_string_equal(a3.name, "alpha");
    assert_int_equal(a3.status, LS_STATUS_PENDING);
    assert_true(a3.created_ms > 1600000000000);

    ls_build_info got;
    ls_step_info *steps = NULL;
    size_t n = 0;
    assert_int_equal(ls_store_get_build(st, a1.id, &got, &steps, &n), 0);
    assert_int_equal(got.id, a1.id);
    assert_int_equal(got.number, 1);
    assert_int_equal(got.created_ms, a1.created_ms);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "step %zu", i + 1);
        assert_string_equal(steps[i].name, name);
        assert_int_equal(steps[i].number, (int)i + 1);
        assert_int_equal(steps[i].build_id, a1.id);
        assert_int_equal(steps[i].service, i == 2);
        assert_int_equal(steps[i].status, LS_STATUS_PENDING);
        assert_false(steps[i].has_exit_code);
        assert_int_equal(steps[i].line_count, 0);
    }
    free(steps);
    steps = NULL;
    assert_int_equal(ls_store_get_build(st, b1.id, &got, &steps, &n), 0);
    assert_int_equal(n, 0);
    free(steps);
    assert_int_equal(ls_store_get_build(st, a3.id + 100, &got, NULL, NULL), -ENOENT);
    assert_non_null(strstr(ls_store_last_error(), "no build"));

    /* newest first, paginated by id */
    ls_build_info *list = NULL;
    assert_int_equal(ls_store_list_builds(st, 0, 2, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, a3.id);
    assert_int_equal(list[1].id, b1.id);
    int64_t before = list[1].id;
    free(list);
    assert_int_equal(ls_store_list_builds(st, before, 2, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, a2.id);
    assert_int_equal(list[1].id, a1.id);
    free(list);
    assert_int_equal(ls_store_list_builds(st, a1.id, 10, &list, &n), 0);
    assert_int_equal(n, 0);
    free(list);
    assert_int_equal(ls_store_list_builds(st, 0, 100, &list, &n), 0);
    assert_int_equal(n, 4);
    free(list);

    /* bad names */
    char long_name[LS_NAME_MAX + 1];
    memset(long_name, 'x', LS_NAME_MAX);
    long_name[LS_NAME_MAX] = '\0';
    assert_int_equal(ls_store_create_build(st, long_name, NULL, 0, &got), -EINVAL);
    assert_int_equal(ls_store_create_build(st, "", NULL, 0, &got), -EINVAL);
    ls_step_info unnamed = {0};
    assert_int_equal(ls_store_create_build(st, "ok", &unnamed, 1, &got), -EINVAL);
    ls_store_free(st);
}

static void test_update_step_and_build(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 0);
    ls_build_info b = create_build(st, "upd", 2);

    ls_step_info s;
    assert_int_equal(ls_store_get_step(st, b.id, 2, &s), 0);
    s.status = LS_STATUS_FAILURE;
    s.has_exit_code = true;
    s.exit_code = 3;
    s.started_ms = 1000;
    s.finished_ms = 2000;
    s.truncated = true;
    s.line_count = 999; /* counters are not written by update */
    assert_int_equal(ls_store_update_step(st, &s), 0);
    ls_step_info got;
    assert_int_equal(ls_store_get_step(st, b.id, 2, &got), 0);
    assert_int_equal(got.status, LS_STATUS_FAILURE);
    assert_true(got.has_exit_code);
    assert_int_equal(got.exit_code, 3);
    assert_int_equal(got.started_ms, 1000);
    assert_int_equal(got.finished_ms, 2000);
    assert_true(got.truncated);
    assert_int_equal(got.line_count, 0);
    assert_string_equal(got.name, "step 2");

    s.has_exit_code = false;
    s.status = LS_STATUS_RUNNING;
    assert_int_equal(ls_store_update_step(st, &s), 0);
    assert_int_equal(ls_store_get_step(st, b.id, 2, &got), 0);
    assert_false(got.has_exit_code);
    assert_int_equal(got.status, LS_STATUS_RUNNING);
    /* step 1 untouched */
    assert_int_equal(ls_store_get_step(st, b.id, 1, &got), 0);
    assert_int_equal(got.status, LS_STATUS_PENDING);

    s.number = 7;
    assert_int_equal(ls_store_update_step(st, &s), -ENOENT);
    assert_int_equal(ls_store_get_step(st, b.id, 7, &got), -ENOENT);
    s.number = 1;
    s.status = (ls_status)42;
    assert_int_equal(ls_store_update_step(st, &s), -EINVAL);

    b.status = LS_STATUS_SUCCESS;
    b.started_ms = 10;
    b.finished_ms = 20;
    assert_int_equal(ls_store_update_build(st, &b), 0);
    ls_build_info gb;
    assert_int_equal(ls_store_get_build(st, b.id, &gb, NULL, NULL), 0);
    assert_int_equal(gb.status, LS_STATUS_SUCCESS);
    assert_int_equal(gb.started_ms, 10);
    assert_int_equal(gb.finished_ms, 20);
    b.id += 50;
    assert_int_equal(ls_store_update_build(st, &b), -ENOENT);
    ls_store_free(st);
}

static void test_append_read_across_chunks(void **state)
{
    fixture *f = *state;
    const size_t chunk = 4096;
    ls_store *st = open_store(f, chunk);
    ls_build_info b = create_build(st, "logs", 2);
    static const size_t sizes[] = {1, 7, 64, 257, 3, 1000, 30};
    append_lines(st, b.id, 1, 1, 5000, sizes, 7);
    append_lines(st, b.id, 2, 1, 123, sizes + 2, 2);
    assert_counters(st, b.id, 1, 5000);
    assert_counters(st, b.id, 2, 123);

    /* whole log and ranges: mid-chunk starts, limits crossing chunks, edges */
    assert_read_range(st, b.id, 1, 1, 0, 5000);
    assert_read_range(st, b.id, 1, 0, 0, 5000);
    assert_read_range(st, b.id, 1, 1234, 1000, 1000);
    assert_read_range(st, b.id, 1, 4999, 0, 2);
    assert_read_range(st, b.id, 1, 5000, 10, 1);
    assert_read_range(st, b.id, 1, 5001, 10, 0);
    assert_read_range(st, b.id, 1, 77, 1, 1);
    assert_read_range(st, b.id, 1, 2, UINT64_MAX, 4999);
    assert_read_range(st, b.id, 2, 100, 0, 24);
    assert_read_range(st, b.id, 3, 1, 0, 0);

    /* the log is in sealed chunks of bounded size plus a few open rows */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM chunks WHERE build_id = %lld AND step = 1 AND sealed = 1",
             (long long)b.id);
    int64_t sealed = query_int(f, sql);
    snprintf(sql, sizeof(sql), "SELECT MAX(n_bytes) FROM chunks WHERE build_id = %lld AND step = 1",
             (long long)b.id);
    int64_t max_raw = query_int(f, sql);
    snprintf(sql, sizeof(sql),
             "SELECT COALESCE(SUM(n_bytes), 0) FROM chunks WHERE build_id = %lld AND step = 1 "
             "AND sealed = 0",
             (long long)b.id);
    int64_t open_bytes = query_int(f, sql);
    assert_true(sealed >= 5000 * 150 / (int64_t)chunk / 2);
    assert_true(max_raw < (int64_t)chunk + 400);
    assert_true(open_bytes < (int64_t)chunk);
    ls_store_free(st);
}

/* Batches for two steps in one call share one transaction. */
static void test_append_several_steps_at_once(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 2048);
    ls_build_info b = create_build(st, "multi", 3);
    line_set s = make_lines(1, 3000, 0);
    for (size_t done = 0; done < s.n; done += 500) {
        ls_store_batch batches[3];
        for (int k = 0; k < 3; k++)
            batches[k] = (ls_store_batch){
                .build_id = b.id, .step = k + 1, .lines = s.lines + done, .n_lines = 500};
        assert_int_equal(ls_store_append(st, batches, 3), 0);
    }
    for (int k = 1; k <= 3; k++) {
        assert_counters(st, b.id, k, 3000);
        assert_read_range(st, b.id, k, 1, 0, 3000);
    }
    free_lines(&s);
    ls_store_free(st);
}

static void test_reappend_ignored_and_gaps_rejected(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 1024);
    ls_build_info b = create_build(st, "retry", 2);
    static const size_t sizes[] = {40};
    append_lines(st, b.id, 1, 1, 100, sizes, 1);

    /* resend 50..150 with different text: 50..100 keep the first version */
    line_set again = make_lines(50, 101, 1);
    ls_store_batch batch = {.build_id = b.id, .step = 1, .lines = again.lines, .n_lines = 101};
    assert_int_equal(ls_store_append(st, &batch, 1), 0);
    assert_counters(st, b.id, 1, 100 + 50);
    assert_read_range(st, b.id, 1, 1, 100, 100);
    checker c = {.next = 101, .variant = 1};
    assert_int_equal(ls_store_read(st, b.id, 1, 101, 0, check_line, &c), 0);
    assert_int_equal(c.count, 50);
    /* a fully old batch is a no-op */
    assert_int_equal(ls_store_append(st, &batch, 1), 0);
    assert_counters(st, b.id, 1, 150);
    free_lines(&again);

    /* all or nothing: a good batch for step 2 with a gap batch for step 1 */
    line_set good = make_lines(1, 10, 0);
    line_set gap = make_lines(152, 5, 0);
    ls_store_batch both[2] = {
        {.build_id = b.id, .step = 2, .lines = good.lines, .n_lines = 10},
        {.build_id = b.id, .step = 1, .lines = gap.lines, .n_lines = 5},
    };
    assert_int_equal(ls_store_append(st, both, 2), -EINVAL);
    assert_non_null(strstr(ls_store_last_error(), "expected line 151"));
    assert_counters(st, b.id, 2, 0);
    assert_counters(st, b.id, 1, 150);
    assert_read_range(st, b.id, 2, 1, 0, 0);

    /* a missing step */
    both[1].step = 9;
    assert_int_equal(ls_store_append(st, both, 2), -ENOENT);
    assert_counters(st, b.id, 2, 0);
    /* a heartbeat is not a log line */
    good.lines[0].stream = 'h';
    assert_int_equal(ls_store_append(st, both, 1), -EINVAL);
    assert_counters(st, b.id, 2, 0);
    free_lines(&good);
    free_lines(&gap);
    ls_store_free(st);
}

static void test_reopen_persists(void **state)
{
    fixture *f = *state;
    static const size_t sizes[] = {333};
    ls_store *st = open_store(f, 8192);
    ls_build_info b = create_build(st, "persist", 1);
    append_lines(st, b.id, 1, 1, 1000, sizes, 1);
    ls_store_free(st);

    st = open_store(f, 8192);
    assert_counters(st, b.id, 1, 1000);
    assert_read_range(st, b.id, 1, 1, 0, 1000);
    /* the open rows left by the first session are merged by the next */
    append_lines(st, b.id, 1, 1001, 1000, sizes, 1);
    ls_build_info b2 = create_build(st, "persist", 1);
    assert_int_equal(b2.number, 2);
    ls_store_free(st);

    st = open_store(f, 0);
    assert_counters(st, b.id, 1, 2000);
    assert_read_range(st, b.id, 1, 1, 0, 2000);
    assert_read_range(st, b.id, 1, 990, 20, 20);
    ls_store_free(st);
    assert_int_equal(query_int(f, SCHEMA_VERSION_SQL), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM builds"), 2);
}

static void test_100k_lines_round_trip(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 0);
    ls_build_info b = create_build(st, "big", 1);
    static const size_t sizes[] = {10000};
    append_lines(st, b.id, 1, 1, 100000, sizes, 1);
    assert_counters(st, b.id, 1, 100000);
    assert_read_range(st, b.id, 1, 1, 0, 100000);
    assert_read_range(st, b.id, 1, 54321, 20000, 20000);
    ls_store_free(st);
}

typedef struct stopper {
    int seen;
} stopper;

static int stop_after_three(void *userdata, const ls_line *line)
{
    stopper *s = userdata;
    (void)line;
    return ++s->seen == 3 ? 5 : 0;
}

static void test_read_callback_stops(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 512);
    ls_build_info b = create_build(st, "stop", 1);
    static const size_t sizes[] = {50};
    append_lines(st, b.id, 1, 1, 200, sizes, 1);
    stopper s = {0};
    assert_int_equal(ls_store_read(st, b.id, 1, 10, 0, stop_after_three, &s), 5);
    assert_int_equal(s.seen, 3);
    ls_store_free(st);
}

static void test_newer_schema_refused(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 0);
    ls_store_free(st);
    exec_sql(f, SET_NEWER_SCHEMA_SQL);
    st = NULL;
    assert_int_equal(open_raw(f, NULL, &st), -EPROTONOSUPPORT);
    assert_null(st);
    assert_non_null(strstr(ls_store_last_error(), "newer"));
}

static void test_corrupt_chunk_reported(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 1024);
    ls_build_info b = create_build(st, "corrupt", 1);
    static const size_t sizes[] = {100};
    append_lines(st, b.id, 1, 1, 300, sizes, 1);
    exec_sql(f, CORRUPT_FIRST_CHUNK_SQL);
    checker c = {.next = 1};
    assert_int_equal(ls_store_read(st, b.id, 1, 1, 0, check_line, &c), -EBADMSG);
    assert_int_equal(c.count, 0);
    assert_non_null(strstr(ls_store_last_error(), "corrupt"));
    ls_store_free(st);
}

static void test_disk_full_is_enospc(void **state)
{
    fixture *f = *state;
    ls_store_options o = {.chunk_bytes = 16384, .max_db_bytes = disk_full_limit(f)};
    ls_store *st = NULL;
    assert_int_equal(open_raw(f, &o, &st), 0);
    ls_build_info b = create_build(st, "full", 1);
    /* incompressible text so the chunks really take space */
    enum { N = 50, LEN = 1000 };
    char *text = malloc((size_t)N * LEN);
    unsigned seed = 7;
    for (size_t i = 0; i < (size_t)N * LEN; i++)
        text[i] = (char)rand_r(&seed);
    ls_line lines[N];
    uint64_t seq = 1;
    int r = 0;
    for (int round = 0; round < 100 && r == 0; round++) {
        for (int i = 0; i < N; i++)
            lines[i] = (ls_line){.seq = seq + (uint64_t)i,
                                 .ts_ms = 1,
                                 .stream = 'o',
                                 .len = LEN,
                                 .text = text + (size_t)i * LEN};
        ls_store_batch batch = {.build_id = b.id, .step = 1, .lines = lines, .n_lines = N};
        r = ls_store_append(st, &batch, 1);
        if (r == 0)
            seq += N;
    }
    assert_int_equal(r, -ENOSPC);
    ls_step_info info;
    assert_int_equal(ls_store_get_step(st, b.id, 1, &info), 0);
    assert_int_equal(info.line_count, seq - 1);
    assert_true(info.line_count > 0);
    /* what was stored before stays readable */
    stopper s = {0};
    assert_int_equal(ls_store_read(st, b.id, 1, 1, 2, stop_after_three, &s), 0);
    assert_int_equal(s.seen, 2);
    free(text);
    ls_store_free(st);
}

/* A reader running during appends always sees a gap-free prefix. */
typedef struct writer_args {
    ls_store *st;
    int64_t build;
} writer_args;

static void *writer_thread(void *arg)
{
    writer_args *w = arg;
    static const size_t sizes[] = {97};
    append_lines(w->st, w->build, 1, 1, 20000, sizes, 1);
    return NULL;
}

static void test_read_during_write(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 4096);
    ls_build_info b = create_build(st, "concurrent", 1);
    writer_args w = {.st = st, .build = b.id};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_thread, &w), 0);
    uint64_t last = 0;
    int rounds = 0;
    while (last < 20000) {
        ls_step_info info;
        assert_int_equal(ls_store_get_step(st, b.id, 1, &info), 0);
        checker c = {.next = 1};
        assert_int_equal(ls_store_read(st, b.id, 1, 1, 0, check_line, &c), 0);
        assert_true(c.count >= info.line_count);
        assert_true(c.count >= last);
        last = c.count;
        rounds++;
    }
    pthread_join(t, NULL);
    assert_true(rounds > 0);
    assert_counters(st, b.id, 1, 20000);
    ls_store_free(st);
}

/* A reader that follows a growing log the way the server's line source
 * does (GET .../logs, SSE): each read starts after the last line it got, with
 * a small limit, while small appends keep adding open rows and sealing them
 * (rewriting the rows the reader is in the middle of). Every line must come
 * exactly once, in order: a line delivered twice or skipped fails check_line. */
typedef struct follow_writer {
    ls_store *st;
    int64_t build;
    uint64_t n;
} follow_writer;

static void *follow_writer_thread(void *arg)
{
    follow_writer *w = arg;
    static const size_t sizes[] = {1, 3, 17, 2, 40, 1, 9};
    append_lines(w->st, w->build, 1, 1, (size_t)w->n, sizes, 7);
    return NULL;
}

static void test_follow_during_write_delivers_each_line_once(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 1024); /* a seal every few appends */
    ls_build_info b = create_build(st, "follow", 1);
    follow_writer w = {.st = st, .build = b.id, .n = 12000};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, follow_writer_thread, &w), 0);
    static const uint64_t limits[] = {1, 2, 7, 50, 333, 0};
    uint64_t after = 0, reads = 0;
    while (after < w.n) {
        ls_step_info info;
        assert_int_equal(ls_store_get_step(st, b.id, 1, &info), 0);
        uint64_t limit = limits[reads % 6];
        checker c = {.next = after + 1};
        int r = ls_store_read(st, b.id, 1, after + 1, limit, check_line, &c);
        if (r != 0)
            fprintf(stderr, "read: %s\n", ls_store_last_error());
        assert_int_equal(r, 0);
        /* everything the counters called durable before the read is there */
        uint64_t want = info.line_count > after ? info.line_count - after : 0;
        if (limit && want > limit)
            want = limit;
        assert_true(c.count >= want);
        assert_true(!limit || c.count <= limit);
        after += c.count;
        reads++;
    }
    pthread_join(t, NULL);
    assert_int_equal(after, w.n);
    assert_true(reads > 1);
    /* and once more from every kind of starting point, the log complete */
    assert_read_range(st, b.id, 1, 1, 0, w.n);
    assert_read_range(st, b.id, 1, w.n / 2 + 1, 0, w.n - w.n / 2);
    assert_counters(st, b.id, 1, w.n);
    ls_store_free(st);
}

/* Rows that overlap (which appends never make, but a reader must not repeat
 * lines whatever it finds): each line is delivered once, in order. */
static void test_overlapping_rows_deliver_each_line_once(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 1 << 20); /* nothing sealed: one open row per append */
    ls_build_info b = create_build(st, "overlap", 2);
    static const size_t tens[] = {10}, three_then_rest[] = {3, 17};
    append_lines(st, b.id, 1, 1, 20, tens, 1);            /* rows 1-10, 11-20 */
    append_lines(st, b.id, 2, 1, 20, three_then_rest, 2); /* rows 1-3, 4-20 */
    /* step 2's row 4-20 (the same lines: text derives from seq) into step 1 */
    char sql[300];
    snprintf(sql, sizeof(sql),
             "INSERT INTO chunks(build_id, step, first_seq, last_seq, n_bytes, sealed, data) "
             "SELECT build_id, 1, first_seq, last_seq, n_bytes, sealed, data FROM chunks "
             "WHERE build_id = %lld AND step = 2 AND first_seq = 4",
             (long long)b.id);
    exec_sql(f, sql);
    assert_read_range(st, b.id, 1, 1, 0, 20);
    assert_read_range(st, b.id, 1, 5, 0, 16);
    assert_read_range(st, b.id, 1, 9, 5, 5);
    assert_read_range(st, b.id, 1, 12, 0, 9);
    ls_store_free(st);
}

static ls_token_info make_token(unsigned char fill, ls_scope scope, int64_t build_id,
                                const char *name)
{
    ls_token_info t;
    memset(&t, 0, sizeof(t));
    t.scope = scope;
    t.build_id = build_id;
    t.created_ms = 1700000000000 + fill;
    t.expires_ms = scope == LS_SCOPE_WORKER ? 1800000000000 : 0;
    snprintf(t.name, sizeof(t.name), "%s", name);
    for (int i = 0; i < LS_TOKEN_HASH_BYTES; i++)
        t.hash[i] = (unsigned char)(fill + i * 7);
    return t;
}

static void assert_token_equal(const ls_token_info *got, const ls_token_info *want, int64_t id)
{
    assert_int_equal(got->id, id);
    assert_string_equal(got->name, want->name);
    assert_int_equal(got->scope, want->scope);
    assert_int_equal(got->build_id, want->build_id);
    assert_int_equal(got->created_ms, want->created_ms);
    assert_int_equal(got->expires_ms, want->expires_ms);
    assert_memory_equal(got->hash, want->hash, LS_TOKEN_HASH_BYTES);
}

static void test_tokens(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 0);
    ls_build_info b = create_build(st, "tok", 1);
    ls_token_info admin = make_token(1, LS_SCOPE_ADMIN, 0, "admin");
    ls_token_info worker = make_token(2, LS_SCOPE_WORKER, 0, "ci \"runner\" 7");
    ls_token_info build = make_token(3, LS_SCOPE_BUILD, b.id, "");
    int64_t id_admin = 0, id_worker = 0, id_build = 0;
    assert_int_equal(ls_store_create_token(st, &admin, &id_admin), 0);
    assert_int_equal(ls_store_create_token(st, &worker, &id_worker), 0);
    assert_int_equal(ls_store_create_token(st, &build, &id_build), 0);
    assert_true(id_admin > 0 && id_admin < id_worker && id_worker < id_build);

    /* the same hash twice, a build that does not exist, a scope without its build */
    ls_token_info dup = make_token(1, LS_SCOPE_READ, 0, "dup");
    assert_int_equal(ls_store_create_token(st, &dup, NULL), -EEXIST);
    ls_token_info orphan = make_token(9, LS_SCOPE_BUILD, b.id + 1000, "");
    assert_int_equal(ls_store_create_token(st, &orphan, NULL), -ENOENT);
    ls_token_info bad = make_token(10, LS_SCOPE_READ, b.id, "");
    assert_int_equal(ls_store_create_token(st, &bad, NULL), -EINVAL);

    ls_token_info got;
    assert_int_equal(ls_store_find_token(st, worker.hash, &got), 0);
    assert_token_equal(&got, &worker, id_worker);
    assert_int_equal(ls_store_find_token(st, build.hash, &got), 0);
    assert_token_equal(&got, &build, id_build);
    ls_token_info unknown = make_token(42, LS_SCOPE_READ, 0, "");
    assert_int_equal(ls_store_find_token(st, unknown.hash, &got), -ENOENT);

    /* listing leaves out build tokens */
    ls_token_info *list = NULL;
    size_t n = 0;
    assert_int_equal(ls_store_list_tokens(st, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_token_equal(&list[0], &admin, id_admin);
    assert_token_equal(&list[1], &worker, id_worker);
    free(list);

    assert_int_equal(ls_store_delete_token(st, id_worker), 0);
    assert_int_equal(ls_store_delete_token(st, id_worker), -ENOENT);
    assert_int_equal(ls_store_find_token(st, worker.hash, &got), -ENOENT);
    ls_store_free(st);

    /* they outlive the store object */
    st = open_store(f, 0);
    assert_int_equal(ls_store_list_tokens(st, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_token_equal(&list[0], &admin, id_admin);
    free(list);
    ls_store_free(st);
}

/* The cases above as entries of a cmocka test table. */
/* ---- size limits and retention (store.h): dropping the middle of a log chunk
 * by chunk, the build size, deleting builds, listing finished builds ---- */

#define LIM_CHUNK 4096
#define LIM_LINE_LEN 100

typedef struct lim {
    ls_store *st;
    int64_t build;
} lim;

static lim lim_open(void *state)
{
    lim L = {.st = open_store(state, LIM_CHUNK)};
    ls_step_info steps[2];
    memset(steps, 0, sizeof(steps));
    snprintf(steps[0].name, sizeof(steps[0].name), "big");
    snprintf(steps[1].name, sizeof(steps[1].name), "small");
    ls_build_info b;
    assert_int_equal(ls_store_create_build(L.st, "limits", steps, 2, &b), 0);
    L.build = b.id;
    return L;
}

/* Appends lines from..to (LIM_LINE_LEN bytes each, text derived from seq), in
 * appends of `per` lines so chunks get sealed along the way. */
static void lim_append_lines(lim *f, int step, uint64_t from, uint64_t to, size_t per)
{
    static char texts[64][LIM_LINE_LEN];
    ls_line lines[64];
    assert_true(per <= 64);
    for (uint64_t seq = from; seq <= to;) {
        size_t n = 0;
        for (; n < per && seq <= to; n++, seq++) {
            memset(texts[n], 'a' + (int)(seq % 26), LIM_LINE_LEN);
            snprintf(texts[n], 21, "%019llu", (unsigned long long)seq);
            texts[n][19] = ' ';
            lines[n] = (ls_line){.seq = seq,
                                 .ts_ms = 1000 + (int64_t)seq,
                                 .stream = LS_STREAM_STDOUT,
                                 .len = LIM_LINE_LEN,
                                 .text = texts[n]};
        }
        ls_store_batch b = {.build_id = f->build, .step = step, .lines = lines, .n_lines = n};
        assert_int_equal(ls_store_append(f->st, &b, 1), 0);
    }
}

typedef struct lim_collected {
    uint64_t seqs[20000];
    size_t n;
    bool bad_text;
} lim_collected;

static int lim_collect(void *arg, const ls_line *line)
{
    lim_collected *c = arg;
    char want[21];
    snprintf(want, sizeof(want), "%019llu", (unsigned long long)line->seq);
    if (line->len != LIM_LINE_LEN || memcmp(line->text, want, 19) != 0)
        c->bad_text = true;
    if (c->n < sizeof(c->seqs) / sizeof(c->seqs[0]))
        c->seqs[c->n++] = line->seq;
    return 0;
}

static void test_limits_drop_middle_keeps_head_and_tail(void **state)
{
    lim L = lim_open(*state);
    lim *f = &L;
    lim_append_lines(f, 1, 1, 2000, 10); /* 200 KB of text, ~50 chunks */
    ls_step_info info;
    /* head: about 20 KB of chunks; drop at least 100 KB after it */
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 1, 20000, 100000, &info), 0);
    assert_true(info.truncated);
    assert_true(info.drop_first > 150 && info.drop_first < 300);
    assert_true(info.drop_last > info.drop_first);
    uint64_t dropped = info.drop_last - info.drop_first + 1;
    assert_int_equal(info.drop_bytes, dropped * LIM_LINE_LEN);
    assert_true(info.drop_bytes >= 100000 && info.drop_bytes < 100000 + 2 * LIM_CHUNK);
    /* counters are those of everything received */
    assert_int_equal(info.line_count, 2000);
    assert_int_equal(info.byte_count, 2000 * LIM_LINE_LEN);

    /* readers get the head, then (no marker: that is the server's) the tail */
    lim_collected *c = calloc(1, sizeof(*c));
    assert_int_equal(ls_store_read(f->st, f->build, 1, 1, 0, lim_collect, c), 0);
    assert_false(c->bad_text);
    assert_int_equal(c->n, 2000 - dropped);
    for (size_t i = 0; i < c->n; i++) {
        uint64_t want = i + 1 < info.drop_first ? i + 1 : i + 1 + dropped;
        assert_int_equal(c->seqs[i], want);
    }
    /* a read starting inside the gap continues after it */
    c->n = 0;
    assert_int_equal(ls_store_read(f->st, f->build, 1, info.drop_first + 3, 5, lim_collect, c), 0);
    assert_int_equal(c->n, 0); /* [from, from + 5) lies in the gap */
    assert_int_equal(ls_store_read(f->st, f->build, 1, info.drop_first + 3, 0, lim_collect, c), 0);
    assert_int_equal(c->seqs[0], info.drop_last + 1);

    /* the next drop extends the same run; the head does not move */
    ls_step_info again;
    lim_append_lines(f, 1, 2001, 2400, 10);
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 1, 20000, 30000, &again), 0);
    assert_int_equal(again.drop_first, info.drop_first);
    assert_true(again.drop_last > info.drop_last);
    assert_int_equal(again.drop_bytes, (again.drop_last - again.drop_first + 1) * LIM_LINE_LEN);

    /* the build's stored size excludes the dropped bytes */
    uint64_t bytes = 0;
    assert_int_equal(ls_store_build_bytes(f->st, f->build, &bytes), 0);
    assert_int_equal(bytes, 2400 * LIM_LINE_LEN - again.drop_bytes);

    /* a status update does not clear the flag or the drop */
    again.status = LS_STATUS_SUCCESS;
    again.truncated = false;
    assert_int_equal(ls_store_update_step(f->st, &again), 0);
    assert_int_equal(ls_store_get_step(f->st, f->build, 1, &info), 0);
    assert_true(info.truncated);
    assert_int_equal(info.drop_last, again.drop_last);
    free(c);
    ls_store_free(f->st);
}

static void test_limits_drop_never_touches_open_rows(void **state)
{
    lim L = lim_open(*state);
    lim *f = &L;
    /* one line per append: nothing reaches a chunk's size, all rows are open */
    lim_append_lines(f, 2, 1, 30, 1);
    ls_step_info info;
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 2, 0, 1000000, &info), 0);
    assert_false(info.truncated);
    assert_int_equal(info.drop_first, 0);
    lim_collected *c = calloc(1, sizeof(*c));
    assert_int_equal(ls_store_read(f->st, f->build, 2, 1, 0, lim_collect, c), 0);
    assert_int_equal(c->n, 30);
    free(c);
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 9, 0, 10, NULL), -ENOENT);
    ls_store_free(f->st);
}

static void test_limits_delete_and_list_finished(void **state)
{
    lim L = lim_open(*state);
    lim *f = &L;
    lim_append_lines(f, 1, 1, 500, 50);
    ls_build_info b;
    assert_int_equal(ls_store_get_build(f->st, f->build, &b, NULL, NULL), 0);
    int64_t *ids = NULL;
    size_t n = 9;
    /* running builds are never listed */
    assert_int_equal(ls_store_list_finished_before(f->st, ls_now_ms() + 1000, 0, 10, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
    b.status = LS_STATUS_SUCCESS;
    b.finished_ms = ls_now_ms() - 5000;
    assert_int_equal(ls_store_update_build(f->st, &b), 0);
    assert_int_equal(ls_store_list_finished_before(f->st, ls_now_ms() - 10000, 0, 10, &ids, &n), 0);
    assert_int_equal(n, 0); /* finished after the cut-off */
    free(ids);
    assert_int_equal(ls_store_list_finished_before(f->st, ls_now_ms(), 0, 10, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], f->build);
    free(ids);
    assert_int_equal(ls_store_list_finished_before(f->st, ls_now_ms(), f->build, 10, &ids, &n), 0);
    assert_int_equal(n, 0); /* after_id pages on */
    free(ids);

    assert_int_equal(ls_store_delete_build(f->st, f->build), 0);
    assert_int_equal(ls_store_get_build(f->st, f->build, &b, NULL, NULL), -ENOENT);
    ls_step_info info;
    assert_int_equal(ls_store_get_step(f->st, f->build, 1, &info), -ENOENT);
    lim_collected *c = calloc(1, sizeof(*c));
    assert_int_equal(ls_store_read(f->st, f->build, 1, 1, 0, lim_collect, c), 0);
    assert_int_equal(c->n, 0);
    free(c);
    assert_int_equal(ls_store_delete_build(f->st, f->build), -ENOENT);
    ls_store_free(f->st);
}

#define STORE_CASES(setup, teardown)                                                               \
    cmocka_unit_test(test_status_helpers),                                                         \
        cmocka_unit_test_setup_teardown(test_builds_numbering_and_listing, setup, teardown),       \
        cmocka_unit_test_setup_teardown(test_update_step_and_build, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_append_read_across_chunks, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_append_several_steps_at_once, setup, teardown),       \
        cmocka_unit_test_setup_teardown(test_reappend_ignored_and_gaps_rejected, setup, teardown), \
        cmocka_unit_test_setup_teardown(test_reopen_persists, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_100k_lines_round_trip, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_read_callback_stops, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),               \
        cmocka_unit_test_setup_teardown(test_corrupt_chunk_reported, setup, teardown),             \
        cmocka_unit_test_setup_teardown(test_disk_full_is_enospc, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_read_during_write, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_overlapping_rows_deliver_each_line_once, setup,       \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_follow_during_write_delivers_each_line_once, setup,   \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_limits_drop_middle_keeps_head_and_tail, setup,        \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_limits_drop_never_touches_open_rows, setup,           \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_limits_delete_and_list_finished, setup, teardown)

#endif
