/* test-results: Mocha (spec reporter, the default).
 *
 * After the tests come the counts: "  3 passing (19ms)", "  2 failing",
 * "  1 pending" (passed, failed, skipped), then the failures:
 * "  1) suite" / "       test:" (the name may span lines up to the ':'),
 * then the message and stack. Mocha prints no end marker: a run without
 * failures ends at the first line after its counts; one with failures at
 * two empty lines after the last failure's stack ("at ..."), or at the end
 * of the step. */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

enum { M_NONE, M_COUNTS, M_DETAILS };

typedef struct mocha_state {
    int mode;
    tr_run run;
    uint64_t entries;
    tr_failure *current;
    bool in_name, saw_stack;
    int empties;
    ls_buf name;
} mocha_state;

static void finish(mocha_state *st, const tr_sink *sink)
{
    if (st->mode != M_NONE)
        tr_emit(sink, &st->run);
    tr_run_clear(&st->run);
    st->mode = M_NONE;
    st->entries = 0;
    st->current = NULL;
    st->in_name = st->saw_stack = false;
    st->empties = 0;
    ls_buf_reset(&st->name);
}

/* "  3 passing (19ms)" / "  2 failing" / "  1 pending": which (0..2) and n. */
static int count_line(const char *s, size_t len, uint64_t *n, int64_t *ms)
{
    const char *p = s, *end = s + len;
    if (tr_indent(s, len) != 2)
        return -1;
    p += 2;
    if (!tr_read_u64(&p, end, n))
        return -1;
    size_t rest = (size_t)(end - p);
    if (tr_starts(p, rest, " passing")) {
        p += 8;
        *ms = -1;
        if (tr_starts(p, (size_t)(end - p), " (")) {
            p += 2;
            int64_t v;
            if (tr_read_milli(&p, end, &v)) {
                if (tr_starts(p, (size_t)(end - p), "ms)"))
                    *ms = v / 1000;
                else if (tr_starts(p, (size_t)(end - p), "s)"))
                    *ms = v;
                else if (tr_starts(p, (size_t)(end - p), "m)"))
                    *ms = v * 60;
            }
        }
        return 0;
    }
    if (tr_word_is(p, rest, " failing"))
        return 1;
    if (tr_word_is(p, rest, " pending"))
        return 2;
    return -1;
}

/* "  1) name..." : true with the text after ") ". */
static bool entry_line(const char *s, size_t len, const char **ret, size_t *ret_len)
{
    if (tr_indent(s, len) != 2)
        return false;
    const char *p = s + 2, *end = s + len;
    uint64_t n;
    if (!tr_read_u64(&p, end, &n) || !tr_starts(p, (size_t)(end - p), ") "))
        return false;
    *ret = p + 2;
    *ret_len = (size_t)(end - p - 2);
    return true;
}

static void name_part(mocha_state *st, const char *s, size_t len)
{
    size_t n = len;
    s = tr_trim(s, &n);
    bool last = n && s[n - 1] == ':';
    if (last)
        n--;
    if (st->name.len)
        ls_buf_putc(&st->name, ' ');
    ls_buf_append(&st->name, s, n);
    if (last) {
        st->current = tr_run_add_failure(&st->run, st->name.data, st->name.len);
        st->in_name = false;
        ls_buf_reset(&st->name);
    }
}

static void mocha_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    mocha_state *st = state;
    st->run.max_failures = sink->max_failures;
    uint64_t n;
    int64_t ms;
    int which = count_line(s, len, &n, &ms);
    if (which == 0) {
        finish(st, sink);
        tr_run_reset(&st->run, "mocha");
        st->mode = M_COUNTS;
        st->run.passed = n;
        st->run.duration_ms = ms;
        return;
    }
    if (st->mode == M_NONE)
        return;
    if (st->mode == M_COUNTS) {
        if (which == 1) {
            st->run.failed = n;
            return;
        }
        if (which == 2) {
            st->run.skipped = n;
            return;
        }
        if (len == 0)
            return;
        if (st->run.failed == 0) {
            finish(st, sink);
            return;
        }
        st->mode = M_DETAILS;
    }
    /* M_DETAILS */
    const char *rest;
    size_t rlen;
    if (entry_line(s, len, &rest, &rlen)) {
        st->entries++;
        st->current = NULL;
        st->saw_stack = false;
        st->empties = 0;
        st->in_name = true;
        ls_buf_reset(&st->name);
        name_part(st, rest, rlen);
        return;
    }
    if (st->in_name) {
        name_part(st, s, len);
        return;
    }
    if (len == 0) {
        st->empties++;
        if (st->entries >= st->run.failed && st->saw_stack && st->empties >= 2) {
            finish(st, sink);
            return;
        }
    } else {
        st->empties = 0;
    }
    size_t ind = tr_indent(s, len);
    if (tr_starts(s + ind, len - ind, "at "))
        st->saw_stack = true;
    size_t k = ind < 6 ? ind : 6;
    tr_failure_add_line(st->current, s + k, len - k);
}

static void mocha_end(void *state, const tr_sink *sink)
{
    finish(state, sink);
}

static void mocha_free(void *state)
{
    mocha_state *st = state;
    tr_run_clear(&st->run);
    ls_buf_free(&st->name);
}

const tr_parser tr_mocha = {
    .name = "mocha",
    .state_size = sizeof(mocha_state),
    .line = mocha_line,
    .end = mocha_end,
    .free = mocha_free,
};
