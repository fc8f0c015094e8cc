/*
 * metrics.h - the process's own counters and histograms for /metrics, and
 * the hooks the engine calls to move them.
 *
 * Counters count what committed: a consumer's hooks collect the outcomes of
 * one transaction in the thread (cv_metrics_event) and add them when it
 * commits (cv_metrics_txn_commit); a rolled-back batch adds nothing, so
 * conveyor_events_processed_total counts each applied event once however
 * often its batch was re-run. Labels are bounded: a domain and route
 * (event type) must be in the topology given to cv_metrics_init(); an
 * event of another type counts under route "unrouted".
 *
 * Effects (calls to other services) are run by the effect runner, which
 * reports through cv_metrics_effect_target() and cv_metrics_effect_call();
 * until it exists no target is known and the effect series are absent.
 *
 * Every function may be called from any thread; the hooks cost an atomic
 * add or a few string compares.
 */
#ifndef CV_METRICS_H
#define CV_METRICS_H

#include <stdint.h>

#include "topology.h"

struct cv_buf;

enum cv_metrics_outcome {
    CV_METRICS_PROCESSED = 0, /* the handler ran and its work committed */
    CV_METRICS_DEDUPLICATED,  /* skipped: the inbox had its id */
    CV_METRICS_RETRIED,       /* a failed attempt, another one is due */
    CV_METRICS_DEAD_LETTERED, /* written to conveyor.dead_letters */
    CV_METRICS_OUTCOMES
};

/* Registers the topology's domains and routes (the label values). Called
 * once by the runner before any thread starts; a second call replaces. */
void cv_metrics_init(const struct cv_topology *topo);
/* Forgets everything (tests, and the end of `run`). */
void cv_metrics_free(void);

/* ---- consumer hooks (the consumer's thread) */

/* A transaction starts: forget what an earlier one left uncommitted. */
void cv_metrics_txn_begin(void);
/* Its handlers have run; what follows is the commit. */
void cv_metrics_txn_applied(void);
/* It committed: add its outcomes and its apply and commit durations. */
void cv_metrics_txn_commit(const char *domain);
/* One event's outcome in the transaction under way. */
void cv_metrics_event(const char *domain, const char *event_type,
                      enum cv_metrics_outcome outcome);
/* A failed attempt recorded in a transaction of its own (already
 * committed): counted at once. */
void cv_metrics_retried(const char *domain, const char *event_type);

/* ---- relay hook */

/* One outbox row published, seconds after it was written. */
void cv_metrics_outbox_published(double seconds);

/* ---- effect runner interface */

/* The state of one target (an external API): requests waiting, running,
 * failed for good, and its concurrency limit. A target is registered by
 * its first report; its name is a label, so it must come from the
 * topology, never from an event. */
void cv_metrics_effect_target(const char *target, int64_t pending,
                              int64_t in_flight, int64_t failed,
                              int64_t concurrency_limit);
/* One finished call to target and how long it took. */
void cv_metrics_effect_call(const char *target, double seconds);

struct cv_metrics_effect {
    char target[128];
    int64_t pending, in_flight, failed, limit;
    uint64_t calls;
};
/* Copies up to max targets into out; returns how many are known. */
size_t cv_metrics_effects(struct cv_metrics_effect *out, size_t max);

/* ---- reading */

/* The totals of one outcome over every domain and route. */
uint64_t cv_metrics_total(enum cv_metrics_outcome outcome);
/* Appends the exposition of everything above (HELP, TYPE, samples). */
void cv_metrics_render(struct cv_buf *out);

/* Prometheus text for a float: "1.5", "+Inf", "NaN". */
void cv_metrics_format_double(char *out, size_t size, double v);

#endif
