/* links: plugins pluginhost common */
/* Feeds arbitrary bytes, as lines, to every test-results parser at once (the
 * per-step collector) and checks what they emit: each run's JSON is well
 * formed enough to be valid UTF-8 text with balanced braces, lists at most
 * TR_MAX_FAILURES failures with bounded messages, and its total is the sum of
 * its counters. The first byte chooses where the step ends (tr_stream_end) so
 * runs left open are flushed at arbitrary points too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/test_results/tr_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a small max_failures: every parser must take it from the sink */
#define FUZZ_MAX_FAILURES 5

static void emit(void *ud, const tr_run *run)
{
    (void)ud;
    if (run->n_failures > FUZZ_MAX_FAILURES)
        abort();
    for (size_t i = 0; i < run->n_failures; i++) {
        if (!run->failures[i]->name || strlen(run->failures[i]->name) > TR_MAX_NAME ||
            run->failures[i]->message.len > TR_MAX_MESSAGE)
            abort();
    }
    ls_buf out = LS_BUF_INIT;
    tr_run_json(run, 1, &out);
    if (!out.data || out.data[0] != '{' || out.data[out.len - 1] != '}' ||
        strlen(out.data) != out.len)
        abort();
    ls_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t end_after = data[0];
    data++;
    size--;
    tr_sink sink = {.emit = emit, .ud = NULL, .max_failures = FUZZ_MAX_FAILURES};
    tr_stream *s = tr_stream_new(&sink);
    const char *p = (const char *)data, *end = p + size;
    size_t n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        /* the host gives a line followed by a NUL the parsers may rely on */
        char *line = malloc(len + 1);
        memcpy(line, p, len);
        line[len] = '\0';
        tr_stream_line(s, line, len);
        free(line);
        if (++n == end_after)
            tr_stream_end(s);
        p = nl ? nl + 1 : end;
    }
    tr_stream_end(s);
    tr_stream_free(s);
    return 0;
}
