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
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "pg.h"

struct range {
    char topic[256];
    int32_t partition;
    int64_t stored, low, high;
    int64_t from, to; /* [from, to) is replayed; from >= to: nothing */
};

/* How many events of one type a range holds ("" = no ce_type header). */
struct type_count {
    char type[256];
    int64_t n;
};

struct tally {
    struct type_count *tc;
    size_t n, cap;
};

static void tally_add(struct tally *t, const void *type, size_t size, int64_t n)
{
    char name[256];

    if (size >= sizeof(name))
        size = sizeof(name) - 1;
    memcpy(name, type ? type : "", type ? size : 0);
    name[type ? size : 0] = '\0';
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->tc[i].type, name) == 0) {
            t->tc[i].n += n;
            return;
        }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 4;
        t->tc = cv_realloc(t->tc, t->cap * sizeof(*t->tc));
    }
    snprintf(t->tc[t->n].type, sizeof(t->tc[t->n].type), "%s", name);
    t->tc[t->n++].n = n;
}

/* Prints what the range's events will run: one line per event type. */
static void print_tally(const struct cv_topo_domain *d, const struct tally *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct type_count *c = &t->tc[i];
        const struct cv_topo_route *route =
            c->type[0] ? cv_topology_route(d, c->type) : NULL;

        if (route)
            printf("    %10lld x %s -> %s\n", (long long)c->n, c->type,
                   route->handler);
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

/* The message at offset (its timestamp), or NULL. */
static rd_kafka_message_t *message_at(rd_kafka_t *rk, const char *topic,
                                      int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_message_t *m = NULL;

    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (int tries = 0; tries < 100 && !m; tries++) {
        m = rd_kafka_consumer_poll(rk, 100);
        if (m && (m->err || m->offset < offset)) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    return m;
}

/* The first offset in [low, high) whose timestamp is >= ts (high if none):
 * the broker's answer, else a binary search. */
static int64_t offset_for_time(rd_kafka_t *rk, struct range *r, int64_t ts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t lo = r->low, hi = r->high;

    rd_kafka_topic_partition_list_add(l, r->topic, r->partition)->offset = ts;
    if (rd_kafka_offsets_for_times(rk, l, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        !l->elems[0].err && l->elems[0].offset >= 0) {
        int64_t o = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        return o;
    }
    rd_kafka_topic_partition_list_destroy(l);
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        rd_kafka_message_t *m = message_at(rk, r->topic, r->partition, mid);
        int64_t t = m ? rd_kafka_message_timestamp(m, NULL) : -1;

        if (m)
            rd_kafka_message_destroy(m);
        if (t < 0)
            return -1;
        if (t < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Appends the event ids (ce_id headers) of [from, to) to an array
 * literal and counts their event types (ce_type) into t; returns how many
 * messages were read, -1 on a read failure. */
static int64_t collect_ids(rd_kafka_t *rk, const struct range *r,
                           struct cv_pg_array *ids, struct tally *t)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t next = r->from, idle = 0;

    rd_kafka_topic_partition_list_add(l, r->topic, r->partition)->offset =
        r->from;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (next < r->to && idle < 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        rd_kafka_headers_t *hdrs;
        const void *val;
        size_t size;

        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (!m->err && m->offset >= next && m->offset < r->to) {
            int has = rd_kafka_message_headers(m, &hdrs) == 0;
            next = m->offset + 1;
            if (has &&
                rd_kafka_header_get_last(hdrs, "ce_id", &val, &size) == 0 &&
                val && size < 256) {
                char id[256];
                memcpy(id, val, size);
                id[size] = '\0';
                cv_pg_array_add(ids, id);
            }
            if (has &&
                rd_kafka_header_get_last(hdrs, "ce_type", &val, &size) == 0)
                tally_add(t, val, size, 1);
            else
                tally_add(t, NULL, 0, 1);
        }
        rd_kafka_message_destroy(m);
    }
    return next >= r->to ? r->to - r->from : -1;
}

static const char REWIND_SQL[] =
    "WITH locked AS ("
    "  SELECT o.topic, o.partition, o.next_offset"
    "    FROM conveyor.consumer_offsets o"
    "    JOIN unnest($2::text[], $3::int[]) AS u(t, p)"
    "      ON o.topic = u.t AND o.partition = u.p"
    "   WHERE o.group_id = $1 FOR UPDATE OF o),"
    " forget AS ("
    "  DELETE FROM conveyor.inbox WHERE group_id = $1"
    "     AND event_id = ANY($6::text[]) RETURNING 1),"
    " moved AS ("
    "  UPDATE conveyor.consumer_offsets o SET next_offset = u.f,"
    "    updated_at = now()"
    "    FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[])"
    "      AS u(t, p, expected, f), locked l"
    "   WHERE o.group_id = $1 AND o.topic = u.t AND o.partition = u.p"
    "     AND l.topic = u.t AND l.partition = u.p"
    "     AND l.next_offset >= u.expected"
    "  RETURNING 1),"
    " audit AS ("
    "  INSERT INTO conveyor.audit_log (actor, action, target, args, reason)"
    "  SELECT $7, 'replay', 'group:' || $1, $8::jsonb, $9"
    "   WHERE (SELECT count(*) FROM moved) = cardinality($2::text[]))"
    "SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM forget),"
    "  pg_notify('conveyor_controls', 'replay:' || $1)";

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
    const char *group = NULL, *topic = NULL, *from_time = NULL;
    const char *to_time = NULL, *reason = "replay", *actor = NULL;
    const char *from_off = NULL;
    int partition = -1, dry = 0, ch, rc = CV_EXIT_RUNTIME;
    int64_t from_ms = 0, to_ms = 0, from_o = 0, total = 0;
    const struct cv_topo_domain *d = NULL;
    struct range *rs = NULL;
    struct tally all = {0};
    size_t nr = 0;
    char errstr[1024], pbuf[12];
    struct cv_pg *pg = NULL;
    struct cv_pg_error err;
    rd_kafka_t *rk = NULL;
    PGresult *res = NULL;
    struct cv_pg_array ids = {0}, ts = {0}, ps = {0}, ex = {0}, fs = {0};

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'g':
            group = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'p':
            if (cv_cli_parse_int(optarg, 0, 100000, &partition) != CV_OK) {
                fprintf(stderr,
                        "conveyor replay: --partition: expected a "
                        "partition number, got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            break;
        case 'f':
            from_time = optarg;
            break;
        case 'o':
            from_off = optarg;
            break;
        case 'u':
            to_time = optarg;
            break;
        case 'n':
            dry = 1;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        case 'h':
            usage(stdout);
            return CV_EXIT_OK;
        default:
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if (optind != argc || !group || !from_time == !from_off) {
        fprintf(stderr, "conveyor replay: give --group and one of "
                        "--from-time, --from-offset\n");
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    if ((from_time &&
         cv_rfc3339_parse(from_time, strlen(from_time), &from_ms) != CV_OK) ||
        (to_time &&
         cv_rfc3339_parse(to_time, strlen(to_time), &to_ms) != CV_OK)) {
        fprintf(stderr, "conveyor replay: times are RFC 3339, e.g. "
                        "2026-11-22T08:00:00Z\n");
        return CV_EXIT_USAGE;
    }
    if (from_off) {
        char *end;
        from_o = strtoll(from_off, &end, 10);
        if (*end || from_o < 0) {
            fprintf(stderr,
                    "conveyor replay: --from-offset: expected an "
                    "offset, got '%s'\n",
                    from_off);
            return CV_EXIT_USAGE;
        }
    }
    if (!actor || !*actor)
        actor = cv_os_user();
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    for (size_t i = 0; i < app->topo.ndomains && !d; i++)
        if (strcmp(app->topo.domains[i].group_id, group) == 0)
            d = &app->topo.domains[i];
    if (!d) {
        fprintf(stderr, "conveyor replay: no domain with group '%s' in %s\n",
                group, app->topo.path);
        return CV_EXIT_USAGE;
    }
    if (topic) {
        int found = 0;
        for (size_t i = 0; i < d->ntopics; i++)
            found |= strcmp(d->topics[i], topic) == 0;
        if (!found) {
            fprintf(stderr,
                    "conveyor replay: group '%s' does not consume "
                    "'%s'\n",
                    group, topic);
            return CV_EXIT_USAGE;
        }
    }

    pg = cv_app_pg(app, "conveyor/replay");
    if (!pg)
        return CV_EXIT_RUNTIME;
    rk = cv_kafka_consumer_new(&app->cfg, "conveyor.replay-reader", NULL,
                               errstr, sizeof(errstr));
    if (!rk) {
        cv_error("%s", errstr);
        goto out;
    }
    snprintf(pbuf, sizeof(pbuf), "%d", partition);
    res = cv_pg_exec(pg,
                     "SELECT topic, partition, next_offset FROM "
                     "conveyor.consumer_offsets WHERE group_id = $1 AND "
                     "($2::text IS NULL OR topic = $2) AND ($3::int < 0 OR "
                     "partition = $3) ORDER BY 1, 2",
                     3, (const char *[]){group, topic, pbuf}, &err);
    if (!res) {
        cv_error("replay: %s", err.message);
        goto out;
    }
    if (PQntuples(res) == 0) {
        fprintf(stderr,
                "conveyor replay: group '%s' has no stored offsets "
                "there (has it ever run?)\n",
                group);
        rc = CV_EXIT_USAGE;
        goto out;
    }
    rs = cv_calloc((size_t)PQntuples(res), sizeof(*rs));
    printf("%-28s %5s %10s %10s %12s %s\n", "TOPIC", "PART", "STORED", "FROM",
           "TO", "EVENTS");
    for (int i = 0; i < PQntuples(res); i++) {
        struct range *r = &rs[nr];
        int64_t n;

        snprintf(r->topic, sizeof(r->topic), "%s", PQgetvalue(res, i, 0));
        r->partition = atoi(PQgetvalue(res, i, 1));
        r->stored = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (cv_kafka_watermarks(rk, r->topic, r->partition, &r->low, &r->high,
                                10000, errstr, sizeof(errstr)) != CV_OK) {
            cv_error("replay: %s [%d]: %s", r->topic, (int)r->partition,
                     errstr);
            goto out;
        }
        r->from = from_time ? offset_for_time(rk, r, from_ms) : from_o;
        r->to = to_time ? offset_for_time(rk, r, to_ms) : r->stored;
        if (r->from < 0 || r->to < 0) {
            cv_error("replay: %s [%d]: cannot read message timestamps",
                     r->topic, (int)r->partition);
            goto out;
        }
        if (r->from < r->low)
            r->from = r->low;
        if (r->to > r->stored)
            r->to = r->stored;
        n = r->from < r->to ? r->to - r->from : 0;
        printf("%-28s %5d %10lld %10lld %12lld %lld\n", r->topic,
               (int)r->partition, (long long)r->stored, (long long)r->from,
               (long long)r->to, (long long)n);
        if (n == 0)
            continue;
        {
            /* read in a dry run too: the plan shows what will run */
            struct tally t = {0};
            int64_t got = collect_ids(rk, r, &ids, &t);

            print_tally(d, &t);
            for (size_t k = 0; k < t.n; k++)
                tally_add(&all, t.tc[k].type, strlen(t.tc[k].type), t.tc[k].n);
            free(t.tc);
            if (got < 0) {
                cv_error("replay: could not read %s [%d] %lld..%lld", r->topic,
                         (int)r->partition, (long long)r->from,
                         (long long)r->to - 1);
                goto out;
            }
        }
        total += n;
        nr++;
    }
    PQclear(res);
    res = NULL;
    if (all.n) {
        printf("in all, per event type and handler:\n");
        print_tally(d, &all);
    }
    printf("%lld events to re-run in %zu partitions%s\n", (long long)total, nr,
           dry ? " (dry run: nothing changed)" : "");
    if (dry || nr == 0) {
        rc = CV_EXIT_OK;
        goto out;
    }
    for (size_t i = 0; i < nr; i++) {
        char num[24];
        cv_pg_array_add(&ts, rs[i].topic);
        snprintf(num, sizeof(num), "%d", (int)rs[i].partition);
        cv_pg_array_add(&ps, num);
        snprintf(num, sizeof(num), "%lld", (long long)rs[i].stored);
        cv_pg_array_add(&ex, num);
        snprintf(num, sizeof(num), "%lld", (long long)rs[i].from);
        cv_pg_array_add(&fs, num);
    }
    {
        char *args = cv_asprintf(
            "{\"group\": \"%s\", \"from_time\": %s%s%s, \"from_offset\": %s, "
            "\"to_time\": %s%s%s, \"events\": %lld}",
            group, from_time ? "\"" : "", from_time ? from_time : "null",
            from_time ? "\"" : "", from_off ? from_off : "null",
            to_time ? "\"" : "", to_time ? to_time : "null",
            to_time ? "\"" : "", (long long)total);
        /* All or nothing. Consumers only move offsets forward, so a stored
         * offset below the planned one means another replay rewound it
         * meanwhile: then nothing changes and the caller re-plans. */
        if (cv_pg_command(pg, "BEGIN", 0, NULL, &err) != CV_OK) {
            free(args);
            cv_error("replay: %s", err.message);
            goto out;
        }
        res = cv_pg_exec_planned(
            pg, REWIND_SQL, 9,
            (const char *[]){group, ts.buf, ps.buf, ex.buf, fs.buf,
                             ids.buf ? ids.buf : "{}", actor, args, reason},
            &err);
        free(args);
    }
    if (!res) {
        cv_error("replay: %s", err.message);
        goto out;
    }
    if ((size_t)atoll(PQgetvalue(res, 0, 0)) != nr) {
        cv_pg_command(pg, "ROLLBACK", 0, NULL, &err);
        fprintf(stderr, "conveyor replay: a stored offset went back while "
                        "planning (another replay?); nothing changed, run "
                        "it again\n");
        goto out;
    }
    if (cv_pg_command(pg, "COMMIT", 0, NULL, &err) != CV_OK) {
        cv_error("replay: commit: %s", err.message);
        goto out;
    }
    printf("rewound %zu partitions; %s event ids forgotten by the inbox; "
           "consumers re-seek now\n",
           nr, PQgetvalue(res, 0, 1));
    rc = CV_EXIT_OK;
out:
    PQclear(res);
    free(rs);
    free(all.tc);
    cv_pg_array_free(&ids);
    cv_pg_array_free(&ts);
    cv_pg_array_free(&ps);
    cv_pg_array_free(&ex);
    cv_pg_array_free(&fs);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    cv_pg_destroy(pg);
    return rc;
}
