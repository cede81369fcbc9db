/*
 * policy.c — the run-time security policy: console overrides of password, lockout
 * and session settings, kept MAC'd in the `setting` table and published to every
 * request as a snapshot.  See policy.h.
 */
#include "auth/policy.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/internal.h"
#include "auth/keys.h"
#include "core/config.h"
#include "core/core.h"

#define NO_CFG ((size_t)-1)

/* The settings the console may override: the config key (also the setting row's key
 * and the PUT field), where the configuration keeps it, and the group and name under
 * which GET shows it.  Bounds are config.c's (auth.password_history has no config key:
 * its default and bounds are here). */
static const struct pkey {
    const char *key;
    size_t cfg_off, pol_off;
    const char *group, *name;
} PKEYS[] = {
    {"auth.password_expiry_days", offsetof(struct config, password_expiry_days),
     offsetof(struct auth_policy, password_expiry_days), "password", "expiry_days"},
    {"auth.password_history", NO_CFG, offsetof(struct auth_policy, password_history), "password", "history"},
    {"auth.lockout_threshold", offsetof(struct config, lockout_threshold),
     offsetof(struct auth_policy, lockout_threshold), "lockout", "threshold"},
    {"auth.lockout_window", offsetof(struct config, lockout_window),
     offsetof(struct auth_policy, lockout_window), "lockout", "window_s"},
    {"auth.lockout_duration", offsetof(struct config, lockout_duration),
     offsetof(struct auth_policy, lockout_duration), "lockout", "duration_s"},
    {"auth.ip_fail_limit", offsetof(struct config, ip_fail_limit),
     offsetof(struct auth_policy, ip_fail_limit), "lockout", "ip_fail_limit"},
    {"session.idle_timeout", offsetof(struct config, session_idle),
     offsetof(struct auth_policy, session_idle), "session", "idle_timeout_s"},
    {"session.max_lifetime", offsetof(struct config, session_lifetime),
     offsetof(struct auth_policy, session_lifetime), "session", "max_lifetime_s"},
    {"session.staff_max", offsetof(struct config, session_staff_max),
     offsetof(struct auth_policy, session_staff_max), "session", "staff_max"},
};
#define NKEYS         EHALL_ARRAY_LEN(PKEYS)
#define HISTORY_DEF   5
#define REFRESH_EVERY 5 /* seconds: the keeper's round */

static int key_index(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(PKEYS[i].key, key)) return (int)i;
    return -1;
}

static void key_range(size_t i, long long *min, long long *max)
{
    if (PKEYS[i].cfg_off == NO_CFG || config_int_range(PKEYS[i].key, min, max) != 0) {
        *min = 1;
        *max = AUTH_POLICY_HISTORY_MAX;
    }
}

static long long config_value(const struct config *cfg, size_t i)
{
    if (PKEYS[i].cfg_off == NO_CFG) return HISTORY_DEF;
    long long v;
    memcpy(&v, (const char *)cfg + PKEYS[i].cfg_off, sizeof v);
    return v;
}

/* ---------- the snapshot ---------- */

