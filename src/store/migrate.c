/*
 * migrate.c — numbered schema migrations.
 *
 * Each migration is a version number, a name and its SQL: one text for both engines
 * where the dialects agree, or one per engine where they do not.  To add one, append
 * to MIGRATIONS with the next number; never edit a migration that has shipped.
 *
 * Each migration runs in its own transaction together with the row that records it,
 * so a crash leaves the schema either before or after it.  Several nodes may start at
 * once against one PostgreSQL: an advisory lock makes them take turns, and each
 * re-reads the version after taking it.  A database newer than this binary is refused.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "store/store_internal.h"

struct migration {
    int version;
    const char *name;
    const char *sql;        /* both engines, or NULL */
    const char *sql_sqlite; /* engine-specific, used when sql is NULL */
    const char *sql_postgres;
};

/* Migration 4, written once for both engines: PK is the auto-numbered key (never
 * reused, so an account number is unique for life), INT a 64-bit integer. */
#define IDENTITY_SQL(PK, INT)                                                                                \
    "CREATE TABLE department (id " PK ", parent_id " INT " REFERENCES department(id),"                       \
    " code TEXT NOT NULL UNIQUE, name TEXT NOT NULL, path TEXT NOT NULL, created_at TEXT NOT NULL);"         \
    "CREATE TABLE enterprise (id " PK ", uscc TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"                     \
    " legal_rep_enc TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active', created_at TEXT NOT NULL);"        \
    "CREATE TABLE account (id " PK ", login TEXT NOT NULL UNIQUE,"                                           \
    " kind TEXT NOT NULL CHECK (kind IN ('person','enterprise','agent','staff','admin')),"                   \
    " status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','disabled','deleted')),"              \
    " password_hash TEXT NOT NULL, password_changed_at " INT " NOT NULL,"                                    \
    " must_change_password " INT " NOT NULL DEFAULT 0,"                                                      \
    " name_enc TEXT, id_number_enc TEXT, id_number_bidx TEXT, mobile_enc TEXT, mobile_bidx TEXT,"            \
    " address_enc TEXT, enterprise_id " INT " REFERENCES enterprise(id), dept_id " INT                       \
    " REFERENCES department(id), badge TEXT, ip_ranges TEXT, totp_enc TEXT, totp_digest TEXT, "              \
    "totp_step " INT " NOT NULL DEFAULT 0,"                                                                  \
    " mfa " INT " NOT NULL DEFAULT 0, created_at TEXT NOT NULL, deleted_at TEXT);"                           \
    "CREATE INDEX account_id_number ON account(id_number_bidx);"                                             \
    "CREATE INDEX account_mobile ON account(mobile_bidx);"                                                   \
    "CREATE TABLE password_history (account_id " INT " NOT NULL REFERENCES account(id),"                     \
    " hash TEXT NOT NULL, at " INT " NOT NULL);"                                                             \
    "CREATE INDEX password_history_account ON password_history(account_id, at);"                             \
    "CREATE TABLE role (id " PK ", code TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"                           \
    " scope TEXT NOT NULL CHECK (scope IN ('own','dept','subtree','all')), builtin " INT                     \
    " NOT NULL DEFAULT 0, perms TEXT NOT NULL, mac TEXT NOT NULL, updated_at TEXT NOT NULL);"                \
    "CREATE TABLE account_role (account_id " INT " NOT NULL REFERENCES account(id), role_id " INT            \
    " NOT NULL REFERENCES role(id), granted_by " INT ", granted_at TEXT NOT NULL, mac TEXT NOT NULL,"        \
    " PRIMARY KEY (account_id, role_id));"                                                                   \
    "CREATE TABLE enterprise_member (account_id " INT " PRIMARY KEY REFERENCES account(id),"                 \
    " enterprise_id " INT " NOT NULL REFERENCES enterprise(id), admin " INT " NOT NULL DEFAULT 0,"           \
    " perms TEXT NOT NULL, mac TEXT NOT NULL);"                                                              \
    "CREATE TABLE agent_grant (id " PK ", enterprise_id " INT " NOT NULL REFERENCES enterprise(id),"         \
    " agent_id " INT " NOT NULL REFERENCES account(id), items TEXT NOT NULL, valid_from " INT                \
    " NOT NULL, valid_to " INT " NOT NULL, created_by " INT " NOT NULL, created_at TEXT NOT NULL,"           \
    " revoked_at TEXT, revoked_by " INT ", mac TEXT NOT NULL);"                                              \
    "CREATE INDEX agent_grant_agent ON agent_grant(agent_id);"                                               \
    "CREATE TABLE session (id_hash TEXT PRIMARY KEY, account_id " INT " NOT NULL REFERENCES account(id),"    \
    " stage TEXT NOT NULL, csrf TEXT NOT NULL, created_ms " INT " NOT NULL, last_seen " INT " NOT NULL,"     \
    " expires_at " INT " NOT NULL, client TEXT, user_agent TEXT, on_behalf " INT ", grant_id " INT ","       \
    " perms TEXT NOT NULL, scope TEXT NOT NULL, mac TEXT NOT NULL);"                                         \
    "CREATE INDEX session_account ON session(account_id);"                                                   \
    "CREATE TABLE auth_throttle (key TEXT PRIMARY KEY, fails " INT " NOT NULL, window_start " INT            \
    " NOT NULL, locked_until " INT " NOT NULL);"                                                             \
    "CREATE TABLE captcha (id TEXT PRIMARY KEY, answer_hash TEXT NOT NULL, expires_at " INT " NOT NULL);"    \
    "CREATE TABLE otp_code (id TEXT PRIMARY KEY, purpose TEXT NOT NULL, target TEXT NOT NULL,"               \
    " code_hash TEXT NOT NULL, expires_at " INT " NOT NULL, attempts " INT " NOT NULL DEFAULT 0,"            \
    " created_at " INT " NOT NULL);"                                                                         \
    "CREATE INDEX otp_code_target ON otp_code(target, created_at);"                                          \
    "CREATE TABLE sms_outbox (id " PK ", mobile_enc TEXT NOT NULL, body_enc TEXT NOT NULL,"                  \
    " mobile_bidx TEXT NOT NULL, purpose TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"             \
    " attempts " INT " NOT NULL DEFAULT 0, created_at TEXT NOT NULL, sent_at TEXT);"                         \
    "CREATE INDEX sms_outbox_status ON sms_outbox(status, id);"                                              \
    "CREATE TABLE cert_key (id " PK ", account_id " INT " NOT NULL REFERENCES account(id),"                  \
    " label TEXT NOT NULL, public_key TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE,"                      \
    " created_at TEXT NOT NULL, revoked_at TEXT, mac TEXT NOT NULL);"                                        \
    "CREATE TABLE cert_challenge (id TEXT PRIMARY KEY, account_id " INT " NOT NULL, nonce TEXT NOT NULL,"    \
    " expires_at " INT " NOT NULL);"                                                                         \
    "CREATE TABLE audit_checkpoint (seq " INT " PRIMARY KEY, hash TEXT NOT NULL, at TEXT NOT NULL,"          \
    " key_id TEXT NOT NULL, signature TEXT NOT NULL)"

