/*
 * invoice.c — electronic invoices (全电发票): issue by the seller within the monthly
 * quota granted by the invoice-quota item (SW-FP-0001), red-letter reversal (红字发票,
 * linked, once), and public verification (查验) by number, date, amount and check code,
 * without log-in and rate limited per client address.
 *
 * Amounts are fen: each line's amount = quantity × unit price (exact), its tax =
 * amount × rate rounded once to the fen (tax_mul_bp); the invoice's amounts are the
 * sums.  The rate must be one the seller may charge: for a general taxpayer one of the
 * vat_general set in force on the issue date, for a small-scale one the levy or reduced
 * rate of the vat_small set.  The number is 20 digits (YY, region 35, channel 0, the
 * invoice id in 15 digits); the check code 20 random digits.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/auth.h"
#include "calendar/calendar.h"
#include "core/core.h"
#include "tax/internal.h"

#define QUOTA_ITEM   "SW-FP-0001"
#define LINES_MAX    100
#define VERIFY_RATE  2.0  /* verifications per second per address */
#define VERIFY_BURST 10.0 /* at once */

static json_int_t ji(long long v) { return (json_int_t)v; }
static void cpy(char *d, size_t n, const char *s) { snprintf(d, n, "%s", s ? s : ""); }

static int step_done(store_stmt *st)
{
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

#define INV_COLS                                                                                             \
    "SELECT id, number, check_code, kind, reverses, status, taxpayer_id, seller_name, seller_tin,"           \
    " buyer_name, buyer_tin, lines, amount_fen, tax_fen, total_fen, issue_date, reason, created_at,"         \
    " (SELECT r.id FROM tax_invoice r WHERE r.reverses = tax_invoice.id) AS reversed_by FROM tax_invoice"

static json_t *inv_json(store_stmt *st, int with_check)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:s, s:s}", "id",
                          ji(store_column_int64(st, 0)), "number", store_column_text(st, 1), "kind",
                          store_column_text(st, 3), "status", store_column_text(st, 5), "seller",
                          ji(store_column_int64(st, 6)), "seller_name", store_column_text(st, 7),
                          "seller_tin", store_column_text(st, 8), "buyer_name", store_column_text(st, 9),
                          "lines", json_loads(store_column_text(st, 11), 0, NULL), "amount_fen",
                          ji(store_column_int64(st, 12)), "tax_fen", ji(store_column_int64(st, 13)),
                          "total_fen", ji(store_column_int64(st, 14)), "issue_date",
                          store_column_text(st, 15), "created_at", store_column_text(st, 17));
    if (with_check) json_object_set_new(o, "check_code", json_string(store_column_text(st, 2)));
    if (!store_column_is_null(st, 4))
        json_object_set_new(o, "reverses", json_integer(store_column_int64(st, 4)));
    if (!store_column_is_null(st, 10))
        json_object_set_new(o, "buyer_tin", json_string(store_column_text(st, 10)));
    if (!store_column_is_null(st, 16))
        json_object_set_new(o, "reason", json_string(store_column_text(st, 16)));
    if (!store_column_is_null(st, 18))
        json_object_set_new(o, "reversed_by", json_integer(store_column_int64(st, 18)));
    return o;
}

/* The monthly quota (fen) of the latest approved invoice-quota case of the enterprise:
 * STORE_OK (*quota set), STORE_DONE when there is none. */
static int quota_of(store_conn *c, long long enterprise, long long *quota)
{
    store_stmt *st = store_prepare(
        c, "SELECT form FROM ecase WHERE item_code = $1 AND enterprise <> 0 AND enterprise = $2 AND"
           " (state IN ('approved','result_issued') OR (state = 'closed' AND prev_state IN"
           " ('approved','result_issued'))) ORDER BY closed_ms DESC, id DESC LIMIT 1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, QUOTA_ITEM);
    store_bind_int64(st, 2, enterprise);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        json_t *f = json_loads(store_column_text(st, 0), 0, NULL);
        json_t *q = json_object_get(f, "requested_quota");
        *quota = json_is_integer(q) ? json_integer_value(q) : 0;
        json_decref(f);
        rc = STORE_OK;
    } else if (rc != STORE_DONE) {
        rc = rc < 0 ? rc : STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

/* The rates (bp) the seller may charge on date: n written to rates. */
static int seller_rates(store_conn *c, const struct tax_taxpayer *t, int date, long long rates[16], int *n)
{
    *n = 0;
    json_t *doc = NULL;
    int general = !strcmp(t->vat_status, "general");
    int rc = tax_params_in_force(c, general ? "vat_general" : "vat_small", date, date, &doc);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_OK) return rc;
    if (general) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(doc, "rates_bp"), i, v) if (*n < 15) rates[(*n)++] =
            json_integer_value(v);
    } else {
        struct tax_vat_small_params p;
        if (tax_params_vat_small(doc, &p) == 0) {
            rates[(*n)++] = p.levy_rate_bp;
            if (p.reduced_rate_bp != p.levy_rate_bp) rates[(*n)++] = p.reduced_rate_bp;
        }
    }
    rates[(*n)++] = 0; /* exempt / zero-rated lines */
    json_decref(doc);
    return STORE_OK;
}

