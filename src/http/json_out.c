/*
 * json_out.c — JSON answers written out by ehall rather than by json_dumps.
 *
 * The same text as jansson's json_dumps(v, JSON_COMPACT) (keys in insertion order, UTF-8
 * as it is, control characters, '"' and '\' escaped, a real number through jansson
 * itself), at a fraction of the cost: jansson walks each string one code point at a time
 * through a callback and formats each integer with snprintf, which made json_dumps a
 * quarter of a list request's CPU.  tests/test_unit.c compares the two on tricky values.
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

struct jbuf {
    char *p;
    size_t len, cap;
    int bad;
};

static int reserve(struct jbuf *b, size_t n)
{
    if (b->bad) return -1;
    if (b->len + n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
        b->bad = 1;
        return -1;
    }
    b->p = q;
    b->cap = cap;
    return 0;
}

static void put(struct jbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) == 0) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void put_int(struct jbuf *b, json_int_t v)
{
    char tmp[24], *end = tmp + sizeof tmp, *q = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--q = '-';
    put(b, q, (size_t)(end - q));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 — the checks of jansson's
 * utf8_check_full: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static void put_string(struct jbuf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)str;
    if (reserve(b, n + 2) != 0) return;
    b->p[b->len++] = '"';
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
        if (c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (!l) {
                b->bad = 1;
                return;
            }
            i += l - 1;
            continue;
        }
        put(b, str + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default: e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15]; el = 6;
        }
        put(b, e, el);
    }
    put(b, str + run, n - run);
    put(b, "\"", 1);
}

static void put_value(struct jbuf *b, const json_t *v, int depth)
{
    if (b->bad) return;
    if (depth > 2048) {
        b->bad = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put(b, "{", 1);
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach((json_t *)v, k, x)
        {
            if (!first) put(b, ",", 1);
            first = 0;
            put_string(b, k, strlen(k));
            put(b, ":", 1);
            put_value(b, x, depth + 1);
        }
        put(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) put(b, ",", 1);
            put_value(b, json_array_get(v, i), depth + 1);
        }
        put(b, "]", 1);
        break;
    }
    case JSON_STRING: put_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: put_int(b, json_integer_value(v)); break;
    case JSON_REAL: {
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!t) {
            b->bad = 1;
            return;
        }
        put(b, t, strlen(t));
        free(t);
        break;
    }
    case JSON_TRUE: put(b, "true", 4); break;
    case JSON_FALSE: put(b, "false", 5); break;
    case JSON_NULL: put(b, "null", 4); break;
    }
}

char *http_json_text(const json_t *v, size_t *len)
{
    struct jbuf b = {0};
    if (!v) return NULL;
    put_value(&b, v, 0);
    if (reserve(&b, 1) != 0) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    if (len) *len = b.len;
    return b.p;
}
