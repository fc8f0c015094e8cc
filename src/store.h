/*
 * store.h - the consumer's statements on Postgres: one function per
 * statement on the conveyor.* tables, and the session they run on.
 *
 * A schema change to conveyor.retries, conveyor.inbox, ... is made here
 * and nowhere else in the consumer. Functions take plain values (what to
 * write, and for a statement queued in a pipeline the tag it carries),
 * never a consumer or a batch; they know nothing of tags' meaning.
 *
 * Two kinds: cv_store_*_load/_init/_insert/_due and cv_store_lock_holders()
 * run now (not in pipeline mode) and fill in err; the others queue their
 * statement in the pipeline begun on pg and return CV_ERR only if libpq
 * could not queue it (the connection is gone): their errors come back from
 * cv_pg_pipe_sync() with their tag.
 */
#ifndef CV_STORE_H
#define CV_STORE_H

#include <stdatomic.h>

#include "config.h"
#include "event.h"
#include "pg.h"

/* An event as conveyor.retries and conveyor.dead_letters keep it. */
struct cv_store_event {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL: no key */
    size_t key_len;
    const void *value; /* NULL: no value */
    size_t len;
    const rd_kafka_headers_t *hdrs; /* NULL: none */
    const char *event_id;           /* "" when the headers lack it */
    const char *event_type;         /* likewise */
};

/*
 * Connects with the consumer's session settings: statement and lock
 * timeouts from cfg, and an idle-in-transaction timeout, so that a
 * consumer stopped mid-transaction holds no row locks for long. Retries
 * with backoff (logged with log_kv) until it succeeds or *stop is set;
 * returns NULL only then.
 */
struct cv_pg *cv_store_connect(const struct cv_config *cfg,
                               const char *app_name, const char *log_kv,
                               atomic_int *stop, const void *beat_key);

/* ---- assignment: conveyor.consumer_offsets, retention gaps ---- */

/* Calls fn with every stored offset of the group. */
int cv_store_offsets_load(struct cv_pg *pg, const char *group,
                          void (*fn)(void *opaque, const char *topic,
                                     int32_t partition, int64_t next_offset),
                          void *opaque, struct cv_pg_error *err);

/* A blocking retry: the event at offset waits at its partition's head. */
struct cv_store_head_retry {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int attempts;   /* failed so far */
    int64_t due_ms; /* wall clock of the next attempt */
    const char *last_error;
};

/* Calls fn with every blocking (not parked) retry of the group. */
int cv_store_head_retries_load(struct cv_pg *pg, const char *group,
                               void (*fn)(void *opaque,
                                          const struct cv_store_head_retry *r),
                               void *opaque, struct cv_pg_error *err);

/* Stores next_offset for a partition that has none yet. */
int cv_store_offsets_init(struct cv_pg *pg, const char *group,
                          const char *topic, int32_t partition,
                          int64_t next_offset, struct cv_pg_error *err);

/* Records that offsets lost_from..lost_to - 1 were deleted by the broker
 * before they were processed (once per gap). */
int cv_store_gap_insert(struct cv_pg *pg, const char *group, const char *topic,
                        int32_t partition, int64_t lost_from, int64_t lost_to,
                        struct cv_pg_error *err);

/* ---- the batch transaction (queued in the pipeline) ---- */

/* Locks a parked retry's row if nobody else holds it and it still has
 * attempts failed attempts: one row, or none. */
int cv_store_retry_claim(struct cv_pg *pg, int tag, int64_t retry_id,
                         int attempts);

/* Which of ids (an array literal) the group's inbox holds: one row per
 * id found, with the id. One index probe per id (see store.c). */
int cv_store_inbox_lookup(struct cv_pg *pg, int tag, const char *group,
                          const struct cv_pg_array *ids);

/* Reads the rows of a claim and an inbox look-up: pass
 * cv_store_found_rows and a struct cv_store_found to cv_pg_pipe_sync(). */
