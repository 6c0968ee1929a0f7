/* links: plugins pluginhost common */
/* test-results parsers: every sample log under tests/data/test-results/<runner>/
 * (produced by running the real tool, see the README next to it) is fed line
 * by line through the collector, and what it would publish (one JSON
 * document per line, in order) must equal <sample>.json exactly. An empty
 * baseline means the log must publish nothing.
 *
 * To (re)write the baselines after a deliberate change, run with
 * TR_UPDATE_BASELINES=1 and review the diff by hand. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "plugins/test_results/junit.h"
#include "plugins/test_results/tr_ansi.h"
#include "plugins/test_results/tr_stream.h"

static char data_dir[4096];

static void emit(void *ud, const tr_run *run)
{
    ls_buf *out = ud;
    tr_run_json(run, 1, out);
    ls_buf_putc(out, '\n');
}

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    ls_buf b = LS_BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        ls_buf_append(&b, tmp, n);
    fclose(f);
    *ret_len = b.len;
    return b.data ? ls_buf_steal(&b) : strdup("");
}

/* Feeds text line by line (the last line may lack its newline). */
static void feed(tr_stream *s, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        tr_stream_line(s, p, n);
        p = nl ? nl + 1 : end;
    }
}

static void check_sample(const char *dir, const char *name, int *failures, int *checked)
{
    char log[8192], base[8192];
    snprintf(log, sizeof(log), "%s/%s/%s", data_dir, dir, name);
    snprintf(base, sizeof(base), "%.*s.json", (int)(strlen(log) - 4), log);
    size_t len = 0, blen = 0;
    char *text = read_file(log, &len);
    assert_non_null(text);
    ls_buf out = LS_BUF_INIT;
    tr_sink sink = {.emit = emit, .ud = &out};
    if (strcmp(log + strlen(log) - 4, ".xml") == 0) {
        /* JUnit XML: one run per file, as the plugin reads them at finalize */
        tr_run run;
        char err[256];
        memset(&run, 0, sizeof(run));
        if (tr_junit_parse_file(log, TR_JUNIT_MAX_BYTES, &run, err, sizeof(err)) == 0)
            tr_emit(&sink, &run);
        else
            ls_buf_printf(&out, "error: %s\n", err);
        tr_run_clear(&run);
    } else {
        tr_stream *s = tr_stream_new(&sink);
        feed(s, text, len);
        tr_stream_end(s);
        tr_stream_free(s);
    }
    const char *got = out.data ? out.data : "";
    if (getenv("TR_UPDATE_BASELINES")) {
        FILE *f = fopen(base, "wb");
        assert_non_null(f);
        fwrite(got, 1, strlen(got), f);
        fclose(f);
    }
    char *want = read_file(base, &blen);
    if (!want || strcmp(want, got) != 0) {
        print_error("%s/%s: published\n%s\nbut the baseline %s says\n%s\n", dir, name, got, base,
                    want ? want : "(missing)");
        (*failures)++;
    }
    (*checked)++;
    free(want);
    free(text);
    ls_buf_free(&out);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static bool is_log(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 &&
           (strcmp(d->d_name + n - 4, ".log") == 0 || strcmp(d->d_name + n - 4, ".xml") == 0);
}

static int filter_log(const struct dirent *d)
{
    return is_log(d);
}

static int filter_dir(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void test_samples_match_baselines(void **unused)
{
    (void)unused;
    struct dirent **dirs = NULL;
    int nd = scandir(data_dir, &dirs, filter_dir, by_name);
    assert_true(nd > 0);
    int failures = 0, checked = 0, runners = 0;
    for (int i = 0; i < nd; i++) {
        char sub[8192];
        snprintf(sub, sizeof(sub), "%s/%s", data_dir, dirs[i]->d_name);
        struct dirent **logs = NULL;
        int nl = scandir(sub, &logs, filter_log, by_name);
        if (nl > 0)
            runners++;
        for (int j = 0; j < nl; j++) {
            check_sample(dirs[i]->d_name, logs[j]->d_name, &failures, &checked);
            free(logs[j]);
        }
        free(logs);
        free(dirs[i]);
    }
    free(dirs);
    print_message("%d samples of %d runners checked\n", checked, runners);
    assert_int_equal(failures, 0);
    assert_true(checked >= 30);
}

/* Every sample split at every possible place inside lines must not crash and
 * a line fed in one piece gives the same as the whole file (sanity of the
 * line handling used by the host, which may cut long lines). */
static void test_ansi_strip(void **unused)
{
    (void)unused;
    ls_buf out = LS_BUF_INIT;
    {
        const char *c = "\x1b[1m\x1b[32mPASSED\x1b[0m ok\r";
        tr_ansi_strip(c, strlen(c), &out);
    }
    assert_string_equal(out.data, "PASSED ok");
    tr_ansi_strip("50%\r100% done", 13, &out);
    assert_string_equal(out.data, "100% done");
    {
        const char *c = "\x1b]8;;http://x\x07link\x1b]8;;\x1b\\";
        tr_ansi_strip(c, strlen(c), &out);
    }
    assert_string_equal(out.data, "link");
    tr_ansi_strip("cut\x1b[", 5, &out);
    assert_string_equal(out.data, "cut");
    ls_buf_free(&out);
}

static void test_json_escapes_and_limits(void **unused)
{
    (void)unused;
    tr_run r;
    memset(&r, 0, sizeof(r));
    tr_run_reset(&r, "pytest");
    r.failed = 200;
    for (int i = 0; i < 200; i++) {
        tr_failure *f = tr_run_add_failure(&r, "t\"\x01\xff", 4);
        if (i >= TR_DEFAULT_MAX_FAILURES)
            assert_null(f);
        for (int k = 0; f && k < 100; k++)
            tr_failure_add_line(f, "line\tx", 6);
    }
    assert_int_equal(r.n_failures, TR_DEFAULT_MAX_FAILURES);
    assert_int_equal(r.failures[0]->message_lines, TR_MAX_MESSAGE_LINES);
    ls_buf out = LS_BUF_INIT;
    tr_run_json(&r, 3, &out);
    assert_non_null(strstr(out.data, "{\"step\":3,\"framework\":\"pytest\",\"passed\":0,"
                                     "\"failed\":200,\"skipped\":0,\"total\":200,"
                                     "\"duration_ms\":null,\"partial\":false,"
                                     "\"failures\":[{\"name\":\"t\\\"\\u0001\xEF\xBF\xBD\","
                                     "\"message\":\"line\\tx\\nline\\tx"));
    ls_buf_free(&out);
    tr_run_clear(&r);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* max_failures (the plugin's setting): a run lists exactly that many failed
 * tests and still counts them all; it survives reset and clear. */
static void test_max_failures_setting(void **unused)
{
    (void)unused;
    tr_run r;
    memset(&r, 0, sizeof(r));
    r.max_failures = 3;
    tr_run_reset(&r, "pytest");
    for (int i = 0; i < 3; i++)
        assert_non_null(tr_run_add_failure(&r, "t", 1));
    assert_null(tr_run_add_failure(&r, "t", 1));
    tr_run_clear(&r);
    assert_int_equal(r.max_failures, 3);
    for (int i = 0; i < 3; i++)
        assert_non_null(tr_run_add_failure(&r, "t", 1));
    assert_null(tr_run_add_failure(&r, "t", 1));
    tr_run_clear(&r);

    /* through a stream: the sink's value reaches the parser's run */
    char path[8192];
    snprintf(path, sizeof(path), "%s/gotest/fail-verbose.log", data_dir);
    size_t len = 0;
    char *text = read_file(path, &len);
    assert_non_null(text);
    size_t listed[2];
    char *json[2];
    for (int k = 0; k < 2; k++) {
        ls_buf out = LS_BUF_INIT;
        tr_sink sink = {.emit = emit, .ud = &out, .max_failures = k == 0 ? 1000 : 2};
        tr_stream *s = tr_stream_new(&sink);
        for (char *line = text, *nl; line < text + len; line = nl + 1) {
            nl = memchr(line, '\n', (size_t)(text + len - line));
            if (!nl)
                nl = text + len;
            tr_stream_line(s, line, (size_t)(nl - line));
        }
        tr_stream_end(s);
        tr_stream_free(s);
        assert_non_null(out.data);
        listed[k] = count_of(out.data, "{\"name\":");
        json[k] = out.data;
    }
    assert_true(listed[0] > 2);
    assert_int_equal(listed[1], 2);
    const char *f0 = strstr(json[0], "\"failed\":"), *f1 = strstr(json[1], "\"failed\":");
    assert_non_null(f0);
    assert_non_null(f1);
    assert_int_equal(atoi(f0 + 9), atoi(f1 + 9)); /* every failure counted */
    free(json[0]);
    free(json[1]);
    free(text);
}

/* A runner's output spread over two steps' streams gives nothing in either
 * (no half runs), and a log without tests gives nothing. */
static void test_nothing_without_tests(void **unused)
{
    (void)unused;
    ls_buf out = LS_BUF_INIT;
    tr_sink sink = {.emit = emit, .ud = &out};
    tr_stream *s = tr_stream_new(&sink);
    const char *lines[] = {
        "make: Nothing to be done", "ok",    "not", "1..", "=== RUN", "Ran 3 tests",
        "test result: ok.",         "=====", ""};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        tr_stream_line(s, lines[i], strlen(lines[i]));
    tr_stream_end(s);
    tr_stream_free(s);
    assert_null(out.data);
}

int main(void)
{
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    snprintf(data_dir, sizeof(data_dir), "%.*s/../data/test-results",
             (int)(slash ? slash - file : 1), slash ? file : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_match_baselines),
        cmocka_unit_test(test_ansi_strip),
        cmocka_unit_test(test_json_escapes_and_limits),
        cmocka_unit_test(test_nothing_without_tests),
        cmocka_unit_test(test_max_failures_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
