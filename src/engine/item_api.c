/*
 * item_api.c — the catalog in the database: the cache behind item_get, the applicant
 * profile rules see, and the HTTP endpoints of the catalog (public), the form check
 * (logged in) and catalog administration (item.manage).  See item.h and docs/items.md.
 *
 * Cache.  Versions are immutable, so a parsed and compiled version is kept for the
 * life of the process, keyed by (code, version), behind one mutex.  Which version is
 * current and whether the item is online are read from the `item` row on every call
 * (one primary-key read), so several servers and the CLI stay consistent at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/session.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "engine/flow.h"
#include "engine/item.h"
#include "rules/rules.h"

/* ---------- the cache ---------- */

#define BUCKETS 128

struct centry {
    struct centry *next;
    int version;
    struct item *it;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct centry *cache[BUCKETS];

static unsigned bucket(const char *code, int version)
{
    unsigned h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)code; *s; s++) h = (h ^ *s) * 16777619u;
    return (h ^ (unsigned)version) % BUCKETS;
}

static const struct item *cache_find(const char *code, int version)
{
    unsigned b = bucket(code, version);
    const struct item *found = NULL;
    pthread_mutex_lock(&cache_mu);
    for (struct centry *e = cache[b]; e && !found; e = e->next)
        if (e->version == version && !strcmp(e->it->code, code)) found = e->it;
    pthread_mutex_unlock(&cache_mu);
    return found;
}

/* Insert it, or free it when another thread was first; returns the cached one. */
static const struct item *cache_put(struct item *it)
{
    unsigned b = bucket(it->code, it->version);
    pthread_mutex_lock(&cache_mu);
    for (struct centry *e = cache[b]; e; e = e->next)
        if (e->version == it->version && !strcmp(e->it->code, it->code)) {
            pthread_mutex_unlock(&cache_mu);
            item_free(it);
            return e->it;
        }
    struct centry *e = malloc(sizeof *e);
    if (!e) {
        pthread_mutex_unlock(&cache_mu);
        item_free(it);
        return NULL;
    }
    e->version = it->version;
    e->it = it;
    e->next = cache[b];
    cache[b] = e;
    pthread_mutex_unlock(&cache_mu);
    return it;
}

void item_cache_clear(void)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < BUCKETS; i++) {
        struct centry *e = cache[i];
        while (e) {
            struct centry *n = e->next;
            item_free(e->it);
            free(e);
            e = n;
        }
        cache[i] = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
}

int item_state(store_conn *c, const char *code, int *current_version, int *online)
{
    store_stmt *st = store_prepare(c, "SELECT current_version, online FROM item WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        if (current_version) *current_version = (int)store_column_int64(st, 0);
        if (online) *online = store_column_int64(st, 1) != 0;
    }
    store_finalize(st);
    if (rc == STORE_ROW) return 0;
    return rc == STORE_DONE ? 1 : rc;
}

int item_get(store_conn *c, const char *code, int version, const struct item **out)
{
    *out = NULL;
    if (!code || version < 0) return 1;
    if (version == 0) {
        int rc = item_state(c, code, &version, NULL);
        if (rc != 0) return rc;
    }
    const struct item *hit = cache_find(code, version);
    if (hit) {
        *out = hit;
        return 0;
    }
    store_stmt *st = store_prepare(c, "SELECT definition FROM item_version WHERE code = $1 AND version = $2");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    store_bind_int64(st, 2, version);
    int rc = store_step(st);
    char *text = rc == STORE_ROW ? strdup(store_column_text(st, 0)) : NULL;
    store_finalize(st);
    if (rc == STORE_DONE) return 1;
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    if (!text) return STORE_ERROR;
    struct item *it = NULL;
    char file[64];
    snprintf(file, sizeof file, "%.40s.json", code);
    rc = item_load(text, strlen(text), file, &it, NULL);
    free(text);
    if (rc != 0) {
        log_error("item %s version %d in the database does not load (%d problems)", code, version, rc);
        return STORE_ERROR;
    }
    *out = cache_put(it);
    return *out ? 0 : STORE_ERROR;
}

