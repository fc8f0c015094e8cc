/*
 * cmd_dev.c - `conveyor dev`: the whole system in one process, for a demo.
 *
 * Starts the dev broker (librdkafka's mock cluster) with the topology's
 * topics, applies the migrations to the Postgres the environment points at
 * (the quick start runs it under pg_virtualenv: a throwaway cluster), runs
 * every domain's consumers and the outbox relay, and produces a steady
 * stream of sample marketplace events, 1% of them re-sent under the same
 * ce_id as a producer retry would. Once a second it prints a summary line
 * (on a terminal one live line that log lines do not run into). Ctrl-C
 * stops it cleanly.
 *
 * Once everything runs it prints the environment that reaches this stack
 * from another shell (the Postgres it migrated, the dev broker's loopback
 * address, the config, topology and schemas it loaded) and, with
 * --env-file, writes it as `export` lines, mode 0600 (it holds the
 * Postgres password, which the printed copy leaves out), removed on exit:
 * scripts/demo.sh passes .conveyor-demo.env so that `conveyor status`,
 * `pause`, `dlq` and `replay` can be tried against the running demo.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
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
#include "paths.h"
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
    const char *env_file; /* --env-file, or NULL */
    int env_written;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor dev [--rate N] [--duration SECONDS] "
            "[--env-file PATH]\n"
            "                    [--http-port-file PATH]\n\n"
            "Runs the demo: the dev broker in this process, the migrations, "
            "every\nconsumer and the outbox relay against the Postgres of "
            "the environment\n(PGHOST, ... or DATABASE_URL), and N sample "
            "events a second (default\n200), until Ctrl-C or the "
            "duration.\n\n"
            "It prints the environment that reaches it from another shell "
            "(Postgres,\nthe dev broker's address, config, topology, "
            "schemas). --env-file PATH\nwrites it as export lines with the "
            "Postgres password (mode 0600;\nremoved on exit): "
            "`. PATH` and then `conveyor status`.\n\n"
            "The HTTP endpoint (http.listen, default 127.0.0.1:8080) serves "
            "the\ndashboard at /, /metrics, /healthz, /readyz and the admin "
            "API;\n--http-port-file PATH writes its port to PATH.\n");
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

/* The group's stored offset of a partition from the rows of total_lag's
 * query, or -1 if it has stored none yet. */
static long long stored_offset(PGresult *res, const char *group,
                               const char *topic, int partition)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (atoi(PQgetvalue(res, i, 2)) == partition &&
            strcmp(PQgetvalue(res, i, 1), topic) == 0 &&
            strcmp(PQgetvalue(res, i, 0), group) == 0)
            return strtoll(PQgetvalue(res, i, 3), NULL, 10);
    return -1;
}

/*
 * Events waiting, over every partition of every domain's topics: the high
 * watermark minus the group's stored offset. Until a group's first commit
 * (it takes the dev broker 3 s to form a group) it has stored nothing; the
 * events it will read then are waiting too: from the log start offset for
 * reset "earliest", none for "latest" (it will start at the end). Summing
 * only the stored rows showed lag=0 while the first events waited.
 */
static long long total_lag(struct demo *d)
{
    const struct cv_topology *t = &d->app->topo;
    struct cv_pg_error err;
    long long lag = 0;
    PGresult *res;

    if (!d->pg)
        return -1;
    res = cv_pg_exec(d->pg,
                     "SELECT group_id, topic, partition, next_offset FROM "
                     "conveyor.consumer_offsets",
                     0, NULL, &err);
    if (!res)
        return -1;
    for (size_t i = 0; i < t->ndomains; i++) {
        const struct cv_topo_domain *dm = &t->domains[i];
        for (size_t j = 0; j < dm->ntopics; j++) {
            const struct cv_topo_topic *tt =
                cv_topology_topic(t, dm->topics[j]);
            for (int p = 0; tt && p < tt->partitions; p++) {
                long long stored =
                    stored_offset(res, dm->group_id, tt->name, p);
                int64_t low, high;
                char errstr[128];
                if (cv_kafka_watermarks(d->rk, tt->name, p, &low, &high, 1000,
                                        errstr, sizeof(errstr)) != CV_OK)
                    continue;
                if (stored >= 0)
                    lag += high - stored;
                else if (dm->reset_earliest)
                    lag += high - low;
            }
        }
    }
    PQclear(res);
    return lag;
}

