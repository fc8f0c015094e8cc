/*
 * sqlroute.h - declared SQL: a route of the topology that runs SQL instead
 * of a compiled-in handler.
 *
 *   routes = ( { event = "marketplace.job.daily_freshness_decay";
 *                sql = ( "UPDATE marketplace.leads SET ... "
 *                        ":setting.freshness_floor::numeric ...",
 *                        "INSERT INTO marketplace.job_runs ... :ce.id ..." );
 *                rows = "INSERT ... SELECT * FROM unnest(:event.id::uuid[])";
 *                emit = ( { event = "marketplace.upload.completed";
 *                           sql = "SELECT ... AS batch_id, ..."; } ); } );
 *
 * Parameters are named (sqlparam.h): :event.<field> (a field of the
 * event's record: text as is, numbers in decimal, booleans true/false,
 * null as SQL NULL), :ce.<attribute> (id, type, source, time in RFC 3339,
 * time_ms, key, tenant, topic, partition, offset, attempt), :setting.<name>
 * (a topology setting, its environment override applied) and :env.<VAR>
 * (an environment variable, NULL when unset). They are sent as untyped
 * text: Postgres infers each one's type from where it stands, and a cast
 * (:setting.floor::numeric) says it where it cannot.
 *
 * A declared route runs in the batch transaction exactly like a handler
 * (handler.h), through the same machinery (cv_txn_*): program order with
 * row sets, blame on the failing statement's event, retries (a statement
 * failing with SQLSTATE class 40 is retried, any other error fails the
 * event) and dead letters by the route's policy, the outbox for what it
 * emits (ids <ce_id>.<n>, as cv_emit_send() derives them). `sql`
 * statements run once per event, pipelined; `rows` statements once per
 * batch with every parameter an array of the batch's values, in the order
 * of the events (cv_sql_rows()); each `emit` query runs after the event's
 * sql statements and every row it returns becomes a record of its event
 * type (columns named like the fields).
 *
 * cv_sqlroute_compile() is the topology check's; cv_sqlroute_prepare() is
 * preflight's (every statement prepared once against Postgres, so a typo
 * fails before the first event); cv_sqlroute_run() is the consumer's.
 */
#ifndef CV_SQLROUTE_H
#define CV_SQLROUTE_H

#include <libpq-fe.h>

#include "domain.h"
#include "schema.h"
#include "topology.h"

struct cv_sqlroute;

/* A finding of the check: line of the topology, and what is wrong. */
typedef void (*cv_sqlroute_report_fn)(void *opaque, int line,
                                      const char *needle, const char *msg);

/*
 * Compiles the route's sql, rows and emit statements and checks every
 * parameter against what exists: a field of the event's schema (cat may be
 * NULL: fields unchecked), a setting of the topology, a CloudEvents
 * attribute; and each emit's event type. Each problem is reported once
 * with the line of its statement (needle: the parameter's text, for a
 * caller that wants the exact line). Returns the compiled route (the
 * route owns it: rt->decl), or NULL if anything was reported.
 */
struct cv_sqlroute *cv_sqlroute_compile(const struct cv_topology *t,
                                        const struct cv_catalogue *cat,
                                        const struct cv_topo_domain *d,
                                        const struct cv_topo_route *rt,
                                        cv_sqlroute_report_fn report,
                                        void *opaque);
void cv_sqlroute_free(struct cv_sqlroute *r);

/*
 * Prepares every statement of r on conn (unnamed statements, nothing is
 * run) and, for emit queries, checks their columns against the record.
 * Returns CV_OK or CV_ERR with "file:line: domain 'd': route for 'e': sql
 * statement 2: <Postgres' message>" in errstr.
 */
int cv_sqlroute_prepare(const struct cv_sqlroute *r, PGconn *conn,
                        const struct cv_catalogue *cat, const char *path,
                        char *errstr, size_t errstr_size);

/* Runs the route for one event (the consumer's apply_one()). */
cv_result_t cv_sqlroute_run(struct cv_ctx *ctx, const struct cv_sqlroute *r,
                            const struct cv_event *ev);

/*
 * The value of a parameter that does not depend on the event (:setting,
 * :env), or NULL (unset variable). For the importer's sink too.
 */
const char *cv_sqlroute_static_value(const struct cv_topology *t, int kind,
                                     const char *name);

#endif
