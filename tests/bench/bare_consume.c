/*
 * bare_consume.c - the raw consume limit: how fast a bare librdkafka
 * consumer reads a topic from this broker, with nothing else to do.
 *
 * No group: every partition of the topic is assigned (rd_kafka_assign) from
 * its log start offset, and messages are counted and dropped until the sum
 * of the high watermarks taken before the start has been read. The clock
 * runs from the assign to the last message. The consumer uses librdkafka's
 * fetch defaults, as `conveyor run` does, so the number is the ceiling of
 * the engine's Kafka side, not of Kafka in general.
 *
 * It also reports the log start offsets: a partition whose start is not 0
 * has been trimmed by the broker (the dev broker drops the oldest message
 * sets past its retention), which makes a benchmark run meaningless.
 *
 * Usage: bare_consume BOOTSTRAP TOPIC [TIMEOUT_S]
 * Output (stdout, one line, key=value): partitions, messages, trimmed
 * (partitions whose log start offset is not 0), seconds, msgs_per_s.
 * Exit 0 when every message was read, 1 otherwise, 2 on usage errors.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bare_consume: %s=%s: %s\n", key, value, errstr);
        return -1;
    }
    return 0;
}

/* The topic's partition count from the broker's metadata, or -1. */
static int partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err;
    int n = -1;

    err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err) {
        fprintf(stderr, "bare_consume: metadata of %s: %s\n", topic,
                rd_kafka_err2str(err));
    } else if (md->topic_cnt == 1 && !md->topics[0].err) {
        n = md->topics[0].partition_cnt;
    } else {
        fprintf(stderr, "bare_consume: no topic %s\n", topic);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

int main(int argc, char **argv)
{
    char errstr[512];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *list = NULL;
    const char *topic;
    int64_t expected = 0, got = 0, t0, t1, deadline;
    int nparts, trimmed = 0, rc = 1;
    long timeout_s = 600;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: bare_consume BOOTSTRAP TOPIC [TIMEOUT_S]\n");
        return 2;
    }
    topic = argv[2];
    if (argc == 4)
        timeout_s = strtol(argv[3], NULL, 10);

    conf = rd_kafka_conf_new();
    /* A group id is required to create a consumer; with assign() and no
     * commits it never joins the group. */
    if (set(conf, "bootstrap.servers", argv[1]) ||
        set(conf, "group.id", "conveyor.bench.bare") ||
        set(conf, "enable.auto.commit", "false") ||
        set(conf, "enable.auto.offset.store", "false") ||
        set(conf, "enable.partition.eof", "false") ||
        set(conf, "auto.offset.reset", "error"))
        goto out;
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "bare_consume: %s\n", errstr);
        goto out;
    }
    conf = NULL; /* owned by rk */
    rd_kafka_poll_set_consumer(rk);

    nparts = partition_count(rk, topic);
    if (nparts < 1)
        goto out;
    list = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++) {
        int64_t low, high;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 10000);
        if (err) {
            fprintf(stderr, "bare_consume: watermarks of %s [%d]: %s\n", topic,
                    p, rd_kafka_err2str(err));
            goto out;
        }
        if (low != 0)
            trimmed++;
        expected += high - low;
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = low;
    }

    t0 = mono_us();
    t1 = t0;
    deadline = t0 + (int64_t)timeout_s * 1000000;
    if (rd_kafka_assign(rk, list)) {
        fprintf(stderr, "bare_consume: assign failed\n");
        goto out;
    }
    while (got < expected && mono_us() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg)
            continue;
        if (msg->err)
            fprintf(stderr, "bare_consume: %s\n", rd_kafka_message_errstr(msg));
        else
            got++;
        rd_kafka_message_destroy(msg);
    }
    t1 = mono_us();
    rd_kafka_assign(rk, NULL);

    {
        double secs = (double)(t1 - t0) / 1e6;
        printf("partitions=%d messages=%lld expected=%lld trimmed=%d "
               "seconds=%.3f msgs_per_s=%.0f\n",
               nparts, (long long)got, (long long)expected, trimmed, secs,
               secs > 0 ? (double)got / secs : 0.0);
    }
    rc = got == expected ? 0 : 1;
    if (rc)
        fprintf(stderr, "bare_consume: read %lld of %lld messages in %lds\n",
                (long long)got, (long long)expected, timeout_s);
out:
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return rc;
}
