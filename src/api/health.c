/*
 * health.c — the operational endpoints: liveness, readiness, metrics, version.
 */
#include <string.h>

#include "api/api.h"
#include "core/config.h"
#include "core/metrics.h"

int api_healthz(http_req *r) { return http_reply_json(r, 200, json_pack("{s:s}", "status", "ok")); }

int api_readyz(http_req *r)
{
    struct app *app = http_req_app(r);
    int cur = 0, latest = 0;
    double t0 = now_monotonic();
    if (http_draining())
        return http_reply_json(
            r, 503, json_pack("{s:s, s:s}", "status", "draining", "reason", "the server is shutting down"));
    if (store_ping(app->db) != STORE_OK)
        return http_reply_json(
            r, 503,
            json_pack("{s:s, s:s}", "status", "unavailable", "reason", "the database does not answer"));
    if (store_schema_version(app->db, &cur, &latest) != STORE_OK || cur != latest)
        return http_reply_json(r, 503,
                               json_pack("{s:s, s:s, s:i, s:i}", "status", "unavailable", "reason",
                                         "the database schema is not current", "schema", cur, "expected",
                                         latest));
    json_int_t us = (json_int_t)((now_monotonic() - t0) * 1e6);
    return http_reply_json(r, 200,
                           json_pack("{s:s, s:s, s:i, s:I}", "status", "ready", "engine",
                                     store_engine_name(app->db), "schema", cur, "db_us", us));
}

int api_metrics(http_req *r)
{
    struct strbuf sb = {0};
    http_metrics_render(&sb);
    store_metrics_render(((struct app *)http_req_app(r))->db, &sb);
    if (sb.oom) {
        sb_free(&sb);
        return http_reply_error(r, 503, "unavailable", "out of memory rendering metrics", NULL);
    }
    int rc = http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", sb.data, sb.len);
    sb_free(&sb);
    return rc;
}

int api_version(http_req *r)
{
    struct app *app = http_req_app(r);
    int cur = 0, latest = 0;
    store_schema_version(app->db, &cur, &latest);
    return http_reply_json(r, 200,
                           json_pack("{s:s, s:s, s:i, s:i}", "version", EHALL_VERSION, "engine",
                                     store_engine_name(app->db), "schema", cur, "schema_supported", latest));
}
