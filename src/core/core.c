/*
 * core.c — logging, time, randomness, hex and the arena.  See core.h.
 */
#include "core/core.h"

#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
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

void log_write_line(const char *line, size_t len)
{
    /* One write per line: stderr is unbuffered and write(2) of a small buffer on
     * a pipe or file is atomic with respect to other writers. */
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        line += n;
        len -= (size_t)n;
    }
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
    time_t secs = (time_t)t;
    int ms = (int)((t - (double)secs) * 1000.0);
    if (ms < 0) ms = 0;
    if (ms > 999) ms = 999;
    struct tm tm;
    localtime_r(&secs, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03d%c%02ld:%02ld", base, ms, sign, off / 60, off % 60);
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
