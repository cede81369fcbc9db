/*
 * The case engine through the API of a real `ehall serve` with the shipped items
 * imported: every item's test data through the whole lifecycle (invalid forms refused
 * field by field, the simulated back-end refusing at pre-check, approved cases through
 * every workflow step to closing and evaluation), the supplement loop, roles and data
 * scope, workflow refusals, idempotent submission, the one-per-key limit, escalation
 * of overdue cases, bundles, and the supervision log replayed by `ehall cases verify`
 * (and a tampered case caught by it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calendar/calendar.h"
#include "harness.h"
#include "people.h"
#include "store/store.h"

static char dir[256], db[512];

static const char *str(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *load_json(const char *rel)
{
    const char *src = getenv("EHALL_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src ? src : ".", rel);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) fail_msg("%s: %s", path, je.text);
    return j;
}

/* Every "@today", "@today-N", "@today+N" string inside v becomes a date. */
static void resolve_dates(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            if (json_is_string(e) && !strncmp(json_string_value(e), "@today", 6)) {
                int n = atoi(json_string_value(e) + 6);
                char b[11];
                calendar_date_format(calendar_today() + n, b);
                json_object_set_new(v, k, json_string(b));
            } else {
                resolve_dates(e);
            }
        }
    }
}

/* The first test-data case of the item with this expectation: its form (dates resolved)
 * and, when slots is not NULL, its material slot names (new references). */
static json_t *td_form(const char *code, const char *expect, json_t **slots)
{
    char rel[128];
    snprintf(rel, sizeof rel, "items/testdata/%s.json", code);
    json_t *td = load_json(rel);
    json_t *form = NULL;
    size_t i;
    json_t *tc;
    json_array_foreach(json_object_get(td, "cases"), i, tc)
    {
        if (form || strcmp(str(tc, "expect"), expect) != 0) continue;
        form = json_deep_copy(json_object_get(tc, "form"));
        if (slots) *slots = json_deep_copy(json_object_get(tc, "materials"));
    }
    json_decref(td);
    assert_non_null(form);
    resolve_dates(form);
    return form;
}

/* (Re)start the server on the current database, the simulated back-end reading the
 * items' test data. */
static void serve(struct srv *s)
{
    static char simdir[1100];
    const char *src = getenv("EHALL_SOURCE_DIR");
    snprintf(simdir, sizeof simdir, "EHALL_EXCHANGE_SIM_DIR=%s/items/testdata", src ? src : ".");
    const char *env[] = {"EHALL_EXCHANGE_POLL_MS=50", simdir, NULL};
    if (h_start(s, dir, db, env) != 0) fail_msg("server did not start; log: %s", h_slurp(s->log));
}

static void start(struct srv *s, struct admins *a)
{
    h_fresh(dir, db);
    serve(s);
    const char *src = getenv("EHALL_SOURCE_DIR");
    char out[8192], path[1024];
    snprintf(path, sizeof path, "%s/items", src ? src : ".");
    const char *args[] = {"items", "import", path, NULL};
    if (h_cli(dir, db, args, out, sizeof out) != 0) fail_msg("items import: %s", out);
    p_admins(s, a);
}

/* ---------- staff, one per (role, department), made when first needed ---------- */

static struct staff {
    char role[64], dept[64];
    struct hclient c;
    long long id;
} staff[32];
static int nstaff;

static struct staff *staff_for(struct srv *s, struct admins *a, const char *role, const char *dept)
{
    for (int i = 0; i < nstaff; i++)
        if (!strcmp(staff[i].role, role) && !strcmp(staff[i].dept, dept)) return &staff[i];
    assert_true(nstaff < 32);
    struct staff *st = &staff[nstaff++];
    snprintf(st->role, sizeof st->role, "%s", role);
    snprintf(st->dept, sizeof st->dept, "%s", dept);
    char login[32];
    snprintf(login, sizeof login, "staff%02d%ld", nstaff, (long)getpid() % 1000);
    long long d = p_dept_id(&a->sys, dept);
    assert_true(d > 0);
    st->id = p_staff(s, a, &st->c, login, d, role);
    return st;
}

static void staff_reset(void) { nstaff = 0; }

/* ---------- cases ---------- */

static json_t *case_get(struct hclient *c, long long id)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    return p_want(c, 200, "GET", path, NULL);
}

static long act(struct hclient *c, long long id, const char *body)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    long st;
    json_t *j = hc_json(c, "POST", path, body, &st);
    json_decref(j);
    return st;
}

static void act_ok(struct hclient *c, long long id, const char *action)
{
    char body[160];
    snprintf(body, sizeof body, "{\"action\":\"%s\",\"opinion\":\"同意\"}", action);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    json_decref(p_want(c, 200, "POST", path, body));
}

/* Wait until the case's state is want (or, with want NULL, the pre-check is done). */
static json_t *wait_case(struct hclient *c, long long id, const char *want)
{
    for (int i = 0; i < 300; i++) {
        json_t *j = case_get(c, id);
        if (want ? !strcmp(str(j, "state"), want)
                 : strcmp(str(j, "precheck"), "passed") == 0 || strcmp(str(j, "state"), "not_accepted") == 0)
            return j;
        json_decref(j);
        sleep_ms(50);
    }
    json_t *j = case_get(c, id);
    fail_msg("case %lld: state %s, precheck %s; waited for %s", id, str(j, "state"), str(j, "precheck"),
             want ? want : "the pre-check");
    return NULL;
}

/* A small file of the given type (the server sniffs the bytes). */
static size_t sample(const char *type, const char *tag, char *buf, size_t len)
{
    if (!strcmp(type, "pdf")) return (size_t)snprintf(buf, len, "%%PDF-1.4\n%% %s\n%%%%EOF\n", tag);
    if (!strcmp(type, "png")) {
        memcpy(buf, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
        return 16 + (size_t)snprintf(buf + 16, len - 16, "%s", tag);
    }
    if (!strcmp(type, "jpeg")) {
        memcpy(buf, "\xff\xd8\xff\xe0\0\x10JFIF\0", 11);
        return 11 + (size_t)snprintf(buf + 11, len - 11, "%s", tag);
    }
    fail_msg("no sample for %s", type);
    return 0;
}

/* Upload one file for each named slot of the item and return {"slot": [id]}. */
static json_t *materials_for(struct hclient *c, json_t *item, json_t *slots, const char *tag)
{
    json_t *out = json_object();
    size_t i;
    json_t *slot;
    json_array_foreach(slots, i, slot)
    {
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(item, "materials"), k, m)
        {
            if (strcmp(str(m, "id"), json_string_value(slot)) != 0) continue;
            const char *type = json_string_value(json_array_get(json_object_get(m, "types"), 0));
            char buf[256], name[96], t[160];
            snprintf(t, sizeof t, "%s-%s", tag, json_string_value(slot));
            size_t n = sample(type, t, buf, sizeof buf);
            snprintf(name, sizeof name, "%s.%s", json_string_value(slot), type);
            json_object_set_new(out, json_string_value(slot),
                                json_pack("[I]", (json_int_t)p_upload(c, name, buf, n)));
        }
    }
    return out;
}

