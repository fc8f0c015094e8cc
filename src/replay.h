/*
 * replay.h - re-run a group's handlers over a range of its topics (the
 * work behind `conveyor replay` and the admin API's replay), DESIGN.md's
 * replay: plan the range per partition, read it to learn its event ids and
 * types, then in one audited transaction forget those ids in the inbox and
 * rewind the stored offsets (compare-and-set), and NOTIFY the consumers.
 * See cmd_replay.c for the full story; a dry run only plans.
 */
#ifndef CV_REPLAY_H
#define CV_REPLAY_H

#include <stdint.h>

#include "config.h"
#include "pg.h"
#include "topology.h"

#define CV_REPLAY_BAD  -2 /* the request is wrong (exit 2, HTTP 400) */
#define CV_REPLAY_RACE -3 /* an offset moved back while planning: retry */

struct cv_replay_req {
    const char *group;
    const char *topic;               /* NULL: every topic of the group */
    int partition;                   /* -1: every partition */
    const char *from_time, *to_time; /* RFC 3339 or NULL */
    int64_t from_offset;             /* when from_time is NULL */
    int dry_run;
    const char *actor, *reason;
};

/* How many events of one type a range holds ("" = no ce_type header). */
struct cv_replay_count {
    char type[256];
    int64_t n;
};

struct cv_replay_range {
    char topic[256];
    int32_t partition;
    int64_t stored, low, high;
    int64_t from, to; /* [from, to) is replayed; from >= to: nothing */
    struct cv_replay_count *types;
    size_t ntypes, types_cap;
};

struct cv_replay_plan {
    const struct cv_topo_domain *domain;
    struct cv_replay_range *ranges; /* every partition looked at */
    size_t nranges;
    struct cv_replay_count *all; /* per type over every range */
    size_t nall, all_cap;
    int64_t total;       /* events to re-run */
    size_t nreplayed;    /* partitions with events to re-run */
    int applied;         /* not a dry run, and committed */
    long long forgotten; /* event ids the inbox forgot */
};

/* Checks a request against the topology without connecting anywhere:
 * CV_OK (and the group's domain) or CV_ERR with errstr. */
int cv_replay_check(const struct cv_topology *topo,
                    const struct cv_replay_req *req,
                    const struct cv_topo_domain **domain, char *errstr,
                    size_t errstr_size);

/*
 * Plans and (unless req->dry_run) applies a replay. Returns CV_OK,
 * CV_REPLAY_BAD (errstr says what is wrong with the request),
 * CV_REPLAY_RACE or CV_ERR (Kafka or Postgres failed; errstr). plan is
 * filled as far as it got; free it with cv_replay_plan_free().
 */
int cv_replay(const struct cv_config *cfg, const struct cv_topology *topo,
              struct cv_pg *pg, const struct cv_replay_req *req,
              struct cv_replay_plan *plan, char *errstr, size_t errstr_size);
void cv_replay_plan_free(struct cv_replay_plan *plan);

#endif
