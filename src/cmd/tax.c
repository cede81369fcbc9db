/*
 * tax.c — `ehall tax`: the parameter sets (validate, import), the reminders, and a
 * period's deadline.
 */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calendar/calendar.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "core/metrics.h"
#include "tax/tax.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: ehall tax params validate DIR   check every parameter file of DIR (tax/params)\n"
            "       ehall tax params import DIR     replace the parameter sets with DIR's, in one step\n"
            "       ehall tax remind [--today DATE] send the due 催报/催缴 notices (each once)\n"
            "       ehall tax deadline PERIOD       the filing deadline of YYYY-MM or YYYYQn\n"
            "       ehall tax reconcile --date D    our payments of day D against the treasury's ledger\n");
    return 2;
}

static int params(struct cmd_ctx *ctx, const char *verb, const char *dir)
{
    struct strbuf problems = {0};
    int count = 0, rc;
    if (!strcmp(verb, "validate")) {
        rc = tax_params_validate_dir(dir, &problems, &count);
        if (rc < 0) {
            fprintf(stderr, "ehall tax params: cannot read %s\n", dir);
            return 1;
        }
        if (rc == 0) printf("%d parameter set(s) valid\n", count);
    } else {
        store *db = cmd_open_store(ctx, 1);
        if (!db) return 1;
        struct passwd *pw = getpwuid(getuid());
        char actor[96];
        snprintf(actor, sizeof actor, "system:%s", pw ? pw->pw_name : "unknown");
        rc = tax_params_import_dir(db, dir, actor, &problems, &count);
        store_close(db);
        if (rc == 0) printf("%d parameter set(s) imported\n", count);
    }
    if (problems.len) fputs(problems.data, stderr);
    sb_free(&problems);
    return rc == 0 ? 0 : 1;
}

static int remind(struct cmd_ctx *ctx, int argc, char **argv)
{
    int today = 0;
    if (argc == 4 && !strcmp(argv[2], "--today")) {
        if (calendar_date_parse(argv[3], &today) != 0) return usage();
    } else if (argc != 2) {
        return usage();
    }
    store *db = cmd_open_store(ctx, 1);
    if (!db) return 1;
    int n = tax_remind(db, today);
    store_close(db);
    if (n < 0) {
        fprintf(stderr, "ehall tax remind: the database failed\n");
        return 1;
    }
    printf("%d reminder(s) sent\n", n);
    return 0;
}

static int deadline(struct cmd_ctx *ctx, const char *period)
{
    struct tax_period p;
    if (tax_period_parse(period, &p) != 0) {
        fprintf(stderr, "ehall tax deadline: PERIOD is YYYY-MM or YYYYQn\n");
        return 2;
    }
    store *db = cmd_open_store(ctx, 1);
    if (!db) return 1;
    calendar *cal = calendar_new(db);
    int y, m, d;
    calendar_date_ymd(p.end + 1, &y, &m, &d);
    if (calendar_has_year(cal, y) != 1)
        fprintf(stderr, "warning: the holidays of %d are not imported: weekends only\n", y);
    int due = tax_deadline(cal, &p, 15, NULL);
    char b[11];
    calendar_date_format(due, b);
    printf("%s\n", b);
    calendar_free(cal);
    store_close(db);
    return 0;
}

static void print_list(json_t *details, const char *name, const char *title)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(details, name), i, e)
    {
        char *t = json_dumps(e, JSON_COMPACT);
        printf("  %s: %s %s\n", title, json_string_value(json_object_get(e, "idem_key")), t ? t : "");
        free(t);
    }
}

/* 0 clean, 1 discrepancies (or failure), 2 usage */
static int reconcile(struct cmd_ctx *ctx, const char *day)
{
    int d;
    if (calendar_date_parse(day, &d) != 0) return usage();
    store *db = cmd_open_store(ctx, 1);
    if (!db) return 1;
    struct passwd *pw = getpwuid(getuid());
    char actor[96];
    snprintf(actor, sizeof actor, "system:%s", pw ? pw->pw_name : "unknown");
    struct tax_recon rep;
    int rc = tax_treasury_reconcile(db, day, actor, &rep);
    store_close(db);
    if (rc < 0) {
        fprintf(stderr, "ehall tax reconcile: could not reconcile %s (%d)\n", day, rc);
        free(rep.details);
        return 1;
    }
    printf("treasury reconciliation of %s: %lld payments in ehall, %lld in the treasury's ledger\n", day,
           rep.ehall_count, rep.treasury_count);
    printf("missing %lld, mismatched %lld — %s (report %lld)\n", rep.missing, rep.mismatched,
           rc == 0 ? "clean" : "DISCREPANCIES", rep.report_id);
    json_t *det = rep.details ? json_loads(rep.details, 0, NULL) : NULL;
    print_list(det, "missing_at_treasury", "missing at the treasury");
    print_list(det, "missing_in_ehall", "missing in ehall");
    print_list(det, "mismatched", "mismatched");
    json_decref(det);
    free(rep.details);
    return rc == 0 ? 0 : 1;
}

int cmd_tax(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "reconcile") && !strcmp(argv[2], "--date"))
        return reconcile(ctx, argv[3]);
    if (argc == 4 && !strcmp(argv[1], "params") &&
        (!strcmp(argv[2], "validate") || !strcmp(argv[2], "import")))
        return params(ctx, argv[2], argv[3]);
    if (argc >= 2 && !strcmp(argv[1], "remind")) return remind(ctx, argc, argv);
    if (argc == 3 && !strcmp(argv[1], "deadline")) return deadline(ctx, argv[2]);
    return usage();
}
