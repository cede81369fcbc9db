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

#endif
