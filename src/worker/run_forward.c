/* forward's replace_log in `logstream run` (docs/forward.md): a step whose
 * log the forward plugin delivers elsewhere gets only a notice on the server;
 * its lines go to the plugin host and into a side file in the spool
 * directory until forward confirms that every one was delivered, and a line
 * the host cannot take, a failed forward plugin or a dead host sends the full
 * log to the server after all. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/timeutil.h"
#include "mask/masker.h"
#include "worker/plugin_driver.h"
#include "worker/run_internal.h"
#include "worker/uploader.h"

/* A line of the worker's own in the step's log, masked like the step's. */
static void push_own_line(run_stream *rs, const char *text)
{
    ls_buf masked = LS_BUF_INIT;
    ls_masker_apply(rs->ctx->masker, text, strlen(text), &masked);
    ls_line line = {.seq = rs->next_seq,
                    .ts_ms = ls_now_ms(),
                    .stream = 'o',
                    .len = (uint32_t)masked.len,
                    .text = masked.data ? masked.data : ""};
    ls_run_push_line(rs, &line);
    ls_buf_free(&masked);
}

/* One kept line: ts_ms, stream, continued, len, then the (masked) text. */
typedef struct fw_record {
    int64_t ts_ms;
    char stream;
    uint8_t continued;
    uint32_t len;
} fw_record;

static void forward_drop_keep(run_stream *rs)
{
    if (rs->fw_keep)
        fclose(rs->fw_keep);
    rs->fw_keep = NULL;
    if (rs->fw_keep_path)
        unlink(rs->fw_keep_path);
    free(rs->fw_keep_path);
    rs->fw_keep_path = NULL;
}

/* After a line was offered to the host (fed: what ls_plugin_driver_feed
 * returned): keeps it in the step's side file until forward confirms
 * delivery. Returns NULL when it is kept, or why the step's log must go to
 * the server after all. */
const char *ls_run_forward_keep(run_stream *rs, const ls_line *line, int fed)
{
    run_ctx *c = rs->ctx;
    if (fed == -EPIPE)
        return "the plugin host has exited";
    if (fed < 0)
        return "the plugin host is behind (its --plugin-queue and --plugin-spill are full)";
    if (atomic_load(&c->fw_failed))
        return c->fw_failure;
    if (!rs->fw_keep)
        return "cannot keep the step's lines on this host";
    if (rs->fw_keep_bytes + line->len > (uint64_t)c->f.forward_keep_bytes)
        return "the step's log is larger than --forward-keep-bytes";
    fw_record r = {.ts_ms = line->ts_ms,
                   .stream = line->stream,
                   .continued = line->continued,
                   .len = line->len};
    if (fwrite(&r, sizeof(r), 1, rs->fw_keep) != 1 ||
        (line->len && fwrite(line->text, line->len, 1, rs->fw_keep) != 1))
        return "cannot keep the step's lines on this host (write error)";
    rs->fw_keep_bytes += line->len;
    rs->fw_fed++;
    return NULL;
}

/* Delivery of the step's lines is not confirmed: stores the full masked log
 * on the server after the notice, with a line saying why. Later lines of the
 * step are uploaded as usual. */
void ls_run_forward_fallback(run_stream *rs, const char *why)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "forwarding to %s failed: %s; the full log follows", rs->fw_where,
             why);
    push_own_line(rs, msg);
    fprintf(stderr, "logstream: %s: %s\n", rs->step->name, msg);
    rs->fw_fallen = true;
    bool ok = rs->fw_keep && fflush(rs->fw_keep) == 0 && fseek(rs->fw_keep, 0, SEEK_SET) == 0;
    uint64_t n = 0;
    ls_buf text = LS_BUF_INIT;
    for (fw_record r; ok && n < rs->fw_fed; n++) {
        if (fread(&r, sizeof(r), 1, rs->fw_keep) != 1)
            break;
        ls_buf_reset(&text);
        char *dst = ls_buf_reserve(&text, (size_t)r.len + 1);
        if (r.len && fread(dst, r.len, 1, rs->fw_keep) != 1)
            break;
        ls_line line = {.seq = rs->next_seq,
                        .ts_ms = r.ts_ms,
                        .stream = r.stream,
                        .continued = r.continued,
                        .len = r.len,
                        .text = r.len ? dst : ""};
        ls_run_push_line(rs, &line);
    }
    ls_buf_free(&text);
    if (n < rs->fw_fed) {
        snprintf(msg, sizeof(msg), "%llu lines of this step could not be read back from %s",
                 (unsigned long long)(rs->fw_fed - n), rs->fw_keep_path ? rs->fw_keep_path : "");
        push_own_line(rs, msg);
    }
    forward_drop_keep(rs);
}

/* Before the step starts: when the forward plugin runs and its replace_log
 * covers this step, the server's log of the step gets only a notice, and
 * on_line gives the lines to the plugin host and keeps them in a side file
 * in the spool directory until forward confirms that every one was
 * delivered. A line the host cannot take, a failed forward plugin or a dead
 * host sends the full log to the server (forward_fallback). */
