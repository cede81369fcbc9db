/*
 * captcha.c — issuing and checking image captchas.
 *
 * POST /api/v1/captcha stores SM3(id ":" answer) with an expiry and answers with the
 * id and the PNG as a data URL; the answer itself is never sent (test mode adds it).
 * captcha_consume deletes the row before comparing, so each captcha is tried once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/captcha.h"
#include "auth/internal.h"
#include "core/core.h"
#include "crypto/crypto.h"

static void answer_hash(const char *id, const char *answer, char out[65])
{
    char buf[128];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s:", id);
    for (const char *p = answer; *p && n + 1 < sizeof buf; p++)
        buf[n++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p; /* answers are case-insensitive */
    buf[n] = 0;
    unsigned char d[SM3_DIGEST_LEN];
    crypto_sm3(buf, n, d);
    hex_encode(d, sizeof d, out);
}

struct issue {
    const char *id, *hash;
    long long expires;
};

static int issue_tx(store_conn *c, void *arg)
{
    struct issue *is = arg;
    store_stmt *st = store_prepare(c, "INSERT INTO captcha(id, answer_hash, expires_at) VALUES ($1, $2, $3)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, is->id);
    store_bind_text(st, 2, is->hash);
    store_bind_int64(st, 3, is->expires);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    /* expired, never-used captchas are swept as new ones are made */
    st = store_prepare(c, "DELETE FROM captcha WHERE expires_at < $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, (long long)now_wall());
    rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *data_url(arena *a, const unsigned char *png, size_t len)
{
    static const char prefix[] = "data:image/png;base64,";
    char *out = arena_alloc(a, sizeof prefix + (len + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    memcpy(out, prefix, sizeof prefix - 1);
    char *o = out + sizeof prefix - 1;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)png[i] << 16 | (i + 1 < len ? (unsigned)png[i + 1] << 8 : 0) |
                     (i + 2 < len ? png[i + 2] : 0);
        *o++ = B64[v >> 18 & 63];
        *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < len ? B64[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? B64[v & 63] : '=';
    }
    *o = 0;
    return out;
}

int auth_captcha_new(http_req *r)
{
    struct app *app = req_app(r);
    char text[CAPTCHA_LEN + 1], id[33], hash[65];
    unsigned char b[16];
    if (captcha_text(text, CAPTCHA_LEN) != 0 || random_bytes(b, sizeof b) != 0)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    hex_encode(b, sizeof b, id);
    answer_hash(id, text, hash);
    unsigned char *png = NULL;
    size_t len = 0;
    if (captcha_png(text, &png, &len) != 0) return http_reply_error(r, 503, "unavailable", "try again", NULL);
    char *url = data_url(http_req_arena(r), png, len);
    free(png);
    struct issue is = {id, hash, (long long)now_wall() + app->cfg->captcha_ttl};
    if (!url || store_tx(app->db, 1, issue_tx, &is) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    json_t *body =
        json_pack("{s:s, s:s, s:I}", "id", id, "image", url, "expires_in", (json_int_t)app->cfg->captcha_ttl);
    if (app->cfg->test_mode) json_object_set_new(body, "answer", json_string(text));
    return http_reply_json(r, 201, body);
}

struct consume {
    const char *id;
    char hash[65];
    long long expires;
    int found;
};

static int consume_tx(store_conn *c, void *arg)
{
    struct consume *cs = arg;
    store_stmt *st = store_prepare(c, "DELETE FROM captcha WHERE id = $1 RETURNING answer_hash, expires_at");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, cs->id);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        snprintf(cs->hash, sizeof cs->hash, "%s", store_column_text(st, 0));
        cs->expires = store_column_int64(st, 1);
        cs->found = 1;
        rc = store_step(st);
    }
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

int captcha_consume(store *s, const char *id, const char *answer)
{
    struct consume cs = {id, "", 0, 0};
    if (!id || !answer || store_tx(s, 1, consume_tx, &cs) != STORE_OK || !cs.found) return -1;
    if (cs.expires < (long long)now_wall()) return -1;
    char want[65];
    answer_hash(id, answer, want);
    return crypto_equal(want, cs.hash, 64) == 0 ? 0 : -1;
}
