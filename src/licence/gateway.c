/*
 * gateway.c — the licence sharing gateway for other systems: applications register
 * (a department's staff account) and an administrator approves them (licence.app.approve,
 * possibly narrowing the fields); approved applications call with a signature —
 * X-App-Id, X-Timestamp (±300 s), X-Nonce (once per app in 10 minutes), X-Signature =
 * hex HMAC-SM3(secret, METHOD\nPATH\nQUERY\nTIMESTAMP\nNONCE\nhex SM3(body)) — under
 * per-app rate limits per minute, hour and day.  Checking a licence's authenticity needs
 * no consent; fetching its fields needs the holder's: a share code, or a standing
 * authorisation the holder gave the application.  See docs/licences.md "The gateway".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/session.h"
#include "calendar/calendar.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "licence/internal.h"
#include "licence/licence.h"

#define SKEW_S   300
#define NONCE_MS 600000LL

/* forget collected input errors when a reply has already gone out */
static void input_drop(struct input *in)
{
    json_decref(in->errors);
    in->errors = NULL;
}

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }
static const struct config *cfg_of(http_req *r) { return ((struct app *)http_req_app(r))->cfg; }
static int unavailable(http_req *r) { return http_reply_error(r, 503, "unavailable", "try again", NULL); }
static long long now_ms(void) { return (long long)(now_wall() * 1000.0); }

static json_t *ms_time(long long ms)
{
    if (ms <= 0) return json_null();
    char ts[48];
    time_rfc3339((double)ms / 1000.0, ts, sizeof ts);
    return json_string(ts);
}

static int json_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_string_value(v) && !strcmp(json_string_value(v), s)) return 1;
    return 0;
}

/* a ∩ b, in a's order (new array) */
static json_t *intersect(const json_t *a, const json_t *b)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (json_string_value(v) && json_has(b, json_string_value(v)))
        json_array_append(out, v);
    return out;
}

int licence_gw_sign(const char *secret, const char *method, const char *path, const char *query,
                    const char *timestamp, const char *nonce, const void *body, size_t len, char out[65])
{
    unsigned char d[SM3_DIGEST_LEN], mac[SM3_DIGEST_LEN];
    char bh[65];
    if (crypto_sm3(body ? body : "", body ? len : 0, d) != 0) return -1;
    hex_encode(d, sizeof d, bh);
    size_t n = strlen(method) + strlen(path) + strlen(query) + strlen(timestamp) + strlen(nonce) + 64 + 8;
    char *msg = malloc(n);
    if (!msg) return -1;
    int m = snprintf(msg, n, "%s\n%s\n%s\n%s\n%s\n%s", method, path, query, timestamp, nonce, bh);
    int rc = crypto_hmac_sm3(secret, strlen(secret), msg, (size_t)m, mac);
    free(msg);
    if (rc != 0) return -1;
    hex_encode(mac, sizeof mac, out);
    return 0;
}

/* ---------- applications ---------- */

/* every scenario of every imported type: {scenario: [fields of any type]} */
static json_t *all_scenarios(store_conn *c)
{
    store_stmt *st = store_prepare(c, "SELECT definition FROM licence_type");
    if (!st) return NULL;
    json_t *all = json_object();
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        json_t *d = json_loads(store_column_text(st, 0), 0, NULL);
        const char *k;
        json_t *f;
        json_object_foreach(json_object_get(d, "scenarios"), k, f)
        {
            json_t *have = json_object_get(all, k);
            if (!have) json_object_set_new(all, k, have = json_array());
            size_t i;
            json_t *v;
            json_array_foreach(f, i, v) if (!json_has(have, json_string_value(v))) json_array_append(have, v);
        }
        json_decref(d);
    }
    store_finalize(st);
    if (rc != STORE_DONE) {
        json_decref(all);
        return NULL;
    }
    return all;
}

struct app_new {
    http_req *r;
    const char *name;
    char dept[64];
    char *scenarios, *fields;
    long long id;
};

