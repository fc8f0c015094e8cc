/*
 * ops.h - what an operator can ask of Conveyor, shared by the command line
 * (cmd_*.c, which prints) and the admin API (api_*.c, which answers JSON):
 * the same statements, the same audit rows, written once.
 *
 * Each function runs its statement on the caller's connection and returns
 * the PGresult (the caller clears it), or NULL with err filled. Column
 * names are part of the interface: the API turns rows into JSON objects by
 * them. Checks against the topology return CV_OK or CV_ERR with a message
 * for a person in errstr.
 */
#ifndef CV_OPS_H
#define CV_OPS_H

#include "pg.h"
#include "topology.h"

/* ---- where things stand (conveyor status) */

/* group_id, topic, partition, next_offset; group NULL = every group. */
PGresult *cv_ops_offsets(struct cv_pg *pg, const char *group,
                         struct cv_pg_error *err);
/* unpublished, oldest_s: the outbox backlog. */
PGresult *cv_ops_outbox(struct cv_pg *pg, struct cv_pg_error *err);
/* open: open dead letters (of group, or all). */
PGresult *cv_ops_dead_letters_open(struct cv_pg *pg, const char *group,
                                   struct cv_pg_error *err);
/* waiting, blocking, parked, max_attempts, next_due_s. */
PGresult *cv_ops_retries(struct cv_pg *pg, const char *group,
                         struct cv_pg_error *err);
/* group_id, member, state, detail, age_s, updated_at: members heard from
 * within ten minutes. */
PGresult *cv_ops_members(struct cv_pg *pg, const char *group,
                         struct cv_pg_error *err);
/* group_id, topic, partition, lost_from, lost_to, detected_at. */
/* Open notices a domain raised (conveyor.notices): domain, kind, detail,
 * since; at most 100, oldest first. */
PGresult *cv_ops_notices(struct cv_pg *pg, struct cv_pg_error *err);
PGresult *cv_ops_gaps(struct cv_pg *pg, const char *group,
                      struct cv_pg_error *err);

/* ---- the kill switch (conveyor pause / resume) */

/* The target of a switch exists: scope "all" (target ""), "domain",
 * "route" (DOMAIN/EVENT_TYPE) or "schedule". */
int cv_ops_switch_check(const struct cv_topology *topo, const char *scope,
                        const char *target, char *errstr, size_t errstr_size);
/*
 * Sets (pause) or clears a switch with its audit row and NOTIFY, in one
 * statement. One row: changed (1 if a row was written or deleted),
 * was_actor, was_since, was_reason (the switch before; NULL if none).
 */
PGresult *cv_ops_switch_set(struct cv_pg *pg, int pause, const char *scope,
                            const char *target, const char *actor,
                            const char *reason, struct cv_pg_error *err);
/* scope, target, actor, since, reason of every switch, oldest first,
 * except (scope, target) (NULLs: none excepted). */
PGresult *cv_ops_switches(struct cv_pg *pg, const char *except_scope,
                          const char *except_target, struct cv_pg_error *err);

/* ---- dead letters (conveyor dlq) */

struct cv_dlq_filter {
    const char *group, *type, *since, *until, *error; /* NULL: any */
    const char *status; /* open, retried, discarded or all */
    int limit;
};

/* A group some domain of the topology has. */
int cv_ops_group_check(const struct cv_topology *topo, const char *group,
                       char *errstr, size_t errstr_size);
/* id, group_id, topic, partition, offset, event_type, event_id, attempts,
 * last_failed (text), status, error; oldest first. */
PGresult *cv_ops_dlq_list(struct cv_pg *pg, const struct cv_dlq_filter *f,
                          struct cv_pg_error *err);
/* One dead letter: the list's columns and first_failed, resolved_at,
 * resolved_by, resolution, headers, key (text), value_hex. */
PGresult *cv_ops_dlq_show(struct cv_pg *pg, const char *id,
                          struct cv_pg_error *err);
/*
 * Retries (puts back on its topic through the outbox, forgets it in the
 * inbox) or discards open dead letters, audited, in one statement: those
 * in ids (a Postgres array literal "{1,2}") or, for a retry with f, all
 * that match f. Rows: id, event_id, place ("topic[p]@offset").
 */
PGresult *cv_ops_dlq_change(struct cv_pg *pg, int retry,
                            const struct cv_dlq_filter *f, const char *ids,
                            const char *actor, const char *reason,
                            struct cv_pg_error *err);

/* The value of a dead letter (value_hex of cv_ops_dlq_show) as JSON text
 * if the catalogue decodes it (the caller frees it), else NULL. */
struct cv_catalogue;
char *cv_ops_dlq_value_json(const struct cv_catalogue *cat, const char *hex,
                            size_t hexlen);

/* ---- schedules */

/* schedule, last_fire_ms (NULL: never), scheduled, catch_up, skipped,
 * manual, cursor_ms (the latest fire time not manual, or when first
 * seen; NULL if unknown), last_success_ms. */
PGresult *cv_ops_schedule_history(struct cv_pg *pg, struct cv_pg_error *err);

#endif
