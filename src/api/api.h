/*
 * api — ehall's HTTP surface: the application context every handler reaches through
 * http_req_app(), and the route table (routes.c), which lists every endpoint with the
 * access it needs.  Handlers live with their domain; the operational ones are in
 * health.c.
 */
#ifndef EHALL_API_H
#define EHALL_API_H

#include <stddef.h>

#include "http/http.h"
#include "store/store.h"

struct config;

struct app {
    const struct config *cfg;
    store *db;
    int started; /* the server has bound its address */
};

extern const struct http_route api_routes[];
extern const size_t api_nroutes;

/* health.c */
int api_healthz(http_req *r);
int api_readyz(http_req *r);
int api_metrics(http_req *r);
int api_version(http_req *r);

#endif
