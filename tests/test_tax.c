/*
 * test_tax — tax e-services on a real `ehall serve` (SQLite, or PostgreSQL with
 * EHALL_TEST_PG): the parameter CLI, the taxpayer registry, the STA's worked examples
 * of cumulative IIT withholding, small-scale VAT, general VAT arithmetic, CIT
 * prepayment of a small low-profit enterprise, holiday-shifted deadlines and the
 * reminders, duplicates and out-of-range refusals with nothing recorded or queued,
 * corrections, and the core tax system's answers through the exchange.
 * The figures live in the JSON files of tests/data/tax/ with their sources.
 */
#include <setjmp.h>
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

static struct srv S;
static struct admins A;
static char dir[256], db[512];
static struct hclient officer, boss1, boss2;
static long long tp1, tp2; /* small-scale enterprise, general enterprise */

static const char *src_dir(void)
{
    const char *s = getenv("EHALL_SOURCE_DIR");
    return s ? s : ".";
}

static json_t *load(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) fail_msg("%s: %s", path, je.text);
    return j;
}

static long long geti(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void cli(const char *const *args, char *out, size_t len, int want)
{
    int rc = h_cli(dir, db, args, out, len);
    if (rc != want)
        fail_msg("ehall %s %s: exit %d, want %d: %s", args[0], args[1] ? args[1] : "", rc, want, out);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The USCC p_enterprise gave login (people.c's recipe). */
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

/* POST and return the JSON, asserting the status. */
static json_t *post(struct hclient *c, long want, const char *path, json_t *body /* stolen */)
{
    char *t = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    long st = 0;
    json_t *j = hc_json(c, "POST", path, t, &st);
    if (st != want) fail_msg("POST %s: %ld, want %ld: %s\n%s", path, st, want, t, j ? json_dumps(j, 0) : "");
    free(t);
    return j;
}

/* The field named in a 4xx error reply. */
static int names_field(json_t *err, const char *field)
{
    json_t *d = json_object_get(json_object_get(err, "error"), "details");
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "field")), field)) return 1;
    }
    return 0;
}

static json_t *declare(struct hclient *c, long want, long long tp, const char *tax, const char *form,
                       const char *period, json_t *data /* stolen; may be NULL */)
{
    json_t *b = json_pack("{s:I, s:s, s:s, s:s}", "taxpayer", (json_int_t)tp, "tax", tax, "form", form,
                          "period", period);
    if (data) json_object_set_new(b, "data", data);
    return post(c, want, "/api/v1/tax/declarations", b);
}

static long long count_declarations(struct hclient *c, long long tp)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/declarations", tp);
    json_t *j = p_want(c, 200, "GET", path, NULL);
    long long n = (long long)json_array_size(json_object_get(j, "declarations"));
    json_decref(j);
    return n;
}

static long long count_messages(void)
{
    json_t *j = p_want(&officer, 200, "GET", "/api/v1/exchange/messages?kind=tax.declare&limit=100", NULL);
    long long n = (long long)json_array_size(json_object_get(j, "messages"));
    json_decref(j);
    return n;
}

/* Wait until the core tax system answered the declaration; returns it. */
static json_t *answered(struct hclient *c, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld", id);
    for (int i = 0; i < 200; i++) {
        json_t *j = p_want(c, 200, "GET", path, NULL);
        const char *s = json_string_value(json_object_get(j, "status"));
        if (strcmp(s, "submitted") != 0) return j;
        json_decref(j);
        sleep_ms(50);
    }
    fail_msg("declaration %lld never answered", id);
    return NULL;
}

/* ---------- set-up ---------- */

