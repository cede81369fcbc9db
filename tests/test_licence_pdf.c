/*
 * The licence PDF (src/licence/pdf.h): a signed licence rendered, then checked with
 * independent tools that scripts/bootstrap.sh installs — qpdf --check accepts the file,
 * pdftotext finds the Chinese labels and values, pdfdetach lists and saves the attached
 * licence.json byte for byte, pdftoppm renders the page and zbarimg decodes the QR code
 * to the verification URL with the id — and licence_pdf_extract gives back the identical
 * JSON.  Long licences flow onto a second page.  Garbage, truncated and altered files
 * and bad render input are refused with a reason.  (No database: the same on both engines.)
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

#include "licence/pdf.h"

static char dir[256];

#define ID "BC500103000000420X"
#define SIGNED                                                                                                          \
    "{\"licence\":{\"birth_place\":\"重庆市渝中区人民医院\",\"holder_name\":\"张小明\","                   \
    "\"holder_number\":\"500103202401150012\",\"id\":\"" ID "\",\"issue_date\":\"2024-01-20\","                         \
    "\"issuer\":\"重庆市渝中区卫生健康委员会\",\"mother_name\":\"李华\",\"type\":\"birth_certificate\"," \
    "\"valid_to\":\"permanent\",\"weight_g\":3350},"                                                                    \
    "\"seal\":{\"alg\":\"SM2-with-SM3\",\"key_id\":\"9f2c4e1a7b3d5f60a1b2c3d4e5f60718\","                               \
    "\"sig\":\"MEUCIQDf8n1k0aJ1mY9e3w==\",\"signer_id\":\"1234567812345678\"}}"

static const char *const KEYS[] = {"holder_name", "holder_number", "birth_place", "mother_name",
                                   "weight_g",    "issuer",        "issue_date",  "valid_to"};
static const char *const LABELS[] = {
    "姓名 Name",          "公民身份号码 ID number", "出生地点 Place of birth",
    "母亲姓名 Mother",    "出生体重（克） Weight",  "签发机关 Issuer",
    "签发日期 Issued on", "有效期至 Valid to"};
#define NF (sizeof KEYS / sizeof *KEYS)

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ehall-pdf-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs a shell command; its stdout (and stderr) into a malloc'd string, exit status in *st. */
static char *run(const char *cmd, int *st)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[n] = 0;
    int s = pclose(p);
    *st = WIFEXITED(s) ? WEXITSTATUS(s) : -1;
    return out;
}

static void need_tool(const char *tool, const char *package)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    if (system(cmd) != 0)
        fail_msg("%s not found: run scripts/bootstrap.sh (Debian package %s)", tool, package);
}

static void write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *render_ok(const char *json, const char *url, const char *const *keys,
                                const char *const *labels, size_t n, size_t *len)
{
    unsigned char *pdf = NULL;
    char err[300] = "";
    if (licence_pdf_render(json, "出生医学证明", keys, labels, n, url, &pdf, len, err, sizeof err) != 0)
        fail_msg("render: %s", err);
    assert_non_null(pdf);
    assert_true(*len > 1000);
    assert_memory_equal(pdf, "%PDF-", 5);
    return pdf;
}

/* Renders page `page` of path to PNG and returns what zbarimg decodes there. */
static char *qr_of(const char *path, int page)
{
    char cmd[1200];
    int st;
    snprintf(cmd, sizeof cmd, "pdftoppm -r 150 -png -f %d -l %d -singlefile '%s' '%s/page' 2>&1", page, page,
             path, dir);
    char *o = run(cmd, &st);
    if (st != 0) fail_msg("pdftoppm: %s", o);
    free(o);
    snprintf(cmd, sizeof cmd, "zbarimg -q --raw '%s/page.png' 2>/dev/null", dir);
    o = run(cmd, &st);
    if (st != 0) fail_msg("zbarimg found no code (%d): %s", st, o);
    size_t l = strlen(o);
    while (l && (o[l - 1] == '\n' || o[l - 1] == '\r')) o[--l] = 0;
    return o;
}

