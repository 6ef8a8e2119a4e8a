/* compress.c -- zstd at cgicache's level against zlib level 5 (what
 * fastapi-cachemate uses) on bodies like the ones apps send: ratio and
 * MB/s, each measured over a bounded number of rounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A JSON list page and an HTML page of about size bytes. */
static char *body(int kind, size_t size)
{
    char *b = malloc(size + 256);
    size_t n = 0;
    for (int i = 0; n < size; i++) {
        if (kind == 0)
            n += (size_t)sprintf(b + n, "{\"id\": %d, \"title\": \"Post number %d\", \"tags\": [\"c\", \"cache\"], "
                                        "\"views\": %d},", i, i * 7, (i * 7919) % 100000);
        else
            n += (size_t)sprintf(b + n, "<tr><td class=\"name\">Item %d</td><td>%d.%02d EUR</td>"
                                        "<td><a href=\"/items/%d\">details</a></td></tr>\n", i, i % 97, i % 100, i);
    }
    return b;
}

int main(int argc, char **argv)
{
    int level = argc > 1 ? atoi(argv[1]) : 3;
    int rounds = argc > 2 ? atoi(argv[2]) : 200;
    printf("%-12s %-14s %8s %10s %12s %12s\n", "body", "codec", "bytes", "ratio", "comp MB/s", "decomp MB/s");
    for (int kind = 0; kind < 2; kind++) {
        size_t size = 64 * 1024;
        char *src = body(kind, size);
        size_t cap = ZSTD_compressBound(size) + compressBound(size);
        char *dst = malloc(cap), *back = malloc(size);
        for (int codec = 0; codec < 2; codec++) {
            size_t out = 0;
            double t0 = now();
            for (int i = 0; i < rounds; i++) {
                if (codec == 0) {
                    out = ZSTD_compress(dst, cap, src, size, level);
                } else {
                    uLongf zl = cap;
                    compress2((Bytef *)dst, &zl, (const Bytef *)src, size, 5);
                    out = zl;
                }
            }
            double t1 = now();
            for (int i = 0; i < rounds; i++) {
                if (codec == 0) {
                    ZSTD_decompress(back, size, dst, out);
                } else {
                    uLongf bl = size;
                    uncompress((Bytef *)back, &bl, (const Bytef *)dst, out);
                }
            }
            double t2 = now();
            if (memcmp(back, src, size) != 0) {
                fprintf(stderr, "round trip failed\n");
                return 1;
            }
            char name[32];
            snprintf(name, sizeof name, codec == 0 ? "zstd -%d" : "zlib -5", level);
            double mb = (double)size * rounds / 1e6;
            printf("%-12s %-14s %8zu %10.2f %12.0f %12.0f\n", kind == 0 ? "json 64k" : "html 64k", name, out,
                   (double)size / (double)out, mb / (t1 - t0), mb / (t2 - t1));
        }
        free(src);
        free(dst);
        free(back);
    }
    return 0;
}
