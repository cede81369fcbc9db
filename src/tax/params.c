/*
 * params.c — dated tax parameters as data (the JSON files of tax/params → tax_param).
 *
 * Every file is one parameter set: {"kind", "valid_from", "valid_to", "source", …the
 * kind's fields}.  `ehall tax params validate DIR` checks every file (each problem by
 * file and JSON path) and that two sets of one kind never overlap; `import DIR` then
 * replaces every set in one transaction, so the directory is the source of truth.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "calendar/calendar.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "tax/tax.h"

#define PROB(...)                                                                                            \
    do {                                                                                                     \
        sb_printf(problems, "%s: ", file);                                                                   \
        sb_printf(problems, __VA_ARGS__);                                                                    \
        sb_printf(problems, "\n");                                                                           \
        n++;                                                                                                 \
    } while (0)

static int is_int_in(json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* Fields that every kind has, then the kind's own. */
static const char *const COMMON[] = {"kind", "valid_from", "valid_to", "source", NULL};
static const char *const IIT[] = {"basic_deduction_fen_month", "brackets", NULL};
static const char *const VAT_SMALL[] = {"levy_rate_bp", "reduced_rate_bp", "exempt_quarter_fen",
                                        "exempt_month_fen", NULL};
static const char *const VAT_GENERAL[] = {"rates_bp", NULL};
static const char *const CIT[] = {"rate_bp", "small_low_profit", NULL};
static const char *const CALENDAR[] = {"deadline_day", "remind_working_days", "deadline_overrides", NULL};

static int listed(const char *const *l, const char *k)
{
    for (; l && *l; l++)
        if (!strcmp(*l, k)) return 1;
    return 0;
}

static int check_int(const char *file, json_t *doc, const char *key, long long lo, long long hi,
                     struct strbuf *problems)
{
    int n = 0;
    if (!is_int_in(json_object_get(doc, key), lo, hi))
        PROB("$.%s: must be an integer from %lld to %lld", key, lo, hi);
    return n;
}

