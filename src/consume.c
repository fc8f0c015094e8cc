/*
 * consume.c - the domain consumer loop: exactly-once by construction.
 *
 * A batch is up to batch_size events polled within batch_wait_ms. It is
 * applied in one Postgres transaction sent as a pipeline in two round trips:
 *
 *   1. BEGIN; SELECT the batch's event ids already in conveyor.inbox; SYNC
 *   2. every handler's statements and outbox rows, dead letters for bad
 *      input, one multi-row inbox insert, the offset compare-and-set for
 *      every partition in the batch, NOTIFY for the relay, COMMIT; SYNC
 *
 * Offsets live only in Postgres (I-1): on assignment we seek to the stored
 * offsets, and Kafka offset commits are off. The compare-and-set (I-3) is
 * conveyor.advance_offsets(), which raises SQLSTATE CV001 when a partition's
 * stored offset is not the one this consumer started from; the batch's
 * writes roll back with it and the consumer re-seeks to what is stored.
 *
 * No savepoints (I-2): when an event fails, the pipeline is rolled back and
 * re-run in pieces: the events before it in one transaction, the failing
 * event on its own (consume_fail.c), then the rest. The failing statement is
 * found by its tag: every statement a handler queues carries the index of its
 * event in the batch. A row set's statement (cv_sql_rows) carries the rows of
 * many events, and its tag names that span of events: a failing span is
 * narrowed down by bisection (bisect.h) - the events before the span, then the
 * first half of the span, each committed when it succeeds - until one event
 * fails alone and is treated like any failing event.
 *
 * Bad input (headers, framing, unknown schema, undecodable body, unrouted
 * type) becomes a dead-letter row in the same transaction; the partition
 * flows on. A stored offset below the log start offset (the broker deleted
 * events before they were processed) stops that partition with an error and
 * a row in conveyor.retention_gaps; it is never skipped silently.
 *
 * An event that fails on its own (its handler's cv_retry()/cv_fail(), its
 * own statement's error) goes to consumer_isolate(), where its route's retry
 * policy decides: dead-letter it (cv_fail(), or no attempts left), park it in
 * conveyor.retries with its offset advanced (deferred: consumer_run_parked()
 * re-runs it when due), or record the attempt and pause its partition at it
 * until due (blocking: it is fetched again). Attempt counts live in
 * conveyor.retries. A handler past its timeout is cut off by
 * cv_consumer_watchdog(), called from another thread.
 *
 * This file owns the consumer's lifecycle, its loop, and process(), which
 * takes a collected batch through its transactions and bisects it when
 * one fails. consume_int.h maps the files that do the rest.
 */
#include "consume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bisect.h"
#include "codec.h"
#include "control.h"
#include "kafka.h"
#include "log.h"
#include "stats.h"

#include "consume_int.h"
#include "observe.h"
#include "health.h"

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/*
 * Takes the collected batch through as few transactions as its failures
 * allow: all of it, else narrowed down (bisect.h) to the events before a
 * failure, which commit, and the failing event, which goes to
 * consumer_isolate(). A fence or Postgres trouble drops the batch and
 * seeks back to the stored offsets. The batch is gone when it returns.
 */
static void process(struct cv_consumer *c)
{
    struct cv_bisect range;
    /* an event that failed alone right after the events before it: it
     * waits for them to commit, then goes to consumer_isolate() (-1: none) */
    int known_bad = -1;
    struct cv_blame blame, known;

    for (size_t i = 0; i < c->nevents; i++) {
        struct batch_event *e = &c->events[i];
        e->bad = cv_ce_parse(e->hdrs, &e->ce, e->why, sizeof(e->why)) != CV_OK;
    }
    cv_bisect_init(&range, c->nevents);
    while (range.lo < c->nevents && !(atomic_load(c->stop) > 1)) {
        size_t lo = range.lo, handled = 0;
        enum cv_txn_result r;
        if ((int)lo == known_bad) {
            /* it failed on its own right after the events that just
             * committed: running it alone again would only repeat that */
            known_bad = -1;
            blame = known;
            r = CV_TXN_EVENT;
        } else {
            r = consumer_run_batch(c, lo, range.hi, &handled, &blame);
        }
        if (r == CV_TXN_OK) {
            consumer_count_committed(c, lo, range.hi, handled);
            cv_bisect_committed(&range);
            continue;
        }
        if (r == CV_TXN_EVENT) {
            size_t k = (size_t)blame.first;
            if (blame.first == blame.last)
                CV_LOG(CV_LOG_WARN, c->kv,
                       "event %s at %s [%d] offset %lld failed (%s); "
                       "isolating it",
                       c->events[k].ce.id, c->events[k].part->topic,
                       (int)c->events[k].partition,
                       (long long)c->events[k].offset, blame.reason);
            else
                CV_LOG(CV_LOG_WARN, c->kv,
                       "a row set of events %d..%d of the batch failed (%s); "
                       "narrowing it down",
                       blame.first, blame.last, blame.reason);
            if (!cv_bisect_failed(&range, k, (size_t)blame.last)) {
                if (blame.first == blame.last) {
                    known_bad = blame.first;
                    known = blame;
                }
                continue;
            }
            r = consumer_isolate(c, k, &blame);
            if (r == CV_TXN_OK) {
                cv_bisect_isolated(&range);
                continue;
            }
            if (r == CV_TXN_HELD) {
                /* the rest of that partition waits with it */
                struct partition *held = c->events[k].part;
                size_t keep = k;
                for (size_t j = k; j < c->nevents; j++) {
                    if (c->events[j].part == held)
                        consumer_event_free(&c->events[j]);
                    else
                        c->events[keep++] = c->events[j];
                }
                c->nevents = keep;
                cv_bisect_shrunk(&range, k, keep);
                continue;
            }
        }
        /* fenced, or Postgres trouble: what is stored is the truth */
        if (r == CV_TXN_FENCED)
            atomic_fetch_add(&cv_stats.fenced, 1);
        else
            atomic_fetch_add(&cv_stats.retried, 1);
        if (r == CV_TXN_TRANSIENT)
            sleep_ms(200);
        /* A revocation that came meanwhile is served by the next poll
         * (consumer_collect()), before anything is applied again: the events
         * go, and only partitions still assigned are fetched back. */
        consumer_drop_events(c, 0);
        consumer_reseek(c);
        return;
    }
    consumer_drop_events(c, 0);
}

