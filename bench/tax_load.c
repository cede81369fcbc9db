/*
 * tax_load.c — the load generator behind bench/tax.sh: issue 6's zero declaration
 * (1,000/s end to end on SQLite) and the tax-period peak (70/25/5 at 3× seed 003's peak).
 *
 * Built by bench/tax.sh with bench/loadlib.c (-DLOADLIB_CURL: its libcurl client),
 * libcurl, jansson and pthreads.  Loopback only.
 * Persons and the tax staff account come from bench/cases_load (persons, staff).
 *
 *   tax_load taxpayers URL STAFF_SESSION PERSONS OUTFILE
 *       the staff member (tax.manage) registers every person of PERSONS (the ID numbers
 *       cases_load gave them) as a person taxpayer at TAX-YZ with VAT quarterly and IIT
 *       monthly since 2019-01-01; one taxpayer id per line to OUTFILE.
 *   tax_load zero URL PERSONS TAXPAYERS FROM TO CONNS WARMUP SECONDS
 *       CONNS threads on their own keep-alive connections; thread t files, for the
 *       persons FROM..TO-1 with index = t (mod CONNS), in turn, one-step zero
 *       declarations (POST /api/v1/tax/declarations {"form":"zero"}) for every period
 *       that has ended (IIT months, VAT quarters) until the time is up or the periods
 *       run out.  201 with status "submitted" is a success; only answers within the last
 *       SECONDS count.  Each declaration is validated, computed, recorded with its
 *       audit record and queued to the core tax system before the 201.
 *
 *   tax_load peak URL PERSONS TAXPAYERS FROM TO CONNS RATES WARMUP SECONDS EHALL_PID
 *       the tax-period peak: first every person FROM..TO-1 registers a three-party
 *       agreement and files small-scale VAT with tax due (400,000 yuan a quarter → 4,000
 *       yuan) for the twelve quarters of 2023–2025, and waits until the core tax system
 *       has accepted them all (the server's exchange workers must be on).  Then, for each
 *       offered rate of the comma-separated RATES (requests/s), an open-loop run: CONNS
 *       threads, each sending on a fixed schedule (RATE/CONNS a second), choose per
 *       request 70 % queries (the filing calendar, the declarations, the taxpayers I act
 *       for — in turn), 25 % one-step zero IIT declarations, 5 % payments of one of the
 *       pre-filed declarations (idempotency key per declaration).  Latency counts from
 *       the request's scheduled time, so a server that falls behind shows it (no
 *       coordinated omission).  One line per rate.
 *
 * Results are printed as key=value pairs on one line, for tax.sh to read.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loadlib.h"

const char load_prog[] = "tax_load";

/* ---------- the persons (as cases_load registered them) ---------- */

/* The taxpayer ids of the persons (TAXPAYERS: one a line, in the persons' order); FROM..TO-1
 * must lie within them. */
static long long *read_taxpayers(const char *tpfile, int np, int from, int to)
{
    FILE *tf = fopen(tpfile, "r");
    if (!tf) die("cannot read %s", tpfile);
    long long *tp = calloc((size_t)np, sizeof *tp);
    if (!tp) die("out of memory");
    for (int i = 0; i < np; i++)
        if (fscanf(tf, "%lld", &tp[i]) != 1) die("%s: fewer taxpayers than persons", tpfile);
    fclose(tf);
    if (from < 0 || to > np || from >= to) die("persons %d..%d: there are %d", from, to, np);
    return tp;
}

