/*
 * The rules language: every case of tests/rules_vectors.json (which the browser twin
 * runs too), then what the vectors cannot say — limits, callbacks, the JSON tree,
 * error columns, ID numbers made with today's check digits, and item rules bound to
 * a real form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <regex.h>

#include "auth/auth.h"
#include "rules/internal.h"
#include "rules/rules.h"

/* ---- an environment described by the vectors file ---- */

struct venv {
    json_t *fields, *dicts, *calendar;
    int y, m, d;
    int calls; /* of the calendar */
};

static int v_in_dict(void *ctx, const char *dict, const struct rules_value *v)
{
    struct venv *e = ctx;
    json_t *list = json_object_get(e->dicts, dict);
    if (!list) return -1;
    size_t k;
    json_t *it;
    json_array_foreach(list, k, it)
    {
        if (v->type == RULES_STRING && json_is_string(it) && json_string_length(it) == v->str.len &&
            !memcmp(json_string_value(it), v->str.s, v->str.len))
            return 1;
        if (v->type == RULES_INT && json_is_integer(it) && json_integer_value(it) == v->i) return 1;
    }
    return 0;
}

static int in_list(json_t *list, const char *s)
{
    size_t k;
    json_t *it;
    json_array_foreach(list, k, it) if (!strcmp(json_string_value(it), s)) return 1;
    return 0;
}

static int v_working(void *ctx, int y, int m, int d)
{
    struct venv *e = ctx;
    e->calls++;
    char buf[16];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
    if (in_list(json_object_get(e->calendar, "workdays"), buf)) return 1;
    if (in_list(json_object_get(e->calendar, "holidays"), buf)) return 0;
    long long days;
    assert_int_equal(rules_date_parse(buf, 10, &days), 0);
    long long wd = ((days % 7) + 7 + 4) % 7;
    size_t k;
    json_t *it;
    json_array_foreach(json_object_get(e->calendar, "weekend"), k,
                       it) if (json_integer_value(it) == wd) return 0;
    return 1;
}

static int v_today(void *ctx, int *y, int *m, int *d)
{
    struct venv *e = ctx;
    *y = e->y;
    *m = e->m;
    *d = e->d;
    return 0;
}

static int v_lookup(void *ctx, const char *path, struct rules_value *out, struct rules_arena *a)
{
    struct venv *e = ctx;
    return rules_json_lookup(e->fields, path, out, a);
}

static json_t *value_json(const struct rules_value *v)
{
    char buf[11];
    switch (v->type) {
    case RULES_NULL: return json_null();
    case RULES_BOOL: return json_boolean(v->b);
    case RULES_INT: return json_integer(v->i);
    case RULES_STRING: return json_stringn(v->str.s, v->str.len);
    case RULES_DATE: rules_date_format(v->d, buf); return json_pack("{ss}", "date", buf);
    case RULES_LIST: {
        json_t *a = json_array();
        for (size_t k = 0; k < v->list.n; k++) json_array_append_new(a, value_json(&v->list.items[k]));
        return a;
    }
    }
    return NULL;
}

static char *source_path(const char *rel)
{
    const char *dir = getenv("EHALL_SOURCE_DIR");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", dir ? dir : "..", rel);
    return p;
}