struct cv_store_found {
    int claim_tag, lookup_tag; /* what they were sent with */
    int claimed;               /* rows the claim locked; untouched if none */
    void (*found)(void *opaque, const char *event_id); /* per id found */
    void *opaque;
};
void cv_store_found_rows(void *found, int tag, PGresult *res);

/* Adds ids (an array literal) to the group's inbox. */
int cv_store_inbox_insert(struct cv_pg *pg, int tag, const char *group,
                          const struct cv_pg_array *ids);

/* The compare-and-set of the group's offsets (I-3): for each partition
 * (topics[k], partitions[k]) from expected[k] to next[k]; raises
 * CV_SQLSTATE_FENCED if a stored offset is not the expected one. */
int cv_store_offsets_advance(struct cv_pg *pg, int tag, const char *group,
                             const struct cv_pg_array *topics,
                             const struct cv_pg_array *partitions,
                             const struct cv_pg_array *expected,
                             const struct cv_pg_array *next);

/*
 * Dead-letters ev: a row in conveyor.dead_letters with reason and attempts
 * (its retry row, if any, goes, and keeps its first failure time), and a
 * copy of the raw event in the outbox for dlq_topic with its original
 * headers plus where and why it failed.
 */
int cv_store_dead_letter(struct cv_pg *pg, int tag, const char *group,
                         const char *dlq_topic, const struct cv_store_event *ev,
                         const char *reason, int attempts);

/*
 * Records a failed attempt of ev in conveyor.retries: parked (deferred: its
 * offset moves on in the same transaction) or waiting at the head of its
 * partition (blocking). The row keeps a copy of the event and the attempt
 * count; the next attempt is delay_ms from now.
 */
int cv_store_retry_upsert(struct cv_pg *pg, int tag, const char *group,
                          const struct cv_store_event *ev, int parked,
                          int attempts, int64_t delay_ms, const char *reason);

/* Deletes the retry row of an event that was applied at last. */
int cv_store_retry_delete(struct cv_pg *pg, int tag, const char *group,
                          const char *topic, int32_t partition, int64_t offset);

/* The columns of emitted events buffered for conveyor.outbox: one array
 * literal each, in this order. */
enum {
    CV_OB_TOPIC,
    CV_OB_KEY,
    CV_OB_VALUE,
    CV_OB_EVENT_ID,
    CV_OB_EVENT_TYPE,
    CV_OB_SOURCE,
    CV_OB_EVENT_TIME,
    CV_OB_TENANT,
    CV_OB_TRACEPARENT,
    CV_OB_COLUMNS
};

/* Inserts the outbox rows held by the arrays cols[CV_OB_COLUMNS]. */
int cv_store_outbox_insert(struct cv_pg *pg, int tag,
                           const struct cv_pg_array *cols);

/* Wakes the outbox relay (NOTIFY conveyor_outbox) at commit. */
int cv_store_outbox_notify(struct cv_pg *pg, int tag, const char *domain);

/* ---- between batches ---- */

/* A parked retry that is due, read back from conveyor.retries. */
struct cv_store_parked {
    int64_t id;
    const char *topic;
    int32_t partition;
    int64_t offset;
    void *key; /* malloc'ed, NULL if none: fn may take it (set NULL) */
    size_t key_len;
    void *value; /* likewise */
    size_t len;
    rd_kafka_headers_t *hdrs; /* likewise */
    int attempts;
    const char *last_error;
    const char *event_type;
};

/*
 * Calls fn for the group's parked retries that are due, oldest first, at
 * most 100, until fn returns non-zero. What fn did not take is freed after
 * it returns. fn may run other statements on pg.
 */
int cv_store_retries_due(struct cv_pg *pg, const char *group,
                         int (*fn)(void *opaque, struct cv_store_parked *p),
                         void *opaque, struct cv_pg_error *err);

/* Names the likely holders of a lock the consumer waited for: the oldest
 * open transactions that wrote or locked rows, at most limit, as "pid N
 * (application, state, Ns); ..." in out ("" if none or pg is down). */
void cv_store_lock_holders(struct cv_pg *pg, int limit, char *out, size_t size);

#endif
