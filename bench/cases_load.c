/*
 * cases_load.c — the load generator behind bench/cases.sh (case engine benchmarks).
 *
 * Built by bench/cases.sh (and licence.sh, tax.sh, for persons and staff) with
 * bench/loadlib.c (-DLOADLIB_CURL) against build-bench/libehallcore.a (for the TOTP code
 * staff need to log in, and SQLite for generating data), libcurl, jansson and pthreads.
 * Loopback only: every URL it is given comes from the scripts, which start the server on
 * 127.0.0.1 in test mode (captcha answers and SMS codes readable through the API).
 *
 *   cases_load persons URL N PASSWORD PREFIX OUTFILE
 *       registers N persons (captcha, SMS code, register), logs each in and writes one
 *       line per person to OUTFILE: "login account_id session csrf_cookie csrf".
 *   cases_load staff URL BOOTSTRAP_OUT DEPT ROLE LOGIN PASSWORD OUTFILE
 *       with the output of `ehall admin bootstrap`: the three administrators change
 *       their passwords and enrol TOTP; sysadmin creates staff LOGIN in department DEPT,
 *       secadmin gives it ROLE; the staff member logs in (SMS second factor, password
 *       change, TOTP enrolment) and the session line goes to OUTFILE.
 *   cases_load submit URL SESSIONS CONNS WARMUP SECONDS BODY
 *       CONNS threads, each on its own keep-alive connection with a session from
 *       SESSIONS (round robin), POST /api/v1/cases BODY over and over; only answers
 *       that arrive within the last SECONDS count.  201 with state "submitted" is a
 *       success.  Plain sockets (loadlib's raw_run, each connection's request built
 *       once), so the generator costs little CPU next to the server it shares the CPUs
 *       with; a transport error counts as a failure with status 0 and the connection is
 *       opened again.  URL is http://HOST:PORT.
 *   cases_load get URL SESSIONS CONNS WARMUP SECONDS PATH
 *       the same with GET PATH; 200 is a success.
 *   cases_load sqlite DBFILE SQLFILE
 *       runs SQLFILE on the SQLite database DBFILE (data generation) and prints the time.
 *
 * Results are printed as key=value pairs on one line, for cases.sh to read.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "loadlib.h"

const char load_prog[] = "cases_load";

static void start_session(struct conn *c) { json_decref(must(c, 200, "GET", "/api/v1/session", NULL)); }

static void captcha(struct conn *c, char id[64], char ans[16])
{
    json_t *j = must(c, 201, "POST", "/api/v1/captcha", "{}");
    snprintf(id, 64, "%s", jstr(j, "id"));
    snprintf(ans, 16, "%s", jstr(j, "answer"));
    if (!ans[0]) die("the captcha came without its answer: is the server in test mode (EHALL_TEST_MODE=1)?");
    json_decref(j);
}

static void sms_read(struct conn *c, const char *mobile, char code[8])
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/test/sms?mobile=%s", mobile);
    json_t *j = must(c, 200, "GET", path, NULL);
    snprintf(code, 8, "%s", jstr(j, "code"));
    json_decref(j);
}

/* Password and captcha; returns the stage ("full", "mfa", "password"). */
static void password_login(struct conn *c, const char *login, const char *pw, char stage[16])
{
    char id[64], ans[16];
    captcha(c, id, ans);
    json_t *b =
        json_pack("{s:s, s:s, s:s, s:s}", "login", login, "password", pw, "captcha_id", id, "captcha", ans);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *j = must(c, 200, "POST", "/api/v1/auth/login", s);
    free(s);
    snprintf(stage, 16, "%s", jstr(j, "stage"));
    json_decref(j);
}

/* The session's CSRF token and account id; dies unless the stage is "full". */
static long long session_check(struct conn *c)
{
    json_t *j = must(c, 200, "GET", "/api/v1/session", NULL);
    if (strcmp(jstr(j, "stage"), "full") != 0) die("session stage is %s, not full", jstr(j, "stage"));
    long long id = json_integer_value(json_object_get(json_object_get(j, "account"), "id"));
    json_decref(j);
    return id;
}

static void write_session(FILE *f, const char *login, long long id, const struct conn *c)
{
    fprintf(f, "%s %lld %s %s %s\n", login, id, c->sid, c->csrf_cookie[0] ? c->csrf_cookie : "x", c->csrf);
}

