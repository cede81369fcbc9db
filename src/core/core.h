/*
 * core — the small things every module uses: logging (one JSON object per line),
 * clocks and RFC 3339 time, random bytes, hex, and a per-request arena.
 *
 * Logging goes to stderr in whole lines, so lines from several threads never
 * interleave; the server batches them (log_buffered).  The request id, when there is one, rides along in a
 * thread-local so that any log line written while serving a request carries it.
 */
#ifndef EHALL_CORE_H
#define EHALL_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define EHALL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ---- */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level lvl);
int log_level_parse(const char *s, enum log_level *out);
/* The request id attached to log lines written by this thread (NULL clears). */
void log_set_request_id(const char *id);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
/* Write one pre-built JSON line (the access log uses this). */
void log_write_line(const char *line, size_t len);
/* Buffer lines and write them in batches (on: the server) or one by one (off, the
 * default); turning it off flushes. */
void log_buffered(int on);
void log_flush(void);

/* ---- time ---- */
double now_monotonic(void); /* seconds, monotonic */
double now_wall(void);      /* seconds since the epoch */
/* RFC 3339 with the local zone offset, e.g. 2026-11-23T19:50:35.123+08:00 */
void time_rfc3339(double t, char *buf, size_t len);

/* ---- random and hex ---- */
int random_bytes(void *buf, size_t len); /* 0 on success; CSPRNG */
void hex_encode(const unsigned char *in, size_t len, char *out /* 2*len+1 */);
/* Decode exactly n bytes from 2n lower-case hex digits; -1 on any other character. */
int hex_decode(const char *s, size_t n, unsigned char *out);

/* ---- per-request arena: everything allocated is freed at once ---- */
typedef struct arena arena;
arena *arena_new(size_t first_block);
void *arena_alloc(arena *a, size_t size); /* NULL when out of memory */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
void arena_free(arena *a);

/* ---- misc ---- */
/* strtoll with full-string check; returns 0 on success */
int parse_int64(const char *s, long long *out);
int str_has_prefix(const char *s, const char *prefix);
/* Copy src (NULL: "") into dst of size n (> 0), cut to fit and always terminated; what
 * snprintf(dst, n, "%s", src) does, without formatting. */
void str_copy(char *dst, size_t n, const char *src);

#endif
