/* links: plugins pluginhost server store common */
/* The tool-usage plugin: its recognizer against the sample logs of
 * tests/data/tool-usage (each LOG compared exactly with LOG's baseline,
 * NAME.expected: the events the plugin publishes, one JSON object a line),
 * the counting rule case by case, and the plugin end to end through the real
 * host publishing to a real server (in-process, loopback), whose GET
 * .../tool-usage and /metrics must show the events.
 *
 * LS_UPDATE_BASELINES=1 rewrites the .expected files from what the
 * recognizer emits (review the diff before committing it). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <curl/curl.h>
#include <jansson.h>

#include "common/buf.h"
#include "plugins/tool_usage/recognizer.h"
#include "plugins/tool_usage/tool_usage.h"
#include "pluginhost/pluginhost.h"
#include "server/auth.h"
#include "server/server.h"
#include "server/srv.h"
#include "store/store.h"
#include "store/store_tools.h"

/* ---- feeding the recognizer ---- */

typedef struct collected {
    ls_buf json; /* one event a line */
    size_t n;
} collected;

static void collect(void *userdata, const ls_tu_event *ev)
{
    collected *c = userdata;
    ls_tu_event_json(ev, (long long)ev->step + 1, &c->json);
    ls_buf_putc(&c->json, '\n');
    c->n++;
}

/* Feeds text (lines separated by '\n') as step 0, then finishes. */
static void feed(collected *c, const char *text, size_t len)
{
    ls_tu *t = ls_tu_new(1, collect, c);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        ls_tu_line(t, 0, p, n);
        p += n + (nl ? 1 : 0);
    }
    ls_tu_finish(t);
    ls_tu_free(t);
}

static char *events_of(const char *text, size_t *ret_n)
{
    collected c = {LS_BUF_INIT, 0};
    feed(&c, text, strlen(text));
    *ret_n = c.n;
    return c.json.data ? ls_buf_steal(&c.json) : strdup("");
}

static char *slurp(const char *path, size_t *ret_len)
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

static void data_dir(char *out, size_t size)
{
    /* __FILE__ is tests/unit/test_tool_usage.c (absolute in CMake builds) */
    snprintf(out, size, "%s", __FILE__);
    char *slash = strrchr(out, '/');
    *slash = '\0';
    slash = strrchr(out, '/');
    *slash = '\0';
    size_t len = strlen(out);
    snprintf(out + len, size - len, "/data/tool-usage");
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_log(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".log") == 0;
}

/* Every sample log gives exactly its baseline. */
static void test_baselines(void **state)
{
    char dir[4096];
    data_dir(dir, sizeof(dir));
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_log, by_name);
    assert_true(n >= 20); /* the samples are there */
    bool update = getenv("LS_UPDATE_BASELINES") != NULL;
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char path[4400], exp_path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        snprintf(exp_path, sizeof(exp_path), "%.*s.expected", (int)(strlen(path) - 4), path);
        size_t len = 0, exp_len = 0;
        char *log = slurp(path, &len);
        assert_non_null(log);
        collected c = {LS_BUF_INIT, 0};
        feed(&c, log, len);
        const char *got = c.json.data ? c.json.data : "";
        if (update) {
            FILE *f = fopen(exp_path, "wb");
            assert_non_null(f);
            fputs(got, f);
            fclose(f);
        }
        char *expected = slurp(exp_path, &exp_len);
        if (!expected || strcmp(expected, got) != 0) {
            fprintf(stderr, "%s: events differ from %s\n--- expected\n%s--- got\n%s",
                    names[i]->d_name, exp_path, expected ? expected : "(missing)\n", got);
            failures++;
        }
        free(expected);
        free(log);
        ls_buf_free(&c.json);
        free(names[i]);
    }
    free(names);
    assert_int_equal(failures, 0);
}

