/*
 * health.h - liveness: is every loop of the process still coming round?
 *
 * Each consumer, relay and ticker loop calls cv_health_beat() once per
 * round with a key of its own (its object's address); the runner forgets a
 * loop when its thread ends. /healthz fails when a loop has not beaten for
 * longer than http.liveness_timeout_ms plus that loop's own slack (what it
 * may sleep between rounds). Readiness (/readyz) is observe.c's: it needs
 * Postgres and the broker.
 */
#ifndef CV_HEALTH_H
#define CV_HEALTH_H

#include <stdint.h>

struct cv_buf;

/* A loop came round. kind: "consumer", "relay", "ticker"; name: e.g. the
 * domain; slack_ms: how long it may sleep between rounds on purpose. Any
 * thread; cheap (a mutex and a short scan). */
void cv_health_beat(const void *key, const char *kind, const char *name,
                    int64_t slack_ms);
/* The loop ended (its thread stopped on purpose): no longer watched. */
void cv_health_forget(const void *key);

/* Appends a JSON object {"status": "ok"|"stuck", "loops": [...]} and
 * returns 1 if every loop beat within timeout_ms plus its slack. */
int cv_health_live(struct cv_buf *out, int64_t timeout_ms);

/* How many loops are watched (tests). */
int cv_health_loops(void);
void cv_health_free(void);

#endif
