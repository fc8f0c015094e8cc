/*
 * cmd_send.c - `conveyor send`: an operator's event, audited.
 *
 * Operations that used to be a hand-written UPDATE plus a manual trigger
 * (the runbook's "Payout Failure Recovery", "Upload Processing Failure")
 * become events that a domain's handler applies exactly once. `send` writes
 * the event into the outbox and a conveyor.audit_log row (who, why, the
 * event) in one transaction: the relay publishes it, and there is a record
 * of who asked. The data is checked against the event type's schema
 * (logical types included) before anything is written.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "event.h"
#include "log.h"
#include "pg.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: conveyor send TYPE --data JSON --reason TEXT [--actor WHO]"
            "\n                     [--key KEY] [--id ID]\n\n"
            "Sends one event of TYPE (declared in the topology) on behalf of "
            "an\noperator: the event goes into the outbox and a row into "
            "conveyor.audit_log,\nin one transaction, and the relay publishes "
            "it. --data is the record as\nJSON, checked against the type's "
            "schema. The key defaults to the type's\nkey field; the id to a "
            "fresh UUID (an id already applied is absorbed by\nthe inbox: "
            "sending twice with --id applies once).\n\n"
            "  conveyor send marketplace.payout.retry --reason \"bank details "
            "fixed\" \\\n"
            "      --data '{\"payout_id\": \"...\"}'\n");
}

int cv_cmd_send(struct cv_app *app, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},
        {"reason", required_argument, NULL, 'r'},
        {"actor", required_argument, NULL, 'a'},
        {"key", required_argument, NULL, 'k'},
        {"id", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *data = NULL, *reason = NULL, *actor = NULL, *key = NULL;
    const char *id = NULL;
    const struct cv_topo_event *te;
    const struct cv_schema *schema;
    struct cv_pg_error err;
    char errstr[1024], uuid[37], now[24];
    char *value = NULL;
    struct cv_pg_array hex = {0};
    size_t value_len = 0;
    json_t *root = NULL;
    struct cv_pg *pg = NULL;
    PGresult *res;
    int ch, rc = CV_EXIT_USAGE;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            data = optarg;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'a':
            actor = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'h':
            usage(stdout);
            return CV_EXIT_OK;
        default:
            usage(stderr);
            return CV_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || !data || !reason || !*reason) {
        if (!reason || !*reason)
            fprintf(stderr, "conveyor send: --reason is required (it goes "
                            "into the audit log)\n");
        else if (!data)
            fprintf(stderr, "conveyor send: --data is required\n");
        usage(stderr);
        return CV_EXIT_USAGE;
    }
    if (!actor || !*actor)
        actor = cv_os_user();
    if (id && (!*id || strlen(id) >= CV_CE_ID_MAX)) {
        fprintf(stderr, "conveyor send: --id must be 1 to %d characters\n",
                CV_CE_ID_MAX - 1);
        return CV_EXIT_USAGE;
    }
    if (cv_app_load_topology(app) != CV_OK)
        return CV_EXIT_USAGE;
    te = cv_topology_event(&app->topo, argv[optind]);
    if (!te) {
        fprintf(stderr,
                "conveyor send: event type '%s' is not declared in %s\n",
                argv[optind], app->topo.path);
        return CV_EXIT_USAGE;
    }
    schema = cv_catalogue_by_name(app->cat, te->schema);
    if (!schema ||
        cv_codec_encode_json(schema, data, strlen(data), &value, &value_len,
                             errstr, sizeof(errstr)) != CV_OK) {
        fprintf(stderr, "conveyor send: --data: %s\n",
                schema ? errstr : "the type has no schema");
        goto out;
    }
    if (!key && te->key_field) {
        json_t *k;
        root = json_loads(data, 0, NULL);
        k = root ? json_object_get(root, te->key_field) : NULL;
        if (json_is_string(k))
            key = json_string_value(k);
    }
    if (!id) {
        cv_uuid4(uuid);
        id = uuid;
    }
    cv_pg_array_add_bytea(&hex, value, value_len);
    snprintf(now, sizeof(now), "%lld", (long long)cv_wall_ms());
    pg = cv_app_pg(app, "conveyor/send");
    if (!pg) {
        rc = CV_EXIT_RUNTIME;
        goto out;
    }
    res = cv_pg_exec_planned(
        pg,
        "WITH pub AS ("
        " INSERT INTO conveyor.outbox (topic, key, value, event_id,"
        " event_type, source, event_time)"
        " VALUES ($1, convert_to($2, 'UTF8'), ($3::bytea[])[1], $4, $5,"
        " 'conveyor/send', $6::bigint))"
        " INSERT INTO conveyor.audit_log (actor, action, target, args, reason)"
        " VALUES ($7, 'send', $5, jsonb_build_object('event_id', $4::text,"
        " 'key', $2::text, 'data', $8::jsonb), $9)",
        9,
        (const char *[]){te->topic, key, hex.buf, id, te->type, now, actor, data,
                         reason},
        &err);
    if (!res) {
        cv_error("send %s: %s", te->type, err.message);
        rc = CV_EXIT_RUNTIME;
        goto out;
    }
    PQclear(res);
    cv_pg_command(pg, "NOTIFY conveyor_outbox", 0, NULL, &err);
    printf("sent %s: event %s to %s (actor %s)\n", te->type, id, te->topic,
           actor);
    rc = CV_EXIT_OK;
out:
    json_decref(root);
    free(value);
    cv_pg_array_free(&hex);
    cv_pg_destroy(pg);
    return rc;
}
