/*
 * api.c - the admin API's front door: tokens, routing, JSON helpers, and
 * the views that only read (status, topology, schedules, dead letters,
 * switches, effects). The operations that change something are in
 * api_ops.c. See api.h for the contract.
 *
 * Every answer is JSON. A request is refused before anything else when the
 * API is off (404), the token is missing or wrong (401), or a read-only
 * token asks for a change (403); a malformed body, an unknown field or a
 * bad value is a 400 that says which. Postgres is reached through a
 * connection opened for the request (the API is for people, not load).
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "ops.h"
#include "schedule.h"
#include "stats.h"
#include "ticker.h"

#define API_KV "component=api"

static char *admin_token, *readonly_token;

static char *token_from(const char *var)
{
    const char *v = getenv(var);
    return v && *v ? cv_strdup(v) : NULL;
}

int cv_api_init(void)
{
    cv_api_free();
    admin_token = token_from("CONVEYOR_ADMIN_TOKEN");
    readonly_token = token_from("CONVEYOR_READONLY_TOKEN");
    return admin_token || readonly_token;
}

void cv_api_free(void)
{
    free(admin_token);
    free(readonly_token);
    admin_token = readonly_token = NULL;
}

/* Equal in time that depends only on the length of what was sent. */
static int token_equal(const char *sent, size_t n, const char *secret)
{
    size_t len = strlen(secret);
    unsigned diff = (unsigned)(n ^ len);

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)sent[i] ^ (unsigned char)secret[i % len];
    return diff == 0;
}

/* ---- replies and helpers */

void api_json(struct call *c, int status, json_t *body)
{
    char *text;

    if (c->reply->body) {
        json_decref(body);
        return;
    }
    text = json_dumps(body, JSON_INDENT(1) | JSON_ENSURE_ASCII);
    json_decref(body);
    c->reply->status = status;
    c->reply->body = cv_asprintf("%s\n", text ? text : "{}");
    free(text);
}

void api_error(struct call *c, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_json(c, status, json_pack("{s:s}", "error", msg));
}

struct cv_pg *api_pg(struct call *c)
{
    char errstr[512];

    if (!c->pg) {
        c->pg = cv_pg_connect(c->env->cfg->pg_conninfo, "conveyor/api",
                              c->env->cfg->pg_connect_timeout_s, errstr,
                              sizeof(errstr));
        if (!c->pg)
            api_error(c, 503, "Postgres unreachable: %s", errstr);
    }
    return c->pg;
}

void api_pg_error(struct call *c, const struct cv_pg_error *err)
{
    api_error(c, err->sqlstate[0] ? 500 : 503, "Postgres: %s", err->message);
}

json_t *api_row(PGresult *res, int r)
{
    json_t *o = json_object();

    for (int k = 0; k < PQnfields(res); k++) {
        const char *v = PQgetvalue(res, r, k);
        json_t *j;

        switch (PQgetisnull(res, r, k) ? 0 : PQftype(res, k)) {
        case 0:
            j = json_null();
            break;
        case 20: /* int8 */
        case 21: /* int2 */
        case 23: /* int4 */
            j = json_integer(strtoll(v, NULL, 10));
            break;
        case 700:  /* float4 */
        case 701:  /* float8 */
        case 1700: /* numeric */
            j = json_real(strtod(v, NULL));
            break;
        case 16: /* bool */
            j = json_boolean(v[0] == 't');
            break;
        case 114:  /* json */
        case 3802: /* jsonb */
            j = json_loads(v, JSON_DECODE_ANY, NULL);
            if (!j)
                j = json_string(v);
            break;
        default:
            j = json_stringn(v, (size_t)PQgetlength(res, r, k));
            if (!j) /* not UTF-8: say so rather than fail */
                j = json_string("(not UTF-8)");
        }
        json_object_set_new(o, PQfname(res, k), j);
    }
    return o;
}

json_t *api_rows(PGresult *res)
{
    json_t *a = json_array();

    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(a, api_row(res, r));
    return a;
}

int api_body_fields(struct call *c, const char *const *allowed)
{
    const char *key;
    json_t *v;

    if (!c->body)
        c->body = json_object();
    json_object_foreach(c->body, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i]) {
            char list[512] = "";
            size_t len = 0;
            for (i = 0; allowed[i] && len < sizeof(list); i++)
                len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                        i ? ", " : "", allowed[i]);
            api_error(c, 400, "unknown field '%s' (known: %s)", key, list);
            return CV_ERR;
        }
    }
    return CV_OK;
}

