/* links: plugins pluginhost common worker */
/* Host L0 tests with tiny thresholds: the protocol, the circuit breaker, the
 * finalize timeout, the ABI check and the resave sample plugin. (worker is
 * linked only for libcurl, which the publish helper uses.) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/timeutil.h"
#include "logstream/plugin.h"
#include "pluginhost/job.h"
#include "pluginhost/loader.h"
#include "pluginhost/pluginhost.h"
#include "plugins/builtin.h"

/* ---- a gate a test plugin can block on until the test opens it ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int destroyed; /* destroy calls of gated plugins */

static void gate_reset(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = false;
    destroyed = 0;
    pthread_mutex_unlock(&gate_lock);
}

static void gate_wait(void)
{
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static void gated_destroy(void *state)
{
    pthread_mutex_lock(&gate_lock);
    destroyed++;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Opens the gate and waits (up to 5 s) for n gated plugins to be destroyed,
 * so no plugin thread outlives its test. */
static void release_and_wait_destroyed(int n)
{
    gate_release();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    pthread_mutex_lock(&gate_lock);
    while (destroyed < n)
        if (pthread_cond_timedwait(&gate_cond, &gate_lock, &ts) == ETIMEDOUT)
            break;
    int d = destroyed;
    pthread_mutex_unlock(&gate_lock);
    assert_int_equal(d, n);
}

/* ---- test plugins ---- */

/* counter: records what it sees. */
typedef struct counter_stats {
    int inits, finalizes, destroys;
    uint64_t lines, bytes;
    uint64_t per_step[4];
    ls_buf text; /* "STEP|TEXT\n" for every line */
    bool keep_text;
    char setting[64];
    char variable[64];
} counter_stats;

static counter_stats cs;

/* The counter's progress, for writers that pace themselves on it. */
static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t progress_cond = PTHREAD_COND_INITIALIZER;
static uint64_t progress_lines;

static void progress_add(void)
{
    pthread_mutex_lock(&progress_lock);
    progress_lines++;
    pthread_cond_broadcast(&progress_cond);
    pthread_mutex_unlock(&progress_lock);
}

/* Waits (up to 10 s) until the counter has seen n lines. */
static void progress_wait(uint64_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&progress_lock);
    while (progress_lines < n)
        if (pthread_cond_timedwait(&progress_cond, &progress_lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&progress_lock);
}

static int counter_init(const ls_plugin_context *ctx, void **ret_state)
{
    cs.inits++;
    const char *s = ctx->setting(ctx, "greeting");
    const char *v = ctx->variable(ctx, "BUILD_REASON");
    snprintf(cs.setting, sizeof(cs.setting), "%s", s ? s : "(none)");
    snprintf(cs.variable, sizeof(cs.variable), "%s", v ? v : "(none)");
    *ret_state = &cs;
    return LS_PLUGIN_RUN;
}

static int counter_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                        const char *line, size_t len)
{
    counter_stats *c = state;
    c->lines++;
    c->bytes += len;
    progress_add();
    if (step->index < 4)
        c->per_step[step->index]++;
    if (line[len] != '\0')
        return -EINVAL; /* the ABI promises a NUL after the text */
    if (c->keep_text) {
        ls_buf_printf(&c->text, "%s|", step->id);
        ls_buf_append(&c->text, line, len);
        ls_buf_putc(&c->text, '\n');
    }
    return 0;
}

static int counter_finalize(const ls_plugin_context *ctx, void *state)
{
    counter_stats *c = state;
    c->finalizes++;
    ctx->output(ctx, "%llu lines\nsecond line", (unsigned long long)c->lines);
    return 0;
}

static void counter_destroy(void *state)
{
    ((counter_stats *)state)->destroys++;
}

static const ls_plugin_v1 counter_plugin = {
    LS_PLUGIN_ABI_VERSION, "counter",        "counts",        counter_init,
    counter_line,          counter_finalize, counter_destroy,
};

static void counter_reset(void)
{
    ls_buf_free(&cs.text);
    memset(&cs, 0, sizeof(cs));
    pthread_mutex_lock(&progress_lock);
    progress_lines = 0;
    pthread_mutex_unlock(&progress_lock);
}

/* stuck: blocks in its first process_line until the gate opens. */
static int stuck_finalizes;

static int plain_init(const ls_plugin_context *ctx, void **ret_state)
{
    *ret_state = NULL;
    return LS_PLUGIN_RUN;
}

static int stuck_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                      const char *line, size_t len)
{
    gate_wait();
    return 0;
}

static int stuck_finalize(const ls_plugin_context *ctx, void *state)
{
    stuck_finalizes++;
    return 0;
}

static const ls_plugin_v1 stuck_plugin = {
    LS_PLUGIN_ABI_VERSION, "stuck", NULL, plain_init, stuck_line, stuck_finalize, gated_destroy,
};

/* slow: sleeps per line while `slow_mode` is set. */
static atomic_bool slow_mode;
static atomic_uint_fast64_t slow_lines;

