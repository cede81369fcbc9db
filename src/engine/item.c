/*
 * item.c — parsing, validating and compiling a service item definition, and checking
 * a form against it (item.h; the format is taught in docs/items.md).
 *
 * Validation walks the JSON once and reports every problem with the file name and the
 * JSON path ("GA-HJ-0001.json: $.workflow.steps[1].actions[2]: unknown action
 * \"jump\"") instead of stopping at the first; the item is built only when there was
 * none.  Strings in the struct point into the parsed JSON, which the item keeps.
 */
#include "engine/item.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "rules/rules.h"

#define PATH_MAX_LEN 160

static const char *const MATERIAL_TYPES[] = {"pdf", "jpeg", "png", "gif", "webp", "ofd", "zip"};
static const char *const ACTIONS[] = {"accept", "not_accept", "supplement", "pass",
                                      "return", "transfer",   "approve",    "refuse"};
static const char *const FIELD_TYPES[] = {"string",  "text", "integer",   "fen",  "date",
                                          "boolean", "enum", "id_number", "uscc", "mobile"};
static const char *const DEPTHS[] = {"online", "one_visit", "zero_materials", "cross_province"};
static const char *const PROFILE[] = {"name",    "id_number",   "mobile",
                                      "address", "credit_code", "enterprise_name"};
/* what rules may read of the applicant */
static const char *const APPLICANT_KEYS[] = {"kind",    "name",        "id_number",       "mobile",
                                             "address", "credit_code", "enterprise_name", "age"};
static const char *const RESERVED[] = {"and", "or", "not", "in", "true", "false", "null", "if"};

const char *const *item_material_type_names(size_t *n)
{
    if (n) *n = EHALL_ARRAY_LEN(MATERIAL_TYPES);
    return MATERIAL_TYPES;
}

unsigned item_action_bit(const char *name)
{
    for (size_t i = 0; name && i < EHALL_ARRAY_LEN(ACTIONS); i++)
        if (!strcmp(name, ACTIONS[i])) return 1u << i;
    return 0;
}

const char *item_action_name(unsigned bit)
{
    for (size_t i = 0; i < EHALL_ARRAY_LEN(ACTIONS); i++)
        if (bit == 1u << i) return ACTIONS[i];
    return NULL;
}

const char *item_field_type_name(enum item_field_type t)
{
    return (size_t)t < EHALL_ARRAY_LEN(FIELD_TYPES) ? FIELD_TYPES[t] : "?";
}

static size_t utf8_chars_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, list[i])) return (int)i;
    return -1;
}
#define IN(s, list) in_list((s), (list), EHALL_ARRAY_LEN(list))

/* ---------- validation context ---------- */

struct v {
    const char *file;
    struct strbuf *out;
    int n;
};

