/*
 * licence_load.c — the helper behind bench/licence.sh (the public status check).
 *
 * Built by bench/licence.sh with bench/loadlib.c (without its libcurl client) against
 * build-bench/libehallcore.a (for the store and licence_id_format, so the identifiers
 * carry real check characters).  Loopback only.
 *
 *   licence_load seed DB_URL N OUTFILE
 *       inserts N licence rows (10,000 per transaction) with what the status check reads
 *       — licence_no, state, valid_to_day, public_json — and placeholder sealed columns;
 *       one in 50 revoked, one in 50 past valid_to.  Writes the identifiers to OUTFILE.
 *   licence_load status HOST:PORT IDFILE CLIENTS WARMUP SECONDS
 *       CLIENTS threads, each with its own keep-alive HTTP/1.1 connection (plain
 *       sockets, loadlib's raw_run, so the client costs little CPU next to the server),
 *       GET /api/v1/public/licences/<id>/status over and over, ids round robin from a
 *       random start; only requests completing within the last SECONDS count (every
 *       answer's latency, 200 or not; errors: connections that broke, whole run).  Prints
 *       "requests=N rate=R p50_ms=… p90_ms=… p99_ms=… max_ms=… errors=E non200=K".
 *   licence_load sign DATA_DIR ID OUTFILE
 *       signs a licence with identifier ID (a seeded one) as department PSB-YZ-HJ with the
 *       key in DATA_DIR/keys/seal (made there if missing, as ehall would), and writes the
 *       signed document — what a holder would present — to OUTFILE.
 *   licence_load wallet-seed DATA_DIR DB_URL ROWS PERSONS
 *       the wallet's store: ROWS licences in all — ROWS - 10 × PERSONS filler rows made by
 *       SQL in chunks of a million (one holder per 10 rows), then 10 licences for each
 *       of the first PERSONS persons bench/cases_load registered (ID numbers as
 *       loadlib's make_id gives them), stored under the blind index of their ID number
 *       with the installation's keys (DATA_DIR/keys), as issuance stores them.
 *   licence_load wallet HOST:PORT SESSIONS CLIENTS WARMUP SECONDS
 *       the same load as status, each request GET /api/v1/licences (the card wallet) with
 *       the session of the next person of SESSIONS (cases_load's output); an answer
 *       other than 200 with the 10 licences counts as non200.
 *   licence_load verify HOST:PORT DOCFILE CLIENTS WARMUP SECONDS
 *       the same load as status, each request POST /api/v1/public/licences/verify with
 *       DOCFILE as the body (one SM2 verification per request); an answer other than
 *       200 with "result":"valid" counts as non200.
 *   licence_load sm2-speed SECONDS
 *       ehall's own SM2 verification on one thread, beside `openssl speed sm2`: a ~1 KB
 *       message signed once, verified for SECONDS through EVP with the key parsed once,
 *       then for SECONDS with the key prepared for fixed-base tables (what the verify
 *       endpoint uses once a key is in steady use).  Prints "evp_per_s=… table_per_s=…".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/keys.h"
#include "crypto/crypto.h"
#include "core/config.h"
#include "licence/licence.h"
#include "loadlib.h"
#include "store/store.h"

const char load_prog[] = "licence_load";

/* ---------- seed ---------- */

struct seed {
    long long from, to;
    FILE *out;
    int today;
};

