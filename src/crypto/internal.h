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

/* NULL only when the provider lacks the algorithm. */
const EVP_MD *crypto_md_sm3(void);
const EVP_CIPHER *crypto_cipher_sm4_cbc(void);
EVP_MAC *crypto_mac_hmac(void);

#endif
