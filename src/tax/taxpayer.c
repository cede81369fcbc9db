/*
 * taxpayer.c — the taxpayer registry: enterprises by USCC (GB 32100), persons by ID
 * number (GB 11643, sealed with a blind index like an account's), their VAT status,
 * registered tax types with filing periods, tax office and credit rating; and who may
 * act for a taxpayer.
 *
 * Accounts are linked, never stored here: an enterprise taxpayer is the enterprise
 * registered in ehall with the same USCC, so its members and agents act for it with
 * the permissions identity gave them (ent.file to declare, ent.view to read); a person
 * taxpayer is the person account with the same ID number.  Tax staff read taxpayers
 * whose tax office is in their data scope (tax.read) and register them (tax.manage).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "calendar/calendar.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "tax/internal.h"

int tax_reply_unavailable(http_req *r)
{
    return http_reply_error(r, 503, "unavailable", "the database is busy; try again shortly", NULL);
}

struct owned {
    http_req *r;
    long long id;
    int found;
    json_t *out;
    int (*load)(store_conn *c, long long id, json_t **out, long long *taxpayer);
    const char *sql;
    json_t *(*row)(store_stmt *st);
};

static int record_tx(store_conn *c, void *arg)
{
    struct owned *g = arg;
    long long tp = 0;
    json_decref(g->out); /* a retried transaction starts again */
    g->out = NULL;
    int rc = g->load(c, g->id, &g->out, &tp);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_OK) return rc;
    struct tax_taxpayer t;
    int access = tax_access_to(c, auth_principal(g->r), tp, &t);
    if (access < 0) return access;
    g->found = access != TAX_NONE;
    return STORE_OK;
}

static int list_tx(store_conn *c, void *arg)
{
    struct owned *g = arg;
    struct tax_taxpayer t;
    int rc = tax_access_to(c, auth_principal(g->r), g->id, &t);
    if (rc < 0) return rc;
    if (rc == TAX_NONE) return STORE_OK;
    g->found = 1;
    store_stmt *st = store_prepare(c, g->sql);
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, g->id);
    json_array_clear(g->out);
    while ((rc = store_step(st)) == STORE_ROW) json_array_append_new(g->out, g->row(st));
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

/* Run fn for {id}; reply 404 "no such what" when the caller may not see it. */
static int reply_owned(http_req *r, struct owned *g, store_tx_fn fn, const char *what, const char *key)
{
    char msg[64];
    snprintf(msg, sizeof msg, "no such %s", what);
    int rc = STORE_OK;
    if (parse_int64(http_req_param(r, "id"), &g->id) != 0 || g->id <= 0 ||
        (rc = store_tx(((struct app *)http_req_app(r))->db, 0, fn, g)) != STORE_OK || !g->found) {
        json_decref(g->out);
        return rc != STORE_OK ? tax_reply_unavailable(r) : http_reply_error(r, 404, "not_found", msg, NULL);
    }
    return http_reply_json(r, 200, key ? json_pack("{s:o}", key, g->out) : g->out);
}

int tax_reply_record(http_req *r, const char *what,
                     int (*load)(store_conn *c, long long id, json_t **out, long long *taxpayer))
{
    struct owned g = {.r = r, .load = load};
    return reply_owned(r, &g, record_tx, what, NULL);
}

int tax_reply_taxpayer_list(http_req *r, const char *key, const char *sql, json_t *(*row)(store_stmt *st))
{
    struct owned g = {.r = r, .out = json_array(), .sql = sql, .row = row};
    return reply_owned(r, &g, list_tx, "taxpayer", key);
}

static void cpy(char *d, size_t n, const char *s) { snprintf(d, n, "%s", s ? s : ""); }

