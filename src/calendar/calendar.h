/*
 * calendar — the working-day calendar: which days are working days, and deadlines
 * counted in them.
 *
 * The rule is Monday to Friday work, Saturday and Sunday off.  Each year the State
 * Council publishes the exceptions: holidays (some of them weekdays) and weekend days
 * made into working days (调休).  Those exceptions are imported per year from a JSON
 * file (`ehall calendar import FILE`, format in docs/operations.md) into the
 * calendar_day and calendar_year tables; a year never imported follows the bare rule,
 * and calendar_has_year() lets the caller warn about it.
 *
 * Dates are days since 1970-01-01 (int; earlier dates are negative), years 1000 to
 * 9999.  Text is YYYY-MM-DD exactly, checked strictly (2026-02-30 is refused).
 *
 * Counting.  The day an item is accepted does not count: as in Chinese government
 * practice, working days (工作日) are counted from the day after acceptance, so the
 * deadline of an item accepted on D with a limit of N working days is the Nth working
 * day after D (D itself for N = 0).  calendar_working_days_between(a, b) counts the
 * working days d with a < d <= b, so between(D, add(D, N)) == N.
 *
 * Caching.  A calendar keeps each year it has read as a pair of bitmaps.  Several
 * server processes may share one database, and any of them (or the CLI) may re-import
 * a year: a cached year is trusted for `ttl` seconds (default 5), then the year's SM3
 * in calendar_year is read again and the days re-read when it changed.  Every function
 * is thread-safe.  When the store cannot be read, a year read before is used as it
 * was, and a year never read is treated as missing for that call (a warning is logged
 * either way); the read is tried again on the next call.
 */
#ifndef EHALL_CALENDAR_H
#define EHALL_CALENDAR_H

#include <stddef.h>

#include "store/store.h"

#define CALENDAR_YEAR_MIN 1000
#define CALENDAR_YEAR_MAX 9999

/* ---- dates ---- */

/* Strict YYYY-MM-DD; 0 and *out set, or -1. */
int calendar_date_parse(const char *s, int *out);
/* Writes YYYY-MM-DD (out needs 11 bytes). */
void calendar_date_format(int date, char out[11]);
/* 0 and *out set when y-m-d is a real date in range, -1 otherwise. */
int calendar_date_from_ymd(int y, int m, int d, int *out);
void calendar_date_ymd(int date, int *y, int *m, int *d);
/* ISO weekday: 1 = Monday … 7 = Sunday. */
int calendar_weekday(int date);
/* Today's date in the process's local time zone. */
int calendar_today(void);

/* ---- the calendar ---- */

typedef struct calendar calendar;

/* A calendar reading from s (NULL: the weekend rule alone, every year missing). */
calendar *calendar_new(store *s);
void calendar_free(calendar *cal);
/* How long a cached year is trusted before its SM3 is checked again (0: every call). */
void calendar_set_ttl(calendar *cal, double seconds);
/* Forget every cached year (after an import in this process). */
void calendar_invalidate(calendar *cal);

/* 1 when the year was imported, 0 when not, -1 when the store could not be read. */
int calendar_has_year(calendar *cal, int year);
/* 1 working day, 0 day off. */
int calendar_is_working_day(calendar *cal, int date);
/* The nth working day after date (n >= 0; date itself for 0): 0 and *out, or -1 when
 * n is negative or the result would fall beyond year 9999. */
int calendar_add_working_days(calendar *cal, int date, int n, int *out);
/* Working days d with a < d <= b; negative (-(b, a]) when b < a. */
int calendar_working_days_between(calendar *cal, int a, int b);

/* ---- deadlines ---- */

enum calendar_status { CALENDAR_ON_TIME, CALENDAR_NEAR_DUE, CALENDAR_OVERDUE };

struct calendar_deadline {
    int due;                     /* the last day allowed: add_working_days(accepted, limit) */
    enum calendar_status status; /* see calendar_deadline() */
    int remaining;               /* working days in (today, due]; 0 when overdue */
    int over;                    /* working days in (due, today]; 0 unless overdue */
    int missing_year;            /* first year between accepted and max(due, today) not
                                    imported (computed on the weekend rule), else 0 */
};

/* Status of an item accepted on `accepted` with a limit of `limit` working days, as of
 * `today`: overdue when today is after the due date (over may be 0 on the days off
 * straight after it), near-due when at most near_days working days remain (the due
 * date itself included: remaining 0), otherwise on time.  0, or -1 on bad arguments
 * (negative limit or near_days, out of range). */
int calendar_deadline(calendar *cal, int accepted, int limit, int today, int near_days,
                      struct calendar_deadline *out);
/* "on_time", "near_due", "overdue". */
const char *calendar_status_name(enum calendar_status st);

/* ---- import (import.c) ---- */

struct strbuf;

/* Check a year's file (text, as read) and, when every check passes, replace that
 * year's rows in one transaction and record the file's SM3 (sm3_hex) in calendar_year.
 * Each problem is appended to problems as one line "PATH: what is wrong" (the root is
 * "$").  Returns 0 when imported (*year set, and *holidays / *workdays counted), 1 when
 * the file was refused (problems says why; nothing stored), STORE_* < 0 when the store
 * failed (problems says so). */
struct calendar_import_result {
    int year;
    int holidays, workdays;
    char source[512];
};
int calendar_import_text(store *s, const char *text, size_t len, const char *sm3_hex,
                         struct calendar_import_result *res, struct strbuf *problems);
/* Only the checks, nothing stored: 0 valid, 1 refused. */
int calendar_validate_text(const char *text, size_t len, struct calendar_import_result *res,
                           struct strbuf *problems);

#endif
