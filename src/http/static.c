/*
 * static.c — the browser UI's files.
 *
 * Safe by construction: the decoded path is checked segment by segment (no empty,
 * "." or ".." segments, no hidden files, no backslash), opened beneath the web root
 * with no symlinks followed (openat2), and must be a regular file.
 * Validators are strong ETags from size, mtime and inode, with Last-Modified beside
 * them; conditional requests get 304.  When the client accepts gzip and `FILE.gz` sits
 * beside FILE, the compressed file is sent with `Content-Encoding: gzip`.
 * A path without an extension that names no file falls back to index.html, so the
 * single-page UI can own its URLs.  Files go out with sendfile(2) via MHD.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/internal.h"

static const struct {
    const char *ext, *type;
} MIME[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"webmanifest", "application/manifest+json"},
};

static const char *mime_for(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot) return "application/octet-stream";
    for (size_t i = 0; i < EHALL_ARRAY_LEN(MIME); i++)
        if (strcasecmp(dot + 1, MIME[i].ext) == 0) return MIME[i].type;
    return "application/octet-stream";
}

/* Relative path under the root, or NULL when the request path is not acceptable. */
static const char *safe_relative(http_req *r, const char *path)
{
    if (path[0] != '/') return NULL;
    if (strcmp(path, "/") == 0) return "index.html";
    const char *p = path + 1;
    for (const char *seg = p; *seg;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || seg[0] == '.' || memchr(seg, '\\', len)) return NULL;
        if (!end) break;
        seg = end + 1;
        if (!*seg) return NULL; /* trailing slash */
    }
    if (strlen(p) > 1024) return NULL;
    return arena_strdup(r->a, p);
}

static int has_ext(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return strchr(slash ? slash + 1 : rel, '.') != NULL;
}

static int accepts_gzip(http_req *r)
{
    const char *ae = http_req_header(r, "Accept-Encoding");
    if (!ae) return 0;
    const char *g = strstr(ae, "gzip");
    if (!g) return 0;
    /* honour an explicit refusal: gzip;q=0 */
    const char *q = g + 4;
    while (*q == ' ') q++;
    if (*q == ';') {
        q++;
        while (*q == ' ') q++;
        if (q[0] == 'q' && q[1] == '=') return strtod(q + 2, NULL) > 0;
    }
    return 1;
}

/* Open rel strictly beneath the root: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
 * refuses "..", absolute paths and symlinks anywhere in the path, not only in the last
 * component.  Kernels before 5.6 lack it; there the segment checks above plus
 * O_NOFOLLOW on the last component still hold. */
static int open_beneath(int rootfd, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS) return openat(rootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    return (int)fd;
}

static int open_under(int rootfd, const char *rel, struct stat *st)
{
    int fd = open_beneath(rootfd, rel);
    if (fd < 0) return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int not_found(http_req *r) { return http_reply_error(r, 404, "not_found", "no such file", NULL); }

int static_serve(http_req *r, int rootfd)
{
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        http_add_header(r, "Allow", "GET, HEAD");
        return http_reply_error(r, 405, "method_not_allowed", "static files accept GET and HEAD only", NULL);
    }
    const char *rel = safe_relative(r, r->path);
    if (!rel) return not_found(r);
    if (rootfd < 0) return not_found(r);
    struct stat st;
    int fd = open_under(rootfd, rel, &st);
    if (fd < 0 && !has_ext(rel)) {
        rel = "index.html";
        fd = open_under(rootfd, rel, &st);
    }
    if (fd < 0) return not_found(r);
    /* Validators describe the identity file even when the gzip twin is sent. */
    char etag[96], lastmod[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)st.st_mtim.tv_nsec,
             (unsigned long)st.st_ino);
    struct tm tm;
    gmtime_r(&st.st_mtim.tv_sec, &tm);
    strftime(lastmod, sizeof lastmod, "%a, %d %b %Y %H:%M:%S GMT", &tm);

    const char *cache = strncmp(rel, "assets/", 7) == 0 ? "public, max-age=31536000, immutable" : "no-cache";
    const char *inm = http_req_header(r, "If-None-Match");
    const char *ims = http_req_header(r, "If-Modified-Since");
    int fresh = 0;
    if (inm)
        fresh = strstr(inm, etag) != NULL || strcmp(inm, "*") == 0;
    else if (ims) {
        struct tm t = {0};
        const char *end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &t);
        fresh = end && timegm(&t) >= st.st_mtim.tv_sec;
    }
    http_add_header(r, "ETag", arena_strdup(r->a, etag));
    http_add_header(r, "Last-Modified", arena_strdup(r->a, lastmod));
    http_add_header(r, "Cache-Control", cache);
    http_add_header(r, "Vary", "Accept-Encoding");
    if (fresh) {
        close(fd);
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp) return -1;
        return http_queue(r, 304, resp, 0);
    }
    const char *type = mime_for(rel);
    int gz = 0;
    if (accepts_gzip(r)) {
        char *gzrel = arena_alloc(r->a, strlen(rel) + 4);
        struct stat gst;
        if (gzrel) {
            sprintf(gzrel, "%s.gz", rel);
            int gfd = open_under(rootfd, gzrel, &gst);
            if (gfd >= 0 && gst.st_mtim.tv_sec >= st.st_mtim.tv_sec) {
                close(fd);
                fd = gfd;
                st = gst;
                gz = 1;
            } else if (gfd >= 0) {
                close(gfd); /* stale twin: the plain file is newer */
            }
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return -1;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (gz) MHD_add_response_header(resp, "Content-Encoding", "gzip");
    return http_queue(r, 200, resp, (unsigned long long)st.st_size);
}
