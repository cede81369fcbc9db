/*
 * Captcha tests, through captcha.h only: the text (length, alphabet, every character
 * drawn, no two alike), the PNG (signature, IHDR, chunk CRCs, IDAT inflating to whole
 * filtered rows), the picture (ink and paper in the text area, a new picture each time)
 * and refused input.  The written file is also shown to `file` and to python3's zlib
 * (each skipped when not on PATH).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "auth/captcha.h"

static const char ALPHABET[] = CAPTCHA_ALPHABET;

/* ---- helpers ---- */

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct image {
    uint32_t w, h;
    unsigned char *px; /* w * h grey levels, unfiltered */
};

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Check the PNG's structure byte by byte and decode its pixels. */
static void png_decode(const unsigned char *png, size_t len, struct image *img)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(len > sizeof sig);
    assert_memory_equal(png, sig, sizeof sig);

    unsigned char *z = NULL;
    size_t zlen = 0, pos = sizeof sig;
    int chunks = 0, seen_iend = 0;
    img->w = img->h = 0;
    while (pos < len) {
        assert_false(seen_iend); /* nothing after IEND */
        assert_true(len - pos >= 12);
        uint32_t n = get32(png + pos);
        assert_true(n <= len - pos - 12);
        const unsigned char *type = png + pos + 4, *data = png + pos + 8;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), type, (uInt)(4 + n));
        assert_int_equal(get32(data + n), (uint32_t)crc);
        if (chunks == 0) {
            /* IHDR first: 160x60, 8-bit grey-scale, deflate, filter 0, not interlaced */
            assert_memory_equal(type, "IHDR", 4);
            assert_int_equal(n, 13);
            img->w = get32(data);
            img->h = get32(data + 4);
            assert_int_equal(img->w, 160);
            assert_int_equal(img->h, 60);
            assert_int_equal(data[8], 8);
            assert_int_equal(data[9], 0);
            assert_int_equal(data[10], 0);
            assert_int_equal(data[11], 0);
            assert_int_equal(data[12], 0);
        } else if (memcmp(type, "IDAT", 4) == 0) {
            z = realloc(z, zlen + n);
            assert_non_null(z);
            memcpy(z + zlen, data, n);
            zlen += n;
        } else if (memcmp(type, "IEND", 4) == 0) {
            assert_int_equal(n, 0);
            seen_iend = 1;
        } else {
            assert_false(memcmp(type, "IHDR", 4) == 0); /* only one */
        }
        pos += 12 + n;
        chunks++;
    }
    assert_int_equal(pos, len);
    assert_true(seen_iend);
    assert_true(zlen > 0);

    /* IDAT inflates to exactly h rows of a filter byte and w pixels */
    size_t want = (size_t)img->h * (1 + img->w);
    uLongf got = want + 64;
    unsigned char *raw = malloc(got);
    assert_non_null(raw);
    assert_int_equal(uncompress(raw, &got, z, zlen), Z_OK);
    free(z);
    assert_int_equal(got, want);

    img->px = malloc((size_t)img->w * img->h);
    assert_non_null(img->px);
    for (uint32_t y = 0; y < img->h; y++) {
        const unsigned char *row = raw + (size_t)y * (1 + img->w);
        unsigned char *cur = img->px + (size_t)y * img->w, *up = y ? cur - img->w : NULL;
        assert_in_range(row[0], 0, 4);
        for (uint32_t x = 0; x < img->w; x++) {
            int a = x ? cur[x - 1] : 0, b = up ? up[x] : 0, c = x && up ? up[x - 1] : 0, p = 0;
            switch (row[0]) {
            case 0: p = 0; break;
            case 1: p = a; break;
            case 2: p = b; break;
            case 3: p = (a + b) / 2; break;
            case 4: p = paeth(a, b, c); break;
            }
            cur[x] = (unsigned char)(row[1 + x] + p);
        }
    }
    free(raw);
}

/* Run a shell command; its stdout (up to size - 1 bytes) goes to out.  Returns the exit status. */
static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the text ---- */