/* Rule 1 + 2: the echoed command and the tool's start line are one event. */
static void test_echo_and_output_count_once(void **state)
{
    size_t n;
    char *j = events_of("$ docker push reg/app:1.2\n"
                        "The push refers to repository [reg/app]\n"
                        "1.2: digest: sha256:abc size: 1\n",
                        &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(j, "\"target\":\"reg/app:1.2\""));
    assert_non_null(strstr(j, "\"outcome\":\"succeeded\",\"source\":\"command\""));
    free(j);
    /* the same output without the echo: one event, from the output */
    j = events_of("The push refers to repository [reg/app]\n1.2: digest: sha256:abc size: 1\n", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(j, "\"target\":\"reg/app:1.2\""));
    assert_non_null(strstr(j, "\"source\":\"output\""));
    free(j);
    /* the command alone: one event, outcome unknown */
    j = events_of("$ npm publish --tag next\nsomething else\n", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(j, "\"tool\":\"npm\",\"action\":\"publish\""));
    assert_non_null(strstr(j, "\"outcome\":\"unknown\""));
    free(j);
}

/* A second start line of the same tool is a second artifact: two events. */
static void test_second_start_line_is_a_new_event(void **state)
{
    size_t n;
    char *j = events_of("$ dotnet nuget push *.nupkg\n"
                        "Pushing A.1.0.0.nupkg to 'https://x/api/v2/package'...\n"
                        "Your package was pushed.\n"
                        "Pushing B.1.0.0.nupkg to 'https://x/api/v2/package'...\n"
                        "Your package was pushed.\n",
                        &n);
    assert_int_equal(n, 2);
    assert_non_null(strstr(j, "\"target\":\"A.1.0.0.nupkg\""));
    assert_non_null(strstr(j, "\"target\":\"B.1.0.0.nupkg\""));
    free(j);
}

/* Two tools in one command line, each counted once; a non-tool echo closes. */
static void test_chained_commands(void **state)
{
    size_t n;
    char *j = events_of("$ cargo publish -p a && FOO=1 sudo -u ci docker push r/a:1 ; make\n"
                        "$ echo next\n",
                        &n);
    assert_int_equal(n, 2);
    assert_non_null(strstr(j, "\"tool\":\"cargo\""));
    assert_non_null(strstr(j, "\"target\":\"r/a:1\""));
    free(j);
    /* quotes keep separators inside words */
    j = events_of("$ helm upgrade 'my;rel' ./chart --set a=\"x && y\"\n", &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(j, "\"target\":\"my;rel\""));
    free(j);
}

/* Lines of two steps interleave; each step keeps its own events. */
static void test_steps_are_separate(void **state)
{
    collected c = {LS_BUF_INIT, 0};
    ls_tu *t = ls_tu_new(2, collect, &c);
    const char *a[] = {"$ docker push r/a:1", "The push refers to repository [r/a]"};
    const char *b[] = {"$ docker push r/b:2", "The push refers to repository [r/b]"};
    ls_tu_line(t, 0, a[0], strlen(a[0]));
    ls_tu_line(t, 1, b[0], strlen(b[0]));
    ls_tu_line(t, 1, b[1], strlen(b[1]));
    ls_tu_line(t, 0, a[1], strlen(a[1]));
    ls_tu_line(t, 5, a[1], strlen(a[1])); /* no such step: ignored */
    ls_tu_finish(t);
    ls_tu_free(t);
    assert_int_equal(c.n, 2);
    assert_non_null(strstr(c.json.data, "\"step\":1,\"line\":1,\"tool\":\"docker\",\"action\":"
                                        "\"push\",\"target\":\"r/a:1\""));
    assert_non_null(strstr(c.json.data, "\"step\":2,\"line\":1,\"tool\":\"docker\",\"action\":"
                                        "\"push\",\"target\":\"r/b:2\""));
    ls_buf_free(&c.json);
}

