/*
 * api.c — the licence endpoints: the published seal keys, the type catalog, the
 * holder's wallet, the public status check, revocation and the manual four-role flow
 * (entry clerk enters, reviewer checks, seal officer seals and stores; no account does
 * two steps on one licence).  See docs/api.md "Licences" and docs/licences.md.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/input.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/session.h"
#include "calendar/calendar.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "licence/internal.h"
#include "licence/licence.h"
#include "licence/pdf.h"

static store *db_of(http_req *r) { return ((struct app *)http_req_app(r))->db; }

static int unavailable(http_req *r) { return http_reply_error(r, 503, "unavailable", "try again", NULL); }

static int not_found(http_req *r) { return http_reply_error(r, 404, "not_found", "no such licence", NULL); }

/* the {id} parameter as a licence identifier: 0, or -1 after replying 400 */
static int licence_id_param(http_req *r, const char **id)
{
    const char *why = NULL;
    *id = http_req_param(r, "id");
    if (licence_id_check(*id, &why) != 0) {
        http_reply_error(r, 400, "invalid_id", "not a licence identifier",
                         json_pack("[o]", http_field_error("id", why)));
        return -1;
    }
    return 0;
}

static const char *status_of(const char *state, store_stmt *st, int col)
{
    if (!strcmp(state, "valid") && !store_column_is_null(st, col) &&
        store_column_int64(st, col) < calendar_today())
        return "expired";
    return state;
}

static json_t *ms_time(long long ms)
{
    if (ms <= 0) return json_null();
    char ts[48];
    time_rfc3339((double)ms / 1000.0, ts, sizeof ts);
    return json_string(ts);
}

/* GET /.well-known/ehall/seal-keys.json */
int licence_api_keys(http_req *r)
{
    char dir[600];
    licence_keys_dir(((struct app *)http_req_app(r))->cfg, dir, sizeof dir);
    http_add_header(r, "Cache-Control", "public, max-age=300");
    return http_reply_json(r, 200, licence_public_keys(dir));
}

/* GET /api/v1/licence-types */
int licence_api_types(http_req *r)
{
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st = store_prepare(c, "SELECT definition, version FROM licence_type ORDER BY code");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    json_t *list = json_array();
    int rc;
    while ((rc = store_step(st)) == STORE_ROW) {
        json_t *d = json_loads(store_column_text(st, 0), 0, NULL);
        if (!d) continue;
        json_object_del(d, "from_case");
        json_object_set_new(d, "version", json_integer(store_column_int64(st, 1)));
        json_array_append_new(list, d);
    }
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "types", list));
}

/* ---------- the wallet ---------- */

/* The blind indexes of the caller's holder number (ID number, or the enterprise's
 * USCC): how many (0 when the caller has none), or < 0 on a store error.  A person's
 * sealed ID number came with the session check (no round trip of its own). */
int licence_holder_indexes(store_conn *c, const struct principal *p, char idx[][KEYS_TAG_MAX], int max)
{
    char *num = NULL;
    if (p->enterprise) {
        store_stmt *st = store_prepare(c, "SELECT uscc FROM enterprise WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, p->enterprise);
        int rc = store_step(st);
        if (rc == STORE_ROW && store_column_text(st, 0)) num = strdup(store_column_text(st, 0));
        store_finalize(st);
        if (rc != STORE_ROW && rc != STORE_DONE) return rc;
    } else if (p->id_number_enc) {
        num = keys_open(p->id_number_enc);
    }
    if (!num) return 0;
    int n = keys_blind_indexes("licence_holder", num, idx, max);
    crypto_wipe(num, strlen(num));
    free(num);
    return n < 0 ? 0 : n;
}

/* GET /api/v1/licences */
int licence_api_mine(http_req *r)
{
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    char idx[4][KEYS_TAG_MAX];
    int n = licence_holder_indexes(c, p, idx, 4);
    json_t *list = json_array();
    int rc = n < 0 ? n : STORE_DONE;
    if (n > 0) {
        /* one query for every blind index of the number (one per index key in use) */
        char sql[256] = "SELECT licence_no, state, valid_to_day, public_json, issued_ms, revoked_ms"
                        " FROM licence WHERE holder_bidx IN ($1";
        for (int i = 2; i <= n; i++) snprintf(sql + strlen(sql), sizeof sql - strlen(sql), ",$%d", i);
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), ") ORDER BY id DESC LIMIT 500");
        store_stmt *st = store_prepare(c, sql);
        if (!st) rc = STORE_ERROR;
        for (int i = 0; st && i < n; i++) store_bind_text(st, i + 1, idx[i]);
        while (st && (rc = store_step(st)) == STORE_ROW) {
            json_t *pub = json_loads(store_column_text(st, 3), 0, NULL);
            if (!pub) continue;
            json_object_del(pub, "holder_name");
            json_object_set_new(pub, "status", json_string(status_of(store_column_text(st, 1), st, 2)));
            json_object_set_new(pub, "issued_at", ms_time(store_column_int64(st, 4)));
            json_object_set_new(pub, "revoked_at", ms_time(store_column_int64(st, 5)));
            json_array_append_new(list, pub);
        }
        store_finalize(st);
    }
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "licences", list));
}

