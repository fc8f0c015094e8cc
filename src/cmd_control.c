/*
 * cmd_control.c - `conveyor pause` and `conveyor resume`: the kill switch.
 *
 * A switch is a row in conveyor.controls (scope, target) with who set it
 * and why; it survives restarts. Setting or clearing one writes an audit
 * row and a NOTIFY conveyor_controls in the same transaction, so running
 * consumers and the ticker react at once (see consume.c and ticker.c).
 *
 * Each switch is its own row: `resume --all` clears the global switch and
 * nothing else. Both commands print what they changed and then every
 * switch still in force, so an operator is never told "resumed" while a
 * route or schedule stays held.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "ops.h"
#include "pg.h"

static void usage(FILE *out, const char *cmd)
{
    int pause = strcmp(cmd, "pause") == 0;

    fprintf(out,
            "usage: conveyor %s (--all | --domain NAME | --route DOMAIN/EVENT "
            "|\n"
            "                       --schedule NAME | --target NAME) "
            "%s[--actor WHO]\n\n"
            "%s\n\n",
            cmd, pause ? "--reason TEXT " : "[--reason TEXT] ",
            pause ? "Sets a switch: consumption (or a schedule) stops until "
                    "`conveyor resume`.\nConsumers react within a second: they "
                    "finish the batch in flight, then\ncommit nothing more; "
                    "they keep their partitions and resume exactly where\n"
                    "they stopped. The switch is stored in Postgres and "
                    "survives restarts;\n`conveyor status` shows it and who "
                    "set it. The command prints what it\nset and every other "
                    "switch in force."
                  : "Clears exactly one switch set by `conveyor pause` (each "
                    "switch is its own\nrow: clearing one never clears "
                    "another). The command prints what it\ncleared and every "
                    "switch still in force.");
    if (pause)
        fprintf(out,
                "  --all              the global switch: every domain, "
                "schedule and target\n"
                "  --domain NAME      one domain: its consumers pause their "
                "partitions\n"
                "  --route D/EVENT    one event type in domain D: each "
                "partition stops\n"
                "                     at the first such event, so order is "
                "kept\n"
                "  --schedule NAME    one schedule: its fire times are "
                "recorded as\n"
                "                     skipped (reason \"paused\")\n"
                "  --target NAME      one target (another service): no new "
                "call is sent;\n"
                "                     its requests wait, none is lost (the "
                "calls in\n"
                "                     flight finish)\n"
                "  --reason TEXT      why (required; goes into the audit "
                "log)\n");
    else
        fprintf(out,
                "  --all              clears the global switch only; domain, "
                "route and\n"
                "                     schedule switches stay in force until "
                "each is\n"
                "                     resumed by name\n"
                "  --domain NAME      clears the domain's switch: its "
                "consumers resume\n"
                "                     their partitions where they stopped "
                "(unless the\n"
                "                     global switch or its kill_switch_env "
                "holds them)\n"
                "  --route D/EVENT    clears the switch on one event type in "
                "domain D:\n"
                "                     its held partitions move on\n"
                "  --schedule NAME    clears the schedule's switch: it fires "
                "again\n"
                "                     (unless the global switch is set)\n"
                "  --target NAME      clears the target's switch: its waiting "
                "requests\n"
                "                     are sent\n"
                "  --reason TEXT      why (optional; goes into the audit "
                "log)\n");
    fprintf(out, "  --actor WHO        who (default: the OS user)\n");
}

/* "the global switch", "domain leads", "route leads/x.y". */
static void describe(char *buf, size_t size, const char *scope,
                     const char *target)
{
    if (strcmp(scope, "all") == 0)
        snprintf(buf, size, "the global switch");
    else
        snprintf(buf, size, "%s %s", scope, target);
}

/*
 * Prints every switch in force other than (scope, target) on one line:
 * "still paused: route leads/x (since T, by carol: why), schedule y (...)"
 * or "still paused: nothing". Returns CV_OK or CV_ERR (Postgres failed).
 */