static int slow_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                     const char *line, size_t len)
{
    if (atomic_load(&slow_mode)) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&slow_lines, 1);
    return 0;
}

static const ls_plugin_v1 slow_plugin = {
    LS_PLUGIN_ABI_VERSION, "slow", NULL, plain_init, slow_line, NULL, NULL,
};

/* failing: process_line always fails. */
static int failing_finalizes;

static int failing_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                        const char *line, size_t len)
{
    return -EIO;
}

static int failing_finalize(const ls_plugin_context *ctx, void *state)
{
    failing_finalizes++;
    return 0;
}

static const ls_plugin_v1 failing_plugin = {
    LS_PLUGIN_ABI_VERSION, "failing", NULL, plain_init, failing_line, failing_finalize, NULL,
};

/* slowfinal: finalize blocks until the gate opens. */
static int slowfinal_finalize(const ls_plugin_context *ctx, void *state)
{
    gate_wait();
    return 0;
}

static int ok_line(const ls_plugin_context *ctx, void *state, const ls_plugin_step *step,
                   const char *line, size_t len)
{
    return 0;
}

static const ls_plugin_v1 slowfinal_plugin = {
    LS_PLUGIN_ABI_VERSION, "slowfinal",   NULL, plain_init, ok_line,
    slowfinal_finalize,    gated_destroy,
};

/* decliner: nothing to do for any job. */
static int decliner_init(const ls_plugin_context *ctx, void **ret_state)
{
    return LS_PLUGIN_DECLINE;
}

static const ls_plugin_v1 decliner_plugin = {
    LS_PLUGIN_ABI_VERSION, "decliner", NULL, decliner_init, ok_line, NULL, NULL,
};

/* ---- harness ---- */

#define CONTEXT_FMT                                                                                \
    "{\"build_id\":7,\"server\":{\"url\":\"http://127.0.0.1:9/\",\"token\":\"t\"},"                \
    "\"temp_dir\":\"%s\",\"finish_nonce\":\"N0NCE\",\"variables\":{\"Build_Reason\":\"manual\"},"  \
    "\"steps\":[{\"id\":\"1\",\"name\":\"build\"},{\"id\":2,\"name\":\"unit tests\"}]%s}\n"
#define FINISH "##[logplugin.finish]N0NCE\n"

static void context(ls_buf *in, const char *temp_dir, const char *extra)
{
    ls_buf_printf(in, CONTEXT_FMT, temp_dir ? temp_dir : "", extra ? extra : "");
}

/* Writes data, then (when tail is set) waits pause_ms and writes tail. */
typedef struct writer {
    int fd;
    const ls_buf *data;
    const char *tail;
    int pause_ms;
    bool paced;     /* write 16 KiB at a time, each once the counter has seen the one before */
    double seconds; /* time to write data */
} writer;

static void write_all(int fd, const char *p, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, p + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
}

static size_t count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        k++;
    return k;
}

/* Paced writing keeps a healthy plugin from ever lagging by more than one
 * piece, however loaded the machine is: then only a stuck plugin drops. The
 * context line is not a log line, hence the -1. */
static void write_paced(int fd, const char *p, size_t len)
{
    size_t piece = 16 * 1024, lines = 0;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        if (off > 0)
            progress_wait(lines - 1);
        write_all(fd, p + off, n);
        lines += count_lines(p + off, n);
    }
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    int64_t t0 = ls_mono_ns();
    if (w->paced)
        write_paced(w->fd, w->data->data, w->data->len);
    else
        write_all(w->fd, w->data->data, w->data->len);
    w->seconds = (double)(ls_mono_ns() - t0) / 1e9;
    if (w->tail) {
        struct timespec ts = {w->pause_ms / 1000, (long)(w->pause_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        write_all(w->fd, w->tail, strlen(w->tail));
    }
    close(w->fd);
    return NULL;
}

typedef struct result {
    int rc;
    ls_pluginhost_summary s;
    char *out;
    char *diag;
    double write_seconds;
    double run_seconds;
} result;

static char *slurp_fd(int fd)
{
    ls_buf b = LS_BUF_INIT;
    lseek(fd, 0, SEEK_SET);
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        ls_buf_append(&b, tmp, (size_t)n);
    ls_buf_putc(&b, '\0');
    return ls_buf_steal(&b);
}

static int temp_fd(void)
{
    char path[] = "/tmp/test_pluginhost_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static void options(ls_pluginhost_options *o)
{
    ls_pluginhost_options_default(o);
    o->finalize_timeout_ms = 5000;
    o->breaker_window_ms = 5000;
}

static bool pace_writer; /* see write_paced */

/* Runs a host over input (then, pause_ms later, tail when not NULL) with
 * the given plugins; out and diag are captured. */
static void run_host_paused(ls_pluginhost_options *o, const ls_plugin_v1 *const *plugins, size_t n,
                            const ls_buf *in, int pause_ms, const char *tail, result *res)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    o->out_fd = temp_fd();
    o->diag_fd = temp_fd();
    ls_pluginhost *h;
    assert_int_equal(ls_pluginhost_new(o, &h), 0);
    char err[256];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ls_pluginhost_add(h, plugins[i], NULL, err, sizeof(err)), 0);
    writer w = {p[1], in, tail, pause_ms, pace_writer, 0};
    pthread_t t;
    pthread_create(&t, NULL, writer_main, &w);
    int64_t t0 = ls_mono_ns();
    res->rc = ls_pluginhost_run(h, p[0], &res->s);
    res->run_seconds = (double)(ls_mono_ns() - t0) / 1e9;
    pthread_join(t, NULL);
    res->write_seconds = w.seconds;
    ls_pluginhost_free(h);
    close(p[0]);
    res->out = slurp_fd(o->out_fd);
    res->diag = slurp_fd(o->diag_fd);
    close(o->out_fd);
    close(o->diag_fd);
}