static int setup(void **state)
{
    (void)state;
    h_fresh(dir, db);
    static char simdir[1100];
    snprintf(simdir, sizeof simdir, "EHALL_EXCHANGE_SIM_DIR=%s/tests/data/tax/sim", src_dir());
    const char *env[] = {"EHALL_EXCHANGE_POLL_MS=50", simdir, NULL};
    if (h_start(&S, dir, db, env) != 0) fail_msg("server did not start: %s", h_slurp(S.log));
    char out[8192], path[1024], path2[1024], path3[1024];
    snprintf(path, sizeof path, "%s/items", src_dir());
    const char *a1[] = {"items", "import", path, NULL};
    cli(a1, out, sizeof out, 0);
    snprintf(path2, sizeof path2, "%s/tax/params", src_dir());
    const char *a2[] = {"tax", "params", "validate", path2, NULL};
    cli(a2, out, sizeof out, 0);
    assert_non_null(strstr(out, "5 parameter set(s) valid"));
    const char *a3[] = {"tax", "params", "import", path2, NULL};
    cli(a3, out, sizeof out, 0);
    snprintf(path3, sizeof path3, "%s/calendar/2025.json", src_dir());
    const char *a4[] = {"calendar", "import", path3, NULL};
    cli(a4, out, sizeof out, 0);
    p_admins(&S, &A);
    json_decref(
        p_want(&A.sec, 201, "PUT", "/api/v1/admin/roles/tax_officer",
               "{\"name\":\"税源管理员\",\"scope\":\"subtree\",\"permissions\":[\"tax.manage\",\"tax.read\","
               "\"exchange.read\"]}"));
    long long dept = p_dept_id(&A.sys, "TAX-YZ");
    assert_true(dept > 0);
    p_staff(&S, &A, &officer, "taxoff1", dept, "tax_officer");
    p_enterprise(&S, &boss1, "taxco1");
    p_enterprise(&S, &boss2, "taxco2");
    char u1[19], u2[19];
    uscc_of("taxco1", u1);
    uscc_of("taxco2", u2);
    json_t *j =
        post(&officer, 201, "/api/v1/tax/taxpayers",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]}",
                       "kind", "enterprise", "uscc", u1, "name", "福州taxco1科技有限公司", "vat_status",
                       "small", "office", "TAX-YZ", "credit", "B", "registrations", "tax", "vat", "period",
                       "quarterly", "since", "2021-01-01", "tax", "cit", "period", "quarterly", "since",
                       "2025-01-01", "tax", "iit", "period", "monthly", "since", "2019-01-01"));
    tp1 = geti(j, "id");
    json_decref(j);
    j = post(&officer, 201, "/api/v1/tax/taxpayers",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s,s:s,s:s}]}", "kind", "enterprise", "uscc", u2,
                       "name", "福州taxco2科技有限公司", "vat_status", "general", "office", "TAX-YZ",
                       "credit", "A", "registrations", "tax", "vat", "period", "monthly", "since",
                       "2025-01-01"));
    tp2 = geti(j, "id");
    json_decref(j);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(h_stop(&S), 0);
    return 0;
}

/* ---------- the registry ---------- */

static void registry(void **state)
{
    (void)state;
    char u1[19];
    uscc_of("taxco1", u1);
    /* the same USCC again: 409 naming uscc */
    json_t *j =
        post(&officer, 409, "/api/v1/tax/taxpayers",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s,s:s,s:s}]}", "kind", "enterprise", "uscc", u1,
                       "name", "x", "vat_status", "small", "office", "TAX-YZ", "credit", "B", "registrations",
                       "tax", "vat", "period", "quarterly", "since", "2025-01-01"));
    assert_true(names_field(j, "uscc"));
    json_decref(j);
    /* a bad USCC check character, a quarterly general VAT, an unknown office */
    char bad[19];
    snprintf(bad, sizeof bad, "%s", u1);
    bad[17] = bad[17] == '0' ? '1' : '0';
    j = post(&officer, 422, "/api/v1/tax/taxpayers",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s,s:s,s:s}]}", "kind", "enterprise", "uscc", bad,
                       "name", "x", "vat_status", "general", "office", "TAX-YZ", "credit", "Z",
                       "registrations", "tax", "vat", "period", "quarterly", "since", "2025-01-01"));
    assert_true(names_field(j, "uscc"));
    assert_true(names_field(j, "credit"));
    assert_true(names_field(j, "registrations[0].period"));
    json_decref(j);
    /* the enterprise sees itself as a taxpayer it may file for */
    j = p_want(&boss1, 200, "GET", "/api/v1/tax/mine", NULL);
    json_t *t = json_array_get(json_object_get(j, "taxpayers"), 0);
    assert_int_equal(geti(t, "id"), tp1);
    assert_true(json_is_true(json_object_get(t, "may_file")));
    assert_string_equal(json_string_value(json_object_get(t, "vat_status")), "small");
    json_decref(j);
    /* another enterprise does not see it */
    char path[64];
    snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld", tp1);
    json_decref(p_want(&boss2, 404, "GET", path, NULL));
    json_decref(p_want(&officer, 200, "GET", path, NULL));
    /* staff do not declare */
    j = declare(&officer, 403, tp1, "vat", "zero", "2025Q1", NULL);
    json_decref(j);
}

