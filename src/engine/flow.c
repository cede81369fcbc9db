/*
 * flow.c — the case engine's writes: loading a case, moving it (case_move: the row,
 * the supervision log, notifications and audit in one transaction), the item catalog
 * as the engine reads it, the exchange's answers, and the housekeeping sweep that
 * reminds and escalates.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/config.h"
#include "core/core.h"
#include "engine/flow.h"
#include "engine/inbox.h"
#include "engine/item.h"
#include "exchange/exchange.h"
#include "licence/licence.h"

struct case_engine case_engine;

long long case_now_ms(void) { return (long long)(now_wall() * 1000.0); }

void case_time_text(long long ms, char buf[40]) { time_rfc3339((double)ms / 1000.0, buf, 40); }

int case_today(void) { return calendar_today(); }

static char *dup_col(store_stmt *st, int col)
{
    const char *t = store_column_text(st, col);
    return t ? strdup(t) : NULL;
}

static void copy_col(char *dst, size_t n, store_stmt *st, int col)
{
    str_copy(dst, n, store_column_text(st, col));
}

void case_row_free(struct case_row *r)
{
    free(r->form);
    free(r->materials);
    free(r->result);
    free(r->digest);
    free(r->comment);
    free(r->idem_key);
    free(r->limit_key);
    r->form = r->materials = r->result = r->digest = r->comment = r->idem_key = r->limit_key = NULL;
}

int case_row_read(store_stmt *st, struct case_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = store_column_int64(st, 0);
    copy_col(r->case_no, sizeof r->case_no, st, 1);
    copy_col(r->item_code, sizeof r->item_code, st, 2);
    r->item_version = (int)store_column_int64(st, 3);
    r->applicant = store_column_int64(st, 4);
    r->enterprise = store_column_int64(st, 5);
    r->agent = store_column_int64(st, 6);
    int s = case_state_parse(store_column_text(st, 7));
    r->core.state = s < 0 ? CS_DRAFT : (enum case_state)s;
    s = case_state_parse(store_column_text(st, 8));
    r->core.prev_state = s < 0 ? CS_DRAFT : (enum case_state)s;
    r->core.step = (int)store_column_int64(st, 9);
    copy_col(r->dept_code, sizeof r->dept_code, st, 10);
    copy_col(r->dept_path, sizeof r->dept_path, st, 11);
    copy_col(r->step_role, sizeof r->step_role, st, 12);
    r->core.assignee = store_column_int64(st, 13);
    const char *pc = store_column_text(st, 14);
    r->core.precheck = pc && !strcmp(pc, "passed");
    r->form = dup_col(st, 15);
    r->materials = dup_col(st, 16);
    r->digest = dup_col(st, 17);
    r->bundle_id = store_column_int64(st, 18);
    r->idem_key = dup_col(st, 19);
    r->created_ms = store_column_int64(st, 20);
    r->updated_ms = store_column_int64(st, 21);
    r->submitted_ms = store_column_int64(st, 22);
    r->closed_ms = store_column_int64(st, 23);
    r->accepted_day = (int)store_column_int64(st, 24);
    r->due_day = (int)store_column_int64(st, 25);
    r->step_day = (int)store_column_int64(st, 26);
    r->step_due = (int)store_column_int64(st, 27);
    r->supplement_due = (int)store_column_int64(st, 28);
    r->paused_day = (int)store_column_int64(st, 29);
    r->escalated = (int)store_column_int64(st, 30);
    copy_col(r->escalated_dept, sizeof r->escalated_dept, st, 31);
    r->reminded = (int)store_column_int64(st, 32);
    r->score = (int)store_column_int64(st, 33);
    r->comment = dup_col(st, 34);
    r->result = dup_col(st, 35);
    r->nlog = (int)store_column_int64(st, 36);
    r->limit_key = dup_col(st, 37);
    if (!r->form || !r->materials) {
        case_row_free(r);
        return STORE_ERROR;
    }
    return STORE_ROW;
}

int case_load(store_conn *c, long long id, struct case_row *r)
{
    memset(r, 0, sizeof *r);
    store_stmt *st = store_prepare(c, "SELECT " CASE_COLUMNS " FROM ecase WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) rc = case_row_read(st, r);
    store_finalize(st);
    return rc;
}

/* ---------- the catalog, as the engine reads it ---------- */

