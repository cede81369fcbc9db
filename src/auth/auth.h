/*
 * auth — identities.  So far: the national identifier formats that every account
 * carries — the citizen ID number (GB 11643) and the unified social credit code of an
 * enterprise (GB 32100) — checked including their check characters.
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

#endif
