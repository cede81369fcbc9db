/*
 * store.c — the engine-independent half of the storage layer: URL dispatch, the
 * connection pool, transactions with retry, timing and metrics.  Drivers
 * (sqlite.c, postgres.c) only translate calls to their engine.
 *
 * The pool is a fixed array and a free list under one mutex.  A connection that the
 * driver reports broken (PostgreSQL restarted, say) is reconnected on release, so a
 * database restart costs the requests in flight at that moment and nothing more.
 *
 * Group commit (SQLite).  SQLite has one writer, and at synchronous=FULL each commit
 * waits for an fsync of the WAL (1–4 ms on the benchmark VM), so committing write
 * transactions one by one caps them at a few hundred a second whatever the CPUs could
 * do.  Write transactions therefore queue up: the first caller that finds no batch
 * running becomes the leader, takes every queued transaction, runs each inside its own
 * SAVEPOINT of one BEGIN IMMEDIATE … COMMIT on one connection, and wakes the others
 * when the COMMIT (and its fsync) has returned.  A transaction function that fails is
 * rolled back to its savepoint alone, so each caller still sees exactly its own
 * outcome, and nobody returns before the batch holding their changes is durable.  The
 * functions run one after another, in queue order, on the leader's thread: the same
 * serial order a single writer gives, with one fsync per batch instead of one per
 * transaction.  PostgreSQL groups concurrent commits' WAL flushes itself.
 *
 * A batch of several keeps its statement journals in memory (temp_store=MEMORY for the
 * batch alone; SQLite decides where they go at BEGIN).  Each SAVEPOINT journals the
 * pages its job changes that earlier jobs of the batch had changed too (the tails of
 * the same tables and indexes), and past 64 KiB SQLite spills that journal to a
 * temporary file: those pwrite()s were a third of the leader's time under concurrent
 * submissions (docs/performance.md, "Case engine").  The setting goes back to the
 * default afterwards, so the connection's big sorts still spill to disk.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/metrics.h"
#include "store/store_internal.h"

struct store {
    const struct store_driver *drv;
    char *url;
    char *sqlite_path;
    struct store_options opt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    store_conn *conns;
    int *free_stack, nfree, n;
    pthread_mutex_t write_mu; /* SQLite: the one writer */
    /* SQLite group commit: the queue of write transactions, and whether a leader runs */
    pthread_mutex_t gc_mu;
    struct gc_job *gc_head, **gc_tail;
    int gc_leader;
    /* store_after_commit: runs started and finished, and whether one is running */
    pthread_mutex_t ac_mu;
    pthread_cond_t ac_cv;
    unsigned long long ac_started, ac_done;
    int ac_running;
    struct histogram query_seconds;
    atomic_ullong retries, waits_timed_out, errors;
};

enum store_engine store_engine_of(const store *s) { return s->drv->engine; }
enum store_engine store_conn_engine(const store_conn *c) { return c->s->drv->engine; }
const char *store_engine_name(const store *s) { return s->drv->name; }
const char *store_sqlite_path(const store *s) { return s->sqlite_path; }

int store_open(const char *url, const struct store_options *opt, store **out, char *err, size_t errlen)
{
    const struct store_driver *drv;
    if (str_has_prefix(url, "sqlite:"))
        drv = &store_sqlite_driver;
    else if (str_has_prefix(url, "postgres://") || str_has_prefix(url, "postgresql://"))
        drv = &store_postgres_driver;
    else {
        snprintf(err, errlen, "db: '%s' must start with sqlite: or postgres://", url);
        return STORE_ERROR;
    }
    store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    s->drv = drv;
    s->opt = *opt;
    if (s->opt.pool_size < 1) s->opt.pool_size = 1;
    s->url = strdup(url);
    if (drv->engine == STORE_SQLITE) s->sqlite_path = strdup(url + strlen("sqlite:"));
    s->conns = calloc((size_t)s->opt.pool_size, sizeof *s->conns);
    s->free_stack = calloc((size_t)s->opt.pool_size, sizeof *s->free_stack);
    if (!s->url || !s->conns || !s->free_stack || (drv->engine == STORE_SQLITE && !s->sqlite_path)) {
        snprintf(err, errlen, "out of memory");
        store_close(s);
        return STORE_ERROR;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->gc_mu, NULL);
    pthread_mutex_init(&s->ac_mu, NULL);
    pthread_cond_init(&s->ac_cv, NULL);
    s->gc_tail = &s->gc_head;
    for (int i = 0; i < s->opt.pool_size; i++) {
        s->conns[i].s = s;
        s->conns[i].dc = drv->connect(url, &s->opt, err, errlen);
        if (!s->conns[i].dc) {
            store_close(s);
            return STORE_ERROR;
        }
        s->n++;
        s->free_stack[s->nfree++] = i;
    }
    *out = s;
    return STORE_OK;
}

