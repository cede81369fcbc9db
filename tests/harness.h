/*
 * harness — what the API and CLI tests share: a fresh database per test (SQLite in a
 * temporary directory, or a new database on the PostgreSQL server named by
 * EHALL_TEST_PG), a real `ehall serve` on a free loopback port, an HTTP client
 * (libcurl) and a way to run the CLI.
 */
#ifndef EHALL_TEST_HARNESS_H
#define EHALL_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct srv {
    pid_t pid;
    int port;
    char dir[256]; /* data directory */
    char db[512];  /* database URL */
    char log[300]; /* stderr of the server */
};

struct resp {
    long status;
    char *body;
    size_t len;
    char headers[8192];
};

struct store;
/* One integer from a query on an open store; -1 when the query fails. */
long long h_store_int(struct store *s, const char *sql);

/* A temporary directory (created) and a fresh database URL for this engine. */
void h_fresh(char dir[256], char db[512]);
int h_is_postgres(void);
const char *h_bin(void);
/* Start `ehall serve` on dir/db with extra NAME=VALUE environment entries (NULL-ended). */
int h_start(struct srv *s, const char *dir, const char *db, const char *const *env);
/* SIGTERM and wait; returns the exit status (or -1). */
int h_stop(struct srv *s);
void h_kill9(struct srv *s);
/* One request; headers is a NULL-ended list of "Name: value". */
int h_http(struct srv *s, const char *method, const char *path, const char *const *headers, const char *body,
           size_t body_len, struct resp *out);
void h_resp_free(struct resp *r);
/* The value of a response header (case-insensitive), copied into buf; NULL when absent. */
const char *h_header(const struct resp *r, const char *name, char *buf, size_t len);
/* `ehall worker --threads N` on s's data and database, as a separate process (its
 * output in s->dir/<name>.log; extra NAME=VALUE environment entries, NULL-ended);
 * h_worker_stop sends sig and returns the exit status (128 + signal when killed). */
pid_t h_worker_start(struct srv *s, const char *name, const char *const *env, const char *threads);
int h_worker_stop(pid_t pid, int sig);
/* Run the CLI with args (NULL-ended) against dir/db; captures stdout+stderr in out. */
int h_cli(const char *dir, const char *db, const char *const *args, char *out, size_t outlen);
/* Read a whole file into a malloc'd string. */
char *h_slurp(const char *path);
/* A connected TCP socket to the server, for hand-made requests. */
int h_connect(struct srv *s);

/* Headers that pass the CSRF check for an anonymous change (double submit: the token
 * equals the cookie), for tests that speak raw HTTP. */
#define H_CSRF_TOKEN  "c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5"
#define H_CSRF_COOKIE "Cookie: ehall_csrf=" H_CSRF_TOKEN
#define H_CSRF_HEADER "X-CSRF-Token: " H_CSRF_TOKEN

/* A browser-like client: keeps the session and CSRF cookies, sends X-CSRF-Token on
 * every change, and takes the new token from any JSON reply carrying "csrf". */
struct hclient {
    struct srv *s;
    char session[80];
    char csrf_cookie[80];
    char csrf[80];
    char client_ip[64]; /* sent as X-Forwarded-For when set (only a trusting server uses it) */
};
void hc_init(struct hclient *c, struct srv *s);
/* body is JSON text or NULL; returns the HTTP status (0 on transport failure). */
long hc_call(struct hclient *c, const char *method, const char *path, const char *body, struct resp *out);
/* hc_call, then the JSON reply parsed (caller json_decref's; NULL when not JSON). */
struct json_t;
struct json_t *hc_json(struct hclient *c, const char *method, const char *path, const char *body,
                       long *status);

#endif
