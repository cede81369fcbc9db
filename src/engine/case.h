/*
 * case — the case engine (办件): an application for a service item, from draft to
 * closed, moved by the workflow its item declares.
 *
 * A case's life (states):
 *
 *   draft ──submit──▶ submitted ──accept──▶ in_review ──(pass / return)──▶ … ──approve──▶ approved
 *     │                 │   ╲                  │  ╲                            │  ╲
 *   (deleted)      withdraw  not_accept    supplement  refuse             result (back-end)   refuse
 *                       ▼        ▼             ▼          ▼                   ▼
 *                  withdrawn  not_accepted  supplement  refused ─close─▶ closed ◀─close─ result_issued
 *                                            └─supplemented─▶ (back where it was)
 *
 * On submit the form and materials are frozen, a case number is issued, the SM3 of the
 * submission goes into the audit chain, and a "case.precheck" message goes through the
 * exchange to the item's back-end; its answer either refuses the case (not_accepted,
 * with the back-end's reason) or clears it for acceptance.  Approval sends
 * "case.result"; the back-end's answer issues the result (result_issued), and a case
 * without mailing closes at once.
 *
 * Every change of a case is one transaction that updates the case row and appends one
 * entry to its supervision log (case_log: who, when, step, action, opinion, the step's
 * time limit and the working days it used).  case_apply() is the one function that
 * says what an action does to a case's state; the live path and case_replay() both use
 * it, so replaying a case's log must give the stored state (`ehall cases verify`).
 */
#ifndef EHALL_CASE_H
#define EHALL_CASE_H

#include <jansson.h>

#include "store/store.h"

enum case_state {
    CS_DRAFT,
    CS_SUBMITTED,
    CS_NOT_ACCEPTED,
    CS_IN_REVIEW,
    CS_SUPPLEMENT,
    CS_APPROVED,
    CS_REFUSED,
    CS_RESULT_ISSUED,
    CS_CLOSED,
    CS_WITHDRAWN,
    CS_NSTATES
};

const char *case_state_name(enum case_state s);
/* -1 when the name is unknown. */
int case_state_parse(const char *name);
/* 1 for states no action leaves (closed, not_accepted, withdrawn). */
int case_state_final(enum case_state s);
/* Decided or finished (the final states, approved, refused, result_issued): the staff's
 * "done" queue.  No action leads from these to a state outside them. */
int case_state_done(enum case_state s);

/* Workflow actions.  The item's steps list which of the staff actions each allows;
 * the applicant's and the system's are the engine's own. */
enum case_action {
    CA_SUBMIT,       /* applicant */
    CA_WITHDRAW,     /* applicant, before acceptance */
    CA_SUPPLEMENTED, /* applicant answers a supplement request */
    CA_EVALUATE,     /* applicant, after closing: no change of state */
    CA_SIGN,         /* staff: take the case at its step (签收) */
    CA_ACCEPT,       /* staff, first step */
    CA_NOT_ACCEPT,   /* staff, first step */
    CA_SUPPLEMENT,   /* staff: ask for materials by a date */
    CA_PASS,         /* staff: to the next step */
    CA_RETURN,       /* staff: back to the previous step */
    CA_TRANSFER,     /* staff: hand to a colleague at the same step */
    CA_APPROVE,      /* staff, last step */
    CA_REFUSE,       /* staff, last step */
    CA_CLOSE,        /* staff or system: a refused or issued case ends */
    CA_PRECHECK,     /* system: the back-end's pre-check passed */
    CA_PRECHECK_NO,  /* system: the back-end refused at pre-check */
    CA_RESULT,       /* system: the back-end issued the result */
    CA_ESCALATE,     /* system: overdue, raised to the next level (no change of state) */
    CA_NACTIONS
};

const char *case_action_name(enum case_action a);
int case_action_parse(const char *name);
/* 1 for the actions an item's workflow step may list. */
int case_action_staff(enum case_action a);

#define CASE_MAX_STEPS 16

struct case_step {
    char id[33], name[65], role[65], dept[65];
    unsigned actions; /* bit (1u << enum case_action) for each action allowed */
    int time_limit;   /* working days */
};

struct case_workflow {
    int n;
    struct case_step steps[CASE_MAX_STEPS];
};

/* The part of a case that actions change. */
struct case_core {
    enum case_state state, prev_state; /* prev_state: where a supplement returns to */
    int step;                          /* index into the workflow */
    long long assignee;                /* staff account that signed for it, 0 when none */
    int precheck;                      /* 0 pending, 1 passed */
};

/* What an action does: on success 0 with *out the new core; otherwise -1 and *why
 * (a static string) says why the workflow does not allow it.  `to` is the new
 * assignee for CA_SIGN / CA_TRANSFER. */
int case_apply(const struct case_workflow *wf, const struct case_core *in, enum case_action a, long long to,
               struct case_core *out, const char **why);

/* Rebuild a case's core from its supervision log: 0 with *out, STORE_DONE when the
 * case does not exist, -2 when the log contradicts the workflow (*why), or a STORE_*
 * error. */
int case_replay(store_conn *c, long long case_id, const struct case_workflow *wf, struct case_core *out,
                const char **why);

#endif
