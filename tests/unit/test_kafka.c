/*
 * test_kafka.c - the confs kafka.c builds, without a network.
 *
 * Reads the assembled conf back with rd_kafka_conf_get(): the consumer's
 * forced settings win over kafka.properties and overrides, defaults yield
 * to kafka.properties, a bad key or value fails naming the key, and "dev"
 * without an address is refused. The only client created is one whose
 * settings conflict, which rd_kafka_new() refuses before any connection.
 */
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "test.h"

static char got[512];

/* The value of key in conf, or "<unset>". */
static const char *get(const rd_kafka_conf_t *conf, const char *key)
{
    size_t size = sizeof(got);
    if (rd_kafka_conf_get(conf, key, got, &size) != RD_KAFKA_CONF_OK)
        return "<unset>";
    return got;
}

static void test_consumer_forced(void)
{
    struct cv_kv props[] = {
        {"enable.auto.commit", "true"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "true"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"fetch.wait.max.ms", "50"},
    };
    struct cv_config cfg = {0};
    const char *const overrides[] = {"enable.auto.offset.store", "true",
                                     "group.id", "someone.else", NULL};
    char errstr[512] = "";
    rd_kafka_conf_t *conf;

    cfg.kafka_brokers = "127.0.0.1:9092";
    cfg.kafka_props = props;
    cfg.kafka_props_n = CV_ARRAY_SIZE(props);
    conf = cv_kafka_consumer_conf_new(&cfg, "conveyor.leads", overrides, errstr,
                                      sizeof(errstr));
    CHECK(conf != NULL);
    if (!conf) {
        fprintf(stderr, "%s\n", errstr);
        return;
    }
    CHECK_STR(get(conf, "bootstrap.servers"), "127.0.0.1:9092");
    CHECK_STR(get(conf, "group.id"), "conveyor.leads");
    CHECK_STR(get(conf, "enable.auto.commit"), "false");
    CHECK_STR(get(conf, "enable.auto.offset.store"), "false");
    CHECK_STR(get(conf, "auto.offset.reset"), "error");
    CHECK_STR(get(conf, "enable.partition.eof"), "false");
    CHECK_STR(get(conf, "partition.assignment.strategy"), "range,roundrobin");
    /* defaults where the user said nothing, the user's value elsewhere */
    CHECK_STR(get(conf, "session.timeout.ms"), "6000");
    CHECK_STR(get(conf, "heartbeat.interval.ms"), "1000");
    CHECK_STR(get(conf, "fetch.wait.max.ms"), "50");
    CHECK_STR(get(conf, "client.id"), "conveyor");
    rd_kafka_conf_destroy(conf);
}

static void test_consumer_user_timeouts(void)
{
    struct cv_kv props[] = {
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "2500"},
    };
    struct cv_config cfg = {0};
    char errstr[512] = "";
    rd_kafka_conf_t *conf;

    cfg.kafka_brokers = "kafka:9092";
    cfg.kafka_props = props;
    cfg.kafka_props_n = CV_ARRAY_SIZE(props);
    conf = cv_kafka_consumer_conf_new(&cfg, "g", NULL, errstr, sizeof(errstr));
    CHECK(conf != NULL);
    if (!conf)
        return;
    CHECK_STR(get(conf, "session.timeout.ms"), "10000");
    CHECK_STR(get(conf, "heartbeat.interval.ms"), "2500");
    rd_kafka_conf_destroy(conf);

    conf = cv_kafka_consumer_conf_new(&cfg, "", NULL, errstr, sizeof(errstr));
    CHECK(conf == NULL);
    CHECK_CONTAINS(errstr, "group.id");
}

static void test_bad_property(void)
{
    struct cv_kv unknown[] = {{"no.such.property", "1"}};
    struct cv_kv badvalue[] = {{"linger.ms", "soon"}};
    struct cv_config cfg = {0};
    const char *const badoverride[] = {"batch.num.messages", "-5", NULL};
    char errstr[512];
    rd_kafka_conf_t *conf;

    cfg.kafka_brokers = "127.0.0.1:9092";
    cfg.kafka_props = unknown;
    cfg.kafka_props_n = 1;
    errstr[0] = '\0';
    conf = cv_kafka_consumer_conf_new(&cfg, "g", NULL, errstr, sizeof(errstr));
    CHECK(conf == NULL);
    CHECK_CONTAINS(errstr, "no.such.property");
    CHECK_CONTAINS(errstr, "kafka.properties");

    cfg.kafka_props = badvalue;
    errstr[0] = '\0';
    conf = cv_kafka_producer_conf_new(&cfg, NULL, NULL, errstr, sizeof(errstr));
    CHECK(conf == NULL);
    CHECK_CONTAINS(errstr, "linger.ms");

    cfg.kafka_props_n = 0;
    errstr[0] = '\0';
    conf = cv_kafka_conf_new(&cfg, badoverride, errstr, sizeof(errstr));
    CHECK(conf == NULL);
    CHECK_CONTAINS(errstr, "batch.num.messages");

    /* the constructors pass the same errors on */
    cfg.kafka_props = unknown;
    cfg.kafka_props_n = 1;
    errstr[0] = '\0';
    CHECK(cv_kafka_producer_new(&cfg, NULL, errstr, sizeof(errstr)) == NULL);
    CHECK_CONTAINS(errstr, "no.such.property");
    errstr[0] = '\0';
    CHECK(cv_kafka_consumer_new(&cfg, "g", NULL, errstr, sizeof(errstr)) ==
          NULL);
    CHECK_CONTAINS(errstr, "no.such.property");
}

