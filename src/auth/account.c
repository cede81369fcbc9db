/*
 * account.c — registration and the holder's own account: profile, password, second
 * factors, certificates, sessions and log-in history.
 *
 * Personal fields are sealed before they are written (keys_seal) and looked up by
 * their blind index; the profile shows them masked.  Registration needs a captcha-
 * guarded SMS code sent to the mobile being registered and a real-name check through
 * the connector.  Account rows are never deleted, so a login name or account number is
 * never given to anyone else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/input.h"
#include "auth/internal.h"
#include "auth/rbac.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define PASSWORD_HISTORY AUTH_POLICY_HISTORY_MAX /* room for the most the policy may ask */

static int login_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 4 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z'))) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int mobile_ok(const char *m)
{
    return strlen(m) == 11 && m[0] == '1' && m[1] >= '3' && m[1] <= '9' && strspn(m, "0123456789") == 11;
}

/* Append a password hash to the account's history.  `at` (seconds) is the ordering key of
 * the reuse check (newest first), so it is kept strictly increasing per account: two
 * changes within one second would otherwise tie, and the engine would be free to return
 * either first, letting a password of the last N slip through. */
static int history_append(store_conn *c, long long account, const char *hash, long long now)
{
    long long last = 0;
    store_stmt *st =
        store_prepare(c, "SELECT COALESCE(MAX(at), 0) FROM password_history WHERE account_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    int rc = store_step(st);
    if (rc == STORE_ROW) last = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    st = store_prepare(c, "INSERT INTO password_history(account_id, hash, at) VALUES ($1, $2, $3)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    store_bind_text(st, 2, hash);
    store_bind_int64(st, 3, now > last ? now : last + 1);
    rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

int account_insert(store_conn *c, struct new_account *na)
{
    char *name = keys_seal(na->name), *idn = keys_seal(na->id_number), *mob = keys_seal(na->mobile),
         *addr = keys_seal(na->address);
    char bid[KEYS_TAG_MAX], bmo[KEYS_TAG_MAX], ts[48];
    int rc = STORE_ERROR;
    if ((na->name && !name) || (na->id_number && !idn) || (na->mobile && !mob) || (na->address && !addr))
        goto out;
    if (na->id_number && keys_blind_index("id_number", na->id_number, bid) != 0) goto out;
    if (na->mobile && keys_blind_index("mobile", na->mobile, bmo) != 0) goto out;
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st = store_prepare(
        c,
        "INSERT INTO account(login, kind, password_hash, password_changed_at, must_change_password, name_enc,"
        " id_number_enc, id_number_bidx, mobile_enc, mobile_bidx, address_enc, enterprise_id, dept_id, badge,"
        " ip_ranges, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
        "$16)"
        " RETURNING id");
    if (!st) goto out;
    store_bind_text(st, 1, na->login);
    store_bind_text(st, 2, na->kind);
    store_bind_text(st, 3, na->password_hash);
    store_bind_int64(st, 4, (long long)now_wall());
    store_bind_int64(st, 5, na->must_change);
    store_bind_text(st, 6, name);
    store_bind_text(st, 7, idn);
    store_bind_text(st, 8, na->id_number ? bid : NULL);
    store_bind_text(st, 9, mob);
    store_bind_text(st, 10, na->mobile ? bmo : NULL);
    store_bind_text(st, 11, addr);
    if (na->enterprise)
        store_bind_int64(st, 12, na->enterprise);
    else
        store_bind_null(st, 12);
    if (na->dept)
        store_bind_int64(st, 13, na->dept);
    else
        store_bind_null(st, 13);
    store_bind_text(st, 14, na->badge);
    store_bind_text(st, 15, na->ip_ranges);
    store_bind_text(st, 16, ts);
    rc = store_step(st);
    if (rc == STORE_ROW) {
        na->id = store_column_int64(st, 0);
        rc = STORE_OK;
    } else if (rc == STORE_DONE) {
        rc = STORE_ERROR;
    }
    store_finalize(st);
    if (rc == STORE_OK) rc = history_append(c, na->id, na->password_hash, (long long)now_wall());
out:
    free(name);
    free(idn);
    free(mob);
    free(addr);
    return rc;
}

/* 1 when an active person/agent account already has this ID number. */
static int id_number_taken(store_conn *c, const char *id_number)
{
    char idx[4][KEYS_TAG_MAX];
    int k = keys_blind_indexes("id_number", id_number, idx, 4);
    for (int i = 0; i < k; i++) {
        store_stmt *st =
            store_prepare(c, "SELECT 1 FROM account WHERE id_number_bidx = $1 AND kind IN ('person','agent')"
                             " AND status <> 'deleted'");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, idx[i]);
        int rc = store_step(st);
        store_finalize(st);
        if (rc == STORE_ROW) return 1;
        if (rc != STORE_DONE) return rc;
    }
    return 0;
}

static int login_taken(store_conn *c, const char *login)
{
    store_stmt *st = store_prepare(c, "SELECT 1 FROM account WHERE login = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, login);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_ROW ? 1 : rc == STORE_DONE ? 0 : rc;
}

/* ---------- registration ---------- */

struct reg {
    http_req *r;
    int enterprise;
    struct new_account na;
    const char *sms_code, *ent_name, *uscc, *legal_rep;
    const char *conflict; /* field */
    int bad_code;
};

static int reg_tx(store_conn *c, void *arg)
{
    struct reg *g = arg;
    char target[KEYS_TAG_MAX + 8], bidx[KEYS_TAG_MAX];
    if (keys_blind_index("mobile", g->na.mobile, bidx) != 0) return STORE_ERROR;
    snprintf(target, sizeof target, "mobile:%s", bidx);
    int rc = otp_check(c, "register", target, g->sms_code);
    if (rc < 0) return STORE_ERROR;
    if (rc == 1) {
        g->bad_code = 1;
        return STORE_OK; /* the used-up try must be kept: commit */
    }
    if ((rc = login_taken(c, g->na.login)) != 0) {
        if (rc == 1) g->conflict = "login";
        return rc == 1 ? STORE_OK : rc;
    }
    if (!g->enterprise && (rc = id_number_taken(c, g->na.id_number)) != 0) {
        if (rc == 1) g->conflict = "id_number";
        return rc == 1 ? STORE_OK : rc;
    }
    if (g->enterprise) {
        char *rep = keys_seal(g->legal_rep), ts[48];
        if (!rep) return STORE_ERROR;
        time_rfc3339(now_wall(), ts, sizeof ts);
        store_stmt *st = store_prepare(
            c, "INSERT INTO enterprise(uscc, name, legal_rep_enc, created_at) VALUES ($1, $2, $3, $4)"
               " ON CONFLICT (uscc) DO NOTHING RETURNING id");
        if (!st) {
            free(rep);
            return STORE_ERROR;
        }
        store_bind_text(st, 1, g->uscc);
        store_bind_text(st, 2, g->ent_name);
        store_bind_text(st, 3, rep);
        store_bind_text(st, 4, ts);
        rc = store_step(st);
        if (rc == STORE_ROW) g->na.enterprise = store_column_int64(st, 0);
        store_finalize(st);
        free(rep);
        if (rc == STORE_DONE) {
            g->conflict = "uscc";
            return STORE_OK;
        }
        if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    }
    if ((rc = account_insert(c, &g->na)) != STORE_OK) return rc;
    if (g->enterprise) {
        char mac[KEYS_TAG_MAX];
        if (rbac_member_mac(g->na.id, g->na.enterprise, 1, ",", mac) != 0) return STORE_ERROR;
        store_stmt *st =
            store_prepare(c, "INSERT INTO enterprise_member(account_id, enterprise_id, admin, perms, mac)"
                             " VALUES ($1, $2, 1, ',', $3)");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, g->na.id);
        store_bind_int64(st, 2, g->na.enterprise);
        store_bind_text(st, 3, mac);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    char det[160];
    snprintf(det, sizeof det, "{\"kind\":\"%s\",\"account\":%lld}", g->na.kind, g->na.id);
    return auth_audit(g->r, c, "account.register", g->na.login, "ok", det);
}

static int do_register(http_req *r, int enterprise)
{
    static const char *person_fields[] = {"login",   "password", "name",  "id_number", "mobile",
                                          "address", "sms_code", "agent", NULL};
    static const char *ent_fields[] = {"login",    "password",        "name", "id_number", "mobile",
                                       "sms_code", "enterprise_name", "uscc", "legal_rep", NULL};
    struct input in;
    if (input_begin(&in, r, enterprise ? ent_fields : person_fields) != 0) return 0;
    struct reg g = {.r = r, .enterprise = enterprise};
    g.na.login = input_str(&in, "login", 1, 4, 32);
    const char *password = input_str(&in, "password", 1, 1, 128);
    g.na.name = input_str(&in, "name", 1, 2, 40);
    g.na.id_number = input_str(&in, "id_number", 1, 18, 18);
    g.na.mobile = input_str(&in, "mobile", 1, 11, 11);
    g.na.address = enterprise ? NULL : input_str(&in, "address", 0, 2, 200);
    g.sms_code = input_str(&in, "sms_code", 1, 6, 6);
    int agent = enterprise ? 0 : input_bool(&in, "agent", 0);
    if (enterprise) {
        g.ent_name = input_str(&in, "enterprise_name", 1, 2, 100);
        g.uscc = input_str(&in, "uscc", 1, 18, 18);
        g.legal_rep = input_str(&in, "legal_rep", 1, 2, 40);
    }
    const char *why;
    if (g.na.login && !login_name_valid(g.na.login))
        input_error(&in, "login",
                    "4-32 characters: lower-case letters, digits, _ . -, starting with a letter");
    if (g.na.id_number && auth_id_number_check(g.na.id_number, &why) != 0) input_error(&in, "id_number", why);
    if (g.na.mobile && !mobile_ok(g.na.mobile))
        input_error(&in, "mobile", "must be an 11-digit mainland mobile number");
    if (g.uscc && auth_uscc_check(g.uscc, &why) != 0) input_error(&in, "uscc", why);
    if (password && g.na.login && auth_password_policy(password, g.na.login, g.na.mobile, &why) != 0)
        input_error(&in, "password", why);
    if (input_ok(&in) && realname_person(g.na.name, g.na.id_number, &why) != 0) input_error(&in, "name", why);
    if (input_ok(&in) && enterprise && realname_enterprise(g.ent_name, g.uscc, g.legal_rep, &why) != 0)
        input_error(&in, "uscc", why);
    if (input_done(&in) != 0) return 0;
    struct app *app = req_app(r);
    char hash[AUTH_PASSWORD_HASH_MAX];
    if (auth_password_hash(password, (int)app->cfg->password_iterations, hash, sizeof hash) != 0)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    g.na.password_hash = hash;
    g.na.kind = enterprise ? "enterprise" : agent ? "agent" : "person";
    if (store_tx(app->db, 1, reg_tx, &g) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (g.bad_code)
        return http_reply_error(r, 400, "sms_code", "the SMS code is wrong or expired",
                                json_pack("[o]", http_field_error("sms_code", "wrong or expired")));
    if (g.conflict)
        return http_reply_error(r, 409, "conflict", "already registered",
                                json_pack("[o]", http_field_error(g.conflict, "already registered")));
    json_t *body =
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)g.na.id, "login", g.na.login, "kind", g.na.kind);
    if (enterprise) json_object_set_new(body, "enterprise", json_integer(g.na.enterprise));
    return http_reply_json(r, 201, body);
}

int auth_register_person(http_req *r) { return do_register(r, 0); }
int auth_register_enterprise(http_req *r) { return do_register(r, 1); }

/* ---------- profile ---------- */

static void put_masked(json_t *o, const char *key, const char *sealed,
                       int (*mask)(const char *, char *, size_t))
{
    if (!sealed) return;
    char *plain = keys_open(sealed);
    if (!plain) {
        json_object_set_new(o, key, json_string("(unreadable)"));
        return;
    }
    char buf[512];
    mask(plain, buf, sizeof buf);
    json_object_set_new(o, key, json_string(buf));
    crypto_wipe(plain, strlen(plain));
    free(plain);
}

json_t *account_json(store_conn *c, long long id, const char *reveal_field)
{
    store_stmt *st = store_prepare(
        c, "SELECT a.id, a.login, a.kind, a.status, a.name_enc, a.id_number_enc, a.mobile_enc, a.address_enc,"
           " a.enterprise_id, a.dept_id, a.badge, a.ip_ranges, a.totp_enc IS NOT NULL, a.totp_digest, a.mfa,"
           " a.created_at, a.must_change_password, e.name, e.uscc, d.name"
           " FROM account a LEFT JOIN enterprise e ON e.id = a.enterprise_id"
           " LEFT JOIN department d ON d.id = a.dept_id WHERE a.id = $1");
    if (!st) return NULL;
    store_bind_int64(st, 1, id);
    json_t *o = NULL;
    if (store_step(st) == STORE_ROW) {
        o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:b}", "id", (json_int_t)store_column_int64(st, 0),
                      "login", store_column_text(st, 1), "kind", store_column_text(st, 2), "status",
                      store_column_text(st, 3), "created_at", store_column_text(st, 15), "totp",
                      (int)store_column_int64(st, 12), "mfa", (int)store_column_int64(st, 14));
        static const struct {
            const char *key;
            int col;
            int (*mask)(const char *, char *, size_t);
        } F[] = {{"name", 4, auth_mask_name},
                 {"id_number", 5, auth_mask_id_number},
                 {"mobile", 6, auth_mask_mobile},
                 {"address", 7, auth_mask_address}};
        for (size_t i = 0; i < EHALL_ARRAY_LEN(F); i++) {
            const char *sealed = store_column_text(st, F[i].col);
            if (reveal_field && !strcmp(reveal_field, F[i].key) && sealed) {
                char *plain = keys_open(sealed);
                json_object_set_new(o, F[i].key, json_string(plain ? plain : "(unreadable)"));
                free(plain);
            } else {
                put_masked(o, F[i].key, sealed, F[i].mask);
            }
        }
        if (!store_column_is_null(st, 8))
            json_object_set_new(o, "enterprise",
                                json_pack("{s:I, s:s?, s:s?}", "id", (json_int_t)store_column_int64(st, 8),
                                          "name", store_column_text(st, 17), "uscc",
                                          store_column_text(st, 18)));
        if (!store_column_is_null(st, 9))
            json_object_set_new(o, "department",
                                json_pack("{s:I, s:s?}", "id", (json_int_t)store_column_int64(st, 9), "name",
                                          store_column_text(st, 19)));
        if (store_column_text(st, 10))
            json_object_set_new(o, "badge", json_string(store_column_text(st, 10)));
        if (store_column_text(st, 11))
            json_object_set_new(o, "ip_ranges", json_string(store_column_text(st, 11)));
        if (store_column_text(st, 13))
            json_object_set_new(o, "totp_digest", json_string(store_column_text(st, 13)));
        json_object_set_new(o, "must_change_password", json_boolean(store_column_int64(st, 16)));
    }
    store_finalize(st);
    return o;
}

