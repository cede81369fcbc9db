/*
 * CLI tests: help, version, config check, migrate, and backup/restore with their
 * refusals (SQLite); on PostgreSQL, backup points to the engine's own tools.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char out[16384];

static void help_version_and_unknown(void **state)
{
    (void)state;
    const char *help[] = {"help", NULL};
    assert_int_equal(h_cli(NULL, NULL, help, out, sizeof out), 0);
    const char *cmds[] = {"serve", "migrate", "backup", "restore", "config", "version"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) assert_non_null(strstr(out, cmds[i]));
    const char *ver[] = {"version", NULL};
    assert_int_equal(h_cli(NULL, NULL, ver, out, sizeof out), 0);
    assert_non_null(strstr(out, "ehall "));
    assert_non_null(strstr(out, "OpenSSL 3"));
    const char *bad[] = {"frobnicate", NULL};
    assert_int_equal(h_cli(NULL, NULL, bad, out, sizeof out), 2);
    assert_non_null(strstr(out, "frobnicate"));
    const char *routes[] = {"routes", NULL};
    assert_int_equal(h_cli(NULL, NULL, routes, out, sizeof out), 0);
    assert_non_null(strstr(out, "/healthz"));
}

static void config_check_names_bad_key(void **state)
{
    (void)state;
    const char *p = "/tmp/ehall-cli-test.conf";
    FILE *f = fopen(p, "w");
    fputs("listen = 127.0.0.1:9999\nhttp.max_body = 12\n", f);
    fclose(f);
    const char *check[] = {"config", "check", p, NULL};
    assert_int_equal(h_cli(NULL, NULL, check, out, sizeof out), 1);
    assert_non_null(strstr(out, "http.max_body"));
    assert_non_null(strstr(out, "out of range"));
    f = fopen(p, "w");
    fputs("listen = 127.0.0.1:9999\nhttp.max_body = 4096\n", f);
    fclose(f);
    assert_int_equal(h_cli(NULL, NULL, check, out, sizeof out), 0);
    /* the file, the environment and flags stack in that order */
    const char *show[] = {"--config", p, "config", "show", NULL};
    setenv("EHALL_HTTP_MAX_BODY", "8192", 1);
    assert_int_equal(h_cli("/tmp/x-data", "postgres://u:hunter2@db/x", show, out, sizeof out), 0);
    unsetenv("EHALL_HTTP_MAX_BODY");
    assert_non_null(strstr(out, "listen = 127.0.0.1:9999"));
    assert_non_null(strstr(out, "http.max_body = 8192"));
    assert_non_null(strstr(out, "data = /tmp/x-data"));
    assert_null(strstr(out, "hunter2")); /* passwords are never printed */
    const char *keys[] = {"config", "keys", NULL};
    assert_int_equal(h_cli(NULL, NULL, keys, out, sizeof out), 0);
    assert_non_null(strstr(out, "EHALL_HTTP_CLIENT_RATE"));
    unlink(p);
}

static void migrate_is_idempotent(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    const char *mig[] = {"migrate", NULL};
    assert_int_equal(h_cli(dir, db, mig, out, sizeof out), 0);
    assert_non_null(strstr(out, "schema at version"));
    char first[256];
    snprintf(first, sizeof first, "%s", strstr(out, "schema at version"));
    assert_int_equal(h_cli(dir, db, mig, out, sizeof out), 0);
    assert_non_null(strstr(out, first));
}

