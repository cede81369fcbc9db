/*
 * Identity through the API of a real `ehall serve` (test mode, so captcha answers and
 * SMS codes can be read): registration, password log-in with captcha, lockout,
 * sessions (fixation, idle and absolute expiry, logout), CSRF, the three
 * administrators and their separation, staff with a second factor and address
 * ranges, RBAC with data scope and field permissions, a tampered role row, enterprise
 * clerks and agents, certificate log-in with an SM2 key signed by the openssl CLI,
 * personal data sealed at rest, and hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "store/store.h"

static char dir[256], db[512];

static void start(struct srv *s, const char *const *env)
{
    h_fresh(dir, db);
    if (h_start(s, dir, db, env) != 0) fail_msg("server did not start; log: %s", h_slurp(s->log));
}

static void stop(struct srv *s) { assert_int_equal(h_stop(s), 0); }

static const char *str(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

static const char *err_code(json_t *j) { return str(json_object_get(j, "error"), "code"); }

static void expect(long got, long want, json_t *j)
{
    if (got != want) {
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        fail_msg("status %ld, wanted %ld: %s", got, want, t ? t : "(no JSON)");
    }
}

/* A valid citizen ID number: region 110105, a birth date, sequence, check digit. */
static void make_id(const char *birth, int seq, char out[19])
{
    static const int W[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    snprintf(out, 19, "110105%s%03d", birth, seq);
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (out[i] - '0') * W[i];
    out[17] = "10X98765432"[sum % 11];
    out[18] = 0;
    assert_int_equal(auth_id_number_check(out, NULL), 0);
}

/* A valid credit code with the given 9-character organisation code. */
static void make_uscc(const char *org, char out[19])
{
    static const char A[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    snprintf(out, 19, "91350100%s?", org);
    for (int i = 0; i < 31; i++) {
        out[17] = A[i];
        if (auth_uscc_check(out, NULL) == 0) return;
    }
    fail_msg("no check character for %s", org);
}

static void captcha(struct hclient *c, char id[64], char answer[16])
{
    long st;
    json_t *j = hc_json(c, "POST", "/api/v1/captcha", "{}", &st);
    expect(st, 201, j);
    assert_non_null(strstr(str(j, "image"), "data:image/png;base64,iVBORw0KGgo"));
    snprintf(id, 64, "%s", str(j, "id"));
    snprintf(answer, 16, "%s", str(j, "answer"));
    json_decref(j);
}

static void sms_code(struct hclient *c, const char *mobile, char code[8])
{
    long st;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/test/sms?mobile=%s", mobile);
    json_t *j = hc_json(c, "GET", path, NULL, &st);
    expect(st, 200, j);
    snprintf(code, 8, "%s", str(j, "code"));
    json_decref(j);
}

static long register_person(struct hclient *c, const char *login, const char *pw, const char *name,
                            const char *idn, const char *mobile, int agent)
{
    char id[64], ans[16], code[8], body[1024];
    long st;
    captcha(c, id, ans);
    snprintf(body, sizeof body,
             "{\"purpose\":\"register\",\"mobile\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", mobile,
             id, ans);
    json_t *j = hc_json(c, "POST", "/api/v1/sms/code", body, &st);
    expect(st, 202, j);
    json_decref(j);
    sms_code(c, mobile, code);
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"password\":\"%s\",\"name\":\"%s\",\"id_number\":\"%s\",\"mobile\":\"%s\","
             "\"address\":\"北京市朝阳区建国路88号\",\"sms_code\":\"%s\",\"agent\":%s}",
             login, pw, name, idn, mobile, code, agent ? "true" : "false");
    j = hc_json(c, "POST", "/api/v1/auth/register/person", body, &st);
    json_decref(j);
    return st;
}

/* Log in; returns the status and copies the stage. */
static long login(struct hclient *c, const char *who, const char *pw, char stage[16])
{
    char id[64], ans[16], body[512];
    long st;
    captcha(c, id, ans);
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", who, pw, id,
             ans);
    json_t *j = hc_json(c, "POST", "/api/v1/auth/login", body, &st);
    if (stage) snprintf(stage, 16, "%s", st == 200 ? str(j, "stage") : "");
    json_decref(j);
    return st;
}

static long change_password(struct hclient *c, const char *cur, const char *next)
{
    char body[256];
    long st;
    snprintf(body, sizeof body, "{\"current_password\":\"%s\",\"new_password\":\"%s\"}", cur, next);
    json_t *j = hc_json(c, "POST", "/api/v1/account/password", body, &st);
    json_decref(j);
    return st;
}

/* Enrol TOTP with digest and return the secret; the session moves on. */
static void enrol_totp(struct hclient *c, const char *digest, char secret[64])
{
    char body[96];
    long st;
    snprintf(body, sizeof body, "{\"digest\":\"%s\"}", digest);
    json_t *j = hc_json(c, "POST", "/api/v1/account/totp/setup", body, &st);
    expect(st, 200, j);
    snprintf(secret, 64, "%s", str(j, "secret"));
    assert_non_null(strstr(str(j, "uri"), "otpauth://totp/"));
    json_decref(j);
    unsigned char key[64];
    size_t klen;
    char code[8];
    assert_int_equal(crypto_base32_decode(secret, key, sizeof key, &klen), 0);
    assert_int_equal(crypto_totp(key, klen, digest, (long long)time(NULL), 30, 6, code), 0);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    j = hc_json(c, "POST", "/api/v1/account/totp/confirm", body, &st);
    expect(st, 200, j);
    json_decref(j);
}

static long totp_mfa(struct hclient *c, const char *secret, const char *digest, int offset)
{
    unsigned char key[64];
    size_t klen;
    char code[8], body[96];
    long st;
    crypto_base32_decode(secret, key, sizeof key, &klen);
    crypto_totp(key, klen, digest, (long long)time(NULL) + offset, 30, 6, code);
    snprintf(body, sizeof body, "{\"method\":\"totp\",\"code\":\"%s\"}", code);
    json_t *j = hc_json(c, "POST", "/api/v1/auth/mfa", body, &st);
    json_decref(j);
    return st;
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

#define PW  "Hall-2026-pass"
#define PW2 "Other#2026pass"

/* ---------- registration, log-in, personal data at rest ---------- */

static void person_registers_logs_in_and_data_is_sealed(void **state)
{
    (void)state;
    struct srv s;
    start(&s, NULL);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], stage[16];
    make_id("19900307", 123, idn);
    assert_int_equal(register_person(&c, "zhangsan", PW, "张三丰", idn, "13812345678", 0), 201);
    /* the same ID number, or the same login, cannot register twice */
    assert_int_equal(register_person(&c, "zhangsan2", PW, "张三丰", idn, "13812345679", 0), 409);
    assert_int_equal(login(&c, "zhangsan", PW, stage), 200);
    assert_string_equal(stage, "full");
    long st;
    json_t *me = hc_json(&c, "GET", "/api/v1/account", NULL, &st);
    expect(st, 200, me);
    char want[32];
    snprintf(want, sizeof want, "%.6s********%.4s", idn, idn + 14);
    assert_string_equal(str(me, "id_number"), want);
    assert_string_equal(str(me, "mobile"), "138****5678");
    assert_string_equal(str(me, "name"), "张**");
    json_decref(me);
    /* log in by ID number and by mobile too (through the blind index) */
    struct hclient c2;
    hc_init(&c2, &s);
    assert_int_equal(login(&c2, idn, PW, stage), 200);
    assert_int_equal(login(&c2, "13812345678", PW, stage), 200);
    /* nothing personal in clear in the database; values carry a key version */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM account WHERE name_enc LIKE '%%张%%' OR id_number_enc LIKE '%%%s%%'"
             " OR mobile_enc LIKE '%%13812345678%%' OR id_number_bidx LIKE '%%%s%%'",
             idn, idn);
    assert_int_equal(db_int(sql), 0);
    assert_int_equal(
        db_int("SELECT COUNT(*) FROM account WHERE login = 'zhangsan' AND id_number_enc LIKE 'v1.%'"
               " AND mobile_enc LIKE 'v1.%' AND name_enc LIKE 'v1.%' AND address_enc LIKE 'v1.%'"),
        1);
    assert_int_equal(db_int("SELECT COUNT(*) FROM sms_outbox WHERE body_enc LIKE '%验证码%'"), 0);
    /* the SMS went through the file gateway */
    char outbox[400];
    snprintf(outbox, sizeof outbox, "%s/outbox/1.txt", dir);
    char *msg = h_slurp(outbox);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "13812345678"));
    free(msg);
    /* log out ends the session at once: the old cookie is worthless */
    char old[80];
    snprintf(old, sizeof old, "%s", c.session);
    json_t *j = hc_json(&c, "POST", "/api/v1/auth/logout", "{}", &st);
    expect(st, 200, j);
    json_decref(j);
    snprintf(c.session, sizeof c.session, "%s", old);
    j = hc_json(&c, "GET", "/api/v1/account", NULL, &st);
    expect(st, 401, j);
    json_decref(j);
    /* the log-in history shows the log-ins */
    c.session[0] = 0;
    assert_int_equal(login(&c, "zhangsan", PW, stage), 200);
    j = hc_json(&c, "GET", "/api/v1/account/logins", NULL, &st);
    expect(st, 200, j);
    assert_true(json_array_size(json_object_get(j, "logins")) >= 4);
    json_decref(j);
    stop(&s);
}

