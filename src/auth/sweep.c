/*
 * sweep.c — clearing away what identity leaves behind: ended sessions, used-up
 * challenges, captchas and codes, failure counters that have run out, and SMS that a
 * crashed process claimed but never handed over.  Run by the server's housekeeping
 * thread; safe on several nodes at once (each statement stands alone).
 */
#include <stdio.h>

#include "auth/internal.h"
#include "core/core.h"

struct sweep {
    struct auth_policy pol; /* the policy in force (idle timeout, lockout window) */
};

static int run(store_conn *c, const char *sql, long long a, long long b)
{
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, a);
    if (b >= 0) store_bind_int64(st, 2, b);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static int sweep_tx(store_conn *c, void *arg)
{
    struct sweep *w = arg;
    long long now = (long long)now_wall();
    int rc;
    if ((rc = run(c, "DELETE FROM session WHERE expires_at <= $1 OR last_seen < $2", now,
                  now - w->pol.session_idle)) != STORE_OK)
        return rc;
    if ((rc = run(c, "DELETE FROM auth_throttle WHERE locked_until <= $1 AND window_start < $2", now,
                  now - w->pol.lockout_window)) != STORE_OK)
        return rc;
    if ((rc = run(c, "DELETE FROM otp_code WHERE expires_at < $1", now, -1)) != STORE_OK) return rc;
    if ((rc = run(c, "DELETE FROM cert_challenge WHERE expires_at < $1", now, -1)) != STORE_OK) return rc;
    if ((rc = run(c, "DELETE FROM captcha WHERE expires_at < $1", now, -1)) != STORE_OK) return rc;
    /* a message claimed ten minutes ago and still not settled: its sender died; the
     * next flush tries again (sent_at holds the claim time, written by ehall in one
     * zone, so text order is time order here) */
    char before[48];
    time_rfc3339(now_wall() - 600, before, sizeof before);
    store_stmt *st = store_prepare(c, "UPDATE sms_outbox SET status = 'pending' WHERE status = 'sending'"
                                      " AND sent_at < $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, before);
    rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

void auth_sweep(store *s, const struct config *cfg)
{
    struct sweep w;
    auth_policy_get(cfg, &w.pol);
    if (store_tx(s, 1, sweep_tx, &w) != STORE_OK)
        log_warn("identity sweep did not complete; it runs again soon");
}