/* ---------- the STA's cumulative withholding examples ---------- */

static void iit_sta_examples(void **state)
{
    (void)state;
    json_t *td = load("tests/data/tax/iit_sta_2019.json");
    json_t *emps = json_object_get(td, "employees");
    json_t *periods = json_object_get(td, "periods");
    size_t m, i;
    json_t *per;
    json_array_foreach(periods, m, per)
    {
        json_t *list = json_array();
        json_t *e;
        json_array_foreach(emps, i, e)
        {
            char idn[19];
            p_person_id_number(json_string_value(json_object_get(e, "employee")),
                               json_string_value(json_object_get(e, "birth")), idn);
            json_array_append_new(list, json_pack("{s:O, s:s, s:O, s:O, s:O, s:O}", "employee",
                                                  json_object_get(e, "employee"), "id_number", idn, "name",
                                                  json_object_get(e, "name"), "income_fen",
                                                  json_object_get(e, "income_fen"), "special_fen",
                                                  json_object_get(e, "special_fen"), "additional_fen",
                                                  json_object_get(e, "additional_fen")));
        }
        json_t *data = json_pack("{s:o}", "employees", list);
        /* the preview computes and records nothing */
        long long before = count_declarations(&boss1, tp1);
        json_t *b = json_pack("{s:I, s:s, s:s, s:s, s:O}", "taxpayer", (json_int_t)tp1, "tax", "iit", "form",
                              "iit_withhold", "period", json_string_value(per), "data", data);
        json_t *pv = post(&boss1, 200, "/api/v1/tax/declarations/preview", b);
        assert_int_equal(count_declarations(&boss1, tp1), before);
        json_t *dj =
            declare(&boss1, 201, tp1, "iit", "iit_withhold", json_string_value(per), json_incref(data));
        assert_string_equal(json_string_value(json_object_get(dj, "sm3")),
                            json_string_value(json_object_get(pv, "sm3")));
        long long total = 0;
        json_array_foreach(emps, i, e)
        {
            json_t *r = json_array_get(json_object_get(json_object_get(dj, "result"), "employees"), i);
            long long want = json_integer_value(json_array_get(json_object_get(e, "expect_due_fen"), m));
            if (geti(r, "due_fen") != want)
                fail_msg("%s %s: withheld %lld fen, the STA's example says %lld", json_string_value(per),
                         json_string_value(json_object_get(e, "employee")), geti(r, "due_fen"), want);
            total += want;
        }
        assert_int_equal(geti(dj, "tax_due_fen"), total);
        json_decref(pv);
        json_decref(dj);
        json_decref(data);
    }
    json_decref(td);
}

/* ---------- small-scale VAT ---------- */

static void vat_small(void **state)
{
    (void)state;
    json_t *td = load("tests/data/tax/vat_small.json");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(td, "cases"), i, c)
    {
        json_t *dj =
            declare(&boss1, 201, tp1, "vat", "vat_small", json_string_value(json_object_get(c, "period")),
                    json_incref(json_object_get(c, "data")));
        json_t *res = json_object_get(dj, "result");
        const char *k;
        json_t *want;
        json_object_foreach(json_object_get(c, "expect"), k, want)
        {
            if (!json_equal(json_object_get(res, k), want))
                fail_msg("%s: %s is %s, want %s", json_string_value(json_object_get(c, "period")), k,
                         json_dumps(json_object_get(res, k), JSON_ENCODE_ANY),
                         json_dumps(want, JSON_ENCODE_ANY));
        }
        json_t *acc = answered(&boss1, geti(dj, "id"));
        assert_string_equal(json_string_value(json_object_get(acc, "status")), "accepted");
        assert_non_null(strstr(json_string_value(json_object_get(acc, "reference")), "SIM-"));
        json_decref(acc);
        json_decref(dj);
    }
    json_decref(td);
}

/* ---------- general VAT ---------- */

