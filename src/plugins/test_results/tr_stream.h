/* test-results: the per-step collector. It strips each line (tr_ansi.h) and
 * gives it to every runner parser; each parser keeps its own small state per
 * step and emits runs to the sink as they complete. Two runners in one step
 * give two runs. Internal to src/plugins/test_results (also used by the unit
 * test and the fuzzer). */
#ifndef LS_PLUGINS_TR_STREAM_H
#define LS_PLUGINS_TR_STREAM_H

#include <stddef.h>

#include "plugins/test_results/tr.h"

/* One runner's parser. `state_size` bytes of zeroed state per step are
 * handed to every call. */
typedef struct tr_parser {
    const char *name;
    size_t state_size;
    /* A line without ANSI codes or trailing CR; line[len] is NUL. */
    void (*line)(void *state, const tr_sink *sink, const char *line, size_t len);
    /* No more lines for this step: emit a run still open, if any. */
    void (*end)(void *state, const tr_sink *sink);
    /* Frees what the state holds (not the state itself). */
    void (*free)(void *state);
} tr_parser;

/* The parsers, one per runner (see each file). */
extern const tr_parser tr_pytest, tr_unittest, tr_gotest, tr_cargo, tr_jest, tr_mocha, tr_jasmine,
    tr_nodetest, tr_tap, tr_ctest, tr_surefire;

/* All of the above, in a fixed order. */
const tr_parser *const *tr_parsers(size_t *ret_count);

typedef struct tr_stream tr_stream;

/* A collector for one step: runs go to sink (copied). Never NULL. */
tr_stream *tr_stream_new(const tr_sink *sink);
/* Feeds one line (raw, as the step printed it). */
void tr_stream_line(tr_stream *s, const char *line, size_t len);
/* Ends the step: emits every run still open. Lines may follow (a new run). */
void tr_stream_end(tr_stream *s);
/* Frees; NULL is a no-op. Open runs are dropped (call tr_stream_end first). */
void tr_stream_free(tr_stream *s);

#endif
