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
 * audit record commit together or not at all.  On PostgreSQL the record is linked
 * into the chain just after that COMMIT (see audit.c).
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

/* Append within the caller's (write) transaction.  Returns a STORE_* code.  On
 * PostgreSQL the record is written pending and linked into the chain once the
 * transaction has committed, before store_tx returns (audit.c explains why). */
int audit_append(store_conn *c, const struct audit_event *e);
/* PostgreSQL: link every committed pending record into the chain (the housekeeper, and
 * after each audited COMMIT).  Returns how many, or a STORE_* code < 0; 0 on SQLite. */
long long audit_link_pending(store *s);
void audit_link_after_commit(store *s);
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

/* ---- search, export and retention (search.c) ----
 *
 * Times.  `at` is stored as RFC 3339 text with the writer's offset
 * (2026-11-23T21:32:08.123+08:00).  Text order is NOT time order in general: the
 * `timezone` setting may change, nodes may be configured differently, and zones with
 * daylight saving repeat an hour.  So time filters compare instants: both engines
 * convert `at` to UTC (SQLite strftime(), PostgreSQL ::timestamptz) and compare with
 * the bound converted to UTC in C.  A widened text range on `at` (±24 h) rides along
 * so the engines can still use the `at` index; it never excludes a match.
 *
 * Filters.  Every field may be NULL (no condition).  actor, action, object and client
 * match exactly, or as a prefix when they end in '*' ("auth.*", "system:*"); a '*'
 * anywhere else, and '%', '_' and '\', are ordinary characters.  Matching is
 * case-sensitive on both engines.  result and request_id match exactly.  Only bind
 * parameters carry filter values into SQL.
 *
 * Retention.  The one code path that removes records is audit_purge_run() below
 * (`ehall audit purge`): it archives the oldest records, then deletes them and moves
 * the chain's anchor, which audit_verify() starts from.
 */
#include <jansson.h>
#include <stdio.h>

struct audit_filter {
    const char *from, *to; /* RFC 3339 or YYYY-MM-DD (midnight in the configured zone);
                              inclusive from, exclusive to */
    const char *actor, *action, *object, *result, *client, *request_id;
    long long after_seq; /* keyset pagination: only records with seq > after_seq */
    int limit;           /* 1..1000; 0 = the default (search: 100, export: every match) */
};

#define AUDIT_FIELD_MAX     128
#define AUDIT_LIMIT_MAX     1000
#define AUDIT_LIMIT_DEFAULT 100
/* audit_search/audit_export: the filter failed audit_filter_check (a STORE_* style code) */
#define AUDIT_BAD_FILTER (-10)

/* 0 when every field is acceptable; otherwise -1 with *field naming the first bad one
 * ("from", "limit", …) and *why saying what is wrong (static strings).  Checks: dates
 * parse, from < to, limit and after_seq in range, text fields at most 128 bytes of
 * valid UTF-8 without control characters, and not empty. */
int audit_filter_check(const struct audit_filter *f, const char **field, const char **why);

/* One stored record; the strings are valid only during the callback. */
struct audit_row {
    long long seq;
    const char *at, *actor, *role, *client, *request_id, *action, *object, *result, *details;
    const char *prev_hash, *hash;
};

/* Stream the matching records, oldest (lowest seq) first, at most limit of them, to
 * row().  row() returns 0 to go on, anything else to stop; it must not write to the
 * store.  Returns STORE_OK, row()'s non-zero value when it stopped, AUDIT_BAD_FILTER,
 * or a STORE_* error.  The next page is after_seq = the last row's seq. */
int audit_search(store *s, const struct audit_filter *f, int (*row)(void *arg, const struct audit_row *r),
                 void *arg);

