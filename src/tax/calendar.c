/*
 * calendar.c — tax periods, filing deadlines, outstanding filings and the reminders
 * (催报 before the deadline, 催缴 after it).
 *
 * The deadline rule (docs/tax.md): the 15th (the calendar parameter set's deadline_day)
 * of the month after the period; within the 1st..15th, every run of three or more
 * consecutive days off extends it by the run's length in days (a run that began the
 * month before counts from the 1st); a deadline that then falls on a day off moves to
 * the next working day.  That is 征管法实施细则 §109 ("期限的最后一日是法定休假日的，以
 * 休假日期满的次日为期限的最后一日；在期限内有连续3日以上法定休假日的，按休假日天数顺延")
 * read with the working-day calendar; a month the STA published differently can be
 * pinned in the calendar set's deadline_overrides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "calendar/calendar.h"
#include "core/core.h"
#include "engine/inbox.h"
#include "tax/internal.h"

int tax_period_parse(const char *s, struct tax_period *out)
{
    memset(out, 0, sizeof *out);
    if (!s) return -1;
    size_t n = strlen(s);
    int y, i;
    char tail;
    if (n == 7 && s[4] == '-' && sscanf(s, "%4d-%2d%c", &y, &i, &tail) == 2 && i >= 1 && i <= 12) {
        out->quarterly = 0;
    } else if (n == 6 && s[4] == 'Q' && sscanf(s, "%4dQ%1d%c", &y, &i, &tail) == 2 && i >= 1 && i <= 4) {
        out->quarterly = 1;
    } else {
        return -1;
    }
    for (size_t k = 0; k < 4; k++)
        if (s[k] < '0' || s[k] > '9') return -1;
    if (y < 2000 || y > 2999) return -1;
    out->year = y;
    out->index = i;
    int m0 = out->quarterly ? (i - 1) * 3 + 1 : i, m1 = out->quarterly ? m0 + 2 : m0;
    calendar_date_from_ymd(y, m0, 1, &out->start);
    int next;
    if (m1 == 12)
        calendar_date_from_ymd(y + 1, 1, 1, &next);
    else
        calendar_date_from_ymd(y, m1 + 1, 1, &next);
    out->end = next - 1;
    if (out->quarterly)
        snprintf(out->text, sizeof out->text, "%04dQ%d", y, i);
    else
        snprintf(out->text, sizeof out->text, "%04d-%02d", y, i);
    return 0;
}

void tax_period_of(int date, int quarterly, struct tax_period *out)
{
    int y, m, d;
    calendar_date_ymd(date, &y, &m, &d);
    char b[12];
    if (quarterly)
        snprintf(b, sizeof b, "%04dQ%d", y, (m - 1) / 3 + 1);
    else
        snprintf(b, sizeof b, "%04d-%02d", y, m);
    tax_period_parse(b, out);
}

void tax_period_next(const struct tax_period *p, struct tax_period *out)
{
    tax_period_of(p->end + 1, p->quarterly, out);
}

int tax_deadline(calendar *cal, const struct tax_period *p, int day, json_t *overrides)
{
    int y, m, d;
    calendar_date_ymd(p->end + 1, &y, &m, &d); /* the month after the period */
    char key[8];
    snprintf(key, sizeof key, "%04d-%02d", y, m);
    int pinned;
    const char *o = json_string_value(json_object_get(overrides, key));
    if (o && calendar_date_parse(o, &pinned) == 0) return pinned;
    int first = p->end + 1, last = first + day - 1;
    int extend = 0, run = 0;
    for (int x = first; x <= last + 1; x++) {
        int off = x <= last && !calendar_is_working_day(cal, x);
        if (off) {
            run++;
        } else {
            if (run >= 3) extend += run;
            run = 0;
        }
    }
    int due = last + extend;
    while (!calendar_is_working_day(cal, due)) due++;
    return due;
}

/* ---------- outstanding filings and reminders ---------- */

struct remind_arg {
    int today;
    int sent;
    calendar *cal;
};

struct due_row {
    long long taxpayer;
    char tax[8], period[12];
    int quarterly;
    int since;
    char office[65];
};

/* The accounts that hear about a taxpayer's filings: the person, or the enterprise's
 * members who may file (and its administrator). */
