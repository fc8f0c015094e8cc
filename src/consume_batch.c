/*
 * consume_batch.c - the batch and one transaction over it.
 *
 * A batch is an array of events (struct batch_event). A transaction over
 * events [lo,hi) runs in two round trips: BEGIN and the inbox look-up
 * (the duplicates), then every handler's statements and rows, the dead
 * letters of bad input, the inbox rows, the offset compare-and-set and
 * COMMIT (txn_begin(), apply_one(), txn_commit()). The verdict is
 * returned with a struct cv_blame; what to do about a failed event is the
 * caller's (consume.c bisects, consume_fail.c retries or dead-letters).
 * consumer_txn_one() runs one statement for one event the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "stats.h"

#include "consume_int.h"
#include "metrics.h"
#include "sqlroute.h"

void consumer_event_from_msg(struct batch_event *e, rd_kafka_message_t *msg,
                             struct partition *p)
{
    memset(e, 0, sizeof(*e));
    e->msg = msg;
    e->part = p;
    e->key = msg->key;
    e->key_len = msg->key_len;
    e->value = msg->payload;
    e->len = msg->len;
    e->partition = msg->partition;
    e->offset = msg->offset;
    if (rd_kafka_message_headers(msg, &e->hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        e->hdrs = NULL;
    if (p->retry_offset == msg->offset) {
        e->attempts = p->retry_attempts;
        snprintf(e->last_error, sizeof(e->last_error), "%s", p->retry_error);
    }
}

void consumer_event_free(struct batch_event *e)
{
    if (e->msg) {
        rd_kafka_message_destroy(e->msg);
    } else {
        free((void *)e->key);
        free((void *)e->value);
        if (e->hdrs)
            rd_kafka_headers_destroy(e->hdrs);
    }
    e->msg = NULL;
    e->key = e->value = NULL;
    e->hdrs = NULL;
}

void consumer_drop_events(struct cv_consumer *c, size_t from)
{
    for (size_t i = from; i < c->nevents; i++)
        consumer_event_free(&c->events[i]);
    c->nevents = from;
}

/* Indexes events [lo,hi) by event id; fills c->idx. */
static void index_ids(struct cv_consumer *c, size_t lo, size_t hi)
{
    size_t need = 16;
    while (need < (hi - lo) * 2)
        need *= 2;
    if (need > c->idx_cap) {
        c->idx_cap = need;
        c->idx = cv_realloc(c->idx, need * sizeof(*c->idx));
    }
    for (size_t i = 0; i < c->idx_cap; i++)
        c->idx[i] = -1;
    for (size_t i = lo; i < hi; i++) {
        struct batch_event *e = &c->events[i];
        if (e->bad)
            continue;
        size_t h = cv_hash_str(e->ce.id) & (c->idx_cap - 1);
        while (c->idx[h] >= 0 &&
               strcmp(c->events[c->idx[h]].ce.id, e->ce.id) != 0)
            h = (h + 1) & (c->idx_cap - 1);
        if (c->idx[h] < 0)
            c->idx[h] = (int)i;
    }
}

static int first_with_id(struct cv_consumer *c, const char *id)
{
    size_t h = cv_hash_str(id) & (c->idx_cap - 1);
    while (c->idx[h] >= 0) {
        if (strcmp(c->events[c->idx[h]].ce.id, id) == 0)
            return c->idx[h];
        h = (h + 1) & (c->idx_cap - 1);
    }
    return -1;
}

/* An id of the batch is in the inbox already: marking the first event
 * with it is enough, later ones are duplicates of it anyway. */
static void mark_dup(void *opaque, const char *event_id)
{
    struct cv_consumer *c = opaque;
    int i = first_with_id(c, event_id);
    if (i >= 0)
        c->events[i].dup = 1;
}

/* Queues the dead letter of event i, with the pipeline tag of event i. */
int consumer_dead_letter(struct cv_consumer *c, size_t i, const char *reason,
                         int attempts)
{
    const struct batch_event *e = &c->events[i];
    struct cv_store_event se;
    int rc;

    consumer_store_event_of(e, &se);
    cv_metrics_event(c->domain->name, e->bad ? NULL : e->ce.type,
                     CV_METRICS_DEAD_LETTERED);
    rc = cv_store_dead_letter(c->pg, (int)i, c->domain->group_id,
                              c->domain->dlq_topic, &se, reason, attempts);
    CV_LOG(CV_LOG_WARN, c->kv,
           "dead letter: %s [%d] offset %lld event_id=%s: %s", e->part->topic,
           (int)e->partition, (long long)e->offset,
           e->ce.id[0] ? e->ce.id : "-", reason);
    return rc;
}

