/*
 * notice.c — portal notices (通知公告) over HTTP.  See notice.h.
 *
 * Instants are kept as milliseconds since the epoch (so "current" is one comparison on
 * both engines) and shown as RFC 3339 in the server's zone.  Every change is one
 * transaction that also appends its audit record (notice.publish, notice.update,
 * notice.withdraw).
 */
#include "engine/notice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/session.h"
#include "core/core.h"

const char *const NOTICE_CATEGORIES[] = {"notice", "announcement", "policy", "maintenance", NULL};

#define TITLE_MAX   100
#define BODY_MAX    10000
#define EXCERPT_MAX 80
#define PAGE_MAX    50

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }

static long long now_ms(void) { return (long long)(now_wall() * 1000.0); }

static int unavailable(http_req *r)
{
    return http_reply_error(r, 503, "unavailable", "the notices could not be read or stored; retry", NULL);
}

static int not_found(http_req *r) { return http_reply_error(r, 404, "not_found", "no such notice", NULL); }

static int category_known(const char *c)
{
    for (int i = 0; c && NOTICE_CATEGORIES[i]; i++)
        if (!strcmp(c, NOTICE_CATEGORIES[i])) return 1;
    return 0;
}

/* ---------- instants ---------- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int notice_parse_instant(const char *s, long long *ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) ||
        h > 23 || mi > 59 || sec > 59)
        return -1;
    const char *p = s + 19;
    long long frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3) frac = frac * 10 + (*p - '0');
        if (n == 0 || n > 9) return -1;
        for (int k = n; k < 3; k++) frac *= 10;
    }
    long long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59) return -1;
        off = (oh * 60LL + om) * 60000LL * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p) return -1;
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    *ms = (long long)timegm(&tm) * 1000 + frac - off;
    return 0;
}

/* ms since the epoch as RFC 3339 in the server's zone, to the millisecond */
static void fmt_instant(long long ms, char out[40])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    long off = tm.tm_gmtoff / 60;
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03d%c%02ld:%02ld", base, (int)(ms % 1000), off < 0 ? '-' : '+', labs(off) / 60,
             labs(off) % 60);
}

static json_t *instant_json(store_stmt *st, int col)
{
    if (store_column_is_null(st, col)) return json_null();
    char b[40];
    fmt_instant(store_column_int64(st, col), b);
    return json_string(b);
}

/* The first EXCERPT_MAX characters of a body (UTF-8), line breaks as spaces. */
static json_t *excerpt(const char *body)
{
    char out[EXCERPT_MAX * 4 + 4];
    size_t n = 0, chars = 0;
    const unsigned char *s = (const unsigned char *)body;
    while (*s && chars < EXCERPT_MAX) {
        size_t len = *s < 0x80 ? 1 : (*s >> 5) == 6 ? 2 : (*s >> 4) == 14 ? 3 : 4;
        for (size_t k = 0; k < len && s[k]; k++)
            out[n++] = (char)((s[k] == '\n' || s[k] == '\r') ? ' ' : s[k]);
        s += len;
        chars++;
    }
    if (*s) {
        memcpy(out + n, "…", 3);
        n += 3;
    }
    out[n] = 0;
    return json_string(out);
}

/* ---------- reading ---------- */

/* the status of a row, computed by SQL from $1 = now */
#define STATUS_SQL                                                                                           \
    "CASE WHEN withdrawn_at IS NOT NULL THEN 'withdrawn' WHEN published_at > $1 THEN 'scheduled'"            \
    " WHEN expires_at IS NOT NULL AND expires_at <= $1 THEN 'expired' ELSE 'current' END"
#define NOTICE_COLS                                                                                          \
    "id, title, body, category, published_at, expires_at, withdrawn_at, author, version, created_at,"        \
    " updated_at, " STATUS_SQL
#define CURRENT_SQL "withdrawn_at IS NULL AND published_at <= $1 AND (expires_at IS NULL OR expires_at > $1)"