static void registration_checks_every_field(void **state)
{
    (void)state;
    struct srv s;
    start(&s, NULL);
    struct hclient c;
    hc_init(&c, &s);
    long st;
    /* wrong check digit, bad mobile, weak password, unknown field — all named at once */
    json_t *j = hc_json(
        &c, "POST", "/api/v1/auth/register/person",
        "{\"login\":\"lisi\",\"password\":\"abc\",\"name\":\"李四\",\"id_number\":\"110105199003071231\","
        "\"mobile\":\"12345\",\"sms_code\":\"000000\",\"role\":\"admin\"}",
        &st);
    expect(st, 422, j);
    char *t = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(t, "\"id_number\""));
    assert_non_null(strstr(t, "\"mobile\""));
    assert_non_null(strstr(t, "\"password\""));
    assert_non_null(strstr(t, "\"role\""));
    free(t);
    json_decref(j);
    /* a wrong SMS code */
    char idn[19];
    make_id("19850101", 555, idn);
    char body[600];
    snprintf(body, sizeof body,
             "{\"login\":\"lisi\",\"password\":\"%s\",\"name\":\"李四\",\"id_number\":\"%s\",\"mobile\":"
             "\"13900001111\","
             "\"sms_code\":\"123456\"}",
             PW, idn);
    j = hc_json(&c, "POST", "/api/v1/auth/register/person", body, &st);
    expect(st, 400, j);
    assert_string_equal(err_code(j), "sms_code");
    json_decref(j);
    /* the simulated population register refuses a number it does not know */
    make_id("19850101", 999, idn);
    assert_int_equal(register_person(&c, "wangwu", PW, "王五", idn, "13900002222", 0), 422);
    assert_int_equal(db_int("SELECT COUNT(*) FROM account"), 0);
    stop(&s);
}

/* ---------- captcha ---------- */

static void captcha_is_single_use_and_expires(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_AUTH_CAPTCHA_TTL=1", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], id[64], ans[16], body[512];
    make_id("19900307", 124, idn);
    assert_int_equal(register_person(&c, "zhaoliu", PW, "赵六", idn, "13812340000", 0), 201);
    long st;
    captcha(&c, id, ans);
    snprintf(body, sizeof body,
             "{\"login\":\"zhaoliu\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", PW, id,
             ans);
    json_t *j = hc_json(&c, "POST", "/api/v1/auth/login", body, &st);
    expect(st, 200, j);
    json_decref(j);
    j = hc_json(&c, "POST", "/api/v1/auth/login", body, &st); /* the same captcha again */
    expect(st, 400, j);
    assert_string_equal(err_code(j), "captcha");
    json_decref(j);
    captcha(&c, id, ans);
    sleep(2);
    snprintf(body, sizeof body,
             "{\"login\":\"zhaoliu\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", PW, id,
             ans);
    j = hc_json(&c, "POST", "/api/v1/auth/login", body, &st);
    expect(st, 400, j);
    json_decref(j);
    /* a wrong answer uses the captcha up too */
    captcha(&c, id, ans);
    snprintf(body, sizeof body,
             "{\"login\":\"zhaoliu\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"XXXXX\"}", PW,
             id);
    j = hc_json(&c, "POST", "/api/v1/auth/login", body, &st);
    expect(st, 400, j);
    json_decref(j);
    snprintf(body, sizeof body,
             "{\"login\":\"zhaoliu\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", PW, id,
             ans);
    j = hc_json(&c, "POST", "/api/v1/auth/login", body, &st);
    expect(st, 400, j);
    json_decref(j);
    stop(&s);
}

static void captcha_answer_hidden_outside_test_mode(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_TEST_MODE=0", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    long st;
    json_t *j = hc_json(&c, "POST", "/api/v1/captcha", "{}", &st);
    expect(st, 201, j);
    assert_null(json_object_get(j, "answer"));
    json_decref(j);
    j = hc_json(&c, "GET", "/api/v1/test/sms?mobile=13800000000", NULL, &st);
    expect(st, 404, j);
    json_decref(j);
    stop(&s);
    /* test mode is refused in production and off loopback */
    char out[1024];
    const char *prod[] = {"serve", NULL};
    setenv("EHALL_TEST_MODE", "1", 1);
    setenv("EHALL_PRODUCTION", "1", 1);
    assert_int_equal(h_cli(dir, db, prod, out, sizeof out), 2);
    assert_non_null(strstr(out, "production"));
    unsetenv("EHALL_PRODUCTION");
    const char *wide[] = {"serve", "--listen", "0.0.0.0:0", NULL};
    assert_int_equal(h_cli(dir, db, wide, out, sizeof out), 2);
    assert_non_null(strstr(out, "loopback"));
    unsetenv("EHALL_TEST_MODE");
    /* production refuses the development SMS gateway and cookies without Secure */
    setenv("EHALL_PRODUCTION", "1", 1);
    assert_int_equal(h_cli(dir, db, prod, out, sizeof out), 2);
    assert_non_null(strstr(out, "SMS gateway"));
    setenv("EHALL_SMS_GATEWAY", "exec:/bin/true", 1);
    assert_int_equal(h_cli(dir, db, prod, out, sizeof out), 2);
    assert_non_null(strstr(out, "secure_cookie"));
    unsetenv("EHALL_SMS_GATEWAY");
    unsetenv("EHALL_PRODUCTION");
}

/* ---------- lockout ---------- */

static void three_failures_lock_for_a_while_and_unknown_names_look_the_same(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_AUTH_LOCKOUT_DURATION=3", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], stage[16];
    make_id("19700101", 11, idn);
    assert_int_equal(register_person(&c, "sunqi", PW, "孙七", idn, "13812341111", 0), 201);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(login(&c, "sunqi", "Wrong-pass-1", stage), 401);
        assert_int_equal(login(&c, "nobody-here", "Wrong-pass-1", stage), 401);
    }
    /* the third failure within the window locks, for a real and an unknown name alike */
    assert_int_equal(login(&c, "sunqi", "Wrong-pass-1", stage), 423);
    assert_int_equal(login(&c, "nobody-here", "Wrong-pass-1", stage), 423);
    /* locked: even the right password is refused, and so is the unknown name */
    assert_int_equal(login(&c, "sunqi", PW, stage), 423);
    assert_int_equal(login(&c, "nobody-here", PW, stage), 423);
    assert_true(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.lock'") >= 2);
    assert_true(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND result = 'failed'") >=
                6);
    sleep(4);
    assert_int_equal(login(&c, "sunqi", PW, stage), 200);
    stop(&s);
}

/* ---------- sessions and CSRF ---------- */

