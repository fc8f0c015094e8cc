/*
 * leads.c - the lead marketplace's leads domain (seed 000).
 *
 *   marketplace.lead.submitted   a lead arrives (web form, partner API):
 *       store it, queue it for email verification, count it in the
 *       partner's monthly volume (input of monthlyVolumeBonusUpdate), and
 *       ask the verification domain to verify it.
 *   marketplace.upload.completed  a partner's CSV upload has been imported:
 *       the runbook's queueNewLeadsForVerification - queue the batch's
 *       leads that are not queued yet, and mark the batch completed.
 *
 * Both handlers are idempotent in domain terms, so that a replay (`conveyor
 * replay`, a dlq retry of an applied event, a re-send older than the
 * inbox's dedupe window) changes nothing that is already there, and a
 * replay after a handler fix adds what the fixed handler adds, once:
 *   - a lead is stored once, keyed by its lead_id (ON CONFLICT DO NOTHING);
 *   - it is queued for verification and counted in its partner's monthly
 *     volume when, and only when, the statement actually stored it: the
 *     queue row and the volume are computed from the insert's RETURNING
 *     rows, never a blind +1 per event. (So a lead submitted twice under
 *     two event ids counts once.)
 *   - the upload handler queues only the batch's leads not queued yet and
 *     touches the batch row only if it is not yet completed with that
 *     count;
 *   - the emitted verification.requested keeps its derived id
 *     (<ce_id>.1): the outbox does not deduplicate, so a replay sends it
 *     again, and the verification domain's inbox and its unique
 *     source_event_id absorb it.
 *
 * lead_submitted writes through one row set (cv_sql_rows): one statement
 * for the whole batch, which inserts the leads, queues the inserted ones
 * and sums their volume per partner and month. upload_completed reads the
 * leads table, so its statements run one per event, after the rows of the
 * events before it (program order).
 */
#include <stdio.h>
#include <string.h>

#include "handler.h"

/* Reads a ["null","string"] field: NULL when null. */
static int optional_string(const struct cv_event *ev, const char *field,
                           const char **out)
{
    int rc = cv_event_string(ev, field, out);
    if (rc == CV_NULL) {
        *out = NULL;
        return CV_OK;
    }
    return rc;
}

static cv_result_t lead_submitted(struct cv_ctx *ctx, const struct cv_event *ev)
{
    const char *lead_id, *partner_id, *email, *first, *last, *company, *phone;
    int64_t submitted_at;
    char submitted[24];
    struct cv_record *rec;

    if (cv_event_string(ev, "lead_id", &lead_id) != CV_OK ||
        cv_event_string(ev, "partner_id", &partner_id) != CV_OK ||
        cv_event_string(ev, "email", &email) != CV_OK ||
        cv_event_long(ev, "submitted_at", &submitted_at) != CV_OK ||
        optional_string(ev, "first_name", &first) != CV_OK ||
        optional_string(ev, "last_name", &last) != CV_OK ||
        optional_string(ev, "company", &company) != CV_OK ||
        optional_string(ev, "phone", &phone) != CV_OK)
        return cv_fail(ctx, "record does not match LeadSubmitted");
    /* RFC 5321: an address is at most 254 octets; longer is not one. */
    if (strlen(email) > 254)
        return cv_fail(ctx, "email is longer than 254 characters");
    snprintf(submitted, sizeof(submitted), "%lld", (long long)submitted_at);

    {
        /*
         * One statement: store the new leads, then queue and count exactly
         * the ones it stored (ins). DISTINCT ON keeps one row per lead (the
         * batch's first event for it, as the insert would) so that the join
         * back to the event id cannot queue a lead twice. Volume rows are
         * summed and sorted so that consumers lock them in one order. Run
         * per chunk of rows, it gives the same result: a later chunk's
         * lead that an earlier one stored conflicts and is neither queued
         * nor counted again.
         */
        const char *p[] = {lead_id, partner_id, email,     first,          last,
                           company, phone,      submitted, cv_event_id(ev)};
        cv_sql_rows(
            ctx,
            "WITH r AS (SELECT DISTINCT ON (l) l, p, e, f, la, co, ph, s, id "
            "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], "
            "$5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[]) "
            "WITH ORDINALITY AS r(l, p, e, f, la, co, ph, s, id, n) "
            "ORDER BY l, n), "
            "ins AS (INSERT INTO marketplace.leads (lead_id, partner_id, "
            "email, first_name, last_name, company, phone, submitted_at) "
            "SELECT l, p, e, f, la, co, ph, to_timestamp(s / 1000.0::float8) "
            "FROM r ON CONFLICT (lead_id) DO NOTHING "
            "RETURNING lead_id, partner_id, email, submitted_at), "
            "queued AS (INSERT INTO marketplace.email_verification_queue "
            "(lead_id, partner_id, email, status, source_event_id) "
            "SELECT i.lead_id, i.partner_id, i.email, 'pending', r.id "
            "FROM ins i JOIN r ON r.l = i.lead_id) "
            "INSERT INTO marketplace.partner_monthly_volume AS v "
            "(partner_id, month, leads) SELECT partner_id, "
            "date_trunc('month', submitted_at AT TIME ZONE 'UTC')::date, "
            "count(*) FROM ins GROUP BY 1, 2 ORDER BY 1, 2 "
            "ON CONFLICT (partner_id, month) DO UPDATE SET leads = "
            "v.leads + excluded.leads",
            9, p);
    }

    rec = cv_emit_new(ctx, "marketplace.verification.requested");
    if (!rec || cv_record_set_string(rec, "lead_id", lead_id) != CV_OK ||
        cv_record_set_string(rec, "partner_id", partner_id) != CV_OK ||
        cv_record_set_string(rec, "email", email) != CV_OK ||
        cv_emit_send(ctx, rec, partner_id) != CV_OK)
        return cv_fail(ctx,
                       "could not emit marketplace.verification.requested");
    return CV_HANDLED;
}

