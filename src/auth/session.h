/*
 * session — who is calling: server-side sessions, the authorize hook every routed
 * request passes, and the audit helper handlers use.
 *
 * A session id is 32 random bytes (64 hex digits) in the HttpOnly, SameSite=Strict
 * cookie `ehall_session`; the database keeps only its SM3 hash, so a copy of the
 * database does not yield live sessions.  Each session row carries the account's
 * permissions and data scope as computed at log-in (from MAC-checked role rows) and a
 * MAC of its own, so any node of a cluster can check a request with one indexed read.
 *
 * Stages: a session is "full" only after every step of log-in; before that it is
 * "password" (a forced password change is due), "mfa" (the second factor is due) or
 * "enroll" (a staff account must first set up TOTP).  Routes marked ACCESS_PARTIAL
 * accept any stage; ACCESS_SESSION routes need "full".
 *
 * CSRF: every POST, PUT, PATCH and DELETE must carry X-CSRF-Token.  With a session it
 * must equal the session's token; without one, the `ehall_csrf` cookie (double submit),
 * which GET /api/v1/session sets.  A cross-site page can neither read the cookie nor
 * send the header.
 */
#ifndef EHALL_SESSION_H
#define EHALL_SESSION_H

#include "http/http.h"
#include "store/store.h"

struct principal {
    long long account;
    const char *login;
    const char *kind;          /* person, enterprise, agent, staff, admin */
    const char *admin_role;    /* sysadmin, secadmin, auditor — or NULL */
    const char *stage;         /* full, password, mfa, enroll */
    long long dept;            /* staff: department id, 0 when none */
    const char *dept_path;     /* "/1/4/9/" — for data scope, "" when none */
    long long enterprise;      /* enterprise the account belongs to or acts for, 0 when none */
    long long on_behalf;       /* agents: the enterprise they act for now, 0 when none */
    long long grant_id;        /* agents: the authorisation used, 0 when none */
    const char *perms;         /* ",perm,perm," */
    const char *scope;         /* own, dept, subtree, all */
    const char *id_number_enc; /* the account's sealed ID number as stored (keys_open), or NULL */
    /* the rest of the sealed profile as stored, when profile is 1 (read with the session,
     * so that filling a form's defaults needs no query of its own; NULL when not set) */
    const char *name_enc, *mobile_enc, *address_enc;
    int profile;
    char sid_hash[65]; /* SM3 of the session id, hex */
    char csrf[65];
};

/* The caller, or NULL for an anonymous request. */
const struct principal *auth_principal(http_req *r);
/* 1 when p holds perm. */
int auth_has(const struct principal *p, const char *perm);
/* 1 when p's data scope reaches an object owned by account owner in department with
 * path dept_path ("" when none). */
int auth_in_scope(const struct principal *p, long long owner, const char *dept_path);

/* The authorize hook for http_server_options (see above). */
int auth_authorize(http_req *r, const struct http_route *route);

/* Audit an action of the caller: actor, role, client and request id come from the
 * request; on_behalf is added to the details for agents.  details is JSON text or NULL.
 * With c, inside the caller's transaction; without, in a transaction of its own. */
int auth_audit(http_req *r, store_conn *c, const char *action, const char *object, const char *result,
               const char *details);

/* Sessions.  session_create inserts a session for account at stage and sets the cookie
 * on the reply about to be sent; csrf_out gets its CSRF token.  Runs inside the
 * caller's transaction.  session_end_all ends every session of an account (except the
 * one with id hash keep, if not NULL).  Returns STORE_* codes. */
int session_create(http_req *r, store_conn *c, long long account, const char *stage, long long on_behalf,
                   long long grant_id, char csrf_out[65]);
int session_end_all(store_conn *c, long long account, const char *keep);
/* End one session, by the hash of its id. */
int session_end(store_conn *c, const char *id_hash);
/* Clear the cookie on the reply about to be sent. */
void session_clear_cookie(http_req *r);

#endif
