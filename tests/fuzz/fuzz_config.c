/* fuzz_config.c -- the configuration parser on arbitrary input: the bytes
 * are split into NUL-separated env entries (the first part is also given
 * as the CGICACHE_CONFIG file text).  Nothing may crash, leak or abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *env[64];
    size_t n = 0;
    for (char *p = text; p < text + size && n < 63; p += strlen(p) + 1)
        env[n++] = p;
    env[n] = NULL;
    size_t file_len = n > 0 ? strlen(env[0]) : 0;
    cc_config *cfg = cc_config_parse(env, text, file_len);
    cc_config_free(cfg);
    free(text);
    return 0;
}
