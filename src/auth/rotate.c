/*
 * rotate.c — what the master keys protect, listed once, and moving it to the current
 * key version.  See keys.h.
 *
 * KEYS_SEALED names every sealed column (and the blind index computed from its
 * plaintext); KEYS_MACED every table whose rows carry a MAC, with the columns the MAC
 * covers in order.  A new sealed column or MAC'd table is added here and nowhere else:
 * re-sealing, `ehall keys status` and the stale counts follow from these lists.
 *
 * keys_reseal walks each table in primary-key order, ~200 rows per write transaction
 * (short, so a running `ehall serve` on SQLite waits only briefly for its writes; on
 * PostgreSQL the rows are locked FOR UPDATE, so a concurrent change cannot be lost).
 * Only rows with something on an older version are selected; the walk resumes after
 * the last key seen, so rows it must leave alone (a MAC that does not verify, a value
 * that does not open) are not visited twice in one pass.  A pass that changed rows is
 * followed by another, which picks up rows a running server wrote with the old key
 * before it noticed the new one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/keys.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define BATCH      200
#define MAX_PASSES 5
#define MAX_COLS   8

/* A sealed column; bidx/kind name its blind index, when it has one.  key is the
 * table's (integer) primary key. */
struct sealed_col {
    const char *table, *key, *column, *bidx, *kind;
};
static const struct sealed_col KEYS_SEALED[] = {
    {"account", "id", "name_enc", NULL, NULL},
    {"account", "id", "id_number_enc", "id_number_bidx", "id_number"},
    {"account", "id", "mobile_enc", "mobile_bidx", "mobile"},
    {"account", "id", "address_enc", NULL, NULL},
    {"account", "id", "totp_enc", NULL, NULL},
    {"enterprise", "id", "legal_rep_enc", NULL, NULL},
    {"sms_outbox", "id", "mobile_enc", "mobile_bidx", "mobile"},
    {"sms_outbox", "id", "body_enc", NULL, NULL},
    {"taxpayer", "id", "id_number_enc", "id_number_bidx", "id_number"},
    {"taxpayer", "id", "name_enc", NULL, NULL},
    {"licence", "id", "holder_enc", "holder_bidx", "licence_holder"},
    {"licence", "id", "data_enc", NULL, NULL},
    {"licence_entry", "id", "data_enc", NULL, NULL},
    {"licence_app", "id", "secret_enc", NULL, NULL},
};

/* A MAC'd table: its primary key (one or two columns; key_int when integers), the
 * columns its MAC covers in order (keys.h repeats this list for the other modules),
 * and the MAC column "mac". */
struct maced_table {
    const char *table;
    const char *key[2];
    int key_int;
    const char *cols[MAX_COLS];
    int ncols;
};
static const struct maced_table KEYS_MACED[] = {
    {"role", {"id", NULL}, 1, {"code", "scope", "perms"}, 3},
    {"account_role", {"account_id", "role_id"}, 1, {"account_id", "role_id"}, 2},
    {"enterprise_member", {"account_id", NULL}, 1, {"account_id", "enterprise_id", "admin", "perms"}, 4},
    {"agent_grant",
     {"id", NULL},
     1,
     {"id", "enterprise_id", "agent_id", "items", "valid_from", "valid_to", "revoked_at"},
     7},
    {"cert_key", {"id", NULL}, 1, {"id", "account_id", "fingerprint", "public_key", "revoked_at"}, 5},
    {"session",
     {"id_hash", NULL},
     0,
     {"id_hash", "account_id", "stage", "perms", "scope", "on_behalf", "grant_id", "expires_at"},
     8},
};

/* ---- helpers ---- */

