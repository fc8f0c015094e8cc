/*
 * cli.h - the conveyor command line: global options, then a subcommand.
 *
 *   conveyor [-c FILE] [-v] <command> [options]
 *
 * main() parses the global options and dispatches through the command table
 * in cli.c. Each command is one function in its own cmd_*.c file. A command
 * returns an exit code: CV_EXIT_OK, CV_EXIT_RUNTIME, CV_EXIT_USAGE (usage or
 * configuration error). Data goes to stdout, diagnostics to stderr.
 */
#ifndef CV_CLI_H
#define CV_CLI_H

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_app {
    const char *config_path; /* -c, $CONVEYOR_CONFIG, or config/conveyor.cfg */
    struct cv_config cfg;
    struct cv_topology topo;
    struct cv_catalogue *cat;
    int topo_loaded;
};

/*
 * Loads the schema catalogue and the topology named by the config, checks
 * them (printing every error to stderr) and resolves the handlers. Returns
 * CV_OK, or CV_ERR when the caller should exit with CV_EXIT_USAGE.
 * Idempotent: a second call does nothing.
 */
int cv_app_load_topology(struct cv_app *app);

struct cv_pg;
/* A Postgres connection for a command, named app_name in pg_stat_activity;
 * on failure logs why and returns NULL (the command exits 1). */
struct cv_pg *cv_app_pg(struct cv_app *app, const char *app_name);

typedef int (*cv_cmd_fn)(struct cv_app *app, int argc, char **argv);

struct cv_cmd {
    const char *name;
    cv_cmd_fn fn;
    const char *summary;
};

/* Commands, one per file. argv[0] is the command name; getopt-ready. */
int cv_cmd_run(struct cv_app *app, int argc, char **argv);
int cv_cmd_dev(struct cv_app *app, int argc, char **argv);
int cv_cmd_dev_broker(struct cv_app *app, int argc, char **argv);
int cv_cmd_migrate(struct cv_app *app, int argc, char **argv);
int cv_cmd_produce(struct cv_app *app, int argc, char **argv);
int cv_cmd_status(struct cv_app *app, int argc, char **argv);
int cv_cmd_topology(struct cv_app *app, int argc, char **argv);
int cv_cmd_schedules(struct cv_app *app, int argc, char **argv);
int cv_cmd_trigger(struct cv_app *app, int argc, char **argv);
int cv_cmd_pause(struct cv_app *app, int argc, char **argv);
int cv_cmd_resume(struct cv_app *app, int argc, char **argv);
int cv_cmd_dlq(struct cv_app *app, int argc, char **argv);
int cv_cmd_replay(struct cv_app *app, int argc, char **argv);
int cv_cmd_send(struct cv_app *app, int argc, char **argv);
int cv_cmd_effects(struct cv_app *app, int argc, char **argv);

/* Parses a whole decimal number in [min, max] into *out; CV_OK or CV_ERR. */
int cv_cli_parse_int(const char *s, long min, long max, int *out);

/* True if argv holds -h or --help (commands print their usage and exit 0). */
int cv_cli_wants_help(int argc, char **argv);

#endif
