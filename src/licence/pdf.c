/*
 * licence/pdf — renders a signed licence into a PDF with libharu and reads the signed
 * JSON back out of it.  See pdf.h for the document's layout and the embedding.
 *
 * Rendering: every libharu error goes to on_error, which keeps the first one; the
 * document is checked before it is saved, so a failure anywhere is one -1 with a reason.
 * The embedded file is built with libharu's object layer (as HPDF_AttachFile does
 * internally) because HPDF_AttachFile only reads a named file from disk and calls the
 * attachment by that path.
 *
 * Extraction: a small reader for the PDFs libharu writes (one classic xref table, direct
 * or indirect /Length).  Every offset and length is checked against the buffer before it
 * is used; nesting is bounded; the inflated JSON is bounded (LICENCE_PDF_MAX_JSON).
 */
#include "licence/pdf.h"

#include <hpdf.h>
#include <hpdf_namedict.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <qrencode.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define ATTACHMENT_NAME      "licence.json"
#define LICENCE_PDF_MAX_JSON (4u << 20) /* the signed JSON, at most 4 MiB */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- UTF-8 ---------- */

/* Length in bytes of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (s[0] == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
        if (s[0] == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
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

static int utf8_valid(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

/* ---------------------------------------------------------------- rendering ------ */

#define PAGE_W       595.276f /* A4 portrait, in points */
#define PAGE_H       841.89f
#define LABEL_X      72.0f
#define LABEL_W      140.0f
#define VALUE_X      220.0f
#define VALUE_W      (PAGE_W - 72.0f - VALUE_X)
#define ROWS_BOTTOM  80.0f  /* rows never go below this */
#define BLOCK_TOP    275.0f /* the QR / seal block of the last page lies below this */
#define MAX_ROW_LINE 30     /* a value longer than this many lines is cut with an ellipsis */

/* WenQuanYi Zen Hei (fonts-wqy-zenhei): TrueType outlines for CJK and Latin.  Droid Sans
 * Fallback has no Latin letters or digits and, like WenQuanYi Micro Hei, loses many
 * Chinese glyphs when libharu 2.3 subsets it; Noto CJK is CFF, which libharu cannot read. */
static const char *const FONT_PATHS[] = {
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
};

struct ctx {
    HPDF_Doc pdf;
    HPDF_Font font;
    HPDF_Page page;
    HPDF_STATUS error, detail;
    float y; /* where the next row starts, on the current page */
    const char *title;
};

static void on_error(HPDF_STATUS error, HPDF_STATUS detail, void *user)
{
    struct ctx *c = user;
    if (!c->error) {
        c->error = error;
        c->detail = detail;
    }
}

static void text_at(struct ctx *c, float x, float y, float size, const char *s)
{
    HPDF_Page_BeginText(c->page);
    HPDF_Page_SetFontAndSize(c->page, c->font, size);
    HPDF_Page_TextOut(c->page, x, y, s);
    HPDF_Page_EndText(c->page);
}

static float text_width(struct ctx *c, float size, const char *s)
{
    HPDF_Page_SetFontAndSize(c->page, c->font, size);
    return HPDF_Page_TextWidth(c->page, s);
}

static void text_centered(struct ctx *c, float cx, float y, float size, const char *s)
{
    text_at(c, cx - text_width(c, size, s) / 2, y, size, s);
}

struct lines {
    char **v;
    size_t n, cap;
};

