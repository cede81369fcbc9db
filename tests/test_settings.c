/*
 * The console's settings, through the API of a real `ehall serve`: the security
 * administrator overrides the lockout threshold (PUT /api/v1/admin/security) and a
 * person is locked after that many failures — on the same server at once and, on
 * PostgreSQL, on a second server of the same database within the refresh interval;
 * every bad setting named (422) and nothing stored; null goes back to the
 * configuration; each change audited with old and new values; a row changed in the
 * database behind ehall's back is ignored (the configuration applies) and audited as
 * security.integrity; only the security administrator may change the policy.  A staff
 * account's IP ranges changed by the system or security administrator (narrowing ends
 * its sessions; audited), and an item definition validated in the console without
 * being imported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "people.h"
#include "store/store.h"

static char dir[256], db[512];

static const char *str(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }
static long long num(json_t *j, const char *key) { return json_integer_value(json_object_get(j, key)); }

static int has_field(json_t *err, const char *field)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(json_object_get(err, "error"), "details"), i, d)
    {
        if (!strcmp(str(d, "field"), field)) return 1;
    }
    return 0;
}

/* An audit record's details as compact JSON text with sorted keys (a static buffer). */
static const char *details(json_t *rec)
{
    static char buf[4096];
    char *t = json_dumps(json_object_get(rec, "details"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    snprintf(buf, sizeof buf, "%s", t ? t : "");
    free(t);
    return buf;
}

static store *open_db(void)
{
    struct store_options o = {2, 5000, 10000};
    store *s = NULL;
    char err[256];
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    return s;
}

static long long db_int(const char *sql)
{
    store *s = open_db();
    store_conn *c = store_acquire(s);
    long long v = -1;
    assert_int_equal(store_query_int64(c, sql, &v), STORE_OK);
    store_release(c);
    store_close(s);
    return v;
}

static void db_exec(const char *sql)
{
    store *s = open_db();
    store_conn *c = store_acquire(s);
    assert_int_equal(store_exec(c, sql), STORE_OK);
    store_release(c);
    store_close(s);
}

static void start(struct srv *s, struct admins *a)
{
    h_fresh(dir, db);
    if (h_start(s, dir, db, NULL) != 0) fail_msg("server did not start; log: %s", h_slurp(s->log));
    p_admins(s, a);
}

/* One setting of GET /api/v1/admin/security's list. */
static json_t *setting(json_t *sec, const char *key)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(sec, "settings"), i, o)
    {
        if (!strcmp(str(o, "key"), key)) return o;
    }
    fail_msg("no setting %s", key);
    return NULL;
}

/* Password log-in with a fresh captcha; returns the status. */
static long login(struct hclient *c, const char *login_name, const char *pw)
{
    json_t *j = p_want(c, 201, "POST", "/api/v1/captcha", "{}");
    char body[512];
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", login_name,
             pw, str(j, "id"), str(j, "answer"));
    json_decref(j);
    long st;
    json_decref(hc_json(c, "POST", "/api/v1/auth/login", body, &st));
    return st;
}

/* ---------- the security policy ---------- */

