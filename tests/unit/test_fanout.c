/* links: server store common */
/* The NATS fan-out's pure parts: subjects and payloads (server/fanout_msg.h)
 * and the live object's remote lines, refresh and writer take-over
 * (server/live.h) that several instances rely on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/fanout_msg.h"
#include "server/live.h"

static void test_subjects_round_trip(void **state)
{
    char buf[LS_FANOUT_SUBJECT_MAX];
    ls_fanout_kind kind;
    int64_t build;
    int step;
    ls_fanout_subject(buf, LS_FANOUT_LINES, 42, 3);
    assert_string_equal(buf, "logstream.42.3.lines");
    assert_int_equal(ls_fanout_subject_parse(buf, &kind, &build, &step), 0);
    assert_int_equal(kind, LS_FANOUT_LINES);
    assert_int_equal(build, 42);
    assert_int_equal(step, 3);
    ls_fanout_subject(buf, LS_FANOUT_STATUS, 7, 1000);
    assert_string_equal(buf, "logstream.7.1000.status");
    assert_int_equal(ls_fanout_subject_parse(buf, &kind, &build, &step), 0);
    assert_int_equal(kind, LS_FANOUT_STATUS);
    assert_int_equal(step, 1000);
    ls_fanout_subject(buf, LS_FANOUT_STEP_ALL, 7, 2);
    assert_string_equal(buf, "logstream.7.2.*");
    ls_fanout_subject(buf, LS_FANOUT_BUILD_EVENT, 9223372036854775807LL, 0);
    assert_string_equal(buf, "logstream.9223372036854775807.events");
    ls_fanout_subject(buf, LS_FANOUT_BUILD_EVENT, 12, 0);
    assert_int_equal(ls_fanout_subject_parse(buf, &kind, &build, &step), 0);
    assert_int_equal(kind, LS_FANOUT_BUILD_EVENT);
    assert_int_equal(build, 12);
    assert_int_equal(step, 0);
    ls_fanout_subject(buf, LS_FANOUT_SERVER_EVENT, 0, 0);
    assert_string_equal(buf, "logstream.events");
    assert_int_equal(ls_fanout_subject_parse(buf, &kind, &build, &step), 0);
    assert_int_equal(kind, LS_FANOUT_SERVER_EVENT);
}

static void test_bad_subjects(void **state)
{
    const char *bad[] = {
        "",
        "logstream.",
        "logstream.1.2",
        "logstream.1.2.*",
        "logstream.1.2.lines.x",
        "logstream.0.2.lines",
        "logstream.1.0.lines",
        "logstream.01.2.lines",
        "logstream.-1.2.lines",
        "logstream.1.2147483648.lines",
        "logstream.1234567890123456789.1.lines",
        "logstream.1.2.other",
        "other.1.2.lines",
        "logstream.x.events",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ls_fanout_kind kind = LS_FANOUT_LINES;
        int64_t build = -5;
        int step = -5;
        assert_int_equal(ls_fanout_subject_parse(bad[i], &kind, &build, &step), -EINVAL);
        assert_int_equal(build, -5); /* untouched on failure */
    }
}

typedef struct collected {
    ls_line lines[16];
    char text[16][128];
    int n;
    int stop_after;
} collected;

