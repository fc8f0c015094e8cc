/*
 * observe.c - the observer thread: lag, backlog, switches, schedules,
 * readiness, and the offset mirror to Kafka (see observe.h).
 *
 * A round builds a fresh snapshot without holding the lock, then swaps it
 * in; readers (scrapes, probes, the API) format the snapshot under the
 * lock. Postgres and the broker are asked once per round whatever the
 * number of readers. A failing Postgres or broker marks the snapshot
 * (postgres_up, kafka_up) and the round goes on with what it has.
 * observe_render.c formats the snapshot for /metrics and /readyz.
 */
#include "observe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "effect_store.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "observe_int.h"
#include "migrate.h"
#include "ops.h"
#include "pg.h"
#include "schedule.h"
#include "target.h"

#define OBSERVE_KV   "component=observer"
#define MEMBERS_MAX  256
#define HEAD_WAIT_MS 1000
#define WATERMARK_MS 2000

/* ---- the registered consumers (global: consume.c knows no observer) */

struct member {
    rd_kafka_t *rk;
    char group[128];
};

static pthread_mutex_t members_lock = PTHREAD_MUTEX_INITIALIZER;
static struct member members[MEMBERS_MAX];
static int nmembers;

void cv_observe_consumer_add(rd_kafka_t *rk, const char *group)
{
    pthread_mutex_lock(&members_lock);
    if (nmembers < MEMBERS_MAX) {
        members[nmembers].rk = rk;
        snprintf(members[nmembers].group, sizeof(members[nmembers].group), "%s",
                 group);
        nmembers++;
    }
    pthread_mutex_unlock(&members_lock);
}

int cv_observe_consumes(const char *group)
{
    int yes = 0;

    pthread_mutex_lock(&members_lock);
    for (int i = 0; i < nmembers && !yes; i++)
        yes = strcmp(members[i].group, group) == 0;
    pthread_mutex_unlock(&members_lock);
    return yes;
}

int cv_observe_joined(int *registered)
{
    int joined = 0;

    pthread_mutex_lock(&members_lock);
    *registered = nmembers;
    for (int i = 0; i < nmembers; i++) {
        char *id = rd_kafka_memberid(members[i].rk);
        joined += id && *id;
        if (id)
            rd_kafka_mem_free(members[i].rk, id);
    }
    pthread_mutex_unlock(&members_lock);
    return joined;
}

void cv_observe_consumer_remove(rd_kafka_t *rk)
{
    pthread_mutex_lock(&members_lock);
    for (int i = 0; i < nmembers; i++)
        if (members[i].rk == rk) {
            members[i] = members[--nmembers];
            break;
        }
    pthread_mutex_unlock(&members_lock);
}

static void snapshot_free(struct snapshot *s)
{
    if (!s)
        return;
    free(s->dead_open);
    free(s->retries);
    free(s->switch_scope);
    free(s->switch_target);
    free(s->scheds);
    free(s->parts);
    free(s);
}

static struct memo *memo_get(struct cv_observer *o,
                             const struct cv_observed_part *p)
{
    for (size_t i = 0; i < o->nmemo; i++)
        if (o->memo[i].partition == p->partition &&
            strcmp(o->memo[i].topic, p->topic) == 0 &&
            strcmp(o->memo[i].group, p->group) == 0)
            return &o->memo[i];
    if (o->nmemo == o->memo_cap) {
        o->memo_cap = o->memo_cap ? 2 * o->memo_cap : 64;
        o->memo = cv_realloc(o->memo, o->memo_cap * sizeof(*o->memo));
    }
    memset(&o->memo[o->nmemo], 0, sizeof(*o->memo));
    snprintf(o->memo[o->nmemo].group, sizeof(o->memo->group), "%s", p->group);
    snprintf(o->memo[o->nmemo].topic, sizeof(o->memo->topic), "%s", p->topic);
    o->memo[o->nmemo].partition = p->partition;
    o->memo[o->nmemo].head_offset = -1;
    o->memo[o->nmemo].mirrored = -1;
    return &o->memo[o->nmemo++];
}

