/* test_settings.c -- the table of global settings is the one truth:
 * README.md's table of variables and cgicache(7) are held to it, and every
 * default reads back as it is written. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The README row of a setting: "| `NAME` | doc [`default`] |". */
static void row_of(const cc_setting *s, char *out, size_t cap)
{
    if (s->fallback != NULL)
        snprintf(out, cap, "| `%s` | %s [`%s`] |", s->name, s->doc, s->fallback);
    else
        snprintf(out, cap, "| `%s` | %s |", s->name, s->doc);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s (run from the top of the tree)", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

Test(settings, readme_table_is_the_table)
{
    char *text = read_all("README.md");
    char *section = strstr(text, "## Configuration");
    cr_assert_not_null(section);
    char *end = strstr(section, "\nDurations:");
    cr_assert_not_null(end);
    *end = '\0';
    size_t want = 0;
    char expected[4096] = "";
    for (size_t i = 0; i < cc_nsettings; i++) {
        char row[1024];
        row_of(&cc_settings[i], row, sizeof row);
        strncat(expected, row, sizeof expected - strlen(expected) - 2);
        strcat(expected, "\n");
        want++;
    }
    /* The table's rows, routes aside (they have their own section). */
    char got[4096] = "";
    size_t rows = 0;
    for (char *line = strtok(section, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "| `CGICACHE_", 12) != 0 || strncmp(line, "| `CGICACHE_ROUTE_", 18) == 0)
            continue;
        strncat(got, line, sizeof got - strlen(got) - 2);
        strcat(got, "\n");
        rows++;
    }
    cr_assert_str_eq(got, expected,
                     "README.md's table of variables differs from cc_settings; "
                     "it should read:\n%s",
                     expected);
    cr_assert_eq(rows, want);
    free(text);
}

Test(settings, manual_names_every_setting)
{
    char *text = read_all("man/cgicache.7");
    for (size_t i = 0; i < cc_nsettings; i++) {
        /* roff escapes '-' but not '_': names appear as they are. */
        cr_assert_not_null(strstr(text, cc_settings[i].name), "cgicache(7) lacks %s",
                           cc_settings[i].name);
    }
    free(text);
}

/* Each value reads back as cgicache check shows it. */
Test(settings, formatted_values_parse_back)
{
    cc_config *a = cc_config_parse((char *[]){NULL}, NULL, 0);
    cr_assert_not_null(a);
    char *env[64];
    char text[64][256];
    size_t n = 0;
    for (size_t i = 0; i < cc_nsettings; i++) {
        const cc_setting *s = &cc_settings[i];
        if (s->kind == CC_SET_NONE || s->kind == CC_SET_SECRET || s->kind == CC_SET_REDIS)
            continue;
        char value[200];
        cc_setting_format(a, s, value, sizeof value);
        snprintf(text[n], sizeof text[n], "%s=%s", s->name, value);
        env[n] = text[n];
        n++;
    }
    env[n] = NULL;
    cc_config *b = cc_config_parse(env, NULL, 0);
    cr_assert_not_null(b);
    cr_assert_eq(b->nproblems, 0, "%s: %s", b->nproblems ? b->problems[0].variable : "",
                 b->nproblems ? b->problems[0].message : "");
    for (size_t i = 0; i < cc_nsettings; i++) {
        char va[200], vb[200];
        cc_setting_format(a, &cc_settings[i], va, sizeof va);
        cc_setting_format(b, &cc_settings[i], vb, sizeof vb);
        cr_assert_str_eq(va, vb, "%s", cc_settings[i].name);
    }
    cr_assert_eq(a->ttl_ms, 60000);
    cr_assert_eq(a->lock_wait_ms, a->lock_ttl_ms);
    cc_config_free(a);
    cc_config_free(b);
}

Test(settings, unknown_names_are_warned_known_ones_not)
{
    char *env[] = {"CGICACHE_TTL=5s", "CGICACHE_TLL=5s", "CGICACHE_LIB=/x.so",
                   "CGICACHE_CONFIG=", NULL};
    cc_config *c = cc_config_parse(env, NULL, 0);
    cr_assert_eq(c->nproblems, 1);
    cr_assert_str_eq(c->problems[0].variable, "CGICACHE_TLL");
    cr_assert(c->problems[0].warning);
    cc_config_free(c);
}
