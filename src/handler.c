/*
 * handler.c - the handler API (handler.h) on top of the engine.
 *
 * Accessors read the event the consumer loop decoded; SQL goes into the
 * batch's pipeline tagged with the event's index, so a failing statement
 * names its event; emits become outbox rows in the same transaction.
 *
 * Row sets (cv_sql_rows) are buffered as one array literal per column and
 * sent as one unprepared statement per set when a statement needs them
 * (cv_ctx_rows_flush). Such a statement is tagged with its span, the
 * events whose rows it carries: the engine narrows a failing span down to
 * one event by re-running parts of the batch (consume.c).
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
        *len = ev->key_len;
    return ev->key;
}

const char *cv_event_topic(const struct cv_event *ev)
{
    return ev->topic;
}

int32_t cv_event_partition(const struct cv_event *ev)
{
    return ev->partition;
}

int64_t cv_event_offset(const struct cv_event *ev)
{
    return ev->offset;
}

int cv_event_attempt(const struct cv_event *ev)
{
    return ev->attempt;
}

int64_t cv_event_time_left_ms(const struct cv_event *ev)
{
    int64_t left;
    if (!ev->deadline_ms)
        return INT64_MAX;
    left = ev->deadline_ms - cv_mono_ms();
    return left > 0 ? left : 0;
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
    if (cv_ctx_rows_flush(ctx) != CV_OK ||
        cv_pg_pipe_send(ctx->pg, ctx->tag, sql, nparams, params, NULL, NULL) !=
            CV_OK) {
        ctx->broken = 1;
        return CV_ERR;
    }
    return CV_OK;
}

/* A handler used the API wrongly: the event fails with the reason. */
static int misuse(struct cv_ctx *ctx, const char *what)
{
    if (!ctx->misused) {
        ctx->misused = 1;
        snprintf(ctx->reason, sizeof(ctx->reason), "handler API misuse: %s",
                 what);
    }
    cv_event_log(ctx, ctx->ev, CV_LOG_ERROR, "handler API misuse: %s", what);
    return CV_ERR;
}

/* The row set of sql in this transaction, made on first use. */
static struct cv_rowset *rowset_of(struct cv_ctx *ctx, const char *sql,
                                   int ncols)
{
    struct cv_rowset *set;

    for (size_t i = 0; i < ctx->nsets; i++)
        if (ctx->sets[i].sql_ptr == sql)
            return &ctx->sets[i];
    for (size_t i = 0; i < ctx->nsets; i++)
        if (strcmp(ctx->sets[i].sql, sql) == 0)
            return &ctx->sets[i];
    if (ctx->nsets == ctx->sets_cap) {
        ctx->sets_cap = ctx->sets_cap ? ctx->sets_cap * 2 : 8;
        ctx->sets = cv_realloc(ctx->sets, ctx->sets_cap * sizeof(*ctx->sets));
    }
    set = &ctx->sets[ctx->nsets++];
    memset(set, 0, sizeof(*set));
    set->sql_ptr = sql;
    set->sql = cv_strdup(sql);
    set->ncols = ncols;
    set->col = cv_calloc((size_t)ncols, sizeof(*set->col));
    return set;
}

int cv_sql_rows(struct cv_ctx *ctx, const char *set_sql, int ncols,
                const char *const *values)
{
    struct cv_rowset *set;

    if (ncols < 1 || ncols > CV_SQL_ROWS_MAX_COLS)
        return misuse(ctx, "cv_sql_rows: ncols out of range");
    set = rowset_of(ctx, set_sql, ncols);
    if (set->ncols != ncols)
        return misuse(ctx, "cv_sql_rows: ncols differs from the set's "
                           "earlier rows");
    if (set->nrows == 0) {
        set->first = ctx->tag;
        set->seq = ctx->rows_seq;
    }
    set->last = ctx->tag;
    ctx->rows_seq++;
    for (int k = 0; k < ncols; k++)
        cv_pg_array_add_nullable(&set->col[k], values[k]);
    /* Send a big batch's sets in chunks, each on its way at once: Postgres
     * writes one chunk while the handlers fill the next. The first chunk
     * is smaller, so that Postgres starts early. */
    if (++set->nrows >= (ctx->nspans ? CV_ROWS_CHUNK : CV_ROWS_CHUNK / 4) &&
        (cv_ctx_rows_flush(ctx) != CV_OK || cv_pg_pipe_push(ctx->pg) != CV_OK))
        ctx->broken = 1;
    return CV_OK;
}

