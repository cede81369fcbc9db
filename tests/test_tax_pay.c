/*
 * test_tax_pay — paying tax, invoices and the public tax services on a real `ehall
 * serve` (SQLite, or PostgreSQL with EHALL_TEST_PG): three-party agreements verified by
 * the simulated treasury, the payment round trip with its electronic voucher and the
 * idempotency key, a refused debit, the server SIGKILLed while the treasury holds
 * debits whose answers never arrived (each debited once), treasury reconciliation clean
 * and with forced mismatches, the payment certificate as a verifiable e-licence,
 * invoice issue / verify / red-letter reversal within the quota, the rate limit of the
 * public look-ups, and the taxpayer status lookup.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "auth/auth.h"
#include "harness.h"
#include "people.h"
#include "store/store.h"

static struct srv S;
static struct admins A;
static char dir[256], db[512];
static struct hclient officer, boss1, boss2;
static long long tp1, tp2, agr_ok, agr_poor;
static store *DB;
static const char *env_normal[] = {"EHALL_EXCHANGE_POLL_MS=50", NULL, NULL};

static const char *src_dir(void)
{
    const char *s = getenv("EHALL_SOURCE_DIR");
    return s ? s : ".";
}

static long long geti(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
static const char *gets_(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void cli(const char *const *args, char *out, size_t len, int want)
{
    int rc = h_cli(dir, db, args, out, len);
    if (rc != want)
        fail_msg("ehall %s %s: exit %d, want %d: %s", args[0], args[1] ? args[1] : "", rc, want, out);
}

static long long q(const char *sql)
{
    store_conn *c = store_acquire(DB);
    assert_non_null(c);
    long long v = -1;
    int rc = store_query_int64(c, sql, &v);
    store_release(c);
    if (rc != STORE_OK) fail_msg("query failed: %s", sql);
    return v;
}

static void exec_sql(const char *sql)
{
    store_conn *c = store_acquire(DB);
    assert_non_null(c);
    int rc = store_exec(c, sql);
    store_release(c);
    if (rc != STORE_OK) fail_msg("statement failed: %s", sql);
}

static void uscc_of(const char *login, char out[19])
{
    static const char A31[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    unsigned h = 2166136261u;
    for (const char *s = login; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    snprintf(out, 19, "91350100%09u?", h % 1000000000u);
    for (int i = 0; i < 31; i++) {
        out[17] = A31[i];
        if (auth_uscc_check(out, NULL) == 0) return;
    }
    fail_msg("no USCC for %s", login);
}

static json_t *call(struct hclient *c, long want, const char *method, const char *path,
                    json_t *body /* stolen */)
{
    char *t = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    long st = 0;
    json_t *j = hc_json(c, method, path, t, &st);
    if (st != want)
        fail_msg("%s %s: %ld, want %ld: %s\n%s", method, path, st, want, t ? t : "",
                 j ? json_dumps(j, 0) : "");
    free(t);
    return j;
}

static int names_field(json_t *err, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(err, "error"), "details"), i, e)
    {
        if (!strcmp(gets_(e, "field"), field)) return 1;
    }
    return 0;
}

/* The day (server's zone) the treasury recorded its first debit. */
static void ledger_day(char out[11])
{
    store_conn *c = store_acquire(DB);
    assert_non_null(c);
    store_stmt *st = store_prepare(c, "SELECT day FROM treasury_ledger ORDER BY id LIMIT 1");
    assert_non_null(st);
    assert_int_equal(store_step(st), STORE_ROW);
    snprintf(out, 11, "%s", store_column_text(st, 0));
    store_finalize(st);
    store_release(c);
}

/* A small-scale VAT declaration over the threshold (1 % of 50,000,000 fen = 500,000),
 * waited for until the core tax system accepted it; returns its id. */
static long long declared(long long tp, const char *period, long long sales)
{
    json_t *j =
        call(&boss1, 201, "POST", "/api/v1/tax/declarations",
             json_pack("{s:I, s:s, s:s, s:s, s:{s:I}}", "taxpayer", (json_int_t)tp, "tax", "vat", "form",
                       "vat_small", "period", period, "data", "sales_fen", (json_int_t)sales));
    long long id = geti(j, "id");
    json_decref(j);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld", id);
    for (int i = 0; i < 300; i++) {
        j = call(&boss1, 200, "GET", path, NULL);
        int done = strcmp(gets_(j, "status"), "submitted") != 0;
        if (done) assert_string_equal(gets_(j, "status"), "accepted");
        json_decref(j);
        if (done) return id;
        sleep_ms(50);
    }
    fail_msg("declaration %lld never answered", id);
    return 0;
}

