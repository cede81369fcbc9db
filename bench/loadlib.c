/*
 * loadlib.c — what the bench/ load generators share; see loadlib.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strerror_r (GNU), as the scripts' -D_GNU_SOURCE */
#endif
#include "loadlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", load_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void sort_doubles(double *v, size_t n)
{
    if (n > 1) qsort(v, n, sizeof *v, cmp_double);
}

double pct(const double *v, size_t n, double p)
{
    if (n == 0) return 0;
    size_t i = (size_t)(p / 100.0 * (double)n + 0.5);
    if (i > 0) i--;
    if (i >= n) i = n - 1;
    return v[i];
}

void lat_add(struct lat *l, double ms)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        double *v = realloc(l->v, cap * sizeof *v);
        if (!v) die("out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ms;
}

void lat_append(struct lat *into, const struct lat *from)
{
    if (from->n == 0) return;
    if (into->n + from->n > into->cap) {
        size_t cap = into->n + from->n;
        double *v = realloc(into->v, cap * sizeof *v);
        if (!v) die("out of memory");
        into->v = v;
        into->cap = cap;
    }
    memcpy(into->v + into->n, from->v, from->n * sizeof *into->v);
    into->n += from->n;
}

void statuses_add(struct statuses *s, long st)
{
    for (int i = 0; i < s->n; i++)
        if (s->v[i] == st) return;
    if (s->n < (int)(sizeof s->v / sizeof s->v[0])) s->v[s->n++] = st;
}

void statuses_merge(struct statuses *into, const struct statuses *from)
{
    for (int i = 0; i < from->n; i++) statuses_add(into, from->v[i]);
}

const char *statuses_text(const struct statuses *s, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < s->n && o < cap; i++) {
        int k = snprintf(buf + o, cap - o, "%s%ld", i ? "," : "", s->v[i]);
        if (k < 0) break;
        o += (size_t)k;
    }
    return buf[0] ? buf : "-";
}

/* ---------- the persons cases_load registers ---------- */

void make_id(const char *born, int seq, char out[19])
{
    static const int W[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    snprintf(out, 19, "110105%.8s%03d", born, seq % 1000);
    int sum = 0;
    for (int i = 0; i < 17; i++) sum += (out[i] - '0') * W[i];
    out[17] = "10X98765432"[sum % 11];
    out[18] = 0;
}

struct session *read_sessions(const char *file, int *n)
{
    FILE *f = fopen(file, "r");
    if (!f) die("cannot read %s", file);
    int cap = 64;
    struct session *s = calloc((size_t)cap, sizeof *s);
    *n = 0;
    char line[512];
    while (s && fgets(line, sizeof line, f)) {
        if (*n == cap) {
            cap *= 2;
            struct session *t = realloc(s, (size_t)cap * sizeof *s);
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
        }
        struct session *x = &s[*n];
        if (sscanf(line, "%39s %lld %79s %79s %79s", x->login, &x->id, x->sid, x->csrf_cookie, x->csrf) == 5)
            (*n)++;
    }
    fclose(f);
    if (!s) die("out of memory");
    if (*n == 0) die("no sessions in %s", file);
    return s;
}

/* ---------- the raw keep-alive HTTP/1.1 load ---------- */

void parse_host_port(const char *url, char *host, size_t cap, int *port)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= cap || p[n] != ':') die("%s: wanted http://HOST:PORT or HOST:PORT", url);
    memcpy(host, p, n);
    host[n] = 0;
    char *end;
    long v = strtol(p + n + 1, &end, 10);
    if (v <= 0 || v > 65535 || (*end && *end != '/')) die("%s: bad port", url);
    *port = (int)v;
}

enum { RAW_REQ_CAP = 8192, RAW_RESP_START = 16384 };
#define RAW_RESP_MAX ((size_t)64 << 20) /* no answer measured here is anywhere near as long */

struct raw_thread {
    const struct raw_load *l;
    const struct sockaddr_in *addr;
    int idx;
    pthread_t th;
    pthread_barrier_t *ready, *go;
    double t_start, t_end; /* the counted window, set before go */
    struct raw_result r;   /* this thread's counts (its lat, first_bad, statuses) */
    struct lat lat;
    char *rb; /* the response buffer */
    size_t rcap;
};

