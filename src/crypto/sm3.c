/*
 * sm3.c — SM3 (GB/T 32905) through OpenSSL's EVP interface.
 */
#include <openssl/evp.h>
#include <stdio.h>

#include "core/core.h"
#include "crypto/crypto.h"

struct crypto_sm3_ctx {
    EVP_MD_CTX *md;
};

crypto_sm3_ctx *crypto_sm3_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) return NULL;
    if (EVP_DigestInit_ex(md, EVP_sm3(), NULL) != 1) {
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
