/*
 * import_store.h - every statement on conveyor.imports and
 * conveyor.import_errors (migrations/0011), one function each, on plain
 * values.
 *
 * A worker holds an import through a session advisory lock (class
 * CV_IMPORT_LOCK_CLASS, the import's id): it dies with the worker's
 * session, so a killed worker's import is free again at once. Every write
 * of a worker is fenced by the generation it claimed; an import taken
 * away (a stall resumed, an operator's retry) has another generation, and
 * the fenced writes change nothing.
 *
 * Functions take the worker's own connection (one per thread).
 */
#ifndef CV_IMPORT_STORE_H
#define CV_IMPORT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pg.h"
#include "topology.h"

#define CV_IMPORT_LOCK_CLASS 731820412 /* int4: (class, id) session locks */

/* An import as a worker claimed it. Strings are owned (free with
 * cv_import_claim_clear()). */
struct cv_import_claim {
    int64_t id;
    int generation;
    char *key, *source, *context, *outcome_type, *outcome_key;
    char *source_event_id;
    char **header; /* NULL until the header row was read */
    size_t nheader;
    int64_t offset, line, rows_ok, rows_bad;
    int failures;
};
void cv_import_claim_clear(struct cv_import_claim *c);

/* Imports of importer a worker could take now (pending and due, or
 * running without a worker). Returns CV_OK with *n, or CV_ERR. */
int cv_import_store_claimable(struct cv_pg *pg, const char *importer,
                              int64_t *n, struct cv_pg_error *err);

/*
 * Takes one import of importer for this session if fewer than concurrency
 * are held by workers anywhere (claims are serialised by a transaction
 * lock), holder naming the worker. Returns CV_OK with c->id > 0 when one
 * was taken (its session lock held), c->id == 0 when none; CV_ERR.
 */
int cv_import_store_claim(struct cv_pg *pg, const char *importer,
                          int concurrency, const char *holder,
                          struct cv_import_claim *c, struct cv_pg_error *err);
/* Releases the session lock of import id. */
void cv_import_store_unlock(struct cv_pg *pg, int64_t id);

/*
 * Still this worker's? Marks progress when bytes arrived since the last
 * call (moved), and the object's size when known (size >= 0). *ours = 0
 * when the import was taken away. Returns CV_OK or CV_ERR.
 */
int cv_import_store_heartbeat(struct cv_pg *pg, int64_t id, int generation,
                              int moved, int64_t size, int *ours,
                              struct cv_pg_error *err);

/*
 * A chunk's transaction, step by step (import_run.c sequences them):
 * begin takes the import's row lock after checking it is still this
 * worker's (CV_NULL: taken away, rolled back); sink runs the importer's
 * statement and appends the rows it refused (line, reason) to the bad-row
 * arrays; errors records bad rows; progress moves the import on (and ends
 * it, done); outbox queues an event; commit or rollback ends it.
 * Each returns CV_OK or CV_ERR with err (then roll back).
 */
int cv_import_store_begin(struct cv_pg *pg, int64_t id, int generation,
                          struct cv_pg_error *err);
int cv_import_store_sink(struct cv_pg *pg, const char *sql, int nparams,
                         const char *const *params, struct cv_pg_array *lines,
                         struct cv_pg_array *reasons, struct cv_pg_array *raws,
                         int64_t *refused, struct cv_pg_error *err);
int cv_import_store_errors(struct cv_pg *pg, int64_t id,
                           const struct cv_pg_array *lines,
                           const struct cv_pg_array *reasons,
                           const struct cv_pg_array *raws,
                           struct cv_pg_error *err);
int cv_import_store_progress(struct cv_pg *pg, int64_t id, int64_t offset,
                             int64_t line, int64_t add_ok, int64_t add_bad,
                             const char *header, int done,
                             struct cv_pg_error *err);
int cv_import_store_outbox(struct cv_pg *pg, const char *topic,
                           const char *event_id, const char *event_type,
                           const char *key, const char *value, size_t len,
                           struct cv_pg_error *err);
int cv_import_store_commit(struct cv_pg *pg, struct cv_pg_error *err);
void cv_import_store_rollback(struct cv_pg *pg);

/*
 * After a transient error: pending again after delay_ms, one more
 * failure counted, last_error set. Returns CV_OK (CV_NULL: taken away).
 */
int cv_import_store_retry_later(struct cv_pg *pg, int64_t id, int generation,
                                int64_t delay_ms, const char *error,
                                struct cv_pg_error *err);

/* Failed for good (inside begin/commit, with the outcome queued by
 * cv_import_store_outbox()). */
int cv_import_store_failed(struct cv_pg *pg, int64_t id, const char *error,
                           struct cv_pg_error *err);

#endif
