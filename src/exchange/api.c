/*
 * api.c — the exchange's endpoints (see handlers.h, docs/api.md "Exchange").
 *
 * Reading the queue needs exchange.read; replaying a dead letter needs
 * exchange.manage and is audited (exchange.replay) in the transaction that requeues it.
 * Message payloads (application forms) are not shown here: staff see the routing,
 * the state, the back-end's answer and the last error.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/session.h"
#include "core/core.h"
#include "exchange/exchange.h"
#include "exchange/handlers.h"

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }

static int reply_unavailable(http_req *r)
{
    return http_reply_error(r, 503, "unavailable", "try again", NULL);
}

static int bad_query(http_req *r, const char *field, const char *why)
{
    return http_reply_error(r, 400, "invalid_query", "a query parameter is not valid",
                            json_pack("[o]", http_field_error(field, why)));
}

/* An optional integer query parameter in lo..hi; -1 after replying 400. */
static int query_int(http_req *r, const char *name, long long lo, long long hi, long long *out)
{
    const char *s = http_req_query(r, name);
    if (!s) return 0;
    long long v;
    if (parse_int64(s, &v) != 0 || v < lo || v > hi) {
        char why[96];
        snprintf(why, sizeof why, "must be an integer from %lld to %lld", lo, hi);
        bad_query(r, name, why);
        return -1;
    }
    *out = v;
    return 0;
}

static json_t *ms_time(long long ms)
{
    if (ms <= 0) return json_null();
    char ts[48];
    time_rfc3339((double)ms / 1000.0, ts, sizeof ts);
    return json_string(ts);
}

static json_t *text_or_null(store_stmt *st, int col)
{
    const char *s = store_column_text(st, col);
    return s ? json_string(s) : json_null();
}

/* GET /api/v1/exchange/messages?state=&kind=&case=&after=&limit= — each filter's
 * parameter is compared with its column first, so PostgreSQL types it like the column */
int exchange_api_messages(http_req *r)
{
    const char *state = http_req_query(r, "state"), *kind = http_req_query(r, "kind");
    static const char *states[] = {"queued", "leased", "done", "dead"};
    int ok = !state;
    for (size_t i = 0; state && i < EHALL_ARRAY_LEN(states); i++) ok |= !strcmp(state, states[i]);
    if (!ok) return bad_query(r, "state", "queued, leased, done or dead");
    if (kind && (!*kind || strlen(kind) > 63)) return bad_query(r, "kind", "must be 1 to 63 characters");
    long long case_id = 0, after = 0, limit = 100;
    if (query_int(r, "case", 1, (long long)9e18, &case_id) ||
        query_int(r, "after", 0, (long long)9e18, &after) || query_int(r, "limit", 1, 500, &limit))
        return 0;
    store_conn *c = store_acquire(db_of(r));
    if (!c) return reply_unavailable(r);
    store_stmt *st = store_prepare(
        c, "SELECT id, idem_key, kind, connector, case_id, state, attempts, next_at_ms, lease_owner, outcome,"
           " result, last_error, created_at, done_ms, day FROM exchange_msg WHERE id > $1"
           " AND (state = $2 OR $2 = '') AND (kind = $3 OR $3 = '') AND (case_id = $4 OR $4 = 0)"
           " ORDER BY id LIMIT $5");
    if (!st) {
        store_release(c);
        return reply_unavailable(r);
    }
    store_bind_int64(st, 1, after);
    store_bind_text(st, 2, state ? state : "");
    store_bind_text(st, 3, kind ? kind : "");
    store_bind_int64(st, 4, case_id);
    store_bind_int64(st, 5, limit);
    json_t *list = json_array();
    long long last = 0;
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        const char *res = store_column_text(st, 10);
        json_t *result = res ? json_loads(res, 0, NULL) : NULL;
        const char *stt = store_column_text(st, 5);
        int leased = !strcmp(stt, "leased");
        last = store_column_int64(st, 0);
        json_array_append_new(
            list,
            json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o}",
                      "id", (json_int_t)last, "idem_key", store_column_text(st, 1), "kind",
                      store_column_text(st, 2), "connector", store_column_text(st, 3), "case_id",
                      (json_int_t)store_column_int64(st, 4), "state", stt, "attempts",
                      (json_int_t)store_column_int64(st, 6), "next_at",
                      strcmp(stt, "queued") ? json_null() : ms_time(store_column_int64(st, 7)), "lease_until",
                      leased ? ms_time(store_column_int64(st, 7)) : json_null(), "lease_owner",
                      leased ? text_or_null(st, 8) : json_null(), "outcome", text_or_null(st, 9), "result",
                      result ? result : json_null(), "last_error", text_or_null(st, 11), "created_at",
                      store_column_text(st, 12), "done_at",
                      store_column_is_null(st, 13) ? json_null() : ms_time(store_column_int64(st, 13)), "day",
                      text_or_null(st, 14)));
    }
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return reply_unavailable(r);
    }
    json_t *next = (long long)json_array_size(list) == limit ? json_integer(last) : json_null();
    return http_reply_json(r, 200, json_pack("{s:o, s:o}", "messages", list, "next_after", next));
}

