/*
 * payouts.c - partner payouts of the lead marketplace (seed 000, 2.2),
 * paid as Stripe Connect transfers through effects.
 *
 *   marketplace.job.daily_commission_release  (01:00) commissions held
 *       past the holdback become payable, in one statement.
 *   marketplace.job.weekly_partner_payouts  (Mon 02:00) every partner
 *       with payable commissions of at least payout_min_amount gets one
 *       payout for the week, covering exactly those commissions, and one
 *       transfer request.
 *   marketplace.payout.manual {partnerId}  the same for one partner, now.
 *   marketplace.payout.transfer_result  the transfer's outcome: paid, or
 *       failed with Stripe's reason.
 *   marketplace.job.reconcile_payouts  (Sun 04:00) lists the week's
 *       transfers page by page (marketplace.payout.transfers_listed) and
 *       records every mismatch.
 *   marketplace.payout.retry {payout_id}  an operator retries a failed
 *       payout: Stripe's transfer list for the payout decides
 *       (marketplace.payout.transfers_checked) between recording the
 *       transfer that was made after all and a new idempotency key.
 *
 * Exactly once, end to end:
 *   - A payout is keyed by (partner, run): the weekly run of a given
 *     Monday, or the manual request's event id. A replayed event creates
 *     nothing twice; its transfer request carries the payout's
 *     idempotency key, and conveyor.effects is keyed by it too.
 *   - A payout takes its commissions by setting their payout_id where it is
 *     NULL. A manual payout raced against the weekly run for the same
 *     partner: whichever commits first takes them; the other finds none
 *     (the row lock makes it re-check) and its empty payout is dropped.
 *   - Stripe keeps the first answer under a key for 24 hours, a 400
 *     included; a repeat with the same key is harmless. A failed payout is
 *     never sent again under a new key unless Stripe's transfer list shows
 *     no transfer for it (transfer_group = the payout id).
 *   - A failure Stripe answered definitively (a 4xx: balance_insufficient,
 *     an account that cannot receive transfers) gives the commissions
 *     back: they stay payable and the next run pays them. A failure
 *     without a definitive answer (no answer, 5xx, past the key's age)
 *     keeps them with the payout, as failed with failure_code
 *     'outcome_unknown', until an operator's retry looks at the list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

#define STRIPE_TARGET "stripe"

/*
 * The end of a statement that starts "WITH sums AS (SELECT payout_id,
 * total ...)" over pending payouts: each with a total becomes processing,
 * settled at what its commissions add up to, and gets one transfer
 * request under its idempotency key ($2: the requesting event's id).
 */
#define SETTLE_AND_REQUEST_TRANSFERS                                           \
    " settled AS (UPDATE marketplace.payouts p"                                \
    " SET amount_cents = s.total, state = 'processing',"                       \
    " updated_at = now() FROM sums s"                                          \
    " WHERE p.payout_id = s.payout_id AND s.total > 0 RETURNING p.*)"          \
    " INSERT INTO conveyor.effects (target, method, path, body,"               \
    " idempotency_key, outcome_type, outcome_key, context, domain,"            \
    " source_event_id)"                                                        \
    " SELECT '" STRIPE_TARGET "', 'POST', '/v1/transfers',"                    \
    " jsonb_build_object('amount', s.amount_cents, 'currency',"                \
    " s.currency, 'destination', pa.stripe_account_id,"                        \
    " 'transfer_group', s.payout_id::text, 'description',"                     \
    " 'Partner payout ' || s.run, 'metadata', jsonb_build_object("             \
    " 'payout_id', s.payout_id::text, 'partner_id', s.partner_id::text)),"     \
    " s.idempotency_key, 'marketplace.payout.transfer_result',"                \
    " s.partner_id::text, jsonb_build_object('payout_id',"                     \
    " s.payout_id::text, 'generation', s.key_generation), 'payouts', $2"       \
    " FROM settled s JOIN marketplace.partners pa USING (partner_id)"          \
    " ORDER BY s.partner_id"                                                   \
    " ON CONFLICT (target, idempotency_key) DO NOTHING"

