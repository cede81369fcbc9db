/*
 * material.c — uploaded materials: sniffing, the content-addressed blob store, each
 * holder's library and its endpoints.  See material.h.
 *
 * An upload is a raw request body (the route is marked raw_body, so the HTTP layer
 * checks the session before it keeps a byte and applies materials.max_size).  The
 * handler checks the X-File-Name header, then material_prepare sniffs, hashes and
 * base64-encodes outside any transaction, and one short write transaction adds the
 * blob (unless the content is already stored) and the library entry.  Memory for one
 * upload of n bytes peaks at about n (the body) + 4n/3 (the base64) + 4n/3 (the
 * driver's copy of the bound text): ~37 MiB for a 10 MiB file.
 */
#include "engine/material.h"

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/session.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"

/* ---------- types ---------- */

static const struct {
    const char *type, *mime;
} TYPES[] = {
    {"pdf", "application/pdf"}, {"jpeg", "image/jpeg"},     {"png", "image/png"},       {"gif", "image/gif"},
    {"webp", "image/webp"},     {"ofd", "application/ofd"}, {"zip", "application/zip"},
};

const char *material_mime(const char *type)
{
    for (size_t i = 0; type && i < EHALL_ARRAY_LEN(TYPES); i++)
        if (strcmp(TYPES[i].type, type) == 0) return TYPES[i].mime;
    return NULL;
}

const char *material_type_of_mime(const char *mime)
{
    for (size_t i = 0; mime && i < EHALL_ARRAY_LEN(TYPES); i++)
        if (strcmp(TYPES[i].mime, mime) == 0) return TYPES[i].type;
    return NULL;
}

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }

/* A ZIP file, read from its end as unzip does: the end-of-central-directory record,
 * then every central directory entry, bounds-checked.  1 when an entry named OFD.xml
 * (the root document of an OFD package, GB/T 33190) has its local header where the
 * directory says, 0 when there is none, -1 when the directory cannot be read.  ZIP64
 * archives (sizes or offsets 0xFFFF…) are taken as plain ZIP. */
static int zip_has_ofd_xml(const unsigned char *d, size_t len)
{
    if (len < 22) return -1;
    size_t lowest = len - 22 > 65535 ? len - 22 - 65535 : 0;
    size_t eocd = SIZE_MAX;
    for (size_t i = len - 22 + 1; i-- > lowest;)
        if (d[i] == 'P' && d[i + 1] == 'K' && d[i + 2] == 5 && d[i + 3] == 6 &&
            i + 22 + le16(d + i + 20) <= len) {
            eocd = i;
            break;
        }
    if (eocd == SIZE_MAX) return -1;
    uint32_t entries = le16(d + eocd + 10), cd_size = le32(d + eocd + 12), cd_off = le32(d + eocd + 16);
    if (entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) return 0;
    if ((size_t)cd_off + cd_size > eocd) return -1;
    size_t p = cd_off, end = (size_t)cd_off + cd_size;
    int found = 0;
    for (uint32_t k = 0; k < entries; k++) {
        if (p + 46 > end || memcmp(d + p, "PK\1\2", 4) != 0) return -1;
        size_t nlen = le16(d + p + 28), xlen = le16(d + p + 30), clen = le16(d + p + 32);
        size_t local = le32(d + p + 42);
        if (p + 46 + nlen + xlen + clen > end) return -1;
        if (nlen == 7 && memcmp(d + p + 46, "OFD.xml", 7) == 0 && local + 30 + 7 <= cd_off &&
            memcmp(d + local, "PK\3\4", 4) == 0 && le16(d + local + 26) == 7 &&
            memcmp(d + local + 30, "OFD.xml", 7) == 0)
            found = 1;
        p += 46 + nlen + xlen + clen;
    }
    return found;
}

