/*
 * Portal notices, the colleague picker for transfers and the account search, through
 * the API of a real `ehall serve`: who may publish (notice.manage, the system
 * administrator only), every field checked by name, the public seeing current notices
 * only (not scheduled, expired or withdrawn ones), paging and the category filter,
 * optimistic locking of edits, withdrawal, and each change in the audit chain; the
 * colleagues a transfer may go to (same department, the step's role, active, not the
 * caller) and that a listed one is accepted by the transfer; and the security
 * administrator finding accounts by login prefix, ID number and mobile number.
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
#include "store/store.h"
#include "people.h"

static char dir[256], db[512];

static const char *str(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }
static long long num(json_t *j, const char *key) { return json_integer_value(json_object_get(j, key)); }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

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

/* An RFC 3339 instant seconds from now, in UTC. */
static void instant(int seconds, char out[32])
{
    time_t t = time(NULL) + seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void start(struct srv *s, struct admins *a, int with_items)
{
    h_fresh(dir, db);
    static char simdir[1100];
    const char *src = getenv("EHALL_SOURCE_DIR");
    snprintf(simdir, sizeof simdir, "EHALL_EXCHANGE_SIM_DIR=%s/items/testdata", src ? src : ".");
    const char *env[] = {"EHALL_EXCHANGE_POLL_MS=50", simdir, NULL};
    if (h_start(s, dir, db, env) != 0) fail_msg("server did not start; log: %s", h_slurp(s->log));
    if (with_items) {
        char out[8192], path[1024];
        snprintf(path, sizeof path, "%s/items", src ? src : ".");
        const char *args[] = {"items", "import", path, NULL};
        if (h_cli(dir, db, args, out, sizeof out) != 0) fail_msg("items import: %s", out);
    }
    p_admins(s, a);
}

/* ---------- notices ---------- */

static long long publish(struct hclient *c, const char *body)
{
    json_t *j = p_want(c, 201, "POST", "/api/v1/admin/notices", body);
    long long id = num(j, "id");
    assert_int_equal(num(j, "version"), 1);
    json_decref(j);
    return id;
}

static void notices_publish_edit_withdraw(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a, 0);
    struct hclient anon, person;
    hc_init(&anon, &s);
    p_person(&s, &person, "notice01", "1990-01-01");

    /* nothing yet */
    json_t *j = p_want(&anon, 200, "GET", "/api/v1/notices", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "notices")), 0);
    assert_int_equal(num(j, "total"), 0);
    json_decref(j);

    /* only the system administrator publishes */
    const char *ok =
        "{\"title\":\"春节期间办事大厅服务时间调整\",\"body\":\"2月10日至2月17日网上办理照常。\\n"
        "窗口服务暂停。\",\"category\":\"notice\"}";
    json_decref(p_want(&anon, 401, "POST", "/api/v1/admin/notices", ok));
    json_decref(p_want(&person, 403, "POST", "/api/v1/admin/notices", ok));
    json_decref(p_want(&a.sec, 403, "POST", "/api/v1/admin/notices", ok));
    json_decref(p_want(&a.aud, 403, "GET", "/api/v1/admin/notices", NULL));

    /* every bad field by name, nothing stored */
    j = p_want(&a.sys, 422, "POST", "/api/v1/admin/notices",
               "{\"title\":\"\",\"category\":\"gossip\",\"expires_at\":\"2020-01-01T00:00:00Z\","
               "\"published_at\":\"tomorrow\",\"colour\":\"red\"}");
    assert_true(has_field(j, "title"));
    assert_true(has_field(j, "body"));
    assert_true(has_field(j, "category"));
    assert_true(has_field(j, "published_at"));
    assert_true(has_field(j, "expires_at"));
    assert_true(has_field(j, "colour"));
    json_decref(j);
    char past[32], soon[32], later[32], body[512];
    instant(-60, past);
    instant(3, soon);
    instant(3600, later);
    snprintf(body, sizeof body,
             "{\"title\":\"t\",\"body\":\"b\",\"category\":\"policy\",\"published_at\":\"%s\",\"expires_at\":"
             "\"%s\"}",
             later, soon);
    j = p_want(&a.sys, 422, "POST", "/api/v1/admin/notices", body);
    assert_true(has_field(j, "expires_at")); /* before its publication */
    json_decref(j);
    j = p_want(&a.sys, 200, "GET", "/api/v1/admin/notices", NULL);
    assert_int_equal(num(j, "total"), 0);
    json_decref(j);

    /* a current one, a scheduled one, one that expires in three seconds, a policy one */
    long long n1 = publish(&a.sys, ok);
    snprintf(body, sizeof body,
             "{\"title\":\"系统维护预告\",\"body\":\"今晚维护。\",\"category\":\"maintenance\",\"published_"
             "at\":\"%s\"}",
             later);
    long long n2 = publish(&a.sys, body);
    snprintf(body, sizeof body,
             "{\"title\":\"限时公告\",\"body\":\"很快过期。\",\"category\":\"announcement\",\"expires_at\":"
             "\"%s\"}",
             soon);
    long long n3 = publish(&a.sys, body);
    snprintf(body, sizeof body,
             "{\"title\":\"新政策\",\"body\":\"%s\",\"category\":\"policy\",\"published_at\":\"%s\"}",
             "政策全文政策全文政策全文政策全文政策全文政策全文政策全文政策全文政策全文政策全文政策全文",
             past);
    long long n4 = publish(&a.sys, body);

    /* the public sees the current ones, newest publication first, with excerpts */
    j = p_want(&anon, 200, "GET", "/api/v1/notices", NULL);
    json_t *list = json_object_get(j, "notices");
    assert_int_equal(num(j, "total"), 3);
    assert_int_equal(json_array_size(list), 3);
    assert_int_equal(num(json_array_get(list, 2), "id"), n4); /* published a minute ago: last */
    assert_null(json_object_get(json_array_get(list, 0), "body"));
    assert_null(json_object_get(json_array_get(list, 0), "author"));
    for (size_t i = 0; i < 3; i++) assert_int_not_equal(num(json_array_get(list, i), "id"), n2);
    json_decref(j);
    j = p_want(&anon, 200, "GET", "/api/v1/notices?size=1&page=3", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "notices")), 1);
    assert_int_equal(num(json_array_get(json_object_get(j, "notices"), 0), "id"), n4);
    json_decref(j);
    j = p_want(&anon, 200, "GET", "/api/v1/notices?category=policy", NULL);
    assert_int_equal(num(j, "total"), 1);
    json_decref(j);
    j = p_want(&anon, 400, "GET", "/api/v1/notices?category=gossip&size=0", NULL);
    assert_true(has_field(j, "category"));
    assert_true(has_field(j, "size"));
    json_decref(j);

    /* one notice: the whole body; a scheduled or unknown one does not exist yet */
    char path[96];
    snprintf(path, sizeof path, "/api/v1/notices/%lld", n1);
    j = p_want(&anon, 200, "GET", path, NULL);
    assert_string_equal(str(j, "title"), "春节期间办事大厅服务时间调整");
    assert_non_null(strstr(str(j, "body"), "\n窗口服务暂停。"));
    assert_string_equal(str(j, "category"), "notice");
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/notices/%lld", n2);
    json_decref(p_want(&anon, 404, "GET", path, NULL));
    json_decref(p_want(&anon, 404, "GET", "/api/v1/notices/99999", NULL));
    json_decref(p_want(&anon, 404, "GET", "/api/v1/notices/abc", NULL));

    /* the expiring one goes away by itself */
    sleep_ms(3500);
    snprintf(path, sizeof path, "/api/v1/notices/%lld", n3);
    json_decref(p_want(&anon, 404, "GET", path, NULL));
    j = p_want(&anon, 200, "GET", "/api/v1/notices", NULL);
    assert_int_equal(num(j, "total"), 2);
    json_decref(j);

    /* edits name the version they change */
    snprintf(path, sizeof path, "/api/v1/admin/notices/%lld", n1);
    j = p_want(&a.sys, 200, "PUT", path,
               "{\"title\":\"春节服务时间调整（更新）\",\"body\":\"以本通知为准。\",\"category\":\"notice\","
               "\"version\":1}");
    assert_int_equal(num(j, "version"), 2);
    assert_string_equal(str(j, "status"), "current");
    assert_string_equal(str(j, "author"), "sysadmin");
    json_decref(j);
    j = p_want(&a.sys, 409, "PUT", path,
               "{\"title\":\"旧稿\",\"body\":\"旧\",\"category\":\"notice\",\"version\":1}");
    assert_true(has_field(j, "version"));
    json_decref(j);
    j = p_want(&a.sys, 422, "PUT", path, "{\"title\":\"x\",\"body\":\"y\",\"category\":\"notice\"}");
    assert_true(has_field(j, "version"));
    json_decref(j);
    json_decref(p_want(&a.sys, 404, "PUT", "/api/v1/admin/notices/99999",
                       "{\"title\":\"x\",\"body\":\"y\",\"category\":\"notice\",\"version\":1}"));
    snprintf(path, sizeof path, "/api/v1/notices/%lld", n1);
    j = p_want(&anon, 200, "GET", path, NULL);
    assert_string_equal(str(j, "body"), "以本通知为准。");
    json_decref(j);

    /* withdrawal: gone from the portal, kept for the administrator, final */
    snprintf(path, sizeof path, "/api/v1/admin/notices/%lld/withdraw", n1);
    json_decref(p_want(&person, 403, "POST", path, "{}"));
    json_decref(p_want(&a.sys, 409, "POST", path, "{\"version\":1}")); /* stale */
    j = p_want(&a.sys, 200, "POST", path, "{\"version\":2}");
    assert_string_equal(str(j, "status"), "withdrawn");
    assert_true(json_is_string(json_object_get(j, "withdrawn_at")));
    json_decref(j);
    json_decref(p_want(&a.sys, 409, "POST", path, "{}"));
    snprintf(path, sizeof path, "/api/v1/admin/notices/%lld", n1);
    json_decref(p_want(&a.sys, 409, "PUT", path,
                       "{\"title\":\"x\",\"body\":\"y\",\"category\":\"notice\",\"version\":3}"));
    snprintf(path, sizeof path, "/api/v1/notices/%lld", n1);
    json_decref(p_want(&anon, 404, "GET", path, NULL));
    j = p_want(&anon, 200, "GET", "/api/v1/notices", NULL);
    assert_int_equal(num(j, "total"), 1);
    assert_int_equal(num(json_array_get(json_object_get(j, "notices"), 0), "id"), n4);
    json_decref(j);

    /* the administrator's list: every status */
    j = p_want(&a.sys, 200, "GET", "/api/v1/admin/notices", NULL);
    assert_int_equal(num(j, "total"), 4);
    assert_int_equal(num(json_array_get(json_object_get(j, "notices"), 0), "id"), n4); /* newest id first */
    /* with the whole text, to edit it */
    assert_non_null(strstr(str(json_array_get(json_object_get(j, "notices"), 0), "body"), "政策全文"));
    json_decref(j);
    const char *want[][2] = {{"withdrawn", "1"}, {"scheduled", "1"}, {"expired", "1"}, {"current", "1"}};
    for (int i = 0; i < 4; i++) {
        char q[80];
        snprintf(q, sizeof q, "/api/v1/admin/notices?status=%s", want[i][0]);
        j = p_want(&a.sys, 200, "GET", q, NULL);
        assert_int_equal(num(j, "total"), atoi(want[i][1]));
        assert_string_equal(str(json_array_get(json_object_get(j, "notices"), 0), "status"), want[i][0]);
        json_decref(j);
    }
    j = p_want(&a.sys, 400, "GET", "/api/v1/admin/notices?status=lost", NULL);
    assert_true(has_field(j, "status"));
    json_decref(j);
    (void)n2;

    /* each change is in the audit chain: four publications, an edit, a withdrawal */
    j = p_want(&a.sys, 200, "GET", "/api/v1/account", NULL);
    char sysid[24];
    snprintf(sysid, sizeof sysid, "%lld", num(j, "id"));
    json_decref(j);
    j = p_want(&a.aud, 200, "GET", "/api/v1/audit?action=notice.*", NULL);
    json_t *recs = json_object_get(j, "records");
    int pub = 0, upd = 0, wd = 0;
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        pub += !strcmp(str(r, "action"), "notice.publish");
        upd += !strcmp(str(r, "action"), "notice.update");
        wd += !strcmp(str(r, "action"), "notice.withdraw");
        assert_string_equal(str(r, "actor"), sysid);
    }
    assert_int_equal(pub, 4);
    assert_int_equal(upd, 1);
    assert_int_equal(wd, 1);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- the account search of the security administrator ---------- */

