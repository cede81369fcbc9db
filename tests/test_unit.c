/*
 * Unit tests: configuration, routing, SM3, the arena and metrics rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "http/http.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void config_file_env_and_errors(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.http_max_body, 1048576);

    const char *p = "/tmp/ehall-unit.conf";
    write_file(p, "# comment\nlisten = 0.0.0.0:9000\nhttp.max_body = 2048\nhttp.trust_proxy = true\n"
                  "data = \"/srv/ehall\"\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), 0);
    assert_string_equal(c.listen, "0.0.0.0:9000");
    assert_int_equal(c.http_max_body, 2048);
    assert_int_equal(c.http_trust_proxy, 1);
    assert_string_equal(c.data_dir, "/srv/ehall");

    setenv("EHALL_HTTP_MAX_BODY", "4096", 1);
    assert_int_equal(config_load_env(&c, err, sizeof err), 0);
    assert_int_equal(c.http_max_body, 4096);
    setenv("EHALL_HTTP_MAX_BODY", "lots", 1);
    assert_int_equal(config_load_env(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "EHALL_HTTP_MAX_BODY"));
    unsetenv("EHALL_HTTP_MAX_BODY");

    config_finish(&c);
    assert_string_equal(c.db_url, "sqlite:/srv/ehall/ehall.db");

    write_file(p, "listen = 127.0.0.1:1\nhttp.nonsense = 3\n");
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:"));
    assert_non_null(strstr(err, "http.nonsense"));
    assert_non_null(strstr(err, "unknown key"));

    write_file(p, "http.threads = 100000\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    write_file(p, "db = mysql://x\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "db:"));
    write_file(p, "listen = nowhere\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    write_file(p, "just words\n");
    assert_int_equal(config_load_file(&c, p, err, sizeof err), -1);
    assert_non_null(strstr(err, "key = value"));
    unlink(p);

    const struct config_key_info *keys;
    size_t n = config_keys(&keys);
    assert_true(n > 10);
    for (size_t i = 0; i < n; i++) {
        assert_true(strncmp(keys[i].env, "EHALL_", 6) == 0);
        assert_true(strlen(keys[i].doc) > 10);
    }
}

static int dummy(http_req *r)
{
    (void)r;
    return 0;
}

static void router_matches_methods_and_params(void **state)
{
    (void)state;
    const struct http_route routes[] = {
        {"GET", "/api/v1/items", dummy, ACCESS_PUBLIC, NULL, ""},
        {"GET", "/api/v1/items/{code}", dummy, ACCESS_PUBLIC, NULL, ""},
        {"POST", "/api/v1/items/{code}/cases", dummy, ACCESS_PUBLIC, NULL, ""},
        {"DELETE", "/api/v1/items/{code}", dummy, ACCESS_PUBLIC, NULL, ""},
    };
    int ok;
    assert_int_equal(http_route_match(routes, 4, "GET", "/api/v1/items", &ok), 0);
    assert_true(ok);
    assert_int_equal(http_route_match(routes, 4, "HEAD", "/api/v1/items", &ok), 0);
    assert_true(ok);
    assert_int_equal(http_route_match(routes, 4, "GET", "/api/v1/items/X1", &ok), 1);
    assert_int_equal(http_route_match(routes, 4, "DELETE", "/api/v1/items/X1", &ok), 3);
    assert_int_equal(http_route_match(routes, 4, "POST", "/api/v1/items/X1/cases", &ok), 2);
    /* path known, method not: the first path match and ok = 0 (405) */
    assert_int_equal(http_route_match(routes, 4, "PUT", "/api/v1/items/X1", &ok), 1);
    assert_false(ok);
    assert_int_equal(http_route_match(routes, 4, "GET", "/api/v1/items/", &ok), -1);
    assert_int_equal(http_route_match(routes, 4, "GET", "/api/v1/items//cases", &ok), -1);
    assert_int_equal(http_route_match(routes, 4, "GET", "/api/v1/itemsX", &ok), -1);
    assert_int_equal(http_route_match(routes, 4, "GET", "/api/v1", &ok), -1);
}

