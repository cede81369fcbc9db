/*
 * API tests against a real `ehall serve` on a loopback port: the error contract,
 * middleware (request ids, security headers, limits), static files, metrics, the
 * analytics endpoints, hostile input and graceful shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct srv S; /* shared server for the tests that need no special settings */

static int setup(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    return h_start(&S, dir, db, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return h_stop(&S) == 0 ? 0 : -1;
}

static json_t *body_json(const struct resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->len, 0, &e);
    if (!j) fail_msg("not JSON (%s): %.200s", e.text, r->body);
    return j;
}

/* Assert the one error shape and return the error code. */
static void assert_error(const struct resp *r, long status, const char *code, const char *field)
{
    if (r->status != status) fail_msg("status %ld, wanted %ld: %.300s", r->status, status, r->body);
    char ct[128];
    assert_non_null(h_header(r, "Content-Type", ct, sizeof ct));
    assert_non_null(strstr(ct, "application/json"));
    json_t *j = body_json(r);
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_true(json_is_string(json_object_get(e, "message")));
    json_t *d = json_object_get(e, "details");
    assert_true(json_is_array(d));
    if (field) {
        int found = 0;
        size_t i;
        json_t *it;
        json_array_foreach(d, i, it) found |= !strcmp(json_string_value(json_object_get(it, "field")), field);
        if (!found) fail_msg("no detail for field %s: %s", field, r->body);
    }
    json_decref(j);
}

