/*
 * calendar.c — dates, the per-year cache and working-day arithmetic (calendar.h).
 *
 * A year in the cache is two bitmaps indexed by day of the year: days off that would
 * be working days by the rule, and working days that would be off.  The cache holds a
 * few years (least recently used goes first); the mutex guards only the cache, never
 * a database read, so one slow read does not hold up other threads.  Loops over days
 * take a snapshot of a year once and read it without the lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar/calendar.h"
#include "core/core.h"

/* ---- dates (H. Hinnant's days_from_civil / civil_from_days) ---- */

static int days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void calendar_date_ymd(int date, int *y, int *m, int *d)
{
    int z = date + 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

int calendar_date_from_ymd(int y, int m, int d, int *out)
{
    if (y < CALENDAR_YEAR_MIN || y > CALENDAR_YEAR_MAX || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return -1;
    *out = days_from_civil(y, m, d);
    return 0;
}

int calendar_date_parse(const char *s, int *out)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return -1;
    int v[3] = {0, 0, 0};
    const int start[] = {0, 5, 8}, len[] = {4, 2, 2};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < len[k]; i++) {
            char c = s[start[k] + i];
            if (c < '0' || c > '9') return -1;
            v[k] = v[k] * 10 + (c - '0');
        }
    return calendar_date_from_ymd(v[0], v[1], v[2], out);
}

void calendar_date_format(int date, char out[11])
{
    int y, m, d;
    calendar_date_ymd(date, &y, &m, &d);
    y %= 10000;
    if (y < 0) {
        snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
        return;
    }
    /* by hand: lists format several dates per row, and snprintf was most of it */
    out[0] = (char)('0' + y / 1000);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = '\0';
}

int calendar_weekday(int date)
{
    /* 1970-01-01 was a Thursday (4) */
    int w = (date + 3) % 7;
    if (w < 0) w += 7;
    return w + 1;
}

int calendar_today(void)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static int year_of(int date)
{
    int y, m, d;
    calendar_date_ymd(date, &y, &m, &d);
    return y;
}

/* ---- the cache ---- */

#define YEAR_BYTES  46 /* 366 bits */
#define CACHE_SLOTS 16

struct year {
    int year;
    int present; /* 1 imported, 0 not, -1 could not be read */
    char sm3[65];
    unsigned char off[YEAR_BYTES], on[YEAR_BYTES];
    int jan1; /* date of January 1st */
};

struct slot {
    struct year y;
    int used;
    double checked;
    unsigned long long touched;
};

struct calendar {
    store *s;
    double ttl;
    pthread_mutex_t mu;
    unsigned long long clock;
    struct slot slots[CACHE_SLOTS];
};

calendar *calendar_new(store *s)
{
    calendar *cal = calloc(1, sizeof *cal);
    if (!cal) return NULL;
    cal->s = s;
    cal->ttl = 5;
    pthread_mutex_init(&cal->mu, NULL);
    return cal;
}

void calendar_free(calendar *cal)
{
    if (!cal) return;
    pthread_mutex_destroy(&cal->mu);
    free(cal);
}

void calendar_set_ttl(calendar *cal, double seconds)
{
    pthread_mutex_lock(&cal->mu);
    cal->ttl = seconds < 0 ? 0 : seconds;
    pthread_mutex_unlock(&cal->mu);
}

void calendar_invalidate(calendar *cal)
{
    pthread_mutex_lock(&cal->mu);
    for (int i = 0; i < CACHE_SLOTS; i++) cal->slots[i].used = 0;
    pthread_mutex_unlock(&cal->mu);
}

struct read_arg {
    struct year *y;
    int was_present;  /* what the cache had before this read (store_tx may run the */
    char was_sm3[65]; /* function twice, so compare with these, not with y) */
    int same;         /* the stored SM3 equals the cached one: days not re-read */
};

static void set_bit(unsigned char *bits, int i) { bits[i / 8] |= (unsigned char)(1u << (i % 8)); }
static int get_bit(const unsigned char *bits, int i) { return bits[i / 8] >> (i % 8) & 1; }

