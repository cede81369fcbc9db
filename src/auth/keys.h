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
 * The tables and columns covered are listed once, in rotate.c (KEYS_MACED). */
int keys_row_mac(const char *table, const char *const *values, int n, char out[KEYS_TAG_MAX]);
int keys_row_mac_check(const char *table, const char *const *values, int n, const char *mac);

/* The audit-checkpoint SM2 key pair as PEM text (owned by the keyring; NULL when
 * not loaded) and its id (the first 16 hex digits of SM3 of the public PEM). */
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

#endif
