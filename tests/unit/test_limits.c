/* links: server store common */
/* server/limits.h: the limit a step is held to, and the marker line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/limits.h"

static ls_server_config config(int64_t step, int64_t build)
{
    ls_server_config c;
    memset(&c, 0, sizeof(c));
    c.max_step_bytes = step;
    c.max_build_bytes = build;
    c.chunk_bytes = 4096;
    return c;
}

static void test_step_limit(void **state)
{
    ls_server_config c = config(1000000, 0);
    /* no build limit: the step limit, whatever the build holds */
    assert_int_equal(ls_limits_step_limit(&c, 50000000, 10), 1000000);
    c = config(1000000, 3000000);
    /* the build has room: the step limit */
    assert_int_equal(ls_limits_step_limit(&c, 1500000, 500000), 1000000);
    /* other steps hold 2.6 MB of 3 MB: 400 KB left for this one */
    assert_int_equal(ls_limits_step_limit(&c, 2800000, 200000), 400000);
    /* others over the build limit: the floor of four chunks */
    assert_int_equal(ls_limits_step_limit(&c, 9000000, 100), 4 * 4096);
    /* the floor never exceeds the step limit */
    c = config(10000, 20000);
    assert_int_equal(ls_limits_step_limit(&c, 9000000, 100), 10000);
}

static void test_marker_text(void **state)
{
    ls_server_config c = config(262144, 1048576);
    char buf[400];
    size_t n = ls_limits_marker_text(&c, 9560, 956000, 1200000, buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf, "\xe2\x80\xa6 9560 lines (956000 bytes) dropped: the step's log "
                             "exceeded --max-step-bytes (262144 bytes); the first lines and the "
                             "most recent lines are kept \xe2\x80\xa6");
    /* a step below its own limit was held by the build's */
    ls_limits_marker_text(&c, 5, 500, 200000, buf, sizeof(buf));
    assert_non_null(strstr(buf, "the build's logs exceeded --max-build-bytes (1048576 bytes)"));
    /* cut to the buffer, NUL-terminated */
    char small[16];
    n = ls_limits_marker_text(&c, 5, 500, 200000, small, sizeof(small));
    assert_int_equal(n, sizeof(small) - 1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_marker_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
