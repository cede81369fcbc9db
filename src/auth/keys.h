/*
 * keys — the master keys that protect personal data at rest, and what is built on them.
 *
 * Keys never live in the database.  They come from EHALL_MASTER_KEYS
 * ("1:<64 hex>,2:<64 hex>") or from the key file (keys.file, default
 * <data>/keys/ehall.keys): one "<version> <64 hex digits>" line per key, '#' comments,
 * the file readable by its owner only.  The highest version is current: new values are
 * sealed with it; older versions stay to open older values until `ehall keys rotate`
 * has re-sealed every row.  When no key exists and the configuration is not
 * `production`, the file is created with one fresh key (mode 0600) so a laptop needs
 * no set-up.  The file is re-read when it changes, so a running server picks up a key
 * that `ehall keys rotate` added.
 *
 * Sealed values use crypto_seal's text format (SM4-CBC + HMAC-SM3, the key version
 * inside).  Blind indexes and integrity MACs are "<version>:<64 hex>", HMAC-SM3 under
 * keys derived from the master key for one purpose each, so a value can be found by
 * exact match without being decrypted, and a row changed behind ehall's back is caught.
 *
 * The audit checkpoint key pair (SM2) lives beside the key file:
 * <keys dir>/audit-sm2.pem (private, 0600) and audit-sm2.pub.pem.
 *
 * All functions are thread-safe.
 */
#ifndef EHALL_KEYS_H
#define EHALL_KEYS_H

#include <stddef.h>

#include "store/store.h"

struct config;

#define KEYS_TAG_MAX 80 /* "<version>:<64 hex>" and the NUL */

/* Load (or, outside production, create) the keyring.  Returns 0, or -1 with a reason. */
int keys_init(const struct config *cfg, char *err, size_t errlen);
/* Forget the keyring (wiping the keys). */
void keys_shutdown(void);
int keys_current_version(void);

/* Seal text with the current key: a malloc'd sealed string, or NULL on failure.
 * NULL in gives NULL out. */
char *keys_seal(const char *plain);
/* Open a sealed value: malloc'd plaintext (crypto_wipe + free it), NULL on failure
 * (unknown key version, tampered text). */
char *keys_open(const char *sealed);

/* Blind index of value for exact-match lookups.  kind separates the index spaces
 * ("id_number", "mobile").  keys_blind_index uses the current version;
 * keys_blind_indexes fills out[] with one per known version (current first) and
 * returns how many, for lookups while a rotation is under way. */
int keys_blind_index(const char *kind, const char *value, char out[KEYS_TAG_MAX]);
int keys_blind_indexes(const char *kind, const char *value, char out[][KEYS_TAG_MAX], int max);

/* Integrity MAC of a row: HMAC-SM3 over the canonical text  table 0x1F v1 0x1F v2 …
 * (a NULL value written as the single byte 0x1E), under the current key; and its check
 * against a stored MAC of any known version (0 = intact, -1 = tampered or unknown).
 * A value containing the bytes 0x1E or 0x1F is refused (-1), so the text is unambiguous.
 * The tables and columns covered are listed once, in rotate.c (KEYS_MACED).
 *
 * Every module that writes or checks one of these rows passes exactly these values, in
 * this order, as the text the database holds: integers in decimal ("42", "-1", no
 * leading zeros or '+'), text as stored, and NULL (not "" and not "0") for SQL NULL:
 *
 *   role               code, scope, perms
 *   account_role       account_id, role_id
 *   enterprise_member  account_id, enterprise_id, admin, perms
 *   agent_grant        id, enterprise_id, agent_id, items, valid_from, valid_to, revoked_at
 *   cert_key           id, account_id, fingerprint, public_key, revoked_at
 *   session            id_hash, account_id, stage, perms, scope, on_behalf, grant_id, expires_at
 *
 * e.g.  keys_row_mac("role", (const char *[]){code, scope, perms}, 3, mac);
 * A row whose id is assigned by the database (agent_grant, cert_key) is inserted first and its
 * mac set once the id is known, in the same transaction. */
int keys_row_mac(const char *table, const char *const *values, int n, char out[KEYS_TAG_MAX]);
int keys_row_mac_check(const char *table, const char *const *values, int n, const char *mac);

/* The audit-checkpoint SM2 key pair as PEM text (owned by the keyring; NULL when
 * not loaded, and valid until keys_shutdown or the next keys_init) and its id (the
 * first 16 hex digits of SM3 of the public PEM).  With EHALL_MASTER_KEYS the pair is
 * EHALL_AUDIT_KEY_FILE (the private PEM; the public one beside it, "x.pem" ->
 * "x.pub.pem") or <data>/keys/audit-sm2.pem.  Outside production a missing pair is
 * created. */
const char *keys_audit_private_pem(void);
const char *keys_audit_public_pem(void);
const char *keys_audit_key_id(void);

/* Rotation (rotate.c).  keys_add_version appends a new random key to the key file and
 * reloads; it refuses when the keys come from the environment.  keys_reseal re-seals,
 * re-indexes and re-MACs, in small transactions, every row not yet on the current
 * version; *done gets the number of rows changed.  keys_stale_rows counts rows still
 * on an older version. */
int keys_add_version(const struct config *cfg, int *new_version, char *err, size_t errlen);
int keys_reseal(store *s, long long *done, char *err, size_t errlen);
int keys_stale_rows(store *s, long long *count);

/* The versions known, highest (current) first: fills out[] and returns how many. */
int keys_versions(int *out, int max);
/* Where the keys come from: the key file's path, or "EHALL_MASTER_KEYS". */
const char *keys_source(void);

/* keys_reseal with the details.  keys_reseal_report returns 0 when every row is on the
 * current version, 1 when some could not be moved (see the report; keys_reseal also
 * returns 1 then), -1 on error.  A row whose MAC does not verify is left as it is, so
 * the tampering stays detectable; a sealed value that does not open likewise.
 * progress, when not NULL, is called after each batch with the table and the rows
 * changed in it so far. */
struct keys_reseal_report {
    long long resealed;   /* rows whose sealed values or blind indexes were redone */
    long long remaced;    /* rows whose MAC was redone */
    long long tampered;   /* rows whose MAC does not verify (left alone) */
    long long unreadable; /* rows with a sealed value that does not open (left alone) */
};
typedef void (*keys_progress_fn)(const char *table, long long done, void *arg);
int keys_reseal_report(store *s, struct keys_reseal_report *rep, keys_progress_fn progress, void *arg,
                       char *err, size_t errlen);

/* Per registered column (sealed, blind index or mac), the rows not on the current
 * version, for `ehall keys status`.  Fills up to max entries, returns how many, -1 on
 * error. */
struct keys_stale_col {
    const char *table, *column;
    long long rows;
};
int keys_stale_columns(store *s, struct keys_stale_col *out, int max);
/* Rows of the MAC'd tables whose MAC does not verify under any known version. */
int keys_tampered_rows(store *s, long long *count);

#endif