static long long draft(struct hclient *c, const char *code, json_t *form, json_t *mats)
{
    json_t *b = json_pack("{s:s, s:O, s:O}", "item", code, "form", form, "materials", mats);
    char *t = json_dumps(b, JSON_COMPACT);
    json_t *j = p_want(c, 201, "POST", "/api/v1/cases", t);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    free(t);
    json_decref(b);
    return id;
}

static json_t *submit(struct hclient *c, long long id, long *status)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/cases/%lld/submit", id);
    return hc_json(c, "POST", path, "{}", status);
}

/* Submit draft id as c, expect 201, and wait for the back-end's pre-check. */
static void submit_ok(struct hclient *c, long long id)
{
    long st;
    json_decref(submit(c, id, &st));
    assert_int_equal(st, 201);
    json_decref(wait_case(c, id, NULL));
}

static int has_field(json_t *err, const char *field)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(json_object_get(err, "error"), "details"), i, d)
    {
        if (!strcmp(str(d, "field"), field)) return 1;
    }
    return 0;
}

/* Take an accepted case through the rest of its workflow to approval, then to closing. */
static void through_workflow(struct srv *s, struct admins *a, json_t *item, long long id,
                             struct hclient *applicant)
{
    json_t *steps = json_object_get(json_object_get(item, "workflow"), "steps");
    size_t n = json_array_size(steps);
    struct staff *last = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *step = json_array_get(steps, i);
        struct staff *st = staff_for(s, a, str(step, "role"), str(step, "department"));
        last = st;
        act_ok(&st->c, id, "sign");
        if (i == 0) {
            json_decref(wait_case(applicant, id, NULL));
            act_ok(&st->c, id, "accept");
            if (n == 1) act_ok(&st->c, id, "approve");
        } else if (i + 1 < n) {
            act_ok(&st->c, id, "pass");
        } else {
            act_ok(&st->c, id, "approve");
        }
    }
    /* the back-end issues the result; without mailing the case closes at once */
    json_t *j =
        wait_case(applicant, id,
                  json_is_true(json_object_get(json_object_get(item, "outputs"), "mailing")) ? "result_issued"
                                                                                             : "closed");
    json_decref(j);
    if (json_is_true(json_object_get(json_object_get(item, "outputs"), "mailing")))
        act_ok(&last->c, id, "close");
    j = case_get(applicant, id);
    assert_string_equal(str(j, "state"), "closed");
    assert_non_null(json_object_get(j, "result"));
    assert_true(json_array_size(json_object_get(j, "log")) >= 2 * n + 3);
    json_decref(j);
}

static int verify_cli(char *out, size_t len)
{
    const char *args[] = {"cases", "verify", NULL};
    return h_cli(dir, db, args, out, len);
}

/* ---------- every shipped item against its test data ---------- */

static void every_item_follows_its_test_data(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    const char *codes[] = {"GA-CRJ-0001", "GA-HJ-0001",  "GA-HJ-0002",  "GA-HJ-0003",
                           "GA-QZ-0001",  "GA-SFZ-0001", "GA-WFZ-0001", "SW-DJ-0001",
                           "SW-FP-0001",  "SW-TS-0001",  "SW-ZM-0001",  "YB-CB-0001"};
    int approved = 0, invalid = 0, refused = 0;
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "items/%s.json", codes[k]);
        json_t *item = load_json(rel);
        snprintf(rel, sizeof rel, "items/testdata/%s.json", codes[k]);
        json_t *td = load_json(rel);
        json_t *who = json_object_get(td, "applicant");
        struct hclient c;
        char login[32];
        snprintf(login, sizeof login, "appl%02zu", k);
        if (!strcmp(str(who, "kind"), "enterprise"))
            p_enterprise(&s, &c, login);
        else
            p_person(&s, &c, login, str(who, "birth") ? str(who, "birth") : "1990-01-01");
        size_t i;
        json_t *tc;
        json_array_foreach(json_object_get(td, "cases"), i, tc)
        {
            json_t *form = json_deep_copy(json_object_get(tc, "form"));
            resolve_dates(form);
            char tag[64];
            snprintf(tag, sizeof tag, "%s-%zu", codes[k], i);
            json_t *mats = materials_for(&c, item, json_object_get(tc, "materials"), tag);
            long long id = draft(&c, codes[k], form, mats);
            long st;
            json_t *j = submit(&c, id, &st);
            const char *expect = str(tc, "expect");
            if (!strcmp(expect, "invalid")) {
                if (st != 422) fail_msg("%s / %s: status %ld, wanted 422", codes[k], str(tc, "name"), st);
                size_t f;
                json_t *field;
                json_array_foreach(json_object_get(tc, "fields"), f, field)
                {
                    if (!has_field(j, json_string_value(field)))
                        fail_msg("%s / %s: no error for %s: %s", codes[k], str(tc, "name"),
                                 json_string_value(field), json_dumps(j, JSON_COMPACT));
                }
                /* nothing of it was kept: still a draft */
                json_t *cj = case_get(&c, id);
                assert_string_equal(str(cj, "state"), "draft");
                json_decref(cj);
                invalid++;
            } else {
                if (st != 201)
                    fail_msg("%s / %s: status %ld: %s", codes[k], str(tc, "name"), st,
                             json_dumps(j, JSON_COMPACT));
                assert_true(strlen(str(j, "case_no")) == 20);
                json_t *cj = wait_case(&c, id, NULL);
                if (!strcmp(expect, "not_accepted")) {
                    assert_string_equal(str(cj, "state"), "not_accepted");
                    refused++;
                } else {
                    assert_string_equal(str(cj, "precheck"), "passed");
                    through_workflow(&s, &a, item, id, &c);
                    /* 好差评 after closing, once */
                    char path[80];
                    snprintf(path, sizeof path, "/api/v1/cases/%lld/evaluate", id);
                    json_decref(p_want(&c, 200, "POST", path, "{\"score\":5,\"comment\":\"很方便\"}"));
                    json_decref(p_want(&c, 409, "POST", path, "{\"score\":4}"));
                    approved++;
                }
                json_decref(cj);
            }
            json_decref(j);
            json_decref(mats);
            json_decref(form);
        }
        json_decref(td);
        json_decref(item);
    }
    /* the staff who approved see those cases among their done ones */
    json_t *dj = p_want(&staff[0].c, 200, "GET", "/api/v1/workbench/counts", NULL);
    long long done = json_integer_value(json_object_get(json_object_get(dj, "counts"), "done"));
    json_decref(dj);
    assert_true(done >= 1);
    dj = p_want(&staff[0].c, 200, "GET", "/api/v1/workbench/queue?name=done&size=100", NULL);
    assert_int_equal((long long)json_array_size(json_object_get(dj, "cases")), done < 100 ? done : 100);
    json_decref(dj);
    assert_true(approved >= 12);
    assert_true(invalid >= 30);
    assert_true(refused >= 12);
    /* every case's supervision log replays to what is stored */
    char out[4096];
    assert_int_equal(verify_cli(out, sizeof out), 0);
    assert_non_null(strstr(out, " 0 inconsistent"));
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- the supplement loop, the timeline and the inbox ---------- */

