/* links: worker mask common */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "worker/executor.h"
#include "worker/pipeline.h"

/* Everything one process printed: per stream, lines joined with '\n', a
 * continued piece followed by "+\n". */
typedef struct capture {
    ls_buf out, err;
    size_t lines;
    int64_t min_ts, max_ts;
    /* For the ordering checks: the monotonic time a given line arrived. */
    const char *watch_text;
    int64_t watch_mono;
    size_t hold_calls;
} capture;

static void on_line(void *userdata, char stream, const char *text, size_t len, bool continued,
                    int64_t ts_ms)
{
    capture *c = userdata;
    ls_buf *b = stream == 'o' ? &c->out : &c->err;
    assert_true(stream == 'o' || stream == 'e');
    ls_buf_append(b, text, len);
    ls_buf_puts(b, continued ? "+\n" : "\n");
    c->lines++;
    if (!c->min_ts || ts_ms < c->min_ts)
        c->min_ts = ts_ms;
    if (ts_ms > c->max_ts)
        c->max_ts = ts_ms;
    if (c->watch_text && len == strlen(c->watch_text) && !memcmp(text, c->watch_text, len))
        c->watch_mono = ls_mono_ms();
}

static const char *str(const ls_buf *b)
{
    return b->data ? b->data : "";
}

static void capture_free(capture *c)
{
    ls_buf_free(&c->out);
    ls_buf_free(&c->err);
}

/* Polls until every process is done; fails the test after limit_ms. */
static void run_all(ls_proc **procs, size_t n, int64_t limit_ms)
{
    int64_t end = ls_mono_ms() + limit_ms;
    for (;;) {
        bool all_done = true;
        for (size_t i = 0; i < n; i++)
            all_done = all_done && ls_proc_done(procs[i]);
        if (all_done)
            return;
        assert_true(ls_mono_ms() < end);
        assert_int_equal(ls_proc_poll(procs, n, 1000), 0);
    }
}

/* Runs a script to the end; returns its exit code. */
static int run_opts(ls_proc_options *o, capture *c, int64_t limit_ms)
{
    o->on_line = on_line;
    o->userdata = c;
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(o, &p), 0);
    run_all(&p, 1, limit_ms);
    int code = ls_proc_exit_code(p);
    ls_proc_free(p);
    return code;
}

static int run_script(const char *script, capture *c)
{
    ls_proc_options o = {.script = script};
    return run_opts(&o, c, 20000);
}

static char *build_script(char **commands, size_t n)
{
    ls_pipeline_step step = {.name = "t", .commands = commands, .n_commands = n};
    ls_buf b = LS_BUF_INIT;
    ls_script_build(&step, &b);
    return ls_buf_steal(&b);
}

static void test_script_text(void **state)
{
    char *cmds[] = {"make", "echo 'it''s'"};
    char *s = build_script(cmds, 2);
    assert_string_equal(s, "set -e\n"
                           "printf '%s\\n' '$ make'\n"
                           "make\n"
                           "printf '%s\\n' '$ echo '\\''it'\\'''\\''s'\\'''\n"
                           "echo 'it''s'\n");
    free(s);
}

/* Quotes, $, backslashes and a multi-line command are echoed exactly and run. */
static void test_script_echo_runs(void **state)
{
    char *cmds[] = {"echo \"a  b\" 'c'", "X='$HOME'; printf '%s|%s\\n' \"$X\" a\\\\b",
                    "printf '%s\\n' \"q\\\"q\"", "for i in 1 2; do\n  echo i=$i\ndone\n"};
    char *s = build_script(cmds, 4);
    capture c = {0};
    assert_int_equal(run_script(s, &c), 0);
    assert_string_equal(str(&c.out), "$ echo \"a  b\" 'c'\n"
                                     "a  b c\n"
                                     "$ X='$HOME'; printf '%s|%s\\n' \"$X\" a\\\\b\n"
                                     "$HOME|a\\b\n"
                                     "$ printf '%s\\n' \"q\\\"q\"\n"
                                     "q\"q\n"
                                     "$ for i in 1 2; do\n"
                                     ">   echo i=$i\n"
                                     "> done\n"
                                     "i=1\n"
                                     "i=2\n");
    assert_string_equal(str(&c.err), "");
    capture_free(&c);
    free(s);
}

