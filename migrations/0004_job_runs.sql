-- The marketplace's scheduled jobs (seed 000) until their handlers are
-- written: the jobs domain records each run it receives from the ticker.
CREATE TABLE marketplace.job_runs (
    event_id     text        PRIMARY KEY,
    job          text        NOT NULL,
    event_type   text        NOT NULL,
    fire_time    timestamptz NOT NULL,
    run          text        NOT NULL, -- scheduled | catch_up | manual
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_runs_job ON marketplace.job_runs (job, fire_time);
