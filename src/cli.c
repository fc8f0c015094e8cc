/*
 * cli.c - the command table and what commands share: loading the topology
 * and the schema catalogue, and recognising --help.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pg.h"
#include "registry.h"

/*
 * A schemas directory or topology file that is not there: the message names
 * the setting, where its value came from, the path tried (from the working
 * directory if relative) and how to set it, instead of a bare "schemas: No
 * such file or directory". A path given on the command line is reported by
 * the loader itself. Returns CV_ERR after printing, CV_OK if path exists.
 */
static int check_path(const struct cv_app *app, const char *key,
                      const char *path)
{
    const char *origin = cv_config_origin(&app->cfg, key);
    const char *env = cv_config_env_name(key);
    char cwd[1024] = "";
    int errnum;

    if (access(path, F_OK) == 0 ||
        (origin && strcmp(origin, "the command line") == 0))
        return CV_OK;
    errnum = errno;
    if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
        cwd[0] = '\0';
    fprintf(stderr,
            "conveyor: %s is \"%s\" (%s): %s%s%s: %s\n"
            "conveyor: set %s in the configuration file (-c FILE or "
            "CONVEYOR_CONFIG) or the environment variable %s, or install "
            "Conveyor (README, \"Installing\")\n",
            key, path, origin ? origin : "the built-in default", cwd,
            cwd[0] ? "/" : "", path, strerror(errnum), key, env);
    return CV_ERR;
}

int cv_app_load_topology(struct cv_app *app)
{
    char errstr[1024];
    int errors;

    if (app->topo_loaded)
        return CV_OK;
    if (check_path(app, "schemas.dir", app->cfg.schema_dir) != CV_OK ||
        check_path(app, "topology.path", app->cfg.topology_path) != CV_OK)
        return CV_ERR;
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
