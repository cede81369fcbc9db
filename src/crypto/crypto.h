/*
 * crypto — national (SM) algorithms on OpenSSL 3.  This issue needs SM3 digests
 * (backup files, later the audit chain); SM2 and SM4 join here as features need them.
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

#endif
