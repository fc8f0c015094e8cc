/*
 * cmd_schedules.c - `conveyor schedules` (what fires when) and `conveyor
 * trigger` (fire one now, by hand).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "event.h"
#include "log.h"
#include "ops.h"
#include "pg.h"
#include "schedule.h"
#include "ticker.h"
#include "tz.h"

static void schedules_usage(FILE *out)
{
    fprintf(
        out,
        "usage: conveyor schedules [--name NAME] [--count N] [--offline]\n"
        "       conveyor schedules --between FROM UNTIL [--name NAME]\n\n"
        "Lists each schedule of the topology: cron, zone, state, catch-up\n"
        "policy, its last fire and counts from conveyor.schedule_runs, and\n"
        "its next N fire times (default 5) in its zone and in UTC, from\n"
        "now on the ticker's clock (ticker.clock).\n\n"
        "  --name NAME      only this schedule\n"
        "  --count N        next fire times to show (1..1000)\n"
        "  --offline        do not read Postgres (no last fire)\n"
        "  --between FROM UNTIL\n"
        "                   print every fire time in (FROM, UNTIL], RFC "
        "3339,\n"
        "                   one per line: NAME EPOCH_MS UTC LOCAL\n");
}

/* "2026-03-08 03:00 EDT (-04:00)" */
static void format_local(const struct cv_tz *tz, int64_t ms, char *out,
                         size_t size)
{
    struct tm tm;
    const char *abbr = "";
    int off = cv_tz_offset(tz, ms / 1000, &abbr);
    int aoff = off < 0 ? -off : off;

    cv_tz_local(tz, ms / 1000, &tm);
    snprintf(out, size, "%04d-%02d-%02d %02d:%02d %s (%c%02d:%02d)",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, abbr, off < 0 ? '-' : '+', aoff / 3600,
             (aoff / 60) % 60);
}

static void format_utc(int64_t ms, char *out)
{
    char full[32];

    cv_rfc3339_format(ms, full);
    /* drop the milliseconds: fire times are whole minutes */
    snprintf(out, 32, "%.19sZ", full);
}

static const char *const catch_up_names[] = {"all", "latest", "none"};

/* The recorded history of every schedule, by name. */
struct history {
    PGresult *res; /* name, last fire, last kind, scheduled, catch_up,
                      skipped, manual */
};

static int history_load(struct cv_app *app, struct history *h)
{
    char errstr[1024];
    struct cv_pg_error err;
    struct cv_pg *pg;

    pg = cv_pg_connect(app->cfg.pg_conninfo, "conveyor/schedules",
                       app->cfg.pg_connect_timeout_s, errstr, sizeof(errstr));
    if (!pg) {
        cv_error("%s (use --offline to list without Postgres)", errstr);
        return CV_ERR;
    }
    h->res = cv_ops_schedule_history(pg, &err);
    cv_pg_destroy(pg);
    if (!h->res) {
        cv_error("reading conveyor.schedule_runs: %s", err.message);
        return CV_ERR;
    }
    return CV_OK;
}

static int history_row(const struct history *h, const char *name)
{
    for (int r = 0; h->res && r < PQntuples(h->res); r++)
        if (strcmp(PQgetvalue(h->res, r, 0), name) == 0)
            return r;
    return -1;
}

static void print_schedule(const struct cv_topo_schedule *s,
                           const struct history *h, int64_t now, int count)
{
    char local[96], utc[32];
    int64_t t = now;
    int row = history_row(h, s->name);

    printf("%s\n", s->name);
    printf("  cron %s  zone %s  event %s\n", s->cron_expr, s->zone,
           s->event_type);
    printf("  state %s  catch_up %s (window %ds)  key %s\n",
           s->enabled ? "enabled" : "disabled", catch_up_names[s->catch_up],
           s->catch_up_window_s, s->key);
    if (h->res) {
        if (row >= 0 && !PQgetisnull(h->res, row, 1)) {
            int64_t last = strtoll(PQgetvalue(h->res, row, 1), NULL, 10);
            format_local(s->tz, last, local, sizeof(local));
            format_utc(last, utc);
            printf("  last fire %s  %s\n", local, utc);
        } else {
            printf("  last fire never\n");
        }
        printf("  runs: %s scheduled, %s catch-up, %s skipped, %s manual\n",
               row >= 0 ? PQgetvalue(h->res, row, 2) : "0",
               row >= 0 ? PQgetvalue(h->res, row, 3) : "0",
               row >= 0 ? PQgetvalue(h->res, row, 4) : "0",
               row >= 0 ? PQgetvalue(h->res, row, 5) : "0");
    }
    for (int i = 0; i < count; i++) {
        if (cv_schedule_next(s, t, &t) != CV_OK) {
            printf("  no fire time within five years\n");
            break;
        }
        format_local(s->tz, t, local, sizeof(local));
        format_utc(t, utc);
        printf("  %s %-32s %s\n", i ? "    " : "next", local, utc);
    }
}

static int print_between(const struct cv_topology *topo, const char *name,
                         int64_t from, int64_t until)
{
    char local[96], utc[32];

    for (size_t i = 0; i < topo->nschedules; i++) {
        const struct cv_topo_schedule *s = &topo->schedules[i];
        int64_t t = from;

        if (name && strcmp(name, s->name) != 0)
            continue;
        while (cv_schedule_next(s, t, &t) == CV_OK && t <= until) {
            format_local(s->tz, t, local, sizeof(local));
            format_utc(t, utc);
            printf("%s %lld %s %s\n", s->name, (long long)t, utc, local);
        }
    }
    return CV_EXIT_OK;
}

