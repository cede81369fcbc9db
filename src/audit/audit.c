/*
 * audit.c — appending to and verifying the hash chain.  See audit.h.
 *
 * A record's hash is SM3 over "<seq>;", then its fields in a fixed order, each
 * written as "<length>:<bytes>;" (NULL as "-;"), then the previous record's hash, so
 * no two different records can encode to the same bytes.  The first record's previous
 * hash is 64 zeros.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

enum { F_AT, F_ACTOR, F_ROLE, F_CLIENT, F_REQUEST, F_ACTION, F_OBJECT, F_RESULT, F_DETAILS, NFIELDS };

static int chain_hash(long long seq, const char *const f[NFIELDS], const char *prev, char out[65])
{
    crypto_sm3_ctx *h = crypto_sm3_new();
    if (!h) return -1;
    char num[48];
    int n = snprintf(num, sizeof num, "%lld;", seq);
    int rc = crypto_sm3_update(h, num, (size_t)n);
    for (int i = 0; i < NFIELDS && rc == 0; i++) {
        if (!f[i]) {
            rc = crypto_sm3_update(h, "-;", 2);
            continue;
        }
        size_t len = strlen(f[i]);
        n = snprintf(num, sizeof num, "%zu:", len);
        rc = crypto_sm3_update(h, num, (size_t)n) | crypto_sm3_update(h, f[i], len) |
             crypto_sm3_update(h, ";", 1);
    }
    unsigned char d[SM3_DIGEST_LEN];
    if (rc == 0) rc = crypto_sm3_update(h, prev, strlen(prev)) | crypto_sm3_final(h, d);
    crypto_sm3_free(h);
    if (rc != 0) return -1;
    hex_encode(d, sizeof d, out);
    return 0;
}

/* ---- PostgreSQL: records written pending, linked right after COMMIT ----
 *
 * Appending under the head's row lock (below) holds that lock until COMMIT has
 * flushed the WAL, so on PostgreSQL every transaction that audits waited for the one
 * before it to reach the disk: one fsync after another, whatever the load.  There a
 * transaction instead inserts its records into audit_pending, which needs no lock,
 * and commits in parallel with the others (PostgreSQL groups their WAL flushes).  Once
 * it has committed, and before store_tx returns to the caller — so before the
 * request is answered — a linking run moves every pending record into the chain in
 * one transaction: one at a time across nodes (an advisory lock), the head under its
 * row lock as before, in id order.  Callers that commit meanwhile share the next run
 * (store_after_commit).  A run that fails, or a crash between the COMMIT and the run,
 * leaves records pending, durable with the action they record; the next run links
 * them: the next audited transaction, `ehall serve`'s housekeeper every 5 s, and
 * audit_verify() before it walks the chain. */

enum { CHAIN_BATCH = 256, CHAIN_ROUNDS = 64 };

static int append_pending(store_conn *c, const char *const f[NFIELDS])
{
    store_stmt *st = store_prepare(c, "INSERT INTO audit_pending(at, actor, role, client, request_id, action,"
                                      " object, result, details) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)");
    if (!st) return STORE_ERROR;
    for (int i = 0; i < NFIELDS; i++) store_bind_text(st, i + 1, f[i]);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc;
    store_after_commit(c, audit_link_after_commit);
    return STORE_OK;
}

struct pending {
    long long id;
    char *f[NFIELDS];
};

struct link_job {
    struct pending p[CHAIN_BATCH];
    int n;
};

static void link_job_clear(struct link_job *j)
{
    for (int i = 0; i < j->n; i++)
        for (int k = 0; k < NFIELDS; k++) free(j->p[i].f[k]);
    j->n = 0;
}

