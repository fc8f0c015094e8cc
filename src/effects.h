/*
 * effects.h - the effect runner: executes the calls to other services that
 * handlers requested (DESIGN.md I-6), after their batch committed.
 *
 * One runner leads (a session advisory lock), so each target's concurrency
 * and rate limits hold across all processes; the others stand by. The
 * leader claims due requests per target (a lease in conveyor.effects) as
 * the target's concurrency and rate allow, sends them with libcurl's multi
 * interface, and judges each answer (target.h): success or a final error
 * marks the request done or failed and queues its outcome event through the
 * outbox in the same transaction; a retriable failure makes it pending
 * again after a backoff (at least what Retry-After asks). A runner that dies
 * mid-call leaves an in_flight row whose lease runs out; it is then sent
 * again with the same idempotency key: at least once to the service,
 * exactly once in Conveyor's tables. Paused targets (conveyor pause
 * --target, the global switch, a target's kill_switch_env) claim nothing;
 * their requests wait.
 *
 * It wakes on NOTIFY conveyor_effects (sent by the batch that requested a
 * call) and conveyor_controls, and looks for due requests every 250 ms.
 */
#ifndef CV_EFFECTS_H
#define CV_EFFECTS_H

#include <stdatomic.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_effects;

/* Returns NULL with errstr if libcurl cannot start. cfg, topo and cat must
 * outlive the runner. */
struct cv_effects *cv_effects_new(const struct cv_config *cfg,
                                  const struct cv_topology *topo,
                                  const struct cv_catalogue *cat, char *errstr,
                                  size_t errstr_size);
/* Runs until *stop is set, then lets the calls in flight finish (within
 * consumer.shutdown_timeout_ms) and records them. Returns CV_OK. */
int cv_effects_run(struct cv_effects *e, atomic_int *stop);
void cv_effects_destroy(struct cv_effects *e);

/* What an outcome event carries (schema conveyor.EffectOutcome). */
struct cv_effect_outcome {
    int64_t effect_id;
    const char *target, *idempotency_key;
    int ok;
    int status;          /* 0: no HTTP answer */
    const char *error;   /* NULL when ok */
    const char *headers; /* JSON object text */
    const char *body;    /* NULL: none */
    int attempts;
    const char *context; /* JSON text or NULL */
    const char *source_event_id;
    const char *key; /* the outcome's Kafka key, or NULL */
};

/*
 * Encodes an outcome as an event of outcome_type (its schema must have the
 * fields of conveyor.EffectOutcome) and names its topic. Returns CV_OK with
 * a malloc'ed framed Avro value, or CV_ERR with errstr (an outcome type the
 * topology does not declare, a schema without these fields).
 */
int cv_effect_outcome_encode(const struct cv_topology *topo,
                             const struct cv_catalogue *cat,
                             const char *outcome_type,
                             const struct cv_effect_outcome *o, char **value,
                             size_t *value_len, const char **topic,
                             char *errstr, size_t errstr_size);

#endif
