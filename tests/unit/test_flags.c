/* links: common */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/flags.h"

typedef struct opts {
    char *listen;
    int64_t workers;
    int64_t max_body;
    int64_t flush;
    bool verbose;
    bool quiet;
} opts;

static opts o;

static const ls_flag flag_table[] = {
    {"listen", 'l', LS_FLAG_STRING, &o.listen, "127.0.0.1:8080", "address to listen on"},
    {"workers", 'w', LS_FLAG_INT, &o.workers, "4", "worker threads"},
    {"max-body", 0, LS_FLAG_SIZE, &o.max_body, "10MiB", "request body limit"},
    {"flush-interval", 'f', LS_FLAG_DURATION, &o.flush, "250ms", "database flush interval"},
    {"verbose", 'v', LS_FLAG_BOOL, &o.verbose, NULL, "say more"},
    {"quiet", 'q', LS_FLAG_BOOL, &o.quiet, "false", "say less"},
    {NULL, 0, 0, NULL, NULL, NULL},
};

static int setup(void **state)
{
    memset(&o, 0, sizeof(o));
    unsetenv("LOGSTREAM_FLUSH_INTERVAL");
    unsetenv("LOGSTREAM_LISTEN");
    unsetenv("LOGSTREAM_VERBOSE");
    return 0;
}

static int teardown(void **state)
{
    ls_flags_free(flag_table);
    return 0;
}

/* Parses a NULL-terminated list of words. */
static int parse_words(char *err, size_t errlen, const char **pos, int max_pos, int *npos, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, npos);
    for (char *w; (w = va_arg(ap, char *)) != NULL && argc < 32;)
        argv[argc++] = w;
    va_end(ap);
    return ls_flags_parse(flag_table, argc, argv, pos, max_pos, npos, err, errlen);
}

static void test_defaults(void **state)
{
    char err[256] = "";
    int npos = -1;
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, NULL), 0);
    assert_int_equal(npos, 0);
    assert_string_equal(o.listen, "127.0.0.1:8080");
    assert_int_equal(o.workers, 4);
    assert_int_equal(o.max_body, 10 * 1024 * 1024);
    assert_int_equal(o.flush, 250);
    assert_false(o.verbose);
    assert_false(o.quiet);
}

static void test_long_forms(void **state)
{
    char err[256] = "";
    int npos = 0;
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--listen=0.0.0.0:1",
                                 "--workers", "16", "--max-body=64KiB", "--flush-interval", "2s",
                                 "--verbose", "--quiet=true", NULL),
                     0);
    assert_string_equal(o.listen, "0.0.0.0:1");
    assert_int_equal(o.workers, 16);
    assert_int_equal(o.max_body, 64 * 1024);
    assert_int_equal(o.flush, 2000);
    assert_true(o.verbose);
    assert_true(o.quiet);
}

static void test_short_forms(void **state)
{
    char err[256] = "";
    int npos = 0;
    assert_int_equal(
        parse_words(err, sizeof(err), NULL, 0, &npos, "-l", "[::1]:9", "-w8", "-vq", NULL), 0);
    assert_string_equal(o.listen, "[::1]:9");
    assert_int_equal(o.workers, 8);
    assert_true(o.verbose);
    assert_true(o.quiet);
}

static void test_bool_false(void **state)
{
    char err[256] = "";
    int npos = 0;
    assert_int_equal(
        parse_words(err, sizeof(err), NULL, 0, &npos, "--verbose", "--verbose=no", NULL), 0);
    assert_false(o.verbose);
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--verbose=maybe", NULL),
                     -EINVAL);
    assert_string_equal(err, "--verbose: 'maybe' is not a boolean (try true or false)");
}

static void test_positional(void **state)
{
    char err[256] = "";
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    assert_int_equal(
        parse_words(err, sizeof(err), pos, 2, &npos, "pipe.yml", "-v", "--", "--not-a-flag", NULL),
        0);
    assert_int_equal(npos, 2);
    assert_string_equal(pos[0], "pipe.yml");
    assert_string_equal(pos[1], "--not-a-flag");
    assert_true(o.verbose);

    assert_int_equal(parse_words(err, sizeof(err), pos, 1, &npos, "a", "b", NULL), -EINVAL);
    assert_string_equal(err, "unexpected argument 'b' (see --help)");
}

