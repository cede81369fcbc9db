/*
 * handlers.c — GET /api/v1/admin/calendar/{year}: what `ehall calendar show YEAR` prints,
 * as JSON, for the administration console.  The month counts are computed here from the
 * rows read (Monday to Friday, minus holidays, plus working weekends), so the answer is
 * the database's state at this instant, not a cached calendar's.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "calendar/calendar.h"
#include "calendar/handlers.h"
#include "store/store.h"

struct year_read {
    int year, found;
    json_t *info;            /* source, sm3, imported_at */
    json_t *days;            /* [{day, weekday, kind, name}] */
    unsigned char kind[366]; /* per day of the year: 0 rule, 1 holiday, 2 workday */
    int first;               /* the year's 1 January as a date */
};

static int read_tx(store_conn *c, void *arg)
{
    struct year_read *y = arg;
    store_stmt *st = store_prepare(c, "SELECT source, sm3, imported_at FROM calendar_year WHERE year = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, y->year);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        const char *src = store_column_text(st, 0);
        y->found = 1;
        y->info = json_pack("{s:s?, s:s, s:s}", "source", src, "sm3", store_column_text(st, 1), "imported_at",
                            store_column_text(st, 2));
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return STORE_ERROR;
    st = store_prepare(c, "SELECT day, kind, name FROM calendar_day WHERE year = $1 ORDER BY day");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, y->year);
    json_array_clear(y->days);
    memset(y->kind, 0, sizeof y->kind);
    while ((rc = store_step(st)) == STORE_ROW) {
        const char *day = store_column_text(st, 0), *kind = store_column_text(st, 1);
        const char *name = store_column_text(st, 2);
        int date;
        if (!day || !kind || calendar_date_parse(day, &date) != 0) continue;
        int holiday = strcmp(kind, "holiday") == 0;
        if (date >= y->first && date - y->first < 366) y->kind[date - y->first] = holiday ? 1 : 2;
        json_array_append_new(y->days, json_pack("{s:s, s:i, s:s, s:s?}", "day", day, "weekday",
                                                 calendar_weekday(date), "kind",
                                                 holiday ? "holiday" : "workday", "name", name));
    }
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : STORE_ERROR;
}

int calendar_api_year(http_req *r)
{
    const char *text = http_req_param(r, "year");
    int year = 0;
    size_t n = text ? strlen(text) : 0;
    int ok = n == 4;
    for (size_t i = 0; ok && i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            ok = 0;
        else
            year = year * 10 + (text[i] - '0');
    }
    if (!ok || year < CALENDAR_YEAR_MIN || year > CALENDAR_YEAR_MAX)
        return http_reply_error(r, 404, "not_found", "the year must be four digits, 1000 to 9999", NULL);
    struct app *app = http_req_app(r);
    struct year_read y = {.year = year, .days = json_array()};
    calendar_date_from_ymd(year, 1, 1, &y.first);
    if (store_tx(app->db, 0, read_tx, &y) != STORE_OK) {
        json_decref(y.days);
        json_decref(y.info);
        return http_reply_error(r, 503, "unavailable", "the calendar could not be read; try again shortly",
                                NULL);
    }
    json_t *months = json_array();
    int total = 0;
    for (int m = 1; m <= 12; m++) {
        int from, to;
        calendar_date_from_ymd(year, m, 1, &from);
        if (m < 12)
            calendar_date_from_ymd(year, m + 1, 1, &to);
        else
            to = from + 31;
        int working = 0;
        for (int d = from; d < to; d++) {
            int k = y.kind[d - y.first];
            working += k == 2 || (k == 0 && calendar_weekday(d) <= 5);
        }
        total += working;
        json_array_append_new(
            months, json_pack("{s:i, s:i, s:i}", "month", m, "days", to - from, "working_days", working));
    }
    json_t *out = json_pack("{s:i, s:b, s:o, s:o, s:i}", "year", year, "imported", y.found, "days", y.days,
                            "months", months, "working_days", total);
    if (y.info)
        json_object_update(out, y.info);
    else
        json_object_set_new(out, "source", json_null());
    json_decref(y.info);
    return http_reply_json(r, 200, out);
}
