/*
 * case_api.c — the applicant's side of the case engine over HTTP: drafts (autosaved),
 * submission, my cases, the progress timeline, supplements, withdrawal, evaluation,
 * the case's materials, and bundles (一件事一次办).  The staff side is workbench.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "audit/audit.h"
#include "auth/session.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "engine/engine.h"
#include "engine/flow.h"
#include "engine/inbox.h"
#include "engine/item.h"
#include "engine/material.h"
#include "exchange/exchange.h"

/* Unsubmitted drafts one applicant may keep. */
#define CASE_MAX_DRAFTS 100

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }

int case_reply_unavailable(http_req *r)
{
    return http_reply_error(r, 503, "unavailable", "the database is busy; try again shortly", NULL);
}

/* ---------- who may see a case ---------- */

int case_owner(const struct principal *p, const struct case_row *row)
{
    if (row->applicant == p->account && !p->on_behalf) return 1;
    if (row->enterprise && row->enterprise == p->enterprise && auth_has(p, "ent.view")) return 1;
    return 0;
}

int case_staff_reads(const struct principal *p, const struct case_row *row)
{
    if (!auth_has(p, "case.read") && !auth_has(p, "case.handle")) return 0;
    if (row->core.assignee == p->account) return 1;
    if (row->core.state == CS_DRAFT) return 0;
    return auth_in_scope(p, 0, row->dept_path);
}

/* ---------- the case as JSON ---------- */

static json_t *day_json(int day)
{
    if (!day) return json_null();
    char b[11];
    calendar_date_format(day, b);
    return json_string(b);
}

json_t *case_json(store_conn *c, const struct case_row *row, int full)
{
    json_t *def = NULL;
    case_item(c, row->item_code, row->item_version, &def, NULL, NULL);
    struct case_workflow wfb, *wf = &wfb;
    if (case_item_workflow(c, row->item_code, row->item_version, wf) != STORE_OK) wf = NULL;
    char t[40];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(row->id));
    json_object_set_new(o, "case_no", row->case_no[0] ? json_string(row->case_no) : json_null());
    json_object_set_new(o, "item", json_string(row->item_code));
    json_object_set_new(o, "item_name", json_string(json_string_value(json_object_get(def, "name"))));
    json_object_set_new(o, "item_version", json_integer(row->item_version));
    json_object_set_new(o, "state", json_string(case_state_name(row->core.state)));
    json_object_set_new(o, "step", wf ? json_string(wf->steps[row->core.step].id) : json_null());
    json_object_set_new(o, "step_name", wf ? json_string(wf->steps[row->core.step].name) : json_null());
    json_object_set_new(o, "department", row->dept_code[0] ? json_string(row->dept_code) : json_null());
    json_object_set_new(o, "assignee", row->core.assignee ? json_integer(row->core.assignee) : json_null());
    json_object_set_new(o, "precheck", json_string(row->core.precheck ? "passed" : "pending"));
    json_object_set_new(o, "applicant", json_integer(row->applicant));
    json_object_set_new(o, "enterprise", row->enterprise ? json_integer(row->enterprise) : json_null());
    json_object_set_new(o, "bundle", row->bundle_id ? json_integer(row->bundle_id) : json_null());
    if (full) {
        json_object_set_new(o, "form", json_loads(row->form, 0, NULL));
        json_object_set_new(o, "materials", json_loads(row->materials, 0, NULL));
    }
    json_object_set_new(o, "digest", row->digest ? json_string(row->digest) : json_null());
    case_time_text(row->created_ms, t);
    json_object_set_new(o, "created_at", json_string(t));
    if (row->submitted_ms) case_time_text(row->submitted_ms, t);
    json_object_set_new(o, "submitted_at", row->submitted_ms ? json_string(t) : json_null());
    if (row->closed_ms) case_time_text(row->closed_ms, t);
    json_object_set_new(o, "closed_at", row->closed_ms ? json_string(t) : json_null());
    json_object_set_new(o, "accepted_on", day_json(row->accepted_day));
    json_object_set_new(o, "due", day_json(row->due_day));
    json_object_set_new(o, "step_due", day_json(row->step_due));
    json_object_set_new(o, "supplement_due", day_json(row->supplement_due));
    json_object_set_new(o, "escalated_to",
                        row->escalated_dept[0] ? json_string(row->escalated_dept) : json_null());
    /* the deadline as of today: on time, near-due or overdue */
    if (row->step_due && !case_state_final(row->core.state) && row->core.state != CS_SUPPLEMENT) {
        int today = case_today();
        const char *st = row->step_due < today ? "overdue" : "on_time";
        int near;
        if (row->step_due >= today && calendar_add_working_days(case_engine.cal, today, 1, &near) == 0 &&
            row->step_due <= near)
            st = "near_due";
        json_object_set_new(o, "deadline", json_string(st));
    } else {
        json_object_set_new(o, "deadline", json_null());
    }
    json_object_set_new(o, "result", row->result ? json_loads(row->result, 0, NULL) : json_null());
    if (row->score)
        json_object_set_new(o, "evaluation",
                            json_pack("{s:i, s:s?}", "score", row->score, "comment", row->comment));
    else
        json_object_set_new(o, "evaluation", json_null());
    if (full) {
        json_t *log = json_array();
        store_stmt *st = store_prepare(c, "SELECT seq, at, actor, actor_login, step_name, action, from_state,"
                                          " to_state, opinion, time_limit, time_used, details, assignee"
                                          " FROM case_log WHERE case_id = $1 ORDER BY seq");
        if (st) {
            store_bind_int64(st, 1, row->id);
            while (store_step(st) == STORE_ROW) {
                const char *det = store_column_text(st, 11);
                json_t *e =
                    json_pack("{s:I, s:s, s:I, s:s, s:s?, s:s, s:s, s:s, s:s?, s:I, s:I, s:I}", "seq",
                              (json_int_t)store_column_int64(st, 0), "at", store_column_text(st, 1), "actor",
                              (json_int_t)store_column_int64(st, 2), "actor_login", store_column_text(st, 3),
                              "step", store_column_text(st, 4), "action", store_column_text(st, 5), "from",
                              store_column_text(st, 6), "to", store_column_text(st, 7), "opinion",
                              store_column_text(st, 8), "time_limit", (json_int_t)store_column_int64(st, 9),
                              "time_used", (json_int_t)store_column_int64(st, 10), "assignee",
                              (json_int_t)store_column_int64(st, 12));
                if (e) {
                    json_object_set_new(e, "details", det ? json_loads(det, 0, NULL) : json_null());
                    json_array_append_new(log, e);
                }
            }
            store_finalize(st);
        }
        json_object_set_new(o, "log", log);
    }
    return o;
}

