/*
 * consume_int.h - the insides of a domain consumer, shared by its files
 * and by nothing else (the public face is consume.h).
 *
 * The consumer is split by concern, and calls only go down this list:
 *
 *   consume.c          the loop and its lifecycle; process() bisects a
 *                      failed batch (bisect.h)
 *   consume_fetch.c    collecting a batch from Kafka
 *   consume_fail.c     an event that failed alone; parked retries
 *   consume_hold.c     partitions that wait: kill switch, blocking retries
 *   consume_batch.c    the batch's events and one transaction over them
 *   consume_assign.c   the partition table, assignment, seeking
 *   consume_watch.c    the handler timeout
 *
 * and below them all txn.h (the batch transaction), store.h (every
 * conveyor.* statement), pg.h and kafka.h. Outcomes are returned (enum
 * cv_txn_result, struct cv_blame), never left in struct cv_consumer.
 *
 * Everything here belongs to the consumer thread, except what the comments
 * say the watchdog's thread reads under watch_lock.
 */
#ifndef CV_CONSUME_INT_H
#define CV_CONSUME_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "consume.h"
#include "event.h"
#include "store.h"
#include "txn.h"

struct cv_control;
struct cv_decoder;

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

    char trouble[256];    /* what keeps it from working, for status */
    char pg_wait[512];    /* for status: batches rolled back after a wait */
    char wait_since[32];  /* RFC 3339: the first of a run of such waits */
    int wait_count;       /* batches rolled back since wait_since */
    int64_t wait_last_ms; /* monotonic: the last of them */
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

/* ---- the Postgres session, and small lookups every file uses ---- */

static inline int consumer_pg_connect(struct cv_consumer *c)
{
    c->pg = cv_store_connect(c->cfg, c->name, c->kv, c->stop, c);
    return c->pg ? CV_OK : CV_ERR;
}

static inline void consumer_pg_reset(struct cv_consumer *c)
{
    cv_pg_destroy(c->pg);
    c->pg = NULL;
    consumer_pg_connect(c);
}

static inline const struct cv_retry_policy *
consumer_policy_of(struct cv_consumer *c, const struct batch_event *e)
{
    const struct cv_topo_route *route =
        e->bad ? NULL : cv_topology_route(c->domain, e->ce.type);
    return route ? &route->retry : &c->domain->retry;
}

/* The event e as conveyor.retries and dead_letters keep it. */
static inline void consumer_store_event_of(const struct batch_event *e,
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

/* ---- consume_assign.c ---- */

/* The partition topic [partition], made (unassigned, no stored offset)
 * if create; NULL if not found. Partitions live as long as c. */
struct partition *consumer_partition(struct cv_consumer *c, const char *topic,
                                     int32_t partition, int create);
/* The partition of a fetched message (the last one found is remembered:
 * a poll returns runs of one partition). */
struct partition *consumer_partition_of(struct cv_consumer *c,
                                        const rd_kafka_message_t *msg);
/* Pauses one partition in librdkafka (fetching stops until resumed). */
void consumer_pause_one(struct cv_consumer *c, const struct partition *p);
/* Stops p: the broker deleted its events from p->next up to low. */
void consumer_gap_found(struct cv_consumer *c, struct partition *p,
                        int64_t low);
/* librdkafka's rebalance callback (opaque: the consumer). */
void consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *list, void *opaque);
void consumer_reseek(struct cv_consumer *c);

/* ---- consume_watch.c ---- */

void consumer_watch_begin(struct cv_consumer *c, const struct batch_event *e,
                          const struct cv_retry_policy *pol,
                          struct cv_event *ev);
void consumer_watch_end(struct cv_consumer *c, const struct cv_event *ev);

/* ---- consume_batch.c ---- */

/* Makes e the event of msg (which it then owns), fetched from p. */
void consumer_event_from_msg(struct batch_event *e, rd_kafka_message_t *msg,
                             struct partition *p);
void consumer_event_free(struct batch_event *e);
/* Frees the batch's events from index `from` on. */
void consumer_drop_events(struct cv_consumer *c, size_t from);
/* Queue one statement for event i, tagged with i (its pipeline tag). */
int consumer_dead_letter(struct cv_consumer *c, size_t i, const char *reason,
                         int attempts);
int consumer_record_retry(struct cv_consumer *c, size_t i, int tag, int parked,
                          int attempts, int64_t delay_ms, const char *reason);
enum cv_txn_result consumer_run_batch(struct cv_consumer *c, size_t lo,
                                      size_t hi, size_t *handled,
                                      struct cv_blame *out);
enum cv_txn_result consumer_txn_one(struct cv_consumer *c, size_t i,
                                    int (*send)(struct cv_consumer *c, size_t i,
                                                const void *arg),
                                    const void *arg, struct cv_blame *out);
/*
 * Forgets a run of lock waits once none has happened for CV_WAIT_SHOWN_MS:
 * until then `status` keeps saying which batch waited on what, even while
 * batches without the blocked rows commit. Called after every commit and
 * from the consumer's loop.
 */
void consumer_wait_expire(struct cv_consumer *c);
/* Counts a committed transaction of events [lo,hi) in cv_stats. */
void consumer_count_committed(struct cv_consumer *c, size_t lo, size_t hi,
                              size_t handled);

/* ---- consume_hold.c ---- */

/* The message's event type is routed in this domain and paused. */
int consumer_route_paused(struct cv_consumer *c, const rd_kafka_message_t *msg);
void consumer_hold(struct cv_consumer *c, struct partition *p, int64_t offset);
void consumer_retry_hold(struct cv_consumer *c, struct partition *p);
void consumer_retry_release(struct cv_consumer *c);
/* Writes this member's state (conveyor.consumer_state). */
void consumer_ack(struct cv_consumer *c, int paused);
void consumer_apply_controls(struct cv_consumer *c);

/* ---- consume_fail.c ---- */

enum cv_txn_result consumer_isolate(struct cv_consumer *c, size_t i,
                                    const struct cv_blame *why);
void consumer_run_parked(struct cv_consumer *c);

/* ---- consume_fetch.c ---- */

/* The waker thread (pthread_create; arg: the consumer). */
void *consumer_waker_main(void *arg);
/* librdkafka's error callback (opaque: the consumer). */
void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason,
                       void *opaque);
void consumer_collect(struct cv_consumer *c);

#endif