int case_item(store_conn *c, const char *code, int version, json_t **def, int *version_out, int *online)
{
    int cur = 0, on = 0;
    if (version == 0 || online) {
        int rc = item_state(c, code, &cur, &on);
        if (rc != 0) return rc == 1 ? STORE_DONE : rc;
        if (version == 0) version = cur;
    }
    const struct item *it;
    int rc = item_get(c, code, version, &it);
    if (rc != 0) return rc == 1 ? STORE_DONE : rc;
    if (online) *online = on;
    if (version_out) *version_out = version;
    *def = it->def;
    return STORE_OK;
}

/* An item's action bit -> the case engine's action bit, matched by name once. */
static unsigned action_map[32];
static pthread_once_t action_map_once = PTHREAD_ONCE_INIT;

static void action_map_init(void)
{
    for (unsigned i = 0; i < 32; i++) {
        int a = case_action_parse(item_action_name(1u << i));
        action_map[i] = a >= 0 ? 1u << a : 0;
    }
}

int case_item_workflow(store_conn *c, const char *code, int version, struct case_workflow *wf)
{
    pthread_once(&action_map_once, action_map_init);
    const struct item *it;
    int rc = item_get(c, code, version, &it);
    if (rc != 0) return rc == 1 ? STORE_DONE : rc;
    memset(wf, 0, sizeof *wf);
    for (size_t i = 0; i < it->nsteps && i < CASE_MAX_STEPS; i++) {
        const struct item_step *is = &it->steps[i];
        struct case_step *st = &wf->steps[i];
        str_copy(st->id, sizeof st->id, is->id);
        str_copy(st->name, sizeof st->name, is->name ? is->name : is->id);
        str_copy(st->role, sizeof st->role, is->role);
        str_copy(st->dept, sizeof st->dept, is->department);
        st->time_limit = is->time_limit;
        for (unsigned b = 0; b < 32; b++)
            if (is->actions & (1u << b)) st->actions |= action_map[b];
    }
    wf->n = it->nsteps < CASE_MAX_STEPS ? (int)it->nsteps : CASE_MAX_STEPS;
    return wf->n > 0 ? STORE_OK : STORE_ERROR;
}

/* ---------- moving a case ---------- */