static void vat_general(void **state)
{
    (void)state;
    json_t *td = load("tests/data/tax/vat_general.json");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(td, "months"), i, c)
    {
        const char *period = json_string_value(json_object_get(c, "period"));
        if (i == 1) {
            /* 表间: the credit carried forward must be the previous declaration's */
            json_t *bad = json_deep_copy(json_object_get(c, "data"));
            json_object_set_new(bad, "prior_credit_fen", json_integer(1));
            json_t *e = declare(&boss2, 422, tp2, "vat", "vat_general", period, bad);
            assert_true(names_field(e, "data.prior_credit_fen"));
            json_decref(e);
        }
        json_t *dj =
            declare(&boss2, 201, tp2, "vat", "vat_general", period, json_incref(json_object_get(c, "data")));
        json_t *res = json_object_get(dj, "result");
        const char *k;
        json_t *want;
        json_object_foreach(json_object_get(c, "expect"), k, want)
        {
            if (!json_equal(json_object_get(res, k), want))
                fail_msg("%s: %s is %lld, want %lld", period, k, geti(res, k),
                         (long long)json_integer_value(want));
        }
        json_decref(dj);
    }
    json_decref(td);
    /* a rate not in force, totals that do not add up, a small-scale form for a general taxpayer */
    long long before = count_declarations(&boss2, tp2), msgs = count_messages();
    json_t *e = declare(&boss2, 422, tp2, "vat", "vat_general", "2025-03",
                        json_pack("{s:[{s:i, s:I}], s:I, s:I}", "sales", "rate_pct", 17, "sales_fen",
                                  (json_int_t)100000, "output_tax_total_fen", (json_int_t)5, "input_tax_fen",
                                  (json_int_t)0));
    assert_true(names_field(e, "data.sales[0].rate_pct"));
    assert_true(names_field(e, "data.output_tax_total_fen"));
    json_decref(e);
    e = declare(&boss2, 422, tp2, "vat", "vat_small", "2025-03",
                json_pack("{s:I}", "sales_fen", (json_int_t)1));
    assert_true(names_field(e, "form"));
    json_decref(e);
    assert_int_equal(count_declarations(&boss2, tp2), before);
    assert_int_equal(count_messages(), msgs);
}

/* ---------- CIT prepayment of a small low-profit enterprise ---------- */

static void cit_small_low_profit(void **state)
{
    (void)state;
    json_t *td = load("tests/data/tax/cit_small_low_profit.json");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(td, "quarters"), i, c)
    {
        const char *period = json_string_value(json_object_get(c, "period"));
        json_t *dj =
            declare(&boss1, 201, tp1, "cit", "cit_prepay", period, json_incref(json_object_get(c, "data")));
        json_t *res = json_object_get(dj, "result");
        const char *k;
        json_t *want;
        json_object_foreach(json_object_get(c, "expect"), k, want)
        {
            if (!json_equal(json_object_get(res, k), want))
                fail_msg("%s: %s is %s, want %s", period, k,
                         json_dumps(json_object_get(res, k), JSON_ENCODE_ANY),
                         json_dumps(want, JSON_ENCODE_ANY));
        }
        json_decref(dj);
    }
    json_decref(td);
}

/* ---------- refusals: nothing recorded, nothing queued ---------- */

static void refusals(void **state)
{
    (void)state;
    long long before = count_declarations(&boss1, tp1), msgs = count_messages();
    /* a second declaration for the same taxpayer, tax and period */
    json_t *e = declare(&boss1, 409, tp1, "iit", "zero", "2019-01", NULL);
    assert_true(names_field(e, "period"));
    json_decref(e);
    /* negative and absurd amounts, a fraction of a fen */
    e = declare(&boss1, 422, tp1, "vat", "vat_small", "2025Q3",
                json_pack("{s:I}", "sales_fen", (json_int_t)-5));
    assert_true(names_field(e, "data.sales_fen"));
    json_decref(e);
    e = declare(&boss1, 422, tp1, "vat", "vat_small", "2025Q3",
                json_pack("{s:I}", "sales_fen", (json_int_t)900000000000000000LL));
    assert_true(names_field(e, "data.sales_fen"));
    json_decref(e);
    e = declare(&boss1, 422, tp1, "vat", "vat_small", "2025Q3", json_pack("{s:f}", "sales_fen", 10.5));
    assert_true(names_field(e, "data.sales_fen"));
    json_decref(e);
    /* the wrong period type: VAT is quarterly for this taxpayer */
    e = declare(&boss1, 422, tp1, "vat", "vat_small", "2025-07",
                json_pack("{s:I}", "sales_fen", (json_int_t)1));
    assert_true(names_field(e, "period"));
    json_decref(e);
    /* no parameters in force for 2022 (the 2023 set starts later): refused, naming the period */
    e = declare(&boss1, 422, tp1, "vat", "vat_small", "2022Q1",
                json_pack("{s:I}", "sales_fen", (json_int_t)1));
    assert_true(names_field(e, "period"));
    {
        char *dump = json_dumps(e, 0);
        assert_non_null(strstr(dump, "no vat_small parameters"));
        free(dump);
    }
    json_decref(e);
    /* a period that has not ended, a form for another tax, an unknown field */
    e = declare(&boss1, 422, tp1, "vat", "vat_small", "2999Q1",
                json_pack("{s:I}", "sales_fen", (json_int_t)1));
    assert_true(names_field(e, "period"));
    json_decref(e);
    e = declare(&boss1, 422, tp1, "cit", "vat_small", "2025Q3",
                json_pack("{s:I}", "sales_fen", (json_int_t)1));
    assert_true(names_field(e, "form"));
    json_decref(e);
    e = declare(&boss1, 422, tp1, "vat", "vat_small", "2025Q3",
                json_pack("{s:I, s:I}", "sales_fen", (json_int_t)1, "bonus_fen", (json_int_t)1));
    assert_true(names_field(e, "data.bonus_fen"));
    json_decref(e);
    assert_int_equal(count_declarations(&boss1, tp1), before);
    assert_int_equal(count_messages(), msgs);
}

