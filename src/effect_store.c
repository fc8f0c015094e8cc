/*
 * effect_store.c - the SQL of conveyor.effects (effect_store.h).
 */
#include "effect_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static char *column(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL
                                      : cv_strdup(PQgetvalue(res, row, col));
}

/* The columns of RETURNING_REQUEST, in order. */
#define RETURNING_REQUEST                                                      \
    " e.id, e.target, e.method, e.path, e.query, e.body::text,"                \
    " e.idempotency_key, e.outcome_type, e.outcome_key, e.context::text,"      \
    " e.domain, e.source_event_id, e.attempts,"                                \
    " (extract(epoch FROM coalesce(e.first_attempt_at, now())) * 1000)"        \
    "::bigint"

static void read_request(PGresult *res, int i, struct cv_effect_claimed *c)
{
    c->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    c->target = column(res, i, 1);
    c->method = column(res, i, 2);
    c->path = column(res, i, 3);
    c->query = column(res, i, 4);
    c->body = column(res, i, 5);
    c->idempotency_key = column(res, i, 6);
    c->outcome_type = column(res, i, 7);
    c->outcome_key = column(res, i, 8);
    c->context = column(res, i, 9);
    c->domain = column(res, i, 10);
    c->source_event_id = column(res, i, 11);
    c->attempts = atoi(PQgetvalue(res, i, 12));
    c->first_attempt_ms = strtoll(PQgetvalue(res, i, 13), NULL, 10);
}

int cv_effect_store_claim(struct cv_pg *pg, const char *target,
                          const char *lease, int64_t lease_ms, int limit,
                          struct cv_effect_claimed **out, size_t *n,
                          struct cv_pg_error *err)
{
    char ms[24], lim[16];
    const char *params[4] = {target, lease, ms, lim};
    PGresult *res;

    *out = NULL;
    *n = 0;
    snprintf(ms, sizeof(ms), "%lld", (long long)lease_ms);
    snprintf(lim, sizeof(lim), "%d", limit);
    res = cv_pg_exec(
        pg,
        "UPDATE conveyor.effects e SET state = 'in_flight', lease_token = $2,"
        " lease_until = now() + $3::bigint * interval '1 millisecond',"
        " attempts = e.attempts + 1, last_attempt_at = now(),"
        " first_attempt_at = coalesce(e.first_attempt_at, now())"
        " FROM (SELECT id FROM conveyor.effects WHERE target = $1"
        " AND state = 'pending' AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT $4::int FOR UPDATE SKIP LOCKED) d"
        " WHERE e.id = d.id RETURNING" RETURNING_REQUEST,
        4, params, err);
    if (!res)
        return CV_ERR;
    *n = (size_t)PQntuples(res);
    if (*n) {
        *out = cv_calloc(*n, sizeof(**out));
        for (int i = 0; i < (int)*n; i++) {
            struct cv_effect_claimed *c = &(*out)[i];
            read_request(res, i, c);
        }
    }
    PQclear(res);
    return CV_OK;
}

void cv_effect_claimed_clear(struct cv_effect_claimed *c)
{
    free(c->target);
    free(c->method);
    free(c->path);
    free(c->query);
    free(c->body);
    free(c->idempotency_key);
    free(c->outcome_type);
    free(c->outcome_key);
    free(c->context);
    free(c->domain);
    free(c->source_event_id);
    memset(c, 0, sizeof(*c));
}

void cv_effect_claimed_free(struct cv_effect_claimed *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        cv_effect_claimed_clear(&c[i]);
    free(c);
}

int cv_effect_store_reclaim(struct cv_pg *pg, int *n, struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec(
        pg,
        "UPDATE conveyor.effects SET state = 'pending', lease_token = NULL,"
        " lease_until = NULL, reclaims = reclaims + 1,"
        " next_attempt_at = now(), last_error = 'lease ran out: the runner"
        " stopped mid-call; sent again with the same key'"
        " WHERE state = 'in_flight' AND lease_until < now()",
        0, NULL, err);
    if (!res)
        return CV_ERR;
    *n = atoi(PQcmdTuples(res));
    PQclear(res);
    return CV_OK;
}

int cv_effect_store_reclaim_others(struct cv_pg *pg, const char *own_prefix,
                                   int *n, struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec(
        pg,
        "UPDATE conveyor.effects SET state = 'pending', lease_token = NULL,"
        " lease_until = NULL, reclaims = reclaims + 1,"
        " next_attempt_at = now(), last_error = 'the runner that sent it"
        " lost the lead mid-call; sent again with the same key'"
        " WHERE state = 'in_flight' AND left(lease_token, length($1)) <> $1",
        1, (const char *[]){own_prefix}, err);
    if (!res)
        return CV_ERR;
    *n = atoi(PQcmdTuples(res));
    PQclear(res);
    return CV_OK;
}

