/*
 * tax — tax e-services (seed 000): the taxpayer registry, dated tax parameters, the
 * filing calendar with its reminders, and declarations (申报) computed in fen, recorded
 * read-only and sent through the exchange to the core tax system.  See docs/tax.md.
 *
 * Money is always an integer number of fen (分, 1/100 yuan) in a long long.  Rates are
 * integer basis points (1 % = 100 bp).  Rounding is "half up" (half away from zero) to
 * the fen, applied at the points where the STA's forms round: each form line that
 * multiplies or divides by a rate is rounded once; sums and differences are exact.
 *
 * Rates, thresholds and tables are never constants here: they are parameter sets
 * (the JSON files of tax/params/, imported into tax_param), each with valid_from / valid_to; the
 * set in force for a period is the one whose validity covers the whole period.
 */
#ifndef EHALL_TAX_H
#define EHALL_TAX_H

#include <jansson.h>
#include <stddef.h>

#include "http/http.h"
#include "store/store.h"

struct strbuf;
struct config;
typedef struct calendar calendar;

/* The largest amount accepted anywhere (fen): 10^14 fen = one trillion yuan. */
#define TAX_FEN_MAX 100000000000000LL

/* ---- pure computation (compute.c) ---- */

/* fen × bp / 10000, rounded half away from zero to the fen. */
long long tax_mul_bp(long long fen, long long bp);
/* fen × a/10000 × b/10000 (two rates applied at once, one rounding). */
long long tax_mul_bp2(long long fen, long long a_bp, long long b_bp);
/* The tax-exclusive amount of a tax-inclusive one: gross / (1 + bp/10000), rounded. */
long long tax_net_of(long long gross_fen, long long bp);

#define TAX_BRACKETS_MAX 12
struct tax_bracket {
    long long upto_fen; /* upper bound of the cumulative taxable income; -1: open */
    long long rate_bp;
    long long quick_fen; /* quick deduction (速算扣除数) */
};
struct tax_iit_params {
    long long basic_fen_month; /* 减除费用 per month */
    int n;
    struct tax_bracket b[TAX_BRACKETS_MAX];
};
/* Cumulative withholding (累计预扣法) for one employee and month: every amount is the
 * year-to-date total including this month (basic = basic deduction × months employed). */
struct tax_iit_in {
    long long income_fen, exempt_fen, basic_fen, special_fen, additional_fen, other_fen;
    long long prepaid_fen; /* withheld in the earlier months of the year */
};
struct tax_iit_out {
    long long taxable_fen; /* 累计预扣预缴应纳税所得额 (>= 0) */
    long long rate_bp, quick_fen;
    long long tax_fen; /* taxable × rate − quick, rounded */
    long long due_fen; /* this month: max(0, tax − prepaid) */
};
void tax_iit_cumulative(const struct tax_iit_params *p, const struct tax_iit_in *in, struct tax_iit_out *out);

struct tax_vat_small_params {
    long long levy_rate_bp;       /* statutory levy rate (3 %) */
    long long reduced_rate_bp;    /* reduced rate in force (1 %), = levy rate when none */
    long long exempt_quarter_fen; /* sales up to this per quarter are exempt */
    long long exempt_month_fen;   /* … per month for monthly filers */
};
struct tax_vat_small_out {
    long long sales_fen;        /* tax-exclusive sales */
    int exempt;                 /* 1: under the threshold */
    long long exempt_sales_fen; /* 小微企业免税销售额 */
    long long rate_bp;          /* rate applied (0 when exempt) */
    long long tax_fen;          /* 应纳税额 */
    long long relief_fen;       /* 减免税额: tax at the levy rate minus tax due */
};
/* sales_fen tax-exclusive; monthly 1 for a monthly filer (the monthly threshold). */
void tax_vat_small(const struct tax_vat_small_params *p, long long sales_fen, int monthly,
                   struct tax_vat_small_out *out);

