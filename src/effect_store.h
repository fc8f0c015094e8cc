/*
 * effect_store.h - the statements on conveyor.effects, one function each,
 * on plain values (migrations/0009_effects.sql describes the table).
 *
 * A request in flight is fenced by its lease token: a runner records an
 * answer only while the row is still in_flight under the token it claimed
 * it with. A request whose lease ran out was made pending again (and may
 * be sent again by another runner, with the same key); the late answer of
 * the first runner then records nothing.
 *
 * Every function runs one statement now (not in a pipeline) and returns
 * CV_OK or CV_ERR with err filled in.
 */
#ifndef CV_EFFECT_STORE_H
#define CV_EFFECT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pg.h"

/* A request claimed for one attempt; strings are malloc'ed (NULL for SQL
 * NULL), freed by cv_effect_claimed_free(). */
struct cv_effect_claimed {
    int64_t id;
    char *target, *method, *path, *query, *body;
    char *idempotency_key, *outcome_type, *outcome_key, *context;
    char *domain, *source_event_id;
    int attempts;             /* including this one */
    int64_t first_attempt_ms; /* wall clock, ms */
};

/*
 * Claims up to limit due pending requests of target for one attempt each:
 * in_flight under lease for lease_ms, attempts + 1. Rows another runner
 * has locked are skipped. *out is malloc'ed (NULL when none).
 */
int cv_effect_store_claim(struct cv_pg *pg, const char *target,
                          const char *lease, int64_t lease_ms, int limit,
                          struct cv_effect_claimed **out, size_t *n,
                          struct cv_pg_error *err);
void cv_effect_claimed_free(struct cv_effect_claimed *c, size_t n);
/* Frees one request's strings (not the struct) and zeroes it. */
void cv_effect_claimed_clear(struct cv_effect_claimed *c);

/* Makes requests whose lease ran out pending again, counting a reclaim on
 * each; *n gets how many. */
int cv_effect_store_reclaim(struct cv_pg *pg, int *n, struct cv_pg_error *err);
/*
 * A new leader: every request in flight under a lease not starting with
 * own_prefix was claimed by an earlier leader, whose session (and so its
 * lead) is gone. Pending again at once rather than when the lease runs
 * out; if that runner still finishes its call, its fenced write records
 * nothing. *n gets how many.
 */
int cv_effect_store_reclaim_others(struct cv_pg *pg, const char *own_prefix,
                                   int *n, struct cv_pg_error *err);

/*
 * Back to pending after a failed attempt, due in delay_ms, with the
 * attempt's status (0 = no answer) and error. *recorded is 0 if the lease
 * was lost (nothing changed).
 */
int cv_effect_store_retry(struct cv_pg *pg, int64_t id, const char *lease,
                          int64_t delay_ms, int status, const char *error,
                          int *recorded, struct cv_pg_error *err);

/* The end of a request and its outcome event, written together. */
struct cv_effect_final {
    int64_t id;
    const char *lease; /* NULL: not in flight (cancel) */
    const char *state; /* "done", "failed" or "cancelled" */
    int status;
    const char *error;    /* NULL when done */
    const char *response; /* JSON text, or NULL */
    /* the outcome's outbox row */
    const char *topic;
    const char *key; /* NULL: no key */
    const void *value;
    size_t value_len;
    const char *event_id, *event_type;
    int64_t event_time_ms;
};

/*
 * Marks the request final and inserts the outcome's outbox row in one
 * statement (so in one transaction); the caller wakes the relay
 * (cv_effect_store_wake_relay()), once for many. With a lease,
 * only an in_flight row under that lease is finished; without one (cancel)
 * only a pending or failed row. *recorded is 0 if nothing matched.
 */
int cv_effect_store_finish(struct cv_pg *pg, const struct cv_effect_final *f,
                           int *recorded, struct cv_pg_error *err);

/* NOTIFY conveyor_outbox: outcome rows are waiting. A wake-up only (the
 * rows are committed; the relay also polls). */
void cv_effect_store_wake_relay(struct cv_pg *pg);

/*
 * The targets paused in conveyor.controls: *all is 1 under the global
 * switch; *names gets a malloc'ed NUL-separated list ending with an empty
 * string (free() it).
 */
int cv_effect_store_paused(struct cv_pg *pg, int *all, char **names,
                           struct cv_pg_error *err);

/* ---- for `conveyor effects` and `conveyor status` ---- */

/*
 * Requests of target (NULL: all) in state ("open": pending, in flight or
 * failed; "all"), newest first, at most limit: id, target, state,
 * attempts, last_status, created (UTC), method path, query, last_error.
 */
PGresult *cv_effect_store_list(struct cv_pg *pg, const char *target,
                               const char *state, const char *limit,
                               struct cv_pg_error *err);
/* One request, every column, for `effects show` (0 rows: none). */
PGresult *cv_effect_store_show(struct cv_pg *pg, const char *id,
                               struct cv_pg_error *err);
/*
 * Locks a pending or failed request (FOR UPDATE, in the caller's
 * transaction) and reads it into *req (*found 0: none such).
 */
int cv_effect_store_lock(struct cv_pg *pg, const char *id,
                         struct cv_effect_claimed *req, int *found,
                         struct cv_pg_error *err);
/* A failed or cancelled request pending again, same key, attempts from 0,
 * with its audit row; *done 0: none such. */
int cv_effect_store_retry_failed(struct cv_pg *pg, const char *id,
                                 const char *actor, const char *reason,
                                 int *done, struct cv_pg_error *err);
/* An audit row for an action on effect id. */
int cv_effect_store_audit(struct cv_pg *pg, const char *actor,
                          const char *action, const char *id,
                          const char *reason, struct cv_pg_error *err);

/*
 * Per target with open requests: pending, in flight, failed, the oldest
 * pending request's age (s, NULL when none), and how often the engine
 * reclaimed an open request from a runner that stopped mid-call. Columns
 * in that order after the target's name.
 */
PGresult *cv_effect_store_counts(struct cv_pg *pg, struct cv_pg_error *err);

#endif