static json_t *pay(long want, long long decl, long long agreement, const char *key)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld/pay", decl);
    json_t *b = json_pack("{s:I}", "agreement", (json_int_t)agreement);
    if (key) json_object_set_new(b, "idempotency_key", json_string(key));
    return call(&boss1, want, "POST", path, b);
}

/* Wait until the payment is answered; returns it. */
static json_t *settled(long long id, int secs)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/tax/payments/%lld", id);
    for (int i = 0; i < secs * 20; i++) {
        json_t *j = call(&boss1, 200, "GET", path, NULL);
        if (strcmp(gets_(j, "status"), "pending") != 0) return j;
        json_decref(j);
        sleep_ms(50);
    }
    fail_msg("payment %lld never answered", id);
    return NULL;
}

/* ---------- set-up ---------- */

static int setup(void **state)
{
    (void)state;
    h_fresh(dir, db);
    static char simdir[1100];
    snprintf(simdir, sizeof simdir, "EHALL_EXCHANGE_SIM_DIR=%s/tests/data/tax/sim", src_dir());
    env_normal[1] = simdir;
    if (h_start(&S, dir, db, env_normal) != 0) fail_msg("server did not start: %s", h_slurp(S.log));
    struct store_options o = {2, 5000, 0};
    char err[256];
    assert_int_equal(store_open(db, &o, &DB, err, sizeof err), STORE_OK);
    char out[8192], p1[1024], p2[1024], p3[1024], p4[1024];
    snprintf(p1, sizeof p1, "%s/items", src_dir());
    const char *a1[] = {"items", "import", p1, NULL};
    cli(a1, out, sizeof out, 0);
    snprintf(p2, sizeof p2, "%s/tax/params", src_dir());
    const char *a2[] = {"tax", "params", "import", p2, NULL};
    cli(a2, out, sizeof out, 0);
    snprintf(p3, sizeof p3, "%s/calendar/2025.json", src_dir());
    const char *a3[] = {"calendar", "import", p3, NULL};
    cli(a3, out, sizeof out, 0);
    snprintf(p4, sizeof p4, "%s/licences", src_dir());
    const char *a4[] = {"license", "import", p4, NULL};
    cli(a4, out, sizeof out, 0);
    p_admins(&S, &A);
    json_decref(p_want(
        &A.sec, 201, "PUT", "/api/v1/admin/roles/tax_officer",
        "{\"name\":\"税源管理员\",\"scope\":\"subtree\",\"permissions\":[\"tax.manage\",\"tax.read\"]}"));
    long long dept = p_dept_id(&A.sys, "TAX-YZ");
    assert_true(dept > 0);
    p_staff(&S, &A, &officer, "payoff1", dept, "tax_officer");
    p_enterprise(&S, &boss1, "payco1");
    p_enterprise(&S, &boss2, "payco2");
    char u1[19], u2[19];
    uscc_of("payco1", u1);
    uscc_of("payco2", u2);
    json_t *j =
        call(&officer, 201, "POST", "/api/v1/tax/taxpayers",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s,s:s,s:s}]}", "kind", "enterprise", "uscc", u1,
                       "name", "福州payco1贸易有限公司", "vat_status", "small", "office", "TAX-YZ", "credit",
                       "B", "registrations", "tax", "vat", "period", "quarterly", "since", "2021-01-01"));
    tp1 = geti(j, "id");
    json_decref(j);
    j = call(&officer, 201, "POST", "/api/v1/tax/taxpayers",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s,s:s,s:s}]}", "kind", "enterprise", "uscc", u2,
                       "name", "福州payco2科技有限公司", "vat_status", "general", "office", "TAX-YZ",
                       "credit", "A", "registrations", "tax", "vat", "period", "monthly", "since",
                       "2025-01-01"));
    tp2 = geti(j, "id");
    json_decref(j);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(DB);
    assert_int_equal(h_stop(&S), 0);
    return 0;
}

/* ---------- three-party agreements ---------- */