static int recipients(store_conn *c, long long taxpayer, long long *ids, int max, int *n)
{
    *n = 0;
    store_stmt *st = store_prepare(
        c, "SELECT a.id FROM taxpayer t JOIN account a ON a.id_number_bidx = t.id_number_bidx"
           " WHERE t.id = $1 AND t.kind = 'person' AND a.kind = 'person' AND a.status = 'active'"
           " UNION SELECT m.account_id FROM taxpayer t JOIN enterprise e ON e.uscc = t.uscc"
           " JOIN enterprise_member m ON m.enterprise_id = e.id JOIN account a ON a.id = m.account_id"
           " WHERE t.id = $1 AND a.status = 'active' AND (m.admin = 1 OR m.perms LIKE '%,ent.file,%')");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, taxpayer);
    int rc;
    while ((rc = store_step(st)) == STORE_ROW)
        if (*n < max) ids[(*n)++] = store_column_int64(st, 0);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc < 0 ? rc : STORE_ERROR;
}

static int filed(store_conn *c, long long taxpayer, const char *tax, const char *period, int *yes)
{
    store_stmt *st = store_prepare(c, "SELECT 1 FROM tax_declaration WHERE taxpayer_id = $1 AND tax = $2"
                                      " AND period = $3 AND current = 1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, taxpayer);
    store_bind_text(st, 2, tax);
    store_bind_text(st, 3, period);
    int rc = store_step(st);
    store_finalize(st);
    *yes = rc == STORE_ROW;
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}

/* One notice, once: 1 sent, 0 sent before, < 0 error. */
static int notify_once(store_conn *c, const struct due_row *d, const char *kind, int deadline)
{
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    long long ids[64];
    int n = 0;
    int rc = recipients(c, d->taxpayer, ids, 64, &n);
    if (rc != STORE_OK) return rc;
    store_stmt *st = store_prepare(c, "SELECT 1 FROM tax_reminder WHERE taxpayer_id = $1 AND tax = $2"
                                      " AND period = $3 AND kind = $4");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, d->taxpayer);
    store_bind_text(st, 2, d->tax);
    store_bind_text(st, 3, d->period);
    store_bind_text(st, 4, kind);
    rc = store_step(st);
    store_finalize(st);
    if (rc == STORE_ROW) return 0; /* sent before */
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    st = store_prepare(c, "INSERT INTO tax_reminder(taxpayer_id, tax, period, kind, sent_at, recipients)"
                          " VALUES ($1, $2, $3, $4, $5, $6)");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, d->taxpayer);
    store_bind_text(st, 2, d->tax);
    store_bind_text(st, 3, d->period);
    store_bind_text(st, 4, kind);
    store_bind_text(st, 5, ts);
    store_bind_int64(st, 6, n);
    rc = store_step(st);
    store_finalize(st);
    /* another process sent it this very moment: run the whole round again */
    if (rc == STORE_CONSTRAINT) return STORE_BUSY;
    if (rc != STORE_DONE) return rc < 0 ? rc : STORE_ERROR;
    char due[11], title[200], body[600];
    calendar_date_format(deadline, due);
    const char *tname = !strcmp(d->tax, "vat")   ? "增值税 VAT"
                        : !strcmp(d->tax, "cit") ? "企业所得税 CIT"
                                                 : "个人所得税 IIT";
    if (!strcmp(kind, "cuibao")) {
        snprintf(title, sizeof title, "催报：%s %s 申报期限 %s", tname, d->period, due);
        snprintf(body, sizeof body,
                 "您的%s（所属期 %s）尚未申报，申报期限为 %s，请按时申报。Filing reminder: %s for %s is due "
                 "on %s.",
                 tname, d->period, due, tname, d->period, due);
    } else {
        snprintf(title, sizeof title, "催缴：%s %s 已逾期", tname, d->period);
        snprintf(body, sizeof body,
                 "您的%s（所属期 %s）申报期限 %s 已过，尚未申报缴纳，请尽快办理。Overdue: %s for %s was due "
                 "on %s.",
                 tname, d->period, due, tname, d->period, due);
    }
    for (int i = 0; i < n; i++) {
        rc = inbox_notify(c, ids[i], 0, !strcmp(kind, "cuibao") ? "tax.cuibao" : "tax.cuijiao", title, body,
                          1);
        if (rc != STORE_OK) return rc;
    }
    return 1;
}

