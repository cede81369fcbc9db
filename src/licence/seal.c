/*
 * seal.c — the canonical JSON form, the departments' SM2 key files, signing a licence
 * and verifying a signed document offline.  See licence.h and docs/licences.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calendar/calendar.h"
#include "core/config.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "licence/licence.h"
#include "licence/pdf.h"

/* ---------- canonical JSON ---------- */

static void canon_string(struct strbuf *sb, const char *s, size_t n)
{
    sb_printf(sb, "\"");
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\' || ch < 0x20) {
            if (i > start) sb_printf(sb, "%.*s", (int)(i - start), s + start);
            if (ch == '"' || ch == '\\')
                sb_printf(sb, "\\%c", ch);
            else
                sb_printf(sb, "\\u%04x", ch);
            start = i + 1;
        }
    }
    if (n > start) sb_printf(sb, "%.*s", (int)(n - start), s + start);
    sb_printf(sb, "\"");
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int canon(struct strbuf *sb, const json_t *v, int depth)
{
    if (depth > 32) return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = n ? malloc(n * sizeof *keys) : NULL;
        if (n && !keys) return -1;
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) keys[i++] = k;
        qsort(keys, n, sizeof *keys, key_cmp);
        sb_printf(sb, "{");
        int rc = 0;
        for (i = 0; i < n && rc == 0; i++) {
            if (i) sb_printf(sb, ",");
            canon_string(sb, keys[i], strlen(keys[i]));
            sb_printf(sb, ":");
            rc = canon(sb, json_object_get(v, keys[i]), depth + 1);
        }
        sb_printf(sb, "}");
        free(keys);
        return rc;
    }
    case JSON_ARRAY: {
        sb_printf(sb, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) sb_printf(sb, ",");
            if (canon(sb, json_array_get(v, i), depth + 1) != 0) return -1;
        }
        sb_printf(sb, "]");
        return 0;
    }
    case JSON_STRING: canon_string(sb, json_string_value(v), json_string_length(v)); return 0;
    case JSON_INTEGER: sb_printf(sb, "%lld", (long long)json_integer_value(v)); return 0;
    case JSON_TRUE: sb_printf(sb, "true"); return 0;
    case JSON_FALSE: sb_printf(sb, "false"); return 0;
    case JSON_NULL: sb_printf(sb, "null"); return 0;
    default: return -1; /* reals have no canonical form here */
    }
}

char *licence_canonical(const json_t *v)
{
    if (!v) return NULL;
    struct strbuf sb = {0};
    sb_printf(&sb, "%s", "");
    if (canon(&sb, v, 0) != 0 || sb.oom) {
        sb_free(&sb);
        return NULL;
    }
    return sb.data;
}

/* ---------- base64 (standard alphabet, padded) ---------- */

static char *b64_encode(const unsigned char *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out) EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

/* 0 and a malloc'd buffer, or -1 when s is not canonical base64 */
static int b64_decode(const char *s, unsigned char **out, size_t *outlen)
{
    size_t n = strlen(s);
    if (n == 0 || n % 4 || n > 4096) return -1;
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf) return -1;
    int got = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
    if (got < 0) {
        free(buf);
        return -1;
    }
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    *outlen = (size_t)got - pad;
    /* refuse other spellings of the same bytes (whitespace, non-zero padding bits) */
    char *again = b64_encode(buf, *outlen);
    if (!again || strcmp(again, s) != 0) {
        free(again);
        free(buf);
        return -1;
    }
    free(again);
    *out = buf;
    return 0;
}

/* ---------- department keys ---------- */

void licence_keys_dir(const struct config *cfg, char *out, size_t len)
{
    snprintf(out, len, "%s/keys/seal", cfg && cfg->data_dir[0] ? cfg->data_dir : ".");
}

