/* test-results: ctest (not yet recognised). */
#include "plugins/test_results/tr_stream.h"

static void ctest_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    (void)state;
    (void)sink;
    (void)s;
    (void)len;
}

static void ctest_end(void *state, const tr_sink *sink)
{
    (void)state;
    (void)sink;
}

const tr_parser tr_ctest = {
    .name = "ctest",
    .state_size = 1,
    .line = ctest_line,
    .end = ctest_end,
    .free = NULL,
};
