/* links: plugins pluginhost common */
/* The forward plugin: its wire formats (Loki push JSON, NDJSON, RFC 5424
 * syslog with octet counting and datagram cuts) checked field by field, and
 * the plugin run by the real host (in-process) writing to a file, with tiny
 * batches and buffer, and refusing bad settings. The network targets are
 * tested against real loopback receivers in tests/integration/test_forward.py. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "plugins/forward/encode.h"
#include "plugins/forward/forward.h"
#include "plugins/forward/json_text.h"
#include "pluginhost/pluginhost.h"

static const char *const ids[] = {"1", "2"};
static const char *const names[] = {"build", "unit \"tests\""};
static const char *const keys[] = {"team"};
static const char *const values[] = {"shop]"};

static ls_fw_labels labels(void)
{
    return (ls_fw_labels){.build = "42",
                          .step_ids = ids,
                          .step_names = names,
                          .extra_keys = keys,
                          .extra_values = values,
                          .n_extra = 1};
}

static const ls_fw_record recs[] = {
    {.text = "a", .len = 1, .step = 0, .seq = 1, .ts_ns = 1700000000123456789},
    {.text = "b\"\\", .len = 3, .step = 0, .seq = 2, .ts_ns = 1700000000123456790},
    {.text = "\xff z", .len = 3, .step = 1, .seq = 1, .ts_ns = 1700000000123456791},
    {.text = "", .len = 0, .step = 0, .seq = 3, .ts_ns = 1700000000123456792},
};
#define NRECS (sizeof(recs) / sizeof(recs[0]))

static void test_loki_streams(void **state)
{
    ls_fw_labels l = labels();
    ls_buf out = LS_BUF_INIT;
    ls_fw_encode_loki(&l, recs, NRECS, &out);
    json_error_t err;
    json_t *o = json_loadb(out.data, out.len, 0, &err);
    assert_non_null(o);
    json_t *streams = json_object_get(o, "streams");
    /* consecutive lines of a step share a stream: steps 1, 2, 1 */
    assert_int_equal(json_array_size(streams), 3);
    json_t *s0 = json_array_get(streams, 0);
    json_t *lab = json_object_get(s0, "stream");
    assert_string_equal(json_string_value(json_object_get(lab, "job")), "logstream");
    assert_string_equal(json_string_value(json_object_get(lab, "build")), "42");
    assert_string_equal(json_string_value(json_object_get(lab, "step")), "1");
    assert_string_equal(json_string_value(json_object_get(lab, "step_name")), "build");
    assert_string_equal(json_string_value(json_object_get(lab, "team")), "shop]");
    json_t *v = json_object_get(s0, "values");
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(json_string_value(json_array_get(json_array_get(v, 0), 0)),
                        "1700000000123456789");
    assert_string_equal(json_string_value(json_array_get(json_array_get(v, 1), 1)), "b\"\\");
    json_t *s1 = json_array_get(streams, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(s1, "stream"), "step_name")),
        "unit \"tests\"");
    /* an invalid byte becomes U+FFFD: the body stays valid JSON */
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(json_object_get(s1, "values"), 0), 1)),
        "\xEF\xBF\xBD z");
    json_decref(o);
    ls_buf_free(&out);
}

static void test_ndjson_lines(void **state)
{
    ls_fw_labels l = labels();
    ls_buf out = LS_BUF_INIT;
    ls_fw_encode_ndjson(&l, recs, NRECS, &out);
    assert_string_equal(
        strtok(out.data, "\n"),
        "{\"ts\":\"2023-11-14T22:13:20.123456789Z\",\"ts_ns\":1700000000123456789,"
        "\"build\":\"42\",\"step\":\"1\",\"step_name\":\"build\",\"seq\":1,\"line\":\"a\","
        "\"labels\":{\"team\":\"shop]\"}}");
    int n = 1;
    char *line;
    while ((line = strtok(NULL, "\n"))) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        assert_non_null(o);
        json_decref(o);
        n++;
    }
    assert_int_equal(n, (int)NRECS);
    ls_buf_free(&out);
}