/* Odd input: very long lines, NUL and invalid UTF-8 bytes, many open events. */
static void test_odd_input(void **state)
{
    collected c = {LS_BUF_INIT, 0};
    ls_tu *t = ls_tu_new(1, collect, &c);
    size_t big = 100000;
    char *line = malloc(big);
    memset(line, 'x', big);
    memcpy(line, "$ docker push ", 14);
    ls_tu_line(t, 0, line, big);
    const char bad[] = "$ npm publish \xff\xfe\0zz";
    ls_tu_line(t, 0, bad, sizeof(bad) - 1);
    /* found by fuzz_tool_usage: " to '" right after "Pushing" (read past the line) */
    const char nuget[] = "Pushing to 'x'";
    char *heap = malloc(sizeof(nuget) - 1);
    memcpy(heap, nuget, sizeof(nuget) - 1);
    ls_tu_line(t, 0, heap, sizeof(nuget) - 1);
    free(heap);
    for (int i = 0; i < 3 * LS_TU_MAX_OPEN; i++) {
        const char *cmd = "+ docker push r/x:1";
        ls_tu_line(t, 0, cmd, strlen(cmd));
    }
    ls_tu_finish(t);
    ls_tu_free(t);
    free(line);
    assert_int_equal(c.n, 2 + 3 * LS_TU_MAX_OPEN);
    /* every event is one valid JSON line: invalid UTF-8 became U+FFFD */
    assert_non_null(strstr(c.json.data, "\xEF\xBF\xBD\xEF\xBF\xBD"));
    assert_int_equal(strlen(c.json.data), c.json.len); /* no NUL */
    ls_buf_free(&c.json);
}

/* ---- end to end: the real host publishing to a real server ---- */

static size_t sink(char *p, size_t size, size_t n, void *userdata)
{
    ls_buf_append(userdata, p, size * n);
    return size * n;
}