static void run_host(ls_pluginhost_options *o, const ls_plugin_v1 *const *plugins, size_t n,
                     const ls_buf *in, result *res)
{
    run_host_paused(o, plugins, n, in, 0, NULL, res);
}

static void result_free(result *r)
{
    free(r->out);
    free(r->diag);
}

static int setup(void **state)
{
    counter_reset();
    gate_reset();
    stuck_finalizes = failing_finalizes = 0;
    atomic_store(&slow_mode, false);
    atomic_store(&slow_lines, 0);
    pace_writer = false;
    return 0;
}

/* ---- tests ---- */

static void test_context_parse(void **state)
{
    const char *text =
        "{\"build_id\":\"12\",\"server\":{\"url\":\"http://h:1//\",\"token\":\"tok\"},"
        "\"temp_dir\":\"/t\",\"finish_nonce\":\"abc\",\"variables\":{\"A\":\"1\",\"B\":2,"
        "\"C\":true,\"D\":[1]},\"repositories\":[{\"name\":\"r\",\"url\":\"u\"},3],"
        "\"steps\":[{\"id\":\"s1\",\"name\":\"one\"},{\"id\":2},{\"name\":\"noid\"},"
        "{\"id\":\"a:b\"},{\"id\":\"s1\"}],"
        "\"plugins\":{\"resave\":{\"settings\":{\"dir\":\"/x\",\"n\":3,\"deep\":{}}},"
        "\"off\":false,\"bad\":7}}";
    ls_job *job = NULL;
    char *warnings = NULL, err[256];
    assert_int_equal(ls_job_parse(text, strlen(text), &job, &warnings, err, sizeof(err)), 0);
    assert_string_equal(job->build_id, "12");
    assert_string_equal(job->server_url, "http://h:1");
    assert_string_equal(job->token, "tok");
    assert_string_equal(job->finish_nonce, "abc");
    assert_int_equal(job->n_variables, 3);
    assert_string_equal(job->variables[1].value, "2");
    assert_string_equal(job->variables[2].value, "true");
    assert_int_equal(job->n_repositories, 1);
    assert_string_equal(job->repositories[0].ref, "");
    assert_int_equal(job->n_steps, 2);
    assert_string_equal(job->steps[1].id, "2");
    assert_string_equal(job->steps[1].name, "");
    assert_ptr_equal(ls_job_find_step(job, "2", 1), &job->steps[1]);
    assert_ptr_equal(ls_job_find_step(job, "s1xyz", 2), &job->steps[0]);
    assert_null(ls_job_find_step(job, "s", 1));
    assert_true(ls_job_plugin_enabled(job, "resave"));
    assert_false(ls_job_plugin_enabled(job, "off"));
    assert_false(ls_job_plugin_enabled(job, "unlisted"));
    assert_string_equal(ls_job_plugin(job, "resave")->settings_json,
                        "{\"dir\":\"/x\",\"n\":3,\"deep\":{}}");
    assert_int_equal(ls_job_plugin(job, "resave")->n_settings, 2);
    assert_non_null(warnings);
    assert_non_null(strstr(warnings, "variable \"D\""));
    assert_non_null(strstr(warnings, "repositories[1]"));
    assert_non_null(strstr(warnings, "steps[2]: no \"id\""));
    assert_non_null(strstr(warnings, "steps[3]: id is empty, too long or has ':'"));
    assert_non_null(strstr(warnings, "steps[4]: duplicate id"));
    assert_non_null(strstr(warnings, "plugins.bad"));
    free(warnings);
    ls_job_free(job);

    const char *bad[] = {"", "[1]", "{\"finish_nonce\":\"\"}", "{\"finish_nonce\":3}", "{\"a\":"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        job = NULL;
        err[0] = '\0';
        assert_int_equal(ls_job_parse(bad[i], strlen(bad[i]), &job, &warnings, err, sizeof(err)),
                         -EINVAL);
        assert_null(job);
        assert_true(strlen(err) > 0);
    }
}

