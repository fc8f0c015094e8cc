/*
 * store.c - the consumer's statements on the conveyor.* tables (store.h).
 *
 * Each function marshals plain values into one parameterised statement;
 * the SQL is here and only here. What the statements mean for a batch
 * (when to claim, what a failed compare-and-set says) is the consumer's.
 * Binary parameters (keys, values) are sent as bytea in binary format.
 */
#include "store.h"

#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Decimal text of a number, for a statement's parameter. */
struct num {
    char s[24];
};

static struct num num_of(int64_t v)
{
    struct num n;
    snprintf(n.s, sizeof(n.s), "%lld", (long long)v);
    return n;
}

struct cv_pg *cv_store_connect(const struct cv_config *cfg,
                               const char *app_name, const char *log_kv,
                               atomic_int *stop, const void *beat_key)
{
    struct num stmt_timeout = num_of(cfg->pg_statement_timeout_ms);
    struct num lock_timeout = num_of(cfg->pg_lock_timeout_ms);
    char errstr[512];
    struct cv_pg_error err;
    int64_t backoff = 100;

    for (int attempt = 1; !atomic_load(stop); attempt++) {
        struct cv_pg *pg =
            cv_pg_connect(cfg->pg_conninfo, app_name, cfg->pg_connect_timeout_s,
                          errstr, sizeof(errstr));
        if (pg) {
            /* A consumer stopped mid-transaction (SIGSTOP, a long GC pause
             * of the host) must not hold row locks for long. Nor wait for
             * a lock past lock_timeout: while it waits on Postgres it
             * serves no rebalance (the consumer's classify()). */
            if (cv_pg_command(
                    pg,
                    "SELECT set_config("
                    "'idle_in_transaction_session_timeout', $1, false), "
                    "set_config('statement_timeout', $2, false), "
                    "set_config('lock_timeout', $3, false)",
                    3, (const char *[]){"15s", stmt_timeout.s, lock_timeout.s},
                    &err) == CV_OK) {
                CV_LOG(CV_LOG_INFO, log_kv, "connected to Postgres (%s)",
                       cv_pg_describe(pg));
                return pg;
            }
            cv_pg_destroy(pg);
            snprintf(errstr, sizeof(errstr), "%s", err.message);
        }
        CV_LOG(CV_LOG_WARN, log_kv,
               "Postgres unavailable (attempt %d), retrying in %lldms: %s",
               attempt, (long long)backoff, errstr);
        /* waiting for Postgres is not a stuck loop */
        cv_health_beat(beat_key, "consumer", app_name, 5000);
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return NULL;
}

int cv_store_offsets_load(struct cv_pg *pg, const char *group,
                          void (*fn)(void *opaque, const char *topic,
                                     int32_t partition, int64_t next_offset),
                          void *opaque, struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec(pg,
                               "SELECT topic, partition, next_offset FROM "
                               "conveyor.consumer_offsets WHERE group_id = $1",
                               1, (const char *[]){group}, err);
    if (!res)
        return CV_ERR;
    for (int i = 0; i < PQntuples(res); i++)
        fn(opaque, PQgetvalue(res, i, 0), atoi(PQgetvalue(res, i, 1)),
           strtoll(PQgetvalue(res, i, 2), NULL, 10));
    PQclear(res);
    return CV_OK;
}

int cv_store_head_retries_load(struct cv_pg *pg, const char *group,
                               void (*fn)(void *opaque,
                                          const struct cv_store_head_retry *r),
                               void *opaque, struct cv_pg_error *err)
{
    PGresult *res =
        cv_pg_exec(pg,
                   "SELECT topic, partition, \"offset\", attempts, "
                   "(extract(epoch FROM next_attempt_at) * 1000)::bigint, "
                   "last_error FROM conveyor.retries "
                   "WHERE group_id = $1 AND NOT parked",
                   1, (const char *[]){group}, err);
    if (!res)
        return CV_ERR;
    for (int i = 0; i < PQntuples(res); i++) {
        struct cv_store_head_retry r = {
            .topic = PQgetvalue(res, i, 0),
            .partition = atoi(PQgetvalue(res, i, 1)),
            .offset = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .attempts = atoi(PQgetvalue(res, i, 3)),
            .due_ms = strtoll(PQgetvalue(res, i, 4), NULL, 10),
            .last_error = PQgetvalue(res, i, 5),
        };
        fn(opaque, &r);
    }
    PQclear(res);
    return CV_OK;
}

int cv_store_offsets_init(struct cv_pg *pg, const char *group,
                          const char *topic, int32_t partition,
                          int64_t next_offset, struct cv_pg_error *err)
{
    struct num part = num_of(partition), next = num_of(next_offset);

    return cv_pg_command(pg,
                         "INSERT INTO conveyor.consumer_offsets "
                         "(group_id, topic, partition, next_offset) "
                         "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                         4, (const char *[]){group, topic, part.s, next.s},
                         err);
}

int cv_store_gap_insert(struct cv_pg *pg, const char *group, const char *topic,
                        int32_t partition, int64_t lost_from, int64_t lost_to,
                        struct cv_pg_error *err)
{
    struct num part = num_of(partition), from = num_of(lost_from),
               to = num_of(lost_to);

    return cv_pg_command(
        pg,
        "INSERT INTO conveyor.retention_gaps (group_id, topic, "
        "partition, lost_from, lost_to) VALUES ($1, $2, $3, $4, "
        "$5) ON CONFLICT DO NOTHING",
        5, (const char *[]){group, topic, part.s, from.s, to.s}, err);
}

int cv_store_retry_claim(struct cv_pg *pg, int tag, int64_t retry_id,
                         int attempts)
{
    struct num id = num_of(retry_id), att = num_of(attempts);

    return cv_pg_pipe_send(pg, tag,
                           "SELECT 1 FROM conveyor.retries WHERE id = $1 "
                           "AND attempts = $2 FOR UPDATE SKIP LOCKED",
                           2, (const char *[]){id.s, att.s}, NULL, NULL);
}

int cv_store_inbox_lookup(struct cv_pg *pg, int tag, const char *group,
                          const struct cv_pg_array *ids)
{
    /* One index probe per id, whatever the statistics say: a plain join
     * on a table autovacuum has not analyzed yet is planned as a hash
     * join that reads the group's whole inbox. The LIMIT 1 under LATERAL
     * leaves the planner no such path. */
    return cv_pg_pipe_send_planned(
        pg, tag,
        "SELECT u.id FROM unnest($2::text[]) AS u(id) "
        "CROSS JOIN LATERAL (SELECT 1 FROM conveyor.inbox i "
        "WHERE i.group_id = $1 AND i.event_id = u.id LIMIT 1) hit",
        2, (const char *[]){group, ids->buf});
}

void cv_store_found_rows(void *found, int tag, PGresult *res)
{
    struct cv_store_found *f = found;

    if (tag == f->claim_tag) {
        f->claimed = PQntuples(res);
        return;
    }
    if (tag != f->lookup_tag)
        return;
    for (int r = 0; r < PQntuples(res); r++)
        f->found(f->opaque, PQgetvalue(res, r, 0));
}

int cv_store_inbox_insert(struct cv_pg *pg, int tag, const char *group,
                          const struct cv_pg_array *ids)
{
    return cv_pg_pipe_send_planned(pg, tag,
                                   "INSERT INTO conveyor.inbox (group_id, "
                                   "event_id) SELECT $1, unnest($2::text[])",
                                   2, (const char *[]){group, ids->buf});
}

int cv_store_offsets_advance(struct cv_pg *pg, int tag, const char *group,
                             const struct cv_pg_array *topics,
                             const struct cv_pg_array *partitions,
                             const struct cv_pg_array *expected,
                             const struct cv_pg_array *next)
{
    return cv_pg_pipe_send(pg, tag,
                           "SELECT conveyor.advance_offsets($1, "
                           "$2::text[], $3::int[], $4::bigint[], "
                           "$5::bigint[])",
                           5,
                           (const char *[]){group, topics->buf, partitions->buf,
                                            expected->buf, next->buf},
                           NULL, NULL);
}

int cv_store_dead_letter(struct cv_pg *pg, int tag, const char *group,
                         const char *dlq_topic, const struct cv_store_event *ev,
                         const char *reason, int attempts)
{
    static const char *const sql =
        "WITH r AS ("
        " DELETE FROM conveyor.retries WHERE group_id = $1 AND topic = $2"
        " AND partition = $3 AND \"offset\" = $4 RETURNING first_failed_at),"
        " d AS ("
        " INSERT INTO conveyor.dead_letters (group_id, topic, partition, "
        " \"offset\", key, headers, value, event_id, event_type, error, "
        " attempts, first_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9, $10, $11, coalesce((SELECT first_failed_at FROM r), now()))"
        " RETURNING id)"
        "INSERT INTO conveyor.outbox (topic, key, value, event_id, event_type,"
        " source, event_time, headers)"
        " SELECT $12, $5, coalesce($7, ''::bytea),"
        " coalesce($8, 'dead-letter:' || d.id), coalesce($9, ''),"
        " 'conveyor/dlq', (extract(epoch FROM now()) * 1000)::bigint,"
        " $6::jsonb || jsonb_build_object('conveyor_dlq_group', $1::text,"
        " 'conveyor_dlq_topic', $2::text, 'conveyor_dlq_partition',"
        " $3::text, 'conveyor_dlq_offset', $4::text, 'conveyor_dlq_error',"
        " $10::text, 'conveyor_dlq_attempts', $11::text,"
        " 'conveyor_dlq_id', d.id::text) FROM d";
    struct num part = num_of(ev->partition), off = num_of(ev->offset),
               att = num_of(attempts);
    char *hdrs = cv_headers_to_json(ev->hdrs);
    const char *values[12] = {
        group,
        ev->topic,
        part.s,
        off.s,
        ev->key,
        hdrs,
        ev->value,
        ev->event_id[0] ? ev->event_id : NULL,
        ev->event_type[0] ? ev->event_type : NULL,
        reason,
        att.s,
        dlq_topic,
    };
    int lengths[12] = {[4] = (int)ev->key_len, [6] = (int)ev->len};
    int formats[12] = {[4] = 1, [6] = 1};
    int rc = cv_pg_pipe_send(pg, tag, sql, 12, values, lengths, formats);

    free(hdrs);
    return rc;
}

int cv_store_retry_upsert(struct cv_pg *pg, int tag, const char *group,
                          const struct cv_store_event *ev, int parked,
                          int attempts, int64_t delay_ms, const char *reason)
{
    static const char *const sql =
        "INSERT INTO conveyor.retries (group_id, topic, partition, "
        " \"offset\", event_id, event_type, key, headers, value, parked,"
        " attempts, next_attempt_at, last_error) VALUES ($1, $2, $3, $4, $5,"
        " $6, $7, $8, coalesce($9, ''::bytea), $10, $11,"
        " now() + $12 * interval '1 millisecond', $13)"
        " ON CONFLICT (group_id, topic, partition, \"offset\") DO UPDATE"
        " SET key = EXCLUDED.key, headers = EXCLUDED.headers,"
        " value = EXCLUDED.value, parked = EXCLUDED.parked,"
        " attempts = EXCLUDED.attempts,"
        " next_attempt_at = EXCLUDED.next_attempt_at,"
        " last_failed_at = now(), last_error = EXCLUDED.last_error";
    struct num part = num_of(ev->partition), off = num_of(ev->offset),
               att = num_of(attempts), delay = num_of(delay_ms);
    char *hdrs = cv_headers_to_json(ev->hdrs);
    const char *values[13] = {
        group,          ev->topic, part.s, off.s,     ev->event_id,
        ev->event_type, ev->key,   hdrs,   ev->value, parked ? "true" : "false",
        att.s,          delay.s,   reason,
    };
    int lengths[13] = {[6] = (int)ev->key_len, [8] = (int)ev->len};
    int formats[13] = {[6] = 1, [8] = 1};
    int rc = cv_pg_pipe_send(pg, tag, sql, 13, values, lengths, formats);

    free(hdrs);
    return rc;
}

int cv_store_retry_delete(struct cv_pg *pg, int tag, const char *group,
                          const char *topic, int32_t partition, int64_t offset)
{
    struct num part = num_of(partition), off = num_of(offset);

    return cv_pg_pipe_send(pg, tag,
                           "DELETE FROM conveyor.retries WHERE "
                           "group_id = $1 AND topic = $2 AND "
                           "partition = $3 AND \"offset\" = $4",
                           4, (const char *[]){group, topic, part.s, off.s},
                           NULL, NULL);
}

int cv_store_outbox_insert(struct cv_pg *pg, int tag,
                           const struct cv_pg_array *cols)
{
    const char *params[CV_OB_COLUMNS];

    for (int i = 0; i < CV_OB_COLUMNS; i++)
        params[i] = cols[i].buf;
    /* prepared: an insert from arrays has no plan to go stale */
    return cv_pg_pipe_send(
        pg, tag,
        "INSERT INTO conveyor.outbox (topic, key, value, event_id, "
        "event_type, source, event_time, tenant, traceparent) "
        "SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], "
        "$4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], "
        "$9::text[])",
        CV_OB_COLUMNS, params, NULL, NULL);
}

int cv_store_outbox_notify(struct cv_pg *pg, int tag, const char *domain)
{
    return cv_pg_pipe_send(pg, tag, "SELECT pg_notify('conveyor_outbox', $1)",
                           1, (const char *[]){domain}, NULL, NULL);
}

/* Copies a bytea column (text format) into a malloc'ed buffer. */
static void *unescape(const PGresult *res, int row, int col, size_t *len)
{
    unsigned char *raw, *out;

    *len = 0;
    if (PQgetisnull(res, row, col))
        return NULL;
    raw =
        PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), len);
    if (!raw)
        return NULL;
    out = cv_malloc(*len + 1);
    memcpy(out, raw, *len);
    PQfreemem(raw);
    return out;
}

