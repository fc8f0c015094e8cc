/*
 * ctx.h - engine-internal definitions behind the handler API's opaque types.
 *
 * Consumers never include this; they see only handler.h.
 */
#ifndef CV_CTX_H
#define CV_CTX_H

#include <avro.h>
#include <librdkafka/rdkafka.h>

#include "event.h"
#include "handler.h"
#include "pg.h"
#include "schema.h"
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

/* Outbox rows of one transaction not sent yet, written with one multi-row
 * insert per CV_ROWS_CHUNK rows and at commit: one Postgres array literal
 * per column. */
enum {
    CV_OB_TOPIC,
    CV_OB_KEY,
    CV_OB_VALUE,
    CV_OB_EVENT_ID,
    CV_OB_EVENT_TYPE,
    CV_OB_SOURCE,
    CV_OB_EVENT_TIME,
    CV_OB_TENANT,
    CV_OB_TRACEPARENT,
    CV_OB_COLUMNS
};

struct cv_outbox_rows {
    struct cv_pg_array col[CV_OB_COLUMNS];
};

/*
 * The rows cv_sql_rows() added to one set statement and not sent yet: one
 * Postgres array literal per column. Sets live as long as their cv_ctx (one
 * transaction); a flush sends every pending set and empties it.
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

/* The events whose rows one flushed set statement carried (inclusive): a
 * failing set statement's tag names its span, not one event. */
struct cv_span {
    int first, last;
};

/* Tags of set statements: CV_TAG_SPAN0 - k for span k. Event tags are >= 0
 * and the engine's own are between -1 and CV_TAG_SPAN0. */
#define CV_TAG_SPAN0 -16
/* The tag of the engine's own statements (no event to blame). */
#define CV_TAG_ENGINE -1

struct cv_ctx {
    struct cv_pg *pg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    const char *domain;
    const struct cv_event *ev;        /* the event being handled */
    int tag;                          /* pipeline tag of its statements */
    int emit_seq;                     /* emits by this event so far */
    int outbox_rows;                  /* emits in this transaction */
    int outbox_pending;               /* of which not sent yet */
    struct cv_outbox_rows outbox;     /* their values */
    int broken;                       /* a statement could not be queued */
    const struct cv_record *emit_rec; /* the record cv_emit_new() made */
    const struct cv_topo_event *emit_event; /* and its event type */
    char reason[512];                       /* from cv_retry()/cv_fail() */
    int misused;            /* a handler API misuse: fail the event */
    struct cv_rowset *sets; /* row sets seen in this transaction */
    size_t nsets, sets_cap;
    uint64_t rows_seq;     /* cv_sql_rows() calls so far */
    struct cv_span *spans; /* set statements sent, by span index */
    size_t nspans, spans_cap;
    int pipe_failed;             /* a mid-batch read saw pipe_err */
    struct cv_pg_error pipe_err; /* the first error it saw */
};

/*
 * Sends every pending row set as one statement each (cv_sql_rows()), in the
 * order of their first rows, tagged with their spans. The engine calls it
 * after the last handler of a transaction; cv_sql_exec() and
 * cv_sql_query_value() call it before their statement (program order), and
 * cv_sql_rows() when a set holds CV_ROWS_CHUNK rows.
 * Returns CV_ERR if a statement could not be queued (connection lost).
 */
int cv_ctx_rows_flush(struct cv_ctx *ctx);

/* Sends the pending outbox rows as one insert (CV_TAG_ENGINE). The engine
 * calls it at commit; cv_emit_send() every CV_ROWS_CHUNK rows. Returns
 * CV_ERR if it could not be queued. */
int cv_ctx_outbox_flush(struct cv_ctx *ctx);

/*
 * The events [*first, *last] a pipeline tag stands for: the event itself
 * for an event's tag, the span of a set statement's tag. Returns 0 for the
 * engine's own tags (no event to blame).
 */
int cv_ctx_tag_events(const struct cv_ctx *ctx, int tag, int *first, int *last);

/* Frees what ctx buffered for its transaction: outbox rows, row sets,
 * spans. ctx can be used again afterwards (all empty). */
void cv_ctx_reset(struct cv_ctx *ctx);

#endif