static int domain_index(const struct cv_topology *t, const char *group)
{
    for (size_t i = 0; i < t->ndomains; i++)
        if (strcmp(t->domains[i].group_id, group) == 0)
            return (int)i;
    return -1;
}

/* ---- one round */

static void pg_lost(struct cv_observer *o, struct snapshot *s, const char *m)
{
    s->pg_up = 0;
    snprintf(s->pg_error, sizeof(s->pg_error), "%s", m);
    cv_pg_destroy(o->pg);
    o->pg = NULL;
}

/*
 * Per schedule of the topology, in its order: the latest fire time that
 * ran, and the ticker's cursor (the latest one recorded, not manual, or
 * when the schedule was first seen). Index look-ups per schedule, not the
 * whole history `conveyor schedules` counts: this runs every round.
 */
static PGresult *schedule_times(struct cv_observer *o, struct cv_pg_error *err)
{
    struct cv_pg_array names = {0};
    PGresult *res;

    for (size_t i = 0; i < o->topo->nschedules; i++)
        cv_pg_array_add(&names, o->topo->schedules[i].name);
    res = cv_pg_exec(
        o->pg,
        "SELECT (extract(epoch FROM (SELECT max(fire_time) FROM "
        "conveyor.schedule_runs r WHERE r.schedule = u.n AND kind <> "
        "'skipped')) * 1000)::bigint, (extract(epoch FROM greatest("
        "(SELECT first_seen FROM conveyor.schedules WHERE name = u.n), "
        "(SELECT max(fire_time) FROM conveyor.schedule_runs r WHERE "
        "r.schedule = u.n AND kind <> 'manual'))) * 1000)::bigint "
        "FROM unnest($1::text[]) WITH ORDINALITY AS u(n, k) ORDER BY k",
        1, (const char *[]){names.buf ? names.buf : "{}"}, err);
    cv_pg_array_free(&names);
    return res;
}