int item_set_online(store_conn *c, const char *code, int online)
{
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "UPDATE item SET online = $2, updated_at = $3 WHERE code = $1 RETURNING code");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    store_bind_int64(st, 2, online ? 1 : 0);
    store_bind_text(st, 3, ts);
    int rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_ROW) return 0;
    return rc == STORE_DONE ? 1 : rc;
}

/* ---------- the applicant ---------- */

static void put_open(json_t *o, const char *key, const char *sealed)
{
    if (!sealed) return;
    char *plain = keys_open(sealed);
    if (plain && *plain) json_object_set_new(o, key, json_string(plain));
    if (plain) {
        crypto_wipe(plain, strlen(plain));
        free(plain);
    }
}

/* {kind, name, id_number, mobile, address} from the account's sealed fields, opened */
static json_t *profile_open(const char *kind, const char *const sealed[4])
{
    static const char *const KEYS[4] = {"name", "id_number", "mobile", "address"};
    json_t *o = json_pack("{s:s}", "kind", kind);
    for (int i = 0; o && i < 4; i++) put_open(o, KEYS[i], sealed[i]);
    return o;
}

json_t *item_applicant_json(store_conn *c, const struct principal *p)
{
    if (!p) return NULL;
    json_t *o = NULL;
    store_stmt *st;
    if (p->profile) { /* read with the session */
        const char *sealed[4] = {p->name_enc, p->id_number_enc, p->mobile_enc, p->address_enc};
        o = profile_open(p->kind, sealed);
    } else {
        st = store_prepare(
            c, "SELECT kind, name_enc, id_number_enc, mobile_enc, address_enc FROM account WHERE id = $1");
        if (!st) return NULL;
        store_bind_int64(st, 1, p->account);
        if (store_step(st) == STORE_ROW) {
            const char *sealed[4] = {store_column_text(st, 1), store_column_text(st, 2),
                                     store_column_text(st, 3), store_column_text(st, 4)};
            o = profile_open(store_column_text(st, 0), sealed);
        }
        store_finalize(st);
    }
    if (!o) return NULL;
    const char *idn = json_string_value(json_object_get(o, "id_number"));
    if (idn && auth_id_number_check(idn, NULL) == 0) {
        int y = atoi((char[5]){idn[6], idn[7], idn[8], idn[9], 0});
        int m = atoi((char[3]){idn[10], idn[11], 0}), d = atoi((char[3]){idn[12], idn[13], 0});
        int ty, tm, td;
        calendar_date_ymd(calendar_today(), &ty, &tm, &td);
        json_object_set_new(o, "age", json_integer(ty - y - ((tm < m || (tm == m && td < d)) ? 1 : 0)));
    }
    long long ent = p->on_behalf ? p->on_behalf : p->enterprise;
    if (ent) {
        st = store_prepare(c, "SELECT name, uscc FROM enterprise WHERE id = $1");
        if (st) {
            store_bind_int64(st, 1, ent);
            if (store_step(st) == STORE_ROW) {
                json_object_set_new(o, "enterprise_name", json_string(store_column_text(st, 0)));
                json_object_set_new(o, "credit_code", json_string(store_column_text(st, 1)));
            }
            store_finalize(st);
        }
    }
    return o;
}

/* ---------- HTTP ---------- */

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }

static int unavailable(http_req *r) { return http_reply_error(r, 503, "unavailable", "try again", NULL); }

static int not_found(http_req *r) { return http_reply_error(r, 404, "not_found", "no such item", NULL); }

static json_t *types_array(const char *csv)
{
    json_t *a = json_array();
    for (const char *s = csv; s && *s;) {
        while (*s == ',') s++;
        size_t k = strcspn(s, ",");
        if (k) json_array_append_new(a, json_stringn(s, k));
        s += k;
    }
    return a;
}

