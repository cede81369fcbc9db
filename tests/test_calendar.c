/*
 * The working-day calendar: strict dates; the weekend rule when no year is imported;
 * arithmetic across the 2025 Spring Festival, adjusted working weekends and the turn
 * of the year (with and without the next year's data); near-due and overdue; import
 * validation naming every problem by its JSON path and storing nothing; a re-import
 * replacing the year (and the cache noticing it); the shipped files; and the
 * `ehall calendar` commands with their exit codes and audit records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar/calendar.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "harness.h"

static char dir[256], db[512], out[32768];

static store *fresh(void)
{
    char err[512];
    h_fresh(dir, db);
    struct store_options o = {4, 5000, 10000};
    store *s = NULL;
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    return s;
}

static int D(const char *text)
{
    int d;
    if (calendar_date_parse(text, &d) != 0) fail_msg("not a date: %s", text);
    return d;
}

static void assert_date(int date, const char *want)
{
    char got[11];
    calendar_date_format(date, got);
    assert_string_equal(got, want);
}

static void shipped_path(char *buf, size_t len, int year)
{
    const char *src = getenv("EHALL_SOURCE_DIR");
    snprintf(buf, len, "%s/calendar/%d.json", src ? src : "..", year);
}

/* Import text through the library, as the CLI does; returns its result code. */
static int import_text(store *s, const char *text, struct strbuf *problems)
{
    unsigned char md[SM3_DIGEST_LEN];
    char sm3[2 * SM3_DIGEST_LEN + 1];
    crypto_sm3(text, strlen(text), md);
    hex_encode(md, sizeof md, sm3);
    struct calendar_import_result res;
    return calendar_import_text(s, text, strlen(text), sm3, &res, problems);
}

static void import_shipped(store *s, int year)
{
    char path[512];
    shipped_path(path, sizeof path, year);
    char *text = h_slurp(path);
    assert_non_null(text);
    struct strbuf problems = {0};
    int rc = import_text(s, text, &problems);
    if (rc != 0) fail_msg("%s: %s", path, problems.data ? problems.data : "");
    sb_free(&problems);
    free(text);
}

