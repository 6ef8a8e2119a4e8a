/* fuzz_delivery.c -- the conditional and Range parsers on arbitrary
 * request headers and stored validators.  The input is split at NULs
 * into If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since,
 * Range, If-Range, the stored ETag and Last-Modified; the body length
 * comes from the last bytes; each part is also read as an Accept-Encoding.
 * A part it answers with must lie inside the
 * body, and the heads built from any text as a stored head must never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *part[8] = {0};
    size_t n = 0;
    for (char *p = text; p < text + size && n < 8; p += strlen(p) + 1)
        part[n++] = p;
    uint64_t length = size >= 2 ? (uint64_t)data[size - 1] << 8 | data[size - 2] : 0;
    cc_ask ask = {part[0], part[1], part[2], part[3], part[4], part[5]};
    cc_validators v = {200,
                       part[6],
                       part[6] ? strlen(part[6]) : 0,
                       part[7],
                       part[7] ? strlen(part[7]) : 0,
                       length};
    cc_send s;
    for (int get = 0; get < 2; get++) {
        cc_delivery_decide(&ask, &v, get, 1700000000000LL, &s);
        if (s.kind == CC_SEND_PARTIAL && (s.first > s.last || s.last >= length))
            abort();
    }
    for (size_t i = 0; i < n; i++) {
        cc_accept_pick(part[i], 7);
        cc_accept_bucket(part[i]);
        cc_accept_has(part[i], "br", 2);
    }
    if (part[4] != NULL) {
        uint64_t f, l;
        if (cc_range_parse(part[4], length, &f, &l) == CC_SEND_PARTIAL && (f > l || l >= length))
            abort();
    }
    cc_buf b = {0};
    cc_send kinds[] = {{CC_SEND_NOT_MODIFIED, 0, 0},
                       {CC_SEND_PARTIAL, 0, length ? length - 1 : 0},
                       {CC_SEND_UNSATISFIABLE, 0, 0},
                       {CC_SEND_PRECONDITION_FAILED, 0, 0}};
    for (size_t i = 0; i < 4; i++)
        cc_delivery_head(&b, text, size, &kinds[i], length);
    cc_validators_of(text, size, 200, length, &v);
    cc_buf_free(&b);
    free(text);
    return 0;
}
