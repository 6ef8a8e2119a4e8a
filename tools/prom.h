/* prom.h -- the Prometheus text exposition format (version 0.0.4), as
 * `cgicache stats --prometheus` writes it (see prom.c).
 *
 * Usage: prom_family once per family, then its samples, all together (the
 * format wants a family's lines in one group). */
#ifndef CGICACHE_TOOL_PROM_H
#define CGICACHE_TOOL_PROM_H

#include <stddef.h>
#include <stdio.h>

typedef struct prom_label {
    const char *name, *value;
} prom_label;

/* "# HELP name help" and "# TYPE name type"; the help text escaped. */
void prom_family(FILE *out, const char *name, const char *type, const char *help);

/* "name{label="value",...} value": the label values escaped; no braces
 * without labels.  value is the sample's text (prom_fixed makes one). */
void prom_sample(FILE *out, const char *name, const prom_label *labels, size_t nlabels,
                 const char *value);

/* v / 10^decimals written with that many decimals (at most
 * PROM_DECIMALS_MAX) into out: a count of milliseconds as seconds is
 * prom_fixed(out, cap, ms, 3). */
#define PROM_DECIMALS_MAX 18
void prom_fixed(char *out, size_t cap, long long v, int decimals);

#endif
