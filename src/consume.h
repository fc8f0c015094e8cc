/*
 * consume.h - one domain consumer: Kafka in, one Postgres transaction per
 * batch out (DESIGN.md I-1 to I-4).
 *
 * A consumer owns one librdkafka consumer (in the domain's group), one
 * Postgres connection, and one decoder; `parallelism` consumers of a domain
 * run as threads of one process and share nothing but the catalogue and the
 * topology (read-only) and the stats counters.
 */
#ifndef CV_CONSUME_H
#define CV_CONSUME_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_consumer;

/* Borrows cfg, topo, domain and cat: they must outlive the consumer. */
struct cv_consumer *cv_consumer_new(const struct cv_config *cfg,
                                    const struct cv_topology *topo,
                                    const struct cv_topo_domain *domain,
                                    const struct cv_catalogue *cat,
                                    int instance, char *errstr,
                                    size_t errstr_size);

/*
 * Runs until *stop becomes non-zero: then finishes and commits the batch in
 * flight, closes the Kafka consumer (leaving the group) and returns CV_OK.
 * Postgres and broker outages are waited out with backoff. Returns CV_ERR
 * only for a fatal error (logged).
 */
int cv_consumer_run(struct cv_consumer *c, atomic_int *stop);
void cv_consumer_destroy(struct cv_consumer *c);

/*
 * The handler timeout's watchdog, called from another thread (the
 * runner's) every few tens of milliseconds. When the handler running on c
 * has passed its route's timeout_ms, it records the failed attempt in
 * conveyor.retries on a connection of its own and exits the process with
 * CV_EXIT_HANDLER_TIMEOUT: a C function cannot be stopped safely from
 * outside, and the batch it was in rolls back with the process. After the
 * restart the event waits for its next attempt like any failed one, and is
 * dead-lettered when it has none left. Returns 0 when all is well.
 */
int cv_consumer_watchdog(struct cv_consumer *c);

/*
 * How the consumer gets a batch of n events past the ones that fail (no
 * savepoints, I-2): it runs [lo, hi) in one transaction and reports what
 * happened; the range says what to run next. Pure bookkeeping, exposed for
 * the unit tests; the consumer thread owns its range.
 *
 * A failure names the events to blame, first..last (inclusive,
 * lo <= first <= last < hi): one event (first == last, its own statement or
 * its handler failed) or the events whose rows a failed set statement
 * carried (cv_sql_rows). The next range is then the events before first
 * (they commit), else the first half of first..last; a range that commits
 * leaves the rest of the failed range (bound) to run next. When event lo
 * fails alone, cv_consume_range_failed() returns 1: the consumer retries
 * and dead-letters it on its own and reports cv_consume_range_isolated().
 * This is a binary search: one bad event among n costs about 2 log2(n)
 * transactions; events that fail only together get split and all commit.
 */
struct cv_consume_range {
    size_t lo, hi; /* the range to run next; done when lo == n */
    size_t bound;  /* end of the last range that failed (else n) */
    size_t n;
};

void cv_consume_range_init(struct cv_consume_range *r, size_t n);
/* [lo, hi) committed. */
void cv_consume_range_committed(struct cv_consume_range *r);
/* [lo, hi) failed because of first..last. Returns 1 if event lo alone is
 * to blame (isolate it), else 0 with the next range set. */
int cv_consume_range_failed(struct cv_consume_range *r, size_t first,
                            size_t last);
/* Event lo was dealt with on its own (committed or dead-lettered). */
void cv_consume_range_isolated(struct cv_consume_range *r);

#endif
