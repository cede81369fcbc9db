/*
 * rbac.c — the permission catalog, the built-in roles and loading what an account
 * holds.  See rbac.h.
 */
#include "auth/rbac.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/keys.h"
#include "core/core.h"
#include "core/metrics.h"

/* Every permission ehall knows.  Those with an administrator role belong to that
 * built-in role only; the others can be put into roles by the security administrator. */
static const struct perm_info CATALOG[] = {
    /* system administrator: the organisation */
    {"org.dept.manage", "create and rename departments", "sysadmin"},
    {"org.staff.manage", "create, change and disable staff accounts", "sysadmin"},
    {"org.account.read", "list accounts (masked)", "sysadmin"},
    {"item.manage", "administer the service-item catalog: list every version, put items online and offline",
     "sysadmin"},
    {"notice.manage", "publish, edit and withdraw portal notices (audited)", "sysadmin"},
    /* security administrator: security */
    {"security.role.manage", "create and change roles", "secadmin"},
    {"security.role.assign", "grant and revoke roles of staff accounts", "secadmin"},
    {"security.account.unlock", "unlock a locked account", "secadmin"},
    {"security.account.reset", "reset a password (the holder must change it at next log-in)", "secadmin"},
    {"security.policy.read", "read the security settings", "secadmin"},
    {"security.policy.manage",
     "change the security policy (password, lockout and session settings) and staff IP ranges (audited)",
     "secadmin"},
    /* security auditor: the audit log */
    {"audit.read", "search the audit log and verify its chain", "auditor"},
    {"audit.export", "export audit records", "auditor"},
    {"licence.app.approve", "approve or reject applications of the licence sharing gateway (audited)",
     "sysadmin"},
    /* assignable to staff roles */
    {"account.read", "look up public accounts in the data scope (masked)", NULL},
    {"account.export", "export account lists", NULL},
    {"field.name", "see names unmasked (audited)", NULL},
    {"field.id_number", "see ID numbers unmasked (audited)", NULL},
    {"field.mobile", "see mobile numbers unmasked (audited)", NULL},
    {"field.address", "see addresses unmasked (audited)", NULL},
    {"case.handle", "act on cases in the workbench (sign for, accept, review, approve) in the data scope",
     NULL},
    {"case.read", "read cases in the data scope", NULL},
    {"exchange.read", "see the exchange queue, its dead letters and the reconciliation reports", NULL},
    {"exchange.manage", "replay dead letters of the exchange (audited)", NULL},
    {"tax.read", "read taxpayers, filing calendars and declarations of tax offices in the data scope", NULL},
    {"tax.manage", "register taxpayers at tax offices in the data scope (audited)", NULL},
    {"licence.read", "see licence entries of the data scope (the manual issuing flow)", NULL},
    {"licence.enter", "enter a licence for issuing (entry clerk)", NULL},
    {"licence.review", "check an entered licence against its paper (reviewer)", NULL},
    {"licence.seal", "seal and store a reviewed licence (seal officer)", NULL},
    {"licence.revoke", "revoke an issued licence with a reason (audited)", NULL},
    {"licence.manage", "administer the department's licence types (department administrator)", NULL},
};

static const struct perm_info ENTERPRISE[] = {
    {"ent.manage", "manage the enterprise's accounts and agents", NULL},
    {"ent.apply", "apply for services for the enterprise", NULL},
    {"ent.file", "file tax declarations", NULL},
    {"ent.pay", "pay taxes and fees", NULL},
    {"ent.view", "see the enterprise's cases and records", NULL},
};

/* What an agent may do for an enterprise while acting under a grant. */
const char RBAC_AGENT_PERMS[] = ",ent.apply,ent.file,ent.view,";

size_t rbac_catalog(const struct perm_info **out)
{
    *out = CATALOG;
    return EHALL_ARRAY_LEN(CATALOG);
}

size_t rbac_enterprise_catalog(const struct perm_info **out)
{
    *out = ENTERPRISE;
    return EHALL_ARRAY_LEN(ENTERPRISE);
}

int rbac_perm_known(const char *code)
{
    for (size_t i = 0; i < EHALL_ARRAY_LEN(CATALOG); i++)
        if (!strcmp(CATALOG[i].code, code)) return 1;
    return 0;
}

static const struct {
    const char *code, *name;
} ADMIN_ROLES[] = {
    {"sysadmin", "System administrator"},
    {"secadmin", "Security administrator"},
    {"auditor", "Security auditor"},
};

