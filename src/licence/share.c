/*
 * share.c — share codes (亮证): a holder makes a time-limited, use-counted code for one
 * sharing scenario of a licence; whoever holds the code sees only that scenario's
 * fields, watermarked with the scenario and the time.  Also the usage log's two views:
 * the holder's "who used my licence" and the auditor's.  See docs/licences.md "Sharing".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/session.h"
#include "calendar/calendar.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "licence/internal.h"
#include "licence/licence.h"

#define CODE_BYTES 18 /* 144 bits */
#define CODE_CHARS 24 /* base64url, no padding */

/* forget collected input errors when a reply has already gone out */
static void input_drop(struct input *in)
{
    json_decref(in->errors);
    in->errors = NULL;
}

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }
static int unavailable(http_req *r) { return http_reply_error(r, 503, "unavailable", "try again", NULL); }
static long long now_ms(void) { return (long long)(now_wall() * 1000.0); }

static json_t *ms_time(long long ms)
{
    if (ms <= 0) return json_null();
    char ts[48];
    time_rfc3339((double)ms / 1000.0, ts, sizeof ts);
    return json_string(ts);
}

const char *licence_scenario_name(const char *code)
{
    static const char *const N[][2] = {{"hotel_checkin", "酒店入住"},  {"railway", "铁路出行"},
                                       {"bank_account", "银行开户"},   {"employment", "就业"},
                                       {"school_enrolment", "入学"},   {"vet_clinic", "宠物诊疗"},
                                       {"patrol_check", "巡查"},       {"border_check", "出入境边检"},
                                       {"hospital_admission", "住院"}, {"bidding", "招投标"}};
    for (size_t i = 0; i < sizeof N / sizeof *N; i++)
        if (!strcmp(N[i][0], code)) return N[i][1];
    return code;
}

/* ---------- helpers shared with gateway.c (internal.h) ---------- */

void licence_row_free(struct licence_row *x)
{
    json_decref(x->doc);
    x->doc = NULL;
}

int licence_row_load(store_conn *c, const char *id, int open, struct licence_row *x)
{
    memset(x, 0, sizeof *x);
    store_stmt *st = store_prepare(c, "SELECT state, valid_to_day, type_code, holder_bidx, data_enc, "
                                      "issuer_dept FROM licence WHERE licence_no = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        const char *state = store_column_text(st, 0);
        int expired = !strcmp(state, "valid") && !store_column_is_null(st, 1) &&
                      store_column_int64(st, 1) < calendar_today();
        snprintf(x->status, sizeof x->status, "%s", expired ? "expired" : state);
        snprintf(x->type, sizeof x->type, "%s", store_column_text(st, 2));
        snprintf(x->holder_bidx, sizeof x->holder_bidx, "%s", store_column_text(st, 3));
        snprintf(x->issuer, sizeof x->issuer, "%s", store_column_text(st, 5));
        x->valid_to_day = store_column_is_null(st, 1) ? 0 : (int)store_column_int64(st, 1);
        if (open) {
            char *doc = keys_open(store_column_text(st, 4));
            x->doc = doc ? json_loads(doc, 0, NULL) : NULL;
            if (doc) crypto_wipe(doc, strlen(doc));
            free(doc);
            if (!x->doc) rc = STORE_ERROR;
        }
    }
    store_finalize(st);
    return rc;
}

json_t *licence_pick(const json_t *doc, const json_t *fields)
{
    json_t *lic = json_object_get(doc, "licence"), *out = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *k = json_string_value(f);
        json_t *v = k ? json_object_get(lic, k) : NULL;
        if (v) json_object_set(out, k, v);
    }
    return out;
}

json_t *licence_scenario_fields(store_conn *c, const char *type, const char *scenario)
{
    json_t *def = licence_type_get(c, type);
    json_t *f = json_object_get(json_object_get(def, "scenarios"), scenario);
    json_t *out = json_is_array(f) ? json_deep_copy(f) : NULL;
    json_decref(def);
    return out;
}