static cv_result_t upload_completed(struct cv_ctx *ctx,
                                    const struct cv_event *ev)
{
    const char *batch_id, *partner_id;
    int32_t lead_count;
    char count[16];

    if (cv_event_string(ev, "batch_id", &batch_id) != CV_OK ||
        cv_event_string(ev, "partner_id", &partner_id) != CV_OK ||
        cv_event_int(ev, "lead_count", &lead_count) != CV_OK)
        return cv_fail(ctx, "record does not match UploadCompleted");
    snprintf(count, sizeof(count), "%d", (int)lead_count);
    {
        const char *p[] = {batch_id, partner_id, count};
        cv_sql_exec(ctx,
                    "INSERT INTO marketplace.partner_upload_batches AS b "
                    "(batch_id, partner_id, lead_count, status, "
                    "completed_at) VALUES ($1, $2, $3, 'completed', now()) "
                    "ON CONFLICT (batch_id) DO UPDATE SET status = "
                    "'completed', lead_count = EXCLUDED.lead_count, "
                    "completed_at = coalesce(b.completed_at, now()) "
                    "WHERE (b.status, b.lead_count) IS DISTINCT FROM "
                    "('completed', EXCLUDED.lead_count)",
                    3, p);
    }
    {
        const char *p[] = {batch_id, partner_id, cv_event_id(ev)};
        cv_sql_exec(ctx,
                    "INSERT INTO marketplace.email_verification_queue "
                    "(lead_id, partner_id, email, status, source_event_id) "
                    "SELECT l.lead_id, l.partner_id, l.email, 'pending', $3 "
                    "FROM marketplace.leads l WHERE l.upload_batch_id = $1 "
                    "AND l.partner_id = $2 AND NOT EXISTS (SELECT 1 FROM "
                    "marketplace.email_verification_queue q WHERE "
                    "q.lead_id = l.lead_id)",
                    3, p);
    }
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {.name = "lead_submitted",
     .fn = lead_submitted,
     .description =
         "store a lead, queue it for verification, count partner volume"},
    {.name = "upload_completed",
     .fn = upload_completed,
     .description =
         "queueNewLeadsForVerification: queue an upload's unqueued leads"},
    {0},
};

const struct cv_domain_def cv_domain_leads = {
    .name = "leads",
    .description = "leads and partner uploads of the lead marketplace",
    .handlers = handlers,
};
