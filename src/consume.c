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
 * down by bisection (struct cv_consume_range) - the events before the span,
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "control.h"
#include "ctx.h"
#include "kafka.h"
#include "log.h"
#include "pg.h"
#include "stats.h"
#include "health.h"  /* metrics */
#include "metrics.h" /* metrics */
#include "observe.h" /* metrics */

#define CV_WAKE_MAX      16  /* leaders wake_fetchers() asks at most */
#define CV_RETRY_POLL_MS 250 /* how often due parked retries are read */
#define TAG_ENGINE       CV_TAG_ENGINE
#define TAG_CAS          -2
#define TAG_INBOX        -3
#define TAG_CLAIM        -4
#define CV_HOLDERS_MAX   3 /* open transactions named after a lock wait */

struct part {
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
 * from conveyor.retries (msg NULL, the slot owns its buffers). */
struct slot {
    rd_kafka_message_t *msg;
    struct part *part;
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

enum txn_result {
    TXN_OK = 0,
    TXN_EVENT,     /* an event in c->failed_first..last failed: fail_reason */
    TXN_FENCED,    /* the offset CAS refused the commit */
    TXN_TRANSIENT, /* connection lost, serialization failure, ... */
    TXN_HELD,      /* a blocking retry: the event's partition waits */
    TXN_WAITED,    /* lock_timeout or statement_timeout: Postgres was
                      blocked or slow; retried like TXN_TRANSIENT */
};

/* What run_txn() does with its events. */
enum action {
    ACT_HANDLE,      /* run the handlers */
    ACT_DEAD_LETTER, /* one event: dead-letter it */
    ACT_PARK,        /* one event: park it in conveyor.retries */
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

    struct part **parts;
    size_t nparts, parts_cap;
    struct part *last_part;

    struct slot *slots;
    size_t nslots, slots_cap;
    int revoked; /* a revoke happened during the poll */

    /* event id -> first slot index, for the current transaction */
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
    char wait_what[640]; /* the last such batch, and what it waited on */
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
    const struct slot *watch_slot; /* its event; stays put while it runs */

