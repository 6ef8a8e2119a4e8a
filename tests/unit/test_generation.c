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
    return cc_generation_found(route, route ? strlen(route) : 0, url, url ? strlen(url) : 0, "/a",
                               2, fresh_route, fresh_url, draw);
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

/* ---- lists: soft purges and prefix records -------------------------------- */

static uint64_t now_gen(const char *route, const char *url, const char *path)
{
    char fr[CC_GEN_VALUE_LEN + 1], fu[CC_GEN_VALUE_LEN + 1];
    return cc_generation_found(route, strlen(route), url, strlen(url), path, strlen(path), fr, fu,
                               draw);
}

static bool soft(uint64_t recorded, const char *route, const char *url, const char *path)
{
    return cc_generation_soft(recorded, route, strlen(route), url, strlen(url), path, strlen(path));
}

Test(generation, a_lone_token_folds_as_before_lists)
{
    cr_assert_eq(now_gen("a1b2", "c3d4", "/x"), cc_key_generation("a1b2", 4, "c3d4", 4));
    /* Records that cover another path change nothing for this one. */
    cr_assert_eq(now_gen("a1b2\n/y/\tt1\n/xy\tt2", "c3d4", "/x"),
                 cc_key_generation("a1b2", 4, "c3d4", 4));
}

Test(generation, soft_purge_keeps_old_tokens_matching_as_stale)
{
    uint64_t e = now_gen("R1", "U1", "/a");
    /* The route soft-purged: no longer current, still soft. */
    cr_assert_neq(now_gen("R2 R1", "U1", "/a"), e);
    cr_assert(soft(e, "R2 R1", "U1", "/a"));
    /* The URL soft-purged, then both. */
    cr_assert(soft(e, "R1", "U2 U1", "/a"));
    cr_assert(soft(e, "R2 R1", "U2 U1", "/a"));
    /* Twice, and up to CC_GEN_PREVIOUS_MAX times. */
    cr_assert(soft(e, "R3 R2 R1", "U1", "/a"));
    cr_assert(soft(e, "R5 R4 R3 R2 R1", "U1", "/a"));
    /* Once more than that: the old token fell off, a miss. */
    cr_assert_not(soft(e, "R6 R5 R4 R3 R2 R1", "U1", "/a"));
    /* A hard purge after a soft one: nothing previous, a miss. */
    cr_assert_not(soft(e, "R3", "U1", "/a"));
    cr_assert_not(soft(e, "R2 R1", "U3", "/a"));
    /* The entry refreshed after a soft purge is current, never "soft". */
    uint64_t refreshed = now_gen("R2 R1", "U1", "/a");
    cr_assert_eq(refreshed, now_gen("R2 R1", "U1", "/a"));
    cr_assert_neq(refreshed, e);
    /* Missing keys have nothing previous. */
    cr_assert_not(cc_generation_soft(e, NULL, 0, "U1", 2, "/a", 2));
}

Test(generation, prefix_records_purge_exactly_the_paths_under_them)
{
    const char *before = "R1", *after = "R1\n/a/b\tT1";
    const char *paths[] = {"/a/b", "/a/b/c", "/a/b/c/d"};
    for (size_t i = 0; i < 3; i++) {
        uint64_t e = now_gen(before, "U", paths[i]);
        cr_assert_neq(now_gen(after, "U", paths[i]), e, "%s", paths[i]);
        cr_assert_not(soft(e, after, "U", paths[i]), "a hard prefix purge: %s", paths[i]);
    }
    const char *kept[] = {"/a/bc", "/a", "/a/", "/b/a/b", "/a/c"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(now_gen(after, "U", kept[i]), now_gen(before, "U", kept[i]), "%s", kept[i]);
    /* Renewed: purged again; another prefix's record does not matter. */
    uint64_t once = now_gen(after, "U", "/a/b/c");
    cr_assert_neq(now_gen("R1\n/a/b\tT2", "U", "/a/b/c"), once);
    cr_assert_eq(now_gen("R1\n/a/b\tT1\n/z/\tT9", "U", "/a/b/c"), once);
    /* The route purged whole (a lone new token): everything goes. */
    cr_assert_neq(now_gen("R2", "U", "/a/b/c"), once);
}

Test(generation, soft_prefix_records)
{
    uint64_t e = now_gen("R1", "U", "/a/b/c");
    /* A soft prefix purge made a record: before it, none ("-"). */
    cr_assert_neq(now_gen("R1\n/a/\tT1 -", "U", "/a/b/c"), e);
    cr_assert(soft(e, "R1\n/a/\tT1 -", "U", "/a/b/c"));
    /* Renewed softly, then hard. */
    uint64_t f = now_gen("R1\n/a/\tT1 -", "U", "/a/b/c");
    cr_assert(soft(f, "R1\n/a/\tT2 T1 -", "U", "/a/b/c"));
    cr_assert(soft(e, "R1\n/a/\tT2 T1 -", "U", "/a/b/c"));
    cr_assert_not(soft(e, "R1\n/a/\tT3", "U", "/a/b/c"));
    cr_assert_not(soft(f, "R1\n/a/\tT3", "U", "/a/b/c"));
    /* With a soft route purge on top. */
    cr_assert(soft(e, "R2 R1\n/a/\tT1 -", "U", "/a/b/c"));
}

Test(generation, prefix_rule)
{
    cr_assert(cc_prefix_covers("/a/b", 4, "/a/b", 4));
    cr_assert(cc_prefix_covers("/a/b", 4, "/a/b/", 5));
    cr_assert(cc_prefix_covers("/a/b", 4, "/a/b/c", 6));
    cr_assert_not(cc_prefix_covers("/a/b", 4, "/a/bc", 5));
    cr_assert_not(cc_prefix_covers("/a/b", 4, "/a", 2));
    cr_assert(cc_prefix_covers("/a/b/", 5, "/a/b/c", 6));
    cr_assert_not(cc_prefix_covers("/a/b/", 5, "/a/b", 4));
    cr_assert(cc_prefix_covers("/", 1, "/anything/at/all", 16));
    cr_assert_not(cc_prefix_covers("", 0, "/a", 2));
}

Test(generation, more_covering_records_than_fit_fold_the_value_whole)
{
    char value[8192] = "R1";
    for (int i = 0; i < CC_GEN_RECORDS_MAX + 5; i++)
        snprintf(value + strlen(value), sizeof value - strlen(value), "\n/a%s\tT%d",
                 i % 2 ? "/" : "", i);
    uint64_t g = now_gen(value, "U", "/a/x");
    cr_assert_eq(g, now_gen(value, "U", "/a/x"));
    /* Any change to the value changes it, even to a record past the bound. */
    value[strlen(value) - 1] = 'z';
    cr_assert_neq(now_gen(value, "U", "/a/x"), g);
    cr_assert_not(soft(g, value, "U", "/a/x"));
}

Test(generation, odd_values_are_read_within_their_bounds)
{
    const char *odd[] = {"",   " ",      "\n",     "\n\n\t",    "a \n",
                         " a", "a\n\t",  "a\n/\t", "a\n/\t \n", "a\n/a\tb c d e f g h i j k",
                         "-",  "a\n/\t-"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        uint64_t g = now_gen(odd[i], odd[i], "/a");
        cr_assert_neq(g, 0);
        cr_assert_not(soft(g, odd[i], odd[i], "/a"), "%zu", i);
        soft(g ^ 1, odd[i], odd[i], "/a");
    }
}
