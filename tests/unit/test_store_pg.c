/* links: store common */
/* The PostgreSQL back end against a real PostgreSQL server: the store cases
 * every back end passes (store_cases.h), then what only PostgreSQL has
 * (several processes on one database, the connection pool, reconnects,
 * SQLSTATE mapping).
 *
 * The server: LOGSTREAM_TEST_PG_URL names it (a postgres:// URL of a
 * superuser, or the state file written by `scripts/pg-test-cluster.sh start
 * --state FILE`); without it the test starts its own throwaway cluster with
 * that script and stops it at the end. Each test gets a database of its own. */
#include <errno.h>
#include <libpq-fe.h>
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

#include "store/store.h"
#include "store/store_tests.h"

/* ---- the server and one database per test ---- */

static char base_url[1024];    /* a superuser's URL, database "postgres" */
static char own_state[256];    /* state file of the cluster this test started, or "" */
static char conn_prefix[1024]; /* base_url up to the database name */
static char conn_suffix[512];  /* "?..." after it, or "" */

typedef struct fixture {
    char db[64];
    char url[1600];
} fixture;

/* Runs sql on url; returns the first column of the first row as an
 * integer (0 when there is none). Fails the test on an error. */
static int64_t sql_on(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", url, PQerrorMessage(c));
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    int64_t v = (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
                    ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                    : 0;
    PQclear(res);
    PQfinish(c);
    return v;
}

/* Reads the URL from a state file (line 1) or takes the value as a URL. */
static int url_from(const char *value, char *out, size_t outlen)
{
    if (strncmp(value, "postgres://", 11) == 0 || strncmp(value, "postgresql://", 13) == 0) {
        snprintf(out, outlen, "%s", value);
        return 0;
    }
    FILE *fp = fopen(value, "r");
    if (!fp || !fgets(out, (int)outlen, fp)) {
        fprintf(stderr,
                "test_store_pg: LOGSTREAM_TEST_PG_URL=%s is neither a postgres:// URL "
                "nor a readable state file of scripts/pg-test-cluster.sh\n",
                value);
        if (fp)
            fclose(fp);
        return -1;
    }
    fclose(fp);
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

/* The script next to this source file: tests/unit/X.c -> scripts/. */
static void script_path(char *out, size_t outlen)
{
    const char *src = getenv("LOGSTREAM_SOURCE_DIR");
    if (src) {
        snprintf(out, outlen, "%s/scripts/pg-test-cluster.sh", src);
        return;
    }
    snprintf(out, outlen, "%s", __FILE__);
    char *p = strstr(out, "/tests/unit/");
    if (p)
        snprintf(p, outlen - (size_t)(p - out), "/scripts/pg-test-cluster.sh");
}

static int start_own_cluster(void)
{
    char script[1024], cmd[1400];
    script_path(script, sizeof(script));
    snprintf(own_state, sizeof(own_state), "/tmp/test_store_pg_state_%d", (int)getpid());
    snprintf(cmd, sizeof(cmd), "'%s' start --state '%s' >/dev/null", script, own_state);
    fprintf(stderr,
            "test_store_pg: LOGSTREAM_TEST_PG_URL is not set; starting a cluster "
            "with %s\n",
            script);
    if (access(script, X_OK) != 0 || system(cmd) != 0) {
        fprintf(stderr,
                "test_store_pg: FAILED to start PostgreSQL with %s (install it with "
                "scripts/install-deps.sh, or set LOGSTREAM_TEST_PG_URL)\n",
                script);
        own_state[0] = '\0';
        return -1;
    }
    return url_from(own_state, base_url, sizeof(base_url));
}

static int group_setup(void **state)
{
    (void)state;
    const char *env = getenv("LOGSTREAM_TEST_PG_URL");
    int r = (env && *env) ? url_from(env, base_url, sizeof(base_url)) : start_own_cluster();
    if (r < 0)
        return -1;
    /* split postgresql://user@host:port/DB?params around DB */
    const char *hier = strstr(base_url, "://");
    const char *slash = hier ? strchr(hier + 3, '/') : NULL;
    const char *query = strchr(base_url, '?');
    if (!slash || (query && query < slash)) {
        fprintf(stderr, "test_store_pg: the URL %s has no database name\n", base_url);
        return -1;
    }
    snprintf(conn_prefix, sizeof(conn_prefix), "%.*s", (int)(slash + 1 - base_url), base_url);
    snprintf(conn_suffix, sizeof(conn_suffix), "%s", query ? query : "");
    PGconn *c = PQconnectdb(base_url);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (!ok)
        fprintf(stderr, "test_store_pg: cannot connect to %s: %s", base_url, PQerrorMessage(c));
    PQfinish(c);
    return ok ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (own_state[0]) {
        char script[1024], cmd[1400];
        script_path(script, sizeof(script));
        snprintf(cmd, sizeof(cmd), "'%s' stop '%s'", script, own_state);
        if (system(cmd) != 0)
            fprintf(stderr, "test_store_pg: stopping the cluster failed\n");
    }
    return 0;
}

static void make_db(fixture *f)
{
    static int counter;
    char sql[128];
    snprintf(f->db, sizeof(f->db), "lst_%d_%d", (int)getpid(), ++counter);
    snprintf(f->url, sizeof(f->url), "%s%s%s", conn_prefix, f->db, conn_suffix);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
    sql_on(base_url, sql);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    make_db(f);
    *state = f;
    return 0;
}

static void drop_db(const fixture *f)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
    sql_on(base_url, sql);
}

static int teardown(void **state)
{
    fixture *f = *state;
    drop_db(f);
    free(f);
    return 0;
}

/* ---- what store_cases.h needs ---- */

static int open_raw(const fixture *f, const ls_store_options *o, ls_store **ret)
{
    return ls_store_open_pg(f->url, o, ret);
}

static int64_t query_int(const fixture *f, const char *sql)
{
    return sql_on(f->url, sql);
}

static void exec_sql(const fixture *f, const char *sql)
{
    sql_on(f->url, sql);
}

/* The database as it is now plus 1 MiB. */
static uint64_t disk_full_limit(const fixture *f)
{
    return (uint64_t)query_int(f, "SELECT pg_database_size(current_database())") + 1024 * 1024;
}

#define SCHEMA_VERSION_SQL "SELECT version FROM schema_version"
#define EXPECTED_SCHEMA_VERSION 5
#define SET_NEWER_SCHEMA_SQL "UPDATE schema_version SET version = 99"
#define CORRUPT_FIRST_CHUNK_SQL                                                                    \
    "UPDATE chunks SET data = '\\x0201020304'::bytea WHERE first_seq = 1"

#include "store_cases.h"

/* ---- PostgreSQL only ---- */

/* SQLSTATE 53100 (disk full) is -ENOSPC, the append is all or nothing and
 * what was stored stays readable. The server's disk is not really filled: a
 * trigger raises the same error PostgreSQL raises when it cannot extend a file. */
static void test_pg_disk_full_sqlstate_is_enospc(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 1024);
    ls_build_info b = create_build(st, "full", 2);
    exec_sql(f, "CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = 'disk_full'; END $$;"
                "CREATE TRIGGER full_disk BEFORE INSERT ON chunks FOR EACH ROW "
                "WHEN (NEW.first_seq > 100) EXECUTE FUNCTION full_disk()");
    static const size_t sizes[] = {50};
    append_lines(st, b.id, 1, 1, 100, sizes, 1);
    line_set more = make_lines(101, 50, 0);
    line_set other = make_lines(1, 10, 0);
    ls_store_batch batches[2] = {
        {.build_id = b.id, .step = 2, .lines = other.lines, .n_lines = 10},
        {.build_id = b.id, .step = 1, .lines = more.lines, .n_lines = 50},
    };
    assert_int_equal(ls_store_append(st, batches, 2), -ENOSPC);
    assert_non_null(strstr(ls_store_last_error(), "53100"));
    assert_counters(st, b.id, 1, 100);
    assert_counters(st, b.id, 2, 0);
    assert_read_range(st, b.id, 1, 1, 0, 100);
    /* the connection is still good once space is back */
    exec_sql(f, "DROP TRIGGER full_disk ON chunks");
    assert_int_equal(ls_store_append(st, batches, 2), 0);
    assert_counters(st, b.id, 1, 150);
    assert_counters(st, b.id, 2, 10);
    free_lines(&more);
    free_lines(&other);
    ls_store_free(st);
}