static int seed_tx(store_conn *c, void *arg)
{
    struct seed *s = arg;
    for (long long i = s->from; i <= s->to; i++) {
        char id[LICENCE_ID_MAX], pub[400];
        if (licence_id_format("BNCH", "500103BN", 2026, i, id) != 0) return STORE_ERROR;
        const char *state = i % 50 == 0 ? "revoked" : "valid";
        int vt = i % 50 == 1 ? s->today - 10 : s->today + 365;
        snprintf(pub, sizeof pub,
                 "{\"id\":\"%s\",\"type\":\"temporary_id_certificate\",\"type_name\":\"临时身份证明\","
                 "\"holder_name\":\"王*\",\"issuer\":\"PSB-YZ-HJ\",\"issuer_name\":\"渝中区公安分局户政科\","
                 "\"issue_date\":\"2026-01-01\",\"valid_from\":\"2026-01-01\",\"valid_to\":\"2027-01-01\"}",
                 id);
        store_stmt *st = store_prepare(
            c, "INSERT INTO licence(licence_no, type_code, issuer_dept, holder_bidx, holder_enc, data_enc,"
               " public_json, state, valid_to_day, issued_ms, source, revoked_ms, revoke_reason)"
               " VALUES ($1, 'temporary_id_certificate', 'PSB-YZ-HJ', $2, 'bench', 'bench', $3, $4, $5, $6,"
               " 'bench', $7, $8)");
        if (!st) return STORE_ERROR;
        char bidx[32];
        snprintf(bidx, sizeof bidx, "bench-%lld", i % 100000);
        store_bind_text(st, 1, id);
        store_bind_text(st, 2, bidx);
        store_bind_text(st, 3, pub);
        store_bind_text(st, 4, state);
        store_bind_int64(st, 5, vt);
        store_bind_int64(st, 6, 1767225600000LL);
        if (i % 50 == 0) {
            store_bind_int64(st, 7, 1767225600000LL);
            store_bind_text(st, 8, "基准测试");
        } else {
            store_bind_null(st, 7);
            store_bind_null(st, 8);
        }
        int rc = store_step(st);
        store_finalize(st);
        if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
        fprintf(s->out, "%s\n", id);
    }
    return STORE_OK;
}

static int cmd_seed(const char *url, long long n, const char *outfile)
{
    struct store_options o = {2, 5000, 0};
    store *s = NULL;
    char err[256];
    if (store_open(url, &o, &s, err, sizeof err) != STORE_OK) die("%s", err);
    FILE *f = fopen(outfile, "w");
    if (!f) die("cannot write the id file");
    double t0 = now_s();
    for (long long from = 1; from <= n; from += 10000) {
        struct seed k = {from, from + 9999 < n ? from + 9999 : n, f, (int)(time(NULL) / 86400)};
        if (store_tx(s, 1, seed_tx, &k) != STORE_OK) die("seeding failed");
    }
    fclose(f);
    store_close(s);
    printf("seeded=%lld seconds=%.2f\n", n, now_s() - t0);
    return 0;
}

/* ---------- the loads: status, wallet, verify ---------- */

static char **g_ids; /* status: the identifiers */
static size_t g_nids;
static char *g_post; /* verify: the whole request (headers and body), sent as it is */
static size_t g_post_len;
static struct session *g_sessions; /* wallet: one session per person */
static int g_nsessions;
static size_t *g_first; /* each connection's first id or session */

/* a wallet answer with the person's 10 licences */
static int ten_licences(const char *buf)
{
    int n = 0;
    for (const char *p = buf; (p = strstr(p, "\"id\":\"BNCH-")) != NULL; p++) n++;
    return n == 10;
}

static size_t load_request(void *arg, int conn, long iter, char *buf, size_t cap, const char **out)
{
    (void)arg;
    if (g_post) {
        *out = g_post;
        return g_post_len;
    }
    size_t k = g_first[conn] + (size_t)iter;
    int n = g_nsessions
                ? snprintf(buf, cap,
                           "GET /api/v1/licences HTTP/1.1\r\nHost: bench\r\nCookie: ehall_session=%s\r\n\r\n",
                           g_sessions[k % (size_t)g_nsessions].sid)
                : snprintf(buf, cap, "GET /api/v1/public/licences/%s/status HTTP/1.1\r\nHost: bench\r\n\r\n",
                           g_ids[k % g_nids]);
    if (n < 0 || (size_t)n >= cap) die("request too long");
    return (size_t)n;
}

/* 200, and for verify "result":"valid", for the wallet the 10 licences */
static int load_good(void *arg, int conn, int status, const char *body, size_t len)
{
    static const char valid[] = "\"result\":\"valid\"";
    (void)arg, (void)conn;
    if (status != 200) return 0;
    if (g_post) return memmem(body, len, valid, sizeof valid - 1) != NULL;
    if (g_nsessions) return ten_licences(body);
    return 1;
}

static int run_load(const char *hostport, int clients, double warmup, double seconds);