static int dept_path(store_conn *c, const char *code, char out[256])
{
    store_stmt *st = store_prepare(c, "SELECT path FROM department WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    int rc = store_step(st);
    if (rc == STORE_ROW) copy_col(out, 256, st, 0);
    store_finalize(st);
    return rc;
}

static const char *const NOTE_TITLE[CA_NACTIONS] = {
    [CA_SUBMIT] = "已提交",        [CA_WITHDRAW] = "已撤回",     [CA_SUPPLEMENTED] = "已补正",
    [CA_ACCEPT] = "已受理",        [CA_NOT_ACCEPT] = "不予受理", [CA_SUPPLEMENT] = "需要补正材料",
    [CA_APPROVE] = "审批通过",     [CA_REFUSE] = "审批不通过",   [CA_CLOSE] = "已办结",
    [CA_PRECHECK_NO] = "不予受理", [CA_RESULT] = "结果已出具",   [CA_ESCALATE] = "已超期，已督办"};

static int notify(store_conn *c, const struct case_row *r, enum case_action a, const char *opinion)
{
    if (!NOTE_TITLE[a]) return STORE_OK;
    /* the item decides whether state changes also go out by SMS */
    json_t *def = NULL;
    int sms = 0;
    if (case_item(c, r->item_code, r->item_version, &def, NULL, NULL) == STORE_OK)
        sms = json_is_true(json_object_get(def, "notify_sms"));
    char title[160], body[800];
    snprintf(title, sizeof title, "办件 %s %s", r->case_no[0] ? r->case_no : "(草稿)", NOTE_TITLE[a]);
    snprintf(body, sizeof body, "您申请的“%s”%s。%s%s", json_string_value(json_object_get(def, "name")),
             NOTE_TITLE[a], opinion && *opinion ? "意见：" : "", opinion ? opinion : "");
    return inbox_notify(c, r->applicant, r->id, case_action_name(a), title, body, sms && a != CA_SUBMIT);
}

/* What a move does, worked out before anything is written: the workflow allows it
 * (else CASE_REFUSED), v->next the new core, and r's step, department and day columns
 * set as they will be stored. */
struct move_plan {
    struct case_workflow wf;
    struct case_core next;
    const struct case_step *from;
    int used; /* working days the step has used */
};

static int move_plan(store_conn *c, struct case_row *r, struct case_move *m, struct move_plan *v)
{
    struct case_workflow *wf = &v->wf;
    int rc = case_item_workflow(c, r->item_code, r->item_version, wf);
    if (rc != STORE_OK) return rc == STORE_DONE ? STORE_ERROR : rc;
    struct case_core next;
    if (case_apply(wf, &r->core, m->action, m->to, &next, &m->why) != 0) return CASE_REFUSED;
    int today = case_today();
    calendar *cal = case_engine.cal;
    const struct case_step *from = &wf->steps[r->core.step];
    /* working days the step has used so far (from the day it began, paused days aside) */
    int used = r->step_day ? calendar_working_days_between(cal, r->step_day, today) : 0;
    if (used < 0) used = 0;

    int step_changed = next.step != r->core.step || m->action == CA_SUBMIT;
    char path[256];
    snprintf(path, sizeof path, "%s", r->dept_path);
    const struct case_step *to = &wf->steps[next.step];
    if (step_changed) {
        rc = dept_path(c, to->dept, path);
        if (rc == STORE_DONE) {
            m->why = "the department this step belongs to is not configured";
            return CASE_REFUSED;
        }
        if (rc != STORE_ROW) return rc;
        r->step_day = today;
        if (calendar_add_working_days(cal, today, to->time_limit, &r->step_due) != 0) r->step_due = today;
        r->escalated = 0;
        r->escalated_dept[0] = 0;
        r->reminded = 0;
        snprintf(r->dept_code, sizeof r->dept_code, "%s", to->dept);
        snprintf(r->dept_path, sizeof r->dept_path, "%s", path);
        snprintf(r->step_role, sizeof r->step_role, "%s", to->role);
    }
    if (m->action == CA_ACCEPT && r->core.state == CS_SUBMITTED) {
        json_t *def;
        if ((rc = case_item(c, r->item_code, r->item_version, &def, NULL, NULL)) != STORE_OK) return rc;
        r->accepted_day = today;
        int limit = (int)json_integer_value(json_object_get(def, "time_limit"));
        if (calendar_add_working_days(cal, today, limit, &r->due_day) != 0) r->due_day = today;
    }
    if (m->action == CA_SUPPLEMENT) {
        int days = m->supplement_days > 0 ? m->supplement_days : 5;
        if (calendar_add_working_days(cal, today, days, &r->supplement_due) != 0) r->supplement_due = today;
        r->paused_day = today;
    }
    if (m->action == CA_SUPPLEMENTED && r->paused_day) {
        /* the clock stops while the applicant supplements (补正期间不计时) */
        int paused = calendar_working_days_between(cal, r->paused_day, today);
        if (paused > 0) {
            if (r->step_due) calendar_add_working_days(cal, r->step_due, paused, &r->step_due);
            if (r->due_day) calendar_add_working_days(cal, r->due_day, paused, &r->due_day);
        }
        r->paused_day = 0;
        r->supplement_due = 0;
    }
    v->next = next;
    v->from = from;
    v->used = used;
    return STORE_OK;
}

/* What follows the row's change: the supervision-log entry, r's core and nlog moved on,
 * the applicant's notification and, for decisions, the audit record. */
static int move_record(store_conn *c, struct case_row *r, struct case_move *m, const struct move_plan *v,
                       long long now)
{
    const struct case_core next = v->next;
    const struct case_step *from = v->from;
    int used = v->used;
    int rc;
    char at[40];
    case_time_text(now, at);
    store_stmt *st =
        store_prepare(c, "INSERT INTO case_log (case_id, seq, at, at_ms, actor, actor_login, step, step_name,"
                         " action, from_state, to_state, to_step, assignee, opinion, time_limit, time_used,"
                         " details) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, r->id);
    store_bind_int64(st, 2, r->nlog + 1);
    store_bind_text(st, 3, at);
    store_bind_int64(st, 4, now);
    store_bind_int64(st, 5, m->actor.id);
    store_bind_text(st, 6, m->actor.login ? m->actor.login : "system");
    store_bind_int64(st, 7, r->core.step);
    store_bind_text(st, 8, from->name);
    store_bind_text(st, 9, case_action_name(m->action));
    store_bind_text(st, 10, case_state_name(r->core.state));
    store_bind_text(st, 11, case_state_name(next.state));
    store_bind_int64(st, 12, next.step);
    store_bind_int64(st, 13, next.assignee);
    if (m->opinion)
        store_bind_text(st, 14, m->opinion);
    else
        store_bind_null(st, 14);
    store_bind_int64(st, 15, from->time_limit);
    store_bind_int64(st, 16, used);
    if (m->details)
        store_bind_text(st, 17, m->details);
    else
        store_bind_null(st, 17);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    r->nlog++;
    enum case_state was = r->core.state;
    r->core = next;
    /* the "done" queue's rows: every staff member who acted on the case, once it is
     * decided or finished (and whoever acts on it after that, e.g. the clerk who closes) */
    if (case_state_done(next.state) && m->action != CA_EVALUATE) {
        st = store_prepare(c, "INSERT INTO case_done (actor, case_id) SELECT DISTINCT l.actor, l.case_id"
                              " FROM case_log l JOIN account a ON a.id = l.actor WHERE l.case_id = $1"
                              " AND a.kind = 'staff' ON CONFLICT DO NOTHING");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, r->id);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    }
    if (next.state != was || m->action == CA_SUPPLEMENT || m->action == CA_ESCALATE) {
        rc = notify(c, r, m->action, m->opinion);
        if (rc != STORE_OK) return rc;
    }
    /* decisions go into the audit chain too */
    if (m->action == CA_ACCEPT || m->action == CA_NOT_ACCEPT || m->action == CA_APPROVE ||
        m->action == CA_REFUSE || m->action == CA_TRANSFER || m->action == CA_RETURN) {
        char actor[32], details[512];
        snprintf(actor, sizeof actor, "%lld", m->actor.id);
        json_t *d = json_pack("{s:s, s:s, s:s, s:s?}", "case_no", r->case_no, "step", from->id, "to_state",
                              case_state_name(next.state), "opinion", m->opinion);
        char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;
        snprintf(details, sizeof details, "%s", dt ? dt : "{}");
        free(dt);
        json_decref(d);
        char action[48];
        snprintf(action, sizeof action, "case.%s", case_action_name(m->action));
        char object[48];
        snprintf(object, sizeof object, "case:%lld", r->id);
        struct audit_event e = {actor,  m->actor.role, m->client, m->request_id,
                                action, object,        "ok",      details};
        rc = audit_append(c, &e);
        if (rc != STORE_OK) return rc;
    }
    return STORE_OK;
}

int case_move(store_conn *c, struct case_row *r, struct case_move *m)
{
    struct move_plan v;
    int rc = move_plan(c, r, m, &v);
    if (rc != STORE_OK) return rc;
    const struct case_core next = v.next;
    long long now = case_now_ms();
    int closing = next.state == CS_CLOSED || next.state == CS_NOT_ACCEPTED || next.state == CS_WITHDRAWN;
    store_stmt *st = store_prepare(
        c, "UPDATE ecase SET state = $1, prev_state = $2, step = $3, assignee = $4, precheck = $5,"
           " dept_code = $6, dept_path = $7, step_role = $8, step_day = $9, step_due = $10,"
           " accepted_day = $11, due_day = $12, supplement_due = $13, paused_day = $14, escalated = $15,"
           " escalated_dept = $16, reminded = $17, updated_ms = $18, closed_ms = $19, nlog = nlog + 1"
           " WHERE id = $20 AND nlog = $21 RETURNING nlog");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, case_state_name(next.state));
    store_bind_text(st, 2, case_state_name(next.prev_state));
    store_bind_int64(st, 3, next.step);
    store_bind_int64(st, 4, next.assignee);
    store_bind_text(st, 5, next.precheck ? "passed" : "pending");
    store_bind_text(st, 6, r->dept_code);
    store_bind_text(st, 7, r->dept_path);
    store_bind_text(st, 8, r->step_role);
    store_bind_int64(st, 9, r->step_day);
    store_bind_int64(st, 10, r->step_due);
    if (r->accepted_day)
        store_bind_int64(st, 11, r->accepted_day);
    else
        store_bind_null(st, 11);
    if (r->due_day)
        store_bind_int64(st, 12, r->due_day);
    else
        store_bind_null(st, 12);
    store_bind_int64(st, 13, r->supplement_due);
    store_bind_int64(st, 14, r->paused_day);
    store_bind_int64(st, 15, r->escalated);
    store_bind_text(st, 16, r->escalated_dept);
    store_bind_int64(st, 17, r->reminded);
    store_bind_int64(st, 18, now);
    if (closing)
        store_bind_int64(st, 19, now);
    else
        store_bind_null(st, 19);
    store_bind_int64(st, 20, r->id);
    store_bind_int64(st, 21, r->nlog);
    rc = store_step(st);
    store_finalize(st);
    /* someone else moved the case since it was read: the transaction runs again */
    if (rc == STORE_DONE) return STORE_BUSY;
    if (rc != STORE_ROW) return rc;

    return move_record(c, r, m, &v, now);
}