struct inv {
    http_req *r;
    long long seller, reverse_of;
    const char *buyer_name, *buyer_tin, *reason;
    json_t *lines;
    json_t *errors;
    int status;
    const char *code, *message, *field;
    char why[300];
    long long id;
    json_t *out;
};

static void ierr(struct inv *v, const char *field, const char *msg)
{
    json_array_append_new(v->errors, http_field_error(field, msg));
}

static void ifail(struct inv *v, int status, const char *code, const char *message, const char *field)
{
    v->status = status, v->code = code, v->message = message, v->field = field;
}

static int load_inv(store_conn *c, long long id, int with_check, json_t **out)
{
    store_stmt *st = store_prepare(c, INV_COLS " WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) *out = inv_json(st, with_check);
    store_finalize(st);
    return rc == STORE_ROW ? STORE_OK : rc == STORE_DONE ? STORE_DONE : rc < 0 ? rc : STORE_ERROR;
}

/* Insert one invoice (numbered after its id); v->id set. */
static int insert_inv(store_conn *c, struct inv *v, const struct tax_taxpayer *t, const char *kind,
                      long long reverses, const char *buyer_name, const char *buyer_tin, const char *lines,
                      long long amount, long long tax, const char *reason)
{
    char ts[48], today[11], month[8], check[21], tmp[40];
    time_rfc3339(now_wall(), ts, sizeof ts);
    calendar_date_format(calendar_today(), today);
    snprintf(month, sizeof month, "%.7s", today);
    unsigned char rnd[20];
    if (random_bytes(rnd, sizeof rnd) != 0) return STORE_ERROR;
    for (int i = 0; i < 20; i++) check[i] = (char)('0' + rnd[i] % 10);
    check[20] = 0;
    hex_encode(rnd, 16, tmp); /* a unique placeholder until the id is known */
    store_stmt *st = store_prepare(c, "INSERT INTO tax_invoice(number, check_code, kind, reverses, status, "
                                      "taxpayer_id, seller_name, seller_tin,"
                                      " buyer_name, buyer_tin, lines, amount_fen, tax_fen, total_fen, "
                                      "issue_date, month, reason, created_by,"
                                      " created_at) VALUES ($1, $2, $3, $4, 'issued', $5, $6, $7, $8, $9, "
                                      "$10, $11, $12, $13, $14, $15, $16,"
                                      " $17, $18) RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, tmp);
    store_bind_text(st, 2, check);
    store_bind_text(st, 3, kind);
    if (reverses)
        store_bind_int64(st, 4, reverses);
    else
        store_bind_null(st, 4);
    store_bind_int64(st, 5, t->id);
    store_bind_text(st, 6, t->name);
    store_bind_text(st, 7, t->tin);
    store_bind_text(st, 8, buyer_name);
    if (buyer_tin)
        store_bind_text(st, 9, buyer_tin);
    else
        store_bind_null(st, 9);
    store_bind_text(st, 10, lines);
    store_bind_int64(st, 11, amount);
    store_bind_int64(st, 12, tax);
    store_bind_int64(st, 13, amount + tax);
    store_bind_text(st, 14, today);
    store_bind_text(st, 15, month);
    if (reason)
        store_bind_text(st, 16, reason);
    else
        store_bind_null(st, 16);
    store_bind_int64(st, 17, auth_principal(v->r)->account);
    store_bind_text(st, 18, ts);
    int rc = store_step(st);
    if (rc == STORE_ROW) v->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc == STORE_CONSTRAINT) return STORE_BUSY; /* reversed at this very moment: run again */
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char number[24];
    snprintf(number, sizeof number, "%.2s350%015lld", today + 2, v->id);
    st = store_prepare(c, "UPDATE tax_invoice SET number = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, v->id);
    store_bind_text(st, 2, number);
    return step_done(st);
}

static int issue_tx(store_conn *c, void *arg)
{
    struct inv *v = arg;
    struct tax_taxpayer t;
    int access = tax_access_to(c, auth_principal(v->r), v->seller, &t);
    if (access < 0) return access;
    if (access == TAX_NONE) {
        ierr(v, "seller", "no such taxpayer that you act for");
        return STORE_OK;
    }
    if (access != TAX_FILE) {
        ifail(v, 403, "forbidden", "only who may file for the seller issues its invoices", NULL);
        return STORE_OK;
    }
    if (!strcmp(t.vat_status, "none") || !t.enterprise) {
        ierr(v, "seller", "is not a VAT taxpayer registered as an enterprise in ehall");
        return STORE_OK;
    }
    long long rates[16];
    int nr = 0;
    int rc;
    if ((rc = seller_rates(c, &t, calendar_today(), rates, &nr)) != STORE_OK) return rc;
    long long amount = 0, tax = 0;
    json_t *norm = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(v->lines, i, l)
    {
        char f[64];
        static const char *const known[] = {"name", "quantity", "unit_price_fen", "rate_pct", NULL};
        const char *k;
        json_t *x;
        json_object_foreach(l, k, x)
        {
            int ok = 0;
            for (const char *const *q = known; *q; q++) ok |= !strcmp(*q, k);
            if (!ok) {
                snprintf(f, sizeof f, "lines[%zu].%.30s", i, k);
                ierr(v, f, "unknown field");
            }
        }
        const char *name = json_string_value(json_object_get(l, "name"));
        json_t *q = json_object_get(l, "quantity"), *u = json_object_get(l, "unit_price_fen"),
               *rp = json_object_get(l, "rate_pct");
        int bad = 0;
        if (!name || !*name || strlen(name) > 200) {
            snprintf(f, sizeof f, "lines[%zu].name", i);
            ierr(v, f, "is required (1 to 200 characters)");
            bad = 1;
        }
        if (!json_is_integer(q) || json_integer_value(q) < 1 || json_integer_value(q) > 1000000) {
            snprintf(f, sizeof f, "lines[%zu].quantity", i);
            ierr(v, f, "must be a whole number from 1 to 1000000");
            bad = 1;
        }
        if (!json_is_integer(u) || json_integer_value(u) < 1 || json_integer_value(u) > TAX_FEN_MAX) {
            snprintf(f, sizeof f, "lines[%zu].unit_price_fen", i);
            ierr(v, f,
                 json_is_real(u) ? "must be an integer number of fen, not a fraction"
                                 : "must be a positive integer number of fen");
            bad = 1;
        }
        int rate_ok = 0;
        if (json_is_integer(rp))
            for (int j = 0; j < nr; j++) rate_ok |= rates[j] == json_integer_value(rp) * 100;
        if (!rate_ok) {
            snprintf(f, sizeof f, "lines[%zu].rate_pct", i);
            ierr(v, f, "is not a rate this seller may charge today");
            bad = 1;
        }
        if (bad) continue;
        long long la = json_integer_value(q) * json_integer_value(u);
        if (json_integer_value(u) > TAX_FEN_MAX / json_integer_value(q) || la > TAX_FEN_MAX) {
            snprintf(f, sizeof f, "lines[%zu].quantity", i);
            ierr(v, f, "quantity × unit price is absurdly large");
            continue;
        }
        long long lt = tax_mul_bp(la, json_integer_value(rp) * 100);
        amount += la;
        tax += lt;
        json_array_append_new(norm, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "name", name, "quantity",
                                              json_integer_value(q), "unit_price_fen", json_integer_value(u),
                                              "rate_pct", json_integer_value(rp), "amount_fen", ji(la),
                                              "tax_fen", ji(lt)));
    }
    if (amount + tax > TAX_FEN_MAX) ierr(v, "lines", "the invoice total is absurdly large");
    if (json_array_size(v->errors)) {
        json_decref(norm);
        return STORE_OK;
    }
    long long quota = 0, used = 0;
    rc = quota_of(c, t.enterprise, &quota);
    if (rc == STORE_DONE) {
        json_decref(norm);
        ifail(v, 409, "conflict", "no invoice quota", "seller");
        snprintf(v->why, sizeof v->why, "no approved invoice-quota application (%s)", QUOTA_ITEM);
        return STORE_OK;
    }
    if (rc != STORE_OK) {
        json_decref(norm);
        return rc;
    }
    char today[11], month[8];
    calendar_date_format(calendar_today(), today);
    snprintf(month, sizeof month, "%.7s", today);
    store_stmt *st =
        store_prepare(c, "SELECT COALESCE(SUM(total_fen), 0) FROM tax_invoice WHERE taxpayer_id = $1"
                         " AND month = $2");
    if (!st) {
        json_decref(norm);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, t.id);
    store_bind_text(st, 2, month);
    rc = store_step(st);
    if (rc == STORE_ROW) used = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) {
        json_decref(norm);
        return rc < 0 ? rc : STORE_ERROR;
    }
    if (used + amount + tax > quota) {
        json_decref(norm);
        ifail(v, 409, "conflict", "over the monthly invoice quota", "lines");
        snprintf(v->why, sizeof v->why, "quota %lld fen, issued this month %lld fen, this invoice %lld fen",
                 quota, used, amount + tax);
        return STORE_OK;
    }
    char *lt = json_dumps(norm, JSON_COMPACT);
    json_decref(norm);
    if (!lt) return STORE_ERROR;
    rc = insert_inv(c, v, &t, "blue", 0, v->buyer_name, v->buyer_tin, lt, amount, tax, NULL);
    free(lt);
    if (rc != STORE_OK) return rc;
    if ((rc = load_inv(c, v->id, 1, &v->out)) != STORE_OK) return rc < 0 ? rc : STORE_ERROR;
    char obj[48], det[200];
    snprintf(obj, sizeof obj, "invoice %lld", v->id);
    snprintf(det, sizeof det, "{\"number\":\"%s\",\"total_fen\":%lld}",
             json_string_value(json_object_get(v->out, "number")), amount + tax);
    return auth_audit(v->r, c, "tax.invoice.issue", obj, "ok", det);
}

