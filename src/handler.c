/*
 * handler.c - the handler API (handler.h): the front doors a domain uses.
 *
 * Accessors read the event the consumer decoded. SQL, row sets and emitted
 * events are checked for misuse here and then handed to the batch
 * transaction (txn.c), which buffers and tags them; a misuse is recorded in
 * ctx and fails the event when its handler returns. Nothing here knows how
 * a batch is run or committed.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

#include "codec.h"
#include "log.h"
#include "txn.h"

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

/* A handler used the API wrongly: the event fails with the reason. */
static void misuse(struct cv_ctx *ctx, const char *what)
{
    if (!ctx->misused) {
        ctx->misused = 1;
        snprintf(ctx->reason, sizeof(ctx->reason), "handler API misuse: %.400s",
                 what);
    }
    cv_event_log(ctx, CV_LOG_ERROR, "handler API misuse: %s", what);
}

void cv_sql_exec(struct cv_ctx *ctx, const char *sql, int nparams,
                 const char *const *params)
{
    if (!sql || nparams < 0 || (nparams > 0 && !params)) {
        misuse(ctx, "cv_sql_exec: no SQL, or parameters missing");
        return;
    }
    cv_txn_exec(ctx, sql, nparams, params);
}

_Static_assert(CV_SQL_ROWS_MAX_COLS == CV_TXN_MAX_COLS,
               "handler.h and txn.h disagree on the columns of a row set");

void cv_sql_rows(struct cv_ctx *ctx, const char *set_sql, int ncols,
                 const char *const *values)
{
    if (!set_sql || !values || ncols < 1 || ncols > CV_SQL_ROWS_MAX_COLS)
        misuse(ctx, "cv_sql_rows: no SQL or values, or ncols out of range");
    else if (cv_txn_rows_add(ctx, set_sql, ncols, values) != CV_OK)
        misuse(ctx, "cv_sql_rows: ncols differs from the set's earlier rows");
}

int cv_sql_query_value(struct cv_ctx *ctx, const char *sql, int nparams,
                       const char *const *params, char **value)
{
    if (!value || !sql || nparams < 0 || (nparams > 0 && !params)) {
        misuse(ctx, "cv_sql_query_value: no SQL or value, or parameters "
                    "missing");
        if (value)
            *value = NULL;
        return CV_ERR;
    }
    return cv_txn_query_value(ctx, sql, nparams, params, value);
}

/* 1 if text is NULL or JSON. */
static int json_ok(const char *text)
{
    json_t *v;
    if (!text)
        return 1;
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    json_decref(v);
    return v != NULL;
}

void cv_effect_request(struct cv_ctx *ctx, const struct cv_effect *e)
{
    static const char *const sql =
        "INSERT INTO conveyor.effects (target, method, path, query, body,"
        " idempotency_key, outcome_type, outcome_key, context, domain,"
        " source_event_id)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::text[],"
        " $9::jsonb[], $10::text[], $11::text[])"
        " ON CONFLICT (target, idempotency_key) DO NOTHING";
    char key[CV_CE_ID_MAX + 16], what[300];
    const char *outcome_key;
    size_t key_len;

    if (!e || !e->target || !e->path || !e->outcome_type) {
        misuse(ctx, "cv_effect_request: target, path and outcome_type are "
                    "required");
        return;
    }
    if (!cv_topology_target(ctx->topo, e->target)) {
        snprintf(what, sizeof(what),
                 "cv_effect_request: no target '%.200s' in the topology",
                 e->target);
        misuse(ctx, what);
        return;
    }
    if (!cv_topology_event(ctx->topo, e->outcome_type)) {
        snprintf(what, sizeof(what),
                 "cv_effect_request: outcome type %.200s is not declared",
                 e->outcome_type);
        misuse(ctx, what);
        return;
    }
    if (!json_ok(e->body) || !json_ok(e->context)) {
        misuse(ctx, "cv_effect_request: body or context is not JSON");
        return;
    }
    /* Deterministic: a re-run handler requests under the same keys. */
    snprintf(key, sizeof(key), "%s.e%d", ctx->ev->ce->id, ++ctx->effect_seq);
    outcome_key = e->outcome_key;
    if (!outcome_key) {
        outcome_key = cv_event_key(ctx->ev, &key_len);
        if (outcome_key && strlen(outcome_key) != key_len)
            outcome_key = NULL; /* a binary key: none */
    }
    {
        const char *v[] = {
            e->target,       e->method ? e->method : "POST",
            e->path,         e->query,
            e->body,         e->idempotency_key ? e->idempotency_key : key,
            e->outcome_type, outcome_key,
            e->context,      ctx->domain,
            ctx->ev->ce->id};
        if (cv_txn_rows_add(ctx, sql, 11, v) != CV_OK)
            misuse(ctx, "cv_effect_request: could not add the request");
    }
}

const char *cv_setting(struct cv_ctx *ctx, const char *name)
{
    const char *v = name ? cv_topology_setting(ctx->topo, name) : NULL;
    char what[300];

    if (v)
        return v;
    snprintf(what, sizeof(what),
             "cv_setting: no setting '%.200s' in the "
             "topology",
             name ? name : "(null)");
    misuse(ctx, what);
    return "";
}

struct cv_record *cv_emit_new(struct cv_ctx *ctx, const char *event_type)
{
    const struct cv_topo_event *te =
        event_type ? cv_topology_event(ctx->topo, event_type) : NULL;
    const struct cv_schema *schema =
        te ? cv_catalogue_by_name(ctx->cat, te->schema) : NULL;
    char what[300];

    if (!schema) {
        snprintf(what, sizeof(what),
                 "emit: event type %.200s is not declared in the topology",
                 event_type ? event_type : "(null)");
        misuse(ctx, what);
        return NULL;
    }
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
    char errstr[512], id[CV_CE_ID_MAX + 16];
    const struct cv_topo_event *te;
    char *buf = NULL;
    size_t len = 0;
    int rc = CV_ERR;

    if (!rec) {
        /* cv_emit_new() failed, and said so */
        if (!ctx->misused)
            misuse(ctx, "cv_emit_send: no record");
        return CV_ERR;
    }
    te = event_of(ctx, rec);
    if (!te) {
        misuse(ctx, "emit failed: send each record made by cv_emit_new() "
                    "before the next cv_emit_new()");
        goto out;
    }
    if (cv_record_encode(rec, &buf, &len, errstr, sizeof(errstr)) != CV_OK) {
        char what[600];
        snprintf(what, sizeof(what), "emit failed: %.400s", errstr);
        misuse(ctx, what);
        goto out;
    }
    /* Deterministic id: a re-run handler emits the same ids (I-4). */
    snprintf(id, sizeof(id), "%s.%d", ctx->ev->ce->id, ++ctx->emit_seq);
    /* buffered: the engine writes all of a batch's rows in one insert */
    cv_txn_outbox_add(ctx, te->topic, te->type, id, key, buf, len);
    rc = CV_OK;
out:
    free(buf);
    if (rec == ctx->emit_rec)
        ctx->emit_rec = NULL;
    cv_record_destroy(rec);
    return rc;
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

void cv_event_log(struct cv_ctx *ctx, int level, const char *fmt, ...)
{
    const struct cv_event *ev = ctx->ev;
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
