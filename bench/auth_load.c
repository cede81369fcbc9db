/*
 * auth_load.c — the load generator behind bench/auth.sh (identity benchmarks).
 *
 * Built by bench/auth.sh with bench/loadlib.c (-DLOADLIB_CURL: its libcurl client)
 * against build-bench/libehallcore.a (for auth_password_hash, the server's own password
 * hash), libcurl, jansson and pthreads.  Loopback only: every URL it is given comes from
 * auth.sh, which starts the server on 127.0.0.1.
 *
 *   auth_load kdf ITERATIONS RUNS THREADS
 *       times auth_password_hash: RUNS hashes one after another on one thread
 *       (median/min/max), then THREADS threads hashing at once (hashes/s).
 *   auth_load setup URL N PASSWORD OUTFILE
 *       registers N persons (captcha, SMS code read back in test mode, register) and
 *       writes their log-in names to OUTFILE, one a line.
 *   auth_load login URL ACCOUNTS PASSWORD CLIENTS WARMUP SECONDS MODE [PREFETCH]
 *       CLIENTS threads, each with its own keep-alive connection and its own account
 *       (round robin over ACCOUNTS), log in over and over for WARMUP + SECONDS seconds;
 *       only what completes within the last SECONDS counts.  MODE:
 *         full     POST /api/v1/captcha then POST /api/v1/auth/login, per log-in
 *         login    PREFETCH captchas per client are fetched before the clock starts;
 *                  only POST /api/v1/auth/login is timed
 *         captcha  POST /api/v1/captcha only
 *   auth_load session URL LOGIN PASSWORD
 *       logs in once and prints the session id (the ehall_session cookie).
 *
 * Results are printed as key=value pairs on one line, for auth.sh to read.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "loadlib.h"

const char load_prog[] = "auth_load";

/* ---------- kdf ---------- */

struct kdf_arg {
    int iterations, count;
};

static void *kdf_thread(void *p)
{
    struct kdf_arg *a = p;
    char out[AUTH_PASSWORD_HASH_MAX];
    for (int i = 0; i < a->count; i++)
        if (auth_password_hash("Bench-2026-pass", a->iterations, out, sizeof out) != 0)
            die("auth_password_hash failed");
    return NULL;
}

static int cmd_kdf(int iterations, int runs, int threads)
{
    char out[AUTH_PASSWORD_HASH_MAX];
    double *t = calloc((size_t)runs, sizeof *t);
    if (!t) die("out of memory");
    if (auth_password_hash("Bench-2026-pass", iterations, out, sizeof out) != 0)
        die("auth_password_hash failed");
    for (int i = 0; i < runs; i++) { /* the first call above warmed up; these are timed */
        double t0 = now_s();
        if (auth_password_hash("Bench-2026-pass", iterations, out, sizeof out) != 0)
            die("auth_password_hash failed");
        t[i] = (now_s() - t0) * 1000;
    }
    sort_doubles(t, (size_t)runs);
    double med = pct(t, (size_t)runs, 50), lo = t[0], hi = t[runs - 1];
    /* all threads at once: does the hash scale across the cores? */
    int per = runs < 4 ? 4 : runs;
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    struct kdf_arg a = {iterations, per};
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, kdf_thread, &a) != 0) die("pthread_create");
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    double par = (double)threads * per / (now_s() - t0);
    printf("kdf_ms=%.2f kdf_min_ms=%.2f kdf_max_ms=%.2f kdf_runs=%d par_threads=%d par_hashes_per_s=%.2f\n",
           med, lo, hi, runs, threads, par);
    free(th);
    free(t);
    return 0;
}

/* ---------- HTTP ---------- */

/* A connection that goes as a fresh visitor to every request: the CSRF cookie and
 * header once get_csrf has the token, never the session cookie; c->sid is what the
 * latest answer set.  30 s timeout. */
static void visitor_init(struct conn *c, const char *base)
{
    conn_init(c, base);
    c->visitor = 1;
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 30L);
}

