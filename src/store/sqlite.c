/*
 * sqlite.c — the SQLite driver.
 *
 * Each connection opens the file in WAL mode with synchronous=FULL, so a commit that
 * returned is on disk (the "nothing acknowledged is lost" rule), and a busy timeout so
 * readers and the one writer wait for each other instead of failing.  Statements are
 * cached per connection by SQL text.  `$N` placeholders are SQLite named parameters;
 * binding looks the name up, so `$2 … $1` order in the text does not matter.
 * A statement timeout is enforced through the progress handler.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store_internal.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define CACHE_MAX 128

#define PMAP_MAX 64

struct sq_stmt {
    struct store_stmt base;
    sqlite3_stmt *st;
    char *sql;
    int in_use;
    struct sq_conn *owner;
    /* pmap[N]: SQLite's index of the parameter named $N (0: none), filled at prepare so
     * that binding does not format and look the name up each time */
    unsigned char pmap[PMAP_MAX];
};

struct sq_conn {
    sqlite3 *db;
    int timeout_ms;
    double deadline;
    struct sq_stmt cache[CACHE_MAX];
    int ncache;
};

static int progress_cb(void *arg)
{
    struct sq_conn *c = arg;
    return c->deadline > 0 && now_monotonic() > c->deadline; /* non-zero interrupts */
}

static void sq_disconnect(void *dc)
{
    struct sq_conn *c = dc;
    for (int i = 0; i < c->ncache; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

/* Each pooled connection keeps its own page cache, and a commit on one connection
 * makes every other one drop its cache at its next read.  glibc then hands the freed
 * pages of each thread's arena back to the kernel (madvise) as soon as 128 KiB lie free
 * at its top, and the next read faults them in again: under concurrent submissions
 * that churn took about a third of ehall's CPU, and halved the submissions/s (see
 * docs/performance.md, "Case engine").  Keep up to 256 MiB free per arena instead: the
 * resident size then stays at the high-water mark of the load (42 MiB after the
 * benchmark's 32 connections, against 28 MiB) rather than shrinking after each burst. */
static void malloc_keep(void)
{
#ifdef __GLIBC__
    mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
#endif
}

static void *sq_connect(const char *url, const struct store_options *opt, char *err, size_t errlen)
{
    const char *path = url + strlen("sqlite:");
    if (!*path) {
        snprintf(err, errlen, "db: sqlite: URL needs a file path");
        return NULL;
    }
    struct sq_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->timeout_ms = opt->statement_timeout_ms;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, malloc_keep);
    int rc =
        sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite %s: %s", path, c->db ? sqlite3_errmsg(c->db) : "cannot open");
        sqlite3_close_v2(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, opt->busy_timeout_ms);
    sqlite3_progress_handler(c->db, 10000, progress_cb, c);
    char *msg = NULL;
    rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sq_disconnect(c);
        return NULL;
    }
    return c;
}

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: return STORE_OK;
    case SQLITE_ROW: return STORE_ROW;
    case SQLITE_DONE: return STORE_DONE;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return STORE_BUSY;
    case SQLITE_CONSTRAINT: return STORE_CONSTRAINT;
    default: return STORE_ERROR;
    }
}

/* Set by store_thread_untimed: this thread's statements run without a deadline. */
static _Thread_local int untimed;

void store_thread_untimed(int on) { untimed = on; }

static void arm(struct sq_conn *c)
{
    c->deadline = c->timeout_ms > 0 && !untimed ? now_monotonic() + c->timeout_ms / 1000.0 : 0;
}

static int sq_broken(void *dc)
{
    (void)dc;
    return 0;
}

static int sq_exec(void *dc, const char *sql)
{
    struct sq_conn *c = dc;
    arm(c);
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    c->deadline = 0;
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
        log_error("sqlite: %s (in: %.200s)", sqlite3_errmsg(c->db), sql);
    return map_rc(rc);
}

