/*
 * verification.c - email verification of the lead marketplace (seed 000,
 * 2.1), with MillionVerifier called through effects.
 *
 *   marketplace.verification.requested  emitted by the leads domain: record
 *       the request (one row per request, a witness of the relay path).
 *   marketplace.job.process_email_verification_queue  (every 5 minutes)
 *       claims up to batch_size due pending queue rows (the schedule's
 *       payload: 50) and requests one verification each. The target's
 *       concurrency keeps at most 3 in flight (seed 000, section 9).
 *   marketplace.verification.result  a verification's outcome: the queue
 *       row becomes verified with MillionVerifier's result (and the lead's
 *       verification_status with it), or, after a failed attempt, pending
 *       again after a backoff, or failed after max_attempts (3).
 *   marketplace.job.reverify_stale_leads  (03:00) leads verified more than
 *       reverify_after_days (60) ago are queued again, once per lead per
 *       cycle.
 *   marketplace.job.update_partner_verification_rates  (04:00) each
 *       partner's share of deliverable addresses, in one statement.
 *
 * The queue's claims cannot get stuck (the runbook's "Clear Stuck Queue"):
 * a claimed row's request is in conveyor.effects, and every request ends
 * in an outcome event (done, failed, or cancelled by an operator), which
 * releases the row; a runner that dies mid-call loses its lease and the
 * engine sends the request again. A claim older than claim_timeout_minutes
 * whose request is gone anyway (deleted by hand) is reclaimed by the next
 * run and counted in the row's reclaims.
 *
 * Idempotent: a request row is keyed by its event id; a claim and its
 * request are keyed by (queue row, cycle, attempt); an outcome changes a
 * row only while it is processing that very attempt, so a replayed
 * outcome changes nothing.
 */
#include <stdio.h>

#include "handler.h"

#define MV_TARGET "millionverifier"

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

static cv_result_t process_queue(struct cv_ctx *ctx, const struct cv_event *ev)
{
    int32_t batch, max_attempts;
    int64_t fire_ms;
    char b[16], m[16], fire[32];

    if (cv_event_long(ev, "fire_time", &fire_ms) != CV_OK ||
        cv_event_int(ev, "batch_size", &batch) != CV_OK ||
        cv_event_int(ev, "max_attempts", &max_attempts) != CV_OK)
        return cv_fail(ctx, "record does not match VerificationQueueDue");
    snprintf(b, sizeof(b), "%d", (int)batch);
    snprintf(m, sizeof(m), "%d", (int)max_attempts);
    snprintf(fire, sizeof(fire), "%lld", (long long)fire_ms);
    {
        /* claims whose request is gone: release them (rare: deleted by
         * hand; a request always ends in an outcome otherwise) */
        const char *p[] = {cv_setting(ctx, "claim_timeout_minutes")};
        cv_sql_exec(ctx,
                    "UPDATE marketplace.email_verification_queue q"
                    " SET status = 'pending', claimed_at = NULL,"
                    " reclaims = q.reclaims + 1, next_retry_at = now()"
                    " WHERE q.status = 'processing' AND q.claimed_at <"
                    " now() - make_interval(mins => $1::int)"
                    " AND NOT EXISTS (SELECT 1 FROM conveyor.effects e"
                    " WHERE e.target = '" MV_TARGET "' AND e.idempotency_key ="
                    " 'verify-' || q.id || '-' || q.cycle || '-' || q.attempts"
                    " AND e.state IN ('pending', 'in_flight'))",
                    1, p);
    }
    const char *p[] = {b, m, fire, cv_event_id(ev),
                       cv_setting(ctx, "verification_timeout_s")};
    cv_sql_exec(
        ctx,
        "WITH due AS (SELECT id FROM marketplace.email_verification_queue"
        " WHERE status = 'pending' AND next_retry_at <="
        " greatest(now(), to_timestamp($3::bigint / 1000.0))"
        " ORDER BY next_retry_at, id LIMIT $1::int FOR UPDATE SKIP LOCKED),"
        " claimed AS (UPDATE marketplace.email_verification_queue q"
        " SET status = 'processing', claimed_at = now(),"
        " attempts = q.attempts + 1 FROM due WHERE q.id = due.id"
        " RETURNING q.id, q.email, q.attempts, q.partner_id, q.cycle)"
        " INSERT INTO conveyor.effects (target, method, path, query,"
        " idempotency_key, outcome_type, outcome_key, context, domain,"
        " source_event_id)"
        " SELECT '" MV_TARGET "', 'GET', '/api/v3/',"
        " 'email=' || conveyor.urlencode(c.email) || '&timeout=' || $5,"
        " 'verify-' || c.id || '-' || c.cycle || '-' || c.attempts,"
        " 'marketplace.verification.result', c.partner_id::text,"
        " jsonb_build_object('queue_id', c.id, 'attempt', c.attempts,"
        " 'cycle', c.cycle, 'max_attempts', $2::int), 'verification', $4"
        " FROM claimed c ORDER BY c.id"
        " ON CONFLICT (target, idempotency_key) DO NOTHING",
        5, p);
    return CV_HANDLED;
}