static void test_set_e_stops_at_first_failure(void **state)
{
    char *cmds[] = {"echo one", "false", "echo never"};
    char *s = build_script(cmds, 3);
    capture c = {0};
    assert_int_equal(run_script(s, &c), 1);
    assert_string_equal(str(&c.out), "$ echo one\none\n$ false\n");
    capture_free(&c);
    free(s);
}

static void test_streams_are_separate(void **state)
{
    capture c = {0};
    int64_t before = ls_now_ms();
    assert_int_equal(run_script("echo out1; echo err1 >&2; echo out2; echo err2 >&2", &c), 0);
    int64_t after = ls_now_ms();
    assert_string_equal(str(&c.out), "out1\nout2\n");
    assert_string_equal(str(&c.err), "err1\nerr2\n");
    assert_true(c.min_ts >= before && c.max_ts <= after);
    capture_free(&c);
}

static void test_exit_codes(void **state)
{
    struct {
        const char *script;
        int code;
    } cases[] = {
        {"true", 0},
        {"exit 3", 3},
        {"kill -9 $$", 128 + SIGKILL},
        {"kill -TERM $$", 128 + SIGTERM},
        {"no-such-command-xyz", 127},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        capture c = {0};
        assert_int_equal(run_script(cases[i].script, &c), cases[i].code);
        capture_free(&c);
    }
}

static void test_partial_line_flushed_when_idle(void **state)
{
    capture c = {.watch_text = "abc"};
    ls_proc_options o = {.script = "printf abc; sleep 0.6; echo def", .idle_flush_ms = 100};
    int64_t start = ls_mono_ms();
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    int64_t end = ls_mono_ms();
    /* one line, "abcdef": "abc" as a continued piece, the rest after it */
    assert_string_equal(str(&c.out), "abc+\ndef\n");
    /* "abc" came out while the process was still sleeping. */
    assert_true(c.watch_mono > 0);
    assert_true(c.watch_mono - start < 500);
    assert_true(end - c.watch_mono >= 300);
    capture_free(&c);

    /* With a longer idle time the two writes form one line. */
    capture c2 = {0};
    ls_proc_options o2 = {.script = "printf abc; sleep 0.3; echo def", .idle_flush_ms = 3000};
    assert_int_equal(run_opts(&o2, &c2, 10000), 0);
    assert_string_equal(str(&c2.out), "abcdef\n");
    capture_free(&c2);

    /* Paused twice in one line, then the end of the output without a newline:
     * an empty piece ends the line. */
    capture c3 = {0};
    ls_proc_options o3 = {.script = "printf ab; sleep 0.4; printf cd; sleep 0.4; printf ef; "
                                    "sleep 0.4",
                          .idle_flush_ms = 100};
    assert_int_equal(run_opts(&o3, &c3, 10000), 0);
    assert_string_equal(str(&c3.out), "ab+\ncd+\nef+\n\n");
    capture_free(&c3);
}

/* Holds back everything from the last '#' (a stand-in for the start of a
 * secret), counting the calls. */
static size_t hold_from_hash(void *userdata, const char *text, size_t len, size_t max_hold)
{
    capture *c = userdata;
    c->hold_calls++;
    const char *h = memrchr(text, '#', len);
    size_t keep = h ? len - (size_t)(h - text) : 0;
    return keep < max_hold ? keep : max_hold;
}

/* A partial line goes out without its held tail, which starts the next piece;
 * one held whole waits for more output without the idle deadline firing again
 * and again (the hold-back is asked once per read, not in a busy loop). */
static void test_partial_line_hold_back(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "printf 'ab#cd'; sleep 0.8; echo ef; printf '#gh'; sleep 0.8; "
                                   "echo ij",
                         .idle_flush_ms = 100,
                         .hold_back = hold_from_hash};
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    assert_string_equal(str(&c.out), "ab+\n#cdef\n#ghij\n");
    assert_true(c.hold_calls >= 2);
    assert_true(c.hold_calls <= 8);
    capture_free(&c);

    /* At max_line the hold is capped so that a piece keeps a byte. */
    capture c2 = {0};
    ls_proc_options o2 = {
        .script = "echo '#abcdefghij'", .max_line = 4, .hold_back = hold_from_hash};
    assert_int_equal(run_opts(&o2, &c2, 10000), 0);
    assert_string_equal(str(&c2.out), "#+\nabcd+\nefgh+\nij\n");
    capture_free(&c2);
}