static void test_lines_reach_plugins_in_order(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, ",\"plugins\":{\"counter\":{\"settings\":{\"greeting\":\"hi\"}}}");
    ls_buf_puts(&in, "1:hello\n2:\n1:a:b:c\n2:world\r\n" FINISH "1:after finish\n");
    cs.keep_text = true;
    const ls_plugin_v1 *plugins[] = {&counter_plugin, &decliner_plugin};
    result r;
    run_host(&o, plugins, 2, &in, &r);
    assert_int_equal(r.rc, 0);
    assert_true(r.s.context_ok);
    assert_true(r.s.finished);
    assert_int_equal(r.s.lines, 4);
    assert_int_equal(r.s.malformed, 0);
    assert_int_equal(r.s.plugins_run, 1); /* decliner is not listed in "plugins" */
    assert_int_equal(r.s.plugins_failed, 0);
    assert_string_equal(cs.text.data, "1|hello\n2|\n1|a:b:c\n2|world\r\n");
    assert_int_equal(cs.per_step[0], 2);
    assert_int_equal(cs.per_step[1], 2);
    assert_int_equal(cs.inits, 1);
    assert_int_equal(cs.finalizes, 1);
    assert_int_equal(cs.destroys, 1);
    assert_string_equal(cs.setting, "hi");
    assert_string_equal(cs.variable, "manual"); /* variables are case-insensitive */
    assert_string_equal(r.out, "[counter] 4 lines\n[counter] second line\n");
    result_free(&r);
    ls_buf_free(&in);
}

static void test_decline_is_not_a_failure(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL); /* no "plugins": every plugin runs */
    ls_buf_puts(&in, "1:x\n" FINISH);
    const ls_plugin_v1 *plugins[] = {&counter_plugin, &decliner_plugin};
    result r;
    run_host(&o, plugins, 2, &in, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.plugins_run, 2);
    assert_int_equal(r.s.plugins_failed, 0);
    assert_int_equal(cs.lines, 1);
    assert_non_null(strstr(r.diag, "plugin-host: decliner: declined"));
    result_free(&r);
    ls_buf_free(&in);
}

