/*
 * Crypto tests: HMAC-SM3, PBKDF2-HMAC-SM3, SM4 and sealing, SM2 signatures, TOTP and
 * base32, against published vectors and, where there are none, against the openssl
 * command-line tool (those tests are skipped when no OpenSSL 3 `openssl` is on PATH).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "core/core.h"
#include "crypto/crypto.h"

/* ---- helpers ---- */

static size_t unhex(const char *hex, unsigned char *out, size_t outsize)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= outsize);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

static void assert_hex(const unsigned char *bin, size_t len, const char *want)
{
    char got[2 * 256 + 1];
    assert_true(len <= 256);
    hex_encode(bin, len, got);
    assert_string_equal(got, want);
}

/* Run a shell command; its stdout (up to size - 1 bytes) goes to out.  Returns the exit status. */
static int run(const char *cmd, char *out, size_t size)
{
    assert_true(size > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char tmp[512];
    size_t n = 0, r;
    while ((r = fread(tmp, 1, sizeof tmp, p)) > 0) {
        if (r > size - 1 - n) r = size - 1 - n;
        memcpy(out + n, tmp, r);
        n += r;
    }
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Keep only hex digits, lower-cased: the CLI prints "AB:CD" or "ABCD\n". */
static void hex_normalize(char *s)
{
    char *o = s;
    for (; *s; s++)
        if (isxdigit((unsigned char)*s)) *o++ = (char)tolower((unsigned char)*s);
    *o = '\0';
}

static void need_openssl_cli(void)
{
    char v[128];
    if (run("openssl version 2>/dev/null", v, sizeof v) != 0 || strncmp(v, "OpenSSL 3", 9) != 0) {
        print_message("openssl 3 CLI not found; skipping the cross-check\n");
        skip();
    }
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static size_t read_bytes(const char *path, unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, size, f);
    assert_true(n < size);
    fclose(f);
    return n;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- HMAC ---- */

static void hmac_known_answers(void **state)
{
    (void)state;
    unsigned char mac[CRYPTO_HMAC_MAX], key[200], buf[256];
    size_t n;
    const char *fox = "The quick brown fox jumps over the lazy dog";

    /* Computed once with `openssl mac -digest SM3 -macopt key:ehall-key HMAC`. */
    assert_int_equal(crypto_hmac_sm3("ehall-key", 9, fox, strlen(fox), mac), 0);
    assert_hex(mac, SM3_DIGEST_LEN, "776dba22b403725a6ea93e2eeb6bb5ed49b1d78b14f9c551f0aaeb14ec87f85c");

    /* RFC 2202 test case 1 and RFC 4231 test case 1 through the generic entry point. */
    memset(key, 0x0b, 20);
    assert_int_equal(crypto_hmac("SHA1", key, 20, "Hi There", 8, mac, sizeof mac, &n), 0);
    assert_int_equal(n, 20);
    assert_hex(mac, n, "b617318655057264e28bc0b6fb378c8ef146be00");
    assert_int_equal(crypto_hmac("SHA256", key, 20, "Hi There", 8, mac, sizeof mac, &n), 0);
    assert_hex(mac, n, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_int_equal(crypto_hmac("SHA256", key, 20, "Hi There", 8, mac, 16, &n), -1); /* too small */
    assert_int_equal(crypto_hmac("NO-SUCH-DIGEST", key, 20, "x", 1, mac, sizeof mac, &n), -1);

    /* HMAC-SM3 by its definition (RFC 2104, block 64) on top of plain SM3: an empty key
     * and a 100-byte key, which is hashed first. */
    for (int round = 0; round < 2; round++) {
        size_t klen = round == 0 ? 0 : 100;
        unsigned char k0[64] = {0}, inner[SM3_DIGEST_LEN], want[SM3_DIGEST_LEN];
        for (size_t i = 0; i < klen; i++) key[i] = (unsigned char)(i * 7 + 1);
        if (klen > 64)
            assert_int_equal(crypto_sm3(key, klen, k0), 0);
        else
            memcpy(k0, key, klen);
        for (int i = 0; i < 64; i++) buf[i] = k0[i] ^ 0x36;
        memcpy(buf + 64, fox, strlen(fox));
        assert_int_equal(crypto_sm3(buf, 64 + strlen(fox), inner), 0);
        for (int i = 0; i < 64; i++) buf[i] = k0[i] ^ 0x5c;
        memcpy(buf + 64, inner, sizeof inner);
        assert_int_equal(crypto_sm3(buf, 64 + sizeof inner, want), 0);
        assert_int_equal(crypto_hmac_sm3(klen ? key : NULL, klen, fox, strlen(fox), mac), 0);
        assert_memory_equal(mac, want, SM3_DIGEST_LEN);
    }
}

static void hmac_sm3_matches_openssl_cli(void **state)
{
    (void)state;
    need_openssl_cli();
    const char *msg = "The quick brown fox jumps over the lazy dog";
    char out[256], want[2 * SM3_DIGEST_LEN + 1];
    unsigned char mac[SM3_DIGEST_LEN];
    assert_int_equal(run("printf '%s' 'The quick brown fox jumps over the lazy dog' | "
                         "openssl mac -digest SM3 -macopt key:ehall-key HMAC",
                         out, sizeof out),
                     0);
    hex_normalize(out);
    assert_int_equal(crypto_hmac_sm3("ehall-key", 9, msg, strlen(msg), mac), 0);
    hex_encode(mac, sizeof mac, want);
    assert_string_equal(out, want);
}

static void constant_time_equal(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_int_equal(crypto_equal(a, b, sizeof a), 0);
    assert_int_equal(crypto_equal(a, b, 0), 0);
    for (size_t i = 0; i < sizeof b; i++) {
        b[i] ^= 0x80;
        assert_int_equal(crypto_equal(a, b, sizeof a), -1);
        b[i] ^= 0x80;
    }
}

/* ---- PBKDF2 ---- */

static void pbkdf2_sm3_known_answer(void **state)
{
    (void)state;
    unsigned char k[50], k2[32];
    /* Computed once with `openssl kdf -keylen 32 -kdfopt digest:SM3 -kdfopt pass:password
     * -kdfopt salt:saltSALTsalt -kdfopt iter:1000 PBKDF2`. */
    assert_int_equal(crypto_pbkdf2_sm3("password", 8, "saltSALTsalt", 12, 1000, k2, sizeof k2), 0);
    assert_hex(k2, sizeof k2, "f5bde78fab63b71850969189e4644cde010c7354f63c6832ca0e96aed29ed83f");
    /* A longer output starts with the same first block. */
    assert_int_equal(crypto_pbkdf2_sm3("password", 8, "saltSALTsalt", 12, 1000, k, sizeof k), 0);
    assert_memory_equal(k, k2, sizeof k2);
    /* Iterations, password and salt all matter. */
    assert_int_equal(crypto_pbkdf2_sm3("password", 8, "saltSALTsalt", 12, 999, k, sizeof k2), 0);
    assert_memory_not_equal(k, k2, sizeof k2);
    assert_int_equal(crypto_pbkdf2_sm3("passwore", 8, "saltSALTsalt", 12, 1000, k, sizeof k2), 0);
    assert_memory_not_equal(k, k2, sizeof k2);
    assert_int_equal(crypto_pbkdf2_sm3("password", 8, "saltSALTsalu", 12, 1000, k, sizeof k2), 0);
    assert_memory_not_equal(k, k2, sizeof k2);
    /* Bad arguments. */
    assert_int_equal(crypto_pbkdf2_sm3("password", 8, "salt", 4, 0, k, sizeof k), -1);
    assert_int_equal(crypto_pbkdf2_sm3("password", 8, "salt", 4, 1, k, 0), -1);
    assert_int_equal(crypto_pbkdf2_sm3(NULL, 8, "salt", 4, 1, k, sizeof k), -1);
}

static void pbkdf2_sm3_matches_openssl_cli(void **state)
{
    (void)state;
    need_openssl_cli();
    char out[256], want[65];
    unsigned char k[32];
    assert_int_equal(run("openssl kdf -keylen 32 -kdfopt digest:SM3 -kdfopt pass:'correct horse' "
                         "-kdfopt salt:NaCl-ehall -kdfopt iter:1000 PBKDF2",
                         out, sizeof out),
                     0);
    hex_normalize(out);
    assert_int_equal(crypto_pbkdf2_sm3("correct horse", 13, "NaCl-ehall", 10, 1000, k, sizeof k), 0);
    hex_encode(k, sizeof k, want);
    assert_string_equal(out, want);
}

/* ---- SM4 ---- */

static void sm4_block_vectors(void **state)
{
    (void)state;
    /* GB/T 32907-2016 Appendix A, examples 1 and 2 (the second encrypts 1,000,000 times). */
    unsigned char key[16], block[16], out[16];
    unhex("0123456789abcdeffedcba9876543210", key, sizeof key);
    memcpy(block, key, sizeof block);
    assert_int_equal(crypto_sm4_encrypt_block(key, block, out), 0);
    assert_hex(out, sizeof out, "681edf34d206965e86b3e94f536e4246");
    for (int i = 0; i < 1000000; i++) {
        assert_int_equal(crypto_sm4_encrypt_block(key, block, block), 0);
    }
    assert_hex(block, sizeof block, "595298c7c6fd271f0402f804c33d3f66");
}

/* base64url without padding, as in the sealed format, so the tests can edit payloads. */
static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64u_decode(const char *s, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *s; s++) {
        const char *p = strchr(b64u, *s);
        assert_non_null(p);
        acc = (acc << 6 | (uint32_t)(p - b64u)) & 0xffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

static void b64u_encode(const unsigned char *in, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8 | in[i]) & 0xffff;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            *out++ = b64u[(acc >> bits) & 63];
        }
    }
    if (bits) *out++ = b64u[(acc << (6 - bits)) & 63];
    *out = '\0';
}

static void fill_master(unsigned char m[CRYPTO_MASTER_KEY_LEN], unsigned char seed)
{
    for (int i = 0; i < CRYPTO_MASTER_KEY_LEN; i++) m[i] = (unsigned char)(seed + i * 13);
}

static void seal_open_round_trip(void **state)
{
    (void)state;
    unsigned char master[CRYPTO_MASTER_KEY_LEN], data[1000];
    fill_master(master, 1);
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 31 + 7);
    const size_t lens[] = {0, 1, 15, 16, 17, 31, 32, 33, 100, 1000};
    const int versions[] = {0, 1, 7, 42, INT_MAX};
    for (size_t li = 0; li < EHALL_ARRAY_LEN(lens); li++)
        for (size_t vi = 0; vi < EHALL_ARRAY_LEN(versions); vi++) {
            char *text = NULL;
            void *plain = NULL;
            size_t len = 99;
            int kv = -1;
            assert_int_equal(crypto_seal(master, versions[vi], data, lens[li], &text), 0);
            char prefix[32];
            snprintf(prefix, sizeof prefix, "v1.%d.", versions[vi]);
            assert_true(str_has_prefix(text, prefix));
            /* iv + ct + tag, base64url without padding */
            size_t blob = 16 + (lens[li] / 16 + 1) * 16 + 32;
            assert_int_equal(strlen(text) - strlen(prefix), blob / 3 * 4 + (blob % 3 ? blob % 3 + 1 : 0));
            assert_null(strpbrk(text + strlen(prefix), "=+/."));
            assert_int_equal(crypto_seal_keyver(text, &kv), 0);
            assert_int_equal(kv, versions[vi]);
            kv = -1;
            assert_int_equal(crypto_open(master, text, &plain, &len, &kv), 0);
            assert_int_equal(len, lens[li]);
            assert_int_equal(kv, versions[vi]);
            if (len) assert_memory_equal(plain, data, len);
            assert_int_equal(((char *)plain)[len], '\0');
            crypto_wipe(plain, len);
            free(plain);
            free(text);
        }

    /* Random IVs: the same plaintext seals differently each time. */
    char *a = NULL, *b = NULL;
    assert_int_equal(crypto_seal(master, 1, "secret", 6, &a), 0);
    assert_int_equal(crypto_seal(master, 1, "secret", 6, &b), 0);
    assert_string_not_equal(a, b);
    void *p = NULL;
    size_t n = 0;
    assert_int_equal(crypto_open(master, b, &p, &n, NULL), 0);
    assert_string_equal(p, "secret");
    free(p);
    free(a);
    free(b);

    assert_int_equal(crypto_seal(master, -1, "x", 1, &a), -1);
    assert_null(a);
    assert_int_equal(crypto_seal(master, 1, NULL, 1, &a), -1);
    assert_int_equal(crypto_seal(master, 1, NULL, 0, &a), 0); /* empty is fine */
    assert_int_equal(crypto_open(master, a, &p, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(p);
    free(a);
}

static void expect_open_fails(const unsigned char *master, const char *text)
{
    void *plain = (void *)1;
    size_t len = 5;
    int kv = -7;
    assert_int_equal(crypto_open(master, text, &plain, &len, &kv), -1);
    assert_null(plain);
    assert_int_equal(len, 0);
    assert_int_equal(kv, -7);
}

static void seal_refuses_tampering(void **state)
{
    (void)state;
    unsigned char master[CRYPTO_MASTER_KEY_LEN], other[CRYPTO_MASTER_KEY_LEN];
    fill_master(master, 1);
    fill_master(other, 2);
    const char *msg = "the exam paper for course 101, to be opened on the day";
    char *text = NULL;
    assert_int_equal(crypto_seal(master, 7, msg, strlen(msg), &text), 0);
    size_t tl = strlen(text);
    char *t = malloc(tl + 2);
    assert_non_null(t);

    /* Every bit of every character of the text. */
    for (size_t i = 0; i < tl; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(t, text, tl + 1);
            t[i] = (char)(t[i] ^ (1 << bit));
            expect_open_fails(master, t);
        }
    /* Every truncation, and one character more. */
    for (size_t i = 0; i < tl; i++) {
        memcpy(t, text, i);
        t[i] = '\0';
        expect_open_fails(master, t);
    }
    memcpy(t, text, tl);
    t[tl] = 'A';
    t[tl + 1] = '\0';
    expect_open_fails(master, t);
    /* Another master key. */
    expect_open_fails(other, text);

    /* Every bit of the decoded iv || ct || tag, re-encoded canonically. */
    const char *payload = text + strlen("v1.7.");
    unsigned char blob[256], mod[256];
    size_t bl = b64u_decode(payload, blob);
    assert_int_equal(bl, 16 + 64 + 32);
    char *t2 = malloc(strlen("v1.7.") + bl / 3 * 4 + 16);
    assert_non_null(t2);
    for (size_t i = 0; i < bl; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(mod, blob, bl);
            mod[i] ^= (unsigned char)(1 << bit);
            strcpy(t2, "v1.7.");
            b64u_encode(mod, bl, t2 + 5);
            expect_open_fails(master, t2);
        }
    /* The untouched blob re-encodes to the same text and opens. */
    strcpy(t2, "v1.7.");
    b64u_encode(blob, bl, t2 + 5);
    assert_string_equal(t2, text);
    /* Dropping whole blocks, keeping the tag: lengths stay plausible, tag does not. */
    memcpy(mod, blob, 16 + 48);
    memcpy(mod + 16 + 48, blob + 16 + 64, 32);
    strcpy(t2, "v1.7.");
    b64u_encode(mod, 16 + 48 + 32, t2 + 5);
    expect_open_fails(master, t2);
    memcpy(mod, blob, 16);
    memcpy(mod + 16, blob + 16 + 64, 32);
    strcpy(t2, "v1.7."); /* no ciphertext at all */
    b64u_encode(mod, 48, t2 + 5);
    expect_open_fails(master, t2);
    /* Relabelled key version, the same version spelled differently, other format versions. */
    snprintf(t2, strlen("v1.7.") + bl / 3 * 4 + 16, "v1.8.%s", payload);
    expect_open_fails(master, t2);
    snprintf(t2, strlen("v1.7.") + bl / 3 * 4 + 16, "v1.07.%s", payload);
    expect_open_fails(master, t2);
    snprintf(t2, strlen("v1.7.") + bl / 3 * 4 + 16, "v2.7.%s", payload);
    expect_open_fails(master, t2);
    snprintf(t2, strlen("v1.7.") + bl / 3 * 4 + 16, "v1.7.%s=", payload);
    expect_open_fails(master, t2);
    expect_open_fails(master, "");
    expect_open_fails(master, "v1.7.");
    expect_open_fails(master, "v1.99999999999.AAAA");
    int kv;
    assert_int_equal(crypto_seal_keyver("v1.99999999999.AAAA", &kv), -1);
    assert_int_equal(crypto_seal_keyver("v1.-1.AAAA", &kv), -1);

    free(t2);
    free(t);
    free(text);
}

/* ---- SM2 ---- */

/*
 * Every verification in these tests runs twice and must give the same answer: through
 * EVP (crypto_sm2_verify), and with a key prepared for fixed-base tables
 * (crypto_sm2_pub_prepare, sm2_table.c), which the licence verification endpoint uses.
 * Prepared keys are kept by PEM, as building a table takes tens of milliseconds.
 */
static int sm2_verify_both(const char *pem, const char *id, const void *data, size_t len,
                           const unsigned char *sig, size_t siglen)
{
    static struct {
        char pem[1024];
        crypto_sm2_pub *k;
    } kept[8];
    static int nkept;
    int evp = crypto_sm2_verify(pem, id, data, len, sig, siglen);
    crypto_sm2_pub *k = NULL;
    for (int i = 0; i < nkept && !k; i++)
        if (!strcmp(kept[i].pem, pem)) k = kept[i].k;
    if (!k && (k = crypto_sm2_pub_load(pem))) {
        assert_int_equal(crypto_sm2_pub_prepare(k), 0);
        assert_true(nkept < 8 && strlen(pem) < sizeof kept[0].pem);
        strcpy(kept[nkept].pem, pem);
        kept[nkept++].k = k;
    }
    int fast = crypto_sm2_verify_with(k, id, data, len, sig, siglen);
    assert_int_equal(fast, evp);
    return evp;
}
#define crypto_sm2_verify sm2_verify_both

static void sm2_sign_verify(void **state)
{
    (void)state;
    char *priv = NULL, *pub = NULL, *priv2 = NULL, *pub2 = NULL;
    assert_int_equal(crypto_sm2_keygen(&priv, &pub), 0);
    assert_true(str_has_prefix(priv, "-----BEGIN PRIVATE KEY-----\n"));
    assert_true(str_has_prefix(pub, "-----BEGIN PUBLIC KEY-----\n"));
    assert_int_equal(crypto_sm2_keygen(&priv2, &pub2), 0);
    assert_string_not_equal(pub, pub2);

    const char *msg = "grade change: 2024001 CS101 B -> A";
    unsigned char *sig = NULL, *sig2 = NULL;
    size_t sl = 0, sl2 = 0;
    assert_int_equal(crypto_sm2_sign(priv, NULL, msg, strlen(msg), &sig, &sl), 0);
    assert_true(sl >= 8 && sl <= 72 && sig[0] == 0x30);
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), sig, sl), 0);
    assert_int_equal(crypto_sm2_verify(pub, CRYPTO_SM2_DEFAULT_ID, msg, strlen(msg), sig, sl), 0);
    assert_int_equal(crypto_sm2_verify(pub, "ALICE123@YAHOO.COM", msg, strlen(msg), sig, sl), -1);
    assert_int_equal(crypto_sm2_verify(pub2, NULL, msg, strlen(msg), sig, sl), -1);
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg) - 1, sig, sl), -1);
    assert_int_equal(crypto_sm2_verify(priv, NULL, msg, strlen(msg), sig, sl), -1); /* not a public key */
    /* Randomised: signing again gives another, also valid, signature. */
    assert_int_equal(crypto_sm2_sign(priv, NULL, msg, strlen(msg), &sig2, &sl2), 0);
    assert_false(sl == sl2 && memcmp(sig, sig2, sl) == 0);
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), sig2, sl2), 0);
    /* Every flipped bit of the signature, and of the message, fails. */
    for (size_t i = 0; i < sl; i++)
        for (int bit = 0; bit < 8; bit++) {
            sig[i] ^= (unsigned char)(1 << bit);
            assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), sig, sl), -1);
            sig[i] ^= (unsigned char)(1 << bit);
        }
    char m[64];
    strcpy(m, msg);
    for (size_t i = 0; i < strlen(m); i++)
        for (int bit = 0; bit < 8; bit++) {
            m[i] = (char)(m[i] ^ (1 << bit));
            assert_int_equal(crypto_sm2_verify(pub, NULL, m, strlen(msg), sig, sl), -1);
            m[i] = (char)(m[i] ^ (1 << bit));
        }
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), sig, sl), 0);
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), sig, sl - 1), -1);

    /* A custom signer ID signs and verifies only under that ID. */
    free(sig2);
    assert_int_equal(crypto_sm2_sign(priv, "registrar@ehall", msg, strlen(msg), &sig2, &sl2), 0);
    assert_int_equal(crypto_sm2_verify(pub, "registrar@ehall", msg, strlen(msg), sig2, sl2), 0);
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), sig2, sl2), -1);

    /* Empty messages are messages too; garbage keys are refused. */
    free(sig2);
    assert_int_equal(crypto_sm2_sign(priv, NULL, NULL, 0, &sig2, &sl2), 0);
    assert_int_equal(crypto_sm2_verify(pub, NULL, "", 0, sig2, sl2), 0);
    free(sig2);
    assert_int_equal(crypto_sm2_sign(pub, NULL, msg, strlen(msg), &sig2, &sl2), -1);
    assert_null(sig2);
    assert_int_equal(crypto_sm2_sign("not a key", NULL, msg, strlen(msg), &sig2, &sl2), -1);
    assert_int_equal(crypto_sm2_verify("not a key", NULL, msg, strlen(msg), sig, sl), -1);

    free(sig);
    crypto_wipe(priv, strlen(priv));
    crypto_wipe(priv2, strlen(priv2));
    free(priv);
    free(pub);
    free(priv2);
    free(pub2);
}

