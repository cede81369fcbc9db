/*
 * Durability: SIGKILL a process in the middle of writes through the storage layer,
 * then check that every write it acknowledged (committed) is in the database, and
 * that `ehall serve` starts cleanly on that data.  Repeated a few times, killing at
 * different moments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"

static int key_exists(store_conn *c, long long k)
{
    store_stmt *st = store_prepare(c, "SELECT 1 FROM crash_t WHERE k = $1");
    assert_non_null(st);
    store_bind_int64(st, 1, k);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_ROW;
}

static void acknowledged_writes_survive_sigkill(void **state)
{
    (void)state;
    char dir[256], db[512];
    h_fresh(dir, db);
    const char *writer = getenv("EHALL_CRASH_WRITER");
    assert_non_null(writer);
    long long total_acked = 0;
    for (int round = 0; round < 3; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            execl(writer, "crash_writer", db, (char *)NULL);
            _exit(127);
        }
        close(pfd[1]);
        FILE *in = fdopen(pfd[0], "r");
        char line[64];
        assert_non_null(fgets(line, sizeof line, in));
        assert_string_equal(line, "ready\n");
        /* Collect acknowledgements as they come; once 20 have arrived (however slow the
         * machine), let it write a little longer, a different time each round, then kill
         * it dead in the middle of its writes. */
        long long *acked = NULL;
        size_t n = 0, cap = 0;
        int killed = 0;
        double kill_at = 0;
        while (fgets(line, sizeof line, in)) {
            if (!strchr(line, '\n')) break; /* a line cut by the kill was never acknowledged */
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                acked = realloc(acked, cap * sizeof *acked);
                assert_non_null(acked);
            }
            acked[n++] = atoll(line);
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double t = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
            if (n == 20) kill_at = t + 0.1 + round * 0.2;
            if (!killed && n >= 20 && t >= kill_at) {
                kill(pid, SIGKILL); /* lines already in the pipe are still read below */
                killed = 1;
            }
        }
        if (!killed) kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFSIGNALED(st));
        fclose(in);
        assert_true(n >= 20);
        struct store_options o = {1, 5000, 10000};
        store *s = NULL;
        char err[512];
        assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
        store_conn *c = store_acquire(s);
        for (size_t i = 0; i < n; i++)
            if (!key_exists(c, acked[i]))
                fail_msg("round %d: acknowledged write %lld was lost", round, acked[i]);
        store_release(c);
        store_close(s);
        total_acked += (long long)n;
        free(acked);
    }
    print_message("%lld acknowledged writes checked after 3 SIGKILLs\n", total_acked);

    /* ehall serve comes up cleanly on the crashed data */
    struct srv srv;
    assert_int_equal(h_start(&srv, dir, db, NULL), 0);
    struct resp r;
    h_http(&srv, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    assert_int_equal(h_stop(&srv), 0);

    /* and the server itself, killed mid-write, keeps what it acknowledged */
    assert_int_equal(h_start(&srv, dir, db, NULL), 0);
    const char *json[] = {"Content-Type: application/json", NULL};
    int acked = 0;
    for (int i = 0; i < 50; i++) {
        h_http(&srv, "POST", "/api/v1/analytics/pageviews", json, "{\"path\":\"/k\"}", 13, &r);
        if (r.status == 201) acked++;
        h_resp_free(&r);
    }
    h_kill9(&srv);
    assert_int_equal(h_start(&srv, dir, db, NULL), 0);
    h_http(&srv, "GET", "/api/v1/analytics/summary?from=2000-01-01&to=2999-12-31", NULL, NULL, 0, &r);
    char want[32];
    snprintf(want, sizeof want, "\"views\":%d", acked);
    if (!strstr(r.body, want)) fail_msg("after SIGKILL wanted %s in %s", want, r.body);
    h_resp_free(&r);
    assert_int_equal(h_stop(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(acknowledged_writes_survive_sigkill)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
