/*
 * rules — the small expression language of service-item rules (eligibility and
 * cross-field checks).  docs/rules.md teaches it to item authors; this is the exact
 * definition.  The browser has a twin that must give the same answers:
 * tests/rules_vectors.json holds the cases both run.
 *
 * An expression is compiled once (rules_compile) and evaluated many times
 * (rules_eval) against an environment of callbacks: field lookup, dictionary
 * membership, the working-day calendar and today's date.  Nothing is global; the
 * compiled tree is read-only, so one may be evaluated from many threads at once.
 *
 * VALUES
 *   integer  64-bit signed.  Money is integer fen.  Overflow is an error.
 *   string   UTF-8 bytes.  Compared bytewise; len() counts characters.
 *   boolean  true, false.
 *   date     a day, YYYY-MM-DD, proleptic Gregorian, years 0001-9999, no time zone.
 *   null     an absent field (or the literal null).
 *   list     of strings and integers, from a literal ["a", "b", 3] or a field; nothing
 *            but `in` takes one.
 *
 * LITERALS   123   -5   "text" (escapes \" and \\ only)   true   false   null
 *            date("2026-01-31")   ["a", "b"]   (list items: string or integer literals)
 *
 * FIELDS     applicant.id_number, child.birth_date: one or more names of letters,
 *            digits and '_' (not starting with a digit) joined by '.', passed whole to
 *            the lookup callback.  The words and, or, not, in, true, false, null, if
 *            are reserved.  A field the lookup does not know is null.
 *
 * OPERATORS, loosest first (all binary ones left-associative; comparisons do not chain)
 *   or                        a or b: b is evaluated only when a is false
 *   and                       a and b: b is evaluated only when a is true
 *   not                       not a
 *   == != < <= > >=  in  not in
 *   + -                       int + int, string + string (concatenation); int - int
 *   * / %                     int only; / truncates toward zero, % takes the sign of
 *                             the dividend; dividing by 0 is an error
 *   - (unary)                 int only
 *   ( )  f(...)  if(c, a, b)  if evaluates c (a boolean), then only a or only b
 * and, or, not and if require booleans.  == and != accept any two values of the same
 * type and anything against null (x == null is true only when x is null); < <= > >=
 * take int/int, string/string or date/date.  Where one side is a date and the other a
 * string, the string is read as YYYY-MM-DD (an error if it is not one).  Otherwise
 * mixing types is an error: 1 == "1" is an error, not false.
 * `v in list` is true when an item of the same type equals v (v: int or string);
 * `v in dict("name")` asks the dictionary callback; `not in` is the negation.
 *
 * FUNCTIONS (a wrong number of arguments is a compile error; a wrong type, or null, an
 * evaluation error).  Wherever a date is expected a "YYYY-MM-DD" string is accepted.
 *   len(s) characters          upper(s) lower(s) ASCII letters only     trim(s) ASCII space
 *   starts_with(s, p)  ends_with(s, p)  contains(s, p)                  → boolean
 *   is_digits(s)  is_alnum(s)  true for one or more ASCII digits / letters or digits
 *   matches(s, pattern)       a safe regular-expression subset, linear in s (pattern.c):
 *                             literals, \c, ., [a-z0-9] [^…], ? * + {n} {m,n} {m,}
 *                             (n <= 100), ^ first and $ last; no groups, no |; code
 *                             points, not bytes; unanchored it matches anywhere.  A bad
 *                             literal pattern is a compile error.  Costs
 *                             len(s) x states / 64 steps
 *   date(s)                   a string to a date (error when not a real YYYY-MM-DD)
 *   today()                   from the environment's clock
 *   add_days(d, n)  days_between(a, b) = b - a in days  year(d) month(d) day(d)
 *   add_working_days(d, n)    the n-th working day after d (n < 0: before; 0: d)
 *   working_days_between(a, b)  the working days in (a, b]; when b < a, minus those
 *                             in (b, a]  (each day looked at costs a step)
 *   age(id)  age_at(id, d)    full years at today / at d since the birth date in a valid
 *                             GB 11643 ID number; one born 29 February turns a year
 *                             older on 1 March in common years; d before birth: error
 *   birth_date(id)  gender(id) "M" or "F"    (an invalid ID number is an error; as
 *                             auth_id_number_check says, a birth date after the system
 *                             clock's today is invalid, whatever the env's today)
 *   id_valid(s)  uscc_valid(s)  → boolean (auth_id_number_check, auth_uscc_check)
 *   fen(s)                    "12.34" → 1234, "12" → 1200, "-0.5" → -50; at most two
 *                             decimals; anything else is an error
 *   in_dict(v, "name")        the same as v in dict("name")
 *
 * LIMITS  Sources over 4096 bytes, or nesting deeper than 64 (every operator, call,
 * list and pair of parentheses is a level), do not compile.  Evaluation stops with an
 * error after max_steps steps (default 10,000; each node is a step, each day a
 * working-day function looks at is a step, string work costs a step per 64 bytes) and
 * when a string would exceed 65,536 bytes.  There are no loops, no recursion, no
 * assignments and no side effects; every failure is an error message, never a crash.
 *
 * ERRORS  Messages start "column N: " where N counts characters (not bytes) from 1.
 */