int tax_params_check(const char *file, json_t *doc, struct strbuf *problems)
{
    int n = 0;
    if (!json_is_object(doc)) {
        PROB("$: must be an object");
        return n;
    }
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const char *const *own = NULL;
    if (!kind)
        PROB("$.kind: must be one of iit_withholding, vat_small, vat_general, cit, calendar");
    else if (!strcmp(kind, "iit_withholding"))
        own = IIT;
    else if (!strcmp(kind, "vat_small"))
        own = VAT_SMALL;
    else if (!strcmp(kind, "vat_general"))
        own = VAT_GENERAL;
    else if (!strcmp(kind, "cit"))
        own = CIT;
    else if (!strcmp(kind, "calendar"))
        own = CALENDAR;
    else
        PROB("$.kind: '%s' is not one of iit_withholding, vat_small, vat_general, cit, calendar", kind);
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (!listed(COMMON, k) && (own && !listed(own, k))) PROB("$.%s: unknown field", k);
    }
    int from = 0, to = 0;
    const char *vf = json_string_value(json_object_get(doc, "valid_from"));
    const char *vt = json_string_value(json_object_get(doc, "valid_to"));
    if (!vf || calendar_date_parse(vf, &from) != 0) PROB("$.valid_from: must be a date YYYY-MM-DD");
    if (!vt || calendar_date_parse(vt, &to) != 0)
        PROB("$.valid_to: must be a date YYYY-MM-DD (9999-12-31: until further notice)");
    if (vf && vt && from && to && from > to) PROB("$.valid_to: is before valid_from");
    const char *src = json_string_value(json_object_get(doc, "source"));
    if (!src || !*src || strlen(src) > 2000) PROB("$.source: must name the regulation (1..2000 bytes)");
    if (!own) return n;
    if (own == IIT) {
        n += check_int(file, doc, "basic_deduction_fen_month", 0, TAX_FEN_MAX, problems);
        json_t *b = json_object_get(doc, "brackets");
        if (!json_is_array(b) || json_array_size(b) < 1 || json_array_size(b) > TAX_BRACKETS_MAX) {
            PROB("$.brackets: must be a list of 1 to %d brackets", TAX_BRACKETS_MAX);
            return n;
        }
        long long prev = 0;
        size_t i;
        json_array_foreach(b, i, v)
        {
            json_t *up = json_object_get(v, "upto_fen");
            int last = i + 1 == json_array_size(b);
            if (last && !json_is_null(up))
                PROB("$.brackets[%zu].upto_fen: the last bracket is open (null)", i);
            if (!last && (!is_int_in(up, prev + 1, TAX_FEN_MAX)))
                PROB("$.brackets[%zu].upto_fen: must be an integer above the previous bracket's", i);
            if (!last && json_is_integer(up)) prev = json_integer_value(up);
            if (!is_int_in(json_object_get(v, "rate_bp"), 0, 10000))
                PROB("$.brackets[%zu].rate_bp: must be an integer from 0 to 10000", i);
            if (!is_int_in(json_object_get(v, "quick_deduction_fen"), 0, TAX_FEN_MAX))
                PROB("$.brackets[%zu].quick_deduction_fen: must be a non-negative integer", i);
            json_object_foreach(v, k, up)
            {
                if (strcmp(k, "upto_fen") && strcmp(k, "rate_bp") && strcmp(k, "quick_deduction_fen"))
                    PROB("$.brackets[%zu].%s: unknown field", i, k);
            }
        }
    } else if (own == VAT_SMALL) {
        n += check_int(file, doc, "levy_rate_bp", 0, 10000, problems);
        n += check_int(file, doc, "reduced_rate_bp", 0, 10000, problems);
        n += check_int(file, doc, "exempt_quarter_fen", 0, TAX_FEN_MAX, problems);
        n += check_int(file, doc, "exempt_month_fen", 0, TAX_FEN_MAX, problems);
        if (json_integer_value(json_object_get(doc, "reduced_rate_bp")) >
            json_integer_value(json_object_get(doc, "levy_rate_bp")))
            PROB("$.reduced_rate_bp: is above levy_rate_bp");
    } else if (own == VAT_GENERAL) {
        json_t *r = json_object_get(doc, "rates_bp");
        if (!json_is_array(r) || json_array_size(r) < 1 || json_array_size(r) > 8)
            PROB("$.rates_bp: must be a list of 1 to 8 rates");
        size_t i;
        json_array_foreach(r, i, v)
        {
            if (!is_int_in(v, 0, 10000)) PROB("$.rates_bp[%zu]: must be an integer from 0 to 10000", i);
        }
    } else if (own == CIT) {
        n += check_int(file, doc, "rate_bp", 0, 10000, problems);
        json_t *s = json_object_get(doc, "small_low_profit");
        if (!json_is_object(s)) {
            PROB("$.small_low_profit: must be an object");
            return n;
        }
        static const char *const F[] = {"max_taxable_fen", "max_employees", "max_assets_fen",
                                        "portion_bp",      "rate_bp",       NULL};
        for (int i = 0; F[i]; i++) {
            long long hi = strstr(F[i], "_bp") ? 10000 : TAX_FEN_MAX;
            if (!is_int_in(json_object_get(s, F[i]), 0, hi))
                PROB("$.small_low_profit.%s: must be an integer from 0 to %lld", F[i], hi);
        }
        json_object_foreach(s, k, v)
        {
            if (!listed(F, k)) PROB("$.small_low_profit.%s: unknown field", k);
        }
    } else if (own == CALENDAR) {
        n += check_int(file, doc, "deadline_day", 1, 28, problems);
        n += check_int(file, doc, "remind_working_days", 0, 20, problems);
        json_t *o = json_object_get(doc, "deadline_overrides");
        if (o && !json_is_object(o)) PROB("$.deadline_overrides: must be an object YYYY-MM → YYYY-MM-DD");
        json_object_foreach(o, k, v)
        {
            struct tax_period p;
            int d;
            if (strlen(k) != 7 || tax_period_parse(k, &p) != 0 || p.quarterly)
                PROB("$.deadline_overrides.%s: the key must be a month YYYY-MM", k);
            if (!json_is_string(v) || calendar_date_parse(json_string_value(v), &d) != 0)
                PROB("$.deadline_overrides.%s: must be a date YYYY-MM-DD", k);
        }
    }
    return n;
}

