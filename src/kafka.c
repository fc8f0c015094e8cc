/*
 * kafka.c - librdkafka producers and consumers built from struct cv_config.
 *
 * A conf is assembled in layers, each rd_kafka_conf_set() over the last, so
 * a later layer wins even when it spells a key by its alias (linger.ms and
 * queue.buffering.max.ms): role defaults, the caller's defaults,
 * kafka.brokers as bootstrap.servers, kafka.properties, the caller's
 * overrides, and for consumers the settings the engine's correctness rests
 * on (Kafka offset commits off, DESIGN.md I-1; out-of-range offsets are an
 * error, never a silent reset). A failing key comes back in errstr with the
 * layer it came from, and a user property that a later layer replaces is
 * logged once per client, without its value (it may be a secret).
 *
 * librdkafka's own log lines go through cv_log at a mapped level. This
 * module does not poll, produce or consume: that is the caller's loop.
 */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* One layer of key, value pairs applied to a conf. */
struct layer {
    const char *name; /* for errors: "kafka.properties", "override", ... */
    const char *const *kv;
    int user; /* the user's kafka.properties */
};

/*
 * murmur2_random is the Java client's partitioner: a key lands on the same
 * partition whichever Kafka client produced it, so per-key order holds
 * across producers. zstd: the dev broker keeps 5 MiB per partition, and
 * CloudEvents headers compress well (about 60 bytes a small event with
 * zstd, 100 with lz4, 340 without).
 */
/* clang-format off */
static const char *const producer_defaults[] = {
    "enable.idempotence", "true",
    "linger.ms", "5",
    "partitioner", "murmur2_random",
    "compression.codec", "zstd",
    NULL};
/* clang-format on */

/* clang-format off */
/*
 * Prefetch is bounded: librdkafka's defaults (100,000 messages per
 * partition, up to 64 MiB queued) would let a consumer of 128 partitions
 * hold hundreds of MiB of events it cannot commit any faster. A few batches
 * ahead is all the loop needs. But librdkafka 2.0.2 stops fetching a
 * partition that holds queued.min.messages and then waits a fixed second:
 * the queue must last longer than that at full speed. 20,000 per partition
 * measured best under the 64 MB RSS target (tests/bench: 10,000 stalled
 * the loop a quarter of the time, 30,000 went over 64 MB). A fetch waits
 * at most 100 ms for data (the default 500 ms showed as half a second of
 * lag at a few hundred events/s).
 */
static const char *const consumer_defaults[] = {
    "session.timeout.ms", "6000",
    "heartbeat.interval.ms", "1000",
    "queued.min.messages", "20000",
    "queued.max.messages.kbytes", "32768",
    "fetch.message.max.bytes", "1048576",
    "fetch.wait.max.ms", "100",
    NULL};
/* clang-format on */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    char kv[256];
    int lvl;

    if (level <= 3)
        lvl = CV_LOG_ERROR;
    else if (level == 4)
        lvl = CV_LOG_WARN;
    else if (level <= 6)
        lvl = CV_LOG_INFO;
    else
        lvl = CV_LOG_DEBUG;
    /* Kafka's group offsets are only a mirror of what Postgres stores
     * (observe.c), best effort: a commit refused during a rebalance is
     * expected and changes nothing */
    if (fac && strcmp(fac, "COMMITFAIL") == 0 && lvl < CV_LOG_DEBUG)
        lvl = CV_LOG_DEBUG;
    if (lvl > cv_log_level)
        return;
    snprintf(kv, sizeof(kv), "client=\"%s\" facility=%s",
             rk ? rd_kafka_name(rk) : "-", fac ? fac : "-");
    cv_log_write(lvl, kv, "%s", buf);
}

/*
 * Without an error callback librdkafka logs each error event at error
 * level, repeating the FAIL line the log callback already printed for a
 * refused connection. Transport errors are retried inside librdkafka, so
 * they are logged at debug here; a fatal error (idempotence broken) is the
 * one a caller must act on and is logged with its cause.
 */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    cv_kafka_log_error(rk, err, reason);
}

