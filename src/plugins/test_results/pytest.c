/* test-results: pytest.
 *
 * A run starts at "=== test session starts ===" (or, with -q, at the
 * FAILURES / short summary sections) and ends at the final summary line
 * "=== 4 failed, 1 passed, 2 skipped in 0.03s ===" ("-q" prints it without
 * the '='), whose counts are the run's: passed and xpassed are passed, failed
 * and error(s) are failed, skipped and xfailed are skipped; deselected tests
 * were not selected and are not counted. Failed tests come from the FAILURES
 * and ERRORS sections ("___ name ___" then the "E   ..." lines as the message)
 * and are renamed to their node id from the short summary ("FAILED
 * test_x.py::TestA::test_b - message"), which also adds the ones with no
 * section (--tb=no). */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

enum { SEC_NONE, SEC_FAILURES, SEC_SUMMARY, SEC_OTHER };

typedef struct pytest_state {
    bool active;
    int section;
    tr_failure *current;
    tr_run run;
} pytest_state;

/* "=== TITLE ===" -> TITLE; false for anything else. */
static bool banner(const char *s, size_t len, const char **ret, size_t *ret_len)
{
    if (len < 5 || s[0] != '=' || s[len - 1] != '=')
        return false;
    size_t a = 0, b = len;
    while (a < len && s[a] == '=')
        a++;
    while (b > a && s[b - 1] == '=')
        b--;
    if (a < 2 || len - b < 2 || b <= a + 2 || s[a] != ' ' || s[b - 1] != ' ')
        return false;
    size_t n = b - a;
    *ret = tr_trim(s + a, &n);
    *ret_len = n;
    return n > 0;
}

typedef struct counts {
    uint64_t passed, failed, skipped;
    bool unknown;
} counts;

static void count_word(void *ud, uint64_t n, const char *w, size_t wlen)
{
    counts *c = ud;
    if (tr_word_is(w, wlen, "passed") || tr_word_is(w, wlen, "xpassed"))
        c->passed += n;
    else if (tr_word_is(w, wlen, "failed") || tr_word_is(w, wlen, "error") ||
             tr_word_is(w, wlen, "errors"))
        c->failed += n;
    else if (tr_word_is(w, wlen, "skipped") || tr_word_is(w, wlen, "xfailed"))
        c->skipped += n;
    else if (!tr_word_is(w, wlen, "deselected") && !tr_word_is(w, wlen, "warning") &&
             !tr_word_is(w, wlen, "warnings") && !tr_word_is(w, wlen, "rerun"))
        c->unknown = true;
}

/* "4 failed, 1 passed in 0.03s" or "no tests ran in 0.01s" (optionally followed
 * by " (0:00:00)"): the counts and the duration. */
static bool summary(const char *s, size_t len, counts *c, int64_t *ret_ms)
{
    /* cheap rejection first: this is tried on every line */
    if (len < 10 || !((s[0] >= '0' && s[0] <= '9') || s[0] == 'n') ||
        !(s[len - 1] == 's' || s[len - 1] == ')'))
        return false;
    const char *in = NULL;
    for (const char *p = s; (p = tr_find(p, len - (size_t)(p - s), " in ")); p++)
        in = p;
    if (!in)
        return false;
    const char *d = in + 4, *end = s + len;
    int64_t ms;
    if (!tr_read_milli(&d, end, &ms) || d >= end || *d != 's')
        return false;
    d++;
    if (d < end && !(tr_starts(d, (size_t)(end - d), " (") && end[-1] == ')'))
        return false;
    memset(c, 0, sizeof(*c));
    size_t n = (size_t)(in - s);
    if (!(n == 12 && memcmp(s, "no tests ran", 12) == 0)) {
        if (tr_count_pairs(s, n, ", ", count_word, c) <= 0 || c->unknown)
            return false;
    }
    *ret_ms = ms;
    return true;
}

static void start(pytest_state *st)
{
    tr_run_reset(&st->run, "pytest");
    st->active = true;
    st->section = SEC_NONE;
    st->current = NULL;
}