/* Two stores on one database stand for two server instances that both
 * receive the same lines of a step (a worker resending after a reconnect):
 * every line is stored exactly once. */
typedef struct dup_args {
    ls_store *st;
    int64_t build;
    const line_set *lines;
    size_t batch;
    pthread_barrier_t *round; /* both send each batch at the same moment */
    int failures;
} dup_args;

static void *dup_appender(void *arg)
{
    dup_args *a = arg;
    for (size_t done = 0; done < a->lines->n; done += a->batch) {
        size_t n = a->batch;
        if (n > a->lines->n - done)
            n = a->lines->n - done;
        /* resend a little of what is stored already, like a worker does */
        size_t back = done >= 5 ? 5 : done;
        ls_store_batch b = {.build_id = a->build,
                            .step = 1,
                            .lines = a->lines->lines + done - back,
                            .n_lines = n + back};
        pthread_barrier_wait(a->round);
        int r = ls_store_append(a->st, &b, 1);
        if (r != 0) {
            fprintf(stderr, "append: %s\n", ls_store_last_error());
            a->failures++;
        }
    }
    return NULL;
}

static void test_pg_two_instances_store_each_line_once(void **state)
{
    fixture *f = *state;
    ls_store *a = open_store(f, 4096);
    ls_store *b = open_store(f, 4096);
    ls_build_info build = create_build(a, "twice", 1);
    line_set lines = make_lines(1, 20000, 0);
    pthread_barrier_t round;
    pthread_barrier_init(&round, NULL, 2);
    dup_args args[2] = {
        {.st = a, .build = build.id, .lines = &lines, .batch = 97, .round = &round},
        {.st = b, .build = build.id, .lines = &lines, .batch = 97, .round = &round},
    };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, dup_appender, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&round);
    assert_int_equal(args[0].failures + args[1].failures, 0);
    assert_counters(a, build.id, 1, 20000);
    assert_counters(b, build.id, 1, 20000);
    assert_read_range(b, build.id, 1, 1, 0, 20000);
    /* no chunk rows overlap: each seq is in exactly one row */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM chunks c1 JOIN chunks c2 ON c1.build_id = c2.build_id AND "
             "c1.step = c2.step AND c1.first_seq < c2.first_seq AND c2.first_seq <= c1.last_seq "
             "WHERE c1.build_id = %lld",
             (long long)build.id);
    assert_int_equal(query_int(f, sql), 0);
    snprintf(sql, sizeof(sql),
             "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM chunks "
             "WHERE build_id = %lld",
             (long long)build.id);
    assert_int_equal(query_int(f, sql), 20000);
    free_lines(&lines);
    ls_store_free(a);
    ls_store_free(b);
}