/* ---------- drafts ---------- */

/* Which applicant types the caller applies as, and whether the item admits them. */
static const char *applicant_type(const struct principal *p)
{
    if (p->on_behalf) return "agent";
    if (!strcmp(p->kind, "person") || !strcmp(p->kind, "agent")) return "person";
    if (!strcmp(p->kind, "enterprise")) return "enterprise";
    return NULL;
}

static int grant_covers(store_conn *c, const struct principal *p, const char *code)
{
    store_stmt *st = store_prepare(c, "SELECT items FROM agent_grant WHERE id = $1 AND revoked_at IS NULL");
    if (!st) return -1;
    store_bind_int64(st, 1, p->grant_id);
    int ok = 0;
    if (store_step(st) == STORE_ROW) {
        const char *items = store_column_text(st, 0);
        char want[48];
        snprintf(want, sizeof want, ",%s,", code);
        ok = items && (strstr(items, ",*,") || strstr(items, want));
    }
    store_finalize(st);
    return ok;
}

/* 0 when the caller may apply for the item (def); otherwise replies and returns -1. */
static int may_apply(http_req *r, store_conn *c, json_t *def, const char *code)
{
    const struct principal *p = auth_principal(r);
    const char *as = applicant_type(p);
    if (!as)
        return http_reply_error(r, 403, "forbidden", "staff and administrators do not apply for items", NULL),
               -1;
    if (!strcmp(as, "enterprise") && !auth_has(p, "ent.apply"))
        return http_reply_error(r, 403, "forbidden", "this account may not apply for the enterprise", NULL),
               -1;
    int ok = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(def, "applicant_types"), i, t)
    {
        if (!strcmp(json_string_value(t), as)) ok = 1;
    }
    if (!ok)
        return http_reply_error(r, 403, "forbidden", "this item is not open to this kind of applicant",
                                json_pack("[o]", http_field_error("item", "not for this applicant type"))),
               -1;
    if (p->on_behalf && grant_covers(c, p, code) != 1)
        return http_reply_error(r, 403, "forbidden", "the agent's authorisation does not cover this item",
                                json_pack("[o]", http_field_error("item", "not in the grant"))),
               -1;
    return 0;
}

/* The materials a draft names: {"slot": [holder material id, ...]}.  Shapes only here;
 * submission checks them against the item. */
static void check_material_refs(struct input *in, json_t *m)
{
    if (!m) return;
    if (!json_is_object(m)) {
        input_error(in, "materials", "must be an object of material slot → list of material ids");
        return;
    }
    if (json_object_size(m) > 64) input_error(in, "materials", "too many slots");
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        char f[160];
        snprintf(f, sizeof f, "materials.%.100s", k);
        if (!json_is_array(v) || json_array_size(v) > 32) {
            input_error(in, f, "must be a list of at most 32 material ids");
            continue;
        }
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_integer(e) || json_integer_value(e) <= 0) {
                input_error(in, f, "material ids are positive integers");
                break;
            }
        }
    }
}

struct draft {
    http_req *r;
    const char *code, *idem;
    json_t *form, *materials;
    int version;
    long long id;
    int existing;
    int submit, conflict; /* submit at once (one request, one transaction) */
    int too_many;         /* the applicant has CASE_MAX_DRAFTS drafts already */
    json_t *errs;
    json_t *profile; /* the applicant's profile for the form's defaults, read before the
                      * write transaction (NULL: read inside it) */
    char case_no[40], state[24];
};

static int draft_submit_new(store_conn *c, struct draft *d);

/* With submit set, the existing draft of a repeated idempotency key is submitted in the
 * same transaction (a new one is written once, submitted: draft_submit_new); a refused
 * submission keeps nothing. */
static int draft_submit(store_conn *c, struct draft *d)
{
    struct case_row row;
    int rc = case_load(c, d->id, &row);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;
    rc = STORE_OK;
    if (row.core.state == CS_DRAFT) {
        rc = case_submit_row(c, d->r, &row, d->errs, &d->conflict);
        if (rc == STORE_OK && json_array_size(d->errs)) rc = CASE_REFUSED;
    }
    snprintf(d->case_no, sizeof d->case_no, "%s", row.case_no);
    snprintf(d->state, sizeof d->state, "%s", case_state_name(row.core.state));
    case_row_free(&row);
    return rc;
}

static int draft_tx(store_conn *c, void *arg)
{
    struct draft *d = arg;
    const struct principal *p = auth_principal(d->r);
    d->existing = 0;
    if (d->errs) json_array_clear(d->errs);
    if (d->idem) {
        store_stmt *st = store_prepare(c, "SELECT id FROM ecase WHERE applicant = $1 AND idem_key = $2");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, p->account);
        store_bind_text(st, 2, d->idem);
        int rc = store_step(st);
        if (rc == STORE_ROW) {
            d->id = store_column_int64(st, 0);
            d->existing = 1;
        }
        store_finalize(st);
        if (rc == STORE_ROW) return d->submit ? draft_submit(c, d) : STORE_OK;
        if (rc != STORE_DONE) return rc;
    }
    /* applied at once, the case is never a draft: no bound to check */
    if (d->submit) return draft_submit_new(c, d);
    /* drafts are free to keep, but not without bound */
    long long drafts = 0;
    store_stmt *cnt = store_prepare(c, "SELECT COUNT(*) FROM ecase WHERE applicant = $1 AND state = 'draft'");
    if (!cnt) return STORE_ERROR;
    store_bind_int64(cnt, 1, p->account);
    int crc = store_step(cnt);
    if (crc == STORE_ROW) drafts = store_column_int64(cnt, 0);
    store_finalize(cnt);
    if (crc != STORE_ROW) return crc;
    if (drafts >= CASE_MAX_DRAFTS) {
        d->too_many = 1;
        return CASE_REFUSED;
    }
    char *form = json_dumps(d->form, JSON_COMPACT);
    char *mats = json_dumps(d->materials, JSON_COMPACT);
    long long now = case_now_ms();
    store_stmt *st = store_prepare(
        c,
        "INSERT INTO ecase (item_code, item_version, applicant, enterprise, agent, state, prev_state, form,"
        " materials, idem_key, created_ms, updated_ms) VALUES ($1,$2,$3,$4,$5,'draft','draft',$6,$7,$8,$9,$9)"
        " RETURNING id");
    if (!st || !form || !mats) {
        free(form);
        free(mats);
        if (st) store_finalize(st);
        return STORE_ERROR;
    }
    store_bind_text(st, 1, d->code);
    store_bind_int64(st, 2, d->version);
    store_bind_int64(st, 3, p->account);
    store_bind_int64(st, 4, p->on_behalf ? p->on_behalf : p->enterprise);
    store_bind_int64(st, 5, p->on_behalf ? p->account : 0);
    store_bind_text(st, 6, form);
    store_bind_text(st, 7, mats);
    if (d->idem)
        store_bind_text(st, 8, d->idem);
    else
        store_bind_null(st, 8);
    store_bind_int64(st, 9, now);
    int rc = store_step(st);
    if (rc == STORE_ROW) d->id = store_column_int64(st, 0);
    store_finalize(st);
    free(form);
    free(mats);
    return rc == STORE_ROW ? STORE_OK : rc;
}