/* GET /api/v1/session for the CSRF token (double-submit: cookie and header). */
static void get_csrf(struct conn *c)
{
    json_t *j = NULL;
    long st = req(c, "GET", "/api/v1/session", NULL, &j);
    if (st != 200 || strlen(jstr(j, "csrf")) != 64)
        die("GET /api/v1/session: status %ld: %s", st, c->body ? c->body : "");
    snprintf(c->csrf_cookie, sizeof c->csrf_cookie, "%s", jstr(j, "csrf"));
    json_decref(j);
}

struct captcha {
    char id[64], answer[16];
};

static long get_captcha(struct conn *c, struct captcha *cp)
{
    json_t *j = NULL;
    long st = req(c, "POST", "/api/v1/captcha", "{}", &j);
    if (st == 201) {
        snprintf(cp->id, sizeof cp->id, "%s", jstr(j, "id"));
        snprintf(cp->answer, sizeof cp->answer, "%s", jstr(j, "answer"));
        if (!cp->answer[0])
            die("the captcha came without its answer: is the server in test mode (EHALL_TEST_MODE=1)?");
    }
    json_decref(j);
    return st;
}

/* 200 with stage "full" counts as a log-in; anything else returns its status (or -1). */
static long do_login(struct conn *c, const char *login, const char *pw, const struct captcha *cp)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "login", login, "password", pw, "captcha_id", cp->id,
                             "captcha", cp->answer);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *j = NULL;
    long st = req(c, "POST", "/api/v1/auth/login", s, &j);
    free(s);
    if (st == 200 && strcmp(jstr(j, "stage"), "full") != 0) st = -1;
    json_decref(j);
    return st;
}

/* ---------- setup ---------- */

static int cmd_setup(const char *base, int n, const char *pw, const char *outfile)
{
    FILE *f = fopen(outfile, "w");
    if (!f) die("cannot write %s", outfile);
    struct conn c;
    visitor_init(&c, base);
    get_csrf(&c);
    for (int i = 0; i < n; i++) {
        char login[32], mobile[24], idn[19], body[1024], path[96];
        snprintf(login, sizeof login, "bench%03d", i + 1);
        snprintf(mobile, sizeof mobile, "1390000%04d", i + 1);
        make_id("19900307", i + 1, idn);
        const char *why = NULL;
        if (auth_id_number_check(idn, &why) != 0) die("made a bad ID number %s: %s", idn, why);
        struct captcha cp;
        long st = get_captcha(&c, &cp);
        if (st != 201) die("POST /api/v1/captcha: status %ld: %s", st, c.body ? c.body : "");
        snprintf(body, sizeof body,
                 "{\"purpose\":\"register\",\"mobile\":\"%s\",\"captcha_id\":\"%s\",\"captcha\":\"%s\"}",
                 mobile, cp.id, cp.answer);
        if ((st = req(&c, "POST", "/api/v1/sms/code", body, NULL)) != 202)
            die("POST /api/v1/sms/code: status %ld: %s", st, c.body ? c.body : "");
        json_t *j = NULL;
        char code[8] = "";
        snprintf(path, sizeof path, "/api/v1/test/sms?mobile=%s", mobile);
        for (int tries = 0; tries < 50; tries++) { /* the code is in the outbox when sms/code answers */
            if ((st = req(&c, "GET", path, NULL, &j)) == 200) {
                snprintf(code, sizeof code, "%s", jstr(j, "code"));
                json_decref(j);
                break;
            }
            json_decref(j);
            j = NULL;
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
        }
        if (strlen(code) != 6) die("GET %s: status %ld, no code: %s", path, st, c.body ? c.body : "");
        json_t *reg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "login", login, "password", pw, "name",
                                "张三", "id_number", idn, "mobile", mobile, "address",
                                "北京市朝阳区建国路88号", "sms_code", code);
        char *s = json_dumps(reg, JSON_COMPACT);
        json_decref(reg);
        st = req(&c, "POST", "/api/v1/auth/register/person", s, NULL);
        free(s);
        if (st != 201)
            die("POST /api/v1/auth/register/person (%s): status %ld: %s", login, st, c.body ? c.body : "");
        fprintf(f, "%s\n", login);
    }
    conn_free(&c);
    if (fclose(f) != 0) die("cannot write %s", outfile);
    printf("registered=%d\n", n);
    return 0;
}

