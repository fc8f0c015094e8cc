/*
 * runner.c - consumer, relay and ticker threads, the HTTP endpoint and its
 * observer, signals, bounded shutdown.
 *
 * The endpoint starts after the threads it reports on and stops before
 * they are destroyed (it reads the ticker's stats and the consumers'
 * registrations). A thread that ends is no longer watched by /healthz.
 */
#include "runner.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consume.h"
#include "health.h"
#include "http.h"
#include "metrics.h"
#include "observe.h"
#include "log.h"
#include "outbox.h"
#include "effects.h"
#include "import.h"
#include "ticker.h"

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    signals_seen++;
}

void cv_runner_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cv_runner_signals(void)
{
    return (int)signals_seen;
}

struct worker {
    pthread_t thread;
    struct cv_consumer *consumer;
    struct cv_relay *relay;
    struct cv_ticker *ticker;
    struct cv_effects *effects;
    struct cv_importer *importer;
    atomic_int *stop;
    atomic_int done;
};

struct cv_runner {
    const struct cv_config *cfg;
    struct cv_observer *observer;
    struct cv_http *http;
    struct worker *workers;
    size_t nworkers;
    atomic_int stop;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (w->consumer)
        cv_consumer_run(w->consumer, w->stop);
    else if (w->relay)
        cv_relay_run(w->relay, w->stop);
    else if (w->effects)
        cv_effects_run(w->effects, w->stop);
    else if (w->importer)
        cv_importer_run(w->importer, w->stop);
    else
        cv_ticker_run(w->ticker, w->stop);
    cv_health_forget(w->consumer   ? (void *)w->consumer
                     : w->relay    ? (void *)w->relay
                     : w->effects  ? (void *)w->effects
                     : w->importer ? (void *)w->importer
                                   : (void *)w->ticker);
    atomic_store(&w->done, 1);
    return NULL;
}

static int wanted(const struct cv_runner_opts *opts, const char *name)
{
    if (!opts->ndomains)
        return 1;
    for (size_t i = 0; i < opts->ndomains; i++)
        if (strcmp(opts->domains[i], name) == 0)
            return 1;
    return 0;
}

/* The observer and the HTTP server, if http.listen is set. */
static int start_http(struct cv_runner *r, const struct cv_topology *topo,
                      const struct cv_catalogue *cat,
                      const struct cv_runner_opts *opts, char *errstr,
                      size_t errstr_size)
{
    const struct cv_ticker *ticker = NULL;
    int consumers = 0;

    if (!r->cfg->http_listen[0])
        return CV_OK;
    for (size_t i = 0; i < r->nworkers; i++) {
        consumers += r->workers[i].consumer != NULL;
        if (r->workers[i].ticker)
            ticker = r->workers[i].ticker;
    }
    r->observer = cv_observer_start(r->cfg, topo, ticker, consumers);
    r->http = cv_http_start(r->cfg, topo, cat, r->observer,
                            opts->http_port_file, errstr, errstr_size);
    return r->http ? CV_OK : CV_ERR;
}

static void stop_http(struct cv_runner *r)
{
    cv_http_stop(r->http);
    cv_observer_stop(r->observer);
    r->http = NULL;
    r->observer = NULL;
}

struct cv_runner *cv_runner_start(const struct cv_config *cfg,
                                  const struct cv_topology *topo,
                                  const struct cv_catalogue *cat,
                                  const struct cv_runner_opts *opts,
                                  char *errstr, size_t errstr_size)
{
    struct cv_runner *r = cv_calloc(1, sizeof(*r));
    size_t max = 5;

    r->cfg = cfg;
    cv_metrics_init(topo);
    for (size_t i = 0; i < opts->ndomains; i++)
        if (!cv_topology_domain(topo, opts->domains[i])) {
            cv_err(errstr, errstr_size, "no domain '%s' in %s",
                   opts->domains[i], topo->path);
            free(r);
            return NULL;
        }
    for (size_t i = 0; i < topo->ndomains; i++)
        max += (size_t)topo->domains[i].parallelism;
    r->workers = cv_calloc(max, sizeof(*r->workers));

    for (size_t i = 0; opts->consumers && i < topo->ndomains; i++) {
        const struct cv_topo_domain *d = &topo->domains[i];
        if (!wanted(opts, d->name))
            continue;
        for (int k = 0; k < d->parallelism; k++) {
            struct worker *w = &r->workers[r->nworkers];
            w->consumer =
                cv_consumer_new(cfg, topo, d, cat, k, errstr, errstr_size);
            if (!w->consumer)
                goto fail;
            r->nworkers++;
        }
    }
    if (opts->relay) {
        struct worker *w = &r->workers[r->nworkers];
        w->relay = cv_relay_new(cfg, errstr, errstr_size);
        if (!w->relay)
            goto fail;
        r->nworkers++;
    }
    if (opts->ticker) {
        struct worker *w = &r->workers[r->nworkers];
        w->ticker = cv_ticker_new(cfg, topo, cat, errstr, errstr_size);
        if (!w->ticker)
            goto fail;
        r->nworkers++;
    }
    if (opts->effects && topo->ntargets) {
        struct worker *w = &r->workers[r->nworkers];
        w->effects = cv_effects_new(cfg, topo, cat, errstr, errstr_size);
        if (!w->effects)
            goto fail;
        r->nworkers++;
    }
    if (opts->effects && topo->nimports) {
        struct worker *w = &r->workers[r->nworkers];
        w->importer = cv_importer_new(cfg, topo, cat);
        r->nworkers++;
    }
    /* before the threads: a port that is taken fails the start cleanly */
    if (start_http(r, topo, cat, opts, errstr, errstr_size) != CV_OK)
        goto fail;
    for (size_t i = 0; i < r->nworkers; i++) {
        r->workers[i].stop = &r->stop;
        if (pthread_create(&r->workers[i].thread, NULL, worker_main,
                           &r->workers[i]) != 0) {
            cv_err(errstr, errstr_size, "cannot start a thread");
            atomic_store(&r->stop, 2);
            for (size_t k = 0; k < i; k++)
                pthread_join(r->workers[k].thread, NULL);
            r->nworkers = i; /* joined; the rest never started */
            for (size_t k = 0; k < r->nworkers; k++)
                r->workers[k].thread = 0;
            goto fail;
        }
    }
    return r;
fail:
    stop_http(r);
    for (size_t i = 0; i < r->nworkers; i++) {
        cv_consumer_destroy(r->workers[i].consumer);
        cv_relay_destroy(r->workers[i].relay);
        cv_ticker_destroy(r->workers[i].ticker);
        cv_effects_destroy(r->workers[i].effects);
        cv_importer_destroy(r->workers[i].importer);
    }
    free(r->workers);
    free(r);
    return NULL;
}

