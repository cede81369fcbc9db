/*
 * keys.c — the keyring: master keys from EHALL_MASTER_KEYS or the key file, sealing,
 * blind indexes, row MACs and the audit SM2 key pair.  See keys.h.
 *
 * State is one global keyring behind a read-write lock: every operation takes it for
 * reading; (re)loading builds a new key list outside the lock and swaps it in under
 * the write lock.  The key file is stat'ed at most once a second (and at once when a
 * sealed value names a version we do not know); when its inode, size or mtime changed
 * it is read again.  A reload that fails keeps the keys already loaded.
 *
 * Sub-keys, one per purpose, so that no two uses share a key:
 *   blind index of kind K   HMAC-SM3(master, "ehall bidx " K)
 *   MAC of rows of table T  HMAC-SM3(master, "ehall mac " T)
 * and the tag is "<version>:<64 hex of HMAC-SM3(sub-key, text)>".
 *
 * Files are created through a temporary file, fsync and rename (or link, which does
 * not replace a file another process created meanwhile), then an fsync of the
 * directory; processes that create or change them take turns on <dir>/.keys.lock.
 * No message ever contains key material.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/keys.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define MAX_KEYS      1000
#define MAX_FILE_SIZE (1 << 20)
#define ENV_KEYS      "EHALL_MASTER_KEYS"
#define ENV_AUDIT_KEY "EHALL_AUDIT_KEY_FILE"

struct keyent {
    int version;
    unsigned char key[CRYPTO_MASTER_KEY_LEN];
};

/* Keys sorted by version, highest (current) first. */
struct ring {
    struct keyent *k;
    int n;
};

static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t g_check = PTHREAD_MUTEX_INITIALIZER; /* one reload check at a time */
static struct {
    int loaded, from_env;
    char file[1024]; /* the key file (also when the keys come from the environment) */
    struct ring ring;
    struct stat seen; /* the key file as last read */
    double checked;   /* monotonic time of the last stat */
    char *audit_priv, *audit_pub;
    char audit_id[17];
} g;

/* ---- small helpers ---- */

static void ring_free(struct ring *r)
{
    if (r->k) crypto_wipe(r->k, (size_t)r->n * sizeof *r->k);
    free(r->k);
    r->k = NULL;
    r->n = 0;
}

static int cmp_desc(const void *a, const void *b)
{
    const struct keyent *x = a, *y = b;
    return x->version < y->version ? 1 : x->version > y->version ? -1 : 0;
}

/* Add one key; "duplicate" when the version is already there. */
static int ring_add(struct ring *r, int version, const unsigned char key[CRYPTO_MASTER_KEY_LEN],
                    const char **why)
{
    for (int i = 0; i < r->n; i++)
        if (r->k[i].version == version) {
            *why = "appears twice";
            return -1;
        }
    if (r->n >= MAX_KEYS) {
        *why = "too many keys";
        return -1;
    }
    struct keyent *k = malloc((size_t)(r->n + 1) * sizeof *k);
    if (!k) {
        *why = "out of memory";
        return -1;
    }
    if (r->n) memcpy(k, r->k, (size_t)r->n * sizeof *k);
    k[r->n].version = version;
    memcpy(k[r->n].key, key, CRYPTO_MASTER_KEY_LEN);
    if (r->k) crypto_wipe(r->k, (size_t)r->n * sizeof *r->k);
    free(r->k);
    r->k = k;
    r->n++;
    return 0;
}

/* A version: decimal 1..INT_MAX without sign or leading zeros; *end after it. */
static int parse_version(const char *s, int *out, const char **end)
{
    if (*s < '1' || *s > '9') return -1;
    long long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > INT_MAX) return -1;
    }
    *out = (int)v;
    *end = s;
    return 0;
}

/* Exactly 64 hex digits (either case) into 32 bytes. */
static int parse_key_hex(const char *s, size_t len, unsigned char key[CRYPTO_MASTER_KEY_LEN])
{
    char low[2 * CRYPTO_MASTER_KEY_LEN];
    if (len != sizeof low) return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
        low[i] = c;
    }
    int rc = hex_decode(low, CRYPTO_MASTER_KEY_LEN, key);
    crypto_wipe(low, sizeof low);
    return rc;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The key file's text: "<version> <64 hex>" lines, '#' comment lines, blank lines. */