static int cmd_taxpayers(const char *base, const char *stafffile, const char *personsfile,
                         const char *outfile)
{
    int ns, np;
    struct session *staff = read_sessions(stafffile, &ns);
    struct session *p = read_sessions(personsfile, &np);
    struct conn c;
    conn_init(&c, base);
    use_session(&c, &staff[0]);
    FILE *f = fopen(outfile, "w");
    if (!f) die("cannot write %s", outfile);
    for (int i = 0; i < np; i++) {
        char idn[19];
        make_id(PERSON_BORN, i + 1, idn);
        json_t *b =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}", "kind",
                      "person", "id_number", idn, "name", "张三", "vat_status", "small", "office", "TAX-YZ",
                      "credit", "B", "registrations", "tax", "vat", "period", "quarterly", "since",
                      "2019-01-01", "tax", "iit", "period", "monthly", "since", "2019-01-01");
        char *s = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        json_t *j = must(&c, 201, "POST", "/api/v1/tax/taxpayers", s);
        free(s);
        fprintf(f, "%lld\n", (long long)json_integer_value(json_object_get(j, "id")));
        json_decref(j);
    }
    if (fclose(f) != 0) die("cannot write %s", outfile);
    conn_free(&c);
    free(staff);
    free(p);
    printf("taxpayers=%d\n", np);
    return 0;
}

/* ---------- the load ---------- */

#define SLOTS 160

struct filer {
    const struct session *s;
    long long taxpayer;
    int next; /* the next slot */
};

static char slot_tax[SLOTS][4], slot_period[SLOTS][16];
static int nslots;

/* Every ended period from 2019 on, up to two months back (safe in any time zone). */
static void make_slots(void)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int last = (tm.tm_year + 1900) * 12 + tm.tm_mon - 2; /* months since year 0, 0-based */
    for (int m = 2019 * 12; m <= last && nslots < SLOTS; m++) {
        snprintf(slot_tax[nslots], 4, "iit");
        snprintf(slot_period[nslots++], 16, "%04d-%02d", m / 12, m % 12 + 1);
        if (m % 3 == 2 && nslots < SLOTS) {
            snprintf(slot_tax[nslots], 4, "vat");
            snprintf(slot_period[nslots++], 16, "%04dQ%d", m / 12, m % 12 / 3 + 1);
        }
    }
}

struct worker {
    pthread_t th;
    const char *base;
    struct filer *f;
    int nf;
    double t_start, t_end;
    pthread_barrier_t *ready, *go;
    long ok, fail, acked_total, exhausted;
    struct lat lat;
};

static void *worker_run(void *p)
{
    struct worker *w = p;
    struct conn c;
    conn_init(&c, w->base);
    pthread_barrier_wait(w->ready);
    pthread_barrier_wait(w->go);
    int k = 0, left = w->nf;
    while (left > 0) {
        double t0 = now_s();
        if (t0 >= w->t_end) break;
        struct filer *f = &w->f[k++ % w->nf];
        if (f->next >= nslots) continue;
        int i = f->next++;
        if (f->next >= nslots) left--;
        use_session(&c, f->s);
        char body[200];
        snprintf(body, sizeof body, "{\"taxpayer\":%lld,\"tax\":\"%s\",\"form\":\"zero\",\"period\":\"%s\"}",
                 f->taxpayer, slot_tax[i], slot_period[i]);
        json_t *j = NULL;
        long st = req(&c, "POST", "/api/v1/tax/declarations", body, &j);
        int good = st == 201 && !strcmp(jstr(j, "status"), "submitted");
        json_decref(j);
        if (good) w->acked_total++;
        double t1 = now_s();
        if (t1 < w->t_start || t1 > w->t_end) continue;
        if (good) {
            w->ok++;
            lat_add(&w->lat, (t1 - t0) * 1000);
        } else {
            w->fail++;
            if (w->fail == 1)
                fprintf(stderr, "tax_load: %s: status %ld: %.200s\n", body, st, c.body ? c.body : "");
        }
    }
    if (left <= 0) w->exhausted = 1;
    conn_free(&c);
    return NULL;
}

