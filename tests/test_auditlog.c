/*
 * Reading the audit log and keeping it in bounds: filters narrow correctly (times
 * compared as instants across offsets, prefixes, LIKE metacharacters literal, case
 * kept), keyset pagination is complete, bad filters are named, exports are quoted and
 * defused and their SM3 matches `openssl dgst -sm3`, and a purge archives, deletes
 * only what is past retention, keeps the chain verifiable, and leaves the engines
 * refusing every other change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "harness.h"

static char dir[256], db[512], out[16384];

static store *fresh(void)
{
    char err[512];
    h_fresh(dir, db);
    struct store_options o = {4, 5000, 10000};
    store *s = NULL;
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    return s;
}

static store *reopen(void)
{
    char err[512];
    struct store_options o = {4, 5000, 10000};
    store *s = NULL;
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    return s;
}

static int exec_sql(store_conn *c, void *sql) { return store_exec(c, sql); }

/* A record with a chosen time, chained exactly as audit_append would chain it (the
 * library never lets a caller choose the time, so tests write it themselves). */
struct old {
    const char *at, *actor, *action, *object, *result, *client, *request_id, *details;
};

static int insert_tx(store_conn *c, void *arg)
{
    const struct old *o = arg;
    store_stmt *st = store_prepare(c, "SELECT seq, hash FROM audit_head WHERE id = 1");
    if (!st || store_step(st) != STORE_ROW) return STORE_ERROR;
    long long seq = store_column_int64(st, 0) + 1;
    char prev[65], hash[65];
    snprintf(prev, sizeof prev, "%s", store_column_text(st, 1));
    store_finalize(st);
    struct audit_row r = {seq,       o->at,     o->actor,  "clerk",    o->client, o->request_id,
                          o->action, o->object, o->result, o->details, prev,      NULL};
    if (audit_row_hash(&r, hash) != 0) return STORE_ERROR;
    st = store_prepare(c,
                       "INSERT INTO audit_log(seq, at, actor, role, client, request_id, action, object,"
                       " result, details, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, seq);
    const char *v[] = {r.at,     r.actor,  r.role,   r.client, r.request_id,
                       r.action, r.object, r.result, r.details};
    for (int i = 0; i < 9; i++) store_bind_text(st, i + 2, v[i]);
    store_bind_text(st, 11, prev);
    store_bind_text(st, 12, hash);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return STORE_ERROR;
    st = store_prepare(c, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1");
    store_bind_int64(st, 1, seq);
    store_bind_text(st, 2, hash);
    rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : STORE_ERROR;
}

static void insert_old(store *s, struct old o)
{
    if (!o.result) o.result = "ok";
    if (!o.action) o.action = "case.accept";
    assert_int_equal(store_tx(s, 1, insert_tx, &o), STORE_OK);
}

static void record(store *s, const char *actor, const char *action, const char *object, const char *result,
                   const char *client, const char *rid, const char *details)
{
    struct audit_event e = {actor, "clerk", client, rid, action, object, result, details};
    assert_int_equal(audit_record(s, &e), STORE_OK);
}

struct collect {
    long long seqs[2048];
    int n;
};

static int collect_row(void *arg, const struct audit_row *r)
{
    struct collect *c = arg;
    if (c->n < 2048) c->seqs[c->n++] = r->seq;
    return 0;
}

static int count(store *s, struct audit_filter f)
{
    struct collect c = {.n = 0};
    if (!f.limit) f.limit = 1000;
    int rc = audit_search(s, &f, collect_row, &c);
    if (rc != STORE_OK) fail_msg("audit_search returned %d", rc);
    return c.n;
}

static void times_are_compared_as_instants(void **state)
{
    (void)state;
    store *s = fresh();
    /* text order: 3 < 2 < 1; time order: 1 (02:00Z) < 2 (03:00Z) < 3 (03:30Z) */
    insert_old(s, (struct old){.at = "2020-01-01T10:00:00.000+08:00", .actor = "u1"});
    insert_old(s, (struct old){.at = "2020-01-01T03:00:00.000+00:00", .actor = "u1"});
    insert_old(s, (struct old){.at = "2019-12-31T22:30:00.000-05:00", .actor = "u1"});
    insert_old(s, (struct old){.at = "2020-01-02T00:00:00.500+08:00", .actor = "u1"});
    assert_int_equal(count(s, (struct audit_filter){.from = "2020-01-01T02:30:00Z"}), 3);
    assert_int_equal(count(s, (struct audit_filter){.to = "2020-01-01T03:00:00Z"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.to = "2020-01-01T03:00:00.001Z"}), 2);
    assert_int_equal(
        count(s, (struct audit_filter){.from = "2020-01-01T03:00:00Z", .to = "2020-01-01T03:30:00Z"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.from = "2020-01-01T11:30:00+08:00"}), 2);
    /* sub-millisecond bounds: .5004 is after the record at .500 */
    assert_int_equal(count(s, (struct audit_filter){.from = "2020-01-01T16:00:00.5004Z"}), 0);
    assert_int_equal(count(s, (struct audit_filter){.from = "2020-01-01T16:00:00.5Z"}), 1);
    /* a date alone is midnight in the process's zone (UTC here unless TZ says otherwise) */
    setenv("TZ", "UTC", 1);
    tzset();
    assert_int_equal(count(s, (struct audit_filter){.from = "2020-01-01", .to = "2020-01-02"}), 4);
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    assert_int_equal(count(s, (struct audit_filter){.from = "2020-01-02"}), 1);
    unsetenv("TZ");
    tzset();
    store_close(s);
}

static void filters_narrow(void **state)
{
    (void)state;
    store *s = fresh();
    record(s, "u1", "auth.login", "acct-1", "ok", "10.0.0.1", "r1", NULL);
    record(s, "u1", "auth.logout", "acct-1", "ok", "10.0.0.1", "r2", NULL);
    record(s, "u2", "auth.login", "acct-2", "denied", "10.0.0.2", "r3", NULL);
    record(s, "u2", "authz.grant", "role-7", "ok", "10.0.1.9", "r4", NULL);
    record(s, "u3", "auth_x.y", "case-1", "ok", "192.168.0.1", "r5", NULL);
    record(s, "a%_b", "case.accept", "case-2", "ok", NULL, NULL, NULL);
    record(s, "a%_bc", "case.accept", "case-3", "ok", NULL, NULL, NULL);
    record(s, "aXYb", "case.accept", "case-4", "ok", NULL, NULL, NULL);
    record(s, "aXYbc", "Auth.login", "case-5", "ok", NULL, NULL, NULL);
    record(s, "a\\b", "case.accept", "x", "ok", NULL, NULL, NULL);

    assert_int_equal(count(s, (struct audit_filter){0}), 10);
    assert_int_equal(count(s, (struct audit_filter){.actor = "u1"}), 2);
    assert_int_equal(count(s, (struct audit_filter){.actor = "u"}), 0);
    assert_int_equal(count(s, (struct audit_filter){.actor = "u*"}), 5);
    assert_int_equal(count(s, (struct audit_filter){.action = "auth.login"}), 2);
    assert_int_equal(count(s, (struct audit_filter){.action = "auth.*"}), 3); /* not authz.*, not Auth.* */
    assert_int_equal(count(s, (struct audit_filter){.action = "auth*"}), 5);
    assert_int_equal(count(s, (struct audit_filter){.action = "Auth.*"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.object = "acct-1"}), 2);
    assert_int_equal(count(s, (struct audit_filter){.object = "case-*"}), 5);
    assert_int_equal(count(s, (struct audit_filter){.result = "denied"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.client = "10.0.0.*"}), 3);
    assert_int_equal(count(s, (struct audit_filter){.client = "10.0.0.2"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.request_id = "r4"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.actor = "u1", .action = "auth.login"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.actor = "u2", .result = "ok", .client = "10.0.*"}), 1);
    /* LIKE metacharacters are literal: '_' is not "any character", '%' not "anything" */
    assert_int_equal(count(s, (struct audit_filter){.actor = "a%_b"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.actor = "a%_b*"}), 2);
    assert_int_equal(count(s, (struct audit_filter){.actor = "a%*"}), 2);
    assert_int_equal(count(s, (struct audit_filter){.actor = "a__b*"}), 0);
    assert_int_equal(count(s, (struct audit_filter){.action = "auth_*"}), 1); /* auth_x.y, not authz.grant */
    assert_int_equal(count(s, (struct audit_filter){.actor = "a\\*"}), 1);
    assert_int_equal(count(s, (struct audit_filter){.actor = "%*"}), 0);
    /* limit */
    assert_int_equal(count(s, (struct audit_filter){.limit = 3}), 3);

    /* a row's columns, and the JSON the API will serve */
    record(s, "u9", "case.note", "c", "ok", NULL, NULL, "{\"n\":1,\"who\":[\"x\"]}");
    record(s, "u9", "case.note", "c", "ok", NULL, NULL, "not json {");
    struct collect c = {.n = 0};
    assert_int_equal(audit_search(s, &(struct audit_filter){.actor = "u9"}, collect_row, &c), STORE_OK);
    assert_int_equal(c.n, 2);
    store_close(s);
}

struct json_rows {
    json_t *rows[4];
    int n;
};

static int json_row(void *arg, const struct audit_row *r)
{
    struct json_rows *j = arg;
    j->rows[j->n++] = audit_row_json(r);
    return j->n == 4;
}

static void row_json_parses_details(void **state)
{
    (void)state;
    store *s = fresh();
    record(s, "u9", "case.note", "c", "ok", NULL, NULL, "{\"n\":1,\"who\":[\"x\"]}");
    record(s, "u9", "case.note", NULL, "ok", "1.2.3.4", "rid", "not json {");
    struct json_rows j = {.n = 0};
    assert_int_equal(audit_search(s, &(struct audit_filter){0}, json_row, &j), STORE_OK);
    assert_int_equal(j.n, 2);
    json_t *a = j.rows[0], *b = j.rows[1];
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(json_integer_value(json_object_get(a, "seq")), 1);
    assert_string_equal(json_string_value(json_object_get(a, "actor")), "u9");
    assert_true(json_is_null(json_object_get(a, "client")));
    assert_true(json_is_object(json_object_get(a, "details")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "details"), "n")), 1);
    assert_int_equal(strlen(json_string_value(json_object_get(a, "hash"))), 64);
    assert_string_equal(json_string_value(json_object_get(b, "details")), "not json {");
    assert_true(json_is_null(json_object_get(b, "object")));
    assert_string_equal(json_string_value(json_object_get(b, "request_id")), "rid");
    assert_string_equal(json_string_value(json_object_get(b, "prev_hash")),
                        json_string_value(json_object_get(a, "hash")));
    json_decref(a);
    json_decref(b);
    store_close(s);
}