static int collect(void *arg, const ls_line *line)
{
    collected *c = arg;
    assert_true(c->n < 16);
    c->lines[c->n] = *line;
    assert_true(line->len < sizeof(c->text[0]));
    memcpy(c->text[c->n], line->text, line->len);
    c->text[c->n][line->len] = '\0';
    c->lines[c->n].text = c->text[c->n];
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static ls_line mkline(uint64_t seq, char stream, bool continued, const char *text)
{
    ls_line l = {.seq = seq,
                 .ts_ms = 1700000000000 + (int64_t)seq,
                 .stream = stream,
                 .continued = continued,
                 .len = (uint32_t)strlen(text),
                 .text = text};
    return l;
}

static void test_lines_round_trip(void **state)
{
    ls_buf b = LS_BUF_INIT;
    ls_line in[] = {
        mkline(5, LS_STREAM_STDOUT, false, "hello"),
        mkline(6, LS_STREAM_STDERR, true, "tab\there, and \"quotes\" \xc3\xa9"),
        mkline(7, LS_STREAM_STDOUT, false, ""),
    };
    for (size_t i = 0; i < 3; i++)
        ls_fanout_lines_add(&b, &in[i]);
    collected c = {0};
    assert_int_equal(ls_fanout_lines_decode(b.data, b.len, 100, collect, &c), 3);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c.lines[i].seq, in[i].seq);
        assert_int_equal(c.lines[i].ts_ms, in[i].ts_ms);
        assert_int_equal(c.lines[i].stream, in[i].stream);
        assert_int_equal(c.lines[i].continued, in[i].continued);
        assert_int_equal(c.lines[i].len, in[i].len);
        assert_memory_equal(c.text[i], in[i].text, in[i].len);
    }
    /* the callback can stop the decode */
    collected c2 = {.stop_after = 2};
    assert_int_equal(ls_fanout_lines_decode(b.data, b.len, 100, collect, &c2), 2);
    /* an empty payload has no lines */
    assert_int_equal(ls_fanout_lines_decode("", 0, 100, collect, &c2), 0);
    assert_int_equal(ls_fanout_lines_decode(NULL, 0, 100, collect, &c2), 0); /* fuzz_fanout_msg */
    ls_buf_free(&b);
}

static void test_bad_lines(void **state)
{
    const char *bad[] = {
        "1\t5\to\tno newline",          /* every record ends with '\n' */
        "x\t5\to\ttext\n",              /* not a record */
        "2\t5\to\ta\n1\t5\to\tb\n",     /* seqs go back */
        "2\t5\to\ta\n2\t5\to\tb\n",     /* seq repeated */
        "0\t5\th\t\n",                  /* a heartbeat is no line */
        "1\t5\to\tfar too long text\n", /* over max_text (8) */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        collected c = {0};
        assert_int_equal(ls_fanout_lines_decode(bad[i], strlen(bad[i]), 8, collect, &c), -EINVAL);
    }
    /* lines before the bad record were passed on */
    collected c = {0};
    const char *p = "1\t5\to\tok\n2\t5\tz\tbad\n";
    assert_int_equal(ls_fanout_lines_decode(p, strlen(p), 100, collect, &c), -EINVAL);
    assert_int_equal(c.n, 1);
}

static void test_status_round_trip(void **state)
{
    ls_fanout_status in[] = {
        {.status = LS_STATUS_RUNNING, .lines = 0},
        {.status = LS_STATUS_SUCCESS, .has_exit_code = true, .exit_code = 0, .lines = 12345},
        {.status = LS_STATUS_FAILURE,
         .has_exit_code = true,
         .exit_code = -2147483647 - 1,
         .lines = UINT64_MAX},
        {.status = LS_STATUS_CANCELED, .lines = 7},
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        ls_buf b = LS_BUF_INIT;
        ls_fanout_status_encode(&b, &in[i]);
        ls_fanout_status out = {0};
        assert_int_equal(ls_fanout_status_decode(b.data, b.len, &out), 0);
        assert_int_equal(out.status, in[i].status);
        assert_int_equal(out.has_exit_code, in[i].has_exit_code);
        assert_int_equal(out.exit_code, in[i].exit_code);
        assert_true(out.lines == in[i].lines);
        ls_buf_free(&b);
    }
    const char *bad[] = {"",
                         "success 0 5",
                         "bogus 0 5\n",
                         "success x 5\n",
                         "success 2147483648 5\n",
                         "success 0 -5\n",
                         "success 0 5\ntrailing",
                         "success 0\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ls_fanout_status out = {.lines = 99};
        assert_int_equal(ls_fanout_status_decode(bad[i], strlen(bad[i]), &out), -EINVAL);
        assert_int_equal(out.lines, 99);
    }
}

