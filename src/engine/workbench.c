/*
 * workbench.c — the staff side of the case engine over HTTP: queues (to sign for, in
 * progress, near-due, overdue, done) with counts, and the workflow actions on a case
 * (sign, accept, not accept, supplement, pass, return, transfer, approve, refuse,
 * close), each checked against the item's workflow, the actor's roles and data scope.
 *
 * A staff member acts at a step when they hold the step's role (the session carries
 * the account's role codes, MAC-checked at log-in) and the case's department is in
 * their data scope (own department, or its subtree, or all).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/rbac.h"
#include "auth/session.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "engine/engine.h"
#include "engine/flow.h"
#include "engine/inbox.h"
#include "exchange/exchange.h"

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }

static int holds_role(const struct principal *p, const char *role)
{
    char tag[80];
    snprintf(tag, sizeof tag, "#%s", role);
    return auth_has(p, tag);
}

/* The caller works this case at its current step. */
static int works_step(const struct principal *p, const struct case_row *row)
{
    return auth_has(p, "case.handle") && holds_role(p, row->step_role) && auth_in_scope(p, 0, row->dept_path);
}

json_t *case_staff_actions(store_conn *c, const struct principal *p, const struct case_row *row)
{
    json_t *out = json_array();
    struct case_workflow wfb, *wf = &wfb;
    if (case_item_workflow(c, row->item_code, row->item_version, wf) != STORE_OK) return out;
    if ((row->core.state == CS_REFUSED || row->core.state == CS_RESULT_ISSUED) &&
        auth_has(p, "case.handle") && auth_in_scope(p, 0, row->dept_path)) {
        json_array_append_new(out, json_string("close"));
        return out;
    }
    if (!works_step(p, row)) return out;
    struct case_core next;
    const char *why;
    if (row->core.assignee == 0) {
        if (case_apply(wf, &row->core, CA_SIGN, p->account, &next, &why) == 0)
            json_array_append_new(out, json_string("sign"));
        return out;
    }
    if (row->core.assignee != p->account) return out;
    for (int a = 0; a < CA_NACTIONS; a++) {
        if (!case_action_staff(a)) continue;
        if (case_apply(wf, &row->core, a, a == CA_TRANSFER ? p->account + 1 : 0, &next, &why) == 0)
            json_array_append_new(out, json_string(case_action_name(a)));
    }
    return out;
}

/* ---------- acting on a case ---------- */

struct act {
    http_req *r;
    long long id;
    enum case_action action;
    const char *opinion;
    long long to;
    json_t *ask; /* supplement: the materials asked for */
    int due_days;
    int visible, forbidden, bad_to;
    int bad_material; /* supplement: the index of a material the item does not ask for, + 1 */
    const char *why;
    char state[24];
};