#ifndef EHALL_RULES_H
#define EHALL_RULES_H

#include <stddef.h>

#define RULES_MAX_SOURCE    4096
#define RULES_MAX_DEPTH     64
#define RULES_DEFAULT_STEPS 10000
#define RULES_MAX_STRING    65536

struct rules_expr;
struct rules_arena;

enum rules_type { RULES_NULL, RULES_BOOL, RULES_INT, RULES_STRING, RULES_DATE, RULES_LIST };

struct rules_value {
    enum rules_type type;
    union {
        int b;       /* RULES_BOOL: 0 or 1 */
        long long i; /* RULES_INT */
        long long d; /* RULES_DATE: days since 1970-01-01 */
        struct {
            const char *s; /* not NUL-terminated in general */
            size_t len;
        } str;
        struct {
            const struct rules_value *items; /* RULES_STRING or RULES_INT each */
            size_t n;
        } list;
    };
    struct rules_arena *arena; /* a result owns its memory; rules_value_free releases it */
};

struct rules_env {
    void *ctx; /* passed to every callback */
    /* Fill *out for the dotted path and return 0 (set RULES_NULL for an absent field),
     * or return -1 when the field holds something rules cannot use.  Strings and
     * lists must stay valid until rules_eval returns (the result keeps copies); memory
     * for them may be taken from the evaluation with rules_arena_alloc.  NULL: every
     * field is null. */
    int (*lookup)(void *ctx, const char *path, struct rules_value *out, struct rules_arena *arena);
    /* 1 when v is in the named dictionary, 0 when not, -1 when there is no such
     * dictionary.  NULL: every dictionary is unknown. */
    int (*in_dict)(void *ctx, const char *dict, const struct rules_value *v);
    /* 1 when the day is a working day.  NULL: Monday to Friday. */
    int (*is_working_day)(void *ctx, int year, int month, int day);
    /* Today's date; return 0.  NULL: the local date of the system clock. */
    int (*today)(void *ctx, int *year, int *month, int *day);
    long max_steps; /* 0: RULES_DEFAULT_STEPS */
};

/* Compile src (NUL-terminated).  0 and *out, or -1 with "column N: why" in err. */
int rules_compile(const char *src, struct rules_expr **out, char *err, size_t errlen);
void rules_free(struct rules_expr *e);

/* Evaluate.  0 with *out (free it with rules_value_free), or -1 with "column N: why"
 * in err and *out null.  env may be NULL (no fields, Monday-Friday, system clock). */
int rules_eval(const struct rules_expr *e, const struct rules_env *env, struct rules_value *out, char *err,
               size_t errlen);
void rules_value_free(struct rules_value *v);

/* A boolean rule: 1 true, 0 false, -1 an error or a result that is not a boolean. */
int rules_check(const struct rules_expr *e, const struct rules_env *env);

/* Memory that lives as long as the evaluation's result (for lookup callbacks).
 * NULL when out of memory or over the evaluation's limit. */
void *rules_arena_alloc(struct rules_arena *a, size_t n);

/* A lookup over a jansson object (ctx is the json_t *): "a.b" is root["a"]["b"].
 * JSON null or absent → null; true/false → boolean; an integer → integer (a number
 * with a fraction or exponent is refused: -1); a string → string (it stays a string:
 * use date(field), or a date function or a comparison with a date, to read it as a
 * date); an array of strings and integers → list; an object → refused. */
int rules_json_lookup(void *ctx, const char *path, struct rules_value *out, struct rules_arena *arena);

/* The compiled tree as JSON, for tests and the browser twin (a json_t *, new
 * reference; NULL when out of memory):
 *   {"int":5} {"str":"x"} {"bool":true} {"null":true} {"date":"2026-01-31"}
 *   {"list":["a",1]} {"field":"a.b"} {"dict":"name"}
 *   {"op":"+","args":[l,r]}  op: or and not neg == != < <= > >= in "not in" + - * / % if
 *   {"call":"age","args":[...]} */
void *rules_to_json(const struct rules_expr *e);

/* Format a date (days since 1970-01-01) as YYYY-MM-DD into buf (11 bytes);
 * parse "YYYY-MM-DD" (exactly) into days: 0, or -1 when it is not a real date. */
void rules_date_format(long long days, char buf[11]);
int rules_date_parse(const char *s, size_t len, long long *days);

#endif
