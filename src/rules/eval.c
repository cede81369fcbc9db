/*
 * eval.c — evaluation of compiled rules: a recursive walk over a tree no deeper than
 * RULES_MAX_DEPTH, counting steps, with every intermediate string and list in a
 * per-evaluation arena.  Integer arithmetic goes through the overflow builtins, so
 * no input reaches undefined behaviour.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "auth/auth.h"
#include "rules/internal.h"

#define ARENA_MAX (8u << 20) /* bytes one evaluation may allocate */

struct rules_arena {
    void *head; /* each block starts with the pointer to the previous one */
    size_t used;
};

void *rules_arena_alloc(struct rules_arena *a, size_t n)
{
    if (!a || n > ARENA_MAX || a->used + n > ARENA_MAX) return NULL;
    void **b = malloc(sizeof(void *) + (n ? n : 1));
    if (!b) return NULL;
    b[0] = a->head;
    a->head = b;
    a->used += n;
    return b + 1;
}

static void arena_free(struct rules_arena *a)
{
    if (!a) return;
    void *b = a->head;
    while (b) {
        void *prev = *(void **)b;
        free(b);
        b = prev;
    }
    free(a);
}

void rules_value_free(struct rules_value *v)
{
    if (!v) return;
    arena_free(v->arena);
    memset(v, 0, sizeof *v);
    v->type = RULES_NULL;
}

struct ev {
    const struct rules_env *env;
    struct rules_arena *arena;
    long steps, max_steps;
    char *err;
    size_t errlen;
    int failed;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
efail(struct ev *ev, const struct rules_expr *n, const char *fmt, ...)
{
    if (ev->failed) return -1;
    ev->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ev->errlen) snprintf(ev->err, ev->errlen, "column %d: %s", n->col, msg);
    return -1;
}

static const char *type_name(enum rules_type t)
{
    static const char *const names[] = {"null", "boolean", "integer", "string", "date", "list"};
    return (unsigned)t < 6 ? names[t] : "?";
}

static int tick(struct ev *ev, const struct rules_expr *n, long cost)
{
    if (cost > ev->max_steps - ev->steps) {
        ev->steps = ev->max_steps;
        return efail(ev, n, "the rule takes more than %ld steps", ev->max_steps);
    }
    ev->steps += cost;
    return 0;
}

static const long long MIN_DAY = -719162; /* 0001-01-01 */
static const long long MAX_DAY = 2932896; /* 9999-12-31 */

static void set_int(struct rules_value *v, long long i)
{
    v->type = RULES_INT;
    v->i = i;
}
static void set_bool(struct rules_value *v, int b)
{
    v->type = RULES_BOOL;
    v->b = !!b;
}
static void set_date(struct rules_value *v, long long d)
{
    v->type = RULES_DATE;
    v->d = d;
}
static void set_str(struct rules_value *v, const char *s, size_t len)
{
    v->type = RULES_STRING;
    v->str.s = s;
    v->str.len = len;
}

static int eval(struct ev *ev, const struct rules_expr *n, struct rules_value *out);

static int want(struct ev *ev, const struct rules_expr *n, const char *what, const struct rules_value *v,
                enum rules_type t)
{
    if (v->type == t) return 0;
    return efail(ev, n, "%s takes %s %s, not %s", what, t == RULES_INT ? "an" : "a", type_name(t),
                 type_name(v->type));
}

static int to_date(struct ev *ev, const struct rules_expr *n, const char *what, const struct rules_value *v,
                   long long *d)
{
    if (v->type == RULES_DATE) {
        *d = v->d;
        return 0;
    }
    if (v->type == RULES_STRING) {
        if (rules_date_parse(v->str.s, v->str.len, d) == 0) return 0;
        return efail(ev, n, "%s: \"%.*s\" is not a real date in YYYY-MM-DD form", what,
                     (int)(v->str.len > 40 ? 40 : v->str.len), v->str.s);
    }
    return efail(ev, n, "%s takes a date, not %s", what, type_name(v->type));
}

static int date_ok(struct ev *ev, const struct rules_expr *n, long long d)
{
    if (d < MIN_DAY || d > MAX_DAY) return efail(ev, n, "the date falls outside the years 0001-9999");
    return 0;
}

/* ---- comparisons ---- */

