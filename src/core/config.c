/*
 * config.c — the option table and its loaders.  See config.h.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

enum ktype { K_STR, K_INT, K_BOOL };

struct key {
    const char *key;
    enum ktype type;
    size_t off, size; /* size for strings */
    const char *def;
    long long min, max;
    const char *doc;
};

#define S(k, field, def, doc)                                                                                \
    {                                                                                                        \
        k, K_STR, offsetof(struct config, field), sizeof(((struct config *)0)->field), def, 0, 0, doc        \
    }
#define I(k, field, def, lo, hi, doc)                                                                        \
    {                                                                                                        \
        k, K_INT, offsetof(struct config, field), 0, def, lo, hi, doc                                        \
    }
#define B(k, field, def, doc)                                                                                \
    {                                                                                                        \
        k, K_BOOL, offsetof(struct config, field), 0, def, 0, 1, doc                                         \
    }

static const struct key KEYS[] = {
    S("data", data_dir, "./var", "directory for the SQLite database, backups and files"),
    S("db", db_url, "",
      "database URL: sqlite:PATH or postgres://user@host:port/db (default sqlite:<data>/ehall.db)"),
    S("listen", listen, "127.0.0.1:8080", "address and port `ehall serve` listens on"),
    S("public_url", public_url, "",
      "the address people reach ehall at, e.g. https://zwfw.example.gov.cn (printed in licence QR codes; "
      "default http://<listen>)"),
    S("web_root", web_root, "",
      "directory of the browser UI (default ./web when it holds index.html, else the source tree's built "
      "web/dist/)"),
    S("log_level", log_level, "info", "debug, info, warn or error"),
    S("timezone", timezone, "Asia/Shanghai", "zone used for times in logs and API responses"),
    I("http.threads", http_threads, "0", 0, 256,
      "HTTP worker threads (0 = one per CPU core on SQLite, four per core and at least 8 on PostgreSQL; "
      "at least 2 are always run)"),
    I("http.max_connections", http_max_connections, "4096", 16, 1000000, "open connections accepted at once"),
    I("http.max_body", http_max_body, "1048576", 1024, 1073741824,
      "largest request body in bytes (413 above)"),
    I("http.max_header", http_max_header, "16384", 4096, 1048576,
      "memory for one request's line and headers in bytes (431 above)"),
    I("http.idle_timeout", http_idle_timeout, "30", 1, 3600,
      "seconds a connection may stay silent before it is closed"),
    I("http.request_timeout", http_request_timeout, "10", 1, 600,
      "seconds a request body may take to arrive, and one database statement may run"),
    I("http.client_rate", http_client_rate, "200", 0, 1000000,
      "requests per second one client address may make (0 = no limit)"),
    I("http.client_burst", http_client_burst, "400", 1, 1000000,
      "requests one client may make in a burst above the rate"),
    I("http.client_concurrency", http_client_concurrency, "64", 1, 100000,
      "requests one client may have in flight at once"),
    B("http.trust_proxy", http_trust_proxy, "0",
      "take the client address from X-Forwarded-For (only behind your own load balancer)"),
    I("shutdown_delay", shutdown_delay, "0", 0, 600,
      "seconds after SIGTERM during which /readyz answers 503 while requests are still served, so a load "
      "balancer can take the node out before it stops serving"),
    I("shutdown_grace", shutdown_grace, "10", 0, 600,
      "seconds in-flight requests get to finish on SIGTERM/SIGINT"),
    I("db.pool_size", db_pool_size, "8", 1, 256, "database connections per process"),
    I("db.busy_timeout", db_busy_timeout, "5000", 0, 600000,
      "milliseconds to wait for a lock before retrying"),
    B("production", production, "0",
      "a production deployment: refuses test_mode, keys it would have to generate itself, the file SMS "
      "gateway and session cookies without Secure"),
    B("test_mode", test_mode, "0",
      "development/test mode: captcha answers and SMS codes readable through the API; only on a loopback "
      "listen address, never with production"),
    S("keys.file", keys_file, "",
      "master-key file (default <data>/keys/ehall.keys); EHALL_MASTER_KEYS overrides it"),
    I("auth.password_iterations", password_iterations, "100000", 1000, 100000000,
      "PBKDF2-HMAC-SM3 iterations for new password hashes; older hashes are upgraded at login"),
    I("auth.password_expiry_days", password_expiry_days, "90", 0, 3650,
      "days after which a password must be changed (0 = never; MLPS level 3 asks for periodic change)"),
    I("auth.lockout_threshold", lockout_threshold, "3", 1, 100,
      "failed log-ins within auth.lockout_window that lock an account"),
    I("auth.lockout_window", lockout_window, "60", 1, 86400, "seconds over which failed log-ins are counted"),
    I("auth.lockout_duration", lockout_duration, "300", 1, 86400, "seconds an account stays locked"),
    I("auth.ip_fail_limit", ip_fail_limit, "30", 0, 100000,
      "failed log-ins one client address may make per auth.lockout_window before it is throttled (0 = off)"),
    I("auth.captcha_ttl", captcha_ttl, "600", 1, 600, "seconds an image captcha stays valid"),
    I("auth.otp_ttl", otp_ttl, "300", 1, 3600, "seconds an SMS code stays valid"),
    I("auth.challenge_ttl", challenge_ttl, "120", 1, 3600,
      "seconds a certificate log-in challenge stays valid"),
    I("session.idle_timeout", session_idle, "3600", 1, 86400, "seconds of inactivity that end a session"),
    I("session.max_lifetime", session_lifetime, "43200", 1, 604800,
      "seconds after log-in that a session ends whatever its activity"),
    I("session.staff_max", session_staff_max, "3", 1, 100,
      "sessions one staff or administrator account may hold at once (the oldest is ended)"),
    B("session.secure_cookie", session_secure_cookie, "0",
      "mark the session cookie Secure (set it when ehall is reached over TLS)"),
    I("audit.checkpoint_every", audit_checkpoint_every, "1000", 1, 100000000,
      "audit records between SM2-signed checkpoints"),
    I("audit.retention_days", audit_retention_days, "365", 365, 36500,
      "days audit records are kept before `ehall audit purge` may remove them"),
    S("sms.gateway", sms_gateway, "file",
      "how SMS leave the outbox: file (writes <data>/outbox/ and the log; development only) or "
      "exec:/absolute/program (mobile and text on stdin)"),
    I("exchange.workers", exchange_workers, "2", 0, 64,
      "exchange worker threads inside `ehall serve` (0 = none: run `ehall worker` instead)"),
    I("exchange.batch", exchange_batch, "500", 1, 10000,
      "queue messages a worker leases and completes at once"),
    I("exchange.lease_seconds", exchange_lease_seconds, "60", 1, 86400,
      "seconds a leased message belongs to its worker; after that another worker may take it"),
    I("exchange.max_attempts", exchange_max_attempts, "8", 1, 1000,
      "connector calls a message gets before it becomes a dead letter"),
    I("exchange.backoff_ms", exchange_backoff_ms, "1000", 1, 3600000,
      "delay before the first retry in ms; doubles with each attempt (with jitter), at most 1 hour"),
    I("exchange.poll_ms", exchange_poll_ms, "200", 10, 60000,
      "how often an idle worker looks for messages queued by other processes, in ms"),
    S("exchange.sim_dir", exchange_sim_dir, "items/testdata",
      "directory of the item test data the simulated back-end reads its refusals from (backend_refuse)"),
    I("exchange.sim_fail_rate", exchange_sim_fail_rate, "0", 0, 1000,
      "transient failures the simulated back-end injects, per mille of calls (tests only)"),
    I("exchange.sim_delay_us", exchange_sim_delay_us, "0", 0, 10000000,
      "latency the simulated back-end adds to each message, in microseconds (tests only)"),
    I("exchange.reconcile_hour", exchange_reconcile_hour, "2", -1, 23,
      "local hour after which the previous day is reconciled automatically (-1 = never)"),
    I("materials.max_size", materials_max_size, "10485760", 1024, 268435456,
      "largest uploaded material in bytes (413 above); uploads use it instead of http.max_body"),
    I("materials.max_per_holder", materials_per_holder, "500", 1, 1000000,
      "materials one holder may keep in their library (409 above)"),
    I("licence.gateway_per_minute", gateway_per_minute, "120", 1, 1000000,
      "signed calls one gateway application may make per minute (429 above)"),
    I("licence.gateway_per_hour", gateway_per_hour, "3000", 1, 100000000,
      "signed calls one gateway application may make per hour (429 above)"),
    I("licence.gateway_per_day", gateway_per_day, "30000", 1, 1000000000,
      "signed calls one gateway application may make per day (429 above)"),
};

