/*
 * search.c — reading the audit log for the auditor: filtered search with keyset
 * pagination, CSV / JSON-lines export with an SM3 digest, JSON for the HTTP layer, and
 * retention (archive, then purge the oldest records and move the chain's anchor).
 * See the second half of audit.h.
 *
 * SQL is assembled only from the constant fragments below, choosing which conditions
 * to include and numbering their placeholders; every value from a filter travels as a
 * bind parameter.  Prefix patterns are LIKE patterns with '%', '_' and '\' escaped
 * (ESCAPE '\', on both engines).  SQLite's LIKE ignores ASCII case, so on SQLite the
 * prefix is also compared exactly with substr(), keeping both engines case-sensitive.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define DAY_MS    86400000LL

/* ---- time ---- */

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

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

static long long floor_div(long long a, long long b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* "YYYY-MM-DD" (midnight in the process's zone, which main() sets from `timezone`) or
 * RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)" to ms since the epoch.  A fraction
 * finer than a millisecond rounds up, so that "at >= bound" and "at < bound" on
 * millisecond times mean the same as on the exact instant. */
static int parse_time(const char *s, long long *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!s || strlen(s) < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
    if (s[10] == 0) {
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31)) return -1;
        *ms = (long long)t * 1000;
        return 0;
    }
    const char *p = s + 10;
    if ((*p != 'T' && *p != 't' && *p != ' ') || digits(p + 1, 2, &h) || p[3] != ':' ||
        digits(p + 4, 2, &mi) || p[6] != ':' || digits(p + 7, 2, &sec) || h > 23 || mi > 59 || sec > 59)
        return -1;
    p += 9;
    long long frac_ms = 0;
    if (*p == '.') {
        int n = 0, more = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            else if (*p != '0')
                more = 1;
        }
        if (n == 0 || n > 9) return -1;
        for (int k = n; k < 3; k++) frac_ms *= 10;
        frac_ms += more;
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
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *ms = (long long)timegm(&tm) * 1000 + frac_ms - off;
    return 0;
}

/* ms since the epoch as UTC text "YYYY-MM-DDTHH:MM:SS.mmm", with a 'Z' when z. */
static void fmt_utc(long long ms, int z, char *buf, size_t len)
{
    time_t secs = (time_t)floor_div(ms, 1000);
    int rest = (int)(ms - (long long)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03d%s", base, rest, z ? "Z" : "");
}

/* ---- filter checks ---- */

/* Well-formed UTF-8 with no C0/C1 control characters or DEL. */
static int clean_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7f) return -1;
        if (c < 0x80) {
            p++;
            continue;
        }
        int n;
        unsigned cp;
        if ((c & 0xe0) == 0xc0)
            n = 1, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            n = 2, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            n = 3, cp = c & 0x07;
        else
            return -1;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return -1;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return -1;
        p += n + 1;
    }
    return 0;
}

int audit_filter_check(const struct audit_filter *f, const char **field, const char **why)
{
    struct {
        const char *name, *v;
    } text[] = {
        {"from", f->from},     {"to", f->to},         {"actor", f->actor},   {"action", f->action},
        {"object", f->object}, {"result", f->result}, {"client", f->client}, {"request_id", f->request_id}};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(text); i++) {
        const char *v = text[i].v;
        *field = text[i].name;
        if (!v) continue;
        if (!*v) return *why = "must not be empty", -1;
        if (strlen(v) > AUDIT_FIELD_MAX) return *why = "is longer than 128 bytes", -1;
        if (clean_text(v) != 0) return *why = "must be UTF-8 text without control characters", -1;
    }
    long long from = 0, to = 0;
    *field = "from";
    if (f->from && parse_time(f->from, &from) != 0)
        return *why = "is not a date (YYYY-MM-DD) or an RFC 3339 time (2026-11-23T21:32:08+08:00)", -1;
    *field = "to";
    if (f->to && parse_time(f->to, &to) != 0)
        return *why = "is not a date (YYYY-MM-DD) or an RFC 3339 time (2026-11-23T21:32:08+08:00)", -1;
    if (f->from && f->to && to <= from) return *why = "must be later than from", -1;
    *field = "after_seq";
    if (f->after_seq < 0) return *why = "must not be negative", -1;
    *field = "limit";
    if (f->limit < 0 || f->limit > AUDIT_LIMIT_MAX) return *why = "must be between 1 and 1000", -1;
    *field = NULL;
    *why = NULL;
    return 0;
}

