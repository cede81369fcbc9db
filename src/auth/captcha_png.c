/*
 * captcha_png.c — the captcha's characters and their picture (captcha.h).
 *
 * captcha_text draws characters of CAPTCHA_ALPHABET from the CSPRNG by rejection
 * sampling, so no character is likelier than another.
 *
 * captcha_png draws a 160x60 8-bit grey-scale image.  Each glyph comes from our own
 * 5x7 dot-matrix font, turned into strokes (neighbouring dots joined by line segments)
 * and drawn anti-aliased under a per-character affine map — random size, rotation,
 * shear and offset — after the whole picture has been bent by a random sine warp.
 * Under the text lies a noisy grey background; over it go 3-5 random wavy lines and
 * dark and light noise dots.  Every random choice comes from random_bytes: two pictures
 * of the same text never match.  The PNG is written here too (signature, IHDR, one
 * IDAT compressed by zlib, IEND; CRCs with zlib's crc32), which is all a captcha needs.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "auth/captcha.h"
#include "core/core.h"

#define IMG_W   160
#define IMG_H   60
#define MIN_LEN 4
#define MAX_LEN 8

#define PI 3.14159265358979323846

/* ---- randomness: a pool refilled from random_bytes ---- */

struct rng {
    unsigned char buf[1024];
    size_t pos;
    int failed;
};

static void rng_init(struct rng *r)
{
    r->pos = sizeof r->buf;
    r->failed = 0;
}

static uint32_t rng_u32(struct rng *r)
{
    if (r->pos + 4 > sizeof r->buf) {
        if (random_bytes(r->buf, sizeof r->buf) != 0) {
            r->failed = 1;
            memset(r->buf, 0, sizeof r->buf);
        }
        r->pos = 0;
    }
    const unsigned char *p = r->buf + r->pos;
    r->pos += 4;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Uniform in [lo, hi). */
static double rng_range(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)rng_u32(r) / 4294967296.0);
}

/* Uniform in lo..hi inclusive (pixel positions and counts: a tiny bias would not matter,
 * and there is none to speak of with 32 random bits). */
static int rng_int(struct rng *r, int lo, int hi)
{
    return lo + (int)((double)rng_u32(r) / 4294967296.0 * (hi - lo + 1));
}

/* ---- the text ---- */

int captcha_text(char *out, int n)
{
    static const char alphabet[] = CAPTCHA_ALPHABET;
    const unsigned size = sizeof alphabet - 1;
    const unsigned limit = 256 - 256 % size; /* bytes at or above limit would bias */
    if (!out || n < MIN_LEN || n > MAX_LEN) return -1;
    int have = 0;
    while (have < n) {
        unsigned char b[16];
        if (random_bytes(b, sizeof b) != 0) return -1;
        for (size_t i = 0; i < sizeof b && have < n; i++)
            if (b[i] < limit) out[have++] = alphabet[b[i] % size];
    }
    out[n] = '\0';
    return 0;
}

/* ---- the font: 5x7 dots, one string per row ---- */

struct glyph {
    char c;
    const char *rows[7];
};

