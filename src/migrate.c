/*
 * migrate.c - applies the embedded migrations, once each, in order.
 *
 * Migration files contain DDL only, never values, so they run as simple
 * queries (several statements per file). The bookkeeping statements are
 * parameterised like every other statement in Conveyor.
 *
 * The session runs with client_min_messages = warning while it migrates:
 * the bookkeeping creates the conveyor schema before migration 0001 does
 * (IF NOT EXISTS), and Postgres' NOTICE about that, printed by libpq on
 * stderr, told a user of a fresh database nothing. Warnings and errors
 * still show; the session's own setting is put back afterwards.
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

/* Sets client_min_messages to value; its previous value into old. */
static int set_min_messages(PGconn *conn, const char *value, char *old,
                            size_t old_size)
{
    const char *params[1] = {value};
    PGresult *res;
    int ok;

    if (old) {
        res = PQexec(conn, "SELECT current_setting('client_min_messages')");
        ok = res && PQresultStatus(res) == PGRES_TUPLES_OK &&
             PQntuples(res) == 1;
        if (ok)
            snprintf(old, old_size, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        if (!ok)
            return CV_ERR;
    }
    res = PQexecParams(conn,
                       "SELECT set_config('client_min_messages', $1, false)", 1,
                       NULL, params, NULL, NULL, 0);
    ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return ok ? CV_OK : CV_ERR;
}

int cv_migrate(PGconn *conn, int *applied, char *errstr, size_t errstr_size)
{
    char why[1024], min_messages[64] = "";
    int rc = CV_ERR, locked = 0;
    const char *lock_params[1] = {MIGRATE_LOCK_KEY};
    PGresult *res;

    *applied = 0;
    if (set_min_messages(conn, "warning", min_messages, sizeof(min_messages)) !=
        CV_OK)
        min_messages[0] = '\0'; /* not fatal: the lock reports a dead link */
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
    if (min_messages[0])
        set_min_messages(conn, min_messages, NULL, 0);
    return rc;
}
