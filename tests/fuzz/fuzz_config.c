/* fuzz_config.c -- the configuration parser on arbitrary input: the bytes
 * are split into NUL-separated env entries (the first part is also given
 * as the CGICACHE_CONFIG file text).  Nothing may crash, leak or abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *env[64];
    char *text = fuzz_envp(data, size, env, 64);
    size_t file_len = env[0] != NULL ? strlen(env[0]) : 0;
    cc_config *cfg = cc_config_parse(env, text, file_len);
    cc_config_free(cfg);
    free(text);
    return 0;
}