/* A row of NOTICE_COLS as JSON: full (body, or an excerpt), admin (author, status, …). */
static json_t *row_json(store_stmt *st, int full, int admin)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:o, s:I}", "id", (json_int_t)store_column_int64(st, 0),
                          "title", store_column_text(st, 1), "category", store_column_text(st, 3),
                          "published_at", instant_json(st, 4), "expires_at", instant_json(st, 5), "version",
                          (json_int_t)store_column_int64(st, 8));
    if (!o) return NULL;
    if (full)
        json_object_set_new(o, "body", json_string(store_column_text(st, 2)));
    else
        json_object_set_new(o, "excerpt", excerpt(store_column_text(st, 2)));
    if (admin) {
        json_object_set_new(o, "withdrawn_at", instant_json(st, 6));
        json_object_set_new(o, "author", json_string(store_column_text(st, 7)));
        json_object_set_new(o, "created_at", json_string(store_column_text(st, 9)));
        json_object_set_new(o, "updated_at", json_string(store_column_text(st, 10)));
        json_object_set_new(o, "status", json_string(store_column_text(st, 11)));
    }
    return o;
}

/* page and size from the query; replies 400 and returns -1 when bad */
static int paging(http_req *r, long long *page, long long *size, const char *filter, const char *filter_rule)
{
    const char *ps = http_req_query(r, "page"), *ss = http_req_query(r, "size");
    *page = 1;
    *size = 10;
    json_t *errs = json_array();
    if (ps && (parse_int64(ps, page) != 0 || *page < 1 || *page > 100000))
        json_array_append_new(errs, http_field_error("page", "must be an integer from 1"));
    if (ss && (parse_int64(ss, size) != 0 || *size < 1 || *size > PAGE_MAX))
        json_array_append_new(errs, http_field_error("size", "must be an integer from 1 to 50"));
    if (filter_rule) json_array_append_new(errs, http_field_error(filter, filter_rule));
    if (json_array_size(errs)) {
        http_reply_error(r, 400, "invalid_query", "some query parameters are not valid", errs);
        return -1;
    }
    json_decref(errs);
    return 0;
}

/* One page of notices: where is a condition on $1 (now) and $2 (the filter, '' = any). */
static int list_page(http_req *r, const char *where, const char *filter, long long page, long long size,
                     int admin)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    long long now = now_ms(), total = 0;
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM notices WHERE %s", where);
    store_stmt *st = store_prepare(c, sql);
    int rc = STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, now);
        store_bind_text(st, 2, filter);
        rc = store_step(st);
        if (rc == STORE_ROW) total = store_column_int64(st, 0);
        store_finalize(st);
    }
    json_t *list = json_array();
    if (rc == STORE_ROW) {
        snprintf(sql, sizeof sql,
                 "SELECT " NOTICE_COLS " FROM notices WHERE %s ORDER BY %s LIMIT $3 OFFSET $4", where,
                 admin ? "id DESC" : "published_at DESC, id DESC");
        st = store_prepare(c, sql);
        rc = STORE_ERROR;
        if (st) {
            store_bind_int64(st, 1, now);
            store_bind_text(st, 2, filter);
            store_bind_int64(st, 3, size);
            store_bind_int64(st, 4, (page - 1) * size);
            while ((rc = store_step(st)) == STORE_ROW) {
                json_t *o = row_json(st, admin, admin); /* the administrator edits the whole text */
                if (o) json_array_append_new(list, o);
            }
            store_finalize(st);
        }
    }
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200,
                           json_pack("{s:o, s:I, s:I, s:I}", "notices", list, "total", (json_int_t)total,
                                     "page", (json_int_t)page, "size", (json_int_t)size));
}

int notice_api_list(http_req *r)
{
    const char *cat = http_req_query(r, "category");
    long long page, size;
    if (paging(r, &page, &size, "category",
               cat && !category_known(cat) ? "one of notice, announcement, policy, maintenance" : NULL) != 0)
        return 0;
    return list_page(r, CURRENT_SQL " AND ($2 = '' OR category = $2)", cat ? cat : "", page, size, 0);
}

int notice_api_admin_list(http_req *r)
{
    static const char *statuses[] = {"current", "scheduled", "expired", "withdrawn"};
    const char *status = http_req_query(r, "status");
    int ok = !status;
    for (size_t i = 0; status && i < EHALL_ARRAY_LEN(statuses); i++) ok |= !strcmp(status, statuses[i]);
    long long page, size;
    if (paging(r, &page, &size, "status", ok ? NULL : "one of current, scheduled, expired, withdrawn") != 0)
        return 0;
    return list_page(r, "($2 = '' OR " STATUS_SQL " = $2)", status ? status : "", page, size, 1);
}

static long long param_id(http_req *r)
{
    long long id;
    const char *s = http_req_param(r, "id");
    return s && parse_int64(s, &id) == 0 && id > 0 ? id : 0;
}