/* POST /api/v1/cases {item, form?, materials?, idempotency_key?, submit?} */
int case_create(http_req *r)
{
    static const char *known[] = {"item", "form", "materials", "idempotency_key", "submit", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct draft d = {.r = r};
    d.submit = input_bool(&in, "submit", 0);
    d.code = input_str(&in, "item", 1, 1, 32);
    d.idem = input_str(&in, "idempotency_key", 0, 8, 64);
    d.form = json_object_get(in.body, "form");
    d.materials = json_object_get(in.body, "materials");
    if (d.form && !json_is_object(d.form)) input_error(&in, "form", "must be an object");
    check_material_refs(&in, d.materials);
    if (input_done(&in) != 0) return 0;
    json_t *form = d.form ? json_incref(d.form) : json_object();
    json_t *mats = d.materials ? json_incref(d.materials) : json_object();
    d.form = form;
    d.materials = mats;
    store_conn *c = store_acquire(db_of(r));
    if (!c) {
        json_decref(form);
        json_decref(mats);
        return case_reply_unavailable(r);
    }
    json_t *def;
    int online = 0;
    int rc = case_item(c, d.code, 0, &def, &d.version, &online);
    int refused = 0;
    if (rc == STORE_DONE || (rc == STORE_OK && !online)) {
        http_reply_error(r, 422, "validation_failed", "no such item online",
                         json_pack("[o]", http_field_error("item", "no such item, or it is offline")));
        refused = 1;
    } else if (rc != STORE_OK) {
        case_reply_unavailable(r);
        refused = 1;
    } else if (may_apply(r, c, def, d.code) != 0) {
        refused = 1;
    } else if (d.submit) {
        /* the profile fills the form's defaults: read here, outside the write transaction
         * (opening its sealed fields is the costliest step of a submission) */
        d.profile = item_applicant_json(c, auth_principal(r));
    }
    store_release(c);
    if (!refused) {
        d.errs = json_array();
        rc = store_tx(db_of(r), 1, draft_tx, &d);
        if (rc == CASE_REFUSED && d.too_many) {
            http_reply_error(r, 409, "too_many_drafts",
                             "you have too many unfinished applications: submit or discard some first", NULL);
        } else if (rc == CASE_REFUSED) {
            http_reply_error(r, d.conflict ? 409 : 422, d.conflict ? "conflict" : "validation_failed",
                             "the application is not complete or not valid", json_incref(d.errs));
        } else if (rc != STORE_OK) {
            case_reply_unavailable(r);
        } else if (d.submit) {
            exchange_kick();
            http_reply_json(r, d.existing ? 200 : 201,
                            json_pack("{s:I, s:s, s:i, s:s, s:s}", "id", (json_int_t)d.id, "item", d.code,
                                      "item_version", d.version, "case_no", d.case_no, "state", d.state));
        } else {
            http_reply_json(r, d.existing ? 200 : 201,
                            json_pack("{s:I, s:s, s:i, s:s}", "id", (json_int_t)d.id, "item", d.code,
                                      "item_version", d.version, "state", "draft"));
        }
    }
    json_decref(d.errs);
    json_decref(d.profile);
    json_decref(form);
    json_decref(mats);
    return 0;
}

/* Load the case for the caller inside a transaction: 1 owner, 2 staff who may read it,
 * 0 not visible (or absent), < 0 a store error. */
static int load_visible(store_conn *c, http_req *r, long long id, struct case_row *row)
{
    int rc = case_load(c, id, row);
    if (rc == STORE_DONE) return 0;
    if (rc != STORE_ROW) return rc;
    const struct principal *p = auth_principal(r);
    if (case_owner(p, row)) return 1;
    if (case_staff_reads(p, row)) return 2;
    case_row_free(row);
    return 0;
}

static long long path_id(http_req *r)
{
    long long id;
    const char *s = http_req_param(r, "id");
    return s && parse_int64(s, &id) == 0 && id > 0 ? id : 0;
}

struct save {
    http_req *r;
    long long id;
    json_t *form, *materials;
    int del;
    int visible, not_draft;
};

static int save_tx(store_conn *c, void *arg)
{
    struct save *s = arg;
    struct case_row row;
    s->not_draft = 0;
    s->visible = load_visible(c, s->r, s->id, &row);
    if (s->visible < 0) return s->visible;
    if (s->visible != 1) return STORE_OK;
    s->not_draft = row.core.state != CS_DRAFT;
    case_row_free(&row);
    if (s->not_draft) return STORE_OK;
    store_stmt *st;
    if (s->del) {
        st = store_prepare(c, "DELETE FROM ecase WHERE id = $1 AND state = 'draft'");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, s->id);
    } else {
        char *form = s->form ? json_dumps(s->form, JSON_COMPACT) : NULL;
        char *mats = s->materials ? json_dumps(s->materials, JSON_COMPACT) : NULL;
        st = store_prepare(c,
                           "UPDATE ecase SET form = COALESCE($1, form), materials = COALESCE($2, materials),"
                           " updated_ms = $3 WHERE id = $4 AND state = 'draft'");
        if (!st) {
            free(form);
            free(mats);
            return STORE_ERROR;
        }
        if (form)
            store_bind_text(st, 1, form);
        else
            store_bind_null(st, 1);
        if (mats)
            store_bind_text(st, 2, mats);
        else
            store_bind_null(st, 2);
        store_bind_int64(st, 3, case_now_ms());
        store_bind_int64(st, 4, s->id);
        free(form);
        free(mats);
    }
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : (rc == STORE_OK ? STORE_ERROR : rc);
}