/* A transfer goes to a colleague who holds the step's role in the case's department. */
static int colleague(store_conn *c, long long to, const struct case_row *row)
{
    store_stmt *st = store_prepare(c, "SELECT a.kind, a.status, d.path FROM account a JOIN department d"
                                      " ON d.id = a.dept_id WHERE a.id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, to);
    int rc = store_step(st), ok = 0;
    if (rc == STORE_ROW)
        ok = !strcmp(store_column_text(st, 0), "staff") && !strcmp(store_column_text(st, 1), "active") &&
             !strcmp(store_column_text(st, 2), row->dept_path);
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc;
    if (!ok) return 0;
    char *perms = NULL, scope[16], tampered[128];
    if ((rc = rbac_load(c, to, "staff", &perms, scope, tampered)) != STORE_OK) return rc;
    char tag[80];
    snprintf(tag, sizeof tag, ",#%s,", row->step_role);
    ok = strstr(perms, tag) && strstr(perms, ",case.handle,");
    free(perms);
    return ok;
}

static int act_tx(store_conn *c, void *arg)
{
    struct act *a = arg;
    a->why = NULL;
    a->forbidden = a->bad_to = 0;
    const struct principal *p = auth_principal(a->r);
    struct case_row row;
    int rc = case_load(c, a->id, &row);
    a->visible = rc == STORE_ROW && row.core.state != CS_DRAFT && (case_staff_reads(p, &row));
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
    if (!a->visible) {
        case_row_free(&row);
        return STORE_OK;
    }
    if (a->action == CA_CLOSE ? !auth_in_scope(p, 0, row.dept_path) : !works_step(p, &row)) {
        a->forbidden = 1;
        case_row_free(&row);
        return STORE_OK;
    }
    /* staff act on what they signed for; closing a finished case is anyone's in scope */
    if (case_action_staff(a->action) && row.core.assignee != p->account && row.core.assignee != 0) {
        a->why = "another member of staff has signed for this case";
        case_row_free(&row);
        return CASE_REFUSED;
    }
    long long to = a->action == CA_SIGN ? p->account : a->to;
    if (a->action == CA_SUPPLEMENT && a->ask) {
        /* what is asked for must be among the item's materials */
        json_t *def;
        if ((rc = case_item(c, row.item_code, row.item_version, &def, NULL, NULL)) != STORE_OK) {
            case_row_free(&row);
            return rc;
        }
        size_t i, k;
        json_t *e, *m;
        a->bad_material = 0;
        json_array_foreach(a->ask, i, e)
        {
            int known = 0;
            json_array_foreach(json_object_get(def, "materials"), k, m)
            {
                if (!strcmp(json_string_value(json_object_get(m, "id")), json_string_value(e))) known = 1;
            }
            if (!known && !a->bad_material) a->bad_material = (int)i + 1;
        }
        if (a->bad_material) {
            case_row_free(&row);
            return STORE_OK;
        }
    }
    if (a->action == CA_TRANSFER) {
        rc = colleague(c, to, &row);
        if (rc < 0) {
            case_row_free(&row);
            return rc;
        }
        if (rc == 0) {
            a->bad_to = 1;
            case_row_free(&row);
            return STORE_OK;
        }
    }
    char *details = NULL;
    if (a->action == CA_SUPPLEMENT && a->ask) {
        json_t *d = json_pack("{s:O, s:i}", "materials", a->ask, "days", a->due_days ? a->due_days : 5);
        details = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
    } else if (a->action == CA_TRANSFER) {
        details = malloc(48);
        if (details) snprintf(details, 48, "{\"to\":%lld}", to);
    }
    struct case_move m = {.action = a->action,
                          .actor = {p->account, p->login, row.step_role},
                          .opinion = a->opinion,
                          .to = to,
                          .details = details,
                          .supplement_days = a->due_days,
                          .client = http_req_client(a->r),
                          .request_id = http_req_id(a->r)};
    rc = case_move(c, &row, &m);
    free(details);
    if (rc == CASE_REFUSED) a->why = m.why;
    if (rc == STORE_OK && a->action == CA_TRANSFER)
        rc = inbox_notify(c, to, row.id, "transfer", "有办件转交给您", row.case_no, 0);
    if (rc == STORE_OK && a->action == CA_APPROVE) {
        /* the result goes to the back-end, which issues it */
        json_t *def;
        rc = case_item(c, row.item_code, row.item_version, &def, NULL, NULL);
        if (rc == STORE_OK) {
            json_t *payload =
                json_pack("{s:s, s:i, s:s, s:O?}", "item", row.item_code, "version", row.item_version,
                          "case_no", row.case_no, "outputs", json_object_get(def, "outputs"));
            char *ptext = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
            char idem[64];
            snprintf(idem, sizeof idem, "case:%lld:result", row.id);
            const char *backend = json_string_value(json_object_get(def, "backend"));
            long long mid;
            rc = ptext ? exchange_enqueue(c, idem, "case.result", backend ? backend : "sim", row.id, ptext,
                                          &mid)
                       : STORE_ERROR;
            free(ptext);
            json_decref(payload);
        }
    }
    snprintf(a->state, sizeof a->state, "%s", case_state_name(row.core.state));
    case_row_free(&row);
    return rc;
}

/* POST /api/v1/cases/{id}/actions {action, opinion?, to?, materials?, days?} */
int case_act(http_req *r)
{
    static const char *known[] = {"action", "opinion", "to", "materials", "days", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct act a = {.r = r};
    const char *action = input_str(&in, "action", 1, 1, 32);
    a.opinion = input_text(&in, "opinion", 0, 1, 1000);
    a.to = input_int(&in, "to", 0, 1, (long long)1 << 53, 0);
    a.ask = input_str_array(&in, "materials", 0, 64, 100);
    a.due_days = (int)input_int(&in, "days", 0, 1, 60, 5);
    int ac = action ? case_action_parse(action) : -1;
    if (action && (ac < 0 || (!case_action_staff(ac) && ac != CA_SIGN && ac != CA_CLOSE)))
        input_error(&in, "action",
                    "one of sign, accept, not_accept, supplement, pass, return, transfer, approve,"
                    " refuse, close");
    if (ac == CA_TRANSFER && !a.to) input_error(&in, "to", "required: the colleague to transfer to");
    if ((ac == CA_NOT_ACCEPT || ac == CA_REFUSE || ac == CA_SUPPLEMENT || ac == CA_RETURN) && !a.opinion)
        input_error(&in, "opinion", "required: say why (the applicant reads it)");
    if (ac == CA_SUPPLEMENT && (!a.ask || json_array_size(a.ask) == 0))
        input_error(&in, "materials", "required: what the applicant must supply");
    if (input_done(&in) != 0) return 0;
    a.action = (enum case_action)ac;
    const char *ids = http_req_param(r, "id");
    if (!ids || parse_int64(ids, &a.id) != 0) a.id = 0;
    int rc = store_tx(db_of(r), 1, act_tx, &a);
    if (rc == CASE_REFUSED)
        return http_reply_error(r, 409, "conflict", a.why ? a.why : "not allowed now", NULL);
    if (rc != STORE_OK) return case_reply_unavailable(r);
    if (!a.visible) return http_reply_error(r, 404, "not_found", "no such case", NULL);
    if (a.forbidden)
        return http_reply_error(r, 403, "forbidden", "this step of the case is not yours to act on", NULL);
    if (a.bad_material) {
        char f[32];
        snprintf(f, sizeof f, "materials[%d]", a.bad_material - 1);
        return http_reply_error(r, 422, "validation_failed", "the item asks for no such material",
                                json_pack("[o]", http_field_error(f, "not one of the item's materials")));
    }
    if (a.bad_to)
        return http_reply_error(
            r, 422, "validation_failed", "not a colleague at this step",
            json_pack("[o]", http_field_error("to", "no staff member with the step's role in"
                                                    " the case's department")));
    if (a.action == CA_APPROVE) exchange_kick();
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)a.id, "state", a.state));
}