static int cmd_status(const char *hostport, const char *idfile, int clients, double warmup, double seconds)
{
    FILE *f = fopen(idfile, "r");
    if (!f) die("cannot read the id file");
    char line[128];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        if (g_nids == cap) {
            cap = cap ? cap * 2 : 1024;
            g_ids = realloc(g_ids, cap * sizeof *g_ids);
            if (!g_ids) die("out of memory");
        }
        g_ids[g_nids++] = strdup(line);
    }
    fclose(f);
    if (!g_nids) die("no ids");
    return run_load(hostport, clients, warmup, seconds);
}

static int cmd_sign(const char *data_dir, const char *id, const char *outfile)
{
    char dir[1024], *priv = NULL, *pub = NULL, kid[65], err[256];
    snprintf(dir, sizeof dir, "%s/keys/seal", data_dir);
    if (licence_key_load(dir, "PSB-YZ-HJ", 1, &priv, &pub, kid, err, sizeof err) != 0) die("%s", err);
    json_t *lic =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type",
                  "temporary_id_certificate", "type_name", "临时身份证明", "holder_name", "王小明",
                  "holder_number", "11010519791230001X", "issuer", "PSB-YZ-HJ", "issuer_name",
                  "渝中区公安分局户政科", "issue_date", "2026-01-01", "valid_from", "2026-01-01", "valid_to",
                  "2099-12-31", "reason", "身份证办理期间", "address", "重庆市渝中区解放碑街道");
    json_t *doc = lic ? licence_sign(lic, priv, pub) : NULL;
    if (!doc || json_dump_file(doc, outfile, JSON_COMPACT) != 0) die("signing failed");
    json_decref(doc);
    json_decref(lic);
    free(priv);
    free(pub);
    printf("signed=%s key_id=%s\n", id, kid);
    return 0;
}

struct fill {
    int pg;
    long long from, to;
};

static int fill_tx(store_conn *c, void *arg)
{
    const struct fill *f = arg;
    char sql[2048];
    const char *pub =
        "'{\"type\":\"temporary_id_certificate\",\"type_name\":\"临时身份证明\",\"holder_name\":\"王*\","
        "\"issuer\":\"PSB-YZ-HJ\",\"valid_to\":\"2099-12-31\"}'";
    if (f->pg)
        snprintf(sql, sizeof sql,
                 "INSERT INTO licence (licence_no, type_code, issuer_dept, holder_bidx, holder_enc, data_enc,"
                 " public_json, state, valid_to_day, issued_ms, source) SELECT 'FILL-' || i,"
                 " 'temporary_id_certificate', 'PSB-YZ-HJ', 'h-' || (i / 10), 'bench', 'bench', %s, 'valid',"
                 " 47846, 1767225600000, 'bench' FROM generate_series(%lld::bigint, %lld::bigint) AS g(i)",
                 pub, f->from, f->to);
    else
        snprintf(sql, sizeof sql,
                 "INSERT INTO licence (licence_no, type_code, issuer_dept, holder_bidx, holder_enc, data_enc,"
                 " public_json, state, valid_to_day, issued_ms, source) SELECT 'FILL-' || i,"
                 " 'temporary_id_certificate', 'PSB-YZ-HJ', 'h-' || (i / 10), 'bench', 'bench', %s, 'valid',"
                 " 47846, 1767225600000, 'bench' FROM (WITH RECURSIVE s(i) AS (SELECT %lld UNION ALL"
                 " SELECT i + 1 FROM s WHERE i < %lld) SELECT i FROM s) AS g",
                 pub, f->from, f->to);
    return store_exec(c, sql);
}

struct mine {
    int persons;
};