static void test_partial_line_at_exit(void **state)
{
    capture c = {0};
    assert_int_equal(run_script("printf 'no newline'; printf 'e' >&2", &c), 0);
    assert_string_equal(str(&c.out), "no newline\n");
    assert_string_equal(str(&c.err), "e\n");
    capture_free(&c);
}

static void test_long_line_split(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "echo 0123456789abcdefghijXYZ; echo short", .max_line = 10};
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    assert_string_equal(str(&c.out), "0123456789+\nabcdefghij+\nXYZ\nshort\n");
    capture_free(&c);
}

static void test_timeout_kills_quickly(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "echo before; sleep 100; echo after", .timeout_ms = 300};
    o.on_line = on_line;
    o.userdata = &c;
    ls_proc *p = NULL;
    int64_t start = ls_mono_ms();
    assert_int_equal(ls_proc_start(&o, &p), 0);
    run_all(&p, 1, 10000);
    int64_t took = ls_mono_ms() - start;
    assert_int_equal(ls_proc_exit_code(p), LS_EXIT_TIMEOUT);
    assert_true(ls_proc_timed_out(p));
    assert_true(took >= 300 && took < 3000);
    assert_string_equal(str(&c.out), "before\n");
    ls_proc_free(p);
    capture_free(&c);
}

/* A process group that ignores SIGTERM is killed after the grace period. */
static void test_timeout_escalates_to_sigkill(void **state)
{
    capture c = {0};
    ls_proc_options o = {
        .script = "trap '' TERM; sleep 100", .timeout_ms = 200, .kill_grace_ms = 300};
    int64_t start = ls_mono_ms();
    assert_int_equal(run_opts(&o, &c, 10000), LS_EXIT_TIMEOUT);
    int64_t took = ls_mono_ms() - start;
    assert_true(took >= 500 && took < 3000);
    capture_free(&c);
}

static void test_stop_service(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "echo up; sleep 100", .on_line = on_line, .userdata = &c};
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(&o, &p), 0);
    while (!c.lines)
        assert_int_equal(ls_proc_poll(&p, 1, 1000), 0);
    assert_false(ls_proc_done(p));
    assert_int_equal(ls_proc_exit_code(p), -1);
    int64_t start = ls_mono_ms();
    ls_proc_stop(p, 2000);
    run_all(&p, 1, 5000);
    assert_true(ls_mono_ms() - start < 1500);
    assert_int_equal(ls_proc_exit_code(p), 128 + SIGTERM);
    assert_false(ls_proc_timed_out(p));
    ls_proc_free(p);
    capture_free(&c);
}

static void test_tty_mode(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "test -t 1 && echo tty-out; test -t 2 && echo tty-err >&2; "
                                   "test -t 0 || echo stdin-not-tty; stty size < /dev/tty",
                         .tty = true};
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    assert_string_equal(str(&c.out), "tty-out\ntty-err\nstdin-not-tty\n40 120\n");
    assert_string_equal(str(&c.err), "");
    capture_free(&c);

    capture c2 = {0};
    ls_proc_options o2 = {
        .script = "stty size < /dev/tty", .tty = true, .tty_cols = 80, .tty_rows = 25};
    assert_int_equal(run_opts(&o2, &c2, 10000), 0);
    assert_string_equal(str(&c2.out), "25 80\n");
    capture_free(&c2);
}

static void test_pipes_are_not_ttys(void **state)
{
    capture c = {0};
    assert_int_equal(run_script("test -t 1 || echo not-a-tty; test -t 2 || echo x >&2", &c), 0);
    assert_string_equal(str(&c.out), "not-a-tty\n");
    assert_string_equal(str(&c.err), "x\n");
    capture_free(&c);
}

/* Every line arrives, in order, none merged; checked without keeping them. */
typedef struct counter {
    long next;
    bool ok;
} counter;

static void count_line(void *userdata, char stream, const char *text, size_t len, bool continued,
                       int64_t ts_ms)
{
    counter *k = userdata;
    char expect[32];
    int n = snprintf(expect, sizeof(expect), "%ld", k->next);
    if (stream != 'o' || continued || len != (size_t)n || memcmp(text, expect, len) != 0)
        k->ok = false;
    k->next++;
}

static void test_many_lines_in_order(void **state)
{
    counter k = {.next = 1, .ok = true};
    ls_proc_options o = {.script = "seq 1 100000", .on_line = count_line, .userdata = &k};
    ls_proc *p = NULL;
    int64_t start = ls_mono_ms();
    assert_int_equal(ls_proc_start(&o, &p), 0);
    run_all(&p, 1, 60000);
    assert_int_equal(ls_proc_exit_code(p), 0);
    assert_true(k.ok);
    assert_int_equal(k.next, 100001);
    assert_true(ls_mono_ms() - start < 20000);
    ls_proc_free(p);
}

