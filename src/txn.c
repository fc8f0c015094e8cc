/*
 * txn.c - the batch transaction's buffers and tags (txn.h).
 *
 * Statements go into the pipeline tagged with their event's index, so a
 * failing statement names its event. Row sets (cv_sql_rows) are buffered
 * as one array literal per column and sent as one unprepared statement per
 * set when a statement needs them (cv_txn_rows_flush); such a statement is
 * tagged with its span, the events whose rows it carries, and the consumer
 * narrows a failing span down to one event (bisect.h). Emitted events are
 * buffered the same way and written with one outbox insert.
 *
 * It owns no policy: what a verdict leads to (bisection, retries, dead
 * letters) is the consumer's; what a handler may do is handler.c's.
 */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void cv_txn_exec(struct cv_ctx *ctx, const char *sql, int nparams,
                 const char *const *params)
{
    if (cv_txn_rows_flush(ctx) != CV_OK ||
        cv_pg_pipe_send(ctx->pg, ctx->tag, sql, nparams, params, NULL, NULL) !=
            CV_OK)
        ctx->broken = 1;
}

int cv_txn_rows_add(struct cv_ctx *ctx, const char *set_sql, int ncols,
                    const char *const *values)
{
    struct cv_rowset *set;

    if (ncols < 1 || ncols > CV_TXN_MAX_COLS)
        return CV_ERR;
    set = rowset_of(ctx, set_sql, ncols);
    if (set->ncols != ncols)
        return CV_ERR;
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
        (cv_txn_rows_flush(ctx) != CV_OK || cv_pg_pipe_push(ctx->pg) != CV_OK))
        ctx->broken = 1;
    return CV_OK;
}

int cv_txn_span_add(struct cv_ctx *ctx, int first, int last)
{
    if (ctx->nspans == ctx->spans_cap) {
        ctx->spans_cap = ctx->spans_cap ? ctx->spans_cap * 2 : 8;
        ctx->spans =
            cv_realloc(ctx->spans, ctx->spans_cap * sizeof(*ctx->spans));
    }
    ctx->spans[ctx->nspans].first = first;
    ctx->spans[ctx->nspans].last = last;
    return CV_TAG_SPAN0 - (int)ctx->nspans++;
}

/* Sends one pending set and empties it. */
static int rows_send(struct cv_ctx *ctx, struct cv_rowset *set)
{
    const char *params[CV_TXN_MAX_COLS];
    int tag = cv_txn_span_add(ctx, set->first, set->last), rc;

    for (int k = 0; k < set->ncols; k++)
        params[k] = set->col[k].buf;
    rc = cv_pg_pipe_send_planned(ctx->pg, tag, set->sql, set->ncols, params);
    for (int k = 0; k < set->ncols; k++)
        cv_pg_array_clear(&set->col[k]); /* keep the buffers */
    set->nrows = 0;
    return rc;
}

int cv_txn_rows_flush(struct cv_ctx *ctx)
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

int cv_txn_tag_events(const struct cv_ctx *ctx, int tag, int *first, int *last)
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

/* The event's row results arrive in order, those of its earlier
 * statements not read yet first: the query, sent last, is the last. */
