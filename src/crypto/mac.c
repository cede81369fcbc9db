/*
 * mac.c — HMAC over any OpenSSL digest (EVP_MAC "HMAC"), PBKDF2-HMAC-SM3,
 * and constant-time comparison.
 */
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"

int crypto_hmac(const char *digest, const void *key, size_t keylen, const void *data, size_t len,
                unsigned char *out, size_t outsize, size_t *outlen)
{
    static const unsigned char empty[1] = {0};
    if (!digest || (!key && keylen) || (!data && len) || !out || !outlen) return -1;
    /* OpenSSL reads a NULL key as "keep the previous key"; an empty one is still a key. */
    if (!key) key = empty;
    if (!data) data = empty;

    EVP_MAC *mac = crypto_mac_hmac();
    if (!mac) return -1;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    int rc = -1;
    if (ctx) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
            OSSL_PARAM_construct_end(),
        };
        size_t n = 0;
        if (EVP_MAC_init(ctx, key, keylen, params) == 1 && EVP_MAC_CTX_get_mac_size(ctx) <= outsize &&
            EVP_MAC_update(ctx, data, len) == 1 && EVP_MAC_final(ctx, out, &n, outsize) == 1) {
            *outlen = n;
            rc = 0;
        }
    }
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int crypto_equal(const void *a, const void *b, size_t len)
{
    if (len == 0) return 0;
    if (!a || !b) return -1;
    return CRYPTO_memcmp(a, b, len) == 0 ? 0 : -1;
}

void crypto_wipe(void *p, size_t len)
{
    if (p && len) OPENSSL_cleanse(p, len);
}

int crypto_pbkdf2_sm3(const void *pass, size_t passlen, const void *salt, size_t saltlen, int iterations,
                      unsigned char *out, size_t outlen)
{
    static const unsigned char empty[1] = {0};
    if ((!pass && passlen) || (!salt && saltlen) || !out || outlen == 0 || iterations < 1) return -1;
    if (passlen > INT_MAX || saltlen > INT_MAX || outlen > INT_MAX) return -1;
    if (!pass) pass = empty;
    if (!salt) salt = empty;
    return PKCS5_PBKDF2_HMAC(pass, (int)passlen, salt, (int)saltlen, iterations, EVP_sm3(), (int)outlen,
                             out) == 1
               ? 0
               : -1;
}
