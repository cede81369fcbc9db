/*
 * analytics — visit statistics for the portal (seed 002 §6.2: page views, visitor
 * addresses, dwell time, pages per visit).  The browser reports each page it shows;
 * operators read a summary over a date range.
 */
#ifndef EHALL_ANALYTICS_H
#define EHALL_ANALYTICS_H

#include "http/http.h"

int analytics_record_view(http_req *r); /* POST /api/v1/analytics/pageviews */
int analytics_summary(http_req *r);     /* GET  /api/v1/analytics/summary */

#endif
