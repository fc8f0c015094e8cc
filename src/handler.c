/*
 * handler.c - the handler API (handler.h) on top of the engine.
 *
 * Accessors read the event the consumer loop decoded; SQL goes into the
 * batch's pipeline tagged with the event's index, so a failing statement
 * names its event; emits become outbox rows in the same transaction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ctx.h"
#include "log.h"

const char *cv_event_id(const struct cv_event *ev)
{
    return ev->ce->id;
}

const char *cv_event_type(const struct cv_event *ev)
{
    return ev->ce->type;
}

const char *cv_event_source(const struct cv_event *ev)
{
    return ev->ce->source;
}

int64_t cv_event_time_ms(const struct cv_event *ev)
{
    return ev->ce->time_ms;
}

const char *cv_event_tenant(const struct cv_event *ev)
{
    return ev->ce->tenant[0] ? ev->ce->tenant : NULL;
}

const char *cv_event_key(const struct cv_event *ev, size_t *len)
{
    if (len)
        *len = ev->msg->key_len;
    return ev->msg->key;
}

const char *cv_event_topic(const struct cv_event *ev)
{
    return ev->topic;
}

int32_t cv_event_partition(const struct cv_event *ev)
{
    return ev->msg->partition;
}

int64_t cv_event_offset(const struct cv_event *ev)
{
    return ev->msg->offset;
}

int cv_event_string(const struct cv_event *ev, const char *field,
                    const char **value)
{
    size_t len;
    return cv_value_get_string(ev->value, field, value, &len);
}

int cv_event_long(const struct cv_event *ev, const char *field, int64_t *value)
{
    return cv_value_get_long(ev->value, field, value);
}

int cv_event_int(const struct cv_event *ev, const char *field, int32_t *value)
{
    return cv_value_get_int(ev->value, field, value);
}

int cv_event_double(const struct cv_event *ev, const char *field, double *value)
{
    return cv_value_get_double(ev->value, field, value);
}

int cv_event_bool(const struct cv_event *ev, const char *field, int *value)
{
    return cv_value_get_bool(ev->value, field, value);
}

int cv_sql_exec(struct cv_ctx *ctx, const char *sql, int nparams,
                const char *const *params)
{
    if (cv_pg_pipe_send(ctx->pg, ctx->tag, sql, nparams, params, NULL, NULL) !=
        CV_OK) {
        ctx->broken = 1;
        return CV_ERR;
    }
    return CV_OK;
}

struct first_value {
    int tag;
    char *value;
};

static void take_first_value(void *opaque, int tag, PGresult *res)
{
    struct first_value *fv = opaque;
    if (tag != fv->tag || fv->value || PQntuples(res) < 1 ||
        PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
        return;
    fv->value = cv_strdup(PQgetvalue(res, 0, 0));
}

int cv_sql_query_value(struct cv_ctx *ctx, const char *sql, int nparams,
                       const char *const *params, char **value)
{
    struct first_value fv = {ctx->tag, NULL};
    struct cv_pg_error err;

    *value = NULL;
    if (cv_sql_exec(ctx, sql, nparams, params) != CV_OK)
        return CV_ERR;
    if (cv_pg_pipe_read(ctx->pg, take_first_value, &fv, &err) != CV_OK) {
        free(fv.value);
        return CV_ERR;
    }
    *value = fv.value;
    return CV_OK;
}

struct cv_record *cv_emit_new(struct cv_ctx *ctx, const char *event_type)
{
    const struct cv_topo_event *te = cv_topology_event(ctx->topo, event_type);
    const struct cv_schema *schema;
    if (!te) {
        cv_event_log(ctx, ctx->ev, CV_LOG_ERROR,
                     "emit: event type %s is not declared in the topology",
                     event_type);
        return NULL;
    }
    schema = cv_catalogue_by_name(ctx->cat, te->schema);
    if (!schema)
        return NULL;
    ctx->emit_rec = cv_record_new(schema);
    ctx->emit_event = te;
    return (struct cv_record *)ctx->emit_rec;
}

/* The event type a record was made for: the one named to cv_emit_new(). */
static const struct cv_topo_event *event_of(const struct cv_ctx *ctx,
                                            const struct cv_record *rec)
{
    return rec == ctx->emit_rec ? ctx->emit_event : NULL;
}