static void sessions_resist_fixation_and_expire(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_SESSION_IDLE_TIMEOUT=2", "EHALL_SESSION_MAX_LIFETIME=5", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], stage[16];
    make_id("19800808", 21, idn);
    assert_int_equal(register_person(&c, "zhouba", PW, "周八", idn, "13812342222", 0), 201);
    /* an id planted before log-in is not adopted */
    const char *planted = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    snprintf(c.session, sizeof c.session, "%s", planted);
    assert_int_equal(login(&c, "zhouba", PW, stage), 200);
    assert_string_not_equal(c.session, planted);
    assert_int_equal(strlen(c.session), 64);
    /* the database holds only the hash of the id */
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM session WHERE id_hash = '%s'", c.session);
    assert_int_equal(db_int(sql), 0);
    long st;
    json_t *j = hc_json(&c, "GET", "/api/v1/account", NULL, &st);
    expect(st, 200, j);
    json_decref(j);
    /* idle for longer than the idle timeout */
    sleep(3);
    j = hc_json(&c, "GET", "/api/v1/account", NULL, &st);
    expect(st, 401, j);
    json_decref(j);
    /* busy, but past the absolute lifetime */
    c.session[0] = 0;
    assert_int_equal(login(&c, "zhouba", PW, stage), 200);
    for (int i = 0; i < 6; i++) {
        sleep(1);
        j = hc_json(&c, "GET", "/api/v1/account", NULL, &st);
        json_decref(j);
    }
    expect(st, 401, NULL);
    stop(&s);
}

static void state_changes_need_the_csrf_token(void **state)
{
    (void)state;
    struct srv s;
    start(&s, NULL);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], stage[16];
    make_id("19800808", 31, idn);
    assert_int_equal(register_person(&c, "wujiu", PW, "吴九", idn, "13812343333", 0), 201);
    assert_int_equal(login(&c, "wujiu", PW, stage), 200);
    char good[80];
    snprintf(good, sizeof good, "%s", c.csrf);
    long st;
    snprintf(c.csrf, sizeof c.csrf, "%s", "0000000000000000000000000000000000000000000000000000000000000000");
    json_t *j = hc_json(&c, "POST", "/api/v1/account/mfa", "{\"enabled\":true}", &st);
    expect(st, 403, j);
    assert_string_equal(err_code(j), "csrf");
    json_decref(j);
    /* without any token, also before log-in */
    struct resp r;
    const char *hdr[] = {"Content-Type: application/json", NULL};
    h_http(&s, "POST", "/api/v1/captcha", hdr, "{}", 2, &r);
    assert_int_equal(r.status, 403);
    h_resp_free(&r);
    snprintf(c.csrf, sizeof c.csrf, "%s", good);
    j = hc_json(&c, "POST", "/api/v1/account/mfa", "{\"enabled\":true}", &st);
    expect(st, 200, j);
    json_decref(j);
    stop(&s);
}

/* ---------- administrators, staff, RBAC ---------- */

struct admins {
    struct hclient sys, sec, aud;
    char sys_totp[64], sec_totp[64], aud_totp[64];
};

/* `ehall admin bootstrap`, then each administrator's first log-in: the forced password
 * change and TOTP enrolment with the national algorithm (HMAC-SM3). */
static void bootstrap_admins(struct srv *s, struct admins *a)
{
    char out[2048];
    const char *args[] = {"admin", "bootstrap", NULL};
    assert_int_equal(h_cli(dir, db, args, out, sizeof out), 0);
    assert_int_equal(h_cli(dir, db, args, out + 1024, sizeof out - 1024), 1); /* only once */
    struct hclient *cl[] = {&a->sys, &a->sec, &a->aud};
    char *secrets[] = {a->sys_totp, a->sec_totp, a->aud_totp};
    const char *names[] = {"sysadmin", "secadmin", "auditor"};
    for (int i = 0; i < 3; i++) {
        char pat[32], pw[32], stage[16];
        snprintf(pat, sizeof pat, "login %-9s  password ", names[i]);
        const char *p = strstr(out, pat);
        assert_non_null(p);
        snprintf(pw, sizeof pw, "%.16s", p + strlen(pat));
        hc_init(cl[i], s);
        assert_int_equal(login(cl[i], names[i], pw, stage), 200);
        assert_string_equal(stage, "password");
        /* nothing else is open before the change */
        long st;
        json_t *j = hc_json(cl[i], "GET", "/api/v1/account", NULL, &st);
        expect(st, 401, j);
        assert_string_equal(err_code(j), "login_incomplete");
        json_decref(j);
        assert_int_equal(change_password(cl[i], pw, PW), 200);
        j = hc_json(cl[i], "GET", "/api/v1/session", NULL, &st);
        assert_string_equal(str(j, "stage"), "enroll");
        json_decref(j);
        enrol_totp(cl[i], "SM3", secrets[i]);
        j = hc_json(cl[i], "GET", "/api/v1/session", NULL, &st);
        assert_string_equal(str(j, "stage"), "full");
        assert_string_equal(str(json_object_get(j, "account"), "admin_role"), names[i]);
        json_decref(j);
    }
}

static long call(struct hclient *c, const char *method, const char *path, const char *body)
{
    long st;
    json_t *j = hc_json(c, method, path, body, &st);
    json_decref(j);
    return st;
}

