/*
 * type.c — licence types as data (licences/<code>.json, format in docs/licences.md):
 * checking a definition, checking a directory of them (and that the items name only
 * known types), importing them into licence_type, and reading one back.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "licence/licence.h"

const char *const LICENCE_STD_FIELDS[] = {
    "id",          "type",       "type_name",  "holder_name", "holder_number", "issuer",
    "issuer_name", "issue_date", "valid_from", "valid_to",    "source",        NULL};

static int std_field(const char *k)
{
    for (int i = 0; LICENCE_STD_FIELDS[i]; i++)
        if (!strcmp(LICENCE_STD_FIELDS[i], k)) return 1;
    return 0;
}

struct chk {
    const char *file;
    struct strbuf *out;
    int n;
};

static void P(struct chk *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void P(struct chk *c, const char *path, const char *fmt, ...)
{
    c->n++;
    if (!c->out) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sb_printf(c->out, "%s: %s: %s\n", c->file, path, msg);
}

static int ident_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 48 || !(*s >= 'a' && *s <= 'z')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

static int upper_ok(const char *s, size_t lo, size_t hi)
{
    size_t n = s ? strlen(s) : 0;
    if (n < lo || n > hi) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) return 0;
    return 1;
}

static const char *str_of(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void need_str(struct chk *c, const json_t *o, const char *k, const char *path, size_t maxc)
{
    const char *s = str_of(o, k);
    char p[128];
    snprintf(p, sizeof p, "%s.%s", path, k);
    if (!s || !*s)
        P(c, p, "missing or not a non-empty string");
    else if (strlen(s) > maxc * 4)
        P(c, p, "too long (at most %zu characters)", maxc);
}

/* the keys a licence of this type has: standard ones and the type's own */
static int has_key(const json_t *def, const char *k)
{
    if (std_field(k)) return 1;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(def, "fields"), i, f)
    {
        const char *fk = str_of(f, "key");
        if (fk && !strcmp(fk, k)) return 1;
    }
    return 0;
}

static void check_source(struct chk *c, const char *path, const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s ||
        !(str_has_prefix(s, "form.") || str_has_prefix(s, "text:") || !strcmp(s, "case.case_no") ||
          !strcmp(s, "case.item_code") || !strcmp(s, "applicant.name") || !strcmp(s, "applicant.number")))
        P(c, path,
          "a source: form.<field>, text:<words>, case.case_no, case.item_code, applicant.name or "
          "applicant.number");
}

