/*
 * sm4.c — SM4 (GB/T 32907) through EVP: a raw block for known-answer tests, and
 * encrypt-then-MAC sealing (SM4-CBC + HMAC-SM3) in the text format described in
 * crypto.h.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "crypto/internal.h"

#define SEAL_VERSION  1
#define SEAL_PREFIX   "v1."
#define SEAL_HDR_LEN  5 /* version byte + keyver as 4 bytes big-endian */
#define SEAL_IV_LEN   SM4_BLOCK_LEN
#define SEAL_TAG_LEN  SM3_DIGEST_LEN
#define SEAL_MIN_BLOB (SEAL_IV_LEN + SM4_BLOCK_LEN + SEAL_TAG_LEN)

static const char enc_label[] = "ehall sm4 enc";
static const char mac_label[] = "ehall sm4 mac";

int crypto_sm4_encrypt_block(const unsigned char key[SM4_KEY_LEN], const unsigned char in[SM4_BLOCK_LEN],
                             unsigned char out[SM4_BLOCK_LEN])
{
    if (!key || !in || !out) return -1;
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "SM4-ECB", NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int rc = -1, n = 0, m = 0;
    if (cipher && ctx && EVP_EncryptInit_ex2(ctx, cipher, key, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_EncryptUpdate(ctx, out, &n, in, SM4_BLOCK_LEN) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + n, &m) == 1 && n + m == SM4_BLOCK_LEN)
        rc = 0;
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return rc;
}

/* ---- base64url without padding (RFC 4648 section 5) ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encoded_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = b64url[v >> 18];
        *out++ = b64url[(v >> 12) & 63];
        *out++ = b64url[(v >> 6) & 63];
        *out++ = b64url[v & 63];
    }
    if (n - i == 1) {
        *out++ = b64url[in[i] >> 2];
        *out++ = b64url[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        *out++ = b64url[v >> 10];
        *out++ = b64url[(v >> 4) & 63];
        *out++ = b64url[(v & 15) << 2];
    }
    *out = '\0';
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Strict: alphabet only, no padding, and unused trailing bits must be zero, so each
 * byte string has exactly one accepted encoding.  out holds n * 3 / 4 bytes. */
static int b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1)) return -1;
    *outlen = o;
    return 0;
}

/* ---- sealing ---- */

/* The keys derived from the master key last used on this thread: opening a person's
 * sealed profile opens several fields under one key, and the two derivations were two
 * thirds of each opening.  Kept per thread, compared in constant time; the process
 * holds the master keys themselves anyway. */
static _Thread_local struct {
    int ok;
    unsigned char master[CRYPTO_MASTER_KEY_LEN], enc[SM4_KEY_LEN], mac[SM3_DIGEST_LEN];
} derived;

static int derive_keys(const unsigned char master[CRYPTO_MASTER_KEY_LEN], unsigned char enc[SM4_KEY_LEN],
                       unsigned char mac[SM3_DIGEST_LEN])
{
    if (!derived.ok || CRYPTO_memcmp(derived.master, master, CRYPTO_MASTER_KEY_LEN) != 0) {
        unsigned char full[SM3_DIGEST_LEN];
        derived.ok = 0;
        int rc = crypto_hmac_sm3(master, CRYPTO_MASTER_KEY_LEN, enc_label, strlen(enc_label), full) == 0 &&
                         crypto_hmac_sm3(master, CRYPTO_MASTER_KEY_LEN, mac_label, strlen(mac_label),
                                         derived.mac) == 0
                     ? 0
                     : -1;
        memcpy(derived.enc, full, SM4_KEY_LEN);
        crypto_wipe(full, sizeof full);
        if (rc != 0) return -1;
        memcpy(derived.master, master, CRYPTO_MASTER_KEY_LEN);
        derived.ok = 1;
    }
    memcpy(enc, derived.enc, SM4_KEY_LEN);
    memcpy(mac, derived.mac, SM3_DIGEST_LEN);
    return 0;
}

static void put_header(unsigned char *h, int keyver)
{
    uint32_t v = (uint32_t)keyver;
    h[0] = SEAL_VERSION;
    h[1] = (unsigned char)(v >> 24);
    h[2] = (unsigned char)(v >> 16);
    h[3] = (unsigned char)(v >> 8);
    h[4] = (unsigned char)v;
}

