/* links: worker mask common */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/record.h"
#include "worker/spool.h"

static char dir[] = "/tmp/test_spool.XXXXXX";

static void spool_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_spool.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Appends line seq with text "line SEQ" padded with pad bytes of 'x'. */
static void append_line(ls_spool *s, uint64_t seq, size_t pad)
{
    char text[256];
    int n = snprintf(text, sizeof(text), "line %llu", (unsigned long long)seq);
    memset(text + n, 'x', pad);
    ls_line line = {.seq = seq,
                    .ts_ms = 1700000000000 + (int64_t)seq,
                    .stream = seq % 3 ? 'o' : 'e',
                    .continued = false,
                    .len = (uint32_t)(n + pad),
                    .text = text};
    assert_int_equal(ls_spool_append(s, &line), 0);
}

/* Parses the records in buf and checks they are first, first+1, ... */
static uint64_t check_records(const ls_buf *buf, uint64_t first)
{
    const char *p = buf->data, *end = buf->data + buf->len;
    uint64_t seq = first;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        ls_line line;
        const char *err;
        assert_int_equal(ls_record_parse(p, (size_t)(nl - p), 1 << 20, &line, &err), 0);
        assert_int_equal(line.seq, seq);
        char want[64];
        int n = snprintf(want, sizeof(want), "line %llu", (unsigned long long)seq);
        assert_true(line.len >= (uint32_t)n);
        assert_memory_equal(line.text, want, (size_t)n);
        seq++;
        p = nl + 1;
    }
    return seq - first;
}

static void test_append_and_read_all(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "a.spool");
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, NULL, &s), 0);
    assert_int_equal(ls_spool_last_seq(s), 0);
    uint64_t bytes = 0;
    for (uint64_t i = 1; i <= 5000; i++) {
        append_line(s, i, i % 7);
        bytes += (uint64_t)snprintf(NULL, 0, "line %llu", (unsigned long long)i) + i % 7;
    }
    assert_int_equal(ls_spool_last_seq(s), 5000);
    assert_int_equal(ls_spool_bytes(s), bytes);

    ls_spool_cursor cur;
    assert_int_equal(ls_spool_seek(s, 1, &cur), 0);
    ls_buf out = LS_BUF_INIT;
    uint64_t total = 0, count;
    do {
        assert_int_equal(ls_spool_read(s, &cur, 1000, &out, &count), 0);
        total += count;
    } while (count > 0);
    assert_int_equal(total, 5000);
    assert_int_equal(cur.next_seq, 5001);
    assert_int_equal(check_records(&out, 1), 5000);
    ls_buf_free(&out);
    ls_spool_free(s);
}

static void test_out_of_order_append_rejected(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "b.spool");
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, NULL, &s), 0);
    append_line(s, 1, 0);
    ls_line gap = {.seq = 3, .ts_ms = 1, .stream = 'o', .len = 1, .text = "x"};
    assert_int_equal(ls_spool_append(s, &gap), -EINVAL);
    ls_line dup = {.seq = 1, .ts_ms = 1, .stream = 'o', .len = 1, .text = "x"};
    assert_int_equal(ls_spool_append(s, &dup), -EINVAL);
    assert_int_equal(ls_spool_last_seq(s), 1);
    ls_spool_free(s);
}