/* lines_end closes every run of lines before ls_proc_poll returns: reads,
 * the idle flush of a partial line and the end of the output. */
typedef struct runs {
    size_t lines, ends;
    bool open; /* a line came since the last lines_end */
    bool ok;   /* lines_end only ever after a line */
} runs;

static void runs_line(void *userdata, char stream, const char *text, size_t len, bool continued,
                      int64_t ts_ms)
{
    runs *r = userdata;
    r->lines++;
    r->open = true;
}

static void runs_end(void *userdata)
{
    runs *r = userdata;
    r->ok = r->ok && r->open;
    r->open = false;
    r->ends++;
}

static void test_lines_end_after_each_run(void **state)
{
    runs r = {.ok = true};
    ls_proc_options o = {.script = "seq 1 20000; printf partial; sleep 0.4; printf ' end'",
                         .idle_flush_ms = 100,
                         .on_line = runs_line,
                         .lines_end = runs_end,
                         .userdata = &r};
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(&o, &p), 0);
    int64_t end = ls_mono_ms() + 20000;
    while (!ls_proc_done(p)) {
        assert_true(ls_mono_ms() < end);
        assert_int_equal(ls_proc_poll(&p, 1, 1000), 0);
        assert_false(r.open); /* no run left open when poll returns */
    }
    assert_true(r.ok);
    /* 20000 lines, "partial" (idle flush), " end" (the end of the output) */
    assert_int_equal(r.lines, 20002);
    assert_true(r.ends >= 3);      /* the reads, the idle flush, the end */
    assert_true(r.ends < r.lines); /* runs, not one call per line */
    ls_proc_free(p);
}

/* ls_proc_poll(-1) once; returns the milliseconds it took. */
static int64_t timed_poll(ls_proc *p)
{
    int64_t t0 = ls_mono_ms();
    assert_int_equal(ls_proc_poll(&p, 1, -1), 0);
    return ls_mono_ms() - t0;
}

/* 8000 lines (328 KB) at once, then silence: the first read takes them all
 * (over a read chunk: a flood), so the next poll pauses flood_pace_us and
 * looks again instead of waiting for the next write. */
static const char FLOOD_THEN_SILENCE[] = "yes 0123456789012345678901234567890123456789 | "
                                         "head -n 8000; sleep 1.5; echo end";

static void test_flood_is_read_on_a_timer(void **state)
{
    capture c = {0};
    ls_proc_options o = {
        .script = FLOOD_THEN_SILENCE, .flood_pace_us = 100000, .on_line = on_line, .userdata = &c};
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(&o, &p), 0);
    usleep(500000); /* the 328 KB wait in the 1 MiB pipe */
    timed_poll(p);
    assert_int_equal(c.lines, 8000);
    int64_t paused = timed_poll(p);
    assert_int_equal(c.lines, 8000);
    assert_true(paused >= 90); /* the pause */
    assert_true(paused < 700); /* not the wait for "end", a second later */
    run_all(&p, 1, 20000);
    assert_int_equal(c.lines, 8001);
    assert_true(strstr(str(&c.out), "\nend\n") != NULL);
    ls_proc_free(p);
    capture_free(&c);
}

/* Without pacing, the same poll waits for the next output. */
static void test_flood_pace_off_waits_for_output(void **state)
{
    capture c = {0};
    ls_proc_options o = {
        .script = FLOOD_THEN_SILENCE, .flood_pace_us = -1, .on_line = on_line, .userdata = &c};
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(&o, &p), 0);
    usleep(500000);
    timed_poll(p);
    assert_int_equal(c.lines, 8000);
    assert_true(timed_poll(p) >= 700);
    assert_int_equal(c.lines, 8001);
    ls_proc_free(p);
    capture_free(&c);
}

/* A pipe too small to hold what a fast writer prints during a pause (the
 * kernel may refuse to enlarge it) is read on every write, flood or not. */
