/*
 * declare.c — declarations (申报): preview, submit, correct, read; and the answer of
 * the core tax system.
 *
 * One function, build(), does everything up to recording for all three: it checks the
 * caller, the taxpayer's registration and the period, picks the parameter set in force,
 * reads the cumulative figures from the earlier current declarations (IIT, CIT, VAT
 * credit carried forward), computes with the pure functions of compute.c and collects
 * every bad field.  The canonical text of a declaration is the JSON (keys sorted,
 * compact) of what was declared and what was computed; its SM3 goes into the audit
 * chain, and an SM2 signature over it (by a certificate the filer registered) is kept
 * when given.  Submitting records the declaration, its audit record and the tax.declare
 * message to the core tax connector in one transaction; a refusal by the core tax
 * system frees the (taxpayer, tax, period) slot again.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/auth.h"
#include "calendar/calendar.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "engine/inbox.h"
#include "exchange/exchange.h"
#include "tax/internal.h"

#define TAX_CONNECTOR     "sim"
#define TAX_BACKEND_ITEM  "TAX-CORE"
#define IIT_MAX_EMPLOYEES 2000

static store *tax_db;

/* ---------- the request ---------- */

struct decl {
    http_req *r;
    int mode; /* 0 preview, 1 submit, 2 correct */
    long long taxpayer, correct_of;
    const char *tax, *form, *period_s, *signature;
    json_t *data;
    int today;
    /* out */
    json_t *errors; /* field errors (422) */
    int status;     /* non-zero: reply with this error */
    const char *code, *message, *field, *field_msg;
    json_t *result; /* computation */
    json_t *canonical;
    char *canonical_text;
    char sm3[65];
    char fingerprint[65];
    long long id, version, tax_due, msg_id;
    char deadline[11];
    int late;
    struct tax_period period;
    char orig_tax[8], orig_form[16], orig_period[12]; /* a correction's original */
    char conflict_msg[160];
};

static void ferr(struct decl *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ferr(struct decl *d, const char *field, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(d->errors, http_field_error(field, msg));
}

static void fail(struct decl *d, int status, const char *code, const char *message, const char *field,
                 const char *field_msg)
{
    d->status = status;
    d->code = code;
    d->message = message;
    d->field = field;
    d->field_msg = field_msg;
}

/* An amount in fen at data.<key>: an integer lo..hi; def when absent and not required. */
static long long fen(struct decl *d, json_t *obj, const char *prefix, const char *key, int required,
                     long long lo, long long def)
{
    char f[128];
    snprintf(f, sizeof f, "%s.%s", prefix, key);
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) ferr(d, f, "is required (an integer number of fen)");
        return def;
    }
    if (!json_is_integer(v)) {
        ferr(d, f, "must be an integer number of fen (分), not %s", json_is_real(v) ? "a fraction" : "that");
        return def;
    }
    long long x = json_integer_value(v);
    if (x < lo) {
        ferr(d, f, lo == 0 ? "must not be negative" : "is below the allowed minimum");
        return def;
    }
    if (x > TAX_FEN_MAX) {
        ferr(d, f, "is absurdly large (above %lld fen)", TAX_FEN_MAX);
        return def;
    }
    return x;
}

static void unknown_fields(struct decl *d, json_t *obj, const char *prefix, const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        int ok = 0;
        for (const char *const *q = known; *q; q++) ok |= !strcmp(*q, k);
        if (!ok) {
            char f[160];
            snprintf(f, sizeof f, "%s.%.100s", prefix, k);
            ferr(d, f, "unknown field");
        }
    }
}

