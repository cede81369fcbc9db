/*
 * item — service items (事项) as data: parsing, validating and compiling an item
 * definition (items/<CODE>.json, format in docs/items.md), checking an applicant's
 * form against it, and reading items from the database through a process-wide cache.
 *
 * This is the API the case engine codes against.  A `struct item` is immutable once
 * loaded: every field below is read-only, every string lives as long as the item, and
 * the compiled rules are kept in it, so one item may be used from many threads at once
 * and checking a form never recompiles anything.
 *
 * Versions.  An item code has numbered versions; a version never changes once
 * imported (`ehall items import` refuses other bytes under a used version), so a case
 * keeps the version it was submitted under and item_get(c, code, case_version) gives
 * exactly the rules it was checked against.  Which version is current, and whether the
 * item is online, lives in the `item` table and is read fresh on every item_state() /
 * item_get(…, 0, …) call.
 *
 * Errors of a form are {"field": "form.child_birth_date", "message": "…"} objects (the
 * field path a rule names, or "form.<field>"; "form" for the form as a whole), the same
 * shape http_field_error builds, so a handler can pass them to http_reply_error.
 */
#ifndef EHALL_ITEM_H
#define EHALL_ITEM_H

#include <jansson.h>
#include <stddef.h>

#include "calendar/calendar.h"
#include "http/http.h"
#include "store/store.h"

struct strbuf;
struct principal;
struct rules_expr;

/* ---- the definition ---- */

/* applicant_types, as a bit set */
enum item_applicant { ITEM_PERSON = 1, ITEM_ENTERPRISE = 2, ITEM_AGENT = 4 };

/* Workflow actions, as a bit set in item_step.actions. */
enum item_action {
    ITEM_ACT_ACCEPT = 1 << 0,     /* 受理: the first step takes the case */
    ITEM_ACT_NOT_ACCEPT = 1 << 1, /* 不予受理, with a reason (first step) */
    ITEM_ACT_SUPPLEMENT = 1 << 2, /* 补正: ask the applicant for something missing */
    ITEM_ACT_PASS = 1 << 3,       /* to the next step (not on the last step) */
    ITEM_ACT_RETURN = 1 << 4,     /* back to the previous step (not on the first) */
    ITEM_ACT_TRANSFER = 1 << 5,   /* to another handler in the same step */
    ITEM_ACT_APPROVE = 1 << 6,    /* 准予 (last step) */
    ITEM_ACT_REFUSE = 1 << 7,     /* 不予许可 (last step) */
};
/* The bit for an action name ("accept" …), or 0 when unknown. */
unsigned item_action_bit(const char *name);
/* The name of a single action bit, or NULL. */
const char *item_action_name(unsigned bit);

enum item_field_type {
    ITEM_F_STRING,    /* one line of text */
    ITEM_F_TEXT,      /* free text, line breaks allowed */
    ITEM_F_INTEGER,   /* a JSON integer */
    ITEM_F_FEN,       /* money: a JSON integer number of fen */
    ITEM_F_DATE,      /* "YYYY-MM-DD" */
    ITEM_F_BOOLEAN,   /* true / false */
    ITEM_F_ENUM,      /* a code of the item's dictionary `dict` */
    ITEM_F_ID_NUMBER, /* GB 11643 citizen ID number */
    ITEM_F_USCC,      /* GB 32100 unified social credit code */
    ITEM_F_MOBILE,    /* 1[3-9] and 9 digits */
};
const char *item_field_type_name(enum item_field_type t);

struct item_field {
    const char *name;  /* [a-z][a-z0-9_]* */
    const char *label; /* may be NULL */
    enum item_field_type type;
    int required;
    long long min_length, max_length; /* characters; -1 when not set (string, text) */
    int has_min, has_max;             /* integer, fen */
    long long min, max;
    const char *pattern;             /* rules matches() pattern, or NULL (string, text) */
    struct rules_expr *pattern_expr; /* matches(form.<name>, pattern), compiled */
    const char *dict;                /* enum: the dictionary's name */
    const char *def;                 /* "profile.name" …, or NULL: filled from the applicant when absent */
};

