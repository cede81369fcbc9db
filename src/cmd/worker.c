/*
 * worker.c — `ehall worker`: the processing zone's process.  It only connects
 * outward (to the database and, through the connectors, to the back-ends), runs
 * exchange workers (the same loop as the threads inside `ehall serve`) and stops on
 * SIGTERM or SIGINT once its in-flight batches are complete.  A crash (SIGKILL) loses
 * nothing: its leases expire and other workers take the messages over.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/keys.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "engine/flow.h"
#include "exchange/exchange.h"
#include "tax/tax.h"

static int usage(void)
{
    fprintf(stderr, "usage: ehall worker [--threads N] [--once]\n"
                    "  --threads N  worker threads (default exchange.workers, at least 1)\n"
                    "  --once       work until nothing is due, then exit (no waiting)\n");
    return 2;
}

int cmd_worker(struct cmd_ctx *ctx, int argc, char **argv)
{
    long long threads = ctx->cfg.exchange_workers > 0 ? ctx->cfg.exchange_workers : 1;
    int once = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (parse_int64(argv[++i], &threads) != 0 || threads < 1 || threads > 64) {
                fprintf(stderr, "ehall worker: --threads must be 1 to 64\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--once")) {
            once = 1;
        } else {
            return usage();
        }
    }
    char err[512];
    /* result handlers may seal personal data: the same keys as the server */
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall worker: %s\n", err);
        return 1;
    }
    /* the processing zone does not change the schema: `ehall migrate` (or serve) does */
    store *db = cmd_open_store(ctx, 0);
    if (!db) return 1;
    int cur = 0, latest = 0;
    if (store_schema_version(db, &cur, &latest) != STORE_OK || cur != latest) {
        fprintf(stderr, "ehall worker: the database schema is at version %d, this ehall needs %d%s\n", cur,
                latest, cur < latest ? ": run `ehall migrate` first" : ": run a newer ehall");
        store_close(db);
        return 1;
    }
    exchange_setup(db, &ctx->cfg);
    /* the case engine takes the back-end's answers about cases */
    calendar *cal = calendar_new(db);
    case_engine_init(db, cal, &ctx->cfg);
    tax_init(db, cal);
    int rc = 0;
    if (once) {
        char host[64] = "host", owner[160];
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = 0;
        long long total = 0, seq = 0;
        int n;
        do {
            snprintf(owner, sizeof owner, "%s:%d:once:%lld", host, (int)getpid(), ++seq);
            n = exchange_run_once(owner);
            if (n > 0) total += n;
        } while (n > 0);
        printf("%lld messages processed\n", total);
        rc = n < 0 ? 1 : 0;
    } else {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        if (exchange_start((int)threads) != 0) rc = 1;
        log_info("ehall worker running %lld thread(s) on %s", threads, store_engine_name(db));
        int sig = 0;
        if (!rc) sigwait(&set, &sig);
        log_info("ehall worker stopping: in-flight batches finish first");
        exchange_stop();
    }
    calendar_free(cal);
    store_close(db);
    return rc;
}
