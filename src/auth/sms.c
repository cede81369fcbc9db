/*
 * sms.c — one-time codes and the SMS outbox.
 *
 * A code is six random digits; only SM3(id ":" code) is stored, with an expiry and a
 * count of wrong tries.  The message goes into sms_outbox (mobile and text sealed) in
 * the same transaction, and after the commit sms_flush hands pending messages to the
 * gateway, each claimed by one process only (status pending → sending → sent), so
 * nothing acknowledged is lost and nothing is sent twice.  Gateways (sms.gateway):
 *   file           one file per message in <data>/outbox/ (mode 0600) and a log line
 *                  with the masked number — the development default;
 *   exec:PROGRAM   runs PROGRAM with the mobile number and the text on stdin
 *                  ("<mobile>\n<text>"); exit 0 means accepted by the operator.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/input.h"
#include "auth/internal.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define OTP_MAX_TRIES 5
#define OTP_RESEND    60

static void code_hash(const char *id, const char *code, char out[65])
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%s:%s", id, code);
    unsigned char d[SM3_DIGEST_LEN];
    crypto_sm3(buf, (size_t)n, d);
    hex_encode(d, sizeof d, out);
}

int sms_enqueue(store_conn *c, const char *mobile, const char *text, const char *purpose)
{
    char bidx[KEYS_TAG_MAX], ts[48];
    char *m = keys_seal(mobile), *b = keys_seal(text);
    int rc = STORE_ERROR;
    if (!m || !b || keys_blind_index("mobile", mobile, bidx) != 0) goto out;
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "INSERT INTO sms_outbox(mobile_enc, body_enc, mobile_bidx, purpose, created_at)"
                         " VALUES ($1, $2, $3, $4, $5)");
    if (!st) goto out;
    store_bind_text(st, 1, m);
    store_bind_text(st, 2, b);
    store_bind_text(st, 3, bidx);
    store_bind_text(st, 4, purpose);
    store_bind_text(st, 5, ts);
    rc = store_step(st);
    store_finalize(st);
    rc = rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
out:
    free(m);
    free(b);
    return rc;
}

int auth_sms_account(store_conn *c, long long account, const char *text, const char *purpose)
{
    store_stmt *st = store_prepare(c, "SELECT mobile_enc FROM account WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    int rc = store_step(st);
    char *mobile = NULL;
    int sealed = rc == STORE_ROW && !store_column_is_null(st, 0);
    if (sealed) mobile = keys_open(store_column_text(st, 0));
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    if (sealed && !mobile) log_error("the mobile number of account %lld does not open; no SMS sent", account);
    if (!mobile) return 0;
    rc = sms_enqueue(c, mobile, text, purpose);
    crypto_wipe(mobile, strlen(mobile));
    free(mobile);
    return rc == STORE_OK ? 1 : rc;
}

int otp_issue(store_conn *c, const struct config *cfg, const char *purpose, const char *target,
              const char *mobile)
{
    long long now = (long long)now_wall();
    store_stmt *st =
        store_prepare(c, "SELECT MAX(created_at) FROM otp_code WHERE target = $1 AND purpose = $2");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, target);
    store_bind_text(st, 2, purpose);
    long long last = 0;
    if (store_step(st) == STORE_ROW && !store_column_is_null(st, 0)) last = store_column_int64(st, 0);
    store_finalize(st);
    if (last && now - last < OTP_RESEND) return 1;
    /* one live code per target and purpose */
    st = store_prepare(c, "DELETE FROM otp_code WHERE (target = $1 AND purpose = $2) OR expires_at < $3");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, target);
    store_bind_text(st, 2, purpose);
    store_bind_int64(st, 3, now - 86400);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;

    unsigned char b[20];
    char id[33], code[7], hash[65], text[160];
    random_bytes(b, sizeof b);
    hex_encode(b, 16, id);
    unsigned v = ((unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19]) % 1000000u;
    snprintf(code, sizeof code, "%06u", v);
    code_hash(id, code, hash);
    st = store_prepare(c, "INSERT INTO otp_code(id, purpose, target, code_hash, expires_at, created_at)"
                          " VALUES ($1, $2, $3, $4, $5, $6)");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, id);
    store_bind_text(st, 2, purpose);
    store_bind_text(st, 3, target);
    store_bind_text(st, 4, hash);
    store_bind_int64(st, 5, now + cfg->otp_ttl);
    store_bind_int64(st, 6, now);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    snprintf(text, sizeof text, "【政务服务】您的验证码是%s，%lld分钟内有效，请勿告诉他人。", code,
             (cfg->otp_ttl + 59) / 60);
    rc = sms_enqueue(c, mobile, text, purpose);
    crypto_wipe(code, sizeof code);
    crypto_wipe(text, sizeof text);
    return rc;
}

