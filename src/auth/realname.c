/*
 * realname.c — the real-name check connector, simulated.
 *
 * In production ehall asks the population register (persons) and the market
 * regulation register (enterprises) whether a name belongs to a number.  This is the
 * simulated back-end used by default and in tests: it accepts every well-formed
 * record except these documented test cases, so refusals can be exercised:
 *   - an ID number whose sequence digits (positions 15–17) are 999 is "not in the
 *     population register";
 *   - a person's name containing 冒名 does "not match the ID number";
 *   - a credit code whose organisation code (positions 9–17) is 000000000 is "not
 *     registered", and a legal representative named 冒名 does not match.
 * A real connector replaces these two functions (see docs/security.md).
 */
#include <string.h>

#include "auth/internal.h"

int realname_person(const char *name, const char *id_number, const char **why)
{
    if (strlen(id_number) == 18 && !strncmp(id_number + 14, "999", 3)) {
        *why = "this ID number is not in the population register";
        return -1;
    }
    if (strstr(name, "冒名")) {
        *why = "the name does not match the ID number in the population register";
        return -1;
    }
    return 0;
}

int realname_enterprise(const char *name, const char *uscc, const char *legal_rep, const char **why)
{
    (void)name;
    if (strlen(uscc) == 18 && !strncmp(uscc + 8, "000000000", 9)) {
        *why = "this credit code is not in the market regulation register";
        return -1;
    }
    if (strstr(legal_rep, "冒名")) {
        *why = "the legal representative does not match the register";
        return -1;
    }
    return 0;
}
