/*
 * sqlroute.c - declared SQL routes (sqlroute.h): compiled and checked with
 * the topology, prepared at start-up, run per event in the batch
 * transaction.
 *
 * Running one is what a handler would do through the handler API, without
 * the C: bind each named parameter from the event, queue the statement
 * (cv_txn_exec) or add the row to the set (cv_txn_rows_add), and for an
 * emit query read its rows and queue one outbox row each. So blame,
 * retries, dead letters and exactly-once are the consumer's, unchanged.
 * This module owns no connection and decides nothing about failures: a
 * statement's error surfaces when the batch syncs, as a handler's would.
 */
#include "sqlroute.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfgfile.h"
#include "codec.h"
#include "event.h"
#include "handler.h"
#include "sqlparam.h"
#include "txn.h"

/* The CloudEvents attributes and Kafka positions :ce.<name> may name. */
static const char *const ce_names[] = {
    "id",     "type",  "source",    "time",   "time_ms", "key",
    "tenant", "topic", "partition", "offset", "attempt", NULL};

enum stmt_kind { STMT_SQL, STMT_ROWS, STMT_EMIT };

struct stmt {
    int kind;    /* enum stmt_kind */
    int ordinal; /* 1-based within its kind, for messages */
    int line;
    struct cv_sqltext q;
    const struct cv_topo_event *emit; /* STMT_EMIT: what each row becomes */
};

struct cv_sqlroute {
    char *domain, *event_type;
    const struct cv_topology *topo;
    struct stmt *stmts;
    size_t n;
};

static const char *const kind_names[] = {"sql", "rows", "emit"};

void cv_sqlroute_free(struct cv_sqlroute *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        cv_sqltext_free(&r->stmts[i].q);
    free(r->stmts);
    free(r->domain);
    free(r->event_type);
    free(r);
}

/* "a, b, c" of an avro record's fields. */
static void field_list(avro_schema_t rec, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < avro_schema_record_size(rec); i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "",
                 avro_schema_record_field_name(rec, (int)i));
}

struct checking {
    const struct cv_topology *t;
    const struct cv_topo_domain *d;
    const struct cv_topo_route *rt;
    avro_schema_t rec; /* the event's record, or NULL if unknown */
    const char *schema_name;
    cv_sqlroute_report_fn report;
    void *opaque;
    int errors;
};

static void finding(struct checking *ck, int line, const char *needle,
                    const char *fmt, ...) CV_PRINTF(4, 5);

static void finding(struct checking *ck, int line, const char *needle,
                    const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int n;

    n = snprintf(msg, sizeof(msg), "domain '%s': route for '%s': ", ck->d->name,
                 ck->rt->event_type);
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    ck->report(ck->opaque, line, needle, msg);
    ck->errors++;
}

/* Whether one parameter names something that exists. */
static void check_param(struct checking *ck, const struct stmt *st,
                        const struct cv_sqlparam *p)
{
    char needle[300], list[1024];

    snprintf(needle, sizeof(needle), ":%s.%s", cv_sqlparam_prefix(p->kind),
             p->name);
    list[0] = '\0';
    switch (p->kind) {
    case CV_PARAM_EVENT:
        if (!ck->rec ||
            avro_schema_record_field_get_index(ck->rec, p->name) >= 0)
            return;
        field_list(ck->rec, list, sizeof(list));
        finding(ck, st->line, needle,
                "%s statement %d: parameter '%s': the event's schema %s has "
                "no field '%s' (expected one of: %s)",
                kind_names[st->kind], st->ordinal, needle, ck->schema_name,
                p->name, list);
        return;
    case CV_PARAM_CE:
        for (size_t i = 0; ce_names[i]; i++) {
            if (strcmp(ce_names[i], p->name) == 0)
                return;
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     i ? ", " : "", ce_names[i]);
        }
        finding(ck, st->line, needle,
                "%s statement %d: parameter '%s': no CloudEvents attribute "
                "'%s' (expected one of: %s)",
                kind_names[st->kind], st->ordinal, needle, p->name, list);
        return;
    case CV_PARAM_SETTING:
        if (cv_topology_setting(ck->t, p->name))
            return;
        for (size_t i = 0; i < ck->t->nsettings; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     i ? ", " : "", ck->t->settings[i].name);
        finding(ck, st->line, needle,
                "%s statement %d: parameter '%s': no setting '%s' in the "
                "topology (expected one of: %s)",
                kind_names[st->kind], st->ordinal, needle, p->name,
                list[0] ? list : "none declared");
        return;
    default:
        return; /* :env.<VAR>: any variable, NULL when unset */
    }
}