int cv_store_retries_due(struct cv_pg *pg, const char *group,
                         int (*fn)(void *opaque, struct cv_store_parked *p),
                         void *opaque, struct cv_pg_error *err)
{
    PGresult *res =
        cv_pg_exec(pg,
                   "SELECT id, topic, partition, \"offset\", key, "
                   "headers::text, value, attempts, last_error, event_type "
                   "FROM conveyor.retries WHERE group_id = $1 AND parked "
                   "AND next_attempt_at <= now() "
                   "ORDER BY next_attempt_at, id LIMIT 100",
                   1, (const char *[]){group}, err);
    int stop = 0;

    if (!res)
        return CV_ERR;
    for (int row = 0; row < PQntuples(res) && !stop; row++) {
        struct cv_store_parked p = {
            .id = strtoll(PQgetvalue(res, row, 0), NULL, 10),
            .topic = PQgetvalue(res, row, 1),
            .partition = atoi(PQgetvalue(res, row, 2)),
            .offset = strtoll(PQgetvalue(res, row, 3), NULL, 10),
            .hdrs = cv_headers_from_json(PQgetvalue(res, row, 5),
                                         (size_t)PQgetlength(res, row, 5)),
            .attempts = atoi(PQgetvalue(res, row, 7)),
            .last_error = PQgetvalue(res, row, 8),
            .event_type = PQgetvalue(res, row, 9),
        };
        p.key = unescape(res, row, 4, &p.key_len);
        p.value = unescape(res, row, 6, &p.len);
        stop = fn(opaque, &p);
        free(p.key);
        free(p.value);
        if (p.hdrs)
            rd_kafka_headers_destroy(p.hdrs);
    }
    PQclear(res);
    return CV_OK;
}

void cv_store_lock_holders(struct cv_pg *pg, int limit, char *out, size_t size)
{
    struct num max = num_of(limit);
    struct cv_pg_error err;
    PGresult *res = NULL;
    size_t used = 0;

    out[0] = '\0';
    if (pg && cv_pg_ok(pg))
        res = cv_pg_exec(
            pg,
            "SELECT pid, coalesce(nullif(application_name, ''), "
            "usename::text, '?'), state, "
            "extract(epoch FROM now() - xact_start)::bigint "
            "FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND backend_xid IS NOT NULL AND datname = current_database() "
            "ORDER BY xact_start LIMIT $1::int",
            1, (const char *[]){max.s}, &err);
    for (int i = 0; res && i < PQntuples(res) && used < size; i++)
        used += (size_t)snprintf(out + used, size - used,
                                 "%spid %s (%s, %s, %ss)", i ? "; " : "",
                                 PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                                 PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    PQclear(res);
}