int cv_runner_http_port(const struct cv_runner *r)
{
    return r->http ? cv_http_port(r->http) : 0;
}

void cv_runner_stop(struct cv_runner *r, int level)
{
    atomic_store(&r->stop, level);
}

int cv_runner_join(struct cv_runner *r, int timeout_ms)
{
    int64_t until = cv_mono_ms() + timeout_ms;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < r->nworkers; i++)
            done += (size_t)atomic_load(&r->workers[i].done);
        if (done == r->nworkers)
            break;
        if (cv_mono_ms() >= until)
            return CV_ERR;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i].thread, NULL);
    stop_http(r);
    for (size_t i = 0; i < r->nworkers; i++) {
        cv_consumer_destroy(r->workers[i].consumer);
        cv_relay_destroy(r->workers[i].relay);
        cv_ticker_destroy(r->workers[i].ticker);
        cv_effects_destroy(r->workers[i].effects);
        cv_importer_destroy(r->workers[i].importer);
        r->workers[i].importer = NULL;
        r->workers[i].consumer = NULL;
        r->workers[i].relay = NULL;
        r->workers[i].ticker = NULL;
        r->workers[i].effects = NULL;
    }
    return CV_OK;
}

int cv_runner_wait(struct cv_runner *r, void (*tick)(void *), void *opaque)
{
    int64_t next_tick = cv_mono_ms() + 1000;
    int stopping = 0;
    while (!stopping) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
        if (cv_runner_signals() > 0)
            stopping = 1;
        /* this loop runs the handler watchdog: it must come round too */
        cv_health_beat(r, "runner", "watchdog", 0);
        for (size_t i = 0; i < r->nworkers; i++)
            if (r->workers[i].consumer)
                cv_consumer_watchdog(r->workers[i].consumer);
        if (tick && cv_mono_ms() >= next_tick) {
            tick(opaque);
            next_tick += 1000;
        }
        /* a thread that ended on its own (fatal error) stops everything */
        for (size_t i = 0; i < r->nworkers && !stopping; i++)
            if (atomic_load(&r->workers[i].done)) {
                cv_error("a worker stopped unexpectedly; shutting down");
                stopping = 2;
            }
    }
    cv_info("stopping: finishing the batches in flight (a second signal "
            "exits at once)");
    cv_health_forget(r);
    cv_runner_stop(r, 1);
    int64_t until = cv_mono_ms() + r->cfg->shutdown_timeout_ms;
    while (cv_mono_ms() < until) {
        if (cv_runner_signals() > 1) {
            cv_warn("second signal: exiting now");
            _exit(CV_EXIT_RUNTIME);
        }
        if (cv_runner_join(r, 50) == CV_OK) {
            cv_info("stopped cleanly");
            return stopping == 2 ? CV_EXIT_RUNTIME : CV_EXIT_OK;
        }
    }
    cv_error("shutdown timed out after %d ms; exiting",
             r->cfg->shutdown_timeout_ms);
    _exit(CV_EXIT_RUNTIME);
}

void cv_runner_destroy(struct cv_runner *r)
{
    if (!r)
        return;
    stop_http(r);
    for (size_t i = 0; i < r->nworkers; i++) {
        cv_consumer_destroy(r->workers[i].consumer);
        cv_relay_destroy(r->workers[i].relay);
        cv_ticker_destroy(r->workers[i].ticker);
        cv_effects_destroy(r->workers[i].effects);
        cv_importer_destroy(r->workers[i].importer);
    }
    free(r->workers);
    free(r);
}