/* ---------- corrections and the core tax system's refusal ---------- */

static void corrections_and_refusal(void **state)
{
    (void)state;
    json_t *dj = declare(&boss1, 201, tp1, "vat", "vat_small", "2025Q3",
                         json_pack("{s:I}", "sales_fen", (json_int_t)35000000));
    long long first = geti(dj, "id");
    assert_int_equal(geti(dj, "tax_due_fen"), 350000);
    json_decref(dj);
    json_decref(answered(&boss1, first));
    char path[96];
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld/correct", first);
    json_t *cj = post(&boss1, 201, path, json_pack("{s:{s:I}}", "data", "sales_fen", (json_int_t)25000000));
    assert_int_equal(geti(cj, "version"), 2);
    assert_int_equal(geti(cj, "supersedes"), first);
    assert_int_equal(geti(cj, "tax_due_fen"), 0); /* now under the threshold */
    long long second = geti(cj, "id");
    json_decref(cj);
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld", first);
    json_t *old = p_want(&boss1, 200, "GET", path, NULL);
    assert_string_equal(json_string_value(json_object_get(old, "status")), "corrected");
    assert_true(json_is_false(json_object_get(old, "current")));
    assert_int_equal(geti(old, "tax_due_fen"), 350000); /* what was declared stays as it was */
    json_decref(old);
    /* only the current version can be corrected */
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld/correct", first);
    json_decref(post(&boss1, 409, path, json_pack("{s:{s:I}}", "data", "sales_fen", (json_int_t)1)));
    json_t *ok = answered(&boss1, second);
    assert_string_equal(json_string_value(json_object_get(ok, "status")), "accepted");
    json_decref(ok);
    /* the simulated core tax system refuses 2025Q4: the slot is free again */
    dj = declare(&boss1, 201, tp1, "vat", "zero", "2025Q4", NULL);
    json_t *ref = answered(&boss1, geti(dj, "id"));
    assert_string_equal(json_string_value(json_object_get(ref, "status")), "refused");
    assert_non_null(strstr(json_string_value(json_object_get(ref, "reason")), "核心征管系统"));
    json_decref(ref);
    json_decref(dj);
    dj = declare(&boss1, 201, tp1, "vat", "zero", "2025Q4", NULL);
    json_decref(dj);
}

/* ---------- deadlines and reminders ---------- */

static int inbox_has(struct hclient *c, const char *a, const char *b)
{
    json_t *j = p_want(c, 200, "GET", "/api/v1/inbox?limit=100", NULL);
    int n = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "messages"), i, m)
    {
        const char *t = json_string_value(json_object_get(m, "title"));
        if (t && strstr(t, a) && strstr(t, b)) n++;
    }
    json_decref(j);
    return n;
}