static int compare(struct ev *ev, const struct rules_expr *n, int op, const struct rules_value *a,
                   const struct rules_value *b, struct rules_value *out)
{
    const char *opn = rules_op_names[op];
    if (op == OP_EQ || op == OP_NE) {
        if (a->type == RULES_NULL || b->type == RULES_NULL) {
            set_bool(out, (a->type == b->type) == (op == OP_EQ));
            return 0;
        }
    } else if (a->type == RULES_NULL || b->type == RULES_NULL) {
        return efail(ev, n, "%s cannot compare null (an absent field)", opn);
    }
    int c;
    if (a->type == RULES_DATE || b->type == RULES_DATE) {
        long long x, y;
        if ((a->type != RULES_DATE && a->type != RULES_STRING) ||
            (b->type != RULES_DATE && b->type != RULES_STRING))
            return efail(ev, n, "%s cannot compare %s with %s", opn, type_name(a->type), type_name(b->type));
        if (to_date(ev, n, opn, a, &x) || to_date(ev, n, opn, b, &y)) return -1;
        c = (x > y) - (x < y);
    } else if (a->type != b->type) {
        return efail(ev, n, "%s cannot compare %s with %s", opn, type_name(a->type), type_name(b->type));
    } else if (a->type == RULES_INT) {
        c = (a->i > b->i) - (a->i < b->i);
    } else if (a->type == RULES_STRING) {
        size_t m = a->str.len < b->str.len ? a->str.len : b->str.len;
        if (tick(ev, n, (long)(m / 64))) return -1;
        c = m ? memcmp(a->str.s, b->str.s, m) : 0;
        c = c ? (c > 0) - (c < 0) : (a->str.len > b->str.len) - (a->str.len < b->str.len);
    } else if (a->type == RULES_BOOL && (op == OP_EQ || op == OP_NE)) {
        c = a->b != b->b;
    } else {
        return efail(ev, n, "%s cannot compare %s values", opn, type_name(a->type));
    }
    int r = 0;
    switch (op) {
    case OP_EQ: r = c == 0; break;
    case OP_NE: r = c != 0; break;
    case OP_LT: r = c < 0; break;
    case OP_LE: r = c <= 0; break;
    case OP_GT: r = c > 0; break;
    case OP_GE: r = c >= 0; break;
    }
    set_bool(out, r);
    return 0;
}

static int arith(struct ev *ev, const struct rules_expr *n, int op, const struct rules_value *a,
                 const struct rules_value *b, struct rules_value *out)
{
    const char *opn = rules_op_names[op];
    if (op == OP_ADD && a->type == RULES_STRING && b->type == RULES_STRING) {
        size_t len = a->str.len + b->str.len;
        if (len > RULES_MAX_STRING)
            return efail(ev, n, "the string would be longer than %d bytes", RULES_MAX_STRING);
        if (tick(ev, n, (long)(len / 64))) return -1;
        char *s = rules_arena_alloc(ev->arena, len + 1);
        if (!s) return efail(ev, n, "out of memory");
        if (a->str.len) memcpy(s, a->str.s, a->str.len);
        if (b->str.len) memcpy(s + a->str.len, b->str.s, b->str.len);
        s[len] = 0;
        set_str(out, s, len);
        return 0;
    }
    if (a->type != RULES_INT || b->type != RULES_INT) {
        if (op == OP_ADD && (a->type == RULES_STRING || b->type == RULES_STRING))
            return efail(ev, n, "+ joins two strings or adds two integers, not %s and %s", type_name(a->type),
                         type_name(b->type));
        return efail(ev, n, "%s takes integers, not %s and %s", opn, type_name(a->type), type_name(b->type));
    }
    long long r = 0;
    int over = 0;
    switch (op) {
    case OP_ADD: over = __builtin_add_overflow(a->i, b->i, &r); break;
    case OP_SUB: over = __builtin_sub_overflow(a->i, b->i, &r); break;
    case OP_MUL: over = __builtin_mul_overflow(a->i, b->i, &r); break;
    case OP_DIV:
    case OP_MOD:
        if (b->i == 0) return efail(ev, n, "division by zero");
        if (a->i == LLONG_MIN && b->i == -1) {
            if (op == OP_DIV) over = 1;
            r = 0;
        } else {
            r = op == OP_DIV ? a->i / b->i : a->i % b->i;
        }
        break;
    }
    if (over) return efail(ev, n, "integer overflow in %s", opn);
    set_int(out, r);
    return 0;
}