static cv_result_t verification_result(struct cv_ctx *ctx,
                                       const struct cv_event *ev)
{
    const char *context, *body, *error;
    int ok;

    if (cv_event_bool(ev, "ok", &ok) != CV_OK ||
        cv_event_string(ev, "context", &context) != CV_OK)
        return cv_fail(ctx, "record does not match EffectOutcome");
    if (cv_event_string(ev, "body", &body) != CV_OK)
        body = NULL;
    if (cv_event_string(ev, "error", &error) != CV_OK)
        error = NULL;
    const char *p[] = {context, ok ? "true" : "false", body, error,
                       cv_setting(ctx, "verification_retry_s")};
    cv_sql_exec(
        ctx,
        "WITH x AS (SELECT ($1::jsonb->>'queue_id')::bigint AS id,"
        " ($1::jsonb->>'attempt')::int AS attempt,"
        " ($1::jsonb->>'cycle')::int AS cycle,"
        " ($1::jsonb->>'max_attempts')::int AS max_attempts,"
        " conveyor.try_jsonb($3) AS body),"
        " q AS (UPDATE marketplace.email_verification_queue q SET"
        " status = CASE WHEN $2::boolean THEN 'verified'"
        " WHEN q.attempts >= x.max_attempts THEN 'failed' ELSE 'pending' END,"
        " result = CASE WHEN $2::boolean THEN x.body->>'result'"
        " ELSE q.result END,"
        " verified_at = CASE WHEN $2::boolean THEN now()"
        " ELSE q.verified_at END,"
        " last_error = CASE WHEN $2::boolean THEN NULL"
        " ELSE coalesce(nullif(x.body->>'error', ''), $4) END,"
        " next_retry_at = CASE WHEN $2::boolean THEN q.next_retry_at"
        " ELSE now() + make_interval(secs => $5::int * 2 ^ (q.attempts - 1))"
        " END, claimed_at = NULL"
        " FROM x WHERE q.id = x.id AND q.cycle = x.cycle"
        " AND q.attempts = x.attempt AND q.status = 'processing'"
        " RETURNING q.lead_id, q.status, q.result)"
        " UPDATE marketplace.leads l SET verification_status = q.result,"
        " verified_at = now() FROM q"
        " WHERE l.lead_id = q.lead_id AND q.status = 'verified'",
        5, p);
    return CV_HANDLED;
}

/* The fire time of a scheduled job, as milliseconds in text. */
static int fire_time(const struct cv_event *ev, char *out, size_t size)
{
    int64_t ms;
    if (cv_event_long(ev, "fire_time", &ms) != CV_OK)
        return CV_ERR;
    snprintf(out, size, "%lld", (long long)ms);
    return CV_OK;
}

static cv_result_t reverify_stale(struct cv_ctx *ctx, const struct cv_event *ev)
{
    char fire[32];

    if (fire_time(ev, fire, sizeof(fire)) != CV_OK)
        return cv_fail(ctx, "record has no fire_time");
    const char *p[] = {fire, cv_setting(ctx, "reverify_after_days")};
    cv_sql_exec(ctx,
                "UPDATE marketplace.email_verification_queue"
                " SET status = 'pending', cycle = cycle + 1, attempts = 0,"
                " next_retry_at = to_timestamp($1::bigint / 1000.0),"
                " last_error = NULL"
                " WHERE status = 'verified' AND verified_at <"
                " to_timestamp($1::bigint / 1000.0)"
                " - make_interval(days => $2::int)",
                2, p);
    return CV_HANDLED;
}

static cv_result_t update_rates(struct cv_ctx *ctx, const struct cv_event *ev)
{
    char fire[32];

    if (fire_time(ev, fire, sizeof(fire)) != CV_OK)
        return cv_fail(ctx, "record has no fire_time");
    const char *p[] = {fire};
    cv_sql_exec(
        ctx,
        "INSERT INTO marketplace.partner_verification_rates AS r"
        " (partner_id, verified_leads, deliverable_leads, verification_rate,"
        " computed_at, computed_for)"
        " SELECT partner_id, count(verification_status),"
        " count(*) FILTER (WHERE verification_status = 'ok'),"
        " coalesce(round(100.0 * count(*) FILTER (WHERE"
        " verification_status = 'ok') / nullif(count(verification_status),"
        " 0), 2), 0), now(), to_timestamp($1::bigint / 1000.0)"
        " FROM marketplace.leads GROUP BY partner_id ORDER BY partner_id"
        " ON CONFLICT (partner_id) DO UPDATE SET"
        " verified_leads = excluded.verified_leads,"
        " deliverable_leads = excluded.deliverable_leads,"
        " verification_rate = excluded.verification_rate,"
        " computed_at = excluded.computed_at,"
        " computed_for = excluded.computed_for",
        1, p);
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {.name = "verification_requested",
     .fn = verification_requested,
     .description = "take in a verification request"},
    {.name = "process_queue",
     .fn = process_queue,
     .description = "processEmailVerificationQueue: claim due queue rows and "
                    "request a MillionVerifier check for each"},
    {.name = "verification_result",
     .fn = verification_result,
     .description = "a check's outcome: verified, retried later, or failed "
                    "after max attempts"},
    {.name = "reverify_stale",
     .fn = reverify_stale,
     .description = "reverifyStaleLeads: queue leads verified too long ago"},
    {.name = "update_rates",
     .fn = update_rates,
     .description = "updatePartnerVerificationRates: each partner's share of "
                    "deliverable addresses"},
    {0},
};

const struct cv_domain_def cv_domain_verification = {
    .name = "verification",
    .description = "email verification of the lead marketplace",
    .handlers = handlers,
};
