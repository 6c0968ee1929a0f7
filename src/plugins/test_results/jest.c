/* test-results: jest (not yet recognised). */
#include "plugins/test_results/tr_stream.h"

static void jest_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    (void)state;
    (void)sink;
    (void)s;
    (void)len;
}

static void jest_end(void *state, const tr_sink *sink)
{
    (void)state;
    (void)sink;
}

const tr_parser tr_jest = {
    .name = "jest",
    .state_size = 1,
    .line = jest_line,
    .end = jest_end,
    .free = NULL,
};