static int lines_push(struct lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    char *t = malloc(len + 1);
    if (!t) return -1;
    memcpy(t, s, len);
    t[len] = 0;
    l->v[l->n++] = t;
    return 0;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Breaks s (valid UTF-8; control characters other than \n already blanked) into lines
 * no wider than maxw at this size: at the last space when the line has one, else between
 * characters (which is right for Chinese).  0, or -1 when out of memory. */
static int wrap(struct ctx *c, const char *s, float size, float maxw, struct lines *out)
{
    const char *start = s, *space = NULL, *p = s;
    float w = 0;
    while (*p) {
        if (*p == '\n') {
            if (lines_push(out, start, (size_t)(p - start))) return -1;
            start = ++p;
            space = NULL;
            w = 0;
            continue;
        }
        size_t n = utf8_len((const unsigned char *)p);
        if (!n) n = 1; /* not reached: the text was checked */
        char ch[5] = {0};
        memcpy(ch, p, n);
        float cw = text_width(c, size, ch);
        if (w + cw > maxw && p > start) {
            if (space && space > start) {
                if (lines_push(out, start, (size_t)(space - start))) return -1;
                start = space + 1;
                char *rest = strndup(start, (size_t)(p - start));
                if (!rest) return -1;
                w = text_width(c, size, rest);
                free(rest);
            } else {
                if (lines_push(out, start, (size_t)(p - start))) return -1;
                start = p;
                w = 0;
            }
            space = NULL;
        }
        if (*p == ' ') space = p;
        w += cw;
        p += n;
    }
    if (p > start || out->n == 0) return lines_push(out, start, (size_t)(p - start));
    return 0;
}

/* The text shown for one licence value.  malloc'd, or NULL when out of memory. */
static char *value_text(const json_t *v)
{
    char buf[64];
    char *s;
    if (!v || json_is_null(v)) return strdup("—");
    if (json_is_string(v)) {
        s = strdup(json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        return strdup(buf);
    } else if (json_is_boolean(v)) {
        return strdup(json_is_true(v) ? "是 yes" : "否 no");
    } else {
        s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    }
    if (!s) return NULL;
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n') *p = ' ';
    if (!*s) {
        free(s);
        return strdup("—");
    }
    return s;
}

static void draw_frame(struct ctx *c)
{
    HPDF_Page page = c->page;
    HPDF_Page_SetRGBStroke(page, 0.55f, 0.12f, 0.12f);
    HPDF_Page_SetLineWidth(page, 2.0f);
    HPDF_Page_Rectangle(page, 28, 28, PAGE_W - 56, PAGE_H - 56);
    HPDF_Page_Stroke(page);
    HPDF_Page_SetLineWidth(page, 0.6f);
    HPDF_Page_Rectangle(page, 34, 34, PAGE_W - 68, PAGE_H - 68);
    HPDF_Page_Stroke(page);
    HPDF_Page_SetRGBStroke(page, 0, 0, 0);
    HPDF_Page_SetRGBFill(page, 0, 0, 0);
}

static void new_page(struct ctx *c, const char *id)
{
    int first = c->page == NULL;
    c->page = HPDF_AddPage(c->pdf);
    HPDF_Page_SetWidth(c->page, PAGE_W);
    HPDF_Page_SetHeight(c->page, PAGE_H);
    draw_frame(c);
    float y = PAGE_H - 100;
    if (first) {
        /* the title, faux bold: filled and stroked */
        HPDF_Page_SetTextRenderingMode(c->page, HPDF_FILL_THEN_STROKE);
        HPDF_Page_SetLineWidth(c->page, 0.5f);
        text_centered(c, PAGE_W / 2, y, 24, c->title);
        HPDF_Page_SetTextRenderingMode(c->page, HPDF_FILL);
        HPDF_Page_SetRGBFill(c->page, 0.35f, 0.35f, 0.35f);
        text_centered(c, PAGE_W / 2, y - 22, 10, "电子证照  Electronic Licence");
        HPDF_Page_SetRGBFill(c->page, 0, 0, 0);
        char line[512];
        snprintf(line, sizeof line, "证照标识 Licence ID：%s", id);
        text_centered(c, PAGE_W / 2, y - 44, 11, line);
        y -= 58;
    } else {
        char line[600];
        snprintf(line, sizeof line, "%s（续 continued）", c->title);
        text_centered(c, PAGE_W / 2, y + 20, 12, line);
    }
    HPDF_Page_SetLineWidth(c->page, 1.0f);
    HPDF_Page_MoveTo(c->page, LABEL_X - 8, y);
    HPDF_Page_LineTo(c->page, PAGE_W - 64, y);
    HPDF_Page_Stroke(c->page);
    c->y = y;
}

/* One label / value row; a new page first when it does not fit. */
static int draw_row(struct ctx *c, const char *id, const char *label, const char *value)
{
    struct lines ll = {0}, vl = {0};
    if (wrap(c, label, 11, LABEL_W - 8, &ll) || wrap(c, value, 12, VALUE_W, &vl)) {
        lines_free(&ll);
        lines_free(&vl);
        return -1;
    }
    if (vl.n > MAX_ROW_LINE) {
        for (size_t i = MAX_ROW_LINE; i < vl.n; i++) free(vl.v[i]);
        vl.n = MAX_ROW_LINE;
        free(vl.v[vl.n - 1]);
        vl.v[vl.n - 1] = strdup("…");
        if (!vl.v[vl.n - 1]) vl.n--;
    }
    /* a row of up to 6 lines stays whole (a new page first when it does not fit); a longer
     * one fills the page when at least 3 of its lines fit and goes on on the next */
    size_t li = 0, vi = 0;
    int fresh = 0; /* just moved to a new page: draw what fits, whatever it is */
    while (li < ll.n || vi < vl.n) {
        size_t rl = ll.n - li, rv = vl.n - vi;
        float room = c->y - ROWS_BOTTOM - 10;
        size_t fit = room > 0 ? (size_t)(room / 18) : 0;
        if (!fresh && fmaxf((float)rl * 15, (float)rv * 18) > room && (rv <= 6 || fit < 3)) {
            new_page(c, id);
            fresh = 1;
            continue;
        }
        fresh = 0;
        if (fit == 0) fit = 1;
        size_t nl = rl < fit ? rl : fit, nv = rv < fit ? rv : fit;
        HPDF_Page_SetRGBFill(c->page, 0.3f, 0.3f, 0.3f);
        for (size_t i = 0; i < nl; i++) text_at(c, LABEL_X, c->y - 18 - (float)i * 15, 11, ll.v[li + i]);
        HPDF_Page_SetRGBFill(c->page, 0, 0, 0);
        for (size_t i = 0; i < nv; i++) text_at(c, VALUE_X, c->y - 18 - (float)i * 18, 12, vl.v[vi + i]);
        c->y -= fmaxf((float)nl * 15, (float)nv * 18) + 10;
        li += nl;
        vi += nv;
        HPDF_Page_SetRGBStroke(c->page, 0.75f, 0.75f, 0.75f);
        HPDF_Page_SetLineWidth(c->page, 0.4f);
        HPDF_Page_MoveTo(c->page, LABEL_X - 8, c->y);
        HPDF_Page_LineTo(c->page, PAGE_W - 64, c->y);
        HPDF_Page_Stroke(c->page);
        HPDF_Page_SetRGBStroke(c->page, 0, 0, 0);
        if (li < ll.n || vi < vl.n) new_page(c, id);
    }
    lines_free(&ll);
    lines_free(&vl);
    return 0;
}

/* The seal: a red ring, the issuer along the upper arc, a five-pointed star and
 * 电子证照专用章 under it. */
static void draw_seal(struct ctx *c, float cx, float cy, float r, const char *issuer)
{
    HPDF_Page page = c->page;
    const float pi = 3.14159265f;
    HPDF_Page_GSave(page);
    HPDF_Page_SetRGBStroke(page, 0.86f, 0.08f, 0.08f);
    HPDF_Page_SetRGBFill(page, 0.86f, 0.08f, 0.08f);
    HPDF_Page_SetLineWidth(page, 3.5f);
    HPDF_Page_Circle(page, cx, cy, r - 1.75f);
    HPDF_Page_Stroke(page);

    float so = r * 0.30f, si = so * 0.382f;
    for (int k = 0; k < 10; k++) {
        float a = pi / 2 + (float)k * pi / 5, rr = (k % 2) ? si : so;
        float x = cx + rr * cosf(a), y = cy + rr * sinf(a);
        if (k == 0)
            HPDF_Page_MoveTo(page, x, y);
        else
            HPDF_Page_LineTo(page, x, y);
    }
    HPDF_Page_ClosePath(page);
    HPDF_Page_Fill(page);

    /* the issuer, one character at a time, upright along the arc, top outward */
    const char *chars[40];
    size_t lens[40], n = 0;
    for (const char *p = issuer; *p && n < 40;) {
        size_t l = utf8_len((const unsigned char *)p);
        chars[n] = p;
        lens[n++] = l;
        p += l;
    }
    float size = r * 0.22f, rt = r - 7 - size;
    float step = n > 1 ? size * 1.08f / rt : 0, maxspan = 250.0f * pi / 180;
    if (n > 1 && step * (float)(n - 1) > maxspan) {
        step = maxspan / (float)(n - 1);
        size = step * rt / 1.08f;
        rt = r - 7 - size;
    }
    float a0 = pi / 2 + step * (float)(n > 1 ? n - 1 : 0) / 2;
    for (size_t i = 0; i < n; i++) {
        char ch[5] = {0};
        memcpy(ch, chars[i], lens[i]);
        float a = a0 - step * (float)i, phi = a - pi / 2;
        float w = text_width(c, size, ch);
        float ox = cx + rt * cosf(a) - w / 2 * cosf(phi), oy = cy + rt * sinf(a) - w / 2 * sinf(phi);
        HPDF_Page_BeginText(page);
        HPDF_Page_SetFontAndSize(page, c->font, size);
        HPDF_Page_SetTextMatrix(page, cosf(phi), sinf(phi), -sinf(phi), cosf(phi), ox, oy);
        HPDF_Page_ShowText(page, ch);
        HPDF_Page_EndText(page);
    }
    text_centered(c, cx, cy - r * 0.58f, r * 0.14f, "电子证照专用章");
    HPDF_Page_GRestore(page);
}

/* The QR code's text: see pdf.h. */
static char *qr_payload(const char *url, const char *id)
{
    if (strstr(url, id)) return strdup(url);
    size_t ul = strlen(url), il = strlen(id);
    char *s = malloc(ul + 4 + il * 3 + 1);
    if (!s) return NULL;
    memcpy(s, url, ul);
    char *p = s + ul;
    *p++ = strchr(url, '?') ? '&' : '?';
    memcpy(p, "id=", 3);
    p += 3;
    for (const unsigned char *q = (const unsigned char *)id; *q; q++) {
        if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
            *q == '.' || *q == '_' || *q == '~') {
            *p++ = (char)*q;
        } else {
            p += sprintf(p, "%%%02X", *q);
        }
    }
    *p = 0;
    return s;
}

/* The QR code as filled squares, size points wide, its lower-left corner at x, y (the
 * page around it stays white: the quiet zone). */
static int draw_qr(struct ctx *c, float x, float y, float size, const char *payload)
{
    QRcode *qr = QRcode_encodeString(payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr) return -1;
    float m = size / (float)qr->width;
    HPDF_Page_SetRGBFill(c->page, 0, 0, 0);
    for (int row = 0; row < qr->width; row++) {
        for (int col = 0; col < qr->width;) {
            if (!(qr->data[row * qr->width + col] & 1)) {
                col++;
                continue;
            }
            int run = col;
            while (run < qr->width && (qr->data[row * qr->width + run] & 1)) run++;
            HPDF_Page_Rectangle(c->page, x + (float)col * m, y + size - (float)(row + 1) * m,
                                (float)(run - col) * m, m);
            col = run;
        }
    }
    HPDF_Page_Fill(c->page);
    QRcode_free(qr);
    return 0;
}

/* The signed JSON as the embedded file "licence.json" (see pdf.h). */
static void attach_json(struct ctx *c, const char *json, size_t len)
{
    HPDF_Doc pdf = c->pdf;
    HPDF_MMgr mm = pdf->mmgr;
    unsigned char md5[16];
    unsigned int md5len = 0;
    if (!EVP_Digest(json, len, md5, &md5len, EVP_md5(), NULL) || md5len != 16) {
        if (!c->error) c->error = HPDF_FILE_IO_ERROR;
        return;
    }
    HPDF_Dict file = HPDF_DictStream_New(mm, pdf->xref);
    if (!file) return;
    file->filter = HPDF_STREAM_FILTER_FLATE_DECODE;
    HPDF_Dict_AddName(file, "Type", "EmbeddedFile");
    HPDF_Dict_AddName(file, "Subtype", "application/json");
    HPDF_Dict params = HPDF_Dict_New(mm);
    HPDF_Dict_Add(file, "Params", params);
    HPDF_Dict_AddNumber(params, "Size", (HPDF_INT)len);
    HPDF_Dict_Add(params, "CheckSum", HPDF_Binary_New(mm, md5, 16));
    HPDF_Stream_Write(file->stream, (const HPDF_BYTE *)json, (HPDF_UINT)len);

    HPDF_Dict spec = HPDF_Dict_New(mm);
    if (!spec || HPDF_Xref_Add(pdf->xref, spec) != HPDF_OK) return;
    HPDF_Dict_AddName(spec, "Type", "Filespec");
    HPDF_Dict_Add(spec, "F", HPDF_String_New(mm, ATTACHMENT_NAME, NULL));
    HPDF_Dict_Add(spec, "UF", HPDF_String_New(mm, ATTACHMENT_NAME, NULL));
    HPDF_Dict_Add(spec, "Desc", HPDF_String_New(mm, "Signed licence (SM2-with-SM3), JSON", NULL));
    HPDF_Dict_AddName(spec, "AFRelationship", "Data");
    HPDF_Dict ef = HPDF_Dict_New(mm);
    HPDF_Dict_Add(spec, "EF", ef);
    HPDF_Dict_Add(ef, "F", file);

    HPDF_NameDict names = HPDF_Catalog_GetNames(pdf->catalog);
    if (!names) {
        names = HPDF_NameDict_New(mm, pdf->xref);
        if (!names || HPDF_Catalog_SetNames(pdf->catalog, names) != HPDF_OK) return;
    }
    HPDF_NameTree tree = HPDF_NameDict_GetNameTree(names, HPDF_NAME_EMBEDDED_FILES);
    if (!tree) {
        tree = HPDF_NameTree_New(mm, pdf->xref);
        if (!tree || HPDF_NameDict_SetNameTree(names, HPDF_NAME_EMBEDDED_FILES, tree) != HPDF_OK) return;
    }
    HPDF_NameTree_Add(tree, HPDF_String_New(mm, ATTACHMENT_NAME, NULL), spec);
}

static int load_font(struct ctx *c, char *err, size_t errlen)
{
    const char *path = getenv("EHALL_LICENCE_FONT");
    if (path && *path) {
        if (access(path, R_OK) != 0) {
            set_err(err, errlen, "EHALL_LICENCE_FONT %s cannot be read", path);
            return -1;
        }
    } else {
        path = NULL;
        for (size_t i = 0; i < sizeof FONT_PATHS / sizeof *FONT_PATHS && !path; i++)
            if (access(FONT_PATHS[i], R_OK) == 0) path = FONT_PATHS[i];
        if (!path) {
            set_err(err, errlen,
                    "no CJK TrueType font: install fonts-wqy-zenhei (scripts/bootstrap.sh) "
                    "or set EHALL_LICENCE_FONT");
            return -1;
        }
    }
    size_t pl = strlen(path);
    const char *name = pl > 4 && strcmp(path + pl - 4, ".ttc") == 0
                           ? HPDF_LoadTTFontFromFile2(c->pdf, path, 0, HPDF_TRUE)
                           : HPDF_LoadTTFontFromFile(c->pdf, path, HPDF_TRUE);
    if (name) c->font = HPDF_GetFont(c->pdf, name, "UTF-8");
    /* libharu compresses the embedded font program, its CIDToGIDMap and CMap only when
     * the font dictionary itself has a filter (a ~850 KB font becomes ~250 KB) */
    if (c->font) ((HPDF_Dict)c->font)->filter = HPDF_STREAM_FILTER_FLATE_DECODE;
    if (!name || !c->font || c->error) {
        set_err(err, errlen, "font %s: libharu cannot embed it (error 0x%04X; a TrueType font is needed)",
                path, (unsigned)c->error);
        return -1;
    }
    return 0;
}

static int check_text(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
    if (!s || !*s) {
        set_err(err, errlen, "%s is missing", what);
        return -1;
    }
    if (strlen(s) > max) {
        set_err(err, errlen, "%s is longer than %zu bytes", what, max);
        return -1;
    }
    if (!utf8_valid(s)) {
        set_err(err, errlen, "%s is not valid UTF-8", what);
        return -1;
    }
    return 0;
}

int licence_pdf_render(const char *signed_json, const char *title, const char *const *field_keys,
                       const char *const *field_labels, size_t nfields, const char *verify_url,
                       unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
    if (out) *out = NULL;
    if (outlen) *outlen = 0;
    if (!out || !outlen) {
        set_err(err, errlen, "no output buffer");
        return -1;
    }
    if (!signed_json) {
        set_err(err, errlen, "signed JSON is missing");
        return -1;
    }
    size_t jlen = strlen(signed_json);
    if (jlen > LICENCE_PDF_MAX_JSON) {
        set_err(err, errlen, "signed JSON is larger than %u bytes", LICENCE_PDF_MAX_JSON);
        return -1;
    }
    if (check_text("title", title, 200, err, errlen) ||
        check_text("verify_url", verify_url, 1024, err, errlen))
        return -1;
    if (nfields && (!field_keys || !field_labels)) {
        set_err(err, errlen, "field keys or labels are missing");
        return -1;
    }
    for (size_t i = 0; i < nfields; i++) {
        char what[64];
        snprintf(what, sizeof what, "field %zu's key", i);
        if (check_text(what, field_keys[i], 200, err, errlen)) return -1;
        snprintf(what, sizeof what, "field %zu's label (%s)", i, field_keys[i]);
        if (check_text(what, field_labels[i], 200, err, errlen)) return -1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(signed_json, jlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        set_err(err, errlen, "signed JSON: %s (line %d)", jerr.text, jerr.line);
        return -1;
    }
    json_t *lic = json_object_get(doc, "licence");
    const char *id = json_string_value(json_object_get(lic, "id"));
    if (!json_is_object(lic) || !id || !*id || strlen(id) > 200) {
        json_decref(doc);
        set_err(err, errlen, "signed JSON: licence.id is missing (expected {\"licence\":{\"id\":...},...})");
        return -1;
    }
    const char *issuer = json_string_value(json_object_get(lic, "issuer_name"));
    if (!issuer || !*issuer) issuer = json_string_value(json_object_get(lic, "issuer"));
    if (!issuer || !*issuer) issuer = "电子证照";
    json_t *seal = json_object_get(doc, "seal");
    const char *alg = json_string_value(json_object_get(seal, "alg"));
    const char *key_id = json_string_value(json_object_get(seal, "key_id"));

    struct ctx c = {.title = title};
    int rc = -1;
    char *payload = NULL, *text = NULL;
    c.pdf = HPDF_New(on_error, &c);
    if (!c.pdf) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    HPDF_SetCompressionMode(c.pdf, HPDF_COMP_ALL);
    HPDF_UseUTFEncodings(c.pdf);
    if (load_font(&c, err, errlen)) goto done;
    char info[300];
    snprintf(info, sizeof info, "Electronic licence %s", id);
    HPDF_SetInfoAttr(c.pdf, HPDF_INFO_TITLE, info);
    HPDF_SetInfoAttr(c.pdf, HPDF_INFO_CREATOR, "ehall");

    new_page(&c, id);
    for (size_t i = 0; i < nfields; i++) {
        text = value_text(json_object_get(lic, field_keys[i]));
        if (!text || draw_row(&c, id, field_labels[i], text)) {
            set_err(err, errlen, "out of memory");
            goto done;
        }
        free(text);
        text = NULL;
    }
    if (c.y < BLOCK_TOP) new_page(&c, id);

    payload = qr_payload(verify_url, id);
    if (!payload || draw_qr(&c, 72, 100, 130, payload)) {
        set_err(err, errlen, "QR code: the verification URL does not fit");
        goto done;
    }
    text_at(&c, 72, 86, 9, "扫码核验 Scan to verify");
    draw_seal(&c, PAGE_W - 160, 172, 72, issuer);
    char line[1400];
    snprintf(line, sizeof line, "核验地址 Verify at: %s", payload);
    struct lines ul = {0};
    if (wrap(&c, line, 7.5f, PAGE_W - 144, &ul) == 0)
        for (size_t i = 0; i < ul.n && i < 3; i++) text_at(&c, 72, 68 - (float)i * 9, 7.5f, ul.v[i]);
    lines_free(&ul);
    snprintf(line, sizeof line,
             "电子签章 %s%s%.16s  ·  签名数据内嵌为附件 %s，可离线核验 (signed JSON attached)",
             alg ? alg : "SM2-with-SM3", key_id ? "  ·  key " : "", key_id ? key_id : "", ATTACHMENT_NAME);
    text_at(&c, 72, 40, 7, line);

    attach_json(&c, signed_json, jlen);
    if (c.error) {
        set_err(err, errlen, "PDF: libharu error 0x%04X (detail %u)", (unsigned)c.error, (unsigned)c.detail);
        goto done;
    }
    if (HPDF_SaveToStream(c.pdf) != HPDF_OK || c.error) {
        set_err(err, errlen, "PDF: saving failed (libharu error 0x%04X)", (unsigned)c.error);
        goto done;
    }
    HPDF_UINT32 total = HPDF_GetStreamSize(c.pdf), got = 0;
    unsigned char *buf = total ? malloc(total) : NULL;
    if (!buf) {
        set_err(err, errlen, "out of memory");
        goto done;
    }
    HPDF_ResetStream(c.pdf);
    while (got < total) {
        HPDF_UINT32 n = total - got;
        HPDF_STATUS st = HPDF_ReadFromStream(c.pdf, buf + got, &n);
        got += n;
        if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || n == 0) break;
    }
    if (got != total) {
        free(buf);
        set_err(err, errlen, "PDF: reading the saved document back failed");
        goto done;
    }
    *out = buf;
    *outlen = total;
    rc = 0;
done:
    free(text);
    free(payload);
    if (c.pdf) HPDF_Free(c.pdf);
    json_decref(doc);
    return rc;
}

/* ---------------------------------------------------------------- extraction ----- */

enum ptype { PT_NULL, PT_BOOL, PT_NUM, PT_NAME, PT_STR, PT_ARR, PT_DICT, PT_REF };

struct pval {
    enum ptype t;
    int is_int;
    long long num; /* PT_NUM (integer part), PT_BOOL, PT_REF object number */
    long long gen; /* PT_REF */
    char *s;       /* PT_NAME (decoded #xx), PT_STR (decoded) */
    size_t slen;
    size_t n; /* PT_ARR, PT_DICT */
    char **keys;
    struct pval *items;
};

struct pin {
    const unsigned char *b;
    size_t len;
    size_t nobj;
    size_t *off; /* per object number: offset of "N G obj", or SIZE_MAX when free */
};

#define MAX_DEPTH 32

static void pval_free(struct pval *v)
{
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys) free(v->keys[i]);
        pval_free(&v->items[i]);
    }
    free(v->keys);
    free(v->items);
    memset(v, 0, sizeof *v);
}