int api_body_string(struct call *c, const char *name, int required,
                    const char **out)
{
    json_t *v = json_object_get(c->body, name);

    *out = NULL;
    if (v && !json_is_null(v) && !json_is_string(v)) {
        api_error(c, 400, "field '%s': expected a string", name);
        return CV_ERR;
    }
    if (v && json_is_string(v))
        *out = json_string_value(v);
    if (required && (!*out || !**out)) {
        api_error(c, 400, "field '%s' is required", name);
        return CV_ERR;
    }
    return CV_OK;
}

const char *api_query(struct call *c, const char *name)
{
    const char *v = json_string_value(json_object_get(c->query, name));
    return v && *v ? v : NULL;
}

/* ---- views */

static json_t *one_row(struct call *c, PGresult *res,
                       const struct cv_pg_error *err)
{
    json_t *o;

    if (!res) {
        api_pg_error(c, err);
        return NULL;
    }
    o = PQntuples(res) ? api_row(res, 0) : json_object();
    PQclear(res);
    return o;
}

static json_t *all_rows(struct call *c, PGresult *res,
                        const struct cv_pg_error *err)
{
    json_t *a;

    if (!res) {
        api_pg_error(c, err);
        return NULL;
    }
    a = api_rows(res);
    PQclear(res);
    return a;
}

static json_t *partitions(struct call *c, const char *group)
{
    size_t max = 4096, n;
    struct cv_observed_part *parts = cv_calloc(max, sizeof(*parts));
    int64_t at;
    json_t *a = json_array();

    n = cv_observer_parts(c->env->obs, parts, max, &at);
    for (size_t i = 0; i < n && i < max; i++) {
        const struct cv_observed_part *p = &parts[i];
        if (group && strcmp(group, p->group) != 0)
            continue;
        json_array_append_new(
            a,
            json_pack("{s:s, s:s, s:i, s:I, s:o, s:o, s:o, s:o}", "group",
                      p->group, "topic", p->topic, "partition",
                      (int)p->partition, "stored", (json_int_t)p->stored, "low",
                      p->low < 0 ? json_null() : json_integer(p->low), "high",
                      p->high < 0 ? json_null() : json_integer(p->high), "lag",
                      p->lag < 0 ? json_null() : json_integer(p->lag),
                      "lag_seconds",
                      p->lag_s < 0 ? json_null() : json_real(p->lag_s)));
    }
    free(parts);
    return a;
}

static json_t *counters(void)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "processed",
        (json_int_t)cv_metrics_total(CV_METRICS_PROCESSED), "deduplicated",
        (json_int_t)cv_metrics_total(CV_METRICS_DEDUPLICATED), "retried",
        (json_int_t)cv_metrics_total(CV_METRICS_RETRIED), "dead_lettered",
        (json_int_t)cv_metrics_total(CV_METRICS_DEAD_LETTERED), "published",
        (json_int_t)atomic_load(&cv_stats.published), "batches",
        (json_int_t)atomic_load(&cv_stats.batches), "fenced",
        (json_int_t)atomic_load(&cv_stats.fenced));
}

static void api_status(struct call *c)
{
    const char *group = api_query(c, "group");
    struct cv_pg_error err;
    char errstr[512];
    json_t *o, *v;
    int64_t at;
    struct cv_observed_part one;

    if (group && cv_ops_group_check(c->env->topo, group, errstr,
                                    sizeof(errstr)) != CV_OK) {
        api_error(c, 400, "%s", errstr);
        return;
    }
    if (!api_pg(c))
        return;
    cv_observer_parts(c->env->obs, &one, 1, &at);
    o = json_pack("{s:I, s:I, s:o, s:o}", "time_ms", (json_int_t)cv_wall_ms(),
                  "lag_checked_ms", (json_int_t)at, "partitions",
                  partitions(c, group), "counters", counters());
#define ADD(key, expr)                                                         \
    do {                                                                       \
        if (!(v = (expr))) {                                                   \
            json_decref(o);                                                    \
            return;                                                            \
        }                                                                      \
        json_object_set_new(o, key, v);                                        \
    } while (0)
    ADD("outbox", one_row(c, cv_ops_outbox(c->pg, &err), &err));
    ADD("dead_letters",
        one_row(c, cv_ops_dead_letters_open(c->pg, group, &err), &err));
    ADD("retries", one_row(c, cv_ops_retries(c->pg, group, &err), &err));
    ADD("switches",
        all_rows(c, cv_ops_switches(c->pg, NULL, NULL, &err), &err));
    ADD("members", all_rows(c, cv_ops_members(c->pg, group, &err), &err));
    ADD("retention_gaps", all_rows(c, cv_ops_gaps(c->pg, group, &err), &err));
#undef ADD
    api_json(c, 200, o);
}

