/*
 * ehall — an online government service hall (互联网+政务服务, 一网通办).
 *
 * One program, many subcommands, one table (Git's builtin/ pattern): find the
 * command here and follow it into src/cmd/.  `ehall serve` is the acceptance zone —
 * the HTTP API (src/api/routes.c lists every endpoint) and the browser UI in web/.
 * Storage is src/store/ (SQLite or PostgreSQL, chosen by URL); settings are
 * src/core/config.c.  docs/architecture.md draws the whole picture.
 *
 * Global options, accepted before or after the subcommand:
 *   --config FILE   settings file (`key = value`; see `ehall config keys`)
 *   --data DIR      data directory (default ./var)
 *   --db URL        sqlite:PATH or postgres://… (default sqlite:<data>/ehall.db)
 * EHALL_* environment variables override the file; flags override both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "core/core.h"

static int cmd_help(struct cmd_ctx *ctx, int argc, char **argv);

static const struct command {
    const char *name;
    int (*run)(struct cmd_ctx *ctx, int argc, char **argv);
    const char *usage;
} COMMANDS[] = {
    {"serve", cmd_serve, "serve [--listen ADDR:PORT]   run the HTTP server (API + browser UI)"},
    {"migrate", cmd_migrate, "migrate                      apply pending schema migrations"},
    {"backup", cmd_backup, "backup FILE                  online backup of the SQLite store, with FILE.sm3"},
    {"restore", cmd_restore, "restore FILE                 verify FILE against FILE.sm3 and restore it"},
    {"audit", cmd_audit_main, "audit verify|checkpoint      check the audit chain; sign a checkpoint now"},
    {"audit", cmd_audit_main,
     "audit search|export          find or export audit records (filters: `ehall audit`)"},
    {"audit", cmd_audit_main,
     "audit purge|verify-archive   archive and drop records past audit.retention_days"},
    {"admin", cmd_admin_main,
     "admin bootstrap|reset LOGIN  create the three administrators (once); reset a lost password/token"},
    {"keys", cmd_keys, "keys rotate|reseal|status    new master-key version and re-seal; show key state"},
    {"calendar", cmd_calendar,
     "calendar import FILE|show Y  load a year's holidays and working weekends; show a year"},
    {"calendar", cmd_calendar, "calendar add-days DATE N     the Nth working day after DATE"},
    {"items", cmd_items, "items validate|import DIR     check / import a pack of service items"},
    {"items", cmd_items, "items list|online|offline     the item catalog; put an item online or offline"},
    {"cases", cmd_cases, "cases verify|sweep           replay every case's log; remind and escalate once"},
    {"worker", cmd_worker,
     "worker [--threads N] [--once]  run exchange workers (processing zone) until SIGTERM"},
    {"reconcile", cmd_reconcile,
     "reconcile --date YYYY-MM-DD  compare ehall's exchange ledger with the back-end's"},
    {"tax", cmd_tax, "tax params validate|import DIR  check / import the dated tax parameters"},
    {"tax", cmd_tax, "tax remind [--today D]|deadline P  send 催报/催缴 notices; a period's deadline"},
    {"tax", cmd_tax, "tax reconcile --date D  our tax payments against the treasury's ledger"},
    {"license", cmd_license, "license validate|import DIR   check / import licence types (licences/)"},
    {"license", cmd_license, "license keygen DEPT|pubkeys   a department's SM2 seal key; the published keys"},
    {"license", cmd_license,
     "license verify FILE --keys F  check a licence (JSON or PDF) offline: valid, reason"},
    {"license", cmd_license, "license expire                mark licences past their valid_to expired"},
    {"license", cmd_license, "license report [--date D]     licence uses: calls served against calls logged"},
    {"config", cmd_config, "config check FILE|show|keys  validate, show or list configuration"},
    {"routes", cmd_routes, "routes                       list every HTTP endpoint"},
    {"version", cmd_version, "version                      print versions"},
    {"help", cmd_help, "help                         this list"},
};

static int cmd_help(struct cmd_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    printf("usage: ehall [--config FILE] [--data DIR] [--db URL] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < EHALL_ARRAY_LEN(COMMANDS); i++) printf("  ehall %s\n", COMMANDS[i].usage);
    printf("\nEHALL_* environment variables override the config file (see `ehall config keys`).\n");
    return 0;
}

/* Take a global option out of argv (both `--opt V` and `--opt=V`). */
static int take_option(int *argc, char **argv, const char *name, const char **out)
{
    size_t nl = strlen(name);
    for (int i = 1; i < *argc; i++) {
        int shift = 0;
        if (!strcmp(argv[i], name)) {
            if (i + 1 >= *argc) return -1;
            *out = argv[i + 1];
            shift = 2;
        } else if (!strncmp(argv[i], name, nl) && argv[i][nl] == '=') {
            *out = argv[i] + nl + 1;
            shift = 1;
        } else {
            continue;
        }
        memmove(&argv[i], &argv[i + shift], (size_t)(*argc - i - shift + 1) * sizeof *argv);
        *argc -= shift;
        i--;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cmd_ctx ctx = {0};
    const char *data = NULL, *db = NULL, *cfgfile = getenv("EHALL_CONFIG");
    if (take_option(&argc, argv, "--config", &cfgfile) || take_option(&argc, argv, "--data", &data) ||
        take_option(&argc, argv, "--db", &db)) {
        fprintf(stderr, "ehall: an option is missing its value\n");
        return 2;
    }
    char err[1024];
    config_defaults(&ctx.cfg);
    if (cfgfile && config_load_file(&ctx.cfg, cfgfile, err, sizeof err) != 0) {
        fprintf(stderr, "ehall: %s\n", err);
        return 2;
    }
    if (config_load_env(&ctx.cfg, err, sizeof err) != 0 ||
        (data && config_set(&ctx.cfg, "data", data, err, sizeof err) != 0) ||
        (db && config_set(&ctx.cfg, "db", db, err, sizeof err) != 0)) {
        fprintf(stderr, "ehall: %s\n", err);
        return 2;
    }
    config_finish(&ctx.cfg);
    ctx.config_file = cfgfile;
    setenv("TZ", ctx.cfg.timezone, 1);
    tzset();
    enum log_level lvl = LOG_INFO;
    log_level_parse(ctx.cfg.log_level, &lvl);
    log_set_level(lvl);

    const char *name = argc > 1 ? argv[1] : "help";
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) name = "help";
    if (!strcmp(name, "--version")) name = "version";
    for (size_t i = 0; i < EHALL_ARRAY_LEN(COMMANDS); i++)
        if (!strcmp(COMMANDS[i].name, name))
            return COMMANDS[i].run(&ctx, argc > 1 ? argc - 1 : 1, argc > 1 ? argv + 1 : argv);
    fprintf(stderr, "ehall: unknown command '%s' (try `ehall help`)\n", name);
    return 2;
}