static void three_administrators_are_separate(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_AUDIT_CHECKPOINT_EVERY=5", NULL};
    start(&s, env);
    struct admins a;
    bootstrap_admins(&s, &a);
    /* the next log-in asks for the TOTP code (HMAC-SM3); a wrong one is refused */
    struct hclient again;
    hc_init(&again, &s);
    char stage[16];
    assert_int_equal(login(&again, "sysadmin", PW, stage), 200);
    assert_string_equal(stage, "mfa");
    assert_int_equal(call(&again, "GET", "/api/v1/admin/departments", NULL), 401);
    assert_int_equal(call(&again, "POST", "/api/v1/auth/mfa", "{\"method\":\"totp\",\"code\":\"000000\"}"),
                     401);
    /* the next step's code (clock skew is allowed for) works once; it and any earlier
     * step's code are refused after that, so a seen code cannot be replayed */
    assert_int_equal(totp_mfa(&again, a.sys_totp, "SM3", 30), 200);
    struct hclient replay;
    hc_init(&replay, &s);
    assert_int_equal(login(&replay, "sysadmin", PW, stage), 200);
    assert_int_equal(totp_mfa(&replay, a.sys_totp, "SM3", 30), 401);
    assert_int_equal(totp_mfa(&replay, a.sys_totp, "SM3", 0), 401);
    assert_int_equal(call(&again, "GET", "/api/v1/admin/departments", NULL), 200);
    /* a lost token: the operator resets the account on the server; the next log-in
     * changes the password and enrols a new token */
    char out[1024];
    const char *reset[] = {"admin", "reset", "auditor", NULL};
    assert_int_equal(h_cli(dir, db, reset, out, sizeof out), 0);
    const char *p = strstr(out, "one-time password ");
    assert_non_null(p);
    char otp[20];
    snprintf(otp, sizeof otp, "%.16s", p + strlen("one-time password "));
    assert_int_equal(call(&a.aud, "GET", "/api/v1/audit/verify", NULL), 401); /* its sessions ended */
    hc_init(&a.aud, &s);
    assert_int_equal(login(&a.aud, "auditor", otp, stage), 200);
    assert_string_equal(stage, "password");
    assert_int_equal(change_password(&a.aud, otp, PW2), 200);
    enrol_totp(&a.aud, "SM3", a.aud_totp);
    /* the system administrator runs the organisation, nothing else */
    assert_int_equal(
        call(&a.sys, "POST", "/api/v1/admin/departments", "{\"code\":\"CITY\",\"name\":\"市局\"}"), 201);
    assert_int_equal(call(&a.sys, "GET", "/api/v1/admin/roles", NULL), 403);
    assert_int_equal(
        call(&a.sys, "PUT", "/api/v1/admin/roles/x", "{\"name\":\"x\",\"scope\":\"all\",\"permissions\":[]}"),
        403);
    /* the security administrator runs security, not the organisation */
    assert_int_equal(call(&a.sec, "POST", "/api/v1/admin/departments", "{\"code\":\"X\",\"name\":\"x\"}"),
                     403);
    assert_int_equal(call(&a.sec, "GET", "/api/v1/admin/roles", NULL), 200);
    /* administrator permissions cannot be put into roles, administrator roles cannot be granted */
    assert_int_equal(
        call(&a.sec, "PUT", "/api/v1/admin/roles/super",
             "{\"name\":\"super\",\"scope\":\"all\",\"permissions\":[\"audit.read\",\"account.read\"]}"),
        422);
    assert_int_equal(call(&a.sec, "PUT", "/api/v1/admin/roles/auditor",
                          "{\"name\":\"a\",\"scope\":\"all\",\"permissions\":[]}"),
                     403);
    /* the auditor does neither */
    assert_int_equal(call(&a.aud, "POST", "/api/v1/admin/departments", "{\"code\":\"Y\",\"name\":\"y\"}"),
                     403);
    assert_int_equal(call(&a.aud, "GET", "/api/v1/admin/roles", NULL), 403);
    assert_int_equal(call(&a.aud, "POST", "/api/v1/admin/staff",
                          "{\"login\":\"zz\",\"name\":\"某某\",\"department\":1,\"badge\":\"1\"}"),
                     403);
    /* no one can grant an administrator role, nor a role to an administrator */
    assert_int_equal(call(&a.sec, "PUT", "/api/v1/admin/accounts/1/roles", "{\"roles\":[\"auditor\"]}"), 422);
    /* nor act on another administrator's account: the powers stay apart */
    long long sys_id = db_int("SELECT id FROM account WHERE login = 'sysadmin'");
    long long aud_id = db_int("SELECT id FROM account WHERE login = 'auditor'");
    char apath[96];
    snprintf(apath, sizeof apath, "/api/v1/admin/accounts/%lld/reset-password", sys_id);
    assert_int_equal(call(&a.sec, "POST", apath, "{}"), 403);
    snprintf(apath, sizeof apath, "/api/v1/admin/accounts/%lld/disable", aud_id);
    assert_int_equal(call(&a.sys, "POST", apath, "{}"), 403);
    /* refusals are audited */
    assert_true(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.denied'") >= 5);

    /* the auditor searches, exports and verifies; nobody else may */
    long st;
    json_t *j = hc_json(&a.aud, "GET", "/api/v1/audit?action=auth.denied&limit=3", NULL, &st);
    expect(st, 200, j);
    assert_int_equal(json_array_size(json_object_get(j, "records")), 3);
    assert_true(json_integer_value(json_object_get(j, "next_after")) > 0);
    json_decref(j);
    j = hc_json(&a.aud, "GET", "/api/v1/audit?from=yesterday", NULL, &st);
    expect(st, 400, j);
    assert_string_equal(
        str(json_array_get(json_object_get(json_object_get(j, "error"), "details"), 0), "field"), "from");
    json_decref(j);
    assert_int_equal(call(&a.sys, "GET", "/api/v1/audit", NULL), 403);
    assert_int_equal(call(&a.sec, "GET", "/api/v1/audit/export", NULL), 403);
    struct resp r;
    assert_int_equal(hc_call(&a.aud, "GET", "/api/v1/audit/export?format=csv&action=auth.*", NULL, &r), 200);
    char sm3hdr[80], hex[65];
    unsigned char d[32];
    assert_non_null(h_header(&r, "X-Content-SM3", sm3hdr, sizeof sm3hdr));
    crypto_sm3(r.body, r.len, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    assert_string_equal(sm3hdr, hex);
    assert_non_null(strstr(r.body, "auth.login"));
    h_resp_free(&r);
    assert_int_equal(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.export'"), 1);
    j = hc_json(&a.aud, "GET", "/api/v1/audit/verify", NULL, &st);
    expect(st, 200, j);
    assert_true(json_is_true(json_object_get(j, "intact")));
    json_decref(j);
    stop(&s);
    /* the server signed checkpoints as records accumulated; the CLI checks them */
    assert_true(db_int("SELECT COUNT(*) FROM audit_checkpoint") >= 1);
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    assert_non_null(strstr(out, "signed checkpoints verified"));
    assert_null(strstr(out, " 0 signed checkpoints"));
}

/* The staff member logs in with an SMS second factor, then must change the one-time password. */
static void staff_first_login(struct hclient *c, const char *loginname, const char *otp, const char *mobile,
                              char secret[64])
{
    char stage[16], code[8], body[96];
    assert_int_equal(login(c, loginname, otp, stage), 200);
    assert_string_equal(stage, "mfa");
    assert_int_equal(call(c, "POST", "/api/v1/auth/mfa/sms", "{}"), 202);
    sms_code(c, mobile, code);
    snprintf(body, sizeof body, "{\"method\":\"sms\",\"code\":\"%s\"}", code);
    long st;
    json_t *j = hc_json(c, "POST", "/api/v1/auth/mfa", body, &st);
    expect(st, 200, j);
    assert_string_equal(str(j, "stage"), "password");
    json_decref(j);
    assert_int_equal(change_password(c, otp, PW), 200);
    /* SMS alone is not enough for staff: they enrol a TOTP token (HMAC-SM3) */
    j = hc_json(c, "GET", "/api/v1/session", NULL, &st);
    assert_string_equal(str(j, "stage"), "enroll");
    json_decref(j);
    enrol_totp(c, "SM3", secret);
    j = hc_json(c, "GET", "/api/v1/session", NULL, &st);
    assert_string_equal(str(j, "stage"), "full");
    json_decref(j);
}

static long long create_staff(struct hclient *sys, const char *loginname, const char *mobile, long long dept,
                              const char *ranges, char otp[32])
{
    char body[400];
    long st;
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"name\":\"窗口人员\",\"mobile\":\"%s\",\"department\":%lld,\"badge\":\"B%"
             "s\"%s%s%s}",
             loginname, mobile, dept, loginname, ranges ? ",\"ip_ranges\":\"" : "", ranges ? ranges : "",
             ranges ? "\"" : "");
    json_t *j = hc_json(sys, "POST", "/api/v1/admin/staff", body, &st);
    expect(st, 201, j);
    snprintf(otp, 32, "%s", str(j, "one_time_password"));
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return id;
}

static void rbac_scope_fields_and_tampered_rows(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_SESSION_STAFF_MAX=2", NULL};
    start(&s, env);
    struct admins a;
    bootstrap_admins(&s, &a);
    long st;
    json_t *j =
        hc_json(&a.sys, "POST", "/api/v1/admin/departments", "{\"code\":\"CITY\",\"name\":\"市局\"}", &st);
    long long city = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    char body[300];
    snprintf(body, sizeof body, "{\"code\":\"HALL1\",\"name\":\"一号大厅\",\"parent\":%lld}", city);
    j = hc_json(&a.sys, "POST", "/api/v1/admin/departments", body, &st);
    long long hall = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    char otp1[32], otp2[32], otp3[32];
    long long clerk = create_staff(&a.sys, "clerk1", "13700000001", hall, NULL, otp1);
    long long boss = create_staff(&a.sys, "boss1", "13700000002", city, NULL, otp2);
    create_staff(&a.sys, "remote1", "13700000003", hall, "10.0.0.0/8", otp3);

    /* the security administrator defines roles and grants them */
    assert_int_equal(call(&a.sec, "PUT", "/api/v1/admin/roles/window",
                          "{\"name\":\"窗口\",\"scope\":\"dept\",\"permissions\":[\"account.read\"]}"),
                     201);
    assert_int_equal(call(&a.sec, "PUT", "/api/v1/admin/roles/chief",
                          "{\"name\":\"科长\",\"scope\":\"subtree\",\"permissions\":[\"account.read\","
                          "\"field.id_number\",\"account.export\"]}"),
                     201);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/roles", clerk);
    assert_int_equal(call(&a.sec, "PUT", path, "{\"roles\":[\"window\"]}"), 200);
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/roles", boss);
    assert_int_equal(call(&a.sec, "PUT", path, "{\"roles\":[\"chief\"]}"), 200);

    struct hclient cl, bo, re;
    hc_init(&cl, &s);
    hc_init(&bo, &s);
    hc_init(&re, &s);
    char cl_totp[64], bo_totp[64];
    staff_first_login(&cl, "clerk1", otp1, "13700000001", cl_totp);
    staff_first_login(&bo, "boss1", otp2, "13700000002", bo_totp);
    /* address ranges: the remote clerk may not log in from here */
    char stage[16];
    assert_int_equal(login(&re, "remote1", otp3, stage), 403);

    /* a citizen to look up */
    struct hclient p;
    hc_init(&p, &s);
    char idn[19];
    make_id("19920202", 77, idn);
    assert_int_equal(register_person(&p, "citizen1", PW, "钱十一", idn, "13812344444", 0), 201);
    long long citizen = db_int("SELECT id FROM account WHERE login = 'citizen1'");
    snprintf(path, sizeof path, "/api/v1/accounts/%lld", citizen);
    j = hc_json(&cl, "GET", path, NULL, &st);
    expect(st, 200, j);
    assert_non_null(strstr(str(j, "id_number"), "********"));
    json_decref(j);
    /* unmasking needs the field permission */
    snprintf(path, sizeof path, "/api/v1/accounts/%lld?reveal=id_number", citizen);
    assert_int_equal(call(&cl, "GET", path, NULL), 403);
    j = hc_json(&bo, "GET", path, NULL, &st);
    expect(st, 200, j);
    assert_string_equal(str(j, "id_number"), idn);
    json_decref(j);
    assert_int_equal(
        db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'account.reveal' AND result = 'ok'"), 1);
    /* data scope: the clerk (dept) cannot see the chief's record upstairs; the chief (subtree) sees the clerk
     */
    snprintf(path, sizeof path, "/api/v1/accounts/%lld", boss);
    assert_int_equal(call(&cl, "GET", path, NULL), 403);
    snprintf(path, sizeof path, "/api/v1/accounts/%lld", clerk);
    assert_int_equal(call(&bo, "GET", path, NULL), 200);
    /* staff hold no administration powers */
    assert_int_equal(call(&bo, "GET", "/api/v1/admin/roles", NULL), 403);
    /* export is a permission of its own, and every export is on the record */
    struct resp r;
    assert_int_equal(hc_call(&cl, "GET", "/api/v1/accounts/export", NULL, &r), 403);
    h_resp_free(&r);
    assert_int_equal(hc_call(&bo, "GET", "/api/v1/accounts/export", NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"citizen1\""));
    assert_non_null(strstr(r.body, "\"钱**\""));
    assert_null(strstr(r.body, idn));
    h_resp_free(&r);
    assert_int_equal(
        db_int(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'account.export' AND details LIKE '%\"rows\":1%'"),
        1);
    /* the security settings are the security administrator's to read */
    j = hc_json(&a.sec, "GET", "/api/v1/admin/security", NULL, &st);
    expect(st, 200, j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "lockout"), "threshold")), 3);
    json_decref(j);
    assert_int_equal(call(&a.sys, "GET", "/api/v1/admin/security", NULL), 403);

    /* someone with database access widens a role behind ehall's back */
    db_exec("UPDATE role SET perms = ',account.read,field.id_number,field.mobile,account.export,' WHERE code "
            "= 'window'");
    struct hclient cl2;
    hc_init(&cl2, &s);
    assert_int_equal(login(&cl2, "clerk1", PW, stage), 200);
    assert_string_equal(stage, "mfa");
    /* with a token enrolled, SMS is no longer a second factor for staff */
    assert_int_equal(call(&cl2, "POST", "/api/v1/auth/mfa/sms", "{}"), 409);
    assert_int_equal(totp_mfa(&cl2, cl_totp, "SM3", 30), 200);
    /* the tampered role grants nothing, and the refusal is on record */
    snprintf(path, sizeof path, "/api/v1/accounts/%lld", citizen);
    assert_int_equal(call(&cl2, "GET", path, NULL), 403);
    assert_true(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.integrity'") >= 1);
    j = hc_json(&a.sec, "GET", "/api/v1/admin/roles", NULL, &st);
    size_t i;
    json_t *role;
    int seen = 0;
    json_array_foreach(json_object_get(j, "roles"), i, role) if (!strcmp(str(role, "code"), "window"))
    {
        assert_false(json_is_true(json_object_get(role, "intact")));
        seen = 1;
    }
    assert_true(seen);
    json_decref(j);
    /* the security administrator unlocks and resets; the holder must change the password again */
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/reset-password", clerk);
    j = hc_json(&a.sec, "POST", path, "{}", &st);
    expect(st, 200, j);
    assert_int_equal(strlen(str(j, "one_time_password")), 16);
    json_decref(j);
    assert_int_equal(call(&cl2, "GET", "/api/v1/account", NULL), 401); /* the reset ended the sessions */
    /* a locked staff account is unlocked by the security administrator */
    struct hclient bo2, bo3;
    hc_init(&bo2, &s);
    hc_init(&bo3, &s);
    for (int k = 0; k < 2; k++) assert_int_equal(login(&bo2, "boss1", "Wrong-pass-1", stage), 401);
    assert_int_equal(login(&bo2, "boss1", "Wrong-pass-1", stage), 423);
    assert_int_equal(login(&bo2, "boss1", PW, stage), 423);
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/unlock", boss);
    assert_int_equal(call(&a.sys, "POST", path, "{}"), 403);
    assert_int_equal(call(&a.sec, "POST", path, "{}"), 200);
    assert_true(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.unlock'") == 1);
    /* staff hold at most two sessions here: the third log-in ends the oldest (bo's) */
    assert_int_equal(call(&bo, "GET", "/api/v1/account", NULL), 200);
    assert_int_equal(login(&bo2, "boss1", PW, stage), 200);
    assert_int_equal(call(&bo, "GET", "/api/v1/account", NULL), 200);
    assert_int_equal(login(&bo3, "boss1", PW, stage), 200);
    assert_int_equal(call(&bo, "GET", "/api/v1/account", NULL), 401);
    stop(&s);
}

/* ---------- passwords ---------- */

static void password_rules(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_AUTH_PASSWORD_ITERATIONS=100000", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], stage[16];
    make_id("19880808", 41, idn);
    assert_int_equal(register_person(&c, "chenyi", PW, "陈一", idn, "13812345555", 0), 201);
    /* the configured cost is inside the stored hash */
    assert_int_equal(db_int("SELECT COUNT(*) FROM account WHERE password_hash LIKE 'pbkdf2-sm3$100000$%'"),
                     1);
    assert_int_equal(login(&c, "chenyi", PW, stage), 200);
    /* the current password is needed */
    assert_int_equal(change_password(&c, "Not-the-current-1", PW2), 403);
    /* the account name and the mobile number are refused, and so are the last five passwords */
    assert_int_equal(change_password(&c, PW, "Chenyi-2026x"), 422);
    assert_int_equal(change_password(&c, PW, "X-13812345555"), 422);
    const char *seq[] = {PW2, "Third#2026pass", "Fourth#2026pass", "Fifth#2026pass", "Sixth#2026pass"};
    const char *cur = PW;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(change_password(&c, cur, seq[i]), 200);
        cur = seq[i];
    }
    assert_int_equal(change_password(&c, cur, "Third#2026pass"), 422); /* one of the last five */
    assert_int_equal(change_password(&c, cur, PW), 200);               /* six ago: allowed again */
    /* a password change ends the other sessions */
    struct hclient other;
    hc_init(&other, &s);
    assert_int_equal(login(&other, "chenyi", PW, stage), 200);
    assert_int_equal(change_password(&c, PW, PW2), 200);
    assert_int_equal(call(&other, "GET", "/api/v1/account", NULL), 401);
    assert_int_equal(call(&c, "GET", "/api/v1/account", NULL), 200);
    stop(&s);
    /* a lower configured cost does not weaken old hashes; a higher one upgrades at log-in */
    const char *env2[] = {"EHALL_AUTH_PASSWORD_ITERATIONS=150000", "EHALL_AUTH_PASSWORD_EXPIRY_DAYS=30",
                          NULL};
    assert_int_equal(h_start(&s, dir, db, env2), 0);
    hc_init(&c, &s);
    assert_int_equal(login(&c, "chenyi", PW2, stage), 200);
    assert_string_equal(stage, "full");
    assert_int_equal(db_int("SELECT COUNT(*) FROM account WHERE password_hash LIKE 'pbkdf2-sm3$150000$%'"),
                     1);
    /* an expired password must be changed */
    db_exec(
        "UPDATE account SET password_changed_at = password_changed_at - 40 * 86400 WHERE login = 'chenyi'");
    assert_int_equal(login(&c, "chenyi", PW2, stage), 200);
    assert_string_equal(stage, "password");
    /* wrong current passwords count towards the lock, and a locked account takes no more guesses */
    for (int i = 0; i < 3; i++) assert_int_equal(change_password(&c, "Not-the-current-1", PW), 403);
    assert_int_equal(change_password(&c, PW2, PW), 423);
    stop(&s);
}

/* ---------- enterprises and agents ---------- */

static void enterprise_clerks_and_agents(void **state)
{
    (void)state;
    struct srv s;
    start(&s, NULL);
    struct hclient boss, clerk, agent;
    hc_init(&boss, &s);
    char uscc[19], idn[19], id[64], ans[16], code[8], body[1024], stage[16];
    make_uscc("M00010012", uscc);
    make_id("19750505", 61, idn);
    captcha(&boss, id, ans);
    snprintf(body, sizeof body,
             "{\"purpose\":\"register\",\"mobile\":\"13812346666\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}",
             id, ans);
    assert_int_equal(call(&boss, "POST", "/api/v1/sms/code", body), 202);
    /* a second code within the minute is refused (no SMS bombing) */
    captcha(&boss, id, ans);
    snprintf(body, sizeof body,
             "{\"purpose\":\"register\",\"mobile\":\"13812346666\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}",
             id, ans);
    assert_int_equal(call(&boss, "POST", "/api/v1/sms/code", body), 429);
    sms_code(&boss, "13812346666", code);
    snprintf(body, sizeof body,
             "{\"login\":\"acme\",\"password\":\"%s\",\"name\":\"李总\",\"id_number\":\"%s\",\"mobile\":"
             "\"13812346666\","
             "\"sms_code\":\"%s\",\"enterprise_name\":\"福州某某科技有限公司\",\"uscc\":\"%s\",\"legal_rep\":"
             "\"李总\"}",
             PW, idn, code, uscc);
    long st;
    json_t *j = hc_json(&boss, "POST", "/api/v1/auth/register/enterprise", body, &st);
    expect(st, 201, j);
    json_decref(j);
    assert_int_equal(login(&boss, "acme", PW, stage), 200);
    /* a clerk who may file but not pay */
    j = hc_json(&boss, "POST", "/api/v1/enterprise/members",
                "{\"login\":\"acme-clerk\",\"name\":\"王会计\",\"permissions\":[\"ent.file\",\"ent.view\"]}",
                &st);
    expect(st, 201, j);
    char otp[32];
    snprintf(otp, sizeof otp, "%s", str(j, "one_time_password"));
    json_decref(j);
    hc_init(&clerk, &s);
    assert_int_equal(login(&clerk, "acme-clerk", otp, stage), 200);
    assert_string_equal(stage, "password");
    assert_int_equal(change_password(&clerk, otp, PW), 200);
    j = hc_json(&clerk, "GET", "/api/v1/session", NULL, &st);
    char *t = json_dumps(json_object_get(j, "permissions"), JSON_COMPACT);
    assert_non_null(strstr(t, "ent.file"));
    assert_null(strstr(t, "ent.pay"));
    free(t);
    json_decref(j);
    assert_int_equal(call(&clerk, "GET", "/api/v1/enterprise/members", NULL), 403);
    /* an agent, authorised for two items and a period */
    hc_init(&agent, &s);
    char aid[19];
    make_id("19660606", 71, aid);
    assert_int_equal(register_person(&agent, "taxagent", PW, "代理人", aid, "13812347777", 1), 201);
    snprintf(
        body, sizeof body,
        "{\"agent\":\"taxagent\",\"items\":[\"TAX-ZERO\",\"TAX-VAT\"],\"valid_from\":%lld,\"valid_to\":%lld}",
        (long long)time(NULL) - 60, (long long)time(NULL) + 86400);
    j = hc_json(&boss, "POST", "/api/v1/enterprise/agents", body, &st);
    expect(st, 201, j);
    long long grant = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    assert_int_equal(login(&agent, "taxagent", PW, stage), 200);
    snprintf(body, sizeof body, "{\"grant\":%lld}", grant);
    j = hc_json(&agent, "POST", "/api/v1/agent/act", body, &st);
    expect(st, 200, j);
    json_decref(j);
    j = hc_json(&agent, "GET", "/api/v1/session", NULL, &st);
    assert_true(json_integer_value(json_object_get(j, "on_behalf_of")) > 0);
    json_decref(j);
    /* what the agent does is recorded on whose behalf */
    assert_int_equal(call(&agent, "POST", "/api/v1/account/mfa", "{\"enabled\":false}"), 200);
    assert_true(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'account.factor' AND details LIKE "
                       "'%on_behalf_of%'") == 1);
    /* an agent cannot manage the enterprise, and the grant can be revoked at once */
    assert_int_equal(call(&agent, "GET", "/api/v1/enterprise/members", NULL), 403);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/enterprise/agents/%lld", grant);
    assert_int_equal(call(&boss, "DELETE", path, NULL), 200);
    assert_int_equal(call(&agent, "GET", "/api/v1/session", NULL), 200);
    j = hc_json(&agent, "GET", "/api/v1/session", NULL, &st);
    assert_false(json_is_true(json_object_get(j, "authenticated")));
    json_decref(j);
    assert_int_equal(login(&agent, "taxagent", PW, stage), 200);
    assert_int_equal(call(&agent, "POST", "/api/v1/agent/act", body), 403);
    /* acting ends when the grant's period does, whatever the session lifetime */
    snprintf(body, sizeof body,
             "{\"agent\":\"taxagent\",\"items\":[\"*\"],\"valid_from\":%lld,\"valid_to\":%lld}",
             (long long)time(NULL) - 60, (long long)time(NULL) + 3);
    j = hc_json(&boss, "POST", "/api/v1/enterprise/agents", body, &st);
    expect(st, 201, j);
    snprintf(body, sizeof body, "{\"grant\":%lld}", (long long)json_integer_value(json_object_get(j, "id")));
    json_decref(j);
    assert_int_equal(call(&agent, "POST", "/api/v1/agent/act", body), 200);
    assert_int_equal(call(&agent, "GET", "/api/v1/agent/grants", NULL), 200);
    sleep(4);
    assert_int_equal(call(&agent, "GET", "/api/v1/agent/grants", NULL), 401);
    stop(&s);
}

/* ---------- certificate log-in ---------- */

static int sh(const char *cmd, char *out, size_t len)
{
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, len - 1, f);
    out[n] = 0;
    return pclose(f);
}

