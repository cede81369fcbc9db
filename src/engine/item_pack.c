/*
 * item_pack.c — a pack of service items on disk (`ehall items validate|import DIR`):
 *
 *   DIR/<CODE>.json            one item each (item.c checks it)
 *   DIR/bundles/<CODE>.json    bundles (一件事一次办) of items of the pack
 *   DIR/testdata/<CODE>.json   applications to each item with their expected outcome;
 *                              every case is run through item_check_form, so the test
 *                              data is checked as well as the items
 *   DIR/org.json               the departments and roles the workflows name
 *
 * Validation reports every problem as "FILE: $.path: what is wrong".  Import validates
 * first and stores nothing when anything is wrong; then, in one transaction, it
 * creates the missing departments and roles (existing ones are never changed), adds
 * each new item version (making it current), refuses other bytes under a version
 * already stored, and skips unchanged files — every change audited in the same
 * transaction.  docs/items.md describes the formats.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/keys.h"
#include "auth/rbac.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "engine/item.h"

#define FILE_MAX (1024 * 1024)

struct pfile {
    char name[256]; /* relative to the pack: "GA-HJ-0001.json", "bundles/BND-X.json" */
    char *text;
    size_t len;
    char sm3[65];
    struct item *it; /* items */
    json_t *json;    /* bundles, org */
};

struct pack {
    struct pfile *items, *bundles, *testdata;
    size_t nitems, nbundles, ntestdata;
    struct pfile org;
    int has_org;
    struct strbuf *out;
    int n; /* problems */
};

static void PP(struct pack *p, const char *file, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void PP(struct pack *p, const char *file, const char *path, const char *fmt, ...)
{
    p->n++;
    if (!p->out) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb_printf(p->out, "%s: %s: %s\n", file, path, msg);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f) || n > FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct pfile *)a)->name, ((const struct pfile *)b)->name);
}

/* Read every *.json of dir/sub into a sorted array.  -1 when dir/sub cannot be opened
 * (0 files when it is simply missing and optional). */
static int read_dir(struct pack *p, const char *dir, const char *sub, int required, struct pfile **out,
                    size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
    DIR *d = opendir(path);
    *out = NULL;
    *n = 0;
    if (!d) return required ? -1 : 0;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") || e->d_name[0] == '.') continue;
        if (!sub && !strcmp(e->d_name, "org.json")) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct pfile *g = realloc(*out, cap * sizeof **out);
            if (!g) break;
            *out = g;
        }
        struct pfile *f = &(*out)[*n];
        memset(f, 0, sizeof *f);
        snprintf(f->name, sizeof f->name, "%s%s%s", sub ? sub : "", sub ? "/" : "", e->d_name);
        char full[1400];
        snprintf(full, sizeof full, "%s/%s", dir, f->name);
        f->text = slurp(full, &f->len);
        if (!f->text) {
            PP(p, f->name, "$", "cannot be read (or over 1 MiB)");
            continue;
        }
        unsigned char md[SM3_DIGEST_LEN];
        crypto_sm3(f->text, f->len, md);
        hex_encode(md, sizeof md, f->sm3);
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(*out, *n, sizeof **out, cmp_name);
    return 0;
}

static void free_files(struct pfile *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].text);
        item_free(f[i].it);
        json_decref(f[i].json);
    }
    free(f);
}

static void pack_free(struct pack *p)
{
    free_files(p->items, p->nitems);
    free_files(p->bundles, p->nbundles);
    free_files(p->testdata, p->ntestdata);
    free(p->org.text);
    json_decref(p->org.json);
}

static const struct item *pack_item(struct pack *p, const char *code)
{
    for (size_t i = 0; code && i < p->nitems; i++)
        if (p->items[i].it && !strcmp(p->items[i].it->code, code)) return p->items[i].it;
    return NULL;
}

/* a string member, "" when absent or not a string */
static const char *sv(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int code_ok(const char *s, const char *allowed, size_t maxlen)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= maxlen && strspn(s, allowed) == n;
}

