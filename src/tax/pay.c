/*
 * pay.c — paying tax due under a three-party agreement (三方协议: taxpayer, bank, tax
 * office) through the treasury connector, the electronic payment voucher (电子缴款凭证),
 * the reconciliation of our payments with the treasury's ledger, and the tax payment
 * certificate (完税证明) issued as an electronic licence.
 *
 * Never debited twice, whatever crashes:
 *  - one live (pending or paid) payment per declaration: a partial unique index;
 *  - the client's idempotency key is unique per taxpayer: a retried request gets the
 *    payment it made the first time, never a second one;
 *  - the payment and its exchange message (key "tax.pay:<payment id>") are recorded in
 *    one transaction; the treasury records each key once in its own ledger and answers
 *    a repeated key with its first answer, so a worker that dies after the debit and
 *    before the completion only makes the treasury repeat itself.
 *
 * The treasury connector ("treasury") is simulated, like "sim": its ledger is the table
 * treasury_ledger.  It refuses an agreement whose account number ends in 0000 (no such
 * account) or whose account name is not the taxpayer's, and a debit from an account
 * ending in 9999 (insufficient funds).  exchange.sim_fail_rate and exchange.sim_delay_us
 * apply to it as to "sim" (the delay comes after the debit is recorded, so a crash in
 * it leaves a debit whose answer never arrived).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/input.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "calendar/calendar.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "engine/inbox.h"
#include "exchange/exchange.h"
#include "licence/licence.h"
#include "tax/internal.h"

#define TREASURY "treasury"

static json_int_t ji(long long v) { return (json_int_t)v; }

static int step_done(store_stmt *st)
{
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

static void cpy(char *d, size_t n, const char *s) { snprintf(d, n, "%s", s ? s : ""); }

/* The masked account number: the last four digits. */
static void mask_account(const char *acct, char out[40])
{
    size_t n = strlen(acct);
    snprintf(out, 40, "****%s", n > 4 ? acct + n - 4 : acct);
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

/* ---------- the simulated treasury ---------- */

static unsigned per_mille(void)
{
    unsigned v = 0;
    if (random_bytes(&v, sizeof v) != 0) return 999;
    return v % 1000;
}

static void reference(const char *prefix, const char *day, char out[48])
{
    unsigned char rnd[6] = {0};
    char hex[13];
    (void)random_bytes(rnd, sizeof rnd);
    hex_encode(rnd, sizeof rnd, hex);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    snprintf(out, 48, "%s-%.4s%.2s%.2s-%s", prefix, day, day + 5, day + 8, hex);
}

static void set_answer(struct exchange_answer *a, const char *outcome, const char *ref, const char *reason,
                       long long amount, const char *at)
{
    a->rc = EXCHANGE_ANSWERED;
    snprintf(a->outcome, sizeof a->outcome, "%s", outcome);
    json_t *o = json_pack("{s:I}", "amount_fen", ji(amount));
    if (ref) json_object_set_new(o, "reference", json_string(ref));
    if (reason && *reason) json_object_set_new(o, "reason", json_string(reason));
    if (at) json_object_set_new(o, "at", json_string(at));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    a->result.len = 0;
    if (s)
        sb_printf(&a->result, "%s", s);
    else
        a->result.oom = 1;
    free(s);
}

struct debit {
    const struct exchange_msg *m;
    const char *agreement, *account;
    long long amount;
    struct exchange_answer *ans;
    int recorded; /* 1: this call wrote the ledger row */
};

static int debit_tx(store_conn *c, void *arg)
{
    struct debit *d = arg;
    d->recorded = 0;
    store_stmt *st = store_prepare(
        c, "SELECT outcome, reference, reason, amount_fen, at FROM treasury_ledger WHERE idem_key = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, d->m->idem_key);
    int rc = store_step(st);
    if (rc == STORE_ROW) { /* debited (or refused) before: the same answer again */
        set_answer(d->ans, store_column_text(st, 0),
                   store_column_is_null(st, 1) ? NULL : store_column_text(st, 1),
                   store_column_is_null(st, 2) ? NULL : store_column_text(st, 2), store_column_int64(st, 3),
                   store_column_text(st, 4));
        store_finalize(st);
        return STORE_OK;
    }
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char ts[48], day[11], ref[48] = "";
    time_rfc3339(now_wall(), ts, sizeof ts);
    exchange_day(exchange_now_ms(), day);
    int refuse = ends_with(d->account, "9999");
    const char *why = refuse ? "余额不足 insufficient funds" : NULL;
    if (!refuse) reference("TR", day, ref);
    st =
        store_prepare(c, "INSERT INTO treasury_ledger(idem_key, agreement_no, amount_fen, outcome, reference,"
                         " reason, at, day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                         " ON CONFLICT (idem_key) DO NOTHING RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, d->m->idem_key);
    store_bind_text(st, 2, d->agreement);
    store_bind_int64(st, 3, d->amount);
    store_bind_text(st, 4, refuse ? "refused" : "ok");
    if (refuse)
        store_bind_null(st, 5);
    else
        store_bind_text(st, 5, ref);
    if (why)
        store_bind_text(st, 6, why);
    else
        store_bind_null(st, 6);
    store_bind_text(st, 7, ts);
    store_bind_text(st, 8, day);
    rc = store_step(st);
    store_finalize(st);
    /* another worker recorded this key a moment ago: run again and answer with its record */
    if (rc == STORE_DONE) return STORE_BUSY;
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    d->recorded = 1;
    set_answer(d->ans, refuse ? "refused" : "ok", refuse ? NULL : ref, why, d->amount, ts);
    return STORE_OK;
}

static int treasury_call(const struct exchange_ctx *ctx, const struct exchange_msg *msg,
                         struct exchange_answer *ans)
{
    json_t *p = json_loads(msg->payload ? msg->payload : "{}", 0, NULL);
    const char *agreement = json_string_value(json_object_get(p, "agreement_no"));
    const char *account = json_string_value(json_object_get(p, "account_no"));
    json_t *amount = json_object_get(p, "amount_fen");
    if (!msg->idem_key || strcmp(msg->kind, "tax.pay") || !agreement || !account ||
        !json_is_integer(amount) || json_integer_value(amount) <= 0) {
        json_decref(p);
        ans->rc = EXCHANGE_PERMANENT;
        snprintf(ans->error, sizeof ans->error, "the treasury cannot read this %s message", msg->kind);
        return ans->rc;
    }
    unsigned draw = ctx->cfg && ctx->cfg->exchange_sim_fail_rate > 0 ? per_mille() : 1000;
    long long rate = ctx->cfg ? ctx->cfg->exchange_sim_fail_rate : 0;
    if (draw < (unsigned)(rate / 2)) { /* fails before the treasury records anything */
        json_decref(p);
        ans->rc = EXCHANGE_TRANSIENT;
        snprintf(ans->error, sizeof ans->error, "treasury: injected failure (before)");
        return ans->rc;
    }
    struct debit d = {msg, agreement, account, json_integer_value(amount), ans, 0};
    int rc = store_tx(ctx->db, 1, debit_tx, &d);
    json_decref(p);
    if (rc != STORE_OK) {
        ans->rc = EXCHANGE_TRANSIENT;
        snprintf(ans->error, sizeof ans->error, "treasury: ledger unavailable (%d)", rc);
        return ans->rc;
    }
    if (ctx->cfg && ctx->cfg->exchange_sim_delay_us > 0) usleep((useconds_t)ctx->cfg->exchange_sim_delay_us);
    if (draw < (unsigned)rate) { /* recorded, but the reply is lost */
        ans->rc = EXCHANGE_TRANSIENT;
        snprintf(ans->error, sizeof ans->error, "treasury: injected failure (reply lost)");
    }
    return ans->rc;
}

/* Agreement verification, answered at once (nothing recorded). */
static int treasury_query(const struct exchange_ctx *ctx, const char *kind, const char *payload,
                          struct exchange_answer *ans)
{
    (void)ctx;
    json_t *p = json_loads(payload ? payload : "{}", 0, NULL);
    const char *account = json_string_value(json_object_get(p, "account_no"));
    const char *aname = json_string_value(json_object_get(p, "account_name"));
    const char *tname = json_string_value(json_object_get(p, "taxpayer_name"));
    if (strcmp(kind, "tax.agreement.verify") || !account || !aname || !tname) {
        json_decref(p);
        ans->rc = EXCHANGE_PERMANENT;
        snprintf(ans->error, sizeof ans->error, "the treasury cannot answer %s", kind);
        return ans->rc;
    }
    char day[11], ref[48];
    exchange_day(exchange_now_ms(), day);
    reference("SFXY", day, ref);
    if (ends_with(account, "0000"))
        set_answer(ans, "refused", NULL, "账户不存在 no such account at this bank", 0, NULL);
    else if (strcmp(aname, tname))
        set_answer(ans, "refused", NULL, "户名不符 the account name is not the taxpayer's", 0, NULL);
    else
        set_answer(ans, "ok", ref, NULL, 0, NULL);
    json_decref(p);
    return ans->rc;
}

static const struct exchange_connector treasury_connector = {TREASURY, treasury_call, NULL, treasury_query};

/* ---------- three-party agreements ---------- */

static json_t *agreement_json(store_stmt *st)
{
    char masked[40];
    mask_account(store_column_text(st, 4), masked);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", ji(store_column_int64(st, 0)),
                     "taxpayer", ji(store_column_int64(st, 1)), "agreement_no", store_column_text(st, 2),
                     "bank_code", store_column_text(st, 3), "account_no", masked, "bank_name",
                     store_column_text(st, 5), "account_name", store_column_text(st, 6), "status",
                     store_column_text(st, 7), "created_at", store_column_text(st, 8));
}

#define AGREEMENT_COLS                                                                                       \
    "SELECT id, taxpayer_id, agreement_no, bank_code, account_no, bank_name, account_name, status, "         \
    "created_at FROM tax_agreement"

struct agr {
    http_req *r;
    long long taxpayer;
    const char *bank_code, *bank_name, *account_no, *account_name;
    int phase; /* 0 check, 1 record */
    int access;
    struct tax_taxpayer t;
    char holder[256]; /* the name the account must bear (a person's in clear) */
    char agreement_no[48];
    long long id;
    int dup;
    json_t *out;
};

static int agr_tx(store_conn *c, void *arg)
{
    struct agr *a = arg;
    int rc = tax_taxpayer_load(c, a->taxpayer, &a->t);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_OK) return rc;
    a->access = tax_access(c, auth_principal(a->r), &a->t);
    if (a->phase == 0) {
        cpy(a->holder, sizeof a->holder, a->t.name);
        if (strcmp(a->t.kind, "person")) return STORE_OK;
        /* a person's name is shown masked: the treasury compares the real one */
        store_stmt *st = store_prepare(c, "SELECT name_enc FROM taxpayer WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, a->taxpayer);
        rc = store_step(st);
        char *name =
            rc == STORE_ROW && !store_column_is_null(st, 0) ? keys_open(store_column_text(st, 0)) : NULL;
        store_finalize(st);
        if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        if (name) {
            cpy(a->holder, sizeof a->holder, name);
            crypto_wipe(name, strlen(name));
            free(name);
        }
        return STORE_OK;
    }
    if (a->phase == 2) { /* list */
        if (a->access == TAX_NONE) return STORE_OK;
        store_stmt *st = store_prepare(c, AGREEMENT_COLS " WHERE taxpayer_id = $1 ORDER BY id");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, a->taxpayer);
        while ((rc = store_step(st)) == STORE_ROW) json_array_append_new(a->out, agreement_json(st));
        store_finalize(st);
        return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
    }
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "INSERT INTO tax_agreement(taxpayer_id, agreement_no, bank_code, bank_name,"
                         " account_no, account_name, status, created_by, created_at)"
                         " VALUES ($1, $2, $3, $4, $5, $6, 'verified', $7, $8) RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, a->taxpayer);
    store_bind_text(st, 2, a->agreement_no);
    store_bind_text(st, 3, a->bank_code);
    store_bind_text(st, 4, a->bank_name);
    store_bind_text(st, 5, a->account_no);
    store_bind_text(st, 6, a->account_name);
    store_bind_int64(st, 7, auth_principal(a->r)->account);
    store_bind_text(st, 8, ts);
    rc = store_step(st);
    if (rc == STORE_ROW) a->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc == STORE_CONSTRAINT) {
        a->dup = 1;
        return STORE_CONSTRAINT;
    }
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char obj[48], masked[40], det[300];
    mask_account(a->account_no, masked);
    snprintf(obj, sizeof obj, "taxpayer %lld", a->taxpayer);
    snprintf(det, sizeof det,
             "{\"agreement\":%lld,\"agreement_no\":\"%s\",\"bank_code\":\"%s\",\"account\":\"%s\"}", a->id,
             a->agreement_no, a->bank_code, masked);
    return auth_audit(a->r, c, "tax.agreement.register", obj, "ok", det);
}