/* Migration 8, written once for both engines (see MIGRATIONS). */
#define EXCHANGE_SQL(PK, INT)                                                                                \
    "CREATE TABLE exchange_msg (id " PK ", idem_key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"               \
    " connector TEXT NOT NULL, case_id " INT " NOT NULL DEFAULT 0, payload TEXT NOT NULL,"                   \
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued','leased','done','dead')),"              \
    " attempts " INT " NOT NULL DEFAULT 0, next_at_ms " INT " NOT NULL, lease_until_ms " INT ","             \
    " lease_owner TEXT, outcome TEXT, result TEXT, last_error TEXT, created_at TEXT NOT NULL,"               \
    " created_ms " INT " NOT NULL, done_ms " INT ", day TEXT);"                                              \
    "CREATE INDEX exchange_msg_due ON exchange_msg(state, next_at_ms);"                                      \
    "CREATE INDEX exchange_msg_day ON exchange_msg(day);"                                                    \
    "CREATE INDEX exchange_msg_case ON exchange_msg(case_id);"                                               \
    "CREATE TABLE exchange_report (id " PK ", day TEXT NOT NULL, source TEXT NOT NULL,"                      \
    " created_at TEXT NOT NULL, ehall_count " INT " NOT NULL, backend_count " INT " NOT NULL,"               \
    " missing " INT " NOT NULL, duplicated " INT " NOT NULL, mismatched " INT " NOT NULL,"                   \
    " details TEXT NOT NULL);"                                                                               \
    "CREATE INDEX exchange_report_day ON exchange_report(day);"                                              \
    "CREATE UNIQUE INDEX exchange_report_scheduled ON exchange_report(day) WHERE source = 'scheduled';"      \
    "CREATE TABLE sim_ledger (id " PK ", idem_key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"                 \
    " case_id " INT " NOT NULL, outcome TEXT NOT NULL, reference TEXT, reason TEXT, at TEXT NOT NULL,"       \
    " day TEXT NOT NULL);"                                                                                   \
    "CREATE INDEX sim_ledger_day ON sim_ledger(day);"                                                        \
    "CREATE TABLE exchange_test_effect (msg_id " INT " NOT NULL UNIQUE, outcome TEXT NOT NULL,"              \
    " at TEXT NOT NULL)"

/* Migration 10, the case engine (src/engine/).  Dates are day numbers (days since
 * 1970-01-01, the calendar's), instants milliseconds since the epoch. */
#define CASES_SQL(PK, INT)                                                                                   \
    "CREATE TABLE bundle_case (id " PK ", bundle_code TEXT NOT NULL, applicant " INT " NOT NULL,"            \
    " enterprise " INT " NOT NULL DEFAULT 0, created_ms " INT " NOT NULL);"                                  \
    "CREATE TABLE ecase (id " PK ", case_no TEXT UNIQUE, item_code TEXT NOT NULL, item_version " INT         \
    " NOT NULL, applicant " INT " NOT NULL, enterprise " INT " NOT NULL DEFAULT 0, agent " INT               \
    " NOT NULL DEFAULT 0, state TEXT NOT NULL, prev_state TEXT, step " INT " NOT NULL DEFAULT 0,"            \
    " dept_code TEXT, dept_path TEXT NOT NULL DEFAULT '', step_role TEXT,"                                   \
    " assignee " INT " NOT NULL DEFAULT 0,"                                                                  \
    " precheck TEXT NOT NULL DEFAULT 'none', form TEXT NOT NULL, materials TEXT NOT NULL DEFAULT '{}',"      \
    " digest TEXT, limit_key TEXT, bundle_id " INT " NOT NULL DEFAULT 0, idem_key TEXT,"                     \
    " created_ms " INT " NOT NULL, updated_ms " INT " NOT NULL, submitted_ms " INT ", closed_ms " INT ","    \
    " accepted_day " INT ", due_day " INT ", step_day " INT ", step_due " INT ", supplement_due " INT ","    \
    " paused_day " INT ", escalated " INT " NOT NULL DEFAULT 0, escalated_dept TEXT, reminded " INT          \
    " NOT NULL DEFAULT 0, score " INT ", comment TEXT, result TEXT, nlog " INT " NOT NULL DEFAULT 0);"       \
    "CREATE INDEX ecase_applicant ON ecase(applicant, id);"                                                  \
    "CREATE INDEX ecase_enterprise ON ecase(enterprise, id);"                                                \
    "CREATE INDEX ecase_to_sign ON ecase(dept_path, step_role, id) WHERE assignee = 0"                       \
    " AND state IN ('submitted','in_review');"                                                               \
    "CREATE INDEX ecase_in_hand ON ecase(assignee, step_due, id)"                                            \
    " WHERE state IN ('submitted','in_review','supplement');"                                                \
    "CREATE INDEX ecase_due ON ecase(state, step_due);"                                                      \
    "CREATE INDEX ecase_escalated ON ecase(escalated_dept, state, id);"                                      \
    "CREATE INDEX ecase_limit ON ecase(item_code, limit_key);"                                               \
    "CREATE INDEX ecase_bundle ON ecase(bundle_id);"                                                         \
    "CREATE UNIQUE INDEX ecase_idem ON ecase(applicant, idem_key);"                                          \
    "CREATE TABLE case_log (case_id " INT " NOT NULL REFERENCES ecase(id), seq " INT " NOT NULL,"            \
    " at TEXT NOT NULL, at_ms " INT " NOT NULL, actor " INT " NOT NULL, actor_login TEXT NOT NULL,"          \
    " step " INT " NOT NULL, step_name TEXT, action TEXT NOT NULL, from_state TEXT NOT NULL,"                \
    " to_state TEXT NOT NULL, to_step " INT " NOT NULL, assignee " INT " NOT NULL DEFAULT 0,"                \
    " opinion TEXT, time_limit " INT ", time_used " INT ", details TEXT,"                                    \
    " PRIMARY KEY (case_id, seq));"                                                                          \
    "CREATE INDEX case_log_actor ON case_log(actor, case_id);"                                               \
    "CREATE TABLE case_material (case_id " INT " NOT NULL REFERENCES ecase(id), slot TEXT NOT NULL,"         \
    " sm3 TEXT NOT NULL, type TEXT NOT NULL, size " INT " NOT NULL, file_name TEXT NOT NULL,"                \
    " added_ms " INT " NOT NULL, PRIMARY KEY (case_id, slot, sm3));"

