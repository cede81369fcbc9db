/*
 * sm2.c — SM2 signatures (GB/T 32918.2, GM/T 0009) with SM3 and a signer ID, through
 * EVP: keys travel as PEM, signatures as DER SEQUENCE { r INTEGER, s INTEGER }.
 */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"

/* A malloc'd, NUL-terminated copy of a memory BIO's contents. */
static char *bio_to_string(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !data) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

int crypto_sm2_keygen(char **priv_pem, char **pub_pem)
{
    if (!priv_pem || !pub_pem) return -1;
    *priv_pem = *pub_pem = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
    BIO *bpriv = BIO_new(BIO_s_secmem()), *bpub = BIO_new(BIO_s_mem());
    char *priv = NULL, *pub = NULL;
    int rc = -1;
    if (!ctx || !bpriv || !bpub || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_generate(ctx, &pkey) != 1)
        goto out;
    if (PEM_write_bio_PrivateKey(bpriv, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(bpub, pkey) != 1)
        goto out;
    if (!(priv = bio_to_string(bpriv)) || !(pub = bio_to_string(bpub))) goto out;
    *priv_pem = priv;
    *pub_pem = pub;
    priv = pub = NULL;
    rc = 0;
out:
    if (priv) {
        crypto_wipe(priv, strlen(priv));
        free(priv);
    }
    free(pub);
    BIO_free(bpriv);
    BIO_free(bpub);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* An SM2 key from PEM (private or public), or NULL if it is anything else. */
static EVP_PKEY *load_key(const char *pem, int private)
{
    if (!pem) return NULL;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio) return NULL;
    EVP_PKEY *pkey =
        private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey && !EVP_PKEY_is_a(pkey, "SM2")) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

/* A digest context set up for SM2-with-SM3 under id; *pctx must be freed after it. */
static EVP_MD_CTX *sm2_md_ctx(EVP_PKEY *pkey, const char *id, int sign, EVP_PKEY_CTX **pctx)
{
    if (!id) id = CRYPTO_SM2_DEFAULT_ID;
    size_t idlen = strlen(id);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!md || !*pctx || idlen == 0 || EVP_PKEY_CTX_set1_id(*pctx, id, idlen) != 1) goto fail;
    EVP_MD_CTX_set_pkey_ctx(md, *pctx);
    if ((sign ? EVP_DigestSignInit(md, NULL, EVP_sm3(), NULL, pkey)
              : EVP_DigestVerifyInit(md, NULL, EVP_sm3(), NULL, pkey)) != 1)
        goto fail;
    return md;
fail:
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(*pctx);
    *pctx = NULL;
    return NULL;
}

int crypto_sm2_sign(const char *priv_pem, const char *id, const void *data, size_t len,
                    unsigned char **sig_der, size_t *siglen)
{
    static const unsigned char empty[1] = {0};
    if (!sig_der || !siglen) return -1;
    *sig_der = NULL;
    *siglen = 0;
    if (!priv_pem || (!data && len)) return -1;
    if (!data) data = empty;
    EVP_PKEY *pkey = load_key(priv_pem, 1);
    int rc = -1;
    if (pkey) {
        EVP_PKEY_CTX *pctx = NULL;
        EVP_MD_CTX *md = sm2_md_ctx(pkey, id, 1, &pctx);
        unsigned char *sig = NULL;
        size_t n = 0;
        if (md && EVP_DigestSign(md, NULL, &n, data, len) == 1 && n > 0 && (sig = malloc(n)) &&
            EVP_DigestSign(md, sig, &n, data, len) == 1) {
            *sig_der = sig;
            *siglen = n;
            sig = NULL;
            rc = 0;
        }
        free(sig);
        EVP_MD_CTX_free(md);
        EVP_PKEY_CTX_free(pctx);
        EVP_PKEY_free(pkey);
    }
    if (rc != 0) ERR_clear_error();
    return rc;
}

/* What a prepared key verifies with (sm2_table.c): published once, then read-only. */
struct sm2_fast {
    sm2_table *tab;
    unsigned char xy[64], zdef[SM3_DIGEST_LEN]; /* the point, and Z_A under the default ID */
};

struct crypto_sm2_pub {
    EVP_PKEY *pkey;
    _Atomic(struct sm2_fast *) fast;
    atomic_uint uses;    /* verifications so far, while not prepared */
    unsigned prepare_at; /* 0: only crypto_sm2_pub_prepare prepares */
};

