/* fuzz.h -- turns a fuzzer's bytes into an envp array: NUL-separated
 * NAME=VALUE entries, at most max - 1 of them, in a copy the caller frees. */
#ifndef CGICACHE_FUZZ_H
#define CGICACHE_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *fuzz_envp(const uint8_t *data, size_t size, char **env, size_t max)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t n = 0;
    for (char *p = text; p < text + size && n + 1 < max; p += strlen(p) + 1)
        env[n++] = p;
    env[n] = NULL;
    return text;
}

#endif
