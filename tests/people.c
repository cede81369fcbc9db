/*
 * people.c — see people.h.
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
#include <time.h>

#include "auth/auth.h"
#include "crypto/crypto.h"
#include "people.h"

/* TOTP secrets enrolled in this process, so p_login can pass the second factor. */
static struct {
    char login[64], secret[64];
} secrets[64];
static int nsecrets;
static pthread_mutex_t secrets_mu = PTHREAD_MUTEX_INITIALIZER;

static void remember(const char *login, const char *secret)
{
    pthread_mutex_lock(&secrets_mu);
    int i = 0;
    while (i < nsecrets && strcmp(secrets[i].login, login) != 0) i++;
    if (i == nsecrets && nsecrets < 64) nsecrets++;
    if (i < 64) {
        snprintf(secrets[i].login, sizeof secrets[i].login, "%s", login);
        snprintf(secrets[i].secret, sizeof secrets[i].secret, "%s", secret);
    }
    pthread_mutex_unlock(&secrets_mu);
}

static const char *secret_of(const char *login)
{
    const char *s = NULL;
    pthread_mutex_lock(&secrets_mu);
    for (int i = 0; i < nsecrets; i++)
        if (!strcmp(secrets[i].login, login)) s = secrets[i].secret;
    pthread_mutex_unlock(&secrets_mu);
    return s;
}

