/*
 * audit.c — `ehall audit verify|checkpoint|search|export|purge|verify-archive`, and cmd_audit(),
 * which the other subcommands use to record what an operator did from the command
 * line.  The library behind search, export and purge is src/audit/search.c; verify also
 * checks every SM2-signed checkpoint (src/audit/checkpoint.c) against the audit public
 * key from the keyring, and checkpoint signs the chain's newest record now.
 *
 * Reads (verify, search, verify-archive) are not recorded; an export and every purge
 * attempt (done, refused or failed) are.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/keys.h"
#include "cmd/cmd.h"
#include "core/core.h"

static void operator_actor(char *buf, size_t len)
{
    struct passwd *pw = getpwuid(getuid());
    snprintf(buf, len, "system:%s", pw ? pw->pw_name : "unknown");
}

void cmd_audit(store *s, const char *action, const char *object, const char *result, const char *details)
{
    char actor[96];
    operator_actor(actor, sizeof actor);
    struct audit_event e = {actor, "operator", "local", NULL, action, object, result, details};
    audit_record(s, &e);
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: ehall audit verify                      check the audit chain end to end, and its signed\n"
        "                                               checkpoints\n"
        "       ehall audit checkpoint                  sign a checkpoint of the newest record now\n"
        "       ehall audit search [FILTERS] [--after SEQ] [--limit N]\n"
        "                                               print matching records, oldest first, one per\n"
        "                                               line: seq at actor role client action object\n"
        "                                               result details (tab-separated; - is empty)\n"
        "       ehall audit export --format csv|jsonl [FILTERS] [--after SEQ] FILE\n"
        "                                               write every matching record to FILE (new) and\n"
        "                                               FILE.sm3; prints the count and the SM3 digest\n"
        "       ehall audit purge --archive FILE [--before DATE]\n"
        "                                               archive, then delete, the records older than\n"
        "                                               audit.retention_days (or DATE, when earlier)\n"
        "       ehall audit verify-archive FILE         check a purge archive against FILE.sm3 and its\n"
        "                                               hash chain\n"
        "FILTERS: --from DATE --to DATE (DATE: YYYY-MM-DD in the configured zone, or RFC 3339;\n"
        "         from inclusive, to exclusive) --actor A --action X --object O --client C\n"
        "         --result R --request-id ID; actor, action, object, client match a prefix\n"
        "         when they end in '*' (--action 'auth.*')\n"
        "exit status: 0 done / intact, 1 broken or refused, 2 usage error or could not check\n");
    return 2;
}

/* Options of search/export/purge; argv is what follows the subcommand. */
struct opts {
    struct audit_filter f;
    const char *format, *archive, *before, *file;
};

static int parse_opts(int argc, char **argv, struct opts *o, int allow_limit)
{
    static const struct {
        const char *name;
        size_t off;
    } text[] = {
        {"--from", offsetof(struct opts, f.from)},     {"--to", offsetof(struct opts, f.to)},
        {"--actor", offsetof(struct opts, f.actor)},   {"--action", offsetof(struct opts, f.action)},
        {"--object", offsetof(struct opts, f.object)}, {"--client", offsetof(struct opts, f.client)},
        {"--result", offsetof(struct opts, f.result)}, {"--request-id", offsetof(struct opts, f.request_id)},
        {"--format", offsetof(struct opts, format)},   {"--archive", offsetof(struct opts, archive)},
        {"--before", offsetof(struct opts, before)},
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] != '-') {
            if (o->file) {
                fprintf(stderr, "ehall audit: one FILE only (got %s and %s)\n", o->file, a);
                return -1;
            }
            o->file = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ehall audit: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        int known = 0;
        for (size_t k = 0; k < EHALL_ARRAY_LEN(text) && !known; k++)
            if (!strcmp(a, text[k].name)) {
                *(const char **)((char *)o + text[k].off) = v;
                known = 1;
            }
        if (known) continue;
        long long n;
        if (!strcmp(a, "--after") && parse_int64(v, &n) == 0) {
            o->f.after_seq = n;
        } else if (allow_limit && !strcmp(a, "--limit") && parse_int64(v, &n) == 0 && n >= 1 &&
                   n <= AUDIT_LIMIT_MAX) {
            o->f.limit = (int)n;
        } else {
            fprintf(stderr, "ehall audit: bad option %s %s\n", a, v);
            return -1;
        }
    }
    const char *field, *why;
    if (audit_filter_check(&o->f, &field, &why) != 0) {
        fprintf(stderr, "ehall audit: --%s %s\n", strcmp(field, "after_seq") ? field : "after", why);
        return -1;
    }
    return 0;
}

/* One cell on a tab-separated line: control characters and backslashes escaped, so a
 * record cannot break the line or send terminal escapes. */