static void text_length_and_alphabet(void **state)
{
    (void)state;
    char buf[16];
    for (int n = 4; n <= 8; n++) {
        memset(buf, 'x', sizeof buf);
        assert_int_equal(captcha_text(buf, n), 0);
        assert_int_equal(strlen(buf), n);
    }
    assert_int_equal(captcha_text(buf, 3), -1);
    assert_int_equal(captcha_text(buf, 9), -1);
    assert_int_equal(captcha_text(buf, 0), -1);
    assert_int_equal(captcha_text(buf, -5), -1);
    assert_int_equal(captcha_text(NULL, 5), -1);

    /* 12,000 characters: only the alphabet's, each about as often as the others */
    enum { DRAWS = 2000, N = 6 };
    long count[256] = {0};
    for (int i = 0; i < DRAWS; i++) {
        assert_int_equal(captcha_text(buf, N), 0);
        assert_int_equal(strlen(buf), N);
        for (int k = 0; k < N; k++) count[(unsigned char)buf[k]]++;
    }
    const double expect = (double)DRAWS * N / (sizeof ALPHABET - 1); /* 375, s.d. about 19 */
    for (int c = 0; c < 256; c++) {
        if (c && strchr(ALPHABET, c)) {
            if (count[c] < expect - 130 || count[c] > expect + 130)
                fail_msg("'%c' drawn %ld times, expected about %.0f", c, count[c], expect);
        } else if (count[c]) {
            fail_msg("character %d is not in the alphabet but was drawn %ld times", c, count[c]);
        }
    }
    for (const char *f = "OI01oi"; *f; f++) assert_int_equal(count[(unsigned char)*f], 0);
}

static void text_is_random(void **state)
{
    (void)state;
    enum { DRAWS = 300 };
    static char seen[DRAWS][9];
    for (int i = 0; i < DRAWS; i++) {
        assert_int_equal(captcha_text(seen[i], 8), 0);
        for (int j = 0; j < i; j++)
            if (strcmp(seen[i], seen[j]) == 0) fail_msg("%s drawn twice", seen[i]);
    }
}

/* ---- the picture ---- */

static void png_structure(void **state)
{
    (void)state;
    /* every length, and every character of the alphabet at least once */
    const char *texts[] = {"ABCD", "EFGHJ", "KLMNPQ", "RSTUVWX", "YZ234567", "89AB", "WMQ8B", "2Z5S6G"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        unsigned char *png = NULL;
        size_t len = 0;
        assert_int_equal(captcha_png(texts[i], &png, &len), 0);
        assert_non_null(png);
        struct image img;
        png_decode(png, len, &img);
        free(img.px);
        free(png);
    }
    for (const char *c = ALPHABET; *c; c++) {
        char t[5] = {*c, *c, *c, *c, 0};
        unsigned char *png = NULL;
        size_t len = 0;
        assert_int_equal(captcha_png(t, &png, &len), 0);
        free(png);
    }
}

/* Pixels darker than 100 and lighter than 180 inside the text area. */
static void ink_and_paper(const struct image *img, int *dark, int *light)
{
    *dark = *light = 0;
    for (uint32_t y = 12; y < img->h - 12; y++)
        for (uint32_t x = 12; x < img->w - 12; x++) {
            unsigned char v = img->px[y * img->w + x];
            if (v < 100) ++*dark;
            if (v > 180) ++*light;
        }
}

static void png_not_blank_and_never_the_same(void **state)
{
    (void)state;
    struct image img[2];
    unsigned char *png[2];
    size_t len[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(captcha_png("HK7PX", &png[i], &len[i]), 0);
        png_decode(png[i], len[i], &img[i]);
        int dark, light;
        ink_and_paper(&img[i], &dark, &light);
        /* 136x36 = 4896 pixels: strokes of five characters, and paper around them */
        if (dark < 400 || light < 1500) fail_msg("dark %d, light %d: blank or all ink?", dark, light);
    }
    assert_false(len[0] == len[1] && memcmp(png[0], png[1], len[0]) == 0);
    int differ = 0;
    for (size_t k = 0; k < (size_t)img[0].w * img[0].h; k++) differ += img[0].px[k] != img[1].px[k];
    assert_true(differ > 1000);
    for (int i = 0; i < 2; i++) {
        free(img[i].px);
        free(png[i]);
    }
}

