/*
 * queue.c — the durable queue: enqueue, the registries of connectors and result
 * handlers, leasing, completion, retries with back-off, dead letters and the worker
 * threads.  See exchange.h and docs/exchange.md.
 *
 * A message's life: queued → leased (by one worker, until lease_until_ms; next_at_ms
 * holds the same instant, so the index (state, next_at_ms) finds both due messages
 * and expired leases) → done (outcome, result, done_ms, day) or back to queued with a
 * back-off, or dead after exchange.max_attempts calls.  A lease that expires (the
 * worker crashed or hung) makes the message due again; the calls a message has had
 * are counted when it is leased, so a message that keeps killing its workers ends
 * dead too.
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/core.h"
#include "exchange/exchange.h"

#define MAX_HANDLERS   64
#define MAX_CONNECTORS 16
#define MAX_THREADS    64
#define BACKOFF_CAP_MS 3600000LL

static struct {
    store *db;
    const struct config *cfg;
} G;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char kind[64];
    exchange_result_fn fn;
} handlers[MAX_HANDLERS];
static int nhandlers;
static const struct exchange_connector *connectors[MAX_CONNECTORS];
static int nconnectors;

long long exchange_now_ms(void) { return (long long)(now_wall() * 1000.0); }

void exchange_day(long long ms, char out[11])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ---------- registries ---------- */

void exchange_on_result(const char *kind, exchange_result_fn fn)
{
    pthread_mutex_lock(&reg_mu);
    int i = 0;
    while (i < nhandlers && strcmp(handlers[i].kind, kind) != 0) i++;
    if (i == nhandlers) {
        if (nhandlers == MAX_HANDLERS || strlen(kind) >= sizeof handlers[0].kind) {
            pthread_mutex_unlock(&reg_mu);
            log_error("exchange: cannot register a result handler for %s", kind);
            return;
        }
        snprintf(handlers[i].kind, sizeof handlers[i].kind, "%s", kind);
        nhandlers++;
    }
    handlers[i].fn = fn;
    pthread_mutex_unlock(&reg_mu);
}

/* Handlers are registered before the workers start, and never removed. */
static exchange_result_fn handler_for(const char *kind)
{
    exchange_result_fn fn = NULL;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < nhandlers && !fn; i++)
        if (!strcmp(handlers[i].kind, kind)) fn = handlers[i].fn;
    pthread_mutex_unlock(&reg_mu);
    return fn;
}

int exchange_register_connector(const struct exchange_connector *conn)
{
    pthread_mutex_lock(&reg_mu);
    int i = 0;
    while (i < nconnectors && strcmp(connectors[i]->name, conn->name) != 0) i++;
    if (i == MAX_CONNECTORS) {
        pthread_mutex_unlock(&reg_mu);
        return -1;
    }
    connectors[i] = conn;
    if (i == nconnectors) nconnectors++;
    pthread_mutex_unlock(&reg_mu);
    return 0;
}

const struct exchange_connector *exchange_connector_find(const char *name)
{
    const struct exchange_connector *c = NULL;
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < nconnectors && !c; i++)
        if (!strcmp(connectors[i]->name, name)) c = connectors[i];
    pthread_mutex_unlock(&reg_mu);
    return c;
}

/* The test-only kind: its effect is a row keyed by the message (UNIQUE), so an effect
 * applied twice fails loudly instead of passing unnoticed. */
