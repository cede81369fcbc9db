/*
 * server.c — the HTTP server: libmicrohttpd glue and the request pipeline.
 *
 * Every request passes the same phases, in this order (like nginx's phases, but fixed):
 *
 *   1. admit     request id (X-Request-Id or a fresh one), client address, per-client
 *                rate and concurrency limits (429), route lookup, Content-Length check (413)
 *   2. read      body chunks into the request arena, up to http.max_body
 *   3. dispatch  405 / 404 / access check / 413 / 415 / JSON parse (400), then the
 *                handler, or the static file server for non-API paths
 *   4. reply     security headers and the request id on every response
 *   5. complete  metrics, one JSON access-log line, limiter slot released, arena freed
 *
 * MHD runs an epoll loop in a pool of internal threads; a handler runs on one of them.
 * ehall accepts connections on its own thread and spreads them over the pool
 * (accept.c).
 * On SIGTERM/SIGINT, /readyz first answers 503 for shutdown_delay seconds while
 * requests are still served (so a load balancer stops sending); then new requests are
 * answered 503, in-flight requests get shutdown_grace seconds to finish, and the daemon
 * stops.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/metrics.h"
#include "http/internal.h"

static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHODS 8
static const unsigned STATUSES[] = {200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405,
                                    408, 409, 410, 413, 415, 422, 429, 431, 500, 501, 503, 0};
#define NSTATUSES (sizeof STATUSES / sizeof STATUSES[0])

static struct {
    const struct http_server_options *opt;
    const struct config *cfg;
    char web_root[1024];
    int web_root_fd;             /* opened once; static files are opened beneath it */
    size_t nslots;               /* routes + static + unmatched */
    atomic_ullong *requests;     /* [slot][method][status] */
    struct histogram *durations; /* [slot] */
    atomic_int inflight;
    atomic_int draining;
    atomic_ullong bytes_out;
    double start_wall;
} g;