static void policy_change_locks_after_fewer_failures(void **state)
{
    (void)state;
    struct srv s, s2;
    struct admins a;
    start(&s, &a);
    int two = h_is_postgres();
    if (two && h_start(&s2, dir, db, NULL) != 0)
        fail_msg("second server did not start; log: %s", h_slurp(s2.log));
    struct hclient person;
    p_person(&s, &person, "setpol01", "1991-02-03");
    p_person(&s, &person, "setpol02", "1992-03-04");

    /* the configuration's values, said to come from there */
    json_t *j = p_want(&a.sec, 200, "GET", "/api/v1/admin/security", NULL);
    json_t *o = setting(j, "auth.lockout_threshold");
    assert_int_equal(num(o, "value"), 3);
    assert_string_equal(str(o, "source"), "config");
    assert_int_equal(num(o, "min"), 1);
    assert_int_equal(num(o, "max"), 100);
    assert_int_equal(num(json_object_get(j, "lockout"), "threshold"), 3);
    assert_int_equal(num(setting(j, "auth.password_history"), "value"), 5);
    json_decref(j);

    /* the security administrator lowers the threshold to 2 */
    j = p_want(&a.sec, 200, "PUT", "/api/v1/admin/security",
               "{\"auth.lockout_threshold\":2,\"session.staff_max\":2}");
    o = setting(j, "auth.lockout_threshold");
    assert_int_equal(num(o, "value"), 2);
    assert_string_equal(str(o, "source"), "console");
    assert_int_equal(num(o, "config"), 3);
    assert_string_equal(str(o, "updated_by"), "secadmin");
    assert_int_equal(num(json_object_get(j, "lockout"), "threshold"), 2);
    assert_int_equal(num(json_object_get(j, "session"), "staff_max"), 2);
    json_decref(j);
    assert_int_equal(db_int("SELECT COUNT(*) FROM setting WHERE key = 'auth.lockout_threshold'"), 1);

    /* in force at once on this server: the second failure locks */
    struct hclient c;
    hc_init(&c, &s);
    assert_int_equal(login(&c, "setpol01", "Wrong-pass-1"), 401);
    assert_int_equal(login(&c, "setpol01", "Wrong-pass-1"), 423);
    assert_int_equal(login(&c, "setpol01", P_PASSWORD), 423);

    /* and on another server of the same database within the refresh interval */
    if (two) {
        struct hclient c2, sec2 = a.sec;
        hc_init(&c2, &s2);
        sec2.s = &s2;
        long long seen = 0;
        for (int i = 0; i < 80 && seen != 2; i++) {
            j = p_want(&sec2, 200, "GET", "/api/v1/admin/security", NULL);
            seen = num(setting(j, "auth.lockout_threshold"), "value");
            json_decref(j);
            if (seen != 2) usleep(100000);
        }
        assert_int_equal(seen, 2);
        assert_int_equal(login(&c2, "setpol02", "Wrong-pass-1"), 401);
        assert_int_equal(login(&c2, "setpol02", "Wrong-pass-1"), 423);
    }

    /* the change is on record with the old and new values */
    j = p_want(&a.aud, 200, "GET", "/api/v1/audit?action=security.policy.change", NULL);
    json_t *recs = json_object_get(j, "records");
    assert_int_equal(json_array_size(recs), 1);
    const char *det = details(json_array_get(recs, 0));
    assert_non_null(det);
    assert_non_null(strstr(det, "\"auth.lockout_threshold\":{\"new\":2,\"new_source\":\"console\",\"old\":3,"
                                "\"old_source\":\"config\"}"));
    assert_non_null(strstr(det, "session.staff_max"));
    json_decref(j);

    /* null: back to the configuration (the row goes), also audited */
    j = p_want(&a.sec, 200, "PUT", "/api/v1/admin/security", "{\"auth.lockout_threshold\":null}");
    o = setting(j, "auth.lockout_threshold");
    assert_int_equal(num(o, "value"), 3);
    assert_string_equal(str(o, "source"), "config");
    assert_null(json_object_get(o, "updated_by"));
    assert_string_equal(str(setting(j, "session.staff_max"), "source"), "console");
    json_decref(j);
    assert_int_equal(db_int("SELECT COUNT(*) FROM setting WHERE key = 'auth.lockout_threshold'"), 0);
    assert_int_equal(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.policy.change'"), 2);
    if (two) assert_int_equal(h_stop(&s2), 0);
    assert_int_equal(h_stop(&s), 0);
}

static void policy_bad_input_and_permissions(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient person;
    p_person(&s, &person, "setpol03", "1993-04-05");

    /* every bad setting by name, nothing stored */
    json_t *j =
        p_want(&a.sec, 422, "PUT", "/api/v1/admin/security",
               "{\"auth.lockout_threshold\":0,\"session.idle_timeout\":\"soon\",\"auth.nope\":1,"
               "\"auth.password_history\":13,\"session.max_lifetime\":1.5,\"auth.lockout_window\":60}");
    assert_true(has_field(j, "auth.lockout_threshold"));
    assert_true(has_field(j, "session.idle_timeout"));
    assert_true(has_field(j, "auth.nope"));
    assert_true(has_field(j, "auth.password_history"));
    assert_true(has_field(j, "session.max_lifetime"));
    assert_false(has_field(j, "auth.lockout_window"));
    json_decref(j);
    j = p_want(&a.sec, 422, "PUT", "/api/v1/admin/security", "{}");
    assert_true(has_field(j, "settings"));
    json_decref(j);
    json_decref(p_want(&a.sec, 400, "PUT", "/api/v1/admin/security", "[1]"));
    json_decref(p_want(&a.sec, 422, "PUT", "/api/v1/admin/security", "{\"auth.ip_fail_limit\":100001}"));
    assert_int_equal(db_int("SELECT COUNT(*) FROM setting"), 0);
    assert_int_equal(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.policy.change'"), 0);
    /* the edges of the ranges are accepted */
    j = p_want(&a.sec, 200, "PUT", "/api/v1/admin/security",
               "{\"auth.password_expiry_days\":0,\"auth.password_history\":12,\"auth.ip_fail_limit\":0}");
    assert_int_equal(num(setting(j, "auth.password_history"), "value"), 12);
    assert_int_equal(num(json_object_get(j, "password"), "expiry_days"), 0);
    json_decref(j);

    /* only the security administrator changes the policy; only it reads it */
    const char *body = "{\"auth.lockout_threshold\":50}";
    json_decref(p_want(&a.sys, 403, "PUT", "/api/v1/admin/security", body));
    json_decref(p_want(&a.aud, 403, "PUT", "/api/v1/admin/security", body));
    json_decref(p_want(&person, 403, "PUT", "/api/v1/admin/security", body));
    json_decref(p_want(&a.sys, 403, "GET", "/api/v1/admin/security", NULL));
    json_decref(p_want(&a.aud, 403, "GET", "/api/v1/admin/security", NULL));
    struct hclient anon;
    hc_init(&anon, &s);
    json_decref(p_want(&anon, 401, "PUT", "/api/v1/admin/security", body));
    assert_int_equal(db_int("SELECT COUNT(*) FROM setting WHERE key = 'auth.lockout_threshold'"), 0);
    assert_true(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.denied'") >= 3);
    /* the permission is the security administrator's, in the catalog */
    j = p_want(&a.sec, 200, "GET", "/api/v1/session", NULL);
    char *text = json_dumps(j, 0);
    assert_non_null(strstr(text, "security.policy.manage"));
    free(text);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

static void tampered_setting_is_ignored_and_audited(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient person;
    p_person(&s, &person, "setpol04", "1994-05-06");
    json_decref(p_want(&a.sec, 200, "PUT", "/api/v1/admin/security", "{\"auth.lockout_threshold\":5}"));

    /* someone with the database raises the threshold to 100 behind ehall's back */
    db_exec("UPDATE setting SET value = replace(value, '\"value\":5', '\"value\":100')"
            " WHERE key = 'auth.lockout_threshold'");
    assert_int_equal(db_int("SELECT COUNT(*) FROM setting WHERE value LIKE '%\"value\":100%'"), 1);
    /* within the refresh interval the row is refused: the configuration's 3 applies */
    json_t *j = NULL;
    const char *source = NULL;
    for (int i = 0; i < 80; i++) {
        json_decref(j);
        j = p_want(&a.sec, 200, "GET", "/api/v1/admin/security", NULL);
        source = str(setting(j, "auth.lockout_threshold"), "source");
        if (!strcmp(source, "config")) break;
        usleep(100000);
    }
    assert_string_equal(source, "config");
    assert_int_equal(num(setting(j, "auth.lockout_threshold"), "value"), 3);
    json_decref(j);
    struct hclient c;
    hc_init(&c, &s);
    assert_int_equal(login(&c, "setpol04", "Wrong-pass-1"), 401);
    assert_int_equal(login(&c, "setpol04", "Wrong-pass-1"), 401);
    assert_int_equal(login(&c, "setpol04", "Wrong-pass-1"), 423);

    /* audited once (not at every refresh), as security.integrity */
    sleep(6);
    assert_int_equal(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.integrity'"
                            " AND object = 'setting:auth.lockout_threshold' AND result = 'tampered'"),
                     1);
    /* a new change by the console writes a valid row again */
    j = p_want(&a.sec, 200, "PUT", "/api/v1/admin/security", "{\"auth.lockout_threshold\":4}");
    assert_string_equal(str(setting(j, "auth.lockout_threshold"), "source"), "console");
    assert_int_equal(num(setting(j, "auth.lockout_threshold"), "value"), 4);
    int found = 0;
    json_decref(j);
    j = p_want(&a.aud, 200, "GET", "/api/v1/audit?action=security.policy.change", NULL);
    json_t *recs = json_object_get(j, "records");
    for (size_t i = 0; i < json_array_size(recs); i++) {
        const char *d = details(json_array_get(recs, i));
        /* the tampered 100 never applied: the change is from the configuration's 3 */
        if (strstr(d, "\"new\":4")) found += strstr(d, "\"old\":3,\"old_source\":\"config\"") != NULL;
    }
    assert_int_equal(found, 1);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- staff IP ranges ---------- */

static void staff_ip_ranges_change(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a);
    json_decref(
        p_want(&a.sys, 201, "POST", "/api/v1/admin/departments", "{\"code\":\"IPR\",\"name\":\"测试科\"}"));
    long long dept = p_dept_id(&a.sys, "IPR");
    struct hclient staff;
    long long id = p_staff(&s, &a, &staff, "iprstaff", dept, "");
    json_decref(p_want(&staff, 200, "GET", "/api/v1/account", NULL));
    char path[96];
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/ip-ranges", id);

    /* bad input by name; the auditor and a staff member may not */
    json_t *j = p_want(&a.sys, 422, "PUT", path, "{\"ip_ranges\":\"10.0.0.0/33,nonsense\"}");
    assert_true(has_field(j, "ip_ranges"));
    json_decref(j);
    j = p_want(&a.sys, 422, "PUT", path, "{\"ranges\":\"10.0.0.0/8\"}");
    assert_true(has_field(j, "ranges"));
    assert_true(has_field(j, "ip_ranges"));
    json_decref(j);
    json_decref(p_want(&a.aud, 403, "PUT", path, "{\"ip_ranges\":\"\"}"));
    json_decref(p_want(&staff, 403, "PUT", path, "{\"ip_ranges\":\"\"}"));
    json_decref(
        p_want(&a.sys, 404, "PUT", "/api/v1/admin/accounts/999999/ip-ranges", "{\"ip_ranges\":\"\"}"));
    /* an administrator's account is not a staff account */
    long long secid = db_int("SELECT id FROM account WHERE login = 'secadmin'");
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/ip-ranges", secid);
    json_decref(p_want(&a.sys, 404, "PUT", path, "{\"ip_ranges\":\"10.0.0.0/8\"}"));
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/ip-ranges", id);
    json_decref(p_want(&staff, 200, "GET", "/api/v1/account", NULL)); /* still logged in */

    /* the system administrator narrows them: the staff member's sessions end */
    j = p_want(&a.sys, 200, "PUT", path, "{\"ip_ranges\":\"10.1.0.0/16\"}");
    assert_string_equal(str(j, "ip_ranges"), "10.1.0.0/16");
    assert_true(json_is_true(json_object_get(j, "sessions_ended")));
    json_decref(j);
    json_decref(p_want(&staff, 401, "GET", "/api/v1/account", NULL));
    char q[128];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM account WHERE id = %lld AND ip_ranges = '10.1.0.0/16'", id);
    assert_int_equal(db_int(q), 1);
    /* outside the ranges (the tests come from 127.0.0.1) a log-in is refused */
    struct hclient c;
    hc_init(&c, &s);
    assert_int_equal(login(&c, "iprstaff", P_PASSWORD), 403);

    /* the security administrator widens them (adds loopback): nothing ends */
    j = p_want(&a.sec, 200, "PUT", path, "{\"ip_ranges\":\"10.1.0.0/16,127.0.0.0/8\"}");
    assert_false(json_is_true(json_object_get(j, "sessions_ended")));
    json_decref(j);
    assert_int_equal(login(&c, "iprstaff", P_PASSWORD), 200);
    /* "" allows any address */
    j = p_want(&a.sec, 200, "PUT", path, "{\"ip_ranges\":\"\"}");
    assert_false(json_is_true(json_object_get(j, "sessions_ended")));
    json_decref(j);
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM account WHERE id = %lld AND ip_ranges IS NULL", id);
    assert_int_equal(db_int(q), 1);

    /* each change audited with the old and new lists */
    assert_int_equal(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'org.staff.ip_ranges'"
                            " AND object = 'iprstaff' AND result = 'ok'"),
                     3);
    j = p_want(&a.aud, 200, "GET", "/api/v1/audit?action=org.staff.ip_ranges", NULL);
    int seen = 0;
    json_t *recs = json_object_get(j, "records");
    for (size_t i = 0; i < json_array_size(recs); i++) {
        const char *d = details(json_array_get(recs, i));
        if (strstr(d, "\"new\":\"10.1.0.0/16\"") && strstr(d, "\"old\":\"\"") &&
            strstr(d, "\"sessions_ended\":true"))
            seen++;
    }
    assert_int_equal(seen, 1);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- item validation in the console ---------- */

static void item_validate_without_import(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a);
    const char *src = getenv("EHALL_SOURCE_DIR");
    char file[1024];
    snprintf(file, sizeof file, "%s/items/GA-HJ-0001.json", src ? src : ".");
    char *good = h_slurp(file);
    assert_non_null(good);

    json_t *j = p_want(&a.sys, 200, "POST", "/api/v1/admin/items/validate?file=GA-HJ-0001.json", good);
    assert_true(json_is_true(json_object_get(j, "valid")));
    assert_int_equal(json_array_size(json_object_get(j, "problems")), 0);
    assert_string_equal(str(j, "code"), "GA-HJ-0001");
    /* this database has none of its departments and roles yet: said, once each */
    json_t *warn = json_object_get(j, "warnings");
    assert_true(json_array_size(warn) >= 2);
    assert_string_equal(str(json_array_get(warn, 0), "path"), "$.department");
    assert_non_null(strstr(str(json_array_get(warn, 0), "message"), "department \"PSB-YZ"));
    for (size_t i = 1; i < json_array_size(warn); i++)
        assert_string_not_equal(str(json_array_get(warn, i), "message"),
                                str(json_array_get(warn, 0), "message"));
    json_decref(j);
    /* the code must match the file name, as in the CLI */
    j = p_want(&a.sys, 200, "POST", "/api/v1/admin/items/validate?file=GA-HJ-0009.json", good);
    assert_false(json_is_true(json_object_get(j, "valid")));
    assert_string_equal(str(json_array_get(json_object_get(j, "problems"), 0), "path"), "$.code");
    json_decref(j);

    /* a broken one: every problem with its JSON path */
    j = p_want(&a.sys, 200, "POST", "/api/v1/admin/items/validate",
               "{\"code\":\"bad code\",\"name\":\"\",\"version\":0,\"colour\":\"red\"}");
    assert_false(json_is_true(json_object_get(j, "valid")));
    json_t *probs = json_object_get(j, "problems");
    assert_true(json_array_size(probs) >= 3);
    int code = 0, colour = 0;
    for (size_t i = 0; i < json_array_size(probs); i++) {
        const char *p = str(json_array_get(probs, i), "path");
        code |= !strcmp(p, "$.code");
        colour |= strstr(p, "colour") != NULL || strstr(str(json_array_get(probs, i), "message"), "colour");
        assert_non_null(str(json_array_get(probs, i), "message"));
        assert_int_equal(strncmp(str(json_array_get(probs, i), "line"), "$", 1), 0);
    }
    assert_true(code);
    assert_true(colour);
    json_decref(j);
    /* not an object; a bad file name */
    json_decref(p_want(&a.sys, 422, "POST", "/api/v1/admin/items/validate", "[]"));
    j = p_want(&a.sys, 400, "POST", "/api/v1/admin/items/validate?file=../x.json", good);
    assert_true(has_field(j, "file"));
    json_decref(j);
    /* nothing imported; item.manage only */
    assert_int_equal(db_int("SELECT COUNT(*) FROM item"), 0);
    /* once the pack (with its org.json) is imported, nothing is missing */
    char out[8192], pack[1024];
    snprintf(pack, sizeof pack, "%s/items", src ? src : ".");
    const char *args[] = {"items", "import", pack, NULL};
    if (h_cli(dir, db, args, out, sizeof out) != 0) fail_msg("items import: %s", out);
    j = p_want(&a.sys, 200, "POST", "/api/v1/admin/items/validate", good);
    assert_true(json_is_true(json_object_get(j, "valid")));
    assert_int_equal(json_array_size(json_object_get(j, "warnings")), 0);
    json_decref(j);
    json_decref(p_want(&a.sec, 403, "POST", "/api/v1/admin/items/validate", good));
    json_decref(p_want(&a.aud, 403, "POST", "/api/v1/admin/items/validate", good));
    free(good);
    assert_int_equal(h_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policy_change_locks_after_fewer_failures),
        cmocka_unit_test(policy_bad_input_and_permissions),
        cmocka_unit_test(tampered_setting_is_ignored_and_audited),
        cmocka_unit_test(staff_ip_ranges_change),
        cmocka_unit_test(item_validate_without_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