static long long count_views(struct srv *s)
{
    struct resp r;
    h_http(s, "GET", "/api/v1/analytics/summary?from=2000-01-01&to=2999-12-31", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    const char *v = strstr(r.body, "\"views\":");
    long long n = v ? atoll(v + 8) : -1;
    h_resp_free(&r);
    return n;
}

static void post_views(struct srv *s, int n)
{
    const char *json[] = {"Content-Type: application/json", H_CSRF_COOKIE, H_CSRF_HEADER, NULL};
    for (int i = 0; i < n; i++) {
        struct resp r;
        h_http(s, "POST", "/api/v1/analytics/pageviews", json, "{\"path\":\"/b\"}", 13, &r);
        assert_int_equal(r.status, 201);
        h_resp_free(&r);
    }
}

static void backup_and_restore(void **state)
{
    (void)state;
    char dir[256], db[512], file[400], cmd[1200];
    h_fresh(dir, db);
    snprintf(file, sizeof file, "%s/backup.db", dir);
    const char *backup[] = {"backup", file, NULL};
    const char *restore[] = {"restore", file, NULL};
    if (h_is_postgres()) {
        const char *mig[] = {"migrate", NULL};
        assert_int_equal(h_cli(dir, db, mig, out, sizeof out), 0);
        assert_int_equal(h_cli(dir, db, backup, out, sizeof out), 2);
        assert_non_null(strstr(out, "pg_dump"));
        assert_int_equal(h_cli(dir, db, restore, out, sizeof out), 2);
        return;
    }
    struct srv s;
    assert_int_equal(h_start(&s, dir, db, NULL), 0);
    post_views(&s, 5);
    /* online: the server keeps serving while the backup runs */
    assert_int_equal(h_cli(dir, db, backup, out, sizeof out), 0);
    assert_non_null(strstr(out, "sm3 "));
    post_views(&s, 3);
    assert_int_equal(count_views(&s), 8);
    /* never restored under a running server */
    assert_int_equal(h_cli(dir, db, restore, out, sizeof out), 1);
    assert_non_null(strstr(out, "stop it first"));
    assert_int_equal(count_views(&s), 8);
    assert_int_equal(h_stop(&s), 0);

    /* the digest file is SM3 of the backup, checkable with the openssl CLI */
    snprintf(cmd, sizeof cmd,
             "test \"$(openssl dgst -sm3 -r %s | cut -d' ' -f1)\" = \"$(cut -d' ' -f1 %s.sm3)\"", file, file);
    assert_int_equal(system(cmd), 0);

    assert_int_equal(h_cli(dir, db, restore, out, sizeof out), 0);
    assert_int_equal(h_start(&s, dir, db, NULL), 0);
    assert_int_equal(count_views(&s), 5);
    post_views(&s, 1);
    assert_int_equal(h_stop(&s), 0);

    /* refusals: flipped byte, truncation, missing digest, not an ehall database */
    char bad[420];
    snprintf(bad, sizeof bad, "%s/bad.db", dir);
    const char *restore_bad[] = {"restore", bad, NULL};
    snprintf(cmd, sizeof cmd,
             "cp %s %s && cp %s.sm3 %s.sm3 && printf 'X' | dd of=%s bs=1 seek=5000 conv=notrunc 2>/dev/null",
             file, bad, file, bad, bad);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(h_cli(dir, db, restore_bad, out, sizeof out), 1);
    assert_non_null(strstr(out, "digest mismatch"));
    snprintf(cmd, sizeof cmd, "cp %s %s && truncate -s 4096 %s", file, bad, bad);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(h_cli(dir, db, restore_bad, out, sizeof out), 1);
    assert_non_null(strstr(out, "digest mismatch"));
    snprintf(cmd, sizeof cmd, "cp %s %s && rm %s.sm3", file, bad, bad);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(h_cli(dir, db, restore_bad, out, sizeof out), 1);
    assert_non_null(strstr(out, "no digest file"));
    /* a sound SQLite file with a matching digest but no ehall schema */
    snprintf(cmd, sizeof cmd,
             "rm -f %s && sqlite3 %s 'CREATE TABLE x(y)' && "
             "openssl dgst -sm3 -r %s | sed 's/ \\*/  /' > %s.sm3",
             bad, bad, bad, bad);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(h_cli(dir, db, restore_bad, out, sizeof out), 1);
    assert_non_null(strstr(out, "no ehall schema"));

    /* after every refusal the live data is untouched: 5 restored + 1 */
    assert_int_equal(h_start(&s, dir, db, NULL), 0);
    assert_int_equal(count_views(&s), 6);
    assert_int_equal(h_stop(&s), 0);
}

static void newer_schema_is_refused(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    const char *mig[] = {"migrate", NULL};
    assert_int_equal(h_cli(dir, db, mig, out, sizeof out), 0);
    char cmd[1200];
    if (h_is_postgres())
        snprintf(cmd, sizeof cmd, "psql -q '%s' -c \"INSERT INTO ehall_schema VALUES (9999, 'future', 'x')\"",
                 db);
    else
        snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"INSERT INTO ehall_schema VALUES (9999, 'future', 'x')\"",
                 db + strlen("sqlite:"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(h_cli(dir, db, mig, out, sizeof out), 1);
    assert_non_null(strstr(out, "9999"));
    const char *serve[] = {"serve", "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(h_cli(dir, db, serve, out, sizeof out), 1);
    assert_non_null(strstr(out, "newer ehall"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(help_version_and_unknown), cmocka_unit_test(config_check_names_bad_key),
        cmocka_unit_test(migrate_is_idempotent),    cmocka_unit_test(backup_and_restore),
        cmocka_unit_test(newer_schema_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
