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
 * event on its own (below), then the rest. The failing statement is found by
 * its tag: every statement a handler queues carries the index of its event in
 * the batch. A row set's statement (cv_sql_rows) carries the rows of many
 * events, and its tag names that span of events: a failing span is narrowed
 * down by bisection (bisect.h) - the events before the span,
 * then the first half of the span, each committed when it succeeds - until one
 * event fails alone and is treated like any failing event.
 *
 * Bad input (headers, framing, unknown schema, undecodable body, unrouted
 * type) becomes a dead-letter row in the same transaction; the partition
 * flows on. A stored offset below the log start offset (the broker deleted
 * events before they were processed) stops that partition with an error and
 * a row in conveyor.retention_gaps; it is never skipped silently.
 *
 * An event that fails on its own (its handler's cv_retry()/cv_fail(), its
 * own statement's error) goes to isolate(), where its route's retry policy
 * decides: dead-letter it (cv_fail(), or no attempts left), park it in
 * conveyor.retries with its offset advanced (deferred: run_parked() re-runs
 * it when due), or record the attempt and pause its partition at it until
 * due (blocking: it is fetched again). Attempt counts live in
 * conveyor.retries. A handler past its timeout is cut off by
 * cv_consumer_watchdog(), called from another thread.
 */
#include "consume.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
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
#include "pg.h"
#include "stats.h"
#include "store.h"
#include "txn.h"

#define CV_WAKE_MAX      16  /* leaders wake_fetchers() asks at most */
#define CV_RETRY_POLL_MS 250 /* how often due parked retries are read */
#define CV_HOLDERS_MAX   3   /* open transactions named after a lock wait */

struct partition {
    char *topic;
    int32_t partition;
    int64_t next; /* stored next_offset: everything below is committed */
    int64_t seen; /* next offset expected from the fetcher in this batch */
    int assigned;
    int stopped; /* retention gap: not consumed until an operator acts */
    int held;    /* stopped at an event of a paused route (kill switch) */
    int64_t batch_expected, batch_next; /* scratch for the CAS */
    int in_batch;
    int32_t leader; /* broker id, -1 if unknown (wake_fetchers) */
    /* a blocking retry waits at this offset (conveyor.retries, not parked) */
    int64_t retry_offset; /* -1: none */
    int retry_attempts;   /* failed attempts so far */
    int64_t retry_due_ms; /* wall clock: when to run it again */
    int retry_held;       /* paused until retry_due_ms */
    char retry_error[256];
};

/* One event of the batch: a Kafka message, or a parked retry read back
 * from conveyor.retries (msg NULL: the event owns its buffers). */
struct batch_event {
    rd_kafka_message_t *msg;
    struct partition *part;
    const void *key, *value;
    size_t key_len, len;
    int32_t partition;
    int64_t offset;
    rd_kafka_headers_t *hdrs; /* msg's, or owned by a parked retry */
    int attempts;             /* failed attempts before this delivery */
    int64_t retry_id;         /* the parked retry's row, else 0 */
    char last_error[256];     /* of the last failed attempt */
    struct cv_ce ce;
    int bad; /* the headers did not parse */
    int dup; /* already in the inbox (found by the dedupe query) */
    char why[256];
};

struct cv_consumer {
    const struct cv_config *cfg;
    const struct cv_topology *topo;
    const struct cv_topo_domain *domain;
    const struct cv_catalogue *cat;
    char name[96];
    char kv[160]; /* log context */
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* the consumer queue, for its length */
    struct cv_pg *pg;
    struct cv_decoder *dec;
    atomic_int *stop;

    struct partition **parts;
    size_t nparts, parts_cap;
    struct partition *last_part;

    struct batch_event *events;
    size_t nevents, events_cap;
    int revoked; /* a revoke happened during the poll */

    /* event id -> index of its first event, for the current transaction */
    int *idx;
    size_t idx_cap;

    struct cv_control *control; /* the kill switch (control.h) */
    int paused;                 /* the domain is paused: partitions too */
    int64_t next_ack;           /* monotonic ms: refresh the paused state */

    /* wake_fetchers() hands its requests to the waker thread */
    pthread_t waker;
    int waker_started;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond;
    int wake_stop;
    size_t wake_n;
    const char *wake_topic[CV_WAKE_MAX];
    int32_t wake_part[CV_WAKE_MAX];

    char trouble[256];   /* what keeps it from working, for status */
    char pg_wait[512];   /* for status: batches rolled back after a wait */
    char wait_since[32]; /* RFC 3339: the first of a run of such waits */
    int wait_count;      /* batches rolled back since wait_since */
    int trouble_seq, trouble_acked;
    int64_t next_probe;      /* monotonic ms: probe_broker() */
    int has_deferred;        /* a route of the domain retries deferred */
    int64_t next_retry_poll; /* monotonic ms: look for due parked retries */
    uint64_t rng;            /* jitter */

    /* the handler running now, for the watchdog (cv_consumer_watchdog) */
    pthread_mutex_t watch_lock;
    int64_t watch_deadline; /* monotonic ms, 0 = no handler running */
    int watch_timeout_ms;
    /* its event; stays put while it runs */
    const struct batch_event *watch_event;
};

/* ---------------------------------------------------------------- parts */

static struct partition *part_find(struct cv_consumer *c, const char *topic,
                                   int32_t partition, int create)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i]->partition == partition &&
            strcmp(c->parts[i]->topic, topic) == 0)
            return c->parts[i];
    if (!create)
        return NULL;
    if (c->nparts == c->parts_cap) {
        c->parts_cap = c->parts_cap ? c->parts_cap * 2 : 64;
        c->parts = cv_realloc(c->parts, c->parts_cap * sizeof(*c->parts));
    }
    struct partition *p = cv_calloc(1, sizeof(*p));
    p->retry_offset = -1;
    p->topic = cv_strdup(topic);
    p->partition = partition;
    p->next = -1;
    p->leader = -1;
    c->parts[c->nparts++] = p;
    return p;
}

