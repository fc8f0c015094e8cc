-- Partner payouts of the lead marketplace (seed 000, section 2.2), paid as
-- Stripe Connect transfers through effects. Money is integer cents.

CREATE TABLE marketplace.partners (
    partner_id        uuid        PRIMARY KEY,
    name              text        NOT NULL,
    -- the partner's Stripe Connect account (acct_...); NULL: not connected
    -- yet, so nothing is paid out
    stripe_account_id text,
    -- what the platform knows of the account; Stripe decides for real (a
    -- transfer to an account without the capability fails)
    payouts_enabled   boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Commissions a partner earned: held for the holdback (7 days), then
-- payable (dailyCommissionRelease), then paid by exactly one payout.
-- payout_id is set when a payout takes the commission; a payout that
-- Stripe refused gives its commissions back (payout_id NULL again).
CREATE TABLE marketplace.commissions (
    commission_id uuid        PRIMARY KEY,
    partner_id    uuid        NOT NULL REFERENCES marketplace.partners,
    amount_cents  bigint      NOT NULL CHECK (amount_cents > 0),
    currency      text        NOT NULL DEFAULT 'usd',
    state         text        NOT NULL DEFAULT 'held'
                  CHECK (state IN ('held', 'payable', 'paid')),
    earned_at     timestamptz NOT NULL,
    payable_at    timestamptz,
    payout_id     uuid,
    paid_at       timestamptz
);
CREATE INDEX commissions_held ON marketplace.commissions (earned_at)
    WHERE state = 'held';
CREATE INDEX commissions_payable ON marketplace.commissions (partner_id)
    WHERE state = 'payable' AND payout_id IS NULL;
CREATE INDEX commissions_payout ON marketplace.commissions (payout_id)
    WHERE payout_id IS NOT NULL;

-- One payout per partner and run ('weekly:2026-12-07', 'manual:<event
-- id>'): a run replayed or raced pays nothing twice. The idempotency key
-- goes to Stripe with the transfer; a new key (key_generation + 1) is only
-- ever made after Stripe's transfer list showed that no transfer exists
-- for the payout (conveyor send marketplace.payout.retry).
CREATE TABLE marketplace.payouts (
    payout_id         uuid        PRIMARY KEY,
    partner_id        uuid        NOT NULL REFERENCES marketplace.partners,
    run               text        NOT NULL,
    amount_cents      bigint      NOT NULL CHECK (amount_cents > 0),
    currency          text        NOT NULL DEFAULT 'usd',
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'processing', 'paid',
                                       'failed')),
    idempotency_key   text        NOT NULL UNIQUE,
    key_generation    integer     NOT NULL DEFAULT 1,
    transfer_id       text        UNIQUE,
    transfer_created  timestamptz,
    failure_code      text,
    failure_message   text,
    -- calls made to Stripe for this payout, all key generations
    attempts          integer     NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    paid_at           timestamptz,
    UNIQUE (partner_id, run)
);
CREATE INDEX payouts_state ON marketplace.payouts (state);

-- reconcilePayouts: the transfers Stripe listed for a period, page by
-- page, and what did not match.
CREATE TABLE marketplace.reconciliation_transfers (
    run            text        NOT NULL, -- 'reconcile:<period start>'
    transfer_id    text        NOT NULL,
    amount_cents   bigint      NOT NULL,
    destination    text,
    transfer_group text,
    created        timestamptz NOT NULL,
    PRIMARY KEY (run, transfer_id)
);
CREATE TABLE marketplace.reconciliations (
    run          text        PRIMARY KEY,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    pages        integer     NOT NULL DEFAULT 0,
    transfers    integer     NOT NULL DEFAULT 0,
    mismatches   integer,                 -- NULL until the last page
    finished_at  timestamptz
);
CREATE TABLE marketplace.payout_mismatches (
    run             text   NOT NULL,
    kind            text   NOT NULL CHECK (kind IN ('transfer_missing',
                                                    'amount_differs',
                                                    'transfer_without_payout')),
    payout_id       uuid,
    transfer_id     text,
    expected_cents  bigint,
    actual_cents    bigint,
    UNIQUE (run, kind, payout_id, transfer_id)
);

-- Email verification (seed 000, section 2.1): the queue gets its state
-- machine. status: pending (due at next_retry_at) -> processing (claimed
-- at claimed_at, a MillionVerifier request in flight) -> verified (result)
-- or failed (after max attempts); back to pending on a failed attempt.
-- cycle counts re-verifications (reverifyStaleLeads): once per lead per
-- cycle.
ALTER TABLE marketplace.email_verification_queue
    ADD COLUMN next_retry_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN claimed_at    timestamptz,
    ADD COLUMN result        text,
    ADD COLUMN last_error    text,
    ADD COLUMN verified_at   timestamptz,
    ADD COLUMN cycle         integer     NOT NULL DEFAULT 1,
    ADD COLUMN reclaims      integer     NOT NULL DEFAULT 0;
CREATE INDEX email_verification_queue_due
    ON marketplace.email_verification_queue (next_retry_at, id)
    WHERE status = 'pending';

ALTER TABLE marketplace.leads
    ADD COLUMN verification_status text,  -- MillionVerifier's result
    ADD COLUMN verified_at         timestamptz;

-- updatePartnerVerificationRates: per partner, the share of verified leads
-- whose address is deliverable (result ok), in percent.
CREATE TABLE marketplace.partner_verification_rates (
    partner_id        uuid          PRIMARY KEY,
    verified_leads    bigint        NOT NULL,
    deliverable_leads bigint        NOT NULL,
    verification_rate numeric(5, 2) NOT NULL,
    computed_at       timestamptz   NOT NULL,
    computed_for      timestamptz   NOT NULL -- the job's fire time
);

-- Notices a domain raises for an operator (a reconciliation mismatch, an
-- upload that failed): `conveyor status` shows the open ones.
CREATE TABLE conveyor.notices (
    id          bigserial   PRIMARY KEY,
    domain      text        NOT NULL,
    kind        text        NOT NULL,
    subject     text        NOT NULL,
    detail      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (domain, kind, subject)
);

-- A new request wakes the effect runner at once, however it was written
-- (the handler API's buffered insert, or a domain's own SQL).
CREATE FUNCTION conveyor.effects_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('conveyor_effects', '');
    RETURN NULL;
END $$;
CREATE TRIGGER effects_notify AFTER INSERT ON conveyor.effects
    FOR EACH STATEMENT EXECUTE FUNCTION conveyor.effects_notify();

-- Helpers for domain SQL that reads answers and builds requests.
-- A response body as jsonb, NULL when it is not JSON (a proxy's HTML page).
CREATE FUNCTION conveyor.try_jsonb(body text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN body::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- Percent-encodes a query parameter value (RFC 3986 unreserved stay).
CREATE FUNCTION conveyor.urlencode(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(string_agg(
        CASE WHEN ch ~ '^[A-Za-z0-9._~-]$' THEN ch
             ELSE regexp_replace(upper(encode(convert_to(ch, 'UTF8'), 'hex')),
                                 '(..)', '%\1', 'g') END,
        '' ORDER BY i), '')
      FROM regexp_split_to_table(value, '') WITH ORDINALITY AS t(ch, i)
$$;

-- finished calls are pruned after the inbox's retention (outbox.c)
CREATE INDEX effects_finished ON conveyor.effects (finished_at)
    WHERE state IN ('done', 'cancelled');