static int parse_file_text(const char *text, const char *name, struct ring *out, char *err, size_t errlen)
{
    struct ring r = {0};
    int line = 0;
    const char *p = text;
    while (*p) {
        line++;
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        const char *q = p;
        while (q < eol && is_blank(*q)) q++;
        if (q < eol && *q != '#') {
            int version = 0;
            const char *e;
            unsigned char key[CRYPTO_MASTER_KEY_LEN];
            const char *why = NULL;
            if (parse_version(q, &version, &e) != 0 || e >= eol || (*e != ' ' && *e != '\t')) {
                why = "expected \"<version> <64 hex digits>\" with a version from 1 up";
            } else {
                while (e < eol && (*e == ' ' || *e == '\t')) e++;
                const char *h = e;
                while (e < eol && !is_blank(*e)) e++;
                const char *t = e;
                while (t < eol && is_blank(*t)) t++;
                if (t != eol || parse_key_hex(h, (size_t)(e - h), key) != 0)
                    why = "the key must be exactly 64 hex digits";
                else
                    ring_add(&r, version, key, &why);
                crypto_wipe(key, sizeof key);
            }
            if (why) {
                if (!strcmp(why, "appears twice"))
                    snprintf(err, errlen, "%s:%d: key version %d appears twice", name, line, version);
                else
                    snprintf(err, errlen, "%s:%d: %s", name, line, why);
                ring_free(&r);
                return -1;
            }
        }
        p = *eol ? eol + 1 : eol;
    }
    if (r.n == 0) {
        snprintf(err, errlen, "%s: holds no key", name);
        return -1;
    }
    qsort(r.k, (size_t)r.n, sizeof *r.k, cmp_desc);
    *out = r;
    return 0;
}

/* EHALL_MASTER_KEYS: "1:<hex>,2:<hex>" (blanks around entries are allowed). */
static int parse_env(const char *text, struct ring *out, char *err, size_t errlen)
{
    struct ring r = {0};
    int entry = 0;
    const char *p = text;
    for (;;) {
        entry++;
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        while (p < end && is_blank(*p)) p++;
        const char *e = end;
        while (e > p && is_blank(e[-1])) e--;
        int version;
        const char *c;
        unsigned char key[CRYPTO_MASTER_KEY_LEN];
        const char *why = NULL;
        if (parse_version(p, &version, &c) != 0 || c >= e || *c != ':')
            why = "expected <version>:<64 hex digits> with a version from 1 up";
        else if (parse_key_hex(c + 1, (size_t)(e - c - 1), key) != 0)
            why = "the key must be exactly 64 hex digits";
        else if (ring_add(&r, version, key, &why) != 0 && !strcmp(why, "appears twice"))
            why = "this version appears twice";
        crypto_wipe(key, sizeof key);
        if (why) {
            snprintf(err, errlen, "%s: entry %d: %s", ENV_KEYS, entry, why);
            ring_free(&r);
            return -1;
        }
        if (!*end) break;
        p = end + 1;
    }
    qsort(r.k, (size_t)r.n, sizeof *r.k, cmp_desc);
    *out = r;
    return 0;
}

/* Read a whole file that must be private (no group/other permission bits); *st gets
 * its stat.  Returns 0, -1 with err, or -2 when it does not exist. */
static int read_private(const char *path, char **text, struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP) fd = open(path, O_RDONLY | O_CLOEXEC); /* a symlink is fine */
    if (fd < 0) {
        if (errno == ENOENT) return -2;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st->st_mode & 077) {
        snprintf(err, errlen,
                 "%s: permissions %04o are too open (it holds secret keys): it must be readable by its "
                 "owner only (chmod 600 %s)",
                 path, (unsigned)(st->st_mode & 07777), path);
        close(fd);
        return -1;
    }
    if (st->st_size > MAX_FILE_SIZE) {
        snprintf(err, errlen, "%s: too large to be a key file", path);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st->st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return -1;
    }
    while (got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    buf[got] = 0;
    if (strlen(buf) != got) {
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        crypto_wipe(buf, got);
        free(buf);
        return -1;
    }
    *text = buf;
    return 0;
}

static void free_secret_text(char *t)
{
    if (!t) return;
    crypto_wipe(t, strlen(t));
    free(t);
}

