/*
 * runner.h - hosts domain consumers, the outbox relay and the ticker as
 * threads of one process, with the HTTP endpoint (metrics, health, admin
 * API, dashboard) when http.listen is set, and turns SIGTERM/SIGINT into
 * an orderly stop.
 *
 * Signals only set a counter (cv_runner_signals); the caller's loop acts on
 * it: the first signal asks every thread to finish its batch, commit and
 * leave; a second one exits at once.
 */
#ifndef CV_RUNNER_H
#define CV_RUNNER_H

#include <signal.h>
#include <stdatomic.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_runner;

struct cv_runner_opts {
    char **domains; /* names; NULL/0 = every domain of the topology */
    size_t ndomains;
    int relay;     /* run the outbox relay */
    int consumers; /* run the domain consumers */
    int ticker;    /* run the ticker (schedules) */
    int effects;   /* run the effect runner (if the topology has targets) */
    const char *http_port_file; /* write the HTTP port here, or NULL */
};

/* Installs the SIGTERM/SIGINT handlers; reads as the number received. */
void cv_runner_signals_install(void);
int cv_runner_signals(void);

/* Starts the threads and the HTTP endpoint. cfg, topo (checked, handlers
 * resolved) and cat are borrowed and must outlive the runner. Returns NULL
 * with errstr on failure. */
struct cv_runner *cv_runner_start(const struct cv_config *cfg,
                                  const struct cv_topology *topo,
                                  const struct cv_catalogue *cat,
                                  const struct cv_runner_opts *opts,
                                  char *errstr, size_t errstr_size);
/* The HTTP endpoint's port, or 0 when it is off. */
int cv_runner_http_port(const struct cv_runner *r);
/* Asks every thread to stop (level 1 = finish the batch, 2 = now). */
void cv_runner_stop(struct cv_runner *r, int level);
/* Waits up to timeout_ms for the threads; CV_OK if all ended. */
int cv_runner_join(struct cv_runner *r, int timeout_ms);
/* Runs until a signal, then stops and joins within the configured
 * shutdown timeout. Returns an exit code. */
int cv_runner_wait(struct cv_runner *r, void (*tick)(void *), void *opaque);
void cv_runner_destroy(struct cv_runner *r);

#endif
