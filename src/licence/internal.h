/*
 * internal.h — shared by the files of src/licence/ only.
 */
#ifndef EHALL_LICENCE_INTERNAL_H
#define EHALL_LICENCE_INTERNAL_H

#include <jansson.h>

#include "auth/keys.h"
#include "licence/licence.h"

struct principal;
/* The blind indexes of the caller's holder number (ID number, or the enterprise's USCC):
 * how many (0 when the caller has none), or < 0 on a store error (api.c). */
int licence_holder_indexes(store_conn *c, const struct principal *p, char idx[][KEYS_TAG_MAX], int max);

/* One licence to issue (issue.c).  strict: required fields must be present (manual
 * entry); from a case, whatever the case has is taken. */
struct licence_issue_req {
    const char *type, *holder_name, *holder_number;
    const json_t *data; /* the type's own fields */
    const char *source;
    int valid_from; /* day number, 0: today */
    long long case_id, entry_id;
    int strict;
    const char *actor, *role, *client, *request_id; /* for the audit record (NULL: system) */
};
/* Sign and store inside the caller's transaction: STORE_OK and id_out; 1 + why when
 * refused; a STORE_* error otherwise. */
int licence_issue(store_conn *c, const struct licence_issue_req *q, char id_out[LICENCE_ID_MAX], char *why,
                  size_t whylen);
/* The keys directory licence_setup chose. */
const char *licence_keys_path(void);
/* Last valid day (day number) for a type's validity from day from; 0 = permanent. */
int licence_valid_to(const json_t *validity, int from);
/* Check the type's own fields in data; every problem is appended to errors as
 * {"field": prefix + key, "message"}.  Returns the number of problems. */
int licence_check_data(const json_t *def, const json_t *data, int strict, json_t *errors, const char *prefix);
/* 0 when number suits the type's holder kind (person: GB 11643; enterprise: GB 32100). */
int licence_check_holder(const json_t *def, const char *number, const char **why);

/* ---- sharing helpers (share.c), used by gateway.c ---- */
struct licence_row {
    char status[16]; /* valid | expired | revoked (expired computed from valid_to) */
    char type[64], issuer[64], holder_bidx[KEYS_TAG_MAX];
    int valid_to_day;
    json_t *doc; /* the signed document, when opened */
};
/* One licence by identifier: STORE_ROW (x filled; with open, x->doc too), STORE_DONE when
 * there is none, or a STORE_* error.  licence_row_free in every case. */
int licence_row_load(store_conn *c, const char *id, int open, struct licence_row *x);
void licence_row_free(struct licence_row *x);
/* A licence's status (valid | expired | revoked) by identifier, read as the public status
 * check reads it (on PostgreSQL sharing a statement with the checks that arrive with it):
 * STORE_ROW, STORE_DONE when there is none, or a STORE_* error. */
int licence_status_read(store *db, const char *id, char status[16]);
/* The caller's own licence named by the {id} parameter: 0 (x filled, *id set), or -1
 * after replying 400/404/503. */
int licence_mine_param(http_req *r, store_conn *c, int open, struct licence_row *x, const char **id);
/* The listed fields of the signed document's licence (new object). */
json_t *licence_pick(const json_t *doc, const json_t *fields);
/* The fields a type shows in a scenario (new array), or NULL when it has no such scenario. */
json_t *licence_scenario_fields(store_conn *c, const char *type, const char *scenario);

#endif
