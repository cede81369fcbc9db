/*
 * fetched.c — the OpenSSL algorithms ehall uses on hot paths, fetched once (internal.h).
 */
#include <pthread.h>

#include "crypto/internal.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *sm3;
static EVP_CIPHER *sm4_cbc;
static EVP_MAC *hmac;

static void fetch_all(void)
{
    sm3 = EVP_MD_fetch(NULL, "SM3", NULL);
    sm4_cbc = EVP_CIPHER_fetch(NULL, "SM4-CBC", NULL);
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

const EVP_MD *crypto_md_sm3(void)
{
    pthread_once(&once, fetch_all);
    return sm3;
}

const EVP_CIPHER *crypto_cipher_sm4_cbc(void)
{
    pthread_once(&once, fetch_all);
    return sm4_cbc;
}

EVP_MAC *crypto_mac_hmac(void)
{
    pthread_once(&once, fetch_all);
    return hmac;
}
