/*
 * routes.c — every endpoint ehall serves, in one table.
 *
 * Read this file to see the whole HTTP surface.  Each line is: method, path pattern
 * ({name} is a path parameter), handler, who may call it, and a one-line summary
 * (`ehall routes` prints the table; docs/api.md describes each endpoint).
 * Anything not matched here under /api/ is a JSON 404; everything else is the
 * browser UI from the web root.
 */
#include "analytics/analytics.h"
#include "api/api.h"

const struct http_route api_routes[] = {
    /* operations */
    {"GET", "/healthz", api_healthz, ACCESS_PUBLIC, NULL, "liveness: the process answers"},
    {"GET", "/readyz", api_readyz, ACCESS_PUBLIC, NULL, "readiness: database reachable, schema current"},
    {"GET", "/metrics", api_metrics, ACCESS_LOOPBACK, NULL, "Prometheus metrics"},
    /* API v1 */
    {"GET", "/api/v1/version", api_version, ACCESS_PUBLIC, NULL, "server version and schema version"},
    {"POST", "/api/v1/analytics/pageviews", analytics_record_view, ACCESS_PUBLIC, NULL,
     "record a portal page view"},
    {"GET", "/api/v1/analytics/summary", analytics_summary, ACCESS_LOOPBACK, NULL,
     "visit statistics for a date range"},
};

const size_t api_nroutes = sizeof api_routes / sizeof api_routes[0];