int otp_check(store_conn *c, const char *purpose, const char *target, const char *code)
{
    store_stmt *st = store_prepare(c, "SELECT id, code_hash, expires_at, attempts FROM otp_code"
                                      " WHERE target = $1 AND purpose = $2");
    if (!st) return -1;
    store_bind_text(st, 1, target);
    store_bind_text(st, 2, purpose);
    char id[40] = "", hash[65] = "";
    long long expires = 0, attempts = 0;
    int found = store_step(st) == STORE_ROW;
    if (found) {
        snprintf(id, sizeof id, "%s", store_column_text(st, 0));
        snprintf(hash, sizeof hash, "%s", store_column_text(st, 1));
        expires = store_column_int64(st, 2);
        attempts = store_column_int64(st, 3);
    }
    store_finalize(st);
    if (!found) return 1;
    char want[65];
    code_hash(id, code, want);
    int ok =
        expires >= (long long)now_wall() && attempts < OTP_MAX_TRIES && crypto_equal(want, hash, 64) == 0;
    st = store_prepare(c, ok || attempts + 1 >= OTP_MAX_TRIES
                              ? "DELETE FROM otp_code WHERE id = $1"
                              : "UPDATE otp_code SET attempts = attempts + 1 WHERE id = $1");
    if (!st) return -1;
    store_bind_text(st, 1, id);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return -1;
    return ok ? 0 : 1;
}

/* ---------- delivery ---------- */

static int gateway_file(const struct config *cfg, long long id, const char *mobile, const char *text)
{
    char dir[600], path[700], tmp[720];
    snprintf(dir, sizeof dir, "%s/outbox", cfg->data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    snprintf(path, sizeof path, "%s/%lld.txt", dir, id);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    fprintf(f, "to: %s\n\n%s\n", mobile, text);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) return -1;
    char masked[32];
    auth_mask_mobile(mobile, masked, sizeof masked);
    log_info("sms %lld to %s written to %s", id, masked, path);
    return 0;
}