/* ---------- queues ---------- */

/* The "done" count counts up to this many (the page reaches further back with `before`),
 * and a filtered page looks at this many of the clerk's latest done cases. */
#define DONE_WINDOW_SQL "1000"

enum queue { Q_TO_SIGN, Q_IN_PROGRESS, Q_NEAR_DUE, Q_OVERDUE, Q_DONE, Q_N };
static const char *const QUEUES[Q_N] = {"to_sign", "in_progress", "near_due", "overdue", "done"};

struct qctx {
    const struct principal *p;
    char roles[16][65];
    int nroles;
    int today, near;
    long long before; /* the page starts below this case id (0: the first page) */
    long long size;   /* the page's size; 0 for a count */
    int filtered;     /* the page has a filter besides the queue's own */
};

/* A statement built with its parameters, so that each query names only the binds it
 * uses (PostgreSQL must be able to type every one). */
struct qb {
    char sql[4096];
    int n;
    int is_int[48];
    long long iv[48];
    const char *sv[48];
};

static void qb_add(struct qb *b, const char *text)
{
    size_t l = strlen(b->sql);
    snprintf(b->sql + l, sizeof b->sql - l, "%s", text);
}

static void qb_int(struct qb *b, long long v)
{
    if (b->n == 48) return;
    b->is_int[b->n] = 1;
    b->iv[b->n++] = v;
    char t[8];
    snprintf(t, sizeof t, "$%d", b->n);
    qb_add(b, t);
}

static void qb_text(struct qb *b, const char *v)
{
    if (b->n == 48) return;
    b->is_int[b->n] = 0;
    b->sv[b->n++] = v;
    char t[8];
    snprintf(t, sizeof t, "$%d", b->n);
    qb_add(b, t);
}

static store_stmt *qb_prepare(store_conn *c, const struct qb *b)
{
    store_stmt *st = store_prepare(c, b->sql);
    for (int i = 0; st && i < b->n; i++) {
        if (b->is_int[i])
            store_bind_int64(st, i + 1, b->iv[i]);
        else
            store_bind_text(st, i + 1, b->sv[i]);
    }
    return st;
}