/* ---- building the query ---- */

enum { MAXB = 24 };

struct query {
    char sql[2048];
    size_t len;
    int nb;
    struct {
        int is_int;
        long long i;
        const char *t;
    } b[MAXB];
    char times[4][40]; /* from: widened, exact; to: widened, exact */
    char pat[4][2 * AUDIT_FIELD_MAX + 2], pre[4][AUDIT_FIELD_MAX + 1];
    int after_idx, limit_idx;
};

static void add_sql(struct query *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_sql(struct query *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(q->sql + q->len, sizeof q->sql - q->len, fmt, ap);
    va_end(ap);
    if (n > 0) q->len += (size_t)n < sizeof q->sql - q->len ? (size_t)n : sizeof q->sql - q->len - 1;
}

static int bind_text(struct query *q, const char *t)
{
    q->b[q->nb].is_int = 0;
    q->b[q->nb].t = t;
    return ++q->nb;
}

static int bind_int(struct query *q, long long i)
{
    q->b[q->nb].is_int = 1;
    q->b[q->nb].i = i;
    return ++q->nb;
}

/* `col = $n`, or for "prefix*" a LIKE with the prefix escaped (+ substr on SQLite). */
static void match(struct query *q, int k, const char *col, const char *v, int allow_prefix, int sqlite)
{
    size_t n = strlen(v);
    if (!allow_prefix || n == 0 || v[n - 1] != '*') {
        add_sql(q, " AND %s = $%d", col, bind_text(q, v));
        return;
    }
    char *pat = q->pat[k], *pre = q->pre[k];
    size_t j = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (v[i] == '%' || v[i] == '_' || v[i] == '\\') pat[j++] = '\\';
        pat[j++] = v[i];
    }
    pat[j++] = '%';
    pat[j] = 0;
    memcpy(pre, v, n - 1);
    pre[n - 1] = 0;
    add_sql(q, " AND %s LIKE $%d ESCAPE '\\'", col, bind_text(q, pat));
    if (sqlite) {
        int b = bind_text(q, pre);
        add_sql(q, " AND substr(%s, 1, length($%d)) = $%d", col, b, b);
    }
}

/* The filter must have passed audit_filter_check.  upto > 0 adds seq <= upto. */
static void build(struct query *q, const struct audit_filter *f, long long upto, int sqlite)
{
    memset(q, 0, sizeof *q);
    add_sql(q,
            "SELECT seq, at, actor, role, client, request_id, action, object, result, details, prev_hash,"
            " hash FROM audit_log WHERE seq > $%d",
            q->after_idx = bind_int(q, f->after_seq));
    if (upto > 0) add_sql(q, " AND seq <= $%d", bind_int(q, upto));
    /* exact instant comparisons; the widened text range only lets the `at` index help */
    const char *instant = sqlite ? "strftime('%Y-%m-%dT%H:%M:%fZ', at)" : "at::timestamptz";
    long long ms;
    if (f->from && parse_time(f->from, &ms) == 0) {
        fmt_utc(ms - DAY_MS, 0, q->times[0], sizeof q->times[0]);
        fmt_utc(ms, 1, q->times[1], sizeof q->times[1]);
        int a = bind_text(q, q->times[0]), b = bind_text(q, q->times[1]);
        add_sql(q, " AND at >= $%d AND %s >= $%d", a, instant, b);
    }
    if (f->to && parse_time(f->to, &ms) == 0) {
        fmt_utc(ms + DAY_MS, 0, q->times[2], sizeof q->times[2]);
        fmt_utc(ms, 1, q->times[3], sizeof q->times[3]);
        int a = bind_text(q, q->times[2]), b = bind_text(q, q->times[3]);
        add_sql(q, " AND at < $%d AND %s < $%d", a, instant, b);
    }
    if (f->actor) match(q, 0, "actor", f->actor, 1, sqlite);
    if (f->action) match(q, 1, "action", f->action, 1, sqlite);
    if (f->object) match(q, 2, "object", f->object, 1, sqlite);
    if (f->client) match(q, 3, "client", f->client, 1, sqlite);
    if (f->result) match(q, 0, "result", f->result, 0, sqlite);
    if (f->request_id) match(q, 0, "request_id", f->request_id, 0, sqlite);
    add_sql(q, " ORDER BY seq LIMIT $%d", q->limit_idx = bind_int(q, 0));
}

