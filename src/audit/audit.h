/*
 * audit — the tamper-evident audit log.
 *
 * Every record carries the SM3 hash of the record before it, so changing, removing or
 * reordering any record breaks the chain from that point on; `ehall audit verify`
 * walks the chain and names the first broken record.  The newest sequence number and
 * hash are also kept in a one-row head table, so cutting records off the end is caught
 * too.  The engines refuse UPDATE and DELETE on audit records (triggers), and ehall
 * has no code path that changes one.
 *
 * audit_append() runs inside the caller's transaction, so a business action and its
 * audit record commit together or not at all.
 */
#ifndef EHALL_AUDIT_H
#define EHALL_AUDIT_H

#include "store/store.h"

struct audit_event {
    const char *actor;      /* account id, or "system:<os user>" for the CLI */
    const char *role;       /* the role the actor acted in, may be NULL */
    const char *client;     /* client address, may be NULL */
    const char *request_id; /* may be NULL */
    const char *action;     /* dotted verb: "backup.restore", "auth.login" … */
    const char *object;     /* what was acted on, may be NULL */
    const char *result;     /* "ok", "denied", "failed" … */
    const char *details;    /* JSON text, may be NULL */
};

/* Append within the caller's (write) transaction.  Returns a STORE_* code. */
int audit_append(store_conn *c, const struct audit_event *e);
/* Append in a transaction of its own. */
int audit_record(store *s, const struct audit_event *e);

struct audit_report {
    long long records;    /* records checked */
    long long broken_seq; /* first broken record, 0 when intact */
    char reason[160];
    char head[65]; /* hash of the newest record */
};
/* 0 when the chain is intact, 1 when broken (report says where), STORE_* < 0 on error. */
int audit_verify(store *s, struct audit_report *rep);

#endif