int cv_emit_send(struct cv_ctx *ctx, struct cv_record *rec, const char *key)
{
    char errstr[512], id[CV_CE_ID_MAX + 16], when[24], source[300];
    const struct cv_topo_event *te;
    struct cv_outbox_rows *ob = &ctx->outbox;
    char *buf = NULL;
    size_t len = 0;
    int rc = CV_ERR;

    if (!rec)
        return CV_ERR;
    te = event_of(ctx, rec);
    if (!te ||
        cv_record_encode(rec, &buf, &len, errstr, sizeof(errstr)) != CV_OK) {
        cv_event_log(ctx, ctx->ev, CV_LOG_ERROR, "emit failed: %s",
                     te ? errstr
                        : "send each record made by cv_emit_new() before the "
                          "next cv_emit_new()");
        goto out;
    }
    /* Deterministic id: a re-run handler emits the same ids (I-4). */
    snprintf(id, sizeof(id), "%s.%d", ctx->ev->ce->id, ++ctx->emit_seq);
    snprintf(when, sizeof(when), "%lld", (long long)cv_wall_ms());
    snprintf(source, sizeof(source), "conveyor/%s", ctx->domain);
    /* buffered: the engine writes all of a batch's rows in one insert */
#define COL(i) &ob->col[i], &ob->len[i], &ob->cap[i]
    cv_pg_array_add(COL(CV_OB_TOPIC), te->topic);
    if (key)
        cv_pg_array_add_bytea(COL(CV_OB_KEY), key, strlen(key));
    else
        cv_pg_array_add_nullable(COL(CV_OB_KEY), NULL);
    cv_pg_array_add_bytea(COL(CV_OB_VALUE), buf, len);
    cv_pg_array_add(COL(CV_OB_EVENT_ID), id);
    cv_pg_array_add(COL(CV_OB_EVENT_TYPE), te->type);
    cv_pg_array_add(COL(CV_OB_SOURCE), source);
    cv_pg_array_add(COL(CV_OB_EVENT_TIME), when);
    cv_pg_array_add_nullable(
        COL(CV_OB_TENANT), ctx->ev->ce->tenant[0] ? ctx->ev->ce->tenant : NULL);
    cv_pg_array_add_nullable(
        COL(CV_OB_TRACEPARENT),
        ctx->ev->ce->traceparent[0] ? ctx->ev->ce->traceparent : NULL);
#undef COL
    ctx->outbox_rows++;
    rc = CV_OK;
out:
    free(buf);
    if (rec == ctx->emit_rec)
        ctx->emit_rec = NULL;
    cv_record_destroy(rec);
    return rc;
}

void cv_ctx_outbox_reset(struct cv_ctx *ctx)
{
    for (int i = 0; i < CV_OB_COLUMNS; i++) {
        free(ctx->outbox.col[i]);
        ctx->outbox.col[i] = NULL;
        ctx->outbox.len[i] = ctx->outbox.cap[i] = 0;
    }
    ctx->outbox_rows = 0;
}

cv_result_t cv_retry(struct cv_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
    va_end(ap);
    return CV_RETRY;
}

cv_result_t cv_fail(struct cv_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
    va_end(ap);
    return CV_FAILED;
}

void cv_event_log(struct cv_ctx *ctx, const struct cv_event *ev, int level,
                  const char *fmt, ...)
{
    char msg[1024], kv[512];
    va_list ap;
    if (level > cv_log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ev)
        snprintf(kv, sizeof(kv),
                 "domain=%s topic=%s partition=%d offset=%lld event_id=%s",
                 ctx->domain, ev->topic, (int)ev->msg->partition,
                 (long long)ev->msg->offset, ev->ce->id);
    else
        snprintf(kv, sizeof(kv), "domain=%s", ctx->domain);
    cv_log_write(level, kv, "%s", msg);
}