/* ---- membership ---- */

static int list_has(const struct rules_value *list, const struct rules_value *v)
{
    for (size_t k = 0; k < list->list.n; k++) {
        const struct rules_value *it = &list->list.items[k];
        if (it->type != v->type) continue;
        if (v->type == RULES_INT && it->i == v->i) return 1;
        if (v->type == RULES_STRING && it->str.len == v->str.len &&
            (v->str.len == 0 || !memcmp(it->str.s, v->str.s, v->str.len)))
            return 1;
    }
    return 0;
}

static int dict_has(struct ev *ev, const struct rules_expr *n, const char *dict, const struct rules_value *v,
                    int *found)
{
    if (v->type != RULES_STRING && v->type != RULES_INT)
        return efail(ev, n, "only a string or an integer can be looked up in a dictionary, not %s",
                     type_name(v->type));
    int r = ev->env && ev->env->in_dict ? ev->env->in_dict(ev->env->ctx, dict, v) : -1;
    if (r < 0) return efail(ev, n, "there is no dictionary \"%.40s\"", dict);
    *found = r > 0;
    return 0;
}

static int membership(struct ev *ev, const struct rules_expr *n, struct rules_value *out)
{
    struct rules_value v, list;
    if (eval(ev, n->kids[0], &v)) return -1;
    int found = 0;
    if (n->kids[1]->kind == N_DICT) {
        if (dict_has(ev, n, n->kids[1]->s, &v, &found)) return -1;
    } else {
        if (eval(ev, n->kids[1], &list)) return -1;
        if (list.type != RULES_LIST)
            return efail(ev, n, "in takes a list on its right, not %s", type_name(list.type));
        if (v.type != RULES_STRING && v.type != RULES_INT)
            return efail(ev, n, "only a string or an integer can be looked for in a list, not %s",
                         type_name(v.type));
        if (tick(ev, n, (long)(list.list.n / 16))) return -1;
        found = list_has(&list, &v);
    }
    set_bool(out, n->kind == N_IN ? found : !found);
    return 0;
}

/* ---- calendar ---- */

static int is_working(struct ev *ev, long long d)
{
    if (ev->env && ev->env->is_working_day) {
        long long y;
        int m, dd;
        rules_civil_from_days(d, &y, &m, &dd);
        return ev->env->is_working_day(ev->env->ctx, (int)y, m, dd) > 0;
    }
    long long wd = ((d % 7) + 7 + 4) % 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
    return wd >= 1 && wd <= 5;
}

static int today(struct ev *ev, const struct rules_expr *n, long long *d)
{
    int y = 0, m = 0, dd = 0;
    if (ev->env && ev->env->today) {
        if (ev->env->today(ev->env->ctx, &y, &m, &dd)) return efail(ev, n, "today's date is not available");
    } else {
        time_t now = time(NULL);
        struct tm tm;
        if (!localtime_r(&now, &tm)) return efail(ev, n, "today's date is not available");
        y = tm.tm_year + 1900;
        m = tm.tm_mon + 1;
        dd = tm.tm_mday;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, dd);
    if (rules_date_parse(buf, strlen(buf), d)) return efail(ev, n, "today's date is not a real date");
    return 0;
}

/* ---- ID numbers ---- */

static int id_arg(struct ev *ev, const struct rules_expr *n, const struct rules_value *v, long long *birth,
                  int *male)
{
    const char *what = rules_fn_names[n->op];
    if (want(ev, n, what, v, RULES_STRING)) return -1;
    char id[19];
    const char *why = "must be 18 characters";
    if (v->str.len == 18) {
        memcpy(id, v->str.s, 18);
        id[18] = 0;
        if (!memchr(id, 0, 18) && auth_id_number_check(id, &why) == 0) {
            char b[11] = {id[6], id[7], id[8], id[9], '-', id[10], id[11], '-', id[12], id[13], 0};
            if (rules_date_parse(b, 10, birth)) return efail(ev, n, "%s: the birth date is not real", what);
            *male = (id[16] - '0') % 2 == 1;
            return 0;
        }
    }
    return efail(ev, n, "%s: not a valid ID number (%s)", what, why);
}

