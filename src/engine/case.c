/*
 * case.c — the case state machine: names, the workflow of an item, what each action
 * does (case_apply) and rebuilding a case from its supervision log (case_replay).
 * Nothing here writes; case_flow.c does the transactions.
 */
#include <string.h>

#include "core/core.h"
#include "engine/case.h"

static const char *const STATES[CS_NSTATES] = {"draft",      "submitted", "not_accepted", "in_review",
                                               "supplement", "approved",  "refused",      "result_issued",
                                               "closed",     "withdrawn"};

static const char *const ACTIONS[CA_NACTIONS] = {
    "submit",     "withdraw",   "supplemented", "evaluate",         "sign",     "accept",
    "not_accept", "supplement", "pass",         "return",           "transfer", "approve",
    "refuse",     "close",      "precheck",     "precheck_refused", "result",   "escalate"};

const char *case_state_name(enum case_state s) { return (unsigned)s < CS_NSTATES ? STATES[s] : "?"; }

int case_state_parse(const char *name)
{
    for (int i = 0; name && i < CS_NSTATES; i++)
        if (!strcmp(name, STATES[i])) return i;
    return -1;
}

int case_state_final(enum case_state s)
{
    return s == CS_CLOSED || s == CS_NOT_ACCEPTED || s == CS_WITHDRAWN;
}

int case_state_done(enum case_state s)
{
    return case_state_final(s) || s == CS_APPROVED || s == CS_REFUSED || s == CS_RESULT_ISSUED;
}

const char *case_action_name(enum case_action a) { return (unsigned)a < CA_NACTIONS ? ACTIONS[a] : "?"; }

int case_action_parse(const char *name)
{
    for (int i = 0; name && i < CA_NACTIONS; i++)
        if (!strcmp(name, ACTIONS[i])) return i;
    return -1;
}

int case_action_staff(enum case_action a)
{
    return a == CA_ACCEPT || a == CA_NOT_ACCEPT || a == CA_SUPPLEMENT || a == CA_PASS || a == CA_RETURN ||
           a == CA_TRANSFER || a == CA_APPROVE || a == CA_REFUSE;
}

/* The states in which staff work a case at its step. */
static int active(enum case_state s) { return s == CS_SUBMITTED || s == CS_IN_REVIEW; }

