/*
 * api_ops.c - the admin API's operations that change something: pause and
 * resume, dead-letter retry and discard, trigger, replay. Each checks its
 * request as the command line does, then runs the same function (ops.c,
 * ticker.c, replay.c), so the change and its audit row are the same; the
 * actor is CV_API_ACTOR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "clock.h"
#include "ops.h"
#include "replay.h"
#include "ticker.h"

static void switch_set(struct call *c, int pause)
{
    static const char *const fields[] = {"scope", "target", "reason", NULL};
    const char *scope, *target, *reason;
    struct cv_pg_error err;
    char errstr[512];
    PGresult *res, *rest;
    json_t *o;

    if (api_body_fields(c, fields) != CV_OK ||
        api_body_string(c, "scope", 1, &scope) != CV_OK ||
        api_body_string(c, "target", 0, &target) != CV_OK ||
        api_body_string(c, "reason", pause, &reason) != CV_OK)
        return;
    if (!target)
        target = "";
    if (cv_ops_switch_check(c->env->topo, scope, target, errstr,
                            sizeof(errstr)) != CV_OK) {
        api_error(c, 400, "%s", errstr);
        return;
    }
    if (!api_pg(c))
        return;
    if (!(res = cv_ops_switch_set(c->pg, pause, scope, target, CV_API_ACTOR,
                                  reason, &err))) {
        api_pg_error(c, &err);
        return;
    }
    o = api_row(res, 0);
    PQclear(res);
    json_object_set_new(
        o, "changed",
        json_boolean(json_integer_value(json_object_get(o, "changed")) > 0));
    if (!(rest = cv_ops_switches(c->pg, NULL, NULL, &err))) {
        json_decref(o);
        api_pg_error(c, &err);
        return;
    }
    json_object_set_new(o, "in_force", api_rows(rest));
    PQclear(rest);
    api_json(c, 200, o);
}

void api_pause(struct call *c)
{
    switch_set(c, 1);
}

void api_resume(struct call *c)
{
    switch_set(c, 0);
}

/* "{1,2}" from the body's ids (an array of positive integers), or NULL
 * after a 400. */
static char *ids_of(struct call *c, int required)
{
    json_t *ids = json_object_get(c->body, "ids"), *v;
    struct cv_pg_array buf = {0};
    size_t i;
    char num[24];

    if (!ids && !required)
        return cv_strdup("{}");
    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        api_error(c, 400, "field 'ids': expected a non-empty array of ids");
        return NULL;
    }
    json_array_foreach(ids, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            cv_pg_array_free(&buf);
            api_error(c, 400, "field 'ids': element %zu is not an id", i);
            return NULL;
        }
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        cv_pg_array_add(&buf, num);
    }
    return buf.buf;
}

static void dlq_change(struct call *c, int retry)
{
    static const char *const retry_fields[] = {"ids",   "all",    "group",
                                               "type",  "since",  "until",
                                               "error", "reason", NULL};
    static const char *const discard_fields[] = {"ids", "reason", NULL};
    struct cv_dlq_filter f = {.status = "open", .limit = 100000};
    json_t *all = NULL;
    struct cv_pg_error err;
    const char *reason;
    char errstr[1024], *ids = NULL;
    PGresult *res;

    if (api_body_fields(c, retry ? retry_fields : discard_fields) != CV_OK ||
        api_body_string(c, "reason", !retry, &reason) != CV_OK)
        return;
    if (retry) {
        all = json_object_get(c->body, "all");
        if (all && !json_is_boolean(all)) {
            api_error(c, 400, "field 'all': expected true or false");
            return;
        }
        if (json_is_true(all) == (json_object_get(c->body, "ids") != NULL)) {
            api_error(c, 400, "give ids or \"all\": true (with filters)");
            return;
        }
        if (api_body_string(c, "group", 0, &f.group) != CV_OK ||
            api_body_string(c, "type", 0, &f.type) != CV_OK ||
            api_body_string(c, "since", 0, &f.since) != CV_OK ||
            api_body_string(c, "until", 0, &f.until) != CV_OK ||
            api_body_string(c, "error", 0, &f.error) != CV_OK)
            return;
        if (!json_is_true(all) &&
            (f.group || f.type || f.since || f.until || f.error)) {
            api_error(c, 400, "filters go with \"all\": true, not with ids");
            return;
        }
        if (f.group && cv_ops_group_check(c->env->topo, f.group, errstr,
                                          sizeof(errstr)) != CV_OK) {
            api_error(c, 400, "group: %s", errstr);
            return;
        }
    }
    if (!json_is_true(all) && !(ids = ids_of(c, 1)))
        return;
    if (!api_pg(c)) {
        free(ids);
        return;
    }
    res = cv_ops_dlq_change(
        c->pg, retry, json_is_true(all) ? &f : NULL, ids, CV_API_ACTOR,
        reason ? reason : (retry ? "dlq retry" : NULL), &err);
    free(ids);
    if (!res) {
        /* a bad since/until is the one error the caller made */
        if (strcmp(err.sqlstate, "22007") == 0 ||
            strcmp(err.sqlstate, "22008") == 0)
            api_error(c, 400, "since/until: %s", err.message);
        else
            api_pg_error(c, &err);
        return;
    }
    api_json(c, 200,
             json_pack("{s:o, s:i}", retry ? "retried" : "discarded",
                       api_rows(res), "count", PQntuples(res)));
    PQclear(res);
}

