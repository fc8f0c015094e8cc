/*
 * handler.h - the API a domain consumer sees. Nothing else.
 *
 * A domain is one file in consumers/ that includes this header (and the C
 * library's) and nothing else, and defines one struct cv_domain_def named
 * cv_domain_<file name> with designated initialisers:
 *
 *   static const struct cv_handler_def handlers[] = {
 *       {.name = "lead_submitted", .fn = lead_submitted,
 *        .description = "store a lead, queue it for verification"},
 *       {0},
 *   };
 *   const struct cv_domain_def cv_domain_leads = {
 *       .name = "leads", .description = "...", .handlers = handlers};
 *
 * The build generates the registry, so adding a domain touches no engine
 * file. The engine never includes consumers/, and consumers never see
 * librdkafka, libpq or avro-c handles.
 *
 * A handler runs inside the batch's Postgres transaction. Everything it does
 * through cv_sql_rows(), cv_sql_exec() and cv_emit_*() commits together with
 * the consumed offsets and the inbox row, or not at all. A handler never
 * commits or rolls back; it returns CV_HANDLED, or cv_retry()/cv_fail() with a
 * reason.
 *
 * Handlers must be re-runnable: the engine rolls a batch back and runs it
 * again when another event in it fails, or when a zombie consumer is
 * fenced; that is safe by itself, since nothing of the rolled-back run
 * commits. A replay (`conveyor replay`), a dlq retry of an event that was
 * applied, or a re-send older than the inbox's dedupe window runs a handler
 * again on top of its committed effects, so handlers must also be
 * idempotent in domain terms: running one twice for the same event leaves
 * what one run left, and running a fixed handler again applies the fix
 * once. The pattern:
 *   - key every row by a natural id or the event id (cv_event_id()) and
 *     insert with ON CONFLICT DO NOTHING (or an upsert that writes the
 *     same values again);
 *   - compute aggregates (counts, sums) from the rows a statement actually
 *     inserted (INSERT ... ON CONFLICT DO NOTHING RETURNING in a CTE),
 *     never a blind +1 per event;
 *   - events emitted with cv_emit_send() keep their derived ids; the outbox
 *     does not deduplicate, so a replay sends them again and the receiving
 *     domain must absorb them (its inbox, and its own keys past the dedupe
 *     window).
 * Side effects outside Postgres carry an idempotency key derived from
 * cv_event_id() (DESIGN.md I-6).
 *
 * Writes (cv_sql_exec, cv_sql_rows, cv_emit_*) return nothing a handler
 * must check: a misuse (a bad argument, an event type the topology does not
 * declare, a record that does not encode) is logged, recorded in ctx, and
 * fails the event once the handler returns, as cv_fail() would; a
 * statement that cannot even be queued (the connection is gone) rolls the
 * batch back, and the batch runs again.
 *
 * Everything a handler receives is borrowed for the duration of the call.
 * Handlers are called from the consumer thread that owns the batch.
 */
#ifndef CV_HANDLER_H
#define CV_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "cv.h"
#include "domain.h"
#include "record.h"

struct cv_event; /* one consumed event, decoded */
struct cv_ctx;   /* the batch transaction and its outbox */
struct cv_record;

/* ---- event metadata (CloudEvents headers and Kafka position) ---- */
const char *cv_event_id(const struct cv_event *ev);
const char *cv_event_type(const struct cv_event *ev);
const char *cv_event_source(const struct cv_event *ev);
int64_t cv_event_time_ms(const struct cv_event *ev);    /* ce_time, ms UTC */
const char *cv_event_tenant(const struct cv_event *ev); /* NULL if absent */
const char *cv_event_key(const struct cv_event *ev, size_t *len);
const char *cv_event_topic(const struct cv_event *ev);
int32_t cv_event_partition(const struct cv_event *ev);
int64_t cv_event_offset(const struct cv_event *ev);
/* 1 on the first delivery, n on the n-th attempt (the route's retry policy;
 * counted in Postgres, so it survives restarts). */
int cv_event_attempt(const struct cv_event *ev);
/*
 * Milliseconds left before the route's handler timeout cuts this handler
 * off (INT64_MAX without one). Bound any I/O a handler does outside
 * Postgres with it (e.g. CURLOPT_TIMEOUT_MS). A handler still running at
 * its deadline is cut off by the watchdog: the attempt is recorded as
 * failed and the process exits with status 3 for its supervisor to restart
 * it (a C function cannot be stopped safely from outside).
 */