static void agreements(void **state)
{
    (void)state;
    char path[80];
    snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/agreements", tp1);
    const char *name = "福州payco1贸易有限公司";
    /* not digits */
    json_t *j = call(&boss1, 422, "POST", path,
                     json_pack("{s:s, s:s, s:s, s:s}", "bank_code", "10x", "bank_name", "工商银行",
                               "account_no", "12ab", "account_name", name));
    assert_true(names_field(j, "bank_code"));
    assert_true(names_field(j, "account_no"));
    json_decref(j);
    /* the treasury refuses: no such account; the name is not the taxpayer's */
    j = call(&boss1, 422, "POST", path,
             json_pack("{s:s, s:s, s:s, s:s}", "bank_code", "102", "bank_name", "工商银行", "account_no",
                       "6222020000", "account_name", name));
    assert_true(names_field(j, "account_no"));
    {
        char *dump = json_dumps(j, 0);
        assert_non_null(strstr(dump, "no such account"));
        free(dump);
    }
    json_decref(j);
    j = call(&boss1, 422, "POST", path,
             json_pack("{s:s, s:s, s:s, s:s}", "bank_code", "102", "bank_name", "工商银行", "account_no",
                       "6222021234", "account_name", "别人的公司"));
    assert_true(names_field(j, "account_no"));
    json_decref(j);
    j = call(&boss1, 201, "POST", path,
             json_pack("{s:s, s:s, s:s, s:s}", "bank_code", "102", "bank_name", "工商银行", "account_no",
                       "6222021234", "account_name", name));
    agr_ok = geti(j, "id");
    assert_string_equal(gets_(j, "account_no"), "****1234");
    assert_string_equal(gets_(j, "status"), "verified");
    assert_non_null(strstr(gets_(j, "agreement_no"), "SFXY-"));
    json_decref(j);
    j = call(&boss1, 201, "POST", path,
             json_pack("{s:s, s:s, s:s, s:s}", "bank_code", "105", "bank_name", "建设银行", "account_no",
                       "6227009999", "account_name", name));
    agr_poor = geti(j, "id");
    json_decref(j);
    /* the same account again */
    json_decref(call(&boss1, 409, "POST", path,
                     json_pack("{s:s, s:s, s:s, s:s}", "bank_code", "102", "bank_name", "工商银行",
                               "account_no", "6222021234", "account_name", name)));
    j = call(&boss1, 200, "GET", path, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "agreements")), 2);
    json_decref(j);
    /* another enterprise neither sees nor signs them; staff do not sign */
    json_decref(call(&boss2, 404, "GET", path, NULL));
    json_decref(call(&officer, 403, "POST", path,
                     json_pack("{s:s, s:s, s:s, s:s}", "bank_code", "102", "bank_name", "工商银行",
                               "account_no", "6222025555", "account_name", name)));
    assert_int_equal(q("SELECT COUNT(*) FROM tax_agreement"), 2);
}

/* ---------- the payment round trip ---------- */

static long long paid_id; /* for the certificate */

