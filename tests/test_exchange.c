/*
 * The exchange between the zones (src/exchange/), through its public interfaces: a
 * real `ehall serve` (test-mode route POST /api/v1/test/exchange queues test.echo
 * messages whose result handler writes exchange_test_effect, msg_id UNIQUE), `ehall
 * worker` processes (one of them SIGKILLed mid-batch), `ehall reconcile`, and the
 * staff API with its permissions.  The database is read directly to count effects and
 * the simulated back-end's ledger.  Runs on SQLite and, with EHALL_TEST_PG, PostgreSQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/core.h"
#include "exchange/exchange.h"
#include "harness.h"
#include "people.h"
#include "store/store.h"

static char out[65536];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------- the database, read (and, for the planted faults, written) directly ---------- */

static store *open_db(const char *url)
{
    struct store_options o = {2, 5000, 0};
    store *s = NULL;
    char err[256];
    assert_int_equal(store_open(url, &o, &s, err, sizeof err), STORE_OK);
    return s;
}

static long long q(store *s, const char *sql)
{
    store_conn *c = store_acquire(s);
    assert_non_null(c);
    long long v = -1;
    int rc = store_query_int64(c, sql, &v);
    store_release(c);
    if (rc != STORE_OK) fail_msg("query failed: %s", sql);
    return v;
}

static void exec_sql(store *s, const char *sql)
{
    store_conn *c = store_acquire(s);
    assert_non_null(c);
    int rc = store_exec(c, sql);
    store_release(c);
    if (rc != STORE_OK) fail_msg("statement failed: %s", sql);
}

static void text1(store *s, const char *sql, char *buf, size_t len)
{
    store_conn *c = store_acquire(s);
    assert_non_null(c);
    store_stmt *st = store_prepare(c, sql);
    assert_non_null(st);
    assert_int_equal(store_step(st), STORE_ROW);
    snprintf(buf, len, "%s", store_column_text(st, 0));
    store_finalize(st);
    store_release(c);
}

/* Wait until sql gives want (up to secs); returns the last value. */
static long long wait_for(store *s, const char *sql, long long want, double secs)
{
    double end = now_s() + secs;
    long long v;
    while ((v = q(s, sql)) != want && now_s() < end) sleep_ms(20);
    return v;
}

#define PENDING "SELECT COUNT(*) FROM exchange_msg WHERE state IN ('queued', 'leased')"

/* ---------- the server and the test route ---------- */

/* Start the server again on the same data (h_start clears s first). */
static void restart(struct srv *s, const char *const *env)
{
    char dir[256], db[512];
    snprintf(dir, sizeof dir, "%s", s->dir);
    snprintf(db, sizeof db, "%s", s->db);
    assert_int_equal(h_start(s, dir, db, env), 0);
}

static void start(struct srv *s, const char *const *env)
{
    char dir[256], db[512];
    h_fresh(dir, db);
    assert_int_equal(h_start(s, dir, db, env), 0);
}

static json_t *post(struct srv *s, const char *path, const char *body, long *status)
{
    const char *hdr[] = {"Content-Type: application/json", H_CSRF_COOKIE, H_CSRF_HEADER, NULL};
    struct resp r;
    assert_int_equal(h_http(s, "POST", path, hdr, body, strlen(body), &r), 0);
    *status = r.status;
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    h_resp_free(&r);
    return j;
}

/* Queue messages through the test route; returns the reply (201 expected). */
static json_t *enqueue(struct srv *s, const char *body)
{
    long st;
    json_t *j = post(s, "/api/v1/test/exchange", body, &st);
    if (st != 201) fail_msg("POST /api/v1/test/exchange %s: %ld", body, st);
    return j;
}

static int has_field_error(json_t *j, const char *field)
{
    json_t *d = json_object_get(json_object_get(j, "error"), "details");
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) if (!strcmp(json_string_value(json_object_get(e, "field")), field)) return 1;
    return 0;
}

/* ---------- tests ---------- */

