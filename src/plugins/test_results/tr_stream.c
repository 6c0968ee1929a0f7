/* test-results: the per-step collector (tr_stream.h). */
#include "plugins/test_results/tr_stream.h"

#include <stdlib.h>

#include "common/alloc.h"
#include "plugins/test_results/tr_ansi.h"

static const tr_parser *const all_parsers[] = {
    &tr_pytest,  &tr_unittest, &tr_gotest, &tr_cargo, &tr_jest,     &tr_mocha,
    &tr_jasmine, &tr_nodetest, &tr_tap,    &tr_ctest, &tr_surefire,
};
#define N_PARSERS (sizeof(all_parsers) / sizeof(all_parsers[0]))

struct tr_stream {
    tr_sink sink;
    ls_buf clean;
    void *states[N_PARSERS];
};

const tr_parser *const *tr_parsers(size_t *ret_count)
{
    *ret_count = N_PARSERS;
    return all_parsers;
}

tr_stream *tr_stream_new(const tr_sink *sink)
{
    tr_stream *s = ls_xcalloc(1, sizeof(*s));
    s->sink = *sink;
    for (size_t i = 0; i < N_PARSERS; i++)
        s->states[i] = ls_xcalloc(1, all_parsers[i]->state_size);
    return s;
}

void tr_stream_line(tr_stream *s, const char *line, size_t len)
{
    tr_ansi_strip(line, len, &s->clean);
    for (size_t i = 0; i < N_PARSERS; i++)
        all_parsers[i]->line(s->states[i], &s->sink, s->clean.data, s->clean.len);
}

void tr_stream_end(tr_stream *s)
{
    for (size_t i = 0; i < N_PARSERS; i++)
        all_parsers[i]->end(s->states[i], &s->sink);
}

void tr_stream_free(tr_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < N_PARSERS; i++) {
        if (all_parsers[i]->free)
            all_parsers[i]->free(s->states[i]);
        free(s->states[i]);
    }
    ls_buf_free(&s->clean);
    free(s);
}