/* Queues a failed attempt of event i (conveyor.retries), parked or at
 * the head of its partition. */
int consumer_record_retry(struct cv_consumer *c, size_t i, int tag, int parked,
                          int attempts, int64_t delay_ms, const char *reason)
{
    struct cv_store_event se;

    consumer_store_event_of(&c->events[i], &se);
    return cv_store_retry_upsert(c->pg, tag, c->domain->group_id, &se, parked,
                                 attempts, delay_ms, reason);
}

/*
 * Queues the end of a transaction of events [lo,hi): the inbox rows (if
 * any), the retry rows of applied events (their retry is over), the
 * offset compare-and-set for every partition of the batch, the outbox
 * rows, NOTIFY for the relay, COMMIT.
 */
static int send_commit(struct cv_consumer *c, size_t lo, size_t hi,
                       const struct cv_pg_array *inbox, struct cv_ctx *ctx,
                       int applied)
{
    struct cv_pg_array topics = {0}, nparts = {0}, expected = {0}, next = {0};
    char num[24];
    int rc = CV_OK;

    if (inbox && inbox->buf)
        cv_store_inbox_insert(c->pg, CV_TAG_INBOX, c->domain->group_id, inbox);
    for (size_t i = lo; i < hi; i++) {
        struct batch_event *e = &c->events[i];
        struct partition *p = e->part;
        if (applied && (e->attempts || e->retry_id))
            /* applied at last (or a duplicate): its retry is over */
            rc |=
                cv_store_retry_delete(c->pg, CV_TAG_ENGINE, c->domain->group_id,
                                      p->topic, e->partition, e->offset);
        if (e->retry_id)
            continue; /* parked: its offset moved on when it was parked */
        if (!p->in_batch) {
            p->in_batch = 1;
            p->batch_expected = p->next;
        }
        p->batch_next = e->offset + 1;
    }
    for (size_t i = 0; i < c->nparts; i++) {
        struct partition *p = c->parts[i];
        if (!p->in_batch)
            continue;
        cv_pg_array_add(&topics, p->topic);
        snprintf(num, sizeof(num), "%d", (int)p->partition);
        cv_pg_array_add(&nparts, num);
        snprintf(num, sizeof(num), "%lld", (long long)p->batch_expected);
        cv_pg_array_add(&expected, num);
        snprintf(num, sizeof(num), "%lld", (long long)p->batch_next);
        cv_pg_array_add(&next, num);
    }
    if (topics.buf)
        rc |= cv_store_offsets_advance(c->pg, CV_TAG_CAS, c->domain->group_id,
                                       &topics, &nparts, &expected, &next);
    rc |= cv_txn_outbox_flush(ctx);
    if (ctx->outbox_rows)
        rc |= cv_store_outbox_notify(c->pg, CV_TAG_ENGINE, c->domain->name);
    rc |= cv_pg_pipe_send(c->pg, CV_TAG_ENGINE, "COMMIT", 0, NULL, NULL, NULL);
    cv_pg_array_free(&topics);
    cv_pg_array_free(&nparts);
    cv_pg_array_free(&expected);
    cv_pg_array_free(&next);
    return rc ? CV_ERR : CV_OK;
}

static void batch_done(struct cv_consumer *c, int ok)
{
    for (size_t i = 0; i < c->nparts; i++) {
        struct partition *p = c->parts[i];
        if (p->in_batch && ok) {
            p->next = p->batch_next;
            if (p->retry_offset >= 0 && p->retry_offset < p->next)
                p->retry_offset = -1; /* that retry is over */
        }
        p->in_batch = 0;
    }
}

/* Which statement of a transaction a tag names, for the logs. */
static void describe_tag(struct cv_consumer *c, const struct cv_ctx *ctx,
                         int tag, char *out, size_t size)
{
    int first, last;

    if (tag == CV_TAG_CAS)
        snprintf(out, size, "the offset compare-and-set");
    else if (tag == CV_TAG_INBOX)
        snprintf(out, size, "the inbox insert");
    else if (tag == CV_TAG_CLAIM)
        snprintf(out, size, "the claim of a parked retry");
    else if (tag == CV_TAG_LOOKUP)
        snprintf(out, size, "the inbox look-up");
    else if (!cv_txn_tag_events(ctx, tag, &first, &last))
        snprintf(out, size, "an engine statement");
    else if (first == last)
        snprintf(out, size, "the %.60s handler of event %.60s",
                 c->events[first].ce.type, c->events[first].ce.id);
    else
        snprintf(out, size, "a row set of events %d..%d (%.60s)", first, last,
                 c->events[first].ce.type);
}

