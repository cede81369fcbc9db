/*
 * Service items as data: `ehall items validate` naming every problem of a broken pack
 * by file and JSON path; the shipped pack validating clean (items, bundles, org.json,
 * and every test data case giving its expected outcome); import with versioning (a
 * changed file under a used version refused, nothing imported; a new version current,
 * the old one still loadable); the public catalog (search, filters, paging), the
 * guide (404 unknown or offline), bundles; the form check for a logged-in applicant
 * (profile defaults, every problem at once); and catalog administration (item.manage,
 * audited; 403 for a citizen).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "core/metrics.h"
#include "engine/item.h"
#include "harness.h"
#include "people.h"
#include "store/store.h"

static char dir[256], db[512];
static char out[65536];

static const char *source_dir(void)
{
    const char *s = getenv("EHALL_SOURCE_DIR");
    return s ? s : "..";
}

static void shipped(char *buf, size_t len) { snprintf(buf, len, "%s/items", source_dir()); }

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int cli(const char *const *args)
{
    memset(out, 0, sizeof out);
    return h_cli(dir, db, args, out, sizeof out);
}

static void assert_out_has(const char *needle)
{
    if (!strstr(out, needle)) fail_msg("output lacks \"%s\":\n%s", needle, out);
}

static void start(struct srv *s)
{
    h_fresh(dir, db);
    if (h_start(s, dir, db, NULL) != 0) fail_msg("server did not start; log: %s", h_slurp(s->log));
}

static void import_shipped(void)
{
    char path[512];
    shipped(path, sizeof path);
    const char *args[] = {"items", "import", path, NULL};
    int rc = cli(args);
    if (rc != 0) fail_msg("import failed (%d):\n%s", rc, out);
}

static long long jint(json_t *j, const char *key) { return json_integer_value(json_object_get(j, key)); }
static const char *jstr(json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

/* 1 when the 422/403 details name field */
static int names_field(json_t *j, const char *field)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(json_object_get(j, "error"), "details"), i, d)
    {
        const char *f = jstr(d, "field");
        if (f && !strcmp(f, field)) return 1;
    }
    return 0;
}

/* ---------- validate ---------- */

static const char BROKEN[] =
    "{\"code\": \"BAD-0002\", \"version\": 1, \"name\": \"坏事项\", \"department\": \"PSB\", \"category\": "
    "\"测试\","
    " \"colour\": \"red\","
    " \"applicant_types\": [\"alien\"],"
    " \"materials\": [{\"id\": \"doc\", \"name\": \"材料\", \"required\": true, \"types\": [\"pdf\", "
    "\"exe\"],"
    "   \"max_size\": 1000, \"max_count\": 1},"
    "  {\"id\": \"doc\", \"name\": \"材料二\", \"required\": false, \"types\": [\"png\"], \"max_size\": 1000,"
    "   \"max_count\": 1}],"
    " \"fees\": [{\"name\": \"工本费\", \"fen\": -5}],"
    " \"time_limit\": 2, \"depth\": \"teleport\", \"backend\": \"sim\","
    " \"limit\": {\"key\": \"form.nope\", \"window_days\": 30},"
    " \"dictionaries\": {\"relation\": [[\"father\", \"父亲\"]]},"
    " \"form\": {\"fields\": ["
    "  {\"name\": \"Bad Name\", \"type\": \"string\"},"
    "  {\"name\": \"who\", \"type\": \"enum\", \"dict\": \"nodict\"},"
    "  {\"name\": \"note\", \"type\": \"string\", \"pattern\": \"[a-\", \"default\": \"profile.salary\"},"
    "  {\"name\": \"count\", \"type\": \"integer\", \"min\": 5, \"max\": 1, \"max_length\": 3}]},"
    " \"rules\": [{\"id\": \"r1\", \"check\": \"form.missing > 1\", \"message\": \"m\", \"fields\": "
    "[\"form.count\"]},"
    "  {\"id\": \"r2\", \"check\": \"1 +\", \"message\": \"m\", \"fields\": [\"form.count\"]}],"
    " \"workflow\": {\"steps\": ["
    "  {\"id\": \"a\", \"name\": \"受理\", \"role\": \"hj_clerk\", \"department\": \"PSB\","
    "   \"actions\": [\"accept\"], \"time_limit\": 2},"
    "  {\"id\": \"b\", \"name\": \"审批\", \"role\": \"hj_leader\", \"department\": \"PSB\","
    "   \"actions\": [\"pass\", \"approve\", \"jump\", \"refuse\"], \"time_limit\": 3}]}}";

