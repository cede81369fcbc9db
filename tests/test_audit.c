/*
 * The audit chain: appends from several threads stay one chain; the engines refuse
 * changes; and when someone with direct database access changes, removes or cuts
 * off records anyway, `ehall audit verify` names the first broken record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "harness.h"

static char dir[256], db[512], out[4096];

static store *fresh(void)
{
    char err[512];
    h_fresh(dir, db);
    struct store_options o = {4, 5000, 10000};
    store *s = NULL;
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    return s;
}

static void *appender(void *arg)
{
    store *s = arg;
    for (int i = 0; i < 25; i++) {
        char obj[32];
        snprintf(obj, sizeof obj, "case-%d", i);
        struct audit_event e = {"u1", "clerk", "127.0.0.1", "rid", "case.accept", obj, "ok", "{\"n\":1}"};
        if (audit_record(s, &e) != STORE_OK) return (void *)1;
    }
    return NULL;
}

static int exec_sql(store_conn *c, void *sql) { return store_exec(c, sql); }

/* What an attacker with database access would do first. */
static void drop_triggers(store *s)
{
    const char *sql = store_engine_of(s) == STORE_SQLITE
                          ? "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
                          : "DROP TRIGGER audit_log_no_change ON audit_log";
    assert_int_equal(store_tx(s, 1, exec_sql, (void *)sql), STORE_OK);
}

static void concurrent_appends_form_one_chain(void **state)
{
    (void)state;
    store *s = fresh();
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, appender, s);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    struct audit_report rep;
    assert_int_equal(audit_verify(s, &rep), 0);
    assert_int_equal(rep.records, 100);
    assert_int_equal(strlen(rep.head), 64);
    store_close(s);
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 100 records"));
}

static void engines_refuse_changes(void **state)
{
    (void)state;
    store *s = fresh();
    struct audit_event e = {"u1", NULL, NULL, NULL, "auth.login", NULL, "ok", NULL};
    assert_int_equal(audit_record(s, &e), STORE_OK);
    assert_int_not_equal(store_tx(s, 1, exec_sql, "UPDATE audit_log SET result = 'denied'"), STORE_OK);
    assert_int_not_equal(store_tx(s, 1, exec_sql, "DELETE FROM audit_log"), STORE_OK);
    struct audit_report rep;
    assert_int_equal(audit_verify(s, &rep), 0);
    assert_int_equal(rep.records, 1);
    store_close(s);
}

static void fill(store *s, int n)
{
    for (int i = 0; i < n; i++) {
        struct audit_event e = {"u2", "auditor", "10.0.0.1", NULL, "audit.export", "log", "ok", NULL};
        assert_int_equal(audit_record(s, &e), STORE_OK);
    }
}

static void tampering_is_caught(void **state)
{
    (void)state;
    struct {
        const char *sql, *cli_says;
        long long seq;
    } cases[] = {
        {"UPDATE audit_log SET result = 'denied' WHERE seq = 7", "BROKEN at record 7", 7},
        {"UPDATE audit_log SET details = '{}' WHERE seq = 3", "BROKEN at record 3", 3},
        {"DELETE FROM audit_log WHERE seq = 5", "BROKEN at record 5", 5},
        {"DELETE FROM audit_log WHERE seq >= 9", "BROKEN at record 9", 9},
        /* rewriting one record's hash too only moves the break to the next record */
        {"UPDATE audit_log SET result = 'x', hash = 'ff' WHERE seq = 4", "BROKEN at record 4", 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        store *s = fresh();
        fill(s, 10);
        drop_triggers(s);
        assert_int_equal(store_tx(s, 1, exec_sql, (void *)cases[i].sql), STORE_OK);
        struct audit_report rep;
        assert_int_equal(audit_verify(s, &rep), 1);
        if (rep.broken_seq != cases[i].seq)
            fail_msg("%s: broken at %lld (%s), wanted %lld", cases[i].sql, rep.broken_seq, rep.reason,
                     cases[i].seq);
        store_close(s);
        const char *verify[] = {"audit", "verify", NULL};
        assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 1);
        if (!strstr(out, cases[i].cli_says)) fail_msg("%s: CLI said %s", cases[i].sql, out);
    }
}

static void operator_actions_are_recorded(void **state)
{
    (void)state;
    store *s = fresh();
    store_close(s);
    struct srv srv;
    assert_int_equal(h_start(&srv, dir, db, NULL), 0);
    assert_int_equal(h_stop(&srv), 0);
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 2 records")); /* system.start, system.stop */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_appends_form_one_chain),
        cmocka_unit_test(engines_refuse_changes),
        cmocka_unit_test(tampering_is_caught),
        cmocka_unit_test(operator_actions_are_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