/* Builds of one name created at once by two instances are numbered 1..n. */
typedef struct create_args {
    ls_store *st;
    int n;
    int failures;
} create_args;

static void *creator(void *arg)
{
    create_args *c = arg;
    for (int i = 0; i < c->n; i++) {
        ls_step_info step = {0};
        snprintf(step.name, sizeof(step.name), "only");
        ls_build_info bi;
        if (ls_store_create_build(c->st, "shared-name", &step, 1, &bi) != 0)
            c->failures++;
    }
    return NULL;
}

static void test_pg_two_instances_number_builds(void **state)
{
    fixture *f = *state;
    ls_store *a = open_store(f, 0);
    ls_store *b = open_store(f, 0);
    create_args args[2] = {{.st = a, .n = 40}, {.st = b, .n = 40}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, creator, &args[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(args[0].failures + args[1].failures, 0);
    assert_int_equal(query_int(f, "SELECT COUNT(DISTINCT number) FROM builds "
                                  "WHERE name = 'shared-name' AND number BETWEEN 1 AND 80"),
                     80);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM steps"), 80);
    ls_store_free(a);
    ls_store_free(b);
}

/* Several servers starting at once on a new database: one creates the
 * schema, the others wait for it. */
typedef struct opener_args {
    const fixture *f;
    int r;
    ls_store *st;
} opener_args;

static void *opener(void *arg)
{
    opener_args *o = arg;
    o->r = open_raw(o->f, NULL, &o->st);
    return NULL;
}

static void test_pg_concurrent_first_open(void **state)
{
    fixture *f = *state;
    opener_args args[3] = {{.f = f}, {.f = f}, {.f = f}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, opener, &args[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(args[i].r, 0);
        ls_store_free(args[i].st);
    }
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM schema_version"), 1);
    assert_int_equal(query_int(f, SCHEMA_VERSION_SQL), EXPECTED_SCHEMA_VERSION);
}

/* More threads than connections: each waits its turn and every call works. */
typedef struct pool_args {
    ls_store *st;
    int64_t build;
    int step;
    int failures;
} pool_args;

static void *pool_user(void *arg)
{
    pool_args *p = arg;
    static const size_t sizes[] = {50};
    line_set s = make_lines(1, 1000, 0);
    for (size_t done = 0; done < s.n; done += sizes[0]) {
        ls_store_batch b = {
            .build_id = p->build, .step = p->step, .lines = s.lines + done, .n_lines = sizes[0]};
        if (ls_store_append(p->st, &b, 1) != 0)
            p->failures++;
        ls_step_info info;
        if (ls_store_get_step(p->st, p->build, p->step, &info) != 0 ||
            info.line_count != done + sizes[0])
            p->failures++;
        checker c = {.next = 1};
        if (ls_store_read(p->st, p->build, p->step, 1, 0, check_line, &c) != 0 ||
            c.count != done + sizes[0])
            p->failures++;
    }
    free_lines(&s);
    return NULL;
}

static void test_pg_pool_shared_by_threads(void **state)
{
    fixture *f = *state;
    ls_store_options o = {.chunk_bytes = 4096, .pool_size = 2};
    ls_store *st = NULL;
    assert_int_equal(open_raw(f, &o, &st), 0);
    ls_build_info b = create_build(st, "pool", 4);
    enum { N = 4 };
    pool_args args[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        args[i] = (pool_args){.st = st, .build = b.id, .step = 1 + i};
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pool_user, &args[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(args[i].failures, 0);
        assert_counters(st, b.id, 1 + i, 1000);
    }
    assert_true(query_int(f,
                          "SELECT COUNT(*) FROM pg_stat_activity WHERE "
                          "application_name = 'logstream' AND datname = current_database()") <= 2);
    ls_store_free(st);
}

/* A lost connection fails the call that finds out with -EIO; the next calls
 * reconnect and work. */
static void test_pg_reconnects_after_losing_the_server(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 2048);
    ls_build_info b = create_build(st, "reconnect", 1);
    static const size_t sizes[] = {100};
    append_lines(st, b.id, 1, 1, 300, sizes, 1);
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
             "application_name = 'logstream' AND datname = '%s'",
             f->db);
    assert_true(query_int(f, sql) >= 1);
    ls_step_info info;
    int r = ls_store_get_step(st, b.id, 1, &info);
    assert_int_equal(r, -EIO);
    assert_non_null(strstr(ls_store_last_error(), "reading a step"));
    /* every call from now on works: the pool reconnects all its connections */
    for (int i = 0; i < 8; i++) {
        r = ls_store_get_step(st, b.id, 1, &info);
        if (r != 0)
            fprintf(stderr, "get_step: %s\n", ls_store_last_error());
        assert_int_equal(r, 0);
        assert_int_equal(info.line_count, 300);
    }
    append_lines(st, b.id, 1, 301, 300, sizes, 1);
    assert_counters(st, b.id, 1, 600);
    assert_read_range(st, b.id, 1, 1, 0, 600);
    ls_store_free(st);
}

static void test_pg_urls(void **state)
{
    fixture *f = *state;
    assert_true(ls_store_is_pg_url("postgres://u@h/db"));
    assert_true(ls_store_is_pg_url("postgresql://u@h/db"));
    assert_false(ls_store_is_pg_url("/var/lib/logstream/logstream.db"));
    assert_false(ls_store_is_pg_url("postgres:/x"));
    assert_false(ls_store_is_pg_url(NULL));

    /* open_url dispatches on the scheme */
    ls_store *st = NULL;
    assert_int_equal(ls_store_open_url(f->url, NULL, &st), 0);
    ls_build_info b = create_build(st, "by-url", 1);
    ls_store_free(st);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM builds"), 1);
    assert_true(b.id > 0);

    st = NULL;
    assert_int_equal(ls_store_open_pg("postgresql://localhost/db?no_such_option=1", NULL, &st),
                     -EINVAL);
    assert_null(st);
    assert_non_null(strstr(ls_store_last_error(), "URL"));
    /* nothing listens on port 1 */
    assert_int_equal(ls_store_open_pg("postgresql://postgres@127.0.0.1:1/x", NULL, &st), -EIO);
    assert_null(st);
    assert_non_null(strstr(ls_store_last_error(), "cannot connect"));
    ls_store_options o = {.pool_size = 100000};
    assert_int_equal(ls_store_open_pg(f->url, &o, &st), -EINVAL);
    assert_null(st);
}

/* Test runs are stored as given, listed in order, and go with their build
 * (as do its build tokens). */
static void test_pg_test_runs(void **state)
{
    fixture *f = *state;
    ls_store *st = open_store(f, 0);
    ls_build_info b = create_build(st, "runs", 2);
    ls_test_run run = {.build_id = b.id,
                       .step = 2,
                       .passed = 10,
                       .failed = 2,
                       .skipped = 1,
                       .duration_ms = -1,
                       .partial = true,
                       .failures_json = "[{\"name\":\"t1\",\"message\":\"\u00e9\"}]"};
    snprintf(run.framework, sizeof(run.framework), "pytest");
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(ls_store_add_test_run(st, &run, &id1), 0);
    run.step = 1;
    run.duration_ms = 1234;
    run.partial = false;
    run.failures_json = "[]";
    snprintf(run.framework, sizeof(run.framework), "go");
    assert_int_equal(ls_store_add_test_run(st, &run, &id2), 0);
    assert_true(id1 > 0 && id2 > id1);
    run.step = 7;
    assert_int_equal(ls_store_add_test_run(st, &run, NULL), -ENOENT);

    ls_test_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(ls_store_list_test_runs(st, b.id, &runs, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(runs[0].id, id1);
    assert_int_equal(runs[0].step, 2);
    assert_string_equal(runs[0].framework, "pytest");
    assert_int_equal(runs[0].passed, 10);
    assert_int_equal(runs[0].failed, 2);
    assert_int_equal(runs[0].skipped, 1);
    assert_int_equal(runs[0].duration_ms, -1);
    assert_true(runs[0].partial);
    assert_string_equal(runs[0].failures_json, "[{\"name\":\"t1\",\"message\":\"\u00e9\"}]");
    assert_true(runs[0].created_ms > 1600000000000);
    assert_string_equal(runs[1].framework, "go");
    assert_int_equal(runs[1].duration_ms, 1234);
    assert_false(runs[1].partial);
    assert_string_equal(runs[1].failures_json, "[]");
    ls_test_runs_free(runs, n);

    ls_token_info tok = make_token(5, LS_SCOPE_BUILD, b.id, "");
    assert_int_equal(ls_store_create_token(st, &tok, NULL), 0);
    assert_int_equal(ls_store_delete_build(st, b.id), 0);
    assert_int_equal(ls_store_list_test_runs(st, b.id, &runs, &n), 0);
    assert_int_equal(n, 0);
    ls_test_runs_free(runs, n);
    ls_token_info got;
    assert_int_equal(ls_store_find_token(st, tok.hash, &got), -ENOENT);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM test_runs"), 0);
    ls_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        STORE_CASES(setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_disk_full_sqlstate_is_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_two_instances_store_each_line_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_two_instances_number_builds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_pool_shared_by_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnects_after_losing_the_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_test_runs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
