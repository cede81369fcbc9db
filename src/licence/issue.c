/*
 * issue.c — storing licences by holder number, issuing them (automatically from a
 * case's result through the exchange, or at the end of the manual four-role flow),
 * and the expiry sweep.  See licence.h.
 *
 * Automatic issuance: when a case's result arrives (flow.c on_result), the same
 * transaction queues licence.issue for the connector "licence" with the idempotency key
 * "licence.issue:case:<id>".  The connector (the signing side; today local, a signing
 * server could take its place) answers; the result handler then builds the licence from
 * the case, signs it with the issuing department's key and stores it — inside the
 * transaction that completes the message, and licence.case_id is UNIQUE, so a case gives
 * one licence whatever is retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "calendar/calendar.h"
#include "core/config.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "engine/item.h"
#include "exchange/exchange.h"
#include "licence/internal.h"
#include "licence/licence.h"

static char keys_dir[600] = "./keys/seal";

const char *licence_keys_path(void) { return keys_dir; }

/* ---------- dates ---------- */

static int add_months(int from, int months)
{
    int y, m, d, out;
    calendar_date_ymd(from, &y, &m, &d);
    int t = (y * 12 + (m - 1)) + months;
    y = t / 12;
    m = t % 12 + 1;
    /* 29 February and the 31st: the last day of a shorter month, then the day after */
    while (d > 28 && calendar_date_from_ymd(y, m, d, &out) != 0) d--;
    if (calendar_date_from_ymd(y, m, d, &out) != 0) return from;
    return out;
}

/* The last valid day for validity (0 for permanent). */
int licence_valid_to(const json_t *validity, int from)
{
    if (json_is_string(validity)) return 0;
    json_t *n;
    if ((n = json_object_get(validity, "years")) != NULL)
        return add_months(from, 12 * (int)json_integer_value(n)) - 1;
    if ((n = json_object_get(validity, "months")) != NULL)
        return add_months(from, (int)json_integer_value(n)) - 1;
    if ((n = json_object_get(validity, "days")) != NULL) return from + (int)json_integer_value(n) - 1;
    return 0;
}

/* ---------- checking a licence's own fields ---------- */

int licence_check_data(const json_t *def, const json_t *data, int strict, json_t *errors, const char *prefix)
{
    int bad = 0;
    char path[160];
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)data, k, v)
    {
        int found = 0;
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(def, "fields"), i, f)
        {
            if (!strcmp(json_string_value(json_object_get(f, "key")), k)) found = 1;
        }
        if (!found) {
            snprintf(path, sizeof path, "%s%.64s", prefix, k);
            json_array_append_new(errors, http_field_error(path, "not a field of this licence type"));
            bad++;
        }
    }
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(def, "fields"), i, f)
    {
        const char *key = json_string_value(json_object_get(f, "key"));
        const char *type = json_string_value(json_object_get(f, "type"));
        json_t *x = json_object_get(data, key);
        snprintf(path, sizeof path, "%s%s", prefix, key);
        const char *why = NULL;
        if (!x || json_is_null(x)) {
            if (strict && json_is_true(json_object_get(f, "required"))) why = "required";
        } else if (!strcmp(type, "integer")) {
            if (!json_is_integer(x)) why = "must be an integer";
        } else if (!json_is_string(x)) {
            why = "must be a string";
        } else if (!strcmp(type, "date")) {
            int d;
            if (calendar_date_parse(json_string_value(x), &d) != 0) why = "must be a date YYYY-MM-DD";
        } else if (!strcmp(type, "enum")) {
            int ok = 0;
            size_t j;
            json_t *o;
            json_array_foreach(json_object_get(f, "options"), j, o) ok |= json_equal(o, x);
            if (!ok) why = "not one of the options";
        } else {
            const char *s = json_string_value(x);
            long long max = json_integer_value(json_object_get(f, "max"));
            size_t chars = 0;
            for (const char *p = s; *p; p++) {
                if ((*p & 0xC0) != 0x80) chars++;
                if ((unsigned char)*p < 0x20) why = "no control characters";
            }
            if (!why && (chars == 0 || chars > (size_t)(max ? max : 200))) why = "too long or empty";
        }
        if (why) {
            json_array_append_new(errors, http_field_error(path, why));
            bad++;
        }
    }
    return bad;
}

