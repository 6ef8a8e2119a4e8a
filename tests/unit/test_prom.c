/* test_prom.c -- the tool's Prometheus text writer (tools/prom.c): the
 * escapes of help text and label values, samples with and without
 * labels, and fixed-point values. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/prom.h"

/* What f wrote, as a string the caller frees. */
#define CAPTURE(text, body)                       \
    do {                                          \
        size_t len_;                              \
        FILE *f = open_memstream(&(text), &len_); \
        cr_assert_not_null(f);                    \
        body;                                     \
        fclose(f);                                \
    } while (0)

Test(prom, family_escapes_help_text)
{
    char *text = NULL;
    CAPTURE(text, prom_family(f, "x_total", "counter", "a \\ b\nc \"d\""));
    cr_assert_str_eq(text, "# HELP x_total a \\\\ b\\nc \"d\"\n# TYPE x_total counter\n");
    free(text);
}

Test(prom, sample_escapes_label_values)
{
    char *text = NULL;
    prom_label labels[2] = {{"route", "a\"b\\c\nd"}, {"outcome", "hit"}};
    CAPTURE(text, prom_sample(f, "x_total", labels, 2, "7"));
    cr_assert_str_eq(text, "x_total{route=\"a\\\"b\\\\c\\nd\",outcome=\"hit\"} 7\n");
    free(text);
}

Test(prom, sample_without_labels_has_no_braces)
{
    char *text = NULL;
    CAPTURE(text, prom_sample(f, "cgicache_redis_errors_total", NULL, 0, "0"));
    cr_assert_str_eq(text, "cgicache_redis_errors_total 0\n");
    free(text);
}

Test(prom, fixed_point)
{
    char out[48];
    struct {
        long long v;
        int decimals;
        const char *want;
    } cases[] = {
        {0, 3, "0.000"},
        {1, 3, "0.001"},
        {1234, 3, "1.234"},
        {-1, 3, "-0.001"},
        {-1500, 3, "-1.500"},
        {42, 0, "42"},
        {-42, 0, "-42"},
        {5, 1, "0.5"},
        {1700000000123LL, 3, "1700000000.123"},
        {9223372036854775807LL, 3, "9223372036854775.807"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prom_fixed(out, sizeof out, cases[i].v, cases[i].decimals);
        cr_expect_str_eq(out, cases[i].want, "%lld with %d decimals", cases[i].v,
                         cases[i].decimals);
    }
    prom_fixed(out, sizeof out, (-9223372036854775807LL - 1), 3);
    cr_expect_str_eq(out, "-9223372036854775.808");
}