static int is_ws(int ch) { return ch == 0 || ch == 9 || ch == 10 || ch == 12 || ch == 13 || ch == 32; }
static int is_delim(int ch) { return ch && strchr("()<>[]{}/%", ch) != NULL; }

static size_t skip_ws(const struct pin *in, size_t p)
{
    while (p < in->len) {
        if (is_ws(in->b[p])) {
            p++;
        } else if (in->b[p] == '%') {
            while (p < in->len && in->b[p] != '\n' && in->b[p] != '\r') p++;
        } else {
            break;
        }
    }
    return p;
}

static int has_word(const struct pin *in, size_t p, const char *w)
{
    size_t l = strlen(w);
    if (p + l > in->len || memcmp(in->b + p, w, l) != 0) return 0;
    return p + l == in->len || is_ws(in->b[p + l]) || is_delim(in->b[p + l]);
}

/* An unsigned decimal integer at p (after white space); -1 when there is none. */
static long long read_uint(const struct pin *in, size_t *p)
{
    size_t q = skip_ws(in, *p);
    if (q >= in->len || in->b[q] < '0' || in->b[q] > '9') return -1;
    long long v = 0;
    while (q < in->len && in->b[q] >= '0' && in->b[q] <= '9') {
        if (v > (LLONG_MAX - 9) / 10) return -1;
        v = v * 10 + (in->b[q++] - '0');
    }
    *p = q;
    return v;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int parse_val(const struct pin *in, size_t *pp, struct pval *v, int depth);

static int push_item(struct pval *v, char *key, struct pval *item)
{
    if ((v->n & (v->n - 1)) == 0) { /* full at 0, 1, 2, 4, 8 ...: double */
        size_t cap = v->n ? v->n * 2 : 1;
        struct pval *items = realloc(v->items, cap * sizeof *items);
        if (!items) return -1;
        v->items = items;
        if (v->t == PT_DICT) {
            char **keys = realloc(v->keys, cap * sizeof *keys);
            if (!keys) return -1;
            v->keys = keys;
        }
    }
    if (v->t == PT_DICT) v->keys[v->n] = key;
    v->items[v->n++] = *item;
    return 0;
}

static int parse_name(const struct pin *in, size_t *pp, char **out, size_t *outlen)
{
    size_t p = *pp + 1, start = p;
    while (p < in->len && !is_ws(in->b[p]) && !is_delim(in->b[p])) p++;
    char *s = malloc(p - start + 1);
    if (!s) return -1;
    size_t n = 0;
    for (size_t i = start; i < p; i++) {
        int h1, h2;
        if (in->b[i] == '#' && i + 2 < p && (h1 = hexval(in->b[i + 1])) >= 0 &&
            (h2 = hexval(in->b[i + 2])) >= 0) {
            s[n++] = (char)(h1 * 16 + h2);
            i += 2;
        } else {
            s[n++] = (char)in->b[i];
        }
    }
    s[n] = 0;
    *out = s;
    *outlen = n;
    *pp = p;
    return 0;
}

static int parse_literal(const struct pin *in, size_t *pp, struct pval *v)
{
    size_t p = *pp + 1, n = 0;
    int nest = 1;
    char *s = malloc(in->len - p + 1);
    if (!s) return -1;
    while (p < in->len) {
        unsigned char ch = in->b[p++];
        if (ch == '(') {
            nest++;
        } else if (ch == ')') {
            if (--nest == 0) break;
        } else if (ch == '\\') {
            if (p >= in->len) break;
            ch = in->b[p++];
            switch (ch) {
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case '\r':
                if (p < in->len && in->b[p] == '\n') p++;
                continue;
            case '\n': continue;
            default:
                if (ch >= '0' && ch <= '7') {
                    int o = ch - '0';
                    for (int k = 0; k < 2 && p < in->len && in->b[p] >= '0' && in->b[p] <= '7'; k++)
                        o = o * 8 + (in->b[p++] - '0');
                    ch = (unsigned char)o;
                }
            }
        }
        s[n++] = (char)ch;
    }
    if (nest) {
        free(s);
        return -1;
    }
    s[n] = 0;
    v->t = PT_STR;
    v->s = s;
    v->slen = n;
    *pp = p;
    return 0;
}

static int parse_hex(const struct pin *in, size_t *pp, struct pval *v)
{
    size_t p = *pp + 1, n = 0;
    char *s = malloc((in->len - p) / 2 + 2);
    if (!s) return -1;
    int hi = -1;
    for (;; p++) {
        if (p >= in->len) {
            free(s);
            return -1;
        }
        int ch = in->b[p];
        if (ch == '>') break;
        if (is_ws(ch)) continue;
        int h = hexval(ch);
        if (h < 0) {
            free(s);
            return -1;
        }
        if (hi < 0) {
            hi = h;
        } else {
            s[n++] = (char)(hi * 16 + h);
            hi = -1;
        }
    }
    if (hi >= 0) s[n++] = (char)(hi * 16);
    s[n] = 0;
    v->t = PT_STR;
    v->s = s;
    v->slen = n;
    *pp = p + 1;
    return 0;
}

static int parse_number(const struct pin *in, size_t *pp, struct pval *v)
{
    size_t p = *pp;
    int neg = 0, digits = 0, dot = 0;
    long long ip = 0;
    if (in->b[p] == '+' || in->b[p] == '-') neg = in->b[p++] == '-';
    while (p < in->len && ((in->b[p] >= '0' && in->b[p] <= '9') || (in->b[p] == '.' && !dot))) {
        if (in->b[p] == '.') {
            dot = 1;
        } else {
            digits++;
            if (!dot) {
                if (ip > (LLONG_MAX - 9) / 10) return -1;
                ip = ip * 10 + (in->b[p] - '0');
            }
        }
        p++;
    }
    if (!digits) return -1;
    v->t = PT_NUM;
    v->is_int = !dot;
    v->num = neg ? -ip : ip;
    *pp = p;
    /* "N G R" is a reference */
    if (v->is_int && !neg) {
        size_t q = p;
        long long gen = read_uint(in, &q);
        if (gen >= 0) {
            q = skip_ws(in, q);
            if (q < in->len && in->b[q] == 'R' && has_word(in, q, "R")) {
                v->t = PT_REF;
                v->gen = gen;
                *pp = q + 1;
            }
        }
    }
    return 0;
}

static int parse_val(const struct pin *in, size_t *pp, struct pval *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > MAX_DEPTH) return -1;
    size_t p = skip_ws(in, *pp);
    if (p >= in->len) return -1;
    unsigned char ch = in->b[p];
    if (ch == '<' && p + 1 < in->len && in->b[p + 1] == '<') {
        v->t = PT_DICT;
        p += 2;
        for (;;) {
            p = skip_ws(in, p);
            if (p + 1 < in->len && in->b[p] == '>' && in->b[p + 1] == '>') break;
            if (p >= in->len || in->b[p] != '/') goto bad;
            char *key;
            size_t klen;
            if (parse_name(in, &p, &key, &klen)) goto bad;
            struct pval item;
            if (parse_val(in, &p, &item, depth + 1) || push_item(v, key, &item)) {
                free(key);
                pval_free(&item);
                goto bad;
            }
        }
        *pp = p + 2;
        return 0;
    }
    if (ch == '[') {
        v->t = PT_ARR;
        p++;
        for (;;) {
            p = skip_ws(in, p);
            if (p < in->len && in->b[p] == ']') break;
            struct pval item;
            if (parse_val(in, &p, &item, depth + 1) || push_item(v, NULL, &item)) {
                pval_free(&item);
                goto bad;
            }
        }
        *pp = p + 1;
        return 0;
    }
    if (ch == '/') {
        v->t = PT_NAME;
        if (parse_name(in, &p, &v->s, &v->slen)) return -1;
        *pp = p;
        return 0;
    }
    if (ch == '(') {
        if (parse_literal(in, &p, v)) return -1;
        *pp = p;
        return 0;
    }
    if (ch == '<') {
        if (parse_hex(in, &p, v)) return -1;
        *pp = p;
        return 0;
    }
    if ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.') {
        if (parse_number(in, &p, v)) return -1;
        *pp = p;
        return 0;
    }
    if (has_word(in, p, "true") || has_word(in, p, "false")) {
        v->t = PT_BOOL;
        v->num = in->b[p] == 't';
        *pp = p + (v->num ? 4 : 5);
        return 0;
    }
    if (has_word(in, p, "null")) {
        v->t = PT_NULL;
        *pp = p + 4;
        return 0;
    }
    return -1;