/*
 * A statement of events [lo,hi) waited past lock_timeout (or
 * statement_timeout). Nothing is any event's fault: the batch was rolled
 * back and is retried as it is, after the consumer has served its group
 * (a rebalance waits for it meanwhile). Says in out which batch waited on
 * what; report_wait() adds who holds the lock, once the pipeline is over.
 */
static void waited(struct cv_consumer *c, const struct cv_ctx *ctx,
                   const struct cv_pg_error *err, size_t lo, size_t hi,
                   struct cv_blame *out)
{
    char stmt[160], parts[160] = "";
    size_t nparts = 0, used = 0;

    describe_tag(c, ctx, err->tag, stmt, sizeof(stmt));
    for (size_t i = lo; i < hi; i++) {
        const struct batch_event *e = &c->events[i];
        size_t j = lo;
        while (j < i && c->events[j].part != e->part)
            j++;
        if (j < i)
            continue; /* partition seen */
        if (nparts++ < 3 && used < sizeof(parts))
            used += (size_t)snprintf(parts + used, sizeof(parts) - used,
                                     "%s%s [%d] from %lld",
                                     nparts > 1 ? ", " : "", e->part->topic,
                                     (int)e->partition, (long long)e->offset);
    }
    snprintf(out->reason, sizeof(out->reason),
             "batch of %zu events on %zu partitions (%.150s%s) rolled back: "
             "%.120s (SQLSTATE %s%s%.120s) in %.150s",
             hi - lo, nparts, parts, nparts > 3 ? ", ..." : "", err->message,
             err->sqlstate, err->context[0] ? ", " : "", err->context, stmt);
    if (!c->wait_count++)
        cv_rfc3339_format(cv_wall_ms(), c->wait_since);
    c->wait_last_ms = cv_mono_ms();
}

/*
 * After waited(), with the pipeline over: the lock is gone with the
 * statement, so name the likely holders, the oldest open transactions that
 * wrote or locked rows, then log it and tell status.
 */
static void report_wait(struct cv_consumer *c, const char *what)
{
    char holders[300];

    cv_store_lock_holders(c->pg, CV_HOLDERS_MAX, holders, sizeof(holders));
    CV_LOG(CV_LOG_WARN, c->kv,
           "%s; oldest open transactions: %s; serving the group, then "
           "retrying the batch",
           what, holders[0] ? holders : "none found");
    snprintf(c->pg_wait, sizeof(c->pg_wait),
             "postgres: %d batch(es) rolled back after waiting since %s, the "
             "last: %.300s",
             c->wait_count, c->wait_since, what);
    c->trouble_seq++;
}

/*
 * A run of waits is over once no batch has waited for this long: a batch
 * that commits says little when the batches that need the held rows keep
 * waiting (they may be fetched after it).
 */
#define CV_WAIT_SHOWN_MS 10000

void consumer_wait_expire(struct cv_consumer *c)
{
    if (!c->wait_count || cv_mono_ms() - c->wait_last_ms < CV_WAIT_SHOWN_MS)
        return;
    CV_LOG(CV_LOG_INFO, c->kv,
           "postgres: no batch has waited for %d s; %d rolled back on a "
           "wait since %s",
           CV_WAIT_SHOWN_MS / 1000, c->wait_count, c->wait_since);
    c->wait_count = 0;
    c->pg_wait[0] = '\0';
    c->trouble_seq++;
}

/* The verdict on a failed transaction of events [lo,hi) (txn.h), and
 * what the consumer says about it. */
static enum cv_txn_result classify(struct cv_consumer *c,
                                   const struct cv_ctx *ctx,
                                   const struct cv_pg_error *err, size_t lo,
                                   size_t hi, struct cv_blame *out)
{
    enum cv_txn_result r = cv_txn_classify(ctx, err, out);

    if (r == CV_TXN_WAITED)
        waited(c, ctx, err, lo, hi, out);
    else if (r == CV_TXN_FENCED && err->tag == CV_TAG_CAS)
        CV_LOG(CV_LOG_WARN, c->kv,
               "commit refused, %s; re-seeking to the stored offsets",
               err->message);
    else if (r == CV_TXN_FENCED)
        CV_LOG(CV_LOG_WARN, c->kv,
               "commit refused, another consumer committed these events "
               "first (%s); re-seeking to the stored offsets",
               err->message);
    else if (r == CV_TXN_TRANSIENT)
        CV_LOG(CV_LOG_WARN, c->kv, "batch rolled back (SQLSTATE %s): %s",
               err->sqlstate[0] ? err->sqlstate : "none", err->message);
    return r;
}

