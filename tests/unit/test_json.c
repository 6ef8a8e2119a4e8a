/* test_json.c -- the tool's JSON writer (tools/json.c): separators,
 * escaping, UTF-8 checked against glibc's own decoder (iconv), misuse. */
#include <criterion/criterion.h>
#include <iconv.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/json.h"

typedef struct capture {
    char *text;
    size_t len;
    FILE *f;
    json_writer j;
} capture;

static void start(capture *c)
{
    c->text = NULL;
    c->f = open_memstream(&c->text, &c->len);
    cr_assert_not_null(c->f);
    json_begin(&c->j, c->f);
}

/* Ends the document; returns json_end's result with the text in c. */
static int finish(capture *c)
{
    int rc = json_end(&c->j);
    fclose(c->f);
    return rc;
}

/* The document one string makes. */
static char *string_doc(const char *s, size_t len)
{
    capture c;
    start(&c);
    json_string_n(&c.j, s, len);
    cr_assert_eq(finish(&c), 0);
    return c.text;
}

static void expect_string(const char *in, size_t len, const char *want)
{
    char *got = string_doc(in, len);
    cr_assert_str_eq(got, want, "got %s", got);
    free(got);
}

Test(json, separators_and_nesting)
{
    capture c;
    start(&c);
    json_object_begin(&c.j);
    json_key(&c.j, "a");
    json_int(&c.j, -3);
    json_key(&c.j, "list");
    json_array_begin(&c.j);
    json_uint(&c.j, 18446744073709551615ull);
    json_bool(&c.j, true);
    json_null(&c.j);
    json_object_begin(&c.j);
    json_object_end(&c.j);
    json_array_begin(&c.j);
    json_array_end(&c.j);
    json_array_end(&c.j);
    json_key(&c.j, "ratio");
    json_fixed(&c.j, 0.75, 4);
    json_key(&c.j, "s");
    json_string(&c.j, "x");
    json_key(&c.j, "none");
    json_string(&c.j, NULL);
    json_object_end(&c.j);
    cr_assert_eq(finish(&c), 0);
    cr_assert_str_eq(c.text, "{\"a\": -3, \"list\": [18446744073709551615, true, null, {}, []], "
                             "\"ratio\": 0.7500, \"s\": \"x\", \"none\": null}\n");
    free(c.text);
}

Test(json, numbers_that_json_has_not_are_null)
{
    capture c;
    start(&c);
    json_array_begin(&c.j);
    json_fixed(&c.j, NAN, 2);
    json_fixed(&c.j, INFINITY, 2);
    json_fixed(&c.j, -INFINITY, 2);
    json_array_end(&c.j);
    cr_assert_eq(finish(&c), 0);
    cr_assert_str_eq(c.text, "[null, null, null]\n");
    free(c.text);
}