/*
 * GM/T 0003.5-2012 (= GB/T 32918.5-2017) Annex on the recommended curve sm2p256v1:
 * private key d, public key (x, y), signer ID "1234567812345678", message
 * "message digest", Z_A, e, and the signature (r, s) made with the published k.  The
 * keys below are those numbers in PEM (SubjectPublicKeyInfo and PKCS#8 with the SM2 OID).
 */
static const char gm_pub_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                                 "MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAECfnfMR5UIaFQ3X0WHkvFxnIXn60Y\n"
                                 "M/wHa7CP81bzUCDM6kkM4md1pS3G6nGMwapgCu0F+/NeCEpmMvYHLamtEw==\n"
                                 "-----END PUBLIC KEY-----\n";
static const char gm_priv_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                                  "MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgOUUgj3shRLE/NuOK\n"
                                  "xtOflYiTk2koYLUaQvuB7033xbihRANCAAQJ+d8xHlQhoVDdfRYeS8XGchefrRgz\n"
                                  "/AdrsI/zVvNQIMzqSQziZ3WlLcbqcYzBqmAK7QX7814ISmYy9gctqa0T\n"
                                  "-----END PRIVATE KEY-----\n";
#define GM_X "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
#define GM_Y "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
#define GM_R "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
#define GM_S "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"