int licence_type_check(const json_t *def, const char *file, struct strbuf *problems)
{
    struct chk c = {file, problems, 0};
    if (!json_is_object(def)) {
        P(&c, "$", "not an object");
        return c.n;
    }
    static const char *const known[] = {"code",        "version",  "name",      "name_en",     "issuer",
                                        "issuer_code", "id_code",  "holder",    "validity",    "fields",
                                        "from_case",   "template", "scenarios", "description", NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)def, k, v)
    {
        int ok = 0;
        for (int i = 0; known[i] && !ok; i++) ok = !strcmp(known[i], k);
        if (!ok) {
            char p[128];
            snprintf(p, sizeof p, "$.%.64s", k);
            P(&c, p, "unknown key");
        }
    }
    if (!ident_ok(str_of(def, "code"))) P(&c, "$.code", "a type code: [a-z][a-z0-9_]* (at most 48)");
    json_t *ver = json_object_get(def, "version");
    if (ver && (!json_is_integer(ver) || json_integer_value(ver) < 1))
        P(&c, "$.version", "a positive integer");
    need_str(&c, def, "name", "$", 64);
    if (json_object_get(def, "name_en")) need_str(&c, def, "name_en", "$", 128);
    const char *issuer = str_of(def, "issuer");
    if (!licence_dept_ok(issuer)) P(&c, "$.issuer", "the issuing department's code (from items/org.json)");
    if (!upper_ok(str_of(def, "issuer_code"), 6, 18))
        P(&c, "$.issuer_code", "6 to 18 of 0-9 A-Z (the issuer's code in identifiers)");
    if (!upper_ok(str_of(def, "id_code"), 2, 6))
        P(&c, "$.id_code", "2 to 6 of 0-9 A-Z (the type in identifiers)");
    const char *holder = str_of(def, "holder");
    if (holder && strcmp(holder, "person") && strcmp(holder, "enterprise") && strcmp(holder, "any"))
        P(&c, "$.holder", "person, enterprise or any");
    json_t *val = json_object_get(def, "validity");
    if (json_is_string(val)) {
        if (strcmp(json_string_value(val), "permanent") != 0)
            P(&c, "$.validity", "\"permanent\" or {\"years\": N}");
    } else if (json_is_object(val) && json_object_size(val) == 1) {
        const char *unit = json_object_iter_key(json_object_iter(val));
        json_t *n = json_object_iter_value(json_object_iter(val));
        long long max = !strcmp(unit, "years")    ? 100
                        : !strcmp(unit, "months") ? 1200
                        : !strcmp(unit, "days")   ? 36500
                                                  : 0;
        if (!max || !json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > max)
            P(&c, "$.validity", "one of years (1-100), months (1-1200) or days (1-36500)");
    } else {
        P(&c, "$.validity", "\"permanent\" or {\"years\"|\"months\"|\"days\": N}");
    }
    json_t *fields = json_object_get(def, "fields");
    if (!json_is_array(fields) || json_array_size(fields) > 40) {
        P(&c, "$.fields", "a list of at most 40 fields");
    } else {
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f)
        {
            char p[96];
            snprintf(p, sizeof p, "$.fields[%zu]", i);
            if (!json_is_object(f)) {
                P(&c, p, "not an object");
                continue;
            }
            const char *fk = str_of(f, "key");
            if (!ident_ok(fk))
                P(&c, p, "key: [a-z][a-z0-9_]*");
            else if (std_field(fk))
                P(&c, p, "key \"%s\" is a standard field; types declare only their own", fk);
            for (size_t j = 0; j < i && fk; j++)
                if (str_of(json_array_get(fields, j), "key") &&
                    !strcmp(str_of(json_array_get(fields, j), "key"), fk))
                    P(&c, p, "key \"%s\" appears twice", fk);
            need_str(&c, f, "label", p, 32);
            const char *t = str_of(f, "type");
            if (!t || (strcmp(t, "string") && strcmp(t, "date") && strcmp(t, "integer") && strcmp(t, "enum")))
                P(&c, p, "type: string, date, integer or enum");
            else if (!strcmp(t, "enum")) {
                json_t *o = json_object_get(f, "options");
                if (!json_is_array(o) || !json_array_size(o))
                    P(&c, p, "options: a non-empty list of strings");
            }
            json_t *mx = json_object_get(f, "max");
            if (mx && (!json_is_integer(mx) || json_integer_value(mx) < 1 || json_integer_value(mx) > 500))
                P(&c, p, "max: 1 to 500 characters");
            json_t *rq = json_object_get(f, "required");
            if (rq && !json_is_boolean(rq)) P(&c, p, "required: true or false");
        }
    }
    json_t *fc = json_object_get(def, "from_case");
    if (fc) {
        if (!json_is_object(fc)) P(&c, "$.from_case", "an object: {holder_name, holder_number, fields}");
        const char *fk;
        json_t *fv;
        json_object_foreach(fc, fk, fv)
        {
            char p[128];
            snprintf(p, sizeof p, "$.from_case.%.48s", fk);
            if (!strcmp(fk, "holder_name") || !strcmp(fk, "holder_number")) {
                check_source(&c, p, fv);
            } else if (!strcmp(fk, "fields") && json_is_object(fv)) {
                const char *k2;
                json_t *v2;
                json_object_foreach(fv, k2, v2)
                {
                    char p2[200];
                    snprintf(p2, sizeof p2, "%s.%.48s", p, k2);
                    if (!has_key(def, k2) || std_field(k2))
                        P(&c, p2, "not one of the type's own fields");
                    else
                        check_source(&c, p2, v2);
                }
            } else {
                P(&c, p, "unknown key (holder_name, holder_number or fields)");
            }
        }
    }
    json_t *tpl = json_object_get(def, "template");
    if (!json_is_object(tpl)) {
        P(&c, "$.template", "an object: {title, fields: [keys in order]}");
    } else {
        need_str(&c, tpl, "title", "$.template", 64);
        json_t *tf = json_object_get(tpl, "fields");
        if (!json_is_array(tf) || !json_array_size(tf))
            P(&c, "$.template.fields", "a non-empty list of field keys");
        size_t i;
        json_t *x;
        json_array_foreach(tf, i, x)
        {
            char p[96];
            snprintf(p, sizeof p, "$.template.fields[%zu]", i);
            if (!json_is_string(x) || !has_key(def, json_string_value(x)))
                P(&c, p, "not a field of this type");
        }
    }
    json_t *sc = json_object_get(def, "scenarios");
    if (sc && !json_is_object(sc)) P(&c, "$.scenarios", "an object: {scenario: [visible fields]}");
    const char *sk;
    json_t *sv;
    json_object_foreach(sc, sk, sv)
    {
        char p[128];
        snprintf(p, sizeof p, "$.scenarios.%.48s", sk);
        if (!ident_ok(sk)) P(&c, p, "a scenario code: [a-z][a-z0-9_]*");
        if (!json_is_array(sv) || !json_array_size(sv)) {
            P(&c, p, "a non-empty list of field keys");
            continue;
        }
        size_t i;
        json_t *x;
        json_array_foreach(sv, i, x)
        {
            char p2[160];
            snprintf(p2, sizeof p2, "%s[%zu]", p, i);
            if (!json_is_string(x) || !has_key(def, json_string_value(x)))
                P(&c, p2, "not a field of this type");
        }
    }
    return c.n;
}

