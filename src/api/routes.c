/*
 * routes.c — every endpoint ehall serves, in one table.
 *
 * Read this file to see the whole HTTP surface.  Each line is: method, path pattern
 * ({name} is a path parameter), handler, who may call it, and a one-line summary
 * (`ehall routes` prints the table; docs/api.md describes each endpoint).
 * Anything not matched here under /api/ is a JSON 404; everything else is the
 * browser UI from the web root.
 */
#include "analytics/analytics.h"
#include "api/api.h"
#include "audit/handlers.h"
#include "auth/handlers.h"
#include "calendar/handlers.h"
#include "engine/engine.h"
#include "engine/item.h"
#include "exchange/handlers.h"
#include "engine/inbox.h"
#include "engine/material.h"
#include "engine/notice.h"

const struct http_route api_routes[] = {
    /* operations */
    {"GET", "/healthz", api_healthz, ACCESS_PUBLIC, NULL, "liveness: the process answers"},
    {"GET", "/readyz", api_readyz, ACCESS_PUBLIC, NULL, "readiness: database reachable, schema current"},
    {"GET", "/metrics", api_metrics, ACCESS_LOOPBACK, NULL, "Prometheus metrics"},
    /* API v1 */
    {"GET", "/api/v1/version", api_version, ACCESS_PUBLIC, NULL, "server version and schema version"},
    {"POST", "/api/v1/analytics/pageviews", analytics_record_view, ACCESS_PUBLIC, NULL,
     "record a portal page view"},
    {"GET", "/api/v1/analytics/summary", analytics_summary, ACCESS_LOOPBACK, NULL,
     "visit statistics for a date range"},

    /* identity: getting in and out (src/auth/) */
    {"GET", "/api/v1/session", auth_session_info, ACCESS_PUBLIC, NULL,
     "who is logged in, and the CSRF token"},
    {"POST", "/api/v1/captcha", auth_captcha_new, ACCESS_PUBLIC, NULL, "a new image captcha"},
    {"POST", "/api/v1/sms/code", auth_sms_code, ACCESS_PUBLIC, NULL, "send an SMS code (captcha needed)"},
    {"POST", "/api/v1/auth/register/person", auth_register_person, ACCESS_PUBLIC, NULL,
     "register a natural person (or an agent)"},
    {"POST", "/api/v1/auth/register/enterprise", auth_register_enterprise, ACCESS_PUBLIC, NULL,
     "register an enterprise and its administrator account"},
    {"POST", "/api/v1/auth/login", auth_login, ACCESS_PUBLIC, NULL, "log in with password and captcha"},
    {"POST", "/api/v1/auth/mfa", auth_mfa, ACCESS_PARTIAL, NULL, "pass the second factor (TOTP or SMS)"},
    {"POST", "/api/v1/auth/mfa/sms", auth_mfa_sms, ACCESS_PARTIAL, NULL, "send the log-in SMS code"},
    {"POST", "/api/v1/auth/cert/challenge", auth_cert_challenge, ACCESS_PUBLIC, NULL,
     "a challenge for certificate log-in"},
    {"POST", "/api/v1/auth/cert/login", auth_cert_login, ACCESS_PUBLIC, NULL,
     "log in with an SM2 signature of the challenge"},
    {"POST", "/api/v1/auth/logout", auth_logout, ACCESS_PARTIAL, NULL, "end this session"},
    /* identity: the holder's own account */
    {"GET", "/api/v1/account", account_me, ACCESS_SESSION, NULL, "my account (masked) and certificates"},
    {"POST", "/api/v1/account/password", account_password, ACCESS_PARTIAL, NULL,
     "change my password (needs the current one)"},
    {"POST", "/api/v1/account/totp/setup", account_totp_setup, ACCESS_PARTIAL, NULL, "start TOTP enrolment"},
    {"POST", "/api/v1/account/totp/confirm", account_totp_confirm, ACCESS_PARTIAL, NULL,
     "confirm TOTP with a first code"},
    {"POST", "/api/v1/account/mfa", account_mfa, ACCESS_SESSION, NULL, "turn my second factor on or off"},
    {"POST", "/api/v1/account/certs", account_cert_add, ACCESS_SESSION, NULL, "register an SM2 public key"},
    {"DELETE", "/api/v1/account/certs/{id}", account_cert_revoke, ACCESS_SESSION, NULL, "revoke my key"},
    {"GET", "/api/v1/account/sessions", account_sessions, ACCESS_SESSION, NULL, "my sessions"},
    {"DELETE", "/api/v1/account/sessions", account_sessions_end, ACCESS_SESSION, NULL,
     "end my other sessions"},
    {"GET", "/api/v1/account/logins", account_logins, ACCESS_SESSION, NULL, "my log-in history"},
    {"DELETE", "/api/v1/account", account_close, ACCESS_SESSION, NULL,
     "close my account (password needed; the login is never reused)"},
    /* identity: enterprises and agents */
    {"GET", "/api/v1/enterprise/members", ent_member_list, ACCESS_SESSION, "ent.manage",
     "the enterprise's accounts"},
    {"POST", "/api/v1/enterprise/members", ent_member_add, ACCESS_SESSION, "ent.manage",
     "add a clerk account with permissions"},
    {"PUT", "/api/v1/enterprise/members/{id}", ent_member_perms, ACCESS_SESSION, "ent.manage",
     "change a clerk's permissions"},
    {"GET", "/api/v1/enterprise/agents", ent_agent_list, ACCESS_SESSION, "ent.manage", "the agents' grants"},
    {"POST", "/api/v1/enterprise/agents", ent_agent_grant, ACCESS_SESSION, "ent.manage",
     "authorise an agent for items and a period"},
    {"DELETE", "/api/v1/enterprise/agents/{id}", ent_agent_revoke, ACCESS_SESSION, "ent.manage",
     "revoke an agent's grant"},
    {"GET", "/api/v1/agent/grants", agent_grants, ACCESS_SESSION, NULL, "grants given to me as an agent"},
    {"POST", "/api/v1/agent/act", agent_act, ACCESS_SESSION, NULL, "act for an enterprise under a grant"},
    /* administration: system administrator */
    {"GET", "/api/v1/admin/departments", admin_dept_list, ACCESS_SESSION, "org.dept.manage",
     "the department tree"},
    {"POST", "/api/v1/admin/departments", admin_dept_create, ACCESS_SESSION, "org.dept.manage",
     "create a department"},
    {"POST", "/api/v1/admin/staff", admin_staff_create, ACCESS_SESSION, "org.staff.manage",
     "create a staff account (one-time password)"},
    {"GET", "/api/v1/admin/accounts", admin_account_list, ACCESS_SESSION, NULL,
     "list or search accounts, masked (kind, q, after; org.account.read or a secadmin account power)"},
    {"POST", "/api/v1/admin/accounts/{id}/disable", admin_account_disable, ACCESS_SESSION, "org.staff.manage",
     "disable an account (its sessions end)"},
    {"POST", "/api/v1/admin/accounts/{id}/enable", admin_account_enable, ACCESS_SESSION, "org.staff.manage",
     "enable an account again"},
    /* administration: security administrator */
    {"GET", "/api/v1/admin/permissions", admin_permissions, ACCESS_SESSION, "security.role.manage",
     "the permission catalog"},
    {"GET", "/api/v1/admin/security", admin_security, ACCESS_SESSION, "security.policy.read",
     "the security settings in force"},
    {"GET", "/api/v1/admin/roles", admin_role_list, ACCESS_SESSION, "security.role.manage",
     "roles, with their integrity"},
    {"PUT", "/api/v1/admin/roles/{code}", admin_role_put, ACCESS_SESSION, "security.role.manage",
     "create or change a role"},
    {"PUT", "/api/v1/admin/accounts/{id}/roles", admin_account_roles, ACCESS_SESSION, "security.role.assign",
     "set a staff account's roles"},
    {"POST", "/api/v1/admin/accounts/{id}/unlock", admin_account_unlock, ACCESS_SESSION,
     "security.account.unlock", "unlock an account"},
    {"POST", "/api/v1/admin/accounts/{id}/reset-password", admin_account_reset, ACCESS_SESSION,
     "security.account.reset", "reset a password (one-time password)"},
    /* the security auditor */
    {"GET", "/api/v1/audit", audit_api_search, ACCESS_SESSION, "audit.read",
     "search audit records (filters, keyset pages)"},
    {"GET", "/api/v1/audit/export", audit_api_export, ACCESS_SESSION, "audit.export",
     "export audit records as CSV or JSON lines (SM3 in X-Content-SM3)"},
    {"GET", "/api/v1/audit/verify", audit_api_verify, ACCESS_SESSION, "audit.read",
     "verify the chain and its signed checkpoints"},
    /* staff */
    {"GET", "/api/v1/accounts/export", admin_account_export, ACCESS_SESSION, "account.export",
     "export public accounts as CSV, masked (audited, SM3 in X-Content-SM3)"},
    {"GET", "/api/v1/accounts/{id}", admin_account_get, ACCESS_SESSION, "account.read",
     "one account, masked; ?reveal=field with its field permission (audited)"},
    /* service items (src/engine/item_api.c) */
    {"GET", "/api/v1/items", item_api_list, ACCESS_PUBLIC, NULL,
     "the catalog of online items (q, category, applicant_type, depth, page, size)"},
    {"GET", "/api/v1/items/{code}", item_api_guide, ACCESS_PUBLIC, NULL,
     "an item's guide: form, materials, fees, rules with their compiled trees"},
    {"POST", "/api/v1/items/{code}/check", item_api_check, ACCESS_SESSION, NULL,
     "check a form for the caller without storing it (every problem at once)"},
    {"GET", "/api/v1/admin/items", item_api_admin_list, ACCESS_SESSION, "item.manage",
     "every item, online or not, with its versions"},
    {"POST", "/api/v1/admin/items/{code}/online", item_api_online, ACCESS_SESSION, "item.manage",
     "put an item online (audited)"},
    {"POST", "/api/v1/admin/items/{code}/offline", item_api_offline, ACCESS_SESSION, "item.manage",
     "take an item offline (audited)"},
    {"GET", "/api/v1/bundles", item_api_bundles, ACCESS_PUBLIC, NULL, "bundles of items (一件事一次办)"},
    {"GET", "/api/v1/bundles/{code}", item_api_bundle, ACCESS_PUBLIC, NULL, "one bundle and its items"},
    /* cases: the applicant's side (src/engine/case_api.c) */
    {"POST", "/api/v1/cases", case_create, ACCESS_SESSION, NULL, "start a draft application for an item"},
    {"GET", "/api/v1/cases", case_list_mine, ACCESS_SESSION, NULL,
     "my cases (or my enterprise's), newest first"},
    {"GET", "/api/v1/cases/{id}", case_get, ACCESS_SESSION, NULL,
     "a case with its progress timeline (applicant, or staff in scope)"},
    {"PUT", "/api/v1/cases/{id}", case_save, ACCESS_SESSION, NULL, "autosave a draft's form and materials"},
    {"DELETE", "/api/v1/cases/{id}", case_delete, ACCESS_SESSION, NULL, "discard a draft"},
    {"POST", "/api/v1/cases/{id}/submit", case_submit, ACCESS_SESSION, NULL,
     "submit a draft: checked, frozen, numbered (idempotent)"},
    {"POST", "/api/v1/cases/{id}/withdraw", case_withdraw, ACCESS_SESSION, NULL,
     "withdraw before acceptance"},
    {"POST", "/api/v1/cases/{id}/supplement", case_supplement, ACCESS_SESSION, NULL,
     "supply the materials staff asked for"},
    {"POST", "/api/v1/cases/{id}/evaluate", case_evaluate, ACCESS_SESSION, NULL,
     "evaluate a closed case (好差评: 1-5 and a comment)"},
    {"GET", "/api/v1/cases/{id}/materials/{sm3}", case_material_content, ACCESS_SESSION, NULL,
     "a material of a case (staff reads are audited)"},
    {"POST", "/api/v1/bundles/{code}/apply", bundle_apply, ACCESS_SESSION, NULL,
     "apply for a bundle: linked cases in one go"},
    {"GET", "/api/v1/bundle-cases/{id}", bundle_case_get, ACCESS_SESSION, NULL,
     "a bundle application and its status"},
    /* cases: the staff workbench (src/engine/workbench.c) */
    {"GET", "/api/v1/workbench/counts", workbench_counts, ACCESS_SESSION, "case.handle",
     "how many cases wait in each of my queues"},
    {"GET", "/api/v1/workbench/queue", workbench_queue, ACCESS_SESSION, "case.handle",
     "one queue: to_sign, in_progress, near_due, overdue, done"},
    {"POST", "/api/v1/cases/{id}/actions", case_act, ACCESS_SESSION, "case.handle",
     "act on a case: sign, accept, supplement, pass, return, transfer, approve, refuse, close"},
    /* the exchange between the zones (src/exchange/) */
    {"GET", "/api/v1/exchange/messages", exchange_api_messages, ACCESS_SESSION, "exchange.read",
     "queue messages by state, kind and case (keyset pages)"},
    {"POST", "/api/v1/exchange/messages/{id}/replay", exchange_api_replay, ACCESS_SESSION, "exchange.manage",
     "put a dead letter back in the queue (audited)"},
    {"GET", "/api/v1/exchange/reports", exchange_api_reports, ACCESS_SESSION, "exchange.read",
     "reconciliation reports, newest first"},
    {"GET", "/api/v1/exchange/stats", exchange_api_stats, ACCESS_SESSION, "exchange.read",
     "queue messages by state, and how many are due"},
    /* materials and the inbox (src/engine/material.c, inbox.c) */
    {"POST", "/api/v1/materials", material_api_upload, ACCESS_SESSION, NULL,
     "upload a material (raw body, X-File-Name; type sniffed, SM3-addressed)", 1},
    {"GET", "/api/v1/materials", material_api_list, ACCESS_SESSION, NULL,
     "my materials library (pages, type)"},
    {"GET", "/api/v1/materials/{id}", material_api_get, ACCESS_SESSION, NULL, "one of my materials"},
    {"GET", "/api/v1/materials/{id}/content", material_api_content, ACCESS_SESSION, NULL,
     "the bytes of one of my materials (SM3 in X-Content-SM3)"},
    {"DELETE", "/api/v1/materials/{id}", material_api_delete, ACCESS_SESSION, NULL,
     "remove a material from my library"},
    {"GET", "/api/v1/inbox", inbox_api_list, ACCESS_SESSION, NULL,
     "my messages (keyset pages, unread count)"},
    {"POST", "/api/v1/inbox/read-all", inbox_api_read_all, ACCESS_SESSION, NULL, "mark all my messages read"},
    {"POST", "/api/v1/inbox/{id}/read", inbox_api_read, ACCESS_SESSION, NULL, "mark one message read"},
    /* test mode only */
    {"GET", "/api/v1/test/sms", auth_test_sms, ACCESS_TEST, NULL, "the newest SMS to a number (test mode)"},
    {"POST", "/api/v1/test/exchange", exchange_api_test, ACCESS_TEST, NULL,
     "queue n test messages in one transaction (test mode)"},
    {"POST", "/api/v1/test/inbox", inbox_api_test, ACCESS_TEST, NULL, "send an inbox message (test mode)"},
    /* the working-day calendar (src/calendar/handlers.c) */
    {"GET", "/api/v1/admin/calendar/{year}", calendar_api_year, ACCESS_SESSION, "org.dept.manage",
     "a year's holidays, working weekends and working days per month"},
    /* portal notices (src/engine/notice.c) */
    {"GET", "/api/v1/notices", notice_api_list, ACCESS_PUBLIC, NULL,
     "current portal notices, newest first (page, size, category)"},
    {"GET", "/api/v1/notices/{id}", notice_api_get, ACCESS_PUBLIC, NULL, "one current portal notice"},
    {"GET", "/api/v1/admin/notices", notice_api_admin_list, ACCESS_SESSION, "notice.manage",
     "every notice with its status (page, size, status)"},
    {"POST", "/api/v1/admin/notices", notice_api_create, ACCESS_SESSION, "notice.manage",
     "publish a notice (audited)"},
    {"PUT", "/api/v1/admin/notices/{id}", notice_api_update, ACCESS_SESSION, "notice.manage",
     "edit a notice, naming the version edited (audited)"},
    {"POST", "/api/v1/admin/notices/{id}/withdraw", notice_api_withdraw, ACCESS_SESSION, "notice.manage",
     "withdraw a notice (audited)"},
    /* the workbench: colleagues for a transfer (src/engine/workbench.c) */
    {"GET", "/api/v1/workbench/cases/{id}/colleagues", workbench_colleagues, ACCESS_SESSION, "case.handle",
     "colleagues who may take the case's current step (for a transfer)"},
};

const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
