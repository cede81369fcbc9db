/*
 * crash_writer — a helper for test_crash: writes rows through the storage layer from
 * several threads as fast as it can and prints each row's id on stdout only after its
 * transaction has committed ("acknowledged").  The test kills it with SIGKILL.
 *
 * usage: crash_writer DB_URL
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

static store *g_db;
static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;

struct w {
    long long key;
};

static int write_row(store_conn *c, void *arg)
{
    struct w *w = arg;
    store_stmt *st = store_prepare(c, "INSERT INTO crash_t(k, payload) VALUES ($1, $2)");
    if (!st) return STORE_ERROR;
    char payload[600];
    memset(payload, 'p', sizeof payload - 1);
    payload[sizeof payload - 1] = 0;
    store_bind_int64(st, 1, w->key);
    store_bind_text(st, 2, payload);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static void *run(void *arg)
{
    long long base = (long long)(intptr_t)arg * 100000000LL;
    for (long long i = 1;; i++) {
        struct w w = {base + i};
        if (store_tx(g_db, 1, write_row, &w) == STORE_OK) {
            pthread_mutex_lock(&g_out);
            printf("%lld\n", w.key);
            fflush(stdout);
            pthread_mutex_unlock(&g_out);
        }
    }
    return NULL;
}

static int create(store_conn *c, void *arg)
{
    (void)arg;
    return store_exec(c, "CREATE TABLE IF NOT EXISTS crash_t (k BIGINT PRIMARY KEY, payload TEXT NOT NULL)");
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    struct store_options o = {4, 5000, 10000};
    char err[512];
    if (store_open(argv[1], &o, &g_db, err, sizeof err) != STORE_OK ||
        store_migrate(g_db, err, sizeof err) != STORE_OK || store_tx(g_db, 1, create, NULL) != STORE_OK) {
        fprintf(stderr, "crash_writer: %s\n", err);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    pthread_t th[4];
    for (intptr_t i = 0; i < 4; i++) pthread_create(&th[i], NULL, run, (void *)i);
    pthread_join(th[0], NULL);
    return 0;
}
