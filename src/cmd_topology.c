/*
 * cmd_topology.c - `conveyor topology check [FILE]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cv_cmd_topology(struct cv_app *app, int argc, char **argv)
{
    if (cv_cli_wants_help(argc, argv) || argc < 2 ||
        strcmp(argv[1], "check") != 0 || argc > 3) {
        FILE *out = cv_cli_wants_help(argc, argv) ? stdout : stderr;
        fprintf(out,
                "usage: conveyor topology check [FILE]\n\n"
                "Checks the topology (default: topology.path of the config)\n"
                "against the schemas and the compiled-in handlers. Prints "
                "every\nerror as FILE:LINE: message and exits 2 if there is "
                "any.\n");
        return out == stdout ? CV_EXIT_OK : CV_EXIT_USAGE;
    }
    if (argc == 3) {
        free(app->cfg.topology_path);
        app->cfg.topology_path = cv_strdup(argv[2]);
        cv_config_set_origin(&app->cfg, "topology.path", "the command line");
    }
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    printf("%s: ok (%zu topics, %zu event types, %zu domains, %zu "
           "schedules)\n",
           app->cfg.topology_path, app->topo.ntopics, app->topo.nevents,
           app->topo.ndomains, app->topo.nschedules);
    return CV_EXIT_OK;
}