/* The latest earlier current declaration of tax in [from, before): its result. */
static int earlier_result(store_conn *c, long long taxpayer, const char *tax, int from, int before,
                          json_t **out, char period_out[12])
{
    *out = NULL;
    char a[11], b[11];
    calendar_date_format(from, a);
    calendar_date_format(before, b);
    store_stmt *st =
        store_prepare(c, "SELECT result, period FROM tax_declaration WHERE taxpayer_id = $1 AND tax = $2"
                         " AND current = 1 AND period_start >= $3 AND period_start < $4"
                         " ORDER BY period_start DESC LIMIT 1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, taxpayer);
    store_bind_text(st, 2, tax);
    store_bind_text(st, 3, a);
    store_bind_text(st, 4, b);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        *out = json_loads(store_column_text(st, 0), 0, NULL);
        if (period_out) snprintf(period_out, 12, "%s", store_column_text(st, 1));
        rc = STORE_OK;
    } else if (rc == STORE_DONE) {
        rc = STORE_OK;
    } else {
        rc = rc < 0 ? rc : STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

static json_int_t ji(long long v) { return (json_int_t)v; }

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* ---------- the five forms ---------- */

static int form_vat_small(store_conn *c, struct decl *d, json_t *params, json_t *data, int monthly)
{
    (void)c;
    static const char *const known[] = {"sales_fen", "gross_sales_fen", NULL};
    unknown_fields(d, data, "data", known);
    struct tax_vat_small_params p;
    if (tax_params_vat_small(params, &p) != 0) return STORE_ERROR;
    int has_net = json_object_get(data, "sales_fen") != NULL,
        has_gross = json_object_get(data, "gross_sales_fen") != NULL;
    if (has_net == has_gross) {
        ferr(d, "data.sales_fen",
             "give exactly one of sales_fen (不含税销售额) and gross_sales_fen (含税销售额)");
        return STORE_OK;
    }
    long long sales;
    json_t *norm = json_object();
    if (has_gross) {
        long long gross = fen(d, data, "data", "gross_sales_fen", 1, 0, 0);
        /* above the threshold the reduced rate applies; at or under it the sales are exempt,
         * and the STA's form converts them at the levy rate (3 %) */
        long long at_reduced = tax_net_of(gross, p.reduced_rate_bp);
        long long threshold = monthly ? p.exempt_month_fen : p.exempt_quarter_fen;
        sales = at_reduced > threshold ? at_reduced : tax_net_of(gross, p.levy_rate_bp);
        json_object_set_new(norm, "gross_sales_fen", json_integer(ji(gross)));
    } else {
        sales = fen(d, data, "data", "sales_fen", 1, 0, 0);
        json_object_set_new(norm, "sales_fen", json_integer(ji(sales)));
    }
    struct tax_vat_small_out o;
    tax_vat_small(&p, sales, monthly, &o);
    d->tax_due = o.tax_fen;
    d->result =
        json_pack("{s:I, s:b, s:I, s:I, s:I, s:I, s:I}", "sales_fen", ji(o.sales_fen), "exempt", o.exempt,
                  "exempt_sales_fen", ji(o.exempt_sales_fen), "rate_bp", ji(o.rate_bp), "tax_fen",
                  ji(o.tax_fen), "relief_fen", ji(o.relief_fen), "tax_due_fen", ji(o.tax_fen));
    json_object_set_new(d->canonical, "data", norm);
    return STORE_OK;
}

static int form_vat_general(store_conn *c, struct decl *d, json_t *params, json_t *data)
{
    static const char *const known[] = {
        "sales", "output_tax_total_fen", "input_tax_fen", "transferred_out_fen", "prior_credit_fen", NULL};
    unknown_fields(d, data, "data", known);
    json_t *sales = json_object_get(data, "sales");
    json_t *rates = json_object_get(params, "rates_bp");
    json_t *norm_sales = json_array();
    long long output = 0;
    if (!json_is_array(sales) || json_array_size(sales) > 16) {
        ferr(d, "data.sales", "must be a list of at most 16 {rate_pct, sales_fen} lines");
    } else {
        size_t i;
        json_t *e;
        json_array_foreach(sales, i, e)
        {
            char pre[32], f[64];
            snprintf(pre, sizeof pre, "data.sales[%zu]", i);
            static const char *const lk[] = {"rate_pct", "sales_fen", "output_tax_fen", NULL};
            if (!json_is_object(e)) {
                ferr(d, pre, "must be an object {rate_pct, sales_fen}");
                continue;
            }
            unknown_fields(d, e, pre, lk);
            json_t *rp = json_object_get(e, "rate_pct");
            snprintf(f, sizeof f, "%s.rate_pct", pre);
            long long bp = -1;
            if (!json_is_integer(rp)) {
                ferr(d, f, "must be an integer percentage");
            } else {
                long long want = json_integer_value(rp) * 100;
                size_t k;
                json_t *rv;
                json_array_foreach(rates, k, rv)
                {
                    if (json_integer_value(rv) == want) bp = want;
                }
                if (bp < 0) {
                    char list[64] = "";
                    json_array_foreach(rates, k, rv)
                    {
                        char one[12];
                        snprintf(one, sizeof one, "%s%lld", k ? ", " : "",
                                 (long long)json_integer_value(rv) / 100);
                        strncat(list, one, sizeof list - strlen(list) - 1);
                    }
                    ferr(d, f, "%lld %% is not a general VAT rate in force for %s (%s %%)",
                         (long long)json_integer_value(rp), d->period.text, list);
                }
            }
            long long s = fen(d, e, pre, "sales_fen", 1, 0, 0);
            long long tax = bp >= 0 ? tax_mul_bp(s, bp) : 0;
            json_t *given = json_object_get(e, "output_tax_fen");
            snprintf(f, sizeof f, "%s.output_tax_fen", pre);
            if (given && (!json_is_integer(given) || json_integer_value(given) != tax))
                ferr(d, f, "does not add up: sales × rate = %lld fen", tax);
            output += tax;
            json_array_append_new(norm_sales,
                                  json_pack("{s:I, s:I, s:I}", "rate_pct", ji(bp >= 0 ? bp / 100 : 0),
                                            "sales_fen", ji(s), "output_tax_fen", ji(tax)));
        }
    }
    json_t *tot = json_object_get(data, "output_tax_total_fen");
    if (tot && (!json_is_integer(tot) || json_integer_value(tot) != output))
        ferr(d, "data.output_tax_total_fen", "does not add up: the lines' output tax totals %lld fen",
             output);
    long long input = fen(d, data, "data", "input_tax_fen", 1, 0, 0);
    long long out_tr = fen(d, data, "data", "transferred_out_fen", 0, 0, 0);
    /* the credit carried forward: the previous period's current declaration */
    int prev_start = d->period.start - 1;
    struct tax_period pp;
    tax_period_of(prev_start, 0, &pp);
    json_t *prev = NULL;
    int rc = earlier_result(c, d->taxpayer, "vat", pp.start, d->period.start, &prev, NULL);
    if (rc != STORE_OK) {
        json_decref(norm_sales);
        return rc;
    }
    long long prior = json_integer_value(json_object_get(prev, "end_credit_fen"));
    json_decref(prev);
    json_t *pc = json_object_get(data, "prior_credit_fen");
    if (pc && (!json_is_integer(pc) || json_integer_value(pc) != prior))
        ferr(d, "data.prior_credit_fen",
             "does not match the previous period's declaration (期末留抵税额 %lld fen)", prior);
    struct tax_vat_general_out o;
    tax_vat_general(output, input, out_tr, prior, &o);
    d->tax_due = o.tax_fen;
    d->result = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "output_tax_fen", ji(o.output_fen),
                          "input_tax_fen", ji(o.input_fen), "transferred_out_fen", ji(o.transferred_out_fen),
                          "prior_credit_fen", ji(o.prior_credit_fen), "deductible_fen", ji(o.deductible_fen),
                          "deducted_fen", ji(o.deducted_fen), "tax_fen", ji(o.tax_fen), "end_credit_fen",
                          ji(o.end_credit_fen), "tax_due_fen", ji(o.tax_fen));
    json_object_set_new(d->canonical, "data",
                        json_pack("{s:o, s:I, s:I}", "sales", norm_sales, "input_tax_fen", ji(input),
                                  "transferred_out_fen", ji(out_tr)));
    return STORE_OK;
}

static int year_start(const struct tax_period *p)
{
    int d;
    calendar_date_from_ymd(p->year, 1, 1, &d);
    return d;
}

static int form_cit(store_conn *c, struct decl *d, json_t *params, json_t *data)
{
    static const char *const known[] = {"revenue_fen", "cost_fen",   "profit_fen",
                                        "employees",   "assets_fen", NULL};
    unknown_fields(d, data, "data", known);
    struct tax_cit_params p;
    if (tax_params_cit(params, &p) != 0) return STORE_ERROR;
    long long revenue = fen(d, data, "data", "revenue_fen", 1, 0, 0);
    long long cost = fen(d, data, "data", "cost_fen", 1, 0, 0);
    long long profit = fen(d, data, "data", "profit_fen", 1, -TAX_FEN_MAX, 0);
    long long assets = fen(d, data, "data", "assets_fen", 1, 0, 0);
    json_t *emp = json_object_get(data, "employees");
    long long employees = 0;
    if (!json_is_integer(emp) || json_integer_value(emp) < 0 || json_integer_value(emp) > 10000000)
        ferr(d, "data.employees", "must be a whole number of employees (0 to 10,000,000)");
    else
        employees = json_integer_value(emp);
    if (profit > revenue)
        ferr(d, "data.profit_fen", "does not add up: profit above revenue (%lld fen)", revenue);
    json_t *prev = NULL;
    int rc = earlier_result(c, d->taxpayer, "cit", year_start(&d->period), d->period.start, &prev, NULL);
    if (rc != STORE_OK) return rc;
    long long prepaid = json_integer_value(json_object_get(prev, "paid_to_date_fen"));
    json_decref(prev);
    struct tax_cit_out o;
    tax_cit_prepay(&p, profit, employees, assets, prepaid, &o);
    d->tax_due = o.due_fen;
    d->result = json_pack("{s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "profit_fen", ji(o.profit_fen),
                          "small_low_profit", o.small_low_profit, "tax_fen", ji(o.tax_fen), "relief_fen",
                          ji(o.relief_fen), "prepaid_fen", ji(o.prepaid_fen), "due_fen", ji(o.due_fen),
                          "paid_to_date_fen", ji(o.prepaid_fen + o.due_fen), "tax_due_fen", ji(o.due_fen));
    json_object_set_new(d->canonical, "data",
                        json_pack("{s:I, s:I, s:I, s:I, s:I}", "revenue_fen", ji(revenue), "cost_fen",
                                  ji(cost), "profit_fen", ji(profit), "employees", ji(employees),
                                  "assets_fen", ji(assets)));
    return STORE_OK;
}

static int form_iit(store_conn *c, struct decl *d, json_t *params, json_t *data)
{
    static const char *const known[] = {"employees", "total_income_fen", NULL};
    unknown_fields(d, data, "data", known);
    struct tax_iit_params p;
    if (tax_params_iit(params, &p) != 0) return STORE_ERROR;
    json_t *emps = json_object_get(data, "employees");
    if (!json_is_array(emps) || json_array_size(emps) < 1 || json_array_size(emps) > IIT_MAX_EMPLOYEES) {
        ferr(d, "data.employees", "must be a list of 1 to %d employees (use a zero declaration for none)",
             IIT_MAX_EMPLOYEES);
        return STORE_OK;
    }
    json_t *prev = NULL;
    int rc = earlier_result(c, d->taxpayer, "iit", year_start(&d->period), d->period.start, &prev, NULL);
    if (rc != STORE_OK) return rc;
    json_t *prev_emps = json_object_get(prev, "employees");
    json_t *norm = json_array(), *res = json_array();
    long long total_income = 0, total_due = 0;
    size_t i;
    json_t *e;
    json_array_foreach(emps, i, e)
    {
        char pre[40], f[80];
        snprintf(pre, sizeof pre, "data.employees[%zu]", i);
        static const char *const ek[] = {"employee",       "id_number",  "name",
                                         "income_fen",     "exempt_fen", "special_fen",
                                         "additional_fen", "other_fen",  NULL};
        if (!json_is_object(e)) {
            ferr(d, pre, "must be an object");
            continue;
        }
        unknown_fields(d, e, pre, ek);
        const char *code = json_string_value(json_object_get(e, "employee"));
        const char *idn = json_string_value(json_object_get(e, "id_number"));
        const char *name = json_string_value(json_object_get(e, "name"));
        snprintf(f, sizeof f, "%s.employee", pre);
        if (!code || !*code || strlen(code) > 32)
            ferr(d, f, "must be the employee's number (1 to 32 characters)");
        for (size_t k = 0; code && k < i; k++)
            if (!strcmp(jstr(json_array_get(emps, k), "employee"), code)) ferr(d, f, "appears twice");
        snprintf(f, sizeof f, "%s.id_number", pre);
        const char *why = NULL;
        if (!idn || auth_id_number_check(idn, &why) != 0)
            ferr(d, f, "%s", why ? why : "must be an ID number");
        snprintf(f, sizeof f, "%s.name", pre);
        if (!name || !*name || strlen(name) > 100) ferr(d, f, "must be the employee's name");
        long long inc = fen(d, e, pre, "income_fen", 1, 0, 0);
        long long exm = fen(d, e, pre, "exempt_fen", 0, 0, 0);
        long long spe = fen(d, e, pre, "special_fen", 0, 0, 0);
        long long add = fen(d, e, pre, "additional_fen", 0, 0, 0);
        long long oth = fen(d, e, pre, "other_fen", 0, 0, 0);
        if (exm > inc) {
            snprintf(f, sizeof f, "%s.exempt_fen", pre);
            ferr(d, f, "does not add up: tax-exempt income above the income");
        }
        /* this employee's year so far, from the latest earlier month */
        json_t *pe = NULL;
        size_t k;
        json_t *x;
        json_array_foreach(prev_emps, k, x)
        {
            if (code && !strcmp(jstr(x, "employee"), code)) pe = x;
        }
#define CUM(key) json_integer_value(json_object_get(pe, key))
        long long months = CUM("months") + 1;
        struct tax_iit_in in = {CUM("cum_income_fen") + inc,     CUM("cum_exempt_fen") + exm,
                                p.basic_fen_month * months,      CUM("cum_special_fen") + spe,
                                CUM("cum_additional_fen") + add, CUM("cum_other_fen") + oth,
                                CUM("cum_withheld_fen")};
#undef CUM
        struct tax_iit_out o;
        tax_iit_cumulative(&p, &in, &o);
        total_income += inc;
        total_due += o.due_fen;
        char masked[32] = "", mname[128] = "";
        auth_mask_id_number(idn, masked, sizeof masked);
        auth_mask_name(name, mname, sizeof mname);
        json_array_append_new(norm, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "employee",
                                              code ? code : "", "id_number", masked, "name", mname,
                                              "income_fen", ji(inc), "exempt_fen", ji(exm), "special_fen",
                                              ji(spe), "additional_fen", ji(add), "other_fen", ji(oth)));
        json_array_append_new(
            res,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "employee",
                      code ? code : "", "months", ji(months), "cum_income_fen", ji(in.income_fen),
                      "cum_exempt_fen", ji(in.exempt_fen), "cum_basic_fen", ji(in.basic_fen),
                      "cum_special_fen", ji(in.special_fen), "cum_additional_fen", ji(in.additional_fen),
                      "cum_other_fen", ji(in.other_fen), "taxable_fen", ji(o.taxable_fen), "rate_bp",
                      ji(o.rate_bp), "quick_fen", ji(o.quick_fen), "cum_tax_fen", ji(o.tax_fen), "due_fen",
                      ji(o.due_fen), "cum_withheld_fen", ji(in.prepaid_fen + o.due_fen)));
    }
    json_decref(prev);
    json_t *tot = json_object_get(data, "total_income_fen");
    if (tot && (!json_is_integer(tot) || json_integer_value(tot) != total_income))
        ferr(d, "data.total_income_fen", "does not add up: the employees' income totals %lld fen",
             total_income);
    d->tax_due = total_due;
    d->result = json_pack("{s:o, s:I, s:I}", "employees", res, "total_income_fen", ji(total_income),
                          "tax_due_fen", ji(total_due));
    json_object_set_new(d->canonical, "data", json_pack("{s:o}", "employees", norm));
    return STORE_OK;
}