static int sm4_cbc(int enc, const unsigned char key[SM4_KEY_LEN], const unsigned char iv[SEAL_IV_LEN],
                   const unsigned char *in, size_t n, unsigned char *out, size_t *outlen)
{
    if (n > INT_MAX - SM4_BLOCK_LEN) return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return -1;
    int a = 0, b = 0, rc = -1;
    const EVP_CIPHER *cbc = crypto_cipher_sm4_cbc();
    if (cbc && EVP_CipherInit_ex2(ctx, cbc, key, iv, enc, NULL) == 1 &&
        EVP_CipherUpdate(ctx, out, &a, in, (int)n) == 1 && EVP_CipherFinal_ex(ctx, out + a, &b) == 1) {
        *outlen = (size_t)a + (size_t)b;
        rc = 0;
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int crypto_seal(const unsigned char master[CRYPTO_MASTER_KEY_LEN], int keyver, const void *plain, size_t len,
                char **out_text)
{
    if (!out_text) return -1;
    *out_text = NULL;
    if (!master || keyver < 0 || (!plain && len) || len > CRYPTO_SEAL_MAX_PLAIN) return -1;
    static const unsigned char empty[1] = {0};
    if (!plain) plain = empty;

    /* blob = header || iv || ct || tag; the text carries base64url(iv || ct || tag). */
    size_t ctmax = len / SM4_BLOCK_LEN * SM4_BLOCK_LEN + SM4_BLOCK_LEN;
    size_t bloblen = SEAL_HDR_LEN + SEAL_IV_LEN + ctmax + SEAL_TAG_LEN;
    unsigned char *blob = malloc(bloblen);
    if (!blob) return -1;
    unsigned char enc[SM4_KEY_LEN], mac[SM3_DIGEST_LEN];
    unsigned char *iv = blob + SEAL_HDR_LEN, *ct = iv + SEAL_IV_LEN;
    size_t ctlen = 0, payload = bloblen - SEAL_HDR_LEN;
    char prefix[32], *text = NULL;
    int rc = -1, plen = snprintf(prefix, sizeof prefix, SEAL_PREFIX "%d.", keyver);
    if (plen < 0 || (size_t)plen >= sizeof prefix) goto out;
    put_header(blob, keyver);
    if (derive_keys(master, enc, mac) != 0 || random_bytes(iv, SEAL_IV_LEN) != 0 ||
        sm4_cbc(1, enc, iv, plain, len, ct, &ctlen) != 0 || ctlen != ctmax ||
        crypto_hmac_sm3(mac, sizeof mac, blob, SEAL_HDR_LEN + SEAL_IV_LEN + ctlen, ct + ctlen) != 0)
        goto out;
    text = malloc((size_t)plen + b64url_encoded_len(payload) + 1);
    if (!text) goto out;
    memcpy(text, prefix, (size_t)plen);
    b64url_encode(blob + SEAL_HDR_LEN, payload, text + plen);
    *out_text = text;
    rc = 0;
out:
    crypto_wipe(enc, sizeof enc);
    crypto_wipe(mac, sizeof mac);
    crypto_wipe(blob, bloblen);
    free(blob);
    return rc;
}

/* Parse "v1.<keyver>." and return a pointer to the payload, or NULL. */
static const char *parse_prefix(const char *text, int *keyver)
{
    if (!text || strncmp(text, SEAL_PREFIX, strlen(SEAL_PREFIX)) != 0) return NULL;
    const char *p = text + strlen(SEAL_PREFIX);
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '.')) return NULL;
    long long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > INT_MAX) return NULL;
    }
    if (*p != '.') return NULL;
    *keyver = (int)v;
    return p + 1;
}

int crypto_seal_keyver(const char *text, int *keyver)
{
    int v = 0;
    if (!keyver || !parse_prefix(text, &v)) return -1;
    *keyver = v;
    return 0;
}

int crypto_open(const unsigned char master[CRYPTO_MASTER_KEY_LEN], const char *text, void **plain,
                size_t *len, int *keyver)
{
    if (!plain || !len) return -1;
    *plain = NULL;
    *len = 0;
    if (!master || !text) return -1;
    int kv = 0;
    const char *payload = parse_prefix(text, &kv);
    if (!payload) return -1;
    size_t n = strlen(payload);
    if (n > (CRYPTO_SEAL_MAX_PLAIN + SEAL_MIN_BLOB) / 3 * 4 + 4) return -1;

    unsigned char *blob = malloc(SEAL_HDR_LEN + n / 4 * 3 + 3);
    if (!blob) return -1;
    unsigned char enc[SM4_KEY_LEN], mac[SM3_DIGEST_LEN], tag[SEAL_TAG_LEN];
    unsigned char *out = NULL, *iv = blob + SEAL_HDR_LEN, *ct = iv + SEAL_IV_LEN;
    size_t bloblen = 0, ctlen = 0, outlen = 0;
    int rc = -1;
    if (b64url_decode(payload, n, blob + SEAL_HDR_LEN, &bloblen) != 0 || bloblen < SEAL_MIN_BLOB ||
        (bloblen - SEAL_IV_LEN - SEAL_TAG_LEN) % SM4_BLOCK_LEN != 0)
        goto out;
    ctlen = bloblen - SEAL_IV_LEN - SEAL_TAG_LEN;
    put_header(blob, kv);
    if (derive_keys(master, enc, mac) != 0 ||
        crypto_hmac_sm3(mac, sizeof mac, blob, SEAL_HDR_LEN + SEAL_IV_LEN + ctlen, tag) != 0 ||
        crypto_equal(tag, ct + ctlen, SEAL_TAG_LEN) != 0)
        goto out;
    /* Authentic: decrypt.  PKCS#7 never adds to the length, and +1 leaves room for a NUL. */
    out = malloc(ctlen + 1);
    if (!out || sm4_cbc(0, enc, iv, ct, ctlen, out, &outlen) != 0) goto out;
    out[outlen] = '\0';
    *plain = out;
    *len = outlen;
    if (keyver) *keyver = kv;
    out = NULL;
    rc = 0;
out:
    if (out) {
        crypto_wipe(out, ctlen + 1);
        free(out);
    }
    crypto_wipe(enc, sizeof enc);
    crypto_wipe(mac, sizeof mac);
    free(blob);
    if (rc != 0) ERR_clear_error();
    return rc;
}
