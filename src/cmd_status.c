/*
 * cmd_status.c - `conveyor status`: where every group stands.
 *
 * Per group and partition: the stored offset (Postgres), the high watermark
 * (the broker) and the lag between them; the outbox backlog; open dead
 * letters; retention gaps (events the broker deleted before they were
 * processed: those partitions are stopped).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kafka.h"
#include "log.h"
#include "effect_store.h"
#include "ops.h"
#include "pg.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor status [--group GROUP]\n\n"
            "Prints per group and partition the log start offset (LOW), the\n"
            "stored offset, the high watermark and the lag; the outbox "
            "backlog; open dead "
            "letters; retention gaps.\nExit code 1 if Postgres cannot "
            "be reached.\n");
}

/*
 * Consumers write their state every 10 s (and at once when it changes); a
 * silent one is stopped, hung, or cut off from Postgres. A member silent
 * for over STALE_S is almost always a process that was killed: its
 * partitions went to the group's other members long ago (the session
 * timeout is seconds). Those are summed up in one line per group, so that
 * twenty killed processes do not bury the one member that went silent a
 * minute ago; and a group with no member heard from recently says so.
 * Rows older than ten minutes are not read at all.
 */
#define SILENT_S 30
#define STALE_S  120

static void print_members(PGresult *res)
{
    int n = PQntuples(res);

    for (int i = 0; i < n;) {
        const char *g = PQgetvalue(res, i, 0);
        int stale = 0, heard = 0;
        long long newest = -1; /* the most recently heard stale member */
        const char *last_seen = "", *last_member = "";

        for (; i < n && strcmp(PQgetvalue(res, i, 0), g) == 0; i++) {
            const char *state = PQgetvalue(res, i, 2);
            const char *detail = PQgetvalue(res, i, 3);
            long long age = strtoll(PQgetvalue(res, i, 4), NULL, 10);

            if (age > STALE_S) {
                if (newest < 0 || age < newest) {
                    newest = age;
                    last_seen = PQgetvalue(res, i, 5);
                    last_member = PQgetvalue(res, i, 1);
                }
                stale++;
                continue;
            }
            heard++;
            if (age > SILENT_S)
                printf("consumer %s %s: SILENT for %llds (stopped, hung or "
                       "cut off from Postgres); last %s%s%s\n",
                       g, PQgetvalue(res, i, 1), age, state,
                       *detail ? ": " : "", detail);
            else if (strcmp(state, "paused") == 0)
                printf("consumer %s %s: paused %llds ago (%s)\n", g,
                       PQgetvalue(res, i, 1), age, detail);
            else
                printf("consumer %s %s: running%s%s\n", g,
                       PQgetvalue(res, i, 1), *detail ? ", " : "", detail);
        }
        if (stale && !heard)
            printf("consumer %s: SILENT: no member heard from for %llds "
                   "(%d member%s, the last %s at %s)\n",
                   g, newest, stale, stale == 1 ? "" : "s", last_member,
                   last_seen);
        else if (stale)
            printf("consumer %s: %d stale member%s last seen %s or before "
                   "(silent over %ds: presumably killed, their partitions "
                   "taken over; not listed)\n",
                   g, stale, stale == 1 ? "" : "s", last_seen, STALE_S);
    }
}

