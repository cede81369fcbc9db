/*
 * analytics.c — recording page views and summarising them.
 *
 * A page view is {path, referrer?, dwell_ms?, visit?}: `visit` is an opaque id the
 * browser keeps for one visit (so pages per visit can be counted without a login).
 * The client address and user agent come from the request, not the body.  Every field
 * is validated and each problem is reported by name; nothing is stored unless all of
 * them pass.
 */
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics.h"
#include "api/api.h"
#include "api/input.h"
#include "core/core.h"

struct view {
    const char *at, *client, *visit, *path, *referrer, *agent;
    long long dwell_ms;
    long long id;
};

static int insert_view(store_conn *c, void *arg)
{
    struct view *v = arg;
    store_stmt *st =
        store_prepare(c, "INSERT INTO page_view(at, day, client, visit, path, referrer, dwell_ms, user_agent)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id");
    if (!st) return STORE_ERROR;
    char day[11];
    memcpy(day, v->at, 10);
    day[10] = 0;
    store_bind_text(st, 1, v->at);
    store_bind_text(st, 2, day);
    store_bind_text(st, 3, v->client);
    store_bind_text(st, 4, v->visit);
    store_bind_text(st, 5, v->path);
    store_bind_text(st, 6, v->referrer);
    if (v->dwell_ms >= 0)
        store_bind_int64(st, 7, v->dwell_ms);
    else
        store_bind_null(st, 7);
    store_bind_text(st, 8, v->agent);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        v->id = store_column_int64(st, 0);
        rc = STORE_OK;
    } else if (rc == STORE_DONE) {
        rc = STORE_ERROR;
    }
    store_finalize(st);
    return rc;
}

int analytics_record_view(http_req *r)
{
    static const char *known[] = {"path", "referrer", "dwell_ms", "visit", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    struct view v = {0};
    v.path = input_str(&in, "path", 1, 1, 512);
    if (v.path && v.path[0] != '/') input_error(&in, "path", "must start with /");
    v.referrer = input_str(&in, "referrer", 0, 0, 1024);
    v.visit = input_str(&in, "visit", 0, 0, 64);
    v.dwell_ms = input_int(&in, "dwell_ms", 0, 0, 86400000, -1);
    if (input_done(&in) != 0) return 0;

    char at[48];
    time_rfc3339(now_wall(), at, sizeof at);
    v.at = at;
    v.client = http_req_client(r);
    const char *ua = http_req_header(r, "User-Agent");
    v.agent = ua ? arena_strndup(http_req_arena(r), ua, strlen(ua) > 512 ? 512 : strlen(ua)) : NULL;
    struct app *app = http_req_app(r);
    int rc = store_tx(app->db, 1, insert_view, &v);
    if (rc != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "the view could not be recorded; retry", NULL);
    return http_reply_json(r, 201, json_pack("{s:I, s:s}", "id", (json_int_t)v.id, "at", at));
}

static int valid_day(const char *s)
{
    /* YYYY-MM-DD with plausible ranges; the string compares correctly as text */
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap);
}

struct summary_q {
    const char *from, *to;
    json_t *out;
};

static int read_summary(store_conn *c, void *arg)
{
    struct summary_q *q = arg;
    store_stmt *st = store_prepare(c, "SELECT COUNT(*), COUNT(DISTINCT client), COUNT(DISTINCT visit),"
                                      " COALESCE(SUM(dwell_ms) / NULLIF(COUNT(dwell_ms), 0), 0), COUNT(visit)"
                                      " FROM page_view WHERE day >= $1 AND day <= $2");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, q->from);
    store_bind_text(st, 2, q->to);
    int rc = store_step(st);
    if (rc != STORE_ROW) {
        store_finalize(st);
        return rc == STORE_DONE ? STORE_ERROR : rc;
    }
    long long views = store_column_int64(st, 0), visitors = store_column_int64(st, 1),
              visits = store_column_int64(st, 2), dwell = store_column_int64(st, 3),
              views_in_visits = store_column_int64(st, 4);
    store_finalize(st);
    json_t *days = json_array(), *paths = json_array();
    st = store_prepare(c, "SELECT day, COUNT(*), COUNT(DISTINCT client) FROM page_view"
                          " WHERE day >= $1 AND day <= $2 GROUP BY day ORDER BY day");
    if (!st) goto fail;
    store_bind_text(st, 1, q->from);
    store_bind_text(st, 2, q->to);
    while ((rc = store_step(st)) == STORE_ROW)
        json_array_append_new(days, json_pack("{s:s, s:I, s:I}", "day", store_column_text(st, 0), "views",
                                              (json_int_t)store_column_int64(st, 1), "visitors",
                                              (json_int_t)store_column_int64(st, 2)));
    store_finalize(st);
    if (rc != STORE_DONE) goto fail;
    st = store_prepare(c, "SELECT path, COUNT(*) AS n FROM page_view WHERE day >= $1 AND day <= $2"
                          " GROUP BY path ORDER BY n DESC, path LIMIT 10");
    if (!st) goto fail;
    store_bind_text(st, 1, q->from);
    store_bind_text(st, 2, q->to);
    while ((rc = store_step(st)) == STORE_ROW)
        json_array_append_new(paths, json_pack("{s:s, s:I}", "path", store_column_text(st, 0), "views",
                                               (json_int_t)store_column_int64(st, 1)));
    store_finalize(st);
    if (rc != STORE_DONE) goto fail;
    q->out =
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:o, s:o}", "from", q->from, "to", q->to, "views",
                  (json_int_t)views, "visitors", (json_int_t)visitors, "visits", (json_int_t)visits,
                  "avg_dwell_ms", (json_int_t)dwell, "pages_per_visit",
                  visits ? (double)views_in_visits / (double)visits : 0.0, "days", days, "top_paths", paths);
    return q->out ? STORE_OK : STORE_ERROR;
fail:
    json_decref(days);
    json_decref(paths);
    return rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
}

int analytics_summary(http_req *r)
{
    struct summary_q q = {http_req_query(r, "from"), http_req_query(r, "to"), NULL};
    json_t *errors = json_array();
    if (!valid_day(q.from))
        json_array_append_new(errors, http_field_error("from", "must be a date YYYY-MM-DD"));
    if (!valid_day(q.to)) json_array_append_new(errors, http_field_error("to", "must be a date YYYY-MM-DD"));
    if (json_array_size(errors) == 0 && strcmp(q.from, q.to) > 0)
        json_array_append_new(errors, http_field_error("to", "must not be before from"));
    if (json_array_size(errors) > 0)
        return http_reply_error(r, 400, "invalid_query", "the date range is not valid", errors);
    json_decref(errors);
    struct app *app = http_req_app(r);
    if (store_tx(app->db, 0, read_summary, &q) != STORE_OK)
        return http_reply_error(r, 503, "unavailable", "the summary could not be read; retry", NULL);
    return http_reply_json(r, 200, q.out);
}