static void pagination_is_complete(void **state)
{
    (void)state;
    store *s = fresh();
    for (int i = 0; i < 250; i++)
        record(s, i % 3 ? "u1" : "u2", i % 2 ? "auth.login" : "case.accept", "o", "ok", NULL, NULL, NULL);
    for (int pass = 0; pass < 2; pass++) {
        struct audit_filter f = {.limit = 7, .action = pass ? "auth.*" : NULL};
        struct collect all = {.n = 0};
        for (;;) {
            struct collect page = {.n = 0};
            assert_int_equal(audit_search(s, &f, collect_row, &page), STORE_OK);
            assert_true(page.n <= 7);
            for (int i = 0; i < page.n; i++) all.seqs[all.n++] = page.seqs[i];
            if (page.n < 7) break;
            f.after_seq = page.seqs[page.n - 1];
        }
        assert_int_equal(all.n, pass ? 125 : 250);
        for (int i = 1; i < all.n; i++)
            assert_true(all.seqs[i] > all.seqs[i - 1]); /* ordered, no duplicate */
        for (int i = 0; i < all.n; i++) assert_int_equal(all.seqs[i], pass ? 2 * i + 2 : i + 1);
    }
    /* the default limit is 100 */
    struct collect c = {.n = 0};
    assert_int_equal(audit_search(s, &(struct audit_filter){0}, collect_row, &c), STORE_OK);
    assert_int_equal(c.n, 100);
    store_close(s);
}