static void test_small_pipe_is_not_paced(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = FLOOD_THEN_SILENCE,
                         .flood_pace_us = 200000,
                         .pipe_size = 64 * 1024,
                         .on_line = on_line,
                         .userdata = &c};
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(&o, &p), 0);
    usleep(500000); /* the pipe is full: the writer waits with 264 KB more */
    int64_t t0 = ls_mono_ms();
    while (c.lines < 8000) /* paced, each 200 ms pause would let 64 KiB through */
        timed_poll(p);
    assert_true(ls_mono_ms() - t0 < 400);
    run_all(&p, 1, 20000);
    assert_int_equal(c.lines, 8001);
    ls_proc_free(p);
    capture_free(&c);
}

/* A stream that still holds output after the most reads one poll makes (16
 * chunks) is read again at once, not after a pause: its writer may be
 * waiting for room. With 4 KiB chunks, 205 KB waiting take four polls (64
 * KiB each, then the rest); only after the one that emptied it comes a
 * pause. */
static void test_full_pipe_is_not_paced(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "yes 0123456789012345678901234567890123456789 | "
                                   "head -n 5000; sleep 3",
                         .read_chunk = 4096,
                         .flood_pace_us = 300000,
                         .on_line = on_line,
                         .userdata = &c};
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(&o, &p), 0);
    usleep(500000); /* the 205 KB wait in the pipe */
    for (int i = 0; i < 4; i++)
        assert_true(timed_poll(p) < 200);
    assert_int_equal(c.lines, 5000);
    assert_true(timed_poll(p) >= 250); /* emptied after a flood: now the pause */
    ls_proc_stop(p, 0);
    run_all(&p, 1, 20000);
    ls_proc_free(p);
    capture_free(&c);
}

/* Output below a read chunk per read is read as it comes: no pause. */
static void test_slow_output_is_not_paced(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "echo a; sleep 0.5; echo b; sleep 2",
                         .flood_pace_us = 200000,
                         .on_line = on_line,
                         .userdata = &c};
    ls_proc *p = NULL;
    assert_int_equal(ls_proc_start(&o, &p), 0);
    while (c.lines == 0)
        timed_poll(p);
    int64_t waited = timed_poll(p);
    assert_int_equal(c.lines, 2); /* the call waited for "b"... */
    assert_true(waited >= 300);   /* ...which came 0.5 s after "a" */
    ls_proc_stop(p, 0);
    run_all(&p, 1, 20000);
    ls_proc_free(p);
    capture_free(&c);
}

static void test_environment(void **state)
{
    char *env[] = {"FOO=bar  baz", "PATH=/usr/bin:/bin", NULL};
    capture c = {0};
    ls_proc_options o = {.script = "echo \"[$FOO]\"; echo \"${HOME-unset}\"", .env = env};
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    assert_string_equal(str(&c.out), "[bar  baz]\nunset\n");
    capture_free(&c);
}

static void test_workdir(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "pwd", .workdir = "/tmp"};
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    assert_string_equal(str(&c.out), "/tmp\n");
    capture_free(&c);

    ls_proc *p = NULL;
    ls_proc_options bad = {.script = "pwd", .workdir = "/no/such/dir", .on_line = on_line};
    assert_int_equal(ls_proc_start(&bad, &p), -ENOENT);
    assert_null(p);
    ls_proc_options none = {.on_line = on_line};
    assert_int_equal(ls_proc_start(&none, &p), -EINVAL);
}

/* Three processes polled together run at the same time. */
static void test_several_processes(void **state)
{
    enum { N = 3 };
    capture c[N];
    memset(c, 0, sizeof(c));
    ls_proc *p[N] = {NULL};
    char script[128];
    c[0].watch_text = "p0-3";
    c[N - 1].watch_text = "p2-1";
    for (int i = 0; i < N; i++) {
        snprintf(script, sizeof(script),
                 "for i in 1 2 3; do echo p%d-$i; echo q%d-$i >&2; sleep 0.2; done", i, i);
        ls_proc_options o = {.script = script, .on_line = on_line, .userdata = &c[i]};
        assert_int_equal(ls_proc_start(&o, &p[i]), 0);
    }
    run_all(p, N, 10000);
    for (int i = 0; i < N; i++) {
        char want_out[64], want_err[64];
        snprintf(want_out, sizeof(want_out), "p%d-1\np%d-2\np%d-3\n", i, i, i);
        snprintf(want_err, sizeof(want_err), "q%d-1\nq%d-2\nq%d-3\n", i, i, i);
        assert_string_equal(str(&c[i].out), want_out);
        assert_string_equal(str(&c[i].err), want_err);
        assert_int_equal(ls_proc_exit_code(p[i]), 0);
        ls_proc_free(p[i]);
        capture_free(&c[i]);
    }
    /* The last process's first line came before the first's last line. */
    assert_true(c[N - 1].watch_mono < c[0].watch_mono);
}

