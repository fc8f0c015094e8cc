/*
 * control.h - a consumer's view of the kill switch (conveyor pause/resume).
 *
 * The switches live in conveyor.controls. A consumer asks between batches
 * whether its domain, everything, or one of its routes is paused. It
 * re-reads the table when a NOTIFY conveyor_controls arrives on its own
 * connection (LISTEN is issued on every new connection) and otherwise every
 * CV_CONTROL_POLL_MS as a fallback. A domain may also name an environment
 * variable as its kill switch (topology: kill_switch_env); when it is set
 * to 1, true, yes or on, the domain is paused whatever the table says.
 *
 * The consumer records what it does in conveyor.consumer_state: 'paused'
 * once its last batch has committed and its partitions are paused (the
 * acknowledgement an operator waits for), 'running' when it resumes.
 */
#ifndef CV_CONTROL_H
#define CV_CONTROL_H

#include <stdint.h>

#include "topology.h"

#define CV_CONTROL_POLL_MS 1000

struct cv_pg;
struct cv_control;

struct cv_control *cv_control_new(const struct cv_topo_domain *d,
                                  const char *member);
void cv_control_destroy(struct cv_control *c);

/*
 * Re-reads the switches if a NOTIFY arrived or the poll interval passed
 * (now_ms: monotonic). pg must not be in a pipeline. Returns 1 if what
 * this domain should do changed, 0 if not, -1 if the connection failed.
 */
int cv_control_refresh(struct cv_control *c, struct cv_pg *pg, int64_t now_ms);
/* True once after `conveyor replay` rewound this group's stored offsets
 * (NOTIFY conveyor_controls 'replay:<group>'): re-seek to them. */
int cv_control_take_reseek(struct cv_control *c);
/* Forces a re-read on the next refresh (e.g. after a reconnect). */
void cv_control_invalidate(struct cv_control *c);

/* The whole domain is paused (by domain, all, or the environment). */
int cv_control_domain_paused(const struct cv_control *c);
/* This route (event type) of the domain is paused. */
int cv_control_route_paused(const struct cv_control *c, const char *event_type);
/* Any route of the domain is paused. */
int cv_control_any_route_paused(const struct cv_control *c);
/* Why, for logs: "domain leads paused by alice: deploy" or "". */
const char *cv_control_reason(const struct cv_control *c);

/* Writes this member's state ('paused' or 'running') with a detail: the
 * switch's reason when paused, else `trouble` (e.g. the broker is
 * unreachable) or nothing. Consumers write it every 10 s and when it
 * changes, so `status` can tell a silent consumer from a working one. */
int cv_control_ack(struct cv_control *c, struct cv_pg *pg, int paused,
                   const char *trouble);
/* Deletes this member's state row (a clean exit). */
void cv_control_forget(struct cv_control *c, struct cv_pg *pg);

#endif
