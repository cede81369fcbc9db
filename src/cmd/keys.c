/*
 * keys.c — `ehall keys rotate`, `ehall keys reseal` and `ehall keys status`.
 *
 * rotate appends a new master-key version to the key file, waits a moment so that
 * running servers (which re-read the file at most once a second) seal new values
 * with it, then re-seals, re-indexes and re-MACs every row still on an older version
 * (src/auth/rotate.c), in short transactions, so it is safe while `ehall serve` runs.
 * reseal does only the second half: after an interrupted rotation, or when the keys
 * come from EHALL_MASTER_KEYS (a new version is added there, not by ehall).
 * status shows the versions and what is left on older ones.  Key material is never
 * printed; every rotation and re-seal is recorded in the audit chain.
 *
 * Exit status: 0 done, 1 done but rows were left (a MAC that does not verify, a value
 * that does not open), 2 could not run.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/keys.h"
#include "cmd/cmd.h"

static int usage(void)
{
    fprintf(stderr, "usage: ehall keys rotate   add a new master-key version and re-seal every row with it\n"
                    "       ehall keys reseal   re-seal every row still on an older version\n"
                    "       ehall keys status   key versions, rows left on older versions, tampered rows\n"
                    "exit status: 0 done, 1 rows were left as they are (see the output), 2 could not run\n");
    return 2;
}

static void progress(const char *table, long long done, void *arg)
{
    (void)arg;
    printf("  %-18s %lld rows moved\n", table, done);
    fflush(stdout);
}

static int reseal(struct cmd_ctx *ctx, store *s, const char *action, int version)
{
    (void)ctx;
    struct keys_reseal_report rep;
    char err[512] = "", details[256], object[32];
    printf("re-sealing rows on older versions with key version %d\n", version);
    fflush(stdout);
    int rc = keys_reseal_report(s, &rep, progress, NULL, err, sizeof err);
    snprintf(object, sizeof object, "version %d", version);
    snprintf(details, sizeof details,
             "{\"version\":%d,\"resealed\":%lld,\"remaced\":%lld,\"tampered\":%lld,\"unreadable\":%lld}",
             version, rep.resealed, rep.remaced, rep.tampered, rep.unreadable);
    if (rc < 0) {
        fprintf(stderr, "ehall keys: %s\n", err);
        cmd_audit(s, action, object, "failed", details);
        return 2;
    }
    long long stale = -1;
    keys_stale_rows(s, &stale);
    printf("re-sealed %lld rows, re-MACed %lld rows\n", rep.resealed, rep.remaced);
    if (rep.tampered)
        printf("%lld rows have a MAC that does not verify (changed behind ehall's back): left as they are, "
               "see `ehall keys status`\n",
               rep.tampered);
    if (rep.unreadable)
        printf("%lld rows have a sealed value that does not open: left as they are\n", rep.unreadable);
    printf("rows still on older versions: %lld\n", stale);
    cmd_audit(s, action, object, rc == 0 ? "ok" : "partial", details);
    return rc == 0 ? 0 : 1;
}

static int rotate(struct cmd_ctx *ctx, store *s, int add)
{
    int version = keys_current_version();
    if (add) {
        const char *src = keys_source();
        if (!strcmp(src, "EHALL_MASTER_KEYS")) {
            printf("the keys come from EHALL_MASTER_KEYS: add the new version there (\"...,N:<64 hex>\"), "
                   "restart "
                   "the servers, then run `ehall keys reseal`; re-sealing to the current version %d now\n",
                   version);
        } else {
            char err[512];
            if (keys_add_version(&ctx->cfg, &version, err, sizeof err) != 0) {
                fprintf(stderr, "ehall keys rotate: %s\n", err);
                cmd_audit(s, "keys.rotate", NULL, "failed", NULL);
                return 2;
            }
            printf("added key version %d to %s\n", version, src);
            /* running servers check the key file at most once a second */
            struct timespec ts = {1, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return reseal(ctx, s, add ? "keys.rotate" : "keys.reseal", version);
}

static int status(store *s)
{
    int versions[64];
    int nv = keys_versions(versions, 64);
    printf("keys from:          %s\n", keys_source());
    printf("current version:    %d\n", nv > 0 ? versions[0] : 0);
    printf("known versions:    ");
    for (int i = 0; i < nv; i++) printf(" %d", versions[i]);
    printf("\naudit signing key:  %s\n", keys_audit_key_id() ? keys_audit_key_id() : "-");
    struct keys_stale_col cols[64];
    int n = keys_stale_columns(s, cols, 64);
    long long stale = 0, tampered = 0;
    if (n < 0 || keys_stale_rows(s, &stale) != 0 || keys_tampered_rows(s, &tampered) != 0) {
        fprintf(stderr, "ehall keys status: the database could not be read (is the schema migrated?)\n");
        return 2;
    }
    printf("values not on version %d:\n", nv > 0 ? versions[0] : 0);
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s.%s", cols[i].table, cols[i].column);
        printf("  %-32s %lld\n", name, cols[i].rows);
    }
    printf("rows on older versions: %lld\n", stale);
    printf("rows whose MAC does not verify: %lld\n", tampered);
    return 0;
}

int cmd_keys(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc != 2) return usage();
    int add = !strcmp(argv[1], "rotate"), re = !strcmp(argv[1], "reseal"), st = !strcmp(argv[1], "status");
    if (!add && !re && !st) return usage();
    char err[1024];
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall keys: %s\n", err);
        return 2;
    }
    store *s = cmd_open_store(ctx, !st);
    if (!s) {
        keys_shutdown();
        return 2;
    }
    /* like serve: a restore must not replace the database under a rotation */
    int lock = st ? -2 : cmd_lock_sqlite(ctx, 0);
    if (lock == -1)
        fprintf(stderr, "ehall keys: a restore is running on this database; try again when it is done\n");
    if (lock == -1 || lock == -3) {
        store_close(s);
        keys_shutdown();
        return 2;
    }
    int rc = st ? status(s) : rotate(ctx, s, add);
    store_close(s);
    keys_shutdown();
    return rc;
}
