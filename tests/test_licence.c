/*
 * Electronic licences through their public interfaces: the identifier's check
 * character and the canonical form (the C API other modules use), `ehall license
 * validate|import|verify|expire` and the HTTP API of a real `ehall serve` — a case
 * closed through the engine giving exactly one licence, the seal checked by the
 * `openssl` command line, tampering (an altered field, a forged signature, the wrong
 * key, an unknown issuer, an expired licence) named exactly, the manual four-role flow
 * refusing an account that would do two steps on one licence, revocation and the
 * public status check, and bad input answered 4xx naming the fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calendar/calendar.h"
#include "exchange/exchange.h"
#include "harness.h"
#include "licence/licence.h"
#include "people.h"
#include "store/store.h"

static char dir[256], db[512];

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

static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = 0, r;
    char tmp[512];
    while ((r = fread(tmp, 1, sizeof tmp, p)) > 0) {
        if (r > size - 1 - n) r = size - 1 - n;
        memcpy(out + n, tmp, r);
        n += r;
    }
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_json(const char *path, json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    write_file(path, t, strlen(t));
    free(t);
}

/* ---------- the identifier and the canonical form (C API) ---------- */

static void identifier_check_character(void **state)
{
    (void)state;
    char id[LICENCE_ID_MAX];
    assert_int_equal(licence_id_format("QZDJ", "500103ZA", 2026, 42, id), 0);
    assert_int_equal(strlen(id), strlen("QZDJ-500103ZA-202600000042-") + 1);
    assert_int_equal(strncmp(id, "QZDJ-500103ZA-202600000042-", 27), 0);
    const char *why = NULL;
    assert_int_equal(licence_id_check(id, &why), 0);
    /* ISO 7064 MOD 37,36 by hand for a short string: "A1" -> p=36; s=(36+10)%36=10, p=20;
     * s=(20+1)%36=21, p=42%37=5; c=(37-5)%36=32 -> 'W' */
    assert_int_equal(licence_check_char("A1"), 'W');
    /* every single substitution and every neighbour transposition is caught */
    size_t n = strlen(id);
    const char alpha[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (size_t i = 0; i < n; i++) {
        if (id[i] == '-') continue;
        for (size_t a = 0; a < 36; a++) {
            if (alpha[a] == id[i]) continue;
            char bad[LICENCE_ID_MAX];
            memcpy(bad, id, n + 1);
            bad[i] = alpha[a];
            if (licence_id_check(bad, NULL) == 0)
                fail_msg("substitution at %zu to %c not caught: %s", i, alpha[a], bad);
        }
        if (i + 1 < n && id[i + 1] != '-' && id[i] != id[i + 1]) {
            char bad[LICENCE_ID_MAX];
            memcpy(bad, id, n + 1);
            bad[i] = id[i + 1];
            bad[i + 1] = id[i];
            if (licence_id_check(bad, NULL) == 0) fail_msg("transposition at %zu not caught: %s", i, bad);
        }
    }
    assert_int_equal(licence_id_check("QZDJ-500103ZA-2026000042-7", &why), -1);
    assert_non_null(why);
    assert_int_equal(licence_id_check("qzdj-500103ZA-202600000042-7", NULL), -1);
    assert_int_equal(licence_id_check("", NULL), -1);
    assert_int_equal(licence_id_format("Q", "500103ZA", 2026, 1, id), -1);    /* type code too short */
    assert_int_equal(licence_id_format("QZDJ", "5001", 2026, 1, id), -1);     /* issuer code too short */
    assert_int_equal(licence_id_format("QZDJ", "500103ZA", 2026, 0, id), -1); /* sequence from 1 */
}

static void canonical_form_is_stable(void **state)
{
    (void)state;
    json_t *a = json_loads(
        "{\"b\":1,\"a\":\"x\",\"c\":{\"z\":[1,\"\\u0001\\\"\\\\/\"],\"é\":true,\"B\":null}}", 0, NULL);
    json_t *b = json_loads(
        "{\"c\":{\"B\":null,\"é\":true,\"z\":[1,\"\\u0001\\\"\\\\/\"]},\"a\":\"x\",\"b\":1}", 0, NULL);
    char *ca = licence_canonical(a), *cb = licence_canonical(b);
    assert_non_null(ca);
    assert_string_equal(ca, cb);
    /* keys by bytes ("B" < "z" < "é"), no whitespace, only '"', '\\' and controls escaped */
    assert_string_equal(ca,
                        "{\"a\":\"x\",\"b\":1,\"c\":{\"B\":null,\"z\":[1,\"\\u0001\\\"\\\\/\"],\"é\":true}}");
    free(ca);
    free(cb);
    json_t *chinese = json_pack("{s:s, s:I}", "holder_name", "张三\n", "n", (json_int_t)-42);
    char *cc = licence_canonical(chinese);
    assert_string_equal(cc, "{\"holder_name\":\"张三\\u000a\",\"n\":-42}");
    free(cc);
    json_t *real = json_pack("{s:f}", "x", 1.5);
    assert_null(licence_canonical(real));
    json_decref(a);
    json_decref(b);
    json_decref(chinese);
    json_decref(real);
}

/* ---------- licence types on the command line ---------- */

static void types_validate_and_import(void **state)
{
    (void)state;
    h_fresh(dir, db);
    char out[16384], ldir[1024], idir[1024];
    snprintf(ldir, sizeof ldir, "%s/licences", src_dir());
    snprintf(idir, sizeof idir, "%s/items", src_dir());
    const char *v1[] = {"license", "validate", ldir, "--items", idir, NULL};
    if (h_cli(dir, db, v1, out, sizeof out) != 0) fail_msg("shipped licence types: %s", out);
    /* a broken pack: every problem named by file and JSON path */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/badtypes", dir);
    mkdir(bad, 0700);
    char p[700];
    snprintf(p, sizeof p, "%s/Bad.json", bad);
    FILE *f = fopen(p, "w");
    fputs("{\"code\":\"Bad\",\"name\":\"x\",\"issuer\":\"PSB\",\"issuer_code\":\"12\",\"id_code\":\"x\","
          "\"validity\":{\"weeks\":2},\"fields\":[{\"key\":\"holder_name\",\"label\":\"x\",\"type\":"
          "\"string\"},"
          "{\"key\":\"n\",\"label\":\"n\",\"type\":\"float\"}],\"template\":{\"title\":\"t\","
          "\"fields\":[\"nope\"]},\"scenarios\":{\"hotel\":[\"secret\"]},\"colour\":1}",
          f);
    fclose(f);
    snprintf(p, sizeof p, "%s/dog_licence.json", bad);
    char src[1024];
    snprintf(src, sizeof src, "%s/licences/dog_licence.json", src_dir());
    char *dog = h_slurp(src);
    write_file(p, dog, strlen(dog));
    free(dog);
    const char *v2[] = {"license", "validate", bad, "--items", idir, NULL};
    assert_int_equal(h_cli(dir, db, v2, out, sizeof out), 1);
    const char *want[] = {
        "Bad.json: $.code:",
        "Bad.json: $.issuer_code:",
        "Bad.json: $.id_code:",
        "Bad.json: $.validity:",
        "Bad.json: $.fields[0]: key \"holder_name\" is a standard field",
        "Bad.json: $.fields[1]: type:",
        "Bad.json: $.template.fields[0]: not a field",
        "Bad.json: $.scenarios.hotel[0]: not a field",
        "Bad.json: $.colour: unknown key",
        "items/GA-SFZ-0001.json: $.outputs.licence: \"resident_id_card\" is not a licence type",
        NULL};
    for (int i = 0; want[i]; i++)
        if (!strstr(out, want[i])) fail_msg("no \"%s\" in:\n%s", want[i], out);
    assert_null(strstr(out, "GA-QZ-0001")); /* dog_licence is there */
    /* import refuses a broken directory and imports nothing; the shipped one goes in */
    const char *i1[] = {"license", "import", bad, NULL};
    assert_int_equal(h_cli(dir, db, i1, out, sizeof out), 1);
    assert_non_null(strstr(out, "nothing imported"));
    const char *items[] = {"items", "import", idir, NULL};
    assert_int_equal(h_cli(dir, db, items, out, sizeof out), 0);
    const char *i2[] = {"license", "import", ldir, NULL};
    if (h_cli(dir, db, i2, out, sizeof out) != 0) fail_msg("import: %s", out);
    assert_non_null(strstr(out, "imported 10 licence types"));
    assert_int_equal(h_cli(dir, db, i2, out, sizeof out), 0);
    assert_non_null(strstr(out, "imported 0 licence types")); /* unchanged: skipped */
}

/* ---------- a server with items, licence types and administrators ---------- */

static void start(struct srv *s, struct admins *a)
{
    h_fresh(dir, db);
    static char simdir[1100];
    snprintf(simdir, sizeof simdir, "EHALL_EXCHANGE_SIM_DIR=%s/items/testdata", src_dir());
    const char *env[] = {"EHALL_EXCHANGE_POLL_MS=50", simdir, NULL};
    if (h_start(s, dir, db, env) != 0) fail_msg("server did not start; log: %s", h_slurp(s->log));
    char out[8192], path[1024];
    snprintf(path, sizeof path, "%s/items", src_dir());
    const char *args[] = {"items", "import", path, NULL};
    if (h_cli(dir, db, args, out, sizeof out) != 0) fail_msg("items import: %s", out);
    snprintf(path, sizeof path, "%s/licences", src_dir());
    const char *largs[] = {"license", "import", path, NULL};
    if (h_cli(dir, db, largs, out, sizeof out) != 0) fail_msg("license import: %s", out);
    p_admins(s, a);
}

static store *open_db(void)
{
    struct store_options o = {2, 5000, 10000};
    store *st = NULL;
    char err[256];
    assert_int_equal(store_open(db, &o, &st, err, sizeof err), STORE_OK);
    return st;
}

static long long count(store *st, const char *sql)
{
    store_conn *c = store_acquire(st);
    long long n = -1;
    assert_int_equal(store_query_int64(c, sql, &n), STORE_OK);
    store_release(c);
    return n;
}

static long long staff_in(struct srv *s, struct admins *a, struct hclient *c, const char *login,
                          const char *dept, const char *roles)
{
    long long d = p_dept_id(&a->sys, dept);
    assert_true(d > 0);
    char l[40];
    snprintf(l, sizeof l, "%s%ld", login, (long)getpid() % 1000);
    return p_staff(s, a, c, l, d, roles);
}

static void act_ok(struct hclient *c, long long id, const char *action)
{
    char body[160], path[80];
    snprintf(body, sizeof body, "{\"action\":\"%s\",\"opinion\":\"同意\"}", action);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    json_decref(p_want(c, 200, "POST", path, body));
}

static json_t *wait_case(struct hclient *c, long long id, const char *want)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    for (int i = 0; i < 400; i++) {
        json_t *j = p_want(c, 200, "GET", path, NULL);
        if (want ? !strcmp(str(j, "state"), want) : !strcmp(str(j, "precheck"), "passed")) return j;
        json_decref(j);
        sleep_ms(50);
    }
    fail_msg("case %lld never reached %s", id, want ? want : "a passed pre-check");
    return NULL;
}

