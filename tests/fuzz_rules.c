/*
 * libFuzzer target for the rules language: any bytes are compiled and, when they
 * compile, evaluated against a fixed environment (fields of every type, extreme
 * integers, a dictionary, a calendar with a holiday, a fixed today) and turned into
 * JSON.  Built with clang only (tests/CMakeLists.txt); fuzz_replay.c runs the committed
 * corpus through the same function in the ordinary test suite.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rules/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *fields;

static int fz_in_dict(void *ctx, const char *dict, const struct rules_value *v)
{
    (void)ctx;
    if (strcmp(dict, "district")) return -1;
    return v->type == RULES_STRING && v->str.len == 6 && !memcmp(v->str.s, "110105", 6);
}

static int fz_working(void *ctx, int y, int m, int d)
{
    (void)ctx;
    if (y == 2026 && m == 10 && d <= 7) return 0;
    long long days;
    char buf[11] = {(char)('0' + y / 1000 % 10),
                    (char)('0' + y / 100 % 10),
                    (char)('0' + y / 10 % 10),
                    (char)('0' + y % 10),
                    '-',
                    (char)('0' + m / 10),
                    (char)('0' + m % 10),
                    '-',
                    (char)('0' + d / 10),
                    (char)('0' + d % 10),
                    0};
    if (rules_date_parse(buf, 10, &days)) abort(); /* the evaluator only asks about real days */
    long long wd = ((days % 7) + 7 + 4) % 7;
    return wd >= 1 && wd <= 5;
}

static int fz_today(void *ctx, int *y, int *m, int *d)
{
    (void)ctx;
    *y = 2026;
    *m = 6;
    *d = 15;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fields)
        fields = json_loads("{\"applicant\": {\"id_number\": \"11010519491231002X\", \"name\": \"张三\"},"
                            " \"child\": {\"birth_date\": \"2026-05-20\"}, \"n\": 7, \"zero\": 0,"
                            " \"big\": 9223372036854775807, \"small\": -9223372036854775808,"
                            " \"s\": \"  Hello World  \", \"empty\": \"\", \"flag\": true, \"nothing\": null,"
                            " \"tags\": [\"a\", \"b\"], \"nums\": [1, 2, 3], \"ratio\": 1.5, \"obj\": {}}",
                            0, NULL);
    char *src = malloc(size + 1);
    if (!src) return 0;
    if (size) memcpy(src, data, size);
    src[size] = 0;
    struct rules_expr *e = NULL;
    char err[256];
    if (rules_compile(src, &e, err, sizeof err) == 0) {
        struct rules_env env = {.ctx = fields,
                                .lookup = rules_json_lookup,
                                .in_dict = fz_in_dict,
                                .is_working_day = fz_working,
                                .today = fz_today};
        struct rules_value v;
        if (rules_eval(e, &env, &v, err, sizeof err) == 0) {
            if (v.type == RULES_STRING && v.str.len && !v.str.s) abort();
            rules_value_free(&v);
        } else if (strncmp(err, "column ", 7)) {
            abort(); /* every error says where */
        }
        json_t *j = rules_to_json(e);
        json_decref(j);
        rules_free(e);
    } else if (strncmp(err, "column ", 7)) {
        abort();
    }
    free(src);
    return 0;
}