static struct store_stmt *sq_prepare(void *dc, const char *sql)
{
    struct sq_conn *c = dc;
    for (int i = 0; i < c->ncache; i++)
        if (!c->cache[i].in_use && strcmp(c->cache[i].sql, sql) == 0) {
            c->cache[i].in_use = 1;
            return &c->cache[i].base;
        }
    /* Not cached (or the cached copy is in use by a nested query): prepare a new one. */
    int slot = -1;
    if (c->ncache < CACHE_MAX) {
        slot = c->ncache;
    } else {
        for (int i = 0; i < c->ncache && slot < 0; i++)
            if (!c->cache[i].in_use) slot = i; /* evict the first idle one */
        if (slot < 0) return NULL;
        sqlite3_finalize(c->cache[slot].st);
        free(c->cache[slot].sql);
        memset(&c->cache[slot], 0, sizeof c->cache[slot]);
    }
    struct sq_stmt *s = &c->cache[slot];
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) != SQLITE_OK || !s->st) {
        sqlite3_finalize(s->st);
        s->st = NULL;
        return NULL;
    }
    s->sql = strdup(sql);
    if (!s->sql) {
        sqlite3_finalize(s->st);
        s->st = NULL;
        return NULL;
    }
    s->in_use = 1;
    s->owner = c;
    int np = sqlite3_bind_parameter_count(s->st);
    for (int i = 1; i <= np && i < 256; i++) {
        const char *name = sqlite3_bind_parameter_name(s->st, i);
        long long n;
        if (name && name[0] == '$' && parse_int64(name + 1, &n) == 0 && n > 0 && n < PMAP_MAX)
            s->pmap[n] = (unsigned char)i;
    }
    if (slot == c->ncache) c->ncache++;
    return &s->base;
}

static int param_index(struct sq_stmt *s, int idx)
{
    if (idx > 0 && idx < PMAP_MAX) return s->pmap[idx] ? s->pmap[idx] : -1;
    char name[16];
    snprintf(name, sizeof name, "$%d", idx);
    int i = sqlite3_bind_parameter_index(s->st, name);
    return i > 0 ? i : -1;
}

static int sq_bind_text(struct store_stmt *st, int idx, const char *v)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    int i = param_index(s, idx);
    if (i < 0) return STORE_ERROR;
    return map_rc(sqlite3_bind_text(s->st, i, v, -1, SQLITE_TRANSIENT));
}

static int sq_bind_int64(struct store_stmt *st, int idx, long long v)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    int i = param_index(s, idx);
    if (i < 0) return STORE_ERROR;
    return map_rc(sqlite3_bind_int64(s->st, i, v));
}

static int sq_bind_null(struct store_stmt *st, int idx)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    int i = param_index(s, idx);
    if (i < 0) return STORE_ERROR;
    return map_rc(sqlite3_bind_null(s->st, i));
}

static int sq_step(struct store_stmt *st)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    arm(s->owner);
    int rc = sqlite3_step(s->st);
    s->owner->deadline = 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && (rc & 0xff) != SQLITE_BUSY &&
        (rc & 0xff) != SQLITE_CONSTRAINT)
        log_error("sqlite: %s", sqlite3_errmsg(sqlite3_db_handle(s->st)));
    return map_rc(rc);
}

static int sq_column_count(struct store_stmt *st) { return sqlite3_column_count(((struct sq_stmt *)st)->st); }

static const char *sq_column_text(struct store_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(((struct sq_stmt *)st)->st, col);
}

static long long sq_column_int64(struct store_stmt *st, int col)
{
    return sqlite3_column_int64(((struct sq_stmt *)st)->st, col);
}

static int sq_column_is_null(struct store_stmt *st, int col)
{
    return sqlite3_column_type(((struct sq_stmt *)st)->st, col) == SQLITE_NULL;
}

static void sq_finalize(struct store_stmt *st)
{
    struct sq_stmt *s = (struct sq_stmt *)st;
    sqlite3_reset(s->st);
    sqlite3_clear_bindings(s->st);
    s->in_use = 0;
}

static const char *sq_errmsg(void *dc) { return sqlite3_errmsg(((struct sq_conn *)dc)->db); }

static const char *sq_begin_sql(int write) { return write ? "BEGIN IMMEDIATE" : "BEGIN"; }

const struct store_driver store_sqlite_driver = {
    .name = "sqlite",
    .engine = STORE_SQLITE,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .broken = sq_broken,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .bind_text = sq_bind_text,
    .bind_int64 = sq_bind_int64,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .column_count = sq_column_count,
    .column_text = sq_column_text,
    .column_int64 = sq_column_int64,
    .column_is_null = sq_column_is_null,
    .finalize = sq_finalize,
    .errmsg = sq_errmsg,
    .begin_sql = sq_begin_sql,
};