static void validate_names_every_problem(void **state)
{
    (void)state;
    h_fresh(dir, db);
    char pack[512], sub[600], path[700];
    snprintf(pack, sizeof pack, "%s/pack", dir);
    mkdir(pack, 0700);
    snprintf(sub, sizeof sub, "%s/testdata", pack);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/BAD-0001.json", pack);
    write_file(path, BROKEN);
    snprintf(path, sizeof path, "%s/BAD-0003.json", pack);
    write_file(path, "{\"code\": ");
    snprintf(path, sizeof path, "%s/testdata/NOPE-0001.json", pack);
    write_file(path, "{\"item\": \"NOPE-0001\", \"applicant\": {\"kind\": \"person\"}, \"cases\": []}");
    const char *args[] = {"items", "validate", pack, NULL};
    assert_int_equal(cli(args), 1);
    static const char *const want[] = {
        "BAD-0001.json: $.code: \"BAD-0002\" does not match the file name",
        "BAD-0001.json: $: unknown key \"colour\"",
        "BAD-0001.json: $.applicant_types[0]: one of person, enterprise, agent",
        "BAD-0001.json: $.materials[0].types[1]: unknown type",
        "BAD-0001.json: $.materials[1].id: \"doc\" is used by $.materials[0] already",
        "BAD-0001.json: $.fees[0].fen: must be between 0 and",
        "BAD-0001.json: $.depth: one of online, one_visit, zero_materials, cross_province",
        "BAD-0001.json: $.form.fields[0].name: must match [a-z][a-z0-9_]*",
        "BAD-0001.json: $.form.fields[1].dict: no dictionary \"nodict\"",
        "BAD-0001.json: $.form.fields[2].pattern: not a valid matches() pattern",
        "BAD-0001.json: $.form.fields[2].default: \"profile.salary\" is not a profile field",
        "BAD-0001.json: $.form.fields[3]: key \"max_length\" does not apply to a field of type integer",
        "BAD-0001.json: $.form.fields[3].max: less than min",
        "BAD-0001.json: $.rules[0].check: names form.missing, which is not a form field",
        "BAD-0001.json: $.rules[1].check: does not compile: column",
        "BAD-0001.json: $.workflow.steps[0].actions: the first step must allow accept and not_accept",
        "BAD-0001.json: $.workflow.steps[1].actions[0]: pass on the last step: there is no next step",
        "BAD-0001.json: $.workflow.steps[1].actions[2]: unknown action \"jump\"",
        "BAD-0001.json: $.workflow.steps: the steps' time limits add up to 5 working days, more than"
        " $.time_limit (2)",
        "BAD-0001.json: $.limit.key: not the path of a form field",
        "BAD-0003.json: $: not JSON",
        "testdata/NOPE-0001.json: $.item: no item \"NOPE-0001\" in the pack",
        "testdata/NOPE-0001.json: $.cases: missing or not a non-empty list",
    };
    for (size_t i = 0; i < EHALL_ARRAY_LEN(want); i++) assert_out_has(want[i]);
    /* the same directory cannot be imported: nothing is stored */
    const char *imp[] = {"items", "import", pack, NULL};
    assert_int_equal(cli(imp), 1);
    assert_out_has("refused; nothing was imported");
    const char *list[] = {"items", "list", NULL};
    assert_int_equal(cli(list), 0);
    assert_null(strstr(out, "BAD-"));
}

