/*
 * The keyring: sealing, blind indexes and row MACs; the key file's rules (mode,
 * syntax, production, the environment, reloading); rotation on a real store (every
 * value still opens, lookups by the new index work, tampered rows stay visible); the
 * `ehall keys` commands; and display masking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/keys.h"
#include "core/config.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "harness.h"

static char dir[256], db[512], out[16384];
static struct config cfg;

/* A fresh data directory (and database) and a configuration pointing at it. */
static void fresh_cfg(void)
{
    h_fresh(dir, db);
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    snprintf(cfg.db_url, sizeof cfg.db_url, "%s", db);
}

static void init_ok(void)
{
    char err[1024];
    if (keys_init(&cfg, err, sizeof err) != 0) fail_msg("keys_init: %s", err);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void key_path(char *buf, size_t len) { snprintf(buf, len, "%s/keys/ehall.keys", dir); }

#define HEX1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HEX2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define HEX3 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void seal_open_round_trip(void **state)
{
    (void)state;
    fresh_cfg();
    init_ok();
    assert_int_equal(keys_current_version(), 1);
    char path[300];
    key_path(path, sizeof path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    const char *texts[] = {"张三", "", "110105194912310021",
                           "a much longer value, with commas, \"quotes\" and ü"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        char *sealed = keys_seal(texts[i]);
        assert_non_null(sealed);
        assert_true(str_has_prefix(sealed, "v1.1."));
        assert_null(strstr(sealed, texts[i][0] ? texts[i] : "\x01"));
        char *plain = keys_open(sealed);
        assert_non_null(plain);
        assert_string_equal(plain, texts[i]);
        free(plain);
        /* any change is refused */
        size_t n = strlen(sealed);
        for (size_t at = 5; at < n; at += 7) {
            char saved = sealed[at];
            sealed[at] = sealed[at] == 'A' ? 'B' : 'A';
            assert_null(keys_open(sealed));
            sealed[at] = saved;
        }
        sealed[n - 1] = 0;
        assert_null(keys_open(sealed));
        free(sealed);
    }
    assert_null(keys_seal(NULL));
    assert_null(keys_open(NULL));
    assert_null(keys_open("v1.7.AAAA")); /* a version nobody has */
    assert_null(keys_open("garbage"));
    /* the audit key pair exists, with its id */
    assert_non_null(keys_audit_private_pem());
    assert_non_null(strstr(keys_audit_public_pem(), "BEGIN PUBLIC KEY"));
    assert_int_equal(strlen(keys_audit_key_id()), 16);
    snprintf(path, sizeof path, "%s/keys/audit-sm2.pem", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a second init reads the same keys */
    char *sealed = keys_seal("again");
    char id[17];
    snprintf(id, sizeof id, "%s", keys_audit_key_id());
    keys_shutdown();
    assert_null(keys_audit_public_pem());
    init_ok();
    char *plain = keys_open(sealed);
    assert_string_equal(plain, "again");
    assert_string_equal(keys_audit_key_id(), id);
    free(plain);
    free(sealed);
    keys_shutdown();
}

static void blind_indexes(void **state)
{
    (void)state;
    fresh_cfg();
    init_ok();
    char a[KEYS_TAG_MAX], b[KEYS_TAG_MAX], c[KEYS_TAG_MAX];
    assert_int_equal(keys_blind_index("id_number", "11010519491231002X", a), 0);
    assert_int_equal(keys_blind_index("id_number", "11010519491231002X", b), 0);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 2 + 64);
    assert_true(str_has_prefix(a, "1:"));
    assert_int_equal(keys_blind_index("id_number", "110105194912310021", c), 0);
    assert_string_not_equal(a, c);
    /* kinds are separate index spaces */
    assert_int_equal(keys_blind_index("mobile", "11010519491231002X", c), 0);
    assert_string_not_equal(a, c);
    assert_int_not_equal(keys_blind_index("", "x", c), 0);
    assert_int_not_equal(keys_blind_index("mobile", NULL, c), 0);
    char many[4][KEYS_TAG_MAX];
    assert_int_equal(keys_blind_indexes("id_number", "11010519491231002X", many, 4), 1);
    assert_string_equal(many[0], a);
    keys_shutdown();
}

static void row_macs(void **state)
{
    (void)state;
    fresh_cfg();
    init_ok();
    char mac[KEYS_TAG_MAX];
    const char *v[] = {"7", "3", "own", NULL, "2024-01-01"};
    assert_int_equal(keys_row_mac("agent_grant", v, 5, mac), 0);
    assert_true(str_has_prefix(mac, "1:"));
    assert_int_equal(keys_row_mac_check("agent_grant", v, 5, mac), 0);
    /* NULL is not "" */
    const char *empty[] = {"7", "3", "own", "", "2024-01-01"};
    assert_int_not_equal(keys_row_mac_check("agent_grant", empty, 5, mac), 0);
    /* a changed value, another table, a shifted boundary, a missing column */
    const char *changed[] = {"7", "3", "all", NULL, "2024-01-01"};
    assert_int_not_equal(keys_row_mac_check("agent_grant", changed, 5, mac), 0);
    assert_int_not_equal(keys_row_mac_check("session", v, 5, mac), 0);
    const char *shifted[] = {"73", "", "own", NULL, "2024-01-01"};
    assert_int_not_equal(keys_row_mac_check("agent_grant", shifted, 5, mac), 0);
    assert_int_not_equal(keys_row_mac_check("agent_grant", v, 4, mac), 0);
    /* a changed MAC, a malformed one */
    char bad[KEYS_TAG_MAX];
    snprintf(bad, sizeof bad, "%s", mac);
    bad[10] = bad[10] == '0' ? '1' : '0';
    assert_int_not_equal(keys_row_mac_check("agent_grant", v, 5, bad), 0);
    assert_int_not_equal(keys_row_mac_check("agent_grant", v, 5, mac + 2), 0);
    assert_int_not_equal(keys_row_mac_check("agent_grant", v, 5, "9:00"), 0);
    assert_int_not_equal(keys_row_mac_check("agent_grant", v, 5, NULL), 0);
    /* the separator bytes are refused inside values */
    const char *sep[] = {"a\x1f"
                         "b"};
    assert_int_not_equal(keys_row_mac("role", sep, 1, bad), 0);
    /* the canonical text, recomputed here by hand: HMAC-SM3(HMAC-SM3(master, "ehall mac role"),
     * "role" 1F "admin" 1F "all" 1F 1E) */
    keys_shutdown();
    char path[300];
    snprintf(path, sizeof path, "%s/keys", dir);
    mkdir(path, 0700);
    key_path(path, sizeof path);
    write_file(path, "1 " HEX1 "\n", 0600);
    init_ok();
    const char *rv[] = {"admin", "all", NULL};
    assert_int_equal(keys_row_mac("role", rv, 3, mac), 0);
    unsigned char master[32], sub[32], d[32];
    assert_int_equal(hex_decode(HEX1, 32, master), 0);
    assert_int_equal(crypto_hmac_sm3(master, 32, "ehall mac role", 14, sub), 0);
    assert_int_equal(crypto_hmac_sm3(sub, 32,
                                     "role\x1f"
                                     "admin\x1f"
                                     "all\x1f\x1e",
                                     16, d),
                     0);
    char want[KEYS_TAG_MAX] = "1:";
    hex_encode(d, 32, want + 2);
    assert_string_equal(mac, want);
    /* and the blind index likewise */
    assert_int_equal(crypto_hmac_sm3(master, 32, "ehall bidx mobile", 17, sub), 0);
    assert_int_equal(crypto_hmac_sm3(sub, 32, "13812345678", 11, d), 0);
    hex_encode(d, 32, want + 2);
    assert_int_equal(keys_blind_index("mobile", "13812345678", mac), 0);
    assert_string_equal(mac, want);
    keys_shutdown();
}

static void init_fails(const char *why_part)
{
    char err[1024] = "";
    assert_int_not_equal(keys_init(&cfg, err, sizeof err), 0);
    if (!strstr(err, why_part)) fail_msg("error \"%s\" does not mention \"%s\"", err, why_part);
    assert_null(strstr(err, HEX1));
    assert_null(strstr(err, HEX2));
}

static void key_file_rules(void **state)
{
    (void)state;
    fresh_cfg();
    char path[300], kdir[300];
    snprintf(kdir, sizeof kdir, "%s/keys", dir);
    assert_int_equal(mkdir(kdir, 0700), 0);
    key_path(path, sizeof path);

    /* readable by group or others: refused, like ssh */
    write_file(path, "1 " HEX1 "\n", 0640);
    init_fails("too open");
    init_fails(path);
    write_file(path, "1 " HEX1 "\n", 0604);
    init_fails("chmod 600");

    struct {
        const char *text, *why;
    } bad[] = {
        {"1 " HEX1 "\nx " HEX2 "\n", ":2: expected"},
        {"# c\n\n1 " HEX1 "00\n", ":3: the key must be exactly 64 hex digits"},
        {"1 " HEX1 "\n2 zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", ":2: the key"},
        {"1 " HEX1 "\n1 " HEX2 "\n", ":2: key version 1 appears twice"},
        {"0 " HEX1 "\n", ":1: expected"},
        {"01 " HEX1 "\n", ":1: expected"},
        {"1 " HEX1 " trailing\n", ":1: the key"},
        {"1" HEX1 "\n", ":1: expected"},
        {"99999999999 " HEX1 "\n", ":1: expected"},
        {"# only a comment\n\n", "holds no key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(path, bad[i].text, 0600);
        init_fails(bad[i].why);
        init_fails(path);
    }

    /* comments, blank lines, blanks and upper-case hex are fine; the highest is current */
    write_file(path,
               "# ehall keys\n\n  1 " HEX1 "\n\t# old\n3\t" HEX3 "  \r\n2 "
               "FFEEDDCCBBAA99887766554433221100FFEEDDCCBBAA99887766554433221100\n",
               0600);
    init_ok();
    assert_int_equal(keys_current_version(), 3);
    int v[8];
    assert_int_equal(keys_versions(v, 8), 3);
    assert_int_equal(v[0], 3);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 1);
    /* a value sealed elsewhere with version 2's key opens here */
    unsigned char k2[32];
    assert_int_equal(hex_decode(HEX2, 32, k2), 0);
    char *sealed = NULL;
    assert_int_equal(crypto_seal(k2, 2, "from v2", 7, &sealed), 0);
    char *plain = keys_open(sealed);
    assert_non_null(plain);
    assert_string_equal(plain, "from v2");
    free(plain);
    free(sealed);
    keys_shutdown();
}

static void environment_overrides_file(void **state)
{
    (void)state;
    fresh_cfg();
    char path[300], apath[300];
    setenv("EHALL_MASTER_KEYS", "1:" HEX1 ", 4:" HEX3, 1);
    snprintf(apath, sizeof apath, "%s/elsewhere/audit.pem", dir);
    setenv("EHALL_AUDIT_KEY_FILE", apath, 1);
    init_ok();
    assert_int_equal(keys_current_version(), 4);
    assert_string_equal(keys_source(), "EHALL_MASTER_KEYS");
    key_path(path, sizeof path);
    assert_int_not_equal(access(path, F_OK), 0); /* no key file made */
    assert_int_equal(access(apath, F_OK), 0);    /* the audit pair where it was told */
    snprintf(path, sizeof path, "%s/elsewhere/audit.pub.pem", dir);
    assert_int_equal(access(path, F_OK), 0);
    char *sealed = keys_seal("env");
    assert_true(str_has_prefix(sealed, "v1.4."));
    unsigned char k3[32];
    assert_int_equal(hex_decode(HEX3, 32, k3), 0);
    void *plain = NULL;
    size_t len = 0;
    assert_int_equal(crypto_open(k3, sealed, &plain, &len, NULL), 0);
    assert_string_equal(plain, "env");
    free(plain);
    free(sealed);
    /* adding a version is refused: it belongs in the environment */
    int nv = 0;
    char err[512];
    assert_int_not_equal(keys_add_version(&cfg, &nv, err, sizeof err), 0);
    assert_non_null(strstr(err, "EHALL_MASTER_KEYS"));
    keys_shutdown();

    const char *bad[] = {"1:" HEX1 ",1:" HEX2, "1=" HEX1, "1:abc", "1:" HEX1 ",", "x:" HEX1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("EHALL_MASTER_KEYS", bad[i], 1);
        init_fails("EHALL_MASTER_KEYS: entry");
    }
    unsetenv("EHALL_MASTER_KEYS");
    unsetenv("EHALL_AUDIT_KEY_FILE");
}

static void production_needs_keys(void **state)
{
    (void)state;
    fresh_cfg();
    cfg.production = 1;
    init_fails("production");
    char path[300], kdir[300];
    key_path(path, sizeof path);
    assert_int_not_equal(access(path, F_OK), 0);
    /* the master key alone is not enough: the audit signing key must exist too */
    snprintf(kdir, sizeof kdir, "%s/keys", dir);
    assert_int_equal(mkdir(kdir, 0700), 0);
    write_file(path, "1 " HEX1 "\n", 0600);
    init_fails("audit signing key is missing");
    /* made outside production, then used in production */
    cfg.production = 0;
    init_ok();
    keys_shutdown();
    cfg.production = 1;
    init_ok();
    assert_int_equal(keys_current_version(), 1);
    keys_shutdown();
    /* the environment is fine in production, with the pair beside the data */
    setenv("EHALL_MASTER_KEYS", "2:" HEX2, 1);
    init_ok();
    assert_int_equal(keys_current_version(), 2);
    keys_shutdown();
    unsetenv("EHALL_MASTER_KEYS");
}

static void reload_picks_up_new_version(void **state)
{
    (void)state;
    fresh_cfg();
    char path[300], kdir[300];
    snprintf(kdir, sizeof kdir, "%s/keys", dir);
    assert_int_equal(mkdir(kdir, 0700), 0);
    key_path(path, sizeof path);
    write_file(path, "1 " HEX1 "\n", 0600);
    init_ok();
    assert_int_equal(keys_current_version(), 1);
    /* another process appends version 2 */
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs("2 " HEX2 "\n", f);
    fclose(f);
    /* a value of the unknown version makes the keyring look at once */
    unsigned char k2[32];
    assert_int_equal(hex_decode(HEX2, 32, k2), 0);
    char *sealed = NULL;
    assert_int_equal(crypto_seal(k2, 2, "new", 3, &sealed), 0);
    char *plain = keys_open(sealed);
    assert_non_null(plain);
    assert_string_equal(plain, "new");
    free(plain);
    free(sealed);
    assert_int_equal(keys_current_version(), 2);
    /* and without one, within about a second */
    f = fopen(path, "a");
    fputs("3 " HEX3 "\n", f);
    fclose(f);
    usleep(1100 * 1000);
    assert_int_equal(keys_current_version(), 3);
    /* a broken file does not take the loaded keys away */
    write_file(path, "garbage\n", 0600);
    usleep(1100 * 1000);
    assert_int_equal(keys_current_version(), 3);
    /* keys_add_version appends after the highest */
    write_file(path, "1 " HEX1 "\n2 " HEX2 "\n3 " HEX3 "\n", 0600);
    int nv = 0;
    char err[512];
    assert_int_equal(keys_add_version(&cfg, &nv, err, sizeof err), 0);
    assert_int_equal(nv, 4);
    assert_int_equal(keys_current_version(), 4);
    char *text = h_slurp(path);
    assert_non_null(strstr(text, "3 " HEX3 "\n4 "));
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    keys_shutdown();
}

/* ---- rotation on a store ---- */

static store *open_store(void)
{
    char err[512];
    struct store_options o = {4, 5000, 10000};
    store *s = NULL;
    assert_int_equal(store_open(db, &o, &s, err, sizeof err), STORE_OK);
    assert_int_equal(store_migrate(s, err, sizeof err), STORE_OK);
    return s;
}

struct sql_job {
    const char *sql;
    const char *p[12];
    int n;
};

static int run_sql(store_conn *c, void *arg)
{
    struct sql_job *j = arg;
    store_stmt *st = store_prepare(c, j->sql);
    if (!st) return STORE_ERROR;
    for (int i = 0; i < j->n; i++) store_bind_text(st, i + 1, j->p[i]);
    int rc = store_step(st);
    store_finalize(st);
    return rc == STORE_DONE ? STORE_OK : rc;
}

static void sql(store *s, const char *text, int n, ...)
{
    struct sql_job j = {text, {0}, n};
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) j.p[i] = va_arg(ap, const char *);
    va_end(ap);
    int rc = store_tx(s, 1, run_sql, &j);
    if (rc != STORE_OK) fail_msg("%s: %d", text, rc);
}

/* The first column of the first row as a malloc'd string (NULL for none / SQL NULL). */
struct q1 {
    const char *sql, *p;
    char *v;
};
static int q1_tx(store_conn *c, void *arg)
{
    struct q1 *q = arg;
    store_stmt *st = store_prepare(c, q->sql);
    if (!st) return STORE_ERROR;
    if (q->p) store_bind_text(st, 1, q->p);
    int rc = store_step(st);
    free(q->v);
    q->v = rc == STORE_ROW && store_column_text(st, 0) ? strdup(store_column_text(st, 0)) : NULL;
    store_finalize(st);
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}
static char *query1(store *s, const char *text, const char *p)
{
    struct q1 q = {text, p, NULL};
    assert_int_equal(store_tx(s, 0, q1_tx, &q), STORE_OK);
    return q.v;
}

/* keys_seal("<before><i><after>") */
static char *sealed_num(const char *before, int i, const char *after)
{
    char plain[96];
    snprintf(plain, sizeof plain, "%s%d%s", before, i, after);
    char *v = keys_seal(plain);
    assert_non_null(v);
    return v;
}

#define NACCOUNTS 230 /* more than one batch */

static void id_number_of(int i, char *buf, size_t len) { snprintf(buf, len, "1101051990%08d", i); }

static void fill_store(store *s)
{
    for (int i = 1; i <= NACCOUNTS; i++) {
        char login[32], idn[32], mobile[32], bidx_id[KEYS_TAG_MAX], bidx_mob[KEYS_TAG_MAX];
        snprintf(login, sizeof login, "user%d", i);
        id_number_of(i, idn, sizeof idn);
        snprintf(mobile, sizeof mobile, "138%08d", i);
        assert_int_equal(keys_blind_index("id_number", idn, bidx_id), 0);
        assert_int_equal(keys_blind_index("mobile", mobile, bidx_mob), 0);
        char *name = sealed_num("张", i, ""), *id_enc = keys_seal(idn), *mob_enc = keys_seal(mobile);
        char *addr = i % 3 ? sealed_num("北京市朝阳区建国路", i, "号") : NULL;
        char *totp = i % 5 == 0 ? sealed_num("totp-secret-", i, "") : NULL;
        sql(s,
            "INSERT INTO account(login, kind, password_hash, password_changed_at, name_enc, id_number_enc,"
            " id_number_bidx, mobile_enc, mobile_bidx, address_enc, totp_enc, created_at)"
            " VALUES ($1, 'person', 'x', 0, $2, $3, $4, $5, $6, $7, $8, '2024-01-01')",
            8, login, name, id_enc, bidx_id, mob_enc, bidx_mob, addr, totp);
        free(name);
        free(id_enc);
        free(mob_enc);
        free(addr);
        free(totp);
    }
    char *rep = keys_seal("李四");
    sql(s,
        "INSERT INTO enterprise(uscc, name, legal_rep_enc, created_at) VALUES ('91350100M000100Y43', 'Acme', "
        "$1, 'x')",
        1, rep);
    free(rep);
    for (int i = 1; i <= 3; i++) {
        char mobile[32], b[KEYS_TAG_MAX];
        snprintf(mobile, sizeof mobile, "139%08d", i);
        assert_int_equal(keys_blind_index("mobile", mobile, b), 0);
        char *m = keys_seal(mobile), *body = sealed_num("your code is ", 1000 + i, "");
        sql(s,
            "INSERT INTO sms_outbox(mobile_enc, body_enc, mobile_bidx, purpose, created_at) VALUES ($1, $2, "
            "$3, 'otp', 'x')",
            3, m, body, b);
        free(m);
        free(body);
    }
    const char *roles[][3] = {{"clerk", "dept", ",case.read,case.accept,"},
                              {"chief", "subtree", ",case.read,case.approve,"},
                              {"viewer", "own", ",case.read,"}};
    for (int i = 0; i < 3; i++) {
        char mac[KEYS_TAG_MAX];
        assert_int_equal(keys_row_mac("role", roles[i], 3, mac), 0);
        sql(s, "INSERT INTO role(code, name, scope, perms, mac, updated_at) VALUES ($1, $1, $2, $3, $4, 'x')",
            4, roles[i][0], roles[i][1], roles[i][2], mac);
    }
    char mac[KEYS_TAG_MAX];
    assert_int_equal(keys_row_mac("account_role", (const char *[]){"1", "2"}, 2, mac), 0);
    sql(s, "INSERT INTO account_role(account_id, role_id, granted_at, mac) VALUES (1, 2, 'x', $1)", 1, mac);
    assert_int_equal(keys_row_mac("account_role", (const char *[]){"2", "1"}, 2, mac), 0);
    sql(s, "INSERT INTO account_role(account_id, role_id, granted_at, mac) VALUES (2, 1, 'x', $1)", 1, mac);
    assert_int_equal(keys_row_mac("enterprise_member", (const char *[]){"3", "1", "1", ",all,"}, 4, mac), 0);
    sql(s,
        "INSERT INTO enterprise_member(account_id, enterprise_id, admin, perms, mac) VALUES (3, 1, 1, "
        "',all,', $1)",
        1, mac);
    assert_int_equal(
        keys_row_mac("agent_grant", (const char *[]){"1", "1", "4", "a,b", "100", "200", NULL}, 7, mac), 0);
    sql(s,
        "INSERT INTO agent_grant(enterprise_id, agent_id, items, valid_from, valid_to, created_by, "
        "created_at, mac)"
        " VALUES (1, 4, 'a,b', 100, 200, 1, 'x', $1)",
        1, mac);
    assert_int_equal(keys_row_mac("session",
                                  (const char *[]){"abc", "5", "full", ",p,", "own", NULL, NULL, "999"}, 8,
                                  mac),
                     0);
    sql(s,
        "INSERT INTO session(id_hash, account_id, stage, csrf, created_ms, last_seen, expires_at, perms, "
        "scope, mac)"
        " VALUES ('abc', 5, 'full', 'c', 1, 1, 999, ',p,', 'own', $1)",
        1, mac);
}

static void check_values(store *s, const char *want_prefix)
{
    for (int i = 1; i <= NACCOUNTS; i += 7) {
        char id[16], want[96], idn[32];
        snprintf(id, sizeof id, "%d", i);
        char *v = query1(s, "SELECT name_enc FROM account WHERE id = $1", id);
        assert_true(str_has_prefix(v, want_prefix));
        char *p = keys_open(v);
        snprintf(want, sizeof want, "张%d", i);
        assert_string_equal(p, want);
        free(p);
        free(v);
        v = query1(s, "SELECT address_enc FROM account WHERE id = $1", id);
        if (i % 3) {
            p = keys_open(v);
            snprintf(want, sizeof want, "北京市朝阳区建国路%d号", i);
            assert_string_equal(p, want);
            free(p);
        } else {
            assert_null(v);
        }
        free(v);
        /* found by the current blind index */
        id_number_of(i, idn, sizeof idn);
        char b[KEYS_TAG_MAX];
        assert_int_equal(keys_blind_index("id_number", idn, b), 0);
        v = query1(s, "SELECT id FROM account WHERE id_number_bidx = $1", b);
        assert_non_null(v);
        assert_string_equal(v, id);
        free(v);
    }
    char *v = query1(s, "SELECT legal_rep_enc FROM enterprise", NULL);
    char *p = keys_open(v);
    assert_string_equal(p, "李四");
    free(p);
    free(v);
    v = query1(s, "SELECT body_enc FROM sms_outbox WHERE id = 2", NULL);
    p = keys_open(v);
    assert_string_equal(p, "your code is 1002");
    free(p);
    free(v);
    char b[KEYS_TAG_MAX];
    assert_int_equal(keys_blind_index("mobile", "13900000003", b), 0);
    v = query1(s, "SELECT id FROM sms_outbox WHERE mobile_bidx = $1", b);
    assert_string_equal(v, "3");
    free(v);
}

static void rotation_reseals_everything(void **state)
{
    (void)state;
    fresh_cfg();
    init_ok();
    store *s = open_store();
    fill_store(s);
    long long stale = -1;
    assert_int_equal(keys_stale_rows(s, &stale), 0);
    assert_int_equal(stale, 0);

    int nv = 0;
    char err[512];
    assert_int_equal(keys_add_version(&cfg, &nv, err, sizeof err), 0);
    assert_int_equal(nv, 2);
    assert_int_equal(keys_stale_rows(s, &stale), 0);
    assert_int_equal(stale, NACCOUNTS + 1 + 3 + 3 + 2 + 1 + 1 + 1);
    /* while the rotation is under way, the old index still finds the row */
    char many[4][KEYS_TAG_MAX];
    assert_int_equal(keys_blind_indexes("mobile", "13800000009", many, 4), 2);
    assert_true(str_has_prefix(many[0], "2:") && str_has_prefix(many[1], "1:"));
    char *v = query1(s, "SELECT id FROM account WHERE mobile_bidx = $1", many[1]);
    assert_string_equal(v, "9");
    free(v);

    struct keys_reseal_report rep;
    assert_int_equal(keys_reseal_report(s, &rep, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(rep.resealed, NACCOUNTS + 1 + 3);
    assert_int_equal(rep.remaced, 3 + 2 + 1 + 1 + 1);
    assert_int_equal(rep.tampered, 0);
    assert_int_equal(keys_stale_rows(s, &stale), 0);
    assert_int_equal(stale, 0);
    struct keys_stale_col cols[32];
    int n = keys_stale_columns(s, cols, 32);
    assert_int_equal(
        n,
        25); /* every sealed, index and MAC column: cert_key, licences, gateway apps and taxpayers included */
    for (int i = 0; i < n; i++) assert_int_equal(cols[i].rows, 0);
    check_values(s, "v1.2.");
    v = query1(s, "SELECT mac FROM session", NULL);
    assert_true(str_has_prefix(v, "2:"));
    free(v);
    long long done = -1;
    assert_int_equal(keys_reseal(s, &done, err, sizeof err), 0);
    assert_int_equal(done, 0);

    /* someone changes a role behind ehall's back; the next rotation leaves it alone */
    sql(s, "UPDATE role SET perms = ',case.read,case.approve,audit.export,' WHERE code = 'chief'", 0);
    long long tampered = -1;
    assert_int_equal(keys_tampered_rows(s, &tampered), 0);
    assert_int_equal(tampered, 1);
    assert_int_equal(keys_add_version(&cfg, &nv, err, sizeof err), 0);
    assert_int_equal(nv, 3);
    assert_int_equal(keys_reseal_report(s, &rep, NULL, NULL, err, sizeof err), 1);
    assert_int_equal(rep.tampered, 1);
    assert_int_equal(rep.remaced, 3 + 2 + 1 + 1 + 1 - 1);
    assert_int_equal(keys_stale_rows(s, &stale), 0);
    assert_int_equal(stale, 1); /* the tampered row, still on version 2 */
    char *mac = query1(s, "SELECT mac FROM role WHERE code = 'chief'", NULL);
    assert_true(str_has_prefix(mac, "2:"));
    const char *chief[] = {"chief", "subtree", ",case.read,case.approve,audit.export,"};
    assert_int_not_equal(keys_row_mac_check("role", chief, 3, mac), 0);
    free(mac);
    assert_int_equal(keys_tampered_rows(s, &tampered), 0);
    assert_int_equal(tampered, 1);
    check_values(s, "v1.3.");
    /* keys_reseal says so too */
    assert_int_equal(keys_reseal(s, &done, err, sizeof err), 1);
    assert_non_null(strstr(err, "1 rows with a MAC that does not verify"));
    store_close(s);
    keys_shutdown();
}

/* ---- the CLI ---- */

static void assert_no_key_material(const char *text)
{
    char path[300];
    key_path(path, sizeof path);
    char *keys = h_slurp(path);
    assert_non_null(keys);
    for (char *line = strtok(keys, "\n"); line; line = strtok(NULL, "\n")) {
        char *sp = strchr(line, ' ');
        if (line[0] == '#' || !sp) continue;
        if (strstr(text, sp + 1)) fail_msg("key material printed: %s", text);
    }
    free(keys);
    assert_null(strstr(text, "PRIVATE KEY"));
}

static void cli_rotate_and_status(void **state)
{
    (void)state;
    fresh_cfg();
    init_ok();
    store *s = open_store();
    fill_store(s);
    store_close(s);
    keys_shutdown();

    const char *status[] = {"keys", "status", NULL}, *rotate[] = {"keys", "rotate", NULL};
    assert_int_equal(h_cli(dir, db, status, out, sizeof out), 0);
    assert_non_null(strstr(out, "current version:    1"));
    assert_non_null(strstr(out, "rows on older versions: 0"));
    assert_no_key_material(out);

    /* with a server running on the same database */
    struct srv srv;
    assert_int_equal(h_start(&srv, dir, db, NULL), 0);
    assert_int_equal(h_cli(dir, db, rotate, out, sizeof out), 0);
    struct resp r;
    assert_int_equal(h_http(&srv, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    h_resp_free(&r);
    assert_int_equal(h_stop(&srv), 0);
    assert_non_null(strstr(out, "added key version 2"));
    assert_non_null(strstr(out, "account "));
    assert_non_null(strstr(out, "re-sealed 234 rows, re-MACed 8 rows"));
    assert_non_null(strstr(out, "rows still on older versions: 0"));
    assert_no_key_material(out);

    assert_int_equal(h_cli(dir, db, status, out, sizeof out), 0);
    assert_non_null(strstr(out, "current version:    2"));
    assert_non_null(strstr(out, "known versions:     2 1"));
    assert_non_null(strstr(out, "rows whose MAC does not verify: 0"));

    /* a tampered MAC row: reported, left alone, exit status 1 */
    init_ok();
    s = open_store();
    sql(s, "UPDATE enterprise_member SET admin = 0", 0);
    store_close(s);
    keys_shutdown();
    assert_int_equal(h_cli(dir, db, rotate, out, sizeof out), 1);
    assert_non_null(strstr(out, "added key version 3"));
    assert_non_null(strstr(out, "1 rows have a MAC that does not verify"));
    assert_int_equal(h_cli(dir, db, status, out, sizeof out), 0);
    assert_non_null(strstr(out, "enterprise_member.mac            1"));
    assert_non_null(strstr(out, "rows whose MAC does not verify: 1"));

    /* every rotation is in the audit chain */
    init_ok();
    s = open_store();
    char *n = query1(s, "SELECT COUNT(*) FROM audit_log WHERE action = 'keys.rotate'", NULL);
    assert_string_equal(n, "2");
    free(n);
    n = query1(s, "SELECT details FROM audit_log WHERE action = 'keys.rotate' AND result = 'partial'", NULL);
    assert_non_null(n);
    assert_non_null(strstr(n, "\"tampered\":1"));
    free(n);
    store_close(s);
    keys_shutdown();
    const char *verify[] = {"audit", "verify", NULL};
    assert_int_equal(h_cli(dir, db, verify, out, sizeof out), 0);
    const char *bad[] = {"keys", "spin", NULL};
    assert_int_equal(h_cli(dir, db, bad, out, sizeof out), 2);
}

/* ---- masking ---- */

static void masking(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(auth_mask_id_number("11010519491231002X", buf, sizeof buf), 0);
    assert_string_equal(buf, "110105********002X");
    assert_int_equal(auth_mask_mobile("13812345678", buf, sizeof buf), 0);
    assert_string_equal(buf, "138****5678");
    assert_int_equal(auth_mask_mobile("+8613812345678", buf, sizeof buf), 0);
    assert_string_equal(buf, "+86*******5678");
    assert_int_equal(auth_mask_name("张三丰", buf, sizeof buf), 0);
    assert_string_equal(buf, "张**");
    assert_int_equal(auth_mask_name("张三", buf, sizeof buf), 0);
    assert_string_equal(buf, "张*");
    assert_int_equal(auth_mask_name("欧阳娜娜", buf, sizeof buf), 0);
    assert_string_equal(buf, "欧***");
    assert_int_equal(auth_mask_name("王", buf, sizeof buf), 0);
    assert_string_equal(buf, "*");
    assert_int_equal(auth_mask_name("Li Lei", buf, sizeof buf), 0);
    assert_string_equal(buf, "L*****");
    assert_int_equal(auth_mask_address("北京市朝阳区建国路88号", buf, sizeof buf), 0);
    assert_string_equal(buf, "北京市朝阳区****");
    assert_int_equal(auth_mask_uscc("91350100M000100Y43", buf, sizeof buf), 0);
    assert_string_equal(buf, "913501********0Y43");
    /* odd input: masked whole */
    assert_int_equal(auth_mask_id_number("1101", buf, sizeof buf), 0);
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_id_number("110105\xe5\xbc\xa0"
                                         "1949123100",
                                         buf, sizeof buf),
                     0);
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_mobile("138-1234-5678", buf, sizeof buf), 0);
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_mobile("1234", buf, sizeof buf), 0);
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_name("\xe5\xbc", buf, sizeof buf), 0); /* truncated UTF-8 */
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_name("\xc0\xaf"
                                    "abc",
                                    buf, sizeof buf),
                     0); /* overlong */
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_name("a\nb", buf, sizeof buf), 0);
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_address("北京市", buf, sizeof buf), 0);
    assert_string_equal(buf, "****");
    assert_int_equal(auth_mask_name(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(auth_mask_name("", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    /* a buffer too small never gets a partial value */
    char small[6];
    assert_int_equal(auth_mask_id_number("11010519491231002X", small, sizeof small), -1);
    assert_string_equal(small, "****");
    assert_int_equal(auth_mask_address("北京市朝阳区建国路88号", small, sizeof small), -1);
    assert_string_equal(small, "****");
    char tiny[3];
    assert_int_equal(auth_mask_mobile("13812345678", tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "**");
    assert_int_equal(auth_mask_mobile("13812345678", NULL, 0), -1);
}

int main(void)
{
    unsetenv("EHALL_MASTER_KEYS");
    unsetenv("EHALL_AUDIT_KEY_FILE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_open_round_trip),
        cmocka_unit_test(blind_indexes),
        cmocka_unit_test(row_macs),
        cmocka_unit_test(key_file_rules),
        cmocka_unit_test(environment_overrides_file),
        cmocka_unit_test(production_needs_keys),
        cmocka_unit_test(reload_picks_up_new_version),
        cmocka_unit_test(rotation_reseals_everything),
        cmocka_unit_test(cli_rotate_and_status),
        cmocka_unit_test(masking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