static int app_new_tx(store_conn *c, void *arg)
{
    struct app_new *x = arg;
    char pending[40];
    unsigned char rnd[8];
    random_bytes(rnd, sizeof rnd);
    snprintf(pending, sizeof pending, "pending-");
    hex_encode(rnd, sizeof rnd, pending + 8);
    store_stmt *st = store_prepare(
        c, "INSERT INTO licence_app(app_id, name, dept_code, scenarios, fields_requested, state, created_by,"
           " created_ms) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, pending);
    store_bind_text(st, 2, x->name);
    store_bind_text(st, 3, x->dept);
    store_bind_text(st, 4, x->scenarios);
    store_bind_text(st, 5, x->fields);
    store_bind_int64(st, 6, auth_principal(x->r)->account);
    store_bind_int64(st, 7, now_ms());
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    st = store_prepare(c, "SELECT id FROM licence_app WHERE app_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, pending);
    rc = store_step(st);
    if (rc == STORE_ROW) x->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;
    char obj[40];
    snprintf(obj, sizeof obj, "licence_app:%lld", x->id);
    return auth_audit(x->r, c, "licence.app.register", obj, "ok", NULL);
}

/* POST /api/v1/licence-apps {name, scenarios, fields} — a department's staff account */
int licence_api_app_new(http_req *r)
{
    const struct principal *p = auth_principal(r);
    if (strcmp(p->kind, "staff") != 0 || !p->dept)
        return http_reply_error(r, 403, "forbidden",
                                "applications are registered by a department's staff account", NULL);
    static const char *const known[] = {"name", "scenarios", "fields", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *name = input_str(&in, "name", 1, 1, 60);
    json_t *scen = input_str_array(&in, "scenarios", 1, 20, 48);
    json_t *fields = input_str_array(&in, "fields", 1, 40, 48);
    if (scen && !json_array_size(scen)) input_error(&in, "scenarios", "at least one scenario");
    if (fields && !json_array_size(fields)) input_error(&in, "fields", "at least one field");
    store_conn *c = store_acquire(db_of(r));
    if (!c) {
        input_drop(&in);
        return unavailable(r);
    }
    json_t *all = all_scenarios(c);
    struct app_new x = {.r = r, .name = name};
    store_stmt *st = store_prepare(c, "SELECT code FROM department WHERE id = $1");
    int rc = st ? STORE_OK : STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, p->dept);
        rc = store_step(st);
        if (rc == STORE_ROW) snprintf(x.dept, sizeof x.dept, "%s", store_column_text(st, 0));
        store_finalize(st);
    }
    store_release(c);
    if (!all || (rc != STORE_ROW && rc != STORE_DONE)) {
        json_decref(all);
        input_drop(&in);
        return unavailable(r);
    }
    size_t i;
    json_t *v;
    char key[48];
    json_t *reach = json_array(); /* fields any requested scenario shows */
    json_array_foreach(scen, i, v)
    {
        json_t *f = json_object_get(all, json_string_value(v));
        snprintf(key, sizeof key, "scenarios[%zu]", i);
        if (!f)
            input_error(&in, key, "not a sharing scenario of any licence type");
        else
            json_array_extend(reach, f);
    }
    json_array_foreach(fields, i, v)
    {
        snprintf(key, sizeof key, "fields[%zu]", i);
        if (!json_has(reach, json_string_value(v)))
            input_error(&in, key, "not a field the requested scenarios show");
    }
    json_decref(reach);
    json_decref(all);
    if (input_done(&in) != 0) return 0;
    x.scenarios = json_dumps(scen, JSON_COMPACT);
    x.fields = json_dumps(fields, JSON_COMPACT);
    rc = x.scenarios && x.fields ? store_tx(db_of(r), 1, app_new_tx, &x) : STORE_ERROR;
    free(x.scenarios);
    free(x.fields);
    if (rc != STORE_OK) return unavailable(r);
    return http_reply_json(
        r, 201, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x.id, "state", "pending", "dept", x.dept));
}

#define APP_COLS                                                                                             \
    "id, app_id, name, dept_code, scenarios, fields_requested, fields_approved, state, created_by,"          \
    " created_ms, decided_by, decided_ms, reason"

static json_t *app_json(store_stmt *st)
{
    const char *state = store_column_text(st, 7);
    json_t *o =
        json_pack("{s:I, s:o, s:s, s:s, s:o, s:o, s:o, s:s, s:I, s:o, s:o, s:o, s:o}", "id",
                  (json_int_t)store_column_int64(st, 0), "app_id",
                  !strcmp(state, "approved") ? json_string(store_column_text(st, 1)) : json_null(), "name",
                  store_column_text(st, 2), "dept", store_column_text(st, 3), "scenarios",
                  json_loads(store_column_text(st, 4), 0, NULL), "fields_requested",
                  json_loads(store_column_text(st, 5), 0, NULL), "fields_approved",
                  store_column_text(st, 6) ? json_loads(store_column_text(st, 6), 0, NULL) : json_null(),
                  "state", state, "created_by", (json_int_t)store_column_int64(st, 8), "created_at",
                  ms_time(store_column_int64(st, 9)), "decided_by",
                  store_column_is_null(st, 10) ? json_null() : json_integer(store_column_int64(st, 10)),
                  "decided_at", ms_time(store_column_is_null(st, 11) ? 0 : store_column_int64(st, 11)),
                  "reason", store_column_text(st, 12) ? json_string(store_column_text(st, 12)) : json_null());
    return o;
}

/* GET /api/v1/licence-apps — approvers and auditors see all, staff their own */
int licence_api_app_list(http_req *r)
{
    const struct principal *p = auth_principal(r);
    int all = auth_has(p, "licence.app.approve") || auth_has(p, "audit.read");
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st = store_prepare(c, "SELECT " APP_COLS " FROM licence_app WHERE ($1 = 1 OR created_by = $2)"
                                      " ORDER BY id DESC LIMIT 500");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    store_bind_int64(st, 1, all);
    store_bind_int64(st, 2, p->account);
    json_t *list = json_array();
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) json_array_append_new(list, app_json(st));
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "apps", list));
}

/* GET /api/v1/licence-apps/approved — the approved applications a holder may authorise:
 * their public face only (app id, name, department, scenarios, the fields they may see) */
int licence_api_app_approved(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st =
        store_prepare(c, "SELECT a.app_id, a.name, a.dept_code, d.name, a.scenarios, a.fields_approved"
                         " FROM licence_app a LEFT JOIN department d ON d.code = a.dept_code"
                         " WHERE a.state = 'approved' ORDER BY a.name, a.id LIMIT 500");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    json_t *list = json_array();
    int rc;
    while ((rc = store_step(st)) == STORE_ROW)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o}", "app_id", store_column_text(st, 0),
                                        "name", store_column_text(st, 1), "dept", store_column_text(st, 2),
                                        "dept_name", store_column_text(st, 3), "scenarios",
                                        json_loads(store_column_text(st, 4), 0, NULL), "fields",
                                        json_loads(store_column_text(st, 5), 0, NULL)));
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "apps", list));
}

struct decide {
    http_req *r;
    long long id;
    int approve;
    json_t *fields; /* narrowing, or NULL */
    const char *reason;
    int status;
    const char *code, *msg;
    json_t *bad; /* field errors */
    char app_id[40], secret[65];
    json_t *approved;
};

