/*
 * login.c — logging in and out: password + captcha, lockout, the second factor
 * (TOTP or SMS), certificate log-in with an SM2 signature over a fresh challenge.
 *
 * The slow password hash runs outside any transaction (so logins on the one SQLite
 * writer do not queue behind each other's KDF); the failure count, the lock, the
 * session and the audit record are then written in one short transaction.  Every
 * answer to a failed log-in is the same whether or not the account exists: unknown
 * names are counted and locked exactly like real ones, and a dummy hash is checked.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/input.h"
#include "auth/internal.h"
#include "auth/rbac.h"
#include "core/core.h"
#include "crypto/crypto.h"

/* ---------- accounts ---------- */

#define ACCT_COLS                                                                                            \
    "SELECT id, login, kind, status, password_hash, password_changed_at, must_change_password,"              \
    " totp_enc IS NOT NULL, COALESCE(totp_digest, ''), mfa, mobile_enc IS NOT NULL, COALESCE(ip_ranges, '')" \
    " FROM account"

static int read_acct(store_stmt *st, struct acct *a)
{
    memset(a, 0, sizeof *a);
    a->id = store_column_int64(st, 0);
    snprintf(a->login, sizeof a->login, "%s", store_column_text(st, 1));
    snprintf(a->kind, sizeof a->kind, "%s", store_column_text(st, 2));
    snprintf(a->status, sizeof a->status, "%s", store_column_text(st, 3));
    snprintf(a->hash, sizeof a->hash, "%s", store_column_text(st, 4));
    a->pw_changed = store_column_int64(st, 5);
    a->must_change = (int)store_column_int64(st, 6);
    a->has_totp = (int)store_column_int64(st, 7);
    snprintf(a->totp_digest, sizeof a->totp_digest, "%s", store_column_text(st, 8));
    a->mfa = (int)store_column_int64(st, 9);
    a->has_mobile = (int)store_column_int64(st, 10);
    snprintf(a->ip_ranges, sizeof a->ip_ranges, "%s", store_column_text(st, 11));
    return 1;
}

/* Exactly one active account where col = value: 1, none or several: 0. */
static int find_one(store_conn *c, const char *sql, const char *value, struct acct *a)
{
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, value);
    int rc = store_step(st), found = 0;
    if (rc == STORE_ROW) {
        read_acct(st, a);
        found = store_step(st) == STORE_DONE ? 1 : 0;
    } else if (rc != STORE_DONE) {
        found = rc;
    }
    store_finalize(st);
    return found;
}

int acct_find(store_conn *c, const char *ident, struct acct *a)
{
    int rc = find_one(c, ACCT_COLS " WHERE login = $1 AND status = 'active'", ident, a);
    if (rc != 0) return rc;
    const char *kind = NULL, *sql = NULL;
    size_t n = strlen(ident);
    if (n == 18 && auth_id_number_check(ident, NULL) == 0) {
        kind = "id_number";
        sql = ACCT_COLS " WHERE id_number_bidx = $1 AND status = 'active'";
    } else if (n == 11 && ident[0] == '1' && strspn(ident, "0123456789") == 11) {
        kind = "mobile";
        sql = ACCT_COLS " WHERE mobile_bidx = $1 AND status = 'active'";
    }
    if (!kind) return 0;
    char idx[4][KEYS_TAG_MAX];
    int k = keys_blind_indexes(kind, ident, idx, 4);
    for (int i = 0; i < k; i++)
        if ((rc = find_one(c, sql, idx[i], a)) != 0) return rc;
    return 0;
}

