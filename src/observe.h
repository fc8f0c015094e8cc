/*
 * observe.h - what the HTTP endpoint reports about the world outside the
 * process: consumer lag, the outbox backlog, dead letters, switches,
 * schedules, whether Postgres and the broker answer, and readiness. Also
 * mirrors the offsets stored in Postgres to Kafka, so that the lag tools a
 * Kafka team runs (kafka_exporter, Burrow, KEDA) see Conveyor's groups.
 *
 * One thread (the observer) gathers it all every CV_OBSERVE_INTERVAL_MS on
 * its own Postgres connection and Kafka client, so a scrape only formats a
 * snapshot: a thousand scrapes cost Postgres and the broker nothing.
 *
 * Lag. For each partition of each group of the topology: the broker's high
 * watermark minus the offset stored in Postgres (events), and the age of
 * the event at the stored offset, the oldest not processed (seconds; read
 * from the topic, once per stored offset; 0 when caught up). /metrics
 * shows the groups this process consumes; the admin API all of them.
 *
 * Offset mirror. Consumers register their librdkafka handle when their loop
 * starts (cv_observe_consumer_add) and remove it before leaving the group.
 * Each round, offsets that moved in Postgres are committed to Kafka through
 * a registered member of the group, asynchronously and best effort; Kafka's
 * copy is never read back (the consumers seek to Postgres' offsets).
 */
#ifndef CV_OBSERVE_H
#define CV_OBSERVE_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "topology.h"

#define CV_OBSERVE_INTERVAL_MS 2000

struct cv_buf;
struct cv_ticker;
struct cv_observer;

/* Consumer hooks (the consumer's thread). add: the loop starts; remove:
 * before rd_kafka_consumer_close(). */
void cv_observe_consumer_add(rd_kafka_t *rk, const char *group);
void cv_observe_consumer_remove(rd_kafka_t *rk);

/*
 * Starts the observer thread. cfg and topo are borrowed and must outlive
 * it; ticker (may be NULL) gives the schedules' fire counts; consumers is
 * how many consumer loops this process runs (readiness waits for them to
 * join their groups).
 */
struct cv_observer *cv_observer_start(const struct cv_config *cfg,
                                      const struct cv_topology *topo,
                                      const struct cv_ticker *ticker,
                                      int consumers);
void cv_observer_stop(struct cv_observer *o);

/* Appends the gauges and counters of the last round (exposition). */
void cv_observer_render(struct cv_observer *o, struct cv_buf *out);
/* Appends the readiness JSON; returns 1 if ready. */
int cv_observer_ready(struct cv_observer *o, struct cv_buf *out);

struct cv_observed_part {
    char group[128], topic[256];
    int32_t partition;
    int64_t stored, low, high; /* low, high: -1 if the broker did not say */
    int64_t lag;               /* -1 if unknown */
    double lag_s;              /* -1 if unknown */
};
/* Copies up to max partitions of the last round (all groups); returns how
 * many there are. *collected_ms: when (wall clock), 0 if never. */
size_t cv_observer_parts(struct cv_observer *o, struct cv_observed_part *out,
                         size_t max, int64_t *collected_ms);

#endif
