/*
 * metrics.c — histograms and the text buffer they render into.  See metrics.h.
 */
#include "core/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double metrics_bucket_bounds[METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

void histogram_observe(struct histogram *h, double seconds)
{
    size_t i = 0;
    while (i < METRICS_BUCKETS && seconds > metrics_bucket_bounds[i]) i++;
    if (i < METRICS_BUCKETS) atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    unsigned long long us = seconds > 0 ? (unsigned long long)(seconds * 1e6) : 0;
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    if (sb->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = sb->cap - sb->len;
        int n = vsnprintf(sb->data ? sb->data + sb->len : NULL, sb->data ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            sb->oom = 1;
            return;
        }
        if (sb->data && (size_t)n < room) {
            sb->len += (size_t)n;
            return;
        }
        size_t ncap = sb->cap ? sb->cap * 2 : 4096;
        while (ncap - sb->len <= (size_t)n) ncap *= 2;
        char *nd = realloc(sb->data, ncap);
        if (!nd) {
            sb->oom = 1;
            return;
        }
        sb->data = nd;
        sb->cap = ncap;
    }
}

void sb_free(struct strbuf *sb)
{
    free(sb->data);
    memset(sb, 0, sizeof *sb);
}

void histogram_render(struct strbuf *sb, const char *name, const char *labels, const struct histogram *h)
{
    const char *sep = labels[0] ? "," : "";
    unsigned long long cum = 0;
    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        sb_printf(sb, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, metrics_bucket_bounds[i], cum);
    }
    unsigned long long count = atomic_load_explicit(&h->count, memory_order_relaxed);
    sb_printf(sb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, count);
    double sum = (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6;
    if (labels[0]) {
        sb_printf(sb, "%s_sum{%s} %.6f\n", name, labels, sum);
        sb_printf(sb, "%s_count{%s} %llu\n", name, labels, count);
    } else {
        sb_printf(sb, "%s_sum %.6f\n", name, sum);
        sb_printf(sb, "%s_count %llu\n", name, count);
    }
}