static int digits(const char *s, size_t lo, size_t hi)
{
    size_t n = strlen(s);
    if (n < lo || n > hi) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

int tax_api_agreement_create(http_req *r)
{
    struct agr a = {.r = r};
    if (parse_int64(http_req_param(r, "id"), &a.taxpayer) != 0 || a.taxpayer <= 0)
        return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    static const char *const known[] = {"bank_code", "bank_name", "account_no", "account_name", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    a.bank_code = input_str(&in, "bank_code", 1, 3, 12);
    a.bank_name = input_str(&in, "bank_name", 1, 2, 100);
    a.account_no = input_str(&in, "account_no", 1, 8, 32);
    a.account_name = input_str(&in, "account_name", 1, 2, 200);
    if (a.bank_code && !digits(a.bank_code, 3, 12)) input_error(&in, "bank_code", "must be 3 to 12 digits");
    if (a.account_no && !digits(a.account_no, 8, 32))
        input_error(&in, "account_no", "must be 8 to 32 digits");
    if (input_done(&in) != 0) return 0;
    store *db = ((struct app *)http_req_app(r))->db;
    if (store_tx(db, 0, agr_tx, &a) != STORE_OK) return tax_reply_unavailable(r);
    if (a.access == TAX_NONE) return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    if (a.access != TAX_FILE)
        return http_reply_error(r, 403, "forbidden", "only the taxpayer (ent.file) signs its agreements",
                                NULL);
    /* the treasury verifies the agreement with the bank, at once */
    json_t *q = json_pack("{s:s, s:s, s:s, s:s, s:s}", "tin", a.t.tin, "taxpayer_name", a.holder, "bank_code",
                          a.bank_code, "account_no", a.account_no, "account_name", a.account_name);
    char *qt = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    struct exchange_answer ans = {0};
    int crc = qt ? exchange_call_direct(TREASURY, "tax.agreement.verify", qt, &ans) : EXCHANGE_PERMANENT;
    free(qt);
    crypto_wipe(a.holder, sizeof a.holder);
    json_t *res = ans.result.data ? json_loads(ans.result.data, 0, NULL) : NULL;
    sb_free(&ans.result);
    if (crc != EXCHANGE_ANSWERED) {
        json_decref(res);
        return http_reply_error(r, 503, "unavailable", "the treasury cannot be reached; try again shortly",
                                NULL);
    }
    if (strcmp(ans.outcome, "ok")) {
        char why[300];
        snprintf(why, sizeof why, "the treasury refuses the agreement: %s",
                 json_string_value(json_object_get(res, "reason"))
                     ? json_string_value(json_object_get(res, "reason"))
                     : "refused");
        json_decref(res);
        return http_reply_error(r, 422, "validation_failed", "the agreement was not verified",
                                json_pack("[o]", http_field_error("account_no", why)));
    }
    cpy(a.agreement_no, sizeof a.agreement_no, json_string_value(json_object_get(res, "reference")));
    json_decref(res);
    a.phase = 1;
    int rc = store_tx(db, 1, agr_tx, &a);
    if (a.dup)
        return http_reply_error(r, 409, "conflict", "this account is registered already",
                                json_pack("[o]", http_field_error("account_no", "registered already")));
    if (rc != STORE_OK) return tax_reply_unavailable(r);
    char masked[40];
    mask_account(a.account_no, masked);
    return http_reply_json(r, 201,
                           json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id", ji(a.id), "taxpayer",
                                     ji(a.taxpayer), "agreement_no", a.agreement_no, "bank_code", a.bank_code,
                                     "bank_name", a.bank_name, "account_no", masked, "account_name",
                                     a.account_name, "status", "verified"));
}

int tax_api_agreements(http_req *r)
{
    struct agr a = {.r = r, .phase = 2, .out = json_array()};
    if (parse_int64(http_req_param(r, "id"), &a.taxpayer) != 0 || a.taxpayer <= 0) {
        json_decref(a.out);
        return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    }
    if (store_tx(((struct app *)http_req_app(r))->db, 0, agr_tx, &a) != STORE_OK) {
        json_decref(a.out);
        return tax_reply_unavailable(r);
    }
    if (a.access == TAX_NONE) {
        json_decref(a.out);
        return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "agreements", a.out));
}