static void dates_are_strict(void **state)
{
    (void)state;
    int d;
    assert_int_equal(calendar_date_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(calendar_weekday(d), 4); /* Thursday */
    assert_int_equal(calendar_date_parse("2024-02-29", &d), 0);
    assert_date(d, "2024-02-29");
    assert_int_equal(calendar_date_parse("2000-02-29", &d), 0);
    assert_int_equal(calendar_weekday(d), 2);
    assert_int_equal(calendar_weekday(D("2025-01-26")), 7);
    assert_int_equal(calendar_weekday(D("2026-11-23")), 1);
    const char *bad[] = {
        "2026-02-30",  "2025-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-01-00",
        "2026-04-31",  "2026-1-05",  "2026-01-5",  "2026/01/05", "20260105",   "2026-01-05 ",
        " 2026-01-05", "+026-01-05", "2026-01-0x", "0999-12-31", "",           "2026-01-05T00"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (calendar_date_parse(bad[i], &d) == 0) fail_msg("accepted %s", bad[i]);
    assert_int_equal(calendar_date_parse(NULL, &d), -1);
    /* every date of the range survives the round trip, one day apart */
    int first = D("1000-01-01"), last = D("9999-12-31"), prev_y = 999, prev_m = 12, prev_d = 31;
    for (int x = first; x <= last; x++) {
        int y, m, dd, back;
        calendar_date_ymd(x, &y, &m, &dd);
        assert_int_equal(calendar_date_from_ymd(y, m, dd, &back), 0);
        assert_int_equal(back, x);
        if (dd != 1)
            assert_true(y == prev_y && m == prev_m && dd == prev_d + 1);
        else
            assert_true((m == prev_m + 1 && y == prev_y) || (m == 1 && prev_m == 12 && y == prev_y + 1));
        prev_y = y, prev_m = m, prev_d = dd;
    }
    char text[11];
    calendar_date_format(last, text);
    assert_string_equal(text, "9999-12-31");
}

static void weekend_rule_without_data(void **state)
{
    (void)state;
    calendar *cal = calendar_new(NULL);
    assert_non_null(cal);
    assert_int_equal(calendar_has_year(cal, 2026), 0);
    assert_true(calendar_is_working_day(cal, D("2026-11-20")));  /* Friday */
    assert_false(calendar_is_working_day(cal, D("2026-11-21"))); /* Saturday */
    assert_false(calendar_is_working_day(cal, D("2026-11-22")));
    int due;
    assert_int_equal(calendar_add_working_days(cal, D("2026-11-20"), 1, &due), 0);
    assert_date(due, "2026-11-23");
    assert_int_equal(calendar_add_working_days(cal, D("2026-11-21"), 0, &due), 0);
    assert_date(due, "2026-11-21"); /* 0: the day itself */
    assert_int_equal(calendar_add_working_days(cal, D("2026-11-21"), 1, &due), 0);
    assert_date(due, "2026-11-23");
    assert_int_equal(calendar_add_working_days(cal, D("2026-11-18"), 10, &due), 0);
    assert_date(due, "2026-12-02");
    assert_int_equal(calendar_add_working_days(cal, D("2026-11-18"), -1, &due), -1);
    assert_int_equal(calendar_add_working_days(cal, D("9999-12-30"), 5, &due), -1);
    assert_int_equal(calendar_working_days_between(cal, D("2026-11-18"), D("2026-12-02")), 10);
    assert_int_equal(calendar_working_days_between(cal, D("2026-12-02"), D("2026-11-18")), -10);
    assert_int_equal(calendar_working_days_between(cal, D("2026-11-20"), D("2026-11-22")), 0);
    /* a year not imported: 2025-01-01 is a plain Wednesday */
    assert_true(calendar_is_working_day(cal, D("2025-01-01")));
    calendar_free(cal);

    store *s = fresh();
    cal = calendar_new(s);
    assert_int_equal(calendar_has_year(cal, 2025), 0);
    assert_true(calendar_is_working_day(cal, D("2025-01-01")));
    assert_false(calendar_is_working_day(cal, D("2025-01-26")));
    calendar_free(cal);
    store_close(s);
}

static void arithmetic_across_holidays(void **state)
{
    (void)state;
    store *s = fresh();
    import_shipped(s, 2025);
    calendar *cal = calendar_new(s);
    calendar_set_ttl(cal, 0);
    assert_int_equal(calendar_has_year(cal, 2025), 1);
    assert_int_equal(calendar_has_year(cal, 2026), 0);
    int due;
    /* Spring Festival: Fri Jan 24, (Sat 25 off), Sun 26 worked, Mon 27, Jan 28 – Feb 4 off, Wed Feb 5 */
    assert_true(calendar_is_working_day(cal, D("2025-01-26")));
    assert_false(calendar_is_working_day(cal, D("2025-01-25")));
    assert_false(calendar_is_working_day(cal, D("2025-01-28")));
    assert_false(calendar_is_working_day(cal, D("2025-02-03"))); /* a Monday off */
    assert_true(calendar_is_working_day(cal, D("2025-02-08")));  /* a Saturday worked */
    const struct {
        const char *from;
        int n;
        const char *want;
    } cases[] = {
        {"2025-01-24", 1, "2025-01-26"},
        {"2025-01-24", 2, "2025-01-27"},
        {"2025-01-24", 3, "2025-02-05"},
        {"2025-01-27", 1, "2025-02-05"},
        {"2025-01-30", 1, "2025-02-05"},
        {"2025-02-07", 1, "2025-02-08"},
        {"2025-02-07", 2, "2025-02-10"},
        {"2025-01-24", 0, "2025-01-24"},
        {"2024-12-31", 1, "2025-01-02"},
        /* Labour Day: Sun Apr 27 worked, May 1–5 off */
        {"2025-04-25", 1, "2025-04-27"},
        {"2025-04-25", 2, "2025-04-28"},
        {"2025-04-30", 1, "2025-05-06"},
        /* National Day and Mid-Autumn: Sun Sep 28 worked, Oct 1–8 off, Sat Oct 11 worked */
        {"2025-09-26", 1, "2025-09-28"},
        {"2025-09-30", 1, "2025-10-09"},
        {"2025-09-30", 3, "2025-10-11"},
        {"2025-09-30", 4, "2025-10-13"},
        /* Dragon Boat: May 31 – Jun 2 off */
        {"2025-05-30", 1, "2025-06-03"},
        /* the turn of the year, 2026 not imported yet: the weekend rule */
        {"2025-12-31", 1, "2026-01-01"},
        {"2025-12-31", 2, "2026-01-02"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(calendar_add_working_days(cal, D(cases[i].from), cases[i].n, &due), 0);
        char got[11];
        calendar_date_format(due, got);
        if (strcmp(got, cases[i].want))
            fail_msg("%s + %d: got %s, want %s", cases[i].from, cases[i].n, got, cases[i].want);
        assert_int_equal(calendar_working_days_between(cal, D(cases[i].from), due), cases[i].n);
    }
    assert_int_equal(calendar_working_days_between(cal, D("2024-12-31"), D("2025-12-31")), 248);
    /* with 2026: Jan 1–3 off, Sun Jan 4 worked */
    import_shipped(s, 2026);
    assert_int_equal(calendar_has_year(cal, 2026), 1);
    assert_int_equal(calendar_add_working_days(cal, D("2025-12-31"), 1, &due), 0);
    assert_date(due, "2026-01-04");
    assert_int_equal(calendar_add_working_days(cal, D("2025-12-31"), 2, &due), 0);
    assert_date(due, "2026-01-05");
    assert_int_equal(calendar_add_working_days(cal, D("2026-02-13"), 1, &due), 0);
    assert_date(due, "2026-02-14");
    assert_int_equal(calendar_add_working_days(cal, D("2026-02-14"), 1, &due), 0);
    assert_date(due, "2026-02-24");
    assert_int_equal(calendar_add_working_days(cal, D("2026-09-18"), 1, &due), 0);
    assert_date(due, "2026-09-20");
    assert_int_equal(calendar_add_working_days(cal, D("2026-09-24"), 1, &due), 0);
    assert_date(due, "2026-09-28");
    assert_int_equal(calendar_add_working_days(cal, D("2026-09-30"), 2, &due), 0);
    assert_date(due, "2026-10-09");
    assert_int_equal(calendar_add_working_days(cal, D("2026-09-30"), 3, &due), 0);
    assert_date(due, "2026-10-10");
    assert_int_equal(calendar_working_days_between(cal, D("2025-12-31"), D("2026-12-31")), 248);
    assert_int_equal(calendar_working_days_between(cal, D("2026-01-31"), D("2026-02-28")), 16);
    calendar_free(cal);
    store_close(s);
}

static void deadlines(void **state)
{
    (void)state;
    store *s = fresh();
    import_shipped(s, 2025);
    import_shipped(s, 2026);
    calendar *cal = calendar_new(s);
    struct calendar_deadline dl;
    /* accepted Fri 2025-01-24, 3 working days: due Wed 2025-02-05 */
    const struct {
        const char *today;
        int near;
        enum calendar_status st;
        int remaining, over;
    } cases[] = {
        {"2025-01-24", 1, CALENDAR_ON_TIME, 3, 0},  {"2025-01-26", 1, CALENDAR_ON_TIME, 2, 0},
        {"2025-01-26", 2, CALENDAR_NEAR_DUE, 2, 0}, {"2025-01-27", 1, CALENDAR_NEAR_DUE, 1, 0},
        {"2025-01-27", 0, CALENDAR_ON_TIME, 1, 0},  {"2025-01-28", 1, CALENDAR_NEAR_DUE, 1, 0},
        {"2025-02-04", 1, CALENDAR_NEAR_DUE, 1, 0}, {"2025-02-04", 0, CALENDAR_ON_TIME, 1, 0},
        {"2025-02-05", 0, CALENDAR_NEAR_DUE, 0, 0}, {"2025-02-05", 1, CALENDAR_NEAR_DUE, 0, 0},
        {"2025-02-06", 1, CALENDAR_OVERDUE, 0, 1},  {"2025-02-08", 1, CALENDAR_OVERDUE, 0, 3},
        {"2025-02-09", 1, CALENDAR_OVERDUE, 0, 3},  {"2025-02-10", 1, CALENDAR_OVERDUE, 0, 4},
        {"2025-01-20", 1, CALENDAR_ON_TIME, 7, 0}, /* a "today" before acceptance still counts to due */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(calendar_deadline(cal, D("2025-01-24"), 3, D(cases[i].today), cases[i].near, &dl),
                         0);
        assert_date(dl.due, "2025-02-05");
        if (dl.status != cases[i].st || dl.remaining != cases[i].remaining || dl.over != cases[i].over)
            fail_msg("today %s near %d: got %s remaining %d over %d", cases[i].today, cases[i].near,
                     calendar_status_name(dl.status), dl.remaining, dl.over);
        assert_int_equal(dl.missing_year, 0);
    }
    /* overdue on a day off straight after the due date: overdue, no working day over yet */
    assert_int_equal(calendar_deadline(cal, D("2025-01-22"), 2, D("2025-01-25"), 1, &dl), 0);
    assert_date(dl.due, "2025-01-24");
    assert_int_equal(dl.status, CALENDAR_OVERDUE);
    assert_int_equal(dl.over, 0);
    assert_int_equal(calendar_deadline(cal, D("2025-09-25"), 2, D("2025-09-27"), 1, &dl), 0);
    assert_date(dl.due, "2025-09-28"); /* Thu 25 → Fri 26, Sun 28 (worked) */
    assert_int_equal(dl.status, CALENDAR_NEAR_DUE);
    assert_int_equal(dl.remaining, 1);
    assert_int_equal(calendar_deadline(cal, D("2025-09-25"), 3, D("2025-10-05"), 1, &dl), 0);
    assert_date(dl.due, "2025-09-29");
    assert_int_equal(dl.status, CALENDAR_OVERDUE);
    assert_int_equal(dl.over, 1); /* Sep 30; Oct 1–5 off */
    assert_string_equal(calendar_status_name(dl.status), "overdue");
    assert_string_equal(calendar_status_name(CALENDAR_NEAR_DUE), "near_due");
    assert_string_equal(calendar_status_name(CALENDAR_ON_TIME), "on_time");
    /* a deadline running into a year never imported is flagged */
    assert_int_equal(calendar_deadline(cal, D("2026-12-28"), 10, D("2026-12-29"), 1, &dl), 0);
    assert_date(dl.due, "2027-01-11");
    assert_int_equal(dl.missing_year, 2027);
    assert_int_equal(calendar_deadline(cal, D("2024-12-30"), 1, D("2024-12-30"), 1, &dl), 0);
    assert_int_equal(dl.missing_year, 2024);
    /* bad arguments */
    assert_int_equal(calendar_deadline(cal, D("2025-01-24"), -1, D("2025-01-24"), 1, &dl), -1);
    assert_int_equal(calendar_deadline(cal, D("2025-01-24"), 1, D("2025-01-24"), -1, &dl), -1);
    calendar_free(cal);
    store_close(s);
}

static void validation_names_every_problem(void **state)
{
    (void)state;
    store *s = fresh();
    const char *bad =
        "{\"year\": 2026, \"comment\": \"x\", \"source\": \"test\","
        " \"holidays\": ["
        "  {\"name\": \"元旦\", \"days\": [\"2026-01-01\", \"2026-02-30\", \"2026-01-01\", \"2026-01-03\"]},"
        "  {\"name\": \"跨年\", \"days\": [\"2025-12-31\", 20260102]},"
        "  {\"name\": \"\", \"days\": []},"
        "  \"春节\"],"
        " \"workdays\": ["
        "  {\"name\": \"元旦调休\", \"days\": [\"2026-01-03\", \"2026-01-05\", \"2026-01-04\"]},"
        "  {\"days\": [\"2026-01-04\"], \"note\": 1}]}";
    struct strbuf p = {0};
    assert_int_equal(import_text(s, bad, &p), 1);
    const char *want[] = {
        "comment: unknown key\n",
        "holidays[0].days[1]: not a date (YYYY-MM-DD)\n",
        "holidays[0].days[2]: listed twice, first at holidays[0].days[0]\n",
        "holidays[1].days[0]: not in the year 2026\n",
        "holidays[1].days[1]: not a date (YYYY-MM-DD)\n",
        "holidays[2].name: not a non-empty string\n",
        "holidays[2].days: not a non-empty list of dates\n",
        "holidays[3]: not an object with \"name\" and \"days\"\n",
        "workdays[0].days[0]: both a holiday and a workday, see holidays[0].days[3]\n",
        "workdays[0].days[1]: a Monday, a working day anyway",
        "workdays[1].note: unknown key\n",
        "workdays[1].name: missing\n",
        "workdays[1].days[0]: listed twice, first at workdays[0].days[2]\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(p.data, want[i])) fail_msg("missing «%s» in:\n%s", want[i], p.data);
    /* nothing else: one line per problem above */
    int lines = 0;
    for (const char *c = p.data; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, (int)(sizeof want / sizeof *want));
    sb_free(&p);
    /* nothing was stored */
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_day"), 0);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_year"), 0);

    const struct {
        const char *text, *want;
    } roots[] = {
        {"{\"year\": 2026, \"holidays\": [", "$: not JSON (line 1"},
        {"[1, 2]", "$: not a JSON object"},
        {"{\"holidays\": []}", "year: missing"},
        {"{\"year\": \"2026\", \"holidays\": []}", "year: not a year"},
        {"{\"year\": 26, \"holidays\": []}", "year: not a year"},
        {"{\"year\": 2026}", "holidays: missing"},
        {"{\"year\": 2026, \"holidays\": {}}", "holidays: not a list"},
        {"{\"year\": 2026, \"holidays\": [], \"workdays\": 3}", "workdays: not a list"},
        {"{\"year\": 2026, \"holidays\": [], \"source\": 7}", "source: not a string"},
        {"{\"year\": 2026, \"year\": 2027, \"holidays\": []}", "$: not JSON"},
    };
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
        struct strbuf q = {0};
        assert_int_equal(import_text(s, roots[i].text, &q), 1);
        if (!q.data || !strstr(q.data, roots[i].want)) fail_msg("%s: got %s", roots[i].text, q.data);
        sb_free(&q);
    }
    /* the smallest valid file: a year with no exceptions at all */
    struct strbuf q = {0};
    struct calendar_import_result res;
    const char *empty = "{\"year\": 2030, \"holidays\": []}";
    assert_int_equal(calendar_validate_text(empty, strlen(empty), &res, &q), 0);
    assert_int_equal(res.year, 2030);
    assert_null(q.data);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_year"), 0);
    store_close(s);
}

static void reimport_replaces(void **state)
{
    (void)state;
    store *s = fresh();
    import_shipped(s, 2026);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_day WHERE year = 2026"), 39);
    calendar *cached = calendar_new(s), *fresh_cal = calendar_new(s);
    calendar_set_ttl(cached, 3600);
    calendar_set_ttl(fresh_cal, 0);
    assert_true(calendar_is_working_day(cached, D("2026-02-14")));
    assert_false(calendar_is_working_day(cached, D("2026-02-16")));
    char sm3_before[65];
    store_conn *c = store_acquire(s);
    store_stmt *st = store_prepare(c, "SELECT sm3 FROM calendar_year WHERE year = 2026");
    assert_int_equal(store_step(st), STORE_ROW);
    snprintf(sm3_before, sizeof sm3_before, "%s", store_column_text(st, 0));
    store_finalize(st);
    store_release(c);

    /* a corrected notice: only New Year */
    struct strbuf p = {0};
    assert_int_equal(
        import_text(s,
                    "{\"year\": 2026, \"source\": \"corrected\", \"holidays\": [{\"name\": \"元旦\","
                    " \"days\": [\"2026-01-01\", \"2026-01-02\"]}], \"workdays\": []}",
                    &p),
        0);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_day WHERE year = 2026"), 2);
    assert_int_equal(
        h_store_int(s, "SELECT COUNT(*) FROM calendar_year WHERE year = 2026 AND source = 'corrected'"), 1);
    c = store_acquire(s);
    st = store_prepare(c, "SELECT sm3 FROM calendar_year WHERE year = 2026");
    assert_int_equal(store_step(st), STORE_ROW);
    assert_string_not_equal(store_column_text(st, 0), sm3_before);
    store_finalize(st);
    store_release(c);
    /* a calendar that checks every time sees it at once; a cached one within its ttl
     * does not until invalidated (other processes: after the ttl) */
    assert_false(calendar_is_working_day(fresh_cal, D("2026-02-14")));
    assert_true(calendar_is_working_day(fresh_cal, D("2026-02-16")));
    assert_true(calendar_is_working_day(cached, D("2026-02-14")));
    calendar_invalidate(cached);
    assert_false(calendar_is_working_day(cached, D("2026-02-14")));
    assert_true(calendar_is_working_day(cached, D("2026-02-16")));
    /* a refused re-import leaves the year as it was */
    assert_int_equal(
        import_text(s, "{\"year\": 2026, \"holidays\": [{\"name\": \"x\", \"days\": [\"2026-13-01\"]}]}", &p),
        1);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_day WHERE year = 2026"), 2);
    sb_free(&p);
    /* the other year is untouched by a re-import */
    import_shipped(s, 2025);
    import_shipped(s, 2026);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_day WHERE year = 2025"), 33);
    assert_int_equal(h_store_int(s, "SELECT COUNT(*) FROM calendar_day WHERE year = 2026"), 39);
    assert_true(calendar_is_working_day(fresh_cal, D("2026-02-14")));
    calendar_free(cached);
    calendar_free(fresh_cal);
    store_close(s);
}

/* Readers on several threads share one calendar that checks the store on every call,
 * while the year is re-imported back and forth: each answer is that of one version or
 * the other, never of half an import. */
struct reader {
    calendar *cal;
    int bad, calls;
    atomic_int *stop;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    int from = D("2026-02-12"), a = D("2026-02-14"), b = D("2026-02-16");
    while (!atomic_load(r->stop) || r->calls < 20) {
        int due;
        if (calendar_add_working_days(r->cal, from, 2, &due) != 0 || (due != a && due != b)) r->bad++;
        r->calls++;
    }
    return NULL;
}

static void concurrent_reimport(void **state)
{
    (void)state;
    char err[512];
    h_fresh(dir, db);
    struct store_options o = {8, 5000, 10000};
    store *s = NULL;
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    import_shipped(s, 2026);
    calendar *cal = calendar_new(s);
    calendar_set_ttl(cal, 0);
    atomic_int stop = 0;
    struct reader r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct reader){cal, 0, 0, &stop};
        assert_int_equal(pthread_create(&th[i], NULL, read_loop, &r[i]), 0);
    }
    char path[512];
    shipped_path(path, sizeof path, 2026);
    char *shipped = h_slurp(path);
    assert_non_null(shipped);
    const char *other = "{\"year\": 2026, \"holidays\": [{\"name\": \"元旦\", \"days\": [\"2026-01-01\"]}]}";
    for (int i = 0; i < 20; i++) {
        struct strbuf p = {0};
        assert_int_equal(import_text(s, i % 2 ? shipped : other, &p), 0);
        sb_free(&p);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].bad, 0);
        assert_true(r[i].calls >= 20);
    }
    int due;
    assert_int_equal(calendar_add_working_days(cal, D("2026-02-12"), 2, &due), 0);
    assert_date(due, "2026-02-14"); /* the last import was the shipped file */
    free(shipped);
    calendar_free(cal);
    store_close(s);
}

