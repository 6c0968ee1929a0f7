/* links: store common */
/* The store's size-limit and retention operations (store.h, "size limits and
 * retention") on a real SQLite file: dropping the middle of a log chunk by
 * chunk, the build size, deleting builds, listing finished builds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/timeutil.h"
#include "store/store.h"

#define CHUNK 4096
#define LINE_LEN 100

typedef struct fixture {
    char dir[64];
    char path[128];
    ls_store *st;
    int64_t build;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_limits_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/logstream.db", f->dir);
    ls_store_options o = {.chunk_bytes = CHUNK};
    if (ls_store_open_sqlite(f->path, &o, &f->st) < 0)
        return -1;
    ls_step_info steps[2];
    memset(steps, 0, sizeof(steps));
    snprintf(steps[0].name, sizeof(steps[0].name), "big");
    snprintf(steps[1].name, sizeof(steps[1].name), "small");
    ls_build_info b;
    if (ls_store_create_build(f->st, "limits", steps, 2, &b) < 0)
        return -1;
    f->build = b.id;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ls_store_free(f->st);
    char p[160];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Appends lines from..to (LINE_LEN bytes each, text derived from seq), in
 * appends of `per` lines so chunks get sealed along the way. */
static void append_lines(fixture *f, int step, uint64_t from, uint64_t to, size_t per)
{
    static char texts[64][LINE_LEN];
    ls_line lines[64];
    assert_true(per <= 64);
    for (uint64_t seq = from; seq <= to;) {
        size_t n = 0;
        for (; n < per && seq <= to; n++, seq++) {
            memset(texts[n], 'a' + (int)(seq % 26), LINE_LEN);
            snprintf(texts[n], 21, "%019llu", (unsigned long long)seq);
            texts[n][19] = ' ';
            lines[n] = (ls_line){.seq = seq,
                                 .ts_ms = 1000 + (int64_t)seq,
                                 .stream = LS_STREAM_STDOUT,
                                 .len = LINE_LEN,
                                 .text = texts[n]};
        }
        ls_store_batch b = {.build_id = f->build, .step = step, .lines = lines, .n_lines = n};
        assert_int_equal(ls_store_append(f->st, &b, 1), 0);
    }
}

typedef struct collected {
    uint64_t seqs[20000];
    size_t n;
    bool bad_text;
} collected;

static int collect(void *arg, const ls_line *line)
{
    collected *c = arg;
    char want[21];
    snprintf(want, sizeof(want), "%019llu", (unsigned long long)line->seq);
    if (line->len != LINE_LEN || memcmp(line->text, want, 19) != 0)
        c->bad_text = true;
    if (c->n < sizeof(c->seqs) / sizeof(c->seqs[0]))
        c->seqs[c->n++] = line->seq;
    return 0;
}

static void test_drop_middle_keeps_head_and_tail(void **state)
{
    fixture *f = *state;
    append_lines(f, 1, 1, 2000, 10); /* 200 KB of text, ~50 chunks */
    ls_step_info info;
    /* head: about 20 KB of chunks; drop at least 100 KB after it */
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 1, 20000, 100000, &info), 0);
    assert_true(info.truncated);
    assert_true(info.drop_first > 150 && info.drop_first < 300);
    assert_true(info.drop_last > info.drop_first);
    uint64_t dropped = info.drop_last - info.drop_first + 1;
    assert_int_equal(info.drop_bytes, dropped * LINE_LEN);
    assert_true(info.drop_bytes >= 100000 && info.drop_bytes < 100000 + 2 * CHUNK);
    /* counters are those of everything received */
    assert_int_equal(info.line_count, 2000);
    assert_int_equal(info.byte_count, 2000 * LINE_LEN);

    /* readers get the head, then (no marker: that is the server's) the tail */
    collected *c = calloc(1, sizeof(*c));
    assert_int_equal(ls_store_read(f->st, f->build, 1, 1, 0, collect, c), 0);
    assert_false(c->bad_text);
    assert_int_equal(c->n, 2000 - dropped);
    for (size_t i = 0; i < c->n; i++) {
        uint64_t want = i + 1 < info.drop_first ? i + 1 : i + 1 + dropped;
        assert_int_equal(c->seqs[i], want);
    }
    /* a read starting inside the gap continues after it */
    c->n = 0;
    assert_int_equal(ls_store_read(f->st, f->build, 1, info.drop_first + 3, 5, collect, c), 0);
    assert_int_equal(c->n, 0); /* [from, from + 5) lies in the gap */
    assert_int_equal(ls_store_read(f->st, f->build, 1, info.drop_first + 3, 0, collect, c), 0);
    assert_int_equal(c->seqs[0], info.drop_last + 1);

    /* the next drop extends the same run; the head does not move */
    ls_step_info again;
    append_lines(f, 1, 2001, 2400, 10);
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 1, 20000, 30000, &again), 0);
    assert_int_equal(again.drop_first, info.drop_first);
    assert_true(again.drop_last > info.drop_last);
    assert_int_equal(again.drop_bytes, (again.drop_last - again.drop_first + 1) * LINE_LEN);

    /* the build's stored size excludes the dropped bytes */
    uint64_t bytes = 0;
    assert_int_equal(ls_store_build_bytes(f->st, f->build, &bytes), 0);
    assert_int_equal(bytes, 2400 * LINE_LEN - again.drop_bytes);

    /* a status update does not clear the flag or the drop */
    again.status = LS_STATUS_SUCCESS;
    again.truncated = false;
    assert_int_equal(ls_store_update_step(f->st, &again), 0);
    assert_int_equal(ls_store_get_step(f->st, f->build, 1, &info), 0);
    assert_true(info.truncated);
    assert_int_equal(info.drop_last, again.drop_last);
    free(c);
}

static void test_drop_never_touches_open_rows(void **state)
{
    fixture *f = *state;
    /* one line per append: nothing reaches a chunk's size, all rows are open */
    append_lines(f, 2, 1, 30, 1);
    ls_step_info info;
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 2, 0, 1000000, &info), 0);
    assert_false(info.truncated);
    assert_int_equal(info.drop_first, 0);
    collected *c = calloc(1, sizeof(*c));
    assert_int_equal(ls_store_read(f->st, f->build, 2, 1, 0, collect, c), 0);
    assert_int_equal(c->n, 30);
    free(c);
    assert_int_equal(ls_store_drop_middle(f->st, f->build, 9, 0, 10, NULL), -ENOENT);
}

static void test_delete_and_list_finished(void **state)
{
    fixture *f = *state;
    append_lines(f, 1, 1, 500, 50);
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
    collected *c = calloc(1, sizeof(*c));
    assert_int_equal(ls_store_read(f->st, f->build, 1, 1, 0, collect, c), 0);
    assert_int_equal(c->n, 0);
    free(c);
    assert_int_equal(ls_store_delete_build(f->st, f->build), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drop_middle_keeps_head_and_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_never_touches_open_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_list_finished, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