const char *material_sniff(const void *data, size_t len)
{
    const unsigned char *d = data;
    if (!d || len < 3) return NULL;
    if (len >= 5 && memcmp(d, "%PDF-", 5) == 0) return "pdf";
    if (d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpeg";
    if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1A\n", 8) == 0) return "png";
    if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return "gif";
    if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "webp";
    if (len >= 4 && memcmp(d, "PK\3\4", 4) == 0) {
        int ofd = zip_has_ofd_xml(d, len);
        return ofd < 0 ? NULL : ofd ? "ofd" : "zip";
    }
    return NULL;
}

/* ---------- file names ---------- */

/* The next code point of NUL-terminated UTF-8 at *p (advanced past it), or -1 when the
 * encoding is invalid (overlong, surrogate, above U+10FFFF, truncated). */
static long utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    unsigned char c = s[0];
    long cp;
    int n;
    if (c < 0x80) {
        *p = s + 1;
        return c;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        cp = c & 0x1F;
        n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        cp = c & 0x0F;
        n = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
        cp = c & 0x07;
        n = 3;
    } else {
        return -1;
    }
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *p = s + n + 1;
    return cp;
}

int material_name_check(const char *name, const char **why)
{
    const char *w = NULL;
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        w = "is empty";
    else if (n > MATERIAL_NAME_MAX)
        w = "is longer than 255 bytes";
    else if (!strcmp(name, ".") || !strcmp(name, ".."))
        w = "is not a file name";
    for (const unsigned char *p = (const unsigned char *)name; !w && p && *p;) {
        long cp = utf8_next(&p);
        if (cp < 0)
            w = "is not valid UTF-8";
        else if (cp == '/' || cp == '\\')
            w = "must not contain / or \\";
        else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            w = "must not contain control characters";
        else if (cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
                 (cp >= 0x2066 && cp <= 0x2069))
            w = "must not contain text-direction controls";
    }
    if (why) *why = w;
    return w ? -1 : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s into out (cap bytes with the NUL): 0, or -1 for a bad escape or a
 * result that does not fit.  '+' stays '+' (this is a header, not a form). */
static int pct_decode(const char *s, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = hexval(s[i + 1]), lo = hi < 0 ? -1 : hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (j + 1 >= cap) return -1;
        out[j++] = (char)c;
    }
    out[j] = 0;
    return memchr(out, 0, j) ? -1 : 0; /* %00 */
}

/* ---------- base64 (RFC 4648, with padding) ---------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *d, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = B64[(v >> 6) & 63];
        *o++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)d[i] << 16;
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = B64[(v >> 6) & 63];
        *o++ = '=';
    }
    *o = 0;
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* malloc'd bytes (with a NUL after them), or NULL when s is not base64 with padding. */
static unsigned char *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4) return NULL;
    size_t pad = n && s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int a = b64_value((unsigned char)s[i]), b = b64_value((unsigned char)s[i + 1]);
        int c = last && pad == 2 ? 0 : b64_value((unsigned char)s[i + 2]);
        int e = last && pad >= 1 ? 0 : b64_value((unsigned char)s[i + 3]);
        if (a < 0 || b < 0 || c < 0 || e < 0) {
            free(out);
            return NULL;
        }
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)e;
        out[j++] = (unsigned char)(v >> 16);
        if (!(last && pad == 2)) out[j++] = (unsigned char)(v >> 8);
        if (!(last && pad >= 1)) out[j++] = (unsigned char)v;
    }
    out[j] = 0;
    *len = j;
    return out;
}

/* ---------- the library ---------- */

#define REF_COLUMNS "id, owner, sm3, mime, size, file_name, uploaded_at"