int case_new_id(store_conn *c, long long *id)
{
    /* SQLite: what AUTOINCREMENT would give next (the write transaction holds the one
     * writer, and the explicit id moves sqlite_sequence on); PostgreSQL: the serial. */
    const char *sql = store_conn_engine(c) == STORE_SQLITE
                          ? "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'ecase'), 0),"
                            " COALESCE((SELECT MAX(id) FROM ecase), 0)) + 1"
                          : "SELECT nextval(pg_get_serial_sequence('ecase', 'id'))";
    int rc = store_query_int64(c, sql, id);
    return rc == STORE_OK && *id > 0 ? STORE_OK : (rc == STORE_OK ? STORE_ERROR : rc);
}

int case_move_new(store_conn *c, struct case_row *r, struct case_move *m)
{
    struct move_plan v;
    int rc = move_plan(c, r, m, &v);
    if (rc != STORE_OK) return rc;
    const struct case_core next = v.next;
    long long now = case_now_ms();
    int closing = next.state == CS_CLOSED || next.state == CS_NOT_ACCEPTED || next.state == CS_WITHDRAWN;
    store_stmt *st = store_prepare(
        c, "INSERT INTO ecase (id, case_no, item_code, item_version, applicant, enterprise, agent, state,"
           " prev_state, step, dept_code, dept_path, step_role, assignee, precheck, form, materials, digest,"
           " limit_key, bundle_id, idem_key, created_ms, updated_ms, submitted_ms, closed_ms, accepted_day,"
           " due_day, step_day, step_due, supplement_due, paused_day, escalated, escalated_dept, reminded,"
           " nlog) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,"
           "$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35)");
    if (!st) return STORE_ERROR;
    int i = 1;
#define BIND_TEXT_OR_NULL(v)                                                                                 \
    do {                                                                                                     \
        if (v)                                                                                               \
            store_bind_text(st, i++, v);                                                                     \
        else                                                                                                 \
            store_bind_null(st, i++);                                                                        \
    } while (0)
#define BIND_INT_OR_NULL(v)                                                                                  \
    do {                                                                                                     \
        if (v)                                                                                               \
            store_bind_int64(st, i++, v);                                                                    \
        else                                                                                                 \
            store_bind_null(st, i++);                                                                        \
    } while (0)
    store_bind_int64(st, i++, r->id);
    BIND_TEXT_OR_NULL(r->case_no[0] ? r->case_no : NULL);
    store_bind_text(st, i++, r->item_code);
    store_bind_int64(st, i++, r->item_version);
    store_bind_int64(st, i++, r->applicant);
    store_bind_int64(st, i++, r->enterprise);
    store_bind_int64(st, i++, r->agent);
    store_bind_text(st, i++, case_state_name(next.state));
    store_bind_text(st, i++, case_state_name(next.prev_state));
    store_bind_int64(st, i++, next.step);
    store_bind_text(st, i++, r->dept_code);
    store_bind_text(st, i++, r->dept_path);
    store_bind_text(st, i++, r->step_role);
    store_bind_int64(st, i++, next.assignee);
    store_bind_text(st, i++, next.precheck ? "passed" : "pending");
    store_bind_text(st, i++, r->form);
    store_bind_text(st, i++, r->materials);
    BIND_TEXT_OR_NULL(r->digest);
    BIND_TEXT_OR_NULL(r->limit_key);
    store_bind_int64(st, i++, r->bundle_id);
    BIND_TEXT_OR_NULL(r->idem_key);
    store_bind_int64(st, i++, r->created_ms ? r->created_ms : now);
    store_bind_int64(st, i++, now);
    BIND_INT_OR_NULL(r->submitted_ms);
    BIND_INT_OR_NULL(closing ? now : 0);
    BIND_INT_OR_NULL(r->accepted_day);
    BIND_INT_OR_NULL(r->due_day);
    store_bind_int64(st, i++, r->step_day);
    store_bind_int64(st, i++, r->step_due);
    store_bind_int64(st, i++, r->supplement_due);
    store_bind_int64(st, i++, r->paused_day);
    store_bind_int64(st, i++, r->escalated);
    store_bind_text(st, i++, r->escalated_dept);
    store_bind_int64(st, i++, r->reminded);
    store_bind_int64(st, i++, r->nlog + 1);
#undef BIND_TEXT_OR_NULL
#undef BIND_INT_OR_NULL
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    return move_record(c, r, m, &v, now);
}

