/*
 * uselog.c — the licence usage log (licence_use) and the served-call counters of the
 * daily report.  Shares, share views and gateway calls log in their own transaction
 * (licence_use_log); the public status check logs through an in-memory ring buffer that
 * a thread writes out in batches about once a second (licence_use_note), so the check
 * itself stays one indexed read.  What can be lost, and how the report shows it, is in
 * docs/licences.md "The usage log".
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "licence/internal.h"
#include "licence/licence.h"

#define BUF_CAP    65536
#define BATCH_ROWS 1000 /* rows per INSERT */
#define NCOUNTERS  32

struct use_ent {
    long long at_ms;
    char day[11];
    char licence[LICENCE_ID_MAX];
    char action[16], who_kind[8], who[48], scenario[48], result[16];
};

struct counter {
    char day[11], action[16];
    long long served, dropped;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static struct use_ent *g_buf;
static size_t g_head, g_len; /* ring: g_len entries from g_head */
static struct counter g_cnt[NCOUNTERS];
static int g_ncnt;
static store *g_store;
static pthread_t g_thread;
static int g_running, g_stop;

static void today(long long ms, char out[11])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static long long now_ms(void) { return (long long)(now_wall() * 1000.0); }

/* under g_mu */
static void count_locked(const char *day, const char *action, long long served, long long dropped)
{
    for (int i = 0; i < g_ncnt; i++)
        if (!strcmp(g_cnt[i].day, day) && !strcmp(g_cnt[i].action, action)) {
            g_cnt[i].served += served;
            g_cnt[i].dropped += dropped;
            return;
        }
    if (g_ncnt == NCOUNTERS) return; /* cannot happen: a handful of actions over two days */
    struct counter *c = &g_cnt[g_ncnt++];
    snprintf(c->day, sizeof c->day, "%s", day);
    snprintf(c->action, sizeof c->action, "%s", action);
    c->served = served;
    c->dropped = dropped;
}

void licence_use_served(const char *action)
{
    char day[11];
    today(now_ms(), day);
    pthread_mutex_lock(&g_mu);
    count_locked(day, action, 1, 0);
    pthread_mutex_unlock(&g_mu);
}

void licence_use_note(const char *licence_no, const char *action, const char *who_kind, const char *who,
                      const char *scenario, const char *result)
{
    long long ms = now_ms();
    char day[11];
    today(ms, day);
    pthread_mutex_lock(&g_mu);
    if (!g_buf) g_buf = calloc(BUF_CAP, sizeof *g_buf);
    if (!g_buf || g_len == BUF_CAP) {
        count_locked(day, action, 0, 1);
        pthread_mutex_unlock(&g_mu);
        return;
    }
    struct use_ent *e = &g_buf[(g_head + g_len) % BUF_CAP];
    g_len++;
    e->at_ms = ms;
    memcpy(e->day, day, sizeof e->day);
    snprintf(e->licence, sizeof e->licence, "%s", licence_no);
    snprintf(e->action, sizeof e->action, "%s", action);
    snprintf(e->who_kind, sizeof e->who_kind, "%s", who_kind);
    snprintf(e->who, sizeof e->who, "%s", who ? who : "");
    snprintf(e->scenario, sizeof e->scenario, "%s", scenario ? scenario : "");
    snprintf(e->result, sizeof e->result, "%s", result);
    if (g_len >= BUF_CAP / 4) pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

static int bind_ent(store_stmt *st, int base, const struct use_ent *e)
{
    store_bind_int64(st, base + 1, e->at_ms);
    store_bind_text(st, base + 2, e->day);
    store_bind_text(st, base + 3, e->licence);
    store_bind_text(st, base + 4, e->action);
    store_bind_text(st, base + 5, e->who_kind);
    store_bind_text(st, base + 6, e->who);
    if (e->scenario[0])
        store_bind_text(st, base + 7, e->scenario);
    else
        store_bind_null(st, base + 7);
    store_bind_text(st, base + 8, e->result);
    return 0;
}

int licence_use_log(store_conn *c, const char *licence_no, const char *action, const char *who_kind,
                    const char *who, const char *scenario, const char *result)
{
    struct use_ent e;
    memset(&e, 0, sizeof e);
    e.at_ms = now_ms();
    today(e.at_ms, e.day);
    snprintf(e.licence, sizeof e.licence, "%s", licence_no);
    snprintf(e.action, sizeof e.action, "%s", action);
    snprintf(e.who_kind, sizeof e.who_kind, "%s", who_kind);
    snprintf(e.who, sizeof e.who, "%s", who ? who : "");
    snprintf(e.scenario, sizeof e.scenario, "%s", scenario ? scenario : "");
    snprintf(e.result, sizeof e.result, "%s", result);
    store_stmt *st = store_prepare(c, "INSERT INTO licence_use(at_ms, day, licence_no, action, who_kind, who,"
                                      " scenario, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    if (!st) return STORE_ERROR;
    bind_ent(st, 0, &e);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc == STORE_OK ? STORE_ERROR : rc;
}

struct flush {
    struct use_ent *ents;
    size_t n;
    struct counter cnt[NCOUNTERS];
    int ncnt;
};

/* The rows go in as one JSON array parameter per statement (the store allows few
 * parameters), unpacked by the engine: [[at_ms, day, licence, action, who_kind, who,
 * scenario|null, result], ...]. */
static const char *const MULTI_SQLITE =
    "INSERT INTO licence_use(at_ms, day, licence_no, action, who_kind, who, scenario, result)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
    " json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),"
    " json_extract(value, '$[6]'), json_extract(value, '$[7]') FROM json_each($1)";
static const char *const MULTI_PG =
    "INSERT INTO licence_use(at_ms, day, licence_no, action, who_kind, who, scenario, result)"
    " SELECT (e->>0)::bigint, e->>1, e->>2, e->>3, e->>4, e->>5, e->>6, e->>7"
    " FROM jsonb_array_elements($1::jsonb) AS e";

static int flush_tx(store_conn *c, void *arg)
{
    struct flush *f = arg;
    const char *sql = store_conn_engine(c) == STORE_POSTGRES ? MULTI_PG : MULTI_SQLITE;
    for (size_t i = 0; i < f->n; i += BATCH_ROWS) {
        json_t *rows = json_array();
        for (size_t k = i; k < f->n && k < i + BATCH_ROWS; k++) {
            const struct use_ent *e = &f->ents[k];
            json_array_append_new(rows, json_pack("[I, s, s, s, s, s, o, s]", (json_int_t)e->at_ms, e->day,
                                                  e->licence, e->action, e->who_kind, e->who,
                                                  e->scenario[0] ? json_string(e->scenario) : json_null(),
                                                  e->result));
        }
        char *text = json_dumps(rows, JSON_COMPACT);
        json_decref(rows);
        if (!text) return STORE_ERROR;
        store_stmt *st = store_prepare(c, sql);
        if (!st) {
            free(text);
            return STORE_ERROR;
        }
        store_bind_text(st, 1, text);
        int rc = store_step(st);
        store_finalize(st);
        free(text);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    }
    for (int k = 0; k < f->ncnt; k++) {
        store_stmt *st = store_prepare(
            c, "INSERT INTO licence_use_count(day, action, served, dropped) VALUES ($1, $2, $3, $4)"
               " ON CONFLICT (day, action) DO UPDATE SET served = licence_use_count.served + excluded.served,"
               " dropped = licence_use_count.dropped + excluded.dropped");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, f->cnt[k].day);
        store_bind_text(st, 2, f->cnt[k].action);
        store_bind_int64(st, 3, f->cnt[k].served);
        store_bind_int64(st, 4, f->cnt[k].dropped);
        int rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    }
    return STORE_OK;
}

int licence_use_flush(store *s)
{
    struct flush f;
    memset(&f, 0, sizeof f);
    pthread_mutex_lock(&g_mu);
    f.n = g_len;
    if (f.n) {
        f.ents = malloc(f.n * sizeof *f.ents);
        if (!f.ents) {
            pthread_mutex_unlock(&g_mu);
            return STORE_ERROR;
        }
        for (size_t i = 0; i < f.n; i++) f.ents[i] = g_buf[(g_head + i) % BUF_CAP];
        g_head = (g_head + f.n) % BUF_CAP;
        g_len = 0;
    }
    f.ncnt = g_ncnt;
    memcpy(f.cnt, g_cnt, sizeof f.cnt);
    g_ncnt = 0;
    pthread_mutex_unlock(&g_mu);
    if (!f.n && !f.ncnt) return STORE_OK;
    int rc = store_tx(s, 1, flush_tx, &f);
    if (rc != STORE_OK) {
        /* the counters go back; the entries are lost and counted as dropped */
        log_msg(LOG_ERROR, "licence usage log: %zu entries could not be written (%d)", f.n, rc);
        pthread_mutex_lock(&g_mu);
        for (int k = 0; k < f.ncnt; k++)
            count_locked(f.cnt[k].day, f.cnt[k].action, f.cnt[k].served, f.cnt[k].dropped);
        for (size_t i = 0; i < f.n; i++) count_locked(f.ents[i].day, f.ents[i].action, 0, 1);
        pthread_mutex_unlock(&g_mu);
    }
    free(f.ents);
    return rc;
}

static void *flusher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    while (!g_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&g_cv, &g_mu, &until);
        if (g_stop) break;
        pthread_mutex_unlock(&g_mu);
        licence_use_flush(g_store);
        pthread_mutex_lock(&g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

void licence_use_start(store *s)
{
    pthread_mutex_lock(&g_mu);
    g_store = s;
    g_stop = 0;
    if (!g_buf) g_buf = calloc(BUF_CAP, sizeof *g_buf);
    pthread_mutex_unlock(&g_mu);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    g_running = pthread_create(&g_thread, NULL, flusher, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void licence_use_stop(void)
{
    if (g_running) {
        pthread_mutex_lock(&g_mu);
        g_stop = 1;
        pthread_cond_signal(&g_cv);
        pthread_mutex_unlock(&g_mu);
        pthread_join(g_thread, NULL);
        g_running = 0;
    }
    if (g_store) licence_use_flush(g_store);
}

int licence_use_report(store *s, const char *day, json_t **out)
{
    *out = NULL;
    store_conn *c = store_acquire(s);
    if (!c) return STORE_UNAVAILABLE;
    json_t *acts = json_object(); /* action -> {served, logged, dropped} */
    static const char *const known[] = {"status", "verify", "share_create", "share_view", "check",
                                        "fetch",  NULL};
    for (int i = 0; known[i]; i++)
        json_object_set_new(acts, known[i],
                            json_pack("{s:I, s:I, s:I}", "served", (json_int_t)0, "logged", (json_int_t)0,
                                      "dropped", (json_int_t)0));
    int rc = STORE_DONE;
    store_stmt *st = store_prepare(c, "SELECT action, served, dropped FROM licence_use_count WHERE day = $1");
    if (!st) rc = STORE_ERROR;
    if (st) {
        store_bind_text(st, 1, day);
        while ((rc = store_step(st)) == STORE_ROW) {
            const char *a = store_column_text(st, 0);
            json_t *o = json_object_get(acts, a);
            if (!o)
                json_object_set_new(acts, a,
                                    o = json_pack("{s:I, s:I, s:I}", "served", (json_int_t)0, "logged",
                                                  (json_int_t)0, "dropped", (json_int_t)0));
            json_object_set_new(o, "served", json_integer(store_column_int64(st, 1)));
            json_object_set_new(o, "dropped", json_integer(store_column_int64(st, 2)));
        }
        store_finalize(st);
    }
    if (rc == STORE_DONE) {
        st = store_prepare(c, "SELECT action, COUNT(*) FROM licence_use WHERE day = $1 GROUP BY action");
        if (!st) rc = STORE_ERROR;
        if (st) {
            store_bind_text(st, 1, day);
            while ((rc = store_step(st)) == STORE_ROW) {
                const char *a = store_column_text(st, 0);
                json_t *o = json_object_get(acts, a);
                if (!o)
                    json_object_set_new(acts, a,
                                        o = json_pack("{s:I, s:I, s:I}", "served", (json_int_t)0, "logged",
                                                      (json_int_t)0, "dropped", (json_int_t)0));
                json_object_set_new(o, "logged", json_integer(store_column_int64(st, 1)));
            }
            store_finalize(st);
        }
    }
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(acts);
        return rc;
    }
    json_t *list = json_array();
    int balanced = 1;
    const char *k;
    json_t *o;
    json_object_foreach(acts, k, o)
    {
        long long served = json_integer_value(json_object_get(o, "served"));
        long long logged = json_integer_value(json_object_get(o, "logged"));
        long long dropped = json_integer_value(json_object_get(o, "dropped"));
        long long un = served - logged - dropped;
        if (un != 0) balanced = 0;
        json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:I, s:I}", "action", k, "served",
                                              (json_int_t)served, "logged", (json_int_t)logged, "dropped",
                                              (json_int_t)dropped, "unaccounted", (json_int_t)un));
    }
    json_decref(acts);
    *out = json_pack("{s:s, s:o, s:b}", "date", day, "actions", list, "balanced", balanced);
    return STORE_OK;
}
