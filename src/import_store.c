/*
 * import_store.c - the statements on conveyor.imports and
 * conveyor.import_errors (import_store.h).
 *
 * Plain statements on the worker's own connection, outside pipeline mode:
 * a chunk is a handful of round trips per thousand rows, and the worker
 * waits for nothing else meanwhile. The sink is planned with its arrays
 * (cv_pg_exec_planned): its best plan depends on how many rows there are.
 */
#include "import_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_CLASS_S "731820412"

void cv_import_claim_clear(struct cv_import_claim *c)
{
    free(c->key);
    free(c->source);
    free(c->context);
    free(c->outcome_type);
    free(c->outcome_key);
    free(c->source_event_id);
    for (size_t i = 0; i < c->nheader; i++)
        free(c->header[i]);
    free(c->header);
    memset(c, 0, sizeof(*c));
}

/* The import's session lock is held by some worker. */
#define HELD                                                                   \
    "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"           \
    " AND l.classid = " LOCK_CLASS_S " AND l.objid = i.id::oid"                \
    " AND l.objsubid = 2 AND l.granted)"

int cv_import_store_claimable(struct cv_pg *pg, const char *importer,
                              int64_t *n, struct cv_pg_error *err)
{
    const char *p[] = {importer};
    PGresult *res = cv_pg_exec(
        pg,
        "SELECT count(*) FROM conveyor.imports i WHERE i.importer = $1"
        " AND i.state IN ('pending', 'running') AND i.next_attempt_at <= now()"
        " AND NOT " HELD,
        1, p, err);

    if (!res)
        return CV_ERR;
    *n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return CV_OK;
}

/*
 * A Postgres text[] literal's elements ({a,"b c",NULL}), as parsed by
 * hand: the header row, stored once read.
 */
static void parse_text_array(const char *s, char ***out, size_t *n)
{
    size_t cap = 8;
    char *buf = cv_malloc(strlen(s) + 1);

    *out = cv_calloc(cap, sizeof(**out));
    *n = 0;
    if (*s++ != '{')
        goto out;
    while (*s && *s != '}') {
        size_t len = 0;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1])
                    s++;
                buf[len++] = *s;
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ',' && *s != '}')
                buf[len++] = *s++;
        }
        buf[len] = '\0';
        if (*n == cap)
            *out = cv_realloc(*out, (cap *= 2) * sizeof(**out));
        (*out)[(*n)++] = cv_strdup(buf);
        if (*s == ',')
            s++;
    }
out:
    free(buf);
}

static char *dup_or_null(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : cv_strdup(PQgetvalue(res, 0, col));
}

int cv_import_store_claim(struct cv_pg *pg, const char *importer,
                          int concurrency, const char *holder,
                          struct cv_import_claim *c, struct cv_pg_error *err)
{
    char conc[16], id[24];
    PGresult *res = NULL;
    int rc = CV_ERR;

    memset(c, 0, sizeof(*c));
    snprintf(conc, sizeof(conc), "%d", concurrency);
    if (cv_pg_command(pg, "BEGIN", 0, NULL, err) != CV_OK)
        return CV_ERR;
    /* one claim at a time, everywhere: the count below stays true */
    if (cv_pg_command(pg, "SELECT pg_advisory_xact_lock(" LOCK_CLASS_S ", 0)",
                      0, NULL, err) != CV_OK)
        goto out;
    {
        const char *p[] = {importer, conc};
        res = cv_pg_exec(
            pg,
            "SELECT i.id FROM conveyor.imports i"
            " WHERE i.importer = $1 AND i.state IN ('pending', 'running')"
            " AND i.next_attempt_at <= now() AND NOT " HELD
            " AND (SELECT count(*) FROM conveyor.imports i WHERE"
            " i.importer = $1 AND " HELD ") < $2::int"
            " ORDER BY i.next_attempt_at, i.id LIMIT 1",
            2, p, err);
    }
    if (!res)
        goto out;
    if (PQntuples(res) == 0) {
        rc = CV_OK; /* nothing to take, or enough running */
        goto out;
    }
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    {
        const char *p[] = {id};
        res = cv_pg_exec(
            pg, "SELECT pg_try_advisory_lock(" LOCK_CLASS_S ", $1::int)", 1, p,
            err);
    }
    if (!res)
        goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        rc = CV_OK; /* a worker that is going away still holds it */
        goto out;
    }
    PQclear(res);
    {
        const char *p[] = {id, holder};
        res = cv_pg_exec(
            pg,
            "UPDATE conveyor.imports SET state = 'running',"
            " starts = starts + 1, holder = $2,"
            " started_at = coalesce(started_at, now()), progress_at = now()"
            " WHERE id = $1 RETURNING generation, idempotency_key, source,"
            " context::text, outcome_type, outcome_key, source_event_id,"
            " header, byte_offset, line, rows_ok, rows_bad, failures",
            2, p, err);
    }
    if (!res || PQntuples(res) != 1) {
        cv_import_store_unlock(pg, strtoll(id, NULL, 10));
        goto out;
    }
    c->id = strtoll(id, NULL, 10);
    c->generation = atoi(PQgetvalue(res, 0, 0));
    c->key = dup_or_null(res, 1);
    c->source = dup_or_null(res, 2);
    c->context = dup_or_null(res, 3);
    c->outcome_type = dup_or_null(res, 4);
    c->outcome_key = dup_or_null(res, 5);
    c->source_event_id = dup_or_null(res, 6);
    if (!PQgetisnull(res, 0, 7))
        parse_text_array(PQgetvalue(res, 0, 7), &c->header, &c->nheader);
    c->offset = strtoll(PQgetvalue(res, 0, 8), NULL, 10);
    c->line = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
    c->rows_ok = strtoll(PQgetvalue(res, 0, 10), NULL, 10);
    c->rows_bad = strtoll(PQgetvalue(res, 0, 11), NULL, 10);
    c->failures = atoi(PQgetvalue(res, 0, 12));
    rc = CV_OK;