/* 1 when the caller holds the licence whose holder index is bidx, 0 not, < 0 error */
static int owned(store_conn *c, http_req *r, const char *bidx)
{
    char idx[4][KEYS_TAG_MAX];
    int n = licence_holder_indexes(c, auth_principal(r), idx, 4);
    if (n < 0) return n;
    for (int i = 0; i < n; i++)
        if (!strcmp(idx[i], bidx)) return 1;
    return 0;
}

/* The {id} of the caller's own licence: 0 with x filled, or -1 after replying. */
int licence_mine_param(http_req *r, store_conn *c, int open, struct licence_row *x, const char **id)
{
    const char *why = NULL;
    *id = http_req_param(r, "id");
    if (licence_id_check(*id, &why) != 0) {
        http_reply_error(r, 400, "invalid_id", "not a licence identifier",
                         json_pack("[o]", http_field_error("id", why)));
        return -1;
    }
    int rc = licence_row_load(c, *id, open, x);
    if (rc != STORE_ROW && rc != STORE_DONE) {
        licence_row_free(x);
        unavailable(r);
        return -1;
    }
    int mine = rc == STORE_ROW ? owned(c, r, x->holder_bidx) : 0;
    if (mine < 0) {
        licence_row_free(x);
        unavailable(r);
        return -1;
    }
    if (!mine) {
        licence_row_free(x);
        http_reply_error(r, 404, "not_found", "no such licence", NULL);
        return -1;
    }
    return 0;
}

static void code_new(char out[CODE_CHARS + 1])
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char b[CODE_BYTES];
    if (random_bytes(b, sizeof b) != 0) abort(); /* no CSPRNG: never hand out a guessable code */
    for (int i = 0, o = 0; i < CODE_BYTES; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 | b[i + 2];
        out[o++] = A[v >> 18 & 63];
        out[o++] = A[v >> 12 & 63];
        out[o++] = A[v >> 6 & 63];
        out[o++] = A[v & 63];
    }
    out[CODE_CHARS] = 0;
}

static int code_ok(const char *s)
{
    if (!s || strlen(s) != CODE_CHARS) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_'))
            return 0;
    return 1;
}

static void code_hash(const char *code, char out[65])
{
    unsigned char d[SM3_DIGEST_LEN];
    crypto_sm3(code, strlen(code), d);
    hex_encode(d, sizeof d, out);
}

static void share_url(http_req *r, const char *code, char *out, size_t len)
{
    const struct config *cfg = ((struct app *)http_req_app(r))->cfg;
    if (cfg->public_url[0])
        snprintf(out, len, "%s/verify/share/%s", cfg->public_url, code);
    else
        snprintf(out, len, "http://%s/verify/share/%s", cfg->listen, code);
}

/* ---------- POST /api/v1/licences/{id}/shares ---------- */

struct share_new {
    http_req *r;
    const char *id, *scenario;
    char *fields;
    long long minutes, uses, expires, sid;
    char hash[65], hint[7];
};