static void sm2_standard_vector(void **state)
{
    (void)state;
    /* Z_A = SM3(ENTL || ID || a || b || Gx || Gy || xA || yA), e = SM3(Z_A || M). */
    unsigned char buf[256], za[SM3_DIGEST_LEN], e[SM3_DIGEST_LEN];
    size_t n = unhex("0080"
                     "31323334353637383132333435363738"
                     "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
                     "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
                     "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
                     "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0" GM_X GM_Y,
                     buf, sizeof buf);
    assert_int_equal(crypto_sm3(buf, n, za), 0);
    assert_hex(za, sizeof za, "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3");
    memcpy(buf, za, sizeof za);
    memcpy(buf + sizeof za, "message digest", 14);
    assert_int_equal(crypto_sm3(buf, sizeof za + 14, e), 0);
    assert_hex(e, sizeof e, "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640");

    /* The published (r, s) as DER: both have the top bit set, hence the 00 pads. */
    unsigned char sig[80];
    size_t sl = unhex("3046022100" GM_R "022100" GM_S, sig, sizeof sig);
    assert_int_equal(sl, 72);
    assert_int_equal(crypto_sm2_verify(gm_pub_pem, "1234567812345678", "message digest", 14, sig, sl), 0);
    assert_int_equal(crypto_sm2_verify(gm_pub_pem, NULL, "message digest", 14, sig, sl), 0);
    assert_int_equal(crypto_sm2_verify(gm_pub_pem, "ALICE123@YAHOO.COM", "message digest", 14, sig, sl), -1);
    assert_int_equal(crypto_sm2_verify(gm_pub_pem, NULL, "message digesT", 14, sig, sl), -1);
    sig[sl - 1] ^= 1;
    assert_int_equal(crypto_sm2_verify(gm_pub_pem, NULL, "message digest", 14, sig, sl), -1);

    /* The published private key signs what the published public key verifies. */
    unsigned char *mine = NULL;
    size_t ml = 0;
    assert_int_equal(crypto_sm2_sign(gm_priv_pem, NULL, "message digest", 14, &mine, &ml), 0);
    assert_int_equal(crypto_sm2_verify(gm_pub_pem, NULL, "message digest", 14, mine, ml), 0);
    free(mine);
}