static int load_file(const char *path, struct ring *out, struct stat *st, char *err, size_t errlen)
{
    char *text = NULL;
    int rc = read_private(path, &text, st, err, errlen);
    if (rc != 0) return rc;
    rc = parse_file_text(text, path, out, err, errlen);
    free_secret_text(text);
    return rc;
}

static void dir_of(const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == out)
        out[1] = 0;
    else
        *slash = 0;
}

/* mkdir -p: the last directory (the keys' own) with mode 0700, those above it 0750. */
static int mkdirs(const char *dir, char *err, size_t errlen)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, c ? 0750 : 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", buf, strerror(errno));
            return -1;
        }
        *p = c;
        if (!c) break;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Write a file atomically: temp file with mode, fsync, then rename (replace) or link
 * (noclobber: fails with EEXIST when path exists), then fsync the directory. */
static int write_atomic(const char *path, const char *text, mode_t mode, int noclobber, char *err,
                        size_t errlen)
{
    char tmp[1100], dir[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a file beside %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), off = 0;
    int ok = fchmod(fd, mode) == 0;
    while (ok && off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            ok = 0;
        else
            off += (size_t)k;
    }
    if (ok) ok = fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (noclobber) {
        if (link(tmp, path) != 0) {
            int e = errno;
            unlink(tmp);
            errno = e;
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(e));
            return -1;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    dir_of(path, dir, sizeof dir);
    fsync_dir(dir);
    return 0;
}

/* Take <dir>/.keys.lock exclusively (blocking); returns the descriptor or -1. */
static int lock_dir(const char *dir, char *err, size_t errlen)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/.keys.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    return fd;
}

static void unlock_dir(int fd)
{
    if (fd >= 0) close(fd);
}

/* A fresh "<version> <64 hex>\n" line. */
static int new_key_line(int version, char *line, size_t len)
{
    unsigned char key[CRYPTO_MASTER_KEY_LEN];
    char hex[2 * CRYPTO_MASTER_KEY_LEN + 1];
    if (random_bytes(key, sizeof key) != 0) return -1;
    hex_encode(key, sizeof key, hex);
    snprintf(line, len, "%d %s\n", version, hex);
    crypto_wipe(key, sizeof key);
    crypto_wipe(hex, sizeof hex);
    return 0;
}

/* Load the key file, creating it (outside production) when it does not exist. */
static int load_or_create(const char *path, int production, struct ring *out, struct stat *st, char *err,
                          size_t errlen)
{
    int rc = load_file(path, out, st, err, errlen);
    if (rc != -2) return rc;
    if (production) {
        snprintf(err, errlen,
                 "no master key: %s does not exist and %s is not set (production: ehall will not generate "
                 "keys itself; create the file with one \"1 <64 hex digits>\" line, mode 0600)",
                 path, ENV_KEYS);
        return -1;
    }
    char dir[1024];
    dir_of(path, dir, sizeof dir);
    if (mkdirs(dir, err, errlen) != 0) return -1;
    int lk = lock_dir(dir, err, errlen);
    if (lk < 0) return -1;
    rc = load_file(path, out, st, err, errlen); /* another process may have made it */
    if (rc == -2) {
        char text[256], line[128];
        if (new_key_line(1, line, sizeof line) != 0) {
            snprintf(err, errlen, "no random bytes for a new key");
            rc = -1;
        } else {
            snprintf(text, sizeof text,
                     "# ehall master keys: \"<version> <64 hex digits>\" per line, the highest is current.\n"
                     "# Keep this file secret (mode 0600) and backed up apart from the database.\n%s",
                     line);
            rc = write_atomic(path, text, 0600, 1, err, errlen);
            crypto_wipe(text, sizeof text);
            crypto_wipe(line, sizeof line);
            if (rc == 0) {
                log_info("keys: created %s with a new master key (version 1)", path);
                rc = load_file(path, out, st, err, errlen);
            }
        }
    }
    unlock_dir(lk);
    if (rc == -2) snprintf(err, errlen, "%s: vanished while it was being created", path);
    return rc == 0 ? 0 : -1;
}

/* ---- the audit SM2 key pair ---- */

static void pub_path_of(const char *priv, char *out, size_t len)
{
    size_t n = strlen(priv);
    if (n > 4 && !strcmp(priv + n - 4, ".pem"))
        snprintf(out, len, "%.*s.pub.pem", (int)(n - 4), priv);
    else
        snprintf(out, len, "%s.pub.pem", priv);
}

