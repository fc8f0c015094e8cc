/*
 * cmd_replay.c - `conveyor replay`: re-run a group's handlers over a range
 * of its topics, for recovery ("replay failed events if needed").
 *
 * Per partition the range is [from, to): from is --from-offset or the first
 * offset whose Kafka timestamp is at or after --from-time; to is the first
 * offset at or after --to-time, or the stored offset (everything processed
 * so far). The command reads the range to learn its event ids and then, in
 * one transaction, with the group's offset rows locked:
 *   - deletes those ids from the group's inbox, so the handlers run again
 *     instead of being deduplicated (events after the range stay in the
 *     inbox and are skipped as duplicates when the consumer re-reads them);
 *   - rewinds each stored offset to from, compare-and-set against the value
 *     it read under the lock;
 *   - writes the audit row and NOTIFY conveyor_controls 'replay:<group>'.
 * A running consumer re-seeks on the NOTIFY; one with a batch in flight
 * finds its offset moved (fenced) and re-seeks too. --dry-run prints the
 * same plan and changes nothing.
 *
 * The plan says what will run again: per partition the stored offset, the
 * range [from, to) and its number of events, then for each event type in
 * the range how many events and which route's handler they go to (or that
 * they have no route and will be dead-lettered again). The handlers of the
 * shipped domains (consumers/) are idempotent: replaying events they
 * applied changes nothing, and replaying after a fix applies it once. A
 * replay also re-emits their outbox events under the same derived ids,
 * which the receiving groups' inboxes (and their own keys) absorb.
 *
 * Timestamps: the Kafka message timestamp (producer CreateTime by default),
 * found with offsets_for_times or, where the broker does not support it
 * (the dev broker), by binary search over the partition, which assumes the
 * timestamps rise with the offsets, as they do for one producer.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "pg.h"
#include "replay.h"

/* Prints what the range's events will run: one line per event type. */
static void print_counts(const struct cv_topo_domain *d,
                         const struct cv_replay_count *tc, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct cv_replay_count *c = &tc[i];
        const struct cv_topo_route *route =
            c->type[0] ? cv_topology_route(d, c->type) : NULL;

        if (route)
            printf("    %10lld x %s -> %s\n", (long long)c->n, c->type,
                   route->handler ? route->handler : "declared SQL");
        else
            printf("    %10lld x %s -> no route: dead-lettered again\n",
                   (long long)c->n, c->type[0] ? c->type : "(no ce_type)");
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor replay --group GROUP [--topic T] [--partition P]\n"
            "                       (--from-time TIME | --from-offset O) "
            "[--to-time TIME]\n"
            "                       [--dry-run] [--reason TEXT] [--actor WHO]\n"
            "\n"
            "Re-runs GROUP's handlers over a range of its topics: shows per "
            "partition\nthe range, how many events will be re-run and by "
            "which handlers, then\nrewinds the stored offsets "
            "(compare-and-set) and forgets the range's\nevent ids in the "
            "inbox, in one transaction, audited. Running consumers\nre-seek "
            "within a second. Without --to-time the range ends at the "
            "stored\noffset (what was processed). --dry-run prints the plan "
            "and changes nothing.\nTIME is RFC 3339 "
            "(2026-11-22T08:00:00Z).\n");
}

int cv_cmd_replay(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"group", required_argument, NULL, 'g'},
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"from-time", required_argument, NULL, 'f'},
        {"from-offset", required_argument, NULL, 'o'},
        {"to-time", required_argument, NULL, 'u'},
        {"dry-run", no_argument, NULL, 'n'},
        {"reason", required_argument, NULL, 'r'},
        {"actor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct cv_replay_req req = {.partition = -1, .reason = "replay"};
    struct cv_replay_plan plan;
    const struct cv_topo_domain *domain;
    const char *from_off = NULL;
    char errstr[1024];
    struct cv_pg *pg;
    int ch, rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'g':
            req.group = optarg;
            break;
        case 't':
            req.topic = optarg;
            break;
        case 'p':
            if (cv_cli_parse_int(optarg, 0, 100000, &req.partition) != CV_OK) {
                fprintf(stderr,
                        "conveyor replay: --partition: expected a "
                        "partition number, got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            break;
        case 'f':
            req.from_time = optarg;
            break;
        case 'o':
            from_off = optarg;
            break;
        case 'u':
            req.to_time = optarg;
            break;
        case 'n':
            req.dry_run = 1;
            break;
        case 'r':
            req.reason = optarg;
            break;
        case 'a':
            req.actor = optarg;
            break;
        case 'h':
            usage(stdout);
            return CV_EXIT_OK;
        default:
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if (optind != argc || !req.group || !req.from_time == !from_off) {
        fprintf(stderr, "conveyor replay: give --group and one of "
                        "--from-time, --from-offset\n");
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    if (from_off) {
        char *end;
        req.from_offset = strtoll(from_off, &end, 10);
        if (*end || req.from_offset < 0) {
            fprintf(stderr,
                    "conveyor replay: --from-offset: expected an "
                    "offset, got '%s'\n",
                    from_off);
            return CV_EXIT_USAGE;
        }
    }
    if (!req.actor || !*req.actor)
        req.actor = cv_os_user();
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    if (cv_replay_check(&app->topo, &req, &domain, errstr, sizeof(errstr)) !=
        CV_OK) {
        fprintf(stderr, "conveyor replay: %s\n", errstr);
        return CV_EXIT_USAGE;
    }

    pg = cv_app_pg(app, "conveyor/replay");
    if (!pg)
        return CV_EXIT_RUNTIME;
    rc = cv_replay(&app->cfg, &app->topo, pg, &req, &plan, errstr,
                   sizeof(errstr));
    cv_pg_destroy(pg);
    if (rc == CV_REPLAY_BAD) {
        fprintf(stderr, "conveyor replay: %s\n", errstr);
        cv_replay_plan_free(&plan);
        return CV_EXIT_USAGE;
    }
    printf("%-28s %5s %10s %10s %12s %s\n", "TOPIC", "PART", "STORED", "FROM",
           "TO", "EVENTS");
    for (size_t i = 0; i < plan.nranges; i++) {
        const struct cv_replay_range *r = &plan.ranges[i];
        int64_t n = r->from < r->to ? r->to - r->from : 0;
        printf("%-28s %5d %10lld %10lld %12lld %lld\n", r->topic,
               (int)r->partition, (long long)r->stored, (long long)r->from,
               (long long)r->to, (long long)n);
        print_counts(plan.domain, r->types, r->ntypes);
    }
    if (rc == CV_OK) {
        if (plan.nall) {
            printf("in all, per event type and handler:\n");
            print_counts(plan.domain, plan.all, plan.nall);
        }
        printf("%lld events to re-run in %zu partitions%s\n",
               (long long)plan.total, plan.nreplayed,
               req.dry_run ? " (dry run: nothing changed)" : "");
    }
    if (plan.applied)
        printf("rewound %zu partitions; %lld event ids forgotten by the "
               "inbox; consumers re-seek now\n",
               plan.nreplayed, plan.forgotten);
    if (rc == CV_REPLAY_RACE)
        fprintf(stderr, "conveyor replay: %s\n", errstr);
    else if (rc != CV_OK)
        cv_error("replay: %s", errstr);
    cv_replay_plan_free(&plan);
    return rc == CV_OK ? CV_EXIT_OK : CV_EXIT_RUNTIME;
}