static const char SECURITY_CSP[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
/* The same, for a reply that ehall's own pages may frame (docs/security.md). */
static const char SECURITY_CSP_FRAME_SELF[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/* ---------- accessors ---------- */

int http_draining(void) { return atomic_load(&g.draining) != 0; }
const char *http_req_method(http_req *r) { return r->method; }
const char *http_req_path(http_req *r) { return r->path; }
const char *http_req_id(http_req *r) { return r->id; }
const char *http_req_client(http_req *r) { return r->client; }
json_t *http_req_json(http_req *r) { return r->json; }
const void *http_req_body(http_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body_len ? r->body : NULL;
}
arena *http_req_arena(http_req *r) { return r->a; }
void *http_req_app(http_req *r) { return r->app; }
void *http_req_auth(http_req *r) { return r->auth; }
void *http_req_defer_arg(http_req *r) { return r->defer_arg; }

int http_defer(http_req *r, void (*work)(void *arg), http_handler then, void *arg)
{
    if (atomic_load(&r->defer_state) != DEFER_NONE || r->replied) return -1;
    r->defer_work = work;
    r->defer_then = then;
    r->defer_arg = arg;
    atomic_store(&r->defer_state, DEFER_QUEUED);
    return 0;
}
void http_req_set_auth(http_req *r, void *auth) { r->auth = auth; }

const char *http_req_cookie(http_req *r, const char *name, char *buf, size_t len)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
    if (!v || strlen(v) >= len) return NULL;
    memcpy(buf, v, strlen(v) + 1);
    return buf;
}

const char *http_req_query(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_header(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void http_add_header(http_req *r, const char *name, const char *value)
{
    /* copied into the request's arena: callers may pass a buffer that ends before the reply */
    if (r->nextra < HTTP_MAX_EXTRA_HEADERS) {
        r->extra_names[r->nextra] = arena_strdup(r->a, name);
        r->extra_values[r->nextra] = arena_strdup(r->a, value);
        if (r->extra_names[r->nextra] && r->extra_values[r->nextra]) r->nextra++;
    }
}

void http_allow_same_origin_framing(http_req *r) { r->frame_self = 1; }

/* ---------- replies ---------- */

void http_decorate(http_req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", r->frame_self ? "SAMEORIGIN" : "DENY");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            r->frame_self ? SECURITY_CSP_FRAME_SELF : SECURITY_CSP);
    if (r->route != ROUTE_STATIC) MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (atomic_load(&g.draining)) MHD_add_response_header(resp, "Connection", "close");
    for (int i = 0; i < r->nextra; i++) MHD_add_response_header(resp, r->extra_names[i], r->extra_values[i]);
}

int http_queue(http_req *r, unsigned status, struct MHD_Response *resp, unsigned long long bytes)
{
    http_decorate(r, resp);
    r->status = status;
    r->bytes = bytes;
    r->replied = 1;
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ok == MHD_YES ? 0 : -1;
}

int http_reply_text(http_req *r, unsigned status, const char *content_type, const char *body, size_t len)
{
    if (r->replied) return -1;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return -1;
    MHD_add_response_header(resp, "Content-Type", content_type);
    return http_queue(r, status, resp, len);
}

int http_reply_bytes(http_req *r, unsigned status, const char *content_type, void *body, size_t len)
{
    if (r->replied) {
        free(body);
        return -1;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return -1;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    return http_queue(r, status, resp, len);
}

int http_reply_json(http_req *r, unsigned status, json_t *body)
{
    if (r->replied || !body) {
        json_decref(body);
        return -1;
    }
    size_t len = 0;
    char *s = http_json_text(body, &len);
    json_decref(body);
    if (!s) return -1;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, s, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(s);
        return -1;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    return http_queue(r, status, resp, len);
}

json_t *http_field_error(const char *field, const char *message)
{
    return json_pack("{s:s, s:s}", "field", field, "message", message);
}

int http_reply_error(http_req *r, unsigned status, const char *code, const char *message, json_t *details)
{
    json_t *err = json_pack("{s:s, s:s, s:o}", "code", code, "message", message, "details",
                            details ? details : json_array());
    return http_reply_json(r, status, json_pack("{s:o}", "error", err));
}

/* ---------- metrics ---------- */

static size_t method_index(const char *m)
{
    for (size_t i = 0; i + 1 < NMETHODS; i++)
        if (strcmp(METHODS[i], m) == 0) return i;
    return NMETHODS - 1;
}

static size_t status_index(unsigned s)
{
    for (size_t i = 0; i + 1 < NSTATUSES; i++)
        if (STATUSES[i] == s) return i;
    return NSTATUSES - 1;
}

static size_t route_slot(int route)
{
    if (route >= 0) return (size_t)route;
    return route == ROUTE_STATIC ? g.opt->nroutes : g.opt->nroutes + 1;
}

static const char *slot_name(size_t slot)
{
    if (slot < g.opt->nroutes) return g.opt->routes[slot].pattern;
    return slot == g.opt->nroutes ? "static" : "unmatched";
}

void http_metrics_render(void *strbuf)
{
    struct strbuf *sb = strbuf;
    sb_printf(sb, "# HELP ehall_http_requests_total HTTP requests served.\n"
                  "# TYPE ehall_http_requests_total counter\n");
    for (size_t s = 0; s < g.nslots; s++)
        for (size_t m = 0; m < NMETHODS; m++)
            for (size_t st = 0; st < NSTATUSES; st++) {
                unsigned long long v = atomic_load_explicit(&g.requests[(s * NMETHODS + m) * NSTATUSES + st],
                                                            memory_order_relaxed);
                if (!v) continue;
                char status[8];
                if (STATUSES[st])
                    snprintf(status, sizeof status, "%u", STATUSES[st]);
                else
                    snprintf(status, sizeof status, "other");
                sb_printf(sb, "ehall_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %llu\n",
                          slot_name(s), METHODS[m], status, v);
            }
    sb_printf(sb, "# HELP ehall_http_request_duration_seconds Time from first byte to response queued.\n"
                  "# TYPE ehall_http_request_duration_seconds histogram\n");
    for (size_t s = 0; s < g.nslots; s++) {
        if (!atomic_load(&g.durations[s].count)) continue;
        char labels[300];
        snprintf(labels, sizeof labels, "route=\"%s\"", slot_name(s));
        histogram_render(sb, "ehall_http_request_duration_seconds", labels, &g.durations[s]);
    }
    int inflight = atomic_load(&g.inflight);
    long long maxc = g.cfg->http_max_connections;
    sb_printf(sb,
              "# HELP ehall_http_requests_in_flight Requests being served now.\n"
              "# TYPE ehall_http_requests_in_flight gauge\n"
              "ehall_http_requests_in_flight %d\n"
              "# HELP ehall_http_concurrency_warning 1 when requests in flight exceed 80%% of "
              "http.max_connections.\n"
              "# TYPE ehall_http_concurrency_warning gauge\n"
              "ehall_http_concurrency_warning %d\n"
              "# HELP ehall_http_response_bytes_total Body bytes sent.\n"
              "# TYPE ehall_http_response_bytes_total counter\n"
              "ehall_http_response_bytes_total %llu\n"
              "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
              "# TYPE process_start_time_seconds gauge\n"
              "process_start_time_seconds %.3f\n",
              inflight, inflight * 10 > maxc * 8 ? 1 : 0, (unsigned long long)atomic_load(&g.bytes_out),
              g.start_wall);
    limit_metrics_render(sb);
}

/* ---------- the pipeline ---------- */

/* A fresh request id, 24 hex digits: 8 random bytes drawn once per thread and then a
 * count of the thread's requests (ids only correlate log lines, audit records and
 * replies, so they need to be unique, not secret; RAND_bytes per request cost 1.7 % of
 * a list request's CPU).  Without entropy the prefix is a process-wide count and the
 * time, so ids still never repeat within a process. */
static void fresh_request_id(char out[25])
{
    static _Thread_local unsigned char prefix[8];
    static _Thread_local uint32_t n;
    if (n == 0 && random_bytes(prefix, sizeof prefix) != 0) {
        static atomic_ullong counter;
        unsigned long long c = atomic_fetch_add(&counter, 1);
        uint32_t t = (uint32_t)now_wall();
        memcpy(prefix, &c, 4);
        memcpy(prefix + 4, &t, 4);
    }
    n++; /* after 2^32 - 1 ids it wraps to 0, and the next id draws a new prefix */
    unsigned char b[12];
    memcpy(b, prefix, 8);
    b[8] = (unsigned char)(n >> 24), b[9] = (unsigned char)(n >> 16), b[10] = (unsigned char)(n >> 8),
    b[11] = (unsigned char)n;
    hex_encode(b, sizeof b, out);
}

static int valid_request_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

static void client_address(http_req *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(r->client, sizeof r->client, "unknown");
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->client, sizeof r->client);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->client, sizeof r->client);
    }
    snprintf(r->peer, sizeof r->peer, "%s", r->client);
    r->forwarded = http_req_header(r, "X-Forwarded-For") != NULL;
    if (g.cfg->http_trust_proxy) {
        /* our own load balancer appends the address it saw: take the last hop */
        const char *xff = http_req_header(r, "X-Forwarded-For");
        if (xff) {
            const char *last = strrchr(xff, ',');
            last = last ? last + 1 : xff;
            while (*last == ' ') last++;
            size_t n = strcspn(last, " ");
            if (n > 0 && n < sizeof r->client) {
                memcpy(r->client, last, n);
                r->client[n] = 0;
            }
        }
    }
}

int http_is_loopback(const char *client);
int http_is_loopback(const char *client)
{
    return strncmp(client, "127.", 4) == 0 || strcmp(client, "::1") == 0 ||
           strncmp(client, "::ffff:127.", 11) == 0;
}

/* Judged on the socket itself: a forwarded request is never local, whatever the
 * header claims and even when the proxy runs on this host. */
int http_req_is_local(http_req *r) { return http_is_loopback(r->peer) && !r->forwarded; }

static http_req *req_new(struct MHD_Connection *conn, const char *url, const char *method)
{
    arena *a = arena_new(8192);
    if (!a) return NULL;
    http_req *r = arena_alloc(a, sizeof *r);
    if (!r) {
        arena_free(a);
        return NULL;
    }
    memset(r, 0, sizeof *r);
    r->a = a;
    r->conn = conn;
    r->app = g.opt->app;
    r->t0 = now_monotonic();
    r->limit_slot = -1;
    r->method = arena_strdup(a, method);
    r->path = arena_strdup(a, url);
    if (!r->method || !r->path) {
        arena_free(a);
        return NULL;
    }
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && valid_request_id(rid)) {
        snprintf(r->id, sizeof r->id, "%s", rid);
    } else {
        fresh_request_id(r->id);
    }
    client_address(r);
    atomic_fetch_add(&g.inflight, 1);
    return r;
}

