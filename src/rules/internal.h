/*
 * rules internals: the compiled tree shared by the parser (rules.c) and the
 * evaluator (eval.c).
 */
#ifndef EHALL_RULES_INTERNAL_H
#define EHALL_RULES_INTERNAL_H

#include <stddef.h>

#include "rules/rules.h"

enum node_kind {
    N_INT,
    N_STR,
    N_BOOL,
    N_NULL,
    N_DATE,
    N_LIST,  /* kids are N_INT / N_STR literals */
    N_FIELD, /* s: the dotted path */
    N_DICT,  /* s: the dictionary name; only as the right of in / not in */
    N_NEG,
    N_NOT,
    N_AND,
    N_OR,
    N_BIN, /* op */
    N_IN,
    N_NOT_IN,
    N_IF,
    N_CALL /* fn */
};

enum bin_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD };

enum fn_id {
    F_LEN,
    F_UPPER,
    F_LOWER,
    F_TRIM,
    F_STARTS_WITH,
    F_ENDS_WITH,
    F_CONTAINS,
    F_IS_DIGITS,
    F_IS_ALNUM,
    F_MATCHES,
    F_DATE,
    F_TODAY,
    F_ADD_DAYS,
    F_DAYS_BETWEEN,
    F_YEAR,
    F_MONTH,
    F_DAY,
    F_ADD_WORKING_DAYS,
    F_WORKING_DAYS_BETWEEN,
    F_AGE,
    F_AGE_AT,
    F_BIRTH_DATE,
    F_GENDER,
    F_ID_VALID,
    F_USCC_VALID,
    F_FEN,
    F_IN_DICT,
    F_COUNT
};

struct rules_expr {
    enum node_kind kind;
    int op;  /* N_BIN: enum bin_op; N_CALL: enum fn_id */
    int col; /* 1-based character column of the node's token */
    int depth;
    long long i; /* N_INT, N_BOOL, N_DATE */
    char *s;     /* N_STR, N_FIELD, N_DICT (NUL-terminated; len excludes the NUL) */
    size_t len;
    struct rules_expr **kids;
    size_t nkids;
};

extern const char *const rules_fn_names[F_COUNT];
extern const char *const rules_op_names[];

long long rules_days_from_civil(long long y, int m, int d);
void rules_civil_from_days(long long z, long long *y, int *m, int *d);

/* pattern.c: check a matches() pattern (0, or -1 with why in err); match s against it:
 * 1 or 0, -1 with why in err for a bad pattern, -2 when it would cost more than budget
 * steps (a step is 64 character-times-states); *spent is what it cost. */
int rules_pattern_check(const char *pat, size_t len, char *err, size_t errlen);
int rules_pattern_match(const char *pat, size_t plen, const char *s, size_t slen, long budget, long *spent,
                        char *err, size_t errlen);

#endif
