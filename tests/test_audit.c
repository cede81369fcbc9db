/*
 * The audit chain: appends from several threads stay one chain; the engines refuse
 * changes; and when someone with direct database access changes, removes or cuts
 * off records anyway, `ehall audit verify` names the first broken record.  Signed
 * checkpoints: made, verified (also by the openssl CLI), and a forged or replaced
 * one is caught.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "audit/audit.h"
#include "auth/keys.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"
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

/* a committed record not yet linked, as a crash between COMMIT and the run leaves it */
static void leave_pending(store *s, const char *values)
{
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO audit_pending(at, actor, action, result) VALUES (%s)", values);
    assert_int_equal(store_tx(s, 1, exec_sql, sql), STORE_OK);
}

/* PostgreSQL writes a record pending and links it right after the COMMIT: it is in the
 * chain when store_tx returns.  Records a crash left pending (committed, not yet linked)
 * are linked by the next run, in id order, and nothing can update them meanwhile. */
static void pending_records_are_linked(void **state)
{
    (void)state;
    store *s = fresh();
    struct audit_event e = {"u1", "clerk", "127.0.0.1", "rid", "case.accept", "case-1", "ok", NULL};
    assert_int_equal(audit_record(s, &e), STORE_OK);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM audit_log WHERE object = 'case-1'"), 1);
    assert_int_equal(h_store_int(s, "SELECT seq FROM audit_head WHERE id = 1"), 1);
    if (!h_is_postgres()) {
        assert_int_equal(audit_link_pending(s), 0);
        store_close(s);
        return;
    }
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM audit_pending"), 0);
    /* what a crash between COMMIT and the linking run leaves */
    assert_int_equal(
        store_tx(s, 1, exec_sql,
                 "INSERT INTO audit_pending(at, actor, action, object, result, details) VALUES"
                 " ('2026-12-07T08:00:00.000+08:00', 'u2', 'case.approve', 'case-2', 'ok',"
                 " '{\"why\":\"a \\\"quoted\\\" reason, {braces}\"}'),"
                 " ('2026-12-07T08:00:01.000+08:00', 'u3', 'case.refuse', 'case-3', 'ok', NULL)"),
        STORE_OK);
    assert_int_not_equal(store_tx(s, 1, exec_sql, "UPDATE audit_pending SET actor = 'someone else'"),
                         STORE_OK);
    assert_int_not_equal(store_tx(s, 1, exec_sql, "TRUNCATE audit_pending"), STORE_OK);
    assert_int_equal(audit_link_pending(s), 2);
    assert_int_equal(audit_link_pending(s), 0);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM audit_pending"), 0);
    assert_int_equal(h_store_int(s, "SELECT seq FROM audit_log WHERE object = 'case-2'"), 2);
    assert_int_equal(h_store_int(s, "SELECT seq FROM audit_log WHERE object = 'case-3'"), 3);
    /* the next audited transaction links what is pending before its own record */
    leave_pending(s, "'2026-12-07T08:00:02.000+08:00', 'u4', 'auth.login', 'ok'");
    assert_int_equal(audit_record(s, &e), STORE_OK);
    assert_int_equal(h_store_int(s, "SELECT seq FROM audit_log WHERE actor = 'u4'"), 4);
    assert_int_equal(h_store_int(s, "SELECT MAX(seq) FROM audit_log WHERE object = 'case-1'"), 5);
    /* and verification links what is pending before it walks the chain */
    leave_pending(s, "'2026-12-07T08:00:03.000+08:00', 'u5', 'auth.logout', 'ok'");
    struct audit_report rep;
    assert_int_equal(audit_verify(s, &rep), 0);
    assert_int_equal(rep.records, 6);
    store_close(s);
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 6 records"));
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

/* ---- signed checkpoints ---- */

static void keys_for_dir(void)
{
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    char err[512];
    if (keys_init(&cfg, err, sizeof err) != 0) fail_msg("keys_init: %s", err);
}

struct row1 {
    const char *sql;
    long long seq;
    char v[4][256];
};

/* The text columns of the first row of sql ($1 = seq), up to four. */
static int row1_tx(store_conn *c, void *arg)
{
    struct row1 *r = arg;
    store_stmt *st = store_prepare(c, r->sql);
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, r->seq);
    int rc = store_step(st);
    if (rc == STORE_ROW)
        for (int i = 0; i < store_column_count(st) && i < 4; i++)
            snprintf(r->v[i], sizeof r->v[i], "%s", store_column_text(st, i) ? store_column_text(st, i) : "");
    store_finalize(st);
    return rc == STORE_ROW ? STORE_OK : STORE_ERROR;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void checkpoints_are_signed_and_verified(void **state)
{
    (void)state;
    store *s = fresh();
    keys_for_dir();
    long long seq = -1;
    assert_int_equal(audit_checkpoint(s, keys_audit_private_pem(), keys_audit_key_id(), &seq), 1);
    assert_int_equal(seq, 0); /* empty log: nothing to sign */
    fill(s, 10);
    assert_int_equal(audit_checkpoint_due(s, 10), 1);
    assert_int_equal(audit_checkpoint_due(s, 11), 0);
    assert_int_equal(audit_checkpoint(s, keys_audit_private_pem(), keys_audit_key_id(), &seq), 0);
    assert_int_equal(seq, 10);
    assert_int_equal(audit_checkpoint(s, keys_audit_private_pem(), keys_audit_key_id(), &seq), 1);
    assert_int_equal(seq, 10);
    assert_int_equal(audit_checkpoint_due(s, 1), 0);
    fill(s, 5);
    assert_int_equal(audit_checkpoint_due(s, 5), 1);
    assert_int_equal(audit_checkpoint(s, keys_audit_private_pem(), keys_audit_key_id(), &seq), 0);
    assert_int_equal(seq, 15);
    fill(s, 2);
    struct audit_report rep;
    assert_int_equal(audit_verify_signed(s, keys_audit_public_pem(), &rep), 0);
    assert_int_equal(rep.records, 17);
    assert_int_equal(rep.checkpoints, 2);

    /* the signature checks out with the openssl CLI too */
    struct row1 r = {"SELECT hash, at, key_id, signature FROM audit_checkpoint WHERE seq = $1", 15, {{0}}};
    assert_int_equal(store_tx(s, 0, row1_tx, &r), STORE_OK);
    assert_string_equal(r.v[2], keys_audit_key_id());
    char text[256], path[400], cmd[2048], out2[4096];
    int n = audit_checkpoint_text(15, r.v[0], r.v[1], text, sizeof text);
    assert_true(n > 0);
    assert_true(str_has_prefix(text, "ehall-audit-checkpoint v1\n15\n"));
    snprintf(path, sizeof path, "%s/cp.txt", dir);
    write_bytes(path, text, (size_t)n);
    unsigned char sig[128];
    size_t sl = strlen(r.v[3]) / 2;
    assert_true(sl <= sizeof sig);
    assert_int_equal(hex_decode(r.v[3], sl, sig), 0);
    snprintf(path, sizeof path, "%s/cp.sig", dir);
    write_bytes(path, sig, sl);
    snprintf(path, sizeof path, "%s/keys/audit-sm2.pub.pem", dir);
    char *pub = h_slurp(path);
    assert_non_null(pub);
    assert_string_equal(pub, keys_audit_public_pem());
    free(pub);
    FILE *p = popen("openssl version 2>/dev/null", "r");
    char ver[128] = "";
    if (p) {
        if (!fgets(ver, sizeof ver, p)) ver[0] = 0;
        pclose(p);
    }
    if (strncmp(ver, "OpenSSL 3", 9) == 0) {
        snprintf(cmd, sizeof cmd,
                 "cd %s && openssl pkeyutl -verify -pubin -inkey keys/audit-sm2.pub.pem -rawin -in cp.txt "
                 "-sigfile "
                 "cp.sig -digest sm3 -pkeyopt distid:1234567812345678 2>&1",
                 dir);
        p = popen(cmd, "r");
        assert_non_null(p);
        size_t got = fread(out2, 1, sizeof out2 - 1, p);
        out2[got] = 0;
        int st = pclose(p);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("openssl: %s", out2);
        assert_non_null(strstr(out2, "Signature Verified Successfully"));
    } else {
        print_message("openssl 3 CLI not found; skipping the cross-check\n");
    }
    store_close(s);
    keys_shutdown();

    const char *verify[] = {"audit", "verify", NULL}, *checkpoint[] = {"audit", "checkpoint", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 17 records, 2 signed checkpoints verified"));
    assert_int_equal(h_cli(dir, db, checkpoint, out, sizeof out), 0);
    assert_non_null(strstr(out, "signed checkpoint at record 17"));
    assert_int_equal(h_cli(dir, db, checkpoint, out, sizeof out), 0);
    assert_non_null(strstr(out, "record 17 already has a signed checkpoint"));
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 17 records, 3 signed checkpoints verified"));
}

static void forged_checkpoints_are_caught(void **state)
{
    (void)state;
    const char *verify[] = {"audit", "verify", NULL};
    /* 1. a signature changed in the database */
    store *s = fresh();
    keys_for_dir();
    fill(s, 10);
    long long seq;
    assert_int_equal(audit_checkpoint(s, keys_audit_private_pem(), keys_audit_key_id(), &seq), 0);
    fill(s, 10);
    assert_int_equal(audit_checkpoint(s, keys_audit_private_pem(), keys_audit_key_id(), &seq), 0);
    struct row1 r = {"SELECT hash, at, key_id, signature FROM audit_checkpoint WHERE seq = $1", 20, {{0}}};
    assert_int_equal(store_tx(s, 0, row1_tx, &r), STORE_OK);
    /* move record 20's signature onto record 10's checkpoint */
    char sql_text[600];
    snprintf(sql_text, sizeof sql_text, "UPDATE audit_checkpoint SET signature = '%s' WHERE seq = 10",
             r.v[3]);
    assert_int_equal(store_tx(s, 1, exec_sql, sql_text), STORE_OK);
    struct audit_report rep;
    assert_int_equal(audit_verify_signed(s, keys_audit_public_pem(), &rep), 1);
    assert_int_equal(rep.broken_seq, 10);
    assert_int_equal(rep.checkpoint_broken, 1);
    store_close(s);
    keys_shutdown();
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 1);
    if (!strstr(out, "BROKEN at record 10") || !strstr(out, "signature does not verify")) fail_msg("%s", out);

    /* 2. a signature over another hash, as someone who rewrote the chain and holds a
     * different key would make */
    s = fresh();
    keys_for_dir();
    fill(s, 6);
    char *priv = NULL, *pub = NULL, text[256], at[48];
    assert_int_equal(crypto_sm2_keygen(&priv, &pub), 0);
    time_rfc3339(now_wall(), at, sizeof at);
    int n = audit_checkpoint_text(6, "00000000000000000000000000000000000000000000000000000000000000aa", at,
                                  text, sizeof text);
    unsigned char *sig = NULL;
    size_t sl = 0;
    assert_int_equal(crypto_sm2_sign(priv, NULL, text, (size_t)n, &sig, &sl), 0);
    char hex[200];
    hex_encode(sig, sl, hex);
    snprintf(
        sql_text, sizeof sql_text,
        "INSERT INTO audit_checkpoint VALUES (6, "
        "'00000000000000000000000000000000000000000000000000000000000000aa', '%s', '0123456789abcdef', '%s')",
        at, hex);
    assert_int_equal(store_tx(s, 1, exec_sql, sql_text), STORE_OK);
    assert_int_equal(audit_verify_signed(s, keys_audit_public_pem(), &rep), 1);
    assert_int_equal(rep.broken_seq, 6);
    assert_non_null(strstr(rep.reason, "not the configured audit key"));
    free(sig);

    /* 3. signed by the right key but over a hash the chain does not have at that record
     * (the chain was rewritten after the checkpoint) */
    assert_int_equal(store_tx(s, 1, exec_sql, "DELETE FROM audit_checkpoint"), STORE_OK);
    assert_int_equal(crypto_sm2_sign(keys_audit_private_pem(), NULL, text, (size_t)n, &sig, &sl), 0);
    hex_encode(sig, sl, hex);
    snprintf(sql_text, sizeof sql_text,
             "INSERT INTO audit_checkpoint VALUES (6, "
             "'00000000000000000000000000000000000000000000000000000000000000aa', '%s', '%s', '%s')",
             at, keys_audit_key_id(), hex);
    assert_int_equal(store_tx(s, 1, exec_sql, sql_text), STORE_OK);
    assert_int_equal(audit_verify_signed(s, keys_audit_public_pem(), &rep), 1);
    assert_int_equal(rep.broken_seq, 6);
    assert_non_null(strstr(rep.reason, "rewritten"));
    free(sig);
    crypto_wipe(priv, strlen(priv));
    free(priv);
    free(pub);

    /* 4. a checkpoint beyond the end of the chain (records and head cut back) */
    assert_int_equal(store_tx(s, 1, exec_sql, "UPDATE audit_checkpoint SET seq = 60"), STORE_OK);
    assert_int_equal(audit_verify_signed(s, keys_audit_public_pem(), &rep), 1);
    assert_int_equal(rep.broken_seq, 60);
    store_close(s);
    keys_shutdown();
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 1);
    assert_non_null(strstr(out, "BROKEN at record 60"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(concurrent_appends_form_one_chain),
        cmocka_unit_test(engines_refuse_changes),
        cmocka_unit_test(pending_records_are_linked),
        cmocka_unit_test(tampering_is_caught),
        cmocka_unit_test(operator_actions_are_recorded),
        cmocka_unit_test(checkpoints_are_signed_and_verified),
        cmocka_unit_test(forged_checkpoints_are_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