static int reply_inv(http_req *r, struct inv *v, int rc, unsigned ok_status)
{
    int out;
    if (rc != STORE_OK) {
        out = tax_reply_unavailable(r);
    } else if (json_array_size(v->errors)) {
        out = http_reply_error(r, 422, "validation_failed", "some fields are not valid",
                               json_incref(v->errors));
    } else if (v->status) {
        out = http_reply_error(
            r, (unsigned)v->status, v->code, v->message,
            v->field ? json_pack("[o]", http_field_error(v->field, v->why[0] ? v->why : v->message)) : NULL);
    } else {
        out = http_reply_json(r, ok_status, json_incref(v->out));
    }
    json_decref(v->out);
    json_decref(v->errors);
    return out;
}

int tax_api_invoice_issue(http_req *r)
{
    struct inv v = {.r = r, .errors = json_array()};
    static const char *const known[] = {"seller", "buyer_name", "buyer_tin", "lines", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) {
        json_decref(v.errors);
        return 0;
    }
    v.seller = input_int(&in, "seller", 1, 1, LLONG_MAX, 0);
    v.buyer_name = input_str(&in, "buyer_name", 1, 2, 200);
    v.buyer_tin = input_str(&in, "buyer_tin", 0, 15, 20);
    v.lines = json_object_get(in.body, "lines");
    if (!json_is_array(v.lines) || json_array_size(v.lines) < 1 || json_array_size(v.lines) > LINES_MAX)
        input_error(&in, "lines", "must be a list of 1 to 100 lines");
    else {
        size_t i;
        json_t *l;
        json_array_foreach(v.lines, i, l) if (!json_is_object(l))
            input_error(&in, "lines", "every line is an object");
    }
    if (input_done(&in) != 0) {
        json_decref(v.errors);
        return 0;
    }
    int rc = store_tx(((struct app *)http_req_app(r))->db, 1, issue_tx, &v);
    return reply_inv(r, &v, rc, 201);
}