/* The caller's own licence by id: its signed document (opened), state and type.  Replies
 * 404/503 itself and returns -1 when it is not the caller's or cannot be read. */
struct mine {
    json_t *doc; /* the signed document */
    char status[16], type[64];
    long long revoked_ms;
    char *revoke_reason;
};

static void mine_free(struct mine *m)
{
    json_decref(m->doc);
    free(m->revoke_reason);
}

static int load_mine(http_req *r, const char *id, struct mine *m)
{
    memset(m, 0, sizeof *m);
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r), -1;
    char idx[4][KEYS_TAG_MAX];
    int n = licence_holder_indexes(c, p, idx, 4);
    store_stmt *st =
        store_prepare(c, "SELECT holder_bidx, state, valid_to_day, data_enc, revoked_ms, revoke_reason,"
                         " type_code FROM licence WHERE licence_no = $1");
    if (n < 0 || !st) {
        if (st) store_finalize(st);
        store_release(c);
        return unavailable(r), -1;
    }
    store_bind_text(st, 1, id);
    int rc = store_step(st), mine = 0;
    if (rc == STORE_ROW) {
        for (int i = 0; i < n; i++) mine |= !strcmp(idx[i], store_column_text(st, 0));
        char *doc = mine ? keys_open(store_column_text(st, 3)) : NULL;
        m->doc = doc ? json_loads(doc, 0, NULL) : NULL;
        if (doc) crypto_wipe(doc, strlen(doc));
        free(doc);
        if (m->doc) {
            snprintf(m->status, sizeof m->status, "%s", status_of(store_column_text(st, 1), st, 2));
            snprintf(m->type, sizeof m->type, "%s", store_column_text(st, 6));
            m->revoked_ms = store_column_int64(st, 4);
            const char *why = store_column_text(st, 5);
            m->revoke_reason = why ? strdup(why) : NULL;
        } else if (mine) {
            rc = STORE_ERROR;
        }
    }
    store_finalize(st);
    store_release(c);
    if (rc != STORE_ROW && rc != STORE_DONE) return unavailable(r), -1;
    if (!m->doc) return not_found(r), -1;
    return 0;
}

/* GET /api/v1/licences/{id} — the holder's own licence, the whole signed document */
int licence_api_get(http_req *r)
{
    const char *id;
    if (licence_id_param(r, &id) != 0) return 0;
    struct mine m;
    if (load_mine(r, id, &m) != 0) return 0;
    char url[128];
    snprintf(url, sizeof url, "/api/v1/public/licences/%s/status", id);
    json_t *out = json_pack("{s:s, s:O, s:o, s:o, s:s}", "status", m.status, "document", m.doc, "revoked_at",
                            ms_time(m.revoked_ms), "revoke_reason",
                            m.revoke_reason ? json_string(m.revoke_reason) : json_null(), "verify_url", url);
    mine_free(&m);
    return http_reply_json(r, 200, out);
}

/* GET /api/v1/licences/{id}/pdf — the holder's licence as a PDF document (src/licence/pdf.c)
 * with the signed JSON inside.  Rendering takes a good part of a second (the CJK font is
 * read and subset), so it runs off the I/O threads. */
struct pdf_job {
    char *signed_json, *title, *url;
    char **keys, **labels;
    size_t n;
    unsigned char *pdf;
    size_t len;
    int rc;
    char err[256];
};

static void pdf_job_free(struct pdf_job *j)
{
    if (!j) return;
    if (j->signed_json) crypto_wipe(j->signed_json, strlen(j->signed_json));
    free(j->signed_json);
    free(j->title);
    free(j->url);
    for (size_t i = 0; i < j->n; i++) {
        free(j->keys[i]);
        free(j->labels[i]);
    }
    free(j->keys);
    free(j->labels);
    free(j->pdf);
    free(j);
}

static void pdf_work(void *arg)
{
    struct pdf_job *j = arg;
    j->rc = licence_pdf_render(j->signed_json, j->title, (const char *const *)j->keys,
                               (const char *const *)j->labels, j->n, j->url, &j->pdf, &j->len, j->err,
                               sizeof j->err);
}

static int pdf_done(http_req *r)
{
    struct pdf_job *j = http_req_defer_arg(r);
    int ret;
    if (j->rc != 0) {
        log_msg(LOG_ERROR, "licence PDF: %s", j->err);
        ret = http_reply_error(r, 503, "unavailable", "the PDF could not be made; try again later", NULL);
    } else {
        char cd[160];
        const char *id = http_req_param(r, "id");
        snprintf(cd, sizeof cd, "attachment; filename=\"%s.pdf\"", id ? id : "licence");
        http_add_header(r, "Content-Disposition", cd);
        ret = http_reply_bytes(r, 200, "application/pdf", j->pdf, j->len);
        j->pdf = NULL; /* the reply owns it */
    }
    pdf_job_free(j);
    return ret;
}

