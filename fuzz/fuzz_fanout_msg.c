/* links: server store common */
/* The NATS fan-out's decoders (server/fanout_msg.h) on arbitrary bytes: the
 * first byte picks subject, lines, status or event; whatever decodes must
 * encode back to something that decodes to the same value. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/fanout_msg.h"

#define MAX_TEXT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct relines {
    ls_buf out;
    uint64_t last;
} relines;

static int reencode(void *arg, const ls_line *line)
{
    relines *r = arg;
    if (line->seq <= r->last || line->len > MAX_TEXT)
        abort();
    r->last = line->seq;
    ls_fanout_lines_add(&r->out, line);
    return 0;
}

static void fuzz_subject(const char *s)
{
    ls_fanout_kind kind;
    int64_t build;
    int step;
    if (ls_fanout_subject_parse(s, &kind, &build, &step) < 0)
        return;
    char again[LS_FANOUT_SUBJECT_MAX];
    ls_fanout_subject(again, kind, build, step);
    if (strcmp(again, s) != 0)
        abort();
}

static void fuzz_lines(const char *p, size_t n)
{
    relines r = {.out = LS_BUF_INIT};
    int got = ls_fanout_lines_decode(p, n, MAX_TEXT, reencode, &r);
    if (got >= 0) {
        relines r2 = {.out = LS_BUF_INIT};
        if (ls_fanout_lines_decode(r.out.data, r.out.len, MAX_TEXT, reencode, &r2) != got)
            abort();
        ls_buf_free(&r2.out);
    } else if (got != -EINVAL) {
        abort();
    }
    ls_buf_free(&r.out);
}

static void fuzz_status(const char *p, size_t n)
{
    ls_fanout_status st;
    if (ls_fanout_status_decode(p, n, &st) < 0)
        return;
    ls_buf b = LS_BUF_INIT;
    ls_fanout_status_encode(&b, &st);
    ls_fanout_status st2;
    if (ls_fanout_status_decode(b.data, b.len, &st2) < 0 || st2.status != st.status ||
        st2.has_exit_code != st.has_exit_code || st2.exit_code != st.exit_code ||
        st2.lines != st.lines)
        abort();
    ls_buf_free(&b);
}

static void fuzz_event(const char *p, size_t n, bool with_end)
{
    char name[LS_FANOUT_NAME_MAX];
    bool end = false;
    const char *json;
    size_t len;
    if (ls_fanout_event_decode(p, n, with_end, name, &end, &json, &len) < 0)
        return;
    if (json < p || json + len != p + n || strlen(name) == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* a private copy so ASan catches any read past the payload */
    size_t n = size - 1;
    char *p = malloc(n + 1);
    if (!p)
        return 0;
    memcpy(p, data + 1, n);
    switch (data[0] % 5) {
    case 0:
        p[n] = '\0';
        if (strlen(p) == n)
            fuzz_subject(p);
        break;
    case 1:
        fuzz_lines(p, n);
        break;
    case 2:
        fuzz_status(p, n);
        break;
    default:
        fuzz_event(p, n, data[0] % 5 == 3);
        break;
    }
    free(p);
    return 0;
}
