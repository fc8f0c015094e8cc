/*
 * consume_assign.c - a consumer's partitions: the table of partitions it
 * has been assigned, the rebalance callback that prepares an assignment
 * (stored offsets created or checked against the log start, leaders
 * learnt), and seeking back to what Postgres stores.
 *
 * Postgres is the truth (I-1): on assignment and after a failed batch the
 * consumer seeks to the stored offsets. A stored offset below the log
 * start offset stops its partition (a retention gap), never skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "log.h"
#include "stats.h"

#include "consume_int.h"
#include "health.h"

struct partition *consumer_partition(struct cv_consumer *c, const char *topic,
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
struct partition *consumer_partition_of(struct cv_consumer *c,
                                        const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    struct partition *last = c->last_part; /* parts live as long as c */
    if (last && last->partition == msg->partition &&
        strcmp(last->topic, topic) == 0)
        return last;
    c->last_part = consumer_partition(c, topic, msg->partition, 0);
    return c->last_part;
}

void consumer_pause_one(struct cv_consumer *c, const struct partition *p)
{
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
    rd_kafka_pause_partitions(c->rk, one);
    rd_kafka_topic_partition_list_destroy(one);
}

void consumer_gap_found(struct cv_consumer *c, struct partition *p, int64_t low)
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
    struct partition *p = consumer_partition(opaque, topic, partition, 0);
    if (p)
        p->next = next_offset;
}

static void head_retry_loaded(void *opaque, const struct cv_store_head_retry *r)
{
    struct partition *p = consumer_partition(opaque, r->topic, r->partition, 0);
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
        struct partition *p = consumer_partition(c, list->elems[i].topic,
                                                 list->elems[i].partition, 1);
        p->next = -1;
        p->stopped = 0;
        p->held = p->retry_held = 0;
    }
    if (load_offsets(c, &err) != CV_OK)
        goto pg_fail;
    for (int i = 0; i < list->cnt; i++) {
        struct partition *p = consumer_partition(c, list->elems[i].topic,
                                                 list->elems[i].partition, 0);
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
            consumer_gap_found(c, p, low);
        list->elems[i].offset = p->next;
        p->seen = p->next;
    }
    return CV_OK;
pg_fail:
    CV_LOG(CV_LOG_WARN, c->kv, "loading stored offsets: %s", err.message);
    if (!cv_pg_ok(c->pg))
        consumer_pg_reset(c);
    return CV_ERR;
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
            struct partition *p = consumer_partition(
                c, md->topics[t].topic, md->topics[t].partitions[k].id, 0);
            if (p)
                p->leader = md->topics[t].partitions[k].leader;
        }
    rd_kafka_metadata_destroy(md);
}

void consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *list, void *opaque)
{
    struct cv_consumer *c = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        int64_t backoff = 200;
        while (prepare_assignment(c, list) != CV_OK) {
            if (atomic_load(c->stop))
                return;
            cv_health_beat(c, "consumer", c->name, 5000);
            struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000};
            nanosleep(&ts, NULL);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        for (int i = 0; i < list->cnt; i++)
            consumer_partition(c, list->elems[i].topic,
                               list->elems[i].partition, 0)
                ->assigned = 1;
        rd_kafka_assign(rk, list);
        learn_leaders(c);
        for (int i = 0; i < list->cnt; i++) {
            struct partition *p = consumer_partition(
                c, list->elems[i].topic, list->elems[i].partition, 0);
            if (p->stopped || c->paused)
                consumer_pause_one(c, p);
        }
        int_fast64_t zero = 0;
        atomic_compare_exchange_strong(&cv_stats.assigned_ms, &zero,
                                       cv_wall_ms());
        CV_LOG(CV_LOG_INFO, c->kv, "assigned %d partitions", list->cnt);
    } else {
        for (int i = 0; i < list->cnt; i++) {
            struct partition *p = consumer_partition(
                c, list->elems[i].topic, list->elems[i].partition, 0);
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
void consumer_reseek(struct cv_consumer *c)
{
    struct cv_pg_error err;
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_error_t *error;

    while (!atomic_load(c->stop)) {
        if (!c->pg && consumer_pg_connect(c) != CV_OK)
            return;
        if (load_offsets(c, &err) == CV_OK)
            break;
        CV_LOG(CV_LOG_WARN, c->kv, "re-reading stored offsets: %s",
               err.message);
        consumer_pg_reset(c);
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
