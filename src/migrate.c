/*
 * migrate.c - applies the embedded migrations, once each, in order.
 *
 * Migration files contain DDL only, never values, so they run as simple
 * queries (several statements per file). The bookkeeping statements are
 * parameterised like every other statement in Conveyor.
 */
#include "migrate.h"

#include <stdio.h>
#include <string.h>

#include "common.h"
#include "log.h"

/* An arbitrary constant: the advisory lock key of `conveyor migrate`. */
#define MIGRATE_LOCK_KEY "7318204116"

static int simple(PGconn *conn, const char *sql, char *errstr,
                  size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);
    int ok = res && (PQresultStatus(res) == PGRES_COMMAND_OK ||
                     PQresultStatus(res) == PGRES_TUPLES_OK);
    if (!ok)
        cv_err(errstr, errstr_size, "%s",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    return ok ? CV_OK : CV_ERR;
}

static int applied_already(PGconn *conn, const char *name, int *yes,
                           char *errstr, size_t errstr_size)
{
    const char *params[1] = {name};
    PGresult *res = PQexecParams(
        conn, "SELECT 1 FROM conveyor.schema_migrations WHERE version = $1", 1,
        NULL, params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cv_err(errstr, errstr_size, "%s",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        return CV_ERR;
    }
    *yes = PQntuples(res) > 0;
    PQclear(res);
    return CV_OK;
}

int cv_migrate(PGconn *conn, int *applied, char *errstr, size_t errstr_size)
{
    char why[1024];
    int rc = CV_ERR, locked = 0;
    const char *lock_params[1] = {MIGRATE_LOCK_KEY};
    PGresult *res;

    *applied = 0;
    res = PQexecParams(conn, "SELECT pg_advisory_lock($1::bigint)", 1, NULL,
                       lock_params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cv_err(errstr, errstr_size, "taking the migration lock: %s",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        goto out;
    }
    PQclear(res);
    locked = 1;

    if (simple(conn,
               "CREATE SCHEMA IF NOT EXISTS conveyor;"
               "CREATE TABLE IF NOT EXISTS conveyor.schema_migrations ("
               " version text PRIMARY KEY,"
               " applied_at timestamptz NOT NULL DEFAULT now())",
               why, sizeof(why)) != CV_OK) {
        cv_err(errstr, errstr_size, "creating conveyor.schema_migrations: %s",
               why);
        goto out;
    }

    for (const struct cv_migration *m = cv_migrations; m->name; m++) {
        int yes = 0;
        const char *params[1] = {m->name};
        if (applied_already(conn, m->name, &yes, why, sizeof(why)) != CV_OK) {
            cv_err(errstr, errstr_size, "%s: %s", m->name, why);
            goto out;
        }
        if (yes)
            continue;
        if (simple(conn, "BEGIN", why, sizeof(why)) != CV_OK ||
            simple(conn, m->sql, why, sizeof(why)) != CV_OK) {
            cv_err(errstr, errstr_size, "migration %s failed: %s", m->name,
                   why);
            simple(conn, "ROLLBACK", why, sizeof(why));
            goto out;
        }
        res = PQexecParams(
            conn,
            "INSERT INTO conveyor.schema_migrations (version) VALUES ($1)", 1,
            NULL, params, NULL, NULL, 0);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            cv_err(errstr, errstr_size, "recording migration %s: %s", m->name,
                   res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
            PQclear(res);
            simple(conn, "ROLLBACK", why, sizeof(why));
            goto out;
        }
        PQclear(res);
        if (simple(conn, "COMMIT", why, sizeof(why)) != CV_OK) {
            cv_err(errstr, errstr_size, "committing migration %s: %s", m->name,
                   why);
            goto out;
        }
        cv_info("applied migration %s", m->name);
        (*applied)++;
    }
    rc = CV_OK;
out:
    if (locked) {
        res = PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)", 1,
                           NULL, lock_params, NULL, NULL, 0);
        PQclear(res);
    }
    return rc;
}
