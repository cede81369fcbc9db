/*
 * admin.c — what the three administrators do, and what an enterprise administrator
 * does for its own enterprise.
 *
 *   system administrator    departments, staff accounts (created with a one-time
 *                           password), disabling accounts, the account list (masked)
 *   security administrator  roles and their permissions, granting roles to staff,
 *                           unlocking accounts, resetting passwords
 *   enterprise (ent.manage) its clerks' accounts and permissions, its agents' grants
 *
 * Staff who hold account.read see public accounts in their data scope; unmasking a
 * field needs field.<name> and is audited.  Every change is audited in the same
 * transaction as the change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/input.h"
#include "auth/internal.h"
#include "auth/rbac.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"

static int reply_unavailable(http_req *r)
{
    return http_reply_error(r, 503, "unavailable", "try again", NULL);
}

void admin_one_time_password(char out[17])
{
    static const char *classes[] = {"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789",
                                    "#%+-=@"};
    unsigned char b[32];
    random_bytes(b, sizeof b);
    for (int i = 0; i < 16; i++) {
        const char *set = classes[i < 4 ? i : b[16 + i] % 3];
        out[i] = set[b[i] % strlen(set)];
    }
    /* the class-forcing first four move to random places */
    for (int i = 0; i < 4; i++) {
        int j = 4 + b[20 + i] % 12;
        char t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    out[16] = 0;
    crypto_wipe(b, sizeof b);
}

static long long param_id(http_req *r)
{
    long long id;
    const char *s = http_req_param(r, "id");
    return s && parse_int64(s, &id) == 0 && id > 0 ? id : 0;
}

/* ---------- departments ---------- */

struct dept {
    http_req *r;
    const char *code, *name;
    long long parent, id;
    int no_parent, dup;
};

static int dept_tx(store_conn *c, void *arg)
{
    struct dept *d = arg;
    char parent_path[512] = "/", ts[48];
    if (d->parent) {
        store_stmt *st = store_prepare(c, "SELECT path FROM department WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, d->parent);
        int rc = store_step(st);
        if (rc == STORE_ROW) snprintf(parent_path, sizeof parent_path, "%s", store_column_text(st, 0));
        store_finalize(st);
        if (rc != STORE_ROW) {
            d->no_parent = 1;
            return rc == STORE_DONE ? STORE_OK : rc;
        }
    }
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st = store_prepare(
        c, "INSERT INTO department(parent_id, code, name, path, created_at) VALUES ($1, $2, $3, '', $4)"
           " ON CONFLICT (code) DO NOTHING RETURNING id");
    if (!st) return STORE_ERROR;
    if (d->parent)
        store_bind_int64(st, 1, d->parent);
    else
        store_bind_null(st, 1);
    store_bind_text(st, 2, d->code);
    store_bind_text(st, 3, d->name);
    store_bind_text(st, 4, ts);
    int rc = store_step(st);
    if (rc == STORE_ROW) d->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc == STORE_DONE) {
        d->dup = 1;
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char path[600];
    snprintf(path, sizeof path, "%s%lld/", parent_path, d->id);
    st = store_prepare(c, "UPDATE department SET path = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, d->id);
    store_bind_text(st, 2, path);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    return auth_audit(d->r, c, "org.department.create", d->code, "ok", NULL);
}

int admin_dept_create(http_req *r)
{
    static const char *known[] = {"code", "name", "parent", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct dept d = {.r = r};
    d.code = input_str(&in, "code", 1, 1, 32);
    d.name = input_str(&in, "name", 1, 1, 100);
    d.parent = input_int(&in, "parent", 0, 1, (long long)1 << 53, 0);
    if (d.code && strspn(d.code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(d.code))
        input_error(&in, "code", "upper-case letters, digits, _ and - only");
    if (input_done(&in) != 0) return 0;
    if (store_tx(req_app(r)->db, 1, dept_tx, &d) != STORE_OK) return reply_unavailable(r);
    if (d.no_parent)
        return http_reply_error(r, 422, "validation_failed", "no such parent",
                                json_pack("[o]", http_field_error("parent", "no such department")));
    if (d.dup)
        return http_reply_error(r, 409, "conflict", "the code is taken",
                                json_pack("[o]", http_field_error("code", "already exists")));
    return http_reply_json(
        r, 201, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)d.id, "code", d.code, "name", d.name));
}

int admin_dept_list(http_req *r)
{
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return reply_unavailable(r);
    json_t *list = json_array();
    store_stmt *st = store_prepare(c, "SELECT id, parent_id, code, name, path FROM department ORDER BY path");
    if (st) {
        while (store_step(st) == STORE_ROW) {
            json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)store_column_int64(st, 0), "code",
                                  store_column_text(st, 2), "name", store_column_text(st, 3), "path",
                                  store_column_text(st, 4));
            json_object_set_new(o, "parent",
                                store_column_is_null(st, 1) ? json_null()
                                                            : json_integer(store_column_int64(st, 1)));
            json_array_append_new(list, o);
        }
        store_finalize(st);
    }
    store_release(c);
    return http_reply_json(r, 200, json_pack("{s:o}", "departments", list));
}

/* ---------- staff accounts ---------- */

struct staff {
    http_req *r;
    struct new_account na;
    const char *conflict;
    int no_dept;
};

