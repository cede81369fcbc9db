/*
 * postgres.c — the PostgreSQL driver on libpq.
 *
 * Statements are prepared once per connection (named s1, s2, …) and cached by SQL
 * text; PQdescribePrepared tells how many parameters each takes.  Results are fetched
 * whole and step() walks the rows.  SQLSTATE 40001 (serialization failure) and 40P01
 * (deadlock) and 55P03 (lock_timeout) become STORE_BUSY so store_tx() retries them; class 23 becomes
 * STORE_CONSTRAINT.  statement_timeout is set per connection.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store_internal.h"

#define CACHE_MAX  128
#define MAX_PARAMS 64

struct pg_stmt {
    struct store_stmt base;
    struct pg_conn *owner;
    char *sql;
    char name[16];
    int nparams, in_use;
    char *values[MAX_PARAMS];
    PGresult *res;
    int row, nrows;
};

struct pg_conn {
    PGconn *pg;
    struct pg_stmt cache[CACHE_MAX];
    int ncache, next_name;
    char err[512];
};

static void set_err(struct pg_conn *c, const char *msg)
{
    snprintf(c->err, sizeof c->err, "%s", msg ? msg : "unknown error");
    size_t n = strlen(c->err);
    while (n && (c->err[n - 1] == '\n' || c->err[n - 1] == ' ')) c->err[--n] = 0;
}

static int map_result(struct pg_conn *c, PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return STORE_OK;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    set_err(c, res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
    /* serialization failure, deadlock, lock_timeout: transient, store_tx retries */
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")))
        return STORE_BUSY;
    if (state && !strncmp(state, "23", 2)) return STORE_CONSTRAINT;
    log_error("postgres: %s%s%s", c->err, state ? " sqlstate=" : "", state ? state : "");
    return STORE_ERROR;
}

static void clear_stmt(struct pg_stmt *s)
{
    for (int i = 0; i < s->nparams; i++) {
        free(s->values[i]);
        s->values[i] = NULL;
    }
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    s->nrows = 0;
}

static void pg_disconnect(void *dc)
{
    struct pg_conn *c = dc;
    for (int i = 0; i < c->ncache; i++) {
        clear_stmt(&c->cache[i]);
        free(c->cache[i].sql);
    }
    PQfinish(c->pg);
    free(c);
}

static void quiet_notice(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res;
}

static void *pg_connect(const char *url, const struct store_options *opt, char *err, size_t errlen)
{
    struct pg_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->pg = PQconnectdb(url);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        snprintf(err, errlen, "postgres: %s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        size_t n = strlen(err);
        while (n && err[n - 1] == '\n') err[--n] = 0;
        PQfinish(c->pg);
        free(c);
        return NULL;
    }
    PQsetNoticeReceiver(c->pg, quiet_notice, NULL);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SET statement_timeout = %d; SET lock_timeout = %d; SET client_encoding = 'UTF8'",
             opt->statement_timeout_ms, opt->busy_timeout_ms);
    PGresult *res = PQexec(c->pg, sql);
    if (map_result(c, res) != STORE_OK) {
        snprintf(err, errlen, "postgres: %s", c->err);
        PQclear(res);
        pg_disconnect(c);
        return NULL;
    }
    PQclear(res);
    return c;
}

static int pg_broken(void *dc) { return PQstatus(((struct pg_conn *)dc)->pg) != CONNECTION_OK; }

static int pg_exec(void *dc, const char *sql)
{
    struct pg_conn *c = dc;
    PGresult *res = PQexec(c->pg, sql);
    int rc = map_result(c, res);
    PQclear(res);
    return rc;
}