static void deadlines_and_reminders(void **state)
{
    (void)state;
    char out[4096];
    /* National Day 2025-10-01..08 (8 days off within the 1st..15th): 15 + 8 = the 23rd */
    const char *a1[] = {"tax", "deadline", "2025-09", NULL};
    cli(a1, out, sizeof out, 0);
    assert_non_null(strstr(out, "2025-10-23"));
    /* 2025-11-15 is a Saturday: Monday the 17th */
    const char *a2[] = {"tax", "deadline", "2025-10", NULL};
    cli(a2, out, sizeof out, 0);
    assert_non_null(strstr(out, "2025-11-17"));
    /* Spring Festival: 2025-02-01..04 off → the 19th; Qingming 04-04..06 → 2025-04-18 */
    const char *a3[] = {"tax", "deadline", "2025-01", NULL};
    cli(a3, out, sizeof out, 0);
    assert_non_null(strstr(out, "2025-02-19"));
    const char *a4[] = {"tax", "deadline", "2025Q1", NULL};
    cli(a4, out, sizeof out, 0);
    assert_non_null(strstr(out, "2025-04-18"));
    /* the general taxpayer's calendar as of 2025-10-20: September outstanding, due the 23rd */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/filings?as_of=2025-10-20", tp2);
    json_t *j = p_want(&boss2, 200, "GET", path, NULL);
    int seen = 0;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(j, "filings"), i, f)
    {
        const char *p = json_string_value(json_object_get(f, "period"));
        if (!strcmp(p, "2025-09")) {
            seen = 1;
            assert_string_equal(json_string_value(json_object_get(f, "deadline")), "2025-10-23");
            assert_string_equal(json_string_value(json_object_get(f, "state")), "outstanding");
            assert_int_equal(geti(f, "working_days_left"), 3);
        }
        if (!strcmp(p, "2025-01"))
            assert_string_equal(json_string_value(json_object_get(f, "state")), "filed");
        if (!strcmp(p, "2025-03"))
            assert_string_equal(json_string_value(json_object_get(f, "state")), "overdue");
    }
    assert_true(seen);
    json_decref(j);
    /* 催报 three working days before; once only */
    const char *r1[] = {"tax", "remind", "--today", "2025-10-20", NULL};
    cli(r1, out, sizeof out, 0);
    assert_int_equal(inbox_has(&boss2, "催报", "2025-09"), 1);
    assert_int_equal(inbox_has(&boss2, "催缴", "2025-09"), 0);
    cli(r1, out, sizeof out, 0);
    assert_non_null(strstr(out, "0 reminder(s) sent"));
    assert_int_equal(inbox_has(&boss2, "催报", "2025-09"), 1);
    /* 催缴 the day after the deadline; once only */
    const char *r2[] = {"tax", "remind", "--today", "2025-10-24", NULL};
    cli(r2, out, sizeof out, 0);
    cli(r2, out, sizeof out, 0);
    assert_int_equal(inbox_has(&boss2, "催缴", "2025-09"), 1);
    /* a filed period gets nothing: January was declared */
    assert_int_equal(inbox_has(&boss2, "2025-01", "催"), 0);
    /* the other enterprise hears nothing about this one's filings */
    assert_int_equal(inbox_has(&boss1, "催报", "增值税 VAT 2025-09"), 0);
}

/* ---------- an SM2-signed declaration (non-repudiation) ---------- */

static int sh(const char *cmd, char *out, size_t len)
{
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, len - 1, f);
    out[n] = 0;
    return pclose(f);
}

/* Sign text with the openssl CLI (SM3 digest, the default signer ID): hex DER in sig. */
static void openssl_sign(const char *key, const char *text, char *sig, size_t len)
{
    char file[1100], cmd[3000];
    snprintf(file, sizeof file, "%s/canonical.txt", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -sign -inkey %s -rawin -in %s -digest sm3 -pkeyopt distid:1234567812345678"
             " | od -An -v -tx1 | tr -d ' \\n'",
             key, file);
    assert_int_equal(sh(cmd, sig, len), 0);
    assert_true(strlen(sig) > 100);
}