/* A ready-to-submit application for GA-HJ-0002 by c: the case id. */
static long long hj2_case(struct hclient *c, const char *tag)
{
    json_t *item = load_json("items/GA-HJ-0002.json");
    json_t *slots = NULL;
    json_t *form = td_form("GA-HJ-0002", "approved", &slots);
    json_t *mats = materials_for(c, item, slots, tag);
    long long id = draft(c, "GA-HJ-0002", form, mats);
    json_decref(slots);
    json_decref(mats);
    json_decref(form);
    json_decref(item);
    return id;
}

static void supplement_loop(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient c;
    p_person(&s, &c, "suppl01", "1988-03-03");
    long long id = hj2_case(&c, "sup");
    submit_ok(&c, id);
    struct staff *clerk = staff_for(&s, &a, "hj_clerk", "PSB-YZ-HJ");
    /* before signing nothing but signing is open */
    assert_int_equal(act(&clerk->c, id, "{\"action\":\"accept\"}"), 409);
    act_ok(&clerk->c, id, "sign");
    /* a supplement request needs its reason and what is missing */
    assert_int_equal(act(&clerk->c, id, "{\"action\":\"supplement\"}"), 422);
    char body[200];
    snprintf(
        body, sizeof body,
        "{\"action\":\"supplement\",\"opinion\":\"请补充清晰的户口簿首页\",\"materials\":[\"hukou_book\"],"
        "\"days\":3}");
    assert_int_equal(
        act(&clerk->c, id,
            "{\"action\":\"supplement\",\"opinion\":\"x\",\"materials\":[\"hukou_book\",\"nope\"]}"),
        422);
    assert_int_equal(act(&clerk->c, id, body), 200);
    json_t *j = case_get(&c, id);
    assert_string_equal(str(j, "state"), "supplement");
    assert_true(json_is_string(json_object_get(j, "supplement_due")));
    json_decref(j);
    /* staff cannot act while the applicant supplements */
    assert_int_equal(act(&clerk->c, id, "{\"action\":\"accept\"}"), 409);
    /* the applicant got a message, and (the item asks for it) an SMS */
    j = p_want(&c, 200, "GET", "/api/v1/inbox?unread=1", NULL);
    assert_true(json_integer_value(json_object_get(j, "unread")) >= 1);
    json_decref(j);
    char mobile[12], smspath[96];
    p_person_mobile("suppl01", mobile);
    snprintf(smspath, sizeof smspath, "/api/v1/test/sms?mobile=%s", mobile);
    j = p_want(&c, 200, "GET", smspath, NULL);
    assert_non_null(strstr(str(j, "text"), "需要补正材料"));
    json_decref(j);
    /* a file of a type the slot does not take is refused, naming the slot */
    char buf[64];
    memcpy(buf, "GIF89a", 6);
    long long gif = p_upload(&c, "x.gif", buf, 6 + (size_t)snprintf(buf + 6, 50, "tag"));
    char path[80];
    snprintf(path, sizeof path, "/api/v1/cases/%lld/supplement", id);
    snprintf(body, sizeof body, "{\"materials\":{\"hukou_book\":[%lld]}}", gif);
    json_t *e = p_want(&c, 422, "POST", path, body);
    json_decref(e);
    size_t n = sample("pdf", "supplemented hukou", buf, sizeof buf);
    long long pdf = p_upload(&c, "hukou2.pdf", buf, n);
    snprintf(body, sizeof body, "{\"materials\":{\"hukou_book\":[%lld]},\"comment\":\"已补充\"}", pdf);
    json_decref(p_want(&c, 200, "POST", path, body));
    j = case_get(&c, id);
    assert_string_equal(str(j, "state"), "submitted");
    json_decref(j);
    /* the supplied file replaces the slot's; the clerk sees it and can read it (audited) */
    json_t *cj = case_get(&clerk->c, id);
    json_t *slot = json_object_get(json_object_get(cj, "materials"), "hukou_book");
    assert_int_equal(json_array_size(slot), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(slot, 0), "id")), pdf);
    const char *sm3 = str(json_array_get(slot, 0), "sm3");
    char mpath[200];
    snprintf(mpath, sizeof mpath, "/api/v1/cases/%lld/materials/%s", id, sm3);
    struct resp r;
    if (hc_call(&clerk->c, "GET", mpath, NULL, &r) != 200)
        fail_msg("%s: %ld %.300s", mpath, r.status, r.body);
    assert_int_equal(r.len, n);
    assert_memory_equal(r.body, buf, n);
    h_resp_free(&r);
    json_t *acts = json_object_get(cj, "actions");
    assert_true(json_array_size(acts) > 0);
    json_decref(cj);
    act_ok(&clerk->c, id, "accept");
    /* the timeline tells the story in order */
    j = case_get(&c, id);
    json_t *log = json_object_get(j, "log");
    const char *want[] = {"submit", "precheck", "sign", "supplement", "supplemented", "accept"};
    assert_int_equal(json_array_size(log), 6);
    for (size_t i = 0; i < 6; i++) assert_string_equal(str(json_array_get(log, i), "action"), want[i]);
    assert_string_equal(str(json_array_get(log, 3), "opinion"), "请补充清晰的户口簿首页");
    assert_string_equal(str(j, "state"), "in_review");
    assert_true(json_is_string(json_object_get(j, "due")));
    json_decref(j);
    /* returning to the previous step and passing again */
    struct staff *rev = staff_for(&s, &a, "hj_reviewer", "PSB-YZ-HJ");
    act_ok(&rev->c, id, "sign");
    assert_int_equal(act(&rev->c, id, "{\"action\":\"return\"}"), 422); /* opinion needed */
    assert_int_equal(act(&rev->c, id, "{\"action\":\"return\",\"opinion\":\"请核对\"}"), 200);
    act_ok(&clerk->c, id, "sign");
    act_ok(&clerk->c, id, "accept");
    char out[4096];
    assert_int_equal(verify_cli(out, sizeof out), 0);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- roles, scope and what the workflow does not allow ---------- */