bad:
    pval_free(v);
    return -1;
}

static const struct pval *dict_get(const struct pval *d, const char *key)
{
    if (!d || d->t != PT_DICT) return NULL;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0) return &d->items[i];
    return NULL;
}

static int is_name(const struct pval *v, const char *name)
{
    return v && v->t == PT_NAME && strcmp(v->s, name) == 0;
}

/* Object num's value (and where its body ends) from the xref table: "num G obj" at the
 * recorded offset, then one value. */
static int read_object(const struct pin *in, long long num, struct pval *v, size_t *end)
{
    if (num <= 0 || (size_t)num >= in->nobj || in->off[num] == SIZE_MAX) return -1;
    size_t p = in->off[num];
    if (read_uint(in, &p) != num || read_uint(in, &p) < 0) return -1;
    p = skip_ws(in, p);
    if (!has_word(in, p, "obj")) return -1;
    p += 3;
    if (parse_val(in, &p, v, 0)) return -1;
    *end = p;
    return 0;
}

/* Reads the trailer's startxref and the xref table into in->off. */
static int read_xref(struct pin *in, char *err, size_t errlen)
{
    size_t tail = in->len > 1024 ? in->len - 1024 : 0, at = SIZE_MAX;
    for (size_t p = in->len >= 9 ? in->len - 9 : 0; p + 1 > tail; p--) {
        if (memcmp(in->b + p, "startxref", 9) == 0) {
            at = p;
            break;
        }
        if (p == 0) break;
    }
    if (at == SIZE_MAX) {
        set_err(err, errlen, "not a complete PDF: no startxref at its end (truncated?)");
        return -1;
    }
    size_t p = at + 9;
    long long xref = read_uint(in, &p);
    while (p < in->len && is_ws(in->b[p])) p++; /* not skip_ws: %%EOF looks like a comment */
    if (xref < 0 || p + 5 > in->len || memcmp(in->b + p, "%%EOF", 5) != 0) {
        set_err(err, errlen, "not a complete PDF: startxref is not followed by an offset and %%%%EOF");
        return -1;
    }
    if ((size_t)xref >= in->len) {
        set_err(err, errlen, "broken PDF: startxref %lld is outside the file", xref);
        return -1;
    }
    p = (size_t)xref;
    if (!has_word(in, p, "xref")) {
        set_err(err, errlen,
                "unsupported PDF: no classic xref table at startxref (cross-reference streams are not "
                "read; only files made by licence_pdf_render are)");
        return -1;
    }
    p += 4;
    for (;;) {
        size_t q = skip_ws(in, p);
        if (has_word(in, q, "trailer")) {
            p = q + 7;
            break;
        }
        long long first = read_uint(in, &p), count = read_uint(in, &p);
        if (first < 0 || count < 0 || (size_t)count > (in->len - p) / 18 || (size_t)first > in->len ||
            (size_t)(first + count) > in->len) {
            set_err(err, errlen, "broken PDF: bad xref subsection");
            return -1;
        }
        if ((size_t)(first + count) > in->nobj) {
            size_t n = (size_t)(first + count);
            size_t *off = realloc(in->off, n * sizeof *off);
            if (!off) {
                set_err(err, errlen, "out of memory");
                return -1;
            }
            for (size_t i = in->nobj; i < n; i++) off[i] = SIZE_MAX;
            in->off = off;
            in->nobj = n;
        }
        for (long long i = 0; i < count; i++) {
            long long o = read_uint(in, &p), g = read_uint(in, &p);
            p = skip_ws(in, p);
            if (o < 0 || g < 0 || p >= in->len || (in->b[p] != 'n' && in->b[p] != 'f')) {
                set_err(err, errlen, "broken PDF: bad xref entry for object %lld", first + i);
                return -1;
            }
            if (in->b[p] == 'n') {
                if ((size_t)o >= in->len) {
                    set_err(err, errlen, "broken PDF: object %lld lies outside the file", first + i);
                    return -1;
                }
                in->off[first + i] = (size_t)o;
            }
            p++;
        }
    }
    struct pval trailer;
    if (parse_val(in, &p, &trailer, 0) || trailer.t != PT_DICT) {
        pval_free(&trailer);
        set_err(err, errlen, "broken PDF: unreadable trailer");
        return -1;
    }
    int prev = dict_get(&trailer, "Prev") != NULL, root = dict_get(&trailer, "Root") != NULL;
    pval_free(&trailer);
    if (prev || !root) {
        set_err(err, errlen,
                prev ? "unsupported PDF: it was updated incrementally after it was made"
                     : "broken PDF: the trailer has no /Root");
        return -1;
    }
    return 0;
}

