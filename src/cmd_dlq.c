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
#include "ops.h"
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

/* The first n characters of text on one line (newlines become spaces),
 * cut on a UTF-8 character boundary. */
static void one_line(char *out, size_t size, const char *text, int n)
{
    size_t len = 0;

    for (const char *p = text; *p && len + 5 < size; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80 && n-- == 0)
            break;
        out[len++] = *p == '\n' ? ' ' : *p;
    }
    out[len] = '\0';
}

static int list(struct cv_pg *pg, const struct filters *f)
{
    struct cv_dlq_filter df = {f->group, f->type,   f->since, f->until,
                               f->error, f->status, f->limit};
    struct cv_pg_error err;
    int w[4] = {2, 5, 5, 4}; /* ID, GROUP, WHERE, TYPE: the headers */
    char where[320], error[400];
    PGresult *res;

    res = cv_ops_dlq_list(pg, &df, &err);
    if (!res) {
        cv_error("dlq list: %s", err.message);
        return CV_EXIT_RUNTIME;
    }
    /* columns as wide as their widest value: long event types and
     * group names must not push the rest of the row out of line */
    for (int r = 0; r < PQntuples(res); r++) {
        int len[4] = {PQgetlength(res, r, 0), PQgetlength(res, r, 1),
                      PQgetlength(res, r, 2) + PQgetlength(res, r, 3) +
                          PQgetlength(res, r, 4) + 3,
                      PQgetisnull(res, r, 5) ? 1 : PQgetlength(res, r, 5)};
        for (int c = 0; c < 4; c++)
            if (len[c] > w[c])
                w[c] = len[c];
    }
    printf("%-*s %-*s %-*s %-*s %-3s %-19s %-9s %s\n", w[0], "ID", w[1],
           "GROUP", w[2], "WHERE", w[3], "TYPE", "TRY", "LAST FAILED", "STATUS",
           "ERROR");
    for (int r = 0; r < PQntuples(res); r++) {
        snprintf(where, sizeof(where), "%s[%s]@%s", PQgetvalue(res, r, 2),
                 PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
        one_line(error, sizeof(error), PQgetvalue(res, r, 10), 80);
        printf("%-*s %-*s %-*s %-*s %-3s %-19s %-9s %s\n", w[0],
               PQgetvalue(res, r, 0), w[1], PQgetvalue(res, r, 1), w[2], where,
               w[3], PQgetisnull(res, r, 5) ? "-" : PQgetvalue(res, r, 5),
               PQgetvalue(res, r, 7), PQgetvalue(res, r, 8),
               PQgetvalue(res, r, 9), error);
    }
    printf("%d dead letter%s\n", PQntuples(res),
           PQntuples(res) == 1 ? "" : "s");
    PQclear(res);
    return CV_EXIT_OK;
}

static int show(struct cv_app *app, struct cv_pg *pg, const char *id)
{
    /* the label and the column of each line, in the order printed */
    static const struct {
        const char *name;
        int col;
    } lines[] = {{"id", 0},           {"group", 1},       {"topic", 2},
                 {"partition", 3},    {"offset", 4},      {"event_id", 6},
                 {"event_type", 5},   {"attempts", 7},    {"first_failed", 11},
                 {"last_failed", 8},  {"status", 9},      {"resolved_at", 12},
                 {"resolved_by", 13}, {"resolution", 14}, {"headers", 15},
                 {"error", 10}};
    struct cv_pg_error err;
    PGresult *res;
    int n;

    if (cv_cli_parse_int(id, 1, 2147483647, &n) != CV_OK) {
        fprintf(stderr, "conveyor dlq show: '%s' is not an id\n", id);
        return CV_EXIT_USAGE;
    }
    res = cv_ops_dlq_show(pg, id, &err);
    if (!res) {
        cv_error("dlq show: %s", err.message);
        return CV_EXIT_RUNTIME;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        fprintf(stderr, "conveyor dlq show: no dead letter %s\n", id);
        return CV_EXIT_RUNTIME;
    }
    for (size_t i = 0; i < CV_ARRAY_SIZE(lines); i++)
        printf("%-13s %s\n", lines[i].name,
               PQgetisnull(res, 0, lines[i].col)
                   ? "-"
                   : PQgetvalue(res, 0, lines[i].col));
    printf("%-13s %s\n", "key",
           PQgetisnull(res, 0, 16) ? "-" : PQgetvalue(res, 0, 16));
    if (PQgetisnull(res, 0, 17)) {
        printf("%-13s -\n", "value");
    } else {
        size_t hexlen = (size_t)PQgetlength(res, 0, 17), len = hexlen / 2;
        const char *hex = PQgetvalue(res, 0, 17);
        char *json = NULL;

        if (cv_app_load_topology(app) == CV_OK && app->cat)
            json = cv_ops_dlq_value_json(app->cat, hex, hexlen);
        if (json)
            printf("%-13s %s\n", "value", json);
        else
            printf("%-13s (%zu bytes, not decodable) %.*s%s\n", "value", len,
                   512, hex, hexlen > 512 ? "..." : "");
        free(json);
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
    {
        struct cv_dlq_filter df = {f->group, f->type, f->since, f->until,
                                   f->error, "open",  f->limit};
        res = cv_ops_dlq_change(
            pg, retry, f->all ? &df : NULL, ids, f->actor,
            f->reason ? f->reason : (retry ? "dlq retry" : NULL), &err);
    }
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
    return CV_EXIT_OK;
}

/*
 * --group must be a domain's group in the topology: a typo would
 * otherwise list "0 dead letters" and look like good news.
 */
static int check_group(struct cv_app *app, const char *group)
{
    char errstr[1024];

    if (cv_app_load_topology(app) != CV_OK)
        return CV_ERR;
    if (cv_ops_group_check(&app->topo, group, errstr, sizeof(errstr)) == CV_OK)
        return CV_OK;
    fprintf(stderr, "conveyor dlq: --group: %s\n", errstr);
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