static void sm2_interoperates_with_openssl_cli(void **state)
{
    (void)state;
    need_openssl_cli();
    char dir[] = "/tmp/ehall-crypto-XXXXXX", cmd[2048], out[4096], path[256];
    assert_non_null(mkdtemp(dir));
    const char *msg = "transcript 2024001: GPA 3.71";
    char *priv = NULL, *pub = NULL;
    unsigned char *sig = NULL, buf[4096];
    size_t sl = 0;

    /* Our key and signature, verified by the CLI. */
    assert_int_equal(crypto_sm2_keygen(&priv, &pub), 0);
    snprintf(path, sizeof path, "%s/pub.pem", dir);
    write_bytes(path, pub, strlen(pub));
    snprintf(path, sizeof path, "%s/priv.pem", dir);
    write_bytes(path, priv, strlen(priv));
    snprintf(path, sizeof path, "%s/data", dir);
    write_bytes(path, msg, strlen(msg));
    assert_int_equal(crypto_sm2_sign(priv, NULL, msg, strlen(msg), &sig, &sl), 0);
    snprintf(path, sizeof path, "%s/sig", dir);
    write_bytes(path, sig, sl);
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in data -sigfile sig "
             "-digest sm3 -pkeyopt distid:1234567812345678 2>&1",
             dir);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Signature Verified Successfully"));
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in data -sigfile sig "
             "-digest sm3 -pkeyopt distid:ALICE123@YAHOO.COM 2>&1",
             dir);
    assert_int_not_equal(run(cmd, out, sizeof out), 0);
    sig[sl / 2] ^= 0x10;
    snprintf(path, sizeof path, "%s/sig", dir);
    write_bytes(path, sig, sl);
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in data -sigfile sig "
             "-digest sm3 -pkeyopt distid:1234567812345678 2>&1",
             dir);
    assert_int_not_equal(run(cmd, out, sizeof out), 0);
    free(sig);
    sig = NULL;

    /* The CLI signs with our key; we verify. */
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl pkeyutl -sign -inkey priv.pem -rawin -in data -out clisig -digest sm3 "
             "-pkeyopt distid:1234567812345678 2>&1",
             dir);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    snprintf(path, sizeof path, "%s/clisig", dir);
    sl = read_bytes(path, buf, sizeof buf);
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), buf, sl), 0);
    assert_int_equal(crypto_sm2_verify(pub, "1234567812345679", msg, strlen(msg), buf, sl), -1);
    buf[sl - 3] ^= 0x01;
    assert_int_equal(crypto_sm2_verify(pub, NULL, msg, strlen(msg), buf, sl), -1);

    /* A key the CLI made: it signs under a custom ID, we verify and sign for it to check. */
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl genpkey -algorithm SM2 -out cli.pem 2>&1 && "
             "openssl pkey -in cli.pem -pubout -out clipub.pem 2>&1 && "
             "openssl pkeyutl -sign -inkey cli.pem -rawin -in data -out clisig2 -digest sm3 "
             "-pkeyopt distid:registrar@ehall 2>&1",
             dir);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    char clipriv[4096], clipub[4096];
    snprintf(path, sizeof path, "%s/cli.pem", dir);
    clipriv[read_bytes(path, (unsigned char *)clipriv, sizeof clipriv)] = '\0';
    snprintf(path, sizeof path, "%s/clipub.pem", dir);
    clipub[read_bytes(path, (unsigned char *)clipub, sizeof clipub)] = '\0';
    snprintf(path, sizeof path, "%s/clisig2", dir);
    sl = read_bytes(path, buf, sizeof buf);
    assert_int_equal(crypto_sm2_verify(clipub, "registrar@ehall", msg, strlen(msg), buf, sl), 0);
    assert_int_equal(crypto_sm2_verify(clipub, NULL, msg, strlen(msg), buf, sl), -1);
    assert_int_equal(crypto_sm2_sign(clipriv, "registrar@ehall", msg, strlen(msg), &sig, &sl), 0);
    snprintf(path, sizeof path, "%s/sig2", dir);
    write_bytes(path, sig, sl);
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl pkeyutl -verify -pubin -inkey clipub.pem -rawin -in data -sigfile sig2 "
             "-digest sm3 -pkeyopt distid:registrar@ehall 2>&1",
             dir);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "Signature Verified Successfully"));

    crypto_wipe(clipriv, sizeof clipriv);
    crypto_wipe(priv, strlen(priv));
    free(sig);
    free(priv);
    free(pub);
    remove_dir(dir);
}

