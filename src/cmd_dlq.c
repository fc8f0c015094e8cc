/*
 * cmd_dlq.c - `conveyor dlq`: work off the dead letters.
 *
 *   list     filter and list them
 *   show     one in full: headers, the value decoded (or its bytes), error
 *   retry    re-queue events: the raw event goes back onto its topic through
 *            the outbox with its original id and headers, and its inbox row
 *            is deleted so that the handler runs again (it is not
 *            swallowed as a duplicate). If it fails again it is
 *            dead-lettered again, as a new row.
 *   discard  give up on them, with a reason
 *
 * Every retry and discard writes conveyor.audit_log, in the same
 * transaction as the change.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codec.h"
#include "event.h"
#include "log.h"
#include "pg.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor dlq list [FILTERS] [--status S] [--limit N]\n"
            "       conveyor dlq show ID\n"
            "       conveyor dlq retry (ID... | --all [FILTERS]) [--reason "
            "TEXT] [--actor WHO]\n"
            "       conveyor dlq discard ID... --reason TEXT [--actor WHO]\n\n"
            "FILTERS: --group G  --type EVENT_TYPE  --since TIME  --until "
            "TIME\n"
            "         --error TEXT (a part of the error, any case)\n"
            "--status open (default), retried, discarded or all; --limit N "
            "(default 100)\n\n"
            "retry puts each event back on its topic (through the outbox, "
            "with its\noriginal id and headers) and forgets it in the inbox, "
            "so its handler runs\nagain. discard closes it. Both are "
            "audited; only open dead letters change.\n");
}

struct filters {
    const char *group, *type, *since, *until, *error, *status;
    int limit, all;
    const char *reason, *actor;
};

static int parse(int argc, char **argv, struct filters *f)
{
    static const struct option longopts[] = {
        {"group", required_argument, NULL, 'g'},
        {"type", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"error", required_argument, NULL, 'e'},
        {"status", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'l'},
        {"all", no_argument, NULL, 'A'},
        {"reason", required_argument, NULL, 'r'},
        {"actor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;

    memset(f, 0, sizeof(*f));
    f->status = "open";
    f->limit = 100;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'g':
            f->group = optarg;
            break;
        case 't':
            f->type = optarg;
            break;
        case 's':
            f->since = optarg;
            break;
        case 'u':
            f->until = optarg;
            break;
        case 'e':
            f->error = optarg;
            break;
        case 'S':
            if (strcmp(optarg, "open") && strcmp(optarg, "retried") &&
                strcmp(optarg, "discarded") && strcmp(optarg, "all")) {
                fprintf(stderr,
                        "conveyor dlq: --status: expected open, "
                        "retried, discarded or all, got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            f->status = optarg;
            break;
        case 'l':
            if (cv_cli_parse_int(optarg, 1, 100000, &f->limit) != CV_OK) {
                fprintf(stderr,
                        "conveyor dlq: --limit: expected 1..100000, "
                        "got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            break;
        case 'A':
            f->all = 1;
            break;
        case 'r':
            f->reason = optarg;
            break;
        case 'a':
            f->actor = optarg;
            break;
        case 'h':
            usage(stdout);
            return CV_EXIT_OK;
        default:
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    for (int i = 0; i < 2; i++) {
        const char *t = i ? f->until : f->since;
        int64_t ms;
        if (t && cv_rfc3339_parse(t, strlen(t), &ms) != CV_OK) {
            fprintf(stderr,
                    "conveyor dlq: --%s: '%s' is not an RFC 3339 "
                    "time (e.g. 2026-11-22T08:00:00Z)\n",
                    i ? "until" : "since", t);
            return CV_EXIT_USAGE;
        }
    }
    if (!f->actor || !*f->actor)
        f->actor = cv_os_user();
    return -1; /* go on */
}

/* The WHERE clause shared by list and retry --all: parameters $1..$6. */
#define FILTER_SQL                                                             \
    " ($1::text IS NULL OR group_id = $1)"                                     \
    " AND ($2::text IS NULL OR event_type = $2)"                               \
    " AND ($3::timestamptz IS NULL OR last_failed_at >= $3)"                   \
    " AND ($4::timestamptz IS NULL OR last_failed_at < $4)"                    \
    " AND ($5::text IS NULL OR strpos(lower(error), lower($5)) > 0)"           \
    " AND ($6 = 'all' OR status = $6)"