static int age_at(struct ev *ev, const struct rules_expr *n, long long birth, long long at,
                  struct rules_value *out)
{
    if (at < birth) return efail(ev, n, "%s: the date is before the birth date", rules_fn_names[n->op]);
    long long by, ay;
    int bm, bd, am, ad;
    rules_civil_from_days(birth, &by, &bm, &bd);
    rules_civil_from_days(at, &ay, &am, &ad);
    set_int(out, ay - by - (am < bm || (am == bm && ad < bd)));
    return 0;
}

static int fen(struct ev *ev, const struct rules_expr *n, const struct rules_value *v,
               struct rules_value *out)
{
    if (want(ev, n, "fen", v, RULES_STRING)) return -1;
    const char *s = v->str.s, *end = s + v->str.len;
    int neg = 0;
    if (s < end && *s == '-') {
        neg = 1;
        s++;
    }
    long long r = 0;
    int digits = 0, frac = -1;
    for (; s < end; s++) {
        if (*s == '.' && frac < 0 && digits) {
            frac = 0;
            continue;
        }
        if (*s < '0' || *s > '9' || frac == 2) goto bad;
        if (__builtin_mul_overflow(r, 10, &r) || __builtin_add_overflow(r, *s - '0', &r))
            return efail(ev, n, "fen: the amount is too large");
        if (frac >= 0)
            frac++;
        else
            digits++;
    }
    if (!digits || frac == 0) goto bad;
    for (int k = frac < 0 ? 0 : frac; k < 2; k++)
        if (__builtin_mul_overflow(r, 10, &r)) return efail(ev, n, "fen: the amount is too large");
    set_int(out, neg ? -r : r);
    return 0;
bad:
    return efail(ev, n, "fen: \"%.*s\" is not an amount like 12.34", (int)(v->str.len > 40 ? 40 : v->str.len),
                 v->str.s);
}

/* ---- calls ---- */

