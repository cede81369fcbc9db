/*
 * rules.c — the lexer and recursive-descent parser of rule expressions, and the
 * compiled tree as JSON.  The grammar, loosest first:
 *   or    := and ("or" and)*
 *   and   := not ("and" not)*
 *   not   := "not" not | cmp
 *   cmp   := add [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") add]
 *   add   := mul (("+" | "-") mul)*
 *   mul   := unary (("*" | "/" | "%") unary)*
 *   unary := "-" unary | primary
 *   primary := INT | STRING | true | false | null | "(" or ")" | "[" literals "]"
 *            | NAME ("." NAME)* | NAME "(" [or ("," or)*] ")"
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rules/internal.h"

const char *const rules_fn_names[F_COUNT] = {
    [F_LEN] = "len",
    [F_UPPER] = "upper",
    [F_LOWER] = "lower",
    [F_TRIM] = "trim",
    [F_STARTS_WITH] = "starts_with",
    [F_ENDS_WITH] = "ends_with",
    [F_CONTAINS] = "contains",
    [F_IS_DIGITS] = "is_digits",
    [F_IS_ALNUM] = "is_alnum",
    [F_MATCHES] = "matches",
    [F_DATE] = "date",
    [F_TODAY] = "today",
    [F_ADD_DAYS] = "add_days",
    [F_DAYS_BETWEEN] = "days_between",
    [F_YEAR] = "year",
    [F_MONTH] = "month",
    [F_DAY] = "day",
    [F_ADD_WORKING_DAYS] = "add_working_days",
    [F_WORKING_DAYS_BETWEEN] = "working_days_between",
    [F_AGE] = "age",
    [F_AGE_AT] = "age_at",
    [F_BIRTH_DATE] = "birth_date",
    [F_GENDER] = "gender",
    [F_ID_VALID] = "id_valid",
    [F_USCC_VALID] = "uscc_valid",
    [F_FEN] = "fen",
    [F_IN_DICT] = "in_dict",
};

static const signed char fn_arity[F_COUNT] = {
    [F_LEN] = 1,
    [F_UPPER] = 1,
    [F_LOWER] = 1,
    [F_TRIM] = 1,
    [F_STARTS_WITH] = 2,
    [F_ENDS_WITH] = 2,
    [F_CONTAINS] = 2,
    [F_IS_DIGITS] = 1,
    [F_IS_ALNUM] = 1,
    [F_MATCHES] = 2,
    [F_DATE] = 1,
    [F_TODAY] = 0,
    [F_ADD_DAYS] = 2,
    [F_DAYS_BETWEEN] = 2,
    [F_YEAR] = 1,
    [F_MONTH] = 1,
    [F_DAY] = 1,
    [F_ADD_WORKING_DAYS] = 2,
    [F_WORKING_DAYS_BETWEEN] = 2,
    [F_AGE] = 1,
    [F_AGE_AT] = 2,
    [F_BIRTH_DATE] = 1,
    [F_GENDER] = 1,
    [F_ID_VALID] = 1,
    [F_USCC_VALID] = 1,
    [F_FEN] = 1,
    [F_IN_DICT] = 2,
};

const char *const rules_op_names[] = {
    [OP_EQ] = "==", [OP_NE] = "!=", [OP_LT] = "<",  [OP_LE] = "<=", [OP_GT] = ">",  [OP_GE] = ">=",
    [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_MOD] = "%",
};

/* Howard Hinnant's days_from_civil / civil_from_days, proleptic Gregorian. */
long long rules_days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void rules_civil_from_days(long long z, long long *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(long long y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int rules_date_parse(const char *s, size_t len, long long *days)
{
    if (len != 10 || s[4] != '-' || s[7] != '-') return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return -1;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && is_leap(y))) return -1;
    *days = rules_days_from_civil(y, m, d);
    return 0;
}

void rules_date_format(long long days, char buf[11])
{
    long long y;
    int m, d;
    rules_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) y = 0;
    snprintf(buf, 11, "%04d-%02d-%02d", (int)y, m, d);
}

/* ---- lexer ---- */

enum tok { T_EOF, T_INT, T_STR, T_NAME, T_PUNCT };

struct parser {
    const char *src;
    size_t pos;    /* of the next token */
    enum tok t;    /* the current token */
    size_t start;  /* its byte offset */
    size_t len;    /* its length in the source */
    char punct[3]; /* T_PUNCT text */
    long long ival;
    char *sval; /* T_STR: decoded, malloc'd */
    size_t slen;
    int level; /* recursion guard */
    int *cols; /* the character column of every byte offset, once the text is known UTF-8 */
    char *err;
    size_t errlen;
    int failed;
};

