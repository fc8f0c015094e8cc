/*
 * preflight.h - what `conveyor run` checks once, before it starts a thread:
 * that Postgres takes these credentials, runs a supported version and has
 * every migration this binary carries.
 *
 * Permanent errors (a wrong password, no such database or role, a server
 * older than CV_PG_MIN_VERSION, a missing migration) end the process with
 * the cause: retrying cannot fix them, and a process that retries forever
 * looks alive to its supervisor. Transient ones (connection refused, a
 * timeout, a server starting up or out of connection slots) are retried
 * with a growing delay, each attempt logged with its number and the next
 * delay.
 */
#ifndef CV_PREFLIGHT_H
#define CV_PREFLIGHT_H

#include <stddef.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

#define CV_PG_MIN_VERSION 130000 /* PQserverVersion(): 13.0 */

/*
 * 1 if libpq's message for a failed connection means retrying cannot help
 * (authentication, no such database or role, no pg_hba.conf entry, a bad
 * connection string), 0 if it may (refused, timeout, starting up, too many
 * connections, anything unknown).
 */
int cv_preflight_permanent(const char *message);

/*
 * Connects until Postgres answers (transient failures are logged and
 * retried; stopped() returning non-zero ends the wait), then checks the
 * server version and the migrations, and prepares every statement of the
 * topology's declared SQL (routes and import sinks; topo may be NULL), so
 * that a typo fails here, naming the route and its file:line, and not at
 * the first event. Returns CV_OK, CV_ERR with a permanent cause in
 * errstr, or CV_NULL when stopped() asked to stop first. Called from the
 * main thread.
 */
int cv_preflight_run(const struct cv_config *cfg,
                     const struct cv_topology *topo,
                     const struct cv_catalogue *cat, int (*stopped)(void),
                     char *errstr, size_t errstr_size);

#endif