void store_close(store *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        if (s->conns[i].dc) s->drv->disconnect(s->conns[i].dc);
    if (s->conns) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->write_mu);
        pthread_mutex_destroy(&s->gc_mu);
        pthread_mutex_destroy(&s->ac_mu);
        pthread_cond_destroy(&s->ac_cv);
    }
    free(s->conns);
    free(s->free_stack);
    free(s->url);
    free(s->sqlite_path);
    free(s);
}

store_conn *store_acquire(store *s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long ms = s->opt.busy_timeout_ms > 0 ? s->opt.busy_timeout_ms : 5000;
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->nfree == 0) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT && s->nfree == 0) {
            pthread_mutex_unlock(&s->mu);
            atomic_fetch_add(&s->waits_timed_out, 1);
            return NULL;
        }
    }
    int i = s->free_stack[--s->nfree];
    pthread_mutex_unlock(&s->mu);
    store_conn *c = &s->conns[i];
    if (!c->dc) { /* an earlier reconnect failed; try again now */
        char err[256];
        c->dc = s->drv->connect(s->url, &s->opt, err, sizeof err);
        if (!c->dc) {
            log_warn("store: reconnect failed: %s", err);
            store_release(c);
            return NULL;
        }
    }
    return c;
}

void store_release(store_conn *c)
{
    store *s = c->s;
    if (c->in_tx) { /* a caller forgot to finish; never hand out a connection mid-transaction */
        s->drv->exec(c->dc, "ROLLBACK");
        c->in_tx = 0;
    }
    if (c->dc && s->drv->broken(c->dc)) {
        char err[256];
        s->drv->disconnect(c->dc);
        c->dc = s->drv->connect(s->url, &s->opt, err, sizeof err);
        if (!c->dc) log_warn("store: reconnect failed: %s", err);
    }
    pthread_mutex_lock(&s->mu);
    s->free_stack[s->nfree++] = (int)(c - s->conns);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

const char *store_errmsg(store_conn *c) { return c->dc ? c->s->drv->errmsg(c->dc) : "no connection"; }

static int note(store *s, int rc, double t0)
{
    histogram_observe(&s->query_seconds, now_monotonic() - t0);
    if (rc == STORE_ERROR || rc == STORE_UNAVAILABLE) atomic_fetch_add(&s->errors, 1);
    return rc;
}

int store_exec(store_conn *c, const char *sql)
{
    double t0 = now_monotonic();
    return note(c->s, c->s->drv->exec(c->dc, sql), t0);
}

store_stmt *store_prepare(store_conn *c, const char *sql)
{
    struct store_stmt *st = c->s->drv->prepare(c->dc, sql);
    if (st)
        st->conn = c;
    else
        log_error("store: prepare failed: %s", c->s->drv->errmsg(c->dc));
    return st;
}

int store_bind_text(store_stmt *st, int idx, const char *v)
{
    return v ? st->conn->s->drv->bind_text(st, idx, v) : st->conn->s->drv->bind_null(st, idx);
}
int store_bind_int64(store_stmt *st, int idx, long long v)
{
    return st->conn->s->drv->bind_int64(st, idx, v);
}
int store_bind_null(store_stmt *st, int idx) { return st->conn->s->drv->bind_null(st, idx); }

int store_step(store_stmt *st)
{
    double t0 = now_monotonic();
    return note(st->conn->s, st->conn->s->drv->step(st), t0);
}

int store_column_count(store_stmt *st) { return st->conn->s->drv->column_count(st); }
const char *store_column_text(store_stmt *st, int col) { return st->conn->s->drv->column_text(st, col); }
long long store_column_int64(store_stmt *st, int col) { return st->conn->s->drv->column_int64(st, col); }
int store_column_is_null(store_stmt *st, int col) { return st->conn->s->drv->column_is_null(st, col); }
void store_finalize(store_stmt *st)
{
    if (st) st->conn->s->drv->finalize(st);
}

int store_query_int64(store_conn *c, const char *sql, long long *out)
{
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        *out = store_column_int64(st, 0);
        rc = STORE_OK;
    } else if (rc == STORE_DONE) {
        rc = STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

static void backoff(int attempt)
{
    unsigned char r;
    random_bytes(&r, 1);
    long us = (1000L << (attempt < 7 ? attempt : 7)) + (long)r * 20;
    if (us > 200000) us = 200000;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

enum { MAX_ATTEMPTS = 12 };

void store_after_commit(store_conn *c, void (*fn)(store *s)) { c->after_commit = fn; }

/* For a caller whose transaction has committed: wait for, or lead, a run of fn that
 * starts after this moment.  A run already going may have started before the commit,
 * so it does not count; everyone who arrives while it goes shares the next one. */
static void after_commit_run(store *s, void (*fn)(store *))
{
    pthread_mutex_lock(&s->ac_mu);
    unsigned long long need = s->ac_started + 1;
    while (s->ac_done < need) {
        if (s->ac_running) {
            pthread_cond_wait(&s->ac_cv, &s->ac_mu);
            continue;
        }
        s->ac_running = 1;
        unsigned long long mine = ++s->ac_started;
        pthread_mutex_unlock(&s->ac_mu);
        fn(s);
        pthread_mutex_lock(&s->ac_mu);
        s->ac_running = 0;
        s->ac_done = mine;
        pthread_cond_broadcast(&s->ac_cv);
    }
    pthread_mutex_unlock(&s->ac_mu);
}

enum gc_state { GC_QUEUED, GC_TAKEN, GC_DONE };

struct gc_job {
    store_tx_fn fn;
    void *arg;
    int rc;
    enum gc_state state;
    pthread_cond_t cv; /* its caller waits on it, under gc_mu */
    struct gc_job *next;
};

/* Run a batch of write transactions as one SQLite transaction (see the top of the
 * file): each job's rc is set.  A conflict (BUSY) anywhere rolls the whole batch back
 * and runs it again after a back-off, as store_tx does for one transaction. */
static void gc_run(store *s, struct gc_job *batch)
{
    int single = batch->next == NULL;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            atomic_fetch_add(&s->retries, 1);
            backoff(attempt);
        }
        store_conn *c = store_acquire(s);
        if (!c) {
            for (struct gc_job *j = batch; j; j = j->next) j->rc = STORE_UNAVAILABLE;
            return;
        }
        pthread_mutex_lock(&s->write_mu);
        /* statement journals in memory for the batch (see the top of the file) */
        if (!single) store_exec(c, "PRAGMA temp_store=MEMORY");
        int rc = store_exec(c, s->drv->begin_sql(1)), any = 0;
        c->after_commit = NULL;
        if (rc == STORE_OK) {
            c->in_tx = 1;
            for (struct gc_job *j = batch; j && rc == STORE_OK; j = j->next) {
                if (single) {
                    j->rc = j->fn(c, j->arg);
                } else if ((rc = store_exec(c, "SAVEPOINT store_gc")) == STORE_OK) {
                    j->rc = j->fn(c, j->arg);
                    if (j->rc != STORE_OK && j->rc != STORE_BUSY) rc = store_exec(c, "ROLLBACK TO store_gc");
                    if (rc == STORE_OK && j->rc != STORE_BUSY) rc = store_exec(c, "RELEASE store_gc");
                }
                if (j->rc == STORE_BUSY) rc = STORE_BUSY;
                if (j->rc == STORE_OK) any = 1;
            }
            if (rc == STORE_OK && any) {
                rc = store_exec(c, "COMMIT");
                if (rc != STORE_OK) store_exec(c, "ROLLBACK");
            } else {
                store_exec(c, "ROLLBACK");
            }
            c->in_tx = 0;
        }
        if (!single) store_exec(c, "PRAGMA temp_store=DEFAULT");
        pthread_mutex_unlock(&s->write_mu);
        void (*after)(store *) = rc == STORE_OK && any ? c->after_commit : NULL;
        c->after_commit = NULL;
        store_release(c);
        if (rc == STORE_BUSY) continue;
        if (after) after_commit_run(s, after); /* before any member of the batch returns */
        /* committed (or nothing to commit): each job keeps its own result; a failed
         * COMMIT or statement outside the jobs fails those that had succeeded */
        for (struct gc_job *j = batch; j; j = j->next)
            if (j->rc == STORE_OK && rc != STORE_OK) j->rc = rc;
        return;
    }
    log_warn("store: transaction gave up after %d conflicting attempts", MAX_ATTEMPTS);
    for (struct gc_job *j = batch; j; j = j->next) j->rc = STORE_BUSY;
}

/* Queue fn, and either wait for the batch that runs it or lead one.  Each caller waits
 * on a condition of its own, so ending a batch wakes its members and the next leader
 * rather than every queued thread. */
static int gc_tx(store *s, store_tx_fn fn, void *arg)
{
    struct gc_job me = {.fn = fn, .arg = arg, .rc = STORE_BUSY, .state = GC_QUEUED};
    pthread_cond_init(&me.cv, NULL);
    pthread_mutex_lock(&s->gc_mu);
    *s->gc_tail = &me;
    s->gc_tail = &me.next;
    while (me.state == GC_TAKEN || (me.state == GC_QUEUED && s->gc_leader))
        pthread_cond_wait(&me.cv, &s->gc_mu);
    if (me.state == GC_QUEUED) {
        /* no batch is running and ours is still queued: lead the next one */
        s->gc_leader = 1;
        struct gc_job *batch = s->gc_head;
        for (struct gc_job *j = batch; j; j = j->next) j->state = GC_TAKEN;
        s->gc_head = NULL;
        s->gc_tail = &s->gc_head;
        pthread_mutex_unlock(&s->gc_mu);
        gc_run(s, batch);
        pthread_mutex_lock(&s->gc_mu);
        for (struct gc_job *j = batch; j; j = j->next) {
            j->state = GC_DONE;
            if (j != &me) pthread_cond_signal(&j->cv);
        }
        s->gc_leader = 0;
        /* the first of those queued meanwhile leads the next batch */
        if (s->gc_head) pthread_cond_signal(&s->gc_head->cv);
    }
    pthread_mutex_unlock(&s->gc_mu);
    pthread_cond_destroy(&me.cv);
    return me.rc;
}

int store_tx(store *s, int write, store_tx_fn fn, void *arg)
{
    if (write && s->drv->engine == STORE_SQLITE) return gc_tx(s, fn, arg);
    int rc = STORE_BUSY;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            atomic_fetch_add(&s->retries, 1);
            backoff(attempt);
        }
        store_conn *c = store_acquire(s);
        if (!c) return STORE_UNAVAILABLE;
        rc = store_exec(c, s->drv->begin_sql(write));
        if (rc == STORE_OK) {
            c->in_tx = 1;
            c->after_commit = NULL;
            rc = fn(c, arg);
            if (rc == STORE_OK) {
                rc = store_exec(c, "COMMIT");
                if (rc != STORE_OK) store_exec(c, "ROLLBACK");
            } else {
                store_exec(c, "ROLLBACK");
            }
            c->in_tx = 0;
        }
        void (*after)(store *) = rc == STORE_OK ? c->after_commit : NULL;
        c->after_commit = NULL;
        store_release(c);
        if (after) after_commit_run(s, after);
        if (rc != STORE_BUSY) return rc;
    }
    log_warn("store: transaction gave up after %d conflicting attempts", MAX_ATTEMPTS);
    return rc;
}