static int save_reply(http_req *r, struct save *s, int rc)
{
    if (rc != STORE_OK) return case_reply_unavailable(r);
    if (s->visible != 1) return http_reply_error(r, 404, "not_found", "no such case", NULL);
    if (s->not_draft)
        return http_reply_error(r, 409, "conflict",
                                "the case is submitted: its form and materials are read-only", NULL);
    if (s->del)
        return http_reply_json(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)s->id, "deleted", 1));
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)s->id, "state", "draft"));
}

/* PUT /api/v1/cases/{id} {form?, materials?} — the autosave of a draft */
int case_save(http_req *r)
{
    static const char *known[] = {"form", "materials", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct save s = {.r = r, .id = path_id(r)};
    s.form = json_object_get(in.body, "form");
    s.materials = json_object_get(in.body, "materials");
    if (s.form && !json_is_object(s.form)) input_error(&in, "form", "must be an object");
    check_material_refs(&in, s.materials);
    if (input_done(&in) != 0) return 0;
    return save_reply(r, &s, store_tx(db_of(r), 1, save_tx, &s));
}

/* DELETE /api/v1/cases/{id} — a draft only */
int case_delete(http_req *r)
{
    struct save s = {.r = r, .id = path_id(r), .del = 1};
    return save_reply(r, &s, store_tx(db_of(r), 1, save_tx, &s));
}

/* GET /api/v1/cases/{id} */
int case_get(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return case_reply_unavailable(r);
    struct case_row row;
    int v = load_visible(c, r, path_id(r), &row);
    if (v <= 0) {
        store_release(c);
        return v < 0 ? case_reply_unavailable(r)
                     : http_reply_error(r, 404, "not_found", "no such case", NULL);
    }
    json_t *o = case_json(c, &row, 1);
    if (v == 2) json_object_set_new(o, "actions", case_staff_actions(c, auth_principal(r), &row));
    store_release(c);
    case_row_free(&row);
    return http_reply_json(r, 200, o);
}

/* GET /api/v1/cases?state=&before=&size= — my cases (or my enterprise's), newest first */
int case_list_mine(http_req *r)
{
    const struct principal *p = auth_principal(r);
    const char *state = http_req_query(r, "state");
    long long before = 0, size = 20;
    const char *b = http_req_query(r, "before"), *sz = http_req_query(r, "size");
    json_t *errs = json_array();
    if (state && case_state_parse(state) < 0)
        json_array_append_new(errs, http_field_error("state", "unknown state"));
    if (b && (parse_int64(b, &before) != 0 || before <= 0))
        json_array_append_new(errs, http_field_error("before", "a case id"));
    if (sz && (parse_int64(sz, &size) != 0 || size < 1 || size > 100))
        json_array_append_new(errs, http_field_error("size", "1 to 100"));
    if (json_array_size(errs))
        return http_reply_error(r, 422, "validation_failed", "some parameters are not valid", errs);
    json_decref(errs);
    int ent = p->on_behalf || (p->enterprise && auth_has(p, "ent.view"));
    long long owner = p->on_behalf ? p->on_behalf : (ent ? p->enterprise : p->account);
    /* the page's cases in one query (not one case_load each: a round trip per row on
     * PostgreSQL), read in full before anything else runs on the connection */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT " CASE_LIST_COLUMNS " FROM ecase WHERE %s = $1 AND id < $2%s ORDER BY id DESC LIMIT $3",
             ent ? "enterprise <> 0 AND enterprise" : "applicant", state ? " AND state = $4" : "");
    store_conn *c = store_acquire(db_of(r));
    if (!c) return case_reply_unavailable(r);
    store_stmt *st = store_prepare(c, sql);
    if (!st) {
        store_release(c);
        return case_reply_unavailable(r);
    }
    store_bind_int64(st, 1, owner);
    store_bind_int64(st, 2, before ? before : ((long long)1 << 62));
    store_bind_int64(st, 3, size);
    if (state) store_bind_text(st, 4, state);
    struct case_row *rows = calloc(100, sizeof *rows);
    int n = 0, got = 0;
    while (rows && n < 100 && store_step(st) == STORE_ROW) {
        got++;
        if (case_row_read(st, &rows[n]) == STORE_ROW) n++;
    }
    store_finalize(st);
    long long last = n ? rows[n - 1].id : 0;
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(list, case_json(c, &rows[i], 0));
        case_row_free(&rows[i]);
    }
    free(rows);
    store_release(c);
    json_t *o = json_pack("{s:o}", "cases", list);
    json_object_set_new(o, "next_before", got == size && n > 0 ? json_integer(last) : json_null());
    return http_reply_json(r, 200, o);
}

/* ---------- submission ---------- */

/* Resolve {"slot": [ids]} against the item's materials and the holder's library into
 * the frozen snapshot {"slot": [{id, sm3, type, size, file_name}]}; problems go to errs. */