int account_me(http_req *r)
{
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return http_reply_error(r, 503, "unavailable", "try again", NULL);
    json_t *o = account_json(c, p->account, NULL);
    if (o) {
        /* certificates */
        json_t *certs = json_array();
        store_stmt *st =
            store_prepare(c, "SELECT id, label, fingerprint, created_at FROM cert_key WHERE account_id = $1"
                             " AND revoked_at IS NULL ORDER BY id");
        if (st) {
            store_bind_int64(st, 1, p->account);
            while (store_step(st) == STORE_ROW)
                json_array_append_new(
                    certs, json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)store_column_int64(st, 0),
                                     "label", store_column_text(st, 1), "fingerprint",
                                     store_column_text(st, 2), "created_at", store_column_text(st, 3)));
            store_finalize(st);
        }
        json_object_set_new(o, "certificates", certs);
    }
    store_release(c);
    if (!o) return http_reply_error(r, 404, "not_found", "no such account", NULL);
    return http_reply_json(r, 200, o);
}

/* ---------- password ---------- */

struct pwchange {
    http_req *r;
    const struct config *cfg;
    const char *current, *next;
    struct acct a;
    char hash[AUTH_PASSWORD_HASH_MAX];
    const char *stage;
    char csrf[65];
    char mobile[32];    /* for the policy: a password must not contain it */
    const char *action; /* what a wrong password is audited as (default: the change) */
    long long locked_until;
    char history[PASSWORD_HISTORY][AUTH_PASSWORD_HASH_MAX]; /* the last hashes, newest first */
    int nhistory;
    int current_ok, reused, hashed; /* results of the slow part */
};