int rbac_admin_role(const char *code)
{
    for (size_t i = 0; i < EHALL_ARRAY_LEN(ADMIN_ROLES); i++)
        if (!strcmp(code, ADMIN_ROLES[i].code)) return 1;
    return 0;
}

/* ",a,b," of the catalog entries held by an administrator role */
static void admin_perms(const char *role, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, ",");
    for (size_t i = 0; i < EHALL_ARRAY_LEN(CATALOG); i++)
        if (CATALOG[i].admin && !strcmp(CATALOG[i].admin, role) && n < len)
            n += (size_t)snprintf(out + n, len - n, "%s,", CATALOG[i].code);
}

int rbac_role_mac(const char *code, const char *scope, const char *perms, char mac[KEYS_TAG_MAX])
{
    return keys_row_mac("role", (const char *[]){code, scope, perms}, 3, mac);
}

int rbac_grant_mac(long long account, long long role, char mac[KEYS_TAG_MAX])
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", account);
    snprintf(b, sizeof b, "%lld", role);
    return keys_row_mac("account_role", (const char *[]){a, b}, 2, mac);
}

int rbac_member_mac(long long account, long long enterprise, int admin, const char *perms,
                    char mac[KEYS_TAG_MAX])
{
    char a[24], e[24], ad[4];
    snprintf(a, sizeof a, "%lld", account);
    snprintf(e, sizeof e, "%lld", enterprise);
    snprintf(ad, sizeof ad, "%d", admin ? 1 : 0);
    return keys_row_mac("enterprise_member", (const char *[]){a, e, ad, perms}, 4, mac);
}

int rbac_seed(store_conn *c)
{
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    for (size_t i = 0; i < EHALL_ARRAY_LEN(ADMIN_ROLES); i++) {
        char perms[512], mac[KEYS_TAG_MAX];
        admin_perms(ADMIN_ROLES[i].code, perms, sizeof perms);
        if (rbac_role_mac(ADMIN_ROLES[i].code, "all", perms, mac) != 0) return STORE_ERROR;
        store_stmt *st =
            store_prepare(c, "INSERT INTO role(code, name, scope, builtin, perms, mac, updated_at)"
                             " VALUES ($1, $2, 'all', 1, $3, $4, $5) ON CONFLICT (code) DO NOTHING");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, ADMIN_ROLES[i].code);
        store_bind_text(st, 2, ADMIN_ROLES[i].name);
        store_bind_text(st, 3, perms);
        store_bind_text(st, 4, mac);
        store_bind_text(st, 5, ts);
        int rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    return STORE_OK;
}

/* The three administrators' roles are defined here, in code: after an upgrade adds a
 * permission to one of them (notice.manage, say), a database bootstrapped earlier still
 * holds the old list.  Called at every `ehall serve` start, this brings each built-in
 * role's permissions (and MAC) to the code's definition and audits every change
 * (`security.role.sync`).  A role whose row was tampered with is rewritten too: the code,
 * not the row, is the authority for built-in roles. */
int rbac_sync_builtin(store_conn *c)
{
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    for (size_t i = 0; i < EHALL_ARRAY_LEN(ADMIN_ROLES); i++) {
        char perms[512], mac[KEYS_TAG_MAX];
        admin_perms(ADMIN_ROLES[i].code, perms, sizeof perms);
        if (rbac_role_mac(ADMIN_ROLES[i].code, "all", perms, mac) != 0) return STORE_ERROR;
        store_stmt *st =
            store_prepare(c, "UPDATE role SET perms = $1, mac = $2, scope = 'all', updated_at = $3"
                             " WHERE code = $4 AND builtin = 1 AND (perms <> $1 OR mac <> $2"
                             " OR scope <> 'all') RETURNING id");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, perms);
        store_bind_text(st, 2, mac);
        store_bind_text(st, 3, ts);
        store_bind_text(st, 4, ADMIN_ROLES[i].code);
        int rc = store_step(st);
        store_finalize(st);
        if (rc == STORE_DONE) continue;
        if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
        char object[64];
        snprintf(object, sizeof object, "role:%s", ADMIN_ROLES[i].code);
        json_t *d = json_pack("{s:s}", "perms", perms);
        char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        struct audit_event e = {"system", NULL, NULL, NULL, "security.role.sync", object, "ok", dt};
        rc = audit_append(c, &e);
        free(dt);
        if (rc != STORE_OK) return rc;
        log_info("built-in role %s brought to this version's permissions", ADMIN_ROLES[i].code);
    }
    return STORE_OK;
}

static int scope_rank(const char *s)
{
    static const char *order[] = {"own", "dept", "subtree", "all"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, order[i])) return i;
    return 0;
}

