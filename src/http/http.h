/*
 * http — the HTTP layer on libmicrohttpd, as handlers see it.
 *
 * A handler receives an http_req, reads path parameters, query, headers and the
 * parsed JSON body through the accessors below, and answers with exactly one
 * http_reply_* call.  Everything else — request ids, the access log, limits,
 * security headers, body parsing, metrics — happens around it in server.c, in one
 * fixed order (see docs/architecture.md).  Handlers never see libmicrohttpd.
 */
#ifndef EHALL_HTTP_H
#define EHALL_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "core/core.h"

struct config;
typedef struct http_req http_req;
typedef int (*http_handler)(http_req *r);

/* Who may call a route.  The HTTP layer judges ACCESS_LOOPBACK itself; everything
 * about sessions and permissions is the authorize hook's (src/auth/session.c). */
enum http_access {
    ACCESS_PUBLIC,   /* anyone, no session needed */
    ACCESS_LOOPBACK, /* operators on this host, connecting directly */
    ACCESS_TEST,     /* test mode only, and only from this host */
    ACCESS_PARTIAL,  /* a session at any stage: before the second factor or a forced password change */
    ACCESS_SESSION,  /* a completed log-in, holding `perm` when the route names one */
    ACCESS_APP, /* a registered application's signed call (no session, no CSRF token; the handler checks the
                   signature) */
};

struct http_route {
    const char *method;  /* "GET", "POST", … */
    const char *pattern; /* "/api/v1/items/{code}" — {name} matches one path segment */
    http_handler handler;
    enum http_access access;
    const char *perm;    /* the permission the caller needs (ACCESS_SESSION), or NULL */
    const char *summary; /* one line, for `ehall routes` and docs/api.md */
    /* 1: the handler takes the body as it came (an upload), read with http_req_body:
     * no Content-Type or JSON checks, limit materials.max_size instead of http.max_body,
     * and access and the authorize hook are judged when the headers arrive, before a
     * byte of the body is kept.  Route tables may leave it out (0: a JSON body). */
    int raw_body;
};

/* ---- request accessors ---- */
const char *http_req_method(http_req *r);
const char *http_req_path(http_req *r);
const char *http_req_id(http_req *r);
const char *http_req_param(http_req *r, const char *name);  /* from the pattern */
const char *http_req_query(http_req *r, const char *name);  /* NULL when absent */
const char *http_req_header(http_req *r, const char *name); /* NULL when absent */
const char *http_req_client(http_req *r);                   /* client address text */
/* The request body parsed as JSON (object or array); NULL when there was no body. */
json_t *http_req_json(http_req *r);
/* The body as received, NUL-terminated after *len bytes; NULL (and *len 0) when there
 * was none.  Raw-body routes read their upload here. */
const void *http_req_body(http_req *r, size_t *len);
arena *http_req_arena(http_req *r);
void *http_req_app(http_req *r); /* the application context given to http_serve */
/* The value of a cookie from the Cookie header, copied into buf; NULL when absent. */
const char *http_req_cookie(http_req *r, const char *name, char *buf, size_t len);
/* Whatever the authorize hook attached (the caller's identity), or NULL. */
void *http_req_auth(http_req *r);
void http_req_set_auth(http_req *r, void *auth);
/* The client address connects directly from this host (never true through a proxy). */
int http_req_is_local(http_req *r);

/* Long work (a password hash) off the I/O threads.  A handler that calls http_defer
 * returns without replying; work(arg) then runs on a worker thread (it must not touch
 * the request or reply), and afterwards then(r) runs as the request's handler again
 * and replies; http_req_defer_arg(r) gives it arg back.  Returns 0, or -1 when the
 * request was deferred already. */
int http_defer(http_req *r, void (*work)(void *arg), http_handler then, void *arg);
void *http_req_defer_arg(http_req *r);

/* ---- replies (exactly one per request) ---- */
int http_reply_json(http_req *r, unsigned status, json_t *body /* reference stolen */);
/* The compact JSON text of v, as json_dumps(v, JSON_COMPACT) gives it (json_out.c); NULL on
 * invalid UTF-8 or no memory.  *len (may be NULL) gets its length.  Free it. */
char *http_json_text(const json_t *v, size_t *len);
int http_reply_text(http_req *r, unsigned status, const char *content_type, const char *body, size_t len);
/* Like http_reply_text for a large malloc'd body, without a copy: the reply owns body and
 * frees it (with free()) once sent, or at once when the reply cannot be made. */
int http_reply_bytes(http_req *r, unsigned status, const char *content_type, void *body, size_t len);
/* The one error shape: {"error":{"code","message","details":[{"field","message"}]}} */
int http_reply_error(http_req *r, unsigned status, const char *code, const char *message,
                     json_t *details /* array, stolen; may be NULL */);
/* A {"field": f, "message": m} entry for the details array. */
json_t *http_field_error(const char *field, const char *message);
/* Add a response header to the reply about to be sent (call before http_reply_*); name and
 * value are copied. */
void http_add_header(http_req *r, const char *name, const char *value);
/* Let this reply be shown in a frame of ehall's own pages (an inline PDF material): it goes
 * out with X-Frame-Options SAMEORIGIN and CSP frame-ancestors 'self' instead of DENY and
 * 'none'; the rest of the CSP is unchanged.  Call before http_reply_*. */
void http_allow_same_origin_framing(http_req *r);

/* ---- the server ---- */
struct http_server_options {
    const struct http_route *routes;
    size_t nroutes;
    void *app;
    const struct config *cfg;
    /* Called for every routed request after the route's method and ACCESS_LOOPBACK are
     * checked, before the body is parsed: returns 0 to go on, or non-zero after
     * replying itself (401, 403 …).  NULL lets every request through. */
    int (*authorize)(http_req *r, const struct http_route *route);
    /* Called once the address is bound and requests are being accepted (may be NULL). */
    void (*on_listening)(void *app);
};
/* Runs until SIGTERM/SIGINT, then drains in-flight requests within the grace period.
 * Returns 0 on a clean stop. */
int http_serve(const struct http_server_options *opt);
/* 1 once SIGTERM/SIGINT has arrived: /readyz must turn the load balancer away. */
int http_draining(void);
/* Renders the HTTP metrics (used by the /metrics handler). */
void http_metrics_render(void *strbuf);

/* Route matching, exposed for tests: returns the route index or -1; *method_ok is 0
 * when the path matched some route but not with this method. */
int http_route_match(const struct http_route *routes, size_t n, const char *method, const char *path,
                     int *method_ok);

/* ---- per-client rate limits for one kind of request (limit.c) ----
 * A token bucket per client address (rate per second, burst), per process.  take
 * returns 0 when the request may go on, 1 when refused (*retry_after: seconds until a
 * token is back). */
struct limit_pool;
struct limit_pool *limit_pool_new(double rate, double burst);
int limit_pool_take(struct limit_pool *p, const char *client, double *retry_after);

#endif