int64_t cv_event_time_left_ms(const struct cv_event *ev);

/*
 * ---- typed access to the decoded record's top-level fields ----
 * Each returns CV_OK, CV_NULL when the field is a union whose value is null,
 * or CV_ERR when there is no such field or it has another type. A
 * ["null", T] union is read as T. Strings are NUL-terminated and borrowed.
 */
int cv_event_string(const struct cv_event *ev, const char *field,
                    const char **value);
int cv_event_long(const struct cv_event *ev, const char *field, int64_t *value);
int cv_event_int(const struct cv_event *ev, const char *field, int32_t *value);
int cv_event_double(const struct cv_event *ev, const char *field,
                    double *value);
int cv_event_bool(const struct cv_event *ev, const char *field, int *value);

/*
 * ---- SQL on the batch transaction ----
 * Parameters are text (NULL for SQL NULL); SQL is always parameterised.
 * cv_sql_exec() queues the statement (pipeline mode): its errors surface when
 * the batch commits and make the engine isolate this event. The SQL text
 * should be a literal: the engine prepares each distinct text once per
 * connection. Writing one row per event? cv_sql_rows() below writes them
 * all in one statement.
 */
void cv_sql_exec(struct cv_ctx *ctx, const char *sql, int nparams,
                 const char *const *params);

/*
 * Runs a query now and returns its first row's first column as a fresh
 * string in *value (NULL for SQL NULL or no rows; caller frees). Costs a
 * round trip: use it only when the handler's logic needs the answer.
 * Returns CV_OK, or CV_ERR when the query (or a statement queued before it)
 * failed: return cv_retry() or cv_fail() then. A handler that returns
 * CV_HANDLED all the same fails its event with the statement's error.
 */
int cv_sql_query_value(struct cv_ctx *ctx, const char *sql, int nparams,
                       const char *const *params, char **value);

/*
 * ---- set-based writes: one statement per batch, not per event ----
 * cv_sql_rows() adds one row (ncols text values, NULL for SQL NULL) to the
 * row set of set_sql and sends nothing. The engine runs set_sql once for
 * all the rows the batch's events added to it: parameter $k is a Postgres
 * array literal holding column k's values in the order they were added.
 * Cast the arrays in the SQL and unnest them:
 *
 *   INSERT INTO shop.orders (order_id, note)
 *   SELECT * FROM unnest($1::uuid[], $2::text[])
 *
 * Rows are keyed and inserted idempotently (ON CONFLICT DO NOTHING), so
 * that a replayed event adds nothing. Several events may hit the same
 * aggregate row: count only what the statement inserted, aggregate in the
 * statement, because ON CONFLICT DO UPDATE cannot touch one row twice in
 * one statement, and sort, so that concurrent consumers lock rows in the
 * same order:
 *
 *   WITH ins AS (INSERT INTO shop.orders (order_id, day)
 *                SELECT * FROM unnest($1::uuid[], $2::date[])
 *                ON CONFLICT (order_id) DO NOTHING RETURNING day)
 *   INSERT INTO shop.daily AS d (day, n)
 *   SELECT day, count(*) FROM ins GROUP BY 1 ORDER BY 1
 *   ON CONFLICT (day) DO UPDATE SET n = d.n + excluded.n
 *
 * (Not `SELECT day, count(*) FROM unnest($2::date[])`: that adds one per
 * event each time the event runs, and a replay would count it twice.)
 *
 * Program order holds for statements: every pending set is sent before the
 * next cv_sql_exec() or cv_sql_query_value() of any handler in the batch,
 * and at the end of the batch, so a statement sees every row added before
 * it. Pending sets are sent in the order of their first rows; one set's
 * statement must not depend on another set pending at the same time. A big
 * batch's set is sent in chunks of rows as it fills (so Postgres writes
 * while the handlers run): set_sql must give the same result run once per
 * chunk as once for all rows, as inserts and upserts computed from what
 * they inserted do (a later chunk's row that an earlier one inserted
 * conflicts and is not counted again).
 *
 * A set statement that fails is not one event's: the engine re-runs
 * smaller parts of the batch until it finds the event whose row makes it
 * fail, then treats that event as if its own statement had failed (retry,
 * dead letter). A handler that returns CV_RETRY or CV_FAILED takes its rows
 * back with the rest of the transaction.
 *
 * set_sql should be a literal; it is planned on every run (not prepared:
 * the best plan depends on how many rows there are). ncols is 1 to
 * CV_SQL_ROWS_MAX_COLS and the same for every row of a set; another ncols
 * is a misuse.
 */
