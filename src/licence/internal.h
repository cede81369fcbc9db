/*
 * internal.h — shared by the files of src/licence/ only.
 */
#ifndef EHALL_LICENCE_INTERNAL_H
#define EHALL_LICENCE_INTERNAL_H

#include <jansson.h>

#include "licence/licence.h"

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

#endif
