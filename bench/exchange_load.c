/*
 * exchange_load.c — the helper behind bench/exchange.sh (the exchange's drain rate).
 *
 * Built by bench/exchange.sh with bench/loadlib.c (without its libcurl client) against
 * build-bench/libehallcore.a, so it queues through the same exchange_enqueue the server
 * uses.
 *
 *   exchange_load enqueue DB_URL N CHUNK PREFIX
 *       queues N test.echo messages for the simulated back-end ("sim"), CHUNK per
 *       transaction (keys PREFIX-1 … PREFIX-N, payload {"item":"BENCH-0001","form":{…}});
 *       prints "enqueued=N seconds=S rate=R".
 *   exchange_load watch DB_URL N TIMEOUT_S
 *       polls every 50 ms until no message is queued or leased (or TIMEOUT_S passes),
 *       timing from its own start; then checks that N messages are done, N effects and
 *       N back-end records exist, and prints "drained=D seconds=S rate=R busy_rate=B
 *       done=… effects=… ledger=… dead=…" (busy_rate: N over first to last completion).
 *       Exit 1 when anything is short.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "exchange/exchange.h"
#include "loadlib.h"
#include "store/store.h"

const char load_prog[] = "exchange_load";

static store *open_store(const char *url)
{
    struct store_options o = {2, 5000, 0};
    store *s = NULL;
    char err[256];
    if (store_open(url, &o, &s, err, sizeof err) != STORE_OK) die("%s", err);
    return s;
}

struct chunk {
    long long from, to;
    const char *prefix;
};

static int chunk_tx(store_conn *c, void *arg)
{
    struct chunk *k = arg;
    for (long long i = k->from; i <= k->to; i++) {
        char key[128], payload[160];
        snprintf(key, sizeof key, "%s-%lld", k->prefix, i);
        snprintf(payload, sizeof payload,
                 "{\"item\":\"BENCH-0001\",\"form\":{\"n\":%lld,\"name\":\"bench\"}}", i);
        int rc = exchange_enqueue(c, key, "test.echo", "sim", 0, payload, NULL);
        if (rc != STORE_OK) return rc;
    }
    return STORE_OK;
}

static long long q(store *s, const char *sql)
{
    store_conn *c = store_acquire(s);
    long long v = -1;
    if (!c || store_query_int64(c, sql, &v) != STORE_OK) v = -1;
    if (c) store_release(c);
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "enqueue")) {
        store *s = open_store(argv[2]);
        long long n = atoll(argv[3]), chunk = atoll(argv[4]);
        double t0 = now_s();
        for (long long from = 1; from <= n; from += chunk) {
            struct chunk k = {from, from + chunk - 1 < n ? from + chunk - 1 : n, argv[5]};
            if (store_tx(s, 1, chunk_tx, &k) != STORE_OK) die("enqueue failed at %lld", from);
        }
        double t = now_s() - t0;
        printf("enqueued=%lld seconds=%.3f rate=%.0f\n", n, t, (double)n / t);
        store_close(s);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "watch")) {
        store *s = open_store(argv[2]);
        long long n = atoll(argv[3]);
        double t0 = now_s(), limit = atof(argv[4]), t;
        long long pending;
        /* a cheap probe (the first row of the index), so watching costs the server nothing */
        while ((pending = q(
                    s, "SELECT COUNT(*) FROM (SELECT 1 FROM exchange_msg WHERE state IN ('queued', 'leased')"
                       " LIMIT 1) AS x")) != 0 &&
               now_s() - t0 < limit) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        t = now_s() - t0;
        long long done = q(s, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'done'");
        long long dead = q(s, "SELECT COUNT(*) FROM exchange_msg WHERE state = 'dead'");
        long long effects = q(s, "SELECT COUNT(*) FROM exchange_test_effect");
        long long ledger = q(s, "SELECT COUNT(*) FROM sim_ledger");
        long long span = q(s, "SELECT MAX(done_ms) - MIN(done_ms) FROM exchange_msg WHERE state = 'done'");
        printf("drained=%lld seconds=%.3f rate=%.0f busy_rate=%.0f done=%lld effects=%lld ledger=%lld "
               "dead=%lld\n",
               pending == 0 ? done : -1, t, (double)done / t,
               span > 0 ? (double)done * 1000.0 / (double)span : 0.0, done, effects, ledger, dead);
        store_close(s);
        return pending == 0 && done == n && effects == n && ledger == n ? 0 : 1;
    }
    fprintf(stderr, "usage: exchange_load enqueue DB_URL N CHUNK PREFIX | watch DB_URL N TIMEOUT_S\n");
    return 2;
}