/* Queued → worker threads of serve → done, each effect exactly once; enqueue is
 * idempotent by key; the sim refuses what the item's test data says; an unknown
 * connector is a dead letter at once; bad input to the test route is a 422. */
static void done_once_and_idempotent(void **state)
{
    (void)state;
    char simdir[300];
    snprintf(simdir, sizeof simdir, "/tmp/ehall-exchange-sim-%d", (int)getpid());
    mkdir(simdir, 0700);
    char path[400];
    snprintf(path, sizeof path, "%s/T-ITEM-1.json", simdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"item\":\"T-ITEM-1\",\"backend_refuse\":[{\"field\":\"form.colour\",\"value\":\"red\"},"
          "{\"field\":\"form.n\",\"value\":\"7\",\"reason\":\"seven is refused\"}]}",
          f);
    fclose(f);
    char env_dir[400];
    snprintf(env_dir, sizeof env_dir, "EHALL_EXCHANGE_SIM_DIR=%s", simdir);
    const char *env[] = {env_dir, "EHALL_EXCHANGE_BATCH=64", NULL};
    struct srv s;
    start(&s, env);
    store *db = open_db(s.db);

    json_t *j = enqueue(&s, "{\"n\":300,\"prefix\":\"once\"}");
    long long first = json_integer_value(json_object_get(j, "first_id"));
    long long last = json_integer_value(json_object_get(j, "last_id"));
    json_decref(j);
    assert_int_equal(last - first, 299);
    assert_int_equal(wait_for(db, PENDING, 0, 30), 0);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'done' AND outcome = 'ok'"), 300);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_test_effect"), 300);
    assert_int_equal(
        q(db, "SELECT COUNT(*) FROM exchange_test_effect e JOIN exchange_msg m ON m.id = e.msg_id"), 300);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger WHERE idem_key LIKE 'once-%'"), 300);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger l JOIN exchange_msg m ON m.idem_key = l.idem_key"
                           " WHERE m.result LIKE '%' || l.reference || '%'"),
                     300);

    /* the same keys again: the same messages, nothing new, no second effect */
    j = enqueue(&s, "{\"n\":300,\"prefix\":\"once\"}");
    assert_int_equal(json_integer_value(json_object_get(j, "first_id")), first);
    assert_int_equal(json_integer_value(json_object_get(j, "last_id")), last);
    json_decref(j);
    sleep_ms(300);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_msg"), 300);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_test_effect"), 300);

    /* the simulated back-end refuses by the item's test data, approves the rest */
    json_decref(enqueue(&s, "{\"n\":2,\"prefix\":\"red\",\"payload\":{\"item\":\"T-ITEM-1\",\"form\":"
                            "{\"colour\":\"red\"}}}"));
    json_decref(enqueue(&s, "{\"n\":1,\"prefix\":\"seven\",\"payload\":{\"item\":\"T-ITEM-1\",\"form\":"
                            "{\"n\":7}}}"));
    json_decref(enqueue(&s, "{\"n\":3,\"prefix\":\"blue\",\"payload\":{\"item\":\"T-ITEM-1\",\"form\":"
                            "{\"colour\":\"blue\"}}}"));
    json_decref(enqueue(&s, "{\"n\":1,\"prefix\":\"nofile\",\"payload\":{\"item\":\"NO-SUCH\",\"form\":"
                            "{\"colour\":\"red\"}}}"));
    /* an unknown connector: dead at once, after one attempt */
    json_decref(enqueue(&s, "{\"n\":1,\"prefix\":\"lost\",\"connector\":\"nowhere\"}"));
    assert_int_equal(wait_for(db, PENDING, 0, 30), 0);
    assert_int_equal(
        q(db, "SELECT COUNT(*) FROM exchange_msg WHERE idem_key LIKE 'red-%' AND outcome = 'refused'"), 2);
    assert_int_equal(q(db,
                       "SELECT COUNT(*) FROM exchange_test_effect e JOIN exchange_msg m ON m.id = e.msg_id"
                       " WHERE m.idem_key LIKE 'red-%' AND e.outcome = 'refused'"),
                     2);
    char buf[512];
    text1(db, "SELECT result FROM exchange_msg WHERE idem_key = 'red-1'", buf, sizeof buf);
    assert_non_null(strstr(buf, "form.colour"));
    text1(db, "SELECT result FROM exchange_msg WHERE idem_key = 'seven-1'", buf, sizeof buf);
    assert_non_null(strstr(buf, "seven is refused"));
    assert_int_equal(
        q(db, "SELECT COUNT(*) FROM exchange_msg WHERE idem_key LIKE 'blue-%' AND outcome = 'ok'"), 3);
    assert_int_equal(
        q(db, "SELECT COUNT(*) FROM exchange_msg WHERE idem_key = 'nofile-1' AND outcome = 'ok'"), 1);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_msg WHERE idem_key = 'lost-1' AND state = 'dead'"
                           " AND attempts = 1 AND last_error LIKE '%unknown connector nowhere%'"),
                     1);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger WHERE idem_key = 'lost-1'"), 0);

    /* bad input names the field */
    long st;
    j = post(&s, "/api/v1/test/exchange", "{\"n\":0,\"payload\":3,\"colour\":1}", &st);
    assert_int_equal(st, 422);
    assert_true(has_field_error(j, "n"));
    assert_true(has_field_error(j, "payload"));
    assert_true(has_field_error(j, "colour"));
    json_decref(j);

    /* a query answered directly, recorded nowhere (in this process, on the same data) */
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.exchange_sim_dir, sizeof cfg.exchange_sim_dir, "%s", simdir);
    exchange_setup(db, &cfg);
    struct exchange_answer a;
    assert_int_equal(
        exchange_call_direct("sim", "query", "{\"item\":\"T-ITEM-1\",\"form\":{\"colour\":\"red\"}}", &a),
        EXCHANGE_ANSWERED);
    assert_string_equal(a.outcome, "refused");
    sb_free(&a.result);
    assert_int_equal(exchange_call_direct("sim", "query", "{\"item\":\"T-ITEM-1\",\"form\":{}}", &a),
                     EXCHANGE_ANSWERED);
    assert_string_equal(a.outcome, "ok");
    sb_free(&a.result);
    assert_int_equal(exchange_call_direct("nowhere", "query", "{}", &a), EXCHANGE_PERMANENT);
    sb_free(&a.result);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger"), 307);

    store_close(db);
    assert_int_equal(h_stop(&s), 0);
    unlink(path);
    rmdir(simdir);
}