static void test_syslog_rfc5424(void **state)
{
    ls_fw_labels l = labels();
    ls_fw_syslog_opts o = {
        .facility = 16, .hostname = "ci-1", .app_name = "logstream", .octet_counting = true};
    ls_buf out = LS_BUF_INIT;
    size_t cut = ls_fw_encode_syslog(&l, &o, recs, 2, &out, NULL);
    assert_int_equal(cut, 0);
    const char *m1 = "<134>1 2023-11-14T22:13:20.123456Z ci-1 logstream - - [logstream@32473 "
                     "build=\"42\" step=\"1\" step_name=\"build\" seq=\"1\" team=\"shop\\]\"] a";
    char expect[1024];
    snprintf(expect, sizeof(expect), "%zu %s", strlen(m1), m1);
    assert_memory_equal(out.data, expect, strlen(expect));
    /* the second frame follows at once, its SD values escaped */
    const char *second = out.data + strlen(expect);
    char *sp = strchr(second, ' ');
    assert_non_null(sp);
    assert_int_equal((size_t)atoi(second), strlen(sp + 1));
    assert_non_null(strstr(sp + 1, "seq=\"2\" team=\"shop\\]\"] b\"\\"));
    ls_buf_free(&out);

    /* datagrams: no framing, ends reported, long ones cut */
    ls_fw_syslog_opts u = {.facility = 1, .hostname = "", .app_name = "x", .max_message = 480};
    char big[2000];
    memset(big, 'y', sizeof(big));
    ls_fw_record r2[2] = {recs[0], {.text = big, .len = sizeof(big), .step = 1, .seq = 9}};
    size_t ends[2];
    cut = ls_fw_encode_syslog(&l, &u, r2, 2, &out, ends);
    assert_int_equal(cut, 1);
    assert_int_equal(ends[1] - ends[0], 480);
    assert_memory_equal(out.data, "<14>1 2023-11-14T22:13:20.123456Z - x - - [", 43);
    ls_buf_free(&out);
}

static void test_time_and_utf8_cut(void **state)
{
    char ts[64];
    ls_fw_format_time(0, 3, ts, sizeof(ts));
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    ls_fw_format_time(1700000000999999999, 6, ts, sizeof(ts));
    assert_string_equal(ts, "2023-11-14T22:13:20.999999Z");
    const char *s = "ab\xE6\x97\xA5"; /* "ab日" */
    assert_int_equal(ls_plugin_utf8_cut(s, 5, 4), 2);
    assert_int_equal(ls_plugin_utf8_cut(s, 5, 5), 5);
    assert_int_equal(ls_plugin_utf8_cut(s, 5, 2), 2);
}

/* ---- the plugin in the real host ---- */

typedef struct run_result {
    char *out;
    ls_pluginhost_summary sum;
} run_result;

static char *slurp_fd(int fd)
{
    ls_buf b = LS_BUF_INIT;
    char tmp[4096];
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        ls_buf_append(&b, tmp, (size_t)n);
    return b.data ? ls_buf_steal(&b) : strdup("");
}

static run_result run(const char *input)
{
    char in_path[] = "/tmp/test_forward_in_XXXXXX", out_path[] = "/tmp/test_forward_out_XXXXXX";
    int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path);
    unlink(in_path);
    unlink(out_path);
    assert_int_equal(write(in_fd, input, strlen(input)), (ssize_t)strlen(input));
    lseek(in_fd, 0, SEEK_SET);
    ls_pluginhost_options o;
    ls_pluginhost_options_default(&o);
    o.out_fd = out_fd;
    o.diag_fd = open("/dev/null", O_WRONLY);
    ls_pluginhost *h = NULL;
    char err[256];
    assert_int_equal(ls_pluginhost_new(&o, &h), 0);
    assert_int_equal(ls_pluginhost_add(h, &ls_plugin_forward, NULL, err, sizeof(err)), 0);
    run_result r;
    assert_int_equal(ls_pluginhost_run(h, in_fd, &r.sum), 0);
    ls_pluginhost_free(h);
    r.out = slurp_fd(out_fd);
    close(in_fd);
    close(out_fd);
    close(o.diag_fd);
    return r;
}

static void test_file_target_small_batches(void **state)
{
    char path[] = "/tmp/test_forward_file_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ls_buf in = LS_BUF_INIT;
    ls_buf_printf(&in,
                  "{\"build_id\":9,\"finish_nonce\":\"f\",\"steps\":[{\"id\":\"1\",\"name\":"
                  "\"build\"},{\"id\":\"2\",\"name\":\"test\"}],\"plugins\":{\"forward\":"
                  "{\"settings\":{\"target\":\"file\",\"path\":\"%s\",\"batch_lines\":7,"
                  "\"max_buffer\":\"1KiB\",\"batch_wait\":\"5ms\",\"replace_log\":true}}}}\n",
                  path);
    int n = 2000;
    for (int i = 0; i < n; i++)
        ls_buf_printf(&in, "%d:line %d\n", 1 + i % 2, i);
    ls_buf_puts(&in, "##[logplugin.finish]f\n");
    run_result r = run(in.data);
    assert_int_equal(r.sum.plugins_failed, 0);
    assert_non_null(strstr(r.out, "[forward] logs for step 1 (build) were forwarded to file at"));
    assert_non_null(strstr(r.out, ": 1000 lines\n"));
    assert_non_null(strstr(r.out, "[forward] 2000 lines forwarded to file at"));

    /* every line once, in order, each step numbered 1, 2, ... */
    FILE *f = fopen(path, "r");
    char line[512];
    int i = 0;
    long long seq[2] = {0, 0};
    long long last_ts = 0;
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        assert_non_null(o);
        char want[32];
        snprintf(want, sizeof(want), "line %d", i);
        assert_string_equal(json_string_value(json_object_get(o, "line")), want);
        int step = atoi(json_string_value(json_object_get(o, "step")));
        assert_int_equal(step, 1 + i % 2);
        assert_int_equal(json_integer_value(json_object_get(o, "seq")), ++seq[step - 1]);
        long long ts = json_integer_value(json_object_get(o, "ts_ns"));
        assert_true(ts > last_ts);
        last_ts = ts;
        json_decref(o);
        i++;
    }
    fclose(f);
    assert_int_equal(i, n);
    unlink(path);
    free(r.out);
    ls_buf_free(&in);
}