static int resolve_materials(store_conn *c, long long owner, json_t *def, json_t *refs, json_t **out,
                             json_t *errs, const char *prefix)
{
    json_t *snap = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(refs, k, v)
    {
        int known = 0;
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(def, "materials"), i, m)
        {
            if (!strcmp(json_string_value(json_object_get(m, "id")), k)) known = 1;
        }
        if (!known) {
            char f[160];
            snprintf(f, sizeof f, "%smaterials.%.100s", prefix, k);
            json_array_append_new(errs, http_field_error(f, "this item asks for no such material"));
        }
    }
    size_t i;
    json_t *spec;
    json_array_foreach(json_object_get(def, "materials"), i, spec)
    {
        const char *id = json_string_value(json_object_get(spec, "id"));
        json_t *list = json_object_get(refs, id);
        size_t n = json_array_size(list);
        char f[160];
        snprintf(f, sizeof f, "%smaterials.%s", prefix, id);
        long long max_count = json_integer_value(json_object_get(spec, "max_count"));
        long long max_size = json_integer_value(json_object_get(spec, "max_size"));
        if (n == 0 && json_is_true(json_object_get(spec, "required"))) {
            char msg[200];
            snprintf(msg, sizeof msg, "required: %s", json_string_value(json_object_get(spec, "name")));
            json_array_append_new(errs, http_field_error(f, msg));
            continue;
        }
        if (max_count > 0 && (long long)n > max_count) {
            char msg[96];
            snprintf(msg, sizeof msg, "at most %lld file(s)", max_count);
            json_array_append_new(errs, http_field_error(f, msg));
            continue;
        }
        json_t *items = json_array();
        size_t j;
        json_t *e;
        json_array_foreach(list, j, e)
        {
            struct material_ref ref;
            int rc = material_holder_get(c, owner, json_integer_value(e), &ref);
            char fj[180];
            snprintf(fj, sizeof fj, "%s[%zu]", f, j);
            if (rc == 0) {
                json_array_append_new(errs, http_field_error(fj, "no such material in your library"));
                continue;
            }
            if (rc < 0) {
                json_decref(items);
                json_decref(snap);
                return rc;
            }
            int type_ok = 0;
            size_t t;
            json_t *ty;
            json_array_foreach(json_object_get(spec, "types"), t, ty)
            {
                if (!strcmp(json_string_value(ty), ref.type)) type_ok = 1;
            }
            if (!type_ok) {
                char msg[96];
                snprintf(msg, sizeof msg, "a %s file is not accepted here", ref.type);
                json_array_append_new(errs, http_field_error(fj, msg));
                continue;
            }
            if (max_size > 0 && ref.size > max_size) {
                char msg[96];
                snprintf(msg, sizeof msg, "larger than %lld bytes", max_size);
                json_array_append_new(errs, http_field_error(fj, msg));
                continue;
            }
            json_array_append_new(items, json_pack("{s:I, s:s, s:s, s:I, s:s}", "id", (json_int_t)ref.id,
                                                   "sm3", ref.sm3, "type", ref.type, "size",
                                                   (json_int_t)ref.size, "file_name", ref.file_name));
        }
        if (json_array_size(items)) json_object_set(snap, id, items);
        json_decref(items);
    }
    *out = snap;
    return STORE_OK;
}

/* The case's materials on record (case_material), from a snapshot {"slot": [{sm3, type,
 * size, file_name}]}: what staff may open by content address.  Earlier ones stay. */
static int record_materials(store_conn *c, long long case_id, json_t *snap, long long now)
{
    const char *slot;
    json_t *list;
    json_object_foreach(snap, slot, list)
    {
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m)
        {
            store_stmt *st =
                store_prepare(c, "INSERT INTO case_material (case_id, slot, sm3, type, size, file_name,"
                                 " added_ms) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING");
            if (!st) return STORE_ERROR;
            store_bind_int64(st, 1, case_id);
            store_bind_text(st, 2, slot);
            store_bind_text(st, 3, json_string_value(json_object_get(m, "sm3")));
            store_bind_text(st, 4, json_string_value(json_object_get(m, "type")));
            store_bind_int64(st, 5, json_integer_value(json_object_get(m, "size")));
            store_bind_text(st, 6, json_string_value(json_object_get(m, "file_name")));
            store_bind_int64(st, 7, now);
            int rc = store_step(st);
            store_finalize(st);
            if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
        }
    }
    return STORE_OK;
}

/* A submission being checked and frozen: what case_submit_row and the one-request apply
 * share.  submission_check fills it, submission_freeze issues the case number and the
 * SM3, submission_record writes what follows the row. */
struct submission {
    json_t *def;  /* the item (borrowed) */
    int version;  /* the item version submitted against */
    json_t *form; /* the form as checked (owned) */
    json_t *snap; /* the materials snapshot (owned) */
    char *key;    /* the per-item limit key, or NULL */
    char *ftext, *mtext;
    char hex[2 * SM3_DIGEST_LEN + 1];
};

static void submission_free(struct submission *s)
{
    json_decref(s->form);
    json_decref(s->snap);
    free(s->key);
    free(s->ftext);
    free(s->mtext);
    memset(s, 0, sizeof *s);
}

/* Check a submission of form (taken: it becomes s->form) and material refs for the case
 * `id` (not stored yet, or a draft) of row->item_code by the caller: the item online,
 * the form, the materials, the per-item limit.  STORE_OK with problems in errs (and
 * *conflict for the limit), or a STORE_* error.  version 0: read the item's current
 * version and whether it is online; otherwise the version this request found current
 * and online a moment ago (the one-request apply, which has just checked). */
static int submission_check(store_conn *c, http_req *r, const char *item_code, int version,
                            long long applicant, long long id, json_t *form, json_t *refs, json_t *profile,
                            json_t *errs, int *conflict, struct submission *s)
{
    const struct principal *p = auth_principal(r);
    memset(s, 0, sizeof *s);
    s->form = form;
    int online = 1;
    s->version = version;
    int rc = version ? case_item(c, item_code, version, &s->def, NULL, NULL)
                     : case_item(c, item_code, 0, &s->def, &s->version, &online);
    if (rc != STORE_OK) return rc == STORE_DONE ? STORE_ERROR : rc;
    if (!online) {
        json_array_append_new(errs,
                              http_field_error("item", "the item is offline: it takes no applications now"));
        return STORE_OK;
    }
    const struct item *it;
    if ((rc = item_get(c, item_code, s->version, &it)) != 0) return rc == 1 ? STORE_ERROR : rc;
    profile = profile ? json_incref(profile) : item_applicant_json(c, p);
    if (!form || !refs || !profile) {
        json_decref(profile);
        return STORE_ERROR;
    }
    item_check_form(it, form, profile, case_engine.cal, errs);
    json_decref(profile);
    rc = resolve_materials(c, applicant, s->def, refs, &s->snap, errs, "");
    if (rc != STORE_OK || json_array_size(errs)) return rc;
    /* at most one live case per key within the window (one dog per tag a year …) */
    char keybuf[256];
    const char *lv = item_limit_value(it, form, keybuf, sizeof keybuf);
    if (!lv) return STORE_OK;
    if (!(s->key = strdup(lv))) return STORE_ERROR;
    long long window = it->limit_window_days * 86400000LL;
    store_stmt *st = store_prepare(c, "SELECT case_no FROM ecase WHERE item_code = $1 AND limit_key = $2"
                                      " AND id <> $3 AND submitted_ms >= $4"
                                      " AND state NOT IN ('draft','not_accepted','withdrawn','refused')");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, item_code);
    store_bind_text(st, 2, s->key);
    store_bind_int64(st, 3, id);
    store_bind_int64(st, 4, case_now_ms() - window);
    rc = store_step(st);
    if (rc == STORE_ROW) {
        char msg[160];
        snprintf(msg, sizeof msg, "already applied for within the period (case %s)",
                 store_column_text(st, 0));
        json_array_append_new(errs, http_field_error(it->limit_key, msg));
        *conflict = 1;
    }
    store_finalize(st);
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}

