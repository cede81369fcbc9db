/*
 * serve.c — `ehall serve`: open and migrate the store, then run the HTTP server.
 * migrate.c's `ehall migrate` and the shared cmd_open_store() live here too.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "calendar/calendar.h"
#include "licence/licence.h"
#include "engine/flow.h"
#include "audit/audit.h"
#include "auth/internal.h"
#include "auth/keys.h"
#include "auth/policy.h"
#include "auth/rbac.h"
#include "auth/session.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "exchange/exchange.h"
#include "tax/tax.h"

static int mkdirs(const char *dir)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0750) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

store *cmd_open_store(struct cmd_ctx *ctx, int migrate)
{
    const struct config *c = &ctx->cfg;
    if (str_has_prefix(c->db_url, "sqlite:")) {
        /* the directory that holds the database file */
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", c->db_url + strlen("sqlite:"));
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            if (mkdirs(dir) != 0) {
                fprintf(stderr, "ehall: cannot create %s: %s\n", dir, strerror(errno));
                return NULL;
            }
        }
    }
    struct store_options so = {(int)c->db_pool_size, (int)c->db_busy_timeout,
                               (int)c->http_request_timeout * 1000};
    store *s = NULL;
    char err[512];
    if (store_open(c->db_url, &so, &s, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "ehall: cannot open the database: %s\n", err);
        return NULL;
    }
    if (migrate && store_migrate(s, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "ehall: %s\n", err);
        store_close(s);
        return NULL;
    }
    return s;
}

int cmd_lock_sqlite(struct cmd_ctx *ctx, int exclusive)
{
    if (!str_has_prefix(ctx->cfg.db_url, "sqlite:")) return -2;
    char path[1100];
    snprintf(path, sizeof path, "%s.lock", ctx->cfg.db_url + strlen("sqlite:"));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "ehall: cannot open the lock file %s: %s\n", path, strerror(errno));
        return -3;
    }
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    return fd; /* held until the process exits */
}

/* The housekeeper: every few seconds, audit records left pending linked (PostgreSQL),
 * an SM2-signed audit checkpoint once
 * audit.checkpoint_every records have been appended, SMS a failed hand-over left in
 * the outbox, and the sweep of expired sessions, codes and counters.  Several nodes may do this at once: a
 * checkpoint that exists already is not signed twice, and each message is claimed by one node. */
static pthread_mutex_t keeper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t keeper_cv = PTHREAD_COND_INITIALIZER;
static int keeper_stop;

static void keeper_round(struct app *app)
{
    audit_link_pending(app->db); /* PostgreSQL: records a failed run or a crash left pending */
    if (audit_checkpoint_due(app->db, app->cfg->audit_checkpoint_every) == 1) {
        long long seq = 0;
        if (audit_checkpoint(app->db, keys_audit_private_pem(), keys_audit_key_id(), &seq) == 0)
            log_info("signed audit checkpoint at record %lld", seq);
    }
    sms_flush(app->db, app->cfg);
    tax_keeper(app->db);
    auth_policy_refresh(app->db); /* console changes made on other nodes */
    auth_sweep(app->db, app->cfg);
    if (case_engine.db) {
        int n = case_sweep(app->db);
        if (n > 0) log_info("escalated %d overdue case(s)", n);
    }
    licence_expire(app->db, "system", NULL); /* licences past valid_to */
}

static void *keeper(void *arg)
{
    struct app *app = arg;
    pthread_mutex_lock(&keeper_mu);
    while (!keeper_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        pthread_cond_timedwait(&keeper_cv, &keeper_mu, &until);
        if (keeper_stop) break;
        pthread_mutex_unlock(&keeper_mu);
        keeper_round(app);
        pthread_mutex_lock(&keeper_mu);
    }
    pthread_mutex_unlock(&keeper_mu);
    return NULL;
}

static int sync_roles_tx(store_conn *c, void *arg)
{
    (void)arg;
    return rbac_sync_builtin(c);
}

static void on_listening(void *appp)
{
    struct app *app = appp;
    app->started = 1;
    cmd_audit(app->db, "system.start", app->cfg->listen, "ok", NULL);
}

/* Settings ehall refuses to serve with: test mode off loopback or in production, an
 * unknown SMS gateway, and development conveniences in production.  Prints why. */