static int test_echo_result(store_conn *c, long long msg_id, long long case_id, const char *kind,
                            const char *outcome, const char *result_json)
{
    (void)case_id;
    (void)kind;
    (void)result_json;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "INSERT INTO exchange_test_effect(msg_id, outcome, at) VALUES ($1, $2, $3)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, msg_id);
    store_bind_text(st, 2, outcome);
    store_bind_text(st, 3, ts);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

void exchange_setup(store *db, const struct config *cfg)
{
    G.db = db;
    G.cfg = cfg;
    exchange_register_connector(&exchange_sim_connector);
    exchange_on_result("test.echo", test_echo_result);
}

int exchange_call_direct(const char *connector, const char *kind, const char *payload_json,
                         struct exchange_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    const struct exchange_connector *conn = exchange_connector_find(connector);
    if (!conn || !G.db) {
        ans->rc = EXCHANGE_PERMANENT;
        snprintf(ans->error, sizeof ans->error, "unknown connector %s", connector);
        return ans->rc;
    }
    struct exchange_ctx ctx = {G.db, G.cfg};
    if (conn->query) return conn->query(&ctx, kind, payload_json, ans);
    struct exchange_msg m = {0, NULL, kind, connector, 0, payload_json, 1};
    return conn->call(&ctx, &m, ans);
}

/* ---------- enqueue ---------- */

int exchange_enqueue(store_conn *c, const char *idem_key, const char *kind, const char *connector,
                     long long case_id, const char *payload_json, long long *id)
{
    if (!idem_key || !*idem_key || strlen(idem_key) > 200 || !kind || !*kind || strlen(kind) > 63 ||
        !connector || !*connector || strlen(connector) > 63 || !payload_json) {
        log_error("exchange_enqueue: idem_key, kind, connector and payload are required");
        return STORE_ERROR;
    }
    long long now = exchange_now_ms();
    char ts[48];
    time_rfc3339((double)now / 1000.0, ts, sizeof ts);
    store_stmt *st = store_prepare(
        c,
        "INSERT INTO exchange_msg(idem_key, kind, connector, case_id, payload, state, attempts, next_at_ms,"
        " created_at, created_ms) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $6)"
        " ON CONFLICT (idem_key) DO NOTHING RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, idem_key);
    store_bind_text(st, 2, kind);
    store_bind_text(st, 3, connector);
    store_bind_int64(st, 4, case_id);
    store_bind_text(st, 5, payload_json);
    store_bind_int64(st, 6, now);
    store_bind_text(st, 7, ts);
    int rc = store_step(st);
    long long got = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    if (rc == STORE_DONE) { /* the key is queued already: the first message stands */
        st = store_prepare(c, "SELECT id FROM exchange_msg WHERE idem_key = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, idem_key);
        rc = store_step(st);
        if (rc == STORE_ROW) got = store_column_int64(st, 0);
        store_finalize(st);
        if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    }
    if (id) *id = got;
    exchange_kick();
    return STORE_OK;
}

/* ---------- leasing ---------- */

struct batch {
    arena *a;
    const char *owner;
    long long now, until, max_attempts;
    struct exchange_msg *m;
    struct exchange_answer *ans;
    size_t n, cap;
    /* completion, one message at a time (the slow path) */
    size_t only;
    int handler_failed;
};

static const char *const RECLAIM_SQLITE =
    "UPDATE exchange_msg SET state = CASE WHEN attempts >= $2 THEN 'dead' ELSE 'queued' END,"
    " last_error = 'lease expired (worker lost)', lease_owner = NULL, lease_until_ms = NULL"
    " WHERE state = 'leased' AND next_at_ms <= $1";
static const char *const RECLAIM_PG =
    "UPDATE exchange_msg SET state = CASE WHEN attempts >= $2 THEN 'dead' ELSE 'queued' END,"
    " last_error = 'lease expired (worker lost)', lease_owner = NULL, lease_until_ms = NULL"
    " WHERE id IN (SELECT id FROM exchange_msg WHERE state = 'leased' AND next_at_ms <= $1"
    " LIMIT 1000 FOR UPDATE SKIP LOCKED)";
static const char *const LEASE_SQLITE =
    "UPDATE exchange_msg SET state = 'leased', lease_owner = $1, lease_until_ms = $2, next_at_ms = $2,"
    " attempts = attempts + 1 WHERE id IN (SELECT id FROM exchange_msg WHERE state = 'queued'"
    " AND next_at_ms <= $3 ORDER BY next_at_ms LIMIT $4)"
    " RETURNING id, idem_key, kind, connector, case_id, payload, attempts";
static const char *const LEASE_PG =
    "UPDATE exchange_msg SET state = 'leased', lease_owner = $1, lease_until_ms = $2, next_at_ms = $2,"
    " attempts = attempts + 1 WHERE id IN (SELECT id FROM exchange_msg WHERE state = 'queued'"
    " AND next_at_ms <= $3 ORDER BY next_at_ms LIMIT $4 FOR UPDATE SKIP LOCKED)"
    " RETURNING id, idem_key, kind, connector, case_id, payload, attempts";

static int lease_tx(store_conn *c, void *arg)
{
    struct batch *b = arg;
    b->n = 0; /* the transaction may run again */
    int pg = store_conn_engine(c) == STORE_POSTGRES;
    store_stmt *st = store_prepare(c, pg ? RECLAIM_PG : RECLAIM_SQLITE);
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, b->now);
    store_bind_int64(st, 2, b->max_attempts);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    st = store_prepare(c, pg ? LEASE_PG : LEASE_SQLITE);
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, b->owner);
    store_bind_int64(st, 2, b->until);
    store_bind_int64(st, 3, b->now);
    store_bind_int64(st, 4, (long long)b->cap);
    while ((rc = store_step(st)) == STORE_ROW && b->n < b->cap) {
        struct exchange_msg *m = &b->m[b->n];
        m->id = store_column_int64(st, 0);
        m->idem_key = arena_strdup(b->a, store_column_text(st, 1));
        m->kind = arena_strdup(b->a, store_column_text(st, 2));
        m->connector = arena_strdup(b->a, store_column_text(st, 3));
        m->case_id = store_column_int64(st, 4);
        m->payload = arena_strdup(b->a, store_column_text(st, 5));
        m->attempts = store_column_int64(st, 6);
        if (!m->idem_key || !m->kind || !m->connector || !m->payload) {
            store_finalize(st);
            return STORE_ERROR;
        }
        b->n++;
    }
    store_finalize(st);
    return rc == STORE_DONE || rc == STORE_ROW ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

static int by_connector(const void *x, const void *y)
{
    const struct exchange_msg *a = x, *b = y;
    int d = strcmp(a->connector, b->connector);
    return d ? d : (a->id > b->id) - (a->id < b->id);
}

static void call_connectors(struct batch *b)
{
    if (b->n) qsort(b->m, b->n, sizeof *b->m, by_connector);
    struct exchange_ctx ctx = {G.db, G.cfg};
    for (size_t i = 0; i < b->n;) {
        size_t j = i;
        while (j < b->n && !strcmp(b->m[j].connector, b->m[i].connector)) j++;
        const struct exchange_connector *conn = exchange_connector_find(b->m[i].connector);
        for (size_t k = i; k < j; k++) {
            memset(&b->ans[k], 0, sizeof b->ans[k]);
            if (!conn) {
                b->ans[k].rc = EXCHANGE_PERMANENT;
                snprintf(b->ans[k].error, sizeof b->ans[k].error, "unknown connector %s", b->m[i].connector);
            }
        }
        if (conn && conn->call_batch)
            conn->call_batch(&ctx, &b->m[i], j - i, &b->ans[i]);
        else if (conn)
            for (size_t k = i; k < j; k++) conn->call(&ctx, &b->m[k], &b->ans[k]);
        for (size_t k = i; k < j; k++) {
            struct exchange_answer *a = &b->ans[k];
            if (a->rc == EXCHANGE_ANSWERED &&
                (a->result.oom || (strcmp(a->outcome, "ok") != 0 && strcmp(a->outcome, "refused") != 0))) {
                a->rc = EXCHANGE_TRANSIENT;
                snprintf(a->error, sizeof a->error, "connector %s gave no usable answer (outcome '%.16s')",
                         b->m[k].connector, a->outcome);
            }
        }
        i = j;
    }
}

/* thread-local xorshift for the back-off jitter */
static unsigned long long jitter_next(void)
{
    static _Thread_local unsigned long long s;
    if (!s && (random_bytes(&s, sizeof s) != 0 || !s)) s = (unsigned long long)exchange_now_ms() | 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

/* When a message that failed its attempts-th call is due again: backoff_ms doubling
 * with each attempt, capped at an hour, the second half of it random (jitter). */
static long long backoff_at(long long now, long long attempts)
{
    long long base = G.cfg ? G.cfg->exchange_backoff_ms : 1000, d = base;
    for (long long i = 1; i < attempts && d < BACKOFF_CAP_MS; i++) d *= 2;
    if (d > BACKOFF_CAP_MS) d = BACKOFF_CAP_MS;
    long long half = d / 2;
    return now + (d - half) + (long long)(jitter_next() % (unsigned long long)(half + 1));
}

static int settle_failure(store_conn *c, struct batch *b, size_t i, int permanent, const char *error)
{
    store_stmt *st = store_prepare(
        c, "UPDATE exchange_msg SET state = CASE WHEN $3 = 1 OR attempts >= $4 THEN 'dead' ELSE 'queued' END,"
           " next_at_ms = $5, last_error = $6, lease_owner = NULL, lease_until_ms = NULL"
           " WHERE id = $1 AND state = 'leased' AND lease_owner = $2");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, b->m[i].id);
    store_bind_text(st, 2, b->owner);
    store_bind_int64(st, 3, permanent ? 1 : 0);
    store_bind_int64(st, 4, b->max_attempts);
    store_bind_int64(st, 5, backoff_at(exchange_now_ms(), b->m[i].attempts));
    store_bind_text(st, 6, error[0] ? error : "failed");
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

static int complete_one(store_conn *c, struct batch *b, size_t i)
{
    struct exchange_answer *a = &b->ans[i];
    if (a->rc != EXCHANGE_ANSWERED) return settle_failure(c, b, i, a->rc == EXCHANGE_PERMANENT, a->error);
    long long now = exchange_now_ms();
    char day[11];
    exchange_day(now, day);
    const char *result = a->result.data ? a->result.data : "{}";
    store_stmt *st = store_prepare(
        c, "UPDATE exchange_msg SET state = 'done', outcome = $3, result = $4, done_ms = $5, day = $6,"
           " lease_owner = NULL, lease_until_ms = NULL, last_error = NULL"
           " WHERE id = $1 AND state = 'leased' AND lease_owner = $2 RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, b->m[i].id);
    store_bind_text(st, 2, b->owner);
    store_bind_text(st, 3, a->outcome);
    store_bind_text(st, 4, result);
    store_bind_int64(st, 5, now);
    store_bind_text(st, 6, day);
    int rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_DONE) return STORE_OK; /* the lease is no longer ours: another worker has it */
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    exchange_result_fn fn = handler_for(b->m[i].kind);
    if (!fn) return STORE_OK;
    rc = fn(c, b->m[i].id, b->m[i].case_id, b->m[i].kind, a->outcome, result);
    if (rc != STORE_OK) {
        b->handler_failed = 1;
        if (rc != STORE_BUSY)
            log_warn("exchange: result handler for %s failed on message %lld (%d)", b->m[i].kind, b->m[i].id,
                     rc);
    }
    return rc;
}

struct idpos {
    long long id;
    size_t i;
};

static int by_id(const void *x, const void *y)
{
    const struct idpos *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

/* PostgreSQL: every answered message of the batch marked done in one statement (a round
 * trip per message would make the network the bottleneck), then the result handlers of
 * those that were still ours, in the same transaction.  Failures go one by one. */
static int complete_bulk(store_conn *c, struct batch *b)
{
    long long now = exchange_now_ms();
    char day[11];
    exchange_day(now, day);
    json_t *rows = json_array();
    size_t answered = 0;
    for (size_t i = 0; rows && i < b->n; i++) {
        struct exchange_answer *a = &b->ans[i];
        if (a->rc != EXCHANGE_ANSWERED) continue;
        json_t *o = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)b->m[i].id, "outcome", a->outcome,
                              "result", a->result.data ? a->result.data : "{}");
        if (!o || json_array_append_new(rows, o) != 0) {
            json_decref(rows);
            return STORE_ERROR;
        }
        answered++;
    }
    char *text = rows ? json_dumps(rows, JSON_COMPACT) : NULL;
    json_decref(rows);
    if (!text) return STORE_ERROR;
    long long *ours = answered ? malloc(answered * sizeof *ours) : NULL;
    size_t nours = 0;
    int rc = STORE_OK;
    if (answered) {
        store_stmt *st =
            ours ? store_prepare(c, "UPDATE exchange_msg m SET state = 'done', outcome = x.outcome,"
                                    " result = x.result, done_ms = $2, day = $3, lease_owner = NULL,"
                                    " lease_until_ms = NULL, last_error = NULL"
                                    " FROM json_to_recordset($1::json) AS x(id bigint, outcome text,"
                                    " result text) WHERE m.id = x.id AND m.state = 'leased'"
                                    " AND m.lease_owner = $4 RETURNING m.id")
                 : NULL;
        if (!st) {
            free(text);
            free(ours);
            return STORE_ERROR;
        }
        store_bind_text(st, 1, text);
        store_bind_int64(st, 2, now);
        store_bind_text(st, 3, day);
        store_bind_text(st, 4, b->owner);
        while ((rc = store_step(st)) == STORE_ROW && nours < answered)
            ours[nours++] = store_column_int64(st, 0);
        store_finalize(st);
        rc = rc == STORE_DONE || rc == STORE_ROW ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
    }
    free(text);
    /* the batch is sorted by connector, then id: find each done message by id */
    struct idpos *order = rc == STORE_OK && nours ? malloc(b->n * sizeof *order) : NULL;
    if (rc == STORE_OK && nours && !order) rc = STORE_ERROR;
    if (order) {
        for (size_t i = 0; i < b->n; i++) order[i] = (struct idpos){b->m[i].id, i};
        qsort(order, b->n, sizeof *order, by_id);
    }
    for (size_t k = 0; order && k < nours && rc == STORE_OK; k++) {
        struct idpos key = {ours[k], 0}, *hit = bsearch(&key, order, b->n, sizeof *order, by_id);
        if (!hit) continue;
        const struct exchange_msg *m = &b->m[hit->i];
        const struct exchange_answer *a = &b->ans[hit->i];
        exchange_result_fn fn = handler_for(m->kind);
        if (!fn) continue;
        rc = fn(c, m->id, m->case_id, m->kind, a->outcome, a->result.data ? a->result.data : "{}");
        if (rc != STORE_OK) {
            b->handler_failed = 1;
            if (rc != STORE_BUSY)
                log_warn("exchange: result handler for %s failed on message %lld (%d)", m->kind, m->id, rc);
        }
    }
    free(order);
    free(ours);
    for (size_t i = 0; rc == STORE_OK && i < b->n; i++)
        if (b->ans[i].rc != EXCHANGE_ANSWERED)
            rc = settle_failure(c, b, i, b->ans[i].rc == EXCHANGE_PERMANENT, b->ans[i].error);
    return rc;
}

static int complete_tx(store_conn *c, void *arg)
{
    struct batch *b = arg;
    b->handler_failed = 0;
    if (b->only != (size_t)-1) return complete_one(c, b, b->only);
    if (store_conn_engine(c) == STORE_POSTGRES) return complete_bulk(c, b);
    for (size_t i = 0; i < b->n; i++) {
        int rc = complete_one(c, b, i);
        if (rc != STORE_OK) return rc;
    }
    return STORE_OK;
}

struct fail_one {
    struct batch *b;
    size_t i;
    const char *why;
};

static int fail_one_tx(store_conn *c, void *arg)
{
    struct fail_one *f = arg;
    return settle_failure(c, f->b, f->i, 0, f->why);
}

static void complete(struct batch *b)
{
    b->only = (size_t)-1;
    if (store_tx(G.db, 1, complete_tx, b) == STORE_OK) return;
    /* something in the batch failed (a result handler, most likely): one message at a
     * time, so the others are not held back; a failing one is retried with back-off */
    for (size_t i = 0; i < b->n; i++) {
        b->only = i;
        if (store_tx(G.db, 1, complete_tx, b) == STORE_OK) continue;
        struct fail_one f = {b, i, b->handler_failed ? "the result handler failed" : "completion failed"};
        if (store_tx(G.db, 1, fail_one_tx, &f) != STORE_OK)
            log_warn("exchange: message %lld stays leased until its lease expires", b->m[i].id);
    }
}

int exchange_run_once(const char *owner)
{
    if (!G.db || !G.cfg) return -1;
    size_t cap = (size_t)G.cfg->exchange_batch;
    struct batch b = {0};
    b.a = arena_new(16384);
    b.m = calloc(cap, sizeof *b.m);
    b.ans = calloc(cap, sizeof *b.ans);
    int out = -1;
    if (!b.a || !b.m || !b.ans) goto done;
    b.owner = owner;
    b.cap = cap;
    b.now = exchange_now_ms();
    b.until = b.now + G.cfg->exchange_lease_seconds * 1000;
    b.max_attempts = G.cfg->exchange_max_attempts;
    if (store_tx(G.db, 1, lease_tx, &b) != STORE_OK) goto done;
    out = (int)b.n;
    if (!b.n) goto done;
    call_connectors(&b);
    complete(&b);
done:
    for (size_t i = 0; b.ans && i < b.n; i++) sb_free(&b.ans[i].result);
    free(b.m);
    free(b.ans);
    if (b.a) arena_free(b.a);
    return out;
}

/* ---------- replay ---------- */

int exchange_replay(store_conn *c, long long id, char state_out[16])
{
    state_out[0] = 0;
    store_stmt *st =
        store_prepare(c, "UPDATE exchange_msg SET state = 'queued', attempts = 0, next_at_ms = $2,"
                         " lease_owner = NULL, lease_until_ms = NULL"
                         " WHERE id = $1 AND state = 'dead' RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, id);
    store_bind_int64(st, 2, exchange_now_ms());
    int rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_ROW) {
        snprintf(state_out, 16, "queued");
        exchange_kick();
        return STORE_OK;
    }
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    st = store_prepare(c, "SELECT state FROM exchange_msg WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, id);
    rc = store_step(st);
    if (rc == STORE_ROW) snprintf(state_out, 16, "%s", store_column_text(st, 0));
    store_finalize(st);
    if (rc == STORE_ROW) return 1;
    return rc == STORE_DONE ? STORE_DONE : rc < 0 ? rc : STORE_ERROR;
}

/* ---------- worker threads ---------- */

static pthread_mutex_t w_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cv = PTHREAD_COND_INITIALIZER;
static unsigned long long w_kicks;
static int w_stop;
static pthread_t w_threads[MAX_THREADS];
static int w_n;

void exchange_kick(void)
{
    pthread_mutex_lock(&w_mu);
    w_kicks++;
    pthread_cond_broadcast(&w_cv);
    pthread_mutex_unlock(&w_mu);
}

static void *worker_main(void *arg)
{
    int index = (int)(long)arg;
    char host[64] = "host", owner[160];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    long long seq = 0;
    double next_recon = 0;
    log_info("exchange worker %d started", index);
    for (;;) {
        pthread_mutex_lock(&w_mu);
        int stop = w_stop;
        unsigned long long kicks = w_kicks;
        pthread_mutex_unlock(&w_mu);
        if (stop) break;
        if (index == 0 && now_monotonic() >= next_recon) {
            exchange_reconcile_due(G.db, G.cfg);
            next_recon = now_monotonic() + 60;
        }
        snprintf(owner, sizeof owner, "%s:%d:%d:%lld", host, (int)getpid(), index, ++seq);
        int n = exchange_run_once(owner);
        if (n > 0) continue;
        /* idle (or the database failed): wait for a kick from this process, or poll */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ms = G.cfg->exchange_poll_ms;
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w_mu);
        if (!w_stop && (w_kicks == kicks || n < 0)) pthread_cond_timedwait(&w_cv, &w_mu, &until);
        pthread_mutex_unlock(&w_mu);
    }
    log_info("exchange worker %d stopped", index);
    return NULL;
}

int exchange_start(int nthreads)
{
    if (nthreads <= 0) return 0;
    if (!G.db || !G.cfg) {
        log_error("exchange: exchange_setup must come before exchange_start");
        return -1;
    }
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    pthread_mutex_lock(&w_mu);
    w_stop = 0;
    pthread_mutex_unlock(&w_mu);
    /* workers never take signals: those belong to the main thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (w_n = 0; w_n < nthreads; w_n++)
        if (pthread_create(&w_threads[w_n], NULL, worker_main, (void *)(long)w_n) != 0) {
            log_error("exchange: could not start worker %d", w_n);
            rc = -1;
            break;
        }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void exchange_stop(void)
{
    pthread_mutex_lock(&w_mu);
    w_stop = 1;
    pthread_cond_broadcast(&w_cv);
    pthread_mutex_unlock(&w_mu);
    for (int i = 0; i < w_n; i++) pthread_join(w_threads[i], NULL);
    w_n = 0;
}
