/*
 * import.c — checking and storing a year's holiday arrangement (calendar.h).
 *
 * The file:
 *   {"year": 2026, "source": "国务院办公厅关于2026年部分节假日安排的通知",
 *    "holidays": [{"name": "元旦", "days": ["2026-01-01", …]}, …],
 *    "workdays": [{"name": "元旦调休", "days": ["2026-01-04"]}, …]}
 * Every problem is reported with its JSON path before anything is stored: a day that
 * is not a date or not in the year, a day listed twice or as both a holiday and a
 * workday, a "workday" that is Monday to Friday anyway, a missing or mistyped field,
 * an unknown key.  An import replaces the year's rows and its calendar_year row in
 * one transaction, so readers see the old year or the new one, never a mixture.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar/calendar.h"
#include "core/core.h"
#include "core/metrics.h"

#define NAME_MAX_BYTES 200

struct day_entry {
    int set;
    int holiday; /* 1 holiday, 0 workday */
    const char *name;
    char path[64];
};

struct parsed {
    int year, jan1, ndays, problems;
    const char *source;
    struct day_entry days[366];
    struct calendar_import_result *res;
    struct strbuf *out;
};

static void problem(struct parsed *p, const char *path, const char *msg)
{
    p->problems++;
    sb_printf(p->out, "%s: %s\n", path, msg);
}

static const char *WEEKDAYS[] = {"",         "Monday", "Tuesday",  "Wednesday",
                                 "Thursday", "Friday", "Saturday", "Sunday"};

static void check_list(struct parsed *p, json_t *root, const char *key, int holiday)
{
    json_t *list = json_object_get(root, key);
    if (!list) {
        if (holiday) problem(p, key, "missing (a list of {\"name\", \"days\"})");
        return;
    }
    if (!json_is_array(list)) {
        problem(p, key, "not a list");
        return;
    }
    size_t i, j;
    json_t *group, *day;
    json_array_foreach(list, i, group)
    {
        char gpath[48], path[64];
        snprintf(gpath, sizeof gpath, "%s[%zu]", key, i);
        if (!json_is_object(group)) {
            problem(p, gpath, "not an object with \"name\" and \"days\"");
            continue;
        }
        const char *k;
        json_t *v;
        json_object_foreach(group, k, v)
        {
            if (strcmp(k, "name") != 0 && strcmp(k, "days") != 0) {
                snprintf(path, sizeof path, "%s.%.20s", gpath, k);
                problem(p, path, "unknown key");
            }
        }
        json_t *name = json_object_get(group, "name");
        snprintf(path, sizeof path, "%s.name", gpath);
        if (!json_is_string(name) || !json_string_length(name))
            problem(p, path, name ? "not a non-empty string" : "missing");
        else if (json_string_length(name) > NAME_MAX_BYTES)
            problem(p, path, "longer than 200 bytes");
        json_t *days = json_object_get(group, "days");
        snprintf(path, sizeof path, "%s.days", gpath);
        if (!json_is_array(days) || !json_array_size(days)) {
            problem(p, path, days ? "not a non-empty list of dates" : "missing");
            continue;
        }
        json_array_foreach(days, j, day)
        {
            snprintf(path, sizeof path, "%s.days[%zu]", gpath, j);
            int date;
            if (!json_is_string(day) || calendar_date_parse(json_string_value(day), &date) != 0) {
                problem(p, path, "not a date (YYYY-MM-DD)");
                continue;
            }
            if (!p->year) continue; /* no valid year to check against */
            int idx = date - p->jan1;
            char msg[200];
            if (idx < 0 || idx >= p->ndays) {
                snprintf(msg, sizeof msg, "not in the year %d", p->year);
                problem(p, path, msg);
                continue;
            }
            struct day_entry *e = &p->days[idx];
            if (e->set) {
                snprintf(msg, sizeof msg, "%s %s",
                         e->holiday == holiday ? "listed twice, first at"
                                               : "both a holiday and a workday, see",
                         e->path);
                problem(p, path, msg);
                continue;
            }
            int wd = calendar_weekday(date);
            if (!holiday && wd <= 5) {
                snprintf(msg, sizeof msg,
                         "a %s, a working day anyway (workdays are weekend days made into working days)",
                         WEEKDAYS[wd]);
                problem(p, path, msg);
                continue;
            }
            e->set = 1;
            e->holiday = holiday;
            e->name = json_string_value(name);
            snprintf(e->path, sizeof e->path, "%s", path);
            if (holiday)
                p->res->holidays++;
            else
                p->res->workdays++;
        }
    }
}