/* Transient failures (half before the back-end records, half with the reply lost
 * after) are retried with back-off until every message is done, once. */
static void retries_then_done(void **state)
{
    (void)state;
    const char *env[] = {"EHALL_EXCHANGE_SIM_FAIL_RATE=300", "EHALL_EXCHANGE_BACKOFF_MS=5",
                         "EHALL_EXCHANGE_MAX_ATTEMPTS=40", "EHALL_EXCHANGE_BATCH=10", NULL};
    struct srv s;
    start(&s, env);
    store *db = open_db(s.db);
    json_decref(enqueue(&s, "{\"n\":100,\"prefix\":\"flaky\"}"));
    if (wait_for(db, PENDING, 0, 60) != 0)
        fail_msg("still pending after 60 s: %lld, the most attempts %lld", q(db, PENDING),
                 q(db, "SELECT MAX(attempts) FROM exchange_msg WHERE state <> 'done'"));
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'done'"), 100);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_test_effect"), 100);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger"), 100);
    assert_true(q(db, "SELECT MAX(attempts) FROM exchange_msg") > 1);
    assert_true(q(db, "SELECT SUM(attempts) FROM exchange_msg") > 110);
    store_close(db);
    assert_int_equal(h_stop(&s), 0);
}

static long long body_int(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }

