/*
 * crypto — national (SM) algorithms on OpenSSL 3, through the EVP interfaces only:
 * SM3 digests, HMAC (SM3, and SHA-1/SHA-256 for authenticator apps), PBKDF2-HMAC-SM3,
 * SM4 authenticated encryption for values at rest, SM2 signatures, TOTP and base32.
 *
 * Conventions: functions return 0 on success and -1 on failure; outputs go to caller
 * buffers or are malloc'd (release with free(), after crypto_wipe() for secrets).
 * Nothing here keeps global mutable state, so every function is thread-safe.
 *
 * Sealed text format (crypto_seal / crypto_open), one printable ASCII line:
 *
 *     v1.<keyver>.<base64url(iv || ct || tag)>
 *
 *   keyver  which master key sealed it: decimal, 0..INT_MAX, no sign, no leading zeros
 *   iv      16 random bytes
 *   ct      SM4-CBC with PKCS#7 padding of the plaintext (a multiple of 16, at least 16)
 *   tag     HMAC-SM3 (32 bytes) over  0x01 || keyver as 4 bytes big-endian || iv || ct
 *   base64url is RFC 4648 section 5 without '=' padding; only the canonical encoding
 *   is accepted.  From the 32-byte master key two sub-keys are derived:
 *     enc = first 16 bytes of HMAC-SM3(master, "ehall sm4 enc")   (SM4 key)
 *     mac = HMAC-SM3(master, "ehall sm4 mac")                     (32 bytes)
 * crypto_open checks the tag (in constant time) before it decrypts anything, and any
 * change to the text (a flipped bit, truncation, another key or key version) fails.
 */
#ifndef EHALL_CRYPTO_H
#define EHALL_CRYPTO_H

#include <stddef.h>

#define SM3_DIGEST_LEN 32

/* Incremental SM3; all return 0 on success. */
typedef struct crypto_sm3_ctx crypto_sm3_ctx;
crypto_sm3_ctx *crypto_sm3_new(void);
int crypto_sm3_update(crypto_sm3_ctx *c, const void *data, size_t len);
int crypto_sm3_final(crypto_sm3_ctx *c, unsigned char out[SM3_DIGEST_LEN]);
void crypto_sm3_free(crypto_sm3_ctx *c);

int crypto_sm3(const void *data, size_t len, unsigned char out[SM3_DIGEST_LEN]);
/* Digest of a whole file as 64 lowercase hex digits. */
int crypto_sm3_file_hex(const char *path, char out[2 * SM3_DIGEST_LEN + 1]);

/* ---- MACs and key derivation (mac.c) ---- */
#define CRYPTO_HMAC_MAX 64 /* largest HMAC output we produce (SHA-512 size) */

/* HMAC with a named digest ("SM3", "SHA1", "SHA256", ...); *outlen gets the length. */
int crypto_hmac(const char *digest, const void *key, size_t keylen, const void *data, size_t len,
                unsigned char *out, size_t outsize, size_t *outlen);
int crypto_hmac_sm3(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[SM3_DIGEST_LEN]);
/* Constant-time comparison: 0 when the len bytes are equal, -1 otherwise. */
int crypto_equal(const void *a, const void *b, size_t len);
/* Overwrite memory in a way the compiler cannot drop (NULL is fine). */
void crypto_wipe(void *p, size_t len);
/* PBKDF2 (RFC 8018) with HMAC-SM3; iterations >= 1, outlen >= 1. */
int crypto_pbkdf2_sm3(const void *pass, size_t passlen, const void *salt, size_t saltlen, int iterations,
                      unsigned char *out, size_t outlen);

/* ---- SM4 (sm4.c) ---- */
#define SM4_KEY_LEN           16
#define SM4_BLOCK_LEN         16
#define CRYPTO_MASTER_KEY_LEN 32
#define CRYPTO_SEAL_MAX_PLAIN ((size_t)1 << 30) /* crypto_seal refuses more than this */

/* One raw SM4 block (GB/T 32907), for known-answer tests; never use ECB for data. */
int crypto_sm4_encrypt_block(const unsigned char key[SM4_KEY_LEN], const unsigned char in[SM4_BLOCK_LEN],
                             unsigned char out[SM4_BLOCK_LEN]);
/* Encrypt-then-MAC into the text format above; *out_text is malloc'd, NUL-terminated. */
int crypto_seal(const unsigned char master[CRYPTO_MASTER_KEY_LEN], int keyver, const void *plain, size_t len,
                char **out_text);
