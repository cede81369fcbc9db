/*
 * bundle.c — bundles (一件事一次办): one application that creates and submits linked
 * cases for several items, possibly of several departments, in one transaction.  The
 * bundle's status is derived from its cases'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "core/core.h"
#include "engine/engine.h"
#include "exchange/exchange.h"

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }

struct bapply {
    http_req *r;
    const char *code;
    json_t *cases; /* {"ITEM": {"form": {...}, "materials": {...}}} */
    json_t *errs;
    json_t *out;
    long long bundle_id;
    int unknown, conflict;
};

static int bundle_def(store_conn *c, const char *code, json_t **def)
{
    store_stmt *st = store_prepare(c, "SELECT definition FROM bundle WHERE code = $1 AND online = 1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    int rc = store_step(st);
    if (rc == STORE_ROW) *def = json_loads(store_column_text(st, 0), 0, NULL);
    store_finalize(st);
    if (rc == STORE_ROW && !*def) return STORE_ERROR;
    return rc;
}

/* Errors of one member case, with its item code in front of each field path. */
static void prefix_errors(json_t *dst, json_t *src, const char *code)
{
    size_t i;
    json_t *e;
    json_array_foreach(src, i, e)
    {
        char f[300];
        snprintf(f, sizeof f, "cases.%s.%s", code, json_string_value(json_object_get(e, "field")));
        json_array_append_new(dst, http_field_error(f, json_string_value(json_object_get(e, "message"))));
    }
}

static int bapply_tx(store_conn *c, void *arg)
{
    struct bapply *b = arg;
    const struct principal *p = auth_principal(b->r);
    json_array_clear(b->errs);
    json_decref(b->out);
    b->out = json_array();
    b->unknown = b->conflict = 0;
    json_t *def = NULL;
    int rc = bundle_def(c, b->code, &def);
    if (rc == STORE_DONE) {
        b->unknown = 1;
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc;
    long long now = case_now_ms();
    store_stmt *st =
        store_prepare(c, "INSERT INTO bundle_case (bundle_code, applicant, enterprise, created_ms)"
                         " VALUES ($1,$2,$3,$4) RETURNING id");
    if (!st) {
        json_decref(def);
        return STORE_ERROR;
    }
    store_bind_text(st, 1, b->code);
    store_bind_int64(st, 2, p->account);
    store_bind_int64(st, 3, p->on_behalf ? p->on_behalf : p->enterprise);
    store_bind_int64(st, 4, now);
    rc = store_step(st);
    if (rc == STORE_ROW) b->bundle_id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) {
        json_decref(def);
        return rc;
    }
    const char *k;
    json_t *v;
    json_object_foreach(b->cases, k, v)
    {
        int member = 0;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(def, "items"), i, e) if (!strcmp(json_string_value(e), k)) member =
            1;
        if (!member) {
            char f[160];
            snprintf(f, sizeof f, "cases.%.100s", k);
            json_array_append_new(b->errs, http_field_error(f, "not an item of this bundle"));
        }
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(def, "items"), i, e)
    {
        const char *code = json_string_value(e);
        json_t *one = json_object_get(b->cases, code);
        json_t *form = json_object_get(one, "form"), *mats = json_object_get(one, "materials");
        json_t *item;
        int version, online;
        rc = case_item(c, code, 0, &item, &version, &online);
        if (rc == STORE_DONE || (rc == STORE_OK && !online)) {
            char f[160];
            snprintf(f, sizeof f, "cases.%s", code);
            json_array_append_new(b->errs, http_field_error(f, "this item is not online"));
            continue;
        }
        if (rc != STORE_OK) break;
        char *ftext = json_dumps(json_is_object(form) ? form : json_object(), JSON_COMPACT);
        char *mtext = json_dumps(json_is_object(mats) ? mats : json_object(), JSON_COMPACT);
        st = store_prepare(c,
                           "INSERT INTO ecase (item_code, item_version, applicant, enterprise, agent, state,"
                           " prev_state, form, materials, bundle_id, created_ms, updated_ms)"
                           " VALUES ($1,$2,$3,$4,$5,'draft','draft',$6,$7,$8,$9,$9) RETURNING id");
        long long id = 0;
        if (st && ftext && mtext) {
            store_bind_text(st, 1, code);
            store_bind_int64(st, 2, version);
            store_bind_int64(st, 3, p->account);
            store_bind_int64(st, 4, p->on_behalf ? p->on_behalf : p->enterprise);
            store_bind_int64(st, 5, p->on_behalf ? p->account : 0);
            store_bind_text(st, 6, ftext);
            store_bind_text(st, 7, mtext);
            store_bind_int64(st, 8, b->bundle_id);
            store_bind_int64(st, 9, now);
            rc = store_step(st);
            if (rc == STORE_ROW) id = store_column_int64(st, 0);
        } else
            rc = STORE_ERROR;
        if (st) store_finalize(st);
        free(ftext);
        free(mtext);
        if (rc != STORE_ROW) break;
        struct case_row row;
        if ((rc = case_load(c, id, &row)) != STORE_ROW) break;
        json_t *errs = json_array();
        rc = case_submit_row(c, b->r, &row, errs, &b->conflict);
        prefix_errors(b->errs, errs, code);
        json_decref(errs);
        if (rc == STORE_OK)
            json_array_append_new(b->out, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)row.id, "item", code,
                                                    "case_no", row.case_no));
        case_row_free(&row);
        if (rc != STORE_OK) break;
    }
    json_decref(def);
    if (rc == STORE_ROW || rc == STORE_DONE) rc = STORE_OK;
    if (rc == STORE_OK && json_array_size(b->errs)) return CASE_REFUSED;
    return rc;
}