/* The fire time of a scheduled job, as milliseconds in text. */
static int fire_time(const struct cv_event *ev, char *out, size_t size)
{
    int64_t ms;
    if (cv_event_long(ev, "fire_time", &ms) != CV_OK)
        return CV_ERR;
    snprintf(out, size, "%lld", (long long)ms);
    return CV_OK;
}

/* ---------------------------------------------------- creating payouts */

/*
 * Creates the payouts of `run` for every eligible partner (or only
 * `partner`, NULL for all), takes their commissions, settles each payout
 * at what it took, and requests one transfer per payout. Three statements
 * in the batch transaction; see the file comment for the races.
 */
static void create_payouts(struct cv_ctx *ctx, const struct cv_event *ev,
                           const char *run, const char *partner)
{
    const char *min = cv_setting(ctx, "payout_min_amount");
    {
        const char *p[] = {run, min, partner};
        cv_sql_exec(
            ctx,
            "WITH eligible AS ("
            " SELECT c.partner_id, sum(c.amount_cents) AS total"
            " FROM marketplace.commissions c"
            " JOIN marketplace.partners pa USING (partner_id)"
            " WHERE c.state = 'payable' AND c.payout_id IS NULL"
            " AND pa.stripe_account_id IS NOT NULL"
            " AND ($3::uuid IS NULL OR c.partner_id = $3::uuid)"
            " GROUP BY c.partner_id"
            " HAVING sum(c.amount_cents) >= round($2::numeric * 100)),"
            " created AS ("
            " INSERT INTO marketplace.payouts (payout_id, partner_id, run,"
            " amount_cents, idempotency_key)"
            " SELECT id, partner_id, $1, total, 'payout-' || id || '-1'"
            " FROM (SELECT md5(partner_id::text || '/' || $1)::uuid AS id,"
            " partner_id, total FROM eligible) e ORDER BY partner_id"
            " ON CONFLICT (partner_id, run) DO NOTHING"
            " RETURNING payout_id, partner_id)"
            " UPDATE marketplace.commissions c SET payout_id = cr.payout_id"
            " FROM created cr WHERE c.partner_id = cr.partner_id"
            " AND c.state = 'payable' AND c.payout_id IS NULL",
            3, p);
    }
    {
        const char *p[] = {run, cv_event_id(ev)};
        cv_sql_exec(
            ctx,
            "WITH sums AS ("
            " SELECT p.payout_id, coalesce(sum(c.amount_cents), 0) AS total"
            " FROM marketplace.payouts p LEFT JOIN marketplace.commissions c"
            " ON c.payout_id = p.payout_id"
            " WHERE p.run = $1 AND p.state = 'pending' GROUP BY p.payout_id),"
            " dropped AS (DELETE FROM marketplace.payouts p USING sums s"
            " WHERE p.payout_id = s.payout_id AND s.total = "
            "0)," SETTLE_AND_REQUEST_TRANSFERS,
            2, p);
    }
}

static cv_result_t weekly_payouts(struct cv_ctx *ctx, const struct cv_event *ev)
{
    char fire[32], run[64];
    char *day = NULL;

    if (fire_time(ev, fire, sizeof(fire)) != CV_OK)
        return cv_fail(ctx, "record has no fire_time");
    /* the run is the fire's UTC date: one weekly run per Monday */
    {
        const char *p[] = {fire};
        if (cv_sql_query_value(ctx,
                               "SELECT to_char(to_timestamp($1::bigint / "
                               "1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
                               1, p, &day) != CV_OK ||
            !day)
            return cv_retry(ctx, "could not compute the run's date");
    }
    snprintf(run, sizeof(run), "weekly:%s", day);
    free(day);
    create_payouts(ctx, ev, run, NULL);
    return CV_HANDLED;
}

static cv_result_t manual_payout(struct cv_ctx *ctx, const struct cv_event *ev)
{
    const char *partner;
    char run[160];

    if (cv_event_string(ev, "partnerId", &partner) != CV_OK)
        return cv_fail(ctx, "record has no partnerId");
    snprintf(run, sizeof(run), "manual:%s", cv_event_id(ev));
    create_payouts(ctx, ev, run, partner);
    return CV_HANDLED;
}