    int failed_first, failed_last; /* the event(s) to blame, inclusive */
    int known_bad; /* slot that failed alone and waits for the events
                      before it to commit, then goes to isolate(); -1 */
    int known_retriable;
    char known_reason[600];
    int fail_retriable;
    char fail_reason[600];
};

/* ---------------------------------------------------------------- parts */

static struct part *part_find(struct cv_consumer *c, const char *topic,
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
    struct part *p = cv_calloc(1, sizeof(*p));
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
static struct part *part_of(struct cv_consumer *c,
                            const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    struct part *last = c->last_part; /* parts live as long as c */
    if (last && last->partition == msg->partition &&
        strcmp(last->topic, topic) == 0)
        return last;
    c->last_part = part_find(c, topic, msg->partition, 0);
    return c->last_part;
}

/* ------------------------------------------------------------ postgres */

static int pg_connect(struct cv_consumer *c)
{
    char errstr[512];
    struct cv_pg_error err;
    int64_t backoff = 100;

    while (!atomic_load(c->stop)) {
        c->pg =
            cv_pg_connect(c->cfg->pg_conninfo, c->name,
                          c->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
        if (c->pg) {
            /* A consumer stopped mid-transaction (SIGSTOP, a long GC pause
             * of the host) must not hold row locks for long. */
            /* Nor wait for a lock past lock_timeout: while it waits on
             * Postgres it serves no rebalance (see classify()). */
            char stmt_timeout[24], lock_timeout[24];
            snprintf(stmt_timeout, sizeof(stmt_timeout), "%d",
                     c->cfg->pg_statement_timeout_ms);
            snprintf(lock_timeout, sizeof(lock_timeout), "%d",
                     c->cfg->pg_lock_timeout_ms);
            if (cv_pg_command(
                    c->pg,
                    "SELECT set_config("
                    "'idle_in_transaction_session_timeout', $1, false), "
                    "set_config('statement_timeout', $2, false), "
                    "set_config('lock_timeout', $3, false)",
                    3, (const char *[]){"15s", stmt_timeout, lock_timeout},
                    &err) == CV_OK) {
                CV_LOG(CV_LOG_INFO, c->kv, "connected to Postgres (%s)",
                       cv_pg_describe(c->pg));
                return CV_OK;
            }
            cv_pg_destroy(c->pg);
            c->pg = NULL;
            snprintf(errstr, sizeof(errstr), "%s", err.message);
        }
        CV_LOG(CV_LOG_WARN, c->kv,
               "Postgres unavailable, retrying in %lldms: %s",
               (long long)backoff, errstr);
        cv_health_beat(c, "consumer", c->name, 5000); /* metrics */
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return CV_ERR;
}

static void pg_reset(struct cv_consumer *c)
{
    cv_pg_destroy(c->pg);
    c->pg = NULL;
    pg_connect(c);
}

static void gap_found(struct cv_consumer *c, struct part *p, int64_t low)
{
    char part[16], from[24], to[24];
    const char *params[6] = {c->domain->group_id, p->topic, part, from, to};
    struct cv_pg_error err;

    snprintf(part, sizeof(part), "%d", (int)p->partition);
    snprintf(from, sizeof(from), "%lld", (long long)p->next);
    snprintf(to, sizeof(to), "%lld", (long long)low);
    p->stopped = 1;
    CV_LOG(CV_LOG_ERROR, c->kv,
           "retention gap: the broker deleted offsets %lld..%lld of %s [%d] "
           "before they were processed; partition stopped (see conveyor "
           "status)",
           (long long)p->next, (long long)low - 1, p->topic, (int)p->partition);
    if (cv_pg_command(c->pg,
                      "INSERT INTO conveyor.retention_gaps (group_id, topic, "
                      "partition, lost_from, lost_to) VALUES ($1, $2, $3, $4, "
                      "$5) ON CONFLICT DO NOTHING",
                      5, params, &err) != CV_OK)
        CV_LOG(CV_LOG_ERROR, c->kv, "recording the retention gap: %s",
               err.message);
}

/* Reads the stored offsets of the group into the partition table. */
static int load_offsets(struct cv_consumer *c, struct cv_pg_error *err)
{
    const char *params[1] = {c->domain->group_id};
    PGresult *res = cv_pg_exec(c->pg,
                               "SELECT topic, partition, next_offset FROM "
                               "conveyor.consumer_offsets WHERE group_id = $1",
                               1, params, err);
    if (!res)
        return CV_ERR;
    for (int i = 0; i < PQntuples(res); i++) {
        struct part *p =
            part_find(c, PQgetvalue(res, i, 0), atoi(PQgetvalue(res, i, 1)), 0);
        if (p)
            p->next = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    /* blocking retries waiting at the head of a partition */
    res = cv_pg_exec(c->pg,
                     "SELECT topic, partition, \"offset\", attempts, "
                     "(extract(epoch FROM next_attempt_at) * 1000)::bigint, "
                     "last_error FROM conveyor.retries "
                     "WHERE group_id = $1 AND NOT parked",
                     1, params, err);
    if (!res)
        return CV_ERR;
    for (size_t i = 0; i < c->nparts; i++)
        c->parts[i]->retry_offset = -1;
    for (int i = 0; i < PQntuples(res); i++) {
        struct part *p =
            part_find(c, PQgetvalue(res, i, 0), atoi(PQgetvalue(res, i, 1)), 0);
        int64_t off = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (!p || off < p->next)
            continue; /* another consumer's, or behind us */
        p->retry_offset = off;
        p->retry_attempts = atoi(PQgetvalue(res, i, 3));
        p->retry_due_ms = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        snprintf(p->retry_error, sizeof(p->retry_error), "%s",
                 PQgetvalue(res, i, 5));
    }
    PQclear(res);
    return CV_OK;
}

/*
 * For every assigned partition: make sure a stored offset exists (the
 * domain's reset policy decides where a new group starts) and check it
 * against the log start offset.
 */
static int prepare_assignment(struct cv_consumer *c,
                              rd_kafka_topic_partition_list_t *parts)
{
    struct cv_pg_error err;
    char errstr[256];

    for (int i = 0; i < parts->cnt; i++) {
        struct part *p =
            part_find(c, parts->elems[i].topic, parts->elems[i].partition, 1);
        p->next = -1;
        p->stopped = 0;
        p->held = p->retry_held = 0;
    }
    if (load_offsets(c, &err) != CV_OK)
        goto pg_fail;
    for (int i = 0; i < parts->cnt; i++) {
        struct part *p =
            part_find(c, parts->elems[i].topic, parts->elems[i].partition, 0);
        int64_t low = 0, high = 0;
        if (cv_kafka_watermarks(c->rk, p->topic, p->partition, &low, &high,
                                10000, errstr, sizeof(errstr)) != CV_OK) {
            CV_LOG(CV_LOG_WARN, c->kv, "watermarks of %s [%d]: %s", p->topic,
                   (int)p->partition, errstr);
            return CV_ERR;
        }
        if (p->next < 0) {
            char part[16], start[24];
            const char *params[4] = {c->domain->group_id, p->topic, part,
                                     start};
            snprintf(part, sizeof(part), "%d", (int)p->partition);
            snprintf(start, sizeof(start), "%lld",
                     (long long)(c->domain->reset_earliest ? low : high));
            if (cv_pg_command(c->pg,
                              "INSERT INTO conveyor.consumer_offsets "
                              "(group_id, topic, partition, next_offset) "
                              "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                              4, params, &err) != CV_OK)
                goto pg_fail;
            if (load_offsets(c, &err) != CV_OK)
                goto pg_fail;
        }
        if (p->next < low)
            gap_found(c, p, low);
        parts->elems[i].offset = p->next;
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

static void slot_from_msg(struct slot *s, rd_kafka_message_t *msg,
                          struct part *p)
{
    memset(s, 0, sizeof(*s));
    s->msg = msg;
    s->part = p;
    s->key = msg->key;
    s->key_len = msg->key_len;
    s->value = msg->payload;
    s->len = msg->len;
    s->partition = msg->partition;
    s->offset = msg->offset;
    if (rd_kafka_message_headers(msg, &s->hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        s->hdrs = NULL;
    if (p->retry_offset == msg->offset) {
        s->attempts = p->retry_attempts;
        snprintf(s->last_error, sizeof(s->last_error), "%s", p->retry_error);
    }
}

static void slot_free(struct slot *s)
{
    if (s->msg) {
        rd_kafka_message_destroy(s->msg);
    } else {
        free((void *)s->key);
        free((void *)s->value);
        if (s->hdrs)
            rd_kafka_headers_destroy(s->hdrs);
    }
    s->msg = NULL;
    s->key = s->value = NULL;
    s->hdrs = NULL;
}

static void drop_slots(struct cv_consumer *c, size_t from)
{
    for (size_t i = from; i < c->nslots; i++)
        slot_free(&c->slots[i]);
    c->nslots = from;
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
        struct part *p = c->parts[i];
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
            struct part *p = part_find(c, md->topics[t].topic,
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
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct cv_consumer *c = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int64_t backoff = 200;
        while (prepare_assignment(c, parts) != CV_OK) {
            if (atomic_load(c->stop))
                return;
            cv_health_beat(c, "consumer", c->name, 5000); /* metrics */
            struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000};
            nanosleep(&ts, NULL);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        for (int i = 0; i < parts->cnt; i++)
            part_find(c, parts->elems[i].topic, parts->elems[i].partition, 0)
                ->assigned = 1;
        rd_kafka_assign(rk, parts);
        learn_leaders(c);
        for (int i = 0; i < parts->cnt; i++) {
            struct part *p = part_find(c, parts->elems[i].topic,
                                       parts->elems[i].partition, 0);
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
        CV_LOG(CV_LOG_INFO, c->kv, "assigned %d partitions", parts->cnt);
    } else {
        for (int i = 0; i < parts->cnt; i++) {
            struct part *p = part_find(c, parts->elems[i].topic,
                                       parts->elems[i].partition, 0);
            if (p)
                p->assigned = 0;
        }
        c->revoked = 1;
        rd_kafka_assign(rk, NULL);
        CV_LOG(CV_LOG_INFO, c->kv, "revoked %d partitions", parts->cnt);
    }
}

/* Re-reads the stored offsets and seeks every assigned partition to them:
 * after a fence or a rolled-back batch, Postgres is the truth. */
static void reseek(struct cv_consumer *c)
{
    struct cv_pg_error err;
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_error_t *error;

    drop_slots(c, 0);
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
        struct part *p = c->parts[i];
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
        struct part *p = part_of(c, msg);
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
        struct part *p = c->parts[i];
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
static void hold(struct cv_consumer *c, struct part *p, int64_t offset)
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
static void retry_hold(struct cv_consumer *c, struct part *p)
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
        struct part *p = c->parts[i];
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
        struct part *p = c->parts[i];
        p->seen = p->next;
        if (p->retry_held) {
            /* a blocking retry falls due: return in time to release it */
            int64_t due = cv_mono_ms() + (p->retry_due_ms - cv_wall_ms());
            if (due < idle_until)
                idle_until = due;
        }
    }
    while (c->nslots < max && !atomic_load(c->stop)) {
        int timeout = 100;
        if (c->nslots) {
            int64_t left = deadline - cv_mono_ms();
            if (left <= 0)
                break;
            timeout = (int)left;
        }
        /* idle: return now and then, so the kill switch is looked at */
        if (!c->nslots && cv_mono_ms() >= idle_until)
            break;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout);
        if (c->revoked) {
            /* keep only what we still own */
            size_t keep = 0;
            for (size_t i = 0; i < c->nslots; i++) {
                if (c->slots[i].part->assigned)
                    c->slots[keep++] = c->slots[i];
                else
                    slot_free(&c->slots[i]);
            }
            c->nslots = keep;
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
        struct part *p = part_of(c, msg);
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
        if (c->nslots == c->slots_cap) {
            c->slots_cap = c->slots_cap ? c->slots_cap * 2 : max;
            c->slots = cv_realloc(c->slots, c->slots_cap * sizeof(*c->slots));
        }
        slot_from_msg(&c->slots[c->nslots++], msg, p);
        if (c->nslots == 1)
            deadline = cv_mono_ms() + c->domain->batch_wait_ms;
    }
}

/* -------------------------------------------------------- transactions */

/* Indexes slots [lo,hi) by event id; returns nothing, fills c->idx. */
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
        struct slot *s = &c->slots[i];
        if (s->bad)
            continue;
        size_t h = cv_hash_str(s->ce.id) & (c->idx_cap - 1);
        while (c->idx[h] >= 0 &&
               strcmp(c->slots[c->idx[h]].ce.id, s->ce.id) != 0)
            h = (h + 1) & (c->idx_cap - 1);
        if (c->idx[h] < 0)
            c->idx[h] = (int)i;
    }
}

static int first_with_id(struct cv_consumer *c, const char *id)
{
    size_t h = cv_hash_str(id) & (c->idx_cap - 1);
    while (c->idx[h] >= 0) {
        if (strcmp(c->slots[c->idx[h]].ce.id, id) == 0)
            return c->idx[h];
        h = (h + 1) & (c->idx_cap - 1);
    }
    return -1;
}

struct dedupe {
    struct cv_consumer *c;
    int claimed; /* rows the claim of a parked retry locked; -1 = none */
};

static void mark_dups(void *opaque, int tag, PGresult *res)
{
    struct dedupe *d = opaque;
    if (tag == TAG_CLAIM) {
        d->claimed = PQntuples(res);
        return;
    }
    /* marking the first slot with the id is enough: later ones are
     * duplicates of it anyway */
    for (int r = 0; r < PQntuples(res); r++) {
        int i = first_with_id(d->c, PQgetvalue(res, r, 0));
        if (i >= 0)
            d->c->slots[i].dup = 1;
    }
}

static int send_dead_letter(struct cv_consumer *c, struct slot *s, int tag,
                            const char *reason, int attempts)
{
    /* the row, and a copy of the raw event on the domain's DLQ topic with
     * its original headers plus where and why it failed */
    static const char *const sql =
        "WITH r AS ("
        " DELETE FROM conveyor.retries WHERE group_id = $1 AND topic = $2"
        " AND partition = $3 AND \"offset\" = $4 RETURNING first_failed_at),"
        " d AS ("
        " INSERT INTO conveyor.dead_letters (group_id, topic, partition, "
        " \"offset\", key, headers, value, event_id, event_type, error, "
        " attempts, first_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9, $10, $11, coalesce((SELECT first_failed_at FROM r), now()))"
        " RETURNING id)"
        "INSERT INTO conveyor.outbox (topic, key, value, event_id, event_type,"
        " source, event_time, headers)"
        " SELECT $12, $5, coalesce($7, ''::bytea),"
        " coalesce($8, 'dead-letter:' || d.id), coalesce($9, ''),"
        " 'conveyor/dlq', (extract(epoch FROM now()) * 1000)::bigint,"
        " $6::jsonb || jsonb_build_object('conveyor_dlq_group', $1::text,"
        " 'conveyor_dlq_topic', $2::text, 'conveyor_dlq_partition',"
        " $3::text, 'conveyor_dlq_offset', $4::text, 'conveyor_dlq_error',"
        " $10::text, 'conveyor_dlq_attempts', $11::text,"
        " 'conveyor_dlq_id', d.id::text) FROM d";
    char part[16], off[24], att[16];
    char *hdrs = cv_headers_to_json(s->hdrs);
    const char *values[12];
    cv_metrics_event(c->domain->name, s->bad ? NULL : s->ce.type,
                     CV_METRICS_DEAD_LETTERED); /* metrics */
    int lengths[12] = {0}, formats[12] = {0};
    int rc;

    snprintf(part, sizeof(part), "%d", (int)s->partition);
    snprintf(off, sizeof(off), "%lld", (long long)s->offset);
    snprintf(att, sizeof(att), "%d", attempts);
    values[0] = c->domain->group_id;
    values[1] = s->part->topic;
    values[2] = part;
    values[3] = off;
    values[4] = s->key;
    lengths[4] = (int)s->key_len;
    formats[4] = 1;
    values[5] = hdrs;
    values[6] = s->value;
    lengths[6] = (int)s->len;
    formats[6] = 1;
    values[7] = s->ce.id[0] ? s->ce.id : NULL;
    values[8] = s->ce.type[0] ? s->ce.type : NULL;
    values[9] = reason;
    values[10] = att;
    values[11] = c->domain->dlq_topic;
    rc = cv_pg_pipe_send(c->pg, tag, sql, 12, values, lengths, formats);
    free(hdrs);
    CV_LOG(CV_LOG_WARN, c->kv,
           "dead letter: %s [%d] offset %lld event_id=%s: %s", s->part->topic,
           (int)s->partition, (long long)s->offset,
           s->ce.id[0] ? s->ce.id : "-", reason);
    return rc;
}

/*
 * Records a failed attempt of event s in conveyor.retries: parked (the
 * offset moves past it in this transaction, deferred mode) or waiting at
 * the head of its partition (blocking mode). The row keeps a copy of the
 * event and the attempt count; next_attempt_at is delay_ms from now.
 */
static int send_retry(struct cv_consumer *c, struct slot *s, int tag,
                      int parked, int attempts, int64_t delay_ms,
                      const char *reason)
{
    static const char *const sql =
        "INSERT INTO conveyor.retries (group_id, topic, partition, "
        " \"offset\", event_id, event_type, key, headers, value, parked,"
        " attempts, next_attempt_at, last_error) VALUES ($1, $2, $3, $4, $5,"
        " $6, $7, $8, coalesce($9, ''::bytea), $10, $11,"
        " now() + $12 * interval '1 millisecond', $13)"
        " ON CONFLICT (group_id, topic, partition, \"offset\") DO UPDATE"
        " SET key = EXCLUDED.key, headers = EXCLUDED.headers,"
        " value = EXCLUDED.value, parked = EXCLUDED.parked,"
        " attempts = EXCLUDED.attempts,"
        " next_attempt_at = EXCLUDED.next_attempt_at,"
        " last_failed_at = now(), last_error = EXCLUDED.last_error";
    char part[16], off[24], att[16], delay[24];
    char *hdrs = cv_headers_to_json(s->hdrs);
    const char *values[13];
    int lengths[13] = {0}, formats[13] = {0};
    int rc;

    snprintf(part, sizeof(part), "%d", (int)s->partition);
    snprintf(off, sizeof(off), "%lld", (long long)s->offset);
    snprintf(att, sizeof(att), "%d", attempts);
    snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
    values[0] = c->domain->group_id;
    values[1] = s->part->topic;
    values[2] = part;
    values[3] = off;
    values[4] = s->ce.id;
    values[5] = s->ce.type;
    values[6] = s->key;
    lengths[6] = (int)s->key_len;
    formats[6] = 1;
    values[7] = hdrs;
    values[8] = s->value;
    lengths[8] = (int)s->len;
    formats[8] = 1;
    values[9] = parked ? "true" : "false";
    values[10] = att;
    values[11] = delay;
    values[12] = reason;
    rc = cv_pg_pipe_send(c->pg, tag, sql, 13, values, lengths, formats);
    free(hdrs);
    return rc;
}

/* Queues the inbox rows, the offset CAS, NOTIFY and COMMIT for [lo,hi). */
static int send_commit(struct cv_consumer *c, size_t lo, size_t hi,
                       const char *inbox_ids, struct cv_ctx *ctx,
                       enum action act)
{
    char *topics = NULL, *nparts = NULL, *expected = NULL, *next = NULL;
    size_t tl = 0, tc = 0, pl = 0, pc = 0, el = 0, ec = 0, nl = 0, nc = 0;
    char num[24];
    int rc = CV_OK;

    if (inbox_ids) {
        const char *params[2] = {c->domain->group_id, inbox_ids};
        cv_pg_pipe_send_planned(c->pg, TAG_INBOX,
                                "INSERT INTO conveyor.inbox (group_id, "
                                "event_id) SELECT $1, unnest($2::text[])",
                                2, params);
    }
    for (size_t i = lo; i < hi; i++) {
        struct slot *s = &c->slots[i];
        struct part *p = s->part;
        if (act == ACT_HANDLE && (s->attempts || s->retry_id)) {
            /* applied at last (or a duplicate): its retry is over */
            char part[16], off[24];
            const char *params[4] = {c->domain->group_id, p->topic, part, off};
            snprintf(part, sizeof(part), "%d", (int)s->partition);
            snprintf(off, sizeof(off), "%lld", (long long)s->offset);
            rc |= cv_pg_pipe_send(c->pg, TAG_ENGINE,
                                  "DELETE FROM conveyor.retries WHERE "
                                  "group_id = $1 AND topic = $2 AND "
                                  "partition = $3 AND \"offset\" = $4",
                                  4, params, NULL, NULL);
        }
        if (s->retry_id)
            continue; /* parked: its offset moved on when it was parked */
        if (!p->in_batch) {
            p->in_batch = 1;
            p->batch_expected = p->next;
        }
        p->batch_next = s->offset + 1;
    }
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = c->parts[i];
        if (!p->in_batch)
            continue;
        cv_pg_array_add(&topics, &tl, &tc, p->topic);
        snprintf(num, sizeof(num), "%d", (int)p->partition);
        cv_pg_array_add(&nparts, &pl, &pc, num);
        snprintf(num, sizeof(num), "%lld", (long long)p->batch_expected);
        cv_pg_array_add(&expected, &el, &ec, num);
        snprintf(num, sizeof(num), "%lld", (long long)p->batch_next);
        cv_pg_array_add(&next, &nl, &nc, num);
    }
    if (topics) {
        const char *params[5] = {c->domain->group_id, topics, nparts, expected,
                                 next};
        rc |= cv_pg_pipe_send(c->pg, TAG_CAS,
                              "SELECT conveyor.advance_offsets($1, "
                              "$2::text[], $3::int[], $4::bigint[], "
                              "$5::bigint[])",
                              5, params, NULL, NULL);
    }
    rc |= cv_ctx_outbox_flush(ctx);
    if (ctx->outbox_rows)
        rc |= cv_pg_pipe_send(c->pg, TAG_ENGINE,
                              "SELECT pg_notify('conveyor_outbox', $1)", 1,
                              (const char *[]){c->domain->name}, NULL, NULL);
    rc |= cv_pg_pipe_send(c->pg, TAG_ENGINE, "COMMIT", 0, NULL, NULL, NULL);
    free(topics);
    free(nparts);
    free(expected);
    free(next);
    return rc ? CV_ERR : CV_OK;
}

static void batch_done(struct cv_consumer *c, int ok)
{
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = c->parts[i];
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

    if (tag == TAG_CAS)
        snprintf(out, size, "the offset compare-and-set");
    else if (tag == TAG_INBOX)
        snprintf(out, size, "the inbox insert");
    else if (tag == TAG_CLAIM)
        snprintf(out, size, "the claim of a parked retry");
    else if (!cv_ctx_tag_events(ctx, tag, &first, &last))
        snprintf(out, size, "an engine statement");
    else if (first == last)
        snprintf(out, size, "the %.60s handler of event %.60s",
                 c->slots[first].ce.type, c->slots[first].ce.id);
    else
        snprintf(out, size, "a row set of events %d..%d (%.60s)", first, last,
                 c->slots[first].ce.type);
}

/*
 * A statement of events [lo,hi) waited past lock_timeout (or
 * statement_timeout). Nothing is any event's fault: the batch was rolled
 * back and is retried as it is, after the consumer has served its group
 * (a rebalance waits for it meanwhile). Says which batch waited on what;
 * report_wait() adds who holds the lock, once the pipeline is over.
 */
static void waited(struct cv_consumer *c, const struct cv_ctx *ctx,
                   const struct cv_pg_error *err, size_t lo, size_t hi)
{
    char stmt[160], parts[160] = "";
    size_t nparts = 0, used = 0;

    describe_tag(c, ctx, err->tag, stmt, sizeof(stmt));
    for (size_t i = lo; i < hi; i++) {
        const struct slot *s = &c->slots[i];
        size_t j = lo;
        while (j < i && c->slots[j].part != s->part)
            j++;
        if (j < i)
            continue; /* partition seen */
        if (nparts++ < 3 && used < sizeof(parts))
            used += (size_t)snprintf(parts + used, sizeof(parts) - used,
                                     "%s%s [%d] from %lld",
                                     nparts > 1 ? ", " : "", s->part->topic,
                                     (int)s->partition, (long long)s->offset);
    }
    snprintf(c->wait_what, sizeof(c->wait_what),
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
static void report_wait(struct cv_consumer *c)
{
    char holders[300] = "";
    size_t used = 0;
    struct cv_pg_error err;
    PGresult *res = NULL;
    char limit[16];

    snprintf(limit, sizeof(limit), "%d", CV_HOLDERS_MAX);
    if (c->pg && cv_pg_ok(c->pg))
        res = cv_pg_exec(
            c->pg,
            "SELECT pid, coalesce(nullif(application_name, ''), "
            "usename::text, '?'), state, "
            "extract(epoch FROM now() - xact_start)::bigint "
            "FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND backend_xid IS NOT NULL AND datname = current_database() "
            "ORDER BY xact_start LIMIT $1::int",
            1, (const char *[]){limit}, &err);
    for (int i = 0; res && i < PQntuples(res) && used < sizeof(holders); i++)
        used += (size_t)snprintf(holders + used, sizeof(holders) - used,
                                 "%spid %s (%s, %s, %ss)", i ? "; " : "",
                                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                                 PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    PQclear(res);
    CV_LOG(CV_LOG_WARN, c->kv,
           "%s; oldest open transactions: %s; serving the group, then "
           "retrying the batch",
           c->wait_what, holders[0] ? holders : "none found");
    snprintf(c->pg_wait, sizeof(c->pg_wait),
             "postgres: %d batch(es) rolled back after waiting since %s, the "
             "last: %.300s",
             c->wait_count, c->wait_since, c->wait_what);
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

static enum txn_result classify(struct cv_consumer *c, const struct cv_ctx *ctx,
                                const struct cv_pg_error *err, size_t lo,
                                size_t hi)
{
    int first, last;

    /* before any blame: a lock wait is no event's fault, whichever
     * statement (a handler's, the inbox insert, the offsets) hit it */
    if (cv_pg_waited_too_long(err->sqlstate)) {
        waited(c, ctx, err, lo, hi);
        return TXN_WAITED;
    }

    if (err->tag == TAG_CAS && strcmp(err->sqlstate, CV_SQLSTATE_FENCED) == 0) {
        CV_LOG(CV_LOG_WARN, c->kv,
               "commit refused, %s; re-seeking to the "
               "stored offsets",
               err->message);
        return TXN_FENCED;
    }
    /*
     * The batch's ids were not in the inbox when it began (round trip 1),
     * so another consumer has committed them since: it owns the partition
     * now (this one is a zombie) or processed the same ids elsewhere.
     * Either way this commit must not happen; Postgres has the truth.
     */
    if (err->tag == TAG_INBOX &&
        strcmp(err->sqlstate, CV_SQLSTATE_UNIQUE) == 0) {
        CV_LOG(CV_LOG_WARN, c->kv,
               "commit refused, another consumer committed these events "
               "first (%s); re-seeking to the stored offsets",
               err->message);
        return TXN_FENCED;
    }
    /* an event's own statement failed; a class 40 error (serialization
     * failure, deadlock) counts as a failed attempt that may retry, a
     * class 08 one is the connection's and no event's fault */
    if (err->sqlstate[0] && strncmp(err->sqlstate, "08", 2) != 0 &&
        cv_ctx_tag_events(ctx, err->tag, &first, &last)) {
        c->failed_first = first;
        c->failed_last = last;
        c->fail_retriable = cv_pg_retriable(err->sqlstate);
        snprintf(c->fail_reason, sizeof(c->fail_reason), "SQLSTATE %s: %s",
                 err->sqlstate, err->message);
        return TXN_EVENT;
    }
    CV_LOG(CV_LOG_WARN, c->kv, "batch rolled back (SQLSTATE %s): %s",
           err->sqlstate[0] ? err->sqlstate : "none", err->message);
    return TXN_TRANSIENT;
}

static const struct cv_retry_policy *policy_of(struct cv_consumer *c,
                                               const struct slot *s)
{
    const struct cv_topo_route *route =
        s->bad ? NULL : cv_topology_route(c->domain, s->ce.type);
    return route ? &route->retry : &c->domain->retry;
}

/* Tells the watchdog which handler runs now, and until when. */
static void watch_begin(struct cv_consumer *c, const struct slot *s,
                        const struct cv_retry_policy *pol, struct cv_event *ev)
{

    ev->deadline_ms = pol->timeout_ms ? cv_mono_ms() + pol->timeout_ms : 0;
    if (!ev->deadline_ms)
        return;
    pthread_mutex_lock(&c->watch_lock);
    c->watch_deadline = ev->deadline_ms;
    c->watch_timeout_ms = pol->timeout_ms;
    c->watch_slot = s;
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

/*
 * Applies events [lo,hi) in one transaction (ACT_HANDLE), or, for one
 * event, dead-letters it or parks it for a deferred retry with `reason`,
 * `attempts` and (parking) `delay_ms`. A parked retry's row is locked
 * first (FOR UPDATE SKIP LOCKED): if another consumer of the group has it
 * or it changed, the result is TXN_FENCED.
 */
static enum txn_result run_txn(struct cv_consumer *c, size_t lo, size_t hi,
                               enum action act, const char *reason,
                               int attempts, int64_t delay_ms, size_t *handled)
{
    struct cv_pg_error err;
    struct cv_ctx ctx;
    struct dedupe d = {c, -1};
    char *ids = NULL, *inbox = NULL;
    size_t il = 0, ic = 0, bl = 0, bc = 0;
    enum txn_result r = TXN_OK;
    int64_t t0;

    *handled = 0;
    cv_metrics_txn_begin(); /* metrics */
    memset(&ctx, 0, sizeof(ctx));
    if (!c->pg && pg_connect(c) != CV_OK)
        return TXN_TRANSIENT;
    for (size_t i = lo; i < hi; i++)
        c->slots[i].dup = 0;
    index_ids(c, lo, hi);

    /* round trip 1: BEGIN and the inbox look-up */
    cv_pg_pipe_begin(c->pg);
    int rc = cv_pg_pipe_send(c->pg, TAG_ENGINE, "BEGIN", 0, NULL, NULL, NULL);
    if (c->slots[lo].retry_id) {
        char id[24], att[16];
        const char *params[2] = {id, att};
        snprintf(id, sizeof(id), "%lld", (long long)c->slots[lo].retry_id);
        snprintf(att, sizeof(att), "%d", c->slots[lo].attempts);
        d.claimed = 0;
        rc |= cv_pg_pipe_send(c->pg, TAG_CLAIM,
                              "SELECT 1 FROM conveyor.retries WHERE id = $1 "
                              "AND attempts = $2 FOR UPDATE SKIP LOCKED",
                              2, params, NULL, NULL);
    }
    if (act == ACT_HANDLE) {
        for (size_t i = lo; i < hi; i++)
            if (!c->slots[i].bad)
                cv_pg_array_add(&ids, &il, &ic, c->slots[i].ce.id);
        if (ids) {
            const char *params[2] = {c->domain->group_id, ids};
            /* One index probe per id, whatever the statistics say: a
             * plain join on a table autovacuum has not analyzed yet is
             * planned as a hash join that reads the group's whole inbox.
             * The LIMIT 1 under LATERAL leaves the planner no such path. */
            rc |= cv_pg_pipe_send_planned(
                c->pg, TAG_ENGINE,
                "SELECT u.id FROM unnest($2::text[]) AS u(id) "
                "CROSS JOIN LATERAL (SELECT 1 FROM conveyor.inbox i "
                "WHERE i.group_id = $1 AND i.event_id = u.id LIMIT 1) hit",
                2, params);
        }
    }
    if (rc != CV_OK || cv_pg_pipe_sync(c->pg, mark_dups, &d, &err) != CV_OK) {
        if (rc != CV_OK)
            snprintf(err.message, sizeof(err.message), "%s",
                     PQerrorMessage(cv_pg_conn(c->pg)));
        err.tag = TAG_ENGINE;
        if (rc != CV_OK)
            err.sqlstate[0] = '\0';
        err.context[0] = '\0';
        r = classify(c, &ctx, &err, lo, hi);
        goto out;
    }
    if (d.claimed == 0) {
        /* another consumer runs this parked retry, or already has */
        cv_pg_pipe_send(c->pg, TAG_ENGINE, "ROLLBACK", 0, NULL, NULL, NULL);
        cv_pg_pipe_sync(c->pg, NULL, NULL, &err);
        r = TXN_FENCED;
        goto out;
    }

    /* round trip 2: the handlers, the inbox, the offsets, COMMIT */
    t0 = cv_mono_us();
    ctx.pg = c->pg;
    ctx.topo = c->topo;
    ctx.cat = c->cat;
    ctx.domain = c->domain->name;
    for (size_t i = lo; i < hi && r == TXN_OK; i++) {
        struct slot *s = &c->slots[i];
        const struct cv_schema *schema;
        const struct cv_topo_route *route;
        avro_value_t *value;
        struct cv_event ev;
        char why[512];

        if (act == ACT_DEAD_LETTER) {
            rc |= send_dead_letter(c, s, (int)i, reason, attempts);
            continue;
        }
        if (act == ACT_PARK) {
            rc |= send_retry(c, s, (int)i, 1, attempts, delay_ms, reason);
            continue;
        }
        if (s->bad) {
            rc |= send_dead_letter(c, s, (int)i, s->why, 1);
            continue;
        }
        if (s->dup || first_with_id(c, s->ce.id) != (int)i) {
            s->dup = 1;
            cv_metrics_event(c->domain->name, s->ce.type,
                             CV_METRICS_DEDUPLICATED); /* metrics */
            continue;
        }
        route = cv_topology_route(c->domain, s->ce.type);
        if (!route || !route->fn) {
            snprintf(why, sizeof(why), "unrouted event type '%s' for domain %s",
                     s->ce.type, c->domain->name);
            rc |= send_dead_letter(c, s, (int)i, why, 1);
            continue;
        }
        if (cv_decoder_decode(c->dec, s->value, s->len, &schema, &value, why,
                              sizeof(why)) != CV_OK) {
            rc |= send_dead_letter(c, s, (int)i, why, 1);
            continue;
        }
        if (s->attempts >= route->retry.max_attempts) {
            /* its last attempt was cut off by the handler timeout */
            c->failed_first = c->failed_last = (int)i;
            c->fail_retriable = 0;
            snprintf(c->fail_reason, sizeof(c->fail_reason),
                     "no attempts left (%d of %d failed; the last: %s)",
                     s->attempts, route->retry.max_attempts, s->last_error);
            r = TXN_EVENT;
            break;
        }
        memset(&ev, 0, sizeof(ev));
        ev.ce = &s->ce;
        ev.value = value;
        ev.topic = s->part->topic;
        ev.key = s->key;
        ev.key_len = s->key_len;
        ev.partition = s->partition;
        ev.offset = s->offset;
        ev.attempt = s->attempts + 1;
        ctx.ev = &ev;
        ctx.tag = (int)i;
        ctx.emit_seq = 0;
        ctx.reason[0] = '\0';
        watch_begin(c, s, &route->retry, &ev); /* route known: no lookup */
        cv_result_t hr = route->fn(&ctx, &ev);
        watch_end(c, &ev);
        if (ctx.broken) {
            rc = CV_ERR;
            break;
        }
        if (ctx.pipe_failed && ctx.pipe_err.tag != (int)i) {
            /* a statement queued before this handler failed: blame it */
            r = classify(c, &ctx, &ctx.pipe_err, lo, hi);
            break;
        }
        if (ctx.misused)
            hr = CV_FAILED;
        if (hr != CV_HANDLED) {
            c->failed_first = c->failed_last = (int)i;
            c->fail_retriable = hr == CV_RETRY;
            snprintf(c->fail_reason, sizeof(c->fail_reason), "%s: %s",
                     hr == CV_RETRY ? "retry" : "failed",
                     ctx.reason[0] ? ctx.reason : "(no reason given)");
            r = TXN_EVENT;
            break;
        }
        cv_pg_array_add(&inbox, &bl, &bc, s->ce.id);
        (*handled)++;
        cv_metrics_event(c->domain->name, s->ce.type,
                         CV_METRICS_PROCESSED); /* metrics */
    }
    if (r != TXN_OK) {
        /* undo what the handlers queued */
        cv_pg_pipe_send(c->pg, TAG_ENGINE, "ROLLBACK", 0, NULL, NULL, NULL);
        cv_pg_pipe_sync(c->pg, NULL, NULL, &err);
        batch_done(c, 0);
        goto out;
    }
    if (rc == CV_OK)
        rc = cv_ctx_rows_flush(&ctx);
    cv_metrics_txn_applied(); /* metrics */
    if (rc == CV_OK)
        rc = send_commit(c, lo, hi, inbox, &ctx, act);
    if (rc != CV_OK || cv_pg_pipe_sync(c->pg, NULL, NULL, &err) != CV_OK) {
        if (rc != CV_OK) {
            err.tag = TAG_ENGINE;
            err.sqlstate[0] = '\0';
            err.context[0] = '\0';
            snprintf(err.message, sizeof(err.message), "%s",
                     PQerrorMessage(cv_pg_conn(c->pg)));
        }
        batch_done(c, 0);
        r = classify(c, &ctx, &err, lo, hi);
        goto out;
    }
    batch_done(c, 1);
    cv_metrics_txn_commit(c->domain->name); /* metrics */
    wait_over(c);
    cv_stats_commit_sample(cv_mono_us() - t0);
    int_fast64_t zero = 0;
    atomic_compare_exchange_strong(&cv_stats.first_commit_ms, &zero,
                                   cv_wall_ms());
out:
    if (c->pg)
        cv_pg_pipe_end(c->pg);
    if (r == TXN_WAITED)
        report_wait(c);
    if (r == TXN_TRANSIENT && c->pg && !cv_pg_ok(c->pg)) {
        cv_pg_destroy(c->pg);
        c->pg = NULL;
    }
    free(ids);
    free(inbox);
    cv_ctx_reset(&ctx);
    return r;
}

static void count_committed(struct cv_consumer *c, size_t lo, size_t hi,
                            size_t handled)
{
    size_t dups = 0, dead;
    for (size_t i = lo; i < hi; i++)
        dups += c->slots[i].dup;
    dead = (hi - lo) - handled - dups; /* the rest became dead letters */
    atomic_fetch_add(&cv_stats.processed, handled);
    atomic_fetch_add(&cv_stats.duplicates, dups);
    atomic_fetch_add(&cv_stats.dead_letters, dead);
    atomic_fetch_add(&cv_stats.batches, 1);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

void cv_consume_range_init(struct cv_consume_range *r, size_t n)
{
    r->lo = 0;
    r->hi = r->bound = r->n = n;
}

void cv_consume_range_committed(struct cv_consume_range *r)
{
    r->lo = r->hi;
    /* the rest of the last failed range holds the culprit: run it alone */
    r->hi = r->bound > r->lo ? r->bound : r->n;
    r->bound = r->n;
}

int cv_consume_range_failed(struct cv_consume_range *r, size_t first,
                            size_t last)
{
    if (first < r->lo)
        first = r->lo; /* cannot happen: the blame lies in what ran */
    if (last < first)
        last = first;
    r->bound = r->hi;
    if (first > r->lo) {
        r->hi = first; /* the events before the culprits are fine */
        return 0;
    }
    if (last > first) {
        r->hi = first + (last - first + 1) / 2; /* the first half */
        return 0;
    }
    r->hi = r->lo + 1;
    return 1;
}

void cv_consume_range_isolated(struct cv_consume_range *r)
{
    r->lo++;
    r->hi = r->bound = r->n;
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
static enum txn_result record_head_retry(struct cv_consumer *c, struct slot *s,
                                         int attempts, int64_t delay_ms)
{
    struct cv_pg_error err;
    int rc;

    if (!c->pg && pg_connect(c) != CV_OK)
        return TXN_TRANSIENT;
    cv_pg_pipe_begin(c->pg);
    rc = send_retry(c, s, TAG_ENGINE, 0, attempts, delay_ms, c->fail_reason);
    rc = rc == CV_OK ? cv_pg_pipe_sync(c->pg, NULL, NULL, &err) : rc;
    cv_pg_pipe_end(c->pg);
    if (rc == CV_OK)
        return TXN_OK;
    CV_LOG(CV_LOG_WARN, c->kv, "recording a retry failed: %s",
           rc == CV_OK ? "" : PQerrorMessage(cv_pg_conn(c->pg)));
    if (!cv_pg_ok(c->pg)) {
        cv_pg_destroy(c->pg);
        c->pg = NULL;
    }
    return TXN_TRANSIENT;
}

/*
 * Event i failed on its own (c->fail_reason, c->fail_retriable) and its
 * route's retry policy decides: dead-letter it (cv_fail(), or no attempts
 * left), park it for a deferred retry, or keep it at the head of its
 * partition for a blocking one. Returns TXN_OK when it was dead-lettered
 * or parked (committed, the partition flows on), TXN_HELD when its
 * partition now waits, else what went wrong.
 */
static enum txn_result isolate(struct cv_consumer *c, size_t i)
{
    struct slot *s = &c->slots[i];
    const struct cv_retry_policy *pol = policy_of(c, s);
    /* no attempts left: this run did not call the handler */
    int failures =
        s->attempts >= pol->max_attempts ? s->attempts : s->attempts + 1;
    size_t handled;
    enum txn_result r;

    if (c->fail_retriable && failures < pol->max_attempts) {
        int64_t delay = cv_retry_delay_ms(pol, failures, rnd(&c->rng));
        struct part *p = s->part;

        if (pol->mode == CV_RETRY_DEFERRED || s->retry_id) {
            r = run_txn(c, i, i + 1, ACT_PARK, c->fail_reason, failures, delay,
                        &handled);
            if (r == TXN_OK)                                     /* metrics */
                cv_metrics_retried(c->domain->name, s->ce.type); /* metrics */
            if (r == TXN_OK)
                CV_LOG(CV_LOG_WARN, c->kv,
                       "attempt %d of %d of event %s failed (%s); parked, "
                       "next attempt in %lld ms",
                       failures, pol->max_attempts, s->ce.id, c->fail_reason,
                       (long long)delay);
            return r;
        }
        r = record_head_retry(c, s, failures, delay);
        if (r != TXN_OK)
            return r;
        cv_metrics_retried(c->domain->name, s->ce.type); /* metrics */
        p->retry_offset = s->offset;
        p->retry_attempts = failures;
        p->retry_due_ms = cv_wall_ms() + delay;
        snprintf(p->retry_error, sizeof(p->retry_error), "%.255s",
                 c->fail_reason);
        CV_LOG(CV_LOG_WARN, c->kv, "attempt %d of %d of event %s failed (%s)",
               failures, pol->max_attempts, s->ce.id, c->fail_reason);
        retry_hold(c, p);
        return TXN_HELD;
    }
    r = run_txn(c, i, i + 1, ACT_DEAD_LETTER, c->fail_reason, failures, 0,
                &handled);
    if (r == TXN_OK)
        count_committed(c, i, i + 1, 0);
    return r;
}

static void process(struct cv_consumer *c)
{
    struct cv_consume_range range;
    size_t handled;

    for (size_t i = 0; i < c->nslots; i++) {
        struct slot *s = &c->slots[i];
        s->bad = cv_ce_parse(s->hdrs, &s->ce, s->why, sizeof(s->why)) != CV_OK;
    }
    cv_consume_range_init(&range, c->nslots);
    c->known_bad = -1;
    while (range.lo < c->nslots && !(atomic_load(c->stop) > 1)) {
        size_t lo = range.lo;
        enum txn_result r;
        if ((int)lo == c->known_bad) {
            /* it failed on its own right after the events that just
             * committed: running it alone again would only repeat that */
            c->known_bad = -1;
            c->failed_first = c->failed_last = (int)lo;
            c->fail_retriable = c->known_retriable;
            memcpy(c->fail_reason, c->known_reason, sizeof(c->fail_reason));
            r = TXN_EVENT;
        } else {
            r = run_txn(c, lo, range.hi, ACT_HANDLE, NULL, 0, 0, &handled);
        }
        if (r == TXN_OK) {
            count_committed(c, lo, range.hi, handled);
            cv_consume_range_committed(&range);
            continue;
        }
        if (r == TXN_EVENT) {
            size_t k = (size_t)c->failed_first;
            if (c->failed_first == c->failed_last)
                CV_LOG(CV_LOG_WARN, c->kv,
                       "event %s at %s [%d] offset %lld failed (%s); "
                       "isolating it",
                       c->slots[k].ce.id, c->slots[k].part->topic,
                       (int)c->slots[k].partition,
                       (long long)c->slots[k].offset, c->fail_reason);
            else
                CV_LOG(CV_LOG_WARN, c->kv,
                       "a row set of events %d..%d of the batch failed (%s); "
                       "narrowing it down",
                       c->failed_first, c->failed_last, c->fail_reason);
            if (!cv_consume_range_failed(&range, k, (size_t)c->failed_last)) {
                if (c->failed_first == c->failed_last) {
                    c->known_bad = c->failed_first;
                    c->known_retriable = c->fail_retriable;
                    memcpy(c->known_reason, c->fail_reason,
                           sizeof(c->known_reason));
                }
                continue;
            }
            r = isolate(c, k);
            if (r == TXN_OK) {
                cv_consume_range_isolated(&range);
                continue;
            }
            if (r == TXN_HELD) {
                /* the rest of that partition waits with it */
                struct part *held = c->slots[k].part;
                size_t keep = k;
                for (size_t j = k; j < c->nslots; j++) {
                    if (c->slots[j].part == held)
                        slot_free(&c->slots[j]);
                    else
                        c->slots[keep++] = c->slots[j];
                }
                c->nslots = keep;
                range.lo = k;
                range.hi = range.bound = range.n = keep;
                continue;
            }
        }
        /* fenced, or Postgres trouble: what is stored is the truth */
        if (r == TXN_FENCED)
            atomic_fetch_add(&cv_stats.fenced, 1);
        else
            atomic_fetch_add(&cv_stats.retried, 1);
        if (r == TXN_TRANSIENT)
            sleep_ms(200);
        /* A revocation that came meanwhile is served by the next poll
         * (collect()), before anything is applied again: the slots go,
         * and only partitions still assigned are fetched back. */
        reseek(c);
        return;
    }
    drop_slots(c, 0);
}

/* Copies a bytea column (text format) into a malloc'ed buffer. */
static void *unescape(const PGresult *res, int row, int col, size_t *len)
{
    unsigned char *raw, *out;

    *len = 0;
    if (PQgetisnull(res, row, col))
        return NULL;
    raw =
        PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), len);
    if (!raw)
        return NULL;
    out = cv_malloc(*len + 1);
    memcpy(out, raw, *len);
    PQfreemem(raw);
    return out;
}

/*
 * Between batches: re-runs the group's parked retries that are due, one
 * transaction each. Any consumer of the group may run any of them; the
 * row lock taken in run_txn() makes sure only one does.
 */
static void run_parked(struct cv_consumer *c)
{
    const char *params[1] = {c->domain->group_id};
    struct cv_pg_error err;
    PGresult *res;

    if (!c->has_deferred || c->paused || !c->pg ||
        cv_mono_ms() < c->next_retry_poll)
        return;
    c->next_retry_poll = cv_mono_ms() + CV_RETRY_POLL_MS;
    res = cv_pg_exec(c->pg,
                     "SELECT id, topic, partition, \"offset\", key, "
                     "headers::text, value, attempts, last_error, event_type "
                     "FROM conveyor.retries WHERE group_id = $1 AND parked "
                     "AND next_attempt_at <= now() "
                     "ORDER BY next_attempt_at, id LIMIT 100",
                     1, params, &err);
    if (!res) {
        CV_LOG(CV_LOG_WARN, c->kv, "looking for due retries: %s", err.message);
        if (!cv_pg_ok(c->pg)) {
            cv_pg_destroy(c->pg);
            c->pg = NULL;
        }
        return;
    }
    for (int row = 0; row < PQntuples(res) && !atomic_load(c->stop); row++) {
        struct slot *s;
        size_t handled;
        enum txn_result r;

        if (cv_control_route_paused(c->control, PQgetvalue(res, row, 9)))
            continue; /* its route is switched off: it waits */
        if (!c->slots_cap) {
            c->slots_cap = (size_t)c->domain->batch_size;
            c->slots = cv_realloc(c->slots, c->slots_cap * sizeof(*c->slots));
        }
        s = &c->slots[0];
        memset(s, 0, sizeof(*s));
        c->nslots = 1;
        s->retry_id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
        s->partition = atoi(PQgetvalue(res, row, 2));
        s->part = part_find(c, PQgetvalue(res, row, 1), s->partition, 1);
        s->offset = strtoll(PQgetvalue(res, row, 3), NULL, 10);
        s->key = unescape(res, row, 4, &s->key_len);
        s->hdrs = cv_headers_from_json(PQgetvalue(res, row, 5),
                                       (size_t)PQgetlength(res, row, 5));
        s->value = unescape(res, row, 6, &s->len);
        s->attempts = atoi(PQgetvalue(res, row, 7));
        snprintf(s->last_error, sizeof(s->last_error), "%s",
                 PQgetvalue(res, row, 8));
        s->bad = cv_ce_parse(s->hdrs, &s->ce, s->why, sizeof(s->why)) != CV_OK;
        r = run_txn(c, 0, 1, ACT_HANDLE, NULL, 0, 0, &handled);
        if (r == TXN_OK) {
            count_committed(c, 0, 1, handled);
            CV_LOG(CV_LOG_INFO, c->kv, "event %s applied at attempt %d",
                   s->ce.id, s->attempts + 1);
        } else if (r == TXN_EVENT) {
            r = isolate(c, 0);
        }
        drop_slots(c, 0);
        if (r == TXN_TRANSIENT || r == TXN_WAITED)
            break;
    }
    PQclear(res);
}

int cv_consumer_watchdog(struct cv_consumer *c)
{
    static const char *const head_sql =
        "INSERT INTO conveyor.retries (group_id, topic, partition, "
        " \"offset\", event_id, event_type, value, parked, attempts,"
        " next_attempt_at, last_error) VALUES ($1, $2, $3, $4, $5, $6,"
        " ''::bytea, false, $7, now() + $8 * interval '1 millisecond', $9)"
        " ON CONFLICT (group_id, topic, partition, \"offset\") DO UPDATE"
        " SET attempts = EXCLUDED.attempts,"
        " next_attempt_at = EXCLUDED.next_attempt_at,"
        " last_failed_at = now(), last_error = EXCLUDED.last_error";
    static const char *const parked_sql =
        "UPDATE conveyor.retries SET attempts = $2,"
        " next_attempt_at = now() + $3 * interval '1 millisecond',"
        " last_failed_at = now(), last_error = $4 WHERE id = $1";
    struct slot s;
    const struct cv_retry_policy *pol;
    char part[16], off[24], att[16], delay[24], id[24], reason[128];
    char errstr[256];
    struct cv_pg_error err;
    struct cv_pg *pg;
    int timeout, failures;
    int64_t wait;

    pthread_mutex_lock(&c->watch_lock);
    if (!c->watch_deadline || cv_mono_ms() < c->watch_deadline) {
        pthread_mutex_unlock(&c->watch_lock);
        return 0;
    }
    /* the handler cannot return past watch_end() while we hold the lock,
     * so the slot is still its own: copy what we need (not the buffers) */
    s = *c->watch_slot;
    s.msg = NULL;
    s.hdrs = NULL;
    s.key = s.value = NULL;
    timeout = c->watch_timeout_ms;
    pthread_mutex_unlock(&c->watch_lock);

    pol = policy_of(c, &s);
    failures = s.attempts + 1;
    wait = cv_retry_delay_ms(pol, failures, 0.5); /* c->rng is the
                                                     consumer thread's */
    snprintf(reason, sizeof(reason),
             "handler timeout: still running after %d ms", timeout);
    CV_LOG(CV_LOG_ERROR, c->kv,
           "handler of event %s (%s [%d] offset %lld, attempt %d of %d) "
           "still running after %d ms: cutting it off, the process exits "
           "with status %d",
           s.ce.id, s.part->topic, (int)s.partition, (long long)s.offset,
           failures, pol->max_attempts, timeout, CV_EXIT_HANDLER_TIMEOUT);
    snprintf(part, sizeof(part), "%d", (int)s.partition);
    snprintf(off, sizeof(off), "%lld", (long long)s.offset);
    snprintf(att, sizeof(att), "%d", failures);
    snprintf(delay, sizeof(delay), "%lld", (long long)wait);
    snprintf(id, sizeof(id), "%lld", (long long)s.retry_id);
    pg = cv_pg_connect(c->cfg->pg_conninfo, "conveyor/watchdog",
                       c->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
    if (!pg) {
        CV_LOG(CV_LOG_ERROR, c->kv, "recording the attempt: %s", errstr);
    } else {
        const char *params[9] = {
            c->domain->group_id, s.part->topic, part,  off,   s.ce.id,
            s.ce.type,           att,           delay, reason};
        const char *parked[4] = {id, att, delay, reason};
        int rc = s.retry_id ? cv_pg_command(pg, parked_sql, 4, parked, &err)
                            : cv_pg_command(pg, head_sql, 9, params, &err);
        if (rc != CV_OK)
            CV_LOG(CV_LOG_ERROR, c->kv, "recording the attempt: %s",
                   err.message);
        else
            CV_LOG(CV_LOG_WARN, c->kv,
                   "attempt %d of event %s recorded; it runs again in "
                   "%lld ms after a restart",
                   failures, s.ce.id, (long long)wait);
        cv_pg_destroy(pg);
    }
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
    cv_observe_consumer_add(c->rk, c->domain->group_id); /* metrics */
    ack(c, 0);
    while (!atomic_load(stop)) {
        int64_t t0, t1;
        cv_health_beat(c, "consumer", c->name, 0); /* metrics */
        if (c->pg)
            apply_controls(c);
        if (!c->pg)
            continue; /* stopping before Postgres came back */
        retry_release(c);
        run_parked(c);
        t0 = cv_mono_us();
        collect(c);
        t1 = cv_mono_us();
        if (c->nslots) {
            size_t n = c->nslots;
            process(c);
            CV_LOG(CV_LOG_DEBUG, c->kv,
                   "batch of %zu: collect %lld us, "
                   "apply %lld us",
                   n, (long long)(t1 - t0), (long long)(cv_mono_us() - t1));
        }
    }
    drop_slots(c, 0);
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
    cv_observe_consumer_remove(c->rk); /* metrics */
    rd_kafka_consumer_close(c->rk);
    return CV_OK;
}

void cv_consumer_destroy(struct cv_consumer *c)
{
    if (!c)
        return;
    drop_slots(c, 0);
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
    free(c->slots);
    free(c->idx);
    pthread_mutex_destroy(&c->watch_lock);
    pthread_mutex_destroy(&c->wake_lock);
    pthread_cond_destroy(&c->wake_cond);
    free(c);
}
