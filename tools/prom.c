/* prom.c -- the Prometheus text exposition format (version 0.0.4).
 *
 * Only what the format asks: a HELP's text escapes \ and newline; a label
 * value escapes \, " and newline; a sample is one line, one space before
 * its value.  Values are printed from integers (fixed point), never
 * through a double, so a counter reads back exactly as Redis holds it. */
#include "prom.h"


/* Writes v with the escapes the format asks of it; quote: also ". */
static void escaped(FILE *out, const char *v, int quote)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || (quote && *v == '"'))
            fprintf(out, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", out);
        else
            putc(*v, out);
    }
}

void prom_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s ", name);
    escaped(out, help, 0);
    fprintf(out, "\n# TYPE %s %s\n", name, type);
}

void prom_sample(FILE *out, const char *name, const prom_label *labels, size_t nlabels,
                 const char *value)
{
    fputs(name, out);
    for (size_t i = 0; i < nlabels; i++) {
        fprintf(out, "%c%s=\"", i == 0 ? '{' : ',', labels[i].name);
        escaped(out, labels[i].value, 1);
        putc('"', out);
    }
    fprintf(out, "%s %s\n", nlabels > 0 ? "}" : "", value);
}

void prom_fixed(char *out, size_t cap, long long v, int decimals)
{
    unsigned long long scale = 1,
                       mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    if (decimals > PROM_DECIMALS_MAX)
        decimals = PROM_DECIMALS_MAX;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (decimals <= 0)
        snprintf(out, cap, "%lld", v);
    else
        snprintf(out, cap, "%s%llu.%0*llu", v < 0 ? "-" : "", mag / scale, decimals, mag % scale);
}