static void test_env_fallback(void **state)
{
    char err[256] = "";
    int npos = 0;
    setenv("LOGSTREAM_FLUSH_INTERVAL", "1m", 1);
    setenv("LOGSTREAM_VERBOSE", "true", 1);
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, NULL), 0);
    assert_int_equal(o.flush, 60000);
    assert_true(o.verbose);
    /* the command line wins over the environment */
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "-f", "5s", NULL), 0);
    assert_int_equal(o.flush, 5000);

    setenv("LOGSTREAM_FLUSH_INTERVAL", "soon", 1);
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, NULL), -EINVAL);
    assert_string_equal(err,
                        "LOGSTREAM_FLUSH_INTERVAL: 'soon' is not a duration (try 250ms, 2s, 1m)");
}

static void test_errors(void **state)
{
    char err[256] = "";
    int npos = 0;
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--flush-interval=5x", NULL),
                     -EINVAL);
    assert_string_equal(err, "--flush-interval: '5x' is not a duration (try 250ms, 2s, 1m)");

    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--foo", NULL), -EINVAL);
    assert_string_equal(err, "unknown flag --foo (see --help)");

    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--foo=1", NULL), -EINVAL);
    assert_string_equal(err, "unknown flag --foo (see --help)");

    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "-z", NULL), -EINVAL);
    assert_string_equal(err, "unknown flag -z (see --help)");

    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--workers", NULL), -EINVAL);
    assert_string_equal(err, "--workers needs a value");

    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--workers=12a", NULL), -EINVAL);
    assert_string_equal(err, "--workers: '12a' is not an integer");

    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--max-body", "lots", NULL),
                     -EINVAL);
    assert_string_equal(err, "--max-body: 'lots' is not a size (try 512, 64KiB, 10MiB, 1GiB)");
}

static void test_help(void **state)
{
    char err[256] = "";
    int npos = 0;
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "--help", NULL), -EAGAIN);
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "-h", NULL), -EAGAIN);
    assert_int_equal(parse_words(err, sizeof(err), NULL, 0, &npos, "-v", "--help", "--foo", NULL),
                     -EAGAIN);
}

static void test_usage(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ls_flags_usage(f, "server", "[flags]", flag_table);
    fclose(f);
    assert_non_null(strstr(text, "usage: logstream server [flags]\n"));
    assert_non_null(strstr(text, "--flush-interval DURATION"));
    assert_non_null(strstr(text, "database flush interval (default: 250ms)"));
    assert_non_null(strstr(text, "-l, --listen STRING"));
    assert_non_null(strstr(text, "(default: 10MiB)"));
    assert_non_null(strstr(text, "--verbose"));
    assert_non_null(strstr(text, "--help"));
    free(text);
}

static void test_parse_size(void **state)
{
    int64_t v = -1;
    assert_int_equal(ls_parse_size("512", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(ls_parse_size("1k", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(ls_parse_size("64KiB", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(ls_parse_size("1M", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(ls_parse_size("10MiB", &v), 0);
    assert_int_equal(v, 10485760);
    assert_int_equal(ls_parse_size("1GiB", &v), 0);
    assert_int_equal(v, 1073741824);
    v = 7;
    assert_int_equal(ls_parse_size("", &v), -EINVAL);
    assert_int_equal(ls_parse_size("-1", &v), -EINVAL);
    assert_int_equal(ls_parse_size("1 KiB", &v), -EINVAL);
    assert_int_equal(ls_parse_size("1x", &v), -EINVAL);
    assert_int_equal(ls_parse_size("99999999999999999999", &v), -EINVAL);
    assert_int_equal(ls_parse_size("9999999999999TiB", &v), -EINVAL);
    assert_int_equal(v, 7);
}

static void test_parse_duration(void **state)
{
    int64_t v = -1;
    assert_int_equal(ls_parse_duration_ms("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(ls_parse_duration_ms("15s", &v), 0);
    assert_int_equal(v, 15000);
    assert_int_equal(ls_parse_duration_ms("2m", &v), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(ls_parse_duration_ms("1h", &v), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(ls_parse_duration_ms("40", &v), 0);
    assert_int_equal(v, 40);
    v = 7;
    assert_int_equal(ls_parse_duration_ms("s", &v), -EINVAL);
    assert_int_equal(ls_parse_duration_ms("5x", &v), -EINVAL);
    assert_int_equal(ls_parse_duration_ms("1.5s", &v), -EINVAL);
    assert_int_equal(ls_parse_duration_ms("-3s", &v), -EINVAL);
    assert_int_equal(v, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_false, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