/* A zero declaration: nothing to declare; what carries forward carries forward. */
static int form_zero(store_conn *c, struct decl *d, json_t *data)
{
    if (data && (!json_is_object(data) || json_object_size(data) > 0))
        ferr(d, "data", "a zero declaration has no data");
    d->tax_due = 0;
    d->result = json_pack("{s:b, s:I}", "zero", 1, "tax_due_fen", ji(0));
    json_t *prev = NULL;
    int rc = STORE_OK;
    if (!strcmp(d->tax, "vat")) {
        struct tax_period pp;
        tax_period_of(d->period.start - 1, d->period.quarterly, &pp);
        rc = earlier_result(c, d->taxpayer, "vat", pp.start, d->period.start, &prev, NULL);
        json_object_set_new(d->result, "end_credit_fen",
                            json_integer(json_integer_value(json_object_get(prev, "end_credit_fen"))));
    } else if (!strcmp(d->tax, "cit")) {
        rc = earlier_result(c, d->taxpayer, "cit", year_start(&d->period), d->period.start, &prev, NULL);
        json_object_set_new(d->result, "paid_to_date_fen",
                            json_integer(json_integer_value(json_object_get(prev, "paid_to_date_fen"))));
    } else {
        rc = earlier_result(c, d->taxpayer, "iit", year_start(&d->period), d->period.start, &prev, NULL);
        json_t *pe = json_object_get(prev, "employees");
        if (pe) json_object_set(d->result, "employees", pe); /* the year so far carries on */
    }
    json_decref(prev);
    json_object_set_new(d->canonical, "data", json_object());
    return rc;
}