/* After max_attempts the message is dead (with back-off between the calls); staff with
 * exchange.read see it, with exchange.manage replay it (audited), and it ends done;
 * citizens and staff without the permission get 403. */
static void dead_letters_and_replay(void **state)
{
    (void)state;
    const char *env_fail[] = {"EHALL_EXCHANGE_SIM_FAIL_RATE=1000", "EHALL_EXCHANGE_BACKOFF_MS=300",
                              "EHALL_EXCHANGE_MAX_ATTEMPTS=3", NULL};
    struct srv s;
    start(&s, env_fail);
    store *db = open_db(s.db);
    double t0 = now_s();
    json_decref(enqueue(&s, "{\"n\":5,\"prefix\":\"doomed\"}"));
    assert_int_equal(wait_for(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'dead'", 5, 30), 5);
    /* back-off: after the 1st call 150–300 ms, after the 2nd 300–600 ms */
    assert_true(now_s() - t0 >= 0.45);
    assert_int_equal(
        q(db, "SELECT COUNT(*) FROM exchange_msg WHERE attempts = 3 AND last_error LIKE '%injected%'"), 5);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_test_effect"), 0);
    assert_int_equal(h_stop(&s), 0);

    /* the back-end recovers */
    const char *env_ok[] = {"EHALL_EXCHANGE_BACKOFF_MS=10", NULL};
    restart(&s, env_ok);
    struct admins a;
    p_admins(&s, &a);
    json_t *j =
        p_want(&a.sys, 201, "POST", "/api/v1/admin/departments", "{\"code\":\"OPS\",\"name\":\"运维\"}");
    long long dept = body_int(j, "id");
    json_decref(j);
    json_decref(p_want(&a.sec, 201, "PUT", "/api/v1/admin/roles/exops",
                       "{\"name\":\"交换运维\",\"scope\":\"all\",\"permissions\":[\"exchange.read\","
                       "\"exchange.manage\"]}"));
    json_decref(p_want(&a.sec, 201, "PUT", "/api/v1/admin/roles/exview",
                       "{\"name\":\"交换查看\",\"scope\":\"all\",\"permissions\":[\"exchange.read\"]}"));
    struct hclient ops, viewer, clerk, citizen;
    p_staff(&s, &a, &ops, "exops1", dept, "exops");
    p_staff(&s, &a, &viewer, "exview1", dept, "exview");
    p_staff(&s, &a, &clerk, "clerk1", dept, "");
    p_person(&s, &citizen, "citizen1", "1990-05-01");

    /* who may look */
    long st;
    json_decref(hc_json(&citizen, "GET", "/api/v1/exchange/messages", NULL, &st));
    assert_int_equal(st, 403);
    json_decref(hc_json(&clerk, "GET", "/api/v1/exchange/stats", NULL, &st));
    assert_int_equal(st, 403);
    json_decref(hc_json(&a.aud, "GET", "/api/v1/exchange/reports", NULL, &st));
    assert_int_equal(st, 403);

    j = p_want(&viewer, 200, "GET", "/api/v1/exchange/stats", NULL);
    assert_int_equal(body_int(json_object_get(j, "states"), "dead"), 5);
    assert_int_equal(body_int(json_object_get(j, "states"), "done"), 0);
    json_decref(j);
    j = p_want(&viewer, 200, "GET", "/api/v1/exchange/messages?state=dead&kind=test.echo&limit=3", NULL);
    json_t *list = json_object_get(j, "messages");
    assert_int_equal(json_array_size(list), 3);
    json_t *m0 = json_array_get(list, 0);
    long long dead_id = body_int(m0, "id");
    assert_string_equal(json_string_value(json_object_get(m0, "state")), "dead");
    assert_int_equal(body_int(m0, "attempts"), 3);
    assert_non_null(strstr(json_string_value(json_object_get(m0, "last_error")), "injected"));
    assert_null(json_object_get(m0, "payload"));
    long long next = body_int(j, "next_after");
    assert_true(next > 0);
    json_decref(j);
    char path[160];
    snprintf(path, sizeof path, "/api/v1/exchange/messages?state=dead&after=%lld", next);
    j = p_want(&viewer, 200, "GET", path, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "messages")), 2);
    assert_true(json_is_null(json_object_get(j, "next_after")));
    json_decref(j);
    /* bad filters name the parameter */
    j = p_want(&viewer, 400, "GET", "/api/v1/exchange/messages?state=sleeping", NULL);
    assert_true(has_field_error(j, "state"));
    json_decref(j);
    j = p_want(&viewer, 400, "GET", "/api/v1/exchange/messages?case=-3", NULL);
    assert_true(has_field_error(j, "case"));
    json_decref(j);
    j = p_want(&viewer, 200, "GET", "/api/v1/exchange/messages?case=9000000000000", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "messages")), 0);
    json_decref(j);
    j = p_want(&viewer, 400, "GET", "/api/v1/exchange/messages?limit=100000", NULL);
    assert_true(has_field_error(j, "limit"));
    json_decref(j);

    /* replay: reading is not enough */
    snprintf(path, sizeof path, "/api/v1/exchange/messages/%lld/replay", dead_id);
    json_decref(hc_json(&viewer, "POST", path, "{}", &st));
    assert_int_equal(st, 403);
    json_decref(hc_json(&citizen, "POST", path, "{}", &st));
    assert_int_equal(st, 403);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'dead'"), 5);
    j = p_want(&ops, 422, "POST", path, "{\"force\":true}");
    assert_true(has_field_error(j, "force"));
    json_decref(j);
    j = p_want(&ops, 200, "POST", path, "{}");
    assert_string_equal(json_string_value(json_object_get(j, "state")), "queued");
    json_decref(j);
    assert_int_equal(wait_for(db, "SELECT COUNT(*) FROM exchange_test_effect", 1, 20), 1);
    j = p_want(&ops, 409, "POST", path, "{}");
    assert_true(has_field_error(j, "state"));
    json_decref(j);
    json_decref(p_want(&ops, 404, "POST", "/api/v1/exchange/messages/99999999/replay", "{}"));
    json_decref(p_want(&ops, 404, "POST", "/api/v1/exchange/messages/abc/replay", "{}"));
    /* the rest */
    j = p_want(&ops, 200, "GET", "/api/v1/exchange/messages?state=dead", NULL);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(j, "messages"), i, m)
    {
        snprintf(path, sizeof path, "/api/v1/exchange/messages/%lld/replay", body_int(m, "id"));
        json_decref(p_want(&ops, 200, "POST", path, "{}"));
    }
    json_decref(j);
    assert_int_equal(wait_for(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'done'", 5, 20), 5);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_test_effect"), 5);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger"), 5);
    assert_int_equal(
        q(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.replay' AND result = 'ok'"), 5);
    j = p_want(&ops, 200, "GET", "/api/v1/exchange/messages?state=done&limit=1", NULL);
    m0 = json_array_get(json_object_get(j, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m0, "outcome")), "ok");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(m0, "result"), "reference")), "SIM-"));
    char day[16];
    snprintf(day, sizeof day, "%s", json_string_value(json_object_get(m0, "day")));
    json_decref(j);

    /* a reconciliation report is where staff see it */
    const char *rec[] = {"reconcile", "--date", day, NULL};
    assert_int_equal(h_cli(s.dir, s.db, rec, out, sizeof out), 0);
    j = p_want(&viewer, 200, "GET", "/api/v1/exchange/reports", NULL);
    json_t *r0 = json_array_get(json_object_get(j, "reports"), 0);
    assert_non_null(r0);
    assert_string_equal(json_string_value(json_object_get(r0, "day")), day);
    assert_true(json_is_true(json_object_get(r0, "clean")));
    assert_int_equal(body_int(r0, "ehall_count"), 5);
    assert_int_equal(body_int(r0, "backend_count"), 5);
    json_decref(j);
    j = p_want(&viewer, 400, "GET", "/api/v1/exchange/reports?day=yesterday", NULL);
    assert_true(has_field_error(j, "day"));
    json_decref(j);

    store_close(db);
    assert_int_equal(h_stop(&s), 0);
}

