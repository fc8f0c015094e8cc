/*
 * cli.c - the command table and what commands share: loading the topology
 * and the schema catalogue, and recognising --help.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"

int cv_app_load_topology(struct cv_app *app)
{
    char errstr[1024];
    int errors;

    if (app->topo_loaded)
        return CV_OK;
    app->cat = cv_catalogue_load(app->cfg.schema_dir, errstr, sizeof(errstr));
    if (!app->cat) {
        fprintf(stderr, "%s\n", errstr);
        return CV_ERR;
    }
    if (cv_topology_load(app->cfg.topology_path, &app->topo, errstr,
                         sizeof(errstr)) != CV_OK) {
        fprintf(stderr, "%s\n", errstr);
        return CV_ERR;
    }
    errors = cv_topology_check(&app->topo, app->cat, cv_domains, stderr);
    if (errors) {
        fprintf(stderr, "%s: %d error%s\n", app->cfg.topology_path, errors,
                errors == 1 ? "" : "s");
        return CV_ERR;
    }
    app->topo_loaded = 1;
    return CV_OK;
}

int cv_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

int cv_cli_parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return CV_ERR;
    *out = (int)v;
    return CV_OK;
}

struct cv_pg *cv_app_pg(struct cv_app *app, const char *app_name)
{
    char errstr[1024];
    struct cv_pg *pg =
        cv_pg_connect(app->cfg.pg_conninfo, app_name,
                      app->cfg.pg_connect_timeout_s, errstr, sizeof(errstr));

    if (!pg)
        cv_error("%s", errstr);
    return pg;
}
