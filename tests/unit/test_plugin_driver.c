/* links: worker mask common */
/* The worker's side of the plugin host: the queue to the host is bounded and
 * never blocks the job, the protocol on the host's stdin, output and
 * diagnostics, a host that dies, and which plugins run. Fake hosts are small
 * /bin/sh scripts, so each test controls exactly how the host behaves. */
#include <errno.h>
#include <fcntl.h>
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

#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "worker/executor.h"
#include "worker/pipeline.h"
#include "worker/plugin_driver.h"

/* Generous: the machine is shared and the tests also run under ASan. */
#define WAIT_MS 30000

/* What the driver delivered as the plugins log: lines joined with '\n', a
 * continued piece followed by "+\n". Written on the driver's thread, read
 * after ls_plugin_driver_wait (which joins it). */
typedef struct capture {
    ls_buf text;
    size_t lines;
} capture;

static void on_output(void *userdata, const char *text, size_t len, bool continued)
{
    capture *c = userdata;
    ls_buf_append(&c->text, text, len);
    ls_buf_puts(&c->text, continued ? "+\n" : "\n");
    c->lines++;
}

static const char *captured(capture *c)
{
    ls_buf_putc(&c->text, '\0');
    c->text.len--;
    return c->text.data;
}

/* Starts /bin/sh -c SCRIPT as the host. */
static ls_plugin_driver *start_sh(const char *script, const char *context, size_t max_queue,
                                  capture *cap, int diag_fd)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    ls_plugin_driver_options o = {
        .exe = "/bin/sh",
        .argv = argv,
        .envp = envp,
        .context_json = context,
        .finish_nonce = "n0nce",
        .max_queue = max_queue,
        .on_output = on_output,
        .userdata = cap,
        .diag_fd = diag_fd,
        .diag_prefix = "diag: ",
        .drain_ms = 200,
    };
    ls_plugin_driver *d = NULL;
    assert_int_equal(ls_plugin_driver_start(&o, &d), 0);
    assert_non_null(d);
    return d;
}

/* ---- the queue never blocks ---- */

typedef struct feeder {
    ls_plugin_driver *d;
    int64_t longest_ns; /* longest single feed call */
    uint64_t lines;
} feeder;

static void feed_line(void *userdata, char stream, const char *text, size_t len, bool continued,
                      int64_t ts_ms)
{
    (void)stream, (void)continued, (void)ts_ms;
    feeder *f = userdata;
    int64_t t0 = ls_mono_ns();
    ls_plugin_driver_feed(f->d, "1", text, len);
    int64_t dt = ls_mono_ns() - t0;
    if (dt > f->longest_ns)
        f->longest_ns = dt;
    f->lines++;
}

/* A host that never reads its stdin: a real step printing 100,000 lines of
 * 100 bytes still runs to its end at full speed; the lines beyond the
 * queue's 64 KiB (and the pipe's buffer) are dropped and counted, and the
 * user is told once how many. */
static void test_host_that_never_reads(void **state)
{
    (void)state;
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d = start_sh("exec sleep 600", "{}", 64 * 1024, &cap, 2);
    feeder f = {.d = d};
    ls_pipeline_step step = {
        .name = "spam", .commands = (char *[]){"seq -f %0100.0f 1 100000"}, .n_commands = 1};
    ls_buf script = LS_BUF_INIT;
    ls_script_build(&step, &script);
    char *env[] = {"PATH=/usr/bin:/bin", NULL};
    ls_proc_options po = {.script = script.data, .env = env, .on_line = feed_line, .userdata = &f};
    ls_proc *p = NULL;
    int64_t t0 = ls_mono_ms();
    assert_int_equal(ls_proc_start(&po, &p), 0);
    while (!ls_proc_done(p))
        assert_int_equal(ls_proc_poll(&p, 1, 1000), 0);
    int64_t step_ms = ls_mono_ms() - t0;
    assert_int_equal(ls_proc_exit_code(p), 0);
    ls_proc_free(p);
    ls_buf_free(&script);

    ls_plugin_driver_stats st;
    ls_plugin_driver_get_stats(d, &st);
    /* "$ seq ..." and 100,000 numbers */
    assert_int_equal(f.lines, 100001);
    assert_int_equal(st.fed + st.dropped, f.lines);
    assert_true(st.dropped > 50000); /* 64 KiB + a pipe of at most 1 MiB hold ~11,000 */
    assert_true(st.queued <= 64 * 1024);
    assert_false(st.exited);
    /* never waited for the host: no feed took long, the step was quick */
    /* (a blocking write would hang here for good; 2 s only absorbs a busy machine) */
    assert_true(f.longest_ns < 2000 * 1000 * 1000LL);
    assert_true(step_ms < WAIT_MS);
    fprintf(stderr, "100001 lines in %lld ms, %llu fed, %llu dropped, longest feed %lld us\n",
            (long long)step_ms, (unsigned long long)st.fed, (unsigned long long)st.dropped,
            (long long)(f.longest_ns / 1000));

    /* finish: the host does not read the finish line either; stop it */
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + 300), -ETIMEDOUT);
    ls_plugin_driver_kill(d, "plugin host did not finish within 0.3s; stopped it");
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    ls_plugin_driver_get_stats(d, &st);
    assert_true(st.exited);
    assert_int_equal(st.exit_code, 128 + SIGKILL);
    char expect[256];
    snprintf(expect, sizeof(expect),
             "plugin host is behind; %llu lines not given to plugins\n"
             "plugin host did not finish within 0.3s; stopped it\n",
             (unsigned long long)st.dropped);
    assert_string_equal(captured(&cap), expect);
    ls_plugin_driver_free(d);
    ls_buf_free(&cap.text);
}