static void take_first_value(void *opaque, int tag, PGresult *res)
{
    struct first_value *fv = opaque;
    if (tag != fv->tag)
        return;
    free(fv->value);
    fv->value = NULL;
    if (PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
        return;
    fv->value = cv_strdup(PQgetvalue(res, 0, 0));
}

int cv_txn_query_value(struct cv_ctx *ctx, const char *sql, int nparams,
                       const char *const *params, char **value)
{
    struct first_value fv = {ctx->tag, NULL};
    struct cv_pg_error err;

    *value = NULL;
    cv_txn_exec(ctx, sql, nparams, params);
    if (ctx->broken)
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

struct tagged_rows {
    int tag;
    cv_txn_rows_fn fn;
    void *opaque;
};

static void pass_rows(void *opaque, int tag, PGresult *res)
{
    struct tagged_rows *tr = opaque;
    if (tag == tr->tag)
        tr->fn(tr->opaque, res);
}

int cv_txn_query_rows(struct cv_ctx *ctx, const char *sql, int nparams,
                      const char *const *params, cv_txn_rows_fn fn,
                      void *opaque)
{
    struct tagged_rows tr = {ctx->tag, fn, opaque};
    struct cv_pg_error err;

    cv_txn_exec(ctx, sql, nparams, params);
    if (ctx->broken)
        return CV_ERR;
    if (cv_pg_pipe_read(ctx->pg, pass_rows, &tr, &err) != CV_OK) {
        if (!ctx->pipe_failed) {
            ctx->pipe_failed = 1;
            ctx->pipe_err = err;
        }
        return CV_ERR;
    }
    return CV_OK;
}

void cv_txn_outbox_add(struct cv_ctx *ctx, const char *topic,
                       const char *event_type, const char *event_id,
                       const char *key, const void *value, size_t len)
{
    struct cv_pg_array *ob = ctx->outbox;
    const struct cv_ce *ce = ctx->ev->ce;
    char when[24], source[300];

    snprintf(when, sizeof(when), "%lld", (long long)cv_wall_ms());
    snprintf(source, sizeof(source), "conveyor/%s", ctx->domain);
    cv_pg_array_add(&ob[CV_OB_TOPIC], topic);
    if (key)
        cv_pg_array_add_bytea(&ob[CV_OB_KEY], key, strlen(key));
    else
        cv_pg_array_add_nullable(&ob[CV_OB_KEY], NULL);
    cv_pg_array_add_bytea(&ob[CV_OB_VALUE], value, len);
    cv_pg_array_add(&ob[CV_OB_EVENT_ID], event_id);
    cv_pg_array_add(&ob[CV_OB_EVENT_TYPE], event_type);
    cv_pg_array_add(&ob[CV_OB_SOURCE], source);
    cv_pg_array_add(&ob[CV_OB_EVENT_TIME], when);
    cv_pg_array_add_nullable(&ob[CV_OB_TENANT],
                             ce->tenant[0] ? ce->tenant : NULL);
    cv_pg_array_add_nullable(&ob[CV_OB_TRACEPARENT],
                             ce->traceparent[0] ? ce->traceparent : NULL);
    ctx->outbox_rows++;
    /* like row sets: a big batch's outbox goes out in chunks */
    if (++ctx->outbox_pending >= CV_ROWS_CHUNK &&
        (cv_txn_outbox_flush(ctx) != CV_OK ||
         cv_pg_pipe_push(ctx->pg) != CV_OK))
        ctx->broken = 1;
}

int cv_txn_outbox_flush(struct cv_ctx *ctx)
{
    int rc;

    if (!ctx->outbox_pending)
        return CV_OK;
    rc = cv_store_outbox_insert(ctx->pg, CV_TAG_ENGINE, ctx->outbox);
    for (int i = 0; i < CV_OB_COLUMNS; i++)
        cv_pg_array_clear(&ctx->outbox[i]); /* keep the buffers */
    ctx->outbox_pending = 0;
    return rc;
}

void cv_txn_reset(struct cv_ctx *ctx)
{
    for (int i = 0; i < CV_OB_COLUMNS; i++)
        cv_pg_array_free(&ctx->outbox[i]);
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

enum cv_txn_result cv_txn_classify(const struct cv_ctx *ctx,
                                   const struct cv_pg_error *err,
                                   struct cv_blame *out)
{
    int first, last;

    out->first = out->last = -1;
    out->retriable = 0;
    out->reason[0] = '\0';
    /* before any blame: a lock wait is no event's fault, whichever
     * statement (a handler's, the inbox insert, the offsets) hit it */
    if (cv_pg_waited_too_long(err->sqlstate))
        return CV_TXN_WAITED;
    if (err->tag == CV_TAG_CAS &&
        strcmp(err->sqlstate, CV_SQLSTATE_FENCED) == 0)
        return CV_TXN_FENCED;
    /*
     * The batch's ids were not in the inbox when it began (round trip 1),
     * so another consumer has committed them since: it owns the partition
     * now (this one is a zombie) or processed the same ids elsewhere.
     * Either way this commit must not happen; Postgres has the truth.
     */
    if (err->tag == CV_TAG_INBOX &&
        strcmp(err->sqlstate, CV_SQLSTATE_UNIQUE) == 0)
        return CV_TXN_FENCED;
    /* an event's own statement failed; a class 40 error (serialization
     * failure, deadlock) counts as a failed attempt that may retry, a
     * class 08 one is the connection's and no event's fault */
    if (!cv_pg_connection_error(err->sqlstate) &&
        cv_txn_tag_events(ctx, err->tag, &first, &last)) {
        out->first = first;
        out->last = last;
        out->retriable = cv_pg_retriable(err->sqlstate);
        snprintf(out->reason, sizeof(out->reason), "SQLSTATE %s: %s",
                 err->sqlstate, err->message);
        return CV_TXN_EVENT;
    }
    return CV_TXN_TRANSIENT;
}