static void put_cell(const char *v, int last)
{
    if (!v) {
        fputs("-", stdout);
    } else {
        for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
            if (*p == '\\')
                fputs("\\\\", stdout);
            else if (*p == '\t')
                fputs("\\t", stdout);
            else if (*p == '\n')
                fputs("\\n", stdout);
            else if (*p < 0x20 || *p == 0x7f)
                printf("\\x%02x", *p);
            else
                putchar(*p);
        }
    }
    putchar(last ? '\n' : '\t');
}

struct print_state {
    long long n, last;
};

static int print_row(void *arg, const struct audit_row *r)
{
    struct print_state *ps = arg;
    printf("%lld\t", r->seq);
    const char *cells[] = {r->at, r->actor, r->role, r->client, r->action, r->object, r->result, r->details};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(cells); i++) put_cell(cells[i], i + 1 == EHALL_ARRAY_LEN(cells));
    ps->n++;
    ps->last = r->seq;
    return 0;
}

static int do_search(struct cmd_ctx *ctx, int argc, char **argv)
{
    struct opts o = {0};
    if (parse_opts(argc, argv, &o, 1) != 0) return 2;
    if (o.file || o.format || o.archive || o.before) return usage();
    store *s = cmd_open_store(ctx, 0);
    if (!s) return 2;
    struct print_state ps = {0, 0};
    int rc = audit_search(s, &o.f, print_row, &ps);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "ehall audit search: the audit log could not be read (is the schema migrated?)\n");
        return 2;
    }
    int limit = o.f.limit ? o.f.limit : AUDIT_LIMIT_DEFAULT;
    if (ps.n == limit)
        fprintf(stderr, "(%lld records shown; more may follow: --after %lld)\n", ps.n, ps.last);
    return 0;
}

/* The filter as JSON for the audit record of an export. */
static json_t *filter_json(const struct audit_filter *f)
{
    json_t *o = json_object();
    const char *names[] = {"from", "to", "actor", "action", "object", "client", "result", "request_id"};
    const char *vals[] = {f->from,   f->to,     f->actor,  f->action,
                          f->object, f->client, f->result, f->request_id};
    for (size_t i = 0; o && i < EHALL_ARRAY_LEN(names); i++)
        if (vals[i]) json_object_set_new(o, names[i], json_string(vals[i]));
    if (o && f->after_seq) json_object_set_new(o, "after_seq", json_integer(f->after_seq));
    return o;
}

static void audit_export_event(store *s, const char *file, const char *result, const char *format,
                               const struct audit_filter *f, long long rows, const char *sm3, const char *why)
{
    json_t *d = json_object();
    if (d) {
        json_object_set_new(d, "format", json_string(format));
        json_object_set_new(d, "filter", filter_json(f));
        if (why) {
            json_object_set_new(d, "reason", json_string(why));
        } else {
            json_object_set_new(d, "records", json_integer(rows));
            json_object_set_new(d, "sm3", json_string(sm3));
        }
    }
    char *txt = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(d);
    cmd_audit(s, "audit.export", file, result, txt);
    free(txt);
}

static int do_export(struct cmd_ctx *ctx, int argc, char **argv)
{
    struct opts o = {0};
    if (parse_opts(argc, argv, &o, 0) != 0) return 2;
    if (!o.file || o.archive || o.before) return usage();
    if (!o.format || (strcmp(o.format, "csv") != 0 && strcmp(o.format, "jsonl") != 0)) {
        fprintf(stderr, "ehall audit export: --format csv or --format jsonl is required\n");
        return 2;
    }
    store *s = cmd_open_store(ctx, 0);
    if (!s) return 2;
    /* never overwrite: an export may already be attached to a report */
    int fd = open(o.file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        const char *why = strerror(errno);
        fprintf(stderr, "ehall audit export: cannot create %s: %s\n", o.file, why);
        if (fd >= 0) close(fd);
        audit_export_event(s, o.file, "failed", o.format, &o.f, 0, NULL, why);
        store_close(s);
        return 1;
    }
    long long rows = 0;
    char sm3[65];
    int rc = audit_export(s, &o.f, out, o.format, &rows, sm3);
    int io = rc == STORE_OK && (fflush(out) != 0 || fsync(fileno(out)) != 0);
    if (fclose(out) != 0) io = 1;
    if (rc == STORE_OK && !io && audit_write_digest_file(o.file, sm3) != 0) io = 1;
    if (rc != STORE_OK || io) {
        const char *why = io ? strerror(errno) : "the audit log could not be read";
        fprintf(stderr, "ehall audit export: failed: %s\n", why);
        unlink(o.file);
        audit_export_event(s, o.file, "failed", o.format, &o.f, rows, NULL, why);
        store_close(s);
        return 1;
    }
    printf("%lld records written to %s\nsm3 %s (%s.sm3)\n", rows, o.file, sm3, o.file);
    audit_export_event(s, o.file, "ok", o.format, &o.f, rows, sm3, NULL);
    store_close(s);
    return 0;
}

