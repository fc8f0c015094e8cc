/*
 * ops.c - the statements behind `conveyor status`, `pause`/`resume`, `dlq`
 * and `schedules`, which the admin API runs too (see ops.h). Printing and
 * JSON live with their callers; what changes data (switches, dead-letter
 * retries and discards) writes its audit row in the same statement.
 */
#include "ops.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#include "codec.h"

/* ---- status */

PGresult *cv_ops_offsets(struct cv_pg *pg, const char *group,
                         struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT group_id, topic, partition, next_offset FROM "
                      "conveyor.consumer_offsets WHERE $1::text IS NULL OR "
                      "group_id = $1 ORDER BY 1, 2, 3",
                      1, (const char *[]){group}, err);
}

PGresult *cv_ops_outbox(struct cv_pg *pg, struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT count(*) AS unpublished, "
                      "coalesce(extract(epoch FROM now() - min(created_at))"
                      "::bigint, 0) AS oldest_s FROM conveyor.outbox "
                      "WHERE published_at IS NULL",
                      0, NULL, err);
}

PGresult *cv_ops_dead_letters_open(struct cv_pg *pg, const char *group,
                                   struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT count(*) AS open FROM conveyor.dead_letters "
                      "WHERE status = 'open' AND ($1::text IS NULL OR "
                      "group_id = $1)",
                      1, (const char *[]){group}, err);
}

PGresult *cv_ops_retries(struct cv_pg *pg, const char *group,
                         struct cv_pg_error *err)
{
    return cv_pg_exec(
        pg,
        "SELECT count(*) AS waiting, count(*) FILTER (WHERE NOT parked) "
        "AS blocking, count(*) FILTER (WHERE parked) AS parked, "
        "coalesce(max(attempts), 0) AS max_attempts, "
        "coalesce(greatest(0, ceil(extract(epoch FROM "
        "min(next_attempt_at) - now())))::bigint, 0) AS next_due_s "
        "FROM conveyor.retries WHERE $1::text IS NULL OR group_id = $1",
        1, (const char *[]){group}, err);
}

PGresult *cv_ops_members(struct cv_pg *pg, const char *group,
                         struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT group_id, member, state, coalesce(detail, '') "
                      "AS detail, extract(epoch FROM now() - updated_at)"
                      "::bigint AS age_s, "
                      "to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS "
                      "updated_at FROM conveyor.consumer_state WHERE "
                      "updated_at > now() - interval '10 minutes' "
                      "AND ($1::text IS NULL OR group_id = $1) ORDER BY 1, 2",
                      1, (const char *[]){group}, err);
}

PGresult *cv_ops_gaps(struct cv_pg *pg, const char *group,
                      struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT group_id, topic, partition, lost_from, lost_to, "
                      "detected_at FROM conveyor.retention_gaps WHERE "
                      "$1::text IS NULL OR group_id = $1 ORDER BY detected_at",
                      1, (const char *[]){group}, err);
}

PGresult *cv_ops_notices(struct cv_pg *pg, struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT domain, kind, detail, "
                      "to_char(created_at, 'YYYY-MM-DD HH24:MI:SS TZ') "
                      "FROM conveyor.notices WHERE resolved_at IS NULL "
                      "ORDER BY created_at, id LIMIT 100",
                      0, NULL, err);
}

/* ---- switches */

int cv_ops_switch_check(const struct cv_topology *topo, const char *scope,
                        const char *target, char *errstr, size_t errstr_size)
{
    const struct cv_topo_domain *d;
    char domain[256];
    const char *slash;

    if (strcmp(scope, "all") == 0)
        return *target ? cv_err(errstr, errstr_size,
                                "the global switch takes no target")
                       : CV_OK;
    if (strcmp(scope, "domain") == 0)
        return cv_topology_domain(topo, target)
                   ? CV_OK
                   : cv_err(errstr, errstr_size, "no domain '%s' in %s", target,
                            topo->path);
    if (strcmp(scope, "schedule") == 0)
        return cv_topology_schedule(topo, target)
                   ? CV_OK
                   : cv_err(errstr, errstr_size, "no schedule '%s' in %s",
                            target, topo->path);
    if (strcmp(scope, "target") == 0)
        return cv_topology_target(topo, target)
                   ? CV_OK
                   : cv_err(errstr, errstr_size, "no target '%s' in %s", target,
                            topo->path);
    if (strcmp(scope, "route") != 0)
        return cv_err(errstr, errstr_size,
                      "scope '%s': expected all, domain, route, schedule or "
                      "target",
                      scope);
    slash = strchr(target, '/');
    if (!slash || (size_t)(slash - target) >= sizeof(domain))
        return cv_err(errstr, errstr_size,
                      "--route '%s': expected DOMAIN/EVENT_TYPE", target);
    snprintf(domain, sizeof(domain), "%.*s", (int)(slash - target), target);
    d = cv_topology_domain(topo, domain);
    if (!d || !cv_topology_route(d, slash + 1))
        return cv_err(errstr, errstr_size,
                      "--route '%s': domain '%s' has no route for '%s'", target,
                      domain, slash + 1);
    return CV_OK;
}