static void shipped_pack_is_clean(void **state)
{
    (void)state;
    h_fresh(dir, db);
    char path[512];
    shipped(path, sizeof path);
    const char *args[] = {"items", "validate", path, NULL};
    int rc = cli(args);
    if (rc != 0) fail_msg("shipped items have problems:\n%s", out);
    assert_out_has("no problems");
    /* through the library too: at least ten items, each test data file with at least two
     * passing, three invalid and one not_accepted case */
    struct strbuf problems = {0};
    assert_int_equal(item_pack_validate(path, &problems), 0);
    sb_free(&problems);
    const char *codes[] = {"GA-HJ-0001", "GA-HJ-0002",  "GA-HJ-0003",  "GA-SFZ-0001",
                           "GA-QZ-0001", "GA-WFZ-0001", "GA-CRJ-0001", "SW-DJ-0001",
                           "SW-FP-0001", "SW-TS-0001",  "SW-ZM-0001",  "YB-CB-0001"};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(codes); i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/testdata/%s.json", path, codes[i]);
        json_t *t = json_load_file(p, 0, NULL);
        assert_non_null(t);
        int pass = 0, invalid = 0, refused = 0;
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(t, "cases"), k, c)
        {
            const char *e = jstr(c, "expect");
            pass += !strcmp(e, "approved") || !strcmp(e, "valid");
            invalid += !strcmp(e, "invalid");
            refused += !strcmp(e, "not_accepted");
        }
        if (pass < 2 || invalid < 3 || refused < 1)
            fail_msg("%s: %d/%d/%d cases", codes[i], pass, invalid, refused);
        json_decref(t);
    }
}

/* ---------- the library: loading, checking a form ---------- */

static struct item *load_shipped(const char *code)
{
    char path[600];
    snprintf(path, sizeof path, "%s/items/%s.json", source_dir(), code);
    char *text = h_slurp(path);
    assert_non_null(text);
    struct item *it = NULL;
    char file[64];
    snprintf(file, sizeof file, "%s.json", code);
    assert_int_equal(item_load(text, strlen(text), file, &it, NULL), 0);
    free(text);
    return it;
}

static void check_form_reports_everything(void **state)
{
    (void)state;
    struct item *it = load_shipped("GA-QZ-0001");
    assert_string_equal(it->code, "GA-QZ-0001");
    assert_int_equal(it->nsteps, 2);
    assert_true(item_step_allows(&it->steps[0], "accept"));
    assert_false(item_step_allows(&it->steps[0], "approve"));
    assert_true(item_step_allows(&it->steps[1], "refuse"));
    assert_string_equal(it->limit_key, "form.dog_tag");
    assert_int_equal(it->limit_window_days, 365);
    assert_true(item_accepts(it, "person"));
    assert_false(item_accepts(it, "enterprise"));
    json_t *applicant =
        json_pack("{s:s, s:s, s:i}", "kind", "person", "address", "重庆市渝中区民权路1号", "age", 30);
    /* a good form: the address comes from the profile */
    json_t *form = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "dog_name", "旺财", "breed", "corgi",
                             "dog_gender", "M", "dog_birth_date", "2020-01-01", "shoulder_height", 30,
                             "dog_tag", "YZ000123", "vaccine_date", "@today-10");
    item_resolve_dates(form, calendar_today());
    json_t *errors = json_array();
    assert_int_equal(item_check_form(it, form, applicant, NULL, errors), 0);
    assert_int_equal(json_array_size(errors), 0);
    assert_string_equal(jstr(form, "address"), "重庆市渝中区民权路1号");
    char buf[32];
    assert_string_equal(item_limit_value(it, form, buf, sizeof buf), "YZ000123");
    /* everything wrong at once: type, pattern, dictionary, range, unknown key, rules */
    json_t *bad = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:s, s:s}", "dog_name", 7, "breed", "wolf",
                            "dog_gender", "M", "dog_birth_date", "@today-10", "dog_tag", "YZ12",
                            "shoulder_height", 75, "vaccine_date", "2026-02-30", "colour", "brown");
    item_resolve_dates(bad, calendar_today());
    json_decref(applicant);
    applicant = json_pack("{s:s, s:i}", "kind", "person", "age", 16);
    assert_int_equal(item_check_form(it, bad, applicant, NULL, errors), 1);
    static const char *const fields[] = {"form.colour",         "form.dog_name",       "form.breed",
                                         "form.dog_tag",        "form.vaccine_date",   "form.address",
                                         "form.dog_birth_date", "form.shoulder_height"};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(fields); i++) {
        int seen = 0;
        size_t k;
        json_t *e;
        json_array_foreach(errors, k, e) seen |= !strcmp(jstr(e, "field"), fields[i]);
        if (!seen) fail_msg("%s not reported: %s", fields[i], json_dumps(errors, 0));
    }
    /* the adult rule names the dog's name field, with its message */
    int adult = 0;
    size_t k;
    json_t *e;
    json_array_foreach(errors, k, e) adult |= !strcmp(jstr(e, "message"), "养犬人须年满18周岁");
    assert_true(adult);
    json_decref(bad);
    json_decref(form);
    json_decref(errors);
    json_decref(applicant);
    item_free(it);
}