static void payment_round_trip(void **state)
{
    (void)state;
    long long d1 = declared(tp1, "2025Q1", 50000000);
    /* no key; an amount that is not the tax due; an agreement of nobody */
    json_t *j = pay(422, d1, agr_ok, NULL);
    assert_true(names_field(j, "idempotency_key"));
    json_decref(j);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld/pay", d1);
    j = call(&boss1, 422, "POST", path,
             json_pack("{s:I, s:I, s:s}", "agreement", (json_int_t)agr_ok, "amount_fen", (json_int_t)499999,
                       "idempotency_key", "pay-2025q1-a"));
    assert_true(names_field(j, "amount_fen"));
    json_decref(j);
    j = pay(422, d1, 999999, "pay-2025q1-a");
    assert_true(names_field(j, "agreement"));
    json_decref(j);
    assert_int_equal(q("SELECT COUNT(*) FROM tax_payment"), 0);
    /* another enterprise cannot pay it */
    json_decref(
        call(&boss2, 404, "POST", path,
             json_pack("{s:I, s:s}", "agreement", (json_int_t)agr_ok, "idempotency_key", "pay-xx-00001")));
    /* pay: 202 pending; the same key again: the same payment, 200 */
    j = pay(202, d1, agr_ok, "pay-2025q1-a");
    long long pid = geti(j, "id");
    assert_int_equal(geti(j, "amount_fen"), 500000);
    json_decref(j);
    j = pay(200, d1, agr_ok, "pay-2025q1-a");
    assert_int_equal(geti(j, "id"), pid);
    json_decref(j);
    /* another key for the same declaration: refused, naming it */
    j = pay(409, d1, agr_ok, "pay-2025q1-b");
    assert_true(names_field(j, "id"));
    json_decref(j);
    j = settled(pid, 20);
    assert_string_equal(gets_(j, "status"), "paid");
    json_t *v = json_object_get(j, "voucher");
    assert_non_null(v);
    assert_int_equal(geti(v, "amount_fen"), 500000);
    assert_string_equal(gets_(v, "period"), "2025Q1");
    assert_string_equal(gets_(v, "account_no"), "****1234");
    assert_int_equal(strlen(gets_(v, "sm3")), 64);
    assert_non_null(strstr(gets_(v, "voucher_no"), "PZ"));
    assert_string_equal(gets_(v, "treasury_ref"), gets_(j, "treasury_ref"));
    json_decref(j);
    paid_id = pid;
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM treasury_ledger WHERE idem_key = 'tax.pay:%lld' AND amount_fen = 500000",
             pid);
    assert_int_equal(q(sql), 1);
    assert_int_equal(q("SELECT COUNT(*) FROM treasury_ledger"), 1);
    /* paid: a new key is refused too */
    json_decref(pay(409, d1, agr_ok, "pay-2025q1-c"));
    /* a debit the bank refuses (insufficient funds), then paid from the other account */
    long long d2 = declared(tp1, "2025Q2", 40000000);
    j = pay(202, d2, agr_poor, "pay-2025q2-a");
    long long p2 = geti(j, "id");
    json_decref(j);
    j = settled(p2, 20);
    assert_string_equal(gets_(j, "status"), "failed");
    assert_non_null(strstr(gets_(j, "reason"), "insufficient"));
    assert_null(json_object_get(j, "voucher"));
    json_decref(j);
    j = pay(202, d2, agr_ok, "pay-2025q2-b");
    long long p3 = geti(j, "id");
    json_decref(j);
    j = settled(p3, 20);
    assert_string_equal(gets_(j, "status"), "paid");
    assert_int_equal(geti(j, "amount_fen"), 400000);
    json_decref(j);
    assert_int_equal(q("SELECT COUNT(*) FROM treasury_ledger"), 3);
    assert_int_equal(q("SELECT COUNT(*) FROM treasury_ledger WHERE outcome = 'ok'"), 2);
    /* a zero declaration has nothing to pay */
    j = call(&boss1, 201, "POST", "/api/v1/tax/declarations",
             json_pack("{s:I, s:s, s:s, s:s}", "taxpayer", (json_int_t)tp1, "tax", "vat", "form", "zero",
                       "period", "2024Q4"));
    long long dz = geti(j, "id");
    json_decref(j);
    sleep_ms(500);
    j = pay(409, dz, agr_ok, "pay-zero-0001");
    assert_true(names_field(j, "id"));
    json_decref(j);
    /* the list */
    snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/payments", tp1);
    j = call(&boss1, 200, "GET", path, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "payments")), 3);
    json_decref(j);
    /* another enterprise sees neither the records nor the lists: the same 404 as for
     * what does not exist */
    const char *lists[] = {"payments", "declarations", "invoices"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/%s", tp1, lists[i]);
        json_decref(call(&boss2, 404, "GET", path, NULL));
        snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/%s", (long long)999999, lists[i]);
        json_decref(call(&boss1, 404, "GET", path, NULL));
    }
    const struct {
        const char *kind;
        long long id;
    } recs[] = {{"payments", pid}, {"declarations", d1}};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/api/v1/tax/%s/%lld", recs[i].kind, recs[i].id);
        j = call(&boss1, 200, "GET", path, NULL);
        assert_int_equal(geti(j, "id"), recs[i].id);
        json_decref(j);
        json_decref(call(&boss2, 404, "GET", path, NULL));
        snprintf(path, sizeof path, "/api/v1/tax/%s/%lld", recs[i].kind, (long long)999999);
        json_decref(call(&boss1, 404, "GET", path, NULL));
        snprintf(path, sizeof path, "/api/v1/tax/%s/x1", recs[i].kind);
        json_decref(call(&boss1, 404, "GET", path, NULL));
    }
}

/* ---------- the payment certificate ---------- */