static int decide_tx(store_conn *c, void *arg)
{
    struct decide *x = arg;
    x->status = 0;
    json_decref(x->approved);
    x->approved = NULL;
    json_decref(x->bad);
    x->bad = NULL;
    const struct principal *p = auth_principal(x->r);
    store_stmt *st =
        store_prepare(c, "SELECT state, created_by, fields_requested FROM licence_app WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    int rc = store_step(st);
    char state[16] = "";
    long long by = 0;
    json_t *req = NULL;
    if (rc == STORE_ROW) {
        snprintf(state, sizeof state, "%s", store_column_text(st, 0));
        by = store_column_int64(st, 1);
        req = json_loads(store_column_text(st, 2), 0, NULL);
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc;
    char obj[40];
    snprintf(obj, sizeof obj, "licence_app:%lld", x->id);
    const char *action = x->approve ? "licence.app.approve" : "licence.app.reject";
    if (rc == STORE_DONE) {
        x->status = 404, x->code = "not_found", x->msg = "no such application";
        return STORE_OK;
    }
    if (strcmp(state, "pending") != 0) {
        json_decref(req);
        x->status = 409, x->code = "wrong_state", x->msg = "only a pending application can be decided";
        return STORE_OK;
    }
    if (by == p->account) {
        json_decref(req);
        x->status = 403, x->code = "separation_of_duties",
        x->msg = "an application is not decided by who registered it";
        return auth_audit(x->r, c, action, obj, "denied", "{\"reason\":\"separation_of_duties\"}");
    }
    if (x->approve) {
        if (x->fields) {
            size_t i;
            json_t *v;
            char key[32];
            json_array_foreach(x->fields, i, v) if (!json_has(req, json_string_value(v)))
            {
                snprintf(key, sizeof key, "fields[%zu]", i);
                if (!x->bad) x->bad = json_array();
                json_array_append_new(x->bad,
                                      http_field_error(key, "approval may only narrow the requested fields"));
            }
            if (x->bad) {
                json_decref(req);
                x->status = 422, x->code = "validation_failed", x->msg = "the request has invalid fields";
                return STORE_OK;
            }
            x->approved = json_deep_copy(x->fields);
        } else {
            x->approved = json_incref(req);
        }
    }
    json_decref(req);
    long long now = now_ms();
    char *sealed = NULL, *fields = NULL;
    if (x->approve) {
        unsigned char b[32], a[8];
        random_bytes(b, sizeof b);
        random_bytes(a, sizeof a);
        hex_encode(b, sizeof b, x->secret);
        snprintf(x->app_id, sizeof x->app_id, "app_");
        hex_encode(a, sizeof a, x->app_id + 4);
        crypto_wipe(b, sizeof b);
        sealed = keys_seal(x->secret);
        fields = json_dumps(x->approved, JSON_COMPACT);
        if (!sealed || !fields) {
            free(sealed);
            free(fields);
            return STORE_ERROR;
        }
    }
    st = store_prepare(
        c, "UPDATE licence_app SET state = $2, app_id = CASE WHEN $3 = '' THEN app_id ELSE $3 END,"
           " secret_enc = $4, fields_approved = $5, decided_by = $6, decided_ms = $7, reason = $8"
           " WHERE id = $1");
    if (!st) {
        free(sealed);
        free(fields);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, x->id);
    store_bind_text(st, 2, x->approve ? "approved" : "rejected");
    store_bind_text(st, 3, x->approve ? x->app_id : "");
    if (sealed)
        store_bind_text(st, 4, sealed);
    else
        store_bind_null(st, 4);
    if (fields)
        store_bind_text(st, 5, fields);
    else
        store_bind_null(st, 5);
    store_bind_int64(st, 6, p->account);
    store_bind_int64(st, 7, now);
    if (x->reason)
        store_bind_text(st, 8, x->reason);
    else
        store_bind_null(st, 8);
    rc = store_step(st);
    store_finalize(st);
    free(sealed);
    if (rc != STORE_DONE) {
        free(fields);
        return rc == STORE_OK ? STORE_ERROR : rc;
    }
    if (x->approve) {
        static const char *const wins[] = {"m", "h", "d"};
        for (int i = 0; i < 3; i++) {
            st =
                store_prepare(c, "INSERT INTO licence_app_rate(app_id, win, start, n) VALUES ($1, $2, 0, 0)");
            if (!st) {
                free(fields);
                return STORE_ERROR;
            }
            store_bind_text(st, 1, x->app_id);
            store_bind_text(st, 2, wins[i]);
            rc = store_step(st);
            store_finalize(st);
            if (rc != STORE_DONE) {
                free(fields);
                return rc == STORE_OK ? STORE_ERROR : rc;
            }
        }
    }
    char det[1024];
    if (x->approve)
        snprintf(det, sizeof det, "{\"app_id\":\"%s\",\"fields\":%s}", x->app_id, fields);
    else
        snprintf(det, sizeof det, "{}");
    free(fields);
    return auth_audit(x->r, c, action, obj, "ok", det);
}

static int app_id_param(http_req *r, long long *id)
{
    const char *s = http_req_param(r, "id");
    if (!s || parse_int64(s, id) != 0 || *id <= 0) {
        http_reply_error(r, 400, "invalid_id", "not an application id",
                         json_pack("[o]", http_field_error("id", "a positive integer")));
        return -1;
    }
    return 0;
}

static int run_decide(http_req *r, struct decide *x)
{
    int rc = store_tx(db_of(r), 1, decide_tx, x);
    json_decref(x->fields);
    if (rc != STORE_OK) {
        json_decref(x->approved);
        json_decref(x->bad);
        return unavailable(r);
    }
    if (x->status) {
        json_decref(x->approved);
        return http_reply_error(r, (unsigned)x->status, x->code, x->msg, x->bad);
    }
    if (!x->approve)
        return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)x->id, "state", "rejected"));
    json_t *out = json_pack("{s:I, s:s, s:s, s:s, s:o, s:s}", "id", (json_int_t)x->id, "state", "approved",
                            "app_id", x->app_id, "secret", x->secret, "fields", x->approved, "note",
                            "the secret is shown only now: keep it in the application's configuration");
    crypto_wipe(x->secret, sizeof x->secret);
    return http_reply_json(r, 200, out);
}

