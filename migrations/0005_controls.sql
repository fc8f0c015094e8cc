-- The kill switch: pause and resume a route, a domain, every schedule or
-- one, or everything. One row per active switch; `conveyor pause` inserts
-- it, `conveyor resume` deletes it (both audited), and NOTIFY
-- conveyor_controls tells the running consumers and the ticker at once.
CREATE TABLE conveyor.controls (
    scope   text        NOT NULL
            CHECK (scope IN ('all', 'domain', 'route', 'schedule')),
    target  text        NOT NULL, -- '' | domain | domain/event.type | schedule
    reason  text        NOT NULL,
    actor   text        NOT NULL,
    set_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, target)
);

-- What each running consumer is doing about the switches, so an operator
-- (and `conveyor status`) can see that a pause was acknowledged: a consumer
-- writes 'paused' only after its last batch has committed and its
-- partitions are paused, and commits nothing until it writes 'running'.
CREATE TABLE conveyor.consumer_state (
    group_id   text        NOT NULL,
    member     text        NOT NULL, -- host:pid/thread
    state      text        NOT NULL CHECK (state IN ('running', 'paused')),
    detail     text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, member)
);

-- Dead letters are worked off by hand: `conveyor dlq retry` re-queues the
-- event (status 'retried'), `conveyor dlq discard` gives up on it
-- ('discarded'); both record who, when and why, and write the audit log.
ALTER TABLE conveyor.dead_letters
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN resolved_by text,
    ADD COLUMN resolution  text,
    ADD CONSTRAINT dead_letters_status
        CHECK (status IN ('open', 'retried', 'discarded'));
CREATE INDEX dead_letters_failed ON conveyor.dead_letters (last_failed_at);