int store_ping(store *s)
{
    store_conn *c = store_acquire(s);
    if (!c) return STORE_UNAVAILABLE;
    long long one = 0;
    int rc = store_query_int64(c, "SELECT 1", &one);
    store_release(c);
    return rc == STORE_OK && one == 1 ? STORE_OK : STORE_ERROR;
}

void store_metrics_render(store *s, struct strbuf *sb)
{
    char labels[64];
    snprintf(labels, sizeof labels, "engine=\"%s\"", s->drv->name);
    sb_printf(sb, "# HELP ehall_db_query_duration_seconds Time spent in one database statement.\n"
                  "# TYPE ehall_db_query_duration_seconds histogram\n");
    histogram_render(sb, "ehall_db_query_duration_seconds", labels, &s->query_seconds);
    pthread_mutex_lock(&s->mu);
    int nfree = s->nfree;
    pthread_mutex_unlock(&s->mu);
    sb_printf(sb,
              "# HELP ehall_db_pool_connections Database connections in the pool, by state.\n"
              "# TYPE ehall_db_pool_connections gauge\n"
              "ehall_db_pool_connections{state=\"idle\"} %d\n"
              "ehall_db_pool_connections{state=\"busy\"} %d\n"
              "# HELP ehall_db_tx_retries_total Transactions run again after a conflict.\n"
              "# TYPE ehall_db_tx_retries_total counter\n"
              "ehall_db_tx_retries_total %llu\n"
              "# HELP ehall_db_pool_timeouts_total Waits for a pooled connection that timed out.\n"
              "# TYPE ehall_db_pool_timeouts_total counter\n"
              "ehall_db_pool_timeouts_total %llu\n"
              "# HELP ehall_db_errors_total Statements that failed.\n"
              "# TYPE ehall_db_errors_total counter\n"
              "ehall_db_errors_total %llu\n",
              nfree, s->n - nfree, (unsigned long long)atomic_load(&s->retries),
              (unsigned long long)atomic_load(&s->waits_timed_out),
              (unsigned long long)atomic_load(&s->errors));
}