typedef int (*row_fn)(void *arg, const struct audit_row *r);

/* One page: records after `after`, at most `limit`.  *n gets the rows delivered and
 * *last the last seq; *stop row()'s non-zero value. */
static int run_page(store_conn *c, struct query *q, long long after, int limit, row_fn row, void *arg, int *n,
                    long long *last, int *stop)
{
    q->b[q->after_idx - 1].i = after;
    q->b[q->limit_idx - 1].i = limit;
    store_stmt *st = store_prepare(c, q->sql);
    if (!st) return STORE_ERROR;
    for (int i = 0; i < q->nb; i++)
        if (q->b[i].is_int)
            store_bind_int64(st, i + 1, q->b[i].i);
        else
            store_bind_text(st, i + 1, q->b[i].t);
    int rc;
    *n = 0;
    *stop = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        struct audit_row r = {
            store_column_int64(st, 0), store_column_text(st, 1),  store_column_text(st, 2),
            store_column_text(st, 3),  store_column_text(st, 4),  store_column_text(st, 5),
            store_column_text(st, 6),  store_column_text(st, 7),  store_column_text(st, 8),
            store_column_text(st, 9),  store_column_text(st, 10), store_column_text(st, 11),
        };
        (*n)++;
        *last = r.seq;
        if ((*stop = row(arg, &r)) != 0) break;
    }
    store_finalize(st);
    return *stop || rc == STORE_DONE ? STORE_OK : rc;
}

/* ---- search ---- */

struct search_state {
    struct query q;
    long long after;
    int remaining, stopped;
    row_fn row;
    void *arg;
};

/* store_tx may run this again after a conflict: it resumes after the last row
 * delivered, so no row is delivered twice. */
static int search_tx(store_conn *c, void *arg)
{
    struct search_state *ss = arg;
    if (ss->remaining == 0) return STORE_OK;
    int n = 0;
    int rc = run_page(c, &ss->q, ss->after, ss->remaining, ss->row, ss->arg, &n, &ss->after, &ss->stopped);
    ss->remaining -= n;
    return rc;
}

int audit_search(store *s, const struct audit_filter *f, row_fn row, void *arg)
{
    const char *field, *why;
    if (audit_filter_check(f, &field, &why) != 0) return AUDIT_BAD_FILTER;
    struct search_state *ss = calloc(1, sizeof *ss);
    if (!ss) return STORE_ERROR;
    build(&ss->q, f, 0, store_engine_of(s) == STORE_SQLITE);
    ss->after = f->after_seq;
    ss->remaining = f->limit ? f->limit : AUDIT_LIMIT_DEFAULT;
    ss->row = row;
    ss->arg = arg;
    int rc = store_tx(s, 0, search_tx, ss);
    if (rc == STORE_OK && ss->stopped) rc = ss->stopped;
    free(ss);
    return rc;
}

/* ---- JSON ---- */

static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