static void certificate(void **state)
{
    (void)state;
    char path[80];
    snprintf(path, sizeof path, "/api/v1/tax/payments/%lld/certificate", paid_id);
    json_t *j = call(&boss1, 201, "POST", path, json_object());
    char lic[80];
    snprintf(lic, sizeof lic, "%s", gets_(j, "licence"));
    assert_non_null(strstr(lic, "WSZM-500103SW-"));
    json_decref(j);
    /* once: asked again, the same licence */
    j = call(&boss1, 200, "POST", path, json_object());
    assert_string_equal(gets_(j, "licence"), lic);
    json_decref(j);
    json_decref(call(&boss2, 404, "POST", path, json_object()));
    /* anyone verifies it */
    struct hclient anon;
    hc_init(&anon, &S);
    char vpath[160];
    snprintf(vpath, sizeof vpath, "/api/v1/public/licences/%s/status", lic);
    j = call(&anon, 200, "GET", vpath, NULL);
    assert_string_equal(gets_(j, "status"), "valid");
    json_decref(j);
    /* the holder's wallet has it, with the amount and the voucher */
    j = call(&boss1, 200, "GET", "/api/v1/licences", NULL);
    char *t = json_dumps(j, 0);
    assert_non_null(strstr(t, lic));
    free(t);
    json_decref(j);
    /* a failed payment has none */
    long long failed = q("SELECT id FROM tax_payment WHERE status = 'failed'");
    snprintf(path, sizeof path, "/api/v1/tax/payments/%lld/certificate", failed);
    j = call(&boss1, 409, "POST", path, json_object());
    assert_true(names_field(j, "id"));
    json_decref(j);
}

/* ---------- never debited twice: the server SIGKILLed mid-payment ---------- */

static void crash_mid_payment(void **state)
{
    (void)state;
    static const char *periods[] = {"2024Q1", "2024Q2", "2024Q3", "2023Q4"};
    long long decl[4], pid[4];
    for (int i = 0; i < 4; i++) decl[i] = declared(tp1, periods[i], 40000000 + i * 1000000);
    long long before = q("SELECT COUNT(*) FROM treasury_ledger");
    /* a server whose treasury sleeps 2 s after each debit, with short leases.  A lease
     * that runs out while the treasury sleeps, and each lost reply below, costs the
     * message an attempt: with the default 8 a message could go dead (a state this test
     * is not about: it stays pending until staff replay it), so attempts are not
     * limited here */
    assert_int_equal(h_stop(&S), 0);
    const char *slow[] = {env_normal[0],
                          env_normal[1],
                          "EHALL_EXCHANGE_SIM_DELAY_US=2000000",
                          "EHALL_EXCHANGE_LEASE_SECONDS=3",
                          "EHALL_EXCHANGE_MAX_ATTEMPTS=1000",
                          NULL};
    if (h_start(&S, dir, db, slow) != 0) fail_msg("server did not start: %s", h_slurp(S.log));
    for (int i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof key, "crash-pay-%d", i);
        json_t *j = pay(202, decl[i], agr_ok, key);
        pid[i] = geti(j, "id");
        json_decref(j);
    }
    /* the first debit is in the treasury's ledger, its answer not yet back: kill */
    for (int i = 0; i < 1000 && q("SELECT COUNT(*) FROM treasury_ledger") == before; i++) sleep_ms(20);
    h_kill9(&S);
    long long recorded = q("SELECT COUNT(*) FROM treasury_ledger") - before;
    assert_true(recorded >= 1);
    assert_true(q("SELECT COUNT(*) FROM tax_payment WHERE status = 'pending'") >= 1);
    /* a normal server again (the treasury loses half its replies now): everything settles */
    const char *lossy[] = {env_normal[0],
                           env_normal[1],
                           "EHALL_EXCHANGE_SIM_FAIL_RATE=400",
                           "EHALL_EXCHANGE_LEASE_SECONDS=3",
                           "EHALL_EXCHANGE_BACKOFF_MS=20",
                           "EHALL_EXCHANGE_MAX_ATTEMPTS=1000",
                           NULL};
    if (h_start(&S, dir, db, lossy) != 0) fail_msg("server did not start: %s", h_slurp(S.log));
    for (int i = 0; i < 4; i++) {
        json_t *j = settled(pid[i], 60);
        assert_string_equal(gets_(j, "status"), "paid");
        json_decref(j);
        /* the client retries after the crash with its key: the same payment */
        char key[32];
        snprintf(key, sizeof key, "crash-pay-%d", i);
        j = pay(200, decl[i], agr_ok, key);
        assert_int_equal(geti(j, "id"), pid[i]);
        json_decref(j);
    }
    /* each payment debited exactly once, for its amount */
    assert_int_equal(q("SELECT COUNT(*) FROM treasury_ledger") - before, 4);
    assert_int_equal(
        q("SELECT COUNT(*) FROM treasury_ledger l JOIN tax_payment p ON l.idem_key = 'tax.pay:' ||"
          " CAST(p.id AS TEXT) WHERE p.client_key LIKE 'crash-pay-%' AND l.amount_fen = p.amount_fen"
          " AND l.reference = p.treasury_ref"),
        4);
    assert_int_equal(q("SELECT COUNT(*) FROM (SELECT idem_key FROM treasury_ledger GROUP BY idem_key"
                       " HAVING COUNT(*) > 1) x"),
                     0);
    assert_int_equal(h_stop(&S), 0);
    if (h_start(&S, dir, db, env_normal) != 0) fail_msg("server did not start: %s", h_slurp(S.log));
}