static json_t *load_json(struct pack *p, struct pfile *f)
{
    json_error_t je;
    json_t *j = json_loadb(f->text, f->len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        PP(p, f->name, "$", "not JSON: line %d column %d: %s", je.line, je.column, je.text);
    else if (!json_is_object(j)) {
        PP(p, f->name, "$", "not an object");
        json_decref(j);
        j = NULL;
    }
    return j;
}

static void unknown(struct pack *p, const char *file, json_t *o, const char *path, const char *const *known,
                    size_t n)
{
    const char *k;
    json_t *x;
    json_object_foreach(o, k, x)
    {
        size_t i = 0;
        while (i < n && strcmp(k, known[i])) i++;
        if (i == n) PP(p, file, path, "unknown key \"%.40s\"", k);
    }
}
#define UNKNOWN(p, f, o, path, known) unknown((p), (f), (o), (path), (known), EHALL_ARRAY_LEN(known))

static const char *str_of(struct pack *p, const char *file, json_t *o, const char *key, const char *path,
                          int required)
{
    json_t *x = json_object_get(o, key);
    if (!x) {
        if (required) PP(p, file, path, "\"%s\" is missing", key);
        return NULL;
    }
    if (!json_is_string(x) || !json_string_length(x)) {
        PP(p, file, path, "\"%s\" is not a non-empty string", key);
        return NULL;
    }
    return json_string_value(x);
}

/* file stem of "bundles/BND-X.json" → "BND-X" */
static void stem(const char *name, char *out, size_t len)
{
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    snprintf(out, len, "%.*s", (int)(strlen(b) - 5), b);
}

/* ---------- org.json ---------- */

#define DEPT_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
#define ROLE_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"

static void check_org(struct pack *p)
{
    struct pfile *f = &p->org;
    json_t *o = f->json = load_json(p, f);
    if (!o) return;
    static const char *const known[] = {"departments", "roles"};
    static const char *const dknown[] = {"code", "name", "parent"};
    static const char *const rknown[] = {"code", "name", "scope", "permissions"};
    UNKNOWN(p, f->name, o, "$", known);
    json_t *depts = json_object_get(o, "departments"), *roles = json_object_get(o, "roles");
    if (!json_is_array(depts)) PP(p, f->name, "$.departments", "missing or not a list");
    if (roles && !json_is_array(roles)) PP(p, f->name, "$.roles", "not a list");
    size_t i, j;
    json_t *d, *x;
    json_array_foreach(depts, i, d)
    {
        char path[64];
        snprintf(path, sizeof path, "$.departments[%zu]", i);
        if (!json_is_object(d)) {
            PP(p, f->name, path, "not an object");
            continue;
        }
        UNKNOWN(p, f->name, d, path, dknown);
        const char *code = str_of(p, f->name, d, "code", path, 1);
        str_of(p, f->name, d, "name", path, 1);
        json_t *par = json_object_get(d, "parent");
        const char *parent = json_is_null(par) ? NULL : str_of(p, f->name, d, "parent", path, 0);
        if (code && !code_ok(code, DEPT_CHARS, 32))
            PP(p, f->name, path, "code: upper-case letters, digits, _ and - (at most 32)");
        for (j = 0; code && j < i; j++)
            if (!strcmp(code, sv(json_array_get(depts, j), "code")))
                PP(p, f->name, path, "code \"%s\" is listed twice", code);
        if (parent) {
            int earlier = 0, later = 0;
            json_array_foreach(depts, j, x)
            {
                const char *c = json_string_value(json_object_get(x, "code"));
                if (c && !strcmp(c, parent)) {
                    if (j < i) earlier = 1;
                    if (j >= i) later = 1;
                }
            }
            if (later && !earlier)
                PP(p, f->name, path, "parent \"%s\" must be listed before its children", parent);
        }
    }
    const struct perm_info *cat;
    size_t ncat = rbac_catalog(&cat);
    json_array_foreach(roles, i, d)
    {
        char path[64], p2[96];
        snprintf(path, sizeof path, "$.roles[%zu]", i);
        if (!json_is_object(d)) {
            PP(p, f->name, path, "not an object");
            continue;
        }
        UNKNOWN(p, f->name, d, path, rknown);
        const char *code = str_of(p, f->name, d, "code", path, 1);
        str_of(p, f->name, d, "name", path, 1);
        const char *scope = str_of(p, f->name, d, "scope", path, 1);
        if (code && (!code_ok(code, ROLE_CHARS, 32) || rbac_admin_role(code)))
            PP(p, f->name, path,
               "code: lower-case letters, digits, _ and - (at most 32), not an administrator role");
        if (scope && strcmp(scope, "own") && strcmp(scope, "dept") && strcmp(scope, "subtree") &&
            strcmp(scope, "all"))
            PP(p, f->name, path, "scope must be own, dept, subtree or all");
        json_t *perms = json_object_get(d, "permissions");
        if (!json_is_array(perms) || !json_array_size(perms)) {
            PP(p, f->name, path, "permissions: missing or not a non-empty list");
            continue;
        }
        json_array_foreach(perms, j, x)
        {
            snprintf(p2, sizeof p2, "%s.permissions[%zu]", path, j);
            const char *pc = json_string_value(x);
            const struct perm_info *found = NULL;
            for (size_t k = 0; pc && k < ncat; k++)
                if (!strcmp(cat[k].code, pc)) found = &cat[k];
            if (!found)
                PP(p, f->name, p2, "unknown permission \"%s\"", pc ? pc : "(not a string)");
            else if (found->admin)
                PP(p, f->name, p2, "\"%s\" belongs to a built-in administrator role only", pc);
        }
    }
}

static int org_has(struct pack *p, const char *list, const char *code)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(p->org.json, list), i, x)
    {
        const char *c = json_string_value(json_object_get(x, "code"));
        if (c && code && !strcmp(c, code)) return 1;
    }
    return 0;
}