struct snapshot {
    unsigned char set[NKEYS];
    long long value[NKEYS];
    char at[NKEYS][48];
    char by[NKEYS][64];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot g_snap;         /* guarded by g_mu; replaced whole */
static char g_tampered[NKEYS][300];    /* the last tampered row text audited, per key */
static unsigned long long g_ticket;    /* refreshes started (guarded by g_mu) */
static unsigned long long g_published; /* the ticket of the snapshot in force */

static void snapshot_copy(struct snapshot *out)
{
    pthread_mutex_lock(&g_mu);
    *out = g_snap;
    pthread_mutex_unlock(&g_mu);
}

void auth_policy_get(const struct config *cfg, struct auth_policy *out)
{
    unsigned char set[NKEYS];
    long long value[NKEYS];
    pthread_mutex_lock(&g_mu); /* the values only: this runs on every request */
    memcpy(set, g_snap.set, sizeof set);
    memcpy(value, g_snap.value, sizeof value);
    pthread_mutex_unlock(&g_mu);
    for (size_t i = 0; i < NKEYS; i++) {
        long long v = set[i] ? value[i] : config_value(cfg, i);
        memcpy((char *)out + PKEYS[i].pol_off, &v, sizeof v);
    }
}

/* The MAC'd text of a setting row. */
static int setting_mac(const char *key, long long value, const char *at, const char *by,
                       char mac[KEYS_TAG_MAX], const char *check)
{
    char v[24];
    snprintf(v, sizeof v, "%lld", value);
    const char *vals[] = {key, v, at, by};
    if (check) return keys_row_mac_check("setting", vals, 4, check);
    return keys_row_mac("setting", vals, 4, mac);
}

/* A row as it is stored: 0 with *value when intact and in range, 1 when tampered or
 * malformed, 2 when intact but out of range. */
static int row_check(size_t i, const char *text, const char *at, const char *by, long long *value)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    json_t *v = json_object_get(j, "value"), *m = json_object_get(j, "mac");
    int rc = 1;
    if (json_is_integer(v) && json_is_string(m) && json_object_size(j) == 2 &&
        setting_mac(PKEYS[i].key, json_integer_value(v), at, by, NULL, json_string_value(m)) == 0) {
        long long lo, hi;
        key_range(i, &lo, &hi);
        *value = json_integer_value(v);
        rc = *value < lo || *value > hi ? 2 : 0;
    }
    json_decref(j);
    return rc;
}

int auth_policy_refresh(store *s)
{
    /* a refresh that began earlier never replaces one that began later: the keeper's
     * read must not undo what a change on this node just published */
    pthread_mutex_lock(&g_mu);
    unsigned long long ticket = ++g_ticket;
    pthread_mutex_unlock(&g_mu);
    store_conn *c = store_acquire(s);
    if (!c) return -1;
    struct snapshot fresh;
    memset(&fresh, 0, sizeof fresh);
    char bad[NKEYS][300];
    memset(bad, 0, sizeof bad);
    store_stmt *st = store_prepare(c, "SELECT key, value, updated_at, updated_by FROM setting");
    int rc = STORE_ERROR;
    if (st) {
        while ((rc = store_step(st)) == STORE_ROW) {
            int i = key_index(store_column_text(st, 0));
            if (i < 0) continue;
            const char *text = store_column_text(st, 1), *at = store_column_text(st, 2),
                       *by = store_column_is_null(st, 3) ? NULL : store_column_text(st, 3);
            long long v = 0;
            int ok = row_check((size_t)i, text ? text : "", at ? at : "", by, &v);
            if (ok == 0) {
                fresh.set[i] = 1;
                fresh.value[i] = v;
                snprintf(fresh.at[i], sizeof fresh.at[i], "%s", at ? at : "");
                snprintf(fresh.by[i], sizeof fresh.by[i], "%s", by ? by : "");
            } else {
                snprintf(bad[i], sizeof bad[i], "%s|%s|%s", text ? text : "", at ? at : "", by ? by : "");
            }
        }
        store_finalize(st);
    }
    store_release(c);
    if (rc != STORE_DONE) return -1;
    /* tampered rows: the configuration applies; said once per distinct row */
    char report[NKEYS][300];
    int nreport = 0;
    pthread_mutex_lock(&g_mu);
    if (ticket < g_published) {
        pthread_mutex_unlock(&g_mu);
        return 0;
    }
    g_published = ticket;
    g_snap = fresh;
    for (size_t i = 0; i < NKEYS; i++) {
        report[i][0] = 0;
        if (bad[i][0] && strcmp(bad[i], g_tampered[i]) != 0) {
            memcpy(g_tampered[i], bad[i], sizeof g_tampered[i]);
            snprintf(report[i], sizeof report[i], "%s", PKEYS[i].key);
            nreport++;
        } else if (!bad[i][0]) {
            g_tampered[i][0] = 0;
        }
    }
    pthread_mutex_unlock(&g_mu);
    for (size_t i = 0; nreport && i < NKEYS; i++) {
        if (!report[i][0]) continue;
        log_error("integrity check failed for setting %s: ignored, the configuration's value applies",
                  PKEYS[i].key);
        char object[80], det[160];
        snprintf(object, sizeof object, "setting:%s", PKEYS[i].key);
        snprintf(det, sizeof det, "{\"row\":\"setting %s\",\"applies\":\"config\"}", PKEYS[i].key);
        struct audit_event e = {"system", NULL, NULL, NULL, "security.integrity", object, "tampered", det};
        if (audit_record(s, &e) != STORE_OK) {
            pthread_mutex_lock(&g_mu);
            g_tampered[i][0] = 0; /* try again at the next round */
            pthread_mutex_unlock(&g_mu);
        }
    }
    return 0;
}