/* Blames event i alone. */
static enum cv_txn_result blame_one(struct cv_blame *out, size_t i,
                                    int retriable, const char *fmt, ...)
    CV_PRINTF(4, 5);

static enum cv_txn_result blame_one(struct cv_blame *out, size_t i,
                                    int retriable, const char *fmt, ...)
{
    va_list ap;

    out->first = out->last = (int)i;
    out->retriable = retriable;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
    return CV_TXN_EVENT;
}

/*
 * Round trip 1 of a transaction of events [lo,hi): BEGIN, the claim of
 * event lo's row if it is a parked retry (another consumer running it, or
 * done with it, fences this one), and with lookup the inbox look-up that
 * marks the duplicates.
 */
static enum cv_txn_result txn_begin(struct cv_consumer *c, size_t lo, size_t hi,
                                    const struct cv_ctx *ctx, int lookup,
                                    struct cv_blame *out)
{
    struct cv_store_found found = {.claim_tag = CV_TAG_CLAIM,
                                   .lookup_tag = CV_TAG_LOOKUP,
                                   .claimed = -1,
                                   .found = mark_dup,
                                   .opaque = c};
    struct cv_pg_array ids = {0};
    struct cv_pg_error err;
    enum cv_txn_result r = CV_TXN_OK;
    int rc;

    cv_metrics_txn_begin(); /* counts what this transaction commits */
    if (!c->pg && consumer_pg_connect(c) != CV_OK)
        return CV_TXN_TRANSIENT;
    for (size_t i = lo; i < hi; i++)
        c->events[i].dup = 0;
    index_ids(c, lo, hi);
    cv_pg_pipe_begin(c->pg);
    rc = cv_pg_pipe_send(c->pg, CV_TAG_ENGINE, "BEGIN", 0, NULL, NULL, NULL);
    if (c->events[lo].retry_id) {
        found.claimed = 0;
        rc |= cv_store_retry_claim(c->pg, CV_TAG_CLAIM, c->events[lo].retry_id,
                                   c->events[lo].attempts);
    }
    if (lookup) {
        for (size_t i = lo; i < hi; i++)
            if (!c->events[i].bad)
                cv_pg_array_add(&ids, c->events[i].ce.id);
        if (ids.buf)
            rc |= cv_store_inbox_lookup(c->pg, CV_TAG_LOOKUP,
                                        c->domain->group_id, &ids);
    }
    if (rc != CV_OK ||
        cv_pg_pipe_sync(c->pg, cv_store_found_rows, &found, &err) != CV_OK) {
        if (rc != CV_OK)
            cv_pg_conn_error(c->pg, &err, CV_TAG_ENGINE);
        /* round trip 1 blames no event, whichever statement failed */
        err.tag = CV_TAG_ENGINE;
        err.context[0] = '\0';
        r = classify(c, ctx, &err, lo, hi, out);
    } else if (found.claimed == 0) {
        /* another consumer runs this parked retry, or already has */
        cv_pg_pipe_send(c->pg, CV_TAG_ENGINE, "ROLLBACK", 0, NULL, NULL, NULL);
        cv_pg_pipe_sync(c->pg, NULL, NULL, &err);
        r = CV_TXN_FENCED;
    }
    cv_pg_array_free(&ids);
    return r;
}

/*
 * The end of round trip 2: the pending row sets, then send_commit(), and
 * the sync that tells whether it all committed. rc says whether queueing
 * the statements before went well.
 */
static enum cv_txn_result txn_commit(struct cv_consumer *c, size_t lo,
                                     size_t hi, struct cv_ctx *ctx,
                                     const struct cv_pg_array *inbox,
                                     int applied, int rc, struct cv_blame *out)
{
    struct cv_pg_error err;

    if (rc == CV_OK)
        rc = cv_txn_rows_flush(ctx);
    cv_metrics_txn_applied();
    if (rc == CV_OK)
        rc = send_commit(c, lo, hi, inbox, ctx, applied);
    if (rc != CV_OK || cv_pg_pipe_sync(c->pg, NULL, NULL, &err) != CV_OK) {
        if (rc != CV_OK)
            cv_pg_conn_error(c->pg, &err, CV_TAG_ENGINE);
        batch_done(c, 0);
        return classify(c, ctx, &err, lo, hi, out);
    }
    batch_done(c, 1);
    cv_metrics_txn_commit(c->domain->name);
    consumer_wait_expire(c);
    return CV_TXN_OK;
}