/* The overdue cases escalated to the clerk's department (ecase_escalated, partial: the
 * `<> ''` matches its predicate; the unary + keeps SQLite from preferring a deadline index
 * that would read every live overdue case of the whole system). */
static void escalated_where(const struct qctx *q, struct qb *b)
{
    qb_add(b, "escalated_dept = (SELECT code FROM department WHERE id = ");
    qb_int(b, q->p->dept);
    qb_add(b, ") AND escalated_dept <> '' AND state IN ('submitted','in_review') AND +step_due < ");
    qb_int(b, q->today);
}

/* The WHERE clause of a queue. */
static void queue_where(const struct qctx *q, enum queue which, struct qb *b, char like[300])
{
    const struct principal *p = q->p;
    switch (which) {
    case Q_TO_SIGN:
        qb_add(b, "assignee = 0 AND state IN ('submitted','in_review')");
        if (!strcmp(p->scope, "subtree")) {
            snprintf(like, 300, "%s%%", p->dept_path);
            qb_add(b, " AND dept_path LIKE ");
            qb_text(b, like);
        } else if (strcmp(p->scope, "all") != 0) {
            qb_add(b, " AND dept_path = ");
            qb_text(b, p->dept_path);
        }
        qb_add(b, " AND step_role IN (");
        if (!q->nroles) qb_add(b, "NULL");
        for (int i = 0; i < q->nroles; i++) {
            if (i) qb_add(b, ",");
            qb_text(b, q->roles[i]);
        }
        qb_add(b, ")");
        break;
    case Q_IN_PROGRESS:
        qb_add(b, "assignee = ");
        qb_int(b, p->account);
        qb_add(b, " AND state IN ('submitted','in_review','supplement')");
        break;
    case Q_NEAR_DUE:
        qb_add(b, "assignee = ");
        qb_int(b, p->account);
        qb_add(b, " AND state IN ('submitted','in_review','supplement') AND step_due >= ");
        qb_int(b, q->today);
        qb_add(b, " AND step_due <= ");
        qb_int(b, q->near);
        break;
    case Q_OVERDUE:
        /* two branches, each with its own index: the clerk's cases in hand (ecase_in_hand
         * covers assignee and step_due), and those escalated to their department */
        qb_add(b, "((assignee = ");
        qb_int(b, p->account);
        qb_add(b, " AND state IN ('submitted','in_review','supplement') AND step_due < ");
        qb_int(b, q->today);
        qb_add(b, ") OR (");
        escalated_where(q, b);
        qb_add(b, "))");
        break;
    default:
        /* the clerk's done cases come from their own range of case_done (newest first), so
         * a page reads no more than it shows: an unfiltered page takes exactly its rows, a
         * filtered one looks at the latest DONE_WINDOW before `before` */
        qb_add(b, "id IN (SELECT case_id FROM case_done WHERE actor = ");
        qb_int(b, p->account);
        if (q->before) {
            qb_add(b, " AND case_id < ");
            qb_int(b, q->before);
        }
        qb_add(b, " ORDER BY actor DESC, case_id DESC LIMIT ");
        if (q->filtered)
            qb_add(b, DONE_WINDOW_SQL);
        else
            qb_int(b, q->size);
        qb_add(b, ")");
        break;
    }
}

static void qctx_init(const struct principal *p, struct qctx *q)
{
    memset(q, 0, sizeof *q);
    q->p = p;
    for (const char *s = strstr(p->perms, ",#"); s && q->nroles < 16; s = strstr(s + 1, ",#")) {
        size_t l = strcspn(s + 2, ",");
        if (l < sizeof q->roles[0])
            snprintf(q->roles[q->nroles++], sizeof q->roles[0], "%.*s", (int)l, s + 2);
    }
    q->today = case_today();
    if (calendar_add_working_days(case_engine.cal, q->today, 1, &q->near) != 0) q->near = q->today;
}

/* GET /api/v1/workbench/counts — the five counts in one statement (one round trip on
 * PostgreSQL). The clerk's cases in hand are read once for three of them (in progress,
 * near due, overdue in hand: one range of ecase_in_hand); the cases escalated to the
 * clerk's department are added to overdue unless the clerk holds them (the queue's OR
 * counts such a case once); "done" counts the clerk's done cases up to DONE_WINDOW. */