/* POST /api/v1/licence-apps/{id}/approve {fields?} */
int licence_api_app_approve(http_req *r)
{
    long long id;
    if (app_id_param(r, &id) != 0) return 0;
    static const char *const known[] = {"fields", NULL};
    struct decide x = {.r = r, .id = id, .approve = 1};
    if (http_req_json(r)) {
        struct input in;
        if (input_begin(&in, r, known) != 0) return 0;
        json_t *f = input_str_array(&in, "fields", 0, 40, 48);
        if (f && !json_array_size(f)) input_error(&in, "fields", "at least one field");
        if (input_done(&in) != 0) return 0;
        x.fields = f ? json_deep_copy(f) : NULL;
    }
    return run_decide(r, &x);
}

/* POST /api/v1/licence-apps/{id}/reject {reason} */
int licence_api_app_reject(http_req *r)
{
    long long id;
    if (app_id_param(r, &id) != 0) return 0;
    static const char *const known[] = {"reason", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *reason = input_str(&in, "reason", 1, 1, 200);
    if (input_done(&in) != 0) return 0;
    struct decide x = {.r = r, .id = id, .approve = 0, .reason = reason};
    return run_decide(r, &x);
}

/* ---------- standing authorisations (the holder's) ---------- */

struct auth_new {
    http_req *r;
    const char *id, *app_id, *scenario;
    int until;
    long long aid;
};

static int auth_new_tx(store_conn *c, void *arg)
{
    struct auth_new *x = arg;
    long long now = now_ms();
    store_stmt *st =
        store_prepare(c, "INSERT INTO licence_auth(licence_no, app_id, scenario, until_day, account_id,"
                         " created_ms) VALUES ($1, $2, $3, $4, $5, $6)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->id);
    store_bind_text(st, 2, x->app_id);
    store_bind_text(st, 3, x->scenario);
    store_bind_int64(st, 4, x->until);
    store_bind_int64(st, 5, auth_principal(x->r)->account);
    store_bind_int64(st, 6, now);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    st = store_prepare(c, "SELECT MAX(id) FROM licence_auth WHERE licence_no = $1 AND app_id = $2");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->id);
    store_bind_text(st, 2, x->app_id);
    rc = store_step(st);
    if (rc == STORE_ROW) x->aid = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;
    char det[200];
    snprintf(det, sizeof det,
             "{\"authorisation\":%lld,\"app_id\":\"%s\",\"scenario\":\"%s\",\"until_day\":%d}", x->aid,
             x->app_id, x->scenario, x->until);
    return auth_audit(x->r, c, "licence.auth.grant", x->id, "ok", det);
}

/* the approved application's scenarios (new array) and name; NULL when not approved */
static json_t *approved_app(store_conn *c, const char *app_id, char name[128], int *err)
{
    *err = 0;
    store_stmt *st =
        store_prepare(c, "SELECT scenarios, name FROM licence_app WHERE app_id = $1 AND state = 'approved'");
    if (!st) return *err = 1, NULL;
    store_bind_text(st, 1, app_id);
    int rc = store_step(st);
    json_t *s = NULL;
    if (rc == STORE_ROW) {
        s = json_loads(store_column_text(st, 0), 0, NULL);
        snprintf(name, 128, "%s", store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) *err = 1;
    return s;
}

/* POST /api/v1/licences/{id}/authorisations {app_id, scenario, until} */
int licence_api_auth_new(http_req *r)
{
    static const char *const known[] = {"app_id", "scenario", "until", NULL};
    struct input in;
    const char *why = NULL, *id = http_req_param(r, "id");
    if (licence_id_check(id, &why) != 0)
        return http_reply_error(r, 400, "invalid_id", "not a licence identifier",
                                json_pack("[o]", http_field_error("id", why)));
    if (input_begin(&in, r, known) != 0) return 0;
    const char *app_id = input_str(&in, "app_id", 1, 1, 40);
    const char *scenario = input_str(&in, "scenario", 1, 1, 48);
    const char *until = input_str(&in, "until", 1, 10, 10);
    int uday = 0;
    if (until && calendar_date_parse(until, &uday) != 0)
        input_error(&in, "until", "a date YYYY-MM-DD");
    else if (until && (uday < calendar_today() || uday > calendar_today() + 366))
        input_error(&in, "until", "from today to a year from today");
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
    char name[128] = "";
    int err;
    json_t *scen = app_id ? approved_app(c, app_id, name, &err) : (err = 0, NULL);
    json_t *fields = scenario ? licence_scenario_fields(c, x.type, scenario) : NULL;
    store_release(c);
    if (err) {
        json_decref(scen);
        json_decref(fields);
        input_drop(&in);
        return unavailable(r);
    }
    if (app_id && !scen) input_error(&in, "app_id", "not an approved application");
    if (scenario && !fields)
        input_error(&in, "scenario", "not a sharing scenario of this licence's type");
    else if (scen && !json_has(scen, scenario))
        input_error(&in, "scenario", "the application is not approved for it");
    json_decref(scen);
    json_decref(fields);
    if (input_done(&in) != 0) return 0;
    struct auth_new q = {.r = r, .id = id, .app_id = app_id, .scenario = scenario, .until = uday};
    if (store_tx(db_of(r), 1, auth_new_tx, &q) != STORE_OK) return unavailable(r);
    return http_reply_json(r, 201,
                           json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)q.aid, "app_id",
                                     app_id, "app_name", name, "scenario", scenario, "until", until, "state",
                                     "active"));
}