/* a standard field's label in the document */
static const char *std_label(const char *k)
{
    static const char *const L[][2] = {{"id", "证照标识"},         {"type_name", "证照类型"},
                                       {"holder_name", "持证人"},  {"holder_number", "证件号码"},
                                       {"issuer", "发证机关代码"}, {"issuer_name", "发证机关"},
                                       {"issue_date", "发证日期"}, {"valid_from", "有效期起"},
                                       {"valid_to", "有效期至"},   {"source", "来源"}};
    for (size_t i = 0; i < sizeof L / sizeof *L; i++)
        if (!strcmp(L[i][0], k)) return L[i][1];
    return k;
}

int licence_api_pdf(http_req *r)
{
    const char *id;
    if (licence_id_param(r, &id) != 0) return 0;
    struct mine m;
    if (load_mine(r, id, &m) != 0) return 0;
    store_conn *c = store_acquire(db_of(r));
    json_t *def = c ? licence_type_get(c, m.type) : NULL;
    if (c) store_release(c);
    struct pdf_job *j = calloc(1, sizeof *j);
    json_t *tf = json_object_get(json_object_get(def, "template"), "fields");
    size_t nf = json_array_size(tf);
    if (!def || !j || !(j->keys = calloc(nf + 1, sizeof *j->keys)) ||
        !(j->labels = calloc(nf + 1, sizeof *j->labels))) {
        json_decref(def);
        mine_free(&m);
        pdf_job_free(j);
        return unavailable(r);
    }
    for (size_t i = 0; i < nf; i++) {
        const char *k = json_string_value(json_array_get(tf, i));
        if (!k) continue;
        const char *label = std_label(k);
        json_t *f;
        size_t fi;
        json_array_foreach(json_object_get(def, "fields"), fi, f)
        {
            if (!strcmp(json_string_value(json_object_get(f, "key")) ?: "", k) &&
                json_string_value(json_object_get(f, "label")))
                label = json_string_value(json_object_get(f, "label"));
        }
        j->keys[j->n] = strdup(k);
        j->labels[j->n] = strdup(label);
        j->n++;
    }
    const char *title = json_string_value(json_object_get(json_object_get(def, "template"), "title"));
    j->title = strdup(title ? title : json_string_value(json_object_get(def, "name")) ?: "电子证照");
    const struct config *cfg = ((struct app *)http_req_app(r))->cfg;
    char url[512];
    if (cfg->public_url[0])
        snprintf(url, sizeof url, "%s/verify/licence/%s", cfg->public_url, id);
    else
        snprintf(url, sizeof url, "http://%s/verify/licence/%s", cfg->listen, id);
    j->url = strdup(url);
    j->signed_json = json_dumps(m.doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(def);
    mine_free(&m);
    if (!j->title || !j->url || !j->signed_json) {
        pdf_job_free(j);
        return unavailable(r);
    }
    if (http_defer(r, pdf_work, pdf_done, j) != 0) {
        pdf_job_free(j);
        return unavailable(r);
    }
    return 0;
}

/* ---------- the public status check ---------- */
/*
 * The status check is one indexed read.  On PostgreSQL that read costs far more in
 * per-statement work (a round trip, Bind/Execute, executor start and end) than in the
 * index lookup, so checks that arrive together share one statement, as group commit
 * shares a flush: a check queues its identifier; when no statement is running, the
 * check at hand takes the queue (up to STATUS_BATCH identifiers), reads them all with
 * one `licence_no = ANY($1)` and wakes the checks it answered.  No check waits for a
 * timer: a lone check runs its own statement at once, and the checks that queue while
 * a statement runs go together in the next.  One statement at a time made the batches
 * large enough to pay, two did not (docs/performance.md).  SQLite reads in process
 * and keeps one statement per check.
 */
#define STATUS_BATCH 64

struct status_wait {
    const char *id;
    int status_only; /* no copies of public_json and the reason */
    int rc;          /* STORE_ROW found, STORE_DONE not found, else an error */
    int done;
    char status[16];
    char *public_json, *revoke_reason;
    long long revoked_ms;
    struct status_wait *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct status_wait *head, *tail;
    int reading; /* a statement is running */
} SQ = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};