static void add_stmt(struct checking *ck, struct cv_sqlroute *r, int kind,
                     int ordinal, const char *text, int line,
                     const struct cv_topo_event *emit)
{
    const unsigned allowed =
        CV_PARAM_BIT(CV_PARAM_EVENT) | CV_PARAM_BIT(CV_PARAM_CE) |
        CV_PARAM_BIT(CV_PARAM_SETTING) | CV_PARAM_BIT(CV_PARAM_ENV);
    struct stmt *st = &r->stmts[r->n];
    char why[512];
    size_t at;

    memset(st, 0, sizeof(*st));
    st->kind = kind;
    st->ordinal = ordinal;
    st->line = line;
    st->emit = emit;
    if (cv_sqlparam_compile(text, allowed, &st->q, &at, why, sizeof(why)) !=
        CV_OK) {
        char needle[40];
        snprintf(needle, sizeof(needle), "%.30s", text + at);
        finding(ck, line, needle, "%s statement %d: %s", kind_names[kind],
                ordinal, why);
        return;
    }
    r->n++;
    if (kind == STMT_ROWS && st->q.nparams == 0)
        finding(ck, line, NULL,
                "rows statement %d has no parameters: a set statement "
                "takes the batch's values as arrays (:event.id::uuid[])",
                ordinal);
    if (st->q.nparams > CV_SQL_ROWS_MAX_COLS)
        finding(ck, line, NULL, "%s statement %d has %d parameters, at most %d",
                kind_names[kind], ordinal, st->q.nparams, CV_SQL_ROWS_MAX_COLS);
    for (int k = 0; k < st->q.nparams; k++)
        check_param(ck, st, &st->q.params[k]);
}

struct cv_sqlroute *cv_sqlroute_compile(const struct cv_topology *t,
                                        const struct cv_catalogue *cat,
                                        const struct cv_topo_domain *d,
                                        const struct cv_topo_route *rt,
                                        cv_sqlroute_report_fn report,
                                        void *opaque)
{
    const struct cv_topo_event *ev = cv_topology_event(t, rt->event_type);
    const struct cv_schema *sch =
        ev && cat ? cv_catalogue_by_name(cat, ev->schema) : NULL;
    struct checking ck = {t, d, rt, NULL, NULL, report, opaque, 0};
    struct cv_sqlroute *r = cv_calloc(1, sizeof(*r));

    if (sch && is_avro_record(sch->avro)) {
        ck.rec = sch->avro;
        ck.schema_name = ev->schema;
    }
    r->domain = cv_strdup(d->name);
    r->event_type = cv_strdup(rt->event_type);
    r->topo = t;
    r->stmts =
        cv_calloc(rt->nsql + rt->nrows + rt->nemits + 1, sizeof(*r->stmts));
    for (size_t i = 0; i < rt->nsql; i++)
        add_stmt(&ck, r, STMT_SQL, (int)i + 1, rt->sql[i].text, rt->sql[i].line,
                 NULL);
    for (size_t i = 0; i < rt->nrows; i++)
        add_stmt(&ck, r, STMT_ROWS, (int)i + 1, rt->rows[i].text,
                 rt->rows[i].line, NULL);
    for (size_t i = 0; i < rt->nemits; i++) {
        const struct cv_topo_emit *em = &rt->emits[i];
        const struct cv_topo_event *te = cv_topology_event(t, em->event_type);
        if (!te) {
            finding(&ck, em->line, NULL,
                    "emit %zu: event type '%s' is not declared", i + 1,
                    em->event_type);
            continue;
        }
        add_stmt(&ck, r, STMT_EMIT, (int)i + 1, em->sql, em->sql_line, te);
    }
    if (ck.errors) {
        cv_sqlroute_free(r);
        return NULL;
    }
    return r;
}

const char *cv_sqlroute_static_value(const struct cv_topology *t, int kind,
                                     const char *name)
{
    if (kind == CV_PARAM_SETTING)
        return cv_topology_setting(t, name);
    if (kind == CV_PARAM_ENV)
        return getenv(name);
    return NULL;
}

/* ---- start-up: every statement prepared once ---- */

/* Every column an emit query returns must be a field of the record (a
 * typo would otherwise fail every event); a field it leaves out is only
 * an error if the schema has no default for it, which encoding says. */