/* ---------- GET /api/v1/admin/security ---------- */

static json_t *security_json(const struct config *c)
{
    struct snapshot s;
    snapshot_copy(&s);
    struct auth_policy p;
    auth_policy_get(c, &p);
    json_t *body = json_pack(
        "{s:{s:I, s:I, s:I, s:b}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:b}, s:{s:I, s:I, s:I},"
        " s:{s:I, s:I}, s:b, s:b, s:i}",
        "password", "iterations", (json_int_t)c->password_iterations, "expiry_days",
        (json_int_t)p.password_expiry_days, "history", (json_int_t)p.password_history,
        "forced_change_after_reset", 1, "lockout", "threshold", (json_int_t)p.lockout_threshold, "window_s",
        (json_int_t)p.lockout_window, "duration_s", (json_int_t)p.lockout_duration, "ip_fail_limit",
        (json_int_t)p.ip_fail_limit, "session", "idle_timeout_s", (json_int_t)p.session_idle,
        "max_lifetime_s", (json_int_t)p.session_lifetime, "staff_max", (json_int_t)p.session_staff_max,
        "secure_cookie", (int)c->session_secure_cookie, "factors", "captcha_ttl_s",
        (json_int_t)c->captcha_ttl, "otp_ttl_s", (json_int_t)c->otp_ttl, "challenge_ttl_s",
        (json_int_t)c->challenge_ttl, "audit", "checkpoint_every", (json_int_t)c->audit_checkpoint_every,
        "retention_days", (json_int_t)c->audit_retention_days, "production", (int)c->production, "test_mode",
        (int)c->test_mode, "refresh_s", REFRESH_EVERY);
    json_object_set_new(body, "key_version", json_integer(keys_current_version()));
    json_t *list = json_array();
    for (size_t i = 0; i < NKEYS; i++) {
        long long lo, hi, v;
        key_range(i, &lo, &hi);
        memcpy(&v, (const char *)&p + PKEYS[i].pol_off, sizeof v);
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I}", "key", PKEYS[i].key, "group",
                              PKEYS[i].group, "name", PKEYS[i].name, "value", (json_int_t)v, "source",
                              s.set[i] ? "console" : "config", "config", (json_int_t)config_value(c, i),
                              "min", (json_int_t)lo, "max", (json_int_t)hi);
        if (s.set[i]) {
            json_object_set_new(o, "updated_at", json_string(s.at[i]));
            json_object_set_new(o, "updated_by", json_string(s.by[i]));
        }
        json_array_append_new(list, o);
    }
    json_object_set_new(body, "settings", list);
    return body;
}

int admin_security(http_req *r) { return http_reply_json(r, 200, security_json(req_app(r)->cfg)); }

/* ---------- PUT /api/v1/admin/security ---------- */

struct put {
    http_req *r;
    int want[NKEYS]; /* 0 untouched, 1 set, 2 back to the configuration */
    long long value[NKEYS];
    json_t *changes;
};

