/*
 * password.c — password hashing and the password policy (seed 001; seed 003 l.12426).
 *
 * Stored form: "pbkdf2-sm3$<iterations>$<salt hex>$<hash hex>" — PBKDF2-HMAC-SM3 with a
 * 16-byte random salt and a 32-byte output.  The cost travels with each hash, so the
 * default can be raised and old hashes upgraded at the next successful login
 * (auth_password_needs_rehash).  Comparison is constant time.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define PREFIX   "pbkdf2-sm3$"

int auth_password_hash(const char *password, int iterations, char *out, size_t outlen)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    char salt_hex[2 * SALT_LEN + 1], hash_hex[2 * HASH_LEN + 1];
    if (iterations < 1000 || random_bytes(salt, sizeof salt) != 0 ||
        crypto_pbkdf2_sm3(password, strlen(password), salt, sizeof salt, iterations, hash, sizeof hash) != 0)
        return -1;
    hex_encode(salt, sizeof salt, salt_hex);
    hex_encode(hash, sizeof hash, hash_hex);
    int n = snprintf(out, outlen, PREFIX "%d$%s$%s", iterations, salt_hex, hash_hex);
    crypto_wipe(hash, sizeof hash);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Split a stored hash; returns the iteration count or -1 when malformed. */
static int parse(const char *stored, unsigned char salt[SALT_LEN], unsigned char hash[HASH_LEN])
{
    if (!stored || strncmp(stored, PREFIX, strlen(PREFIX)) != 0) return -1;
    const char *p = stored + strlen(PREFIX);
    char *end;
    long it = strtol(p, &end, 10);
    if (end == p || *end != '$' || it < 1000 || it > 100000000) return -1;
    p = end + 1;
    if (strlen(p) != 2 * SALT_LEN + 1 + 2 * HASH_LEN || p[2 * SALT_LEN] != '$') return -1;
    if (hex_decode(p, SALT_LEN, salt) != 0 || hex_decode(p + 2 * SALT_LEN + 1, HASH_LEN, hash) != 0)
        return -1;
    return (int)it;
}

int auth_password_verify(const char *password, const char *stored)
{
    unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
    int it = parse(stored, salt, want);
    if (it < 0) return -1;
    if (crypto_pbkdf2_sm3(password, strlen(password), salt, sizeof salt, it, got, sizeof got) != 0) return -1;
    int rc = crypto_equal(got, want, sizeof got) == 0 ? 0 : -1;
    crypto_wipe(got, sizeof got);
    return rc;
}

int auth_password_needs_rehash(const char *stored, int iterations)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    int it = parse(stored, salt, hash);
    return it < 0 || it < iterations;
}

/* Case-insensitive "does haystack contain needle" for the account-name rule. */
static int contains_ci(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return 0;
    for (const char *h = haystack; *h; h++)
        if (strncasecmp(h, needle, n) == 0) return 1;
    return 0;
}

int auth_password_policy(const char *password, const char *account, const char *mobile, const char **why)
{
    size_t len = strlen(password);
    if (len < 8) return (why ? *why = "must be at least 8 characters" : 0), -1;
    if (len > 128) return (why ? *why = "must be at most 128 characters" : 0), -1;
    int lower = 0, upper = 0, digit = 0, other = 0;
    for (const unsigned char *p = (const unsigned char *)password; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) return (why ? *why = "must not contain control characters" : 0), -1;
        if (islower(*p))
            lower = 1;
        else if (isupper(*p))
            upper = 1;
        else if (isdigit(*p))
            digit = 1;
        else
            other = 1;
    }
    if (lower + upper + digit + other < 3)
        return (why ? *why = "must mix at least 3 of: lower-case, upper-case, digits, symbols" : 0), -1;
    if (account && strlen(account) >= 3 && contains_ci(password, account))
        return (why ? *why = "must not contain the account name" : 0), -1;
    if (mobile && strlen(mobile) >= 6 && strstr(password, mobile))
        return (why ? *why = "must not contain the mobile number" : 0), -1;
    return 0;
}