/* ---------- building a declaration ---------- */

static const char *form_tax(const char *form)
{
    if (!strcmp(form, "vat_small") || !strcmp(form, "vat_general")) return "vat";
    if (!strcmp(form, "cit_prepay")) return "cit";
    if (!strcmp(form, "iit_withhold")) return "iit";
    return NULL;
}

static const char *param_kind(const char *form)
{
    if (!strcmp(form, "vat_small")) return "vat_small";
    if (!strcmp(form, "vat_general")) return "vat_general";
    if (!strcmp(form, "cit_prepay")) return "cit";
    if (!strcmp(form, "iit_withhold")) return "iit_withholding";
    return NULL;
}

static int build(store_conn *c, struct decl *d)
{
    json_decref(d->result);
    json_decref(d->canonical);
    free(d->canonical_text);
    d->result = d->canonical = NULL;
    d->canonical_text = NULL;
    json_array_clear(d->errors);
    d->status = 0;
    struct tax_taxpayer t;
    int access = tax_access_to(c, auth_principal(d->r), d->taxpayer, &t);
    if (access < 0) return access;
    if (access != TAX_FILE) {
        if (access == TAX_NONE)
            fail(d, 404, "not_found", "no such taxpayer", "taxpayer", "no such taxpayer");
        else
            fail(d, 403, "forbidden", "this account may not declare for the taxpayer", "taxpayer",
                 "needs the permission to file (ent.file)");
        return STORE_OK;
    }
    if (strcmp(t.status, "normal") != 0) {
        fail(d, 422, "validation_failed", "the taxpayer cannot declare", "taxpayer",
             "the taxpayer's status is not normal");
        return STORE_OK;
    }
    int quarterly = 0, since = 0;
    int rc = tax_registration_get(c, t.id, d->tax, &quarterly, &since);
    if (rc == STORE_DONE) {
        ferr(d, "tax", "the taxpayer is not registered for %s", d->tax);
        return STORE_OK;
    }
    if (rc != STORE_OK) return rc;
    if (tax_period_parse(d->period_s, &d->period) != 0) {
        ferr(d, "period", "must be YYYY-MM (monthly) or YYYYQn (quarterly)");
        return STORE_OK;
    }
    if (d->period.quarterly != quarterly) {
        ferr(d, "period", "wrong period type: %s is filed %s by this taxpayer (%s)", d->tax,
             quarterly ? "quarterly" : "monthly", quarterly ? "YYYYQn" : "YYYY-MM");
        return STORE_OK;
    }
    if (d->period.end >= d->today) ferr(d, "period", "has not ended yet: declare after %s", d->period_s);
    if (since && d->period.end < since) ferr(d, "period", "is before the registration for %s", d->tax);
    if (strcmp(d->form, "zero") != 0) {
        const char *ft = form_tax(d->form);
        if (strcmp(ft, d->tax) != 0) ferr(d, "form", "%s is not a form for %s", d->form, d->tax);
        if (!strcmp(d->form, "vat_small") && strcmp(t.vat_status, "small") != 0)
            ferr(d, "form", "the taxpayer is a %s VAT taxpayer, not small-scale", t.vat_status);
        if (!strcmp(d->form, "vat_general") && strcmp(t.vat_status, "general") != 0)
            ferr(d, "form", "the taxpayer is a %s VAT taxpayer, not general", t.vat_status);
    }
    if (json_array_size(d->errors)) return STORE_OK;
    /* the parameters in force over the whole period */
    json_t *params = NULL;
    const char *kind = strcmp(d->form, "zero") ? param_kind(d->form) : NULL;
    if (kind) {
        rc = tax_params_in_force(c, kind, d->period.start, d->period.end, &params);
        if (rc == STORE_DONE) {
            ferr(d, "period", "no %s parameters (rates, thresholds) are in force for %s", kind,
                 d->period.text);
            return STORE_OK;
        }
        if (rc != STORE_OK) return rc;
    }
    d->canonical = json_pack("{s:I, s:s, s:s, s:s, s:s}", "taxpayer", ji(t.id), "tin", t.tin, "tax", d->tax,
                             "form", d->form, "period", d->period.text);
    json_t *data = d->data ? d->data : json_object();
    if (!json_is_object(data)) {
        ferr(d, "data", "must be an object");
        rc = STORE_OK;
    } else if (!strcmp(d->form, "vat_small")) {
        rc = form_vat_small(c, d, params, data, !quarterly);
    } else if (!strcmp(d->form, "vat_general")) {
        rc = form_vat_general(c, d, params, data);
    } else if (!strcmp(d->form, "cit_prepay")) {
        rc = form_cit(c, d, params, data);
    } else if (!strcmp(d->form, "iit_withhold")) {
        rc = form_iit(c, d, params, data);
    } else {
        rc = form_zero(c, d, d->data);
    }
    if (!d->data) json_decref(data);
    if (rc == STORE_OK && params && d->result)
        json_object_set_new(d->result, "params",
                            json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "valid_from",
                                      json_string_value(json_object_get(params, "valid_from")), "valid_to",
                                      json_string_value(json_object_get(params, "valid_to")), "sm3",
                                      json_string_value(json_object_get(params, "_sm3"))));
    json_decref(params);
    if (rc != STORE_OK || json_array_size(d->errors)) return rc;
    /* deadline */
    int day = 15, near = 3;
    json_t *ov = NULL;
    if ((rc = tax_calendar_params(c, d->period.end, &day, &near, &ov)) != STORE_OK) return rc;
    int due = tax_deadline(tax_calendar(), &d->period, day, ov);
    json_decref(ov);
    calendar_date_format(due, d->deadline);
    d->late = d->today > due;
    json_object_set_new(d->canonical, "version", json_integer(ji(d->version)));
    json_object_set_new(d->canonical, "result", json_deep_copy(d->result));
    json_object_set_new(d->canonical, "tax_due_fen", json_integer(ji(d->tax_due)));
    d->canonical_text = json_dumps(d->canonical, JSON_COMPACT | JSON_SORT_KEYS);
    if (!d->canonical_text) return STORE_ERROR;
    unsigned char h[SM3_DIGEST_LEN];
    if (crypto_sm3(d->canonical_text, strlen(d->canonical_text), h) != 0) return STORE_ERROR;
    hex_encode(h, sizeof h, d->sm3);
    return STORE_OK;
}

