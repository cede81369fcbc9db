/*
 * audit.c — `ehall audit verify`, and cmd_audit(), which the other subcommands use to
 * record what an operator did from the command line.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cmd/cmd.h"

void cmd_audit(store *s, const char *action, const char *object, const char *result, const char *details)
{
    char actor[96];
    struct passwd *pw = getpwuid(getuid());
    snprintf(actor, sizeof actor, "system:%s", pw ? pw->pw_name : "unknown");
    struct audit_event e = {actor, "operator", "local", NULL, action, object, result, details};
    audit_record(s, &e);
}

int cmd_audit_main(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr,
                "usage: ehall audit verify   check the audit chain end to end\n"
                "exit status: 0 intact, 1 broken (the first broken record is named), 2 could not check\n");
        return 2;
    }
    /* read-only: no migrations, nothing recorded */
    store *s = cmd_open_store(ctx, 0);
    if (!s) return 2;
    struct audit_report rep;
    int rc = audit_verify(s, &rep);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "ehall audit verify: the audit log could not be read (is the schema migrated?)\n");
        return 2;
    }
    if (rc == 1) {
        printf("audit chain BROKEN at record %lld: %s (%lld records before it are intact)\n", rep.broken_seq,
               rep.reason, rep.records);
        return 1;
    }
    printf("audit chain intact: %lld records, head %s\n", rep.records, rep.head);
    return 0;
}
