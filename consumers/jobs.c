/*
 * jobs.c - the lead marketplace's scheduled jobs (seed 000), as the ticker
 * publishes them.
 *
 *   marketplace.job.*  one event per schedule and fire time (schema
 *       conveyor.ScheduledJob or a job's own schema with its parameters):
 *       record the run in marketplace.job_runs.
 *
 * The jobs' real work (verifying emails, payouts, scoring, ...) comes in
 * later; until then this domain is the proof that every fire reaches a
 * consumer exactly once. A run is keyed by its event id (the primary key)
 * and inserted with ON CONFLICT DO NOTHING, so a replay of the group, or a
 * re-send older than the inbox's dedupe window, records nothing twice and
 * fails nothing. One insert per batch (cv_sql_rows).
 */
#include <stdio.h>

#include "handler.h"

static cv_result_t record_run(struct cv_ctx *ctx, const struct cv_event *ev)
{
    const char *schedule, *run;
    int64_t fire_ms;
    char fire_s[32];

    if (cv_event_string(ev, "schedule", &schedule) != CV_OK ||
        cv_event_long(ev, "fire_time", &fire_ms) != CV_OK ||
        cv_event_string(ev, "run", &run) != CV_OK)
        return cv_fail(ctx, "record has no schedule, fire_time and run");
    snprintf(fire_s, sizeof(fire_s), "%lld", (long long)fire_ms);
    const char *p[] = {cv_event_id(ev), schedule, cv_event_type(ev), fire_s,
                       run};
    cv_sql_rows(ctx,
                "INSERT INTO marketplace.job_runs (event_id, job, event_type, "
                "fire_time, run) SELECT i, j, t, to_timestamp(f / 1000.0), r "
                "FROM unnest($1::text[], $2::text[], $3::text[], "
                "$4::bigint[], $5::text[]) AS u(i, j, t, f, r) "
                "ON CONFLICT (event_id) DO NOTHING",
                5, p);
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {.name = "record_run",
     .fn = record_run,
     .description = "record a scheduled job's run"},
    {0},
};

const struct cv_domain_def cv_domain_jobs = {
    .name = "jobs",
    .description = "the lead marketplace's scheduled jobs (records each run)",
    .handlers = handlers,
};
