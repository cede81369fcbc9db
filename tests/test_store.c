/*
 * Storage layer tests, run on whichever engine the harness gives (SQLite by default,
 * PostgreSQL under EHALL_TEST_PG): statements, NULLs, constraints, rollback,
 * retry under contention, migrations and the newer-schema refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "store/store.h"

static store *open_fresh(int pool)
{
    char dir[256], db[512], err[512];
    h_fresh(dir, db);
    struct store_options o = {pool, 5000, 10000};
    store *s = NULL;
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    return s;
}

static int create_table(store_conn *c, void *arg)
{
    (void)arg;
    return store_exec(c, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)");
}

struct row {
    long long id;
    const char *name;
    long long n;
};

static int insert_row(store_conn *c, void *arg)
{
    struct row *r = arg;
    store_stmt *st = store_prepare(c, "INSERT INTO t(id, name, n) VALUES ($1, $2, $3)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, r->id);
    store_bind_text(st, 2, r->name);
    if (r->n >= 0)
        store_bind_int64(st, 3, r->n);
    else
        store_bind_null(st, 3);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static void statements_nulls_and_constraints(void **state)
{
    (void)state;
    store *s = open_fresh(2);
    assert_int_equal(store_tx(s, 1, create_table, NULL), STORE_OK);
    struct row a = {1, "甲", 5}, b = {2, NULL, -1}, dup = {3, "甲", 1};
    assert_int_equal(store_tx(s, 1, insert_row, &a), STORE_OK);
    assert_int_equal(store_tx(s, 1, insert_row, &b), STORE_OK);
    assert_int_equal(store_tx(s, 1, insert_row, &dup), STORE_CONSTRAINT);

    store_conn *c = store_acquire(s);
    assert_non_null(c);
    /* parameters may appear out of order in the SQL text */
    store_stmt *st =
        store_prepare(c, "SELECT id, name, n FROM t WHERE n IS NULL OR (id = $2 AND name = $1) ORDER BY id");
    assert_non_null(st);
    store_bind_text(st, 1, "甲");
    store_bind_int64(st, 2, 1);
    assert_int_equal(store_step(st), STORE_ROW);
    assert_int_equal(store_column_count(st), 3);
    assert_int_equal(store_column_int64(st, 0), 1);
    assert_string_equal(store_column_text(st, 1), "甲");
    assert_int_equal(store_column_int64(st, 2), 5);
    assert_int_equal(store_step(st), STORE_ROW);
    assert_true(store_column_is_null(st, 1));
    assert_null(store_column_text(st, 1));
    assert_true(store_column_is_null(st, 2));
    assert_int_equal(store_step(st), STORE_DONE);
    store_finalize(st);
    /* the cached statement is reused and starts clean */
    st = store_prepare(c, "SELECT id, name, n FROM t WHERE n IS NULL OR (id = $2 AND name = $1) ORDER BY id");
    store_bind_text(st, 1, "乙");
    store_bind_int64(st, 2, 1);
    assert_int_equal(store_step(st), STORE_ROW);
    assert_int_equal(store_column_int64(st, 0), 2);
    assert_int_equal(store_step(st), STORE_DONE);
    store_finalize(st);
    /* a syntax error is an error, not a crash, and the connection stays usable */
    assert_null(store_prepare(c, "SELEC nonsense"));
    long long n = 0;
    assert_int_equal(store_query_int64(c, "SELECT COUNT(*) FROM t", &n), STORE_OK);
    assert_int_equal(n, 2);
    store_release(c);
    store_close(s);
}

static int insert_then_fail(store_conn *c, void *arg)
{
    struct row r = {10, "rolled-back", 1};
    (void)arg;
    if (insert_row(c, &r) != STORE_OK) return STORE_ERROR;
    return STORE_ERROR; /* the caller gives up after writing */
}

static void failed_transaction_leaves_nothing(void **state)
{
    (void)state;
    store *s = open_fresh(2);
    assert_int_equal(store_tx(s, 1, create_table, NULL), STORE_OK);
    assert_int_equal(store_tx(s, 1, insert_then_fail, NULL), STORE_ERROR);
    store_conn *c = store_acquire(s);
    long long n = -1;
    assert_int_equal(store_query_int64(c, "SELECT COUNT(*) FROM t", &n), STORE_OK);
    assert_int_equal(n, 0);
    store_release(c);
    store_close(s);
}

