/*
 * defer.c — long work off the I/O threads.
 *
 * libmicrohttpd keeps a connection on the thread that accepted it, so a handler that
 * computes for tens of milliseconds (a password hash) would hold up every other
 * connection of that thread, and several log-ins arriving on one thread would take
 * turns on one core while the others idle.  http_defer() suspends the connection and
 * hands the work to a small pool, one worker per core; when the work is done the
 * connection is resumed and the handler's continuation replies on the I/O thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "http/internal.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    http_req *head, *tail;
    int stop, nthreads;
    pthread_t *threads;
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, NULL};

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (!P.head && !P.stop) pthread_cond_wait(&P.cv, &P.mu);
        http_req *r = P.head;
        if (!r) break; /* stopping, and nothing left to do */
        P.head = r->defer_next;
        if (!P.head) P.tail = NULL;
        pthread_mutex_unlock(&P.mu);
        log_set_request_id(r->id);
        r->defer_work(r->defer_arg);
        log_set_request_id(NULL);
        atomic_store(&r->defer_state, DEFER_DONE);
        MHD_resume_connection(r->conn);
        pthread_mutex_lock(&P.mu);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

int defer_start(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    P.nthreads = n > 0 ? (int)n : 2;
    P.threads = calloc((size_t)P.nthreads, sizeof *P.threads);
    if (!P.threads) return -1;
    P.stop = 0;
    /* the workers never take SIGTERM/SIGINT: the caller has them blocked */
    for (int i = 0; i < P.nthreads; i++)
        if (pthread_create(&P.threads[i], NULL, worker, NULL) != 0) {
            P.nthreads = i;
            return -1;
        }
    return 0;
}

void defer_submit(http_req *r)
{
    pthread_mutex_lock(&P.mu);
    r->defer_next = NULL;
    if (P.tail)
        P.tail->defer_next = r;
    else
        P.head = r;
    P.tail = r;
    pthread_cond_signal(&P.cv);
    pthread_mutex_unlock(&P.mu);
}

void defer_stop(void)
{
    pthread_mutex_lock(&P.mu);
    P.stop = 1;
    pthread_cond_broadcast(&P.cv);
    pthread_mutex_unlock(&P.mu);
    for (int i = 0; i < P.nthreads; i++) pthread_join(P.threads[i], NULL);
    free(P.threads);
    P.threads = NULL;
    P.nthreads = 0;
}