int workbench_counts(http_req *r)
{
    const struct principal *p = auth_principal(r);
    struct qctx q;
    qctx_init(p, &q);
    struct qb b = {.sql = "SELECT t.n, h.n, COALESCE(h.near, 0), COALESCE(h.late, 0) + x.n, d.n FROM"
                          " (SELECT COUNT(*) AS n FROM ecase WHERE "};
    char like[300];
    queue_where(&q, Q_TO_SIGN, &b, like);
    qb_add(&b, ") t, (SELECT COUNT(*) AS n, SUM(CASE WHEN step_due >= ");
    qb_int(&b, q.today);
    qb_add(&b, " AND step_due <= ");
    qb_int(&b, q.near);
    qb_add(&b, " THEN 1 ELSE 0 END) AS near, SUM(CASE WHEN step_due < ");
    qb_int(&b, q.today);
    qb_add(&b, " THEN 1 ELSE 0 END) AS late FROM ecase WHERE ");
    queue_where(&q, Q_IN_PROGRESS, &b, like);
    qb_add(&b, ") h, (SELECT COUNT(*) AS n FROM ecase WHERE ");
    escalated_where(&q, &b);
    qb_add(&b, " AND assignee <> ");
    qb_int(&b, p->account);
    qb_add(&b, ") x, (SELECT COUNT(*) AS n FROM (SELECT 1 FROM case_done WHERE actor = ");
    qb_int(&b, p->account);
    qb_add(&b, " LIMIT " DONE_WINDOW_SQL ") d0) d");
    store_conn *c = store_acquire(db_of(r));
    if (!c) return case_reply_unavailable(r);
    store_stmt *st = qb_prepare(c, &b);
    int ok = st && store_step(st) == STORE_ROW;
    json_t *o = json_object();
    for (int i = 0; ok && i < Q_N; i++)
        json_object_set_new(o, QUEUES[i], json_integer(store_column_int64(st, i)));
    store_finalize(st);
    store_release(c);
    if (!ok) {
        json_decref(o);
        return case_reply_unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "counts", o));
}

