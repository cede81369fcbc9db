/*
 * backup.c — `ehall backup FILE` and `ehall restore FILE` for the SQLite store.
 *
 * Backup uses SQLite's online-backup API from a read transaction, so `ehall serve`
 * keeps serving (WAL lets writers continue).  The copy is written to FILE.tmp,
 * fsynced and renamed, then its SM3 digest goes to FILE.sm3 in the `sha256sum`
 * layout ("<hex>  <name>").
 *
 * Restore refuses, before touching the live database, anything that is not exactly
 * what backup wrote: a missing or different digest, a file SQLite finds corrupt, a
 * file with no ehall schema or a schema newer than this binary.  The copy into the
 * live database is itself one SQLite transaction, so a failure part-way leaves the
 * live data as it was.  PostgreSQL has better tools of its own (pg_dump,
 * pg_basebackup with WAL archiving); docs/operations.md shows them.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/core.h"
#include "crypto/crypto.h"

static int refuse_postgres(struct cmd_ctx *ctx, const char *what)
{
    if (str_has_prefix(ctx->cfg.db_url, "sqlite:")) return 0;
    fprintf(stderr,
            "ehall %s: the database is PostgreSQL; use its own tools instead:\n"
            "  pg_dump --format=custom --file=ehall.dump \"$DB_URL\"     (logical backup)\n"
            "  pg_restore --clean --dbname=\"$DB_URL\" ehall.dump         (restore)\n"
            "  pg_basebackup + WAL archiving                             (point-in-time recovery)\n"
            "see docs/operations.md\n",
            what);
    return 1;
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static void dir_of(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == out)
        out[1] = 0;
    else
        *slash = 0;
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Copy every page of src into dst (both open); waits out locks up to ~30 s. */
static int copy_db(sqlite3 *dst, sqlite3 *src, char *err, size_t errlen)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(dst));
        return -1;
    }
    int rc, waited = 0;
    while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        if (waited++ > 300) break;
        sqlite3_sleep(100);
    }
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}

int cmd_backup(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ehall backup FILE\n");
        return 2;
    }
    if (refuse_postgres(ctx, "backup")) return 2;
    const char *out = argv[1];
    const char *live = ctx->cfg.db_url + strlen("sqlite:");
    if (access(live, R_OK) != 0) {
        fprintf(stderr, "ehall backup: no database at %s\n", live);
        return 1;
    }
    char tmp[1100], sumf[1100], dir[1100], err[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    snprintf(sumf, sizeof sumf, "%s.sm3", out);
    unlink(tmp);
    sqlite3 *src = NULL, *dst = NULL;
    int ok = sqlite3_open_v2(live, &src, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
             sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_busy_timeout(src, 5000);
        ok = copy_db(dst, src, err, sizeof err) == 0;
    } else {
        snprintf(err, sizeof err, "%s", sqlite3_errmsg(src && dst ? dst : src));
    }
    /* the copy must be a single self-contained file: no WAL beside it */
    if (ok) ok = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close_v2(src);
    sqlite3_close_v2(dst);
    char hex[2 * SM3_DIGEST_LEN + 1];
    dir_of(out, dir, sizeof dir);
    if (!ok || fsync_path(tmp, 0) != 0 || rename(tmp, out) != 0 || fsync_path(dir, 1) != 0 ||
        crypto_sm3_file_hex(out, hex) != 0) {
        fprintf(stderr, "ehall backup: failed: %s\n", ok ? strerror(errno) : err);
        unlink(tmp);
        return 1;
    }
    char sumtmp[1200];
    snprintf(sumtmp, sizeof sumtmp, "%s.tmp", sumf);
    FILE *f = fopen(sumtmp, "w");
    if (!f || fprintf(f, "%s  %s\n", hex, base_of(out)) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0 ||
        fclose(f) != 0 || rename(sumtmp, sumf) != 0) {
        fprintf(stderr, "ehall backup: cannot write %s: %s\n", sumf, strerror(errno));
        return 1;
    }
    printf("backup written to %s\nsm3 %s (%s)\n", out, hex, sumf);
    store *s = cmd_open_store(ctx, 0);
    if (s) {
        char details[160];
        snprintf(details, sizeof details, "{\"sm3\":\"%s\"}", hex);
        cmd_audit(s, "backup.create", out, "ok", details);
        store_close(s);
    }
    return 0;
}

