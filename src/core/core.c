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

/* The local UTC offset in seconds at secs.  glibc's localtime_r parses the zone's rule
 * string (with sscanf) on every call for times past the zone file's last transition —
 * every present-day time where there is no DST, China's included — and a list formats
 * dozens of timestamps.  A thread keeps, per day, the offset of a day whose start and end
 * have the same one; a day with a change (two a year where DST is kept) asks localtime_r
 * for each time. */
static long utc_offset(time_t secs)
{
    enum { SLOTS = 256 };
    static _Thread_local struct {
        long long day;
        long off;
        int valid;
    } days[SLOTS];
    long long day = secs >= 0 ? (long long)secs / 86400 : ((long long)secs - 86399) / 86400;
    unsigned slot = (unsigned)((unsigned long long)day % SLOTS);
    if (days[slot].valid && days[slot].day == day) return days[slot].off;
    time_t first = (time_t)(day * 86400), last = first + 86399;
    struct tm a, b;
    if (localtime_r(&first, &a) && localtime_r(&last, &b) && a.tm_gmtoff == b.tm_gmtoff) {
        days[slot].day = day;
        days[slot].off = a.tm_gmtoff;
        days[slot].valid = 1;
        return a.tm_gmtoff;
    }
    struct tm t;
    return localtime_r(&secs, &t) ? t.tm_gmtoff : 0;
}

static char *put_digits(char *p, long v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
    return p + width;
}

void time_rfc3339(double t, char *buf, size_t len)
{
    if (!buf || len == 0) return;
    time_t secs = (time_t)t;
    if ((double)secs > t) secs--; /* down, also before 1970 */
    int ms = (int)((t - (double)secs) * 1000.0);
    if (ms < 0) ms = 0;
    if (ms > 999) ms = 999;
    long off = utc_offset(secs);
    time_t local = secs + off;
    struct tm tm;
    char out[48];
    if (!gmtime_r(&local, &tm)) {
        snprintf(buf, len, "%s", "1970-01-01T00:00:00.000+00:00");
        return;
    }
    long year = tm.tm_year + 1900L, om = off / 60;
    char sign = om < 0 ? '-' : '+';
    if (om < 0) om = -om;
    if (year < 0 || year > 9999) {
        snprintf(out, sizeof out, "%04ld-%02d-%02dT%02d:%02d:%02d.%03d%c%02ld:%02ld", year, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms, sign, om / 60, om % 60);
    } else {
        /* YYYY-MM-DDTHH:MM:SS.mmm+HH:MM, written by hand: snprintf was most of the cost */
        char *p = put_digits(out, year, 4);
        *p++ = '-';
        p = put_digits(p, tm.tm_mon + 1, 2);
        *p++ = '-';
        p = put_digits(p, tm.tm_mday, 2);
        *p++ = 'T';
        p = put_digits(p, tm.tm_hour, 2);
        *p++ = ':';
        p = put_digits(p, tm.tm_min, 2);
        *p++ = ':';
        p = put_digits(p, tm.tm_sec, 2);
        *p++ = '.';
        p = put_digits(p, ms, 3);
        *p++ = sign;
        p = put_digits(p, om / 60 % 100, 2);
        *p++ = ':';
        p = put_digits(p, om % 60, 2);
        *p = '\0';
    }
    size_t n = strlen(out);
    if (n >= len) n = len - 1;
    memcpy(buf, out, n);
    buf[n] = '\0';
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

/* Each thread keeps the first block of the last arena it freed (up to 64 KiB) for the next
 * one: a request's 8 KiB block was a large-bin allocation, and glibc consolidated its
 * fast bins for it every time (3 % of a list request's CPU).  The key's destructor frees
 * the block when the thread ends. */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static void spare_init(void) { pthread_key_create(&spare_key, free); }

arena *arena_new(size_t first_block)
{
    if (!first_block) first_block = 4096;
    arena *a = malloc(sizeof *a);
    if (!a) return NULL;
    pthread_once(&spare_once, spare_init);
    struct block *b = pthread_getspecific(spare_key);
    if (b && b->size >= first_block) {
        pthread_setspecific(spare_key, NULL);
        b->next = NULL;
        b->used = 0;
    } else {
        b = block_new(first_block);
    }
    if (!b) {
        free(a);
        return NULL;
    }
    a->head = b;
    a->next_size = b->size * 2;
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
        if (!n && b->size <= 65536 && !pthread_getspecific(spare_key) &&
            pthread_setspecific(spare_key, b) == 0)
            break; /* the first block, kept for this thread's next arena */
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

void str_copy(char *dst, size_t n, const char *src)
{
    if (!dst || n == 0) return;
    size_t len = src ? strnlen(src, n - 1) : 0;
    if (len) memcpy(dst, src, len);
    dst[len] = '\0';
}

int str_has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }
