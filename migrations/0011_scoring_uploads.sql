-- Imports (the engine's; src/import.c): files named by a request row,
-- streamed and written in chunks of rows by the importer's sink statement
-- (topology `imports`), each chunk in one transaction with the progress
-- below, so a crash resumes at the next chunk and inserts nothing twice.
--
-- state: pending   waiting for a worker (first start, after a transient
--                  error at next_attempt_at, or resumed after a stall)
--        running   a worker holds the session advisory lock
--                  (7318204120, id) while it streams the file; a worker
--                  that died lost the lock with its session, and the import
--                  is taken up again from byte_offset
--        done      read to the end; the outcome event is in the outbox
--        failed    a permanent error, no attempts left, or stalled too
--                  often; the outcome event (ok = false) is in the outbox
-- generation goes up whenever an import is taken from its worker (a resume,
-- a retry): every write of a worker is fenced by the generation it began.
CREATE TABLE conveyor.imports (
    id              bigserial   PRIMARY KEY,
    importer        text        NOT NULL,
    idempotency_key text        NOT NULL,
    source          text        NOT NULL,  -- URL, or a path below base_url
    context         jsonb       NOT NULL DEFAULT '{}',
    outcome_type    text        NOT NULL,  -- event type of the outcome
    outcome_key     text,                  -- its Kafka key
    domain          text        NOT NULL,  -- who asked
    source_event_id text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'running', 'done', 'failed')),
    generation      integer     NOT NULL DEFAULT 1,
    failures        integer     NOT NULL DEFAULT 0, -- transient errors
    resumes         integer     NOT NULL DEFAULT 0, -- stalls resumed
    starts          integer     NOT NULL DEFAULT 0, -- workers that took it
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    header          text[],                -- the header row, once read
    byte_offset     bigint      NOT NULL DEFAULT 0, -- the next row's start
    line            bigint      NOT NULL DEFAULT 0, -- physical lines read
    rows_ok         bigint      NOT NULL DEFAULT 0,
    rows_bad        bigint      NOT NULL DEFAULT 0,
    chunks          integer     NOT NULL DEFAULT 0,
    size_bytes      bigint,                -- the object's size, when known
    holder          text,                  -- the worker (host:pid:thread)
    started_at      timestamptz,
    progress_at     timestamptz,           -- bytes or a chunk, last seen
    finished_at     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (importer, idempotency_key)
);
CREATE INDEX imports_due ON conveyor.imports (importer, next_attempt_at, id)
    WHERE state IN ('pending', 'running');
CREATE INDEX imports_progress ON conveyor.imports (progress_at)
    WHERE state = 'running';

-- Bad rows, each once with its line (the first line of a row that spans
-- several) and why: bad quoting, a required column empty, an invalid
-- email, or what the sink refused (a duplicate in the file).
CREATE TABLE conveyor.import_errors (
    import_id bigint NOT NULL REFERENCES conveyor.imports ON DELETE CASCADE,
    line      bigint NOT NULL,
    reason    text   NOT NULL,
    raw       text,            -- the row as read, at most 1 KiB
    PRIMARY KEY (import_id, line)
);

CREATE FUNCTION conveyor.imports_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('conveyor_imports', '');
    RETURN NULL;
END $$;
CREATE TRIGGER imports_notify AFTER INSERT OR UPDATE OF state ON conveyor.imports
    FOR EACH STATEMENT EXECUTE FUNCTION conveyor.imports_notify();

-- Partner uploads (seed 000, 2.4): the batch as the marketplace sees it.
ALTER TABLE marketplace.partner_upload_batches
    ALTER COLUMN lead_count SET DEFAULT 0,
    ADD COLUMN storage_path text,
    ADD COLUMN bad_rows     bigint  NOT NULL DEFAULT 0,
    ADD COLUMN error        text,
    ADD COLUMN retry_count  integer NOT NULL DEFAULT 0,
    ADD COLUMN requested_at timestamptz;