int tax_taxpayer_load(store_conn *c, long long id, struct tax_taxpayer *t)
{
    memset(t, 0, sizeof *t);
    store_stmt *st = store_prepare(
        c,
        "SELECT t.id, t.kind, t.uscc, t.id_number_enc, t.name, t.vat_status, t.office, COALESCE(d.path, ''),"
        " t.credit, t.status, COALESCE(e.id, 0), t.id_number_bidx FROM taxpayer t"
        " LEFT JOIN department d ON d.code = t.office LEFT JOIN enterprise e ON e.uscc = t.uscc"
        " WHERE t.id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        t->id = store_column_int64(st, 0);
        cpy(t->kind, sizeof t->kind, store_column_text(st, 1));
        if (!strcmp(t->kind, "enterprise")) {
            cpy(t->tin, sizeof t->tin, store_column_text(st, 2));
        } else {
            char *idn = keys_open(store_column_text(st, 3));
            auth_mask_id_number(idn, t->tin, sizeof t->tin);
            if (idn) {
                crypto_wipe(idn, strlen(idn));
                free(idn);
            }
        }
        cpy(t->name, sizeof t->name, store_column_text(st, 4));
        cpy(t->vat_status, sizeof t->vat_status, store_column_text(st, 5));
        cpy(t->office, sizeof t->office, store_column_text(st, 6));
        cpy(t->office_path, sizeof t->office_path, store_column_text(st, 7));
        cpy(t->credit, sizeof t->credit, store_column_text(st, 8));
        cpy(t->status, sizeof t->status, store_column_text(st, 9));
        t->enterprise = store_column_int64(st, 10);
        cpy(t->id_bidx, sizeof t->id_bidx, store_column_text(st, 11));
        rc = STORE_OK;
    } else if (rc != STORE_DONE) {
        rc = rc < 0 ? rc : STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

int tax_registration_get(store_conn *c, long long taxpayer, const char *tax, int *quarterly, int *since)
{
    store_stmt *st =
        store_prepare(c, "SELECT period, since FROM tax_registration WHERE taxpayer_id = $1 AND tax = $2");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, taxpayer);
    store_bind_text(st, 2, tax);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        *quarterly = !strcmp(store_column_text(st, 0), "quarterly");
        if (calendar_date_parse(store_column_text(st, 1), since) != 0) *since = 0;
        rc = STORE_OK;
    } else if (rc != STORE_DONE) {
        rc = rc < 0 ? rc : STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

json_t *tax_taxpayer_json(store_conn *c, const struct tax_taxpayer *t)
{
    json_t *regs = json_array();
    store_stmt *st = store_prepare(
        c, "SELECT tax, period, since FROM tax_registration WHERE taxpayer_id = $1 ORDER BY tax");
    if (st) {
        store_bind_int64(st, 1, t->id);
        while (store_step(st) == STORE_ROW)
            json_array_append_new(regs,
                                  json_pack("{s:s, s:s, s:s}", "tax", store_column_text(st, 0), "period",
                                            store_column_text(st, 1), "since", store_column_text(st, 2)));
        store_finalize(st);
    }
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b}", "id", (json_int_t)t->id, "kind",
                     t->kind, "tin", t->tin, "name", t->name, "vat_status", t->vat_status, "office",
                     t->office, "credit", t->credit, "status", t->status, "registrations", regs, "linked",
                     !strcmp(t->kind, "enterprise") ? t->enterprise != 0 : t->id_bidx[0] != 0);
}

/* The blind index of the caller's own ID number ("" when none). */
static void caller_bidx(store_conn *c, long long account, char out[100])
{
    out[0] = 0;
    store_stmt *st = store_prepare(c, "SELECT id_number_bidx FROM account WHERE id = $1");
    if (!st) return;
    store_bind_int64(st, 1, account);
    if (store_step(st) == STORE_ROW) cpy(out, 100, store_column_text(st, 0));
    store_finalize(st);
}

int tax_access(store_conn *c, const struct principal *p, const struct tax_taxpayer *t)
{
    if (!p) return TAX_NONE;
    if (!strcmp(p->kind, "staff")) {
        if ((auth_has(p, "tax.read") || auth_has(p, "tax.manage")) && auth_in_scope(p, 0, t->office_path))
            return TAX_READ;
        return TAX_NONE;
    }
    if (!strcmp(t->kind, "enterprise")) {
        if (!t->enterprise || p->enterprise != t->enterprise) return TAX_NONE;
        if (auth_has(p, "ent.file")) return TAX_FILE;
        if (auth_has(p, "ent.view")) return TAX_READ;
        return TAX_NONE;
    }
    if (!strcmp(p->kind, "person") && !p->on_behalf) {
        char b[100];
        caller_bidx(c, p->account, b);
        if (b[0] && !strcmp(b, t->id_bidx)) return TAX_FILE;
    }
    return TAX_NONE;
}