int cv_effect_store_retry(struct cv_pg *pg, int64_t id, const char *lease,
                          int64_t delay_ms, int status, const char *error,
                          int *recorded, struct cv_pg_error *err)
{
    char ids[24], delay[24], st[16];
    const char *params[5] = {ids, lease, delay, st, error};
    PGresult *res;

    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
    snprintf(st, sizeof(st), "%d", status);
    res = cv_pg_exec(
        pg,
        "UPDATE conveyor.effects SET state = 'pending', lease_token = NULL,"
        " lease_until = NULL,"
        " next_attempt_at = now() + $3::bigint * interval '1 millisecond',"
        " last_status = $4::int, last_error = $5"
        " WHERE id = $1 AND lease_token = $2 AND state = 'in_flight'",
        5, params, err);
    if (!res)
        return CV_ERR;
    *recorded = atoi(PQcmdTuples(res));
    PQclear(res);
    return CV_OK;
}

static void count_rows(void *opaque, int tag, PGresult *res)
{
    (void)tag;
    *(int *)opaque += PQntuples(res);
}

int cv_effect_store_finish(struct cv_pg *pg, const struct cv_effect_final *f,
                           int *recorded, struct cv_pg_error *err)
{
    /* $2 NULL (cancel): the row must not be in flight */
    static const char *const sql =
        "WITH e AS (UPDATE conveyor.effects SET state = $3,"
        " finished_at = now(), lease_token = NULL, lease_until = NULL,"
        " last_status = coalesce($4::int, last_status), last_error = $5,"
        " response = $6::jsonb"
        " WHERE id = $1 AND ((lease_token = $2 AND state = 'in_flight')"
        " OR ($2 IS NULL AND state IN ('pending', 'failed')))"
        " RETURNING id)"
        " INSERT INTO conveyor.outbox (topic, key, value, event_id,"
        " event_type, source, event_time)"
        " SELECT $7, $8, $9, $10, $11, 'conveyor/effects', $12::bigint FROM e"
        " RETURNING 1";
    char id[24], st[16], when[24];
    const char *values[12];
    int lengths[12] = {0}, formats[12] = {0};
    int rc;

    snprintf(id, sizeof(id), "%lld", (long long)f->id);
    snprintf(st, sizeof(st), "%d", f->status);
    snprintf(when, sizeof(when), "%lld", (long long)f->event_time_ms);
    values[0] = id;
    values[1] = f->lease;
    values[2] = f->state;
    values[3] = f->status >= 0 ? st : NULL;
    values[4] = f->error;
    values[5] = f->response;
    values[6] = f->topic;
    values[7] = f->key;
    lengths[7] = f->key ? (int)strlen(f->key) : 0;
    formats[7] = 1;
    values[8] = f->value;
    lengths[8] = (int)f->value_len;
    formats[8] = 1;
    values[9] = f->event_id;
    values[10] = f->event_type;
    values[11] = when;
    /* binary parameters (the Avro value) go through the pipeline API */
    *recorded = 0;
    if (cv_pg_pipe_begin(pg) != CV_OK)
        goto lost;
    if (cv_pg_pipe_send(pg, 0, sql, 12, values, lengths, formats) != CV_OK) {
        cv_pg_pipe_end(pg);
        goto lost;
    }
    rc = cv_pg_pipe_sync(pg, count_rows, recorded, err);
    cv_pg_pipe_end(pg);
    if (rc != CV_OK)
        return CV_ERR;
    return CV_OK;
lost:
    err->tag = -1;
    err->sqlstate[0] = '\0';
    err->context[0] = '\0';
    snprintf(err->message, sizeof(err->message), "%s",
             PQerrorMessage(cv_pg_conn(pg)));
    return CV_ERR;
}

void cv_effect_store_wake_relay(struct cv_pg *pg)
{
    struct cv_pg_error err;
    cv_pg_command(pg, "SELECT pg_notify('conveyor_outbox', 'effects')", 0, NULL,
                  &err);
}

