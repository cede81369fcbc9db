/*
 * people — the accounts that API tests need, made through the public API of a real
 * `ehall serve` in test mode (captcha answers and SMS codes readable): citizens,
 * enterprises, the three administrators and staff with roles and a second factor.
 * Every helper fails the current test when a step does not give the expected status.
 */
#ifndef EHALL_TEST_PEOPLE_H
#define EHALL_TEST_PEOPLE_H

#include "harness.h"

#define P_PASSWORD "Hall-2026-pass"

struct admins {
    struct hclient sys, sec, aud; /* logged in, full stage */
};

/* `ehall admin bootstrap`, then each administrator's first log-in (password change,
 * TOTP enrolment). */
void p_admins(struct srv *s, struct admins *a);
/* Register a natural person (captcha + SMS code) born on birth (YYYY-MM-DD) and log c
 * in as them; returns the account id.  The ID number and mobile derive from login. */
long long p_person(struct srv *s, struct hclient *c, const char *login, const char *birth);
/* The ID number p_person gave login (18 characters + NUL). */
void p_person_id_number(const char *login, const char *birth, char out[19]);
/* The mobile number p_person and p_staff gave login (11 digits + NUL). */
void p_person_mobile(const char *login, char out[12]);
/* Register an enterprise with its administrator account login and log c in. */
long long p_enterprise(struct srv *s, struct hclient *c, const char *login);
/* A department's id by code (0 when there is none). */
long long p_dept_id(struct hclient *sys, const char *code);
/* A staff account in dept holding roles_csv ("a,b"; may be empty), created by the
 * system administrator, roles set by the security administrator, and out logged in
 * after the first log-in (SMS second factor, password change, TOTP enrolment). */
long long p_staff(struct srv *s, struct admins *a, struct hclient *out, const char *login, long long dept,
                  const char *roles_csv);
/* Log c in again as login with P_PASSWORD and, for staff and administrators, the TOTP
 * secret p_staff/p_admins enrolled (a TOTP step is single use, so this may wait for the
 * next 30-second step when the last one was spent). */
void p_login(struct srv *s, struct hclient *c, const char *login);
/* Upload a material to c's library (raw body, X-File-Name); returns its id (fails the
 * test unless the status is 200 or 201). */
long long p_upload(struct hclient *c, const char *file_name, const void *data, size_t len);
/* hc_json that fails the test unless the status is want; returns the JSON (decref it). */
struct json_t *p_want(struct hclient *c, long want, const char *method, const char *path, const char *body);

#endif