static void test_read_from_seq(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "c.spool");
    ls_spool_options o = {.index_every = 100};
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, &o, &s), 0);
    for (uint64_t i = 1; i <= 10000; i++)
        append_line(s, i, 3);
    uint64_t starts[] = {1, 2, 99, 100, 101, 4567, 9999, 10000};
    for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
        ls_spool_cursor cur;
        assert_int_equal(ls_spool_seek(s, starts[k], &cur), 0);
        ls_buf out = LS_BUF_INIT;
        uint64_t count;
        assert_int_equal(ls_spool_read(s, &cur, 64, &out, &count), 0);
        assert_true(count >= 1);
        assert_int_equal(check_records(&out, starts[k]), count);
        ls_buf_free(&out);
    }
    ls_spool_cursor end;
    assert_int_equal(ls_spool_seek(s, 10001, &end), 0);
    ls_buf out = LS_BUF_INIT;
    uint64_t count = 99;
    assert_int_equal(ls_spool_read(s, &end, 4096, &out, &count), 0);
    assert_int_equal(count, 0);
    /* Lines appended later appear at the end cursor. */
    append_line(s, 10001, 0);
    assert_int_equal(ls_spool_read(s, &end, 4096, &out, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(check_records(&out, 10001), 1);
    assert_int_equal(ls_spool_seek(s, 10003, &end), -ERANGE);
    assert_int_equal(ls_spool_seek(s, 0, &end), -ERANGE);
    ls_buf_free(&out);
    ls_spool_free(s);
}

static void test_index_is_sparse(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "d.spool");
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, NULL, &s), 0);
    for (uint64_t i = 1; i <= 200000; i++)
        append_line(s, i, 0);
    /* Default: one entry per 1024 records (or per MiB). */
    size_t n = ls_spool_index_entries(s);
    assert_true(n >= 195 && n <= 200);
    ls_spool_free(s);
}

static void test_long_record_read_whole(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "e.spool");
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, NULL, &s), 0);
    size_t big = 200000;
    char *text = malloc(big);
    memset(text, 'y', big);
    memcpy(text, "line 1", 6);
    ls_line line = {.seq = 1, .ts_ms = 5, .stream = 'o', .len = (uint32_t)big, .text = text};
    assert_int_equal(ls_spool_append(s, &line), 0);
    append_line(s, 2, 0);
    ls_spool_cursor cur;
    assert_int_equal(ls_spool_seek(s, 2, &cur), 0);
    ls_buf out = LS_BUF_INIT;
    uint64_t count;
    assert_int_equal(ls_spool_read(s, &cur, 10, &out, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(check_records(&out, 2), 1);
    ls_buf_reset(&out);
    assert_int_equal(ls_spool_seek(s, 1, &cur), 0);
    assert_int_equal(ls_spool_read(s, &cur, 10, &out, &count), 0);
    assert_int_equal(count, 1);
    assert_true(out.len > big);
    ls_buf_free(&out);
    free(text);
    ls_spool_free(s);
}

static void test_reopen_and_torn_tail(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "f.spool");
    ls_spool *s;
    ls_spool_options o = {.index_every = 10};
    assert_int_equal(ls_spool_open(path, &o, &s), 0);
    for (uint64_t i = 1; i <= 1234; i++)
        append_line(s, i, 2);
    uint64_t bytes = ls_spool_bytes(s);
    ls_spool_free(s);

    /* A torn record at the end (the worker died mid-write). */
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("1235\t17000\to\tpartial", f);
    fclose(f);

    assert_int_equal(ls_spool_open(path, &o, &s), 0);
    assert_int_equal(ls_spool_last_seq(s), 1234);
    assert_int_equal(ls_spool_bytes(s), bytes);
    assert_true(ls_spool_index_entries(s) >= 123);
    append_line(s, 1235, 0);
    ls_spool_cursor cur;
    assert_int_equal(ls_spool_seek(s, 1230, &cur), 0);
    ls_buf out = LS_BUF_INIT;
    uint64_t count;
    assert_int_equal(ls_spool_read(s, &cur, 1 << 20, &out, &count), 0);
    assert_int_equal(count, 6);
    assert_int_equal(check_records(&out, 1230), 6);
    ls_buf_free(&out);
    assert_int_equal(ls_spool_remove(s), 0);
    assert_int_equal(access(path, F_OK), -1);
    ls_spool_free(s);
}

static void test_reopen_rejects_garbage(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "g.spool");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("1\t5\to\tok\n3\t5\to\tgap\n", f);
    fclose(f);
    ls_spool *s = NULL;
    assert_int_equal(ls_spool_open(path, NULL, &s), -EBADMSG);
    assert_null(s);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Appends only fill memory; a read writes them to the file before returning
 * them, and a reader that keeps up never reads the file back. */