/* The prepared key against EVP on signatures that must fail for each of GB/T 32918.2's
 * checks: r or s outside [1, n-1], r + s = n, a non-minimal DER encoding, and random
 * damage to many signatures of random messages. */
static void sm2_prepared_key_agrees_with_evp(void **state)
{
    (void)state;
    char *priv = NULL, *pub = NULL;
    assert_int_equal(crypto_sm2_keygen(&priv, &pub), 0);
    unsigned char msg[300], *sig = NULL;
    size_t sl = 0;
    srand(20261207);
    for (int round = 0; round < 60; round++) {
        size_t len = (size_t)rand() % sizeof msg;
        for (size_t i = 0; i < len; i++) msg[i] = (unsigned char)rand();
        assert_int_equal(crypto_sm2_sign(priv, NULL, msg, len, &sig, &sl), 0);
        assert_int_equal(crypto_sm2_verify(pub, NULL, msg, len, sig, sl), 0);
        for (int k = 0; k < 8; k++) {
            size_t at = (size_t)rand() % sl;
            unsigned char was = sig[at];
            sig[at] = (unsigned char)rand();
            crypto_sm2_verify(pub, NULL, msg, len, sig, sl); /* the helper compares */
            sig[at] = was;
        }
        if (len) {
            msg[rand() % len] ^= (unsigned char)(1 + rand() % 255);
            assert_int_equal(crypto_sm2_verify(pub, NULL, msg, len, sig, sl), -1);
        }
        free(sig);
        sig = NULL;
    }

    /* r and s of a good signature, then the same numbers bent */
    const char *m = "licence 4403-0001: valid";
    assert_int_equal(crypto_sm2_sign(priv, NULL, m, strlen(m), &sig, &sl), 0);
    const unsigned char *p = sig;
    ECDSA_SIG *good = d2i_ECDSA_SIG(NULL, &p, (long)sl);
    assert_non_null(good);
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
    const BIGNUM *n = EC_GROUP_get0_order(g), *r = ECDSA_SIG_get0_r(good), *s = ECDSA_SIG_get0_s(good);
    BIGNUM *zero = BN_new(), *one = BN_new(), *n1 = BN_dup(n), *nr = BN_new(), *rn = BN_new();
    assert_true(zero && one && n1 && nr && rn);
    BN_zero(zero);
    BN_one(one);
    BN_sub_word(n1, 1);
    BN_sub(nr, n, r);
    BN_add(rn, r, n);
    const BIGNUM *cases[][2] = {{r, s},  {zero, s}, {r, zero}, {n, s}, {r, n},
                                {rn, s}, {n1, one}, {r, nr},   {s, r}, {r, n1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ECDSA_SIG *e = ECDSA_SIG_new();
        assert_int_equal(ECDSA_SIG_set0(e, BN_dup(cases[c][0]), BN_dup(cases[c][1])), 1);
        unsigned char *der = NULL;
        int dl = i2d_ECDSA_SIG(e, &der);
        assert_true(dl > 0);
        assert_int_equal(crypto_sm2_verify(pub, NULL, m, strlen(m), der, (size_t)dl), c == 0 ? 0 : -1);
        OPENSSL_free(der);
        ECDSA_SIG_free(e);
    }
    /* the good signature with r's length in long form (81 xx): not DER, refused */
    unsigned char ber[80];
    size_t rl = sig[3];
    assert_true(sig[0] == 0x30 && sig[1] < 0x80 && sig[2] == 0x02 && sl + 1 <= sizeof ber);
    ber[0] = 0x30;
    ber[1] = (unsigned char)(sig[1] + 1);
    ber[2] = 0x02;
    ber[3] = 0x81;
    memcpy(ber + 4, sig + 3, sl - 3);
    assert_int_equal(ber[4], rl);
    assert_int_equal(crypto_sm2_verify(pub, NULL, m, strlen(m), ber, sl + 1), -1);
    /* trailing bytes after the SEQUENCE */
    memcpy(ber, sig, sl);
    ber[sl] = 0;
    assert_int_equal(crypto_sm2_verify(pub, NULL, m, strlen(m), ber, sl + 1), -1);

    BN_free(zero);
    BN_free(one);
    BN_free(n1);
    BN_free(nr);
    BN_free(rn);
    EC_GROUP_free(g);
    ECDSA_SIG_free(good);
    free(sig);
    crypto_wipe(priv, strlen(priv));
    free(priv);
    free(pub);
}

#undef crypto_sm2_verify

/* ---- TOTP and base32 ---- */

static void totp_rfc_vectors(void **state)
{
    (void)state;
    /* RFC 4226 Appendix D: HOTP-SHA1, 6 digits, counters 0..9. */
    static const char *const hotp[] = {"755224", "287082", "359152", "969429", "338314",
                                       "254676", "287922", "162583", "399871", "520489"};
    char code[16];
    for (unsigned i = 0; i < 10; i++) {
        assert_int_equal(crypto_hotp((const unsigned char *)"12345678901234567890", 20, "SHA1", i, 6, code),
                         0);
        assert_string_equal(code, hotp[i]);
    }
    /* RFC 6238 Appendix B: 8 digits, step 30. */
    static const long long times[] = {59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000LL};
    static const char *const sha1[] = {"94287082", "07081804", "14050471",
                                       "89005924", "69279037", "65353130"};
    static const char *const sha256[] = {"46119246", "68084774", "67062674",
                                         "91819424", "90698825", "77737706"};
    const unsigned char *k20 = (const unsigned char *)"12345678901234567890";
    const unsigned char *k32 = (const unsigned char *)"12345678901234567890123456789012";
    for (size_t i = 0; i < EHALL_ARRAY_LEN(times); i++) {
        assert_int_equal(crypto_totp(k20, 20, "SHA1", times[i], 30, 8, code), 0);
        assert_string_equal(code, sha1[i]);
        assert_int_equal(crypto_totp_verify(k20, 20, "SHA1", times[i], 30, 8, sha1[i], 0), 0);
        assert_int_equal(crypto_totp(k32, 32, "SHA256", times[i], 30, 8, code), 0);
        assert_string_equal(code, sha256[i]);
        assert_int_equal(crypto_totp_verify(k32, 32, "SHA256", times[i], 30, 8, sha256[i], 0), 0);
    }
    /* 6 digits are the low 6 of the 8. */
    assert_int_equal(crypto_totp(k20, 20, "SHA1", 59, 30, 6, code), 0);
    assert_string_equal(code, "287082");

    /* Bad arguments. */
    assert_int_equal(crypto_totp(k20, 20, "MD5", 59, 30, 6, code), -1);
    assert_int_equal(crypto_totp(k20, 20, NULL, 59, 30, 6, code), -1);
    assert_int_equal(crypto_totp(k20, 20, "SHA1", -1, 30, 6, code), -1);
    assert_int_equal(crypto_totp(k20, 20, "SHA1", 59, 0, 6, code), -1);
    assert_int_equal(crypto_totp(k20, 20, "SHA1", 59, 30, 5, code), -1);
    assert_int_equal(crypto_totp(k20, 20, "SHA1", 59, 30, 10, code), -1);
}

static void totp_sm3_and_windows(void **state)
{
    (void)state;
    const unsigned char *k = (const unsigned char *)"12345678901234567890";
    char sm3[16], sha1[16];
    /* HMAC-SM3 of the counter 0x00000000023523EC with the RFC 6238 SHA-1 key, computed
     * with `openssl mac -digest SM3 -macopt hexkey:3132...30 HMAC` and truncated by hand. */
    assert_int_equal(crypto_totp(k, 20, "SM3", 1111111109, 30, 8, sm3), 0);
    assert_string_equal(sm3, "71578389");
    assert_int_equal(crypto_totp(k, 20, "SHA1", 1111111109, 30, 8, sha1), 0);
    assert_string_not_equal(sm3, sha1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", 1111111109, 30, 8, "71578389", 0), 0);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", 1111111109, 30, 8, sha1, 1), -1);
    assert_int_equal(crypto_totp_verify(k, 20, "SHA1", 1111111109, 30, 8, "71578389", 1), -1);

    /* Windows: a code stays valid +-window steps around its own. */
    long long t0 = 1700000000;
    char c[16];
    assert_int_equal(crypto_totp(k, 20, "SM3", t0, 30, 6, c), 0);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0, 30, 6, c, 0), 0);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0 + 30, 30, 6, c, 0), -1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0 + 30, 30, 6, c, 1), 0);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0 - 30, 30, 6, c, 1), 0);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0 + 60, 30, 6, c, 1), -1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0 + 60, 30, 6, c, 2), 0);
    /* Wrong codes, wrong lengths, bad windows. */
    char wrong[16];
    strcpy(wrong, c);
    wrong[5] = (char)(wrong[5] == '9' ? '0' : wrong[5] + 1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0, 30, 6, wrong, 2), -1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0, 30, 6, "", 2), -1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0, 30, 8, c, 2), -1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0, 30, 6, c, -1), -1);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", t0, 30, 6, c, 11), -1);
    /* Near the epoch the window simply has fewer steps. */
    assert_int_equal(crypto_totp(k, 20, "SM3", 0, 30, 6, c), 0);
    assert_int_equal(crypto_totp_verify(k, 20, "SM3", 10, 30, 6, c, 3), 0);
}

