/*
 * cmd_effects.c - `conveyor effects`: look at and steer the calls to other
 * services that handlers requested.
 *
 *   list    requests by target and state, newest first
 *   show    one in full: what was sent (never the secret), every attempt's
 *           count and last error, the final answer
 *   retry   a failed or cancelled request becomes pending again with the
 *           same idempotency key and a fresh set of attempts (a request
 *           first sent longer ago than its target's max_age is refused
 *           when it is claimed: the service has forgotten the key)
 *   cancel  a pending or failed request is never sent (again); its outcome
 *           event says "cancelled", so the requesting domain hears of it
 *
 * retry and cancel write conveyor.audit_log in the same transaction.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "effect_store.h"
#include "effects.h"
#include "log.h"
#include "pg.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor effects list [--target T] [--state S] "
            "[--limit N]\n"
            "       conveyor effects show ID\n"
            "       conveyor effects retry ID... --reason TEXT [--actor "
            "WHO]\n"
            "       conveyor effects cancel ID... --reason TEXT [--actor "
            "WHO]\n\n"
            "--state pending, in_flight, done, failed, cancelled, open "
            "(default:\npending, in flight or failed) or all; --limit N "
            "(default 100).\n"
            "retry makes failed or cancelled requests pending again, same "
            "key, new\nattempts; cancel ends pending or failed ones with a "
            "'cancelled' outcome\nevent. Both are audited.\n");
}

struct opts {
    const char *target, *state, *reason, *actor;
    int limit;
};

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {"state", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'l'},
        {"reason", required_argument, NULL, 'r'},
        {"actor", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const states[] = {
        "pending", "in_flight", "done", "failed", "cancelled", "open", "all"};
    int ch, ok;

    memset(o, 0, sizeof(*o));
    o->state = "open";
    o->limit = 100;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            o->target = optarg;
            break;
        case 's':
            ok = 0;
            for (size_t i = 0; i < CV_ARRAY_SIZE(states); i++)
                ok |= strcmp(optarg, states[i]) == 0;
            if (!ok) {
                fprintf(stderr,
                        "conveyor effects: --state: expected pending, "
                        "in_flight, done, failed, cancelled, open or all, "
                        "got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            o->state = optarg;
            break;
        case 'l':
            if (cv_cli_parse_int(optarg, 1, 100000, &o->limit) != CV_OK) {
                fprintf(stderr,
                        "conveyor effects: --limit: expected 1..100000, "
                        "got '%s'\n",
                        optarg);
                return CV_EXIT_USAGE;
            }
            break;
        case 'r':
            o->reason = optarg;
            break;
        case 'a':
            o->actor = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    return CV_EXIT_OK;
}

static int list(struct cv_pg *pg, const struct opts *o)
{
    char limit[16];
    struct cv_pg_error err;
    PGresult *res;
    int n;

    snprintf(limit, sizeof(limit), "%d", o->limit);
    res = cv_effect_store_list(pg, o->target, o->state, limit, &err);
    if (!res) {
        cv_error("effects list: %s", err.message);
        return CV_EXIT_RUNTIME;
    }
    n = PQntuples(res);
    printf("%-8s %-16s %-9s %-8s %-6s %-20s %s\n", "ID", "TARGET", "STATE",
           "ATTEMPTS", "STATUS", "CREATED", "REQUEST / LAST ERROR");
    for (int i = 0; i < n; i++)
        printf("%-8s %-16s %-9s %-8s %-6s %-20s %s %s%s%s\n",
               PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
               PQgetisnull(res, i, 4) ? "-" : PQgetvalue(res, i, 4),
               PQgetvalue(res, i, 5), PQgetvalue(res, i, 6),
               PQgetvalue(res, i, 7), PQgetisnull(res, i, 8) ? "" : " / ",
               PQgetvalue(res, i, 8));
    printf("%d effect%s\n", n, n == 1 ? "" : "s");
    PQclear(res);
    return CV_EXIT_OK;
}

static int show(struct cv_pg *pg, const char *id)
{
    static const char *const names[] = {
        "id",           "target",      "state",         "method",
        "path",         "query",       "body",          "idempotency key",
        "outcome type", "outcome key", "context",       "domain",
        "source event", "attempts",    "reclaims",      "next attempt",
        "lease until",  "created",     "first attempt", "last attempt",
        "finished",     "last status", "last error",    "response"};
    struct cv_pg_error err;
    PGresult *res = cv_effect_store_show(pg, id, &err);

    if (!res) {
        cv_error("effects show: %s", err.message);
        return CV_EXIT_RUNTIME;
    }
    if (PQntuples(res) == 0) {
        fprintf(stderr, "conveyor effects show: no effect %s\n", id);
        PQclear(res);
        return CV_EXIT_RUNTIME;
    }
    for (int c = 0; c < PQnfields(res) && c < (int)CV_ARRAY_SIZE(names); c++)
        printf("%-16s %s\n", names[c],
               PQgetisnull(res, 0, c) ? "-" : PQgetvalue(res, 0, c));
    PQclear(res);
    return CV_EXIT_OK;
}

/* Cancels one request: its outcome event says so. */
static int cancel_one(struct cv_app *app, struct cv_pg *pg, const char *id,
                      const struct opts *o)
{
    struct cv_effect_claimed req;
    struct cv_effect_outcome out;
    struct cv_effect_final f;
    struct cv_pg_error err;
    char errstr[512], error[600], event_id[160];
    char *value = NULL;
    const char *topic = NULL;
    size_t value_len = 0;
    int recorded = 0, found = 0, rc = CV_ERR;

    if (cv_pg_command(pg, "BEGIN", 0, NULL, &err) != CV_OK ||
        cv_effect_store_lock(pg, id, &req, &found, &err) != CV_OK) {
        fprintf(stderr, "effect %s: %s\n", id, err.message);
        goto out;
    }
    if (!found) {
        fprintf(stderr, "effect %s: no such effect pending or failed\n", id);
        goto out;
    }
    snprintf(error, sizeof(error), "cancelled by %s: %.500s", o->actor,
             o->reason);
    memset(&out, 0, sizeof(out));
    out.effect_id = req.id;
    out.target = req.target;
    out.idempotency_key = req.idempotency_key;
    out.error = error;
    out.headers = "{}";
    out.attempts = req.attempts;
    out.context = req.context;
    out.source_event_id = req.source_event_id;
    out.key = req.outcome_key;
    if (cv_effect_outcome_encode(&app->topo, app->cat, req.outcome_type, &out,
                                 &value, &value_len, &topic, errstr,
                                 sizeof(errstr)) != CV_OK) {
        fprintf(stderr, "effect %s: %s\n", id, errstr);
        goto out;
    }
    snprintf(event_id, sizeof(event_id), "effect-%lld.%d.cancelled",
             (long long)req.id, req.attempts);
    memset(&f, 0, sizeof(f));
    f.id = req.id;
    f.state = "cancelled";
    f.status = -1;
    f.error = error;
    f.topic = topic;
    f.key = req.outcome_key;
    f.value = value;
    f.value_len = value_len;
    f.event_id = event_id;
    f.event_type = req.outcome_type;
    f.event_time_ms = cv_wall_ms();
    if (cv_effect_store_finish(pg, &f, &recorded, &err) != CV_OK ||
        cv_effect_store_audit(pg, o->actor, "effects cancel", id, o->reason,
                              &err) != CV_OK ||
        cv_pg_command(pg, "COMMIT", 0, NULL, &err) != CV_OK) {
        fprintf(stderr, "effect %s: %s\n", id, err.message);
        goto out;
    }
    cv_effect_store_wake_relay(pg);
    printf("cancelled effect %s (%s); its outcome event %s goes to %s\n", id,
           req.outcome_type, event_id, topic);
    rc = CV_OK;
out:
    if (rc != CV_OK)
        cv_pg_command(pg, "ROLLBACK", 0, NULL, &err);
    free(value);
    cv_effect_claimed_clear(&req);
    return rc;
}