static void cat(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void free_secret(char *s)
{
    if (!s) return;
    crypto_wipe(s, strlen(s));
    free(s);
}

/* The LIKE patterns of values on the current version. */
struct patterns {
    int version;
    char sealed[32]; /* "v1.<cur>.%" */
    char tag[32];    /* "<cur>:%" */
};

static void patterns_now(struct patterns *p)
{
    p->version = keys_current_version();
    snprintf(p->sealed, sizeof p->sealed, "v1.%d.%%", p->version);
    snprintf(p->tag, sizeof p->tag, "%d:%%", p->version);
}

static int has_prefix_of(const char *v, const char *pattern)
{
    size_t n = strlen(pattern) - 1; /* without the '%' */
    return strncmp(v, pattern, n) == 0;
}

/* Keyset position: the key of the last row seen (as text), or none yet. */
struct cursor {
    int have;
    char key[2][160];
};

/* Append " AND (key > last)" with parameters starting at $first; binds come later. */
static void keyset_sql(char *sql, size_t len, const char *const key[2], const struct cursor *cur, int first)
{
    if (!cur->have) return;
    if (!key[1])
        cat(sql, len, " AND %s > $%d", key[0], first);
    else
        cat(sql, len, " AND (%s > $%d OR (%s = $%d AND %s > $%d))", key[0], first, key[0], first, key[1],
            first + 1);
}

static int bind_key(store_stmt *st, int idx, const char *v, int is_int)
{
    long long n;
    if (is_int && parse_int64(v, &n) == 0) return store_bind_int64(st, idx, n);
    return store_bind_text(st, idx, v);
}

static void keyset_bind(store_stmt *st, const char *const key[2], const struct cursor *cur, int first,
                        int is_int)
{
    if (!cur->have) return;
    bind_key(st, first, cur->key[0], is_int);
    if (key[1]) bind_key(st, first + 1, cur->key[1], is_int);
}

static const char *for_update(store_conn *c)
{
    return store_conn_engine(c) == STORE_POSTGRES ? " FOR UPDATE" : "";
}

/* One batch of rows read into memory (statement text is only valid until the next
 * step, and the updates run on the same connection). */
struct row {
    char *key[2];
    char *val[2 * MAX_COLS + 1];
};

struct batch {
    const struct patterns *pat;
    struct cursor cur;  /* resume after this row */
    struct cursor next; /* the last row seen: the caller moves cur here after a commit */
    int rows;           /* rows read */
    long long changed;  /* rows changed */
    long long tampered; /* MAC does not verify */
    long long unreadable;
    char err[200];
};

static void rows_free(struct row *r, int n, int nvals)
{
    for (int i = 0; i < n; i++) {
        free(r[i].key[0]);
        free(r[i].key[1]);
        for (int j = 0; j < nvals; j++) free(r[i].val[j]);
    }
    free(r);
}

/* Run sql (already bound) and read up to BATCH rows: nkeys key columns then nvals values. */
static int read_rows(store_stmt *st, int nkeys, int nvals, struct row **out, int *n)
{
    struct row *rows = calloc(BATCH, sizeof *rows);
    if (!rows) {
        store_finalize(st);
        return STORE_ERROR;
    }
    int rc, k = 0;
    while (k < BATCH && (rc = store_step(st)) == STORE_ROW) {
        for (int j = 0; j < nkeys; j++) rows[k].key[j] = dup_or_null(store_column_text(st, j));
        for (int j = 0; j < nvals; j++) rows[k].val[j] = dup_or_null(store_column_text(st, nkeys + j));
        k++;
    }
    if (k == BATCH) rc = STORE_DONE;
    store_finalize(st);
    if (rc != STORE_DONE) {
        rows_free(rows, k, nvals);
        return rc;
    }
    *out = rows;
    *n = k;
    return STORE_OK;
}

static void remember(struct cursor *cur, const struct row *r, int nkeys)
{
    cur->have = 1;
    for (int j = 0; j < nkeys; j++)
        snprintf(cur->key[j], sizeof cur->key[j], "%s", r->key[j] ? r->key[j] : "");
}

/* ---- sealed tables ---- */

struct sealed_job {
    const char *table, *key;
    const struct sealed_col *cols[MAX_COLS];
    int n;
    struct batch b;
};

static int has_bidx(const struct sealed_job *j)
{
    for (int i = 0; i < j->n; i++)
        if (j->cols[i]->bidx) return 1;
    return 0;
}

/* " WHERE (any column stale)": $1 is the sealed pattern and, when the table has a
 * blind index, $2 the tag pattern.  Returns the next free parameter number. */
static int sealed_stale_where(char *sql, size_t len, const struct sealed_job *j)
{
    cat(sql, len, " WHERE (");
    for (int i = 0; i < j->n; i++) {
        cat(sql, len, "%s(%s IS NOT NULL AND %s NOT LIKE $1)", i ? " OR " : "", j->cols[i]->column,
            j->cols[i]->column);
        if (j->cols[i]->bidx)
            cat(sql, len, " OR (%s IS NOT NULL AND %s NOT LIKE $2)", j->cols[i]->bidx, j->cols[i]->bidx);
    }
    cat(sql, len, ")");
    return has_bidx(j) ? 3 : 2;
}

static int sealed_batch(store_conn *c, void *arg)
{
    struct sealed_job *j = arg;
    struct batch *b = &j->b;
    struct cursor cur = b->cur;
    b->rows = 0;
    b->changed = b->tampered = b->unreadable = 0;

    char sql[2048] = "";
    cat(sql, sizeof sql, "SELECT %s", j->key);
    for (int i = 0; i < j->n; i++)
        cat(sql, sizeof sql, ", %s, %s", j->cols[i]->column, j->cols[i]->bidx ? j->cols[i]->bidx : "NULL");
    cat(sql, sizeof sql, " FROM %s", j->table);
    int next = sealed_stale_where(sql, sizeof sql, j);
    const char *key[2] = {j->key, NULL};
    keyset_sql(sql, sizeof sql, key, &cur, next);
    cat(sql, sizeof sql, " ORDER BY %s LIMIT %d%s", j->key, BATCH, for_update(c));
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, b->pat->sealed);
    if (next == 3) store_bind_text(st, 2, b->pat->tag);
    keyset_bind(st, key, &cur, next, 1);
    struct row *rows = NULL;
    int n = 0, nvals = 2 * j->n;
    int rc = read_rows(st, 1, nvals, &rows, &n);
    if (rc != STORE_OK) return rc;

    /* parameters in order: each column, then its blind index when it has one, then the key */
    char upd[2048] = "";
    int np = 0;
    cat(upd, sizeof upd, "UPDATE %s SET ", j->table);
    for (int i = 0; i < j->n; i++) {
        cat(upd, sizeof upd, "%s%s = $%d", i ? ", " : "", j->cols[i]->column, ++np);
        if (j->cols[i]->bidx) cat(upd, sizeof upd, ", %s = $%d", j->cols[i]->bidx, ++np);
    }
    cat(upd, sizeof upd, " WHERE %s = $%d", j->key, ++np);

    for (int r = 0; r < n && rc == STORE_OK; r++) {
        char *nv[MAX_COLS] = {0}, nb[MAX_COLS][KEYS_TAG_MAX];
        int changed = 0, bad = 0;
        for (int i = 0; i < j->n; i++) {
            const char *v = rows[r].val[2 * i], *bi = rows[r].val[2 * i + 1];
            nb[i][0] = 0;
            int need_seal = v && !has_prefix_of(v, b->pat->sealed);
            int need_bidx = j->cols[i]->bidx && bi && !has_prefix_of(bi, b->pat->tag);
            if (!need_seal && !need_bidx) continue;
            char *plain = v ? keys_open(v) : NULL;
            if (!plain) {
                bad = 1;
                continue;
            }
            if (need_seal && !(nv[i] = keys_seal(plain))) rc = STORE_ERROR;
            if (need_bidx && keys_blind_index(j->cols[i]->kind, plain, nb[i]) != 0) rc = STORE_ERROR;
            free_secret(plain);
            changed = 1;
        }
        if (rc == STORE_OK && changed) {
            st = store_prepare(c, upd);
            if (!st) {
                rc = STORE_ERROR;
            } else {
                int p = 0;
                for (int i = 0; i < j->n; i++) {
                    store_bind_text(st, ++p, nv[i] ? nv[i] : rows[r].val[2 * i]);
                    if (j->cols[i]->bidx) store_bind_text(st, ++p, nb[i][0] ? nb[i] : rows[r].val[2 * i + 1]);
                }
                bind_key(st, ++p, rows[r].key[0], 1);
                rc = store_step(st);
                store_finalize(st);
                rc = rc == STORE_DONE ? STORE_OK : rc;
            }
            b->changed++;
        }
        if (bad) b->unreadable++;
        for (int i = 0; i < j->n; i++) free(nv[i]);
        remember(&cur, &rows[r], 1);
    }
    b->rows = n;
    rows_free(rows, n, nvals);
    b->next = cur;
    if (rc == STORE_ERROR) snprintf(b->err, sizeof b->err, "%s: %s", j->table, store_errmsg(c));
    return rc;
}