static int link_tx(store_conn *c, void *arg)
{
    struct link_job *j = arg;
    link_job_clear(j);
    int rc = store_exec(c, "SELECT pg_advisory_xact_lock(7270011)");
    if (rc != STORE_OK) return rc;
    /* after the lock: this statement's snapshot has every run before this one */
    store_stmt *st =
        store_prepare(c, "SELECT id, at, actor, role, client, request_id, action, object, result,"
                         " details FROM audit_pending ORDER BY id LIMIT 256"); /* CHAIN_BATCH */
    if (!st) return STORE_ERROR;
    int oom = 0;
    while (j->n < CHAIN_BATCH && (rc = store_step(st)) == STORE_ROW) {
        struct pending *p = &j->p[j->n++];
        p->id = store_column_int64(st, 0);
        for (int k = 0; k < NFIELDS; k++) {
            const char *v = store_column_text(st, k + 1);
            p->f[k] = v ? strdup(v) : NULL;
            oom |= v && !p->f[k];
        }
    }
    store_finalize(st);
    if (oom) return STORE_ERROR;
    if (rc != STORE_DONE && rc != STORE_ROW) return rc;
    if (j->n == 0) return STORE_OK; /* nothing written: the COMMIT needs no flush */

    st = store_prepare(c, "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE");
    if (!st) return STORE_ERROR;
    rc = store_step(st);
    long long seq = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    char prev[65] = "";
    if (rc == STORE_ROW) snprintf(prev, sizeof prev, "%s", store_column_text(st, 1) ?: "");
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;

    rc = STORE_OK;
    struct strbuf ids = {0}, seqs = {0}, prevs = {0}, hashes = {0};
    for (int i = 0; i < j->n; i++) {
        char hash[65];
        if (chain_hash(seq + 1 + i, (const char *const *)j->p[i].f, prev, hash) != 0) {
            rc = STORE_ERROR;
            break;
        }
        /* array literals of numbers and hex hashes: nothing to quote */
        const char *sep = i ? "," : "{";
        sb_printf(&ids, "%s%lld", sep, j->p[i].id);
        sb_printf(&seqs, "%s%lld", sep, seq + 1 + i);
        sb_printf(&prevs, "%s%s", sep, prev);
        sb_printf(&hashes, "%s%s", sep, hash);
        snprintf(prev, sizeof prev, "%s", hash);
    }
    if (rc == STORE_OK) {
        sb_printf(&ids, "}");
        sb_printf(&seqs, "}");
        sb_printf(&prevs, "}");
        sb_printf(&hashes, "}");
        rc = ids.oom || seqs.oom || prevs.oom || hashes.oom ? STORE_ERROR : STORE_OK;
    }
    /* one statement: the records in, the pending rows out, the head moved.  Its parts
     * share one snapshot, so the INSERT reads the rows the DELETE removes. */
    st = rc == STORE_OK
             ? store_prepare(c, "WITH v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[],"
                                " $4::text[]) AS v(id, seq, prev, hash)),"
                                " d AS (DELETE FROM audit_pending WHERE id IN (SELECT id FROM v)),"
                                " h AS (UPDATE audit_head SET seq = $5, hash = $6 WHERE id = 1)"
                                " INSERT INTO audit_log(seq, at, actor, role, client, request_id, action,"
                                " object, result, details, prev_hash, hash)"
                                " SELECT v.seq, p.at, p.actor, p.role, p.client, p.request_id, p.action,"
                                " p.object, p.result, p.details, v.prev, v.hash"
                                " FROM v JOIN audit_pending p ON p.id = v.id RETURNING seq")
             : NULL;
    if (st) {
        store_bind_text(st, 1, ids.data);
        store_bind_text(st, 2, seqs.data);
        store_bind_text(st, 3, prevs.data);
        store_bind_text(st, 4, hashes.data);
        store_bind_int64(st, 5, seq + j->n);
        store_bind_text(st, 6, prev);
        int rows = 0;
        while ((rc = store_step(st)) == STORE_ROW) rows++;
        store_finalize(st);
        /* every record read must have gone in: otherwise roll the whole run back */
        rc = rc == STORE_DONE && rows == j->n ? STORE_OK : rc == STORE_DONE ? STORE_ERROR : rc;
    } else if (rc == STORE_OK) {
        rc = STORE_ERROR;
    }
    sb_free(&ids);
    sb_free(&seqs);
    sb_free(&prevs);
    sb_free(&hashes);
    return rc;
}

long long audit_link_pending(store *s)
{
    if (store_engine_of(s) != STORE_POSTGRES) return 0;
    struct link_job *j = calloc(1, sizeof *j);
    if (!j) return STORE_ERROR;
    long long total = 0;
    for (int round = 0; round < CHAIN_ROUNDS; round++) {
        int rc = store_tx(s, 1, link_tx, j);
        int n = j->n;
        link_job_clear(j);
        if (rc != STORE_OK) {
            log_error("audit: could not link pending records (%d); the next run will", rc);
            free(j);
            return rc;
        }
        total += n;
        if (n < CHAIN_BATCH) break;
    }
    free(j);
    return total;
}

void audit_link_after_commit(store *s) { audit_link_pending(s); }