/* The last auth.password_history hashes (policy.h), for the reuse check done outside the transaction. */
static int load_history(store_conn *c, struct pwchange *w)
{
    store_stmt *st =
        store_prepare(c, "SELECT hash FROM password_history WHERE account_id = $1 ORDER BY at DESC LIMIT $2");
    if (!st) return STORE_ERROR;
    struct auth_policy pol;
    auth_policy_get(w->cfg, &pol);
    long long keep = pol.password_history < PASSWORD_HISTORY ? pol.password_history : PASSWORD_HISTORY;
    store_bind_int64(st, 1, w->a.id);
    store_bind_int64(st, 2, keep);
    int rc;
    w->nhistory = 0;
    while ((rc = store_step(st)) == STORE_ROW && w->nhistory < keep)
        snprintf(w->history[w->nhistory++], AUTH_PASSWORD_HASH_MAX, "%s", store_column_text(st, 0));
    store_finalize(st);
    return rc == STORE_DONE || rc == STORE_ROW ? STORE_OK : rc;
}

int account_set_password(store_conn *c, long long id, const char *hash, int must_change)
{
    store_stmt *st = store_prepare(c, "UPDATE account SET password_hash = $2, password_changed_at = $3,"
                                      " must_change_password = $4 WHERE id = $1");
    if (!st) return STORE_ERROR;
    long long now = (long long)now_wall();
    store_bind_int64(st, 1, id);
    store_bind_text(st, 2, hash);
    store_bind_int64(st, 3, now);
    store_bind_int64(st, 4, must_change);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    return history_append(c, id, hash, now);
}

