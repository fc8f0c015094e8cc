/*
 * cmd_run.c - `conveyor run` and `conveyor migrate`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "preflight.h"
#include "runner.h"
#include "stats.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor run [--domain NAME]... [--no-relay] "
            "[--no-ticker] [--no-effects]\n"
            "                    [--no-consumers | --relay-only | "
            "--ticker-only | --effects-only]\n"
            "                    [--http-port-file PATH]\n\n"
            "Runs the consumers of every domain in the topology (or only the\n"
            "named ones), the outbox relay, the ticker (the topology's\n"
            "schedules) and the effect runner (calls to the topology's\n"
            "targets), until SIGTERM or SIGINT: the first signal finishes\n"
            "and commits the batches in flight and leaves the consumer\n"
            "groups; a second exits at once. Relay, ticker and effect runner\n"
            "run in every process; one of each leads, the others stand by.\n\n"
            "  --domain NAME  run this domain's consumers (repeatable)\n"
            "  --no-relay     do not run the outbox relay\n"
            "  --no-ticker    do not run the ticker\n"
            "  --no-effects   do not run the effect runner\n"
            "  --no-consumers run only the relay, the ticker and the effect\n"
            "                 runner\n"
            "  --relay-only   run only the outbox relay\n"
            "  --ticker-only  run only the ticker\n"
            "  --effects-only run only the effect runner\n"
            "  --http-port-file PATH\n"
            "                 write the HTTP endpoint's port to PATH (with\n"
            "                 CONVEYOR_HTTP_LISTEN=127.0.0.1:0: any free "
            "port)\n\n"
            "The HTTP endpoint (http.listen, default 127.0.0.1:8080) serves\n"
            "/metrics, /healthz, /readyz, the admin API /api/v1/ (with\n"
            "CONVEYOR_ADMIN_TOKEN or CONVEYOR_READONLY_TOKEN) and the "
            "dashboard /.\n\n"
            "Exit codes: 0 stopped by a signal, 1 runtime failure, 2 usage "
            "or\nconfiguration error, 3 a handler ran past its timeout (the "
            "attempt is\nrecorded and the process exits; restarted, it runs "
            "the event again).\n");
}

int cv_cmd_run(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"domain", required_argument, NULL, 'd'},
        {"no-relay", no_argument, NULL, 'n'},
        {"relay-only", no_argument, NULL, 'r'},
        {"no-ticker", no_argument, NULL, 'T'},
        {"ticker-only", no_argument, NULL, 't'},
        {"no-effects", no_argument, NULL, 'E'},
        {"effects-only", no_argument, NULL, 'e'},
        {"no-consumers", no_argument, NULL, 'C'},
        {"http-port-file", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct cv_runner_opts opts = {
        .relay = 1, .consumers = 1, .ticker = 1, .effects = 1};
    char errstr[1024];
    struct cv_runner *r;
    int ch, rc;

    optind = 1;
    opts.domains = cv_calloc((size_t)argc, sizeof(char *));
    while ((ch = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            opts.domains[opts.ndomains++] = optarg;
            break;
        case 'n':
            opts.relay = 0;
            break;
        case 'r':
            opts.consumers = 0;
            opts.ticker = 0;
            opts.effects = 0;
            break;
        case 'E':
            opts.effects = 0;
            break;
        case 'e':
            opts.consumers = 0;
            opts.ticker = 0;
            opts.relay = 0;
            break;
        case 'T':
            opts.ticker = 0;
            break;
        case 't':
            opts.consumers = 0;
            opts.relay = 0;
            opts.effects = 0;
            break;
        case 'C':
            opts.consumers = 0;
            break;
        case 'P':
            opts.http_port_file = optarg;
            break;
        case 'h':
            run_usage(stdout);
            free(opts.domains);
            return CV_EXIT_OK;
        default:
            run_usage(stderr);
            free(opts.domains);
            return CV_EXIT_USAGE;
        }
    }
    if (optind < argc ||
        (!opts.relay && !opts.consumers && !opts.ticker && !opts.effects) ||
        (opts.ndomains && !opts.consumers)) {
        run_usage(stderr);
        free(opts.domains);
        return CV_EXIT_USAGE;
    }
    if (strcmp(app->cfg.kafka_brokers, "dev") == 0) {
        fprintf(stderr, "conveyor run: kafka.brokers is \"dev\" (the "
                        "in-process dev broker, for `conveyor dev`); set "
                        "CONVEYOR_KAFKA_BROKERS or kafka.brokers\n");
        free(opts.domains);
        return CV_EXIT_USAGE;
    }
    if (cv_app_load_topology(app) != CV_OK) {
        free(opts.domains);
        return CV_EXIT_USAGE;
    }
    cv_runner_signals_install();
    rc = cv_preflight_run(&app->cfg, &app->topo, app->cat, cv_runner_signals,
                          errstr, sizeof(errstr));
    if (rc != CV_OK) {
        free(opts.domains);
        if (rc == CV_NULL) { /* a signal before Postgres answered */
            cv_info("stopped cleanly (before Postgres answered)");
            return CV_EXIT_OK;
        }
        cv_error("%s", errstr);
        return CV_EXIT_RUNTIME;
    }
    r = cv_runner_start(&app->cfg, &app->topo, app->cat, &opts, errstr,
                        sizeof(errstr));
    free(opts.domains);
    if (!r) {
        cv_error("%s", errstr);
        return CV_EXIT_RUNTIME;
    }
    rc = cv_runner_wait(r, NULL, NULL);
    cv_info("commit_p50_us=%lld commit_p99_us=%lld assigned_at_ms=%lld "
            "first_commit_at_ms=%lld",
            (long long)cv_stats_commit_percentile(50),
            (long long)cv_stats_commit_percentile(99),
            (long long)atomic_load(&cv_stats.assigned_ms),
            (long long)atomic_load(&cv_stats.first_commit_ms));
    cv_info("processed=%llu duplicates=%llu dead_letters=%llu batches=%llu "
            "fenced=%llu rolled_back=%llu published=%llu",
            (unsigned long long)atomic_load(&cv_stats.processed),
            (unsigned long long)atomic_load(&cv_stats.duplicates),
            (unsigned long long)atomic_load(&cv_stats.dead_letters),
            (unsigned long long)atomic_load(&cv_stats.batches),
            (unsigned long long)atomic_load(&cv_stats.fenced),
            (unsigned long long)atomic_load(&cv_stats.retried),
            (unsigned long long)atomic_load(&cv_stats.published));
    cv_runner_destroy(r);
    return rc;
}

int cv_cmd_migrate(struct cv_app *app, int argc, char **argv)
{
    char errstr[1024];
    struct cv_pg *pg;
    int applied = 0, rc;

    if (cv_cli_wants_help(argc, argv)) {
        printf("usage: conveyor migrate\n\n"
               "Applies the SQL migrations compiled into this binary (engine "
               "schema\n\"conveyor\", domain schema \"marketplace\"), each "
               "once, in order, each in\nits own transaction. Safe to run "
               "again and from several processes at once.\n");
        return CV_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: conveyor migrate\n");
        return CV_EXIT_USAGE;
    }
    pg = cv_app_pg(app, "conveyor/migrate");
    if (!pg)
        return CV_EXIT_RUNTIME;
    rc = cv_migrate(cv_pg_conn(pg), &applied, errstr, sizeof(errstr));
    if (rc != CV_OK)
        cv_error("%s", errstr);
    else
        printf("migrations: %d applied, database up to date\n", applied);
    cv_pg_destroy(pg);
    return rc == CV_OK ? CV_EXIT_OK : CV_EXIT_RUNTIME;
}
