/*
 * txn.h - the batch transaction: one Postgres transaction of a consumer's
 * batch, as the consumer and the handler API share it.
 *
 * The consumer (consume*.c) opens the transaction, runs the handlers and
 * commits it; the handler API (handler.c) queues the handlers' statements,
 * rows and emitted events into it. This module sits below both and
 * includes neither: it owns the buffers (row sets, outbox rows), the
 * pipeline tags and what a failed statement's tag says about whom to blame.
 *
 * Every statement of the pipeline carries a tag (enum cv_tag): the index of
 * the event it was queued for (>= 0), one of the engine's own statements,
 * or the span of events whose rows a set statement carried.
 * cv_txn_classify() turns the first error of a pipeline into a verdict
 * without a connection, so that it can be tested on its own.
 *
 * A struct cv_ctx belongs to the consumer thread that runs the batch.
 */
#ifndef CV_TXN_H
#define CV_TXN_H

#include <avro.h>

#include "event.h"
#include "pg.h"
#include "schema.h"
#include "store.h"
#include "topology.h"

/* One event as a handler sees it: fetched from Kafka, or a parked retry
 * read back from conveyor.retries. */
struct cv_event {
    const struct cv_ce *ce;
    avro_value_t *value; /* the decoded record */
    const char *topic;
    const char *key;
    size_t key_len;
    int32_t partition;
    int64_t offset;
    int attempt;         /* 1 = first delivery */
    int64_t deadline_ms; /* monotonic; 0 = no handler timeout */
};

/*
 * Pipeline tags. Event tags are >= 0 (the event's index in the batch); the
 * engine's own are between CV_TAG_ENGINE and CV_TAG_SPAN0; a set
 * statement's tag is CV_TAG_SPAN0 - k for span k (struct cv_span).
 */
enum cv_tag {
    CV_TAG_ENGINE = -1, /* BEGIN, COMMIT, outbox rows, ...: nobody's fault */
    CV_TAG_CAS = -2,    /* the offset compare-and-set */
    CV_TAG_INBOX = -3,  /* the inbox insert */
    CV_TAG_CLAIM = -4,  /* the claim of a parked retry */
    CV_TAG_LOOKUP = -5, /* the inbox look-up of round trip 1 */
    CV_TAG_SPAN0 = -16,
};

/*
 * The rows cv_txn_rows_add() added to one set statement and not sent yet:
 * one Postgres array literal per column. Sets live as long as their cv_ctx
 * (one transaction); a flush sends every pending set and empties it.
 */
struct cv_rowset {
    const char *sql_ptr; /* fast path: the handler's literal */
    char *sql;
    int ncols;
    struct cv_pg_array *col;
    size_t nrows;    /* pending rows */
    int first, last; /* tags (events) of the first and last pending row */
    uint64_t seq;    /* when its first pending row was added: flush order */
};

/* A set with this many pending rows is flushed (with every other pending
 * set) and pushed to the server at once, so that Postgres works while the
 * handlers go on: 1000 rows of a typical set are 50-200 KB of arrays. The
 * first chunk of a transaction is a quarter of that. */
#define CV_ROWS_CHUNK 1000

/* The most columns a row set may have (handler.h: CV_SQL_ROWS_MAX_COLS). */
#define CV_TXN_MAX_COLS 64

/* The events whose rows one flushed set statement carried (inclusive): a
 * failing set statement's tag names its span, not one event. */
struct cv_span {
    int first, last;
};

struct cv_ctx {
    struct cv_pg *pg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    const char *domain;
    const struct cv_event *ev; /* the event being handled */
    int tag;                   /* pipeline tag of its statements */
    int emit_seq;              /* emits by this event so far */
    int effect_seq;            /* effect requests by this event so far */
    int outbox_rows;           /* emits in this transaction */
    int outbox_pending;        /* of which not sent yet */
    struct cv_pg_array outbox[CV_OB_COLUMNS]; /* their columns (store.h) */
    int broken; /* a statement could not be queued: the connection is gone */
    const struct cv_record *emit_rec;       /* the record cv_emit_new() made */
    const struct cv_topo_event *emit_event; /* and its event type */
    char reason[512];                       /* from cv_retry()/cv_fail() */
    int misused;            /* a handler API misuse: fail the event */
    struct cv_rowset *sets; /* row sets seen in this transaction */
    size_t nsets, sets_cap;
    uint64_t rows_seq;     /* rows added so far */
    struct cv_span *spans; /* set statements sent, by span index */
    size_t nspans, spans_cap;
    int pipe_failed;             /* a mid-batch read saw pipe_err */
    struct cv_pg_error pipe_err; /* the first error it saw */
};

/*
 * Queues one statement for the event being handled (ctx->tag), after every
 * pending row set so that it sees their rows (program order). If it cannot
 * be queued (the connection is gone), ctx->broken is set.
 */
void cv_txn_exec(struct cv_ctx *ctx, const char *sql, int nparams,
                 const char *const *params);

