/*
 * Licence sharing through its public interfaces, on a real `ehall serve`: share codes
 * (only the scenario's fields, the watermark, use counts under concurrency, expiry,
 * revocation), the sharing gateway (registration and approval narrowing the fields,
 * signed calls — HMAC-SM3 computed here with OpenSSL, independently of ehall — refused
 * when unsigned, badly signed, stale or replayed; consent needed to fetch but not to
 * check; standing authorisations; the per-minute rate limit answering 429 with
 * Retry-After), the usage log for the holder and the auditor, the audit records, and
 * `ehall license report` balancing calls served against calls logged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "people.h"
#include "store/store.h"

#define PER_MINUTE 25

static const char *str(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *src_dir(void)
{
    const char *s = getenv("EHALL_SOURCE_DIR");
    return s ? s : ".";
}

/* everything the tests share: one server, one holder with one licence */
static struct {
    char dir[256], db[512];
    struct srv s;
    struct admins a;
    struct hclient holder, other, clerk, reviewer, sealer;
    char lic[64];
    char app_id[64], secret[80];
} W;

static int has_field(json_t *err, const char *field)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(json_object_get(err, "error"), "details"), i, d)
    {
        if (str(d, "field") && !strcmp(str(d, "field"), field)) return 1;
    }
    return 0;
}

static const char *err_code(json_t *j) { return str(json_object_get(j, "error"), "code"); }

static long long staff_in(struct hclient *c, const char *login, const char *dept, const char *roles)
{
    long long d = p_dept_id(&W.a.sys, dept);
    assert_true(d > 0);
    char l[40];
    snprintf(l, sizeof l, "%s%ld", login, (long)getpid() % 1000);
    return p_staff(&W.s, &W.a, c, l, d, roles);
}

static int setup(void **state)
{
    (void)state;
    h_fresh(W.dir, W.db);
    static char simdir[1100];
    snprintf(simdir, sizeof simdir, "EHALL_EXCHANGE_SIM_DIR=%s/items/testdata", src_dir());
    const char *env[] = {"EHALL_EXCHANGE_POLL_MS=50", simdir, "EHALL_LICENCE_GATEWAY_PER_MINUTE=25",
                         "EHALL_PUBLIC_URL=https://hall.example.gov.cn", NULL};
    if (h_start(&W.s, W.dir, W.db, env) != 0) fail_msg("server did not start; log: %s", h_slurp(W.s.log));
    char out[8192], path[1024];
    snprintf(path, sizeof path, "%s/items", src_dir());
    const char *args[] = {"items", "import", path, NULL};
    if (h_cli(W.dir, W.db, args, out, sizeof out) != 0) fail_msg("items import: %s", out);
    snprintf(path, sizeof path, "%s/licences", src_dir());
    const char *largs[] = {"license", "import", path, NULL};
    if (h_cli(W.dir, W.db, largs, out, sizeof out) != 0) fail_msg("license import: %s", out);
    p_admins(&W.s, &W.a);
    p_person(&W.s, &W.holder, "lsh01", "1990-01-01");
    p_person(&W.s, &W.other, "lsh02", "1991-02-02");
    staff_in(&W.clerk, "lshc", "PSB-YZ-HJ", "lic_entry_clerk");
    staff_in(&W.reviewer, "lshr", "PSB-YZ-HJ", "lic_reviewer");
    staff_in(&W.sealer, "lshs", "PSB-YZ-HJ", "lic_seal_officer");
    char idn[19], body[600];
    p_person_id_number("lsh01", "1990-01-01", idn);
    snprintf(
        body, sizeof body,
        "{\"type\":\"temporary_id_certificate\",\"holder_name\":\"王五\",\"holder_number\":\"%s\","
        "\"fields\":{\"gender\":\"男\",\"birth_date\":\"1990-01-01\",\"address\":\"重庆市渝中区解放碑1号\"}}",
        idn);
    json_t *j = p_want(&W.clerk, 201, "POST", "/api/v1/licence-entries", body);
    long long e = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/licence-entries/%lld/review", e);
    json_decref(p_want(&W.reviewer, 200, "POST", path, "{\"decision\":\"pass\"}"));
    snprintf(path, sizeof path, "/api/v1/licence-entries/%lld/seal", e);
    j = p_want(&W.sealer, 200, "POST", path, "{}");
    snprintf(W.lic, sizeof W.lic, "%s", str(j, "licence_id"));
    json_decref(j);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (W.s.pid > 0) h_stop(&W.s);
    return 0;
}

