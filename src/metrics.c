/*
 * metrics.c - the counters and histograms the engine's threads move, and
 * their Prometheus text exposition (see metrics.h). The gauges read from
 * Postgres and the broker (lag, backlog, schedules) are observe.c's.
 *
 * Layout: one slot per (domain, route) with an atomic counter per outcome,
 * one per domain with the batch histograms, a fixed table of effect
 * targets under a mutex. A consumer thread keeps the outcomes of the
 * transaction under way in thread-local storage and adds them only when
 * the transaction commits.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define UNROUTED    "unrouted"
#define TARGETS_MAX 256
#define PENDING_MAX 128

/* Upper bounds, seconds: from a fast batch to the runbook's 5 minutes. */
static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                2.5,   5,    10,    30,   60,  120,  300, 600};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct hist {
    _Atomic uint64_t bucket[NBOUNDS + 1]; /* not cumulative; last = +Inf */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
};

struct route_slot {
    char *domain, *route;
    _Atomic uint64_t n[CV_METRICS_OUTCOMES];
};

struct domain_slot {
    char *name;
    size_t first, nroutes; /* its route slots; the last is "unrouted" */
    struct hist apply, commit;
};

struct target {
    char name[128];
    int64_t pending, in_flight, failed, limit;
    struct hist calls;
};

static struct route_slot *routes;
static size_t nroutes;
static struct domain_slot *domains;
static size_t ndomains;
static struct hist outbox_latency;

static pthread_mutex_t targets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct target *targets;
static size_t ntargets;

struct pending {
    size_t slot;
    int outcome;
    uint64_t n;
};

static _Thread_local struct pending pend[PENDING_MAX];
static _Thread_local size_t npend;
static _Thread_local int64_t txn_begin_us, txn_applied_us;

