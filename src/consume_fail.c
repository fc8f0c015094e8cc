/*
 * consume_fail.c - an event that failed on its own, and parked retries.
 *
 * Its route's retry policy decides: dead-letter it (cv_fail(), or no
 * attempts left), park it in conveyor.retries with its offset advanced
 * (deferred: consumer_run_parked() re-runs it when due), or record the
 * attempt and hold its partition at it until due (blocking: it is fetched
 * again). Attempt counts live in conveyor.retries, so they survive
 * restarts.
 */
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "log.h"

#include "consume_int.h"
#include "metrics.h"

/* What a failed attempt records. */
struct attempt {
    const char *reason;
    int attempts;     /* failed so far, this one included */
    int64_t delay_ms; /* until the next one (parking) */
};

static int send_dead_letter(struct cv_consumer *c, size_t i, const void *arg)
{
    const struct attempt *a = arg;
    return consumer_dead_letter(c, i, a->reason, a->attempts);
}

static int send_park(struct cv_consumer *c, size_t i, const void *arg)
{
    const struct attempt *a = arg;
    return consumer_record_retry(c, i, (int)i, 1, a->attempts, a->delay_ms,
                                 a->reason);
}

/* Uniform in [0,1) for the retry jitter (xorshift64*). */
static double rnd(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* A blocking retry: the attempt is recorded, the event stays at the head
 * of its partition (its offset is not advanced). */
static enum cv_txn_result record_head_retry(struct cv_consumer *c, size_t i,
                                            const struct attempt *a)
{
    struct cv_pg_error err;
    int rc;

    if (!c->pg && consumer_pg_connect(c) != CV_OK)
        return CV_TXN_TRANSIENT;
    cv_pg_pipe_begin(c->pg);
    rc = consumer_record_retry(c, i, CV_TAG_ENGINE, 0, a->attempts, a->delay_ms,
                               a->reason);
    if (rc != CV_OK)
        cv_pg_conn_error(c->pg, &err, CV_TAG_ENGINE);
    else
        rc = cv_pg_pipe_sync(c->pg, NULL, NULL, &err);
    cv_pg_pipe_end(c->pg);
    if (rc == CV_OK)
        return CV_TXN_OK;
    CV_LOG(CV_LOG_WARN, c->kv, "recording a retry failed: %s", err.message);
    if (!cv_pg_ok(c->pg)) {
        cv_pg_destroy(c->pg);
        c->pg = NULL;
    }
    return CV_TXN_TRANSIENT;
}

/*
 * Event i failed on its own (why: the reason, and whether another attempt
 * may succeed) and its route's retry policy decides: dead-letter it
 * (cv_fail(), or no attempts left), park it for a deferred retry, or keep
 * it at the head of its partition for a blocking one. Returns CV_TXN_OK
 * when it was dead-lettered or parked (committed, the partition flows on),
 * CV_TXN_HELD when its partition now waits, else what went wrong.
 */
enum cv_txn_result consumer_isolate(struct cv_consumer *c, size_t i,
                                    const struct cv_blame *why)
{
    struct batch_event *e = &c->events[i];
    const struct cv_retry_policy *pol = consumer_policy_of(c, e);
    /* no attempts left: this run did not call the handler */
    struct attempt a = {
        .reason = why->reason,
        .attempts =
            e->attempts >= pol->max_attempts ? e->attempts : e->attempts + 1,
    };
    struct cv_blame blame;
    enum cv_txn_result r;

    if (why->retriable && a.attempts < pol->max_attempts) {
        struct partition *p = e->part;

        a.delay_ms = cv_retry_delay_ms(pol, a.attempts, rnd(&c->rng));
        if (pol->mode == CV_RETRY_DEFERRED || e->retry_id) {
            r = consumer_txn_one(c, i, send_park, &a, &blame);
            if (r == CV_TXN_OK)
                cv_metrics_retried(c->domain->name, e->ce.type);
            if (r == CV_TXN_OK)
                CV_LOG(CV_LOG_WARN, c->kv,
                       "attempt %d of %d of event %s failed (%s); parked, "
                       "next attempt in %lld ms",
                       a.attempts, pol->max_attempts, e->ce.id, a.reason,
                       (long long)a.delay_ms);
            return r;
        }
        r = record_head_retry(c, i, &a);
        if (r != CV_TXN_OK)
            return r;
        cv_metrics_retried(c->domain->name, e->ce.type);
        p->retry_offset = e->offset;
        p->retry_attempts = a.attempts;
        p->retry_due_ms = cv_wall_ms() + a.delay_ms;
        snprintf(p->retry_error, sizeof(p->retry_error), "%.255s", a.reason);
        CV_LOG(CV_LOG_WARN, c->kv, "attempt %d of %d of event %s failed (%s)",
               a.attempts, pol->max_attempts, e->ce.id, a.reason);
        consumer_retry_hold(c, p);
        return CV_TXN_HELD;
    }
    r = consumer_txn_one(c, i, send_dead_letter, &a, &blame);
    if (r == CV_TXN_OK)
        consumer_count_committed(c, i, i + 1, 0);
    return r;
}

/* Runs one due parked retry in its own transaction; non-zero stops the
 * round (the consumer is stopping, or Postgres is in trouble). */
static int run_one_parked(void *opaque, struct cv_store_parked *row)
{
    struct cv_consumer *c = opaque;
    struct batch_event *e;
    struct cv_blame blame;
    size_t handled;
    enum cv_txn_result r;

    if (atomic_load(c->stop))
        return 1;
    if (cv_control_route_paused(c->control, row->event_type))
        return 0; /* its route is switched off: it waits */
    if (!c->events_cap) {
        c->events_cap = (size_t)c->domain->batch_size;
        c->events = cv_realloc(c->events, c->events_cap * sizeof(*c->events));
    }
    e = &c->events[0];
    memset(e, 0, sizeof(*e));
    c->nevents = 1;
    e->retry_id = row->id;
    e->partition = row->partition;
    e->part = consumer_partition(c, row->topic, row->partition, 1);
    e->offset = row->offset;
    e->key = row->key; /* the event owns these now */
    e->key_len = row->key_len;
    e->value = row->value;
    e->len = row->len;
    e->hdrs = row->hdrs;
    row->key = row->value = NULL;
    row->hdrs = NULL;
    e->attempts = row->attempts;
    snprintf(e->last_error, sizeof(e->last_error), "%s", row->last_error);
    e->bad = cv_ce_parse(e->hdrs, &e->ce, e->why, sizeof(e->why)) != CV_OK;
    r = consumer_run_batch(c, 0, 1, &handled, &blame);
    if (r == CV_TXN_OK) {
        consumer_count_committed(c, 0, 1, handled);
        CV_LOG(CV_LOG_INFO, c->kv, "event %s applied at attempt %d", e->ce.id,
               e->attempts + 1);
    } else if (r == CV_TXN_EVENT) {
        r = consumer_isolate(c, 0, &blame);
    }
    consumer_drop_events(c, 0);
    return r == CV_TXN_TRANSIENT || r == CV_TXN_WAITED;
}

/*
 * Between batches: re-runs the group's parked retries that are due, one
 * transaction each. Any consumer of the group may run any of them; the
 * row lock taken in txn_begin() makes sure only one does.
 */
void consumer_run_parked(struct cv_consumer *c)
{
    struct cv_pg_error err;

    if (!c->has_deferred || c->paused || !c->pg ||
        cv_mono_ms() < c->next_retry_poll)
        return;
    c->next_retry_poll = cv_mono_ms() + CV_RETRY_POLL_MS;
    if (cv_store_retries_due(c->pg, c->domain->group_id, run_one_parked, c,
                             &err) == CV_OK)
        return;
    CV_LOG(CV_LOG_WARN, c->kv, "looking for due retries: %s", err.message);
    if (!cv_pg_ok(c->pg)) {
        cv_pg_destroy(c->pg);
        c->pg = NULL;
    }
}
