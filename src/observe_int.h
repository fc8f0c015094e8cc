/*
 * observe_int.h - the observer's state, shared by observe.c (the thread
 * that gathers it) and observe_render.c (what scrapes and probes print).
 * Not for other modules.
 */
#ifndef CV_OBSERVE_INT_H
#define CV_OBSERVE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "observe.h"

struct sched {
    int64_t last_success_ms; /* 0: never */
    int64_t next_ms;         /* 0: none within five years */
    int paused;
};

struct snapshot {
    int64_t collected_ms; /* wall clock; 0 = never */
    int pg_up, kafka_up;
    char pg_error[600];
    int migrations_applied, migrations_known;
    int64_t outbox_backlog, outbox_oldest_s;
    int64_t *dead_open, *retries; /* per domain of the topology */
    char (*switch_scope)[16];
    char (*switch_target)[256];
    size_t nswitches;
    struct sched *scheds; /* per schedule of the topology */
    struct cv_observed_part *parts;
    size_t nparts;
};

/* What a round remembers from the last: the head timestamps read, and the
 * offsets mirrored, per partition. */
struct memo {
    char group[128], topic[256];
    int32_t partition;
    int64_t head_offset, head_ts; /* ts of the event at head_offset */
    int64_t mirrored;             /* -1: not yet */
};

struct cv_observer {
    const struct cv_config *cfg;
    const struct cv_topology *topo;
    const struct cv_ticker *ticker;
    int consumers;
    struct cv_clock clock;
    pthread_t thread;
    int started;
    atomic_int stop;
    struct cv_pg *pg;
    rd_kafka_t *reader; /* watermarks and head timestamps */
    struct memo *memo;
    size_t nmemo, memo_cap;
    pthread_mutex_t lock;
    struct snapshot *snap; /* under lock */
};

/* This process runs a consumer of group. */
int cv_observe_consumes(const char *group);
/* How many registered consumers have joined their group (a member id);
 * *registered: how many are registered. */
int cv_observe_joined(int *registered);

#endif