static int read_public(const char *path, char **text, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return -2;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n >= 65535) {
        free(buf);
        snprintf(err, errlen, "%s: empty or too large", path);
        return -1;
    }
    buf[n] = 0;
    *text = buf;
    return 0;
}

static int load_audit_pair(const char *priv_path, int production, char **priv, char **pub, char *err,
                           size_t errlen)
{
    char pub_path[1100], dir[1024];
    pub_path_of(priv_path, pub_path, sizeof pub_path);
    struct stat st;
    int rc = read_private(priv_path, priv, &st, err, errlen);
    if (rc == -2) {
        if (production) {
            snprintf(err, errlen,
                     "%s: the audit signing key is missing (production: ehall will not generate it)",
                     priv_path);
            return -1;
        }
        dir_of(priv_path, dir, sizeof dir);
        if (mkdirs(dir, err, errlen) != 0) return -1;
        int lk = lock_dir(dir, err, errlen);
        if (lk < 0) return -1;
        rc = read_private(priv_path, priv, &st, err, errlen);
        if (rc == -2) {
            char *np = NULL, *nq = NULL;
            if (crypto_sm2_keygen(&np, &nq) != 0) {
                snprintf(err, errlen, "cannot generate the audit SM2 key pair");
                rc = -1;
            } else if (write_atomic(pub_path, nq, 0644, 0, err, errlen) == 0 &&
                       write_atomic(priv_path, np, 0600, 1, err, errlen) == 0) {
                log_info("keys: created the audit signing key pair %s", priv_path);
                rc = read_private(priv_path, priv, &st, err, errlen);
            } else {
                rc = -1;
            }
            free_secret_text(np);
            free(nq);
        }
        unlock_dir(lk);
    }
    if (rc != 0) {
        if (rc == -2) snprintf(err, errlen, "%s: vanished while it was being created", priv_path);
        return -1;
    }
    rc = read_public(pub_path, pub, err, errlen);
    if (rc == -2) snprintf(err, errlen, "%s: the audit public key is missing beside %s", pub_path, priv_path);
    if (rc != 0) {
        free_secret_text(*priv);
        *priv = NULL;
        return -1;
    }
    /* the two files must be one pair */
    static const char probe[] = "ehall audit key pair check";
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (crypto_sm2_sign(*priv, NULL, probe, sizeof probe - 1, &sig, &siglen) != 0 ||
        crypto_sm2_verify(*pub, NULL, probe, sizeof probe - 1, sig, siglen) != 0) {
        snprintf(err, errlen, "%s and %s are not one valid SM2 key pair", priv_path, pub_path);
        free(sig);
        free_secret_text(*priv);
        free(*pub);
        *priv = *pub = NULL;
        return -1;
    }
    free(sig);
    return 0;
}

/* ---- life cycle ---- */

static void default_file(const struct config *cfg, char *out, size_t len)
{
    if (cfg->keys_file[0])
        snprintf(out, len, "%s", cfg->keys_file);
    else
        snprintf(out, len, "%s/keys/ehall.keys", cfg->data_dir);
}

static void clear_locked(void)
{
    ring_free(&g.ring);
    free_secret_text(g.audit_priv);
    free(g.audit_pub);
    g.audit_priv = g.audit_pub = NULL;
    g.audit_id[0] = 0;
    g.loaded = g.from_env = 0;
    g.file[0] = 0;
    memset(&g.seen, 0, sizeof g.seen);
}

