/* test-results: surefire (not yet recognised). */
#include "plugins/test_results/tr_stream.h"

static void surefire_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    (void)state;
    (void)sink;
    (void)s;
    (void)len;
}

static void surefire_end(void *state, const tr_sink *sink)
{
    (void)state;
    (void)sink;
}

const tr_parser tr_surefire = {
    .name = "surefire",
    .state_size = 1,
    .line = surefire_line,
    .end = surefire_end,
    .free = NULL,
};