#define SINCE "to_char(set_at, 'YYYY-MM-DD HH24:MI:SS TZ')"

PGresult *cv_ops_switch_set(struct cv_pg *pg, int pause, const char *scope,
                            const char *target, const char *actor,
                            const char *reason, struct cv_pg_error *err)
{
    const char *params[4] = {scope, target, reason, actor};

    /* Both statements also return the switch as it was before (the CTEs
     * share one snapshot), so the caller can say what changed. */
    if (pause)
        return cv_pg_exec(
            pg,
            "WITH old AS ("
            "  SELECT actor, " SINCE " AS since, reason FROM conveyor.controls"
            "  WHERE scope = $1 AND target = $2),"
            " c AS ("
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
            "SELECT (SELECT count(pg_notify('conveyor_controls', $1 || ':' ||"
            "  $2)) FROM c) AS changed, (SELECT actor FROM old) AS was_actor,"
            "  (SELECT since FROM old) AS was_since,"
            "  (SELECT reason FROM old) AS was_reason",
            4, params, err);
    return cv_pg_exec(
        pg,
        "WITH c AS ("
        "  DELETE FROM conveyor.controls WHERE scope = $1 AND target = $2"
        "  RETURNING actor, set_at, reason),"
        " a AS ("
        "  INSERT INTO conveyor.audit_log (actor, action, target, args,"
        "    reason)"
        "  SELECT $4, 'resume', $1 || ':' || $2,"
        "    jsonb_build_object('scope', $1::text, 'target', $2::text,"
        "      'paused_for', c.reason), $3"
        "  FROM c)"
        "SELECT count(pg_notify('conveyor_controls', $1 || ':' || $2)) AS "
        "  changed, max(actor) AS was_actor, max(" SINCE ") AS was_since,"
        "  max(reason) AS was_reason FROM c",
        4, params, err);
}

PGresult *cv_ops_switches(struct cv_pg *pg, const char *except_scope,
                          const char *except_target, struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT scope, target, actor, " SINCE " AS since, "
                      "reason FROM conveyor.controls WHERE $1::text IS NULL "
                      "OR NOT (scope = $1 AND target = $2) "
                      "ORDER BY set_at, scope, target",
                      2, (const char *[]){except_scope, except_target}, err);
}

/* ---- dead letters */

int cv_ops_group_check(const struct cv_topology *topo, const char *group,
                       char *errstr, size_t errstr_size)
{
    char groups[512] = "";
    size_t len = 0;

    for (size_t i = 0; i < topo->ndomains; i++)
        if (strcmp(topo->domains[i].group_id, group) == 0)
            return CV_OK;
    for (size_t i = 0; i < topo->ndomains && len < sizeof(groups); i++)
        len += (size_t)snprintf(groups + len, sizeof(groups) - len, " %s",
                                topo->domains[i].group_id);
    return cv_err(errstr, errstr_size,
                  "no domain with group '%s' in %s (groups:%s)", group,
                  topo->path, groups);
}

/* The WHERE clause shared by list and retry of all that match: $1..$6. */
#define FILTER_SQL                                                             \
    " ($1::text IS NULL OR group_id = $1)"                                     \
    " AND ($2::text IS NULL OR event_type = $2)"                               \
    " AND ($3::timestamptz IS NULL OR last_failed_at >= $3)"                   \
    " AND ($4::timestamptz IS NULL OR last_failed_at < $4)"                    \
    " AND ($5::text IS NULL OR strpos(lower(error), lower($5)) > 0)"           \
    " AND ($6 = 'all' OR status = $6)"

#define DLQ_COLUMNS                                                            \
    "id, group_id, topic, partition, \"offset\", event_type, event_id,"        \
    " attempts, to_char(last_failed_at, 'YYYY-MM-DD HH24:MI:SS') AS"           \
    " last_failed, status, error"

PGresult *cv_ops_dlq_list(struct cv_pg *pg, const struct cv_dlq_filter *f,
                          struct cv_pg_error *err)
{
    char limit[16];

