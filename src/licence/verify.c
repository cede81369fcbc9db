/*
 * verify.c — verification of a presented licence file over HTTP: a clerk at a counter, a
 * bank or a hotel uploads the licence a holder handed over (the signed JSON, or the PDF
 * with the JSON attached) and learns whether its seal is genuine and whether the registry
 * still holds it valid.  The same check as `ehall license verify` (licence_verify_with),
 * against this installation's published seal keys, which are parsed once and kept (a
 * new key appears within KEYSET_TTL seconds, or at once when a document names a key the
 * set does not have, at most once per KEYSET_RETRY seconds).  A key in steady use
 * verifies with fixed-base tables (licence_keyset_serve), about five times faster than
 * OpenSSL's generic SM2 verification; the tables outlive the set's refreshes.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "calendar/calendar.h"
#include "core/core.h"
#include "licence/internal.h"
#include "licence/licence.h"
#include "licence/pdf.h"

#define KEYSET_TTL   60.0
#define KEYSET_RETRY 5.0

static pthread_rwlock_t ks_lock = PTHREAD_RWLOCK_INITIALIZER;
static licence_keyset *ks_cur;
static double ks_loaded;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Replace the cached set when it is older than min_age seconds (under the write lock). */
static void keyset_refresh(double min_age)
{
    pthread_rwlock_wrlock(&ks_lock);
    if (!ks_cur || mono() - ks_loaded >= min_age) {
        json_t *keys = licence_public_keys(licence_keys_path());
        licence_keyset *ks = keys ? licence_keyset_new(keys) : NULL;
        json_decref(keys);
        if (ks) {
            licence_keyset_serve(ks, ks_cur);
            licence_keyset_free(ks_cur);
            ks_cur = ks;
        }
        ks_loaded = mono();
    }
    pthread_rwlock_unlock(&ks_lock);
}

/* Verify under the read lock; 0 valid, 1 not (reason, detail). */
static int verify_doc(const json_t *doc, char reason[32], char *detail, size_t detlen)
{
    if (!ks_cur || mono() - ks_loaded >= KEYSET_TTL) keyset_refresh(KEYSET_TTL);
    pthread_rwlock_rdlock(&ks_lock);
    int rc = licence_verify_with(doc, ks_cur, calendar_today(), reason, detail, detlen);
    pthread_rwlock_unlock(&ks_lock);
    if (rc != 0 && !strcmp(reason, "unknown_issuer")) {
        /* a key made since the set was read (ehall license keygen): look once more */
        keyset_refresh(KEYSET_RETRY);
        pthread_rwlock_rdlock(&ks_lock);
        rc = licence_verify_with(doc, ks_cur, calendar_today(), reason, detail, detlen);
        pthread_rwlock_unlock(&ks_lock);
    }
    return rc;
}

static int bad_body(http_req *r, const char *msg)
{
    return http_reply_error(r, 422, "validation_failed", "some fields are not valid",
                            json_pack("[o]", http_field_error("body", msg)));
}

/* POST /api/v1/public/licences/verify (raw body: the signed JSON, or the licence PDF) */
int licence_api_verify(http_req *r)
{
    size_t len = 0;
    const unsigned char *body = http_req_body(r, &len);
    if (!body || len == 0) return bad_body(r, "send the licence file: its signed JSON or its PDF");
    char *text = NULL, err[200];
    json_t *doc;
    if (len >= 5 && !memcmp(body, "%PDF-", 5)) {
        if (licence_pdf_extract(body, len, &text, err, sizeof err) != 0) return bad_body(r, err);
        doc = json_loads(text, 0, NULL);
        free(text);
        if (!doc) return bad_body(r, "the PDF's attached licence.json is not JSON");
    } else {
        json_error_t je;
        doc = json_loadb((const char *)body, len, 0, &je);
        if (!doc) return bad_body(r, "neither a PDF nor JSON: send the licence's signed JSON or its PDF");
    }
    char reason[32], detail[300];
    int rc = verify_doc(doc, reason, detail, sizeof detail);
    const json_t *lic = json_object_get(doc, "licence");
    const char *id = json_string_value(json_object_get(lic, "id"));
    int genuine = rc == 0 || !strcmp(reason, "expired") || !strcmp(reason, "not_yet_valid");
    /* the registry's word on a genuine document: still valid, or revoked since */
    char registry[16] = "";
    int found = STORE_DONE;
    if (genuine && id) {
        found = licence_status_read(((struct app *)http_req_app(r))->db, id, registry);
        if (found != STORE_ROW && found != STORE_DONE) {
            json_decref(doc);
            return http_reply_error(r, 503, "unavailable", "try again", NULL);
        }
        if (rc == 0 && found == STORE_ROW && !strcmp(registry, "revoked")) {
            snprintf(reason, sizeof reason, "revoked");
            snprintf(detail, sizeof detail, "the seal is genuine, but the issuer has revoked this licence");
        }
    }
    /* registry: null when the seal is not genuine (nothing to look up) */
    json_t *reg = !(genuine && id) ? json_null() : json_string(found == STORE_ROW ? registry : "not_found");
    json_t *out =
        json_pack("{s:s, s:s, s:b, s:s?, s:s?, s:o}", "result", reason, "detail", detail, "genuine", genuine,
                  "id", id, "issuer", json_string_value(json_object_get(lic, "issuer")), "registry", reg);
    if (genuine) json_object_set(out, "licence", (json_t *)lic);
    /* logged under the identifier the document names when it is well formed: a forged
     * copy of someone's licence shows in that holder's "who used my licence" */
    const char *why;
    if (id && licence_id_check(id, &why) == 0) {
        licence_use_served("verify");
        licence_use_note(id, "verify", "public", http_req_client(r), NULL, reason);
    }
    json_decref(doc);
    http_add_header(r, "Cache-Control", "no-store");
    return http_reply_json(r, 200, out);
}
