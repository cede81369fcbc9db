/*
 * audit.c — `ehall audit verify` and `ehall audit checkpoint`, and cmd_audit(), which
 * the other subcommands use to record what an operator did from the command line.
 *
 * verify walks the chain and checks every SM2-signed checkpoint against the audit
 * public key (src/auth/keys.c); checkpoint signs the chain's newest record now.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/keys.h"
#include "cmd/cmd.h"

void cmd_audit(store *s, const char *action, const char *object, const char *result, const char *details)
{
    char actor[96];
    struct passwd *pw = getpwuid(getuid());
    snprintf(actor, sizeof actor, "system:%s", pw ? pw->pw_name : "unknown");
    struct audit_event e = {actor, "operator", "local", NULL, action, object, result, details};
    audit_record(s, &e);
}

static int verify(struct cmd_ctx *ctx)
{
    /* the public key of the checkpoint signatures */
    char err[1024];
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall audit verify: %s\n", err);
        return 2;
    }
    /* read-only: no migrations, nothing recorded */
    store *s = cmd_open_store(ctx, 0);
    if (!s) {
        keys_shutdown();
        return 2;
    }
    struct audit_report rep;
    int rc = audit_verify_signed(s, keys_audit_public_pem(), &rep);
    store_close(s);
    keys_shutdown();
    if (rc < 0) {
        fprintf(stderr, "ehall audit verify: the audit log could not be read (is the schema migrated?)\n");
        return 2;
    }
    if (rc == 1 && rep.checkpoint_broken) {
        printf("audit chain BROKEN at record %lld: %s (the chain itself links up over %lld records; %lld "
               "checkpoints before it verified)\n",
               rep.broken_seq, rep.reason, rep.records, rep.checkpoints);
        return 1;
    }
    if (rc == 1) {
        printf("audit chain BROKEN at record %lld: %s (%lld records before it are intact)\n", rep.broken_seq,
               rep.reason, rep.records);
        return 1;
    }
    printf("audit chain intact: %lld records, %lld signed checkpoints verified, head %s\n", rep.records,
           rep.checkpoints, rep.head);
    return 0;
}

static int checkpoint(struct cmd_ctx *ctx)
{
    char err[1024];
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall audit checkpoint: %s\n", err);
        return 2;
    }
    store *s = cmd_open_store(ctx, 0);
    if (!s) {
        keys_shutdown();
        return 2;
    }
    long long seq = 0;
    int rc = audit_checkpoint(s, keys_audit_private_pem(), keys_audit_key_id(), &seq);
    store_close(s);
    if (rc < 0)
        fprintf(stderr,
                "ehall audit checkpoint: the checkpoint could not be written (is the schema migrated?)\n");
    else if (rc == 0)
        printf("signed checkpoint at record %lld with audit key %s\n", seq, keys_audit_key_id());
    else if (seq == 0)
        printf("the audit log is empty: nothing to sign\n");
    else
        printf("record %lld already has a signed checkpoint\n", seq);
    keys_shutdown();
    return rc < 0 ? 2 : 0;
}

int cmd_audit_main(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "verify")) return verify(ctx);
    if (argc == 2 && !strcmp(argv[1], "checkpoint")) return checkpoint(ctx);
    fprintf(stderr,
            "usage: ehall audit verify       check the audit chain end to end, and its signed checkpoints\n"
            "       ehall audit checkpoint   sign a checkpoint of the chain's newest record now\n"
            "exit status: 0 intact (done), 1 broken (the first broken record is named), 2 could not check\n");
    return 2;
}
