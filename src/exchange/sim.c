/*
 * sim.c — the built-in simulated back-end, connector "sim".
 *
 * It stands for an external system (the core tax system, the population register …)
 * and behaves like a well-built one:
 *  - idempotent by the message's idem_key: each key is recorded once in its own
 *    ledger, sim_ledger (kept in ehall's database for the simulation; a real back-end
 *    has its own, which reconciliation reads from its export), and a repeated key is
 *    answered with the outcome recorded the first time — so a crash between the call
 *    and ehall's completion never makes the back-end act twice;
 *  - it refuses, with a reason, a message whose payload ({"item": CODE, "form": {…}})
 *    matches an entry of the item's test data: exchange.sim_dir/<CODE>.json, key
 *    "backend_refuse": [{"field": "form.x", "value": "…", "reason": "…"}] (reason is
 *    optional); no file, or no such key, approves everything;
 *  - otherwise it approves with a generated reference number.
 * For tests: exchange.sim_fail_rate injects transient failures (per mille; half of them
 * before the back-end records anything, half after — a lost reply), and
 * exchange.sim_delay_us adds latency per message.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/core.h"
#include "exchange/exchange.h"

/* ---------- the test data, read once per item and process ---------- */

#define CACHE_MAX 1024

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached {
    char code[65];
    json_t *refuse; /* the backend_refuse array, or NULL */
} cache[CACHE_MAX];
static int ncache;

static int code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* The refusal entries of an item (a new reference), or NULL when there are none. */
static json_t *refusals(const struct config *cfg, const char *code)
{
    json_t *out = NULL;
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < ncache; i++)
        if (!strcmp(cache[i].code, code)) {
            out = json_incref(cache[i].refuse);
            pthread_mutex_unlock(&cache_mu);
            return out;
        }
    pthread_mutex_unlock(&cache_mu);
    char path[700];
    snprintf(path, sizeof path, "%s/%s.json", cfg->exchange_sim_dir[0] ? cfg->exchange_sim_dir : ".", code);
    json_t *doc = NULL;
    if (access(path, F_OK) == 0) {
        json_error_t e;
        doc = json_load_file(path, 0, &e);
        if (!doc)
            log_warn("sim back-end: %s:%d: %s (approving everything for %s)", path, e.line, e.text, code);
    }
    json_t *r = doc ? json_object_get(doc, "backend_refuse") : NULL;
    if (r && json_is_array(r)) out = json_incref(r);
    json_decref(doc);
    pthread_mutex_lock(&cache_mu);
    if (ncache < CACHE_MAX) {
        int dup = 0;
        for (int i = 0; i < ncache; i++) dup |= !strcmp(cache[i].code, code);
        if (!dup) {
            snprintf(cache[ncache].code, sizeof cache[ncache].code, "%s", code);
            cache[ncache++].refuse = json_incref(out);
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return out;
}

/* The value at a dotted path ("form.x") in obj, or NULL. */
static json_t *at_path(json_t *obj, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = obj;
    for (char *save = NULL, *seg = strtok_r(buf, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
        v = json_is_object(v) ? json_object_get(v, seg) : NULL;
    return v;
}

static int same_value(json_t *got, json_t *want)
{
    if (json_equal(got, want)) return 1;
    if (!json_is_string(want)) return 0;
    char buf[64];
    if (json_is_integer(got))
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(got));
    else if (json_is_true(got) || json_is_false(got))
        snprintf(buf, sizeof buf, "%s", json_is_true(got) ? "true" : "false");
    else
        return 0;
    return !strcmp(buf, json_string_value(want));
}

/* Decide: "ok", or "refused" with a reason (written into reason). */
static const char *decide(const struct config *cfg, const char *payload, char *reason, size_t len)
{
    reason[0] = 0;
    json_t *p = json_loads(payload ? payload : "{}", 0, NULL);
    const char *item = json_string_value(json_object_get(p, "item"));
    const char *out = "ok";
    if (item && code_ok(item)) {
        json_t *r = refusals(cfg, item);
        size_t i;
        json_t *e;
        json_array_foreach(r, i, e)
        {
            const char *field = json_string_value(json_object_get(e, "field"));
            json_t *want = json_object_get(e, "value");
            json_t *got = field ? at_path(p, field) : NULL;
            if (!got || !want || !same_value(got, want)) continue;
            const char *why = json_string_value(json_object_get(e, "reason"));
            if (why)
                snprintf(reason, len, "%s", why);
            else if (json_is_string(want))
                snprintf(reason, len, "the back-end refuses %s = %s", field, json_string_value(want));
            else
                snprintf(reason, len, "the back-end refuses this value of %s", field);
            out = "refused";
            break;
        }
        json_decref(r);
    }
    json_decref(p);
    return out;
}

static void answer(struct exchange_answer *a, const char *outcome, const char *reference, const char *reason,
                   const char *at)
{
    a->rc = EXCHANGE_ANSWERED;
    snprintf(a->outcome, sizeof a->outcome, "%s", outcome);
    json_t *o = json_object();
    if (reference) json_object_set_new(o, "reference", json_string(reference));
    if (reason && *reason) json_object_set_new(o, "reason", json_string(reason));
    if (at) json_object_set_new(o, "at", json_string(at));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s) {
        a->result.len = 0;
        sb_printf(&a->result, "%s", s);
        free(s);
    } else {
        a->result.oom = 1;
    }
}

static unsigned draw_per_mille(void)
{
    unsigned v = 0;
    if (random_bytes(&v, sizeof v) != 0) return 999;
    return v % 1000;
}

/* ---------- the ledger ---------- */

struct rec {
    const struct exchange_msg *m;
    struct exchange_answer *ans;
    size_t n;
    const char (*outcome)[16];
    char (*reason)[200];
    char (*ref)[40];
    const unsigned char *skip; /* 1: failed before recording */
};

/* A reference number: SIM-YYYYMMDD-<12 hex digits> */
static int make_reference(const char *day, char out[40])
{
    unsigned char rnd[6];
    char hex[13];
    if (random_bytes(rnd, sizeof rnd) != 0) return -1;
    hex_encode(rnd, sizeof rnd, hex);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    snprintf(out, 40, "SIM-%.4s%.2s%.2s-%s", day, day + 5, day + 8, hex);
    return 0;
}

/* One statement per message (SQLite: the statements are local calls). */
static int record_rows(store_conn *c, struct rec *r, const char *ts, const char *day)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->skip[i]) continue;
        const struct exchange_msg *m = &r->m[i];
        store_stmt *st =
            store_prepare(c, "SELECT outcome, reference, reason, at FROM sim_ledger WHERE idem_key = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, m->idem_key);
        int rc = store_step(st);
        if (rc == STORE_ROW) { /* seen before: the same answer again */
            answer(&r->ans[i], store_column_text(st, 0), store_column_text(st, 1), store_column_text(st, 2),
                   store_column_text(st, 3));
            store_finalize(st);
            continue;
        }
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        st = store_prepare(
            c, "INSERT INTO sim_ledger(idem_key, kind, case_id, outcome, reference, reason, at, day)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, m->idem_key);
        store_bind_text(st, 2, m->kind);
        store_bind_int64(st, 3, m->case_id);
        store_bind_text(st, 4, r->outcome[i]);
        store_bind_text(st, 5, r->ref[i][0] ? r->ref[i] : NULL);
        store_bind_text(st, 6, r->reason[i][0] ? r->reason[i] : NULL);
        store_bind_text(st, 7, ts);
        store_bind_text(st, 8, day);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        answer(&r->ans[i], r->outcome[i], r->ref[i][0] ? r->ref[i] : NULL, r->reason[i], ts);
    }
    return STORE_OK;
}

