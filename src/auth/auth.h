/*
 * auth — identities.  So far: the national identifier formats that every account
 * carries — the citizen ID number (GB 11643) and the unified social credit code of an
 * enterprise (GB 32100) — checked including their check characters; and password
 * hashing (PBKDF2-HMAC-SM3) with the password policy.  Accounts, sessions and
 * factors come with the identity issue.
 */
#ifndef EHALL_AUTH_H
#define EHALL_AUTH_H

#include <stddef.h>

#include "store/store.h"

/* 0 when s is a valid 18-character citizen ID number: 6-digit region, a real birth
 * date in YYYYMMDD no later than today, 3-digit sequence and the ISO 7064 MOD 11-2
 * check character (0-9 or X; a lower-case x is refused so one number has one
 * spelling).  On failure, why (if not NULL) says what is wrong in words a user can act on. */
int auth_id_number_check(const char *s, const char **why);

/* 0 when s is a valid 18-character unified social credit code: registration
 * authority, entity type, 6-digit region, 9-character organisation code and the
 * MOD 31 check character, over the alphabet without I, O, Z, S and V. */
int auth_uscc_check(const char *s, const char **why);

/* Passwords (password.c).  auth_password_hash writes "pbkdf2-sm3$<iter>$<salt>$<hash>"
 * (at most AUTH_PASSWORD_HASH_MAX bytes); verify returns 0 on a match, -1 otherwise
 * (also for a malformed stored value); needs_rehash is 1 when the stored cost is below
 * iterations.  The policy: 8–128 characters, 3 of 4 classes, no control characters,
 * not containing the account name or the mobile number; why says which rule failed. */
#define AUTH_PASSWORD_HASH_MAX   160
#define AUTH_PASSWORD_ITERATIONS 100000
int auth_password_hash(const char *password, int iterations, char *out, size_t outlen);
int auth_password_verify(const char *password, const char *stored);
int auth_password_needs_rehash(const char *stored, int iterations);
int auth_password_policy(const char *password, const char *account, const char *mobile, const char **why);

/* Masking for display (mask.c).  Each writes the masked form of s into out (outlen
 * bytes, always NUL-terminated) and returns 0; when out is too small it holds as much
 * of "****" as fits and -1 is returned.  NULL or "" gives "".  Input that is not what
 * it should be (too short, not UTF-8, unexpected characters) comes out as "****", so
 * nothing meant to be hidden is shown.  strlen(s) + 8 bytes is always enough.
 *   id number   first 6 and last 4 shown:  "110105********002X"
 *   uscc        the same shape:            "913501********Y43X"
 *   mobile      first 3 and last 4 shown:  "138****5678" (8-10 digits: first 2, last 2)
 *   name        the first character shown, one '*' per other character: "张**"
 *               (a one-character name is "*")
 *   address     the first 6 characters, then "****"; 6 or fewer: "****" */
int auth_mask_id_number(const char *s, char *out, size_t outlen);
int auth_mask_uscc(const char *s, char *out, size_t outlen);
int auth_mask_mobile(const char *s, char *out, size_t outlen);
int auth_mask_name(const char *s, char *out, size_t outlen);
int auth_mask_address(const char *s, char *out, size_t outlen);

/* Queue an SMS to an account's own mobile number (opened from its sealed column) in the
 * caller's write transaction, for notices such as a case's progress (sms.c).  1 queued,
 * 0 the account has no mobile number (or none that opens, which is logged), < 0 a
 * STORE_* error. */
int auth_sms_account(store_conn *c, long long account, const char *text, const char *purpose);

#endif