/* GET /api/v1/licences/{id}/authorisations */
int licence_api_auth_list(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    struct licence_row x;
    const char *id;
    if (licence_mine_param(r, c, 0, &x, &id) != 0) {
        store_release(c);
        return 0;
    }
    store_stmt *st =
        store_prepare(c, "SELECT a.id, a.app_id, p.name, a.scenario, a.until_day, a.created_ms,"
                         " a.revoked_ms FROM licence_auth a LEFT JOIN licence_app p ON p.app_id = a.app_id"
                         " WHERE a.licence_no = $1 ORDER BY a.id DESC LIMIT 200");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    store_bind_text(st, 1, id);
    json_t *list = json_array();
    int rc, today = calendar_today();
    while ((rc = store_step(st)) == STORE_ROW) {
        char until[11];
        calendar_date_format((int)store_column_int64(st, 4), until);
        const char *state = !store_column_is_null(st, 6)        ? "revoked"
                            : store_column_int64(st, 4) < today ? "expired"
                                                                : "active";
        json_array_append_new(
            list, json_pack("{s:I, s:s, s:s?, s:s, s:s, s:o, s:o, s:s}", "id",
                            (json_int_t)store_column_int64(st, 0), "app_id", store_column_text(st, 1),
                            "app_name", store_column_text(st, 2), "scenario", store_column_text(st, 3),
                            "until", until, "created_at", ms_time(store_column_int64(st, 5)), "revoked_at",
                            store_column_is_null(st, 6) ? json_null() : ms_time(store_column_int64(st, 6)),
                            "state", state));
    }
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "authorisations", list));
}

struct auth_revoke {
    http_req *r;
    const char *id;
    long long aid;
    int found;
};

static int auth_revoke_tx(store_conn *c, void *arg)
{
    struct auth_revoke *x = arg;
    x->found = 0;
    store_stmt *st = store_prepare(
        c, "SELECT 1 FROM licence_auth WHERE id = $1 AND licence_no = $2 AND revoked_ms IS NULL");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->aid);
    store_bind_text(st, 2, x->id);
    int rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_ROW) return rc;
    st = store_prepare(c, "UPDATE licence_auth SET revoked_ms = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->aid);
    store_bind_int64(st, 2, now_ms());
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    x->found = 1;
    char det[64];
    snprintf(det, sizeof det, "{\"authorisation\":%lld}", x->aid);
    return auth_audit(x->r, c, "licence.auth.revoke", x->id, "ok", det);
}

/* DELETE /api/v1/licences/{id}/authorisations/{aid} */
int licence_api_auth_revoke(http_req *r)
{
    const char *s = http_req_param(r, "aid");
    long long aid;
    if (!s || parse_int64(s, &aid) != 0 || aid <= 0)
        return http_reply_error(r, 400, "invalid_id", "not an authorisation id",
                                json_pack("[o]", http_field_error("aid", "a positive integer")));
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    struct licence_row x;
    const char *id;
    int rc = licence_mine_param(r, c, 0, &x, &id);
    store_release(c);
    if (rc != 0) return 0;
    struct auth_revoke q = {.r = r, .id = id, .aid = aid};
    if (store_tx(db_of(r), 1, auth_revoke_tx, &q) != STORE_OK) return unavailable(r);
    if (!q.found) return http_reply_error(r, 404, "not_found", "no such active authorisation", NULL);
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)aid, "state", "revoked"));
}

/* ---------- signed calls ---------- */

struct gw {
    http_req *r;
    const char *app_id, *ts, *nonce, *sig;
    long long limits[3];
    int status;
    const char *code, *msg, *field;
    long long retry_after;
    json_t *scenarios, *fields; /* the app's, when verified */
};

static int gw_audit(store_conn *c, struct gw *g, const char *action, const char *object, const char *result,
                    const char *details)
{
    char actor[48];
    snprintf(actor, sizeof actor, "app:%s", g->app_id);
    struct audit_event e = {actor,  "app",  http_req_client(g->r), http_req_id(g->r), action, object,
                            result, details};
    return audit_append(c, &e);
}

static int refuse(struct gw *g, int status, const char *code, const char *msg, const char *field)
{
    g->status = status, g->code = code, g->msg = msg, g->field = field;
    return STORE_OK;
}