    snprintf(limit, sizeof(limit), "%d", f->limit);
    return cv_pg_exec(pg,
                      "SELECT " DLQ_COLUMNS " FROM conveyor.dead_letters "
                      "WHERE" FILTER_SQL " ORDER BY id LIMIT $7",
                      7,
                      (const char *[]){f->group, f->type, f->since, f->until,
                                       f->error, f->status, limit},
                      err);
}

PGresult *cv_ops_dlq_show(struct cv_pg *pg, const char *id,
                          struct cv_pg_error *err)
{
    return cv_pg_exec(pg,
                      "SELECT " DLQ_COLUMNS ", first_failed_at AS "
                      "first_failed, resolved_at, resolved_by, resolution, "
                      "headers, encode(key, 'escape') AS key, "
                      "encode(value, 'hex') AS value_hex "
                      "FROM conveyor.dead_letters WHERE id = $1",
                      1, (const char *[]){id}, err);
}

/*
 * Retry: the rows picked by ids ($7, unless $10) or by the filters; open
 * ones only, and only those with an event id (an event without one was
 * dead-lettered for its headers and would fail the same way).
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
    "SELECT id, coalesce(event_id, '') AS event_id, topic || '[' ||"
    "  partition || ']@' || \"offset\" AS place FROM d ORDER BY id";

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
    "SELECT id, coalesce(event_id, '') AS event_id, topic || '[' ||"
    "  partition || ']@' || \"offset\" AS place FROM d ORDER BY id";

PGresult *cv_ops_dlq_change(struct cv_pg *pg, int retry,
                            const struct cv_dlq_filter *f, const char *ids,
                            const char *actor, const char *reason,
                            struct cv_pg_error *err)
{
    struct cv_dlq_filter none = {.status = "open"};
    struct cv_pg_error nerr;
    PGresult *res;

    if (!retry)
        return cv_pg_exec(pg, DISCARD_SQL, 3,
                          (const char *[]){ids ? ids : "{}", actor, reason},
                          err);
    if (!f)
        f = &none;
    res = cv_pg_exec_planned(pg, RETRY_SQL, 10,
                             (const char *[]){f->group, f->type, f->since,
                                              f->until, f->error, "open",
                                              ids ? ids : "{}", actor,
                                              reason ? reason : "dlq retry",
                                              f != &none ? "true" : "false"},
                             err);
    /* the relay polls anyway: a lost wake-up only delays the events */
    if (res && PQntuples(res))
        (void)cv_pg_command(pg, "NOTIFY conveyor_outbox", 0, NULL, &nerr);
    return res;
}

char *cv_ops_dlq_value_json(const struct cv_catalogue *cat, const char *hex,
                            size_t hexlen)
{
    size_t len = hexlen / 2;
    unsigned char *bytes = cv_malloc(len + 1);
    struct cv_decoder *dec = cv_decoder_new(cat);
    const struct cv_schema *schema;
    avro_value_t *value;
    char errstr[256], *json = NULL;

    for (size_t i = 0; i < len; i++) {
        unsigned int b = 0;
        sscanf(hex + 2 * i, "%2x", &b);
        bytes[i] = (unsigned char)b;
    }
    if (cv_decoder_decode(dec, bytes, len, &schema, &value, errstr,
                          sizeof(errstr)) == CV_OK)
        json = cv_value_to_json(value);
    cv_decoder_destroy(dec);
    free(bytes);
    return json;
}

/* ---- schedules */

PGresult *cv_ops_schedule_history(struct cv_pg *pg, struct cv_pg_error *err)
{
    return cv_pg_exec(
        pg,
        "SELECT r.schedule,"
        " (extract(epoch FROM max(fire_time) FILTER (WHERE kind <> 'skipped'))"
        "   * 1000)::bigint AS last_fire_ms,"
        " count(*) FILTER (WHERE kind = 'scheduled') AS scheduled,"
        " count(*) FILTER (WHERE kind = 'catch_up') AS catch_up,"
        " count(*) FILTER (WHERE kind = 'skipped') AS skipped,"
        " count(*) FILTER (WHERE kind = 'manual') AS manual,"
        " (extract(epoch FROM greatest(min(s.first_seen),"
        "   max(fire_time) FILTER (WHERE kind <> 'manual'))) * 1000)::bigint"
        "   AS cursor_ms"
        " FROM conveyor.schedule_runs r"
        " LEFT JOIN conveyor.schedules s ON s.name = r.schedule"
        " GROUP BY r.schedule",
        0, NULL, err);
}