static void totp_sm3_matches_openssl_cli(void **state)
{
    (void)state;
    need_openssl_cli();
    char dir[] = "/tmp/ehall-crypto-XXXXXX", path[256], cmd[1024], out[256];
    assert_non_null(mkdtemp(dir));
    const char *key = "ehall-totp-secret!!";
    long long t = 1750000000;
    unsigned long long ctr = (unsigned long long)(t / 30);
    unsigned char msg[8], mac[SM3_DIGEST_LEN];
    for (int i = 7; i >= 0; i--, ctr >>= 8) msg[i] = (unsigned char)(ctr & 0xff);
    snprintf(path, sizeof path, "%s/counter", dir);
    write_bytes(path, msg, sizeof msg);
    char hexkey[64];
    hex_encode((const unsigned char *)key, strlen(key), hexkey);
    snprintf(cmd, sizeof cmd, "openssl mac -digest SM3 -macopt hexkey:%s -in %s HMAC", hexkey, path);
    assert_int_equal(run(cmd, out, sizeof out), 0);
    hex_normalize(out);
    assert_int_equal(strlen(out), 64);
    unhex(out, mac, sizeof mac);
    /* RFC 4226 dynamic truncation, written out here independently of totp.c. */
    int off = mac[31] & 15;
    unsigned long bin = ((unsigned long)(mac[off] & 0x7f) << 24) | ((unsigned long)mac[off + 1] << 16) |
                        ((unsigned long)mac[off + 2] << 8) | mac[off + 3];
    char want[16], got[16];
    snprintf(want, sizeof want, "%06lu", bin % 1000000);
    assert_int_equal(crypto_totp((const unsigned char *)key, strlen(key), "SM3", t, 30, 6, got), 0);
    assert_string_equal(got, want);
    snprintf(want, sizeof want, "%08lu", bin % 100000000);
    assert_int_equal(crypto_totp((const unsigned char *)key, strlen(key), "SM3", t, 30, 8, got), 0);
    assert_string_equal(got, want);
    remove_dir(dir);
}