int tax_calendar_params(store_conn *c, int date, int *day, int *near, json_t **overrides)
{
    *day = 15;
    *near = 3;
    *overrides = NULL;
    json_t *p = NULL;
    int rc = tax_params_in_force(c, "calendar", date, date, &p);
    if (rc == STORE_DONE) return STORE_OK;
    if (rc != STORE_OK) return rc;
    *day = (int)json_integer_value(json_object_get(p, "deadline_day"));
    *near = (int)json_integer_value(json_object_get(p, "remind_working_days"));
    *overrides = json_incref(json_object_get(p, "deadline_overrides"));
    json_decref(p);
    return STORE_OK;
}

static int remind_tx(store_conn *c, void *arg)
{
    struct remind_arg *a = arg;
    a->sent = 0;
    int day = 15, near = 3;
    json_t *overrides = NULL;
    int rc = tax_calendar_params(c, a->today, &day, &near, &overrides);
    if (rc != STORE_OK) return rc;
    /* every registration; the periods from max(since, 13 months ago) that have ended */
    store_stmt *st =
        store_prepare(c, "SELECT r.taxpayer_id, r.tax, r.period, r.since, t.office FROM tax_registration r"
                         " JOIN taxpayer t ON t.id = r.taxpayer_id WHERE t.status = 'normal' ORDER BY 1, 2");
    if (!st) {
        json_decref(overrides);
        return STORE_ERROR;
    }
    struct due_row *rows = NULL;
    int n = 0, cap = 0;
    while ((rc = store_step(st)) == STORE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct due_row *g = realloc(rows, (size_t)cap * sizeof *rows);
            if (!g) break;
            rows = g;
        }
        struct due_row *d = &rows[n++];
        memset(d, 0, sizeof *d);
        d->taxpayer = store_column_int64(st, 0);
        snprintf(d->tax, sizeof d->tax, "%s", store_column_text(st, 1));
        d->quarterly = !strcmp(store_column_text(st, 2), "quarterly");
        if (calendar_date_parse(store_column_text(st, 3), &d->since) != 0) d->since = a->today;
        snprintf(d->office, sizeof d->office, "%s", store_column_text(st, 4));
    }
    store_finalize(st);
    rc = rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
    for (int i = 0; rc == STORE_OK && i < n; i++) {
        struct tax_period p;
        int from = rows[i].since > a->today - 400 ? rows[i].since : a->today - 400;
        tax_period_of(from, rows[i].quarterly, &p);
        for (; p.end < a->today && rc == STORE_OK; tax_period_next(&p, &p)) {
            int deadline = tax_deadline(a->cal, &p, day, overrides);
            int before = calendar_working_days_between(a->cal, a->today, deadline);
            const char *kind = a->today > deadline ? "cuijiao" : before <= near ? "cuibao" : NULL;
            if (!kind) continue;
            int yes = 0;
            if ((rc = filed(c, rows[i].taxpayer, rows[i].tax, p.text, &yes)) != STORE_OK || yes) continue;
            struct due_row d = rows[i];
            snprintf(d.period, sizeof d.period, "%s", p.text);
            int s = notify_once(c, &d, kind, deadline);
            if (s < 0)
                rc = s;
            else
                a->sent += s;
        }
    }
    free(rows);
    json_decref(overrides);
    return rc;
}

static calendar *tax_cal;
void tax_set_calendar(calendar *cal) { tax_cal = cal; }
calendar *tax_calendar(void) { return tax_cal; }

int tax_remind(store *db, int today)
{
    calendar *own = NULL;
    struct remind_arg a = {today ? today : calendar_today(), 0, tax_cal};
    if (!a.cal) a.cal = own = calendar_new(db);
    int rc = store_tx(db, 1, remind_tx, &a);
    if (own) calendar_free(own);
    if (rc != STORE_OK) {
        log_warn("tax reminders failed (%d)", rc);
        return -1;
    }
    if (a.sent) log_info("tax: %d filing reminder(s) sent", a.sent);
    return a.sent;
}

void tax_keeper(store *db)
{
    static int last_day;
    int today = calendar_today();
    if (today == last_day) return;
    if (tax_remind(db, today) >= 0) last_day = today;
}
