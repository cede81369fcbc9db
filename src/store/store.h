/*
 * store — ehall's storage interface: one narrow API, two small drivers.
 *
 * Like SQLite's VFS or Redis's ae_* backends, the rest of ehall sees only this header.
 * A store is opened from a URL (`sqlite:PATH` or `postgres://…`) and owns a pool of
 * connections.  SQL is written once with `$1, $2, …` placeholders, which both engines
 * accept; where the dialects differ, a migration carries one text per engine.
 *
 * Transactions go through store_tx(), which retries the whole function when the
 * engine reports a transient conflict (SQLite BUSY, PostgreSQL serialization failure
 * or deadlock), so callers write their transaction once as a plain function.
 *
 * Nothing here keeps per-process state that matters to correctness: several
 * `ehall serve` processes may share one PostgreSQL database.
 */
#ifndef EHALL_STORE_H
#define EHALL_STORE_H

#include <stddef.h>

struct strbuf;

typedef struct store store;
typedef struct store_conn store_conn;
typedef struct store_stmt store_stmt;

enum store_rc {
    STORE_OK = 0,
    STORE_ROW = 1,  /* store_step: a row is ready */
    STORE_DONE = 2, /* store_step: no more rows */
    STORE_ERROR = -1,
    STORE_BUSY = -2,       /* transient: lock or serialization conflict; retry */
    STORE_CONSTRAINT = -3, /* unique / foreign-key / check violation */
    STORE_UNAVAILABLE = -4 /* no connection could be had in time */
};

enum store_engine { STORE_SQLITE, STORE_POSTGRES };

struct store_options {
    int pool_size;            /* connections in the pool */
    int busy_timeout_ms;      /* wait for a lock / a pooled connection */
    int statement_timeout_ms; /* longest one statement may run (0 = none) */
};

int store_open(const char *url, const struct store_options *opt, store **out, char *err, size_t errlen);
void store_close(store *s);
enum store_engine store_engine_of(const store *s);
enum store_engine store_conn_engine(const store_conn *c);
const char *store_engine_name(const store *s);
/* The SQLite file path, or NULL for other engines. */
const char *store_sqlite_path(const store *s);

/* Connections: take one from the pool (NULL when none frees up in time), give it back. */
store_conn *store_acquire(store *s);
void store_release(store_conn *c);
const char *store_errmsg(store_conn *c);

/* Run SQL without parameters (may hold several statements). */
int store_exec(store_conn *c, const char *sql);

/* Prepared statements, cached per connection by SQL text.  Bind indexes are 1-based
 * ($1 = 1); column indexes 0-based.  Text returned stays valid until the next step
 * or finalize.  Always finalize (it resets and returns the statement to the cache). */
store_stmt *store_prepare(store_conn *c, const char *sql);
int store_bind_text(store_stmt *st, int idx, const char *v);
int store_bind_int64(store_stmt *st, int idx, long long v);
int store_bind_null(store_stmt *st, int idx);
int store_step(store_stmt *st);
int store_column_count(store_stmt *st);
const char *store_column_text(store_stmt *st, int col); /* NULL for SQL NULL */
long long store_column_int64(store_stmt *st, int col);
int store_column_is_null(store_stmt *st, int col);
void store_finalize(store_stmt *st);

/* Run fn inside a transaction, committing when it returns STORE_OK and rolling back
 * otherwise.  A STORE_BUSY anywhere (from fn, or the commit) rolls back and runs fn
 * again after a short randomised back-off, up to a bound.  `write` declares intent:
 * SQLite takes the write lock up front (BEGIN IMMEDIATE) so that the one writer is
 * chosen at the start rather than by a failed upgrade. */
typedef int (*store_tx_fn)(store_conn *c, void *arg);
int store_tx(store *s, int write, store_tx_fn fn, void *arg);

/* Ask for fn(s) to run once the transaction on c has committed, before store_tx
 * returns to its caller; nothing runs when it rolls back.  Callers that commit at the
 * same time share runs: each waits for (or leads) a run that starts after its own
 * commit, so fn must handle everything committed before it starts, not one caller's
 * work.  One such function per store (audit.c: chaining PostgreSQL's pending audit
 * records). */
void store_after_commit(store_conn *c, void (*fn)(store *s));

/* One-shot helpers for the common "one value" query. */
int store_query_int64(store_conn *c, const char *sql, long long *out);

/* Migrations (migrate.c). */
int store_migrate(store *s, char *err, size_t errlen);
/* on = 1: SQLite statements this thread runs are not interrupted at the statement
 * timeout (store_migrate, around its migrations: one may rebuild an index over millions
 * of rows); 0: they are again.  PostgreSQL's migrations say SET LOCAL statement_timeout. */
void store_thread_untimed(int on);
/* current = highest applied (0 when none), latest = highest this binary knows */
int store_schema_version(store *s, int *current, int *latest);
int store_migrations_latest(void);
/* SELECT 1 on a pooled connection. */
int store_ping(store *s);

/* Metrics: query-duration histogram and pool gauges, Prometheus text. */
void store_metrics_render(store *s, struct strbuf *sb);

#endif