static cv_result_t commission_release(struct cv_ctx *ctx,
                                      const struct cv_event *ev)
{
    char fire[32];

    if (fire_time(ev, fire, sizeof(fire)) != CV_OK)
        return cv_fail(ctx, "record has no fire_time");
    const char *p[] = {fire, cv_setting(ctx, "commission_holdback_days")};
    cv_sql_exec(ctx,
                "UPDATE marketplace.commissions SET state = 'payable',"
                " payable_at = to_timestamp($1::bigint / 1000.0)"
                " WHERE state = 'held' AND earned_at <="
                " to_timestamp($1::bigint / 1000.0)"
                " - make_interval(days => $2::int)",
                2, p);
    return CV_HANDLED;
}

/* ------------------------------------------------------------- answers */

/* The fields of an effect's outcome event (conveyor.EffectOutcome). */
struct outcome {
    const char *context, *body, *error;
    char ok[8], status[16], attempts[16];
};

static int read_outcome(const struct cv_event *ev, struct outcome *o)
{
    int ok, status, attempts;

    if (cv_event_bool(ev, "ok", &ok) != CV_OK ||
        cv_event_int(ev, "status", &status) != CV_OK ||
        cv_event_int(ev, "attempts", &attempts) != CV_OK ||
        cv_event_string(ev, "context", &o->context) != CV_OK)
        return CV_ERR;
    if (cv_event_string(ev, "body", &o->body) != CV_OK)
        o->body = NULL;
    if (cv_event_string(ev, "error", &o->error) != CV_OK)
        o->error = NULL;
    snprintf(o->ok, sizeof(o->ok), "%s", ok ? "true" : "false");
    snprintf(o->status, sizeof(o->status), "%d", status);
    snprintf(o->attempts, sizeof(o->attempts), "%d", attempts);
    return CV_OK;
}

/*
 * A transfer's outcome. Paid: the transfer id, and the payout's
 * commissions paid. Refused by Stripe (a 4xx): failed with Stripe's code
 * and message, the commissions payable again. No definitive answer:
 * failed as outcome_unknown, the commissions kept (see the file comment).
 * Only the payout's current key generation counts.
 */
static cv_result_t transfer_result(struct cv_ctx *ctx,
                                   const struct cv_event *ev)
{
    struct outcome o;

    if (read_outcome(ev, &o) != CV_OK)
        return cv_fail(ctx, "record does not match EffectOutcome");
    const char *p[] = {o.context, o.ok, o.body, o.error, o.status, o.attempts};
    cv_sql_exec(
        ctx,
        "WITH x AS (SELECT ($1::jsonb->>'payout_id')::uuid AS payout_id,"
        " ($1::jsonb->>'generation')::int AS gen,"
        " conveyor.try_jsonb($3) AS body),"
        " p AS (UPDATE marketplace.payouts p SET"
        " state = CASE WHEN $2::boolean THEN 'paid' ELSE 'failed' END,"
        " transfer_id = CASE WHEN $2::boolean THEN x.body->>'id' END,"
        " transfer_created = CASE WHEN $2::boolean THEN"
        " to_timestamp((x.body->>'created')::bigint) END,"
        " paid_at = CASE WHEN $2::boolean THEN now() END,"
        " failure_code = CASE WHEN $2::boolean THEN NULL"
        " WHEN $5::int BETWEEN 400 AND 499 AND $5::int NOT IN (409, 429)"
        " THEN coalesce(x.body->'error'->>'code',"
        " x.body->'error'->>'type', 'http_' || $5)"
        " ELSE 'outcome_unknown' END,"
        " failure_message = CASE WHEN $2::boolean THEN NULL"
        " ELSE coalesce(x.body->'error'->>'message', $4) END,"
        " attempts = p.attempts + $6::int, updated_at = now()"
        " FROM x WHERE p.payout_id = x.payout_id AND p.key_generation ="
        " x.gen AND p.state = 'processing'"
        " RETURNING p.payout_id, p.state, p.failure_code)"
        " UPDATE marketplace.commissions c SET"
        " state = CASE WHEN p.state = 'paid' THEN 'paid' ELSE c.state END,"
        " paid_at = CASE WHEN p.state = 'paid' THEN now() END,"
        " payout_id = CASE WHEN p.state = 'failed'"
        " AND p.failure_code <> 'outcome_unknown' THEN NULL"
        " ELSE c.payout_id END"
        " FROM p WHERE c.payout_id = p.payout_id AND c.state = 'payable'",
        6, p);
    return CV_HANDLED;
}