static void test_append_buffers_and_read_writes_first(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "h.spool");
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, NULL, &s), 0);
    for (uint64_t i = 1; i <= 10; i++)
        append_line(s, i, 0);
    assert_int_equal(file_size(path), 0);
    ls_spool_cursor cur;
    assert_int_equal(ls_spool_seek(s, 1, &cur), 0);
    ls_buf out = LS_BUF_INIT;
    uint64_t count, total = 10;
    assert_int_equal(ls_spool_read(s, &cur, 1 << 20, &out, &count), 0);
    assert_int_equal(count, 10);
    assert_true(file_size(path) >= cur.offset);
    /* Live: one line at a time, each written before it is read. */
    for (uint64_t i = 11; i <= 2000; i++) {
        append_line(s, i, i % 50);
        assert_int_equal(ls_spool_read(s, &cur, 1 << 20, &out, &count), 0);
        assert_int_equal(count, 1);
        assert_int_equal(file_size(path), cur.offset);
        total += count;
    }
    assert_int_equal(cur.next_seq, 2001);
    assert_int_equal(check_records(&out, 1), total);
    ls_spool_stats st;
    ls_spool_get_stats(s, &st);
    assert_int_equal(st.bytes_from_file, 0);
    assert_int_equal(st.bytes_from_memory, out.len);
    assert_int_equal(st.appender_writes, 0);
    /* A resend from the start reads the file (the tail no longer holds it). */
    ls_buf again = LS_BUF_INIT;
    assert_int_equal(ls_spool_seek(s, 1, &cur), 0);
    do {
        assert_int_equal(ls_spool_read(s, &cur, 4096, &again, &count), 0);
    } while (count > 0);
    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.data, out.data, out.len);
    ls_spool_get_stats(s, &st);
    assert_true(st.bytes_from_file > 0);
    ls_buf_free(&again);
    ls_buf_free(&out);
    ls_spool_free(s);
}

/* Without a reader, the appender writes once max_pending bytes are pending;
 * memory stays bounded and everything reaches the file. */
static void test_appender_writes_at_max_pending(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "i.spool");
    ls_spool_options o = {.write_buffer = 4096, .max_pending = 8192, .tail_bytes = 16384};
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, &o, &s), 0);
    for (uint64_t i = 1; i <= 50000; i++)
        append_line(s, i, 20);
    ls_spool_stats st;
    ls_spool_get_stats(s, &st);
    assert_true(st.appender_writes >= 100);
    assert_int_equal(st.appender_writes, st.writes);
    /* At most max_pending plus one record is not written. */
    off_t size = file_size(path);
    assert_true(size > 0);
    ls_spool_free(s); /* writes the rest */
    off_t full = file_size(path);
    assert_true(full - size <= 2 * 4096 + 64);
    assert_int_equal(ls_spool_open(path, &o, &s), 0);
    assert_int_equal(ls_spool_last_seq(s), 50000);
    ls_spool_free(s);
}

/* A reader still reading older records writes the pending ones once
 * write_buffer bytes wait, so the appender does not have to: the file writes
 * happen on the reader's thread. */
static void test_reader_behind_writes_due_batches(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "l.spool");
    ls_spool_options o = {.write_buffer = 4096, .max_pending = 1 << 20, .tail_bytes = 8192};
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, &o, &s), 0);
    ls_spool_cursor cur;
    assert_int_equal(ls_spool_seek(s, 1, &cur), 0);
    ls_buf out = LS_BUF_INIT;
    uint64_t seq = 0, count, total = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 100; i++)
            append_line(s, ++seq, 30); /* ~5 KiB per round: more than write_buffer */
        off_t before = file_size(path);
        /* read a little: the reader stays behind the file's end */
        assert_int_equal(ls_spool_read(s, &cur, 512, &out, &count), 0);
        total += count;
        assert_true(file_size(path) > before); /* it wrote the due batch */
    }
    ls_spool_stats st;
    ls_spool_get_stats(s, &st);
    assert_int_equal(st.appender_writes, 0);
    assert_true(st.writes >= 200);
    assert_true(cur.offset < file_size(path)); /* behind all along */
    do {
        assert_int_equal(ls_spool_read(s, &cur, 1 << 20, &out, &count), 0);
        total += count;
    } while (count > 0);
    assert_int_equal(total, seq);
    assert_int_equal(check_records(&out, 1), seq);
    ls_buf_free(&out);
    ls_spool_free(s);
}

