/*
 * admin.c — `ehall admin bootstrap`: the three administrators of a fresh store.
 *
 * Creates the system administrator, the security administrator and the security
 * auditor (logins sysadmin, secadmin, auditor), each holding exactly its built-in
 * role, with one-time passwords printed once here and never stored in clear.  Each
 * must change the password and enrol a second factor at first log-in.  Refused when
 * any administrator exists already: administrators are never created any other way.
 */
#include <stdio.h>
#include <string.h>

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

int cmd_admin_main(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "bootstrap") != 0) {
        fprintf(stderr, "usage: ehall admin bootstrap   create the three administrators of a fresh store\n");
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