/* Gone, or a zombie waiting for init to reap it. */
static bool process_gone(int pid)
{
    char path[64], stat[256] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    bool zombie = fgets(stat, sizeof(stat), f) && strstr(stat, ") Z ");
    fclose(f);
    return zombie;
}

/* A background child keeping stdout open does not hold up the step, output
 * it prints shortly after the exit is still read, and it is killed at the end. */
static void test_background_child_does_not_hang(void **state)
{
    char pidfile[] = "/tmp/ls-exec-test-XXXXXX";
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    char script[256];
    snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; (sleep 0.1; echo late) & echo early",
             pidfile);
    capture c = {0};
    ls_proc_options o = {.script = script, .drain_idle_ms = 400};
    int64_t start = ls_mono_ms();
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    assert_true(ls_mono_ms() - start < 3000);
    assert_string_equal(str(&c.out), "early\nlate\n");

    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    unlink(pidfile);
    assert_true(pid > 0);
    usleep(50000);
    assert_true(process_gone(pid));
    capture_free(&c);
}

/* A background child that never stops writing is cut off after drain_max_ms. */
static void test_chatty_background_child_bounded(void **state)
{
    capture c = {0};
    ls_proc_options o = {.script = "(while :; do echo tick; sleep 0.01; done) & echo main",
                         .drain_max_ms = 500};
    int64_t start = ls_mono_ms();
    assert_int_equal(run_opts(&o, &c, 10000), 0);
    int64_t took = ls_mono_ms() - start;
    assert_true(took >= 400 && took < 3000);
    assert_true(c.lines > 5);
    assert_non_null(strstr(str(&c.out), "main\n"));
    capture_free(&c);
}

/* A script longer than a command-line argument may be goes through a memfd. */
static void test_long_script(void **state)
{
    enum { N = 4000 };
    char **cmds = calloc(N, sizeof(*cmds));
    for (int i = 0; i < N; i++) {
        cmds[i] = malloc(64);
        snprintf(cmds[i], 64, "echo line-%05d-padding-padding-padding", i);
    }
    char *s = build_script(cmds, N);
    assert_true(strlen(s) > 200000);
    capture c = {0};
    assert_int_equal(run_script(s, &c), 0);
    assert_int_equal(c.lines, 2 * N);
    assert_non_null(strstr(str(&c.out), "line-03999-padding-padding-padding\n"));
    capture_free(&c);
    free(s);
    for (int i = 0; i < N; i++)
        free(cmds[i]);
    free(cmds);
}

static void test_poll_without_running_processes(void **state)
{
    int64_t start = ls_mono_ms();
    assert_int_equal(ls_proc_poll(NULL, 0, -1), 0);
    assert_true(ls_mono_ms() - start < 100);
    ls_proc_free(NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the child must still get default dispositions */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_text),
        cmocka_unit_test(test_script_echo_runs),
        cmocka_unit_test(test_set_e_stops_at_first_failure),
        cmocka_unit_test(test_streams_are_separate),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_partial_line_flushed_when_idle),
        cmocka_unit_test(test_partial_line_hold_back),
        cmocka_unit_test(test_partial_line_at_exit),
        cmocka_unit_test(test_long_line_split),
        cmocka_unit_test(test_timeout_kills_quickly),
        cmocka_unit_test(test_timeout_escalates_to_sigkill),
        cmocka_unit_test(test_stop_service),
        cmocka_unit_test(test_tty_mode),
        cmocka_unit_test(test_pipes_are_not_ttys),
        cmocka_unit_test(test_many_lines_in_order),
        cmocka_unit_test(test_lines_end_after_each_run),
        cmocka_unit_test(test_flood_is_read_on_a_timer),
        cmocka_unit_test(test_flood_pace_off_waits_for_output),
        cmocka_unit_test(test_full_pipe_is_not_paced),
        cmocka_unit_test(test_small_pipe_is_not_paced),
        cmocka_unit_test(test_slow_output_is_not_paced),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_workdir),
        cmocka_unit_test(test_several_processes),
        cmocka_unit_test(test_background_child_does_not_hang),
        cmocka_unit_test(test_chatty_background_child_bounded),
        cmocka_unit_test(test_long_script),
        cmocka_unit_test(test_poll_without_running_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