/* ---------- login load ---------- */

enum mode { M_FULL, M_LOGIN, M_CAPTCHA };

struct worker {
    pthread_t th;
    const char *base, *login, *pw;
    enum mode mode;
    int prefetch;
    double t_start, t_end; /* counting window (monotonic seconds) */
    pthread_barrier_t *ready, *go;
    /* results */
    long ok, captchas, fail, ran_out;
    struct statuses bad; /* statuses other than the expected */
    struct lat lat_login, lat_captcha, lat_flow;
};

static void note_bad(struct worker *w, long st)
{
    w->fail++;
    statuses_add(&w->bad, st);
}

static void *worker_run(void *p)
{
    struct worker *w = p;
    struct conn c;
    visitor_init(&c, w->base);
    get_csrf(&c);
    struct captcha *pre = NULL;
    int npre = 0;
    if (w->mode == M_LOGIN) {
        pre = calloc((size_t)w->prefetch, sizeof *pre);
        if (!pre) die("out of memory");
        for (; npre < w->prefetch; npre++)
            if (get_captcha(&c, &pre[npre]) != 201)
                die("prefetching captchas failed: %s", c.body ? c.body : "");
    }
    pthread_barrier_wait(w->ready); /* main sets the window now */
    pthread_barrier_wait(w->go);
    int used = 0;
    for (;;) {
        double t0 = now_s();
        if (t0 >= w->t_end) break;
        struct captcha cp;
        double tc = t0;
        if (w->mode == M_LOGIN) {
            if (used == npre) {
                w->ran_out = 1;
                break;
            }
            cp = pre[used++];
        } else {
            long st = get_captcha(&c, &cp);
            tc = now_s();
            if (tc >= w->t_start && tc <= w->t_end) {
                if (st == 201) {
                    w->captchas++;
                    lat_add(&w->lat_captcha, (tc - t0) * 1000);
                } else {
                    note_bad(w, st);
                }
            }
            if (st != 201) continue;
            if (w->mode == M_CAPTCHA) continue;
        }
        long st = do_login(&c, w->login, w->pw, &cp);
        double t1 = now_s();
        if (t1 < w->t_start || t1 > w->t_end) continue;
        if (st == 200) {
            w->ok++;
            lat_add(&w->lat_login, (t1 - tc) * 1000);
            lat_add(&w->lat_flow, (t1 - t0) * 1000);
        } else {
            note_bad(w, st);
        }
    }
    free(pre);
    conn_free(&c);
    return NULL;
}