int licence_check_holder(const json_t *def, const char *number, const char **why)
{
    const char *h = json_string_value(json_object_get(def, "holder"));
    if (!h) h = "person";
    const char *w1 = NULL, *w2 = NULL;
    int person = auth_id_number_check(number, &w1) == 0, ent = auth_uscc_check(number, &w2) == 0;
    if (!strcmp(h, "person") && !person) {
        *why = w1 ? w1 : "a citizen ID number";
        return -1;
    }
    if (!strcmp(h, "enterprise") && !ent) {
        *why = w2 ? w2 : "a unified social credit code";
        return -1;
    }
    if (!person && !ent) {
        *why = "a citizen ID number or a unified social credit code";
        return -1;
    }
    return 0;
}

/* ---------- issuing ---------- */

static int next_seq(store_conn *c, const char *type, int year, long long *seq)
{
    store_stmt *st =
        store_prepare(c, "UPDATE licence_seq SET next = next + 1 WHERE type_code = $1 AND year = $2"
                         " RETURNING next");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, type);
    store_bind_int64(st, 2, year);
    int rc = store_step(st);
    if (rc == STORE_ROW) *seq = store_column_int64(st, 0) - 1;
    store_finalize(st);
    if (rc == STORE_ROW) return STORE_OK;
    if (rc != STORE_DONE) return rc;
    st = store_prepare(c, "INSERT INTO licence_seq(type_code, year, next) VALUES ($1, $2, 2)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, type);
    store_bind_int64(st, 2, year);
    rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_CONSTRAINT) return STORE_BUSY; /* another transaction made the row: again */
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    *seq = 1;
    return STORE_OK;
}