static void P(struct v *v, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void P(struct v *v, const char *path, const char *fmt, ...)
{
    v->n++;
    if (!v->out) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb_printf(v->out, "%s: %s: %s\n", v->file ? v->file : "(item)", path, msg);
}

static void unknown_keys(struct v *v, json_t *o, const char *path, const char *const *known, size_t nknown)
{
    const char *k;
    json_t *x;
    json_object_foreach(o, k, x)
    {
        if (in_list(k, known, nknown) < 0) P(v, path, "unknown key \"%.40s\"", k);
    }
}
#define UNKNOWN(v, o, path, known) unknown_keys((v), (o), (path), (known), EHALL_ARRAY_LEN(known))

static int chars_ok(const char *s, const char *allowed, size_t minlen, size_t maxlen)
{
    size_t n = strlen(s);
    return n >= minlen && n <= maxlen && strspn(s, allowed) == n;
}

#define UPPER_CODE "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
#define DEPT_CODE  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
#define LOWER_ID   "abcdefghijklmnopqrstuvwxyz0123456789_"
#define ROLE_CODE  "abcdefghijklmnopqrstuvwxyz0123456789_-"

static int ident_ok(const char *s) { return s[0] >= 'a' && s[0] <= 'z' && chars_ok(s, LOWER_ID, 1, 40); }

/* A string member: the value, or NULL after reporting (when required or mistyped). */
static const char *get_str(struct v *v, json_t *o, const char *key, const char *path, int required,
                           size_t maxchars)
{
    char p[PATH_MAX_LEN];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *x = json_object_get(o, key);
    if (!x) {
        if (required) P(v, p, "missing");
        return NULL;
    }
    if (!json_is_string(x) || !json_string_length(x)) {
        P(v, p, "not a non-empty string");
        return NULL;
    }
    const char *s = json_string_value(x);
    if (utf8_chars_len(s) > maxchars) {
        P(v, p, "longer than %zu characters", maxchars);
        return NULL;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            P(v, p, "contains a control character");
            return NULL;
        }
    return s;
}

/* An integer member in lo..hi: 0 and *out, or -1 (absent: *out = def, reported when required). */
static int get_int(struct v *v, json_t *o, const char *key, const char *path, int required, long long lo,
                   long long hi, long long def, long long *out)
{
    char p[PATH_MAX_LEN];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *x = json_object_get(o, key);
    *out = def;
    if (!x) {
        if (required) P(v, p, "missing");
        return -1;
    }
    if (!json_is_integer(x)) {
        P(v, p, "not an integer");
        return -1;
    }
    long long n = json_integer_value(x);
    if (n < lo || n > hi) {
        P(v, p, "must be between %lld and %lld", lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

static int get_bool(struct v *v, json_t *o, const char *key, const char *path, int required, int def)
{
    char p[PATH_MAX_LEN];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *x = json_object_get(o, key);
    if (!x) {
        if (required) P(v, p, "missing");
        return def;
    }
    if (!json_is_boolean(x)) {
        P(v, p, "not true or false");
        return def;
    }
    return json_is_true(x);
}

/* An array member (absent: NULL, reported when required). */
static json_t *get_array(struct v *v, json_t *o, const char *key, const char *path, int required,
                         int nonempty)
{
    char p[PATH_MAX_LEN];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *x = json_object_get(o, key);
    if (!x) {
        if (required) P(v, p, "missing");
        return NULL;
    }
    if (!json_is_array(x)) {
        P(v, p, "not a list");
        return NULL;
    }
    if (nonempty && !json_array_size(x)) {
        P(v, p, "must not be empty");
        return NULL;
    }
    return x;
}

static json_t *get_object(struct v *v, json_t *o, const char *key, const char *path, int required)
{
    char p[PATH_MAX_LEN];
    snprintf(p, sizeof p, "%s.%s", path, key);
    json_t *x = json_object_get(o, key);
    if (!x) {
        if (required) P(v, p, "missing");
        return NULL;
    }
    if (!json_is_object(x)) {
        P(v, p, "not an object");
        return NULL;
    }
    return x;
}

/* A list of non-empty strings (legal_basis, conditions). */
static void string_list(struct v *v, json_t *o, const char *key, size_t maxchars)
{
    json_t *a = get_array(v, o, key, "$", 0, 0);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        char p[PATH_MAX_LEN];
        snprintf(p, sizeof p, "$.%s[%zu]", key, i);
        if (!json_is_string(x) || !json_string_length(x))
            P(v, p, "not a non-empty string");
        else if (utf8_chars_len(json_string_value(x)) > maxchars)
            P(v, p, "longer than %zu characters", maxchars);
    }
}

/* ---------- rules: which fields and dictionaries an expression names ---------- */

struct names_ctx {
    struct v *v;
    const char *path;
    const struct item *it;
    json_t *dicts;
};

static void check_names(struct names_ctx *nc, json_t *node)
{
    if (json_is_array(node)) {
        size_t i;
        json_t *x;
        json_array_foreach(node, i, x) check_names(nc, x);
        return;
    }
    if (!json_is_object(node)) return;
    const char *field = json_string_value(json_object_get(node, "field"));
    if (field) {
        const char *dot = strchr(field, '.');
        size_t head = dot ? (size_t)(dot - field) : strlen(field);
        const char *rest = dot ? dot + 1 : "";
        if (head == 4 && !strncmp(field, "form", 4)) {
            if (!item_field(nc->it, rest)) P(nc->v, nc->path, "names %s, which is not a form field", field);
        } else if (head == 9 && !strncmp(field, "applicant", 9)) {
            if (IN(rest, APPLICANT_KEYS) < 0)
                P(nc->v, nc->path,
                  "names %s; the applicant has kind, name, id_number, mobile, address,"
                  " credit_code, enterprise_name and age",
                  field);
        } else {
            P(nc->v, nc->path, "names %s; fields are form.<field> or applicant.<key>", field);
        }
    }
    const char *dict = json_string_value(json_object_get(node, "dict"));
    if (dict && !json_object_get(nc->dicts, dict)) P(nc->v, nc->path, "no dictionary \"%s\"", dict);
    const char *call = json_string_value(json_object_get(node, "call"));
    if (call && !strcmp(call, "in_dict")) {
        json_t *name = json_object_get(json_array_get(json_object_get(node, "args"), 1), "str");
        if (!json_is_string(name))
            P(nc->v, nc->path, "in_dict needs a dictionary name as a literal string");
        else if (!json_object_get(nc->dicts, json_string_value(name)))
            P(nc->v, nc->path, "no dictionary \"%s\"", json_string_value(name));
    }
    json_t *args = json_object_get(node, "args");
    if (args) check_names(nc, args);
}

/* Compile src, report a compile error or an unknown name at path. */
static struct rules_expr *compile_rule(struct v *v, const char *path, const char *src, const struct item *it,
                                       json_t *dicts)
{
    struct rules_expr *e = NULL;
    char err[256];
    if (rules_compile(src, &e, err, sizeof err) != 0) {
        P(v, path, "does not compile: %s", err);
        return NULL;
    }
    json_t *tree = rules_to_json(e);
    struct names_ctx nc = {v, path, it, dicts};
    check_names(&nc, tree);
    json_decref(tree);
    return e;
}

/* ---------- the parts ---------- */

static void parse_materials(struct v *v, struct item *it, json_t *root)
{
    static const char *const known[] = {"id", "name", "required", "types", "max_size", "max_count", "note"};
    json_t *a = get_array(v, root, "materials", "$", 1, 0);
    if (!a) return;
    it->materials = calloc(json_array_size(a) + 1, sizeof *it->materials);
    if (!it->materials) {
        P(v, "$.materials", "out of memory");
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(a, i, m)
    {
        char path[PATH_MAX_LEN], p2[PATH_MAX_LEN];
        snprintf(path, sizeof path, "$.materials[%zu]", i);
        if (!json_is_object(m)) {
            P(v, path, "not an object");
            continue;
        }
        UNKNOWN(v, m, path, known);
        struct item_material *mt = &it->materials[it->nmaterials++];
        mt->id = get_str(v, m, "id", path, 1, 40);
        snprintf(p2, sizeof p2, "%s.id", path);
        if (mt->id && !ident_ok(mt->id)) P(v, p2, "must match [a-z][a-z0-9_]* (at most 40)");
        for (size_t k = 0; mt->id && k + 1 < it->nmaterials; k++)
            if (it->materials[k].id && !strcmp(it->materials[k].id, mt->id))
                P(v, p2, "\"%s\" is used by $.materials[%zu] already", mt->id, k);
        mt->name = get_str(v, m, "name", path, 1, 100);
        get_str(v, m, "note", path, 0, 500);
        mt->required = get_bool(v, m, "required", path, 1, 0);
        json_t *types = get_array(v, m, "types", path, 1, 1);
        size_t j;
        json_t *t;
        json_array_foreach(types, j, t)
        {
            snprintf(p2, sizeof p2, "%s.types[%zu]", path, j);
            int k = IN(json_string_value(t), MATERIAL_TYPES);
            if (k < 0)
                P(v, p2, "unknown type; one of pdf jpeg png gif webp ofd zip");
            else if (mt->types & (1u << k))
                P(v, p2, "listed twice");
            else
                mt->types |= 1u << k;
        }
        long long n;
        get_int(v, m, "max_size", path, 1, 1, 100LL * 1024 * 1024, 0, &mt->max_size);
        get_int(v, m, "max_count", path, 1, 1, 20, 1, &n);
        mt->max_count = (int)n;
    }
}

static void parse_fees(struct v *v, struct item *it, json_t *root)
{
    static const char *const known[] = {"name", "fen", "basis"};
    json_t *a = get_array(v, root, "fees", "$", 1, 0);
    if (!a) return;
    it->fees = calloc(json_array_size(a) + 1, sizeof *it->fees);
    if (!it->fees) {
        P(v, "$.fees", "out of memory");
        return;
    }
    size_t i;
    json_t *f;
    json_array_foreach(a, i, f)
    {
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof path, "$.fees[%zu]", i);
        if (!json_is_object(f)) {
            P(v, path, "not an object");
            continue;
        }
        UNKNOWN(v, f, path, known);
        struct item_fee *fee = &it->fees[it->nfees++];
        fee->name = get_str(v, f, "name", path, 1, 100);
        get_str(v, f, "basis", path, 0, 200);
        get_int(v, f, "fen", path, 1, 0, 100000000000LL, 0, &fee->fen);
    }
}

static void parse_dictionaries(struct v *v, struct item *it, json_t *root)
{
    json_t *d = get_object(v, root, "dictionaries", "$", 0);
    it->dictionaries = d ? d : json_object();
    if (!d) {
        /* keep the empty object alive with the definition */
        json_object_set_new(it->def, "dictionaries", it->dictionaries);
        return;
    }
    const char *name;
    json_t *list;
    json_object_foreach(d, name, list)
    {
        char path[PATH_MAX_LEN], p2[PATH_MAX_LEN];
        snprintf(path, sizeof path, "$.dictionaries.%.40s", name);
        if (!ident_ok(name)) P(v, path, "a dictionary name must match [a-z][a-z0-9_]*");
        if (!json_is_array(list) || !json_array_size(list)) {
            P(v, path, "not a non-empty list of [code, label] pairs");
            continue;
        }
        size_t i;
        json_t *pair;
        json_array_foreach(list, i, pair)
        {
            snprintf(p2, sizeof p2, "%s[%zu]", path, i);
            const char *code = json_string_value(json_array_get(pair, 0));
            if (!json_is_array(pair) || json_array_size(pair) != 2 || !code || !*code ||
                !json_is_string(json_array_get(pair, 1)) || !json_string_length(json_array_get(pair, 1))) {
                P(v, p2, "not a [code, label] pair of non-empty strings");
                continue;
            }
            for (size_t k = 0; k < i; k++)
                if (!strcmp(code, json_string_value(json_array_get(json_array_get(list, k), 0)))) {
                    P(v, p2, "code \"%s\" is listed twice", code);
                    break;
                }
        }
    }
}

/* matches(form.<name>, "<pattern>") with the pattern as a rules string literal */
static struct rules_expr *compile_pattern(const char *name, const char *pattern, char *err, size_t errlen)
{
    struct strbuf sb = {0};
    sb_printf(&sb, "matches(form.%s, \"", name);
    for (const char *c = pattern; *c; c++) sb_printf(&sb, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
    sb_printf(&sb, "\")");
    struct rules_expr *e = NULL;
    if (sb.oom || !sb.data)
        snprintf(err, errlen, "out of memory");
    else if (rules_compile(sb.data, &e, err, errlen) != 0)
        e = NULL;
    sb_free(&sb);
    return e;
}

static void parse_form(struct v *v, struct item *it, json_t *root)
{
    static const char *const common[] = {"name", "type", "label", "required", "default", "hint"};
    static const char *const text_keys[] = {"min_length", "max_length", "pattern"};
    static const char *const num_keys[] = {"min", "max"};
    json_t *form = get_object(v, root, "form", "$", 1);
    if (!form) return;
    static const char *const fknown[] = {"fields"};
    UNKNOWN(v, form, "$.form", fknown);
    json_t *a = get_array(v, form, "fields", "$.form", 1, 1);
    if (!a) return;
    it->fields = calloc(json_array_size(a) + 1, sizeof *it->fields);
    if (!it->fields) {
        P(v, "$.form.fields", "out of memory");
        return;
    }
    size_t i;
    json_t *f;
    json_array_foreach(a, i, f)
    {
        char path[PATH_MAX_LEN], p2[PATH_MAX_LEN];
        snprintf(path, sizeof path, "$.form.fields[%zu]", i);
        if (!json_is_object(f)) {
            P(v, path, "not an object");
            continue;
        }
        struct item_field fd = {.min_length = -1, .max_length = -1};
        fd.name = get_str(v, f, "name", path, 1, 40);
        snprintf(p2, sizeof p2, "%s.name", path);
        if (fd.name && !ident_ok(fd.name)) {
            P(v, p2, "must match [a-z][a-z0-9_]* (at most 40)");
            fd.name = NULL;
        } else if (fd.name && IN(fd.name, RESERVED) >= 0) {
            P(v, p2, "\"%s\" is a reserved word of the rules", fd.name);
            fd.name = NULL;
        }
        for (size_t k = 0; fd.name && k < it->nfields; k++)
            if (!strcmp(it->fields[k].name, fd.name)) {
                P(v, p2, "\"%s\" is used by another field already", fd.name);
                fd.name = NULL;
                break;
            }
        fd.label = get_str(v, f, "label", path, 0, 100);
        get_str(v, f, "hint", path, 0, 300);
        fd.required = get_bool(v, f, "required", path, 0, 0);
        const char *type = get_str(v, f, "type", path, 1, 20);
        int t = IN(type, FIELD_TYPES);
        snprintf(p2, sizeof p2, "%s.type", path);
        if (type && t < 0)
            P(v, p2,
              "unknown type \"%s\"; one of string text integer fen date boolean enum"
              " id_number uscc mobile",
              type);
        /* keys: the common ones, and those of the type */
        const char *k;
        json_t *x;
        json_object_foreach(f, k, x)
        {
            if (IN(k, common) >= 0) continue;
            int ok = 0;
            if ((t == ITEM_F_STRING || t == ITEM_F_TEXT) && IN(k, text_keys) >= 0) ok = 1;
            if ((t == ITEM_F_INTEGER || t == ITEM_F_FEN) && IN(k, num_keys) >= 0) ok = 1;
            if (t == ITEM_F_ENUM && !strcmp(k, "dict")) ok = 1;
            if (!ok) {
                if (t < 0 || (IN(k, text_keys) < 0 && IN(k, num_keys) < 0 && strcmp(k, "dict")))
                    P(v, path, "unknown key \"%.40s\"", k);
                else
                    P(v, path, "key \"%.40s\" does not apply to a field of type %s", k, type);
            }
        }
        if (t < 0) continue;
        fd.type = (enum item_field_type)t;
        if (t == ITEM_F_STRING || t == ITEM_F_TEXT) {
            get_int(v, f, "min_length", path, 0, 0, 100000, -1, &fd.min_length);
            get_int(v, f, "max_length", path, 0, 1, 100000, -1, &fd.max_length);
            snprintf(p2, sizeof p2, "%s.max_length", path);
            if (fd.min_length >= 0 && fd.max_length >= 0 && fd.min_length > fd.max_length)
                P(v, p2, "less than min_length");
            fd.pattern = get_str(v, f, "pattern", path, 0, 200);
            if (fd.pattern && fd.name) {
                char err[256];
                fd.pattern_expr = compile_pattern(fd.name, fd.pattern, err, sizeof err);
                snprintf(p2, sizeof p2, "%s.pattern", path);
                if (!fd.pattern_expr) P(v, p2, "not a valid matches() pattern: %s", err);
            }
        }
        if (t == ITEM_F_INTEGER || t == ITEM_F_FEN) {
            fd.has_min = get_int(v, f, "min", path, 0, -(1LL << 53), 1LL << 53, 0, &fd.min) == 0;
            fd.has_max = get_int(v, f, "max", path, 0, -(1LL << 53), 1LL << 53, 0, &fd.max) == 0;
            snprintf(p2, sizeof p2, "%s.max", path);
            if (fd.has_min && fd.has_max && fd.min > fd.max) P(v, p2, "less than min");
        }
        if (t == ITEM_F_ENUM) {
            fd.dict = get_str(v, f, "dict", path, 1, 40);
            snprintf(p2, sizeof p2, "%s.dict", path);
            if (fd.dict && !json_object_get(it->dictionaries, fd.dict))
                P(v, p2, "no dictionary \"%s\" in $.dictionaries", fd.dict);
        }
        fd.def = get_str(v, f, "default", path, 0, 40);
        snprintf(p2, sizeof p2, "%s.default", path);
        if (fd.def) {
            if (strncmp(fd.def, "profile.", 8) || IN(fd.def + 8, PROFILE) < 0)
                P(v, p2,
                  "\"%s\" is not a profile field; one of profile.name profile.id_number profile.mobile"
                  " profile.address profile.credit_code profile.enterprise_name",
                  fd.def);
            else if (t != ITEM_F_STRING && t != ITEM_F_TEXT && t != ITEM_F_ID_NUMBER && t != ITEM_F_USCC &&
                     t != ITEM_F_MOBILE)
                P(v, p2, "a default applies to string, text, id_number, uscc and mobile fields only");
        }
        if (fd.name)
            it->fields[it->nfields++] = fd;
        else
            rules_free(fd.pattern_expr);
    }
}

static void parse_rules(struct v *v, struct item *it, json_t *root)
{
    static const char *const known[] = {"id", "check", "when", "message", "fields"};
    json_t *a = get_array(v, root, "rules", "$", 0, 0);
    if (!a) return;
    it->rules = calloc(json_array_size(a) + 1, sizeof *it->rules);
    if (!it->rules) {
        P(v, "$.rules", "out of memory");
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r)
    {
        char path[PATH_MAX_LEN], p2[PATH_MAX_LEN];
        snprintf(path, sizeof path, "$.rules[%zu]", i);
        if (!json_is_object(r)) {
            P(v, path, "not an object");
            continue;
        }
        UNKNOWN(v, r, path, known);
        struct item_rule *ru = &it->rules[it->nrules++];
        ru->id = get_str(v, r, "id", path, 1, 40);
        snprintf(p2, sizeof p2, "%s.id", path);
        if (ru->id && !ident_ok(ru->id)) P(v, p2, "must match [a-z][a-z0-9_]*");
        for (size_t k = 0; ru->id && k + 1 < it->nrules; k++)
            if (it->rules[k].id && !strcmp(it->rules[k].id, ru->id))
                P(v, p2, "\"%s\" is used by $.rules[%zu] already", ru->id, k);
        ru->message = get_str(v, r, "message", path, 1, 200);
        ru->check = get_str(v, r, "check", path, 1, RULES_MAX_SOURCE);
        ru->when = get_str(v, r, "when", path, 0, RULES_MAX_SOURCE);
        snprintf(p2, sizeof p2, "%s.check", path);
        if (ru->check) ru->check_expr = compile_rule(v, p2, ru->check, it, it->dictionaries);
        snprintf(p2, sizeof p2, "%s.when", path);
        if (ru->when) ru->when_expr = compile_rule(v, p2, ru->when, it, it->dictionaries);
        json_t *fl = get_array(v, r, "fields", path, 1, 1);
        if (!fl) continue;
        ru->fields = calloc(json_array_size(fl), sizeof *ru->fields);
        if (!ru->fields) {
            P(v, path, "out of memory");
            continue;
        }
        size_t j;
        json_t *x;
        json_array_foreach(fl, j, x)
        {
            snprintf(p2, sizeof p2, "%s.fields[%zu]", path, j);
            const char *s = json_string_value(x);
            if (!s || strncmp(s, "form.", 5) || !item_field(it, s + 5)) {
                P(v, p2, "not the path of a form field (form.<field>)");
                continue;
            }
            ru->fields[ru->nfields++] = s;
        }
    }
}

static void parse_workflow(struct v *v, struct item *it, json_t *root)
{
    static const char *const known[] = {"id", "name", "role", "department", "actions", "time_limit"};
    json_t *wf = get_object(v, root, "workflow", "$", 1);
    if (!wf) return;
    static const char *const wknown[] = {"steps"};
    UNKNOWN(v, wf, "$.workflow", wknown);
    json_t *a = get_array(v, wf, "steps", "$.workflow", 1, 1);
    if (!a) return;
    size_t n = json_array_size(a);
    if (n > 10) {
        P(v, "$.workflow.steps", "at most 10 steps");
        return;
    }
    it->steps = calloc(n + 1, sizeof *it->steps);
    if (!it->steps) {
        P(v, "$.workflow.steps", "out of memory");
        return;
    }
    long long sum = 0;
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s)
    {
        char path[PATH_MAX_LEN], p2[PATH_MAX_LEN];
        snprintf(path, sizeof path, "$.workflow.steps[%zu]", i);
        if (!json_is_object(s)) {
            P(v, path, "not an object");
            continue;
        }
        UNKNOWN(v, s, path, known);
        struct item_step *st = &it->steps[it->nsteps++];
        st->id = get_str(v, s, "id", path, 1, 40);
        snprintf(p2, sizeof p2, "%s.id", path);
        if (st->id && !ident_ok(st->id)) P(v, p2, "must match [a-z][a-z0-9_]*");
        for (size_t k = 0; st->id && k + 1 < it->nsteps; k++)
            if (it->steps[k].id && !strcmp(it->steps[k].id, st->id))
                P(v, p2, "\"%s\" is used by $.workflow.steps[%zu] already", st->id, k);
        st->name = get_str(v, s, "name", path, 1, 40);
        st->role = get_str(v, s, "role", path, 1, 32);
        snprintf(p2, sizeof p2, "%s.role", path);
        if (st->role && !chars_ok(st->role, ROLE_CODE, 1, 32))
            P(v, p2, "a role code: lower-case letters, digits, _ and -");
        st->department = get_str(v, s, "department", path, 1, 32);
        snprintf(p2, sizeof p2, "%s.department", path);
        if (st->department && !chars_ok(st->department, DEPT_CODE, 1, 32))
            P(v, p2, "a department code: upper-case letters, digits, _ and -");
        long long tl;
        get_int(v, s, "time_limit", path, 1, 0, 365, 0, &tl);
        st->time_limit = (int)tl;
        sum += tl;
        int first = i == 0, last = i + 1 == n;
        json_t *acts = get_array(v, s, "actions", path, 1, 1);
        size_t j;
        json_t *x;
        json_array_foreach(acts, j, x)
        {
            snprintf(p2, sizeof p2, "%s.actions[%zu]", path, j);
            const char *name = json_string_value(x);
            unsigned bit = item_action_bit(name);
            if (!bit) {
                P(v, p2, "unknown action \"%.40s\"", name ? name : "(not a string)");
                continue;
            }
            if (st->actions & bit) P(v, p2, "\"%s\" is listed twice", name);
            if (bit == ITEM_ACT_PASS && last) P(v, p2, "pass on the last step: there is no next step");
            if (bit == ITEM_ACT_RETURN && first)
                P(v, p2, "return on the first step: there is no previous step");
            if ((bit == ITEM_ACT_ACCEPT || bit == ITEM_ACT_NOT_ACCEPT) && !first)
                P(v, p2, "%s belongs to the first step only", name);
            if ((bit == ITEM_ACT_APPROVE || bit == ITEM_ACT_REFUSE) && !last)
                P(v, p2, "%s belongs to the last step only", name);
            st->actions |= bit;
        }
        snprintf(p2, sizeof p2, "%s.actions", path);
        if (acts && first && (!(st->actions & ITEM_ACT_ACCEPT) || !(st->actions & ITEM_ACT_NOT_ACCEPT)))
            P(v, p2, "the first step must allow accept and not_accept");
        if (acts && last && (!(st->actions & ITEM_ACT_APPROVE) || !(st->actions & ITEM_ACT_REFUSE)))
            P(v, p2, "the last step must allow approve and refuse");
        if (acts && !first && !last && !(st->actions & ITEM_ACT_PASS))
            P(v, p2, "a step between the first and the last must allow pass");
    }
    if (sum > it->time_limit)
        P(v, "$.workflow.steps",
          "the steps' time limits add up to %lld working days, more than $.time_limit (%d)", sum,
          it->time_limit);
}

static void parse_limit(struct v *v, struct item *it, json_t *root)
{
    static const char *const known[] = {"key", "window_days"};
    json_t *l = get_object(v, root, "limit", "$", 0);
    if (!l) return;
    UNKNOWN(v, l, "$.limit", known);
    it->limit_key = get_str(v, l, "key", "$.limit", 1, 60);
    if (it->limit_key && (strncmp(it->limit_key, "form.", 5) || !item_field(it, it->limit_key + 5))) {
        P(v, "$.limit.key", "not the path of a form field (form.<field>)");
        it->limit_key = NULL;
    }
    long long w;
    get_int(v, l, "window_days", "$.limit", 1, 1, 3660, 365, &w);
    it->limit_window_days = (int)w;
}

static void parse_outputs(struct v *v, struct item *it, json_t *root)
{
    static const char *const known[] = {"licence", "mailing"};
    json_t *o = get_object(v, root, "outputs", "$", 0);
    if (!o) return;
    UNKNOWN(v, o, "$.outputs", known);
    json_t *lic = json_object_get(o, "licence");
    if (lic && !json_is_null(lic)) {
        it->output_licence = get_str(v, o, "licence", "$.outputs", 0, 64);
        if (it->output_licence && !ident_ok(it->output_licence))
            P(v, "$.outputs.licence", "a licence type: [a-z][a-z0-9_]*");
    }
    it->output_mailing = get_bool(v, o, "mailing", "$.outputs", 0, 0);
}

static void parse_top(struct v *v, struct item *it, json_t *root)
{
    static const char *const known[] = {
        "code",        "version",    "name",         "name_en", "department", "category", "applicant_types",
        "legal_basis", "conditions", "materials",    "fees",    "time_limit", "depth",    "notify_sms",
        "backend",     "limit",      "dictionaries", "form",    "rules",      "workflow", "outputs",
        "summary",     "window"};
    UNKNOWN(v, root, "$", known);
    it->code = get_str(v, root, "code", "$", 1, 32);
    if (it->code && !chars_ok(it->code, UPPER_CODE, 3, 32)) {
        P(v, "$.code", "must match [A-Z0-9-]{3,32}");
        it->code = NULL;
    }
    if (it->code && v->file) {
        const char *base = strrchr(v->file, '/');
        base = base ? base + 1 : v->file;
        size_t n = strlen(it->code);
        if (strncmp(base, it->code, n) || strcmp(base + n, ".json"))
            P(v, "$.code", "\"%s\" does not match the file name (%s.json expected)", it->code, it->code);
    }
    long long n;
    get_int(v, root, "version", "$", 1, 1, 1000000, 1, &n);
    it->version = (int)n;
    it->name = get_str(v, root, "name", "$", 1, 100);
    it->name_en = get_str(v, root, "name_en", "$", 0, 200);
    get_str(v, root, "summary", "$", 0, 500);
    get_str(v, root, "window", "$", 0, 200);
    it->department = get_str(v, root, "department", "$", 1, 32);
    if (it->department && !chars_ok(it->department, DEPT_CODE, 1, 32))
        P(v, "$.department", "a department code: upper-case letters, digits, _ and -");
    it->category = get_str(v, root, "category", "$", 1, 50);
    json_t *types = get_array(v, root, "applicant_types", "$", 1, 1);
    size_t i;
    json_t *x;
    json_array_foreach(types, i, x)
    {
        char p[PATH_MAX_LEN];
        snprintf(p, sizeof p, "$.applicant_types[%zu]", i);
        static const char *const kinds[] = {"person", "enterprise", "agent"};
        int k = IN(json_string_value(x), kinds);
        if (k < 0)
            P(v, p, "one of person, enterprise, agent");
        else if (it->applicant_types & (1u << k))
            P(v, p, "listed twice");
        else
            it->applicant_types |= 1u << k;
    }
    string_list(v, root, "legal_basis", 300);
    string_list(v, root, "conditions", 300);
    get_int(v, root, "time_limit", "$", 1, 0, 365, 0, &n);
    it->time_limit = (int)n;
    it->depth = get_str(v, root, "depth", "$", 1, 20);
    if (it->depth && IN(it->depth, DEPTHS) < 0)
        P(v, "$.depth", "one of online, one_visit, zero_materials, cross_province");
    it->notify_sms = get_bool(v, root, "notify_sms", "$", 0, 0);
    it->backend = get_str(v, root, "backend", "$", 1, 32);
    if (it->backend && !ident_ok(it->backend)) P(v, "$.backend", "a connector name: [a-z][a-z0-9_]*");
}

int item_load(const char *text, size_t len, const char *file, struct item **out, struct strbuf *problems)
{
    *out = NULL;
    struct v v = {file, problems, 0};
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        P(&v, "$", "not JSON: line %d column %d: %s", je.line, je.column, je.text);
        return v.n;
    }
    if (!json_is_object(root)) {
        P(&v, "$", "not an object");
        json_decref(root);
        return v.n;
    }
    struct item *it = calloc(1, sizeof *it);
    if (!it) {
        json_decref(root);
        return -1;
    }
    it->def = root;
    parse_top(&v, it, root);
    parse_dictionaries(&v, it, root);
    parse_materials(&v, it, root);
    parse_fees(&v, it, root);
    parse_form(&v, it, root);
    parse_rules(&v, it, root);
    parse_workflow(&v, it, root);
    parse_limit(&v, it, root);
    parse_outputs(&v, it, root);
    if (it->depth && !strcmp(it->depth, "zero_materials"))
        for (size_t i = 0; i < it->nmaterials; i++)
            if (it->materials[i].required) {
                char p[PATH_MAX_LEN];
                snprintf(p, sizeof p, "$.materials[%zu].required", i);
                P(&v, p, "an item of depth zero_materials asks for no required material");
            }
    unsigned char md[SM3_DIGEST_LEN];
    crypto_sm3(text, len, md);
    hex_encode(md, sizeof md, it->sm3);
    if (v.n) {
        item_free(it);
        return v.n;
    }
    *out = it;
    return 0;
}

void item_free(struct item *it)
{
    if (!it) return;
    for (size_t i = 0; i < it->nfields; i++) rules_free(it->fields[i].pattern_expr);
    for (size_t i = 0; i < it->nrules; i++) {
        rules_free(it->rules[i].check_expr);
        rules_free(it->rules[i].when_expr);
        free(it->rules[i].fields);
    }
    free(it->materials);
    free(it->fees);
    free(it->fields);
    free(it->rules);
    free(it->steps);
    json_decref(it->def);
    free(it);
}

/* ---------- lookups ---------- */

const struct item_field *item_field(const struct item *it, const char *name)
{
    for (size_t i = 0; name && i < it->nfields; i++)
        if (!strcmp(it->fields[i].name, name)) return &it->fields[i];
    return NULL;
}

const struct item_step *item_step(const struct item *it, const char *id)
{
    int i = item_step_index(it, id);
    return i < 0 ? NULL : &it->steps[i];
}

int item_step_index(const struct item *it, const char *id)
{
    for (size_t i = 0; id && i < it->nsteps; i++)
        if (it->steps[i].id && !strcmp(it->steps[i].id, id)) return (int)i;
    return -1;
}

const struct item_material *item_material(const struct item *it, const char *id)
{
    for (size_t i = 0; id && i < it->nmaterials; i++)
        if (it->materials[i].id && !strcmp(it->materials[i].id, id)) return &it->materials[i];
    return NULL;
}

int item_step_allows(const struct item_step *s, const char *action)
{
    unsigned bit = item_action_bit(action);
    return s && bit && (s->actions & bit) != 0;
}

int item_accepts(const struct item *it, const char *kind)
{
    static const char *const kinds[] = {"person", "enterprise", "agent"};
    int k = IN(kind, kinds);
    return k >= 0 && (it->applicant_types & (1u << k)) != 0;
}

long long item_fee_total(const struct item *it)
{
    long long t = 0;
    for (size_t i = 0; i < it->nfees; i++) t += it->fees[i].fen;
    return t;
}

const char *item_dict_label(const struct item *it, const char *dict, const char *code)
{
    json_t *list = json_object_get(it->dictionaries, dict);
    size_t i;
    json_t *pair;
    json_array_foreach(list, i, pair)
    {
        const char *c = json_string_value(json_array_get(pair, 0));
        if (c && code && !strcmp(c, code)) return json_string_value(json_array_get(pair, 1));
    }
    return NULL;
}

/* ---------- checking a form ---------- */

struct env_ctx {
    const struct item *it;
    json_t *scope; /* {"form": …, "applicant": …} */
    calendar *cal;
};

static int env_lookup(void *ctx, const char *path, struct rules_value *out, struct rules_arena *ra)
{
    struct env_ctx *e = ctx;
    return rules_json_lookup(e->scope, path, out, ra);
}

static int env_in_dict(void *ctx, const char *dict, const struct rules_value *val)
{
    struct env_ctx *e = ctx;
    json_t *list = json_object_get(e->it->dictionaries, dict);
    if (!list) return -1;
    if (val->type != RULES_STRING) return 0;
    size_t i;
    json_t *pair;
    json_array_foreach(list, i, pair)
    {
        json_t *c = json_array_get(pair, 0);
        if (json_string_length(c) == val->str.len && !memcmp(json_string_value(c), val->str.s, val->str.len))
            return 1;
    }
    return 0;
}

static int env_working(void *ctx, int y, int m, int d)
{
    struct env_ctx *e = ctx;
    int date;
    if (calendar_date_from_ymd(y, m, d, &date) != 0) return 0;
    return calendar_is_working_day(e->cal, date);
}

static void add_error(json_t *errors, const char *field, const char *msg)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

static int mobile_ok(const char *s)
{
    return strlen(s) == 11 && s[0] == '1' && s[1] >= '3' && s[1] <= '9' && strspn(s, "0123456789") == 11;
}

/* One field; returns the number of problems appended. */
static int check_field(const struct item *it, const struct item_field *f, json_t *form, struct env_ctx *env,
                       json_t *errors)
{
    char path[80], msg[200];
    snprintf(path, sizeof path, "form.%s", f->name);
    json_t *x = json_object_get(form, f->name);
    if (!x || json_is_null(x)) {
        if (f->required) {
            add_error(errors, path, "required");
            return 1;
        }
        return 0;
    }
    const char *s = json_string_value(x);
    switch (f->type) {
    case ITEM_F_STRING:
    case ITEM_F_TEXT: {
        if (!s) {
            add_error(errors, path, "must be a string");
            return 1;
        }
        for (const unsigned char *c = (const unsigned char *)s; *c; c++)
            if ((*c < 0x20 && !(f->type == ITEM_F_TEXT && (*c == '\n' || *c == '\t' || *c == '\r'))) ||
                *c == 0x7f) {
                add_error(errors, path, "contains a control character");
                return 1;
            }
        long long n = (long long)utf8_chars_len(s);
        if (f->min_length >= 0 && n < f->min_length) {
            snprintf(msg, sizeof msg, "at least %lld characters", f->min_length);
            add_error(errors, path, msg);
            return 1;
        }
        if (f->max_length >= 0 && n > f->max_length) {
            snprintf(msg, sizeof msg, "at most %lld characters", f->max_length);
            add_error(errors, path, msg);
            return 1;
        }
        if (f->pattern_expr &&
            rules_check(f->pattern_expr, &(struct rules_env){.ctx = env, .lookup = env_lookup}) != 1) {
            snprintf(msg, sizeof msg, "does not match the pattern %s", f->pattern);
            add_error(errors, path, msg);
            return 1;
        }
        return 0;
    }
    case ITEM_F_INTEGER:
    case ITEM_F_FEN: {
        if (!json_is_integer(x)) {
            add_error(errors, path,
                      f->type == ITEM_F_FEN ? "must be an integer number of fen" : "must be an integer");
            return 1;
        }
        long long n = json_integer_value(x);
        if ((f->has_min && n < f->min) || (f->has_max && n > f->max)) {
            if (f->has_min && f->has_max)
                snprintf(msg, sizeof msg, "must be between %lld and %lld", f->min, f->max);
            else if (f->has_min)
                snprintf(msg, sizeof msg, "must be at least %lld", f->min);
            else
                snprintf(msg, sizeof msg, "must be at most %lld", f->max);
            add_error(errors, path, msg);
            return 1;
        }
        return 0;
    }
    case ITEM_F_DATE: {
        int d;
        if (!s || calendar_date_parse(s, &d) != 0) {
            add_error(errors, path, "must be a date (YYYY-MM-DD)");
            return 1;
        }
        return 0;
    }
    case ITEM_F_BOOLEAN:
        if (!json_is_boolean(x)) {
            add_error(errors, path, "must be true or false");
            return 1;
        }
        return 0;
    case ITEM_F_ENUM:
        if (!s || !item_dict_label(it, f->dict, s)) {
            add_error(errors, path, "not one of the listed choices");
            return 1;
        }
        return 0;
    case ITEM_F_ID_NUMBER: {
        const char *why = NULL;
        if (!s || auth_id_number_check(s, &why) != 0) {
            add_error(errors, path, why && s ? why : "not a valid ID number");
            return 1;
        }
        return 0;
    }
    case ITEM_F_USCC: {
        const char *why = NULL;
        if (!s || auth_uscc_check(s, &why) != 0) {
            add_error(errors, path, why && s ? why : "not a valid unified social credit code");
            return 1;
        }
        return 0;
    }
    case ITEM_F_MOBILE:
        if (!s || !mobile_ok(s)) {
            add_error(errors, path, "not a mobile number (11 digits starting 13-19)");
            return 1;
        }
        return 0;
    }
    return 0;
}

int item_check_form(const struct item *it, json_t *form, json_t *applicant, calendar *cal, json_t *errors)
{
    if (!it || !json_is_object(form) || !json_is_array(errors)) return -1;
    size_t before = json_array_size(errors);
    /* unknown keys */
    const char *k;
    json_t *x;
    void *tmp;
    json_object_foreach_safe(form, tmp, k, x)
    {
        if (!item_field(it, k)) {
            char path[120];
            snprintf(path, sizeof path, "form.%.100s", k);
            add_error(errors, path, "unknown field");
        } else if (json_is_string(x) && !json_string_length(x)) {
            json_object_del(form, k); /* an empty answer is no answer */
        }
    }
    /* defaults from the profile */
    for (size_t i = 0; i < it->nfields; i++) {
        const struct item_field *f = &it->fields[i];
        json_t *cur = json_object_get(form, f->name);
        if (!f->def || (cur && !json_is_null(cur))) continue;
        json_t *val = json_object_get(applicant, f->def + 8);
        if (json_is_string(val) && json_string_length(val)) json_object_set(form, f->name, val);
    }
    json_t *scope = json_pack("{s:O, s:o}", "form", form, "applicant",
                              json_is_object(applicant) ? json_incref(applicant) : json_object());
    if (!scope) return -1;
    struct env_ctx ectx = {it, scope, cal};
    for (size_t i = 0; i < it->nfields; i++) check_field(it, &it->fields[i], form, &ectx, errors);
    struct rules_env env = {.ctx = &ectx,
                            .lookup = env_lookup,
                            .in_dict = env_in_dict,
                            .is_working_day = cal ? env_working : NULL};
    for (size_t i = 0; i < it->nrules; i++) {
        const struct item_rule *r = &it->rules[i];
        if (r->when_expr) {
            int w = rules_check(r->when_expr, &env);
            if (w == 0) continue;
        }
        if (rules_check(r->check_expr, &env) == 1) continue;
        for (size_t j = 0; j < r->nfields; j++) add_error(errors, r->fields[j], r->message);
        if (!r->nfields) add_error(errors, "form", r->message);
    }
    json_decref(scope);
    return json_array_size(errors) > before ? 1 : 0;
}

const char *item_limit_value(const struct item *it, json_t *form, char *buf, size_t len)
{
    if (!it->limit_key) return NULL;
    json_t *x = json_object_get(form, it->limit_key + 5);
    if (json_is_string(x) && json_string_length(x))
        snprintf(buf, len, "%s", json_string_value(x));
    else if (json_is_integer(x))
        snprintf(buf, len, "%lld", (long long)json_integer_value(x));
    else
        return NULL;
    return buf;
}

/* ---------- testdata dates ---------- */

/* "@today", "@today-N", "@today+N" → buf; 0 when s is one of them */
static int relative_date(const char *s, int today, char buf[11])
{
    if (!s || !str_has_prefix(s, "@today")) return -1;
    const char *rest = s + 6;
    long long n = 0;
    if (*rest) {
        if ((rest[0] != '+' && rest[0] != '-') || parse_int64(rest + 1, &n) != 0 || n > 100000) return -1;
        if (rest[0] == '-') n = -n;
    }
    calendar_date_format(today + (int)n, buf);
    return 0;
}

void item_resolve_dates(json_t *v, int today)
{
    char buf[11];
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (relative_date(json_string_value(x), today, buf) == 0)
                json_object_set_new(v, k, json_string(buf));
            else
                item_resolve_dates(x, today);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (relative_date(json_string_value(x), today, buf) == 0)
                json_array_set_new(v, i, json_string(buf));
            else
                item_resolve_dates(x, today);
        }
    }
}
