/*
 * sm3.c — SM3 (GB/T 32905) through OpenSSL's EVP interface, and HMAC-SM3.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "crypto/internal.h"

struct crypto_sm3_ctx {
    EVP_MD_CTX *md;
};

crypto_sm3_ctx *crypto_sm3_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) return NULL;
    const EVP_MD *sm3 = crypto_md_sm3();
    if (!sm3 || EVP_DigestInit_ex2(md, sm3, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return NULL;
    }
    crypto_sm3_ctx *c = OPENSSL_malloc(sizeof *c);
    if (!c) {
        EVP_MD_CTX_free(md);
        return NULL;
    }
    c->md = md;
    return c;
}

int crypto_sm3_update(crypto_sm3_ctx *c, const void *data, size_t len)
{
    return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : -1;
}

int crypto_sm3_final(crypto_sm3_ctx *c, unsigned char out[SM3_DIGEST_LEN])
{
    unsigned int n = 0;
    return EVP_DigestFinal_ex(c->md, out, &n) == 1 && n == SM3_DIGEST_LEN ? 0 : -1;
}

void crypto_sm3_free(crypto_sm3_ctx *c)
{
    if (!c) return;
    EVP_MD_CTX_free(c->md);
    OPENSSL_free(c);
}

int crypto_sm3(const void *data, size_t len, unsigned char out[SM3_DIGEST_LEN])
{
    crypto_sm3_ctx *c = crypto_sm3_new();
    if (!c) return -1;
    int rc = crypto_sm3_update(c, data, len) == 0 && crypto_sm3_final(c, out) == 0 ? 0 : -1;
    crypto_sm3_free(c);
    return rc;
}

/* HMAC-SM3 by its definition (RFC 2104; SM3's block is 64 bytes) over the SM3 fetched
 * once: OpenSSL's EVP_MAC looks up both HMAC and the digest by name at every init,
 * which took three times as long as the two hashes (and a sealed field's opening
 * takes one to three of these). */
int crypto_hmac_sm3(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[SM3_DIGEST_LEN])
{
    enum { BLOCK = 64 };
    const EVP_MD *sm3 = crypto_md_sm3();
    if (!sm3 || (!key && keylen) || (!data && len) || !out) return -1;
    unsigned char k[BLOCK] = {0}, pad[BLOCK], inner[SM3_DIGEST_LEN];
    if (keylen > BLOCK) {
        if (crypto_sm3(key, keylen, k) != 0) return -1;
    } else if (keylen) {
        memcpy(k, key, keylen);
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0, m = 0;
    for (int i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x36;
    int ok = md && EVP_DigestInit_ex2(md, sm3, NULL) == 1 && EVP_DigestUpdate(md, pad, BLOCK) == 1 &&
             (len == 0 || EVP_DigestUpdate(md, data, len) == 1) && EVP_DigestFinal_ex(md, inner, &n) == 1;
    for (int i = 0; i < BLOCK; i++) pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex2(md, sm3, NULL) == 1 && EVP_DigestUpdate(md, pad, BLOCK) == 1 &&
         EVP_DigestUpdate(md, inner, sizeof inner) == 1 && EVP_DigestFinal_ex(md, out, &m) == 1 &&
         n == SM3_DIGEST_LEN && m == SM3_DIGEST_LEN;
    EVP_MD_CTX_free(md);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    return ok ? 0 : -1;
}

int crypto_sm3_file_hex(const char *path, char out[2 * SM3_DIGEST_LEN + 1])
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    crypto_sm3_ctx *c = crypto_sm3_new();
    if (!c) {
        fclose(f);
        return -1;
    }
    unsigned char buf[65536], d[SM3_DIGEST_LEN];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (crypto_sm3_update(c, buf, n) != 0) rc = -1;
    if (ferror(f) || rc != 0 || crypto_sm3_final(c, d) != 0)
        rc = -1;
    else
        hex_encode(d, sizeof d, out);
    crypto_sm3_free(c);
    fclose(f);
    return rc;
}