static const char *str(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

json_t *p_want(struct hclient *c, long want, const char *method, const char *path, const char *body)
{
    long st;
    json_t *j = hc_json(c, method, path, body, &st);
    if (st != want) {
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        fail_msg("%s %s: status %ld, wanted %ld: %s", method, path, st, want, t ? t : "(no JSON)");
    }
    return j;
}

static void want(struct hclient *c, long status, const char *method, const char *path, const char *body)
{
    json_decref(p_want(c, status, method, path, body));
}

/* A number from the login, so each person gets their own mobile and ID number. */
static unsigned hash_of(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

void p_person_id_number(const char *login, const char *birth, char out[19])
{
    static const int W[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    char b[9];
    snprintf(b, sizeof b, "%.4s%.2s%.2s", birth, birth + 5, birth + 8);
    snprintf(out, 19, "110105%s%03u", b, hash_of(login) % 1000);
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (out[i] - '0') * W[i];
    out[17] = "10X98765432"[sum % 11];
    out[18] = 0;
    assert_int_equal(auth_id_number_check(out, NULL), 0);
}

void p_person_mobile(const char *login, char out[12])
{
    snprintf(out, 12, "139%08u", hash_of(login) % 100000000u);
}

static void captcha(struct hclient *c, char id[64], char answer[16])
{
    json_t *j = p_want(c, 201, "POST", "/api/v1/captcha", "{}");
    snprintf(id, 64, "%s", str(j, "id"));
    snprintf(answer, 16, "%s", str(j, "answer"));
    json_decref(j);
}

static void sms_code(struct hclient *c, const char *mobile, char code[8])
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/test/sms?mobile=%s", mobile);
    json_t *j = p_want(c, 200, "GET", path, NULL);
    snprintf(code, 8, "%s", str(j, "code"));
    json_decref(j);
}

static void register_code(struct hclient *c, const char *mobile, char code[8])
{
    char id[64], ans[16], body[256];
    captcha(c, id, ans);
    snprintf(body, sizeof body,
             "{\"purpose\":\"register\",\"mobile\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", mobile,
             id, ans);
    want(c, 202, "POST", "/api/v1/sms/code", body);
    sms_code(c, mobile, code);
}

/* Password and captcha; returns the stage. */
static void password_login(struct hclient *c, const char *login, const char *pw, char stage[16])
{
    char id[64], ans[16], body[512];
    captcha(c, id, ans);
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"password\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}", login, pw, id,
             ans);
    json_t *j = p_want(c, 200, "POST", "/api/v1/auth/login", body);
    snprintf(stage, 16, "%s", str(j, "stage"));
    json_decref(j);
}

static void totp_code(const char *secret, char code[8])
{
    unsigned char key[64];
    size_t klen;
    assert_int_equal(crypto_base32_decode(secret, key, sizeof key, &klen), 0);
    assert_int_equal(crypto_totp(key, klen, "SM3", (long long)time(NULL), 30, 6, code), 0);
}

static void enrol_totp(struct hclient *c, const char *login)
{
    json_t *j = p_want(c, 200, "POST", "/api/v1/account/totp/setup", "{\"digest\":\"SM3\"}");
    char secret[64], code[8], body[64];
    snprintf(secret, sizeof secret, "%s", str(j, "secret"));
    json_decref(j);
    totp_code(secret, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    want(c, 200, "POST", "/api/v1/account/totp/confirm", body);
    remember(login, secret);
}

static void change_password(struct hclient *c, const char *cur)
{
    char body[256];
    snprintf(body, sizeof body, "{\"current_password\":\"%s\",\"new_password\":\"%s\"}", cur, P_PASSWORD);
    want(c, 200, "POST", "/api/v1/account/password", body);
}

static void expect_stage(struct hclient *c, const char *stage)
{
    json_t *j = p_want(c, 200, "GET", "/api/v1/session", NULL);
    assert_string_equal(str(j, "stage"), stage);
    json_decref(j);
}

void p_admins(struct srv *s, struct admins *a)
{
    char out[2048];
    const char *args[] = {"admin", "bootstrap", NULL};
    assert_int_equal(h_cli(s->dir, s->db, args, out, sizeof out), 0);
    struct hclient *cl[] = {&a->sys, &a->sec, &a->aud};
    const char *names[] = {"sysadmin", "secadmin", "auditor"};
    for (int i = 0; i < 3; i++) {
        char pat[32], pw[32], stage[16];
        snprintf(pat, sizeof pat, "login %-9s  password ", names[i]);
        const char *p = strstr(out, pat);
        assert_non_null(p);
        snprintf(pw, sizeof pw, "%.16s", p + strlen(pat));
        hc_init(cl[i], s);
        password_login(cl[i], names[i], pw, stage);
        assert_string_equal(stage, "password");
        change_password(cl[i], pw);
        enrol_totp(cl[i], names[i]);
        expect_stage(cl[i], "full");
    }
}

long long p_person(struct srv *s, struct hclient *c, const char *login, const char *birth)
{
    char idn[19], mobile[12], code[8], body[1024], stage[16];
    p_person_id_number(login, birth, idn);
    p_person_mobile(login, mobile);
    hc_init(c, s);
    register_code(c, mobile, code);
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"password\":\"%s\",\"name\":\"张%s\",\"id_number\":\"%s\",\"mobile\":\"%s\","
             "\"address\":\"北京市朝阳区建国路88号\",\"sms_code\":\"%s\",\"agent\":false}",
             login, P_PASSWORD, login, idn, mobile, code);
    json_t *j = p_want(c, 201, "POST", "/api/v1/auth/register/person", body);
    json_decref(j);
    password_login(c, login, P_PASSWORD, stage);
    assert_string_equal(stage, "full");
    j = p_want(c, 200, "GET", "/api/v1/session", NULL);
    long long id = json_integer_value(json_object_get(json_object_get(j, "account"), "id"));
    json_decref(j);
    assert_true(id > 0);
    return id;
}

long long p_enterprise(struct srv *s, struct hclient *c, const char *login)
{
    static const char A[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    char uscc[19], idn[19], mobile[12], code[8], body[1024], stage[16];
    snprintf(uscc, sizeof uscc, "91350100%09u?", hash_of(login) % 1000000000u);
    int ok = 0;
    for (int i = 0; i < 31 && !ok; i++) {
        uscc[17] = A[i];
        ok = auth_uscc_check(uscc, NULL) == 0;
    }
    assert_true(ok);
    p_person_id_number(login, "1975-05-05", idn);
    p_person_mobile(login, mobile);
    hc_init(c, s);
    register_code(c, mobile, code);
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"password\":\"%s\",\"name\":\"李总\",\"id_number\":\"%s\",\"mobile\":\"%s\","
             "\"sms_code\":\"%s\",\"enterprise_name\":\"福州%s科技有限公司\",\"uscc\":\"%s\",\"legal_rep\":"
             "\"李总\"}",
             login, P_PASSWORD, idn, mobile, code, login, uscc);
    want(c, 201, "POST", "/api/v1/auth/register/enterprise", body);
    password_login(c, login, P_PASSWORD, stage);
    assert_string_equal(stage, "full");
    json_t *j = p_want(c, 200, "GET", "/api/v1/session", NULL);
    long long id = json_integer_value(json_object_get(json_object_get(j, "account"), "id"));
    json_decref(j);
    return id;
}

long long p_dept_id(struct hclient *sys, const char *code)
{
    json_t *j = p_want(sys, 200, "GET", "/api/v1/admin/departments", NULL);
    long long id = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(j, "departments"), i, d)
    {
        if (!strcmp(str(d, "code"), code)) id = json_integer_value(json_object_get(d, "id"));
    }
    json_decref(j);
    return id;
}

