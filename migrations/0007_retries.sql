-- Events whose handler failed and that will run again (the route's retry
-- policy, topology.h). The attempt count lives here, so it survives
-- restarts and rebalances: one row per failing event and group.
--
-- parked = false: the event is at the head of its partition (blocking
--   mode, or a handler cut off by its timeout). The stored offset stays on
--   it and the partition waits until next_attempt_at; the event is fetched
--   from Kafka again.
-- parked = true: deferred mode. The row holds a copy of the event and the
--   offset has moved past it in the same transaction; a consumer of the
--   group re-runs it from here when due (FOR UPDATE SKIP LOCKED) and
--   deletes the row in the transaction that applies it.
CREATE TABLE conveyor.retries (
    id              bigserial   PRIMARY KEY,
    group_id        text        NOT NULL,
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    key             bytea,
    headers         jsonb       NOT NULL DEFAULT '{}',
    value           bytea       NOT NULL,
    parked          boolean     NOT NULL,
    attempts        integer     NOT NULL CHECK (attempts >= 1),
    next_attempt_at timestamptz NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL,
    UNIQUE (group_id, topic, partition, "offset")
);
CREATE INDEX retries_due ON conveyor.retries (group_id, next_attempt_at)
    WHERE parked;
