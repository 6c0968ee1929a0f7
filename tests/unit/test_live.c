/* links: server store common */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/live.h"

static ls_live *new_live(size_t buffer, size_t segment)
{
    ls_live_options o = {
        .buffer_bytes = buffer,
        .max_line = 100,
        .segment_bytes = segment,
        .linger_ms = 1000,
        .idle_ms = 60000,
    };
    return ls_live_new(&o);
}

static const ls_live_init fresh = {.status = LS_STATUS_RUNNING};

static ls_line make_line(uint64_t seq, const char *text)
{
    ls_line l = {.seq = seq,
                 .ts_ms = 1000 + (int64_t)seq,
                 .stream = 'o',
                 .len = (uint32_t)strlen(text),
                 .text = text};
    return l;
}

static int append(ls_live_step *s, uint64_t seq, const char *text)
{
    ls_line l = make_line(seq, text);
    ls_live_lock(s);
    int rc = ls_live_append_locked(s, &l);
    ls_live_unlock(s);
    return rc;
}

/* Collects read lines as "seq:text" into a buffer. */
typedef struct collected {
    char text[4096];
    uint64_t seqs[256];
    size_t n;
    size_t stop_after;
} collected;

static int collect(void *arg, const ls_line *line)
{
    collected *c = arg;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof(c->text) - len, "%llu:%.*s;", (unsigned long long)line->seq,
             (int)line->len, line->text);
    c->seqs[c->n++] = line->seq;
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static void test_append_duplicate_gap_too_long(void **state)
{
    ls_live *lv = new_live(1024, 0);
    ls_live_step *s = ls_live_open(lv, 1, 1, &fresh);
    assert_int_equal(append(s, 1, "a"), 0);
    assert_int_equal(append(s, 2, "bb"), 0);
    assert_int_equal(append(s, 2, "dup"), -EEXIST);
    assert_int_equal(append(s, 1, "dup"), -EEXIST);
    assert_int_equal(append(s, 4, "gap"), -ERANGE);
    char big[101];
    memset(big, 'x', sizeof(big) - 1);
    big[100] = '\0';
    assert_int_equal(append(s, 3, big), 0); /* exactly max_line */
    ls_line l = make_line(4, big);
    l.len = 101;
    ls_live_lock(s);
    assert_int_equal(ls_live_append_locked(s, &l), -E2BIG);
    assert_int_equal(ls_live_next_seq_locked(s), 4);
    ls_live_unlock(s);
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 3);
    assert_int_equal(st.received_bytes, 103);
    assert_int_equal(st.durable_seq, 0);
    assert_int_equal(ls_live_pending_bytes(lv), 103);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_open_starts_from_durable_state(void **state)
{
    ls_live *lv = new_live(1024, 0);
    ls_live_init init = {.durable_seq = 41, .durable_bytes = 500, .status = LS_STATUS_RUNNING};
    ls_live_step *s = ls_live_open(lv, 7, 2, &init);
    assert_int_equal(append(s, 41, "old"), -EEXIST);
    assert_int_equal(append(s, 43, "gap"), -ERANGE);
    assert_int_equal(append(s, 42, "new"), 0);
    collected c = {0};
    ls_live_state st;
    /* lines before memory: the caller must read the store */
    assert_int_equal(ls_live_read(s, 0, 0, collect, &c, &st), -ERANGE);
    assert_int_equal(st.oldest_seq, 42);
    assert_int_equal(ls_live_read(s, 41, 0, collect, &c, &st), 1);
    assert_string_equal(c.text, "42:new;");
    assert_int_equal(st.received_bytes, 503);
    /* the same step again is the same object; another is not */
    ls_live_step *again = ls_live_open(lv, 7, 2, &fresh);
    assert_ptr_equal(again, s);
    assert_ptr_equal(ls_live_find(lv, 7, 3), NULL);
    assert_int_equal(ls_live_count(lv), 1);
    ls_live_release(again);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_read_ranges_and_limits(void **state)
{
    ls_live *lv = new_live(1 << 20, 0);
    ls_live_step *s = ls_live_open(lv, 1, 1, &fresh);
    char text[16];
    for (uint64_t i = 1; i <= 10; i++) {
        snprintf(text, sizeof(text), "l%llu", (unsigned long long)i);
        assert_int_equal(append(s, i, text), 0);
    }
    collected c = {0};
    assert_int_equal(ls_live_read(s, 3, 4, collect, &c, NULL), 4);
    assert_string_equal(c.text, "4:l4;5:l5;6:l6;7:l7;");
    collected d = {.stop_after = 2};
    assert_int_equal(ls_live_read(s, 8, 0, collect, &d, NULL), 2);
    assert_string_equal(d.text, "9:l9;10:l10;");
    collected e = {0};
    assert_int_equal(ls_live_read(s, 10, 0, collect, &e, NULL), 0);
    assert_int_equal(ls_live_read(s, 99, 0, collect, &e, NULL), 0);
    assert_int_equal(e.n, 0);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_flush_marks_durable_and_trims_memory(void **state)
{
    /* 100-byte segments, keep 150 bytes of recent text */
    ls_live *lv = new_live(150, 100);
    ls_live_step *s = ls_live_open(lv, 1, 1, &fresh);
    char text[64];
    memset(text, 'a', 49);
    text[49] = '\0';
    for (uint64_t i = 1; i <= 10; i++) /* 2 lines of 49 bytes per segment */
        assert_int_equal(append(s, i, text), 0);
    ls_line *lines = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(ls_live_flush_begin(s, &lines, &n, &cap), 10);
    assert_int_equal(lines[0].seq, 1);
    assert_int_equal(lines[9].seq, 10);
    assert_memory_equal(lines[9].text, text, 49);
    /* appended during the flush: not part of it */
    assert_int_equal(append(s, 11, "late"), 0);
    /* a failed flush makes them pending again */
    ls_live_flush_done(s, false);
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.durable_seq, 0);
    n = 0;
    assert_int_equal(ls_live_flush_begin(s, &lines, &n, &cap), 11);
    ls_live_flush_done(s, true);
    ls_live_get_state(s, &st);
    assert_int_equal(st.durable_seq, 11);
    assert_int_equal(st.durable_bytes, 10 * 49 + 4);
    assert_int_equal(ls_live_pending_bytes(lv), 0);
    /* only ~150 bytes of recent text stay in memory */
    assert_true(st.oldest_seq > 5);
    collected c = {0};
    assert_int_equal(ls_live_read(s, 0, 0, collect, &c, NULL), -ERANGE);
    assert_true(ls_live_read(s, st.oldest_seq - 1, 0, collect, &c, NULL) > 0);
    assert_int_equal(c.seqs[c.n - 1], 11);
    n = 0;
    assert_int_equal(ls_live_flush_begin(s, &lines, &n, &cap), 0);
    free(lines);
    ls_live_release(s);
    ls_live_free(lv);
}

typedef struct counting_sub {
    ls_live_sub sub;
    int calls;
    unsigned seen;
    ls_live_state last; /* the state passed with the last call */
} counting_sub;

static void count_notify(ls_live_sub *sub, unsigned events, const ls_live_state *st)
{
    counting_sub *c = (counting_sub *)sub;
    c->calls++;
    c->seen |= events;
    c->last = *st;
}

static void test_subscribers_are_woken_once_per_batch(void **state)
{
    ls_live *lv = new_live(1024, 0);
    ls_live_step *s = ls_live_open(lv, 1, 1, &fresh);
    counting_sub lines = {.sub = {.events = LS_LIVE_EV_LINES, .notify = count_notify}};
    counting_sub durable = {.sub = {.events = LS_LIVE_EV_DURABLE, .notify = count_notify}};
    counting_sub final = {.sub = {.events = LS_LIVE_EV_FINAL, .notify = count_notify}};
    ls_live_subscribe(s, &lines.sub);
    ls_live_subscribe(s, &durable.sub);
    ls_live_subscribe(s, &final.sub);
    ls_live_lock(s);
    for (uint64_t i = 1; i <= 5; i++) {
        ls_line l = make_line(i, "x");
        assert_int_equal(ls_live_append_locked(s, &l), 0);
    }
    ls_live_unlock(s);
    assert_int_equal(lines.calls, 1);
    assert_int_equal(lines.seen, LS_LIVE_EV_LINES);
    assert_int_equal(lines.last.received_seq, 5);
    assert_int_equal(lines.last.durable_seq, 0);
    /* a batch of duplicates only wakes nobody */
    ls_live_lock(s);
    ls_line dup = make_line(2, "x");
    assert_int_equal(ls_live_append_locked(s, &dup), -EEXIST);
    ls_live_unlock(s);
    assert_int_equal(lines.calls, 1);
    assert_int_equal(durable.calls, 0);
    ls_line *v = NULL;
    size_t n = 0, cap = 0;
    ls_live_flush_begin(s, &v, &n, &cap);
    ls_live_flush_done(s, true);
    free(v);
    assert_int_equal(durable.calls, 1);
    assert_int_equal(durable.last.durable_seq, 5);
    assert_int_equal(final.calls, 0);
    ls_live_set_status(s, LS_STATUS_RUNNING, false, 0, 0);
    assert_int_equal(final.calls, 0);
    ls_live_set_status(s, LS_STATUS_SUCCESS, true, 0, 0);
    assert_int_equal(final.calls, 1);
    assert_true(final.last.final);
    assert_int_equal(final.last.status, LS_STATUS_SUCCESS);
    ls_live_set_status(s, LS_STATUS_SUCCESS, true, 0, 0);
    assert_int_equal(final.calls, 1);
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_true(st.final);
    assert_true(st.has_exit_code);
    /* unsubscribed: never called again */
    ls_live_unsubscribe(s, &lines.sub);
    assert_int_equal(append(s, 6, "y"), 0);
    assert_int_equal(lines.calls, 1);
    ls_live_unsubscribe(s, &durable.sub);
    ls_live_unsubscribe(s, &final.sub);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_sweep_drops_only_unused_final_durable_steps(void **state)
{
    ls_live *lv = new_live(1024, 0);
    ls_live_step *s = ls_live_open(lv, 1, 1, &fresh);
    assert_int_equal(append(s, 1, "x"), 0);
    ls_live_set_status(s, LS_STATUS_SUCCESS, true, 0, 0);
    ls_live_release(s);
    /* pending line: kept */
    assert_int_equal(ls_live_sweep(lv, 1000000), 0);
    s = ls_live_find(lv, 1, 1);
    assert_non_null(s);
    ls_line *v = NULL;
    size_t n = 0, cap = 0;
    ls_live_flush_begin(s, &v, &n, &cap);
    ls_live_flush_done(s, true);
    free(v);
    /* still referenced: kept */
    assert_int_equal(ls_live_sweep(lv, 1000000), 0);
    ls_live_release(s);
    /* within the linger time: kept */
    assert_int_equal(ls_live_sweep(lv, 500), 0);
    assert_int_equal(ls_live_sweep(lv, 1000000), 1);
    assert_int_equal(ls_live_count(lv), 0);
    assert_null(ls_live_find(lv, 1, 1));
    ls_live_free(lv);
}

static void test_lag_detection(void **state)
{
    ls_live_state st = {.received_seq = 1000, .received_bytes = 100000};
    assert_false(ls_live_too_far_behind(&st, 1000, 100000, 10, 1));
    assert_false(ls_live_too_far_behind(&st, 900, 90000, 10000, 100));
    assert_true(ls_live_too_far_behind(&st, 899, 90000, 10000, 100));
    assert_true(ls_live_too_far_behind(&st, 999, 89999, 10000, 100));
    /* a reader ahead of the snapshot is not behind */
    assert_false(ls_live_too_far_behind(&st, 1001, 100001, 0, 0));
}

static void test_collect_pending(void **state)
{
    ls_live *lv = new_live(1024, 0);
    ls_live_step *a = ls_live_open(lv, 1, 1, &fresh);
    ls_live_step *b = ls_live_open(lv, 1, 2, &fresh);
    assert_int_equal(append(b, 1, "x"), 0);
    ls_live_step **v = NULL;
    assert_int_equal(ls_live_collect_pending(lv, &v), 1);
    assert_ptr_equal(v[0], b);
    ls_live_release(v[0]);
    free(v);
    ls_live_release(a);
    ls_live_release(b);
    ls_live_free(lv);
}

/* A producer thread appends while this thread follows with a subscriber,
 * the way ingest and an SSE reader do: every line arrives once, in order. */
typedef struct follow_ctx {
    ls_live_step *s;
    uint64_t total;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool woken;
    ls_live_sub sub;
} follow_ctx;

static void follow_notify(ls_live_sub *sub, unsigned events, const ls_live_state *st)
{
    follow_ctx *f = (follow_ctx *)((char *)sub - offsetof(follow_ctx, sub));
    pthread_mutex_lock(&f->mu);
    f->woken = true;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

static void *producer(void *arg)
{
    follow_ctx *f = arg;
    for (uint64_t i = 1; i <= f->total; i += 7) {
        ls_live_lock(f->s);
        for (uint64_t j = i; j < i + 7 && j <= f->total; j++) {
            ls_line l = make_line(j, "payload");
            ls_live_append_locked(f->s, &l);
        }
        ls_live_unlock(f->s);
    }
    return NULL;
}

typedef struct checker {
    uint64_t next;
    bool ok;
} checker;

static int check_order(void *arg, const ls_line *line)
{
    checker *c = arg;
    if (line->seq != c->next || line->len != 7)
        c->ok = false;
    c->next++;
    return 0;
}

static void test_follow_while_appending(void **state)
{
    ls_live *lv = new_live(64 << 20, 0);
    follow_ctx f = {.total = 20000};
    f.s = ls_live_open(lv, 1, 1, &fresh);
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cond, NULL);
    f.sub.events = LS_LIVE_EV_LINES;
    f.sub.notify = follow_notify;
    ls_live_subscribe(f.s, &f.sub);
    pthread_t t;
    pthread_create(&t, NULL, producer, &f);
    checker c = {.next = 1, .ok = true};
    while (c.next <= f.total) {
        pthread_mutex_lock(&f.mu);
        f.woken = false;
        pthread_mutex_unlock(&f.mu);
        int n = ls_live_read(f.s, c.next - 1, 500, check_order, &c, NULL);
        assert_true(n >= 0);
        if (n > 0)
            continue;
        pthread_mutex_lock(&f.mu);
        while (!f.woken)
            pthread_cond_wait(&f.cond, &f.mu);
        pthread_mutex_unlock(&f.mu);
    }
    pthread_join(t, NULL);
    assert_true(c.ok);
    assert_int_equal(c.next, f.total + 1);
    ls_live_unsubscribe(f.s, &f.sub);
    ls_live_release(f.s);
    pthread_cond_destroy(&f.cond);
    pthread_mutex_destroy(&f.mu);
    ls_live_free(lv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_duplicate_gap_too_long),
        cmocka_unit_test(test_open_starts_from_durable_state),
        cmocka_unit_test(test_read_ranges_and_limits),
        cmocka_unit_test(test_flush_marks_durable_and_trims_memory),
        cmocka_unit_test(test_subscribers_are_woken_once_per_batch),
        cmocka_unit_test(test_sweep_drops_only_unused_final_durable_steps),
        cmocka_unit_test(test_lag_detection),
        cmocka_unit_test(test_collect_pending),
        cmocka_unit_test(test_follow_while_appending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