struct tax_vat_general_out {
    long long output_fen, input_fen, transferred_out_fen, prior_credit_fen;
    long long deductible_fen; /* 应抵扣税额合计 = input − transferred out + prior credit */
    long long deducted_fen;   /* 实际抵扣税额 = min(deductible, output) */
    long long tax_fen;        /* 应纳税额 = output − deducted */
    long long end_credit_fen; /* 期末留抵税额 = deductible − deducted */
};
void tax_vat_general(long long output_fen, long long input_fen, long long transferred_out_fen,
                     long long prior_credit_fen, struct tax_vat_general_out *out);

struct tax_cit_params {
    long long rate_bp;
    long long slp_max_taxable_fen, slp_max_employees, slp_max_assets_fen;
    long long slp_portion_bp, slp_rate_bp; /* taxable income counted at portion, taxed at rate */
};
struct tax_cit_out {
    long long profit_fen;  /* 实际利润额, year to date (a loss counts as 0) */
    int small_low_profit;  /* 1: the small low-profit computation applies */
    long long tax_fen;     /* 应纳所得税额 = profit × rate */
    long long relief_fen;  /* 减免所得税额 */
    long long prepaid_fen; /* 本年实际已缴纳所得税额 */
    long long due_fen;     /* 本期应补(退)所得税额, max 0 at prepayment */
};
void tax_cit_prepay(const struct tax_cit_params *p, long long profit_fen, long long employees,
                    long long assets_fen, long long prepaid_fen, struct tax_cit_out *out);

/* ---- periods and deadlines (calendar.c) ---- */

struct tax_period {
    char text[12]; /* "2025-03" (monthly) or "2025Q1" (quarterly) */
    int quarterly;
    int year, index; /* month 1..12 or quarter 1..4 */
    int start, end;  /* calendar dates (days since 1970-01-01) */
};
/* Parse "YYYY-MM" or "YYYYQn" (years 2000..2999): 0, or -1. */
int tax_period_parse(const char *s, struct tax_period *out);
/* The period of the given kind containing date. */
void tax_period_of(int date, int quarterly, struct tax_period *out);
/* The period following p. */
void tax_period_next(const struct tax_period *p, struct tax_period *out);

/* The filing deadline of a period: day `day` (15) of the month after the period ends,
 * extended by the length of every run of three or more consecutive days off within the
 * 1st..day-th of that month, then moved to the next working day when it is a day off
 * (征管法实施细则 §109).  overrides (an object "YYYY-MM" → "YYYY-MM-DD", may be NULL)
 * pins a month's deadline as the STA published it.  Returns the date. */
int tax_deadline(calendar *cal, const struct tax_period *p, int day, json_t *overrides);

/* ---- parameters (params.c) ---- */

/* Check one parameter file (parsed): every problem appended to problems as
 * "file: PATH: what is wrong".  Returns the number of problems. */
int tax_params_check(const char *file, json_t *doc, struct strbuf *problems);
/* Check every *.json in dir, and that sets of one kind do not overlap.  0 valid, 1 not
 * (problems says why), -1 when the directory cannot be read.  *count gets the files. */
int tax_params_validate_dir(const char *dir, struct strbuf *problems, int *count);
/* Validate, then replace every parameter set in one transaction (audited as
 * tax.params.import by actor).  0 imported, 1 refused (nothing changed), < 0 store error. */
int tax_params_import_dir(store *s, const char *dir, const char *actor, struct strbuf *problems, int *count);
/* The set of kind in force over the whole of [start, end]: STORE_OK and *doc (a new
 * reference, with "_sm3"), STORE_DONE when none covers it, or a STORE_* error. */
int tax_params_in_force(store_conn *c, const char *kind, int start, int end, json_t **doc);
/* Read a checked document into the structs above: 0, or -1 when a field is missing. */
int tax_params_iit(json_t *doc, struct tax_iit_params *out);
int tax_params_vat_small(json_t *doc, struct tax_vat_small_params *out);
int tax_params_cit(json_t *doc, struct tax_cit_params *out);

/* ---- the engine (declare.c, taxpayer.c) ---- */