static void sm3_known_answers(void **state)
{
    (void)state;
    unsigned char d[SM3_DIGEST_LEN];
    char hex[65];
    /* GB/T 32905-2016 appendix A examples */
    assert_int_equal(crypto_sm3("abc", 3, d), 0);
    hex_encode(d, sizeof d, hex);
    assert_string_equal(hex, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    const char *m = "abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd";
    assert_int_equal(crypto_sm3(m, 64, d), 0);
    hex_encode(d, sizeof d, hex);
    assert_string_equal(hex, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    write_file("/tmp/ehall-unit.sm3", "abc");
    assert_int_equal(crypto_sm3_file_hex("/tmp/ehall-unit.sm3", hex), 0);
    assert_string_equal(hex, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    unlink("/tmp/ehall-unit.sm3");
    assert_int_equal(crypto_sm3_file_hex("/nonexistent/file", hex), -1);
}

static void arena_allocates_aligned_and_large(void **state)
{
    (void)state;
    arena *a = arena_new(64);
    assert_non_null(a);
    for (int i = 0; i < 1000; i++) {
        char *p = arena_alloc(a, (size_t)(i % 37) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 'x', (size_t)(i % 37) + 1);
    }
    char *big = arena_alloc(a, 1 << 20);
    assert_non_null(big);
    memset(big, 0, 1 << 20);
    assert_string_equal(arena_strndup(a, "hello world", 5), "hello");
    arena_free(a);
}

static void histogram_renders_cumulative_buckets(void **state)
{
    (void)state;
    static struct histogram h;
    histogram_observe(&h, 0.0001);
    histogram_observe(&h, 0.003);
    histogram_observe(&h, 7.0);
    struct strbuf sb = {0};
    histogram_render(&sb, "x_seconds", "route=\"/a\"", &h);
    assert_false(sb.oom);
    assert_non_null(strstr(sb.data, "x_seconds_bucket{route=\"/a\",le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(sb.data, "x_seconds_bucket{route=\"/a\",le=\"0.005\"} 2\n"));
    assert_non_null(strstr(sb.data, "x_seconds_bucket{route=\"/a\",le=\"5\"} 2\n"));
    assert_non_null(strstr(sb.data, "x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(sb.data, "x_seconds_count{route=\"/a\"} 3\n"));
    sb_free(&sb);
}

static void time_is_rfc3339_with_offset(void **state)
{
    (void)state;
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    char buf[48];
    time_rfc3339(0.25, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T08:00:00.250+08:00");
}

/* Against localtime_r and strftime, at every 20 minutes around each zone's changes and at
 * random times over 1900-2100: each zone on a thread of its own, since a thread keeps the
 * offsets it has seen (the server's zone does not change while it runs). */
static void *rfc3339_zone(void *arg)
{
    const char *zone = arg;
    setenv("TZ", zone, 1);
    tzset();
    long mismatches = 0;
    unsigned long long x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        time_t t;
        if (i < 100000) {
            t = (time_t)(1700000000LL - 50000LL * 1200 + (long long)i * 1200); /* 2022-2025, dense */
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;                     /* xorshift */
            t = (time_t)((long long)(x % 6311390400ULL) - 2208988800LL); /* 1900-2100 */
        }
        char got[48], want[64], base[32];
        time_rfc3339((double)t + 0.5, got, sizeof got);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        long off = tm.tm_gmtoff / 60, a = off < 0 ? -off : off;
        snprintf(want, sizeof want, "%s.500%c%02ld:%02ld", base, off < 0 ? '-' : '+', a / 60, a % 60);
        if (strcmp(got, want) != 0 && mismatches++ < 3) fprintf(stderr, "%s: %s != %s\n", zone, got, want);
    }
    return (void *)(long)mismatches;
}

static void time_rfc3339_matches_localtime(void **state)
{
    (void)state;
    const char *zones[] = {"Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe",
                           "UTC"};
    for (size_t i = 0; i < sizeof zones / sizeof *zones; i++) {
        pthread_t th;
        void *bad = NULL;
        assert_int_equal(pthread_create(&th, NULL, rfc3339_zone, (void *)zones[i]), 0);
        assert_int_equal(pthread_join(th, &bad), 0);
        assert_int_equal((long)bad, 0);
    }
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    /* a short buffer gets a truncated, terminated string */
    char small[8];
    time_rfc3339(0.25, small, sizeof small);
    assert_string_equal(small, "1970-01");
}

/* http_json_text writes what json_dumps(v, JSON_COMPACT) writes. */
static void json_text_matches_jansson(void **state)
{
    (void)state;
    const char *docs[] = {
        "{}",
        "[]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
        "[0,-1,9223372036854775807,-9223372036854775808,42]",
        "[1.5,-0.25,1e300,3.0,0.1]",
        "{\"quote\\\"key\":\"back\\\\slash \\\"quoted\\\" \\/ \\b\\f\\n\\r\\t \\u0001\\u001f \\u007f\"}",
        "[\"户籍证明 申请\",\"😀 emoji\",\"\\u2028\\u2029\",\"\\u0000nul\"]",
        "{\"z\":1,\"a\":2,\"m\":{\"y\":[[],[{}]],\"b\":\"\"}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        json_error_t je;
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        assert_non_null(v);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t len = 0;
        char *got = http_json_text(v, &len);
        assert_non_null(got);
        assert_non_null(want);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(got, want, len);
        free(got);
        free(want);
        json_decref(v);
    }
    /* a string that is not UTF-8 (made without jansson's check) is refused, as jansson does */
    json_t *bad = json_pack("[o]", json_stringn_nocheck("a\xff", 2));
    assert_null(http_json_text(bad, NULL));
    json_decref(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_file_env_and_errors),
        cmocka_unit_test(router_matches_methods_and_params),
        cmocka_unit_test(sm3_known_answers),
        cmocka_unit_test(arena_allocates_aligned_and_large),
        cmocka_unit_test(histogram_renders_cumulative_buckets),
        cmocka_unit_test(time_is_rfc3339_with_offset),
        cmocka_unit_test(time_rfc3339_matches_localtime),
        cmocka_unit_test(json_text_matches_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
