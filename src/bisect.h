/*
 * bisect.h - how the consumer gets a batch of n events past the ones that
 * fail, without savepoints (DESIGN.md I-2).
 *
 * The consumer runs events [lo, hi) in one transaction and reports what
 * happened; the range then says what to run next. Pure bookkeeping: no
 * Postgres, no Kafka. The consumer thread owns its range.
 *
 * A failure names the events to blame, first..last (inclusive,
 * lo <= first <= last < hi): one event (first == last: its own statement or
 * its handler failed) or the events whose rows a failed set statement
 * carried (cv_sql_rows). The next range is then the events before first
 * (they commit), else the first half of first..last; a range that commits
 * leaves the rest of the last failed range (bound) to run next. When event
 * lo fails alone, cv_bisect_failed() returns 1: the consumer retries or
 * dead-letters it on its own and reports cv_bisect_isolated().
 *
 * This is a binary search: one bad event among n costs about 2 log2(n)
 * transactions; events that fail only together get split and all commit.
 */
#ifndef CV_BISECT_H
#define CV_BISECT_H

#include <stddef.h>

struct cv_bisect {
    size_t lo, hi; /* the range to run next; done when lo == n */
    size_t bound;  /* end of the last range that failed (else n) */
    size_t n;
};

void cv_bisect_init(struct cv_bisect *b, size_t n);
/* [lo, hi) committed. */
void cv_bisect_committed(struct cv_bisect *b);
/* [lo, hi) failed because of first..last. Returns 1 if event lo alone is
 * to blame (isolate it), else 0 with the next range set. */
int cv_bisect_failed(struct cv_bisect *b, size_t first, size_t last);
/* Event lo was dealt with on its own (committed or dead-lettered). */
void cv_bisect_isolated(struct cv_bisect *b);
/* The batch shrank to n events (the rest of a held partition left it);
 * go on from event lo, which has not run yet. */
void cv_bisect_shrunk(struct cv_bisect *b, size_t lo, size_t n);

#endif
