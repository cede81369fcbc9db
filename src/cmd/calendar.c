/*
 * calendar.c — `ehall calendar import|show|add-days`, the working-day calendar
 * (src/calendar/) from the command line.
 *
 * import checks a year's file (format in docs/operations.md) and stores it only when
 * every check passes, replacing that year; the file's SM3 is taken of the bytes that
 * were parsed, and every import (done, refused or failed) goes into the audit chain.
 * show prints a year's overrides and the working days of each month; add-days prints
 * the Nth working day after a date, as deadlines are counted.
 *
 * Exit status: 0 done; 1 refused (import: the file has problems, listed on stderr;
 * show: the year was never imported, the weekend rule applies); 2 usage or could not run.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar/calendar.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"

#define FILE_MAX (1024 * 1024)

static int usage(void)
{
    fprintf(
        stderr,
        "usage: ehall calendar import FILE     check a year's holiday arrangement and store it, replacing\n"
        "                                      that year (every problem is listed; nothing is stored\n"
        "                                      unless all pass)\n"
        "       ehall calendar show YEAR       the year's holidays and working weekends, and the working\n"
        "                                      days of each month\n"
        "       ehall calendar add-days DATE N the Nth working day after DATE (YYYY-MM-DD; DATE itself\n"
        "                                      does not count)\n"
        "exit status: 0 done, 1 refused (import) or year not imported (show), 2 usage or could not run\n");
    return 2;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f) || n > FILE_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int import(struct cmd_ctx *ctx, const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "ehall calendar import: cannot read %s (missing, unreadable or over 1 MiB)\n", path);
        return 2;
    }
    unsigned char md[SM3_DIGEST_LEN];
    char sm3[2 * SM3_DIGEST_LEN + 1];
    crypto_sm3(text, len, md);
    hex_encode(md, sizeof md, sm3);
    store *s = cmd_open_store(ctx, 1);
    if (!s) {
        free(text);
        return 2;
    }
    struct calendar_import_result res;
    struct strbuf problems = {0};
    int rc = calendar_import_text(s, text, len, sm3, &res, &problems);
    free(text);
    const char *result = rc == 0 ? "ok" : rc == 1 ? "refused" : "failed";
    json_t *d = json_pack("{s:s, s:s, s:i, s:i}", "file", path, "sm3", sm3, "holidays", res.holidays,
                          "workdays", res.workdays);
    if (rc != 0 && d)
        json_object_set_new(d, "problems", json_stringn(problems.data ? problems.data : "", problems.len));
    char *details = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(d);
    char object[16];
    snprintf(object, sizeof object, "%d", res.year);
    cmd_audit(s, "calendar.import", res.year ? object : path, result, details);
    free(details);
    store_close(s);
    if (rc == 0) {
        printf("imported %d: %d days off, %d working weekend days (%s)\nsm3 %s\n", res.year, res.holidays,
               res.workdays, res.source[0] ? res.source : "no source given", sm3);
    } else {
        fputs(problems.data ? problems.data : "", stderr);
        if (rc == 1)
            fprintf(stderr, "ehall calendar import: %s refused; nothing was stored\n", path);
        else
            fprintf(stderr, "ehall calendar import: %s could not be stored\n", path);
    }
    sb_free(&problems);
    return rc == 0 ? 0 : rc == 1 ? 1 : 2;
}

static const char *WD[] = {"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

struct year_info {
    int year, found;
    char source[512], sm3[65], at[64];
    struct strbuf days;
};

static int show_tx(store_conn *c, void *arg)
{
    struct year_info *yi = arg;
    store_stmt *st = store_prepare(c, "SELECT source, sm3, imported_at FROM calendar_year WHERE year = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, yi->year);
    int rc = store_step(st);
    if (rc == STORE_ROW) {
        const char *src = store_column_text(st, 0);
        yi->found = 1;
        snprintf(yi->source, sizeof yi->source, "%s", src ? src : "-");
        snprintf(yi->sm3, sizeof yi->sm3, "%s", store_column_text(st, 1));
        snprintf(yi->at, sizeof yi->at, "%s", store_column_text(st, 2));
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return STORE_ERROR;
    st = store_prepare(c, "SELECT day, kind, name FROM calendar_day WHERE year = $1 ORDER BY day");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, yi->year);
    sb_free(&yi->days);
    memset(&yi->days, 0, sizeof yi->days);
    while ((rc = store_step(st)) == STORE_ROW) {
        const char *day = store_column_text(st, 0), *name = store_column_text(st, 2);
        int date;
        if (calendar_date_parse(day, &date) != 0) continue;
        sb_printf(&yi->days, "  %s %s  %-7s  %s\n", day, WD[calendar_weekday(date)], store_column_text(st, 1),
                  name ? name : "");
    }
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : STORE_ERROR;
}

static int show(struct cmd_ctx *ctx, const char *year_text)
{
    long long y;
    if (parse_int64(year_text, &y) != 0 || y < CALENDAR_YEAR_MIN || y > CALENDAR_YEAR_MAX) {
        fprintf(stderr, "ehall calendar show: %s is not a year\n", year_text);
        return 2;
    }
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    struct year_info yi = {.year = (int)y};
    int rc = store_tx(s, 0, show_tx, &yi);
    if (rc != STORE_OK) {
        fprintf(stderr, "ehall calendar show: the database could not be read (%d)\n", rc);
        sb_free(&yi.days);
        store_close(s);
        return 2;
    }
    if (yi.found)
        printf("year %d\nsource   %s\nsm3      %s\nimported %s\n", yi.year, yi.source, yi.sm3, yi.at);
    else
        printf("year %d: not imported; the weekend rule applies (Monday to Friday work)\n", yi.year);
    printf("overrides:\n%s", yi.days.data ? yi.days.data : "  (none)\n");
    calendar *cal = calendar_new(s);
    printf("working days per month:\n");
    int total = 0;
    for (int m = 1; m <= 12; m++) {
        int first, next;
        calendar_date_from_ymd(yi.year, m, 1, &first);
        if (m < 12 || yi.year < CALENDAR_YEAR_MAX)
            calendar_date_from_ymd(m < 12 ? yi.year : yi.year + 1, m < 12 ? m + 1 : 1, 1, &next);
        else
            next = first + 31;
        int n = calendar_working_days_between(cal, first - 1, next - 1);
        total += n;
        printf("  %04d-%02d  %2d of %2d days\n", yi.year, m, n, next - first);
    }
    printf("  total    %d\n", total);
    calendar_free(cal);
    sb_free(&yi.days);
    store_close(s);
    return yi.found ? 0 : 1;
}

static int add_days(struct cmd_ctx *ctx, const char *date_text, const char *n_text)
{
    int date, due;
    long long n;
    if (calendar_date_parse(date_text, &date) != 0) {
        fprintf(stderr, "ehall calendar add-days: %s is not a date (YYYY-MM-DD)\n", date_text);
        return 2;
    }
    if (parse_int64(n_text, &n) != 0 || n < 0 || n > 100000) {
        fprintf(stderr, "ehall calendar add-days: %s is not a number of working days (0 to 100000)\n",
                n_text);
        return 2;
    }
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    calendar *cal = calendar_new(s);
    int rc = calendar_add_working_days(cal, date, (int)n, &due);
    if (rc == 0) {
        char out[11];
        calendar_date_format(due, out);
        printf("%s\n", out);
        int y0, y1, m, d;
        calendar_date_ymd(date, &y0, &m, &d);
        calendar_date_ymd(due, &y1, &m, &d);
        for (int y = y0; y <= y1; y++)
            if (calendar_has_year(cal, y) != 1)
                fprintf(stderr, "warning: no calendar imported for %d; the weekend rule was used\n", y);
    } else {
        fprintf(stderr, "ehall calendar add-days: the result is beyond year %d\n", CALENDAR_YEAR_MAX);
    }
    calendar_free(cal);
    store_close(s);
    return rc == 0 ? 0 : 2;
}

int cmd_calendar(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "import")) return import(ctx, argv[2]);
    if (argc == 3 && !strcmp(argv[1], "show")) return show(ctx, argv[2]);
    if (argc == 4 && !strcmp(argv[1], "add-days")) return add_days(ctx, argv[2], argv[3]);
    return usage();
}