static int reverse_tx(store_conn *c, void *arg)
{
    struct inv *v = arg;
    json_t *orig = NULL;
    int rc = load_inv(c, v->reverse_of, 1, &orig);
    if (rc == STORE_DONE) {
        ifail(v, 404, "not_found", "no such invoice", NULL);
        return STORE_OK;
    }
    if (rc != STORE_OK) return rc;
    struct tax_taxpayer t;
    int access =
        tax_access_to(c, auth_principal(v->r), json_integer_value(json_object_get(orig, "seller")), &t);
    if (access <= TAX_NONE) {
        json_decref(orig);
        if (access < 0) return access;
        ifail(v, 404, "not_found", "no such invoice", NULL);
        return STORE_OK;
    }
    if (access != TAX_FILE) {
        json_decref(orig);
        ifail(v, 403, "forbidden", "only who may file for the seller reverses its invoices", NULL);
        return STORE_OK;
    }
    if (strcmp(json_string_value(json_object_get(orig, "kind")), "blue") ||
        strcmp(json_string_value(json_object_get(orig, "status")), "issued")) {
        ifail(v, 409, "conflict", "this invoice cannot be reversed", "id");
        snprintf(v->why, sizeof v->why, "%s",
                 strcmp(json_string_value(json_object_get(orig, "kind")), "blue")
                     ? "a red-letter invoice is not reversed"
                     : "reversed already (by red-letter invoice)");
        json_decref(orig);
        return STORE_OK;
    }
    /* the red-letter lines: the same lines, negative */
    json_t *lines = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(orig, "lines"), i, l)
    {
        json_t *n = json_deep_copy(l);
        json_object_set_new(n, "quantity", json_integer(-json_integer_value(json_object_get(l, "quantity"))));
        json_object_set_new(n, "amount_fen",
                            json_integer(-json_integer_value(json_object_get(l, "amount_fen"))));
        json_object_set_new(n, "tax_fen", json_integer(-json_integer_value(json_object_get(l, "tax_fen"))));
        json_array_append_new(lines, n);
    }
    char *lt = json_dumps(lines, JSON_COMPACT);
    json_decref(lines);
    const char *bt = json_string_value(json_object_get(orig, "buyer_tin"));
    rc = lt ? insert_inv(c, v, &t, "red", v->reverse_of,
                         json_string_value(json_object_get(orig, "buyer_name")), bt, lt,
                         -json_integer_value(json_object_get(orig, "amount_fen")),
                         -json_integer_value(json_object_get(orig, "tax_fen")), v->reason)
            : STORE_ERROR;
    free(lt);
    char onum[24];
    cpy(onum, sizeof onum, json_string_value(json_object_get(orig, "number")));
    json_decref(orig);
    if (rc != STORE_OK) return rc;
    store_stmt *st =
        store_prepare(c, "UPDATE tax_invoice SET status = 'reversed' WHERE id = $1 AND status = 'issued'");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, v->reverse_of);
    if ((rc = step_done(st)) != STORE_OK) return rc;
    if ((rc = load_inv(c, v->id, 1, &v->out)) != STORE_OK) return rc < 0 ? rc : STORE_ERROR;
    char obj[48], det[300];
    snprintf(obj, sizeof obj, "invoice %lld", v->reverse_of);
    snprintf(det, sizeof det, "{\"number\":\"%s\",\"red\":%lld}", onum, v->id);
    return auth_audit(v->r, c, "tax.invoice.reverse", obj, "ok", det);
}