void cv_kafka_log_error(rd_kafka_t *rk, int err, const char *reason)
{
    char kv[256], fatal[512];
    int lvl = CV_LOG_ERROR;

    if (err == RD_KAFKA_RESP_ERR__TRANSPORT)
        lvl = CV_LOG_DEBUG;
    else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        lvl = CV_LOG_WARN;
    if (lvl > cv_log_level)
        return;
    snprintf(kv, sizeof(kv), "client=\"%s\" error=%s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err));
    if (err == RD_KAFKA_RESP_ERR__FATAL &&
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal)))
        cv_log_write(lvl, kv, "kafka fatal error: %s", fatal);
    else
        cv_log_write(lvl, kv, "kafka: %s", reason);
}

void cv_kafka_conf_set_log(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
}

/* Value of key in a NULL-terminated key, value list, or NULL. */
static const char *kv_find(const char *const *kv, const char *key)
{
    for (; kv && kv[0] && kv[1]; kv += 2)
        if (strcmp(kv[0], key) == 0)
            return kv[1];
    return NULL;
}

static int has_bootstrap(const struct cv_config *cfg,
                         const char *const *overrides)
{
    if (kv_find(overrides, "bootstrap.servers") ||
        kv_find(overrides, "metadata.broker.list"))
        return 1;
    for (size_t i = 0; i < cfg->kafka_props_n; i++)
        if (strcmp(cfg->kafka_props[i].key, "bootstrap.servers") == 0 ||
            strcmp(cfg->kafka_props[i].key, "metadata.broker.list") == 0)
            return 1;
    return 0;
}

static int set_one(rd_kafka_conf_t *conf, const char *layer, const char *key,
                   const char *value, char *errstr, size_t errstr_size)
{
    char rkerr[512];

    if (!value)
        return cv_err(errstr, errstr_size, "%s '%s': no value", layer, key);
    if (rd_kafka_conf_set(conf, key, value, rkerr, sizeof(rkerr)) !=
        RD_KAFKA_CONF_OK)
        return cv_err(errstr, errstr_size, "%s '%s': %s", layer, key, rkerr);
    return CV_OK;
}

/* Warns about each user property that a later (engine) layer replaces. */
static void warn_shadowed(const struct cv_config *cfg,
                          const struct layer *layers, size_t nlayers)
{
    for (size_t i = 0; i < cfg->kafka_props_n; i++) {
        const struct cv_kv *p = &cfg->kafka_props[i];
        for (size_t l = 0; l < nlayers; l++) {
            const char *v;
            if (layers[l].user || !(v = kv_find(layers[l].kv, p->key)))
                continue;
            if (p->value && strcmp(v, p->value) == 0)
                continue;
            char kv[256];
            snprintf(kv, sizeof(kv), "key=%s by=\"%s\"", p->key,
                     layers[l].name);
            CV_LOG(CV_LOG_WARN, kv,
                   "kafka.properties key ignored: the engine sets it");
        }
    }
}

/*
 * Builds a conf from role defaults (may be NULL), caller defaults, the
 * config, overrides and forced settings (each may be NULL).
 */