static int emit_columns_ok(const struct stmt *st, PGresult *desc,
                           const struct cv_catalogue *cat, char *why,
                           size_t size)
{
    const struct cv_schema *sch =
        cat ? cv_catalogue_by_name(cat, st->emit->schema) : NULL;
    char list[1024];

    if (PQnfields(desc) == 0)
        return cv_err(why, size, "the query returns no columns");
    if (!sch || !is_avro_record(sch->avro))
        return CV_OK;
    for (int col = 0; col < PQnfields(desc); col++) {
        if (avro_schema_record_field_get_index(sch->avro, PQfname(desc, col)) >=
            0)
            continue;
        field_list(sch->avro, list, sizeof(list));
        return cv_err(
            why, size, "column '%s' is not a field of %s (%s has: %s)",
            PQfname(desc, col), st->emit->type, st->emit->schema, list);
    }
    return CV_OK;
}

/* The topology's line of the character Postgres' error points at (its
 * position in the compiled statement): the words there, up to the next
 * parameter, looked for near the statement's line. */
static int near_position(const char *path, const struct stmt *st, int pos)
{
    const char *at;
    char needle[32];
    size_t n = 0;

    if (pos < 1 || (size_t)pos > strlen(st->q.sql))
        return st->line;
    at = st->q.sql + pos - 1;
    while (at[n] && at[n] != '$' && at[n] != '\n' && n < sizeof(needle) - 1)
        n++;
    while (n && at[n - 1] == ' ')
        n--;
    if (n < 3)
        return st->line;
    memcpy(needle, at, n);
    needle[n] = '\0';
    return cv_cfgfile_near_line(path, st->line, needle);
}

int cv_sqlroute_prepare(const struct cv_sqlroute *r, PGconn *conn,
                        const struct cv_catalogue *cat, const char *path,
                        char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct stmt *st = &r->stmts[i];
        PGresult *res = PQprepare(conn, "", st->q.sql, 0, NULL);
        char why[600] = "";

        int line = st->line;

        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            const char *msg =
                res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
            const char *pos =
                res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION)
                    : NULL;
            snprintf(why, sizeof(why), "%s", msg ? msg : PQerrorMessage(conn));
            why[strcspn(why, "\n")] = '\0';
            if (pos)
                line = near_position(path, st, atoi(pos));
        } else if (st->kind == STMT_EMIT) {
            PGresult *desc = PQdescribePrepared(conn, "");
            if (!desc || PQresultStatus(desc) != PGRES_COMMAND_OK)
                snprintf(why, sizeof(why), "%s", PQerrorMessage(conn));
            else
                emit_columns_ok(st, desc, cat, why, sizeof(why));
            PQclear(desc);
        }
        PQclear(res);
        if (why[0])
            return cv_err(errstr, errstr_size,
                          "%s:%d: domain '%s': route for '%s': %s statement "
                          "%d does not prepare: %s",
                          path ? path : "topology", line, r->domain,
                          r->event_type, kind_names[st->kind], st->ordinal,
                          why);
    }
    return CV_OK;
}

/* ---- binding a parameter's value from the event ---- */

/* An event field as text, or NULL (a null union). Fresh; caller frees. */
static char *field_text(const struct cv_event *ev, const char *name)
{
    avro_value_t field, branch;
    const char *s;
    size_t len;
    int64_t l;
    int32_t i;
    double d;
    float f;
    int b;

    if (avro_value_get_by_name(ev->value, name, &field, NULL) != 0)
        return NULL;
    if (avro_value_get_type(&field) == AVRO_UNION) {
        if (avro_value_get_current_branch(&field, &branch) != 0)
            return NULL;
        field = branch;
    }
    switch (avro_value_get_type(&field)) {
    case AVRO_STRING:
        avro_value_get_string(&field, &s, &len);
        return cv_strndup(s, len ? len - 1 : 0);
    case AVRO_BYTES:
        avro_value_get_bytes(&field, (const void **)&s, &len);
        return cv_strndup(s, len);
    case AVRO_INT32:
        avro_value_get_int(&field, &i);
        return cv_asprintf("%d", (int)i);
    case AVRO_INT64:
        avro_value_get_long(&field, &l);
        return cv_asprintf("%lld", (long long)l);
    case AVRO_DOUBLE:
        avro_value_get_double(&field, &d);
        return cv_asprintf("%.17g", d);
    case AVRO_FLOAT:
        avro_value_get_float(&field, &f);
        return cv_asprintf("%.9g", (double)f);
    case AVRO_BOOLEAN:
        avro_value_get_boolean(&field, &b);
        return cv_strdup(b ? "true" : "false");
    case AVRO_ENUM:
        avro_value_get_enum(&field, &i);
        s = avro_schema_enum_get(avro_value_get_schema(&field), i);
        return s ? cv_strdup(s) : NULL;
    case AVRO_NULL:
        return NULL;
    default:
        return cv_value_to_json(&field); /* records, arrays, maps */
    }
}