/* ---------- a directory ---------- */

struct pfile {
    char name[256];
    json_t *doc;
    char sm3[65];
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct pfile *)a)->name, ((const struct pfile *)b)->name);
}

/* Read every *.json of dir: 0 (files in *out, n in *nf), -1 when unreadable. */
static int read_dir(const char *dir, struct pfile **out, int *nf, struct strbuf *problems)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct pfile *f = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct pfile *g = realloc(f, (size_t)cap * sizeof *f);
            if (!g) break;
            f = g;
        }
        memset(&f[n], 0, sizeof f[n]);
        snprintf(f[n].name, sizeof f[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    if (n) qsort(f, (size_t)n, sizeof *f, by_name);
    for (int i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, f[i].name);
        json_error_t je;
        f[i].doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!f[i].doc) sb_printf(problems, "%s: line %d: %s\n", f[i].name, je.line, je.text);
        if (crypto_sm3_file_hex(path, f[i].sm3) != 0) f[i].sm3[0] = 0;
    }
    *out = f;
    *nf = n;
    return 0;
}

static void free_files(struct pfile *f, int n)
{
    for (int i = 0; i < n; i++) json_decref(f[i].doc);
    free(f);
}

static int check_files(struct pfile *f, int n, struct strbuf *problems)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (!f[i].doc) {
            bad++;
            continue;
        }
        bad += tax_params_check(f[i].name, f[i].doc, problems);
    }
    if (bad) return bad;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const char *ki = json_string_value(json_object_get(f[i].doc, "kind"));
            const char *kj = json_string_value(json_object_get(f[j].doc, "kind"));
            if (strcmp(ki, kj) != 0) continue;
            const char *fi = json_string_value(json_object_get(f[i].doc, "valid_from"));
            const char *ti = json_string_value(json_object_get(f[i].doc, "valid_to"));
            const char *fj = json_string_value(json_object_get(f[j].doc, "valid_from"));
            const char *tj = json_string_value(json_object_get(f[j].doc, "valid_to"));
            if (strcmp(fi, tj) <= 0 && strcmp(fj, ti) <= 0) {
                sb_printf(problems, "%s: $.valid_from: %s %s..%s overlaps %s (%s..%s)\n", f[j].name, kj, fj,
                          tj, f[i].name, fi, ti);
                bad++;
            }
        }
    return bad;
}

int tax_params_validate_dir(const char *dir, struct strbuf *problems, int *count)
{
    struct pfile *f = NULL;
    int n = 0;
    if (read_dir(dir, &f, &n, problems) != 0) return -1;
    *count = n;
    int bad = check_files(f, n, problems);
    if (n == 0) {
        sb_printf(problems, "%s: no *.json parameter files\n", dir);
        bad = 1;
    }
    free_files(f, n);
    return bad ? 1 : 0;
}

struct import_arg {
    struct pfile *f;
    int n;
    const char *actor;
};