static void ref_from_row(store_stmt *st, struct material_ref *out)
{
    memset(out, 0, sizeof *out);
    out->id = store_column_int64(st, 0);
    out->owner = store_column_int64(st, 1);
    snprintf(out->sm3, sizeof out->sm3, "%s", store_column_text(st, 2));
    const char *type = material_type_of_mime(store_column_text(st, 3));
    snprintf(out->type, sizeof out->type, "%s", type ? type : "");
    out->size = store_column_int64(st, 4);
    snprintf(out->file_name, sizeof out->file_name, "%s", store_column_text(st, 5));
    snprintf(out->uploaded_at, sizeof out->uploaded_at, "%s", store_column_text(st, 6));
}

/* One entry by a query with $1 = owner and $2 = id or sm3. */
static int ref_query(store_conn *c, const char *sql, long long owner, long long id, const char *sm3,
                     struct material_ref *out)
{
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, owner);
    if (sm3)
        store_bind_text(st, 2, sm3);
    else
        store_bind_int64(st, 2, id);
    int rc = store_step(st);
    if (rc == STORE_ROW) ref_from_row(st, out);
    store_finalize(st);
    return rc == STORE_ROW ? 1 : rc == STORE_DONE ? 0 : rc < 0 ? rc : STORE_ERROR;
}

int material_holder_get(store_conn *c, long long owner, long long id, struct material_ref *out)
{
    return ref_query(c, "SELECT " REF_COLUMNS " FROM holder_material WHERE owner = $1 AND id = $2", owner, id,
                     NULL, out);
}

int material_holder_by_sm3(store_conn *c, long long owner, const char *sm3, struct material_ref *out)
{
    return ref_query(c, "SELECT " REF_COLUMNS " FROM holder_material WHERE owner = $1 AND sm3 = $2", owner, 0,
                     sm3, out);
}

int material_prepare(struct material_upload *u, const void *data, size_t len, const char *file_name,
                     long long max_size, unsigned *status, const char **field, const char **why)
{
    memset(u, 0, sizeof *u);
    *status = 422;
    *field = "body";
    if (len == 0) {
        *why = "is empty: send the file's bytes";
        return -1;
    }
    if (material_name_check(file_name, why) != 0) {
        *field = "file_name";
        return -1;
    }
    if (max_size > 0 && len > (size_t)max_size) {
        *status = 413;
        *why = "is larger than the largest material allowed";
        return -1;
    }
    const char *type = material_sniff(data, len);
    if (!type) {
        *status = 415;
        *why = "is not a PDF, JPEG, PNG, GIF, WebP, OFD or ZIP file (judged by its content, not its name)";
        return -1;
    }
    unsigned char d[SM3_DIGEST_LEN];
    *status = 503;
    *why = "out of memory";
    if (crypto_sm3(data, len, d) != 0) return -1;
    u->b64 = b64_encode(data, len);
    if (!u->b64) return -1;
    hex_encode(d, sizeof d, u->sm3);
    u->data = data;
    u->len = len;
    u->file_name = file_name;
    u->type = type;
    *status = 0;
    *why = NULL;
    return 0;
}

void material_upload_free(struct material_upload *u)
{
    free(u->b64);
    u->b64 = NULL;
}