/* ------------------------------------------------------- reconciliation */

/*
 * Asks for a page of the period's transfers, newest first: the first page
 * (body NULL), or the one after the last transfer of body's page when it
 * says has_more. The context carries the run and the period (seconds).
 */
static void request_page(struct cv_ctx *ctx, const struct cv_event *ev,
                         const char *context, const char *body)
{
    const char *p[] = {context, body, cv_event_id(ev)};
    cv_sql_exec(
        ctx,
        "INSERT INTO conveyor.effects (target, method, path, query,"
        " idempotency_key, outcome_type, outcome_key, context, domain,"
        " source_event_id)"
        " SELECT '" STRIPE_TARGET "', 'GET', '/v1/transfers',"
        " 'limit=100&created%5Bgte%5D=' || (c->>'gte') || '&created%5Blt%5D='"
        " || (c->>'lt') || coalesce('&starting_after=' ||"
        " conveyor.urlencode(after), ''),"
        " (c->>'run') || '/after:' || coalesce(after, '-'),"
        " 'marketplace.payout.transfers_listed', c->>'run', c, 'payouts', $3"
        " FROM (SELECT $1::jsonb AS c, b->'data'->-1->>'id' AS after,"
        " b FROM conveyor.try_jsonb($2) b) x"
        " WHERE $2 IS NULL OR (b->>'has_more')::boolean"
        " ON CONFLICT (target, idempotency_key) DO NOTHING",
        3, p);
}

static cv_result_t reconcile(struct cv_ctx *ctx, const struct cv_event *ev)
{
    char fire[32], gte[32], lt[32], run[64], context[200];
    int64_t ms;
    char *day = NULL;

    if (fire_time(ev, fire, sizeof(fire)) != CV_OK)
        return cv_fail(ctx, "record has no fire_time");
    ms = (int64_t)strtoll(fire, NULL, 10);
    /* the seven days before the fire, in Stripe's unit (seconds) */
    snprintf(lt, sizeof(lt), "%lld", (long long)(ms / 1000));
    snprintf(gte, sizeof(gte), "%lld",
             (long long)(ms / 1000 -
                         86400LL * atoi(cv_setting(ctx, "reconcile_days"))));
    {
        const char *p[] = {gte};
        if (cv_sql_query_value(ctx,
                               "SELECT to_char(to_timestamp($1::bigint) AT "
                               "TIME ZONE 'UTC', 'YYYY-MM-DD')",
                               1, p, &day) != CV_OK ||
            !day)
            return cv_retry(ctx, "could not compute the period");
    }
    snprintf(run, sizeof(run), "reconcile:%s", day);
    free(day);
    snprintf(context, sizeof(context),
             "{\"run\": \"%s\", \"gte\": %s, \"lt\": %s}", run, gte, lt);
    {
        const char *p[] = {run, gte, lt};
        cv_sql_exec(ctx,
                    "INSERT INTO marketplace.reconciliations (run,"
                    " period_start, period_end) VALUES ($1,"
                    " to_timestamp($2::bigint), to_timestamp($3::bigint))"
                    " ON CONFLICT (run) DO NOTHING",
                    3, p);
    }
    request_page(ctx, ev, context, NULL);
    return CV_HANDLED;
}

/*
 * One page of the period's transfers: keep them, ask for the next page,
 * or, after the last, compare with the payouts and record every mismatch
 * (a table row, a notice for `conveyor status`, a log line).
 */