static int refuse_unsafe(const struct config *c)
{
    if (c->test_mode) {
        /* test mode hands out captcha answers and SMS codes: never in production, and
         * only where nobody but this host can reach it */
        if (c->production) {
            fprintf(stderr, "ehall serve: test_mode is refused in a production configuration\n");
            return -1;
        }
        if (strncmp(c->listen, "127.", 4) != 0 && strncmp(c->listen, "[::1]", 5) != 0 &&
            strncmp(c->listen, "localhost:", 10) != 0) {
            fprintf(stderr, "ehall serve: test_mode is only allowed on a loopback address, not %s\n",
                    c->listen);
            return -1;
        }
        log_warn("TEST MODE: captcha answers and SMS codes are readable through the API; never use this "
                 "with real users");
    }
    const char *gw = c->sms_gateway;
    if (strcmp(gw, "file") != 0 && !(strncmp(gw, "exec:", 5) == 0 && gw[5] == '/')) {
        fprintf(stderr, "ehall serve: sms.gateway must be file or exec:/absolute/program, not '%s'\n", gw);
        return -1;
    }
    if (c->production) {
        /* what a laptop may do, a production deployment may not */
        if (!strcmp(gw, "file")) {
            fprintf(stderr,
                    "ehall serve: production needs a real SMS gateway (sms.gateway = exec:PROGRAM); the "
                    "file gateway keeps codes on disk\n");
            return -1;
        }
        if (!c->session_secure_cookie) {
            fprintf(stderr,
                    "ehall serve: production needs session.secure_cookie = true (ehall is reached over "
                    "TLS)\n");
            return -1;
        }
    }
    return 0;
}

int cmd_serve(struct cmd_ctx *ctx, int argc, char **argv)
{
    double t0 = now_monotonic();
    for (int i = 1; i < argc; i++) {
        char err[256];
        const char *v = NULL;
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(argv[i], "--listen=", 9))
            v = argv[i] + 9;
        else {
            fprintf(stderr, "ehall serve: unknown option %s\nusage: ehall serve [--listen ADDR:PORT]\n",
                    argv[i]);
            return 2;
        }
        if (config_set(&ctx->cfg, "listen", v, err, sizeof err) != 0) {
            fprintf(stderr, "ehall serve: %s\n", err);
            return 2;
        }
    }
    if (refuse_unsafe(&ctx->cfg) != 0) return 2;
    char err[512];
    if (keys_init(&ctx->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "ehall serve: %s\n", err);
        return 1;
    }
    store *db = cmd_open_store(ctx, 1);
    if (!db) return 1;
    int lock = cmd_lock_sqlite(ctx, 0);
    if (lock == -1)
        fprintf(stderr, "ehall serve: a restore is running on this database; try again when it is done\n");
    if (lock == -1 || lock == -3) {
        store_close(db);
        return 1;
    }
    if (ctx->cfg.http_threads == 0 && store_engine_of(db) == STORE_POSTGRES) {
        /* A handler on PostgreSQL waits for a round trip to another process, so one
         * thread per CPU leaves the CPUs idle.  Four per CPU (at least 8) fill them, and
         * give the status checks that share a statement (licence/api.c) enough company
         * (docs/performance.md, "Status checks that share a statement"). */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        ctx->cfg.http_threads = n > 2 ? 4 * n : 8;
    }
    struct app app = {&ctx->cfg, db, 0};
    struct http_server_options opt = {api_routes, api_nroutes, &app, &ctx->cfg, auth_authorize, on_listening};
    sms_flush(db, &ctx->cfg); /* messages a previous run queued but did not hand over */
    if (store_tx(db, 1, sync_roles_tx, NULL) != STORE_OK)
        log_warn("could not bring the built-in roles up to date");
    if (auth_policy_refresh(db) != 0)
        log_warn("could not read the security policy settings; the configuration applies");
    log_info("store %s ready in %.1f ms", store_engine_name(db), (now_monotonic() - t0) * 1000.0);
    /* the keeper never takes SIGTERM/SIGINT: those belong to the server's own handling */
    pthread_t keeper_thread;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int keeping = pthread_create(&keeper_thread, NULL, keeper, &app) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    calendar *cal = calendar_new(db);
    exchange_setup(db, &ctx->cfg);
    case_engine_init(db, cal, &ctx->cfg);
    tax_init(db, cal);
    exchange_start((int)ctx->cfg.exchange_workers);
    licence_use_start(db);
    int rc = http_serve(&opt);
    licence_use_stop();
    exchange_stop();
    if (keeping) {
        pthread_mutex_lock(&keeper_mu);
        keeper_stop = 1;
        pthread_cond_signal(&keeper_cv);
        pthread_mutex_unlock(&keeper_mu);
        pthread_join(keeper_thread, NULL);
    }
    if (app.started) cmd_audit(db, "system.stop", ctx->cfg.listen, rc == 0 ? "ok" : "failed", NULL);
    keeper_round(&app); /* the stop record is covered too */
    calendar_free(cal);
    store_close(db);
    return rc;
}

int cmd_migrate(struct cmd_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: ehall migrate\n");
        return 2;
    }
    store *db = cmd_open_store(ctx, 1);
    if (!db) return 1;
    int cur = 0, latest = 0;
    store_schema_version(db, &cur, &latest);
    printf("schema at version %d (%s)\n", cur, store_engine_name(db));
    store_close(db);
    return 0;
}