/* ---------- persons ---------- */

struct reg {
    pthread_t th;
    const char *base, *pw, *prefix;
    int from, to;
    char (*lines)[512];
};

static void *reg_run(void *p)
{
    struct reg *g = p;
    for (int i = g->from; i < g->to; i++) {
        struct conn c;
        conn_init(&c, g->base);
        start_session(&c);
        char login[40], mobile[24], idn[19], id[64], ans[16], code[8], stage[16];
        snprintf(login, sizeof login, "%s%05d", g->prefix, i + 1);
        snprintf(mobile, sizeof mobile, "1380%07d", i + 1);
        make_id(PERSON_BORN, i + 1, idn);
        captcha(&c, id, ans);
        json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "purpose", "register", "mobile", mobile, "captcha_id",
                              id, "captcha", ans);
        char *s = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        json_decref(must(&c, 202, "POST", "/api/v1/sms/code", s));
        free(s);
        sms_read(&c, mobile, code);
        b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "login", login, "password", g->pw, "name",
                      "张三", "id_number", idn, "mobile", mobile, "address", "北京市朝阳区建国路88号",
                      "sms_code", code);
        s = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        json_decref(must(&c, 201, "POST", "/api/v1/auth/register/person", s));
        free(s);
        password_login(&c, login, g->pw, stage);
        long long aid = session_check(&c);
        snprintf(g->lines[i], sizeof g->lines[i], "%s %lld %s %s %s", login, aid, c.sid,
                 c.csrf_cookie[0] ? c.csrf_cookie : "x", c.csrf);
        conn_free(&c);
    }
    return NULL;
}

static int cmd_persons(const char *base, int n, const char *pw, const char *prefix, const char *outfile)
{
    char(*lines)[512] = calloc((size_t)n, sizeof *lines);
    if (!lines) die("out of memory");
    enum { T = 4 };
    struct reg g[T];
    for (int t = 0; t < T; t++) {
        g[t] = (struct reg){.base = base,
                            .pw = pw,
                            .prefix = prefix,
                            .from = n * t / T,
                            .to = n * (t + 1) / T,
                            .lines = lines};
        if (pthread_create(&g[t].th, NULL, reg_run, &g[t]) != 0) die("pthread_create");
    }
    for (int t = 0; t < T; t++) pthread_join(g[t].th, NULL);
    FILE *f = fopen(outfile, "w");
    if (!f) die("cannot write %s", outfile);
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", lines[i]);
    if (fclose(f) != 0) die("cannot write %s", outfile);
    free(lines);
    printf("persons=%d\n", n);
    return 0;
}

/* ---------- staff ---------- */

static void totp_now(const char *secret, char code[8])
{
    unsigned char key[64];
    size_t klen;
    if (crypto_base32_decode(secret, key, sizeof key, &klen) != 0) die("bad TOTP secret");
    if (crypto_totp(key, klen, "SM3", (long long)time(NULL), 30, 6, code) != 0) die("crypto_totp failed");
}

static void change_password(struct conn *c, const char *cur, const char *pw)
{
    json_t *b = json_pack("{s:s, s:s}", "current_password", cur, "new_password", pw);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_decref(must(c, 200, "POST", "/api/v1/account/password", s));
    free(s);
}