/* After a transaction, whatever came of it: the commit's latency (t0:
 * when round trip 2 began), pipeline mode off, a wait reported, a broken
 * connection dropped, ctx emptied. Returns r. */
static enum cv_txn_result txn_end(struct cv_consumer *c, enum cv_txn_result r,
                                  struct cv_ctx *ctx, int64_t t0,
                                  const struct cv_blame *out)
{
    if (r == CV_TXN_OK) {
        int_fast64_t zero = 0;
        cv_stats_commit_sample(cv_mono_us() - t0);
        atomic_compare_exchange_strong(&cv_stats.first_commit_ms, &zero,
                                       cv_wall_ms());
    }
    if (c->pg)
        cv_pg_pipe_end(c->pg);
    if (r == CV_TXN_WAITED)
        report_wait(c, out->reason);
    if (r == CV_TXN_TRANSIENT && c->pg && !cv_pg_ok(c->pg)) {
        cv_pg_destroy(c->pg);
        c->pg = NULL;
    }
    cv_txn_reset(ctx);
    return r;
}

/*
 * Event i in ctx's transaction: bad input is dead-lettered, a duplicate
 * skipped, anything else goes to its route's handler. Returns CV_TXN_OK,
 * with *applied set if the handler ran and succeeded, or what stops the
 * batch (out says whom to blame). A statement that cannot be queued sets
 * ctx->broken.
 */
static enum cv_txn_result apply_one(struct cv_consumer *c, struct cv_ctx *ctx,
                                    size_t i, size_t lo, size_t hi,
                                    int *applied, struct cv_blame *out)
{
    struct batch_event *e = &c->events[i];
    const struct cv_topo_route *route;
    const struct cv_schema *schema;
    avro_value_t *value;
    struct cv_event ev;
    cv_result_t hr;
    char why[512];

    *applied = 0;
    if (e->bad) {
        ctx->broken |= consumer_dead_letter(c, i, e->why, 1) != CV_OK;
        return CV_TXN_OK;
    }
    if (e->dup || first_with_id(c, e->ce.id) != (int)i) {
        e->dup = 1;
        cv_metrics_event(c->domain->name, e->ce.type, CV_METRICS_DEDUPLICATED);
        return CV_TXN_OK;
    }
    route = cv_topology_route(c->domain, e->ce.type);
    if (!route || (!route->fn && !route->decl)) {
        snprintf(why, sizeof(why), "unrouted event type '%s' for domain %s",
                 e->ce.type, c->domain->name);
        ctx->broken |= consumer_dead_letter(c, i, why, 1) != CV_OK;
        return CV_TXN_OK;
    }
    if (cv_decoder_decode(c->dec, e->value, e->len, &schema, &value, why,
                          sizeof(why)) != CV_OK) {
        ctx->broken |= consumer_dead_letter(c, i, why, 1) != CV_OK;
        return CV_TXN_OK;
    }
    if (e->attempts >= route->retry.max_attempts)
        /* its last attempt was cut off by the handler timeout */
        return blame_one(out, i, 0,
                         "no attempts left (%d of %d failed; the last: %s)",
                         e->attempts, route->retry.max_attempts, e->last_error);
    memset(&ev, 0, sizeof(ev));
    ev.ce = &e->ce;
    ev.value = value;
    ev.topic = e->part->topic;
    ev.key = e->key;
    ev.key_len = e->key_len;
    ev.partition = e->partition;
    ev.offset = e->offset;
    ev.attempt = e->attempts + 1;
    ctx->ev = &ev;
    ctx->tag = (int)i;
    ctx->emit_seq = 0;
    ctx->effect_seq = 0;
    ctx->reason[0] = '\0';
    consumer_watch_begin(c, e, &route->retry, &ev); /* route known: no lookup */
    hr = route->fn ? route->fn(ctx, &ev)
                   : cv_sqlroute_run(ctx, route->decl, &ev);
    consumer_watch_end(c, &ev);
    ctx->ev = NULL; /* ev is gone */
    if (ctx->broken)
        return CV_TXN_OK; /* the caller finds the connection gone */
    if (ctx->misused)
        hr = CV_FAILED;
    if (ctx->pipe_failed && (ctx->pipe_err.tag != (int)i || hr == CV_HANDLED))
        /* a statement queued before this handler failed (blame it), or
         * its own, and the handler went on as if not: the rest of the
         * pipeline is void, so the error decides */
        return classify(c, ctx, &ctx->pipe_err, lo, hi, out);
    if (hr != CV_HANDLED)
        return blame_one(out, i, hr == CV_RETRY, "%s: %s",
                         hr == CV_RETRY ? "retry" : "failed",
                         ctx->reason[0] ? ctx->reason : "(no reason given)");
    *applied = 1;
    return CV_TXN_OK;
}

