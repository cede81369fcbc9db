/*
 * mask.c — personal data masked for display (GB/T 35273 de-identification as the
 * portal shows it): a clerk's list shows "110105********002X", "138****5678", "张**".
 * See auth.h.
 *
 * Every function counts characters, not bytes (UTF-8), and when the input is not
 * what it should be — too short, invalid UTF-8, an odd shape — it masks everything
 * rather than show a part that was meant to be hidden.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

#define STARS_FALLBACK "****"

/* Length in bytes of the UTF-8 character at s (1..4), or 0 when it is not valid
 * (overlong forms, surrogates, beyond U+10FFFF, control characters). */
static size_t utf8_char(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x20 || c == 0x7F) return 0;
    if (c < 0x80) return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Characters in s, or -1 when it is not valid UTF-8 text. */
static long utf8_count(const char *s)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; n++) {
        size_t k = utf8_char(p);
        if (!k) return -1;
        p += k;
    }
    return n;
}

/* Bytes taken by the first chars characters of s (valid UTF-8). */
static size_t utf8_prefix(const char *s, long chars)
{
    const unsigned char *p = (const unsigned char *)s;
    while (chars-- > 0 && *p) p += utf8_char(p);
    return (size_t)(p - (const unsigned char *)s);
}

/* out = s[0..keep_head chars) + stars + the last keep_tail chars.  When it does not fit,
 * out gets as much of "****" as fits and -1 is returned. */
static int compose(const char *s, long head, long stars, long tail, char *out, size_t outlen)
{
    if (!out || !outlen) return -1;
    size_t hb = utf8_prefix(s, head);
    long total = utf8_count(s);
    size_t tb = strlen(s) - utf8_prefix(s, total - tail);
    if (hb + (size_t)stars + tb + 1 > outlen) {
        snprintf(out, outlen, "%s", STARS_FALLBACK);
        return -1;
    }
    memcpy(out, s, hb);
    memset(out + hb, '*', (size_t)stars);
    memcpy(out + hb + stars, s + strlen(s) - tb, tb);
    out[hb + (size_t)stars + tb] = 0;
    return 0;
}

static int all_masked(char *out, size_t outlen)
{
    if (!out || !outlen) return -1;
    int fits = outlen > strlen(STARS_FALLBACK);
    snprintf(out, outlen, "%s", STARS_FALLBACK);
    return fits ? 0 : -1;
}

static int empty(const char *s, char *out, size_t outlen)
{
    if (s && *s) return 0;
    if (out && outlen) out[0] = 0;
    return 1;
}

/* Only ASCII letters and digits (and, with plus, a leading '+'). */
static int alnum_only(const char *s, int digits_only, int plus)
{
    if (plus && *s == '+') s++;
    for (; *s; s++) {
        char c = *s;
        int ok =
            (c >= '0' && c <= '9') || (!digits_only && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')));
        if (!ok) return 0;
    }
    return 1;
}

int auth_mask_id_number(const char *s, char *out, size_t outlen)
{
    if (empty(s, out, outlen)) return out && outlen ? 0 : -1;
    long n = (long)strlen(s);
    if (n < 11 || !alnum_only(s, 0, 0)) return all_masked(out, outlen);
    return compose(s, 6, n - 10, 4, out, outlen);
}

int auth_mask_uscc(const char *s, char *out, size_t outlen)
{
    if (empty(s, out, outlen)) return out && outlen ? 0 : -1;
    long n = (long)strlen(s);
    if (n < 11 || !alnum_only(s, 0, 0)) return all_masked(out, outlen);
    return compose(s, 6, n - 10, 4, out, outlen);
}

int auth_mask_mobile(const char *s, char *out, size_t outlen)
{
    if (empty(s, out, outlen)) return out && outlen ? 0 : -1;
    long n = (long)strlen(s);
    if (n < 8 || !alnum_only(s, 1, 1)) return all_masked(out, outlen);
    /* 11 digits: 3 shown, 4 hidden, 4 shown; longer (+86…): everything but the first 3
     * and last 4 hidden; shorter: at least half hidden */
    long tail = n >= 11 ? 4 : 2, head = n >= 11 ? 3 : 2;
    return compose(s, head, n - head - tail, tail, out, outlen);
}

int auth_mask_name(const char *s, char *out, size_t outlen)
{
    if (empty(s, out, outlen)) return out && outlen ? 0 : -1;
    long n = utf8_count(s);
    if (n < 0) return all_masked(out, outlen);
    if (n == 1) return compose(s, 0, 1, 0, out, outlen); /* one character: hide it */
    return compose(s, 1, n - 1, 0, out, outlen);
}

int auth_mask_address(const char *s, char *out, size_t outlen)
{
    if (empty(s, out, outlen)) return out && outlen ? 0 : -1;
    long n = utf8_count(s);
    if (n <= 6) return all_masked(out, outlen);
    return compose(s, 6, 4, 0, out, outlen);
}