/* Freeze a checked submission into row: the case number (from row->id), the form as
 * checked, the materials snapshot and its SM3 (s->hex). */
static int submission_freeze(struct submission *s, struct case_row *row)
{
    char day[11];
    calendar_date_format(case_today(), day);
    snprintf(row->case_no, sizeof row->case_no, "EH%.4s%.2s%.2s%010lld", day, day + 5, day + 8, row->id);
    row->item_version = s->version;
    json_t *sub = json_pack("{s:s, s:s, s:i, s:I, s:O, s:O}", "case_no", row->case_no, "item", row->item_code,
                            "version", s->version, "applicant", (json_int_t)row->applicant, "form", s->form,
                            "materials", s->snap);
    char *canon = sub ? json_dumps(sub, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(sub);
    s->ftext = json_dumps(s->form, JSON_COMPACT);
    s->mtext = json_dumps(s->snap, JSON_COMPACT);
    unsigned char dg[SM3_DIGEST_LEN];
    int rc =
        canon && s->ftext && s->mtext && crypto_sm3(canon, strlen(canon), dg) == 0 ? STORE_OK : STORE_ERROR;
    free(canon);
    if (rc == STORE_OK) hex_encode(dg, sizeof dg, s->hex);
    return rc;
}

/* After the submitted row is written: its materials on record, the pre-check message to
 * the back-end, and last the audit record with the submission's SM3.  Last, because on
 * PostgreSQL appending to the audit chain locks its head row until COMMIT: every other
 * submission waits for that lock, so it is taken as late as the transaction allows. */
static int submission_record(store_conn *c, http_req *r, struct case_row *row, struct submission *s,
                             long long now)
{
    /* each material, for staff access by content address */
    int rc = record_materials(c, row->id, s->snap, now);
    if (rc != STORE_OK) return rc;
    /* to the back-end for its pre-check, through the exchange */
    json_t *payload = json_pack("{s:s, s:i, s:s, s:O}", "item", row->item_code, "version", s->version,
                                "case_no", row->case_no, "form", s->form);
    char *ptext = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    char idem[64];
    snprintf(idem, sizeof idem, "case:%lld:precheck", row->id);
    const char *backend = json_string_value(json_object_get(s->def, "backend"));
    long long mid;
    rc = ptext ? exchange_enqueue(c, idem, "case.precheck", backend ? backend : "sim", row->id, ptext, &mid)
               : STORE_ERROR;
    free(ptext);
    json_decref(payload);
    if (rc != STORE_OK) return rc;
    /* the submission's SM3 in the audit chain */
    char details[256], object[48];
    snprintf(details, sizeof details, "{\"case_no\":\"%s\",\"item\":\"%s\",\"version\":%d,\"sm3\":\"%s\"}",
             row->case_no, row->item_code, s->version, s->hex);
    snprintf(object, sizeof object, "case:%lld", row->id);
    return auth_audit(r, c, "case.submit", object, "ok", details);
}

static struct case_move submit_move(http_req *r)
{
    const struct principal *p = auth_principal(r);
    return (struct case_move){.action = CA_SUBMIT,
                              .actor = {p->account, p->login, applicant_type(p)},
                              .client = http_req_client(r),
                              .request_id = http_req_id(r)};
}

int case_submit_row(store_conn *c, http_req *r, struct case_row *row, json_t *errs, int *conflict)
{
    struct submission s;
    json_t *refs = json_loads(row->materials, 0, NULL);
    int rc = submission_check(c, r, row->item_code, 0, row->applicant, row->id,
                              json_loads(row->form, 0, NULL), refs, NULL, errs, conflict, &s);
    json_decref(refs);
    if (rc != STORE_OK || json_array_size(errs)) {
        submission_free(&s);
        return rc;
    }
    /* freeze: the case number, the form as checked, the materials snapshot and its SM3 */
    long long now = case_now_ms();
    rc = submission_freeze(&s, row);
    if (rc == STORE_OK) {
        store_stmt *st = store_prepare(c, "UPDATE ecase SET case_no = $1, item_version = $2, form = $3,"
                                          " materials = $4, digest = $5, submitted_ms = $6, limit_key = $7"
                                          " WHERE id = $8");
        if (!st)
            rc = STORE_ERROR;
        else {
            store_bind_text(st, 1, row->case_no);
            store_bind_int64(st, 2, s.version);
            store_bind_text(st, 3, s.ftext);
            store_bind_text(st, 4, s.mtext);
            store_bind_text(st, 5, s.hex);
            store_bind_int64(st, 6, now);
            if (s.key)
                store_bind_text(st, 7, s.key);
            else
                store_bind_null(st, 7);
            store_bind_int64(st, 8, row->id);
            rc = store_step(st);
            store_finalize(st);
            rc = rc == STORE_DONE ? STORE_OK : (rc == STORE_OK ? STORE_ERROR : rc);
        }
    }
    if (rc == STORE_OK) {
        struct case_move m = submit_move(r);
        rc = case_move(c, row, &m);
        if (rc == CASE_REFUSED) rc = STORE_ERROR;
    }
    if (rc == STORE_OK) rc = submission_record(c, r, row, &s, now);
    submission_free(&s);
    return rc;
}

/* The one-request apply of a new case: checked first, then the row written once, in
 * its submitted state (case_move_new), and what follows it as case_submit_row does.
 * The id is allocated before the INSERT because the case number and the SM3 carry it. */
static int draft_submit_new(store_conn *c, struct draft *d)
{
    const struct principal *p = auth_principal(d->r);
    struct case_row row;
    memset(&row, 0, sizeof row);
    row.core.state = row.core.prev_state = CS_DRAFT;
    snprintf(row.item_code, sizeof row.item_code, "%s", d->code);
    row.applicant = p->account;
    row.enterprise = p->on_behalf ? p->on_behalf : p->enterprise;
    row.agent = p->on_behalf ? p->account : 0;
    int rc = case_new_id(c, &row.id);
    if (rc != STORE_OK) return rc;
    struct submission s;
    /* the form is checked (and completed) in place: a copy, the transaction may run again */
    rc = submission_check(c, d->r, d->code, d->version, row.applicant, row.id, json_deep_copy(d->form),
                          d->materials, d->profile, d->errs, &d->conflict, &s);
    if (rc == STORE_OK && json_array_size(d->errs)) rc = CASE_REFUSED;
    long long now = case_now_ms();
    if (rc == STORE_OK) rc = submission_freeze(&s, &row);
    if (rc == STORE_OK) {
        row.form = s.ftext;
        row.materials = s.mtext;
        row.digest = s.hex;
        row.limit_key = s.key;
        row.idem_key = (char *)d->idem;
        row.created_ms = row.submitted_ms = now;
        struct case_move m = submit_move(d->r);
        rc = case_move_new(c, &row, &m);
        if (rc == CASE_REFUSED) rc = STORE_ERROR;
        /* borrowed, not the row's to free */
        row.form = row.materials = row.digest = row.limit_key = row.idem_key = NULL;
    }
    if (rc == STORE_OK) rc = submission_record(c, d->r, &row, &s, now);
    if (rc == STORE_OK) {
        d->id = row.id;
        snprintf(d->case_no, sizeof d->case_no, "%s", row.case_no);
        snprintf(d->state, sizeof d->state, "%s", case_state_name(row.core.state));
    }
    submission_free(&s);
    case_row_free(&row);
    return rc;
}

struct submit {
    http_req *r;
    long long id;
    int visible, already, conflict;
    json_t *errs;
    char case_no[40];
};

static int submit_tx(store_conn *c, void *arg)
{
    struct submit *s = arg;
    json_array_clear(s->errs);
    s->already = s->conflict = 0;
    struct case_row row;
    s->visible = load_visible(c, s->r, s->id, &row);
    if (s->visible < 0) return s->visible;
    if (s->visible != 1) return STORE_OK;
    int rc = STORE_OK;
    if (row.core.state != CS_DRAFT) {
        /* submitting the same draft twice gives the same case */
        s->already = 1;
    } else {
        rc = case_submit_row(c, s->r, &row, s->errs, &s->conflict);
        /* nothing of a refused submission is kept */
        if (rc == STORE_OK && json_array_size(s->errs)) rc = CASE_REFUSED;
    }
    snprintf(s->case_no, sizeof s->case_no, "%s", row.case_no);
    case_row_free(&row);
    return rc;
}

/* POST /api/v1/cases/{id}/submit */
int case_submit(http_req *r)
{
    struct submit s = {.r = r, .id = path_id(r), .errs = json_array()};
    int rc = store_tx(db_of(r), 1, submit_tx, &s);
    if (rc == CASE_REFUSED) {
        if (s.conflict)
            return http_reply_error(r, 409, "conflict", "a case for the same thing is already under way",
                                    s.errs);
        return http_reply_error(r, 422, "validation_failed", "the application is not complete or not valid",
                                s.errs);
    }
    json_decref(s.errs);
    if (rc != STORE_OK) return case_reply_unavailable(r);
    if (s.visible != 1) return http_reply_error(r, 404, "not_found", "no such case", NULL);
    exchange_kick();
    return http_reply_json(
        r, s.already ? 200 : 201,
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)s.id, "case_no", s.case_no, "state", "submitted"));
}