/* The hot path looks a message's partition up per event: remember the last
 * hit, since a poll returns runs of one partition. */
static struct partition *part_of(struct cv_consumer *c,
                                 const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    struct partition *last = c->last_part; /* parts live as long as c */
    if (last && last->partition == msg->partition &&
        strcmp(last->topic, topic) == 0)
        return last;
    c->last_part = part_find(c, topic, msg->partition, 0);
    return c->last_part;
}

/* ------------------------------------------------------------ postgres */

static int pg_connect(struct cv_consumer *c)
{
    c->pg = cv_store_connect(c->cfg, c->name, c->kv, c->stop);
    return c->pg ? CV_OK : CV_ERR;
}

static void pg_reset(struct cv_consumer *c)
{
    cv_pg_destroy(c->pg);
    c->pg = NULL;
    pg_connect(c);
}

static void gap_found(struct cv_consumer *c, struct partition *p, int64_t low)
{
    struct cv_pg_error err;

    p->stopped = 1;
    CV_LOG(CV_LOG_ERROR, c->kv,
           "retention gap: the broker deleted offsets %lld..%lld of %s [%d] "
           "before they were processed; partition stopped (see conveyor "
           "status)",
           (long long)p->next, (long long)low - 1, p->topic, (int)p->partition);
    if (cv_store_gap_insert(c->pg, c->domain->group_id, p->topic, p->partition,
                            p->next, low, &err) != CV_OK)
        CV_LOG(CV_LOG_ERROR, c->kv, "recording the retention gap: %s",
               err.message);
}

/* Reads the stored offsets of the group into the partition table. */
static void offset_loaded(void *opaque, const char *topic, int32_t partition,
                          int64_t next_offset)
{
    struct partition *p = part_find(opaque, topic, partition, 0);
    if (p)
        p->next = next_offset;
}

static void head_retry_loaded(void *opaque, const struct cv_store_head_retry *r)
{
    struct partition *p = part_find(opaque, r->topic, r->partition, 0);
    if (!p || r->offset < p->next)
        return; /* another consumer's, or behind us */
    p->retry_offset = r->offset;
    p->retry_attempts = r->attempts;
    p->retry_due_ms = r->due_ms;
    snprintf(p->retry_error, sizeof(p->retry_error), "%s", r->last_error);
}

static int load_offsets(struct cv_consumer *c, struct cv_pg_error *err)
{
    if (cv_store_offsets_load(c->pg, c->domain->group_id, offset_loaded, c,
                              err) != CV_OK)
        return CV_ERR;
    /* blocking retries waiting at the head of a partition */
    for (size_t i = 0; i < c->nparts; i++)
        c->parts[i]->retry_offset = -1;
    return cv_store_head_retries_load(c->pg, c->domain->group_id,
                                      head_retry_loaded, c, err);
}

/*
 * For every assigned partition: make sure a stored offset exists (the
 * domain's reset policy decides where a new group starts) and check it
 * against the log start offset.
 */
static int prepare_assignment(struct cv_consumer *c,
                              rd_kafka_topic_partition_list_t *list)
{
    struct cv_pg_error err;
    char errstr[256];

    for (int i = 0; i < list->cnt; i++) {
        struct partition *p =
            part_find(c, list->elems[i].topic, list->elems[i].partition, 1);
        p->next = -1;
        p->stopped = 0;
        p->held = p->retry_held = 0;
    }
    if (load_offsets(c, &err) != CV_OK)
        goto pg_fail;
    for (int i = 0; i < list->cnt; i++) {
        struct partition *p =
            part_find(c, list->elems[i].topic, list->elems[i].partition, 0);
        int64_t low = 0, high = 0;
        if (cv_kafka_watermarks(c->rk, p->topic, p->partition, &low, &high,
                                10000, errstr, sizeof(errstr)) != CV_OK) {
            CV_LOG(CV_LOG_WARN, c->kv, "watermarks of %s [%d]: %s", p->topic,
                   (int)p->partition, errstr);
            return CV_ERR;
        }
        if (p->next < 0) {
            if (cv_store_offsets_init(
                    c->pg, c->domain->group_id, p->topic, p->partition,
                    c->domain->reset_earliest ? low : high, &err) != CV_OK)
                goto pg_fail;
            if (load_offsets(c, &err) != CV_OK)
                goto pg_fail;
        }
        if (p->next < low)
            gap_found(c, p, low);
        list->elems[i].offset = p->next;
        p->seen = p->next;
    }
    return CV_OK;
pg_fail:
    CV_LOG(CV_LOG_WARN, c->kv, "loading stored offsets: %s", err.message);
    if (!cv_pg_ok(c->pg))
        pg_reset(c);
    return CV_ERR;
}

