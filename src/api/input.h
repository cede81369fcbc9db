/*
 * input — reading a JSON request body field by field, collecting every problem.
 *
 * A handler opens the body with input_begin (which refuses a non-object body and any
 * field it does not list), reads each field with a typed getter that states the
 * rules, and calls input_done: when anything was wrong the client gets one 422 that
 * names every bad field, and the handler stores nothing.  Strings are checked for
 * length in characters and for control characters; jansson has already refused
 * invalid UTF-8.
 */
#ifndef EHALL_INPUT_H
#define EHALL_INPUT_H

#include <jansson.h>
#include <stddef.h>

#include "http/http.h"

struct input {
    http_req *r;
    json_t *body;
    json_t *errors;
};

/* known: NULL-ended list of accepted fields.  Returns 0, or -1 after replying. */
int input_begin(struct input *in, http_req *r, const char *const *known);
/* A string of minc..maxc characters (NULL when absent and not required). */
const char *input_str(struct input *in, const char *name, int required, size_t minc, size_t maxc);
/* Like input_str, but line breaks and tabs are allowed (PEM text, free comments). */
const char *input_text(struct input *in, const char *name, int required, size_t minc, size_t maxc);
/* An integer in lo..hi; def when absent and not required. */
long long input_int(struct input *in, const char *name, int required, long long lo, long long hi,
                    long long def);
/* A boolean; def when absent. */
int input_bool(struct input *in, const char *name, int def);
/* An array of strings (each 1..maxc characters, at most maxn); NULL when absent. */
json_t *input_str_array(struct input *in, const char *name, int required, size_t maxn, size_t maxc);
/* Record a problem with a field (message is copied). */
void input_error(struct input *in, const char *name, const char *message);
int input_ok(const struct input *in);
/* 0 when every field passed; otherwise replies 422 validation_failed and returns -1. */
int input_done(struct input *in);

/* Number of UTF-8 characters in s (s is valid UTF-8). */
size_t utf8_chars(const char *s);

#endif