/* ---------- recording ---------- */

/* The signature (hex DER) by one of the filer's registered certificates: 0 and the
 * fingerprint, 1 when it verifies with none, < 0 store error. */
static int check_signature(store_conn *c, struct decl *d)
{
    size_t n = strlen(d->signature);
    if (n % 2 || n > 400) return 1;
    unsigned char sig[200];
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(d->signature + 2 * i, "%2x", &v) != 1) return 1;
        sig[i] = (unsigned char)v;
    }
    store_stmt *st = store_prepare(c, "SELECT public_key, fingerprint FROM cert_key WHERE account_id = $1"
                                      " AND revoked_at IS NULL");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, auth_principal(d->r)->account);
    int found = 1, rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        if (crypto_sm2_verify(store_column_text(st, 0), NULL, d->canonical_text, strlen(d->canonical_text),
                              sig, n / 2) == 0) {
            snprintf(d->fingerprint, sizeof d->fingerprint, "%s", store_column_text(st, 1));
            found = 0;
            break;
        }
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    return found;
}

static int submit_tx(store_conn *c, void *arg)
{
    struct decl *d = arg;
    d->version = 1;
    long long supersedes = 0;
    if (d->mode == 2) {
        store_stmt *st = store_prepare(c, "SELECT taxpayer_id, tax, form, period, version, current, status"
                                          " FROM tax_declaration WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, d->correct_of);
        int rc = store_step(st);
        int current = 0;
        char status[16] = "";
        if (rc == STORE_ROW) {
            d->taxpayer = store_column_int64(st, 0);
            snprintf(d->orig_tax, sizeof d->orig_tax, "%s", store_column_text(st, 1));
            snprintf(d->orig_form, sizeof d->orig_form, "%s", store_column_text(st, 2));
            snprintf(d->orig_period, sizeof d->orig_period, "%s", store_column_text(st, 3));
            d->version = store_column_int64(st, 4) + 1;
            current = (int)store_column_int64(st, 5);
            snprintf(status, sizeof status, "%s", store_column_text(st, 6));
        }
        store_finalize(st);
        if (rc == STORE_DONE) {
            fail(d, 404, "not_found", "no such declaration", NULL, NULL);
            return STORE_OK;
        }
        if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
        d->tax = d->orig_tax;
        if (!d->form) d->form = d->orig_form;
        d->period_s = d->orig_period;
        supersedes = d->correct_of;
        int rc2 = build(c, d);
        if (rc2 != STORE_OK || d->status || json_array_size(d->errors)) return rc2;
        if (!current || !strcmp(status, "refused")) {
            fail(d, 409, "conflict", "only the current version of a declaration can be corrected", "id",
                 "superseded or refused");
            return STORE_OK;
        }
    } else {
        int rc = build(c, d);
        if (rc != STORE_OK || d->status || json_array_size(d->errors)) return rc;
        store_stmt *st = store_prepare(c, "SELECT id FROM tax_declaration WHERE taxpayer_id = $1 AND tax = $2"
                                          " AND period = $3 AND current = 1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, d->taxpayer);
        store_bind_text(st, 2, d->tax);
        store_bind_text(st, 3, d->period.text);
        rc = store_step(st);
        long long other = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
        store_finalize(st);
        if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        if (other) {
            snprintf(d->conflict_msg, sizeof d->conflict_msg,
                     "declared already (declaration %lld): file a correction (更正申报) instead", other);
            fail(d, 409, "conflict", "a declaration for this taxpayer, tax and period exists", "period",
                 d->conflict_msg);
            return STORE_OK;
        }
    }
    if (d->signature) {
        int s = check_signature(c, d);
        if (s < 0) return s;
        if (s) {
            ferr(d, "signature", "does not verify with any certificate registered to this account");
            return STORE_OK;
        }
    }
    if (supersedes) {
        store_stmt *up =
            store_prepare(c, "UPDATE tax_declaration SET current = 0, status = 'corrected' WHERE id = $1");
        if (!up) return STORE_ERROR;
        store_bind_int64(up, 1, supersedes);
        int urc = store_step(up);
        store_finalize(up);
        if (urc != STORE_DONE) return urc < 0 ? urc : STORE_ERROR;
    }
    const struct principal *p = auth_principal(d->r);
    char ts[48], ps[11], pe[11];
    time_rfc3339(now_wall(), ts, sizeof ts);
    calendar_date_format(d->period.start, ps);
    calendar_date_format(d->period.end, pe);
    char *result_text = json_dumps(d->result, JSON_COMPACT | JSON_SORT_KEYS);
    if (!result_text) return STORE_ERROR;
    store_stmt *st = store_prepare(
        c, "INSERT INTO tax_declaration(taxpayer_id, tax, form, period, period_start, period_end, version,"
           " supersedes, current, status, canonical, result, tax_due_fen, sm3, signature, cert_fingerprint, "
           "deadline,"
           " late, filed_by, on_behalf, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 'submitted', "
           "$9, $10,"
           " $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id");
    if (!st) {
        free(result_text);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, d->taxpayer);
    store_bind_text(st, 2, d->tax);
    store_bind_text(st, 3, d->form);
    store_bind_text(st, 4, d->period.text);
    store_bind_text(st, 5, ps);
    store_bind_text(st, 6, pe);
    store_bind_int64(st, 7, d->version);
    if (supersedes)
        store_bind_int64(st, 8, supersedes);
    else
        store_bind_null(st, 8);
    store_bind_text(st, 9, d->canonical_text);
    store_bind_text(st, 10, result_text);
    store_bind_int64(st, 11, d->tax_due);
    store_bind_text(st, 12, d->sm3);
    if (d->signature) {
        store_bind_text(st, 13, d->signature);
        store_bind_text(st, 14, d->fingerprint);
    } else {
        store_bind_null(st, 13);
        store_bind_null(st, 14);
    }
    store_bind_text(st, 15, d->deadline);
    store_bind_int64(st, 16, d->late);
    store_bind_int64(st, 17, p->account);
    if (p->on_behalf)
        store_bind_int64(st, 18, p->on_behalf);
    else
        store_bind_null(st, 18);
    store_bind_text(st, 19, ts);
    int rc = store_step(st);
    if (rc == STORE_ROW) d->id = store_column_int64(st, 0);
    store_finalize(st);
    free(result_text);
    if (rc == STORE_CONSTRAINT) { /* another request declared the same period a moment ago */
        fail(d, 409, "conflict", "a declaration for this taxpayer, tax and period exists", "period",
             "declared already: file a correction (更正申报) instead");
        return STORE_CONSTRAINT;
    }
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    /* the message to the core tax system, in this transaction */
    char key[64];
    snprintf(key, sizeof key, "tax.declare:%lld", d->id);
    json_t *payload = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "item",
                                TAX_BACKEND_ITEM, "declaration", ji(d->id), "taxpayer", ji(d->taxpayer),
                                "tin", json_string_value(json_object_get(d->canonical, "tin")), "tax", d->tax,
                                "form", d->form, "period", d->period.text, "version", ji(d->version),
                                "tax_due_fen", ji(d->tax_due), "sm3", d->sm3);
    char *ptext = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(payload);
    if (!ptext) return STORE_ERROR;
    rc = exchange_enqueue(c, key, "tax.declare", TAX_CONNECTOR, 0, ptext, &d->msg_id);
    free(ptext);
    if (rc != STORE_OK) return rc;
    st = store_prepare(c, "UPDATE tax_declaration SET msg_id = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, d->id);
    store_bind_int64(st, 2, d->msg_id);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char obj[48], det[400];
    snprintf(obj, sizeof obj, "declaration %lld", d->id);
    snprintf(
        det, sizeof det,
        "{\"taxpayer\":%lld,\"tax\":\"%s\",\"form\":\"%s\",\"period\":\"%s\",\"version\":%lld,\"sm3\":\"%s\","
        "\"tax_due_fen\":%lld,\"signed\":%s%s%s%s}",
        d->taxpayer, d->tax, d->form, d->period.text, d->version, d->sm3, d->tax_due,
        d->signature ? "true" : "false", d->signature ? ",\"certificate\":\"" : "",
        d->signature ? d->fingerprint : "", d->signature ? "\"" : "");
    return auth_audit(d->r, c, d->mode == 2 ? "tax.correct" : "tax.declare", obj, "submitted", det);
}

static int preview_tx(store_conn *c, void *arg) { return build(c, arg); }

/* ---------- handlers ---------- */

static void decl_free(struct decl *d)
{
    json_decref(d->errors);
    json_decref(d->result);
    json_decref(d->canonical);
    free(d->canonical_text);
}

static int reply_decl(http_req *r, struct decl *d, int rc)
{
    int out;
    if (d->status && (d->status == 409 || rc == STORE_OK || rc == STORE_CONSTRAINT)) {
        json_t *det = d->field ? json_pack("[o]", http_field_error(d->field, d->field_msg)) : NULL;
        out = http_reply_error(r, (unsigned)d->status, d->code, d->message, det);
    } else if (rc == STORE_OK && json_array_size(d->errors)) {
        out = http_reply_error(r, 422, "validation_failed", "some fields are not valid",
                               json_incref(d->errors));
    } else if (rc != STORE_OK) {
        out = tax_reply_unavailable(r);
    } else {
        json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:I, s:s, s:b, s:s, s:s}", "tax", d->tax, "form", d->form,
                              "period", d->period.text, "result", d->result, "tax_due_fen", ji(d->tax_due),
                              "deadline", d->deadline, "late", d->late, "sm3", d->sm3, "canonical",
                              d->canonical_text);
        if (d->mode) {
            json_object_set_new(o, "id", json_integer(ji(d->id)));
            json_object_set_new(o, "version", json_integer(ji(d->version)));
            json_object_set_new(o, "status", json_string("submitted"));
            json_object_set_new(o, "signed", json_boolean(d->signature != NULL));
            if (d->mode == 2) json_object_set_new(o, "supersedes", json_integer(ji(d->correct_of)));
        }
        out = http_reply_json(r, d->mode ? 201 : 200, o);
    }
    decl_free(d);
    return out;
}