/* Reads the n checks' rows with one statement; sets each check's rc and row. */
static void status_read(store *db, struct status_wait **w, int n)
{
    int rc = STORE_ERROR;
    store_conn *c = store_acquire(db);
    store_stmt *st = NULL;
    if (c && n == 1) {
        st = store_prepare(c, "SELECT licence_no, state, valid_to_day, public_json, revoked_ms, revoke_reason"
                              " FROM licence WHERE licence_no = $1");
        if (st) store_bind_text(st, 1, w[0]->id);
    } else if (c) {
        /* a text[] literal: identifiers passed licence_id_check (0-9, A-Z, '-') */
        char list[STATUS_BATCH * (LICENCE_ID_MAX + 1) + 3];
        size_t len = 0;
        list[len++] = '{';
        for (int i = 0; i < n; i++) {
            size_t k = strlen(w[i]->id);
            if (i) list[len++] = ',';
            memcpy(list + len, w[i]->id, k);
            len += k;
        }
        list[len++] = '}';
        list[len] = 0;
        st = store_prepare(c, "SELECT licence_no, state, valid_to_day, public_json, revoked_ms, revoke_reason"
                              " FROM licence WHERE licence_no = ANY($1::text[])");
        if (st) store_bind_text(st, 1, list);
    }
    for (int i = 0; i < n; i++) w[i]->rc = STORE_DONE;
    while (st && (rc = store_step(st)) == STORE_ROW) {
        const char *no = store_column_text(st, 0);
        for (int i = 0; i < n; i++) {
            if (strcmp(w[i]->id, no) != 0) continue; /* the same id may be checked twice at once */
            const char *pub = store_column_text(st, 3), *why = store_column_text(st, 5);
            snprintf(w[i]->status, sizeof w[i]->status, "%s", status_of(store_column_text(st, 1), st, 2));
            if (w[i]->status_only) pub = why = NULL;
            w[i]->public_json = pub ? strdup(pub) : NULL;
            w[i]->revoke_reason = why ? strdup(why) : NULL;
            w[i]->revoked_ms = store_column_int64(st, 4);
            w[i]->rc = (pub && !w[i]->public_json) || (why && !w[i]->revoke_reason) ? STORE_ERROR : STORE_ROW;
        }
    }
    if (st) store_finalize(st);
    if (c) store_release(c);
    if (rc != STORE_DONE)
        for (int i = 0; i < n; i++) w[i]->rc = STORE_ERROR;
}

/* Looks one identifier up, sharing a statement with the checks that arrive with it. */
static void status_lookup(store *db, struct status_wait *me)
{
    /* only identifiers that passed licence_id_check go into a batch's text[] literal */
    if (store_engine_of(db) != STORE_POSTGRES || licence_id_check(me->id, NULL) != 0) {
        status_read(db, &me, 1);
        return;
    }
    pthread_mutex_lock(&SQ.mu);
    if (SQ.tail)
        SQ.tail->next = me;
    else
        SQ.head = me;
    SQ.tail = me;
    while (!me->done) {
        if (!SQ.head || SQ.reading) {
            pthread_cond_wait(&SQ.cv, &SQ.mu);
            continue;
        }
        struct status_wait *batch[STATUS_BATCH];
        int n = 0;
        while (SQ.head && n < STATUS_BATCH) {
            batch[n++] = SQ.head;
            SQ.head = SQ.head->next;
        }
        if (!SQ.head) SQ.tail = NULL;
        SQ.reading = 1;
        pthread_mutex_unlock(&SQ.mu);
        status_read(db, batch, n);
        pthread_mutex_lock(&SQ.mu);
        SQ.reading = 0;
        for (int i = 0; i < n; i++) batch[i]->done = 1;
        pthread_cond_broadcast(&SQ.cv);
    }
    pthread_mutex_unlock(&SQ.mu);
}

int licence_status_read(store *db, const char *id, char status[16])
{
    struct status_wait w = {.id = id, .status_only = 1};
    status_lookup(db, &w);
    if (w.rc == STORE_ROW) snprintf(status, 16, "%s", w.status);
    return w.rc;
}

/* GET /api/v1/public/licences/{id}/status — no log-in; one indexed read */
int licence_api_status(http_req *r)
{
    const char *id;
    if (licence_id_param(r, &id) != 0) return 0;
    struct status_wait w = {.id = id};
    status_lookup(db_of(r), &w);
    json_t *out = NULL;
    char *text = NULL;
    int len = 0;
    char result[16] = "not_found";
    if (w.rc == STORE_ROW) {
        snprintf(result, sizeof result, "%s", w.status);
        const char *pub = w.public_json;
        if (strcmp(w.status, "revoked") != 0 && pub) {
            /* The common answer is written as text: public_json is ehall's own compact
             * JSON (issue.c) and the identifier passed licence_id_check (0-9, A-Z, '-'),
             * so neither needs parsing or escaping. */
            size_t cap = strlen(id) + strlen(pub) + 96;
            text = malloc(cap);
            if (text)
                len = snprintf(text, cap,
                               "{\"id\":\"%s\",\"status\":\"%s\",\"licence\":%s,\"revoked_at\":null,"
                               "\"revoke_reason\":null}",
                               id, w.status, pub);
        } else {
            json_t *pj = pub ? json_loads(pub, 0, NULL) : NULL;
            int revoked = !strcmp(w.status, "revoked");
            out = json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", id, "status", w.status, "licence",
                            pj ? pj : json_null(), "revoked_at",
                            revoked ? ms_time(w.revoked_ms) : json_null(), "revoke_reason",
                            revoked && w.revoke_reason ? json_string(w.revoke_reason) : json_null());
        }
    }
    free(w.public_json);
    free(w.revoke_reason);
    if (w.rc != STORE_ROW && w.rc != STORE_DONE) return unavailable(r);
    /* logged through the in-memory buffer (uselog.c): the check stays one read */
    licence_use_served("status");
    licence_use_note(id, "status", "public", http_req_client(r), NULL, result);
    if (w.rc == STORE_DONE) return not_found(r);
    if (!text && !out) return unavailable(r);
    http_add_header(r, "Cache-Control", "no-store");
    if (text) return http_reply_bytes(r, 200, "application/json; charset=utf-8", text, (size_t)len);
    return http_reply_json(r, 200, out);
}

