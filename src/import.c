/*
 * import.c - the importer's dispatcher and its workers (import.h).
 *
 * The dispatcher has one connection of its own: it listens for
 * conveyor_imports, counts each importer's claimable imports every second
 * (or when woken), and starts a worker thread for each it may run, up to
 * the importer's concurrency in this process (the claim itself enforces
 * it across processes). A worker opens its own connection, claims one
 * import at a time (import_store.h) and runs it (import_run.c) until none
 * is left, then ends. A worker thread is the unit of a blocking transfer:
 * at most the sum of the importers' concurrencies exist at once.
 *
 * Stopping: the workers watch the runner's stop flag at every heartbeat
 * and between reads; the dispatcher joins them before it returns.
 */
#include "import.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "import_store.h"
#include "log.h"
#include "pg.h"

#define IMPORT_KV "component=imports"
#define POLL_MS   1000

struct worker {
    pthread_t thread;
    struct cv_importer *im;
    const struct cv_topo_import *def;
    int used;
    atomic_int done;
    int n; /* its number, for the holder's name */
};

struct cv_importer {
    const struct cv_config *cfg;
    const struct cv_topology *topo;
    const struct cv_catalogue *cat;
    struct cv_pg *pg;
    struct worker *workers;
    size_t nworkers;
    atomic_int *stop;
    char host[64];
    int seq;
};

struct cv_importer *cv_importer_new(const struct cv_config *cfg,
                                    const struct cv_topology *topo,
                                    const struct cv_catalogue *cat)
{
    struct cv_importer *im = cv_calloc(1, sizeof(*im));
    size_t n = 0;

    im->cfg = cfg;
    im->topo = topo;
    im->cat = cat;
    for (size_t i = 0; i < topo->nimports; i++)
        n += (size_t)topo->imports[i].concurrency;
    im->workers = cv_calloc(n ? n : 1, sizeof(*im->workers));
    im->nworkers = n;
    if (gethostname(im->host, sizeof(im->host)) != 0)
        snprintf(im->host, sizeof(im->host), "?");
    im->host[sizeof(im->host) - 1] = '\0';
    return im;
}

void cv_importer_destroy(struct cv_importer *im)
{
    if (!im)
        return;
    cv_pg_destroy(im->pg);
    free(im->workers);
    free(im);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct cv_importer *im = w->im;
    char errstr[512], holder[128];
    struct cv_import_claim c;
    struct cv_pg_error err;
    struct cv_pg *pg;

    snprintf(holder, sizeof(holder), "%s:%d:%d", im->host, (int)getpid(), w->n);
    pg = cv_pg_connect(im->cfg->pg_conninfo, "conveyor/import",
                       im->cfg->pg_connect_timeout_s, errstr, sizeof(errstr));
    if (!pg)
        CV_LOG(CV_LOG_WARN, IMPORT_KV, "worker cannot connect: %s", errstr);
    while (pg && !atomic_load(im->stop)) {
        if (cv_import_store_claim(pg, w->def->name, w->def->concurrency, holder,
                                  &c, &err) != CV_OK) {
            CV_LOG(CV_LOG_WARN, IMPORT_KV, "claiming an import: %s",
                   err.message);
            break;
        }
        if (!c.id)
            break; /* nothing left, or enough running elsewhere */
        cv_import_run(im->topo, im->cat, w->def, pg, &c, im->stop);
        cv_import_store_unlock(pg, c.id);
        cv_import_claim_clear(&c);
        if (!cv_pg_ok(pg))
            break;
    }
    cv_pg_destroy(pg);
    atomic_store(&w->done, 1);
    return NULL;
}

/* Joins the workers that ended (all of them, waiting, when all is set). */
static void reap(struct cv_importer *im, int all)
{
    for (size_t i = 0; i < im->nworkers; i++) {
        struct worker *w = &im->workers[i];
        if (!w->used || (!all && !atomic_load(&w->done)))
            continue;
        pthread_join(w->thread, NULL);
        w->used = 0;
    }
}

static int running(const struct cv_importer *im,
                   const struct cv_topo_import *def)
{
    int n = 0;

    for (size_t i = 0; i < im->nworkers; i++)
        n += im->workers[i].used && im->workers[i].def == def;
    return n;
}

static void spawn(struct cv_importer *im, const struct cv_topo_import *def)
{
    for (size_t i = 0; i < im->nworkers; i++) {
        struct worker *w = &im->workers[i];
        if (w->used)
            continue;
        w->im = im;
        w->def = def;
        w->n = ++im->seq;
        atomic_store(&w->done, 0);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            CV_LOG(CV_LOG_WARN, IMPORT_KV, "cannot start a worker thread");
            return;
        }
        w->used = 1;
        return;
    }
}

/* One round: start a worker for each claimable import there is room for. */
static void dispatch(struct cv_importer *im)
{
    struct cv_pg_error err;

    for (size_t i = 0; i < im->topo->nimports && im->pg; i++) {
        const struct cv_topo_import *def = &im->topo->imports[i];
        int room = def->concurrency - running(im, def);
        int64_t n = 0;

        if (room <= 0)
            continue;
        if (cv_import_store_claimable(im->pg, def->name, &n, &err) != CV_OK) {
            CV_LOG(CV_LOG_WARN, IMPORT_KV, "postgres: %s", err.message);
            if (!cv_pg_ok(im->pg)) {
                cv_pg_destroy(im->pg);
                im->pg = NULL;
            }
            return;
        }
        for (int64_t k = 0; k < n && k < room; k++)
            spawn(im, def);
    }
}

/* Waits up to POLL_MS for a NOTIFY (or the stop flag). */
static void wait_wake(struct cv_importer *im)
{
    for (int slept = 0; slept < POLL_MS && !atomic_load(im->stop);
         slept += 100) {
        PGconn *conn = im->pg ? cv_pg_conn(im->pg) : NULL;
        struct pollfd pfd = {conn ? PQsocket(conn) : -1, POLLIN, 0};
        PGnotify *n;
        int woke = 0;

        if (!conn || pfd.fd < 0) {
            usleep(100 * 1000);
            continue;
        }
        if (poll(&pfd, 1, 100) > 0 && PQconsumeInput(conn))
            while ((n = PQnotifies(conn)) != NULL) {
                woke = 1;
                PQfreemem(n);
            }
        if (woke)
            return;
    }
}

int cv_importer_run(struct cv_importer *im, atomic_int *stop)
{
    char errstr[512];
    struct cv_pg_error err;

    im->stop = stop;
    CV_LOG(CV_LOG_INFO, IMPORT_KV, "importer started (%zu importers)",
           im->topo->nimports);
    while (!atomic_load(stop)) {
        cv_health_beat(im, "imports", "imports", POLL_MS + 5000);
        if (!im->pg) {
            im->pg = cv_pg_connect(im->cfg->pg_conninfo, "conveyor/imports",
                                   im->cfg->pg_connect_timeout_s, errstr,
                                   sizeof(errstr));
            if (im->pg && cv_pg_command(im->pg, "LISTEN conveyor_imports", 0,
                                        NULL, &err) != CV_OK) {
                cv_pg_destroy(im->pg);
                im->pg = NULL;
            }
        }
        reap(im, 0);
        dispatch(im);
        wait_wake(im);
    }
    reap(im, 1);
    cv_health_forget(im);
    return CV_OK;
}