static void render_checked_by_tools(void **state)
{
    (void)state;
    need_tool("qpdf", "qpdf");
    need_tool("pdftotext", "poppler-utils");
    need_tool("zbarimg", "zbar-tools");
    size_t len;
    unsigned char *pdf = render_ok(SIGNED, "https://ehall.example.gov.cn/verify", KEYS, LABELS, NF, &len);
    char path[400], cmd[1200];
    int st;
    snprintf(path, sizeof path, "%s/licence.pdf", dir);
    write_file(path, pdf, len);

    snprintf(cmd, sizeof cmd, "qpdf --check '%s' 2>&1", path);
    char *o = run(cmd, &st);
    if (st != 0) fail_msg("qpdf --check (%d): %s", st, o);
    assert_non_null(strstr(o, "No syntax or stream encoding errors found"));
    free(o);

    snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 -layout '%s' - 2>/dev/null", path);
    o = run(cmd, &st);
    assert_int_equal(st, 0);
    const char *want[] = {"出生医学证明",
                          "张小明",
                          "500103202401150012",
                          "重庆市渝中区人民医院",
                          "李华",
                          "3350",
                          "2024-01-20",
                          "permanent",
                          ID,
                          "姓名",
                          "公民身份号码",
                          "签发机关",
                          "扫码核验",
                          "SM2-with-SM3"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(o, want[i])) fail_msg("pdftotext lacks \"%s\":\n%s", want[i], o);
    /* the issuer appears in its row and, character by character, on the seal */
    assert_non_null(strstr(o, "重庆市渝中区卫生健康委员会"));
    assert_non_null(strstr(o, "电子证照专用章"));
    free(o);

    snprintf(cmd, sizeof cmd, "pdfinfo '%s' 2>/dev/null | sed -n 's/^Pages: *//p'", path);
    o = run(cmd, &st);
    assert_string_equal(o, "1\n");
    free(o);

    /* one font, a TrueType CID font embedded as a subset, with a ToUnicode map */
    snprintf(cmd, sizeof cmd, "pdffonts '%s' 2>/dev/null | tail -n +3", path);
    o = run(cmd, &st);
    assert_int_equal(st, 0);
    if (!strstr(o, "CID TrueType") || !strstr(o, "Identity-H") || !strstr(o, " yes yes yes ") ||
        strchr(o, '\n') != o + strlen(o) - 1)
        fail_msg("pdffonts: %s", o);
    free(o);

    /* an independent reader sees the attachment and saves the same bytes */
    snprintf(cmd, sizeof cmd, "pdfdetach -list '%s' 2>&1", path);
    o = run(cmd, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "1 embedded files"));
    assert_non_null(strstr(o, "1: licence.json"));
    free(o);
    snprintf(cmd, sizeof cmd, "pdfdetach -save 1 -o '%s/detached.json' '%s' 2>&1", dir, path);
    o = run(cmd, &st);
    if (st != 0) fail_msg("pdfdetach: %s", o);
    free(o);
    snprintf(cmd, sizeof cmd, "cat '%s/detached.json'", dir);
    o = run(cmd, &st);
    assert_string_equal(o, SIGNED);
    free(o);

    char *json = NULL, err[300] = "";
    if (licence_pdf_extract(pdf, len, &json, err, sizeof err) != 0) fail_msg("extract: %s", err);
    assert_string_equal(json, SIGNED);
    free(json);

    o = qr_of(path, 1);
    assert_string_equal(o, "https://ehall.example.gov.cn/verify?id=" ID);
    free(o);
    free(pdf);
}

