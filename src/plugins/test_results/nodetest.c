/* test-results: node --test with the spec reporter (its TAP reporter is read
 * by tap.c).
 *
 *   ▶ cart
 *     ✖ totals (3.01ms)
 *       AssertionError [ERR_ASSERTION]: ...      (indented: the message)
 *     ✔ counts (0.14ms)
 *   ﹣ skipped one (1.1ms) # not ready
 *   ℹ tests 6 / ℹ pass 2 / ℹ fail 4 / ℹ cancelled 0 / ℹ skipped 0 / ℹ todo 0
 *   ℹ duration_ms 192.3
 *
 * The footer gives the counts (node counts nested tests, not suites):
 * failed = fail + cancelled, skipped = skipped + todo; the run ends at
 * "ℹ duration_ms". A "✖" line followed by an indented message is a listed
 * failure ("suite > test"); one without (failed through its subtests) is
 * counted, not listed. The "✖ failing tests:" recap after the footer is
 * ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/test_results/tr_stream.h"

#define NODE_DEPTH 16
#define MARK_PASS "\xE2\x9C\x94 "  /* ✔ */
#define MARK_FAIL "\xE2\x9C\x96 "  /* ✖ */
#define MARK_SKIP "\xEF\xB9\xA3 "  /* ﹣ */
#define MARK_GROUP "\xE2\x96\xB6 " /* ▶ */
#define MARK_INFO "\xE2\x84\xB9 "  /* ℹ */

typedef struct node_state {
    bool active, recap;
    tr_run run;
    uint64_t pass, fail, cancelled, skipped, todo;
    bool have_tests;
    char names[NODE_DEPTH][128];
    tr_failure *pending; /* a ✖ whose message is being read */
    size_t pending_indent;
} node_state;

static void reset(node_state *st)
{
    tr_run_clear(&st->run);
    st->active = false;
    st->pass = st->fail = st->cancelled = st->skipped = st->todo = 0;
    st->have_tests = false;
    memset(st->names, 0, sizeof(st->names));
    st->pending = NULL;
}

static void start(node_state *st)
{
    if (!st->active) {
        reset(st);
        tr_run_reset(&st->run, "node");
        st->active = true;
    }
}

/* A failure listed without a message failed through its subtests: unlist it. */
static void close_pending(node_state *st)
{
    tr_failure *f = st->pending;
    st->pending = NULL;
    if (f && f->message.len == 0 && st->run.n_failures &&
        f == st->run.failures[st->run.n_failures - 1])
        tr_run_drop_last_failure(&st->run);
}

/* "name (1.23ms)" or "name (1.23ms) # reason": the name. */
static size_t test_name(const char *s, size_t len)
{
    const char *paren = NULL;
    for (const char *p = s; (p = tr_find(p, len - (size_t)(p - s), " (")); p++)
        paren = p;
    return paren ? (size_t)(paren - s) : len;
}

static void node_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    node_state *st = state;
    st->run.max_failures = sink->max_failures;
    size_t ind = tr_indent(s, len);
    const char *t = s + ind;
    size_t n = len - ind;

    if (st->recap) {
        if (n == 0 || ind > 0 || tr_starts(t, n, "test at ") || tr_starts(t, n, MARK_FAIL))
            return;
        st->recap = false;
    }
    if (st->pending) {
        if (ind > st->pending_indent || n == 0) {
            if (n == 0 && st->pending->message_lines == 0)
                return;
            size_t k = st->pending_indent + 2;
            if (k > ind && n > 0)
                k = ind;
            tr_failure_add_line(st->pending, n ? s + k : "", n ? len - k : 0);
            return;
        }
        close_pending(st);
    }
    if (tr_starts(t, n, MARK_GROUP)) {
        start(st);
        size_t d = ind / 2;
        if (d < NODE_DEPTH) {
            size_t k = strlen(MARK_GROUP);
            snprintf(st->names[d], sizeof(st->names[d]), "%.*s", (int)(n - k), t + k);
            for (size_t i = d + 1; i < NODE_DEPTH; i++)
                st->names[i][0] = '\0';
        }
        return;
    }
    if (tr_starts(t, n, MARK_PASS) || tr_starts(t, n, MARK_SKIP)) {
        start(st);
        return;
    }
    if (tr_starts(t, n, MARK_FAIL)) {
        if (tr_word_is(t, n, MARK_FAIL "failing tests:")) {
            st->recap = true;
            return;
        }
        start(st);
        size_t k = strlen(MARK_FAIL);
        size_t nlen = test_name(t + k, n - k);
        char full[TR_MAX_NAME + 1];
        size_t used = 0;
        full[0] = '\0';
        for (size_t i = 0; i < ind / 2 && i < NODE_DEPTH; i++) {
            if (!st->names[i][0])
                continue;
            int w = snprintf(full + used, sizeof(full) - used, "%s > ", st->names[i]);
            if (w < 0 || (size_t)w >= sizeof(full) - used)
                break;
            used += (size_t)w;
        }
        if (used < sizeof(full) - 1)
            snprintf(full + used, sizeof(full) - used, "%.*s", (int)nlen, t + k);
        st->pending = tr_run_add_failure(&st->run, full, strlen(full));
        st->pending_indent = ind;
        return;
    }
    if (!st->active || ind != 0 || !tr_starts(t, n, MARK_INFO))
        return;
    const char *p = t + strlen(MARK_INFO), *end = t + n;
    static const char *const keys[] = {"tests ",   "pass ", "fail ",       "cancelled ",
                                       "skipped ", "todo ", "duration_ms "};
    for (size_t i = 0; i < 7; i++) {
        if (!tr_starts(p, (size_t)(end - p), keys[i]))
            continue;
        const char *v = p + strlen(keys[i]);
        uint64_t x = 0;
        int64_t ms;
        if (i == 6) {
            if (tr_read_milli(&v, end, &ms))
                st->run.duration_ms = ms / 1000;
            if (st->have_tests) {
                st->run.passed = st->pass;
                st->run.failed = st->fail + st->cancelled;
                st->run.skipped = st->skipped + st->todo;
                tr_emit(sink, &st->run);
            }
            reset(st);
            return;
        }
        if (!tr_read_u64(&v, end, &x))
            return;
        uint64_t *slot[] = {NULL, &st->pass, &st->fail, &st->cancelled, &st->skipped, &st->todo};
        if (i == 0)
            st->have_tests = true;
        else
            *slot[i] = x;
        return;
    }
}

static void node_end(void *state, const tr_sink *sink)
{
    (void)sink;
    reset(state); /* no footer: the run did not finish */
    ((node_state *)state)->recap = false;
}

static void node_free(void *state)
{
    tr_run_clear(&((node_state *)state)->run);
}

const tr_parser tr_nodetest = {
    .name = "node",
    .state_size = sizeof(node_state),
    .line = node_line,
    .end = node_end,
    .free = node_free,
};