/* ---------- the applicant's moves: withdraw, supplemented, evaluate ---------- */

struct amove {
    http_req *r;
    long long id;
    enum case_action action;
    const char *opinion;
    json_t *materials; /* supplemented: {"slot": [ids]} added to the case */
    int score;
    int visible;
    const char *why;
    json_t *errs;
    char state[24];
};

static int add_materials(store_conn *c, struct case_row *row, json_t *refs, json_t *errs)
{
    json_t *def;
    int rc = case_item(c, row->item_code, row->item_version, &def, NULL, NULL);
    if (rc != STORE_OK) return rc;
    /* the supplied files replace those of their slots (补正: the corrected material);
     * the other slots keep theirs, and the originals stay in case_material */
    json_t *have = json_loads(row->materials, 0, NULL);
    json_t *merged = json_object();
    size_t i;
    json_t *spec;
    json_array_foreach(json_object_get(def, "materials"), i, spec)
    {
        const char *id = json_string_value(json_object_get(spec, "id"));
        json_t *ids = json_array();
        size_t j;
        json_t *m;
        json_array_foreach(json_object_get(have, id), j, m) json_array_append(ids, json_object_get(m, "id"));
        json_object_set(merged, id, json_object_get(refs, id) ? json_object_get(refs, id) : ids);
        json_decref(ids);
    }
    const char *k;
    json_t *v;
    json_object_foreach(refs, k, v) if (!json_object_get(merged, k)) json_object_set(merged, k, v);
    json_t *snap = NULL;
    rc = resolve_materials(c, row->applicant, def, merged, &snap, errs, "");
    json_decref(merged);
    json_decref(have);
    if (rc != STORE_OK || json_array_size(errs)) {
        json_decref(snap);
        return rc == STORE_OK ? CASE_REFUSED : rc;
    }
    char *text = json_dumps(snap, JSON_COMPACT);
    store_stmt *st = text ? store_prepare(c, "UPDATE ecase SET materials = $1 WHERE id = $2") : NULL;
    if (!st)
        rc = STORE_ERROR;
    else {
        store_bind_text(st, 1, text);
        store_bind_int64(st, 2, row->id);
        rc = store_step(st);
        store_finalize(st);
        rc = rc == STORE_DONE ? STORE_OK : (rc == STORE_OK ? STORE_ERROR : rc);
    }
    if (rc == STORE_OK) rc = record_materials(c, row->id, snap, case_now_ms());
    free(text);
    json_decref(snap);
    return rc;
}

