/*
 * harness.c — see harness.h.
 */
#include "harness.h"
#include "store/store.h"

#include <jansson.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *h_bin(void)
{
    const char *b = getenv("EHALL_BIN");
    return b ? b : "./ehall";
}

int h_is_postgres(void) { return getenv("EHALL_TEST_PG") && *getenv("EHALL_TEST_PG"); }

/* Temporary directories made by this test process, removed when it exits. */
static char g_dirs[64][256];
static int g_ndirs;

static void remove_dirs(void)
{
    if (getenv("EHALL_TEST_KEEP")) return; /* keep them for a post-mortem */
    for (int i = 0; i < g_ndirs; i++) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dirs[i]);
        if (system(cmd) != 0) {
        }
    }
}

void h_fresh(char dir[256], char db[512])
{
    snprintf(dir, 256, "/tmp/ehall-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    if (g_ndirs == 0) atexit(remove_dirs);
    if (g_ndirs < 64) snprintf(g_dirs[g_ndirs++], 256, "%s", dir);
    chmod(dir, 0755);
    if (!h_is_postgres()) {
        snprintf(db, 512, "sqlite:%s/ehall.db", dir);
        return;
    }
    /* a new database on the test server, named after this directory */
    const char *admin = getenv("EHALL_TEST_PG");
    PGconn *c = PQconnectdb(admin);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "cannot reach EHALL_TEST_PG: %s", PQerrorMessage(c));
        exit(1);
    }
    char name[64], sql[128];
    snprintf(name, sizeof name, "t_%s", strrchr(dir, '-') + 1);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    PQfinish(c);
    /* replace the database name at the end of the admin URL */
    char base[400];
    snprintf(base, sizeof base, "%s", admin);
    char *q = strchr(base, '?');
    if (q) *q = 0;
    char *slash = strrchr(base, '/');
    if (slash && slash > strstr(base, "//") + 1) *slash = 0;
    snprintf(db, 512, "%s/%s", base, name);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("bind");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t add = sz * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (!nb) return 0;
    memcpy(nb + r->len, p, add);
    r->body = nb;
    r->len += add;
    r->body[r->len] = 0;
    return add;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t add = sz * n, have = strlen(r->headers);
    if (have + add < sizeof r->headers) {
        memcpy(r->headers + have, p, add);
        r->headers[have + add] = 0;
    }
    return add;
}

int h_http(struct srv *s, const char *method, const char *path, const char *const *headers, const char *body,
           size_t body_len, struct resp *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) return -1;
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++) hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!out->body) out->body = calloc(1, 1);
    return rc == CURLE_OK ? 0 : -1;
}

void h_resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

const char *h_header(const struct resp *r, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end) break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            size_t vl = (size_t)(end - v);
            if (vl >= len) vl = len - 1;
            memcpy(buf, v, vl);
            buf[vl] = 0;
            return buf;
        }
        line = end + 2;
    }
    return NULL;
}

