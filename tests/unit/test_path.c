/* test_path.c -- decoding request paths and telling normal form. */
#include <criterion/criterion.h>
#include <string.h>

#include "path.h"

static void expect(const char *in, bool encoded, const char *want, bool normal)
{
    char out[256];
    bool is_normal = !normal;
    long n = cc_path_decode(in, strlen(in), encoded, out, sizeof out, &is_normal);
    cr_assert_geq(n, 0, "%s", in);
    cr_assert_str_eq(out, want, "%s", in);
    cr_assert_eq((size_t)n, strlen(want));
    cr_assert_eq(is_normal, normal, "%s: normal should be %d", in, normal);
}

Test(path, plain_paths_are_normal)
{
    expect("/", true, "/", true);
    expect("/blogs/7", true, "/blogs/7", true);
    expect("/blogs/7/", true, "/blogs/7/", true);
    expect("/caf%C3%A9", true, "/caf\xc3\xa9", true);
    expect("/a%20b%22", true, "/a b\"", true);
    expect("/a.b/..c/.d", true, "/a.b/..c/.d", true);
    expect("/a%25b", false, "/a%25b", true);        /* decoded already: '%' is a byte */
}

Test(path, dot_segments_and_slashes_resolve_and_are_not_normal)
{
    expect("/a/../b", true, "/b", false);
    expect("/a/./b", true, "/a/b", false);
    expect("/a//b", true, "/a/b", false);
    expect("/a/b/..", true, "/a/", false);
    expect("/a/b/.", true, "/a/b/", false);
    expect("/../../x", true, "/x", false);
    expect("/a/%2e%2e/b", true, "/b", false);
    expect("/a/..%2Fb", true, "/b", false);
    expect("/a/.%2E/b", true, "/b", false);
    expect("/a/../b", false, "/b", false);
}

Test(path, ambiguous_spellings_are_not_normal)
{
    expect("/%61", true, "/a", false);               /* an escaped unreserved byte */
    expect("/a%2Fb", true, "/a/b", false);
    expect("/a%5Cb", true, "/a\\b", false);
    expect("/a\\b", true, "/a\\b", false);
    expect("/a;x.css", true, "/a;x.css", false);
    expect("/a%3Bx", true, "/a;x", false);
    expect("/a%2525", true, "/a%25", false);         /* decoded twice, another path */
    expect("/a%", true, "/a%", false);
    expect("/a%4", true, "/a%4", false);
    expect("/a%zz", true, "/a%zz", false);
    expect("/a b", true, "/a b", false);
}

Test(path, an_escaped_nul_is_not_normal)
{
    char out[8];
    bool normal = true;
    cr_assert_eq(cc_path_decode("/a%00b", 6, true, out, sizeof out, &normal), 4);
    cr_assert_not(normal);
}

Test(path, refused)
{
    char out[8];
    cr_assert_eq(cc_path_decode("a/b", 3, true, out, sizeof out, NULL), -1);
    cr_assert_eq(cc_path_decode("", 0, true, out, sizeof out, NULL), -1);
    cr_assert_eq(cc_path_decode("/abcdefghij", 11, true, out, sizeof out, NULL), -1);
}
