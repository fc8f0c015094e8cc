/*
 * consume_hold.c - partitions that wait: the kill switch (a paused domain
 * or route, control.h) and blocking retries (an event at its partition's
 * head until its next attempt is due).
 *
 * Pausing happens between batches, after the last one committed; resuming
 * seeks back to the stored offsets, so consumption goes on exactly where
 * it stopped.
 */
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "log.h"

#include "consume_int.h"

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
int consumer_route_paused(struct cv_consumer *c, const rd_kafka_message_t *msg)
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
void consumer_hold(struct cv_consumer *c, struct partition *p, int64_t offset)
{
    p->held = 1;
    consumer_pause_one(c, p);
    CV_LOG(CV_LOG_WARN, c->kv, "%s [%d] held at offset %lld: %s", p->topic,
           (int)p->partition, (long long)offset, cv_control_reason(c->control));
}

/* Pauses a partition whose head event waits for its blocking retry. */
void consumer_retry_hold(struct cv_consumer *c, struct partition *p)
{
    p->held = p->retry_held = 1;
    consumer_pause_one(c, p);
    CV_LOG(CV_LOG_INFO, c->kv,
           "%s [%d] waits at offset %lld for attempt %d in %lld ms", p->topic,
           (int)p->partition, (long long)p->retry_offset, p->retry_attempts + 1,
           (long long)(p->retry_due_ms - cv_wall_ms()));
}

/* Resumes the partitions whose blocking retry is due, at the stored
 * offset: the failed event is fetched again. */
void consumer_retry_release(struct cv_consumer *c)
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

void consumer_ack(struct cv_consumer *c, int paused)
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
void consumer_apply_controls(struct cv_consumer *c)
{
    int changed = cv_control_refresh(c->control, c->pg, cv_mono_ms());
    int want;
    int any_held = 0;

    if (changed < 0) {
        CV_LOG(CV_LOG_WARN, c->kv,
               "reading the kill switch failed; "
               "reconnecting");
        consumer_pg_reset(c);
        return;
    }
    if (cv_control_take_reseek(c->control) && !c->paused) {
        consumer_reseek(c);
        CV_LOG(CV_LOG_WARN, c->kv,
               "stored offsets rewound by a replay: "
               "re-seeking");
    }
    want = cv_control_domain_paused(c->control);
    if (want && !c->paused) {
        pause_assigned(c, 1, 0);
        c->paused = 1;
        consumer_ack(c, 1);
        CV_LOG(CV_LOG_WARN, c->kv, "paused (%s)",
               cv_control_reason(c->control));
    } else if (!want && c->paused) {
        pause_assigned(c, 0, 0);
        c->paused = 0;
        consumer_reseek(c);
        consumer_ack(c, 0);
        CV_LOG(CV_LOG_INFO, c->kv, "resumed");
    } else if (changed || cv_mono_ms() >= c->next_ack ||
               c->trouble_acked != c->trouble_seq) {
        consumer_ack(c, c->paused); /* what to say changed, or the heartbeat */
    }
    for (size_t i = 0; i < c->nparts; i++)
        any_held |= c->parts[i]->held;
    if (changed && any_held && !c->paused) {
        /* a route switch changed: release every hold; a partition whose
         * next event is still paused is held again when it is fetched */
        pause_assigned(c, 0, 1);
        consumer_reseek(c);
        CV_LOG(CV_LOG_INFO, c->kv, "route switches changed: holds released");
    }
}