static int list(struct cv_pg *pg, const struct filters *f)
{
    struct cv_pg_error err;
    int w[4] = {2, 5, 5, 4}; /* ID, GROUP, WHERE, TYPE: the headers */
    char limit[16];
    PGresult *res;

    snprintf(limit, sizeof(limit), "%d", f->limit);
    res = cv_pg_exec(
        pg,
        "SELECT id, group_id, topic || '[' || partition || ']@' || \"offset\","
        " coalesce(event_type, '-'), coalesce(event_id, '-'), attempts,"
        " to_char(last_failed_at, 'YYYY-MM-DD HH24:MI:SS'), status,"
        " left(replace(error, E'\\n', ' '), 80)"
        " FROM conveyor.dead_letters WHERE" FILTER_SQL " ORDER BY id LIMIT $7",
        7,
        (const char *[]){f->group, f->type, f->since, f->until, f->error,
                         f->status, limit},
        &err);
    if (!res) {
        cv_error("dlq list: %s", err.message);
        return CV_EXIT_RUNTIME;
    }
    /* columns as wide as their widest value: long event types and
     * group names must not push the rest of the row out of line */
    for (int r = 0; r < PQntuples(res); r++)
        for (int c = 0; c < 4; c++)
            if ((int)strlen(PQgetvalue(res, r, c)) > w[c])
                w[c] = (int)strlen(PQgetvalue(res, r, c));
    printf("%-*s %-*s %-*s %-*s %-3s %-19s %-9s %s\n", w[0], "ID", w[1],
           "GROUP", w[2], "WHERE", w[3], "TYPE", "TRY", "LAST FAILED", "STATUS",
           "ERROR");
    for (int r = 0; r < PQntuples(res); r++)
        printf("%-*s %-*s %-*s %-*s %-3s %-19s %-9s %s\n", w[0],
               PQgetvalue(res, r, 0), w[1], PQgetvalue(res, r, 1), w[2],
               PQgetvalue(res, r, 2), w[3], PQgetvalue(res, r, 3),
               PQgetvalue(res, r, 5), PQgetvalue(res, r, 6),
               PQgetvalue(res, r, 7), PQgetvalue(res, r, 8));
    printf("%d dead letter%s\n", PQntuples(res),
           PQntuples(res) == 1 ? "" : "s");
    PQclear(res);
    return CV_EXIT_OK;
}

/* The value as JSON if the catalogue decodes it, else NULL. */
static char *decode_value(struct cv_app *app, const unsigned char *v, size_t n)
{
    struct cv_decoder *dec;
    const struct cv_schema *schema;
    avro_value_t *value;
    char errstr[256], *json = NULL;

    if (cv_app_load_topology(app) != CV_OK || !app->cat)
        return NULL;
    dec = cv_decoder_new(app->cat);
    if (cv_decoder_decode(dec, v, n, &schema, &value, errstr, sizeof(errstr)) ==
        CV_OK)
        json = cv_value_to_json(value);
    cv_decoder_destroy(dec);
    return json;
}

static int show(struct cv_app *app, struct cv_pg *pg, const char *id)
{
    static const char *const names[] = {
        "id",           "group",       "topic",      "partition",
        "offset",       "event_id",    "event_type", "attempts",
        "first_failed", "last_failed", "status",     "resolved_at",
        "resolved_by",  "resolution",  "headers",    "error"};
    struct cv_pg_error err;
    PGresult *res;
    int n;

    if (cv_cli_parse_int(id, 1, 2147483647, &n) != CV_OK) {
        fprintf(stderr, "conveyor dlq show: '%s' is not an id\n", id);
        return CV_EXIT_USAGE;
    }
    res = cv_pg_exec(
        pg,
        "SELECT id, group_id, topic, partition, \"offset\", event_id,"
        " event_type, attempts, first_failed_at, last_failed_at, status,"
        " resolved_at, resolved_by, resolution, headers, error,"
        " encode(key, 'escape'), encode(value, 'hex')"
        " FROM conveyor.dead_letters WHERE id = $1",
        1, (const char *[]){id}, &err);
    if (!res) {
        cv_error("dlq show: %s", err.message);
        return CV_EXIT_RUNTIME;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        fprintf(stderr, "conveyor dlq show: no dead letter %s\n", id);
        return CV_EXIT_RUNTIME;
    }
    for (int c = 0; c < 16; c++)
        printf("%-13s %s\n", names[c],
               PQgetisnull(res, 0, c) ? "-" : PQgetvalue(res, 0, c));
    printf("%-13s %s\n", "key",
           PQgetisnull(res, 0, 16) ? "-" : PQgetvalue(res, 0, 16));
    if (PQgetisnull(res, 0, 17)) {
        printf("%-13s -\n", "value");
    } else {
        size_t hexlen = (size_t)PQgetlength(res, 0, 17), len = hexlen / 2;
        const char *hex = PQgetvalue(res, 0, 17);
        unsigned char *bytes = cv_malloc(len + 1);
        char *json;

        for (size_t i = 0; i < len; i++) {
            unsigned int b;
            sscanf(hex + 2 * i, "%2x", &b);
            bytes[i] = (unsigned char)b;
        }
        json = decode_value(app, bytes, len);
        if (json)
            printf("%-13s %s\n", "value", json);
        else
            printf("%-13s (%zu bytes, not decodable) %.*s%s\n", "value", len,
                   512, hex, hexlen > 512 ? "..." : "");
        free(json);
        free(bytes);
    }
    PQclear(res);
    return CV_EXIT_OK;
}