static int read_body(http_req *r, struct decl *d, int correction)
{
    static const char *const known[] = {"taxpayer", "tax", "form", "period", "data", "signature", NULL};
    static const char *const known_c[] = {"form", "data", "signature", NULL};
    struct input in;
    if (input_begin(&in, r, correction ? known_c : known) != 0) return -1;
    if (!correction) {
        d->taxpayer = input_int(&in, "taxpayer", 1, 1, LLONG_MAX, 0);
        d->tax = input_str(&in, "tax", 1, 3, 3);
        d->period_s = input_str(&in, "period", 1, 6, 7);
        if (d->tax && strcmp(d->tax, "vat") && strcmp(d->tax, "cit") && strcmp(d->tax, "iit"))
            input_error(&in, "tax", "must be vat, cit or iit");
    }
    d->form = input_str(&in, "form", !correction, 1, 16);
    if (d->form && strcmp(d->form, "zero") && !form_tax(d->form))
        input_error(&in, "form", "must be vat_small, vat_general, cit_prepay, iit_withhold or zero");
    d->data = json_object_get(in.body, "data");
    if (d->data && !json_is_object(d->data)) input_error(&in, "data", "must be an object");
    d->signature = input_str(&in, "signature", 0, 2, 400);
    return input_done(&in);
}

