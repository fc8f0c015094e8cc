/*
 * verification.c - the email verification domain (seed 000).
 *
 *   marketplace.verification.requested  emitted by the leads domain through
 *       the outbox: record the request. Calling the verification provider
 *       (MillionVerifier in the runbook) is processEmailVerificationQueue's
 *       job on a schedule; this handler only takes the request in, so that
 *       every lead's request is accounted for exactly once. One insert
 *       per batch (cv_sql_rows).
 *
 * Idempotent: a request is keyed by its event id (source_event_id, unique
 * since migration 0008). The outbox does not deduplicate: a replay of the
 * leads domain re-emits verification.requested under the same derived id
 * (<ce_id>.1). The inbox absorbs it within its dedupe window; past it, or
 * when this domain's own group is replayed, ON CONFLICT DO NOTHING does.
 */
#include "handler.h"

static cv_result_t verification_requested(struct cv_ctx *ctx,
                                          const struct cv_event *ev)
{
    const char *lead_id, *partner_id, *email;

    if (cv_event_string(ev, "lead_id", &lead_id) != CV_OK ||
        cv_event_string(ev, "partner_id", &partner_id) != CV_OK ||
        cv_event_string(ev, "email", &email) != CV_OK)
        return cv_fail(ctx, "record does not match VerificationRequested");
    const char *p[] = {lead_id, partner_id, email, cv_event_id(ev)};
    cv_sql_rows(ctx,
                "INSERT INTO marketplace.verification_requests (lead_id, "
                "partner_id, email, source_event_id) SELECT * FROM "
                "unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) "
                "ON CONFLICT (source_event_id) DO NOTHING",
                4, p);
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {.name = "verification_requested",
     .fn = verification_requested,
     .description = "take in a verification request"},
    {0},
};

const struct cv_domain_def cv_domain_verification = {
    .name = "verification",
    .description = "email verification of the lead marketplace",
    .handlers = handlers,
};