static void roles_scope_and_refusals(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient c, other;
    p_person(&s, &c, "scope01", "1985-06-06");
    p_person(&s, &other, "scope02", "1986-06-06");
    long long id = hj2_case(&c, "scope");
    long st;
    submit_ok(&c, id);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    /* another person: the case does not exist for them */
    json_decref(p_want(&other, 404, "GET", path, NULL));
    /* a person cannot use the workbench */
    assert_int_equal(act(&c, id, "{\"action\":\"sign\"}"), 403);
    json_decref(p_want(&c, 403, "GET", "/api/v1/workbench/counts", NULL));
    /* staff of another department (tax) do not see it */
    struct staff *tax = staff_for(&s, &a, "tax_clerk", "TAX-YZ-DJ");
    json_decref(p_want(&tax->c, 404, "GET", path, NULL));
    assert_int_equal(act(&tax->c, id, "{\"action\":\"sign\"}"), 404);
    /* staff of the department without the step's role see it but may not act */
    struct staff *rev = staff_for(&s, &a, "hj_reviewer", "PSB-YZ-HJ");
    assert_int_equal(act(&rev->c, id, "{\"action\":\"sign\"}"), 403);
    /* the clerk's queue has it; signing moves it to in progress */
    struct staff *clerk = staff_for(&s, &a, "hj_clerk", "PSB-YZ-HJ");
    json_t *j = p_want(&clerk->c, 200, "GET", "/api/v1/workbench/counts", NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "to_sign")), 1);
    json_decref(j);
    j = p_want(&tax->c, 200, "GET", "/api/v1/workbench/counts", NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "to_sign")), 0);
    json_decref(j);
    act_ok(&clerk->c, id, "sign");
    j = p_want(&clerk->c, 200, "GET", "/api/v1/workbench/queue?name=in_progress", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "cases")), 1);
    json_decref(j);
    json_decref(p_want(&clerk->c, 422, "GET", "/api/v1/workbench/queue?name=everything", NULL));
    /* the workflow: approve is not the first step's, pass is not either */
    assert_int_equal(act(&clerk->c, id, "{\"action\":\"approve\"}"), 409);
    assert_int_equal(act(&clerk->c, id, "{\"action\":\"fly\"}"), 422);
    /* a transfer goes to a colleague holding the step's role in the department */
    char body[96];
    snprintf(body, sizeof body, "{\"action\":\"transfer\",\"to\":%lld}", rev->id);
    assert_int_equal(act(&clerk->c, id, body), 422);
    struct staff *clerk2 = staff_for(&s, &a, "hj_clerk,hj_reviewer", "PSB-YZ-HJ");
    snprintf(body, sizeof body, "{\"action\":\"transfer\",\"to\":%lld}", clerk2->id);
    assert_int_equal(act(&clerk->c, id, body), 200);
    assert_int_equal(act(&clerk->c, id, "{\"action\":\"accept\"}"), 409); /* not theirs any more */
    act_ok(&clerk2->c, id, "accept");
    /* withdrawing after acceptance is refused; before it, allowed */
    snprintf(path, sizeof path, "/api/v1/cases/%lld/withdraw", id);
    json_decref(p_want(&c, 409, "POST", path, "{}"));
    long long id2 = hj2_case(&c, "scope2");
    json_decref(submit(&c, id2, &st));
    assert_int_equal(st, 201);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/withdraw", id2);
    json_decref(p_want(&other, 404, "POST", path, "{}"));
    json_decref(p_want(&c, 200, "POST", path, "{\"reason\":\"填错了\"}"));
    j = case_get(&c, id2);
    assert_string_equal(str(j, "state"), "withdrawn");
    json_decref(j);
    /* my cases: both, newest first, and filtered */
    j = p_want(&c, 200, "GET", "/api/v1/cases", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "cases")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(j, "cases"), 0), "id")), id2);
    json_decref(j);
    j = p_want(&c, 200, "GET", "/api/v1/cases?state=withdrawn", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "cases")), 1);
    json_decref(j);
    json_decref(p_want(&c, 422, "GET", "/api/v1/cases?state=bogus&size=0", NULL));
    /* decisions are in the audit chain */
    j = p_want(&a.aud, 200, "GET", "/api/v1/audit?action=case.*", NULL);
    assert_true(json_array_size(json_object_get(j, "records")) >= 4);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- drafts, idempotency, the one-per-key limit, hostile input ---------- */

