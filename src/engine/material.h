/*
 * material — uploaded materials (申请材料): what a file really is, where its bytes live,
 * and each holder's library of earlier uploads.
 *
 * A file's type is read from its first bytes (magic numbers), never from its name or
 * the Content-Type the client declared: pdf, jpeg, png, gif, webp, ofd (a ZIP whose
 * central directory holds OFD.xml) and zip.  Anything else is refused.  These short
 * names are the ones service items list in a material's "types".
 *
 * Bytes are stored once per content: material_blob is keyed by the SM3 of the bytes
 * (64 lowercase hex digits) and holds them as base64 text, so two holders uploading
 * the same scan share one row.  holder_material is a holder's library: one entry per
 * (holder, content) with the file name it was uploaded under.  A case refers to a
 * material by its sm3, so removing an entry from a library never breaks a case; blobs
 * are never deleted.
 *
 * The case engine uses the C API below: material_holder_get to check that a holder
 * owns the library entry a case wants to reuse (and learn its type and size, to hold
 * them against the item's rules), material_blob_info / material_read for a blob by
 * sm3, and material_reply_content to send a case's material to staff (audited).
 * Handlers of the holder's own endpoints are at the end.
 */
#ifndef EHALL_MATERIAL_H
#define EHALL_MATERIAL_H

#include <stddef.h>

#include "http/http.h"
#include "store/store.h"

#define MATERIAL_SM3_LEN  65  /* 64 hex digits and the NUL */
#define MATERIAL_TYPE_LEN 8   /* the longest short type ("jpeg", "webp") and the NUL */
#define MATERIAL_NAME_MAX 255 /* bytes of UTF-8 in a file name */

/* ---- types ---- */

/* The short type of data by its magic bytes ("pdf", "jpeg", "png", "gif", "webp", "ofd",
 * "zip"), or NULL when it is none of them (empty, text, HTML, executables, a ZIP whose
 * central directory cannot be read …). */
const char *material_sniff(const void *data, size_t len);
/* The MIME type of a short type ("application/pdf"), or NULL for an unknown type. */
const char *material_mime(const char *type);
/* The short type of a stored MIME type, or NULL. */
const char *material_type_of_mime(const char *mime);

/* 0 when name is a file name we keep: 1..255 bytes of valid UTF-8, not "." or "..",
 * no '/' or '\', no control characters (C0, DEL, C1) and no bidirectional controls
 * (U+200E, U+200F, U+202A..U+202E, U+2066..U+2069, which can disguise an extension).
 * Otherwise -1 and *why says what is wrong. */
int material_name_check(const char *name, const char **why);

/* ---- the library ---- */

/* A holder's library entry. */
struct material_ref {
    long long id;    /* holder_material id */
    long long owner; /* account id */
    char sm3[MATERIAL_SM3_LEN];
    char type[MATERIAL_TYPE_LEN]; /* short type */
    long long size;               /* bytes */
    char file_name[MATERIAL_NAME_MAX + 1];
    char uploaded_at[48]; /* RFC 3339 */
};

/* Owner's entry id: 1 found (out filled), 0 no such entry or not owner's, < 0 a STORE_*
 * error.  Use it to check that a holder may attach a material to their case. */
int material_holder_get(store_conn *c, long long owner, long long id, struct material_ref *out);
/* Owner's entry for the content sm3: 1 found, 0 not in owner's library, < 0 error. */
int material_holder_by_sm3(store_conn *c, long long owner, const char *sm3, struct material_ref *out);

/* An upload, checked and prepared outside any transaction (hashing and encoding 10 MiB
 * takes milliseconds that should not hold a write lock). */
struct material_upload {
    const void *data; /* the caller's bytes (not copied) */
    size_t len;
    const char *file_name; /* the caller's, already checked */
    const char *type;      /* sniffed short type */
    char sm3[MATERIAL_SM3_LEN];
    char *b64; /* malloc'd base64 of data */
};
/* Sniff, check the name and size (max_size bytes), hash and encode.  0 on success
 * (release with material_upload_free); otherwise no memory is held and *status, *field
 * and *why say what to answer: 422 (empty body, bad name), 415 (not an accepted type),
 * 413 (over max_size) or 503 (out of memory). */
int material_prepare(struct material_upload *u, const void *data, size_t len, const char *file_name,
                     long long max_size, unsigned *status, const char **field, const char **why);
void material_upload_free(struct material_upload *u);

#define MATERIAL_QUOTA 1 /* material_store: the library is full */
/* Inside the caller's write transaction: store the blob unless it exists and add it to
 * owner's library.  STORE_OK with *created 1 (a new entry) or 0 (owner already had these
 * bytes: out is that entry, name unchanged); MATERIAL_QUOTA when owner already keeps
 * max_entries entries; < 0 a STORE_* error (STORE_CONSTRAINT when a concurrent upload of
 * the same bytes by the same owner won: run again). */
int material_store(store_conn *c, long long owner, long long max_entries, const struct material_upload *u,
                   struct material_ref *out, int *created);

/* ---- blobs by content address ---- */

/* 1 when the blob sm3 exists (type and size filled; either may be NULL), 0 when not,
 * < 0 error. */
int material_blob_info(store_conn *c, const char *sm3, char type[MATERIAL_TYPE_LEN], long long *size);
/* The bytes of blob sm3: 1 with *data malloc'd (free it), *len and type filled; 0 no
 * such blob; < 0 error (STORE_ERROR also for stored text that does not decode). */
int material_read(store_conn *c, const char *sm3, void **data, size_t *len, char type[MATERIAL_TYPE_LEN]);

/* Answer r with blob sm3: 200, the sniffed Content-Type, Content-Disposition attachment
 * with file_name (an ASCII fallback and RFC 5987 filename*; "material" when NULL) and
 * X-Content-SM3 — or, for a PDF asked for with the query inline=1, Content-Disposition
 * inline and framing allowed to ehall's own pages (http_allow_same_origin_framing); 404 when there is no such
 * blob; 503 when the store fails.  c may be NULL (a pooled connection is taken).  When audit_object is not
 * NULL (a staff member reading another person's material, e.g. "case:42"), "material.read" is recorded for
 * that object with the sm3 and file name, in a transaction of its own that commits
 * before a byte is sent; if it cannot be recorded, 503 and nothing is sent — so c must
 * not be inside a write transaction then.  Always replies; returns what http_reply_*
 * returned (0 when the reply was queued). */
int material_reply_content(http_req *r, store_conn *c, const char *sm3, const char *file_name,
                           const char *audit_object);

/* ---- the holder's endpoints (routes.c) ---- */
int material_api_upload(http_req *r);  /* POST /api/v1/materials (raw body, X-File-Name) */
int material_api_list(http_req *r);    /* GET /api/v1/materials */
int material_api_get(http_req *r);     /* GET /api/v1/materials/{id} */
int material_api_content(http_req *r); /* GET /api/v1/materials/{id}/content */
int material_api_delete(http_req *r);  /* DELETE /api/v1/materials/{id} */

#endif