out:
    PQclear(res);
    if (rc == CV_OK && cv_pg_command(pg, "COMMIT", 0, NULL, err) != CV_OK) {
        if (c->id)
            cv_import_store_unlock(pg, c->id);
        cv_import_claim_clear(c);
        return CV_ERR;
    }
    if (rc != CV_OK) {
        cv_import_store_rollback(pg);
        cv_import_claim_clear(c);
    }
    return rc;
}

void cv_import_store_unlock(struct cv_pg *pg, int64_t id)
{
    struct cv_pg_error err;
    char s[24];
    const char *p[] = {s};

    snprintf(s, sizeof(s), "%lld", (long long)id);
    cv_pg_command(pg, "SELECT pg_advisory_unlock(" LOCK_CLASS_S ", $1::int)", 1,
                  p, &err);
}

int cv_import_store_heartbeat(struct cv_pg *pg, int64_t id, int generation,
                              int moved, int64_t size, int *ours,
                              struct cv_pg_error *err)
{
    char sid[24], gen[16], sz[24];
    const char *p[] = {sid, gen, moved ? "true" : "false",
                       size >= 0 ? sz : NULL};
    PGresult *res;

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    snprintf(gen, sizeof(gen), "%d", generation);
    snprintf(sz, sizeof(sz), "%lld", (long long)size);
    res = cv_pg_exec(pg,
                     "UPDATE conveyor.imports SET progress_at = CASE WHEN"
                     " $3::boolean THEN now() ELSE progress_at END,"
                     " size_bytes = coalesce($4::bigint, size_bytes)"
                     " WHERE id = $1 AND generation = $2 AND state = 'running'"
                     " RETURNING 1",
                     4, p, err);
    if (!res)
        return CV_ERR;
    *ours = PQntuples(res) == 1;
    PQclear(res);
    return CV_OK;
}

int cv_import_store_begin(struct cv_pg *pg, int64_t id, int generation,
                          struct cv_pg_error *err)
{
    char sid[24], gen[16];
    const char *p[] = {sid, gen};
    PGresult *res;
    int ours;

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    snprintf(gen, sizeof(gen), "%d", generation);
    if (cv_pg_command(pg, "BEGIN", 0, NULL, err) != CV_OK)
        return CV_ERR;
    res = cv_pg_exec(pg,
                     "SELECT 1 FROM conveyor.imports WHERE id = $1"
                     " AND generation = $2 AND state = 'running' FOR UPDATE",
                     2, p, err);
    if (!res) {
        cv_import_store_rollback(pg);
        return CV_ERR;
    }
    ours = PQntuples(res) == 1;
    PQclear(res);
    if (!ours) {
        cv_import_store_rollback(pg);
        return CV_NULL;
    }
    return CV_OK;
}

int cv_import_store_sink(struct cv_pg *pg, const char *sql, int nparams,
                         const char *const *params, struct cv_pg_array *lines,
                         struct cv_pg_array *reasons, struct cv_pg_array *raws,
                         int64_t *refused, struct cv_pg_error *err)
{
    PGresult *res = cv_pg_exec_planned(pg, sql, nparams, params, err);

    *refused = 0;
    if (!res)
        return CV_ERR;
    /* rows it returns are rows it refused: (line, reason) */
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) >= 2)
        for (int i = 0; i < PQntuples(res); i++) {
            cv_pg_array_add(lines, PQgetvalue(res, i, 0));
            cv_pg_array_add(reasons, PQgetisnull(res, i, 1)
                                         ? "refused by the sink"
                                         : PQgetvalue(res, i, 1));
            cv_pg_array_add_nullable(raws, NULL);
            (*refused)++;
        }
    PQclear(res);
    return CV_OK;
}

int cv_import_store_errors(struct cv_pg *pg, int64_t id,
                           const struct cv_pg_array *lines,
                           const struct cv_pg_array *reasons,
                           const struct cv_pg_array *raws,
                           struct cv_pg_error *err)
{
    char sid[24];
    const char *p[] = {sid, lines->buf, reasons->buf, raws->buf};
    PGresult *res;