/* Sends one pending set and empties it. */
static int rows_send(struct cv_ctx *ctx, struct cv_rowset *set)
{
    const char *params[CV_SQL_ROWS_MAX_COLS];
    int tag, rc;

    if (ctx->nspans == ctx->spans_cap) {
        ctx->spans_cap = ctx->spans_cap ? ctx->spans_cap * 2 : 8;
        ctx->spans =
            cv_realloc(ctx->spans, ctx->spans_cap * sizeof(*ctx->spans));
    }
    ctx->spans[ctx->nspans].first = set->first;
    ctx->spans[ctx->nspans].last = set->last;
    tag = CV_TAG_SPAN0 - (int)ctx->nspans++;
    for (int k = 0; k < set->ncols; k++)
        params[k] = set->col[k].buf;
    rc = cv_pg_pipe_send_planned(ctx->pg, tag, set->sql, set->ncols, params);
    for (int k = 0; k < set->ncols; k++)
        cv_pg_array_clear(&set->col[k]); /* keep the buffers */
    set->nrows = 0;
    return rc;
}

int cv_ctx_rows_flush(struct cv_ctx *ctx)
{
    int rc = CV_OK;

    /* a handful of sets: pick the oldest pending one each time */
    for (;;) {
        struct cv_rowset *next = NULL;
        for (size_t i = 0; i < ctx->nsets; i++)
            if (ctx->sets[i].nrows && (!next || ctx->sets[i].seq < next->seq))
                next = &ctx->sets[i];
        if (!next)
            return rc;
        rc |= rows_send(ctx, next);
    }
}

int cv_ctx_tag_events(const struct cv_ctx *ctx, int tag, int *first, int *last)
{
    if (tag >= 0) {
        *first = *last = tag;
        return 1;
    }
    if (tag <= CV_TAG_SPAN0 && (size_t)(CV_TAG_SPAN0 - tag) < ctx->nspans) {
        *first = ctx->spans[CV_TAG_SPAN0 - tag].first;
        *last = ctx->spans[CV_TAG_SPAN0 - tag].last;
        return 1;
    }
    return 0;
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
        /* An earlier statement's error (another event's, or a row set's)
         * is not this handler's to judge: the engine blames its tag. */
        if (!ctx->pipe_failed) {
            ctx->pipe_failed = 1;
            ctx->pipe_err = err;
        }
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
#define COL(i) &ob->col[i]
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
    /* like row sets: a big batch's outbox goes out in chunks */
    if (++ctx->outbox_pending >= CV_ROWS_CHUNK &&
        (cv_ctx_outbox_flush(ctx) != CV_OK ||
         cv_pg_pipe_push(ctx->pg) != CV_OK))
        ctx->broken = 1;
out:
    free(buf);
    if (rec == ctx->emit_rec)
        ctx->emit_rec = NULL;
    cv_record_destroy(rec);
    return rc;
}

int cv_ctx_outbox_flush(struct cv_ctx *ctx)
{
    const char *params[CV_OB_COLUMNS];
    int rc;

    if (!ctx->outbox_pending)
        return CV_OK;
    for (int i = 0; i < CV_OB_COLUMNS; i++)
        params[i] = ctx->outbox.col[i].buf;
    /* prepared: an insert from arrays has no plan to go stale */
    rc = cv_pg_pipe_send(
        ctx->pg, CV_TAG_ENGINE,
        "INSERT INTO conveyor.outbox (topic, key, value, event_id, "
        "event_type, source, event_time, tenant, traceparent) "
        "SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], "
        "$4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], "
        "$9::text[])",
        CV_OB_COLUMNS, params, NULL, NULL);
    for (int i = 0; i < CV_OB_COLUMNS; i++)
        cv_pg_array_clear(&ctx->outbox.col[i]); /* keep the buffers */
    ctx->outbox_pending = 0;
    return rc;
}

void cv_ctx_reset(struct cv_ctx *ctx)
{
    for (int i = 0; i < CV_OB_COLUMNS; i++)
        cv_pg_array_free(&ctx->outbox.col[i]);
    ctx->outbox_rows = ctx->outbox_pending = 0;
    for (size_t i = 0; i < ctx->nsets; i++) {
        struct cv_rowset *set = &ctx->sets[i];
        for (int k = 0; k < set->ncols; k++)
            cv_pg_array_free(&set->col[k]);
        free(set->col);
        free(set->sql);
    }
    free(ctx->sets);
    ctx->sets = NULL;
    ctx->nsets = ctx->sets_cap = 0;
    ctx->rows_seq = 0;
    free(ctx->spans);
    ctx->spans = NULL;
    ctx->nspans = ctx->spans_cap = 0;
    ctx->pipe_failed = 0;
    ctx->misused = 0;
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
                 ctx->domain, ev->topic, (int)ev->partition,
                 (long long)ev->offset, ev->ce->id);
    else
        snprintf(kv, sizeof(kv), "domain=%s", ctx->domain);
    cv_log_write(level, kv, "%s", msg);
}
