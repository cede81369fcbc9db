/*
 * pattern.c — the patterns of matches(s, pattern): a regular-expression subset that
 * matches in time linear in the subject (no backtracking, no groups, no
 * alternation, no back-references).
 *
 * A pattern is a sequence of atoms, each optionally followed by one quantifier:
 *   atoms        a literal character; \c for the character c itself (\. \[ \\ …);
 *                . any character; [abc] [a-z0-9] [^0-9] a class of characters or
 *                ranges (inside, \c is c literally, so \] and \- ; a leading ^ negates;
 *                a - first or last is itself; [] is an error)
 *   quantifiers  ?  *  +  {n}  {m,n}  {m,}   (n at most 100)
 *   anchors      ^ as the first and $ as the last character tie the match to the
 *                start and the end; without them the pattern may match anywhere
 * Characters are Unicode code points (so [一-龥] and . work on Chinese text).  A
 * quantifier is expanded into copies of its atom, at most 512 in all, and the
 * match is a simulation of the resulting chain of states over the subject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/internal.h"

#define MAX_PATTERN 256
#define MAX_ITEMS   512
#define MAX_RANGES  256
#define MAX_REPEAT  100

enum { ONE, OPT, STAR };

struct item {
    unsigned char kind, any, neg;
    unsigned short first, n; /* ranges[first .. first + n) */
};

struct pattern {
    struct item items[MAX_ITEMS];
    unsigned lo[MAX_RANGES], hi[MAX_RANGES];
    int nitems, nranges, anchor_start, anchor_end;
};

/* One code point from s (len > 0 bytes); invalid bytes read as U+FFFD, one each. */
static unsigned decode(const unsigned char *s, size_t len, size_t *used)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (n == 0 || n > len) {
        *used = 1;
        return n == 1 ? c : 0xFFFD;
    }
    if (n == 1) {
        *used = 1;
        return c;
    }
    unsigned v = c & (0x7F >> n);
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            *used = 1;
            return 0xFFFD;
        }
        v = (v << 6) | (s[k] & 0x3F);
    }
    *used = n;
    return v;
}

static int perr(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "the pattern %s", msg);
    return -1;
}

static int number(const unsigned char *p, size_t len, size_t *i, int *out)
{
    int v = 0, digits = 0;
    while (*i < len && p[*i] >= '0' && p[*i] <= '9') {
        v = v * 10 + (p[*i] - '0');
        if (v > MAX_REPEAT) return -1;
        (*i)++;
        digits++;
    }
    *out = v;
    return digits ? 0 : -1;
}