static void test_events_round_trip(void **state)
{
    ls_buf b = LS_BUF_INIT;
    ls_fanout_event_encode(&b, "step", true, false, "{\"number\":1,\"text\":\"a\\nb\"}");
    char name[LS_FANOUT_NAME_MAX];
    bool end = true;
    const char *json;
    size_t len;
    assert_int_equal(ls_fanout_event_decode(b.data, b.len, true, name, &end, &json, &len), 0);
    assert_string_equal(name, "step");
    assert_false(end);
    assert_int_equal(len, strlen("{\"number\":1,\"text\":\"a\\nb\"}"));
    assert_memory_equal(json, "{\"number\":1", 11);
    ls_buf_reset(&b);
    ls_fanout_event_encode(&b, "build", true, true, "{}");
    assert_int_equal(ls_fanout_event_decode(b.data, b.len, true, name, &end, &json, &len), 0);
    assert_string_equal(name, "build");
    assert_true(end);
    ls_buf_reset(&b);
    ls_fanout_event_encode(&b, "build", false, false, "{\"id\":3}");
    assert_int_equal(ls_fanout_event_decode(b.data, b.len, false, name, NULL, &json, &len), 0);
    assert_string_equal(name, "build");
    assert_int_equal(len, 8);
    ls_buf_free(&b);
    const char *bad[] = {"step 0", "step 2\n{}",  "Step 0\n{}",
                         " 0\n{}", "st ep 0\n{}", "a_very_long_event_name_of_many_letters 0\n{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(
            ls_fanout_event_decode(bad[i], strlen(bad[i]), true, name, &end, &json, &len), -EINVAL);
}

/* ---- the live object seen from several instances ---- */

static ls_live *new_live(void)
{
    ls_live_options o = {
        .buffer_bytes = 1024, .max_line = 100, .linger_ms = 1000, .idle_ms = 60000};
    return ls_live_new(&o);
}

typedef struct woken {
    ls_live_sub sub;
    unsigned events;
    int calls;
} woken;

static void on_event(ls_live_sub *sub, unsigned events, const ls_live_state *st)
{
    woken *w = (woken *)sub;
    w->events |= events;
    w->calls++;
}

static int append_remote(ls_live_step *s, uint64_t seq)
{
    char text[32];
    snprintf(text, sizeof(text), "remote %llu", (unsigned long long)seq);
    ls_line l = mkline(seq, LS_STREAM_STDOUT, false, text);
    ls_live_lock(s);
    int rc = ls_live_append_remote_locked(s, &l);
    ls_live_unlock(s);
    return rc;
}

static int append_local(ls_live_step *s, uint64_t seq)
{
    ls_line l = mkline(seq, LS_STREAM_STDOUT, false, "local");
    ls_live_lock(s);
    int rc = ls_live_append_locked(s, &l);
    ls_live_unlock(s);
    return rc;
}

