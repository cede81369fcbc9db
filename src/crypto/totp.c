/*
 * totp.c — HOTP (RFC 4226) and TOTP (RFC 6238) over HMAC-SHA1, HMAC-SHA256 or
 * HMAC-SM3, and base32 (RFC 4648) for the secrets authenticator apps exchange.
 */
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"

#define TOTP_MAX_WINDOW 10

static const char *known_digest(const char *digest)
{
    static const char *const names[] = {"SHA1", "SHA256", "SM3"};
    if (!digest) return NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(digest, names[i]) == 0) return names[i];
    return NULL;
}

int crypto_hotp(const unsigned char *key, size_t keylen, const char *digest, unsigned long long counter,
                int digits, char *out)
{
    const char *md = known_digest(digest);
    if (!md || (!key && keylen) || digits < 6 || digits > 9 || !out) return -1;
    unsigned char msg[8], mac[CRYPTO_HMAC_MAX];
    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    size_t n = 0;
    if (crypto_hmac(md, key, keylen, msg, sizeof msg, mac, sizeof mac, &n) != 0 || n < 20) return -1;
    /* Dynamic truncation (RFC 4226 5.3), over the whole MAC whatever its length. */
    unsigned off = mac[n - 1] & 0x0f;
    uint32_t bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
                   (uint32_t)mac[off + 2] << 8 | mac[off + 3];
    crypto_wipe(mac, sizeof mac);
    uint32_t mod = 1;
    for (int i = 0; i < digits; i++) mod *= 10;
    bin %= mod;
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = (char)('0' + bin % 10);
        bin /= 10;
    }
    out[digits] = '\0';
    return 0;
}

int crypto_totp(const unsigned char *key, size_t keylen, const char *digest, long long unix_time, int step,
                int digits, char *out)
{
    if (unix_time < 0 || step < 1) return -1;
    return crypto_hotp(key, keylen, digest, (unsigned long long)(unix_time / step), digits, out);
}

int crypto_totp_verify(const unsigned char *key, size_t keylen, const char *digest, long long unix_time,
                       int step, int digits, const char *code, int window)
{
    if (unix_time < 0 || step < 1 || digits < 6 || digits > 9 || !code || window < 0 ||
        window > TOTP_MAX_WINDOW)
        return -1;
    if (strlen(code) != (size_t)digits) return -1; /* the length is public: it is the configured one */
    unsigned long long t = (unsigned long long)(unix_time / step);
    unsigned match = 0;
    int errors = 0;
    for (int d = -window; d <= window; d++) {
        if (d < 0 && t < (unsigned long long)-d) continue; /* before the epoch: no such step */
        char cand[10];
        if (crypto_hotp(key, keylen, digest, t + (unsigned long long)(long long)d, digits, cand) != 0) {
            errors = 1;
            continue;
        }
        match |= (unsigned)(crypto_equal(cand, code, (size_t)digits) == 0);
        crypto_wipe(cand, sizeof cand);
    }
    return match && !errors ? 0 : -1;
}

/* ---- base32 ---- */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int crypto_base32_encode(const void *in, size_t len, char *out, size_t outsize)
{
    if ((!in && len) || !out || len > (SIZE_MAX - 5) / 8 || outsize < CRYPTO_BASE32_ENCODED_SIZE(len))
        return -1;
    const unsigned char *p = in;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8 | p[i]) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = b32[(acc >> bits) & 31];
        }
    }
    if (bits > 0) out[o++] = b32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return 0;
}

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

int crypto_base32_decode(const char *in, unsigned char *out, size_t outsize, size_t *outlen)
{
    if (!in || (!out && outsize) || !outlen) return -1;
    size_t n = strlen(in), pad = 0;
    while (n > 0 && in[n - 1] == '=') {
        n--;
        pad++;
    }
    /* 5 bytes make 8 characters; a final group of 1, 2, 3 or 4 bytes makes 2, 4, 5 or 7. */
    static const int pad_for_rem[8] = {0, -1, 6, -1, 4, 3, -1, 1};
    size_t rem = n % 8;
    if (pad_for_rem[rem] < 0 || (pad && (size_t)pad_for_rem[rem] != pad) || (pad && rem == 0)) return -1;
    if (n / 8 * 5 + (rem * 5) / 8 > outsize) return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b32_value(in[i]);
        if (v < 0) return -1;
        acc = (acc << 5 | (uint32_t)v) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1)) return -1; /* stray bits: not what an encoder writes */
    *outlen = o;
    return 0;
}