/* ---- MAC'd tables ---- */

struct mac_job {
    const struct maced_table *t;
    struct batch b;
};

static int mac_batch(store_conn *c, void *arg)
{
    struct mac_job *j = arg;
    const struct maced_table *t = j->t;
    struct batch *b = &j->b;
    struct cursor cur = b->cur;
    int nkeys = t->key[1] ? 2 : 1;
    b->rows = 0;
    b->changed = b->tampered = b->unreadable = 0;

    char sql[2048] = "";
    cat(sql, sizeof sql, "SELECT %s%s%s", t->key[0], nkeys == 2 ? ", " : "", nkeys == 2 ? t->key[1] : "");
    for (int i = 0; i < t->ncols; i++) cat(sql, sizeof sql, ", %s", t->cols[i]);
    cat(sql, sizeof sql, ", mac FROM %s WHERE mac NOT LIKE $1", t->table);
    keyset_sql(sql, sizeof sql, t->key, &cur, 2);
    cat(sql, sizeof sql, " ORDER BY %s%s%s LIMIT %d%s", t->key[0], nkeys == 2 ? ", " : "",
        nkeys == 2 ? t->key[1] : "", BATCH, for_update(c));
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, b->pat->tag);
    keyset_bind(st, t->key, &cur, 2, t->key_int);
    struct row *rows = NULL;
    int n = 0, nvals = t->ncols + 1;
    int rc = read_rows(st, nkeys, nvals, &rows, &n);
    if (rc != STORE_OK) return rc;

    char upd[512] = "";
    cat(upd, sizeof upd, "UPDATE %s SET mac = $1 WHERE %s = $2", t->table, t->key[0]);
    if (nkeys == 2) cat(upd, sizeof upd, " AND %s = $3", t->key[1]);

    for (int r = 0; r < n && rc == STORE_OK; r++) {
        const char *const *vals = (const char *const *)rows[r].val;
        const char *mac = rows[r].val[t->ncols];
        char fresh[KEYS_TAG_MAX];
        if (keys_row_mac_check(t->table, vals, t->ncols, mac) != 0) {
            b->tampered++; /* left as it is: the tampering must stay visible */
        } else if (keys_row_mac(t->table, vals, t->ncols, fresh) != 0) {
            rc = STORE_ERROR;
        } else if (!(st = store_prepare(c, upd))) {
            rc = STORE_ERROR;
        } else {
            store_bind_text(st, 1, fresh);
            for (int k = 0; k < nkeys; k++) bind_key(st, 2 + k, rows[r].key[k], t->key_int);
            rc = store_step(st);
            store_finalize(st);
            rc = rc == STORE_DONE ? STORE_OK : rc;
            b->changed++;
        }
        remember(&cur, &rows[r], nkeys);
    }
    b->rows = n;
    rows_free(rows, n, nvals);
    b->next = cur;
    if (rc == STORE_ERROR) snprintf(b->err, sizeof b->err, "%s: %s", t->table, store_errmsg(c));
    return rc;
}