static char *ce_text(const struct cv_event *ev, const char *name)
{
    char when[32];
    size_t len;
    const char *key;

    if (strcmp(name, "id") == 0)
        return cv_strdup(ev->ce->id);
    if (strcmp(name, "type") == 0)
        return cv_strdup(ev->ce->type);
    if (strcmp(name, "source") == 0)
        return cv_strdup(ev->ce->source);
    if (strcmp(name, "time") == 0) {
        cv_rfc3339_format(ev->ce->time_ms, when);
        return cv_strdup(when);
    }
    if (strcmp(name, "time_ms") == 0)
        return cv_asprintf("%lld", (long long)ev->ce->time_ms);
    if (strcmp(name, "key") == 0) {
        key = cv_event_key(ev, &len);
        return key ? cv_strndup(key, len) : NULL;
    }
    if (strcmp(name, "tenant") == 0)
        return ev->ce->tenant[0] ? cv_strdup(ev->ce->tenant) : NULL;
    if (strcmp(name, "topic") == 0)
        return cv_strdup(ev->topic);
    if (strcmp(name, "partition") == 0)
        return cv_asprintf("%d", (int)ev->partition);
    if (strcmp(name, "offset") == 0)
        return cv_asprintf("%lld", (long long)ev->offset);
    if (strcmp(name, "attempt") == 0)
        return cv_asprintf("%d", ev->attempt);
    return NULL;
}

/* Every parameter's value into v (fresh strings or NULL). */
static void bind_params(const struct cv_sqlroute *r, const struct stmt *st,
                        const struct cv_event *ev, char **v)
{
    for (int k = 0; k < st->q.nparams; k++) {
        const struct cv_sqlparam *p = &st->q.params[k];
        const char *s;

        switch (p->kind) {
        case CV_PARAM_EVENT:
            v[k] = field_text(ev, p->name);
            break;
        case CV_PARAM_CE:
            v[k] = ce_text(ev, p->name);
            break;
        default:
            s = cv_sqlroute_static_value(r->topo, p->kind, p->name);
            v[k] = s ? cv_strdup(s) : NULL;
            break;
        }
    }
}

static void unbind(const struct stmt *st, char **v)
{
    for (int k = 0; k < st->q.nparams; k++)
        free(v[k]);
}

/* ---- emit: rows become records ---- */

struct emitted {
    char *value; /* framed Avro */
    size_t len;
    char *key;
};

struct emit_rows {
    const struct stmt *st;
    const struct cv_schema *schema;
    struct emitted *v;
    size_t n, cap;
    char why[600]; /* the first row that does not encode */
};

/* A Postgres value as JSON by its column type: numbers and booleans as
 * such, json and jsonb parsed, anything else a string. */
static json_t *pg_json(PGresult *res, int row, int col)
{
    const char *s = PQgetvalue(res, row, col);
    json_t *j;

    if (PQgetisnull(res, row, col))
        return json_null();
    switch (PQftype(res, col)) {
    case 16: /* bool */
        return json_boolean(s[0] == 't');
    case 20:   /* int8 */
    case 21:   /* int2 */
    case 23:   /* int4 */
    case 700:  /* float4 */
    case 701:  /* float8 */
    case 1700: /* numeric */
    case 114:  /* json */
    case 3802: /* jsonb */
        j = json_loads(s, JSON_DECODE_ANY, NULL);
        return j ? j : json_string(s);
    default:
        return json_string(s);
    }
}