static void health_ready_and_headers(void **state)
{
    (void)state;
    struct resp r;
    char v[512];
    assert_int_equal(h_http(&S, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    assert_non_null(h_header(&r, "X-Request-Id", v, sizeof v));
    assert_int_equal(strlen(v), 24);
    assert_non_null(h_header(&r, "Content-Security-Policy", v, sizeof v));
    assert_non_null(strstr(v, "frame-ancestors 'none'"));
    assert_non_null(h_header(&r, "X-Content-Type-Options", v, sizeof v));
    assert_string_equal(v, "nosniff");
    assert_non_null(h_header(&r, "Referrer-Policy", v, sizeof v));
    h_resp_free(&r);

    const char *hdr[] = {"X-Request-Id: trace-abc.123", NULL};
    h_http(&S, "GET", "/healthz", hdr, NULL, 0, &r);
    assert_string_equal(h_header(&r, "X-Request-Id", v, sizeof v), "trace-abc.123");
    h_resp_free(&r);
    const char *evil[] = {"X-Request-Id: \"><script>", NULL};
    h_http(&S, "GET", "/healthz", evil, NULL, 0, &r);
    h_header(&r, "X-Request-Id", v, sizeof v);
    assert_null(strchr(v, '<')); /* replaced by a fresh id */
    h_resp_free(&r);
    /* fresh ids never repeat, whichever thread answers (50: the tests share one client
     * address, and its allowance, http.client_burst 400, with the hostile-input test) */
    {
        static char seen[50][32];
        for (int i = 0; i < 50; i++) {
            h_http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
            assert_non_null(h_header(&r, "X-Request-Id", seen[i], sizeof seen[i]));
            assert_int_equal(strspn(seen[i], "0123456789abcdef"), 24);
            h_resp_free(&r);
            for (int k = 0; k < i; k++) assert_string_not_equal(seen[k], seen[i]);
        }
    }

    h_http(&S, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    assert_string_equal(json_string_value(json_object_get(j, "engine")),
                        h_is_postgres() ? "postgres" : "sqlite");
    json_decref(j);
    h_resp_free(&r);

    /* the access log has one JSON line per request with the request id */
    /* (the line is written when the request completes, just after the client has its reply) */
    char *log = NULL;
    for (int i = 0; i < 100; i++) {
        free(log);
        log = h_slurp(S.log);
        if (log && strstr(log, "\"request_id\":\"trace-abc.123\"")) break;
        usleep(20000);
    }
    assert_non_null(log);
    assert_non_null(strstr(log, "\"request_id\":\"trace-abc.123\""));
    assert_non_null(strstr(log, "\"route\":\"/healthz\",\"status\":200"));
    free(log);
}

static void error_contract(void **state)
{
    (void)state;
    struct resp r;
    char v[256];
    h_http(&S, "GET", "/api/v1/no-such-thing", NULL, NULL, 0, &r);
    assert_error(&r, 404, "not_found", NULL);
    h_resp_free(&r);
    h_http(&S, "GET", "/api", NULL, NULL, 0, &r);
    assert_error(&r, 404, "not_found", NULL);
    h_resp_free(&r);

    h_http(&S, "DELETE", "/api/v1/version", NULL, NULL, 0, &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    assert_non_null(h_header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "GET, HEAD");
    h_resp_free(&r);

    const char *json[] = {"Content-Type: application/json", H_CSRF_COOKIE, H_CSRF_HEADER, NULL};
    const char *text[] = {"Content-Type: text/plain", H_CSRF_COOKIE, H_CSRF_HEADER, NULL};
    h_http(&S, "POST", "/api/v1/analytics/pageviews", json, "{\"path\": ", 9, &r);
    assert_error(&r, 400, "invalid_json", "body");
    h_resp_free(&r);
    h_http(&S, "POST", "/api/v1/analytics/pageviews", json, "{\"path\":\"/a\",\"path\":\"/b\"}", 25, &r);
    assert_error(&r, 400, "invalid_json", "body"); /* duplicate keys */
    h_resp_free(&r);
    h_http(&S, "POST", "/api/v1/analytics/pageviews", text, "{\"path\":\"/\"}", 12, &r);
    assert_error(&r, 415, "unsupported_media_type", "Content-Type");
    h_resp_free(&r);
    h_http(&S, "POST", "/api/v1/analytics/pageviews", json, NULL, 0, &r);
    assert_error(&r, 400, "invalid_json", "body");
    h_resp_free(&r);

    size_t big = 2 * 1024 * 1024;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    h_http(&S, "POST", "/api/v1/analytics/pageviews", json, huge, big, &r);
    assert_error(&r, 413, "body_too_large", "body");
    h_resp_free(&r);
    free(huge);

    /* a request line and headers over http.max_header: refused, never a 5xx */
    char *hv = malloc(40000);
    strcpy(hv, "X-Big: ");
    memset(hv + 7, 'a', 39990);
    hv[39997] = 0;
    const char *bigh[] = {hv, NULL};
    h_http(&S, "GET", "/healthz", bigh, NULL, 0, &r);
    assert_true(r.status >= 400 && r.status < 500);
    h_resp_free(&r);
    hv[7 + 17000] = 0; /* over the 16 KiB default, under MHD's backstop: ehall's JSON error */
    h_http(&S, "GET", "/healthz", bigh, NULL, 0, &r);
    assert_error(&r, 431, "headers_too_large", NULL);
    h_resp_free(&r);
    free(hv);
}

static void analytics_validates_records_and_summarises(void **state)
{
    (void)state;
    struct resp r;
    const char *json[] = {"Content-Type: application/json; charset=utf-8", "User-Agent: test-agent",
                          H_CSRF_COOKIE, H_CSRF_HEADER, NULL};
    const char *bad = "{\"path\": 5, \"dwell_ms\": -1, \"color\": \"red\", \"visit\": \"\"}";
    h_http(&S, "POST", "/api/v1/analytics/pageviews", json, bad, strlen(bad), &r);
    assert_error(&r, 422, "validation_failed", "path");
    json_t *j = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "error"), "details")), 3);
    json_decref(j);
    h_resp_free(&r);
    h_http(&S, "POST", "/api/v1/analytics/pageviews", json, "[1,2]", 5, &r);
    assert_error(&r, 400, "invalid_body", "body");
    h_resp_free(&r);
    h_http(&S, "POST", "/api/v1/analytics/pageviews", json, "{\"path\":\"relative\"}", 19, &r);
    assert_error(&r, 422, "validation_failed", "path");
    h_resp_free(&r);

    const char *views[] = {"{\"path\":\"/items\",\"visit\":\"v1\",\"dwell_ms\":1000}",
                           "{\"path\":\"/items\",\"visit\":\"v1\",\"dwell_ms\":3000}",
                           "{\"path\":\"/\",\"visit\":\"v2\",\"referrer\":\"/items\"}",
                           "{\"path\":\"/guide\"}"};
    long long last = 0;
    char today[11] = "";
    for (int i = 0; i < 4; i++) {
        h_http(&S, "POST", "/api/v1/analytics/pageviews", json, views[i], strlen(views[i]), &r);
        assert_int_equal(r.status, 201);
        j = body_json(&r);
        long long id = json_integer_value(json_object_get(j, "id"));
        assert_true(id > last);
        last = id;
        memcpy(today, json_string_value(json_object_get(j, "at")), 10);
        json_decref(j);
        h_resp_free(&r);
    }
    char path[128];
    snprintf(path, sizeof path, "/api/v1/analytics/summary?from=%s&to=%s", today, today);
    h_http(&S, "GET", path, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "views")), 4);
    assert_true(json_real_value(json_object_get(j, "pages_per_visit")) == 1.5); /* 3 views in 2 visits */
    assert_int_equal(json_integer_value(json_object_get(j, "visitors")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "visits")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "avg_dwell_ms")), 2000);
    json_t *top = json_array_get(json_object_get(j, "top_paths"), 0);
    assert_string_equal(json_string_value(json_object_get(top, "path")), "/items");
    assert_int_equal(json_integer_value(json_object_get(top, "views")), 2);
    json_decref(j);
    h_resp_free(&r);

    h_http(&S, "GET", "/api/v1/analytics/summary?from=2026-13-01&to=x", NULL, NULL, 0, &r);
    assert_error(&r, 400, "invalid_query", "from");
    h_resp_free(&r);
    h_http(&S, "GET", "/api/v1/analytics/summary?from=2026-02-30&to=2026-03-01", NULL, NULL, 0, &r);
    assert_error(&r, 400, "invalid_query", "from");
    h_resp_free(&r);
    h_http(&S, "GET", "/api/v1/analytics/summary?from=2026-02-01&to=2026-01-01", NULL, NULL, 0, &r);
    assert_error(&r, 400, "invalid_query", "to");
    h_resp_free(&r);
}