/* ---------- a directory of types ---------- */

struct tfile {
    char name[256];
    char *text;
    json_t *def;
    char sm3[65];
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tfile *)a)->name, ((const struct tfile *)b)->name);
}

/* Read DIR/<code>.json: files (sorted), their count, problems counted into *n. */
static int read_dir(const char *dir, struct tfile **out, size_t *count, struct strbuf *problems, int *n)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct tfile *fs = NULL;
    size_t nf = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || e->d_name[0] == '.' || strcmp(e->d_name + l - 5, ".json") != 0 || l >= 256) continue;
        struct tfile *nfs = realloc(fs, (nf + 1) * sizeof *fs);
        if (!nfs) break;
        fs = nfs;
        memset(&fs[nf], 0, sizeof fs[nf]);
        snprintf(fs[nf].name, sizeof fs[nf].name, "%s", e->d_name);
        nf++;
    }
    closedir(d);
    qsort(fs, nf, sizeof *fs, name_cmp);
    for (size_t i = 0; i < nf; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, fs[i].name);
        struct chk c = {fs[i].name, problems, 0};
        FILE *f = fopen(path, "rb");
        char *buf = malloc(1024 * 1024 + 1);
        size_t len = f && buf ? fread(buf, 1, 1024 * 1024 + 1, f) : 0;
        if (f) fclose(f);
        if (!f || !buf || len > 1024 * 1024) {
            free(buf);
            P(&c, "$", "cannot be read (or over 1 MiB)");
            *n += c.n;
            continue;
        }
        buf[len] = 0;
        fs[i].text = buf;
        unsigned char dg[SM3_DIGEST_LEN];
        crypto_sm3(buf, len, dg);
        hex_encode(dg, sizeof dg, fs[i].sm3);
        json_error_t je;
        fs[i].def = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!fs[i].def) {
            P(&c, "$", "not JSON: line %d column %d: %s", je.line, je.column, je.text);
            *n += c.n;
            continue;
        }
        *n += licence_type_check(fs[i].def, fs[i].name, problems);
        const char *code = str_of(fs[i].def, "code");
        char want[256];
        snprintf(want, sizeof want, "%s.json", code ? code : "");
        if (code && strcmp(want, fs[i].name) != 0) {
            c.n = 0;
            P(&c, "$.code", "the file must be named after the code (%s)", want);
            *n += c.n;
        }
    }
    *out = fs;
    *count = nf;
    return 0;
}

static void free_files(struct tfile *fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(fs[i].text);
        json_decref(fs[i].def);
    }
    free(fs);
}

static int have_type(struct tfile *fs, size_t n, const char *code)
{
    for (size_t i = 0; i < n; i++)
        if (fs[i].def && str_of(fs[i].def, "code") && !strcmp(str_of(fs[i].def, "code"), code)) return 1;
    return 0;
}

/* items_dir: every item's outputs.licence must be a type here; org.json's departments
 * must hold every issuer */
