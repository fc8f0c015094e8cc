/*
 * handler.h - the API a domain consumer sees. Nothing else.
 *
 * A domain is one file in consumers/ that defines one struct cv_domain_def
 * named cv_domain_<file name>; the build generates the registry, so adding a
 * domain touches no engine file. The engine never includes consumers/, and
 * consumers never see librdkafka, libpq or avro-c handles.
 *
 * A handler runs inside the batch's Postgres transaction. Everything it does
 * through cv_sql_exec() and cv_emit_*() commits together with the consumed
 * offsets and the inbox row, or not at all. A handler never commits or rolls
 * back; it returns CV_HANDLED, or cv_retry()/cv_fail() with a reason.
 *
 * Handlers must be re-runnable: the engine rolls a batch back and runs it
 * again when another event in it fails, when a zombie consumer is fenced, or
 * when an operator replays a range. Side effects outside Postgres carry an
 * idempotency key derived from cv_event_id() (DESIGN.md I-6).
 *
 * Everything a handler receives is borrowed for the duration of the call.
 * Handlers are called from the consumer thread that owns the batch.
 */
#ifndef CV_HANDLER_H
#define CV_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef enum {
    CV_HANDLED = 0, /* done; effects commit with the batch */
    CV_RETRY = 1,   /* transient: try again later */
    CV_FAILED = 2,  /* permanent: dead-letter it */
} cv_result_t;

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
 * the batch commits and make the engine isolate this event. Returns CV_OK or
 * CV_ERR if it could not even be queued. The SQL text should be a literal:
 * the engine prepares each distinct text once per connection.
 */
int cv_sql_exec(struct cv_ctx *ctx, const char *sql, int nparams,
                const char *const *params);

/*
 * Runs a query now and returns its first row's first column as a fresh
 * string in *value (NULL for SQL NULL or no rows; caller frees). Costs a
 * round trip: use it only when the handler's logic needs the answer.
 */
int cv_sql_query_value(struct cv_ctx *ctx, const char *sql, int nparams,
                       const char *const *params, char **value);

/*
 * ---- emit events through the transactional outbox (DESIGN.md I-5) ----
 * cv_emit_new() starts a record of the event type's schema (NULL if the type
 * is not declared in the topology). Set fields by name, then cv_emit_send()
 * encodes it and queues the outbox row; it takes ownership of the record.
 * The emitted event's ce_id is derived from this event's id and the emit
 * ordinal, so a re-run handler emits the same ids and I-4 absorbs repeats.
 * Send (or cv_record_destroy()) each record before the next cv_emit_new().
 */
struct cv_record *cv_emit_new(struct cv_ctx *ctx, const char *event_type);
int cv_record_set_string(struct cv_record *rec, const char *field,
                         const char *value); /* NULL sets a null union */
int cv_record_set_long(struct cv_record *rec, const char *field, int64_t value);
int cv_record_set_int(struct cv_record *rec, const char *field, int32_t value);
int cv_record_set_double(struct cv_record *rec, const char *field,
                         double value);
int cv_record_set_bool(struct cv_record *rec, const char *field, int value);
int cv_emit_send(struct cv_ctx *ctx, struct cv_record *rec, const char *key);
/* Frees a record that will not be sent. */
void cv_record_destroy(struct cv_record *rec);

/* ---- results with a reason (the reason is copied) ---- */
cv_result_t cv_retry(struct cv_ctx *ctx, const char *fmt, ...) CV_PRINTF(2, 3);
cv_result_t cv_fail(struct cv_ctx *ctx, const char *fmt, ...) CV_PRINTF(2, 3);

/* ---- logging with the event's domain, topic, partition, offset ---- */
void cv_event_log(struct cv_ctx *ctx, const struct cv_event *ev, int level,
                  const char *fmt, ...) CV_PRINTF(4, 5);

/* ---- registration ---- */
typedef cv_result_t (*cv_handler_fn)(struct cv_ctx *ctx,
                                     const struct cv_event *ev);

struct cv_handler_def {
    const char *name; /* referenced from topology as "<domain>.<name>" */
    cv_handler_fn fn;
    const char *description;
};

struct cv_domain_def {
    const char *name;
    const char *description;
    const struct cv_handler_def *handlers; /* terminated by {NULL} */
};

/* The registry the build generates from the files in consumers/,
 * NULL-terminated. */
extern const struct cv_domain_def *const cv_domains[];

#endif