static int column(const struct parser *p, size_t off)
{
    if (p->cols) return p->cols[off];
    int col = 1;
    for (size_t i = 0; i < off && p->src[i]; i++)
        if (((unsigned char)p->src[i] & 0xC0) != 0x80) col++;
    return col;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
fail_at(struct parser *p, size_t off, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->errlen) snprintf(p->err, p->errlen, "column %d: %s", column(p, off), msg);
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (s[0] == 0xE0 && s[1] < 0xA0) return 0;
        if (s[0] == 0xED && s[1] >= 0xA0) return 0;
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (s[0] == 0xF0 && s[1] < 0x90) return 0;
        if (s[0] == 0xF4 && s[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

static int is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

static void next(struct parser *p)
{
    free(p->sval);
    p->sval = NULL;
    if (p->failed) {
        p->t = T_EOF;
        return;
    }
    const char *s = p->src;
    size_t i = p->pos;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') i++;
    p->start = i;
    char c = s[i];
    if (!c) {
        p->t = T_EOF;
        p->len = 0;
    } else if (c >= '0' && c <= '9') {
        long long v = 0;
        size_t j = i;
        while (s[j] >= '0' && s[j] <= '9') {
            if (v > (9223372036854775807LL - (s[j] - '0')) / 10) {
                fail_at(p, i, "the number is too large");
                p->t = T_EOF;
                return;
            }
            v = v * 10 + (s[j] - '0');
            j++;
        }
        if (is_name_char(s[j]) || s[j] == '.') {
            fail_at(p, j, "a number must stand alone (no fractions: money is in fen)");
            p->t = T_EOF;
            return;
        }
        p->t = T_INT;
        p->ival = v;
        p->len = j - i;
    } else if (c == '"') {
        size_t j = i + 1, n = 0;
        char *buf = malloc(strlen(s + i) + 1);
        if (!buf) {
            fail_at(p, i, "out of memory");
            p->t = T_EOF;
            return;
        }
        for (;;) {
            unsigned char u = (unsigned char)s[j];
            if (!u) {
                free(buf);
                fail_at(p, i, "the string is not closed with \"");
                p->t = T_EOF;
                return;
            }
            if (u == '"') break;
            if (u < 0x20) {
                free(buf);
                fail_at(p, j, "a control character cannot appear in a string");
                p->t = T_EOF;
                return;
            }
            if (u == '\\') {
                if (s[j + 1] != '"' && s[j + 1] != '\\') {
                    free(buf);
                    fail_at(p, j, "only \\\" and \\\\ are escapes");
                    p->t = T_EOF;
                    return;
                }
                buf[n++] = s[j + 1];
                j += 2;
                continue;
            }
            buf[n++] = (char)u;
            j++;
        }
        buf[n] = 0;
        p->t = T_STR;
        p->sval = buf;
        p->slen = n;
        p->len = j + 1 - i;
    } else if (is_name_start(c)) {
        size_t j = i;
        while (is_name_char(s[j])) j++;
        p->t = T_NAME;
        p->len = j - i;
    } else {
        static const char *const two[] = {"==", "!=", "<=", ">="};
        static const char one[] = "()[],.+-*/%<>";
        p->t = T_PUNCT;
        for (size_t k = 0; k < 4; k++)
            if (s[i] == two[k][0] && s[i + 1] == two[k][1]) {
                memcpy(p->punct, two[k], 3);
                p->len = 2;
                p->pos = i + 2;
                return;
            }
        if (c == '=')
            fail_at(p, i, "use == to compare");
        else if (c == '!')
            fail_at(p, i, "use not, or != to compare");
        else if (c == '&' && s[i + 1] == '&')
            fail_at(p, i, "use and");
        else if (c == '|' && s[i + 1] == '|')
            fail_at(p, i, "use or");
        else if (c == '\'')
            fail_at(p, i, "strings are written in double quotes");
        else if (!strchr(one, c))
            fail_at(p, i, "unexpected character");
        if (p->failed) {
            p->t = T_EOF;
            return;
        }
        p->punct[0] = c;
        p->punct[1] = 0;
        p->len = 1;
    }
    p->pos = i + p->len;
}

static int is_punct(const struct parser *p, const char *s) { return p->t == T_PUNCT && !strcmp(p->punct, s); }

static int is_word(const struct parser *p, const char *w)
{
    return p->t == T_NAME && p->len == strlen(w) && !memcmp(p->src + p->start, w, p->len);
}

static int is_reserved(const char *s, size_t n)
{
    static const char *const words[] = {"and", "or", "not", "in", "true", "false", "null", "if"};
    for (size_t k = 0; k < sizeof words / sizeof *words; k++)
        if (n == strlen(words[k]) && !memcmp(s, words[k], n)) return 1;
    return 0;
}

/* ---- tree ---- */

void rules_free(struct rules_expr *e)
{
    if (!e) return;
    for (size_t k = 0; k < e->nkids; k++) rules_free(e->kids[k]);
    free(e->kids);
    free(e->s);
    free(e);
}

static struct rules_expr *node(struct parser *p, enum node_kind kind, size_t off)
{
    struct rules_expr *e = calloc(1, sizeof *e);
    if (!e) {
        fail_at(p, off, "out of memory");
        return NULL;
    }
    e->kind = kind;
    e->col = column(p, off);
    e->depth = 1;
    return e;
}

/* Append kid (taking it; freeing it when e cannot take it). */
static int add_kid(struct parser *p, struct rules_expr *e, struct rules_expr *kid)
{
    if (!kid) return -1;
    struct rules_expr **k = realloc(e->kids, (e->nkids + 1) * sizeof *k);
    if (!k) {
        rules_free(kid);
        fail_at(p, p->start, "out of memory");
        return -1;
    }
    e->kids = k;
    e->kids[e->nkids++] = kid;
    if (kid->depth + 1 > e->depth) e->depth = kid->depth + 1;
    if (e->depth > RULES_MAX_DEPTH) {
        fail_at(p, p->start, "nested deeper than %d levels", RULES_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static struct rules_expr *parse_or(struct parser *p);

static int enter(struct parser *p)
{
    if (++p->level > RULES_MAX_DEPTH) {
        fail_at(p, p->start, "nested deeper than %d levels", RULES_MAX_DEPTH);
        return -1;
    }
    return 0;
}

/* dict("name") is not a value: it may only stand right of in / not in. */
static void no_dict(struct parser *p, struct rules_expr *e)
{
    if (!e || e->kind != N_DICT || p->failed) return;
    p->failed = 1;
    if (p->errlen)
        snprintf(p->err, p->errlen, "column %d: dict(...) can only stand on the right of in", e->col);
}

static struct rules_expr *binary(struct parser *p, enum node_kind kind, int op, size_t off,
                                 struct rules_expr *l, struct rules_expr *r)
{
    no_dict(p, l);
    if (kind != N_IN && kind != N_NOT_IN) no_dict(p, r);
    struct rules_expr *e = l && r && !p->failed ? node(p, kind, off) : NULL;
    if (!e) {
        rules_free(l);
        rules_free(r);
        return NULL;
    }
    e->op = op;
    if (add_kid(p, e, l)) { /* l is e's now, r not yet */
        rules_free(r);
        rules_free(e);
        return NULL;
    }
    if (add_kid(p, e, r)) {
        rules_free(e);
        return NULL;
    }
    return e;
}

static struct rules_expr *parse_list(struct parser *p)
{
    struct rules_expr *e = node(p, N_LIST, p->start);
    if (!e) return NULL;
    next(p); /* [ */
    if (is_punct(p, "]")) {
        next(p);
        return e;
    }
    for (;;) {
        size_t off = p->start;
        int neg = 0;
        if (is_punct(p, "-")) {
            neg = 1;
            next(p);
        }
        struct rules_expr *item = NULL;
        if (p->t == T_INT) {
            item = node(p, N_INT, off);
            if (item) item->i = neg ? -p->ival : p->ival;
        } else if (p->t == T_STR && !neg) {
            item = node(p, N_STR, off);
            if (item) {
                item->s = p->sval;
                item->len = p->slen;
                p->sval = NULL;
            }
        } else {
            fail_at(p, p->start, "a list holds only string and integer literals");
        }
        if (!item || add_kid(p, e, item)) break;
        next(p);
        if (is_punct(p, "]")) {
            next(p);
            if (!p->failed) return e;
            break;
        }
        if (!is_punct(p, ",")) {
            fail_at(p, p->start, "expected , or ] in the list");
            break;
        }
        next(p);
    }
    rules_free(e);
    return NULL;
}

static struct rules_expr *parse_call(struct parser *p, size_t off, size_t nlen)
{
    int fn = -1;
    for (int k = 0; k < F_COUNT; k++)
        if (nlen == strlen(rules_fn_names[k]) && !memcmp(p->src + off, rules_fn_names[k], nlen)) fn = k;
    int is_if = nlen == 2 && !memcmp(p->src + off, "if", 2);
    int is_dict = nlen == 4 && !memcmp(p->src + off, "dict", 4);
    if (fn < 0 && !is_if && !is_dict) {
        fail_at(p, off, "there is no function %.*s", (int)(nlen > 40 ? 40 : nlen), p->src + off);
        return NULL;
    }
    next(p); /* ( */
    if (is_dict) {
        if (p->t != T_STR) {
            fail_at(p, p->start, "dict() takes a dictionary name in quotes");
            return NULL;
        }
        struct rules_expr *e = node(p, N_DICT, off);
        if (!e) return NULL;
        e->s = p->sval;
        e->len = p->slen;
        p->sval = NULL;
        next(p);
        if (!is_punct(p, ")")) fail_at(p, p->start, "expected ) after the dictionary name");
        next(p);
        if (p->failed) {
            rules_free(e);
            return NULL;
        }
        return e;
    }
    struct rules_expr *e = node(p, is_if ? N_IF : N_CALL, off);
    if (!e) return NULL;
    e->op = fn;
    if (!is_punct(p, ")")) {
        for (;;) {
            if (add_kid(p, e, parse_or(p))) goto fail;
            if (is_punct(p, ")")) break;
            if (!is_punct(p, ",")) {
                fail_at(p, p->start, "expected , or ) in the call");
                goto fail;
            }
            next(p);
        }
    }
    next(p); /* ) */
    if (p->failed) goto fail;
    size_t want = is_if ? 3 : (size_t)fn_arity[fn];
    if (e->nkids != want) {
        fail_at(p, off, "%s takes %zu argument%s", is_if ? "if" : rules_fn_names[fn], want,
                want == 1 ? "" : "s");
        goto fail;
    }
    if (fn == F_IN_DICT && e->kids[1]->kind != N_STR) {
        fail_at(p, off, "in_dict takes the dictionary name in quotes");
        goto fail;
    }
    if (fn == F_MATCHES && e->kids[1]->kind == N_STR) { /* a literal pattern: check it now */
        char why[120];
        if (rules_pattern_check(e->kids[1]->s, e->kids[1]->len, why, sizeof why)) {
            fail_at(p, off, "%s", why);
            goto fail;
        }
    }
    if (fn == F_DATE && e->kids[0]->kind == N_STR) { /* a literal: check and fold it now */
        long long d;
        if (rules_date_parse(e->kids[0]->s, e->kids[0]->len, &d)) {
            fail_at(p, off, "not a real date in YYYY-MM-DD form");
            goto fail;
        }
        rules_free(e->kids[0]);
        free(e->kids);
        e->kids = NULL;
        e->nkids = 0;
        e->kind = N_DATE;
        e->i = d;
        e->depth = 1;
    }
    return e;
fail:
    rules_free(e);
    return NULL;
}

static struct rules_expr *parse_primary(struct parser *p)
{
    size_t off = p->start;
    struct rules_expr *e = NULL;
    if (p->t == T_INT) {
        if ((e = node(p, N_INT, off))) e->i = p->ival;
        next(p);
    } else if (p->t == T_STR) {
        if ((e = node(p, N_STR, off))) {
            e->s = p->sval;
            e->len = p->slen;
            p->sval = NULL;
        }
        next(p);
    } else if (is_punct(p, "(")) {
        next(p);
        e = parse_or(p); /* which counts the level */
        if (e && !is_punct(p, ")")) fail_at(p, p->start, "expected )");
        next(p);
        if (e && ++e->depth > RULES_MAX_DEPTH)
            fail_at(p, off, "nested deeper than %d levels", RULES_MAX_DEPTH);
    } else if (is_punct(p, "[")) {
        e = parse_list(p);
    } else if (is_word(p, "true") || is_word(p, "false")) {
        if ((e = node(p, N_BOOL, off))) e->i = is_word(p, "true");
        next(p);
    } else if (is_word(p, "null")) {
        e = node(p, N_NULL, off);
        next(p);
    } else if (p->t == T_NAME) {
        size_t nlen = p->len;
        next(p);
        if (is_punct(p, "(")) {
            e = parse_call(p, off, nlen); /* its arguments count their level */
        } else if (is_reserved(p->src + off, nlen)) {
            fail_at(p, off, "%.*s is a reserved word, not a value", (int)nlen, p->src + off);
        } else {
            size_t end = off + nlen;
            while (is_punct(p, ".")) {
                next(p);
                if (p->t != T_NAME || p->start != end + 1 || is_reserved(p->src + p->start, p->len)) {
                    fail_at(p, p->start, "expected a field name after .");
                    break;
                }
                end = p->start + p->len;
                next(p);
            }
            if (!p->failed && (e = node(p, N_FIELD, off))) {
                e->len = end - off;
                e->s = malloc(e->len + 1);
                if (!e->s)
                    fail_at(p, off, "out of memory");
                else {
                    memcpy(e->s, p->src + off, e->len);
                    e->s[e->len] = 0;
                }
            }
        }
    } else if (p->t == T_EOF) {
        fail_at(p, off, "the expression ends too soon");
    } else {
        fail_at(p, off, "unexpected %s", p->punct);
    }
    if (p->failed) {
        rules_free(e);
        return NULL;
    }
    return e;
}

/* A prefix operator (- or not) at off, the operator already consumed and the depth
 * already entered: its node with the operand parse() reads as the one child. */
static struct rules_expr *prefix(struct parser *p, enum node_kind kind, size_t off,
                                 struct rules_expr *(*parse)(struct parser *))
{
    struct rules_expr *e = node(p, kind, off);
    struct rules_expr *kid = parse(p);
    p->level--;
    no_dict(p, kid);
    if (!e) rules_free(kid);
    if (!e || add_kid(p, e, kid) || p->failed) {
        rules_free(e);
        return NULL;
    }
    return e;
}

static struct rules_expr *parse_unary(struct parser *p)
{
    if (is_punct(p, "-")) {
        size_t off = p->start;
        if (enter(p)) return NULL;
        next(p);
        if (p->t == T_INT) { /* a negative literal: -9223372036854775808 still overflows */
            struct rules_expr *e = node(p, N_INT, off);
            if (e) e->i = -p->ival;
            next(p);
            p->level--;
            if (p->failed) {
                rules_free(e);
                return NULL;
            }
            return e;
        }
        return prefix(p, N_NEG, off, parse_unary);
    }
    return parse_primary(p);
}

static struct rules_expr *parse_mul(struct parser *p)
{
    struct rules_expr *l = parse_unary(p);
    for (;;) {
        int op = is_punct(p, "*") ? OP_MUL : is_punct(p, "/") ? OP_DIV : is_punct(p, "%") ? OP_MOD : -1;
        if (op < 0 || !l) return l;
        size_t off = p->start;
        next(p);
        l = binary(p, N_BIN, op, off, l, parse_unary(p));
    }
}

static struct rules_expr *parse_add(struct parser *p)
{
    struct rules_expr *l = parse_mul(p);
    for (;;) {
        int op = is_punct(p, "+") ? OP_ADD : is_punct(p, "-") ? OP_SUB : -1;
        if (op < 0 || !l) return l;
        size_t off = p->start;
        next(p);
        l = binary(p, N_BIN, op, off, l, parse_mul(p));
    }
}

static int cmp_op(const struct parser *p)
{
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
    for (int k = 0; k < 6; k++)
        if (is_punct(p, ops[k])) return OP_EQ + k;
    return -1;
}

static struct rules_expr *parse_cmp(struct parser *p)
{
    struct rules_expr *l = parse_add(p);
    if (!l) return NULL;
    size_t off = p->start;
    int op = cmp_op(p);
    enum node_kind kind = N_BIN;
    if (op >= 0) {
        next(p);
    } else if (is_word(p, "in")) {
        kind = N_IN;
        next(p);
    } else if (is_word(p, "not")) {
        next(p);
        if (!is_word(p, "in")) {
            fail_at(p, p->start, "expected in after not");
            rules_free(l);
            return NULL;
        }
        kind = N_NOT_IN;
        next(p);
    } else {
        no_dict(p, l);
        if (p->failed) {
            rules_free(l);
            return NULL;
        }
        return l;
    }
    struct rules_expr *r = parse_add(p);
    struct rules_expr *e = binary(p, kind, op, off, l, r);
    if (e && (cmp_op(p) >= 0 || is_word(p, "in"))) fail_at(p, p->start, "comparisons do not chain: use and");
    if (p->failed) {
        rules_free(e);
        return NULL;
    }
    return e;
}

static struct rules_expr *parse_not(struct parser *p)
{
    if (is_word(p, "not")) {
        size_t off = p->start;
        if (enter(p)) return NULL;
        next(p);
        return prefix(p, N_NOT, off, parse_not);
    }
    return parse_cmp(p);
}

static struct rules_expr *parse_and(struct parser *p)
{
    struct rules_expr *l = parse_not(p);
    while (l && is_word(p, "and")) {
        size_t off = p->start;
        next(p);
        l = binary(p, N_AND, 0, off, l, parse_not(p));
    }
    return l;
}

static struct rules_expr *parse_or(struct parser *p)
{
    if (enter(p)) return NULL;
    struct rules_expr *l = parse_and(p);
    while (l && is_word(p, "or")) {
        size_t off = p->start;
        next(p);
        l = binary(p, N_OR, 0, off, l, parse_and(p));
    }
    p->level--;
    return l;
}

int rules_compile(const char *src, struct rules_expr **out, char *err, size_t errlen)
{
    *out = NULL;
    struct parser p = {.src = src ? src : "", .err = err, .errlen = errlen};
    if (errlen) err[0] = 0;
    size_t n = strlen(p.src);
    if (n > RULES_MAX_SOURCE) {
        snprintf(err, errlen, "column 1: the expression is longer than %d bytes", RULES_MAX_SOURCE);
        return -1;
    }
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)p.src + i);
        if (!k) {
            fail_at(&p, i, "the text is not valid UTF-8");
            return -1;
        }
        i += k;
    }
    p.cols = malloc((n + 1) * sizeof *p.cols);
    if (!p.cols) {
        snprintf(err, errlen, "column 1: out of memory");
        return -1;
    }
    for (size_t i = 0, col = 1; i <= n; i++) {
        p.cols[i] = (int)col;
        if (i < n && ((unsigned char)p.src[i] & 0xC0) != 0x80) col++;
    }
    next(&p);
    struct rules_expr *e = p.failed ? NULL : parse_or(&p);
    if (e && p.t != T_EOF) fail_at(&p, p.start, "unexpected text after the expression");
    free(p.sval);
    if (p.failed || !e) {
        if (!p.failed) fail_at(&p, p.start, "cannot parse");
        free(p.cols);
        rules_free(e);
        return -1;
    }
    free(p.cols);
    *out = e;
    return 0;
}

/* ---- the tree as JSON ---- */

static json_t *lit_json(const struct rules_expr *e)
{
    switch (e->kind) {
    case N_INT: return json_integer(e->i);
    case N_STR: return json_stringn(e->s, e->len);
    default: return json_null();
    }
}

void *rules_to_json(const struct rules_expr *e)
{
    if (!e) return NULL;
    json_t *j = json_object();
    if (!j) return NULL;
    char buf[11];
    json_t *args = NULL;
    switch (e->kind) {
    case N_INT: json_object_set_new(j, "int", json_integer(e->i)); return j;
    case N_STR: json_object_set_new(j, "str", json_stringn(e->s, e->len)); return j;
    case N_BOOL: json_object_set_new(j, "bool", json_boolean(e->i)); return j;
    case N_NULL: json_object_set_new(j, "null", json_true()); return j;
    case N_DATE:
        rules_date_format(e->i, buf);
        json_object_set_new(j, "date", json_string(buf));
        return j;
    case N_LIST:
        args = json_array();
        for (size_t k = 0; k < e->nkids; k++) json_array_append_new(args, lit_json(e->kids[k]));
        json_object_set_new(j, "list", args);
        return j;
    case N_FIELD: json_object_set_new(j, "field", json_stringn(e->s, e->len)); return j;
    case N_DICT: json_object_set_new(j, "dict", json_stringn(e->s, e->len)); return j;
    case N_CALL: json_object_set_new(j, "call", json_string(rules_fn_names[e->op])); break;
    case N_NEG: json_object_set_new(j, "op", json_string("neg")); break;
    case N_NOT: json_object_set_new(j, "op", json_string("not")); break;
    case N_AND: json_object_set_new(j, "op", json_string("and")); break;
    case N_OR: json_object_set_new(j, "op", json_string("or")); break;
    case N_IN: json_object_set_new(j, "op", json_string("in")); break;
    case N_NOT_IN: json_object_set_new(j, "op", json_string("not in")); break;
    case N_IF: json_object_set_new(j, "op", json_string("if")); break;
    case N_BIN: json_object_set_new(j, "op", json_string(rules_op_names[e->op])); break;
    }
    args = json_array();
    for (size_t k = 0; k < e->nkids; k++) json_array_append_new(args, rules_to_json(e->kids[k]));
    json_object_set_new(j, "args", args);
    return j;
}
