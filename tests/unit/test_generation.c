/* test_generation.c -- a missing generation key matches nothing: not what
 * was recorded while it existed, not what was recorded before it was
 * made, not another lookup's; and creating it with the drawn value makes
 * the next lookup find the generation the entry recorded. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "generation.h"
#include "key.h"

static unsigned draws;

/* Distinct, predictable values: what a store would create. */
static void draw(char *out)
{
    snprintf(out, CC_GEN_VALUE_LEN + 1, "%016x", ++draws);
}

static uint64_t found(const char *route, const char *url, char *fresh_route, char *fresh_url)
{
    return cc_generation_found(route, route ? strlen(route) : 0, url, url ? strlen(url) : 0,
                               fresh_route, fresh_url, draw);
}

Test(generation, present_keys_fold_as_they_are)
{
    char fr[CC_GEN_VALUE_LEN + 1] = "x", fu[CC_GEN_VALUE_LEN + 1] = "x";
    uint64_t g = found("r1", "u1", fr, fu);
    cr_assert_eq(g, cc_key_generation("r1", 2, "u1", 2));
    cr_assert_str_eq(fr, "");
    cr_assert_str_eq(fu, "");
    cr_assert_eq(found("r1", "u1", fr, fu), g);
    cr_assert_neq(found("r2", "u1", fr, fu), g);     /* a purge of the route */
    cr_assert_neq(found("r1", "u2", fr, fu), g);     /* a purge of the URL */
}

Test(generation, a_store_makes_missing_keys_match)
{
    char fr[CC_GEN_VALUE_LEN + 1], fu[CC_GEN_VALUE_LEN + 1];
    uint64_t recorded = found(NULL, NULL, fr, fu);
    cr_assert_eq(strlen(fr), CC_GEN_VALUE_LEN);
    cr_assert_eq(strlen(fu), CC_GEN_VALUE_LEN);
    /* The store creates both keys with those values: the next lookup agrees. */
    char r[CC_GEN_VALUE_LEN + 1], u[CC_GEN_VALUE_LEN + 1], fr2[CC_GEN_VALUE_LEN + 1],
        fu2[CC_GEN_VALUE_LEN + 1];
    strcpy(r, fr);
    strcpy(u, fu);
    cr_assert_eq(found(r, u, fr2, fu2), recorded);
    /* Only the URL's missing. */
    uint64_t partial = found("route", NULL, fr, fu);
    cr_assert_str_eq(fr, "");
    cr_assert_eq(found("route", fu, fr2, fu2), partial);
}

Test(generation, a_lost_key_never_matches_again)
{
    char fr[CC_GEN_VALUE_LEN + 1], fu[CC_GEN_VALUE_LEN + 1];
    /* Stored before the route was ever purged (its key missing), then purged, then lost. */
    uint64_t before_purge = found(NULL, "u", fr, fu);
    char created[CC_GEN_VALUE_LEN + 1];
    strcpy(created, fr);
    uint64_t after_loss = found(NULL, "u", fr, fu);
    cr_assert_neq(after_loss, before_purge);
    /* Stored while the key existed, then lost. */
    uint64_t while_present = found(created, "u", fr, fu);
    cr_assert_neq(found(NULL, "u", fr, fu), while_present);
    cr_assert_neq(found(created, NULL, fr, fu), while_present);
    cr_assert_neq(found(NULL, NULL, fr, fu), while_present);
    /* Two lookups that both find it missing agree on nothing. */
    cr_assert_neq(found(NULL, NULL, fr, fu), found(NULL, NULL, fr, fu));
}