/* "%q%" with LIKE's special characters escaped, lower-cased ASCII */
static char *like_pattern(const char *q)
{
    size_t n = strlen(q);
    char *out = malloc(2 * n + 3), *o = out;
    if (!out) return NULL;
    *o++ = '%';
    for (const char *s = q; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\') *o++ = '\\';
        *o++ = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
    }
    *o++ = '%';
    *o = 0;
    return out;
}

static const char *const DEPTH_NAMES[] = {"online", "one_visit", "zero_materials", "cross_province"};

/* GET /api/v1/items?q=&category=&applicant_type=&depth=&page=&size= */
int item_api_list(http_req *r)
{
    const char *q = http_req_query(r, "q"), *cat = http_req_query(r, "category");
    const char *type = http_req_query(r, "applicant_type"), *depth = http_req_query(r, "depth");
    const char *page_s = http_req_query(r, "page"), *size_s = http_req_query(r, "size");
    long long page = 1, size = 20;
    json_t *errors = json_array();
    if (page_s && (parse_int64(page_s, &page) != 0 || page < 1 || page > 100000))
        json_array_append_new(errors, http_field_error("page", "an integer from 1"));
    if (size_s && (parse_int64(size_s, &size) != 0 || size < 1 || size > 100))
        json_array_append_new(errors, http_field_error("size", "an integer from 1 to 100"));
    if (type && strcmp(type, "person") && strcmp(type, "enterprise") && strcmp(type, "agent"))
        json_array_append_new(errors, http_field_error("applicant_type", "person, enterprise or agent"));
    int dok = !depth;
    for (size_t i = 0; depth && i < EHALL_ARRAY_LEN(DEPTH_NAMES); i++) dok |= !strcmp(depth, DEPTH_NAMES[i]);
    if (!dok)
        json_array_append_new(
            errors, http_field_error("depth", "online, one_visit, zero_materials or cross_province"));
    if (q && strlen(q) > 100) json_array_append_new(errors, http_field_error("q", "at most 100 bytes"));
    if (cat && strlen(cat) > 100)
        json_array_append_new(errors, http_field_error("category", "at most 100 bytes"));
    if (json_array_size(errors))
        return http_reply_error(r, 400, "invalid_query", "bad query parameters", errors);
    json_decref(errors);
    char *like = like_pattern(q ? q : "");
    char tlike[32];
    if (type)
        snprintf(tlike, sizeof tlike, "%%,%s,%%", type);
    else
        snprintf(tlike, sizeof tlike, "%%");
    if (!like) return unavailable(r);
    static const char *const WHERE =
        " FROM item WHERE online = 1" /* '%%' is what like_pattern makes of an empty q */
        " AND ($1 = '%%' OR lower(code) LIKE $1 ESCAPE '\\' OR lower(name) LIKE $1 ESCAPE '\\'"
        " OR lower(category) LIKE $1 ESCAPE '\\')"
        " AND ($2 = '' OR category = $2) AND applicant_types LIKE $3 AND ($4 = '' OR depth = $4)";
    char sql_count[600], sql_page[900];
    snprintf(sql_count, sizeof sql_count, "SELECT COUNT(*)%s", WHERE);
    snprintf(sql_page, sizeof sql_page,
             "SELECT code, name, category, department, applicant_types, depth, time_limit, current_version%s"
             " ORDER BY category, code LIMIT $5 OFFSET $6",
             WHERE);
    store_conn *c = store_acquire(db_of(r));
    if (!c) {
        free(like);
        return unavailable(r);
    }
    long long total = -1;
    json_t *list = json_array();
    for (int pass = 0; pass < 2; pass++) {
        store_stmt *st = store_prepare(c, pass ? sql_page : sql_count);
        if (!st) break;
        store_bind_text(st, 1, like);
        store_bind_text(st, 2, cat ? cat : "");
        store_bind_text(st, 3, tlike);
        store_bind_text(st, 4, depth ? depth : "");
        if (pass) {
            store_bind_int64(st, 5, size);
            store_bind_int64(st, 6, (page - 1) * size);
        }
        int rc;
        while ((rc = store_step(st)) == STORE_ROW) {
            if (!pass) {
                total = store_column_int64(st, 0);
                continue;
            }
            json_array_append_new(
                list, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:I}", "code", store_column_text(st, 0),
                                "name", store_column_text(st, 1), "category", store_column_text(st, 2),
                                "department", store_column_text(st, 3), "applicant_types",
                                types_array(store_column_text(st, 4)), "depth", store_column_text(st, 5),
                                "time_limit", (json_int_t)store_column_int64(st, 6), "version",
                                (json_int_t)store_column_int64(st, 7)));
        }
        store_finalize(st);
        if (rc != STORE_DONE) {
            total = -1;
            break;
        }
    }
    store_release(c);
    free(like);
    if (total < 0) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200,
                           json_pack("{s:o, s:I, s:I, s:I}", "items", list, "total", (json_int_t)total,
                                     "page", (json_int_t)page, "size", (json_int_t)size));
}

