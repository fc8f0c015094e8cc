/*
 * ticker.c - the schedules' leader loop (see ticker.h).
 *
 * A tick: read the clock; for every schedule collect the fire times in
 * (cursor, now], classified by cv_schedule_due(); write them all in one
 * transaction: the heartbeat, one statement that inserts the runs and the
 * outbox rows of the runs it inserted, a NOTIFY for the relay. Then move the
 * cursors. A failed tick moves nothing and is simply done again.
 *
 * The cursors start, when this process becomes the leader, at each
 * schedule's latest recorded fire time (or when the schedule was first
 * seen), so a new leader continues exactly where the last one stopped and
 * fires everything it missed according to each schedule's catch-up policy.
 */
#include "ticker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "health.h"
#include "log.h"
#include "pg.h"
#include "schedule.h"

#define TICKER_LOCK_KEY "7318204118"
#define TICKER_KV       "component=ticker"
/* Fire times per transaction: keeps a long catch-up in short transactions. */
#define TICK_MAX_FIRES   2000
#define RECONNECT_MAX_MS 5000

struct cv_ticker {
    const struct cv_config *cfg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    struct cv_clock clock;
    struct cv_pg *pg;
    int leader;
    int force_lead;  /* CONVEYOR_TICKER_FORCE_LEAD: test hook, no lock */
    char id[128];    /* host:pid, written into every run */
    int64_t *cursor; /* per schedule, ms; valid while leading */
    struct cv_schedule_stats *stats;
    struct cv_fire *fires; /* scratch for one schedule's due fires */
    int *paused;           /* per schedule: a pause switch is set */
};

static const char *arr_text(const struct cv_pg_array *a)
{
    return a->len ? a->buf : "{}";
}