static int pw_read(store_conn *c, void *arg)
{
    struct pwchange *w = arg;
    int rc = acct_by_id(c, auth_principal(w->r)->account, &w->a);
    if (rc != 1) return rc < 0 ? rc : STORE_ERROR;
    /* a locked account takes no password guesses, in a session or not */
    char key[48];
    snprintf(key, sizeof key, "acct:%lld", w->a.id);
    if ((w->locked_until = throttle_locked_until(c, key)) < 0) return STORE_ERROR;
    if ((rc = load_history(c, w)) != STORE_OK) return rc;
    store_stmt *st = store_prepare(c, "SELECT mobile_enc FROM account WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, w->a.id);
    if (store_step(st) == STORE_ROW && !store_column_is_null(st, 0)) {
        char *m = keys_open(store_column_text(st, 0));
        if (m) snprintf(w->mobile, sizeof w->mobile, "%s", m);
        free(m);
    }
    store_finalize(st);
    return STORE_OK;
}

static int pw_tx(store_conn *c, void *arg)
{
    struct pwchange *w = arg;
    int rc = account_set_password(c, w->a.id, w->hash, 0);
    if (rc != STORE_OK) return rc;
    /* every session ends, this one is replaced by a new id */
    if ((rc = session_end_all(c, w->a.id, NULL)) != STORE_OK) return rc;
    w->a.must_change = 0;
    w->a.pw_changed = (long long)now_wall();
    const struct principal *p = auth_principal(w->r);
    int mfa_done = strcmp(p->stage, "mfa") != 0;
    w->stage = acct_next_stage(&w->a, w->cfg, mfa_done);
    if ((rc = session_create(w->r, c, w->a.id, w->stage, 0, 0, w->csrf)) != STORE_OK) return rc;
    return auth_audit(w->r, c, "account.password_change", w->a.login, "ok", NULL);
}

static int pw_fail_tx(store_conn *c, void *arg)
{
    struct pwchange *w = arg;
    char key[48];
    snprintf(key, sizeof key, "acct:%lld", w->a.id);
    int rc = throttle_fail(c, key, policy_lockout_threshold(w->cfg), w->cfg);
    if (rc < 0) return rc;
    return auth_audit(w->r, c, w->action ? w->action : "account.password_change", w->a.login, "failed",
                      "{\"reason\":\"password\"}");
}

/* On a worker thread: up to seven slow hashes (the current password, the last five,
 * the new one), none of them inside a transaction or on an I/O thread. */
static void pw_work(void *arg)
{
    struct pwchange *w = arg;
    w->current_ok = auth_password_verify(w->current, w->a.hash) == 0;
    if (!w->current_ok) return;
    for (int i = 0; i < w->nhistory && !w->reused; i++)
        w->reused = auth_password_verify(w->next, w->history[i]) == 0;
    if (!w->reused)
        w->hashed =
            auth_password_hash(w->next, (int)w->cfg->password_iterations, w->hash, sizeof w->hash) == 0;
}

static int pw_finish(http_req *r)
{
    struct pwchange *w = http_req_defer_arg(r);
    struct app *app = req_app(r);
    if (!w->current_ok) {
        store_tx(app->db, 1, pw_fail_tx, w);
        return http_reply_error(r, 403, "wrong_password", "the current password is wrong",
                                json_pack("[o]", http_field_error("current_password", "wrong")));
    }
    if (w->reused)
        return http_reply_error(
            r, 422, "validation_failed", "the new password does not meet the policy",
            json_pack("[o]", http_field_error("new_password", "must not be one of your last 5 passwords")));
    if (!w->hashed || store_tx(app->db, 1, pw_tx, w) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    return http_reply_json(r, 200, json_pack("{s:s, s:s}", "stage", w->stage, "csrf", w->csrf));
}

int account_password(http_req *r)
{
    static const char *known[] = {"current_password", "new_password", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct pwchange *w = arena_alloc(http_req_arena(r), sizeof *w);
    if (!w) {
        input_done(&in);
        return http_reply_error(r, 503, "unavailable", "out of memory", NULL);
    }
    memset(w, 0, sizeof *w);
    w->r = r;
    w->cfg = req_app(r)->cfg;
    w->current = input_str(&in, "current_password", 1, 1, 128);
    w->next = input_str(&in, "new_password", 1, 1, 128);
    if (input_done(&in) != 0) return 0;
    const struct principal *p = auth_principal(r);
    if (!strcmp(p->stage, "mfa"))
        return http_reply_error(r, 409, "wrong_stage", "pass the second factor first", NULL);
    struct app *app = req_app(r);
    if (store_tx(app->db, 0, pw_read, w) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (w->locked_until > 0) return auth_reply_locked(r, w->locked_until);
    const char *why;
    if (auth_password_policy(w->next, w->a.login, w->mobile[0] ? w->mobile : NULL, &why) != 0)
        return http_reply_error(r, 422, "validation_failed", "the new password does not meet the policy",
                                json_pack("[o]", http_field_error("new_password", why)));
    if (!strcmp(w->current, w->next))
        return http_reply_error(
            r, 422, "validation_failed", "the new password must differ from the current one",
            json_pack("[o]", http_field_error("new_password", "must differ from the current password")));
    if (http_defer(r, pw_work, pw_finish, w) != 0) {
        pw_work(w);
        return pw_finish(r);
    }
    return 0;
}

/* ---------- TOTP ---------- */

struct totp {
    http_req *r;
    const struct config *cfg;
    const char *digest, *code;
    char secret[64];
    int bad, none;
    const char *stage;
    char csrf[65];
};

static int totp_setup_tx(store_conn *c, void *arg)
{
    struct totp *t = arg;
    const struct principal *p = auth_principal(t->r);
    /* the secret waits, sealed, as a pending code until a first TOTP confirms it */
    char pending[96];
    snprintf(pending, sizeof pending, "pending:%s:%s", t->digest, t->secret);
    char *sealed = keys_seal(pending);
    crypto_wipe(pending, sizeof pending);
    if (!sealed) return STORE_ERROR;
    store_stmt *st = store_prepare(c, "DELETE FROM otp_code WHERE target = $1 AND purpose = 'totp-setup'");
    char target[48];
    snprintf(target, sizeof target, "acct:%lld", p->account);
    if (!st) {
        free(sealed);
        return STORE_ERROR;
    }
    store_bind_text(st, 1, target);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) {
        free(sealed);
        return rc < 0 ? rc : STORE_ERROR;
    }
    unsigned char b[16];
    char id[33];
    random_bytes(b, sizeof b);
    hex_encode(b, sizeof b, id);
    st = store_prepare(c, "INSERT INTO otp_code(id, purpose, target, code_hash, expires_at, created_at)"
                          " VALUES ($1, 'totp-setup', $2, $3, $4, $5)");
    if (!st) {
        free(sealed);
        return STORE_ERROR;
    }
    store_bind_text(st, 1, id);
    store_bind_text(st, 2, target);
    store_bind_text(st, 3, sealed);
    store_bind_int64(st, 4, (long long)now_wall() + 900);
    store_bind_int64(st, 5, (long long)now_wall());
    rc = store_step(st);
    store_finalize(st);
    free(sealed);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

int account_totp_setup(http_req *r)
{
    static const char *known[] = {"digest", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct totp t = {.r = r, .cfg = req_app(r)->cfg};
    const struct principal *p = auth_principal(r);
    int staff = !strcmp(p->kind, "staff") || !strcmp(p->kind, "admin");
    t.digest = input_str(&in, "digest", 0, 3, 4);
    if (!t.digest) t.digest = staff ? "SM3" : "SHA1";
    if (strcmp(t.digest, "SM3") != 0 && strcmp(t.digest, "SHA1") != 0)
        input_error(&in, "digest", "must be SM3 or SHA1");
    if (input_done(&in) != 0) return 0;
    if (strcmp(p->stage, "full") != 0 && strcmp(p->stage, "enroll") != 0)
        return http_reply_error(r, 409, "wrong_stage", "finish logging in first", NULL);
    unsigned char key[20];
    random_bytes(key, sizeof key);
    crypto_base32_encode(key, sizeof key, t.secret, sizeof t.secret);
    crypto_wipe(key, sizeof key);
    if (store_tx(req_app(r)->db, 1, totp_setup_tx, &t) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    char uri[256];
    snprintf(uri, sizeof uri,
             "otpauth://totp/ehall:%s?secret=%s&issuer=ehall&algorithm=%s&digits=6&period=30", p->login,
             t.secret, t.digest);
    json_t *body = json_pack("{s:s, s:s, s:s, s:i, s:i}", "secret", t.secret, "uri", uri, "digest", t.digest,
                             "digits", 6, "period", 30);
    crypto_wipe(t.secret, sizeof t.secret);
    return http_reply_json(r, 200, body);
}

static int totp_confirm_tx(store_conn *c, void *arg)
{
    struct totp *t = arg;
    const struct principal *p = auth_principal(t->r);
    char target[48];
    snprintf(target, sizeof target, "acct:%lld", p->account);
    store_stmt *st = store_prepare(
        c, "SELECT code_hash, expires_at FROM otp_code WHERE target = $1 AND purpose = 'totp-setup'");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, target);
    char *pending = NULL;
    if (store_step(st) == STORE_ROW && store_column_int64(st, 1) >= (long long)now_wall())
        pending = keys_open(store_column_text(st, 0));
    store_finalize(st);
    if (!pending || strncmp(pending, "pending:", 8) != 0) {
        free(pending);
        t->none = 1;
        return STORE_OK;
    }
    char digest[8];
    const char *d = pending + 8, *colon = strchr(d, ':');
    snprintf(digest, sizeof digest, "%.*s", colon ? (int)(colon - d) : 0, d);
    const char *secret = colon ? colon + 1 : "";
    unsigned char key[64];
    size_t klen = 0;
    long long step = 0;
    int ok = crypto_base32_decode(secret, key, sizeof key, &klen) == 0 &&
             totp_match(key, klen, digest, t->code, &step) == 0;
    crypto_wipe(key, sizeof key);
    if (!ok) {
        crypto_wipe(pending, strlen(pending));
        free(pending);
        t->bad = 1;
        return auth_audit(t->r, c, "account.factor", "totp", "failed", NULL);
    }
    char *sealed = keys_seal(secret);
    crypto_wipe(pending, strlen(pending));
    free(pending);
    if (!sealed) return STORE_ERROR;
    st = store_prepare(c, "UPDATE account SET totp_enc = $2, totp_digest = $3, totp_step = $4 WHERE id = $1");
    if (!st) {
        free(sealed);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, p->account);
    store_bind_text(st, 2, sealed);
    store_bind_text(st, 3, digest);
    store_bind_int64(st, 4, step);
    int rc = store_step(st);
    store_finalize(st);
    free(sealed);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    st = store_prepare(c, "DELETE FROM otp_code WHERE target = $1 AND purpose = 'totp-setup'");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, target);
    store_step(st);
    store_finalize(st);
    char det[64];
    snprintf(det, sizeof det, "{\"factor\":\"totp\",\"digest\":\"%s\"}", digest);
    if ((rc = auth_audit(t->r, c, "account.factor", "totp", "added", det)) != STORE_OK) return rc;
    if (!strcmp(p->stage, "enroll")) {
        /* enrolment completes the log-in: a new session id for the new privilege */
        struct acct a;
        if ((rc = acct_by_id(c, p->account, &a)) != 1) return rc < 0 ? rc : STORE_ERROR;
        if ((rc = session_end(c, p->sid_hash)) != STORE_OK) return rc;
        t->stage = acct_next_stage(&a, t->cfg, 1);
        return session_create(t->r, c, p->account, t->stage, 0, 0, t->csrf);
    }
    return STORE_OK;
}

int account_totp_confirm(http_req *r)
{
    static const char *known[] = {"code", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct totp t = {.r = r, .cfg = req_app(r)->cfg};
    t.code = input_str(&in, "code", 1, 6, 6);
    if (t.code && strspn(t.code, "0123456789") != 6) input_error(&in, "code", "must be 6 digits");
    if (input_done(&in) != 0) return 0;
    const struct principal *p = auth_principal(r);
    if (strcmp(p->stage, "full") != 0 && strcmp(p->stage, "enroll") != 0)
        return http_reply_error(r, 409, "wrong_stage", "finish logging in first", NULL);
    if (store_tx(req_app(r)->db, 1, totp_confirm_tx, &t) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (t.none)
        return http_reply_error(r, 409, "no_setup", "start with POST /api/v1/account/totp/setup", NULL);
    if (t.bad)
        return http_reply_error(r, 422, "validation_failed",
                                "the code does not match: check the device's clock",
                                json_pack("[o]", http_field_error("code", "does not match")));
    json_t *body = json_pack("{s:s}", "status", "enabled");
    if (t.stage) {
        json_object_set_new(body, "stage", json_string(t.stage));
        json_object_set_new(body, "csrf", json_string(t.csrf));
    }
    return http_reply_json(r, 200, body);
}

/* ---------- the second factor on or off (public accounts) ---------- */

static int mfa_toggle_tx(store_conn *c, void *arg)
{
    void **a = arg;
    http_req *r = a[0];
    int on = *(int *)a[1];
    const struct principal *p = auth_principal(r);
    store_stmt *st = store_prepare(c, "UPDATE account SET mfa = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->account);
    store_bind_int64(st, 2, on);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    return auth_audit(r, c, "account.factor", "mfa", on ? "enabled" : "disabled", NULL);
}

int account_mfa(http_req *r)
{
    static const char *known[] = {"enabled", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    if (!json_is_boolean(json_object_get(in.body, "enabled")))
        input_error(&in, "enabled", "must be true or false");
    int on = input_bool(&in, "enabled", 0);
    if (input_done(&in) != 0) return 0;
    const struct principal *p = auth_principal(r);
    if (!on && (!strcmp(p->kind, "staff") || !strcmp(p->kind, "admin")))
        return http_reply_error(r, 403, "forbidden", "staff and administrators always use a second factor",
                                NULL);
    void *a[2] = {r, &on};
    if (store_tx(req_app(r)->db, 1, mfa_toggle_tx, a) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    return http_reply_json(r, 200, json_pack("{s:b}", "mfa", on));
}

/* ---------- certificates ---------- */

/* A registered key's row MAC: id, account, fingerprint, public key, revocation time. */
int cert_mac(long long id, long long account, const char *fp, const char *pem, const char *revoked,
             char mac[KEYS_TAG_MAX], const char *check)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", id);
    snprintf(b, sizeof b, "%lld", account);
    const char *v[] = {a, b, fp, pem, revoked};
    return check ? keys_row_mac_check("cert_key", v, 5, check) : keys_row_mac("cert_key", v, 5, mac);
}

/* Revoke an account's active keys (one, or all when id is 0) at time ts.  Rows whose
 * MAC still verifies get a new MAC; a row already tampered with keeps its stale MAC,
 * so revoking never launders it. */
static int cert_revoke_rows(store_conn *c, long long account, long long id, const char *ts, int *n)
{
    store_stmt *st =
        store_prepare(c, "SELECT id, fingerprint, public_key, mac FROM cert_key WHERE account_id = $1"
                         " AND ($2 = 0 OR id = $2) AND revoked_at IS NULL ORDER BY id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    store_bind_int64(st, 2, id);
    struct {
        long long id;
        char mac[KEYS_TAG_MAX];
    } rows[32];
    int k = 0, rc;
    while ((rc = store_step(st)) == STORE_ROW && k < 32) {
        rows[k].id = store_column_int64(st, 0);
        const char *fp = store_column_text(st, 1), *pem = store_column_text(st, 2);
        if (cert_mac(rows[k].id, account, fp, pem, NULL, NULL, store_column_text(st, 3)) != 0 ||
            cert_mac(rows[k].id, account, fp, pem, ts, rows[k].mac, NULL) != 0)
            snprintf(rows[k].mac, sizeof rows[k].mac, "%s", store_column_text(st, 3));
        k++;
    }
    store_finalize(st);
    if (rc < 0) return rc;
    for (int i = 0; i < k; i++) {
        st = store_prepare(c, "UPDATE cert_key SET revoked_at = $2, mac = $3 WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, rows[i].id);
        store_bind_text(st, 2, ts);
        store_bind_text(st, 3, rows[i].mac);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    if (n) *n = k;
    return STORE_OK;
}

struct cert {
    http_req *r;
    const char *label, *pem;
    char fp[65];
    long long id;
    int dup, missing;
};

static int cert_add_tx(store_conn *c, void *arg)
{
    struct cert *ct = arg;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st = store_prepare(
        c, "INSERT INTO cert_key(account_id, label, public_key, fingerprint, created_at, mac)"
           " VALUES ($1, $2, $3, $4, $5, '') ON CONFLICT (fingerprint) DO NOTHING RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, auth_principal(ct->r)->account);
    store_bind_text(st, 2, ct->label);
    store_bind_text(st, 3, ct->pem);
    store_bind_text(st, 4, ct->fp);
    store_bind_text(st, 5, ts);
    int rc = store_step(st);
    if (rc == STORE_ROW) ct->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc == STORE_DONE) {
        ct->dup = 1;
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    char mac[KEYS_TAG_MAX];
    if (cert_mac(ct->id, auth_principal(ct->r)->account, ct->fp, ct->pem, NULL, mac, NULL) != 0)
        return STORE_ERROR;
    st = store_prepare(c, "UPDATE cert_key SET mac = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, ct->id);
    store_bind_text(st, 2, mac);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char det[128];
    snprintf(det, sizeof det, "{\"factor\":\"certificate\",\"fingerprint\":\"%s\"}", ct->fp);
    return auth_audit(ct->r, c, "account.factor", "certificate", "added", det);
}

int account_cert_add(http_req *r)
{
    static const char *known[] = {"label", "public_key", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct cert ct = {.r = r};
    ct.label = input_str(&in, "label", 1, 1, 64);
    ct.pem = input_text(&in, "public_key", 1, 100, 4096);
    if (ct.pem && crypto_sm2_pub_fingerprint(ct.pem, ct.fp) != 0)
        input_error(&in, "public_key", "must be an SM2 public key in PEM (BEGIN PUBLIC KEY)");
    if (input_done(&in) != 0) return 0;
    if (store_tx(req_app(r)->db, 1, cert_add_tx, &ct) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (ct.dup)
        return http_reply_error(r, 409, "conflict", "this key is already registered",
                                json_pack("[o]", http_field_error("public_key", "already registered")));
    return http_reply_json(
        r, 201,
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)ct.id, "label", ct.label, "fingerprint", ct.fp));
}

static int cert_revoke_tx(store_conn *c, void *arg)
{
    struct cert *ct = arg;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    int rc = cert_revoke_rows(c, auth_principal(ct->r)->account, ct->id, ts, NULL);
    if (rc != STORE_OK) return rc;
    char obj[32];
    snprintf(obj, sizeof obj, "certificate %lld", ct->id);
    return auth_audit(ct->r, c, "account.factor", obj, "revoked", NULL);
}

int account_cert_revoke(http_req *r)
{
    long long id;
    if (parse_int64(http_req_param(r, "id"), &id) != 0 || id <= 0)
        return http_reply_error(r, 404, "not_found", "no such certificate", NULL);
    /* only the holder's own, still active keys */
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return http_reply_error(r, 503, "unavailable", "try again", NULL);
    store_stmt *st =
        store_prepare(c, "SELECT 1 FROM cert_key WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL");
    int found = 0;
    if (st) {
        store_bind_int64(st, 1, id);
        store_bind_int64(st, 2, auth_principal(r)->account);
        found = store_step(st) == STORE_ROW;
        store_finalize(st);
    }
    store_release(c);
    if (!found) return http_reply_error(r, 404, "not_found", "no such certificate", NULL);
    struct cert ct = {.r = r, .id = id};
    if (store_tx(req_app(r)->db, 1, cert_revoke_tx, &ct) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    return http_reply_json(r, 200, json_pack("{s:s}", "status", "revoked"));
}

/* ---------- sessions and history ---------- */

int account_sessions(http_req *r)
{
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return http_reply_error(r, 503, "unavailable", "try again", NULL);
    json_t *list = json_array();
    store_stmt *st =
        store_prepare(c, "SELECT id_hash, created_ms / 1000, last_seen, client, user_agent FROM session"
                         " WHERE account_id = $1 ORDER BY created_ms DESC");
    if (st) {
        store_bind_int64(st, 1, p->account);
        while (store_step(st) == STORE_ROW) {
            const char *h = store_column_text(st, 0);
            json_array_append_new(
                list, json_pack("{s:s%, s:I, s:I, s:s?, s:s?, s:b}", "id", h, (size_t)16, "created_at",
                                (json_int_t)store_column_int64(st, 1), "last_seen",
                                (json_int_t)store_column_int64(st, 2), "client", store_column_text(st, 3),
                                "user_agent", store_column_text(st, 4), "current", !strcmp(h, p->sid_hash)));
        }
        store_finalize(st);
    }
    store_release(c);
    return http_reply_json(r, 200, json_pack("{s:o}", "sessions", list));
}

static int end_other_tx(store_conn *c, void *arg)
{
    http_req *r = arg;
    const struct principal *p = auth_principal(r);
    int rc = session_end_all(c, p->account, p->sid_hash);
    if (rc != STORE_OK) return rc;
    return auth_audit(r, c, "auth.logout", "other sessions", "ok", NULL);
}

int account_sessions_end(http_req *r)
{
    if (store_tx(req_app(r)->db, 1, end_other_tx, r) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    return http_reply_json(r, 200, json_pack("{s:s}", "status", "other sessions ended"));
}

int account_logins(http_req *r)
{
    const struct principal *p = auth_principal(r);
    char actor[24];
    snprintf(actor, sizeof actor, "%lld", p->account);
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return http_reply_error(r, 503, "unavailable", "try again", NULL);
    json_t *list = json_array();
    /* failures by others against this account are recorded with the login as object */
    store_stmt *st = store_prepare(c, "SELECT at, action, result, client FROM audit_log WHERE"
                                      " action IN ('auth.login', 'auth.mfa', 'auth.lock', 'auth.logout')"
                                      " AND (actor = $1 OR object = $2) ORDER BY seq DESC LIMIT 50");
    if (st) {
        store_bind_text(st, 1, actor);
        store_bind_text(st, 2, p->login);
        while (store_step(st) == STORE_ROW)
            json_array_append_new(list,
                                  json_pack("{s:s, s:s, s:s, s:s?}", "at", store_column_text(st, 0), "action",
                                            store_column_text(st, 1), "result", store_column_text(st, 2),
                                            "client", store_column_text(st, 3)));
        store_finalize(st);
    }
    store_release(c);
    return http_reply_json(r, 200, json_pack("{s:o}", "logins", list));
}

/* ---------- closing an account ---------- */

struct closing {
    http_req *r;
    struct acct a;
    int refused;
    const char *why;
};

static int close_tx(store_conn *c, void *arg)
{
    struct closing *x = arg;
    store_stmt *st = store_prepare(c, "SELECT admin FROM enterprise_member WHERE account_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->a.id);
    int rc = store_step(st);
    int ent_admin = rc == STORE_ROW && store_column_int64(st, 0) == 1;
    store_finalize(st);
    if (rc < 0) return rc;
    if (ent_admin) {
        x->refused = 1;
        x->why = "the enterprise's administrator account cannot be closed while the enterprise is registered";
        return STORE_OK;
    }
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    /* the row stays, so the login and the account number are never given out again;
     * the personal data goes */
    st = store_prepare(
        c, "UPDATE account SET status = 'deleted', deleted_at = $2, name_enc = NULL,"
           " id_number_enc = NULL, id_number_bidx = NULL, mobile_enc = NULL, mobile_bidx = NULL,"
           " address_enc = NULL, totp_enc = NULL, totp_digest = NULL, ip_ranges = NULL WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->a.id);
    store_bind_text(st, 2, ts);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    if ((rc = cert_revoke_rows(c, x->a.id, 0, ts, NULL)) != STORE_OK) return rc;
    if ((rc = session_end_all(c, x->a.id, NULL)) != STORE_OK) return rc;
    return auth_audit(x->r, c, "account.close", x->a.login, "ok", NULL);
}

/* DELETE /api/v1/account {password}: the holder closes the account. */
int account_close(http_req *r)
{
    static const char *known[] = {"password", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *password = input_str(&in, "password", 1, 1, 128);
    if (input_done(&in) != 0) return 0;
    const struct principal *p = auth_principal(r);
    if (!strcmp(p->kind, "staff") || !strcmp(p->kind, "admin") || p->on_behalf)
        return http_reply_error(r, 403, "forbidden",
                                "staff and administrator accounts are closed by the system administrator",
                                NULL);
    struct app *app = req_app(r);
    struct closing x = {.r = r};
    struct pwchange w = {.r = r, .cfg = app->cfg, .action = "account.close"};
    if (store_tx(app->db, 0, pw_read, &w) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (w.locked_until > 0) return auth_reply_locked(r, w.locked_until);
    x.a = w.a;
    if (auth_password_verify(password, x.a.hash) != 0) {
        store_tx(app->db, 1, pw_fail_tx, &w); /* counts towards the lockout like any wrong password */
        return http_reply_error(r, 403, "wrong_password", "the password is wrong",
                                json_pack("[o]", http_field_error("password", "wrong")));
    }
    if (store_tx(app->db, 1, close_tx, &x) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (x.refused) return http_reply_error(r, 409, "conflict", x.why, NULL);
    session_clear_cookie(r);
    return http_reply_json(r, 200, json_pack("{s:s}", "status", "closed"));
}