/* A section name "TestCart.test_total" matches node id "f.py::TestCart::test_total". */
static bool same_test(const char *name, const char *id, size_t idlen)
{
    size_t n = strlen(name);
    char conv[TR_MAX_NAME + 4];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 2 < sizeof(conv); i++) {
        if (name[i] == '.') {
            conv[k++] = ':';
            conv[k++] = ':';
        } else {
            conv[k++] = name[i];
        }
    }
    if (k == 0 || k + 2 > idlen)
        return false;
    return memcmp(id + idlen - k, conv, k) == 0 && id[idlen - k - 1] == ':' &&
           id[idlen - k - 2] == ':';
}

static void short_summary(pytest_state *st, const char *s, size_t len)
{
    size_t skip = tr_starts(s, len, "FAILED ") ? 7 : tr_starts(s, len, "ERROR ") ? 6 : 0;
    if (!skip)
        return;
    const char *id = s + skip, *end = s + len;
    const char *dash = tr_find(id, (size_t)(end - id), " - ");
    size_t idlen = (size_t)((dash ? dash : end) - id);
    for (size_t i = 0; i < st->run.n_failures; i++) {
        tr_failure *f = st->run.failures[i];
        if (same_test(f->name, id, idlen)) {
            tr_failure_rename(f, id, idlen);
            return;
        }
        if (strlen(f->name) == idlen && memcmp(f->name, id, idlen) == 0)
            return;
    }
    tr_failure *f = tr_run_add_failure(&st->run, id, idlen);
    if (f && dash)
        tr_failure_add_line(f, dash + 3, (size_t)(end - dash - 3));
}

static void pytest_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    pytest_state *st = state;
    st->run.max_failures = sink->max_failures;
    const char *title;
    size_t tlen;
    counts c;
    int64_t ms;
    bool is_banner = banner(s, len, &title, &tlen);
    if (is_banner && tr_word_is(title, tlen, "test session starts")) {
        start(st);
        return;
    }
    if (is_banner && (tr_word_is(title, tlen, "FAILURES") || tr_word_is(title, tlen, "ERRORS") ||
                      tr_word_is(title, tlen, "short test summary info"))) {
        if (!st->active)
            start(st);
        st->section = title[0] == 's' ? SEC_SUMMARY : SEC_FAILURES;
        st->current = NULL;
        return;
    }
    if ((is_banner && summary(title, tlen, &c, &ms)) || (!is_banner && summary(s, len, &c, &ms))) {
        if (!st->active)
            start(st);
        st->run.passed = c.passed;
        st->run.failed = c.failed;
        st->run.skipped = c.skipped;
        st->run.duration_ms = ms;
        tr_emit(sink, &st->run);
        st->active = false;
        return;
    }
    if (!st->active)
        return;
    if (is_banner) {
        st->section = SEC_OTHER;
        st->current = NULL;
        return;
    }
    if (st->section == SEC_FAILURES) {
        if (len > 4 && s[0] == '_' && s[len - 1] == '_') {
            size_t a = 0, b = len;
            while (a < len && s[a] == '_')
                a++;
            while (b > a && s[b - 1] == '_')
                b--;
            if (b > a) {
                size_t n = b - a;
                const char *name = tr_trim(s + a, &n);
                if (n)
                    st->current = tr_run_add_failure(&st->run, name, n);
                return;
            }
        }
        if (len >= 1 && s[0] == 'E' && (len == 1 || s[1] == ' ')) {
            size_t k = 1;
            while (k < len && k < 8 && s[k] == ' ')
                k++;
            tr_failure_add_line(st->current, s + k, len - k);
        }
    } else if (st->section == SEC_SUMMARY) {
        short_summary(st, s, len);
    }
}

static void pytest_end(void *state, const tr_sink *sink)
{
    pytest_state *st = state;
    /* a session without its summary line (killed, crashed) is not a run */
    tr_run_clear(&st->run);
    st->active = false;
    (void)sink;
}

static void pytest_free(void *state)
{
    tr_run_clear(&((pytest_state *)state)->run);
}

const tr_parser tr_pytest = {
    .name = "pytest",
    .state_size = sizeof(pytest_state),
    .line = pytest_line,
    .end = pytest_end,
    .free = pytest_free,
};