/* Everything Postgres knows; CV_ERR (pg_up = 0) if it did not answer. */
static int read_postgres(struct cv_observer *o, struct snapshot *s)
{
    const struct cv_topology *t = o->topo;
    struct cv_pg_error err;
    char errstr[512];
    PGresult *res;

    if (!o->pg) {
        o->pg =
            cv_pg_connect(o->cfg->pg_conninfo, "conveyor/observer",
                          o->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
        if (!o->pg) {
            pg_lost(o, s, errstr);
            return CV_ERR;
        }
    }
    {
        struct cv_pg_array names = {0};
        s->migrations_known = 0;
        for (const struct cv_migration *m = cv_migrations; m->name; m++) {
            cv_pg_array_add(&names, m->name);
            s->migrations_known++;
        }
        res =
            cv_pg_exec(o->pg,
                       "SELECT count(*)::int FROM conveyor.schema_migrations "
                       "WHERE version = ANY($1::text[])",
                       1, (const char *[]){names.buf ? names.buf : "{}"}, &err);
        cv_pg_array_free(&names);
        if (!res && err.sqlstate[0] && strcmp(err.sqlstate, "42P01") == 0) {
            s->migrations_applied = 0; /* never migrated */
        } else if (!res) {
            pg_lost(o, s, err.message);
            return CV_ERR;
        } else {
            s->migrations_applied = atoi(PQgetvalue(res, 0, 0));
            PQclear(res);
        }
    }
    s->pg_up = 1;
    if (s->migrations_applied < s->migrations_known)
        return CV_OK; /* the tables below may not exist yet */

    if (!(res = cv_ops_offsets(o->pg, NULL, &err)))
        goto fail;
    s->parts = cv_calloc((size_t)PQntuples(res) + 1, sizeof(*s->parts));
    for (int r = 0; r < PQntuples(res); r++) {
        struct cv_observed_part *p = &s->parts[s->nparts];
        if (domain_index(t, PQgetvalue(res, r, 0)) < 0)
            continue; /* a group of an older topology */
        snprintf(p->group, sizeof(p->group), "%s", PQgetvalue(res, r, 0));
        snprintf(p->topic, sizeof(p->topic), "%s", PQgetvalue(res, r, 1));
        p->partition = atoi(PQgetvalue(res, r, 2));
        p->stored = strtoll(PQgetvalue(res, r, 3), NULL, 10);
        p->low = p->high = p->lag = -1;
        p->lag_s = -1;
        s->nparts++;
    }
    PQclear(res);

    if (!(res = cv_ops_outbox(o->pg, &err)))
        goto fail;
    s->outbox_backlog = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    s->outbox_oldest_s = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);

    res = cv_pg_exec(o->pg,
                     "SELECT group_id, count(*) FILTER (WHERE src = 'd'), "
                     "count(*) FILTER (WHERE src = 'r') FROM ("
                     " SELECT group_id, 'd' AS src FROM conveyor.dead_letters"
                     "  WHERE status = 'open'"
                     " UNION ALL SELECT group_id, 'r' FROM conveyor.retries"
                     ") x GROUP BY 1",
                     0, NULL, &err);
    if (!res)
        goto fail;
    for (int r = 0; r < PQntuples(res); r++) {
        int d = domain_index(t, PQgetvalue(res, r, 0));
        if (d >= 0) {
            s->dead_open[d] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
            s->retries[d] = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        }
    }
    PQclear(res);

    if (!(res = cv_ops_switches(o->pg, NULL, NULL, &err)))
        goto fail;
    s->switch_scope = cv_calloc((size_t)PQntuples(res) + 1, 16);
    s->switch_target = cv_calloc((size_t)PQntuples(res) + 1, 256);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *scope = PQgetvalue(res, r, 0);
        const char *target = PQgetvalue(res, r, 1);
        snprintf(s->switch_scope[s->nswitches], 16, "%s", scope);
        snprintf(s->switch_target[s->nswitches], 256, "%s", target);
        s->nswitches++;
        for (size_t i = 0; i < t->nschedules; i++)
            if (strcmp(scope, "all") == 0 ||
                (strcmp(scope, "schedule") == 0 &&
                 strcmp(target, t->schedules[i].name) == 0))
                s->scheds[i].paused = 1;
    }
    PQclear(res);

    if (!(res = schedule_times(o, &err)))
        goto fail;
    for (size_t i = 0; i < t->nschedules && (int)i < PQntuples(res); i++) {
        const struct cv_topo_schedule *sc = &t->schedules[i];
        int64_t cursor = cv_clock_now_ms(&o->clock), next;

        if (!PQgetisnull(res, (int)i, 0))
            s->scheds[i].last_success_ms =
                strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        if (!PQgetisnull(res, (int)i, 1))
            cursor = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
        if (sc->cron && cv_schedule_next(sc, cursor, &next) == CV_OK)
            s->scheds[i].next_ms = next;
    }
    PQclear(res);

    /* the targets' open requests: every process reports what is stored */
    if (t->ntargets) {
        if (!(res = cv_effect_store_counts(o->pg, &err)))
            goto fail;
        for (size_t i = 0; i < t->ntargets; i++) {
            const struct cv_target *tg = &t->targets[i];
            int64_t v[3] = {0, 0, 0};
            for (int row = 0; row < PQntuples(res); row++)
                if (strcmp(PQgetvalue(res, row, 0), tg->name) == 0)
                    for (int k = 0; k < 3; k++)
                        v[k] = strtoll(PQgetvalue(res, row, k + 1), NULL, 10);
            cv_metrics_effect_target(tg->name, v[0], v[1], v[2],
                                     tg->concurrency);
        }
        PQclear(res);
    }
    return CV_OK;
fail:
    pg_lost(o, s, err.message);
    return CV_ERR;
}

/* High watermarks, and the timestamp of the event at each stored offset
 * that has events after it. */
