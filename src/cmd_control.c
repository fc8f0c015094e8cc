/*
 * cmd_control.c - `conveyor pause` and `conveyor resume`: the kill switch.
 *
 * A switch is a row in conveyor.controls (scope, target) with who set it
 * and why; it survives restarts. Setting or clearing one writes an audit
 * row and a NOTIFY conveyor_controls in the same transaction, so running
 * consumers and the ticker react at once (see consume.c and ticker.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "pg.h"

static void usage(FILE *out, const char *cmd)
{
    fprintf(out,
            "usage: conveyor %s (--all | --domain NAME | --route DOMAIN/EVENT "
            "|\n"
            "                       --schedule NAME) %s[--actor WHO]\n\n"
            "%s\n\n"
            "  --all              every domain and every schedule\n"
            "  --domain NAME      one domain: its consumers pause their "
            "partitions\n"
            "  --route D/EVENT    one event type in domain D: each partition "
            "stops\n"
            "                     at the first such event, so order is kept\n"
            "  --schedule NAME    one schedule: its fire times are recorded "
            "as\n"
            "                     skipped (reason \"paused\")\n"
            "  --reason TEXT      why (%s; goes into the audit log)\n"
            "  --actor WHO        who (default: the OS user)\n",
            cmd,
            strcmp(cmd, "pause") == 0 ? "--reason TEXT " : "[--reason TEXT] ",
            strcmp(cmd, "pause") == 0
                ? "Pauses consumption (or a schedule) until `conveyor resume`. "
                  "Consumers react\nwithin a second: they finish the batch in "
                  "flight, then commit nothing more;\nthey keep their "
                  "partitions and resume exactly where they stopped. The\n"
                  "switch is stored in Postgres and survives restarts; "
                  "`conveyor status`\nshows it and who set it."
                : "Clears a switch set by `conveyor pause`.",
            strcmp(cmd, "pause") == 0 ? "required" : "optional");
}

/* Checks that the target exists in the topology; CV_OK or an error. */
static int check_target(struct cv_app *app, const char *scope,
                        const char *target)
{
    const struct cv_topo_domain *d;
    char domain[256];
    const char *slash;

    if (strcmp(scope, "domain") == 0 &&
        !cv_topology_domain(&app->topo, target)) {
        fprintf(stderr, "conveyor: no domain '%s' in %s\n", target,
                app->topo.path);
        return CV_ERR;
    }
    if (strcmp(scope, "schedule") == 0 &&
        !cv_topology_schedule(&app->topo, target)) {
        fprintf(stderr, "conveyor: no schedule '%s' in %s\n", target,
                app->topo.path);
        return CV_ERR;
    }
    if (strcmp(scope, "route") != 0)
        return CV_OK;
    slash = strchr(target, '/');
    if (!slash || (size_t)(slash - target) >= sizeof(domain)) {
        fprintf(stderr, "conveyor: --route '%s': expected DOMAIN/EVENT_TYPE\n",
                target);
        return CV_ERR;
    }
    snprintf(domain, sizeof(domain), "%.*s", (int)(slash - target), target);
    d = cv_topology_domain(&app->topo, domain);
    if (!d || !cv_topology_route(d, slash + 1)) {
        fprintf(stderr,
                "conveyor: --route '%s': domain '%s' has no route for "
                "'%s'\n",
                target, domain, slash + 1);
        return CV_ERR;
    }
    return CV_OK;
}

static int run_control(struct cv_app *app, int pause, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'A'},
        {"domain", required_argument, NULL, 'd'},
        {"route", required_argument, NULL, 'r'},
        {"schedule", required_argument, NULL, 's'},
        {"reason", required_argument, NULL, 'R'},
        {"actor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = pause ? "pause" : "resume";
    const char *scope = NULL, *target = "", *reason = NULL, *actor = NULL;
    struct cv_pg_error err;
    struct cv_pg *pg;
    PGresult *res;
    int ch, nscopes = 0, changed;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'A':
            scope = "all";
            nscopes++;
            break;
        case 'd':
        case 'r':
        case 's':
            scope = ch == 'd' ? "domain" : ch == 'r' ? "route" : "schedule";
            target = optarg;
            nscopes++;
            break;
        case 'R':
            reason = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        case 'h':
            usage(stdout, cmd);
            return CV_EXIT_OK;
        default:
            usage(stderr, cmd);
            return CV_EXIT_USAGE;
        }
    }
    if (optind != argc || nscopes != 1) {
        if (nscopes != 1)
            fprintf(stderr,
                    "conveyor %s: give exactly one of --all, "
                    "--domain, --route, --schedule\n",
                    cmd);
        usage(stderr, cmd);
        return CV_EXIT_USAGE;
    }
    if (pause && (!reason || !*reason)) {
        fprintf(stderr, "conveyor pause: --reason is required (it goes into "
                        "the audit log)\n");
        return CV_EXIT_USAGE;
    }
    if (!actor || !*actor)
        actor = cv_os_user();
    if (cv_app_load_topology(app) != CV_OK ||
        check_target(app, scope, target) != CV_OK)
        return CV_EXIT_USAGE;

    pg = cv_app_pg(app, "conveyor/control");
    if (!pg)
        return CV_EXIT_RUNTIME;
    if (pause)
        res = cv_pg_exec(
            pg,
            "WITH c AS ("
            "  INSERT INTO conveyor.controls (scope, target, reason, actor)"
            "  VALUES ($1, $2, $3, $4)"
            "  ON CONFLICT (scope, target) DO UPDATE SET reason ="
            "    excluded.reason, actor = excluded.actor, set_at = now()"
            "  RETURNING 1),"
            " a AS ("
            "  INSERT INTO conveyor.audit_log (actor, action, target, args,"
            "    reason)"
            "  SELECT $4, 'pause', $1 || ':' || $2,"
            "    jsonb_build_object('scope', $1::text, 'target', $2::text), $3"
            "  FROM c)"
            "SELECT count(pg_notify('conveyor_controls', $1 || ':' || $2))"
            "  FROM c",
            4, (const char *[]){scope, target, reason, actor}, &err);
    else
        res = cv_pg_exec(
            pg,
            "WITH c AS ("
            "  DELETE FROM conveyor.controls WHERE scope = $1 AND target = $2"
            "  RETURNING reason),"
            " a AS ("
            "  INSERT INTO conveyor.audit_log (actor, action, target, args,"
            "    reason)"
            "  SELECT $4, 'resume', $1 || ':' || $2,"
            "    jsonb_build_object('scope', $1::text, 'target', $2::text,"
            "      'paused_for', c.reason), $3"
            "  FROM c)"
            "SELECT count(pg_notify('conveyor_controls', $1 || ':' || $2))"
            "  FROM c",
            4, (const char *[]){scope, target, reason, actor}, &err);
    cv_pg_destroy(pg);
    if (!res) {
        cv_error("%s: %s", cmd, err.message);
        return CV_EXIT_RUNTIME;
    }
    changed = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (pause)
        printf("paused %s%s%s (actor %s)\n", scope, *target ? " " : "", target,
               actor);
    else if (changed)
        printf("resumed %s%s%s (actor %s)\n", scope, *target ? " " : "", target,
               actor);
    else
        printf("%s%s%s was not paused; nothing to do\n", scope,
               *target ? " " : "", target);
    return CV_EXIT_OK;
}

int cv_cmd_pause(struct cv_app *app, int argc, char **argv)
{
    return run_control(app, 1, argc, argv);
}

int cv_cmd_resume(struct cv_app *app, int argc, char **argv)
{
    return run_control(app, 0, argc, argv);
}