static int call(struct ev *ev, const struct rules_expr *n, struct rules_value *out)
{
    struct rules_value a[2];
    const char *what = rules_fn_names[n->op];
    for (size_t k = 0; k < n->nkids; k++)
        if (eval(ev, n->kids[k], &a[k])) return -1;
    long long d, e, birth;
    int male;
    switch ((enum fn_id)n->op) {
    case F_LEN: {
        if (want(ev, n, what, &a[0], RULES_STRING) || tick(ev, n, (long)(a[0].str.len / 64))) return -1;
        long long c = 0;
        for (size_t k = 0; k < a[0].str.len; k++) c += ((unsigned char)a[0].str.s[k] & 0xC0) != 0x80;
        set_int(out, c);
        return 0;
    }
    case F_UPPER:
    case F_LOWER: {
        if (want(ev, n, what, &a[0], RULES_STRING) || tick(ev, n, (long)(a[0].str.len / 64))) return -1;
        char *s = rules_arena_alloc(ev->arena, a[0].str.len + 1);
        if (!s) return efail(ev, n, "out of memory");
        for (size_t k = 0; k < a[0].str.len; k++) {
            char c = a[0].str.s[k];
            if (n->op == F_UPPER && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
            if (n->op == F_LOWER && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            s[k] = c;
        }
        s[a[0].str.len] = 0;
        set_str(out, s, a[0].str.len);
        return 0;
    }
    case F_TRIM: {
        if (want(ev, n, what, &a[0], RULES_STRING)) return -1;
        const char *s = a[0].str.s;
        size_t len = a[0].str.len;
        while (len && strchr(" \t\n\r\v\f", s[0]) && s[0]) s++, len--;
        while (len && strchr(" \t\n\r\v\f", s[len - 1]) && s[len - 1]) len--;
        set_str(out, s, len);
        return 0;
    }
    case F_STARTS_WITH:
    case F_ENDS_WITH:
    case F_CONTAINS: {
        if (want(ev, n, what, &a[0], RULES_STRING) || want(ev, n, what, &a[1], RULES_STRING)) return -1;
        size_t hl = a[0].str.len, nl = a[1].str.len;
        if (tick(ev, n, (long)(hl / 64))) return -1;
        int r;
        if (nl == 0)
            r = 1;
        else if (nl > hl)
            r = 0;
        else if (n->op == F_STARTS_WITH)
            r = !memcmp(a[0].str.s, a[1].str.s, nl);
        else if (n->op == F_ENDS_WITH)
            r = !memcmp(a[0].str.s + hl - nl, a[1].str.s, nl);
        else
            r = memmem(a[0].str.s, hl, a[1].str.s, nl) != NULL;
        set_bool(out, r);
        return 0;
    }
    case F_IS_DIGITS:
    case F_IS_ALNUM: {
        if (want(ev, n, what, &a[0], RULES_STRING)) return -1;
        int r = a[0].str.len > 0;
        for (size_t k = 0; k < a[0].str.len && r; k++) {
            char c = a[0].str.s[k];
            int digit = c >= '0' && c <= '9';
            int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            r = digit || (n->op == F_IS_ALNUM && letter);
        }
        set_bool(out, r);
        return 0;
    }
    case F_MATCHES: {
        if (want(ev, n, what, &a[0], RULES_STRING) || want(ev, n, what, &a[1], RULES_STRING)) return -1;
        char why[120];
        long spent = 0;
        int r = rules_pattern_match(a[1].str.s, a[1].str.len, a[0].str.s, a[0].str.len,
                                    ev->max_steps - ev->steps, &spent, why, sizeof why);
        if (r == -2) return tick(ev, n, ev->max_steps - ev->steps + 1);
        if (r < 0) return efail(ev, n, "matches: %s", why);
        if (tick(ev, n, spent)) return -1;
        set_bool(out, r);
        return 0;
    }
    case F_DATE:
        if (to_date(ev, n, what, &a[0], &d)) return -1;
        set_date(out, d);
        return 0;
    case F_TODAY:
        if (today(ev, n, &d)) return -1;
        set_date(out, d);
        return 0;
    case F_ADD_DAYS:
        if (to_date(ev, n, what, &a[0], &d) || want(ev, n, what, &a[1], RULES_INT)) return -1;
        if (a[1].i < -MAX_DAY * 2 || a[1].i > MAX_DAY * 2 || date_ok(ev, n, d + a[1].i)) {
            if (!ev->failed) date_ok(ev, n, MAX_DAY + 1);
            return -1;
        }
        set_date(out, d + a[1].i);
        return 0;
    case F_DAYS_BETWEEN:
        if (to_date(ev, n, what, &a[0], &d) || to_date(ev, n, what, &a[1], &e)) return -1;
        set_int(out, e - d);
        return 0;
    case F_YEAR:
    case F_MONTH:
    case F_DAY: {
        if (to_date(ev, n, what, &a[0], &d)) return -1;
        long long y;
        int m, dd;
        rules_civil_from_days(d, &y, &m, &dd);
        set_int(out, n->op == F_YEAR ? y : n->op == F_MONTH ? m : dd);
        return 0;
    }
    case F_ADD_WORKING_DAYS: {
        if (to_date(ev, n, what, &a[0], &d) || want(ev, n, what, &a[1], RULES_INT)) return -1;
        long long left = a[1].i, step = left < 0 ? -1 : 1;
        if (left < -MAX_DAY || left > MAX_DAY) return date_ok(ev, n, MAX_DAY + 1);
        if (left < 0) left = -left;
        while (left > 0) {
            d += step;
            if (date_ok(ev, n, d) || tick(ev, n, 1)) return -1;
            if (is_working(ev, d)) left--;
        }
        set_date(out, d);
        return 0;
    }
    case F_WORKING_DAYS_BETWEEN: {
        if (to_date(ev, n, what, &a[0], &d) || to_date(ev, n, what, &a[1], &e)) return -1;
        long long lo = d < e ? d : e, hi = d < e ? e : d, c = 0;
        for (long long x = lo + 1; x <= hi; x++) {
            if (tick(ev, n, 1)) return -1;
            c += is_working(ev, x);
        }
        set_int(out, e < d ? -c : c);
        return 0;
    }
    case F_AGE:
        if (id_arg(ev, n, &a[0], &birth, &male) || today(ev, n, &d)) return -1;
        return age_at(ev, n, birth, d, out);
    case F_AGE_AT:
        if (id_arg(ev, n, &a[0], &birth, &male) || to_date(ev, n, what, &a[1], &d)) return -1;
        return age_at(ev, n, birth, d, out);
    case F_BIRTH_DATE:
        if (id_arg(ev, n, &a[0], &birth, &male)) return -1;
        set_date(out, birth);
        return 0;
    case F_GENDER:
        if (id_arg(ev, n, &a[0], &birth, &male)) return -1;
        set_str(out, male ? "M" : "F", 1);
        return 0;
    case F_ID_VALID:
    case F_USCC_VALID: {
        if (want(ev, n, what, &a[0], RULES_STRING)) return -1;
        char id[19];
        int ok = a[0].str.len == 18 && !memchr(a[0].str.s, 0, 18);
        if (ok) {
            memcpy(id, a[0].str.s, 18);
            id[18] = 0;
            ok = (n->op == F_ID_VALID ? auth_id_number_check(id, NULL) : auth_uscc_check(id, NULL)) == 0;
        }
        set_bool(out, ok);
        return 0;
    }
    case F_FEN: return fen(ev, n, &a[0], out);
    case F_IN_DICT: {
        int found;
        if (dict_has(ev, n, n->kids[1]->s, &a[0], &found)) return -1;
        set_bool(out, found);
        return 0;
    }
    case F_COUNT: break;
    }
    return efail(ev, n, "unknown function");
}

static int lookup(struct ev *ev, const struct rules_expr *n, struct rules_value *out)
{
    memset(out, 0, sizeof *out);
    out->type = RULES_NULL;
    if (!ev->env || !ev->env->lookup) return 0;
    if (ev->env->lookup(ev->env->ctx, n->s, out, ev->arena) != 0)
        return efail(ev, n, "the field %.60s holds a value rules cannot use", n->s);
    out->arena = NULL;
    switch (out->type) {
    case RULES_NULL:
    case RULES_BOOL:
    case RULES_INT: return 0;
    case RULES_DATE: return date_ok(ev, n, out->d);
    case RULES_STRING:
        if (!out->str.s && out->str.len) break;
        if (out->str.len > RULES_MAX_STRING) return efail(ev, n, "the field %.60s is too long", n->s);
        if (!out->str.s) out->str.s = "";
        return 0;
    case RULES_LIST:
        if (!out->list.items && out->list.n) break;
        for (size_t k = 0; k < out->list.n; k++) {
            const struct rules_value *it = &out->list.items[k];
            if (it->type != RULES_INT && (it->type != RULES_STRING || (!it->str.s && it->str.len))) goto bad;
        }
        return tick(ev, n, (long)(out->list.n / 16));
    }
bad:
    return efail(ev, n, "the field %.60s holds a value rules cannot use", n->s);
}

static int eval(struct ev *ev, const struct rules_expr *n, struct rules_value *out)
{
    if (tick(ev, n, 1)) return -1;
    memset(out, 0, sizeof *out);
    struct rules_value a, b;
    switch (n->kind) {
    case N_INT: set_int(out, n->i); return 0;
    case N_BOOL: set_bool(out, (int)n->i); return 0;
    case N_NULL: out->type = RULES_NULL; return 0;
    case N_DATE: set_date(out, n->i); return 0;
    case N_STR: set_str(out, n->s, n->len); return 0;
    case N_LIST: {
        struct rules_value *items = rules_arena_alloc(ev->arena, n->nkids * sizeof *items);
        if (!items) return efail(ev, n, "out of memory");
        for (size_t k = 0; k < n->nkids; k++) {
            memset(&items[k], 0, sizeof items[k]);
            if (n->kids[k]->kind == N_INT)
                set_int(&items[k], n->kids[k]->i);
            else
                set_str(&items[k], n->kids[k]->s, n->kids[k]->len);
        }
        out->type = RULES_LIST;
        out->list.items = items;
        out->list.n = n->nkids;
        return 0;
    }
    case N_FIELD: return lookup(ev, n, out);
    case N_DICT: return efail(ev, n, "dict(...) can only stand on the right of in");
    case N_NEG:
        if (eval(ev, n->kids[0], &a) || want(ev, n, "-", &a, RULES_INT)) return -1;
        if (a.i == LLONG_MIN) return efail(ev, n, "integer overflow in -");
        set_int(out, -a.i);
        return 0;
    case N_NOT:
        if (eval(ev, n->kids[0], &a) || want(ev, n, "not", &a, RULES_BOOL)) return -1;
        set_bool(out, !a.b);
        return 0;
    case N_AND:
    case N_OR: {
        const char *what = n->kind == N_AND ? "and" : "or";
        if (eval(ev, n->kids[0], &a) || want(ev, n, what, &a, RULES_BOOL)) return -1;
        if (a.b == (n->kind == N_OR)) {
            set_bool(out, a.b);
            return 0;
        }
        if (eval(ev, n->kids[1], &b) || want(ev, n, what, &b, RULES_BOOL)) return -1;
        set_bool(out, b.b);
        return 0;
    }
    case N_IF:
        if (eval(ev, n->kids[0], &a) || want(ev, n, "if", &a, RULES_BOOL)) return -1;
        return eval(ev, n->kids[a.b ? 1 : 2], out);
    case N_BIN:
        if (eval(ev, n->kids[0], &a) || eval(ev, n->kids[1], &b)) return -1;
        if (n->op <= OP_GE) return compare(ev, n, n->op, &a, &b, out);
        return arith(ev, n, n->op, &a, &b, out);
    case N_IN:
    case N_NOT_IN: return membership(ev, n, out);
    case N_CALL: return call(ev, n, out);
    }
    return efail(ev, n, "cannot evaluate");
}

/* Copy the result's strings into the arena, so it depends on nothing else. */
static int own(struct rules_arena *arena, struct rules_value *v)
{
    if (v->type == RULES_STRING) {
        char *s = rules_arena_alloc(arena, v->str.len + 1);
        if (!s) return -1;
        if (v->str.len) memcpy(s, v->str.s, v->str.len);
        s[v->str.len] = 0;
        v->str.s = s;
    } else if (v->type == RULES_LIST) {
        struct rules_value *items = rules_arena_alloc(arena, v->list.n * sizeof *items);
        if (!items) return -1;
        for (size_t k = 0; k < v->list.n; k++) {
            items[k] = v->list.items[k];
            if (own(arena, &items[k])) return -1;
        }
        v->list.items = items;
    }
    return 0;
}

int rules_eval(const struct rules_expr *e, const struct rules_env *env, struct rules_value *out, char *err,
               size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->type = RULES_NULL;
    if (errlen) err[0] = 0;
    if (!e) {
        snprintf(err, errlen, "column 1: no expression");
        return -1;
    }
    struct ev ev = {.env = env, .err = err, .errlen = errlen};
    ev.max_steps = env && env->max_steps > 0 ? env->max_steps : RULES_DEFAULT_STEPS;
    ev.arena = calloc(1, sizeof *ev.arena);
    if (!ev.arena) {
        snprintf(err, errlen, "column 1: out of memory");
        return -1;
    }
    struct rules_value v;
    if (eval(&ev, e, &v) || own(ev.arena, &v)) {
        if (!ev.failed) efail(&ev, e, "out of memory");
        arena_free(ev.arena);
        return -1;
    }
    *out = v;
    out->arena = ev.arena;
    return 0;
}

int rules_check(const struct rules_expr *e, const struct rules_env *env)
{
    struct rules_value v;
    if (rules_eval(e, env, &v, NULL, 0)) return -1;
    int r = v.type == RULES_BOOL ? v.b : -1;
    rules_value_free(&v);
    return r;
}

/* ---- binding to JSON ---- */

static int json_value(const json_t *j, struct rules_value *out)
{
    memset(out, 0, sizeof *out);
    switch (json_typeof(j)) {
    case JSON_NULL: out->type = RULES_NULL; return 0;
    case JSON_TRUE:
    case JSON_FALSE: set_bool(out, json_is_true(j)); return 0;
    case JSON_INTEGER: set_int(out, json_integer_value(j)); return 0;
    case JSON_STRING: set_str(out, json_string_value(j), json_string_length(j)); return 0;
    default: return -1;
    }
}

int rules_json_lookup(void *ctx, const char *path, struct rules_value *out, struct rules_arena *arena)
{
    const json_t *j = ctx;
    memset(out, 0, sizeof *out);
    out->type = RULES_NULL;
    while (j && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        j = json_is_object(j) ? json_object_getn(j, path, n) : NULL;
        path += n + (dot != NULL);
    }
    if (!j) return 0;
    if (json_is_array(j)) {
        size_t n = json_array_size(j);
        struct rules_value *items = rules_arena_alloc(arena, n * sizeof *items);
        if (!items) return -1;
        for (size_t k = 0; k < n; k++) {
            json_t *it = json_array_get(j, k);
            if (!json_is_string(it) && !json_is_integer(it)) return -1;
            json_value(it, &items[k]);
        }
        out->type = RULES_LIST;
        out->list.items = items;
        out->list.n = n;
        return 0;
    }
    return json_value(j, out);
}