/* Parses and checks; p->problems counts what is wrong.  Returns the JSON (caller
 * decrefs; the names in p->days point into it) or NULL when the text is not JSON. */
static json_t *check(struct parsed *p, const char *text, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char msg[300];
        snprintf(msg, sizeof msg, "not JSON (line %d, column %d: %s)", je.line, je.column, je.text);
        problem(p, "$", msg);
        return NULL;
    }
    if (!json_is_object(root)) {
        problem(p, "$", "not a JSON object");
        return root;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (strcmp(k, "year") && strcmp(k, "source") && strcmp(k, "holidays") && strcmp(k, "workdays")) {
            char path[48];
            snprintf(path, sizeof path, "%.40s", k);
            problem(p, path, "unknown key");
        }
    }
    json_t *year = json_object_get(root, "year");
    if (!year) {
        problem(p, "year", "missing");
    } else if (!json_is_integer(year) || json_integer_value(year) < CALENDAR_YEAR_MIN ||
               json_integer_value(year) > CALENDAR_YEAR_MAX) {
        problem(p, "year", "not a year (an integer from 1000 to 9999)");
    } else {
        p->year = (int)json_integer_value(year);
        calendar_date_from_ymd(p->year, 1, 1, &p->jan1);
        int next;
        if (p->year < CALENDAR_YEAR_MAX)
            calendar_date_from_ymd(p->year + 1, 1, 1, &next);
        else
            next = p->jan1 + 365;
        p->ndays = next - p->jan1;
    }
    json_t *source = json_object_get(root, "source");
    if (source && !json_is_string(source))
        problem(p, "source", "not a string");
    else if (source && json_string_length(source) >= sizeof p->res->source)
        problem(p, "source", "longer than 511 bytes");
    else if (source)
        p->source = json_string_value(source);
    check_list(p, root, "holidays", 1);
    check_list(p, root, "workdays", 0);
    p->res->year = p->year;
    snprintf(p->res->source, sizeof p->res->source, "%s", p->source ? p->source : "");
    return root;
}

int calendar_validate_text(const char *text, size_t len, struct calendar_import_result *res,
                           struct strbuf *problems)
{
    memset(res, 0, sizeof *res);
    struct parsed *p = calloc(1, sizeof *p);
    if (!p) return -1;
    p->res = res;
    p->out = problems;
    json_t *root = check(p, text, len);
    int n = p->problems;
    json_decref(root);
    free(p);
    return n ? 1 : 0;
}

struct store_arg {
    struct parsed *p;
    const char *sm3;
};

static int import_tx(store_conn *c, void *arg)
{
    struct store_arg *a = arg;
    struct parsed *p = a->p;
    store_stmt *st = store_prepare(c, "DELETE FROM calendar_day WHERE year = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->year);
    int rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
    for (int i = 0; i < p->ndays; i++) {
        if (!p->days[i].set) continue;
        char day[11];
        calendar_date_format(p->jan1 + i, day);
        st = store_prepare(c, "INSERT INTO calendar_day(day, kind, name, year) VALUES ($1, $2, $3, $4)");
        if (!st) return STORE_ERROR;
        store_bind_text(st, 1, day);
        store_bind_text(st, 2, p->days[i].holiday ? "holiday" : "workday");
        store_bind_text(st, 3, p->days[i].name);
        store_bind_int64(st, 4, p->year);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
    }
    st = store_prepare(c, "DELETE FROM calendar_year WHERE year = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->year);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    st =
        store_prepare(c, "INSERT INTO calendar_year(year, source, sm3, imported_at) VALUES ($1, $2, $3, $4)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, p->year);
    if (p->source)
        store_bind_text(st, 2, p->source);
    else
        store_bind_null(st, 2);
    store_bind_text(st, 3, a->sm3);
    store_bind_text(st, 4, ts);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
    return STORE_OK;
}

int calendar_import_text(store *s, const char *text, size_t len, const char *sm3_hex,
                         struct calendar_import_result *res, struct strbuf *problems)
{
    memset(res, 0, sizeof *res);
    struct parsed *p = calloc(1, sizeof *p);
    if (!p) return STORE_ERROR;
    p->res = res;
    p->out = problems;
    json_t *root = check(p, text, len);
    int rc = 1;
    if (!p->problems) {
        struct store_arg a = {p, sm3_hex};
        rc = store_tx(s, 1, import_tx, &a);
        if (rc != STORE_OK) sb_printf(problems, "$: the database refused the import (%d)\n", rc);
    }
    json_decref(root);
    free(p);
    return rc;
}
