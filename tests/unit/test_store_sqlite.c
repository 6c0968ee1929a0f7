/* links: store common */
/* The SQLite back end: the store cases every back end passes (store_cases.h)
 * on a database file in a temp dir. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/sqlite_schema.h"
#include "store/store.h"

/* ---- fixture: a temp dir holding the database ---- */

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/logstream.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[160];
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- what store_cases.h needs ---- */

static int open_raw(const fixture *f, const ls_store_options *o, ls_store **ret)
{
    return ls_store_open_sqlite(f->path, o, ret);
}

/* Runs a single-integer query on the database file with a separate connection. */
static int64_t query_int(const fixture *f, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const fixture *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* 2 MiB: a few MiB of incompressible appends reach it. */
static uint64_t disk_full_limit(const fixture *f)
{
    (void)f;
    return 2 * 1024 * 1024;
}

#define SCHEMA_VERSION_SQL "PRAGMA user_version"
#define EXPECTED_SCHEMA_VERSION LS_SQLITE_SCHEMA_VERSION
#define SET_NEWER_SCHEMA_SQL "PRAGMA user_version = 99"
#define CORRUPT_FIRST_CHUNK_SQL "UPDATE chunks SET data = x'0201020304' WHERE first_seq = 1"

#include "store_cases.h"

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_CASES(setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
