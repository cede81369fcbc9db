/*
 * sm2_table.c — SM2 verification with fixed-base tables, for a public key that verifies
 * many signatures (the licence seal keys behind POST /api/v1/public/licences/verify).
 *
 * Verifying (GB/T 32918.2 §7.1, B1–B7) costs one computation of s·G + t·P.  OpenSSL's
 * code for the SM2 curve does it with a wNAF over both points, about 256 doublings and
 * 100 additions, because neither point is known in advance.  Here both are: G always,
 * and P once the key is prepared.  A table holds d·2^(w·i)·B for every non-zero w-bit
 * digit d and every window i of a 256-bit scalar, in affine form, so k·B is at most
 * 256/w mixed additions and no doubling.  The arithmetic is OpenSSL's (EC_POINT_add on
 * its SM2 group); only the order of the operations is ours.  Verification handles
 * public data only, so the table lookups need no constant-time care; signing stays
 * with EVP (sm2.c).
 *
 * G's table (w = 8: 32 windows of 255 points, about 2.5 MB) is built once per process on
 * first use, in some 0.3 s; a key's (w = 6: 43 windows of 63 points, 0.8 MB) in some
 * 60 ms.  A verification is then 32 + 43 additions instead of ~360 operations.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/internal.h"

/* window bits (at most 8: a window spans two bytes of the scalar at most) */
#define G_WBITS   8
#define KEY_WBITS 6

struct sm2_table {
    int wbits, nwin, ndig; /* ndig = 2^wbits - 1 non-zero digits in each of nwin windows */
    EC_POINT *p[];         /* p[i·ndig + d-1] = d·2^(wbits·i)·B, affine */
};

static pthread_once_t group_once = PTHREAD_ONCE_INIT;
static EC_GROUP *group;
static sm2_table *gtab;
static unsigned char curve_abg[6 * 32]; /* a, b, xG, yG for Z (GB/T 32918.2 §5.5) */

void sm2_table_free(sm2_table *t)
{
    if (!t) return;
    for (int i = 0; i < t->nwin * t->ndig; i++) EC_POINT_free(t->p[i]);
    free(t);
}

/* Rewrite p with Z = 1, so that adding it is a mixed addition. */
static int to_affine(EC_POINT *p, BIGNUM *x, BIGNUM *y, BN_CTX *ctx)
{
    return EC_POINT_get_affine_coordinates(group, p, x, y, ctx) == 1 &&
           EC_POINT_set_affine_coordinates(group, p, x, y, ctx) == 1;
}

static sm2_table *table_build(const EC_POINT *base, int wbits)
{
    int nwin = (256 + wbits - 1) / wbits, ndig = (1 << wbits) - 1;
    sm2_table *t = calloc(1, sizeof *t + (size_t)(nwin * ndig) * sizeof t->p[0]);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *x = BN_new(), *y = BN_new();
    EC_POINT *b = EC_POINT_dup(base, group);
    int ok = t && ctx && x && y && b && !EC_POINT_is_at_infinity(group, base);
    if (t) *t = (sm2_table){.wbits = wbits, .nwin = nwin, .ndig = ndig};
    for (int i = 0; ok && i < nwin; i++) {
        /* b = 2^(wbits·i)·base; the row is b, 2b, …, ndig·b */
        EC_POINT **row = t->p + i * ndig;
        for (int d = 0; ok && d < ndig; d++) {
            ok = (row[d] = d ? EC_POINT_new(group) : EC_POINT_dup(b, group)) != NULL &&
                 (!d || EC_POINT_add(group, row[d], row[d - 1], b, ctx) == 1);
            if (ok && d) ok = to_affine(row[d], x, y, ctx);
        }
        /* the next row's base: ndig·b + b */
        ok = ok && EC_POINT_add(group, b, row[ndig - 1], b, ctx) == 1 && to_affine(b, x, y, ctx);
    }
    EC_POINT_free(b);
    BN_free(x);
    BN_free(y);
    BN_CTX_free(ctx);
    if (!ok) {
        sm2_table_free(t);
        ERR_clear_error();
        return NULL;
    }
    return t;
}

static void group_init(void)
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *a = BN_new(), *b = BN_new(), *x = BN_new(), *y = BN_new();
    int ok = g && ctx && a && b && x && y && EC_GROUP_get_curve(g, NULL, a, b, ctx) == 1 &&
             EC_POINT_get_affine_coordinates(g, EC_GROUP_get0_generator(g), x, y, ctx) == 1 &&
             BN_bn2binpad(a, curve_abg, 32) == 32 && BN_bn2binpad(b, curve_abg + 32, 32) == 32 &&
             BN_bn2binpad(x, curve_abg + 64, 32) == 32 && BN_bn2binpad(y, curve_abg + 96, 32) == 32;
    BN_free(a);
    BN_free(b);
    BN_free(x);
    BN_free(y);
    BN_CTX_free(ctx);
    if (ok) {
        group = g;
        gtab = table_build(EC_GROUP_get0_generator(g), G_WBITS);
    } else {
        EC_GROUP_free(g);
    }
    ERR_clear_error();
}