int h_start(struct srv *s, const char *dir, const char *db, const char *const *env)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->db, sizeof s->db, "%s", db);
    snprintf(s->log, sizeof s->log, "%s/serve.log", dir);
    s->port = free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test never leaves a server behind */
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        /* tests read captcha answers and SMS codes; and a cheaper password hash keeps
         * the many log-ins fast (test_identity checks the default cost separately) */
        putenv("EHALL_TEST_MODE=1");
        putenv("EHALL_AUTH_PASSWORD_ITERATIONS=2000");
        /* the scheduled reconciliation of yesterday would add an audit record to every
         * server started after 02:00: a test that wants it asks (test_exchange) */
        putenv("EHALL_EXCHANGE_RECONCILE_HOUR=-1");
        for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
        execl(h_bin(), "ehall", "--data", dir, "--db", db, "serve", "--listen", listen, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 500; i++) { /* up to 10 s */
        struct resp r;
        if (h_http(s, "GET", "/healthz", NULL, NULL, 0, &r) == 0 && r.status == 200) {
            h_resp_free(&r);
            return 0;
        }
        h_resp_free(&r);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

int h_stop(struct srv *s)
{
    if (s->pid <= 0) return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 1500; i++) { /* up to 30 s */
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            if (rc != 0) { /* show how it ended, for the post-mortem */
                char *log = h_slurp(s->log);
                size_t n = log ? strlen(log) : 0;
                fprintf(stderr, "server exited with %d; end of its log:\n%s\n", rc,
                        log ? log + (n > 3000 ? n - 3000 : 0) : "");
                free(log);
            }
            return rc;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

void h_kill9(struct srv *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGKILL);
    int st;
    waitpid(s->pid, &st, 0);
    s->pid = 0;
}

pid_t h_worker_start(struct srv *s, const char *name, const char *const *env, const char *threads)
{
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", s->dir, name);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
        execl(h_bin(), "ehall", "--data", s->dir, "--db", s->db, "worker", "--threads", threads,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

int h_worker_stop(pid_t pid, int sig)
{
    if (pid <= 0) return -1;
    kill(pid, sig);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int h_cli(const char *dir, const char *db, const char *const *args, char *out, size_t outlen)
{
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        const char *argv[32] = {"ehall"};
        int n = 1;
        if (dir) {
            argv[n++] = "--data";
            argv[n++] = dir;
        }
        if (db) {
            argv[n++] = "--db";
            argv[n++] = db;
        }
        for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(h_bin(), (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t k;
    char sink[4096];
    while ((k = read(pfd[0], got + 1 < outlen ? out + got : sink,
                     got + 1 < outlen ? outlen - 1 - got : sizeof sink)) > 0)
        if (got + 1 < outlen) got += (size_t)k;
    close(pfd[0]);
    if (outlen) out[got] = 0;
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *h_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

int h_connect(struct srv *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---------- a client with cookies ---------- */

static void take_cookie(const char *headers, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, "Set-Cookie:", 11) != 0) continue;
        const char *v = p + 11;
        while (*v == ' ') v++;
        if (strncmp(v, name, n) != 0 || v[n] != '=') continue;
        v += n + 1;
        size_t k = strcspn(v, ";\r\n");
        if (k >= len) k = len - 1;
        memcpy(out, v, k);
        out[k] = 0;
    }
}

void hc_init(struct hclient *c, struct srv *s)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    struct resp r;
    hc_call(c, "GET", "/api/v1/session", NULL, &r);
    h_resp_free(&r);
}

long hc_call(struct hclient *c, const char *method, const char *path, const char *body, struct resp *out)
{
    char cookie[256], csrf[128], xff[96];
    const char *headers[6];
    int n = 0;
    snprintf(cookie, sizeof cookie, "Cookie: ehall_csrf=%s%s%s", c->csrf_cookie[0] ? c->csrf_cookie : "x",
             c->session[0] ? "; ehall_session=" : "", c->session);
    headers[n++] = cookie;
    snprintf(csrf, sizeof csrf, "X-CSRF-Token: %s", c->session[0] && c->csrf[0] ? c->csrf : c->csrf_cookie);
    headers[n++] = csrf;
    if (body) headers[n++] = "Content-Type: application/json";
    if (c->client_ip[0]) {
        snprintf(xff, sizeof xff, "X-Forwarded-For: %s", c->client_ip);
        headers[n++] = xff;
    }
    headers[n] = NULL;
    memset(out, 0, sizeof *out);
    if (h_http(c->s, method, path, headers, body, body ? strlen(body) : 0, out) != 0) return 0;
    take_cookie(out->headers, "ehall_session", c->session, sizeof c->session);
    take_cookie(out->headers, "ehall_csrf", c->csrf_cookie, sizeof c->csrf_cookie);
    json_t *j = out->body ? json_loadb(out->body, out->len, 0, NULL) : NULL;
    const char *t = json_string_value(json_object_get(j, "csrf"));
    if (t) snprintf(c->csrf, sizeof c->csrf, "%s", t);
    json_decref(j);
    return out->status;
}

json_t *hc_json(struct hclient *c, const char *method, const char *path, const char *body, long *status)
{
    struct resp r;
    long st = hc_call(c, method, path, body, &r);
    if (status) *status = st;
    json_t *j = r.body ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    h_resp_free(&r);
    return j;
}

long long h_store_int(store *s, const char *sql)
{
    long long n = -1;
    store_conn *c = store_acquire(s);
    if (!c) return -1;
    if (store_query_int64(c, sql, &n) != STORE_OK) n = -1;
    store_release(c);
    return n;
}