int tax_access_to(store_conn *c, const struct principal *p, long long id, struct tax_taxpayer *t)
{
    int rc = tax_taxpayer_load(c, id, t);
    if (rc == STORE_DONE) return TAX_NONE;
    if (rc != STORE_OK) return rc < 0 ? rc : STORE_ERROR;
    return tax_access(c, p, t);
}

/* ---------- registering a taxpayer ---------- */

struct reg {
    http_req *r;
    const char *kind, *uscc, *idn, *name, *vat, *office, *credit;
    json_t *regs;
    long long id;
    int conflict; /* 1 uscc/id_number taken, 2 no such office, 3 office out of scope */
    const char *conflict_field;
};

static int reg_tx(store_conn *c, void *arg)
{
    struct reg *g = arg;
    g->conflict = 0;
    const struct principal *p = auth_principal(g->r);
    store_stmt *st = store_prepare(c, "SELECT path FROM department WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, g->office);
    char path[256] = "";
    int rc = store_step(st);
    if (rc == STORE_ROW) cpy(path, sizeof path, store_column_text(st, 0));
    store_finalize(st);
    if (rc == STORE_DONE) {
        g->conflict = 2;
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    if (!auth_in_scope(p, 0, path)) {
        g->conflict = 3;
        return STORE_OK;
    }
    char bidx[KEYS_TAG_MAX] = "", masked[256] = "";
    char *idn_enc = NULL, *name_enc = NULL;
    int person = !strcmp(g->kind, "person");
    if (person) {
        if (keys_blind_index("id_number", g->idn, bidx) != 0) return STORE_ERROR;
        idn_enc = keys_seal(g->idn);
        name_enc = keys_seal(g->name);
        auth_mask_name(g->name, masked, sizeof masked);
        if (!idn_enc || !name_enc) {
            free(idn_enc);
            free(name_enc);
            return STORE_ERROR;
        }
    }
    st = store_prepare(c, person ? "SELECT 1 FROM taxpayer WHERE id_number_bidx = $1"
                                 : "SELECT 1 FROM taxpayer WHERE uscc = $1");
    if (!st) goto fail;
    store_bind_text(st, 1, person ? bidx : g->uscc);
    rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_ROW) {
        g->conflict = 1;
        g->conflict_field = person ? "id_number" : "uscc";
        free(idn_enc);
        free(name_enc);
        return STORE_OK;
    }
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    st = store_prepare(c, "INSERT INTO taxpayer(kind, uscc, id_number_bidx, id_number_enc, name, name_enc,"
                          " vat_status, office, credit, created_by, created_at)"
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id");
    if (!st) goto fail;
    store_bind_text(st, 1, g->kind);
    if (person) {
        store_bind_null(st, 2);
        store_bind_text(st, 3, bidx);
        store_bind_text(st, 4, idn_enc);
        store_bind_text(st, 5, masked);
        store_bind_text(st, 6, name_enc);
    } else {
        store_bind_text(st, 2, g->uscc);
        store_bind_null(st, 3);
        store_bind_null(st, 4);
        store_bind_text(st, 5, g->name);
        store_bind_null(st, 6);
    }
    store_bind_text(st, 7, g->vat);
    store_bind_text(st, 8, g->office);
    store_bind_text(st, 9, g->credit);
    store_bind_int64(st, 10, p->account);
    store_bind_text(st, 11, ts);
    rc = store_step(st);
    if (rc == STORE_ROW) g->id = store_column_int64(st, 0);
    store_finalize(st);
    free(idn_enc);
    free(name_enc);
    idn_enc = name_enc = NULL;
    if (rc == STORE_CONSTRAINT) {
        g->conflict = 1;
        g->conflict_field = person ? "id_number" : "uscc";
        return STORE_CONSTRAINT;
    }
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    size_t i;
    json_t *e;
    json_array_foreach(g->regs, i, e)
    {
        st = store_prepare(
            c, "INSERT INTO tax_registration(taxpayer_id, tax, period, since) VALUES ($1, $2, $3, $4)");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, g->id);
        store_bind_text(st, 2, json_string_value(json_object_get(e, "tax")));
        store_bind_text(st, 3, json_string_value(json_object_get(e, "period")));
        store_bind_text(st, 4, json_string_value(json_object_get(e, "since")));
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    char obj[48], det[256];
    snprintf(obj, sizeof obj, "taxpayer %lld", g->id);
    snprintf(det, sizeof det, "{\"kind\":\"%s\",\"office\":\"%s\",\"vat_status\":\"%s\",\"credit\":\"%s\"}",
             g->kind, g->office, g->vat, g->credit);
    return auth_audit(g->r, c, "tax.taxpayer.register", obj, "ok", det);
fail:
    free(idn_enc);
    free(name_enc);
    return STORE_ERROR;
}

static int one_of(const char *v, const char *const *set)
{
    for (; v && *set; set++)
        if (!strcmp(v, *set)) return 1;
    return 0;
}

int tax_api_taxpayer_create(http_req *r)
{
    static const char *const known[] = {"kind",   "uscc",   "id_number",     "name", "vat_status",
                                        "office", "credit", "registrations", NULL};
    static const char *const KINDS[] = {"enterprise", "person", NULL};
    static const char *const VAT[] = {"general", "small", "none", NULL};
    static const char *const CREDIT[] = {"A", "B", "M", "C", "D", NULL};
    static const char *const TAXES[] = {"vat", "cit", "iit", NULL};
    static const char *const PERIODS[] = {"monthly", "quarterly", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct reg g = {.r = r};
    g.kind = input_str(&in, "kind", 1, 1, 16);
    g.name = input_str(&in, "name", 1, 1, 100);
    g.vat = input_str(&in, "vat_status", 1, 1, 8);
    g.office = input_str(&in, "office", 1, 1, 64);
    g.credit = input_str(&in, "credit", 1, 1, 1);
    if (g.kind && !one_of(g.kind, KINDS)) input_error(&in, "kind", "must be enterprise or person");
    if (g.vat && !one_of(g.vat, VAT)) input_error(&in, "vat_status", "must be general, small or none");
    if (g.credit && !one_of(g.credit, CREDIT)) input_error(&in, "credit", "must be one of A, B, M, C, D");
    int person = g.kind && !strcmp(g.kind, "person");
    if (person) {
        g.idn = input_str(&in, "id_number", 1, 18, 18);
        const char *why = NULL;
        if (g.idn && auth_id_number_check(g.idn, &why) != 0)
            input_error(&in, "id_number", why ? why : "not valid");
        if (json_object_get(in.body, "uscc"))
            input_error(&in, "uscc", "a person has an ID number, not a USCC");
    } else {
        g.uscc = input_str(&in, "uscc", 1, 18, 18);
        const char *why = NULL;
        if (g.uscc && auth_uscc_check(g.uscc, &why) != 0) input_error(&in, "uscc", why ? why : "not valid");
        if (json_object_get(in.body, "id_number")) input_error(&in, "id_number", "an enterprise has a USCC");
    }
    g.regs = json_object_get(in.body, "registrations");
    if (!json_is_array(g.regs) || json_array_size(g.regs) < 1 || json_array_size(g.regs) > 3) {
        input_error(&in, "registrations", "must be a list of 1 to 3 registered tax types");
    } else {
        size_t i;
        json_t *e;
        int seen[3] = {0};
        json_array_foreach(g.regs, i, e)
        {
            char f[64];
            const char *tax = json_string_value(json_object_get(e, "tax"));
            const char *per = json_string_value(json_object_get(e, "period"));
            const char *since = json_string_value(json_object_get(e, "since"));
            int d;
            snprintf(f, sizeof f, "registrations[%zu].tax", i);
            if (!json_is_object(e) || json_object_size(e) != 3) {
                snprintf(f, sizeof f, "registrations[%zu]", i);
                input_error(&in, f, "must be {tax, period, since}");
                continue;
            }
            if (!one_of(tax, TAXES)) {
                input_error(&in, f, "must be vat, cit or iit");
            } else {
                int k = !strcmp(tax, "vat") ? 0 : !strcmp(tax, "cit") ? 1 : 2;
                if (seen[k]++) input_error(&in, f, "registered twice");
                if (k == 0 && g.vat && !strcmp(g.vat, "none"))
                    input_error(&in, f, "VAT needs vat_status general or small");
                if (k == 1 && person) input_error(&in, f, "a person does not pay corporate income tax");
            }
            snprintf(f, sizeof f, "registrations[%zu].period", i);
            if (!one_of(per, PERIODS)) input_error(&in, f, "must be monthly or quarterly");
            if (tax && per && !strcmp(tax, "vat") && g.vat && !strcmp(g.vat, "general") &&
                !strcmp(per, "quarterly"))
                input_error(&in, f, "a general VAT taxpayer files monthly");
            if (tax && per && !strcmp(tax, "iit") && !strcmp(per, "quarterly"))
                input_error(&in, f, "IIT withholding is filed monthly");
            snprintf(f, sizeof f, "registrations[%zu].since", i);
            if (!since || calendar_date_parse(since, &d) != 0)
                input_error(&in, f, "must be a date YYYY-MM-DD");
        }
    }
    if (input_done(&in) != 0) return 0;
    int rc = store_tx(((struct app *)http_req_app(r))->db, 1, reg_tx, &g);
    if (g.conflict == 1)
        return http_reply_error(r, 409, "conflict", "this taxpayer is registered already",
                                json_pack("[o]", http_field_error(g.conflict_field, "registered already")));
    if (rc != STORE_OK) return tax_reply_unavailable(r);
    if (g.conflict == 2)
        return http_reply_error(
            r, 422, "validation_failed", "some fields are not valid",
            json_pack("[o]", http_field_error("office", "no such tax office (department code)")));
    if (g.conflict == 3)
        return http_reply_error(r, 403, "forbidden", "the tax office is outside your data scope",
                                json_pack("[o]", http_field_error("office", "outside your data scope")));
    return http_reply_json(r, 201, json_pack("{s:I}", "id", (json_int_t)g.id));
}

/* ---------- reading ---------- */

struct get {
    http_req *r;
    long long id;
    int found, access;
    json_t *out;
};

static int get_tx(store_conn *c, void *arg)
{
    struct get *g = arg;
    struct tax_taxpayer t;
    int rc = tax_taxpayer_load(c, g->id, &t);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_OK) return rc;
    g->found = 1;
    g->access = tax_access(c, auth_principal(g->r), &t);
    if (g->access) g->out = tax_taxpayer_json(c, &t);
    return STORE_OK;
}

int tax_api_taxpayer_get(http_req *r)
{
    struct get g = {.r = r};
    if (parse_int64(http_req_param(r, "id"), &g.id) != 0 || g.id <= 0)
        return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    if (store_tx(((struct app *)http_req_app(r))->db, 0, get_tx, &g) != STORE_OK) {
        json_decref(g.out);
        return tax_reply_unavailable(r);
    }
    if (!g.found || !g.access) return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    return http_reply_json(r, 200, g.out);
}

struct mine {
    http_req *r;
    json_t *list;
};

static int mine_tx(store_conn *c, void *arg)
{
    struct mine *m = arg;
    const struct principal *p = auth_principal(m->r);
    char b[100] = "";
    if (!strcmp(p->kind, "person") && !p->on_behalf) caller_bidx(c, p->account, b);
    store_stmt *st = store_prepare(c, "SELECT t.id FROM taxpayer t LEFT JOIN enterprise e ON e.uscc = t.uscc"
                                      " WHERE (e.id = $1 AND $1 > 0) OR (t.id_number_bidx = $2 AND $2 <> '')"
                                      " ORDER BY t.id LIMIT 50");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->enterprise);
    store_bind_text(st, 2, b);
    long long ids[50];
    int n = 0, rc;
    while ((rc = store_step(st)) == STORE_ROW && n < 50) ids[n++] = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_DONE && rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    json_array_clear(m->list);
    for (int i = 0; i < n; i++) {
        struct tax_taxpayer t;
        if ((rc = tax_taxpayer_load(c, ids[i], &t)) != STORE_OK) return rc == STORE_DONE ? STORE_OK : rc;
        int a = tax_access(c, p, &t);
        if (!a) continue;
        json_t *j = tax_taxpayer_json(c, &t);
        json_object_set_new(j, "may_file", json_boolean(a == TAX_FILE));
        json_array_append_new(m->list, j);
    }
    return STORE_OK;
}

int tax_api_mine(http_req *r)
{
    struct mine m = {r, json_array()};
    if (store_tx(((struct app *)http_req_app(r))->db, 0, mine_tx, &m) != STORE_OK) {
        json_decref(m.list);
        return tax_reply_unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "taxpayers", m.list));
}
