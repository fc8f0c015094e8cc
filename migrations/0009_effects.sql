-- Effects: calls to other services that handlers request (DESIGN.md I-6).
-- A handler never calls out itself: it writes a request here, in its batch
-- transaction, so the request exists exactly when the batch committed. The
-- effect runner (src/effects.c) executes due requests after the commit and
-- brings the outcome back as an event, through the outbox, in the same
-- transaction that marks the request done.
--
-- state: pending   waiting for its (next) attempt at next_attempt_at
--        in_flight claimed by a runner (lease_token) until lease_until; a
--                  lease that runs out (the runner died mid-call) makes the
--                  request pending again, and it is sent again with the
--                  same idempotency key
--        done      answered; the outcome event is in the outbox
--        failed    a final error, no attempts left or past max age; the
--                  outcome event (ok = false) is in the outbox
--        cancelled `conveyor effects cancel`: never sent again; an outcome
--                  event says so
-- A request is keyed by (target, idempotency_key): a handler run again (a
-- replay, a retried dead letter) requests nothing twice.
CREATE TABLE conveyor.effects (
    id               bigserial   PRIMARY KEY,
    target           text        NOT NULL,
    method           text        NOT NULL,
    path             text        NOT NULL,
    query            text,                -- URL-encoded, without '?'
    body             jsonb,
    idempotency_key  text        NOT NULL,
    outcome_type     text        NOT NULL, -- event type of the outcome
    outcome_key      text,                 -- its Kafka key
    context          jsonb,                -- echoed back in the outcome
    domain           text        NOT NULL, -- who asked
    source_event_id  text        NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'in_flight', 'done',
                                      'failed', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    reclaims         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_token      text,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    finished_at      timestamptz,
    last_status      integer,               -- HTTP status, 0 = none
    last_error       text,
    response         jsonb,                 -- the final answer, as sent out
    UNIQUE (target, idempotency_key)
);
CREATE INDEX effects_due ON conveyor.effects (target, next_attempt_at, id)
    WHERE state = 'pending';
CREATE INDEX effects_leased ON conveyor.effects (lease_until)
    WHERE state = 'in_flight';
CREATE INDEX effects_failed ON conveyor.effects (target, finished_at)
    WHERE state IN ('failed', 'cancelled');

-- A target can be paused like a domain: its requests wait, none is lost.
ALTER TABLE conveyor.controls DROP CONSTRAINT controls_scope_check;
ALTER TABLE conveyor.controls ADD CONSTRAINT controls_scope_check
    CHECK (scope IN ('all', 'domain', 'route', 'schedule', 'target'));