int keys_init(const struct config *cfg, char *err, size_t errlen)
{
    char file[1024], audit_path[1100];
    struct ring r = {0};
    struct stat st;
    memset(&st, 0, sizeof st);
    default_file(cfg, file, sizeof file);
    const char *env = getenv(ENV_KEYS);
    int from_env = env && *env;
    if (from_env) {
        if (parse_env(env, &r, err, errlen) != 0) return -1;
        const char *ak = getenv(ENV_AUDIT_KEY);
        if (ak && *ak)
            snprintf(audit_path, sizeof audit_path, "%s", ak);
        else
            snprintf(audit_path, sizeof audit_path, "%s/keys/audit-sm2.pem", cfg->data_dir);
    } else {
        if (load_or_create(file, (int)cfg->production, &r, &st, err, errlen) != 0) return -1;
        char dir[1024];
        dir_of(file, dir, sizeof dir);
        snprintf(audit_path, sizeof audit_path, "%s/audit-sm2.pem", dir);
    }
    char *priv = NULL, *pub = NULL;
    if (load_audit_pair(audit_path, (int)cfg->production, &priv, &pub, err, errlen) != 0) {
        ring_free(&r);
        return -1;
    }
    unsigned char d[SM3_DIGEST_LEN];
    char hex[2 * SM3_DIGEST_LEN + 1];
    if (crypto_sm3(pub, strlen(pub), d) != 0) {
        snprintf(err, errlen, "SM3 is not available");
        ring_free(&r);
        free_secret_text(priv);
        free(pub);
        return -1;
    }
    hex_encode(d, sizeof d, hex);

    pthread_mutex_lock(&g_check);
    pthread_rwlock_wrlock(&g_rw);
    clear_locked();
    g.ring = r;
    g.from_env = from_env;
    snprintf(g.file, sizeof g.file, "%s", file);
    g.seen = st;
    g.checked = now_monotonic();
    g.audit_priv = priv;
    g.audit_pub = pub;
    snprintf(g.audit_id, sizeof g.audit_id, "%.16s", hex);
    g.loaded = 1;
    pthread_rwlock_unlock(&g_rw);
    pthread_mutex_unlock(&g_check);
    return 0;
}

void keys_shutdown(void)
{
    pthread_mutex_lock(&g_check);
    pthread_rwlock_wrlock(&g_rw);
    clear_locked();
    pthread_rwlock_unlock(&g_rw);
    pthread_mutex_unlock(&g_check);
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Re-read the key file when it changed; at most once a second unless forced. */
static void refresh(int force)
{
    pthread_mutex_lock(&g_check);
    double now = now_monotonic();
    if (!g.loaded || g.from_env || (!force && now - g.checked < 1.0)) {
        pthread_mutex_unlock(&g_check);
        return;
    }
    g.checked = now;
    /* g.file and g.seen only change under g_check, which we hold */
    struct stat st;
    if (stat(g.file, &st) != 0 || same_file(&st, &g.seen)) {
        pthread_mutex_unlock(&g_check);
        return;
    }
    struct ring r = {0};
    char err[600];
    if (load_file(g.file, &r, &st, err, sizeof err) != 0) {
        log_warn("keys: keeping the keys already loaded: %s", err);
        g.seen = st; /* do not complain again until it changes again */
        pthread_mutex_unlock(&g_check);
        return;
    }
    pthread_rwlock_wrlock(&g_rw);
    int before = g.ring.n ? g.ring.k[0].version : 0;
    ring_free(&g.ring);
    g.ring = r;
    g.seen = st;
    int after = g.ring.k[0].version;
    pthread_rwlock_unlock(&g_rw);
    pthread_mutex_unlock(&g_check);
    if (after != before) log_info("keys: %s reloaded, current key version %d", g.file, after);
}

/* With the read lock held: the key of a version, or NULL. */
static const struct keyent *find(int version)
{
    for (int i = 0; i < g.ring.n; i++)
        if (g.ring.k[i].version == version) return &g.ring.k[i];
    return NULL;
}

int keys_current_version(void)
{
    refresh(0);
    pthread_rwlock_rdlock(&g_rw);
    int v = g.ring.n ? g.ring.k[0].version : 0;
    pthread_rwlock_unlock(&g_rw);
    return v;
}

int keys_versions(int *out, int max)
{
    refresh(0);
    pthread_rwlock_rdlock(&g_rw);
    int n = 0;
    for (; n < g.ring.n && n < max; n++) out[n] = g.ring.k[n].version;
    pthread_rwlock_unlock(&g_rw);
    return n;
}

const char *keys_source(void)
{
    pthread_rwlock_rdlock(&g_rw);
    const char *s = !g.loaded ? "(not loaded)" : g.from_env ? ENV_KEYS : g.file;
    pthread_rwlock_unlock(&g_rw);
    return s;
}

/* ---- sealing ---- */

char *keys_seal(const char *plain)
{
    if (!plain) return NULL;
    refresh(0);
    char *out = NULL;
    pthread_rwlock_rdlock(&g_rw);
    if (g.ring.n && crypto_seal(g.ring.k[0].key, g.ring.k[0].version, plain, strlen(plain), &out) != 0)
        out = NULL;
    pthread_rwlock_unlock(&g_rw);
    return out;
}

char *keys_open(const char *sealed)
{
    int version;
    if (!sealed || crypto_seal_keyver(sealed, &version) != 0) return NULL;
    refresh(0);
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&g_rw);
        const struct keyent *k = find(version);
        void *plain = NULL;
        size_t len = 0;
        int rc = k ? crypto_open(k->key, sealed, &plain, &len, NULL) : -1;
        pthread_rwlock_unlock(&g_rw);
        if (k) return rc == 0 ? plain : NULL;
        if (attempt == 0) refresh(1); /* a version we do not know: perhaps just added by a rotation */
    }
    return NULL;
}