static void shipped_files_are_clean(void **state)
{
    (void)state;
    const struct {
        int year, holidays, workdays;
        int months[12];
    } want[] = {
        {2025, 28, 5, {19, 19, 21, 22, 19, 20, 23, 21, 23, 18, 20, 23}},
        {2026, 33, 6, {21, 16, 22, 21, 19, 21, 23, 21, 22, 18, 21, 23}},
    };
    store *s = fresh();
    calendar *cal = calendar_new(s);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char path[512];
        shipped_path(path, sizeof path, want[i].year);
        char *text = h_slurp(path);
        assert_non_null(text);
        struct strbuf p = {0};
        struct calendar_import_result res;
        int rc = calendar_validate_text(text, strlen(text), &res, &p);
        if (rc != 0) fail_msg("%s: %s", path, p.data);
        assert_int_equal(res.year, want[i].year);
        assert_int_equal(res.holidays, want[i].holidays);
        assert_int_equal(res.workdays, want[i].workdays);
        assert_non_null(strstr(res.source, "国务院办公厅"));
        free(text);
        import_shipped(s, want[i].year);
        for (int m = 1; m <= 12; m++) {
            int first, next;
            assert_int_equal(calendar_date_from_ymd(want[i].year, m, 1, &first), 0);
            assert_int_equal(calendar_date_from_ymd(m < 12 ? want[i].year : want[i].year + 1,
                                                    m < 12 ? m + 1 : 1, 1, &next),
                             0);
            assert_int_equal(calendar_working_days_between(cal, first - 1, next - 1), want[i].months[m - 1]);
        }
    }
    calendar_free(cal);
    store_close(s);
}