typedef struct appender_arg {
    ls_spool *s;
    uint64_t n;
    uint64_t run; /* > 0: appends in runs of this many lines under ls_spool_hold */
} appender_arg;

static void *appender(void *p)
{
    appender_arg *a = p;
    for (uint64_t i = 1; i <= a->n; i++) {
        if (a->run && i % a->run == 1)
            ls_spool_hold(a->s);
        append_line(a->s, i, i % 40);
        if (a->run && (i % a->run == 0 || i == a->n))
            ls_spool_release(a->s);
        if (i % 5000 == 0)
            usleep(1000);
    }
    return NULL;
}

/* One thread appends while another reads: every record arrives once, in
 * order, and never before its bytes are in the file. With run > 0 the
 * appender holds the lock for runs of lines (and writes inside them: the
 * write buffer is small). */
static void concurrent_append_and_read(const char *name, uint64_t run)
{
    char path[512];
    spool_path(path, sizeof(path), name);
    ls_spool_options o = {.write_buffer = 8192, .tail_bytes = 65536, .index_every = 100};
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, &o, &s), 0);
    appender_arg a = {s, 100000, run};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, appender, &a), 0);
    ls_spool_cursor cur;
    assert_int_equal(ls_spool_seek(s, 1, &cur), 0);
    ls_buf out = LS_BUF_INIT;
    uint64_t total = 0, count;
    int rounds = 0;
    while (total < a.n) {
        size_t before = out.len;
        assert_int_equal(ls_spool_read(s, &cur, 3000, &out, &count), 0);
        total += count;
        assert_int_equal(cur.next_seq, total + 1);
        if (count > 0) {
            assert_true(file_size(path) >= cur.offset);
            assert_int_equal(out.data[out.len - 1], '\n');
            assert_true(out.len - before >= 1);
        } else {
            usleep(100);
        }
        /* Now and then a resend from somewhere behind. */
        if (++rounds % 500 == 0 && total > 10) {
            ls_spool_cursor back;
            assert_int_equal(ls_spool_seek(s, total / 2, &back), 0);
            ls_buf tmp = LS_BUF_INIT;
            assert_int_equal(ls_spool_read(s, &back, 2000, &tmp, &count), 0);
            assert_true(count >= 1);
            assert_int_equal(check_records(&tmp, total / 2), count);
            ls_buf_free(&tmp);
        }
    }
    pthread_join(t, NULL);
    assert_int_equal(check_records(&out, 1), a.n);
    ls_buf_free(&out);
    ls_spool_free(s);
}

static void test_concurrent_append_and_read(void **state)
{
    (void)state;
    concurrent_append_and_read("j.spool", 0);
}

static void test_concurrent_held_appends_and_read(void **state)
{
    (void)state;
    concurrent_append_and_read("k.spool", 64);
}

/* A confirmed spool is closed first and unlinked later (possibly by another
 * thread): closing keeps the file, and the spool still answers its counters. */
static void test_close_file_keeps_file(void **state)
{
    (void)state;
    char path[512];
    spool_path(path, sizeof(path), "k.spool");
    ls_spool *s;
    assert_int_equal(ls_spool_open(path, NULL, &s), 0);
    append_line(s, 1, 0);
    append_line(s, 2, 0);
    ls_spool_cursor cur;
    assert_int_equal(ls_spool_seek(s, 3, &cur), 0);
    assert_int_equal(ls_spool_close_file(s), 0);
    assert_true(file_size(path) > 0);
    assert_int_equal(ls_spool_last_seq(s), 2);
    ls_line line = {.seq = 3, .ts_ms = 1, .stream = 'o', .len = 1, .text = "x"};
    assert_int_equal(ls_spool_append(s, &line), -EBADF);
    assert_string_equal(ls_spool_path(s), path);
    assert_int_equal(unlink(path), 0);
    ls_spool_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_and_read_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_append_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_from_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_is_sparse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_record_read_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_rejects_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_buffers_and_read_writes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appender_writes_at_max_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_behind_writes_due_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_append_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_held_appends_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_file_keeps_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
