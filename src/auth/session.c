/*
 * session.c — sessions, the authorize hook and the audit helper.  See session.h.
 */
#include "auth/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "audit/audit.h"
#include "auth/handlers.h"
#include "auth/keys.h"
#include "auth/policy.h"
#include "auth/rbac.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define COOKIE_SESSION "ehall_session"
#define COOKIE_CSRF    "ehall_csrf"
/* last_seen is written at most this often (seconds), so a busy session does not turn
 * every read into a write; the idle timeout is therefore exact to within this. */
#define TOUCH_EVERY 30

static int is_hex64(const char *s)
{
    if (!s || strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static void sid_hash(const char *sid, char out[65])
{
    unsigned char d[SM3_DIGEST_LEN];
    crypto_sm3(sid, strlen(sid), d);
    hex_encode(d, sizeof d, out);
}

static void random_hex64(char out[65])
{
    unsigned char b[32];
    random_bytes(b, sizeof b);
    hex_encode(b, sizeof b, out);
    crypto_wipe(b, sizeof b);
}

const struct principal *auth_principal(http_req *r) { return http_req_auth(r); }

int auth_has(const struct principal *p, const char *perm)
{
    if (!p || !perm || strcmp(p->stage, "full") != 0) return 0;
    size_t n = strlen(perm);
    for (const char *s = strstr(p->perms, perm); s; s = strstr(s + 1, perm))
        if (s[-1] == ',' && s[n] == ',') return 1;
    return 0;
}

int auth_in_scope(const struct principal *p, long long owner, const char *dept_path)
{
    if (!p) return 0;
    if (!strcmp(p->scope, "all")) return 1;
    if (owner == p->account) return 1;
    if (!dept_path || !dept_path[0] || !p->dept_path[0]) return 0;
    if (!strcmp(p->scope, "dept")) return strcmp(dept_path, p->dept_path) == 0;
    if (!strcmp(p->scope, "subtree")) return strncmp(dept_path, p->dept_path, strlen(p->dept_path)) == 0;
    return 0;
}

static void ll(char *buf, size_t len, long long v) { snprintf(buf, len, "%lld", v); }

static int session_mac(const char *hash, long long account, const char *stage, const char *perms,
                       const char *scope, long long on_behalf, long long grant, long long expires,
                       char mac[KEYS_TAG_MAX], const char *check)
{
    char a[24], ob[24], g[24], e[24];
    ll(a, sizeof a, account);
    ll(ob, sizeof ob, on_behalf);
    ll(g, sizeof g, grant);
    ll(e, sizeof e, expires);
    const char *v[] = {hash, a, stage, perms, scope, on_behalf ? ob : NULL, grant ? g : NULL, e};
    if (check) return keys_row_mac_check("session", v, 8, check);
    return keys_row_mac("session", v, 8, mac);
}

int auth_audit(http_req *r, store_conn *c, const char *action, const char *object, const char *result,
               const char *details)
{
    const struct principal *p = auth_principal(r);
    char actor[32] = "anonymous", role[48] = "";
    char *det = NULL;
    if (p) {
        ll(actor, sizeof actor, p->account);
        snprintf(role, sizeof role, "%s", p->admin_role ? p->admin_role : p->kind);
        if (p->on_behalf) {
            /* every act of an agent records on whose behalf it was done */
            json_t *d = details ? json_loads(details, 0, NULL) : NULL;
            if (!json_is_object(d)) {
                json_decref(d);
                d = json_object();
            }
            json_object_set_new(d, "on_behalf_of", json_integer(p->on_behalf));
            json_object_set_new(d, "grant", json_integer(p->grant_id));
            det = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(d);
        }
    }
    struct audit_event e = {actor,  role[0] ? role : NULL, http_req_client(r), http_req_id(r), action, object,
                            result, det ? det : details};
    int rc;
    if (c) {
        rc = audit_append(c, &e);
    } else {
        struct app *app = http_req_app(r);
        rc = audit_record(app->db, &e);
    }
    free(det);
    return rc;
}

/* ---------- the cookie ---------- */

static void set_cookie(http_req *r, const char *name, const char *value, long long max_age, int http_only)
{
    struct app *app = http_req_app(r);
    char buf[256];
    snprintf(buf, sizeof buf, "%s=%s; Path=/; Max-Age=%lld; SameSite=Strict%s%s", name, value, max_age,
             http_only ? "; HttpOnly" : "", app->cfg->session_secure_cookie ? "; Secure" : "");
    http_add_header(r, "Set-Cookie", arena_strdup(http_req_arena(r), buf));
}

void session_clear_cookie(http_req *r) { set_cookie(r, COOKIE_SESSION, "", 0, 1); }

/* ---------- sessions ---------- */

int session_end_all(store_conn *c, long long account, const char *keep)
{
    store_stmt *st = store_prepare(c, keep ? "DELETE FROM session WHERE account_id = $1 AND id_hash <> $2"
                                           : "DELETE FROM session WHERE account_id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    if (keep) store_bind_text(st, 2, keep);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

int session_end(store_conn *c, const char *id_hash)
{
    store_stmt *st = store_prepare(c, "DELETE FROM session WHERE id_hash = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, id_hash);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

/* Staff and administrators may hold only so many sessions: the oldest give way. */
static int enforce_limit(store_conn *c, long long account, long long max)
{
    store_stmt *st = store_prepare(c, "SELECT id_hash FROM session WHERE account_id = $1"
                                      " ORDER BY created_ms DESC, id_hash LIMIT 1000 OFFSET $2");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    store_bind_int64(st, 2, max - 1);
    char victims[16][65];
    int n = 0, rc;
    while ((rc = store_step(st)) == STORE_ROW && n < 16)
        snprintf(victims[n++], 65, "%s", store_column_text(st, 0));
    store_finalize(st);
    if (rc < 0) return rc;
    for (int i = 0; i < n; i++) {
        store_stmt *d = store_prepare(c, "DELETE FROM session WHERE id_hash = $1");
        if (!d) return STORE_ERROR;
        store_bind_text(d, 1, victims[i]);
        rc = store_step(d);
        store_finalize(d);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    return STORE_OK;
}

int session_create(http_req *r, store_conn *c, long long account, const char *stage, long long on_behalf,
                   long long grant_id, char csrf_out[65])
{
    struct app *app = http_req_app(r);
    struct auth_policy pol;
    auth_policy_get(app->cfg, &pol);
    store_stmt *st = store_prepare(c, "SELECT kind FROM account WHERE id = $1 AND status = 'active'");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    int rc = store_step(st);
    char kind[16] = "";
    if (rc == STORE_ROW) snprintf(kind, sizeof kind, "%s", store_column_text(st, 0));
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;

    char *perms = NULL, scope[16], tampered[128];
    if ((rc = rbac_load(c, account, kind, &perms, scope, tampered)) != STORE_OK) return rc;
    if (tampered[0]) {
        /* a protected row changed behind ehall's back: refused, logged, audited */
        log_error("integrity check failed for %s: its permissions are not granted", tampered);
        char det[200];
        snprintf(det, sizeof det, "{\"row\":\"%s\"}", tampered);
        auth_audit(r, c, "security.integrity", tampered, "tampered", det);
    }
    if (on_behalf) {
        free(perms);
        perms = strdup(RBAC_AGENT_PERMS);
        if (!perms) return STORE_ERROR;
    }
    if (!strcmp(kind, "staff") || !strcmp(kind, "admin")) {
        if ((rc = enforce_limit(c, account, pol.session_staff_max)) != STORE_OK) {
            free(perms);
            return rc;
        }
    }
    char sid[65], hash[65], mac[KEYS_TAG_MAX];
    random_hex64(sid);
    sid_hash(sid, hash);
    random_hex64(csrf_out);
    long long now = (long long)now_wall(), expires = now + pol.session_lifetime;
    if (grant_id) {
        /* acting for an enterprise ends when the grant does */
        st = store_prepare(c, "SELECT valid_to FROM agent_grant WHERE id = $1");
        if (!st) {
            free(perms);
            return STORE_ERROR;
        }
        store_bind_int64(st, 1, grant_id);
        if (store_step(st) == STORE_ROW && store_column_int64(st, 0) < expires)
            expires = store_column_int64(st, 0);
        store_finalize(st);
    }
    /* created_ms: the staff session limit ends the oldest, even among
     * sessions made within one second */
    long long created_ms = (long long)(now_wall() * 1000.0);
    if (session_mac(hash, account, stage, perms, scope, on_behalf, grant_id, expires, mac, NULL) != 0) {
        free(perms);
        return STORE_ERROR;
    }
    const char *ua = http_req_header(r, "User-Agent");
    char uabuf[201];
    snprintf(uabuf, sizeof uabuf, "%s", ua ? ua : "");
    st = store_prepare(c, "INSERT INTO session(id_hash, account_id, stage, csrf, created_ms, last_seen,"
                          " expires_at, client, user_agent, on_behalf, grant_id, perms, scope, mac)"
                          " VALUES ($1, $2, $3, $4, $14, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
    if (!st) {
        free(perms);
        return STORE_ERROR;
    }
    store_bind_text(st, 1, hash);
    store_bind_int64(st, 2, account);
    store_bind_text(st, 3, stage);
    store_bind_text(st, 4, csrf_out);
    store_bind_int64(st, 5, now);
    store_bind_int64(st, 6, expires);
    store_bind_text(st, 7, http_req_client(r));
    store_bind_text(st, 8, uabuf);
    if (on_behalf) {
        store_bind_int64(st, 9, on_behalf);
        store_bind_int64(st, 10, grant_id);
    } else {
        store_bind_null(st, 9);
        store_bind_null(st, 10);
    }
    store_bind_text(st, 11, perms);
    store_bind_text(st, 12, scope);
    store_bind_text(st, 13, mac);
    store_bind_int64(st, 14, created_ms);
    rc = store_step(st);
    store_finalize(st);
    free(perms);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    set_cookie(r, COOKIE_SESSION, sid, pol.session_lifetime, 1);
    crypto_wipe(sid, sizeof sid);
    return STORE_OK;
}

/* ---------- checking a request ---------- */

struct lookup {
    const char *hash;
    long long idle; /* session.idle_timeout of the policy in force */
    arena *a;
    struct principal *p;
    int found, expired;
    int tampered;
    long long last_seen;
};

static int lookup_tx(store_conn *c, void *arg)
{
    struct lookup *l = arg;
    store_stmt *st = store_prepare(
        c, "SELECT s.account_id, s.stage, s.csrf, s.last_seen, s.expires_at, s.on_behalf, s.grant_id,"
           " s.perms, s.scope, s.mac, a.login, a.kind, a.status, a.dept_id, d.path, a.enterprise_id,"
           " a.id_number_enc, a.name_enc, a.mobile_enc, a.address_enc"
           " FROM session s JOIN account a ON a.id = s.account_id"
           " LEFT JOIN department d ON d.id = a.dept_id WHERE s.id_hash = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, l->hash);
    int rc = store_step(st);
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc == STORE_DONE ? STORE_OK : rc;
    }
    struct principal *p = l->p;
    long long now = (long long)now_wall();
    p->account = store_column_int64(st, 0);
    p->stage = arena_strdup(l->a, store_column_text(st, 1));
    snprintf(p->csrf, sizeof p->csrf, "%s", store_column_text(st, 2));
    l->last_seen = store_column_int64(st, 3);
    long long expires = store_column_int64(st, 4);
    p->on_behalf = store_column_is_null(st, 5) ? 0 : store_column_int64(st, 5);
    p->grant_id = store_column_is_null(st, 6) ? 0 : store_column_int64(st, 6);
    p->perms = arena_strdup(l->a, store_column_text(st, 7));
    p->scope = arena_strdup(l->a, store_column_text(st, 8));
    const char *mac = store_column_text(st, 9);
    p->login = arena_strdup(l->a, store_column_text(st, 10));
    p->kind = arena_strdup(l->a, store_column_text(st, 11));
    int active = !strcmp(store_column_text(st, 12), "active");
    p->dept = store_column_is_null(st, 13) ? 0 : store_column_int64(st, 13);
    p->dept_path = arena_strdup(l->a, store_column_is_null(st, 14) ? "" : store_column_text(st, 14));
    p->enterprise = store_column_is_null(st, 15) ? 0 : store_column_int64(st, 15);
    if (p->on_behalf) p->enterprise = p->on_behalf;
    if (!store_column_is_null(st, 16)) p->id_number_enc = arena_strdup(l->a, store_column_text(st, 16));
    if (!store_column_is_null(st, 17)) p->name_enc = arena_strdup(l->a, store_column_text(st, 17));
    if (!store_column_is_null(st, 18)) p->mobile_enc = arena_strdup(l->a, store_column_text(st, 18));
    if (!store_column_is_null(st, 19)) p->address_enc = arena_strdup(l->a, store_column_text(st, 19));
    p->profile = 1;
    if (session_mac(l->hash, p->account, p->stage, p->perms, p->scope, p->on_behalf, p->grant_id, expires,
                    NULL, mac) != 0)
        l->tampered = 1;
    store_finalize(st);
    if (!p->stage || !p->perms || !p->scope || !p->login || !p->kind || !p->dept_path) return STORE_ERROR;
    const char *at = strchr(p->perms, '@');
    if (at) p->admin_role = arena_strndup(l->a, at + 1, strcspn(at + 1, ","));
    snprintf(p->sid_hash, sizeof p->sid_hash, "%s", l->hash);
    l->expired = l->tampered || !active || now >= expires || now - l->last_seen > l->idle;
    l->found = 1;
    return STORE_OK;
}

struct touch {
    const char *hash;
    int drop;
};

static int touch_tx(store_conn *c, void *arg)
{
    struct touch *t = arg;
    store_stmt *st = store_prepare(c, t->drop ? "DELETE FROM session WHERE id_hash = $1"
                                              : "UPDATE session SET last_seen = $2 WHERE id_hash = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, t->hash);
    if (!t->drop) store_bind_int64(st, 2, (long long)now_wall());
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static int state_changing(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

int auth_authorize(http_req *r, const struct http_route *rt)
{
    struct app *app = http_req_app(r);
    if (rt->access == ACCESS_TEST && !app->cfg->test_mode) {
        http_reply_error(r, 404, "not_found", "no such endpoint", NULL);
        return 1;
    }
    char sid[80], hash[65] = "";
    struct principal *p = NULL;
    if (http_req_cookie(r, COOKIE_SESSION, sid, sizeof sid) && is_hex64(sid)) {
        sid_hash(sid, hash);
        crypto_wipe(sid, sizeof sid);
        p = arena_alloc(http_req_arena(r), sizeof *p);
        if (!p) {
            http_reply_error(r, 503, "unavailable", "out of memory", NULL);
            return 1;
        }
        memset(p, 0, sizeof *p);
        struct auth_policy pol;
        auth_policy_get(app->cfg, &pol);
        struct lookup l = {hash, pol.session_idle, http_req_arena(r), p, 0, 0, 0, 0};
        /* one read on a pooled connection, outside any transaction: a single round trip
         * on PostgreSQL */
        store_conn *c = store_acquire(app->db);
        int rc = c ? lookup_tx(c, &l) : STORE_UNAVAILABLE;
        if (c) store_release(c);
        if (rc != STORE_OK) {
            http_reply_error(r, 503, "unavailable", "the session could not be checked; retry", NULL);
            return 1;
        }
        if (l.tampered) {
            log_error("session row of account %lld failed its integrity check", p->account);
            auth_audit(r, NULL, "security.integrity", "session", "tampered", NULL);
        }
        if (!l.found) {
            p = NULL;
            session_clear_cookie(r);
        } else if (l.expired) {
            struct touch t = {hash, 1};
            store_tx(app->db, 1, touch_tx, &t);
            p = NULL;
            session_clear_cookie(r);
        } else if ((long long)now_wall() - l.last_seen >= TOUCH_EVERY) {
            struct touch t = {hash, 0};
            store_tx(app->db, 1, touch_tx, &t);
        }
        if (p) http_req_set_auth(r, p);
    }

    if (!p && (rt->access == ACCESS_PARTIAL || rt->access == ACCESS_SESSION)) {
        http_reply_error(r, 401, "unauthenticated", "log in first", NULL);
        return 1;
    }
    if (state_changing(http_req_method(r)) && rt->access != ACCESS_APP) {
        const char *sent = http_req_header(r, "X-CSRF-Token");
        char cookie[80];
        const char *want = p ? p->csrf : http_req_cookie(r, COOKIE_CSRF, cookie, sizeof cookie);
        if (!sent || !want || strlen(sent) != 64 || strlen(want) != 64 || crypto_equal(sent, want, 64) != 0) {
            http_reply_error(r, 403, "csrf",
                             "missing or wrong X-CSRF-Token: read it from GET /api/v1/session",
                             json_pack("[o]", http_field_error("X-CSRF-Token", "missing or wrong")));
            return 1;
        }
    }

    switch (rt->access) {
    case ACCESS_PUBLIC:
    case ACCESS_LOOPBACK:
    case ACCESS_TEST:
    case ACCESS_APP: return 0;
    case ACCESS_PARTIAL: return 0;
    case ACCESS_SESSION:
        if (strcmp(p->stage, "full") != 0) {
            http_reply_error(r, 401, "login_incomplete", "finish logging in first",
                             json_pack("[{s:s, s:s}]", "field", "stage", "message", p->stage));
            return 1;
        }
        if (rt->perm && !auth_has(p, rt->perm)) {
            char det[160];
            snprintf(det, sizeof det, "{\"permission\":\"%s\",\"route\":\"%s %s\"}", rt->perm, rt->method,
                     rt->pattern);
            auth_audit(r, NULL, "auth.denied", http_req_path(r), "denied", det);
            char msg[160];
            snprintf(msg, sizeof msg, "this needs the permission %s", rt->perm);
            http_reply_error(r, 403, "forbidden", msg, NULL);
            return 1;
        }
        return 0;
    }
    return 0;
}

/* GET /api/v1/session: who am I, and the CSRF token for the next change. */
int auth_session_info(http_req *r)
{
    const struct principal *p = auth_principal(r);
    if (!p) {
        char cookie[80], token[65];
        const char *have = http_req_cookie(r, COOKIE_CSRF, cookie, sizeof cookie);
        if (have && is_hex64(have)) {
            snprintf(token, sizeof token, "%s", have);
        } else {
            random_hex64(token);
            set_cookie(r, COOKIE_CSRF, token, 86400, 0);
        }
        return http_reply_json(r, 200, json_pack("{s:b, s:s}", "authenticated", 0, "csrf", token));
    }
    json_t *perms = json_array();
    for (const char *s = p->perms; *s;) {
        while (*s == ',') s++;
        size_t n = strcspn(s, ",");
        if (n && *s != '@' && *s != '#') json_array_append_new(perms, json_stringn(s, n));
        s += n;
    }
    json_t *body = json_pack("{s:b, s:s, s:s, s:{s:I, s:s, s:s}, s:o, s:s}", "authenticated", 1, "stage",
                             p->stage, "csrf", p->csrf, "account", "id", (json_int_t)p->account, "login",
                             p->login, "kind", p->kind, "permissions", perms, "scope", p->scope);
    if (p->admin_role)
        json_object_set_new(json_object_get(body, "account"), "admin_role", json_string(p->admin_role));
    if (p->enterprise)
        json_object_set_new(json_object_get(body, "account"), "enterprise", json_integer(p->enterprise));
    if (p->on_behalf) json_object_set_new(body, "on_behalf_of", json_integer(p->on_behalf));
    return http_reply_json(r, 200, body);
}