/* GET /api/v1/workbench/queue?name=&item=&before=&size= */
int workbench_queue(http_req *r)
{
    const struct principal *p = auth_principal(r);
    const char *name = http_req_query(r, "name"), *item = http_req_query(r, "item");
    const char *bq = http_req_query(r, "before"), *sz = http_req_query(r, "size");
    long long before = 0, size = 20;
    int which = -1;
    for (int i = 0; name && i < Q_N; i++)
        if (!strcmp(name, QUEUES[i])) which = i;
    json_t *errs = json_array();
    if (which < 0)
        json_array_append_new(
            errs, http_field_error("name", "one of to_sign, in_progress, near_due, overdue, done"));
    if (bq && (parse_int64(bq, &before) != 0 || before <= 0))
        json_array_append_new(errs, http_field_error("before", "a case id"));
    if (sz && (parse_int64(sz, &size) != 0 || size < 1 || size > 100))
        json_array_append_new(errs, http_field_error("size", "1 to 100"));
    if (item && (strlen(item) > 32 || strspn(item, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(item)))
        json_array_append_new(errs, http_field_error("item", "an item code"));
    if (json_array_size(errs))
        return http_reply_error(r, 422, "validation_failed", "some parameters are not valid", errs);
    json_decref(errs);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return case_reply_unavailable(r);
    struct qctx q;
    qctx_init(p, &q);
    q.before = before;
    q.size = size;
    q.filtered = item != NULL;
    /* the page's cases in one query, not one case_load each */
    struct qb b = {.sql = "SELECT " CASE_LIST_COLUMNS " FROM ecase WHERE "};
    char like[300];
    queue_where(&q, which, &b, like);
    if (before) {
        qb_add(&b, " AND id < ");
        qb_int(&b, before);
    }
    if (item) {
        qb_add(&b, " AND item_code = ");
        qb_text(&b, item);
    }
    qb_add(&b, " ORDER BY id DESC LIMIT ");
    qb_int(&b, size);
    store_stmt *st = qb_prepare(c, &b);
    if (!st) {
        store_release(c);
        return case_reply_unavailable(r);
    }
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
    json_t *o = json_pack("{s:s, s:o}", "queue", QUEUES[which], "cases", list);
    json_object_set_new(o, "next_before", got == size && n > 0 ? json_integer(last) : json_null());
    return http_reply_json(r, 200, o);
}

/* ---------- colleagues for a transfer ---------- */

struct mates {
    http_req *r;
    long long id;
    int visible, forbidden;
    json_t *list;
};

static int mates_tx(store_conn *c, void *arg)
{
    struct mates *m = arg;
    const struct principal *p = auth_principal(m->r);
    struct case_row row;
    int rc = case_load(c, m->id, &row);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
    m->visible = row.core.state != CS_DRAFT && case_staff_reads(p, &row);
    if (m->visible && !works_step(p, &row)) m->forbidden = 1;
    if (!m->visible || m->forbidden) {
        case_row_free(&row);
        return STORE_OK;
    }
    /* the candidates: active staff of the case's department holding the step's role;
     * colleague() then checks each one's rows (MACs) and case.handle, exactly as a
     * transfer will */
    store_stmt *st =
        store_prepare(c, "SELECT DISTINCT a.id FROM account a JOIN department d ON d.id = a.dept_id"
                         " JOIN account_role ar ON ar.account_id = a.id JOIN role r ON r.id = ar.role_id"
                         " WHERE a.kind = 'staff' AND a.status = 'active' AND d.path = $1"
                         " AND r.code = $2 AND a.id <> $3 ORDER BY a.id LIMIT 200");
    if (!st) {
        case_row_free(&row);
        return STORE_ERROR;
    }
    store_bind_text(st, 1, row.dept_path);
    store_bind_text(st, 2, row.step_role);
    store_bind_int64(st, 3, p->account);
    long long ids[200];
    int n = 0;
    while ((rc = store_step(st)) == STORE_ROW && n < 200) ids[n++] = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_DONE && rc != STORE_ROW) {
        case_row_free(&row);
        return rc;
    }
    rc = STORE_OK;
    for (int i = 0; i < n && rc == STORE_OK; i++) {
        int ok = colleague(c, ids[i], &row);
        if (ok < 0) {
            rc = ok;
            break;
        }
        if (!ok) continue;
        st = store_prepare(c, "SELECT a.login, a.name_enc, a.badge, d.name FROM account a"
                              " JOIN department d ON d.id = a.dept_id WHERE a.id = $1");
        if (!st) {
            rc = STORE_ERROR;
            break;
        }
        store_bind_int64(st, 1, ids[i]);
        if (store_step(st) == STORE_ROW) {
            json_t *o = json_pack("{s:I, s:s, s:s?, s:s?}", "id", (json_int_t)ids[i], "login",
                                  store_column_text(st, 0), "badge", store_column_text(st, 2), "department",
                                  store_column_text(st, 3));
            const char *sealed = store_column_text(st, 1);
            char *plain = sealed ? keys_open(sealed) : NULL;
            if (plain) {
                char masked[256];
                auth_mask_name(plain, masked, sizeof masked);
                json_object_set_new(o, "name", json_string(masked));
                crypto_wipe(plain, strlen(plain));
                free(plain);
            }
            json_array_append_new(m->list, o);
        }
        store_finalize(st);
    }
    case_row_free(&row);
    return rc;
}

/* GET /api/v1/workbench/cases/{id}/colleagues — the colleagues a transfer of this case
 * may go to now: staff of the case's department holding the current step's role and
 * case.handle, active, not the caller.  For those who work the case's step. */
int workbench_colleagues(http_req *r)
{
    struct mates m = {.r = r};
    const char *ids = http_req_param(r, "id");
    if (!ids || parse_int64(ids, &m.id) != 0 || m.id <= 0)
        return http_reply_error(r, 404, "not_found", "no such case", NULL);
    m.list = json_array();
    int rc = store_tx(db_of(r), 0, mates_tx, &m);
    if (rc != STORE_OK) {
        json_decref(m.list);
        return case_reply_unavailable(r);
    }
    if (!m.visible) {
        json_decref(m.list);
        return http_reply_error(r, 404, "not_found", "no such case", NULL);
    }
    if (m.forbidden) {
        json_decref(m.list);
        return http_reply_error(r, 403, "forbidden", "this step of the case is not yours to act on", NULL);
    }
    return http_reply_json(r, 200, json_pack("{s:I, s:o}", "case", (json_int_t)m.id, "colleagues", m.list));
}