/* ---------- reconciliation with the treasury ---------- */

static void reconciliation(void **state)
{
    (void)state;
    char day[11], out[8192];
    ledger_day(day);
    const char *a[] = {"tax", "reconcile", "--date", day, NULL};
    cli(a, out, sizeof out, 0);
    if (!strstr(out, "clean") || !strstr(out, "7 payments in ehall, 7 in the treasury")) {
        char s2[200];
        snprintf(s2, sizeof s2, "SELECT COUNT(*) FROM treasury_ledger WHERE day = '%s'", day);
        fail_msg("%s\nledger %lld, today %lld", out, q("SELECT COUNT(*) FROM treasury_ledger"), q(s2));
    }
    /* forced: the treasury debited another amount; it has a debit we never made */
    char sql[300];
    snprintf(sql, sizeof sql,
             "UPDATE treasury_ledger SET amount_fen = amount_fen + 1 WHERE idem_key = 'tax.pay:%lld'",
             paid_id);
    exec_sql(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO treasury_ledger(idem_key, agreement_no, amount_fen, outcome, reference, at, day)"
             " VALUES ('tax.pay:987654', 'SFXY-X', 100, 'ok', 'TR-FORGED', '%sT00:00:00Z', '%s')",
             day, day);
    exec_sql(sql);
    cli(a, out, sizeof out, 1);
    assert_non_null(strstr(out, "DISCREPANCIES"));
    assert_non_null(strstr(out, "missing 1, mismatched 1"));
    char want[64];
    snprintf(want, sizeof want, "mismatched: tax.pay:%lld", paid_id);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "missing in ehall: tax.pay:987654"));
    assert_non_null(strstr(out, "\"ehall_state\":\"absent\""));
    /* the reports are kept and audited */
    assert_int_equal(q("SELECT COUNT(*) FROM exchange_report WHERE source = 'treasury'"), 2);
    assert_int_equal(
        q("SELECT COUNT(*) FROM audit_log WHERE action = 'tax.reconcile' AND result = 'discrepancies'"), 1);
    const char *bad[] = {"tax", "reconcile", "--date", "2025-13-01", NULL};
    cli(bad, out, sizeof out, 2);
    /* put the ledger right for the tests after this one */
    snprintf(sql, sizeof sql,
             "UPDATE treasury_ledger SET amount_fen = amount_fen - 1 WHERE idem_key = 'tax.pay:%lld'",
             paid_id);
    exec_sql(sql);
    exec_sql("DELETE FROM treasury_ledger WHERE idem_key = 'tax.pay:987654'");
}

/* ---------- invoices ---------- */

static json_t *verify(struct hclient *c, long want, const char *number, const char *date, const char *amount,
                      const char *check)
{
    char path[400];
    snprintf(path, sizeof path, "/api/v1/public/invoices/verify?number=%s&date=%s&amount=%s&check_code=%s",
             number, date, amount, check);
    return call(c, want, "GET", path, NULL);
}