static void test_remote_lines_are_not_flushed(void **state)
{
    ls_live *lv = new_live();
    ls_live_init init = {.status = LS_STATUS_RUNNING, .durable_seq = 3, .durable_bytes = 30};
    ls_live_step *s = ls_live_open(lv, 1, 1, &init);
    woken w = {.sub = {.events = LS_LIVE_EV_LINES | LS_LIVE_EV_FINAL, .notify = on_event}};
    ls_live_subscribe(s, &w.sub);
    assert_true(ls_live_is_remote(s));
    assert_int_equal(append_remote(s, 4), 0);
    assert_int_equal(append_remote(s, 5), 0);
    assert_int_equal(append_remote(s, 5), -EEXIST);
    assert_int_equal(append_remote(s, 7), -ERANGE);
    assert_true(w.events & LS_LIVE_EV_LINES);
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 5);
    assert_int_equal(st.durable_seq, 3);
    /* nothing for this instance's flusher */
    assert_int_equal(ls_live_pending_bytes(lv), 0);
    ls_live_step **pending = NULL;
    assert_int_equal(ls_live_collect_pending(lv, &pending), 0);
    /* the store catches up: durable follows it, memory stays */
    ls_live_init stored = {.status = LS_STATUS_RUNNING, .durable_seq = 4, .durable_bytes = 38};
    ls_live_refresh(s, &stored);
    ls_live_get_state(s, &st);
    assert_int_equal(st.durable_seq, 4);
    assert_int_equal(st.received_seq, 5);
    assert_int_equal(ls_live_collect_pending(lv, &pending), 0);
    ls_live_unsubscribe(s, &w.sub);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_refresh_takes_what_the_store_has(void **state)
{
    ls_live *lv = new_live();
    ls_live_init init = {.status = LS_STATUS_RUNNING, .durable_seq = 2, .durable_bytes = 20};
    ls_live_step *s = ls_live_open(lv, 1, 1, &init);
    woken w = {.sub = {.events = LS_LIVE_EV_LINES | LS_LIVE_EV_FINAL, .notify = on_event}};
    ls_live_subscribe(s, &w.sub);
    assert_int_equal(append_remote(s, 3), 0);
    /* NATS lost lines 4..9: the store has them (and the end) */
    ls_live_init stored = {
        .status = LS_STATUS_SUCCESS, .has_exit_code = true, .durable_seq = 9, .durable_bytes = 90};
    w.events = 0;
    assert_true(ls_live_refresh(s, &stored));
    assert_true(w.events & LS_LIVE_EV_LINES);
    assert_true(w.events & LS_LIVE_EV_FINAL);
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 9);
    assert_int_equal(st.durable_seq, 9);
    assert_int_equal(st.received_bytes, 90);
    assert_int_equal(st.oldest_seq, 10); /* read 1..9 from the store */
    assert_true(st.final);
    /* a read of the store a moment ago never goes back */
    ls_live_init older = {.status = LS_STATUS_RUNNING, .durable_seq = 5, .durable_bytes = 50};
    assert_false(ls_live_refresh(s, &older));
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 9);
    assert_true(st.final);
    ls_live_unsubscribe(s, &w.sub);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_final_status_waits_for_the_lines(void **state)
{
    ls_live *lv = new_live();
    ls_live_init init = {.status = LS_STATUS_RUNNING};
    ls_live_step *s = ls_live_open(lv, 1, 1, &init);
    woken w = {.sub = {.events = LS_LIVE_EV_FINAL, .notify = on_event}};
    ls_live_subscribe(s, &w.sub);
    assert_int_equal(append_remote(s, 1), 0);
    /* the PATCH made elsewhere says the step had 2 lines: wait for line 2 */
    assert_false(ls_live_set_status_remote(s, LS_STATUS_FAILURE, true, 3, 2));
    assert_int_equal(w.calls, 0);
    assert_int_equal(append_remote(s, 2), 0);
    assert_true(ls_live_set_status_remote(s, LS_STATUS_FAILURE, true, 3, 2));
    assert_int_equal(w.calls, 1);
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.status, LS_STATUS_FAILURE);
    assert_int_equal(st.exit_code, 3);
    /* a running status (or an older one) never takes a final one back */
    assert_true(ls_live_set_status_remote(s, LS_STATUS_RUNNING, false, 0, 0));
    ls_live_get_state(s, &st);
    assert_int_equal(st.status, LS_STATUS_FAILURE);
    ls_live_unsubscribe(s, &w.sub);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_writer_takes_over_from_the_store(void **state)
{
    ls_live *lv = new_live();
    ls_live_init init = {.status = LS_STATUS_RUNNING, .durable_seq = 2, .durable_bytes = 20};
    ls_live_step *s = ls_live_open(lv, 1, 1, &init);
    /* lines 3..6 came from instance A over NATS; A stored only 3..4 and died */
    for (uint64_t q = 3; q <= 6; q++)
        assert_int_equal(append_remote(s, q), 0);
    ls_live_init stored = {.status = LS_STATUS_RUNNING, .durable_seq = 4, .durable_bytes = 40};
    ls_live_writer_begin(s, &stored);
    /* the worker resends from 5: this instance's to store, no 409 */
    assert_int_equal(append_local(s, 4), -EEXIST);
    assert_int_equal(append_local(s, 5), 0);
    assert_int_equal(append_local(s, 6), 0);
    assert_int_equal(append_local(s, 8), -ERANGE);
    /* remote lines are refused while this instance ingests */
    assert_int_equal(append_remote(s, 7), -EBUSY);
    assert_false(ls_live_is_remote(s));
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.durable_seq, 4);
    assert_int_equal(st.received_seq, 6);
    ls_live_step **pending = NULL;
    assert_int_equal(ls_live_collect_pending(lv, &pending), 1);
    ls_line *lines = NULL;
    size_t n = 0, cap = 0;
    assert_int_equal(ls_live_flush_begin(pending[0], &lines, &n, &cap), 2);
    assert_int_equal(lines[0].seq, 5);
    assert_int_equal(lines[1].seq, 6);
    ls_live_flush_done(pending[0], true);
    ls_live_release(pending[0]);
    free(pending);
    free(lines);
    ls_live_writer_end(s);
    /* stored and no writer: remote lines are welcome again */
    assert_true(ls_live_is_remote(s));
    assert_int_equal(append_remote(s, 7), 0);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_writer_with_stale_store_read_keeps_lines(void **state)
{
    ls_live *lv = new_live();
    ls_live_init init = {.status = LS_STATUS_RUNNING};
    ls_live_step *s = ls_live_open(lv, 1, 1, &init);
    ls_live_writer_begin(s, &init);
    assert_int_equal(append_local(s, 1), 0);
    assert_int_equal(append_local(s, 2), 0);
    /* lines of this instance are pending: a refresh never touches them */
    ls_live_init stored = {.status = LS_STATUS_RUNNING, .durable_seq = 5, .durable_bytes = 50};
    assert_false(ls_live_refresh(s, &stored));
    ls_live_writer_end(s);
    assert_false(ls_live_refresh(s, &stored));
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 2);
    assert_int_equal(st.durable_seq, 0);
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_lines_past_a_gap_wait_for_it(void **state)
{
    ls_live *lv = new_live();
    ls_live_init init = {.status = LS_STATUS_RUNNING};
    ls_live_step *s = ls_live_open(lv, 1, 1, &init);
    assert_int_equal(append_remote(s, 1), 0);
    /* NATS delivered 3 and 4 but lost 2 */
    assert_int_equal(append_remote(s, 3), -ERANGE);
    assert_int_equal(append_remote(s, 4), -ERANGE);
    ls_live_state st;
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 1);
    /* 2 arrives after all: 3 and 4 follow at once */
    assert_int_equal(append_remote(s, 2), 0);
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 4);
    /* 5 and 6 are lost for good: 7 and 8 wait until the store has 5..6 */
    assert_int_equal(append_remote(s, 7), -ERANGE);
    assert_int_equal(append_remote(s, 8), -ERANGE);
    ls_live_init stored = {.status = LS_STATUS_RUNNING, .durable_seq = 6, .durable_bytes = 60};
    assert_true(ls_live_refresh(s, &stored));
    ls_live_get_state(s, &st);
    assert_int_equal(st.received_seq, 8);
    assert_int_equal(st.durable_seq, 6);
    assert_int_equal(st.oldest_seq, 7); /* 1..6 from the store */
    collected c = {0};
    assert_int_equal(ls_live_read(s, 6, 0, collect, &c, NULL), 2);
    assert_int_equal(c.lines[0].seq, 7);
    assert_string_equal(c.text[0], "remote 7");
    assert_string_equal(c.text[1], "remote 8");
    ls_live_release(s);
    ls_live_free(lv);
}