int notice_api_get(http_req *r)
{
    long long id = param_id(r);
    if (!id) return not_found(r);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st = store_prepare(c, "SELECT " NOTICE_COLS " FROM notices WHERE id = $2 AND " CURRENT_SQL);
    json_t *o = NULL;
    int rc = STORE_ERROR;
    if (st) {
        store_bind_int64(st, 1, now_ms());
        store_bind_int64(st, 2, id);
        rc = store_step(st);
        if (rc == STORE_ROW) o = row_json(st, 1, 0);
        store_finalize(st);
    }
    store_release(c);
    if (rc == STORE_DONE) return not_found(r);
    if (!o) return unavailable(r);
    return http_reply_json(r, 200, o);
}

/* ---------- changing ---------- */

struct change {
    http_req *r;
    long long id, version; /* version: the one the editor saw (0: any) */
    const char *title, *body, *category;
    long long published, expires; /* -1: not given */
    int withdraw;
    /* results */
    int missing, stale, withdrawn, bad_order;
    long long now_version;
    json_t *out;
};

static int read_back(store_conn *c, struct change *w)
{
    store_stmt *st = store_prepare(c, "SELECT " NOTICE_COLS " FROM notices WHERE id = $2");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, now_ms());
    store_bind_int64(st, 2, w->id);
    int rc = store_step(st);
    if (rc == STORE_ROW) w->out = row_json(st, 1, 1);
    store_finalize(st);
    return rc == STORE_ROW && w->out ? STORE_OK : STORE_ERROR;
}

static int audit_change(store_conn *c, struct change *w, const char *action, long long version)
{
    json_t *d = json_pack("{s:s?, s:s?, s:I}", "title", w->title, "category", w->category, "version",
                          (json_int_t)version);
    char *details = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!details) return STORE_ERROR;
    char obj[40];
    snprintf(obj, sizeof obj, "notice %lld", w->id);
    int rc = auth_audit(w->r, c, action, obj, "ok", details);
    free(details);
    return rc;
}

static int create_tx(store_conn *c, void *arg)
{
    struct change *w = arg;
    const struct principal *p = auth_principal(w->r);
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "INSERT INTO notices(title, body, category, published_at, expires_at, author,"
                         " version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)"
                         " RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, w->title);
    store_bind_text(st, 2, w->body);
    store_bind_text(st, 3, w->category);
    store_bind_int64(st, 4, w->published);
    if (w->expires >= 0)
        store_bind_int64(st, 5, w->expires);
    else
        store_bind_null(st, 5);
    store_bind_text(st, 6, p->login);
    store_bind_text(st, 7, ts);
    int rc = store_step(st);
    if (rc == STORE_ROW) w->id = store_column_int64(st, 0);
    store_finalize(st);
    if (rc != STORE_ROW) return rc < 0 ? rc : STORE_ERROR;
    if ((rc = audit_change(c, w, "notice.publish", 1)) != STORE_OK) return rc;
    return read_back(c, w);
}

/* Load the notice's version and state for an edit or a withdrawal; sets missing, stale,
 * withdrawn.  STORE_OK to go on (check the flags). */
static int check_current(store_conn *c, struct change *w)
{
    store_stmt *st =
        store_prepare(c, "SELECT version, withdrawn_at, published_at FROM notices WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, w->id);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        w->now_version = store_column_int64(st, 0);
        w->withdrawn = !store_column_is_null(st, 1);
        if (w->published < 0 && !w->withdraw) w->published = store_column_int64(st, 2);
        w->stale = w->version && w->version != w->now_version;
    }
    store_finalize(st);
    if (rc == STORE_DONE) w->missing = 1;
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}

static int update_tx(store_conn *c, void *arg)
{
    struct change *w = arg;
    int rc = check_current(c, w);
    if (rc != STORE_OK || w->missing || w->stale || w->withdrawn) return rc;
    /* an expiry must follow the publication, also the one kept from before */
    if (w->expires >= 0 && w->expires <= w->published) {
        w->bad_order = 1;
        return STORE_OK;
    }
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "UPDATE notices SET title = $1, body = $2, category = $3, published_at = $4,"
                         " expires_at = $5, version = version + 1, updated_at = $6"
                         " WHERE id = $7 AND version = $8");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, w->title);
    store_bind_text(st, 2, w->body);
    store_bind_text(st, 3, w->category);
    store_bind_int64(st, 4, w->published);
    if (w->expires >= 0)
        store_bind_int64(st, 5, w->expires);
    else
        store_bind_null(st, 5);
    store_bind_text(st, 6, ts);
    store_bind_int64(st, 7, w->id);
    store_bind_int64(st, 8, w->now_version);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    if ((rc = audit_change(c, w, "notice.update", w->now_version + 1)) != STORE_OK) return rc;
    return read_back(c, w);
}