/* ---------- the catalog over HTTP ---------- */

static json_t *get_ok(struct hclient *c, const char *path) { return p_want(c, 200, "GET", path, NULL); }

static void catalog_search_filters_and_pages(void **state)
{
    (void)state;
    struct srv s;
    start(&s);
    import_shipped();
    struct hclient c;
    hc_init(&c, &s);
    json_t *j = get_ok(&c, "/api/v1/items");
    assert_int_equal(jint(j, "total"), 12);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 12);
    assert_int_equal(jint(j, "size"), 20);
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?q=%E6%88%B7%E7%B1%8D"); /* 户籍 */
    assert_int_equal(jint(j, "total"), 3);
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?q=sw-dj");
    assert_int_equal(jint(j, "total"), 1);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(jstr(first, "code"), "SW-DJ-0001");
    assert_string_equal(jstr(first, "name"), "变更税务登记");
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "applicant_types"), 0)),
                        "enterprise");
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?q=100%25");
    assert_int_equal(jint(j, "total"), 0); /* % is a character, not a wildcard */
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?applicant_type=enterprise");
    assert_int_equal(jint(j, "total"), 4);
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?applicant_type=agent");
    assert_int_equal(jint(j, "total"), 5);
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?depth=zero_materials");
    assert_int_equal(jint(j, "total"), 2);
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?category=%E8%AF%81%E6%98%8E&applicant_type=person"); /* 证明 */
    assert_int_equal(jint(j, "total"), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(j, "items"), 0), "code"), "GA-WFZ-0001");
    json_decref(j);
    j = get_ok(&c, "/api/v1/items?size=5&page=3");
    assert_int_equal(jint(j, "total"), 12);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    /* pages do not overlap and cover everything */
    json_t *seen = json_object();
    for (int p = 1; p <= 3; p++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/items?size=5&page=%d", p);
        j = get_ok(&c, path);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(j, "items"), i, x)
        {
            assert_null(json_object_get(seen, jstr(x, "code")));
            json_object_set_new(seen, jstr(x, "code"), json_true());
        }
        json_decref(j);
    }
    assert_int_equal(json_object_size(seen), 12);
    json_decref(seen);
    j = p_want(&c, 400, "GET", "/api/v1/items?size=500&depth=fast&applicant_type=alien", NULL);
    assert_true(names_field(j, "size"));
    assert_true(names_field(j, "depth"));
    assert_true(names_field(j, "applicant_type"));
    json_decref(j);
    /* the guide */
    j = get_ok(&c, "/api/v1/items/GA-HJ-0001");
    assert_string_equal(jstr(j, "name"), "国内婚生婴儿出生登记");
    assert_string_equal(jstr(j, "department_name"), "重庆市公安局渝中区分局");
    assert_null(json_object_get(j, "backend"));
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "form"), "fields")), 8);
    assert_non_null(json_object_get(json_object_get(j, "dictionaries"), "relation"));
    json_t *steps = json_object_get(json_object_get(j, "workflow"), "steps");
    assert_int_equal(json_array_size(steps), 3);
    assert_string_equal(jstr(json_array_get(steps, 2), "name"), "审批");
    assert_null(json_object_get(json_array_get(steps, 0), "role"));
    json_t *rule = json_array_get(json_object_get(j, "rules"), 1);
    assert_string_equal(jstr(rule, "id"), "within_month");
    assert_string_equal(jstr(json_object_get(rule, "check_tree"), "op"), "<=");
    assert_non_null(json_object_get(rule, "when_tree"));
    assert_int_equal(jint(j, "time_limit"), 5);
    assert_string_equal(jstr(j, "depth"), "online");
    json_decref(j);
    j = get_ok(&c, "/api/v1/items/GA-SFZ-0001");
    assert_int_equal(jint(j, "fee_total"), 4000);
    json_decref(j);
    json_decref(p_want(&c, 404, "GET", "/api/v1/items/NO-SUCH-1", NULL));
    /* offline: gone from the catalog and the guide, still in the list */
    const char *off[] = {"items", "offline", "GA-HJ-0001", NULL};
    assert_int_equal(cli(off), 0);
    json_decref(p_want(&c, 404, "GET", "/api/v1/items/GA-HJ-0001", NULL));
    j = get_ok(&c, "/api/v1/items");
    assert_int_equal(jint(j, "total"), 11);
    json_decref(j);
    const char *list[] = {"items", "list", NULL};
    assert_int_equal(cli(list), 0);
    assert_non_null(strstr(out, "GA-HJ-0001"));
    assert_non_null(strstr(out, "offline"));
    const char *on[] = {"items", "online", "GA-HJ-0001", NULL};
    assert_int_equal(cli(on), 0);
    json_decref(get_ok(&c, "/api/v1/items/GA-HJ-0001"));
    const char *none[] = {"items", "offline", "NO-SUCH-1", NULL};
    assert_int_equal(cli(none), 1);
    /* bundles */
    j = get_ok(&c, "/api/v1/bundles");
    assert_int_equal(json_array_size(json_object_get(j, "bundles")), 2);
    json_decref(j);
    j = get_ok(&c, "/api/v1/bundles/BND-NEWBORN");
    assert_string_equal(jstr(j, "name"), "出生一件事");
    json_t *bi = json_object_get(j, "items");
    assert_int_equal(json_array_size(bi), 2);
    assert_string_equal(jstr(json_array_get(bi, 1), "name"), "新生儿城乡居民医保参保登记");
    assert_true(json_is_true(json_object_get(json_array_get(bi, 0), "online")));
    json_decref(j);
    json_decref(p_want(&c, 404, "GET", "/api/v1/bundles/BND-NONE", NULL));
    /* a second import changes nothing */
    import_shipped();
    assert_out_has("nothing changed");
    assert_int_equal(h_stop(&s), 0);
}