/* ---- the walk ---- */

/* The distinct tables of KEYS_SEALED, in order, as jobs. */
static int sealed_jobs(struct sealed_job *jobs, int max)
{
    int n = 0;
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS_SEALED); i++) {
        int k = 0;
        while (k < n && strcmp(jobs[k].table, KEYS_SEALED[i].table) != 0) k++;
        if (k == n) {
            if (n == max) return -1;
            memset(&jobs[n], 0, sizeof jobs[n]);
            jobs[n].table = KEYS_SEALED[i].table;
            jobs[n].key = KEYS_SEALED[i].key;
            n++;
        }
        if (jobs[k].n == MAX_COLS) return -1;
        jobs[k].cols[jobs[k].n++] = &KEYS_SEALED[i];
    }
    return n;
}

int keys_reseal_report(store *s, struct keys_reseal_report *rep, keys_progress_fn progress, void *arg,
                       char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    if (keys_current_version() <= 0) {
        snprintf(err, errlen, "the keyring is not loaded");
        return -1;
    }
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        struct patterns pat;
        patterns_now(&pat);
        long long changed = 0, tampered = 0, unreadable = 0;
        struct sealed_job jobs[EHALL_ARRAY_LEN(KEYS_SEALED)];
        int nj = sealed_jobs(jobs, (int)EHALL_ARRAY_LEN(jobs));
        for (int i = 0; i < nj; i++) {
            long long table_changed = 0;
            jobs[i].b.pat = &pat;
            do {
                int rc = store_tx(s, 1, sealed_batch, &jobs[i]);
                if (rc != STORE_OK) {
                    snprintf(err, errlen, "re-sealing %s failed (%d) %s", jobs[i].table, rc, jobs[i].b.err);
                    return -1;
                }
                jobs[i].b.cur = jobs[i].b.next;
                table_changed += jobs[i].b.changed;
                unreadable += jobs[i].b.unreadable;
                if (progress && jobs[i].b.rows) progress(jobs[i].table, table_changed, arg);
            } while (jobs[i].b.rows == BATCH);
            rep->resealed += table_changed;
            changed += table_changed;
        }
        for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS_MACED); i++) {
            struct mac_job j = {&KEYS_MACED[i], {0}};
            j.b.pat = &pat;
            long long table_changed = 0;
            do {
                int rc = store_tx(s, 1, mac_batch, &j);
                if (rc != STORE_OK) {
                    snprintf(err, errlen, "re-MACing %s failed (%d) %s", j.t->table, rc, j.b.err);
                    return -1;
                }
                j.b.cur = j.b.next;
                table_changed += j.b.changed;
                tampered += j.b.tampered;
                if (progress && j.b.rows) progress(j.t->table, table_changed, arg);
            } while (j.b.rows == BATCH);
            rep->remaced += table_changed;
            changed += table_changed;
        }
        rep->tampered = tampered;
        rep->unreadable = unreadable;
        if (changed == 0) break;
    }
    if (rep->tampered)
        log_warn("keys: %lld rows have a MAC that does not verify; left as they are", rep->tampered);
    if (rep->unreadable) log_warn("keys: %lld rows have a sealed value that does not open", rep->unreadable);
    return rep->tampered || rep->unreadable ? 1 : 0;
}

