/*
 * api.c — the security auditor's endpoints: search, export and chain verification.
 *
 * All three need audit.read or audit.export (the auditor's built-in role), and each
 * use is itself audited — an auditor's reading is on the record too.  Exports carry
 * the SM3 digest of the file in X-Content-SM3 and in the audit record, so a report
 * built on an export can be tied back to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "audit/audit.h"
#include "audit/handlers.h"
#include "auth/keys.h"
#include "auth/session.h"
#include "core/core.h"

/* The filter from the query string; -1 after replying 400 naming the field. */
static int read_filter(http_req *r, struct audit_filter *f, int export)
{
    memset(f, 0, sizeof *f);
    f->from = http_req_query(r, "from");
    f->to = http_req_query(r, "to");
    f->actor = http_req_query(r, "actor");
    f->action = http_req_query(r, "action");
    f->object = http_req_query(r, "object");
    f->result = http_req_query(r, "result");
    f->client = http_req_query(r, "client");
    f->request_id = http_req_query(r, "request_id");
    const char *after = http_req_query(r, "after"), *limit = http_req_query(r, "limit");
    long long v;
    if (after) {
        if (parse_int64(after, &v) != 0 || v < 0) {
            http_reply_error(r, 400, "invalid_query", "after must be a record number",
                             json_pack("[o]", http_field_error("after", "must be a non-negative integer")));
            return -1;
        }
        f->after_seq = v;
    }
    if (limit && !export) {
        if (parse_int64(limit, &v) != 0 || v < 1 || v > AUDIT_LIMIT_MAX) {
            http_reply_error(r, 400, "invalid_query", "limit is out of range",
                             json_pack("[o]", http_field_error("limit", "must be 1 to 1000")));
            return -1;
        }
        f->limit = (int)v;
    }
    const char *field, *why;
    if (audit_filter_check(f, &field, &why) != 0) {
        http_reply_error(r, 400, "invalid_query", why, json_pack("[o]", http_field_error(field, why)));
        return -1;
    }
    return 0;
}

/* The filter as JSON text for the audit record of a search or an export. */
static char *filter_text(const struct audit_filter *f, const char *extra_key, const char *extra)
{
    json_t *o = json_object();
    const char *names[] = {"from", "to", "actor", "action", "object", "result", "client", "request_id"};
    const char *vals[] = {f->from,   f->to,     f->actor,  f->action,
                          f->object, f->result, f->client, f->request_id};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(names); i++)
        if (vals[i]) json_object_set_new(o, names[i], json_string(vals[i]));
    if (extra_key) json_object_set_new(o, extra_key, json_string(extra));
    char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return t;
}

struct collect {
    json_t *list;
    long long last;
};

static int collect_row(void *arg, const struct audit_row *row)
{
    struct collect *c = arg;
    json_t *j = audit_row_json(row);
    if (!j) return 1;
    json_array_append_new(c->list, j);
    c->last = row->seq;
    return 0;
}

int audit_api_search(http_req *r)
{
    struct audit_filter f;
    if (read_filter(r, &f, 0) != 0) return 0;
    struct app *app = http_req_app(r);
    struct collect c = {json_array(), 0};
    int rc = audit_search(app->db, &f, collect_row, &c);
    if (rc != STORE_OK) {
        json_decref(c.list);
        return http_reply_error(r, 503, "unavailable", "the audit log could not be read; retry", NULL);
    }
    char *det = filter_text(&f, NULL, NULL);
    auth_audit(r, NULL, "audit.search", "audit_log", "ok", det);
    free(det);
    int limit = f.limit ? f.limit : AUDIT_LIMIT_DEFAULT;
    json_t *body = json_pack("{s:o}", "records", c.list);
    json_object_set_new(body, "next_after",
                        (long long)json_array_size(c.list) == limit ? json_integer(c.last) : json_null());
    return http_reply_json(r, 200, body);
}

int audit_api_export(http_req *r)
{
    struct audit_filter f;
    if (read_filter(r, &f, 1) != 0) return 0;
    const char *format = http_req_query(r, "format");
    if (!format) format = "csv";
    if (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0)
        return http_reply_error(r, 400, "invalid_query", "unknown format",
                                json_pack("[o]", http_field_error("format", "must be csv or jsonl")));
    struct app *app = http_req_app(r);
    char *data = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&data, &len);
    if (!out) return http_reply_error(r, 503, "unavailable", "out of memory", NULL);
    long long rows = 0;
    char sm3[65] = "";
    int rc = audit_export(app->db, &f, out, format, &rows, sm3);
    fclose(out);
    if (rc != STORE_OK) {
        free(data);
        return http_reply_error(r, 503, "unavailable", "the export could not be made; retry", NULL);
    }
    char *det = filter_text(&f, "sm3", sm3);
    json_t *d = json_loads(det, 0, NULL);
    free(det);
    json_object_set_new(d, "rows", json_integer(rows));
    json_object_set_new(d, "format", json_string(format));
    det = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    /* the export is on the record before anyone sees it */
    if (auth_audit(r, NULL, "audit.export", "audit_log", "ok", det) != STORE_OK) {
        free(det);
        free(data);
        return http_reply_error(r, 503, "unavailable", "the export could not be recorded; retry", NULL);
    }
    free(det);
    char disp[96], count[24];
    snprintf(disp, sizeof disp, "attachment; filename=\"ehall-audit.%s\"", format);
    snprintf(count, sizeof count, "%lld", rows);
    http_add_header(r, "Content-Disposition", arena_strdup(http_req_arena(r), disp));
    http_add_header(r, "X-Content-SM3", arena_strdup(http_req_arena(r), sm3));
    http_add_header(r, "X-Record-Count", arena_strdup(http_req_arena(r), count));
    int st = http_reply_text(
        r, 200, !strcmp(format, "csv") ? "text/csv; charset=utf-8" : "application/x-ndjson", data, len);
    free(data);
    return st;
}

int audit_api_verify(http_req *r)
{
    struct app *app = http_req_app(r);
    struct audit_report rep;
    int rc = audit_verify_signed(app->db, keys_audit_public_pem(), &rep);
    if (rc < 0)
        return http_reply_error(r, 503, "unavailable", "the audit log could not be read; retry", NULL);
    auth_audit(r, NULL, "audit.verify", "audit_log", rc == 0 ? "intact" : "broken", NULL);
    json_t *body = json_pack("{s:b, s:I, s:I, s:s}", "intact", rc == 0, "records", (json_int_t)rep.records,
                             "checkpoints", (json_int_t)rep.checkpoints, "head", rep.head);
    if (rc == 1) {
        json_object_set_new(body, "broken_seq", json_integer(rep.broken_seq));
        json_object_set_new(body, "reason", json_string(rep.reason));
    }
    return http_reply_json(r, 200, body);
}