/* ---------- revocation ---------- */

static int dept_path(store_conn *c, const char *code, char out[256])
{
    store_stmt *st = store_prepare(c, "SELECT path FROM department WHERE code = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, code);
    int rc = store_step(st);
    out[0] = 0;
    if (rc == STORE_ROW) snprintf(out, 256, "%s", store_column_text(st, 0));
    store_finalize(st);
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}

struct revoke {
    http_req *r;
    const char *id, *reason;
    int status; /* HTTP status to answer with when not 200 */
    const char *code, *msg;
};

static int revoke_tx(store_conn *c, void *arg)
{
    struct revoke *x = arg;
    x->status = 0;
    store_stmt *st = store_prepare(c, "SELECT state, issuer_dept FROM licence WHERE licence_no = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->id);
    int rc = store_step(st);
    char state[16] = "", dept[80] = "";
    if (rc == STORE_ROW) {
        snprintf(state, sizeof state, "%s", store_column_text(st, 0));
        snprintf(dept, sizeof dept, "%s", store_column_text(st, 1));
    }
    store_finalize(st);
    if (rc == STORE_DONE) {
        x->status = 404, x->code = "not_found", x->msg = "no such licence";
        return STORE_OK;
    }
    if (rc != STORE_ROW) return rc;
    char path[256];
    if ((rc = dept_path(c, dept, path)) != STORE_OK) return rc;
    const struct principal *p = auth_principal(x->r);
    if (!auth_in_scope(p, 0, path)) {
        x->status = 403, x->code = "out_of_scope", x->msg = "the licence's issuer is outside your data scope";
        return auth_audit(x->r, c, "licence.revoke", x->id, "denied", NULL);
    }
    if (!strcmp(state, "revoked")) {
        x->status = 409, x->code = "already_revoked", x->msg = "the licence is revoked already";
        return STORE_OK;
    }
    st = store_prepare(
        c, "UPDATE licence SET state = 'revoked', revoked_ms = $2, revoke_reason = $3, revoked_by = $4"
           " WHERE licence_no = $1");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->id);
    store_bind_int64(st, 2, (long long)(now_wall() * 1000.0));
    store_bind_text(st, 3, x->reason);
    store_bind_int64(st, 4, p->account);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    json_t *d = json_pack("{s:s, s:s}", "reason", x->reason, "was", state);
    char *dt = d ? json_dumps(d, JSON_COMPACT) : NULL;
    char obj[96];
    snprintf(obj, sizeof obj, "licence:%s", x->id);
    rc = auth_audit(x->r, c, "licence.revoke", obj, "ok", dt);
    free(dt);
    json_decref(d);
    return rc;
}

/* POST /api/v1/licences/{id}/revoke {"reason"} */
int licence_api_revoke(http_req *r)
{
    const char *id;
    if (licence_id_param(r, &id) != 0) return 0;
    static const char *const known[] = {"reason", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *reason = input_str(&in, "reason", 1, 2, 200);
    if (input_done(&in) != 0) return 0;
    struct revoke x = {r, id, reason, 0, NULL, NULL};
    if (store_tx(db_of(r), 1, revoke_tx, &x) != STORE_OK) return unavailable(r);
    if (x.status) return http_reply_error(r, (unsigned)x.status, x.code, x.msg, NULL);
    return http_reply_json(r, 200, json_pack("{s:s, s:s}", "id", id, "status", "revoked"));
}

/* ---------- the manual four-role flow ---------- */

struct entry_new {
    http_req *r;
    const char *type, *issuer;
    char *data_enc, path[256];
    long long id;
};

static int entry_new_tx(store_conn *c, void *arg)
{
    struct entry_new *x = arg;
    const struct principal *p = auth_principal(x->r);
    long long now = (long long)(now_wall() * 1000.0);
    store_stmt *st =
        store_prepare(c, "INSERT INTO licence_entry(type_code, issuer_dept, dept_path, state, data_enc,"
                         " entered_by, created_ms, updated_ms) VALUES ($1, $2, $3, 'entered', $4, $5,"
                         " $6, $6) RETURNING id");
    if (!st) return STORE_ERROR;
    store_bind_text(st, 1, x->type);
    store_bind_text(st, 2, x->issuer);
    store_bind_text(st, 3, x->path);
    store_bind_text(st, 4, x->data_enc);
    store_bind_int64(st, 5, p->account);
    store_bind_int64(st, 6, now);
    int rc = store_step(st);
    x->id = rc == STORE_ROW ? store_column_int64(st, 0) : 0;
    store_finalize(st);
    if (rc != STORE_ROW) return rc == STORE_OK || rc == STORE_DONE ? STORE_ERROR : rc;
    char obj[48], det[96];
    snprintf(obj, sizeof obj, "licence_entry:%lld", x->id);
    snprintf(det, sizeof det, "{\"type\":\"%s\"}", x->type);
    return auth_audit(x->r, c, "licence.entry.create", obj, "ok", det);
}

/* POST /api/v1/licence-entries {type, holder_name, holder_number, fields, valid_from} */
int licence_api_entry_new(http_req *r)
{
    static const char *const known[] = {"type", "holder_name", "holder_number", "fields", "valid_from", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *type = input_str(&in, "type", 1, 1, 48);
    const char *hname = input_str(&in, "holder_name", 1, 1, 64);
    const char *hnum = input_str(&in, "holder_number", 1, 18, 18);
    const char *vf = input_str(&in, "valid_from", 0, 10, 10);
    json_t *fields = json_object_get(in.body, "fields");
    if (fields && !json_is_object(fields)) input_error(&in, "fields", "an object of the type's own fields");
    int from = 0;
    if (vf && calendar_date_parse(vf, &from) != 0)
        input_error(&in, "valid_from", "a date YYYY-MM-DD");
    else if (vf && (from < 10957 /* 2000-01-01 */ || from > calendar_today() + 366))
        input_error(&in, "valid_from", "from 2000-01-01 to a year from today");
    json_t *empty = json_object();
    if (!fields || !json_is_object(fields)) fields = empty;
    store_conn *c = store_acquire(db_of(r));
    if (!c) {
        json_decref(empty);
        input_done(&in);
        return unavailable(r);
    }
    json_t *def = type ? licence_type_get(c, type) : NULL;
    char path[256] = "";
    const char *issuer = json_string_value(json_object_get(def, "issuer"));
    if (type && !def) input_error(&in, "type", "not a licence type (GET /api/v1/licence-types)");
    if (def) {
        json_t *errs = json_array();
        licence_check_data(def, fields, 1, errs, "fields.");
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e) input_error(&in, json_string_value(json_object_get(e, "field")),
                                                   json_string_value(json_object_get(e, "message")));
        json_decref(errs);
        const char *why = NULL;
        if (hnum && licence_check_holder(def, hnum, &why) != 0) input_error(&in, "holder_number", why);
        if (dept_path(c, issuer, path) != STORE_OK) {
            store_release(c);
            json_decref(def);
            json_decref(empty);
            input_done(&in);
            return unavailable(r);
        }
    }
    store_release(c);
    if (input_done(&in) != 0) {
        json_decref(def);
        json_decref(empty);
        return 0;
    }
    if (!auth_in_scope(auth_principal(r), 0, path)) {
        json_decref(def);
        json_decref(empty);
        auth_audit(r, NULL, "licence.entry.create", type, "denied", NULL);
        return http_reply_error(r, 403, "out_of_scope", "this licence type is issued outside your data scope",
                                json_pack("[o]", http_field_error("type", "issued by another department")));
    }
    json_t *data = json_pack("{s:s, s:s, s:O, s:s?}", "holder_name", hname, "holder_number", hnum, "fields",
                             fields, "valid_from", vf);
    json_decref(empty);
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    struct entry_new x = {r, type, issuer, text ? keys_seal(text) : NULL, "", 0};
    snprintf(x.path, sizeof x.path, "%s", path);
    if (text) crypto_wipe(text, strlen(text));
    free(text);
    int rc = x.data_enc ? store_tx(db_of(r), 1, entry_new_tx, &x) : STORE_ERROR;
    free(x.data_enc);
    json_decref(def);
    if (rc != STORE_OK) return unavailable(r);
    return http_reply_json(
        r, 201, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x.id, "type", type, "state", "entered"));
}

/* an entry as JSON; holder number masked unless the caller may see ID numbers */
static json_t *entry_json(store_stmt *st, const struct principal *p, int full)
{
    char *plain = keys_open(store_column_text(st, 4));
    json_t *d = plain ? json_loads(plain, 0, NULL) : NULL;
    if (plain) crypto_wipe(plain, strlen(plain));
    free(plain);
    const char *num = json_string_value(json_object_get(d, "holder_number"));
    char masked[64] = "";
    if (num && !auth_has(p, "field.id_number")) {
        auth_mask_id_number(num, masked, sizeof masked);
        json_object_set_new(d, "holder_number", json_string(masked));
    }
    if (!full) json_object_del(d, "fields");
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)store_column_int64(st, 0),
        "type", store_column_text(st, 1), "issuer", store_column_text(st, 2), "state",
        store_column_text(st, 3), "entered_by", (json_int_t)store_column_int64(st, 5), "reviewed_by",
        store_column_is_null(st, 6) ? json_null() : json_integer(store_column_int64(st, 6)), "sealed_by",
        store_column_is_null(st, 7) ? json_null() : json_integer(store_column_int64(st, 7)), "opinion",
        store_column_text(st, 8) ? json_string(store_column_text(st, 8)) : json_null(), "licence_id",
        store_column_text(st, 9) ? json_string(store_column_text(st, 9)) : json_null(), "data",
        d ? d : json_null());
    json_object_set_new(o, "created_at", ms_time(store_column_int64(st, 10)));
    return o;
}

