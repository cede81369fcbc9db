/*
 * ident.c — the licence identifier and its ISO 7064 MOD 37,36 check character.
 *
 *   <ABBR>-<ISSUER>-<YYYY><SEQ:8>-<C>
 *
 * MOD 37,36 is the hybrid system of ISO 7064 over the 36 characters 0-9 A-Z (values
 * 0..35): p = 36; for each character a: s = (p + a) mod 36 (36 when 0), p = 2s mod 37;
 * the check character c makes (p + c) mod 36 = 1.  It catches every single substitution
 * and every transposition of neighbours.
 */
#include <stdio.h>
#include <string.h>

#include "licence/licence.h"

static int val(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'A' && ch <= 'Z') return ch - 'A' + 10;
    return -1;
}

static const char ALPHA[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

char licence_check_char(const char *s)
{
    int p = 36, any = 0;
    for (; *s; s++) {
        if (*s == '-') continue;
        int a = val(*s);
        if (a < 0) return 0;
        int t = (p + a) % 36;
        if (t == 0) t = 36;
        p = (t * 2) % 37;
        any = 1;
    }
    if (!any) return 0;
    return ALPHA[(37 - p) % 36];
}

static int code_ok(const char *s, size_t lo, size_t hi)
{
    size_t n = strlen(s);
    if (n < lo || n > hi) return 0;
    for (size_t i = 0; i < n; i++)
        if (val(s[i]) < 0) return 0;
    return 1;
}

int licence_id_format(const char *abbr, const char *issuer_code, int year, long long seq,
                      char out[LICENCE_ID_MAX])
{
    if (!code_ok(abbr, 2, 6) || !code_ok(issuer_code, 6, 18) || year < 2000 || year > 9999 || seq < 1 ||
        seq > 99999999LL)
        return -1;
    char body[LICENCE_ID_MAX];
    snprintf(body, sizeof body, "%s-%s-%04d%08lld", abbr, issuer_code, year, seq);
    char c = licence_check_char(body);
    if (!c) return -1;
    snprintf(out, LICENCE_ID_MAX, "%s-%c", body, c);
    return 0;
}

int licence_id_check(const char *id, const char **why)
{
    const char *w = NULL;
    size_t n = id ? strlen(id) : 0;
    const char *d1 = n ? strchr(id, '-') : NULL, *d2 = d1 ? strchr(d1 + 1, '-') : NULL,
               *d3 = d2 ? strchr(d2 + 1, '-') : NULL;
    if (n < 2 + 1 + 6 + 1 + 12 + 2 || n >= LICENCE_ID_MAX)
        w = "a licence identifier is ABBR-ISSUER-YYYYSSSSSSSS-C";
    else if (!d3 || strchr(d3 + 1, '-') || d1 - id < 2 || d1 - id > 6 || d2 - d1 - 1 < 6 ||
             d2 - d1 - 1 > 18 || d3 - d2 - 1 != 12 || strlen(d3 + 1) != 1)
        w = "a licence identifier is ABBR-ISSUER-YYYYSSSSSSSS-C";
    else {
        for (size_t i = 0; i < n && !w; i++)
            if (id[i] != '-' && val(id[i]) < 0) w = "only 0-9, A-Z and hyphens";
        for (const char *p = d2 + 1; p < d3 && !w; p++)
            if (*p < '0' || *p > '9') w = "the year and sequence are 12 digits";
        if (!w) {
            char body[LICENCE_ID_MAX];
            snprintf(body, sizeof body, "%.*s", (int)(d3 - id), id);
            if (licence_check_char(body) != d3[1]) w = "the check character does not match";
        }
    }
    if (why) *why = w;
    return w ? -1 : 0;
}