static void test_producer_precedence(void)
{
    struct cv_kv props[] = {
        {"queue.buffering.max.ms", "50"}, /* alias of linger.ms */
        {"batch.num.messages", "500"},
        {"enable.idempotence", "false"},
    };
    struct cv_config cfg = {0};
    const char *const defaults[] = {"batch.num.messages", "10000",
                                    "compression.codec", "lz4", NULL};
    const char *const overrides[] = {"enable.idempotence", "true", NULL};
    char errstr[512] = "";
    rd_kafka_conf_t *conf;

    /* producer defaults alone */
    conf = cv_kafka_producer_conf_new(NULL, NULL, NULL, errstr, sizeof(errstr));
    CHECK(conf != NULL);
    if (!conf)
        return;
    CHECK_STR(get(conf, "enable.idempotence"), "true");
    CHECK_STR(get(conf, "linger.ms"), "5");
    CHECK_STR(get(conf, "partitioner"), "murmur2_random");
    CHECK_STR(get(conf, "compression.codec"), "zstd");
    /* librdkafka reports an unset string property as not found */
    CHECK_STR(get(conf, "bootstrap.servers"), "<unset>");
    rd_kafka_conf_destroy(conf);

    cfg.kafka_brokers = "a:1,b:2";
    cfg.kafka_props = props;
    cfg.kafka_props_n = CV_ARRAY_SIZE(props);
    conf = cv_kafka_producer_conf_new(&cfg, defaults, overrides, errstr,
                                      sizeof(errstr));
    CHECK(conf != NULL);
    if (!conf)
        return;
    CHECK_STR(get(conf, "bootstrap.servers"), "a:1,b:2");
    CHECK_STR(get(conf, "linger.ms"), "50");
    CHECK_STR(get(conf, "batch.num.messages"), "500");
    CHECK_STR(get(conf, "compression.codec"), "lz4");
    CHECK_STR(get(conf, "enable.idempotence"), "true");
    rd_kafka_conf_destroy(conf);
}

static void test_dev_brokers(void)
{
    struct cv_config cfg = {0};
    const char *const overrides[] = {"bootstrap.servers", "127.0.0.1:40000",
                                     NULL};
    char errstr[512] = "";
    rd_kafka_conf_t *conf;

    cfg.kafka_brokers = "dev";
    conf = cv_kafka_conf_new(&cfg, NULL, errstr, sizeof(errstr));
    CHECK(conf == NULL);
    CHECK_CONTAINS(errstr, "dev");

    conf = cv_kafka_conf_new(&cfg, overrides, errstr, sizeof(errstr));
    CHECK(conf != NULL);
    if (conf) {
        CHECK_STR(get(conf, "bootstrap.servers"), "127.0.0.1:40000");
        rd_kafka_conf_destroy(conf);
    }
}

static void test_client_refused(void)
{
    /* idempotence needs acks=all: rd_kafka_new() says no, offline */
    struct cv_kv props[] = {{"acks", "1"}};
    struct cv_config cfg = {0};
    char errstr[512] = "";

    cfg.kafka_brokers = "127.0.0.1:9";
    cfg.kafka_props = props;
    cfg.kafka_props_n = 1;
    CHECK(cv_kafka_producer_new(&cfg, NULL, errstr, sizeof(errstr)) == NULL);
    CHECK_CONTAINS(errstr, "acks");
}

int main(void)
{
    /* Shadowed-property warnings are expected; keep the output to failures. */
    cv_log_setup(CV_LOG_ERROR, CV_LOG_LOGFMT);
    test_consumer_forced();
    test_consumer_user_timeouts();
    test_bad_property();
    test_producer_precedence();
    test_dev_brokers();
    test_client_refused();
    TEST_DONE();
}