static void api_topology(struct call *c)
{
    const struct cv_topology *t = c->env->topo;
    json_t *domains = json_array(), *schedules = json_array();

    for (size_t i = 0; i < t->ndomains; i++) {
        const struct cv_topo_domain *d = &t->domains[i];
        json_t *routes = json_array(), *topics = json_array();
        for (size_t k = 0; k < d->ntopics; k++)
            json_array_append_new(topics, json_string(d->topics[k]));
        for (size_t k = 0; k < d->nroutes; k++)
            json_array_append_new(
                routes,
                json_pack("{s:s, s:s, s:s, s:i}", "event",
                          d->routes[k].event_type, "handler",
                          d->routes[k].handler ? d->routes[k].handler
                                               : "declared SQL",
                          "retry_mode",
                          d->routes[k].retry.mode == CV_RETRY_DEFERRED
                              ? "deferred"
                              : "blocking",
                          "max_attempts", d->routes[k].retry.max_attempts));
        json_array_append_new(
            domains, json_pack("{s:s, s:s, s:o, s:o, s:i, s:s?}", "name",
                               d->name, "group", d->group_id, "topics", topics,
                               "routes", routes, "parallelism", d->parallelism,
                               "kill_switch_env", d->kill_switch_env));
    }
    for (size_t i = 0; i < t->nschedules; i++) {
        const struct cv_topo_schedule *s = &t->schedules[i];
        json_array_append_new(schedules,
                              json_pack("{s:s, s:s, s:s, s:s, s:b}", "name",
                                        s->name, "cron", s->cron_expr, "zone",
                                        s->zone, "event_type", s->event_type,
                                        "enabled", s->enabled));
    }
    api_json(
        c, 200,
        json_pack("{s:o, s:o}", "domains", domains, "schedules", schedules));
}

static void api_schedules(struct call *c)
{
    const struct cv_topology *t = c->env->topo;
    struct cv_pg_error err;
    struct cv_clock clock;
    PGresult *hist, *sw;
    char errstr[256];
    json_t *a;
    int64_t now;

    if (cv_clock_parse(c->env->cfg->ticker_clock, &clock, errstr,
                       sizeof(errstr)) != CV_OK) {
        api_error(c, 500, "ticker.clock: %s", errstr);
        return;
    }
    now = cv_clock_now_ms(&clock);
    if (!api_pg(c))
        return;
    if (!(hist = cv_ops_schedule_history(c->pg, &err))) {
        api_pg_error(c, &err);
        return;
    }
    if (!(sw = cv_ops_switches(c->pg, NULL, NULL, &err))) {
        PQclear(hist);
        {
            api_pg_error(c, &err);
            return;
        }
    }
    a = json_array();
    for (size_t i = 0; i < t->nschedules; i++) {
        const struct cv_topo_schedule *s = &t->schedules[i];
        json_t *o = NULL, *next = json_array();
        int64_t at = now;
        int paused = 0;

        for (int r = 0; r < PQntuples(hist) && !o; r++)
            if (strcmp(PQgetvalue(hist, r, 0), s->name) == 0)
                o = api_row(hist, r);
        if (!o)
            o = json_pack("{s:s, s:n, s:i, s:i, s:i, s:i, s:n}", "schedule",
                          s->name, "last_fire_ms", "scheduled", 0, "catch_up",
                          0, "skipped", 0, "manual", 0, "cursor_ms");
        for (int k = 0; k < 3 && cv_schedule_next(s, at, &at) == CV_OK; k++)
            json_array_append_new(next, json_integer(at));
        for (int r = 0; r < PQntuples(sw); r++) {
            const char *scope = PQgetvalue(sw, r, 0);
            paused |= strcmp(scope, "all") == 0 ||
                      (strcmp(scope, "schedule") == 0 &&
                       strcmp(PQgetvalue(sw, r, 1), s->name) == 0);
        }
        json_object_set_new(o, "cron", json_string(s->cron_expr));
        json_object_set_new(o, "zone", json_string(s->zone));
        json_object_set_new(o, "event_type", json_string(s->event_type));
        json_object_set_new(o, "enabled", json_boolean(s->enabled));
        json_object_set_new(o, "paused", json_boolean(paused));
        json_object_set_new(o, "next_fires_ms", next);
        json_array_append_new(a, o);
    }
    PQclear(hist);
    PQclear(sw);
    api_json(
        c, 200,
        json_pack("{s:I, s:o}", "now_ms", (json_int_t)now, "schedules", a));
}

