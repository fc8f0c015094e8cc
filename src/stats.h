/*
 * stats.h - process-wide counters, updated by consumer and relay threads
 * with relaxed atomics and read by the dev summary line and `conveyor run`'s
 * final report (and, later, the metrics endpoint).
 */
#ifndef CV_STATS_H
#define CV_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct cv_stats {
    atomic_uint_fast64_t processed;      /* events handled and committed */
    atomic_uint_fast64_t duplicates;     /* skipped by the inbox */
    atomic_uint_fast64_t dead_letters;   /* written to conveyor.dead_letters */
    atomic_uint_fast64_t batches;        /* committed transactions */
    atomic_uint_fast64_t fenced;         /* commits refused by the offset CAS */
    atomic_uint_fast64_t retried;        /* batches rolled back and re-run */
    atomic_uint_fast64_t published;      /* outbox rows published */
    atomic_int_fast64_t first_commit_ms; /* wall clock of the first commit */
    atomic_int_fast64_t assigned_ms;     /* wall clock of the first assign */
};

extern struct cv_stats cv_stats;

/* Commit latency samples (microseconds) for percentiles; thread-safe. */
void cv_stats_commit_sample(int64_t usec);
/* p in [0,100]; returns -1 with no samples. */
int64_t cv_stats_commit_percentile(double p);

#endif