static void vectors(void **state)
{
    (void)state;
    char *path = source_path("tests/rules_vectors.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) fail_msg("%s: %s", path, jerr.text);
    free(path);
    struct venv ve = {.dicts = json_object_get(root, "dicts"), .calendar = json_object_get(root, "calendar")};
    assert_int_equal(
        sscanf(json_string_value(json_object_get(root, "today")), "%d-%d-%d", &ve.y, &ve.m, &ve.d), 3);
    struct rules_env env = {
        .ctx = &ve, .lookup = v_lookup, .in_dict = v_in_dict, .is_working_day = v_working, .today = v_today};
    size_t k;
    json_t *c;
    int failures = 0, n = 0;
    json_array_foreach(json_object_get(root, "cases"), k, c)
    {
        n++;
        const char *src = json_string_value(json_object_get(c, "expr"));
        ve.fields =
            json_object_get(c, "fields") ? json_object_get(c, "fields") : json_object_get(root, "fields");
        const char *cerr = json_string_value(json_object_get(c, "compile_error"));
        const char *eerr = json_string_value(json_object_get(c, "error"));
        json_t *want = json_object_get(c, "result");
        char err[256];
        struct rules_expr *e = NULL;
        if (rules_compile(src, &e, err, sizeof err)) {
            if (!cerr || !strstr(err, cerr)) {
                print_error("%s: compile error '%s'\n", src, err);
                failures++;
            }
            continue;
        }
        if (cerr) {
            print_error("%s: compiled, wanted '%s'\n", src, cerr);
            failures++;
            rules_free(e);
            continue;
        }
        struct rules_value v;
        if (rules_eval(e, &env, &v, err, sizeof err)) {
            if (!eerr || !strstr(err, eerr)) {
                print_error("%s: error '%s'\n", src, err);
                failures++;
            }
        } else {
            json_t *got = value_json(&v);
            if (eerr || !want || !json_equal(got, want)) {
                char *g = json_dumps(got, JSON_ENCODE_ANY);
                print_error("%s: got %s, wanted %s\n", src, g, eerr ? eerr : "another value");
                free(g);
                failures++;
            }
            json_decref(got);
            rules_value_free(&v);
        }
        rules_free(e);
    }
    assert_true(n > 200);
    assert_int_equal(failures, 0);
    json_decref(root);
}

/* ---- the rest ---- */

static int eval_int(const char *src, const struct rules_env *env, long long *out, char *err, size_t errlen)
{
    struct rules_expr *e;
    if (rules_compile(src, &e, err, errlen)) return -1;
    struct rules_value v;
    int rc = rules_eval(e, env, &v, err, errlen);
    rules_free(e);
    if (rc) return -1;
    if (v.type != RULES_INT) rc = -1;
    *out = v.i;
    rules_value_free(&v);
    return rc;
}

static int compile_fails(const char *src, const char *why)
{
    struct rules_expr *e = NULL;
    char err[256];
    if (rules_compile(src, &e, err, sizeof err) == 0) {
        rules_free(e);
        return 0;
    }
    if (!strstr(err, why)) {
        print_error("'%.60s': '%s' lacks '%s'\n", src, err, why);
        return 0;
    }
    return 1;
}

static void limits(void **state)
{
    (void)state;
    char *src = malloc(8192);
    struct rules_expr *e;
    char err[256];
    /* size: 4096 bytes compile, 4097 do not */
    src[0] = '"';
    memset(src + 1, 'a', 4094);
    strcpy(src + 4095, "\"");
    assert_int_equal(strlen(src), 4096);
    assert_int_equal(rules_compile(src, &e, err, sizeof err), 0);
    rules_free(e);
    strcpy(src + 4095, " \"");
    assert_true(compile_fails(src, "longer than 4096"));
    /* depth: 63 parentheses round a literal is 64 levels; 64 is too deep */
    for (int depth = 63; depth <= 64; depth++) {
        size_t n = 0;
        for (int k = 0; k < depth; k++) src[n++] = '(';
        src[n++] = '1';
        for (int k = 0; k < depth; k++) src[n++] = ')';
        src[n] = 0;
        if (depth == 63) {
            assert_int_equal(rules_compile(src, &e, err, sizeof err), 0);
            rules_free(e);
        } else {
            assert_true(compile_fails(src, "deeper than 64"));
        }
    }
    /* a chain of operators counts too, and so do not, unary minus and calls */
    size_t n = 0;
    for (int k = 0; k < 63; k++) n += (size_t)sprintf(src + n, "1+");
    strcpy(src + n, "1");
    assert_int_equal(rules_compile(src, &e, err, sizeof err), 0);
    long long v;
    assert_int_equal(eval_int(src, NULL, &v, err, sizeof err), 0);
    assert_int_equal(v, 64);
    rules_free(e);
    strcpy(src + n, "1+1");
    assert_true(compile_fails(src, "deeper than 64"));
    n = 0;
    for (int k = 0; k < 64; k++) n += (size_t)sprintf(src + n, "not ");
    strcpy(src + n, "true");
    assert_true(compile_fails(src, "deeper than 64"));
    n = 0;
    for (int k = 0; k < 64; k++) n += (size_t)sprintf(src + n, "- ");
    strcpy(src + n, "n");
    assert_true(compile_fails(src, "deeper than 64"));
    n = 0;
    for (int k = 0; k < 64; k++) n += (size_t)sprintf(src + n, "len(");
    strcpy(src + n, "\"\"");
    for (int k = 0; k < 64; k++) strcat(src, ")");
    assert_true(compile_fails(src, "deeper than 64"));
    /* steps: a wide tree within the depth limit still stops at max_steps */
    struct rules_env env = {.max_steps = 10};
    assert_int_equal(eval_int("1+1+1+1+1", &env, &v, err, sizeof err), 0); /* 9 nodes */
    assert_int_equal(eval_int("1+1+1+1+1+1", &env, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 10 steps"));
    /* a balanced tree of 256 leaves: 511 steps, 17 levels */
    char *big = malloc(1 << 20);
    strcpy(big, "1");
    for (int k = 0; k < 8; k++) { /* (x)+(x): 4 bytes + twice the length; stays under 4096 */
        size_t len = strlen(big);
        memmove(big + 1, big, len);
        big[0] = '(';
        memcpy(big + 1 + len, ")+(", 3);
        memcpy(big + 4 + len, big + 1, len);
        big[4 + 2 * len] = ')';
        big[5 + 2 * len] = 0;
    }
    assert_int_equal(eval_int(big, NULL, &v, err, sizeof err), 0);
    assert_int_equal(v, 256);
    /* strings stop at 64 KiB */
    struct rules_env env2 = {.max_steps = 1000000};
    strcpy(big, "\"");
    memset(big + 1, 'x', 1000);
    strcpy(big + 1001, "\"");
    for (int k = 0; k < 6; k++) {
        size_t len = strlen(big);
        memmove(big + 1, big, len);
        big[0] = '(';
        memcpy(big + 1 + len, ")+(", 3);
        memcpy(big + 4 + len, big + 1, len);
        big[4 + 2 * len] = ')';
        big[5 + 2 * len] = 0;
    }
    struct rules_expr *bx;
    if (strlen(big) <= 4096) fail_msg("test string too short");
    assert_int_equal(rules_compile(big, &bx, err, sizeof err), -1); /* the source limit comes first */
    assert_int_equal(rules_compile("s + s + s + s + s + s + s + s", &bx, err, sizeof err), 0);
    memset(big, 'y', 10000);
    json_t *f = json_object();
    json_object_set_new(f, "s", json_stringn(big, 10000));
    env2.ctx = f;
    env2.lookup = rules_json_lookup;
    struct rules_value sv;
    assert_int_equal(rules_eval(bx, &env2, &sv, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 65536"));
    rules_free(bx);
    assert_int_equal(rules_compile("s + s + s + s + s + s", &bx, err, sizeof err), 0);
    assert_int_equal(rules_eval(bx, &env2, &sv, err, sizeof err), 0);
    assert_int_equal(sv.str.len, 60000);
    rules_value_free(&sv);
    rules_free(bx);
    json_decref(f);
    free(big);
    free(src);
}

static void columns_and_messages(void **state)
{
    (void)state;
    struct rules_expr *e;
    char err[256];
    assert_int_equal(rules_compile("len(\"张三\") + x(", &e, err, sizeof err), -1);
    assert_string_equal(err, "column 13: there is no function x");
    assert_int_equal(rules_compile("\"张三\" + 1", &e, err, sizeof err), 0);
    struct rules_value v;
    assert_int_equal(rules_eval(e, NULL, &v, err, sizeof err), -1);
    assert_string_equal(err, "column 6: + joins two strings or adds two integers, not string and integer");
    assert_int_equal(v.type, RULES_NULL);
    rules_free(e);
    assert_int_equal(rules_compile("\xff", &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "UTF-8"));
    assert_int_equal(rules_compile("\"\xed\xa0\x80\"", &e, err, sizeof err), -1); /* a surrogate */
    /* a tiny error buffer is fine, and so is none */
    char small[8];
    assert_int_equal(rules_compile("(", &e, small, sizeof small), -1);
    assert_int_equal(strlen(small), 7);
    assert_int_equal(rules_compile("(", &e, NULL, 0), -1);
    assert_int_equal(rules_compile(NULL, &e, err, sizeof err), -1);
}

static void check_and_tree(void **state)
{
    (void)state;
    struct rules_expr *e;
    char err[256];
    const char *src[] = {"1 < 2", "1 > 2", "1", "1 / 0 == 1"};
    int want[] = {1, 0, -1, -1};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(rules_compile(src[k], &e, err, sizeof err), 0);
        assert_int_equal(rules_check(e, NULL), want[k]);
        rules_free(e);
    }
    assert_int_equal(
        rules_compile("not a.b in [\"x\", 2] and if(true, -n, 1 % 2) >= len(\"s\") or c not in dict(\"d\") "
                      "or date(\"2026-01-31\") == null",
                      &e, err, sizeof err),
        0);
    json_t *j = rules_to_json(e);
    char *s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(
        s, "{\"op\":\"or\",\"args\":[{\"op\":\"or\",\"args\":[{\"op\":\"and\",\"args\":[{\"op\":\"not\","
           "\"args\":[{"
           "\"op\":\"in\",\"args\":[{\"field\":\"a.b\"},{\"list\":[\"x\",2]}]}]},{\"op\":\">=\",\"args\":[{"
           "\"op\":"
           "\"if\",\"args\":[{\"bool\":true},{\"op\":\"neg\",\"args\":[{\"field\":\"n\"}]},{\"op\":\"%\","
           "\"args\":[{"
           "\"int\":1},{\"int\":2}]}]},{\"call\":\"len\",\"args\":[{\"str\":\"s\"}]}]}]},{\"op\":\"not in\","
           "\"args\":[{\"field\":\"c\"},{\"dict\":\"d\"}]}]},{\"op\":\"==\",\"args\":[{\"date\":\"2026-01-"
           "31\"},{"
           "\"null\":true}]}]}");
    free(s);
    json_decref(j);
    rules_free(e);
    rules_free(NULL);
}

/* matches() costs its subject's length times the pattern's states, and stops early
 * when that is over the budget; a pattern that would backtrack elsewhere is linear. */
static void pattern_cost(void **state)
{
    (void)state;
    char *big = malloc(20001);
    memset(big, 'a', 20000);
    big[20000] = 0;
    json_t *f = json_pack("{ss}", "s", big);
    const char *src = "matches(s, \"^a{0,100}a{0,100}a{0,100}a{0,100}a{0,100}b$\")";
    struct rules_expr *e;
    char err[256];
    assert_int_equal(rules_compile(src, &e, err, sizeof err), 0);
    struct rules_env env = {.ctx = f, .lookup = rules_json_lookup};
    struct rules_value v;
    assert_int_equal(rules_eval(e, &env, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 10000 steps"));
    env.max_steps = 1000000;
    assert_int_equal(rules_eval(e, &env, &v, err, sizeof err), 0);
    assert_int_equal(v.type, RULES_BOOL);
    assert_false(v.b);
    rules_value_free(&v);
    rules_free(e);
    assert_int_equal(rules_compile("matches(s, \"a*a*a*a*a*a*a*a*a*a*a*a*b\")", &e, err, sizeof err), 0);
    assert_int_equal(rules_eval(e, &env, &v, err, sizeof err), 0);
    assert_false(v.b);
    rules_value_free(&v);
    rules_free(e);
    json_decref(f);
    free(big);
}

/* matches() against the C library's POSIX extended regular expressions, on random
 * ASCII patterns of the subset both understand (no escapes inside classes: POSIX
 * takes a backslash there literally). */
static unsigned rnd(unsigned *seed, unsigned k)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) % k;
}

static void pattern_oracle(void **state)
{
    (void)state;
    static const char *const atoms[] = {"a", "b", ".", "[ab]", "[^a]", "[a-c]", "\\.", "[.b]"};
    static const char *const quants[] = {"", "", "", "?", "*", "+", "{2}", "{1,}", "{0,2}", "{1,3}"};
    unsigned seed = 12345;
    int checked = 0;
    for (int round = 0; round < 20000; round++) {
        char pat[128] = "", subj[16];
        size_t n = 0;
        if (rnd(&seed, 3) == 0) pat[n++] = '^';
        int natoms = 1 + (int)rnd(&seed, 5);
        for (int k = 0; k < natoms; k++) {
            const char *atom = atoms[rnd(&seed, 8)];
            n += (size_t)sprintf(pat + n, "%s%s", atom, quants[rnd(&seed, 10)]);
        }
        if (rnd(&seed, 3) == 0) pat[n++] = '$';
        pat[n] = 0;
        size_t slen = rnd(&seed, 9);
        for (size_t k = 0; k < slen; k++) subj[k] = "abc."[rnd(&seed, 4)];
        subj[slen] = 0;
        regex_t re;
        if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB)) fail_msg("regcomp %s", pat);
        int want = regexec(&re, subj, 0, NULL, 0) == 0;
        regfree(&re);
        char err[128];
        long spent;
        int got = rules_pattern_match(pat, strlen(pat), subj, slen, 1000000, &spent, err, sizeof err);
        if (got != want) fail_msg("matches(\"%s\", \"%s\") = %d, POSIX says %d", subj, pat, got, want);
        checked++;
    }
    assert_int_equal(checked, 20000);
}

/* ---- callbacks ---- */

static int fixed_today(void *ctx, int *y, int *m, int *d)
{
    (void)ctx;
    *y = 2026;
    *m = 6;
    *d = 15;
    return 0;
}

static int broken_today(void *ctx, int *y, int *m, int *d)
{
    (void)ctx;
    *y = 2026;
    *m = 2;
    *d = 30;
    return 0;
}

static int bad_lookup(void *ctx, const char *path, struct rules_value *out, struct rules_arena *a)
{
    (void)ctx;
    (void)a;
    if (!strcmp(path, "refused")) return -1;
    if (!strcmp(path, "badlist")) {
        static const struct rules_value items[1] = {{.type = RULES_BOOL}};
        out->type = RULES_LIST;
        out->list.items = items;
        out->list.n = 1;
        return 0;
    }
    if (!strcmp(path, "d")) {
        out->type = RULES_DATE;
        out->d = 20000;
        return 0;
    }
    out->type = RULES_NULL;
    return 0;
}

static void callbacks(void **state)
{
    (void)state;
    char err[256];
    long long v;
    /* no calendar: Monday to Friday.  2026-10-01 is a Thursday. */
    assert_int_equal(eval_int("days_between(\"2026-10-01\", add_working_days(\"2026-10-01\", 2))", NULL, &v,
                              err, sizeof err),
                     0);
    assert_int_equal(v, 4);
    assert_int_equal(
        eval_int("working_days_between(\"2026-10-01\", \"2026-10-31\")", NULL, &v, err, sizeof err), 0);
    assert_int_equal(v, 21);
    /* no clock: the system's, which is after 2026-01-01 */
    assert_int_equal(eval_int("days_between(\"2026-01-01\", today())", NULL, &v, err, sizeof err), 0);
    assert_true(v >= 0);
    struct rules_env env = {.today = broken_today};
    assert_int_equal(eval_int("year(today())", &env, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a real date"));
    /* no dictionaries */
    struct rules_expr *e;
    assert_int_equal(rules_compile("\"a\" in dict(\"x\")", &e, err, sizeof err), 0);
    assert_int_equal(rules_check(e, NULL), -1);
    rules_free(e);
    /* lookups that refuse, or give what rules cannot use */
    env = (struct rules_env){.lookup = bad_lookup, .today = fixed_today};
    assert_int_equal(eval_int("len(refused)", &env, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "field refused holds"));
    assert_int_equal(eval_int("len(badlist)", &env, &v, err, sizeof err), -1);
    assert_int_equal(eval_int("days_between(d, \"2026-06-15\")", &env, &v, err, sizeof err), 0);
    assert_int_equal(v, 20619 - 20000);
}

/* A valid ID number for a birth date, as test_identity.c makes them. */
static void make_id(const char *birth, int seq, char out[19])
{
    static const int W[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    snprintf(out, 19, "110105%s%03d", birth, seq);
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (out[i] - '0') * W[i];
    out[17] = "10X98765432"[sum % 11];
    out[18] = 0;
    assert_int_equal(auth_id_number_check(out, NULL), 0);
}

/* Item rules bound to a form the way the case engine will. */
static int item_rule(const char *src, json_t *form)
{
    struct rules_expr *e;
    char err[256];
    if (rules_compile(src, &e, err, sizeof err)) fail_msg("%s: %s", src, err);
    struct rules_env env = {.ctx = form, .lookup = rules_json_lookup, .today = fixed_today};
    int r = rules_check(e, &env);
    rules_free(e);
    return r;
}

static void item_rules(void **state)
{
    (void)state;
    char adult[19], minor[19], leap[19];
    make_id("20080615", 1, adult); /* 18 today */
    make_id("20080616", 2, minor); /* 18 tomorrow */
    make_id("19800229", 3, leap);  /* born on 29 February, male */
    const char *of_age = "age(applicant.id_number) >= 18";
    json_t *f = json_pack("{s{ss}}", "applicant", "id_number", adult);
    assert_int_equal(item_rule(of_age, f), 1);
    json_decref(f);
    f = json_pack("{s{ss}}", "applicant", "id_number", minor);
    assert_int_equal(item_rule(of_age, f), 0);
    json_decref(f);
    f = json_pack("{s{ss}}", "applicant", "id_number", "110105200806150000");
    assert_int_equal(item_rule(of_age, f), -1); /* an invalid number fails the rule */
    json_decref(f);
    f = json_pack("{s{ss}}", "applicant", "id_number", leap);
    assert_int_equal(item_rule("age(applicant.id_number) == 46 and gender(applicant.id_number) == \"F\"", f),
                     0);
    assert_int_equal(item_rule("age(applicant.id_number) == 46", f), 1);
    json_decref(f);

    /* birth registration: within one month (30 days) of birth, not before it */
    const char *birth = "days_between(child.birth_date, today()) <= 30 and child.birth_date <= today()";
    struct {
        const char *date;
        int want;
    } births[] = {
        {"2026-05-16", 1}, {"2026-05-15", 0}, {"2026-06-15", 1}, {"2026-06-16", 0}, {"15/05/2026", -1}};
    for (size_t k = 0; k < sizeof births / sizeof *births; k++) {
        f = json_pack("{s{ss}}", "child", "birth_date", births[k].date);
        assert_int_equal(item_rule(birth, f), births[k].want);
        json_decref(f);
    }
    f = json_pack("{s{}}", "child");
    assert_int_equal(item_rule(birth, f), -1); /* a missing date fails the rule */
    json_decref(f);

    /* dog registration: one dog per licence and tag, not registered again within a year */
    const char *dog = "dog.count == 1 and (dog.last_registered == null or "
                      "add_days(dog.last_registered, 365) <= today())";
    f = json_pack("{s{si}}", "dog", "count", 1);
    assert_int_equal(item_rule(dog, f), 1);
    json_decref(f);
    f = json_pack("{s{sis:s}}", "dog", "count", 1, "last_registered", "2025-06-15");
    assert_int_equal(item_rule(dog, f), 1);
    json_decref(f);
    f = json_pack("{s{sis:s}}", "dog", "count", 1, "last_registered", "2025-06-16");
    assert_int_equal(item_rule(dog, f), 0);
    json_decref(f);
    f = json_pack("{s{si}}", "dog", "count", 2);
    assert_int_equal(item_rule(dog, f), 0);
    json_decref(f);

    /* fees in fen: 0.5 yuan per page, at most 20 yuan, amounts as the form states them */
    const char *fee = "fen(fee.per_page) * fee.pages == fen(fee.total) and fen(fee.total) <= 2000";
    f = json_pack("{s{sssiss}}", "fee", "per_page", "0.50", "pages", 37, "total", "18.50");
    assert_int_equal(item_rule(fee, f), 1);
    json_decref(f);
    f = json_pack("{s{sssiss}}", "fee", "per_page", "0.50", "pages", 41, "total", "20.50");
    assert_int_equal(item_rule(fee, f), 0);
    json_decref(f);
    f = json_pack("{s{sssfss}}", "fee", "per_page", "0.50", "pages", 37.0, "total", "18.50");
    assert_int_equal(item_rule(fee, f), -1); /* a JSON number with a fraction is refused */
    json_decref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors),
        cmocka_unit_test(limits),
        cmocka_unit_test(columns_and_messages),
        cmocka_unit_test(check_and_tree),
        cmocka_unit_test(pattern_cost),
        cmocka_unit_test(pattern_oracle),
        cmocka_unit_test(callbacks),
        cmocka_unit_test(item_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