static int staff_tx(store_conn *c, void *arg)
{
    struct staff *s = arg;
    long long n = 0;
    store_stmt *st = store_prepare(c, "SELECT 1 FROM department WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, s->na.dept);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_ROW) {
        s->no_dept = 1;
        return rc == STORE_DONE ? STORE_OK : rc;
    }
    st = store_prepare(c, "SELECT COUNT(*) FROM account WHERE login = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, s->na.login);
    if (store_step(st) == STORE_ROW) n = store_column_int64(st, 0);
    store_finalize(st);
    if (n) {
        s->conflict = "login";
        return STORE_OK;
    }
    if ((rc = account_insert(c, &s->na)) != STORE_OK) return rc;
    char det[96];
    snprintf(det, sizeof det, "{\"account\":%lld,\"department\":%lld}", s->na.id, s->na.dept);
    return auth_audit(s->r, c, "org.staff.create", s->na.login, "ok", det);
}

int admin_staff_create(http_req *r)
{
    static const char *known[] = {"login", "name", "mobile", "department", "badge", "ip_ranges", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct staff s = {.r = r};
    s.na.kind = "staff";
    s.na.login = input_str(&in, "login", 1, 4, 32);
    s.na.name = input_str(&in, "name", 1, 2, 40);
    s.na.mobile = input_str(&in, "mobile", 0, 11, 11);
    s.na.dept = input_int(&in, "department", 1, 1, (long long)1 << 53, 0);
    s.na.badge = input_str(&in, "badge", 1, 1, 32);
    s.na.ip_ranges = input_str(&in, "ip_ranges", 0, 0, 250);
    if (s.na.login && strspn(s.na.login, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(s.na.login))
        input_error(&in, "login", "lower-case letters, digits, _ . - only");
    if (s.na.mobile && (s.na.mobile[0] != '1' || strspn(s.na.mobile, "0123456789") != 11))
        input_error(&in, "mobile", "must be an 11-digit mainland mobile number");
    if (s.na.ip_ranges && ip_ranges_valid(s.na.ip_ranges) != 0)
        input_error(&in, "ip_ranges",
                    "comma-separated addresses or CIDR ranges, e.g. 10.1.0.0/16,192.168.3.7");
    if (input_done(&in) != 0) return 0;
    if (s.na.ip_ranges && !s.na.ip_ranges[0]) s.na.ip_ranges = NULL;
    char pw[17], hash[AUTH_PASSWORD_HASH_MAX];
    admin_one_time_password(pw);
    if (auth_password_hash(pw, (int)req_app(r)->cfg->password_iterations, hash, sizeof hash) != 0)
        return reply_unavailable(r);
    s.na.password_hash = hash;
    s.na.must_change = 1;
    if (store_tx(req_app(r)->db, 1, staff_tx, &s) != STORE_OK) return reply_unavailable(r);
    if (s.no_dept)
        return http_reply_error(r, 422, "validation_failed", "no such department",
                                json_pack("[o]", http_field_error("department", "no such department")));
    if (s.conflict)
        return http_reply_error(r, 409, "conflict", "the login is taken",
                                json_pack("[o]", http_field_error("login", "already exists")));
    json_t *body =
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)s.na.id, "login", s.na.login, "one_time_password", pw);
    crypto_wipe(pw, sizeof pw);
    return http_reply_json(r, 201, body);
}

/* GET /api/v1/admin/accounts?kind=&after= — the account list, masked. */
/* GET /api/v1/admin/accounts?kind=&q=&after= — accounts, masked, 100 at a time.  For the
 * system administrator (org.account.read) and for the security administrator, who picks
 * the account to unlock, reset or grant roles to (any of security.role.assign,
 * security.account.unlock, security.account.reset).  q: a login prefix (or an account
 * id), or an exact ID number or mobile number found through the blind index. */
int admin_account_list(http_req *r)
{
    const struct principal *p = auth_principal(r);
    if (!auth_has(p, "org.account.read") && !auth_has(p, "security.role.assign") &&
        !auth_has(p, "security.account.unlock") && !auth_has(p, "security.account.reset")) {
        auth_audit(r, NULL, "auth.denied", http_req_path(r), "denied",
                   "{\"permission\":\"org.account.read\",\"route\":\"GET /api/v1/admin/accounts\"}");
        return http_reply_error(r, 403, "forbidden", "this needs the permission org.account.read", NULL);
    }
    const char *kind = http_req_query(r, "kind");
    const char *after_s = http_req_query(r, "after");
    const char *q = http_req_query(r, "q");
    long long after = 0;
    if (after_s && (parse_int64(after_s, &after) != 0 || after < 0))
        return http_reply_error(
            r, 400, "invalid_query", "after must be an account id",
            json_pack("[o]", http_field_error("after", "must be a non-negative integer")));
    static const char *kinds[] = {"person", "enterprise", "agent", "staff", "admin"};
    int ok = !kind;
    for (size_t i = 0; kind && i < EHALL_ARRAY_LEN(kinds); i++) ok |= !strcmp(kind, kinds[i]);
    if (!ok)
        return http_reply_error(
            r, 400, "invalid_query", "unknown kind",
            json_pack("[o]", http_field_error("kind", "person, enterprise, agent, staff or admin")));
    /* q: what to look for */
    enum { Q_NONE, Q_LOGIN, Q_ID_NUMBER, Q_MOBILE } how = Q_NONE;
    char like[200], idx[4][KEYS_TAG_MAX];
    int nidx = 0;
    long long qid = -1;
    if (q && *q) {
        size_t n = strlen(q);
        int clean = n <= 64;
        for (size_t i = 0; clean && i < n; i++) clean = (unsigned char)q[i] >= 0x20 && q[i] != 0x7f;
        if (!clean)
            return http_reply_error(
                r, 400, "invalid_query", "q is not valid",
                json_pack("[o]", http_field_error("q", "at most 64 characters, no control characters")));
        if (n == 18 && auth_id_number_check(q, NULL) == 0) {
            how = Q_ID_NUMBER;
            nidx = keys_blind_indexes("id_number", q, idx, 4);
        } else if (n == 11 && q[0] == '1' && strspn(q, "0123456789") == 11) {
            how = Q_MOBILE;
            nidx = keys_blind_indexes("mobile", q, idx, 4);
        } else {
            how = Q_LOGIN;
            size_t k = 0;
            for (size_t i = 0; i < n && k + 3 < sizeof like; i++) {
                char ch = q[i] >= 'A' && q[i] <= 'Z' ? (char)(q[i] - 'A' + 'a') : q[i];
                if (ch == '%' || ch == '_' || ch == '\\') like[k++] = '\\';
                like[k++] = ch;
            }
            like[k++] = '%';
            like[k] = 0;
            if (n <= 18 && strspn(q, "0123456789") == n && parse_int64(q, &qid) != 0) qid = -1;
        }
        if ((how == Q_ID_NUMBER || how == Q_MOBILE) && nidx <= 0) return reply_unavailable(r);
    }
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return reply_unavailable(r);
    json_t *list = json_array();
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT id FROM account WHERE id > $1 AND ($2 = '' OR kind = $2)%s ORDER BY id LIMIT 100",
             how == Q_LOGIN       ? " AND (login LIKE $3 ESCAPE '\\' OR id = $4)"
             : how == Q_ID_NUMBER ? " AND id_number_bidx IN ($3, $4, $5, $6)"
             : how == Q_MOBILE    ? " AND mobile_bidx IN ($3, $4, $5, $6)"
                                  : "");
    store_stmt *st = store_prepare(c, sql);
    long long ids[100];
    int n = 0, rc = STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, after);
        store_bind_text(st, 2, kind ? kind : "");
        if (how == Q_LOGIN) {
            store_bind_text(st, 3, like);
            store_bind_int64(st, 4, qid);
        } else if (how != Q_NONE) {
            for (int i = 0; i < 4; i++) store_bind_text(st, 3 + i, idx[i < nidx ? i : 0]);
        }
        while ((rc = store_step(st)) == STORE_ROW && n < 100) ids[n++] = store_column_int64(st, 0);
        store_finalize(st);
    }
    if (rc != STORE_DONE && rc != STORE_ROW) {
        store_release(c);
        json_decref(list);
        return reply_unavailable(r);
    }
    for (int i = 0; i < n; i++) {
        json_t *o = account_json(c, ids[i], NULL);
        if (!o) continue;
        char key[48];
        snprintf(key, sizeof key, "acct:%lld", ids[i]);
        json_object_set_new(o, "locked", json_boolean(throttle_locked_until(c, key) > 0));
        json_array_append_new(list, o);
    }
    store_release(c);
    json_t *out = json_pack("{s:o}", "accounts", list);
    json_object_set_new(out, "next_after", n == 100 ? json_integer(ids[99]) : json_null());
    return http_reply_json(r, 200, out);
}

