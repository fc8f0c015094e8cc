/*
 * consume_fetch.c - collecting a batch from Kafka: the poll up to
 * batch_size events or batch_wait_ms, what is dropped on the way (events
 * of revoked, stopped or held partitions, events already seen), the
 * waker thread that keeps librdkafka's fetchers busy, and the broker
 * probes and errors that `conveyor status` reports.
 */
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "kafka.h"
#include "log.h"

#include "consume_int.h"

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
void *consumer_waker_main(void *arg)
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

/* Client errors, served by rd_kafka_consumer_poll() in the consumer's
 * thread: a lost connection is the first sign of a broker outage. */
void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason,
                       void *opaque)
{
    struct cv_consumer *c = opaque;

    cv_kafka_log_error(rk, err, reason);
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT ||
        err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
        err == RD_KAFKA_RESP_ERR__RESOLVE)
        set_trouble(c, reason);
}

static void consumer_error(struct cv_consumer *c, rd_kafka_message_t *msg)
{
    if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && msg->rkt) {
        struct partition *p = consumer_partition_of(c, msg);
        int64_t low = 0, high = 0;
        char errstr[256];
        if (p && !p->stopped &&
            cv_kafka_watermarks(c->rk, p->topic, p->partition, &low, &high,
                                10000, errstr, sizeof(errstr)) == CV_OK &&
            p->next < low) {
            consumer_gap_found(c, p, low);
            return;
        }
    }
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    CV_LOG(CV_LOG_WARN, c->kv, "kafka: %s", rd_kafka_message_errstr(msg));
    set_trouble(c, rd_kafka_message_errstr(msg));
}

/* Polls up to batch_size events, waiting at most batch_wait_ms after the
 * first one. */
void consumer_collect(struct cv_consumer *c)
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
                    consumer_event_free(&c->events[i]);
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
        struct partition *p = consumer_partition_of(c, msg);
        if (!p || !p->assigned || p->stopped || p->held ||
            msg->offset < p->seen) {
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (consumer_route_paused(c, msg)) {
            consumer_hold(c, p, msg->offset);
            rd_kafka_message_destroy(msg);
            continue;
        }
        if (p->retry_offset == msg->offset && cv_wall_ms() < p->retry_due_ms) {
            consumer_retry_hold(c, p);
            rd_kafka_message_destroy(msg);
            continue;
        }
        p->seen = msg->offset + 1;
        if (c->nevents == c->events_cap) {
            c->events_cap = c->events_cap ? c->events_cap * 2 : max;
            c->events =
                cv_realloc(c->events, c->events_cap * sizeof(*c->events));
        }
        consumer_event_from_msg(&c->events[c->nevents++], msg, p);
        if (c->nevents == 1)
            deadline = cv_mono_ms() + c->domain->batch_wait_ms;
    }
}
