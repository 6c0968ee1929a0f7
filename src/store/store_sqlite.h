/* The SQLite back end's object and statements, shared by its files
 * (store_sqlite.c: open, builds and steps; store_sqlite_log.c: log chunks).
 * Internal to src/store. */
#ifndef LS_STORE_STORE_SQLITE_H
#define LS_STORE_STORE_SQLITE_H

#include "common/buf.h"
#include "store/chunk.h"
#include "store/sqlite_conn.h"
#include "store/store_backend.h"

/* Statement ids; the texts are in store_sqlite.c. */
enum {
    SQL_BEGIN,
    SQL_COMMIT,
    SQL_ROLLBACK,
    SQL_BUILD_INSERT,
    SQL_STEP_INSERT,
    SQL_BUILD_GET,
    SQL_BUILD_LIST,
    SQL_BUILD_UPDATE,
    SQL_STEP_GET,
    SQL_STEPS_OF_BUILD,
    SQL_STEP_UPDATE,
    SQL_STEP_COUNTERS,
    SQL_STEP_SET_COUNTERS,
    SQL_OPEN_SIZE,
    SQL_OPEN_ROWS,
    SQL_OPEN_DELETE,
    SQL_CHUNK_INSERT,
    SQL_CHUNK_RANGE,
    SQL_COUNT
};

typedef struct ls_store_sqlite {
    ls_store base;
    size_t chunk_bytes;
    /* Writer side, used under writer.lock. */
    ls_sqlite_conn writer;
    ls_chunk_compressor *compressor;
    ls_chunk_decoder *merge_decoder; /* reads open rows back when sealing */
    ls_chunk_writer pending;         /* new lines not yet in a row */
    ls_chunk_writer merged;          /* open rows + pending, being sealed */
    ls_buf sealed;                   /* compressed blob */
    /* Reader side, used under reader.lock. */
    ls_sqlite_conn reader;
    ls_chunk_decoder *read_decoder;
} ls_store_sqlite;

/* With writer.lock held: 0 when step `step` of build `build_id` exists,
 * -ENOENT ("no step ...") when it does not, or a negative errno (`what`
 * names the lookup in that message). */
int ls_store_sqlite_step_exists(ls_store_sqlite *s, int64_t build_id, int step, const char *what);

/* Runs SQL_BEGIN / SQL_COMMIT / SQL_ROLLBACK on the writer (ROLLBACK ignores errors). */
int ls_store_sqlite_begin(ls_store_sqlite *s);
int ls_store_sqlite_commit(ls_store_sqlite *s);
void ls_store_sqlite_rollback(ls_store_sqlite *s);

/* Log operations (store_sqlite_log.c). */
int ls_store_sqlite_append(ls_store *st, const ls_store_batch *batches, size_t n_batches);
int ls_store_sqlite_read(ls_store *st, int64_t build_id, int step, uint64_t from_seq,
                         uint64_t limit, ls_store_line_cb cb, void *userdata);

/* API tokens (store_sqlite_tokens.c), the ops behind ls_store_*_token. */
int ls_store_sqlite_create_token(ls_store *st, const ls_token_info *tok, int64_t *ret_id);
int ls_store_sqlite_find_token(ls_store *st, const unsigned char hash[LS_TOKEN_HASH_BYTES],
                               ls_token_info *ret_token);
int ls_store_sqlite_list_tokens(ls_store *st, ls_token_info **ret_tokens, size_t *ret_n);
int ls_store_sqlite_delete_token(ls_store *st, int64_t id);

/* Size limits and retention (store_sqlite_limits.c), the ops behind
 * ls_store_drop_middle etc. */
int ls_store_sqlite_drop_middle(ls_store *st, int64_t build_id, int step, uint64_t head_bytes,
                                uint64_t excess_bytes, ls_step_info *ret_step);
int ls_store_sqlite_build_bytes(ls_store *st, int64_t build_id, uint64_t *ret_bytes);
int ls_store_sqlite_delete_build(ls_store *st, int64_t build_id);
int ls_store_sqlite_list_finished_before(ls_store *st, int64_t before_ms, int64_t after_id,
                                         size_t max, int64_t **ret_ids, size_t *ret_n);

/* Test runs (store_sqlite_tests.c), the ops behind store_tests.h. */
int ls_store_sqlite_add_test_run(ls_store *st, const ls_test_run *run, int64_t *ret_id);
int ls_store_sqlite_list_test_runs(ls_store *st, int64_t build_id, ls_test_run **ret_runs,
                                   size_t *ret_n);

/* Tool-usage events (store_sqlite_tools.c), the ops behind store_tools.h. */
int ls_store_sqlite_add_tool_events(ls_store *st, const ls_tool_event *events, size_t n,
                                    bool *ret_added);
int ls_store_sqlite_list_tool_events(ls_store *st, int64_t build_id, int64_t after_id, size_t limit,
                                     ls_tool_event **ret_events, size_t *ret_n);

#endif