/* Appends NAME='value' (value quoted for sh) to out. */
static void put_export(FILE *out, const char *name, const char *value)
{
    fprintf(out, "export %s='", name);
    for (const char *p = value; *p; p++)
        if (*p == '\'')
            fputs("'\\''", out);
        else
            fputc(*p, out);
    fputs("'\n", out);
}

/* An absolute path for path (relative to the working directory); fresh. */
static char *absolute(const char *path)
{
    char *real = realpath(path, NULL);

    return real ? real : cv_strdup(path);
}

/*
 * The environment that reaches this demo from another shell: the Postgres
 * parameters of the live connection (whether they came from PG* variables
 * or DATABASE_URL), the dev broker and the files this process loaded, and
 * this binary's directory on PATH. With_secret = 0 leaves out the
 * password's value (what is printed); 1 writes it (the 0600 file).
 */
static void write_env(struct demo *d, FILE *out, int with_secret)
{
    PGconn *conn = cv_pg_conn(d->pg);
    const char *pass = PQpass(conn);
    char *path, *bindir = cv_paths_exe_dir();

    put_export(out, "PGHOST", PQhost(conn));
    put_export(out, "PGPORT", PQport(conn));
    put_export(out, "PGUSER", PQuser(conn));
    put_export(out, "PGDATABASE", PQdb(conn));
    if (pass && *pass && with_secret)
        put_export(out, "PGPASSWORD", pass);
    else if (pass && *pass)
        fprintf(out, "export PGPASSWORD=... (in the env file only)\n");
    fprintf(out, "unset DATABASE_URL PGSERVICE PGHOSTADDR\n");
    /* the dashboard asks for it: `echo $CONVEYOR_ADMIN_TOKEN` */
    if (getenv("CONVEYOR_ADMIN_TOKEN") && *getenv("CONVEYOR_ADMIN_TOKEN")) {
        if (with_secret)
            put_export(out, "CONVEYOR_ADMIN_TOKEN",
                       getenv("CONVEYOR_ADMIN_TOKEN"));
        else
            fprintf(out, "export CONVEYOR_ADMIN_TOKEN=... (in the env file "
                         "only)\n");
    }
    put_export(out, "CONVEYOR_KAFKA_BROKERS", d->app->cfg.kafka_brokers);
    if (d->app->config_path) {
        path = absolute(d->app->config_path);
        put_export(out, "CONVEYOR_CONFIG", path);
        free(path);
    }
    path = absolute(d->app->cfg.topology_path);
    put_export(out, "CONVEYOR_TOPOLOGY", path);
    free(path);
    path = absolute(d->app->cfg.schema_dir);
    put_export(out, "CONVEYOR_SCHEMAS", path);
    free(path);
    if (bindir) {
        fprintf(out, "export PATH='%s':\"$PATH\"\n", bindir);
        free(bindir);
    }
}

/* Writes the env file (mode 0600) by a rename, so a reader never sees half
 * of it. */