static int put_tx(store_conn *c, void *arg)
{
    struct put *w = arg;
    const struct config *cfg = req_app(w->r)->cfg;
    const struct principal *p = auth_principal(w->r);
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    json_decref(w->changes);
    w->changes = json_object();
    if (!w->changes) return STORE_ERROR;
    for (size_t i = 0; i < NKEYS; i++) {
        if (!w->want[i]) continue;
        /* what applied before: a valid row, else the configuration */
        store_stmt *st = store_prepare(c, "SELECT value, updated_at, updated_by FROM setting WHERE key = $1");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, PKEYS[i].key);
        int rc = store_step(st);
        long long old = config_value(cfg, i);
        const char *old_source = "config";
        if (rc == STORE_ROW) {
            long long v;
            if (row_check(i, store_column_text(st, 0), store_column_text(st, 1),
                          store_column_is_null(st, 2) ? NULL : store_column_text(st, 2), &v) == 0) {
                old = v;
                old_source = "console";
            }
        }
        store_finalize(st);
        if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        long long now_v = w->want[i] == 1 ? w->value[i] : config_value(cfg, i);
        const char *new_source = w->want[i] == 1 ? "console" : "config";
        if (w->want[i] == 1) {
            char mac[KEYS_TAG_MAX];
            if (setting_mac(PKEYS[i].key, now_v, ts, p->login, mac, NULL) != 0) return STORE_ERROR;
            json_t *val = json_pack("{s:I, s:s}", "value", (json_int_t)now_v, "mac", mac);
            char *text = val ? json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            json_decref(val);
            if (!text) return STORE_ERROR;
            st = store_prepare(
                c, "INSERT INTO setting(key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)"
                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                   " updated_at = excluded.updated_at, updated_by = excluded.updated_by");
            if (!st) {
                free(text);
                return STORE_ERROR;
            }
            store_bind_text(st, 1, PKEYS[i].key);
            store_bind_text(st, 2, text);
            store_bind_text(st, 3, ts);
            store_bind_text(st, 4, p->login);
            rc = store_step(st);
            store_finalize(st);
            free(text);
        } else {
            st = store_prepare(c, "DELETE FROM setting WHERE key = $1");
            if (!st) return STORE_ERROR;
            store_bind_text(st, 1, PKEYS[i].key);
            rc = store_step(st);
            store_finalize(st);
        }
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
        json_object_set_new(w->changes, PKEYS[i].key,
                            json_pack("{s:I, s:s, s:I, s:s}", "old", (json_int_t)old, "old_source",
                                      old_source, "new", (json_int_t)now_v, "new_source", new_source));
    }
    json_t *d = json_pack("{s:O}", "changes", w->changes);
    char *det = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!det) return STORE_ERROR;
    int rc = auth_audit(w->r, c, "security.policy.change", "security policy", "ok", det);
    free(det);
    return rc;
}

int admin_security_put(http_req *r)
{
    json_t *body = http_req_json(r);
    if (!json_is_object(body))
        return http_reply_error(r, 400, "bad_request", "the body must be a JSON object of settings", NULL);
    struct put w = {.r = r};
    json_t *errors = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        int i = key_index(k);
        char msg[200];
        if (i < 0) {
            json_array_append_new(errors, http_field_error(k, "not a setting the console can change"));
            continue;
        }
        long long lo, hi;
        key_range((size_t)i, &lo, &hi);
        if (json_is_null(v)) {
            w.want[i] = 2;
        } else if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
            snprintf(msg, sizeof msg, "an integer from %lld to %lld (or null for the configuration's value)",
                     lo, hi);
            json_array_append_new(errors, http_field_error(k, msg));
        } else {
            w.want[i] = 1;
            w.value[i] = json_integer_value(v);
        }
    }
    if (!json_array_size(errors) && !json_object_size(body))
        json_array_append_new(errors, http_field_error("settings", "name at least one setting to change"));
    if (json_array_size(errors))
        return http_reply_error(r, 422, "validation_failed", "some settings are not valid", errors);
    json_decref(errors);
    int rc = store_tx(req_app(r)->db, 1, put_tx, &w);
    json_decref(w.changes);
    if (rc != STORE_OK) return http_reply_error(r, 503, "unavailable", "try again", NULL);
    /* in force here at once; other nodes within REFRESH_EVERY seconds */
    if (auth_policy_refresh(req_app(r)->db) != 0) log_warn("security policy saved but not reloaded yet");
    return http_reply_json(r, 200, security_json(req_app(r)->cfg));
}