/* Ask for a challenge for login and sign it with the openssl CLI and key, as a USB
 * key's software would; body gets the JSON for POST /api/v1/auth/cert/login. */
static void signed_challenge(struct hclient *c, const char *login, const char *key, char *body, size_t len)
{
    long st;
    char req[96], chalfile[300], cmd[1024], sig[2048];
    snprintf(req, sizeof req, "{\"login\":\"%s\"}", login);
    json_t *j = hc_json(c, "POST", "/api/v1/auth/cert/challenge", req, &st);
    expect(st, 200, j);
    snprintf(chalfile, sizeof chalfile, "%s/challenge.txt", dir);
    FILE *f = fopen(chalfile, "w");
    fputs(str(j, "challenge"), f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -sign -inkey %s -rawin -in %s -digest sm3 -pkeyopt distid:1234567812345678 "
             "| od -An -v -tx1 | tr -d ' \\n'",
             key, chalfile);
    assert_int_equal(sh(cmd, sig, sizeof sig), 0);
    snprintf(body, len, "{\"challenge_id\":\"%s\",\"signature\":\"%s\"}", str(j, "challenge_id"), sig);
    json_decref(j);
}

static void certificate_login_with_openssl_signature(void **state)
{
    (void)state;
    char v[64];
    if (sh("openssl version 2>/dev/null", v, sizeof v) != 0 || strncmp(v, "OpenSSL 3", 9) != 0) skip();
    struct srv s;
    const char *env[] = {"EHALL_AUTH_CHALLENGE_TTL=2", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], stage[16], cmd[1024], keyfile[300], otherkey[300], pubfile[300], out[4096];
    make_id("19910909", 81, idn);
    assert_int_equal(register_person(&c, "certuser", PW, "证书用户", idn, "13812348888", 0), 201);
    assert_int_equal(login(&c, "certuser", PW, stage), 200);
    /* a key made by openssl, as a USB key's software would */
    snprintf(keyfile, sizeof keyfile, "%s/user-sm2.pem", dir);
    snprintf(pubfile, sizeof pubfile, "%s/user-sm2.pub.pem", dir);
    snprintf(otherkey, sizeof otherkey, "%s/other-sm2.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl genpkey -algorithm SM2 -out %s 2>&1 && openssl pkey -in %s -pubout -out %s 2>&1 &&"
             " openssl genpkey -algorithm SM2 -out %s 2>&1",
             keyfile, keyfile, pubfile, otherkey);
    assert_int_equal(sh(cmd, out, sizeof out), 0);
    char *pub = h_slurp(pubfile);
    json_t *req = json_pack("{s:s, s:s}", "label", "USB key", "public_key", pub);
    char *body = json_dumps(req, JSON_COMPACT);
    assert_int_equal(call(&c, "POST", "/api/v1/account/certs", body), 201);
    assert_int_equal(call(&c, "POST", "/api/v1/account/certs", body), 409);
    free(body);
    json_decref(req);
    free(pub);
    assert_int_equal(call(&c, "POST", "/api/v1/account/certs",
                          "{\"label\":\"x\",\"public_key\":\"-----BEGIN PUBLIC KEY-----\\nnotakey\\n-----END "
                          "PUBLIC KEY-----\\n\"}"),
                     422);
    assert_int_equal(call(&c, "POST", "/api/v1/auth/logout", "{}"), 200);

    for (int round = 0; round < 3; round++) {
        long st;
        char lb[4096];
        signed_challenge(&c, "certuser", round == 1 ? otherkey : keyfile, lb, sizeof lb);
        if (round == 2) sleep(3); /* expired */
        json_t *j = hc_json(&c, "POST", "/api/v1/auth/cert/login", lb, &st);
        if (round == 0) {
            expect(st, 200, j);
            assert_string_equal(str(j, "stage"), "full");
            json_decref(j);
            /* the same signed challenge again: refused */
            j = hc_json(&c, "POST", "/api/v1/auth/cert/login", lb, &st);
            expect(st, 401, j);
        } else { /* round 1: another key's signature; round 2: an expired challenge */
            expect(st, 401, j);
        }
        json_decref(j);
    }
    /* a key slipped into the database behind ehall's back is never used */
    char planted[300];
    snprintf(planted, sizeof planted, "%s/planted.pub.pem", dir);
    snprintf(cmd, sizeof cmd, "openssl pkey -in %s -pubout -out %s 2>&1", otherkey, planted);
    assert_int_equal(sh(cmd, out, sizeof out), 0);
    char *ppem = h_slurp(planted);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO cert_key(account_id, label, public_key, fingerprint, created_at, mac)"
             " SELECT id, 'planted', '%s', 'planted', 'now', '1:00' FROM account WHERE login = 'certuser'",
             ppem);
    free(ppem);
    db_exec(sql);
    {
        char lb[4096];
        signed_challenge(&c, "certuser", otherkey, lb, sizeof lb);
        assert_int_equal(call(&c, "POST", "/api/v1/auth/cert/login", lb), 401);
        assert_int_equal(db_int("SELECT COUNT(*) FROM audit_log WHERE action = 'security.integrity'"), 1);
    }
    /* an unknown login gets a challenge too (no account probing) */
    assert_int_equal(call(&c, "POST", "/api/v1/auth/cert/challenge", "{\"login\":\"nobody-at-all\"}"), 200);
    stop(&s);
}

