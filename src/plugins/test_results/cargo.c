/* test-results: cargo test (libtest's console output).
 *
 * Each test binary prints "running N tests", one "test name ... ok|FAILED|
 * ignored" line per test, its failures ("---- name stdout ----" blocks, then
 * a "failures:" list) and "test result: FAILED. 1 passed; 2 failed; 0 ignored;
 * 0 measured; 0 filtered out; finished in 0.09s". cargo prints no grand
 * total, so one `cargo test` is one run summing its binaries (unit tests,
 * integration tests, doc-tests): passed + measured are passed, ignored are
 * skipped, filtered-out tests were not selected. The run ends at cargo's
 * "error: test failed" line, at the first line after a "test result" that is
 * not cargo's, or at the end of the step. */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

enum { C_NONE, C_DETAIL, C_LIST };

typedef struct cargo_state {
    bool active, in_binary, after_result, have_duration;
    int section;
    tr_failure *current;
    tr_run run;
} cargo_state;

static void start(cargo_state *st)
{
    if (st->active)
        return;
    tr_run_reset(&st->run, "cargo");
    st->active = true;
    st->have_duration = false;
}

static void finish(cargo_state *st, const tr_sink *sink)
{
    if (st->active)
        tr_emit(sink, &st->run);
    tr_run_clear(&st->run);
    st->active = st->in_binary = st->after_result = false;
    st->section = C_NONE;
    st->current = NULL;
}

typedef struct tally {
    uint64_t passed, failed, ignored;
    bool bad;
} tally;

static void tally_word(void *ud, uint64_t n, const char *w, size_t wlen)
{
    tally *t = ud;
    if (tr_word_is(w, wlen, "passed") || tr_word_is(w, wlen, "measured"))
        t->passed += n;
    else if (tr_word_is(w, wlen, "failed"))
        t->failed += n;
    else if (tr_word_is(w, wlen, "ignored"))
        t->ignored += n;
    else if (!tr_word_is(w, wlen, "filtered out"))
        t->bad = true;
}

/* "test result: ok. 2 passed; 0 failed; ...; finished in 0.00s" */
static bool result_line(cargo_state *st, const char *s, size_t len)
{
    if (!tr_starts(s, len, "test result: "))
        return false;
    const char *dot = memchr(s, '.', len);
    if (!dot || (size_t)(s + len - dot) < 2)
        return false;
    const char *p = dot + 2, *end = s + len;
    const char *fin = tr_find(p, (size_t)(end - p), "; finished in ");
    tally t = {0};
    if (tr_count_pairs(p, (size_t)((fin ? fin : end) - p), "; ", tally_word, &t) <= 0 || t.bad)
        return false;
    start(st);
    st->run.passed += t.passed;
    st->run.failed += t.failed;
    st->run.skipped += t.ignored;
    if (fin) {
        const char *d = fin + 14;
        int64_t ms;
        if (tr_read_milli(&d, end, &ms)) {
            if (!st->have_duration)
                st->run.duration_ms = 0;
            st->run.duration_ms = tr_add_ms(st->run.duration_ms, ms);
            st->have_duration = true;
        }
    }
    return true;
}

/* "test NAME ... FAILED" (NAME may end with " - should panic"). */
static void test_line(cargo_state *st, const char *s, size_t len)
{
    if (!tr_ends(s, len, " ... FAILED"))
        return;
    size_t n = len - 5 - 11;
    const char *name = s + 5;
    const char *sp = tr_find(name, n, " - should panic");
    if (sp)
        n = (size_t)(sp - name);
    if (!tr_run_find_failure(&st->run, name, n))
        tr_run_add_failure(&st->run, name, n);
}

static bool cargo_own_line(const char *s, size_t len)
{
    size_t ind = tr_indent(s, len);
    const char *t = s + ind;
    size_t n = len - ind;
    return len == 0 || tr_starts(t, n, "Running ") || tr_starts(t, n, "Doc-tests ") ||
           tr_starts(s, len, "running ") || tr_starts(s, len, "all doctests ran in ") ||
           tr_starts(t, n, "Finished ") || tr_starts(t, n, "Compiling ") || tr_starts(t, n, "`");
}

static void cargo_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    cargo_state *st = state;
    st->run.max_failures = sink->max_failures;
    uint64_t n;
    const char *p = s + 8, *end = s + len;
    if (tr_starts(s, len, "running ") && tr_read_u64(&p, end, &n) &&
        (tr_starts(p, (size_t)(end - p), " tests") || tr_starts(p, (size_t)(end - p), " test")) &&
        (p[5] == '\0' || p[6] == '\0')) {
        start(st);
        st->in_binary = true;
        st->after_result = false;
        st->section = C_NONE;
        st->current = NULL;
        return;
    }
    if (result_line(st, s, len)) {
        st->in_binary = false;
        st->after_result = true;
        st->section = C_NONE;
        st->current = NULL;
        return;
    }
    if (!st->active)
        return;
    if (st->in_binary) {
        if (tr_starts(s, len, "test ") && st->section == C_NONE) {
            test_line(st, s, len);
        } else if (len == 9 && memcmp(s, "failures:", 9) == 0) {
            st->section = st->section == C_NONE ? C_DETAIL : C_LIST;
            st->current = NULL;
        } else if (tr_starts(s, len, "---- ") && tr_ends(s, len, " ----") && len > 10) {
            size_t k = len - 10;
            const char *name = s + 5;
            const char *sp = tr_find(name, k, " stdout");
            if (!sp)
                sp = tr_find(name, k, " stderr");
            if (sp)
                k = (size_t)(sp - name);
            st->current = tr_run_find_failure(&st->run, name, k);
            if (!st->current)
                st->current = tr_run_add_failure(&st->run, name, k);
            st->section = C_DETAIL;
        } else if (st->section == C_DETAIL) {
            tr_failure_add_line(st->current, s, len);
        }
        return;
    }
    if (st->after_result) {
        if (tr_starts(s, len, "error: "))
            finish(st, sink);
        else if (!cargo_own_line(s, len))
            finish(st, sink);
    }
}

static void cargo_end(void *state, const tr_sink *sink)
{
    finish(state, sink);
}

static void cargo_free(void *state)
{
    tr_run_clear(&((cargo_state *)state)->run);
}

const tr_parser tr_cargo = {
    .name = "cargo",
    .state_size = sizeof(cargo_state),
    .line = cargo_line,
    .end = cargo_end,
    .free = cargo_free,
};