static cv_result_t transfers_listed(struct cv_ctx *ctx,
                                    const struct cv_event *ev)
{
    struct outcome o;
    char *found = NULL;

    if (read_outcome(ev, &o) != CV_OK)
        return cv_fail(ctx, "record does not match EffectOutcome");
    if (strcmp(o.ok, "true") != 0) {
        const char *p[] = {o.context, o.error ? o.error : o.status};
        cv_sql_exec(ctx,
                    "INSERT INTO conveyor.notices (domain, kind, subject,"
                    " detail) VALUES ('payouts', 'reconciliation_failed',"
                    " $1::jsonb->>'run', 'listing transfers failed: ' || $2)"
                    " ON CONFLICT DO NOTHING",
                    2, p);
        cv_event_log(ctx, CV_LOG_ERROR, "reconciliation: listing failed: %s",
                     o.error ? o.error : o.status);
        return CV_HANDLED;
    }
    {
        const char *p[] = {o.context, o.body};
        cv_sql_exec(
            ctx,
            "WITH x AS (SELECT $1::jsonb->>'run' AS run,"
            " conveyor.try_jsonb($2) AS body),"
            " ins AS (INSERT INTO marketplace.reconciliation_transfers (run,"
            " transfer_id, amount_cents, destination, transfer_group,"
            " created) SELECT x.run, t->>'id', (t->>'amount')::bigint,"
            " t->>'destination', t->>'transfer_group',"
            " to_timestamp((t->>'created')::bigint)"
            " FROM x, jsonb_array_elements(x.body->'data') t"
            " ON CONFLICT DO NOTHING RETURNING 1)"
            " UPDATE marketplace.reconciliations r SET pages = pages + 1,"
            " transfers = transfers + (SELECT count(*) FROM ins)"
            " FROM x WHERE r.run = x.run",
            2, p);
    }
    request_page(ctx, ev, o.context, o.body);
    {
        /* after the last page only */
        const char *p[] = {o.context, o.body};
        if (cv_sql_query_value(
                ctx,
                "WITH x AS (SELECT r.* FROM marketplace.reconciliations r"
                " WHERE r.run = $1::jsonb->>'run' AND r.finished_at IS NULL"
                " AND NOT coalesce((conveyor.try_jsonb($2)->>'has_more')"
                "::boolean, false)),"
                " m AS (INSERT INTO marketplace.payout_mismatches (run, kind,"
                " payout_id, transfer_id, expected_cents, actual_cents)"
                " SELECT x.run, 'transfer_missing', p.payout_id,"
                " p.transfer_id, p.amount_cents, NULL"
                " FROM x JOIN marketplace.payouts p ON p.state = 'paid'"
                " AND p.transfer_created >= x.period_start"
                " AND p.transfer_created < x.period_end"
                " WHERE NOT EXISTS (SELECT 1 FROM"
                " marketplace.reconciliation_transfers t WHERE t.run = x.run"
                " AND t.transfer_id = p.transfer_id)"
                " UNION ALL SELECT x.run, 'amount_differs', p.payout_id,"
                " t.transfer_id, p.amount_cents, t.amount_cents"
                " FROM x JOIN marketplace.reconciliation_transfers t"
                " ON t.run = x.run JOIN marketplace.payouts p"
                " ON p.transfer_id = t.transfer_id"
                " WHERE p.amount_cents <> t.amount_cents"
                " UNION ALL SELECT x.run, 'transfer_without_payout', NULL,"
                " t.transfer_id, NULL, t.amount_cents"
                " FROM x JOIN marketplace.reconciliation_transfers t"
                " ON t.run = x.run WHERE NOT EXISTS (SELECT 1 FROM"
                " marketplace.payouts p WHERE p.transfer_id = t.transfer_id)"
                " ON CONFLICT DO NOTHING RETURNING *),"
                " n AS (INSERT INTO conveyor.notices (domain, kind, subject,"
                " detail) SELECT 'payouts', 'payout_mismatch',"
                " m.run || ' ' || m.kind || ' ' || coalesce(m.payout_id::text,"
                " '-') || ' ' || coalesce(m.transfer_id, '-'),"
                " m.kind || ': payout ' || coalesce(m.payout_id::text, '-')"
                " || ', transfer ' || coalesce(m.transfer_id, '-')"
                " || ', expected ' || coalesce(m.expected_cents::text, '-')"
                " || ' cents, Stripe ' || coalesce(m.actual_cents::text, '-')"
                " || ' cents' FROM m ON CONFLICT DO NOTHING),"
                " f AS (UPDATE marketplace.reconciliations r"
                " SET mismatches = (SELECT count(*) FROM m),"
                " finished_at = now() FROM x WHERE r.run = x.run)"
                " SELECT (SELECT count(*) FROM m)::text || ' mismatches in '"
                " || x.transfers || ' transfers' FROM x",
                2, p, &found) != CV_OK)
            return cv_retry(ctx, "could not compare");
    }
    if (found)
        cv_event_log(ctx,
                     strncmp(found, "0 ", 2) == 0 ? CV_LOG_INFO : CV_LOG_WARN,
                     "reconciliation finished: %s", found);
    free(found);
    return CV_HANDLED;
}