static int logins_are(json_t *j, const char *a, const char *b)
{
    json_t *list = json_object_get(j, "accounts");
    size_t n = json_array_size(list);
    if (n != (size_t)(a ? 1 : 0) + (b ? 1 : 0)) return 0;
    if (a && strcmp(str(json_array_get(list, 0), "login"), a) != 0) return 0;
    if (b && strcmp(str(json_array_get(list, 1), "login"), b) != 0) return 0;
    return 1;
}

static void account_search(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a, 0);
    struct hclient p1, p2;
    p_person(&s, &p1, "srch01", "1981-02-03");
    p_person(&s, &p2, "srch02", "1982-03-04");
    char idn[19], mob[12], q[128];
    p_person_id_number("srch02", "1982-03-04", idn);
    p_person_mobile("srch01", mob);

    /* the security administrator may search now; the auditor may not */
    json_t *j = p_want(&a.sec, 200, "GET", "/api/v1/admin/accounts?q=srch", NULL);
    assert_true(logins_are(j, "srch01", "srch02"));
    assert_true(json_is_false(json_object_get(json_array_get(json_object_get(j, "accounts"), 0), "locked")));
    /* masked: never the whole ID number */
    char *dump = json_dumps(j, JSON_COMPACT);
    assert_null(strstr(dump, idn));
    free(dump);
    json_decref(j);
    json_decref(p_want(&a.aud, 403, "GET", "/api/v1/admin/accounts?q=srch", NULL));
    json_decref(p_want(&p1, 403, "GET", "/api/v1/admin/accounts", NULL));
    j = p_want(&a.sys, 200, "GET", "/api/v1/admin/accounts?q=SRCH02", NULL);
    assert_true(logins_are(j, "srch02", NULL));
    json_decref(j);
    /* exact ID number and mobile through the blind index */
    snprintf(q, sizeof q, "/api/v1/admin/accounts?q=%s", idn);
    j = p_want(&a.sec, 200, "GET", q, NULL);
    assert_true(logins_are(j, "srch02", NULL));
    json_decref(j);
    snprintf(q, sizeof q, "/api/v1/admin/accounts?q=%s", mob);
    j = p_want(&a.sec, 200, "GET", q, NULL);
    assert_true(logins_are(j, "srch01", NULL));
    json_decref(j);
    /* LIKE's wildcards are only characters */
    j = p_want(&a.sec, 200, "GET", "/api/v1/admin/accounts?q=s_ch", NULL);
    assert_true(logins_are(j, NULL, NULL));
    json_decref(j);
    j = p_want(&a.sec, 200, "GET", "/api/v1/admin/accounts?q=%25", NULL);
    assert_true(logins_are(j, NULL, NULL));
    json_decref(j);
    /* with kind; and by account id */
    j = p_want(&a.sec, 200, "GET", "/api/v1/admin/accounts?q=sec&kind=admin", NULL);
    assert_true(logins_are(j, "secadmin", NULL));
    long long id = num(json_array_get(json_object_get(j, "accounts"), 0), "id");
    json_decref(j);
    snprintf(q, sizeof q, "/api/v1/admin/accounts?q=%lld&kind=admin", id);
    j = p_want(&a.sec, 200, "GET", q, NULL);
    assert_true(logins_are(j, "secadmin", NULL));
    json_decref(j);
    j = p_want(&a.sec, 400, "GET", "/api/v1/admin/accounts?q=a%01b", NULL);
    assert_true(has_field(j, "q"));
    json_decref(j);
    j = p_want(&a.sec, 400, "GET", "/api/v1/admin/accounts?kind=robot", NULL);
    assert_true(has_field(j, "kind"));
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- colleagues for a transfer ---------- */

