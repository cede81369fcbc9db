/*
 * flow — the case engine's transactions (flow.c) and what the HTTP handlers
 * (case_api.c, workbench.c) and the housekeeping share.  Internal to src/engine/.
 */
#ifndef EHALL_ENGINE_FLOW_H
#define EHALL_ENGINE_FLOW_H

#include <jansson.h>

#include "calendar/calendar.h"
#include "engine/case.h"
#include "store/store.h"

struct config;

/* One case row.  Day numbers are the calendar's (0 = not set). */
struct case_row {
    long long id, applicant, enterprise, agent, bundle_id;
    char case_no[40], item_code[40], dept_code[65], dept_path[256], step_role[65], escalated_dept[65];
    int item_version, nlog, escalated, reminded;
    struct case_core core;
    long long created_ms, updated_ms, submitted_ms, closed_ms;
    int accepted_day, due_day, step_day, step_due, supplement_due, paused_day, score;
    char *form, *materials, *result, *digest, *comment, *idem_key, *limit_key; /* malloc'd or NULL */
};
void case_row_free(struct case_row *r);
/* Load a case (STORE_ROW when found, STORE_DONE when not). */
int case_load(store_conn *c, long long id, struct case_row *r);
/* The columns case_load reads, for lists that load their cases in one query: select
 * them first, then fill each row with case_row_read (STORE_ROW, or STORE_ERROR). */
#define CASE_COLUMNS                                                                                         \
    "id, case_no, item_code, item_version, applicant, enterprise, agent, state, prev_state, step,"           \
    " dept_code, dept_path, step_role, assignee, precheck, form, materials, digest, bundle_id, idem_key,"    \
    " created_ms, updated_ms, submitted_ms, closed_ms, accepted_day, due_day, step_day, step_due,"           \
    " supplement_due, paused_day, escalated, escalated_dept, reminded, score, comment, result, nlog,"        \
    " limit_key"
/* The same for lists, whose entries leave out the form and the materials: '{}' in their
 * place, so a page neither reads nor copies them. */
#define CASE_LIST_COLUMNS                                                                                    \
    "id, case_no, item_code, item_version, applicant, enterprise, agent, state, prev_state, step,"           \
    " dept_code, dept_path, step_role, assignee, precheck, '{}', '{}', digest, bundle_id, idem_key,"         \
    " created_ms, updated_ms, submitted_ms, closed_ms, accepted_day, due_day, step_day, step_due,"           \
    " supplement_due, paused_day, escalated, escalated_dept, reminded, score, comment, result, nlog,"        \
    " limit_key"
int case_row_read(store_stmt *st, struct case_row *r);

/* An item definition by code and version (0 = the current one) from the catalog
 * (item_get's cache).  STORE_OK with *def (borrowed; valid for the process's life),
 * *version_out and, when online is not NULL, whether the item is online (read fresh);
 * STORE_DONE when unknown. */
int case_item(store_conn *c, const char *code, int version, json_t **def, int *version_out, int *online);
/* The workflow of an item version, in the engine's terms. */
int case_item_workflow(store_conn *c, const char *code, int version, struct case_workflow *wf);

/* Who acts: staff or an applicant (account id and login), or the system (0, "system"). */
struct case_actor {
    long long id;
    const char *login;
    const char *role; /* the role code staff act in, the applicant kind, or "system" */
};

/* One change of a case: what case_apply allows, then the row, one supervision-log entry,
 * the applicant's notification and, for decisions, an audit record — all in c's
 * transaction.  opinion and details (JSON text) may be NULL.  Returns 0, CASE_REFUSED
 * (the workflow does not allow it; *why says why), or a STORE_* error. */
#define CASE_REFUSED (-20)
struct case_move {
    enum case_action action;
    struct case_actor actor;
    const char *opinion;
    long long to;        /* sign / transfer: the new assignee */
    const char *details; /* JSON text for the log entry */
    int supplement_days; /* CA_SUPPLEMENT: working days the applicant has */
    const char *why;     /* out */
    const char *client;  /* for the audit record */
    const char *request_id;
};
int case_move(store_conn *c, struct case_row *r, struct case_move *m);
/* The same move for a case not stored yet: r holds every column of the case before the
 * move (r->id from case_new_id, nlog 0) and is INSERTed once, in its state after the
 * move, with the same log entry, notification and audit as case_move gives. */
int case_move_new(store_conn *c, struct case_row *r, struct case_move *m);
/* The id the next new case gets, allocated inside c's write transaction. */
int case_new_id(store_conn *c, long long *id);

/* The engine's shared state, set once by case_engine_init. */
struct case_engine {
    store *db;
    calendar *cal;
    const struct config *cfg;
};
extern struct case_engine case_engine;

/* Register the exchange result handlers and remember db/cal/cfg; once at start-up. */
void case_engine_init(store *db, calendar *cal, const struct config *cfg);
/* Housekeeping: reminders for near-due cases, escalation of overdue ones.  Returns the
 * number of cases escalated, or a STORE_* error. */
int case_sweep(store *db);

/* Today as a calendar day in the configured zone. */
int case_today(void);
/* RFC 3339 for ms since the epoch (buf of 40). */
void case_time_text(long long ms, char buf[40]);
long long case_now_ms(void);

#endif
