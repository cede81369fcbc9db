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

/* Who may call a route.  The identity module will add real permissions; until then
 * every route is either open to all or open only to a process on this host talking to
 * the socket directly (a request carrying X-Forwarded-For never counts as local). */
enum http_access {
    ACCESS_PUBLIC,   /* anyone, no session needed */
    ACCESS_LOOPBACK, /* operators on this host, connecting directly */
};

struct http_route {
    const char *method;  /* "GET", "POST", … */
    const char *pattern; /* "/api/v1/items/{code}" — {name} matches one path segment */
    http_handler handler;
    enum http_access access;
    const char *summary; /* one line, for `ehall routes` and docs/api.md */
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
arena *http_req_arena(http_req *r);
void *http_req_app(http_req *r); /* the application context given to http_serve */

/* ---- replies (exactly one per request) ---- */
int http_reply_json(http_req *r, unsigned status, json_t *body /* reference stolen */);
int http_reply_text(http_req *r, unsigned status, const char *content_type, const char *body, size_t len);
/* The one error shape: {"error":{"code","message","details":[{"field","message"}]}} */
int http_reply_error(http_req *r, unsigned status, const char *code, const char *message,
                     json_t *details /* array, stolen; may be NULL */);
/* A {"field": f, "message": m} entry for the details array. */
json_t *http_field_error(const char *field, const char *message);
/* Add a response header to the reply about to be sent (call before http_reply_*). */
void http_add_header(http_req *r, const char *name, const char *value);

/* ---- the server ---- */
struct http_server_options {
    const struct http_route *routes;
    size_t nroutes;
    void *app;
    const struct config *cfg;
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

#endif