static int raw_connect(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    struct timeval tv = {60, 0};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Room for `need` bytes and a NUL in t->rb; -1 past RAW_RESP_MAX. */
static int raw_room(struct raw_thread *t, size_t need)
{
    if (need < t->rcap) return 0;
    if (need >= RAW_RESP_MAX) return -1;
    size_t cap = t->rcap;
    while (cap <= need) cap *= 2;
    char *b = realloc(t->rb, cap);
    if (!b) die("out of memory");
    t->rb = b;
    t->rcap = cap;
    return 0;
}

/* More bytes into t->rb after `have`: the count, 0 at the end of the stream, -1 on an error. */
static ssize_t raw_recv(struct raw_thread *t, int fd, size_t have)
{
    if (raw_room(t, have + 4096) != 0) return -1;
    for (;;) {
        ssize_t k = recv(fd, t->rb + have, t->rcap - 1 - have, 0);
        if (k < 0 && errno == EINTR) continue;
        return k;
    }
}

/* Whether the header value v[0..n-1] holds `word` (case-insensitive). */
static int has_word(const char *v, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (strncasecmp(v + i, word, w) == 0) return 1;
    return 0;
}

/* One response on fd into t->rb: its status, or -1 when the connection broke or the answer
 * is not one this reader takes (*why says which).  *body (NUL-terminated) and *blen: its
 * body; *close_after: the server closes the connection after it. */
static int read_response(struct raw_thread *t, int fd, const char **body, size_t *blen, int *close_after,
                         const char **why)
{
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t k = raw_recv(t, fd, have);
        if (k <= 0) return *why = k == 0 ? "closed by the server" : "receiving failed", -1;
        size_t from = have > 3 ? have - 3 : 0;
        have += (size_t)k;
        t->rb[have] = 0;
        end = memmem(t->rb + from, have - from, "\r\n\r\n", 4);
    }
    char *b = t->rb;
    size_t head = (size_t)(end - b) + 4;
    if (strncmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ') return *why = "not an HTTP/1.x answer", -1;
    long status = strtol(b + 9, NULL, 10);
    if (status < 200 || status > 999) return *why = "an unexpected status line", -1;
    int keep = b[7] != '0', chunked = 0;
    long long clen = -1;
    for (char *line = strstr(b, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        size_t n = strcspn(line, "\r\n");
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = strtoll(line + 15, NULL, 10);
        else if (strncasecmp(line, "Connection:", 11) == 0) {
            if (has_word(line + 11, n - 11, "close"))
                keep = 0;
            else if (has_word(line + 11, n - 11, "keep-alive"))
                keep = 1;
        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
                   !has_word(line + 18, n - 18, "identity"))
            chunked = 1;
    }
    if (status == 204 || status == 304) clen = 0;
    if (chunked) return *why = "a chunked answer (not supported)", -1;
    if (clen < 0) { /* the body runs until the server closes */
        ssize_t k;
        while ((k = raw_recv(t, fd, have)) > 0) have += (size_t)k;
        if (k < 0) return *why = "receiving failed", -1;
        clen = (long long)(have - head);
        keep = 0;
    } else {
        if (raw_room(t, head + (size_t)clen) != 0) return *why = "an answer over 64 MiB", -1;
        while (have < head + (size_t)clen) {
            ssize_t k = raw_recv(t, fd, have);
            if (k <= 0) return *why = k == 0 ? "closed by the server" : "receiving failed", -1;
            have += (size_t)k;
        }
        if (have > head + (size_t)clen) keep = 0; /* more than was asked for: start afresh */
    }
    b = t->rb;
    b[head + (size_t)clen] = 0;
    *body = b + head;
    *blen = (size_t)clen;
    *close_after = !keep;
    return (int)status;
}

/* A transport error at t1. */
static void raw_broken(struct raw_thread *t, double t1, const char *why)
{
    t->r.errors++;
    if (t1 < t->t_start || t1 > t->t_end) return;
    t->r.broken++;
    statuses_add(&t->r.statuses, 0);
    if (!t->r.first_bad[0]) snprintf(t->r.first_bad, sizeof t->r.first_bad, "status 0: %s", why);
}

static void *raw_work(void *arg)
{
    struct raw_thread *t = arg;
    const struct raw_load *l = t->l;
    char *req = malloc(RAW_REQ_CAP);
    if (!req) die("out of memory");
    int fd = raw_connect(t->addr); /* before the clock starts */
    pthread_barrier_wait(t->ready);
    pthread_barrier_wait(t->go);
    for (long iter = 0;;) {
        double t0 = now_s();
        if (t0 >= t->t_end) break;
        if (fd < 0 && (fd = raw_connect(t->addr)) < 0) {
            char eb[128], msg[160];
            snprintf(msg, sizeof msg, "cannot connect: %s", strerror_r(errno, eb, sizeof eb));
            raw_broken(t, now_s(), msg);
            continue;
        }
        const char *out = req, *body = NULL, *why = "sending failed";
        size_t n = l->request(l->arg, t->idx, iter++, req, RAW_REQ_CAP, &out), blen = 0;
        int close_after = 0;
        int st = send_all(fd, out, n) == 0 ? read_response(t, fd, &body, &blen, &close_after, &why) : -1;
        double t1 = now_s();
        if (st < 0) {
            close(fd);
            fd = -1;
            raw_broken(t, t1, why);
            continue;
        }
        if (close_after) {
            close(fd);
            fd = -1;
        }
        int good = l->good(l->arg, t->idx, st, body, blen);
        if (good) t->r.good_total++;
        if (t1 < t->t_start || t1 > t->t_end) continue;
        if (good) {
            t->r.good++;
        } else {
            t->r.bad++;
            statuses_add(&t->r.statuses, st);
            if (!t->r.first_bad[0])
                snprintf(t->r.first_bad, sizeof t->r.first_bad, "status %d: %.200s", st, body);
        }
        if (good || l->keep_all_latencies) lat_add(&t->lat, (t1 - t0) * 1000.0);
    }
    if (fd >= 0) close(fd);
    free(req);
    return NULL;
}

static void resolve(const char *host, int port, struct sockaddr_in *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr->sin_addr) == 1) return;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai) die("cannot resolve %s", host);
    addr->sin_addr = ((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
    freeaddrinfo(ai);
}

void raw_run(const struct raw_load *l, struct raw_result *r)
{
    memset(r, 0, sizeof *r);
    if (l->conns < 1) die("no connections");
    struct sockaddr_in addr;
    resolve(l->host, l->port, &addr);
    struct raw_thread *t = calloc((size_t)l->conns, sizeof *t);
    if (!t) die("out of memory");
    pthread_barrier_t ready, go;
    pthread_barrier_init(&ready, NULL, (unsigned)l->conns + 1);
    pthread_barrier_init(&go, NULL, (unsigned)l->conns + 1);
    for (int i = 0; i < l->conns; i++) {
        t[i] = (struct raw_thread){
            .l = l, .addr = &addr, .idx = i, .ready = &ready, .go = &go, .rcap = RAW_RESP_START};
        t[i].rb = malloc(t[i].rcap);
        if (!t[i].rb) die("out of memory");
        if (pthread_create(&t[i].th, NULL, raw_work, &t[i]) != 0) die("pthread_create");
    }
    pthread_barrier_wait(&ready); /* every thread has connected (or tried to) */
    double t0 = now_s();
    for (int i = 0; i < l->conns; i++) {
        t[i].t_start = t0 + l->warmup;
        t[i].t_end = t0 + l->warmup + l->seconds;
    }
    pthread_barrier_wait(&go);
    struct lat all = {0};
    for (int i = 0; i < l->conns; i++) {
        pthread_join(t[i].th, NULL);
        const struct raw_result *x = &t[i].r;
        r->good += x->good, r->bad += x->bad, r->broken += x->broken;
        r->errors += x->errors, r->good_total += x->good_total;
        statuses_merge(&r->statuses, &x->statuses);
        if (!r->first_bad[0]) memcpy(r->first_bad, x->first_bad, sizeof r->first_bad);
        lat_append(&all, &t[i].lat);
        free(t[i].lat.v);
        free(t[i].rb);
    }
    sort_doubles(all.v, all.n);
    r->lat = all.v;
    r->nlat = all.n;
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    free(t);
}

void raw_result_free(struct raw_result *r)
{
    free(r->lat);
    r->lat = NULL;
    r->nlat = 0;
}

/* ---------- the libcurl client (with LOADLIB_CURL) ---------- */

#ifdef LOADLIB_CURL
static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct conn *c = arg;
    size_t k = sz * n;
    if (c->len + k + 1 > c->cap) {
        size_t cap = (c->len + k + 1) * 2;
        char *b = realloc(c->body, cap);
        if (!b) return 0;
        c->body = b;
        c->cap = cap;
    }
    memcpy(c->body + c->len, p, k);
    c->len += k;
    c->body[c->len] = 0;
    return k;
}

