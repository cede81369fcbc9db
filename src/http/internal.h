/*
 * internal.h — shared by the files of the http module only.
 */
#ifndef EHALL_HTTP_INTERNAL_H
#define EHALL_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "http/http.h"

#define HTTP_MAX_PARAMS        8
#define HTTP_MAX_EXTRA_HEADERS 8

struct http_req {
    struct MHD_Connection *conn;
    arena *a;
    void *app;
    double t0;
    char id[72];
    char client[64]; /* the client: the peer, or X-Forwarded-For behind a trusted proxy */
    char peer[64];   /* the socket's peer address, always */
    int forwarded;   /* the request came through a proxy (X-Forwarded-For present) */
    const char *method, *path;
    int route; /* index into the route table, or ROUTE_STATIC / ROUTE_NONE */
    int method_ok;
    int limit_slot; /* per-client limiter slot, -1 when not tracked */
    char *body;
    size_t body_len, body_cap;
    int body_too_large;
    int raw;     /* the route takes its body raw: kept on the heap (freed at completion), not parsed */
    int checked; /* access and the authorize hook were passed at admit (raw-body routes) */
    json_t *json;
    void *auth;
    /* http_defer: work on a worker thread, then the continuation on the I/O thread */
    atomic_int defer_state; /* DEFER_NONE, DEFER_QUEUED, DEFER_DONE */
    void (*defer_work)(void *arg);
    http_handler defer_then;
    void *defer_arg;
    struct http_req *defer_next;
    int nparams;
    const char *param_names[HTTP_MAX_PARAMS], *param_values[HTTP_MAX_PARAMS];
    int nextra;
    const char *extra_names[HTTP_MAX_EXTRA_HEADERS], *extra_values[HTTP_MAX_EXTRA_HEADERS];
    int replied;
    int frame_self; /* http_allow_same_origin_framing: frame-ancestors 'self' */
    unsigned status;
    unsigned long long bytes;
};

enum { ROUTE_STATIC = -1, ROUTE_NONE = -2 };
enum { DEFER_NONE, DEFER_QUEUED, DEFER_DONE };

/* defer.c — the worker pool behind http_defer */
int defer_start(void);
void defer_submit(http_req *r);
void defer_stop(void); /* runs what is queued, then joins the workers */

/* accept.c — ehall's listening socket: accept_open binds and listens (*port gets the
 * port, for ":0"), accept_start hands each connection to d, accept_stop stops accepting
 * and closes the socket. */
int accept_open(const struct sockaddr_storage *ss, socklen_t len, int backlog, unsigned *port);
int accept_start(struct MHD_Daemon *d);
void accept_stop(void);

/* Attach ehall's standard headers (request id, security headers, extras). */
void http_decorate(http_req *r, struct MHD_Response *resp);
/* Queue a finished response; records status and size for the log. */
int http_queue(http_req *r, unsigned status, struct MHD_Response *resp, unsigned long long bytes);

/* static.c */
/* rootfd: the web root, opened once at start (-1 when missing: every file is 404) */
int static_serve(http_req *r, int rootfd);

/* router.c: fills r->param_* for the matched route */
int http_route_bind(http_req *r, const struct http_route *route);

/* limit.c — per-client rate and concurrency limits */
struct limit_config {
    double rate, burst;
    int concurrency;
};
enum limit_verdict { LIMIT_OK, LIMIT_RATE, LIMIT_CONCURRENCY };
void limit_init(const struct limit_config *cfg);
enum limit_verdict limit_enter(const char *client, int *slot);
void limit_leave(int slot);
void limit_metrics_render(void *strbuf);

#endif