/* GET /api/v1/accounts/{id}?reveal=field — one account for staff with account.read;
 * revealing a field needs field.<name> and is audited. */
struct reveal {
    http_req *r;
    long long id;
    const char *field;
    json_t *out;
    int out_of_scope;
};

static int reveal_tx(store_conn *c, void *arg)
{
    struct reveal *v = arg;
    const struct principal *p = auth_principal(v->r);
    store_stmt *st = store_prepare(c, "SELECT a.kind, COALESCE(d.path, '') FROM account a LEFT JOIN "
                                      "department d ON d.id = a.dept_id WHERE a.id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, v->id);
    int rc = store_step(st);
    char kind[16] = "", path[512] = "";
    if (rc == STORE_ROW) {
        snprintf(kind, sizeof kind, "%s", store_column_text(st, 0));
        snprintf(path, sizeof path, "%s", store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
    /* public accounts are served by every department; staff records follow the scope */
    int public_acct = strcmp(kind, "staff") != 0 && strcmp(kind, "admin") != 0;
    if (!public_acct && !auth_in_scope(p, v->id, path)) {
        v->out_of_scope = 1;
        return STORE_OK;
    }
    v->out = account_json(c, v->id, v->field);
    if (v->field && v->out) {
        char det[64];
        snprintf(det, sizeof det, "{\"field\":\"%s\"}", v->field);
        char obj[32];
        snprintf(obj, sizeof obj, "account %lld", v->id);
        return auth_audit(v->r, c, "account.reveal", obj, "ok", det);
    }
    return STORE_OK;
}

int admin_account_get(http_req *r)
{
    struct reveal v = {.r = r, .id = param_id(r), .field = http_req_query(r, "reveal")};
    if (v.field) {
        static const char *fields[] = {"name", "id_number", "mobile", "address"};
        int ok = 0;
        for (size_t i = 0; i < EHALL_ARRAY_LEN(fields); i++) ok |= !strcmp(v.field, fields[i]);
        if (!ok)
            return http_reply_error(
                r, 400, "invalid_query", "unknown field",
                json_pack("[o]", http_field_error("reveal", "name, id_number, mobile or address")));
        char perm[32];
        snprintf(perm, sizeof perm, "field.%s", v.field);
        if (!auth_has(auth_principal(r), perm)) {
            char det[80];
            snprintf(det, sizeof det, "{\"permission\":\"%s\"}", perm);
            auth_audit(r, NULL, "account.reveal", http_req_path(r), "denied", det);
            return http_reply_error(r, 403, "forbidden", "unmasking this field needs its field permission",
                                    NULL);
        }
    }
    int tx =
        v.field ? store_tx(req_app(r)->db, 1, reveal_tx, &v) : store_tx(req_app(r)->db, 0, reveal_tx, &v);
    if (tx != STORE_OK) {
        json_decref(v.out);
        return reply_unavailable(r);
    }
    if (v.out_of_scope)
        return http_reply_error(r, 403, "forbidden", "this account is outside your data scope", NULL);
    if (!v.out) return http_reply_error(r, 404, "not_found", "no such account", NULL);
    return http_reply_json(r, 200, v.out);
}

/* ---------- account actions (disable, unlock, reset) ---------- */

struct acct_action {
    http_req *r;
    long long id;
    const char *action;
    struct acct a;
    int found, admin;
    char pw[17];
    char hash[AUTH_PASSWORD_HASH_MAX];
};

static int action_tx(store_conn *c, void *arg)
{
    struct acct_action *x = arg;
    int rc = acct_by_id(c, x->id, &x->a);
    if (rc < 0) return rc;
    x->found = rc == 1 && strcmp(x->a.status, "deleted") != 0;
    if (!x->found) return STORE_OK;
    /* the three administrators cannot act on one another: that is what keeps their
     * powers apart (an administrator's lost password or token: `ehall admin reset`) */
    if (!strcmp(x->a.kind, "admin")) {
        x->admin = 1;
        return auth_audit(x->r, c, "account.admin_action", x->a.login, "denied", NULL);
    }
    char key[48];
    snprintf(key, sizeof key, "acct:%lld", x->id);
    if (!strcmp(x->action, "unlock")) {
        if ((rc = throttle_clear(c, key)) != STORE_OK) return rc;
        return auth_audit(x->r, c, "auth.unlock", x->a.login, "ok", NULL);
    }
    if (!strcmp(x->action, "reset")) {
        if ((rc = account_set_password(c, x->id, x->hash, 1)) != STORE_OK) return rc;
        if ((rc = throttle_clear(c, key)) != STORE_OK) return rc;
        if ((rc = session_end_all(c, x->id, NULL)) != STORE_OK) return rc;
        return auth_audit(x->r, c, "account.password_reset", x->a.login, "ok", NULL);
    }
    /* disable / enable */
    int disable = !strcmp(x->action, "disable");
    store_stmt *st = store_prepare(c, "UPDATE account SET status = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    store_bind_text(st, 2, disable ? "disabled" : "active");
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    if (disable && (rc = session_end_all(c, x->id, NULL)) != STORE_OK) return rc;
    return auth_audit(x->r, c, disable ? "account.disable" : "account.enable", x->a.login, "ok", NULL);
}

static int do_action(http_req *r, const char *action)
{
    struct acct_action x = {.r = r, .id = param_id(r), .action = action};
    if (!strcmp(action, "reset")) {
        admin_one_time_password(x.pw);
        if (auth_password_hash(x.pw, (int)req_app(r)->cfg->password_iterations, x.hash, sizeof x.hash) != 0)
            return reply_unavailable(r);
    }
    if (store_tx(req_app(r)->db, 1, action_tx, &x) != STORE_OK) return reply_unavailable(r);
    if (!x.found) return http_reply_error(r, 404, "not_found", "no such account", NULL);
    if (x.admin)
        return http_reply_error(
            r, 403, "forbidden",
            "administrator accounts are not managed through the API; on the server, an operator "
            "runs `ehall admin reset LOGIN`",
            NULL);
    json_t *body = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x.id, "login", x.a.login, "status", action);
    if (!strcmp(action, "reset")) json_object_set_new(body, "one_time_password", json_string(x.pw));
    crypto_wipe(x.pw, sizeof x.pw);
    return http_reply_json(r, 200, body);
}

int admin_account_unlock(http_req *r) { return do_action(r, "unlock"); }
int admin_account_reset(http_req *r) { return do_action(r, "reset"); }
int admin_account_disable(http_req *r) { return do_action(r, "disable"); }
int admin_account_enable(http_req *r) { return do_action(r, "enable"); }

/* ---------- roles ---------- */

int admin_permissions(http_req *r)
{
    const struct perm_info *cat;
    size_t n = rbac_catalog(&cat);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s?}", "code", cat[i].code, "doc", cat[i].doc,
                                              "admin_role", cat[i].admin));
    return http_reply_json(r, 200, json_pack("{s:o}", "permissions", list));
}

