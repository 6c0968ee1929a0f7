#include "pluginhost/input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"

/* A stop code from the line callback: the finish line was read. */
#define FINISHED (-ECANCELED)

static ssize_t read_some(int fd, char *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r >= 0 || errno != EINTR)
            return r < 0 ? -errno : r;
    }
}

int ls_ph_input_read_context(struct ls_pluginhost *h, int fd, char **ret, size_t *ret_len,
                             char **ret_rest, size_t *ret_rest_len)
{
    ls_buf line = LS_BUF_INIT;
    size_t chunk = (size_t)h->opt.read_size;
    int r;
    for (;;) {
        char *p = ls_buf_reserve(&line, chunk);
        ssize_t n = read_some(fd, p, chunk);
        if (n <= 0) {
            r = n == 0 ? -ENODATA : (int)n;
            break;
        }
        const char *nl = memchr(p, '\n', (size_t)n);
        line.len += (size_t)n;
        line.data[line.len] = '\0';
        if (nl) {
            size_t len = (size_t)(nl - line.data);
            if (len > (size_t)h->opt.max_context) {
                r = -E2BIG;
                break;
            }
            *ret_rest_len = line.len - len - 1;
            *ret_rest = ls_xmemdup0(nl + 1, *ret_rest_len);
            *ret_len = len;
            line.data[len] = '\0';
            *ret = ls_buf_steal(&line);
            return 0;
        }
        if (line.len > (size_t)h->opt.max_context) {
            r = -E2BIG;
            break;
        }
    }
    ls_buf_free(&line);
    return r;
}

/* Reports a skipped line on the diagnostics channel: the first few in full
 * (up to 80 bytes of text), then only counted. */
static void malformed(struct ls_pluginhost *h, const char *why, const char *text, size_t len)
{
    uint64_t max = (uint64_t)h->opt.max_malformed_reports;
    h->malformed++;
    if (h->malformed > max)
        return;
    int shown = (int)(len < 80 ? len : 80);
    ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX, "line %llu skipped: %s: \"%.*s\"%s%s",
                      (unsigned long long)h->lines, why, shown, text, len > 80 ? "..." : "",
                      h->malformed == max ? " (further malformed lines are only counted, "
                                            "--plugin-max-malformed-reports)"
                                          : "");
}

/* Queues one line for every plugin still taking lines. */
static void deliver(struct ls_pluginhost *h, const ls_plugin_step *step, const char *text,
                    size_t len)
{
    for (size_t i = 0; i < h->n_runners; i++) {
        ls_runner *r = h->runners[i];
        if (!r->started)
            continue;
        int rc = ls_ph_queue_push(&r->queue, (uint32_t)step->index, text, len);
        if (rc != -ENOBUFS)
            continue;
        /* Only this thread writes the counters: plain stores, no locked RMW
         * on the path a stalled plugin puts every line through. */
        atomic_store_explicit(&r->dropped_lines, ++r->producer_dropped_lines, memory_order_relaxed);
        atomic_store_explicit(&r->dropped_bytes, r->producer_dropped_bytes += len,
                              memory_order_relaxed);
        if (!r->producer_over)
            ls_ph_supervisor_queue_full(h, r);
    }
}

static const ls_plugin_step *find_step(struct ls_pluginhost *h, const char *id, size_t len)
{
    if (h->last_step && h->last_id_len == len && memcmp(h->last_step->id, id, len) == 0)
        return h->last_step;
    const ls_plugin_step *s = ls_job_find_step(h->job, id, len);
    if (s) {
        h->last_step = s;
        h->last_id_len = len;
    }
    return s;
}

static bool is_finish_line(const struct ls_pluginhost *h, const char *text, size_t len)
{
    size_t plen = sizeof(LS_PH_FINISH_PREFIX) - 1;
    return len >= plen && memcmp(text, LS_PH_FINISH_PREFIX, plen) == 0;
}