static void api_dlq_list(struct call *c)
{
    struct cv_dlq_filter f = {api_query(c, "group"),
                              api_query(c, "type"),
                              api_query(c, "since"),
                              api_query(c, "until"),
                              api_query(c, "error"),
                              api_query(c, "status"),
                              100};
    const char *limit = api_query(c, "limit");
    struct cv_pg_error err;
    char errstr[1024];
    const char *times[2] = {f.since, f.until};
    int64_t ms;
    json_t *rows;

    if (!f.status)
        f.status = "open";
    if (strcmp(f.status, "open") && strcmp(f.status, "retried") &&
        strcmp(f.status, "discarded") && strcmp(f.status, "all")) {
        api_error(c, 400, "status: expected open, retried, discarded or all");
        return;
    }
    if (limit && cv_cli_parse_int(limit, 1, 100000, &f.limit) != CV_OK) {
        api_error(c, 400, "limit: expected 1..100000");
        return;
    }
    for (int i = 0; i < 2; i++)
        if (times[i] &&
            cv_rfc3339_parse(times[i], strlen(times[i]), &ms) != CV_OK) {
            api_error(c, 400,
                      "%s: '%s' is not an RFC 3339 time (e.g. "
                      "2026-11-22T08:00:00Z)",
                      i ? "until" : "since", times[i]);
            return;
        }
    if (f.group && cv_ops_group_check(c->env->topo, f.group, errstr,
                                      sizeof(errstr)) != CV_OK) {
        api_error(c, 400, "group: %s", errstr);
        return;
    }
    if (!api_pg(c))
        return;
    if ((rows = all_rows(c, cv_ops_dlq_list(c->pg, &f, &err), &err)))
        api_json(c, 200, json_pack("{s:o}", "dead_letters", rows));
}

static void api_dlq_show(struct call *c)
{
    struct cv_pg_error err;
    PGresult *res;
    json_t *o;
    char *value;
    int id;

    if (cv_cli_parse_int(c->param, 1, 2147483647, &id) != CV_OK) {
        api_error(c, 400, "'%s' is not a dead letter id", c->param);
        return;
    }
    if (!api_pg(c))
        return;
    if (!(res = cv_ops_dlq_show(c->pg, c->param, &err))) {
        api_pg_error(c, &err);
        return;
    }
    if (!PQntuples(res)) {
        PQclear(res);
        {
            api_error(c, 404, "no dead letter %s", c->param);
            return;
        }
    }
    o = api_row(res, 0);
    value = PQgetisnull(res, 0, 17)
                ? NULL
                : cv_ops_dlq_value_json(c->env->cat, PQgetvalue(res, 0, 17),
                                        (size_t)PQgetlength(res, 0, 17));
    json_object_set_new(o, "value",
                        value ? json_loads(value, JSON_DECODE_ANY, NULL)
                              : json_null());
    free(value);
    PQclear(res);
    api_json(c, 200, o);
}

static void api_switches(struct call *c)
{
    struct cv_pg_error err;
    json_t *rows;

    if (!api_pg(c))
        return;
    if ((rows = all_rows(c, cv_ops_switches(c->pg, NULL, NULL, &err), &err)))
        api_json(c, 200, json_pack("{s:o}", "switches", rows));
}

static void api_effects(struct call *c)
{
    struct cv_metrics_effect e[256];
    size_t n = cv_metrics_effects(e, CV_ARRAY_SIZE(e));
    json_t *a = json_array();

    for (size_t i = 0; i < n && i < CV_ARRAY_SIZE(e); i++)
        json_array_append_new(
            a,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "target", e[i].target,
                      "pending", (json_int_t)e[i].pending, "in_flight",
                      (json_int_t)e[i].in_flight, "failed",
                      (json_int_t)e[i].failed, "concurrency_limit",
                      (json_int_t)e[i].limit, "calls", (json_int_t)e[i].calls));
    api_json(c, 200, json_pack("{s:o}", "targets", a));
}

/* ---- dispatch */

enum access { READ, WRITE, WRITE_UNLESS_DRY_RUN };