struct item_rule {
    const char *id, *check, *when, *message; /* when may be NULL */
    const char **fields;                     /* the field paths it reports ("form.x") */
    size_t nfields;
    struct rules_expr *check_expr, *when_expr; /* compiled (when_expr NULL when no when) */
};

struct item_material {
    const char *id, *name;
    int required;
    unsigned types; /* bit set over item_material_type_names() order */
    long long max_size;
    int max_count;
};
/* "pdf","jpeg","png","gif","webp","ofd","zip": bit i of item_material.types is names[i]. */
const char *const *item_material_type_names(size_t *n);

struct item_fee {
    const char *name;
    long long fen;
};

struct item_step {
    const char *id, *name;
    const char *role;       /* a role code */
    const char *department; /* a department code */
    unsigned actions;       /* enum item_action bits */
    int time_limit;         /* working days */
};

struct item {
    const char *code;
    int version;
    const char *name, *name_en; /* name_en may be NULL */
    const char *department;     /* owning department's code */
    const char *category;
    unsigned applicant_types; /* enum item_applicant bits */
    const char *depth;        /* online | one_visit | zero_materials | cross_province */
    int time_limit;           /* promised working days (0: on the spot) */
    int notify_sms;
    const char *backend;   /* connector name */
    const char *limit_key; /* a rules path ("form.dog_tag"), or NULL when there is no limit */
    int limit_window_days;
    const char *output_licence; /* e-licence type to issue, or NULL */
    int output_mailing;

    struct item_material *materials;
    size_t nmaterials;
    struct item_fee *fees;
    size_t nfees;
    struct item_field *fields;
    size_t nfields;
    struct item_rule *rules;
    size_t nrules;
    struct item_step *steps;
    size_t nsteps;

    json_t *def;          /* the whole definition as parsed (borrowed: do not change) */
    json_t *dictionaries; /* def's "dictionaries" object, or an empty object */
    char sm3[65];         /* SM3 of the file's bytes, hex */
};

/* ---- loading ---- */

/* Parse, validate and compile one definition.  file is the file name used in problem
 * lines and compared with the code ("GA-HJ-0001.json"; NULL skips that check).  On
 * success returns 0 and *out (free with item_free).  Otherwise returns the number of
 * problems (> 0), each appended to problems (may be NULL) as one line
 * "FILE: $.json.path: what is wrong\n", and *out is NULL.  -1 when out of memory. */
int item_load(const char *text, size_t len, const char *file, struct item **out, struct strbuf *problems);
void item_free(struct item *it);

/* Lookups in a loaded item (NULL when there is none). */
const struct item_field *item_field(const struct item *it, const char *name);
const struct item_step *item_step(const struct item *it, const char *id);
const struct item_material *item_material(const struct item *it, const char *id);
/* The index of a step (0-based), -1 when unknown; the first and last steps are
 * it->steps[0] and it->steps[it->nsteps - 1]. */
int item_step_index(const struct item *it, const char *id);
/* 1 when the step allows the action (by name). */
int item_step_allows(const struct item_step *s, const char *action);
/* 1 when an applicant of kind ("person", "enterprise", "agent") may apply. */
int item_accepts(const struct item *it, const char *kind);
/* Sum of fees in fen. */
long long item_fee_total(const struct item *it);
/* A dictionary's label for code, or NULL. */
const char *item_dict_label(const struct item *it, const char *dict, const char *code);

/* ---- checking a form ---- */