static int amove_tx(store_conn *c, void *arg)
{
    struct amove *a = arg;
    json_array_clear(a->errs);
    a->why = NULL;
    struct case_row row;
    a->visible = load_visible(c, a->r, a->id, &row);
    if (a->visible < 0) return a->visible;
    if (a->visible != 1) return STORE_OK;
    const struct principal *p = auth_principal(a->r);
    int rc = STORE_OK;
    if (a->action == CA_SUPPLEMENTED && a->materials && row.core.state == CS_SUPPLEMENT)
        rc = add_materials(c, &row, a->materials, a->errs);
    if (rc == STORE_OK && a->action == CA_EVALUATE) {
        if (row.score) {
            a->why = "the case has been evaluated already";
            rc = CASE_REFUSED;
        } else {
            store_stmt *st = store_prepare(c, "UPDATE ecase SET score = $1, comment = $2 WHERE id = $3");
            if (!st)
                rc = STORE_ERROR;
            else {
                store_bind_int64(st, 1, a->score);
                if (a->opinion)
                    store_bind_text(st, 2, a->opinion);
                else
                    store_bind_null(st, 2);
                store_bind_int64(st, 3, row.id);
                rc = store_step(st);
                store_finalize(st);
                rc = rc == STORE_DONE ? STORE_OK : (rc == STORE_OK ? STORE_ERROR : rc);
            }
        }
    }
    if (rc == STORE_OK) {
        char details[48] = "";
        if (a->action == CA_EVALUATE) snprintf(details, sizeof details, "{\"score\":%d}", a->score);
        struct case_move m = {.action = a->action,
                              .actor = {p->account, p->login, applicant_type(p)},
                              .opinion = a->opinion,
                              .details = details[0] ? details : NULL,
                              .client = http_req_client(a->r),
                              .request_id = http_req_id(a->r)};
        rc = case_move(c, &row, &m);
        if (rc == CASE_REFUSED) a->why = m.why;
        if (rc == STORE_OK && a->action == CA_SUPPLEMENTED && row.core.assignee)
            rc = inbox_notify(c, row.core.assignee, row.id, "supplemented", "申请人已补正材料", row.case_no,
                              0);
    }
    snprintf(a->state, sizeof a->state, "%s", case_state_name(row.core.state));
    case_row_free(&row);
    return rc;
}

static int amove_run(http_req *r, struct amove *a)
{
    a->r = r;
    a->id = path_id(r);
    a->errs = json_array();
    int rc = store_tx(db_of(r), 1, amove_tx, a);
    if (rc == CASE_REFUSED && json_array_size(a->errs))
        return http_reply_error(r, 422, "validation_failed", "some materials are not acceptable", a->errs);
    json_decref(a->errs);
    if (rc == CASE_REFUSED)
        return http_reply_error(r, 409, "conflict", a->why ? a->why : "not allowed now", NULL);
    if (rc != STORE_OK) return case_reply_unavailable(r);
    if (a->visible != 1) return http_reply_error(r, 404, "not_found", "no such case", NULL);
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)a->id, "state", a->state));
}

/* POST /api/v1/cases/{id}/withdraw {reason?} */
int case_withdraw(http_req *r)
{
    static const char *known[] = {"reason", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct amove a = {.action = CA_WITHDRAW};
    a.opinion = input_text(&in, "reason", 0, 1, 500);
    if (input_done(&in) != 0) return 0;
    return amove_run(r, &a);
}

/* POST /api/v1/cases/{id}/supplement {materials, comment?} */
int case_supplement(http_req *r)
{
    static const char *known[] = {"materials", "comment", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct amove a = {.action = CA_SUPPLEMENTED};
    a.materials = json_object_get(in.body, "materials");
    a.opinion = input_text(&in, "comment", 0, 1, 500);
    if (!a.materials) input_error(&in, "materials", "required: the files asked for");
    check_material_refs(&in, a.materials);
    if (input_done(&in) != 0) return 0;
    return amove_run(r, &a);
}

/* POST /api/v1/cases/{id}/evaluate {score 1-5, comment?} — 好差评 */
int case_evaluate(http_req *r)
{
    static const char *known[] = {"score", "comment", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct amove a = {.action = CA_EVALUATE};
    a.score = (int)input_int(&in, "score", 1, 1, 5, 0);
    a.opinion = input_text(&in, "comment", 0, 1, 500);
    if (input_done(&in) != 0) return 0;
    return amove_run(r, &a);
}

/* GET /api/v1/cases/{id}/materials/{sm3} — the file, for its applicant and for staff
 * who may read the case (their reads are audited) */
int case_material_content(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return case_reply_unavailable(r);
    struct case_row row;
    int v = load_visible(c, r, path_id(r), &row);
    if (v <= 0) {
        store_release(c);
        return v < 0 ? case_reply_unavailable(r)
                     : http_reply_error(r, 404, "not_found", "no such case", NULL);
    }
    const char *sm3 = http_req_param(r, "sm3");
    char name[300] = "";
    store_stmt *st = store_prepare(c, "SELECT file_name FROM case_material WHERE case_id = $1 AND sm3 = $2");
    int rc = STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, row.id);
        store_bind_text(st, 2, sm3 ? sm3 : "");
        rc = store_step(st);
        if (rc == STORE_ROW) str_copy(name, sizeof name, store_column_text(st, 0));
        store_finalize(st);
    }
    case_row_free(&row);
    if (rc != STORE_ROW) {
        store_release(c);
        return rc == STORE_DONE ? http_reply_error(r, 404, "not_found", "no such material in this case", NULL)
                                : case_reply_unavailable(r);
    }
    char object[48];
    snprintf(object, sizeof object, "case:%lld", path_id(r));
    rc = material_reply_content(r, c, sm3, name, v == 2 ? object : NULL);
    store_release(c);
    return rc;
}