static void invoices(void **state)
{
    (void)state;
    json_t *line = json_pack("[{s:s, s:I, s:I, s:I}, {s:s, s:I, s:I, s:I}]", "name", "办公用品", "quantity",
                             3, "unit_price_fen", 10000, "rate_pct", 1, "name", "咨询服务", "quantity", 1,
                             "unit_price_fen", 12345, "rate_pct", 3);
    json_t *body = json_pack("{s:I, s:s, s:O}", "seller", (json_int_t)tp1, "buyer_name", "福州买方有限公司",
                             "lines", line);
    /* no quota yet */
    json_t *j = call(&boss1, 409, "POST", "/api/v1/tax/invoices", json_deep_copy(body));
    assert_true(names_field(j, "seller"));
    json_decref(j);
    /* the invoice-quota item approved for the enterprise: 1,000 yuan a month */
    long long ent = q("SELECT e.id FROM enterprise e JOIN taxpayer t ON t.uscc = e.uscc WHERE t.name = "
                      "'福州payco1贸易有限公司'");
    char sql[600];
    snprintf(
        sql, sizeof sql,
        "INSERT INTO ecase(case_no, item_code, item_version, applicant, enterprise, state, form, created_ms,"
        " updated_ms, closed_ms) VALUES ('FP-TEST-1', 'SW-FP-0001', 1, 1, %lld, 'result_issued',"
        " '{\"requested_quota\":100000,\"current_quota\":0}', 0, 0, 0)",
        ent);
    exec_sql(sql);
    /* bad lines: a rate the small-scale seller may not charge, a fraction, no quantity */
    j = call(&boss1, 422, "POST", "/api/v1/tax/invoices",
             json_pack("{s:I, s:s, s:[{s:s, s:I, s:I, s:I}, {s:s, s:I, s:f, s:I}]}", "seller",
                       (json_int_t)tp1, "buyer_name", "买方", "lines", "name", "x", "quantity", 1,
                       "unit_price_fen", 100, "rate_pct", 13, "name", "y", "quantity", 0, "unit_price_fen",
                       1.5, "rate_pct", 1));
    assert_true(names_field(j, "lines[0].rate_pct"));
    assert_true(names_field(j, "lines[1].quantity"));
    assert_true(names_field(j, "lines[1].unit_price_fen"));
    json_decref(j);
    assert_int_equal(q("SELECT COUNT(*) FROM tax_invoice"), 0);
    /* issued: 3 × 100.00 at 1 % (tax 3.00) + 123.45 at 3 % (3.7035 → 3.70) */
    j = call(&boss1, 201, "POST", "/api/v1/tax/invoices", json_deep_copy(body));
    long long inv = geti(j, "id");
    assert_int_equal(geti(j, "amount_fen"), 42345);
    assert_int_equal(geti(j, "tax_fen"), 670);
    assert_int_equal(geti(j, "total_fen"), 43015);
    assert_string_equal(gets_(j, "kind"), "blue");
    char number[32], check[32], date[16];
    snprintf(number, sizeof number, "%s", gets_(j, "number"));
    snprintf(check, sizeof check, "%s", gets_(j, "check_code"));
    snprintf(date, sizeof date, "%s", gets_(j, "issue_date"));
    assert_int_equal(strlen(number), 20);
    assert_int_equal(strlen(check), 20);
    json_decref(j);
    /* over the quota: 430.15 used of 1,000; 600 more is too much */
    j = call(&boss1, 409, "POST", "/api/v1/tax/invoices",
             json_pack("{s:I, s:s, s:[{s:s, s:I, s:I, s:I}]}", "seller", (json_int_t)tp1, "buyer_name",
                       "买方", "lines", "name", "x", "quantity", 1, "unit_price_fen", 60000, "rate_pct", 1));
    assert_true(names_field(j, "lines"));
    json_decref(j);
    /* public verification, no log-in */
    struct hclient anon;
    hc_init(&anon, &S);
    j = verify(&anon, 200, number, date, "430.15", check);
    assert_string_equal(gets_(j, "result"), "valid");
    assert_int_equal(geti(json_object_get(j, "invoice"), "tax_fen"), 670);
    assert_null(json_object_get(json_object_get(j, "invoice"), "check_code"));
    json_decref(j);
    json_decref(verify(&anon, 200, number, date, "430.15", check + 14)); /* the last six digits */
    char wrong[32];
    snprintf(wrong, sizeof wrong, "%s", check);
    wrong[19] = wrong[19] == '0' ? '1' : '0';
    json_decref(verify(&anon, 404, number, date, "430.15", wrong));
    json_decref(verify(&anon, 404, number, date, "430.16", check));
    j = verify(&anon, 422, "123", "2025-02-30", "abc", "12");
    assert_true(names_field(j, "number"));
    assert_true(names_field(j, "date"));
    assert_true(names_field(j, "amount"));
    assert_true(names_field(j, "check_code"));
    json_decref(j);
    /* red-letter reversal: linked, once */
    char path[80];
    snprintf(path, sizeof path, "/api/v1/tax/invoices/%lld/reverse", inv);
    json_decref(call(&boss2, 404, "POST", path, json_pack("{s:s}", "reason", "退货")));
    j = call(&boss1, 201, "POST", path, json_pack("{s:s}", "reason", "销售退回 goods returned"));
    long long red = geti(j, "id");
    assert_string_equal(gets_(j, "kind"), "red");
    assert_int_equal(geti(j, "reverses"), inv);
    assert_int_equal(geti(j, "total_fen"), -43015);
    assert_int_equal(geti(j, "tax_fen"), -670);
    char rnum[32], rcheck[32];
    snprintf(rnum, sizeof rnum, "%s", gets_(j, "number"));
    snprintf(rcheck, sizeof rcheck, "%s", gets_(j, "check_code"));
    json_decref(j);
    j = call(&boss1, 409, "POST", path, json_pack("{s:s}", "reason", "again"));
    assert_true(names_field(j, "id"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/tax/invoices/%lld/reverse", red);
    json_decref(call(&boss1, 409, "POST", path, json_pack("{s:s}", "reason", "red of red")));
    j = verify(&anon, 200, number, date, "430.15", check);
    assert_string_equal(gets_(j, "result"), "reversed");
    assert_int_equal(geti(json_object_get(j, "invoice"), "reversed_by"), red);
    json_decref(j);
    j = verify(&anon, 200, rnum, date, "-430.15", rcheck);
    assert_string_equal(gets_(j, "result"), "red_letter");
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/invoices", tp1);
    j = call(&boss1, 200, "GET", path, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "invoices")), 2);
    json_decref(j);
    /* one invoice: its seller's, nobody else's */
    snprintf(path, sizeof path, "/api/v1/tax/invoices/%lld", red);
    j = call(&boss1, 200, "GET", path, NULL);
    assert_int_equal(geti(j, "reverses"), inv);
    json_decref(j);
    json_decref(call(&boss2, 404, "GET", path, NULL));
    assert_int_equal(q("SELECT COUNT(*) FROM audit_log WHERE action = 'tax.invoice.reverse'"), 1);
    json_decref(body);
    json_decref(line);
}

