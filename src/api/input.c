/*
 * input.c — see input.h.
 */
#include "api/input.h"

#include <stdio.h>
#include <string.h>

size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

void input_error(struct input *in, const char *name, const char *message)
{
    json_array_append_new(in->errors, http_field_error(name, message));
}

int input_ok(const struct input *in) { return json_array_size(in->errors) == 0; }

int input_begin(struct input *in, http_req *r, const char *const *known)
{
    in->r = r;
    in->body = http_req_json(r);
    in->errors = NULL;
    if (!json_is_object(in->body)) {
        http_reply_error(r, 400, "invalid_body", "the body must be a JSON object",
                         json_pack("[o]", http_field_error("body", "must be an object")));
        return -1;
    }
    in->errors = json_array();
    const char *key;
    json_t *val;
    json_object_foreach(in->body, key, val)
    {
        int ok = 0;
        for (size_t i = 0; known[i] && !ok; i++) ok = !strcmp(key, known[i]);
        if (!ok) input_error(in, key, "unknown field");
    }
    return 0;
}

static json_t *present(struct input *in, const char *name, int required)
{
    json_t *v = json_object_get(in->body, name);
    if (!v || json_is_null(v)) {
        if (required) input_error(in, name, "is required");
        return NULL;
    }
    return v;
}

static int text_ok(struct input *in, const char *name, const char *s, size_t minc, size_t maxc, int lines)
{
    char msg[96];
    size_t n = utf8_chars(s);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 || *p == 0x7f) && !(lines && (*p == '\n' || *p == '\r' || *p == '\t'))) {
            input_error(in, name, "must not contain control characters");
            return -1;
        }
    if (n < minc || n > maxc) {
        if (minc == maxc)
            snprintf(msg, sizeof msg, "must be exactly %zu characters", minc);
        else
            snprintf(msg, sizeof msg, "must be %zu to %zu characters", minc, maxc);
        input_error(in, name, msg);
        return -1;
    }
    return 0;
}

static const char *get_str(struct input *in, const char *name, int required, size_t minc, size_t maxc,
                           int lines)
{
    json_t *v = present(in, name, required);
    if (!v) return NULL;
    if (!json_is_string(v)) {
        input_error(in, name, "must be a string");
        return NULL;
    }
    /* a NUL inside the string would cut it short everywhere downstream */
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        input_error(in, name, "must not contain NUL characters");
        return NULL;
    }
    return text_ok(in, name, json_string_value(v), minc, maxc, lines) == 0 ? json_string_value(v) : NULL;
}

const char *input_str(struct input *in, const char *name, int required, size_t minc, size_t maxc)
{
    return get_str(in, name, required, minc, maxc, 0);
}

const char *input_text(struct input *in, const char *name, int required, size_t minc, size_t maxc)
{
    return get_str(in, name, required, minc, maxc, 1);
}

long long input_int(struct input *in, const char *name, int required, long long lo, long long hi,
                    long long def)
{
    json_t *v = present(in, name, required);
    if (!v) return def;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be an integer from %lld to %lld", lo, hi);
        input_error(in, name, msg);
        return def;
    }
    return json_integer_value(v);
}

int input_bool(struct input *in, const char *name, int def)
{
    json_t *v = present(in, name, 0);
    if (!v) return def;
    if (!json_is_boolean(v)) {
        input_error(in, name, "must be true or false");
        return def;
    }
    return json_is_true(v);
}

json_t *input_str_array(struct input *in, const char *name, int required, size_t maxn, size_t maxc)
{
    json_t *v = present(in, name, required);
    if (!v) return NULL;
    char msg[96];
    if (!json_is_array(v) || json_array_size(v) > maxn) {
        snprintf(msg, sizeof msg, "must be an array of at most %zu strings", maxn);
        input_error(in, name, msg);
        return NULL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        snprintf(msg, sizeof msg, "%s[%zu]", name, i);
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
            input_error(in, msg, "must be a string");
            return NULL;
        }
        if (text_ok(in, msg, json_string_value(e), 1, maxc, 0) != 0) return NULL;
    }
    return v;
}

int input_done(struct input *in)
{
    if (input_ok(in)) {
        json_decref(in->errors);
        in->errors = NULL;
        return 0;
    }
    http_reply_error(in->r, 422, "validation_failed", "some fields are not valid", in->errors);
    in->errors = NULL;
    return -1;
}