/* ---------- the exchange's answers ---------- */

static int system_move(store_conn *c, long long case_id, enum case_action a, const char *opinion,
                       const char *details)
{
    struct case_row r;
    int rc = case_load(c, case_id, &r);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc; /* a deleted draft: nothing to do */
    struct case_move m = {
        .action = a, .actor = {0, "system", "system"}, .opinion = opinion, .details = details};
    rc = case_move(c, &r, &m);
    if (rc == CASE_REFUSED) {
        /* the case moved on meanwhile (withdrawn, say): the answer is recorded on the
         * message, and the case is left as it is */
        log_msg(LOG_WARN, "case %lld: back-end answer %s not applied: %s", case_id, case_action_name(a),
                m.why);
        rc = STORE_OK;
    }
    if (rc == STORE_OK && a == CA_RESULT) {
        /* a result that is not mailed ends the case at once */
        json_t *def;
        if (case_item(c, r.item_code, r.item_version, &def, NULL, NULL) == STORE_OK &&
            !json_is_true(json_object_get(json_object_get(def, "outputs"), "mailing"))) {
            struct case_move cl = {.action = CA_CLOSE, .actor = {0, "system", "system"}};
            rc = case_move(c, &r, &cl);
            if (rc == CASE_REFUSED) rc = STORE_OK;
        }
    }
    case_row_free(&r);
    return rc;
}

