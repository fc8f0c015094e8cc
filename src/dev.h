/*
 * dev.h - the dev broker: librdkafka's mock cluster speaking the Kafka
 * protocol on loopback, with the topology's topics created up front.
 *
 * Limits of the mock cluster in librdkafka 2.0.2 (see README): at most
 * 5 MiB or 100,000 message sets per partition, beyond which it silently
 * drops the oldest; a new consumer group takes about 3 s to join. It is for
 * the demo and the tests; production points at a real Kafka cluster.
 * More of its behaviour (auto-creation, one message set per fetch, no
 * offsets by timestamp) is described at the top of dev.c.
 *
 * The broker runs on librdkafka's own threads: the caller need not poll it.
 * Functions may be called from any thread, but not concurrently with
 * cv_dev_broker_stop().
 */
#ifndef CV_DEV_H
#define CV_DEV_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "topology.h"

struct cv_dev_broker;

/* Starts a cluster of nbrokers (1 if <= 0) and creates every topic of the
 * topology (t may be NULL), plus each domain's DLQ topic. */
struct cv_dev_broker *cv_dev_broker_start(const struct cv_topology *t,
                                          int nbrokers, char *errstr,
                                          size_t errstr_size);
/* "127.0.0.1:port,..." owned by the broker. */
const char *cv_dev_broker_bootstraps(const struct cv_dev_broker *db);
/* Takes broker id (1..n) down or up, for outage tests. */
int cv_dev_broker_set_down(struct cv_dev_broker *db, int broker_id, int down);
void cv_dev_broker_stop(struct cv_dev_broker *db);

/* Number of brokers in the cluster. */
int cv_dev_broker_count(const struct cv_dev_broker *db);

/*
 * Creates one more topic (partitions >= 1). Returns CV_OK, also when the
 * topic already exists with any partition count, or CV_ERR.
 */
int cv_dev_broker_create_topic(struct cv_dev_broker *db, const char *topic,
                               int partitions, char *errstr,
                               size_t errstr_size);

/* The mock cluster itself, for tests that inject errors or delays with the
 * rd_kafka_mock_* API. Owned by the broker. */
rd_kafka_mock_cluster_t *cv_dev_broker_mock(struct cv_dev_broker *db);

#endif