static void transfer_colleagues(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a, 1);
    struct hclient c;
    p_person(&s, &c, "mate0001", "1979-12-30");
    json_t *j = p_want(
        &c, 201, "POST", "/api/v1/cases",
        "{\"item\":\"GA-HJ-0003\",\"form\":{\"purpose\":\"former_name\",\"copies\":1},\"submit\":true}");
    long long id = num(j, "id");
    json_decref(j);
    long long hj = p_dept_id(&a.sys, "PSB-YZ-HJ"), crj = p_dept_id(&a.sys, "PSB-YZ-CRJ");
    assert_true(hj > 0 && crj > 0);
    struct hclient clerk, clerk2, rev, away, gone;
    char tag[8];
    snprintf(tag, sizeof tag, "%03d", (int)(getpid() % 1000));
    char l1[32], l2[32], l3[32], l4[32], l5[32];
    snprintf(l1, sizeof l1, "mclerk1%s", tag);
    snprintf(l2, sizeof l2, "mclerk2%s", tag);
    snprintf(l3, sizeof l3, "mrev%s", tag);
    snprintf(l4, sizeof l4, "maway%s", tag);
    snprintf(l5, sizeof l5, "mgone%s", tag);
    long long c1 = p_staff(&s, &a, &clerk, l1, hj, "hj_clerk");
    long long c2 = p_staff(&s, &a, &clerk2, l2, hj, "hj_clerk,hj_reviewer");
    long long r1 = p_staff(&s, &a, &rev, l3, hj, "hj_reviewer");
    long long w1 = p_staff(&s, &a, &away, l4, crj, "hj_clerk");
    long long g1 = p_staff(&s, &a, &gone, l5, hj, "hj_clerk");
    char path[96];
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/disable", g1);
    json_decref(p_want(&a.sys, 200, "POST", path, "{}"));

    /* the clerk at the step: exactly the one colleague who may take it */
    snprintf(path, sizeof path, "/api/v1/workbench/cases/%lld/colleagues", id);
    j = p_want(&clerk, 200, "GET", path, NULL);
    json_t *list = json_object_get(j, "colleagues");
    assert_int_equal(json_array_size(list), 1);
    json_t *m = json_array_get(list, 0);
    assert_int_equal(num(m, "id"), c2);
    assert_string_equal(str(m, "login"), l2);
    assert_non_null(str(m, "department"));
    assert_non_null(str(m, "name"));
    for (size_t i = 0; i < json_array_size(list); i++) {
        long long x = num(json_array_get(list, i), "id");
        assert_true(x != c1 && x != r1 && x != w1 && x != g1);
    }
    json_decref(j);
    /* clerk2 sees the clerk (and not themself) */
    j = p_want(&clerk2, 200, "GET", path, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "colleagues")), 1);
    assert_int_equal(num(json_array_get(json_object_get(j, "colleagues"), 0), "id"), c1);
    json_decref(j);
    /* not theirs: the reviewer (no step role), staff of another department, the applicant */
    json_decref(p_want(&rev, 403, "GET", path, NULL));
    json_decref(p_want(&away, 404, "GET", path, NULL));
    json_decref(p_want(&c, 403, "GET", path, NULL));
    json_decref(p_want(&clerk, 404, "GET", "/api/v1/workbench/cases/999999/colleagues", NULL));
    json_decref(p_want(&clerk, 404, "GET", "/api/v1/workbench/cases/x/colleagues", NULL));

    /* the listed colleague is one the transfer accepts (after the back-end's pre-check) */
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    for (int i = 0; i < 200; i++) {
        j = p_want(&c, 200, "GET", path, NULL);
        int done = strcmp(str(j, "precheck"), "passed") == 0;
        json_decref(j);
        if (done) break;
        sleep_ms(50);
    }
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    json_decref(p_want(&clerk, 200, "POST", path, "{\"action\":\"sign\"}"));
    char body[96];
    snprintf(body, sizeof body, "{\"action\":\"transfer\",\"to\":%lld}", c2);
    json_decref(p_want(&clerk, 200, "POST", path, body));
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    j = p_want(&clerk2, 200, "GET", path, NULL);
    assert_int_equal(num(j, "assignee"), c2);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- built-in roles follow the code ---------- */