/* The applicant's guide: the definition without what is internal (backend), the rules
 * as source text with their compiled trees for the browser twin, the workflow as step
 * names and limits, and the owning department's name. */
static json_t *guide_json(store_conn *c, const struct item *it)
{
    json_t *g = json_deep_copy(it->def);
    if (!g) return NULL;
    json_object_del(g, "backend");
    json_t *rules = json_array();
    for (size_t i = 0; i < it->nrules; i++) {
        const struct item_rule *ru = &it->rules[i];
        json_t *fields = json_array();
        for (size_t j = 0; j < ru->nfields; j++) json_array_append_new(fields, json_string(ru->fields[j]));
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", ru->id, "check", ru->check, "message",
                              ru->message, "fields", fields, "check_tree", rules_to_json(ru->check_expr));
        if (o && ru->when) {
            json_object_set_new(o, "when", json_string(ru->when));
            json_object_set_new(o, "when_tree", rules_to_json(ru->when_expr));
        }
        json_array_append_new(rules, o);
    }
    json_object_set_new(g, "rules", rules);
    json_t *steps = json_array();
    for (size_t i = 0; i < it->nsteps; i++)
        json_array_append_new(steps, json_pack("{s:s, s:s, s:i}", "id", it->steps[i].id, "name",
                                               it->steps[i].name, "time_limit", it->steps[i].time_limit));
    json_object_set_new(g, "workflow", json_pack("{s:o}", "steps", steps));
    json_object_set_new(g, "fee_total", json_integer(item_fee_total(it)));
    if (!json_object_get(g, "dictionaries")) json_object_set_new(g, "dictionaries", json_object());
    store_stmt *st = store_prepare(c, "SELECT name FROM department WHERE code = $1");
    if (st) {
        store_bind_text(st, 1, it->department);
        if (store_step(st) == STORE_ROW)
            json_object_set_new(g, "department_name", json_string(store_column_text(st, 0)));
        store_finalize(st);
    }
    return g;
}

/* The current version of an online item: 0 and *out, 404 replied (1), or 503 (-1). */
static int online_item(http_req *r, store_conn *c, const char *code, const struct item **out)
{
    int online = 0, version = 0;
    int rc = item_state(c, code, &version, &online);
    if (rc < 0) return -1;
    if (rc == 1 || !online) return 1;
    rc = item_get(c, code, version, out);
    if (rc < 0) return -1;
    (void)r;
    return rc == 0 ? 0 : 1;
}

