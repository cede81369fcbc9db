/*
 * calendar/handlers.h — the working-day calendar over HTTP (handlers.c).
 */
#ifndef EHALL_CALENDAR_HANDLERS_H
#define EHALL_CALENDAR_HANDLERS_H

#include "http/http.h"

/* GET /api/v1/admin/calendar/{year}: the year's imported holidays and working weekends
 * (调休), and the working days of each month (docs/api.md). */
int calendar_api_year(http_req *r);

#endif