Test(json, quote_backslash_and_control_bytes_are_escaped)
{
    expect_string("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"\n");
    expect_string("\x00\x01\n\r\t\x1f\x7f ~", 9,
                  "\"\\u0000\\u0001\\u000a\\u000d\\u0009\\u001f\\u007f ~\"\n");
    expect_string("", 0, "\"\"\n");
}

Test(json, keys_are_escaped_too)
{
    capture c;
    start(&c);
    json_object_begin(&c.j);
    json_key(&c.j, "k\"\x01\xff");
    json_int(&c.j, 1);
    json_key_n(&c.j, "a\0b\\c", 3);           /* counted: a NUL is a byte like any */
    json_int(&c.j, 2);
    json_object_end(&c.j);
    cr_assert_eq(finish(&c), 0);
    cr_assert_str_eq(c.text, "{\"k\\\"\\u0001\\ufffd\": 1, \"a\\u0000b\": 2}\n");
    free(c.text);
}

Test(json, valid_utf8_passes_and_each_bad_byte_is_a_replacement)
{
    static const char valid[] =
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
    expect_string(valid, sizeof valid - 1,
                  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"\n");
    expect_string("\xff\xfe", 2, "\"\\ufffd\\ufffd\"\n");
    expect_string("\x80", 1, "\"\\ufffd\"\n");                         /* a lone continuation */
    expect_string("\xc0\x80", 2, "\"\\ufffd\\ufffd\"\n");              /* overlong NUL */
    expect_string("\xc1\xbf", 2, "\"\\ufffd\\ufffd\"\n");              /* overlong */
    expect_string("\xe0\x9f\xbf", 3, "\"\\ufffd\\ufffd\\ufffd\"\n");  /* overlong */
    expect_string("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"\n");  /* a surrogate */
    expect_string("\xf0\x8f\xbf\xbf", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"\n");   /* overlong */
    expect_string("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"\n"); /* above U+10FFFF */
    expect_string("\xf5\x80\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"\n");
    expect_string("a\xe2\x82", 3, "\"a\\ufffd\\ufffd\"\n"); /* cut at the end */
    expect_string("\xe2\x82"
                  "a",
                  3, "\"\\ufffd\\ufffda\"\n"); /* cut short */
    expect_string("\xc3\"", 2, "\"\\ufffd\\\"\"\n");
}

static int utf8_valid(iconv_t cd, const char *s, size_t len)
{
    char out[4 * 64], *in = (char *)s, *o = out; /* the longest document: 27 characters */
    size_t il = len, ol = sizeof out;
    iconv(cd, NULL, NULL, NULL, NULL);
    return iconv(cd, &in, &il, &o, &ol) != (size_t)-1 && il == 0;
}

/* Every string of one or two bytes, and three and four byte strings
 * around every boundary of UTF-8: the output is valid UTF-8 by glibc's
 * decoder (which refuses overlong forms and surrogates), holds no raw
 * control byte, and is the input itself when that is valid UTF-8 with
 * nothing to escape. */
Test(json, any_bytes_give_valid_utf8)
{
    iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
    cr_assert_neq(cd, (iconv_t)-1);
    static const unsigned char edges[] = {0x00, 0x1f, 0x20, 0x22, 0x5c, 0x7e, 0x7f, 0x80,
                                          0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
                                          0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0,
                                          0xf1, 0xf3, 0xf4, 0xf5, 0xfe, 0xff};
    size_t ne = sizeof edges, checked = 0;
    for (size_t len = 1; len <= 4; len++) {
        size_t count = len <= 2   ? (size_t)1 << (8 * len)
                       : len == 3 ? ne * ne * ne
                                  : ne * ne * ne * ne;
        for (size_t n = 0; n < count; n++) {
            unsigned char in[4];
            for (size_t i = 0, v = n; i < len; i++) {
                in[i] = len <= 2 ? (unsigned char)(v & 0xff) : edges[v % ne];
                v = len <= 2 ? v >> 8 : v / ne;
            }
            char *doc = string_doc((const char *)in, len);
            size_t dlen = strlen(doc);
            cr_assert(utf8_valid(cd, doc, dlen), "not UTF-8: %s", doc);
            for (size_t i = 0; i + 1 < dlen; i++)
                cr_assert((unsigned char)doc[i] >= 0x20 && doc[i] != 0x7f, "raw control byte %02x",
                          doc[i]);
            int plain = utf8_valid(cd, (const char *)in, len);
            for (size_t i = 0; i < len; i++)
                plain = plain && in[i] >= 0x20 && in[i] != 0x7f && in[i] != '"' && in[i] != '\\';
            if (plain)
                cr_assert(dlen == len + 3 && memcmp(doc + 1, in, len) == 0, "changed: %s", doc);
            free(doc);
            checked++;
        }
    }
    iconv_close(cd);
    cr_assert_gt(checked, 65536);
}

Test(json, misuse_fails_instead_of_printing_bad_json)
{
    capture c;
    start(&c); /* a value with no key in an object */
    json_object_begin(&c.j);
    json_int(&c.j, 1);
    json_object_end(&c.j);
    cr_assert_eq(finish(&c), -1);
    free(c.text);

    start(&c); /* an end that does not match */
    json_array_begin(&c.j);
    json_object_end(&c.j);
    cr_assert_eq(finish(&c), -1);
    free(c.text);

    start(&c); /* never closed */
    json_array_begin(&c.j);
    cr_assert_eq(finish(&c), -1);
    free(c.text);

    start(&c); /* nothing at all */
    cr_assert_eq(finish(&c), -1);
    free(c.text);

    start(&c); /* two documents */
    json_null(&c.j);
    json_null(&c.j);
    cr_assert_eq(finish(&c), -1);
    free(c.text);

    start(&c); /* a key with no value */
    json_object_begin(&c.j);
    json_key(&c.j, "a");
    json_object_end(&c.j);
    cr_assert_eq(finish(&c), -1);
    free(c.text);

    start(&c); /* a key in an array */
    json_array_begin(&c.j);
    json_key(&c.j, "a");
    cr_assert_eq(finish(&c), -1);
    free(c.text);

    start(&c); /* too deep */
    for (int i = 0; i <= JSON_DEPTH_MAX; i++)
        json_array_begin(&c.j);
    for (int i = 0; i <= JSON_DEPTH_MAX; i++)
        json_array_end(&c.j);
    cr_assert_eq(finish(&c), -1);
    free(c.text);
}