    if (!lines->buf)
        return CV_OK;
    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    res = cv_pg_exec_planned(
        pg,
        "INSERT INTO conveyor.import_errors (import_id, line, reason, raw)"
        " SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[])"
        " ON CONFLICT (import_id, line) DO NOTHING",
        4, p, err);
    if (!res)
        return CV_ERR;
    PQclear(res);
    return CV_OK;
}

int cv_import_store_progress(struct cv_pg *pg, int64_t id, int64_t offset,
                             int64_t line, int64_t add_ok, int64_t add_bad,
                             const char *header, int done,
                             struct cv_pg_error *err)
{
    char sid[24], off[24], ln[24], ok[24], bad[24];
    const char *p[] = {sid, off, ln, ok, bad, header, done ? "true" : "false"};

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    snprintf(ln, sizeof(ln), "%lld", (long long)line);
    snprintf(ok, sizeof(ok), "%lld", (long long)add_ok);
    snprintf(bad, sizeof(bad), "%lld", (long long)add_bad);
    return cv_pg_command(
        pg,
        "UPDATE conveyor.imports SET byte_offset = $2, line = $3,"
        " rows_ok = rows_ok + $4, rows_bad = rows_bad + $5,"
        " chunks = chunks + 1, header = coalesce(header, $6::text[]),"
        " progress_at = now(),"
        " state = CASE WHEN $7::boolean THEN 'done' ELSE state END,"
        " finished_at = CASE WHEN $7::boolean THEN now() END"
        " WHERE id = $1",
        7, p, err);
}

int cv_import_store_outbox(struct cv_pg *pg, const char *topic,
                           const char *event_id, const char *event_type,
                           const char *key, const char *value, size_t len,
                           struct cv_pg_error *err)
{
    static const char hex[] = "0123456789abcdef";
    char *v = cv_malloc(len * 2 + 3), *k = NULL, when[24];
    int rc;

    /* bytea in hex text form: \x...; the key likewise */
    v[0] = '\\';
    v[1] = 'x';
    for (size_t i = 0; i < len; i++) {
        v[2 + 2 * i] = hex[(unsigned char)value[i] >> 4];
        v[3 + 2 * i] = hex[(unsigned char)value[i] & 15];
    }
    v[2 + 2 * len] = '\0';
    if (key && *key) {
        size_t kl = strlen(key);
        k = cv_malloc(kl * 2 + 3);
        k[0] = '\\';
        k[1] = 'x';
        for (size_t i = 0; i < kl; i++) {
            k[2 + 2 * i] = hex[(unsigned char)key[i] >> 4];
            k[3 + 2 * i] = hex[(unsigned char)key[i] & 15];
        }
        k[2 + 2 * kl] = '\0';
    }
    snprintf(when, sizeof(when), "%lld", (long long)cv_wall_ms());
    {
        const char *p[] = {topic, k, v, event_id, event_type, when};
        rc = cv_pg_command(
            pg,
            "INSERT INTO conveyor.outbox (topic, key, value, event_id,"
            " event_type, source, event_time) VALUES ($1, $2::bytea,"
            " $3::bytea, $4, $5, 'conveyor/imports', $6::bigint)",
            6, p, err);
    }
    if (rc == CV_OK)
        rc = cv_pg_command(pg, "SELECT pg_notify('conveyor_outbox', 'imports')",
                           0, NULL, err);
    free(v);
    free(k);
    return rc;
}

int cv_import_store_failed(struct cv_pg *pg, int64_t id, const char *error,
                           struct cv_pg_error *err)
{
    char sid[24];
    const char *p[] = {sid, error};

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    return cv_pg_command(pg,
                         "UPDATE conveyor.imports SET state = 'failed',"
                         " finished_at = now(), last_error = $2 WHERE id = $1",
                         2, p, err);
}

int cv_import_store_commit(struct cv_pg *pg, struct cv_pg_error *err)
{
    if (cv_pg_command(pg, "COMMIT", 0, NULL, err) != CV_OK) {
        cv_import_store_rollback(pg);
        return CV_ERR;
    }
    return CV_OK;
}

void cv_import_store_rollback(struct cv_pg *pg)
{
    struct cv_pg_error err;
    cv_pg_command(pg, "ROLLBACK", 0, NULL, &err);
}

int cv_import_store_retry_later(struct cv_pg *pg, int64_t id, int generation,
                                int64_t delay_ms, const char *error,
                                struct cv_pg_error *err)
{
    char sid[24], gen[16], delay[24];
    const char *p[] = {sid, gen, delay, error};
    PGresult *res;
    int n;

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    snprintf(gen, sizeof(gen), "%d", generation);
    snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
    res = cv_pg_exec(pg,
                     "UPDATE conveyor.imports SET state = 'pending',"
                     " failures = failures + 1, last_error = $4,"
                     " next_attempt_at = now() + make_interval(secs =>"
                     " $3::bigint / 1000.0)"
                     " WHERE id = $1 AND generation = $2 AND state = 'running'"
                     " RETURNING 1",
                     4, p, err);
    if (!res)
        return CV_ERR;
    n = PQntuples(res);
    PQclear(res);
    return n == 1 ? CV_OK : CV_NULL;
}