static void base32_rfc4648(void **state)
{
    (void)state;
    /* RFC 4648 section 10, without the padding. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"};
    static const char *const padded[] = {
        "", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"};
    char out[64];
    unsigned char dec[64];
    size_t n;
    for (size_t i = 0; i < EHALL_ARRAY_LEN(plain); i++) {
        assert_int_equal(crypto_base32_encode(plain[i], strlen(plain[i]), out, sizeof out), 0);
        assert_string_equal(out, enc[i]);
        assert_int_equal(crypto_base32_decode(enc[i], dec, sizeof dec, &n), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
        assert_int_equal(crypto_base32_decode(padded[i], dec, sizeof dec, &n), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], n);
    }
    /* The RFC 6238 key as authenticator apps see it; lower case is accepted. */
    assert_int_equal(crypto_base32_encode("12345678901234567890", 20, out, sizeof out), 0);
    assert_string_equal(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_int_equal(crypto_base32_decode("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", dec, sizeof dec, &n), 0);
    assert_int_equal(n, 20);
    assert_memory_equal(dec, "12345678901234567890", 20);

    /* Refused: wrong padding, stray characters, impossible lengths, stray bits, no room. */
    static const char *const bad[] = {"MY=",      "MY=======", "MZXW6YTB=", "M",     "MZX",      "MZXW6Y",
                                      "MZ X",     "MZ1Q",      "M8XQ",      "MZ==",  "MZ",       "MZXR",
                                      "MZXW6YR=", "====",      "MY==MY==",  "MZXW7", "=MY=====", "MZXQ\n"};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(bad); i++) {
        if (crypto_base32_decode(bad[i], dec, sizeof dec, &n) != -1) fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(crypto_base32_decode("MZXW6YTBOI", dec, 5, &n), -1);
    assert_int_equal(crypto_base32_encode("foobar", 6, out, 10), -1);
    assert_int_equal(crypto_base32_encode("foobar", 6, out, 11), 0);

    /* Round trips of every length up to 64 random bytes. */
    unsigned char rnd[64];
    char text[CRYPTO_BASE32_ENCODED_SIZE(64)];
    assert_int_equal(random_bytes(rnd, sizeof rnd), 0);
    for (size_t len = 0; len <= sizeof rnd; len++) {
        assert_int_equal(crypto_base32_encode(rnd, len, text, sizeof text), 0);
        assert_int_equal(strlen(text), (len * 8 + 4) / 5);
        unsigned char back[64];
        assert_int_equal(crypto_base32_decode(text, back, sizeof back, &n), 0);
        assert_int_equal(n, len);
        if (len) assert_memory_equal(back, rnd, len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hmac_known_answers),
        cmocka_unit_test(hmac_sm3_matches_openssl_cli),
        cmocka_unit_test(constant_time_equal),
        cmocka_unit_test(pbkdf2_sm3_known_answer),
        cmocka_unit_test(pbkdf2_sm3_matches_openssl_cli),
        cmocka_unit_test(sm4_block_vectors),
        cmocka_unit_test(seal_open_round_trip),
        cmocka_unit_test(seal_refuses_tampering),
        cmocka_unit_test(sm2_sign_verify),
        cmocka_unit_test(sm2_standard_vector),
        cmocka_unit_test(sm2_interoperates_with_openssl_cli),
        cmocka_unit_test(sm2_prepared_key_agrees_with_evp),
        cmocka_unit_test(totp_rfc_vectors),
        cmocka_unit_test(totp_sm3_and_windows),
        cmocka_unit_test(totp_sm3_matches_openssl_cli),
        cmocka_unit_test(base32_rfc4648),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