static const struct glyph FONT[] = {
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'A', {"..#..", ".#.#.", "#...#", "#...#", "#####", "#...#", "#...#"}},
    {'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
    {'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
    {'D', {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."}},
    {'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
    {'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
    {'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"}},
    {'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
    {'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
    {'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
    {'N', {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"}},
    {'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
    {'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
    {'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
    {'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
    {'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
    {'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
    {'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
    {'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
    {'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
};

static const struct glyph *glyph_of(char c)
{
    for (size_t i = 0; i < EHALL_ARRAY_LEN(FONT); i++)
        if (FONT[i].c == c) return &FONT[i];
    return NULL;
}

/* A glyph as strokes: segments between dot centres, in dot units centred on the glyph. */
#define MAX_SEGS 64
struct seg {
    double ax, ay, bx, by;
};

static int dot(const struct glyph *g, int x, int y)
{
    return x >= 0 && x < 5 && y >= 0 && y < 7 && g->rows[y][x] == '#';
}

static int glyph_strokes(const struct glyph *g, struct seg *s)
{
    int n = 0;
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 5; x++) {
            if (!dot(g, x, y)) continue;
            /* right, down, and the diagonals when no orthogonal path already joins them */
            int to[4][2] = {{x + 1, y}, {x, y + 1}, {x + 1, y + 1}, {x - 1, y + 1}};
            int joined = 0;
            for (int k = 0; k < 4; k++) {
                int tx = to[k][0], ty = to[k][1];
                if (!dot(g, tx, ty)) continue;
                if (k >= 2 && (dot(g, tx, y) || dot(g, x, ty))) continue;
                if (n < MAX_SEGS) s[n++] = (struct seg){x - 2.0, y - 3.0, tx - 2.0, ty - 3.0};
                joined = 1;
            }
            /* a lone dot, or one only reached from above or the left, still needs ink */
            if (!joined && n < MAX_SEGS) s[n++] = (struct seg){x - 2.0, y - 3.0, x - 2.0, y - 3.0};
        }
    return n;
}

static double seg_dist(const struct seg *s, double px, double py)
{
    double dx = s->bx - s->ax, dy = s->by - s->ay;
    double l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((px - s->ax) * dx + (py - s->ay) * dy) / l2 : 0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double ex = s->ax + t * dx - px, ey = s->ay + t * dy - py;
    return sqrt(ex * ex + ey * ey);
}

/* One character placed on the picture. */
struct placed {
    struct seg seg[MAX_SEGS];
    int nseg;
    double cx, cy;             /* centre, pixels */
    double i00, i01, i10, i11; /* inverse of the glyph-to-pixel map */
    double unit;               /* pixels per dot unit, roughly (for anti-aliasing) */
    double radius;             /* stroke half-width, dot units */
    double ink;                /* grey level */
    double x0, x1, y0, y1;     /* bounding box, pixels */
};

static void place(struct placed *p, const struct glyph *g, int i, int n, struct rng *r)
{
    const double margin = 7;
    double cell = (IMG_W - 2 * margin) / n;
    p->nseg = glyph_strokes(g, p->seg);
    p->cx = margin + cell * (i + 0.5) + rng_range(r, -0.12, 0.12) * cell;
    p->cy = IMG_H / 2.0 + rng_range(r, -5, 5);
    double sx = fmin(cell * 0.72 / 5, 4.6) * rng_range(r, 0.88, 1.05);
    double sy = fmin(sx * 1.3, 5.6) * rng_range(r, 0.9, 1.08);
    double th = rng_range(r, -0.3, 0.3), sh = rng_range(r, -0.25, 0.25);
    /* M = R(th) * [1 sh; 0 1] * diag(sx, sy) */
    double c = cos(th), s = sin(th);
    double m00 = c * sx, m01 = (c * sh - s) * sy;
    double m10 = s * sx, m11 = (s * sh + c) * sy;
    double det = m00 * m11 - m01 * m10;
    p->i00 = m11 / det;
    p->i01 = -m01 / det;
    p->i10 = -m10 / det;
    p->i11 = m00 / det;
    p->unit = sqrt(fabs(det));
    p->radius = rng_range(r, 0.42, 0.55);
    p->ink = rng_range(r, 15, 75);
    /* the glyph spans +-2.6 by +-3.6 dot units; its corners bound the box */
    p->x0 = p->x1 = p->cx;
    p->y0 = p->y1 = p->cy;
    for (int k = 0; k < 4; k++) {
        double gx = k & 1 ? 2.6 : -2.6, gy = k & 2 ? 3.6 : -3.6;
        double x = p->cx + m00 * gx + m01 * gy, y = p->cy + m10 * gx + m11 * gy;
        p->x0 = fmin(p->x0, x);
        p->x1 = fmax(p->x1, x);
        p->y0 = fmin(p->y0, y);
        p->y1 = fmax(p->y1, y);
    }
}

/* How much of the pixel around (x, y) the glyph covers, 0..1. */
static double coverage(const struct placed *p, double x, double y)
{
    if (x < p->x0 - 1 || x > p->x1 + 1 || y < p->y0 - 1 || y > p->y1 + 1) return 0;
    double dx = x - p->cx, dy = y - p->cy;
    double gx = p->i00 * dx + p->i01 * dy, gy = p->i10 * dx + p->i11 * dy;
    double d = 1e9;
    for (int k = 0; k < p->nseg; k++) d = fmin(d, seg_dist(&p->seg[k], gx, gy));
    double c = (p->radius - d) * p->unit + 0.5;
    return c < 0 ? 0 : c > 1 ? 1 : c;
}

static void blend(float *px, double ink, double cov)
{
    if (cov > 0) *px = (float)(*px * (1 - cov) + ink * cov);
}

/* ---- drawing ---- */

/* img and cov: IMG_W * IMG_H each; cov is scratch space. */
static void draw(const char *text, int n, float *img, float *cov, struct rng *r)
{
    /* background: a gentle gradient with grain */
    double b0 = rng_range(r, 215, 245), b1 = rng_range(r, 215, 245);
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++)
            img[y * IMG_W + x] = (float)(b0 + (b1 - b0) * x / IMG_W + rng_range(r, -14, 14));

    /* faint background lines, to give OCR something to chew on */
    for (int k = rng_int(r, 4, 7); k > 0; k--) {
        double x0 = rng_range(r, 0, IMG_W), y0 = rng_range(r, 0, IMG_H);
        double x1 = rng_range(r, 0, IMG_W), y1 = rng_range(r, 0, IMG_H), g = rng_range(r, 150, 195);
        for (double t = 0; t <= 1; t += 0.002) {
            int x = (int)(x0 + (x1 - x0) * t), y = (int)(y0 + (y1 - y0) * t);
            if (x >= 0 && x < IMG_W && y >= 0 && y < IMG_H) img[y * IMG_W + x] = (float)g;
        }
    }

    /* the characters, through a sine warp of the whole picture */
    struct placed ch[MAX_LEN];
    for (int i = 0; i < n; i++) place(&ch[i], glyph_of(text[i]), i, n, r);
    double ax = rng_range(r, 1.5, 3.0), px = rng_range(r, 25, 45), fx = rng_range(r, 0, 2 * PI);
    double ay = rng_range(r, 2.0, 4.0), py = rng_range(r, 50, 90), fy = rng_range(r, 0, 2 * PI);
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++) {
            double wx = x + 0.5 + ax * sin(2 * PI * y / px + fx);
            double wy = y + 0.5 + ay * sin(2 * PI * x / py + fy);
            for (int i = 0; i < n; i++) blend(&img[y * IMG_W + x], ch[i].ink, coverage(&ch[i], wx, wy));
        }

    /* 3-5 wavy lines across the text */
    for (int k = rng_int(r, 3, 5); k > 0; k--) {
        double x0 = rng_range(r, 0, 25), x1 = rng_range(r, IMG_W - 25, IMG_W);
        double y0 = rng_range(r, 14, IMG_H - 14), y1 = rng_range(r, 14, IMG_H - 14);
        double amp = rng_range(r, 1, 6), per = rng_range(r, 40, 140), ph = rng_range(r, 0, 2 * PI);
        double half = rng_range(r, 0.4, 0.75), ink = rng_range(r, 60, 120);
        memset(cov, 0, sizeof(float) * IMG_W * IMG_H);
        for (double x = x0; x <= x1; x += 0.25) {
            double t = (x - x0) / (x1 - x0);
            double y = y0 + (y1 - y0) * t + amp * sin(2 * PI * x / per + ph);
            for (int yy = (int)(y - half - 1); yy <= (int)(y + half + 1); yy++)
                for (int xx = (int)(x - half - 1); xx <= (int)(x + half + 1); xx++) {
                    if (xx < 0 || xx >= IMG_W || yy < 0 || yy >= IMG_H) continue;
                    double d = hypot(xx + 0.5 - x, yy + 0.5 - y);
                    double c = half - d + 0.5;
                    if (c > cov[yy * IMG_W + xx]) cov[yy * IMG_W + xx] = (float)fmin(c, 1);
                }
        }
        for (int i = 0; i < IMG_W * IMG_H; i++) blend(&img[i], ink, cov[i]);
    }

    /* noise dots, dark and light, some two pixels wide */
    for (int k = rng_int(r, 350, 500); k > 0; k--) {
        int x = rng_int(r, 0, IMG_W - 1), y = rng_int(r, 0, IMG_H - 1), big = rng_int(r, 0, 3) == 0;
        float g = (float)(rng_int(r, 0, 1) ? rng_range(r, 20, 110) : rng_range(r, 200, 255));
        for (int yy = y; yy <= y + big && yy < IMG_H; yy++)
            for (int xx = x; xx <= x + big && xx < IMG_W; xx++) img[yy * IMG_W + xx] = g;
    }
}

/* ---- PNG ---- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Length, type and data are already at p; append the CRC.  Returns the chunk's size. */
static size_t chunk_finish(unsigned char *p, size_t data_len)
{
    put32(p, (uint32_t)data_len);
    uLong crc = crc32(0L, p + 4, (uInt)(4 + data_len));
    put32(p + 8 + data_len, (uint32_t)crc);
    return 12 + data_len;
}

static int png_encode(const float *img, unsigned char **png, size_t *len)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const size_t raw_len = (size_t)IMG_H * (1 + IMG_W);
    unsigned char *raw = malloc(raw_len);
    if (!raw) return -1;
    for (int y = 0; y < IMG_H; y++) {
        unsigned char *row = raw + (size_t)y * (1 + IMG_W);
        row[0] = 0; /* filter: none */
        for (int x = 0; x < IMG_W; x++) {
            float v = img[y * IMG_W + x];
            row[1 + x] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : lrintf(v));
        }
    }
    uLongf zlen = compressBound(raw_len);
    size_t cap = sizeof sig + (12 + 13) + (12 + zlen) + 12;
    unsigned char *out = malloc(cap);
    if (!out) {
        free(raw);
        return -1;
    }
    size_t pos = 0;
    memcpy(out, sig, sizeof sig);
    pos += sizeof sig;

    unsigned char *ihdr = out + pos;
    memcpy(ihdr + 4, "IHDR", 4);
    put32(ihdr + 8, IMG_W);
    put32(ihdr + 12, IMG_H);
    ihdr[16] = 8; /* bit depth */
    ihdr[17] = 0; /* colour type: grey-scale */
    ihdr[18] = 0; /* compression: deflate */
    ihdr[19] = 0; /* filter method 0 */
    ihdr[20] = 0; /* no interlace */
    pos += chunk_finish(ihdr, 13);

    unsigned char *idat = out + pos;
    memcpy(idat + 4, "IDAT", 4);
    int zr = compress2(idat + 8, &zlen, raw, raw_len, Z_BEST_COMPRESSION);
    free(raw);
    if (zr != Z_OK) {
        free(out);
        return -1;
    }
    pos += chunk_finish(idat, zlen);

    unsigned char *iend = out + pos;
    memcpy(iend + 4, "IEND", 4);
    pos += chunk_finish(iend, 0);

    *png = out;
    *len = pos;
    return 0;
}

int captcha_png(const char *text, unsigned char **png, size_t *len)
{
    if (!png || !len) return -1;
    *png = NULL;
    *len = 0;
    if (!text) return -1;
    size_t n = strnlen(text, MAX_LEN + 1);
    if (n < MIN_LEN || n > MAX_LEN) return -1;
    for (size_t i = 0; i < n; i++)
        if (!glyph_of(text[i])) return -1;

    float *img = malloc(2 * sizeof(float) * IMG_W * IMG_H); /* the picture, then scratch */
    if (!img) return -1;
    struct rng r;
    rng_init(&r);
    draw(text, (int)n, img, img + IMG_W * IMG_H, &r);
    int rc = r.failed ? -1 : png_encode(img, png, len);
    free(img);
    return rc;
}