static void take_cookie(const char *p, size_t k, const char *name, char *dst, size_t n)
{
    char want[64];
    int w = snprintf(want, sizeof want, "set-cookie: %s=", name);
    if (k > (size_t)w && strncasecmp(p, want, (size_t)w) == 0) {
        const char *v = p + w;
        size_t m = strcspn(v, ";\r\n");
        if (m < n) {
            memcpy(dst, v, m);
            dst[m] = 0;
        }
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct conn *c = arg;
    size_t k = sz * n;
    take_cookie(p, k, "ehall_session", c->sid, sizeof c->sid);
    take_cookie(p, k, "ehall_csrf", c->csrf_cookie, sizeof c->csrf_cookie);
    return k;
}

void conn_init(struct conn *c, const char *base)
{
    memset(c, 0, sizeof *c);
    c->base = base;
    c->h = curl_easy_init();
    if (!c->h) die("curl_easy_init failed");
    char ua[64];
    snprintf(ua, sizeof ua, "ehall-bench/%s", load_prog);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, ua); /* libcurl keeps a copy */
}

void conn_free(struct conn *c)
{
    curl_easy_cleanup(c->h);
    free(c->body);
}

void use_session(struct conn *c, const struct session *s)
{
    snprintf(c->sid, sizeof c->sid, "%s", s->sid);
    snprintf(c->csrf_cookie, sizeof c->csrf_cookie, "%s", s->csrf_cookie);
    snprintf(c->csrf, sizeof c->csrf, "%s", s->csrf);
}

