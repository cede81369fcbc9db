/*
 * admin.c — `ehall admin bootstrap`: the three administrators of a fresh store.
 *
 * `ehall admin reset LOGIN` is the way back in for an administrator (or a staff
 * member) who lost the password or the TOTP token: run by an operator on the server,
 * it sets a one-time password, removes the TOTP token (to be enrolled again at the
 * next log-in), lifts any lock and ends the account's sessions, all recorded in the
 * audit chain in the same transaction.  Administrators cannot do this to one another
 * through the API.
 *
 * Creates the system administrator, the security administrator and the security
 * auditor (logins sysadmin, secadmin, auditor), each holding exactly its built-in
 * role, with one-time passwords printed once here and never stored in clear.  Each
 * must change the password and enrol a second factor at first log-in.  Refused when
 * any administrator exists already: administrators are never created any other way.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/internal.h"
#include "auth/keys.h"
#include "auth/rbac.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "crypto/crypto.h"

static const char *const ADMINS[] = {"sysadmin", "secadmin", "auditor"};

struct boot {
    const char *hashes[3];
    int exists;
};

static int boot_tx(store_conn *c, void *arg)
{
    struct boot *b = arg;
    long long n = 0;
    int rc = store_query_int64(c, "SELECT COUNT(*) FROM account WHERE kind = 'admin'", &n);
    if (rc != STORE_OK) return rc;
    if (n > 0) {
        b->exists = 1;
        return STORE_OK;
    }
    if ((rc = rbac_seed(c)) != STORE_OK) return rc;
    for (int i = 0; i < 3; i++) {
        struct new_account na = {
            .login = ADMINS[i], .kind = "admin", .password_hash = b->hashes[i], .must_change = 1};
        if ((rc = account_insert(c, &na)) != STORE_OK) return rc;
        store_stmt *st = store_prepare(c, "SELECT id FROM role WHERE code = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, ADMINS[i]);
        long long role = store_step(st) == STORE_ROW ? store_column_int64(st, 0) : 0;
        store_finalize(st);
        char mac[KEYS_TAG_MAX], ts[48];
        if (!role || rbac_grant_mac(na.id, role, mac) != 0) return STORE_ERROR;
        time_rfc3339(now_wall(), ts, sizeof ts);
        st = store_prepare(
            c, "INSERT INTO account_role(account_id, role_id, granted_at, mac) VALUES ($1, $2, $3, $4)");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, na.id);
        store_bind_int64(st, 2, role);
        store_bind_text(st, 3, ts);
        store_bind_text(st, 4, mac);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    return STORE_OK;
}

struct reset {
    const char *login, *hash;
    long long id;
    char kind[16];
};

static int reset_tx(store_conn *c, void *arg)
{
    struct reset *x = arg;
    store_stmt *st =
        store_prepare(c, "SELECT id, kind FROM account WHERE login = $1 AND status <> 'deleted'");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->login);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        x->id = store_column_int64(st, 0);
        snprintf(x->kind, sizeof x->kind, "%s", store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc;
    if ((rc = account_set_password(c, x->id, x->hash, 1)) != STORE_OK) return rc;
    st = store_prepare(c,
                       "UPDATE account SET totp_enc = NULL, totp_digest = NULL, totp_step = 0 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char key[48];
    snprintf(key, sizeof key, "acct:%lld", x->id);
    if ((rc = throttle_clear(c, key)) != STORE_OK) return rc;
    if ((rc = session_end_all(c, x->id, NULL)) != STORE_OK) return rc;
    char actor[96];
    struct passwd *pw = getpwuid(getuid());
    snprintf(actor, sizeof actor, "system:%s", pw ? pw->pw_name : "unknown");
    struct audit_event e = {actor,
                            "operator",
                            "local",
                            NULL,
                            "account.password_reset",
                            x->login,
                            "ok",
                            "{\"totp\":\"removed\",\"via\":\"ehall admin reset\"}"};
    return audit_append(c, &e);
}

static int admin_reset(struct cmd_ctx *ctx, const char *login)
{
    char err[512], pw[17], hash[AUTH_PASSWORD_HASH_MAX];
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall admin reset: %s\n", err);
        return 1;
    }
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 1;
    admin_one_time_password(pw);
    if (auth_password_hash(pw, (int)ctx->cfg.password_iterations, hash, sizeof hash) != 0) {
        store_close(s);
        return 1;
    }
    struct reset x = {login, hash, 0, ""};
    int rc = store_tx(s, 1, reset_tx, &x);
    store_close(s);
    if (rc != STORE_OK) {
        fprintf(stderr, "ehall admin reset: the database refused the change (%d)\n", rc);
        return 1;
    }
    if (!x.id) {
        fprintf(stderr, "ehall admin reset: no account %s\n", login);
        return 1;
    }
    printf("%s (%s): one-time password %s\n"
           "It must be changed at the next log-in, where a new TOTP token is enrolled; every session of the "
           "account has ended.\n",
           login, x.kind, pw);
    crypto_wipe(pw, sizeof pw);
    return 0;
}

int cmd_admin_main(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "reset")) return admin_reset(ctx, argv[2]);
    if (argc != 2 || strcmp(argv[1], "bootstrap") != 0) {
        fprintf(stderr,
                "usage: ehall admin bootstrap     create the three administrators of a fresh store\n"
                "       ehall admin reset LOGIN   one-time password, TOTP removed, lock lifted, sessions "
                "ended\n");
        return 2;
    }
    char err[512];
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall admin bootstrap: %s\n", err);
        return 1;
    }
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 1;
    char pw[3][17], hashes[3][AUTH_PASSWORD_HASH_MAX];
    struct boot b = {{hashes[0], hashes[1], hashes[2]}, 0};
    for (int i = 0; i < 3; i++) {
        admin_one_time_password(pw[i]);
        if (auth_password_hash(pw[i], (int)ctx->cfg.password_iterations, hashes[i], sizeof hashes[i]) != 0) {
            fprintf(stderr, "ehall admin bootstrap: could not hash a password\n");
            store_close(s);
            return 1;
        }
    }
    int rc = store_tx(s, 1, boot_tx, &b);
    if (rc == STORE_OK && b.exists) {
        fprintf(stderr, "ehall admin bootstrap: administrators exist already; nothing changed\n");
        cmd_audit(s, "admin.bootstrap", "administrators", "refused", NULL);
        store_close(s);
        crypto_wipe(pw, sizeof pw);
        return 1;
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "ehall admin bootstrap: the database refused the change (%d)\n", rc);
        store_close(s);
        crypto_wipe(pw, sizeof pw);
        return 1;
    }
    cmd_audit(s, "admin.bootstrap", "sysadmin,secadmin,auditor", "ok", NULL);
    store_close(s);
    printf("Three administrators created.  These one-time passwords are shown once and must be changed at\n"
           "first log-in, where each administrator also enrols a TOTP second factor:\n\n");
    static const char *titles[] = {"system administrator  ", "security administrator",
                                   "security auditor      "};
    for (int i = 0; i < 3; i++) printf("  %s  login %-9s  password %s\n", titles[i], ADMINS[i], pw[i]);
    crypto_wipe(pw, sizeof pw);
    return 0;
}
