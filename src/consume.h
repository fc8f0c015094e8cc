/*
 * consume.h - one domain consumer: Kafka in, one Postgres transaction per
 * batch out (DESIGN.md I-1 to I-4).
 *
 * A consumer owns one librdkafka consumer (in the domain's group), one
 * Postgres connection, and one decoder; `parallelism` consumers of a domain
 * run as threads of one process and share nothing but the catalogue and the
 * topology (read-only) and the stats counters.
 */
#ifndef CV_CONSUME_H
#define CV_CONSUME_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_consumer;

/* Borrows cfg, topo, domain and cat: they must outlive the consumer. */
struct cv_consumer *cv_consumer_new(const struct cv_config *cfg,
                                    const struct cv_topology *topo,
                                    const struct cv_topo_domain *domain,
                                    const struct cv_catalogue *cat,
                                    int instance, char *errstr,
                                    size_t errstr_size);

/*
 * Runs until *stop becomes non-zero: then finishes and commits the batch in
 * flight, closes the Kafka consumer (leaving the group) and returns CV_OK.
 * Postgres and broker outages are waited out with backoff. Returns CV_ERR
 * only for a fatal error (logged).
 */
int cv_consumer_run(struct cv_consumer *c, atomic_int *stop);
void cv_consumer_destroy(struct cv_consumer *c);

/*
 * The handler timeout's watchdog, called from another thread (the
 * runner's) every few tens of milliseconds. When the handler running on c
 * has passed its route's timeout_ms, it records the failed attempt in
 * conveyor.retries on a connection of its own and exits the process with
 * CV_EXIT_HANDLER_TIMEOUT: a C function cannot be stopped safely from
 * outside, and the batch it was in rolls back with the process. After the
 * restart the event waits for its next attempt like any failed one, and is
 * dead-lettered when it has none left. Returns 0 when all is well.
 */
int cv_consumer_watchdog(struct cv_consumer *c);

#endif