/* ------------------------------------------------------ operator retry */

static cv_result_t payout_retry(struct cv_ctx *ctx, const struct cv_event *ev)
{
    const char *payout;
    char *state = NULL;

    if (cv_event_string(ev, "payout_id", &payout) != CV_OK)
        return cv_fail(ctx, "record has no payout_id");
    {
        const char *p[] = {payout};
        if (cv_sql_query_value(ctx,
                               "SELECT state FROM marketplace.payouts "
                               "WHERE payout_id = $1::uuid",
                               1, p, &state) != CV_OK)
            return cv_retry(ctx, "could not read the payout");
    }
    if (!state || strcmp(state, "failed") != 0) {
        cv_event_log(ctx, CV_LOG_WARN,
                     "payout %s is %s: only a failed payout is retried", payout,
                     state ? state : "unknown");
        free(state);
        return CV_HANDLED; /* nothing to do, and nothing to dead-letter */
    }
    free(state);
    const char *p[] = {payout, cv_event_id(ev)};
    cv_sql_exec(ctx,
                "INSERT INTO conveyor.effects (target, method, path, query,"
                " idempotency_key, outcome_type, outcome_key, context, domain,"
                " source_event_id)"
                " SELECT '" STRIPE_TARGET "', 'GET', '/v1/transfers',"
                " 'limit=100&transfer_group=' || p.payout_id,"
                " 'payout-' || p.payout_id || '-check-' || p.key_generation,"
                " 'marketplace.payout.transfers_checked', p.partner_id::text,"
                " jsonb_build_object('payout_id', p.payout_id::text,"
                " 'generation', p.key_generation), 'payouts', $2"
                " FROM marketplace.payouts p WHERE p.payout_id = $1::uuid"
                " ON CONFLICT (target, idempotency_key) DO NOTHING",
                2, p);
    return CV_HANDLED;
}

/*
 * Stripe's transfers for a failed payout. One exists: it was made after
 * all (the answer was lost); record it, paid. None: a new key generation,
 * the payout's commissions (or, if they were given back, the partner's
 * payable ones now) and a new transfer request.
 */