int tax_api_invoice_reverse(http_req *r)
{
    struct inv v = {.r = r, .errors = json_array()};
    if (parse_int64(http_req_param(r, "id"), &v.reverse_of) != 0 || v.reverse_of <= 0) {
        json_decref(v.errors);
        return http_reply_error(r, 404, "not_found", "no such invoice", NULL);
    }
    static const char *const known[] = {"reason", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) {
        json_decref(v.errors);
        return 0;
    }
    v.reason = input_str(&in, "reason", 1, 2, 300);
    if (input_done(&in) != 0) {
        json_decref(v.errors);
        return 0;
    }
    int rc = store_tx(((struct app *)http_req_app(r))->db, 1, reverse_tx, &v);
    return reply_inv(r, &v, rc, 201);
}

static int inv_load(store_conn *c, long long id, json_t **out, long long *taxpayer)
{
    int rc = load_inv(c, id, 1, out);
    if (rc == STORE_OK) *taxpayer = json_integer_value(json_object_get(*out, "seller"));
    return rc;
}

static json_t *inv_row(store_stmt *st) { return inv_json(st, 1); }

int tax_api_invoice_get(http_req *r) { return tax_reply_record(r, "invoice", inv_load); }

int tax_api_invoices(http_req *r)
{
    return tax_reply_taxpayer_list(r, "invoices",
                                   INV_COLS " WHERE taxpayer_id = $1 ORDER BY id DESC LIMIT 200", inv_row);
}

/* ---------- public verification (查验) ---------- */

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static struct limit_pool *verify_pool;
static void pool_init(void) { verify_pool = limit_pool_new(VERIFY_RATE, VERIFY_BURST); }

