/*
 * licence — electronic licences (电子证照): licence types as data, the identifier with
 * its check character, the canonical JSON form and the SM2 seal, storage by holder
 * number, issuance (automatic from a case through the exchange, and the manual
 * four-role flow), revocation, expiry and offline verification.  See docs/licences.md.
 *
 * Types live in licences/<code>.json and are imported into licence_type
 * (`ehall license import DIR`).  A licence is a JSON object of strings and integers
 * (the standard fields of LICENCE_STD_FIELDS plus the type's own); sealing it gives the
 * signed document {"licence": {...}, "seal": {"alg", "signer_id", "key_id", "digest",
 * "sig"}} where sig is the SM2 signature (SM3, signer ID 1234567812345678) of
 * licence_canonical(licence), DER, base64, and digest the SM3 of that text in hex.
 *
 * Department keys are files outside the database: <data>/keys/seal/<DEPT>.pem (PKCS#8,
 * 0600), made on first need or by `ehall license keygen DEPT`; the public keys are
 * published at GET /.well-known/ehall/seal-keys.json.
 */
#ifndef EHALL_LICENCE_H
#define EHALL_LICENCE_H

#include <jansson.h>
#include <stddef.h>

#include "http/http.h"
#include "store/store.h"

struct config;
struct strbuf;

#define LICENCE_ALG       "SM2-with-SM3"
#define LICENCE_SIGNER_ID "1234567812345678"
#define LICENCE_ID_MAX    64

/* The fields every licence has (types declare only their own, under other names). */
extern const char *const LICENCE_STD_FIELDS[];

/* ---- canonical JSON (seal.c) ---- */

/* The canonical text of v: UTF-8, object keys sorted by their bytes, no whitespace,
 * strings escaping only '"', '\\' and control characters (\u00xx, lower-case hex),
 * integers in decimal; NULL when v holds a real number (or on allocation failure).
 * malloc'd. */
char *licence_canonical(const json_t *v);

/* ---- licence types (type.c) ---- */

/* Check one type definition; each problem is appended to problems as
 * "FILE: $.path: message\n".  Returns the number of problems. */
int licence_type_check(const json_t *def, const char *file, struct strbuf *problems);
/* Check every DIR/<code>.json; with items_dir, also that every item's outputs.licence names
 * one of them.  Returns the number of problems, -1 when DIR cannot be read. */
int licence_types_validate(const char *dir, const char *items_dir, struct strbuf *problems);
/* Validate, then insert or replace every type in one transaction (audited as
 * licence.type.import by actor).  Returns the problem count (nothing imported when > 0),
 * -1 when DIR cannot be read, -2 when the database failed; *imported gets the count. */
int licence_types_import(store *s, const char *dir, const char *actor, struct strbuf *problems,
                         int *imported);
/* The imported definition of a type (a new reference), or NULL when unknown. */
json_t *licence_type_get(store_conn *c, const char *code);

/* ---- the identifier (ident.c) ----
 *
 *   <ABBR>-<ISSUER>-<YYYY><SEQ:8>-<C>      e.g.  QZDJ-500103ZA-202600000042-T
 *
 * ABBR the type's id_code (2-6 of A-Z0-9), ISSUER the type's issuer_code (6-18 of
 * A-Z0-9), YYYY the year of issue, SEQ a per-(type, year) sequence, C the ISO 7064
 * MOD 37,36 check character over every other character (hyphens left out). */
char licence_check_char(const char *s); /* 0 when s holds a character outside 0-9A-Z- */
int licence_id_format(const char *abbr, const char *issuer_code, int year, long long seq,
                      char out[LICENCE_ID_MAX]);
/* 0 when id is well formed with a correct check character; why says what is wrong. */
int licence_id_check(const char *id, const char **why);

/* ---- keys and the seal (seal.c) ---- */

/* <data>/keys/seal */
void licence_keys_dir(const struct config *cfg, char *out, size_t len);
/* 1 when dept is a usable key name (department code: A-Z a-z 0-9 _ -, 1..64). */
int licence_dept_ok(const char *dept);
/* The department's key pair (created when missing and create is set): malloc'd PEMs
 * (crypto_wipe + free the private one) and key_id (SM3 of the public key's DER, hex).
 * 0, 1 when missing and not created, -1 on error (err says why). */
