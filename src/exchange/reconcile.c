/*
 * reconcile.c — 流水对账: ehall's ledger against the back-end's, for one day.
 *
 * ehall's ledger is the messages done on the day (exchange_msg.day, the local date of
 * completion); the back-end's is what it recorded on the day — for the built-in
 * simulated back-end its table sim_ledger; a real connector reconciles against the
 * back-end's own ledger export, loaded into the same shape.  Entries are matched by
 * idempotency key.  Reported:
 *   missing     a key on one side only (both directions); an entry whose counterpart
 *               was recorded on the neighbouring day (a call just before midnight
 *               completed just after) is matched, not missing;
 *   duplicated  a key the back-end recorded more than once, or one case and kind the
 *               back-end acted on under two keys (it did the same thing twice);
 *   mismatched  both sides have the key but the outcome or the reference differ.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "core/config.h"
#include "core/core.h"
#include "exchange/exchange.h"

#define PAGE       5000
#define LIST_LIMIT 1000

struct entry {
    char *key, *kind, *outcome, *reference;
    long long case_id;
};

struct side {
    struct entry *e;
    size_t n, cap;
};

static void side_free(struct side *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].key);
        free(s->e[i].kind);
        free(s->e[i].outcome);
        free(s->e[i].reference);
    }
    free(s->e);
    memset(s, 0, sizeof *s);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int side_add(struct side *s, const char *key, const char *kind, long long case_id, const char *outcome,
                    const char *reference)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        struct entry *e = realloc(s->e, cap * sizeof *e);
        if (!e) return -1;
        s->e = e;
        s->cap = cap;
    }
    struct entry *e = &s->e[s->n];
    e->key = strdup(key);
    e->kind = strdup(kind ? kind : "");
    e->outcome = strdup(outcome ? outcome : "");
    e->reference = dup_or_null(reference);
    e->case_id = case_id;
    if (!e->key || !e->kind || !e->outcome || (reference && !e->reference)) {
        free(e->key);
        free(e->kind);
        free(e->outcome);
        free(e->reference);
        return -1;
    }
    s->n++;
    return 0;
}

/* the reference in a connector's result JSON, copied into out ("" when none) */
static void result_reference(const char *result, char *out, size_t len)
{
    out[0] = 0;
    json_t *o = result ? json_loads(result, 0, NULL) : NULL;
    const char *r = json_string_value(json_object_get(o, "reference"));
    if (r) snprintf(out, len, "%s", r);
    json_decref(o);
}

struct load {
    const char *day;
    struct side *side;
    int ehall; /* 1: exchange_msg, 0: sim_ledger */
    char after[256];
    size_t got;
};

static int load_page_tx(store_conn *c, void *arg)
{
    struct load *l = arg;
    size_t start = l->side->n;
    l->got = 0;
    /* ehall's side: the messages of the simulated back-end only (other connectors, such as
     * the licence signer, keep no ledger in sim_ledger) */
    store_stmt *st = store_prepare(
        c, l->ehall ? "SELECT idem_key, kind, case_id, outcome, result FROM exchange_msg"
                      " WHERE day = $1 AND state = 'done' AND connector = 'sim' AND idem_key > $2"
                      " ORDER BY idem_key LIMIT 5000"
                    : "SELECT idem_key, kind, case_id, outcome, reference FROM sim_ledger"
                      " WHERE day = $1 AND idem_key > $2 ORDER BY idem_key LIMIT 5000");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, l->day);
    store_bind_text(st, 2, l->after);
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        char ref[128];
        const char *reference = store_column_text(st, 4);
        if (l->ehall) {
            result_reference(reference, ref, sizeof ref);
            reference = ref[0] ? ref : NULL;
        }
        if (side_add(l->side, store_column_text(st, 0), store_column_text(st, 1), store_column_int64(st, 2),
                     store_column_text(st, 3), reference) != 0) {
            store_finalize(st);
            return STORE_ERROR;
        }
        snprintf(l->after, sizeof l->after, "%s", store_column_text(st, 0));
        l->got++;
    }
    store_finalize(st);
    if (rc != STORE_DONE) {
        /* the transaction may be run again: forget this page */
        while (l->side->n > start) {
            struct entry *e = &l->side->e[--l->side->n];
            free(e->key);
            free(e->kind);
            free(e->outcome);
            free(e->reference);
        }
        return rc < 0 ? rc : STORE_ERROR;
    }
    return STORE_OK;
}