/* an anonymous GET */
static json_t *anon(const char *path, long *status, struct resp *keep)
{
    struct resp r;
    if (h_http(&W.s, "GET", path, NULL, NULL, 0, &r) != 0) fail_msg("GET %s failed", path);
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (keep)
        *keep = r;
    else
        h_resp_free(&r);
    return j;
}

static json_t *make_share(const char *scenario, int minutes, int uses)
{
    char path[128], body[160];
    snprintf(path, sizeof path, "/api/v1/licences/%s/shares", W.lic);
    snprintf(body, sizeof body, "{\"scenario\":\"%s\",\"minutes\":%d,\"uses\":%d}", scenario, minutes, uses);
    return p_want(&W.holder, 201, "POST", path, body);
}

static long view(const char *code, json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/public/shares/%s", code);
    long st;
    json_t *j = anon(path, &st, NULL);
    if (out)
        *out = j;
    else
        json_decref(j);
    return st;
}

/* ---------- share codes ---------- */

struct racer {
    const char *code;
    long status;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    r->status = view(r->code, NULL);
    return NULL;
}

static store *open_db(void)
{
    struct store_options o = {2, 5000, 10000};
    store *st = NULL;
    char err[256];
    assert_int_equal(store_open(W.db, &o, &st, err, sizeof err), STORE_OK);
    return st;
}

static void exec_sql(const char *sql)
{
    store *st = open_db();
    store_conn *c = store_acquire(st);
    assert_int_equal(store_exec(c, sql), STORE_OK);
    store_release(c);
    store_close(st);
}

/* the holder's usage log as "action/result" lines */
static int uses_count(const char *action, const char *result, const char *who)
{
    char path[200];
    int n = 0;
    long long before = 0;
    do {
        if (before)
            snprintf(path, sizeof path, "/api/v1/licences/%s/uses?before=%lld", W.lic, before);
        else
            snprintf(path, sizeof path, "/api/v1/licences/%s/uses", W.lic);
        json_t *j = p_want(&W.holder, 200, "GET", path, NULL);
        size_t i;
        json_t *u;
        json_array_foreach(json_object_get(j, "uses"), i, u)
        {
            if (!strcmp(str(u, "action"), action) && (!result || !strcmp(str(u, "result"), result)) &&
                (!who || !strcmp(str(u, "who"), who)))
                n++;
        }
        json_t *nb = json_object_get(j, "next_before");
        before = json_is_integer(nb) ? json_integer_value(nb) : 0;
        json_decref(j);
    } while (before);
    return n;
}

static int audit_count(const char *action, const char *result)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/audit?action=%s%s%s&limit=500", action, result ? "&result=" : "",
             result ? result : "");
    json_t *j = p_want(&W.a.aud, 200, "GET", path, NULL);
    int n = (int)json_array_size(json_object_get(j, "records"));
    json_decref(j);
    return n;
}