static void sleep_ms(int64_t ms, atomic_int *stop)
{
    while (ms > 0 && !atomic_load(stop)) {
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

struct cv_ticker *cv_ticker_new(const struct cv_config *cfg,
                                const struct cv_topology *topo,
                                const struct cv_catalogue *cat, char *errstr,
                                size_t errstr_size)
{
    struct cv_ticker *t = cv_calloc(1, sizeof(*t));
    const char *force = getenv("CONVEYOR_TICKER_FORCE_LEAD");
    char host[64] = "localhost";

    t->cfg = cfg;
    t->topo = topo;
    t->cat = cat;
    if (cv_clock_parse(cfg->ticker_clock, &t->clock, errstr, errstr_size) !=
        CV_OK) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < topo->nschedules; i++)
        if (!topo->schedules[i].cron || !topo->schedules[i].tz) {
            cv_err(errstr, errstr_size, "ticker: schedule '%s' was not checked",
                   topo->schedules[i].name);
            free(t);
            return NULL;
        }
    t->force_lead = force && strcmp(force, "1") == 0;
    gethostname(host, sizeof(host) - 1);
    snprintf(t->id, sizeof(t->id), "%s:%d", host, (int)getpid());
    t->cursor = cv_calloc(topo->nschedules + 1, sizeof(*t->cursor));
    t->stats = cv_calloc(topo->nschedules + 1, sizeof(*t->stats));
    t->fires = cv_calloc(TICK_MAX_FIRES, sizeof(*t->fires));
    t->paused = cv_calloc(topo->nschedules + 1, sizeof(*t->paused));
    return t;
}

void cv_ticker_destroy(struct cv_ticker *t)
{
    if (!t)
        return;
    cv_pg_destroy(t->pg);
    free(t->cursor);
    free(t->stats);
    free(t->fires);
    free(t->paused);
    free(t);
}

const struct cv_schedule_stats *cv_ticker_stats(const struct cv_ticker *t,
                                                size_t i)
{
    return &t->stats[i];
}

static void disconnect(struct cv_ticker *t, const char *why)
{
    cv_pg_destroy(t->pg);
    t->pg = NULL;
    if (t->leader)
        CV_LOG(why ? CV_LOG_WARN : CV_LOG_INFO, TICKER_KV,
               "no longer leading: %s", why ? why : "stopping");
    t->leader = 0;
}

/* ---- becoming the leader ---- */

/*
 * Registers the schedules (first_seen bounds catch-up for a new one) and
 * loads each one's cursor: its latest recorded fire time, or first_seen.
 */
static int load_cursors(struct cv_ticker *t, struct cv_pg_error *err)
{
    struct cv_pg_array names = {0}, crons = {0}, zones = {0};
    char now[32];
    PGresult *res;
    int rc = CV_ERR;

    for (size_t i = 0; i < t->topo->nschedules; i++) {
        const struct cv_topo_schedule *s = &t->topo->schedules[i];
        cv_pg_array_add(&names, s->name);
        cv_pg_array_add(&crons, s->cron_expr);
        cv_pg_array_add(&zones, s->zone);
    }
    snprintf(now, sizeof(now), "%lld", (long long)cv_clock_now_ms(&t->clock));
    res = cv_pg_exec_planned(
        t->pg,
        "WITH reg AS ("
        "  INSERT INTO conveyor.schedules (name, first_seen, cron, zone)"
        "  SELECT n, to_timestamp($4::bigint / 1000.0), c, z"
        "    FROM unnest($1::text[], $2::text[], $3::text[]) AS u(n, c, z)"
        "  ON CONFLICT (name) DO UPDATE SET cron = excluded.cron,"
        "    zone = excluded.zone, updated_at = now()"
        "  WHERE (schedules.cron, schedules.zone) IS DISTINCT FROM"
        "        (excluded.cron, excluded.zone)"
        "  RETURNING name)"
        "SELECT u.n, (extract(epoch FROM greatest("
        "    coalesce(s.first_seen, to_timestamp($4::bigint / 1000.0)),"
        "    (SELECT max(r.fire_time) FROM conveyor.schedule_runs r"
        "      WHERE r.schedule = u.n AND r.kind <> 'manual'))) * 1000)::bigint"
        "  FROM unnest($1::text[]) AS u(n)"
        "  LEFT JOIN conveyor.schedules s ON s.name = u.n",
        4,
        (const char *[]){arr_text(&names), arr_text(&crons), arr_text(&zones),
                         now},
        err);
    if (res) {
        for (int r = 0; r < PQntuples(res); r++) {
            const struct cv_topo_schedule *s =
                cv_topology_schedule(t->topo, PQgetvalue(res, r, 0));
            if (s)
                t->cursor[s - t->topo->schedules] =
                    strtoll(PQgetvalue(res, r, 1), NULL, 10);
        }
        PQclear(res);
        rc = CV_OK;
    }
    cv_pg_array_free(&names);
    cv_pg_array_free(&crons);
    cv_pg_array_free(&zones);
    return rc;
}

static int heartbeat(struct cv_ticker *t, struct cv_pg_error *err)
{
    return cv_pg_command(
        t->pg,
        "INSERT INTO conveyor.ticker_leader (id, holder, backend_pid, "
        "heartbeat) VALUES (1, $1, pg_backend_pid(), now()) "
        "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, "
        "backend_pid = excluded.backend_pid, heartbeat = excluded.heartbeat",
        1, (const char *[]){t->id}, err);
}

/*
 * Not leading: if the leader's heartbeat is stale, its process is stopped
 * or hung while its session holds the lock; terminate that session so the
 * lock is released (and a zombie leader that wakes up finds its session
 * gone).
 */
static void replace_stale_leader(struct cv_ticker *t)
{
    struct cv_pg_error err;
    char timeout[16];
    PGresult *res;

    snprintf(timeout, sizeof(timeout), "%d", t->cfg->ticker_leader_timeout_ms);
    res = cv_pg_exec(
        t->pg,
        "SELECT holder, pg_terminate_backend(backend_pid) "
        "FROM conveyor.ticker_leader "
        "WHERE heartbeat < now() - $1::bigint * interval '1 millisecond' "
        "AND backend_pid <> pg_backend_pid() "
        "AND EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
        "AND pid = backend_pid AND granted)",
        1, (const char *[]){timeout}, &err);
    if (!res) {
        disconnect(t, err.message);
        return;
    }
    if (PQntuples(res) == 1)
        CV_LOG(CV_LOG_WARN, TICKER_KV,
               "leader %s silent for over %d ms: terminated its session "
               "(%s)",
               PQgetvalue(res, 0, 0), t->cfg->ticker_leader_timeout_ms,
               strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "done" : "failed");
    PQclear(res);
}

/* Connects and tries to lead. CV_OK when leading. */
static int ensure_leader(struct cv_ticker *t)
{
    struct cv_pg_error err;
    char errstr[512];
    PGresult *res;

    if (t->pg && t->leader)
        return CV_OK;
    if (!t->pg) {
        t->pg =
            cv_pg_connect(t->cfg->pg_conninfo, "conveyor/ticker",
                          t->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
        if (!t->pg) {
            CV_LOG(CV_LOG_WARN, TICKER_KV, "%s", errstr);
            return CV_ERR;
        }
    }
    if (!t->force_lead) {
        res = cv_pg_exec(t->pg, "SELECT pg_try_advisory_lock($1::bigint)", 1,
                         (const char *[]){TICKER_LOCK_KEY}, &err);
        if (!res) {
            disconnect(t, err.message);
            return CV_ERR;
        }
        t->leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!t->leader) {
            replace_stale_leader(t);
            return CV_ERR;
        }
    }
    t->leader = 1;
    if (heartbeat(t, &err) != CV_OK || load_cursors(t, &err) != CV_OK) {
        CV_LOG(CV_LOG_WARN, TICKER_KV, "taking the lead: %s", err.message);
        disconnect(t, err.message);
        return CV_ERR;
    }
    CV_LOG(CV_LOG_INFO, TICKER_KV,
           "leading the ticker: %zu schedules, clock %s (%s)",
           t->topo->nschedules, t->cfg->ticker_clock, cv_pg_describe(t->pg));
    return CV_OK;
}

/*
 * Reads the pause switches that concern schedules (conveyor pause --all or
 * --schedule NAME). A paused schedule's fire times are recorded as skipped
 * with the reason "paused". CV_ERR if the session is gone.
 */
static int load_pauses(struct cv_ticker *t)
{
    struct cv_pg_error err;
    PGresult *res;

    res = cv_pg_exec(t->pg,
                     "SELECT scope, target FROM conveyor.controls "
                     "WHERE scope IN ('all', 'schedule')",
                     0, NULL, &err);
    if (!res) {
        disconnect(t, err.message);
        return CV_ERR;
    }
    memset(t->paused, 0, t->topo->nschedules * sizeof(*t->paused));
    for (int r = 0; r < PQntuples(res); r++) {
        const char *scope = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < t->topo->nschedules; i++)
            if (strcmp(scope, "all") == 0 ||
                strcmp(PQgetvalue(res, r, 1), t->topo->schedules[i].name) == 0)
                t->paused[i] = 1;
    }
    PQclear(res);
    return CV_OK;
}