/* ---------- hostile input ---------- */

static void hostile_input_is_refused_cleanly(void **state)
{
    (void)state;
    struct srv s;
    start(&s, NULL);
    struct hclient c;
    hc_init(&c, &s);
    char big[6000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char body[7000];
    const char *bodies[] = {
        "{\"login\":\"' OR 1=1 --\",\"password\":\"x\",\"captcha_id\":\"x\",\"captcha\":\"x\"}",
        "{\"login\":1,\"password\":[],\"captcha_id\":{},\"captcha\":null}",
        "{\"login\":\"a\\u0000b\",\"password\":\"x\",\"captcha_id\":\"x\",\"captcha\":\"x\"}",
        "{\"login\":\"<script>alert(1)</script>\",\"password\":\"x\",\"captcha_id\":\"x\",\"captcha\":\"x\"}",
        "[]",
        body,
    };
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"password\":\"x\",\"captcha_id\":\"x\",\"captcha\":\"x\"}", big);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct resp r;
        long st = hc_call(&c, "POST", "/api/v1/auth/login", bodies[i], &r);
        if (st < 400 || st >= 500) fail_msg("body %zu: status %ld %s", i, st, r.body);
        assert_null(strstr(r.body, "<script>"));
        h_resp_free(&r);
    }
    /* invalid UTF-8 is refused by the parser */
    struct resp r;
    const char bad[] = "{\"login\":\"\xff\xfe\",\"password\":\"x\",\"captcha_id\":\"x\",\"captcha\":\"x\"}";
    assert_int_equal(hc_call(&c, "POST", "/api/v1/auth/login", bad, &r), 400);
    h_resp_free(&r);
    /* registration with markup: stored sealed, shown masked and escaped */
    char idn[19];
    make_id("19930303", 91, idn);
    assert_int_equal(register_person(&c, "markup", PW, "<b>李</b>", idn, "13812349999", 0), 201);
    char stage[16];
    assert_int_equal(login(&c, "markup", PW, stage), 200);
    assert_int_equal(hc_call(&c, "GET", "/api/v1/account", NULL, &r), 200);
    assert_null(strstr(r.body, "<b>"));
    h_resp_free(&r);
    assert_int_equal(db_int("SELECT COUNT(*) FROM account"), 1);
    stop(&s);
}