static void qr_payload_forms(void **state)
{
    (void)state;
    need_tool("zbarimg", "zbar-tools");
    char path[400];
    snprintf(path, sizeof path, "%s/qr.pdf", dir);
    struct {
        const char *url, *want;
    } cases[] = {
        /* the id already in the URL: taken as it is */
        {"https://ehall.example.gov.cn/api/v1/public/licences/" ID "/status",
         "https://ehall.example.gov.cn/api/v1/public/licences/" ID "/status"},
        /* a query already there: &id= */
        {"https://ehall.example.gov.cn/verify?lang=zh", "https://ehall.example.gov.cn/verify?lang=zh&id=" ID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        unsigned char *pdf = render_ok(SIGNED, cases[i].url, KEYS, LABELS, NF, &len);
        write_file(path, pdf, len);
        char *o = qr_of(path, 1);
        assert_string_equal(o, cases[i].want);
        free(o);
        free(pdf);
    }
}

/* Sixty fields, one of them very long: the rows flow onto more pages, the QR code is on
 * the last one, and the JSON still comes back whole. */
static void long_licence_pages(void **state)
{
    (void)state;
    need_tool("pdfinfo", "poppler-utils");
    need_tool("zbarimg", "zbar-tools");
    enum { N = 60 };
    char *keys[N], *labels[N];
    size_t cap = 200000, n = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    n += (size_t)snprintf(json + n, cap - n, "{\"licence\":{\"id\":\"LONG-1\"");
    for (int i = 0; i < N; i++) {
        assert_true(asprintf(&keys[i], "f%02d", i) > 0);
        assert_true(asprintf(&labels[i], "字段 %d Field number %d", i, i) > 0);
        if (i == 7) {
            n += (size_t)snprintf(json + n, cap - n, ",\"f07\":\"");
            for (int k = 0; k < 400; k++) n += (size_t)snprintf(json + n, cap - n, "长文本%d ", k);
            n += (size_t)snprintf(json + n, cap - n, "\"");
        } else {
            n += (size_t)snprintf(json + n, cap - n, ",\"f%02d\":\"值%d value\"", i, i);
        }
    }
    snprintf(json + n, cap - n, "},\"seal\":{\"alg\":\"SM2-with-SM3\"}}");
    size_t len;
    unsigned char *pdf = render_ok(json, "https://ehall.example.gov.cn/verify", (const char *const *)keys,
                                   (const char *const *)labels, N, &len);
    char path[400], cmd[600];
    snprintf(path, sizeof path, "%s/long.pdf", dir);
    write_file(path, pdf, len);
    snprintf(cmd, sizeof cmd, "pdfinfo '%s' 2>/dev/null | sed -n 's/^Pages: *//p'", path);
    int st;
    char *o = run(cmd, &st);
    int pages = atoi(o);
    free(o);
    assert_true(pages >= 3);
    snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 -f %d -l %d '%s' - 2>/dev/null", pages, pages, path);
    o = run(cmd, &st);
    assert_non_null(strstr(o, "值59 value"));
    assert_non_null(strstr(o, "（续 continued）"));
    free(o);
    o = qr_of(path, pages);
    assert_string_equal(o, "https://ehall.example.gov.cn/verify?id=LONG-1");
    free(o);
    char *back = NULL, err[300];
    if (licence_pdf_extract(pdf, len, &back, err, sizeof err) != 0) fail_msg("extract: %s", err);
    assert_string_equal(back, json);
    free(back);
    free(pdf);
    free(json);
    for (int i = 0; i < N; i++) {
        free(keys[i]);
        free(labels[i]);
    }
}

static void refuse(const unsigned char *b, size_t len, const char *reason)
{
    char *json = (char *)"untouched", err[300] = "";
    assert_int_equal(licence_pdf_extract(b, len, &json, err, sizeof err), -1);
    assert_null(json);
    if (!strstr(err, reason)) fail_msg("expected \"%s\" in: %s", reason, err);
}

static void garbage_refused(void **state)
{
    (void)state;
    size_t len;
    unsigned char *pdf = render_ok(SIGNED, "https://ehall.example.gov.cn/verify", KEYS, LABELS, NF, &len);
    refuse(NULL, 0, "not a PDF");
    refuse((const unsigned char *)"", 0, "not a PDF");
    refuse((const unsigned char *)SIGNED, strlen(SIGNED), "not a PDF");
    const char *junk = "%PDF-1.7\n% nothing here but words and more words\n";
    refuse((const unsigned char *)junk, strlen(junk), "no startxref");
    const char *fake = "%PDF-1.7\nxref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 1 >>\n"
                       "startxref\n9\n%%EOF\n";
    refuse((const unsigned char *)fake, strlen(fake), "no /Root");
    const char *fake2 = "%PDF-1.7\nxref\n0 2\n0000000000 65535 f\r\n0000099999 00000 n\r\ntrailer\n"
                        "<< /Size 2 /Root 1 0 R >>\nstartxref\n9\n%%EOF\n";
    refuse((const unsigned char *)fake2, strlen(fake2), "outside the file");
    const char *xstream = "%PDF-1.7\n1 0 obj << /Type /XRef >> endobj\nstartxref\n9\n%%EOF\n";
    refuse((const unsigned char *)xstream, strlen(xstream), "no classic xref table");

    /* truncated anywhere: the tail (startxref, %%EOF) is gone */
    size_t cuts[] = {len / 4, len / 2, len - 200, len - 7, len - 2};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char err[300];
        char *json = NULL;
        if (licence_pdf_extract(pdf, cuts[i], &json, err, sizeof err) != -1)
            fail_msg("a copy cut at %zu of %zu bytes was accepted", cuts[i], len);
        assert_null(json);
    }
    /* random bytes behind a PDF header */
    unsigned char *rnd = malloc(len);
    assert_non_null(rnd);
    srand(7);
    for (size_t i = 0; i < len; i++) rnd[i] = (unsigned char)rand();
    memcpy(rnd, "%PDF-1.3\n", 9);
    refuse(rnd, len, "no startxref");
    free(rnd);

    /* one byte of the embedded stream altered: inflate or the MD5 check catches it */
    const unsigned char *ef = memmem(pdf, len, "/Type /EmbeddedFile", 19);
    assert_non_null(ef);
    const unsigned char *st = memmem(ef, len - (size_t)(ef - pdf), "stream\r\n", 8);
    if (!st) st = memmem(ef, len - (size_t)(ef - pdf), "stream\n", 7);
    assert_non_null(st);
    size_t at = (size_t)(st - pdf) + 8 + 30;
    unsigned char *bad = malloc(len);
    assert_non_null(bad);
    memcpy(bad, pdf, len);
    bad[at] ^= 0x5a;
    char *json = NULL, err[300] = "";
    assert_int_equal(licence_pdf_extract(bad, len, &json, err, sizeof err), -1);
    assert_null(json);
    assert_true(strstr(err, "altered") != NULL);
    /* the object numbers' offsets shifted by an inserted byte: broken references */
    memcpy(bad, pdf, len);
    memmove(bad + 20, bad + 19, len - 20);
    json = NULL;
    assert_int_equal(licence_pdf_extract(bad, len, &json, err, sizeof err), -1);
    assert_null(json);
    free(bad);

    /* a PDF without the attachment (a plain one) */
    need_tool("qpdf", "qpdf");
    char path[400], cmd[1000];
    snprintf(path, sizeof path, "%s/g.pdf", dir);
    write_file(path, pdf, len);
    snprintf(cmd, sizeof cmd,
             "qpdf --remove-attachment=licence.json --object-streams=disable --qdf '%s' '%s/plain.pdf' 2>&1",
             path, dir);
    int rc;
    char *o = run(cmd, &rc);
    if (rc != 0) fail_msg("qpdf: %s", o);
    free(o);
    snprintf(path, sizeof path, "%s/plain.pdf", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *plain = malloc(len * 4);
    assert_non_null(plain);
    size_t pl = fread(plain, 1, len * 4, f);
    fclose(f);
    refuse(plain, pl, "no embedded licence.json");
    free(plain);
    free(pdf);
}

/* Thousands of damaged copies (bytes flipped, cut, inserted): each is either refused or
 * gives back exactly the signed JSON (the damage missed the parts that carry it). */
static void damaged_copies(void **state)
{
    (void)state;
    size_t len;
    unsigned char *pdf = render_ok(SIGNED, "https://ehall.example.gov.cn/verify", KEYS, LABELS, NF, &len);
    unsigned char *bad = malloc(len + 16);
    assert_non_null(bad);
    srand(2024);
    int refused = 0, intact = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(bad, pdf, len);
        size_t n = len;
        int kind = round % 3;
        /* damage the tail (the xref, trailer and attachment are there) more often than the font */
        size_t span = round % 2 ? len : len / 8;
        size_t at = len - 1 - (size_t)rand() % span;
        if (kind == 0) {
            for (int k = 0; k < 1 + rand() % 4; k++)
                bad[len - 1 - (size_t)rand() % span] ^= (unsigned char)(1 + rand() % 255);
        } else if (kind == 1) {
            n = at;
        } else {
            memmove(bad + at + 1, bad + at, len - at);
            bad[at] = (unsigned char)rand();
            n = len + 1;
        }
        char *json = NULL, err[300] = "";
        if (licence_pdf_extract(bad, n, &json, err, sizeof err) == 0) {
            assert_string_equal(json, SIGNED);
            free(json);
            intact++;
        } else {
            assert_null(json);
            assert_true(err[0] != 0);
            refused++;
        }
    }
    print_message("%d damaged copies refused, %d gave the JSON back intact\n", refused, intact);
    assert_true(refused > 1000);
    free(bad);
    free(pdf);
}

