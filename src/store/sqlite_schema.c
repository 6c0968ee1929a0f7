/* SQLite schema migrations, see sqlite_schema.h. */
#include "store/sqlite_schema.h"

#include <errno.h>
#include <stdio.h>

#include "store/store_backend.h"

/* migrations[i] takes user_version i to i + 1. */
static const char *const migrations[] = {
    /* 0 -> 1: builds, steps and log chunks. Builds use AUTOINCREMENT so an id
     * is never reused (list pagination relies on ids only growing). A chunk
     * row holds lines first_seq..last_seq of a step: sealed = 0 is an open
     * (raw) chunk, sealed = 1 a zstd chunk; n_bytes is the raw size. The
     * partial index finds a step's open rows without walking its sealed ones. */
    "CREATE TABLE builds("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL,"
    "  number INTEGER NOT NULL,"
    "  status TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(name, number));"
    "CREATE TABLE steps("
    "  build_id INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,"
    "  number INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK(kind IN ('step', 'service')),"
    "  status TEXT NOT NULL,"
    "  exit_code INTEGER NULL,"
    "  started_ms INTEGER NOT NULL DEFAULT 0,"
    "  finished_ms INTEGER NOT NULL DEFAULT 0,"
    "  line_count INTEGER NOT NULL DEFAULT 0,"
    "  byte_count INTEGER NOT NULL DEFAULT 0,"
    "  truncated INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(build_id, number)) WITHOUT ROWID;"
    "CREATE TABLE chunks("
    "  build_id INTEGER NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  first_seq INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL,"
    "  n_bytes INTEGER NOT NULL,"
    "  sealed INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY(build_id, step, first_seq),"
    "  FOREIGN KEY(build_id, step) REFERENCES steps(build_id, number) ON DELETE CASCADE);"
    "CREATE INDEX chunks_open ON chunks(build_id, step, first_seq) WHERE sealed = 0;",
    /* 1 -> 2: steps.kind may also be 'plugins' (the build's plugin output
     * log). SQLite cannot alter a CHECK constraint, and rebuilding the table
     * would need foreign keys off (a DROP cascades into chunks), so the
     * constraint text is widened in place: documented as safe for a change
     * that every existing row still satisfies. RESET reloads this
     * connection's schema; the throwaway index bumps the schema cookie so
     * other connections reload theirs. */
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK(kind IN (''step'', ''service''))',"
    "  'CHECK(kind IN (''step'', ''service'', ''plugins''))')"
    "  WHERE type = 'table' AND name = 'steps';"
    "PRAGMA writable_schema = RESET;"
    "CREATE INDEX schema_bump ON steps(kind); DROP INDEX schema_bump;",
    /* 2 -> 3: API tokens, stored as the SHA-256 of their text (never the
     * text). A build-scoped upload token names its build and goes with it. */
    "CREATE TABLE tokens("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  hash BLOB NOT NULL UNIQUE CHECK(length(hash) = 32),"
    "  scope TEXT NOT NULL CHECK(scope IN ('admin', 'worker', 'read', 'build')),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  build_id INTEGER NULL REFERENCES builds(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  CHECK((scope = 'build') = (build_id IS NOT NULL)));"
    "CREATE INDEX tokens_build ON tokens(build_id) WHERE build_id IS NOT NULL;",
    /* 3 -> 4: the dropped middle of a step's log (server/limits.h): lines
     * drop_first..drop_last, drop_bytes of text, are gone (0 = none). The
     * index finds builds for retention by when they finished. */
    "ALTER TABLE steps ADD COLUMN drop_first INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE steps ADD COLUMN drop_last INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE steps ADD COLUMN drop_bytes INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX builds_finished ON builds(finished_ms) WHERE finished_ms > 0;",
    /* 4 -> 5: test runs published by the test-results plugin (store_tests.h):
     * counters, duration (NULL = not printed) and the failures as the JSON
     * array the server validated. They go with their step and build. */
    "CREATE TABLE test_runs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  build_id INTEGER NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  framework TEXT NOT NULL,"
    "  passed INTEGER NOT NULL,"
    "  failed INTEGER NOT NULL,"
    "  skipped INTEGER NOT NULL,"
    "  duration_ms INTEGER NULL,"
    "  partial INTEGER NOT NULL,"
    "  failures TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  FOREIGN KEY(build_id, step) REFERENCES steps(build_id, number) ON DELETE CASCADE);"
    "CREATE INDEX test_runs_build ON test_runs(build_id, id);",
    /* 5 -> 6: tool-usage events published by the tool-usage plugin
     * (store_tools.h). seq is the publisher's number for the event (NULL =
     * none): UNIQUE(build_id, seq) makes a resent event a no-op. */
    "CREATE TABLE tool_events("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  build_id INTEGER NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  seq INTEGER NULL,"
    "  line INTEGER NOT NULL,"
    "  tool TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  details TEXT NOT NULL,"
    "  dry_run INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE(build_id, seq),"
    "  FOREIGN KEY(build_id, step) REFERENCES steps(build_id, number) ON DELETE CASCADE);"
    "CREATE INDEX tool_events_build ON tool_events(build_id, id);",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(N_MIGRATIONS == LS_SQLITE_SCHEMA_VERSION, "one migration per schema version");

int ls_sqlite_migrate(ls_sqlite_conn *c)
{
    int64_t version = 0;
    char pragma[64];
    int r = ls_sqlite_exec(c, "BEGIN IMMEDIATE", "starting the schema migration");
    if (r < 0)
        return r;
    r = ls_sqlite_query_int(c, "PRAGMA user_version", &version);
    if (r < 0)
        goto out;
    if (version > LS_SQLITE_SCHEMA_VERSION || version < 0) {
        ls_store_set_error("database schema version %lld is newer than this program's (%d): "
                           "upgrade logstream",
                           (long long)version, LS_SQLITE_SCHEMA_VERSION);
        r = -EPROTONOSUPPORT;
        goto out;
    }
    for (int v = (int)version; v < N_MIGRATIONS; v++) {
        r = ls_sqlite_exec(c, migrations[v], "migrating the schema");
        if (r < 0)
            goto out;
    }
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", LS_SQLITE_SCHEMA_VERSION);
    r = ls_sqlite_exec(c, pragma, "setting the schema version");
    if (r < 0)
        goto out;
    r = ls_sqlite_exec(c, "COMMIT", "committing the schema migration");
out:
    if (r < 0)
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}
