/*
 * internal.h — what the crypto module's files share: OpenSSL algorithms fetched once.
 *
 * OpenSSL 3 resolves a legacy handle such as EVP_sm3() in the provider again at every
 * DigestInit (an implicit fetch, with its lock and property-query work), which cost
 * more than hashing a short message.  These are fetched on first use and kept for the
 * life of the process; fetched objects may be shared between threads.
 */
#ifndef EHALL_CRYPTO_INTERNAL_H
#define EHALL_CRYPTO_INTERNAL_H

#include <openssl/evp.h>
#include <stddef.h>

/* NULL only when the provider lacks the algorithm. */
const EVP_MD *crypto_md_sm3(void);
const EVP_CIPHER *crypto_cipher_sm4_cbc(void);
EVP_MAC *crypto_mac_hmac(void);

/* SM2 verification with fixed-base tables (sm2_table.c).  pub_xy is the public point,
 * x then y, 32 bytes each; z is Z_A of GB/T 32918.2 (the SM3 of the signer ID, the
 * curve and the key).  A table is read-only once built and may be shared by threads. */
typedef struct sm2_table sm2_table;
sm2_table *sm2_table_for(const unsigned char pub_xy[64]); /* NULL: not a point, or no memory */
void sm2_table_free(sm2_table *t);
int sm2_z(const unsigned char pub_xy[64], const char *id, unsigned char z[32]);
/* 0 only when sig (DER) is a valid signature of data under the key of t and z. */
int sm2_table_verify(const sm2_table *t, const unsigned char z[32], const void *data, size_t len,
                     const unsigned char *sig, size_t siglen);

#endif
