/* test_request.c -- the request view, whole and in its two steps. */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "request.h"

Test(request, target_stops_early_details_fill_the_rest)
{
    char *env[] = {"REQUEST_METHOD=GET",
                   "REQUEST_URI=/a/b?x=1",
                   "HTTP_HOST=example.com",
                   "SERVER_PORT=8080",
                   "HTTPS=on",
                   "CONTENT_LENGTH=0",
                   NULL};
    cc_request rq;
    cr_assert_eq(cc_request_target(&rq, env), 0);
    cr_assert_eq(rq.method_bit, CC_M_GET);
    cr_assert_eq(rq.path_len, 4);
    cr_assert_eq(strncmp(rq.path, "/a/b", 4), 0);
    cr_assert_str_eq(rq.query, "x=1");
    cr_assert_str_eq(rq.host, "", "the target step does not look for the host");
    cr_assert(!rq.https);
    cc_request_details(&rq);
    cr_assert_str_eq(rq.host, "example.com");
    cr_assert_str_eq(rq.port, "8080");
    cr_assert(rq.https);
    cr_assert(!rq.has_body);
}

Test(request, script_name_and_path_info_with_query_string)
{
    char *env[] = {"SCRIPT_NAME=/app",
                   "REQUEST_METHOD=HEAD",
                   "PATH_INFO=/x",
                   "HTTP_TRANSFER_ENCODING=chunked",
                   "QUERY_STRING=q=2",
                   "SERVER_NAME=s",
                   NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, env), 0);
    cr_assert_eq(rq.method_bit, CC_M_HEAD);
    cr_assert_str_eq(rq.path, "/app/x");
    cr_assert_str_eq(rq.query, "q=2");
    cr_assert_str_eq(rq.host, "s");
    cr_assert(rq.has_body);
    cc_request copy;
    cc_request_copy(&copy, &rq);
    cr_assert_eq(copy.path, copy.pathbuf);
    cr_assert_str_eq(copy.path, "/app/x");
}

Test(request, no_method_or_no_path_is_not_a_request)
{
    char *no_method[] = {"REQUEST_URI=/a", NULL};
    char *no_path[] = {"REQUEST_METHOD=GET", NULL};
    cc_request rq;
    cr_assert_eq(cc_request_init(&rq, no_method), -1);
    cr_assert_eq(cc_request_init(&rq, no_path), -1);
    cr_assert_eq(cc_request_target(&rq, NULL), -1);
}

Test(request, empty_request_uri_falls_back_to_later_script_name)
{
    char *env[] = {"REQUEST_URI=", "REQUEST_METHOD=DELETE", "SCRIPT_NAME=/q",
                   "PATH_INFO=/7", "QUERY_STRING=a=1",      NULL};
    cc_request rq;
    cr_assert_eq(cc_request_target(&rq, env), 0);
    cr_assert_str_eq(rq.path, "/q/7");
    cr_assert_str_eq(rq.query, "a=1");
}