static void test_settings(void **state)
{
    /* no target: declines, says nothing to the user */
    run_result r = run("{\"finish_nonce\":\"f\",\"steps\":[{\"id\":\"1\"}],"
                       "\"plugins\":{\"forward\":true}}\n1:x\n##[logplugin.finish]f\n");
    assert_int_equal(r.sum.plugins_failed, 0);
    assert_string_equal(r.out, "");
    free(r.out);
    /* wrong values fail the plugin with a clear message */
    r = run("{\"finish_nonce\":\"f\",\"steps\":[{\"id\":\"1\"}],\"plugins\":{\"forward\":"
            "{\"settings\":{\"target\":\"syslog\",\"address\":\"nohost\"}}}}\n"
            "1:x\n##[logplugin.finish]f\n");
    assert_int_equal(r.sum.plugins_failed, 1);
    assert_non_null(strstr(r.out, "[forward] target syslog needs an \"address\" setting"));
    free(r.out);
    r = run("{\"finish_nonce\":\"f\",\"steps\":[{\"id\":\"1\"}],\"plugins\":{\"forward\":"
            "{\"settings\":{\"target\":\"http\",\"url\":\"http://127.0.0.1:9\",\"max_buffer\":"
            "\"lots\"}}}}\n1:x\n##[logplugin.finish]f\n");
    assert_int_equal(r.sum.plugins_failed, 1);
    assert_non_null(strstr(r.out, "setting \"max_buffer\" must be a size"));
    free(r.out);
}

/* What the worker asks before a step: is its log replaced, and by what. */
static void test_replaced_log_for_the_worker(void **state)
{
    (void)state;
    char *where = NULL;
    assert_int_equal(ls_forward_replaced_log("{\"target\":\"http\",\"url\":\"http://u:p@h:1/in\","
                                             "\"replace_log\":true}",
                                             "build", &where),
                     1);
    assert_string_equal(where, "HTTP endpoint at http://h:1/in"); /* no credentials */
    free(where);
    where = NULL;
    const char *list = "{\"target\":\"file\",\"path\":\"/x/y\",\"replace_log\":[\"a\",\"c\"]}";
    assert_int_equal(ls_forward_replaced_log(list, "c", &where), 1);
    assert_string_equal(where, "file at /x/y");
    free(where);
    where = NULL;
    assert_int_equal(ls_forward_replaced_log(list, "b", &where), 0);
    /* off, no target, wrong settings (the plugin will refuse them): not replaced */
    assert_int_equal(ls_forward_replaced_log("{\"target\":\"file\",\"path\":\"/x\"}", "a", &where),
                     0);
    assert_int_equal(ls_forward_replaced_log("{\"replace_log\":true}", "a", &where), 0);
    assert_int_equal(
        ls_forward_replaced_log("{\"target\":\"loki\",\"replace_log\":true}", "a", &where), 0);
    assert_int_equal(ls_forward_replaced_log("{\"target\":\"file\",\"path\":\"/x\","
                                             "\"replace_log\":\"yes\"}",
                                             "a", &where),
                     0);
    assert_int_equal(ls_forward_replaced_log("{\"target\":\"file\",\"path\":\"/x\","
                                             "\"batch_lines\":0,\"replace_log\":true}",
                                             "a", &where),
                     0);
    assert_int_equal(ls_forward_replaced_log("not json", "a", &where), 0);
    assert_null(where);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loki_streams),
        cmocka_unit_test(test_ndjson_lines),
        cmocka_unit_test(test_syslog_rfc5424),
        cmocka_unit_test(test_time_and_utf8_cut),
        cmocka_unit_test(test_file_target_small_batches),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_replaced_log_for_the_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