/* Migration 17's fill: the staff who acted on each case already decided or finished. */
#define CASE_DONE_FILL                                                                                       \
    "INSERT INTO case_done (actor, case_id) SELECT DISTINCT l.actor, l.case_id FROM case_log l"              \
    " JOIN ecase e ON e.id = l.case_id JOIN account a ON a.id = l.actor WHERE a.kind = 'staff'"              \
    " AND e.state IN ('closed','not_accepted','withdrawn','approved','refused','result_issued')"

/* Migration 9, written once for both engines (PK and INT as for identity). */
#define MATERIALS_SQL(PK, INT)                                                                               \
    "CREATE TABLE material_blob (sm3 TEXT PRIMARY KEY, mime TEXT NOT NULL, size " INT " NOT NULL,"           \
    " content TEXT NOT NULL, created_at TEXT NOT NULL);"                                                     \
    "CREATE TABLE holder_material (id " PK ", owner " INT " NOT NULL REFERENCES account(id),"                \
    " sm3 TEXT NOT NULL REFERENCES material_blob(sm3), file_name TEXT NOT NULL, mime TEXT NOT NULL,"         \
    " size " INT " NOT NULL, uploaded_at TEXT NOT NULL, UNIQUE (owner, sm3));"                               \
    "CREATE INDEX holder_material_owner ON holder_material(owner, id);"                                      \
    "CREATE TABLE inbox_message (id " PK ", account " INT " NOT NULL REFERENCES account(id),"                \
    " case_id " INT ", kind TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, at TEXT NOT NULL,"       \
    " at_ms " INT " NOT NULL, read_at TEXT);"                                                                \
    "CREATE INDEX inbox_message_account ON inbox_message(account, id);"                                      \
    "CREATE INDEX inbox_message_unread ON inbox_message(account, id) WHERE read_at IS NULL"

/* Migration 11, electronic licences (src/licence/).  licence_type holds the imported
 * type definitions; licence_seq the identifier sequences; licence the issued licences,
 * keyed for holders by the blind index of the holder number (the number and the signed
 * document are sealed), with the public fields the status check shows in clear;
 * licence_entry the manual four-role flow (entered, reviewed, sealed by three accounts). */
#define LICENCE_SQL(PK, INT)                                                                                 \
    "CREATE TABLE licence_type (code TEXT PRIMARY KEY, version " INT " NOT NULL, name TEXT NOT NULL,"        \
    " issuer_dept TEXT NOT NULL, definition TEXT NOT NULL, sm3 TEXT NOT NULL, updated_at TEXT NOT NULL);"    \
    "CREATE TABLE licence_seq (type_code TEXT NOT NULL, year " INT " NOT NULL, next " INT " NOT NULL,"       \
    " PRIMARY KEY (type_code, year));"                                                                       \
    "CREATE TABLE licence (id " PK ", licence_no TEXT NOT NULL UNIQUE, type_code TEXT NOT NULL,"             \
    " issuer_dept TEXT NOT NULL, holder_bidx TEXT NOT NULL, holder_enc TEXT NOT NULL,"                       \
    " data_enc TEXT NOT NULL, public_json TEXT NOT NULL,"                                                    \
    " state TEXT NOT NULL CHECK (state IN ('valid','expired','revoked')), valid_to_day " INT ","             \
    " issued_ms " INT " NOT NULL, case_id " INT " UNIQUE, entry_id " INT " UNIQUE, source TEXT NOT NULL,"    \
    " revoked_ms " INT ", revoke_reason TEXT, revoked_by " INT ");"                                          \
    "CREATE INDEX licence_holder ON licence(holder_bidx, id);"                                               \
    "CREATE INDEX licence_expiry ON licence(state, valid_to_day);"                                           \
    "CREATE TABLE licence_entry (id " PK ", type_code TEXT NOT NULL, issuer_dept TEXT NOT NULL,"             \
    " dept_path TEXT NOT NULL,"                                                                              \
    " state TEXT NOT NULL CHECK (state IN ('entered','reviewed','rejected','sealed')),"                      \
    " data_enc TEXT NOT NULL, entered_by " INT " NOT NULL, reviewed_by " INT ", sealed_by " INT ","          \
    " opinion TEXT, licence_no TEXT, created_ms " INT " NOT NULL, updated_ms " INT " NOT NULL);"             \
    "CREATE INDEX licence_entry_state ON licence_entry(state, id)"