/* Validate a backup file; returns 0 when it may be restored. */
static int check_backup(const char *file, char *why, size_t len)
{
    char sumf[1100], line[256], hex[2 * SM3_DIGEST_LEN + 1], want[2 * SM3_DIGEST_LEN + 1];
    snprintf(sumf, sizeof sumf, "%s.sm3", file);
    if (access(file, R_OK) != 0) {
        snprintf(why, len, "cannot read %s: %s", file, strerror(errno));
        return -1;
    }
    FILE *f = fopen(sumf, "r");
    if (!f) {
        snprintf(why, len, "no digest file %s beside the backup; refusing an unverifiable file", sumf);
        return -1;
    }
    int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got || strlen(line) < 64 || strspn(line, "0123456789abcdef") != 64) {
        snprintf(why, len, "%s is not an SM3 digest file", sumf);
        return -1;
    }
    memcpy(want, line, 64);
    want[64] = 0;
    if (crypto_sm3_file_hex(file, hex) != 0) {
        snprintf(why, len, "cannot read %s", file);
        return -1;
    }
    if (strcmp(hex, want) != 0) {
        snprintf(why, len,
                 "SM3 digest mismatch: the file is %s but %s says %s (corrupt, truncated or altered)", hex,
                 sumf, want);
        return -1;
    }
    sqlite3 *db = NULL;
    int ok = sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK;
    sqlite3_stmt *st = NULL;
    if (ok)
        ok = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    if (!ok) {
        snprintf(why, len, "%s is not a sound SQLite database", file);
        sqlite3_close_v2(db);
        return -1;
    }
    st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "SELECT MAX(version) FROM ehall_schema", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    if (version < 1) {
        snprintf(why, len, "%s holds no ehall schema", file);
        return -1;
    }
    if (version > store_migrations_latest()) {
        snprintf(why, len, "%s has schema version %d, newer than this ehall (%d)", file, version,
                 store_migrations_latest());
        return -1;
    }
    return 0;
}

int cmd_restore(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ehall restore FILE\n");
        return 2;
    }
    if (refuse_postgres(ctx, "restore")) return 2;
    char why[512];
    if (check_backup(argv[1], why, sizeof why) != 0) {
        fprintf(stderr, "ehall restore: refused: %s\nthe live data was not changed\n", why);
        store *s = cmd_open_store(ctx, 1);
        if (s) {
            json_t *d = json_pack("{s:s}", "reason", why);
            char *txt = d ? json_dumps(d, JSON_COMPACT) : NULL;
            cmd_audit(s, "backup.restore", argv[1], "refused", txt);
            free(txt);
            json_decref(d);
            store_close(s);
        }
        return 1;
    }
    /* make sure the live file exists and is migrated to a schema we know */
    store *s = cmd_open_store(ctx, 1);
    if (!s) return 1;
    int lock = cmd_lock_sqlite(ctx, 1);
    if (lock == -3) {
        store_close(s);
        return 1;
    }
    if (lock == -1) {
        fprintf(stderr, "ehall restore: refused: ehall serve is running on this database; stop it first\n"
                        "the live data was not changed\n");
        cmd_audit(s, "backup.restore", argv[1], "refused", "{\"reason\":\"server running\"}");
        store_close(s);
        return 1;
    }
    store_close(s);
    const char *live = ctx->cfg.db_url + strlen("sqlite:");
    sqlite3 *src = NULL, *dst = NULL;
    char err[256] = "";
    int ok = sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
             sqlite3_open_v2(live, &dst, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_busy_timeout(dst, 5000);
        ok = copy_db(dst, src, err, sizeof err) == 0;
    } else {
        snprintf(err, sizeof err, "cannot open the databases");
    }
    if (ok) sqlite3_exec(dst, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    sqlite3_close_v2(src);
    sqlite3_close_v2(dst);
    if (!ok) {
        fprintf(stderr, "ehall restore: failed: %s; the live database was left as it was\n", err);
        return 1;
    }
    printf("restored %s into %s\n", argv[1], live);
    /* recorded in the restored chain: the restore itself is the newest event */
    s = cmd_open_store(ctx, 1);
    if (s) {
        cmd_audit(s, "backup.restore", argv[1], "ok", NULL);
        store_close(s);
    }
    return 0;
}
