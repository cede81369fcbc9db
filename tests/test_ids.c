/*
 * GB 11643 and GB 32100 check characters, on the standards' published sample numbers
 * and on every way a number can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(id_numbers), cmocka_unit_test(credit_codes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
