/*
 * licence.c — `ehall license validate|import|keygen|pubkeys|verify|expire`: electronic
 * licences from the command line (src/licence/, docs/licences.md).
 *
 * verify reads a presented licence file (licence_read_file: JSON today; a PDF's embedded
 * JSON is taken out in that one function), checks it offline against a public-key file
 * (the seal-keys.json the server publishes, or one SM2 public key PEM) and prints one
 * JSON object: {"valid", "reason", "detail", "id", "issuer"}.
 *
 * Exit status: 0 done / valid; 1 problems / invalid; 2 usage or could not run.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/keys.h"
#include "calendar/calendar.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "core/metrics.h"
#include "crypto/crypto.h"
#include "licence/licence.h"

static int usage(void)
{
    fprintf(
        stderr,
        "usage: ehall license validate DIR [--items DIR]   check licence types (and that every item's\n"
        "                                                outputs.licence names one of them)\n"
        "       ehall license import DIR                  validate, then import the types (audited)\n"
        "       ehall license keygen DEPT                 make a department's SM2 seal key (once)\n"
        "       ehall license pubkeys                     the published seal keys (JSON)\n"
        "       ehall license verify FILE --keys FILE     check a licence offline; prints JSON\n"
        "       ehall license expire                      mark licences past valid_to expired\n"
        "       ehall license report [--date YYYY-MM-DD]  usage log: calls served vs calls logged (JSON;\n"
        "                                                exit 1 when they do not balance)\n"
        "exit status: 0 done / valid, 1 problems / invalid, 2 usage or could not run\n");
    return 2;
}

static void operator_actor(char *buf, size_t len)
{
    struct passwd *pw = getpwuid(getuid());
    snprintf(buf, len, "system:%s", pw ? pw->pw_name : "unknown");
}

static int validate(int argc, char **argv)
{
    if (argc < 3) return usage();
    const char *items = NULL;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--items") && i + 1 < argc)
            items = argv[++i];
        else
            return usage();
    }
    struct strbuf problems = {0};
    int n = licence_types_validate(argv[2], items, &problems);
    fputs(problems.data ? problems.data : "", stdout);
    sb_free(&problems);
    if (n < 0) {
        fprintf(stderr, "ehall license validate: cannot read %s\n", argv[2]);
        return 2;
    }
    if (n > 0) {
        fprintf(stderr, "ehall license validate: %d problem%s\n", n, n == 1 ? "" : "s");
        return 1;
    }
    printf("%s: no problems\n", argv[2]);
    return 0;
}

static int import(struct cmd_ctx *ctx, const char *dir)
{
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    char actor[96];
    operator_actor(actor, sizeof actor);
    struct strbuf problems = {0};
    int imported = 0;
    int n = licence_types_import(s, dir, actor, &problems, &imported);
    fputs(problems.data ? problems.data : "", stdout);
    sb_free(&problems);
    store_close(s);
    if (n == -1) {
        fprintf(stderr, "ehall license import: cannot read %s\n", dir);
        return 2;
    }
    if (n < -1) {
        fprintf(stderr, "ehall license import: the database failed\n");
        return 2;
    }
    if (n > 0) {
        fprintf(stderr, "ehall license import: %d problem%s; nothing imported\n", n, n == 1 ? "" : "s");
        return 1;
    }
    printf("imported %d licence type%s (unchanged ones skipped)\n", imported, imported == 1 ? "" : "s");
    return 0;
}

static int keygen(struct cmd_ctx *ctx, const char *dept)
{
    if (!licence_dept_ok(dept)) {
        fprintf(stderr, "ehall license keygen: not a department code: %s\n", dept);
        return 2;
    }
    char dir[600], kid[65], err[300];
    licence_keys_dir(&ctx->cfg, dir, sizeof dir);
    char *priv = NULL, *pub = NULL;
    int had = licence_key_load(dir, dept, 0, &priv, &pub, kid, err, sizeof err);
    if (had == 1)
        had = licence_key_load(dir, dept, 1, &priv, &pub, kid, err, sizeof err) == 0 ? 1 : -1;
    else if (had == 0)
        had = 0;
    if (had < 0) {
        fprintf(stderr, "ehall license keygen: %s\n", err);
        return 2;
    }
    crypto_wipe(priv, strlen(priv));
    free(priv);
    free(pub);
    if (had == 1) {
        store *s = cmd_open_store(ctx, 1);
        if (s) {
            char det[128];
            snprintf(det, sizeof det, "{\"key_id\":\"%s\"}", kid);
            cmd_audit(s, "licence.keygen", dept, "ok", det);
            store_close(s);
        }
    }
    printf("{\"dept\":\"%s\",\"key_id\":\"%s\",\"created\":%s}\n", dept, kid, had == 1 ? "true" : "false");
    return 0;
}

static int pubkeys(struct cmd_ctx *ctx)
{
    char dir[600];
    licence_keys_dir(&ctx->cfg, dir, sizeof dir);
    json_t *k = licence_public_keys(dir);
    char *t = json_dumps(k, JSON_INDENT(2));
    printf("%s\n", t ? t : "{}");
    free(t);
    json_decref(k);
    return 0;
}

/* The public keys: seal-keys.json, or a single PEM public key (any issuer). */
static json_t *load_keys(const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    if (licence_read_file(path, &text, err, errlen) != 0) return NULL;
    json_t *k = NULL;
    const char *t = text;
    while (*t == ' ' || *t == '\n' || *t == '\r' || *t == '\t') t++;
    if (*t != '{') {
        char fp[65];
        if (crypto_sm2_pub_fingerprint(text, fp) == 0)
            k = json_pack("{s:[{s:s}]}", "keys", "public_key", text);
        else
            snprintf(err, errlen, "%s: not an SM2 public key", path);
    } else {
        k = json_loads(text, 0, NULL);
        if (!json_is_array(json_object_get(k, "keys"))) {
            json_decref(k);
            k = NULL;
            snprintf(err, errlen, "%s: neither seal-keys.json ({\"keys\":[...]}) nor a PEM public key", path);
        }
    }
    free(text);
    return k;
}