static void share_codes(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "/api/v1/licences/%s/shares", W.lic);
    /* bad input: every field named, nothing stored */
    long st;
    json_t *j =
        hc_json(&W.holder, "POST", path, "{\"scenario\":\"nope\",\"minutes\":0,\"uses\":1000,\"x\":1}", &st);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "scenario"));
    assert_true(has_field(j, "minutes"));
    assert_true(has_field(j, "uses"));
    assert_true(has_field(j, "x"));
    json_decref(j);
    j = hc_json(&W.holder, "POST", path, "{\"scenario\":\"hotel_checkin\",\"minutes\":1441,\"uses\":1}", &st);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "minutes"));
    json_decref(j);
    j = hc_json(&W.holder, "POST", "/api/v1/licences/NOT-AN-ID/shares", "{}", &st);
    assert_int_equal(st, 400);
    assert_true(has_field(j, "id"));
    json_decref(j);
    /* someone else's licence: not found */
    j = hc_json(&W.other, "POST", path, "{\"scenario\":\"hotel_checkin\",\"minutes\":5,\"uses\":1}", &st);
    assert_int_equal(st, 404);
    json_decref(j);
    j = p_want(&W.holder, 200, "GET", path, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "shares")), 0);
    json_decref(j);

    /* a code for hotel check-in, usable twice */
    j = make_share("hotel_checkin", 5, 2);
    char code[64], url[200];
    snprintf(code, sizeof code, "%s", str(j, "code"));
    assert_int_equal(strlen(code), 24); /* 144 bits, base64url */
    snprintf(url, sizeof url, "https://hall.example.gov.cn/verify/share/%s", code);
    assert_string_equal(str(j, "url"), url);
    assert_int_equal(json_integer_value(json_object_get(j, "uses_left")), 2);
    assert_non_null(str(j, "expires_at"));
    json_decref(j);
    /* another code differs */
    j = make_share("railway", 5, 1);
    assert_string_not_equal(str(j, "code"), code);
    json_decref(j);

    /* the public view: only the scenario's fields, a watermark, one use gone */
    json_t *v;
    assert_int_equal(view(code, &v), 200);
    json_t *lic = json_object_get(v, "licence");
    assert_int_equal(json_object_size(lic), 4);
    assert_string_equal(str(lic, "id"), W.lic);
    assert_string_equal(str(lic, "holder_name"), "王五");
    assert_non_null(str(lic, "holder_number"));
    assert_non_null(str(lic, "valid_to"));
    assert_null(json_object_get(lic, "address"));
    assert_null(json_object_get(lic, "gender"));
    assert_null(json_object_get(lic, "birth_date"));
    assert_string_equal(str(v, "status"), "valid");
    assert_string_equal(str(v, "scenario"), "hotel_checkin");
    const char *wm = str(v, "watermark");
    assert_non_null(wm);
    assert_true(!strncmp(wm, "仅供酒店入住使用 20", strlen("仅供酒店入住使用 20")));
    assert_int_equal(json_integer_value(json_object_get(v, "uses_left")), 1);
    json_decref(v);
    assert_int_equal(view(code, NULL), 200);
    assert_int_equal(view(code, &v), 410);
    assert_string_equal(err_code(v), "used_up");
    json_decref(v);
    /* malformed and unknown codes */
    assert_int_equal(view("short", &v), 400);
    assert_true(has_field(v, "code"));
    json_decref(v);
    assert_int_equal(view("AAAAAAAAAAAAAAAAAAAAAAAA", &v), 404);
    json_decref(v);

    /* use counts under concurrency: 16 viewers race for 5 uses */
    j = make_share("hotel_checkin", 5, 5);
    char ccode[64];
    snprintf(ccode, sizeof ccode, "%s", str(j, "code"));
    json_decref(j);
    enum { N = 16 };
    pthread_t th[N];
    struct racer rs[N];
    for (int i = 0; i < N; i++) {
        rs[i].code = ccode;
        rs[i].status = 0;
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    int ok = 0, gone = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (rs[i].status == 200) ok++;
        if (rs[i].status == 410) gone++;
    }
    assert_int_equal(ok, 5);
    assert_int_equal(gone, N - 5);

    /* expiry: a code whose time is up (its expiry moved into the past) is refused, also when
     * many try at once */
    j = make_share("hotel_checkin", 1, 50);
    char ecode[64];
    snprintf(ecode, sizeof ecode, "%s", str(j, "code"));
    long long eid = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    assert_int_equal(view(ecode, NULL), 200);
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE licence_share SET expires_ms = 1000 WHERE id = %lld", eid);
    exec_sql(sql);
    for (int i = 0; i < N; i++) {
        rs[i].code = ecode;
        rs[i].status = 0;
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].status, 410);
    }
    assert_int_equal(view(ecode, &v), 410);
    assert_string_equal(err_code(v), "expired");
    json_decref(v);

    /* revocation, by the code */
    j = make_share("hotel_checkin", 5, 3);
    char rcode[64], rpath[200];
    snprintf(rcode, sizeof rcode, "%s", str(j, "code"));
    json_decref(j);
    snprintf(rpath, sizeof rpath, "/api/v1/licences/%s/shares/%s", W.lic, rcode);
    j = hc_json(&W.other, "DELETE", rpath, NULL, &st);
    assert_int_equal(st, 404); /* not theirs */
    json_decref(j);
    json_decref(p_want(&W.holder, 200, "DELETE", rpath, NULL));
    json_decref(p_want(&W.holder, 404, "DELETE", rpath, NULL));
    assert_int_equal(view(rcode, &v), 410);
    assert_string_equal(err_code(v), "revoked");
    json_decref(v);

    /* the holder's list says what became of each code */
    j = p_want(&W.holder, 200, "GET", path, NULL);
    json_t *sh = json_object_get(j, "shares");
    assert_int_equal(json_array_size(sh), 5);
    int used_up = 0, expired = 0, revoked = 0, active = 0;
    size_t i;
    json_t *x;
    json_array_foreach(sh, i, x)
    {
        const char *s2 = str(x, "state");
        used_up += !strcmp(s2, "used_up");
        expired += !strcmp(s2, "expired");
        revoked += !strcmp(s2, "revoked");
        active += !strcmp(s2, "active");
        assert_null(json_object_get(x, "code")); /* only the hint is kept */
    }
    assert_int_equal(used_up, 2);
    assert_int_equal(expired, 1);
    assert_int_equal(revoked, 1);
    assert_int_equal(active, 1);
    json_decref(j);

    /* who used my licence: every creation and view, with its result */
    assert_int_equal(uses_count("share_create", "ok", NULL), 5);
    assert_int_equal(uses_count("share_view", "ok", NULL), 2 + 5 + 1);
    assert_int_equal(uses_count("share_view", "used_up", NULL), 1 + (N - 5));
    assert_int_equal(uses_count("share_view", "expired", NULL), N + 1);
    assert_int_equal(uses_count("share_view", "revoked", NULL), 1);
    /* audited: creation and revocation */
    assert_int_equal(audit_count("licence.share.create", "ok"), 5);
    assert_int_equal(audit_count("licence.share.revoke", "ok"), 1);
}