static int share_new_tx(store_conn *c, void *arg)
{
    struct share_new *x = arg;
    long long now = now_ms();
    x->expires = now + x->minutes * 60000LL;
    store_stmt *st = store_prepare(
        c, "INSERT INTO licence_share(code_hash, hint, licence_no, account_id, scenario, fields, uses_max,"
           " uses_left, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->hash);
    store_bind_text(st, 2, x->hint);
    store_bind_text(st, 3, x->id);
    store_bind_int64(st, 4, auth_principal(x->r)->account);
    store_bind_text(st, 5, x->scenario);
    store_bind_text(st, 6, x->fields);
    store_bind_int64(st, 7, x->uses);
    store_bind_int64(st, 8, x->expires);
    store_bind_int64(st, 9, now);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    st = store_prepare(c, "SELECT id FROM licence_share WHERE code_hash = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->hash);
    rc = store_step(st);
    if (rc == STORE_ROW) x->sid = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;
    char who[24], det[200];
    snprintf(who, sizeof who, "%lld", auth_principal(x->r)->account);
    rc = licence_use_log(c, x->id, "share_create", "holder", who, x->scenario, "ok");
    if (rc != STORE_OK) return rc;
    snprintf(det, sizeof det, "{\"share\":%lld,\"scenario\":\"%s\",\"minutes\":%lld,\"uses\":%lld}", x->sid,
             x->scenario, x->minutes, x->uses);
    return auth_audit(x->r, c, "licence.share.create", x->id, "ok", det);
}

int licence_api_share_new(http_req *r)
{
    static const char *const known[] = {"scenario", "minutes", "uses", NULL};
    struct input in;
    const char *why = NULL, *id = http_req_param(r, "id");
    if (licence_id_check(id, &why) != 0)
        return http_reply_error(r, 400, "invalid_id", "not a licence identifier",
                                json_pack("[o]", http_field_error("id", why)));
    if (input_begin(&in, r, known) != 0) return 0;
    const char *scenario = input_str(&in, "scenario", 1, 1, 48);
    long long minutes = input_int(&in, "minutes", 1, 1, 1440, 0);
    long long uses = input_int(&in, "uses", 1, 1, 100, 0);
    store_conn *c = store_acquire(db_of(r));
    if (!c) {
        input_drop(&in);
        return unavailable(r);
    }
    struct licence_row x;
    if (licence_mine_param(r, c, 0, &x, &id) != 0) {
        store_release(c);
        input_drop(&in);
        return 0;
    }
    json_t *fields = scenario ? licence_scenario_fields(c, x.type, scenario) : NULL;
    store_release(c);
    if (scenario && !fields) input_error(&in, "scenario", "not a sharing scenario of this licence's type");
    if (input_done(&in) != 0) {
        json_decref(fields);
        return 0;
    }
    if (strcmp(x.status, "valid") != 0) {
        json_decref(fields);
        return http_reply_error(r, 409, "not_valid", "only a valid licence can be shared",
                                json_pack("[o]", http_field_error("id", x.status)));
    }
    char code[CODE_CHARS + 1];
    code_new(code);
    struct share_new q = {.r = r, .id = id, .scenario = scenario, .minutes = minutes, .uses = uses};
    q.fields = json_dumps(fields, JSON_COMPACT);
    code_hash(code, q.hash);
    snprintf(q.hint, sizeof q.hint, "%.6s", code);
    int rc = q.fields ? store_tx(db_of(r), 1, share_new_tx, &q) : STORE_ERROR;
    free(q.fields);
    if (rc != STORE_OK) {
        json_decref(fields);
        return unavailable(r);
    }
    licence_use_served("share_create");
    char url[600];
    share_url(r, code, url, sizeof url);
    json_t *out = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:o}", "id", (json_int_t)q.sid, "code", code, "url", url,
        "scenario", scenario, "scenario_name", licence_scenario_name(scenario), "fields", fields,
        "expires_at", ms_time(q.expires), "uses_left", (json_int_t)uses, "uses_max", json_integer(uses));
    crypto_wipe(code, sizeof code);
    return http_reply_json(r, 201, out);
}

/* ---------- GET /api/v1/licences/{id}/shares ---------- */

static const char *share_state(store_stmt *st, int left, int exp, int rev, long long now)
{
    if (!store_column_is_null(st, rev)) return "revoked";
    if (store_column_int64(st, exp) <= now) return "expired";
    if (store_column_int64(st, left) <= 0) return "used_up";
    return "active";
}

