/*
 * pg.h - Postgres connections, prepared statements and pipeline mode.
 *
 * The engine spends its time waiting on Postgres, so this module is about
 * round trips: every statement is prepared once per connection (by its SQL
 * text) and a batch is sent as a pipeline whose results are read in one go
 * at a sync point. Errors are translated here: each carries the SQLSTATE,
 * and cv_pg_retriable() classifies it (classes 08 and 40, shutdowns).
 *
 * A struct cv_pg belongs to one thread.
 */
#ifndef CV_PG_H
#define CV_PG_H

#include <libpq-fe.h>

#include "common.h"

struct cv_pg;

/* The first error of a pipeline or a statement. */
struct cv_pg_error {
    int tag;          /* the tag of the statement that failed, -1 if none */
    char sqlstate[6]; /* "" if the connection itself failed */
    char message[512];
    char context[256]; /* where it happened (PG_DIAG_CONTEXT), or "" */
};

/*
 * conninfo: a URL or key=value string ("" = libpq's environment defaults).
 * The password is never logged: use cv_pg_describe() for log lines.
 */
struct cv_pg *cv_pg_connect(const char *conninfo, const char *app_name,
                            int connect_timeout_s, char *errstr,
                            size_t errstr_size);
void cv_pg_destroy(struct cv_pg *pg);
PGconn *cv_pg_conn(struct cv_pg *pg);
/* "host=... port=... dbname=... user=..." of a live connection. */
const char *cv_pg_describe(struct cv_pg *pg);
/* True if the connection is usable. */
int cv_pg_ok(struct cv_pg *pg);
/* Fills err (may be NULL) with the connection's last error, as if the
 * statement tagged tag had failed with it: no SQLSTATE, one line. */
void cv_pg_conn_error(struct cv_pg *pg, struct cv_pg_error *err, int tag);

/* SQLSTATEs the engine acts on by name. */
#define CV_SQLSTATE_UNIQUE         "23505" /* unique_violation */
#define CV_SQLSTATE_LOCK_TIMEOUT   "55P03" /* lock_not_available */
#define CV_SQLSTATE_QUERY_CANCELED "57014" /* statement_timeout, cancel */
#define CV_SQLSTATE_FENCED         "CV001" /* conveyor.advance_offsets() */

/* 1 if the SQLSTATE (or "" = connection lost) is worth retrying. */
int cv_pg_retriable(const char *sqlstate);

/* 1 if the error is the connection's (class 08, or "" = lost), not the
 * statement's: no statement, and so no event, is to blame. */
int cv_pg_connection_error(const char *sqlstate);

/*
 * 1 if the statement waited too long, for a lock (lock_timeout) or as a
 * whole (statement_timeout): Postgres was slow or blocked, which is no
 * event's fault. The batch is retried as it is; no attempt is counted.
 */
int cv_pg_waited_too_long(const char *sqlstate);

/*
 * Runs one statement now (not in pipeline mode), prepared by its text.
 * Returns the result (caller PQclear()s) or NULL with err filled in.
 */
PGresult *cv_pg_exec(struct cv_pg *pg, const char *sql, int nparams,
                     const char *const *params, struct cv_pg_error *err);
/* Runs one statement now, unprepared (see cv_pg_pipe_send_planned()). */
PGresult *cv_pg_exec_planned(struct cv_pg *pg, const char *sql, int nparams,
                             const char *const *params,
                             struct cv_pg_error *err);
/* Same as cv_pg_exec, for statements whose result is not needed. */
int cv_pg_command(struct cv_pg *pg, const char *sql, int nparams,
                  const char *const *params, struct cv_pg_error *err);

/*
 * Pipeline: begin, send any number of statements, sync. A statement's tag
 * comes back in cv_pg_error.tag if it is the first to fail; after a failure
 * Postgres skips everything up to the sync (and an open transaction stays
 * aborted until ROLLBACK: cv_pg_pipe_sync() rolls it back for you).
 */
int cv_pg_pipe_begin(struct cv_pg *pg);
/* lengths/formats may be NULL (all text). Returns CV_ERR only if libpq
 * could not queue it (connection lost). */
int cv_pg_pipe_send(struct cv_pg *pg, int tag, const char *sql, int nparams,
                    const char *const *values, const int *lengths,
                    const int *formats);
/*
 * Like cv_pg_pipe_send(), but not prepared: planned with its parameters on
 * every execution. For the few set-based statements per batch (inbox
 * look-up, multi-row inserts) whose best plan depends on the data: a
 * generic plan cached while a table was empty may scan it forever after.
 */
int cv_pg_pipe_send_planned(struct cv_pg *pg, int tag, const char *sql,
                            int nparams, const char *const *values);
/*
 * Hands everything queued so far to the server without waiting for results,
 * so that Postgres works on it while the caller prepares what comes next.
 * (libpq otherwise holds up to 64 KiB until the sync.) Returns CV_ERR if
 * the connection failed.
 */
int cv_pg_pipe_push(struct cv_pg *pg);
typedef void (*cv_pg_rows_cb)(void *opaque, int tag, PGresult *res);
/*
 * Sends a sync point and reads every result up to it. Row results are
 * handed to on_rows (may be NULL; the callback must not keep res). Returns
 * CV_OK if every statement succeeded, else CV_ERR with the first error.
 * If a transaction is left open and aborted, it is rolled back.
 */
int cv_pg_pipe_sync(struct cv_pg *pg, cv_pg_rows_cb on_rows, void *opaque,
                    struct cv_pg_error *err);
/*
 * Reads the results of everything sent so far without ending the pipeline
 * (a flush request), handing rows to on_rows. For a handler that needs an
 * answer mid-batch. Returns CV_ERR at the first error (the rest of the
 * pipeline is then aborted until the sync).
 */
int cv_pg_pipe_read(struct cv_pg *pg, cv_pg_rows_cb on_rows, void *opaque,
                    struct cv_pg_error *err);
/* Leaves pipeline mode (after a sync). */
int cv_pg_pipe_end(struct cv_pg *pg);

/*
 * Fault injection for tests, SQLite style: when set, the hook is asked
 * before each statement is queued in a pipeline, with the number of such
 * statements the process has queued so far, this one included (1, 2, ...).
 * If it returns a SQLSTATE (five characters, digits and capitals), that
 * statement is replaced by one that fails on the server with it, under the
 * same tag, so a test can fail each statement of the commit path in turn
 * without taking Postgres down. NULL (the default) costs one comparison;
 * only the test binary sets it (tests/testkit/faults.c), before any thread
 * starts.
 */
typedef const char *(*cv_pg_fault_fn)(uint64_t nth);
extern cv_pg_fault_fn cv_pg_fault_hook;

/*
 * A Postgres array literal being built ("{" ... "}"): one column of a
 * set-based statement. Zero-initialise it; buf is NULL until the first
 * element, which passes as SQL NULL. cv_pg_array_clear() empties it for
 * the next rows and keeps the buffer; cv_pg_array_free() releases it.
 */
struct cv_pg_array {
    char *buf;
    size_t len, cap;
};

/* Appends s, quoting as needed. */
void cv_pg_array_add(struct cv_pg_array *a, const char *s);
/* Appends NULL (s == NULL) or s. */
void cv_pg_array_add_nullable(struct cv_pg_array *a, const char *s);
/* Appends n bytes of s in bytea hex form. */
void cv_pg_array_add_bytea(struct cv_pg_array *a, const void *s, size_t n);
void cv_pg_array_clear(struct cv_pg_array *a);
void cv_pg_array_free(struct cv_pg_array *a);

#endif