int material_store(store_conn *c, long long owner, long long max_entries, const struct material_upload *u,
                   struct material_ref *out, int *created)
{
    *created = 0;
    store_stmt *st;
    int rc;
    if (store_conn_engine(c) == STORE_POSTGRES) {
        /* one holder's uploads take turns, so two at once cannot both pass the quota
         * (SQLite's single writer already does this) */
        if (!(st = store_prepare(c, "SELECT id FROM account WHERE id = $1 FOR UPDATE"))) return STORE_ERROR;
        store_bind_int64(st, 1, owner);
        rc = store_step(st);
        store_finalize(st);
        if (rc < 0) return rc;
    }
    if ((rc = material_holder_by_sm3(c, owner, u->sm3, out)) != 0) return rc < 0 ? rc : STORE_OK;
    long long n = 0;
    if (!(st = store_prepare(c, "SELECT COUNT(*) FROM holder_material WHERE owner = $1"))) return STORE_ERROR;
    store_bind_int64(st, 1, owner);
    rc = store_step(st);
    if (rc == STORE_ROW) n = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    if (n >= max_entries) return MATERIAL_QUOTA;

    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    const char *mime = material_mime(u->type);
    /* the bytes only when they are not stored yet: binding 13 MiB of text costs */
    if ((rc = material_blob_info(c, u->sm3, NULL, NULL)) < 0) return rc;
    if (rc == 0) {
        if (!(st = store_prepare(c, "INSERT INTO material_blob(sm3, mime, size, content, created_at)"
                                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sm3) DO NOTHING")))
            return STORE_ERROR;
        store_bind_text(st, 1, u->sm3);
        store_bind_text(st, 2, mime);
        store_bind_int64(st, 3, (long long)u->len);
        store_bind_text(st, 4, u->b64);
        store_bind_text(st, 5, ts);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    if (!(st = store_prepare(c, "INSERT INTO holder_material(owner, sm3, file_name, mime, size, uploaded_at)"
                                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")))
        return STORE_ERROR;
    store_bind_int64(st, 1, owner);
    store_bind_text(st, 2, u->sm3);
    store_bind_text(st, 3, u->file_name);
    store_bind_text(st, 4, mime);
    store_bind_int64(st, 5, (long long)u->len);
    store_bind_text(st, 6, ts);
    rc = store_step(st);
    long long id = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    memset(out, 0, sizeof *out);
    out->id = id;
    out->owner = owner;
    snprintf(out->sm3, sizeof out->sm3, "%s", u->sm3);
    snprintf(out->type, sizeof out->type, "%s", u->type);
    out->size = (long long)u->len;
    snprintf(out->file_name, sizeof out->file_name, "%s", u->file_name);
    snprintf(out->uploaded_at, sizeof out->uploaded_at, "%s", ts);
    *created = 1;
    return STORE_OK;
}

/* ---------- blobs ---------- */

static int sm3_valid(const char *s) { return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64; }

int material_blob_info(store_conn *c, const char *sm3, char type[MATERIAL_TYPE_LEN], long long *size)
{
    if (!sm3_valid(sm3)) return 0;
    store_stmt *st = store_prepare(c, "SELECT mime, size FROM material_blob WHERE sm3 = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, sm3);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        const char *t = material_type_of_mime(store_column_text(st, 0));
        if (type) snprintf(type, MATERIAL_TYPE_LEN, "%s", t ? t : "");
        if (size) *size = store_column_int64(st, 1);
    }
    store_finalize(st);
    return rc == STORE_ROW ? 1 : rc == STORE_DONE ? 0 : rc < 0 ? rc : STORE_ERROR;
}

int material_read(store_conn *c, const char *sm3, void **data, size_t *len, char type[MATERIAL_TYPE_LEN])
{
    *data = NULL;
    *len = 0;
    if (!sm3_valid(sm3)) return 0;
    store_stmt *st = store_prepare(c, "SELECT mime, size, content FROM material_blob WHERE sm3 = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, sm3);
    int rc = store_step(st);
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc == STORE_DONE ? 0 : rc < 0 ? rc : STORE_ERROR;
    }
    const char *t = material_type_of_mime(store_column_text(st, 0));
    if (type) snprintf(type, MATERIAL_TYPE_LEN, "%s", t ? t : "");
    long long size = store_column_int64(st, 1);
    size_t n = 0;
    unsigned char *d = b64_decode(store_column_text(st, 2), &n);
    store_finalize(st);
    if (!d || (long long)n != size) {
        log_error("material %s: stored content does not decode to its %lld bytes", sm3, size);
        free(d);
        return STORE_ERROR;
    }
    *data = d;
    *len = n;
    return 1;
}

/* attachment (or inline); filename="<ASCII stand-in>"; filename*=UTF-8''<percent-encoded> */
static char *disposition(arena *a, const char *name, int inline_)
{
    size_t n = strlen(name);
    char *out = arena_alloc(a, 64 + n * 4);
    if (!out) return NULL;
    char *o = out + sprintf(out, "%s; filename=\"", inline_ ? "inline" : "attachment");
    for (size_t i = 0; i < n; i++) { /* one '_' per character that is not plainly safe */
        unsigned char c = (unsigned char)name[i];
        if ((c & 0xC0) == 0x80) continue;
        *o++ = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '-' || c == '_'
                   ? (char)c
                   : '_';
    }
    o += sprintf(o, "\"; filename*=UTF-8''");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
            c == '-' || c == '_' || c == '~')
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = 0;
    return out;
}

int material_reply_content(http_req *r, store_conn *c, const char *sm3, const char *file_name,
                           const char *audit_object)
{
    store_conn *own = NULL;
    if (!c && !(c = own = store_acquire(((struct app *)http_req_app(r))->db)))
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    void *data;
    size_t len;
    char type[MATERIAL_TYPE_LEN];
    int rc = material_read(c, sm3, &data, &len, type);
    if (own) store_release(own);
    if (rc < 0) return http_reply_error(r, 503, "unavailable", "the material could not be read; retry", NULL);
    if (rc == 0) return http_reply_error(r, 404, "not_found", "no such material", NULL);
    const char *name = file_name && *file_name ? file_name : "material";
    if (audit_object) {
        json_t *det = json_pack("{s:s, s:s}", "sm3", sm3, "file_name", name);
        char *text = det ? json_dumps(det, JSON_COMPACT) : NULL;
        json_decref(det);
        int arc = text ? auth_audit(r, NULL, "material.read", audit_object, "ok", text) : STORE_ERROR;
        free(text);
        if (arc != STORE_OK) {
            free(data);
            return http_reply_error(r, 503, "unavailable", "the read could not be recorded; retry", NULL);
        }
    }
    /* ?inline=1 on a PDF: shown in a frame of ehall's own pages (docs/security.md) */
    const char *want_inline = http_req_query(r, "inline");
    int show_inline = want_inline && !strcmp(want_inline, "1") && !strcmp(type, "pdf");
    if (show_inline) http_allow_same_origin_framing(r);
    char *cd = disposition(http_req_arena(r), name, show_inline);
    char *hash = arena_strdup(http_req_arena(r), sm3);
    if (!cd || !hash) {
        free(data);
        return http_reply_error(r, 503, "unavailable", "out of memory", NULL);
    }
    http_add_header(r, "Content-Disposition", cd);
    http_add_header(r, "X-Content-SM3", hash);
    const char *mime = material_mime(type);
    return http_reply_bytes(r, 200, mime ? mime : "application/octet-stream", data, len);
}

/* ---------- the holder's endpoints ---------- */

static struct app *app_of(http_req *r) { return http_req_app(r); }

static int reply_unavailable(http_req *r)
{
    return http_reply_error(r, 503, "unavailable", "try again", NULL);
}

static json_t *ref_json(const struct material_ref *m)
{
    return json_pack("{s:I, s:s, s:s, s:I, s:s, s:s}", "id", (json_int_t)m->id, "sm3", m->sm3, "type",
                     m->type, "size", (json_int_t)m->size, "file_name", m->file_name, "uploaded_at",
                     m->uploaded_at);
}

struct upload {
    long long owner, max_entries;
    const struct material_upload *u;
    struct material_ref ref;
    int created, quota;
};

static int upload_tx(store_conn *c, void *arg)
{
    struct upload *x = arg;
    x->quota = 0;
    int rc = material_store(c, x->owner, x->max_entries, x->u, &x->ref, &x->created);
    if (rc == MATERIAL_QUOTA) {
        x->quota = 1;
        return STORE_OK; /* nothing was written */
    }
    return rc;
}

int material_api_upload(http_req *r)
{
    const struct principal *p = auth_principal(r);
    const struct config *cfg = app_of(r)->cfg;
    size_t len;
    const void *body = http_req_body(r, &len);
    const char *hdr = http_req_header(r, "X-File-Name");
    char name[MATERIAL_NAME_MAX + 1];
    const char *why = NULL;
    json_t *errors = json_array();
    if (!hdr)
        json_array_append_new(
            errors, http_field_error("X-File-Name", "is required: the file's name, percent-encoded UTF-8"));
    else if (pct_decode(hdr, name, sizeof name) != 0)
        json_array_append_new(errors,
                              http_field_error("X-File-Name", "is not percent-encoded UTF-8 of at most "
                                                              "255 bytes without NUL"));
    else if (material_name_check(name, &why) != 0)
        json_array_append_new(errors, http_field_error("X-File-Name", why));
    if (len == 0) json_array_append_new(errors, http_field_error("body", "is empty: send the file's bytes"));
    if (json_array_size(errors) > 0)
        return http_reply_error(r, 422, "validation_failed", "the upload is not valid", errors);
    json_decref(errors);

    struct material_upload u;
    unsigned status;
    const char *field;
    if (material_prepare(&u, body, len, name, cfg->materials_max_size, &status, &field, &why) != 0) {
        json_t *det = json_pack("[o]", http_field_error(field, why));
        if (status == 415)
            return http_reply_error(r, 415, "unsupported_media_type", "not an accepted file type", det);
        if (status == 413) return http_reply_error(r, 413, "body_too_large", "the file is too large", det);
        if (status == 422)
            return http_reply_error(r, 422, "validation_failed", "the upload is not valid", det);
        json_decref(det);
        return reply_unavailable(r);
    }
    struct upload x = {.owner = p->account, .max_entries = cfg->materials_per_holder, .u = &u};
    int rc = store_tx(app_of(r)->db, 1, upload_tx, &x);
    if (rc == STORE_CONSTRAINT) /* the same bytes, by the same holder, at the same moment */
        rc = store_tx(app_of(r)->db, 1, upload_tx, &x);
    material_upload_free(&u);
    if (rc != STORE_OK) return reply_unavailable(r);
    if (x.quota) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "your library already holds %lld materials, the most allowed: delete some first",
                 x.max_entries);
        return http_reply_error(r, 409, "quota_exceeded", msg,
                                json_pack("[o]", http_field_error("body", msg)));
    }
    return http_reply_json(r, x.created ? 201 : 200, ref_json(&x.ref));
}

/* A query parameter that must be a positive integer up to max: 0 absent (def), 1 ok, -1 bad. */
static int query_int(http_req *r, const char *name, long long lo, long long hi, long long *out,
                     json_t *errors)
{
    const char *v = http_req_query(r, name);
    if (!v) return 0;
    long long n;
    if (parse_int64(v, &n) != 0 || n < lo || n > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be an integer from %lld to %lld", lo, hi);
        json_array_append_new(errors, http_field_error(name, msg));
        return -1;
    }
    *out = n;
    return 1;
}

int material_api_list(http_req *r)
{
    const struct principal *p = auth_principal(r);
    long long before = LLONG_MAX, limit = 20;
    json_t *errors = json_array();
    query_int(r, "before", 1, LLONG_MAX, &before, errors);
    query_int(r, "limit", 1, 100, &limit, errors);
    const char *type = http_req_query(r, "type");
    if (type && !material_mime(type))
        json_array_append_new(errors,
                              http_field_error("type", "must be one of pdf, jpeg, png, gif, webp, ofd, zip"));
    if (json_array_size(errors) > 0)
        return http_reply_error(r, 400, "invalid_query", "the query is not valid", errors);
    json_decref(errors);
    store_conn *c = store_acquire(app_of(r)->db);
    if (!c) return reply_unavailable(r);
    json_t *list = json_array();
    long long total = -1, last = 0;
    store_stmt *st = store_prepare(
        c, type ? "SELECT " REF_COLUMNS " FROM holder_material WHERE owner = $1 AND id < $2 AND mime = $4"
                  " ORDER BY id DESC LIMIT $3"
                : "SELECT " REF_COLUMNS " FROM holder_material WHERE owner = $1 AND id < $2"
                  " ORDER BY id DESC LIMIT $3");
    int rc = STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, p->account);
        store_bind_int64(st, 2, before);
        store_bind_int64(st, 3, limit);
        if (type) store_bind_text(st, 4, material_mime(type));
        struct material_ref m;
        while ((rc = store_step(st)) == STORE_ROW) {
            ref_from_row(st, &m);
            json_array_append_new(list, ref_json(&m));
            last = m.id;
        }
        store_finalize(st);
    }
    if (rc == STORE_DONE &&
        (st = store_prepare(c, "SELECT COUNT(*) FROM holder_material WHERE owner = $1"))) {
        store_bind_int64(st, 1, p->account);
        if (store_step(st) == STORE_ROW) total = store_column_int64(st, 0);
        store_finalize(st);
    }
    store_release(c);
    if (rc != STORE_DONE || total < 0) {
        json_decref(list);
        return reply_unavailable(r);
    }
    json_t *next = (long long)json_array_size(list) == limit ? json_integer(last) : json_null();
    return http_reply_json(r, 200,
                           json_pack("{s:o, s:o, s:I, s:I}", "materials", list, "next_before", next, "total",
                                     (json_int_t)total, "quota",
                                     (json_int_t)app_of(r)->cfg->materials_per_holder));
}

/* The caller's entry named by the {id} parameter: 1 found, 0 replied 404, < 0 replied 503. */
static int own_entry(http_req *r, struct material_ref *m)
{
    long long id;
    if (parse_int64(http_req_param(r, "id"), &id) != 0 || id <= 0) {
        http_reply_error(r, 404, "not_found", "no such material", NULL);
        return 0;
    }
    store_conn *c = store_acquire(app_of(r)->db);
    if (!c) {
        reply_unavailable(r);
        return -1;
    }
    int rc = material_holder_get(c, auth_principal(r)->account, id, m);
    store_release(c);
    if (rc < 0) reply_unavailable(r);
    if (rc == 0) http_reply_error(r, 404, "not_found", "no such material", NULL);
    return rc;
}

int material_api_get(http_req *r)
{
    struct material_ref m;
    if (own_entry(r, &m) != 1) return 0;
    return http_reply_json(r, 200, ref_json(&m));
}

int material_api_content(http_req *r)
{
    struct material_ref m;
    if (own_entry(r, &m) != 1) return 0;
    return material_reply_content(r, NULL, m.sm3, m.file_name, NULL);
}

struct removal {
    long long owner, id;
    int found;
};

static int delete_tx(store_conn *c, void *arg)
{
    struct removal *x = arg;
    /* the entry only: the blob stays for the cases and other holders that refer to it */
    store_stmt *st =
        store_prepare(c, "DELETE FROM holder_material WHERE id = $1 AND owner = $2 RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    store_bind_int64(st, 2, x->owner);
    int rc = store_step(st);
    store_finalize(st);
    x->found = rc == STORE_ROW;
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

int material_api_delete(http_req *r)
{
    struct removal x = {auth_principal(r)->account, 0, 0};
    if (parse_int64(http_req_param(r, "id"), &x.id) != 0 || x.id <= 0)
        return http_reply_error(r, 404, "not_found", "no such material", NULL);
    if (store_tx(app_of(r)->db, 1, delete_tx, &x) != STORE_OK) return reply_unavailable(r);
    if (!x.found) return http_reply_error(r, 404, "not_found", "no such material", NULL);
    return http_reply_json(r, 200, json_pack("{s:I, s:s}", "id", (json_int_t)x.id, "status", "deleted"));
}
