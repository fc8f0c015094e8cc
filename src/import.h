/*
 * import.h - the importer: reads the files that conveyor.imports requests
 * name (a domain's SQL writes the request in its batch transaction, as it
 * would an effect), in chunks of rows, outside any transaction.
 *
 * A dispatcher thread (in every `conveyor run` that runs the effect
 * runner) looks for claimable imports every second and on NOTIFY
 * conveyor_imports, and starts a worker thread per import it can take, up
 * to each importer's concurrency across every process (claims count the
 * workers holding an import's session lock). A worker streams the file
 * (file://, or http(s):// with Range: bytes=N- to resume; never whole in
 * memory), feeds the CSV reader (import_csv.h), validates each row
 * (required columns, email columns, UTF-8), and commits every chunk_rows
 * rows in one transaction with the import's progress (import_store.h): the
 * network is never read while that transaction is open. At the end the
 * outcome event goes out through the outbox in the last chunk's
 * transaction. Transient errors (5xx, 429, a lost connection) make the
 * import pending again after a backoff, up to max_attempts; permanent ones
 * (404, 401, a header without a required column) fail it with its outcome.
 * A stalled transfer is not judged here: retryStalledUploads moves the
 * import's generation on, the worker sees it at its next heartbeat (every
 * 2 s) and lets go, and another worker resumes from the last chunk.
 */
#ifndef CV_IMPORT_H
#define CV_IMPORT_H

#include <stdatomic.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

struct cv_importer;

/* cfg, topo (checked: sinks compiled) and cat must outlive it. */
struct cv_importer *cv_importer_new(const struct cv_config *cfg,
                                    const struct cv_topology *topo,
                                    const struct cv_catalogue *cat);
/* Runs until *stop is set, then stops its workers (each ends its chunk's
 * transaction or rolls it back) and joins them. Returns CV_OK. */
int cv_importer_run(struct cv_importer *im, atomic_int *stop);
void cv_importer_destroy(struct cv_importer *im);

/* ---- one import (import_run.c), for the dispatcher's workers ---- */
struct cv_pg;
struct cv_import_claim;

/*
 * Runs a claimed import on the worker's connection until it is done,
 * failed, released for a later attempt, taken away, or *stop is set.
 * holder names the worker in logs.
 */
void cv_import_run(const struct cv_topology *topo,
                   const struct cv_catalogue *cat,
                   const struct cv_topo_import *def, struct cv_pg *pg,
                   const struct cv_import_claim *claim, atomic_int *stop);

/* 1 if s looks like an email address (what a row's email column must
 * hold): one '@', a local part and a dotted domain, no spaces. */
int cv_import_email_ok(const char *s);

#endif
