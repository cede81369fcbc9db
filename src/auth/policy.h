/*
 * policy — the security policy in force: password, lockout and session settings that
 * the security administrator may change at run time (PUT /api/v1/admin/security).
 *
 * The configuration gives every value; a console override of one of the keys below is
 * a row of the `setting` table (key, value {"value": N, "mac": "…"}, updated_at,
 * updated_by) whose MAC is HMAC-SM3 over key, value, updated_at and updated_by
 * (keys_row_mac "setting").  Each process keeps an immutable snapshot of the valid
 * overrides, refreshed from the table by the keeper every few seconds and at once on
 * the node that saved a change, so a change reaches every node of a cluster without a
 * restart.  A row whose MAC does not verify (or whose value is out of range) is
 * ignored — the configuration's value applies — logged and audited once as
 * security.integrity.  Every place in src/auth that reads one of these settings reads
 * auth_policy_get(), never the config fields directly.
 */
#ifndef EHALL_AUTH_POLICY_H
#define EHALL_AUTH_POLICY_H

#include "store/store.h"

struct config;

/* The most password-history entries the policy may ask for (each costs a slow hash at
 * every password change). */
#define AUTH_POLICY_HISTORY_MAX 12

struct auth_policy {
    long long password_expiry_days; /* auth.password_expiry_days (0 = never) */
    long long password_history;     /* auth.password_history: earlier passwords refused */
    long long lockout_threshold;    /* auth.lockout_threshold */
    long long lockout_window;       /* auth.lockout_window (s) */
    long long lockout_duration;     /* auth.lockout_duration (s) */
    long long ip_fail_limit;        /* auth.ip_fail_limit (0 = off) */
    long long session_idle;         /* session.idle_timeout (s) */
    long long session_lifetime;     /* session.max_lifetime (s) */
    long long session_staff_max;    /* session.staff_max */
};

/* The policy in force: cfg's values with the current snapshot's overrides applied. */
void auth_policy_get(const struct config *cfg, struct auth_policy *out);
/* Read the overrides from the setting table and publish a new snapshot.  Tampered or
 * out-of-range rows are skipped, logged and (once per distinct row) audited.  Returns 0,
 * or -1 when the table could not be read (the old snapshot stays). */
int auth_policy_refresh(store *s);

#endif