static const struct route {
    const char *method, *path; /* one "*" segment at most */
    enum access access;
    void (*fn)(struct call *c);
} routes[] = {
    {"GET", "/status", READ, api_status},
    {"GET", "/topology", READ, api_topology},
    {"GET", "/schedules", READ, api_schedules},
    {"POST", "/schedules/*/trigger", WRITE, api_trigger},
    {"GET", "/dead-letters", READ, api_dlq_list},
    {"GET", "/dead-letters/*", READ, api_dlq_show},
    {"POST", "/dead-letters/retry", WRITE, api_dlq_retry},
    {"POST", "/dead-letters/discard", WRITE, api_dlq_discard},
    {"GET", "/switches", READ, api_switches},
    {"POST", "/pause", WRITE, api_pause},
    {"POST", "/resume", WRITE, api_resume},
    {"POST", "/replay", WRITE_UNLESS_DRY_RUN, api_replay},
    {"GET", "/effects", READ, api_effects},
};

/* path matches pattern; the * segment (if any) goes to param. */
static int match(const char *pattern, const char *path, char *param,
                 size_t size)
{
    const char *star = strchr(pattern, '*');
    size_t pre, post, seg;

    if (!star)
        return strcmp(pattern, path) == 0;
    pre = (size_t)(star - pattern);
    post = strlen(star + 1);
    if (strncmp(pattern, path, pre) != 0 || strlen(path) < pre + post + 1)
        return 0;
    seg = strlen(path) - pre - post;
    if (strcmp(path + pre + seg, star + 1) != 0 ||
        memchr(path + pre, '/', seg) || seg >= size)
        return 0;
    snprintf(param, size, "%.*s", (int)seg, path + pre);
    return 1;
}

void cv_api_handle(const struct cv_api_env *env, const char *method,
                   const char *path, json_t *query, const char *auth,
                   const char *body, size_t body_len,
                   struct cv_api_reply *reply)
{
    struct call c = {env, NULL, query, NULL, NULL, reply};
    const struct route *route = NULL;
    int path_known = 0, writer;
    char param[256];
    json_error_t jerr;

    reply->status = 0;
    reply->body = NULL;
    if (!admin_token && !readonly_token) {
        api_error(&c, 404,
                  "the admin API is off: set CONVEYOR_ADMIN_TOKEN "
                  "(or CONVEYOR_READONLY_TOKEN) for `conveyor run`");
        return;
    }
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) {
        api_error(&c, 401, "give a token: Authorization: Bearer TOKEN");
        return;
    }
    auth += 7;
    writer = admin_token && token_equal(auth, strlen(auth), admin_token);
    if (!writer &&
        !(readonly_token && token_equal(auth, strlen(auth), readonly_token))) {
        api_error(&c, 401, "wrong token");
        return;
    }
    for (size_t i = 0; i < CV_ARRAY_SIZE(routes) && !route; i++)
        if (match(routes[i].path, path, param, sizeof(param))) {
            path_known = 1;
            if (strcmp(routes[i].method, method) == 0)
                route = &routes[i];
        }
    if (!route) {
        api_error(&c, path_known ? 405 : 404,
                  path_known ? "method %s not allowed here"
                             : "no endpoint %.200s",
                  path_known ? method : path);
        return;
    }
    c.param = strchr(route->path, '*') ? param : NULL;
    if (strcmp(method, "POST") == 0) {
        c.body = body_len
                     ? json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr)
                     : json_object();
        if (!c.body) {
            api_error(&c, 400, "malformed JSON at line %d: %s", jerr.line,
                      jerr.text);
            return;
        }
        if (!json_is_object(c.body)) {
            json_decref(c.body);
            {
                api_error(&c, 400, "the body must be a JSON object");
                return;
            }
        }
    }
    if (!writer && (route->access == WRITE ||
                    (route->access == WRITE_UNLESS_DRY_RUN &&
                     !json_is_true(json_object_get(c.body, "dry_run"))))) {
        api_error(&c, 403, "a read-only token cannot change anything");
    } else {
        route->fn(&c);
        if (!reply->body)
            api_error(&c, 500, "no answer");
        if (route->access != READ && reply->status < 300)
            CV_LOG(CV_LOG_INFO, API_KV, "%s /api/v1%s by %s: %d", method, path,
                   CV_API_ACTOR, reply->status);
    }
    json_decref(c.body);
    cv_pg_destroy(c.pg);
}