static void metrics_exposition(void **state)
{
    (void)state;
    struct resp r;
    h_http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
    h_resp_free(&r);
    h_http(&S, "GET", "/metrics", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    const char *want[] = {
        "ehall_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} ",
        "# TYPE ehall_http_request_duration_seconds histogram",
        "ehall_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} ",
        "# TYPE ehall_db_query_duration_seconds histogram",
        "ehall_http_requests_in_flight ",
        "process_start_time_seconds ",
        "ehall_http_limited_total{reason=\"rate\"} ",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(r.body, want[i])) fail_msg("metrics lack: %s", want[i]);
    /* this very request is in flight (others may still be completing) */
    assert_true(atoi(strstr(r.body, "\nehall_http_requests_in_flight ") + 31) >= 1);
    h_resp_free(&r);
}

static void make_site(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/site", dir);
    mkdir(p, 0755);
    struct {
        const char *name, *text;
    } files[] = {{"index.html", "<!doctype html><title>t</title>"},
                 {"app.js", "console.log('plain');"},
                 {"style.css", "body{}"},
                 {".env", "SECRET=1"}};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/site/%s", dir, files[i].name);
        FILE *f = fopen(p, "w");
        fputs(files[i].text, f);
        fclose(f);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "gzip -k -9 %s/site/app.js && echo TOPSECRET > %s/secret.txt && ln -s %s/secret.txt "
             "%s/site/link.txt && ln -s %s %s/site/up",
             dir, dir, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
}

static void static_files(void **state)
{
    (void)state;
    char dir[256], db[512], root[300], env_root[400];
    h_fresh(dir, db);
    make_site(dir);
    snprintf(root, sizeof root, "%s/site", dir);
    snprintf(env_root, sizeof env_root, "EHALL_WEB_ROOT=%s", root);
    const char *env[] = {env_root, NULL};
    struct srv s;
    assert_int_equal(h_start(&s, dir, db, env), 0);
    struct resp r;
    char v[256], etag[256];

    h_http(&s, "GET", "/app.js", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "console.log('plain');");
    assert_non_null(strstr(h_header(&r, "Content-Type", v, sizeof v), "text/javascript"));
    assert_null(h_header(&r, "Content-Encoding", v, sizeof v));
    assert_non_null(h_header(&r, "Last-Modified", v, sizeof v));
    assert_non_null(h_header(&r, "ETag", etag, sizeof etag));
    h_resp_free(&r);

    char inm[300];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *cond[] = {inm, NULL};
    h_http(&s, "GET", "/app.js", cond, NULL, 0, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    h_resp_free(&r);
    const char *ims[] = {"If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT", NULL};
    h_http(&s, "GET", "/app.js", ims, NULL, 0, &r);
    assert_int_equal(r.status, 304);
    h_resp_free(&r);
    const char *old[] = {"If-Modified-Since: Fri, 01 Jan 1999 00:00:00 GMT", NULL};
    h_http(&s, "GET", "/app.js", old, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);

    const char *gz[] = {"Accept-Encoding: br, gzip", NULL};
    h_http(&s, "GET", "/app.js", gz, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(h_header(&r, "Content-Encoding", v, sizeof v), "gzip");
    assert_true((unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b);
    h_resp_free(&r);
    const char *nogz[] = {"Accept-Encoding: gzip;q=0", NULL};
    h_http(&s, "GET", "/app.js", nogz, NULL, 0, &r);
    assert_null(h_header(&r, "Content-Encoding", v, sizeof v));
    h_resp_free(&r);

    h_http(&s, "GET", "/style.css", NULL, NULL, 0, &r);
    assert_non_null(strstr(h_header(&r, "Content-Type", v, sizeof v), "text/css"));
    h_resp_free(&r);
    h_http(&s, "GET", "/", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(h_header(&r, "Content-Type", v, sizeof v), "text/html"));
    h_resp_free(&r);
    /* an application URL without an extension falls back to the single-page UI */
    h_http(&s, "GET", "/cases/2026/1", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<title>t</title>"));
    h_resp_free(&r);

    const char *bad[] = {
        "/../secret.txt",   "/%2e%2e/secret.txt",     "/.env",         "/link.txt", "/missing.js", "/app.js/",
        "/..%2fsecret.txt", "/site/../../secret.txt", "/up/secret.txt"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        h_http(&s, "GET", bad[i], NULL, NULL, 0, &r);
        if (r.status != 404 || strstr(r.body, "TOPSECRET") || strstr(r.body, "SECRET=1"))
            fail_msg("%s gave %ld: %.100s", bad[i], r.status, r.body);
        h_resp_free(&r);
    }
    h_http(&s, "POST", "/app.js", NULL, "x", 1, &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    h_resp_free(&r);
    assert_int_equal(h_stop(&s), 0);
}

static void per_client_rate_limit(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    const char *env[] = {"EHALL_HTTP_CLIENT_RATE=1", "EHALL_HTTP_CLIENT_BURST=5", NULL};
    struct srv s;
    assert_int_equal(h_start(&s, dir, db, env), 0); /* start-up polling may use some tokens */
    struct resp r;
    int limited = 0;
    for (int i = 0; i < 10; i++) {
        h_http(&s, "GET", "/api/v1/version", NULL, NULL, 0, &r);
        if (r.status == 429) {
            char v[32];
            assert_error(&r, 429, "rate_limited", NULL);
            assert_non_null(h_header(&r, "Retry-After", v, sizeof v));
            limited++;
        } else {
            assert_int_equal(r.status, 200);
        }
        h_resp_free(&r);
    }
    assert_true(limited >= 4);
    sleep(2); /* the bucket refills */
    h_http(&s, "GET", "/metrics", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "ehall_http_limited_total{reason=\"rate\"} 0\n"));
    assert_null(strstr(r.body, "ehall_http_client_limit_warnings_total 0\n")); /* warned early */
    h_resp_free(&r);
    assert_int_equal(h_stop(&s), 0);
}

/* Operator-only routes are judged on the socket: a forwarded request is never local. */
static void loopback_routes_ignore_forwarded_for(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    const char *env[] = {"EHALL_HTTP_TRUST_PROXY=true", NULL};
    struct srv s;
    assert_int_equal(h_start(&s, dir, db, env), 0);
    struct resp r;
    h_http(&s, "GET", "/metrics", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    const char *spoof[] = {"X-Forwarded-For: 127.0.0.1", NULL};
    h_http(&s, "GET", "/metrics", spoof, NULL, 0, &r);
    assert_error(&r, 403, "forbidden", NULL);
    h_resp_free(&r);
    h_http(&s, "GET", "/api/v1/analytics/summary?from=2026-01-01&to=2026-01-02", spoof, NULL, 0, &r);
    assert_error(&r, 403, "forbidden", NULL);
    h_resp_free(&r);
    /* public routes still see the forwarded client address in the log */
    h_http(&s, "GET", "/healthz", (const char *[]){"X-Forwarded-For: 203.0.113.7", NULL}, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    assert_int_equal(h_stop(&s), 0);
    char *log = h_slurp(s.log);
    assert_non_null(strstr(log, "\"client\":\"203.0.113.7\""));
    free(log);
}

/* Throw junk at the server; every answer must be a 4xx or success, never a 5xx. */
static void hostile_input_never_5xx(void **state)
{
    (void)state;
    const char *json[] = {"Content-Type: application/json", H_CSRF_COOKIE, H_CSRF_HEADER, NULL};
    const char *bodies[] = {"",
                            "null",
                            "[]",
                            "\"str\"",
                            "{\"path\":null}",
                            "{\"path\":\"/\\u0000x\"}",
                            "{\"path\":\"/\",\"dwell_ms\":1e400}",
                            "{\"path\":\"/\",\"dwell_ms\":99999999999999999999}",
                            "{\"path\":\"/\",\"referrer\":{\"a\":[1,2,{}]}}",
                            "\xff\xfe\xfd",
                            "{\"path\":\"\xc3\x28\"}",
                            "{\"a\":"
                            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"};
    struct resp r;
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        h_http(&S, "POST", "/api/v1/analytics/pageviews", json, bodies[i], strlen(bodies[i]), &r);
        if (r.status < 400 || r.status >= 500) fail_msg("body %zu gave %ld: %s", i, r.status, r.body);
        h_resp_free(&r);
    }
    unsigned seed = 42;
    char junk[512];
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)(rand_r(&seed) % (int)sizeof junk);
        for (size_t k = 0; k < n; k++) junk[k] = (char)(rand_r(&seed) & 0xff);
        h_http(&S, "POST", "/api/v1/analytics/pageviews", json, junk, n, &r);
        if (r.status >= 500) fail_msg("junk %d gave %ld", i, r.status);
        h_resp_free(&r);
    }
    /* raw protocol garbage on a socket, then the server must still answer */
    const char *raw[] = {"GARBAGE\r\n\r\n", "GET /healthz HTTP/9.9\r\n\r\n", "GET\r\n\r\n",
                         "POST /api/v1/analytics/pageviews HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                         "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"};
    for (size_t i = 0; i < sizeof raw / sizeof *raw; i++) {
        int fd = h_connect(&S);
        assert_true(fd >= 0);
        if (write(fd, raw[i], strlen(raw[i])) < 0) {
        }
        char buf[1024];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n > 12) {
            buf[n] = 0;
            assert_null(strstr(buf, " 500 "));
        }
        close(fd);
    }
    h_http(&S, "GET", "/healthz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
}

/* SIGTERM while a request is in flight: the request completes, then the server exits 0. */
static void graceful_shutdown_finishes_in_flight(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    struct srv s;
    assert_int_equal(h_start(&s, dir, db, NULL), 0);
    int fd = h_connect(&s);
    assert_true(fd >= 0);
    const char *body = "{\"path\":\"/during-shutdown\"}";
    char head[512];
    snprintf(head, sizeof head,
             "POST /api/v1/analytics/pageviews HTTP/1.1\r\nHost: x\r\nContent-Type: "
             "application/json\r\n" H_CSRF_COOKIE "\r\n" H_CSRF_HEADER "\r\n"
             "Content-Length: %zu\r\n\r\n",
             strlen(body));
    assert_true(write(fd, head, strlen(head)) > 0);
    assert_true(write(fd, body, 5) == 5); /* half the body: the request is in flight */
    usleep(200000);
    kill(s.pid, SIGTERM);
    usleep(300000);
    assert_true(write(fd, body + 5, strlen(body) - 5) > 0);
    char buf[2048];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = 0;
    if (!strstr(buf, "HTTP/1.1 201")) fail_msg("in-flight request got: %s", buf);
    close(fd);
    int status = h_stop(&s);
    assert_int_equal(status, 0);
    /* and the acknowledged write is there after a restart */
    assert_int_equal(h_start(&s, dir, db, NULL), 0);
    struct resp r;
    h_http(&s, "GET", "/api/v1/analytics/summary?from=2000-01-01&to=2999-12-31", NULL, NULL, 0, &r);
    assert_non_null(strstr(r.body, "/during-shutdown"));
    h_resp_free(&r);
    assert_int_equal(h_stop(&s), 0);
}

/* With shutdown_delay, SIGTERM first turns /readyz to 503 while requests are still served. */
static void shutdown_delay_turns_readiness_off_first(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    const char *env[] = {"EHALL_SHUTDOWN_DELAY=2", NULL};
    struct srv s;
    assert_int_equal(h_start(&s, dir, db, env), 0);
    kill(s.pid, SIGTERM);
    usleep(300000);
    struct resp r;
    h_http(&s, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"draining\""));
    h_resp_free(&r);
    h_http(&s, "GET", "/api/v1/version", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    assert_int_equal(h_stop(&s), 0);
}

/* A body that trickles in slower than http.request_timeout is cut off. */
static void slow_body_is_cut_off(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    const char *env[] = {"EHALL_HTTP_REQUEST_TIMEOUT=1", NULL};
    struct srv s;
    assert_int_equal(h_start(&s, dir, db, env), 0);
    int fd = h_connect(&s);
    const char *head = "POST /api/v1/analytics/pageviews HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{";
    assert_true(write(fd, head, strlen(head)) > 0);
    for (int i = 0; i < 4; i++) {
        usleep(500000);
        if (write(fd, " ", 1) < 0) break;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    assert_true(n <= 0); /* closed, no response */
    close(fd);
    struct resp r;
    h_http(&s, "GET", "/healthz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    assert_int_equal(h_stop(&s), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* tests write to sockets the server may close */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(health_ready_and_headers),
        cmocka_unit_test(error_contract),
        cmocka_unit_test(analytics_validates_records_and_summarises),
        cmocka_unit_test(metrics_exposition),
        cmocka_unit_test(hostile_input_never_5xx),
        cmocka_unit_test(static_files),
        cmocka_unit_test(loopback_routes_ignore_forwarded_for),
        cmocka_unit_test(per_client_rate_limit),
        cmocka_unit_test(graceful_shutdown_finishes_in_flight),
        cmocka_unit_test(slow_body_is_cut_off),
        cmocka_unit_test(shutdown_delay_turns_readiness_off_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