/* GET /api/v1/items/{code} */
int item_api_guide(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    const struct item *it;
    int rc = online_item(r, c, http_req_param(r, "code"), &it);
    json_t *g = rc == 0 ? guide_json(c, it) : NULL;
    store_release(c);
    if (rc == 1) return not_found(r);
    if (!g) return unavailable(r);
    return http_reply_json(r, 200, g);
}

/* POST /api/v1/items/{code}/check {"form": {...}} */
int item_api_check(http_req *r)
{
    json_t *body = http_req_json(r);
    json_t *form = json_object_get(body, "form");
    if (!json_is_object(body) || !json_is_object(form) || json_object_size(body) != 1)
        return http_reply_error(r, 422, "validation_failed", "the body is {\"form\": {...}}",
                                json_pack("[o]", http_field_error("form", "an object is needed")));
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    const struct item *it;
    int rc = online_item(r, c, http_req_param(r, "code"), &it);
    json_t *applicant = rc == 0 ? item_applicant_json(c, p) : NULL;
    store_release(c);
    if (rc == 1) return not_found(r);
    if (rc < 0 || !applicant) {
        json_decref(applicant);
        return unavailable(r);
    }
    const char *kind = json_string_value(json_object_get(applicant, "kind"));
    if (!item_accepts(it, kind)) {
        char msg[120];
        snprintf(msg, sizeof msg, "this item does not take applications from a %s account",
                 kind ? kind : "?");
        json_decref(applicant);
        return http_reply_error(r, 403, "forbidden", msg,
                                json_pack("[o]", http_field_error("applicant.kind", msg)));
    }
    json_t *copy = json_deep_copy(form), *errors = json_array();
    rc = item_check_form(it, copy, applicant, case_engine.cal, errors);
    json_decref(applicant);
    if (rc == 0) {
        json_decref(errors);
        return http_reply_json(r, 200, json_pack("{s:b, s:o}", "valid", 1, "form", copy));
    }
    json_decref(copy);
    if (rc < 0) {
        json_decref(errors);
        return unavailable(r);
    }
    return http_reply_error(r, 422, "validation_failed", "the form has problems", errors);
}

/* GET /api/v1/admin/items: every item, online or not, with every version */
int item_api_admin_list(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    json_t *list = json_array(), *by_code = json_object();
    int ok = 0;
    store_stmt *st =
        store_prepare(c, "SELECT code, current_version, online, name, category, department, depth,"
                         " updated_at FROM item ORDER BY code");
    if (st) {
        int rc;
        while ((rc = store_step(st)) == STORE_ROW) {
            json_t *o =
                json_pack("{s:s, s:I, s:b, s:s, s:s, s:s, s:s, s:s, s:[]}", "code", store_column_text(st, 0),
                          "current_version", (json_int_t)store_column_int64(st, 1), "online",
                          (int)store_column_int64(st, 2), "name", store_column_text(st, 3), "category",
                          store_column_text(st, 4), "department", store_column_text(st, 5), "depth",
                          store_column_text(st, 6), "updated_at", store_column_text(st, 7), "versions");
            json_object_set(by_code, store_column_text(st, 0), o);
            json_array_append_new(list, o);
        }
        store_finalize(st);
        ok = rc == STORE_DONE;
    }
    st = ok ? store_prepare(c,
                            "SELECT code, version, sm3, imported_at FROM item_version ORDER BY code, version")
            : NULL;
    if (st) {
        int rc;
        while ((rc = store_step(st)) == STORE_ROW) {
            json_t *o = json_object_get(by_code, store_column_text(st, 0));
            json_array_append_new(
                json_object_get(o, "versions"),
                json_pack("{s:I, s:s, s:s}", "version", (json_int_t)store_column_int64(st, 1), "sm3",
                          store_column_text(st, 2), "imported_at", store_column_text(st, 3)));
        }
        store_finalize(st);
        ok = rc == STORE_DONE;
    } else {
        ok = 0;
    }
    store_release(c);
    json_decref(by_code);
    if (!ok) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "items", list));
}