static void read_kafka(struct cv_observer *o, struct snapshot *s)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    int64_t now = cv_wall_ms(), until;
    char errstr[512];
    int wanted = 0;

    if (!o->reader) {
        static const char *const overrides[] = {"max.partition.fetch.bytes",
                                                "65536",
                                                "fetch.wait.max.ms",
                                                "100",
                                                "queued.max.messages.kbytes",
                                                "4096",
                                                NULL};
        o->reader = cv_kafka_consumer_new(o->cfg, "conveyor.observer",
                                          overrides, errstr, sizeof(errstr));
        if (!o->reader) {
            CV_LOG(CV_LOG_WARN, OBSERVE_KV, "%s", errstr);
            return;
        }
    }
    s->kafka_up = 1;
    if (!s->nparts) {
        /* no stored offsets yet: ask the broker something else */
        const struct rd_kafka_metadata *md = NULL;
        s->kafka_up =
            rd_kafka_metadata(o->reader, 0, NULL, &md, WATERMARK_MS) ==
            RD_KAFKA_RESP_ERR_NO_ERROR;
        if (md)
            rd_kafka_metadata_destroy(md);
        return;
    }
    for (size_t i = 0; i < s->nparts; i++) {
        struct cv_observed_part *p = &s->parts[i];
        if (cv_kafka_watermarks(o->reader, p->topic, p->partition, &p->low,
                                &p->high, WATERMARK_MS, errstr,
                                sizeof(errstr)) != CV_OK) {
            /* one timeout is enough to know: do not wait for each */
            s->kafka_up = 0;
            p->low = p->high = -1;
            break;
        }
        p->lag = p->high > p->stored ? p->high - p->stored : 0;
        if (p->lag == 0)
            p->lag_s = 0;
    }
    if (!s->kafka_up)
        return;
    list = rd_kafka_topic_partition_list_new((int)s->nparts + 1);
    for (size_t i = 0; i < s->nparts; i++) {
        struct cv_observed_part *p = &s->parts[i];
        struct memo *m;
        if (p->lag <= 0)
            continue;
        m = memo_get(o, p);
        if (m->head_offset == p->stored) {
            p->lag_s = (double)(now - m->head_ts) / 1000.0;
            continue;
        }
        /* one read per topic-partition, whichever group lags there */
        if (!rd_kafka_topic_partition_list_find(list, p->topic, p->partition)) {
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)
                ->offset = p->stored;
            wanted++;
        }
    }
    if (!wanted)
        goto out;
    rd_kafka_assign(o->reader, list);
    until = cv_mono_ms() + HEAD_WAIT_MS;
    while (wanted > 0 && cv_mono_ms() < until && !atomic_load(&o->stop)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(o->reader, 100);
        rd_kafka_topic_partition_t *want;
        const char *topic;

        if (!msg)
            continue;
        topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : NULL;
        want = topic && !msg->err ? rd_kafka_topic_partition_list_find(
                                        list, topic, msg->partition)
                                  : NULL;
        if (want && want->offset >= 0 && msg->offset >= want->offset) {
            int64_t ts = rd_kafka_message_timestamp(msg, NULL);
            for (size_t i = 0; i < s->nparts; i++) {
                struct cv_observed_part *p = &s->parts[i];
                struct memo *m;
                if (p->partition != msg->partition ||
                    strcmp(p->topic, topic) != 0 || p->stored != want->offset)
                    continue;
                m = memo_get(o, p);
                m->head_offset = p->stored;
                m->head_ts = ts;
                if (p->lag > 0 && ts > 0)
                    p->lag_s = (double)(now - ts) / 1000.0;
            }
            want->offset = -1; /* done */
            wanted--;
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_assign(o->reader, NULL);
out:
    rd_kafka_topic_partition_list_destroy(list);
}

/* 1 if topic [partition] is in the assignment list. */
static int owns(const rd_kafka_topic_partition_list_t *assigned,
                const char *topic, int32_t partition)
{
    for (int i = 0; assigned && i < assigned->cnt; i++)
        if (assigned->elems[i].partition == partition &&
            strcmp(assigned->elems[i].topic, topic) == 0)
            return 1;
    return 0;
}

/*
 * Commits the stored offsets that moved to Kafka, each through the member
 * that owns the partition now (async; the result is not waited for nor
 * read back). Only a partition's owner commits it: a member committing
 * for partitions it does not own, while its group rebalances, gets
 * ILLEGAL_GENERATION, which makes librdkafka rejoin, which restarts the
 * rebalance: every 2 s, for ever.
 */
static void mirror(struct cv_observer *o, const struct snapshot *s)
{
    pthread_mutex_lock(&members_lock);
    for (int k = 0; k < nmembers; k++) {
        rd_kafka_topic_partition_list_t *list = NULL, *assigned = NULL;

        if (rd_kafka_assignment(members[k].rk, &assigned) || !assigned ||
            !assigned->cnt) {
            if (assigned)
                rd_kafka_topic_partition_list_destroy(assigned);
            continue;
        }
        for (size_t i = 0; i < s->nparts; i++) {
            const struct cv_observed_part *p = &s->parts[i];
            struct memo *m;
            if (strcmp(p->group, members[k].group) != 0 ||
                !owns(assigned, p->topic, p->partition))
                continue;
            m = memo_get(o, p);
            if (m->mirrored == p->stored)
                continue;
            if (!list)
                list = rd_kafka_topic_partition_list_new(16);
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)
                ->offset = p->stored;
            m->mirrored = p->stored;
        }
        rd_kafka_topic_partition_list_destroy(assigned);
        if (list) {
            rd_kafka_resp_err_t err = rd_kafka_commit(members[k].rk, list, 1);
            if (err)
                CV_LOG(CV_LOG_DEBUG, OBSERVE_KV, "mirroring offsets of %s: %s",
                       members[k].group, rd_kafka_err2str(err));
            rd_kafka_topic_partition_list_destroy(list);
        }
    }
    pthread_mutex_unlock(&members_lock);
}