static int change(struct cv_app *app, struct cv_pg *pg, int cancel, char **ids,
                  int n, const struct opts *o)
{
    struct cv_pg_error err;
    int failed = 0, done;

    for (int i = 0; i < n; i++) {
        if (cancel) {
            failed += cancel_one(app, pg, ids[i], o) != CV_OK;
            continue;
        }
        if (cv_effect_store_retry_failed(pg, ids[i], o->actor, o->reason, &done,
                                         &err) != CV_OK) {
            fprintf(stderr, "effect %s: %s\n", ids[i], err.message);
            failed++;
        } else if (!done) {
            fprintf(stderr, "effect %s: no such failed or cancelled effect\n",
                    ids[i]);
            failed++;
        } else {
            printf("effect %s is pending again (same key, new attempts)\n",
                   ids[i]);
        }
    }
    return failed ? CV_EXIT_RUNTIME : CV_EXIT_OK;
}

int cv_cmd_effects(struct cv_app *app, int argc, char **argv)
{
    struct opts o;
    struct cv_pg *pg;
    const char *sub;
    int rc, change_it;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CV_EXIT_USAGE : CV_EXIT_OK;
    }
    sub = argv[1];
    rc = parse(argc - 1, argv + 1, &o);
    if (rc < 0)
        return CV_EXIT_OK;
    if (rc != CV_EXIT_OK)
        return rc;
    change_it = !strcmp(sub, "retry") || !strcmp(sub, "cancel");
    if (strcmp(sub, "list") && strcmp(sub, "show") && !change_it) {
        fprintf(stderr, "conveyor effects: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    if ((!strcmp(sub, "show") && optind + 2 != argc) ||
        (change_it && optind + 1 >= argc) ||
        (!strcmp(sub, "list") && optind + 1 != argc)) {
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    for (int i = optind + 1; i < argc && strcmp(sub, "list"); i++) {
        int id;
        if (cv_cli_parse_int(argv[i], 1, 2147483647, &id) != CV_OK) {
            fprintf(stderr, "conveyor effects %s: '%s' is not an effect id\n",
                    sub, argv[i]);
            return CV_EXIT_USAGE;
        }
    }
    if (change_it && (!o.reason || !*o.reason)) {
        fprintf(stderr,
                "conveyor effects %s: --reason is required (it goes "
                "into the audit log)\n",
                sub);
        return CV_EXIT_USAGE;
    }
    if (!o.actor || !*o.actor)
        o.actor = cv_os_user();
    if (!strcmp(sub, "cancel") && cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    pg = cv_app_pg(app, "conveyor/effects");
    if (!pg)
        return CV_EXIT_RUNTIME;
    if (!strcmp(sub, "list"))
        rc = list(pg, &o);
    else if (!strcmp(sub, "show"))
        rc = show(pg, argv[optind + 1]);
    else
        rc = change(app, pg, !strcmp(sub, "cancel"), argv + optind + 1,
                    argc - optind - 1, &o);
    cv_pg_destroy(pg);
    return rc;
}