int audit_append(store_conn *c, const struct audit_event *e)
{
    char at[48], hash[65];
    time_rfc3339(now_wall(), at, sizeof at);
    const char *f[NFIELDS] = {at,        e->actor,  e->role,   e->client, e->request_id,
                              e->action, e->object, e->result, e->details};
    if (store_conn_engine(c) == STORE_POSTGRES) return append_pending(c, f);

    /* SQLite: the writer already holds the database lock; link the record now */
    store_stmt *st = store_prepare(c, "SELECT seq, hash FROM audit_head WHERE id = 1");
    if (!st) return STORE_ERROR;
    int rc = store_step(st);
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc == STORE_DONE ? STORE_ERROR : rc;
    }
    long long seq = store_column_int64(st, 0) + 1;
    char prev[65];
    snprintf(prev, sizeof prev, "%s", store_column_text(st, 1));
    store_finalize(st);
    if (chain_hash(seq, f, prev, hash) != 0) return STORE_ERROR;
    st = store_prepare(c,
                       "INSERT INTO audit_log(seq, at, actor, role, client, request_id, action, object,"
                       " result, details, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, seq);
    for (int i = 0; i < NFIELDS; i++) store_bind_text(st, i + 2, f[i]);
    store_bind_text(st, 11, prev);
    store_bind_text(st, 12, hash);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_CONSTRAINT ? STORE_BUSY : rc;
    st = store_prepare(c, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, seq);
    store_bind_text(st, 2, hash);
    rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static int append_tx(store_conn *c, void *arg) { return audit_append(c, arg); }

int audit_record(store *s, const struct audit_event *e)
{
    int rc = store_tx(s, 1, append_tx, (void *)e);
    if (rc != STORE_OK) log_error("audit: could not record %s (%d)", e->action, rc);
    return rc;
}

struct verify_state {
    struct audit_report *rep;
    long long after;
    char prev[65];
    int done;
};

static int broken(struct verify_state *v, long long seq, const char *why)
{
    v->rep->broken_seq = seq;
    snprintf(v->rep->reason, sizeof v->rep->reason, "%s", why);
    v->done = 1;
    return STORE_OK;
}

/* One page of the chain per transaction keeps memory flat on long logs. */
static int verify_page(store_conn *c, void *arg)
{
    struct verify_state *v = arg;
    store_stmt *st =
        store_prepare(c, "SELECT seq, at, actor, role, client, request_id, action, object, result,"
                         " details, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, v->after);
    int rc, rows = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        rows++;
        long long seq = store_column_int64(st, 0);
        const char *f[NFIELDS];
        for (int i = 0; i < NFIELDS; i++) f[i] = store_column_text(st, i + 1);
        const char *prev = store_column_text(st, 10), *hash = store_column_text(st, 11);
        char want[65];
        if (seq != v->after + 1) {
            store_finalize(st);
            return broken(v, v->after + 1, "record missing: the sequence jumps here");
        }
        if (!prev || strcmp(prev, v->prev) != 0) {
            store_finalize(st);
            return broken(v, seq, "its previous-hash does not match the record before it");
        }
        if (chain_hash(seq, f, v->prev, want) != 0) {
            store_finalize(st);
            return STORE_ERROR;
        }
        if (!hash || strcmp(hash, want) != 0) {
            store_finalize(st);
            return broken(v, seq, "its contents do not match its hash (altered)");
        }
        snprintf(v->prev, sizeof v->prev, "%s", hash);
        v->after = seq;
        v->rep->records++;
    }
    store_finalize(st);
    if (rc != STORE_DONE) return rc;
    if (rows == 0) v->done = 1;
    return STORE_OK;
}

static int verify_head(store_conn *c, void *arg)
{
    struct verify_state *v = arg;
    store_stmt *st = store_prepare(c, "SELECT seq, hash FROM audit_head WHERE id = 1");
    if (!st) return STORE_ERROR;
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        long long seq = store_column_int64(st, 0);
        const char *hash = store_column_text(st, 1);
        if (seq != v->after || !hash || strcmp(hash, v->prev) != 0) {
            v->rep->broken_seq = v->after + 1;
            snprintf(v->rep->reason, sizeof v->rep->reason,
                     "the head says record %lld is the newest, but the chain ends at %lld (records cut off)",
                     seq, v->after);
        }
        rc = STORE_OK;
    } else if (rc == STORE_DONE) {
        rc = STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

int audit_verify(store *s, struct audit_report *rep)
{
    memset(rep, 0, sizeof *rep);
    long long linked = audit_link_pending(s); /* PostgreSQL: what has committed, first */
    if (linked < 0) return (int)linked;
    struct verify_state v = {rep, 0, ZERO_HASH, 0};
    /* retention (migration 5, search.c): after a purge the chain continues from the
     * anchor, so the first remaining record must be anchor_seq + 1 and link to anchor_hash */
    int arc = audit_anchor(s, &v.after, v.prev);
    if (arc != STORE_OK) return arc;
    while (!v.done) {
        int rc = store_tx(s, 0, verify_page, &v);
        if (rc != STORE_OK) return rc;
    }
    if (!rep->broken_seq) {
        int rc = store_tx(s, 0, verify_head, &v);
        if (rc != STORE_OK) return rc;
    }
    snprintf(rep->head, sizeof rep->head, "%s", v.prev);
    return rep->broken_seq ? 1 : 0;
}

/* For search.c (archives) and tests: the hash of a record from its stored fields. */
int audit_row_hash(const struct audit_row *r, char out[65])
{
    const char *f[NFIELDS] = {r->at,     r->actor,  r->role,   r->client, r->request_id,
                              r->action, r->object, r->result, r->details};
    return chain_hash(r->seq, f, r->prev_hash, out);
}
