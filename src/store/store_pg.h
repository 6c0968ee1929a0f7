/* The PostgreSQL back end's object and statements, shared by its files
 * (store_pg.c: open, builds, steps; store_pg_log.c: log chunks;
 * store_pg_tokens.c: API tokens; store_pg_limits.c: dropping and deleting;
 * store_pg_tests.c: test runs;
 * pg_schema.c: migrations). Internal to src/store. */
#ifndef LS_STORE_STORE_PG_H
#define LS_STORE_STORE_PG_H

#include "common/buf.h"
#include "store/chunk.h"
#include "store/pg_conn.h"
#include "store/store_backend.h"
#include "store/store_tests.h"

/* Statement ids; the texts are in store_pg.c. Every integer parameter is a
 * bigint ($n::bigint) unless the text casts it to int. */
enum {
    PG_BUILD_LOCK_NAME,
    PG_BUILD_INSERT,
    PG_BUILD_GET,
    PG_BUILD_LIST,
    PG_BUILD_UPDATE,
    PG_STEP_GET,
    PG_STEPS_OF_BUILD,
    PG_STEP_UPDATE,
    PG_STEPS_LOCK,
    PG_OPEN_SIZES,
    PG_OPEN_ROWS,
    PG_OPEN_DELETE,
    PG_STEPS_SET_COUNTERS,
    PG_DB_SIZE,
    PG_CHUNK_RANGE,
    PG_TOKEN_INSERT,
    PG_TOKEN_FIND,
    PG_TOKEN_LIST,
    PG_TOKEN_DELETE,
    PG_DROP_LOAD,
    PG_DROP_HEAD,
    PG_DROP_CHUNK_GET,
    PG_DROP_CHUNK_DELETE,
    PG_DROP_SAVE,
    PG_BUILD_BYTES,
    PG_BUILD_CHUNKS_DELETE,
    PG_BUILD_DELETE,
    PG_FINISHED_BEFORE,
    PG_TEST_RUN_INSERT,
    PG_TEST_RUNS_OF_BUILD,
    PG_TOOL_EVENT_INSERT,
    PG_TOOL_EVENTS_OF_BUILD,
    PG_COUNT
};

/* What one pooled connection uses to append and read (index = the
 * connection's index). */
typedef struct ls_pg_scratch {
    ls_chunk_compressor *compressor;
    ls_chunk_decoder *merge_decoder; /* open rows read back when sealing */
    ls_chunk_decoder *read_decoder;
    ls_chunk_writer pending; /* new lines not yet in a row */
    ls_chunk_writer merged;  /* open rows + pending, being sealed */
    ls_buf sealed;           /* compressed blob */
    ls_buf copy;             /* COPY BINARY input: every chunk row of one append */
} ls_pg_scratch;

typedef struct ls_store_pg {
    ls_store base;
    size_t chunk_bytes;
    uint64_t max_db_bytes;
    ls_pg_pool *pool;
    ls_pg_scratch *scratch; /* one per connection */
} ls_store_pg;

/* Takes a connection (ls_pg_acquire) and BEGINs; ls_store_pg_end commits
 * when r == 0 (returning the commit's result), else rolls back, and gives
 * the connection back. */
int ls_store_pg_begin(ls_store_pg *s, ls_pg_conn **ret_conn);
int ls_store_pg_end(ls_store_pg *s, ls_pg_conn *c, int r);

/* Log operations (store_pg_log.c). */
int ls_store_pg_append(ls_store *st, const ls_store_batch *batches, size_t n_batches);
int ls_store_pg_read(ls_store *st, int64_t build_id, int step, uint64_t from_seq, uint64_t limit,
                     ls_store_line_cb cb, void *userdata);

/* API tokens (store_pg_tokens.c). */
int ls_store_pg_create_token(ls_store *st, const ls_token_info *tok, int64_t *ret_id);
int ls_store_pg_find_token(ls_store *st, const unsigned char hash[LS_TOKEN_HASH_BYTES],
                           ls_token_info *ret_token);
int ls_store_pg_list_tokens(ls_store *st, ls_token_info **ret_tokens, size_t *ret_n);
int ls_store_pg_delete_token(ls_store *st, int64_t id);

/* Size limits and retention (store_pg_limits.c). */
int ls_store_pg_drop_middle(ls_store *st, int64_t build_id, int step, uint64_t head_bytes,
                            uint64_t excess_bytes, ls_step_info *ret_step);
int ls_store_pg_build_bytes(ls_store *st, int64_t build_id, uint64_t *ret_bytes);
int ls_store_pg_delete_build(ls_store *st, int64_t build_id);
int ls_store_pg_list_finished_before(ls_store *st, int64_t before_ms, int64_t after_id, size_t max,
                                     int64_t **ret_ids, size_t *ret_n);

/* Test runs (store_pg_tests.c). */
int ls_store_pg_add_test_run(ls_store *st, const ls_test_run *run, int64_t *ret_id);
int ls_store_pg_list_test_runs(ls_store *st, int64_t build_id, ls_test_run **ret_runs,
                               size_t *ret_n);

/* Brings the database to this program's schema (pg_schema.c) in one
 * transaction, serialised against other processes by an advisory lock.
 * -EPROTONOSUPPORT when the database's schema is newer. */
int ls_pg_migrate(ls_pg_conn *c);

/* Tool-usage events (store_pg_tools.c), the ops behind store_tools.h. */
int ls_store_pg_add_tool_events(ls_store *st, const ls_tool_event *events, size_t n,
                                bool *ret_added);
int ls_store_pg_list_tool_events(ls_store *st, int64_t build_id, int64_t after_id, size_t limit,
                                 ls_tool_event **ret_events, size_t *ret_n);

#endif