/* -------------------------------------------------------------- kafka */

static void event_from_msg(struct batch_event *e, rd_kafka_message_t *msg,
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

static void event_free(struct batch_event *e)
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

static void drop_events(struct cv_consumer *c, size_t from)
{
    for (size_t i = from; i < c->nevents; i++)
        event_free(&c->events[i]);
    c->nevents = from;
}

/*
 * Wakes librdkafka's fetchers before the queue runs dry. librdkafka before
 * 2.3 stops fetching a partition once the consumer queue holds
 * queued.min.messages, and the broker thread then sleeps up to a second
 * unless something wakes it (confluentinc/librdkafka#2879; 2.3 added
 * fetch.queue.backoff.ms). The queue kafka.c allows under the RSS target
 * lasts about half a second at the speed row sets give, so the consumer
 * starved a third of the time. Any request to a broker wakes its thread,
 * which then finds the queue below the mark and fetches: when less than two
 * batches are queued, ask each leader of our partitions for one partition's
 * watermarks (a small request; the answer is not needed). From 2.3 on the
 * backoff is a deadline the fetcher keeps whatever wakes it, so this is
 * skipped there: lower fetch.queue.backoff.ms instead (kafka.c).
 */
static void wake_fetchers(struct cv_consumer *c)
{
    int32_t woken[CV_WAKE_MAX];
    size_t nwoken = 0;

    if (rd_kafka_version() >= 0x02030000 ||
        rd_kafka_queue_length(c->queue) >= 2 * (size_t)c->domain->batch_size)
        return;
    pthread_mutex_lock(&c->wake_lock);
    if (c->wake_n) { /* the last round is still under way */
        pthread_mutex_unlock(&c->wake_lock);
        return;
    }
    for (size_t i = 0; i < c->nparts && nwoken < CV_WAKE_MAX; i++) {
        struct partition *p = c->parts[i];
        size_t k = 0;

        if (!p->assigned || p->stopped)
            continue;
        while (k < nwoken && woken[k] != p->leader)
            k++;
        if (k < nwoken)
            continue;
        woken[nwoken++] = p->leader;
        c->wake_topic[c->wake_n] = p->topic; /* lives as long as c */
        c->wake_part[c->wake_n++] = p->partition;
    }
    pthread_cond_signal(&c->wake_cond);
    pthread_mutex_unlock(&c->wake_lock);
}

/*
 * The waker thread sends wake_fetchers()' requests: a watermark query
 * waits for its answer, for as long as the request timeout when a broker
 * has gone away, and the consumer thread must not.
 */
static void *waker_main(void *arg)
{
    struct cv_consumer *c = arg;

    pthread_mutex_lock(&c->wake_lock);
    while (!c->wake_stop) {
        if (!c->wake_n) {
            pthread_cond_wait(&c->wake_cond, &c->wake_lock);
            continue;
        }
        for (size_t i = 0; i < c->wake_n && !c->wake_stop; i++) {
            const char *topic = c->wake_topic[i];
            int32_t partition = c->wake_part[i];
            int64_t low, high;
            pthread_mutex_unlock(&c->wake_lock);
            rd_kafka_query_watermark_offsets(c->rk, topic, partition, &low,
                                             &high, 200);
            pthread_mutex_lock(&c->wake_lock);
        }
        c->wake_n = 0;
    }
    pthread_mutex_unlock(&c->wake_lock);
    return NULL;
}

static void set_trouble(struct cv_consumer *c, const char *what)
{
    char when[32];

    if (!what) {
        if (c->trouble[0]) {
            CV_LOG(CV_LOG_INFO, c->kv, "kafka: reachable again");
            c->trouble[0] = '\0';
            c->trouble_seq++;
        }
        return;
    }
    if (c->trouble[0])
        return; /* keep the first cause and its time */
    cv_rfc3339_format(cv_wall_ms(), when);
    snprintf(c->trouble, sizeof(c->trouble), "kafka: %.180s (since %s)", what,
             when);
    c->trouble_seq++;
}

/*
 * With nothing queued, asks the brokers for metadata every 2 s (bounded by
 * a timeout, unlike a watermark query, which waits for the request's own
 * timeout when the leader is gone): librdkafka reconnects by itself and
 * tells a consumer little while the brokers are down, but `status` should
 * say so (consumer_state).
 */
static void probe_broker(struct cv_consumer *c)
{
    int64_t now = cv_mono_ms();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;

    if (now < c->next_probe || rd_kafka_queue_length(c->queue) > 0)
        return;
    c->next_probe = now + 2000;
    err = rd_kafka_metadata(c->rk, 0, NULL, &md, 500);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (err) {
        char what[200];
        snprintf(what, sizeof(what), "no answer from the brokers: %s",
                 rd_kafka_err2str(err));
        set_trouble(c, what);
    } else {
        set_trouble(c, NULL);
    }
}

/* Remembers each assigned partition's leader broker (wake_fetchers). */
static void learn_leaders(struct cv_consumer *c)
{
    const struct rd_kafka_metadata *md = NULL;

    for (size_t i = 0; i < c->nparts; i++)
        c->parts[i]->leader = -1;
    if (rd_kafka_metadata(c->rk, 1, NULL, &md, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return; /* every partition counts as one leader: still wakes one */
    for (int t = 0; t < md->topic_cnt; t++)
        for (int k = 0; k < md->topics[t].partition_cnt; k++) {
            struct partition *p = part_find(c, md->topics[t].topic,
                                            md->topics[t].partitions[k].id, 0);
            if (p)
                p->leader = md->topics[t].partitions[k].leader;
        }
    rd_kafka_metadata_destroy(md);
}

/* Client errors, served by rd_kafka_consumer_poll() in the consumer's
 * thread: a lost connection is the first sign of a broker outage. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct cv_consumer *c = opaque;

    cv_kafka_log_error(rk, err, reason);
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT ||
        err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
        err == RD_KAFKA_RESP_ERR__RESOLVE)
        set_trouble(c, reason);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *list, void *opaque)
{
    struct cv_consumer *c = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int64_t backoff = 200;
        while (prepare_assignment(c, list) != CV_OK) {
            if (atomic_load(c->stop))
                return;
            struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000};
            nanosleep(&ts, NULL);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        for (int i = 0; i < list->cnt; i++)
            part_find(c, list->elems[i].topic, list->elems[i].partition, 0)
                ->assigned = 1;
        rd_kafka_assign(rk, list);
        learn_leaders(c);
        for (int i = 0; i < list->cnt; i++) {
            struct partition *p =
                part_find(c, list->elems[i].topic, list->elems[i].partition, 0);
            if (p->stopped || c->paused) {
                rd_kafka_topic_partition_list_t *one =
                    rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
                rd_kafka_pause_partitions(rk, one);
                rd_kafka_topic_partition_list_destroy(one);
            }
        }
        int_fast64_t zero = 0;
        atomic_compare_exchange_strong(&cv_stats.assigned_ms, &zero,
                                       cv_wall_ms());
        CV_LOG(CV_LOG_INFO, c->kv, "assigned %d partitions", list->cnt);
    } else {
        for (int i = 0; i < list->cnt; i++) {
            struct partition *p =
                part_find(c, list->elems[i].topic, list->elems[i].partition, 0);
            if (p)
                p->assigned = 0;
        }
        c->revoked = 1;
        rd_kafka_assign(rk, NULL);
        CV_LOG(CV_LOG_INFO, c->kv, "revoked %d partitions", list->cnt);
    }
}

/* Re-reads the stored offsets and seeks every assigned partition to them:
 * after a fence or a rolled-back batch, Postgres is the truth. The caller
 * holds no events (they would be fetched again). */
static void reseek(struct cv_consumer *c)
{
    struct cv_pg_error err;
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_error_t *error;

    while (!atomic_load(c->stop)) {
        if (!c->pg && pg_connect(c) != CV_OK)
            return;
        if (load_offsets(c, &err) == CV_OK)
            break;
        CV_LOG(CV_LOG_WARN, c->kv, "re-reading stored offsets: %s",
               err.message);
        pg_reset(c);
    }
    list = rd_kafka_topic_partition_list_new((int)c->nparts);
    for (size_t i = 0; i < c->nparts; i++) {
        struct partition *p = c->parts[i];
        if (!p->assigned || p->stopped || p->next < 0)
            continue;
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)
            ->offset = p->next;
        p->seen = p->next;
    }
    if (list->cnt) {
        error = rd_kafka_seek_partitions(c->rk, list, 10000);
        if (error) {
            CV_LOG(CV_LOG_WARN, c->kv, "seek: %s",
                   rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

static void consumer_error(struct cv_consumer *c, rd_kafka_message_t *msg)
{
    if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && msg->rkt) {
        struct partition *p = part_of(c, msg);
        int64_t low = 0, high = 0;
        char errstr[256];
        if (p && !p->stopped &&
            cv_kafka_watermarks(c->rk, p->topic, p->partition, &low, &high,
                                10000, errstr, sizeof(errstr)) == CV_OK &&
            p->next < low) {
            gap_found(c, p, low);
            return;
        }
    }
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    CV_LOG(CV_LOG_WARN, c->kv, "kafka: %s", rd_kafka_message_errstr(msg));
    set_trouble(c, rd_kafka_message_errstr(msg));
}

/* ------------------------------------------------------- kill switch */

/* Pauses (on = 1) or resumes every assigned, consumable partition. */
static void pause_assigned(struct cv_consumer *c, int on, int held_only)
{
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)c->nparts + 1);

    for (size_t i = 0; i < c->nparts; i++) {
        struct partition *p = c->parts[i];
        if (!p->assigned || p->stopped || (held_only && !p->held))
            continue;
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition);
        if (!on)
            p->held = 0;
    }
    if (list->cnt) {
        if (on)
            rd_kafka_pause_partitions(c->rk, list);
        else
            rd_kafka_resume_partitions(c->rk, list);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* The message's event type is routed in this domain and paused. */
static int route_paused(struct cv_consumer *c, const rd_kafka_message_t *msg)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t size = 0;
    char type[CV_CE_TYPE_MAX];

    if (!cv_control_any_route_paused(c->control) ||
        rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, "ce_type", &val, &size) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        !val || size >= sizeof(type))
        return 0;
    memcpy(type, val, size);
    type[size] = '\0';
    return cv_control_route_paused(c->control, type);
}

/*
 * Stops a partition at an event of a paused route: the events before it
 * (already collected) commit, the partition is paused, and on resume it
 * is sought back to its stored offset, which is this event.
 */
static void hold(struct cv_consumer *c, struct partition *p, int64_t offset)
{
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);

    p->held = 1;
    rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
    rd_kafka_pause_partitions(c->rk, one);
    rd_kafka_topic_partition_list_destroy(one);
    CV_LOG(CV_LOG_WARN, c->kv, "%s [%d] held at offset %lld: %s", p->topic,
           (int)p->partition, (long long)offset, cv_control_reason(c->control));
}

/* Pauses a partition whose head event waits for its blocking retry. */
static void retry_hold(struct cv_consumer *c, struct partition *p)
{
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);

    p->held = p->retry_held = 1;
    rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
    rd_kafka_pause_partitions(c->rk, one);
    rd_kafka_topic_partition_list_destroy(one);
    CV_LOG(CV_LOG_INFO, c->kv,
           "%s [%d] waits at offset %lld for attempt %d in %lld ms", p->topic,
           (int)p->partition, (long long)p->retry_offset, p->retry_attempts + 1,
           (long long)(p->retry_due_ms - cv_wall_ms()));
}