-- Leads from an upload: the line they came from; an address appears once
-- per upload (a second one is a duplicate in the file, a bad row).
ALTER TABLE marketplace.leads
    ADD COLUMN upload_line     bigint,
    -- dailyFreshnessDecay's score, 0..100 (numeric, never float)
    ADD COLUMN freshness_score numeric(5, 2),
    -- when a buyer bought the lead (freshnessAtSale), NULL if unsold
    ADD COLUMN sold_at         timestamptz;
CREATE UNIQUE INDEX leads_upload_email
    ON marketplace.leads (upload_batch_id, lower(email))
    WHERE upload_batch_id IS NOT NULL;
CREATE INDEX leads_email ON marketplace.leads (lower(email), submitted_at);
CREATE INDEX leads_partner_submitted
    ON marketplace.leads (partner_id, submitted_at);
CREATE INDEX leads_sold ON marketplace.leads (sold_at) WHERE sold_at IS NOT NULL;

-- The freshness curve of seed 000, 2.3: a logistic decay from max_score,
-- half-way at midpoint_days, never below floor_score; rounded to cents of
-- a point. One SQL function for the bulk update (seed 000, 9) and for
-- freshnessAtSale; IMMUTABLE, so the planner inlines it.
CREATE FUNCTION marketplace.freshness(age_days double precision,
                                      max_score double precision,
                                      midpoint_days double precision,
                                      steepness double precision,
                                      floor_score double precision)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(greatest(floor_score,
        max_score / (1 + exp(least(steepness
                                   * (greatest(age_days, 0) - midpoint_days),
                                   700))))::numeric, 2)
$$;

-- dailyPartnerScoreCalculation: the score and the components it was made
-- of, each 0..100.
CREATE TABLE marketplace.partner_scores (
    partner_id        uuid          PRIMARY KEY,
    verification_rate numeric(5, 2) NOT NULL,
    freshness_at_sale numeric(5, 2) NOT NULL,
    data_completeness numeric(5, 2) NOT NULL,
    duplicate_rate    numeric(5, 2) NOT NULL,
    score             numeric(5, 2) NOT NULL,
    computed_for      timestamptz   NOT NULL -- the job's fire time
);

-- updatePartnerDataCompleteness: the share of the optional fields
-- (first_name, last_name, company, phone) the partner's recent leads fill.
CREATE TABLE marketplace.partner_data_completeness (
    partner_id        uuid          PRIMARY KEY,
    leads             bigint        NOT NULL,
    filled_fields     bigint        NOT NULL,
    data_completeness numeric(5, 2) NOT NULL,
    computed_for      timestamptz   NOT NULL
);

-- Commissions get a kind: a lead sold, or a bonus this issue's jobs pay.
ALTER TABLE marketplace.commissions
    ADD COLUMN kind text NOT NULL DEFAULT 'lead'
        CHECK (kind IN ('lead', 'volume_bonus', 'referral'));
ALTER TABLE marketplace.partners
    ADD COLUMN referred_by uuid REFERENCES marketplace.partners;

-- monthlyVolumeBonusUpdate: once per partner per month.
CREATE TABLE marketplace.volume_bonuses (
    partner_id   uuid          NOT NULL REFERENCES marketplace.partners,
    month        date          NOT NULL,
    leads        bigint        NOT NULL,
    base_cents   bigint        NOT NULL, -- the month's lead commissions
    rate         numeric(6, 4) NOT NULL,
    bonus_cents  bigint        NOT NULL,
    computed_for timestamptz   NOT NULL,
    PRIMARY KEY (partner_id, month)
);

-- processReferralMilestones: each milestone once per referring partner.
CREATE TABLE marketplace.referral_milestones (
    partner_id  uuid        NOT NULL REFERENCES marketplace.partners,
    milestone   integer     NOT NULL, -- active referrals reached
    referrals   integer     NOT NULL, -- active referrals when awarded
    bonus_cents bigint      NOT NULL,
    awarded_for timestamptz NOT NULL,
    PRIMARY KEY (partner_id, milestone)
);