static int parse_time(const char *s, int64_t *ms)
{
    if (cv_rfc3339_parse(s, strlen(s), ms) == CV_OK)
        return CV_OK;
    fprintf(stderr,
            "conveyor: '%s' is not an RFC 3339 time "
            "(e.g. 2026-11-22T08:00:00Z)\n",
            s);
    return CV_ERR;
}

int cv_cmd_schedules(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"count", required_argument, NULL, 'c'},
        {"offline", no_argument, NULL, 'o'},
        {"between", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *name = NULL, *from_s = NULL;
    int ch, count = 5, offline = 0, rc = CV_EXIT_OK;
    struct history h = {NULL};
    struct cv_clock clock;
    char errstr[512];

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            name = optarg;
            break;
        case 'c':
            if (cv_cli_parse_int(optarg, 1, 1000, &count) != CV_OK) {
                fprintf(stderr,
                        "conveyor schedules: --count: expected "
                        "1..1000, got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            break;
        case 'o':
            offline = 1;
            break;
        case 'b':
            from_s = optarg;
            break;
        case 'h':
            schedules_usage(stdout);
            return CV_EXIT_OK;
        default:
            schedules_usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if ((from_s && optind + 1 != argc) || (!from_s && optind != argc)) {
        schedules_usage(stderr);
        return CV_EXIT_USAGE;
    }
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    if (name && !cv_topology_schedule(&app->topo, name)) {
        fprintf(stderr, "conveyor schedules: no schedule '%s' in %s\n", name,
                app->topo.path);
        return CV_EXIT_USAGE;
    }
    if (from_s) {
        int64_t from, until;
        if (parse_time(from_s, &from) != CV_OK ||
            parse_time(argv[optind], &until) != CV_OK)
            return CV_EXIT_USAGE;
        return print_between(&app->topo, name, from, until);
    }
    if (cv_clock_parse(app->cfg.ticker_clock, &clock, errstr, sizeof(errstr)) !=
        CV_OK) {
        fprintf(stderr, "conveyor schedules: %s\n", errstr);
        return CV_EXIT_USAGE;
    }
    if (!offline && history_load(app, &h) != CV_OK)
        return CV_EXIT_RUNTIME;
    if (app->topo.nschedules == 0)
        printf("no schedules in %s\n", app->topo.path);
    for (size_t i = 0; i < app->topo.nschedules; i++)
        if (!name || strcmp(name, app->topo.schedules[i].name) == 0)
            print_schedule(&app->topo.schedules[i], &h, cv_clock_now_ms(&clock),
                           count);
    PQclear(h.res);
    return rc;
}

/* ---- trigger ---- */

static void trigger_usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor trigger NAME --reason TEXT [--actor WHO]\n\n"
            "Fires schedule NAME now as a manual run: one event with its own\n"
            "id (NAME@manual:<uuid>), a conveyor.schedule_runs row of kind\n"
            "'manual' and a conveyor.audit_log row with who and why, in one\n"
            "transaction. The relay publishes the event. A disabled schedule\n"
            "can be triggered too.\n\n"
            "  --reason TEXT  why (required; goes into the audit log)\n"
            "  --actor WHO    who (default: the OS user)\n");
}

int cv_cmd_trigger(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"reason", required_argument, NULL, 'r'},
        {"actor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *reason = NULL, *actor = NULL;
    const struct cv_topo_schedule *s;
    char errstr[1024], id[CV_TRIGGER_ID_MAX];
    struct cv_clock clock;
    struct cv_pg *pg;
    int ch, rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            reason = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        case 'h':
            trigger_usage(stdout);
            return CV_EXIT_OK;
        default:
            trigger_usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || !reason || !*reason) {
        if (!reason || !*reason)
            fprintf(stderr, "conveyor trigger: --reason is required (it goes "
                            "into the audit log)\n");
        trigger_usage(stderr);
        return CV_EXIT_USAGE;
    }
    if (!actor || !*actor)
        actor = cv_os_user();
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    s = cv_topology_schedule(&app->topo, argv[optind]);
    if (!s) {
        fprintf(stderr, "conveyor trigger: no schedule '%s' in %s\n",
                argv[optind], app->topo.path);
        return CV_EXIT_USAGE;
    }
    if (cv_clock_parse(app->cfg.ticker_clock, &clock, errstr, sizeof(errstr)) !=
        CV_OK) {
        fprintf(stderr, "conveyor trigger: %s\n", errstr);
        return CV_EXIT_USAGE;
    }
    pg = cv_app_pg(app, "conveyor/trigger");
    if (!pg)
        return CV_EXIT_RUNTIME;
    rc = cv_ticker_trigger(pg, &app->topo, app->cat, s, cv_clock_now_ms(&clock),
                           actor, reason, id, errstr, sizeof(errstr));
    cv_pg_destroy(pg);
    if (rc != CV_OK) {
        cv_error("%s", errstr);
        return CV_EXIT_RUNTIME;
    }
    printf("triggered %s: event %s (actor %s)\n", s->name, id, actor);
    return CV_EXIT_OK;
}
