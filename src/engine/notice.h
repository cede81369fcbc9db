/*
 * notice — portal notices (通知公告): what the system administrator publishes on the
 * portal's home page (service changes, holiday hours, policy news).
 *
 * A notice is plain text (title, body, category) with a publication instant, an
 * optional expiry and, once withdrawn, the instant it was withdrawn; it is current while
 * published_at <= now < expires_at (or no expiry) and not withdrawn.  The public reads
 * current notices only; the holder of notice.manage lists them all, publishes, edits
 * (optimistic locking by version) and withdraws, each change audited in its own
 * transaction.  Nothing is ever deleted.
 */
#ifndef EHALL_NOTICE_H
#define EHALL_NOTICE_H

#include "http/http.h"

/* The categories a notice may have. */
extern const char *const NOTICE_CATEGORIES[];

/* GET /api/v1/notices?page=&size=&category= — current notices, newest first. */
int notice_api_list(http_req *r);
/* GET /api/v1/notices/{id} — one current notice. */
int notice_api_get(http_req *r);
/* GET /api/v1/admin/notices?page=&size=&status= — every notice with its status. */
int notice_api_admin_list(http_req *r);
/* POST /api/v1/admin/notices {title, body, category, published_at?, expires_at?} */
int notice_api_create(http_req *r);
/* PUT /api/v1/admin/notices/{id} {title, body, category, published_at?, expires_at?, version} */
int notice_api_update(http_req *r);
/* POST /api/v1/admin/notices/{id}/withdraw {version?} */
int notice_api_withdraw(http_req *r);

/* Parse an RFC 3339 instant with its offset ("2026-11-24T08:00:00+08:00", "…Z", with
 * optional fractions) into milliseconds since the epoch.  0 on success. */
int notice_parse_instant(const char *s, long long *ms);

#endif