/* ---- one tick ---- */

/* The columns of one tick's fires. */
struct tick {
    struct cv_pg_array sched, fire, kind, reason, id, topic, key, value, type;
    size_t n;
    size_t *nfires; /* per schedule: fires in this tick */
    int64_t *last;  /* per schedule: the cursor after this tick */
};

static void tick_free(struct tick *k)
{
    struct cv_pg_array *cols[] = {&k->sched,  &k->fire,  &k->kind,
                                  &k->reason, &k->id,    &k->topic,
                                  &k->key,    &k->value, &k->type};
    for (size_t i = 0; i < CV_ARRAY_SIZE(cols); i++)
        cv_pg_array_free(cols[i]);
    free(k->nfires);
    free(k->last);
}

/* Appends one fire; CV_ERR if its event cannot be encoded (a topology that
 * passed its check cannot fail here, short of memory). */
static int tick_add(struct cv_ticker *t, struct tick *k,
                    const struct cv_topo_schedule *s, const struct cv_fire *f)
{
    const struct cv_topo_event *ev = cv_topology_event(t->topo, s->event_type);
    const struct cv_schema *sch = cv_catalogue_by_name(t->cat, ev->schema);
    char num[24], id[256], errstr[512];
    char *value = NULL;
    size_t len = 0;

    if (f->kind != CV_RUN_SKIPPED &&
        cv_schedule_encode(s, sch, f->fire_ms, f->kind, &value, &len, errstr,
                           sizeof(errstr)) != CV_OK) {
        CV_LOG(CV_LOG_ERROR, TICKER_KV, "schedule %s: %s", s->name, errstr);
        return CV_ERR;
    }
    cv_schedule_event_id(s->name, f->fire_ms, id, sizeof(id));
    snprintf(num, sizeof(num), "%lld", (long long)f->fire_ms);
    cv_pg_array_add(&k->sched, s->name);
    cv_pg_array_add(&k->fire, num);
    cv_pg_array_add(&k->kind, cv_run_kind_name(f->kind));
    cv_pg_array_add_nullable(&k->reason, f->reason);
    cv_pg_array_add(&k->id, id);
    cv_pg_array_add(&k->topic, ev->topic);
    cv_pg_array_add(&k->key, s->key);
    cv_pg_array_add_bytea(&k->value, value ? value : "", len);
    cv_pg_array_add(&k->type, ev->type);
    free(value);
    k->n++;
    return CV_OK;
}