int case_apply(const struct case_workflow *wf, const struct case_core *in, enum case_action a, long long to,
               struct case_core *out, const char **why)
{
    *out = *in;
    const struct case_step *st = in->step >= 0 && in->step < wf->n ? &wf->steps[in->step] : NULL;
    if (!st) {
        *why = "the case is at a step its workflow does not have";
        return -1;
    }
    if (case_action_staff(a) && !(st->actions & (1u << a))) {
        *why = "this step of the workflow does not allow that action";
        return -1;
    }
    /* staff act on a case they have signed for */
    if (case_action_staff(a) && in->assignee == 0) {
        *why = "sign for the case first";
        return -1;
    }
    switch (a) {
    case CA_SUBMIT:
        if (in->state != CS_DRAFT) goto bad_state;
        out->state = CS_SUBMITTED;
        out->step = 0;
        out->assignee = 0;
        out->precheck = 0;
        return 0;
    case CA_WITHDRAW:
        if (in->state == CS_SUBMITTED || (in->state == CS_SUPPLEMENT && in->prev_state == CS_SUBMITTED)) {
            out->state = CS_WITHDRAWN;
            return 0;
        }
        *why = "a case can be withdrawn only before it is accepted";
        return -1;
    case CA_SUPPLEMENTED:
        if (in->state != CS_SUPPLEMENT) goto bad_state;
        out->state = in->prev_state;
        return 0;
    case CA_EVALUATE:
        if (in->state != CS_CLOSED) {
            *why = "a case can be evaluated once it is closed";
            return -1;
        }
        return 0;
    case CA_SIGN:
        if (!active(in->state)) goto bad_state;
        if (in->assignee != 0 && in->assignee != to) {
            *why = "someone else has signed for this case";
            return -1;
        }
        out->assignee = to;
        return 0;
    case CA_ACCEPT:
    case CA_NOT_ACCEPT:
        /* a case returned to the first step is accepted already: accepting passes it on */
        if (a == CA_ACCEPT && in->state == CS_IN_REVIEW && in->step == 0 && wf->n > 1) {
            out->step = 1;
            out->assignee = 0;
            return 0;
        }
        if (in->state != CS_SUBMITTED || in->step != 0) goto bad_state;
        if (a == CA_NOT_ACCEPT) {
            out->state = CS_NOT_ACCEPTED;
            return 0;
        }
        if (!in->precheck) {
            *why = "the back-end has not finished its pre-check";
            return -1;
        }
        out->state = CS_IN_REVIEW;
        if (wf->n > 1) {
            out->step = 1;
            out->assignee = 0;
        }
        return 0;
    case CA_SUPPLEMENT:
        if (!active(in->state)) goto bad_state;
        out->prev_state = in->state;
        out->state = CS_SUPPLEMENT;
        return 0;
    case CA_PASS:
        if (in->state != CS_IN_REVIEW || in->step + 1 >= wf->n) goto bad_state;
        out->step = in->step + 1;
        out->assignee = 0;
        return 0;
    case CA_RETURN:
        if (in->state != CS_IN_REVIEW || in->step == 0) goto bad_state;
        out->step = in->step - 1;
        out->assignee = 0;
        /* back at the acceptance step the case was accepted already */
        return 0;
    case CA_TRANSFER:
        if (!active(in->state)) goto bad_state;
        if (to <= 0 || to == in->assignee) {
            *why = "transfer to a colleague";
            return -1;
        }
        out->assignee = to;
        return 0;
    case CA_APPROVE:
    case CA_REFUSE:
        if (in->state != CS_IN_REVIEW || in->step != wf->n - 1) goto bad_state;
        out->state = a == CA_APPROVE ? CS_APPROVED : CS_REFUSED;
        return 0;
    case CA_CLOSE:
        if (in->state != CS_REFUSED && in->state != CS_RESULT_ISSUED) goto bad_state;
        out->state = CS_CLOSED;
        return 0;
    case CA_PRECHECK:
        if (in->state == CS_DRAFT || in->precheck) goto bad_state;
        out->precheck = 1;
        return 0;
    case CA_PRECHECK_NO:
        if (in->state != CS_SUBMITTED && in->state != CS_SUPPLEMENT) goto bad_state;
        out->state = CS_NOT_ACCEPTED;
        return 0;
    case CA_RESULT:
        if (in->state != CS_APPROVED) goto bad_state;
        out->state = CS_RESULT_ISSUED;
        return 0;
    case CA_ESCALATE:
        if (case_state_final(in->state) || in->state == CS_DRAFT) goto bad_state;
        return 0;
    default: break;
    }
    *why = "unknown action";
    return -1;
bad_state:
    *why = "the case's state does not allow that action";
    return -1;
}

int case_replay(store_conn *c, long long case_id, const struct case_workflow *wf, struct case_core *out,
                const char **why)
{
    store_stmt *st = store_prepare(c, "SELECT action, assignee, to_state, to_step FROM case_log"
                                      " WHERE case_id = $1 ORDER BY seq");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, case_id);
    struct case_core cur = {.state = CS_DRAFT, .prev_state = CS_DRAFT};
    int rc, n = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        n++;
        int a = case_action_parse(store_column_text(st, 0));
        long long to = store_column_int64(st, 1);
        struct case_core next;
        if (a < 0) {
            *why = "the log names an unknown action";
            rc = -2;
            break;
        }
        if (case_apply(wf, &cur, a, to, &next, why) != 0) {
            rc = -2;
            break;
        }
        if (strcmp(store_column_text(st, 2), case_state_name(next.state)) != 0 ||
            store_column_int64(st, 3) != next.step) {
            *why = "a log entry's resulting state differs from what its action gives";
            rc = -2;
            break;
        }
        cur = next;
    }
    store_finalize(st);
    if (rc == -2) return -2;
    if (rc != STORE_DONE) return rc;
    if (n == 0) return STORE_DONE;
    *out = cur;
    return 0;
}