static int mine_tx(store_conn *c, void *arg)
{
    const struct mine *m = arg;
    for (int p = 0; p < m->persons; p++) {
        char idn[19], bidx[KEYS_TAG_MAX];
        make_id(PERSON_BORN, p + 1, idn);
        if (keys_blind_index("licence_holder", idn, bidx) != 0) return STORE_ERROR;
        for (int j = 0; j < 10; j++) {
            char id[LICENCE_ID_MAX], pub[400];
            if (licence_id_format("BNCH", "500103BN", 2026, 90000000LL + p * 10 + j, id) != 0)
                return STORE_ERROR;
            snprintf(pub, sizeof pub,
                     "{\"id\":\"%s\",\"type\":\"temporary_id_certificate\",\"type_name\":\"临时身份证明\","
                     "\"holder_name\":\"王*\",\"issuer\":\"PSB-YZ-HJ\",\"valid_to\":\"2099-12-31\"}",
                     id);
            store_stmt *st = store_prepare(
                c,
                "INSERT INTO licence(licence_no, type_code, issuer_dept, holder_bidx, holder_enc, data_enc,"
                " public_json, state, valid_to_day, issued_ms, source)"
                " VALUES ($1, 'temporary_id_certificate', 'PSB-YZ-HJ', $2, 'bench', 'bench', $3, 'valid',"
                " 47846, 1767225600000, 'bench')");
            if (!st) return STORE_ERROR;
            store_bind_text(st, 1, id);
            store_bind_text(st, 2, bidx);
            store_bind_text(st, 3, pub);
            int rc = store_step(st);
            store_finalize(st);
            if (rc != STORE_DONE) return rc == STORE_OK ? STORE_ERROR : rc;
        }
    }
    return STORE_OK;
}

static int cmd_wallet_seed(const char *data_dir, const char *url, long long rows, int persons)
{
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data_dir);
    char err[256];
    if (keys_init(&cfg, err, sizeof err) != 0) die("%s", err);
    struct store_options o = {2, 600000, 0};
    store *s = NULL;
    if (store_open(url, &o, &s, err, sizeof err) != STORE_OK) die("%s", err);
    double t0 = now_s();
    long long filler = rows - 10LL * persons;
    for (long long from = 1; from <= filler; from += 1000000) {
        struct fill f = {strncmp(url, "sqlite:", 7) != 0, from,
                         from + 999999 < filler ? from + 999999 : filler};
        if (store_tx(s, 1, fill_tx, &f) != STORE_OK) die("filling failed");
        fprintf(stderr, "licence_load: %lld of %lld rows (%.0f s)\n", f.to, rows, now_s() - t0);
    }
    struct mine m = {persons};
    if (store_tx(s, 1, mine_tx, &m) != STORE_OK) die("the persons' licences failed");
    store_close(s);
    printf("seeded=%lld persons=%d seconds=%.1f\n", rows, persons, now_s() - t0);
    return 0;
}

static int cmd_wallet(const char *hostport, const char *sessfile, int clients, double warmup, double seconds)
{
    g_sessions = read_sessions(sessfile, &g_nsessions);
    return run_load(hostport, clients, warmup, seconds);
}

static int cmd_verify(const char *hostport, const char *docfile, int clients, double warmup, double seconds)
{
    json_error_t je;
    json_t *doc = json_load_file(docfile, 0, &je);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!body) die("cannot read the document");
    /* the anonymous CSRF pair: any 64 hex digits, the same in the cookie and the header */
    static const char tok[] = "b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5";
    size_t blen = strlen(body), cap = blen + 512;
    g_post = malloc(cap);
    if (!g_post) die("out of memory");
    int n =
        snprintf(g_post, cap,
                 "POST /api/v1/public/licences/verify HTTP/1.1\r\nHost: bench\r\nCookie: ehall_csrf=%s\r\n"
                 "X-CSRF-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 tok, tok, blen, body);
    if (n < 0 || (size_t)n >= cap) die("request too long");
    g_post_len = (size_t)n;
    free(body);
    json_decref(doc);
    return run_load(hostport, clients, warmup, seconds);
}

