/*
 * migrate.h - versioned SQL migrations embedded in the binary.
 *
 * migrations/NNNN_name.sql are compiled in (CMake generates the table).
 * Each applies once, in order, in its own transaction, recorded in
 * conveyor.schema_migrations; a session advisory lock serialises concurrent
 * runs (two pods starting at once). Running it again changes nothing.
 */
#ifndef CV_MIGRATE_H
#define CV_MIGRATE_H

#include <libpq-fe.h>

struct cv_migration {
    const char *name; /* "0001_conveyor_engine" */
    const char *sql;
};

extern const struct cv_migration cv_migrations[]; /* ends with {NULL} */

/* Applies pending migrations; *applied counts them. Returns CV_OK or CV_ERR
 * with the failing migration's name and Postgres' message in errstr. */
int cv_migrate(PGconn *conn, int *applied, char *errstr, size_t errstr_size);

#endif
