/*
 * replay.c - planning and applying a replay (see replay.h and, for the
 * whole story, cmd_replay.c).
 *
 * Timestamps: the Kafka message timestamp (producer CreateTime by default),
 * found with offsets_for_times or, where the broker does not support it
 * (the dev broker), by binary search over the partition, which assumes the
 * timestamps rise with the offsets, as they do for one producer.
 */
#include "replay.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "kafka.h"
#include "log.h"

/* A Postgres array literal being built. */
static void count_add(struct cv_replay_count **tc, size_t *n, size_t *cap,
                      const void *type, size_t size, int64_t k)
{
    char name[256];

    if (size >= sizeof(name))
        size = sizeof(name) - 1;
    memcpy(name, type ? type : "", type ? size : 0);
    name[type ? size : 0] = '\0';
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*tc)[i].type, name) == 0) {
            (*tc)[i].n += k;
            return;
        }
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 4;
        *tc = cv_realloc(*tc, *cap * sizeof(**tc));
    }
    snprintf((*tc)[*n].type, sizeof((*tc)[*n].type), "%s", name);
    (*tc)[(*n)++].n = k;
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
static int64_t offset_for_time(rd_kafka_t *rk, struct cv_replay_range *r,
                               int64_t ts)
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
static int64_t collect_ids(rd_kafka_t *rk, const struct cv_replay_range *r,
                           struct cv_pg_array *ids, struct cv_replay_range *t)
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
                count_add(&t->types, &t->ntypes, &t->types_cap, val, size, 1);
            else
                count_add(&t->types, &t->ntypes, &t->types_cap, NULL, 0, 1);
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

void cv_replay_plan_free(struct cv_replay_plan *plan)
{
    for (size_t i = 0; i < plan->nranges; i++)
        free(plan->ranges[i].types);
    free(plan->ranges);
    free(plan->all);
    memset(plan, 0, sizeof(*plan));
}

int cv_replay_check(const struct cv_topology *topo,
                    const struct cv_replay_req *req,
                    const struct cv_topo_domain **domain, char *errstr,
                    size_t errstr_size)
{
    int64_t ms;
    int found = 0;

    *domain = NULL;
    for (size_t i = 0; i < topo->ndomains && !*domain; i++)
        if (strcmp(topo->domains[i].group_id, req->group) == 0)
            *domain = &topo->domains[i];
    if (!*domain)
        return cv_err(errstr, errstr_size, "no domain with group '%s' in %s",
                      req->group, topo->path);
    for (size_t i = 0; req->topic && i < (*domain)->ntopics; i++)
        found |= strcmp((*domain)->topics[i], req->topic) == 0;
    if (req->topic && !found)
        return cv_err(errstr, errstr_size, "group '%s' does not consume '%s'",
                      req->group, req->topic);
    if ((req->from_time &&
         cv_rfc3339_parse(req->from_time, strlen(req->from_time), &ms) !=
             CV_OK) ||
        (req->to_time &&
         cv_rfc3339_parse(req->to_time, strlen(req->to_time), &ms) != CV_OK))
        return cv_err(errstr, errstr_size,
                      "times are RFC 3339, e.g. 2026-11-22T08:00:00Z");
    if (!req->from_time && req->from_offset < 0)
        return cv_err(errstr, errstr_size, "give a from time or offset");
    return CV_OK;
}

/* Reads the offsets and the ranges; CV_OK, CV_REPLAY_BAD or CV_ERR. */
static int plan_ranges(rd_kafka_t *rk, struct cv_pg *pg,
                       const struct cv_replay_req *req,
                       struct cv_replay_plan *plan, struct cv_pg_array *ids,
                       char *errstr, size_t errstr_size)
{
    int64_t from_ms = 0, to_ms = 0;
    struct cv_pg_error err;
    char pbuf[12];
    PGresult *res;
    int rc = CV_ERR;

    if (req->from_time)
        cv_rfc3339_parse(req->from_time, strlen(req->from_time), &from_ms);
    if (req->to_time)
        cv_rfc3339_parse(req->to_time, strlen(req->to_time), &to_ms);
    snprintf(pbuf, sizeof(pbuf), "%d", req->partition);
    res = cv_pg_exec(pg,
                     "SELECT topic, partition, next_offset FROM "
                     "conveyor.consumer_offsets WHERE group_id = $1 AND "
                     "($2::text IS NULL OR topic = $2) AND ($3::int < 0 OR "
                     "partition = $3) ORDER BY 1, 2",
                     3, (const char *[]){req->group, req->topic, pbuf}, &err);
    if (!res)
        return cv_err(errstr, errstr_size, "replay: %s", err.message);
    if (PQntuples(res) == 0) {
        PQclear(res);
        cv_err(errstr, errstr_size,
               "group '%s' has no stored offsets there (has it ever run?)",
               req->group);
        return CV_REPLAY_BAD;
    }
    plan->ranges = cv_calloc((size_t)PQntuples(res), sizeof(*plan->ranges));
    for (int i = 0; i < PQntuples(res); i++) {
        struct cv_replay_range *r = &plan->ranges[plan->nranges++];
        int64_t n, got;

        snprintf(r->topic, sizeof(r->topic), "%s", PQgetvalue(res, i, 0));
        r->partition = atoi(PQgetvalue(res, i, 1));
        r->stored = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (cv_kafka_watermarks(rk, r->topic, r->partition, &r->low, &r->high,
                                10000, errstr, errstr_size) != CV_OK)
            goto out;
        r->from =
            req->from_time ? offset_for_time(rk, r, from_ms) : req->from_offset;
        r->to = req->to_time ? offset_for_time(rk, r, to_ms) : r->stored;
        if (r->from < 0 || r->to < 0) {
            cv_err(errstr, errstr_size,
                   "%s [%d]: cannot read message timestamps", r->topic,
                   (int)r->partition);
            goto out;
        }
        if (r->from < r->low)
            r->from = r->low;
        if (r->to > r->stored)
            r->to = r->stored;
        n = r->from < r->to ? r->to - r->from : 0;
        if (n == 0)
            continue;
        /* read in a dry run too: the plan shows what will run */
        got = collect_ids(rk, r, ids, r);
        for (size_t k = 0; k < r->ntypes; k++)
            count_add(&plan->all, &plan->nall, &plan->all_cap, r->types[k].type,
                      strlen(r->types[k].type), r->types[k].n);
        if (got < 0) {
            cv_err(errstr, errstr_size, "could not read %s [%d] %lld..%lld",
                   r->topic, (int)r->partition, (long long)r->from,
                   (long long)r->to - 1);
            goto out;
        }
        plan->total += n;
        plan->nreplayed++;
    }
    rc = CV_OK;
out:
    PQclear(res);
    return rc;
}