int sm2_z(const unsigned char pub_xy[64], const char *id, unsigned char z[SM3_DIGEST_LEN])
{
    pthread_once(&group_once, group_init);
    size_t idlen = strlen(id);
    if (!group || idlen == 0 || idlen >= 8192) return -1;
    unsigned char entl[2] = {(unsigned char)(idlen * 8 >> 8), (unsigned char)(idlen * 8)};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = md && EVP_DigestInit_ex(md, crypto_md_sm3(), NULL) == 1 && EVP_DigestUpdate(md, entl, 2) == 1 &&
             EVP_DigestUpdate(md, id, idlen) == 1 && EVP_DigestUpdate(md, curve_abg, 128) == 1 &&
             EVP_DigestUpdate(md, pub_xy, 64) == 1 && EVP_DigestFinal_ex(md, z, &n) == 1 &&
             n == SM3_DIGEST_LEN;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

sm2_table *sm2_table_for(const unsigned char pub_xy[64])
{
    pthread_once(&group_once, group_init);
    if (!group || !gtab) return NULL;
    unsigned char oct[65] = {4};
    memcpy(oct + 1, pub_xy, 64);
    EC_POINT *p = EC_POINT_new(group);
    sm2_table *t = NULL;
    if (p && EC_POINT_oct2point(group, p, oct, sizeof oct, NULL) == 1) t = table_build(p, KEY_WBITS);
    EC_POINT_free(p);
    ERR_clear_error();
    return t;
}

/* acc += k·B from B's table; k < 2^256 as 32 big-endian bytes. */
static int table_add(EC_POINT *acc, const sm2_table *t, const unsigned char k[32], BN_CTX *ctx)
{
    for (int i = 0; i < t->nwin; i++) {
        /* bits wbits·i .. wbits·(i+1) - 1, counted from the least significant */
        int bit = t->wbits * i, byte = 31 - bit / 8, sh = bit % 8;
        unsigned v = k[byte] >> sh;
        if (byte > 0) v |= (unsigned)k[byte - 1] << (8 - sh);
        v &= (unsigned)t->ndig;
        if (v && EC_POINT_add(group, acc, acc, t->p[i * t->ndig + (int)v - 1], ctx) != 1) return -1;
    }
    return 0;
}

int sm2_table_verify(const sm2_table *pt, const unsigned char z[SM3_DIGEST_LEN], const void *data, size_t len,
                     const unsigned char *sig, size_t siglen)
{
    pthread_once(&group_once, group_init);
    if (!group || !gtab || !pt) return -1;
    /* the signature: strict DER, as OpenSSL's own SM2 verification demands */
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
    unsigned char *der = NULL;
    int derlen = es && p == sig + siglen ? i2d_ECDSA_SIG(es, &der) : -1;
    int rc = -1;
    BN_CTX *ctx = NULL;
    EC_POINT *acc = NULL;
    EVP_MD_CTX *md = NULL;
    if (derlen != (int)siglen || memcmp(der, sig, siglen) != 0) goto out;
    const BIGNUM *r = ECDSA_SIG_get0_r(es), *s = ECDSA_SIG_get0_s(es), *n = EC_GROUP_get0_order(group);
    ctx = BN_CTX_new();
    if (!ctx) goto out;
    BN_CTX_start(ctx);
    BIGNUM *t = BN_CTX_get(ctx), *e = BN_CTX_get(ctx), *x1 = BN_CTX_get(ctx);
    if (!x1) goto out;
    /* B1, B2: r and s in [1, n-1] */
    if (BN_is_zero(r) || BN_is_negative(r) || BN_cmp(r, n) >= 0 || BN_is_zero(s) || BN_is_negative(s) ||
        BN_cmp(s, n) >= 0)
        goto out;
    /* B3, B4: e = SM3(Z || M) */
    unsigned char dg[SM3_DIGEST_LEN];
    unsigned int dn = 0;
    if (!(md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md, crypto_md_sm3(), NULL) != 1 ||
        EVP_DigestUpdate(md, z, SM3_DIGEST_LEN) != 1 || (len && EVP_DigestUpdate(md, data, len) != 1) ||
        EVP_DigestFinal_ex(md, dg, &dn) != 1 || !BN_bin2bn(dg, (int)dn, e))
        goto out;
    /* B5: t = (r + s) mod n, not 0 */
    if (BN_mod_add(t, r, s, n, ctx) != 1 || BN_is_zero(t)) goto out;
    /* B6: (x1, y1) = s·G + t·P, not the point at infinity */
    unsigned char sb[32], tb[32];
    if (BN_bn2binpad(s, sb, 32) != 32 || BN_bn2binpad(t, tb, 32) != 32) goto out;
    if (!(acc = EC_POINT_new(group)) || EC_POINT_set_to_infinity(group, acc) != 1 ||
        table_add(acc, gtab, sb, ctx) != 0 || table_add(acc, pt, tb, ctx) != 0 ||
        EC_POINT_get_affine_coordinates(group, acc, x1, NULL, ctx) != 1)
        goto out;
    /* B7: R = (e + x1) mod n must equal r */
    if (BN_mod_add(e, e, x1, n, ctx) != 1) goto out;
    rc = BN_cmp(e, r) == 0 ? 0 : -1;
out:
    if (ctx) BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    EC_POINT_free(acc);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return rc;
}