static int cmd_login(const char *base, const char *accounts, const char *pw, int clients, double warmup,
                     double secs, const char *mode, int prefetch)
{
    enum mode m = !strcmp(mode, "full")      ? M_FULL
                  : !strcmp(mode, "login")   ? M_LOGIN
                  : !strcmp(mode, "captcha") ? M_CAPTCHA
                                             : -1;
    if ((int)m < 0) die("unknown mode %s", mode);
    FILE *f = fopen(accounts, "r");
    if (!f) die("cannot read %s", accounts);
    char names[256][40];
    int n = 0;
    while (n < 256 && fgets(names[n], sizeof names[n], f)) {
        names[n][strcspn(names[n], "\r\n")] = 0;
        if (names[n][0]) n++;
    }
    fclose(f);
    if (n == 0) die("no accounts in %s", accounts);
    struct worker *w = calloc((size_t)clients, sizeof *w);
    pthread_barrier_t ready, go;
    pthread_barrier_init(&ready, NULL, (unsigned)clients + 1);
    pthread_barrier_init(&go, NULL, (unsigned)clients + 1);
    for (int i = 0; i < clients; i++) {
        w[i].base = base;
        w[i].login = names[i % n];
        w[i].pw = pw;
        w[i].mode = m;
        w[i].prefetch = prefetch;
        w[i].ready = &ready;
        w[i].go = &go;
    }
    for (int i = 0; i < clients; i++)
        if (pthread_create(&w[i].th, NULL, worker_run, &w[i]) != 0) die("pthread_create");
    /* the clock starts once every client has its CSRF token (and its captchas) */
    pthread_barrier_wait(&ready);
    double t0 = now_s();
    for (int i = 0; i < clients; i++) {
        w[i].t_start = t0 + warmup;
        w[i].t_end = t0 + warmup + secs;
    }
    pthread_barrier_wait(&go);
    for (int i = 0; i < clients; i++) pthread_join(w[i].th, NULL);
    long ok = 0, caps = 0, fail = 0, ran_out = 0;
    struct lat L = {0}, C = {0}, F = {0};
    struct statuses bad = {0};
    for (int i = 0; i < clients; i++) {
        ok += w[i].ok, caps += w[i].captchas, fail += w[i].fail, ran_out += w[i].ran_out;
        lat_append(&L, &w[i].lat_login), lat_append(&C, &w[i].lat_captcha), lat_append(&F, &w[i].lat_flow);
        statuses_merge(&bad, &w[i].bad);
        free(w[i].lat_login.v), free(w[i].lat_captcha.v), free(w[i].lat_flow.v);
    }
    sort_doubles(L.v, L.n), sort_doubles(C.v, C.n), sort_doubles(F.v, F.n);
    char bads[256];
    printf("mode=%s clients=%d seconds=%.1f ok=%ld rate=%.2f captchas=%ld captcha_rate=%.2f fail=%ld "
           "ran_out=%ld "
           "login_p50_ms=%.1f login_p99_ms=%.1f captcha_p50_ms=%.2f captcha_p99_ms=%.2f flow_p50_ms=%.1f "
           "bad=%s\n",
           mode, clients, secs, ok, ok / secs, caps, caps / secs, fail, ran_out, pct(L.v, L.n, 50),
           pct(L.v, L.n, 99), pct(C.v, C.n, 50), pct(C.v, C.n, 99), pct(F.v, F.n, 50),
           statuses_text(&bad, bads, sizeof bads));
    free(L.v), free(C.v), free(F.v), free(w);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    return 0;
}

static int cmd_session(const char *base, const char *login, const char *pw)
{
    struct conn c;
    visitor_init(&c, base);
    get_csrf(&c);
    struct captcha cp;
    long st = get_captcha(&c, &cp);
    if (st != 201) die("POST /api/v1/captcha: status %ld", st);
    st = do_login(&c, login, pw, &cp);
    if (st != 200 || strlen(c.sid) != 64)
        die("log-in of %s: status %ld: %s", login, st, c.body ? c.body : "");
    printf("%s\n", c.sid);
    conn_free(&c);
    return 0;
}

int main(int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) die("curl_global_init failed");
    const char *cmd = argc > 1 ? argv[1] : "";
    int rc;
    if (!strcmp(cmd, "kdf") && argc == 5)
        rc = cmd_kdf(atoi(argv[2]), atoi(argv[3]) > 0 ? atoi(argv[3]) : 1,
                     atoi(argv[4]) > 0 ? atoi(argv[4]) : 1);
    else if (!strcmp(cmd, "setup") && argc == 6)
        rc = cmd_setup(argv[2], atoi(argv[3]), argv[4], argv[5]);
    else if (!strcmp(cmd, "login") && (argc == 9 || argc == 10))
        rc = cmd_login(argv[2], argv[3], argv[4], atoi(argv[5]) > 0 ? atoi(argv[5]) : 1, atof(argv[6]),
                       atof(argv[7]), argv[8], argc == 10 ? atoi(argv[9]) : 0);
    else if (!strcmp(cmd, "session") && argc == 5)
        rc = cmd_session(argv[2], argv[3], argv[4]);
    else {
        fprintf(stderr, "usage: auth_load kdf ITERATIONS RUNS THREADS\n"
                        "       auth_load setup URL N PASSWORD OUTFILE\n"
                        "       auth_load login URL ACCOUNTS PASSWORD CLIENTS WARMUP SECONDS "
                        "full|login|captcha [PREFETCH]\n"
                        "       auth_load session URL LOGIN PASSWORD\n");
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
