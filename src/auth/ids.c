/*
 * ids.c — GB 11643 citizen ID numbers and GB 32100 unified social credit codes.
 *
 * Both end in a check character computed from the first 17 with fixed weights:
 *   GB 11643: sum(d[i] * 2^(17-i) mod 11) mod 11 indexes "10X98765432";
 *   GB 32100: 31 - sum(v[i] * 3^i mod 31) mod 31 (31 becomes 0) indexes the alphabet.
 */
#include <string.h>
#include <time.h>

#include "auth/auth.h"

static int fail(const char **why, const char *msg)
{
    if (why) *why = msg;
    return -1;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int auth_id_number_check(const char *s, const char **why)
{
    static const int W[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    if (!s || strlen(s) != 18) return fail(why, "must be 18 characters");
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (s[i] < '0' || s[i] > '9') return fail(why, "the first 17 characters must be digits");
        sum += (s[i] - '0') * W[i];
    }
    if (!((s[17] >= '0' && s[17] <= '9') || s[17] == 'X'))
        return fail(why, "the last character must be a digit or X");
    if (strncmp(s, "000000", 6) == 0 || s[0] == '0') return fail(why, "the region code is not valid");
    int y = 0, m = 0, d = 0;
    for (int i = 6; i < 10; i++) y = y * 10 + (s[i] - '0');
    m = (s[10] - '0') * 10 + (s[11] - '0');
    d = (s[12] - '0') * 10 + (s[13] - '0');
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1850 || m < 1 || m > 12 || d < 1 || d > days[m - 1] + (m == 2 && is_leap(y)))
        return fail(why, "the birth date is not a real date");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    long today = (tm.tm_year + 1900L) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    if (y * 10000L + m * 100 + d > today) return fail(why, "the birth date is in the future");
    if (s[17] != "10X98765432"[sum % 11]) return fail(why, "the check character does not match");
    return 0;
}

int auth_uscc_check(const char *s, const char **why)
{
    static const char A[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    static const int W[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    if (!s || strlen(s) != 18) return fail(why, "must be 18 characters");
    int sum = 0;
    for (int i = 0; i < 18; i++) {
        const char *p = s[i] ? strchr(A, s[i]) : NULL;
        if (!p) return fail(why, "may use only digits and capital letters other than I, O, Z, S and V");
        if (i < 17) sum += (int)(p - A) * W[i];
    }
    for (int i = 2; i < 8; i++)
        if (s[i] < '0' || s[i] > '9') return fail(why, "characters 3 to 8 must be a region code");
    if (s[17] != A[(31 - sum % 31) % 31]) return fail(why, "the check character does not match");
    return 0;
}