/* ---------- the gateway ---------- */

static void hexs(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

/* X-Signature, computed with OpenSSL: HMAC-SM3(secret, METHOD\nPATH\nQUERY\nTS\nNONCE\nhex SM3(body)) */
static void sign(const char *secret, const char *method, const char *path, const char *ts, const char *nonce,
                 const char *body, char out[65])
{
    unsigned char d[32], mac[64];
    unsigned int dl = 0, ml = 0;
    char bh[65], msg[1024];
    assert_int_equal(EVP_Digest(body ? body : "", body ? strlen(body) : 0, d, &dl, EVP_sm3(), NULL), 1);
    hexs(d, 32, bh);
    int n = snprintf(msg, sizeof msg, "%s\n%s\n\n%s\n%s\n%s", method, path, ts, nonce, bh);
    assert_non_null(HMAC(EVP_sm3(), secret, (int)strlen(secret), (unsigned char *)msg, (size_t)n, mac, &ml));
    assert_int_equal(ml, 32);
    hexs(mac, 32, out);
}

static int nonce_seq;

/* a signed call; skew shifts the timestamp, nonce NULL makes a fresh one, secret NULL the app's */
static json_t *gw(const char *method, const char *path, const char *body, const char *secret, long skew,
                  const char *nonce, long *status, char *retry_after, size_t ralen)
{
    char ts[32], nn[64], sig[65], h1[100], h2[64], h3[100], h4[100];
    snprintf(ts, sizeof ts, "%ld", (long)time(NULL) + skew);
    if (nonce)
        snprintf(nn, sizeof nn, "%s", nonce);
    else
        snprintf(nn, sizeof nn, "n-%d-%d-%ld", (int)getpid(), ++nonce_seq, (long)time(NULL));
    sign(secret ? secret : W.secret, method, path, ts, nn, body, sig);
    snprintf(h1, sizeof h1, "X-App-Id: %s", W.app_id);
    snprintf(h2, sizeof h2, "X-Timestamp: %s", ts);
    snprintf(h3, sizeof h3, "X-Nonce: %s", nn);
    snprintf(h4, sizeof h4, "X-Signature: %s", sig);
    const char *hs[] = {h1, h2, h3, h4, "Content-Type: application/json", NULL};
    struct resp r;
    if (h_http(&W.s, method, path, hs, body, body ? strlen(body) : 0, &r) != 0)
        fail_msg("%s %s failed", method, path);
    *status = r.status;
    if (retry_after) {
        retry_after[0] = 0;
        h_header(&r, "Retry-After", retry_after, ralen);
    }
    json_t *j = json_loads(r.body, 0, NULL);
    h_resp_free(&r);
    return j;
}

static void gateway(void **state)
{
    (void)state;
    long st;
    /* registration: by a department's staff account, scenarios and fields checked */
    json_t *j =
        hc_json(&W.holder, "POST", "/api/v1/licence-apps",
                "{\"name\":\"x\",\"scenarios\":[\"hotel_checkin\"],\"fields\":[\"holder_name\"]}", &st);
    assert_int_equal(st, 403);
    json_decref(j);
    j = hc_json(
        &W.clerk, "POST", "/api/v1/licence-apps",
        "{\"name\":\"\",\"scenarios\":[\"hotel_checkin\",\"nope\"],\"fields\":[\"holder_name\",\"secret\"]}",
        &st);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "name"));
    assert_true(has_field(j, "scenarios[1]"));
    assert_true(has_field(j, "fields[1]"));
    json_decref(j);
    j = p_want(&W.clerk, 200, "GET", "/api/v1/licence-apps", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "apps")), 0);
    json_decref(j);
    j = p_want(&W.clerk, 201, "POST", "/api/v1/licence-apps",
               "{\"name\":\"如家酒店前台\",\"scenarios\":[\"hotel_checkin\"],"
               "\"fields\":[\"id\",\"holder_name\",\"holder_number\"]}");
    long long app = json_integer_value(json_object_get(j, "id"));
    assert_string_equal(str(j, "state"), "pending");
    assert_string_equal(str(j, "dept"), "PSB-YZ-HJ");
    json_decref(j);
    j = p_want(&W.clerk, 201, "POST", "/api/v1/licence-apps",
               "{\"name\":\"某网吧\",\"scenarios\":[\"hotel_checkin\"],\"fields\":[\"holder_name\"]}");
    long long app2 = json_integer_value(json_object_get(j, "id"));
    json_decref(j);

    /* approval: only with licence.app.approve; may narrow, never widen */
    char path[200];
    snprintf(path, sizeof path, "/api/v1/licence-apps/%lld/approve", app);
    json_decref(p_want(&W.clerk, 403, "POST", path, "{}"));
    j = hc_json(&W.a.sys, "POST", path, "{\"fields\":[\"id\",\"address\"]}", &st);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "fields[1]"));
    json_decref(j);
    j = p_want(&W.a.sys, 200, "POST", path, "{\"fields\":[\"id\",\"holder_name\"]}");
    snprintf(W.app_id, sizeof W.app_id, "%s", str(j, "app_id"));
    snprintf(W.secret, sizeof W.secret, "%s", str(j, "secret"));
    assert_int_equal(strlen(W.secret), 64);
    assert_int_equal(json_array_size(json_object_get(j, "fields")), 2);
    json_decref(j);
    json_decref(p_want(&W.a.sys, 409, "POST", path, "{}"));
    /* the secret is never shown again */
    j = p_want(&W.a.sys, 200, "GET", "/api/v1/licence-apps", NULL);
    char *t = json_dumps(j, 0);
    assert_null(strstr(t, W.secret));
    free(t);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/licence-apps/%lld/reject", app2);
    j = hc_json(&W.a.sys, "POST", path, "{}", &st);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "reason"));
    json_decref(j);
    json_decref(p_want(&W.a.sys, 200, "POST", path, "{\"reason\":\"不属于住宿场景\"}"));
    /* a holder sees the approved application only, with its public face: no secret */
    j = p_want(&W.holder, 200, "GET", "/api/v1/licence-apps/approved", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "apps")), 1);
    json_t *pa = json_array_get(json_object_get(j, "apps"), 0);
    assert_string_equal(str(pa, "app_id"), W.app_id);
    assert_string_equal(str(pa, "name"), "如家酒店前台");
    assert_string_equal(str(pa, "dept"), "PSB-YZ-HJ");
    assert_int_equal(json_array_size(json_object_get(pa, "fields")), 2);
    t = json_dumps(j, 0);
    assert_null(strstr(t, W.secret));
    assert_null(strstr(t, "某网吧"));
    free(t);
    json_decref(j);
    assert_int_equal(audit_count("licence.app.approve", "ok"), 1);
    assert_int_equal(audit_count("licence.app.reject", "ok"), 1);
    assert_int_equal(audit_count("licence.app.register", "ok"), 2);

    /* check: signed, no consent needed */
    char cpath[160];
    snprintf(cpath, sizeof cpath, "/api/v1/gateway/licences/%s/check", W.lic);
    j = gw("GET", cpath, NULL, NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    assert_string_equal(str(j, "status"), "valid");
    assert_true(json_is_true(json_object_get(j, "seal_valid")));
    assert_null(json_object_get(j, "holder_name"));
    json_decref(j);
    /* refusals: unsigned, wrong secret, stale, replayed, body changed */
    struct resp r;
    assert_int_equal(h_http(&W.s, "GET", cpath, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    j = json_loads(r.body, 0, NULL);
    assert_true(has_field(j, "X-Signature"));
    assert_true(has_field(j, "X-App-Id"));
    json_decref(j);
    h_resp_free(&r);
    char wrong[80];
    snprintf(wrong, sizeof wrong, "%s", W.secret);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    j = gw("GET", cpath, NULL, wrong, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 401);
    assert_string_equal(err_code(j), "bad_signature");
    assert_true(has_field(j, "X-Signature"));
    json_decref(j);
    j = gw("GET", cpath, NULL, NULL, -400, NULL, &st, NULL, 0);
    assert_int_equal(st, 401);
    assert_string_equal(err_code(j), "stale_timestamp");
    assert_true(has_field(j, "X-Timestamp"));
    json_decref(j);
    j = gw("GET", cpath, NULL, NULL, 400, NULL, &st, NULL, 0);
    assert_int_equal(st, 401);
    json_decref(j);
    char once[40];
    snprintf(once, sizeof once, "once-%d", (int)getpid());
    json_decref(gw("GET", cpath, NULL, NULL, 0, once, &st, NULL, 0));
    assert_int_equal(st, 200);
    j = gw("GET", cpath, NULL, NULL, 0, once, &st, NULL, 0);
    assert_int_equal(st, 401);
    assert_string_equal(err_code(j), "replayed_nonce");
    assert_true(has_field(j, "X-Nonce"));
    json_decref(j);
    assert_true(audit_count("licence.gateway.denied", "denied") >= 2);

    /* fetch needs consent */
    const char *fpath = "/api/v1/gateway/licences/fetch";
    char body[300];
    snprintf(body, sizeof body, "{\"licence_id\":\"%s\",\"scenario\":\"hotel_checkin\"}", W.lic);
    j = gw("POST", fpath, body, NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "no_consent");
    json_decref(j);
    j = gw("POST", fpath, "{}", NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "share_code"));
    json_decref(j);
    j = gw("POST", fpath, "{\"licence_id\":\"x\"}", NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "licence_id"));
    assert_true(has_field(j, "scenario"));
    json_decref(j);
    /* a signature over another body does not pass */
    {
        char ts[32], sig[65], h1[100], h2[64], h3[100], h4[100];
        snprintf(ts, sizeof ts, "%ld", (long)time(NULL));
        sign(W.secret, "POST", fpath, ts, "tamper-nonce-1", "{}", sig);
        snprintf(h1, sizeof h1, "X-App-Id: %s", W.app_id);
        snprintf(h2, sizeof h2, "X-Timestamp: %s", ts);
        snprintf(h3, sizeof h3, "X-Nonce: tamper-nonce-1");
        snprintf(h4, sizeof h4, "X-Signature: %s", sig);
        const char *hs[] = {h1, h2, h3, h4, "Content-Type: application/json", NULL};
        assert_int_equal(h_http(&W.s, "POST", fpath, hs, body, strlen(body), &r), 0);
        assert_int_equal(r.status, 401);
        assert_non_null(strstr(r.body, "bad_signature"));
        h_resp_free(&r);
    }

    /* with a share code: the scenario's fields narrowed to the approved ones */
    j = make_share("hotel_checkin", 5, 1);
    char code[64];
    snprintf(code, sizeof code, "%s", str(j, "code"));
    json_decref(j);
    snprintf(body, sizeof body, "{\"share_code\":\"%s\"}", code);
    j = gw("POST", fpath, body, NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    json_t *lic = json_object_get(j, "licence");
    assert_int_equal(json_object_size(lic), 2);
    assert_string_equal(str(lic, "id"), W.lic);
    assert_string_equal(str(lic, "holder_name"), "王五");
    assert_null(json_object_get(lic, "holder_number")); /* requested, but narrowed at approval */
    assert_null(json_object_get(lic, "valid_to"));      /* in the scenario, never requested */
    assert_string_equal(str(j, "consent"), "share_code");
    json_decref(j);
    j = gw("POST", fpath, body, NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 410);
    assert_string_equal(err_code(j), "used_up");
    json_decref(j);
    /* a code made for another scenario the app is not approved for */
    j = make_share("railway", 5, 1);
    snprintf(body, sizeof body, "{\"share_code\":\"%s\"}", str(j, "code"));
    json_decref(j);
    j = gw("POST", fpath, body, NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "scenario_not_approved");
    json_decref(j);

    /* a standing authorisation by the holder */
    char apath[200], abody[300];
    snprintf(apath, sizeof apath, "/api/v1/licences/%s/authorisations", W.lic);
    j = hc_json(&W.holder, "POST", apath,
                "{\"app_id\":\"app_nope\",\"scenario\":\"nope\",\"until\":\"2020-01-01\"}", &st);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "app_id"));
    assert_true(has_field(j, "scenario"));
    assert_true(has_field(j, "until"));
    json_decref(j);
    time_t now = time(NULL) + 30 * 86400;
    struct tm tm;
    localtime_r(&now, &tm);
    char until[16];
    strftime(until, sizeof until, "%Y-%m-%d", &tm);
    snprintf(abody, sizeof abody, "{\"app_id\":\"%s\",\"scenario\":\"railway\",\"until\":\"%s\"}", W.app_id,
             until);
    j = hc_json(&W.holder, "POST", apath, abody, &st);
    assert_int_equal(st, 422); /* the app is not approved for railway */
    assert_true(has_field(j, "scenario"));
    json_decref(j);
    snprintf(abody, sizeof abody, "{\"app_id\":\"%s\",\"scenario\":\"hotel_checkin\",\"until\":\"%s\"}",
             W.app_id, until);
    json_decref(p_want(&W.other, 404, "POST", apath, abody));
    j = p_want(&W.holder, 201, "POST", apath, abody);
    long long aid = json_integer_value(json_object_get(j, "id"));
    assert_string_equal(str(j, "app_name"), "如家酒店前台");
    json_decref(j);
    snprintf(body, sizeof body, "{\"licence_id\":\"%s\",\"scenario\":\"hotel_checkin\"}", W.lic);
    j = gw("POST", fpath, body, NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    assert_string_equal(str(j, "consent"), "authorisation");
    assert_int_equal(json_object_size(json_object_get(j, "licence")), 2);
    json_decref(j);
    j = p_want(&W.holder, 200, "GET", apath, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "authorisations")), 1);
    json_decref(j);
    snprintf(apath, sizeof apath, "/api/v1/licences/%s/authorisations/%lld", W.lic, aid);
    json_decref(p_want(&W.holder, 200, "DELETE", apath, NULL));
    j = gw("POST", fpath, body, NULL, 0, NULL, &st, NULL, 0);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "no_consent");
    json_decref(j);
    assert_int_equal(audit_count("licence.auth.grant", "ok"), 1);
    assert_int_equal(audit_count("licence.auth.revoke", "ok"), 1);
    assert_int_equal(audit_count("licence.gateway.fetch", "ok"), 2);
    assert_int_equal(audit_count("licence.gateway.fetch", "denied"), 2);

    /* who used my licence: the app's check and fetches; the auditor sees the app's calls */
    assert_true(uses_count("check", "ok", W.app_id) >= 2);
    assert_int_equal(uses_count("fetch", "ok", W.app_id), 2);
    assert_int_equal(uses_count("fetch", "no_consent", W.app_id), 2);
    char upath[200];
    snprintf(upath, sizeof upath, "/api/v1/licence-uses?app=%s&action=fetch", W.app_id);
    j = p_want(&W.a.aud, 200, "GET", upath, NULL);
    assert_true(json_array_size(json_object_get(j, "uses")) >= 6);
    json_decref(j);
    json_decref(p_want(&W.holder, 403, "GET", upath, NULL));
    j = hc_json(&W.a.aud, "GET", "/api/v1/licence-uses?action=nope&date=2026-13-01", NULL, &st);
    assert_int_equal(st, 400);
    assert_true(has_field(j, "action"));
    assert_true(has_field(j, "date"));
    json_decref(j);

    /* the rate limit: PER_MINUTE calls a minute, then 429 with Retry-After */
    int got429 = 0;
    char ra[32] = "";
    for (int i = 0; i < 3 * PER_MINUTE && !got429; i++) {
        j = gw("GET", cpath, NULL, NULL, 0, NULL, &st, ra, sizeof ra);
        if (st == 429) {
            got429 = 1;
            assert_string_equal(err_code(j), "rate_limited");
        } else {
            assert_int_equal(st, 200);
        }
        json_decref(j);
    }
    assert_true(got429);
    long secs = atol(ra);
    assert_true(secs >= 1 && secs <= 60);
}

