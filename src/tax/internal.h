/*
 * internal.h — what the files of src/tax/ share.
 */
#ifndef EHALL_TAX_INTERNAL_H
#define EHALL_TAX_INTERNAL_H

#include "auth/session.h"
#include "tax/tax.h"

void tax_set_calendar(calendar *cal);
calendar *tax_calendar(void);

struct tax_taxpayer {
    long long id;
    char kind[12];      /* enterprise, person */
    char tin[24];       /* the USCC, or the masked ID number of a person */
    char name[256];     /* the enterprise's name, or the person's masked name */
    char vat_status[8]; /* general, small, none */
    char office[65];    /* tax office: department code */
    char office_path[256];
    char credit[2];
    char status[16];
    long long enterprise; /* enterprise.id with this USCC (registered in ehall), 0 */
    char id_bidx[100];    /* persons: blind index of the ID number */
};
/* STORE_OK, STORE_DONE (no such taxpayer), or an error. */
int tax_taxpayer_load(store_conn *c, long long id, struct tax_taxpayer *t);
json_t *tax_taxpayer_json(store_conn *c, const struct tax_taxpayer *t);

enum { TAX_NONE = 0, TAX_READ = 1, TAX_FILE = 2 };
/* What the caller may do with the taxpayer's records. */
int tax_access(store_conn *c, const struct principal *p, const struct tax_taxpayer *t);
/* Taxpayer id loaded into t and the caller's access to it: TAX_NONE also when there is no
 * such taxpayer (callers answer both alike), or a STORE_* error (< 0). */
int tax_access_to(store_conn *c, const struct principal *p, long long id, struct tax_taxpayer *t);

/* The taxpayer's registration for tax: STORE_OK (*quarterly, *since set), STORE_DONE. */
int tax_registration_get(store_conn *c, long long taxpayer, const char *tax, int *quarterly, int *since);

/* The calendar parameters in force on date (defaults 15 and 3 when none); *overrides
 * is a new reference or NULL. */
int tax_calendar_params(store_conn *c, int date, int *day, int *near, json_t **overrides);

int tax_reply_unavailable(http_req *r);

/* GET /api/v1/tax/{kind}s/{id}: the record load finds (STORE_OK with *out, a new
 * reference, and *taxpayer set; STORE_DONE when there is none), when the caller may see
 * its taxpayer's records; 404 "no such {what}" otherwise — the same answer for a record
 * that does not exist and one of someone else. */
int tax_reply_record(http_req *r, const char *what,
                     int (*load)(store_conn *c, long long id, json_t **out, long long *taxpayer));
/* GET /api/v1/tax/taxpayers/{id}/{key}: {key: [...]} with the rows of sql (bound $1: the
 * taxpayer's id; at most 200), each made JSON by row, when the caller may see the
 * taxpayer's records; 404 "no such taxpayer" otherwise. */
int tax_reply_taxpayer_list(http_req *r, const char *key, const char *sql, json_t *(*row)(store_stmt *st));

/* Public look-ups: 429 with Retry-After (replied) when the client's address has used its
 * allowance (invoice.c); 0 to go on. */
int tax_public_limited(http_req *r);

#endif