static int handle(http_req *r, int mode)
{
    struct decl d = {.r = r, .mode = mode, .errors = json_array(), .today = calendar_today(), .version = 1};
    if (mode == 2 && (parse_int64(http_req_param(r, "id"), &d.correct_of) != 0 || d.correct_of <= 0)) {
        json_decref(d.errors);
        return http_reply_error(r, 404, "not_found", "no such declaration", NULL);
    }
    if (read_body(r, &d, mode == 2) != 0) {
        json_decref(d.errors);
        return 0;
    }
    if (d.signature && mode == 0) d.signature = NULL;
    store *db = ((struct app *)http_req_app(r))->db;
    int rc = store_tx(db, mode ? 1 : 0, mode ? submit_tx : preview_tx, &d);
    /* a field error or refusal inside the transaction: nothing was recorded */
    if (rc == STORE_OK && mode && !d.status && !json_array_size(d.errors) && d.id) exchange_kick();
    return reply_decl(r, &d, rc);
}

int tax_api_preview(http_req *r) { return handle(r, 0); }
int tax_api_submit(http_req *r) { return handle(r, 1); }
int tax_api_correct(http_req *r) { return handle(r, 2); }

/* ---------- reading declarations ---------- */

static json_t *row_json(store_stmt *st)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:b, s:s, s:b}", "id",
                          ji(store_column_int64(st, 0)), "taxpayer", ji(store_column_int64(st, 1)), "tax",
                          store_column_text(st, 2), "form", store_column_text(st, 3), "period",
                          store_column_text(st, 4), "version", ji(store_column_int64(st, 5)), "status",
                          store_column_text(st, 6), "tax_due_fen", ji(store_column_int64(st, 7)), "sm3",
                          store_column_text(st, 8), "deadline", store_column_text(st, 9), "late",
                          (int)store_column_int64(st, 10), "created_at", store_column_text(st, 11), "current",
                          (int)store_column_int64(st, 12));
    if (!store_column_is_null(st, 13))
        json_object_set_new(o, "supersedes", json_integer(store_column_int64(st, 13)));
    if (!store_column_is_null(st, 14))
        json_object_set_new(o, "reference", json_string(store_column_text(st, 14)));
    if (!store_column_is_null(st, 15))
        json_object_set_new(o, "reason", json_string(store_column_text(st, 15)));
    json_object_set_new(o, "signed", json_boolean(!store_column_is_null(st, 16)));
    return o;
}