/* ---------- bundles ---------- */

static void check_bundle(struct pack *p, struct pfile *f)
{
    json_t *o = f->json = load_json(p, f);
    if (!o) return;
    static const char *const known[] = {"code", "version", "name", "name_en", "description", "items"};
    UNKNOWN(p, f->name, o, "$", known);
    const char *code = str_of(p, f->name, o, "code", "$", 1);
    char st[256];
    stem(f->name, st, sizeof st);
    if (code && (!code_ok(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", 32) || strlen(code) < 3))
        PP(p, f->name, "$.code", "must match [A-Z0-9-]{3,32}");
    else if (code && strcmp(code, st))
        PP(p, f->name, "$.code", "\"%s\" does not match the file name (%s.json expected)", code, code);
    str_of(p, f->name, o, "name", "$", 1);
    json_t *v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
        PP(p, f->name, "$.version", "an integer from 1 is needed");
    json_t *items = json_object_get(o, "items");
    if (!json_is_array(items) || json_array_size(items) < 2) {
        PP(p, f->name, "$.items", "a list of at least two item codes is needed");
        return;
    }
    size_t i, j;
    json_t *x;
    json_array_foreach(items, i, x)
    {
        char path[48];
        snprintf(path, sizeof path, "$.items[%zu]", i);
        const char *c = json_string_value(x);
        if (!c)
            PP(p, f->name, path, "not an item code");
        else if (!pack_item(p, c))
            PP(p, f->name, path, "no item \"%s\" in the pack (or it has problems)", c);
        for (j = 0; c && j < i; j++)
            if (json_string_value(json_array_get(items, j)) &&
                !strcmp(c, json_string_value(json_array_get(items, j))))
                PP(p, f->name, path, "\"%s\" is listed twice", c);
    }
}

/* ---------- test data ---------- */

/* An applicant profile for a test data file: its "applicant" object with kind and
 * birth (YYYY-MM-DD) filled out into what item_applicant_json would give. */
static json_t *synth_applicant(json_t *a)
{
    const char *kind = json_string_value(json_object_get(a, "kind"));
    json_t *o = json_pack("{s:s}", "kind", kind ? kind : "person");
    if (!o) return NULL;
    const char *birth = json_string_value(json_object_get(a, "birth"));
    int bd;
    if (!birth || calendar_date_parse(birth, &bd) != 0) calendar_date_parse("1985-06-15", &bd);
    int y, m, d;
    calendar_date_ymd(bd, &y, &m, &d);
    char idn[19];
    snprintf(idn, sizeof idn, "110101%04d%02d%02d123", y, m, d);
    static const int W[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (idn[i] - '0') * W[i];
    idn[17] = "10X98765432"[sum % 11];
    idn[18] = 0;
    int ty, tm, td;
    calendar_date_ymd(calendar_today(), &ty, &tm, &td);
    int age = ty - y - ((tm < m || (tm == m && td < d)) ? 1 : 0);
    json_object_set_new(o, "name", json_string("王测试"));
    json_object_set_new(o, "id_number", json_string(idn));
    json_object_set_new(o, "mobile", json_string("13800138000"));
    json_object_set_new(o, "address", json_string("重庆市渝中区解放碑街道民权路1号"));
    json_object_set_new(o, "age", json_integer(age));
    if (kind && strcmp(kind, "person")) {
        json_object_set_new(o, "credit_code", json_string("91350100M000100Y43"));
        json_object_set_new(o, "enterprise_name", json_string("重庆测试科技有限公司"));
    }
    /* explicit values win */
    static const char *const keys[] = {"name",    "id_number",   "mobile",
                                       "address", "credit_code", "enterprise_name"};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(a, keys[i]);
        if (json_is_string(v)) json_object_set(o, keys[i], v);
    }
    return o;
}

/* 1 when a backend_refuse entry matches the form */
static int refused_by_backend(json_t *refuse, json_t *form)
{
    size_t i;
    json_t *r;
    json_array_foreach(refuse, i, r)
    {
        const char *field = json_string_value(json_object_get(r, "field"));
        if (!field || strncmp(field, "form.", 5)) continue;
        json_t *have = json_object_get(form, field + 5);
        if (have && json_equal(have, json_object_get(r, "value"))) return 1;
    }
    return 0;
}

static void check_testdata(struct pack *p, struct pfile *f)
{
    json_t *o = f->json = load_json(p, f);
    if (!o) return;
    static const char *const known[] = {"item", "applicant", "cases", "backend_refuse"};
    static const char *const aknown[] = {"kind",   "birth",   "name",        "id_number",
                                         "mobile", "address", "credit_code", "enterprise_name"};
    static const char *const cknown[] = {"name", "form", "materials", "expect", "fields", "note"};
    static const char *const rknown[] = {"field", "value"};
    UNKNOWN(p, f->name, o, "$", known);
    const char *code = str_of(p, f->name, o, "item", "$", 1);
    char st[256];
    stem(f->name, st, sizeof st);
    if (code && strcmp(code, st))
        PP(p, f->name, "$.item", "\"%s\" does not match the file name (%s.json expected)", code, code);
    const struct item *it = pack_item(p, code);
    if (code && !it) PP(p, f->name, "$.item", "no item \"%s\" in the pack (or it has problems)", code);
    json_t *a = json_object_get(o, "applicant");
    const char *kind = NULL;
    if (!json_is_object(a)) {
        PP(p, f->name, "$.applicant", "missing or not an object");
    } else {
        UNKNOWN(p, f->name, a, "$.applicant", aknown);
        kind = str_of(p, f->name, a, "kind", "$.applicant", 1);
        if (kind && strcmp(kind, "person") && strcmp(kind, "enterprise") && strcmp(kind, "agent"))
            PP(p, f->name, "$.applicant.kind", "one of person, enterprise, agent");
        else if (kind && it && !item_accepts(it, kind))
            PP(p, f->name, "$.applicant.kind", "the item does not take applications from a %s", kind);
        const char *birth = json_string_value(json_object_get(a, "birth"));
        int bd;
        if (json_object_get(a, "birth") && (!birth || calendar_date_parse(birth, &bd) != 0))
            PP(p, f->name, "$.applicant.birth", "not a date (YYYY-MM-DD)");
    }
    json_t *refuse = json_object_get(o, "backend_refuse");
    size_t i, j;
    json_t *x, *c;
    if (refuse && !json_is_array(refuse)) PP(p, f->name, "$.backend_refuse", "not a list");
    json_array_foreach(refuse, i, x)
    {
        char path[64];
        snprintf(path, sizeof path, "$.backend_refuse[%zu]", i);
        if (!json_is_object(x)) {
            PP(p, f->name, path, "not an object");
            continue;
        }
        UNKNOWN(p, f->name, x, path, rknown);
        const char *field = str_of(p, f->name, x, "field", path, 1);
        if (field && it && (strncmp(field, "form.", 5) || !item_field(it, field + 5)))
            PP(p, f->name, path, "field \"%s\" is not a form field of the item", field);
        json_t *v = json_object_get(x, "value");
        if (!json_is_string(v) && !json_is_integer(v))
            PP(p, f->name, path, "value: a string or an integer is needed");
    }
    json_t *cases = json_object_get(o, "cases");
    if (!json_is_array(cases) || !json_array_size(cases)) {
        PP(p, f->name, "$.cases", "missing or not a non-empty list");
        return;
    }
    json_t *applicant = json_is_object(a) ? synth_applicant(a) : NULL;
    json_array_foreach(cases, i, c)
    {
        char path[64], p2[96];
        snprintf(path, sizeof path, "$.cases[%zu]", i);
        if (!json_is_object(c)) {
            PP(p, f->name, path, "not an object");
            continue;
        }
        UNKNOWN(p, f->name, c, path, cknown);
        str_of(p, f->name, c, "name", path, 1);
        const char *expect = str_of(p, f->name, c, "expect", path, 1);
        static const char *const outcomes[] = {"invalid", "valid", "approved", "not_accepted", "refused"};
        int oc = -1;
        for (size_t k = 0; expect && k < EHALL_ARRAY_LEN(outcomes); k++)
            if (!strcmp(expect, outcomes[k])) oc = (int)k;
        if (expect && oc < 0)
            PP(p, f->name, path, "expect: one of invalid, valid, approved, not_accepted, refused");
        json_t *form = json_object_get(c, "form");
        if (!json_is_object(form)) {
            PP(p, f->name, path, "form: missing or not an object");
            continue;
        }
        json_t *mats = json_object_get(c, "materials");
        if (mats && !json_is_array(mats)) PP(p, f->name, path, "materials: not a list of material ids");
        json_array_foreach(mats, j, x)
        {
            snprintf(p2, sizeof p2, "%s.materials[%zu]", path, j);
            if (it && !item_material(it, json_string_value(x)))
                PP(p, f->name, p2, "not a material id of the item");
        }
        json_t *fields = json_object_get(c, "fields");
        if (oc == 0 && (!json_is_array(fields) || !json_array_size(fields)))
            PP(p, f->name, path, "fields: an invalid case lists the field paths that must be reported");
        if (!it || oc < 0) continue;
        /* required materials present in the cases that should pass */
        if (oc != 0)
            for (size_t k = 0; k < it->nmaterials; k++)
                if (it->materials[k].required) {
                    int found = 0;
                    json_array_foreach(mats, j, x) if (json_string_value(x) &&
                                                       !strcmp(json_string_value(x), it->materials[k].id))
                        found = 1;
                    if (!found)
                        PP(p, f->name, path, "materials: the required material \"%s\" is not listed",
                           it->materials[k].id);
                }
        json_t *copy = json_deep_copy(form), *errors = json_array();
        item_resolve_dates(copy, calendar_today());
        int rc = item_check_form(it, copy, applicant, NULL, errors);
        if (oc == 0) {
            if (rc != 1) PP(p, f->name, path, "expected invalid, but the form passes every check");
            json_array_foreach(fields, j, x)
            {
                const char *want = json_string_value(x);
                int seen = 0;
                size_t k;
                json_t *e;
                json_array_foreach(errors, k, e) if (want && !strcmp(want, sv(e, "field"))) seen = 1;
                snprintf(p2, sizeof p2, "%s.fields[%zu]", path, j);
                if (!seen)
                    PP(p, f->name, p2, "%s is not reported as a problem", want ? want : "(not a string)");
            }
        } else {
            if (rc != 0) {
                json_t *e0 = json_array_get(errors, 0);
                PP(p, f->name, path, "expected %s, but the form is invalid: %s: %s", expect,
                   json_string_value(json_object_get(e0, "field")),
                   json_string_value(json_object_get(e0, "message")));
            }
            int refused = refused_by_backend(refuse, copy);
            if (oc == 3 && !refused)
                PP(p, f->name, path, "expected not_accepted, but no backend_refuse entry matches the form");
            if (oc != 3 && refused)
                PP(p, f->name, path, "expected %s, but a backend_refuse entry matches the form", expect);
        }
        json_decref(copy);
        json_decref(errors);
    }
    json_decref(applicant);
}

/* ---------- the pack ---------- */

static int pack_read(const char *dir, struct pack *p)
{
    if (read_dir(p, dir, NULL, 1, &p->items, &p->nitems) != 0) return -1;
    for (size_t i = 0; i < p->nitems; i++) {
        struct pfile *f = &p->items[i];
        int rc = item_load(f->text, f->len, f->name, &f->it, p->out);
        if (rc < 0) PP(p, f->name, "$", "out of memory");
        if (rc > 0) p->n += rc;
        for (size_t k = 0; f->it && k < i; k++)
            if (p->items[k].it && !strcmp(p->items[k].it->code, f->it->code))
                PP(p, f->name, "$.code", "\"%s\" is also the code of %s", f->it->code, p->items[k].name);
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/org.json", dir);
    snprintf(p->org.name, sizeof p->org.name, "org.json");
    FILE *test = fopen(path, "rb");
    if (test) {
        fclose(test);
        p->has_org = 1;
        p->org.text = slurp(path, &p->org.len);
        if (!p->org.text)
            PP(p, "org.json", "$", "cannot be read (or over 1 MiB)");
        else
            check_org(p);
    }
    if (p->has_org && p->org.json)
        for (size_t i = 0; i < p->nitems; i++) {
            const struct item *it = p->items[i].it;
            if (!it) continue;
            if (!org_has(p, "departments", it->department))
                PP(p, p->items[i].name, "$.department", "department \"%s\" is not in org.json",
                   it->department);
            for (size_t s = 0; s < it->nsteps; s++) {
                char sp[64];
                snprintf(sp, sizeof sp, "$.workflow.steps[%zu]", s);
                if (!org_has(p, "departments", it->steps[s].department))
                    PP(p, p->items[i].name, sp, "department \"%s\" is not in org.json",
                       it->steps[s].department);
                if (!org_has(p, "roles", it->steps[s].role))
                    PP(p, p->items[i].name, sp, "role \"%s\" is not in org.json", it->steps[s].role);
            }
        }
    read_dir(p, dir, "bundles", 0, &p->bundles, &p->nbundles);
    for (size_t i = 0; i < p->nbundles; i++) check_bundle(p, &p->bundles[i]);
    read_dir(p, dir, "testdata", 0, &p->testdata, &p->ntestdata);
    for (size_t i = 0; i < p->ntestdata; i++) check_testdata(p, &p->testdata[i]);
    if (!p->nitems) PP(p, dir, "$", "no item files (<CODE>.json) in the directory");
    return p->n;
}

int item_pack_validate(const char *dir, struct strbuf *problems)
{
    struct pack p = {.out = problems};
    int rc = pack_read(dir, &p);
    if (rc < 0 && problems) sb_printf(problems, "%s: cannot open the directory\n", dir);
    pack_free(&p);
    return rc;
}

/* ---------- import ---------- */

struct imp {
    struct pack *p;
    const char *actor;
    struct strbuf *report, *problems;
    int refused;
};

static int audit(store_conn *c, struct imp *m, const char *action, const char *object, const char *details)
{
    struct audit_event e = {m->actor, "operator", "local", NULL, action, object, "ok", details};
    return audit_append(c, &e);
}

static int import_org(store_conn *c, struct imp *m)
{
    json_t *org = m->p->org.json;
    size_t i;
    json_t *d;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    json_array_foreach(json_object_get(org, "departments"), i, d)
    {
        const char *code = json_string_value(json_object_get(d, "code"));
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *parent = json_string_value(json_object_get(d, "parent"));
        long long exists = 0, pid = 0;
        char ppath[512] = "/";
        store_stmt *st = store_prepare(c, "SELECT id, path FROM department WHERE code = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, code);
        int rc = store_step(st);
        if (rc == STORE_ROW) exists = store_column_int64(st, 0);
        store_finalize(st);
        if (rc < 0) return rc;
        if (exists) continue;
        if (parent) {
            st = store_prepare(c, "SELECT id, path FROM department WHERE code = $1");
            if (!st) return STORE_ERROR;
            store_bind_text(st, 1, parent);
            rc = store_step(st);
            if (rc == STORE_ROW) {
                pid = store_column_int64(st, 0);
                snprintf(ppath, sizeof ppath, "%s", store_column_text(st, 1));
            }
            store_finalize(st);
            if (rc < 0) return rc;
            if (!pid) {
                char path[64];
                snprintf(path, sizeof path, "$.departments[%zu]", i);
                sb_printf(m->problems,
                          "org.json: %s: parent \"%s\" is neither in org.json nor in the database\n", path,
                          parent);
                m->refused = 1;
                return STORE_ERROR;
            }
        }
        st = store_prepare(c, "INSERT INTO department(parent_id, code, name, path, created_at)"
                              " VALUES ($1, $2, $3, '', $4) RETURNING id");
        if (!st) return STORE_ERROR;
        if (pid)
            store_bind_int64(st, 1, pid);
        else
            store_bind_null(st, 1);
        store_bind_text(st, 2, code);
        store_bind_text(st, 3, name);
        store_bind_text(st, 4, ts);
        rc = store_step(st);
        long long id = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
        store_finalize(st);
        if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
        char path[600];
        snprintf(path, sizeof path, "%s%lld/", ppath, id);
        st = store_prepare(c, "UPDATE department SET path = $2 WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, id);
        store_bind_text(st, 2, path);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        if ((rc = audit(c, m, "org.department.create", code, "{\"via\":\"ehall items import\"}")) != STORE_OK)
            return rc;
        sb_printf(m->report, "department %s created (%s)\n", code, name);
    }
    json_array_foreach(json_object_get(org, "roles"), i, d)
    {
        const char *code = json_string_value(json_object_get(d, "code"));
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *scope = json_string_value(json_object_get(d, "scope"));
        char perms[1024];
        size_t n = (size_t)snprintf(perms, sizeof perms, ",");
        size_t j;
        json_t *x;
        json_array_foreach(json_object_get(d, "permissions"), j, x)
        {
            char needle[80];
            snprintf(needle, sizeof needle, ",%s,", json_string_value(x));
            if (!strstr(perms, needle) && n < sizeof perms)
                n += (size_t)snprintf(perms + n, sizeof perms - n, "%s,", json_string_value(x));
        }
        long long exists = 0;
        int rc = STORE_OK;
        store_stmt *st = store_prepare(c, "SELECT id FROM role WHERE code = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, code);
        rc = store_step(st);
        if (rc == STORE_ROW) exists = store_column_int64(st, 0);
        store_finalize(st);
        if (rc < 0) return rc;
        if (exists) continue;
        char mac[KEYS_TAG_MAX];
        if (rbac_role_mac(code, scope, perms, mac) != 0) return STORE_ERROR;
        st = store_prepare(c, "INSERT INTO role(code, name, scope, perms, mac, updated_at)"
                              " VALUES ($1, $2, $3, $4, $5, $6)");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, code);
        store_bind_text(st, 2, name);
        store_bind_text(st, 3, scope);
        store_bind_text(st, 4, perms);
        store_bind_text(st, 5, mac);
        store_bind_text(st, 6, ts);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        json_t *det =
            json_pack("{s:s, s:s, s:s}", "scope", scope, "permissions", perms, "via", "ehall items import");
        char *dt = det ? json_dumps(det, JSON_COMPACT) : NULL;
        json_decref(det);
        rc = audit(c, m, "security.role.create", code, dt);
        free(dt);
        if (rc != STORE_OK) return rc;
        sb_printf(m->report, "role %s created (%s, scope %s)\n", code, name, scope);
    }
    return STORE_OK;
}

/* One versioned row: 0 unchanged, 1 new, 2 refused; STORE_* < 0 on error. */
static int import_item(store_conn *c, struct imp *m, struct pfile *f)
{
    const struct item *it = f->it;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st = store_prepare(c, "SELECT sm3 FROM item_version WHERE code = $1 AND version = $2");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, it->code);
    store_bind_int64(st, 2, it->version);
    int rc = store_step(st);
    char old[65] = "";
    if (rc == STORE_ROW) snprintf(old, sizeof old, "%s", store_column_text(st, 0));
    store_finalize(st);
    if (rc < 0) return rc;
    if (old[0]) {
        if (!strcmp(old, f->sm3)) return 0;
        sb_printf(m->problems,
                  "%s: $.version: version %d of %s is imported already with other content (sm3 %.16s…);"
                  " a change needs a new version\n",
                  f->name, it->version, it->code, old);
        m->refused = 1;
        return 2;
    }
    long long cur = 0;
    st = store_prepare(c, "SELECT current_version FROM item WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, it->code);
    rc = store_step(st);
    if (rc == STORE_ROW) cur = store_column_int64(st, 0);
    store_finalize(st);
    if (rc < 0) return rc;
    char types[64];
    snprintf(types, sizeof types, ",%s%s%s", it->applicant_types & ITEM_PERSON ? "person," : "",
             it->applicant_types & ITEM_ENTERPRISE ? "enterprise," : "",
             it->applicant_types & ITEM_AGENT ? "agent," : "");
    int make_current = it->version > cur;
    if (!cur) {
        st = store_prepare(c, "INSERT INTO item(code, current_version, online, name, category, department,"
                              " applicant_types, depth, time_limit, updated_at)"
                              " VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9)");
    } else if (make_current) {
        st = store_prepare(
            c, "UPDATE item SET current_version = $2, name = $3, category = $4, department = $5,"
               " applicant_types = $6, depth = $7, time_limit = $8, updated_at = $9 WHERE code = $1");
    } else {
        st = NULL;
    }
    if (!cur || make_current) {
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, it->code);
        store_bind_int64(st, 2, it->version);
        store_bind_text(st, 3, it->name);
        store_bind_text(st, 4, it->category);
        store_bind_text(st, 5, it->department);
        store_bind_text(st, 6, types);
        store_bind_text(st, 7, it->depth);
        store_bind_int64(st, 8, it->time_limit);
        store_bind_text(st, 9, ts);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    st = store_prepare(c, "INSERT INTO item_version(code, version, sm3, definition, imported_at)"
                          " VALUES ($1, $2, $3, $4, $5)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, it->code);
    store_bind_int64(st, 2, it->version);
    store_bind_text(st, 3, f->sm3);
    store_bind_text(st, 4, f->text);
    store_bind_text(st, 5, ts);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char det[200];
    snprintf(det, sizeof det, "{\"version\":%d,\"sm3\":\"%s\",\"current\":%s}", it->version, f->sm3,
             make_current ? "true" : "false");
    if ((rc = audit(c, m, "item.import", it->code, det)) != STORE_OK) return rc;
    sb_printf(m->report, "item %s version %d imported%s (%s)\n", it->code, it->version,
              make_current ? ", now current" : " (an older version; not current)", it->name);
    return 1;
}

static int import_bundle(store_conn *c, struct imp *m, struct pfile *f)
{
    const char *code = json_string_value(json_object_get(f->json, "code"));
    const char *name = json_string_value(json_object_get(f->json, "name"));
    long long ver = json_integer_value(json_object_get(f->json, "version"));
    store_stmt *st = store_prepare(c, "SELECT version, sm3 FROM bundle WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    int rc = store_step(st);
    long long oldv = 0;
    char old[65] = "";
    if (rc == STORE_ROW) {
        oldv = store_column_int64(st, 0);
        snprintf(old, sizeof old, "%s", store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc < 0) return rc;
    if (oldv && oldv == ver && !strcmp(old, f->sm3)) return 0;
    if (oldv && ver <= oldv) {
        sb_printf(m->problems,
                  "%s: $.version: bundle %s has version %lld already; a change needs a higher one\n", f->name,
                  code, oldv);
        m->refused = 1;
        return 2;
    }
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    st =
        store_prepare(c, oldv ? "UPDATE bundle SET version = $2, name = $3, sm3 = $4, definition = $5,"
                                " updated_at = $6 WHERE code = $1"
                              : "INSERT INTO bundle(code, version, name, sm3, definition, online, updated_at)"
                                " VALUES ($1, $2, $3, $4, $5, 1, $6)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    store_bind_int64(st, 2, ver);
    store_bind_text(st, 3, name);
    store_bind_text(st, 4, f->sm3);
    store_bind_text(st, 5, f->text);
    store_bind_text(st, 6, ts);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char det[160];
    snprintf(det, sizeof det, "{\"version\":%lld,\"sm3\":\"%s\"}", ver, f->sm3);
    if ((rc = audit(c, m, "item.bundle.import", code, det)) != STORE_OK) return rc;
    sb_printf(m->report, "bundle %s version %lld imported (%s)\n", code, ver, name);
    return 1;
}

static int import_tx(store_conn *c, void *arg)
{
    struct imp *m = arg;
    m->refused = 0;
    sb_free(m->report);
    memset(m->report, 0, sizeof *m->report);
    int rc;
    if (m->p->has_org && (rc = import_org(c, m)) != STORE_OK) return rc;
    for (size_t i = 0; i < m->p->nitems; i++)
        if ((rc = import_item(c, m, &m->p->items[i])) < 0) return rc;
    for (size_t i = 0; i < m->p->nbundles; i++)
        if ((rc = import_bundle(c, m, &m->p->bundles[i])) < 0) return rc;
    return m->refused ? STORE_ERROR : STORE_OK; /* refused: roll everything back */
}

int item_pack_import(store *s, const char *dir, const char *actor, struct strbuf *problems,
                     struct strbuf *report)
{
    struct pack p = {.out = problems};
    int n = pack_read(dir, &p);
    if (n < 0) {
        if (problems) sb_printf(problems, "%s: cannot open the directory\n", dir);
        pack_free(&p);
        return 1;
    }
    if (n > 0) {
        pack_free(&p);
        return n;
    }
    struct strbuf scratch = {0}, rep = {0};
    struct imp m = {&p, actor, report ? report : &rep, problems ? problems : &scratch, 0};
    int rc = store_tx(s, 1, import_tx, &m);
    int refused = m.refused;
    pack_free(&p);
    sb_free(&scratch);
    sb_free(&rep);
    if (refused) return 1;
    return rc;
}
