/*
 * rbac — permissions, roles and who holds them.
 *
 * Permissions are fixed in code (the catalog in rbac.c: a code and what it allows);
 * roles are data — a set of permissions and a data scope — and accounts hold roles.
 * Role, account-role and enterprise-member rows carry an HMAC-SM3 (keys_row_mac) that
 * is checked whenever they are loaded: a row changed in the database behind ehall's
 * back is refused, logged and audited, and its permissions are not granted.
 *
 * The three administrator roles are built in and disjoint: the system administrator
 * runs the organisation (departments, staff accounts), the security administrator
 * runs security (roles, grants, policy, unlocks and resets), and the security auditor
 * reads and exports the audit log.  An account holding one of them can hold no other
 * role, and there is no role with every permission.
 */
#ifndef EHALL_RBAC_H
#define EHALL_RBAC_H

#include <stddef.h>

#include "auth/keys.h"
#include "store/store.h"

struct perm_info {
    const char *code;
    const char *doc;
    const char *admin; /* built-in administrator role that holds it, or NULL (assignable) */
};
size_t rbac_catalog(const struct perm_info **out);
/* 1 when code is in the catalog. */
int rbac_perm_known(const char *code);

/* Enterprise member permissions (what the enterprise administrator hands its clerks). */
size_t rbac_enterprise_catalog(const struct perm_info **out);

/* 1 for the three built-in administrator roles (sysadmin, secadmin, auditor). */
int rbac_admin_role(const char *code);
/* What an agent may do for an enterprise under a grant (",a,b,"). */
extern const char RBAC_AGENT_PERMS[];

/* The MACs of the protected rows (see keys_row_mac). */
int rbac_role_mac(const char *code, const char *scope, const char *perms, char mac[KEYS_TAG_MAX]);
int rbac_grant_mac(long long account, long long role, char mac[KEYS_TAG_MAX]);
int rbac_member_mac(long long account, long long enterprise, int admin, const char *perms,
                    char mac[KEYS_TAG_MAX]);

/* Create the built-in roles when missing (idempotent; inside the caller's tx). */
int rbac_seed(store_conn *c);
/* At every start: built-in administrator roles follow the code (audited when changed). */
int rbac_sync_builtin(store_conn *c);

/* The permissions (",a,b,") and widest data scope an account holds, from MAC-checked
 * rows; a tampered row is skipped and reported through *tampered (its table and id),
 * and the caller must audit it.  out buffers are malloc'd. */
int rbac_load(store_conn *c, long long account, const char *kind, char **perms, char scope[16],
              char tampered[128]);

#endif
