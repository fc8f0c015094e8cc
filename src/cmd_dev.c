/*
 * cmd_dev.c - `conveyor dev`: the whole system in one process, for a demo.
 *
 * Starts the dev broker (librdkafka's mock cluster) with the topology's
 * topics, applies the migrations to the Postgres the environment points at
 * (the quick start runs it under pg_virtualenv: a throwaway cluster), runs
 * every domain's consumers and the outbox relay, and produces a steady
 * stream of sample marketplace events, 1% of them re-sent under the same
 * ce_id as a producer retry would. Once a second it prints a summary line.
 * Ctrl-C stops it cleanly.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "dev.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "runner.h"
#include "stats.h"

struct demo {
    struct cv_app *app;
    int rate;
    int duration_s;
    atomic_int stop;
    atomic_uint_fast64_t produced;
    rd_kafka_t *rk;
    struct cv_pg *pg;
    int64_t started;
    uint64_t last_processed;
    int tty;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor dev [--rate N] [--duration SECONDS]\n\n"
            "Runs the demo: the dev broker in this process, the migrations, "
            "every\nconsumer and the outbox relay against the Postgres of "
            "the environment\n(PGHOST, ... or DATABASE_URL), and N sample "
            "events a second (default\n200), until Ctrl-C or the "
            "duration.\n");
}

static int produce_one(struct demo *d, const char *type, const char *json,
                       const char *key, const char *id)
{
    const struct cv_topo_event *te = cv_topology_event(&d->app->topo, type);
    const struct cv_schema *schema;
    struct cv_ce ce;
    char errstr[512], *buf = NULL;
    size_t len = 0;
    rd_kafka_resp_err_t err;

    if (!te || !(schema = cv_catalogue_by_name(d->app->cat, te->schema)))
        return CV_ERR;
    if (cv_codec_encode_json(schema, json, strlen(json), &buf, &len, errstr,
                             sizeof(errstr)) != CV_OK) {
        cv_error("demo: %s", errstr);
        return CV_ERR;
    }
    memset(&ce, 0, sizeof(ce));
    strcpy(ce.specversion, "1.0");
    snprintf(ce.id, sizeof(ce.id), "%s", id);
    snprintf(ce.type, sizeof(ce.type), "%s", type);
    snprintf(ce.source, sizeof(ce.source), "conveyor-dev");
    ce.time_ms = cv_wall_ms();
    rd_kafka_headers_t *hdrs = cv_ce_headers_new(&ce);
    err = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(te->topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        free(buf);
        return CV_ERR;
    }
    atomic_fetch_add(&d->produced, 1);
    return CV_OK;
}

static void *producer_main(void *arg)
{
    static const char *const partners[] = {
        "6f1c2a4e-1d1b-4c57-9a5e-0b7e6f3c1a01",
        "6f1c2a4e-1d1b-4c57-9a5e-0b7e6f3c1a02",
        "6f1c2a4e-1d1b-4c57-9a5e-0b7e6f3c1a03",
        "6f1c2a4e-1d1b-4c57-9a5e-0b7e6f3c1a04",
        "6f1c2a4e-1d1b-4c57-9a5e-0b7e6f3c1a05",
        "6f1c2a4e-1d1b-4c57-9a5e-0b7e6f3c1a06"};
    struct demo *d = arg;
    char json[768], id[37], last_id[37] = "", last_json[768] = "";
    const char *last_key = partners[0];
    uint64_t n = 0;
    int64_t t0 = cv_mono_ms();

    while (!atomic_load(&d->stop)) {
        const char *partner = partners[n % CV_ARRAY_SIZE(partners)];
        char lead[37];
        if (last_id[0] && n % 100 == 50) {
            /* a producer retry: the same event again */
            produce_one(d, "marketplace.lead.submitted", last_json, last_key,
                        last_id);
        } else if (n % 100 == 99) {
            char batch[37];
            cv_uuid4(batch);
            cv_uuid4(id);
            snprintf(json, sizeof(json),
                     "{\"batch_id\":\"%s\",\"partner_id\":\"%s\","
                     "\"lead_count\":0}",
                     batch, partner);
            produce_one(d, "marketplace.upload.completed", json, partner, id);
        } else {
            cv_uuid4(lead);
            cv_uuid4(id);
            snprintf(json, sizeof(json),
                     "{\"lead_id\":\"%s\",\"partner_id\":\"%s\","
                     "\"email\":\"lead%llu@example.com\",\"first_name\":"
                     "\"Ada\",\"last_name\":null,\"company\":\"Acme\","
                     "\"phone\":null,\"submitted_at\":%lld}",
                     lead, partner, (unsigned long long)n,
                     (long long)cv_wall_ms());
            if (produce_one(d, "marketplace.lead.submitted", json, partner,
                            id) == CV_OK) {
                memcpy(last_id, id, sizeof(id));
                snprintf(last_json, sizeof(last_json), "%s", json);
                last_key = partner;
            }
        }
        n++;
        rd_kafka_poll(d->rk, 0);
        /* pace to the rate */
        int64_t due = t0 + (int64_t)(n * 1000 / (uint64_t)d->rate);
        int64_t wait = due - cv_mono_ms();
        if (wait > 0) {
            struct timespec ts = {wait / 1000, (wait % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_flush(d->rk, 5000);
    return NULL;
}

static long long total_lag(struct demo *d)
{
    struct cv_pg_error err;
    long long lag = 0;
    PGresult *res;

    if (!d->pg)
        return -1;
    res = cv_pg_exec(d->pg,
                     "SELECT topic, partition, next_offset FROM "
                     "conveyor.consumer_offsets",
                     0, NULL, &err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t low, high;
        char errstr[128];
        if (cv_kafka_watermarks(d->rk, PQgetvalue(res, i, 0),
                                atoi(PQgetvalue(res, i, 1)), &low, &high, 1000,
                                errstr, sizeof(errstr)) == CV_OK)
            lag += high - strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    return lag;
}

static void tick(void *opaque)
{
    struct demo *d = opaque;
    uint64_t processed = atomic_load(&cv_stats.processed);
    int64_t secs = (cv_mono_ms() - d->started) / 1000;

    printf("%s[%4llds] events/s=%-6llu produced=%-8llu processed=%-8llu "
           "duplicates=%-6llu lag=%-6lld dead_letters=%-4llu "
           "published=%-8llu fenced=%llu%s",
           d->tty ? "\r" : "", (long long)secs,
           (unsigned long long)(processed - d->last_processed),
           (unsigned long long)atomic_load(&d->produced),
           (unsigned long long)processed,
           (unsigned long long)atomic_load(&cv_stats.duplicates), total_lag(d),
           (unsigned long long)atomic_load(&cv_stats.dead_letters),
           (unsigned long long)atomic_load(&cv_stats.published),
           (unsigned long long)atomic_load(&cv_stats.fenced),
           d->tty ? "" : "\n");
    fflush(stdout);
    d->last_processed = processed;
    if (d->duration_s > 0 && secs >= d->duration_s)
        kill(getpid(), SIGTERM);
}

int cv_cmd_dev(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const prod_overrides[] = {"enable.idempotence", "true",
                                                 "linger.ms", "5", NULL};
    struct demo d;
    struct cv_dev_broker *broker = NULL;
    struct cv_runner *runner = NULL;
    struct cv_runner_opts opts = {NULL, 0, 1, 1, 1};
    char errstr[1024];
    pthread_t producer;
    int ch, applied, rc = CV_EXIT_RUNTIME, producing = 0;

    memset(&d, 0, sizeof(d));
    d.app = app;
    d.rate = 200;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "r:d:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (cv_cli_parse_int(optarg, 1, 1000000, &d.rate) != CV_OK)
                d.rate = -1;
            break;
        case 'd':
            if (cv_cli_parse_int(optarg, 0, 86400 * 365, &d.duration_s) !=
                CV_OK)
                d.duration_s = -1;
            break;
        case 'h':
            usage(stdout);
            return CV_EXIT_OK;
        default:
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if (d.rate < 1 || d.rate > 1000000 || d.duration_s < 0 || optind < argc) {
        fprintf(stderr, "conveyor dev: --rate takes 1..1000000 and "
                        "--duration a number of seconds\n");
        return CV_EXIT_USAGE;
    }
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    cv_runner_signals_install();

    broker = cv_dev_broker_start(&app->topo, 1, errstr, sizeof(errstr));
    if (!broker) {
        cv_error("dev broker: %s", errstr);
        return CV_EXIT_RUNTIME;
    }
    free(app->cfg.kafka_brokers);
    app->cfg.kafka_brokers = cv_strdup(cv_dev_broker_bootstraps(broker));
    cv_info("dev broker listening on %s", app->cfg.kafka_brokers);

    d.pg = cv_pg_connect(app->cfg.pg_conninfo, "conveyor/dev",
                         app->cfg.pg_connect_timeout_s, errstr, sizeof(errstr));
    if (!d.pg) {
        cv_error("%s (the quick start runs this under pg_virtualenv)", errstr);
        goto out;
    }
    if (cv_migrate(cv_pg_conn(d.pg), &applied, errstr, sizeof(errstr)) !=
        CV_OK) {
        cv_error("%s", errstr);
        goto out;
    }
    d.rk = cv_kafka_producer_new(&app->cfg, prod_overrides, errstr,
                                 sizeof(errstr));
    if (!d.rk) {
        cv_error("%s", errstr);
        goto out;
    }
    runner = cv_runner_start(app, &opts, errstr, sizeof(errstr));
    if (!runner) {
        cv_error("%s", errstr);
        goto out;
    }
    if (pthread_create(&producer, NULL, producer_main, &d) != 0)
        goto out;
    producing = 1;
    d.started = cv_mono_ms();
    d.tty = isatty(STDOUT_FILENO);
    printf("conveyor dev: producing %d events/s into %s; Ctrl-C stops\n",
           d.rate, app->cfg.kafka_brokers);
    rc = cv_runner_wait(runner, tick, &d);
    if (d.tty)
        printf("\n");
out:
    atomic_store(&d.stop, 1);
    if (producing)
        pthread_join(producer, NULL);
    cv_runner_destroy(runner);
    if (d.rk)
        rd_kafka_destroy(d.rk);
    cv_pg_destroy(d.pg);
    cv_dev_broker_stop(broker);
    if (rc == CV_EXIT_OK)
        printf("conveyor dev: produced %llu, processed %llu, duplicates "
               "absorbed %llu, dead letters %llu, outbox published %llu\n",
               (unsigned long long)atomic_load(&d.produced),
               (unsigned long long)atomic_load(&cv_stats.processed),
               (unsigned long long)atomic_load(&cv_stats.duplicates),
               (unsigned long long)atomic_load(&cv_stats.dead_letters),
               (unsigned long long)atomic_load(&cv_stats.published));
    return rc;
}
