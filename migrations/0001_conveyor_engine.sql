-- Conveyor engine tables (schema "conveyor"). Applied by `conveyor migrate`.
CREATE SCHEMA IF NOT EXISTS conveyor;

-- I-1: consumed offsets live here, committed with the handlers' writes.
CREATE TABLE conveyor.consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- I-3: advance every partition of a batch by compare-and-set. A consumer
-- that lost a partition finds a moved offset, and the whole batch fails with
-- SQLSTATE CV001 (so the batch's writes roll back with it).
CREATE FUNCTION conveyor.advance_offsets(g text, t text[], p integer[],
                                         expected bigint[], next bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    UPDATE conveyor.consumer_offsets o
       SET next_offset = u.next, updated_at = now()
      FROM unnest(t, p, expected, next) AS u(topic, part, expected, next)
     WHERE o.group_id = g AND o.topic = u.topic AND o.partition = u.part
       AND o.next_offset = u.expected;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> cardinality(t) THEN
        RAISE EXCEPTION 'offset fence: % of % partitions matched the expected offset',
            moved, cardinality(t) USING ERRCODE = 'CV001';
    END IF;
END $$;

-- I-4: one row per (group, event id) processed.
CREATE TABLE conveyor.inbox (
    group_id     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, event_id)
);
CREATE INDEX inbox_processed_at ON conveyor.inbox (processed_at);

-- I-5: events emitted by handlers leave through here, in id order.
CREATE TABLE conveyor.outbox (
    id           bigserial   PRIMARY KEY,
    topic        text        NOT NULL,
    key          bytea,
    value        bytea       NOT NULL,
    event_id     text        NOT NULL,
    event_type   text        NOT NULL,
    source       text        NOT NULL,
    event_time   bigint      NOT NULL, -- ms since the epoch (ce_time)
    tenant       text,
    traceparent  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON conveyor.outbox (id)
    WHERE published_at IS NULL;

-- Events that could not be decoded, routed or handled, with the raw bytes.
CREATE TABLE conveyor.dead_letters (
    id               bigserial   PRIMARY KEY,
    group_id         text        NOT NULL,
    topic            text        NOT NULL,
    partition        integer     NOT NULL,
    "offset"         bigint      NOT NULL,
    key              bytea,
    headers          jsonb       NOT NULL DEFAULT '{}',
    value            bytea,
    event_id         text,
    event_type       text,
    error            text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 1,
    first_failed_at  timestamptz NOT NULL DEFAULT now(),
    last_failed_at   timestamptz NOT NULL DEFAULT now(),
    status           text        NOT NULL DEFAULT 'open'
);
CREATE INDEX dead_letters_group ON conveyor.dead_letters (group_id, status);

-- Events the broker deleted before they were processed (stored offset below
-- the log start offset). Never skipped silently: the partition stops.
CREATE TABLE conveyor.retention_gaps (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    lost_from   bigint      NOT NULL,
    lost_to     bigint      NOT NULL, -- exclusive: the log start offset seen
    detected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition, lost_from)
);
