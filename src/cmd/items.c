/*
 * items.c — `ehall items validate|import|list|online|offline`: the service-item
 * catalog from the command line (src/engine/item*.c; formats in docs/items.md).
 *
 * validate checks a pack directory (items, bundles, test data, org.json) and prints
 * every problem as "FILE: $.path: what is wrong"; import validates the same way and
 * stores nothing unless everything passes, then adds new versions, bundles and the
 * missing departments and roles in one transaction, each change audited with it.
 *
 * Exit status: 0 done (or clean); 1 problems found / import refused / no such item;
 * 2 usage or could not run.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/keys.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "core/metrics.h"
#include "engine/item.h"

static int usage(void)
{
    fprintf(
        stderr,
        "usage: ehall items validate DIR    check every item, bundle, test data file and org.json of a\n"
        "                                   pack; prints each problem as FILE: $.path: what is wrong\n"
        "       ehall items import DIR      validate, then import (nothing when anything is wrong): new\n"
        "                                   versions become current, bundles, missing departments and roles\n"
        "       ehall items list            every item: code, current version, online, versions, name\n"
        "       ehall items online CODE     put an item online (audited)\n"
        "       ehall items offline CODE    take an item offline (audited)\n"
        "exit status: 0 done, 1 problems / refused / no such item, 2 usage or could not run\n");
    return 2;
}

static void operator_actor(char *buf, size_t len)
{
    struct passwd *pw = getpwuid(getuid());
    snprintf(buf, len, "system:%s", pw ? pw->pw_name : "unknown");
}

static int validate(const char *dir)
{
    struct strbuf problems = {0};
    int n = item_pack_validate(dir, &problems);
    fputs(problems.data ? problems.data : "", stdout);
    sb_free(&problems);
    if (n < 0) {
        fprintf(stderr, "ehall items validate: cannot read %s\n", dir);
        return 2;
    }
    if (n > 0) {
        fprintf(stderr, "ehall items validate: %d problem%s in %s\n", n, n == 1 ? "" : "s", dir);
        return 1;
    }
    printf("%s: no problems\n", dir);
    return 0;
}

static int import(struct cmd_ctx *ctx, const char *dir)
{
    char err[256];
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall items import: %s\n", err);
        return 2;
    }
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    char actor[96];
    operator_actor(actor, sizeof actor);
    struct strbuf problems = {0}, report = {0};
    int rc = item_pack_import(s, dir, actor, &problems, &report);
    if (rc != 0) {
        fputs(problems.data ? problems.data : "", stdout);
        json_t *d = json_pack("{s:s, s:s%}", "dir", dir, "problems", problems.data ? problems.data : "",
                              problems.len);
        char *details = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        cmd_audit(s, "item.import", dir, rc > 0 ? "refused" : "failed", details);
        free(details);
        if (rc > 0)
            fprintf(stderr, "ehall items import: %s refused; nothing was imported\n", dir);
        else
            fprintf(stderr,
                    "ehall items import: the database could not be written (%d); nothing was imported\n", rc);
    } else {
        fputs(report.data ? report.data : "nothing changed: every file is imported already\n", stdout);
    }
    sb_free(&problems);
    sb_free(&report);
    store_close(s);
    keys_shutdown();
    return rc == 0 ? 0 : rc > 0 ? 1 : 2;
}

struct list_ctx {
    struct strbuf out;
};

static int list_tx(store_conn *c, void *arg)
{
    struct list_ctx *l = arg;
    sb_free(&l->out);
    memset(&l->out, 0, sizeof l->out);
    store_stmt *st = store_prepare(
        c, "SELECT i.code, i.current_version, i.online, i.name,"
           " (SELECT COUNT(*) FROM item_version v WHERE v.code = i.code) FROM item i ORDER BY i.code");
    if (!st) return STORE_ERROR;
    int rc;
    sb_printf(&l->out, "%-14s %7s %-7s %8s  %s\n", "code", "current", "state", "versions", "name");
    while ((rc = store_step(st)) == STORE_ROW)
        sb_printf(&l->out, "%-14s %7lld %-7s %8lld  %s\n", store_column_text(st, 0),
                  store_column_int64(st, 1), store_column_int64(st, 2) ? "online" : "offline",
                  store_column_int64(st, 4), store_column_text(st, 3));
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : STORE_ERROR;
}

static int list(struct cmd_ctx *ctx)
{
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    struct list_ctx l = {{0}};
    int rc = store_tx(s, 0, list_tx, &l);
    if (rc == STORE_OK) fputs(l.out.data ? l.out.data : "", stdout);
    sb_free(&l.out);
    store_close(s);
    if (rc != STORE_OK) fprintf(stderr, "ehall items list: the database could not be read (%d)\n", rc);
    return rc == STORE_OK ? 0 : 2;
}

struct online_ctx {
    const char *code;
    int online, missing;
};

static int online_tx(store_conn *c, void *arg)
{
    struct online_ctx *o = arg;
    int rc = item_set_online(c, o->code, o->online);
    if (rc < 0) return rc;
    o->missing = rc == 1;
    if (o->missing) return STORE_OK;
    char actor[96];
    operator_actor(actor, sizeof actor);
    struct audit_event e = {actor,   "operator", "local", NULL, o->online ? "item.online" : "item.offline",
                            o->code, "ok",       NULL};
    return audit_append(c, &e);
}

static int set_online(struct cmd_ctx *ctx, const char *code, int online)
{
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    struct online_ctx o = {code, online, 0};
    int rc = store_tx(s, 1, online_tx, &o);
    store_close(s);
    if (rc != STORE_OK) {
        fprintf(stderr, "ehall items: the database could not be written (%d)\n", rc);
        return 2;
    }
    if (o.missing) {
        fprintf(stderr, "ehall items: no item %s\n", code);
        return 1;
    }
    printf("%s is %s\n", code, online ? "online" : "offline");
    return 0;
}

int cmd_items(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "validate")) return validate(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "import")) return import(ctx, argv[2]);
    if (argc == 2 && !strcmp(argv[1], "list")) return list(ctx);
    if (argc == 3 && !strcmp(argv[1], "online")) return set_online(ctx, argv[2], 1);
    if (argc == 3 && !strcmp(argv[1], "offline")) return set_online(ctx, argv[2], 0);
    return usage();
}