/* ---- protocol ---- */

/* The host's stdin, as a script that copies every line it reads to stdout
 * (prefixed) and one to stderr, and exits after the finish line. */
#define ECHO_HOST                                                                                  \
    "n=0; while IFS= read -r l; do n=$((n+1)); echo \"got $l\"; "                                  \
    "case \"$l\" in '##[logplugin.finish]'*) echo \"lines $n\" >&2; exit 0;; esac; done; "         \
    "echo eof; exit 0"

static void test_protocol(void **state)
{
    (void)state;
    capture cap = {LS_BUF_INIT, 0};
    int diag[2];
    assert_int_equal(pipe(diag), 0);
    ls_plugin_driver *d = start_sh(ECHO_HOST, "{\"finish_nonce\":\"n0nce\"}", 0, &cap, diag[1]);
    ls_plugin_driver_feed(d, "1", "hello", 5);
    ls_plugin_driver_feed(d, "1", "", 0);
    ls_plugin_driver_feed(d, "12", "a:b\nc", 5); /* a newline cannot split a line */
    ls_plugin_driver_finish(d, true);
    ls_plugin_driver_feed(d, "1", "too late", 8);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    assert_string_equal(captured(&cap), "got {\"finish_nonce\":\"n0nce\"}\n"
                                        "got 1:hello\n"
                                        "got 1:\n"
                                        "got 12:a:b c\n"
                                        "got ##[logplugin.finish]n0nce\n");
    ls_plugin_driver_stats st;
    ls_plugin_driver_get_stats(d, &st);
    assert_int_equal(st.fed, 3);
    assert_int_equal(st.dropped, 0);
    assert_true(st.exited);
    assert_false(st.crashed);
    assert_int_equal(st.exit_code, 0);
    close(diag[1]);
    char buf[256] = "";
    ssize_t n = read(diag[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    assert_string_equal(buf, "diag: lines 5\n");
    close(diag[0]);
    ls_plugin_driver_free(d);
    ls_buf_free(&cap.text);
}

/* Lines fed under ls_plugin_driver_hold reach the host in order once
 * released, counted like the others; while held the thread cannot take the
 * queue, so the queue's limit still refuses what does not fit. */
static void test_held_feeds(void **state)
{
    (void)state;
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d = start_sh(ECHO_HOST, "{}", 1000, &cap, -1);
    ls_plugin_driver_hold(d);
    assert_int_equal(ls_plugin_driver_feed(d, "1", "a", 1), 0);
    assert_int_equal(ls_plugin_driver_feed(d, "2", "b", 1), 0);
    ls_plugin_driver_release(d);
    assert_int_equal(ls_plugin_driver_feed(d, "1", "c", 1), 0);
    char line[100];
    memset(line, 'x', sizeof(line));
    int queued = 0, refused = 0;
    ls_plugin_driver_hold(d);
    for (int i = 0; i < 20; i++) {
        int r = ls_plugin_driver_feed(d, "3", line, sizeof(line));
        assert_true(r == 0 || r == -ENOBUFS);
        r == 0 ? queued++ : refused++;
    }
    ls_plugin_driver_release(d);
    assert_true(queued >= 1 && queued <= 9); /* 103 bytes each, 1000 at most */
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    const char *got = captured(&cap);
    assert_non_null(strstr(got, "got {}\ngot 1:a\ngot 2:b\ngot 1:c\ngot 3:xxx"));
    assert_non_null(strstr(got, "got ##[logplugin.finish]n0nce\n"));
    char notice[96];
    snprintf(notice, sizeof(notice), "plugin host is behind; %d lines not given to plugins",
             refused);
    assert_non_null(strstr(got, notice));
    /* the context, a b c, the queued lines, the finish line, the notice */
    assert_int_equal(cap.lines, 1 + 3 + (size_t)queued + 1 + 1);
    ls_plugin_driver_stats st;
    ls_plugin_driver_get_stats(d, &st);
    assert_int_equal(st.fed, 3 + (uint64_t)queued);
    assert_int_equal(st.dropped, (uint64_t)refused);
    ls_plugin_driver_free(d);
    ls_buf_free(&cap.text);
}

/* ---- spilling ---- */

#define SPILL_LINES 100000

/* A host that reads nothing until the file GO exists (spill_go), then copies
 * its stdin to stdout. */
static ls_plugin_driver *start_spilling(const char *dir, const char *go, uint64_t max_spill,
                                        capture *cap)
{
    char script[256];
    snprintf(script, sizeof(script), "while [ ! -e %s ]; do sleep 0.01; done; exec cat", go);
    char *argv[] = {"sh", "-c", script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    ls_plugin_driver_options o = {
        .exe = "/bin/sh",
        .argv = argv,
        .envp = envp,
        .context_json = "{}",
        .finish_nonce = "n0nce",
        .max_queue = 64 * 1024,
        .spill_dir = dir,
        .max_spill = max_spill,
        .on_output = on_output,
        .userdata = cap,
        .diag_fd = -1,
        .drain_ms = 200,
    };
    ls_plugin_driver *d = NULL;
    assert_int_equal(ls_plugin_driver_start(&o, &d), 0);
    return d;
}

static void spill_go(const char *go)
{
    FILE *f = fopen(go, "w");
    assert_non_null(f);
    fclose(f);
}

/* Feeds SPILL_LINES numbered lines of 100 bytes (10 MB, ten times the pipe)
 * in runs of 100 (the lines of one read); returns how many were refused. */
static uint64_t feed_numbered(ls_plugin_driver *d)
{
    uint64_t refused = 0;
    char text[128];
    for (int i = 1; i <= SPILL_LINES;) {
        ls_plugin_driver_hold(d);
        for (int end = i + 100; i < end; i++) {
            int n = snprintf(text, sizeof(text), "line %d %090d", i, 0);
            int r = ls_plugin_driver_feed(d, "1", text, (size_t)n);
            assert_true(r == 0 || r == -ENOBUFS);
            refused += r != 0;
        }
        ls_plugin_driver_release(d);
    }
    return refused;
}

/* Checks that the captured output is the context, then "1:line N" lines with
 * N rising by exactly one when gaps is false, then the finish line; returns
 * how many numbered lines there were. */
static uint64_t check_numbered(capture *cap, bool gaps)
{
    const char *p = captured(cap);
    assert_memory_equal(p, "{}\n", 3);
    p += 3;
    long prev = 0;
    uint64_t n = 0;
    while (strncmp(p, "1:line ", 7) == 0) {
        long v = strtol(p + 7, (char **)&p, 10);
        assert_int_equal(*p, ' ');
        p = strchr(p, '\n') + 1;
        if (gaps)
            assert_true(v > prev);
        else
            assert_int_equal(v, prev + 1);
        prev = v;
        n++;
    }
    assert_memory_equal(p, "##[logplugin.finish]n0nce\n", 26);
    return n;
}

static bool dir_is_empty(const char *path)
{
    DIR *dir = opendir(path);
    assert_non_null(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(dir);
    return entries == 0;
}

/* A host that falls behind gets every line, in order, later: what does not
 * fit in the 64 KiB memory queue waits in the spill file, which leaves
 * nothing behind. */
static void test_lines_beyond_the_queue_are_spilled(void **state)
{
    (void)state;
    char dir[] = "/tmp/ls-spill-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char go[64];
    snprintf(go, sizeof(go), "%s/go", dir);
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d = start_spilling(dir, go, 0, &cap);
    assert_int_equal(feed_numbered(d), 0);
    ls_plugin_driver_stats st;
    ls_plugin_driver_get_stats(d, &st);
    assert_int_equal(st.fed, SPILL_LINES);
    assert_int_equal(st.dropped, 0);
    assert_true(st.spilled > SPILL_LINES * 8 / 10); /* beyond 64 KiB and the 1 MiB pipe */
    assert_true(st.queued > 8 * 1000 * 1000);
    spill_go(go);
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    assert_int_equal(check_numbered(&cap, false), SPILL_LINES);
    assert_int_equal(cap.lines, SPILL_LINES + 2); /* no notice */
    assert_int_equal(unlink(go), 0);
    assert_true(dir_is_empty(dir));
    ls_plugin_driver_free(d);
    assert_int_equal(rmdir(dir), 0);
    ls_buf_free(&cap.text);
}

/* Beyond max_spill bytes waiting, lines are dropped, counted and reported;
 * those given to the host stay in order. */
static void test_spill_limit_drops(void **state)
{
    (void)state;
    char dir[] = "/tmp/ls-spill-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char go[64];
    snprintf(go, sizeof(go), "%s/go", dir);
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d = start_spilling(dir, go, 1024 * 1024, &cap);
    uint64_t refused = feed_numbered(d);
    spill_go(go);
    assert_true(refused > SPILL_LINES / 2); /* 10 MB fed, 64 KiB + 1 MiB + 1 MiB room */
    ls_plugin_driver_stats st;
    ls_plugin_driver_get_stats(d, &st);
    assert_int_equal(st.fed + st.dropped, SPILL_LINES);
    assert_int_equal(st.dropped, refused);
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    assert_int_equal(check_numbered(&cap, true), st.fed);
    char notice[96];
    snprintf(notice, sizeof(notice), "plugin host is behind; %llu lines not given to plugins\n",
             (unsigned long long)refused);
    assert_non_null(strstr(cap.text.data, notice));
    ls_plugin_driver_free(d);
    assert_int_equal(unlink(go), 0);
    assert_int_equal(rmdir(dir), 0);
    ls_buf_free(&cap.text);
}

/* A spill directory that cannot be used: the lines beyond the memory queue
 * are dropped, as without one, and the user is told why. */
static void test_unusable_spill_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/ls-spill-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char go[64];
    snprintf(go, sizeof(go), "%s/go", dir);
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d = start_spilling("/nonexistent/spill", go, 0, &cap);
    uint64_t refused = feed_numbered(d);
    spill_go(go);
    assert_true(refused > SPILL_LINES / 2);
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    check_numbered(&cap, true);
    assert_non_null(strstr(cap.text.data, "cannot create the plugins' spill file in "
                                          "/nonexistent/spill: No such file or directory; "
                                          "lines waiting for the plugins were lost\n"));
    ls_plugin_driver_free(d);
    assert_int_equal(unlink(go), 0);
    assert_int_equal(rmdir(dir), 0);
    ls_buf_free(&cap.text);
}

/* A canceled build: no finish line, the host sees the end of its input. */
static void test_cancel_sends_no_finish(void **state)
{
    (void)state;
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d = start_sh(ECHO_HOST, "{}", 0, &cap, 2);
    ls_plugin_driver_feed(d, "3", "x", 1);
    ls_plugin_driver_finish(d, false);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    const char *out = captured(&cap);
    assert_null(strstr(out, "logplugin.finish"));
    size_t n = strlen(out);
    assert_true(n >= 4 && !strcmp(out + n - 4, "eof\n"));
    ls_plugin_driver_free(d);
    ls_buf_free(&cap.text);
}

/* Output lines longer than max_line come in pieces; the last one without a
 * newline still arrives. */
static void test_long_output_lines(void **state)
{
    (void)state;
    capture cap = {LS_BUF_INIT, 0};
    char *argv[] = {"sh", "-c", "head -c 150000 /dev/zero | tr '\\0' x; echo; printf tail", NULL};
    ls_plugin_driver_options o = {
        .exe = "/bin/sh",
        .argv = argv,
        .context_json = "{}",
        .finish_nonce = "n",
        .max_line = 65536,
        .on_output = on_output,
        .userdata = &cap,
    };
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    o.envp = envp;
    ls_plugin_driver *d = NULL;
    assert_int_equal(ls_plugin_driver_start(&o, &d), 0);
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    const char *out = captured(&cap);
    assert_int_equal(strlen(out), 150000 + 2 * 2 + 1 + strlen("tail\n"));
    assert_int_equal(out[65536], '+');
    assert_int_equal(out[2 * 65536 + 2], '+');
    assert_string_equal(out + 150000 + 5, "tail\n");
    ls_plugin_driver_free(d);
    ls_buf_free(&cap.text);
}

/* ---- a host that dies ---- */

static void test_host_crash(void **state)
{
    (void)state;
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d =
        start_sh("read ctx; read l; echo \"[p] saw $l\"; kill -SEGV $$", "{}", 0, &cap, 2);
    ls_plugin_driver_feed(d, "1", "first", 5);
    ls_plugin_driver_stats st;
    int64_t deadline = ls_mono_ms() + WAIT_MS;
    do {
        usleep(10 * 1000); /* the test waits for the host to die; the driver never polls */
        ls_plugin_driver_get_stats(d, &st);
    } while (!st.exited && ls_mono_ms() < deadline);
    assert_true(st.exited);
    assert_true(st.crashed);
    assert_int_equal(st.exit_code, 128 + SIGSEGV);
    for (int i = 0; i < 1000; i++)
        ls_plugin_driver_feed(d, "1", "ignored", 7); /* no error, no effect */
    ls_plugin_driver_get_stats(d, &st);
    assert_int_equal(st.fed, 1);
    assert_int_equal(st.dropped, 0);
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    assert_string_equal(captured(&cap),
                        "[p] saw 1:first\n"
                        "plugin host exited with signal 11 (Segmentation fault); plugins are off "
                        "for the rest of this build\n");
    ls_plugin_driver_free(d);
    ls_buf_free(&cap.text);
}

static void test_host_exits_early(void **state)
{
    (void)state;
    capture cap = {LS_BUF_INIT, 0};
    ls_plugin_driver *d = start_sh("read ctx; exit 3", "{}", 0, &cap, 2);
    ls_plugin_driver_finish(d, true);
    assert_int_equal(ls_plugin_driver_wait(d, ls_mono_ms() + WAIT_MS), 0);
    ls_plugin_driver_stats st;
    ls_plugin_driver_get_stats(d, &st);
    assert_int_equal(st.exit_code, 3);
    /* it may have exited before or after the finish line was queued */
    const char *out = captured(&cap);
    assert_true(!strcmp(out, "") ||
                !strcmp(out, "plugin host exited with status 3; plugins are off for the rest "
                             "of this build\n"));
    ls_plugin_driver_free(d);
    ls_buf_free(&cap.text);
}

static void test_host_that_cannot_start(void **state)
{
    (void)state;
    char *argv[] = {"nope", NULL};
    ls_plugin_driver_options o = {
        .exe = "/nonexistent/logstream", .argv = argv, .context_json = "{}", .finish_nonce = "n"};
    ls_plugin_driver *d = NULL;
    assert_int_equal(ls_plugin_driver_start(&o, &d), -ENOENT);
    assert_null(d);
    o.context_json = "{\n}"; /* line 1 must be one line */
    assert_int_equal(ls_plugin_driver_start(&o, &d), -EINVAL);
    ls_plugin_driver_free(NULL);
}

/* ---- which plugins run ---- */

static char *select_json(const ls_pipeline_plugins *pl, ls_plugin_flags f, int expect_rc, char *err,
                         size_t errlen)
{
    char *json = (char *)"unset";
    assert_int_equal(ls_plugin_select(pl, &f, &json, err, errlen), expect_rc);
    return json;
}

static void test_select(void **state)
{
    (void)state;
    char err[256];
    /* resave, the sample, runs only when asked for */
    char *j = select_json(NULL, (ls_plugin_flags){0}, 0, err, sizeof(err));
    assert_string_equal(j, "{\"*\":true,\"resave\":{\"enabled\":false}}");
    free(j);
    ls_pipeline_plugin_settings only_set[] = {{"resave", "{\"dir\":\"/y\"}"}};
    ls_pipeline_plugins with_settings = {.enabled = true, .settings = only_set, .n_settings = 1};
    j = select_json(&with_settings, (ls_plugin_flags){0}, 0, err, sizeof(err));
    assert_string_equal(j, "{\"*\":true,\"resave\":{\"enabled\":true,\"settings\":{\"dir\":"
                           "\"/y\"}}}");
    free(j);
    j = select_json(NULL, (ls_plugin_flags){.enable = "resave"}, 0, err, sizeof(err));
    assert_string_equal(j, "{\"*\":true,\"resave\":{\"enabled\":true}}");
    free(j);

    j = select_json(NULL, (ls_plugin_flags){.none = true}, 0, err, sizeof(err));
    assert_null(j);

    char *en[] = {"resave"}, *dis[] = {"forward", "tool-usage"};
    ls_pipeline_plugin_settings set[] = {{"resave", "{\"dir\":\"/x\"}"}};
    ls_pipeline_plugins pl = {.enabled = false,
                              .enable = en,
                              .n_enable = 1,
                              .disable = dis,
                              .n_disable = 2,
                              .settings = set,
                              .n_settings = 1};
    j = select_json(&pl, (ls_plugin_flags){0}, 0, err, sizeof(err));
    assert_string_equal(j,
                        "{\"*\":false,\"forward\":{\"enabled\":false},\"resave\":{\"enabled\":"
                        "true,\"settings\":{\"dir\":\"/x\"}},\"tool-usage\":{\"enabled\":false}}");
    free(j);

    /* the flags win over the file */
    j = select_json(&pl, (ls_plugin_flags){.enable = "forward, test-results", .disable = "resave"},
                    0, err, sizeof(err));
    assert_string_equal(j, "{\"*\":false,\"forward\":{\"enabled\":true},\"resave\":{\"enabled\":"
                           "false,\"settings\":{\"dir\":\"/x\"}},\"test-results\":{\"enabled\":"
                           "true},\"tool-usage\":{\"enabled\":false}}");
    free(j);

    /* nothing can run: no host */
    pl.n_enable = 0;
    j = select_json(&pl, (ls_plugin_flags){0}, 0, err, sizeof(err));
    assert_null(j);

    select_json(NULL, (ls_plugin_flags){.enable = "Bad_Name"}, -EINVAL, err, sizeof(err));
    assert_non_null(strstr(err, "--plugin: 'Bad_Name' is not a plugin name"));
    select_json(NULL, (ls_plugin_flags){.enable = "a,b", .disable = "b"}, -EINVAL, err,
                sizeof(err));
    assert_string_equal(err, "plugin b is given to both --plugin and --disable-plugin; keep one");
    select_json(NULL, (ls_plugin_flags){.none = true, .enable = "a"}, -EINVAL, err, sizeof(err));
    assert_non_null(strstr(err, "--no-plugins cannot be combined"));
}

/* The notice of a forwarded step: only when forward runs with replace_log. */
static void test_replaced_log(void **state)
{
    (void)state;
    char *notice = NULL;
    const char *on = "{\"*\":true,\"forward\":{\"enabled\":true,\"settings\":{\"target\":"
                     "\"file\",\"path\":\"/tmp/f.ndjson\",\"replace_log\":[\"test\"]}}}";
    assert_int_equal(ls_plugin_replaced_log(on, "test", &notice), 1);
    assert_string_equal(notice, "logs for this step were forwarded to file at /tmp/f.ndjson");
    free(notice);
    notice = NULL;
    assert_int_equal(ls_plugin_replaced_log(on, "build", &notice), 0);
    const char *off = "{\"*\":true,\"forward\":{\"enabled\":false,\"settings\":{\"target\":"
                      "\"file\",\"path\":\"/tmp/f\",\"replace_log\":true}}}";
    assert_int_equal(ls_plugin_replaced_log(off, "test", &notice), 0);
    assert_int_equal(ls_plugin_replaced_log("{\"*\":true}", "test", &notice), 0);
    assert_int_equal(ls_plugin_replaced_log(NULL, "test", &notice), 0);
    assert_null(notice);
}

int main(void)
{
    /* SIGPIPE keeps its default: a write to a dead host must not kill the worker */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_that_never_reads),
        cmocka_unit_test(test_protocol),
        cmocka_unit_test(test_held_feeds),
        cmocka_unit_test(test_lines_beyond_the_queue_are_spilled),
        cmocka_unit_test(test_spill_limit_drops),
        cmocka_unit_test(test_unusable_spill_dir),
        cmocka_unit_test(test_cancel_sends_no_finish),
        cmocka_unit_test(test_long_output_lines),
        cmocka_unit_test(test_host_crash),
        cmocka_unit_test(test_host_exits_early),
        cmocka_unit_test(test_host_that_cannot_start),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_replaced_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