static int dept_name(store_conn *c, const char *code, char out[256])
{
    store_stmt *st = store_prepare(c, "SELECT name FROM department WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    int rc = store_step(st);
    if (rc == STORE_ROW) snprintf(out, 256, "%s", store_column_text(st, 0));
    store_finalize(st);
    return rc;
}

int licence_issue(store_conn *c, const struct licence_issue_req *q, char id_out[LICENCE_ID_MAX], char *why,
                  size_t whylen)
{
    json_t *def = licence_type_get(c, q->type);
    if (!def) {
        snprintf(why, whylen, "unknown licence type %s", q->type);
        return 1;
    }
    int rc = 1;
    json_t *lic = NULL, *doc = NULL, *pub = NULL, *errs = json_array();
    char *priv = NULL, *pubpem = NULL, *doctext = NULL, *pubtext = NULL, *henc = NULL, *denc = NULL;
    const char *w = NULL;
    if (!q->holder_name || !*q->holder_name || !q->holder_number ||
        licence_check_holder(def, q->holder_number, &w) != 0) {
        snprintf(why, whylen, "holder: %s", w ? w : "name and number needed");
        goto out;
    }
    if (licence_check_data(def, q->data, q->strict, errs, "") != 0) {
        json_t *e = json_array_get(errs, 0);
        snprintf(why, whylen, "%s: %s", json_string_value(json_object_get(e, "field")),
                 json_string_value(json_object_get(e, "message")));
        goto out;
    }
    const char *issuer = json_string_value(json_object_get(def, "issuer"));
    char iname[256] = "";
    rc = dept_name(c, issuer, iname);
    if (rc != STORE_ROW) {
        if (rc == STORE_DONE) snprintf(why, whylen, "the issuing department %s does not exist", issuer);
        rc = rc == STORE_DONE ? 1 : rc;
        goto out;
    }
    int today = calendar_today(), from = q->valid_from ? q->valid_from : today;
    int to = licence_valid_to(json_object_get(def, "validity"), from);
    int y, m, d;
    calendar_date_ymd(today, &y, &m, &d);
    long long seq = 0;
    rc = next_seq(c, q->type, y, &seq);
    if (rc != STORE_OK) goto out;
    if (licence_id_format(json_string_value(json_object_get(def, "id_code")),
                          json_string_value(json_object_get(def, "issuer_code")), y, seq, id_out) != 0) {
        snprintf(why, whylen, "the identifier cannot be formed (sequence %lld)", seq);
        rc = 1;
        goto out;
    }
    char tdate[11], fdate[11], todate[11];
    calendar_date_format(today, tdate);
    calendar_date_format(from, fdate);
    if (to)
        calendar_date_format(to, todate);
    else
        snprintf(todate, sizeof todate, "permanent");
    lic = q->data ? json_deep_copy(q->data) : json_object();
    json_object_set_new(lic, "id", json_string(id_out));
    json_object_set_new(lic, "type", json_string(q->type));
    json_object_set_new(lic, "type_name", json_string(json_string_value(json_object_get(def, "name"))));
    json_object_set_new(lic, "holder_name", json_string(q->holder_name));
    json_object_set_new(lic, "holder_number", json_string(q->holder_number));
    json_object_set_new(lic, "issuer", json_string(issuer));
    json_object_set_new(lic, "issuer_name", json_string(iname));
    json_object_set_new(lic, "issue_date", json_string(tdate));
    json_object_set_new(lic, "valid_from", json_string(fdate));
    json_object_set_new(lic, "valid_to", json_string(todate));
    json_object_set_new(lic, "source", json_string(q->source));
    char kid[65], err[300];
    if (licence_key_load(keys_dir, issuer, 1, &priv, &pubpem, kid, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "licence %s: %s", id_out, err);
        rc = STORE_ERROR; /* retried: an operator can fix the key file */
        goto out;
    }
    doc = licence_sign(lic, priv, pubpem);
    doctext = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    char masked[256];
    auth_mask_name(q->holder_name, masked, sizeof masked);
    pub =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id_out, "type", q->type, "type_name",
                  json_string_value(json_object_get(def, "name")), "holder_name", masked, "issuer", issuer,
                  "issuer_name", iname, "issue_date", tdate, "valid_from", fdate, "valid_to", todate);
    pubtext = pub ? json_dumps(pub, JSON_COMPACT) : NULL;
    henc = keys_seal(q->holder_number);
    denc = doctext ? keys_seal(doctext) : NULL;
    char bidx[KEYS_TAG_MAX];
    if (!doctext || !pubtext || !henc || !denc ||
        keys_blind_index("licence_holder", q->holder_number, bidx) != 0) {
        rc = STORE_ERROR;
        goto out;
    }
    store_stmt *st = store_prepare(
        c, "INSERT INTO licence(licence_no, type_code, issuer_dept, holder_bidx, holder_enc, data_enc,"
           " public_json, state, valid_to_day, issued_ms, case_id, entry_id, source)"
           " VALUES ($1, $2, $3, $4, $5, $6, $7, 'valid', $8, $9, $10, $11, $12)");
    if (!st) {
        rc = STORE_ERROR;
        goto out;
    }
    store_bind_text(st, 1, id_out);
    store_bind_text(st, 2, q->type);
    store_bind_text(st, 3, issuer);
    store_bind_text(st, 4, bidx);
    store_bind_text(st, 5, henc);
    store_bind_text(st, 6, denc);
    store_bind_text(st, 7, pubtext);
    if (to)
        store_bind_int64(st, 8, to);
    else
        store_bind_null(st, 8);
    store_bind_int64(st, 9, (long long)(now_wall() * 1000.0));
    if (q->case_id)
        store_bind_int64(st, 10, q->case_id);
    else
        store_bind_null(st, 10);
    if (q->entry_id)
        store_bind_int64(st, 11, q->entry_id);
    else
        store_bind_null(st, 11);
    store_bind_text(st, 12, q->source);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) {
        rc = rc == STORE_OK ? STORE_ERROR : rc;
        goto out;
    }
    char obj[96], det[300];
    snprintf(obj, sizeof obj, "licence:%s", id_out);
    snprintf(det, sizeof det, "{\"type\":\"%s\",\"source\":\"%s\",\"key_id\":\"%s\"}", q->type, q->source,
             kid);
    struct audit_event e = {
        q->actor ? q->actor : "system", q->role, q->client, q->request_id, "licence.issue", obj, "ok", det};
    rc = audit_append(c, &e);
