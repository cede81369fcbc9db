/*
 * info.c — the small read-only commands: `ehall config …`, `ehall routes`,
 * `ehall version`.
 */
#include <libpq-fe.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "cmd/cmd.h"
#include "core/core.h"

static int usage_config(void)
{
    fprintf(stderr, "usage: ehall config check FILE   validate a config file, naming the bad key\n"
                    "       ehall config show         print the effective configuration\n"
                    "       ehall config keys         list every key, its variable, default and meaning\n");
    return 2;
}

int cmd_config(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) return usage_config();
    if (!strcmp(argv[1], "check")) {
        if (argc != 3) return usage_config();
        struct config c;
        char err[1024];
        config_defaults(&c);
        if (config_load_file(&c, argv[2], err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        printf("%s: ok\n", argv[2]);
        return 0;
    }
    if (!strcmp(argv[1], "show") && argc == 2) {
        struct config shown = ctx->cfg;
        /* never print a database password */
        char *at = strchr(shown.db_url, '@'), *scheme = strstr(shown.db_url, "://");
        if (at && scheme) {
            char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
            if (colon) memmove(colon + 4, at, strlen(at) + 1), memcpy(colon, ":***", 4);
        }
        config_print(&shown);
        return 0;
    }
    if (!strcmp(argv[1], "keys") && argc == 2) {
        const struct config_key_info *k;
        size_t n = config_keys(&k);
        for (size_t i = 0; i < n; i++)
            printf("%-24s %-32s %-8s default %-16s %s\n", k[i].key, k[i].env, k[i].type,
                   k[i].def[0] ? k[i].def : "(derived)", k[i].doc);
        return 0;
    }
    return usage_config();
}

int cmd_routes(struct cmd_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    static const char *access_names[] = {"public", "loopback", "test", "partial", "session", "app"};
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct http_route *rt = &api_routes[i];
        printf("%-7s %-40s %-9s %-22s %s\n", rt->method, rt->pattern, access_names[rt->access],
               rt->perm ? rt->perm : "-", rt->summary);
    }
    return 0;
}

int cmd_version(struct cmd_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    printf("ehall %s (schema %d)\n", EHALL_VERSION, store_migrations_latest());
    printf("sqlite %s, libpq %d, %s, libmicrohttpd %s\n", sqlite3_libversion(), PQlibVersion(),
           OpenSSL_version(OPENSSL_VERSION), MHD_get_version());
    return 0;
}