/* Migration 13, tax e-services (src/tax/): dated parameters, the taxpayer registry and
 * its registered tax types, declarations (read-only once submitted: the engines refuse
 * to change what was declared or to delete a declaration) and the reminders sent. */
#define TAX_SQL(PK, INT)                                                                                     \
    "CREATE TABLE tax_param (id " PK                                                                         \
    ", kind TEXT NOT NULL, valid_from TEXT NOT NULL, valid_to TEXT NOT NULL,"                                \
    " body TEXT NOT NULL, file TEXT NOT NULL, sm3 TEXT NOT NULL, imported_at TEXT NOT NULL,"                 \
    " UNIQUE (kind, valid_from));"                                                                           \
    "CREATE TABLE taxpayer (id " PK ", kind TEXT NOT NULL CHECK (kind IN ('enterprise','person')),"          \
    " uscc TEXT UNIQUE, id_number_bidx TEXT UNIQUE, id_number_enc TEXT, name TEXT NOT NULL, name_enc TEXT,"  \
    " vat_status TEXT NOT NULL CHECK (vat_status IN ('general','small','none')), office TEXT NOT NULL,"      \
    " credit TEXT NOT NULL CHECK (credit IN ('A','B','M','C','D')), status TEXT NOT NULL DEFAULT 'normal',"  \
    " created_by " INT ", created_at TEXT NOT NULL);"                                                        \
    "CREATE TABLE tax_registration (taxpayer_id " INT " NOT NULL REFERENCES taxpayer(id),"                   \
    " tax TEXT NOT NULL CHECK (tax IN ('vat','cit','iit')),"                                                 \
    " period TEXT NOT NULL CHECK (period IN ('monthly','quarterly')), since TEXT NOT NULL,"                  \
    " PRIMARY KEY (taxpayer_id, tax));"                                                                      \
    "CREATE TABLE tax_declaration (id " PK ", taxpayer_id " INT " NOT NULL REFERENCES taxpayer(id),"         \
    " tax TEXT NOT NULL, form TEXT NOT NULL, period TEXT NOT NULL, period_start TEXT NOT NULL,"              \
    " period_end TEXT NOT NULL, version " INT " NOT NULL, supersedes " INT                                   \
    " REFERENCES tax_declaration(id),"                                                                       \
    " current " INT " NOT NULL DEFAULT 1,"                                                                   \
    " status TEXT NOT NULL CHECK (status IN ('submitted','accepted','refused','corrected')),"                \
    " canonical TEXT NOT NULL, result TEXT NOT NULL, tax_due_fen " INT " NOT NULL, sm3 TEXT NOT NULL,"       \
    " signature TEXT, cert_fingerprint TEXT, deadline TEXT NOT NULL, late " INT " NOT NULL DEFAULT 0,"       \
    " filed_by " INT " NOT NULL REFERENCES account(id), on_behalf " INT ", msg_id " INT ", reference TEXT,"  \
    " reason TEXT, created_at TEXT NOT NULL, answered_at TEXT);"                                             \
    "CREATE UNIQUE INDEX tax_declaration_one ON tax_declaration(taxpayer_id, tax, period) WHERE current = "  \
    "1;"                                                                                                     \
    "CREATE INDEX tax_declaration_tp ON tax_declaration(taxpayer_id, tax, period_start);"                    \
    "CREATE TABLE tax_reminder (taxpayer_id " INT " NOT NULL REFERENCES taxpayer(id), tax TEXT NOT NULL,"    \
    " period TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('cuibao','cuijiao')), sent_at TEXT NOT NULL," \
    " recipients " INT " NOT NULL, PRIMARY KEY (taxpayer_id, tax, period, kind));"
/* Migration 14, licence sharing (src/licence/share.c, gateway.c): share codes (only the
 * SM3 of a code is kept), registered applications of the gateway (secret sealed under the
 * master key), their nonces and rate windows, standing authorisations, the usage log and
 * the served-call counters of the daily report. */
#define LICENCE_SHARE_SQL(PK, INT)                                                                           \
    "CREATE TABLE licence_share (id " PK ", code_hash TEXT NOT NULL UNIQUE, hint TEXT NOT NULL,"             \
    " licence_no TEXT NOT NULL, account_id " INT " NOT NULL, scenario TEXT NOT NULL,"                        \
    " fields TEXT NOT NULL, uses_max " INT " NOT NULL, uses_left " INT " NOT NULL,"                          \
    " expires_ms " INT " NOT NULL, created_ms " INT " NOT NULL, revoked_ms " INT ");"                        \
    "CREATE INDEX licence_share_licence ON licence_share(licence_no, id);"                                   \
    "CREATE TABLE licence_app (id " PK ", app_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"                  \
    " dept_code TEXT NOT NULL, scenarios TEXT NOT NULL, fields_requested TEXT NOT NULL,"                     \
    " fields_approved TEXT, state TEXT NOT NULL CHECK (state IN ('pending','approved','rejected')),"         \
    " secret_enc TEXT, created_by " INT " NOT NULL, created_ms " INT " NOT NULL, decided_by " INT ","        \
    " decided_ms " INT ", reason TEXT);"                                                                     \
    "CREATE TABLE licence_app_nonce (app_id TEXT NOT NULL, nonce TEXT NOT NULL, at_ms " INT " NOT NULL,"     \
    " PRIMARY KEY (app_id, nonce));"                                                                         \
    "CREATE INDEX licence_app_nonce_at ON licence_app_nonce(app_id, at_ms);"                                 \
    "CREATE TABLE licence_app_rate (app_id TEXT NOT NULL, win TEXT NOT NULL, start " INT " NOT NULL,"        \
    " n " INT " NOT NULL, PRIMARY KEY (app_id, win));"                                                       \
    "CREATE TABLE licence_auth (id " PK ", licence_no TEXT NOT NULL, app_id TEXT NOT NULL,"                  \
    " scenario TEXT NOT NULL, until_day " INT " NOT NULL, account_id " INT " NOT NULL,"                      \
    " created_ms " INT " NOT NULL, revoked_ms " INT ");"                                                     \
    "CREATE INDEX licence_auth_licence ON licence_auth(licence_no, app_id);"                                 \
    "CREATE TABLE licence_use (id " PK ", at_ms " INT " NOT NULL, day TEXT NOT NULL,"                        \
    " licence_no TEXT NOT NULL, action TEXT NOT NULL, who_kind TEXT NOT NULL, who TEXT NOT NULL,"            \
    " scenario TEXT, result TEXT NOT NULL);"                                                                 \
    "CREATE INDEX licence_use_licence ON licence_use(licence_no, id);"                                       \
    "CREATE INDEX licence_use_day ON licence_use(day, action);"                                              \
    "CREATE TABLE licence_use_count (day TEXT NOT NULL, action TEXT NOT NULL, served " INT " NOT NULL,"      \
    " dropped " INT " NOT NULL, PRIMARY KEY (day, action))"
