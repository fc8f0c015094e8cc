/*
 * kafka_committed.c - prints the offsets a consumer group has committed
 * in Kafka, as any Kafka tool sees them (a plain librdkafka client that
 * never joins the group): the check that Conveyor mirrors its offsets.
 *
 *   kafka_committed BROKERS GROUP TOPIC PARTITIONS
 *
 * One line per partition: "TOPIC PARTITION OFFSET" (-1001: none).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_conf_t *conf;
    rd_kafka_resp_err_t err;
    char errstr[512];
    rd_kafka_t *rk;
    int n;

    if (argc != 5) {
        fprintf(stderr, "usage: kafka_committed BROKERS GROUP TOPIC "
                        "PARTITIONS\n");
        return 2;
    }
    n = atoi(argv[4]);
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", argv[2], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    list = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(list, argv[3], p);
    err = rd_kafka_committed(rk, list, 10000);
    if (err) {
        fprintf(stderr, "committed: %s\n", rd_kafka_err2str(err));
        return 1;
    }
    for (int i = 0; i < list->cnt; i++)
        printf("%s %d %lld\n", list->elems[i].topic,
               (int)list->elems[i].partition, (long long)list->elems[i].offset);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    return 0;
}
