/* zstd_trace.c -- zstd's tracing hooks, defined inside the library as
 * no-ops.
 *
 * libzstd.a refers to four ZSTD_trace_* functions as weak symbols, so
 * that an application can define them to trace its compressions.  Left
 * undefined, they stay imports of libcgicache.so, and an app (or another
 * library) that defines them would be called with cgicache's private zstd
 * contexts.  Defined here, hidden, the static link binds zstd's calls to
 * these: nothing is imported, nothing is traced.  Returning 0 from the
 * begin hooks tells zstd not to call the end hooks. */
#include <stddef.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* zstd's ZSTD_TraceCtx is an unsigned long long; the contexts and trace
 * records are only passed through, never looked at. */
HIDDEN unsigned long long ZSTD_trace_compress_begin(const void *cctx);
HIDDEN void ZSTD_trace_compress_end(unsigned long long ctx, const void *trace);
HIDDEN unsigned long long ZSTD_trace_decompress_begin(const void *dctx);
HIDDEN void ZSTD_trace_decompress_end(unsigned long long ctx, const void *trace);

unsigned long long ZSTD_trace_compress_begin(const void *cctx)
{
    (void)cctx;
    return 0;
}

void ZSTD_trace_compress_end(unsigned long long ctx, const void *trace)
{
    (void)ctx, (void)trace;
}

unsigned long long ZSTD_trace_decompress_begin(const void *dctx)
{
    (void)dctx;
    return 0;
}

void ZSTD_trace_decompress_end(unsigned long long ctx, const void *trace)
{
    (void)ctx, (void)trace;
}