static void check_items(const char *items_dir, struct tfile *fs, size_t nf, struct strbuf *problems, int *n)
{
    DIR *d = opendir(items_dir);
    if (!d) {
        struct chk c = {items_dir, problems, 0};
        P(&c, "$", "cannot read the items directory");
        *n += c.n;
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || e->d_name[0] == '.' || strcmp(e->d_name + l - 5, ".json") != 0 ||
            !strcmp(e->d_name, "org.json"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", items_dir, e->d_name);
        json_t *it = json_load_file(path, 0, NULL);
        const char *lic = json_string_value(json_object_get(json_object_get(it, "outputs"), "licence"));
        if (lic && !have_type(fs, nf, lic)) {
            char fname[300];
            snprintf(fname, sizeof fname, "items/%s", e->d_name);
            struct chk c = {fname, problems, 0};
            P(&c, "$.outputs.licence", "\"%s\" is not a licence type in this directory", lic);
            *n += c.n;
        }
        json_decref(it);
    }
    closedir(d);
    char org[1024];
    snprintf(org, sizeof org, "%s/org.json", items_dir);
    json_t *o = json_load_file(org, 0, NULL);
    if (!o) return;
    for (size_t i = 0; i < nf; i++) {
        const char *iss = fs[i].def ? str_of(fs[i].def, "issuer") : NULL;
        if (!iss) continue;
        int found = 0;
        size_t j;
        json_t *dpt;
        json_array_foreach(json_object_get(o, "departments"), j, dpt)
        {
            if (str_of(dpt, "code") && !strcmp(str_of(dpt, "code"), iss)) found = 1;
        }
        if (!found) {
            struct chk c = {fs[i].name, problems, 0};
            P(&c, "$.issuer", "department \"%s\" is not in items/org.json", iss);
            *n += c.n;
        }
    }
    json_decref(o);
}

int licence_types_validate(const char *dir, const char *items_dir, struct strbuf *problems)
{
    struct tfile *fs = NULL;
    size_t nf = 0;
    int n = 0;
    if (read_dir(dir, &fs, &nf, problems, &n) != 0) return -1;
    if (nf == 0) {
        struct chk c = {dir, problems, 0};
        P(&c, "$", "no licence types (*.json) here");
        n += c.n;
    }
    if (items_dir) check_items(items_dir, fs, nf, problems, &n);
    free_files(fs, nf);
    return n;
}

struct import {
    struct tfile *fs;
    size_t nf;
    const char *actor;
    struct strbuf *problems;
    int imported, refused;
};

static int import_tx(store_conn *c, void *arg)
{
    struct import *im = arg;
    im->imported = im->refused = 0;
    char now[40];
    time_rfc3339(now_wall(), now, sizeof now);
    for (size_t i = 0; i < im->nf; i++) {
        json_t *def = im->fs[i].def;
        const char *code = str_of(def, "code"), *issuer = str_of(def, "issuer");
        /* the issuer must be a department of this organisation */
        store_stmt *st = store_prepare(c, "SELECT 1 FROM department WHERE code = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, issuer);
        int rc = store_step(st);
        store_finalize(st);
        if (rc == STORE_DONE) {
            struct chk ck = {im->fs[i].name, im->problems, 0};
            P(&ck, "$.issuer", "department \"%s\" does not exist (import the items' org.json first)", issuer);
            im->refused++;
            continue;
        }
        if (rc != STORE_ROW) return rc;
        st = store_prepare(c, "SELECT sm3, version FROM licence_type WHERE code = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, code);
        rc = store_step(st);
        int same = rc == STORE_ROW && !strcmp(store_column_text(st, 0), im->fs[i].sm3);
        long long version = rc == STORE_ROW ? store_column_int64(st, 1) + 1 : 1;
        int exists = rc == STORE_ROW;
        store_finalize(st);
        if (rc != STORE_ROW && rc != STORE_DONE) return rc;
        if (same) continue;
        char *text = json_dumps(def, JSON_COMPACT);
        st = store_prepare(
            c, exists ? "UPDATE licence_type SET version = $2, name = $3, issuer_dept = $4,"
                        " definition = $5, sm3 = $6, updated_at = $7 WHERE code = $1"
                      : "INSERT INTO licence_type(code, version, name, issuer_dept, definition, sm3,"
                        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        if (!st || !text) {
            free(text);
            if (st) store_finalize(st);
            return STORE_ERROR;
        }
        store_bind_text(st, 1, code);
        store_bind_int64(st, 2, version);
        store_bind_text(st, 3, str_of(def, "name"));
        store_bind_text(st, 4, issuer);
        store_bind_text(st, 5, text);
        store_bind_text(st, 6, im->fs[i].sm3);
        store_bind_text(st, 7, now);
        rc = store_step(st);
        store_finalize(st);
        free(text);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
        char obj[96], det[200];
        snprintf(obj, sizeof obj, "licence_type:%s", code);
        snprintf(det, sizeof det, "{\"version\":%lld,\"sm3\":\"%s\"}", version, im->fs[i].sm3);
        struct audit_event e = {im->actor, NULL, NULL, NULL, "licence.type.import", obj, "ok", det};
        rc = audit_append(c, &e);
        if (rc != STORE_OK) return rc;
        im->imported++;
    }
    /* a refused issuer rolls the whole import back */
    return im->refused ? 1 : STORE_OK;
}

int licence_types_import(store *s, const char *dir, const char *actor, struct strbuf *problems, int *imported)
{
    struct tfile *fs = NULL;
    size_t nf = 0;
    int n = 0;
    *imported = 0;
    if (read_dir(dir, &fs, &nf, problems, &n) != 0) return -1;
    if (n > 0) {
        free_files(fs, nf);
        return n;
    }
    struct import im = {fs, nf, actor, problems, 0, 0};
    int rc = store_tx(s, 1, import_tx, &im);
    free_files(fs, nf);
    if (rc == 1) return im.refused;
    if (rc != STORE_OK) return -2;
    *imported = im.imported;
    return 0;
}

json_t *licence_type_get(store_conn *c, const char *code)
{
    store_stmt *st = store_prepare(c, "SELECT definition FROM licence_type WHERE code = $1");
    if (!st) return NULL;
    store_bind_text(st, 1, code);
    json_t *def = NULL;
    if (store_step(st) == STORE_ROW) def = json_loads(store_column_text(st, 0), 0, NULL);
    store_finalize(st);
    return def;
}