/* "{1,2,3}" from argv ids; CV_ERR on a bad id. */
static char *id_array(int argc, char **argv, int first)
{
    struct cv_pg_array ids = {0};
    int n;

    for (int i = first; i < argc; i++) {
        if (cv_cli_parse_int(argv[i], 1, 2147483647, &n) != CV_OK) {
            fprintf(stderr, "conveyor dlq: '%s' is not an id\n", argv[i]);
            cv_pg_array_free(&ids);
            return NULL;
        }
        cv_pg_array_add(&ids, argv[i]);
    }
    return ids.buf ? ids.buf : cv_strdup("{}");
}

/*
 * Retry: the rows picked by ids ($7, when not --all) or by the filters;
 * open ones only, and only those with an event id (an event without one
 * was dead-lettered for its headers and would fail the same way).
 */
static const char RETRY_SQL[] =
    "WITH d AS ("
    "  UPDATE conveyor.dead_letters SET status = 'retried',"
    "    resolved_at = now(), resolved_by = $8, resolution = $9"
    "  WHERE status = 'open' AND event_id IS NOT NULL"
    "    AND (CASE WHEN $10 THEN" FILTER_SQL " ELSE id = ANY($7::bigint[]) END)"
    "  RETURNING *),"
    " i AS ("
    "  DELETE FROM conveyor.inbox USING d"
    "  WHERE inbox.group_id = d.group_id AND inbox.event_id = d.event_id),"
    " o AS ("
    "  INSERT INTO conveyor.outbox (topic, key, value, event_id, event_type,"
    "    source, event_time, tenant, traceparent)"
    "  SELECT topic, key, value, event_id, coalesce(event_type, ''),"
    "    coalesce(headers->>'ce_source', 'conveyor/dlq'),"
    "    coalesce((extract(epoch FROM (headers->>'ce_time')::timestamptz)"
    "      * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint),"
    "    headers->>'ce_tenant', headers->>'traceparent'"
    "  FROM d ORDER BY id),"
    " a AS ("
    "  INSERT INTO conveyor.audit_log (actor, action, target, args, reason)"
    "  SELECT $8, 'dlq retry', 'dead_letter:' || id,"
    "    jsonb_build_object('id', id, 'event_id', event_id, 'group', group_id,"
    "      'topic', topic, 'partition', partition, 'offset', \"offset\"), $9"
    "  FROM d)"
    "SELECT id, coalesce(event_id, ''), topic || '[' || partition || ']@' ||"
    "  \"offset\" FROM d ORDER BY id";

static const char DISCARD_SQL[] =
    "WITH d AS ("
    "  UPDATE conveyor.dead_letters SET status = 'discarded',"
    "    resolved_at = now(), resolved_by = $2, resolution = $3"
    "  WHERE status = 'open' AND id = ANY($1::bigint[])"
    "  RETURNING *),"
    " a AS ("
    "  INSERT INTO conveyor.audit_log (actor, action, target, args, reason)"
    "  SELECT $2, 'dlq discard', 'dead_letter:' || id,"
    "    jsonb_build_object('id', id, 'event_id', event_id, 'group', group_id,"
    "      'topic', topic, 'partition', partition, 'offset', \"offset\"), $3"
    "  FROM d)"
    "SELECT id, coalesce(event_id, ''), topic || '[' || partition || ']@' ||"
    "  \"offset\" FROM d ORDER BY id";