/*
 * Adds one row (ncols values, NULL for SQL NULL) to the row set of set_sql
 * and sends nothing, unless the set now holds a chunk (CV_ROWS_CHUNK): then
 * every pending set is sent and pushed to the server. Returns CV_ERR,
 * adding nothing, if ncols is not 1 to CV_TXN_MAX_COLS or the set's earlier
 * rows had another ncols.
 */
int cv_txn_rows_add(struct cv_ctx *ctx, const char *set_sql, int ncols,
                    const char *const *values);

/*
 * Runs a statement now (a round trip) and returns its first row's first
 * column as a fresh string in *value (NULL for SQL NULL or no rows; caller
 * frees). On CV_ERR a statement's error is kept in ctx->pipe_err (the
 * first one): the engine blames its tag when the handler returns.
 */
int cv_txn_query_value(struct cv_ctx *ctx, const char *sql, int nparams,
                       const char *const *params, char **value);

/*
 * Like cv_txn_query_value(), for a query whose every row is wanted: the
 * results with the event's tag that arrive are handed to fn in order (it
 * must not keep them): those of the event's earlier statements not read
 * yet, then, last, this query's. Declared SQL's emit queries (sqlroute.c).
 */
typedef void (*cv_txn_rows_fn)(void *opaque, PGresult *res);
int cv_txn_query_rows(struct cv_ctx *ctx, const char *sql, int nparams,
                      const char *const *params, cv_txn_rows_fn fn,
                      void *opaque);

/*
 * Buffers one outbox row emitted by the event being handled: its source,
 * time, tenant and traceparent come from ctx. Every CV_ROWS_CHUNK rows the
 * buffer is sent (ctx->broken if it cannot be).
 */
void cv_txn_outbox_add(struct cv_ctx *ctx, const char *topic,
                       const char *event_type, const char *event_id,
                       const char *key, const void *value, size_t len);

/*
 * Sends every pending row set as one statement each, in the order of their
 * first rows, tagged with their spans. The engine calls it after the last
 * handler of a transaction; cv_txn_exec() and cv_txn_query_value() before
 * their statement, and cv_txn_rows_add() when a set holds a chunk.
 * Returns CV_ERR if a statement could not be queued (connection lost).
 */
int cv_txn_rows_flush(struct cv_ctx *ctx);

/* Sends the pending outbox rows as one insert (CV_TAG_ENGINE). The engine
 * calls it at commit. Returns CV_ERR if it could not be queued. */
int cv_txn_outbox_flush(struct cv_ctx *ctx);

/* Records that a set statement carries the rows of events first..last;
 * returns the tag to send it with. */
int cv_txn_span_add(struct cv_ctx *ctx, int first, int last);

/*
 * The events [*first, *last] a pipeline tag stands for: the event itself
 * for an event's tag, the span of a set statement's tag. Returns 0 for the
 * engine's own tags (no event to blame).
 */
int cv_txn_tag_events(const struct cv_ctx *ctx, int tag, int *first, int *last);

/* Frees what ctx buffered for its transaction: outbox rows, row sets,
 * spans. ctx can be used again afterwards (all empty). */
void cv_txn_reset(struct cv_ctx *ctx);

/* What became of a batch transaction. */
enum cv_txn_result {
    CV_TXN_OK = 0,
    CV_TXN_EVENT,     /* events of the batch failed: the blame names them */
    CV_TXN_FENCED,    /* the commit was refused: another consumer owns the
                         partition, or committed these events first */
    CV_TXN_TRANSIENT, /* connection lost, or no event to blame */
    CV_TXN_WAITED,    /* lock_timeout or statement_timeout: Postgres was
                         blocked or slow; retried like CV_TXN_TRANSIENT */
    CV_TXN_HELD,      /* (the consumer's) a blocking retry: the event's
                         partition waits */
};

/* Whom a failed transaction blames (CV_TXN_EVENT), and why. */
struct cv_blame {
    int first, last;  /* the events, inclusive; -1 when no event's fault */
    int retriable;    /* another attempt may succeed */
    char reason[640]; /* or, for CV_TXN_WAITED, what waited on what */
};

/*
 * The verdict on the first error of a transaction's pipeline, from its
 * SQLSTATE and its statement's tag alone (no connection needed):
 *   - a wait (lock_timeout, statement_timeout), whichever statement hit
 *     it: CV_TXN_WAITED;
 *   - the offset compare-and-set refused (CV001), or the inbox insert hit
 *     an id another consumer committed meanwhile: CV_TXN_FENCED;
 *   - an event's statement or a set statement failed (not the connection):
 *     CV_TXN_EVENT, blaming its event or span; class 40 is retriable;
 *   - anything else: CV_TXN_TRANSIENT.
 * out is filled in for CV_TXN_EVENT and cleared otherwise.
 */
enum cv_txn_result cv_txn_classify(const struct cv_ctx *ctx,
                                   const struct cv_pg_error *err,
                                   struct cv_blame *out);

#endif
