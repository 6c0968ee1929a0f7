/* test-results: mocha (not yet recognised). */
#include "plugins/test_results/tr_stream.h"

static void mocha_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    (void)state;
    (void)sink;
    (void)s;
    (void)len;
}

static void mocha_end(void *state, const tr_sink *sink)
{
    (void)state;
    (void)sink;
}

const tr_parser tr_mocha = {
    .name = "mocha",
    .state_size = 1,
    .line = mocha_line,
    .end = mocha_end,
    .free = NULL,
};