/* Check form (an object, changed in place: a field with a "default" that the form
 * lacks gets the applicant's value, when there is one) for applicant (the object
 * item_applicant_json gives; may be NULL), against every field and then every rule.
 * Unknown keys are refused.  Rules see form.<field>, applicant.<key>, the item's
 * dictionaries (in_dict, dict()) and cal's working days (NULL: Monday to Friday); a
 * rule whose `when` is false is skipped; a rule that is false or cannot be evaluated
 * appends its message for each of its fields.  Every problem is appended to errors
 * (a JSON array) as {"field","message"}.  Returns 0 valid, 1 invalid, -1 on bad
 * arguments (form not an object) or out of memory. */
int item_check_form(const struct item *it, json_t *form, json_t *applicant, calendar *cal, json_t *errors);

/* The limit key's value for a form ("form.dog_tag" → the tag's text), as text in buf;
 * NULL when the item has no limit or the form has no value there. */
const char *item_limit_value(const struct item *it, json_t *form, char *buf, size_t len);

/* The applicant profile rules and defaults see, for the caller p:
 *   {"kind","name","id_number","mobile","address","credit_code","enterprise_name","age"}
 * with the keys that are known (personal data unsealed; age in full years from the
 * ID number; credit_code and enterprise_name from the enterprise the account belongs
 * to or acts for).  New reference; NULL when the account cannot be read. */
json_t *item_applicant_json(store_conn *c, const struct principal *p);

/* ---- the catalog in the database (item_api.c) ---- */

/* Cached item (code, version); version 0 means the current version.  Returns 0 and
 * *out (owned by the cache: valid until the process ends, never free it), 1 when there
 * is no such item or version, or a STORE_* code < 0.  Online or not is not checked:
 * a case under an offline item still needs its item — see item_state. */
int item_get(store_conn *c, const char *code, int version, const struct item **out);
/* The current version and online flag of code, read fresh: 0, or 1 when there is no
 * such item, or a STORE_* code < 0. */
int item_state(store_conn *c, const char *code, int *current_version, int *online);
/* Drop every cached item (tests; a process that re-imports). */
void item_cache_clear(void);

/* Import or validate a pack directory (DIR/<CODE>.json items, DIR/bundles/<CODE>.json,
 * DIR/testdata/<CODE>.json, DIR/org.json).  Every problem goes to problems as a line.
 * item_pack_validate returns the number of problems (0: clean), -1 when the
 * directory cannot be read.  item_pack_import validates first and imports nothing
 * when anything is wrong (returns the number of problems); otherwise imports in one
 * transaction, describing each change in report, and returns 0, or a STORE_* code
 * < 0 (nothing imported).  actor is the audit actor ("system:<user>"). */
int item_pack_validate(const char *dir, struct strbuf *problems);
int item_pack_import(store *s, const char *dir, const char *actor, struct strbuf *problems,
                     struct strbuf *report);

/* Testdata relative dates: every string "@today", "@today-N" or "@today+N" inside v
 * (recursively) is replaced by the date today ± N days as YYYY-MM-DD. */
void item_resolve_dates(json_t *v, int today);

/* Inside the caller's write transaction (which also writes the audit record): set
 * an item online (1) or offline (0).  0 done, 1 no such item, STORE_* < 0. */
int item_set_online(store_conn *c, const char *code, int online);

/* ---- HTTP handlers (item_api.c; their routes are in src/api/routes.c) ---- */
int item_api_list(http_req *r);       /* GET  /api/v1/items */
int item_api_guide(http_req *r);      /* GET  /api/v1/items/{code} */
int item_api_check(http_req *r);      /* POST /api/v1/items/{code}/check */
int item_api_admin_list(http_req *r); /* GET  /api/v1/admin/items */
int item_api_online(http_req *r);     /* POST /api/v1/admin/items/{code}/online */
int item_api_offline(http_req *r);    /* POST /api/v1/admin/items/{code}/offline */
int item_api_validate(http_req *r);   /* POST /api/v1/admin/items/validate */
int item_api_bundles(http_req *r);    /* GET  /api/v1/bundles */
int item_api_bundle(http_req *r);     /* GET  /api/v1/bundles/{code} */

#endif
