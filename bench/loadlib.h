/*
 * loadlib.h — what the bench/ load generators share (auth_load, cases_load, tax_load,
 * licence_load, exchange_load).  Each tool's bench script compiles it alongside:
 * cc … bench/X_load.c bench/loadlib.c …
 *
 *   - time, messages, percentiles, latency lists, the failing statuses seen;
 *   - the session lines cases_load writes (read_sessions) and the ID numbers of the
 *     persons it registers (make_id);
 *   - a raw-socket keep-alive HTTP/1.1 load runner (raw_run): N threads, each with one
 *     blocking connection, a request the caller builds, a response it judges;
 *   - with LOADLIB_CURL defined (-DLOADLIB_CURL on the cc line that compiles the tool
 *     and this library, libcurl linked): the libcurl client for the set-up flows and the JSON APIs
 *     (struct conn, req, must, jstr, use_session).  licence_load and exchange_load go
 *     without it, so they need no libcurl.
 *
 * Loopback only: every address the tools are given comes from their scripts.
 */
#ifndef EHALL_BENCH_LOADLIB_H
#define EHALL_BENCH_LOADLIB_H

#include <stddef.h>

/* Each tool defines it: its name, the prefix of its messages ("cases_load"). */
extern const char load_prog[];

/* Monotonic seconds. */
double now_s(void);

/* "PROG: message" on stderr, exit 1. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sorts v[0..n-1] ascending. */
void sort_doubles(double *v, size_t n);

/* p-th percentile (0..100) of v[0..n-1], which must be sorted; nearest rank; 0 when n = 0. */
double pct(const double *v, size_t n, double p);

/* A growing list of latencies (ms). */
struct lat {
    double *v;
    size_t n, cap;
};
void lat_add(struct lat *l, double ms);
/* Appends the latencies of `from` to `into`. */
void lat_append(struct lat *into, const struct lat *from);

/* Up to 8 distinct statuses other than the expected one (0: a transport error). */
struct statuses {
    long v[8];
    int n;
};
void statuses_add(struct statuses *s, long st);
/* Those of `from` not in `into`, while there is room. */
void statuses_merge(struct statuses *into, const struct statuses *from);
/* "500,0" (in the order first seen), or "-" when there are none. */
const char *statuses_text(const struct statuses *s, char *buf, size_t cap);

/* ---------- the persons cases_load registers ---------- */

/* cases_load's persons are born on this day (as items/testdata's applicants). */
#define PERSON_BORN "19791230"

/* The ID number of person `seq` (sequence 000–999, seq % 1000): region 110105, born on
 * `born` (YYYYMMDD), with its check character. */
void make_id(const char *born, int seq, char out[19]);

/* A line of cases_load's session files: "login account_id session csrf_cookie csrf"
 * (csrf_cookie "x" when there was none). */
struct session {
    char login[40], sid[80], csrf_cookie[80], csrf[80];
    long long id;
};

/* All the lines of FILE; dies when there are none. */
struct session *read_sessions(const char *file, int *n);

/* ---------- the raw keep-alive HTTP/1.1 load ---------- */

/* "http://HOST:PORT[/…]" or "HOST:PORT" → host (an IPv4 address or a name) and port. */
void parse_host_port(const char *url, char *host, size_t cap, int *port);

/*
 * conns threads, each with one blocking keep-alive TCP connection to host:port
 * (TCP_NODELAY, 60 s send and receive timeouts).  Each connects, then all wait until
 * every one has; the clock starts then: warmup seconds unmeasured, then seconds counted.
 * Each thread, until the end of the window: builds a request (request()), sends it,
 * reads one response (status line, headers, a Content-Length body; without a
 * Content-Length, until the server closes) and asks good() whether it counts as good
 * (good(arg, conn, status, body, len); the body is NUL-terminated).
 *
 * Requests: request(arg, conn, iter, buf, cap, &out) for thread `conn`'s try `iter`
 * (0, 1, …) either writes the bytes into buf (cap bytes) or points out at bytes of its
 * own, and returns their length.
 *
 * A transport error (connecting, sending, reading, a response that is not HTTP/1.x or
 * is chunked, which this reader does not take) closes the connection, which is opened again for the next
 * request.  A response announcing "Connection: close" (or HTTP/1.0 without keep-alive) is read and the
 * connection reopened, without counting an error.
 */
struct raw_load {
    const char *host;
    int port;
    int conns;
    double warmup, seconds;
    size_t (*request)(void *arg, int conn, long iter, char *buf, size_t cap, const char **out);
    int (*good)(void *arg, int conn, int status, const char *body, size_t len);
    void *arg;
    int keep_all_latencies; /* 1: the latencies of every response in the window, not only the good */
};

/* Counted: what completes within [warm-up end, end]; good_total and errors: the whole run. */
struct raw_result {
    long good;                /* good responses */
    long bad;                 /* other responses */
    long broken;              /* transport errors */
    long errors;              /* transport errors over the whole run (connections reopened) */
    long good_total;          /* good responses over the whole run, warm-up and overrun too */
    struct statuses statuses; /* of the bad responses, and 0 for a transport error */
    char first_bad[256];      /* the first bad response or transport error, for a message */
    double *lat;              /* ms, sorted (NULL: none); good responses (all with keep_all_latencies) */
    size_t nlat;
};

/* Runs the load; dies when it cannot set it up. */
void raw_run(const struct raw_load *l, struct raw_result *r);
void raw_result_free(struct raw_result *r);

/* ---------- the libcurl client (with LOADLIB_CURL) ---------- */

#ifdef LOADLIB_CURL
#include <curl/curl.h>
#include <jansson.h>

/* One keep-alive libcurl connection with the cookies of its session. */
struct conn {
    CURL *h;
    const char *base; /* "http://127.0.0.1:PORT" */
    /* 1: every request goes as from a fresh visitor: the session cookie is never sent and
     * sid holds what the latest answer set (auth_load's log-ins) */
    int visitor;
    char sid[80], csrf_cookie[80], csrf[80];
    char *body; /* the last answer's body, NUL-terminated */
    size_t len, cap;
    char err[CURL_ERROR_SIZE];
};

/* A 60 s timeout, user agent "ehall-bench/PROG". */
void conn_init(struct conn *c, const char *base);
void conn_free(struct conn *c);

/* The session of a session line: its cookies and CSRF token. */
void use_session(struct conn *c, const struct session *s);

/* One request with the connection's cookies (ehall_csrf, "x" when there is none, and
 * ehall_session) and CSRF token (the session's once there is one, else the cookie's).
 * Set-Cookie answers update sid and csrf_cookie.  Returns the HTTP status, 0 on a
 * transport error; *out gets the parsed JSON body when out is not NULL, and a "csrf" in
 * it becomes the token for later requests. */
long req(struct conn *c, const char *method, const char *path, const char *json, json_t **out);

/* A request that must answer `want` (else die); the parsed body is returned (or NULL). */
json_t *must(struct conn *c, long want, const char *method, const char *path, const char *body);

/* The string member `key` of j, "" when there is none. */
const char *jstr(json_t *j, const char *key);
#endif

#endif