static int is_api(const char *path) { return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0; }

static int wants_body(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

/* The largest body the request's route takes: uploads have their own limit. */
static long long body_limit(const http_req *r)
{
    return r->raw ? g.cfg->materials_max_size : g.cfg->http_max_body;
}

static int reply_too_large(http_req *r)
{
    char msg[96];
    snprintf(msg, sizeof msg, "request body larger than %lld bytes", body_limit(r));
    return http_reply_error(r, 413, "body_too_large", msg, json_pack("[o]", http_field_error("body", msg)));
}

/* The loopback rule and the authorize hook: 0 to go on, otherwise replied. */
static int check_access(http_req *r, const struct http_route *rt)
{
    if ((rt->access == ACCESS_LOOPBACK || rt->access == ACCESS_TEST) && !http_req_is_local(r)) {
        http_reply_error(r, 403, "forbidden", "this endpoint is only open to the host itself", NULL);
        return -1;
    }
    if (g.opt->authorize && g.opt->authorize(r, rt) != 0) {
        if (!r->replied) http_reply_error(r, 403, "forbidden", "not allowed", NULL);
        return -1;
    }
    return 0;
}

static void dispatch(http_req *r)
{
    log_set_request_id(r->id);
    const struct http_route *routes = g.opt->routes;
    if (r->route == ROUTE_NONE) {
        http_reply_error(r, 404, "not_found", "no such API endpoint", NULL);
        goto out;
    }
    if (r->route == ROUTE_STATIC) {
        if (static_serve(r, g.web_root_fd) != 0 && !r->replied)
            http_reply_error(r, 500, "internal", "could not send the file", NULL);
        goto out;
    }
    const struct http_route *rt = &routes[r->route];
    if (!r->method_ok) {
        /* list every method that this path accepts */
        char allow[128] = "";
        for (size_t i = 0; i < g.opt->nroutes; i++) {
            int ok;
            if (http_route_match(&routes[i], 1, routes[i].method, r->path, &ok) == 0 && ok &&
                !strstr(allow, routes[i].method)) {
                if (allow[0]) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
                strncat(allow, routes[i].method, sizeof allow - strlen(allow) - 1);
                if (!strcmp(routes[i].method, "GET"))
                    strncat(allow, ", HEAD", sizeof allow - strlen(allow) - 1);
            }
        }
        http_add_header(r, "Allow", allow);
        http_reply_error(r, 405, "method_not_allowed", "this endpoint does not accept that method", NULL);
        goto out;
    }
    if (!r->checked && check_access(r, rt) != 0) goto out;
    if (r->body_too_large) {
        reply_too_large(r);
        goto out;
    }
    if (!r->raw && (r->body_len > 0 || wants_body(r->method))) {
        if (r->body_len == 0) {
            http_reply_error(r, 400, "invalid_json", "a JSON body is required",
                             json_pack("[o]", http_field_error("body", "missing")));
            goto out;
        }
        const char *ct = http_req_header(r, "Content-Type");
        size_t ctl = ct ? strcspn(ct, ";") : 0;
        while (ctl > 0 && ct[ctl - 1] == ' ') ctl--;
        if (!ct || ctl != strlen("application/json") || strncasecmp(ct, "application/json", ctl) != 0) {
            http_reply_error(r, 415, "unsupported_media_type", "send the body as application/json",
                             json_pack("[o]", http_field_error("Content-Type", "must be application/json")));
            goto out;
        }
        json_error_t je;
        r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
        if (!r->json) {
            char msg[256];
            snprintf(msg, sizeof msg, "line %d, column %d: %s", je.line, je.column, je.text);
            http_reply_error(r, 400, "invalid_json", "the body is not valid JSON",
                             json_pack("[o]", http_field_error("body", msg)));
            goto out;
        }
    }
    if (http_route_bind(r, rt) != 0) {
        http_reply_error(r, 500, "internal", "out of memory", NULL);
        goto out;
    }
    rt->handler(r);
    if (!r->replied && atomic_load(&r->defer_state) == DEFER_QUEUED) goto out; /* suspended by the caller */
    if (!r->replied) {
        log_error("handler for %s %s sent no reply", rt->method, rt->pattern);
        http_reply_error(r, 500, "internal", "the server could not complete the request", NULL);
    }
out:
    log_set_request_id(NULL);
}

static enum MHD_Result reply_now(http_req *r, unsigned status, const char *code, const char *msg,
                                 const char *retry_after)
{
    if (retry_after) http_add_header(r, "Retry-After", retry_after);
    return http_reply_error(r, status, code, msg, NULL) == 0 ? MHD_YES : MHD_NO;
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    http_req *r = *con_cls;
    if (!r) { /* phase 1: admit */
        r = req_new(conn, url, method);
        if (!r) return MHD_NO;
        *con_cls = r;
        if (atomic_load(&g.draining) == 2)
            return reply_now(r, 503, "shutting_down", "the server is restarting; retry", "1");
        enum limit_verdict v = limit_enter(r->client, &r->limit_slot);
        if (v == LIMIT_RATE)
            return reply_now(r, 429, "rate_limited", "too many requests from your address; slow down", "1");
        if (v == LIMIT_CONCURRENCY)
            return reply_now(r, 429, "too_many_concurrent", "too many requests in flight from your address",
                             "1");
        if (is_api(r->path)) {
            int ok;
            r->route = http_route_match(g.opt->routes, g.opt->nroutes, r->method, r->path, &ok);
            r->method_ok = ok;
            if (r->route < 0) r->route = ROUTE_NONE;
        } else {
            int ok;
            r->route = http_route_match(g.opt->routes, g.opt->nroutes, r->method, r->path, &ok);
            r->method_ok = ok;
            if (r->route < 0) r->route = ROUTE_STATIC;
        }
        size_t head = strlen(url) + strlen(method);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &head);
        if (head > (size_t)g.cfg->http_max_header)
            return reply_now(r, 431, "headers_too_large", "the request line and headers are too large", NULL);
        if (r->route >= 0 && r->method_ok && g.opt->routes[r->route].raw_body) {
            /* an upload: who may send it is settled before its body is kept */
            r->raw = 1;
            log_set_request_id(r->id);
            int denied = check_access(r, &g.opt->routes[r->route]);
            log_set_request_id(NULL);
            if (denied) return r->replied ? MHD_YES : MHD_NO;
            r->checked = 1;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        long long n;
        if (cl && parse_int64(cl, &n) == 0 && n > body_limit(r)) {
            /* Announced too large.  A reply sent while the client is still sending makes
             * the connection close with the body unread, and the kernel then resets it: the
             * client may lose the 413 and see a broken connection instead.  So a body up to
             * twice the limit is read and dropped (phase 2), and the 413 follows it; a
             * larger one is refused at once. */
            if (n / 2 > body_limit(r)) return reply_too_large(r) == 0 ? MHD_YES : MHD_NO;
            r->body_too_large = 1;
            return MHD_YES;
        }
        if (r->raw && cl && parse_int64(cl, &n) == 0 && n > 0) {
            /* one allocation of the announced size, so a large upload is not copied as it grows */
            r->body = malloc((size_t)n + 1);
            if (!r->body) return MHD_NO;
            r->body_cap = (size_t)n + 1;
        }
        return MHD_YES;
    }
    if (r->replied) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (atomic_load(&r->defer_state) == DEFER_DONE) { /* resumed: the deferred handler's continuation */
        atomic_store(&r->defer_state, DEFER_NONE);
        log_set_request_id(r->id);
        r->defer_then(r);
        if (!r->replied && atomic_load(&r->defer_state) == DEFER_QUEUED) {
            MHD_suspend_connection(conn);
            defer_submit(r);
            log_set_request_id(NULL);
            return MHD_YES;
        }
        if (!r->replied)
            http_reply_error(r, 500, "internal", "the server could not complete the request", NULL);
        log_set_request_id(NULL);
        return MHD_YES;
    }
    if (*upload_data_size) { /* phase 2: read */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (now_monotonic() - r->t0 > (double)g.cfg->http_request_timeout) {
            /* a body trickling in (slowloris): drop the connection */
            log_warn("request from %s took over %llds to arrive; closing", r->client,
                     (long long)g.cfg->http_request_timeout);
            return MHD_NO;
        }
        if (r->body_too_large) return MHD_YES;
        if (r->body_len + n > (size_t)body_limit(r)) {
            r->body_too_large = 1;
            return MHD_YES;
        }
        if (r->raw && r->body_len + n + 1 > r->body_cap) {
            /* uploads live on the heap: realloc leaves no dead copies behind, unlike the arena */
            size_t cap = r->body_cap ? r->body_cap * 2 : 65536;
            while (cap < r->body_len + n + 1) cap *= 2;
            if (cap > (size_t)body_limit(r) + 1) cap = (size_t)body_limit(r) + 1;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        } else if (r->body_len + n + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
            while (cap < r->body_len + n + 1) cap *= 2;
            char *nb = arena_alloc(r->a, cap);
            if (!nb) return MHD_NO;
            if (r->body_len) memcpy(nb, r->body, r->body_len);
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        r->body[r->body_len] = 0;
        return MHD_YES;
    }
    dispatch(r); /* phase 3 and 4 */
    if (!r->replied && atomic_load(&r->defer_state) == DEFER_QUEUED) {
        /* suspended before it is queued, so the worker's resume always finds it suspended */
        MHD_suspend_connection(conn);
        defer_submit(r);
        return MHD_YES;
    }
    return r->replied ? MHD_YES : MHD_NO;
}

static void json_escape_into(char *out, size_t cap, const char *s)
{
    size_t j = 0;
    for (; *s && j + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[j++] = '\\';
            out[j++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            j += (size_t)snprintf(out + j, cap - j, "\\u%04x", c);
        } else {
            out[j++] = (char)c;
        }
    }
    out[j] = 0;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    http_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double dur = now_monotonic() - r->t0;
    unsigned status = r->replied ? r->status : 499; /* client went away before a reply */
    size_t slot = route_slot(r->route);
    if (r->replied) {
        atomic_fetch_add_explicit(
            &g.requests[(slot * NMETHODS + method_index(r->method)) * NSTATUSES + status_index(status)], 1,
            memory_order_relaxed);
        histogram_observe(&g.durations[slot], dur);
        atomic_fetch_add_explicit(&g.bytes_out, r->bytes, memory_order_relaxed);
    }
    char ts[48], path[512], line[1024];
    time_rfc3339(now_wall(), ts, sizeof ts);
    json_escape_into(path, sizeof path, r->path);
    int n = snprintf(line, sizeof line,
                     "{\"time\":\"%s\",\"level\":\"info\",\"msg\":\"access\",\"request_id\":\"%s\","
                     "\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"route\":\"%s\","
                     "\"status\":%u,\"bytes\":%llu,\"duration_ms\":%.3f%s}\n",
                     ts, r->id, r->client, METHODS[method_index(r->method)], path, slot_name(slot), status,
                     r->bytes, dur * 1000.0,
                     toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ",\"aborted\":true");
    if (n > 0 && (size_t)n < sizeof line) log_write_line(line, (size_t)n);
    limit_leave(r->limit_slot);
    json_decref(r->json);
    if (r->raw) free(r->body);
    arena_free(r->a);
    atomic_fetch_sub(&g.inflight, 1);
}

/* ---------- start and stop ---------- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host) return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    long long port;
    if (parse_int64(colon + 1, &port) != 0 || port < 0 || port > 65535) return -1;
    char *h = host;
    if (h[0] == '[') {
        h++;
        char *e = strchr(h, ']');
        if (e) *e = 0;
    }
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, h[0] ? h : "0.0.0.0", &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
        return 0;
    }
    if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    return -1;
}

static void resolve_web_root(const struct config *cfg)
{
    const char *cands[] = {cfg->web_root[0] ? cfg->web_root : NULL, "web", EHALL_SOURCE_WEB_DIR};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(cands); i++) {
        if (!cands[i]) continue;
        char probe[1100];
        snprintf(probe, sizeof probe, "%s/index.html", cands[i]);
        if (access(probe, R_OK) == 0 || (i == 0)) {
            if (!realpath(cands[i], g.web_root)) snprintf(g.web_root, sizeof g.web_root, "%s", cands[i]);
            return;
        }
    }
    snprintf(g.web_root, sizeof g.web_root, "web");
}

/* libmicrohttpd aborts on internal inconsistencies; say where before it does. */
static void mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    log_error("libmicrohttpd panic at %s:%u: %s", file ? file : "?", line, reason ? reason : "");
    log_flush();
    abort();
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = 0;
    log_debug("mhd: %s", msg);
}

int http_serve(const struct http_server_options *opt)
{
    const struct config *cfg = opt->cfg;
    g.opt = opt;
    g.cfg = cfg;
    g.start_wall = now_wall();
    g.nslots = opt->nroutes + 2;
    g.requests = calloc(g.nslots * NMETHODS * NSTATUSES, sizeof *g.requests);
    g.durations = calloc(g.nslots, sizeof *g.durations);
    if (!g.requests || !g.durations) {
        log_error("out of memory");
        return 1;
    }
    MHD_set_panic_func(mhd_panic, NULL);
#ifdef __GLIBC__
    /* No fast bins: a request frees an answer of several KiB next to hundreds of small
     * JSON nodes, and glibc then consolidated the fast bins on the free (malloc_consolidate
     * was 5 % of a list request's CPU); the per-thread caches still serve small sizes.
     * Lists at 8 clients went from about 4,700 to 5,400 requests/s (docs/performance.md). */
    mallopt(M_MXFAST, 0);
#endif
    resolve_web_root(cfg);
    g.web_root_fd = open(g.web_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g.web_root_fd < 0)
        log_warn("web root %s cannot be opened: the browser UI will answer 404", g.web_root);
    struct limit_config lc = {(double)cfg->http_client_rate, (double)cfg->http_client_burst,
                              (int)cfg->http_client_concurrency};
    limit_init(&lc);

    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_listen(cfg->listen, &ss, &sslen) != 0) {
        log_error("listen: '%s' is not ADDRESS:PORT", cfg->listen);
        return 1;
    }
    /* Signals are taken synchronously by this thread; MHD's threads inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    long threads = cfg->http_threads;
    if (threads <= 0) threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 2;
    if (threads < 2) {
        /* libmicrohttpd 0.9.75 with a single epoll thread stalls at ~1,600 req/s once a
         * hundred or more connections are open (reproduced outside ehall; see
         * docs/performance.md); a pool of two does not. */
        threads = 2;
    }
    /* ehall accepts, MHD serves (accept.c says why) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
    unsigned port = 0;
    if (accept_open(&ss, sslen, 1024, &port) != 0) {
        log_error("cannot listen on %s (address in use, or not permitted)", cfg->listen);
        return 1;
    }
    /* Open connections per address; behind a load balancer every client shares one. */
    unsigned per_ip =
        cfg->http_trust_proxy || cfg->http_client_rate == 0 ? 0 : (unsigned)cfg->http_client_concurrency * 2;
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, cfg->http_max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, cfg->http_idle_timeout, NULL},
        /* MHD's own limit is a backstop (it answers in HTML); ehall checks http.max_header
         * itself in phase 1 so that callers get the JSON error.  Kept small: MHD zeroes a
         * connection's whole pool between two requests on it, and at 64 KiB that cost
         * SQLite's status checks 10-30 % of their rate (docs/performance.md). */
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->http_max_header + 16384, NULL},
        {MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (defer_start() != 0) {
        accept_stop();
        log_error("cannot start the worker threads");
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_ARRAY, options,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!d || accept_start(d) != 0) {
        if (d) MHD_stop_daemon(d);
        accept_stop();
        defer_stop();
        log_error("cannot start the HTTP server threads");
        return 1;
    }
    log_info("ehall %s listening on %s (port %u), %ld threads, web root %s", EHALL_VERSION, cfg->listen, port,
             threads, g.web_root);

    if (opt->on_listening) opt->on_listening(opt->app);
    log_buffered(1);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    log_info("received %s: draining (delay %llds, grace %llds)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             (long long)cfg->shutdown_delay, (long long)cfg->shutdown_grace);
    /* phase 1: still serving, but /readyz says 503 and connections are not kept alive */
    atomic_store(&g.draining, 1);
    double until = now_monotonic() + (double)cfg->shutdown_delay;
    while (now_monotonic() < until) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* phase 2: no new connections or requests; in-flight ones get the grace period */
    atomic_store(&g.draining, 2);
    /* New connections are still accepted until the daemon stops, and answered 503
     * shutting_down in phase 1 of the pipeline. */
    double deadline = now_monotonic() + (double)cfg->shutdown_grace;
    while (atomic_load(&g.inflight) > 0 && now_monotonic() < deadline) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    int left = atomic_load(&g.inflight);
    if (left > 0) log_warn("grace period over: %d request(s) still in flight are cut off", left);
    /* every deferred request is worked off and resumed: libmicrohttpd must not be
     * stopped with a connection suspended; give the resumed ones a moment to finish */
    defer_stop();
    for (int i = 0; i < 100 && atomic_load(&g.inflight) > 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    accept_stop();
    MHD_stop_daemon(d);
    log_buffered(0);
    if (g.web_root_fd >= 0) close(g.web_root_fd);
    log_info("stopped");
    free(g.requests);
    free(g.durations);
    return 0;
}
