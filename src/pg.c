/*
 * pg.c - libpq with prepared statements and pipeline mode.
 *
 * Statements are prepared lazily, the first time a connection sees their SQL
 * text, under names s1, s2, ... In pipeline mode the Prepare message rides
 * in the same pipeline as its first Execute; a prepare that was skipped
 * because an earlier statement failed is forgotten and sent again next time.
 *
 * Results come back in the order the commands were queued. We keep that
 * order in `pend` (what each queued command was and its tag) and walk it when
 * reading: every prepare or execute yields one result and then a NULL; a
 * sync yields one PGRES_PIPELINE_SYNC and no NULL.
 *
 * This module knows nothing about batches or events; it only moves
 * statements and classifies errors.
 */
#include "pg.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum stmt_state { STMT_NONE = 0, STMT_PENDING, STMT_READY };

struct stmt {
    const char *sql_ptr; /* fast path: literal SQL texts keep their address */
    char *sql;
    uint64_t hash;
    char name[16];
    int state;
};

enum pend_kind { PEND_PREPARE, PEND_EXEC, PEND_SYNC };

struct pend {
    int kind;
    int tag;
    int stmt; /* index into stmts for PEND_PREPARE */
};

struct cv_pg {
    PGconn *conn;
    char describe[256];
    struct stmt *stmts;
    size_t nstmts, stmts_cap;
    struct pend *pend;
    size_t npend, pend_cap, pend_read;
    int failed; /* the pipeline saw an error since the last sync */
};

void cv_pg_conn_error(struct cv_pg *pg, struct cv_pg_error *err, int tag)
{
    if (!err)
        return;
    err->tag = tag;
    err->sqlstate[0] = '\0';
    err->context[0] = '\0';
    snprintf(err->message, sizeof(err->message), "%s",
             pg->conn ? PQerrorMessage(pg->conn) : "no connection");
    /* libpq messages end with a newline; logs want one line */
    size_t n = strlen(err->message);
    while (n && (err->message[n - 1] == '\n' || err->message[n - 1] == ' '))
        err->message[--n] = '\0';
}

static void set_result_error(const PGresult *res, struct cv_pg_error *err,
                             int tag)
{
    const char *state, *msg, *where;
    if (!err)
        return;
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    where = PQresultErrorField(res, PG_DIAG_CONTEXT);
    err->tag = tag;
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
    snprintf(err->message, sizeof(err->message), "%s",
             msg ? msg : PQresultErrorMessage(res));
    /* the first line of the context: "while updating tuple (0,7) in
     * relation \"partner_monthly_volume\"" for a row lock */
    snprintf(err->context, sizeof(err->context), "%.*s",
             where ? (int)strcspn(where, "\n") : 0, where ? where : "");
}

struct cv_pg *cv_pg_connect(const char *conninfo, const char *app_name,
                            int connect_timeout_s, char *errstr,
                            size_t errstr_size)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout",
                          NULL};
    char timeout[16];
    const char *vals[4];
    struct cv_pg *pg = cv_calloc(1, sizeof(*pg));

    snprintf(timeout, sizeof(timeout), "%d",
             connect_timeout_s > 0 ? connect_timeout_s : 10);
    vals[0] = conninfo && *conninfo ? conninfo : NULL;
    vals[1] = app_name;
    vals[2] = timeout;
    vals[3] = NULL;
    if (!vals[0]) {
        /* no dbname: shift so libpq takes everything from the environment */
        keys[0] = "application_name";
        keys[1] = "connect_timeout";
        keys[2] = NULL;
        vals[0] = app_name;
        vals[1] = timeout;
        vals[2] = NULL;
    }
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        const char *m = pg->conn ? PQerrorMessage(pg->conn) : "out of memory";
        size_t n = strlen(m);
        while (n && m[n - 1] == '\n')
            n--;
        cv_err(errstr, errstr_size, "cannot connect to Postgres: %.*s", (int)n,
               m);
        cv_pg_destroy(pg);
        return NULL;
    }
    snprintf(pg->describe, sizeof(pg->describe),
             "host=%s port=%s dbname=%s user=%s",
             PQhost(pg->conn) ? PQhost(pg->conn) : "",
             PQport(pg->conn) ? PQport(pg->conn) : "", PQdb(pg->conn),
             PQuser(pg->conn));
    return pg;
}

void cv_pg_destroy(struct cv_pg *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    for (size_t i = 0; i < pg->nstmts; i++)
        free(pg->stmts[i].sql);
    free(pg->stmts);
    free(pg->pend);
    free(pg);
}