int licence_dept_ok(const char *dept)
{
    size_t n = dept ? strlen(dept) : 0;
    if (n == 0 || n > 64 || dept[0] == '-' || dept[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = dept[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

static int mkdirs(const char *dir)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* The public PEM of a private PEM (malloc'd), via OpenSSL. */
static char *public_of(const char *priv_pem)
{
    BIO *in = BIO_new_mem_buf(priv_pem, -1);
    EVP_PKEY *k = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
    BIO_free(in);
    if (!k) return NULL;
    BIO *out = BIO_new(BIO_s_mem());
    char *pem = NULL;
    if (out && PEM_write_bio_PUBKEY(out, k) == 1) {
        char *p;
        long n = BIO_get_mem_data(out, &p);
        pem = malloc((size_t)n + 1);
        if (pem) {
            memcpy(pem, p, (size_t)n);
            pem[n] = 0;
        }
    }
    BIO_free(out);
    EVP_PKEY_free(k);
    return pem;
}

int licence_key_load(const char *keys_dir, const char *dept, int create, char **priv_pem, char **pub_pem,
                     char key_id[65], char *err, size_t errlen)
{
    *priv_pem = *pub_pem = NULL;
    if (!licence_dept_ok(dept)) {
        snprintf(err, errlen, "not a department code: %s", dept ? dept : "(none)");
        return -1;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/%s.pem", keys_dir, dept);
    char *priv = read_text(path, 16384);
    if (!priv && errno == ENOENT && create) {
        if (mkdirs(keys_dir) != 0) {
            snprintf(err, errlen, "cannot create %s: %s", keys_dir, strerror(errno));
            return -1;
        }
        char *np = NULL, *npub = NULL;
        if (crypto_sm2_keygen(&np, &npub) != 0) {
            snprintf(err, errlen, "SM2 key generation failed");
            return -1;
        }
        free(npub);
        /* written under a temporary name, then linked into place: two processes making
         * the same key at once end up with one (the loser reads the winner's) */
        char tmp[760];
        unsigned char rnd[6];
        char rh[13];
        random_bytes(rnd, sizeof rnd);
        hex_encode(rnd, sizeof rnd, rh);
        snprintf(tmp, sizeof tmp, "%s/.%s.%s.tmp", keys_dir, dept, rh);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        size_t len = strlen(np);
        int ok = fd >= 0 && write(fd, np, len) == (ssize_t)len && fsync(fd) == 0;
        if (fd >= 0) close(fd);
        crypto_wipe(np, len);
        free(np);
        if (!ok || (link(tmp, path) != 0 && errno != EEXIST)) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            unlink(tmp);
            return -1;
        }
        unlink(tmp);
        log_info("made the seal key of department %s in %s", dept, path);
        priv = read_text(path, 16384);
    }
    if (!priv) {
        if (errno == ENOENT && !create) return 1;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat stt;
    if (stat(path, &stt) == 0 && (stt.st_mode & 077)) {
        crypto_wipe(priv, strlen(priv));
        free(priv);
        snprintf(err, errlen, "%s is readable by others: chmod 600 it", path);
        return -1;
    }
    char *pub = public_of(priv);
    if (!pub || crypto_sm2_pub_fingerprint(pub, key_id) != 0) {
        crypto_wipe(priv, strlen(priv));
        free(priv);
        free(pub);
        snprintf(err, errlen, "%s is not an SM2 private key", path);
        return -1;
    }
    *priv_pem = priv;
    *pub_pem = pub;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *licence_public_keys(const char *keys_dir)
{
    json_t *keys = json_array();
    DIR *d = opendir(keys_dir);
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < 512) {
        size_t l = strlen(e->d_name);
        if (l < 5 || e->d_name[0] == '.' || strcmp(e->d_name + l - 4, ".pem") != 0) continue;
        names[n++] = strndup(e->d_name, l - 4);
    }
    if (d) closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        char *priv, *pub, kid[65], err[256];
        if (licence_key_load(keys_dir, names[i], 0, &priv, &pub, kid, err, sizeof err) == 0) {
            json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s}", "dept", names[i], "key_id",
                                                  kid, "alg", LICENCE_ALG, "signer_id", LICENCE_SIGNER_ID,
                                                  "public_key", pub));
            crypto_wipe(priv, strlen(priv));
            free(priv);
            free(pub);
        } else {
            log_msg(LOG_WARN, "seal key %s: %s", names[i], err);
        }
        free(names[i]);
    }
    return json_pack("{s:o}", "keys", keys);
}

/* ---------- signing ---------- */

json_t *licence_sign(const json_t *licence, const char *priv_pem, const char *pub_pem)
{
    char kid[65];
    if (crypto_sm2_pub_fingerprint(pub_pem, kid) != 0) return NULL;
    char *text = licence_canonical(licence);
    if (!text) return NULL;
    unsigned char dg[SM3_DIGEST_LEN], *sig = NULL;
    size_t siglen = 0;
    char dhex[65];
    json_t *doc = NULL;
    if (crypto_sm3(text, strlen(text), dg) == 0 &&
        crypto_sm2_sign(priv_pem, LICENCE_SIGNER_ID, text, strlen(text), &sig, &siglen) == 0) {
        hex_encode(dg, sizeof dg, dhex);
        char *b = b64_encode(sig, siglen);
        if (b)
            doc = json_pack("{s:O, s:{s:s, s:s, s:s, s:s, s:s}}", "licence", licence, "seal", "alg",
                            LICENCE_ALG, "signer_id", LICENCE_SIGNER_ID, "key_id", kid, "digest", dhex, "sig",
                            b);
        free(b);
    }
    free(sig);
    free(text);
    return doc;
}

/* ---------- verification ---------- */

static int fail(char reason[32], char *detail, size_t detlen, const char *r, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(char reason[32], char *detail, size_t detlen, const char *r, const char *fmt, ...)
{
    snprintf(reason, 32, "%s", r);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, detlen, fmt, ap);
    va_end(ap);
    return 1;
}

struct licence_keyset {
    size_t n;
    struct ks_key {
        char dept[72], kid[65];
        crypto_sm2_pub *pub;
    } * k;
};

licence_keyset *licence_keyset_new(const json_t *keys)
{
    licence_keyset *ks = calloc(1, sizeof *ks);
    size_t n = json_array_size(json_object_get(keys, "keys"));
    if (!ks || (n && !(ks->k = calloc(n, sizeof *ks->k)))) {
        free(ks);
        return NULL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(keys, "keys"), i, e)
    {
        /* the fingerprint is computed from the key, never trusted from the keys file */
        const char *pem = json_string_value(json_object_get(e, "public_key"));
        const char *dept = json_string_value(json_object_get(e, "dept"));
        struct ks_key *k = &ks->k[ks->n];
        if (!pem || crypto_sm2_pub_fingerprint(pem, k->kid) != 0 || !(k->pub = crypto_sm2_pub_load(pem)))
            continue;
        snprintf(k->dept, sizeof k->dept, "%s", dept ? dept : "");
        ks->n++;
    }
    return ks;
}

void licence_keyset_serve(licence_keyset *ks, licence_keyset *prev)
{
    for (size_t i = 0; ks && i < ks->n; i++) {
        crypto_sm2_pub_prepare_at(ks->k[i].pub, KEYSET_PREPARE_AT);
        for (size_t j = 0; prev && j < prev->n; j++)
            if (prev->k[j].pub && !strcmp(prev->k[j].kid, ks->k[i].kid)) {
                /* the same key (kid is its fingerprint): keep the one with the tables */
                crypto_sm2_pub *t = ks->k[i].pub;
                ks->k[i].pub = prev->k[j].pub;
                prev->k[j].pub = t;
                break;
            }
    }
}

void licence_keyset_free(licence_keyset *ks)
{
    if (!ks) return;
    for (size_t i = 0; i < ks->n; i++) crypto_sm2_pub_free(ks->k[i].pub);
    free(ks->k);
    free(ks);
}

int licence_verify(const json_t *doc, const json_t *keys, int today, char reason[32], char *detail,
                   size_t detlen)
{
    licence_keyset *ks = licence_keyset_new(keys);
    if (!ks) return fail(reason, detail, detlen, "malformed", "out of memory reading the keys");
    int rc = licence_verify_with(doc, ks, today, reason, detail, detlen);
    licence_keyset_free(ks);
    return rc;
}

int licence_verify_with(const json_t *doc, const licence_keyset *ks, int today, char reason[32], char *detail,
                        size_t detlen)
{
    const json_t *lic = json_object_get(doc, "licence"), *seal = json_object_get(doc, "seal");
    if (!json_is_object(doc) || !json_is_object(lic) || !json_is_object(seal))
        return fail(reason, detail, detlen, "malformed",
                    "not a signed licence: needs \"licence\" and \"seal\"");
    const char *alg = json_string_value(json_object_get(seal, "alg")),
               *sid = json_string_value(json_object_get(seal, "signer_id")),
               *kid = json_string_value(json_object_get(seal, "key_id")),
               *dg = json_string_value(json_object_get(seal, "digest")),
               *sig = json_string_value(json_object_get(seal, "sig"));
    if (!alg || strcmp(alg, LICENCE_ALG) != 0)
        return fail(reason, detail, detlen, "malformed", "seal.alg must be %s", LICENCE_ALG);
    if (!sid || strcmp(sid, LICENCE_SIGNER_ID) != 0)
        return fail(reason, detail, detlen, "malformed", "seal.signer_id must be %s", LICENCE_SIGNER_ID);
    if (!kid || strlen(kid) != 64 || !sig)
        return fail(reason, detail, detlen, "malformed", "seal.key_id and seal.sig are needed");
    const char *issuer = json_string_value(json_object_get(lic, "issuer"));
    const char *id = json_string_value(json_object_get(lic, "id"));
    if (!issuer || !id)
        return fail(reason, detail, detlen, "malformed", "licence.id and licence.issuer are needed");
    /* the issuer's key, by fingerprint, and it must belong to the licence's issuing
     * department (a keys entry without a department serves any issuer) */
    const crypto_sm2_pub *pub = NULL;
    int other_dept = 0;
    for (size_t i = 0; i < ks->n && !pub; i++) {
        if (strcmp(ks->k[i].kid, kid) != 0) continue;
        if (ks->k[i].dept[0] && strcmp(ks->k[i].dept, issuer) != 0)
            other_dept = 1;
        else
            pub = ks->k[i].pub;
    }
    if (!pub)
        return fail(reason, detail, detlen, "unknown_issuer",
                    other_dept ? "key %.16s… belongs to another department than the issuer %s"
                               : "no public key %.16s… of issuer %s in the keys file",
                    kid, issuer);
    char *text = licence_canonical(lic);
    if (!text)
        return fail(reason, detail, detlen, "malformed", "the licence holds a value with no canonical form");
    unsigned char d[SM3_DIGEST_LEN];
    char dhex[65];
    crypto_sm3(text, strlen(text), d);
    hex_encode(d, sizeof d, dhex);
    if (dg && strcmp(dg, dhex) != 0) {
        free(text);
        return fail(reason, detail, detlen, "altered",
                    "the licence's content differs from what was sealed (SM3 %.16s…, sealed %.16s…)", dhex,
                    dg);
    }
    unsigned char *der = NULL;
    size_t derlen = 0;
    int bad = b64_decode(sig, &der, &derlen) != 0 ||
              crypto_sm2_verify_with(pub, LICENCE_SIGNER_ID, text, strlen(text), der, derlen) != 0;
    free(der);
    free(text);
    if (bad)
        return fail(reason, detail, detlen, "bad_signature",
                    "the SM2 signature does not verify with the issuer's key %.16s…", kid);
    const char *vf = json_string_value(json_object_get(lic, "valid_from")),
               *vt = json_string_value(json_object_get(lic, "valid_to"));
    int from = 0, to = 0;
    if (vf && calendar_date_parse(vf, &from) == 0 && today < from)
        return fail(reason, detail, detlen, "not_yet_valid", "valid from %s", vf);
    if (vt && strcmp(vt, "permanent") != 0 && calendar_date_parse(vt, &to) == 0 && today > to)
        return fail(reason, detail, detlen, "expired", "expired: valid to %s", vt);
    snprintf(reason, 32, "valid");
    snprintf(detail, detlen, "signed by %s with key %.16s…", issuer, kid);
    return 0;
}

int licence_read_file(const char *path, char **signed_json, char *err, size_t errlen)
{
    /* a PDF made by licence_pdf_render is ~0.5 MiB; a JSON licence a few KiB */
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    size_t max = 8u << 20, n = 0;
    unsigned char *buf = malloc(max + 1);
    if (buf) n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        snprintf(err, errlen, "cannot read %s: larger than 8 MiB", path);
        return -1;
    }
    buf[n] = 0;
    if (n >= 5 && !memcmp(buf, "%PDF-", 5)) {
        char why[200];
        int rc = licence_pdf_extract(buf, n, signed_json, why, sizeof why);
        free(buf);
        if (rc != 0) snprintf(err, errlen, "%s: no signed licence in this PDF: %s", path, why);
        return rc;
    }
    if (memchr(buf, 0, n)) {
        free(buf);
        snprintf(err, errlen, "%s is neither a JSON licence nor a licence PDF", path);
        return -1;
    }
    *signed_json = (char *)buf;
    return 0;
}
