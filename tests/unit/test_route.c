/* test_route.c -- which route a request belongs to. */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "route.h"

static cc_config *routes(void)
{
    char *env[] = {"CGICACHE_ROUTE_all=/*",         "CGICACHE_ROUTE_blogs=GET /blogs/*",
                   "CGICACHE_ROUTE_seven=/blogs/7", "CGICACHE_ROUTE_edit=POST,PUT /blogs/*",
                   "CGICACHE_ROUTE_img=/img/*.png", NULL};
    cc_config *c = cc_config_parse(env, NULL, 0);
    cr_assert_eq(c->nroutes, 5);
    return c;
}

static const char *match(const cc_config *c, unsigned method, const char *path)
{
    const cc_route *r = cc_route_match(c, method, path, strlen(path));
    return r != NULL ? r->name : "(none)";
}

Test(route, most_specific_wins)
{
    cc_config *c = routes();
    cr_assert_str_eq(match(c, CC_M_GET, "/blogs/7"), "seven");
    cr_assert_str_eq(match(c, CC_M_GET, "/blogs/8"), "blogs");
    cr_assert_str_eq(match(c, CC_M_GET, "/blogs/7/comments"), "blogs");
    cr_assert_str_eq(match(c, CC_M_GET, "/other"), "all");
    cc_config_free(c);
}

Test(route, star_crosses_slashes_and_methods_filter)
{
    cc_config *c = routes();
    cr_assert_str_eq(match(c, CC_M_GET, "/img/a/b/c.png"), "img");
    cr_assert_str_eq(match(c, CC_M_GET, "/img/a.jpg"), "all");
    cr_assert_str_eq(match(c, CC_M_POST, "/blogs/8"), "edit");
    cr_assert_str_eq(match(c, CC_M_HEAD, "/blogs/8"), "blogs");   /* HEAD rides GET */
    cr_assert_str_eq(match(c, CC_M_DELETE, "/blogs/8"), "(none)");
    cc_config_free(c);
}

Test(route, path_need_not_be_terminated)
{
    cc_config *c = routes();
    const char *uri = "/blogs/7?x=1";
    const cc_route *r = cc_route_match(c, CC_M_GET, uri, 8);
    cr_assert_str_eq(r->name, "seven");
    cc_config_free(c);
}

Test(route, literal_prefix)
{
    cr_assert_eq(cc_route_literal_len("/blogs/*"), 7);
    cr_assert_eq(cc_route_literal_len("/a?c"), 2);
    cr_assert_eq(cc_route_literal_len("/exact"), 6);
}