/*
 * Inserts the runs; the outbox gets a row for each inserted run that is not
 * skipped. A run another ticker already recorded inserts nothing, so its
 * event is not written twice: this statement is I-7.
 */
static const char FIRE_SQL[] =
    "WITH want AS ("
    "  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],"
    "    $5::text[], $6::text[], $7::text[], $8::bytea[], $9::text[])"
    "    AS w(schedule, fire_ms, kind, reason, event_id, topic, key, value,"
    "         event_type)),"
    " ins AS ("
    "  INSERT INTO conveyor.schedule_runs (schedule, fire_time, kind, reason,"
    "    event_id, ticker)"
    "  SELECT schedule, to_timestamp(fire_ms / 1000.0), kind, reason,"
    "    CASE WHEN kind = 'skipped' THEN NULL ELSE event_id END, $10"
    "    FROM want ORDER BY schedule, fire_ms"
    "  ON CONFLICT (schedule, fire_time) WHERE kind <> 'manual' DO NOTHING"
    "  RETURNING schedule, fire_time, kind),"
    " pub AS ("
    "  INSERT INTO conveyor.outbox (topic, key, value, event_id, event_type,"
    "    source, event_time)"
    "  SELECT w.topic, convert_to(w.key, 'UTF8'), w.value, w.event_id,"
    "    w.event_type, 'conveyor/ticker', w.fire_ms"
    "    FROM want w JOIN ins ON ins.schedule = w.schedule"
    "     AND ins.fire_time = to_timestamp(w.fire_ms / 1000.0)"
    "   WHERE ins.kind <> 'skipped'"
    "   ORDER BY w.fire_ms, w.schedule"
    "  RETURNING 1)"
    "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM pub)";

struct tick_result {
    long inserted, published;
};

static void on_tick_rows(void *opaque, int tag, PGresult *res)
{
    struct tick_result *r = opaque;

    if (tag == 1 && PQntuples(res) == 1) {
        r->inserted = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        r->published = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    }
}

static int tick_commit(struct cv_ticker *t, struct tick *k,
                       struct tick_result *r, struct cv_pg_error *err)
{
    const char *params[10] = {arr_text(&k->sched), arr_text(&k->fire),
                              arr_text(&k->kind),  arr_text(&k->reason),
                              arr_text(&k->id),    arr_text(&k->topic),
                              arr_text(&k->key),   arr_text(&k->value),
                              arr_text(&k->type),  t->id};
    int rc;

    if (cv_pg_pipe_begin(t->pg) != CV_OK)
        goto lost;
    if (cv_pg_pipe_send(t->pg, 0, "BEGIN", 0, NULL, NULL, NULL) != CV_OK ||
        cv_pg_pipe_send(t->pg, 0,
                        "UPDATE conveyor.ticker_leader SET heartbeat = now(), "
                        "holder = $1, backend_pid = pg_backend_pid() "
                        "WHERE id = 1",
                        1, (const char *[]){t->id}, NULL, NULL) != CV_OK ||
        cv_pg_pipe_send_planned(t->pg, 1, FIRE_SQL, 10, params) != CV_OK ||
        cv_pg_pipe_send(t->pg, 0, "NOTIFY conveyor_outbox", 0, NULL, NULL,
                        NULL) != CV_OK ||
        cv_pg_pipe_send(t->pg, 0, "COMMIT", 0, NULL, NULL, NULL) != CV_OK)
        goto lost;
    rc = cv_pg_pipe_sync(t->pg, on_tick_rows, r, err);
    cv_pg_pipe_end(t->pg);
    return rc;

lost:
    snprintf(err->message, sizeof(err->message), "%s",
             PQerrorMessage(cv_pg_conn(t->pg)));
    err->sqlstate[0] = '\0';
    return CV_ERR;
}

