/*
 * outbox.c - the relay: conveyor.outbox -> Kafka, in order, at least once.
 *
 * Round: SELECT the oldest unpublished rows (binary results: keys and values
 * are raw bytes), produce them all, wait for every delivery report, then
 * mark published the longest prefix that was delivered. Stopping at the
 * first failure keeps the order per key: what follows it is sent again next
 * round (a re-sent row carries its original ce_id, so it is deduplicated
 * downstream).
 *
 * Leadership is a session advisory lock: if the leader's session dies, the
 * lock goes with it and a standby takes over on its next attempt.
 *
 * The leader also prunes, at start and every minute: inbox rows older than
 * consumer.inbox_retention_hours (the dedupe window, DESIGN.md I-4) and
 * published outbox rows older than outbox.retention_hours, in batches of
 * PRUNE_BATCH rows so that no transaction holds many locks for long.
 */
#include "outbox.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "kafka.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "stats.h"

#define RELAY_LOCK_KEY "7318204117"
#define RELAY_KV       "component=relay"
#define PRUNE_BATCH    "10000"
#define PRUNE_EVERY_MS 60000

struct cv_relay {
    const struct cv_config *cfg;
    rd_kafka_t *rk;
    struct cv_pg *pg;
    int leader;
    int64_t next_prune;          /* monotonic ms */
    rd_kafka_resp_err_t *status; /* per row of the round */
    size_t status_cap;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct cv_relay *r = opaque;
    (void)rk;
    size_t i = (size_t)(uintptr_t)msg->_private;
    if (i < r->status_cap)
        r->status[i] = msg->err;
}

struct cv_relay *cv_relay_new(const struct cv_config *cfg, char *errstr,
                              size_t errstr_size)
{
    static const char *const overrides[] = {"enable.idempotence", "true",
                                            "linger.ms", "5", NULL};
    struct cv_relay *r = cv_calloc(1, sizeof(*r));
    rd_kafka_conf_t *conf;

    r->cfg = cfg;
    conf =
        cv_kafka_producer_conf_new(cfg, NULL, overrides, errstr, errstr_size);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, r);
    r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!r->rk) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    return r;
fail:
    cv_relay_destroy(r);
    return NULL;
}