static void bad_input_refused(void **state)
{
    (void)state;
    const char *bad[] = {"",      "ABC",   "ABCDEFGHJ",   "ABCDEFGHJK", "abcde",
                         "ABcDE", "ABODE", "ABIDE",       "AB0DE",      "AB1DE",
                         "AB DE", "AB-DE", "ABC\xc3\x89", "ABCD\n",     "O0I1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char *png = (unsigned char *)"untouched";
        size_t len = 99;
        if (captcha_png(bad[i], &png, &len) != -1) fail_msg("'%s' accepted", bad[i]);
        assert_null(png);
        assert_int_equal(len, 0);
    }
    unsigned char *png = NULL;
    size_t len = 0;
    assert_int_equal(captcha_png(NULL, &png, &len), -1);
    assert_int_equal(captcha_png("ABCDE", NULL, &len), -1);
    assert_int_equal(captcha_png("ABCDE", &png, NULL), -1);
    assert_null(png);
}

/* ---- other readers agree ---- */

static void png_read_by_other_tools(void **state)
{
    (void)state;
    char text[CAPTCHA_LEN + 1];
    assert_int_equal(captcha_text(text, CAPTCHA_LEN), 0);
    unsigned char *png;
    size_t len;
    assert_int_equal(captcha_png(text, &png, &len), 0);
    char path[] = "/tmp/ehall-captcha-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, png, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    free(png);

    char cmd[4096], out[1024];
    int checked = 0;
    if (run("command -v file >/dev/null 2>&1", out, sizeof out) == 0) {
        snprintf(cmd, sizeof cmd, "file -b '%s'", path);
        assert_int_equal(run(cmd, out, sizeof out), 0);
        if (!strstr(out, "PNG image data, 160 x 60, 8-bit grayscale")) fail_msg("file says: %s", out);
        checked++;
    }
    if (run("command -v pngcheck >/dev/null 2>&1", out, sizeof out) == 0) {
        snprintf(cmd, sizeof cmd, "pngcheck -q '%s'", path);
        if (run(cmd, out, sizeof out) != 0) fail_msg("pngcheck: %s", out);
        checked++;
    }
    if (run("command -v python3 >/dev/null 2>&1", out, sizeof out) == 0) {
        /* an independent reading: CRCs and inflated size by python3's zlib */
        snprintf(
            cmd, sizeof cmd,
            "python3 -c '\n"
            "import struct, sys, zlib\n"
            "d = open(sys.argv[1], \"rb\").read()\n"
            "assert d[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\"\n"
            "p, z, types = 8, b\"\", []\n"
            "while p < len(d):\n"
            "    n, t = struct.unpack(\">I4s\", d[p:p + 8])\n"
            "    assert zlib.crc32(d[p + 4:p + 8 + n]) == struct.unpack(\">I\", d[p + 8 + n:p + 12 + n])[0]\n"
            "    if t == b\"IHDR\": w, h = struct.unpack(\">II\", d[p + 8:p + 16])\n"
            "    if t == b\"IDAT\": z += d[p + 8:p + 8 + n]\n"
            "    types.append(t); p += 12 + n\n"
            "raw = zlib.decompress(z)\n"
            "assert len(raw) == h * (w + 1) and types[0] == b\"IHDR\" and types[-1] == b\"IEND\"\n"
            "print(\"ok\", w, h)\n"
            "' '%s' 2>&1",
            path);
        if (run(cmd, out, sizeof out) != 0 || strcmp(out, "ok 160 60\n") != 0) fail_msg("python3: %s", out);
        checked++;
    }
    unlink(path);
    if (!checked) {
        print_message("neither file, pngcheck nor python3 found; skipping\n");
        skip();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_length_and_alphabet),
        cmocka_unit_test(text_is_random),
        cmocka_unit_test(png_structure),
        cmocka_unit_test(png_not_blank_and_never_the_same),
        cmocka_unit_test(bad_input_refused),
        cmocka_unit_test(png_read_by_other_tools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