int admin_role_list(http_req *r)
{
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return reply_unavailable(r);
    json_t *list = json_array();
    store_stmt *st = store_prepare(c, "SELECT code, name, scope, builtin, perms, mac FROM role ORDER BY id");
    if (st) {
        while (store_step(st) == STORE_ROW) {
            const char *code = store_column_text(st, 0), *scope = store_column_text(st, 2),
                       *perms = store_column_text(st, 4);
            int intact = keys_row_mac_check("role", (const char *[]){code, scope, perms}, 3,
                                            store_column_text(st, 5)) == 0;
            json_t *pl = json_array();
            for (const char *s = perms; *s;) {
                while (*s == ',') s++;
                size_t k = strcspn(s, ",");
                if (k) json_array_append_new(pl, json_stringn(s, k));
                s += k;
            }
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:b, s:o, s:b}", "code", code, "name",
                                                  store_column_text(st, 1), "scope", scope, "builtin",
                                                  (int)store_column_int64(st, 3), "permissions", pl, "intact",
                                                  intact));
        }
        store_finalize(st);
    }
    store_release(c);
    return http_reply_json(r, 200, json_pack("{s:o}", "roles", list));
}

struct role_put {
    http_req *r;
    const char *code, *name, *scope;
    char perms[1024];
    int builtin, created;
};