/* ---------- versions ---------- */

static void write_item(const char *pack, const char *code, int version, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/items/GA-HJ-0003.json", source_dir());
    json_t *j = json_load_file(path, 0, NULL);
    assert_non_null(j);
    json_object_set_new(j, "code", json_string(code));
    json_object_set_new(j, "version", json_integer(version));
    json_object_set_new(j, "name", json_string(name));
    snprintf(path, sizeof path, "%s/%s.json", pack, code);
    assert_int_equal(json_dump_file(j, path, JSON_INDENT(2)), 0);
    json_decref(j);
}

static void versions_are_immutable(void **state)
{
    (void)state;
    h_fresh(dir, db);
    char pack[512];
    snprintf(pack, sizeof pack, "%s/pack", dir);
    mkdir(pack, 0700);
    const char *imp[] = {"items", "import", pack, NULL};
    write_item(pack, "VT-0001", 1, "版本一");
    assert_int_equal(cli(imp), 0);
    assert_out_has("item VT-0001 version 1 imported, now current");
    /* other bytes under version 1, with a new item beside it: refused, nothing imported */
    write_item(pack, "VT-0001", 1, "版本一（改）");
    write_item(pack, "VT-0002", 1, "新事项");
    assert_int_equal(cli(imp), 1);
    assert_out_has("VT-0001.json: $.version: version 1 of VT-0001 is imported already with other content");
    const char *list[] = {"items", "list", NULL};
    assert_int_equal(cli(list), 0);
    assert_null(strstr(out, "VT-0002"));
    /* version 2 becomes current; version 1 stays readable */
    write_item(pack, "VT-0001", 2, "版本二");
    assert_int_equal(cli(imp), 0);
    assert_out_has("item VT-0001 version 2 imported, now current");
    assert_out_has("item VT-0002 version 1 imported");
    assert_int_equal(cli(list), 0);
    assert_out_has("VT-0001              2 online         2  版本二");
    char err[256];
    store *s = NULL;
    struct store_options o = {2, 5000, 10000};
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    store_conn *c = store_acquire(s);
    assert_non_null(c);
    const struct item *v1, *cur, *again;
    assert_int_equal(item_get(c, "VT-0001", 1, &v1), 0);
    assert_int_equal(v1->version, 1);
    assert_string_equal(v1->name, "版本一");
    assert_int_equal(item_get(c, "VT-0001", 0, &cur), 0);
    assert_int_equal(cur->version, 2);
    assert_string_equal(cur->name, "版本二");
    assert_int_equal(item_get(c, "VT-0001", 1, &again), 0);
    assert_ptr_equal(again, v1); /* cached */
    assert_int_equal(item_get(c, "VT-0001", 3, &again), 1);
    assert_int_equal(item_get(c, "NO-SUCH-1", 0, &again), 1);
    int ver = 0, online = 0;
    assert_int_equal(item_state(c, "VT-0001", &ver, &online), 0);
    assert_int_equal(ver, 2);
    assert_int_equal(online, 1);
    store_release(c);
    store_close(s);
    item_cache_clear();
    /* the import and the refusal are in the audit chain */
    const char *audit[] = {"audit", "search", "--action", "item.*", NULL};
    assert_int_equal(cli(audit), 0);
    assert_out_has("item.import");
    assert_out_has("refused");
}

