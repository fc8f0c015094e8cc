/*
 * dev.c - the dev broker: librdkafka's mock cluster with the topology's
 * topics created up front.
 *
 * The mock cluster needs an rd_kafka_t for its bookkeeping; a producer with
 * no bootstrap servers hosts it and is never used for anything else. The
 * cluster runs on its own thread and listens on 127.0.0.1 on ephemeral
 * ports (one per broker, ids 1..n); 2.0.2 has no way to ask for a fixed
 * port, so every start gets a new address and callers must read it from
 * cv_dev_broker_bootstraps().
 *
 * What librdkafka 2.0.2's mock does (read from rdkafka_mock*.c at v2.0.2
 * and checked against the running broker), and what it means for us:
 *
 * - Auto-creation: the mock speaks Metadata v0-v2 only, which has no
 *   AllowAutoTopicCreation flag, so a Metadata request for an unknown topic
 *   creates it with 4 partitions whatever the client's
 *   allow.auto.create.topics says, consumers included. A typo in a topic
 *   name silently makes a new, empty 4-partition topic. That is why every
 *   topology topic and DLQ topic is created here, with its declared
 *   partition count, before any client connects. CreateTopics (the admin
 *   API) is not supported.
 * - Replication: the replication factor passed to
 *   rd_kafka_mock_topic_create() is ignored; each partition gets
 *   min(3, brokers) replicas and a random leader among them.
 *   rd_kafka_mock_broker_set_down() disconnects a broker and refuses new
 *   connections but does not move leadership, so with one broker "down"
 *   means the whole cluster is unreachable.
 * - Retention: each partition keeps at most 100,000 message sets and
 *   5 MiB of them (whichever is hit first); past that the oldest sets are
 *   dropped silently and the log start offset moves up. A consumer whose
 *   position fell off the front gets OFFSET_OUT_OF_RANGE (an error with
 *   auto.offset.reset=error). Producers should batch (one ProduceRequest
 *   per partition is one message set) and compress to stay well inside.
 * - Fetch returns at most one message set per partition per request, so a
 *   consumer's throughput follows the producer's batch size.
 * - ListOffsets answers only earliest and latest: offsets by timestamp
 *   (rd_kafka_offsets_for_times) come back as -1 (no offset).
 * - Consumer groups: the first member to join an empty group waits 3 s
 *   (the mock's group.initial.rebalance.delay.ms) before a leader is
 *   elected; a later join rebalances after session.timeout.ms - 1000 ms
 *   unless every known member rejoins sooner (then 100 ms). The group
 *   protocol is taken from each member's first assignment strategy, so all
 *   members must list the same one first. Committed offsets are kept, but
 *   the engine keeps its offsets in Postgres anyway.
 * - Everything is in memory: stopping the broker loses every message.
 */
#include "dev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

struct cv_dev_broker {
    rd_kafka_t *rk; /* hosts the mock cluster, nothing else */
    rd_kafka_mock_cluster_t *mcluster;
    int nbrokers;
    char *bootstraps;
};

int cv_dev_broker_create_topic(struct cv_dev_broker *db, const char *topic,
                               int partitions, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err;

    if (partitions < 1)
        return cv_err(errstr, errstr_size,
                      "dev broker: topic %s: %d partitions", topic, partitions);
    err = rd_kafka_mock_topic_create(db->mcluster, topic, partitions, 1);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return CV_OK;
    if (err)
        return cv_err(errstr, errstr_size, "dev broker: creating topic %s: %s",
                      topic, rd_kafka_err2str(err));
    return CV_OK;
}

/* Creates the topology's topics and each domain's DLQ topic. */
static int create_topics(struct cv_dev_broker *db, const struct cv_topology *t,
                         char *errstr, size_t errstr_size)
{
    char *dlq = NULL;
    int rc = CV_ERR;

    for (size_t i = 0; i < t->ntopics; i++) {
        const struct cv_topo_topic *tt = &t->topics[i];
        if (cv_dev_broker_create_topic(db, tt->name, tt->partitions, errstr,
                                       errstr_size) != CV_OK)
            goto out;
        cv_debug("dev broker: created topic %s with %d partitions", tt->name,
                 tt->partitions);
    }
    for (size_t i = 0; i < t->ndomains; i++) {
        const struct cv_topo_domain *d = &t->domains[i];
        free(dlq);
        dlq = NULL;
        if (d->dlq_topic)
            dlq = cv_strdup(d->dlq_topic);
        else if (d->ntopics > 0)
            dlq = cv_asprintf("%s.dlq", d->topics[0]);
        else
            continue;
        if (cv_dev_broker_create_topic(db, dlq, 1, errstr, errstr_size) !=
            CV_OK)
            goto out;
    }
    rc = CV_OK;
out:
    free(dlq);
    return rc;
}

struct cv_dev_broker *cv_dev_broker_start(const struct cv_topology *t,
                                          int nbrokers, char *errstr,
                                          size_t errstr_size)
{
    struct cv_dev_broker *db = cv_calloc(1, sizeof(*db));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char rkerr[512];

    if (nbrokers <= 0)
        nbrokers = 1;
    db->nbrokers = nbrokers;

    cv_kafka_conf_set_log(conf);
    /* The host client has no brokers to talk to; its notice saying so is
     * noise. Warnings and errors (the mock's own failures) still show. */
    if (rd_kafka_conf_set(conf, "client.id", "conveyor-dev-broker", rkerr,
                          sizeof(rkerr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level",
                          cv_log_level >= CV_LOG_DEBUG ? "7" : "4", rkerr,
                          sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
        cv_err(errstr, errstr_size, "dev broker: %s", rkerr);
        goto fail;
    }
    db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (!db->rk) {
        cv_err(errstr, errstr_size, "dev broker: %s", rkerr);
        goto fail;
    }
    conf = NULL;

    db->mcluster = rd_kafka_mock_cluster_new(db->rk, nbrokers);
    if (!db->mcluster) {
        cv_err(errstr, errstr_size,
               "dev broker: could not start the mock cluster (no loopback "
               "listener? see the log)");
        goto fail;
    }
    db->bootstraps = cv_strdup(rd_kafka_mock_cluster_bootstraps(db->mcluster));

    if (t && create_topics(db, t, errstr, errstr_size) != CV_OK)
        goto fail;
    return db;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    cv_dev_broker_stop(db);
    return NULL;
}

const char *cv_dev_broker_bootstraps(const struct cv_dev_broker *db)
{
    return db->bootstraps;
}

int cv_dev_broker_count(const struct cv_dev_broker *db)
{
    return db->nbrokers;
}

rd_kafka_mock_cluster_t *cv_dev_broker_mock(struct cv_dev_broker *db)
{
    return db->mcluster;
}

int cv_dev_broker_set_down(struct cv_dev_broker *db, int broker_id, int down)
{
    rd_kafka_resp_err_t err;

    if (broker_id < 1 || broker_id > db->nbrokers)
        return CV_ERR;
    if (down)
        err = rd_kafka_mock_broker_set_down(db->mcluster, broker_id);
    else
        err = rd_kafka_mock_broker_set_up(db->mcluster, broker_id);
    return err ? CV_ERR : CV_OK;
}

void cv_dev_broker_stop(struct cv_dev_broker *db)
{
    if (!db)
        return;
    /* The cluster first: it lives on the host client. */
    if (db->mcluster)
        rd_kafka_mock_cluster_destroy(db->mcluster);
    if (db->rk)
        rd_kafka_destroy(db->rk);
    free(db->bootstraps);
    free(db);
}