static int on_precheck(store_conn *c, long long msg_id, long long case_id, const char *kind,
                       const char *outcome, const char *result_json)
{
    (void)msg_id;
    (void)kind;
    json_t *res = result_json ? json_loads(result_json, 0, NULL) : NULL;
    const char *reason = json_string_value(json_object_get(res, "reason"));
    int rc =
        system_move(c, case_id, strcmp(outcome, "ok") == 0 ? CA_PRECHECK : CA_PRECHECK_NO,
                    strcmp(outcome, "ok") == 0 ? NULL : (reason ? reason : "后台核验未通过"), result_json);
    json_decref(res);
    return rc;
}

static int on_result(store_conn *c, long long msg_id, long long case_id, const char *kind,
                     const char *outcome, const char *result_json)
{
    (void)msg_id;
    (void)kind;
    if (strcmp(outcome, "ok") != 0) {
        log_msg(LOG_WARN, "case %lld: the back-end did not issue the result (%s)", case_id, outcome);
        return STORE_OK;
    }
    store_stmt *st = store_prepare(c, "UPDATE ecase SET result = $1 WHERE id = $2");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, result_json ? result_json : "{}");
    store_bind_int64(st, 2, case_id);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    rc = system_move(c, case_id, CA_RESULT, NULL, result_json);
    return rc == STORE_OK ? licence_on_case_result(c, case_id) : rc; /* the item's e-licence, if any */
}

void case_engine_init(store *db, calendar *cal, const struct config *cfg)
{
    case_engine.db = db;
    case_engine.cal = cal;
    case_engine.cfg = cfg;
    exchange_on_result("case.precheck", on_precheck);
    exchange_on_result("case.result", on_result);
    licence_setup(cfg);
}

