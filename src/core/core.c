/*
 * core.c — logging, time, randomness, hex and the arena.  See core.h.
 */
#include "core/core.h"

#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

static enum log_level g_level = LOG_INFO;
static _Thread_local char t_request_id[72];

void log_set_level(enum log_level lvl) { g_level = lvl; }

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < EHALL_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

void log_set_request_id(const char *id)
{
    if (!id) {
        t_request_id[0] = 0;
        return;
    }
    snprintf(t_request_id, sizeof t_request_id, "%s", id);
}

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/*
 * Buffered mode (the server): lines gather in one buffer under a lock and go out in
 * one write(2) when it fills, every 100 ms from a flusher thread, at once for
 * warnings and errors, and at shutdown.  Lines are whole and never interleave.  A
 * process killed with SIGKILL loses at most the last 100 ms of access-log lines —
 * never data: everything acknowledged is in the database.  CLI commands write
 * each line at once.
 */
#define LOGBUF_SIZE (64 * 1024)
static struct {
    pthread_mutex_t mu;
    char buf[LOGBUF_SIZE];
    size_t len;
    int on;
    pthread_t flusher;
    atomic_int stop;
} g_logbuf = {.mu = PTHREAD_MUTEX_INITIALIZER};

void log_flush(void)
{
    pthread_mutex_lock(&g_logbuf.mu);
    write_all(g_logbuf.buf, g_logbuf.len);
    g_logbuf.len = 0;
    pthread_mutex_unlock(&g_logbuf.mu);
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_logbuf.stop)) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        log_flush();
    }
    return NULL;
}

void log_buffered(int on)
{
    if (on && !g_logbuf.on) {
        atomic_store(&g_logbuf.stop, 0);
        if (pthread_create(&g_logbuf.flusher, NULL, flusher, NULL) == 0) g_logbuf.on = 1;
    } else if (!on && g_logbuf.on) {
        atomic_store(&g_logbuf.stop, 1);
        pthread_join(g_logbuf.flusher, NULL);
        g_logbuf.on = 0;
        log_flush();
    }
}

void log_write_line(const char *line, size_t len)
{
    if (!g_logbuf.on) {
        write_all(line, len);
        return;
    }
    pthread_mutex_lock(&g_logbuf.mu);
    if (g_logbuf.len + len > LOGBUF_SIZE) {
        write_all(g_logbuf.buf, g_logbuf.len);
        g_logbuf.len = 0;
    }
    if (len > LOGBUF_SIZE) {
        write_all(line, len);
    } else {
        memcpy(g_logbuf.buf + g_logbuf.len, line, len);
        g_logbuf.len += len;
    }
    pthread_mutex_unlock(&g_logbuf.mu);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < g_level) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ts[48];
    time_rfc3339(now_wall(), ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s, s:s}", "time", ts, "level", names[lvl], "msg", msg);
    if (!o) return;
    if (t_request_id[0]) json_object_set_new(o, "request_id", json_string(t_request_id));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return;
    size_t n = strlen(s);
    char *line = malloc(n + 2);
    if (line) {
        memcpy(line, s, n);
        line[n] = '\n';
        log_write_line(line, n + 1);
        if (lvl >= LOG_WARN) log_flush();
        free(line);
    }
    free(s);
}

double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void time_rfc3339(double t, char *buf, size_t len)
{
    /* localtime_r takes glibc's time-zone lock; format each second once per thread */
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached_base[32], cached_off[8];
    time_t secs = (time_t)t;
    int ms = (int)((t - (double)secs) * 1000.0);
    if (ms < 0) ms = 0;
    if (ms > 999) ms = 999;
    if (secs != cached_sec) {
        struct tm tm;
        localtime_r(&secs, &tm);
        long off = tm.tm_gmtoff / 60;
        char sign = off < 0 ? '-' : '+';
        if (off < 0) off = -off;
        strftime(cached_base, sizeof cached_base, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(cached_off, sizeof cached_off, "%c%02ld:%02ld", sign, off / 60, off % 60);
        cached_sec = secs;
    }
    snprintf(buf, len, "%s.%03d%s", cached_base, ms, cached_off);
}

int random_bytes(void *buf, size_t len) { return RAND_bytes(buf, (int)len) == 1 ? 0 : -1; }

void hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = 0;
}

int hex_decode(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* The arena is a list of blocks; allocations are bump-pointer, 16-byte aligned. */
struct block {
    struct block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};
struct arena {
    struct block *head;
    size_t next_size;
};

static struct block *block_new(size_t size)
{
    struct block *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena *arena_new(size_t first_block)
{
    arena *a = malloc(sizeof *a);
    if (!a) return NULL;
    a->head = block_new(first_block ? first_block : 4096);
    if (!a->head) {
        free(a);
        return NULL;
    }
    a->next_size = a->head->size * 2;
    return a;
}

void *arena_alloc(arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct block *b = a->head;
    if (b->size - b->used < size) {
        size_t bs = a->next_size > size ? a->next_size : size;
        struct block *nb = block_new(bs);
        if (!nb) return NULL;
        nb->next = a->head;
        a->head = nb;
        if (a->next_size < (1u << 20)) a->next_size *= 2;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

void arena_free(arena *a)
{
    if (!a) return;
    struct block *b = a->head;
    while (b) {
        struct block *n = b->next;
        free(b);
        b = n;
    }
    free(a);
}

int parse_int64(const char *s, long long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int str_has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }
