/*
 * inbox.c — the in-site inbox: notices inside the caller's transaction, and the
 * holder's endpoints.  See inbox.h.
 */
#include "engine/inbox.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/auth.h"
#include "auth/session.h"
#include "core/core.h"

/* Valid UTF-8 (the strict rules: no overlongs, surrogates or code points past
 * U+10FFFF) of at most max characters, without control characters except, when lines
 * is set, line breaks and tabs. */
static int text_ok(const char *s, size_t max, int lines)
{
    size_t chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n = c < 0x80                 ? 0
                : c >= 0xC2 && c <= 0xDF ? 1
                : c >= 0xE0 && c <= 0xEF ? 2
                : c >= 0xF0 && c <= 0xF4 ? 3
                                         : -1;
        if (n < 0) return 0;
        unsigned long cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        if ((cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) && !(lines && (cp == '\n' || cp == '\r' || cp == '\t')))
            return 0;
        p += n + 1;
        if (++chars > max) return 0;
    }
    return 1;
}

static int kind_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    return n >= 1 && n <= INBOX_KIND_MAX && strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* "【政务服务】title：body", cut at a character boundary to at most 300 bytes. */
static void sms_text(const char *title, const char *body, char out[301])
{
    char full[1024]; /* past byte 300 is enough to see where the character there starts */
    snprintf(full, sizeof full, "【政务服务】%s%s%s", title, body[0] ? "：" : "", body);
    size_t end = strlen(full);
    if (end > 300) {
        end = 300;
        while (end > 0 && ((unsigned char)full[end] & 0xC0) == 0x80) end--; /* full[end] starts a character */
    }
    memcpy(out, full, end);
    out[end] = 0;
}

static int notify(store_conn *c, long long account, long long case_id, const char *kind, const char *title,
                  const char *body, int sms, long long *id, int *sms_queued)
{
    if (!body) body = "";
    if (!kind_ok(kind) || !title || !title[0] || !text_ok(title, INBOX_TITLE_MAX, 0) ||
        !text_ok(body, INBOX_BODY_MAX, 1)) {
        log_error(
            "inbox_notify: refused a message of kind '%s' to account %lld: kind, title or body breaks the "
            "rules in inbox.h",
            kind ? kind : "(null)", account);
        return STORE_ERROR;
    }
    double now = now_wall();
    char ts[48];
    time_rfc3339(now, ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "INSERT INTO inbox_message(account, case_id, kind, title, body, at, at_ms)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    if (case_id > 0)
        store_bind_int64(st, 2, case_id);
    else
        store_bind_null(st, 2);
    store_bind_text(st, 3, kind);
    store_bind_text(st, 4, title);
    store_bind_text(st, 5, body);
    store_bind_text(st, 6, ts);
    store_bind_int64(st, 7, (long long)(now * 1000.0));
    int rc = store_step(st);
    if (rc == STORE_ROW && id) *id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    if (sms_queued) *sms_queued = 0;
    if (sms) {
        char text[301];
        sms_text(title, body, text);
        rc = auth_sms_account(c, account, text, "notify");
        if (rc < 0) return rc;
        if (sms_queued) *sms_queued = rc;
    }
    return STORE_OK;
}

int inbox_notify(store_conn *c, long long account, long long case_id, const char *kind, const char *title,
                 const char *body, int sms)
{
    return notify(c, account, case_id, kind, title, body, sms, NULL, NULL);
}

int inbox_unread(store_conn *c, long long account, long long *count)
{
    store_stmt *st =
        store_prepare(c, "SELECT COUNT(*) FROM inbox_message WHERE account = $1 AND read_at IS NULL");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, account);
    int rc = store_step(st);
    if (rc == STORE_ROW) *count = store_column_int64(st, 0);
    store_finalize(st);
    return rc == STORE_ROW ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

/* ---------- endpoints ---------- */

static struct app *app_of(http_req *r) { return http_req_app(r); }
static int reply_unavailable(http_req *r)
{
    return http_reply_error(r, 503, "unavailable", "try again", NULL);
}

static void query_int(http_req *r, const char *name, long long lo, long long hi, long long *out,
                      json_t *errors)
{
    const char *v = http_req_query(r, name);
    long long n;
    if (!v) return;
    if (parse_int64(v, &n) != 0 || n < lo || n > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be an integer from %lld to %lld", lo, hi);
        json_array_append_new(errors, http_field_error(name, msg));
        return;
    }
    *out = n;
}

int inbox_api_list(http_req *r)
{
    long long account = auth_principal(r)->account;
    long long before = LLONG_MAX, limit = 20, unread_only = 0;
    json_t *errors = json_array();
    query_int(r, "before", 1, LLONG_MAX, &before, errors);
    query_int(r, "limit", 1, 100, &limit, errors);
    query_int(r, "unread", 0, 1, &unread_only, errors);
    if (json_array_size(errors) > 0)
        return http_reply_error(r, 400, "invalid_query", "the query is not valid", errors);
    json_decref(errors);
    store_conn *c = store_acquire(app_of(r)->db);
    if (!c) return reply_unavailable(r);
    json_t *list = json_array();
    long long last = 0, unread = -1;
    store_stmt *st = store_prepare(
        c, unread_only ? "SELECT id, case_id, kind, title, body, at, read_at FROM inbox_message"
                         " WHERE account = $1 AND id < $2 AND read_at IS NULL ORDER BY id DESC LIMIT $3"
                       : "SELECT id, case_id, kind, title, body, at, read_at FROM inbox_message"
                         " WHERE account = $1 AND id < $2 ORDER BY id DESC LIMIT $3");
    int rc = STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, account);
        store_bind_int64(st, 2, before);
        store_bind_int64(st, 3, limit);
        while ((rc = store_step(st)) == STORE_ROW) {
            last = store_column_int64(st, 0);
            json_t *m =
                json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)last, "case_id",
                          store_column_is_null(st, 1) ? json_null() : json_integer(store_column_int64(st, 1)),
                          "kind", store_column_text(st, 2), "title", store_column_text(st, 3), "body",
                          store_column_text(st, 4), "at", store_column_text(st, 5), "read_at",
                          store_column_is_null(st, 6) ? json_null() : json_string(store_column_text(st, 6)));
            json_array_append_new(list, m);
        }
        store_finalize(st);
    }
    if (rc == STORE_DONE && inbox_unread(c, account, &unread) != STORE_OK) rc = STORE_ERROR;
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return reply_unavailable(r);
    }
    json_t *next = (long long)json_array_size(list) == limit ? json_integer(last) : json_null();
    return http_reply_json(
        r, 200,
        json_pack("{s:o, s:o, s:I}", "messages", list, "next_before", next, "unread", (json_int_t)unread));
}