#define ENTRY_COLS                                                                                           \
    "id, type_code, issuer_dept, state, data_enc, entered_by, reviewed_by, sealed_by, opinion, licence_no,"  \
    " created_ms, dept_path"

/* GET /api/v1/licence-entries?state= */
int licence_api_entry_list(http_req *r)
{
    const char *state = http_req_query(r, "state");
    if (state && strcmp(state, "entered") && strcmp(state, "reviewed") && strcmp(state, "rejected") &&
        strcmp(state, "sealed"))
        return http_reply_error(
            r, 400, "invalid_query", "a query parameter is not valid",
            json_pack("[o]", http_field_error("state", "entered, reviewed, rejected or sealed")));
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st = store_prepare(c, "SELECT " ENTRY_COLS " FROM licence_entry WHERE (state = $1 OR $1 = '')"
                                      " ORDER BY id DESC LIMIT 500");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    store_bind_text(st, 1, state ? state : "");
    json_t *list = json_array();
    int rc;
    while ((rc = store_step(st)) == STORE_ROW)
        if (auth_in_scope(p, 0, store_column_text(st, 11))) json_array_append_new(list, entry_json(st, p, 0));
    store_finalize(st);
    store_release(c);
    if (rc != STORE_DONE) {
        json_decref(list);
        return unavailable(r);
    }
    return http_reply_json(r, 200, json_pack("{s:o}", "entries", list));
}