/* ---------- payments ---------- */

#define PAY_COLS                                                                                             \
    "SELECT p.id, p.taxpayer_id, p.declaration_id, p.agreement_id, p.amount_fen, p.status, p.treasury_ref,"  \
    " p.reason, p.voucher_no, p.voucher, p.certificate, p.created_at, p.answered_at, p.client_key,"          \
    " d.tax, d.period FROM tax_payment p JOIN tax_declaration d ON d.id = p.declaration_id"

static json_t *payment_json(store_stmt *st)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "id", ji(store_column_int64(st, 0)), "taxpayer",
        ji(store_column_int64(st, 1)), "declaration", ji(store_column_int64(st, 2)), "agreement",
        ji(store_column_int64(st, 3)), "amount_fen", ji(store_column_int64(st, 4)), "status",
        store_column_text(st, 5), "created_at", store_column_text(st, 11), "idempotency_key",
        store_column_text(st, 13), "tax", store_column_text(st, 14), "period", store_column_text(st, 15));
    if (!store_column_is_null(st, 6))
        json_object_set_new(o, "treasury_ref", json_string(store_column_text(st, 6)));
    if (!store_column_is_null(st, 7)) json_object_set_new(o, "reason", json_string(store_column_text(st, 7)));
    if (!store_column_is_null(st, 9))
        json_object_set_new(o, "voucher", json_loads(store_column_text(st, 9), 0, NULL));
    if (!store_column_is_null(st, 10))
        json_object_set_new(o, "certificate", json_string(store_column_text(st, 10)));
    if (!store_column_is_null(st, 12))
        json_object_set_new(o, "answered_at", json_string(store_column_text(st, 12)));
    return o;
}