static void drafts_idempotency_and_limits(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient c;
    p_person(&s, &c, "idem0001", "1980-01-01");
    /* the same idempotency key gives the same draft */
    json_t *j = p_want(&c, 201, "POST", "/api/v1/cases",
                       "{\"item\":\"GA-HJ-0003\",\"idempotency_key\":\"k-12345678\"}");
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    j = p_want(&c, 200, "POST", "/api/v1/cases",
               "{\"item\":\"GA-HJ-0003\",\"idempotency_key\":\"k-12345678\"}");
    assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
    json_decref(j);
    /* bad input names its fields */
    j = p_want(&c, 422, "POST", "/api/v1/cases",
               "{\"item\":\"NOPE-1\",\"form\":[],\"materials\":{\"x\":[\"a\"]}}");
    assert_true(has_field(j, "form"));
    assert_true(has_field(j, "materials.x"));
    json_decref(j);
    j = p_want(&c, 422, "POST", "/api/v1/cases", "{\"item\":\"NOPE-1\"}");
    assert_true(has_field(j, "item"));
    json_decref(j);
    json_decref(p_want(&c, 422, "POST", "/api/v1/cases", "{\"item\":\"GA-HJ-0003\",\"extra\":1}"));
    json_decref(p_want(&c, 404, "GET", "/api/v1/cases/999999", NULL));
    json_decref(p_want(&c, 404, "GET", "/api/v1/cases/abc", NULL));
    /* an enterprise item is not for a person */
    j = p_want(&c, 403, "POST", "/api/v1/cases", "{\"item\":\"SW-DJ-0001\"}");
    json_decref(j);
    /* autosave, then submit with every error at once */
    char path[80];
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    json_decref(p_want(&c, 200, "PUT", path, "{\"form\":{\"purpose\":\"\"}}"));
    snprintf(path, sizeof path, "/api/v1/cases/%lld/submit", id);
    j = p_want(&c, 422, "POST", path, "{}");
    assert_true(json_array_size(json_object_get(json_object_get(j, "error"), "details")) >= 1);
    json_decref(j);
    /* a valid GA-HJ-0003 form from its test data */
    json_t *form = td_form("GA-HJ-0003", "approved", NULL);
    json_t *b = json_pack("{s:o}", "form", form);
    char *t = json_dumps(b, JSON_COMPACT);
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    json_decref(p_want(&c, 200, "PUT", path, t));
    free(t);
    json_decref(b);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/submit", id);
    j = p_want(&c, 201, "POST", path, "{}");
    char no[40];
    snprintf(no, sizeof no, "%s", str(j, "case_no"));
    json_decref(j);
    /* submitting again is the same case */
    j = p_want(&c, 200, "POST", path, "{}");
    assert_string_equal(str(j, "case_no"), no);
    json_decref(j);
    /* a submitted case is read-only, and cannot be deleted */
    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    json_decref(p_want(&c, 409, "PUT", path, "{\"form\":{}}"));
    json_decref(p_want(&c, 409, "DELETE", path, NULL));
    /* the submission's SM3 is in the audit chain */
    j = p_want(&a.aud, 200, "GET", "/api/v1/audit?action=case.submit", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "records")), 1);
    json_decref(j);
    /* a draft can be discarded */
    j = p_want(&c, 201, "POST", "/api/v1/cases", "{\"item\":\"GA-HJ-0003\"}");
    long long d2 = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/cases/%lld", d2);
    json_decref(p_want(&c, 200, "DELETE", path, NULL));
    json_decref(p_want(&c, 404, "GET", path, NULL));

    /* apply in one request (draft and submission in one transaction), idempotently */
    json_t *f1 = td_form("GA-HJ-0003", "approved", NULL), *bad1 = td_form("GA-HJ-0003", "invalid", NULL);
    j = p_want(&c, 200, "GET", "/api/v1/cases", NULL);
    size_t before_count = json_array_size(json_object_get(j, "cases"));
    json_decref(j);
    b = json_pack("{s:s, s:o, s:b}", "item", "GA-HJ-0003", "form", bad1, "submit", 1);
    t = json_dumps(b, JSON_COMPACT);
    json_decref(p_want(&c, 422, "POST", "/api/v1/cases", t));
    free(t);
    json_decref(b);
    j = p_want(&c, 200, "GET", "/api/v1/cases", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "cases")), before_count); /* nothing kept */
    json_decref(j);
    b = json_pack("{s:s, s:o, s:b, s:s}", "item", "GA-HJ-0003", "form", f1, "submit", 1, "idempotency_key",
                  "once-0000001");
    t = json_dumps(b, JSON_COMPACT);
    j = p_want(&c, 201, "POST", "/api/v1/cases", t);
    snprintf(no, sizeof no, "%s", str(j, "case_no"));
    assert_string_equal(str(j, "state"), "submitted");
    json_decref(j);
    j = p_want(&c, 200, "POST", "/api/v1/cases", t);
    assert_string_equal(str(j, "case_no"), no);
    json_decref(j);
    free(t);
    json_decref(b);

    /* one dog per tag within a year: the second application is refused, naming the field */
    json_t *item = load_json("items/GA-QZ-0001.json");
    json_t *dog_slots = NULL;
    json_t *dog = td_form("GA-QZ-0001", "approved", &dog_slots);
    const char *key = str(json_object_get(item, "limit"), "key");
    assert_non_null(key);
    long long ids[2];
    for (int k = 0; k < 2; k++) {
        json_t *f = json_deep_copy(dog);
        json_t *m = materials_for(&c, item, dog_slots, "dog");
        ids[k] = draft(&c, "GA-QZ-0001", f, m);
        json_decref(f);
        json_decref(m);
    }
    long st;
    json_decref(submit(&c, ids[0], &st));
    assert_int_equal(st, 201);
    j = submit(&c, ids[1], &st);
    assert_int_equal(st, 409);
    assert_true(has_field(j, key));
    json_decref(j);
    json_decref(dog);
    json_decref(dog_slots);
    json_decref(item);
    /* drafts are bounded: at the hundredth unfinished one, no more */
    int made = 0;
    for (;;) {
        long dst;
        j = hc_json(&c, "POST", "/api/v1/cases", "{\"item\":\"GA-HJ-0003\"}", &dst);
        if (dst == 409) {
            assert_string_equal(str(json_object_get(j, "error"), "code"), "too_many_drafts");
            json_decref(j);
            break;
        }
        assert_int_equal(dst, 201);
        json_decref(j);
        assert_true(++made <= 100);
    }
    assert_true(made >= 90);
    /* applying at once adds no draft, so the bound does not stop it */
    j = hc_json(
        &c, "POST", "/api/v1/cases",
        "{\"item\":\"GA-HJ-0003\",\"form\":{\"purpose\":\"former_name\",\"copies\":1},\"submit\":true}", &st);
    assert_int_equal(st, 201);
    assert_string_equal(str(j, "state"), "submitted");
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- deadlines: escalation of an overdue case ---------- */

static store *open_db(void)
{
    struct store_options o = {2, 5000, 10000};
    store *st = NULL;
    char err[256];
    assert_int_equal(store_open(db, &o, &st, err, sizeof err), STORE_OK);
    return st;
}

static void db_exec(const char *sql)
{
    store *st = open_db();
    store_conn *c = store_acquire(st);
    assert_int_equal(store_exec(c, sql), STORE_OK);
    store_release(c);
    store_close(st);
}

/* ---------- the "done" queue ---------- */

static long long done_count(struct hclient *c)
{
    json_t *j = p_want(c, 200, "GET", "/api/v1/workbench/counts", NULL);
    long long n = json_integer_value(json_object_get(json_object_get(j, "counts"), "done"));
    json_decref(j);
    return n;
}

/* The ids of one page of a clerk's done queue (newest first); *next its next_before. */
static size_t done_page(struct hclient *c, const char *query, long long ids[8], long long *next)
{
    char path[160];
    snprintf(path, sizeof path, "/api/v1/workbench/queue?name=done%s", query);
    json_t *j = p_want(c, 200, "GET", path, NULL);
    json_t *list = json_object_get(j, "cases");
    size_t n = json_array_size(list);
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        ids[i] = json_integer_value(json_object_get(json_array_get(list, i), "id"));
    *next = json_integer_value(json_object_get(j, "next_before"));
    json_decref(j);
    return n;
}

/* Every clerk who acted on a case finds it among their done ones once it is decided
 * (the accepting clerk as well as the deciding leader), not before; the queue pages by
 * `before` and filters by item; a database from before the done index gets it filled
 * from the supervision logs when it is migrated. */