/* Migration 12, written once for both engines. */
#define NOTICES_SQL(PK, INT)                                                                                 \
    "CREATE TABLE notices (id " PK ", title TEXT NOT NULL, body TEXT NOT NULL, category TEXT NOT NULL,"      \
    " published_at " INT " NOT NULL, expires_at " INT ", withdrawn_at " INT ", author TEXT NOT NULL,"        \
    " version " INT " NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"              \
    "CREATE INDEX notices_current ON notices(published_at, id) WHERE withdrawn_at IS NULL"

/* Migration 15, tax payment and invoices (src/tax/pay.c, invoice.c): three-party
 * agreements, payments (one live payment per declaration; the client's idempotency key
 * unique per taxpayer) with their electronic payment vouchers, the simulated treasury's
 * own ledger (treasury_ledger, keyed by the exchange message's idempotency key), and
 * electronic invoices (a red-letter invoice reverses one blue invoice, once).  The msg_id
 * indexes serve the exchange's result handlers (tax.declare had none: a scan per answer). */
#define TAXPAY_SQL(PK, INT)                                                                                  \
    "CREATE TABLE tax_agreement (id " PK ", taxpayer_id " INT " NOT NULL REFERENCES taxpayer(id),"           \
    " agreement_no TEXT NOT NULL UNIQUE, bank_code TEXT NOT NULL, bank_name TEXT NOT NULL,"                  \
    " account_no TEXT NOT NULL, account_name TEXT NOT NULL, status TEXT NOT NULL,"                           \
    " created_by " INT " NOT NULL, created_at TEXT NOT NULL, UNIQUE (taxpayer_id, bank_code, account_no));"  \
    "CREATE TABLE tax_payment (id " PK ", taxpayer_id " INT " NOT NULL REFERENCES taxpayer(id),"             \
    " declaration_id " INT " NOT NULL REFERENCES tax_declaration(id),"                                       \
    " agreement_id " INT " NOT NULL REFERENCES tax_agreement(id), amount_fen " INT " NOT NULL,"              \
    " client_key TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('pending','paid','failed')),"         \
    " msg_id " INT ", treasury_ref TEXT, reason TEXT, voucher_no TEXT UNIQUE, voucher TEXT,"                 \
    " certificate TEXT, answered_day TEXT, created_by " INT " NOT NULL, created_at TEXT NOT NULL,"           \
    " answered_at TEXT, UNIQUE (taxpayer_id, client_key));"                                                  \
    "CREATE UNIQUE INDEX tax_payment_live ON tax_payment(declaration_id) WHERE status <> 'failed';"          \
    "CREATE INDEX tax_payment_day ON tax_payment(answered_day);"                                             \
    "CREATE TABLE treasury_ledger (id " PK ", idem_key TEXT NOT NULL UNIQUE, agreement_no TEXT NOT NULL,"    \
    " amount_fen " INT " NOT NULL, outcome TEXT NOT NULL, reference TEXT, reason TEXT, at TEXT NOT NULL,"    \
    " day TEXT NOT NULL);"                                                                                   \
    "CREATE INDEX treasury_ledger_day ON treasury_ledger(day);"                                              \
    "CREATE TABLE tax_invoice (id " PK ", number TEXT NOT NULL UNIQUE, check_code TEXT NOT NULL,"            \
    " kind TEXT NOT NULL CHECK (kind IN ('blue','red')), reverses " INT                                      \
    " UNIQUE REFERENCES tax_invoice(id),"                                                                    \
    " status TEXT NOT NULL CHECK (status IN ('issued','reversed')), taxpayer_id " INT                        \
    " NOT NULL REFERENCES taxpayer(id), seller_name TEXT NOT NULL, seller_tin TEXT NOT NULL,"                \
    " buyer_name TEXT NOT NULL, buyer_tin TEXT, lines TEXT NOT NULL, amount_fen " INT " NOT NULL,"           \
    " tax_fen " INT " NOT NULL, total_fen " INT " NOT NULL, issue_date TEXT NOT NULL, month TEXT NOT NULL,"  \
    " reason TEXT, created_by " INT " NOT NULL, created_at TEXT NOT NULL);"                                  \
    "CREATE INDEX tax_invoice_tp ON tax_invoice(taxpayer_id, month);"                                        \
    "CREATE INDEX tax_payment_msg ON tax_payment(msg_id);"                                                   \
    "CREATE INDEX tax_declaration_msg ON tax_declaration(msg_id)"