static rd_kafka_conf_t *
build(const struct cv_config *cfg, const char *const *role_defaults,
      const char *const *defaults, const char *const *overrides,
      const char *const *forced, char *errstr, size_t errstr_size)
{
    static const struct cv_config empty;
    static const char *const base[] = {"client.id", "conveyor", NULL};
    const char *brokers_kv[] = {"bootstrap.servers", NULL, NULL};
    const char **props = NULL;
    struct layer layers[7];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (!cfg)
        cfg = &empty;
    if (cfg->kafka_brokers && strcmp(cfg->kafka_brokers, "dev") == 0) {
        if (!has_bootstrap(cfg, overrides)) {
            cv_err(errstr, errstr_size,
                   "kafka.brokers is \"dev\" (the in-process dev broker) "
                   "but no broker address was given: run `conveyor "
                   "dev-broker` and set CONVEYOR_KAFKA_BROKERS to the "
                   "address it prints");
            goto fail;
        }
    } else if (cfg->kafka_brokers && cfg->kafka_brokers[0]) {
        brokers_kv[1] = cfg->kafka_brokers;
    }

    props = cv_calloc(cfg->kafka_props_n * 2 + 1, sizeof(*props));
    for (size_t i = 0; i < cfg->kafka_props_n; i++) {
        props[2 * i] = cfg->kafka_props[i].key;
        props[2 * i + 1] = cfg->kafka_props[i].value;
    }

    layers[0] = (struct layer){"default", base, 0};
    layers[1] = (struct layer){"default", role_defaults, 0};
    layers[2] = (struct layer){"default", defaults, 0};
    layers[3] =
        (struct layer){"kafka.brokers", brokers_kv[1] ? brokers_kv : NULL, 0};
    layers[4] = (struct layer){"kafka.properties", props, 1};
    layers[5] = (struct layer){"override", overrides, 0};
    layers[6] = (struct layer){"engine setting", forced, 0};
    for (size_t l = 0; l < CV_ARRAY_SIZE(layers); l++) {
        const char *const *kv = layers[l].kv;
        for (; kv && kv[0]; kv += 2)
            if (set_one(conf, layers[l].name, kv[0], kv[1], errstr,
                        errstr_size) != CV_OK)
                goto fail;
    }
    /* Only the layers above the user's can shadow it. */
    warn_shadowed(cfg, layers + 5, 2);
    cv_kafka_conf_set_log(conf);
    free(props);
    return conf;
fail:
    free(props);
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_conf_t *cv_kafka_conf_new(const struct cv_config *cfg,
                                   const char *const *overrides, char *errstr,
                                   size_t errstr_size)
{
    return build(cfg, NULL, NULL, overrides, NULL, errstr, errstr_size);
}

rd_kafka_conf_t *cv_kafka_producer_conf_new(const struct cv_config *cfg,
                                            const char *const *defaults,
                                            const char *const *overrides,
                                            char *errstr, size_t errstr_size)
{
    return build(cfg, producer_defaults, defaults, overrides, NULL, errstr,
                 errstr_size);
}

rd_kafka_conf_t *cv_kafka_consumer_conf_new(const struct cv_config *cfg,
                                            const char *group_id,
                                            const char *const *overrides,
                                            char *errstr, size_t errstr_size)
{
    /* clang-format off */
    const char *const forced[] = {
        "group.id", group_id,
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "error",
        "enable.partition.eof", "false",
        "partition.assignment.strategy", "range,roundrobin",
        NULL};
    /* clang-format on */

    if (!group_id || !group_id[0]) {
        cv_err(errstr, errstr_size, "consumer: empty group.id");
        return NULL;
    }
    return build(cfg, consumer_defaults, NULL, overrides, forced, errstr,
                 errstr_size);
}

/* rd_kafka_new() that always takes conf, and says which client failed. */
static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
                              char *errstr, size_t errstr_size)
{
    char rkerr[512];
    rd_kafka_t *rk;

    if (!conf)
        return NULL;
    rk = rd_kafka_new(type, conf, rkerr, sizeof(rkerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        cv_err(errstr, errstr_size, "kafka %s: %s",
               type == RD_KAFKA_PRODUCER ? "producer" : "consumer", rkerr);
        return NULL;
    }
    return rk;
}

rd_kafka_t *cv_kafka_producer_new(const struct cv_config *cfg,
                                  const char *const *overrides, char *errstr,
                                  size_t errstr_size)
{
    return client_new(
        RD_KAFKA_PRODUCER,
        cv_kafka_producer_conf_new(cfg, NULL, overrides, errstr, errstr_size),
        errstr, errstr_size);
}

rd_kafka_t *cv_kafka_consumer_new(const struct cv_config *cfg,
                                  const char *group_id,
                                  const char *const *overrides, char *errstr,
                                  size_t errstr_size)
{
    return client_new(RD_KAFKA_CONSUMER,
                      cv_kafka_consumer_conf_new(cfg, group_id, overrides,
                                                 errstr, errstr_size),
                      errstr, errstr_size);
}

int cv_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition,
                        int64_t *low, int64_t *high, int timeout_ms,
                        char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err;

    err = rd_kafka_query_watermark_offsets(rk, topic, partition, low, high,
                                           timeout_ms);
    if (err)
        return cv_err(errstr, errstr_size, "watermarks of %s [%d]: %s", topic,
                      (int)partition, rd_kafka_err2str(err));
    return CV_OK;
}