static int role_put_tx(store_conn *c, void *arg)
{
    struct role_put *w = arg;
    store_stmt *st = store_prepare(c, "SELECT builtin FROM role WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, w->code);
    int rc = store_step(st), exists = rc == STORE_ROW;
    if (exists) w->builtin = (int)store_column_int64(st, 0);
    store_finalize(st);
    if (rc < 0) return rc;
    if (w->builtin) return STORE_OK;
    char mac[KEYS_TAG_MAX], ts[48];
    if (rbac_role_mac(w->code, w->scope, w->perms, mac) != 0) return STORE_ERROR;
    time_rfc3339(now_wall(), ts, sizeof ts);
    st = store_prepare(
        c,
        exists
            ? "UPDATE role SET name = $2, scope = $3, perms = $4, mac = $5, updated_at = $6 WHERE code = $1"
            : "INSERT INTO role(code, name, scope, perms, mac, updated_at) VALUES ($1, $2, $3, $4, $5, $6)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, w->code);
    store_bind_text(st, 2, w->name);
    store_bind_text(st, 3, w->scope);
    store_bind_text(st, 4, w->perms);
    store_bind_text(st, 5, mac);
    store_bind_text(st, 6, ts);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    w->created = !exists;
    if (exists) {
        /* holders get the change at their next log-in: end their sessions now */
        st = store_prepare(
            c, "DELETE FROM session WHERE account_id IN (SELECT ar.account_id FROM account_role ar"
               " JOIN role r ON r.id = ar.role_id WHERE r.code = $1)");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, w->code);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    char det[1200];
    snprintf(det, sizeof det, "{\"scope\":\"%s\",\"permissions\":\"%s\"}", w->scope, w->perms);
    return auth_audit(w->r, c, exists ? "security.role.change" : "security.role.create", w->code, "ok", det);
}

/* PUT /api/v1/admin/roles/{code} {name, scope, permissions[]} */
int admin_role_put(http_req *r)
{
    static const char *known[] = {"name", "scope", "permissions", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct role_put w = {.r = r, .code = http_req_param(r, "code")};
    w.name = input_str(&in, "name", 1, 1, 64);
    w.scope = input_str(&in, "scope", 1, 3, 7);
    json_t *perms = input_str_array(&in, "permissions", 1, 64, 64);
    if (!w.code || strlen(w.code) > 32 ||
        strspn(w.code, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(w.code))
        input_error(&in, "code", "lower-case letters, digits, _ and - only, at most 32");
    if (w.scope && strcmp(w.scope, "own") && strcmp(w.scope, "dept") && strcmp(w.scope, "subtree") &&
        strcmp(w.scope, "all"))
        input_error(&in, "scope", "must be own, dept, subtree or all");
    size_t n = (size_t)snprintf(w.perms, sizeof w.perms, ",");
    const struct perm_info *cat;
    size_t ncat = rbac_catalog(&cat);
    size_t i;
    json_t *e;
    json_array_foreach(perms, i, e)
    {
        const char *code = json_string_value(e);
        const struct perm_info *found = NULL;
        for (size_t k = 0; k < ncat; k++)
            if (!strcmp(cat[k].code, code)) found = &cat[k];
        char field[48];
        snprintf(field, sizeof field, "permissions[%zu]", i);
        if (!found)
            input_error(&in, field, "unknown permission");
        else if (found->admin)
            input_error(&in, field, "belongs to a built-in administrator role only");
        else if (!strstr(w.perms, code) && n < sizeof w.perms)
            n += (size_t)snprintf(w.perms + n, sizeof w.perms - n, "%s,", code);
    }
    if (input_done(&in) != 0) return 0;
    if (store_tx(req_app(r)->db, 1, role_put_tx, &w) != STORE_OK) return reply_unavailable(r);
    if (w.builtin)
        return http_reply_error(r, 403, "forbidden", "built-in administrator roles cannot be changed", NULL);
    return http_reply_json(
        r, w.created ? 201 : 200,
        json_pack("{s:s, s:s, s:O}", "code", w.code, "scope", w.scope, "permissions", perms));
}

struct assign {
    http_req *r;
    long long id;
    json_t *roles;
    struct acct a;
    const char *bad_field, *bad_why;
    int found;
};

static int assign_tx(store_conn *c, void *arg)
{
    struct assign *s = arg;
    int rc = acct_by_id(c, s->id, &s->a);
    if (rc < 0) return rc;
    s->found = rc == 1 && strcmp(s->a.status, "deleted") != 0;
    if (!s->found) return STORE_OK;
    if (strcmp(s->a.kind, "staff") != 0) {
        s->bad_field = "account";
        s->bad_why = "roles are for staff accounts; administrators hold exactly their own role";
        return STORE_OK;
    }
    long long role_ids[64];
    size_t i;
    json_t *e;
    json_array_foreach(s->roles, i, e)
    {
        store_stmt *st = store_prepare(c, "SELECT id, builtin FROM role WHERE code = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, json_string_value(e));
        rc = store_step(st);
        int builtin = rc == STORE_ROW ? (int)store_column_int64(st, 1) : 0;
        role_ids[i] = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
        store_finalize(st);
        if (rc < 0) return rc;
        if (!role_ids[i] || builtin) {
            s->bad_field = "roles";
            s->bad_why = builtin ? "administrator roles cannot be granted" : "no such role";
            return STORE_OK;
        }
    }
    store_stmt *st = store_prepare(c, "DELETE FROM account_role WHERE account_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, s->id);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    for (i = 0; i < json_array_size(s->roles); i++) {
        char mac[KEYS_TAG_MAX];
        if (rbac_grant_mac(s->id, role_ids[i], mac) != 0) return STORE_ERROR;
        st = store_prepare(c, "INSERT INTO account_role(account_id, role_id, granted_by, granted_at, mac) "
                              "VALUES ($1, $2, $3, $4, $5)"
                              " ON CONFLICT DO NOTHING");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, s->id);
        store_bind_int64(st, 2, role_ids[i]);
        store_bind_int64(st, 3, auth_principal(s->r)->account);
        store_bind_text(st, 4, ts);
        store_bind_text(st, 5, mac);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    /* a privilege change: the holder's sessions end, the next log-in gets the new set */
    if ((rc = session_end_all(c, s->id, NULL)) != STORE_OK) return rc;
    json_t *d = json_pack("{s:O}", "roles", s->roles);
    char *det = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    rc = auth_audit(s->r, c, "security.role.assign", s->a.login, "ok", det);
    free(det);
    return rc;
}

/* PUT /api/v1/admin/accounts/{id}/roles {roles: [...]} */
int admin_account_roles(http_req *r)
{
    static const char *known[] = {"roles", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct assign s = {.r = r, .id = param_id(r)};
    s.roles = input_str_array(&in, "roles", 1, 32, 32);
    if (input_done(&in) != 0) return 0;
    if (store_tx(req_app(r)->db, 1, assign_tx, &s) != STORE_OK) return reply_unavailable(r);
    if (!s.found) return http_reply_error(r, 404, "not_found", "no such account", NULL);
    if (s.bad_field)
        return http_reply_error(r, 422, "validation_failed", s.bad_why,
                                json_pack("[o]", http_field_error(s.bad_field, s.bad_why)));
    return http_reply_json(r, 200, json_pack("{s:I, s:O}", "id", (json_int_t)s.id, "roles", s.roles));
}

/* ---------- the enterprise's own accounts and agents ---------- */

struct member {
    http_req *r;
    struct new_account na;
    char perms[256];
    long long id;
    const char *conflict;
    int not_member;
};

static int parse_ent_perms(struct input *in, json_t *list, char *out, size_t len)
{
    const struct perm_info *cat;
    size_t ncat = rbac_enterprise_catalog(&cat), n = (size_t)snprintf(out, len, ",");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        int ok = 0;
        for (size_t k = 0; k < ncat; k++) ok |= !strcmp(cat[k].code, json_string_value(e));
        char field[48];
        snprintf(field, sizeof field, "permissions[%zu]", i);
        if (!ok || !strcmp(json_string_value(e), "ent.manage"))
            input_error(in, field, "must be one of ent.apply, ent.file, ent.pay, ent.view");
        else if (!strstr(out, json_string_value(e)) && n < len)
            n += (size_t)snprintf(out + n, len - n, "%s,", json_string_value(e));
    }
    return 0;
}

static int member_add_tx(store_conn *c, void *arg)
{
    struct member *m = arg;
    int rc = 0;
    store_stmt *st = store_prepare(c, "SELECT 1 FROM account WHERE login = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, m->na.login);
    rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_ROW) {
        m->conflict = "login";
        return STORE_OK;
    }
    if ((rc = account_insert(c, &m->na)) != STORE_OK) return rc;
    char mac[KEYS_TAG_MAX];
    if (rbac_member_mac(m->na.id, m->na.enterprise, 0, m->perms, mac) != 0) return STORE_ERROR;
    st = store_prepare(c, "INSERT INTO enterprise_member(account_id, enterprise_id, admin, perms, mac) "
                          "VALUES ($1, $2, 0, $3, $4)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, m->na.id);
    store_bind_int64(st, 2, m->na.enterprise);
    store_bind_text(st, 3, m->perms);
    store_bind_text(st, 4, mac);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char det[300];
    snprintf(det, sizeof det, "{\"account\":%lld,\"permissions\":\"%s\"}", m->na.id, m->perms);
    return auth_audit(m->r, c, "enterprise.member.create", m->na.login, "ok", det);
}

/* POST /api/v1/enterprise/members {login, name, mobile, permissions[]} */
int ent_member_add(http_req *r)
{
    static const char *known[] = {"login", "name", "mobile", "permissions", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const struct principal *p = auth_principal(r);
    struct member m = {.r = r};
    m.na.kind = "enterprise";
    m.na.enterprise = p->enterprise;
    m.na.login = input_str(&in, "login", 1, 4, 32);
    m.na.name = input_str(&in, "name", 1, 2, 40);
    m.na.mobile = input_str(&in, "mobile", 0, 11, 11);
    json_t *perms = input_str_array(&in, "permissions", 1, 8, 32);
    if (m.na.login && strspn(m.na.login, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(m.na.login))
        input_error(&in, "login", "lower-case letters, digits, _ . - only");
    if (m.na.mobile && (m.na.mobile[0] != '1' || strspn(m.na.mobile, "0123456789") != 11))
        input_error(&in, "mobile", "must be an 11-digit mainland mobile number");
    if (perms) parse_ent_perms(&in, perms, m.perms, sizeof m.perms);
    if (input_done(&in) != 0) return 0;
    if (p->on_behalf)
        return http_reply_error(r, 403, "forbidden", "agents cannot manage the enterprise's accounts", NULL);
    char pw[17], hash[AUTH_PASSWORD_HASH_MAX];
    admin_one_time_password(pw);
    if (auth_password_hash(pw, (int)req_app(r)->cfg->password_iterations, hash, sizeof hash) != 0)
        return reply_unavailable(r);
    m.na.password_hash = hash;
    m.na.must_change = 1;
    if (store_tx(req_app(r)->db, 1, member_add_tx, &m) != STORE_OK) return reply_unavailable(r);
    if (m.conflict)
        return http_reply_error(r, 409, "conflict", "the login is taken",
                                json_pack("[o]", http_field_error("login", "already exists")));
    json_t *body = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)m.na.id, "login", m.na.login,
                             "permissions", m.perms, "one_time_password", pw);
    crypto_wipe(pw, sizeof pw);
    return http_reply_json(r, 201, body);
}

static int member_perms_tx(store_conn *c, void *arg)
{
    struct member *m = arg;
    const struct principal *p = auth_principal(m->r);
    store_stmt *st =
        store_prepare(c, "SELECT admin FROM enterprise_member WHERE account_id = $1 AND enterprise_id = $2");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, m->id);
    store_bind_int64(st, 2, p->enterprise);
    int rc = store_step(st);
    int admin = rc == STORE_ROW ? (int)store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (rc != STORE_ROW || admin) {
        m->not_member = 1;
        return rc < 0 ? rc : STORE_OK;
    }
    char mac[KEYS_TAG_MAX];
    if (rbac_member_mac(m->id, p->enterprise, 0, m->perms, mac) != 0) return STORE_ERROR;
    st = store_prepare(c, "UPDATE enterprise_member SET perms = $2, mac = $3 WHERE account_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, m->id);
    store_bind_text(st, 2, m->perms);
    store_bind_text(st, 3, mac);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    if ((rc = session_end_all(c, m->id, NULL)) != STORE_OK) return rc;
    char det[300], obj[32];
    snprintf(det, sizeof det, "{\"permissions\":\"%s\"}", m->perms);
    snprintf(obj, sizeof obj, "account %lld", m->id);
    return auth_audit(m->r, c, "enterprise.member.permissions", obj, "ok", det);
}

/* PUT /api/v1/enterprise/members/{id} {permissions[]} */
int ent_member_perms(http_req *r)
{
    static const char *known[] = {"permissions", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct member m = {.r = r, .id = param_id(r)};
    json_t *perms = input_str_array(&in, "permissions", 1, 8, 32);
    if (perms) parse_ent_perms(&in, perms, m.perms, sizeof m.perms);
    if (input_done(&in) != 0) return 0;
    if (auth_principal(r)->on_behalf)
        return http_reply_error(r, 403, "forbidden", "agents cannot manage the enterprise's accounts", NULL);
    if (store_tx(req_app(r)->db, 1, member_perms_tx, &m) != STORE_OK) return reply_unavailable(r);
    if (m.not_member) return http_reply_error(r, 404, "not_found", "no such clerk in your enterprise", NULL);
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)m.id, "permissions", m.perms));
}

int ent_member_list(http_req *r)
{
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return reply_unavailable(r);
    json_t *list = json_array();
    store_stmt *st =
        store_prepare(c, "SELECT a.id, a.login, a.status, m.admin, m.perms FROM enterprise_member m"
                         " JOIN account a ON a.id = m.account_id WHERE m.enterprise_id = $1 ORDER BY a.id");
    if (st) {
        store_bind_int64(st, 1, p->enterprise);
        while (store_step(st) == STORE_ROW)
            json_array_append_new(
                list,
                json_pack("{s:I, s:s, s:s, s:b, s:s}", "id", (json_int_t)store_column_int64(st, 0), "login",
                          store_column_text(st, 1), "status", store_column_text(st, 2), "admin",
                          (int)store_column_int64(st, 3), "permissions", store_column_text(st, 4)));
        store_finalize(st);
    }
    store_release(c);
    return http_reply_json(r, 200, json_pack("{s:o}", "members", list));
}

/* ---------- agents ---------- */

static int grant_mac(long long id, long long ent, long long agent, const char *items, long long from,
                     long long to, const char *revoked, char mac[KEYS_TAG_MAX], const char *check)
{
    char a[24], b[24], c[24], d[24], e[24];
    snprintf(a, sizeof a, "%lld", id);
    snprintf(b, sizeof b, "%lld", ent);
    snprintf(c, sizeof c, "%lld", agent);
    snprintf(d, sizeof d, "%lld", from);
    snprintf(e, sizeof e, "%lld", to);
    const char *v[] = {a, b, c, items, d, e, revoked};
    return check ? keys_row_mac_check("agent_grant", v, 7, check) : keys_row_mac("agent_grant", v, 7, mac);
}

struct grant {
    http_req *r;
    const char *agent_login, *items;
    long long from, to, id;
    const char *bad;
    int not_found;
};

static int grant_tx(store_conn *c, void *arg)
{
    struct grant *g = arg;
    const struct principal *p = auth_principal(g->r);
    store_stmt *st =
        store_prepare(c, "SELECT id FROM account WHERE login = $1 AND kind = 'agent' AND status = 'active'");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, g->agent_login);
    int rc = store_step(st);
    long long agent = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (!agent) {
        g->bad = "agent";
        return rc < 0 ? rc : STORE_OK;
    }
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    st = store_prepare(c, "INSERT INTO agent_grant(enterprise_id, agent_id, items, valid_from, valid_to, "
                          "created_by, created_at, mac)"
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, '') RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->enterprise);
    store_bind_int64(st, 2, agent);
    store_bind_text(st, 3, g->items);
    store_bind_int64(st, 4, g->from);
    store_bind_int64(st, 5, g->to);
    store_bind_int64(st, 6, p->account);
    store_bind_text(st, 7, ts);
    rc = store_step(st);
    if (rc == STORE_ROW) g->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char mac[KEYS_TAG_MAX];
    if (grant_mac(g->id, p->enterprise, agent, g->items, g->from, g->to, NULL, mac, NULL) != 0)
        return STORE_ERROR;
    st = store_prepare(c, "UPDATE agent_grant SET mac = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, g->id);
    store_bind_text(st, 2, mac);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char det[400];
    snprintf(det, sizeof det, "{\"grant\":%lld,\"items\":\"%s\",\"from\":%lld,\"to\":%lld}", g->id, g->items,
             g->from, g->to);
    return auth_audit(g->r, c, "enterprise.agent.grant", g->agent_login, "ok", det);
}

/* POST /api/v1/enterprise/agents {agent, items[], valid_from, valid_to} (unix seconds) */
int ent_agent_grant(http_req *r)
{
    static const char *known[] = {"agent", "items", "valid_from", "valid_to", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct grant g = {.r = r};
    g.agent_login = input_str(&in, "agent", 1, 4, 32);
    json_t *items = input_str_array(&in, "items", 1, 64, 32);
    g.from = input_int(&in, "valid_from", 1, 0, 4102444800LL, 0);
    g.to = input_int(&in, "valid_to", 1, 0, 4102444800LL, 0);
    if (input_ok(&in) && g.to <= g.from) input_error(&in, "valid_to", "must be after valid_from");
    if (input_ok(&in) && g.to <= (long long)now_wall()) input_error(&in, "valid_to", "must be in the future");
    char list[1100] = ",";
    size_t n = 1, i;
    json_t *e;
    json_array_foreach(items, i, e)
    {
        const char *code = json_string_value(e);
        if (strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-*") !=
            strlen(code)) {
            char field[32];
            snprintf(field, sizeof field, "items[%zu]", i);
            input_error(&in, field, "an item code, or * for every item");
        } else if (n < sizeof list) {
            n += (size_t)snprintf(list + n, sizeof list - n, "%s,", code);
        }
    }
    if (items && json_array_size(items) == 0) input_error(&in, "items", "name at least one item, or *");
    if (input_done(&in) != 0) return 0;
    if (auth_principal(r)->on_behalf)
        return http_reply_error(r, 403, "forbidden", "agents cannot authorise agents", NULL);
    g.items = list;
    if (store_tx(req_app(r)->db, 1, grant_tx, &g) != STORE_OK) return reply_unavailable(r);
    if (g.bad)
        return http_reply_error(
            r, 422, "validation_failed", "no such agent account",
            json_pack("[o]", http_field_error("agent", "no active agent account with this login")));
    return http_reply_json(r, 201,
                           json_pack("{s:I, s:s, s:s, s:I, s:I}", "id", (json_int_t)g.id, "agent",
                                     g.agent_login, "items", list, "valid_from", (json_int_t)g.from,
                                     "valid_to", (json_int_t)g.to));
}

static int revoke_tx(store_conn *c, void *arg)
{
    struct grant *g = arg;
    const struct principal *p = auth_principal(g->r);
    store_stmt *st =
        store_prepare(c, "SELECT enterprise_id, agent_id, items, valid_from, valid_to FROM agent_grant"
                         " WHERE id = $1 AND enterprise_id = $2 AND revoked_at IS NULL");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, g->id);
    store_bind_int64(st, 2, p->enterprise);
    int rc = store_step(st);
    long long ent = 0, agent = 0, from = 0, to = 0;
    char items[1100] = "";
    if (rc == STORE_ROW) {
        ent = store_column_int64(st, 0);
        agent = store_column_int64(st, 1);
        snprintf(items, sizeof items, "%s", store_column_text(st, 2));
        from = store_column_int64(st, 3);
        to = store_column_int64(st, 4);
    }
    store_finalize(st);
    if (rc != STORE_ROW) {
        g->not_found = 1;
        return rc < 0 ? rc : STORE_OK;
    }
    char ts[48], mac[KEYS_TAG_MAX];
    time_rfc3339(now_wall(), ts, sizeof ts);
    if (grant_mac(g->id, ent, agent, items, from, to, ts, mac, NULL) != 0) return STORE_ERROR;
    st = store_prepare(c, "UPDATE agent_grant SET revoked_at = $2, revoked_by = $3, mac = $4 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, g->id);
    store_bind_text(st, 2, ts);
    store_bind_int64(st, 3, p->account);
    store_bind_text(st, 4, mac);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    /* the agent's sessions acting under this grant end at once */
    st = store_prepare(c, "DELETE FROM session WHERE grant_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, g->id);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char obj[32];
    snprintf(obj, sizeof obj, "grant %lld", g->id);
    return auth_audit(g->r, c, "enterprise.agent.revoke", obj, "ok", NULL);
}

int ent_agent_revoke(http_req *r)
{
    struct grant g = {.r = r, .id = param_id(r)};
    if (auth_principal(r)->on_behalf)
        return http_reply_error(r, 403, "forbidden", "agents cannot revoke grants", NULL);
    if (store_tx(req_app(r)->db, 1, revoke_tx, &g) != STORE_OK) return reply_unavailable(r);
    if (g.not_found)
        return http_reply_error(r, 404, "not_found", "no such active grant for your enterprise", NULL);
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)g.id, "status", "revoked"));
}

/* Grants as JSON: for the enterprise (by enterprise) or for the agent (by agent). */
static int grant_list(http_req *r, const char *col, long long who)
{
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return reply_unavailable(r);
    json_t *list = json_array();
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT g.id, g.enterprise_id, e.name, a.login, g.items, g.valid_from, g.valid_to, g.revoked_at "
             "FROM agent_grant g"
             " JOIN enterprise e ON e.id = g.enterprise_id JOIN account a ON a.id = g.agent_id WHERE g.%s = "
             "$1 ORDER BY g.id",
             col);
    store_stmt *st = store_prepare(c, sql);
    if (st) {
        store_bind_int64(st, 1, who);
        while (store_step(st) == STORE_ROW)
            json_array_append_new(list, json_pack("{s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:s?}", "id",
                                                  (json_int_t)store_column_int64(st, 0), "enterprise",
                                                  (json_int_t)store_column_int64(st, 1), "enterprise_name",
                                                  store_column_text(st, 2), "agent", store_column_text(st, 3),
                                                  "items", store_column_text(st, 4), "valid_from",
                                                  (json_int_t)store_column_int64(st, 5), "valid_to",
                                                  (json_int_t)store_column_int64(st, 6), "revoked_at",
                                                  store_column_text(st, 7)));
        store_finalize(st);
    }
    store_release(c);
    return http_reply_json(r, 200, json_pack("{s:o}", "grants", list));
}

int ent_agent_list(http_req *r) { return grant_list(r, "enterprise_id", auth_principal(r)->enterprise); }
int agent_grants(http_req *r) { return grant_list(r, "agent_id", auth_principal(r)->account); }

struct act {
    http_req *r;
    long long grant, ent;
    int bad;
    char csrf[65];
};

static int act_tx(store_conn *c, void *arg)
{
    struct act *a = arg;
    const struct principal *p = auth_principal(a->r);
    if (a->grant) {
        store_stmt *st = store_prepare(c, "SELECT enterprise_id, agent_id, items, valid_from, valid_to, "
                                          "revoked_at, mac FROM agent_grant WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, a->grant);
        int rc = store_step(st);
        long long now = (long long)now_wall();
        if (rc == STORE_ROW) {
            a->ent = store_column_int64(st, 0);
            long long agent = store_column_int64(st, 1), from = store_column_int64(st, 3),
                      to = store_column_int64(st, 4);
            int intact = grant_mac(a->grant, a->ent, agent, store_column_text(st, 2), from, to,
                                   store_column_text(st, 5), NULL, store_column_text(st, 6)) == 0;
            if (!intact) log_error("agent grant %lld failed its integrity check", a->grant);
            a->bad =
                !intact || agent != p->account || !store_column_is_null(st, 5) || now < from || now >= to;
        } else {
            a->bad = 1;
        }
        store_finalize(st);
        if (rc < 0) return rc;
        if (a->bad) return auth_audit(a->r, c, "agent.act", "grant", "denied", NULL);
    }
    int rc = session_end(c, p->sid_hash);
    if (rc != STORE_OK) return rc;
    if ((rc = session_create(a->r, c, p->account, "full", a->ent, a->grant, a->csrf)) != STORE_OK) return rc;
    char det[96];
    snprintf(det, sizeof det, "{\"grant\":%lld,\"enterprise\":%lld}", a->grant, a->ent);
    return auth_audit(a->r, c, a->grant ? "agent.act" : "agent.act_end", "grant", "ok", det);
}

/* POST /api/v1/agent/act {grant} — act for an enterprise (a new session); {grant: 0} stops. */
int agent_act(http_req *r)
{
    static const char *known[] = {"grant", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct act a = {.r = r};
    a.grant = input_int(&in, "grant", 1, 0, (long long)1 << 53, 0);
    if (input_done(&in) != 0) return 0;
    if (strcmp(auth_principal(r)->kind, "agent") != 0)
        return http_reply_error(r, 403, "forbidden", "only agent accounts act for enterprises", NULL);
    if (store_tx(req_app(r)->db, 1, act_tx, &a) != STORE_OK) return reply_unavailable(r);
    if (a.bad)
        return http_reply_error(r, 403, "forbidden",
                                "this grant is not yours, not yet valid, expired or revoked", NULL);
    return http_reply_json(r, 200,
                           json_pack("{s:I, s:I, s:s}", "grant", (json_int_t)a.grant, "on_behalf_of",
                                     (json_int_t)a.ent, "csrf", a.csrf));
}

/* ---------- exports and settings ---------- */

#define EXPORT_MAX_ROWS 100000

static void csv_cell(struct strbuf *sb, const char *v, int last)
{
    sb_printf(sb, "\"");
    if (v && (*v == '=' || *v == '+' || *v == '-' || *v == '@' || *v == '\t' || *v == '\r'))
        sb_printf(sb, "'"); /* never a formula in a spreadsheet */
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '"')
            sb_printf(sb, "\"\"");
        else
            sb_printf(sb, "%c", *p);
    }
    sb_printf(sb, last ? "\"\r\n" : "\",");
}

static char *masked(const char *sealed, int (*mask)(const char *, char *, size_t), char *buf, size_t len)
{
    buf[0] = 0;
    if (!sealed) return buf;
    char *plain = keys_open(sealed);
    if (plain) {
        mask(plain, buf, len);
        crypto_wipe(plain, strlen(plain));
        free(plain);
    }
    return buf;
}

/* GET /api/v1/accounts/export — public accounts as CSV, masked; audited with the count
 * and the SM3 of the file. */
int admin_account_export(http_req *r)
{
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return reply_unavailable(r);
    struct strbuf sb = {0};
    sb_printf(&sb, "\xEF\xBB\xBF\"id\",\"login\",\"kind\",\"status\",\"name\",\"mobile\",\"created_at\"\r\n");
    store_stmt *st =
        store_prepare(c, "SELECT id, login, kind, status, name_enc, mobile_enc, created_at FROM account"
                         " WHERE kind IN ('person','enterprise','agent') ORDER BY id LIMIT $1");
    long long rows = 0;
    int rc = STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, EXPORT_MAX_ROWS);
        while ((rc = store_step(st)) == STORE_ROW) {
            char id[24], name[256], mobile[64];
            snprintf(id, sizeof id, "%lld", store_column_int64(st, 0));
            csv_cell(&sb, id, 0);
            csv_cell(&sb, store_column_text(st, 1), 0);
            csv_cell(&sb, store_column_text(st, 2), 0);
            csv_cell(&sb, store_column_text(st, 3), 0);
            csv_cell(&sb, masked(store_column_text(st, 4), auth_mask_name, name, sizeof name), 0);
            csv_cell(&sb, masked(store_column_text(st, 5), auth_mask_mobile, mobile, sizeof mobile), 0);
            csv_cell(&sb, store_column_text(st, 6), 1);
            rows++;
        }
        store_finalize(st);
    }
    store_release(c);
    if (rc != STORE_DONE || sb.oom) {
        sb_free(&sb);
        return reply_unavailable(r);
    }
    unsigned char d[SM3_DIGEST_LEN];
    char sm3[65], det[160], count[24];
    crypto_sm3(sb.data, sb.len, d);
    hex_encode(d, sizeof d, sm3);
    snprintf(det, sizeof det, "{\"rows\":%lld,\"sm3\":\"%s\"}", rows, sm3);
    if (auth_audit(r, NULL, "account.export", "accounts", "ok", det) != STORE_OK) {
        sb_free(&sb);
        return reply_unavailable(r);
    }
    snprintf(count, sizeof count, "%lld", rows);
    http_add_header(r, "Content-Disposition", "attachment; filename=\"ehall-accounts.csv\"");
    http_add_header(r, "X-Content-SM3", arena_strdup(http_req_arena(r), sm3));
    http_add_header(r, "X-Record-Count", arena_strdup(http_req_arena(r), count));
    int out = http_reply_text(r, 200, "text/csv; charset=utf-8", sb.data, sb.len);
    sb_free(&sb);
    return out;
}

