/*
 * reconcile.c — `ehall reconcile --date YYYY-MM-DD`: ehall's exchange ledger (the
 * messages done that day) against the back-end's, printed and stored as a report that
 * staff see (GET /api/v1/exchange/reports); audited.  Exit 0 when the two agree, 1
 * when anything is missing, duplicated or mismatched (or the run failed), 2 on a usage
 * error.
 */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/core.h"
#include "exchange/exchange.h"

static void print_list(json_t *details, const char *name, const char *title)
{
    json_t *list = json_object_get(details, name);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char *s = json_dumps(e, JSON_COMPACT);
        printf("  %s: %s %s\n", title, json_string_value(json_object_get(e, "idem_key")), s ? s : "");
        free(s);
    }
}

int cmd_reconcile(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *day = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--date") && i + 1 < argc)
            day = argv[++i];
        else if (!strncmp(argv[i], "--date=", 7))
            day = argv[i] + 7;
        else
            day = NULL, i = argc;
    }
    int y, m, d;
    char tail;
    if (!day || strlen(day) != 10 || sscanf(day, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 ||
        m > 12 || d < 1 || d > 31) {
        fprintf(stderr, "usage: ehall reconcile --date YYYY-MM-DD\n");
        return 2;
    }
    store *db = cmd_open_store(ctx, 1);
    if (!db) return 1;
    struct passwd *pw = getpwuid(getuid());
    char actor[96];
    snprintf(actor, sizeof actor, "system:%s", pw ? pw->pw_name : "unknown");
    struct exchange_recon rep;
    int rc = exchange_reconcile(db, day, "manual", actor, &rep);
    if (rc < 0) {
        fprintf(stderr, "ehall reconcile: could not reconcile %s (%d)\n", day, rc);
        free(rep.details);
        store_close(db);
        return 1;
    }
    printf("reconciliation of %s: %lld entries in ehall, %lld at the back-end\n", day, rep.ehall_count,
           rep.backend_count);
    printf("missing %lld, duplicated %lld, mismatched %lld — %s (report %lld)\n", rep.missing, rep.duplicated,
           rep.mismatched, rc == 0 ? "clean" : "DISCREPANCIES", rep.report_id);
    json_t *det = rep.details ? json_loads(rep.details, 0, NULL) : NULL;
    print_list(det, "missing_in_backend", "missing at the back-end");
    print_list(det, "missing_in_ehall", "missing in ehall");
    print_list(det, "duplicated", "duplicated");
    print_list(det, "mismatched", "mismatched");
    json_decref(det);
    free(rep.details);
    store_close(db);
    return rc == 0 ? 0 : 1;
}
