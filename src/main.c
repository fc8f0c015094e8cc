/*
 * main.c - conveyor: parse the global options, load the configuration,
 * dispatch to the command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "paths.h"

static const struct cv_cmd commands[] = {
    {"run", cv_cmd_run,
     "run domain consumers, the outbox relay and the ticker"},
    {"dev", cv_cmd_dev,
     "demo: in-process dev broker, consumers, relay and sample events"},
    {"dev-broker", cv_cmd_dev_broker,
     "run the dev broker (Kafka protocol on loopback) in this process"},
    {"migrate", cv_cmd_migrate, "apply the SQL migrations"},
    {"produce", cv_cmd_produce, "produce events from JSON"},
    {"status", cv_cmd_status,
     "offsets, lag, outbox backlog, dead letters, retention gaps"},
    {"topology", cv_cmd_topology, "topology check: validate the topology"},
    {"schedules", cv_cmd_schedules,
     "each schedule's next fire times, last fire and runs"},
    {"trigger", cv_cmd_trigger, "fire a schedule now (manual run, audited)"},
    {"pause", cv_cmd_pause,
     "kill switch: pause a route, domain, schedule or everything"},
    {"resume", cv_cmd_resume, "clear a pause"},
    {"dlq", cv_cmd_dlq, "dead letters: list, show, retry, discard"},
    {"replay", cv_cmd_replay, "re-run a group's handlers over a range"},
    {"effects", cv_cmd_effects,
     "calls to other services: list, show, retry, cancel"},
    {"send", cv_cmd_send,
     "send an operator's event, audited (outbox + audit log)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: conveyor [-c FILE] [-v] <command> [options]\n\n"
                 "options:\n"
                 "  -c FILE   configuration file (default: $CONVEYOR_CONFIG, "
                 "else config/conveyor.cfg\n"
                 "            if present, else the installed "
                 "etc/conveyor/conveyor.cfg, else\n"
                 "            built-in defaults)\n"
                 "  -v        debug logging\n"
                 "  -h        this help\n"
                 "  --version print the version\n\n"
                 "commands:\n");
    for (size_t i = 0; i < CV_ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'conveyor <command> --help' describes a command.\n"
                 "exit codes: 0 ok, 1 runtime failure, 2 usage or "
                 "configuration error,\n"
                 "            3 a handler ran past its timeout (run, dev)\n");
}

int main(int argc, char **argv)
{
    struct cv_app app;
    char errstr[1024];
    int verbose = 0, i = 1, rc;
    const struct cv_cmd *cmd = NULL;
    char *installed_config = NULL;

    memset(&app, 0, sizeof(app));
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            app.config_path = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return CV_EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("conveyor %s\n", cv_version());
            return CV_EXIT_OK;
        } else {
            fprintf(stderr, "conveyor: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    for (size_t k = 0; k < CV_ARRAY_SIZE(commands); k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            cmd = &commands[k];
    if (!cmd) {
        fprintf(stderr, "conveyor: unknown command '%s'\n\n", argv[i]);
        usage(stderr);
        return CV_EXIT_USAGE;
    }

    if (!app.config_path)
        app.config_path = getenv("CONVEYOR_CONFIG");
    if (!app.config_path && access("config/conveyor.cfg", R_OK) == 0)
        app.config_path = "config/conveyor.cfg";
    if (!app.config_path)
        app.config_path = installed_config = cv_paths_installed_config();
    if (cv_config_load(app.config_path, &app.cfg, errstr, sizeof(errstr)) !=
        CV_OK) {
        fprintf(stderr, "conveyor: %s\n", errstr);
        cv_config_free(&app.cfg);
        free(installed_config);
        return CV_EXIT_USAGE;
    }
    cv_paths_installed_defaults(&app.cfg);
    cv_log_setup(verbose ? CV_LOG_DEBUG : app.cfg.log_level,
                 app.cfg.log_format);

    rc = cmd->fn(&app, argc - i, argv + i);

    cv_topology_free(&app.topo);
    cv_catalogue_destroy(app.cat);
    cv_config_free(&app.cfg);
    free(installed_config);
    return rc;
}
