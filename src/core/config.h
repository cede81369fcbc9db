/*
 * config — ehall's settings, in one table.
 *
 * Every option has a key (`http.max_body`), a type, a default, bounds and a line of
 * documentation.  Values come, weakest first, from the defaults, a config file
 * (`key = value` lines, `#` comments), `EHALL_*` environment variables (the key in
 * upper case with dots as underscores: EHALL_HTTP_MAX_BODY) and command-line flags.
 * `ehall config check FILE` and `ehall config keys` are built on the same table, so
 * the documentation cannot drift from the code.
 */
#ifndef EHALL_CONFIG_H
#define EHALL_CONFIG_H

#include <stddef.h>

struct config {
    char data_dir[512];                /* data */
    char db_url[1024];                 /* db */
    char listen[128];                  /* listen */
    char public_url[256];              /* public_url */
    char web_root[512];                /* web_root */
    char log_level[16];                /* log_level */
    char timezone[64];                 /* timezone */
    long long http_threads;            /* http.threads */
    long long http_max_connections;    /* http.max_connections */
    long long http_max_body;           /* http.max_body */
    long long http_max_header;         /* http.max_header */
    long long http_idle_timeout;       /* http.idle_timeout (s) */
    long long http_request_timeout;    /* http.request_timeout (s) */
    long long http_client_rate;        /* http.client_rate (req/s, 0 = off) */
    long long http_client_burst;       /* http.client_burst */
    long long http_client_concurrency; /* http.client_concurrency */
    long long http_trust_proxy;        /* http.trust_proxy (0/1) */
    long long shutdown_delay;          /* shutdown_delay (s) */
    long long shutdown_grace;          /* shutdown_grace (s) */
    long long db_pool_size;            /* db.pool_size */
    long long db_busy_timeout;         /* db.busy_timeout (ms) */
    long long production;              /* production (0/1) */
    long long test_mode;               /* test_mode (0/1) */
    char keys_file[512];               /* keys.file */
    long long password_iterations;     /* auth.password_iterations */
    long long password_expiry_days;    /* auth.password_expiry_days (0 = never) */
    long long lockout_threshold;       /* auth.lockout_threshold */
    long long lockout_window;          /* auth.lockout_window (s) */
    long long lockout_duration;        /* auth.lockout_duration (s) */
    long long ip_fail_limit;           /* auth.ip_fail_limit (per window, 0 = off) */
    long long captcha_ttl;             /* auth.captcha_ttl (s) */
    long long otp_ttl;                 /* auth.otp_ttl (s) */
    long long challenge_ttl;           /* auth.challenge_ttl (s) */
    long long session_idle;            /* session.idle_timeout (s) */
    long long session_lifetime;        /* session.max_lifetime (s) */
    long long session_staff_max;       /* session.staff_max */
    long long session_secure_cookie;   /* session.secure_cookie (0/1) */
    long long audit_checkpoint_every;  /* audit.checkpoint_every (records) */
    long long audit_retention_days;    /* audit.retention_days */
    char sms_gateway[256];             /* sms.gateway */
    long long exchange_workers;        /* exchange.workers (threads in serve, 0 = none) */
    long long exchange_batch;          /* exchange.batch (messages leased at once) */
    long long exchange_lease_seconds;  /* exchange.lease_seconds */
    long long exchange_max_attempts;   /* exchange.max_attempts */
    long long exchange_backoff_ms;     /* exchange.backoff_ms (first retry delay) */
    long long exchange_poll_ms;        /* exchange.poll_ms */
    char exchange_sim_dir[512];        /* exchange.sim_dir */
    long long exchange_sim_fail_rate;  /* exchange.sim_fail_rate (per mille) */
    long long exchange_sim_delay_us;   /* exchange.sim_delay_us (per message) */
    long long exchange_reconcile_hour; /* exchange.reconcile_hour (-1 = off) */
    long long materials_max_size;      /* materials.max_size (bytes) */
    long long materials_per_holder;    /* materials.max_per_holder */
    long long gateway_per_minute;      /* licence.gateway_per_minute */
    long long gateway_per_hour;        /* licence.gateway_per_hour */
    long long gateway_per_day;         /* licence.gateway_per_day */
};

/* One documented option, for `ehall config keys` and the docs. */
struct config_key_info {
    const char *key, *env, *type, *def, *doc;
};

void config_defaults(struct config *c);
/* Load a file on top of c.  On error returns -1 and writes "FILE:LINE: key: why". */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Apply EHALL_* variables.  On error returns -1 and names the variable. */
int config_load_env(struct config *c, char *err, size_t errlen);
/* Set one key from text (used by the loaders and by command-line flags). */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);
/* Fill in values derived from others (db from data) once everything is loaded. */
void config_finish(struct config *c);
size_t config_keys(const struct config_key_info **out);
/* The bounds of an integer key (what config_set accepts): 0, or -1 for an unknown or
 * non-integer key. */
int config_int_range(const char *key, long long *min, long long *max);
/* Print the effective configuration as `key = value` lines. */
void config_print(const struct config *c);

#endif
