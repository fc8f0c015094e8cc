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

struct cv_ctx {
    struct cv_pg *pg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    const char *domain;
    const struct cv_event *ev;        /* the event being handled */
    int tag;                          /* pipeline tag of its statements */
    int emit_seq;                     /* emits by this event so far */
    int outbox_rows;                  /* emits in this transaction */
    int broken;                       /* a statement could not be queued */
    const struct cv_record *emit_rec; /* the record cv_emit_new() made */
    const struct cv_topo_event *emit_event; /* and its event type */
    char reason[512];                       /* from cv_retry()/cv_fail() */
};

#endif