int acct_by_id(store_conn *c, long long id, struct acct *a)
{
    store_stmt *st = store_prepare(c, ACCT_COLS " WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) read_acct(st, a);
    store_finalize(st);
    return rc == STORE_ROW ? 1 : rc == STORE_DONE ? 0 : rc;
}

int acct_needs_mfa(const struct acct *a)
{
    return !strcmp(a->kind, "staff") || !strcmp(a->kind, "admin") ||
           (a->mfa && (a->has_totp || a->has_mobile));
}

const char *acct_next_stage(const struct acct *a, const struct config *cfg, int mfa_done)
{
    int staff = !strcmp(a->kind, "staff") || !strcmp(a->kind, "admin");
    if (!mfa_done && acct_needs_mfa(a) && (a->has_totp || a->has_mobile)) return "mfa";
    long long age = (long long)now_wall() - a->pw_changed;
    struct auth_policy pol;
    auth_policy_get(cfg, &pol);
    if (a->must_change || (pol.password_expiry_days > 0 && age > pol.password_expiry_days * 86400))
        return "password";
    /* staff and administrators hold a TOTP token (HMAC-SM3 by default): SMS alone is not
     * enough for them (seed 003), so a first log-in by SMS still ends in enrolment */
    if (staff && !a->has_totp) return "enroll";
    return "full";
}

/* ---------- throttling ---------- */

long long throttle_locked_until(store_conn *c, const char *key)
{
    store_stmt *st = store_prepare(c, "SELECT locked_until FROM auth_throttle WHERE key = $1");
    if (!st) return -1;
    store_bind_text(st, 1, key);
    long long until = 0;
    if (store_step(st) == STORE_ROW) until = store_column_int64(st, 0);
    store_finalize(st);
    return until > (long long)now_wall() ? until : 0;
}

int throttle_fail(store_conn *c, const char *key, long long threshold, const struct config *cfg)
{
    long long now = (long long)now_wall(), fails = 0, start = now, until = 0;
    store_stmt *st =
        store_prepare(c, "SELECT fails, window_start, locked_until FROM auth_throttle WHERE key = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, key);
    int rc = store_step(st), exists = rc == STORE_ROW;
    if (exists) {
        fails = store_column_int64(st, 0);
        start = store_column_int64(st, 1);
        until = store_column_int64(st, 2);
    }
    store_finalize(st);
    if (rc < 0) return rc;
    struct auth_policy pol;
    auth_policy_get(cfg, &pol);
    if (now - start >= pol.lockout_window) fails = 0, start = now;
    fails++;
    int locked = 0;
    if (fails >= threshold && until <= now) {
        until = now + pol.lockout_duration;
        fails = 0;
        start = now;
        locked = 1;
    }
    st = store_prepare(c, exists ? "UPDATE auth_throttle SET fails = $2, window_start = $3, locked_until = $4"
                                   " WHERE key = $1"
                                 : "INSERT INTO auth_throttle(key, fails, window_start, locked_until)"
                                   " VALUES ($1, $2, $3, $4)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, key);
    store_bind_int64(st, 2, fails);
    store_bind_int64(st, 3, start);
    store_bind_int64(st, 4, until);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    return locked;
}

int throttle_clear(store_conn *c, const char *key)
{
    store_stmt *st = store_prepare(c, "DELETE FROM auth_throttle WHERE key = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, key);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static void account_key(const struct acct *a, int found, const char *ident, char key[96])
{
    if (found) {
        snprintf(key, 96, "acct:%lld", a->id);
    } else {
        unsigned char d[SM3_DIGEST_LEN];
        char hx[65];
        crypto_sm3(ident, strlen(ident), d);
        hex_encode(d, sizeof d, hx);
        snprintf(key, 96, "name:%s", hx);
    }
}

/* ---------- IP ranges ---------- */

static int parse_cidr(const char *s, size_t n, unsigned char net[16], int *bits, int *v6)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *slash = strchr(buf, '/');
    if (slash) *slash = 0;
    *v6 = strchr(buf, ':') != NULL;
    if (inet_pton(*v6 ? AF_INET6 : AF_INET, buf, net) != 1) return -1;
    int max = *v6 ? 128 : 32;
    *bits = max;
    if (slash &&
        (parse_int64(slash + 1, &(long long){0}) != 0 || atoi(slash + 1) < 0 || atoi(slash + 1) > max))
        return -1;
    if (slash) *bits = atoi(slash + 1);
    return 0;
}

int ip_ranges_valid(const char *ranges)
{
    for (const char *p = ranges; *p;) {
        size_t n = strcspn(p, ",");
        unsigned char net[16];
        int bits, v6;
        if (parse_cidr(p, n, net, &bits, &v6) != 0) return -1;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

int ip_in_ranges(const char *addr, const char *ranges)
{
    if (!ranges || !ranges[0]) return 1;
    const char *a4 = strncmp(addr, "::ffff:", 7) == 0 && strchr(addr, '.') ? addr + 7 : addr;
    unsigned char ip[16];
    int v6 = strchr(a4, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, a4, ip) != 1) return 0;
    for (const char *p = ranges; *p;) {
        size_t n = strcspn(p, ",");
        unsigned char net[16];
        int bits, nv6;
        if (parse_cidr(p, n, net, &bits, &nv6) == 0 && nv6 == v6) {
            int ok = 1;
            for (int i = 0; i < bits && ok; i++) ok = ((ip[i / 8] ^ net[i / 8]) & (0x80 >> (i % 8))) == 0;
            if (ok) return 1;
        }
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

/* ---------- password log-in ---------- */

/* A client address that keeps failing is slowed down whoever it tries: 1 after
 * replying 429 (or 503). */
static int address_throttled(http_req *r)
{
    struct app *app = req_app(r);
    struct auth_policy pol;
    auth_policy_get(app->cfg, &pol);
    if (pol.ip_fail_limit <= 0) return 0;
    char ipkey[96];
    snprintf(ipkey, sizeof ipkey, "ip:%s", http_req_client(r));
    store_conn *c = store_acquire(app->db);
    if (!c) {
        http_reply_error(r, 503, "unavailable", "try again", NULL);
        return 1;
    }
    long long until = throttle_locked_until(c, ipkey);
    store_release(c);
    if (until <= 0) return 0;
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", until - (long long)now_wall());
    http_add_header(r, "Retry-After", ra);
    http_reply_error(r, 429, "too_many_failures",
                     "too many failed log-ins from this address; wait and try again", NULL);
    return 1;
}

/* Count a failure against the client's address (inside the caller's transaction). */
static int address_failed(http_req *r, store_conn *c)
{
    const struct config *cfg = req_app(r)->cfg;
    struct auth_policy pol;
    auth_policy_get(cfg, &pol);
    if (pol.ip_fail_limit <= 0) return STORE_OK;
    char ipkey[96];
    snprintf(ipkey, sizeof ipkey, "ip:%s", http_req_client(r));
    return throttle_fail(c, ipkey, pol.ip_fail_limit, cfg) < 0 ? STORE_ERROR : STORE_OK;
}

struct login {
    http_req *r;
    const struct config *cfg;
    const char *ident, *password;
    char rehash[AUTH_PASSWORD_HASH_MAX]; /* a stronger hash of a right password, when the cost rose */
    struct acct a;
    int found;
    int password_ok;
    int ip_denied;
    /* outcome */
    int locked;
    long long locked_until;
    const char *stage;
    char csrf[65];
};

static int login_read(store_conn *c, void *arg)
{
    struct login *l = arg;
    int rc = acct_find(c, l->ident, &l->a);
    if (rc < 0) return rc;
    l->found = rc;
    char key[96];
    account_key(&l->a, l->found, l->ident, key);
    l->locked_until = throttle_locked_until(c, key);
    return l->locked_until < 0 ? STORE_ERROR : STORE_OK;
}

static int login_write(store_conn *c, void *arg)
{
    struct login *l = arg;
    char key[96], det[160];
    account_key(&l->a, l->found, l->ident, key);
    long long until = throttle_locked_until(c, key);
    if (until < 0) return STORE_ERROR;
    l->locked = 0;
    l->stage = NULL;
    const char *object = l->found ? l->a.login : "(unknown)";
    if (until > 0) {
        l->locked = 1;
        l->locked_until = until;
        return auth_audit(l->r, c, "auth.login", object, "locked", NULL);
    }
    if (!l->found || !l->password_ok) {
        int rc = throttle_fail(c, key, policy_lockout_threshold(l->cfg), l->cfg);
        if (rc < 0) return rc;
        if (address_failed(l->r, c) != STORE_OK) return STORE_ERROR;
        snprintf(det, sizeof det, "{\"reason\":\"%s\"}", l->found ? "password" : "unknown account");
        if ((rc = auth_audit(l->r, c, "auth.login", object, "failed", det)) != STORE_OK) return rc;
        if (rc == STORE_OK && throttle_locked_until(c, key) > 0) {
            l->locked = 1;
            l->locked_until = throttle_locked_until(c, key);
            snprintf(det, sizeof det, "{\"until\":%lld}", l->locked_until);
            return auth_audit(l->r, c, "auth.lock", object, "locked", det);
        }
        return STORE_OK;
    }
    if (!ip_in_ranges(http_req_client(l->r), l->a.ip_ranges)) {
        l->ip_denied = 1;
        return auth_audit(l->r, c, "auth.login", object, "denied",
                          "{\"reason\":\"address outside allowed ranges\"}");
    }
    int rc = throttle_clear(c, key);
    if (rc != STORE_OK) return rc;
    /* raise the cost of an old hash now that the password is at hand (done by caller) */
    l->stage = acct_next_stage(&l->a, l->cfg, 0);
    if ((rc = session_create(l->r, c, l->a.id, l->stage, 0, 0, l->csrf)) != STORE_OK) return rc;
    snprintf(det, sizeof det, "{\"stage\":\"%s\",\"method\":\"password\"}", l->stage);
    return auth_audit(l->r, c, "auth.login", l->a.login, "ok", det);
}

/* Rehash with the configured cost after a successful check (best effort). */
struct rehash {
    long long id;
    const char *hash;
};
static int rehash_tx(store_conn *c, void *arg)
{
    struct rehash *h = arg;
    store_stmt *st = store_prepare(c, "UPDATE account SET password_hash = $2 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, h->id);
    store_bind_text(st, 2, h->hash);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

int auth_reply_locked(http_req *r, long long until)
{
    char ra[24];
    long long left = until - (long long)now_wall();
    snprintf(ra, sizeof ra, "%lld", left > 0 ? left : 1);
    http_add_header(r, "Retry-After", ra);
    return http_reply_error(
        r, 423, "locked",
        "too many failed attempts: this account is locked for a while; try again later or "
        "ask the security administrator to unlock it",
        NULL);
}

/* Staff and administrators who hold a token use it: SMS is only their way to their
 * first log-in (seed 003: OTP for staff). */
static int sms_allowed(const struct acct *a)
{
    int staff = !strcmp(a->kind, "staff") || !strcmp(a->kind, "admin");
    return a->has_mobile && !(staff && a->has_totp);
}

static json_t *login_reply(const char *stage, const char *csrf, const struct acct *a)
{
    json_t *methods = json_array();
    if (!strcmp(stage, "mfa")) {
        if (a->has_totp) json_array_append_new(methods, json_string("totp"));
        if (sms_allowed(a)) json_array_append_new(methods, json_string("sms"));
    }
    return json_pack("{s:s, s:s, s:o, s:{s:I, s:s, s:s}}", "stage", stage, "csrf", csrf, "mfa_methods",
                     methods, "account", "id", (json_int_t)a->id, "login", a->login, "kind", a->kind);
}

static const char DUMMY_HASH_PASSWORD[] = "ehall dummy password";

/* A hash to check when the account does not exist, so that both cost the same. */
static char dummy_hash[AUTH_PASSWORD_HASH_MAX];
static int dummy_iterations;
static void make_dummy(void)
{
    auth_password_hash(DUMMY_HASH_PASSWORD, dummy_iterations, dummy_hash, sizeof dummy_hash);
}

/* On a worker thread (http_defer): the slow part, and nothing else. */
static void login_verify(void *arg)
{
    struct login *l = arg;
    if (l->locked_until != 0) return;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    dummy_iterations = (int)l->cfg->password_iterations;
    pthread_once(&once, make_dummy);
    l->password_ok = auth_password_verify(l->password, l->found ? l->a.hash : dummy_hash) == 0 && l->found;
    if (l->password_ok && auth_password_needs_rehash(l->a.hash, (int)l->cfg->password_iterations) &&
        auth_password_hash(l->password, (int)l->cfg->password_iterations, l->rehash, sizeof l->rehash) != 0)
        l->rehash[0] = 0;
}

/* Back on the I/O thread: count, lock or log in, in one short transaction. */
static int login_finish(http_req *r)
{
    struct login *l = http_req_defer_arg(r);
    struct app *app = req_app(r);
    if (store_tx(app->db, 1, login_write, l) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (l->locked) return auth_reply_locked(r, l->locked_until);
    if (l->ip_denied)
        return http_reply_error(r, 403, "address_not_allowed",
                                "this account may not log in from your address; use an allowed workstation",
                                NULL);
    if (!l->stage)
        return http_reply_error(r, 401, "invalid_credentials", "the account or the password is wrong", NULL);
    if (l->rehash[0]) {
        struct rehash rh = {l->a.id, l->rehash};
        if (store_tx(app->db, 1, rehash_tx, &rh) == STORE_OK)
            log_info("password hash of account %lld upgraded", l->a.id);
    }
    return http_reply_json(r, 200, login_reply(l->stage, l->csrf, &l->a));
}

int auth_login(http_req *r)
{
    static const char *known[] = {"login", "password", "captcha_id", "captcha", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *ident = input_str(&in, "login", 1, 1, 64);
    const char *password = input_str(&in, "password", 1, 1, 128);
    const char *cid = input_str(&in, "captcha_id", 1, 1, 64);
    const char *answer = input_str(&in, "captcha", 1, 1, 16);
    if (input_done(&in) != 0) return 0;
    struct app *app = req_app(r);

    if (address_throttled(r)) return 0;
    if (captcha_consume(app->db, cid, answer) != 0)
        return http_reply_error(r, 400, "captcha", "the captcha answer is wrong or expired: get a new one",
                                json_pack("[o]", http_field_error("captcha", "wrong or expired")));

    struct login *l = arena_alloc(http_req_arena(r), sizeof *l);
    if (!l) return http_reply_error(r, 503, "unavailable", "out of memory", NULL);
    memset(l, 0, sizeof *l);
    l->r = r;
    l->cfg = app->cfg;
    l->ident = ident;
    l->password = password;
    if (store_tx(app->db, 0, login_read, l) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    /* the hash takes tens of milliseconds: off this I/O thread, whose other
     * connections keep being served meanwhile */
    if (http_defer(r, login_verify, login_finish, l) != 0) {
        login_verify(l);
        return login_finish(r);
    }
    return 0;
}

/* ---------- the second factor ---------- */

struct mfa {
    http_req *r;
    const struct config *cfg;
    const char *method, *code;
    struct acct a;
    int ok, locked;
    long long until;
    const char *stage;
    char csrf[65];
};

int totp_match(const unsigned char *key, size_t klen, const char *digest, const char *code, long long *step)
{
    long long now = (long long)now_wall() / 30, found = -1;
    /* every candidate is computed and compared; no early exit */
    for (long long s = now - 1; s <= now + 1; s++) {
        char want[10];
        if (crypto_totp(key, klen, digest, s * 30, 30, 6, want) != 0) return -1;
        if (strlen(code) == 6 && crypto_equal(want, code, 6) == 0) found = s;
    }
    if (found < 0) return -1;
    *step = found;
    return 0;
}

/* The code must match a time step later than the last one used: a code seen once
 * (over a shoulder, in a proxy log) cannot be replayed within its 30-second window. */
static int totp_ok(store_conn *c, long long id, const char *digest, const char *code)
{
    store_stmt *st = store_prepare(c, "SELECT totp_enc, totp_step FROM account WHERE id = $1");
    if (!st) return -1;
    store_bind_int64(st, 1, id);
    char *secret = NULL;
    long long last = 0;
    if (store_step(st) == STORE_ROW && !store_column_is_null(st, 0)) {
        secret = keys_open(store_column_text(st, 0));
        last = store_column_int64(st, 1);
    }
    store_finalize(st);
    if (!secret) return -1;
    unsigned char key[64];
    size_t klen = 0;
    long long step = 0;
    int ok = crypto_base32_decode(secret, key, sizeof key, &klen) == 0 &&
             totp_match(key, klen, digest, code, &step) == 0 && step > last;
    crypto_wipe(key, sizeof key);
    crypto_wipe(secret, strlen(secret));
    free(secret);
    if (!ok) return -1;
    st = store_prepare(c, "UPDATE account SET totp_step = $2 WHERE id = $1");
    if (!st) return -1;
    store_bind_int64(st, 1, id);
    store_bind_int64(st, 2, step);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? 0 : -1;
}

static int mfa_tx(store_conn *c, void *arg)
{
    struct mfa *m = arg;
    const struct principal *p = auth_principal(m->r);
    int rc = acct_by_id(c, p->account, &m->a);
    if (rc != 1) return rc < 0 ? rc : STORE_ERROR;
    char key[96], target[48];
    snprintf(key, sizeof key, "acct:%lld", m->a.id);
    snprintf(target, sizeof target, "acct:%lld", m->a.id);
    m->stage = NULL;
    if ((m->until = throttle_locked_until(c, key)) != 0) {
        m->locked = 1;
        return STORE_OK;
    }
    if (!strcmp(m->method, "totp"))
        m->ok = m->a.has_totp && totp_ok(c, m->a.id, m->a.totp_digest, m->code) == 0;
    else
        m->ok = sms_allowed(&m->a) && otp_check(c, "mfa", target, m->code) == 0;
    char det[96];
    snprintf(det, sizeof det, "{\"method\":\"%s\"}", m->method);
    if (!m->ok) {
        rc = throttle_fail(c, key, policy_lockout_threshold(m->cfg), m->cfg);
        if (rc < 0) return rc;
        if ((rc = auth_audit(m->r, c, "auth.mfa", m->a.login, "failed", det)) != STORE_OK) return rc;
        if (throttle_locked_until(c, key) > 0) {
            m->locked = 1;
            m->until = throttle_locked_until(c, key);
            /* the half-made session ends with the lock */
            if ((rc = session_end(c, p->sid_hash)) != STORE_OK) return rc;
            return auth_audit(m->r, c, "auth.lock", m->a.login, "locked", det);
        }
        return STORE_OK;
    }
    if ((rc = throttle_clear(c, key)) != STORE_OK) return rc;
    /* a new session id for the new privilege; the old one ends */
    if ((rc = session_end(c, p->sid_hash)) != STORE_OK) return rc;
    m->stage = acct_next_stage(&m->a, m->cfg, 1);
    if ((rc = session_create(m->r, c, m->a.id, m->stage, 0, 0, m->csrf)) != STORE_OK) return rc;
    return auth_audit(m->r, c, "auth.mfa", m->a.login, "ok", det);
}

int auth_mfa(http_req *r)
{
    static const char *known[] = {"method", "code", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *method = input_str(&in, "method", 1, 3, 4);
    const char *code = input_str(&in, "code", 1, 6, 6);
    if (method && strcmp(method, "totp") != 0 && strcmp(method, "sms") != 0)
        input_error(&in, "method", "must be totp or sms");
    if (code && strspn(code, "0123456789") != 6) input_error(&in, "code", "must be 6 digits");
    if (input_done(&in) != 0) return 0;
    const struct principal *p = auth_principal(r);
    if (strcmp(p->stage, "mfa") != 0)
        return http_reply_error(r, 409, "wrong_stage", "no second factor is due in this session", NULL);
    struct mfa m = {.r = r, .cfg = req_app(r)->cfg, .method = method, .code = code};
    if (store_tx(req_app(r)->db, 1, mfa_tx, &m) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (m.locked) {
        session_clear_cookie(r);
        return auth_reply_locked(r, m.until);
    }
    if (!m.stage)
        return http_reply_error(r, 401, "invalid_code", "the code is wrong or expired",
                                json_pack("[o]", http_field_error("code", "wrong or expired")));
    return http_reply_json(r, 200, login_reply(m.stage, m.csrf, &m.a));
}

/* POST /api/v1/auth/mfa/sms: send a code to the account's mobile for this log-in. */
struct mfa_sms {
    long long id;
    const struct config *cfg;
    int sent;
};

static int mfa_sms_tx(store_conn *c, void *arg)
{
    struct mfa_sms *m = arg;
    struct acct a;
    int found = acct_by_id(c, m->id, &a);
    if (found < 0) return found;
    if (found != 1 || !sms_allowed(&a)) return STORE_OK; /* "no mobile" (or none usable) */
    store_stmt *st = store_prepare(c, "SELECT mobile_enc FROM account WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, m->id);
    char *mobile = NULL;
    if (store_step(st) == STORE_ROW && !store_column_is_null(st, 0))
        mobile = keys_open(store_column_text(st, 0));
    store_finalize(st);
    if (!mobile) return STORE_OK;
    char target[48];
    snprintf(target, sizeof target, "acct:%lld", m->id);
    int rc = otp_issue(c, m->cfg, "mfa", target, mobile);
    free(mobile);
    if (rc < 0) return rc;
    m->sent = rc == 0 ? 1 : -1;
    return STORE_OK;
}

int auth_mfa_sms(http_req *r)
{
    const struct principal *p = auth_principal(r);
    if (strcmp(p->stage, "mfa") != 0)
        return http_reply_error(r, 409, "wrong_stage", "no second factor is due in this session", NULL);
    struct mfa_sms m = {p->account, req_app(r)->cfg, 0};
    if (store_tx(req_app(r)->db, 1, mfa_sms_tx, &m) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (m.sent == 0)
        return http_reply_error(r, 409, "no_mobile", "no SMS for this account: use your TOTP token", NULL);
    if (m.sent < 0)
        return http_reply_error(r, 429, "too_soon", "a code was sent less than a minute ago; wait for it",
                                NULL);
    sms_flush(req_app(r)->db, req_app(r)->cfg);
    return http_reply_json(
        r, 202,
        json_pack("{s:s, s:I}", "status", "sent", "expires_in", (json_int_t)req_app(r)->cfg->otp_ttl));
}

/* ---------- log out ---------- */

static int logout_tx(store_conn *c, void *arg)
{
    http_req *r = arg;
    const struct principal *p = auth_principal(r);
    int rc = session_end(c, p->sid_hash);
    if (rc != STORE_OK) return rc;
    return auth_audit(r, c, "auth.logout", p->login, "ok", NULL);
}

int auth_logout(http_req *r)
{
    if (store_tx(req_app(r)->db, 1, logout_tx, r) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    session_clear_cookie(r);
    return http_reply_json(r, 200, json_pack("{s:s}", "status", "logged out"));
}

/* ---------- certificate log-in ---------- */

struct challenge {
    http_req *r;
    const struct config *cfg;
    const char *ident, *id, *sig_hex;
    char nonce[65], cid[33];
    struct acct a;
    int found, ok, locked, ip_denied;
    long long until;
    const char *stage;
    char csrf[65];
};

static int challenge_tx(store_conn *c, void *arg)
{
    struct challenge *ch = arg;
    int rc = acct_find(c, ch->ident, &ch->a);
    if (rc < 0) return rc;
    /* unknown accounts get a challenge too, which no signature will ever answer */
    store_stmt *st = store_prepare(
        c, "INSERT INTO cert_challenge(id, account_id, nonce, expires_at) VALUES ($1, $2, $3, $4)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, ch->cid);
    store_bind_int64(st, 2, rc == 1 ? ch->a.id : 0);
    store_bind_text(st, 3, ch->nonce);
    store_bind_int64(st, 4, (long long)now_wall() + ch->cfg->challenge_ttl);
    rc = store_step(st);
    store_finalize(st);
    /* old challenges go, so the table stays small */
    if (rc == STORE_DONE) {
        store_stmt *d = store_prepare(c, "DELETE FROM cert_challenge WHERE expires_at < $1");
        if (!d) return STORE_ERROR;
        store_bind_int64(d, 1, (long long)now_wall() - 3600);
        rc = store_step(d);
        store_finalize(d);
    }
    return rc == STORE_DONE ? STORE_OK : rc;
}

static void challenge_text(const char *cid, const char *nonce, char *out, size_t len)
{
    snprintf(out, len, "ehall-login-challenge:%s:%s", cid, nonce);
}

int auth_cert_challenge(http_req *r)
{
    static const char *known[] = {"login", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *ident = input_str(&in, "login", 1, 1, 64);
    if (input_done(&in) != 0) return 0;
    struct challenge ch = {.r = r, .cfg = req_app(r)->cfg, .ident = ident};
    unsigned char b[32];
    random_bytes(b, 16);
    hex_encode(b, 16, ch.cid);
    random_bytes(b, 32);
    hex_encode(b, 32, ch.nonce);
    if (store_tx(req_app(r)->db, 1, challenge_tx, &ch) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    char text[160];
    challenge_text(ch.cid, ch.nonce, text, sizeof text);
    return http_reply_json(r, 200,
                           json_pack("{s:s, s:s, s:s, s:I}", "challenge_id", ch.cid, "challenge", text,
                                     "signer_id", CRYPTO_SM2_DEFAULT_ID, "expires_in",
                                     (json_int_t)ch.cfg->challenge_ttl));
}

static int cert_login_tx(store_conn *c, void *arg)
{
    struct challenge *ch = arg;
    /* single use: the challenge is deleted whatever happens next */
    store_stmt *st =
        store_prepare(c, "DELETE FROM cert_challenge WHERE id = $1 RETURNING account_id, nonce, expires_at");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, ch->id);
    int rc = store_step(st);
    long long account = 0, expires = 0;
    if (rc == STORE_ROW) {
        account = store_column_int64(st, 0);
        snprintf(ch->nonce, sizeof ch->nonce, "%s", store_column_text(st, 1));
        expires = store_column_int64(st, 2);
        rc = store_step(st);
    }
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    ch->stage = NULL;
    if (!account || expires < (long long)now_wall()) {
        if ((rc = address_failed(ch->r, c)) != STORE_OK) return rc;
        return auth_audit(ch->r, c, "auth.login", "(certificate)", "failed",
                          "{\"method\":\"certificate\",\"reason\":\"unknown or expired challenge\"}");
    }
    if ((rc = acct_by_id(c, account, &ch->a)) != 1) return rc < 0 ? rc : STORE_OK;
    char key[96];
    snprintf(key, sizeof key, "acct:%lld", account);
    if ((ch->until = throttle_locked_until(c, key)) != 0 || strcmp(ch->a.status, "active") != 0) {
        ch->locked = ch->until != 0;
        return auth_audit(ch->r, c, "auth.login", ch->a.login, ch->locked ? "locked" : "failed",
                          "{\"method\":\"certificate\"}");
    }
    char text[160];
    challenge_text(ch->id, ch->nonce, text, sizeof text);
    size_t siglen = strlen(ch->sig_hex) / 2;
    unsigned char *sig = malloc(siglen ? siglen : 1);
    if (!sig) return STORE_ERROR;
    int sig_ok = hex_decode(ch->sig_hex, siglen, sig) == 0;
    st = store_prepare(c, "SELECT id, fingerprint, public_key, mac FROM cert_key WHERE account_id = $1"
                          " AND revoked_at IS NULL");
    if (!st) {
        free(sig);
        return STORE_ERROR;
    }
    store_bind_int64(st, 1, account);
    int tampered = 0;
    while (sig_ok && !ch->ok && store_step(st) == STORE_ROW) {
        const char *fp = store_column_text(st, 1), *pem = store_column_text(st, 2);
        /* a key slipped into the database behind ehall's back is never used */
        if (cert_mac(store_column_int64(st, 0), account, fp, pem, NULL, NULL, store_column_text(st, 3)) !=
            0) {
            tampered = 1;
            continue;
        }
        ch->ok = crypto_sm2_verify(pem, CRYPTO_SM2_DEFAULT_ID, text, strlen(text), sig, siglen) == 0;
    }
    store_finalize(st);
    if (tampered) {
        log_error("a registered key of account %lld failed its integrity check and was not used", account);
        if ((rc = auth_audit(ch->r, c, "security.integrity", "cert_key", "tampered", NULL)) != STORE_OK) {
            free(sig);
            return rc;
        }
    }
    free(sig);
    if (!ch->ok) {
        if ((rc = throttle_fail(c, key, policy_lockout_threshold(ch->cfg), ch->cfg)) < 0) return rc;
        if ((rc = address_failed(ch->r, c)) != STORE_OK) return rc;
        return auth_audit(ch->r, c, "auth.login", ch->a.login, "failed",
                          "{\"method\":\"certificate\",\"reason\":\"signature\"}");
    }
    if (!ip_in_ranges(http_req_client(ch->r), ch->a.ip_ranges)) {
        ch->ip_denied = 1;
        return auth_audit(ch->r, c, "auth.login", ch->a.login, "denied",
                          "{\"method\":\"certificate\",\"reason\":\"address outside allowed ranges\"}");
    }
    if ((rc = throttle_clear(c, key)) != STORE_OK) return rc;
    /* the key (a USB key with its PIN) is the second factor */
    ch->stage = acct_next_stage(&ch->a, ch->cfg, 1);
    if ((rc = session_create(ch->r, c, account, ch->stage, 0, 0, ch->csrf)) != STORE_OK) return rc;
    return auth_audit(ch->r, c, "auth.login", ch->a.login, "ok", "{\"method\":\"certificate\"}");
}

int auth_cert_login(http_req *r)
{
    static const char *known[] = {"challenge_id", "signature", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *id = input_str(&in, "challenge_id", 1, 32, 32);
    const char *sig = input_str(&in, "signature", 1, 16, 400);
    if (sig && (strlen(sig) % 2 || strspn(sig, "0123456789abcdef") != strlen(sig)))
        input_error(&in, "signature", "must be the DER signature in lower-case hex");
    if (input_done(&in) != 0) return 0;
    if (address_throttled(r)) return 0;
    struct challenge ch = {.r = r, .cfg = req_app(r)->cfg, .id = id, .sig_hex = sig};
    if (store_tx(req_app(r)->db, 1, cert_login_tx, &ch) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (ch.locked) return auth_reply_locked(r, ch.until);
    if (ch.ip_denied)
        return http_reply_error(r, 403, "address_not_allowed",
                                "this account may not log in from your address; use an allowed workstation",
                                NULL);
    if (!ch.stage)
        return http_reply_error(r, 401, "invalid_signature",
                                "the challenge is unknown, used or expired, or the signature does not "
                                "verify: get a new challenge",
                                NULL);
    return http_reply_json(r, 200, login_reply(ch.stage, ch.csrf, &ch.a));
}