static void enrol_totp(struct conn *c)
{
    json_t *j = must(c, 200, "POST", "/api/v1/account/totp/setup", "{\"digest\":\"SM3\"}");
    char secret[64], code[8], body[64];
    snprintf(secret, sizeof secret, "%s", jstr(j, "secret"));
    json_decref(j);
    totp_now(secret, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    json_decref(must(c, 200, "POST", "/api/v1/account/totp/confirm", body));
}

static int cmd_staff(const char *base, const char *bootfile, const char *dept, const char *role,
                     const char *login, const char *pw, const char *outfile)
{
    FILE *bf = fopen(bootfile, "r");
    if (!bf) die("cannot read %s", bootfile);
    static char boot[8192];
    size_t bl = fread(boot, 1, sizeof boot - 1, bf);
    boot[bl] = 0;
    fclose(bf);
    static const char *names[] = {"sysadmin", "secadmin"};
    struct conn adm[2];
    for (int i = 0; i < 2; i++) {
        char pat[48], first[32], stage[16];
        snprintf(pat, sizeof pat, "login %-9s  password ", names[i]);
        const char *p = strstr(boot, pat);
        if (!p) die("no password for %s in %s", names[i], bootfile);
        snprintf(first, sizeof first, "%.16s", p + strlen(pat));
        conn_init(&adm[i], base);
        start_session(&adm[i]);
        password_login(&adm[i], names[i], first, stage);
        if (strcmp(stage, "password") != 0) die("%s: stage %s after the first log-in", names[i], stage);
        change_password(&adm[i], first, pw);
        enrol_totp(&adm[i]);
        session_check(&adm[i]);
    }
    /* the department's id */
    json_t *j = must(&adm[0], 200, "GET", "/api/v1/admin/departments", NULL);
    long long did = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(j, "departments"), i, d)
    {
        if (!strcmp(jstr(d, "code"), dept)) did = json_integer_value(json_object_get(d, "id"));
    }
    json_decref(j);
    if (!did) die("no department %s", dept);
    char mobile[24] = "13700000001", body[1024], path[96], otp[40], stage[16], code[8];
    snprintf(body, sizeof body,
             "{\"login\":\"%s\",\"name\":\"窗口%s\",\"mobile\":\"%s\",\"department\":%lld,\"badge\":\"B%s\"}",
             login, login, mobile, did, login);
    j = must(&adm[0], 201, "POST", "/api/v1/admin/staff", body);
    snprintf(otp, sizeof otp, "%s", jstr(j, "one_time_password"));
    long long sid = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/admin/accounts/%lld/roles", sid);
    snprintf(body, sizeof body, "{\"roles\":[\"%s\"]}", role);
    json_decref(must(&adm[1], 200, "PUT", path, body));
    struct conn c;
    conn_init(&c, base);
    start_session(&c);
    password_login(&c, login, otp, stage);
    if (strcmp(stage, "mfa") != 0) die("staff %s: stage %s after the first log-in", login, stage);
    json_decref(must(&c, 202, "POST", "/api/v1/auth/mfa/sms", "{}"));
    sms_read(&c, mobile, code);
    snprintf(body, sizeof body, "{\"method\":\"sms\",\"code\":\"%s\"}", code);
    json_decref(must(&c, 200, "POST", "/api/v1/auth/mfa", body));
    change_password(&c, otp, pw);
    enrol_totp(&c);
    long long id = session_check(&c);
    FILE *f = fopen(outfile, "w");
    if (!f) die("cannot write %s", outfile);
    write_session(f, login, id, &c);
    if (fclose(f) != 0) die("cannot write %s", outfile);
    printf("staff_id=%lld department_id=%lld\n", id, did);
    conn_free(&c);
    conn_free(&adm[0]);
    conn_free(&adm[1]);
    return 0;
}

/* ---------- load ---------- */

/* The request of each connection, built once: its session does not change. */
struct load {
    int post; /* submit: POST /api/v1/cases; get: GET PATH */
    char **req;
    size_t *len;
};

static size_t load_request(void *arg, int conn, long iter, char *buf, size_t cap, const char **out)
{
    (void)iter, (void)buf, (void)cap;
    const struct load *l = arg;
    *out = l->req[conn];
    return l->len[conn];
}

/* submit: 201 and the state the server writes (jansson's compact form); get: 200 */
static int load_good(void *arg, int conn, int status, const char *body, size_t len)
{
    static const char submitted[] = "\"state\":\"submitted\"";
    const struct load *l = arg;
    (void)conn;
    if (!l->post) return status == 200;
    return status == 201 && memmem(body, len, submitted, sizeof submitted - 1) != NULL;
}