static int write_env_file(struct demo *d, char *errstr, size_t errstr_size)
{
    char *tmp = cv_asprintf("%s.tmp", d->env_file);
    int fd, rc = CV_ERR;
    FILE *out = NULL;

    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !(out = fdopen(fd, "w"))) {
        cv_err(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    fprintf(out,
            "# conveyor dev (pid %ld): the environment that reaches the "
            "running demo.\n# Source it: . %s\n# It holds the Postgres "
            "password; the demo removes it when it exits.\n",
            (long)getpid(), d->env_file);
    write_env(d, out, 1);
    if (fclose(out) != 0) {
        out = NULL;
        cv_err(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    out = NULL;
    if (rename(tmp, d->env_file) != 0) {
        cv_err(errstr, errstr_size, "%s: %s", d->env_file, strerror(errno));
        goto out;
    }
    d->env_written = 1;
    rc = CV_OK;
out:
    if (rc != CV_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* What a user needs to reach the demo from a second terminal. */
static void print_env(struct demo *d)
{
    printf("conveyor dev: the environment that reaches this demo%s%s%s:\n",
           d->env_written ? " (in " : "", d->env_written ? d->env_file : "",
           d->env_written ? ", mode 0600, removed on exit)" : "");
    write_env(d, stdout, 0);
    if (d->env_written)
        printf("conveyor dev: in another terminal: . %s; conveyor status "
               "(README, Quick start)\n",
               d->env_file);
    fflush(stdout);
}

static void tick(void *opaque)
{
    struct demo *d = opaque;
    uint64_t processed = atomic_load(&cv_stats.processed);
    int64_t secs = (cv_mono_ms() - d->started) / 1000;

    char line[512];

    snprintf(
        line, sizeof(line),
        "[%4llds] events/s=%-6llu produced=%-8llu processed=%-8llu "
        "duplicates=%-6llu lag=%-6lld dead_letters=%-4llu "
        "published=%-8llu fenced=%llu",
        (long long)secs, (unsigned long long)(processed - d->last_processed),
        (unsigned long long)atomic_load(&d->produced),
        (unsigned long long)processed,
        (unsigned long long)atomic_load(&cv_stats.duplicates), total_lag(d),
        (unsigned long long)atomic_load(&cv_stats.dead_letters),
        (unsigned long long)atomic_load(&cv_stats.published),
        (unsigned long long)atomic_load(&cv_stats.fenced));
    if (d->tty) {
        cv_log_live_line(line);
    } else {
        printf("%s\n", line);
        fflush(stdout);
    }
    d->last_processed = processed;
    if (d->duration_s > 0 && secs >= d->duration_s)
        kill(getpid(), SIGTERM);
}

int cv_cmd_dev(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rate", required_argument, NULL, 'r'},
        {"duration", required_argument, NULL, 'd'},
        {"env-file", required_argument, NULL, 'e'},
        {"http-port-file", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const prod_overrides[] = {"enable.idempotence", "true",
                                                 "linger.ms", "5", NULL};
    struct demo d;
    struct cv_dev_broker *broker = NULL;
    struct cv_runner *runner = NULL;
    struct cv_runner_opts opts = {
        .relay = 1, .consumers = 1, .ticker = 1, .effects = 1};
    char errstr[1024];
    pthread_t producer;
    int ch, applied, rc = CV_EXIT_RUNTIME, producing = 0;

    memset(&d, 0, sizeof(d));
    d.app = app;
    d.rate = 200;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "r:d:e:P:h", longopts, NULL)) != -1) {
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
        case 'e':
            d.env_file = optarg;
            break;
        case 'P':
            opts.http_port_file = optarg;
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
    runner = cv_runner_start(&app->cfg, &app->topo, app->cat, &opts, errstr,
                             sizeof(errstr));
    if (!runner) {
        cv_error("%s", errstr);
        goto out;
    }
    if (d.env_file && write_env_file(&d, errstr, sizeof(errstr)) != CV_OK) {
        cv_error("--env-file: %s", errstr);
        goto out;
    }
    print_env(&d);
    if (cv_runner_http_port(runner))
        printf("dashboard and metrics: http://127.0.0.1:%d/ (%s)\n",
               cv_runner_http_port(runner),
               getenv("CONVEYOR_ADMIN_TOKEN") && *getenv("CONVEYOR_ADMIN_TOKEN")
                   ? "the dashboard asks for CONVEYOR_ADMIN_TOKEN"
                   : "set CONVEYOR_ADMIN_TOKEN for the admin API and the "
                     "dashboard");
    if (pthread_create(&producer, NULL, producer_main, &d) != 0)
        goto out;
    producing = 1;
    d.started = cv_mono_ms();
    d.tty = isatty(STDOUT_FILENO);
    printf("conveyor dev: producing %d events/s into %s; Ctrl-C stops\n",
           d.rate, app->cfg.kafka_brokers);
    fflush(stdout);
    rc = cv_runner_wait(runner, tick, &d);
    if (d.tty)
        cv_log_live_line(NULL);
out:
    if (d.env_written && unlink(d.env_file) != 0)
        cv_warn("removing %s: %s", d.env_file, strerror(errno));
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