/* ---------- housekeeping: reminders and escalation ---------- */

struct sweep {
    int today, near_limit, escalated;
};

static int parent_dept(store_conn *c, const char *code, char out[65])
{
    store_stmt *st =
        store_prepare(c, "SELECT p.code FROM department d JOIN department p ON p.id = d.parent_id"
                         " WHERE d.code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    int rc = store_step(st);
    if (rc == STORE_ROW) copy_col(out, 65, st, 0);
    store_finalize(st);
    return rc;
}

static int sweep_tx(store_conn *c, void *arg)
{
    struct sweep *sw = arg;
    sw->escalated = 0;
    /* overdue and not yet escalated: a few at a time, oldest first */
    long long ids[64];
    int n = 0;
    store_stmt *st =
        store_prepare(c, "SELECT id FROM ecase WHERE step_due < $1 AND state IN ('submitted','in_review')"
                         " AND escalated = 0 ORDER BY step_due LIMIT 64");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, sw->today);
    int rc;
    while ((rc = store_step(st)) == STORE_ROW && n < 64) ids[n++] = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_DONE && rc != STORE_ROW) return rc;
    for (int i = 0; i < n; i++) {
        struct case_row r;
        if ((rc = case_load(c, ids[i], &r)) != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
        char up[65] = "";
        rc = parent_dept(c, r.dept_code, up);
        if (rc != STORE_ROW && rc != STORE_DONE) {
            case_row_free(&r);
            return rc;
        }
        /* the top of the tree escalates to itself: its own overdue queue */
        if (!up[0]) snprintf(up, sizeof up, "%s", r.dept_code);
        char details[160];
        snprintf(details, sizeof details, "{\"to_department\":\"%s\",\"step_due\":%d}", up, r.step_due);
        struct case_move m = {.action = CA_ESCALATE,
                              .actor = {0, "system", "system"},
                              .details = details,
                              .opinion = "办理超期，已提级督办"};
        r.escalated = 1;
        snprintf(r.escalated_dept, sizeof r.escalated_dept, "%s", up);
        r.reminded |= 2;
        rc = case_move(c, &r, &m);
        if (rc == STORE_OK && r.core.assignee)
            rc = inbox_notify(c, r.core.assignee, r.id, "overdue", "办件已超期",
                              "您承办的办件已超期，已提级督办。", 0);
        case_row_free(&r);
        if (rc == CASE_REFUSED) continue;
        if (rc != STORE_OK) return rc;
        sw->escalated++;
    }
    /* near-due: one reminder to whoever holds the case */
    n = 0;
    st = store_prepare(c,
                       "SELECT id, assignee, case_no FROM ecase WHERE step_due >= $1 AND step_due <= $2"
                       " AND state IN ('submitted','in_review') AND assignee <> 0 AND reminded = 0 LIMIT 64");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, sw->today);
    store_bind_int64(st, 2, sw->near_limit);
    long long who[64];
    char nos[64][40];
    while ((rc = store_step(st)) == STORE_ROW && n < 64) {
        ids[n] = store_column_int64(st, 0);
        who[n] = store_column_int64(st, 1);
        copy_col(nos[n], sizeof nos[n], st, 2);
        n++;
    }
    store_finalize(st);
    if (rc != STORE_DONE && rc != STORE_ROW) return rc;
    for (int i = 0; i < n; i++) {
        char title[96];
        snprintf(title, sizeof title, "办件 %s 即将到期", nos[i]);
        if ((rc = inbox_notify(c, who[i], ids[i], "near_due", title, "请在承诺时限内办结。", 0)) != STORE_OK)
            return rc;
        st = store_prepare(c, "UPDATE ecase SET reminded = 1 WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, ids[i]);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    }
    return STORE_OK;
}

int case_sweep(store *db)
{
    struct sweep sw = {.today = case_today()};
    if (calendar_add_working_days(case_engine.cal, sw.today, 1, &sw.near_limit) != 0)
        sw.near_limit = sw.today;
    int rc = store_tx(db, 1, sweep_tx, &sw);
    return rc == STORE_OK ? sw.escalated : rc;
}
