-- The lead marketplace domain (schema "marketplace"), seed 000.
CREATE SCHEMA IF NOT EXISTS marketplace;

CREATE TABLE marketplace.partner_upload_batches (
    batch_id     uuid        PRIMARY KEY,
    partner_id   uuid        NOT NULL,
    lead_count   integer     NOT NULL,
    status       text        NOT NULL DEFAULT 'pending',
    completed_at timestamptz
);

CREATE TABLE marketplace.leads (
    lead_id         uuid        PRIMARY KEY,
    partner_id      uuid        NOT NULL,
    email           text        NOT NULL,
    first_name      text,
    last_name       text,
    company         text,
    phone           text,
    submitted_at    timestamptz NOT NULL,
    -- set for leads imported from a partner's CSV upload
    upload_batch_id uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_upload_batch ON marketplace.leads (upload_batch_id)
    WHERE upload_batch_id IS NOT NULL;

-- One row per processed lead.submitted (no unique constraint on purpose: it
-- is an exactly-once witness, a duplicate would show as an extra row).
CREATE TABLE marketplace.email_verification_queue (
    id              bigserial   PRIMARY KEY,
    lead_id         uuid        NOT NULL,
    partner_id      uuid        NOT NULL,
    email           text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    source_event_id text,
    queued_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verification_queue_lead
    ON marketplace.email_verification_queue (lead_id);
CREATE INDEX email_verification_queue_status
    ON marketplace.email_verification_queue (status);

-- Leads per partner per month (input of monthlyVolumeBonusUpdate); the
-- second exactly-once witness: the volumes sum to the events processed.
CREATE TABLE marketplace.partner_monthly_volume (
    partner_id uuid    NOT NULL,
    month      date    NOT NULL,
    leads      bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (partner_id, month)
);

-- Verification requests received by the verification domain through the
-- outbox (one row per event: a witness for the relay path).
CREATE TABLE marketplace.verification_requests (
    id              bigserial   PRIMARY KEY,
    lead_id         uuid        NOT NULL,
    partner_id      uuid        NOT NULL,
    email           text        NOT NULL,
    source_event_id text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