static int gw_tx(store_conn *c, void *arg)
{
    struct gw *g = arg;
    g->status = 0;
    json_decref(g->scenarios);
    json_decref(g->fields);
    g->scenarios = g->fields = NULL;
    int pg = store_conn_engine(c) == STORE_POSTGRES;
    store_stmt *st = store_prepare(c, "SELECT secret_enc, scenarios, fields_approved FROM licence_app"
                                      " WHERE app_id = $1 AND state = 'approved'");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, g->app_id);
    int rc = store_step(st);
    char *secret = NULL;
    if (rc == STORE_ROW) {
        secret = keys_open(store_column_text(st, 0));
        g->scenarios = json_loads(store_column_text(st, 1), 0, NULL);
        g->fields = json_loads(store_column_text(st, 2), 0, NULL);
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc;
    if (rc == STORE_DONE)
        return refuse(g, 401, "unknown_app", "no approved application has this id", "X-App-Id");
    if (!secret) return STORE_ERROR;
    size_t blen = 0;
    const void *body = http_req_body(g->r, &blen);
    char want[65];
    rc = licence_gw_sign(secret, http_req_method(g->r), http_req_path(g->r), "", g->ts, g->nonce, body, blen,
                         want);
    crypto_wipe(secret, strlen(secret));
    free(secret);
    if (rc != 0) return STORE_ERROR;
    char got[65];
    snprintf(got, sizeof got, "%s", g->sig);
    for (char *p = got; *p; p++)
        if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
    if (crypto_equal(want, got, 64) != 0) {
        refuse(g, 401, "bad_signature", "the signature does not match the request", "X-Signature");
        return gw_audit(c, g, "licence.gateway.denied", http_req_path(g->r), "denied",
                        "{\"reason\":\"bad_signature\"}");
    }
    long long now = now_ms();
    /* the nonce: once per app within the timestamp window (10 minutes kept) */
    st = store_prepare(c, "SELECT 1 FROM licence_app_nonce WHERE app_id = $1 AND nonce = $2");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, g->app_id);
    store_bind_text(st, 2, g->nonce);
    rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_ROW) {
        refuse(g, 401, "replayed_nonce", "this nonce was already used", "X-Nonce");
        return gw_audit(c, g, "licence.gateway.denied", http_req_path(g->r), "denied",
                        "{\"reason\":\"replayed_nonce\"}");
    }
    if (rc != STORE_DONE) return rc;
    unsigned char coin;
    random_bytes(&coin, 1);
    if (coin < 4) { /* now and then, forget nonces past the window */
        st = store_prepare(c, "DELETE FROM licence_app_nonce WHERE app_id = $1 AND at_ms < $2");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, g->app_id);
        store_bind_int64(st, 2, now - NONCE_MS);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    }
    st = store_prepare(c, "INSERT INTO licence_app_nonce(app_id, nonce, at_ms) VALUES ($1, $2, $3)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, g->app_id);
    store_bind_text(st, 2, g->nonce);
    store_bind_int64(st, 3, now);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc; /* a racing replay: STORE_CONSTRAINT */
    /* rate limits: every window checked before any is counted */
    static const char *const wins[] = {"m", "h", "d"};
    static const long long lens[] = {60, 3600, 86400};
    long long s = now / 1000, start[3], n[3];
    for (int i = 0; i < 3; i++) {
        st = store_prepare(
            c, pg ? "SELECT start, n FROM licence_app_rate WHERE app_id = $1 AND win = $2 FOR UPDATE"
                  : "SELECT start, n FROM licence_app_rate WHERE app_id = $1 AND win = $2");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, g->app_id);
        store_bind_text(st, 2, wins[i]);
        rc = store_step(st);
        start[i] = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
        n[i] = rc == STORE_ROW ? store_column_int64(st, 1) : 0;
        store_finalize(st);
        if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;
        long long cur = s / lens[i] * lens[i];
        if (start[i] != cur) start[i] = cur, n[i] = 0;
        if (n[i] >= g->limits[i]) {
            g->retry_after = cur + lens[i] - s;
            if (g->retry_after < 1) g->retry_after = 1;
            return refuse(g, 429, "rate_limited",
                          i == 0   ? "too many calls this minute"
                          : i == 1 ? "too many calls this hour"
                                   : "too many calls today",
                          "X-App-Id");
        }
    }
    for (int i = 0; i < 3; i++) {
        st =
            store_prepare(c, "UPDATE licence_app_rate SET start = $3, n = $4 WHERE app_id = $1 AND win = $2");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, g->app_id);
        store_bind_text(st, 2, wins[i]);
        store_bind_int64(st, 3, start[i]);
        store_bind_int64(st, 4, n[i] + 1);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    }
    return STORE_OK;
}

static int hexish(const char *s, size_t n)
{
    if (!s || strlen(s) != n) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F'))) return 0;
    return 1;
}

static int nonce_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 8 || n > 64) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-' ||
              *s == '_'))
            return 0;
    return 1;
}

/* Check the signature headers, the nonce and the rate limits: 0 with g filled, or -1
 * after replying. */
static int gw_verify(http_req *r, struct gw *g)
{
    memset(g, 0, sizeof *g);
    g->r = r;
    g->app_id = http_req_header(r, "X-App-Id");
    g->ts = http_req_header(r, "X-Timestamp");
    g->nonce = http_req_header(r, "X-Nonce");
    g->sig = http_req_header(r, "X-Signature");
    json_t *bad = json_array();
    long long ts = 0;
    if (!g->app_id || strlen(g->app_id) < 4 || strlen(g->app_id) > 40)
        json_array_append_new(bad, http_field_error("X-App-Id", "the application's id"));
    if (!g->ts || parse_int64(g->ts, &ts) != 0)
        json_array_append_new(bad, http_field_error("X-Timestamp", "unix time in seconds"));
    if (!nonce_ok(g->nonce))
        json_array_append_new(
            bad, http_field_error("X-Nonce", "8-64 characters A-Z a-z 0-9 - _, new for each call"));
    if (!hexish(g->sig, 64))
        json_array_append_new(bad, http_field_error("X-Signature", "64 hex digits of HMAC-SM3"));
    if (json_array_size(bad)) {
        http_reply_error(r, 401, "unsigned",
                         "a signed call needs X-App-Id, X-Timestamp, X-Nonce and X-Signature", bad);
        return -1;
    }
    json_decref(bad);
    long long now = (long long)now_wall();
    if (ts < now - SKEW_S || ts > now + SKEW_S) {
        http_reply_error(r, 401, "stale_timestamp",
                         "X-Timestamp is more than 300 seconds from the server's clock",
                         json_pack("[o]", http_field_error("X-Timestamp", "within 300 s of now")));
        return -1;
    }
    const struct config *cfg = cfg_of(r);
    g->limits[0] = cfg->gateway_per_minute;
    g->limits[1] = cfg->gateway_per_hour;
    g->limits[2] = cfg->gateway_per_day;
    int rc = store_tx(db_of(r), 1, gw_tx, g);
    if (rc == STORE_CONSTRAINT) {
        g->status = 401, g->code = "replayed_nonce", g->msg = "this nonce was already used",
        g->field = "X-Nonce";
    } else if (rc != STORE_OK) {
        unavailable(r);
        return -1;
    }
    if (g->status) {
        if (g->status == 429) {
            char ra[24];
            snprintf(ra, sizeof ra, "%lld", g->retry_after);
            http_add_header(r, "Retry-After", ra);
        }
        json_decref(g->scenarios);
        json_decref(g->fields);
        http_reply_error(r, (unsigned)g->status, g->code, g->msg,
                         json_pack("[o]", http_field_error(g->field, g->code)));
        return -1;
    }
    return 0;
}