static int run_load(const char *hostport, int clients, double warmup, double seconds)
{
    char host[64];
    int port;
    parse_host_port(hostport, host, sizeof host, &port);
    size_t n = g_nids ? g_nids : g_nsessions ? (size_t)g_nsessions : 1;
    g_first = calloc(clients > 0 ? (size_t)clients : 1, sizeof *g_first);
    if (!g_first) die("out of memory");
    for (int i = 0; i < clients; i++) { /* round robin from a random start */
        unsigned seed = (unsigned)(i * 7919 + 17);
        g_first[i] = (size_t)rand_r(&seed) % n;
    }
    struct raw_load l = {.host = host,
                         .port = port,
                         .conns = clients,
                         .warmup = warmup,
                         .seconds = seconds,
                         .request = load_request,
                         .good = load_good,
                         .keep_all_latencies = 1};
    struct raw_result r;
    raw_run(&l, &r);
    size_t total = r.nlat; /* every answer in the window: good and not */
    const double *all = r.lat;
#define P(p) (total ? all[(size_t)((p) / 100.0 * (double)(total - 1))] : 0.0)
    printf("requests=%zu rate=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%lld non200=%lld\n",
           total, (double)total / seconds, P(50), P(90), P(99), P(100), (long long)r.errors,
           (long long)r.bad);
#undef P
    raw_result_free(&r);
    free(g_first);
    return 0;
}

/* Verifications per second of msg's signature under k for about secs seconds. */
static double verify_rate(const crypto_sm2_pub *k, const char *msg, const unsigned char *sig, size_t sl,
                          double secs)
{
    long n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 50; i++, n++)
            if (crypto_sm2_verify_with(k, NULL, msg, strlen(msg), sig, sl) != 0) die("a verification failed");
    } while ((t = now_s() - t0) < secs);
    return (double)n / t;
}

static int cmd_sm2_speed(double secs)
{
    char *priv = NULL, *pub = NULL, msg[1100];
    for (size_t i = 0; i < sizeof msg - 1; i++) msg[i] = (char)('a' + i % 26);
    msg[sizeof msg - 1] = 0;
    unsigned char *sig = NULL;
    size_t sl = 0;
    if (crypto_sm2_keygen(&priv, &pub) != 0 || crypto_sm2_sign(priv, NULL, msg, strlen(msg), &sig, &sl) != 0)
        die("SM2 key or signature failed");
    crypto_sm2_pub *plain = crypto_sm2_pub_load(pub), *tabled = crypto_sm2_pub_load(pub);
    if (!plain || !tabled || crypto_sm2_pub_prepare(tabled) != 0) die("SM2 key preparation failed");
    double evp = verify_rate(plain, msg, sig, sl, secs), tab = verify_rate(tabled, msg, sig, sl, secs);
    printf("evp_per_s=%.1f table_per_s=%.1f\n", evp, tab);
    crypto_sm2_pub_free(plain);
    crypto_sm2_pub_free(tabled);
    free(sig);
    free(priv);
    free(pub);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "seed")) return cmd_seed(argv[2], atoll(argv[3]), argv[4]);
    if (argc == 7 && !strcmp(argv[1], "status"))
        return cmd_status(argv[2], argv[3], atoi(argv[4]), atof(argv[5]), atof(argv[6]));
    if (argc == 5 && !strcmp(argv[1], "sign")) return cmd_sign(argv[2], argv[3], argv[4]);
    if (argc == 6 && !strcmp(argv[1], "wallet-seed"))
        return cmd_wallet_seed(argv[2], argv[3], atoll(argv[4]), atoi(argv[5]));
    if (argc == 7 && !strcmp(argv[1], "wallet"))
        return cmd_wallet(argv[2], argv[3], atoi(argv[4]), atof(argv[5]), atof(argv[6]));
    if (argc == 7 && !strcmp(argv[1], "verify"))
        return cmd_verify(argv[2], argv[3], atoi(argv[4]), atof(argv[5]), atof(argv[6]));
    if (argc == 3 && !strcmp(argv[1], "sm2-speed")) return cmd_sm2_speed(atof(argv[2]));
    fprintf(stderr, "usage: licence_load seed DB_URL N OUTFILE\n"
                    "       licence_load status HOST:PORT IDFILE CLIENTS WARMUP SECONDS\n"
                    "       licence_load sign DATA_DIR ID OUTFILE\n"
                    "       licence_load wallet-seed DATA_DIR DB_URL ROWS PERSONS\n"
                    "       licence_load wallet HOST:PORT SESSIONS CLIENTS WARMUP SECONDS\n"
                    "       licence_load verify HOST:PORT DOCFILE CLIENTS WARMUP SECONDS\n"
                    "       licence_load sm2-speed SECONDS\n");
    return 2;
}
