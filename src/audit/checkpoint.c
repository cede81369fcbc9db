/*
 * checkpoint.c — SM2-signed checkpoints of the audit chain, and verifying them.
 * See audit.h for the signed text.
 *
 * The audit_checkpoint table has no append-only trigger; it needs none: a changed or
 * forged row fails its signature, and a checkpoint removed only loses what it
 * protected (the records after the newest remaining checkpoint).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define MAX_SIG 160 /* an SM2 DER signature is at most 72 bytes */

int audit_checkpoint_text(long long seq, const char *hash, const char *at, char *buf, size_t len)
{
    int n =
        snprintf(buf, len, "ehall-audit-checkpoint v1\n%lld\n%s\n%s", seq, hash ? hash : "", at ? at : "");
    return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The id of a public key: the first 16 hex digits of SM3 of its PEM text. */
static int key_id_of(const char *pub_pem, char id[17])
{
    unsigned char d[SM3_DIGEST_LEN];
    char hex[2 * SM3_DIGEST_LEN + 1];
    if (crypto_sm3(pub_pem, strlen(pub_pem), d) != 0) return -1;
    hex_encode(d, sizeof d, hex);
    snprintf(id, 17, "%.16s", hex);
    return 0;
}

struct cp_job {
    const char *priv, *key_id;
    long long seq;
    int made;
};

static int checkpoint_tx(store_conn *c, void *arg)
{
    struct cp_job *j = arg;
    j->made = 0;
    /* the head under a row lock (PostgreSQL), as audit_append takes it, so the
     * checkpoint and the head it signs cannot drift apart */
    store_stmt *st = store_prepare(c, store_conn_engine(c) == STORE_POSTGRES
                                          ? "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
                                          : "SELECT seq, hash FROM audit_head WHERE id = 1");
    if (!st) return STORE_ERROR;
    int rc = store_step(st);
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc == STORE_DONE ? STORE_ERROR : rc;
    }
    j->seq = store_column_int64(st, 0);
    char hash[65];
    snprintf(hash, sizeof hash, "%s", store_column_text(st, 1) ? store_column_text(st, 1) : "");
    store_finalize(st);
    if (j->seq == 0) return STORE_OK; /* nothing to sign yet */

    st = store_prepare(c, "SELECT COUNT(*) FROM audit_checkpoint WHERE seq = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, j->seq);
    rc = store_step(st);
    long long have = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_ERROR : rc;
    if (have) return STORE_OK;

    char at[48], text[256];
    time_rfc3339(now_wall(), at, sizeof at);
    int n = audit_checkpoint_text(j->seq, hash, at, text, sizeof text);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (n < 0 || crypto_sm2_sign(j->priv, NULL, text, (size_t)n, &sig, &siglen) != 0) {
        log_error("audit: could not sign a checkpoint");
        return STORE_ERROR;
    }
    char *sighex = malloc(2 * siglen + 1);
    if (!sighex) {
        free(sig);
        return STORE_ERROR;
    }
    hex_encode(sig, siglen, sighex);
    free(sig);
    st = store_prepare(
        c, "INSERT INTO audit_checkpoint(seq, hash, at, key_id, signature) VALUES ($1,$2,$3,$4,$5)");
    if (!st) {
        free(sighex);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, j->seq);
    store_bind_text(st, 2, hash);
    store_bind_text(st, 3, at);
    store_bind_text(st, 4, j->key_id);
    store_bind_text(st, 5, sighex);
    rc = store_step(st);
    store_finalize(st);
    free(sighex);
    if (rc != STORE_DONE)
        return rc == STORE_CONSTRAINT ? STORE_BUSY : rc; /* another node made it: look again */
    j->made = 1;
    return STORE_OK;
}

int audit_checkpoint(store *s, const char *priv_pem, const char *key_id, long long *seq)
{
    if (!priv_pem || !key_id) return STORE_ERROR;
    struct cp_job j = {priv_pem, key_id, 0, 0};
    int rc = store_tx(s, 1, checkpoint_tx, &j);
    if (rc != STORE_OK) return rc;
    if (seq) *seq = j.seq;
    if (j.made) log_info("audit: signed checkpoint at record %lld", j.seq);
    return j.made ? 0 : 1;
}

struct due_job {
    long long since;
};

static int due_tx(store_conn *c, void *arg)
{
    struct due_job *j = arg;
    return store_query_int64(c,
                             "SELECT (SELECT seq FROM audit_head WHERE id = 1) -"
                             " COALESCE((SELECT MAX(seq) FROM audit_checkpoint), 0)",
                             &j->since);
}

int audit_checkpoint_due(store *s, long long every)
{
    struct due_job j = {0};
    int rc = store_tx(s, 0, due_tx, &j);
    if (rc != STORE_OK) return rc;
    return j.since >= (every < 1 ? 1 : every) ? 1 : 0;
}

/* ---- verification ---- */

struct cv_state {
    struct audit_report *rep;
    const char *pub;
    char id[17];
    long long after;
    int done;
};

static int cp_broken(struct cv_state *v, long long seq, const char *why)
{
    v->rep->broken_seq = seq;
    v->rep->checkpoint_broken = 1;
    snprintf(v->rep->reason, sizeof v->rep->reason, "signed checkpoint: %s", why);
    v->done = 1;
    return STORE_OK;
}

static int verify_checkpoints_page(store_conn *c, void *arg)
{
    struct cv_state *v = arg;
    store_stmt *st = store_prepare(c, "SELECT c.seq, c.hash, c.at, c.key_id, c.signature, l.hash"
                                      " FROM audit_checkpoint c LEFT JOIN audit_log l ON l.seq = c.seq"
                                      " WHERE c.seq > $1 ORDER BY c.seq LIMIT 500");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, v->after);
    int rc, rows = 0;
    long long checked = 0, after = v->after;
    while (!v->done && (rc = store_step(st)) == STORE_ROW) {
        rows++;
        long long seq = store_column_int64(st, 0);
        const char *hash = store_column_text(st, 1), *at = store_column_text(st, 2);
        const char *kid = store_column_text(st, 3), *sighex = store_column_text(st, 4);
        const char *chain = store_column_text(st, 5);
        char text[256];
        unsigned char sig[MAX_SIG];
        size_t sl = sighex ? strlen(sighex) : 0;
        int n = audit_checkpoint_text(seq, hash, at, text, sizeof text);
        int sig_ok = n >= 0 && sl && sl % 2 == 0 && sl / 2 <= sizeof sig &&
                     hex_decode(sighex, sl / 2, sig) == 0 &&
                     crypto_sm2_verify(v->pub, NULL, text, (size_t)n, sig, sl / 2) == 0;
        char why[160];
        if (!sig_ok && kid && strcmp(kid, v->id) != 0) {
            snprintf(why, sizeof why, "names key %.20s, not the configured audit key %s, and does not verify",
                     kid, v->id);
            cp_broken(v, seq, why);
        } else if (!sig_ok) {
            cp_broken(v, seq, "its SM2 signature does not verify (forged or altered)");
        } else if (!chain) {
            cp_broken(v, seq, "the record it signed is gone (records cut off)");
        } else if (!hash || strcmp(chain, hash) != 0) {
            cp_broken(
                v, seq,
                "the chain's hash at this record is not the one signed (records up to it were rewritten)");
        } else {
            checked++;
            after = seq;
        }
    }
    if (v->done) rc = STORE_DONE;
    store_finalize(st);
    if (rc != STORE_DONE) return rc;
    v->rep->checkpoints += checked;
    v->after = after;
    if (rows == 0) v->done = 1;
    return STORE_OK;
}

int audit_verify_signed(store *s, const char *pub_pem, struct audit_report *rep)
{
    int rc = audit_verify(s, rep);
    if (rc != 0 || !pub_pem) return rc;
    struct cv_state v = {rep, pub_pem, "", 0, 0};
    if (key_id_of(pub_pem, v.id) != 0) return STORE_ERROR;
    /* checkpoints of records purged into an archive are checked with the archive */
    char anchor_hash[65];
    if (audit_anchor(s, &v.after, anchor_hash) != STORE_OK) return STORE_ERROR;
    while (!v.done) {
        rc = store_tx(s, 0, verify_checkpoints_page, &v);
        if (rc != STORE_OK) return rc;
    }
    return rep->broken_seq ? 1 : 0;
}
