/*
 * accept.c — ehall's own listening socket and the thread that accepts on it.
 *
 * libmicrohttpd keeps a connection on the pool thread that accepted it, and a handler
 * runs on that thread until it returns: a handler that waits (for the group commit, a
 * PostgreSQL round trip) holds up every other connection of its thread.  With MHD's
 * own listening socket the pool threads race to accept, and the winners are uneven:
 * under 32 keep-alive connections on 32 threads, a third of the threads were seen
 * serving none and several serving three, whose requests then queued behind each
 * other (the submissions' p99 was five times their median).  So ehall listens itself,
 * and hands each accepted socket to MHD_add_connection, which places it on the pool
 * thread numbered by the socket's descriptor: consecutive connections land on
 * consecutive threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "http/internal.h"

static struct {
    int fd, wake[2];
    struct MHD_Daemon *d;
    pthread_t th;
    int running;
} L = {-1, {-1, -1}, NULL, 0, 0};

int accept_open(const struct sockaddr_storage *ss, socklen_t len, int backlog, unsigned *port)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ss->ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    L.fd = fd;
    return 0;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = L.fd, .events = POLLIN}, {.fd = L.wake[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            log_error("accept: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents) break;
        for (;;) {
            struct sockaddr_storage peer;
            socklen_t plen = sizeof peer;
            int c = accept4(L.fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                /* MHD closes the socket itself when it cannot take it (limits, memory) */
                MHD_add_connection(L.d, c, (const struct sockaddr *)&peer, plen);
                continue;
            }
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* out of descriptors or memory: the queue stays readable, so wait a
                 * little rather than spin, and say so at most every 10 s */
                static double said;
                if (now_monotonic() - said >= 10.0) {
                    log_warn("accept: %s", strerror(errno));
                    said = now_monotonic();
                }
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
            break;
        }
    }
    return NULL;
}

int accept_start(struct MHD_Daemon *d)
{
    L.d = d;
    if (pipe2(L.wake, O_CLOEXEC) != 0) return -1;
    if (pthread_create(&L.th, NULL, accept_loop, NULL) != 0) {
        close(L.wake[0]);
        close(L.wake[1]);
        return -1;
    }
    L.running = 1;
    return 0;
}

void accept_stop(void)
{
    if (L.running) {
        ssize_t w = write(L.wake[1], "x", 1);
        (void)w;
        pthread_join(L.th, NULL);
        close(L.wake[0]);
        close(L.wake[1]);
        L.running = 0;
    }
    if (L.fd >= 0) close(L.fd);
    L.fd = -1;
}