void cv_relay_destroy(struct cv_relay *r)
{
    if (!r)
        return;
    if (r->rk) {
        rd_kafka_flush(r->rk, 5000);
        rd_kafka_destroy(r->rk);
    }
    cv_pg_destroy(r->pg);
    free(r->status);
    free(r);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void disconnect(struct cv_relay *r)
{
    cv_pg_destroy(r->pg);
    r->pg = NULL;
    if (r->leader)
        CV_LOG(CV_LOG_WARN, RELAY_KV,
               "lost the Postgres session; "
               "no longer leading");
    r->leader = 0;
}

/* Connects, LISTENs and tries to become the leader. */
static int ensure_leader(struct cv_relay *r)
{
    struct cv_pg_error err;
    char errstr[512];
    PGresult *res;

    if (r->pg && r->leader)
        return CV_OK;
    if (!r->pg) {
        r->pg =
            cv_pg_connect(r->cfg->pg_conninfo, "conveyor/relay",
                          r->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
        if (!r->pg) {
            CV_LOG(CV_LOG_WARN, RELAY_KV, "%s", errstr);
            return CV_ERR;
        }
        res = PQexec(cv_pg_conn(r->pg), "LISTEN conveyor_outbox");
        PQclear(res);
    }
    res = cv_pg_exec(r->pg, "SELECT pg_try_advisory_lock($1::bigint)", 1,
                     (const char *[]){RELAY_LOCK_KEY}, &err);
    if (!res) {
        CV_LOG(CV_LOG_WARN, RELAY_KV, "leader lock: %s", err.message);
        disconnect(r);
        return CV_ERR;
    }
    r->leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (r->leader)
        CV_LOG(CV_LOG_INFO, RELAY_KV, "leading the outbox relay (%s)",
               cv_pg_describe(r->pg));
    return r->leader ? CV_OK : CV_ERR;
}

static int64_t be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (unsigned char)p[i];
    return (int64_t)v;
}

static void copy_text(char *dst, size_t size, PGresult *res, int row, int col)
{
    size_t n =
        PQgetisnull(res, row, col) ? 0 : (size_t)PQgetlength(res, row, col);
    if (n >= size)
        n = size - 1;
    memcpy(dst, PQgetvalue(res, row, col), n);
    dst[n] = '\0';
}

/* One round; returns the number of rows published, or -1 on error. */
static int relay_round(struct cv_relay *r)
{
    char limit[16];
    const char *params[1] = {limit};
    PGresult *res;
    int n, done = 0;
    struct cv_pg_array ids = {0};
    int64_t now_ms;

    snprintf(limit, sizeof(limit), "%d", r->cfg->outbox_batch_size);
    res = PQexecParams(cv_pg_conn(r->pg),
                       "SELECT id, topic, key, value, event_id, event_type, "
                       "source, event_time, tenant, traceparent, "
                       "headers::text, "
                       "(extract(epoch FROM created_at) * 1000)::bigint "
                       "FROM conveyor.outbox WHERE published_at IS NULL "
                       "ORDER BY id LIMIT $1",
                       1, NULL, params, NULL, NULL, 1);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        CV_LOG(CV_LOG_WARN, RELAY_KV, "reading the outbox: %s",
               res ? PQresultErrorMessage(res)
                   : PQerrorMessage(cv_pg_conn(r->pg)));
        PQclear(res);
        return -1;
    }
    n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    if ((size_t)n > r->status_cap) {
        r->status_cap = (size_t)n;
        r->status = cv_realloc(r->status, r->status_cap * sizeof(*r->status));
    }
    for (int i = 0; i < n; i++) {
        struct cv_ce ce;
        char topic[256];
        rd_kafka_headers_t *hdrs;
        rd_kafka_resp_err_t err;

        memset(&ce, 0, sizeof(ce));
        strcpy(ce.specversion, "1.0");
        copy_text(topic, sizeof(topic), res, i, 1);
        copy_text(ce.id, sizeof(ce.id), res, i, 4);
        copy_text(ce.type, sizeof(ce.type), res, i, 5);
        copy_text(ce.source, sizeof(ce.source), res, i, 6);
        ce.time_ms = be64(PQgetvalue(res, i, 7));
        copy_text(ce.tenant, sizeof(ce.tenant), res, i, 8);
        copy_text(ce.traceparent, sizeof(ce.traceparent), res, i, 9);
        hdrs = PQgetisnull(res, i, 10)
                   ? cv_ce_headers_new(&ce)
                   : cv_headers_from_json(PQgetvalue(res, i, 10),
                                          (size_t)PQgetlength(res, i, 10));
        r->status[i] = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        do {
            err = rd_kafka_producev(
                r->rk, RD_KAFKA_V_TOPIC(topic),
                /* parenthesised: the macro casts its argument */
                RD_KAFKA_V_KEY(
                    (PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2)),
                    (size_t)PQgetlength(res, i, 2)),
                RD_KAFKA_V_VALUE(PQgetvalue(res, i, 3),
                                 (size_t)PQgetlength(res, i, 3)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(r->rk, 50);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (err) {
            rd_kafka_headers_destroy(hdrs);
            r->status[i] = err;
            CV_LOG(CV_LOG_WARN, RELAY_KV, "produce to %s: %s", topic,
                   rd_kafka_err2str(err));
            n = i + 1; /* nothing after it this round */
            break;
        }
    }
    rd_kafka_flush(r->rk, 30000);
    /* the delivered prefix */
    now_ms = cv_wall_ms();
    for (int i = 0; i < n; i++) {
        char id[24];
        if (r->status[i] != RD_KAFKA_RESP_ERR_NO_ERROR) {
            CV_LOG(CV_LOG_WARN, RELAY_KV,
                   "delivery failed (%s); rows from id %lld on are sent "
                   "again next round",
                   rd_kafka_err2str(r->status[i]),
                   (long long)be64(PQgetvalue(res, i, 0)));
            break;
        }
        snprintf(id, sizeof(id), "%lld",
                 (long long)be64(PQgetvalue(res, i, 0)));
        cv_pg_array_add(&ids, id);
        cv_metrics_outbox_published(
            (double)(now_ms - be64(PQgetvalue(res, i, 11))) / 1000.0);
        done++;
    }
    PQclear(res);
    if (done) {
        struct cv_pg_error err;
        PGresult *marked;
        if (!(marked = cv_pg_exec_planned(
                  r->pg,
                  "UPDATE conveyor.outbox o SET published_at = now() "
                  "FROM unnest($1::bigint[]) AS u(id) WHERE o.id = u.id",
                  1, (const char *[]){ids.buf}, &err))) {
            CV_LOG(CV_LOG_WARN, RELAY_KV, "marking rows published: %s",
                   err.message);
            cv_pg_array_free(&ids);
            return -1;
        }
        PQclear(marked);
        atomic_fetch_add(&cv_stats.published, (uint_fast64_t)done);
        CV_LOG(CV_LOG_DEBUG, RELAY_KV, "published %d outbox rows", done);
    }
    cv_pg_array_free(&ids);
    return done < n ? -1 : done;
}

/* Deletes old rows in batches; returns the count, or -1 on error. */
static long prune_table(struct cv_relay *r, const char *sql, int hours)
{
    char h[16];
    long total = 0, n;
    struct cv_pg_error err;

    snprintf(h, sizeof(h), "%d", hours);
    do {
        PGresult *res = cv_pg_exec_planned(
            r->pg, sql, 2, (const char *[]){h, PRUNE_BATCH}, &err);
        if (!res) {
            CV_LOG(CV_LOG_WARN, RELAY_KV, "pruning: %s", err.message);
            return -1;
        }
        n = atol(PQcmdTuples(res));
        PQclear(res);
        total += n;
    } while (n == atol(PRUNE_BATCH));
    return total;
}

static void prune(struct cv_relay *r)
{
    long inbox, outbox, effects;

    r->next_prune = cv_mono_ms() + PRUNE_EVERY_MS;
    inbox = prune_table(r,
                        "DELETE FROM conveyor.inbox WHERE ctid = ANY(ARRAY("
                        "SELECT ctid FROM conveyor.inbox WHERE processed_at "
                        "< now() - make_interval(hours => $1::int) "
                        "LIMIT $2::int))",
                        r->cfg->inbox_retention_hours);
    outbox = prune_table(r,
                         "DELETE FROM conveyor.outbox WHERE ctid = ANY(ARRAY("
                         "SELECT ctid FROM conveyor.outbox WHERE published_at "
                         "< now() - make_interval(hours => $1::int) "
                         "ORDER BY id LIMIT $2::int))",
                         r->cfg->outbox_retention_hours);
    /* finished calls are kept as long as the inbox dedupes (a replay
     * within that window finds its request and asks nothing twice);
     * failed ones stay until an operator retries or cancels them */
    effects = prune_table(r,
                          "DELETE FROM conveyor.effects WHERE ctid = ANY(ARRAY("
                          "SELECT ctid FROM conveyor.effects WHERE state IN "
                          "('done', 'cancelled') AND finished_at < now() - "
                          "make_interval(hours => $1::int) LIMIT $2::int))",
                          r->cfg->inbox_retention_hours);
    if (inbox > 0 || outbox > 0 || effects > 0)
        CV_LOG(CV_LOG_INFO, RELAY_KV,
               "pruned %ld inbox rows and %ld finished calls older than "
               "%dh, and %ld published outbox rows older than %dh",
               inbox, effects, r->cfg->inbox_retention_hours, outbox,
               r->cfg->outbox_retention_hours);
}

/* Waits for a NOTIFY or the poll interval, whichever comes first. */
static void wait_notify(struct cv_relay *r, atomic_int *stop)
{
    PGconn *conn = cv_pg_conn(r->pg);
    int64_t until = cv_mono_ms() + r->cfg->outbox_poll_ms;
    PGnotify *note;

    while (!atomic_load(stop)) {
        int64_t left = until - cv_mono_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
        if (poll(&pfd, 1, left > 200 ? 200 : (int)left) > 0) {
            if (!PQconsumeInput(conn))
                return;
            int got = 0;
            while ((note = PQnotifies(conn)) != NULL) {
                PQfreemem(note);
                got = 1;
            }
            if (got)
                return;
        }
        rd_kafka_poll(r->rk, 0);
        cv_health_beat(r, "relay", "outbox", 35000);
    }
}

int cv_relay_run(struct cv_relay *r, atomic_int *stop)
{
    int64_t backoff = 200;

    CV_LOG(CV_LOG_INFO, RELAY_KV, "relay started");
    while (!atomic_load(stop)) {
        /* a round may wait out a flush (30 s) or a backoff (5 s) */
        cv_health_beat(r, "relay", "outbox", 35000);
        if (ensure_leader(r) != CV_OK) {
            sleep_ms(r->pg ? 1000 : backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            continue;
        }
        backoff = 200;
        if (cv_mono_ms() >= r->next_prune)
            prune(r);
        int got = relay_round(r);
        if (got < 0) {
            if (!cv_pg_ok(r->pg))
                disconnect(r);
            sleep_ms(500);
        } else if (got < r->cfg->outbox_batch_size) {
            wait_notify(r, stop);
        }
    }
    CV_LOG(CV_LOG_INFO, RELAY_KV, "relay stopped");
    return CV_OK;
}