/* `ehall worker` SIGKILLed in the middle of a batch: its leases expire, another worker
 * takes the messages over, and every message ends done with its effect and its
 * back-end record exactly once. */
static void worker_killed_mid_batch(void **state)
{
    (void)state;
    const char *env_srv[] = {"EHALL_EXCHANGE_WORKERS=0", NULL};
    struct srv s;
    start(&s, env_srv);
    store *db = open_db(s.db);
    json_decref(enqueue(&s, "{\"n\":2000,\"prefix\":\"crash\"}"));
    sleep_ms(300);
    assert_int_equal(q(db, PENDING), 2000); /* nobody works in serve */

    const char *env_a[] = {"EHALL_EXCHANGE_BATCH=50", "EHALL_EXCHANGE_SIM_DELAY_US=3000",
                           "EHALL_EXCHANGE_LEASE_SECONDS=2", NULL};
    pid_t a = h_worker_start(&s, "worker-a", env_a, "2");
    double end = now_s() + 30;
    while ((q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'done'") < 200 ||
            q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'leased'") == 0) &&
           now_s() < end)
        sleep_ms(10);
    assert_int_equal(h_worker_stop(a, SIGKILL), 128 + SIGKILL);
    long long leased = q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'leased'");
    long long done = q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'done'");
    assert_true(leased > 0);
    assert_true(done >= 200 && done < 2000);
    /* the dead worker's leases are still there; a new worker takes them once they expire */
    const char *env_b[] = {"EHALL_EXCHANGE_BATCH=100", "EHALL_EXCHANGE_LEASE_SECONDS=2", NULL};
    pid_t b = h_worker_start(&s, "worker-b", env_b, "2");
    assert_int_equal(wait_for(db, PENDING, 0, 60), 0);
    assert_int_equal(h_worker_stop(b, SIGTERM), 0);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'done'"), 2000);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_test_effect"), 2000);
    assert_int_equal(q(db, "SELECT COUNT(DISTINCT msg_id) FROM exchange_test_effect"), 2000);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger"), 2000);
    assert_int_equal(q(db, "SELECT COUNT(DISTINCT idem_key) FROM sim_ledger"), 2000);
    /* the messages the killed worker held were called again */
    assert_true(q(db, "SELECT COUNT(*) FROM exchange_msg WHERE attempts >= 2") >= leased);
    /* and what ehall recorded agrees with what the back-end recorded */
    assert_int_equal(q(db, "SELECT COUNT(*) FROM sim_ledger l JOIN exchange_msg m ON m.idem_key = l.idem_key"
                           " WHERE m.result LIKE '%' || l.reference || '%'"),
                     2000);
    char day[16];
    text1(db, "SELECT day FROM exchange_msg WHERE state = 'done' LIMIT 1", day, sizeof day);
    const char *rec[] = {"reconcile", "--date", day, NULL};
    int rc = h_cli(s.dir, s.db, rec, out, sizeof out);
    if (rc != 0) fail_msg("reconcile after the crash: %d\n%s", rc, out);
    store_close(db);
    assert_int_equal(h_stop(&s), 0);
}