static int cmd_zero(const char *base, const char *personsfile, const char *tpfile, int from, int to,
                    int conns, double warmup, double secs)
{
    int np;
    struct session *sess = read_sessions(personsfile, &np);
    long long *tp = read_taxpayers(tpfile, np, from, to);
    if (conns > to - from) conns = to - from;
    make_slots();
    struct filer *fl = calloc((size_t)(to - from), sizeof *fl);
    struct worker *w = calloc((size_t)conns, sizeof *w);
    if (!fl || !w) die("out of memory");
    pthread_barrier_t ready, go;
    pthread_barrier_init(&ready, NULL, (unsigned)conns + 1);
    pthread_barrier_init(&go, NULL, (unsigned)conns + 1);
    int total = to - from; /* balanced blocks: every thread has persons (conns <= total) */
    for (int t = 0; t < conns; t++) {
        int a = total * t / conns, b = total * (t + 1) / conns;
        w[t] = (struct worker){.base = base, .f = fl + a, .nf = b - a, .ready = &ready, .go = &go};
        for (int i = a; i < b; i++) fl[i] = (struct filer){&sess[from + i], tp[from + i], 0};
    }
    for (int t = 0; t < conns; t++)
        if (pthread_create(&w[t].th, NULL, worker_run, &w[t]) != 0) die("pthread_create");
    pthread_barrier_wait(&ready);
    double t0 = now_s();
    for (int t = 0; t < conns; t++) {
        w[t].t_start = t0 + warmup;
        w[t].t_end = t0 + warmup + secs;
    }
    pthread_barrier_wait(&go);
    struct lat L = {0};
    long ok = 0, fail = 0, acked = 0, exhausted = 0;
    for (int t = 0; t < conns; t++) {
        pthread_join(w[t].th, NULL);
        ok += w[t].ok, fail += w[t].fail, acked += w[t].acked_total, exhausted += w[t].exhausted;
        lat_append(&L, &w[t].lat);
        free(w[t].lat.v);
    }
    sort_doubles(L.v, L.n);
    printf("conns=%d seconds=%.1f ok=%ld rate=%.1f fail=%ld acked_total=%ld exhausted=%ld p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           conns, secs, ok, ok / secs, fail, acked, exhausted, pct(L.v, L.n, 50), pct(L.v, L.n, 90),
           pct(L.v, L.n, 99), L.n ? L.v[L.n - 1] : 0.0);
    free(L.v);
    free(w);
    free(fl);
    free(tp);
    free(sess);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    return fail ? 3 : 0;
}

/* ---------- the tax-period peak (70 % queries, 25 % declarations, 5 % payments) ---------- */

#define PEAK_QUARTERS 12 /* 2023Q1..2025Q4, the years the small-scale VAT parameters cover */
#define IIT_MONTHS    84 /* 2019-01..2025-12 */

struct payer {
    const struct session *s;
    long long taxpayer, agreement;
    long long decl[PEAK_QUARTERS];
    int paid, next_month;
};

enum { OP_QUERY, OP_DECLARE, OP_PAY, OP_KINDS };
static const char *const op_name[OP_KINDS] = {"query", "declare", "pay"};

struct pworker {
    pthread_t th;
    const char *base;
    struct payer *p;
    int np;
    pthread_barrier_t *ready;
    /* one run */
    double rate, t0, t_start, t_end;
    pthread_barrier_t *go, *done;
    int quit;
    unsigned rng;
    long ok[OP_KINDS], fail[OP_KINDS], sent, exhausted;
    double last_done; /* when the last counted request completed */
    struct lat lat[OP_KINDS];
    char first_err[300];
};