static int change(struct cv_pg *pg, const struct filters *f, int retry,
                  int argc, char **argv)
{
    struct cv_pg_error err;
    char *ids = NULL;
    PGresult *res;

    if (retry && f->all == (optind < argc)) {
        fprintf(stderr, "conveyor dlq retry: give ids or --all\n");
        return CV_EXIT_USAGE;
    }
    if (!retry && (optind >= argc || !f->reason || !*f->reason)) {
        fprintf(stderr, "conveyor dlq discard: give ids and --reason\n");
        return CV_EXIT_USAGE;
    }
    if (!f->all && !(ids = id_array(argc, argv, optind)))
        return CV_EXIT_USAGE;
    if (retry)
        res = cv_pg_exec_planned(
            pg, RETRY_SQL, 10,
            (const char *[]){f->group, f->type, f->since, f->until, f->error,
                             "open", ids ? ids : "{}", f->actor,
                             f->reason ? f->reason : "dlq retry",
                             f->all ? "true" : "false"},
            &err);
    else
        res = cv_pg_exec(pg, DISCARD_SQL, 3,
                         (const char *[]){ids, f->actor, f->reason}, &err);
    free(ids);
    if (!res) {
        cv_error("dlq %s: %s", retry ? "retry" : "discard", err.message);
        return CV_EXIT_RUNTIME;
    }
    for (int r = 0; r < PQntuples(res); r++)
        /* an event that did not decode may have had no ce_id */
        printf("%s %s (%s%s, %s)\n", retry ? "re-queued" : "discarded",
               PQgetvalue(res, r, 0),
               *PQgetvalue(res, r, 1) ? "event " : "no event id",
               PQgetvalue(res, r, 1), PQgetvalue(res, r, 2));
    printf("%d dead letter%s %s\n", PQntuples(res),
           PQntuples(res) == 1 ? "" : "s", retry ? "re-queued" : "discarded");
    PQclear(res);
    if (retry &&
        cv_pg_command(pg, "NOTIFY conveyor_outbox", 0, NULL, &err) != CV_OK)
        cv_warn("NOTIFY: %s", err.message);
    return CV_EXIT_OK;
}

/*
 * --group must be a domain's group in the topology: a typo would
 * otherwise list "0 dead letters" and look like good news.
 */
static int check_group(struct cv_app *app, const char *group)
{
    if (cv_app_load_topology(app) != CV_OK)
        return CV_ERR;
    for (size_t i = 0; i < app->topo.ndomains; i++)
        if (strcmp(app->topo.domains[i].group_id, group) == 0)
            return CV_OK;
    fprintf(stderr,
            "conveyor dlq: --group: no domain with group '%s' in %s "
            "(groups:",
            group, app->topo.path);
    for (size_t i = 0; i < app->topo.ndomains; i++)
        fprintf(stderr, " %s", app->topo.domains[i].group_id);
    fprintf(stderr, ")\n");
    return CV_ERR;
}

int cv_cmd_dlq(struct cv_app *app, int argc, char **argv)
{
    struct filters f;
    const char *sub;
    struct cv_pg *pg;
    int rc;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CV_EXIT_USAGE : CV_EXIT_OK;
    }
    sub = argv[1];
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "retry") &&
        strcmp(sub, "discard")) {
        fprintf(stderr, "conveyor dlq: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    rc = parse(argc - 1, argv + 1, &f);
    if (rc >= 0)
        return rc;
    if (strcmp(sub, "show") == 0 && optind + 1 != argc - 1) {
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    if (f.group && check_group(app, f.group) != CV_OK)
        return CV_EXIT_USAGE;
    pg = cv_app_pg(app, "conveyor/dlq");
    if (!pg)
        return CV_EXIT_RUNTIME;
    if (strcmp(sub, "list") == 0)
        rc = list(pg, &f);
    else if (strcmp(sub, "show") == 0)
        rc = show(app, pg, argv[1 + optind]);
    else
        rc = change(pg, &f, strcmp(sub, "retry") == 0, argc - 1, argv + 1);
    cv_pg_destroy(pg);
    return rc;
}
