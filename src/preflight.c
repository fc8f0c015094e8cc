/*
 * preflight.c - the start-up check of `conveyor run` (preflight.h).
 *
 * libpq reports a failed connection as text only (no SQLSTATE reaches the
 * client before the session exists), so permanent causes are recognised by
 * the server's and libpq's messages. They are matched in English, the
 * language of libpq's own messages and of a server's default lc_messages;
 * an unrecognised message counts as transient, so a translated one only
 * costs the retrying that every failure cost before this check existed.
 */
#include "preflight.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "migrate.h"
#include "pg.h"
#include "sqlparam.h"
#include "sqlroute.h"

int cv_preflight_permanent(const char *message)
{
    static const char *const permanent[] = {
        "password authentication failed",
        "authentication failed for user", /* peer, ident, cert, ... */
        "no password supplied",
        "fe_sendauth",
        "no pg_hba.conf entry",
        "does not exist", /* database "x" / role "x" does not exist */
        "invalid connection option",
        "invalid URI",
        "invalid integer value",
        "invalid sslmode value",
        "missing \"=\" after",
        "unterminated quoted string",
        "not permitted to log in",
        "permission denied for database",
        "server does not support SSL, but SSL was required",
    };

    for (size_t i = 0; i < CV_ARRAY_SIZE(permanent); i++)
        if (strstr(message, permanent[i]))
            return 1;
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The migrations of this binary the database lacks: how many, and the
 * first one's name into first. */
static int missing_migrations(PGconn *conn, int *missing, char *first,
                              size_t first_size, char *errstr,
                              size_t errstr_size)
{
    PGresult *res = PQexec(conn, "SELECT to_regclass("
                                 "'conveyor.schema_migrations') IS NOT NULL");
    int have_table;

    *missing = 0;
    first[0] = '\0';
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cv_err(errstr, errstr_size, "reading the migrations: %s",
               res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        return CV_ERR;
    }
    have_table = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    for (const struct cv_migration *m = cv_migrations; m->name; m++) {
        const char *params[1] = {m->name};
        int found = 0;
        if (have_table) {
            res = PQexecParams(conn,
                               "SELECT 1 FROM conveyor.schema_migrations "
                               "WHERE version = $1",
                               1, NULL, params, NULL, NULL, 0);
            if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
                cv_err(errstr, errstr_size, "reading the migrations: %s",
                       res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
                PQclear(res);
                return CV_ERR;
            }
            found = PQntuples(res) > 0;
            PQclear(res);
        }
        if (!found && !(*missing)++)
            snprintf(first, first_size, "%s", m->name);
    }
    return CV_OK;
}

/* Version and migrations, on a live connection. */
static int check(struct cv_pg *pg, char *errstr, size_t errstr_size)
{
    PGconn *conn = cv_pg_conn(pg);
    int version = PQserverVersion(conn), missing;
    char first[128];

    if (version < CV_PG_MIN_VERSION) {
        cv_err(errstr, errstr_size,
               "Postgres %d.%d at %s is not supported: Conveyor needs %d or "
               "later",
               version / 10000, version % 10000, cv_pg_describe(pg),
               CV_PG_MIN_VERSION / 10000);
        return CV_ERR;
    }
    if (missing_migrations(conn, &missing, first, sizeof(first), errstr,
                           errstr_size) != CV_OK)
        return CV_ERR;
    if (missing) {
        cv_err(errstr, errstr_size,
               "the database at %s lacks %d of this binary's migrations "
               "(the first: %s): run `conveyor migrate` first",
               cv_pg_describe(pg), missing, first);
        return CV_ERR;
    }
    return CV_OK;
}

/* Every declared statement prepared (not run) on a live connection. */
static int prepare_sql(struct cv_pg *pg, const struct cv_topology *t,
                       const struct cv_catalogue *cat, char *errstr,
                       size_t errstr_size)
{
    PGconn *conn = cv_pg_conn(pg);

    for (size_t i = 0; i < t->ndomains; i++)
        for (size_t k = 0; k < t->domains[i].nroutes; k++) {
            const struct cv_topo_route *rt = &t->domains[i].routes[k];
            if (rt->decl && cv_sqlroute_prepare(rt->decl, conn, cat, t->path,
                                                errstr, errstr_size) != CV_OK)
                return CV_ERR;
        }
    for (size_t i = 0; i < t->nimports; i++) {
        const struct cv_topo_import *im = &t->imports[i];
        PGresult *res;
        char why[600];

        if (!im->sink)
            continue;
        res = PQprepare(conn, "", im->sink->sql, 0, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            const char *msg =
                res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
            snprintf(why, sizeof(why), "%s", msg ? msg : PQerrorMessage(conn));
            why[strcspn(why, "\n")] = '\0';
            PQclear(res);
            return cv_err(errstr, errstr_size,
                          "%s:%d: import '%s': sql does not prepare: %s",
                          t->path ? t->path : "topology", im->sql_line,
                          im->name, why);
        }
        PQclear(res);
    }
    return CV_OK;
}

int cv_preflight_run(const struct cv_config *cfg,
                     const struct cv_topology *topo,
                     const struct cv_catalogue *cat, int (*stopped)(void),
                     char *errstr, size_t errstr_size)
{
    char why[1024];
    int64_t delay = 100;
    struct cv_pg *pg;
    int rc;

    for (int attempt = 1;; attempt++) {
        if (stopped())
            return CV_NULL;
        pg = cv_pg_connect(cfg->pg_conninfo, "conveyor/preflight",
                           cfg->pg_connect_timeout_s, why, sizeof(why));
        if (pg)
            break;
        if (cv_preflight_permanent(why)) {
            cv_err(errstr, errstr_size, "%s (not retried: a wrong setting)",
                   why);
            return CV_ERR;
        }
        cv_warn("Postgres unavailable (attempt %d), retrying in %lldms: %s",
                attempt, (long long)delay, why);
        /* sleep in short steps, so a signal ends the wait at once */
        for (int64_t slept = 0; slept < delay && !stopped(); slept += 100)
            sleep_ms(100);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    rc = check(pg, errstr, errstr_size);
    if (rc == CV_OK && topo)
        rc = prepare_sql(pg, topo, cat, errstr, errstr_size);
    cv_pg_destroy(pg);
    return rc;
}