int licence_key_load(const char *keys_dir, const char *dept, int create, char **priv_pem, char **pub_pem,
                     char key_id[65], char *err, size_t errlen);
/* {"keys":[{"dept","key_id","alg","signer_id","public_key"}]} for every key in keys_dir. */
json_t *licence_public_keys(const char *keys_dir);
/* Sign licence (borrowed) with the PEMs: the signed document (new reference) or NULL. */
json_t *licence_sign(const json_t *licence, const char *priv_pem, const char *pub_pem);

/* Offline verification of a signed document against keys (the seal-keys.json shape, or
 * {"keys":[...]} with one entry per public key).  today is the day number of the check.
 * Returns 0 when valid; otherwise 1 with reason one of "malformed", "unknown_issuer",
 * "altered", "bad_signature", "expired", "not_yet_valid", and detail in words. */
int licence_verify(const json_t *doc, const json_t *keys, int today, char reason[32], char *detail,
                   size_t detlen);
/* The same with the keys parsed once (for a server answering many verifications; a
 * keyset is read-only and safe to share between threads). */
typedef struct licence_keyset licence_keyset;
licence_keyset *licence_keyset_new(const json_t *keys); /* NULL: out of memory */
void licence_keyset_free(licence_keyset *ks);
/* Ready ks for a server's many verifications: a key verifies with fixed-base tables
 * (crypto_sm2_pub_prepare) from its KEYSET_PREPARE_AT-th verification, and keys also in
 * prev, the set ks replaces, are taken over from it with their tables.  Neither set may
 * be in use by another thread meanwhile. */
#define KEYSET_PREPARE_AT 16
void licence_keyset_serve(licence_keyset *ks, licence_keyset *prev);
int licence_verify_with(const json_t *doc, const licence_keyset *ks, int today, char reason[32], char *detail,
                        size_t detlen);
/* The file a holder presents, as the signed JSON text (malloc'd): today a JSON file;
 * the one place where a PDF's embedded JSON would be taken out.  0, or -1 + err. */
int licence_read_file(const char *path, char **signed_json, char *err, size_t errlen);

/* ---- storage and issuance (issue.c) ---- */

/* At start-up (from case_engine_init): the keys directory, the "licence" connector and
 * the result handler of "licence.issue". */
void licence_setup(const struct config *cfg);
/* In the transaction that stores a case's result: when the case's item names a licence
 * type that is imported, queue licence.issue (idempotent per case). STORE_* code. */
int licence_on_case_result(store_conn *c, long long case_id);
/* Mark every valid licence whose valid_to has passed as expired (audited once per
 * run); *n gets the count.  STORE_* code. */
int licence_expire(store *s, const char *actor, long long *n);
/* Issue (sign and store) one licence inside the caller's transaction: type, holder and
 * the type's own fields in data (borrowed); source is e.g. "case:<case_no>" or
 * "manual:<entry id>"; valid_from a day number (0: today).  On success *id_out gets the
 * identifier.  STORE_* code; 1 with why when the type or data is refused. */
int licence_issue_tx(store_conn *c, const char *type, const char *holder_name, const char *holder_number,
                     const json_t *data, const char *source, int valid_from, long long case_id,
                     char id_out[LICENCE_ID_MAX], char *why, size_t whylen);

/* ---- the usage log (uselog.c) ----
 *
 * licence_use: who used which licence, when, for what, with what result.  Actions:
 * "status" (public status check), "verify" (a presented file checked), "share_create", "share_view", "check"
 * and "fetch" (gateway).  who_kind: "public" (who = client address), "holder" (account id), "app" (app id).
 * The served counters (licence_use_count, for the daily report) are kept in memory and flushed with the
 * buffer about once a second. */
/* Log one use inside the caller's write transaction.  STORE_* code. */
int licence_use_log(store_conn *c, const char *licence_no, const char *action, const char *who_kind,
                    const char *who, const char *scenario, const char *result);
/* Log one use through the in-memory buffer (the public status check); never blocks on the
 * database.  When the buffer is full the entry is dropped and counted as dropped. */
