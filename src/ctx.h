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

struct cv_event {
    const rd_kafka_message_t *msg;
    const struct cv_ce *ce;
    avro_value_t *value; /* the decoded record */
    const char *topic;
};

/* Outbox rows of one transaction, written with one multi-row insert at
 * commit: one Postgres array literal per column. */
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
    char *col[CV_OB_COLUMNS];
    size_t len[CV_OB_COLUMNS], cap[CV_OB_COLUMNS];
};

struct cv_ctx {
    struct cv_pg *pg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    const char *domain;
    const struct cv_event *ev;        /* the event being handled */
    int tag;                          /* pipeline tag of its statements */
    int emit_seq;                     /* emits by this event so far */
    int outbox_rows;                  /* emits in this transaction */
    struct cv_outbox_rows outbox;     /* and their values */
    int broken;                       /* a statement could not be queued */
    const struct cv_record *emit_rec; /* the record cv_emit_new() made */
    const struct cv_topo_event *emit_event; /* and its event type */
    char reason[512];                       /* from cv_retry()/cv_fail() */
};

/* Frees the outbox rows buffered in ctx. */
void cv_ctx_outbox_reset(struct cv_ctx *ctx);

#endif