/* Resumes the partitions whose blocking retry is due, at the stored
 * offset: the failed event is fetched again. */
static void retry_release(struct cv_consumer *c)
{
    int64_t now = cv_wall_ms();

    if (c->paused)
        return;
    for (size_t i = 0; i < c->nparts; i++) {
        struct partition *p = c->parts[i];
        rd_kafka_topic_partition_list_t *one;
        rd_kafka_error_t *error;

        if (!p->retry_held || now < p->retry_due_ms)
            continue;
        p->held = p->retry_held = 0;
        if (!p->assigned || p->stopped)
            continue;
        one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, p->topic, p->partition)->offset =
            p->next;
        rd_kafka_resume_partitions(c->rk, one);
        error = rd_kafka_seek_partitions(c->rk, one, 10000);
        if (error) {
            CV_LOG(CV_LOG_WARN, c->kv, "seek: %s",
                   rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
        rd_kafka_topic_partition_list_destroy(one);
        p->seen = p->next;
    }
}

static void ack(struct cv_consumer *c, int paused)
{
    c->next_ack = cv_mono_ms() + 10000;
    c->trouble_acked = c->trouble_seq;
    if (cv_control_ack(c->control, c->pg, paused,
                       c->trouble[0] ? c->trouble : c->pg_wait) != CV_OK)
        CV_LOG(CV_LOG_WARN, c->kv, "recording the consumer state failed");
}

/*
 * Between batches (nothing collected, nothing uncommitted): applies the
 * kill switch. Pausing happens after the last batch committed, so once the
 * 'paused' state is written nothing more commits until resume; resuming
 * seeks back to the stored offsets, exactly where consumption stopped.
 */
static void apply_controls(struct cv_consumer *c)
{
    int changed = cv_control_refresh(c->control, c->pg, cv_mono_ms());
    int want;
    int any_held = 0;

    if (changed < 0) {
        CV_LOG(CV_LOG_WARN, c->kv,
               "reading the kill switch failed; "
               "reconnecting");
        pg_reset(c);
        return;
    }
    if (cv_control_take_reseek(c->control) && !c->paused) {
        reseek(c);
        CV_LOG(CV_LOG_WARN, c->kv,
               "stored offsets rewound by a replay: "
               "re-seeking");
    }
    want = cv_control_domain_paused(c->control);
    if (want && !c->paused) {
        pause_assigned(c, 1, 0);
        c->paused = 1;
        ack(c, 1);
        CV_LOG(CV_LOG_WARN, c->kv, "paused (%s)",
               cv_control_reason(c->control));
    } else if (!want && c->paused) {
        pause_assigned(c, 0, 0);
        c->paused = 0;
        reseek(c);
        ack(c, 0);
        CV_LOG(CV_LOG_INFO, c->kv, "resumed");
    } else if (changed || cv_mono_ms() >= c->next_ack ||
               c->trouble_acked != c->trouble_seq) {
        ack(c, c->paused); /* what to say changed, or the heartbeat */
    }
    for (size_t i = 0; i < c->nparts; i++)
        any_held |= c->parts[i]->held;
    if (changed && any_held && !c->paused) {
        /* a route switch changed: release every hold; a partition whose
         * next event is still paused is held again when it is fetched */
        pause_assigned(c, 0, 1);
        reseek(c);
        CV_LOG(CV_LOG_INFO, c->kv, "route switches changed: holds released");
    }
}

/* Polls up to batch_size events, waiting at most batch_wait_ms after the
 * first one. */
static void collect(struct cv_consumer *c)
{
    int64_t deadline = 0, idle_until = cv_mono_ms() + CV_CONTROL_POLL_MS / 4;
    size_t max = (size_t)c->domain->batch_size;

    probe_broker(c);
    wake_fetchers(c);

    for (size_t i = 0; i < c->nparts; i++) {
        struct partition *p = c->parts[i];
        p->seen = p->next;
        if (p->retry_held) {
            /* a blocking retry falls due: return in time to release it */
            int64_t due = cv_mono_ms() + (p->retry_due_ms - cv_wall_ms());
            if (due < idle_until)
                idle_until = due;
        }
    }
    while (c->nevents < max && !atomic_load(c->stop)) {
        int timeout = 100;
        if (c->nevents) {
            int64_t left = deadline - cv_mono_ms();
            if (left <= 0)
                break;
            timeout = (int)left;
        }
        /* idle: return now and then, so the kill switch is looked at */
        if (!c->nevents && cv_mono_ms() >= idle_until)
            break;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout);
        if (c->revoked) {
            /* keep only what we still own */
            size_t keep = 0;
            for (size_t i = 0; i < c->nevents; i++) {
                if (c->events[i].part->assigned)
                    c->events[keep++] = c->events[i];
                else
                    event_free(&c->events[i]);
            }
            c->nevents = keep;
            c->revoked = 0;
        }
        if (!msg)
            continue;
        if (!msg->err)
            set_trouble(c, NULL);
        if (msg->err) {
            consumer_error(c, msg);
            rd_kafka_message_destroy(msg);
            continue;
        }
        struct partition *p = part_of(c, msg);
        if (!p || !p->assigned || p->stopped || p->held ||
            msg->offset < p->seen) {
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (route_paused(c, msg)) {
            hold(c, p, msg->offset);
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (p->retry_offset == msg->offset && cv_wall_ms() < p->retry_due_ms) {
            retry_hold(c, p);
            rd_kafka_message_destroy(msg);
            continue;
        }
        p->seen = msg->offset + 1;
        if (c->nevents == c->events_cap) {
            c->events_cap = c->events_cap ? c->events_cap * 2 : max;
            c->events =
                cv_realloc(c->events, c->events_cap * sizeof(*c->events));
        }
        event_from_msg(&c->events[c->nevents++], msg, p);
        if (c->nevents == 1)
            deadline = cv_mono_ms() + c->domain->batch_wait_ms;
    }
}

/* -------------------------------------------------------- transactions */

static const struct cv_retry_policy *policy_of(struct cv_consumer *c,
                                               const struct batch_event *e)
{
    const struct cv_topo_route *route =
        e->bad ? NULL : cv_topology_route(c->domain, e->ce.type);
    return route ? &route->retry : &c->domain->retry;
}

/* Tells the watchdog which handler runs now, and until when. */
static void watch_begin(struct cv_consumer *c, const struct batch_event *e,
                        const struct cv_retry_policy *pol, struct cv_event *ev)
{

    ev->deadline_ms = pol->timeout_ms ? cv_mono_ms() + pol->timeout_ms : 0;
    if (!ev->deadline_ms)
        return;
    pthread_mutex_lock(&c->watch_lock);
    c->watch_deadline = ev->deadline_ms;
    c->watch_timeout_ms = pol->timeout_ms;
    c->watch_event = e;
    pthread_mutex_unlock(&c->watch_lock);
}

static void watch_end(struct cv_consumer *c, const struct cv_event *ev)
{
    if (!ev->deadline_ms)
        return;
    pthread_mutex_lock(&c->watch_lock);
    c->watch_deadline = 0;
    pthread_mutex_unlock(&c->watch_lock);
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

/* The event e as conveyor.retries and dead_letters keep it. */
static void store_event_of(const struct batch_event *e,
                           struct cv_store_event *se)
{
    se->topic = e->part->topic;
    se->partition = e->partition;
    se->offset = e->offset;
    se->key = e->key;
    se->key_len = e->key_len;
    se->value = e->value;
    se->len = e->len;
    se->hdrs = e->hdrs;
    se->event_id = e->ce.id;
    se->event_type = e->ce.type;
}

/* Queues the dead letter of event i, with the pipeline tag of event i. */
static int dead_letter(struct cv_consumer *c, size_t i, const char *reason,
                       int attempts)
{
    const struct batch_event *e = &c->events[i];
    struct cv_store_event se;
    int rc;

    store_event_of(e, &se);
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
static int record_retry(struct cv_consumer *c, size_t i, int tag, int parked,
                        int attempts, int64_t delay_ms, const char *reason)
{
    struct cv_store_event se;

    store_event_of(&c->events[i], &se);
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

/* A batch committed: whatever it waited on is over. */
static void wait_over(struct cv_consumer *c)
{
    if (!c->wait_count)
        return;
    CV_LOG(CV_LOG_INFO, c->kv,
           "postgres: a batch committed again after %d rolled back on a "
           "wait since %s",
           c->wait_count, c->wait_since);
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

    if (!c->pg && pg_connect(c) != CV_OK)
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
    if (rc == CV_OK)
        rc = send_commit(c, lo, hi, inbox, ctx, applied);
    if (rc != CV_OK || cv_pg_pipe_sync(c->pg, NULL, NULL, &err) != CV_OK) {
        if (rc != CV_OK)
            cv_pg_conn_error(c->pg, &err, CV_TAG_ENGINE);
        batch_done(c, 0);
        return classify(c, ctx, &err, lo, hi, out);
    }
    batch_done(c, 1);
    wait_over(c);
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
        ctx->broken |= dead_letter(c, i, e->why, 1) != CV_OK;
        return CV_TXN_OK;
    }
    if (e->dup || first_with_id(c, e->ce.id) != (int)i) {
        e->dup = 1;
        return CV_TXN_OK;
    }
    route = cv_topology_route(c->domain, e->ce.type);
    if (!route || !route->fn) {
        snprintf(why, sizeof(why), "unrouted event type '%s' for domain %s",
                 e->ce.type, c->domain->name);
        ctx->broken |= dead_letter(c, i, why, 1) != CV_OK;
        return CV_TXN_OK;
    }
    if (cv_decoder_decode(c->dec, e->value, e->len, &schema, &value, why,
                          sizeof(why)) != CV_OK) {
        ctx->broken |= dead_letter(c, i, why, 1) != CV_OK;
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
    ctx->reason[0] = '\0';
    watch_begin(c, e, &route->retry, &ev); /* route known: no lookup */
    hr = route->fn(ctx, &ev);
    watch_end(c, &ev);
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
static enum cv_txn_result run_batch(struct cv_consumer *c, size_t lo, size_t hi,
                                    size_t *handled, struct cv_blame *out)
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
static enum cv_txn_result txn_one(struct cv_consumer *c, size_t i,
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

static void count_committed(struct cv_consumer *c, size_t lo, size_t hi,
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

/* ------------------------------------------------------- failed events */

/* What a failed attempt records. */
struct attempt {
    const char *reason;
    int attempts;     /* failed so far, this one included */
    int64_t delay_ms; /* until the next one (parking) */
};

static int send_dead_letter(struct cv_consumer *c, size_t i, const void *arg)
{
    const struct attempt *a = arg;
    return dead_letter(c, i, a->reason, a->attempts);
}

static int send_park(struct cv_consumer *c, size_t i, const void *arg)
{
    const struct attempt *a = arg;
    return record_retry(c, i, (int)i, 1, a->attempts, a->delay_ms, a->reason);
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

    if (!c->pg && pg_connect(c) != CV_OK)
        return CV_TXN_TRANSIENT;
    cv_pg_pipe_begin(c->pg);
    rc = record_retry(c, i, CV_TAG_ENGINE, 0, a->attempts, a->delay_ms,
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
static enum cv_txn_result isolate(struct cv_consumer *c, size_t i,
                                  const struct cv_blame *why)
{
    struct batch_event *e = &c->events[i];
    const struct cv_retry_policy *pol = policy_of(c, e);
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
            r = txn_one(c, i, send_park, &a, &blame);
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
        p->retry_offset = e->offset;
        p->retry_attempts = a.attempts;
        p->retry_due_ms = cv_wall_ms() + a.delay_ms;
        snprintf(p->retry_error, sizeof(p->retry_error), "%.255s", a.reason);
        CV_LOG(CV_LOG_WARN, c->kv, "attempt %d of %d of event %s failed (%s)",
               a.attempts, pol->max_attempts, e->ce.id, a.reason);
        retry_hold(c, p);
        return CV_TXN_HELD;
    }
    r = txn_one(c, i, send_dead_letter, &a, &blame);
    if (r == CV_TXN_OK)
        count_committed(c, i, i + 1, 0);
    return r;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void process(struct cv_consumer *c)
{
    struct cv_bisect range;
    /* an event that failed alone right after the events before it: it
     * waits for them to commit, then goes to isolate() (-1: none) */
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
            r = run_batch(c, lo, range.hi, &handled, &blame);
        }
        if (r == CV_TXN_OK) {
            count_committed(c, lo, range.hi, handled);
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
            r = isolate(c, k, &blame);
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
                        event_free(&c->events[j]);
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
         * (collect()), before anything is applied again: the events go,
         * and only partitions still assigned are fetched back. */
        drop_events(c, 0);
        reseek(c);
        return;
    }
    drop_events(c, 0);
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
    e->part = part_find(c, row->topic, row->partition, 1);
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
    r = run_batch(c, 0, 1, &handled, &blame);
    if (r == CV_TXN_OK) {
        count_committed(c, 0, 1, handled);
        CV_LOG(CV_LOG_INFO, c->kv, "event %s applied at attempt %d", e->ce.id,
               e->attempts + 1);
    } else if (r == CV_TXN_EVENT) {
        r = isolate(c, 0, &blame);
    }
    drop_events(c, 0);
    return r == CV_TXN_TRANSIENT || r == CV_TXN_WAITED;
}

/*
 * Between batches: re-runs the group's parked retries that are due, one
 * transaction each. Any consumer of the group may run any of them; the
 * row lock taken in txn_begin() makes sure only one does.
 */
static void run_parked(struct cv_consumer *c)
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

/* Copies n bytes of p (NULL stays NULL). */
static void *copy_of(const void *p, size_t n)
{
    void *q = p ? cv_malloc(n + 1) : NULL;
    if (q)
        memcpy(q, p, n);
    return q;
}

int cv_consumer_watchdog(struct cv_consumer *c)
{
    struct batch_event e;
    const struct cv_retry_policy *pol;
    struct cv_store_event ev;
    char reason[128], errstr[256];
    struct cv_pg_error err;
    struct cv_pg *pg;
    int timeout, failures, rc;
    int64_t wait;

    pthread_mutex_lock(&c->watch_lock);
    if (!c->watch_deadline || cv_mono_ms() < c->watch_deadline) {
        pthread_mutex_unlock(&c->watch_lock);
        return 0;
    }
    /* the handler cannot return past watch_end() while we hold the lock,
     * so the event and its buffers are still its own: copy them */
    e = *c->watch_event;
    e.msg = NULL;
    e.key = copy_of(e.key, e.key_len);
    e.value = copy_of(e.value, e.len);
    e.hdrs = e.hdrs ? rd_kafka_headers_copy(e.hdrs) : NULL;
    timeout = c->watch_timeout_ms;
    pthread_mutex_unlock(&c->watch_lock);

    pol = policy_of(c, &e);
    failures = e.attempts + 1;
    wait = cv_retry_delay_ms(pol, failures, 0.5); /* c->rng is the
                                                     consumer thread's */
    snprintf(reason, sizeof(reason),
             "handler timeout: still running after %d ms", timeout);
    CV_LOG(CV_LOG_ERROR, c->kv,
           "handler of event %s (%s [%d] offset %lld, attempt %d of %d) "
           "still running after %d ms: cutting it off, the process exits "
           "with status %d",
           e.ce.id, e.part->topic, (int)e.partition, (long long)e.offset,
           failures, pol->max_attempts, timeout, CV_EXIT_HANDLER_TIMEOUT);
    pg = cv_pg_connect(c->cfg->pg_conninfo, "conveyor/watchdog",
                       c->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
    if (!pg) {
        CV_LOG(CV_LOG_ERROR, c->kv, "recording the attempt: %s", errstr);
    } else {
        /* the same row a failed attempt writes: a parked retry stays
         * parked, an event at its partition's head waits there */
        store_event_of(&e, &ev);
        cv_pg_pipe_begin(pg);
        rc = cv_store_retry_upsert(pg, CV_TAG_ENGINE, c->domain->group_id, &ev,
                                   e.retry_id != 0, failures, wait, reason);
        if (rc != CV_OK)
            cv_pg_conn_error(pg, &err, CV_TAG_ENGINE);
        else
            rc = cv_pg_pipe_sync(pg, NULL, NULL, &err);
        cv_pg_pipe_end(pg);
        if (rc != CV_OK)
            CV_LOG(CV_LOG_ERROR, c->kv, "recording the attempt: %s",
                   err.message);
        else
            CV_LOG(CV_LOG_WARN, c->kv,
                   "attempt %d of event %s recorded; it runs again in "
                   "%lld ms after a restart",
                   failures, e.ce.id, (long long)wait);
        cv_pg_destroy(pg);
    }
    event_free(&e);
    fflush(NULL);
    _exit(CV_EXIT_HANDLER_TIMEOUT);
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
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
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
    if (pg_connect(c) != CV_OK)
        return CV_OK; /* stopped before Postgres came up */
    if (pthread_create(&c->waker, NULL, waker_main, c) == 0)
        c->waker_started = 1;
    CV_LOG(CV_LOG_INFO, c->kv, "consumer started");
    ack(c, 0);
    while (!atomic_load(stop)) {
        int64_t t0, t1;
        if (c->pg)
            apply_controls(c);
        if (!c->pg)
            continue; /* stopping before Postgres came back */
        retry_release(c);
        run_parked(c);
        t0 = cv_mono_us();
        collect(c);
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
    drop_events(c, 0);
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
    rd_kafka_consumer_close(c->rk);
    return CV_OK;
}

void cv_consumer_destroy(struct cv_consumer *c)
{
    if (!c)
        return;
    drop_events(c, 0);
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