static void take_emit_rows(void *opaque, PGresult *res)
{
    struct emit_rows *er = opaque;
    const struct cv_topo_event *te = er->st->emit;

    /* Every result of this event's statements since the last read comes
     * here, in order (an earlier SELECT of the route's sql included): the
     * emit query, sent last, is the last one. */
    for (size_t i = 0; i < er->n; i++) {
        free(er->v[i].value);
        free(er->v[i].key);
    }
    er->n = 0;
    er->why[0] = '\0';

    for (int row = 0; row < PQntuples(res) && !er->why[0]; row++) {
        json_t *obj = json_object(), *key;
        char errstr[512], *text;
        struct emitted e = {0};

        for (int col = 0; col < PQnfields(res); col++)
            json_object_set_new(obj, PQfname(res, col), pg_json(res, row, col));
        text = json_dumps(obj, JSON_COMPACT);
        if (cv_codec_encode_json(er->schema, text, strlen(text), &e.value,
                                 &e.len, errstr, sizeof(errstr)) != CV_OK)
            snprintf(er->why, sizeof(er->why),
                     "emit %d: a row does not make a %s: %.400s",
                     er->st->ordinal, te->type, errstr);
        key = te->key_field ? json_object_get(obj, te->key_field) : NULL;
        if (json_is_string(key))
            e.key = cv_strdup(json_string_value(key));
        else if (json_is_integer(key))
            e.key = cv_asprintf("%lld", (long long)json_integer_value(key));
        free(text);
        json_decref(obj);
        if (er->why[0]) {
            free(e.value);
            free(e.key);
            break;
        }
        if (er->n == er->cap) {
            er->cap = er->cap ? er->cap * 2 : 8;
            er->v = cv_realloc(er->v, er->cap * sizeof(*er->v));
        }
        er->v[er->n++] = e;
    }
}

/* Runs an emit query now and queues an outbox row per row it returned.
 * Returns CV_OK, CV_ERR (the statement failed: the engine blames it), or
 * CV_NULL with why (a row that does not encode). */
static int run_emit(struct cv_ctx *ctx, const struct stmt *st, char **v,
                    char *why, size_t why_size)
{
    struct emit_rows er = {.st = st};
    char id[CV_CE_ID_MAX + 16];
    int rc;

    er.schema = cv_catalogue_by_name(ctx->cat, st->emit->schema);
    if (!er.schema) {
        cv_err(why, why_size, "emit %d: no schema %s", st->ordinal,
               st->emit->schema);
        return CV_NULL;
    }
    rc = cv_txn_query_rows(ctx, st->q.sql, st->q.nparams,
                           (const char *const *)v, take_emit_rows, &er);
    if (rc == CV_OK && er.why[0]) {
        snprintf(why, why_size, "%s", er.why);
        rc = CV_NULL;
    }
    for (size_t i = 0; i < er.n; i++) {
        if (rc == CV_OK) {
            /* the ids cv_emit_send() would derive: a re-run emits them
             * again and I-4 absorbs the repeats */
            snprintf(id, sizeof(id), "%s.%d", ctx->ev->ce->id, ++ctx->emit_seq);
            cv_txn_outbox_add(ctx, st->emit->topic, st->emit->type, id,
                              er.v[i].key, er.v[i].value, er.v[i].len);
        }
        free(er.v[i].value);
        free(er.v[i].key);
    }
    free(er.v);
    return rc;
}

cv_result_t cv_sqlroute_run(struct cv_ctx *ctx, const struct cv_sqlroute *r,
                            const struct cv_event *ev)
{
    char *v[CV_SQL_ROWS_MAX_COLS + 1], why[700];
    cv_result_t hr = CV_HANDLED;

    for (size_t i = 0;
         i < r->n && hr == CV_HANDLED && !ctx->broken && !ctx->pipe_failed;
         i++) {
        const struct stmt *st = &r->stmts[i];
        int rc;

        bind_params(r, st, ev, v);
        switch (st->kind) {
        case STMT_SQL:
            cv_txn_exec(ctx, st->q.sql, st->q.nparams, (const char *const *)v);
            break;
        case STMT_ROWS:
            if (cv_txn_rows_add(ctx, st->q.sql, st->q.nparams,
                                (const char *const *)v) != CV_OK)
                hr = cv_fail(ctx, "rows statement %d: could not add the row",
                             st->ordinal);
            break;
        case STMT_EMIT:
            rc = run_emit(ctx, st, v, why, sizeof(why));
            /* a failed query stops the route (ctx->pipe_failed) and the
             * engine judges its error as any statement's: class 40 is
             * retried, anything else fails the event */
            if (rc == CV_NULL)
                hr = cv_fail(ctx, "%s", why);
            break;
        }
        unbind(st, v);
    }
    return hr;
}