static long http_get(const char *url, ls_buf *out)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void test_plugin_publishes_to_server(void **state)
{
    char dir[] = "/tmp/test_tool_usage_XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* reads are public; the plugin writes with the build's own token */
    char *argv[] = {"--listen", "127.0.0.1:0", "--data", dir, "--public-read"};
    char err[512] = "";
    ls_server *srv = NULL;
    int rc = ls_server_start(5, argv, &srv, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "server: %s\n", err);
    assert_int_equal(rc, 0);
    ls_step_info steps[2] = {0};
    snprintf(steps[0].name, sizeof(steps[0].name), "build");
    snprintf(steps[1].name, sizeof(steps[1].name), "release");
    ls_build_info b;
    assert_int_equal(ls_store_create_build(srv->store, "tools", steps, 2, &b), 0);
    char token[LS_TOKEN_BUF];
    assert_int_equal(ls_auth_issue(srv, LS_SCOPE_BUILD, "tool-usage test", b.id, 0, token, NULL),
                     0);

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ls_server_port(srv));
    ls_buf in = LS_BUF_INIT;
    ls_buf_printf(&in,
                  "{\"build_id\":%lld,\"server\":{\"url\":\"%s\",\"token\":\"%s\"},"
                  "\"finish_nonce\":\"n1\",\"steps\":[{\"id\":\"1\",\"name\":\"build\"},"
                  "{\"id\":\"2\",\"name\":\"release\"}],\"plugins\":{\"tool-usage\":true}}\n",
                  (long long)b.id, url, token);
    ls_buf_puts(&in, "1:$ make\n1:ok\n"
                     "2:$ docker push reg/app:1.2\n"
                     "2:The push refers to repository [reg/app]\n"
                     "2:1.2: digest: sha256:abc size: 12\n"
                     "2:$ npm publish --dry-run\n"
                     "2:npm notice Publishing to https://registry.npmjs.org/ with tag latest "
                     "and default access (dry-run)\n"
                     "2:+ pkg@1.0.0\n"
                     "2:$ kubectl apply -f k8s/\n"
                     "2:deployment.apps/web configured\n"
                     "##[logplugin.finish]n1\n");
    char in_path[128], out_path[128];
    snprintf(in_path, sizeof(in_path), "%s/in", dir);
    snprintf(out_path, sizeof(out_path), "%s/out", dir);
    FILE *f = fopen(in_path, "wb");
    fwrite(in.data, 1, in.len, f);
    fclose(f);
    int in_fd = open(in_path, O_RDONLY);
    int out_fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int diag_fd = open("/dev/null", O_WRONLY);
    ls_pluginhost_options o;
    ls_pluginhost_options_default(&o);
    o.out_fd = out_fd;
    o.diag_fd = diag_fd;
    ls_pluginhost *h = NULL;
    assert_int_equal(ls_pluginhost_new(&o, &h), 0);
    assert_int_equal(ls_pluginhost_add(h, &ls_plugin_tool_usage, NULL, err, sizeof(err)), 0);
    ls_pluginhost_summary sum;
    assert_int_equal(ls_pluginhost_run(h, in_fd, &sum), 0);
    ls_pluginhost_free(h);
    assert_int_equal(sum.plugins_failed, 0);

    /* the user saw each event live and a summary */
    size_t out_len;
    char *out = slurp(out_path, &out_len);
    assert_non_null(strstr(out, "[tool-usage] docker push reg/app:1.2 (step release: succeeded)"));
    assert_non_null(strstr(out, "[tool-usage] npm publish pkg@1.0.0 (step release: succeeded, "
                                "dry run)"));
    assert_non_null(strstr(out, "[tool-usage] 3 publish/deploy events: 1 docker push, "
                                "1 npm publish, 1 kubectl apply"));
    free(out);

    /* the server lists them, in order, with their step numbers */
    ls_buf body = LS_BUF_INIT;
    char get[256];
    snprintf(get, sizeof(get), "%s/api/v1/builds/%lld/tool-usage", url, (long long)b.id);
    assert_int_equal(http_get(get, &body), 200);
    const char *d = strstr(body.data, "\"tool\":\"docker\"");
    const char *np = strstr(body.data, "\"tool\":\"npm\"");
    const char *k = strstr(body.data, "\"tool\":\"kubectl\"");
    assert_true(d && np && k && d < np && np < k);
    assert_non_null(strstr(body.data, "\"step\":2"));
    ls_buf_free(&body);

    /* /metrics counts the real ones, not the dry run */
    snprintf(get, sizeof(get), "%s/metrics", url);
    assert_int_equal(http_get(get, &body), 200);
    assert_non_null(
        strstr(body.data, "logstream_tool_usage_total{tool=\"docker\",action=\"push\"} 1\n"));
    assert_non_null(
        strstr(body.data, "logstream_tool_usage_total{tool=\"kubectl\",action=\"apply\"} 1\n"));
    assert_null(strstr(body.data, "tool=\"npm\""));
    ls_buf_free(&body);

    /* a resent event (same seq) is not stored or counted twice */
    ls_tool_event ev = {.build_id = b.id, .step = 2, .seq = 1};
    snprintf(ev.tool, sizeof(ev.tool), "docker");
    snprintf(ev.action, sizeof(ev.action), "push");
    snprintf(ev.outcome, sizeof(ev.outcome), "unknown");
    snprintf(ev.source, sizeof(ev.source), "command");
    bool added = true;
    assert_int_equal(ls_store_add_tool_events(srv->store, &ev, 1, &added), 0);
    assert_false(added);

    close(in_fd);
    close(out_fd);
    close(diag_fd);
    ls_buf_free(&in);
    ls_server_free(srv);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A context without a host: settings from a JSON object, output kept, and a
 * publish() that refuses while `down` and records the bodies it takes. */
static bool fake_down;
static int fake_posts;
static size_t fake_events[16];
static ls_buf fake_out = LS_BUF_INIT;
static json_t *fake_settings;