static int on_line(void *userdata, const char *text, size_t len, bool continued)
{
    struct ls_pluginhost *h = userdata;
    bool continuation = h->in_continuation;
    h->in_continuation = continued;
    if (continuation) { /* the rest of a line cut at --plugin-max-line */
        if (h->cont_step)
            deliver(h, h->cont_step, text, len);
        return 0;
    }
    h->lines++;
    h->cont_step = NULL;
    if (is_finish_line(h, text, len)) {
        const char *nonce = h->job->finish_nonce;
        size_t plen = sizeof(LS_PH_FINISH_PREFIX) - 1;
        if (!continued && len - plen == strlen(nonce) &&
            memcmp(text + plen, nonce, len - plen) == 0) {
            h->lines--;
            return FINISHED;
        }
        malformed(h, "finish line with a wrong nonce", text, len);
        return 0;
    }
    size_t scan = len < LS_JOB_MAX_STEP_ID + 1 ? len : LS_JOB_MAX_STEP_ID + 1;
    const char *colon = memchr(text, ':', scan);
    if (!colon) {
        malformed(h, "no \"STEP_ID:\" prefix", text, len);
        return 0;
    }
    size_t id_len = (size_t)(colon - text);
    const ls_plugin_step *step = find_step(h, text, id_len);
    if (!step) {
        malformed(h, "unknown step id", text, len);
        return 0;
    }
    h->cont_step = step;
    deliver(h, step, colon + 1, len - id_len - 1);
    return 0;
}

/* Hands every plugin what was queued from one read, and lets the
 * supervisor see whether a full queue has come down. */
static void publish_all(struct ls_pluginhost *h)
{
    for (size_t i = 0; i < h->n_runners; i++) {
        ls_runner *r = h->runners[i];
        if (!r->started)
            continue;
        ls_ph_queue_publish(&r->queue);
        uint64_t lines, bytes;
        if (ls_ph_queue_take_dropped(&r->queue, &lines, &bytes)) { /* beyond its spill file */
            atomic_store_explicit(&r->dropped_lines, r->producer_dropped_lines += lines,
                                  memory_order_relaxed);
            atomic_store_explicit(&r->dropped_bytes, r->producer_dropped_bytes += bytes,
                                  memory_order_relaxed);
        }
        /* behind: more than max_pending waits (on disk, or its lines are dropped) */
        if (!r->producer_over && ls_ph_queue_pending(&r->queue) > r->queue.max_pending)
            ls_ph_supervisor_queue_full(h, r);
        if (r->producer_over)
            ls_ph_supervisor_after_publish(h, r);
    }
}

static int feed(struct ls_pluginhost *h, const char *data, size_t len)
{
    int rc = ls_linesplit_feed(h->splitter, data, len);
    publish_all(h);
    if (rc == FINISHED)
        h->finished = true;
    return rc;
}

void ls_ph_input_run(struct ls_pluginhost *h, int fd, const char *rest, size_t rest_len)
{
    size_t size = (size_t)h->opt.read_size;
    char *buf = ls_xmalloc(size);
    h->splitter = ls_linesplit_new((size_t)h->opt.max_line, on_line, h);
    if (rest_len && feed(h, rest, rest_len) == FINISHED)
        goto out;
    for (;;) {
        ssize_t n = read_some(fd, buf, size);
        if (n < 0)
            ls_ph_sink_printf(&h->diag, LS_PH_DIAG_PREFIX, "reading the input failed: %s",
                              strerror((int)-n));
        if (n <= 0)
            break;
        if (feed(h, buf, (size_t)n) == FINISHED)
            goto out;
    }
    /* End of input: a last line without '\n' still counts. */
    if (ls_linesplit_flush(h->splitter) == FINISHED)
        h->finished = true;
    publish_all(h);
out:
    ls_linesplit_free(h->splitter);
    h->splitter = NULL;
    free(buf);
}

void ls_ph_input_drain(struct ls_pluginhost *h, int fd, const char *rest, size_t rest_len)
{
    size_t size = (size_t)h->opt.read_size;
    char *buf = ls_xmalloc(size);
    ls_buf tail = LS_BUF_INIT; /* the start of the current line, to spot a finish line */
    const char *data = rest;
    ssize_t n = (ssize_t)rest_len;
    size_t plen = sizeof(LS_PH_FINISH_PREFIX) - 1;
    for (;;) {
        for (const char *p = data, *end = data ? data + n : NULL; p && p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl : end;
            if (tail.len < plen)
                ls_buf_append(&tail, p, (size_t)(stop - p) < plen ? (size_t)(stop - p) : plen);
            if (nl && tail.len >= plen && memcmp(tail.data, LS_PH_FINISH_PREFIX, plen) == 0)
                goto out;
            if (nl)
                ls_buf_reset(&tail);
            p = nl ? nl + 1 : end;
        }
        n = read_some(fd, buf, size);
        if (n <= 0)
            break;
        data = buf;
    }
out:
    ls_buf_free(&tail);
    free(buf);
}