/* At start-up, after exchange_setup: the result handler of tax.declare and the
 * calendar used for deadlines (may be NULL: weekends only). */
void tax_init(store *db, calendar *cal);
/* 催报 and 催缴 for every outstanding filing as of today (a date; 0: today): inbox + SMS
 * to the taxpayer's accounts, each notice once.  Returns the number of notices sent,
 * or -1 when the database failed. */
int tax_remind(store *db, int today);
/* The keeper's call: tax_remind once a day per process. */
void tax_keeper(store *db);

/* ---- endpoints (api.c, routes.c) ---- */
int tax_api_taxpayer_create(http_req *r); /* POST /api/v1/tax/taxpayers */
int tax_api_taxpayer_get(http_req *r);    /* GET  /api/v1/tax/taxpayers/{id} */
int tax_api_mine(http_req *r);            /* GET  /api/v1/tax/mine */
int tax_api_filings(http_req *r);         /* GET  /api/v1/tax/taxpayers/{id}/filings */
int tax_api_declarations(http_req *r);    /* GET  /api/v1/tax/taxpayers/{id}/declarations */
int tax_api_preview(http_req *r);         /* POST /api/v1/tax/declarations/preview */
int tax_api_submit(http_req *r);          /* POST /api/v1/tax/declarations */
int tax_api_correct(http_req *r);         /* POST /api/v1/tax/declarations/{id}/correct */
int tax_api_declaration(http_req *r);     /* GET  /api/v1/tax/declarations/{id} */
int tax_api_params(http_req *r);          /* GET  /api/v1/tax/params */

/* ---- payment, invoices, public services (pay.c, invoice.c, public.c) ---- */

/* At start-up, after exchange_setup (tax_init calls it): the simulated treasury
 * connector "treasury" and the result handler of tax.pay. */
void tax_pay_setup(void);

struct tax_recon {
    char day[11];
    long long ehall_count, treasury_count; /* payments answered that day; treasury ledger rows */
    long long missing, mismatched;
    long long report_id; /* exchange_report row (source "treasury") */
    char *details;       /* JSON (malloc'd): {"missing_at_treasury","missing_in_ehall","mismatched"} */
};
/* Compare our payments answered on day (YYYY-MM-DD) with the treasury's ledger of that
 * day by idempotency key (amount, outcome, reference); an entry whose counterpart is on
 * the neighbouring day is matched.  Stores a report and audits tax.reconcile by actor.
 * 0 clean, 1 discrepancies, < 0 a STORE_* error.  Free out->details. */
int tax_treasury_reconcile(store *db, const char *day, const char *actor, struct tax_recon *out);

int tax_api_agreement_create(http_req *r); /* POST /api/v1/tax/taxpayers/{id}/agreements */
int tax_api_agreements(http_req *r);       /* GET  /api/v1/tax/taxpayers/{id}/agreements */
int tax_api_pay(http_req *r);              /* POST /api/v1/tax/declarations/{id}/pay */
int tax_api_payment(http_req *r);          /* GET  /api/v1/tax/payments/{id} */
int tax_api_payments(http_req *r);         /* GET  /api/v1/tax/taxpayers/{id}/payments */
int tax_api_certificate(http_req *r);      /* POST /api/v1/tax/payments/{id}/certificate */
int tax_api_invoice_issue(http_req *r);    /* POST /api/v1/tax/invoices */
int tax_api_invoice_get(http_req *r);      /* GET  /api/v1/tax/invoices/{id} */
int tax_api_invoices(http_req *r);         /* GET  /api/v1/tax/taxpayers/{id}/invoices */
int tax_api_invoice_reverse(http_req *r);  /* POST /api/v1/tax/invoices/{id}/reverse */
int tax_api_invoice_verify(http_req *r);   /* GET  /api/v1/public/invoices/verify (no login, rate limited) */
int tax_api_public_taxpayer(http_req *r);  /* GET  /api/v1/public/taxpayers (no login, rate limited) */

#endif
