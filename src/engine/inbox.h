/*
 * inbox — the in-site inbox (站内信): the notices a holder reads about their cases, and
 * the SMS that go out with them.
 *
 * The case engine calls inbox_notify inside the transaction that changes a case, so
 * the notice exists exactly when the change does.  With sms set the same transaction
 * queues a text message through the SMS outbox (src/auth/sms.c) to the account's own
 * mobile number, which the housekeeping thread hands to the gateway after commit; an
 * account without a mobile number gets the inbox message only.
 *
 * A holder reads only their own messages (GET /api/v1/inbox, keyset pages newest
 * first, with the unread count) and marks them read one by one or all at once.
 */
#ifndef EHALL_INBOX_H
#define EHALL_INBOX_H

#include "http/http.h"
#include "store/store.h"

#define INBOX_KIND_MAX  32   /* bytes: [a-z0-9._-], e.g. "case.accepted" */
#define INBOX_TITLE_MAX 200  /* characters */
#define INBOX_BODY_MAX  4000 /* characters */

/* Inside the caller's write transaction: a message to account about case_id (0 for
 * none) of kind (1..32 of [a-z0-9._-]) with title (1..200 characters) and body (0..4000
 * characters; NULL is empty), both valid UTF-8 without control characters other than
 * line breaks and tabs in body.  When sms is set and the account has a mobile number,
 * "【政务服务】<title>：<body>" (cut to 300 bytes) is queued as an SMS with purpose
 * "notify".  STORE_OK, or a STORE_* error (STORE_CONSTRAINT: no such account;
 * STORE_ERROR also for arguments that break the rules above, which is logged). */
int inbox_notify(store_conn *c, long long account, long long case_id, const char *kind, const char *title,
                 const char *body, int sms);

/* The account's unread messages: STORE_OK with *count, or a STORE_* error. */
int inbox_unread(store_conn *c, long long account, long long *count);

/* ---- endpoints (routes.c) ---- */
int inbox_api_list(http_req *r);     /* GET /api/v1/inbox */
int inbox_api_read(http_req *r);     /* POST /api/v1/inbox/{id}/read */
int inbox_api_read_all(http_req *r); /* POST /api/v1/inbox/read-all */
int inbox_api_test(http_req *r);     /* POST /api/v1/test/inbox (test mode) */

#endif