#define DECL_COLS                                                                                            \
    "SELECT id, taxpayer_id, tax, form, period, version, status, tax_due_fen, sm3, deadline, late, "         \
    "created_at,"                                                                                            \
    " current, supersedes, reference, reason, signature, result, canonical FROM tax_declaration"

static int decl_load(store_conn *c, long long id, json_t **out, long long *taxpayer)
{
    store_stmt *st = store_prepare(c, DECL_COLS " WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        *out = row_json(st);
        json_object_set_new(*out, "result", json_loads(store_column_text(st, 17), 0, NULL));
        json_object_set_new(*out, "canonical", json_string(store_column_text(st, 18)));
        *taxpayer = store_column_int64(st, 1);
    }
    store_finalize(st);
    return rc == STORE_ROW ? STORE_OK : rc == STORE_DONE ? STORE_DONE : rc < 0 ? rc : STORE_ERROR;
}

int tax_api_declaration(http_req *r) { return tax_reply_record(r, "declaration", decl_load); }

int tax_api_declarations(http_req *r)
{
    return tax_reply_taxpayer_list(r, "declarations",
                                   DECL_COLS
                                   " WHERE taxpayer_id = $1 ORDER BY period_start DESC, tax, version DESC"
                                   " LIMIT 200",
                                   row_json);
}

/* ---------- the core tax system's answer ---------- */

static int on_result(store_conn *c, long long msg_id, long long case_id, const char *kind,
                     const char *outcome, const char *result_json)
{
    (void)case_id;
    (void)kind;
    json_t *res = json_loads(result_json ? result_json : "{}", 0, NULL);
    const char *ref = json_string_value(json_object_get(res, "reference"));
    const char *why = json_string_value(json_object_get(res, "reason"));
    int ok = !strcmp(outcome, "ok");
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st = store_prepare(
        c, ok ? "UPDATE tax_declaration SET status = CASE WHEN status = 'submitted' THEN 'accepted' ELSE "
                "status END,"
                " reference = $2, reason = NULL, answered_at = $3 WHERE msg_id = $1 RETURNING id, filed_by, "
                "period, tax"
              : "UPDATE tax_declaration SET status = 'refused', current = 0, reference = NULL, reason = $2,"
                " answered_at = $3 WHERE msg_id = $1 RETURNING id, filed_by, period, tax");
    if (!st) {
        json_decref(res);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, msg_id);
    store_bind_text(st, 2, ok ? ref : (why ? why : "refused by the core tax system"));
    store_bind_text(st, 3, ts);
    int rc = store_step(st);
    long long id = 0, filer = 0;
    char period[12] = "", tax[8] = "";
    if (rc == STORE_ROW) {
        id = store_column_int64(st, 0);
        filer = store_column_int64(st, 1);
        snprintf(period, sizeof period, "%s", store_column_text(st, 2));
        snprintf(tax, sizeof tax, "%s", store_column_text(st, 3));
        rc = store_step(st);
    }
    store_finalize(st);
    if (rc != STORE_DONE) {
        json_decref(res);
        return rc < 0 ? rc : STORE_ERROR;
    }
    if (id && filer) {
        char title[200], body[600];
        if (ok) {
            snprintf(title, sizeof title, "申报成功 Declaration accepted: %s %s", tax, period);
            snprintf(body, sizeof body, "申报（第 %lld 号）已被核心征管系统受理，凭证号 %s。", id,
                     ref ? ref : "-");
        } else {
            snprintf(title, sizeof title, "申报未通过 Declaration refused: %s %s", tax, period);
            snprintf(body, sizeof body, "申报（第 %lld 号）被核心征管系统退回：%s。请修改后重新申报。", id,
                     why ? why : "-");
        }
        rc = inbox_notify(c, filer, 0, ok ? "tax.accepted" : "tax.refused", title, body, 0);
        if (rc != STORE_OK) log_warn("tax: declaration %lld: the notice failed (%d)", id, rc);
        rc = STORE_OK;
    }
    json_decref(res);
    return rc;
}

void tax_init(store *db, calendar *cal)
{
    tax_db = db;
    tax_set_calendar(cal);
    exchange_on_result("tax.declare", on_result);
    tax_pay_setup();
}