static struct store_stmt *pg_prepare(void *dc, const char *sql)
{
    struct pg_conn *c = dc;
    for (int i = 0; i < c->ncache; i++)
        if (!c->cache[i].in_use && strcmp(c->cache[i].sql, sql) == 0) {
            c->cache[i].in_use = 1;
            return &c->cache[i].base;
        }
    int slot = -1;
    if (c->ncache < CACHE_MAX) {
        slot = c->ncache;
    } else {
        for (int i = 0; i < c->ncache && slot < 0; i++)
            if (!c->cache[i].in_use) slot = i;
        if (slot < 0) {
            set_err(c, "too many statements in use on one connection");
            return NULL;
        }
        char dealloc[48];
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", c->cache[slot].name);
        PQclear(PQexec(c->pg, dealloc));
        clear_stmt(&c->cache[slot]);
        free(c->cache[slot].sql);
        memset(&c->cache[slot], 0, sizeof c->cache[slot]);
    }
    struct pg_stmt *s = &c->cache[slot];
    snprintf(s->name, sizeof s->name, "s%d", ++c->next_name);
    PGresult *res = PQprepare(c->pg, s->name, sql, 0, NULL);
    int rc = map_result(c, res);
    PQclear(res);
    if (rc != STORE_OK) return NULL;
    res = PQdescribePrepared(c->pg, s->name);
    rc = map_result(c, res);
    int np = rc == STORE_OK ? PQnparams(res) : 0;
    PQclear(res);
    if (rc != STORE_OK || np > MAX_PARAMS || !(s->sql = strdup(sql))) {
        if (np > MAX_PARAMS) set_err(c, "too many parameters");
        char dealloc[48];
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", s->name);
        PQclear(PQexec(c->pg, dealloc));
        return NULL;
    }
    s->nparams = np;
    s->owner = c;
    s->row = -1;
    s->in_use = 1;
    if (slot == c->ncache) c->ncache++;
    return &s->base;
}

static int set_param(struct pg_stmt *s, int idx, char *v)
{
    if (idx < 1 || idx > s->nparams) {
        free(v);
        return STORE_ERROR;
    }
    free(s->values[idx - 1]);
    s->values[idx - 1] = v;
    return STORE_OK;
}

static int pg_bind_text(struct store_stmt *st, int idx, const char *v)
{
    char *copy = strdup(v);
    if (!copy) return STORE_ERROR;
    return set_param((struct pg_stmt *)st, idx, copy);
}

static int pg_bind_int64(struct store_stmt *st, int idx, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return pg_bind_text(st, idx, buf);
}

static int pg_bind_null(struct store_stmt *st, int idx) { return set_param((struct pg_stmt *)st, idx, NULL); }

static int pg_step(struct store_stmt *st)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    if (!s->res) {
        s->res =
            PQexecPrepared(s->owner->pg, s->name, s->nparams, (const char *const *)s->values, NULL, NULL, 0);
        int rc = map_result(s->owner, s->res);
        if (rc != STORE_OK) {
            PQclear(s->res);
            s->res = NULL;
            return rc;
        }
        s->nrows = PQresultStatus(s->res) == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
        s->row = -1;
    }
    if (s->row + 1 < s->nrows) {
        s->row++;
        return STORE_ROW;
    }
    s->row = s->nrows;
    return STORE_DONE;
}

static int pg_column_count(struct store_stmt *st)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    return s->res ? PQnfields(s->res) : 0;
}

static int valid_cell(struct pg_stmt *s, int col)
{
    return s->res && s->row >= 0 && s->row < s->nrows && col >= 0 && col < PQnfields(s->res);
}

static const char *pg_column_text(struct store_stmt *st, int col)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    if (!valid_cell(s, col) || PQgetisnull(s->res, s->row, col)) return NULL;
    return PQgetvalue(s->res, s->row, col);
}

static long long pg_column_int64(struct store_stmt *st, int col)
{
    const char *v = pg_column_text(st, col);
    if (!v) return 0;
    if (!strcmp(v, "t")) return 1; /* booleans come back as t/f */
    return strtoll(v, NULL, 10);
}

static int pg_column_is_null(struct store_stmt *st, int col)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    return !valid_cell(s, col) || PQgetisnull(s->res, s->row, col);
}

static void pg_finalize(struct store_stmt *st)
{
    struct pg_stmt *s = (struct pg_stmt *)st;
    clear_stmt(s);
    s->in_use = 0;
}

static const char *pg_errmsg(void *dc)
{
    struct pg_conn *c = dc;
    return c->err[0] ? c->err : PQerrorMessage(c->pg);
}

static const char *pg_begin_sql(int write)
{
    /* READ COMMITTED is PostgreSQL's default; code that needs more says so in SQL
     * (SELECT … FOR UPDATE, unique constraints). */
    (void)write;
    return "BEGIN";
}

const struct store_driver store_postgres_driver = {
    .name = "postgres",
    .engine = STORE_POSTGRES,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .broken = pg_broken,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .column_count = pg_column_count,
    .column_text = pg_column_text,
    .column_int64 = pg_column_int64,
    .column_is_null = pg_column_is_null,
    .finalize = pg_finalize,
    .errmsg = pg_errmsg,
    .begin_sql = pg_begin_sql,
};