/* ---------- logged in: the check, administration ---------- */

static void check_and_administration(void **state)
{
    (void)state;
    struct srv s;
    start(&s);
    import_shipped();
    struct admins a;
    p_admins(&s, &a);
    struct hclient person, ent, anon;
    hc_init(&anon, &s);
    p_person(&s, &person, "itemsfan", "1990-05-01");
    p_enterprise(&s, &ent, "itemsco");
    /* a valid birth registration: the applicant's name and mobile come from the profile */
    char body[1024], today[11], late[11];
    calendar_date_format(calendar_today() - 5, today);
    calendar_date_format(calendar_today() - 45, late);
    snprintf(body, sizeof body,
             "{\"form\":{\"child_name\":\"张小宝\",\"child_gender\":\"F\",\"child_birth_date\":\"%s\","
             "\"birth_cert_no\":\"P500123456\",\"hospital\":\"重庆市妇幼保健院\",\"relation\":\"mother\"}}",
             today);
    json_t *j = p_want(&person, 200, "POST", "/api/v1/items/GA-HJ-0001/check", body);
    assert_true(json_is_true(json_object_get(j, "valid")));
    assert_string_equal(jstr(json_object_get(j, "form"), "applicant_name"), "张itemsfan");
    assert_int_equal(strlen(jstr(json_object_get(j, "form"), "applicant_mobile")), 11);
    json_decref(j);
    /* every problem at once */
    snprintf(body, sizeof body,
             "{\"form\":{\"child_gender\":\"X\",\"child_birth_date\":\"%s\",\"birth_cert_no\":\"p1\","
             "\"hospital\":\"医院\",\"relation\":\"mother\",\"pet\":\"cat\"}}",
             late);
    j = p_want(&person, 422, "POST", "/api/v1/items/GA-HJ-0001/check", body);
    assert_string_equal(jstr(json_object_get(j, "error"), "code"), "validation_failed");
    assert_true(names_field(j, "form.child_name"));
    assert_true(names_field(j, "form.child_gender"));
    assert_true(names_field(j, "form.child_birth_date"));
    assert_true(names_field(j, "form.birth_cert_no"));
    assert_true(names_field(j, "form.pet"));
    assert_false(names_field(j, "form.relation"));
    json_decref(j);
    json_decref(p_want(&person, 422, "POST", "/api/v1/items/GA-HJ-0001/check", "{\"child_name\":\"x\"}"));
    json_decref(p_want(&person, 404, "POST", "/api/v1/items/NO-SUCH-1/check", "{\"form\":{}}"));
    /* an enterprise item: not for a person; the enterprise's credit code is the default */
    j = p_want(&person, 403, "POST", "/api/v1/items/SW-ZM-0001/check", "{\"form\":{}}");
    assert_true(names_field(j, "applicant.kind"));
    json_decref(j);
    char d1[11], d2[11];
    calendar_date_format(calendar_today() - 100, d1);
    calendar_date_format(calendar_today() - 1, d2);
    snprintf(body, sizeof body,
             "{\"form\":{\"tax_type\":\"vat\",\"period_from\":\"%s\",\"period_to\":\"%s\"}}", d1, d2);
    j = p_want(&ent, 200, "POST", "/api/v1/items/SW-ZM-0001/check", body);
    assert_int_equal(strlen(jstr(json_object_get(j, "form"), "credit_code")), 18);
    json_decref(j);
    long st;
    j = hc_json(&anon, "POST", "/api/v1/items/GA-HJ-0001/check", "{\"form\":{}}", &st);
    assert_int_equal(st, 401);
    json_decref(j);
    /* administration: item.manage is the system administrator's */
    json_decref(p_want(&person, 403, "GET", "/api/v1/admin/items", NULL));
    json_decref(p_want(&person, 403, "POST", "/api/v1/admin/items/GA-HJ-0001/offline", "{}"));
    json_decref(p_want(&a.sec, 403, "POST", "/api/v1/admin/items/GA-HJ-0001/offline", "{}"));
    j = p_want(&a.sys, 200, "GET", "/api/v1/admin/items", NULL);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 12);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    assert_int_equal(json_array_size(json_object_get(first, "versions")), 1);
    assert_int_equal(strlen(jstr(json_array_get(json_object_get(first, "versions"), 0), "sm3")), 64);
    json_decref(j);
    j = p_want(&a.sys, 200, "POST", "/api/v1/admin/items/GA-HJ-0001/offline", "{}");
    assert_true(json_is_false(json_object_get(j, "online")));
    json_decref(j);
    json_decref(p_want(&anon, 404, "GET", "/api/v1/items/GA-HJ-0001", NULL));
    json_decref(p_want(&person, 404, "POST", "/api/v1/items/GA-HJ-0001/check", "{\"form\":{}}"));
    j = p_want(&a.sys, 200, "GET", "/api/v1/admin/items", NULL);
    size_t i;
    json_t *x;
    int found = 0;
    json_array_foreach(json_object_get(j, "items"), i, x) if (!strcmp(jstr(x, "code"), "GA-HJ-0001"))
    {
        found = 1;
        assert_true(json_is_false(json_object_get(x, "online")));
    }
    assert_true(found);
    json_decref(j);
    json_decref(p_want(&a.sys, 404, "POST", "/api/v1/admin/items/NO-SUCH-1/online", "{}"));
    json_decref(p_want(&a.sys, 200, "POST", "/api/v1/admin/items/GA-HJ-0001/online", "{}"));
    json_decref(get_ok(&anon, "/api/v1/items/GA-HJ-0001"));
    /* both changes are audited, in the system administrator's name */
    j = p_want(&a.aud, 200, "GET", "/api/v1/audit?action=item.*", NULL);
    int offline = 0, online_n = 0;
    json_array_foreach(json_object_get(j, "records"), i, x)
    {
        if (!strcmp(jstr(x, "action"), "item.offline") && !strcmp(jstr(x, "object"), "GA-HJ-0001")) offline++;
        if (!strcmp(jstr(x, "action"), "item.online") && !strcmp(jstr(x, "object"), "GA-HJ-0001")) online_n++;
    }
    if (offline != 1 || online_n != 1) fail_msg("audit: %s", json_dumps(j, 0));
    json_decref(j);
    /* the departments and roles of org.json exist; the roles hold the case permissions */
    assert_true(p_dept_id(&a.sys, "PSB-YZ-HJ") > 0);
    j = p_want(&a.sec, 200, "GET", "/api/v1/admin/roles", NULL);
    found = 0;
    json_array_foreach(json_object_get(j, "roles"), i, x) if (!strcmp(jstr(x, "code"), "hj_clerk"))
    {
        found = 1;
        assert_true(json_is_true(json_object_get(x, "intact")));
        assert_string_equal(jstr(x, "scope"), "dept");
        assert_int_equal(json_array_size(json_object_get(x, "permissions")), 2);
    }
    assert_true(found);
    json_decref(j);
    /* staff with the imported role log in (its MAC holds) */
    struct hclient clerk;
    p_staff(&s, &a, &clerk, "hjclerk", p_dept_id(&a.sys, "PSB-YZ-HJ"), "hj_clerk");
    j = p_want(&clerk, 200, "GET", "/api/v1/session", NULL);
    char *t = json_dumps(j, 0);
    assert_non_null(strstr(t, "case.handle"));
    free(t);
    json_decref(j);
    assert_int_equal(h_stop(&s), 0);
}