static long long sql_int(const char *sql)
{
    struct store_options o = {1, 5000, 10000};
    store *st = NULL;
    char err[256];
    assert_int_equal(store_open(db, &o, &st, err, sizeof err), STORE_OK);
    store_conn *c = store_acquire(st);
    long long n = -1;
    if (!strncmp(sql, "UPDATE", 6))
        assert_int_equal(store_exec(c, sql), STORE_OK);
    else
        assert_int_equal(store_query_int64(c, sql, &n), STORE_OK);
    store_release(c);
    store_close(st);
    return n;
}

/* A database bootstrapped by an older version holds the system administrator's role
 * without notice.manage: `ehall serve` brings it to the code's definition at start
 * (audited once), and the administrator may publish. */
static void builtin_roles_follow_the_code(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a, 0);
    const char *ok = "{\"title\":\"系统升级通知\",\"body\":\"今晚升级。\",\"category\":\"maintenance\"}";
    assert_int_equal(h_stop(&s), 0);
    sql_int("UPDATE role SET perms = replace(perms, ',notice.manage,', ',') WHERE code = 'sysadmin'");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM role WHERE perms LIKE '%notice.manage%'"), 0);
    if (h_start(&s, dir, db, NULL) != 0) fail_msg("server did not start; log: %s", h_slurp(s.log));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.role.sync'"
                             " AND object = 'role:sysadmin'"),
                     1);
    assert_int_equal(
        sql_int("SELECT COUNT(*) FROM role WHERE code = 'sysadmin' AND perms LIKE '%,notice.manage,%'"), 1);
    /* the session survived the restart; its permissions are the code's again (no
     * integrity alarm: the row was rewritten with its MAC) */
    json_decref(p_want(&a.sys, 201, "POST", "/api/v1/admin/notices", ok));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.integrity'"), 0);
    /* nothing to do at the next start */
    assert_int_equal(h_stop(&s), 0);
    if (h_start(&s, dir, db, NULL) != 0) fail_msg("server did not start; log: %s", h_slurp(s.log));
    assert_int_equal(sql_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.role.sync'"), 1);
    h_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notices_publish_edit_withdraw),
        cmocka_unit_test(account_search),
        cmocka_unit_test(transfer_colleagues),
        cmocka_unit_test(builtin_roles_follow_the_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