/* ------------------------------------------------------------ lifecycle */

struct cv_consumer *cv_consumer_new(const struct cv_config *cfg,
                                    const struct cv_topology *topo,
                                    const struct cv_topo_domain *domain,
                                    const struct cv_catalogue *cat,
                                    int instance, char *errstr,
                                    size_t errstr_size)
{
    struct cv_consumer *c = cv_calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    rd_kafka_resp_err_t err;

    c->cfg = cfg;
    c->topo = topo;
    c->domain = domain;
    c->cat = cat;
    snprintf(c->name, sizeof(c->name), "conveyor/%s#%d", domain->name,
             instance);
    snprintf(c->kv, sizeof(c->kv), "domain=%s group=%s instance=%d",
             domain->name, domain->group_id, instance);
    c->dec = cv_decoder_new(cat);
    pthread_mutex_init(&c->watch_lock, NULL);
    pthread_mutex_init(&c->wake_lock, NULL);
    pthread_cond_init(&c->wake_cond, NULL);
    c->rng = (uint64_t)cv_wall_ms() * 2654435761u ^ (uint64_t)getpid() << 20 ^
             (uint64_t)instance;
    if (!c->rng)
        c->rng = 1;
    for (size_t i = 0; i < domain->nroutes; i++)
        c->has_deferred |= domain->routes[i].retry.mode == CV_RETRY_DEFERRED;
    {
        char member[160], host[64] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(member, sizeof(member), "%s:%d/%s", host, (int)getpid(),
                 c->name + strlen("conveyor/"));
        c->control = cv_control_new(domain, member);
    }

    conf = cv_kafka_consumer_conf_new(cfg, domain->group_id, NULL, errstr,
                                      errstr_size);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!c->rk)
        goto fail;
    conf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);

    topics = rd_kafka_topic_partition_list_new((int)domain->ntopics);
    for (size_t i = 0; i < domain->ntopics; i++)
        rd_kafka_topic_partition_list_add(topics, domain->topics[i],
                                          RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        cv_err(errstr, errstr_size, "subscribing: %s", rd_kafka_err2str(err));
        goto fail;
    }
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    cv_consumer_destroy(c);
    return NULL;
}

int cv_consumer_run(struct cv_consumer *c, atomic_int *stop)
{
    c->stop = stop;
    if (consumer_pg_connect(c) != CV_OK)
        return CV_OK; /* stopped before Postgres came up */
    if (pthread_create(&c->waker, NULL, consumer_waker_main, c) == 0)
        c->waker_started = 1;
    CV_LOG(CV_LOG_INFO, c->kv, "consumer started");
    cv_observe_consumer_add(c->rk, c->domain->group_id);
    consumer_ack(c, 0);
    while (!atomic_load(stop)) {
        int64_t t0, t1;
        cv_health_beat(c, "consumer", c->name, 0);
        consumer_wait_expire(c);
        if (c->pg)
            consumer_apply_controls(c);
        if (!c->pg)
            continue; /* stopping before Postgres came back */
        consumer_retry_release(c);
        consumer_run_parked(c);
        t0 = cv_mono_us();
        consumer_collect(c);
        t1 = cv_mono_us();
        if (c->nevents) {
            size_t n = c->nevents;
            process(c);
            CV_LOG(CV_LOG_DEBUG, c->kv,
                   "batch of %zu: collect %lld us, "
                   "apply %lld us",
                   n, (long long)(t1 - t0), (long long)(cv_mono_us() - t1));
        }
    }
    consumer_drop_events(c, 0);
    if (c->pg)
        cv_control_forget(c->control, c->pg);
    if (c->waker_started) {
        pthread_mutex_lock(&c->wake_lock);
        c->wake_stop = 1;
        pthread_cond_signal(&c->wake_cond);
        pthread_mutex_unlock(&c->wake_lock);
        pthread_join(c->waker, NULL);
        c->waker_started = 0;
    }
    CV_LOG(CV_LOG_INFO, c->kv, "leaving the group");
    cv_observe_consumer_remove(c->rk);
    rd_kafka_consumer_close(c->rk);
    return CV_OK;
}

void cv_consumer_destroy(struct cv_consumer *c)
{
    if (!c)
        return;
    consumer_drop_events(c, 0);
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    if (c->rk)
        rd_kafka_destroy(c->rk);
    cv_pg_destroy(c->pg);
    cv_control_destroy(c->control);
    cv_decoder_destroy(c->dec);
    for (size_t i = 0; i < c->nparts; i++) {
        free(c->parts[i]->topic);
        free(c->parts[i]);
    }
    free(c->parts);
    free(c->events);
    free(c->idx);
    pthread_mutex_destroy(&c->watch_lock);
    pthread_mutex_destroy(&c->wake_lock);
    pthread_cond_destroy(&c->wake_cond);
    free(c);
}