static int parse(struct pattern *pt, const char *pat, size_t len, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)pat;
    if (len > MAX_PATTERN) return perr(err, errlen, "is longer than 256 bytes");
    size_t i = 0;
    memset(pt, 0, sizeof *pt);
    if (len && p[0] == '^') {
        pt->anchor_start = 1;
        i = 1;
    }
    size_t slashes = 0; /* a $ after an odd number of \ is the character */
    while (len >= 2 + slashes && p[len - 2 - slashes] == '\\') slashes++;
    if (len > i && p[len - 1] == '$' && slashes % 2 == 0) {
        pt->anchor_end = 1;
        len--;
    }
    while (i < len) {
        struct item it = {.kind = ONE};
        size_t used;
        unsigned c = decode(p + i, len - i, &used);
        if (c == '*' || c == '+' || c == '?' || c == '{')
            return perr(err, errlen, "has a quantifier with nothing before it");
        if (c == '^' || c == '$')
            return perr(err, errlen, "has ^ or $ inside (write \\^ or \\$ for the character)");
        if (c == '(' || c == ')' || c == '|')
            return perr(err, errlen, "uses ( ) or |, which are not supported (write \\( for the character)");
        i += used;
        if (c == '.') {
            it.any = 1;
        } else if (c == '[') {
            it.first = (unsigned short)pt->nranges;
            if (i < len && p[i] == '^') {
                it.neg = 1;
                i++;
            }
            int closed = 0;
            while (i < len) {
                unsigned lo = decode(p + i, len - i, &used);
                if (lo == ']') {
                    if (pt->nranges == it.first)
                        return perr(err, errlen, "has an empty [] (write \\] for ])");
                    i += used;
                    closed = 1;
                    break;
                }
                if (lo == '\\' && i + used < len) {
                    i += used;
                    lo = decode(p + i, len - i, &used);
                }
                i += used;
                unsigned hi = lo;
                if (i + 1 < len && p[i] == '-' && p[i + 1] != ']') {
                    i++;
                    hi = decode(p + i, len - i, &used);
                    if (hi == '\\' && i + used < len) {
                        i += used;
                        hi = decode(p + i, len - i, &used);
                    }
                    i += used;
                    if (hi < lo) return perr(err, errlen, "has a range that runs backwards");
                }
                if (pt->nranges == MAX_RANGES) return perr(err, errlen, "has too many classes");
                pt->lo[pt->nranges] = lo;
                pt->hi[pt->nranges] = hi;
                pt->nranges++;
            }
            if (!closed) return perr(err, errlen, "has a [ without its ]");
            it.n = (unsigned short)(pt->nranges - it.first);
        } else {
            if (c == '\\') {
                if (i >= len) return perr(err, errlen, "ends with \\");
                c = decode(p + i, len - i, &used);
                i += used;
            }
            if (pt->nranges == MAX_RANGES) return perr(err, errlen, "is too long");
            it.first = (unsigned short)pt->nranges;
            it.n = 1;
            pt->lo[pt->nranges] = pt->hi[pt->nranges] = c;
            pt->nranges++;
        }
        int min = 1, max = 1; /* max -1: unbounded */
        if (i < len && p[i] == '?')
            min = 0, i++;
        else if (i < len && p[i] == '*')
            min = 0, max = -1, i++;
        else if (i < len && p[i] == '+')
            max = -1, i++;
        else if (i < len && p[i] == '{') {
            i++;
            if (number(p, len, &i, &min)) return perr(err, errlen, "has a bad {m,n}");
            max = min;
            if (i < len && p[i] == ',') {
                i++;
                max = -1;
                if (i < len && p[i] != '}' && (number(p, len, &i, &max) || max < min))
                    return perr(err, errlen, "has a bad {m,n}");
            }
            if (i >= len || p[i] != '}') return perr(err, errlen, "has a bad {m,n}");
            i++;
        }
        if (i < len && strchr("?*+{", p[i])) return perr(err, errlen, "has two quantifiers in a row");
        int copies = max < 0 ? min + 1 : max;
        if (pt->nitems + copies > MAX_ITEMS) return perr(err, errlen, "repeats too much");
        for (int k = 0; k < copies; k++) {
            it.kind = k < min ? ONE : max < 0 ? STAR : OPT;
            pt->items[pt->nitems++] = it;
        }
    }
    return 0;
}

static int item_has(const struct pattern *pt, const struct item *it, unsigned c)
{
    if (it->any) return 1;
    int in = 0;
    for (int k = it->first; k < it->first + it->n && !in; k++) in = c >= pt->lo[k] && c <= pt->hi[k];
    return in != it->neg;
}

static void closure(const struct pattern *pt, unsigned char *set)
{
    for (int k = 0; k < pt->nitems; k++)
        if (set[k] && pt->items[k].kind != ONE) set[k + 1] = 1;
}

int rules_pattern_check(const char *pat, size_t len, char *err, size_t errlen)
{
    struct pattern *pt = malloc(sizeof *pt);
    if (!pt) return perr(err, errlen, "cannot be compiled (out of memory)");
    int rc = parse(pt, pat, len, err, errlen);
    free(pt);
    return rc;
}

int rules_pattern_match(const char *pat, size_t plen, const char *s, size_t slen, long budget, long *spent,
                        char *err, size_t errlen)
{
    struct pattern *pt = malloc(sizeof *pt);
    unsigned char *cur = calloc(2, MAX_ITEMS + 1), *nxt = cur ? cur + MAX_ITEMS + 1 : NULL;
    int rc = -1;
    if (!pt || !cur) {
        perr(err, errlen, "cannot be run (out of memory)");
        goto out;
    }
    if (parse(pt, pat, plen, err, errlen)) goto out;
    double cost = (double)(slen + 1) * (pt->nitems + 1) / 64;
    if (cost > (double)budget) {
        rc = -2;
        goto out;
    }
    *spent = (long)cost;
    int k = pt->nitems;
    cur[0] = 1;
    closure(pt, cur);
    rc = 1;
    if (!pt->anchor_end && cur[k]) goto out;
    for (size_t i = 0; i < slen;) {
        size_t used;
        unsigned c = decode((const unsigned char *)s + i, slen - i, &used);
        i += used;
        memset(nxt, 0, (size_t)k + 1);
        for (int j = 0; j < k; j++)
            if (cur[j] && item_has(pt, &pt->items[j], c)) nxt[pt->items[j].kind == STAR ? j : j + 1] = 1;
        if (!pt->anchor_start) nxt[0] = 1;
        closure(pt, nxt);
        memcpy(cur, nxt, (size_t)k + 1);
        if (!pt->anchor_end && cur[k]) goto out;
    }
    rc = cur[k] ? 1 : 0;
out:
    free(pt);
    free(cur);
    return rc;
}
