/*
 * public.c — the taxpayer status lookup without log-in (纳税人状态查询): an enterprise
 * by its USCC or its exact registered name gives its name, USCC, status, kind and VAT
 * status, and its credit rating only when it is A — the STA publishes the A-rated
 * taxpayers (纳税信用A级纳税人名单) and not the others.  Persons are never shown.
 * Rate limited per client address like invoice verification.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "tax/internal.h"

struct lookup {
    const char *uscc, *name;
    json_t *out;
};

static int lookup_tx(store_conn *c, void *arg)
{
    struct lookup *q = arg;
    store_stmt *st =
        store_prepare(c, q->uscc ? "SELECT name, uscc, status, vat_status, credit FROM taxpayer"
                                   " WHERE kind = 'enterprise' AND uscc = $1"
                                 : "SELECT name, uscc, status, vat_status, credit FROM taxpayer"
                                   " WHERE kind = 'enterprise' AND name = $1 ORDER BY id LIMIT 5");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, q->uscc ? q->uscc : q->name);
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        int a = !strcmp(store_column_text(st, 4), "A");
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", store_column_text(st, 0), "uscc",
                      store_column_text(st, 1), "kind", "enterprise", "status", store_column_text(st, 2),
                      "vat_status", store_column_text(st, 3), "credit_published", a);
        json_object_set_new(o, "credit", a ? json_string("A") : json_null());
        json_array_append_new(q->out, o);
    }
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

int tax_api_public_taxpayer(http_req *r)
{
    if (tax_public_limited(r)) return 0;
    struct lookup q = {http_req_query(r, "uscc"), http_req_query(r, "name"), NULL};
    if ((!q.uscc || !*q.uscc) && (!q.name || !*q.name))
        return http_reply_error(
            r, 422, "validation_failed", "some fields are not valid",
            json_pack("[o]", http_field_error("uscc", "give uscc (18 characters) or name")));
    if (q.uscc && strlen(q.uscc) != 18)
        return http_reply_error(r, 422, "validation_failed", "some fields are not valid",
                                json_pack("[o]", http_field_error("uscc", "must be 18 characters")));
    if (!q.uscc && strlen(q.name) > 200)
        return http_reply_error(r, 422, "validation_failed", "some fields are not valid",
                                json_pack("[o]", http_field_error("name", "at most 200 characters")));
    q.out = json_array();
    if (store_tx(((struct app *)http_req_app(r))->db, 0, lookup_tx, &q) != STORE_OK) {
        json_decref(q.out);
        return tax_reply_unavailable(r);
    }
    if (!json_array_size(q.out)) {
        json_decref(q.out);
        return http_reply_error(r, 404, "not_found", "no registered enterprise taxpayer matches", NULL);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "taxpayers", q.out));
}