long req(struct conn *c, const char *method, const char *path, const char *json, json_t **out)
{
    char url[512], cookie[256], token[128];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    if (c->visitor) c->sid[0] = 0;
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Expect:");
    if (json) hd = curl_slist_append(hd, "Content-Type: application/json");
    if (c->csrf_cookie[0] || c->sid[0]) {
        snprintf(cookie, sizeof cookie, "Cookie: ehall_csrf=%s%s%s", c->csrf_cookie[0] ? c->csrf_cookie : "x",
                 c->sid[0] ? "; ehall_session=" : "", c->sid);
        hd = curl_slist_append(hd, cookie);
    }
    if (c->csrf[0] || c->csrf_cookie[0]) {
        snprintf(token, sizeof token, "X-CSRF-Token: %s", c->sid[0] && c->csrf[0] ? c->csrf : c->csrf_cookie);
        hd = curl_slist_append(hd, token);
    }
    c->len = 0;
    if (c->body) c->body[0] = 0;
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hd);
    if (json) {
        curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
        if (strcmp(method, "POST") != 0) curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    }
    CURLcode rc = curl_easy_perform(c->h);
    curl_slist_free_all(hd);
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s: %s %s: %s\n", load_prog, method, path,
                c->err[0] ? c->err : curl_easy_strerror(rc));
        return 0;
    }
    long st = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &st);
    if (out) {
        *out = c->len ? json_loads(c->body, 0, NULL) : NULL;
        const char *t = json_string_value(json_object_get(*out, "csrf"));
        if (t && strlen(t) < sizeof c->csrf) snprintf(c->csrf, sizeof c->csrf, "%s", t);
    }
    return st;
}

const char *jstr(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

json_t *must(struct conn *c, long want, const char *method, const char *path, const char *body)
{
    json_t *j = NULL;
    long st = req(c, method, path, body, &j);
    if (st != want)
        die("%s %s: status %ld (wanted %ld): %.300s", method, path, st, want, c->body ? c->body : "");
    return j;
}
#endif