static void done_queue(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient c;
    p_person(&s, &c, "done0001", "1984-04-04");
    json_t *item = load_json("items/GA-HJ-0002.json");
    long long ids[3];
    for (int i = 0; i < 3; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "done%d", i);
        ids[i] = hj2_case(&c, tag);
        submit_ok(&c, ids[i]);
        through_workflow(&s, &a, item, ids[i], &c);
    }
    json_decref(item);
    struct staff *clerk = staff_for(&s, &a, "hj_clerk", "PSB-YZ-HJ");
    struct staff *leader = staff_for(&s, &a, "hj_leader", "PSB-YZ");
    /* a fourth case, accepted by the same clerk but still in review, is not done */
    long long live = hj2_case(&c, "done-live");
    submit_ok(&c, live);
    act_ok(&clerk->c, live, "sign");
    act_ok(&clerk->c, live, "accept");
    for (int pass = 0; pass < 2; pass++) {
        struct staff *who[] = {clerk, leader};
        for (int w = 0; w < 2; w++) {
            struct hclient *hc = &who[w]->c;
            assert_int_equal(done_count(hc), 3);
            long long got[8], next;
            assert_int_equal(done_page(hc, "&size=2", got, &next), 2);
            assert_true(got[0] == ids[2] && got[1] == ids[1] && next == ids[1]);
            char q[64];
            snprintf(q, sizeof q, "&size=2&before=%lld", next);
            assert_int_equal(done_page(hc, q, got, &next), 1);
            assert_true(got[0] == ids[0] && next == 0);
            assert_int_equal(done_page(hc, "&item=GA-HJ-0002", got, &next), 3);
            assert_int_equal(done_page(hc, "&item=GA-HJ-0001", got, &next), 0);
        }
        if (pass) break;
        /* as if the database predated migration 17: it fills the index again */
        assert_int_equal(h_stop(&s), 0);
        db_exec("DROP TABLE case_done");
        db_exec("CREATE INDEX case_log_actor ON case_log(actor, case_id)");
        db_exec("DROP TABLE IF EXISTS audit_pending");           /* migration 19, PostgreSQL's */
        db_exec("DELETE FROM ehall_schema WHERE version >= 17"); /* 17 and those after it run again */
        serve(&s);
    }
    /* answers are UTF-8 as it is, and list entries leave out form and materials */
    struct resp r;
    assert_int_equal(hc_call(&c, "GET", "/api/v1/cases", NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"item_name\":\"\xE6")); /* 未…: the name's first byte, not an escape */
    assert_null(strstr(r.body, "\\u"));
    assert_null(strstr(r.body, "\"form\""));
    assert_null(strstr(r.body, "\"materials\""));
    h_resp_free(&r);
    /* the applicant has no workbench */
    json_decref(p_want(&c, 403, "GET", "/api/v1/workbench/counts", NULL));
    assert_int_equal(h_stop(&s), 0);
}

/* The counts a clerk sees are the lengths of their queues, and are `want` (to sign, in
 * progress, near due, overdue). */
static void counts_are(struct hclient *c, int want_to_sign, int want_in_progress, int want_near,
                       int want_overdue)
{
    static const char *const names[] = {"to_sign", "in_progress", "near_due", "overdue"};
    const int want[] = {want_to_sign, want_in_progress, want_near, want_overdue};
    json_t *j = p_want(c, 200, "GET", "/api/v1/workbench/counts", NULL);
    for (int i = 0; i < 4; i++) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/workbench/queue?name=%s&size=100", names[i]);
        json_t *q = p_want(c, 200, "GET", path, NULL);
        long long n = json_integer_value(json_object_get(json_object_get(j, "counts"), names[i]));
        if (n != want[i] || (long long)json_array_size(json_object_get(q, "cases")) != n)
            fail_msg("%s: count %lld, queue %zu, expected %d", names[i], n,
                     json_array_size(json_object_get(q, "cases")), want[i]);
        json_decref(q);
    }
    json_decref(j);
}

static void overdue_cases_escalate(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient c;
    p_person(&s, &c, "late0001", "1979-09-09");
    long long id = hj2_case(&c, "late");
    submit_ok(&c, id);
    struct staff *clerk = staff_for(&s, &a, "hj_clerk", "PSB-YZ-HJ");
    act_ok(&clerk->c, id, "sign");
    /* near-due: one reminder to whoever holds it */
    char sql0[200];
    snprintf(sql0, sizeof sql0, "UPDATE ecase SET step_due = %d WHERE id = %lld", calendar_today(), id);
    db_exec(sql0);
    counts_are(&clerk->c, 0, 1, 1, 0);
    char out0[1024];
    const char *sweep0[] = {"cases", "sweep", NULL};
    assert_int_equal(h_cli(dir, db, sweep0, out0, sizeof out0), 0);
    assert_int_equal(h_cli(dir, db, sweep0, out0, sizeof out0), 0);
    json_t *ib = p_want(&clerk->c, 200, "GET", "/api/v1/inbox", NULL);
    int reminders = 0;
    size_t ii;
    json_t *msg;
    json_array_foreach(json_object_get(ib, "messages"), ii, msg) reminders +=
        strstr(str(msg, "title"), "即将到期") != NULL;
    assert_int_equal(reminders, 1);
    json_decref(ib);
    /* time passes: the step was due three days ago */
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE ecase SET step_due = %d WHERE id = %lld", calendar_today() - 3, id);
    db_exec(sql);
    json_t *j = case_get(&c, id);
    assert_string_equal(str(j, "deadline"), "overdue");
    json_decref(j);
    counts_are(&clerk->c, 0, 1, 0, 1);
    char out[1024];
    const char *args[] = {"cases", "sweep", NULL};
    assert_int_equal(h_cli(dir, db, args, out, sizeof out), 0);
    /* the server's housekeeper sweeps too, every 5 s: on a slow machine it may have
     * escalated the case first, and then this sweep finds nothing left to do */
    assert_true(strstr(out, "1 case(s) escalated") || strstr(out, "0 case(s) escalated"));
    /* once only, whoever swept */
    assert_int_equal(h_cli(dir, db, args, out, sizeof out), 0);
    assert_non_null(strstr(out, "0 case(s) escalated"));
    j = case_get(&c, id);
    assert_string_equal(str(j, "escalated_to"), "PSB-YZ");
    json_t *log = json_object_get(j, "log");
    assert_string_equal(str(json_array_get(log, json_array_size(log) - 1), "action"), "escalate");
    int escalations = 0;
    json_array_foreach(log, ii, msg) escalations += !strcmp(str(msg, "action"), "escalate");
    assert_int_equal(escalations, 1);
    json_decref(j);
    /* the next level's staff see it among their overdue cases */
    struct staff *leader = staff_for(&s, &a, "hj_leader", "PSB-YZ");
    counts_are(&leader->c, 0, 0, 0, 1);
    counts_are(&clerk->c, 0, 1, 0, 1);
    /* held by the leader as well as escalated to their department: counted once */
    char sql2[200];
    snprintf(sql2, sizeof sql2, "UPDATE ecase SET assignee = %lld WHERE id = %lld", leader->id, id);
    db_exec(sql2);
    counts_are(&leader->c, 0, 1, 0, 1);
    counts_are(&clerk->c, 0, 0, 0, 0);
    snprintf(sql2, sizeof sql2, "UPDATE ecase SET assignee = %lld WHERE id = %lld", clerk->id, id);
    db_exec(sql2);
    /* the applicant was told */
    j = p_want(&c, 200, "GET", "/api/v1/inbox", NULL);
    char *t = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(t, "督办"));
    free(t);
    json_decref(j);
    assert_int_equal(verify_cli(out, sizeof out), 0);
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- bundles and the replay check ---------- */