static void round_once(struct cv_observer *o)
{
    struct snapshot *s = cv_calloc(1, sizeof(*s)), *old;

    s->dead_open = cv_calloc(o->topo->ndomains + 1, sizeof(*s->dead_open));
    s->retries = cv_calloc(o->topo->ndomains + 1, sizeof(*s->retries));
    s->scheds = cv_calloc(o->topo->nschedules + 1, sizeof(*s->scheds));
    pthread_mutex_lock(&o->lock);
    s->kafka_up = o->snap ? o->snap->kafka_up : 0;
    pthread_mutex_unlock(&o->lock);
    if (read_postgres(o, s) == CV_OK) {
        read_kafka(o, s);
        mirror(o, s);
    }
    s->collected_ms = cv_wall_ms();
    pthread_mutex_lock(&o->lock);
    old = o->snap;
    o->snap = s;
    pthread_mutex_unlock(&o->lock);
    snapshot_free(old);
}

static void *observer_main(void *arg)
{
    struct cv_observer *o = arg;

    while (!atomic_load(&o->stop)) {
        int64_t next = cv_mono_ms() + CV_OBSERVE_INTERVAL_MS;
        round_once(o);
        while (!atomic_load(&o->stop) && cv_mono_ms() < next) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

struct cv_observer *cv_observer_start(const struct cv_config *cfg,
                                      const struct cv_topology *topo,
                                      const struct cv_ticker *ticker,
                                      int consumers)
{
    struct cv_observer *o = cv_calloc(1, sizeof(*o));
    char errstr[256];

    o->cfg = cfg;
    o->topo = topo;
    o->ticker = ticker;
    o->consumers = consumers;
    if (cv_clock_parse(cfg->ticker_clock, &o->clock, errstr, sizeof(errstr)) !=
        CV_OK)
        cv_clock_parse("system", &o->clock, errstr, sizeof(errstr));
    pthread_mutex_init(&o->lock, NULL);
    if (pthread_create(&o->thread, NULL, observer_main, o) == 0)
        o->started = 1;
    return o;
}

void cv_observer_stop(struct cv_observer *o)
{
    if (!o)
        return;
    atomic_store(&o->stop, 1);
    if (o->started)
        pthread_join(o->thread, NULL);
    if (o->reader) {
        rd_kafka_consumer_close(o->reader);
        rd_kafka_destroy(o->reader);
    }
    cv_pg_destroy(o->pg);
    snapshot_free(o->snap);
    free(o->memo);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

size_t cv_observer_parts(struct cv_observer *o, struct cv_observed_part *out,
                         size_t max, int64_t *collected_ms)
{
    size_t n = 0;

    pthread_mutex_lock(&o->lock);
    *collected_ms = o->snap ? o->snap->collected_ms : 0;
    if (o->snap) {
        n = o->snap->nparts;
        memcpy(out, o->snap->parts, (n < max ? n : max) * sizeof(*out));
    }
    pthread_mutex_unlock(&o->lock);
    return n;
}