/* ---------- the public status check's log, and the daily report ---------- */

static void status_log_and_report(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "/api/v1/public/licences/%s/status", W.lic);
    int before = uses_count("status", NULL, NULL);
    for (int i = 0; i < 7; i++) {
        long st;
        json_decref(anon(path, &st, NULL));
        assert_int_equal(st, 200);
    }
    /* buffered: written within about a second */
    int after = before;
    for (int i = 0; i < 60 && after < before + 7; i++) {
        sleep_ms(100);
        after = uses_count("status", "valid", NULL);
    }
    assert_int_equal(after, before + 7);
    /* stopping flushes what is left; the report balances served and logged */
    assert_int_equal(h_stop(&W.s), 0);
    W.s.pid = 0;
    char out[8192];
    const char *args[] = {"license", "report", NULL};
    int rc = h_cli(W.dir, W.db, args, out, sizeof out);
    json_t *j = json_loads(strchr(out, '{') ? strchr(out, '{') : out, 0, NULL);
    if (!j || rc != 0) fail_msg("report (%d): %s", rc, out);
    assert_true(json_is_true(json_object_get(j, "balanced")));
    size_t i;
    json_t *a;
    int seen = 0;
    json_array_foreach(json_object_get(j, "actions"), i, a)
    {
        long long served = json_integer_value(json_object_get(a, "served"));
        long long logged = json_integer_value(json_object_get(a, "logged"));
        assert_int_equal(served, logged);
        if (!strcmp(str(a, "action"), "status")) seen = 1, assert_int_equal(served, 7);
        if (!strcmp(str(a, "action"), "share_create")) assert_int_equal(served, 7);
        if (!strcmp(str(a, "action"), "fetch")) assert_int_equal(served, 6);
    }
    assert_true(seen);
    json_decref(j);
    const char *bad[] = {"license", "report", "--date", "2026-02-30", NULL};
    assert_int_equal(h_cli(W.dir, W.db, bad, out, sizeof out), 2);
    assert_non_null(strstr(out, "--date"));

    /* a master-key rotation re-seals the application's secret; its signed calls go on */
    const char *rotate[] = {"keys", "rotate", NULL};
    if (h_cli(W.dir, W.db, rotate, out, sizeof out) != 0) fail_msg("keys rotate: %s", out);
    store *st = open_db();
    store_conn *c = store_acquire(st);
    store_stmt *q = store_prepare(c, "SELECT secret_enc FROM licence_app WHERE app_id = $1");
    store_bind_text(q, 1, W.app_id);
    assert_int_equal(store_step(q), STORE_ROW);
    assert_true(!strncmp(store_column_text(q, 0), "v1.2.", 5));
    store_finalize(q);
    store_release(c);
    store_close(st);
    const char *env[] = {"EHALL_LICENCE_GATEWAY_PER_MINUTE=1000", NULL};
    if (h_start(&W.s, W.dir, W.db, env) != 0) fail_msg("server did not restart; log: %s", h_slurp(W.s.log));
    long code;
    snprintf(path, sizeof path, "/api/v1/gateway/licences/%s/check", W.lic);
    j = gw("GET", path, NULL, NULL, 0, NULL, &code, NULL, 0);
    assert_int_equal(code, 200);
    assert_string_equal(str(j, "status"), "valid");
    json_decref(j);
}

int main(void)
{
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(share_codes),
        cmocka_unit_test(gateway),
        cmocka_unit_test(status_log_and_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
