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
 * consumer exactly once. A second copy of the same event (a relay re-send
 * after a crash) is dropped by the inbox before it gets here, so the
 * primary key on event_id would turn a double run into a failure, not a
 * silent second row.
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
    cv_sql_exec(ctx,
                "INSERT INTO marketplace.job_runs (event_id, job, event_type, "
                "fire_time, run) VALUES ($1, $2, $3, "
                "to_timestamp($4::bigint / 1000.0), $5)",
                5, p);
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {"record_run", record_run, "record a scheduled job's run"},
    {NULL, NULL, NULL},
};

const struct cv_domain_def cv_domain_jobs = {
    "jobs",
    "the lead marketplace's scheduled jobs (records each run)",
    handlers,
};