out:
    if (priv) crypto_wipe(priv, strlen(priv));
    free(priv);
    free(pubpem);
    if (doctext) crypto_wipe(doctext, strlen(doctext));
    free(doctext);
    free(pubtext);
    free(henc);
    free(denc);
    json_decref(lic);
    json_decref(doc);
    json_decref(pub);
    json_decref(errs);
    json_decref(def);
    return rc;
}

int licence_issue_tx(store_conn *c, const char *type, const char *holder_name, const char *holder_number,
                     const json_t *data, const char *source, int valid_from, long long case_id,
                     char id_out[LICENCE_ID_MAX], char *why, size_t whylen)
{
    struct licence_issue_req q = {.type = type,
                                  .holder_name = holder_name,
                                  .holder_number = holder_number,
                                  .data = data,
                                  .source = source,
                                  .valid_from = valid_from,
                                  .case_id = case_id,
                                  .strict = 1};
    return licence_issue(c, &q, id_out, why, whylen);
}

/* ---------- automatic issuance from a case ---------- */

int licence_on_case_result(store_conn *c, long long case_id)
{
    store_stmt *st = store_prepare(c, "SELECT item_code, item_version FROM ecase WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, case_id);
    int rc = store_step(st);
    char code[64] = "";
    int version = 0;
    if (rc == STORE_ROW) {
        snprintf(code, sizeof code, "%s", store_column_text(st, 0));
        version = (int)store_column_int64(st, 1);
    }
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
    const struct item *it = NULL;
    rc = item_get(c, code, version, &it);
    if (rc != 0) return rc == 1 ? STORE_OK : rc;
    if (!it->output_licence) return STORE_OK;
    st = store_prepare(c, "SELECT 1 FROM licence_type WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, it->output_licence);
    rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_DONE) {
        log_msg(LOG_WARN, "case %lld: licence type %s is not imported; no licence issued", case_id,
                it->output_licence);
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc;
    char idem[64], payload[160];
    snprintf(idem, sizeof idem, "licence.issue:case:%lld", case_id);
    snprintf(payload, sizeof payload, "{\"case_id\":%lld,\"type\":\"%s\"}", case_id, it->output_licence);
    return exchange_enqueue(c, idem, "licence.issue", "licence", case_id, payload, NULL);
}

/* A source ("form.x", "applicant.name" …) of a case, as a new JSON value or NULL. */
static json_t *source_value(const char *src, json_t *form, const char *case_no, const char *item_code,
                            const char *aname, const char *anumber)
{
    if (!src) return NULL;
    if (str_has_prefix(src, "form.")) {
        json_t *v = json_object_get(form, src + 5);
        if (json_is_string(v) && !*json_string_value(v)) return NULL;
        return json_is_string(v) || json_is_integer(v) ? json_incref(v) : NULL;
    }
    if (str_has_prefix(src, "text:")) return json_string(src + 5);
    const char *s = !strcmp(src, "case.case_no")       ? case_no
                    : !strcmp(src, "case.item_code")   ? item_code
                    : !strcmp(src, "applicant.name")   ? aname
                    : !strcmp(src, "applicant.number") ? anumber
                                                       : NULL;
    return s && *s ? json_string(s) : NULL;
}

static int case_issue(store_conn *c, long long case_id, const char *type)
{
    store_stmt *st = store_prepare(c, "SELECT 1 FROM licence WHERE case_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, case_id);
    int rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_ROW) return STORE_OK; /* issued already */
    if (rc != STORE_DONE) return rc;
    st = store_prepare(c, "SELECT e.case_no, e.item_code, e.form, e.enterprise, a.name_enc, a.id_number_enc,"
                          " n.name, n.uscc FROM ecase e JOIN account a ON a.id = e.applicant"
                          " LEFT JOIN enterprise n ON n.id = e.enterprise WHERE e.id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, case_id);
    rc = store_step(st);
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc == STORE_DONE ? STORE_OK : rc;
    }
    char case_no[48], item_code[48];
    snprintf(case_no, sizeof case_no, "%s", store_column_text(st, 0) ? store_column_text(st, 0) : "");
    snprintf(item_code, sizeof item_code, "%s", store_column_text(st, 1));
    json_t *form = json_loads(store_column_text(st, 2), 0, NULL);
    long long ent = store_column_int64(st, 3);
    char *aname = NULL, *anum = NULL;
    if (ent) {
        aname = store_column_text(st, 6) ? strdup(store_column_text(st, 6)) : NULL;
        anum = store_column_text(st, 7) ? strdup(store_column_text(st, 7)) : NULL;
    } else {
        aname = store_column_text(st, 4) ? keys_open(store_column_text(st, 4)) : NULL;
        anum = store_column_text(st, 5) ? keys_open(store_column_text(st, 5)) : NULL;
    }
    store_finalize(st);
    json_t *def = licence_type_get(c, type);
    json_t *fc = json_object_get(def, "from_case");
    json_t *hn = source_value(json_string_value(json_object_get(fc, "holder_name")), form, case_no, item_code,
                              aname, anum),
           *hnum = source_value(json_string_value(json_object_get(fc, "holder_number")), form, case_no,
                                item_code, aname, anum);
    json_t *data = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(fc, "fields"), k, v)
    {
        json_t *x = source_value(json_string_value(v), form, case_no, item_code, aname, anum);
        if (x) json_object_set_new(data, k, x);
    }
    char src[96], id[LICENCE_ID_MAX], why[300] = "";
    snprintf(src, sizeof src, "case:%s", case_no);
    struct licence_issue_req q = {
        .type = type,
        .holder_name = json_is_string(hn) ? json_string_value(hn) : aname,
        .holder_number = json_is_string(hnum) ? json_string_value(hnum) : anum,
        .data = data,
        .source = src,
        .case_id = case_id,
    };
    rc = def ? licence_issue(c, &q, id, why, sizeof why) : 1;
    if (!def) snprintf(why, sizeof why, "licence type %s is not imported", type);
    if (rc == 1) {
        /* the case does not make a valid licence: recorded, never retried */
        log_msg(LOG_WARN, "case %lld: no licence: %s", case_id, why);
        char obj[48];
        snprintf(obj, sizeof obj, "case:%lld", case_id);
        json_t *dj = json_pack("{s:s, s:s}", "type", type, "reason", why);
        char *dt = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
        struct audit_event e = {"system", NULL, NULL, NULL, "licence.issue", obj, "failed", dt};
        rc = audit_append(c, &e);
        free(dt);
        json_decref(dj);
    } else if (rc == STORE_OK) {
        log_info("case %lld: licence %s issued", case_id, id);
    }
    if (aname) crypto_wipe(aname, strlen(aname));
    if (anum) crypto_wipe(anum, strlen(anum));
    free(aname);
    free(anum);
    json_decref(hn);
    json_decref(hnum);
    json_decref(data);
    json_decref(def);
    json_decref(form);
    return rc;
}

static int on_issue(store_conn *c, long long msg_id, long long case_id, const char *kind, const char *outcome,
                    const char *result_json)
{
    (void)msg_id;
    (void)kind;
    (void)result_json;
    if (strcmp(outcome, "ok") != 0) {
        log_msg(LOG_WARN, "case %lld: the signing side refused the licence", case_id);
        return STORE_OK;
    }
    store_stmt *st = store_prepare(c, "SELECT payload FROM exchange_msg WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, msg_id);
    int rc = store_step(st);
    json_t *p = rc == STORE_ROW ? json_loads(store_column_text(st, 0), 0, NULL) : NULL;
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
    const char *type = json_string_value(json_object_get(p, "type"));
    rc = type ? case_issue(c, case_id, type) : STORE_OK;
    json_decref(p);
    return rc;
}

/* The signing side of licence.issue.  Keys are files on this host, so it only checks
 * the message; a connector to a signing server would sign here. */
static int sign_call(const struct exchange_ctx *ctx, const struct exchange_msg *msg,
                     struct exchange_answer *ans)
{
    (void)ctx;
    json_t *p = json_loads(msg->payload, 0, NULL);
    if (!json_is_string(json_object_get(p, "type"))) {
        json_decref(p);
        ans->rc = EXCHANGE_PERMANENT;
        snprintf(ans->error, sizeof ans->error, "licence.issue: no type in the payload");
        return ans->rc;
    }
    json_decref(p);
    ans->rc = EXCHANGE_ANSWERED;
    snprintf(ans->outcome, sizeof ans->outcome, "ok");
    sb_printf(&ans->result, "{\"signer\":\"local\"}");
    return ans->rc;
}

static const struct exchange_connector licence_connector = {"licence", sign_call, NULL, NULL};

void licence_setup(const struct config *cfg)
{
    licence_keys_dir(cfg, keys_dir, sizeof keys_dir);
    exchange_register_connector(&licence_connector);
    exchange_on_result("licence.issue", on_issue);
}

/* ---------- expiry ---------- */

struct expire {
    const char *actor;
    int today;
    long long n;
};

static int expire_tx(store_conn *c, void *arg)
{
    struct expire *x = arg;
    store_stmt *st =
        store_prepare(c, "SELECT COUNT(*) FROM licence WHERE state = 'valid' AND valid_to_day < $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->today);
    int rc = store_step(st);
    x->n = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (rc != STORE_ROW) return rc;
    if (x->n == 0) return STORE_OK;
    st = store_prepare(c, "UPDATE licence SET state = 'expired' WHERE state = 'valid' AND valid_to_day < $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->today);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    char det[64], day[11];
    calendar_date_format(x->today, day);
    snprintf(det, sizeof det, "{\"expired\":%lld,\"day\":\"%s\"}", x->n, day);
    struct audit_event e = {x->actor, NULL, NULL, NULL, "licence.expire", "licences", "ok", det};
    return audit_append(c, &e);
}

static int expire_due(store_conn *c, void *arg)
{
    struct expire *x = arg;
    store_stmt *st =
        store_prepare(c, "SELECT 1 FROM licence WHERE state = 'valid' AND valid_to_day < $1 LIMIT 1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->today);
    int rc = store_step(st);
    store_finalize(st);
    x->n = rc == STORE_ROW;
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}

int licence_expire(store *s, const char *actor, long long *n)
{
    struct expire x = {actor ? actor : "system", calendar_today(), 0};
    if (n) *n = 0;
    /* a read first: the keeper calls this every few seconds, and most rounds have nothing to do */
    int rc = store_tx(s, 0, expire_due, &x);
    if (rc != STORE_OK || x.n == 0) return rc;
    rc = store_tx(s, 1, expire_tx, &x);
    if (n) *n = rc == STORE_OK ? x.n : 0;
    return rc;
}