static void bundles_and_replay(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    struct hclient c;
    p_person(&s, &c, "bund0001", "1992-04-18");
    json_t *bundle = load_json("items/bundles/BND-NEWBORN.json");
    json_t *cases = json_object();
    size_t i;
    json_t *code;
    json_array_foreach(json_object_get(bundle, "items"), i, code)
    {
        char rel[128];
        snprintf(rel, sizeof rel, "items/testdata/%s.json", json_string_value(code));
        json_t *td = load_json(rel);
        snprintf(rel, sizeof rel, "items/%s.json", json_string_value(code));
        json_t *item = load_json(rel);
        size_t k;
        json_t *tc;
        json_array_foreach(json_object_get(td, "cases"), k, tc)
        {
            if (json_object_get(cases, json_string_value(code)) || strcmp(str(tc, "expect"), "approved"))
                continue;
            json_t *f = json_deep_copy(json_object_get(tc, "form"));
            resolve_dates(f);
            json_t *m = materials_for(&c, item, json_object_get(tc, "materials"), "bundle");
            json_object_set_new(cases, json_string_value(code),
                                json_pack("{s:o, s:o}", "form", f, "materials", m));
        }
        json_decref(td);
        json_decref(item);
    }
    assert_int_equal(json_object_size(cases), json_array_size(json_object_get(bundle, "items")));
    /* one member invalid: nothing is created, and the error names the member's field */
    const char *first = json_string_value(json_array_get(json_object_get(bundle, "items"), 0));
    json_t *bad = json_deep_copy(cases);
    json_object_set_new(json_object_get(json_object_get(bad, first), "form"), "zzz_unknown",
                        json_string("x"));
    json_t *body = json_pack("{s:o}", "cases", bad);
    char *t = json_dumps(body, JSON_COMPACT);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/bundles/%s/apply", str(bundle, "code"));
    json_t *j = p_want(&c, 422, "POST", path, t);
    char field[160];
    snprintf(field, sizeof field, "cases.%s.form.zzz_unknown", first);
    assert_true(has_field(j, field));
    json_decref(j);
    free(t);
    json_decref(body);
    j = p_want(&c, 200, "GET", "/api/v1/cases", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "cases")), 0);
    json_decref(j);
    body = json_pack("{s:O}", "cases", cases);
    t = json_dumps(body, JSON_COMPACT);
    j = p_want(&c, 201, "POST", path, t);
    free(t);
    json_decref(body);
    long long bid = json_integer_value(json_object_get(j, "bundle"));
    assert_int_equal(json_array_size(json_object_get(j, "cases")),
                     json_array_size(json_object_get(bundle, "items")));
    long long first_case =
        json_integer_value(json_object_get(json_array_get(json_object_get(j, "cases"), 0), "id"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/bundle-cases/%lld", bid);
    j = p_want(&c, 200, "GET", path, NULL);
    assert_string_equal(str(j, "status"), "in_progress");
    json_decref(j);
    /* withdraw every member: the bundle is withdrawn */
    j = p_want(&c, 200, "GET", path, NULL);
    json_t *member;
    json_array_foreach(json_object_get(j, "cases"), i, member)
    {
        char wp[96];
        snprintf(wp, sizeof wp, "/api/v1/cases/%lld/withdraw",
                 (long long)json_integer_value(json_object_get(member, "id")));
        json_decref(p_want(&c, 200, "POST", wp, "{}"));
    }
    json_decref(j);
    j = p_want(&c, 200, "GET", path, NULL);
    assert_string_equal(str(j, "status"), "withdrawn");
    json_decref(j);
    json_decref(cases);
    json_decref(bundle);
    /* the logs replay; a case changed behind the engine's back is named */
    char out[4096];
    assert_int_equal(verify_cli(out, sizeof out), 0);
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE ecase SET state = 'approved' WHERE id = %lld", first_case);
    db_exec(sql);
    assert_int_equal(verify_cli(out, sizeof out), 1);
    char want[64];
    snprintf(want, sizeof want, "case %lld ", first_case);
    assert_non_null(strstr(out, want));
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- a crash at any moment: nothing acknowledged lost, nothing done twice ---------- */

#define CRASH_THREADS 4
#define CRASH_MAX     4000

struct loader {
    struct srv *s;
    struct hclient c;
    int tid;
    volatile int *stop;
    json_t *form;
    char (*keys)[40];
    char (*nos)[40];
    int acked, retries;
    char err[300];
};

static void *load_thread(void *arg)
{
    struct loader *l = arg;
    int i = 0;
    while (!*l->stop && l->acked < CRASH_MAX) {
        char key[40];
        snprintf(key, sizeof key, "crash-%d-%06d", l->tid, i);
        json_t *b = json_pack("{s:s, s:O, s:b, s:s}", "item", "GA-HJ-0003", "form", l->form, "submit", 1,
                              "idempotency_key", key);
        char *t = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        long st;
        json_t *j = hc_json(&l->c, "POST", "/api/v1/cases", t, &st);
        free(t);
        if (st == 201 || st == 200) {
            snprintf(l->keys[l->acked], 40, "%s", key);
            snprintf(l->nos[l->acked], 40, "%s", json_string_value(json_object_get(j, "case_no")));
            l->acked++;
            i++;
        } else if (st == 0 || st == 503) {
            /* the server is down or shutting down: the same key again, a little later */
            l->retries++;
            sleep_ms(20);
        } else {
            char *d = j ? json_dumps(j, JSON_COMPACT) : NULL;
            snprintf(l->err, sizeof l->err, "status %ld: %s", st, d ? d : "");
            free(d);
            json_decref(j);
            break;
        }
        json_decref(j);
    }
    return NULL;
}

static long long db_int(store *st, const char *sql, const char *arg)
{
    store_conn *c = store_acquire(st);
    assert_non_null(c);
    store_stmt *q = store_prepare(c, sql);
    assert_non_null(q);
    if (arg) store_bind_text(q, 1, arg);
    long long v = -1;
    if (store_step(q) == STORE_ROW) v = store_column_int64(q, 0);
    store_finalize(q);
    store_release(c);
    return v;
}

static void crashes_lose_nothing_and_do_nothing_twice(void **state)
{
    (void)state;
    staff_reset();
    struct srv s;
    struct admins a;
    start(&s, &a);
    /* the applicants log in while the first server runs; their sessions live in the database */
    struct loader l[CRASH_THREADS];
    json_t *form = td_form("GA-HJ-0003", "approved", NULL);
    volatile int stop = 0;
    for (int t = 0; t < CRASH_THREADS; t++) {
        memset(&l[t], 0, sizeof l[t]);
        l[t].s = &s;
        l[t].tid = t;
        l[t].stop = &stop;
        l[t].form = form;
        l[t].keys = calloc(CRASH_MAX, 40);
        l[t].nos = calloc(CRASH_MAX, 40);
        char login[32];
        snprintf(login, sizeof login, "crash%03d", t);
        p_person(&s, &l[t].c, login, "1980-02-02");
    }
    /* from now on the server has no workers of its own: `ehall worker` processes the queue */
    assert_int_equal(h_stop(&s), 0);
    static char simdir[1100];
    const char *src = getenv("EHALL_SOURCE_DIR");
    snprintf(simdir, sizeof simdir, "EHALL_EXCHANGE_SIM_DIR=%s/items/testdata", src ? src : ".");
    /* every load thread comes from 127.0.0.1: the per-address rate limit is lifted, so the
     * load keeps coming and the kills interrupt it */
    const char *senv[] = {"EHALL_EXCHANGE_WORKERS=0", "EHALL_HTTP_CLIENT_RATE=0", simdir, NULL};
    const char *wenv[] = {"EHALL_EXCHANGE_LEASE_SECONDS=2", "EHALL_EXCHANGE_POLL_MS=50", simdir, NULL};
    assert_int_equal(h_start(&s, dir, db, senv), 0);
    pid_t worker = h_worker_start(&s, "worker", wenv, "2");
    pthread_t th[CRASH_THREADS];
    for (int t = 0; t < CRASH_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, load_thread, &l[t]), 0);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 3; round++) {
        sleep_ms(400 + rand() % 800);
        /* kill both, in either order, at a random moment of the load */
        if (rand() % 2) {
            h_kill9(&s);
            sleep_ms(rand() % 200);
            h_worker_stop(worker, SIGKILL);
        } else {
            h_worker_stop(worker, SIGKILL);
            sleep_ms(rand() % 200);
            h_kill9(&s);
        }
        assert_int_equal(h_start(&s, dir, db, senv), 0);
        worker = h_worker_start(&s, "worker", wenv, "2");
    }
    sleep_ms(500);
    stop = 1;
    int acked = 0, retries = 0;
    for (int t = 0; t < CRASH_THREADS; t++) {
        pthread_join(th[t], NULL);
        if (l[t].err[0]) fail_msg("load thread %d: %s", t, l[t].err);
        acked += l[t].acked;
        retries += l[t].retries;
    }
    assert_true(acked > 20);
    assert_true(retries > 0); /* the crashes did interrupt the load */
    /* the worker finishes the queue (expired leases of the killed ones included) */
    store *st = open_db();
    long long pending = -1;
    for (int w = 0; w < 400 && pending != 0; w++) {
        pending = db_int(st, "SELECT COUNT(*) FROM exchange_msg WHERE state IN ('queued','leased')", NULL);
        if (pending) sleep_ms(100);
    }
    assert_int_equal(pending, 0);
    /* every acknowledged submission exists exactly once, with its case number */
    for (int t = 0; t < CRASH_THREADS; t++) {
        for (int k = 0; k < l[t].acked; k++) {
            assert_int_equal(db_int(st, "SELECT COUNT(*) FROM ecase WHERE idem_key = $1", l[t].keys[k]), 1);
            assert_int_equal(db_int(st, "SELECT COUNT(*) FROM ecase WHERE case_no = $1", l[t].nos[k]), 1);
        }
        free(l[t].keys);
        free(l[t].nos);
    }
    long long cases = db_int(st, "SELECT COUNT(*) FROM ecase", NULL);
    fprintf(stderr, "crash test: %d acknowledged, %d retries, %lld cases\n", acked, retries, cases);
    assert_true(cases >= acked &&
                cases <= acked + CRASH_THREADS); /* at most the requests cut off at the end */
    assert_int_equal(db_int(st, "SELECT COUNT(*) FROM ecase WHERE state = 'draft'", NULL), 0);
    /* each submission went to the back-end once, and its answer was applied once */
    assert_int_equal(
        db_int(st, "SELECT COUNT(*) FROM exchange_msg WHERE kind = 'case.precheck' AND state = 'done'", NULL),
        cases);
    assert_int_equal(db_int(st, "SELECT COUNT(*) FROM sim_ledger", NULL), cases);
    assert_int_equal(db_int(st, "SELECT COUNT(*) FROM ecase WHERE precheck <> 'passed'", NULL), 0);
    assert_int_equal(db_int(st, "SELECT COUNT(*) FROM case_log WHERE action = 'precheck'", NULL), cases);
    h_worker_stop(worker, SIGTERM);
    char out[4096];
    assert_int_equal(verify_cli(out, sizeof out), 0);
    /* and each submission's SM3 is in the audit chain once, whatever moment the kills
     * hit (on PostgreSQL also between a COMMIT and the run linking its audit record:
     * the next run links it; verify links what is left first) */
    const char *args[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, args, out, sizeof out), 0);
    assert_int_equal(db_int(st, "SELECT COUNT(*) FROM audit_log WHERE action = 'case.submit'", NULL), cases);
    assert_int_equal(
        db_int(st, "SELECT COUNT(DISTINCT object) FROM audit_log WHERE action = 'case.submit'", NULL), cases);
    if (h_is_postgres()) assert_int_equal(db_int(st, "SELECT COUNT(*) FROM audit_pending", NULL), 0);
    store_close(st);
    json_decref(form);
    assert_int_equal(h_stop(&s), 0);
}

int main(void)
{
    /* dates in the test data are relative to the server's today, in its zone */
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_item_follows_its_test_data),
        cmocka_unit_test(supplement_loop),
        cmocka_unit_test(roles_scope_and_refusals),
        cmocka_unit_test(drafts_idempotency_and_limits),
        cmocka_unit_test(done_queue),
        cmocka_unit_test(overdue_cases_escalate),
        cmocka_unit_test(bundles_and_replay),
        cmocka_unit_test(crashes_lose_nothing_and_do_nothing_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