/*
 * Applies events [lo,hi) in one transaction, in two round trips: BEGIN and
 * the inbox look-up; then every handler's statements and rows, the dead
 * letters of bad input, the inbox rows and the offsets, COMMIT. Returns
 * CV_TXN_OK with *handled (the events whose handlers succeeded), or what
 * went wrong: for CV_TXN_EVENT, out names the events to blame.
 */
enum cv_txn_result consumer_run_batch(struct cv_consumer *c, size_t lo,
                                      size_t hi, size_t *handled,
                                      struct cv_blame *out)
{
    struct cv_ctx ctx;
    struct cv_pg_array inbox = {0};
    struct cv_pg_error err;
    enum cv_txn_result r;
    int64_t t0 = 0;

    *handled = 0;
    memset(&ctx, 0, sizeof(ctx));
    r = txn_begin(c, lo, hi, &ctx, 1, out);
    if (r != CV_TXN_OK)
        return txn_end(c, r, &ctx, t0, out);
    t0 = cv_mono_us();
    ctx.pg = c->pg;
    ctx.topo = c->topo;
    ctx.cat = c->cat;
    ctx.domain = c->domain->name;
    for (size_t i = lo; i < hi && r == CV_TXN_OK && !ctx.broken; i++) {
        int applied;
        r = apply_one(c, &ctx, i, lo, hi, &applied, out);
        if (applied) {
            cv_pg_array_add(&inbox, c->events[i].ce.id);
            (*handled)++;
            cv_metrics_event(c->domain->name, c->events[i].ce.type,
                             CV_METRICS_PROCESSED);
        }
    }
    if (r != CV_TXN_OK) {
        /* undo what the handlers queued */
        cv_pg_pipe_send(c->pg, CV_TAG_ENGINE, "ROLLBACK", 0, NULL, NULL, NULL);
        cv_pg_pipe_sync(c->pg, NULL, NULL, &err);
        batch_done(c, 0);
    } else {
        r = txn_commit(c, lo, hi, &ctx, &inbox, 1, ctx.broken ? CV_ERR : CV_OK,
                       out);
    }
    cv_pg_array_free(&inbox);
    return txn_end(c, r, &ctx, t0, out);
}

/*
 * Event i alone, in a transaction of its own with one statement for it,
 * queued by send(c, i, arg): BEGIN, the claim of a parked retry, the
 * statement, the offset compare-and-set (unless parked), COMMIT. For
 * dead letters and parked retries, which run no handler.
 */
enum cv_txn_result consumer_txn_one(struct cv_consumer *c, size_t i,
                                    int (*send)(struct cv_consumer *c, size_t i,
                                                const void *arg),
                                    const void *arg, struct cv_blame *out)
{
    struct cv_ctx ctx;
    enum cv_txn_result r;
    int64_t t0 = 0;

    memset(&ctx, 0, sizeof(ctx));
    r = txn_begin(c, i, i + 1, &ctx, 0, out);
    if (r == CV_TXN_OK) {
        t0 = cv_mono_us();
        ctx.pg = c->pg;
        r = txn_commit(c, i, i + 1, &ctx, NULL, 0, send(c, i, arg), out);
    }
    return txn_end(c, r, &ctx, t0, out);
}

void consumer_count_committed(struct cv_consumer *c, size_t lo, size_t hi,
                              size_t handled)
{
    size_t dups = 0, dead;
    for (size_t i = lo; i < hi; i++)
        dups += c->events[i].dup;
    dead = (hi - lo) - handled - dups; /* the rest became dead letters */
    atomic_fetch_add(&cv_stats.processed, handled);
    atomic_fetch_add(&cv_stats.duplicates, dups);
    atomic_fetch_add(&cv_stats.dead_letters, dead);
    atomic_fetch_add(&cv_stats.batches, 1);
}
