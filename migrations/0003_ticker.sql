-- The ticker (DESIGN.md I-7): cron schedules published as events, exactly
-- once per (schedule, fire time), plus the audit log of manual actions.

-- Every schedule the ticker has seen. first_seen bounds catch-up: a new
-- schedule does not "catch up" on fire times from before it existed.
CREATE TABLE conveyor.schedules (
    name        text        PRIMARY KEY,
    first_seen  timestamptz NOT NULL, -- ticker clock time
    cron        text        NOT NULL,
    zone        text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per fire time of every schedule: fired on time ('scheduled'),
-- fired late after downtime ('catch_up'), not fired ('skipped', with the
-- reason: disabled, paused, catch-up policy, window), or a manual run
-- ('manual', with who and why). The partial unique index is the exactly-once
-- guarantee: two tickers racing (or a stale leader) cannot both insert a
-- fire time, and the outbox row is written in the same statement only for
-- the row that was inserted.
CREATE TABLE conveyor.schedule_runs (
    id           bigserial   PRIMARY KEY,
    schedule     text        NOT NULL,
    fire_time    timestamptz NOT NULL,
    kind         text        NOT NULL
                 CHECK (kind IN ('scheduled', 'catch_up', 'skipped', 'manual')),
    reason       text,
    event_id     text,        -- NULL when skipped
    actor        text,        -- manual runs
    ticker       text        NOT NULL, -- host:pid of the process that wrote it
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX schedule_runs_once ON conveyor.schedule_runs
    (schedule, fire_time) WHERE kind <> 'manual';
CREATE INDEX schedule_runs_by_time ON conveyor.schedule_runs
    (schedule, fire_time DESC);

-- The leader's heartbeat. A standby that sees it stale (the leader is
-- stopped but its session holds the lock) terminates the leader's backend,
-- which releases the lock.
CREATE TABLE conveyor.ticker_leader (
    id          integer     PRIMARY KEY CHECK (id = 1),
    holder      text        NOT NULL,
    backend_pid integer     NOT NULL,
    heartbeat   timestamptz NOT NULL
);

-- Every manual action: who, what, when, with which arguments.
CREATE TABLE conveyor.audit_log (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,
    action  text        NOT NULL,
    target  text,
    args    jsonb       NOT NULL DEFAULT '{}',
    reason  text
);
CREATE INDEX audit_log_at ON conveyor.audit_log (at);
