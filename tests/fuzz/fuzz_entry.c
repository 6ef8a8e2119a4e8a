/* fuzz_entry.c -- the entry decoder on arbitrary bytes (what Redis may
 * hold under a key), and a re-encode of whatever decodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_entry e;
    char *scratch = NULL;
    if (cc_entry_decode((const char *)data, size, &e, &scratch) == 0) {
        char *again;
        size_t len;
        if (cc_entry_encode(&e, CC_COMPRESS_SMART, 64, 1, &again, &len) == 0) {
            cc_entry back;
            char *s2 = NULL;
            if (cc_entry_decode(again, len, &back, &s2) != 0 || back.body_len != e.body_len ||
                memcmp(back.body, e.body, e.body_len) != 0)
                abort();
            free(s2);
            free(again);
        }
    }
    free(scratch);
    cc_entry_peek((const char *)data, size, &e);
    return 0;
}