static void bad_filters_are_named(void **state)
{
    (void)state;
    char long_text[200];
    memset(long_text, 'x', 129);
    long_text[129] = 0;
    struct {
        struct audit_filter f;
        const char *field;
    } cases[] = {
        {{.from = "2026-13-01"}, "from"},
        {{.from = "2026-02-30"}, "from"},
        {{.from = "2026-02-03T10:00:00"}, "from"}, /* RFC 3339 needs the offset */
        {{.to = "yesterday"}, "to"},
        {{.to = "2026-01-01T24:00:00Z"}, "to"},
        {{.from = "2026-02-01", .to = "2026-01-01"}, "to"},
        {{.from = "2026-01-01T00:00:00Z", .to = "2026-01-01T00:00:00Z"}, "to"},
        {{.actor = "a\nb"}, "actor"},
        {{.action = "auth.\x1b[31m"}, "action"},
        {{.object = long_text}, "object"},
        {{.result = ""}, "result"},
        {{.client = "\xff\xfe"}, "client"},
        {{.request_id = "\xc0\xaf"}, "request_id"}, /* overlong '/' */
        {{.after_seq = -1}, "after_seq"},
        {{.limit = 1001}, "limit"},
        {{.limit = -1}, "limit"},
    };
    store *s = fresh();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *field = NULL, *why = NULL;
        assert_int_equal(audit_filter_check(&cases[i].f, &field, &why), -1);
        if (!field || strcmp(field, cases[i].field) != 0)
            fail_msg("case %zu: named %s, wanted %s", i, field ? field : "(none)", cases[i].field);
        assert_non_null(why);
        struct collect c = {.n = 0};
        assert_int_equal(audit_search(s, &cases[i].f, collect_row, &c), AUDIT_BAD_FILTER);
    }
    const char *field = "x", *why = "x";
    struct audit_filter good = {.from = "2026-01-01",
                                .to = "2026-11-23T21:32:08.123+08:00",
                                .actor = "张三*",
                                .action = "auth.*",
                                .limit = 1000};
    assert_int_equal(audit_filter_check(&good, &field, &why), 0);
    assert_null(field);
    store_close(s);
    /* the CLI names the field too */
    store_close(fresh());
    const char *args[] = {"audit", "search", "--from", "2026-13-01", NULL};
    assert_int_equal(h_cli(dir, db, args, out, sizeof out), 2);
    assert_non_null(strstr(out, "--from"));
}