static int import_tx(store_conn *c, void *arg)
{
    struct import_arg *a = arg;
    int rc = store_exec(c, "DELETE FROM tax_param");
    if (rc != STORE_OK) return rc;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    for (int i = 0; i < a->n; i++) {
        char *body = json_dumps(a->f[i].doc, JSON_COMPACT | JSON_SORT_KEYS);
        if (!body) return STORE_ERROR;
        store_stmt *st = store_prepare(c, "INSERT INTO tax_param(kind, valid_from, valid_to, body, file, sm3,"
                                          " imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        if (!st) {
            free(body);
            return STORE_ERROR;
        }
        store_bind_text(st, 1, json_string_value(json_object_get(a->f[i].doc, "kind")));
        store_bind_text(st, 2, json_string_value(json_object_get(a->f[i].doc, "valid_from")));
        store_bind_text(st, 3, json_string_value(json_object_get(a->f[i].doc, "valid_to")));
        store_bind_text(st, 4, body);
        store_bind_text(st, 5, a->f[i].name);
        store_bind_text(st, 6, a->f[i].sm3);
        store_bind_text(st, 7, ts);
        rc = store_step(st);
        store_finalize(st);
        free(body);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    char det[64];
    snprintf(det, sizeof det, "{\"sets\":%d}", a->n);
    struct audit_event e = {a->actor, "operator", "local", NULL, "tax.params.import", "tax_param", "ok", det};
    return audit_append(c, &e);
}

int tax_params_import_dir(store *s, const char *dir, const char *actor, struct strbuf *problems, int *count)
{
    struct pfile *f = NULL;
    int n = 0;
    if (read_dir(dir, &f, &n, problems) != 0) {
        sb_printf(problems, "%s: cannot read the directory\n", dir);
        return 1;
    }
    *count = n;
    int bad = check_files(f, n, problems);
    if (n == 0) {
        sb_printf(problems, "%s: no *.json parameter files\n", dir);
        bad = 1;
    }
    if (bad) {
        free_files(f, n);
        return 1;
    }
    struct import_arg a = {f, n, actor};
    int rc = store_tx(s, 1, import_tx, &a);
    free_files(f, n);
    if (rc != STORE_OK) sb_printf(problems, "the database refused the import (%d)\n", rc);
    return rc == STORE_OK ? 0 : rc < 0 ? rc : -1;
}

int tax_params_in_force(store_conn *c, const char *kind, int start, int end, json_t **doc)
{
    char a[11], b[11];
    calendar_date_format(start, a);
    calendar_date_format(end, b);
    store_stmt *st = store_prepare(c, "SELECT body, sm3 FROM tax_param WHERE kind = $1 AND valid_from <= $2"
                                      " AND valid_to >= $3 ORDER BY valid_from DESC");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, kind);
    store_bind_text(st, 2, a);
    store_bind_text(st, 3, b);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        *doc = json_loads(store_column_text(st, 0), 0, NULL);
        if (*doc) json_object_set_new(*doc, "_sm3", json_string(store_column_text(st, 1)));
        rc = *doc ? STORE_OK : STORE_ERROR;
    } else if (rc != STORE_DONE) {
        rc = rc < 0 ? rc : STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

static long long geti(json_t *o, const char *k, int *bad)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) *bad = 1;
    return json_integer_value(v);
}

int tax_params_iit(json_t *doc, struct tax_iit_params *out)
{
    int bad = 0;
    out->basic_fen_month = geti(doc, "basic_deduction_fen_month", &bad);
    json_t *b = json_object_get(doc, "brackets");
    out->n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(b, i, v)
    {
        if (out->n >= TAX_BRACKETS_MAX) break;
        json_t *up = json_object_get(v, "upto_fen");
        out->b[out->n].upto_fen = json_is_integer(up) ? json_integer_value(up) : -1;
        out->b[out->n].rate_bp = geti(v, "rate_bp", &bad);
        out->b[out->n].quick_fen = geti(v, "quick_deduction_fen", &bad);
        out->n++;
    }
    return bad || out->n == 0 ? -1 : 0;
}

int tax_params_vat_small(json_t *doc, struct tax_vat_small_params *out)
{
    int bad = 0;
    out->levy_rate_bp = geti(doc, "levy_rate_bp", &bad);
    out->reduced_rate_bp = geti(doc, "reduced_rate_bp", &bad);
    out->exempt_quarter_fen = geti(doc, "exempt_quarter_fen", &bad);
    out->exempt_month_fen = geti(doc, "exempt_month_fen", &bad);
    return bad ? -1 : 0;
}

int tax_params_cit(json_t *doc, struct tax_cit_params *out)
{
    int bad = 0;
    json_t *s = json_object_get(doc, "small_low_profit");
    out->rate_bp = geti(doc, "rate_bp", &bad);
    out->slp_max_taxable_fen = geti(s, "max_taxable_fen", &bad);
    out->slp_max_employees = geti(s, "max_employees", &bad);
    out->slp_max_assets_fen = geti(s, "max_assets_fen", &bad);
    out->slp_portion_bp = geti(s, "portion_bp", &bad);
    out->slp_rate_bp = geti(s, "rate_bp", &bad);
    return bad ? -1 : 0;
}