static void test_missing_plugin_is_reported(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, ",\"plugins\":{\"counter\":true,\"nosuch\":{}}");
    ls_buf_puts(&in, FINISH);
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(r.s.plugins_failed, 1);
    assert_non_null(
        strstr(r.out, "[plugin-host] plugin nosuch is enabled for this job but is not installed"));
    assert_int_equal(cs.finalizes, 1);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_malformed_lines_are_skipped(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    ls_buf_puts(&in, "1:ok\nno colon here\n9:unknown step\n##[logplugin.finish]WRONG\n"
                     ":empty id\n2:ok too\n" FINISH);
    cs.keep_text = true;
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(r.rc, 0);
    assert_true(r.s.finished);
    assert_int_equal(r.s.malformed, 4);
    assert_string_equal(cs.text.data, "1|ok\n2|ok too\n");
    assert_non_null(strstr(r.diag, "line 2 skipped: no \"STEP_ID:\" prefix: \"no colon here\""));
    assert_non_null(strstr(r.diag, "line 3 skipped: unknown step id"));
    assert_non_null(strstr(r.diag, "line 4 skipped: finish line with a wrong nonce"));
    assert_non_null(strstr(r.diag, "4 malformed lines skipped"));
    assert_int_equal(cs.finalizes, 1);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_malformed_context_is_refused_and_input_drained(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    ls_buf_puts(&in, "{\"steps\": [ this is not json\n");
    for (int i = 0; i < 50000; i++) /* far more than a pipe holds */
        ls_buf_printf(&in, "1:line %d\n", i);
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(r.rc, -EINVAL);
    assert_false(r.s.context_ok);
    assert_int_equal(cs.inits, 0);
    assert_non_null(strstr(r.out, "[plugin-host] log plugins do not run for this job: its "
                                  "context was refused (context is not valid JSON"));
    assert_non_null(strstr(r.diag, "plugin-host: context is not valid JSON"));
    result_free(&r);
    ls_buf_free(&in);
}

static void test_context_too_long_is_refused(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    o.max_context = 64;
    o.read_size = 16;
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    ls_buf_puts(&in, "1:x\n" FINISH);
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(r.rc, -EINVAL);
    assert_non_null(strstr(r.diag, "context line longer than 64 bytes"));
    assert_int_equal(cs.inits, 0);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_eof_without_finish_ends_cleanly(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    ls_buf_puts(&in, "1:a\n2:b\n1:no newline at the end");
    cs.keep_text = true;
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(r.rc, 0);
    assert_false(r.s.finished);
    assert_int_equal(r.s.lines, 3);
    assert_int_equal(r.s.plugins_failed, 0);
    assert_int_equal(cs.inits, 1);
    assert_int_equal(cs.finalizes, 0); /* the job did not finish */
    assert_int_equal(cs.destroys, 1);
    assert_true(r.run_seconds < 2.0);
    assert_non_null(strstr(r.diag, "input ended without the finish line"));
    assert_string_equal(r.out, "");
    result_free(&r);
    ls_buf_free(&in);
}

static void test_empty_input_ends_cleanly(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(r.rc, -EINVAL);
    assert_non_null(strstr(r.diag, "no context line: the input ended"));
    assert_true(r.run_seconds < 2.0);
    result_free(&r);
}

static void test_breaker_stops_stuck_plugin_others_keep_running(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    /* The writer paces itself on the healthy plugin, which thus never lags
     * by more than 16 KiB; the stuck plugin's 1 MiB fills up. */
    pace_writer = true;
    o.max_pending = 1024 * 1024;
    o.read_size = 16 * 1024;
    o.breaker_window_ms = 150;
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    for (int i = 0; i < 150000; i++)
        ls_buf_printf(&in, "%d:line number %d\n", 1 + i % 2, i);
    const ls_plugin_v1 *plugins[] = {&stuck_plugin, &counter_plugin};
    result r;
    /* The finish line comes well after the window: the breaker alone must trip. */
    run_host_paused(&o, plugins, 2, &in, 600, "1:late line\n" FINISH, &r);
    assert_int_equal(r.rc, 0);
    assert_true(r.s.finished);
    assert_int_equal(r.s.plugins_failed, 1);
    assert_int_equal(cs.lines, 150001); /* the healthy plugin lost nothing */
    assert_int_equal(cs.finalizes, 1);
    assert_int_equal(stuck_finalizes, 0);
    assert_non_null(strstr(r.out, "[plugin-host] stuck cannot keep up: its queue is full (1 "
                                  "MiB, --plugin-max-pending)"));
    assert_non_null(strstr(r.out, "[plugin-host] stuck stopped: circuit breaker: more than 1 "
                                  "MiB of lines waited for it for longer than 150 ms"));
    assert_non_null(strstr(r.out, "[counter] 150001 lines"));
    assert_non_null(strstr(r.out, "[plugin-host] stuck: "));
    assert_null(strstr(r.out, "[plugin-host] counter"));
    assert_non_null(strstr(r.diag, "plugin-host: stuck: stopped;"));
    /* The breaker tripped during the pause, not at the finish line. */
    const char *stop = strstr(r.out, "stuck stopped");
    const char *count = strstr(r.out, "[counter] 150001 lines");
    assert_true(stop < count);
    release_and_wait_destroyed(1);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_slow_plugin_does_not_slow_input(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    o.max_pending = 64 * 1024 * 1024; /* everything fits: nothing dropped */
    o.breaker_window_ms = 1000;
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    for (int i = 0; i < 100000; i++)
        ls_buf_printf(&in, "1:some output line %d\n", i);
    atomic_store(&slow_mode, true); /* 2 ms per line: 200 s for all of them */
    const ls_plugin_v1 *plugins[] = {&slow_plugin, &counter_plugin};
    result r;
    /* While the writer pauses, the slow plugin is still far behind. */
    run_host_paused(&o, plugins, 2, &in, 300, FINISH, &r);
    /* stdin was read at full speed: 100000 lines (2.5 MB, 40 pipe-fulls) in
     * well under a second, although the slow plugin had done ~150 by then. */
    assert_true(r.write_seconds < 1.5);
    assert_int_equal(r.s.plugins_failed, 1); /* it cannot drain within the window */
    assert_int_equal(cs.lines, 100000);
    assert_true(atomic_load(&slow_lines) < 100000);
    assert_non_null(strstr(r.out, "[plugin-host] slow stopped: it could not process its queued "
                                  "lines within 1 s of the finish line"));
    result_free(&r);
    ls_buf_free(&in);
}

static void *release_later(void *arg)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    gate_release();
    return NULL;
}

static void test_full_queue_drops_only_that_plugins_lines(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    o.max_pending = 1024 * 1024;
    o.read_size = 16 * 1024;
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    for (int i = 0; i < 150000; i++)
        ls_buf_printf(&in, "2:line %d\n", i);
    const ls_plugin_v1 *plugins[] = {&stuck_plugin, &counter_plugin};
    result r;
    pace_writer = true;
    /* The stuck plugin is released 300 ms in, while the writer pauses: it
     * catches up before the breaker window (5 s), so it is not stopped. */
    pthread_t t;
    pthread_create(&t, NULL, release_later, NULL);
    run_host_paused(&o, plugins, 2, &in, 600, FINISH, &r);
    pthread_join(t, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.plugins_failed, 0);
    assert_int_equal(cs.lines, 150000);
    assert_int_equal(stuck_finalizes, 1);
    assert_non_null(strstr(r.out, "[plugin-host] stuck cannot keep up"));
    assert_non_null(strstr(r.out, "[plugin-host] stuck caught up; "));
    assert_non_null(strstr(r.out, " were not given to it because it could not keep up"));
    assert_null(strstr(r.out, "[plugin-host] counter"));
    release_and_wait_destroyed(1);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_finalize_timeout_abandons_plugin(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    o.finalize_timeout_ms = 200;
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    ls_buf_puts(&in, "1:x\n" FINISH);
    const ls_plugin_v1 *plugins[] = {&slowfinal_plugin, &counter_plugin};
    result r;
    run_host(&o, plugins, 2, &in, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.plugins_failed, 1);
    if (!(r.run_seconds >= 0.2 && r.run_seconds < 3.0))
        fprintf(stderr, "run %.3f s OUT[%s] DIAG[%s]\n", r.run_seconds, r.out, r.diag);
    assert_true(r.run_seconds >= 0.2 && r.run_seconds < 3.0);
    assert_int_equal(cs.finalizes, 1);
    assert_non_null(strstr(r.out, "[plugin-host] slowfinal abandoned: finalize did not return "
                                  "within 200 ms (--plugin-finalize-timeout)"));
    assert_non_null(strstr(r.out, "[counter] 1 lines"));
    release_and_wait_destroyed(1);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_errors_in_a_row_stop_plugin(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    o.max_errors = 5;
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    for (int i = 0; i < 20; i++)
        ls_buf_printf(&in, "1:%d\n", i);
    ls_buf_puts(&in, FINISH);
    const ls_plugin_v1 *plugins[] = {&failing_plugin, &counter_plugin};
    result r;
    run_host(&o, plugins, 2, &in, &r);
    assert_int_equal(r.s.plugins_failed, 1);
    assert_int_equal(failing_finalizes, 0);
    assert_int_equal(cs.lines, 20);
    if (!strstr(r.out, "failing stopped"))
        fprintf(stderr, "OUT[%s] DIAG[%s]\n", r.out, r.diag);
    assert_non_null(strstr(r.out, "[plugin-host] failing stopped: process_line failed 5 times in "
                                  "a row (last error: Input/output error); its finalize is "
                                  "skipped"));
    assert_non_null(strstr(r.diag, "plugin-host: failing: stopped; 5 lines processed"));
    result_free(&r);
    ls_buf_free(&in);
}

static void test_abi_mismatch_and_bad_descriptors_refused(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_pluginhost *h;
    assert_int_equal(ls_pluginhost_new(&o, &h), 0);
    char err[256];
    ls_plugin_v1 future = counter_plugin;
    future.abi_version = 2;
    assert_int_equal(ls_pluginhost_add(h, &future, NULL, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "plugin ABI version 2 is not supported (this host supports "
                                "version 1)"));
    ls_plugin_v1 bad = counter_plugin;
    bad.name = "Bad Name";
    assert_int_equal(ls_pluginhost_add(h, &bad, NULL, err, sizeof(err)), -EINVAL);
    bad.name = "plugin-host";
    assert_int_equal(ls_pluginhost_add(h, &bad, NULL, err, sizeof(err)), -EINVAL);
    bad = counter_plugin;
    bad.process_line = NULL;
    assert_int_equal(ls_pluginhost_add(h, &bad, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(ls_pluginhost_add(h, &counter_plugin, NULL, err, sizeof(err)), 0);
    assert_int_equal(ls_pluginhost_add(h, &counter_plugin, NULL, err, sizeof(err)), -EEXIST);
    ls_pluginhost_free(h);

    ls_pluginhost_options_default(&o);
    o.max_pending = 0;
    assert_int_equal(ls_pluginhost_new(&o, &h), -EINVAL);
}

static void test_loader_reports_unloadable_files(void **state)
{
    char dir[] = "/tmp/test_pluginhost_dir_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof(path), "%s/broken.so", dir);
    FILE *f = fopen(path, "w");
    fputs("not an ELF file", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/readme.txt", dir);
    f = fopen(path, "w");
    fclose(f);
    ls_pluginhost_options o;
    options(&o);
    ls_pluginhost *h;
    assert_int_equal(ls_pluginhost_new(&o, &h), 0);
    char *errors = NULL;
    assert_int_equal(ls_ph_load_dir(h, dir, &errors), 0);
    assert_non_null(errors);
    assert_non_null(strstr(errors, "/broken.so: cannot load: "));
    assert_null(strstr(errors, "readme"));
    free(errors);
    assert_int_equal(ls_ph_load_dir(h, "/nonexistent/dir", &errors), -ENOENT);
    ls_pluginhost_free(h);
    unlink(path);
    snprintf(path, sizeof(path), "%s/broken.so", dir);
    unlink(path);
    rmdir(dir);
}

static void test_long_lines_are_given_in_pieces(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    o.max_line = 1024;
    ls_buf in = LS_BUF_INIT, long_text = LS_BUF_INIT, expect = LS_BUF_INIT;
    for (int i = 0; i < 2000; i++)
        ls_buf_putc(&long_text, (char)('a' + i % 26));
    context(&in, NULL, NULL);
    ls_buf_printf(&in, "2:%s\nnosuchstep:%s\n1:end\n" FINISH, long_text.data, long_text.data);
    cs.keep_text = true;
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    /* "2:" + 1022 bytes, then the other 978 bytes for the same step; the
     * continuation of a skipped line is skipped with it. */
    ls_buf_puts(&expect, "2|");
    ls_buf_append(&expect, long_text.data, 1022);
    ls_buf_puts(&expect, "\n2|");
    ls_buf_append(&expect, long_text.data + 1022, 978);
    ls_buf_puts(&expect, "\n1|end\n");
    assert_non_null(cs.text.data);
    assert_string_equal(cs.text.data, expect.data);
    assert_int_equal(r.s.malformed, 1);
    assert_int_equal(r.s.lines, 3);
    result_free(&r);
    ls_buf_free(&in);
    ls_buf_free(&long_text);
    ls_buf_free(&expect);
}

static void test_output_is_prefixed_and_capped(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    o.max_output = 20;
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    ls_buf_puts(&in, "1:x\n" FINISH);
    const ls_plugin_v1 *plugins[] = {&counter_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    /* "1 lines\nsecond line" is 19 bytes: fits. */
    assert_string_equal(r.out, "[counter] 1 lines\n[counter] second line\n");
    result_free(&r);
    ls_buf_free(&in);

    counter_reset();
    o.max_output = 10;
    context(&in, NULL, NULL);
    ls_buf_puts(&in, "1:x\n" FINISH);
    run_host(&o, plugins, 1, &in, &r);
    assert_string_equal(r.out, "[plugin-host] counter: output limit of 10 bytes reached "
                               "(--plugin-max-output); its further messages are dropped\n");
    result_free(&r);
    ls_buf_free(&in);
}

static char *read_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    char *s = slurp_fd(fd);
    close(fd);
    return s;
}

static void test_resave_writes_each_steps_lines(void **state)
{
    char dir[] = "/tmp/test_resave_XXXXXX";
    assert_non_null(mkdtemp(dir));
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    context(&in, dir, NULL);
    ls_buf_puts(&in, "1:compiling\n2:test a ok\n1:\n1:linking\n2:test b ok\n" FINISH);
    size_t n;
    const ls_plugin_v1 *const *builtins = ls_builtin_plugins(&n);
    const ls_plugin_v1 *resave = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(builtins[i]->name, "resave") == 0)
            resave = builtins[i];
    assert_non_null(resave);
    result r;
    run_host(&o, &resave, 1, &in, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.s.plugins_failed, 0);
    char p1[512], p2[512], expect[2048];
    snprintf(p1, sizeof(p1), "%s/resave/1-build.log", dir);
    snprintf(p2, sizeof(p2), "%s/resave/2-unit_tests.log", dir);
    char *c1 = read_file(p1), *c2 = read_file(p2);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_string_equal(c1, "compiling\n\nlinking\n");
    assert_string_equal(c2, "test a ok\ntest b ok\n");
    snprintf(expect, sizeof(expect),
             "[resave] step build: 3 lines saved to %s\n"
             "[resave] step unit tests: 2 lines saved to %s\n"
             "[resave] these copies are in the job's temporary directory, which is removed "
             "when the build ends: give resave a \"dir\" setting to keep them\n",
             p1, p2);
    assert_string_equal(r.out, expect);
    free(c1);
    free(c2);
    unlink(p1);
    unlink(p2);
    snprintf(p1, sizeof(p1), "%s/resave", dir);
    rmdir(p1);
    rmdir(dir);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_resave_declines_without_temp_dir(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    context(&in, NULL, NULL);
    ls_buf_puts(&in, "1:x\n" FINISH);
    size_t n;
    const ls_plugin_v1 *const *builtins = ls_builtin_plugins(&n);
    result r;
    run_host(&o, builtins, n, &in, &r);
    assert_int_equal(r.s.plugins_failed, 0);
    assert_non_null(strstr(r.diag, "plugin-host: resave: no temp_dir"));
    assert_string_equal(r.out, "");
    result_free(&r);
    ls_buf_free(&in);
}

/* ---- publish(): a one-shot HTTP server on loopback ---- */

typedef struct http_server {
    int listen_fd;
    int port;
    ls_buf request; /* what the plugin sent */
} http_server;

static void *http_server_main(void *arg)
{
    http_server *srv = arg;
    int c = accept(srv->listen_fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char buf[4096];
    ssize_t n;
    /* Read the head and the body (Content-Length is small in the test). */
    while ((n = read(c, buf, sizeof(buf))) > 0) {
        ls_buf_append(&srv->request, buf, (size_t)n);
        const char *end = strstr(srv->request.data, "\r\n\r\n");
        const char *cl = strcasestr(srv->request.data, "Content-Length: ");
        if (end && cl && srv->request.len >= (size_t)(end + 4 - srv->request.data) + atoi(cl + 16))
            break;
    }
    const char *answer = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    write_all(c, answer, strlen(answer));
    close(c);
    return NULL;
}

static int http_server_start(http_server *srv, pthread_t *t)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    srv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (srv->listen_fd < 0 || bind(srv->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(srv->listen_fd, 1) < 0 || getsockname(srv->listen_fd, (struct sockaddr *)&a, &len))
        return -1;
    srv->port = ntohs(a.sin_port);
    return pthread_create(t, NULL, http_server_main, srv);
}

static int publish_rc = 1;
static long publish_status = -1;

static int publisher_finalize(const ls_plugin_context *ctx, void *state)
{
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/builds/%s/tests", ctx->build_id);
    publish_rc = ctx->publish(ctx, path, "{\"runs\":[]}", &publish_status);
    return 0;
}

static const ls_plugin_v1 publisher_plugin = {
    LS_PLUGIN_ABI_VERSION, "publisher", NULL, plain_init, ok_line, publisher_finalize, NULL,
};

static void test_publish_posts_json_with_the_build_token(void **state)
{
    http_server srv = {.request = LS_BUF_INIT};
    pthread_t t;
    assert_int_equal(http_server_start(&srv, &t), 0);
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    ls_buf_printf(&in,
                  "{\"build_id\":\"42\",\"server\":{\"url\":\"http://127.0.0.1:%d/\","
                  "\"token\":\"s3cret\"},\"finish_nonce\":\"f\"}\n##[logplugin.finish]f\n",
                  srv.port);
    const ls_plugin_v1 *plugins[] = {&publisher_plugin};
    result r;
    run_host(&o, plugins, 1, &in, &r);
    pthread_join(t, NULL);
    close(srv.listen_fd);
    assert_int_equal(publish_rc, 0);
    assert_int_equal(publish_status, 201);
    assert_non_null(srv.request.data);
    const char *request_line = "POST /api/v1/builds/42/tests HTTP/1.1\r\n";
    assert_true(strncmp(srv.request.data, request_line, strlen(request_line)) == 0);
    assert_non_null(strstr(srv.request.data, "Authorization: Bearer s3cret\r\n"));
    assert_non_null(strstr(srv.request.data, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(srv.request.data, "\r\n\r\n{\"runs\":[]}"));
    ls_buf_free(&srv.request);
    result_free(&r);
    ls_buf_free(&in);
}

static void test_publish_errors(void **state)
{
    ls_pluginhost_options o;
    options(&o);
    ls_buf in = LS_BUF_INIT;
    const ls_plugin_v1 *plugins[] = {&publisher_plugin};
    result r;
    /* No server in the context. */
    ls_buf_puts(&in, "{\"build_id\":1,\"finish_nonce\":\"f\"}\n##[logplugin.finish]f\n");
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(publish_rc, -EINVAL);
    assert_int_equal(publish_status, 0);
    result_free(&r);
    /* Nobody listening. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd); /* a port that was free a moment ago */
    ls_buf_reset(&in);
    ls_buf_printf(&in,
                  "{\"server\":{\"url\":\"http://127.0.0.1:%d\"},\"finish_nonce\":\"f\"}\n"
                  "##[logplugin.finish]f\n",
                  ntohs(a.sin_port));
    run_host(&o, plugins, 1, &in, &r);
    assert_int_equal(publish_rc, -ECONNREFUSED);
    result_free(&r);
    ls_buf_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_context_parse, setup),
        cmocka_unit_test_setup(test_lines_reach_plugins_in_order, setup),
        cmocka_unit_test_setup(test_decline_is_not_a_failure, setup),
        cmocka_unit_test_setup(test_missing_plugin_is_reported, setup),
        cmocka_unit_test_setup(test_malformed_lines_are_skipped, setup),
        cmocka_unit_test_setup(test_malformed_context_is_refused_and_input_drained, setup),
        cmocka_unit_test_setup(test_context_too_long_is_refused, setup),
        cmocka_unit_test_setup(test_eof_without_finish_ends_cleanly, setup),
        cmocka_unit_test_setup(test_empty_input_ends_cleanly, setup),
        cmocka_unit_test_setup(test_breaker_stops_stuck_plugin_others_keep_running, setup),
        cmocka_unit_test_setup(test_slow_plugin_does_not_slow_input, setup),
        cmocka_unit_test_setup(test_full_queue_drops_only_that_plugins_lines, setup),
        cmocka_unit_test_setup(test_finalize_timeout_abandons_plugin, setup),
        cmocka_unit_test_setup(test_errors_in_a_row_stop_plugin, setup),
        cmocka_unit_test_setup(test_abi_mismatch_and_bad_descriptors_refused, setup),
        cmocka_unit_test_setup(test_loader_reports_unloadable_files, setup),
        cmocka_unit_test_setup(test_long_lines_are_given_in_pieces, setup),
        cmocka_unit_test_setup(test_output_is_prefixed_and_capped, setup),
        cmocka_unit_test_setup(test_resave_writes_each_steps_lines, setup),
        cmocka_unit_test_setup(test_resave_declines_without_temp_dir, setup),
        cmocka_unit_test_setup(test_publish_posts_json_with_the_build_token, setup),
        cmocka_unit_test_setup(test_publish_errors, setup),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