static const struct migration MIGRATIONS[] = {
    {1, "settings",
     /* Runtime settings that administrators change without a restart (security
      * policy and the like); the value is JSON text. */
     "CREATE TABLE setting ("
     " key TEXT PRIMARY KEY,"
     " value TEXT NOT NULL,"
     " updated_at TEXT NOT NULL,"
     " updated_by TEXT)",
     NULL, NULL},
    {2, "page_view",
     /* Portal visit statistics (seed 002 §6.2); `day` is the local date, kept apart
      * so per-day reports use an index. */
     NULL,
     "CREATE TABLE page_view ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " at TEXT NOT NULL, day TEXT NOT NULL, client TEXT NOT NULL, visit TEXT,"
     " path TEXT NOT NULL, referrer TEXT, dwell_ms INTEGER, user_agent TEXT);"
     "CREATE INDEX page_view_day ON page_view(day)",
     "CREATE TABLE page_view ("
     " id BIGSERIAL PRIMARY KEY,"
     " at TEXT NOT NULL, day TEXT NOT NULL, client TEXT NOT NULL, visit TEXT,"
     " path TEXT NOT NULL, referrer TEXT, dwell_ms BIGINT, user_agent TEXT);"
     "CREATE INDEX page_view_day ON page_view(day)"},
    {3, "audit_log",
     /* The tamper-evident audit chain (src/audit/audit.c).  The engines themselves
      * refuse to change or delete a record. */
     NULL,
     "CREATE TABLE audit_log ("
     " seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT, role TEXT, client TEXT, request_id TEXT,"
     " action TEXT NOT NULL, object TEXT, result TEXT NOT NULL, details TEXT,"
     " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
     "CREATE INDEX audit_log_at ON audit_log(at);"
     "CREATE INDEX audit_log_actor ON audit_log(actor, at);"
     "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT "
     "NULL);"
     "INSERT INTO audit_head VALUES (1, 0, "
     "'0000000000000000000000000000000000000000000000000000000000000000');"
     "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
     " BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;"
     "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
     " BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
     "CREATE TABLE audit_log ("
     " seq BIGINT PRIMARY KEY, at TEXT NOT NULL, actor TEXT, role TEXT, client TEXT, request_id TEXT,"
     " action TEXT NOT NULL, object TEXT, result TEXT NOT NULL, details TEXT,"
     " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
     "CREATE INDEX audit_log_at ON audit_log(at);"
     "CREATE INDEX audit_log_actor ON audit_log(actor, at);"
     "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT "
     "NULL);"
     "INSERT INTO audit_head VALUES (1, 0, "
     "'0000000000000000000000000000000000000000000000000000000000000000');"
     "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS"
     " $$ BEGIN RAISE EXCEPTION 'audit records are append-only'; END $$;"
     "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log"
     " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"},
    {4, "identity",
     /* Accounts, departments, roles, sessions and the factors (src/auth/).  Personal
      * fields are sealed (*_enc) with a keyed blind index (*_bidx) for exact lookup;
      * role, membership and grant rows carry an HMAC-SM3 (mac) checked when loaded. */
     NULL, IDENTITY_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     IDENTITY_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {5, "audit_retention",
     /* Retention (src/audit/search.c, `ehall audit purge`): the chain's anchor (the
      * last purged record, where verification starts) and purge_upto, the only records
      * DELETE may touch.  UPDATE and TRUNCATE stay refused, and DELETE of any record
      * above purge_upto too.  The purge sets purge_upto = anchor_seq and deletes those
      * records in one transaction, so afterwards it permits nothing that exists. */
     NULL,
     "ALTER TABLE audit_head ADD COLUMN anchor_seq INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE audit_head ADD COLUMN anchor_hash TEXT NOT NULL DEFAULT "
     "'0000000000000000000000000000000000000000000000000000000000000000';"
     "ALTER TABLE audit_head ADD COLUMN purge_upto INTEGER NOT NULL DEFAULT 0;"
     "DROP TRIGGER audit_log_no_delete;"
     "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
     " WHEN OLD.seq > COALESCE((SELECT purge_upto FROM audit_head WHERE id = 1), 0)"
     " BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END",
     "ALTER TABLE audit_head ADD COLUMN anchor_seq BIGINT NOT NULL DEFAULT 0,"
     " ADD COLUMN anchor_hash TEXT NOT NULL DEFAULT "
     "'0000000000000000000000000000000000000000000000000000000000000000',"
     " ADD COLUMN purge_upto BIGINT NOT NULL DEFAULT 0;"
     "DROP TRIGGER audit_log_no_change ON audit_log;"
     "CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
     " IF TG_OP = 'DELETE' AND OLD.seq <= COALESCE((SELECT purge_upto FROM audit_head WHERE id = 1), 0)"
     " THEN RETURN OLD; END IF;"
     " RAISE EXCEPTION 'audit records are append-only'; END $$;"
     "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log"
     " FOR EACH ROW EXECUTE FUNCTION audit_log_guard();"
     "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
     " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"},
    {6, "calendar",
     /* The working-day calendar (src/calendar/): calendar_day lists only the days
      * that break the rule (Monday to Friday work, Saturday and Sunday off) — the
      * holidays and the adjusted working weekends (调休) of each imported year;
      * calendar_year records which years were imported, from what, and the SM3 of
      * the file, which servers compare to notice a re-import. */
     "CREATE TABLE calendar_day ("
     " day TEXT PRIMARY KEY,"
     " kind TEXT NOT NULL CHECK (kind IN ('holiday','workday')),"
     " name TEXT,"
     " year INTEGER NOT NULL);"
     "CREATE INDEX calendar_day_year ON calendar_day(year);"
     "CREATE TABLE calendar_year ("
     " year INTEGER PRIMARY KEY,"
     " source TEXT,"
     " sm3 TEXT NOT NULL,"
     " imported_at TEXT NOT NULL)",
     NULL, NULL},
    {7, "items",
     /* Service items (src/engine/item.c): item_version holds every imported version's
      * definition (immutable; sm3 of the file's bytes), item the current version, the
      * online flag and, copied from the current definition, the few columns the
      * catalog searches and filters on (applicant_types as ",person,agent,").  bundle:
      * one-application bundles (一件事一次办) of several items. */
     "CREATE TABLE item ("
     " code TEXT PRIMARY KEY,"
     " current_version INTEGER NOT NULL,"
     " online INTEGER NOT NULL DEFAULT 1,"
     " name TEXT NOT NULL,"
     " category TEXT NOT NULL,"
     " department TEXT NOT NULL,"
     " applicant_types TEXT NOT NULL,"
     " depth TEXT NOT NULL,"
     " time_limit INTEGER NOT NULL,"
     " updated_at TEXT NOT NULL);"
     "CREATE INDEX item_catalog ON item(online, category, code);"
     "CREATE TABLE item_version ("
     " code TEXT NOT NULL REFERENCES item(code),"
     " version INTEGER NOT NULL,"
     " sm3 TEXT NOT NULL,"
     " definition TEXT NOT NULL,"
     " imported_at TEXT NOT NULL,"
     " PRIMARY KEY (code, version));"
     "CREATE TABLE bundle ("
     " code TEXT PRIMARY KEY,"
     " version INTEGER NOT NULL,"
     " name TEXT NOT NULL,"
     " sm3 TEXT NOT NULL,"
     " definition TEXT NOT NULL,"
     " online INTEGER NOT NULL DEFAULT 1,"
     " updated_at TEXT NOT NULL)",
     NULL, NULL},
    {8, "exchange",
     /* The exchange between the acceptance and processing zones (src/exchange/):
      * exchange_msg is the durable queue (a leased message's next_at_ms is its lease
      * expiry, so one index finds both due and expired work), exchange_report the
      * reconciliation reports, sim_ledger the built-in simulated back-end's own ledger
      * (it stands for the external system's ledger), exchange_test_effect the effects
      * of the test-only kind test.echo (msg_id UNIQUE: exactly once). */
     NULL, EXCHANGE_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     EXCHANGE_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {9, "materials",
     /* Uploaded materials (src/engine/material.c) and the in-site inbox
      * (src/engine/inbox.c).  material_blob is content-addressed by the SM3 of the
      * bytes (hex), so the same file uploaded by several holders is stored once; the
      * bytes are base64 TEXT because the store binds text and integers only.  Blobs are
      * never deleted here: cases refer to them by sm3.  holder_material is each
      * holder's library (what lets a case reuse an earlier upload); inbox_message the
      * notices a holder reads, with a partial index for the unread count. */
     NULL, MATERIALS_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     MATERIALS_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {10, "cases",
     /* The case engine (src/engine/case*.c).  A case row is the current state; case_log
      * is its supervision log (who, when, step, action, opinion, time limit and time
      * used), from which the state can be rebuilt (`ehall cases verify`).  case_material
      * snapshots the materials a submission carries (by SM3 content address). */
     NULL, CASES_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     CASES_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {11, "licences", NULL, LICENCE_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     LICENCE_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {12, "notices",
     /* Portal notices (通知公告, src/engine/notice.c).  published_at, expires_at and
      * withdrawn_at are milliseconds since the epoch (a notice is current while published,
      * not expired and not withdrawn); version counts edits, for optimistic locking. */
     NULL, NOTICES_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     NOTICES_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {13, "tax",
     /* Tax e-services (src/tax/, docs/tax.md). */
     NULL,
     TAX_SQL("INTEGER PRIMARY KEY AUTOINCREMENT",
             "INTEGER") "CREATE TRIGGER tax_declaration_ro BEFORE UPDATE OF taxpayer_id, tax, form, period, "
                        "version, canonical,"
                        " result, tax_due_fen, sm3, signature ON tax_declaration"
                        " BEGIN SELECT RAISE(ABORT, 'a submitted declaration is read-only'); END;"
                        "CREATE TRIGGER tax_declaration_no_delete BEFORE DELETE ON tax_declaration"
                        " BEGIN SELECT RAISE(ABORT, 'a submitted declaration is read-only'); END",
     TAX_SQL(
         "BIGSERIAL PRIMARY KEY",
         "BIGINT") "CREATE FUNCTION tax_declaration_ro() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                   " IF TG_OP = 'DELETE' OR NEW.taxpayer_id <> OLD.taxpayer_id OR NEW.tax <> OLD.tax OR "
                   "NEW.form <> OLD.form"
                   " OR NEW.period <> OLD.period OR NEW.version <> OLD.version OR NEW.canonical <> "
                   "OLD.canonical"
                   " OR NEW.result <> OLD.result OR NEW.tax_due_fen <> OLD.tax_due_fen OR NEW.sm3 <> OLD.sm3"
                   " OR NEW.signature IS DISTINCT FROM OLD.signature"
                   " THEN RAISE EXCEPTION 'a submitted declaration is read-only'; END IF; RETURN NEW; END $$;"
                   "CREATE TRIGGER tax_declaration_ro BEFORE UPDATE OR DELETE ON tax_declaration"
                   " FOR EACH ROW EXECUTE FUNCTION tax_declaration_ro()"},
    {14, "licence_share", NULL, LICENCE_SHARE_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     LICENCE_SHARE_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {15, "tax payment", NULL, TAXPAY_SQL("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
     TAXPAY_SQL("BIGSERIAL PRIMARY KEY", "BIGINT")},
    {16, "case partial indexes",
     /* The case columns that are rarely set get partial indexes: every submission wrote
      * an entry into each of these four for a value no query looks up (an empty
      * escalation department, no limit key, bundle 0, no idempotency key).  The queries
      * repeat the predicate where a bound parameter does not imply it
      * (src/engine/workbench.c, bundle.c); `col = $1` implies `col IS NOT NULL`. */
     "DROP INDEX ecase_escalated;"
     "CREATE INDEX ecase_escalated ON ecase(escalated_dept, state, id) WHERE escalated_dept <> '';"
     "DROP INDEX ecase_limit;"
     "CREATE INDEX ecase_limit ON ecase(item_code, limit_key) WHERE limit_key IS NOT NULL;"
     "DROP INDEX ecase_bundle;"
     "CREATE INDEX ecase_bundle ON ecase(bundle_id) WHERE bundle_id <> 0;"
     "DROP INDEX ecase_idem;"
     "CREATE UNIQUE INDEX ecase_idem ON ecase(applicant, idem_key) WHERE idem_key IS NOT NULL",
     NULL, NULL},
    {17, "case done",
     /* The staff's "done" queue (src/engine/workbench.c): one row per staff member and
      * case they acted on, written by case_move when the case is decided or finished
      * (case_state_done), so that the queue and its count read one clerk's index range
      * instead of looking up each case they touched.  Filled here from the log for the
      * cases already done; the log's actor index, which only that queue read, goes. */
     NULL,
     "CREATE TABLE case_done (actor INTEGER NOT NULL, case_id INTEGER NOT NULL REFERENCES ecase(id),"
     " PRIMARY KEY (actor, case_id)) WITHOUT ROWID;" CASE_DONE_FILL "; DROP INDEX case_log_actor",
     "CREATE TABLE case_done (actor BIGINT NOT NULL, case_id BIGINT NOT NULL REFERENCES ecase(id),"
     " PRIMARY KEY (actor, case_id));" CASE_DONE_FILL "; DROP INDEX case_log_actor"},
    {18, "enterprise cases index partial",
     /* A person's case has enterprise 0, and nothing looks cases up by enterprise 0: like
      * migration 16's, the index keeps only the cases filed for an enterprise, and its
      * queries say `enterprise <> 0` (case_api.c, tax/invoice.c). */
     "DROP INDEX ecase_enterprise;"
     "CREATE INDEX ecase_enterprise ON ecase(enterprise, id) WHERE enterprise <> 0",
     NULL, NULL},
    {19, "audit records pending their link",
     /* PostgreSQL only (src/audit/audit.c): a transaction writes its audit records here,
      * without touching the chain's head, and the records are linked into audit_log right
      * after its COMMIT, many transactions' records at a time.  Nothing updates or
      * truncates a pending record; the linking run deletes those it has linked, in the
      * transaction that inserts them into audit_log.  SQLite links records in the
      * writing transaction itself, as before. */
     NULL, NULL,
     "CREATE TABLE audit_pending ("
     " id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, actor TEXT, role TEXT, client TEXT, request_id TEXT,"
     " action TEXT NOT NULL, object TEXT, result TEXT NOT NULL, details TEXT);"
     "CREATE TRIGGER audit_pending_no_update BEFORE UPDATE OR TRUNCATE ON audit_pending"
     " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"},
};

static const char *SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS ehall_schema ("
                                  " version INTEGER PRIMARY KEY,"
                                  " name TEXT NOT NULL,"
                                  " applied_at TEXT NOT NULL)";

int store_migrations_latest(void) { return MIGRATIONS[EHALL_ARRAY_LEN(MIGRATIONS) - 1].version; }

static int current_version(store_conn *c, int *out)
{
    long long v = 0;
    int rc = store_query_int64(c, "SELECT COALESCE(MAX(version), 0) FROM ehall_schema", &v);
    if (rc == STORE_OK) *out = (int)v;
    return rc;
}

struct step_arg {
    const struct migration *m;
    int applied, newer;
    char *err;
    size_t errlen;
};

static int apply_one(store_conn *c, void *arg)
{
    struct step_arg *a = arg;
    if (store_engine_of(c->s) == STORE_POSTGRES) {
        /* a migration may rewrite big tables: not bound by the per-request timeout */
        int rc = store_exec(c, "SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock(7270010)");
        if (rc != STORE_OK) return rc;
    }
    int rc = store_exec(c, SCHEMA_TABLE);
    if (rc != STORE_OK) return rc;
    int cur;
    if ((rc = current_version(c, &cur)) != STORE_OK) return rc;
    if (cur > store_migrations_latest()) {
        a->newer = cur;
        return STORE_ERROR;
    }
    if (cur >= a->m->version) return STORE_OK; /* another node got there first */
    const char *sql = a->m->sql                               ? a->m->sql
                      : store_engine_of(c->s) == STORE_SQLITE ? a->m->sql_sqlite
                                                              : a->m->sql_postgres;
    if (sql && (rc = store_exec(c, sql)) != STORE_OK) { /* NULL: nothing to do on this engine */
        snprintf(a->err, a->errlen, "migration %d (%s): %s", a->m->version, a->m->name, store_errmsg(c));
        return rc;
    }
    store_stmt *st =
        store_prepare(c, "INSERT INTO ehall_schema(version, name, applied_at) VALUES ($1, $2, $3)");
    if (!st) return STORE_ERROR;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_bind_int64(st, 1, a->m->version);
    store_bind_text(st, 2, a->m->name);
    store_bind_text(st, 3, ts);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
    a->applied = 1;
    return STORE_OK;
}

int store_migrate(store *s, char *err, size_t errlen)
{
    err[0] = 0;
    /* on SQLite no statement deadline: the write transactions run on this thread (ehall
     * migrates before it serves, so no other writer leads a batch), COMMIT included */
    store_thread_untimed(1);
    int rc = STORE_OK;
    for (size_t i = 0; i < EHALL_ARRAY_LEN(MIGRATIONS) && rc == STORE_OK; i++) {
        struct step_arg a = {&MIGRATIONS[i], 0, 0, err, errlen};
        rc = store_tx(s, 1, apply_one, &a);
        if (a.newer) {
            snprintf(err, errlen,
                     "the database schema is version %d but this ehall knows only up to %d; "
                     "run a newer ehall",
                     a.newer, store_migrations_latest());
            rc = STORE_ERROR;
        } else if (rc != STORE_OK) {
            if (!err[0]) snprintf(err, errlen, "migration %d failed (%d)", MIGRATIONS[i].version, rc);
        } else if (a.applied) {
            log_info("applied migration %d (%s)", MIGRATIONS[i].version, MIGRATIONS[i].name);
        }
    }
    store_thread_untimed(0);
    return rc;
}

int store_schema_version(store *s, int *current, int *latest)
{
    *latest = store_migrations_latest();
    store_conn *c = store_acquire(s);
    if (!c) return STORE_UNAVAILABLE;
    int rc = current_version(c, current);
    store_release(c);
    return rc;
}