static struct config_key_info g_info[EHALL_ARRAY_LEN(KEYS)];
static char g_env_names[EHALL_ARRAY_LEN(KEYS)][64];

static void env_name(const char *key, char *out, size_t len)
{
    size_t j = (size_t)snprintf(out, len, "EHALL_");
    for (size_t i = 0; key[i] && j + 1 < len; i++)
        out[j++] = key[i] == '.' ? '_' : (char)toupper((unsigned char)key[i]);
    out[j] = 0;
}

size_t config_keys(const struct config_key_info **out)
{
    static const char *types[] = {"string", "integer", "boolean"};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS); i++) {
        env_name(KEYS[i].key, g_env_names[i], sizeof g_env_names[i]);
        g_info[i] = (struct config_key_info){KEYS[i].key, g_env_names[i], types[KEYS[i].type], KEYS[i].def,
                                             KEYS[i].doc};
    }
    *out = g_info;
    return EHALL_ARRAY_LEN(KEYS);
}

static const struct key *find_key(const char *key)
{
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS); i++)
        if (strcmp(KEYS[i].key, key) == 0) return &KEYS[i];
    return NULL;
}

static int set_key(struct config *c, const struct key *k, const char *value, char *err, size_t errlen)
{
    char *p = (char *)c + k->off;
    if (k->type == K_STR) {
        if (strlen(value) >= k->size) {
            snprintf(err, errlen, "%s: value longer than %zu bytes", k->key, k->size - 1);
            return -1;
        }
        memcpy(p, value, strlen(value) + 1);
        return 0;
    }
    long long v;
    if (k->type == K_BOOL) {
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on"))
            v = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") ||
                 !strcmp(value, "off"))
            v = 0;
        else {
            snprintf(err, errlen, "%s: '%s' is not a boolean (use true or false)", k->key, value);
            return -1;
        }
    } else {
        if (parse_int64(value, &v) != 0) {
            snprintf(err, errlen, "%s: '%s' is not an integer", k->key, value);
            return -1;
        }
        if (v < k->min || v > k->max) {
            snprintf(err, errlen, "%s: %lld is out of range %lld..%lld", k->key, v, k->min, k->max);
            return -1;
        }
    }
    memcpy(p, &v, sizeof v);
    return 0;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
    const struct key *k = find_key(key);
    if (!k) {
        snprintf(err, errlen, "%s: unknown key (see `ehall config keys`)", key);
        return -1;
    }
    if (strcmp(key, "log_level") == 0) {
        enum log_level l;
        if (log_level_parse(value, &l) != 0) {
            snprintf(err, errlen, "log_level: '%s' is not one of debug, info, warn, error", value);
            return -1;
        }
    }
    if (strcmp(key, "db") == 0 && value[0] && !str_has_prefix(value, "sqlite:") &&
        !str_has_prefix(value, "postgres://") && !str_has_prefix(value, "postgresql://")) {
        snprintf(err, errlen, "db: '%s' must start with sqlite: or postgres://", value);
        return -1;
    }
    if (strcmp(key, "public_url") == 0 && value[0] &&
        ((!str_has_prefix(value, "https://") && !str_has_prefix(value, "http://")) ||
         value[strlen(value) - 1] == '/' || strpbrk(value, " \"'<>?#"))) {
        snprintf(err, errlen,
                 "public_url: '%s' must be http(s)://host[:port][/path] without a trailing / or query",
                 value);
        return -1;
    }
    if (strcmp(key, "listen") == 0) {
        const char *colon = strrchr(value, ':');
        long long port;
        if (!colon || parse_int64(colon + 1, &port) != 0 || port < 0 || port > 65535) {
            snprintf(err, errlen, "listen: '%s' is not ADDRESS:PORT", value);
            return -1;
        }
    }
    return set_key(c, k, value, err, errlen);
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    char err[256];
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS); i++) set_key(c, &KEYS[i], KEYS[i].def, err, sizeof err);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048], why[1024];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected `key = value`", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = 0;
            val++;
        }
        if (config_set(c, key, val, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int config_load_env(struct config *c, char *err, size_t errlen)
{
    char name[64], why[1024];
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS); i++) {
        env_name(KEYS[i].key, name, sizeof name);
        const char *v = getenv(name);
        if (!v) continue;
        if (config_set(c, KEYS[i].key, v, why, sizeof why) != 0) {
            snprintf(err, errlen, "environment %s: %s", name, why);
            return -1;
        }
    }
    return 0;
}

void config_finish(struct config *c)
{
    if (!c->db_url[0]) snprintf(c->db_url, sizeof c->db_url, "sqlite:%.500s/ehall.db", c->data_dir);
}

void config_print(const struct config *c)
{
    for (size_t i = 0; i < EHALL_ARRAY_LEN(KEYS); i++) {
        const char *p = (const char *)c + KEYS[i].off;
        if (KEYS[i].type == K_STR) {
            printf("%s = %s\n", KEYS[i].key, p);
        } else {
            long long v;
            memcpy(&v, p, sizeof v);
            if (KEYS[i].type == K_BOOL)
                printf("%s = %s\n", KEYS[i].key, v ? "true" : "false");
            else
                printf("%s = %lld\n", KEYS[i].key, v);
        }
    }
}

int config_int_range(const char *key, long long *min, long long *max)
{
    const struct key *k = find_key(key);
    if (!k || k->type != K_INT) return -1;
    *min = k->min;
    *max = k->max;
    return 0;
}