static void bad_render_input(void **state)
{
    (void)state;
    unsigned char *pdf = (unsigned char *)"x";
    size_t len = 99;
    char err[300];
    const char *url = "https://ehall.example.gov.cn/verify";
#define BAD(json, title, url, want)                                                                          \
    do {                                                                                                     \
        err[0] = 0;                                                                                          \
        assert_int_equal(                                                                                    \
            licence_pdf_render(json, title, KEYS, LABELS, NF, url, &pdf, &len, err, sizeof err), -1);        \
        assert_null(pdf);                                                                                    \
        assert_int_equal(len, 0);                                                                            \
        if (!strstr(err, want)) fail_msg("expected \"%s\" in: %s", want, err);                               \
        pdf = (unsigned char *)"x";                                                                          \
    } while (0)
    BAD("{\"licence\":", "出生医学证明", url, "signed JSON");
    BAD("[1,2]", "出生医学证明", url, "licence.id is missing");
    BAD("{\"licence\":{\"holder_name\":\"张三\"}}", "出生医学证明", url, "licence.id is missing");
    BAD(NULL, "出生医学证明", url, "signed JSON is missing");
    BAD(SIGNED, "", url, "title is missing");
    BAD(SIGNED, "\xff\xfe bad", url, "title is not valid UTF-8");
    BAD(SIGNED, "出生医学证明", NULL, "verify_url is missing");
    const char *badlabels[] = {"姓名", "\xc3\x28", "x", "x", "x", "x", "x", "x"};
    err[0] = 0;
    assert_int_equal(licence_pdf_render(SIGNED, "t", KEYS, badlabels, NF, url, &pdf, &len, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "field 1's label (holder_number) is not valid UTF-8"));
    /* no usable font: a clear reason, not a crash */
    setenv("EHALL_LICENCE_FONT", "/nonexistent/font.ttf", 1);
    BAD(SIGNED, "出生医学证明", url, "EHALL_LICENCE_FONT /nonexistent/font.ttf cannot be read");
    unsetenv("EHALL_LICENCE_FONT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_checked_by_tools), cmocka_unit_test(qr_payload_forms),
        cmocka_unit_test(long_licence_pages),      cmocka_unit_test(garbage_refused),
        cmocka_unit_test(damaged_copies),          cmocka_unit_test(bad_render_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
