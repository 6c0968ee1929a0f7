/* links: cli common */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* src/cli is linked into the logstream executable, not a library. */
#include "cli/ansi_strip.h"

/* Strips s fed in pieces of `step` bytes (0 = whole) and compares with want. */
static void check(const char *s, size_t step, const char *want)
{
    ls_ansi_strip st = LS_ANSI_STRIP_INIT;
    ls_buf out = LS_BUF_INIT;
    size_t len = strlen(s);
    if (step == 0)
        step = len ? len : 1;
    for (size_t i = 0; i < len; i += step)
        ls_ansi_strip_feed(&st, s + i, len - i < step ? len - i : step, &out);
    assert_string_equal(out.data ? out.data : "", want);
    ls_buf_free(&out);
}

static void check_all_splits(const char *s, const char *want)
{
    for (size_t step = 0; step <= strlen(s); step++)
        check(s, step, want);
}

static void test_plain_text_unchanged(void **state)
{
    check_all_splits("hello\tworld\r", "hello\tworld\r");
    check_all_splits("", "");
    check_all_splits("h\xc3\xa9llo", "h\xc3\xa9llo"); /* UTF-8 kept */
}

static void test_sgr_colours_removed(void **state)
{
    check_all_splits("\x1b[1;31merror\x1b[0m: bad", "error: bad");
    check_all_splits("\x1b[38;5;196mred\x1b[m", "red");
    check_all_splits("a\x1b[2Kb\x1b[?25lc", "abc");
}

static void test_osc_and_string_sequences_removed(void **state)
{
    check_all_splits("\x1b]0;title\x07text", "text");
    check_all_splits("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link");
    check_all_splits("\x1bPq#0\x1b\\after", "after");
}

static void test_short_escapes_removed(void **state)
{
    check_all_splits("\x1b(Babc\x1b"
                     "7x\x1b"
                     "8",
                     "abcx");
}

static void test_newline_ends_a_broken_sequence(void **state)
{
    check_all_splits("\x1b]0;never ended\nnext", "\nnext");
    check_all_splits("\x1b[12\nok", "\nok");
}

/* Found by fuzz/fuzz_ansi_strip.c: an ESC inside a CSI or an ESC-intermediate
 * sequence was kept as text, so a sequence reached the terminal. */
static void test_escape_inside_a_sequence_starts_a_new_one(void **state)
{
    check_all_splits("a\x1b[3\x1b[0mb", "ab");
    check_all_splits("x\x1b(\x1b[1my", "xy");
    check_all_splits("\x1b\x1b\x1b$\x1b\x1b"
                     "1\x1b\x1b",
                     "");
}

static void test_reset_between_lines(void **state)
{
    ls_ansi_strip st = LS_ANSI_STRIP_INIT;
    ls_buf out = LS_BUF_INIT;
    ls_ansi_strip_feed(&st, "a\x1b[3", 4, &out);
    ls_ansi_strip_reset(&st);
    ls_ansi_strip_feed(&st, "1mb", 3, &out);
    assert_string_equal(out.data, "a1mb");
    ls_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_unchanged),
        cmocka_unit_test(test_sgr_colours_removed),
        cmocka_unit_test(test_osc_and_string_sequences_removed),
        cmocka_unit_test(test_short_escapes_removed),
        cmocka_unit_test(test_newline_ends_a_broken_sequence),
        cmocka_unit_test(test_escape_inside_a_sequence_starts_a_new_one),
        cmocka_unit_test(test_reset_between_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