int keys_reseal(store *s, long long *done, char *err, size_t errlen)
{
    struct keys_reseal_report rep;
    int rc = keys_reseal_report(s, &rep, NULL, NULL, err, errlen);
    *done = rep.resealed + rep.remaced;
    if (rc == 1)
        snprintf(err, errlen,
                 "%lld rows with a MAC that does not verify and %lld with a value that does not open were "
                 "left as they are",
                 rep.tampered, rep.unreadable);
    return rc;
}

/* ---- counting ---- */

/* SELECT COUNT(*) with up to two text parameters. */
struct count_q {
    const char *sql, *p1, *p2;
    long long n;
};

static int count_tx(store_conn *c, void *arg)
{
    struct count_q *q = arg;
    store_stmt *st = store_prepare(c, q->sql);
    if (!st) return STORE_ERROR;
    if (q->p1) store_bind_text(st, 1, q->p1);
    if (q->p2) store_bind_text(st, 2, q->p2);
    int rc = store_step(st);
    if (rc == STORE_ROW) q->n = store_column_int64(st, 0);
    store_finalize(st);
    return rc == STORE_ROW ? STORE_OK : rc == STORE_DONE ? STORE_ERROR : rc;
}

static int count(store *s, const char *sql, const char *p1, const char *p2, long long *n)
{
    struct count_q q = {sql, p1, p2, 0};
    int rc = store_tx(s, 0, count_tx, &q);
    *n = q.n;
    return rc == STORE_OK ? 0 : -1;
}