int licence_api_share_list(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    struct licence_row x;
    const char *id;
    if (licence_mine_param(r, c, 0, &x, &id) != 0) {
        store_release(c);
        return 0;
    }
    store_stmt *st = store_prepare(c, "SELECT id, hint, scenario, fields, uses_max, uses_left, expires_ms,"
                                      " created_ms, revoked_ms FROM licence_share WHERE licence_no = $1"
                                      " ORDER BY id DESC LIMIT 200");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    store_bind_text(st, 1, id);
    json_t *list = json_array();
    long long now = now_ms();
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        json_t *f = json_loads(store_column_text(st, 3), 0, NULL);
        json_array_append_new(
            list,
            json_pack("{s:I, s:s, s:s, s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:s}", "id",
                      (json_int_t)store_column_int64(st, 0), "hint", store_column_text(st, 1), "scenario",
                      store_column_text(st, 2), "scenario_name",
                      licence_scenario_name(store_column_text(st, 2)), "fields", f ? f : json_array(),
                      "uses_max", (json_int_t)store_column_int64(st, 4), "uses_left",
                      (json_int_t)store_column_int64(st, 5), "expires_at", ms_time(store_column_int64(st, 6)),
                      "created_at", ms_time(store_column_int64(st, 7)), "revoked_at",
                      store_column_is_null(st, 8) ? json_null() : ms_time(store_column_int64(st, 8)), "state",
                      share_state(st, 5, 6, 8, now)));
    }
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "shares", list));
}

/* ---------- DELETE /api/v1/licences/{id}/shares/{code} ---------- */

struct share_revoke {
    http_req *r;
    const char *id;
    long long sid;
    char hash[65];
    int found;
};

static int share_revoke_tx(store_conn *c, void *arg)
{
    struct share_revoke *x = arg;
    x->found = 0;
    store_stmt *st =
        store_prepare(c, "SELECT id FROM licence_share WHERE licence_no = $1 AND revoked_ms IS NULL"
                         " AND (code_hash = $2 OR id = $3)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->id);
    store_bind_text(st, 2, x->hash);
    store_bind_int64(st, 3, x->sid);
    int rc = store_step(st);
    long long sid = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_ROW) return rc;
    st = store_prepare(c, "UPDATE licence_share SET revoked_ms = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, sid);
    store_bind_int64(st, 2, now_ms());
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    x->found = 1;
    x->sid = sid;
    char det[64];
    snprintf(det, sizeof det, "{\"share\":%lld}", sid);
    return auth_audit(x->r, c, "licence.share.revoke", x->id, "ok", det);
}

int licence_api_share_revoke(http_req *r)
{
    const char *code = http_req_param(r, "code");
    long long sid = 0;
    int numeric = code && parse_int64(code, &sid) == 0 && sid > 0;
    if (!numeric && !code_ok(code))
        return http_reply_error(r, 400, "invalid_code", "not a share code",
                                json_pack("[o]", http_field_error("code", "a share code or a share id")));
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    struct licence_row x;
    const char *id;
    int rc = licence_mine_param(r, c, 0, &x, &id);
    store_release(c);
    if (rc != 0) return 0;
    struct share_revoke q = {.r = r, .id = id, .sid = numeric ? sid : -1};
    if (numeric)
        q.hash[0] = 0;
    else
        code_hash(code, q.hash);
    if (store_tx(db_of(r), 1, share_revoke_tx, &q) != STORE_OK) return unavailable(r);
    if (!q.found) return http_reply_error(r, 404, "not_found", "no such active share of this licence", NULL);
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)q.sid, "state", "revoked"));
}

/* ---------- GET /api/v1/public/shares/{code} ---------- */

struct share_view {
    http_req *r;
    char hash[65];
    int status;
    const char *code, *msg;
    char licence[LICENCE_ID_MAX], scenario[64], lstatus[16];
    long long left, expires;
    json_t *out;
};