long long p_staff(struct srv *s, struct admins *a, struct hclient *out, const char *login, long long dept,
                  const char *roles_csv)
{
    char mobile[12], body[1024], otp[32], stage[16], code[8];
    p_person_mobile(login, mobile);
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"name\":\"窗口%s\",\"mobile\":\"%s\",\"department\":%lld,\"badge\":\"B%s\"}",
             login, login, mobile, dept, login);
    json_t *j = p_want(&a->sys, 201, "POST", "/api/v1/admin/staff", body);
    snprintf(otp, sizeof otp, "%s", str(j, "one_time_password"));
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    /* roles: a JSON array from the comma-separated list */
    json_t *roles = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", roles_csv ? roles_csv : "");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(roles, json_string(t));
    json_t *rb = json_pack("{s:o}", "roles", roles);
    char *rtext = json_dumps(rb, JSON_COMPACT);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/roles", id);
    want(&a->sec, 200, "PUT", path, rtext);
    free(rtext);
    json_decref(rb);
    /* first log-in: SMS second factor, the forced password change, TOTP enrolment */
    hc_init(out, s);
    password_login(out, login, otp, stage);
    assert_string_equal(stage, "mfa");
    want(out, 202, "POST", "/api/v1/auth/mfa/sms", "{}");
    sms_code(out, mobile, code);
    snprintf(body, sizeof body, "{\"method\":\"sms\",\"code\":\"%s\"}", code);
    want(out, 200, "POST", "/api/v1/auth/mfa", body);
    change_password(out, otp);
    enrol_totp(out, login);
    expect_stage(out, "full");
    return id;
}

void p_login(struct srv *s, struct hclient *c, const char *login)
{
    char stage[16];
    hc_init(c, s);
    password_login(c, login, P_PASSWORD, stage);
    if (!strcmp(stage, "mfa")) {
        const char *secret = secret_of(login);
        assert_non_null(secret);
        char code[8], body[96];
        /* a TOTP step is single use: wait for a fresh one if this one was spent */
        for (int tries = 0; tries < 2; tries++) {
            totp_code(secret, code);
            snprintf(body, sizeof body, "{\"method\":\"totp\",\"code\":\"%s\"}", code);
            long st;
            json_t *j = hc_json(c, "POST", "/api/v1/auth/mfa", body, &st);
            json_decref(j);
            if (st == 200) break;
            assert_int_equal(tries, 0);
            struct timespec ts = {30 - time(NULL) % 30 + 1, 0};
            nanosleep(&ts, NULL);
        }
        snprintf(stage, sizeof stage, "full");
    }
    expect_stage(c, stage);
}

long long p_upload(struct hclient *c, const char *file_name, const void *data, size_t len)
{
    char cookie[256], csrf[128], fname[400];
    snprintf(cookie, sizeof cookie, "Cookie: ehall_csrf=%s%s%s", c->csrf_cookie[0] ? c->csrf_cookie : "x",
             c->session[0] ? "; ehall_session=" : "", c->session);
    snprintf(csrf, sizeof csrf, "X-CSRF-Token: %s", c->session[0] && c->csrf[0] ? c->csrf : c->csrf_cookie);
    snprintf(fname, sizeof fname, "X-File-Name: %s", file_name);
    const char *headers[] = {cookie, csrf, fname, "Content-Type: application/octet-stream", NULL};
    struct resp r;
    assert_int_equal(h_http(c->s, "POST", "/api/v1/materials", headers, data, len, &r), 0);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    if (r.status != 200 && r.status != 201)
        fail_msg("upload %s: status %ld: %.300s", file_name, r.status, r.body);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    h_resp_free(&r);
    return id;
}