crypto_sm2_pub *crypto_sm2_pub_load(const char *pub_pem)
{
    EVP_PKEY *pkey = load_key(pub_pem, 0);
    crypto_sm2_pub *k = pkey ? malloc(sizeof *k) : NULL;
    if (!k) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return NULL;
    }
    k->pkey = pkey;
    atomic_init(&k->fast, NULL);
    atomic_init(&k->uses, 0);
    k->prepare_at = 0;
    return k;
}

static void fast_free(struct sm2_fast *f)
{
    if (!f) return;
    sm2_table_free(f->tab);
    free(f);
}

/* Build k's tables and publish them; a thread that loses the race frees its own. */
static int prepare(const crypto_sm2_pub *k)
{
    if (atomic_load_explicit(&k->fast, memory_order_acquire)) return 0;
    struct sm2_fast *f = calloc(1, sizeof *f);
    BIGNUM *x = NULL, *y = NULL;
    int ok = f && EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
             EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
             BN_bn2binpad(x, f->xy, 32) == 32 && BN_bn2binpad(y, f->xy + 32, 32) == 32 &&
             sm2_z(f->xy, CRYPTO_SM2_DEFAULT_ID, f->zdef) == 0 && (f->tab = sm2_table_for(f->xy)) != NULL;
    BN_free(x);
    BN_free(y);
    ERR_clear_error();
    struct sm2_fast *none = NULL;
    if (!ok || !atomic_compare_exchange_strong_explicit((_Atomic(struct sm2_fast *) *)&k->fast, &none, f,
                                                        memory_order_acq_rel, memory_order_acquire))
        fast_free(f);
    return ok || none ? 0 : -1;
}

int crypto_sm2_pub_prepare(crypto_sm2_pub *k) { return k ? prepare(k) : -1; }

void crypto_sm2_pub_prepare_at(crypto_sm2_pub *k, unsigned n)
{
    if (k) k->prepare_at = n;
}

void crypto_sm2_pub_free(crypto_sm2_pub *k)
{
    if (!k) return;
    fast_free(atomic_load(&k->fast));
    EVP_PKEY_free(k->pkey);
    free(k);
}

int crypto_sm2_verify_with(const crypto_sm2_pub *k, const char *id, const void *data, size_t len,
                           const unsigned char *sig, size_t siglen)
{
    static const unsigned char empty[1] = {0};
    if (!k || (!data && len) || !sig || siglen == 0) return -1;
    if (!data) data = empty;
    struct sm2_fast *f = atomic_load_explicit(&k->fast, memory_order_acquire);
    if (!f && k->prepare_at &&
        atomic_fetch_add_explicit((atomic_uint *)&k->uses, 1, memory_order_relaxed) + 1 == k->prepare_at &&
        prepare(k) == 0)
        f = atomic_load_explicit(&k->fast, memory_order_acquire);
    if (f) {
        int other = id && strcmp(id, CRYPTO_SM2_DEFAULT_ID) != 0;
        unsigned char z[SM3_DIGEST_LEN];
        if (other && sm2_z(f->xy, id, z) != 0) return -1;
        return sm2_table_verify(f->tab, other ? z : f->zdef, data, len, sig, siglen);
    }
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = sm2_md_ctx(k->pkey, id, 0, &pctx);
    int rc = md && EVP_DigestVerify(md, sig, siglen, data, len) == 1 ? 0 : -1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(pctx);
    if (rc != 0) ERR_clear_error(); /* a bad signature is an answer, not an error to report later */
    return rc;
}

int crypto_sm2_verify(const char *pub_pem, const char *id, const void *data, size_t len,
                      const unsigned char *sig, size_t siglen)
{
    crypto_sm2_pub *k = crypto_sm2_pub_load(pub_pem);
    int rc = crypto_sm2_verify_with(k, id, data, len, sig, siglen);
    crypto_sm2_pub_free(k);
    return rc;
}

int crypto_sm2_pub_fingerprint(const char *pub_pem, char out[2 * SM3_DIGEST_LEN + 1])
{
    if (!pub_pem) return -1;
    BIO *bio = BIO_new_mem_buf(pub_pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int rc = -1, n;
    if (pkey && EVP_PKEY_is_a(pkey, "SM2") && (n = i2d_PUBKEY(pkey, &der)) > 0) {
        unsigned char d[SM3_DIGEST_LEN];
        if (crypto_sm3(der, (size_t)n, d) == 0) {
            static const char hx[] = "0123456789abcdef";
            for (size_t i = 0; i < sizeof d; i++) out[2 * i] = hx[d[i] >> 4], out[2 * i + 1] = hx[d[i] & 15];
            out[2 * SM3_DIGEST_LEN] = 0;
            rc = 0;
        }
    }
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}