static int bump(store_conn *c, void *arg)
{
    (void)arg;
    long long n = 0;
    /* read-modify-write: only correct if concurrent writers are serialised or retried */
    store_stmt *st = store_prepare(c, "SELECT n FROM t WHERE id = 1 FOR UPDATE");
    if (!st) st = store_prepare(c, "SELECT n FROM t WHERE id = 1"); /* SQLite has no FOR UPDATE */
    if (!st) return STORE_ERROR;
    int rc = store_step(st);
    if (rc == STORE_ROW) n = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;
    st = store_prepare(c, "UPDATE t SET n = $1 WHERE id = 1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, n + 1);
    rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static void *worker(void *arg)
{
    store *s = arg;
    for (int i = 0; i < 50; i++)
        if (store_tx(s, 1, bump, NULL) != STORE_OK) return (void *)1;
    return NULL;
}

static void concurrent_writers_lose_nothing(void **state)
{
    (void)state;
    store *s = open_fresh(4);
    assert_int_equal(store_tx(s, 1, create_table, NULL), STORE_OK);
    struct row r = {1, "counter", 0};
    assert_int_equal(store_tx(s, 1, insert_row, &r), STORE_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, worker, s);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    store_conn *c = store_acquire(s);
    long long n = 0;
    assert_int_equal(store_query_int64(c, "SELECT n FROM t WHERE id = 1", &n), STORE_OK);
    assert_int_equal(n, 200);
    store_release(c);
    store_close(s);
}

static int set_newer(store_conn *c, void *arg)
{
    (void)arg;
    return store_exec(c, "INSERT INTO ehall_schema(version, name, applied_at) VALUES (999, 'future', 'x')");
}

static void migrations_are_idempotent_and_refuse_newer(void **state)
{
    (void)state;
    store *s = open_fresh(2);
    char err[512];
    int cur, latest;
    assert_int_equal(store_schema_version(s, &cur, &latest), STORE_OK);
    assert_int_equal(cur, latest);
    assert_true(latest >= 2);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK); /* again: nothing to do */
    assert_int_equal(store_tx(s, 1, set_newer, NULL), STORE_OK);
    assert_int_not_equal(store_migrate(s, err, sizeof err), STORE_OK);
    assert_non_null(strstr(err, "999"));
    assert_int_equal(store_ping(s), STORE_OK);
    store_close(s);
}

static int exec_sql(store_conn *c, void *arg) { return store_exec(c, arg); }

/* A migration that rebuilds an index over many rows is not cut off at the statement
 * timeout, which an ordinary statement of the same size is.  The database is made to
 * look as it did before migration 18 (the full ecase_enterprise index) with 600,000
 * cases in it; then a store whose statements may run 30 ms migrates it. */
static void long_migration_is_not_timed_out(void **state)
{
    (void)state;
    char dir[256], db[512], err[512];
    h_fresh(dir, db);
    struct store_options slow = {1, 5000, 120000}, quick = {1, 5000, 30};
    store *s = NULL;
    assert_int_equal(store_open(db, &slow, &s, err, sizeof err), STORE_OK);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    const char *fill =
        h_is_postgres()
            ? "INSERT INTO ecase (item_code, item_version, applicant, enterprise, state, form, created_ms,"
              " updated_ms) SELECT 'X-0001', 1, i, i % 3, 'draft', '{}', 0, 0 FROM generate_series(1, "
              "600000) i"
            : "INSERT INTO ecase (item_code, item_version, applicant, enterprise, state, form, created_ms,"
              " updated_ms) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000)"
              " SELECT 'X-0001', 1, i, i % 3, 'draft', '{}', 0, 0 FROM n";
    assert_int_equal(store_tx(s, 1, exec_sql, (void *)fill), STORE_OK);
    assert_int_equal(
        store_tx(s, 1, exec_sql,
                 h_is_postgres()
                     ? "DROP INDEX ecase_enterprise; CREATE INDEX ecase_enterprise ON ecase(enterprise, id);"
                       " DROP TABLE audit_pending; DELETE FROM ehall_schema WHERE version >= 18"
                     : "DROP INDEX ecase_enterprise; CREATE INDEX ecase_enterprise ON ecase(enterprise, id);"
                       " DELETE FROM ehall_schema WHERE version >= 18"),
        STORE_OK);
    store_close(s);

    assert_int_equal(store_open(db, &quick, &s, err, sizeof err), STORE_OK);
    /* an index of the same size outside a migration: cut off */
    assert_int_not_equal(
        store_tx(s, 1, exec_sql, "CREATE INDEX ecase_scratch ON ecase(applicant, enterprise, id)"), STORE_OK);
    int cur, latest;
    assert_int_equal(store_schema_version(s, &cur, &latest), STORE_OK);
    assert_int_equal(cur, 17);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    assert_int_equal(store_schema_version(s, &cur, &latest), STORE_OK);
    assert_int_equal(cur, latest);
    /* and afterwards this thread's statements are timed again */
    assert_int_not_equal(
        store_tx(s, 1, exec_sql, "CREATE INDEX ecase_scratch ON ecase(applicant, enterprise, id)"), STORE_OK);
    store_close(s);
}

static void bad_urls_are_refused(void **state)
{
    (void)state;
    struct store_options o = {1, 1000, 1000};
    store *s = NULL;
    char err[512];
    assert_int_equal(store_open("mysql://x", &o, &s, err, sizeof err), STORE_ERROR);
    assert_non_null(strstr(err, "sqlite:"));
    assert_int_equal(store_open("sqlite:/nonexistent-dir/x/y.db", &o, &s, err, sizeof err), STORE_ERROR);
    assert_int_equal(
        store_open("postgres://nobody@127.0.0.1:1/none?connect_timeout=2", &o, &s, err, sizeof err),
        STORE_ERROR);
    assert_non_null(strstr(err, "postgres"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statements_nulls_and_constraints),
        cmocka_unit_test(failed_transaction_leaves_nothing),
        cmocka_unit_test(concurrent_writers_lose_nothing),
        cmocka_unit_test(migrations_are_idempotent_and_refuse_newer),
        cmocka_unit_test(long_migration_is_not_timed_out),
        cmocka_unit_test(bad_urls_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