PGconn *cv_pg_conn(struct cv_pg *pg)
{
    return pg->conn;
}

const char *cv_pg_describe(struct cv_pg *pg)
{
    return pg->describe;
}

int cv_pg_ok(struct cv_pg *pg)
{
    return pg && pg->conn && PQstatus(pg->conn) == CONNECTION_OK;
}

int cv_pg_waited_too_long(const char *sqlstate)
{
    return sqlstate && (strcmp(sqlstate, CV_SQLSTATE_LOCK_TIMEOUT) == 0 ||
                        strcmp(sqlstate, CV_SQLSTATE_QUERY_CANCELED) == 0);
}

int cv_pg_connection_error(const char *sqlstate)
{
    return !sqlstate || !*sqlstate || strncmp(sqlstate, "08", 2) == 0;
}

int cv_pg_retriable(const char *sqlstate)
{
    if (!sqlstate || !*sqlstate)
        return 1; /* the connection failed */
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "40", 2) == 0)
        return 1;
    /* admin shutdown, crash shutdown, cannot connect now, too many
     * connections, lock timeout, idle-in-transaction timeout */
    static const char *const more[] = {"57P01", "57P02", "57P03",
                                       "53300", "55P03", "25P03"};
    for (size_t i = 0; i < CV_ARRAY_SIZE(more); i++)
        if (strcmp(sqlstate, more[i]) == 0)
            return 1;
    return 0;
}

/* Finds or adds the cache slot for sql. */
static struct stmt *stmt_find(struct cv_pg *pg, const char *sql)
{
    uint64_t h = 0;
    for (size_t i = 0; i < pg->nstmts; i++)
        if (pg->stmts[i].sql_ptr == sql)
            return &pg->stmts[i];
    h = cv_hash_str(sql);
    for (size_t i = 0; i < pg->nstmts; i++)
        if (pg->stmts[i].hash == h && strcmp(pg->stmts[i].sql, sql) == 0)
            return &pg->stmts[i];
    if (pg->nstmts == pg->stmts_cap) {
        pg->stmts_cap = pg->stmts_cap ? pg->stmts_cap * 2 : 16;
        pg->stmts = cv_realloc(pg->stmts, pg->stmts_cap * sizeof(*pg->stmts));
    }
    struct stmt *s = &pg->stmts[pg->nstmts];
    memset(s, 0, sizeof(*s));
    s->sql_ptr = sql;
    s->sql = cv_strdup(sql);
    s->hash = h;
    snprintf(s->name, sizeof(s->name), "s%zu", ++pg->nstmts);
    return s;
}

/* res if the statement succeeded; else NULL with err filled in. */
static PGresult *checked(struct cv_pg *pg, PGresult *res,
                         struct cv_pg_error *err)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    if (res && PQresultErrorField(res, PG_DIAG_SQLSTATE))
        set_result_error(res, err, -1);
    else
        cv_pg_conn_error(pg, err, -1);
    PQclear(res);
    return NULL;
}

PGresult *cv_pg_exec(struct cv_pg *pg, const char *sql, int nparams,
                     const char *const *params, struct cv_pg_error *err)
{
    struct stmt *s = stmt_find(pg, sql);
    PGresult *res;

    if (s->state != STMT_READY) {
        res = PQprepare(pg->conn, s->name, sql, 0, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (res)
                set_result_error(res, err, -1);
            else
                cv_pg_conn_error(pg, err, -1);
            PQclear(res);
            return NULL;
        }
        PQclear(res);
        s->state = STMT_READY;
    }
    res = PQexecPrepared(pg->conn, s->name, nparams, params, NULL, NULL, 0);
    return checked(pg, res, err);
}

PGresult *cv_pg_exec_planned(struct cv_pg *pg, const char *sql, int nparams,
                             const char *const *params, struct cv_pg_error *err)
{
    return checked(
        pg, PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0),
        err);
}

int cv_pg_command(struct cv_pg *pg, const char *sql, int nparams,
                  const char *const *params, struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec(pg, sql, nparams, params, err);
    if (!res)
        return CV_ERR;
    PQclear(res);
    return CV_OK;
}

static void pend_push(struct cv_pg *pg, int kind, int tag, int stmt)
{
    if (pg->npend == pg->pend_cap) {
        pg->pend_cap = pg->pend_cap ? pg->pend_cap * 2 : 256;
        pg->pend = cv_realloc(pg->pend, pg->pend_cap * sizeof(*pg->pend));
    }
    pg->pend[pg->npend].kind = kind;
    pg->pend[pg->npend].tag = tag;
    pg->pend[pg->npend].stmt = stmt;
    pg->npend++;
}