static int inflate_all(const unsigned char *src, size_t len, unsigned char **out, size_t *outlen)
{
    size_t cap = LICENCE_PDF_MAX_JSON + 1; /* one byte more than allowed tells "too large" */
    unsigned char *buf = malloc(cap + 1);  /* + the caller's NUL */
    if (!buf) return -1;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) {
        free(buf);
        return -1;
    }
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int r = inflate(&z, Z_FINISH);
    size_t n = cap - z.avail_out;
    inflateEnd(&z);
    if (r != Z_STREAM_END || n > LICENCE_PDF_MAX_JSON) {
        free(buf);
        return (r == Z_BUF_ERROR && n == cap) || n > LICENCE_PDF_MAX_JSON ? -2 : -1;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* The bytes of the one /Type /EmbeddedFile stream, decoded and checked. */
static int embedded_file(const struct pin *in, unsigned char **data, size_t *dlen, char *err, size_t errlen)
{
    long long found = -1;
    size_t body = 0;
    struct pval dict = {0};
    for (size_t i = 1; i < in->nobj; i++) {
        if (in->off[i] == SIZE_MAX) continue;
        struct pval v;
        size_t end;
        if (read_object(in, (long long)i, &v, &end)) {
            pval_free(&dict);
            set_err(err, errlen, "broken PDF: object %zu cannot be read", i);
            return -1;
        }
        if (is_name(dict_get(&v, "Type"), "EmbeddedFile")) {
            if (found >= 0) {
                pval_free(&v);
                pval_free(&dict);
                set_err(err, errlen, "the PDF holds more than one embedded file");
                return -1;
            }
            found = (long long)i;
            dict = v;
            body = end;
        } else {
            pval_free(&v);
        }
    }
    if (found < 0) {
        set_err(err, errlen, "the PDF holds no embedded %s (not a licence PDF)", ATTACHMENT_NAME);
        return -1;
    }
    int rc = -1;
    const struct pval *len = dict_get(&dict, "Length");
    long long n = -1;
    if (len && len->t == PT_NUM && len->is_int) {
        n = len->num;
    } else if (len && len->t == PT_REF) {
        struct pval lv;
        size_t end;
        if (read_object(in, len->num, &lv, &end) == 0 && lv.t == PT_NUM && lv.is_int) n = lv.num;
        pval_free(&lv);
    }
    size_t p = skip_ws(in, body);
    if (n < 0 || !has_word(in, p, "stream")) {
        set_err(err, errlen, "broken PDF: the embedded file has no stream or /Length");
        goto done;
    }
    p += 6;
    if (p < in->len && in->b[p] == '\r') p++;
    if (p < in->len && in->b[p] == '\n') p++;
    if ((size_t)n > in->len - p) {
        set_err(err, errlen, "broken PDF: the embedded file runs past the end of the file");
        goto done;
    }
    size_t q = skip_ws(in, p + (size_t)n);
    if (!has_word(in, q, "endstream")) {
        set_err(err, errlen, "broken PDF: the embedded file's /Length does not end at endstream");
        goto done;
    }
    const struct pval *filter = dict_get(&dict, "Filter");
    if (filter && filter->t == PT_ARR && filter->n == 1) filter = &filter->items[0];
    if (!filter) {
        if ((size_t)n > LICENCE_PDF_MAX_JSON) {
            set_err(err, errlen, "the embedded file is larger than %u bytes", LICENCE_PDF_MAX_JSON);
            goto done;
        }
        *data = malloc((size_t)n + 1);
        if (!*data) {
            set_err(err, errlen, "out of memory");
            goto done;
        }
        memcpy(*data, in->b + p, (size_t)n);
        *dlen = (size_t)n;
    } else if (is_name(filter, "FlateDecode") && !dict_get(&dict, "DecodeParms")) {
        int r = inflate_all(in->b + p, (size_t)n, data, dlen);
        if (r) {
            set_err(err, errlen,
                    r == -2 ? "the embedded file is larger than %u bytes"
                            : "broken PDF: the embedded file does not inflate (altered or truncated)",
                    LICENCE_PDF_MAX_JSON);
            goto done;
        }
    } else {
        set_err(err, errlen, "unsupported PDF: the embedded file has a filter other than FlateDecode");
        goto done;
    }
    const struct pval *params = dict_get(&dict, "Params");
    const struct pval *size = dict_get(params, "Size"), *sum = dict_get(params, "CheckSum");
    if (!size || size->t != PT_NUM || !sum || sum->t != PT_STR || sum->slen != 16) {
        set_err(err, errlen, "the embedded file has no /Params /Size and /CheckSum (not made by ehall)");
        goto fail;
    }
    if (size->num != (long long)*dlen) {
        set_err(err, errlen, "the embedded file is %zu bytes but /Size says %lld", *dlen, size->num);
        goto fail;
    }
    unsigned char md5[16];
    unsigned int ml = 0;
    if (!EVP_Digest(*data, *dlen, md5, &ml, EVP_md5(), NULL) || ml != 16 || memcmp(md5, sum->s, 16) != 0) {
        set_err(err, errlen, "the embedded file does not match its /CheckSum (altered)");
        goto fail;
    }
    rc = 0;
    goto done;
fail:
    free(*data);
    *data = NULL;
done:
    pval_free(&dict);
    return rc;
}

int licence_pdf_extract(const unsigned char *pdf, size_t len, char **signed_json, char *err, size_t errlen)
{
    if (signed_json) *signed_json = NULL;
    if (!signed_json) {
        set_err(err, errlen, "no output pointer");
        return -1;
    }
    if (!pdf || len < 16 || memcmp(pdf, "%PDF-", 5) != 0) {
        set_err(err, errlen, "not a PDF (it does not start with %%PDF-)");
        return -1;
    }
    struct pin in = {.b = pdf, .len = len};
    unsigned char *data = NULL;
    size_t dlen = 0;
    int rc = -1;
    if (read_xref(&in, err, errlen) || embedded_file(&in, &data, &dlen, err, errlen)) goto done;
    if (memchr(data, 0, dlen)) {
        set_err(err, errlen, "the embedded %s holds a NUL byte", ATTACHMENT_NAME);
        goto done;
    }
    data[dlen] = 0;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, dlen, JSON_REJECT_DUPLICATES, &jerr);
    int ok = json_is_object(doc) && json_is_object(json_object_get(doc, "licence"));
    json_decref(doc);
    if (!ok) {
        set_err(err, errlen, "the embedded %s is not a signed licence (%s)", ATTACHMENT_NAME,
                doc ? "no \"licence\" object" : jerr.text);
        goto done;
    }
    *signed_json = (char *)data;
    data = NULL;
    rc = 0;
done:
    free(data);
    free(in.off);
    return rc;
}