static void openssl_sm3(const char *path, char hex[65])
{
    char cmd[600], line[512];
    snprintf(cmd, sizeof cmd, "openssl dgst -sm3 '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    char *eq = strstr(line, "= ");
    assert_non_null(eq);
    snprintf(hex, 65, "%s", eq + 2);
}

static void exports_are_quoted_defused_and_digested(void **state)
{
    (void)state;
    store *s = fresh();
    record(s, "u1", "case.accept", "=cmd|' /C calc'!A0", "ok", NULL, NULL, "=cmd|' /C calc'!A0");
    record(s, "@SUM(A1)", "case.note", "+1", "-1", "\tx", NULL, "{\"note\":\"a,b \\\"q\\\"\\nc\"}");
    record(s, "u2", "case.note", "line1\r\nline2, \"quoted\"", "ok", NULL, "r,1", NULL);
    char csv[400], jsonl[400], hex[65], want[65];
    snprintf(csv, sizeof csv, "%s/out.csv", dir);
    snprintf(jsonl, sizeof jsonl, "%s/out.jsonl", dir);
    FILE *f = fopen(csv, "w");
    long long rows = 0;
    assert_int_equal(audit_export(s, &(struct audit_filter){0}, f, "csv", &rows, hex), STORE_OK);
    fclose(f);
    assert_int_equal(rows, 3);
    openssl_sm3(csv, want);
    assert_string_equal(hex, want);
    char *text = h_slurp(csv);
    assert_non_null(text);
    assert_memory_equal(text, "\xef\xbb\xbfseq,at,actor,", 16);
    assert_non_null(strstr(text, ",\"'=cmd|' /C calc'!A0\",\"ok\",\"'=cmd|' /C calc'!A0\","));
    assert_non_null(strstr(text, ",\"'@SUM(A1)\",\"clerk\",\"'\tx\",,\"case.note\",\"'+1\",\"'-1\","));
    assert_non_null(strstr(text, ",\"{\"\"note\"\":\"\"a,b \\\"\"q\\\"\"\\nc\"\"}\","));
    assert_non_null(strstr(text, ",\"r,1\",\"case.note\",\"line1\r\nline2, \"\"quoted\"\"\",\"ok\",,\""));
    /* every record ends with CRLF after the hash cell; no unquoted text cell begins with a trigger */
    assert_null(strstr(text, ",="));
    assert_null(strstr(text, ",\"="));
    assert_null(strstr(text, ",\"@"));
    free(text);

    f = fopen(jsonl, "w");
    assert_int_equal(audit_export(s, &(struct audit_filter){.actor = "u*"}, f, "jsonl", &rows, hex),
                     STORE_OK);
    fclose(f);
    assert_int_equal(rows, 2);
    openssl_sm3(jsonl, want);
    assert_string_equal(hex, want);
    /* every jsonl line re-hashes to its hash: the export keeps the exact text */
    f = fopen(jsonl, "r");
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        struct audit_row r = {
            json_integer_value(json_object_get(o, "seq")),
            json_string_value(json_object_get(o, "at")),
            json_string_value(json_object_get(o, "actor")),
            json_string_value(json_object_get(o, "role")),
            json_string_value(json_object_get(o, "client")),
            json_string_value(json_object_get(o, "request_id")),
            json_string_value(json_object_get(o, "action")),
            json_string_value(json_object_get(o, "object")),
            json_string_value(json_object_get(o, "result")),
            json_string_value(json_object_get(o, "details")),
            json_string_value(json_object_get(o, "prev_hash")),
            json_string_value(json_object_get(o, "hash")),
        };
        char h[65];
        assert_int_equal(audit_row_hash(&r, h), 0);
        assert_string_equal(h, r.hash);
        json_decref(o);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 2);
    assert_int_equal(audit_export(s, &(struct audit_filter){0}, stdout, "xml", &rows, hex), AUDIT_BAD_FILTER);
    store_close(s);

    /* the CLI: count and digest printed, FILE.sm3 written, the export audited, no overwrite */
    char file[400], sumf[420];
    snprintf(file, sizeof file, "%s/cli.csv", dir);
    snprintf(sumf, sizeof sumf, "%s.sm3", file);
    const char *args[] = {"audit", "export", "--format", "csv", "--action", "case.*", file, NULL};
    assert_int_equal(h_cli(dir, db, args, out, sizeof out), 0);
    assert_non_null(strstr(out, "3 records written to"));
    openssl_sm3(file, want);
    assert_non_null(strstr(out, want));
    char *sum = h_slurp(sumf);
    assert_non_null(sum);
    assert_memory_equal(sum, want, 64);
    free(sum);
    assert_int_equal(h_cli(dir, db, args, out, sizeof out), 1); /* exists */
    s = reopen();
    struct collect c = {.n = 0};
    assert_int_equal(audit_search(s, &(struct audit_filter){.action = "audit.export"}, collect_row, &c),
                     STORE_OK);
    assert_int_equal(c.n, 2); /* ok, then failed */
    store_close(s);
    const char *search[] = {"audit", "search", "--action", "audit.export", "--result", "ok", NULL};
    assert_int_equal(h_cli(dir, db, search, out, sizeof out), 0);
    assert_non_null(strstr(out, "\taudit.export\t"));
    assert_non_null(strstr(out, want));
    assert_null(strstr(out, "\tfailed\t"));
}