/* ---------- a staff account's IP ranges ---------- */

struct ipr {
    http_req *r;
    long long id;
    const char *ranges; /* "" = any address */
    char old[256], login[64];
    int found, narrowed;
};

/* 1 unless every entry of old is also an entry of now, or now allows any address: a
 * change that may take an address away ends the account's sessions. */
static int ranges_narrowed(const char *old, const char *now)
{
    if (!*now) return 0;
    if (!*old) return 1;
    char list[300];
    snprintf(list, sizeof list, ",%s,", now);
    for (const char *p = old; *p;) {
        size_t n = strcspn(p, ",");
        char one[80];
        if (n && n < sizeof one - 2) {
            snprintf(one, sizeof one, ",%.*s,", (int)n, p);
            if (!strstr(list, one)) return 1;
        }
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

static int ipr_tx(store_conn *c, void *arg)
{
    struct ipr *x = arg;
    store_stmt *st = store_prepare(c, "SELECT login, ip_ranges FROM account WHERE id = $1 AND kind = 'staff'"
                                      " AND status <> 'deleted'");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        x->found = 1;
        snprintf(x->login, sizeof x->login, "%s", store_column_text(st, 0));
        snprintf(x->old, sizeof x->old, "%s", store_column_is_null(st, 1) ? "" : store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
    st = store_prepare(c, "UPDATE account SET ip_ranges = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    if (*x->ranges)
        store_bind_text(st, 2, x->ranges);
    else
        store_bind_null(st, 2);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    x->narrowed = ranges_narrowed(x->old, x->ranges);
    if (x->narrowed && (rc = session_end_all(c, x->id, NULL)) != STORE_OK) return rc;
    json_t *d = json_pack("{s:I, s:s, s:s, s:b}", "account", (json_int_t)x->id, "old", x->old, "new",
                          x->ranges, "sessions_ended", x->narrowed);
    char *det = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!det) return STORE_ERROR;
    rc = auth_audit(x->r, c, "org.staff.ip_ranges", x->login, "ok", det);
    free(det);
    return rc;
}

/* PUT /api/v1/admin/accounts/{id}/ip-ranges {"ip_ranges": "10.1.0.0/16,192.168.3.7"} —
 * for the system administrator, who creates staff accounts with their ranges
 * (org.staff.manage), and the security administrator (security.policy.manage).  "" lets
 * the account log in from any address.  A change that may take an address away ends
 * the account's sessions; audited with the old and new lists. */
int admin_account_ip_ranges(http_req *r)
{
    const struct principal *p = auth_principal(r);
    if (!auth_has(p, "org.staff.manage") && !auth_has(p, "security.policy.manage")) {
        auth_audit(
            r, NULL, "auth.denied", http_req_path(r), "denied",
            "{\"permission\":\"org.staff.manage\",\"route\":\"PUT /api/v1/admin/accounts/{id}/ip-ranges\"}");
        return http_reply_error(r, 403, "forbidden",
                                "this needs the permission org.staff.manage or security.policy.manage", NULL);
    }
    static const char *known[] = {"ip_ranges", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct ipr x = {.r = r, .id = param_id(r)};
    x.ranges = input_str(&in, "ip_ranges", 1, 0, 250);
    if (x.ranges && *x.ranges && ip_ranges_valid(x.ranges) != 0)
        input_error(&in, "ip_ranges",
                    "comma-separated addresses or CIDR ranges, e.g. 10.1.0.0/16,192.168.3.7");
    if (input_done(&in) != 0) return 0;
    if (!x.id) return http_reply_error(r, 404, "not_found", "no such staff account", NULL);
    if (store_tx(req_app(r)->db, 1, ipr_tx, &x) != STORE_OK) return reply_unavailable(r);
    if (!x.found) return http_reply_error(r, 404, "not_found", "no such staff account", NULL);
    json_t *body = json_pack("{s:I, s:s, s:s, s:b}", "id", (json_int_t)x.id, "login", x.login, "ip_ranges",
                             x.ranges, "sessions_ended", x.narrowed);
    return http_reply_json(r, 200, body);
}