struct marking {
    long long account, id; /* id 0: all */
    char at[48];
    long long marked, unread;
    int found;
};

static int read_tx(store_conn *c, void *arg)
{
    struct marking *m = arg;
    store_stmt *st;
    int rc;
    m->found = 0;
    m->marked = 0;
    if (m->id) {
        /* the first reading stays the time it was read */
        st = store_prepare(c, "UPDATE inbox_message SET read_at = COALESCE(read_at, $3)"
                              " WHERE id = $1 AND account = $2 RETURNING read_at");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, m->id);
        store_bind_int64(st, 2, m->account);
        store_bind_text(st, 3, m->at);
        rc = store_step(st);
        if (rc == STORE_ROW) {
            m->found = 1;
            m->marked = strcmp(store_column_text(st, 0), m->at) == 0;
            snprintf(m->at, sizeof m->at, "%s", store_column_text(st, 0));
        }
        store_finalize(st);
        if (rc != STORE_ROW && rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    } else {
        if ((rc = inbox_unread(c, m->account, &m->marked)) != STORE_OK) return rc;
        st = store_prepare(c, "UPDATE inbox_message SET read_at = $2 WHERE account = $1 AND read_at IS NULL");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, m->account);
        store_bind_text(st, 2, m->at);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    }
    return inbox_unread(c, m->account, &m->unread);
}

/* These take no fields: the body must be {}. */
static int empty_body(http_req *r)
{
    static const char *const known[] = {NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return -1;
    return input_done(&in);
}

int inbox_api_read(http_req *r)
{
    struct marking m = {.account = auth_principal(r)->account};
    if (parse_int64(http_req_param(r, "id"), &m.id) != 0 || m.id <= 0)
        return http_reply_error(r, 404, "not_found", "no such message", NULL);
    if (empty_body(r) != 0) return 0;
    time_rfc3339(now_wall(), m.at, sizeof m.at);
    if (store_tx(app_of(r)->db, 1, read_tx, &m) != STORE_OK) return reply_unavailable(r);
    if (!m.found) return http_reply_error(r, 404, "not_found", "no such message", NULL);
    return http_reply_json(r, 200,
                           json_pack("{s:I, s:s, s:I}", "id", (json_int_t)m.id, "read_at", m.at, "unread",
                                     (json_int_t)m.unread));
}

int inbox_api_read_all(http_req *r)
{
    struct marking m = {.account = auth_principal(r)->account};
    if (empty_body(r) != 0) return 0;
    time_rfc3339(now_wall(), m.at, sizeof m.at);
    if (store_tx(app_of(r)->db, 1, read_tx, &m) != STORE_OK) return reply_unavailable(r);
    return http_reply_json(
        r, 200, json_pack("{s:I, s:I}", "marked", (json_int_t)m.marked, "unread", (json_int_t)m.unread));
}

struct test_msg {
    long long account, case_id;
    const char *kind, *title, *body;
    int sms, sms_queued, no_account;
    long long id;
};

static int test_tx(store_conn *c, void *arg)
{
    struct test_msg *t = arg;
    store_stmt *st = store_prepare(c, "SELECT 1 FROM account WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, t->account);
    int rc = store_step(st);
    store_finalize(st);
    t->no_account = rc == STORE_DONE;
    if (rc != STORE_ROW) return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
    return notify(c, t->account, t->case_id, t->kind, t->title, t->body, t->sms, &t->id, &t->sms_queued);
}

int inbox_api_test(http_req *r)
{
    static const char *const known[] = {"account", "case_id", "kind", "title", "body", "sms", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct test_msg t = {0};
    t.account = input_int(&in, "account", 1, 1, LLONG_MAX, 0);
    t.case_id = input_int(&in, "case_id", 0, 1, LLONG_MAX, 0);
    t.kind = input_str(&in, "kind", 0, 1, INBOX_KIND_MAX);
    t.title = input_str(&in, "title", 1, 1, INBOX_TITLE_MAX);
    t.body = input_text(&in, "body", 0, 0, INBOX_BODY_MAX);
    t.sms = input_bool(&in, "sms", 0);
    if (!t.kind) t.kind = "test";
    if (!kind_ok(t.kind)) input_error(&in, "kind", "1 to 32 of a-z 0-9 . _ -");
    if (input_done(&in) != 0) return 0;
    if (store_tx(app_of(r)->db, 1, test_tx, &t) != STORE_OK) return reply_unavailable(r);
    if (t.no_account)
        return http_reply_error(r, 422, "validation_failed", "no such account",
                                json_pack("[o]", http_field_error("account", "no such account")));
    return http_reply_json(r, 201,
                           json_pack("{s:I, s:b}", "id", (json_int_t)t.id, "sms", t.sms_queued ? 1 : 0));
}