int cv_effect_store_paused(struct cv_pg *pg, int *all, char **names,
                           struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec(pg,
                               "SELECT scope, target FROM conveyor.controls "
                               "WHERE scope IN ('all', 'target')",
                               0, NULL, err);
    size_t len = 0;

    *all = 0;
    *names = NULL;
    if (!res)
        return CV_ERR;
    for (int i = 0; i < PQntuples(res); i++)
        len += (size_t)PQgetlength(res, i, 1) + 1;
    *names = cv_calloc(1, len + 1);
    len = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 0), "all") == 0) {
            *all = 1;
            continue;
        }
        memcpy(*names + len, PQgetvalue(res, i, 1),
               (size_t)PQgetlength(res, i, 1) + 1);
        len += (size_t)PQgetlength(res, i, 1) + 1;
    }
    PQclear(res);
    return CV_OK;
}

PGresult *cv_effect_store_list(struct cv_pg *pg, const char *target,
                               const char *state, const char *limit,
                               struct cv_pg_error *err)
{
    return cv_pg_exec(
        pg,
        "SELECT id, target, state, attempts, last_status,"
        " to_char(created_at AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " method || ' ' || path || coalesce('?' || query, ''),"
        " '', last_error FROM conveyor.effects"
        " WHERE ($1::text IS NULL OR target = $1)"
        " AND ($2 = 'all' OR state = $2 OR ($2 = 'open' AND state IN"
        " ('pending', 'in_flight', 'failed')))"
        " ORDER BY id DESC LIMIT $3::int",
        3, (const char *[]){target, state, limit}, err);
}

PGresult *cv_effect_store_show(struct cv_pg *pg, const char *id,
                               struct cv_pg_error *err)
{
    return cv_pg_exec(
        pg,
        "SELECT id, target, state, method, path, query, body, idempotency_key,"
        " outcome_type, outcome_key, context, domain, source_event_id,"
        " attempts, reclaims, next_attempt_at, lease_until, created_at,"
        " first_attempt_at, last_attempt_at, finished_at, last_status,"
        " last_error, response FROM conveyor.effects WHERE id = $1::bigint",
        1, (const char *[]){id}, err);
}

int cv_effect_store_lock(struct cv_pg *pg, const char *id,
                         struct cv_effect_claimed *req, int *found,
                         struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec(
        pg,
        "SELECT" RETURNING_REQUEST " FROM conveyor.effects e"
        " WHERE e.id = $1::bigint AND e.state IN ('pending', 'failed')"
        " FOR UPDATE",
        1, (const char *[]){id}, err);

    memset(req, 0, sizeof(*req));
    *found = 0;
    if (!res)
        return CV_ERR;
    if (PQntuples(res) == 1) {
        read_request(res, 0, req);
        *found = 1;
    }
    PQclear(res);
    return CV_OK;
}

int cv_effect_store_retry_failed(struct cv_pg *pg, const char *id,
                                 const char *actor, const char *reason,
                                 int *done, struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec(
        pg,
        "WITH e AS (UPDATE conveyor.effects SET state = 'pending',"
        " attempts = 0, next_attempt_at = now(), finished_at = NULL"
        " WHERE id = $1::bigint AND state IN ('failed', 'cancelled')"
        " RETURNING id, target, idempotency_key),"
        " a AS (INSERT INTO conveyor.audit_log (actor, action, target, args,"
        " reason) SELECT $2, 'effects retry', e.target, jsonb_build_object("
        " 'effect_id', e.id, 'idempotency_key', e.idempotency_key), $3"
        " FROM e) SELECT count(*) FROM e",
        3, (const char *[]){id, actor, reason}, err);

    *done = 0;
    if (!res)
        return CV_ERR;
    *done = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return CV_OK;
}

int cv_effect_store_audit(struct cv_pg *pg, const char *actor,
                          const char *action, const char *id,
                          const char *reason, struct cv_pg_error *err)
{
    return cv_pg_command(
        pg,
        "INSERT INTO conveyor.audit_log (actor, action, target, args, reason)"
        " SELECT $1, $2, target, jsonb_build_object('effect_id', id,"
        " 'idempotency_key', idempotency_key), $4"
        " FROM conveyor.effects WHERE id = $3::bigint",
        4, (const char *[]){actor, action, id, reason}, err);
}

PGresult *cv_effect_store_counts(struct cv_pg *pg, struct cv_pg_error *err)
{
    return cv_pg_exec(
        pg,
        "SELECT target, count(*) FILTER (WHERE state = 'pending'),"
        " count(*) FILTER (WHERE state = 'in_flight'),"
        " count(*) FILTER (WHERE state = 'failed'),"
        " extract(epoch FROM now() - min(created_at) FILTER (WHERE state ="
        " 'pending'))::bigint, sum(reclaims)"
        " FROM conveyor.effects WHERE state IN ('pending', 'in_flight',"
        " 'failed') GROUP BY target ORDER BY target",
        0, NULL, err);
}