/* `ehall reconcile`: a clean day exits 0; planted faults in the back-end's ledger are
 * each named and exit 1; reports are stored and audited; the scheduled run reports
 * yesterday once. */
static void reconcile_names_faults(void **state)
{
    (void)state;
    const char *env[] = {"EHALL_EXCHANGE_RECONCILE_HOUR=0", NULL};
    struct srv s;
    start(&s, env);
    store *db = open_db(s.db);
    /* the scheduled run has reconciled yesterday, once */
    assert_int_equal(wait_for(db, "SELECT COUNT(*) FROM exchange_report WHERE source = 'scheduled'", 1, 10),
                     1);

    json_decref(enqueue(&s, "{\"n\":20,\"prefix\":\"rec\"}"));
    assert_int_equal(wait_for(db, PENDING, 0, 30), 0);
    char day[16];
    text1(db, "SELECT day FROM exchange_msg WHERE idem_key = 'rec-1'", day, sizeof day);
    const char *rec[] = {"reconcile", "--date", day, NULL};
    int rc = h_cli(s.dir, s.db, rec, out, sizeof out);
    if (rc != 0) fail_msg("clean day: %d\n%s", rc, out);
    assert_non_null(strstr(out, "20 entries in ehall, 20 at the back-end"));
    assert_non_null(strstr(out, "clean"));
    const char *quiet[] = {"reconcile", "--date", "2001-02-03", NULL};
    assert_int_equal(h_cli(s.dir, s.db, quiet, out, sizeof out), 0);
    const char *bad[] = {"reconcile", "--date", "2026-13-01", NULL};
    assert_int_equal(h_cli(s.dir, s.db, bad, out, sizeof out), 2);
    const char *none[] = {"reconcile", NULL};
    assert_int_equal(h_cli(s.dir, s.db, none, out, sizeof out), 2);

    /* plant: a record the back-end lost, one whose outcome and one whose reference
     * changed, one ehall never sent, and one case acted on twice */
    char sql[600];
    exec_sql(db, "DELETE FROM sim_ledger WHERE idem_key = 'rec-3'");
    exec_sql(db, "UPDATE sim_ledger SET outcome = 'refused' WHERE idem_key = 'rec-5'");
    exec_sql(db, "UPDATE sim_ledger SET reference = 'SIM-FORGED' WHERE idem_key = 'rec-6'");
    snprintf(sql, sizeof sql,
             "INSERT INTO sim_ledger(idem_key, kind, case_id, outcome, reference, at, day) VALUES"
             " ('ghost-1', 'test.echo', 0, 'ok', 'SIM-GHOST', 'x', '%s'),"
             " ('case77-a', 'case.result', 77, 'ok', 'SIM-77A', 'x', '%s'),"
             " ('case77-b', 'case.result', 77, 'ok', 'SIM-77B', 'x', '%s')",
             day, day, day);
    exec_sql(db, sql);
    rc = h_cli(s.dir, s.db, rec, out, sizeof out);
    if (rc != 1) fail_msg("planted faults: %d\n%s", rc, out);
    assert_non_null(strstr(out, "missing at the back-end: rec-3 "));
    assert_non_null(strstr(out, "mismatched: rec-5 "));
    assert_non_null(strstr(out, "mismatched: rec-6 "));
    assert_non_null(strstr(out, "SIM-FORGED"));
    assert_non_null(strstr(out, "missing in ehall: ghost-1 "));
    assert_non_null(strstr(out, "duplicated: case77-b "));
    assert_non_null(strstr(out, "missing 4, duplicated 1, mismatched 2"));
    assert_null(strstr(out, "rec-4 "));

    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM exchange_report WHERE day = '%s' AND source = 'manual'"
             " AND missing = 4 AND duplicated = 1 AND mismatched = 2 AND details LIKE '%%ghost-1%%'",
             day);
    assert_int_equal(q(db, sql), 1);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.reconcile'"
                           " AND result = 'discrepancies'"),
                     1);
    assert_true(
        q(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.reconcile' AND result = 'ok'") >= 3);

    /* a restart does not report yesterday a second time */
    assert_int_equal(h_stop(&s), 0);
    restart(&s, env);
    sleep_ms(500);
    assert_int_equal(q(db, "SELECT COUNT(*) FROM exchange_report WHERE source = 'scheduled'"), 1);
    store_close(db);
    assert_int_equal(h_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(done_once_and_idempotent), cmocka_unit_test(retries_then_done),
        cmocka_unit_test(dead_letters_and_replay),  cmocka_unit_test(worker_killed_mid_batch),
        cmocka_unit_test(reconcile_names_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
