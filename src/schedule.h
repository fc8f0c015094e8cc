/*
 * schedule.h - what a schedule fires, and when: the pure half of the
 * ticker (ticker.c does the Postgres half).
 *
 * A fire time is classified when the ticker gets to it ("now"):
 *
 *   scheduled  due at most late_after_ms ago: fired normally;
 *   catch_up   missed (due longer ago, e.g. every ticker was down) and the
 *              schedule's policy wants it: `all` fires every missed time
 *              inside catch_up_window_s, `latest` only the newest one;
 *   skipped    recorded, not fired: the schedule is disabled or paused,
 *              its policy is `none`, `latest` and a newer fire was missed
 *              too, or it is older than the catch-up window.
 *
 * Every fire time gets exactly one of these (DESIGN.md I-7), so the runs
 * table is a complete ledger: nothing is dropped silently.
 */
#ifndef CV_SCHEDULE_H
#define CV_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "schema.h"
#include "topology.h"

enum cv_run_kind {
    CV_RUN_SCHEDULED,
    CV_RUN_CATCH_UP,
    CV_RUN_SKIPPED,
    CV_RUN_MANUAL
};

/* "scheduled", "catch_up", "skipped", "manual": the schedule_runs.kind. */
const char *cv_run_kind_name(int kind);

struct cv_fire {
    int64_t fire_ms;
    int kind;           /* enum cv_run_kind */
    const char *reason; /* a static string when skipped, else NULL */
};

/* The next fire time strictly after after_ms (ms since the epoch, UTC).
 * CV_ERR if there is none within five years (e.g. "0 0 30 2 *"). */
int cv_schedule_next(const struct cv_topo_schedule *s, int64_t after_ms,
                     int64_t *next_ms);

/*
 * The fire times in (cursor_ms, now_ms], classified, at most max of them
 * in out, in order. Returns how many; the last one's fire_ms is the cursor
 * for the next call (if max was reached there may be more).
 */
size_t cv_schedule_due(const struct cv_topo_schedule *s, int64_t cursor_ms,
                       int64_t now_ms, int64_t late_after_ms, int paused,
                       struct cv_fire *out, size_t max);

/* The event id of a fire: "<name>@<fire time, RFC 3339 UTC>", so a re-sent
 * tick is the same event to every consumer's inbox. */
void cv_schedule_event_id(const char *name, int64_t fire_ms, char *out,
                          size_t size);

/*
 * The event value (Confluent-framed Avro) for one fire: the schedule's
 * payload object plus the fields the ticker fills when the schema has
 * them: schedule (name), fire_time (ms) and run (the kind's name).
 */
int cv_schedule_encode(const struct cv_topo_schedule *s,
                       const struct cv_schema *schema, int64_t fire_ms,
                       int kind, char **out, size_t *out_len, char *errstr,
                       size_t errstr_size);

#endif