/* ---------- closing an account; throttling an address; rotating keys while serving ---------- */

static void closed_accounts_keep_their_login_reserved(void **state)
{
    (void)state;
    struct srv s;
    start(&s, NULL);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], idn2[19], stage[16];
    make_id("19850505", 101, idn);
    make_id("19850505", 102, idn2);
    assert_int_equal(register_person(&c, "leaving", PW, "离开者", idn, "13812340101", 0), 201);
    assert_int_equal(login(&c, "leaving", PW, stage), 200);
    assert_int_equal(call(&c, "DELETE", "/api/v1/account", "{\"password\":\"Wrong-pass-9\"}"), 403);
    assert_int_equal(call(&c, "DELETE", "/api/v1/account", "{\"password\":\"" PW "\"}"), 200);
    assert_int_equal(call(&c, "GET", "/api/v1/account", NULL), 401);
    assert_int_equal(login(&c, "leaving", PW, stage), 401);
    /* the personal data is gone, the row and its login stay */
    assert_int_equal(db_int("SELECT COUNT(*) FROM account WHERE login = 'leaving' AND status = 'deleted'"
                            " AND name_enc IS NULL AND id_number_enc IS NULL AND mobile_enc IS NULL"),
                     1);
    assert_int_equal(register_person(&c, "leaving", PW, "新用户", idn2, "13812340102", 0), 409);
    /* the ID number itself may register again, under a new login and a new account number */
    assert_int_equal(register_person(&c, "returning", PW, "离开者", idn, "13812340103", 0), 201);
    assert_true(db_int("SELECT id FROM account WHERE login = 'returning'") >
                db_int("SELECT id FROM account WHERE login = 'leaving'"));
    stop(&s);
}