static int entry_id_param(http_req *r, long long *id)
{
    const char *s = http_req_param(r, "id");
    if (!s || parse_int64(s, id) != 0 || *id <= 0) {
        http_reply_error(r, 400, "invalid_id", "not an entry id",
                         json_pack("[o]", http_field_error("id", "a positive integer")));
        return -1;
    }
    return 0;
}

/* GET /api/v1/licence-entries/{id} */
int licence_api_entry_get(http_req *r)
{
    long long id;
    if (entry_id_param(r, &id) != 0) return 0;
    const struct principal *p = auth_principal(r);
    store_conn *c = store_acquire(db_of(r));
    if (!c) return unavailable(r);
    store_stmt *st = store_prepare(c, "SELECT " ENTRY_COLS " FROM licence_entry WHERE id = $1");
    if (!st) {
        store_release(c);
        return unavailable(r);
    }
    store_bind_int64(st, 1, id);
    int rc = store_step(st);
    json_t *out =
        rc == STORE_ROW && auth_in_scope(p, 0, store_column_text(st, 11)) ? entry_json(st, p, 1) : NULL;
    store_finalize(st);
    store_release(c);
    if (rc != STORE_ROW && rc != STORE_DONE) return unavailable(r);
    if (!out) return http_reply_error(r, 404, "not_found", "no such entry", NULL);
    return http_reply_json(r, 200, out);
}

struct step {
    http_req *r;
    long long id;
    int seal;             /* 0 review, 1 seal */
    const char *decision; /* review: pass|reject */
    const char *opinion;
    int status;
    const char *code, *msg;
    char licence_no[LICENCE_ID_MAX], why[300];
};