static int gateway_exec(const char *prog, const char *mobile, const char *text)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execl(prog, prog, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    FILE *f = fdopen(fds[1], "w");
    if (f) {
        fprintf(f, "%s\n%s\n", mobile, text);
        fclose(f);
    } else {
        close(fds[1]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

struct claim {
    long long id;
    char *mobile, *text;
    const char *status;
};

static int claim_tx(store_conn *c, void *arg)
{
    struct claim *cl = arg;
    cl->id = 0;
    store_stmt *st =
        store_prepare(c, "SELECT id, mobile_enc, body_enc FROM sms_outbox WHERE status = 'pending'"
                         " AND attempts < 5 ORDER BY id LIMIT 1");
    if (!st) return STORE_ERROR;
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        cl->id = store_column_int64(st, 0);
        cl->mobile = keys_open(store_column_text(st, 1));
        cl->text = keys_open(store_column_text(st, 2));
    }
    store_finalize(st);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_ROW) return rc;
    /* sent_at holds the claim time while the message is 'sending', for the sweep */
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    st = store_prepare(c, "UPDATE sms_outbox SET status = 'sending', attempts = attempts + 1, sent_at = $2"
                          " WHERE id = $1 AND status = 'pending'");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, cl->id);
    store_bind_text(st, 2, ts);
    rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static int settle_tx(store_conn *c, void *arg)
{
    struct claim *cl = arg;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st = store_prepare(c, "UPDATE sms_outbox SET status = $2, sent_at = $3 WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, cl->id);
    store_bind_text(st, 2, cl->status);
    store_bind_text(st, 3, ts);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

void sms_flush(store *s, const struct config *cfg)
{
    for (int n = 0; n < 100; n++) {
        struct claim cl = {0};
        if (store_tx(s, 1, claim_tx, &cl) != STORE_OK || !cl.id) {
            free(cl.mobile);
            free(cl.text);
            return;
        }
        int ok = -1;
        if (cl.mobile && cl.text) {
            if (!strncmp(cfg->sms_gateway, "exec:", 5))
                ok = gateway_exec(cfg->sms_gateway + 5, cl.mobile, cl.text);
            else
                ok = gateway_file(cfg, cl.id, cl.mobile, cl.text);
        }
        /* a failed hand-over goes back to the queue for the next flush (at most 5 tries) */
        cl.status = ok == 0 ? "sent" : "pending";
        if (ok != 0) log_warn("sms %lld could not be handed to the gateway %s", cl.id, cfg->sms_gateway);
        if (cl.text) crypto_wipe(cl.text, strlen(cl.text));
        free(cl.mobile);
        free(cl.text);
        store_tx(s, 1, settle_tx, &cl);
        if (ok != 0) return;
    }
}

/* ---------- endpoints ---------- */

static int mobile_valid(const char *m)
{
    return strlen(m) == 11 && m[0] == '1' && m[1] >= '3' && m[1] <= '9' && strspn(m, "0123456789") == 11;
}

struct send {
    const struct config *cfg;
    const char *purpose, *mobile;
    int rc;
};

static int send_tx(store_conn *c, void *arg)
{
    struct send *s = arg;
    char target[KEYS_TAG_MAX + 8], bidx[KEYS_TAG_MAX];
    if (keys_blind_index("mobile", s->mobile, bidx) != 0) return STORE_ERROR;
    snprintf(target, sizeof target, "mobile:%s", bidx);
    s->rc = otp_issue(c, s->cfg, s->purpose, target, s->mobile);
    return s->rc < 0 ? s->rc : STORE_OK;
}

/* POST /api/v1/sms/code {purpose: "register", mobile, captcha_id, captcha} */
int auth_sms_code(http_req *r)
{
    static const char *known[] = {"purpose", "mobile", "captcha_id", "captcha", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *purpose = input_str(&in, "purpose", 1, 1, 16);
    const char *mobile = input_str(&in, "mobile", 1, 11, 11);
    const char *cid = input_str(&in, "captcha_id", 1, 1, 64);
    const char *answer = input_str(&in, "captcha", 1, 1, 16);
    if (purpose && strcmp(purpose, "register") != 0) input_error(&in, "purpose", "must be register");
    if (mobile && !mobile_valid(mobile))
        input_error(&in, "mobile", "must be an 11-digit mainland mobile number");
    if (input_done(&in) != 0) return 0;
    struct app *app = req_app(r);
    if (captcha_consume(app->db, cid, answer) != 0)
        return http_reply_error(r, 400, "captcha", "the captcha answer is wrong or expired: get a new one",
                                json_pack("[o]", http_field_error("captcha", "wrong or expired")));
    struct send s = {app->cfg, purpose, mobile, 0};
    if (store_tx(app->db, 1, send_tx, &s) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "try again", NULL);
    if (s.rc == 1)
        return http_reply_error(r, 429, "too_soon", "a code was sent to this number less than a minute ago",
                                NULL);
    sms_flush(app->db, app->cfg);
    return http_reply_json(
        r, 202, json_pack("{s:s, s:I}", "status", "sent", "expires_in", (json_int_t)app->cfg->otp_ttl));
}

/* GET /api/v1/test/sms?mobile= — test mode only: the newest message to a number. */
int auth_test_sms(http_req *r)
{
    const char *mobile = http_req_query(r, "mobile");
    if (!mobile || !mobile_valid(mobile))
        return http_reply_error(
            r, 400, "invalid_query", "give ?mobile=",
            json_pack("[o]", http_field_error("mobile", "must be an 11-digit mobile number")));
    char idx[4][KEYS_TAG_MAX];
    int k = keys_blind_indexes("mobile", mobile, idx, 4);
    store_conn *c = store_acquire(req_app(r)->db);
    if (!c) return http_reply_error(r, 503, "unavailable", "try again", NULL);
    char *text = NULL;
    long long best = 0;
    for (int i = 0; i < k; i++) {
        store_stmt *st = store_prepare(
            c, "SELECT id, body_enc FROM sms_outbox WHERE mobile_bidx = $1 ORDER BY id DESC LIMIT 1");
        if (!st) break;
        store_bind_text(st, 1, idx[i]);
        if (store_step(st) == STORE_ROW && store_column_int64(st, 0) > best) {
            best = store_column_int64(st, 0);
            free(text);
            text = keys_open(store_column_text(st, 1));
        }
        store_finalize(st);
    }
    store_release(c);
    if (!text) return http_reply_error(r, 404, "not_found", "no message to this number", NULL);
    json_t *body = json_pack("{s:I, s:s}", "id", (json_int_t)best, "text", text);
    /* the code, for tests that need only that */
    const char *d = text;
    while (*d && (*d < '0' || *d > '9')) d++;
    if (strspn(d, "0123456789") == 6) json_object_set_new(body, "code", json_stringn(d, 6));
    free(text);
    return http_reply_json(r, 200, body);
}