static void hist_add(struct hist *h, double seconds)
{
    size_t i = 0;

    while (i < NBOUNDS && seconds > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us,
                              seconds > 0 ? (uint64_t)(seconds * 1e6) : 0,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void cv_metrics_free(void)
{
    for (size_t i = 0; i < nroutes; i++) {
        free(routes[i].domain);
        free(routes[i].route);
    }
    for (size_t i = 0; i < ndomains; i++)
        free(domains[i].name);
    free(routes);
    free(domains);
    routes = NULL;
    domains = NULL;
    nroutes = ndomains = 0;
    pthread_mutex_lock(&targets_lock);
    free(targets);
    targets = NULL;
    ntargets = 0;
    pthread_mutex_unlock(&targets_lock);
    memset(&outbox_latency, 0, sizeof(outbox_latency));
}

void cv_metrics_init(const struct cv_topology *topo)
{
    size_t n = 0;

    cv_metrics_free();
    for (size_t i = 0; i < topo->ndomains; i++)
        n += topo->domains[i].nroutes + 1;
    routes = cv_calloc(n + 1, sizeof(*routes));
    domains = cv_calloc(topo->ndomains + 1, sizeof(*domains));
    for (size_t i = 0; i < topo->ndomains; i++) {
        const struct cv_topo_domain *d = &topo->domains[i];
        struct domain_slot *ds = &domains[ndomains++];

        ds->name = cv_strdup(d->name);
        ds->first = nroutes;
        for (size_t k = 0; k <= d->nroutes; k++) {
            routes[nroutes].domain = cv_strdup(d->name);
            routes[nroutes].route =
                cv_strdup(k < d->nroutes ? d->routes[k].event_type : UNROUTED);
            nroutes++;
        }
        ds->nroutes = d->nroutes + 1;
    }
}

static struct domain_slot *domain_find(const char *name)
{
    for (size_t i = 0; i < ndomains; i++)
        if (strcmp(domains[i].name, name) == 0)
            return &domains[i];
    return NULL;
}

/* The slot of (domain, type): the route's, else the domain's "unrouted";
 * SIZE_MAX for a domain not in the topology. */
static size_t slot_find(const char *domain, const char *type)
{
    const struct domain_slot *d = domain_find(domain);

    if (!d)
        return SIZE_MAX;
    for (size_t i = d->first; type && i + 1 < d->first + d->nroutes; i++)
        if (strcmp(routes[i].route, type) == 0)
            return i;
    return d->first + d->nroutes - 1;
}

void cv_metrics_txn_begin(void)
{
    npend = 0;
    txn_begin_us = cv_mono_us();
    txn_applied_us = 0;
}

void cv_metrics_txn_applied(void)
{
    txn_applied_us = cv_mono_us();
}

void cv_metrics_event(const char *domain, const char *event_type,
                      enum cv_metrics_outcome outcome)
{
    size_t slot = slot_find(domain, event_type);

    if (slot == SIZE_MAX)
        return;
    for (size_t i = 0; i < npend; i++)
        if (pend[i].slot == slot && pend[i].outcome == (int)outcome) {
            pend[i].n++;
            return;
        }
    if (npend < PENDING_MAX)
        pend[npend++] = (struct pending){slot, (int)outcome, 1};
    else /* more distinct labels than any topology has: count it now */
        atomic_fetch_add(&routes[slot].n[outcome], 1);
}

void cv_metrics_txn_commit(const char *domain)
{
    struct domain_slot *d = domain_find(domain);
    int64_t now = cv_mono_us();

    for (size_t i = 0; i < npend; i++)
        atomic_fetch_add_explicit(&routes[pend[i].slot].n[pend[i].outcome],
                                  pend[i].n, memory_order_relaxed);
    npend = 0;
    if (d && txn_begin_us) {
        int64_t applied = txn_applied_us ? txn_applied_us : now;
        hist_add(&d->apply, (double)(applied - txn_begin_us) / 1e6);
        hist_add(&d->commit, (double)(now - applied) / 1e6);
    }
    txn_begin_us = txn_applied_us = 0;
}

void cv_metrics_retried(const char *domain, const char *event_type)
{
    size_t slot = slot_find(domain, event_type);

    if (slot != SIZE_MAX)
        atomic_fetch_add(&routes[slot].n[CV_METRICS_RETRIED], 1);
}

void cv_metrics_outbox_published(double seconds)
{
    hist_add(&outbox_latency, seconds);
}

static struct target *target_get(const char *name)
{
    for (size_t i = 0; i < ntargets; i++)
        if (strcmp(targets[i].name, name) == 0)
            return &targets[i];
    if (ntargets == TARGETS_MAX)
        return NULL;
    if (!targets)
        targets = cv_calloc(TARGETS_MAX, sizeof(*targets));
    snprintf(targets[ntargets].name, sizeof(targets[ntargets].name), "%s",
             name);
    return &targets[ntargets++];
}

void cv_metrics_effect_target(const char *target, int64_t pending,
                              int64_t in_flight, int64_t failed,
                              int64_t concurrency_limit)
{
    struct target *t;

    pthread_mutex_lock(&targets_lock);
    t = target_get(target);
    if (t) {
        t->pending = pending;
        t->in_flight = in_flight;
        t->failed = failed;
        t->limit = concurrency_limit;
    }
    pthread_mutex_unlock(&targets_lock);
}

void cv_metrics_effect_call(const char *target, double seconds)
{
    struct target *t;

    pthread_mutex_lock(&targets_lock);
    t = target_get(target);
    if (t)
        hist_add(&t->calls, seconds);
    pthread_mutex_unlock(&targets_lock);
}

size_t cv_metrics_effects(struct cv_metrics_effect *out, size_t max)
{
    size_t n;

    pthread_mutex_lock(&targets_lock);
    n = ntargets;
    for (size_t i = 0; i < ntargets && i < max; i++) {
        snprintf(out[i].target, sizeof(out[i].target), "%s", targets[i].name);
        out[i].pending = targets[i].pending;
        out[i].in_flight = targets[i].in_flight;
        out[i].failed = targets[i].failed;
        out[i].limit = targets[i].limit;
        out[i].calls = atomic_load(&targets[i].calls.count);
    }
    pthread_mutex_unlock(&targets_lock);
    return n;
}

uint64_t cv_metrics_total(enum cv_metrics_outcome outcome)
{
    uint64_t n = 0;

    for (size_t i = 0; i < nroutes; i++)
        n += atomic_load_explicit(&routes[i].n[outcome], memory_order_relaxed);
    return n;
}

void cv_metrics_format_double(char *out, size_t size, double v)
{
    if (isnan(v))
        snprintf(out, size, "NaN");
    else if (isinf(v))
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(out, size, "%.17g", v);
}

/* ---- exposition */

static void header(struct cv_buf *b, const char *name, const char *type,
                   const char *help)
{
    cv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's samples; labels is "" or `name="value"` pairs. */
static void hist_render(struct cv_buf *b, const char *name, const char *labels,
                        const struct hist *h)
{
    uint64_t cum = 0;
    char le[32];

    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (i < NBOUNDS)
            snprintf(le, sizeof(le), "%g", bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        cv_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels,
                      *labels ? "," : "", le, (unsigned long long)cum);
    }
    cv_buf_printf(b, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels,
                  *labels ? "}" : "", (double)atomic_load(&h->sum_us) / 1e6);
    /* the count is the +Inf bucket: read once so the two agree */
    cv_buf_printf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
                  *labels ? "}" : "", (unsigned long long)cum);
}

static void render_events(struct cv_buf *b)
{
    static const struct {
        const char *name, *help;
    } series[CV_METRICS_OUTCOMES] = {
        {"conveyor_events_processed_total",
         "Events whose handler ran and whose work committed."},
        {"conveyor_events_deduplicated_total",
         "Events skipped because the inbox already had their id."},
        {"conveyor_events_retried_total",
         "Failed attempts after which another attempt is due."},
        {"conveyor_events_dead_lettered_total",
         "Events written to conveyor.dead_letters."},
    };

    for (int o = 0; o < CV_METRICS_OUTCOMES; o++) {
        header(b, series[o].name, "counter", series[o].help);
        for (size_t i = 0; i < nroutes; i++) {
            cv_buf_printf(b, "%s{domain=\"", series[o].name);
            cv_buf_label(b, routes[i].domain);
            cv_buf_puts(b, "\",route=\"");
            cv_buf_label(b, routes[i].route);
            cv_buf_printf(b, "\"} %llu\n",
                          (unsigned long long)atomic_load(&routes[i].n[o]));
        }
    }
}

void cv_metrics_render(struct cv_buf *b)
{
    struct cv_buf labels = {0};

    render_events(b);
    for (int commit = 0; commit < 2; commit++) {
        const char *name = commit ? "conveyor_batch_commit_duration_seconds"
                                  : "conveyor_batch_apply_duration_seconds";
        header(b, name, "histogram",
               commit ? "Time to write a batch's inbox rows and offsets and "
                        "COMMIT."
                      : "Time from a batch transaction's BEGIN until its "
                        "handlers ran, for committed batches.");
        for (size_t i = 0; i < ndomains; i++) {
            labels.len = 0;
            cv_buf_puts(&labels, "domain=\"");
            cv_buf_label(&labels, domains[i].name);
            cv_buf_puts(&labels, "\"");
            hist_render(b, name, labels.data,
                        commit ? &domains[i].commit : &domains[i].apply);
        }
    }
    header(b, "conveyor_outbox_publish_latency_seconds", "histogram",
           "Time from an outbox row's commit until the relay saw it "
           "delivered to Kafka (this process's relay).");
    hist_render(b, "conveyor_outbox_publish_latency_seconds", "",
                &outbox_latency);

    pthread_mutex_lock(&targets_lock);
    if (ntargets) {
        static const char *const g[4][2] = {
            {"conveyor_effects_pending", "Effect requests waiting to run."},
            {"conveyor_effects_in_flight", "Effect calls running now."},
            {"conveyor_effects_failed", "Effect requests that failed for "
                                        "good."},
            {"conveyor_effects_concurrency_limit",
             "The target's limit of calls at once."}};
        for (int k = 0; k < 4; k++) {
            header(b, g[k][0], "gauge", g[k][1]);
            for (size_t i = 0; i < ntargets; i++) {
                const struct target *t = &targets[i];
                int64_t v = k == 0   ? t->pending
                            : k == 1 ? t->in_flight
                            : k == 2 ? t->failed
                                     : t->limit;
                cv_buf_printf(b, "%s{target=\"", g[k][0]);
                cv_buf_label(b, t->name);
                cv_buf_printf(b, "\"} %lld\n", (long long)v);
            }
        }
        header(b, "conveyor_effect_call_duration_seconds", "histogram",
               "Duration of calls to a target.");
        for (size_t i = 0; i < ntargets; i++) {
            labels.len = 0;
            cv_buf_puts(&labels, "target=\"");
            cv_buf_label(&labels, targets[i].name);
            cv_buf_puts(&labels, "\"");
            hist_render(b, "conveyor_effect_call_duration_seconds", labels.data,
                        &targets[i].calls);
        }
    }
    pthread_mutex_unlock(&targets_lock);
    cv_buf_free(&labels);
}