static int share_view_tx(store_conn *c, void *arg)
{
    struct share_view *x = arg;
    x->status = 0;
    json_decref(x->out);
    x->out = NULL;
    int pg = store_conn_engine(c) == STORE_POSTGRES;
    store_stmt *st = store_prepare(c, pg ? "SELECT id, licence_no, scenario, fields, uses_left, expires_ms,"
                                           " revoked_ms FROM licence_share WHERE code_hash = $1 FOR UPDATE"
                                         : "SELECT id, licence_no, scenario, fields, uses_left, expires_ms,"
                                           " revoked_ms FROM licence_share WHERE code_hash = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->hash);
    int rc = store_step(st);
    if (rc == STORE_DONE) {
        store_finalize(st);
        x->status = 404, x->code = "not_found", x->msg = "no such share code";
        return STORE_OK;
    }
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc;
    }
    long long sid = store_column_int64(st, 0), now = now_ms();
    snprintf(x->licence, sizeof x->licence, "%s", store_column_text(st, 1));
    snprintf(x->scenario, sizeof x->scenario, "%s", store_column_text(st, 2));
    json_t *fields = json_loads(store_column_text(st, 3), 0, NULL);
    x->left = store_column_int64(st, 4);
    x->expires = store_column_int64(st, 5);
    int revoked = !store_column_is_null(st, 6);
    store_finalize(st);
    const char *result = "ok";
    if (revoked)
        x->status = 410, x->code = "revoked", x->msg = "the holder revoked this share code";
    else if (x->expires <= now)
        x->status = 410, x->code = "expired", x->msg = "this share code has expired";
    else if (x->left <= 0)
        x->status = 410, x->code = "used_up", x->msg = "this share code has been used as often as allowed";
    if (x->status) {
        result = x->code;
    } else {
        /* the use is counted in the same statement that checks one is left */
        st = store_prepare(
            c, "UPDATE licence_share SET uses_left = uses_left - 1 WHERE id = $1 AND uses_left > 0");
        if (!st) {
            json_decref(fields);
            return STORE_ERROR;
        }
        store_bind_int64(st, 1, sid);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) {
            json_decref(fields);
            return rc == STORE_OK ? STORE_ERROR : rc;
        }
        x->left--;
        struct licence_row lr;
        rc = licence_row_load(c, x->licence, 1, &lr);
        if (rc != STORE_ROW) {
            json_decref(fields);
            licence_row_free(&lr);
            return rc == STORE_DONE ? STORE_ERROR : rc;
        }
        snprintf(x->lstatus, sizeof x->lstatus, "%s", lr.status);
        json_t *shown = licence_pick(lr.doc, fields);
        licence_row_free(&lr);
        char when[32], wm[160];
        time_t t = (time_t)(now / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        snprintf(wm, sizeof wm, "仅供%s使用 %s", licence_scenario_name(x->scenario), when);
        x->out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:o}", "licence_id", x->licence, "status",
                           x->lstatus, "scenario", x->scenario, "scenario_name",
                           licence_scenario_name(x->scenario), "licence", shown, "watermark", wm, "uses_left",
                           (json_int_t)x->left, "expires_at", ms_time(x->expires));
    }
    json_decref(fields);
    return licence_use_log(c, x->licence, "share_view", "public", http_req_client(x->r), x->scenario, result);
}

int licence_api_share_view(http_req *r)
{
    const char *code = http_req_param(r, "code");
    if (!code_ok(code))
        return http_reply_error(r, 400, "invalid_code", "not a share code",
                                json_pack("[o]", http_field_error("code", "24 characters A-Z a-z 0-9 - _")));
    struct share_view x = {.r = r};
    code_hash(code, x.hash);
    int rc = store_tx(db_of(r), 1, share_view_tx, &x);
    if (rc != STORE_OK) {
        json_decref(x.out);
        return unavailable(r);
    }
    if (x.status != 404) licence_use_served("share_view");
    http_add_header(r, "Cache-Control", "no-store");
    if (x.status)
        return http_reply_error(r, (unsigned)x.status, x.code, x.msg,
                                json_pack("[o]", http_field_error("code", x.code)));
    return http_reply_json(r, 200, x.out);
}

/* ---------- the usage log: holder and auditor ---------- */