static void gw_free(struct gw *g)
{
    json_decref(g->scenarios);
    json_decref(g->fields);
}

/* ---------- GET /api/v1/gateway/licences/{id}/check ---------- */

struct check {
    struct gw *g;
    const char *id;
    int found;
    json_t *out;
};

static int check_tx(store_conn *c, void *arg)
{
    struct check *x = arg;
    json_decref(x->out);
    x->out = NULL;
    struct licence_row lr;
    int rc = licence_row_load(c, x->id, 1, &lr);
    if (rc != STORE_ROW && rc != STORE_DONE) {
        licence_row_free(&lr);
        return rc;
    }
    x->found = rc == STORE_ROW;
    if (x->found) {
        json_t *keys = licence_public_keys(licence_keys_path());
        char reason[32] = "", detail[256] = "";
        licence_verify(lr.doc, keys, calendar_today(), reason, detail, sizeof detail);
        json_decref(keys);
        json_t *lic = json_object_get(lr.doc, "licence");
        int sealed =
            !strcmp(reason, "valid") || !strcmp(reason, "expired") || !strcmp(reason, "not_yet_valid");
        x->out =
            json_pack("{s:s, s:s, s:s, s:s, s:O?, s:b, s:s, s:O?}", "id", x->id, "status", lr.status, "type",
                      lr.type, "issuer", lr.issuer, "issuer_name", json_object_get(lic, "issuer_name"),
                      "seal_valid", sealed, "seal", reason, "valid_to", json_object_get(lic, "valid_to"));
    }
    licence_row_free(&lr);
    return licence_use_log(c, x->id, "check", "app", x->g->app_id, NULL, x->found ? "ok" : "not_found");
}

int licence_api_gw_check(http_req *r)
{
    const char *why = NULL, *id = http_req_param(r, "id");
    struct gw g;
    if (gw_verify(r, &g) != 0) return 0;
    gw_free(&g);
    if (licence_id_check(id, &why) != 0)
        return http_reply_error(r, 400, "invalid_id", "not a licence identifier",
                                json_pack("[o]", http_field_error("id", why)));
    struct check x = {.g = &g, .id = id};
    if (store_tx(db_of(r), 1, check_tx, &x) != STORE_OK) {
        json_decref(x.out);
        return unavailable(r);
    }
    licence_use_served("check");
    if (!x.found) return http_reply_error(r, 404, "not_found", "no such licence", NULL);
    return http_reply_json(r, 200, x.out);
}

/* ---------- POST /api/v1/gateway/licences/fetch ---------- */

struct fetch {
    struct gw *g;
    const char *share_code, *licence_id, *scenario;
    char hash[65], licence[LICENCE_ID_MAX], scen[64];
    int status;
    const char *code, *msg, *field;
    json_t *out;
};

static int fetch_fail(struct fetch *x, int status, const char *code, const char *msg, const char *field)
{
    x->status = status, x->code = code, x->msg = msg, x->field = field;
    return STORE_OK;
}