/* The rewind, in one transaction; CV_OK, CV_REPLAY_RACE or CV_ERR. */
static int apply(struct cv_pg *pg, const struct cv_replay_req *req,
                 struct cv_replay_plan *plan, const char *ids, char *errstr,
                 size_t errstr_size)
{
    struct cv_pg_array ts = {0}, ps = {0}, ex = {0}, fs = {0};
    struct cv_pg_error err;
    PGresult *res = NULL;
    json_t *args;
    char *text;
    int rc = CV_ERR;

    for (size_t i = 0; i < plan->nranges; i++) {
        const struct cv_replay_range *r = &plan->ranges[i];
        char num[24];
        if (r->from >= r->to)
            continue;
        cv_pg_array_add(&ts, r->topic);
        snprintf(num, sizeof(num), "%d", (int)r->partition);
        cv_pg_array_add(&ps, num);
        snprintf(num, sizeof(num), "%lld", (long long)r->stored);
        cv_pg_array_add(&ex, num);
        snprintf(num, sizeof(num), "%lld", (long long)r->from);
        cv_pg_array_add(&fs, num);
    }
    args =
        json_pack("{s:s, s:s?, s:o, s:s?, s:I}", "group", req->group,
                  "from_time", req->from_time, "from_offset",
                  req->from_time ? json_null() : json_integer(req->from_offset),
                  "to_time", req->to_time, "events", (json_int_t)plan->total);
    text = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    /* All or nothing. Consumers only move offsets forward, so a stored
     * offset below the planned one means another replay rewound it
     * meanwhile: then nothing changes and the caller re-plans. */
    if (cv_pg_command(pg, "BEGIN", 0, NULL, &err) != CV_OK) {
        cv_err(errstr, errstr_size, "replay: %s", err.message);
        goto out;
    }
    res = cv_pg_exec_planned(pg, REWIND_SQL, 9,
                             (const char *[]){req->group, ts.buf, ps.buf,
                                              ex.buf, fs.buf, ids ? ids : "{}",
                                              req->actor, text, req->reason},
                             &err);
    if (!res) {
        cv_err(errstr, errstr_size, "replay: %s", err.message);
        cv_pg_command(pg, "ROLLBACK", 0, NULL, &err);
        goto out;
    }
    if ((size_t)atoll(PQgetvalue(res, 0, 0)) != plan->nreplayed) {
        cv_pg_command(pg, "ROLLBACK", 0, NULL, &err);
        cv_err(errstr, errstr_size,
               "a stored offset went back while planning (another "
               "replay?); nothing changed, run it again");
        rc = CV_REPLAY_RACE;
        goto out;
    }
    if (cv_pg_command(pg, "COMMIT", 0, NULL, &err) != CV_OK) {
        cv_err(errstr, errstr_size, "replay: commit: %s", err.message);
        goto out;
    }
    plan->applied = 1;
    plan->forgotten = atoll(PQgetvalue(res, 0, 1));
    rc = CV_OK;
out:
    PQclear(res);
    free(text);
    cv_pg_array_free(&ts);
    cv_pg_array_free(&ps);
    cv_pg_array_free(&ex);
    cv_pg_array_free(&fs);
    return rc;
}

int cv_replay(const struct cv_config *cfg, const struct cv_topology *topo,
              struct cv_pg *pg, const struct cv_replay_req *req,
              struct cv_replay_plan *plan, char *errstr, size_t errstr_size)
{
    struct cv_pg_array ids = {0};
    rd_kafka_t *rk = NULL;
    int rc;

    memset(plan, 0, sizeof(*plan));
    if (cv_replay_check(topo, req, &plan->domain, errstr, errstr_size) != CV_OK)
        return CV_REPLAY_BAD;
    rk = cv_kafka_consumer_new(cfg, "conveyor.replay-reader", NULL, errstr,
                               errstr_size);
    if (!rk)
        return CV_ERR;
    rc = plan_ranges(rk, pg, req, plan, &ids, errstr, errstr_size);
    if (rc == CV_OK && !req->dry_run && plan->nreplayed)
        rc = apply(pg, req, plan, ids.buf, errstr, errstr_size);
    cv_pg_array_free(&ids);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
