/*
 * internal.h — shared by the identity handlers in src/auth/ only.
 */
#ifndef EHALL_AUTH_INTERNAL_H
#define EHALL_AUTH_INTERNAL_H

#include "api/api.h"
#include "auth/auth.h"
#include "auth/handlers.h"
#include "auth/keys.h"
#include "auth/policy.h"
#include "auth/session.h"
#include "core/config.h"

/* An account as log-in sees it. */
struct acct {
    long long id;
    char login[64];
    char kind[16];
    char status[16];
    char hash[AUTH_PASSWORD_HASH_MAX];
    long long pw_changed;
    int must_change;
    int has_totp;
    char totp_digest[8];
    int mfa; /* the holder turned the second factor on (public accounts) */
    int has_mobile;
    char ip_ranges[256];
};

/* Find an active account by login name, ID number or mobile (the last two through the
 * blind index, and only when exactly one account matches).  1 found, 0 not, < 0 error. */
int acct_find(store_conn *c, const char *ident, struct acct *a);
int acct_by_id(store_conn *c, long long id, struct acct *a);
/* A staff or administrator account must pass a second factor at every log-in. */
int acct_needs_mfa(const struct acct *a);
/* The stage after the steps done so far: "mfa", "password", "enroll" or "full". */
const char *acct_next_stage(const struct acct *a, const struct config *cfg, int mfa_done);

/* A 6-digit TOTP code for the time step now-1..now+1 (30 s steps); *step gets the one
 * it matched.  0 on a match. */
int totp_match(const unsigned char *key, size_t klen, const char *digest, const char *code, long long *step);

/* Failure counting and lockout (login.c), keyed "acct:<id>", "name:<sm3>" or "ip:<addr>". */
long long throttle_locked_until(store_conn *c, const char *key);
/* Count one failure; returns 1 when it locked the key now. */
int throttle_fail(store_conn *c, const char *key, long long threshold, const struct config *cfg);
int throttle_clear(store_conn *c, const char *key);
/* The lockout threshold of the policy in force (policy.h). */
static inline long long policy_lockout_threshold(const struct config *cfg)
{
    struct auth_policy p;
    auth_policy_get(cfg, &p);
    return p.lockout_threshold;
}
/* 423 locked with Retry-After. */
int auth_reply_locked(http_req *r, long long until);

/* One-time codes sent by SMS (sms.c).  otp_issue stores a new code for (purpose,
 * target) and queues the SMS to mobile; it refuses (returns 1) when the previous code
 * for the target is less than a minute old.  otp_check returns 0 when code matches an
 * unexpired code (which is then used up), 1 when not; five wrong tries use it up. */
int otp_issue(store_conn *c, const struct config *cfg, const char *purpose, const char *target,
              const char *mobile);
int otp_check(store_conn *c, const char *purpose, const char *target, const char *code);
/* Queue an SMS in the outbox (inside the caller's transaction). */
int sms_enqueue(store_conn *c, const char *mobile, const char *text, const char *purpose);
/* Hand queued messages to the gateway (after the transaction committed). */
void sms_flush(store *s, const struct config *cfg);

/* Remove expired sessions, challenges, captchas, codes and counters; requeue SMS a
 * dead process claimed (sweep.c; the server's housekeeping thread calls it). */
void auth_sweep(store *s, const struct config *cfg);

/* Captchas (captcha.c): 0 when the answer is right; the captcha is used up either way. */
int captcha_consume(store *s, const char *id, const char *answer);

/* Real-name checks: a connector to the population / market-regulation register.  The
 * default is a simulated register (realname.c).  0 when the record matches; otherwise
 * why says what did not match. */
int realname_person(const char *name, const char *id_number, const char **why);
int realname_enterprise(const char *name, const char *uscc, const char *legal_rep, const char **why);

/* 1 when addr (text) is inside one of ranges ("10.0.0.0/8,192.168.1.5"); an empty
 * ranges list allows every address. */
int ip_in_ranges(const char *addr, const char *ranges);

/* "10.0.0.0/8,192.168.1.5": 0 when every entry parses. */
int ip_ranges_valid(const char *ranges);

/* A new account with its personal fields sealed and indexed (account.c); id is set. */
struct new_account {
    const char *login, *kind, *password_hash;
    const char *name, *id_number, *mobile, *address; /* plaintext in, sealed on the way */
    long long enterprise, dept;
    const char *badge, *ip_ranges;
    int must_change;
    long long id;
};
int account_insert(store_conn *c, struct new_account *na);
/* New password hash (kept in the history); must_change forces a change at next log-in. */
int account_set_password(store_conn *c, long long id, const char *hash, int must_change);
/* The account as JSON, personal fields masked except reveal_field (NULL: none). */
json_t *account_json(store_conn *c, long long id, const char *reveal_field);
/* The row MAC of a registered SM2 key (cert_key), or its check when check is set. */
int cert_mac(long long id, long long account, const char *fp, const char *pem, const char *revoked,
             char mac[KEYS_TAG_MAX], const char *check);
/* 16 random characters of four classes, for accounts an administrator creates. */
void admin_one_time_password(char out[17]);

static inline struct app *req_app(http_req *r) { return http_req_app(r); }

#endif