/* GET /api/v1/admin/calendar/{year}: the system administrator sees a year's overrides and
 * the working days per month, which agree with `ehall calendar show`; others are refused. */
static void calendar_year_for_administrators(void **state)
{
    (void)state;
    struct srv s;
    start(&s);
    char path[512];
    snprintf(path, sizeof path, "%s/calendar/2026.json", source_dir());
    const char *imp[] = {"calendar", "import", path, NULL};
    if (cli(imp) != 0) fail_msg("calendar import failed:\n%s", out);
    struct admins a;
    p_admins(&s, &a);
    json_t *j = p_want(&a.sys, 200, "GET", "/api/v1/admin/calendar/2026", NULL);
    assert_int_equal(jint(j, "year"), 2026);
    assert_true(json_is_true(json_object_get(j, "imported")));
    assert_non_null(strstr(jstr(j, "source"), "2026"));
    assert_int_equal(strlen(jstr(j, "sm3")), 64);
    json_t *days = json_object_get(j, "days");
    assert_true(json_array_size(days) > 20);
    json_t *first = json_array_get(days, 0);
    assert_string_equal(jstr(first, "day"), "2026-01-01");
    assert_string_equal(jstr(first, "kind"), "holiday");
    assert_int_equal(jint(first, "weekday"), 4);
    int workdays = 0, total = 0;
    size_t i;
    json_t *d;
    json_array_foreach(days, i, d) workdays += strcmp(jstr(d, "kind"), "workday") == 0;
    assert_true(workdays >= 5);
    /* every month agrees with the CLI's count */
    const char *show[] = {"calendar", "show", "2026", NULL};
    assert_int_equal(cli(show), 0);
    json_t *months = json_object_get(j, "months");
    assert_int_equal(json_array_size(months), 12);
    json_array_foreach(months, i, d)
    {
        char want[64];
        snprintf(want, sizeof want, "2026-%02d  %2lld of %2lld days", (int)i + 1, jint(d, "working_days"),
                 jint(d, "days"));
        assert_out_has(want);
        total += (int)jint(d, "working_days");
    }
    assert_int_equal(jint(j, "working_days"), total);
    char want[32];
    snprintf(want, sizeof want, "total    %d", total);
    assert_out_has(want);
    json_decref(j);
    /* a year never imported: the weekend rule, said so */
    j = p_want(&a.sys, 200, "GET", "/api/v1/admin/calendar/2031", NULL);
    assert_false(json_is_true(json_object_get(j, "imported")));
    assert_int_equal(json_array_size(json_object_get(j, "days")), 0);
    assert_true(json_is_null(json_object_get(j, "source")));
    assert_int_equal(jint(json_array_get(json_object_get(j, "months"), 0), "working_days"), 23);
    json_decref(j);
    /* not a year */
    json_decref(p_want(&a.sys, 404, "GET", "/api/v1/admin/calendar/999", NULL));
    json_decref(p_want(&a.sys, 404, "GET", "/api/v1/admin/calendar/20x6", NULL));
    json_decref(p_want(&a.sys, 404, "GET", "/api/v1/admin/calendar/12026", NULL));
    /* the other administrators do not hold the permission */
    json_decref(p_want(&a.sec, 403, "GET", "/api/v1/admin/calendar/2026", NULL));
    json_decref(p_want(&a.aud, 403, "GET", "/api/v1/admin/calendar/2026", NULL));
    h_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(validate_names_every_problem),
        cmocka_unit_test(shipped_pack_is_clean),
        cmocka_unit_test(check_form_reports_everything),
        cmocka_unit_test(catalog_search_filters_and_pages),
        cmocka_unit_test(versions_are_immutable),
        cmocka_unit_test(check_and_administration),
        cmocka_unit_test(calendar_year_for_administrators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