static void account(struct cv_ticker *t, size_t si, const struct cv_fire *f,
                    int64_t now_ms)
{
    struct cv_schedule_stats *st = &t->stats[si];

    if (f->kind == CV_RUN_SKIPPED) {
        atomic_fetch_add(&st->skipped, 1);
        return;
    }
    atomic_store(&st->last_fire_ms, f->fire_ms);
    if (f->kind == CV_RUN_CATCH_UP) {
        atomic_fetch_add(&st->caught_up, 1);
    } else {
        atomic_fetch_add(&st->fired, 1);
        /* the leader looks every tick: more than two means it was held up
         * (a slow Postgres, a failover) though not long enough to catch up */
        if (now_ms - f->fire_ms > 2 * (int64_t)t->cfg->ticker_tick_ms)
            atomic_fetch_add(&st->late, 1);
        if (now_ms - f->fire_ms > atomic_load(&st->max_late_ms))
            atomic_store(&st->max_late_ms, now_ms - f->fire_ms);
    }
}

/*
 * One tick. Returns the real ms to sleep before the next (0 = more is due
 * right away), or -1 after losing the session.
 */
static int64_t tick(struct cv_ticker *t)
{
    const struct cv_topology *topo = t->topo;
    int64_t now = cv_clock_now_ms(&t->clock), soonest = INT64_MAX;
    struct tick k = {0};
    struct tick_result r = {0, 0};
    struct cv_pg_error err;
    int full = 0;

    if (load_pauses(t) != CV_OK)
        return -1;
    k.nfires = cv_calloc(topo->nschedules + 1, sizeof(*k.nfires));
    k.last = cv_calloc(topo->nschedules + 1, sizeof(*k.last));
    for (size_t i = 0; i < topo->nschedules; i++) {
        const struct cv_topo_schedule *s = &topo->schedules[i];
        size_t room = TICK_MAX_FIRES - k.n, n;

        k.last[i] = t->cursor[i];
        if (room == 0) {
            full = 1;
            continue;
        }
        n = cv_schedule_due(s, t->cursor[i], now, t->cfg->ticker_late_after_ms,
                            t->paused[i], t->fires, room);
        for (size_t j = 0; j < n; j++)
            if (tick_add(t, &k, s, &t->fires[j]) != CV_OK) {
                n = j;
                break;
            }
        k.nfires[i] = n;
        if (n)
            k.last[i] = t->fires[n - 1].fire_ms;
        if (n == room)
            full = 1;
    }
    if (k.n == 0) {
        if (heartbeat(t, &err) != CV_OK) {
            disconnect(t, err.message);
            tick_free(&k);
            return -1;
        }
    } else if (tick_commit(t, &k, &r, &err) != CV_OK) {
        CV_LOG(CV_LOG_WARN, TICKER_KV, "tick of %zu fire times failed: %s", k.n,
               err.message);
        if (err.sqlstate[0] == '\0' || !cv_pg_ok(t->pg) ||
            cv_pg_retriable(err.sqlstate))
            disconnect(t, err.message);
        tick_free(&k);
        return t->pg ? t->cfg->ticker_tick_ms : -1;
    }
    if (k.n && (size_t)r.inserted < k.n)
        CV_LOG(CV_LOG_INFO, TICKER_KV,
               "%zu of %zu fire times were already recorded (another "
               "ticker got there first)",
               k.n - (size_t)r.inserted, k.n);
    /* committed: account for the fires and move the cursors */
    for (size_t i = 0; i < topo->nschedules; i++) {
        const struct cv_topo_schedule *s = &topo->schedules[i];
        int64_t next;

        if (k.nfires[i]) {
            /* the same call as above: deterministic, so the same fires */
            size_t n = cv_schedule_due(s, t->cursor[i], now,
                                       t->cfg->ticker_late_after_ms,
                                       t->paused[i], t->fires, k.nfires[i]);
            for (size_t j = 0; j < n; j++) {
                account(t, i, &t->fires[j], now);
                if (t->fires[j].kind == CV_RUN_CATCH_UP)
                    CV_LOG(CV_LOG_DEBUG, TICKER_KV,
                           "schedule %s: catch-up fire %lld", s->name,
                           (long long)t->fires[j].fire_ms);
            }
        }
        t->cursor[i] = k.last[i];
        if (cv_schedule_next(s, t->cursor[i], &next) == CV_OK) {
            atomic_store(&t->stats[i].next_fire_ms, next);
            if (next < soonest)
                soonest = next;
        }
    }
    if (k.n)
        CV_LOG(CV_LOG_DEBUG, TICKER_KV,
               "tick: %zu fire times, %ld recorded, %ld events", k.n,
               r.inserted, r.published);
    tick_free(&k);
    if (full)
        return 0;
    return cv_clock_real_wait_ms(&t->clock, soonest, t->cfg->ticker_tick_ms);
}

