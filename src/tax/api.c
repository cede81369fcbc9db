/*
 * api.c — the filing calendar of a taxpayer and the parameters in force, over HTTP.
 * (Taxpayers are in taxpayer.c, declarations in declare.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "calendar/calendar.h"
#include "core/core.h"
#include "tax/internal.h"

struct filings {
    http_req *r;
    long long id;
    int as_of, found;
    json_t *out;
};

static int filings_tx(store_conn *c, void *arg)
{
    struct filings *f = arg;
    struct tax_taxpayer t;
    int rc = tax_access_to(c, auth_principal(f->r), f->id, &t);
    if (rc < 0) return rc;
    if (rc == TAX_NONE) return STORE_OK;
    f->found = 1;
    json_array_clear(f->out);
    static const char *const TAXES[] = {"vat", "cit", "iit"};
    for (int k = 0; k < 3; k++) {
        int quarterly = 0, since = 0;
        rc = tax_registration_get(c, t.id, TAXES[k], &quarterly, &since);
        if (rc == STORE_DONE) continue;
        if (rc != STORE_OK) return rc;
        struct tax_period p;
        int from = since > f->as_of - 400 ? since : f->as_of - 400;
        tax_period_of(from, quarterly, &p);
        for (; p.end < f->as_of; tax_period_next(&p, &p)) {
            int day, near;
            json_t *ov = NULL;
            if ((rc = tax_calendar_params(c, p.end, &day, &near, &ov)) != STORE_OK) return rc;
            int due = tax_deadline(tax_calendar(), &p, day, ov);
            json_decref(ov);
            store_stmt *st = store_prepare(c, "SELECT id, status FROM tax_declaration WHERE taxpayer_id = $1"
                                              " AND tax = $2 AND period = $3 AND current = 1");
            if (!st) return STORE_ERROR;
            store_bind_int64(st, 1, t.id);
            store_bind_text(st, 2, TAXES[k]);
            store_bind_text(st, 3, p.text);
            rc = store_step(st);
            long long decl = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
            char dstatus[16] = "";
            if (rc == STORE_ROW) snprintf(dstatus, sizeof dstatus, "%s", store_column_text(st, 1));
            store_finalize(st);
            if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
            char ds[11];
            calendar_date_format(due, ds);
            const char *state = decl ? "filed" : f->as_of > due ? "overdue" : "outstanding";
            json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:i}", "tax", TAXES[k], "period", p.text, "deadline", ds, "state",
                state, "working_days_left",
                decl || f->as_of > due ? 0 : calendar_working_days_between(tax_calendar(), f->as_of, due));
            if (decl) {
                json_object_set_new(o, "declaration", json_integer(decl));
                json_object_set_new(o, "declaration_status", json_string(dstatus));
            }
            json_array_append_new(f->out, o);
        }
    }
    return STORE_OK;
}

int tax_api_filings(http_req *r)
{
    struct filings f = {.r = r, .out = json_array(), .as_of = calendar_today()};
    if (parse_int64(http_req_param(r, "id"), &f.id) != 0 || f.id <= 0) {
        json_decref(f.out);
        return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    }
    const char *q = http_req_query(r, "as_of");
    if (q && calendar_date_parse(q, &f.as_of) != 0) {
        json_decref(f.out);
        return http_reply_error(r, 422, "validation_failed", "some fields are not valid",
                                json_pack("[o]", http_field_error("as_of", "must be a date YYYY-MM-DD")));
    }
    if (store_tx(((struct app *)http_req_app(r))->db, 0, filings_tx, &f) != STORE_OK) {
        json_decref(f.out);
        return tax_reply_unavailable(r);
    }
    if (!f.found) {
        json_decref(f.out);
        return http_reply_error(r, 404, "not_found", "no such taxpayer", NULL);
    }
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(f.out, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "state")), "filed") != 0) n++;
    }
    char d[11];
    calendar_date_format(f.as_of, d);
    return http_reply_json(
        r, 200, json_pack("{s:s, s:I, s:o}", "as_of", d, "outstanding", (json_int_t)n, "filings", f.out));
}

struct params_q {
    const char *kind;
    int date;
    json_t *doc;
};

static int params_tx(store_conn *c, void *arg)
{
    struct params_q *q = arg;
    int rc = tax_params_in_force(c, q->kind, q->date, q->date, &q->doc);
    return rc == STORE_DONE ? STORE_OK : rc;
}

int tax_api_params(http_req *r)
{
    static const char *const KINDS[] = {"iit_withholding", "vat_small", "vat_general", "cit",
                                        "calendar",        NULL};
    struct params_q q = {http_req_query(r, "kind"), calendar_today(), NULL};
    json_t *errs = json_array();
    int ok = 0;
    for (int i = 0; q.kind && KINDS[i]; i++) ok |= !strcmp(q.kind, KINDS[i]);
    if (!ok)
        json_array_append_new(
            errs,
            http_field_error("kind", "must be iit_withholding, vat_small, vat_general, cit or calendar"));
    const char *ds = http_req_query(r, "date");
    if (ds && calendar_date_parse(ds, &q.date) != 0)
        json_array_append_new(errs, http_field_error("date", "must be a date YYYY-MM-DD"));
    if (json_array_size(errs))
        return http_reply_error(r, 422, "validation_failed", "some fields are not valid", errs);
    json_decref(errs);
    if (store_tx(((struct app *)http_req_app(r))->db, 0, params_tx, &q) != STORE_OK)
        return tax_reply_unavailable(r);
    if (!q.doc)
        return http_reply_error(r, 404, "not_found", "no parameter set of this kind is in force on that date",
                                json_pack("[o]", http_field_error("date", "no set in force")));
    return http_reply_json(r, 200, q.doc);
}
