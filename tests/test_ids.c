/*
 * GB 11643 and GB 32100 check characters, on the standards' published sample numbers
 * and on every way a number can be wrong; password hashing and policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

static void id_numbers(void **state)
{
    (void)state;
    const char *why = NULL;
    /* GB 11643-1999's own example, and another published sample */
    assert_int_equal(auth_id_number_check("11010519491231002X", &why), 0);
    assert_int_equal(auth_id_number_check("440524188001010014", &why), 0);
    struct {
        const char *s, *why;
    } bad[] = {
        {"110105194912310021", "check character"}, /* wrong check digit */
        {"11010519491231002x", "digit or X"},      /* lower-case x */
        {"11010519491231002", "18 characters"},
        {"1101051949123100211", "18 characters"},
        {"1101051949A231002X", "digits"},
        {"110105194902300027", "real date"}, /* 30 February */
        {"110105190002290020", "real date"}, /* 1900 was not a leap year */
        {"110105299901010011", "future"},
        {"000000194912310020", "region"},
        {"", "18 characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        if (auth_id_number_check(bad[i].s, &why) == 0) fail_msg("%s accepted", bad[i].s);
        assert_non_null(why);
        if (!strstr(why, bad[i].why)) fail_msg("%s: '%s' lacks '%s'", bad[i].s, why, bad[i].why);
    }
    assert_int_equal(auth_id_number_check("200002290000000000", NULL), -1);
    assert_int_equal(auth_id_number_check(NULL, NULL), -1);
}

static void credit_codes(void **state)
{
    (void)state;
    const char *why = NULL;
    /* GB 32100-2015's example, and a real registered enterprise */
    assert_int_equal(auth_uscc_check("91350100M000100Y43", &why), 0);
    assert_int_equal(auth_uscc_check("91110000600037341L", &why), 0);
    struct {
        const char *s, *why;
    } bad[] = {
        {"91350100M000100Y44", "check character"}, {"91350100M000100Y4", "18 characters"},
        {"91350100M0001O0Y43", "other than I, O"}, /* letter O */
        {"91350100m000100Y43", "capital"},         {"91AB0100M000100Y43", "region"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        if (auth_uscc_check(bad[i].s, &why) == 0) fail_msg("%s accepted", bad[i].s);
        if (!strstr(why, bad[i].why)) fail_msg("%s: '%s' lacks '%s'", bad[i].s, why, bad[i].why);
    }
}

static void passwords(void **state)
{
    (void)state;
    char h1[AUTH_PASSWORD_HASH_MAX], h2[AUTH_PASSWORD_HASH_MAX];
    assert_int_equal(auth_password_hash("Zhengwu#2026", 1000, h1, sizeof h1), 0);
    assert_int_equal(auth_password_hash("Zhengwu#2026", 1000, h2, sizeof h2), 0);
    assert_string_not_equal(h1, h2); /* salted */
    assert_true(strncmp(h1, "pbkdf2-sm3$1000$", 16) == 0);
    assert_int_equal(auth_password_verify("Zhengwu#2026", h1), 0);
    assert_int_equal(auth_password_verify("zhengwu#2026", h1), -1);
    assert_int_equal(auth_password_verify("", h1), -1);
    /* a cost raised later asks for an upgrade; the same cost does not */
    assert_int_equal(auth_password_needs_rehash(h1, 1000), 0);
    assert_int_equal(auth_password_needs_rehash(h1, 20000), 1);
    /* malformed or altered stored values never verify */
    char bad[AUTH_PASSWORD_HASH_MAX];
    snprintf(bad, sizeof bad, "%s", h1);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    assert_int_equal(auth_password_verify("Zhengwu#2026", bad), -1);
    const char *junk[] = {"", "pbkdf2-sm3$", "pbkdf2-sm3$10$00$00", "sha1$1000$aa$bb", "pbkdf2-sm3$1000$zz"};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        assert_int_equal(auth_password_verify("x", junk[i]), -1);
        assert_int_equal(auth_password_needs_rehash(junk[i], 1000), 1);
    }
    /* the stored value matches PBKDF2-HMAC-SM3 computed by the openssl CLI */
    char cmd[512], line[128];
    const char *salt_hex = h1 + 16;
    char salt[33];
    memcpy(salt, salt_hex, 32);
    salt[32] = 0;
    snprintf(cmd, sizeof cmd,
             "openssl kdf -keylen 32 -kdfopt digest:SM3 -kdfopt pass:Zhengwu#2026 -kdfopt hexsalt:%s "
             "-kdfopt iter:1000 PBKDF2 2>/dev/null | tr -d ':\n' | tr 'A-F' 'a-f'",
             salt);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    assert_string_equal(line, h1 + 16 + 33);

    const char *why = NULL;
    assert_int_equal(auth_password_policy("Zhengwu#2026", "zhangsan", "13800138000", &why), 0);
    struct {
        const char *pw, *why;
    } weak[] = {{"Ab1#", "at least 8"},
                {"abcdefgh1", "3 of"},
                {"ZHANGSAN#2026", "account name"},
                {"Zhangsan#2026", "account name"},
                {"Aa#13800138000", "mobile"},
                {"Abc#1234\x01", "control"}};
    for (size_t i = 0; i < sizeof weak / sizeof *weak; i++) {
        why = NULL;
        if (auth_password_policy(weak[i].pw, "zhangsan", "13800138000", &why) == 0)
            fail_msg("%s accepted", weak[i].pw);
        if (!strstr(why, weak[i].why)) fail_msg("%s: '%s' lacks '%s'", weak[i].pw, why, weak[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(id_numbers), cmocka_unit_test(credit_codes),
                                       cmocka_unit_test(passwords)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
