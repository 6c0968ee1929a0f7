/* Storage interface: builds, steps and their logs. One implementation per
 * back end (store_sqlite.c, store_pg.c) behind this API.
 *
 * Logs are stored append-only in chunks: each ls_store_append() adds the new
 * lines of a step as an open (uncompressed) chunk row; once a step's open rows
 * hold at least the chunk size they are sealed into one zstd-compressed chunk
 * in the same transaction. A log is never rewritten as a whole.
 *
 * Thread safety: an ls_store may be used from several threads at once
 * (the server's flusher writes while its HTTP thread reads). The SQLite back
 * end has one writer connection and one reader connection, each behind its own
 * mutex: writes are serialised, reads are serialised, and a read runs during a
 * write (WAL). Callbacks run with the reader locked: they must not call back
 * into the same store.
 *
 * Durability (SQLite): WAL with synchronous=NORMAL by default. A returned
 * ls_store_append() survives a crash of the process, never leaves the
 * database inconsistent, but the last commits before a power loss or OS crash
 * may be lost (the WAL is fsync'ed at checkpoints, not at each commit). With
 * ls_store_options.full_sync each commit is fsync'ed before it returns and
 * survives power loss too.
 *
 * Errors: a negative errno; -ENOENT for a missing build/step, -EINVAL for bad
 * arguments, -ENOSPC when the disk (or max_db_bytes) is full, -EBUSY when the
 * database stays locked by another process past busy_timeout_ms, -EIO for any
 * other database error. ls_store_last_error() then says what failed. */
#ifndef LS_STORE_STORE_H
#define LS_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/line.h"

typedef enum {
    LS_STATUS_PENDING,
    LS_STATUS_RUNNING,
    LS_STATUS_SUCCESS,
    LS_STATUS_FAILURE,
    LS_STATUS_CANCELED,
} ls_status;

/* "pending", "running", ... */
const char *ls_status_name(ls_status s);
/* Parses a status name; 0 or -EINVAL. */
int ls_status_parse(const char *name, ls_status *ret);
/* true for success, failure and canceled. */
bool ls_status_is_final(ls_status s);

#define LS_NAME_MAX 256

typedef struct ls_step_info {
    int64_t build_id;
    int number; /* 1-based within the build */
    char name[LS_NAME_MAX];
    bool service; /* kind: service rather than step */
    bool plugins; /* kind "plugins": the build's plugin output log (never with service) */
    ls_status status;
    bool has_exit_code;
    int exit_code;
    int64_t started_ms;  /* 0 = not yet */
    int64_t finished_ms; /* 0 = not yet */
    uint64_t line_count; /* durable lines (== last durable seq) */
    uint64_t byte_count; /* durable text bytes, dropped lines included */
    bool truncated;      /* lines were dropped (set by ls_store_drop_middle; never cleared) */
    uint64_t drop_first; /* the dropped middle: lines drop_first..drop_last are gone */
    uint64_t drop_last;  /* (0 when none; see ls_store_drop_middle) */
    uint64_t drop_bytes; /* their text bytes */
} ls_step_info;

typedef struct ls_build_info {
    int64_t id;
    char name[LS_NAME_MAX];
    int64_t number; /* per name: 1, 2, ... */
    ls_status status;
    int64_t created_ms;
    int64_t started_ms;
    int64_t finished_ms;
} ls_build_info;

typedef struct ls_store ls_store;

/* Zero-initialise and set what you need: 0 always means the default. */
typedef struct ls_store_options {
    size_t chunk_bytes;    /* seal open rows into a compressed chunk at this size; 0 = 256 KiB */
    int zstd_level;        /* 0 = 3 */
    bool full_sync;        /* fsync every commit (synchronous=FULL); default NORMAL, see above */
    int busy_timeout_ms;   /* wait this long for a lock held by another process; 0 = 5000 */
    uint64_t max_db_bytes; /* appends beyond this database size fail with -ENOSPC; 0 = none */
    size_t cache_bytes;    /* page cache of the writer connection (the reader gets a quarter);
                              0 = 64 MiB */
    int pool_size;         /* PostgreSQL: connections in the pool; 0 = 4 (SQLite: unused) */
} ls_store_options;

/* Opens (creating if needed, migrating the schema) the SQLite database at
 * path in WAL mode. opts may be NULL. Returns 0 and *ret_store (free with
 * ls_store_free), or a negative errno (-EIO for a database error,
 * -EPROTONOSUPPORT when the file's schema is newer than this program). */