static int withdraw_tx(store_conn *c, void *arg)
{
    struct change *w = arg;
    int rc = check_current(c, w);
    if (rc != STORE_OK || w->missing || w->stale || w->withdrawn) return rc;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    store_stmt *st =
        store_prepare(c, "UPDATE notices SET withdrawn_at = $1, version = version + 1, updated_at = $2"
                         " WHERE id = $3 AND withdrawn_at IS NULL");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, now_ms());
    store_bind_text(st, 2, ts);
    store_bind_int64(st, 3, w->id);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    if ((rc = audit_change(c, w, "notice.withdraw", w->now_version + 1)) != STORE_OK) return rc;
    return read_back(c, w);
}

/* Read and check the fields of a new or edited notice; -1 after replying 422. */
static int read_notice(struct input *in, struct change *w, int editing)
{
    w->title = input_str(in, "title", 1, 1, TITLE_MAX);
    w->body = input_text(in, "body", 1, 1, BODY_MAX);
    w->category = input_str(in, "category", 1, 1, 32);
    if (w->category && !category_known(w->category))
        input_error(in, "category", "must be one of notice, announcement, policy, maintenance");
    const char *pub = input_str(in, "published_at", 0, 20, 40);
    const char *exp = input_str(in, "expires_at", 0, 20, 40);
    if (editing) w->version = input_int(in, "version", 1, 1, (long long)1 << 53, 0);
    w->published = w->expires = -1;
    if (pub && notice_parse_instant(pub, &w->published) != 0)
        input_error(in, "published_at",
                    "must be an RFC 3339 instant with its offset, e.g. 2026-11-24T08:00:00+08:00");
    if (exp && notice_parse_instant(exp, &w->expires) != 0)
        input_error(in, "expires_at",
                    "must be an RFC 3339 instant with its offset, e.g. 2026-12-31T23:59:59+08:00");
    if (!editing && w->published < 0) w->published = now_ms();
    if (w->expires >= 0 && w->expires <= now_ms())
        input_error(in, "expires_at", "must be in the future");
    else if (w->expires >= 0 && w->published >= 0 && w->expires <= w->published)
        input_error(in, "expires_at", "must be after published_at");
    return input_done(in);
}

static int reply_change(http_req *r, struct change *w, int rc, unsigned ok_status)
{
    if (rc != STORE_OK) {
        json_decref(w->out);
        return unavailable(r);
    }
    if (w->missing) return not_found(r);
    if (w->withdrawn)
        return http_reply_error(r, 409, "conflict", "this notice has been withdrawn and can no longer change",
                                NULL);
    if (w->stale) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "someone else changed this notice (now version %lld); reload it and try again",
                 w->now_version);
        return http_reply_error(r, 409, "conflict", msg,
                                json_pack("[o]", http_field_error("version", "is not the current version")));
    }
    return http_reply_json(r, ok_status, w->out);
}

int notice_api_create(http_req *r)
{
    static const char *known[] = {"title", "body", "category", "published_at", "expires_at", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct change w = {.r = r};
    if (read_notice(&in, &w, 0) != 0) return 0;
    int rc = store_tx(db_of(r), 1, create_tx, &w);
    return reply_change(r, &w, rc, 201);
}

int notice_api_update(http_req *r)
{
    static const char *known[] = {"title", "body", "category", "published_at", "expires_at", "version", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct change w = {.r = r};
    if (read_notice(&in, &w, 1) != 0) return 0;
    w.id = param_id(r);
    if (!w.id) return not_found(r);
    int rc = store_tx(db_of(r), 1, update_tx, &w);
    if (rc == STORE_OK && w.bad_order)
        return http_reply_error(
            r, 422, "validation_failed", "some fields are not valid",
            json_pack("[o]", http_field_error("expires_at", "must be after published_at")));
    return reply_change(r, &w, rc, 200);
}

int notice_api_withdraw(http_req *r)
{
    static const char *known[] = {"version", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct change w = {.r = r, .withdraw = 1};
    w.version = input_int(&in, "version", 0, 1, (long long)1 << 53, 0);
    if (input_done(&in) != 0) return 0;
    w.id = param_id(r);
    if (!w.id) return not_found(r);
    int rc = store_tx(db_of(r), 1, withdraw_tx, &w);
    return reply_change(r, &w, rc, 200);
}