void licence_use_note(const char *licence_no, const char *action, const char *who_kind, const char *who,
                      const char *scenario, const char *result);
/* Count one call served (the report's "served" column). */
void licence_use_served(const char *action);
/* Start the flusher thread for s (ehall serve); stop flushes what is left. */
void licence_use_start(store *s);
void licence_use_stop(void);
/* Write out the buffer and the counters now.  STORE_* code. */
int licence_use_flush(store *s);
/* The daily report for day (YYYY-MM-DD): {"date", "actions": [{"action", "served",
 * "logged", "dropped", "unaccounted"}], "balanced"}.  STORE_* code. */
int licence_use_report(store *s, const char *day, json_t **out);

/* ---- HTTP (api.c) ---- */
int licence_api_keys(http_req *r);         /* GET /.well-known/ehall/seal-keys.json */
int licence_api_types(http_req *r);        /* GET /api/v1/licence-types */
int licence_api_mine(http_req *r);         /* GET /api/v1/licences */
int licence_api_get(http_req *r);          /* GET /api/v1/licences/{id} */
int licence_api_pdf(http_req *r);          /* GET /api/v1/licences/{id}/pdf */
int licence_api_status(http_req *r);       /* GET /api/v1/public/licences/{id}/status */
int licence_api_verify(http_req *r);       /* POST /api/v1/public/licences/verify (verify.c) */
int licence_api_revoke(http_req *r);       /* POST /api/v1/licences/{id}/revoke */
int licence_api_entry_new(http_req *r);    /* POST /api/v1/licence-entries */
int licence_api_entry_list(http_req *r);   /* GET /api/v1/licence-entries */
int licence_api_entry_get(http_req *r);    /* GET /api/v1/licence-entries/{id} */
int licence_api_entry_review(http_req *r); /* POST /api/v1/licence-entries/{id}/review */
int licence_api_entry_seal(http_req *r);   /* POST /api/v1/licence-entries/{id}/seal */

/* ---- sharing (share.c) ---- */
int licence_api_share_new(http_req *r);    /* POST /api/v1/licences/{id}/shares */
int licence_api_share_list(http_req *r);   /* GET /api/v1/licences/{id}/shares */
int licence_api_share_revoke(http_req *r); /* DELETE /api/v1/licences/{id}/shares/{code} */
int licence_api_share_view(http_req *r);   /* GET /api/v1/public/shares/{code} */
int licence_api_uses(http_req *r);         /* GET /api/v1/licences/{id}/uses */
int licence_api_uses_all(http_req *r);     /* GET /api/v1/licence-uses (audit.read) */
/* The name of a sharing scenario in words (酒店入住 for hotel_checkin), or the code. */
const char *licence_scenario_name(const char *code);

/* ---- the sharing gateway (gateway.c) ---- */
int licence_api_app_new(http_req *r);      /* POST /api/v1/licence-apps */
int licence_api_app_list(http_req *r);     /* GET /api/v1/licence-apps */
int licence_api_app_approved(http_req *r); /* GET /api/v1/licence-apps/approved */
int licence_api_app_approve(http_req *r);  /* POST /api/v1/licence-apps/{id}/approve */
int licence_api_app_reject(http_req *r);   /* POST /api/v1/licence-apps/{id}/reject */
int licence_api_auth_new(http_req *r);     /* POST /api/v1/licences/{id}/authorisations */
int licence_api_auth_list(http_req *r);    /* GET /api/v1/licences/{id}/authorisations */
int licence_api_auth_revoke(http_req *r);  /* DELETE /api/v1/licences/{id}/authorisations/{aid} */
int licence_api_gw_check(http_req *r);     /* GET /api/v1/gateway/licences/{id}/check (signed) */
int licence_api_gw_fetch(http_req *r);     /* POST /api/v1/gateway/licences/fetch (signed) */
/* X-Signature for a call: hex HMAC-SM3(secret, METHOD\nPATH\nQUERY\nTIMESTAMP\nNONCE\nhex SM3(body)).
 * 0, or -1 on a crypto failure. */
int licence_gw_sign(const char *secret, const char *method, const char *path, const char *query,
                    const char *timestamp, const char *nonce, const void *body, size_t len, char out[65]);

#endif