static int count_all(store *s)
{
    struct collect c = {.n = 0};
    assert_int_equal(audit_search(s, &(struct audit_filter){.limit = 1000}, collect_row, &c), STORE_OK);
    return c.n;
}

static void purge_archives_and_keeps_the_chain(void **state)
{
    (void)state;
    store *s = fresh();
    for (int i = 0; i < 20; i++) {
        char at[40];
        snprintf(at, sizeof at, "2020-03-%02dT09:00:00.000+08:00", i + 1);
        insert_old(s, (struct old){.at = at,
                                   .actor = "u1",
                                   .object = "=cmd|' /C calc'!A0",
                                   .details = i % 2 ? "{\"n\":1}" : NULL});
    }
    for (int i = 0; i < 5; i++) record(s, "u2", "case.accept", "c", "ok", NULL, NULL, NULL);
    store_close(s);
    char archive[400], want[65];
    snprintf(archive, sizeof archive, "%s/audit-2020.jsonl", dir);

    /* inside retention: refused, nothing deleted, the refusal audited */
    const char *inside[] = {"audit", "purge", "--archive", archive, "--before", "2100-01-01", NULL};
    assert_int_equal(h_cli(dir, db, inside, out, sizeof out), 1);
    assert_non_null(strstr(out, "inside the retention period"));
    assert_int_not_equal(access(archive, F_OK), 0);
    s = reopen();
    assert_int_equal(count_all(s), 26);
    store_close(s);

    /* records before a date that is itself past retention */
    const char *early[] = {"audit", "purge", "--archive", archive, "--before", "2020-03-06", NULL};
    assert_int_equal(h_cli(dir, db, early, out, sizeof out), 0);
    assert_non_null(strstr(out, "purged 5 records (1..5"));
    const char *va[] = {"audit", "verify-archive", archive, NULL};
    assert_int_equal(h_cli(dir, db, va, out, sizeof out), 0);
    assert_non_null(strstr(out, "archive intact: 5 records, 1..5"));
    assert_non_null(strstr(out, "continues from hash 0000000000000000"));

    /* the rest past retention; the archive must be new */
    const char *again[] = {"audit", "purge", "--archive", archive, NULL};
    assert_int_equal(h_cli(dir, db, again, out, sizeof out), 1);
    assert_non_null(strstr(out, "File exists"));
    char archive2[400];
    snprintf(archive2, sizeof archive2, "%s/audit-2020b.jsonl", dir);
    const char *purge[] = {"audit", "purge", "--archive", archive2, NULL};
    assert_int_equal(h_cli(dir, db, purge, out, sizeof out), 0);
    assert_non_null(strstr(out, "purged 15 records (6..20"));
    const char *va2[] = {"audit", "verify-archive", archive2, NULL};
    assert_int_equal(h_cli(dir, db, va2, out, sizeof out), 0);
    openssl_sm3(archive2, want);
    char sumf2[420];
    snprintf(sumf2, sizeof sumf2, "%s.sm3", archive2);
    char *sum = h_slurp(sumf2);
    assert_non_null(sum);
    assert_memory_equal(sum, want, 64);
    free(sum);
    struct audit_archive_info a1, a2;
    assert_int_equal(audit_archive_verify(archive, &a1), 0);
    assert_int_equal(audit_archive_verify(archive2, &a2), 0);
    assert_string_equal(a2.first_prev, a1.last_hash); /* the two pieces chain together */

    /* nothing older is left */
    char archive3[400];
    snprintf(archive3, sizeof archive3, "%s/audit-none.jsonl", dir);
    const char *none[] = {"audit", "purge", "--archive", archive3, NULL};
    assert_int_equal(h_cli(dir, db, none, out, sizeof out), 0);
    assert_non_null(strstr(out, "nothing to purge"));
    assert_int_not_equal(access(archive3, F_OK), 0);

    /* the remaining chain verifies from the anchor: 5 records, 1 refusal, 2 purges */
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 9 records"));
    assert_non_null(strstr(out, "records up to 20 were purged"));
    s = reopen();
    long long anchor;
    char anchor_hash[65];
    assert_int_equal(audit_anchor(s, &anchor, anchor_hash), STORE_OK);
    assert_int_equal(anchor, 20);
    assert_string_equal(anchor_hash, a2.last_hash);
    struct json_rows j = {.n = 0};
    assert_int_equal(
        audit_search(s, &(struct audit_filter){.action = "audit.purge", .result = "ok"}, json_row, &j),
        STORE_OK);
    assert_int_equal(j.n, 2);
    json_t *d = json_object_get(j.rows[1], "details");
    assert_int_equal(json_integer_value(json_object_get(d, "from_seq")), 6);
    assert_int_equal(json_integer_value(json_object_get(d, "to_seq")), 20);
    assert_string_equal(json_string_value(json_object_get(d, "sm3")), want);
    assert_string_equal(json_string_value(json_object_get(j.rows[1], "object")), archive2);
    json_decref(j.rows[0]);
    json_decref(j.rows[1]);
    j.n = 0;
    assert_int_equal(
        audit_search(s, &(struct audit_filter){.action = "audit.purge", .result = "refused"}, json_row, &j),
        STORE_OK);
    assert_int_equal(j.n, 2); /* inside retention; archive exists */
    json_decref(j.rows[0]);
    json_decref(j.rows[1]);

    /* the engines still refuse every other change */
    assert_int_not_equal(store_tx(s, 1, exec_sql, "DELETE FROM audit_log WHERE seq = 21"), STORE_OK);
    assert_int_not_equal(store_tx(s, 1, exec_sql, "DELETE FROM audit_log"), STORE_OK);
    assert_int_not_equal(store_tx(s, 1, exec_sql, "UPDATE audit_log SET result = 'x' WHERE seq = 22"),
                         STORE_OK);
    if (store_engine_of(s) == STORE_POSTGRES)
        assert_int_not_equal(store_tx(s, 1, exec_sql, "TRUNCATE audit_log"), STORE_OK);
    assert_int_equal(count_all(s), 9);
    store_close(s);
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);

    /* an archive changed after the fact fails: digest first, then the chain */
    char *text = h_slurp(archive2);
    char *p = strstr(text, "\"result\":\"ok\"");
    assert_non_null(p);
    memcpy(p, "\"result\":\"no\"", 13);
    FILE *f = fopen(archive2, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    assert_int_equal(h_cli(dir, db, va2, out, sizeof out), 1);
    assert_non_null(strstr(out, "SM3 digest mismatch"));
    char hex[65];
    openssl_sm3(archive2, hex);
    assert_int_equal(audit_write_digest_file(archive2, hex), 0);
    assert_int_equal(h_cli(dir, db, va2, out, sizeof out), 1);
    assert_non_null(strstr(out, "record 6: its contents do not match its hash"));

    /* tampering with a remaining record is still caught */
    s = reopen();
    const char *drop = store_engine_of(s) == STORE_SQLITE
                           ? "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
                           : "DROP TRIGGER audit_log_no_change ON audit_log";
    assert_int_equal(store_tx(s, 1, exec_sql, (void *)drop), STORE_OK);
    assert_int_equal(store_tx(s, 1, exec_sql, "UPDATE audit_log SET result = 'denied' WHERE seq = 23"),
                     STORE_OK);
    store_close(s);
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 1);
    assert_non_null(strstr(out, "BROKEN at record 23"));
}

