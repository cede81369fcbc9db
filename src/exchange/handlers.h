/*
 * handlers — the exchange's HTTP endpoints (api.c), listed in src/api/routes.c and
 * described in docs/api.md: staff see the queue, its dead letters and the
 * reconciliation reports, and replay dead letters; a test-mode route queues test
 * messages.
 */
#ifndef EHALL_EXCHANGE_HANDLERS_H
#define EHALL_EXCHANGE_HANDLERS_H

#include "http/http.h"

int exchange_api_messages(http_req *r); /* GET  /api/v1/exchange/messages */
int exchange_api_replay(http_req *r);   /* POST /api/v1/exchange/messages/{id}/replay */
int exchange_api_reports(http_req *r);  /* GET  /api/v1/exchange/reports */
int exchange_api_stats(http_req *r);    /* GET  /api/v1/exchange/stats */
int exchange_api_test(http_req *r);     /* POST /api/v1/test/exchange (test mode) */

#endif