void ls_run_forward_start(run_stream *rs)
{
    run_ctx *c = rs->ctx;
    if (!c->plugins ||
        ls_plugin_replaced_log(c->plugins_json, rs->step->name, &rs->forward_notice) != 1)
        return;
    const char *to = strstr(rs->forward_notice, "forwarded to ");
    rs->fw_where = to ? to + strlen("forwarded to ") : rs->forward_notice;
    char path[4096];
    snprintf(path, sizeof(path), "%s/build-%lld-step-%d.forward", c->spool_dir, c->build_id,
             rs->number);
    rs->fw_keep_path = ls_xstrdup(path);
    rs->fw_keep = fopen(path, "w+e");
    push_own_line(rs, rs->forward_notice);
}

/* When the step ends, with its completion body. Returns true when the
 * stream stays open until the plugins have finished (finish_plugins decides
 * then whether the notice is enough); false when it can be closed now. */
bool ls_run_forward_end(run_stream *rs, const char *completion)
{
    run_ctx *c = rs->ctx;
    if (!rs->forward_notice)
        return false;
    if (!rs->fw_fallen) {
        ls_plugin_driver_stats st = {0};
        if (c->plugins)
            ls_plugin_driver_get_stats(c->plugins, &st);
        if (atomic_load(&c->fw_failed))
            ls_run_forward_fallback(rs, c->fw_failure);
        else if (!c->plugins || st.exited)
            ls_run_forward_fallback(rs, "the plugin host has exited");
    }
    if (rs->fw_fallen) {
        free(rs->forward_notice);
        rs->forward_notice = NULL;
        return false;
    }
    run_stream *d = ls_xmalloc(sizeof(*d));
    *d = *rs;
    d->proc = NULL;
    d->fw_completion = ls_xstrdup(completion);
    c->fw_deferred = ls_xreallocarray(c->fw_deferred, c->n_fw_deferred + 1, sizeof(*d));
    c->fw_deferred[c->n_fw_deferred++] = d;
    rs->forward_notice = NULL;
    rs->fw_keep = NULL;
    rs->fw_keep_path = NULL;
    return true;
}

/* Whether forward confirmed at finalize that every line of the step was
 * delivered: "[forward] logs for step ID (NAME) were forwarded to WHERE: N
 * lines" with N the lines the host took (docs/forward.md). */
static bool forward_confirmed(const run_ctx *c, const run_stream *rs)
{
    char want[1024];
    int n = snprintf(want, sizeof(want),
                     "\n[forward] logs for step %d (%s) were forwarded to %s: %llu line%s\n",
                     rs->number, rs->step->name, rs->fw_where, (unsigned long long)rs->fw_fed,
                     rs->fw_fed == 1 ? "" : "s");
    if (n < 0 || (size_t)n >= sizeof(want) || !c->fw_confirmed.data)
        return false;
    return memmem(c->fw_confirmed.data, c->fw_confirmed.len, want, (size_t)n) != NULL;
}

/* After the plugin host has ended: closes each deferred step, with only the
 * notice when forward confirmed its lines, else with the full log after it. */
void ls_run_forward_settle(run_ctx *c, const char *host_why)
{
    for (size_t i = 0; i < c->n_fw_deferred; i++) {
        run_stream *rs = c->fw_deferred[i];
        if (!forward_confirmed(c, rs))
            ls_run_forward_fallback(rs, atomic_load(&c->fw_failed) ? c->fw_failure : host_why);
        forward_drop_keep(rs);
        ls_upload_stream_close(rs->up, rs->fw_completion);
        free(rs->fw_completion);
        free(rs->forward_notice);
        free(rs);
    }
    free(c->fw_deferred);
    c->fw_deferred = NULL;
    c->n_fw_deferred = 0;
}

/* On the driver's thread, for each plugins-log line: notes forward's
 * confirmations and its failures. */
void ls_run_forward_watch(run_ctx *c, const char *text, size_t len, bool continued)
{
    static const char ok[] = "[forward] logs for step ";
    if (continued)
        return;
    if (len > strlen(ok) && !memcmp(text, ok, strlen(ok))) {
        if (c->fw_confirmed.len == 0)
            ls_buf_putc(&c->fw_confirmed, '\n');
        ls_buf_append(&c->fw_confirmed, text, len);
        ls_buf_putc(&c->fw_confirmed, '\n');
        return;
    }
    /* "[forward] N lines could not be forwarded ...", "[forward] ... refused a batch",
     * the host's "forward stopped: circuit breaker ...", "forward abandoned: ..." and
     * "forward cannot keep up: ... its lines are dropped" */
    bool failed = (len > 10 && !memcmp(text, "[forward] ", 10) &&
                   (memmem(text, len, "could not be forwarded", 22) ||
                    memmem(text, len, "lines are lost", 14))) ||
                  memmem(text, len, "forward stopped", 15) ||
                  memmem(text, len, "forward abandoned", 17) ||
                  memmem(text, len, "forward cannot keep up", 22);
    if (failed && !atomic_load(&c->fw_failed)) {
        if (len > 10 && !memcmp(text, "[forward] ", 10))
            text += 10, len -= 10;
        snprintf(c->fw_failure, sizeof(c->fw_failure), "%.*s", (int)len, text);
        atomic_store(&c->fw_failed, true);
    }
}