static void purge_takes_only_an_old_prefix(void **state)
{
    (void)state;
    store *s = fresh();
    struct audit_event who = {"system:test", "operator", "local", NULL, NULL, NULL, NULL, NULL};
    char archive[400];
    snprintf(archive, sizeof archive, "%s/a.jsonl", dir);
    for (int i = 0; i < 3; i++)
        insert_old(s, (struct old){.at = "2019-05-01T08:00:00.000+08:00", .actor = "u"});
    record(s, "u", "case.accept", NULL, "ok", NULL, NULL, NULL); /* now */
    /* the clock went back: an old time after a new one stays, and so does all after it */
    insert_old(s, (struct old){.at = "2019-05-02T08:00:00.000+08:00", .actor = "u"});

    struct audit_purge p = {.retention_days = 364, .archive = archive, .who = &who};
    assert_int_equal(audit_purge_run(s, &p), 2);
    assert_non_null(strstr(p.why, "below 365"));
    p.retention_days = 365;
    p.before = "not a date";
    assert_int_equal(audit_purge_run(s, &p), 2);
    p.before = NULL;
    assert_int_equal(audit_purge_run(s, &p), 0);
    assert_int_equal(p.from_seq, 1);
    assert_int_equal(p.upto_seq, 3);
    assert_int_equal(p.records, 3);
    assert_int_equal(count_all(s), 3); /* seq 4, 5 and the purge record */
    struct audit_report rep;
    assert_int_equal(audit_verify(s, &rep), 0);
    assert_int_equal(rep.records, 3);

    /* a broken chain is never purged: the evidence would go */
    const char *drop = store_engine_of(s) == STORE_SQLITE
                           ? "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
                           : "DROP TRIGGER audit_log_no_change ON audit_log";
    assert_int_equal(store_tx(s, 1, exec_sql, (void *)drop), STORE_OK);
    assert_int_equal(store_tx(s, 1, exec_sql, "UPDATE audit_log SET actor = 'v' WHERE seq = 5"), STORE_OK);
    snprintf(archive, sizeof archive, "%s/b.jsonl", dir);
    assert_int_equal(audit_purge_run(s, &p), 2);
    assert_non_null(strstr(p.why, "broken at record 5"));
    assert_int_not_equal(access(archive, F_OK), 0);

    /* removing the first record after the anchor is caught as well */
    assert_int_equal(store_tx(s, 1, exec_sql, "DELETE FROM audit_log WHERE seq = 4"), STORE_OK);
    assert_int_equal(audit_verify(s, &rep), 1);
    assert_int_equal(rep.broken_seq, 4);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times_are_compared_as_instants),
        cmocka_unit_test(filters_narrow),
        cmocka_unit_test(row_json_parses_details),
        cmocka_unit_test(pagination_is_complete),
        cmocka_unit_test(bad_filters_are_named),
        cmocka_unit_test(exports_are_quoted_defused_and_digested),
        cmocka_unit_test(purge_archives_and_keeps_the_chain),
        cmocka_unit_test(purge_takes_only_an_old_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