/* Verify and decrypt.  *plain is malloc'd with a NUL after the *len bytes (so text can
 * be used as a string); *keyver, if keyver is not NULL, gets the key version.  On any
 * failure nothing is allocated.  Peek the version first with crypto_seal_keyver. */
int crypto_open(const unsigned char master[CRYPTO_MASTER_KEY_LEN], const char *text, void **plain,
                size_t *len, int *keyver);
/* The key version a sealed text claims (unauthenticated: for choosing the master key). */
int crypto_seal_keyver(const char *text, int *keyver);

/* ---- SM2 signatures (sm2.c) ---- */
/* The default signer ID of GM/T 0009. */
#define CRYPTO_SM2_DEFAULT_ID "1234567812345678"

/* A new key pair as PEM: PKCS#8 private key and SubjectPublicKeyInfo public key, both
 * malloc'd and NUL-terminated (crypto_wipe the private one before free()). */
int crypto_sm2_keygen(char **priv_pem, char **pub_pem);
/* SM2 signature with SM3 and signer ID id (NULL: the default ID), DER-encoded
 * SEQUENCE { r, s }, malloc'd into *sig_der. */
int crypto_sm2_sign(const char *priv_pem, const char *id, const void *data, size_t len,
                    unsigned char **sig_der, size_t *siglen);
/* 0 only when sig is a valid signature of data by pub_pem's key under the same ID. */
int crypto_sm2_verify(const char *pub_pem, const char *id, const void *data, size_t len,
                      const unsigned char *sig, size_t siglen);
/* A public key parsed once, for many verifications (thread-safe to share for reading):
 * NULL when pub_pem is not an SM2 public key. */
typedef struct crypto_sm2_pub crypto_sm2_pub;
crypto_sm2_pub *crypto_sm2_pub_load(const char *pub_pem);
void crypto_sm2_pub_free(crypto_sm2_pub *k);
/* Make k fast for many verifications: the fixed-base tables of sm2_table.c (about five
 * times faster than EVP), 0.8 MB and some 60 ms per key, plus the generator's (2.7 MB)
 * once per process.  0 when done; k still verifies, the EVP way, when it fails.  Safe while other
 * threads verify under k.  _prepare_at, called before k is shared, makes the n-th
 * verification under k prepare it (in the verifying thread), so that keys seldom used
 * cost nothing. */
int crypto_sm2_pub_prepare(crypto_sm2_pub *k);
void crypto_sm2_pub_prepare_at(crypto_sm2_pub *k, unsigned n);
/* crypto_sm2_verify with a parsed key (k NULL: -1). */
int crypto_sm2_verify_with(const crypto_sm2_pub *k, const char *id, const void *data, size_t len,
                           const unsigned char *sig, size_t siglen);

/* 0 when pub_pem is an SM2 public key (SubjectPublicKeyInfo PEM); out gets the SM3 of
 * its DER encoding in hex, which identifies the key. */
int crypto_sm2_pub_fingerprint(const char *pub_pem, char out[2 * SM3_DIGEST_LEN + 1]);

/* ---- one-time passwords and base32 (totp.c) ---- */
/* HOTP (RFC 4226) and TOTP (RFC 6238) over HMAC-digest, digest one of "SHA1",
 * "SHA256", "SM3".  digits is 6..9; out holds digits + 1 bytes.  TOTP uses the counter
 * floor(unix_time / step) with unix_time >= 0 and step >= 1 (30 is usual). */
int crypto_hotp(const unsigned char *key, size_t keylen, const char *digest, unsigned long long counter,
                int digits, char *out);
int crypto_totp(const unsigned char *key, size_t keylen, const char *digest, long long unix_time, int step,
                int digits, char *out);
/* 0 when code is the TOTP for any step within +-window (0..10) of unix_time's.  Every
 * candidate is computed and compared in constant time; no early exit. */
int crypto_totp_verify(const unsigned char *key, size_t keylen, const char *digest, long long unix_time,
                       int step, int digits, const char *code, int window);

/* Base32 (RFC 4648 section 6).  Encoding writes upper case without '=' padding;
 * outsize must be at least CRYPTO_BASE32_ENCODED_SIZE(len).  Decoding accepts upper or
 * lower case, with or without correct '=' padding, and nothing else (no spaces, no
 * impossible lengths, no stray bits); *outlen gets the decoded length. */
#define CRYPTO_BASE32_ENCODED_SIZE(n) (((n)*8 + 4) / 5 + 1)
int crypto_base32_encode(const void *in, size_t len, char *out, size_t outsize);
int crypto_base32_decode(const char *in, unsigned char *out, size_t outsize, size_t *outlen);

#endif