static int load_side(store *db, const char *day, int ehall, struct side *out)
{
    struct load l = {day, out, ehall, "", 0};
    do {
        int rc = store_tx(db, 0, load_page_tx, &l);
        if (rc != STORE_OK) return rc;
    } while (l.got == PAGE);
    return STORE_OK;
}

static int by_key(const void *x, const void *y)
{
    return strcmp(((const struct entry *)x)->key, ((const struct entry *)y)->key);
}

static int by_case(const void *x, const void *y)
{
    const struct entry *a = *(const struct entry *const *)x, *b = *(const struct entry *const *)y;
    int d = strcmp(a->kind, b->kind);
    if (d) return d;
    if (a->case_id != b->case_id) return a->case_id < b->case_id ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* The other side's entry for key on any day (the neighbouring-day case). */
struct lookup {
    const char *key;
    int ehall;
    int found;
    char outcome[16], reference[128], day[11], state[16];
};

static int lookup_tx(store_conn *c, void *arg)
{
    struct lookup *l = arg;
    l->found = 0;
    store_stmt *st = store_prepare(
        c, l->ehall ? "SELECT state, outcome, result, COALESCE(day, '') FROM exchange_msg WHERE idem_key = $1"
                    : "SELECT 'done', outcome, reference, day FROM sim_ledger WHERE idem_key = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, l->key);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        l->found = 1;
        snprintf(l->state, sizeof l->state, "%s", store_column_text(st, 0));
        snprintf(l->outcome, sizeof l->outcome, "%s",
                 store_column_text(st, 1) ? store_column_text(st, 1) : "");
        if (l->ehall)
            result_reference(store_column_text(st, 2), l->reference, sizeof l->reference);
        else
            snprintf(l->reference, sizeof l->reference, "%s",
                     store_column_text(st, 2) ? store_column_text(st, 2) : "");
        snprintf(l->day, sizeof l->day, "%s", store_column_text(st, 3));
    }
    store_finalize(st);
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

/* 1 when the two YYYY-MM-DD days are at most one day apart */
static int neighbours(const char *a, const char *b)
{
    struct tm ta = {0}, tb = {0};
    if (sscanf(a, "%d-%d-%d", &ta.tm_year, &ta.tm_mon, &ta.tm_mday) != 3 ||
        sscanf(b, "%d-%d-%d", &tb.tm_year, &tb.tm_mon, &tb.tm_mday) != 3)
        return 0;
    ta.tm_year -= 1900, tb.tm_year -= 1900, ta.tm_mon--, tb.tm_mon--;
    ta.tm_hour = tb.tm_hour = 12;
    double d = difftime(timegm(&ta), timegm(&tb));
    return d >= -86400 && d <= 86400;
}

struct report {
    json_t *miss_backend, *miss_ehall, *dup, *mism;
    long long missing, duplicated, mismatched;
};

static void add(json_t *list, json_t *item)
{
    if (json_array_size(list) < LIST_LIMIT)
        json_array_append_new(list, item);
    else
        json_decref(item);
}

static int same(const char *a, const char *b) { return !strcmp(a ? a : "", b ? b : ""); }

static void compare(struct report *r, const char *key, const char *kind, long long case_id, const char *eo,
                    const char *er, const char *bo, const char *br)
{
    if (same(eo, bo) && same(er, br)) return;
    r->mismatched++;
    add(r->mism,
        json_pack("{s:s, s:s, s:I, s:{s:s, s:s?}, s:{s:s, s:s?}}", "idem_key", key, "kind", kind, "case_id",
                  (json_int_t)case_id, "ehall", "outcome", eo ? eo : "", "reference", er && *er ? er : NULL,
                  "backend", "outcome", bo ? bo : "", "reference", br && *br ? br : NULL));
}

struct store_report {
    const char *day, *source, *actor, *details;
    long long ehall_count, backend_count, missing, duplicated, mismatched;
    long long id;
};

static int store_report_tx(store_conn *c, void *arg)
{
    struct store_report *s = arg;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "INSERT INTO exchange_report(day, source, created_at, ehall_count, backend_count, "
                         "missing, duplicated,"
                         " mismatched, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, s->day);
    store_bind_text(st, 2, s->source);
    store_bind_text(st, 3, ts);
    store_bind_int64(st, 4, s->ehall_count);
    store_bind_int64(st, 5, s->backend_count);
    store_bind_int64(st, 6, s->missing);
    store_bind_int64(st, 7, s->duplicated);
    store_bind_int64(st, 8, s->mismatched);
    store_bind_text(st, 9, s->details);
    int rc = store_step(st);
    if (rc == STORE_ROW) s->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char det[256], obj[64];
    snprintf(det, sizeof det,
             "{\"source\":\"%s\",\"report\":%lld,\"missing\":%lld,\"duplicated\":%lld,\"mismatched\":%lld}",
             s->source, s->id, s->missing, s->duplicated, s->mismatched);
    snprintf(obj, sizeof obj, "day %s", s->day);
    int off = s->missing + s->duplicated + s->mismatched > 0;
    struct audit_event e = {s->actor,
                            !strncmp(s->actor, "system:exchange", 15) ? "system" : "operator",
                            "local",
                            NULL,
                            "exchange.reconcile",
                            obj,
                            off ? "discrepancies" : "ok",
                            det};
    return audit_append(c, &e);
}

static int valid_day(const char *d)
{
    int y, m, dd;
    char tail;
    return d && strlen(d) == 10 && d[4] == '-' && d[7] == '-' &&
           sscanf(d, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) == 3 && m >= 1 && m <= 12 && dd >= 1 && dd <= 31;
}

int exchange_reconcile(store *db, const char *day, const char *source, const char *actor,
                       struct exchange_recon *out)
{
    memset(out, 0, sizeof *out);
    if (!valid_day(day)) return STORE_ERROR;
    snprintf(out->day, sizeof out->day, "%s", day);
    struct side eh = {0}, be = {0};
    struct report r = {json_array(), json_array(), json_array(), json_array(), 0, 0, 0};
    int rc = load_side(db, day, 1, &eh);
    if (rc == STORE_OK) rc = load_side(db, day, 0, &be);
    if (rc != STORE_OK) goto done;
    /* an empty day has no array at all, and qsort may not be handed NULL */
    if (eh.n) qsort(eh.e, eh.n, sizeof *eh.e, by_key);
    if (be.n) qsort(be.e, be.n, sizeof *be.e, by_key);
    out->ehall_count = (long long)eh.n;
    out->backend_count = (long long)be.n;

    /* duplicated: a key recorded twice by the back-end (a real ledger export may), or one
     * case and kind acted on under two keys */
    for (size_t i = 1; i < be.n; i++)
        if (!strcmp(be.e[i].key, be.e[i - 1].key)) {
            r.duplicated++;
            add(r.dup,
                json_pack("{s:s, s:s, s:I, s:s}", "idem_key", be.e[i].key, "kind", be.e[i].kind, "case_id",
                          (json_int_t)be.e[i].case_id, "why", "key recorded twice by the back-end"));
        }
    struct entry **bycase = be.n ? malloc(be.n * sizeof *bycase) : NULL;
    if (be.n && !bycase) {
        rc = STORE_ERROR;
        goto done;
    }
    for (size_t i = 0; i < be.n; i++) bycase[i] = &be.e[i];
    if (be.n) qsort(bycase, be.n, sizeof *bycase, by_case);
    for (size_t i = 1; i < be.n; i++) {
        struct entry *a = bycase[i - 1], *b = bycase[i];
        if (b->case_id != 0 && a->case_id == b->case_id && !strcmp(a->kind, b->kind) &&
            strcmp(a->key, b->key)) {
            r.duplicated++;
            add(r.dup, json_pack("{s:s, s:s, s:I, s:s, s:s}", "idem_key", b->key, "kind", b->kind, "case_id",
                                 (json_int_t)b->case_id, "first_key", a->key, "why",
                                 "the back-end acted on this case and kind under two keys"));
        }
    }
    free(bycase);

    /* merge by key */
    size_t i = 0, j = 0;
    while (i < eh.n || j < be.n) {
        int d = i == eh.n ? 1 : j == be.n ? -1 : strcmp(eh.e[i].key, be.e[j].key);
        if (d == 0) {
            compare(&r, eh.e[i].key, eh.e[i].kind, eh.e[i].case_id, eh.e[i].outcome, eh.e[i].reference,
                    be.e[j].outcome, be.e[j].reference);
            i++;
            while (j + 1 < be.n && !strcmp(be.e[j + 1].key, be.e[j].key)) j++; /* duplicates: counted above */
            j++;
        } else if (d < 0) { /* in ehall's ledger only */
            struct entry *e = &eh.e[i++];
            struct lookup l = {.key = e->key, .ehall = 0};
            if (store_tx(db, 0, lookup_tx, &l) != STORE_OK) {
                rc = STORE_ERROR;
                goto done;
            }
            if (l.found && neighbours(l.day, day)) {
                compare(&r, e->key, e->kind, e->case_id, e->outcome, e->reference, l.outcome, l.reference);
                continue;
            }
            r.missing++;
            add(r.miss_backend, json_pack("{s:s, s:s, s:I, s:s, s:s?}", "idem_key", e->key, "kind", e->kind,
                                          "case_id", (json_int_t)e->case_id, "outcome", e->outcome,
                                          "backend_day", l.found ? l.day : NULL));
        } else { /* in the back-end's ledger only */
            struct entry *e = &be.e[j++];
            while (j < be.n && !strcmp(be.e[j].key, e->key)) j++;
            struct lookup l = {.key = e->key, .ehall = 1};
            if (store_tx(db, 0, lookup_tx, &l) != STORE_OK) {
                rc = STORE_ERROR;
                goto done;
            }
            if (l.found && !strcmp(l.state, "done") && neighbours(l.day, day)) {
                compare(&r, e->key, e->kind, e->case_id, l.outcome, l.reference, e->outcome, e->reference);
                continue;
            }
            r.missing++;
            add(r.miss_ehall, json_pack("{s:s, s:s, s:I, s:s, s:s}", "idem_key", e->key, "kind", e->kind,
                                        "case_id", (json_int_t)e->case_id, "outcome", e->outcome,
                                        "ehall_state", l.found ? l.state : "absent"));
        }
    }
    out->missing = r.missing;
    out->duplicated = r.duplicated;
    out->mismatched = r.mismatched;
    json_t *det = json_pack("{s:O, s:O, s:O, s:O}", "missing_in_backend", r.miss_backend, "missing_in_ehall",
                            r.miss_ehall, "duplicated", r.dup, "mismatched", r.mism);
    out->details = det ? json_dumps(det, JSON_COMPACT) : NULL;
    json_decref(det);
    if (!out->details) {
        rc = STORE_ERROR;
        goto done;
    }
    struct store_report sr = {day,
                              source,
                              actor,
                              out->details,
                              out->ehall_count,
                              out->backend_count,
                              out->missing,
                              out->duplicated,
                              out->mismatched,
                              0};
    rc = store_tx(db, 1, store_report_tx, &sr);
    if (rc == STORE_CONSTRAINT && !strcmp(source, "scheduled")) {
        rc = 2;
        goto done;
    }
    if (rc != STORE_OK) goto done;
    out->report_id = sr.id;
    rc = out->missing + out->duplicated + out->mismatched > 0 ? 1 : 0;
done:
    side_free(&eh);
    side_free(&be);
    json_decref(r.miss_backend);
    json_decref(r.miss_ehall);
    json_decref(r.dup);
    json_decref(r.mism);
    return rc;
}

static int scheduled_exists_tx(store_conn *c, void *arg)
{
    const char **a = arg;
    store_stmt *st =
        store_prepare(c, "SELECT id FROM exchange_report WHERE day = $1 AND source = 'scheduled'");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, a[0]);
    int rc = store_step(st);
    store_finalize(st);
    a[1] = rc == STORE_ROW ? "yes" : NULL;
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}

void exchange_reconcile_due(store *db, const struct config *cfg)
{
    static _Thread_local char last[11];
    if (!db || !cfg || cfg->exchange_reconcile_hour < 0) return;
    long long now = exchange_now_ms();
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    if (tm.tm_hour < cfg->exchange_reconcile_hour) return;
    char day[11];
    exchange_day(now - 86400000LL, day);
    if (!strcmp(day, last)) return;
    const char *a[2] = {day, NULL};
    if (store_tx(db, 0, scheduled_exists_tx, a) != STORE_OK) return;
    if (!a[1]) {
        struct exchange_recon rep;
        int rc = exchange_reconcile(db, day, "scheduled", "system:exchange", &rep);
        if (rc == 0 || rc == 1)
            log_info(
                "reconciled %s: %lld in ehall, %lld at the back-end, %lld missing, %lld duplicated, %lld "
                "mismatched (report %lld)",
                day, rep.ehall_count, rep.backend_count, rep.missing, rep.duplicated, rep.mismatched,
                rep.report_id);
        else if (rc != 2)
            log_warn("scheduled reconciliation of %s failed (%d)", day, rc);
        free(rep.details);
        if (rc < 0) return;
    }
    snprintf(last, sizeof last, "%s", day);
}