static int step_tx(store_conn *c, void *arg)
{
    struct step *x = arg;
    x->status = 0;
    x->licence_no[0] = 0;
    const struct principal *p = auth_principal(x->r);
    store_stmt *st = store_prepare(c, "SELECT state, entered_by, reviewed_by, dept_path, type_code, data_enc"
                                      " FROM licence_entry WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    int rc = store_step(st);
    char state[16] = "", path[256] = "", type[64] = "";
    long long entered = 0, reviewed = 0;
    char *data = NULL;
    if (rc == STORE_ROW) {
        snprintf(state, sizeof state, "%s", store_column_text(st, 0));
        entered = store_column_int64(st, 1);
        reviewed = store_column_int64(st, 2);
        snprintf(path, sizeof path, "%s", store_column_text(st, 3));
        snprintf(type, sizeof type, "%s", store_column_text(st, 4));
        data = keys_open(store_column_text(st, 5));
    }
    store_finalize(st);
    if (rc != STORE_ROW && rc != STORE_DONE) return rc;
    const char *action = x->seal ? "licence.entry.seal" : "licence.entry.review";
    char obj[48];
    snprintf(obj, sizeof obj, "licence_entry:%lld", x->id);
    if (rc == STORE_DONE || !auth_in_scope(p, 0, path)) {
        free(data);
        x->status = 404, x->code = "not_found", x->msg = "no such entry";
        return STORE_OK;
    }
    const char *want = x->seal ? "reviewed" : "entered";
    if (strcmp(state, want) != 0) {
        free(data);
        x->status = 409, x->code = "wrong_state";
        x->msg = x->seal ? "only a reviewed entry can be sealed" : "only an entered entry can be reviewed";
        return STORE_OK;
    }
    /* separation of duties: no account does two steps on one licence */
    if (p->account == entered || (x->seal && p->account == reviewed)) {
        if (data) crypto_wipe(data, strlen(data));
        free(data);
        x->status = 403, x->code = "separation_of_duties";
        x->msg = x->seal ? "the seal officer must not be the one who entered or reviewed this licence"
                         : "the reviewer must not be the one who entered this licence";
        return auth_audit(x->r, c, action, obj, "denied", "{\"reason\":\"separation_of_duties\"}");
    }
    long long now = (long long)(now_wall() * 1000.0);
    if (!x->seal) {
        if (data) crypto_wipe(data, strlen(data));
        free(data);
        st = store_prepare(
            c, "UPDATE licence_entry SET state = $2, reviewed_by = $3, opinion = $4, updated_ms = $5"
               " WHERE id = $1");
        if (!st) return STORE_ERROR;
        store_bind_int64(st, 1, x->id);
        store_bind_text(st, 2, !strcmp(x->decision, "pass") ? "reviewed" : "rejected");
        store_bind_int64(st, 3, p->account);
        if (x->opinion)
            store_bind_text(st, 4, x->opinion);
        else
            store_bind_null(st, 4);
        store_bind_int64(st, 5, now);
        rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
        char det[64];
        snprintf(det, sizeof det, "{\"decision\":\"%s\"}", x->decision);
        return auth_audit(x->r, c, action, obj, "ok", det);
    }
    json_t *d = data ? json_loads(data, 0, NULL) : NULL;
    if (data) crypto_wipe(data, strlen(data));
    free(data);
    if (!d) return STORE_ERROR;
    int from = 0;
    const char *vf = json_string_value(json_object_get(d, "valid_from"));
    if (vf) calendar_date_parse(vf, &from);
    char actor[24], src[48];
    snprintf(actor, sizeof actor, "%lld", p->account);
    snprintf(src, sizeof src, "manual:%lld", x->id);
    struct licence_issue_req q = {.type = type,
                                  .holder_name = json_string_value(json_object_get(d, "holder_name")),
                                  .holder_number = json_string_value(json_object_get(d, "holder_number")),
                                  .data = json_object_get(d, "fields"),
                                  .source = src,
                                  .valid_from = from,
                                  .entry_id = x->id,
                                  .strict = 1,
                                  .actor = actor,
                                  .client = http_req_client(x->r),
                                  .request_id = http_req_id(x->r)};
    rc = licence_issue(c, &q, x->licence_no, x->why, sizeof x->why);
    json_decref(d);
    if (rc == 1) {
        x->status = 422, x->code = "not_issuable", x->msg = x->why;
        return STORE_OK;
    }
    if (rc != STORE_OK) return rc;
    st = store_prepare(
        c, "UPDATE licence_entry SET state = 'sealed', sealed_by = $2, licence_no = $3, updated_ms = $4"
           " WHERE id = $1");
    if (!st) return STORE_ERROR;
    store_bind_int64(st, 1, x->id);
    store_bind_int64(st, 2, p->account);
    store_bind_text(st, 3, x->licence_no);
    store_bind_int64(st, 4, now);
    rc = store_step(st);
    store_finalize(st);
    if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
    char det[128];
    snprintf(det, sizeof det, "{\"licence\":\"%s\"}", x->licence_no);
    return auth_audit(x->r, c, action, obj, "ok", det);
}

static int run_step(http_req *r, struct step *x)
{
    if (store_tx(db_of(r), 1, step_tx, x) != STORE_OK) return unavailable(r);
    if (x->status) return http_reply_error(r, (unsigned)x->status, x->code, x->msg, NULL);
    if (x->seal)
        return http_reply_json(r, 200,
                               json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x->id, "state", "sealed",
                                         "licence_id", x->licence_no));
    return http_reply_json(r, 200,
                           json_pack("{s:I, s:s}", "id", (json_int_t)x->id, "state",
                                     !strcmp(x->decision, "pass") ? "reviewed" : "rejected"));
}

/* POST /api/v1/licence-entries/{id}/review {"decision":"pass"|"reject","opinion"} */
int licence_api_entry_review(http_req *r)
{
    long long id;
    if (entry_id_param(r, &id) != 0) return 0;
    static const char *const known[] = {"decision", "opinion", NULL};
    struct input in;
    if (input_begin(&in, r, known) != 0) return 0;
    const char *decision = input_str(&in, "decision", 1, 4, 6);
    const char *opinion = input_str(&in, "opinion", 0, 1, 200);
    if (decision && strcmp(decision, "pass") && strcmp(decision, "reject"))
        input_error(&in, "decision", "pass or reject");
    if (decision && !strcmp(decision, "reject") && !opinion)
        input_error(&in, "opinion", "say why the entry is rejected");
    if (input_done(&in) != 0) return 0;
    struct step x = {.r = r, .id = id, .seal = 0, .decision = decision, .opinion = opinion};
    return run_step(r, &x);
}

/* POST /api/v1/licence-entries/{id}/seal {} */
int licence_api_entry_seal(http_req *r)
{
    long long id;
    if (entry_id_param(r, &id) != 0) return 0;
    static const char *const known[] = {NULL};
    if (http_req_json(r)) {
        struct input in;
        if (input_begin(&in, r, known) != 0) return 0;
        if (input_done(&in) != 0) return 0;
    }
    struct step x = {.r = r, .id = id, .seal = 1};
    return run_step(r, &x);
}