/* POST /api/v1/exchange/messages/{id}/replay — a dead letter goes back to the queue */
struct replay {
    http_req *r;
    long long id;
    int rc;
    char state[16];
};

static int replay_tx(store_conn *c, void *arg)
{
    struct replay *x = arg;
    x->rc = exchange_replay(c, x->id, x->state);
    if (x->rc != STORE_OK) return x->rc == 1 || x->rc == STORE_DONE ? STORE_OK : x->rc;
    char obj[48];
    snprintf(obj, sizeof obj, "exchange message %lld", x->id);
    return auth_audit(x->r, c, "exchange.replay", obj, "ok", NULL);
}

int exchange_api_replay(http_req *r)
{
    const char *s = http_req_param(r, "id");
    long long id;
    if (!s || parse_int64(s, &id) != 0 || id <= 0)
        return http_reply_error(r, 404, "not_found", "no such message",
                                json_pack("[o]", http_field_error("id", "must be a message id")));
    struct input in;
    static const char *const known[] = {NULL};
    if (input_begin(&in, r, known) != 0 || input_done(&in) != 0) return 0;
    struct replay x = {r, id, 0, ""};
    if (store_tx(db_of(r), 1, replay_tx, &x) != STORE_OK) return reply_unavailable(r);
    if (x.rc == STORE_DONE) return http_reply_error(r, 404, "not_found", "no such message", NULL);
    if (x.rc == 1)
        return http_reply_error(r, 409, "not_dead", "only a dead letter can be replayed",
                                json_pack("[{s:s, s:s}]", "field", "state", "message", x.state));
    return http_reply_json(
        r, 200,
        json_pack("{s:I, s:s, s:I}", "id", (json_int_t)id, "state", "queued", "attempts", (json_int_t)0));
}

/* GET /api/v1/exchange/reports?day=&after=&limit= — newest first */
int exchange_api_reports(http_req *r)
{
    const char *day = http_req_query(r, "day");
    if (day) {
        int y, m, d;
        char tail;
        if (strlen(day) != 10 || sscanf(day, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
            d < 1 || d > 31)
            return bad_query(r, "day", "must be a date YYYY-MM-DD");
    }
    long long before = 0, limit = 50;
    if (query_int(r, "before", 1, (long long)9e18, &before) || query_int(r, "limit", 1, 200, &limit))
        return 0;
    store_conn *c = store_acquire(db_of(r));
    if (!c) return reply_unavailable(r);
    store_stmt *st = store_prepare(
        c, "SELECT id, day, source, created_at, ehall_count, backend_count, missing, duplicated, mismatched,"
           " details FROM exchange_report WHERE (day = $1 OR $1 = '') AND (id < $2 OR $2 = 0)"
           " ORDER BY id DESC LIMIT $3");
    if (!st) {
        store_release(c);
        return reply_unavailable(r);
    }
    store_bind_text(st, 1, day ? day : "");
    store_bind_int64(st, 2, before);
    store_bind_int64(st, 3, limit);
    json_t *list = json_array();
    long long last = 0;
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        json_t *details = json_loads(store_column_text(st, 9), 0, NULL);
        last = store_column_int64(st, 0);
        long long off = store_column_int64(st, 6) + store_column_int64(st, 7) + store_column_int64(st, 8);
        json_array_append_new(
            list,
            json_pack("{s:I, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "id", (json_int_t)last,
                      "day", store_column_text(st, 1), "source", store_column_text(st, 2), "created_at",
                      store_column_text(st, 3), "clean", off == 0, "ehall_count",
                      (json_int_t)store_column_int64(st, 4), "backend_count",
                      (json_int_t)store_column_int64(st, 5), "missing", (json_int_t)store_column_int64(st, 6),
                      "duplicated", (json_int_t)store_column_int64(st, 7), "mismatched",
                      (json_int_t)store_column_int64(st, 8), "details", details ? details : json_null()));
    }
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return reply_unavailable(r);
    }
    json_t *next = (long long)json_array_size(list) == limit ? json_integer(last) : json_null();
    return http_reply_json(r, 200, json_pack("{s:o, s:o}", "reports", list, "next_before", next));
}