int cv_ticker_run(struct cv_ticker *t, atomic_int *stop)
{
    int64_t backoff = t->cfg->ticker_tick_ms;

    if (t->topo->nschedules == 0) {
        CV_LOG(CV_LOG_INFO, TICKER_KV, "no schedules in the topology");
        while (!atomic_load(stop)) {
            cv_health_beat(t, "ticker", "schedules", 1000);
            sleep_ms(1000, stop);
        }
        return CV_OK;
    }
    while (!atomic_load(stop)) {
        int64_t wait;

        /* it sleeps up to a tick, or a reconnect backoff, between rounds */
        cv_health_beat(t, "ticker", "schedules",
                       t->cfg->ticker_tick_ms + RECONNECT_MAX_MS);

        if (ensure_leader(t) != CV_OK) {
            /* standby, or no database: try again (back off when down) */
            sleep_ms(t->pg ? t->cfg->ticker_tick_ms : backoff, stop);
            if (!t->pg)
                backoff = backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS
                                                         : backoff * 2;
            continue;
        }
        backoff = t->cfg->ticker_tick_ms;
        wait = tick(t);
        if (wait > 0)
            sleep_ms(wait, stop);
    }
    disconnect(t, NULL); /* a normal stop, not a lost lead */
    return CV_OK;
}

/* ---- manual runs ---- */

int cv_ticker_trigger(struct cv_pg *pg, const struct cv_topology *topo,
                      const struct cv_catalogue *cat,
                      const struct cv_topo_schedule *s, int64_t now_ms,
                      const char *actor, const char *reason,
                      char event_id[CV_TRIGGER_ID_MAX], char *errstr,
                      size_t errstr_size)
{
    const struct cv_topo_event *ev = cv_topology_event(topo, s->event_type);
    const struct cv_schema *sch =
        ev ? cv_catalogue_by_name(cat, ev->schema) : NULL;
    struct cv_pg_array value = {0};
    struct cv_pg_error err;
    char uuid[37], num[24], who[128];
    char *buf = NULL;
    size_t len = 0;
    PGresult *res;

    if (!sch)
        return cv_err(errstr, errstr_size, "schedule '%s': no event schema",
                      s->name);
    if (cv_schedule_encode(s, sch, now_ms, CV_RUN_MANUAL, &buf, &len, errstr,
                           errstr_size) != CV_OK)
        return CV_ERR;
    cv_uuid4(uuid);
    snprintf(event_id, CV_TRIGGER_ID_MAX, "%s@manual:%s", s->name, uuid);
    snprintf(num, sizeof(num), "%lld", (long long)now_ms);
    snprintf(who, sizeof(who), "conveyor trigger (pid %d)", (int)getpid());
    /* one element: the bytea hex literal without the array braces */
    cv_pg_array_add_bytea(&value, buf, len);
    free(buf);
    res = cv_pg_exec_planned(
        pg,
        "WITH run AS ("
        "  INSERT INTO conveyor.schedule_runs (schedule, fire_time, kind,"
        "    reason, event_id, actor, ticker)"
        "  VALUES ($1, to_timestamp($2::bigint / 1000.0), 'manual', $3, $4,"
        "    $5, $6) RETURNING id),"
        " pub AS ("
        "  INSERT INTO conveyor.outbox (topic, key, value, event_id,"
        "    event_type, source, event_time)"
        "  VALUES ($7, convert_to($8, 'UTF8'), ($9::bytea[])[1], $4, $10,"
        "    'conveyor/trigger', $2::bigint)),"
        " aud AS ("
        "  INSERT INTO conveyor.audit_log (actor, action, target, args, reason)"
        "  VALUES ($5, 'trigger', $1, jsonb_build_object('event_id', $4::text,"
        "    'fire_time', to_timestamp($2::bigint / 1000.0)), $3))"
        "SELECT id FROM run",
        10,
        (const char *[]){s->name, num, reason, event_id, actor, who, ev->topic,
                         s->key, value.buf, ev->type},
        &err);
    cv_pg_array_free(&value);
    if (!res)
        return cv_err(errstr, errstr_size, "trigger %s: %s", s->name,
                      err.message);
    PQclear(res);
    if (cv_pg_command(pg, "NOTIFY conveyor_outbox", 0, NULL, &err) != CV_OK)
        CV_LOG(CV_LOG_WARN, TICKER_KV, "NOTIFY: %s", err.message);
    return CV_OK;
}