struct online_w {
    http_req *r;
    const char *code;
    int online, missing;
};

static int online_tx(store_conn *c, void *arg)
{
    struct online_w *w = arg;
    int rc = item_set_online(c, w->code, w->online);
    if (rc < 0) return rc;
    w->missing = rc == 1;
    if (w->missing) return STORE_OK;
    return auth_audit(w->r, c, w->online ? "item.online" : "item.offline", w->code, "ok", NULL);
}

static int set_online(http_req *r, int online)
{
    struct online_w w = {r, http_req_param(r, "code"), online, 0};
    if (store_tx(db_of(r), 1, online_tx, &w) != STORE_OK) return unavailable(r);
    if (w.missing) return not_found(r);
    return http_reply_json(r, 200, json_pack("{s:s, s:b}", "code", w.code, "online", online));
}

int item_api_online(http_req *r) { return set_online(r, 1); }
int item_api_offline(http_req *r) { return set_online(r, 0); }

/* ---------- bundles ---------- */

/* {code, name, version, items: [{code, name, online}]} for a stored bundle definition */
static json_t *bundle_json(store_conn *c, const char *definition, int full)
{
    json_t *def = json_loads(definition, 0, NULL);
    if (!def) return NULL;
    json_t *items = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(def, "items"), i, x)
    {
        const char *code = json_string_value(x);
        json_t *o = json_pack("{s:s}", "code", code);
        store_stmt *st =
            store_prepare(c, "SELECT name, online, department, time_limit FROM item WHERE code = $1");
        if (st && o) {
            store_bind_text(st, 1, code);
            if (store_step(st) == STORE_ROW) {
                json_object_set_new(o, "name", json_string(store_column_text(st, 0)));
                json_object_set_new(o, "online", json_boolean(store_column_int64(st, 1)));
                json_object_set_new(o, "department", json_string(store_column_text(st, 2)));
                json_object_set_new(o, "time_limit", json_integer(store_column_int64(st, 3)));
            } else {
                json_object_set_new(o, "online", json_false());
            }
        }
        if (st) store_finalize(st);
        json_array_append_new(items, o);
    }
    json_object_set_new(def, "items", items);
    if (!full) json_object_del(def, "description");
    return def;
}

int item_api_bundles(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    json_t *list = json_array();
    store_stmt *st = store_prepare(c, "SELECT definition FROM bundle WHERE online = 1 ORDER BY code");
    int rc = STORE_ERROR;
    if (st) {
        /* read all rows first: bundle_json runs its own statements */
        json_t *defs = json_array();
        while ((rc = store_step(st)) == STORE_ROW)
            json_array_append_new(defs, json_string(store_column_text(st, 0)));
        store_finalize(st);
        size_t i;
        json_t *d;
        json_array_foreach(defs, i, d)
        {
            json_t *b = bundle_json(c, json_string_value(d), 0);
            if (b) json_array_append_new(list, b);
        }
        json_decref(defs);
    }
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "bundles", list));
}

int item_api_bundle(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st = store_prepare(c, "SELECT definition FROM bundle WHERE code = $1 AND online = 1");
    char *def = NULL;
    int rc = STORE_ERROR;
    if (st) {
        store_bind_text(st, 1, http_req_param(r, "code"));
        rc = store_step(st);
        if (rc == STORE_ROW) def = strdup(store_column_text(st, 0));
        store_finalize(st);
    }
    json_t *b = def ? bundle_json(c, def, 1) : NULL;
    free(def);
    store_release(c);
    if (rc == STORE_DONE) return http_reply_error(r, 404, "not_found", "no such bundle", NULL);
    if (!b) return unavailable(r);
    return http_reply_json(r, 200, b);
}

/* ---------- validating a definition in the console ---------- */

/* POST /api/v1/admin/items/validate[?file=NAME.json] — the body is an item definition;
 * the answer lists every problem as `ehall items validate` prints it ("$.json.path:
 * what is wrong"), and nothing is imported.  With file, the code is compared with the
 * file name as the CLI does.  Read-only: not audited. */