/* the holder's wallet, once it holds n licences */
static json_t *wait_wallet(struct hclient *c, size_t n)
{
    for (int i = 0; i < 400; i++) {
        json_t *j = p_want(c, 200, "GET", "/api/v1/licences", NULL);
        if (json_array_size(json_object_get(j, "licences")) >= n) return j;
        json_decref(j);
        sleep_ms(50);
    }
    fail_msg("the wallet never held %zu licence(s)", n);
    return NULL;
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

static const char *err_code(json_t *j) { return str(json_object_get(j, "error"), "code"); }

/* `ehall license verify FILE --keys KEYS`: exit status, and the JSON it printed */
static int verify_cli(const char *file, const char *keys, json_t **res)
{
    char out[4096];
    const char *args[] = {"license", "verify", file, "--keys", keys, NULL};
    int rc = h_cli(dir, db, args, out, sizeof out);
    /* the JSON is the last line (log lines may come first) */
    char *line = strstr(out, "{\"valid\"");
    *res = line ? json_loads(line, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (!*res) fail_msg("verify printed no JSON: %s", out);
    return rc;
}

static void expect_reason(const char *file, const char *keys, int want_rc, const char *reason)
{
    json_t *r;
    int rc = verify_cli(file, keys, &r);
    if (rc != want_rc || strcmp(str(r, "reason"), reason) != 0)
        fail_msg("verify %s: exit %d reason %s (%s); wanted %d %s", file, rc, str(r, "reason"),
                 str(r, "detail"), want_rc, reason);
    assert_int_equal(json_is_true(json_object_get(r, "valid")), want_rc == 0);
    json_decref(r);
}

/* ---------- a case closed through the engine gives one licence ---------- */

/* A presented file checked online (no log-in): POST /api/v1/public/licences/verify with
 * the bytes as they are; the reply's result must be want (or, want NULL, a 422 naming
 * the body).  Returns the reply (caller json_decref's). */
static json_t *present(struct srv *s, const void *body, size_t len, const char *want)
{
    const char *hd[] = {H_CSRF_COOKIE, H_CSRF_HEADER, NULL};
    struct resp rr;
    assert_int_equal(h_http(s, "POST", "/api/v1/public/licences/verify", hd, body, len, &rr), 0);
    json_t *j = json_loadb(rr.body, rr.len, 0, NULL);
    if (rr.status != (want ? 200 : 422))
        fail_msg("verify: %d, want %d: %.300s", rr.status, want ? 200 : 422, rr.body ? rr.body : "");
    h_resp_free(&rr);
    assert_non_null(j);
    if (want && strcmp(str(j, "result"), want) != 0)
        fail_msg("verify: result %s (%s), want %s", str(j, "result"), str(j, "detail"), want);
    if (!want) assert_true(has_field(j, "body"));
    return j;
}

static void case_gives_one_sealed_licence(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient holder, other, clerk;
    long long holder_id = p_person(&s, &holder, "lich01", "1979-12-30");
    (void)holder_id;
    p_person(&s, &other, "lich02", "1985-05-05");
    staff_in(&s, &a, &clerk, "hjc", "PSB-YZ-HJ", "hj_clerk");
    /* GA-HJ-0003 (户籍证明): one step, no mailing, so the result closes the case */
    json_t *b = json_loads("{\"item\":\"GA-HJ-0003\",\"form\":{\"purpose\":\"former_name\",\"copies\":1},"
                           "\"materials\":{}}",
                           0, NULL);
    char *bt = json_dumps(b, JSON_COMPACT);
    json_t *j = p_want(&holder, 201, "POST", "/api/v1/cases", bt);
    long long case_id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    free(bt);
    json_decref(b);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/cases/%lld/submit", case_id);
    j = p_want(&holder, 201, "POST", path, "{}");
    char case_no[40];
    snprintf(case_no, sizeof case_no, "%s", str(j, "case_no"));
    json_decref(j);
    act_ok(&clerk, case_id, "sign");
    json_decref(wait_case(&holder, case_id, NULL));
    act_ok(&clerk, case_id, "accept");
    act_ok(&clerk, case_id, "approve");
    json_decref(wait_case(&holder, case_id, "closed"));

    /* the wallet holds it: one licence, of the item's type */
    json_t *w = wait_wallet(&holder, 1);
    assert_int_equal(json_array_size(json_object_get(w, "licences")), 1);
    json_t *l0 = json_array_get(json_object_get(w, "licences"), 0);
    assert_string_equal(str(l0, "type"), "household_certificate");
    assert_string_equal(str(l0, "status"), "valid");
    char id[LICENCE_ID_MAX];
    snprintf(id, sizeof id, "%s", str(l0, "id"));
    json_decref(w);
    assert_int_equal(licence_id_check(id, NULL), 0);
    assert_int_equal(strncmp(id, "HJZM-500103HJ-", 14), 0);

    snprintf(path, sizeof path, "/api/v1/licences/%s", id);
    json_t *got = p_want(&holder, 200, "GET", path, NULL);
    json_t *doc = json_object_get(got, "document"), *lic = json_object_get(doc, "licence");
    char idn[19];
    p_person_id_number("lich01", "1979-12-30", idn);
    assert_string_equal(str(lic, "holder_number"), idn);
    assert_string_equal(str(lic, "id"), id);
    assert_string_equal(str(lic, "issuer"), "PSB-YZ-HJ");
    assert_string_equal(str(lic, "purpose"), "former_name");
    assert_string_equal(str(lic, "case_no"), case_no);
    char srcw[64];
    snprintf(srcw, sizeof srcw, "case:%s", case_no);
    assert_string_equal(str(lic, "source"), srcw);
    /* valid for three months from today */
    char today[11];
    calendar_date_format(calendar_today(), today);
    assert_string_equal(str(lic, "issue_date"), today);
    assert_string_equal(str(lic, "valid_from"), today);
    int to = 0;
    assert_int_equal(calendar_date_parse(str(lic, "valid_to"), &to), 0);
    assert_true(to - calendar_today() >= 88 && to - calendar_today() <= 92);

    /* someone else sees neither the licence nor it in their wallet */
    json_decref(p_want(&other, 404, "GET", path, NULL));
    w = p_want(&other, 200, "GET", "/api/v1/licences", NULL);
    assert_int_equal(json_array_size(json_object_get(w, "licences")), 0);
    json_decref(w);
    /* not without a session */
    struct resp rr;
    assert_int_equal(h_http(&s, "GET", "/api/v1/licences", NULL, NULL, 0, &rr), 0);
    assert_int_equal(rr.status, 401);
    h_resp_free(&rr);

    /* idempotent: the same case's licence.issue delivered again issues nothing more */
    store *st = open_db();
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM licence WHERE case_id = %lld", case_id);
    assert_int_equal(count(st, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM exchange_msg WHERE kind = 'licence.issue' AND case_id = %lld AND state = "
             "'done'",
             case_id);
    assert_int_equal(count(st, sql), 1);
    store_conn *c = store_acquire(st);
    char payload[128];
    snprintf(payload, sizeof payload, "{\"case_id\":%lld,\"type\":\"household_certificate\"}", case_id);
    assert_int_equal(store_exec(c, "BEGIN"), STORE_OK);
    assert_int_equal(
        exchange_enqueue(c, "licence.issue:again", "licence.issue", "licence", case_id, payload, NULL),
        STORE_OK);
    assert_int_equal(store_exec(c, "COMMIT"), STORE_OK);
    store_release(c);
    for (int i = 0;
         i < 200 && count(st, "SELECT COUNT(*) FROM exchange_msg WHERE idem_key = 'licence.issue:again'"
                              " AND state = 'done'") != 1;
         i++)
        sleep_ms(50);
    assert_int_equal(count(st, "SELECT COUNT(*) FROM exchange_msg WHERE idem_key = 'licence.issue:again'"
                               " AND state = 'done'"),
                     1);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM licence WHERE case_id = %lld", case_id);
    assert_int_equal(count(st, sql), 1);
    /* stored sealed: neither the holder number nor the name is in the row in clear */
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM licence WHERE data_enc LIKE '%%%s%%' OR holder_enc = '%s'", idn, idn);
    assert_int_equal(count(st, sql), 0);
    store_close(st);
    /* the day's reconciliation with the simulated back-end stays clean: the licence signer
     * is not one of its connectors */
    char day[11], rout[4096];
    exchange_day(exchange_now_ms(), day);
    const char *rec[] = {"reconcile", "--date", day, NULL};
    if (h_cli(dir, db, rec, rout, sizeof rout) != 0) fail_msg("reconcile: %s", rout);

    /* the public status check: no log-in, public fields only (the name masked) */
    snprintf(path, sizeof path, "/api/v1/public/licences/%s/status", id);
    assert_int_equal(h_http(&s, "GET", path, NULL, NULL, 0, &rr), 0);
    assert_int_equal(rr.status, 200);
    json_t *stj = json_loads(rr.body, 0, NULL);
    h_resp_free(&rr);
    assert_string_equal(str(stj, "status"), "valid");
    assert_null(json_object_get(json_object_get(stj, "licence"), "holder_number"));
    assert_string_not_equal(str(json_object_get(stj, "licence"), "holder_name"), str(lic, "holder_name"));
    assert_string_equal(str(json_object_get(stj, "licence"), "valid_to"), str(lic, "valid_to"));
    json_decref(stj);
    /* a well-formed id nobody was given: 404; a malformed one: 400 naming the field */
    char unknown[LICENCE_ID_MAX];
    licence_id_format("HJZM", "500103HJ", 2026, 99999999, unknown);
    snprintf(path, sizeof path, "/api/v1/public/licences/%s/status", unknown);
    assert_int_equal(h_http(&s, "GET", path, NULL, NULL, 0, &rr), 0);
    assert_int_equal(rr.status, 404);
    h_resp_free(&rr);
    char wrongcheck[LICENCE_ID_MAX];
    snprintf(wrongcheck, sizeof wrongcheck, "%s", id);
    wrongcheck[strlen(wrongcheck) - 1] = wrongcheck[strlen(wrongcheck) - 1] == 'A' ? 'B' : 'A';
    snprintf(path, sizeof path, "/api/v1/public/licences/%s/status", wrongcheck);
    assert_int_equal(h_http(&s, "GET", path, NULL, NULL, 0, &rr), 0);
    assert_int_equal(rr.status, 400);
    json_t *ej = json_loads(rr.body, 0, NULL);
    assert_true(has_field(ej, "id"));
    json_decref(ej);
    h_resp_free(&rr);

    /* ---- the seal, checked offline ---- */
    assert_int_equal(h_http(&s, "GET", "/.well-known/ehall/seal-keys.json", NULL, NULL, 0, &rr), 0);
    assert_int_equal(rr.status, 200);
    json_t *keys = json_loads(rr.body, 0, NULL);
    h_resp_free(&rr);
    json_t *key = json_array_get(json_object_get(keys, "keys"), 0);
    assert_string_equal(str(key, "dept"), "PSB-YZ-HJ");
    assert_string_equal(str(key, "key_id"), str(json_object_get(doc, "seal"), "key_id"));
    char kpath[512], fpath[512];
    snprintf(kpath, sizeof kpath, "%s/seal-keys.json", dir);
    write_json(kpath, keys);
    snprintf(fpath, sizeof fpath, "%s/licence.json", dir);
    write_json(fpath, doc);
    expect_reason(fpath, kpath, 0, "valid");
    /* the holder's PDF carries the same signed licence: it verifies offline as it is, and
     * someone else cannot download it */
    snprintf(path, sizeof path, "/api/v1/licences/%s/pdf", id);
    assert_int_equal(hc_call(&holder, "GET", path, NULL, &rr), 200);
    char hv[64];
    assert_non_null(h_header(&rr, "Content-Type", hv, sizeof hv));
    assert_string_equal(hv, "application/pdf");
    assert_true(rr.len > 1000 && !memcmp(rr.body, "%PDF-", 5));
    char ppath[512];
    snprintf(ppath, sizeof ppath, "%s/licence.pdf", dir);
    write_file(ppath, rr.body, rr.len);
    expect_reason(ppath, kpath, 0, "valid");
    /* the same checks online, as a counter clerk uploads what the holder shows: the PDF
     * and the JSON are genuine and registered valid; a cut-off copy and junk are 422 */
    json_t *vj = present(&s, rr.body, rr.len, "valid");
    assert_true(json_is_true(json_object_get(vj, "genuine")));
    assert_string_equal(str(vj, "registry"), "valid");
    assert_string_equal(str(vj, "id"), id);
    assert_string_equal(str(json_object_get(vj, "licence"), "holder_name"), str(lic, "holder_name"));
    json_decref(vj);
    json_decref(present(&s, rr.body, rr.len / 2, NULL));
    json_decref(present(&s, "hello", 5, NULL));
    {
        /* past KEYSET_PREPARE_AT checks the key verifies with its tables (sm2_table.c):
         * the answers stay the same, here and in the tampering checks below */
        char *dj = json_dumps(doc, JSON_COMPACT);
        for (int i = 0; i < KEYSET_PREPARE_AT + 4; i++) json_decref(present(&s, dj, strlen(dj), "valid"));
        free(dj);
    }
    /* a cut-off copy is refused, never believed */
    char cut[512];
    snprintf(cut, sizeof cut, "%s/cut.pdf", dir);
    write_file(cut, rr.body, rr.len / 2);
    h_resp_free(&rr);
    expect_reason(cut, kpath, 1, "unreadable");
    assert_int_equal(hc_call(&other, "GET", path, NULL, &rr), 404);
    h_resp_free(&rr);
    /* the key file is <data>/keys/seal/PSB-YZ-HJ.pem, owner-only */
    char kf[512];
    snprintf(kf, sizeof kf, "%s/keys/seal/PSB-YZ-HJ.pem", dir);
    struct stat sb;
    assert_int_equal(stat(kf, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* the openssl command line verifies the signature over the canonical text */
    char *canon = licence_canonical(lic);
    char p1[512], p2[512], p3[512], cmd[2048], out[4096];
    snprintf(p1, sizeof p1, "%s/licence.canon", dir);
    write_file(p1, canon, strlen(canon));
    const char *sig64 = str(json_object_get(doc, "seal"), "sig");
    unsigned char der[256];
    int dl = EVP_DecodeBlock(der, (const unsigned char *)sig64, (int)strlen(sig64));
    assert_true(dl > 8);
    dl -= (sig64[strlen(sig64) - 1] == '=') + (sig64[strlen(sig64) - 2] == '=');
    snprintf(p2, sizeof p2, "%s/licence.sig", dir);
    write_file(p2, der, (size_t)dl);
    snprintf(p3, sizeof p3, "%s/issuer.pub.pem", dir);
    write_file(p3, str(key, "public_key"), strlen(str(key, "public_key")));
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey %s -rawin -in %s -sigfile %s -digest sm3"
             " -pkeyopt distid:1234567812345678 2>&1",
             p3, p1, p2);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Signature Verified Successfully"));
    /* the same with the recipe of docs/licences.md: jq for the canonical text, base64 -d for the signature */
    if (run("jq --version >/dev/null 2>&1", out, sizeof out) == 0) {
        snprintf(
            cmd, sizeof cmd,
            "cd %s && jq -jcS .licence licence.json > c2 && jq -r .seal.sig licence.json | base64 -d > s2 &&"
            " jq -r '.keys[] | select(.dept==\"PSB-YZ-HJ\") | .public_key' seal-keys.json > k2.pem &&"
            " openssl pkeyutl -verify -pubin -inkey k2.pem -rawin -in c2 -sigfile s2 -digest sm3"
            " -pkeyopt distid:1234567812345678 2>&1 && cmp c2 licence.canon",
            dir);
        if (run(cmd, out, sizeof out) != 0) fail_msg("the documented recipe failed: %s", out);
    }
    /* without the signer ID (OpenSSL 3.0's default is empty) it does not verify */
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey %s -rawin -in %s -sigfile %s -digest sm3 2>&1", p3, p1,
             p2);
    assert_int_not_equal(run(cmd, out, sizeof out), 0);
    /* an altered field fails on the command line too */
    json_t *alt = json_deep_copy(lic);
    json_object_set_new(alt, "purpose", json_string("household"));
    char *altc = licence_canonical(alt);
    write_file(p1, altc, strlen(altc));
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey %s -rawin -in %s -sigfile %s -digest sm3"
             " -pkeyopt distid:1234567812345678 2>&1",
             p3, p1, p2);
    assert_int_not_equal(run(cmd, out, sizeof out), 0);
    free(altc);
    json_decref(alt);
    free(canon);

    /* ---- tampering, named exactly ---- */
    char tp[512];
    snprintf(tp, sizeof tp, "%s/tampered.json", dir);
    /* an altered field: the content no longer matches the sealed digest */
    json_t *t1 = json_deep_copy(doc);
    json_object_set_new(json_object_get(t1, "licence"), "valid_to", json_string("2099-12-31"));
    write_json(tp, t1);
    expect_reason(tp, kpath, 1, "altered");
    {
        char *tj = json_dumps(t1, JSON_COMPACT);
        json_t *vj2 = present(&s, tj, strlen(tj), "altered");
        assert_false(json_is_true(json_object_get(vj2, "genuine")));
        assert_true(json_is_null(json_object_get(vj2, "registry")));
        assert_null(json_object_get(vj2, "licence"));
        json_decref(vj2);
        free(tj);
    }
    /* altered and the digest recomputed to match: the signature gives it away */
    char *t1c = licence_canonical(json_object_get(t1, "licence"));
    unsigned char dg[32];
    char dhex[65];
    unsigned int dlen = 0;
    EVP_Digest(t1c, strlen(t1c), dg, &dlen, EVP_sm3(), NULL);
    for (int i = 0; i < 32; i++) snprintf(dhex + 2 * i, 3, "%02x", dg[i]);
    json_object_set_new(json_object_get(t1, "seal"), "digest", json_string(dhex));
    write_json(tp, t1);
    expect_reason(tp, kpath, 1, "bad_signature");
    {
        char *tj = json_dumps(t1, JSON_COMPACT);
        json_decref(present(&s, tj, strlen(tj), "bad_signature"));
        free(tj);
    }
    free(t1c);
    json_decref(t1);
    /* a signature by another key under the issuer's key id */
    char *opriv = NULL, *opub = NULL;
    char okid[65], oerr[200];
    char otherdir[512];
    snprintf(otherdir, sizeof otherdir, "%s/otherkeys", dir);
    assert_int_equal(licence_key_load(otherdir, "PSB-YZ-HJ", 1, &opriv, &opub, okid, oerr, sizeof oerr), 0);
    json_t *forged = licence_sign(lic, opriv, opub);
    json_object_set_new(json_object_get(forged, "seal"), "key_id", json_string(str(key, "key_id")));
    write_json(tp, forged);
    expect_reason(tp, kpath, 1, "bad_signature");
    {
        char *fj = json_dumps(forged, JSON_COMPACT);
        json_decref(present(&s, fj, strlen(fj), "bad_signature"));
        /* signed by a key this installation never published */
        json_t *stranger = licence_sign(lic, opriv, opub);
        char *sj = json_dumps(stranger, JSON_COMPACT);
        json_decref(present(&s, sj, strlen(sj), "unknown_issuer"));
        free(sj);
        json_decref(stranger);
        free(fj);
    }
    /* the right signature, checked against the wrong key: the issuer is unknown to that file */
    char wk[512];
    snprintf(wk, sizeof wk, "%s/wrong-key.pem", dir);
    write_file(wk, opub, strlen(opub));
    expect_reason(fpath, wk, 1, "unknown_issuer");
    /* a keys file without the issuer */
    json_t *nokeys = json_pack("{s:[]}", "keys");
    char nk[512];
    snprintf(nk, sizeof nk, "%s/no-keys.json", dir);
    write_json(nk, nokeys);
    expect_reason(fpath, nk, 1, "unknown_issuer");
    /* the issuer's key listed under another department */
    json_t *moved = json_deep_copy(keys);
    json_object_set_new(json_array_get(json_object_get(moved, "keys"), 0), "dept", json_string("TAX-YZ"));
    write_json(nk, moved);
    expect_reason(fpath, nk, 1, "unknown_issuer");
    /* not a licence at all */
    write_file(tp, "{\"licence\":{}}", 14);
    expect_reason(tp, kpath, 1, "malformed");
    json_decref(moved);
    json_decref(nokeys);
    json_decref(forged);
    free(opriv);
    free(opub);
    json_decref(keys);
    json_decref(got);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- the manual four-role flow ---------- */

static long long enter(struct hclient *c, const char *body)
{
    json_t *j = p_want(c, 201, "POST", "/api/v1/licence-entries", body);
    long long id = json_integer_value(json_object_get(j, "id"));
    assert_string_equal(str(j, "state"), "entered");
    json_decref(j);
    return id;
}

static json_t *step(struct hclient *c, long long id, const char *what, const char *body, long want)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/licence-entries/%lld/%s", id, what);
    return p_want(c, want, "POST", path, body);
}

/* Status checks arriving together: on PostgreSQL they share one statement (api.c), so
 * each must still get its own licence's answer, found or not, the same id twice
 * included.  8 threads, 12 checks each, over the ids in turn. */
struct conc {
    struct srv *s;
    const char *const *ids, *const *want; /* want: a status, or NULL for 404 */
    int n, t;
    atomic_int *bad;
};

static void *conc_run(void *arg)
{
    struct conc *c = arg;
    for (int k = 0; k < 12; k++) {
        int i = (c->t + k) % c->n;
        char path[160];
        snprintf(path, sizeof path, "/api/v1/public/licences/%s/status", c->ids[i]);
        struct resp rr;
        int ok = h_http(c->s, "GET", path, NULL, NULL, 0, &rr) == 0;
        json_t *j = ok ? json_loads(rr.body, 0, NULL) : NULL;
        if (!c->want[i])
            ok = ok && rr.status == 404;
        else
            ok = ok && rr.status == 200 && j && str(j, "id") && !strcmp(str(j, "id"), c->ids[i]) &&
                 str(j, "status") && !strcmp(str(j, "status"), c->want[i]) &&
                 !strcmp(str(json_object_get(j, "licence"), "id"), c->ids[i]);
        if (!ok) atomic_fetch_add(c->bad, 1);
        json_decref(j);
        h_resp_free(&rr);
    }
    return NULL;
}

static void status_checks_together(struct srv *s, const char *const *ids, const char *const *want, int n)
{
    atomic_int bad = 0;
    struct conc c[8];
    pthread_t th[8];
    for (int t = 0; t < 8; t++) {
        c[t] = (struct conc){s, ids, want, n, t, &bad};
        assert_int_equal(pthread_create(&th[t], NULL, conc_run, &c[t]), 0);
    }
    for (int t = 0; t < 8; t++) pthread_join(th[t], NULL);
    assert_int_equal(atomic_load(&bad), 0);
}

static void manual_flow_separation_revocation_expiry(void **state)
{
    (void)state;
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient holder, all3, rs, sealer, taxclerk, ladmin;
    p_person(&s, &holder, "licm01", "1990-01-01");
    char idn[19];
    p_person_id_number("licm01", "1990-01-01", idn);
    staff_in(&s, &a, &all3, "lall", "PSB-YZ-HJ", "lic_entry_clerk,lic_reviewer,lic_seal_officer");
    staff_in(&s, &a, &rs, "lrs", "PSB-YZ-HJ", "lic_reviewer,lic_seal_officer");
    staff_in(&s, &a, &sealer, "lseal", "PSB-YZ-HJ", "lic_seal_officer");
    staff_in(&s, &a, &taxclerk, "ltax", "TAX-YZ", "lic_entry_clerk");
    staff_in(&s, &a, &ladmin, "ladm", "PSB-YZ", "lic_admin");

    /* bad input: one 422 naming every bad field, nothing stored */
    long st;
    json_t *j = hc_json(&all3, "POST", "/api/v1/licence-entries",
                        "{\"type\":\"temporary_id_certificate\",\"holder_number\":\"11010519491231002Y\","
                        "\"fields\":{\"gender\":\"X\",\"birth_date\":\"1990-02-30\",\"colour\":\"red\"},"
                        "\"valid_from\":\"tomorrow\"}",
                        &st);
    assert_int_equal(st, 422);
    const char *want[] = {"holder_name",   "holder_number",  "fields.gender", "fields.birth_date",
                          "fields.colour", "fields.address", "valid_from",    NULL};
    for (int i = 0; want[i]; i++)
        if (!has_field(j, want[i])) fail_msg("no error for %s: %s", want[i], json_dumps(j, 0));
    json_decref(j);
    j = hc_json(&all3, "POST", "/api/v1/licence-entries", "{\"type\":\"no_such_type\",\"holder_name\":\"x\"}",
                &st);
    assert_int_equal(st, 422);
    assert_true(has_field(j, "type"));
    assert_true(has_field(j, "holder_number"));
    json_decref(j);
    j = hc_json(&all3, "POST", "/api/v1/licence-entries", "[1]", &st);
    assert_true(st >= 400 && st < 500);
    json_decref(j);
    j = p_want(&all3, 200, "GET", "/api/v1/licence-entries", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 0);
    json_decref(j);
    /* the holder has no such permission */
    json_decref(p_want(&holder, 403, "POST", "/api/v1/licence-entries", "{}"));

    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"type\":\"temporary_id_certificate\",\"holder_name\":\"李四\",\"holder_number\":\"%s\","
        "\"fields\":{\"gender\":\"男\",\"birth_date\":\"1990-01-01\",\"address\":\"重庆市渝中区解放碑1号\"}}",
        idn);
    /* a clerk of another department may not enter a type this department issues */
    j = hc_json(&taxclerk, "POST", "/api/v1/licence-entries", body, &st);
    assert_int_equal(st, 403);
    assert_string_equal(err_code(j), "out_of_scope");
    json_decref(j);

    long long e1 = enter(&all3, body);
    /* the clerk may not review or seal what they entered, whatever roles they hold */
    j = step(&all3, e1, "review", "{\"decision\":\"pass\"}", 403);
    assert_string_equal(err_code(j), "separation_of_duties");
    json_decref(j);
    j = step(&all3, e1, "seal", "{}", 409); /* not reviewed yet */
    assert_string_equal(err_code(j), "wrong_state");
    json_decref(j);
    /* review: bad decision named */
    j = step(&rs, e1, "review", "{\"decision\":\"maybe\"}", 422);
    assert_true(has_field(j, "decision"));
    json_decref(j);
    j = step(&rs, e1, "review", "{\"decision\":\"reject\"}", 422);
    assert_true(has_field(j, "opinion"));
    json_decref(j);
    json_decref(step(&rs, e1, "review", "{\"decision\":\"pass\",\"opinion\":\"与原件一致\"}", 200));
    json_decref(step(&rs, e1, "review", "{\"decision\":\"pass\"}", 409)); /* once */
    /* neither the reviewer nor the clerk may seal it */
    j = step(&rs, e1, "seal", "{}", 403);
    assert_string_equal(err_code(j), "separation_of_duties");
    json_decref(j);
    j = step(&all3, e1, "seal", "{}", 403);
    assert_string_equal(err_code(j), "separation_of_duties");
    json_decref(j);
    /* a reviewer without the seal permission cannot either: the route needs licence.seal */
    j = step(&sealer, e1, "seal", "{}", 200);
    char lid[LICENCE_ID_MAX];
    snprintf(lid, sizeof lid, "%s", str(j, "licence_id"));
    json_decref(j);
    assert_int_equal(licence_id_check(lid, NULL), 0);
    assert_int_equal(strncmp(lid, "LSSF-500103HJ-", 14), 0);
    json_decref(step(&sealer, e1, "seal", "{}", 409));
    /* the entry records three different accounts */
    char path[160];
    snprintf(path, sizeof path, "/api/v1/licence-entries/%lld", e1);
    j = p_want(&sealer, 200, "GET", path, NULL);
    assert_string_equal(str(j, "state"), "sealed");
    assert_string_equal(str(j, "licence_id"), lid);
    long long eb = json_integer_value(json_object_get(j, "entered_by")),
              rb = json_integer_value(json_object_get(j, "reviewed_by")),
              sb2 = json_integer_value(json_object_get(j, "sealed_by"));
    assert_true(eb != rb && rb != sb2 && eb != sb2);
    /* the holder number is masked for staff without field.id_number */
    assert_string_not_equal(str(json_object_get(j, "data"), "holder_number"), idn);
    json_decref(j);

    /* the holder's wallet has it, 30 days from today */
    json_t *w = wait_wallet(&holder, 1);
    json_decref(w);
    snprintf(path, sizeof path, "/api/v1/licences/%s", lid);
    j = p_want(&holder, 200, "GET", path, NULL);
    json_t *lic = json_object_get(json_object_get(j, "document"), "licence");
    assert_string_equal(str(lic, "holder_name"), "李四");
    assert_string_equal(str(lic, "gender"), "男");
    char src[48];
    snprintf(src, sizeof src, "manual:%lld", e1);
    assert_string_equal(str(lic, "source"), src);
    json_decref(j);

    /* an entry back-dated beyond its validity: sealed, then expired */
    snprintf(
        body, sizeof body,
        "{\"type\":\"temporary_id_certificate\",\"holder_name\":\"李四\",\"holder_number\":\"%s\","
        "\"fields\":{\"gender\":\"男\",\"birth_date\":\"1990-01-01\",\"address\":\"重庆市渝中区解放碑1号\"},"
        "\"valid_from\":\"2020-01-01\"}",
        idn);
    long long e2 = enter(&all3, body);
    json_decref(step(&rs, e2, "review", "{\"decision\":\"pass\"}", 200));
    j = step(&sealer, e2, "seal", "{}", 200);
    char old[LICENCE_ID_MAX];
    snprintf(old, sizeof old, "%s", str(j, "licence_id"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/licences/%s", old);
    j = p_want(&holder, 200, "GET", path, NULL);
    assert_string_equal(str(j, "status"), "expired");
    char kpath[512], fpath[512], out[4096];
    snprintf(fpath, sizeof fpath, "%s/old.json", dir);
    write_json(fpath, json_object_get(j, "document"));
    json_decref(j);
    const char *pk[] = {"license", "pubkeys", NULL};
    assert_int_equal(h_cli(dir, db, pk, out, sizeof out), 0);
    snprintf(kpath, sizeof kpath, "%s/keys.json", dir);
    char *brace = strchr(out, '{');
    assert_non_null(brace);
    write_file(kpath, brace, strlen(brace));
    expect_reason(fpath, kpath, 1, "expired");
    /* the expiry job marks it (the keeper runs it too, so it may have done so already) */
    const char *ex[] = {"license", "expire", NULL};
    assert_int_equal(h_cli(dir, db, ex, out, sizeof out), 0);
    assert_non_null(strstr(out, "expired"));
    store *dbs = open_db();
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM licence WHERE licence_no = '%s' AND state = 'expired'",
             old);
    assert_int_equal(count(dbs, sql), 1);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM licence WHERE licence_no = '%s' AND state = 'valid'",
             lid);
    assert_int_equal(count(dbs, sql), 1);
    assert_true(count(dbs, "SELECT COUNT(*) FROM audit_log WHERE action = 'licence.expire'") >= 1);
    assert_int_equal(count(dbs, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'licence.entry.%' AND "
                                "result = 'denied'"),
                     4);
    store_close(dbs);
    struct resp rr;
    snprintf(path, sizeof path, "/api/v1/public/licences/%s/status", old);
    assert_int_equal(h_http(&s, "GET", path, NULL, NULL, 0, &rr), 0);
    assert_non_null(strstr(rr.body, "\"status\":\"expired\""));
    h_resp_free(&rr);
    {
        char unknown[LICENCE_ID_MAX];
        licence_id_format("LSSF", "500103HJ", 2026, 99999999, unknown);
        const char *ids[] = {lid, old, unknown, lid, old};
        const char *answers[] = {"valid", "expired", NULL, "valid", "expired"};
        status_checks_together(&s, ids, answers, 5);
    }

    /* revocation: the department administrator, with a reason */
    snprintf(path, sizeof path, "/api/v1/licences/%s/revoke", lid);
    j = p_want(&ladmin, 422, "POST", path, "{}");
    assert_true(has_field(j, "reason"));
    json_decref(j);
    json_decref(p_want(&sealer, 403, "POST", path, "{\"reason\":\"x\"}")); /* no licence.revoke */
    json_decref(p_want(&ladmin, 200, "POST", path, "{\"reason\":\"证件信息登记错误\"}"));
    json_decref(p_want(&ladmin, 409, "POST", path, "{\"reason\":\"again\"}"));
    snprintf(path, sizeof path, "/api/v1/public/licences/%s/status", lid);
    assert_int_equal(h_http(&s, "GET", path, NULL, NULL, 0, &rr), 0);
    j = json_loads(rr.body, 0, NULL);
    h_resp_free(&rr);
    assert_string_equal(str(j, "status"), "revoked");
    assert_string_equal(str(j, "revoke_reason"), "证件信息登记错误");
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/licences/%s", lid);
    j = p_want(&holder, 200, "GET", path, NULL);
    assert_string_equal(str(j, "status"), "revoked");
    {
        /* the holder's file still carries a genuine seal, but a verifier is told it is revoked */
        char *dj = json_dumps(json_object_get(j, "document"), JSON_COMPACT);
        json_t *vj = present(&s, dj, strlen(dj), "revoked");
        assert_true(json_is_true(json_object_get(vj, "genuine")));
        assert_string_equal(str(vj, "registry"), "revoked");
        json_decref(vj);
        free(dj);
    }
    json_decref(j);
    dbs = open_db();
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM audit_log WHERE action = 'licence.revoke' AND result = 'ok'");
    assert_int_equal(count(dbs, sql), 1);
    store_close(dbs);
    /* a licence of another department's subtree is out of the administrator's scope */
    struct hclient taxadm;
    staff_in(&s, &a, &taxadm, "ltadm", "TAX-YZ", "lic_admin");
    snprintf(path, sizeof path, "/api/v1/licences/%s/revoke", old);
    j = p_want(&taxadm, 403, "POST", path, "{\"reason\":\"not mine\"}");
    assert_string_equal(err_code(j), "out_of_scope");
    json_decref(j);

    /* a master-key rotation re-seals the licences and re-indexes their holders: the wallet still finds them
     */
    const char *rotate[] = {"keys", "rotate", NULL};
    if (h_cli(dir, db, rotate, out, sizeof out) != 0) fail_msg("keys rotate: %s", out);
    dbs = open_db();
    assert_int_equal(
        count(dbs, "SELECT COUNT(*) FROM licence WHERE holder_bidx LIKE '1:%' OR data_enc LIKE 'v1.1.%'"
                   " OR holder_enc LIKE 'v1.1.%'"),
        0);
    assert_int_equal(count(dbs, "SELECT COUNT(*) FROM licence_entry WHERE data_enc LIKE 'v1.1.%'"), 0);
    store_close(dbs);
    w = p_want(&holder, 200, "GET", "/api/v1/licences", NULL);
    assert_int_equal(json_array_size(json_object_get(w, "licences")), 2);
    json_decref(w);
    snprintf(path, sizeof path, "/api/v1/licences/%s", old);
    j = p_want(&holder, 200, "GET", path, NULL);
    assert_string_equal(str(json_object_get(json_object_get(j, "document"), "licence"), "id"), old);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

int main(void)
{
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identifier_check_character),
        cmocka_unit_test(canonical_form_is_stable),
        cmocka_unit_test(types_validate_and_import),
        cmocka_unit_test(case_gives_one_sealed_licence),
        cmocka_unit_test(manual_flow_separation_revocation_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