#define CV_SQL_ROWS_MAX_COLS 64
void cv_sql_rows(struct cv_ctx *ctx, const char *set_sql, int ncols,
                 const char *const *values);

/*
 * ---- emit events through the transactional outbox (DESIGN.md I-5) ----
 * cv_emit_new() starts a record of the event type's schema (NULL, and a
 * misuse, if the type is not declared in the topology). Set fields by name
 * (record.h: a setter returns CV_ERR for a field the schema lacks), then
 * cv_emit_send() encodes it and queues the outbox row; it takes ownership
 * of the record. A record that does not encode (a required field unset) is
 * a misuse: cv_emit_send() returns CV_ERR and the event fails.
 * The emitted event's ce_id is derived from this event's id and the emit
 * ordinal, so a re-run handler emits the same ids and I-4 absorbs repeats.
 * Send (or cv_record_destroy()) each record before the next cv_emit_new().
 */
struct cv_record *cv_emit_new(struct cv_ctx *ctx, const char *event_type);
int cv_emit_send(struct cv_ctx *ctx, struct cv_record *rec, const char *key);

/*
 * ---- calls to other services: effects (DESIGN.md I-6) ----
 * A handler never calls out itself: it may be rolled back and re-run, and
 * must not hold its transaction open on the network. cv_effect_request()
 * adds a request to the batch transaction (a row of conveyor.effects): it
 * exists exactly when the batch commits. The effect runner then sends it
 * to the target (declared in the topology: base URL, secret, limits,
 * retries) and brings the outcome back as an event of outcome_type
 * (schema conveyor.EffectOutcome: ok, status, error, headers, body, the
 * context given here), which this domain routes to a handler like any
 * other event and applies exactly once.
 *
 * Requests are keyed by (target, idempotency_key): a handler run again (a
 * replay, a retried dead letter) requests nothing twice. The key defaults
 * to "<event id>.e<n>" for the handler's n-th request, and is sent in the
 * target's idempotency header: at least once to the service, exactly once
 * in your tables. A target without idempotency keys may see a repeat when
 * a runner dies mid-call (its docs must say what that costs).
 *
 * Domain SQL may insert into conveyor.effects itself, set-based (the
 * columns below, ON CONFLICT (target, idempotency_key) DO NOTHING).
 * A misuse (unknown target, an outcome type that is not declared, a body
 * or context that is not JSON) fails the event.
 */
struct cv_effect {
    const char *target;          /* a target of the topology */
    const char *method;          /* NULL: "POST" */
    const char *path;            /* "/v1/transfers" */
    const char *query;           /* URL-encoded, without '?', or NULL */
    const char *body;            /* JSON text, or NULL */
    const char *idempotency_key; /* NULL: "<event id>.e<n>" */
    const char *outcome_type;    /* a declared event type */
    const char *outcome_key;     /* its Kafka key; NULL: this event's key */
    const char *context;         /* JSON text echoed in the outcome, or NULL */
};
void cv_effect_request(struct cv_ctx *ctx, const struct cv_effect *effect);

/*
 * ---- settings of the topology (settings = ( ... )) ----
 * A named value: its environment variable's when that is set, else the
 * topology's. A name the topology lacks is a misuse (the event fails);
 * "" is returned then, so the handler can go on to return.
 */
const char *cv_setting(struct cv_ctx *ctx, const char *name);

/* ---- results with a reason (the reason is copied) ---- */
cv_result_t cv_retry(struct cv_ctx *ctx, const char *fmt, ...) CV_PRINTF(2, 3);
cv_result_t cv_fail(struct cv_ctx *ctx, const char *fmt, ...) CV_PRINTF(2, 3);

/* ---- logging with the event's domain, topic, partition, offset ----
 * level is CV_LOG_ERROR, _WARN, _INFO or _DEBUG; the line is formatted only
 * if the configured level lets it through. */
void cv_event_log(struct cv_ctx *ctx, int level, const char *fmt, ...)
    CV_PRINTF(3, 4);

#endif
