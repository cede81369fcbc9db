/*
 * engine — the case engine's HTTP handlers (case_api.c for applicants, workbench.c for
 * staff, bundle.c for bundles) and what they share.  The state machine is case.h; the
 * transactions are flow.h.
 */
#ifndef EHALL_ENGINE_H
#define EHALL_ENGINE_H

#include <jansson.h>

#include "auth/session.h"
#include "engine/flow.h"
#include "http/http.h"

/* applicants (case_api.c) */
int case_create(http_req *r);
int case_save(http_req *r);
int case_delete(http_req *r);
int case_get(http_req *r);
int case_list_mine(http_req *r);
int case_submit(http_req *r);
int case_withdraw(http_req *r);
int case_supplement(http_req *r);
int case_evaluate(http_req *r);
int case_material_content(http_req *r);
/* staff (workbench.c) */
int case_act(http_req *r);
int workbench_counts(http_req *r);
int workbench_queue(http_req *r);
/* GET /api/v1/workbench/cases/{id}/colleagues: who may take the case's current step */
int workbench_colleagues(http_req *r);
/* bundles (bundle.c) */
int bundle_apply(http_req *r);
int bundle_case_get(http_req *r);

/* shared */
int case_reply_unavailable(http_req *r);
int case_owner(const struct principal *p, const struct case_row *row);
int case_staff_reads(const struct principal *p, const struct case_row *row);
/* A case as the API shows it: in full (form, materials, supervision log) for one case,
 * or as a list entry (full = 0: without those three). */
json_t *case_json(store_conn *c, const struct case_row *row, int full);
json_t *case_staff_actions(store_conn *c, const struct principal *p, const struct case_row *row);
/* Freeze and submit a draft row inside the caller's transaction: every problem is
 * appended to errs (field paths), *conflict set when another live case holds the item's
 * limit key.  STORE_OK with errs empty when submitted. */
int case_submit_row(store_conn *c, http_req *r, struct case_row *row, json_t *errs, int *conflict);

#endif