/* GET /api/v1/exchange/stats — messages by state, and how many are due now */
int exchange_api_stats(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return reply_unavailable(r);
    json_t *by = json_pack("{s:I, s:I, s:I, s:I}", "queued", (json_int_t)0, "leased", (json_int_t)0, "done",
                           (json_int_t)0, "dead", (json_int_t)0);
    store_stmt *st = store_prepare(c, "SELECT state, COUNT(*) FROM exchange_msg GROUP BY state");
    int rc = STORE_ERROR;
    if (st) {
        while ((rc = store_step(st)) == STORE_ROW)
            json_object_set_new(by, store_column_text(st, 0), json_integer(store_column_int64(st, 1)));
        store_finalize(st);
    }
    long long due = 0, oldest = 0;
    if (rc == STORE_DONE &&
        (st = store_prepare(c, "SELECT COUNT(*), COALESCE(MIN(next_at_ms), 0) FROM exchange_msg"
                               " WHERE state = 'queued' AND next_at_ms <= $1"))) {
        store_bind_int64(st, 1, exchange_now_ms());
        rc = store_step(st);
        if (rc == STORE_ROW) {
            due = store_column_int64(st, 0);
            oldest = store_column_int64(st, 1);
            rc = STORE_DONE;
        }
        store_finalize(st);
    }
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(by);
        return reply_unavailable(r);
    }
    return http_reply_json(r, 200,
                           json_pack("{s:o, s:I, s:o}", "states", by, "due", (json_int_t)due,
                                     "oldest_due_since", oldest ? ms_time(oldest) : json_null()));
}

/* POST /api/v1/test/exchange {"n", "kind", "connector", "prefix", "case_id", "payload"} —
 * test mode: n messages queued in one transaction, keys "<prefix>-<i>" */
struct test_enqueue {
    long long n, case_id;
    const char *kind, *connector, *prefix, *payload;
    long long first, last;
};

static int test_tx(store_conn *c, void *arg)
{
    struct test_enqueue *t = arg;
    for (long long i = 1; i <= t->n; i++) {
        char key[256];
        snprintf(key, sizeof key, "%s-%lld", t->prefix, i);
        long long id;
        int rc = exchange_enqueue(c, key, t->kind, t->connector, t->case_id, t->payload, &id);
        if (rc != STORE_OK) return rc;
        if (i == 1) t->first = id;
        t->last = id;
    }
    return STORE_OK;
}

int exchange_api_test(http_req *r)
{
    static const char *const known[] = {"n", "kind", "connector", "prefix", "case_id", "payload", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct test_enqueue t = {0};
    t.n = input_int(&in, "n", 1, 1, 100000, 1);
    t.kind = input_str(&in, "kind", 0, 1, 63);
    t.connector = input_str(&in, "connector", 0, 1, 63);
    t.prefix = input_str(&in, "prefix", 0, 1, 100);
    t.case_id = input_int(&in, "case_id", 0, 0, (long long)9e18, 0);
    json_t *payload = json_object_get(in.body, "payload");
    if (payload && !json_is_object(payload)) input_error(&in, "payload", "must be an object");
    if (input_done(&in) != 0) return 0;
    char prefix[64];
    if (!t.prefix) {
        unsigned char b[8];
        random_bytes(b, sizeof b);
        hex_encode(b, sizeof b, prefix);
        t.prefix = prefix;
    }
    if (!t.kind) t.kind = "test.echo";
    if (!t.connector) t.connector = "sim";
    char *p = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    t.payload = p ? p : "{}";
    int rc = store_tx(db_of(r), 1, test_tx, &t);
    free(p);
    if (rc != STORE_OK) return reply_unavailable(r);
    exchange_kick();
    return http_reply_json(r, 201,
                           json_pack("{s:I, s:s, s:I, s:I}", "count", (json_int_t)t.n, "prefix", t.prefix,
                                     "first_id", (json_int_t)t.first, "last_id", (json_int_t)t.last));
}