int cv_pg_pipe_begin(struct cv_pg *pg)
{
    pg->npend = 0;
    pg->pend_read = 0;
    pg->failed = 0;
    if (PQpipelineStatus(pg->conn) == PQ_PIPELINE_ON)
        return CV_OK;
    return PQenterPipelineMode(pg->conn) ? CV_OK : CV_ERR;
}

cv_pg_fault_fn cv_pg_fault_hook;

/* Queues the statement the fault hook asks for in place of the next one,
 * if it does: returns 1 (queued), -1 (could not be), or 0 (no fault). */
static int fault(struct cv_pg *pg, int tag)
{
    static atomic_uint_fast64_t nth;
    const char *state = cv_pg_fault_hook(atomic_fetch_add(&nth, 1) + 1);
    char sql[128];

    if (!state || strlen(state) != 5 ||
        strspn(state, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5)
        return 0;
    /* a literal, not a parameter: RAISE takes no parameter in a DO block,
     * and the text was checked above */
    snprintf(sql, sizeof(sql),
             "DO $$BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = "
             "'%s'; END$$",
             state);
    if (!PQsendQueryParams(pg->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
        return -1;
    pend_push(pg, PEND_EXEC, tag, -1);
    return 1;
}

int cv_pg_pipe_send(struct cv_pg *pg, int tag, const char *sql, int nparams,
                    const char *const *values, const int *lengths,
                    const int *formats)
{
    struct stmt *s;
    int f = cv_pg_fault_hook ? fault(pg, tag) : 0;

    if (f)
        return f > 0 ? CV_OK : CV_ERR;
    s = stmt_find(pg, sql);
    if (s->state == STMT_NONE) {
        if (!PQsendPrepare(pg->conn, s->name, sql, 0, NULL))
            return CV_ERR;
        s->state = STMT_PENDING;
        pend_push(pg, PEND_PREPARE, tag, (int)(s - pg->stmts));
    }
    if (!PQsendQueryPrepared(pg->conn, s->name, nparams, values, lengths,
                             formats, 0))
        return CV_ERR;
    pend_push(pg, PEND_EXEC, tag, -1);
    return CV_OK;
}

int cv_pg_pipe_send_planned(struct cv_pg *pg, int tag, const char *sql,
                            int nparams, const char *const *values)
{
    int f = cv_pg_fault_hook ? fault(pg, tag) : 0;

    if (f)
        return f > 0 ? CV_OK : CV_ERR;
    if (!PQsendQueryParams(pg->conn, sql, nparams, NULL, values, NULL, NULL, 0))
        return CV_ERR;
    pend_push(pg, PEND_EXEC, tag, -1);
    return CV_OK;
}

int cv_pg_pipe_push(struct cv_pg *pg)
{
    return PQflush(pg->conn) == 0 ? CV_OK : CV_ERR;
}

/*
 * Reads the results of pend[pend_read .. upto). Returns CV_OK, or CV_ERR if
 * the connection failed (err filled in; nothing more can be read). Statement
 * errors are recorded in *first (first one only) and reading goes on.
 */
static int read_results(struct cv_pg *pg, size_t upto, cv_pg_rows_cb on_rows,
                        void *opaque, struct cv_pg_error *first)
{
    while (pg->pend_read < upto) {
        struct pend *p = &pg->pend[pg->pend_read];
        PGresult *res = PQgetResult(pg->conn);
        ExecStatusType st;

        if (!res) {
            cv_pg_conn_error(pg, first, p->tag);
            pg->failed = 1;
            return CV_ERR;
        }
        st = PQresultStatus(res);
        if (p->kind == PEND_SYNC) {
            if (st != PGRES_PIPELINE_SYNC) {
                PQclear(res);
                cv_pg_conn_error(pg, first, -1);
                pg->failed = 1;
                return CV_ERR;
            }
            PQclear(res);
            pg->pend_read++;
            continue;
        }
        if (p->kind == PEND_PREPARE)
            pg->stmts[p->stmt].state =
                st == PGRES_COMMAND_OK ? STMT_READY : STMT_NONE;
        if (st == PGRES_TUPLES_OK && on_rows)
            on_rows(opaque, p->tag, res);
        if (st == PGRES_FATAL_ERROR && !pg->failed) {
            set_result_error(res, first, p->tag);
            pg->failed = 1;
        }
        PQclear(res);
        /* each command's results end with a NULL */
        res = PQgetResult(pg->conn);
        while (res) {
            PQclear(res);
            res = PQgetResult(pg->conn);
        }
        pg->pend_read++;
    }
    return CV_OK;
}

int cv_pg_pipe_read(struct cv_pg *pg, cv_pg_rows_cb on_rows, void *opaque,
                    struct cv_pg_error *err)
{
    if (!PQsendFlushRequest(pg->conn) || PQflush(pg->conn) != 0) {
        cv_pg_conn_error(pg, err, -1);
        pg->failed = 1;
        return CV_ERR;
    }
    if (read_results(pg, pg->npend, on_rows, opaque, err) != CV_OK)
        return CV_ERR;
    return pg->failed ? CV_ERR : CV_OK;
}

int cv_pg_pipe_sync(struct cv_pg *pg, cv_pg_rows_cb on_rows, void *opaque,
                    struct cv_pg_error *err)
{
    struct cv_pg_error scratch;
    int rc;

    if (!err)
        err = &scratch;
    err->tag = -1;
    err->sqlstate[0] = '\0';
    err->message[0] = '\0';
    err->context[0] = '\0';
    if (!PQpipelineSync(pg->conn)) {
        cv_pg_conn_error(pg, err, -1);
        return CV_ERR;
    }
    pend_push(pg, PEND_SYNC, -1, -1);
    rc = read_results(pg, pg->npend, on_rows, opaque, err);
    if (rc != CV_OK)
        return CV_ERR;
    rc = pg->failed ? CV_ERR : CV_OK;
    pg->npend = pg->pend_read = 0;
    pg->failed = 0;
    if (PQtransactionStatus(pg->conn) == PQTRANS_INERROR ||
        (rc != CV_OK && PQtransactionStatus(pg->conn) == PQTRANS_INTRANS)) {
        /* leave no aborted transaction behind */
        if (PQsendQueryParams(pg->conn, "ROLLBACK", 0, NULL, NULL, NULL, NULL,
                              0) &&
            PQpipelineSync(pg->conn)) {
            struct cv_pg_error ignored;
            pend_push(pg, PEND_EXEC, -1, -1);
            pend_push(pg, PEND_SYNC, -1, -1);
            read_results(pg, pg->npend, NULL, NULL, &ignored);
        }
        pg->npend = pg->pend_read = 0;
        pg->failed = 0;
    }
    return rc;
}

int cv_pg_pipe_end(struct cv_pg *pg)
{
    if (PQpipelineStatus(pg->conn) == PQ_PIPELINE_OFF)
        return CV_OK;
    return PQexitPipelineMode(pg->conn) ? CV_OK : CV_ERR;
}

void cv_pg_array_add(struct cv_pg_array *a, const char *s)
{
    size_t need = a->len + 2 * strlen(s) + 8;
    if (need > a->cap) {
        a->cap = need * 2;
        a->buf = cv_realloc(a->buf, a->cap);
    }
    char *p = a->buf + a->len;
    if (a->len == 0)
        *p++ = '{';
    else
        p[-1] = ','; /* replace the closing brace */
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    *p++ = '}';
    *p = '\0';
    a->len = (size_t)(p - a->buf);
}

void cv_pg_array_add_nullable(struct cv_pg_array *a, const char *s)
{
    if (s) {
        cv_pg_array_add(a, s);
        return;
    }
    if (a->len + 8 > a->cap) {
        a->cap = (a->len + 8) * 2;
        a->buf = cv_realloc(a->buf, a->cap);
    }
    char *p = a->buf + a->len;
    if (a->len == 0)
        *p++ = '{';
    else
        p[-1] = ',';
    memcpy(p, "NULL}", 6);
    a->len = (size_t)(p - a->buf) + 5;
}

void cv_pg_array_add_bytea(struct cv_pg_array *a, const void *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = s;
    /* "\\x" + 2 hex digits a byte, quoted, as an array element */
    if (a->len + 2 * n + 16 > a->cap) {
        a->cap = (a->len + 2 * n + 16) * 2;
        a->buf = cv_realloc(a->buf, a->cap);
    }
    char *p = a->buf + a->len;
    if (a->len == 0)
        *p++ = '{';
    else
        p[-1] = ',';
    memcpy(p, "\"\\\\x", 4);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p++ = '"';
    *p++ = '}';
    *p = '\0';
    a->len = (size_t)(p - a->buf);
}

void cv_pg_array_clear(struct cv_pg_array *a)
{
    a->len = 0;
}

void cv_pg_array_free(struct cv_pg_array *a)
{
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
}
