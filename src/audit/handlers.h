/*
 * handlers.h — the auditor's endpoints (api.c), as listed in src/api/routes.c.
 */
#ifndef EHALL_AUDIT_HANDLERS_H
#define EHALL_AUDIT_HANDLERS_H

#include "http/http.h"

int audit_api_search(http_req *r);
int audit_api_export(http_req *r);
int audit_api_verify(http_req *r);

#endif