/* ---- blind indexes and MACs ---- */

/* tag = "<version>:" hex(HMAC-SM3(HMAC-SM3(master, label), data)) */
static int tag_with(const struct keyent *k, const char *label, const void *data, size_t len,
                    char out[KEYS_TAG_MAX])
{
    unsigned char sub[SM3_DIGEST_LEN], mac[SM3_DIGEST_LEN];
    int rc = crypto_hmac_sm3(k->key, sizeof k->key, label, strlen(label), sub);
    if (rc == 0) rc = crypto_hmac_sm3(sub, sizeof sub, data, len, mac);
    crypto_wipe(sub, sizeof sub);
    if (rc != 0) return -1;
    int n = snprintf(out, KEYS_TAG_MAX, "%d:", k->version);
    hex_encode(mac, sizeof mac, out + n);
    return 0;
}

static int label_of(char *label, size_t len, const char *purpose, const char *what)
{
    if (!what || !*what) return -1;
    int n = snprintf(label, len, "ehall %s %s", purpose, what);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int keys_blind_index(const char *kind, const char *value, char out[KEYS_TAG_MAX])
{
    char label[128];
    if (!value || label_of(label, sizeof label, "bidx", kind) != 0) return -1;
    refresh(0);
    pthread_rwlock_rdlock(&g_rw);
    int rc = g.ring.n ? tag_with(&g.ring.k[0], label, value, strlen(value), out) : -1;
    pthread_rwlock_unlock(&g_rw);
    return rc;
}

int keys_blind_indexes(const char *kind, const char *value, char out[][KEYS_TAG_MAX], int max)
{
    char label[128];
    if (!value || label_of(label, sizeof label, "bidx", kind) != 0) return -1;
    refresh(0);
    pthread_rwlock_rdlock(&g_rw);
    int n = 0;
    for (; n < g.ring.n && n < max; n++)
        if (tag_with(&g.ring.k[n], label, value, strlen(value), out[n]) != 0) {
            n = -1;
            break;
        }
    pthread_rwlock_unlock(&g_rw);
    return n;
}

/* The canonical text of a row, in a malloc'd buffer: the table name, then for each
 * value 0x1F followed by its bytes, or 0x1F 0x1E for NULL.  Values holding 0x1E or
 * 0x1F are refused, which keeps the encoding injective for a fixed column count. */
static unsigned char *row_text(const char *table, const char *const *values, int n, size_t *len)
{
    if (!table || !*table || n < 0 || (n > 0 && !values)) return NULL;
    size_t total = strlen(table);
    for (int i = 0; i < n; i++) {
        if (!values[i]) {
            total += 2;
            continue;
        }
        if (strchr(values[i], 0x1E) || strchr(values[i], 0x1F)) return NULL;
        total += 1 + strlen(values[i]);
    }
    unsigned char *buf = malloc(total + 1), *p = buf;
    if (!buf) return NULL;
    size_t tl = strlen(table);
    memcpy(p, table, tl);
    p += tl;
    for (int i = 0; i < n; i++) {
        *p++ = 0x1F;
        if (!values[i]) {
            *p++ = 0x1E;
        } else {
            size_t l = strlen(values[i]);
            memcpy(p, values[i], l);
            p += l;
        }
    }
    *len = total;
    return buf;
}

int keys_row_mac(const char *table, const char *const *values, int n, char out[KEYS_TAG_MAX])
{
    char label[128];
    size_t len;
    if (label_of(label, sizeof label, "mac", table) != 0) return -1;
    unsigned char *text = row_text(table, values, n, &len);
    if (!text) return -1;
    refresh(0);
    pthread_rwlock_rdlock(&g_rw);
    int rc = g.ring.n ? tag_with(&g.ring.k[0], label, text, len, out) : -1;
    pthread_rwlock_unlock(&g_rw);
    crypto_wipe(text, len);
    free(text);
    return rc;
}

int keys_row_mac_check(const char *table, const char *const *values, int n, const char *mac)
{
    char label[128], want[KEYS_TAG_MAX];
    size_t len;
    int version;
    const char *e;
    if (!mac || parse_version(mac, &version, &e) != 0 || *e != ':' || strlen(mac) >= KEYS_TAG_MAX) return -1;
    if (label_of(label, sizeof label, "mac", table) != 0) return -1;
    unsigned char *text = row_text(table, values, n, &len);
    if (!text) return -1;
    refresh(0);
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&g_rw);
        const struct keyent *k = find(version);
        int found = k != NULL;
        if (k && tag_with(k, label, text, len, want) == 0)
            rc = strlen(want) == strlen(mac) && crypto_equal(want, mac, strlen(want)) == 0 ? 0 : -1;
        pthread_rwlock_unlock(&g_rw);
        if (found) break;
        if (attempt == 0) refresh(1);
    }
    crypto_wipe(text, len);
    free(text);
    return rc;
}

