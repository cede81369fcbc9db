/*
 * cases.c — `ehall cases verify|sweep`, the case engine (src/engine/) for operators.
 *
 * verify replays every case's supervision log through the workflow of the item version
 * it was submitted under and compares the result with the stored case: the state,
 * step, assignee and pre-check must be exactly what the log gives.  A case whose row
 * was changed behind the engine's back (or whose log was) is named.
 * sweep runs the housekeeping round once: reminders for near-due cases and escalation
 * of overdue ones (the server does it every few seconds).
 *
 * Exit status: 0 consistent / done; 1 some case is inconsistent; 2 usage or could not run.
 */
#include <stdio.h>
#include <string.h>

#include "calendar/calendar.h"
#include "cmd/cmd.h"
#include "engine/flow.h"
#include "exchange/exchange.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: ehall cases verify   replay every case's supervision log and compare with the case\n"
            "       ehall cases sweep    remind near-due cases and escalate overdue ones, once\n"
            "exit status: 0 consistent (verify) or done, 1 inconsistent cases, 2 usage or could not run\n");
    return 2;
}

static int verify(store *db)
{
    store_conn *c = store_acquire(db);
    if (!c) return 2;
    long long checked = 0, bad = 0, after = 0;
    int rc = STORE_OK;
    for (;;) {
        long long ids[500];
        int n = 0;
        store_stmt *st =
            store_prepare(c, "SELECT id FROM ecase WHERE id > $1 AND state <> 'draft' ORDER BY id LIMIT 500");
        if (!st) {
            rc = STORE_ERROR;
            break;
        }
        store_bind_int64(st, 1, after);
        while (n < 500 && store_step(st) == STORE_ROW) ids[n++] = store_column_int64(st, 0);
        store_finalize(st);
        if (n == 0) break;
        after = ids[n - 1];
        for (int i = 0; i < n; i++) {
            struct case_row row;
            if ((rc = case_load(c, ids[i], &row)) != STORE_ROW) break;
            struct case_workflow wf;
            struct case_core core;
            const char *why = NULL;
            rc = case_item_workflow(c, row.item_code, row.item_version, &wf);
            if (rc == STORE_OK) {
                rc = case_replay(c, row.id, &wf, &core, &why);
                if (rc == 0 && (core.state != row.core.state || core.step != row.core.step ||
                                core.assignee != row.core.assignee || core.precheck != row.core.precheck ||
                                (core.state == CS_SUPPLEMENT && core.prev_state != row.core.prev_state))) {
                    why = "the stored case differs from what its log gives";
                    rc = -2;
                }
            }
            checked++;
            if (rc != STORE_OK) {
                bad++;
                printf("case %lld (%s): %s\n", row.id, row.case_no,
                       rc == -2           ? why
                       : rc == STORE_DONE ? "no supervision log"
                                          : "could not be read");
                rc = STORE_OK;
            }
            case_row_free(&row);
        }
        if (rc != STORE_OK) break;
    }
    store_release(c);
    if (rc != STORE_OK) {
        fprintf(stderr, "ehall cases verify: the store failed\n");
        return 2;
    }
    printf("%lld case(s) replayed, %lld inconsistent\n", checked, bad);
    return bad ? 1 : 0;
}

int cmd_cases(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc != 2) return usage();
    int which = !strcmp(argv[1], "verify") ? 1 : !strcmp(argv[1], "sweep") ? 2 : 0;
    if (!which) return usage();
    store *db = cmd_open_store(ctx, 1);
    if (!db) return 2;
    calendar *cal = calendar_new(db);
    case_engine_init(db, cal, &ctx->cfg);
    int rc;
    if (which == 1) {
        rc = verify(db);
    } else {
        int n = case_sweep(db);
        if (n < 0)
            fprintf(stderr, "ehall cases sweep: the store failed\n");
        else
            printf("%d case(s) escalated\n", n);
        rc = n < 0 ? 2 : 0;
    }
    calendar_free(cal);
    store_close(db);
    return rc;
}