static void signed_declaration(void **state)
{
    (void)state;
    char v[64];
    if (sh("openssl version 2>/dev/null", v, sizeof v) != 0 || strncmp(v, "OpenSSL 3", 9) != 0) skip();
    /* the enterprise registers the public key of its USB key (made here by openssl) */
    char key[1100], pub[1100], other[1100], cmd[4000], out[4096];
    snprintf(key, sizeof key, "%s/boss-sm2.pem", dir);
    snprintf(pub, sizeof pub, "%s/boss-sm2.pub.pem", dir);
    snprintf(other, sizeof other, "%s/other-sm2.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl genpkey -algorithm SM2 -out %s 2>&1 && openssl pkey -in %s -pubout -out %s 2>&1 &&"
             " openssl genpkey -algorithm SM2 -out %s 2>&1",
             key, key, pub, other);
    assert_int_equal(sh(cmd, out, sizeof out), 0);
    char *pem = h_slurp(pub);
    json_decref(post(&boss1, 201, "/api/v1/account/certs",
                     json_pack("{s:s, s:s}", "label", "税务UKey", "public_key", pem)));
    free(pem);
    /* the preview gives the canonical text the taxpayer's key signs */
    json_t *pv = post(&boss1, 200, "/api/v1/tax/declarations/preview",
                      json_pack("{s:I, s:s, s:s, s:s}", "taxpayer", (json_int_t)tp1, "tax", "iit", "form",
                                "zero", "period", "2024-06"));
    const char *canon = json_string_value(json_object_get(pv, "canonical"));
    assert_non_null(canon);
    static char sig[400], bad[400];
    openssl_sign(key, canon, sig, sizeof sig);
    openssl_sign(other, canon, bad, sizeof bad);
    long long before = count_declarations(&boss1, tp1), msgs = count_messages();
    /* a key not registered to this account, and a signature that is not hex: refused, nothing kept */
    json_t *b = json_pack("{s:I, s:s, s:s, s:s, s:s}", "taxpayer", (json_int_t)tp1, "tax", "iit", "form",
                          "zero", "period", "2024-06", "signature", bad);
    json_t *e = post(&boss1, 422, "/api/v1/tax/declarations", b);
    assert_true(names_field(e, "signature"));
    json_decref(e);
    b = json_pack("{s:I, s:s, s:s, s:s, s:s}", "taxpayer", (json_int_t)tp1, "tax", "iit", "form", "zero",
                  "period", "2024-06", "signature", "zz");
    e = post(&boss1, 422, "/api/v1/tax/declarations", b);
    assert_true(names_field(e, "signature"));
    json_decref(e);
    assert_int_equal(count_declarations(&boss1, tp1), before);
    assert_int_equal(count_messages(), msgs);
    /* signed by the registered key: accepted, marked signed, the same canonical text stored */
    b = json_pack("{s:I, s:s, s:s, s:s, s:s}", "taxpayer", (json_int_t)tp1, "tax", "iit", "form", "zero",
                  "period", "2024-06", "signature", sig);
    json_t *dj = post(&boss1, 201, "/api/v1/tax/declarations", b);
    assert_string_equal(json_string_value(json_object_get(dj, "sm3")),
                        json_string_value(json_object_get(pv, "sm3")));
    char path[64];
    snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld", geti(dj, "id"));
    json_t *g = p_want(&boss1, 200, "GET", path, NULL);
    assert_true(json_is_true(json_object_get(g, "signed")));
    assert_string_equal(json_string_value(json_object_get(g, "canonical")), canon);
    /* and the stored text with the signature verifies with openssl's own command line */
    char sigfile[1100], txt[1100];
    snprintf(sigfile, sizeof sigfile, "%s/decl.sig", dir);
    snprintf(txt, sizeof txt, "%s/canonical.txt", dir);
    FILE *f = fopen(txt, "w");
    fputs(json_string_value(json_object_get(g, "canonical")), f);
    fclose(f);
    f = fopen(sigfile, "wb");
    for (size_t i = 0; sig[2 * i]; i++) {
        unsigned x;
        assert_int_equal(sscanf(sig + 2 * i, "%2x", &x), 1);
        fputc((int)x, f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "openssl pkeyutl -verify -pubin -inkey %s -rawin -in %s -sigfile %s -digest sm3"
             " -pkeyopt distid:1234567812345678 2>&1",
             pub, txt, sigfile);
    assert_int_equal(sh(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Signature Verified Successfully"));
    json_decref(g);
    json_decref(dj);
    json_decref(pv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry),
        cmocka_unit_test(iit_sta_examples),
        cmocka_unit_test(vat_small),
        cmocka_unit_test(vat_general),
        cmocka_unit_test(cit_small_low_profit),
        cmocka_unit_test(refusals),
        cmocka_unit_test(corrections_and_refusal),
        cmocka_unit_test(deadlines_and_reminders),
        cmocka_unit_test(signed_declaration),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