static int fetch_tx(store_conn *c, void *arg)
{
    struct fetch *x = arg;
    x->status = 0;
    json_decref(x->out);
    x->out = NULL;
    int pg = store_conn_engine(c) == STORE_POSTGRES;
    json_t *fields = NULL;
    const char *consent = NULL;
    int rc;
    if (x->share_code) {
        store_stmt *st =
            store_prepare(c, pg ? "SELECT id, licence_no, scenario, fields, uses_left, expires_ms,"
                                  " revoked_ms FROM licence_share WHERE code_hash = $1 FOR UPDATE"
                                : "SELECT id, licence_no, scenario, fields, uses_left, expires_ms,"
                                  " revoked_ms FROM licence_share WHERE code_hash = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, x->hash);
        rc = store_step(st);
        if (rc == STORE_DONE) {
            store_finalize(st);
            return fetch_fail(x, 404, "not_found", "no such share code", "share_code");
        }
        if (rc != STORE_ROW) {
            store_finalize(st);
            return rc;
        }
        long long sid = store_column_int64(st, 0), left = store_column_int64(st, 4),
                  exp = store_column_int64(st, 5);
        int revoked = !store_column_is_null(st, 6);
        snprintf(x->licence, sizeof x->licence, "%s", store_column_text(st, 1));
        snprintf(x->scen, sizeof x->scen, "%s", store_column_text(st, 2));
        fields = json_loads(store_column_text(st, 3), 0, NULL);
        store_finalize(st);
        const char *why = revoked ? "revoked" : exp <= now_ms() ? "expired" : left <= 0 ? "used_up" : NULL;
        if (!why && x->scenario && strcmp(x->scenario, x->scen) != 0) why = "scenario_mismatch";
        if (!why && !json_has(x->g->scenarios, x->scen)) why = "scenario_not_approved";
        if (why) {
            json_decref(fields);
            if (!strcmp(why, "scenario_mismatch"))
                fetch_fail(x, 422, why, "the share code was made for another scenario", "scenario");
            else if (!strcmp(why, "scenario_not_approved"))
                fetch_fail(x, 403, why, "the application is not approved for this scenario", "scenario");
            else
                fetch_fail(x, 410, why, "the share code cannot be used", "share_code");
            return licence_use_log(c, x->licence, "fetch", "app", x->g->app_id, x->scen, why);
        }
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
        consent = "share_code";
    } else {
        snprintf(x->licence, sizeof x->licence, "%s", x->licence_id);
        snprintf(x->scen, sizeof x->scen, "%s", x->scenario);
        if (!json_has(x->g->scenarios, x->scen)) {
            fetch_fail(x, 403, "scenario_not_approved", "the application is not approved for this scenario",
                       "scenario");
            return licence_use_log(c, x->licence, "fetch", "app", x->g->app_id, x->scen,
                                   "scenario_not_approved");
        }
        consent = "authorisation";
    }
    struct licence_row lr;
    rc = licence_row_load(c, x->licence, 1, &lr);
    if (rc == STORE_DONE) {
        licence_row_free(&lr);
        json_decref(fields);
        fetch_fail(x, 404, "not_found", "no such licence", "licence_id");
        return licence_use_log(c, x->licence, "fetch", "app", x->g->app_id, x->scen, "not_found");
    }
    if (rc != STORE_ROW) {
        licence_row_free(&lr);
        json_decref(fields);
        return rc;
    }
    if (!x->share_code) {
        store_stmt *st =
            store_prepare(c, "SELECT COUNT(*) FROM licence_auth WHERE licence_no = $1 AND app_id = $2"
                             " AND scenario = $3 AND revoked_ms IS NULL AND until_day >= $4");
        if (!st) {
            licence_row_free(&lr);
            return STORE_ERROR;
        }
        store_bind_text(st, 1, x->licence);
        store_bind_text(st, 2, x->g->app_id);
        store_bind_text(st, 3, x->scen);
        store_bind_int64(st, 4, calendar_today());
        rc = store_step(st);
        long long n = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
        store_finalize(st);
        if (rc != STORE_ROW) {
            licence_row_free(&lr);
            return rc == STORE_DONE ? STORE_ERROR : rc;
        }
        if (!n) {
            licence_row_free(&lr);
            fetch_fail(
                x, 403, "no_consent",
                "the holder has not authorised this application for this scenario: ask for a share code",
                "licence_id");
            rc = licence_use_log(c, x->licence, "fetch", "app", x->g->app_id, x->scen, "no_consent");
            if (rc != STORE_OK) return rc;
            return gw_audit(c, x->g, "licence.gateway.fetch", x->licence, "denied",
                            "{\"reason\":\"no_consent\"}");
        }
        fields = licence_scenario_fields(c, lr.type, x->scen);
        if (!fields) {
            licence_row_free(&lr);
            fetch_fail(x, 422, "no_such_scenario", "the licence's type has no such scenario", "scenario");
            return licence_use_log(c, x->licence, "fetch", "app", x->g->app_id, x->scen, "no_such_scenario");
        }
    }
    json_t *allowed = intersect(fields, x->g->fields);
    json_decref(fields);
    json_t *shown = licence_pick(lr.doc, allowed);
    x->out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "licence_id", x->licence, "status", lr.status,
                       "scenario", x->scen, "scenario_name", licence_scenario_name(x->scen), "consent",
                       consent, "fields", allowed, "licence", shown);
    licence_row_free(&lr);
    rc = licence_use_log(c, x->licence, "fetch", "app", x->g->app_id, x->scen, "ok");
    if (rc != STORE_OK) return rc;
    char det[200];
    snprintf(det, sizeof det, "{\"scenario\":\"%s\",\"consent\":\"%s\"}", x->scen, consent);
    return gw_audit(c, x->g, "licence.gateway.fetch", x->licence, "ok", det);
}

int licence_api_gw_fetch(http_req *r)
{
    struct gw g;
    if (gw_verify(r, &g) != 0) return 0;
    static const char *const known[] = {"share_code", "licence_id", "scenario", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) {
        gw_free(&g);
        return 0;
    }
    const char *code = input_str(&in, "share_code", 0, 24, 24);
    const char *lid = input_str(&in, "licence_id", 0, 1, LICENCE_ID_MAX - 1);
    const char *scenario = input_str(&in, "scenario", 0, 1, 48);
    if (!code && !lid)
        input_error(&in, "share_code", "a share code, or licence_id with a standing authorisation");
    if (code && lid) input_error(&in, "licence_id", "either share_code or licence_id, not both");
    if (lid && licence_id_check(lid, NULL) != 0) input_error(&in, "licence_id", "not a licence identifier");
    if (lid && !scenario) input_error(&in, "scenario", "the scenario the holder authorised");
    if (input_done(&in) != 0) {
        gw_free(&g);
        return 0;
    }
    struct fetch x = {.g = &g, .share_code = code, .licence_id = lid, .scenario = scenario};
    if (code) {
        unsigned char d[SM3_DIGEST_LEN];
        crypto_sm3(code, strlen(code), d);
        hex_encode(d, sizeof d, x.hash);
    }
    int rc = store_tx(db_of(r), 1, fetch_tx, &x);
    gw_free(&g);
    if (rc != STORE_OK) {
        json_decref(x.out);
        return unavailable(r);
    }
    licence_use_served("fetch");
    if (x.status)
        return http_reply_error(r, (unsigned)x.status, x.code, x.msg,
                                json_pack("[o]", http_field_error(x.field, x.code)));
    return http_reply_json(r, 200, x.out);
}