/* ---- audit key pair ---- */

const char *keys_audit_private_pem(void)
{
    pthread_rwlock_rdlock(&g_rw);
    const char *p = g.audit_priv;
    pthread_rwlock_unlock(&g_rw);
    return p;
}

const char *keys_audit_public_pem(void)
{
    pthread_rwlock_rdlock(&g_rw);
    const char *p = g.audit_pub;
    pthread_rwlock_unlock(&g_rw);
    return p;
}

const char *keys_audit_key_id(void)
{
    pthread_rwlock_rdlock(&g_rw);
    const char *p = g.audit_id[0] ? g.audit_id : NULL;
    pthread_rwlock_unlock(&g_rw);
    return p;
}

/* ---- adding a version (used by rotation) ---- */

int keys_add_version(const struct config *cfg, int *new_version, char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&g_rw);
    int loaded = g.loaded, from_env = g.from_env;
    pthread_rwlock_unlock(&g_rw);
    if (!loaded && keys_init(cfg, err, errlen) != 0) return -1;
    if (from_env || (!loaded && getenv(ENV_KEYS) && *getenv(ENV_KEYS))) {
        snprintf(
            err, errlen,
            "the keys come from %s: add the new version there (\"...,N:<64 hex>\") and restart, then run "
            "`ehall keys rotate` again to re-seal",
            ENV_KEYS);
        return -1;
    }
    char file[1024], dir[1024];
    pthread_rwlock_rdlock(&g_rw);
    snprintf(file, sizeof file, "%s", g.file);
    pthread_rwlock_unlock(&g_rw);
    dir_of(file, dir, sizeof dir);
    int lk = lock_dir(dir, err, errlen);
    if (lk < 0) return -1;
    char *text = NULL;
    struct stat st;
    struct ring r = {0};
    int rc = read_private(file, &text, &st, err, errlen);
    if (rc == -2) snprintf(err, errlen, "%s: does not exist", file);
    if (rc == 0) rc = parse_file_text(text, file, &r, err, errlen);
    if (rc == 0) {
        int v = r.k[0].version;
        ring_free(&r);
        if (v == INT_MAX) {
            snprintf(err, errlen, "%s: no version left after %d", file, v);
            rc = -1;
        } else {
            size_t len = strlen(text);
            char line[128];
            char *next = malloc(len + sizeof line + 2);
            if (!next || new_key_line(v + 1, line, sizeof line) != 0) {
                snprintf(err, errlen, "out of memory or random bytes");
                rc = -1;
            } else {
                snprintf(next, len + sizeof line + 2, "%s%s%s", text,
                         len && text[len - 1] != '\n' ? "\n" : "", line);
                rc = write_atomic(file, next, 0600, 0, err, errlen);
                if (rc == 0) *new_version = v + 1;
            }
            crypto_wipe(line, sizeof line);
            free_secret_text(next);
        }
    }
    free_secret_text(text);
    unlock_dir(lk);
    if (rc != 0) return -1;
    refresh(1);
    if (keys_current_version() != *new_version) {
        snprintf(err, errlen, "%s: version %d was written but did not load", file, *new_version);
        return -1;
    }
    log_info("keys: added key version %d to %s", *new_version, file);
    return 0;
}