int ls_store_open_sqlite(const char *path, const ls_store_options *opts, ls_store **ret_store);

/* Opens (creating the schema or migrating it) the PostgreSQL database at a
 * libpq URL (postgres://USER@HOST:PORT/DB?...) with a pool of
 * opts->pool_size connections; every thread takes one for each call. Several
 * processes may share one database: an append locks its steps' rows, so two
 * appenders never both store the same seq. Durability is the server's
 * (synchronous_commit): a returned append is committed. max_db_bytes is
 * checked against pg_database_size() before each append; full_sync,
 * busy_timeout_ms and cache_bytes are SQLite's only. Returns 0 and
 * *ret_store, or -EIO (cannot connect, or a database error: see
 * ls_store_last_error()), -EINVAL for a malformed URL, -EPROTONOSUPPORT when
 * the schema is newer than this program. A lost connection makes that call
 * fail with -EIO; the next call reconnects. */
int ls_store_open_pg(const char *url, const ls_store_options *opts, ls_store **ret_store);

/* true when s names a PostgreSQL database (postgres:// or postgresql://). */
bool ls_store_is_pg_url(const char *s);

/* Opens a PostgreSQL database for a postgres:// or postgresql:// URL, else the
 * SQLite database file at that path (see the two functions above). */
int ls_store_open_url(const char *url_or_path, const ls_store_options *opts, ls_store **ret_store);

/* Closes; NULL is a no-op. */
void ls_store_free(ls_store *st);

/* Last error message of a failed call in this thread (static storage), for logs. */
const char *ls_store_last_error(void);

/* Creates a build and its steps (numbers 1..n in order; ignores the number,
 * status and counters in steps[]). Fills *ret_build. */
int ls_store_create_build(ls_store *st, const char *name, const ls_step_info *steps, size_t n_steps,
                          ls_build_info *ret_build);

/* Reads a build and, if ret_steps is not NULL, its steps ordered by number
 * (malloc'ed array the caller frees). -ENOENT when there is no such build. */
int ls_store_get_build(ls_store *st, int64_t build_id, ls_build_info *ret_build,
                       ls_step_info **ret_steps, size_t *ret_n_steps);

/* Lists up to limit builds with id < before_id (0 = newest), newest first
 * (limit 0 lists none). *ret_builds is malloc'ed; the caller frees it. */
int ls_store_list_builds(ls_store *st, int64_t before_id, size_t limit, ls_build_info **ret_builds,
                         size_t *ret_n);

/* Reads one step. -ENOENT when there is no such build or step. */
int ls_store_get_step(ls_store *st, int64_t build_id, int step, ls_step_info *ret_step);

/* Writes status, exit code, started/finished times and truncated flag of a
 * step (counters are maintained by ls_store_append). -ENOENT if missing. */
int ls_store_update_step(ls_store *st, const ls_step_info *step);

/* Writes status and times of a build. -ENOENT if missing. */
int ls_store_update_build(ls_store *st, const ls_build_info *build);

/* New lines for one step; seqs are consecutive and follow the step's
 * durable seq (lines at or below it are skipped, so a retried append is
 * harmless). */
typedef struct ls_store_batch {
    int64_t build_id;
    int step;
    const ls_line *lines;
    size_t n_lines;
} ls_store_batch;

/* Appends several steps' lines in ONE transaction, updating each step's
 * line_count/byte_count. All or nothing. -ENOSPC when the disk is full,
 * -ENOENT when a step does not exist, -EINVAL when a batch's new lines do not
 * continue the step's durable seq without a gap (or have seq > INT64_MAX or a
 * stream other than stdout/stderr). */
int ls_store_append(ls_store *st, const ls_store_batch *batches, size_t n_batches);

/* Called by ls_store_read for each line in seq order; the line is valid only
 * during the call. A non-zero return stops the read and is returned by it.
 * It must not call into the same store. */
typedef int (*ls_store_line_cb)(void *userdata, const ls_line *line);

/* Reads the durable lines of a step with seq in [from_seq, from_seq + limit),
 * calling cb for each. limit 0 = no limit. Returns 0, cb's non-zero value, or
 * a negative errno (-EBADMSG when a stored chunk is corrupt). A missing step
 * simply has no lines. */
int ls_store_read(ls_store *st, int64_t build_id, int step, uint64_t from_seq, uint64_t limit,
                  ls_store_line_cb cb, void *userdata);