static unsigned xorshift(unsigned *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* The set-up of one thread's payers: agreement, twelve quarters filed, all accepted. */
static void peak_prepare(struct pworker *w, struct conn *c)
{
    for (int i = 0; i < w->np; i++) {
        struct payer *p = &w->p[i];
        use_session(c, p->s);
        char path[96], body[400];
        snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/agreements", p->taxpayer);
        snprintf(body, sizeof body,
                 "{\"bank_code\":\"102\",\"bank_name\":\"工商银行\",\"account_no\":\"622202%07lld1\","
                 "\"account_name\":\"张三\"}",
                 p->taxpayer % 10000000);
        json_t *j = must(c, 201, "POST", path, body);
        p->agreement = (long long)json_integer_value(json_object_get(j, "id"));
        json_decref(j);
        for (int q = 0; q < PEAK_QUARTERS; q++) {
            snprintf(body, sizeof body,
                     "{\"taxpayer\":%lld,\"tax\":\"vat\",\"form\":\"vat_small\",\"period\":\"%dQ%d\","
                     "\"data\":{\"sales_fen\":40000000}}",
                     p->taxpayer, 2023 + q / 4, q % 4 + 1);
            j = must(c, 201, "POST", "/api/v1/tax/declarations", body);
            p->decl[q] = (long long)json_integer_value(json_object_get(j, "id"));
            json_decref(j);
        }
    }
    /* the simulated core tax system answers through the exchange: wait for every one */
    double deadline = now_s() + 300;
    for (int i = 0; i < w->np; i++) {
        struct payer *p = &w->p[i];
        use_session(c, p->s);
        for (int q = 0; q < PEAK_QUARTERS; q++) {
            char path[80];
            snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld", p->decl[q]);
            for (;;) {
                json_t *j = must(c, 200, "GET", path, NULL);
                int submitted = !strcmp(jstr(j, "status"), "submitted"),
                    accepted = !strcmp(jstr(j, "status"), "accepted");
                json_decref(j);
                if (accepted) break;
                if (!submitted) die("declaration %lld was not accepted by the core tax system", p->decl[q]);
                if (now_s() > deadline)
                    die("the core tax system did not answer in time (exchange workers off?)");
                struct timespec ts = {0, 20 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

/* One request of the mix for payer p; returns 1 when answered as expected. */
static int peak_op(struct pworker *w, struct conn *c, struct payer *p, int op, unsigned r, int *skipped)
{
    char path[96], body[200];
    const char *method = "GET", *json = NULL;
    long want = 200;
    *skipped = 0;
    if (op == OP_QUERY) {
        switch (r % 3) {
        case 0: snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/filings", p->taxpayer); break;
        case 1: snprintf(path, sizeof path, "/api/v1/tax/taxpayers/%lld/declarations", p->taxpayer); break;
        default: snprintf(path, sizeof path, "/api/v1/tax/mine"); break;
        }
    } else if (op == OP_DECLARE) {
        if (p->next_month >= IIT_MONTHS) return *skipped = 1, 0;
        int m = p->next_month++;
        snprintf(body, sizeof body,
                 "{\"taxpayer\":%lld,\"tax\":\"iit\",\"form\":\"zero\",\"period\":\"%d-%02d\"}", p->taxpayer,
                 2019 + m / 12, m % 12 + 1);
        method = "POST", json = body, want = 201;
        snprintf(path, sizeof path, "/api/v1/tax/declarations");
    } else {
        if (p->paid >= PEAK_QUARTERS) return *skipped = 1, 0;
        long long d = p->decl[p->paid++];
        snprintf(path, sizeof path, "/api/v1/tax/declarations/%lld/pay", d);
        snprintf(body, sizeof body, "{\"agreement\":%lld,\"idempotency_key\":\"bench-pay-%lld\"}",
                 p->agreement, d);
        method = "POST", json = body, want = 202;
    }
    use_session(c, p->s);
    long st = req(c, method, path, json, NULL);
    if (st == want) return 1;
    if (!w->first_err[0])
        snprintf(w->first_err, sizeof w->first_err, "%s %s: status %ld: %.200s", method, path, st,
                 c->body ? c->body : "");
    return 0;
}

static void *peak_run(void *arg)
{
    struct pworker *w = arg;
    struct conn c;
    conn_init(&c, w->base);
    peak_prepare(w, &c);
    pthread_barrier_wait(w->ready);
    for (;;) {
        pthread_barrier_wait(w->go);
        if (w->quit) break;
        int k = 0;
        for (long i = 0;; i++) {
            double due = w->t0 + (double)i / w->rate;
            if (due >= w->t_end) break;
            double t = now_s();
            if (t < due) {
                double d = due - t;
                struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
            unsigned r = xorshift(&w->rng);
            int op = r % 100 < 70 ? OP_QUERY : r % 100 < 95 ? OP_DECLARE : OP_PAY;
            struct payer *p = &w->p[k++ % w->np];
            int skipped;
            int good = peak_op(w, &c, p, op, r / 100, &skipped);
            if (skipped) {
                w->exhausted++;
                continue;
            }
            double t1 = now_s();
            if (due < w->t_start) continue;
            w->sent++;
            if (t1 > w->last_done) w->last_done = t1;
            if (good) {
                w->ok[op]++;
                lat_add(&w->lat[op], (t1 - due) * 1000);
            } else
                w->fail[op]++;
        }
        pthread_barrier_wait(w->done);
    }
    conn_free(&c);
    return NULL;
}

static double cpu_seconds(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    unsigned long ut = 0, stt = 0;
    if (!q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2) return 0;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static int cmd_peak(const char *base, const char *personsfile, const char *tpfile, int from, int to,
                    int conns, const char *rates, double warmup, double secs, long ehall_pid)
{
    int np;
    struct session *sess = read_sessions(personsfile, &np);
    long long *tp = read_taxpayers(tpfile, np, from, to);
    if (conns > to - from) conns = to - from;
    int total = to - from;
    struct payer *pp = calloc((size_t)total, sizeof *pp);
    struct pworker *w = calloc((size_t)conns, sizeof *w);
    if (!pp || !w) die("out of memory");
    pthread_barrier_t ready, go, done;
    pthread_barrier_init(&ready, NULL, (unsigned)conns + 1);
    pthread_barrier_init(&go, NULL, (unsigned)conns + 1);
    pthread_barrier_init(&done, NULL, (unsigned)conns + 1);
    for (int t = 0; t < conns; t++) {
        int a = total * t / conns, b = total * (t + 1) / conns;
        w[t] = (struct pworker){.base = base,
                                .p = pp + a,
                                .np = b - a,
                                .ready = &ready,
                                .go = &go,
                                .done = &done,
                                .rng = 2463534242u + 7919u * (unsigned)t};
        for (int i = a; i < b; i++) pp[i] = (struct payer){.s = &sess[from + i], .taxpayer = tp[from + i]};
    }
    double tp0 = now_s();
    for (int t = 0; t < conns; t++)
        if (pthread_create(&w[t].th, NULL, peak_run, &w[t]) != 0) die("pthread_create");
    pthread_barrier_wait(&ready);
    fprintf(stderr, "tax_load: %d payers ready (%d declarations accepted) in %.1f s\n", total,
            total * PEAK_QUARTERS, now_s() - tp0);
    int rc = 0;
    for (const char *r = rates; *r;) {
        double rate = strtod(r, (char **)&r);
        if (*r == ',') r++;
        if (rate <= 0) die("bad rate list %s", rates);
        double t0 = now_s() + 0.05, c0 = cpu_seconds(ehall_pid);
        for (int t = 0; t < conns; t++) {
            struct pworker *x = &w[t];
            x->rate = rate / conns, x->t0 = t0 + (double)t / rate; /* staggered starts */
            x->t_start = t0 + warmup, x->t_end = t0 + warmup + secs;
            memset(x->ok, 0, sizeof x->ok), memset(x->fail, 0, sizeof x->fail);
            x->sent = x->exhausted = 0;
            x->last_done = 0;
            for (int o = 0; o < OP_KINDS; o++) x->lat[o].n = 0;
        }
        pthread_barrier_wait(&go);
        pthread_barrier_wait(&done);
        double c1 = cpu_seconds(ehall_pid), wall = now_s() - t0;
        long ok = 0, fail = 0, sent = 0, exh = 0, kok[OP_KINDS] = {0}, kfail[OP_KINDS] = {0};
        /* served: the requests scheduled in the window over the time until the last of them
         * was answered — a server that falls behind answers them late, not more of them */
        double span = secs;
        for (int t = 0; t < conns; t++) {
            if (w[t].last_done - w[t].t_start > span) span = w[t].last_done - w[t].t_start;
            sent += w[t].sent, exh += w[t].exhausted;
            for (int o = 0; o < OP_KINDS; o++) kok[o] += w[t].ok[o], kfail[o] += w[t].fail[o];
            if (w[t].first_err[0]) {
                fprintf(stderr, "tax_load: %s\n", w[t].first_err);
                w[t].first_err[0] = 0;
            }
        }
        struct lat all = {0};
        printf("rate=%.0f seconds=%.1f", rate, secs);
        for (int o = 0; o < OP_KINDS; o++) {
            struct lat v = {0};
            for (int t = 0; t < conns; t++) lat_append(&v, &w[t].lat[o]);
            lat_append(&all, &v);
            sort_doubles(v.v, v.n);
            printf(" %s_ok=%ld %s_fail=%ld %s_p99_ms=%.1f", op_name[o], kok[o], op_name[o], kfail[o],
                   op_name[o], pct(v.v, v.n, 99));
            ok += kok[o], fail += kfail[o];
            free(v.v);
        }
        sort_doubles(all.v, all.n);
        printf(" sent=%ld ok=%ld fail=%ld throughput=%.1f error_pct=%.3f p50_ms=%.1f p99_ms=%.1f max_ms=%.1f"
               " exhausted=%ld ehall_cpu_pct=%.0f\n",
               sent, ok, fail, ok / span, sent ? 100.0 * (double)fail / (double)sent : 0.0,
               pct(all.v, all.n, 50), pct(all.v, all.n, 99), all.n ? all.v[all.n - 1] : 0.0, exh,
               100.0 * (c1 - c0) / wall);
        fflush(stdout);
        free(all.v);
        if (fail) rc = 3;
    }
    for (int t = 0; t < conns; t++) w[t].quit = 1;
    pthread_barrier_wait(&go);
    for (int t = 0; t < conns; t++) {
        pthread_join(w[t].th, NULL);
        for (int o = 0; o < OP_KINDS; o++) free(w[t].lat[o].v);
    }
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    pthread_barrier_destroy(&done);
    free(w);
    free(pp);
    free(tp);
    free(sess);
    return rc;
}

int main(int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) die("curl_global_init failed");
    const char *cmd = argc > 1 ? argv[1] : "";
    int rc;
    if (!strcmp(cmd, "taxpayers") && argc == 6)
        rc = cmd_taxpayers(argv[2], argv[3], argv[4], argv[5]);
    else if (!strcmp(cmd, "zero") && argc == 10)
        rc = cmd_zero(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]),
                      atoi(argv[7]) > 0 ? atoi(argv[7]) : 1, atof(argv[8]), atof(argv[9]));
    else if (!strcmp(cmd, "peak") && argc == 12)
        rc = cmd_peak(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]),
                      atoi(argv[7]) > 0 ? atoi(argv[7]) : 1, argv[8], atof(argv[9]), atof(argv[10]),
                      atol(argv[11]));
    else {
        fprintf(stderr,
                "usage: tax_load taxpayers URL STAFF_SESSION PERSONS OUTFILE\n"
                "       tax_load zero URL PERSONS TAXPAYERS FROM TO CONNS WARMUP SECONDS\n"
                "       tax_load peak URL PERSONS TAXPAYERS FROM TO CONNS RATES WARMUP SECONDS EHALL_PID\n");
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