void api_dlq_retry(struct call *c)
{
    dlq_change(c, 1);
}

void api_dlq_discard(struct call *c)
{
    dlq_change(c, 0);
}

void api_trigger(struct call *c)
{
    static const char *const fields[] = {"reason", NULL};
    const struct cv_topo_schedule *s =
        cv_topology_schedule(c->env->topo, c->param);
    char errstr[1024], id[CV_TRIGGER_ID_MAX];
    struct cv_clock clock;
    const char *reason;

    if (!s) {
        api_error(c, 404, "no schedule '%s'", c->param);
        return;
    }
    if (api_body_fields(c, fields) != CV_OK ||
        api_body_string(c, "reason", 1, &reason) != CV_OK)
        return;
    if (cv_clock_parse(c->env->cfg->ticker_clock, &clock, errstr,
                       sizeof(errstr)) != CV_OK) {
        api_error(c, 500, "ticker.clock: %s", errstr);
        return;
    }
    if (!api_pg(c))
        return;
    if (cv_ticker_trigger(c->pg, c->env->topo, c->env->cat, s,
                          cv_clock_now_ms(&clock), CV_API_ACTOR, reason, id,
                          errstr, sizeof(errstr)) != CV_OK) {
        api_error(c, 500, "%s", errstr);
        return;
    }
    api_json(c, 200,
             json_pack("{s:s, s:s, s:s}", "schedule", s->name, "event_id", id,
                       "actor", CV_API_ACTOR));
}

static json_t *counts(const struct cv_topo_domain *d,
                      const struct cv_replay_count *tc, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++) {
        const struct cv_topo_route *r =
            tc[i].type[0] ? cv_topology_route(d, tc[i].type) : NULL;
        json_array_append_new(a, json_pack("{s:s, s:I, s:s?}", "event_type",
                                           tc[i].type, "events",
                                           (json_int_t)tc[i].n, "handler",
                                           !r           ? NULL
                                           : r->handler ? r->handler
                                                        : "declared SQL"));
    }
    return a;
}

void api_replay(struct call *c)
{
    static const char *const fields[] = {
        "group",   "topic",   "partition", "from_time", "from_offset",
        "to_time", "dry_run", "reason",    NULL};
    struct cv_replay_req req = {.partition = -1,
                                .from_offset = -1,
                                .actor = CV_API_ACTOR,
                                .reason = "replay"};
    json_t *part = json_object_get(c->body, "partition");
    json_t *off = json_object_get(c->body, "from_offset");
    json_t *dry = json_object_get(c->body, "dry_run");
    struct cv_replay_plan plan;
    const char *reason;
    char errstr[1024];
    json_t *ranges;
    int rc;

    if (api_body_fields(c, fields) != CV_OK ||
        api_body_string(c, "group", 1, &req.group) != CV_OK ||
        api_body_string(c, "topic", 0, &req.topic) != CV_OK ||
        api_body_string(c, "from_time", 0, &req.from_time) != CV_OK ||
        api_body_string(c, "to_time", 0, &req.to_time) != CV_OK ||
        api_body_string(c, "reason", 0, &reason) != CV_OK)
        return;
    if ((part && (!json_is_integer(part) || json_integer_value(part) < 0)) ||
        (off && (!json_is_integer(off) || json_integer_value(off) < 0)) ||
        (dry && !json_is_boolean(dry))) {
        api_error(c, 400,
                  "partition and from_offset are integers >= 0, "
                  "dry_run true or false");
        return;
    }
    if (!req.from_time == !off) {
        api_error(c, 400, "give one of from_time, from_offset");
        return;
    }
    if (part)
        req.partition = (int)json_integer_value(part);
    if (off)
        req.from_offset = json_integer_value(off);
    req.dry_run = json_is_true(dry);
    if (reason)
        req.reason = reason;
    if (!api_pg(c))
        return;
    rc = cv_replay(c->env->cfg, c->env->topo, c->pg, &req, &plan, errstr,
                   sizeof(errstr));
    if (rc != CV_OK) {
        api_error(c,
                  rc == CV_REPLAY_BAD    ? 400
                  : rc == CV_REPLAY_RACE ? 409
                                         : 500,
                  "%s", errstr);
        cv_replay_plan_free(&plan);
        return;
    }
    ranges = json_array();
    for (size_t i = 0; i < plan.nranges; i++) {
        const struct cv_replay_range *r = &plan.ranges[i];
        json_array_append_new(
            ranges,
            json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:o}", "topic", r->topic,
                      "partition", (int)r->partition, "stored",
                      (json_int_t)r->stored, "from", (json_int_t)r->from, "to",
                      (json_int_t)r->to, "events",
                      (json_int_t)(r->from < r->to ? r->to - r->from : 0),
                      "types", counts(plan.domain, r->types, r->ntypes)));
    }
    api_json(c, 200,
             json_pack("{s:b, s:b, s:I, s:i, s:I, s:o, s:o}", "dry_run",
                       req.dry_run, "applied", plan.applied, "events",
                       (json_int_t)plan.total, "partitions",
                       (int)plan.nreplayed, "forgotten",
                       (json_int_t)plan.forgotten, "ranges", ranges, "types",
                       counts(plan.domain, plan.all, plan.nall)));
    cv_replay_plan_free(&plan);
}