int item_api_validate(http_req *r)
{
    const char *file = http_req_query(r, "file");
    if (file &&
        (!*file || strlen(file) > 100 ||
         strspn(file, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(file)))
        return http_reply_error(
            r, 400, "invalid_query", "file is not a file name",
            json_pack("[o]", http_field_error(
                                 "file", "a file name such as GA-HJ-0001.json (letters, digits, . _ -)")));
    if (!json_is_object(http_req_json(r)))
        return http_reply_error(r, 422, "validation_failed", "the body must be an item definition",
                                json_pack("[o]", http_field_error("$", "must be a JSON object")));
    size_t len = 0;
    const char *text = http_req_body(r, &len);
    struct strbuf problems = {0};
    struct item *it = NULL;
    int n = item_load(text, len, file, &it, &problems);
    if (n < 0 || problems.oom) {
        sb_free(&problems);
        item_free(it);
        return unavailable(r);
    }
    json_t *list = json_array();
    const char *prefix = file ? file : "(item)";
    size_t plen = strlen(prefix);
    for (char *line = problems.data; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        const char *rest = line;
        if (!strncmp(rest, prefix, plen) && !strncmp(rest + plen, ": ", 2)) rest += plen + 2;
        const char *sep = strstr(rest, ": ");
        json_t *o = sep ? json_pack("{s:s%, s:s}", "path", rest, (size_t)(sep - rest), "message", sep + 2)
                        : json_pack("{s:s, s:s}", "path", "$", "message", rest);
        json_object_set_new(o, "line", json_string(rest));
        json_array_append_new(list, o);
        if (!end) break;
        line = end + 1;
    }
    json_t *body = json_pack("{s:b, s:o}", "valid", n == 0, "problems", list);
    /* what the file names that this database does not have yet: not a problem of the file
     * (the pack's org.json may bring it), but import will need it */
    json_t *warnings = json_array();
    store_conn *c = it ? store_acquire(db_of(r)) : NULL;
    for (size_t s = 0; c && s <= it->nsteps; s++) {
        const char *dept = s == 0 ? it->department : it->steps[s - 1].department;
        const char *role = s == 0 ? NULL : it->steps[s - 1].role;
        char path[64];
        if (s == 0)
            snprintf(path, sizeof path, "$.department");
        else
            snprintf(path, sizeof path, "$.workflow.steps[%zu]", s - 1);
        for (int k = 0; k < 2; k++) {
            const char *code = k == 0 ? dept : role;
            if (!code) continue;
            store_stmt *st = store_prepare(c, k == 0 ? "SELECT 1 FROM department WHERE code = $1"
                                                     : "SELECT 1 FROM role WHERE code = $1");
            if (!st) continue;
            store_bind_text(st, 1, code);
            int rc = store_step(st);
            store_finalize(st);
            if (rc != STORE_DONE) continue;
            char msg[200];
            snprintf(msg, sizeof msg,
                     "%s \"%s\" is not in the database yet (an org.json in the pack can bring it)",
                     k == 0 ? "department" : "role", code);
            int seen = 0; /* each missing code once, at its first use */
            for (size_t w = 0; w < json_array_size(warnings); w++)
                seen |=
                    !strcmp(json_string_value(json_object_get(json_array_get(warnings, w), "message")), msg);
            if (!seen) json_array_append_new(warnings, json_pack("{s:s, s:s}", "path", path, "message", msg));
        }
    }
    if (c) store_release(c);
    json_object_set_new(body, "warnings", warnings);
    if (it) {
        json_object_set_new(body, "code", json_string(it->code));
        json_object_set_new(body, "sm3", json_string(it->sm3));
    }
    sb_free(&problems);
    item_free(it);
    return http_reply_json(r, 200, body);
}
