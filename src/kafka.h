/*
 * kafka.h - librdkafka clients configured from struct cv_config.
 *
 * Every kafka.properties key in the config passes through to librdkafka;
 * the overrides given here win over them (the engine's own invariants, such
 * as enable.auto.commit=false, are not the user's to change). librdkafka
 * configuration errors come back in errstr naming the key.
 *
 * Precedence, lowest first: the role's defaults (producer or consumer), the
 * caller's defaults, kafka.brokers, kafka.properties, the caller's
 * overrides, and for consumers the forced settings. A kafka.properties key
 * that an override or forced setting replaces is logged as a warning.
 * Every conf built here routes librdkafka's log lines through cv_log.
 *
 * kafka.brokers = "dev" names the in-process dev broker, which has no
 * address until it is started: the caller passes the dev broker's
 * bootstraps as the "bootstrap.servers" override, otherwise building the
 * conf fails.
 *
 * All functions may be called from any thread.
 */
#ifndef CV_KAFKA_H
#define CV_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "config.h"

/*
 * overrides: NULL-terminated list of key, value, key, value, ... or NULL.
 * Returns a client or NULL with the reason in errstr.
 */
rd_kafka_t *cv_kafka_producer_new(const struct cv_config *cfg,
                                  const char *const *overrides, char *errstr,
                                  size_t errstr_size);

/* A consumer in group_id with the engine's settings forced: offsets are not
 * committed to Kafka (they live in Postgres, DESIGN.md I-1) and an offset
 * out of range is an error, never a silent reset. */
rd_kafka_t *cv_kafka_consumer_new(const struct cv_config *cfg,
                                  const char *group_id,
                                  const char *const *overrides, char *errstr,
                                  size_t errstr_size);

/* Low and high watermark of a partition, asking the broker. */
int cv_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                        int64_t *low, int64_t *high, int timeout_ms,
                        char *errstr, size_t errstr_size);

/*
 * The confs behind the constructors above, for callers that set callbacks
 * (delivery reports, rebalance) or an opaque before rd_kafka_new(). Each
 * returns a new conf the caller owns (rd_kafka_new() takes it on success;
 * on failure the caller still owns it and must rd_kafka_conf_destroy() it),
 * or NULL with errstr naming the offending key.
 *
 * cv_kafka_conf_new: no role defaults, only client.id=conveyor, the log
 * callback, kafka.brokers, kafka.properties and the overrides.
 */
rd_kafka_conf_t *cv_kafka_conf_new(const struct cv_config *cfg,
                                   const char *const *overrides, char *errstr,
                                   size_t errstr_size);

/*
 * Producer defaults: enable.idempotence=true, linger.ms=5,
 * partitioner=murmur2_random (the Java client's partitioner, so a key lands
 * on the same partition whichever Kafka client produced it) and
 * compression.codec=zstd (Kafka >= 2.1; the dev broker keeps only 5 MiB per
 * partition). defaults
 * (key, value, ... NULL-terminated, or NULL) are the caller's own defaults:
 * above the producer defaults, below kafka.properties.
 */
rd_kafka_conf_t *cv_kafka_producer_conf_new(const struct cv_config *cfg,
                                            const char *const *defaults,
                                            const char *const *overrides,
                                            char *errstr, size_t errstr_size);

/*
 * Consumer defaults: session.timeout.ms=6000, heartbeat.interval.ms=1000.
 * Forced, above everything: group.id, enable.auto.commit=false,
 * enable.auto.offset.store=false, auto.offset.reset=error,
 * enable.partition.eof=false, partition.assignment.strategy=range,roundrobin
 * (eager: the engine's rebalance callback assigns and revokes whole sets).
 */
rd_kafka_conf_t *cv_kafka_consumer_conf_new(const struct cv_config *cfg,
                                            const char *group_id,
                                            const char *const *overrides,
                                            char *errstr, size_t errstr_size);

/* Sets the callback that routes librdkafka's log lines through cv_log
 * (syslog levels 0-3 error, 4 warn, 5-6 info, 7 debug), with the client
 * name and facility as kv, and an error callback that logs error events
 * (transport errors, which librdkafka retries, at debug; a fatal error with
 * its cause). A caller may replace the error callback afterwards. The
 * cv_kafka_*conf_new functions already call this. */
void cv_kafka_conf_set_log(rd_kafka_conf_t *conf);
/* Logs a client error the way the error callback set above does (for a
 * client that sets an error callback of its own). */
void cv_kafka_log_error(rd_kafka_t *rk, int err, const char *reason);

#endif
