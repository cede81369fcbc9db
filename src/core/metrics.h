/*
 * metrics — lock-free counters and histograms rendered in the Prometheus text format.
 *
 * A histogram has fixed bucket bounds (seconds) shared by every histogram in ehall,
 * so observing is a handful of atomic adds and never allocates.
 */
#ifndef EHALL_METRICS_H
#define EHALL_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

#define METRICS_BUCKETS 12
extern const double metrics_bucket_bounds[METRICS_BUCKETS];

struct histogram {
    atomic_ullong buckets[METRICS_BUCKETS]; /* non-cumulative counts */
    atomic_ullong count;
    atomic_ullong sum_us; /* sum in microseconds */
};

void histogram_observe(struct histogram *h, double seconds);

/* A growable text buffer for rendering the exposition. */
struct strbuf {
    char *data;
    size_t len, cap;
    int oom;
};
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(struct strbuf *sb);

/* Append `name_bucket{labels,le=..}`, `_sum` and `_count` lines; labels may be "". */
void histogram_render(struct strbuf *sb, const char *name, const char *labels, const struct histogram *h);

#endif