int keys_stale_columns(store *s, struct keys_stale_col *out, int max)
{
    struct patterns pat;
    patterns_now(&pat);
    int n = 0;
    char sql[512];
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS_SEALED); i++) {
        const struct sealed_col *c = &KEYS_SEALED[i];
        for (int b = 0; b < (c->bidx ? 2 : 1); b++) {
            const char *col = b ? c->bidx : c->column;
            if (n == max) return n;
            snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE %s IS NOT NULL AND %s NOT LIKE $1",
                     c->table, col, col);
            out[n].table = c->table;
            out[n].column = col;
            if (count(s, sql, b ? pat.tag : pat.sealed, NULL, &out[n].rows) != 0) return -1;
            n++;
        }
    }
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS_MACED); i++) {
        if (n == max) return n;
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE mac NOT LIKE $1", KEYS_MACED[i].table);
        out[n].table = KEYS_MACED[i].table;
        out[n].column = "mac";
        if (count(s, sql, pat.tag, NULL, &out[n].rows) != 0) return -1;
        n++;
    }
    return n;
}

int keys_stale_rows(store *s, long long *total)
{
    struct patterns pat;
    patterns_now(&pat);
    *total = 0;
    struct sealed_job jobs[EHALL_ARRAY_LEN(KEYS_SEALED)];
    int nj = sealed_jobs(jobs, (int)EHALL_ARRAY_LEN(jobs));
    char sql[2048];
    long long n;
    for (int i = 0; i < nj; i++) {
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", jobs[i].table);
        int two = sealed_stale_where(sql, sizeof sql, &jobs[i]) == 3;
        if (count(s, sql, pat.sealed, two ? pat.tag : NULL, &n) != 0) return -1;
        *total += n;
    }
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS_MACED); i++) {
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE mac NOT LIKE $1", KEYS_MACED[i].table);
        if (count(s, sql, pat.tag, NULL, &n) != 0) return -1;
        *total += n;
    }
    return 0;
}

/* Every row of every MAC'd table, checked; read-only, a page per transaction. */
struct check_job {
    const struct maced_table *t;
    struct cursor cur, next;
    int rows;
    long long bad;
};

static int check_batch(store_conn *c, void *arg)
{
    struct check_job *j = arg;
    const struct maced_table *t = j->t;
    int nkeys = t->key[1] ? 2 : 1;
    char sql[2048] = "";
    cat(sql, sizeof sql, "SELECT %s%s%s", t->key[0], nkeys == 2 ? ", " : "", nkeys == 2 ? t->key[1] : "");
    for (int i = 0; i < t->ncols; i++) cat(sql, sizeof sql, ", %s", t->cols[i]);
    cat(sql, sizeof sql, ", mac FROM %s WHERE 1 = 1", t->table);
    keyset_sql(sql, sizeof sql, t->key, &j->cur, 1);
    cat(sql, sizeof sql, " ORDER BY %s%s%s LIMIT %d", t->key[0], nkeys == 2 ? ", " : "",
        nkeys == 2 ? t->key[1] : "", BATCH);
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    keyset_bind(st, t->key, &j->cur, 1, t->key_int);
    struct row *rows = NULL;
    int n = 0;
    int rc = read_rows(st, nkeys, t->ncols + 1, &rows, &n);
    if (rc != STORE_OK) return rc;
    j->rows = n;
    j->bad = 0;
    for (int r = 0; r < n; r++) {
        if (keys_row_mac_check(t->table, (const char *const *)rows[r].val, t->ncols, rows[r].val[t->ncols]) !=
            0)
            j->bad++;
    }
    j->next = j->cur;
    if (n) remember(&j->next, &rows[n - 1], nkeys);
    rows_free(rows, n, t->ncols + 1);
    return STORE_OK;
}

int keys_tampered_rows(store *s, long long *count_out)
{
    *count_out = 0;
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS_MACED); i++) {
        struct check_job j = {&KEYS_MACED[i], {0}, {0}, 0, 0};
        do {
            if (store_tx(s, 0, check_batch, &j) != STORE_OK) return -1;
            j.cur = j.next;
            *count_out += j.bad;
        } while (j.rows == BATCH);
    }
    return 0;
}