/* ---- API tokens (docs/api.md, "Authentication") ----------------------------
 * The store keeps a token's SHA-256 hash, never its text (src/common/token.h
 * makes and hashes tokens; src/server/auth.c decides what a scope may do).
 * A back end stores the fields of ls_token_info as they are and looks a token
 * up by its hash (unique). Build-scoped tokens are deleted with their build. */

typedef enum {
    LS_SCOPE_ADMIN,  /* everything, including managing tokens */
    LS_SCOPE_WORKER, /* create builds; write to any build */
    LS_SCOPE_READ,   /* read builds, logs, events, metrics */
    LS_SCOPE_BUILD,  /* write to one build (build_id) until it ends */
} ls_scope;

/* "admin", "worker", "read", "build". */
const char *ls_scope_name(ls_scope s);
/* Parses a scope name; 0 or -EINVAL. */
int ls_scope_parse(const char *name, ls_scope *ret);

#define LS_TOKEN_HASH_BYTES 32

typedef struct ls_token_info {
    int64_t id;             /* assigned by ls_store_create_token */
    char name[LS_NAME_MAX]; /* a label for people; may be empty */
    ls_scope scope;
    int64_t build_id; /* LS_SCOPE_BUILD: the build; 0 for the other scopes */
    int64_t created_ms;
    int64_t expires_ms;                      /* 0 = no time limit */
    unsigned char hash[LS_TOKEN_HASH_BYTES]; /* SHA-256 of the token's text */
} ls_token_info;

/* Stores a token (its id is ignored) and returns the new id in *ret_id (may
 * be NULL). -EEXIST when a token with the same hash exists, -ENOENT when a
 * build token's build does not exist, -EINVAL for a bad scope or a build_id
 * that does not match the scope. */
int ls_store_create_token(ls_store *st, const ls_token_info *tok, int64_t *ret_id);

/* Finds the token with this hash (expired ones too: the caller checks
 * expires_ms). -ENOENT when there is none. */
int ls_store_find_token(ls_store *st, const unsigned char hash[LS_TOKEN_HASH_BYTES],
                        ls_token_info *ret_token);

/* Lists the admin, worker and read tokens (not build-scoped ones) by id.
 * *ret_tokens is malloc'ed; the caller frees it. */
int ls_store_list_tokens(ls_store *st, ls_token_info **ret_tokens, size_t *ret_n);

/* Deletes a token by id. -ENOENT when there is none. */
int ls_store_delete_token(ls_store *st, int64_t id);

/* ---- size limits and retention (server/limits.h) ---------------------------
 * Optional for a back end: without them these return -EOPNOTSUPP. */

/* Drops the middle of a step's stored log, whole chunks at a time. The head
 * stays: the first sealed chunks, up to the first chunk boundary at or after
 * head_bytes of raw chunk data (fixed by the first drop). Then the oldest
 * sealed chunks after the head -- after the previous drop, once there was
 * one -- are deleted until at least excess_bytes of text are gone or the
 * next chunk is not sealed (open rows, the newest lines, are never deleted).
 * So the dropped lines are always one run, drop_first..drop_last, recorded
 * in the step row with drop_bytes and truncated = 1, in one transaction.
 * line_count and byte_count do not change (the lines were received). Having
 * nothing to drop yet (the head is not sealed) is not an error. Fills
 * *ret_step (may be NULL) with the step afterwards. -ENOENT for a missing
 * step, -EBADMSG for a corrupt chunk, -ENOSPC/-EIO from the database. */
int ls_store_drop_middle(ls_store *st, int64_t build_id, int step, uint64_t head_bytes,
                         uint64_t excess_bytes, ls_step_info *ret_step);

/* The text a build's logs keep in the store: the sum over its steps of
 * byte_count - drop_bytes (0 for a missing build). */
int ls_store_build_bytes(ls_store *st, int64_t build_id, uint64_t *ret_bytes);

/* Deletes a build with its steps, their logs and its build-scoped tokens, in
 * one transaction. -ENOENT when there is no such build. */
int ls_store_delete_build(ls_store *st, int64_t build_id);

/* Ids of up to max builds with id > after_id, in a final status, that
 * finished before before_ms (unix ms), in id order. *ret_ids is malloc'ed;
 * the caller frees it. */
int ls_store_list_finished_before(ls_store *st, int64_t before_ms, int64_t after_id, size_t max,
                                  int64_t **ret_ids, size_t *ret_n);

#endif