/* 429 with Retry-After when the caller's address has used its allowance; 0 to go on. */
int tax_public_limited(http_req *r)
{
    pthread_once(&pool_once, pool_init);
    double wait = 0;
    if (!limit_pool_take(verify_pool, http_req_client(r), &wait)) return 0;
    char ra[16];
    snprintf(ra, sizeof ra, "%d", (int)wait + 1);
    http_add_header(r, "Retry-After", ra);
    http_reply_error(r, 429, "rate_limited", "too many look-ups from this address; try again later", NULL);
    return 1;
}

/* "123.45", "-12", "0.5" yuan → fen; -1 on a bad amount (*ok 0). */
static long long yuan_to_fen(const char *s, int *ok)
{
    *ok = 0;
    int neg = *s == '-';
    if (neg) s++;
    long long y = 0, f = 0;
    int nd = 0, nf = 0;
    for (; *s >= '0' && *s <= '9'; s++, nd++) {
        if (y > TAX_FEN_MAX / 1000) return -1;
        y = y * 10 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, nf++)
            if (nf < 2) f = f * 10 + (*s - '0');
        if (nf == 0 || nf > 2) return -1;
        if (nf == 1) f *= 10;
    }
    if (*s || !nd) return -1;
    *ok = 1;
    return (neg ? -1 : 1) * (y * 100 + f);
}

struct vq {
    const char *number, *date, *check;
    long long total;
    json_t *out;
};

static int verify_tx(store_conn *c, void *arg)
{
    struct vq *q = arg;
    store_stmt *st = store_prepare(c, INV_COLS " WHERE number = $1 AND issue_date = $2 AND total_fen = $3");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, q->number);
    store_bind_text(st, 2, q->date);
    store_bind_int64(st, 3, q->total);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        const char *cc = store_column_text(st, 2);
        size_t n = strlen(q->check);
        if ((n == 20 && !strcmp(cc, q->check)) || (n == 6 && !strcmp(cc + 14, q->check))) {
            q->out = inv_json(st, 0);
            json_object_del(q->out, "id");
            json_object_del(q->out, "seller");
            json_object_del(q->out, "created_at");
            json_object_del(q->out, "reason");
            json_object_del(q->out, "buyer_tin");
        }
    }
    store_finalize(st);
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

int tax_api_invoice_verify(http_req *r)
{
    if (tax_public_limited(r)) return 0;
    struct vq q = {.number = http_req_query(r, "number"),
                   .date = http_req_query(r, "date"),
                   .check = http_req_query(r, "check_code")};
    const char *amount = http_req_query(r, "amount");
    json_t *errs = json_array();
    int ok = 0, d;
    size_t nn = q.number ? strlen(q.number) : 0;
    int digits_only = 1;
    for (size_t i = 0; i < nn; i++) digits_only &= q.number[i] >= '0' && q.number[i] <= '9';
    if (!q.number || nn != 20 || !digits_only)
        json_array_append_new(errs, http_field_error("number", "is required: the invoice's 20 digits"));
    if (!q.date || calendar_date_parse(q.date, &d) != 0)
        json_array_append_new(errs, http_field_error("date", "is required: the issue date, YYYY-MM-DD"));
    if (amount) q.total = yuan_to_fen(amount, &ok);
    if (!ok)
        json_array_append_new(errs, http_field_error("amount", "is required: 价税合计 in yuan, e.g. 113.00"));
    size_t cn = q.check ? strlen(q.check) : 0;
    int cdig = 1;
    for (size_t i = 0; i < cn; i++) cdig &= q.check[i] >= '0' && q.check[i] <= '9';
    if (!q.check || (cn != 20 && cn != 6) || !cdig)
        json_array_append_new(errs,
                              http_field_error("check_code", "is required: its 20 digits or the last 6"));
    if (json_array_size(errs))
        return http_reply_error(r, 422, "validation_failed", "some fields are not valid", errs);
    json_decref(errs);
    if (store_tx(((struct app *)http_req_app(r))->db, 0, verify_tx, &q) != STORE_OK) {
        json_decref(q.out);
        return tax_reply_unavailable(r);
    }
    if (!q.out)
        return http_reply_error(r, 404, "no_match",
                                "no invoice matches this number, date, amount and check code (查无此票)",
                                NULL);
    const char *st = json_string_value(json_object_get(q.out, "status"));
    const char *kind = json_string_value(json_object_get(q.out, "kind"));
    const char *verdict = !strcmp(kind, "red")      ? "red_letter"
                          : !strcmp(st, "reversed") ? "reversed"
                                                    : "valid";
    return http_reply_json(r, 200, json_pack("{s:s, s:o}", "result", verdict, "invoice", q.out));
}