static void cli(void **state)
{
    (void)state;
    store *s = fresh();
    store_close(s);
    char path[512];
    shipped_path(path, sizeof path, 2025);
    const char *imp[] = {"calendar", "import", path, NULL};
    assert_int_equal(h_cli(dir, db, imp, out, sizeof out), 0);
    assert_non_null(strstr(out, "imported 2025: 28 days off, 5 working weekend days"));
    assert_non_null(strstr(out, "sm3 "));

    const char *show[] = {"calendar", "show", "2025", NULL};
    assert_int_equal(h_cli(dir, db, show, out, sizeof out), 0);
    assert_non_null(strstr(out, "2025-01-26 Sun  workday  春节调休"));
    assert_non_null(strstr(out, "2025-02-03 Mon  holiday  春节"));
    assert_non_null(strstr(out, "2025-02  19 of 28 days"));
    assert_non_null(strstr(out, "total    248"));
    const char *show_missing[] = {"calendar", "show", "2027", NULL};
    assert_int_equal(h_cli(dir, db, show_missing, out, sizeof out), 1);
    assert_non_null(strstr(out, "2027: not imported"));
    assert_non_null(strstr(out, "total    261"));
    const char *show_bad[] = {"calendar", "show", "20x5", NULL};
    assert_int_equal(h_cli(dir, db, show_bad, out, sizeof out), 2);

    const char *add[] = {"calendar", "add-days", "2025-01-24", "3", NULL};
    assert_int_equal(h_cli(dir, db, add, out, sizeof out), 0);
    assert_non_null(strstr(out, "2025-02-05\n"));
    assert_null(strstr(out, "warning"));
    const char *add_over[] = {"calendar", "add-days", "2025-12-31", "2", NULL};
    assert_int_equal(h_cli(dir, db, add_over, out, sizeof out), 0);
    assert_non_null(strstr(out, "2026-01-02\n"));
    assert_non_null(strstr(out, "warning: no calendar imported for 2026"));
    const char *add_bad[] = {"calendar", "add-days", "2026-02-30", "1", NULL};
    assert_int_equal(h_cli(dir, db, add_bad, out, sizeof out), 2);
    assert_non_null(strstr(out, "not a date"));
    const char *add_neg[] = {"calendar", "add-days", "2026-02-03", "-1", NULL};
    assert_int_equal(h_cli(dir, db, add_neg, out, sizeof out), 2);

    /* a refused file: every problem on stderr, exit 1, nothing stored */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{\"year\": 2026, \"holidays\": [{\"name\": \"元旦\", \"days\": [\"2026-01-01\", \"2026-02-30\"]}],"
          " \"workdays\": [{\"name\": \"x\", \"days\": [\"2026-01-05\"]}]}",
          f);
    fclose(f);
    const char *imp_bad[] = {"calendar", "import", bad, NULL};
    assert_int_equal(h_cli(dir, db, imp_bad, out, sizeof out), 1);
    assert_non_null(strstr(out, "holidays[0].days[1]: not a date"));
    assert_non_null(strstr(out, "workdays[0].days[0]: a Monday"));
    assert_non_null(strstr(out, "refused; nothing was stored"));
    const char *show26[] = {"calendar", "show", "2026", NULL};
    assert_int_equal(h_cli(dir, db, show26, out, sizeof out), 1);
    const char *imp_none[] = {"calendar", "import", "/nonexistent/2026.json", NULL};
    assert_int_equal(h_cli(dir, db, imp_none, out, sizeof out), 2);
    const char *nothing[] = {"calendar", NULL};
    assert_int_equal(h_cli(dir, db, nothing, out, sizeof out), 2);
    assert_non_null(strstr(out, "usage: ehall calendar import FILE"));

    /* with 2026 the year end moves */
    shipped_path(path, sizeof path, 2026);
    assert_int_equal(h_cli(dir, db, imp, out, sizeof out), 0);
    assert_non_null(strstr(out, "imported 2026: 33 days off, 6 working weekend days"));
    assert_int_equal(h_cli(dir, db, add_over, out, sizeof out), 0);
    assert_non_null(strstr(out, "2026-01-05\n"));
    assert_null(strstr(out, "warning"));

    /* every import is in the audit chain, refused ones too */
    const char *search[] = {"audit", "search", "--action", "calendar.import", NULL};
    assert_int_equal(h_cli(dir, db, search, out, sizeof out), 0);
    char *ok25 = strstr(out, "calendar.import\t2025\tok");
    char *refused = strstr(out, "calendar.import\t2026\trefused");
    char *ok26 = strstr(out, "calendar.import\t2026\tok");
    assert_non_null(ok25);
    assert_non_null(refused);
    assert_non_null(ok26);
    assert_true(ok25 < refused && refused < ok26);
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dates_are_strict),
        cmocka_unit_test(weekend_rule_without_data),
        cmocka_unit_test(arithmetic_across_holidays),
        cmocka_unit_test(deadlines),
        cmocka_unit_test(validation_names_every_problem),
        cmocka_unit_test(reimport_replaces),
        cmocka_unit_test(concurrent_reimport),
        cmocka_unit_test(shipped_files_are_clean),
        cmocka_unit_test(cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