static int print_in_force(struct cv_pg *pg, const char *label,
                          const char *scope, const char *target)
{
    struct cv_pg_error err;
    PGresult *res;
    char what[512];

    res = cv_ops_switches(pg, scope, target, &err);
    if (!res) {
        cv_error("listing the switches: %s", err.message);
        return CV_ERR;
    }
    printf("%s:", label);
    if (!PQntuples(res))
        printf(" nothing");
    for (int i = 0; i < PQntuples(res); i++) {
        describe(what, sizeof(what), PQgetvalue(res, i, 0),
                 PQgetvalue(res, i, 1));
        printf("%s %s (since %s, by %s: %s)", i ? "," : "", what,
               PQgetvalue(res, i, 3), PQgetvalue(res, i, 2),
               PQgetvalue(res, i, 4));
    }
    printf("\n");
    PQclear(res);
    return CV_OK;
}

static int run_control(struct cv_app *app, int pause, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'A'},
        {"domain", required_argument, NULL, 'd'},
        {"route", required_argument, NULL, 'r'},
        {"schedule", required_argument, NULL, 's'},
        {"target", required_argument, NULL, 't'},
        {"reason", required_argument, NULL, 'R'},
        {"actor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = pause ? "pause" : "resume";
    const char *scope = NULL, *target = "", *reason = NULL, *actor = NULL;
    const struct cv_topo_domain *d;
    struct cv_pg_error err;
    struct cv_pg *pg;
    PGresult *res;
    char what[512], errstr[512];
    int ch, nscopes = 0, changed, rc = CV_EXIT_OK;

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
        case 't':
            scope = ch == 'd'   ? "domain"
                    : ch == 'r' ? "route"
                    : ch == 's' ? "schedule"
                                : "target";
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
                    "--domain, --route, --schedule, --target\n",
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
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    if (cv_ops_switch_check(&app->topo, scope, target, errstr,
                            sizeof(errstr)) != CV_OK) {
        fprintf(stderr, "conveyor: %s\n", errstr);
        return CV_EXIT_USAGE;
    }

    pg = cv_app_pg(app, "conveyor/control");
    if (!pg)
        return CV_EXIT_RUNTIME;
    res = cv_ops_switch_set(pg, pause, scope, target, actor, reason, &err);
    if (!res) {
        cv_error("%s: %s", cmd, err.message);
        cv_pg_destroy(pg);
        return CV_EXIT_RUNTIME;
    }
    changed = atoi(PQgetvalue(res, 0, 0));
    describe(what, sizeof(what), scope, target);
    if (pause && PQgetisnull(res, 0, 1))
        printf("paused %s%s (by %s: %s)\n", what,
               strcmp(scope, "all") == 0 ? ": every domain, schedule and target"
                                         : "",
               actor, reason);
    else if (pause)
        printf("%s was already paused (since %s, by %s: %s); its reason is "
               "now \"%s\" (by %s)\n",
               what, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1),
               PQgetvalue(res, 0, 3), reason, actor);
    else if (changed)
        printf("resumed %s (by %s; it was paused since %s, by %s: %s)\n", what,
               actor, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1),
               PQgetvalue(res, 0, 3));
    else
        printf("%s was not paused; nothing changed\n", what);
    PQclear(res);
    if (print_in_force(pg, pause ? "also in force" : "still paused", scope,
                       target) != CV_OK)
        rc = CV_EXIT_RUNTIME;
    /* the environment switch is per process: say that it may still hold */
    d = strcmp(scope, "domain") == 0 ? cv_topology_domain(&app->topo, target)
                                     : NULL;
    if (!pause && d && d->kill_switch_env)
        printf("note: domain %s also stays paused in any process started "
               "with %s set (1, true, yes or on)\n",
               d->name, d->kill_switch_env);
    cv_pg_destroy(pg);
    return rc;
}

int cv_cmd_pause(struct cv_app *app, int argc, char **argv)
{
    return run_control(app, 1, argc, argv);
}

int cv_cmd_resume(struct cv_app *app, int argc, char **argv)
{
    return run_control(app, 0, argc, argv);
}
