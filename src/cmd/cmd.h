/*
 * cmd — one file per subcommand (like Git's builtin/), behind main.c's table.
 */
#ifndef EHALL_CMD_H
#define EHALL_CMD_H

#include "core/config.h"
#include "store/store.h"

struct cmd_ctx {
    struct config cfg;
    const char *config_file; /* NULL when none was given */
};

int cmd_serve(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_migrate(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_backup(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_restore(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_config(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_routes(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_version(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_audit_main(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_admin_main(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_keys(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_calendar(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_items(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_cases(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_worker(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_reconcile(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_tax(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_license(struct cmd_ctx *ctx, int argc, char **argv);

/* SQLite only: `ehall serve` holds a shared lock on <db>.lock while it runs, and
 * `ehall restore` needs it exclusively, so a restore never happens under a running
 * server.  Returns the lock's descriptor (>= 0), -1 when the lock is taken, -2 when
 * the engine is not SQLite (nothing to lock), -3 when the lock file cannot be opened
 * (the reason is printed). */
int cmd_lock_sqlite(struct cmd_ctx *ctx, int exclusive);

/* Record an operator's action in the audit chain (actor "system:<os user>"). */
void cmd_audit(store *s, const char *action, const char *object, const char *result, const char *details);

/* Open the configured store (creating the data directory for SQLite) and, when
 * migrate is set, bring the schema up to date.  Prints the reason on failure. */
store *cmd_open_store(struct cmd_ctx *ctx, int migrate);

#endif