/* Write every matching record (limit 0) or the first `limit` of them to out as
 * "csv" or "jsonl", from one consistent snapshot.  *rows gets the count and sm3hex
 * the SM3 digest of the bytes written (the whole file when out started empty), so
 * `openssl dgst -sm3 FILE` shows the same value.  The caller flushes and closes out.
 *   jsonl: one object per line with every column; details stays the exact text that
 *          was hashed (a JSON string), so each line can be re-hashed — the archive
 *          format of `ehall audit purge`.
 *   csv:   UTF-8 with a BOM, a header line, CRLF line ends (RFC 4180); text cells are
 *          always quoted with '"' doubled, NULL is an empty unquoted cell, and a cell
 *          that begins with = + - @ TAB or CR gets a leading apostrophe so spreadsheets
 *          do not run it as a formula (the CSV is for reading; verify with jsonl).
 * Returns STORE_OK, AUDIT_BAD_FILTER (also for an unknown format), STORE_ERROR (also
 * for write errors; errno is kept) or another STORE_* code. */
int audit_export(store *s, const struct audit_filter *f, FILE *out, const char *format, long long *rows,
                 char sm3hex[65]);

/* The record for the HTTP layer: every column, NULL as null, seq a number, and
 * details parsed back into JSON when it is valid JSON (else the text as a string).
 * New reference; NULL when out of memory. */
json_t *audit_row_json(const struct audit_row *r);

/* SM3 of one record as the chain defines it (audit.c), from its fields and prev_hash. */
int audit_row_hash(const struct audit_row *r, char out[65]);

/* Where the chain starts: (0, 64 zeros) until a purge, then the last purged record's
 * seq and hash.  Databases from before migration 5 have no anchor: (0, zeros). */
int audit_anchor(store *s, long long *seq, char hash[65]);

/* Write "<hex>  <basename>\n" to PATH.sm3 (through a temporary file, fsynced). */
int audit_write_digest_file(const char *path, const char hex[65]);

/* ---- archives: `ehall audit purge` and `ehall audit verify-archive` ---- */
struct audit_archive_info {
    long long records, first_seq, last_seq;
    long long newest_ms; /* the latest `at` in the file, ms since the epoch */
    char first_prev[65]; /* the hash the archive continues from */
    char last_hash[65];  /* the new chain anchor after the purge */
    char sm3[65];
    long long bad_line; /* 1-based line of the first problem, 0 when none */
    char why[200];
};
/* Check PATH against PATH.sm3 and every line's hash and link: 0 intact, 1 broken
 * (why, bad_line), -1 unreadable (why). */
int audit_archive_verify(const char *path, struct audit_archive_info *info);

#define AUDIT_RETENTION_MIN_DAYS 365

/* Remove the oldest records, once they are safely archived.  Only a prefix of the
 * chain can go: the records after the anchor up to (not including) the first one whose
 * time is at or after the cut-off, which is the retention horizon (now − retention_days)
 * or `before` when that is earlier.  In order: the chain must verify; the records are
 * written to `archive` (which must not exist) as jsonl and fsynced, then archive.sm3;
 * the file is read back with audit_archive_verify and must hold exactly those records,
 * all older than the cut-off; then one write transaction moves the anchor to the last
 * archived record, deletes the records (the migration-5 trigger allows DELETE only up
 * to audit_head.purge_upto, which this sets to the anchor) and appends an "audit.purge"
 * record in the name of `who` (actor, role, client, request_id are taken from it).
 * Returns 0 purged, 1 nothing to purge, 2 refused (why says why; nothing changed),
 * or a STORE_* error (why says what failed). */
struct audit_purge {
    int retention_days;            /* audit.retention_days; at least 180 */
    const char *before;            /* optional earlier cut-off (RFC 3339 or YYYY-MM-DD) */
    const char *archive;           /* file to create */
    const struct audit_event *who; /* who purges */
    /* results */
    long long from_seq, upto_seq, records;
    char cutoff[40]; /* UTC, RFC 3339 */
    char sm3[65], anchor_hash[65];
    char why[300];
};
int audit_purge_run(store *s, struct audit_purge *p);
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