struct pay {
    http_req *r;
    long long decl, agreement, amount; /* amount: -1 when not given */
    const char *key;
    int status;
    const char *code, *message, *field, *field_msg;
    char msgbuf[200];
    long long id;
    int replay; /* 1: the key was used before: the earlier payment */
    json_t *out;
};

static void pfail(struct pay *p, int status, const char *code, const char *message, const char *field,
                  const char *fmsg)
{
    p->status = status;
    p->code = code;
    p->message = message;
    p->field = field;
    p->field_msg = fmsg;
}

static int load_payment(store_conn *c, const char *where, long long a, const char *b, json_t **out)
{
    char sql[1024];
    snprintf(sql, sizeof sql, PAY_COLS " WHERE %s", where);
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, a);
    if (b) store_bind_text(st, 2, b);
    int rc = store_step(st);
    if (rc == STORE_ROW) *out = payment_json(st);
    store_finalize(st);
    return rc == STORE_ROW ? STORE_OK : rc == STORE_DONE ? STORE_DONE : rc < 0 ? rc : STORE_ERROR;
}

static int pay_tx(store_conn *c, void *arg)
{
    struct pay *p = arg;
    json_decref(p->out);
    p->out = NULL;
    p->status = 0;
    store_stmt *st = store_prepare(c, "SELECT taxpayer_id, tax_due_fen, status, current, tax, period FROM"
                                      " tax_declaration WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->decl);
    int rc = store_step(st);
    long long tp = 0, due = 0;
    int current = 0;
    char dstatus[16] = "", tax[8] = "", period[12] = "";
    if (rc == STORE_ROW) {
        tp = store_column_int64(st, 0);
        due = store_column_int64(st, 1);
        cpy(dstatus, sizeof dstatus, store_column_text(st, 2));
        current = (int)store_column_int64(st, 3);
        cpy(tax, sizeof tax, store_column_text(st, 4));
        cpy(period, sizeof period, store_column_text(st, 5));
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    struct tax_taxpayer t;
    int access = rc == STORE_ROW ? tax_access_to(c, auth_principal(p->r), tp, &t) : TAX_NONE;
    if (access < 0) return access;
    if (access == TAX_NONE) {
        pfail(p, 404, "not_found", "no such declaration", NULL, NULL);
        return STORE_OK;
    }
    if (access != TAX_FILE) {
        pfail(p, 403, "forbidden", "only who may file for the taxpayer pays its tax", NULL, NULL);
        return STORE_OK;
    }
    /* the same idempotency key again: the payment it made */
    rc = load_payment(c, "p.taxpayer_id = $1 AND p.client_key = $2", tp, p->key, &p->out);
    if (rc == STORE_OK) {
        if (json_integer_value(json_object_get(p->out, "declaration")) != p->decl) {
            json_decref(p->out);
            p->out = NULL;
            pfail(p, 409, "conflict", "this idempotency key was used for another declaration",
                  "idempotency_key", "used for another payment");
            return STORE_OK;
        }
        p->replay = 1;
        return STORE_OK;
    }
    if (rc != STORE_DONE) return rc;
    if (!current || strcmp(dstatus, "accepted")) {
        snprintf(p->msgbuf, sizeof p->msgbuf,
                 "the declaration is %s: only a current declaration accepted by the"
                 " core tax system is paid",
                 current ? dstatus : "superseded");
        pfail(p, 409, "conflict", "this declaration cannot be paid now", "id", p->msgbuf);
        return STORE_OK;
    }
    if (due <= 0) {
        pfail(p, 409, "conflict", "nothing to pay", "id", "the tax due is 0");
        return STORE_OK;
    }
    if (p->amount >= 0 && p->amount != due) {
        snprintf(p->msgbuf, sizeof p->msgbuf, "must be the tax due, %lld fen", due);
        pfail(p, 422, "validation_failed", "some fields are not valid", "amount_fen", p->msgbuf);
        return STORE_OK;
    }
    /* a live payment of this declaration under another key */
    json_t *other = NULL;
    rc = load_payment(c, "p.declaration_id = $1 AND p.status <> 'failed'", p->decl, NULL, &other);
    if (rc == STORE_OK) {
        snprintf(p->msgbuf, sizeof p->msgbuf, "payment %" JSON_INTEGER_FORMAT " is %s already",
                 json_integer_value(json_object_get(other, "id")),
                 json_string_value(json_object_get(other, "status")));
        json_decref(other);
        pfail(p, 409, "conflict", "this declaration is paid or being paid", "id", p->msgbuf);
        return STORE_OK;
    }
    if (rc != STORE_DONE) return rc;
    st = store_prepare(c, "SELECT agreement_no, account_no, status FROM tax_agreement WHERE id = $1 AND"
                          " taxpayer_id = $2");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->agreement);
    store_bind_int64(st, 2, tp);
    rc = store_step(st);
    char agreement_no[48] = "", account[40] = "";
    if (rc == STORE_ROW) {
        cpy(agreement_no, sizeof agreement_no, store_column_text(st, 0));
        cpy(account, sizeof account, store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc == STORE_DONE) {
        pfail(p, 422, "validation_failed", "some fields are not valid", "agreement",
              "no verified three-party agreement of this taxpayer with this id");
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    st = store_prepare(
        c, "INSERT INTO tax_payment(taxpayer_id, declaration_id, agreement_id, amount_fen, client_key,"
           " status, created_by, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)"
           " RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, tp);
    store_bind_int64(st, 2, p->decl);
    store_bind_int64(st, 3, p->agreement);
    store_bind_int64(st, 4, due);
    store_bind_text(st, 5, p->key);
    store_bind_int64(st, 6, auth_principal(p->r)->account);
    store_bind_text(st, 7, ts);
    rc = store_step(st);
    if (rc == STORE_ROW) p->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc == STORE_CONSTRAINT) return STORE_BUSY; /* a concurrent request: run again, it sees that one */
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char key[64];
    snprintf(key, sizeof key, "tax.pay:%lld", p->id);
    json_t *payload = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:I}", "payment", ji(p->id),
                                "declaration", ji(p->decl), "tin", t.tin, "tax", tax, "period", period,
                                "agreement_no", agreement_no, "account_no", account, "amount_fen", ji(due));
    char *ptext = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(payload);
    if (!ptext) return STORE_ERROR;
    long long msg = 0;
    rc = exchange_enqueue(c, key, "tax.pay", TREASURY, 0, ptext, &msg);
    free(ptext);
    if (rc != STORE_OK) return rc;
    st = store_prepare(c, "UPDATE tax_payment SET msg_id = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->id);
    store_bind_int64(st, 2, msg);
    if ((rc = step_done(st)) != STORE_OK) return rc;
    char obj[48], det[300];
    snprintf(obj, sizeof obj, "declaration %lld", p->decl);
    snprintf(det, sizeof det, "{\"payment\":%lld,\"taxpayer\":%lld,\"amount_fen\":%lld,\"agreement\":\"%s\"}",
             p->id, tp, due, agreement_no);
    if ((rc = auth_audit(p->r, c, "tax.pay", obj, "submitted", det)) != STORE_OK) return rc;
    return load_payment(c, "p.id = $1", p->id, NULL, &p->out) == STORE_OK ? STORE_OK : STORE_ERROR;
}

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 8 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = k[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

int tax_api_pay(http_req *r)
{
    struct pay p = {.r = r, .amount = -1};
    if (parse_int64(http_req_param(r, "id"), &p.decl) != 0 || p.decl <= 0)
        return http_reply_error(r, 404, "not_found", "no such declaration", NULL);
    static const char *const known[] = {"agreement", "amount_fen", "idempotency_key", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    p.agreement = input_int(&in, "agreement", 1, 1, LLONG_MAX, 0);
    p.amount = input_int(&in, "amount_fen", 0, 1, TAX_FEN_MAX, -1);
    const char *bkey = input_str(&in, "idempotency_key", 0, 8, 64);
    const char *hkey = http_req_header(r, "Idempotency-Key");
    p.key = hkey ? hkey : bkey;
    if (hkey && bkey && strcmp(hkey, bkey))
        input_error(&in, "idempotency_key", "differs from the Idempotency-Key header");
    else if (!p.key)
        input_error(&in, "idempotency_key",
                    "is required (or the Idempotency-Key header): 8 to 64 of A-Z a-z 0-9 - _ . :");
    else if (!key_ok(p.key))
        input_error(&in, "idempotency_key", "must be 8 to 64 of A-Z a-z 0-9 - _ . :");
    if (input_done(&in) != 0) return 0;
    int rc = store_tx(((struct app *)http_req_app(r))->db, 1, pay_tx, &p);
    if (rc != STORE_OK) {
        json_decref(p.out);
        return tax_reply_unavailable(r);
    }
    if (p.status) {
        json_decref(p.out);
        json_t *det = p.field ? json_pack("[o]", http_field_error(p.field, p.field_msg)) : NULL;
        return http_reply_error(r, (unsigned)p.status, p.code, p.message, det);
    }
    if (!p.replay) exchange_kick();
    return http_reply_json(r, p.replay ? 200 : 202, p.out);
}

static int pay_load(store_conn *c, long long id, json_t **out, long long *taxpayer)
{
    int rc = load_payment(c, "p.id = $1", id, NULL, out);
    if (rc == STORE_OK) *taxpayer = json_integer_value(json_object_get(*out, "taxpayer"));
    return rc;
}

int tax_api_payment(http_req *r) { return tax_reply_record(r, "payment", pay_load); }

int tax_api_payments(http_req *r)
{
    return tax_reply_taxpayer_list(
        r, "payments", PAY_COLS " WHERE p.taxpayer_id = $1 ORDER BY p.id DESC LIMIT 200", payment_json);
}

/* ---------- the treasury's answer: the electronic payment voucher ---------- */

static int on_pay_result(store_conn *c, long long msg_id, long long case_id, const char *kind,
                         const char *outcome, const char *result_json)
{
    (void)case_id;
    (void)kind;
    store_stmt *st = store_prepare(
        c, "SELECT p.id, p.amount_fen, p.created_by, d.id, d.tax, d.period, a.agreement_no, a.bank_name,"
           " a.account_no, t.name, COALESCE(t.uscc, ''), t.office FROM tax_payment p"
           " JOIN tax_declaration d ON d.id = p.declaration_id JOIN tax_agreement a ON a.id = p.agreement_id"
           " JOIN taxpayer t ON t.id = p.taxpayer_id WHERE p.msg_id = $1 AND p.status = 'pending'");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, msg_id);
    int rc = store_step(st);
    if (rc == STORE_DONE) {
        store_finalize(st);
        return STORE_OK; /* answered before */
    }
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc < 0 ? rc : STORE_ERROR;
    }
    long long id = store_column_int64(st, 0), amount = store_column_int64(st, 1),
              payer = store_column_int64(st, 2), decl = store_column_int64(st, 3);
    char tax[8], period[12], agreement[48], bank[128], acct[40], name[256], tin[24], office[65];
    cpy(tax, sizeof tax, store_column_text(st, 4));
    cpy(period, sizeof period, store_column_text(st, 5));
    cpy(agreement, sizeof agreement, store_column_text(st, 6));
    cpy(bank, sizeof bank, store_column_text(st, 7));
    mask_account(store_column_text(st, 8), acct);
    cpy(name, sizeof name, store_column_text(st, 9));
    cpy(tin, sizeof tin, store_column_text(st, 10));
    cpy(office, sizeof office, store_column_text(st, 11));
    store_finalize(st);
    json_t *res = json_loads(result_json ? result_json : "{}", 0, NULL);
    const char *ref = json_string_value(json_object_get(res, "reference"));
    const char *why = json_string_value(json_object_get(res, "reason"));
    const char *at = json_string_value(json_object_get(res, "at"));
    int ok = !strcmp(outcome, "ok");
    char ts[48], day[11], vno[40] = "";
    time_rfc3339(now_wall(), ts, sizeof ts);
    exchange_day(exchange_now_ms(), day);
    char *vtext = NULL;
    if (ok) {
        snprintf(vno, sizeof vno, "PZ%.4s%.2s%.2s%010lld", day, day + 5, day + 8, id);
        json_t *v =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "title",
                      "电子缴款凭证 Electronic payment voucher", "voucher_no", vno, "taxpayer_name", name,
                      "tin", tin, "tax", tax, "period", period, "declaration", ji(decl), "amount_fen",
                      ji(amount), "treasury_ref", ref ? ref : "", "agreement_no", agreement, "bank_name",
                      bank, "account_no", acct, "tax_office", office, "paid_at", at ? at : ts);
        char *canon = licence_canonical(v);
        unsigned char dg[SM3_DIGEST_LEN];
        char hex[2 * SM3_DIGEST_LEN + 1] = "";
        if (canon && crypto_sm3(canon, strlen(canon), dg) == 0) hex_encode(dg, sizeof dg, hex);
        free(canon);
        json_object_set_new(v, "sm3", json_string(hex));
        vtext = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(v);
        if (!vtext) {
            json_decref(res);
            return STORE_ERROR;
        }
    }
    st = store_prepare(
        c, "UPDATE tax_payment SET status = $2, treasury_ref = $3, reason = $4, voucher_no = $5,"
           " voucher = $6, answered_day = $7, answered_at = $8 WHERE id = $1 AND status = 'pending'");
    if (!st) {
        free(vtext);
        json_decref(res);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, id);
    store_bind_text(st, 2, ok ? "paid" : "failed");
    if (ok && ref)
        store_bind_text(st, 3, ref);
    else
        store_bind_null(st, 3);
    if (ok)
        store_bind_null(st, 4);
    else
        store_bind_text(st, 4, why ? why : "refused by the treasury");
    if (ok) {
        store_bind_text(st, 5, vno);
        store_bind_text(st, 6, vtext);
    } else {
        store_bind_null(st, 5);
        store_bind_null(st, 6);
    }
    store_bind_text(st, 7, day);
    store_bind_text(st, 8, ts);
    rc = step_done(st);
    free(vtext);
    if (rc != STORE_OK) {
        json_decref(res);
        return rc;
    }
    char title[200], body[600];
    if (ok) {
        snprintf(title, sizeof title, "缴款成功 Tax paid: %s %s", tax, period);
        snprintf(body, sizeof body, "已缴纳税款 %lld.%02lld 元，电子缴款凭证号 %s。", amount / 100,
                 amount % 100, vno);
    } else {
        snprintf(title, sizeof title, "缴款失败 Payment failed: %s %s", tax, period);
        snprintf(body, sizeof body, "扣款未成功：%s。请检查账户后重新缴款。", why ? why : "-");
    }
    json_decref(res);
    if (inbox_notify(c, payer, 0, ok ? "tax.paid" : "tax.pay_failed", title, body, 0) != STORE_OK)
        log_warn("tax: payment %lld: the notice failed", id);
    return STORE_OK;
}

void tax_pay_setup(void)
{
    exchange_register_connector(&treasury_connector);
    exchange_on_result("tax.pay", on_pay_result);
}

/* ---------- the tax payment certificate (完税证明) ---------- */

struct cert {
    http_req *r;
    long long id;
    int status;
    const char *code, *message, *field;
    char why[300];
    char licence[LICENCE_ID_MAX];
    int existed;
};

static int cert_tx(store_conn *c, void *arg)
{
    struct cert *k = arg;
    k->status = 0;
    store_stmt *st = store_prepare(
        c, "SELECT p.taxpayer_id, p.status, p.certificate, p.amount_fen, p.voucher_no, d.period_start, "
           "d.period_end,"
           " d.tax FROM tax_payment p JOIN tax_declaration d ON d.id = p.declaration_id WHERE p.id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, k->id);
    int rc = store_step(st);
    long long tp = 0, amount = 0;
    char status[16] = "", cert[LICENCE_ID_MAX] = "", vno[40] = "", ps[11] = "", pe[11] = "", tax[8] = "";
    if (rc == STORE_ROW) {
        tp = store_column_int64(st, 0);
        cpy(status, sizeof status, store_column_text(st, 1));
        if (!store_column_is_null(st, 2)) cpy(cert, sizeof cert, store_column_text(st, 2));
        amount = store_column_int64(st, 3);
        if (!store_column_is_null(st, 4)) cpy(vno, sizeof vno, store_column_text(st, 4));
        cpy(ps, sizeof ps, store_column_text(st, 5));
        cpy(pe, sizeof pe, store_column_text(st, 6));
        cpy(tax, sizeof tax, store_column_text(st, 7));
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    struct tax_taxpayer t;
    int access = rc == STORE_ROW ? tax_access_to(c, auth_principal(k->r), tp, &t) : TAX_NONE;
    if (access < 0) return access;
    if (access == TAX_NONE) {
        k->status = 404, k->code = "not_found", k->message = "no such payment";
        return STORE_OK;
    }
    if (access != TAX_FILE) {
        k->status = 403, k->code = "forbidden", k->message = "only who may file for the taxpayer requests it";
        return STORE_OK;
    }
    if (cert[0]) {
        cpy(k->licence, sizeof k->licence, cert);
        k->existed = 1;
        return STORE_OK;
    }
    if (strcmp(status, "paid")) {
        k->status = 409, k->code = "conflict", k->message = "only a paid payment has a certificate",
        k->field = "id";
        snprintf(k->why, sizeof k->why, "the payment is %s", status);
        return STORE_OK;
    }
    if (strcmp(t.kind, "enterprise")) {
        k->status = 409, k->code = "conflict", k->message = "certificates are issued to enterprises here",
        k->field = "id";
        snprintf(k->why, sizeof k->why, "a person's certificate is not available yet");
        return STORE_OK;
    }
    static const char *const names[] = {"vat", "增值税", "cit", "企业所得税", "iit", "个人所得税（代扣代缴）",
                                        NULL};
    const char *tname = tax;
    for (int i = 0; names[i]; i += 2)
        if (!strcmp(names[i], tax)) tname = names[i + 1];
    json_t *data = json_pack("{s:s, s:s, s:s, s:I, s:s}", "tax_type", tname, "period_from", ps, "period_to",
                             pe, "amount_fen", ji(amount), "voucher_no", vno);
    char source[64];
    snprintf(source, sizeof source, "tax.payment:%lld", k->id);
    rc = licence_issue_tx(c, "tax_payment_certificate", t.name, t.tin, data, source, 0, 0, k->licence, k->why,
                          sizeof k->why);
    json_decref(data);
    if (rc == 1) {
        k->status = 409, k->code = "conflict", k->message = "the certificate cannot be issued",
        k->field = "id";
        return STORE_OK;
    }
    if (rc != STORE_OK) return rc;
    st = store_prepare(c, "UPDATE tax_payment SET certificate = $2 WHERE id = $1 AND certificate IS NULL");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, k->id);
    store_bind_text(st, 2, k->licence);
    if ((rc = step_done(st)) != STORE_OK) return rc;
    char obj[48], det[200];
    snprintf(obj, sizeof obj, "payment %lld", k->id);
    snprintf(det, sizeof det, "{\"licence\":\"%s\",\"taxpayer\":%lld}", k->licence, tp);
    return auth_audit(k->r, c, "tax.certificate", obj, "ok", det);
}

int tax_api_certificate(http_req *r)
{
    struct cert k = {.r = r};
    if (parse_int64(http_req_param(r, "id"), &k.id) != 0 || k.id <= 0)
        return http_reply_error(r, 404, "not_found", "no such payment", NULL);
    int rc = store_tx(((struct app *)http_req_app(r))->db, 1, cert_tx, &k);
    if (rc != STORE_OK) return tax_reply_unavailable(r);
    if (k.status)
        return http_reply_error(r, (unsigned)k.status, k.code, k.message,
                                k.field ? json_pack("[o]", http_field_error(k.field, k.why)) : NULL);
    char verify[160];
    snprintf(verify, sizeof verify, "/api/v1/public/licences/%s/status", k.licence);
    return http_reply_json(
        r, k.existed ? 200 : 201,
        json_pack("{s:I, s:s, s:s}", "payment", ji(k.id), "licence", k.licence, "verify", verify));
}

/* ---------- reconciliation with the treasury's ledger ---------- */

struct rside {
    char key[64], outcome[16], ref[48], day[11], state[16];
    long long amount;
};

struct recon {
    const char *day;
    struct rside *ours, *theirs;
    size_t nours, ntheirs, cap_o, cap_t;
    int phase; /* 0 load, 1 lookup */
    const char *lkey;
    int lfound;
    struct rside look;
};

static int push(struct rside **v, size_t *n, size_t *cap, const struct rside *e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct rside *nv = realloc(*v, nc * sizeof *nv);
        if (!nv) return -1;
        *v = nv, *cap = nc;
    }
    (*v)[(*n)++] = *e;
    return 0;
}

static int load_tx(store_conn *c, void *arg)
{
    struct recon *x = arg;
    x->nours = x->ntheirs = 0;
    store_stmt *st =
        store_prepare(c, "SELECT id, status, COALESCE(treasury_ref, ''), amount_fen, answered_day FROM"
                         " tax_payment WHERE answered_day = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->day);
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        struct rside e = {0};
        snprintf(e.key, sizeof e.key, "tax.pay:%lld", store_column_int64(st, 0));
        cpy(e.outcome, sizeof e.outcome, !strcmp(store_column_text(st, 1), "paid") ? "ok" : "refused");
        cpy(e.ref, sizeof e.ref, store_column_text(st, 2));
        e.amount = store_column_int64(st, 3);
        cpy(e.day, sizeof e.day, store_column_text(st, 4));
        if (push(&x->ours, &x->nours, &x->cap_o, &e)) rc = STORE_ERROR;
    }
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    st = store_prepare(
        c, "SELECT idem_key, outcome, COALESCE(reference, ''), amount_fen, day FROM treasury_ledger"
           " WHERE day = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->day);
    while ((rc = store_step(st)) == STORE_ROW) {
        struct rside e = {0};
        cpy(e.key, sizeof e.key, store_column_text(st, 0));
        cpy(e.outcome, sizeof e.outcome, store_column_text(st, 1));
        cpy(e.ref, sizeof e.ref, store_column_text(st, 2));
        e.amount = store_column_int64(st, 3);
        cpy(e.day, sizeof e.day, store_column_text(st, 4));
        if (push(&x->theirs, &x->ntheirs, &x->cap_t, &e)) rc = STORE_ERROR;
    }
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

/* One key looked up on the other side, any day: ours (phase 1) or the treasury's (2). */
static int lookup_tx(store_conn *c, void *arg)
{
    struct recon *x = arg;
    x->lfound = 0;
    memset(&x->look, 0, sizeof x->look);
    store_stmt *st;
    if (x->phase == 1) {
        long long id = 0;
        if (strncmp(x->lkey, "tax.pay:", 8) || parse_int64(x->lkey + 8, &id) != 0) return STORE_OK;
        st = store_prepare(c,
                           "SELECT status, COALESCE(treasury_ref, ''), amount_fen, COALESCE(answered_day, '')"
                           " FROM tax_payment WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, id);
    } else {
        st = store_prepare(c, "SELECT outcome, COALESCE(reference, ''), amount_fen, day FROM treasury_ledger"
                              " WHERE idem_key = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, x->lkey);
    }
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        x->lfound = 1;
        const char *o = store_column_text(st, 0);
        cpy(x->look.state, sizeof x->look.state, o);
        cpy(x->look.outcome, sizeof x->look.outcome,
            x->phase == 1 ? (!strcmp(o, "paid")     ? "ok"
                             : !strcmp(o, "failed") ? "refused"
                                                    : o)
                          : o);
        cpy(x->look.ref, sizeof x->look.ref, store_column_text(st, 1));
        x->look.amount = store_column_int64(st, 2);
        cpy(x->look.day, sizeof x->look.day, store_column_text(st, 3));
    }
    store_finalize(st);
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

static int neighbour(const char *a, const char *b)
{
    int x, y;
    if (calendar_date_parse(a, &x) != 0 || calendar_date_parse(b, &y) != 0) return 0;
    return x - y == 1 || y - x == 1;
}

static void mismatch(json_t *list, const struct rside *o, const struct rside *t)
{
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "idem_key", o->key, "ehall_outcome", o->outcome,
                  "treasury_outcome", t->outcome, "ehall_amount_fen", ji(o->amount), "treasury_amount_fen",
                  ji(t->amount), "ehall_reference", o->ref, "treasury_reference", t->ref);
    json_array_append_new(list, e);
}

static int differs(const struct rside *o, const struct rside *t)
{
    return strcmp(o->outcome, t->outcome) || o->amount != t->amount || strcmp(o->ref, t->ref);
}

static int find(const struct rside *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].key, key)) return (int)i;
    return -1;
}

struct rstore {
    const char *day, *actor, *details;
    long long ours, theirs, missing, mismatched, duplicated, id;
};

static int rstore_tx(store_conn *c, void *arg)
{
    struct rstore *s = arg;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "INSERT INTO exchange_report(day, source, created_at, ehall_count, backend_count,"
                         " missing, duplicated, mismatched, details)"
                         " VALUES ($1, 'treasury', $2, $3, $4, $5, $6, $7, $8) RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, s->day);
    store_bind_text(st, 2, ts);
    store_bind_int64(st, 3, s->ours);
    store_bind_int64(st, 4, s->theirs);
    store_bind_int64(st, 5, s->missing);
    store_bind_int64(st, 6, s->duplicated);
    store_bind_int64(st, 7, s->mismatched);
    store_bind_text(st, 8, s->details);
    int rc = store_step(st);
    if (rc == STORE_ROW) s->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char det[256], obj[64];
    snprintf(det, sizeof det,
             "{\"source\":\"treasury\",\"report\":%lld,\"missing\":%lld,\"mismatched\":%lld}", s->id,
             s->missing, s->mismatched);
    snprintf(obj, sizeof obj, "day %s", s->day);
    int off = s->missing + s->mismatched + s->duplicated > 0;
    struct audit_event e = {
        s->actor, "operator", "local", NULL, "tax.reconcile", obj, off ? "discrepancies" : "ok", det};
    return audit_append(c, &e);
}

int tax_treasury_reconcile(store *db, const char *day, const char *actor, struct tax_recon *out)
{
    memset(out, 0, sizeof *out);
    int d;
    if (calendar_date_parse(day, &d) != 0) return STORE_ERROR;
    snprintf(out->day, sizeof out->day, "%s", day);
    struct recon x = {.day = day};
    int rc = store_tx(db, 0, load_tx, &x);
    json_t *miss_t = json_array(), *miss_e = json_array(), *mism = json_array();
    for (size_t i = 0; rc == STORE_OK && i < x.nours; i++) {
        const struct rside *o = &x.ours[i];
        int j = find(x.theirs, x.ntheirs, o->key);
        if (j >= 0) {
            if (differs(o, &x.theirs[j])) mismatch(mism, o, &x.theirs[j]);
            continue;
        }
        x.phase = 2, x.lkey = o->key;
        if ((rc = store_tx(db, 0, lookup_tx, &x)) != STORE_OK) break;
        if (x.lfound && neighbour(x.look.day, day)) {
            if (differs(o, &x.look)) mismatch(mism, o, &x.look);
            continue;
        }
        json_array_append_new(miss_t, json_pack("{s:s, s:s, s:I}", "idem_key", o->key, "outcome", o->outcome,
                                                "amount_fen", ji(o->amount)));
    }
    for (size_t i = 0; rc == STORE_OK && i < x.ntheirs; i++) {
        const struct rside *t = &x.theirs[i];
        if (find(x.ours, x.nours, t->key) >= 0) continue;
        x.phase = 1, x.lkey = t->key;
        if ((rc = store_tx(db, 0, lookup_tx, &x)) != STORE_OK) break;
        if (x.lfound && x.look.day[0] && neighbour(x.look.day, day)) {
            struct rside o = x.look;
            cpy(o.key, sizeof o.key, t->key);
            if (differs(&o, t)) mismatch(mism, &o, t);
            continue;
        }
        json_array_append_new(miss_e, json_pack("{s:s, s:s, s:I, s:s}", "idem_key", t->key, "outcome",
                                                t->outcome, "amount_fen", ji(t->amount), "ehall_state",
                                                x.lfound ? x.look.state : "absent"));
    }
    out->ehall_count = (long long)x.nours;
    out->treasury_count = (long long)x.ntheirs;
    out->missing = (long long)(json_array_size(miss_t) + json_array_size(miss_e));
    out->mismatched = (long long)json_array_size(mism);
    free(x.ours);
    free(x.theirs);
    json_t *det = json_pack("{s:o, s:o, s:o}", "missing_at_treasury", miss_t, "missing_in_ehall", miss_e,
                            "mismatched", mism);
    out->details = json_dumps(det, JSON_COMPACT);
    json_decref(det);
    if (rc != STORE_OK) return rc < 0 ? rc : STORE_ERROR;
    struct rstore s = {day,
                       actor,
                       out->details ? out->details : "{}",
                       out->ehall_count,
                       out->treasury_count,
                       out->missing,
                       out->mismatched,
                       0,
                       0};
    rc = store_tx(db, 1, rstore_tx, &s);
    if (rc != STORE_OK) return rc;
    out->report_id = s.id;
    return out->missing + out->mismatched > 0 ? 1 : 0;
}