static json_t *use_json(store_stmt *st)
{
    return json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:o, s:s}", "id", (json_int_t)store_column_int64(st, 0),
                     "at", ms_time(store_column_int64(st, 1)), "licence_id", store_column_text(st, 2),
                     "action", store_column_text(st, 3), "who_kind", store_column_text(st, 4), "who",
                     store_column_text(st, 5), "scenario",
                     store_column_text(st, 6) ? json_string(store_column_text(st, 6)) : json_null(), "result",
                     store_column_text(st, 7));
}

#define USE_COLS "id, at_ms, licence_no, action, who_kind, who, scenario, result"

static int before_param(http_req *r, long long *before)
{
    const char *b = http_req_query(r, "before");
    *before = 0;
    if (b && (parse_int64(b, before) != 0 || *before <= 0)) {
        http_reply_error(r, 400, "invalid_query", "a query parameter is not valid",
                         json_pack("[o]", http_field_error("before", "a positive record id")));
        return -1;
    }
    if (!b) *before = (long long)1 << 62;
    return 0;
}

static int reply_uses(http_req *r, store_stmt *st, store_conn *c)
{
    json_t *list = json_array();
    int rc;
    long long last = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        last = store_column_int64(st, 0);
        json_array_append_new(list, use_json(st));
    }
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    json_t *out = json_pack("{s:o}", "uses", list);
    json_object_set_new(out, "next_before", json_array_size(list) == 100 ? json_integer(last) : json_null());
    return http_reply_json(r, 200, out);
}

/* GET /api/v1/licences/{id}/uses?before= — who used my licence */
int licence_api_uses(http_req *r)
{
    long long before;
    if (before_param(r, &before) != 0) return 0;
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    struct licence_row x;
    const char *id;
    if (licence_mine_param(r, c, 0, &x, &id) != 0) {
        store_release(c);
        return 0;
    }
    store_stmt *st = store_prepare(c, "SELECT " USE_COLS " FROM licence_use WHERE licence_no = $1 AND id < $2"
                                      " ORDER BY id DESC LIMIT 100");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    store_bind_text(st, 1, id);
    store_bind_int64(st, 2, before);
    return reply_uses(r, st, c);
}

/* GET /api/v1/licence-uses?licence=&app=&action=&date=&before= — the auditor's view */
int licence_api_uses_all(http_req *r)
{
    long long before;
    if (before_param(r, &before) != 0) return 0;
    const char *lic = http_req_query(r, "licence"), *app = http_req_query(r, "app"),
               *action = http_req_query(r, "action"), *date = http_req_query(r, "date");
    int d;
    json_t *errs = json_array();
    if (lic && licence_id_check(lic, NULL) != 0)
        json_array_append_new(errs, http_field_error("licence", "not a licence identifier"));
    if (date && calendar_date_parse(date, &d) != 0)
        json_array_append_new(errs, http_field_error("date", "a date YYYY-MM-DD"));
    if (action && strcmp(action, "status") && strcmp(action, "share_create") &&
        strcmp(action, "share_view") && strcmp(action, "check") && strcmp(action, "fetch"))
        json_array_append_new(errs,
                              http_field_error("action", "status, share_create, share_view, check or fetch"));
    if (app && strlen(app) > 40) json_array_append_new(errs, http_field_error("app", "an app id"));
    if (json_array_size(errs))
        return http_reply_error(r, 400, "invalid_query", "a query parameter is not valid", errs);
    json_decref(errs);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st =
        store_prepare(c, "SELECT " USE_COLS " FROM licence_use WHERE id < $1 AND ($2 = '' OR licence_no = $2)"
                         " AND ($3 = '' OR (who_kind = 'app' AND who = $3)) AND ($4 = '' OR action = $4)"
                         " AND ($5 = '' OR day = $5) ORDER BY id DESC LIMIT 100");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    store_bind_int64(st, 1, before);
    store_bind_text(st, 2, lic ? lic : "");
    store_bind_text(st, 3, app ? app : "");
    store_bind_text(st, 4, action ? action : "");
    store_bind_text(st, 5, date ? date : "");
    return reply_uses(r, st, c);
}