struct keyed {
    const char *key;
    size_t i;
};

static int by_key(const void *x, const void *y)
{
    return strcmp(((const struct keyed *)x)->key, ((const struct keyed *)y)->key);
}

/* PostgreSQL: the whole batch in one statement (a round trip per message would make the
 * network the bottleneck).  New keys are inserted and returned; keys recorded before
 * are read back from the statement's snapshot.  A key another worker is recording at
 * this very moment is in neither: it gets no answer here and is retried. */
static int record_bulk(store_conn *c, struct rec *r, const char *ts, const char *day)
{
    json_t *rows = json_array();
    struct keyed *idx = malloc((r->n ? r->n : 1) * sizeof *idx);
    size_t k = 0;
    if (!rows || !idx) {
        json_decref(rows);
        free(idx);
        return STORE_ERROR;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (r->skip[i]) continue;
        idx[k++] = (struct keyed){r->m[i].idem_key, i};
        json_array_append_new(rows,
                              json_pack("{s:s, s:s, s:I, s:s, s:s?, s:s?}", "k", r->m[i].idem_key, "kind",
                                        r->m[i].kind, "case_id", (json_int_t)r->m[i].case_id, "outcome",
                                        r->outcome[i], "reference", r->ref[i][0] ? r->ref[i] : NULL, "reason",
                                        r->reason[i][0] ? r->reason[i] : NULL));
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    int rc = STORE_ERROR;
    store_stmt *st = NULL;
    if (!text || !k) {
        rc = text ? STORE_OK : STORE_ERROR;
        goto out;
    }
    qsort(idx, k, sizeof *idx, by_key);
    st = store_prepare(
        c, "WITH input AS (SELECT * FROM json_to_recordset($1::json) AS x(k text, kind text, case_id bigint,"
           " outcome text, reference text, reason text)),"
           " ins AS (INSERT INTO sim_ledger(idem_key, kind, case_id, outcome, reference, reason, at, day)"
           " SELECT k, kind, case_id, outcome, reference, reason, $2, $3 FROM input"
           " ON CONFLICT (idem_key) DO NOTHING RETURNING idem_key, outcome, reference, reason, at)"
           " SELECT idem_key, outcome, reference, reason, at FROM ins UNION ALL"
           " SELECT l.idem_key, l.outcome, l.reference, l.reason, l.at FROM sim_ledger l JOIN input ON "
           "l.idem_key = input.k");
    if (!st) goto out;
    store_bind_text(st, 1, text);
    store_bind_text(st, 2, ts);
    store_bind_text(st, 3, day);
    while ((rc = store_step(st)) == STORE_ROW) {
        const char *key = store_column_text(st, 0);
        size_t lo = 0, hi = k;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int d = strcmp(idx[mid].key, key);
            if (d == 0) {
                lo = mid;
                break;
            }
            if (d < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < k && !strcmp(idx[lo].key, key))
            answer(&r->ans[idx[lo].i], store_column_text(st, 1), store_column_text(st, 2),
                   store_column_text(st, 3), store_column_text(st, 4));
    }
    rc = rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
out:
    if (st) store_finalize(st);
    free(text);
    free(idx);
    return rc;
}

static int record_tx(store_conn *c, void *arg)
{
    struct rec *r = arg;
    long long now = exchange_now_ms();
    char ts[48], day[11];
    time_rfc3339((double)now / 1000.0, ts, sizeof ts);
    exchange_day(now, day);
    for (size_t i = 0; i < r->n; i++) { /* the transaction may run again */
        sb_free(&r->ans[i].result);
        r->ans[i].rc = EXCHANGE_TRANSIENT;
        snprintf(r->ans[i].error, sizeof r->ans[i].error,
                 "sim back-end: no answer (the key is being recorded)");
        r->ref[i][0] = 0;
        if (!r->skip[i] && !strcmp(r->outcome[i], "ok") && make_reference(day, r->ref[i]) != 0)
            return STORE_ERROR;
    }
    return store_conn_engine(c) == STORE_POSTGRES ? record_bulk(c, r, ts, day) : record_rows(c, r, ts, day);
}

static void sim_batch(const struct exchange_ctx *ctx, const struct exchange_msg *msgs, size_t n,
                      struct exchange_answer *ans)
{
    const struct config *cfg = ctx->cfg;
    char(*outcome)[16] = calloc(n, sizeof *outcome);
    char(*reason)[200] = calloc(n, sizeof *reason);
    char(*ref)[40] = calloc(n, sizeof *ref);
    unsigned char *skip = calloc(n, 1), *lost = calloc(n, 1);
    if (!outcome || !reason || !ref || !skip || !lost) {
        for (size_t i = 0; i < n; i++) {
            ans[i].rc = EXCHANGE_TRANSIENT;
            snprintf(ans[i].error, sizeof ans[i].error, "sim back-end: out of memory");
        }
        goto out;
    }
    if (cfg->exchange_sim_delay_us > 0) usleep((useconds_t)(cfg->exchange_sim_delay_us * (long long)n));
    for (size_t i = 0; i < n; i++) {
        snprintf(outcome[i], sizeof outcome[i], "%s",
                 decide(cfg, msgs[i].payload, reason[i], sizeof reason[i]));
        if (cfg->exchange_sim_fail_rate > 0 && draw_per_mille() < (unsigned)cfg->exchange_sim_fail_rate) {
            /* half the failures happen before the back-end records anything, half after
             * (the reply is lost on the way back) */
            if (draw_per_mille() < 500)
                skip[i] = 1;
            else
                lost[i] = 1;
        }
    }
    struct rec r = {msgs, ans, n, (const char(*)[16])outcome, reason, ref, skip};
    int rc = store_tx(ctx->db, 1, record_tx, &r);
    for (size_t i = 0; i < n; i++) {
        if (rc != STORE_OK || skip[i] || lost[i]) {
            sb_free(&ans[i].result);
            ans[i].rc = EXCHANGE_TRANSIENT;
            snprintf(ans[i].error, sizeof ans[i].error, "%s",
                     rc != STORE_OK ? "sim back-end: its ledger is unavailable"
                     : skip[i]      ? "sim back-end: injected failure before recording"
                                    : "sim back-end: injected failure, reply lost after recording");
        }
    }
out:
    free(outcome);
    free(reason);
    free(ref);
    free(skip);
    free(lost);
}

static int sim_call(const struct exchange_ctx *ctx, const struct exchange_msg *msg,
                    struct exchange_answer *ans)
{
    sim_batch(ctx, msg, 1, ans);
    return ans->rc;
}

/* A query: decided now, recorded nowhere. */
static int sim_query(const struct exchange_ctx *ctx, const char *kind, const char *payload,
                     struct exchange_answer *ans)
{
    (void)kind;
    char reason[200];
    const char *o = decide(ctx->cfg, payload, reason, sizeof reason);
    answer(ans, o, NULL, reason, NULL);
    return ans->rc;
}

const struct exchange_connector exchange_sim_connector = {"sim", sim_call, sim_batch, sim_query};