/* One read transaction, so the SM3 and the days are of the same import. */
static int read_year_tx(store_conn *c, void *arg)
{
    struct read_arg *a = arg;
    struct year *y = a->y;
    store_stmt *st = store_prepare(c, "SELECT sm3 FROM calendar_year WHERE year = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, y->year);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        const char *sm3 = store_column_text(st, 0);
        a->same = a->was_present == 1 && sm3 && !strcmp(sm3, a->was_sm3);
        snprintf(y->sm3, sizeof y->sm3, "%s", sm3 ? sm3 : "");
    }
    store_finalize(st);
    if (rc == STORE_DONE) {
        y->present = 0;
        y->sm3[0] = 0;
        memset(y->off, 0, sizeof y->off);
        memset(y->on, 0, sizeof y->on);
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
    y->present = 1;
    if (a->same) return STORE_OK;
    memset(y->off, 0, sizeof y->off);
    memset(y->on, 0, sizeof y->on);
    st = store_prepare(c, "SELECT day, kind FROM calendar_day WHERE year = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, y->year);
    while ((rc = store_step(st)) == STORE_ROW) {
        int date;
        const char *kind = store_column_text(st, 1);
        if (calendar_date_parse(store_column_text(st, 0), &date) != 0 || date < y->jan1 ||
            date - y->jan1 >= 366 || !kind)
            continue; /* import never writes such a row */
        set_bit(!strcmp(kind, "holiday") ? y->off : y->on, date - y->jan1);
    }
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
}

/* A snapshot of one year, from the cache or the store. */
static void year_get(calendar *cal, int year, struct year *out)
{
    memset(out, 0, sizeof *out);
    out->year = year;
    if (year < CALENDAR_YEAR_MIN || year > CALENDAR_YEAR_MAX) return;
    calendar_date_from_ymd(year, 1, 1, &out->jan1);
    if (!cal || !cal->s) return;
    double now = now_monotonic();
    pthread_mutex_lock(&cal->mu);
    struct slot *hit = NULL;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cal->slots[i].used && cal->slots[i].y.year == year) hit = &cal->slots[i];
    if (hit) {
        *out = hit->y;
        hit->touched = ++cal->clock;
        if (now - hit->checked < cal->ttl) {
            pthread_mutex_unlock(&cal->mu);
            return;
        }
    }
    pthread_mutex_unlock(&cal->mu);

    struct year before = *out;
    struct read_arg a = {out, out->present, "", 0};
    snprintf(a.was_sm3, sizeof a.was_sm3, "%s", out->sm3);
    if (store_tx(cal->s, 0, read_year_tx, &a) != STORE_OK) {
        if (before.present == 1) {
            log_warn("calendar: year %d could not be re-read; using the copy read before", year);
            *out = before; /* stays due for a check: tried again next time */
            return;
        }
        log_warn("calendar: year %d could not be read; using the weekend rule", year);
        out->present = -1;
        memset(out->off, 0, sizeof out->off);
        memset(out->on, 0, sizeof out->on);
        return; /* not cached: tried again next time */
    }
    pthread_mutex_lock(&cal->mu);
    struct slot *slot = NULL;
    for (int i = 0; i < CACHE_SLOTS && !slot; i++)
        if (cal->slots[i].used && cal->slots[i].y.year == year) slot = &cal->slots[i];
    for (int i = 0; i < CACHE_SLOTS && !slot; i++)
        if (!cal->slots[i].used) slot = &cal->slots[i];
    if (!slot) {
        slot = &cal->slots[0];
        for (int i = 1; i < CACHE_SLOTS; i++)
            if (cal->slots[i].touched < slot->touched) slot = &cal->slots[i];
    }
    slot->y = *out;
    slot->used = 1;
    slot->checked = now;
    slot->touched = ++cal->clock;
    pthread_mutex_unlock(&cal->mu);
}

int calendar_has_year(calendar *cal, int year)
{
    struct year y;
    year_get(cal, year, &y);
    return y.present;
}

/* Walks days in order, re-reading the snapshot only when the year changes. */
struct cursor {
    calendar *cal;
    struct year y;
    int loaded;
};

static int cursor_working(struct cursor *cu, int date)
{
    int y = year_of(date);
    if (!cu->loaded || cu->y.year != y) {
        year_get(cu->cal, y, &cu->y);
        cu->loaded = 1;
    }
    int i = date - cu->y.jan1;
    if (i >= 0 && i < 366) {
        if (get_bit(cu->y.off, i)) return 0;
        if (get_bit(cu->y.on, i)) return 1;
    }
    return calendar_weekday(date) <= 5;
}

int calendar_is_working_day(calendar *cal, int date)
{
    struct cursor cu = {cal, {0}, 0};
    return cursor_working(&cu, date);
}

static int date_max(void)
{
    int d;
    calendar_date_from_ymd(CALENDAR_YEAR_MAX, 12, 31, &d);
    return d;
}

int calendar_add_working_days(calendar *cal, int date, int n, int *out)
{
    if (n < 0) return -1;
    struct cursor cu = {cal, {0}, 0};
    int last = date_max();
    while (n > 0) {
        if (date >= last) return -1;
        date++;
        if (cursor_working(&cu, date)) n--;
    }
    *out = date;
    return 0;
}

int calendar_working_days_between(calendar *cal, int a, int b)
{
    if (b < a) return -calendar_working_days_between(cal, b, a);
    struct cursor cu = {cal, {0}, 0};
    int n = 0;
    for (int d = a + 1; d <= b; d++) n += cursor_working(&cu, d);
    return n;
}

/* ---- deadlines ---- */

const char *calendar_status_name(enum calendar_status st)
{
    switch (st) {
    case CALENDAR_ON_TIME: return "on_time";
    case CALENDAR_NEAR_DUE: return "near_due";
    case CALENDAR_OVERDUE: return "overdue";
    }
    return "?";
}

int calendar_deadline(calendar *cal, int accepted, int limit, int today, int near_days,
                      struct calendar_deadline *out)
{
    memset(out, 0, sizeof *out);
    int lo, hi;
    calendar_date_from_ymd(CALENDAR_YEAR_MIN, 1, 1, &lo);
    hi = date_max();
    if (limit < 0 || near_days < 0 || accepted < lo || accepted > hi || today < lo || today > hi) return -1;
    if (calendar_add_working_days(cal, accepted, limit, &out->due) != 0) return -1;
    if (today > out->due) {
        out->status = CALENDAR_OVERDUE;
        out->over = calendar_working_days_between(cal, out->due, today);
    } else {
        out->remaining = calendar_working_days_between(cal, today, out->due);
        out->status = out->remaining <= near_days ? CALENDAR_NEAR_DUE : CALENDAR_ON_TIME;
    }
    int last = year_of(today > out->due ? today : out->due);
    for (int y = year_of(accepted < today ? accepted : today); y <= last; y++)
        if (calendar_has_year(cal, y) != 1) {
            out->missing_year = y;
            break;
        }
    return 0;
}