static int do_purge(struct cmd_ctx *ctx, int argc, char **argv)
{
    struct opts o = {0};
    if (parse_opts(argc, argv, &o, 0) != 0) return 2;
    if (!o.archive || o.file || o.format || o.f.from || o.f.to || o.f.actor || o.f.action || o.f.object ||
        o.f.client || o.f.result || o.f.request_id || o.f.after_seq)
        return usage();
    store *s = cmd_open_store(ctx, 1); /* needs migration 5 */
    if (!s) return 2;
    char actor[96];
    operator_actor(actor, sizeof actor);
    struct audit_event who = {actor, "operator", "local", NULL, "audit.purge", NULL, NULL, NULL};
    struct audit_purge p = {0};
    p.retention_days = (int)ctx->cfg.audit_retention_days;
    p.before = o.before;
    p.archive = o.archive;
    p.who = &who;
    int rc = audit_purge_run(s, &p);
    if (rc == 0) {
        printf("purged %lld records (%lld..%lld, all before %s) into %s\n"
               "sm3 %s (%s.sm3)\nthe chain now starts after record %lld, hash %s\n",
               p.records, p.from_seq, p.upto_seq, p.cutoff, p.archive, p.sm3, p.archive, p.upto_seq,
               p.anchor_hash);
    } else if (rc == 1) {
        printf("nothing to purge: no record is older than %s\n", p.cutoff);
    } else {
        fprintf(stderr, "ehall audit purge: %s: %s\n", rc == 2 ? "refused" : "failed", p.why);
        json_t *d = json_pack("{s:s}", "reason", p.why);
        char *txt = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        cmd_audit(s, "audit.purge", o.archive, rc == 2 ? "refused" : "failed", txt);
        free(txt);
    }
    store_close(s);
    return rc == 0 || rc == 1 ? 0 : 1;
}

static int do_verify_archive(int argc, char **argv)
{
    if (argc != 1) return usage();
    struct audit_archive_info in;
    int rc = audit_archive_verify(argv[0], &in);
    if (rc < 0) {
        fprintf(stderr, "ehall audit verify-archive: %s\n", in.why);
        return 2;
    }
    if (rc == 1) {
        printf("archive BROKEN: %s\n", in.why);
        return 1;
    }
    printf("archive intact: %lld records, %lld..%lld, sm3 %s\n"
           "continues from hash %s\nends with hash %s\n",
           in.records, in.first_seq, in.last_seq, in.sm3, in.first_prev, in.last_hash);
    return 0;
}

static int do_verify(struct cmd_ctx *ctx)
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
    long long anchor = 0, before = 0;
    char anchor_hash[65];
    audit_anchor(s, &before, anchor_hash);
    int rc = audit_verify_signed(s, keys_audit_public_pem(), &rep);
    if (rc >= 0 && audit_anchor(s, &anchor, anchor_hash) != STORE_OK) anchor = 0;
    if (rc == 1 && anchor != before) /* a purge ran meanwhile and moved the start: look again */
        rc = audit_verify_signed(s, keys_audit_public_pem(), &rep);
    store_close(s);
    keys_shutdown();
    if (rc < 0) {
        fprintf(stderr, "ehall audit verify: the audit log could not be read (is the schema migrated?)\n");
        return 2;
    }
    if (rc == 1) {
        printf("audit chain BROKEN at record %lld: %s (%lld records before it are intact)\n", rep.broken_seq,
               rep.reason, rep.records);
        return 1;
    }
    printf("audit chain intact: %lld records, %lld signed checkpoints verified, head %s\n", rep.records,
           rep.checkpoints, rep.head);
    if (anchor > 0)
        printf("records up to %lld were purged; the chain starts from their archive's last hash\n", anchor);
    return 0;
}

static int do_checkpoint(struct cmd_ctx *ctx)
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
    if (argc < 2) return usage();
    const char *sub = argv[1];
    if (!strcmp(sub, "verify") && argc == 2) return do_verify(ctx);
    if (!strcmp(sub, "checkpoint") && argc == 2) return do_checkpoint(ctx);
    if (!strcmp(sub, "search")) return do_search(ctx, argc - 2, argv + 2);
    if (!strcmp(sub, "export")) return do_export(ctx, argc - 2, argv + 2);
    if (!strcmp(sub, "purge")) return do_purge(ctx, argc - 2, argv + 2);
    if (!strcmp(sub, "verify-archive")) return do_verify_archive(argc - 2, argv + 2);
    return usage();
}