static void fake_trace(const ls_plugin_context *c, const char *fmt, ...) {}

static void fake_output(const ls_plugin_context *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ls_buf_vprintf(&fake_out, fmt, ap);
    va_end(ap);
    ls_buf_putc(&fake_out, '\n');
}

static const char *fake_setting(const ls_plugin_context *c, const char *key)
{
    return json_string_value(json_object_get(fake_settings, key));
}

static int fake_publish(const ls_plugin_context *c, const char *path, const char *body,
                        long *ret_status)
{
    if (fake_down) {
        *ret_status = 0;
        return -ECONNREFUSED;
    }
    json_t *j = json_loads(body, 0, NULL);
    if (fake_posts < 16)
        fake_events[fake_posts] = json_array_size(json_object_get(j, "events"));
    fake_posts++;
    json_decref(j);
    *ret_status = 201;
    return 0;
}

/* Events kept while the server is down go out at most max_per_post a request. */
static void test_pending_events_are_sent_in_chunks(void **state)
{
    (void)state;
    fake_settings =
        json_pack("{s:s, s:s, s:s}", "max_per_post", "2", "retry_min", "1h", "retry_max", "2h");
    ls_plugin_step steps[1] = {{"1", "release", 0}};
    ls_plugin_context ctx = {.abi_version = LS_PLUGIN_ABI_VERSION,
                             .size = sizeof(ls_plugin_context),
                             .plugin_name = "tool-usage",
                             .build_id = "7",
                             .server_url = "http://127.0.0.1:9",
                             .token = "t",
                             .temp_dir = "",
                             .steps = steps,
                             .n_steps = 1,
                             .settings_json = "{}",
                             .trace = fake_trace,
                             .output = fake_output,
                             .setting = fake_setting,
                             .publish = fake_publish};
    void *st = NULL;
    assert_int_equal(ls_plugin_tool_usage.init(&ctx, &st), LS_PLUGIN_RUN);
    fake_down = true;
    const char *lines[] = {"$ docker push reg/a:1",
                           "1: digest: sha256:a size: 1",
                           "$ docker push reg/b:1",
                           "1: digest: sha256:b size: 1",
                           "$ docker push reg/c:1",
                           "1: digest: sha256:c size: 1",
                           "$ make"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        assert_int_equal(
            ls_plugin_tool_usage.process_line(&ctx, st, &steps[0], lines[i], strlen(lines[i])), 0);
    assert_int_equal(fake_posts, 0);
    fake_down = false;
    assert_int_equal(ls_plugin_tool_usage.finalize(&ctx, st), 0);
    ls_plugin_tool_usage.destroy(st);
    assert_int_equal(fake_posts, 2);
    assert_int_equal(fake_events[0], 2);
    assert_int_equal(fake_events[1], 1);
    assert_non_null(strstr(fake_out.data, "3 publish/deploy events: 3 docker push"));
    assert_null(strstr(fake_out.data, "could not be sent"));
    /* a wrong setting is said and the default used */
    json_decref(fake_settings);
    fake_settings = json_pack("{s:s}", "max_per_post", "many");
    assert_int_equal(ls_plugin_tool_usage.init(&ctx, &st), LS_PLUGIN_RUN);
    ls_plugin_tool_usage.destroy(st);
    assert_non_null(strstr(fake_out.data, "setting \"max_per_post\" must be a number from 1 to "
                                          "1000000, not \"many\"; using 1000"));
    json_decref(fake_settings);
    ls_buf_free(&fake_out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baselines),
        cmocka_unit_test(test_echo_and_output_count_once),
        cmocka_unit_test(test_second_start_line_is_a_new_event),
        cmocka_unit_test(test_chained_commands),
        cmocka_unit_test(test_steps_are_separate),
        cmocka_unit_test(test_odd_input),
        cmocka_unit_test(test_plugin_publishes_to_server),
        cmocka_unit_test(test_pending_events_are_sent_in_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