/* Text as a JSON string even when it is not valid UTF-8 (bad bytes become U+FFFD). */
static json_t *jstr_lossy(const char *s)
{
    if (!s) return json_null();
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *buf = malloc(3 * n + 1), *o = buf;
    if (!buf) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int len = *p < 0x80             ? 1
                  : (*p & 0xe0) == 0xc0 ? 2
                  : (*p & 0xf0) == 0xe0 ? 3
                  : (*p & 0xf8) == 0xf0 ? 4
                                        : 0;
        json_t *probe = NULL;
        if (len > 0) {
            char one[5] = {0};
            int k = 0;
            while (k < len && p[k]) {
                one[k] = (char)p[k];
                k++;
            }
            if (k == len) probe = json_string(one);
        }
        if (probe) {
            json_decref(probe);
            memcpy(o, p, (size_t)len);
            o += len;
            p += len;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    *o = 0;
    j = json_string(buf);
    free(buf);
    return j;
}

/* Every column in table order.  parse_details: details as parsed JSON (the API);
 * otherwise the exact text (archives, which must re-hash).  strict: fail on text that
 * is not UTF-8 instead of replacing bytes. */
static json_t *row_object(const struct audit_row *r, int parse_details, int strict)
{
    json_t *(*str)(const char *) = strict ? jstr : jstr_lossy;
    json_t *o = json_object();
    if (!o) return NULL;
    json_t *details = NULL;
    if (parse_details && r->details) details = json_loads(r->details, JSON_DECODE_ANY, NULL);
    if (!details) details = str(r->details);
    const char *names[] = {"at", "actor", "role", "client", "request_id", "action", "object", "result"};
    const char *vals[] = {r->at,         r->actor,  r->role,   r->client,
                          r->request_id, r->action, r->object, r->result};
    int bad = json_object_set_new(o, "seq", json_integer(r->seq)) != 0;
    for (size_t i = 0; i < EHALL_ARRAY_LEN(names) && !bad; i++) {
        json_t *v = str(vals[i]);
        bad = !v || json_object_set_new(o, names[i], v) != 0;
    }
    bad = bad || !details || json_object_set_new(o, "details", details) != 0;
    details = NULL;
    json_t *prev = bad ? NULL : str(r->prev_hash), *hash = bad ? NULL : str(r->hash);
    bad = bad || !prev || !hash || json_object_set_new(o, "prev_hash", prev) != 0 ||
          json_object_set_new(o, "hash", hash) != 0;
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *audit_row_json(const struct audit_row *r) { return row_object(r, 1, 0); }

/* ---- export ---- */

struct export_state {
    struct query q;
    FILE *out;
    crypto_sm3_ctx *sm3;
    int csv, failed;
    long long after, rows, cap; /* cap: -1 = no limit */
};

static int out_write(struct export_state *e, const void *p, size_t n)
{
    if (e->failed) return -1;
    if (n && (fwrite(p, 1, n, e->out) != n || crypto_sm3_update(e->sm3, p, n) != 0)) e->failed = 1;
    return e->failed ? -1 : 0;
}

static int csv_cell(struct export_state *e, const char *v, int last)
{
    int rc = 0;
    if (v) {
        rc |= out_write(e, "\"", 1);
        if (strchr("=+-@\t\r", v[0]) && v[0]) rc |= out_write(e, "'", 1);
        for (const char *p = v; *p; p++) {
            const char *q = strchr(p, '"');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            rc |= out_write(e, p, n);
            if (!q) break;
            rc |= out_write(e, "\"\"", 2);
            p = q;
        }
        rc |= out_write(e, "\"", 1);
    }
    return rc | out_write(e, last ? "\r\n" : ",", last ? 2 : 1);
}

static int export_row(void *arg, const struct audit_row *r)
{
    struct export_state *e = arg;
    if (e->csv) {
        char seq[32];
        int n = snprintf(seq, sizeof seq, "%lld,", r->seq);
        const char *cells[] = {r->at,     r->actor,  r->role,    r->client,    r->request_id, r->action,
                               r->object, r->result, r->details, r->prev_hash, r->hash};
        int rc = out_write(e, seq, (size_t)n);
        for (size_t i = 0; i < EHALL_ARRAY_LEN(cells); i++)
            rc |= csv_cell(e, cells[i], i + 1 == EHALL_ARRAY_LEN(cells));
        if (rc) return 1;
    } else {
        json_t *o = row_object(r, 0, 1);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (!line) {
            log_error("audit export: record %lld cannot be written as JSON (not UTF-8?)", r->seq);
            e->failed = 1;
            return 1;
        }
        int rc = out_write(e, line, strlen(line)) | out_write(e, "\n", 1);
        free(line);
        if (rc) return 1;
    }
    e->rows++;
    return 0;
}

static int export_tx(store_conn *c, void *arg)
{
    struct export_state *e = arg;
    /* one snapshot for every page on PostgreSQL too (SQLite's read transaction is one) */
    if (store_conn_engine(c) == STORE_POSTGRES) {
        int rc = store_exec(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        if (rc != STORE_OK) return rc;
    }
    for (;;) {
        long long want = e->cap < 0 ? AUDIT_LIMIT_MAX : e->cap - e->rows;
        if (want <= 0) return STORE_OK;
        if (want > AUDIT_LIMIT_MAX) want = AUDIT_LIMIT_MAX;
        int n, stop;
        int rc = run_page(c, &e->q, e->after, (int)want, export_row, e, &n, &e->after, &stop);
        if (rc != STORE_OK) return rc;
        if (stop || e->failed) return STORE_ERROR;
        if (n < want) return STORE_OK;
    }
}

/* Export records after f->after_seq (and up to upto when > 0). */
static int export_range(store *s, const struct audit_filter *f, long long upto, FILE *out, const char *format,
                        long long *rows, char sm3hex[65])
{
    *rows = 0;
    sm3hex[0] = 0;
    const char *field, *why;
    if (audit_filter_check(f, &field, &why) != 0) return AUDIT_BAD_FILTER;
    int csv = format && !strcmp(format, "csv");
    if (!csv && !(format && !strcmp(format, "jsonl"))) return AUDIT_BAD_FILTER;
    struct export_state *e = calloc(1, sizeof *e);
    if (!e) return STORE_ERROR;
    build(&e->q, f, upto, store_engine_of(s) == STORE_SQLITE);
    e->out = out;
    e->csv = csv;
    e->after = f->after_seq;
    e->cap = f->limit ? f->limit : -1;
    e->sm3 = crypto_sm3_new();
    int rc = e->sm3 ? STORE_OK : STORE_ERROR;
    if (rc == STORE_OK && csv) {
        static const char head[] =
            "\xef\xbb\xbf"
            "seq,at,actor,role,client,request_id,action,object,result,details,prev_hash,"
            "hash\r\n";
        if (out_write(e, head, sizeof head - 1) != 0) rc = STORE_ERROR;
    }
    if (rc == STORE_OK) rc = store_tx(s, 0, export_tx, e);
    if (rc == STORE_OK && (e->failed || fflush(out) != 0)) rc = STORE_ERROR;
    unsigned char d[SM3_DIGEST_LEN];
    if (rc == STORE_OK && crypto_sm3_final(e->sm3, d) != 0) rc = STORE_ERROR;
    if (rc == STORE_OK) hex_encode(d, sizeof d, sm3hex);
    *rows = e->rows;
    crypto_sm3_free(e->sm3);
    free(e);
    return rc;
}

int audit_export(store *s, const struct audit_filter *f, FILE *out, const char *format, long long *rows,
                 char sm3hex[65])
{
    return export_range(s, f, 0, out, format, rows, sm3hex);
}

/* ---- anchor and digest files ---- */

struct anchor_arg {
    long long seq;
    char hash[65];
};

static int anchor_tx(store_conn *c, void *arg)
{
    struct anchor_arg *a = arg;
    long long version = 0;
    int rc = store_query_int64(c, "SELECT COALESCE(MAX(version), 0) FROM ehall_schema", &version);
    if (rc != STORE_OK || version < 5) return rc; /* no retention columns yet: no anchor */
    store_stmt *st = store_prepare(c, "SELECT anchor_seq, anchor_hash FROM audit_head WHERE id = 1");
    if (!st) return STORE_ERROR;
    rc = store_step(st);
    if (rc == STORE_ROW && store_column_text(st, 1)) {
        a->seq = store_column_int64(st, 0);
        snprintf(a->hash, sizeof a->hash, "%s", store_column_text(st, 1));
        rc = STORE_OK;
    } else if (rc == STORE_DONE || rc == STORE_ROW) {
        rc = STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

int audit_anchor(store *s, long long *seq, char hash[65])
{
    struct anchor_arg a = {0, ZERO_HASH};
    int rc = store_tx(s, 0, anchor_tx, &a);
    if (rc == STORE_OK) {
        *seq = a.seq;
        memcpy(hash, a.hash, 65);
    }
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int audit_write_digest_file(const char *path, const char hex[65])
{
    char sumf[1100], tmp[1110];
    snprintf(sumf, sizeof sumf, "%s.sm3", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", sumf);
    const char *slash = strrchr(path, '/');
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int bad =
        fprintf(f, "%s  %s\n", hex, slash ? slash + 1 : path) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, sumf) != 0) {
        unlink(tmp);
        return -1;
    }
    return fsync_dir_of(sumf);
}

/* ---- archives ---- */

static int broken_at(struct audit_archive_info *in, long long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int broken_at(struct audit_archive_info *in, long long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->why, sizeof in->why, fmt, ap);
    va_end(ap);
    in->bad_line = line;
    return 1;
}

/* A field of an archived record: a string, or null when nullable. */
static int field(json_t *o, const char *name, int nullable, const char **out)
{
    json_t *v = json_object_get(o, name);
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return 0;
    }
    *out = NULL;
    return nullable && json_is_null(v) ? 0 : -1;
}

static int check_line(struct audit_archive_info *in, long long lineno, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return broken_at(in, lineno, "line %lld is not a JSON object", lineno);
    }
    struct audit_row r = {0};
    json_t *seq = json_object_get(o, "seq");
    int bad = !json_is_integer(seq) || field(o, "at", 0, &r.at) || field(o, "actor", 1, &r.actor) ||
              field(o, "role", 1, &r.role) || field(o, "client", 1, &r.client) ||
              field(o, "request_id", 1, &r.request_id) || field(o, "action", 0, &r.action) ||
              field(o, "object", 1, &r.object) || field(o, "result", 0, &r.result) ||
              field(o, "details", 1, &r.details) || field(o, "prev_hash", 0, &r.prev_hash) ||
              field(o, "hash", 0, &r.hash);
    int rc = 0;
    char want[65];
    long long at_ms;
    if (bad) {
        rc = broken_at(in, lineno, "line %lld lacks a field of an audit record", lineno);
        goto out;
    }
    r.seq = json_integer_value(seq);
    if (in->records > 0 && r.seq != in->last_seq + 1) {
        rc = broken_at(in, lineno, "record %lld missing: the sequence jumps to %lld here", in->last_seq + 1,
                       r.seq);
        goto out;
    }
    if (in->records > 0 && strcmp(r.prev_hash, in->last_hash) != 0) {
        rc = broken_at(in, lineno, "record %lld: its previous-hash does not match the record before it",
                       r.seq);
        goto out;
    }
    if (audit_row_hash(&r, want) != 0) {
        rc = broken_at(in, lineno, "record %lld: cannot compute its hash", r.seq);
        goto out;
    }
    if (strcmp(want, r.hash) != 0) {
        rc = broken_at(in, lineno, "record %lld: its contents do not match its hash (altered)", r.seq);
        goto out;
    }
    if (parse_time(r.at, &at_ms) != 0) {
        rc = broken_at(in, lineno, "record %lld: its time is not RFC 3339", r.seq);
        goto out;
    }
    if (in->records == 0) {
        in->first_seq = r.seq;
        snprintf(in->first_prev, sizeof in->first_prev, "%s", r.prev_hash);
        in->newest_ms = at_ms;
    }
    if (at_ms > in->newest_ms) in->newest_ms = at_ms;
    in->records++;
    in->last_seq = r.seq;
    snprintf(in->last_hash, sizeof in->last_hash, "%s", r.hash);
out:
    json_decref(o);
    return rc;
}

int audit_archive_verify(const char *path, struct audit_archive_info *in)
{
    memset(in, 0, sizeof *in);
    char sumf[1100], want[80] = "";
    snprintf(sumf, sizeof sumf, "%s.sm3", path);
    FILE *f = fopen(sumf, "r");
    if (!f) return snprintf(in->why, sizeof in->why, "cannot read %s: %s", sumf, strerror(errno)), -1;
    int got = fgets(want, sizeof want, f) != NULL;
    fclose(f);
    if (!got || strspn(want, "0123456789abcdef") != 64 || want[64] != ' ')
        return broken_at(in, 0, "%s is not an SM3 digest file", sumf);
    want[64] = 0;
    if (crypto_sm3_file_hex(path, in->sm3) != 0)
        return snprintf(in->why, sizeof in->why, "cannot read %s: %s", path, strerror(errno)), -1;
    if (strcmp(in->sm3, want) != 0)
        return broken_at(in, 0, "SM3 digest mismatch: the file is %s but %s says %s (altered or truncated)",
                         in->sm3, sumf, want);
    f = fopen(path, "r");
    if (!f) return snprintf(in->why, sizeof in->why, "cannot read %s: %s", path, strerror(errno)), -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long lineno = 0;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == '\n') n--;
        rc = check_line(in, lineno, line, (size_t)n);
    }
    if (rc == 0 && ferror(f)) rc = (snprintf(in->why, sizeof in->why, "cannot read %s", path), -1);
    free(line);
    fclose(f);
    if (rc == 0 && in->records == 0) rc = broken_at(in, 0, "the archive holds no records");
    return rc;
}

/* ---- purge ---- */

static int first_seq_row(void *arg, const struct audit_row *r)
{
    *(long long *)arg = r->seq;
    return 1;
}

static int head_tx(store_conn *c, void *arg)
{
    return store_query_int64(c, "SELECT seq FROM audit_head WHERE id = 1", arg);
}

struct purge_tx_arg {
    struct audit_purge *p;
    long long anchor;
    const char *details;
    int conflict;
};

static int one_int(store_conn *c, const char *sql, long long a, long long b, long long *out)
{
    store_stmt *st = store_prepare(c, sql);
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, a);
    if (b >= 0) store_bind_int64(st, 2, b);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        *out = store_column_int64(st, 0);
        rc = STORE_OK;
    } else if (rc == STORE_DONE) {
        rc = STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

static int purge_tx(store_conn *c, void *arg)
{
    struct purge_tx_arg *a = arg;
    struct audit_purge *p = a->p;
    int pg = store_conn_engine(c) == STORE_POSTGRES;
    long long anchor = -1, count = -1;
    int rc = store_query_int64(c,
                               pg ? "SELECT anchor_seq FROM audit_head WHERE id = 1 FOR UPDATE"
                                  : "SELECT anchor_seq FROM audit_head WHERE id = 1",
                               &anchor);
    if (rc != STORE_OK) return rc;
    if (anchor != a->anchor) { /* another purge got here first */
        a->conflict = 1;
        return STORE_ERROR;
    }
    rc = one_int(c, "SELECT COUNT(*) FROM audit_log WHERE seq > $1 AND seq <= $2", a->anchor, p->upto_seq,
                 &count);
    if (rc != STORE_OK) return rc;
    store_stmt *st = store_prepare(c, "SELECT hash FROM audit_log WHERE seq = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->upto_seq);
    rc = store_step(st);
    int same =
        rc == STORE_ROW && store_column_text(st, 0) && !strcmp(store_column_text(st, 0), p->anchor_hash);
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc;
    if (count != p->records || !same) {
        a->conflict = 1;
        return STORE_ERROR;
    }
    st = store_prepare(
        c, "UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2, purge_upto = $1 WHERE id = 1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->upto_seq);
    store_bind_text(st, 2, p->anchor_hash);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc;
    st = store_prepare(c, "DELETE FROM audit_log WHERE seq > $1 AND seq <= $2");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, a->anchor);
    store_bind_int64(st, 2, p->upto_seq);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc;
    rc = one_int(c, "SELECT COUNT(*) FROM audit_log WHERE seq <= $1", p->upto_seq, -1, &count);
    if (rc != STORE_OK) return rc;
    if (count != 0) return STORE_ERROR;
    struct audit_event e = *p->who;
    e.action = "audit.purge";
    e.object = p->archive;
    e.result = "ok";
    e.details = a->details;
    return audit_append(c, &e);
}

static int refuse(struct audit_purge *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct audit_purge *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
    return 2;
}

/* Write records (anchor, upto] to the archive and PATH.sm3, fsynced. */
static int write_archive(store *s, struct audit_purge *p, long long anchor, long long *rows)
{
    int fd = open(p->archive, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(p->why, sizeof p->why, "cannot create %s: %s", p->archive, strerror(errno));
        return errno == EEXIST ? 2 : STORE_ERROR;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(p->archive);
        snprintf(p->why, sizeof p->why, "cannot write %s: %s", p->archive, strerror(errno));
        return STORE_ERROR;
    }
    struct audit_filter all = {.after_seq = anchor};
    int rc = export_range(s, &all, p->upto_seq, f, "jsonl", rows, p->sm3);
    int io = rc == STORE_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0);
    if (fclose(f) != 0) io = 1;
    if (rc == STORE_OK && !io && audit_write_digest_file(p->archive, p->sm3) != 0) io = 1;
    if (rc != STORE_OK || io) {
        snprintf(p->why, sizeof p->why, "writing the archive %s failed: %s", p->archive,
                 io ? strerror(errno) : "the records could not be read");
        unlink(p->archive);
        return rc != STORE_OK ? rc : STORE_ERROR;
    }
    return STORE_OK;
}

static void unlink_archive(const char *path)
{
    char sumf[1100];
    snprintf(sumf, sizeof sumf, "%s.sm3", path);
    unlink(path);
    unlink(sumf);
}

int audit_purge_run(store *s, struct audit_purge *p)
{
    p->from_seq = p->upto_seq = p->records = 0;
    p->why[0] = p->sm3[0] = p->anchor_hash[0] = p->cutoff[0] = 0;
    if (p->retention_days < AUDIT_RETENTION_MIN_DAYS)
        return refuse(p, "audit.retention_days is %d; it may not be below %d", p->retention_days,
                      AUDIT_RETENTION_MIN_DAYS);
    long long cutoff = (long long)(now_wall() * 1000.0) - p->retention_days * DAY_MS, before;
    char horizon[40];
    fmt_utc(cutoff, 1, horizon, sizeof horizon);
    if (p->before) {
        if (parse_time(p->before, &before) != 0)
            return refuse(p, "--before %s is not a date (YYYY-MM-DD) or an RFC 3339 time", p->before);
        if (before > cutoff)
            return refuse(p,
                          "%s is inside the retention period: audit.retention_days = %d keeps every record "
                          "from %s on",
                          p->before, p->retention_days, horizon);
        cutoff = before;
    }
    fmt_utc(cutoff, 1, p->cutoff, sizeof p->cutoff);

    /* never destroy evidence: the chain must be intact before anything goes */
    struct audit_report rep;
    int rc = audit_verify(s, &rep);
    if (rc < 0) return snprintf(p->why, sizeof p->why, "the audit log could not be read"), rc;
    if (rc == 1)
        return refuse(p, "the audit chain is broken at record %lld (%s); investigate before purging",
                      rep.broken_seq, rep.reason);
    long long anchor, first_kept = 0, head = 0;
    char anchor_hash[65];
    if ((rc = audit_anchor(s, &anchor, anchor_hash)) != STORE_OK ||
        (rc = store_tx(s, 0, head_tx, &head)) != STORE_OK)
        return snprintf(p->why, sizeof p->why, "the audit log could not be read"), rc;
    /* the purged piece ends before the first record at or after the cut-off */
    struct audit_filter newer = {.from = p->cutoff, .after_seq = anchor, .limit = 1};
    rc = audit_search(s, &newer, first_seq_row, &first_kept);
    if (rc < 0) return snprintf(p->why, sizeof p->why, "the audit log could not be read"), rc;
    p->upto_seq = first_kept ? first_kept - 1 : head;
    if (p->upto_seq <= anchor) return 1;
    p->from_seq = anchor + 1;
    p->records = p->upto_seq - anchor;

    long long rows = 0;
    if ((rc = write_archive(s, p, anchor, &rows)) != STORE_OK) return rc;
    /* read back what is on disk: exactly these records, chained to the anchor, all old */
    struct audit_archive_info info;
    int vr = audit_archive_verify(p->archive, &info);
    if (vr != 0 || rows != p->records || info.first_seq != p->from_seq || info.last_seq != p->upto_seq ||
        info.records != p->records || strcmp(info.first_prev, anchor_hash) != 0 || info.newest_ms >= cutoff) {
        snprintf(p->why, sizeof p->why,
                 "the archive %s did not check out after writing (%s); nothing was purged", p->archive,
                 vr ? info.why : "records, range or times differ from the database");
        unlink_archive(p->archive);
        return STORE_ERROR;
    }
    snprintf(p->anchor_hash, sizeof p->anchor_hash, "%s", info.last_hash);

    json_t *d =
        json_pack("{s:I, s:I, s:I, s:s, s:i, s:s, s:s}", "from_seq", (json_int_t)p->from_seq, "to_seq",
                  (json_int_t)p->upto_seq, "records", (json_int_t)p->records, "cutoff", p->cutoff,
                  "retention_days", p->retention_days, "sm3", p->sm3, "anchor_hash", p->anchor_hash);
    char *details = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(d);
    if (!details) {
        unlink_archive(p->archive);
        return snprintf(p->why, sizeof p->why, "out of memory"), STORE_ERROR;
    }
    struct purge_tx_arg a = {p, anchor, details, 0};
    rc = store_tx(s, 1, purge_tx, &a);
    free(details);
    if (rc != STORE_OK) {
        if (a.conflict) { /* rolled back for certain */
            unlink_archive(p->archive);
            return refuse(
                p, "the records changed while they were archived (another purge?); nothing was purged");
        }
        /* a failed commit's outcome is not certain: keep the archive */
        snprintf(p->why, sizeof p->why, "the purge transaction failed; the archive %s was kept", p->archive);
        return rc;
    }
    return 0;
}
