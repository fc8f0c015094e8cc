/*
 * ticker.h - publishes the topology's schedules as events, exactly once per
 * (schedule, fire time) (DESIGN.md I-7).
 *
 * Every `conveyor run` may run a ticker thread; one leads (a session
 * advisory lock), the others stand by and poll the lock every tick_ms. The
 * leader writes a heartbeat each tick; a standby that finds it older than
 * leader_timeout_ms (the leader is stopped or hung while its session still
 * holds the lock) terminates the leader's backend and takes over.
 *
 * Leadership is an optimisation only. Each tick is one statement in one
 * transaction that inserts the due (schedule, fire time) rows into
 * conveyor.schedule_runs with ON CONFLICT DO NOTHING and writes outbox rows
 * only for the rows it inserted; two leaders at once cannot both fire a
 * fire time. The relay publishes the outbox rows.
 */
#ifndef CV_TICKER_H
#define CV_TICKER_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_pg;
struct cv_ticker;

#define CV_TRIGGER_ID_MAX 320 /* "<schedule>@manual:<uuid>" */

/* What the ticker has done for one schedule since it started (for logs,
 * `status` and the metrics endpoint). Times are ms since the epoch on the
 * ticker's clock; 0 = none yet. */
struct cv_schedule_stats {
    _Atomic int64_t last_fire_ms;
    _Atomic int64_t next_fire_ms;
    _Atomic uint64_t fired;      /* on time (late ones included) */
    _Atomic uint64_t late;       /* of those, published over two ticks late */
    _Atomic uint64_t caught_up;  /* fired late, after downtime */
    _Atomic uint64_t skipped;    /* missed and not fired, or disabled */
    _Atomic int64_t max_late_ms; /* worst delay of an on-time fire */
};

struct cv_ticker *cv_ticker_new(const struct cv_config *cfg,
                                const struct cv_topology *topo,
                                const struct cv_catalogue *cat, char *errstr,
                                size_t errstr_size);
/* Runs until *stop; returns CV_OK. */
int cv_ticker_run(struct cv_ticker *t, atomic_int *stop);
void cv_ticker_destroy(struct cv_ticker *t);
/* The stats of the topology's i-th schedule. */
const struct cv_schedule_stats *cv_ticker_stats(const struct cv_ticker *t,
                                                size_t i);

/*
 * Fires s now (now_ms on the ticker's clock) as a manual run: a
 * schedule_runs row of kind 'manual', its outbox event (its own id,
 * "<name>@manual:<uuid>") and an audit_log row with actor and reason, in
 * one transaction. Writes the event id to event_id.
 */
int cv_ticker_trigger(struct cv_pg *pg, const struct cv_topology *topo,
                      const struct cv_catalogue *cat,
                      const struct cv_topo_schedule *s, int64_t now_ms,
                      const char *actor, const char *reason,
                      char event_id[CV_TRIGGER_ID_MAX], char *errstr,
                      size_t errstr_size);

#endif