int cv_cmd_status(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"group", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *group = NULL;
    char errstr[1024], unreachable[1024] = "";
    struct cv_pg *pg = NULL;
    struct cv_pg_error err;
    rd_kafka_t *rk = NULL;
    PGresult *res = NULL;
    int ch, rc = CV_EXIT_RUNTIME;
    long long total_lag = 0;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "g:h", longopts, NULL)) != -1) {
        if (ch == 'g') {
            group = optarg;
        } else if (ch == 'h') {
            usage(stdout);
            return CV_EXIT_OK;
        } else {
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    pg = cv_app_pg(app, "conveyor/status");
    if (!pg)
        return CV_EXIT_RUNTIME;
    if (strcmp(app->cfg.kafka_brokers, "dev") != 0)
        rk = cv_kafka_producer_new(&app->cfg, NULL, errstr, sizeof(errstr));

    res = cv_ops_offsets(pg, group, &err);
    if (!res)
        goto pg_fail;
    printf("%-28s %-28s %5s %10s %12s %12s %10s\n", "GROUP", "TOPIC", "PART",
           "LOW", "STORED", "HIGH", "LAG");
    for (int i = 0; i < PQntuples(res); i++) {
        long long stored = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        int64_t low = 0, high = 0;
        char los[24] = "-", hs[24] = "-", ls[24] = "-";
        if (rk && !unreachable[0] &&
            cv_kafka_watermarks(rk, PQgetvalue(res, i, 1),
                                atoi(PQgetvalue(res, i, 2)), &low, &high, 5000,
                                errstr, sizeof(errstr)) != CV_OK)
            /* one timeout is enough to know: do not wait for each */
            snprintf(unreachable, sizeof(unreachable), "%s", errstr);
        if (rk && !unreachable[0]) {
            snprintf(los, sizeof(los), "%lld", (long long)low);
            snprintf(hs, sizeof(hs), "%lld", (long long)high);
            snprintf(ls, sizeof(ls), "%lld", (long long)high - stored);
            total_lag += (long long)high - stored;
        }
        printf("%-28s %-28s %5s %10s %12lld %12s %10s\n", PQgetvalue(res, i, 0),
               PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), los, stored, hs,
               ls);
    }
    if (!PQntuples(res))
        printf("(no stored offsets yet: no consumer has joined)\n");
    PQclear(res);
    if (rk && unreachable[0])
        printf("total lag: unknown (broker unreachable: %s)\n", unreachable);
    else if (rk)
        printf("total lag: %lld\n", total_lag);
    else
        printf("total lag: unknown (no broker configured)\n");

    res = cv_ops_outbox(pg, &err);
    if (!res)
        goto pg_fail;
    printf("outbox: %s unpublished (oldest %ss)\n", PQgetvalue(res, 0, 0),
           PQgetvalue(res, 0, 1));
    PQclear(res);

    res = cv_ops_dead_letters_open(pg, group, &err);
    if (!res)
        goto pg_fail;
    printf("dead letters: %s open\n", PQgetvalue(res, 0, 0));
    PQclear(res);

    res = cv_ops_retries(pg, group, &err);
    if (!res)
        goto pg_fail;
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
        printf("retries: none waiting\n");
    else
        printf("retries: %s waiting (%s blocking their partition, %s "
               "parked), most attempts so far %s, next due in %ss\n",
               PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
               PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
               PQgetvalue(res, 0, 4));
    PQclear(res);

    res = cv_effect_store_counts(pg, &err);
    if (!res)
        goto pg_fail;
    for (int i = 0; i < PQntuples(res); i++)
        printf("target %s: %s pending (oldest %ss), %s in flight, %s failed; "
               "%s reclaimed from runners that stopped mid-call\n",
               PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetisnull(res, i, 4) ? "-" : PQgetvalue(res, i, 4),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
               PQgetvalue(res, i, 5));
    PQclear(res);

    res = cv_ops_notices(pg, &err);
    if (!res)
        goto pg_fail;
    for (int i = 0; i < PQntuples(res); i++)
        printf("NOTICE %s %s since %s: %s\n", PQgetvalue(res, i, 0),
               PQgetvalue(res, i, 1), PQgetvalue(res, i, 3),
               PQgetvalue(res, i, 2));
    PQclear(res);

    res = cv_ops_switches(pg, NULL, NULL, &err);
    if (!res)
        goto pg_fail;
    if (!PQntuples(res))
        printf("switches: none (nothing paused)\n");
    for (int i = 0; i < PQntuples(res); i++)
        printf("PAUSED %s%s%s by %s since %s: %s\n", PQgetvalue(res, i, 0),
               *PQgetvalue(res, i, 1) ? " " : "", PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
               PQgetvalue(res, i, 4));
    PQclear(res);

    res = cv_ops_members(pg, group, &err);
    if (!res)
        goto pg_fail;
    print_members(res);
    PQclear(res);

    res = cv_ops_gaps(pg, group, &err);
    if (!res)
        goto pg_fail;
    if (!PQntuples(res))
        printf("retention gaps: none\n");
    for (int i = 0; i < PQntuples(res); i++)
        printf("RETENTION GAP: group %s %s [%s] offsets %s..%lld deleted by "
               "the broker before they were processed (detected %s); "
               "partition stopped\n",
               PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
               strtoll(PQgetvalue(res, i, 4), NULL, 10) - 1,
               PQgetvalue(res, i, 5));
    PQclear(res);
    res = NULL;
    rc = CV_EXIT_OK;
    goto out;
pg_fail:
    cv_error("status: %s", err.message);
out:
    if (rk)
        rd_kafka_destroy(rk);
    cv_pg_destroy(pg);
    return rc;
}