/* ---------- the public taxpayer lookup, and the public rate limit ---------- */

static void public_lookup_and_limit(void **state)
{
    (void)state;
    sleep_ms(5000); /* the earlier look-ups' tokens come back */
    struct hclient anon;
    hc_init(&anon, &S);
    char u1[19], u2[19], path[200];
    uscc_of("payco1", u1);
    uscc_of("payco2", u2);
    snprintf(path, sizeof path, "/api/v1/public/taxpayers?uscc=%s", u2);
    json_t *j = call(&anon, 200, "GET", path, NULL);
    json_t *t = json_array_get(json_object_get(j, "taxpayers"), 0);
    assert_string_equal(gets_(t, "name"), "福州payco2科技有限公司");
    assert_string_equal(gets_(t, "credit"), "A");
    assert_string_equal(gets_(t, "vat_status"), "general");
    assert_string_equal(gets_(t, "status"), "normal");
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/public/taxpayers?uscc=%s", u1);
    j = call(&anon, 200, "GET", path, NULL);
    t = json_array_get(json_object_get(j, "taxpayers"), 0);
    assert_true(json_is_null(json_object_get(t, "credit"))); /* B is not published */
    assert_true(json_is_false(json_object_get(t, "credit_published")));
    json_decref(j);
    json_decref(call(&anon, 404, "GET", "/api/v1/public/taxpayers?uscc=913501000000000000", NULL));
    j = call(&anon, 422, "GET", "/api/v1/public/taxpayers", NULL);
    assert_true(names_field(j, "uscc"));
    json_decref(j);
    /* the allowance per address: a burst of 10, then 429 with Retry-After */
    int limited = 0, okn = 0;
    for (int i = 0; i < 300 && !limited; i++) {
        struct resp r = {0};
        long st = hc_call(&anon, "GET", path, NULL, &r);
        if (st == 429) {
            char ra[16];
            assert_non_null(h_header(&r, "Retry-After", ra, sizeof ra));
            assert_true(atoi(ra) >= 1);
            limited = 1;
        } else {
            assert_int_equal(st, 200);
            okn++;
        }
        h_resp_free(&r);
    }
    assert_true(limited);
    assert_true(okn >= 5); /* the burst (10) less the four look-ups above, plus what came back meanwhile */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agreements),
        cmocka_unit_test(payment_round_trip),
        cmocka_unit_test(certificate),
        cmocka_unit_test(crash_mid_payment),
        cmocka_unit_test(reconciliation),
        cmocka_unit_test(invoices),
        cmocka_unit_test(public_lookup_and_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