static int cmd_load(const char *method, const char *url, const char *sessfile, int conns, double warmup,
                    double secs, const char *path, const char *body)
{
    int ns;
    struct session *sess = read_sessions(sessfile, &ns);
    char host[256];
    int port;
    parse_host_port(url, host, sizeof host, &port);
    struct load l = {.post = body != NULL,
                     .req = calloc((size_t)conns, sizeof *l.req),
                     .len = calloc((size_t)conns, sizeof *l.len)};
    if (!l.req || !l.len) die("out of memory");
    for (int i = 0; i < conns; i++) {
        const struct session *s = &sess[i % ns];
        int n;
        if (l.post)
            n = asprintf(
                &l.req[i],
                "POST %s HTTP/1.1\r\nHost: %s:%d\r\nCookie: ehall_csrf=%s; ehall_session=%s\r\n"
                "X-CSRF-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                path, host, port, s->csrf_cookie, s->sid, s->csrf, strlen(body), body);
        else
            n = asprintf(&l.req[i],
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nCookie: ehall_csrf=%s; ehall_session=%s\r\n\r\n",
                         path, host, port, s->csrf_cookie, s->sid);
        if (n < 0) die("out of memory");
        l.len[i] = (size_t)n;
    }
    struct raw_load rl = {.host = host,
                          .port = port,
                          .conns = conns,
                          .warmup = warmup,
                          .seconds = secs,
                          .request = load_request,
                          .good = load_good,
                          .arg = &l};
    struct raw_result r;
    raw_run(&rl, &r);
    if (r.first_bad[0]) fprintf(stderr, "cases_load: %s %s: %s\n", method, path, r.first_bad);
    long fail = r.bad + r.broken;
    char bad[256];
    printf(
        "conns=%d seconds=%.1f ok=%ld rate=%.1f fail=%ld acked_total=%ld p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
        "max_ms=%.3f bad=%s\n",
        conns, secs, r.good, r.good / secs, fail, l.post ? r.good_total : 0, pct(r.lat, r.nlat, 50),
        pct(r.lat, r.nlat, 90), pct(r.lat, r.nlat, 99), r.nlat ? r.lat[r.nlat - 1] : 0.0,
        statuses_text(&r.statuses, bad, sizeof bad));
    raw_result_free(&r);
    for (int i = 0; i < conns; i++) free(l.req[i]);
    free(l.req);
    free(l.len);
    free(sess);
    return fail ? 3 : 0;
}

/* ---------- SQLite data generation ---------- */

static int cmd_sqlite(const char *dbfile, const char *sqlfile)
{
    FILE *f = fopen(sqlfile, "r");
    if (!f) die("cannot read %s", sqlfile);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *sql = malloc((size_t)len + 1);
    if (!sql || fread(sql, 1, (size_t)len, f) != (size_t)len) die("cannot read %s", sqlfile);
    sql[len] = 0;
    fclose(f);
    sqlite3 *db;
    if (sqlite3_open(dbfile, &db) != SQLITE_OK) die("cannot open %s", dbfile);
    sqlite3_busy_timeout(db, 10000);
    double t0 = now_s();
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die("%s: %s", sqlfile, err ? err : "error");
    printf("seconds=%.1f\n", now_s() - t0);
    sqlite3_close(db);
    free(sql);
    return 0;
}

int main(int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) die("curl_global_init failed");
    const char *cmd = argc > 1 ? argv[1] : "";
    int rc;
    if (!strcmp(cmd, "persons") && argc == 7)
        rc = cmd_persons(argv[2], atoi(argv[3]), argv[4], argv[5], argv[6]);
    else if (!strcmp(cmd, "staff") && argc == 9)
        rc = cmd_staff(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], argv[8]);
    else if (!strcmp(cmd, "submit") && argc == 8)
        rc = cmd_load("POST", argv[2], argv[3], atoi(argv[4]) > 0 ? atoi(argv[4]) : 1, atof(argv[5]),
                      atof(argv[6]), "/api/v1/cases", argv[7]);
    else if (!strcmp(cmd, "get") && argc == 8)
        rc = cmd_load("GET", argv[2], argv[3], atoi(argv[4]) > 0 ? atoi(argv[4]) : 1, atof(argv[5]),
                      atof(argv[6]), argv[7], NULL);
    else if (!strcmp(cmd, "sqlite") && argc == 4)
        rc = cmd_sqlite(argv[2], argv[3]);
    else {
        fprintf(stderr, "usage: cases_load persons URL N PASSWORD PREFIX OUTFILE\n"
                        "       cases_load staff URL BOOTSTRAP_OUT DEPT ROLE LOGIN PASSWORD OUTFILE\n"
                        "       cases_load submit URL SESSIONS CONNS WARMUP SECONDS BODY\n"
                        "       cases_load get URL SESSIONS CONNS WARMUP SECONDS PATH\n"
                        "       cases_load sqlite DBFILE SQLFILE\n");
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