static void failing_addresses_are_throttled(void **state)
{
    (void)state;
    struct srv s;
    const char *env[] = {"EHALL_AUTH_IP_FAIL_LIMIT=4", "EHALL_AUTH_LOCKOUT_THRESHOLD=100", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    char stage[16], who[32];
    for (int i = 0; i < 3; i++) {
        snprintf(who, sizeof who, "probe%d", i);
        assert_int_equal(login(&c, who, "Wrong-pass-1", stage), 401);
    }
    assert_int_equal(login(&c, "probe9", "Wrong-pass-1", stage), 401); /* the fourth locks the address */
    assert_int_equal(login(&c, "anyone", "Wrong-pass-1", stage), 429);
    stop(&s);
}

static void keys_rotate_while_serving(void **state)
{
    (void)state;
    struct srv s;
    start(&s, NULL);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], idn2[19], stage[16];
    make_id("19770707", 201, idn);
    make_id("19770707", 202, idn2);
    assert_int_equal(register_person(&c, "rotor1", PW, "轮换一", idn, "13812340201", 0), 201);
    assert_int_equal(register_person(&c, "rotor2", PW, "轮换二", idn2, "13812340202", 0), 201);
    assert_int_equal(login(&c, "rotor1", PW, stage), 200);
    assert_true(db_int("SELECT COUNT(*) FROM account WHERE id_number_enc LIKE 'v1.1.%'") == 2);
    char out[4096];
    const char *rotate[] = {"keys", "rotate", NULL};
    if (h_cli(dir, db, rotate, out, sizeof out) != 0) fail_msg("keys rotate: %s", out);
    /* no sealed value, blind index or MAC is left on the old version */
    assert_int_equal(
        db_int("SELECT COUNT(*) FROM account WHERE id_number_enc LIKE 'v1.1.%' OR name_enc LIKE 'v1.1.%'"
               " OR mobile_enc LIKE 'v1.1.%' OR address_enc LIKE 'v1.1.%' OR id_number_bidx LIKE '1:%'"
               " OR mobile_bidx LIKE '1:%'"),
        0);
    assert_int_equal(
        db_int("SELECT COUNT(*) FROM sms_outbox WHERE body_enc LIKE 'v1.1.%' OR mobile_bidx LIKE '1:%'"), 0);
    assert_int_equal(db_int("SELECT COUNT(*) FROM session WHERE mac LIKE '1:%'"), 0);
    assert_int_equal(db_int("SELECT COUNT(*) FROM account WHERE id_number_enc LIKE 'v1.2.%'"), 2);
    /* the running server follows: the session stays valid, values open, lookups by ID number work */
    long st;
    json_t *j = hc_json(&c, "GET", "/api/v1/account", NULL, &st);
    expect(st, 200, j);
    assert_string_equal(str(j, "mobile"), "138****0201");
    json_decref(j);
    struct hclient c2;
    hc_init(&c2, &s);
    assert_int_equal(login(&c2, idn2, PW, stage), 200);
    char idn3[19];
    make_id("19770707", 203, idn3);
    assert_int_equal(register_person(&c2, "rotor3", PW, "轮换三", idn3, "13812340203", 0), 201);
    assert_int_equal(
        db_int("SELECT COUNT(*) FROM account WHERE login = 'rotor3' AND id_number_enc LIKE 'v1.2.%'"), 1);
    stop(&s);
}

/* ---------- the public's own second factor; an exec SMS gateway ---------- */

static void public_totp_with_sha1_and_an_exec_gateway(void **state)
{
    (void)state;
    struct srv s;
    h_fresh(dir, db);
    char gw[400], env_gw[450], logpath[400];
    snprintf(gw, sizeof gw, "%s/gateway.sh", dir);
    snprintf(logpath, sizeof logpath, "%s/gateway.log", dir);
    FILE *f = fopen(gw, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ncat >> '%s'\n", logpath);
    fclose(f);
    chmod(gw, 0700);
    snprintf(env_gw, sizeof env_gw, "EHALL_SMS_GATEWAY=exec:%s", gw);
    const char *env[] = {env_gw, NULL};
    assert_int_equal(h_start(&s, dir, db, env), 0);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19], stage[16], secret[64];
    make_id("19950505", 301, idn);
    assert_int_equal(register_person(&c, "appuser", PW, "应用用户", idn, "13812340301", 0), 201);
    char *log = h_slurp(logpath);
    assert_non_null(log);
    assert_non_null(strstr(log, "13812340301\n"));
    free(log);
    assert_int_equal(login(&c, "appuser", PW, stage), 200);
    enrol_totp(&c, "SHA1", secret); /* the common authenticator apps' algorithm */
    assert_int_equal(call(&c, "POST", "/api/v1/account/mfa", "{\"enabled\":true}"), 200);
    struct hclient c2;
    hc_init(&c2, &s);
    long st;
    char id[64], ans[16], body[512];
    captcha(&c2, id, ans);
    snprintf(body, sizeof body,
             "{\"login\":\"appuser\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", PW, id,
             ans);
    json_t *j = hc_json(&c2, "POST", "/api/v1/auth/login", body, &st);
    expect(st, 200, j);
    assert_string_equal(str(j, "stage"), "mfa");
    char *t = json_dumps(json_object_get(j, "mfa_methods"), JSON_COMPACT);
    assert_string_equal(t, "[\"totp\",\"sms\"]");
    free(t);
    json_decref(j);
    assert_int_equal(totp_mfa(&c2, secret, "SHA1", 30), 200);
    assert_int_equal(call(&c2, "GET", "/api/v1/account", NULL), 200);
    stop(&s);
}

/* ---------- slow hashes do not hold up other requests ---------- */

struct slow_login {
    struct srv *s;
    long status;
};

static void *slow_login_thread(void *arg)
{
    struct slow_login *sl = arg;
    struct hclient c;
    hc_init(&c, sl->s);
    char stage[16];
    sl->status = login(&c, "slowhash", PW, stage);
    return NULL;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void logins_do_not_hold_up_other_requests(void **state)
{
    (void)state;
    struct srv s;
    /* a cost that makes one hash slow enough to see (a quarter of a second here, several
     * seconds under the sanitizers: the checks below scale with it) */
    const char *env[] = {"EHALL_AUTH_PASSWORD_ITERATIONS=400000", "EHALL_HTTP_THREADS=2", NULL};
    start(&s, env);
    struct hclient c;
    hc_init(&c, &s);
    char idn[19];
    make_id("19960606", 401, idn);
    double t0 = now_s();
    assert_int_equal(register_person(&c, "slowhash", PW, "慢哈希", idn, "13812340401", 0), 201);
    double hash = now_s() - t0; /* about one hash: registration hashes once */
    struct slow_login sl[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        sl[i] = (struct slow_login){&s, 0};
        assert_int_equal(pthread_create(&th[i], NULL, slow_login_thread, &sl[i]), 0);
    }
    usleep((useconds_t)(hash * 1e6 / 4)); /* the log-ins are hashing now */
    double worst = 0, until = now_s() + hash * 1.5;
    while (now_s() < until) {
        double a = now_s();
        struct resp r;
        assert_int_equal(h_http(&s, "GET", "/healthz", NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        h_resp_free(&r);
        if (now_s() - a > worst) worst = now_s() - a;
        usleep(20000);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sl[i].status, 200);
    }
    /* on the I/O threads, a request behind a hash would wait for it (about `hash`) */
    if (worst > hash / 2)
        fail_msg("a health check waited %.3f s behind password hashes of %.3f s", worst, hash);
    stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(person_registers_logs_in_and_data_is_sealed),
        cmocka_unit_test(registration_checks_every_field),
        cmocka_unit_test(captcha_is_single_use_and_expires),
        cmocka_unit_test(captcha_answer_hidden_outside_test_mode),
        cmocka_unit_test(three_failures_lock_for_a_while_and_unknown_names_look_the_same),
        cmocka_unit_test(sessions_resist_fixation_and_expire),
        cmocka_unit_test(state_changes_need_the_csrf_token),
        cmocka_unit_test(three_administrators_are_separate),
        cmocka_unit_test(rbac_scope_fields_and_tampered_rows),
        cmocka_unit_test(password_rules),
        cmocka_unit_test(enterprise_clerks_and_agents),
        cmocka_unit_test(certificate_login_with_openssl_signature),
        cmocka_unit_test(hostile_input_is_refused_cleanly),
        cmocka_unit_test(closed_accounts_keep_their_login_reserved),
        cmocka_unit_test(failing_addresses_are_throttled),
        cmocka_unit_test(keys_rotate_while_serving),
        cmocka_unit_test(public_totp_with_sha1_and_an_exec_gateway),
        cmocka_unit_test(logins_do_not_hold_up_other_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