/* POST /api/v1/bundles/{code}/apply {cases: {ITEM: {form, materials}}} */
int bundle_apply(http_req *r)
{
    static const char *known[] = {"cases", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct bapply b = {.r = r, .code = http_req_param(r, "code"), .errs = json_array()};
    b.cases = json_object_get(in.body, "cases");
    if (!json_is_object(b.cases))
        input_error(&in, "cases", "required: an object of item code → {form, materials}");
    if (input_done(&in) != 0) {
        json_decref(b.errs);
        return 0;
    }
    int rc = store_tx(db_of(r), 1, bapply_tx, &b);
    if (rc == CASE_REFUSED) {
        json_decref(b.out);
        return http_reply_error(r, b.conflict ? 409 : 422, b.conflict ? "conflict" : "validation_failed",
                                "the bundle's applications are not complete or not valid", b.errs);
    }
    json_decref(b.errs);
    if (rc != STORE_OK) {
        json_decref(b.out);
        return case_reply_unavailable(r);
    }
    if (b.unknown) {
        json_decref(b.out);
        return http_reply_error(r, 404, "not_found", "no such bundle online", NULL);
    }
    exchange_kick();
    return http_reply_json(
        r, 201,
        json_pack("{s:I, s:s, s:o}", "bundle", (json_int_t)b.bundle_id, "code", b.code, "cases", b.out));
}

/* GET /api/v1/bundle-cases/{id} — the bundle's cases and the status derived from them:
 * done when every case is closed, refused when any was refused or not accepted,
 * withdrawn when all were withdrawn, otherwise in progress. */
int bundle_case_get(http_req *r)
{
    const struct principal *p = auth_principal(r);
    long long id;
    const char *ids = http_req_param(r, "id");
    if (!ids || parse_int64(ids, &id) != 0)
        return http_reply_error(r, 404, "not_found", "no such bundle", NULL);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return case_reply_unavailable(r);
    store_stmt *st = store_prepare(c, "SELECT bundle_code, applicant FROM bundle_case WHERE id = $1");
    int rc = st ? store_step((store_bind_int64(st, 1, id), st)) : STORE_ERROR;
    char code[40] = "";
    long long applicant = 0;
    if (rc == STORE_ROW) {
        snprintf(code, sizeof code, "%s", store_column_text(st, 0));
        applicant = store_column_int64(st, 1);
    }
    if (st) store_finalize(st);
    if (rc != STORE_ROW || applicant != p->account) {
        store_release(c);
        return rc == STORE_ROW || rc == STORE_DONE
                   ? http_reply_error(r, 404, "not_found", "no such bundle", NULL)
                   : case_reply_unavailable(r);
    }
    long long cids[64];
    int n = 0;
    st = store_prepare(c, "SELECT id FROM ecase WHERE bundle_id = $1 AND bundle_id <> 0 ORDER BY id");
    if (st) {
        store_bind_int64(st, 1, id);
        while (n < 64 && store_step(st) == STORE_ROW) cids[n++] = store_column_int64(st, 0);
        store_finalize(st);
    }
    json_t *list = json_array();
    int closed = 0, refused = 0, withdrawn = 0;
    for (int i = 0; i < n; i++) {
        struct case_row row;
        if (case_load(c, cids[i], &row) != STORE_ROW) continue;
        enum case_state s = row.core.state;
        closed += s == CS_CLOSED;
        refused += s == CS_REFUSED || s == CS_NOT_ACCEPTED || (s == CS_CLOSED && row.result == NULL);
        withdrawn += s == CS_WITHDRAWN;
        json_array_append_new(list, case_json(c, &row, 0));
        case_row_free(&row);
    }
    store_release(c);
    const char *status = n && withdrawn == n ? "withdrawn"
                         : refused           ? "refused"
                         : n && closed == n  ? "done"
                                             : "in_progress";
    return http_reply_json(r, 200,
                           json_pack("{s:I, s:s, s:s, s:o}", "bundle", (json_int_t)id, "code", code, "status",
                                     status, "cases", list));
}