/* Append the perms of one set (",a,b,") to the growing list, skipping duplicates. */
static void add_perms(struct strbuf *sb, const char *set)
{
    const char *p = set;
    while (*p) {
        while (*p == ',') p++;
        size_t n = strcspn(p, ",");
        if (!n) break;
        char one[96];
        if (n < sizeof one - 2) {
            snprintf(one, sizeof one, ",%.*s,", (int)n, p);
            if (!sb->data || !strstr(sb->data, one)) sb_printf(sb, "%.*s,", (int)n, p);
        }
        p += n;
    }
}

int rbac_load(store_conn *c, long long account, const char *kind, char **perms, char scope[16],
              char tampered[128])
{
    struct strbuf sb = {0};
    sb_printf(&sb, ",");
    snprintf(scope, 16, "own");
    tampered[0] = 0;
    int rc = STORE_OK;
    if (!strcmp(kind, "staff") || !strcmp(kind, "admin")) {
        store_stmt *st = store_prepare(c, "SELECT r.id, r.code, r.scope, r.perms, r.mac, ar.mac, r.builtin"
                                          " FROM account_role ar JOIN role r ON r.id = ar.role_id"
                                          " WHERE ar.account_id = $1 ORDER BY r.id");
        if (!st) {
            sb_free(&sb);
            return STORE_ERROR;
        }
        store_bind_int64(st, 1, account);
        while ((rc = store_step(st)) == STORE_ROW) {
            long long role = store_column_int64(st, 0);
            const char *code = store_column_text(st, 1), *sc = store_column_text(st, 2),
                       *ps = store_column_text(st, 3), *rmac = store_column_text(st, 4),
                       *gmac = store_column_text(st, 5);
            char ids[24], rid[24];
            snprintf(ids, sizeof ids, "%lld", account);
            snprintf(rid, sizeof rid, "%lld", role);
            if (keys_row_mac_check("role", (const char *[]){code, sc, ps}, 3, rmac) != 0) {
                snprintf(tampered, 128, "role %s", code);
                continue;
            }
            if (keys_row_mac_check("account_role", (const char *[]){ids, rid}, 2, gmac) != 0) {
                snprintf(tampered, 128, "account_role %lld/%s", account, code);
                continue;
            }
            /* an administrator acts only in that role, and no other account holds one */
            int admin_role = rbac_admin_role(code);
            if (admin_role != !strcmp(kind, "admin")) {
                snprintf(tampered, 128, "account_role %lld/%s", account, code);
                continue;
            }
            /* the role codes ride along ("@" administrators, "#" staff roles): the
             * case engine matches workflow steps against them */
            sb_printf(&sb, "%s%s,", admin_role ? "@" : "#", code);
            add_perms(&sb, ps);
            if (scope_rank(sc) > scope_rank(scope)) snprintf(scope, 16, "%s", sc);
        }
        store_finalize(st);
        rc = rc == STORE_DONE ? STORE_OK : rc;
    } else {
        store_stmt *st = store_prepare(
            c, "SELECT enterprise_id, admin, perms, mac FROM enterprise_member WHERE account_id = $1");
        if (!st) {
            sb_free(&sb);
            return STORE_ERROR;
        }
        store_bind_int64(st, 1, account);
        rc = store_step(st);
        if (rc == STORE_ROW) {
            long long ent = store_column_int64(st, 0);
            int admin = (int)store_column_int64(st, 1);
            const char *ps = store_column_text(st, 2), *mac = store_column_text(st, 3);
            char ids[24], eid[24], ad[4];
            snprintf(ids, sizeof ids, "%lld", account);
            snprintf(eid, sizeof eid, "%lld", ent);
            snprintf(ad, sizeof ad, "%d", admin);
            if (keys_row_mac_check("enterprise_member", (const char *[]){ids, eid, ad, ps}, 4, mac) != 0) {
                snprintf(tampered, 128, "enterprise_member %lld", account);
            } else if (admin) {
                for (size_t i = 0; i < EHALL_ARRAY_LEN(ENTERPRISE); i++)
                    sb_printf(&sb, "%s,", ENTERPRISE[i].code);
            } else {
                add_perms(&sb, ps);
            }
            rc = STORE_OK;
        } else {
            rc = rc == STORE_DONE ? STORE_OK : rc;
        }
        store_finalize(st);
    }
    if (rc != STORE_OK || sb.oom) {
        sb_free(&sb);
        return rc != STORE_OK ? rc : STORE_ERROR;
    }
    *perms = sb.data;
    return STORE_OK;
}
