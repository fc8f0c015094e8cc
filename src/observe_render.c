/*
 * observe_render.c - the observer's snapshot as Prometheus exposition
 * (/metrics) and as the readiness answer (/readyz); see observe.h.
 * Readers hold the observer's lock while they format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "observe_int.h"
#include "paths.h"
#include "stats.h"
#include "ticker.h"

static void header(struct cv_buf *b, const char *name, const char *type,
                   const char *help)
{
    cv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_lag(struct cv_buf *b, const struct snapshot *s)
{
    char v[40];
    char *mine = cv_calloc(s->nparts + 1, 1);

    for (size_t i = 0; i < s->nparts; i++)
        mine[i] = (char)cv_observe_consumes(s->parts[i].group);
    header(b, "conveyor_consumer_lag_events", "gauge",
           "Events on the partition after the offset stored in Postgres "
           "(high watermark minus stored offset), for the groups this "
           "process consumes.");
    for (size_t i = 0; i < s->nparts; i++) {
        const struct cv_observed_part *p = &s->parts[i];
        if (!mine[i] || p->lag < 0)
            continue;
        cv_buf_puts(b, "conveyor_consumer_lag_events{group=\"");
        cv_buf_label(b, p->group);
        cv_buf_puts(b, "\",topic=\"");
        cv_buf_label(b, p->topic);
        cv_buf_printf(b, "\",partition=\"%d\"} %lld\n", (int)p->partition,
                      (long long)p->lag);
    }
    header(b, "conveyor_consumer_lag_seconds", "gauge",
           "Age of the oldest event not yet processed (the one at the "
           "stored offset), by its Kafka timestamp; 0 when caught up.");
    for (size_t i = 0; i < s->nparts; i++) {
        const struct cv_observed_part *p = &s->parts[i];
        if (!mine[i] || p->lag_s < 0)
            continue;
        cv_buf_puts(b, "conveyor_consumer_lag_seconds{group=\"");
        cv_buf_label(b, p->group);
        cv_buf_puts(b, "\",topic=\"");
        cv_buf_label(b, p->topic);
        snprintf(v, sizeof(v), "%.3f", p->lag_s < 0 ? 0 : p->lag_s);
        cv_buf_printf(b, "\",partition=\"%d\"} %s\n", (int)p->partition, v);
    }
    free(mine);
}

static void render_schedules(struct cv_observer *o, struct cv_buf *b,
                             const struct snapshot *s)
{
    const struct cv_topology *t = o->topo;
    static const char *const outcomes[] = {"on_time", "late", "caught_up",
                                           "skipped"};

    header(b, "conveyor_schedule_last_success_timestamp_seconds", "gauge",
           "When the schedule last fired (its latest fire time recorded in "
           "conveyor.schedule_runs, not skipped).");
    for (size_t i = 0; i < t->nschedules; i++)
        if (s->scheds[i].last_success_ms) {
            cv_buf_puts(b, "conveyor_schedule_last_success_timestamp_seconds"
                           "{schedule=\"");
            cv_buf_label(b, t->schedules[i].name);
            cv_buf_printf(b, "\"} %.3f\n",
                          (double)s->scheds[i].last_success_ms / 1000.0);
        }
    header(b, "conveyor_schedule_next_run_timestamp_seconds", "gauge",
           "The schedule's next fire time after the latest one recorded "
           "(in the past: overdue).");
    for (size_t i = 0; i < t->nschedules; i++)
        if (s->scheds[i].next_ms) {
            cv_buf_puts(b, "conveyor_schedule_next_run_timestamp_seconds"
                           "{schedule=\"");
            cv_buf_label(b, t->schedules[i].name);
            cv_buf_printf(b, "\"} %.3f\n",
                          (double)s->scheds[i].next_ms / 1000.0);
        }
    header(b, "conveyor_schedule_paused", "gauge",
           "1 if a switch (conveyor pause --schedule or --all) holds the "
           "schedule.");
    header(b, "conveyor_schedule_enabled", "gauge",
           "1 if the topology enables the schedule.");
    for (size_t i = 0; i < t->nschedules; i++) {
        cv_buf_puts(b, "conveyor_schedule_paused{schedule=\"");
        cv_buf_label(b, t->schedules[i].name);
        cv_buf_printf(b, "\"} %d\n", s->scheds[i].paused);
        cv_buf_puts(b, "conveyor_schedule_enabled{schedule=\"");
        cv_buf_label(b, t->schedules[i].name);
        cv_buf_printf(b, "\"} %d\n", t->schedules[i].enabled);
    }
    if (!o->ticker)
        return;
    header(b, "conveyor_schedule_fires_total", "counter",
           "Fire times this process's ticker handled while leading: on_time "
           "(late ones included), late (over two ticks late), caught_up "
           "(after downtime), skipped.");
    for (size_t i = 0; i < t->nschedules; i++) {
        const struct cv_schedule_stats *st = cv_ticker_stats(o->ticker, i);
        uint64_t v[4] = {atomic_load(&st->fired), atomic_load(&st->late),
                         atomic_load(&st->caught_up),
                         atomic_load(&st->skipped)};
        for (int k = 0; k < 4; k++) {
            cv_buf_puts(b, "conveyor_schedule_fires_total{schedule=\"");
            cv_buf_label(b, t->schedules[i].name);
            cv_buf_printf(b, "\",outcome=\"%s\"} %llu\n", outcomes[k],
                          (unsigned long long)v[k]);
        }
    }
    header(b, "conveyor_schedule_max_delay_seconds", "gauge",
           "The worst delay of an on-time fire published by this process.");
    for (size_t i = 0; i < t->nschedules; i++) {
        const struct cv_schedule_stats *st = cv_ticker_stats(o->ticker, i);
        cv_buf_puts(b, "conveyor_schedule_max_delay_seconds{schedule=\"");
        cv_buf_label(b, t->schedules[i].name);
        cv_buf_printf(b, "\"} %.3f\n",
                      (double)atomic_load(&st->max_late_ms) / 1000.0);
    }
}

static void counter(struct cv_buf *b, const char *name, const char *help,
                    uint64_t v)
{
    header(b, name, "counter", help);
    cv_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

void cv_observer_render(struct cv_observer *o, struct cv_buf *b)
{
    const struct cv_topology *t = o->topo;
    struct snapshot empty = {0};
    const struct snapshot *s;

    counter(b, "conveyor_commits_fenced_total",
            "Batch commits refused by the offset compare-and-set (a zombie "
            "consumer, or a replay moved the offset).",
            atomic_load(&cv_stats.fenced));
    counter(b, "conveyor_batches_committed_total",
            "Batch transactions committed.", atomic_load(&cv_stats.batches));
    counter(b, "conveyor_batches_rolled_back_total",
            "Batches rolled back for Postgres trouble and run again.",
            atomic_load(&cv_stats.retried));
    counter(b, "conveyor_outbox_published_total",
            "Outbox rows this process's relay published.",
            atomic_load(&cv_stats.published));
    header(b, "conveyor_build_info", "gauge", "Always 1; the version.");
    cv_buf_printf(b, "conveyor_build_info{version=\"%s\"} 1\n", cv_version());

    pthread_mutex_lock(&o->lock);
    s = o->snap ? o->snap : &empty;
    header(b, "conveyor_postgres_up", "gauge",
           "1 if Postgres answered the last round (every 2 s).");
    cv_buf_printf(b, "conveyor_postgres_up %d\n", s->pg_up);
    header(b, "conveyor_kafka_up", "gauge",
           "1 if the broker answered the last round's watermark requests.");
    cv_buf_printf(b, "conveyor_kafka_up %d\n", s->kafka_up);
    header(b, "conveyor_migrations_pending", "gauge",
           "Migrations compiled into this binary and not applied.");
    cv_buf_printf(b, "conveyor_migrations_pending %d\n",
                  s->pg_up ? s->migrations_known - s->migrations_applied : 0);
    if (s->pg_up && s->dead_open) {
        render_lag(b, s);
        header(b, "conveyor_outbox_backlog_events", "gauge",
               "Outbox rows not yet published.");
        cv_buf_printf(b, "conveyor_outbox_backlog_events %lld\n",
                      (long long)s->outbox_backlog);
        header(b, "conveyor_outbox_oldest_age_seconds", "gauge",
               "Age of the oldest unpublished outbox row.");
        cv_buf_printf(b, "conveyor_outbox_oldest_age_seconds %lld\n",
                      (long long)s->outbox_oldest_s);
        header(b, "conveyor_dead_letters_open", "gauge",
               "Dead letters waiting for an operator (retry or discard).");
        for (size_t i = 0; i < t->ndomains; i++) {
            cv_buf_puts(b, "conveyor_dead_letters_open{group=\"");
            cv_buf_label(b, t->domains[i].group_id);
            cv_buf_printf(b, "\"} %lld\n", (long long)s->dead_open[i]);
        }
        header(b, "conveyor_retries_waiting", "gauge",
               "Events waiting for their next attempt (conveyor.retries).");
        for (size_t i = 0; i < t->ndomains; i++) {
            cv_buf_puts(b, "conveyor_retries_waiting{group=\"");
            cv_buf_label(b, t->domains[i].group_id);
            cv_buf_printf(b, "\"} %lld\n", (long long)s->retries[i]);
        }
        header(b, "conveyor_kill_switch_active", "gauge",
               "1 for each switch set with conveyor pause (scope all, "
               "domain, route or schedule).");
        for (size_t i = 0; i < s->nswitches; i++) {
            cv_buf_printf(b, "conveyor_kill_switch_active{scope=\"%s\",name=\"",
                          s->switch_scope[i]);
            cv_buf_label(b, s->switch_target[i]);
            cv_buf_puts(b, "\"} 1\n");
        }
        if (s->scheds)
            render_schedules(o, b, s);
    }
    pthread_mutex_unlock(&o->lock);
}

int cv_observer_ready(struct cv_observer *o, struct cv_buf *b)
{
    int registered, joined = cv_observe_joined(&registered), ready;
    char why[700];

    pthread_mutex_lock(&o->lock);
    if (!o->snap)
        snprintf(why, sizeof(why), "not checked yet");
    else if (!o->snap->pg_up)
        snprintf(why, sizeof(why), "Postgres unreachable: %s",
                 o->snap->pg_error);
    else if (o->snap->migrations_applied < o->snap->migrations_known)
        snprintf(why, sizeof(why),
                 "%d of %d migrations applied (run conveyor migrate)",
                 o->snap->migrations_applied, o->snap->migrations_known);
    else if (registered < o->consumers || joined < o->consumers)
        snprintf(why, sizeof(why),
                 "%d of %d consumers have joined their groups", joined,
                 o->consumers);
    else
        why[0] = '\0';
    ready = why[0] == '\0';
    cv_buf_printf(b, "{\"status\": \"%s\", \"reason\": \"",
                  ready ? "ready" : "unready");
    if (ready)
        cv_buf_printf(b,
                      "Postgres reachable, migrations applied, %d of %d "
                      "consumers in their groups (with partitions or as "
                      "standbys)",
                      joined, o->consumers);
    else
        cv_buf_json(b, why);
    cv_buf_printf(b, "\", \"postgres_up\": %s, \"checked_ms_ago\": %lld}\n",
                  o->snap && o->snap->pg_up ? "true" : "false",
                  o->snap ? (long long)(cv_wall_ms() - o->snap->collected_ms)
                          : -1LL);
    pthread_mutex_unlock(&o->lock);
    return ready;
}
