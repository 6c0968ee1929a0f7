/* test-results: jasmine (not yet recognised). */
#include "plugins/test_results/tr_stream.h"

static void jasmine_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    (void)state;
    (void)sink;
    (void)s;
    (void)len;
}

static void jasmine_end(void *state, const tr_sink *sink)
{
    (void)state;
    (void)sink;
}

const tr_parser tr_jasmine = {
    .name = "jasmine",
    .state_size = 1,
    .line = jasmine_line,
    .end = jasmine_end,
    .free = NULL,
};