static cv_result_t transfers_checked(struct cv_ctx *ctx,
                                     const struct cv_event *ev)
{
    struct outcome o;

    if (read_outcome(ev, &o) != CV_OK)
        return cv_fail(ctx, "record does not match EffectOutcome");
    if (strcmp(o.ok, "true") != 0) {
        cv_event_log(ctx, CV_LOG_ERROR,
                     "payout retry: listing its transfers failed (%s); the "
                     "payout stays failed",
                     o.error ? o.error : o.status);
        return CV_HANDLED;
    }
    {
        const char *p[] = {o.context, o.body};
        cv_sql_exec(
            ctx,
            "WITH x AS (SELECT ($1::jsonb->>'payout_id')::uuid AS payout_id,"
            " ($1::jsonb->>'generation')::int AS gen,"
            " conveyor.try_jsonb($2)->'data'->0 AS t),"
            " p AS (UPDATE marketplace.payouts p SET state = 'paid',"
            " transfer_id = x.t->>'id', transfer_created ="
            " to_timestamp((x.t->>'created')::bigint), paid_at = now(),"
            " failure_code = NULL, failure_message = NULL, updated_at = now()"
            " FROM x WHERE p.payout_id = x.payout_id AND p.key_generation ="
            " x.gen AND p.state = 'failed' AND x.t IS NOT NULL"
            " RETURNING p.payout_id)"
            " UPDATE marketplace.commissions c SET state = 'paid',"
            " paid_at = now() FROM p WHERE c.payout_id = p.payout_id"
            " AND c.state = 'payable'",
            2, p);
    }
    {
        const char *p[] = {o.context, o.body};
        cv_sql_exec(
            ctx,
            "WITH x AS (SELECT ($1::jsonb->>'payout_id')::uuid AS payout_id,"
            " ($1::jsonb->>'generation')::int AS gen"
            " WHERE jsonb_array_length(conveyor.try_jsonb($2)->'data') = 0),"
            " p AS (UPDATE marketplace.payouts p SET"
            " key_generation = p.key_generation + 1,"
            " idempotency_key = 'payout-' || p.payout_id || '-'"
            " || (p.key_generation + 1), state = 'pending',"
            " failure_code = NULL, failure_message = NULL, updated_at = now()"
            " FROM x WHERE p.payout_id = x.payout_id AND p.key_generation ="
            " x.gen AND p.state = 'failed' RETURNING p.payout_id, p.partner_id)"
            " UPDATE marketplace.commissions c SET payout_id = p.payout_id"
            " FROM p WHERE c.partner_id = p.partner_id AND c.state = 'payable'"
            " AND (c.payout_id IS NULL OR c.payout_id = p.payout_id)",
            2, p);
    }
    {
        /* settle it like a new payout (its run is the one it had) */
        const char *p[] = {o.context, cv_event_id(ev)};
        cv_sql_exec(
            ctx,
            "WITH x AS (SELECT ($1::jsonb->>'payout_id')::uuid AS payout_id),"
            " sums AS (SELECT p.payout_id, coalesce(sum(c.amount_cents), 0)"
            " AS total FROM marketplace.payouts p JOIN x USING (payout_id)"
            " LEFT JOIN marketplace.commissions c ON c.payout_id ="
            " p.payout_id WHERE p.state = 'pending' GROUP BY p.payout_id),"
            " empty AS (UPDATE marketplace.payouts p SET state = 'failed',"
            " failure_code = 'nothing_to_pay', failure_message = 'no payable"
            " commissions left for this payout' FROM sums s WHERE"
            " p.payout_id = s.payout_id AND s.total = "
            "0)," SETTLE_AND_REQUEST_TRANSFERS,
            2, p);
    }
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {.name = "weekly_payouts",
     .fn = weekly_payouts,
     .description = "weeklyPartnerPayouts: one payout and one transfer per "
                    "partner with enough payable commissions"},
    {.name = "manual_payout",
     .fn = manual_payout,
     .description = "triggerManualPayout: the same for one partner, now"},
    {.name = "commission_release",
     .fn = commission_release,
     .description = "dailyCommissionRelease: held commissions past the "
                    "holdback become payable"},
    {.name = "transfer_result",
     .fn = transfer_result,
     .description = "a transfer's outcome: paid, or failed with the reason"},
    {.name = "reconcile",
     .fn = reconcile,
     .description = "reconcilePayouts: list the week's transfers"},
    {.name = "transfers_listed",
     .fn = transfers_listed,
     .description = "a page of transfers; after the last, the mismatches"},
    {.name = "payout_retry",
     .fn = payout_retry,
     .description = "an operator's retry of a failed payout: check "
                    "Stripe's transfers first"},
    {.name = "transfers_checked",
     .fn = transfers_checked,
     .description = "a failed payout's transfers: record the one made, or "
                    "send again under a new key"},
    {0},
};

const struct cv_domain_def cv_domain_payouts = {
    .name = "payouts",
    .description = "partner payouts of the lead marketplace, paid as Stripe "
                   "Connect transfers",
    .handlers = handlers,
};