static void test_nats_url_lists(void **state)
{
    char **urls = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(ls_fanout_urls_parse("nats://127.0.0.1:4222", &urls, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(urls[0], "nats://127.0.0.1:4222");
    ls_fanout_urls_free(urls, n);
    assert_int_equal(ls_fanout_urls_parse(" nats://a:4222 ,nats://b:4223,\ttls://c:4224 ", &urls,
                                          &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(urls[0], "nats://a:4222");
    assert_string_equal(urls[1], "nats://b:4223");
    assert_string_equal(urls[2], "tls://c:4224");
    ls_fanout_urls_free(urls, n);
    const char *bad[] = {"",
                         " ",
                         "nats://a:4222,",
                         ",nats://a:4222",
                         "nats://a:4222,,nats://b:1",
                         "nats://a:4222 nats://b:4222"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        urls = (char **)&n; /* must be reset */
        assert_int_equal(ls_fanout_urls_parse(bad[i], &urls, &n, err, sizeof(err)), -EINVAL);
        assert_null(urls);
        assert_int_equal(n, 0);
        assert_non_null(strstr(err, "--nats"));
    }
    ls_fanout_urls_free(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subjects_round_trip),
        cmocka_unit_test(test_bad_subjects),
        cmocka_unit_test(test_lines_round_trip),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_events_round_trip),
        cmocka_unit_test(test_remote_lines_are_not_flushed),
        cmocka_unit_test(test_refresh_takes_what_the_store_has),
        cmocka_unit_test(test_final_status_waits_for_the_lines),
        cmocka_unit_test(test_writer_takes_over_from_the_store),
        cmocka_unit_test(test_writer_with_stale_store_read_keeps_lines),
        cmocka_unit_test(test_lines_past_a_gap_wait_for_it),
        cmocka_unit_test(test_nats_url_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
