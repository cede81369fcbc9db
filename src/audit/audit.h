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

#include <stddef.h>

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
    long long records;     /* records checked */
    long long broken_seq;  /* first broken record, 0 when intact */
    long long checkpoints; /* signed checkpoints verified (audit_verify_signed) */
    int checkpoint_broken; /* 1 when a checkpoint, not the chain itself, failed */
    char reason[200];
    char head[65]; /* hash of the newest record */
};
/* 0 when the chain is intact, 1 when broken (report says where), STORE_* < 0 on error. */
int audit_verify(store *s, struct audit_report *rep);

/* Signed checkpoints (checkpoint.c).  Someone with write access to the database could
 * rewrite the whole chain from some record on, hashes and head included; a checkpoint
 * — the chain's newest sequence number and hash, signed with the audit SM2 key that
 * only ehall holds (keys_audit_private_pem) — makes that detectable.  The signed text
 * is exactly
 *
 *     "ehall-audit-checkpoint v1\n<seq>\n<hash>\n<at>"
 *
 * (seq in decimal, hash 64 lower-case hex digits, at the RFC 3339 time the checkpoint
 * was made; no trailing newline), signed with SM2/SM3 under the default signer ID
 * 1234567812345678; the DER signature is stored as lower-case hex in
 * audit_checkpoint.signature, with key_id the signing key's id.
 *
 * audit_checkpoint signs the current head, reading it and inserting the checkpoint in
 * one transaction; it returns 0 when it signed one (*seq its record), 1 when there was
 * nothing new to sign (an empty log, or the head already has one; *seq the head), or
 * a STORE_* code < 0.  audit_checkpoint_due returns 1 when at least `every` records
 * were appended since the last checkpoint, 0 when not, < 0 on error.
 * audit_verify_signed is audit_verify plus every checkpoint: its signature must verify
 * under pub_pem (signed by the key whose id it names) and its hash must be the chain's
 * hash at its record; otherwise the report is broken at the checkpoint's record. */
int audit_checkpoint(store *s, const char *priv_pem, const char *key_id, long long *seq);
int audit_checkpoint_due(store *s, long long every);
int audit_verify_signed(store *s, const char *pub_pem, struct audit_report *rep);
/* The signed text of a checkpoint into buf; its length, or -1 when it does not fit. */
int audit_checkpoint_text(long long seq, const char *hash, const char *at, char *buf, size_t len);

#endif