static void print_result(int valid, const char *reason, const char *detail, const json_t *doc)
{
    const json_t *lic = json_object_get(doc, "licence");
    json_t *o = json_pack(
        "{s:b, s:s, s:s, s:o, s:o}", "valid", valid, "reason", reason, "detail", detail, "id",
        json_is_string(json_object_get(lic, "id")) ? json_incref(json_object_get(lic, "id")) : json_null(),
        "issuer",
        json_is_string(json_object_get(lic, "issuer")) ? json_incref(json_object_get(lic, "issuer"))
                                                       : json_null());
    char *t = json_dumps(o, JSON_COMPACT);
    printf("%s\n", t ? t : "{}");
    free(t);
    json_decref(o);
}

static int verify(int argc, char **argv)
{
    const char *file = NULL, *keys = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            keys = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else
            return usage();
    }
    if (!file || !keys) return usage();
    char err[512];
    json_t *k = load_keys(keys, err, sizeof err);
    if (!k) {
        fprintf(stderr, "ehall license verify: %s\n", err);
        return 2;
    }
    char *text = NULL;
    if (licence_read_file(file, &text, err, sizeof err) != 0) {
        json_decref(k);
        print_result(0, "unreadable", err, NULL);
        return 1;
    }
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    free(text);
    char reason[32], detail[300];
    int rc;
    if (!doc) {
        snprintf(detail, sizeof detail, "not JSON: line %d: %s", je.line, je.text);
        print_result(0, "malformed", detail, NULL);
        rc = 1;
    } else {
        rc = licence_verify(doc, k, calendar_today(), reason, detail, sizeof detail);
        print_result(rc == 0, reason, detail, doc);
    }
    json_decref(doc);
    json_decref(k);
    return rc == 0 ? 0 : 1;
}

static int expire(struct cmd_ctx *ctx)
{
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    char actor[96];
    operator_actor(actor, sizeof actor);
    long long n = 0;
    int rc = licence_expire(s, actor, &n);
    store_close(s);
    if (rc != STORE_OK) {
        fprintf(stderr, "ehall license expire: the database failed\n");
        return 2;
    }
    printf("%lld licence%s expired\n", n, n == 1 ? "" : "s");
    return 0;
}

static int report(struct cmd_ctx *ctx, int argc, char **argv)
{
    char day[11];
    calendar_date_format(calendar_today(), day);
    if (argc == 4 && !strcmp(argv[2], "--date")) {
        int d;
        if (strlen(argv[3]) != 10 || calendar_date_parse(argv[3], &d) != 0) {
            fprintf(stderr, "ehall license report: --date: a date YYYY-MM-DD\n");
            return 2;
        }
        snprintf(day, sizeof day, "%s", argv[3]);
    } else if (argc != 2) {
        return usage();
    }
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 2;
    json_t *out = NULL;
    int rc = licence_use_report(s, day, &out);
    store_close(s);
    if (rc != STORE_OK) {
        fprintf(stderr, "ehall license report: the database failed\n");
        return 2;
    }
    char *t = json_dumps(out, JSON_COMPACT);
    printf("%s\n", t ? t : "{}");
    free(t);
    int ok = json_is_true(json_object_get(out, "balanced"));
    json_decref(out);
    return ok ? 0 : 1;
}

int cmd_license(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *sub = argv[1];
    if (!strcmp(sub, "validate")) return validate(argc, argv);
    if (!strcmp(sub, "import") && argc == 3) return import(ctx, argv[2]);
    if (!strcmp(sub, "keygen") && argc == 3) return keygen(ctx, argv[2]);
    if (!strcmp(sub, "pubkeys") && argc == 2) return pubkeys(ctx);
    if (!strcmp(sub, "verify")) return verify(argc, argv);
    if (!strcmp(sub, "expire") && argc == 2) return expire(ctx);
    if (!strcmp(sub, "report")) return report(ctx, argc, argv);
    return usage();
}
