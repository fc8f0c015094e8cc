/*
 * topology_keys.c - every key a topology file may hold, in one table: the
 * group it belongs to, its name, type, default, bounds or allowed values,
 * whether it is required, and a description; and, per kind of group, the
 * rules that involve more than one key.
 *
 * Adding a key is a row here and a member in topology.h; the loader
 * (topology.c) validates, defaults and frees it from the row, the describe
 * output lists it, and a unit test fails until topology/marketplace.cfg
 * documents it. Within a group the keys are read in table order, so the
 * order here is also the order of the "expected ..." lists in messages.
 */
#include "topology_int.h"

#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "cron.h"
#include "tz.h"

#define AT(type, m) (offsetof(type, m) + 1)
#define ROOT(m)     AT(struct cv_topology, m)
#define TOPIC(m)    AT(struct cv_topo_topic, m)
#define EVENT(m)    AT(struct cv_topo_event, m)
#define DOMAIN(m)   AT(struct cv_topo_domain, m)
#define ROUTE(m)    AT(struct cv_topo_route, m)
#define RETRY(m)    AT(struct cv_retry_policy, m)
#define SCHED(m)    AT(struct cv_topo_schedule, m)

/* reset: the index is the value of reset_earliest. */
static const char *const reset_names[] = {"latest", "earliest", NULL};
/* enum cv_retry_mode order */
static const char *const retry_mode_names[] = {"blocking", "deferred", NULL};
/* enum cv_catch_up order */
static const char *const catch_up_names[] = {"all", "latest", "none", NULL};

const struct key_def cv_topo_keys[] = {
    /* the file */
    {.group = G_ROOT,
     .name = "topics",
     .type = KEY_LIST,
     .offset = ROOT(topics),
     .count = ROOT(ntopics),
     .items = G_TOPIC,
     .flags = KEY_REQUIRED,
     .desc = "The Kafka topics the engine consumes and produces."},
    {.group = G_ROOT,
     .name = "events",
     .type = KEY_LIST,
     .offset = ROOT(events),
     .count = ROOT(nevents),
     .items = G_EVENT,
     .flags = KEY_REQUIRED,
     .desc = "The event types (the CloudEvents ce_type): the schema of "
             "each and the topic it travels on."},
    {.group = G_ROOT,
     .name = "domains",
     .type = KEY_LIST,
     .offset = ROOT(domains),
     .count = ROOT(ndomains),
     .items = G_DOMAIN,
     .flags = KEY_REQUIRED,
     .desc = "The consumer domains: one consumer group each, with routes "
             "from event types to handlers."},
    {.group = G_ROOT,
     .name = "schedules",
     .type = KEY_LIST,
     .offset = ROOT(schedules),
     .count = ROOT(nschedules),
     .items = G_SCHEDULE,
     .desc = "Cron schedules: the ticker publishes each one's event once "
             "per fire time."},

    /* topics = ( { ... } ) */
    {.group = G_TOPIC,
     .name = "name",
     .type = KEY_STRING,
     .offset = TOPIC(name),
     .line = TOPIC(line),
     .flags = KEY_REQUIRED | KEY_TOPIC,
     .desc = "The Kafka topic: 1..249 of letters, digits, '.', '_', '-'."},
    {.group = G_TOPIC,
     .name = "partitions",
     .type = KEY_INT,
     .offset = TOPIC(partitions),
     .flags = KEY_REQUIRED,
     .min = 1,
     .max = 10000,
     .desc = "Its partition count, which bounds a domain's parallelism."},
    {.group = G_TOPIC,
     .name = "description",
     .type = KEY_STRING,
     .desc = "What travels on the topic, in words for people."},

    /* events = ( { ... } ) */
    {.group = G_EVENT,
     .name = "type",
     .type = KEY_STRING,
     .offset = EVENT(type),
     .line = EVENT(line),
     .flags = KEY_REQUIRED,
     .desc = "The event type, the ce_type header: "
             "\"marketplace.lead.submitted\"."},
    {.group = G_EVENT,
     .name = "schema",
     .type = KEY_STRING,
     .offset = EVENT(schema),
     .line = EVENT(schema_line),
     .flags = KEY_REQUIRED,
     .desc = "The full name of its Avro schema in the catalogue "
             "(schemas/)."},
    {.group = G_EVENT,
     .name = "topic",
     .type = KEY_STRING,
     .offset = EVENT(topic),
     .line = EVENT(topic_line),
     .flags = KEY_REQUIRED | KEY_TOPIC,
     .desc = "The declared topic producers send it to."},
    {.group = G_EVENT,
     .name = "key",
     .type = KEY_STRING,
     .offset = EVENT(key_field),
     .line = EVENT(key_line),
     .desc = "The record field (string, int or long) that becomes the "
             "Kafka key: the entity whose events stay in order. No key if "
             "absent."},
    {.group = G_EVENT,
     .name = "description",
     .type = KEY_STRING,
     .desc = "What the event means, in words for people."},

    /* domains = ( { ... } ) */
    {.group = G_DOMAIN,
     .name = "name",
     .type = KEY_STRING,
     .offset = DOMAIN(name),
     .line = DOMAIN(line),
     .flags = KEY_REQUIRED | KEY_NAME,
     .desc = "The domain: letters, digits, '.', '_', '-' (it goes into the "
             "default dlq_topic and metric labels)."},
    {.group = G_DOMAIN,
     .name = "group",
     .type = KEY_STRING,
     .offset = DOMAIN(group_id),
     .flags = KEY_REQUIRED,
     .desc = "Its Kafka consumer group id, one per domain."},
    {.group = G_DOMAIN,
     .name = "description",
     .type = KEY_STRING,
     .desc = "What the domain does, in words for people."},
    {.group = G_DOMAIN,
     .name = "topics",
     .type = KEY_TOPICS,
     .offset = DOMAIN(topics),
     .count = DOMAIN(ntopics),
     .line = DOMAIN(topics_line),
     .flags = KEY_REQUIRED,
     .desc = "The declared topics it consumes, [ \"a\", \"b\" ]: at least "
             "one."},
    {.group = G_DOMAIN,
     .name = "dlq_topic",
     .type = KEY_STRING,
     .offset = DOMAIN(dlq_topic),
     .line = DOMAIN(dlq_line),
     .flags = KEY_TOPIC,
     .desc = "Where its dead letters are also published; default "
             "\"conveyor.dlq.<name>\"."},
    {.group = G_DOMAIN,
     .name = "reset",
     .type = KEY_ENUM,
     .offset = DOMAIN(reset_earliest),
     .def_int = 1,
     .names = reset_names,
     .desc = "Where the group starts on a partition without a committed "
             "offset."},
    {.group = G_DOMAIN,
     .name = "batch_size",
     .type = KEY_INT,
     .offset = DOMAIN(batch_size),
     .def_int = 500,
     .min = 1,
     .max = 100000,
     .desc = "The most events applied in one Postgres transaction."},
    {.group = G_DOMAIN,
     .name = "batch_wait_ms",
     .type = KEY_INT,
     .offset = DOMAIN(batch_wait_ms),
     .def_int = 50,
     .min = 0,
     .max = 60000,
     .desc = "How long a batch waits for more events before it is "
             "applied, ms."},
    {.group = G_DOMAIN,
     .name = "parallelism",
     .type = KEY_INT,
     .offset = DOMAIN(parallelism),
     .def_int = 1,
     .min = 1,
     .max = 64,
     .desc = "Consumer threads in one process; more than the partitions "
             "leaves some idle."},
    {.group = G_DOMAIN,
     .name = "kill_switch_env",
     .type = KEY_STRING,
     .offset = DOMAIN(kill_switch_env),
     .desc = "An environment variable that, set to 1, true, yes or on, "
             "pauses the domain in that process (a kill switch); none if "
             "absent."},
    {.group = G_DOMAIN,
     .name = "retry",
     .type = KEY_GROUP,
     .offset = DOMAIN(retry),
     .items = G_RETRY,
     .desc = "The retry policy of its routes, retry = { ... }; the retry "
             "defaults if absent."},
    {.group = G_DOMAIN,
     .name = "routes",
     .type = KEY_LIST,
     .offset = DOMAIN(routes),
     .count = DOMAIN(nroutes),
     .items = G_ROUTE,
     .desc = "Which handler runs for each event type on its topics; the "
             "check wants one route per event type."},

    /* routes = ( { ... } ) in a domain */
    {.group = G_ROUTE,
     .name = "event",
     .type = KEY_STRING,
     .offset = ROUTE(event_type),
     .line = ROUTE(line),
     .flags = KEY_REQUIRED,
     .desc = "A declared event type on one of the domain's topics."},
    {.group = G_ROUTE,
     .name = "handler",
     .type = KEY_STRING,
     .offset = ROUTE(handler),
     .line = ROUTE(handler_line),
     .flags = KEY_REQUIRED,
     .desc = "The compiled-in handler, \"<domain>.<handler>\" "
             "(consumers/<domain>.c)."},
    {.group = G_ROUTE,
     .name = "description",
     .type = KEY_STRING,
     .desc = "What the handler does with the event, in words for people."},
    {.group = G_ROUTE,
     .name = "retry",
     .type = KEY_GROUP,
     .offset = ROUTE(retry),
     .items = G_RETRY,
     .desc = "Overrides the domain's retry policy for this route, key by "
             "key."},

    /* retry = { ... } in a domain or a route */
    {.group = G_RETRY,
     .name = "mode",
     .type = KEY_ENUM,
     .offset = RETRY(mode),
     .def_int = CV_RETRY_BLOCKING,
     .names = retry_mode_names,
     .desc = "blocking: the partition waits at the failed event, order "
             "kept; deferred: the event is parked and the partition flows "
             "on."},
    {.group = G_RETRY,
     .name = "max_attempts",
     .type = KEY_INT,
     .offset = RETRY(max_attempts),
     .def_int = 3,
     .min = 1,
     .max = 1000,
     .desc = "Attempts in all, the first delivery included; then the event "
             "is dead-lettered."},
    {.group = G_RETRY,
     .name = "initial_ms",
     .type = KEY_MS,
     .offset = RETRY(initial_ms),
     .def_int = 200,
     .min = 0,
     .max = 86400000,
     .desc = "The delay before attempt 2, ms."},
    {.group = G_RETRY,
     .name = "factor",
     .type = KEY_NUMBER,
     .offset = RETRY(factor),
     .def_num = 2.0,
     .min = 1,
     .max = 100,
     .desc = "Each delay is the previous one times this."},
    {.group = G_RETRY,
     .name = "max_ms",
     .type = KEY_MS,
     .offset = RETRY(max_ms),
     .def_int = 60000,
     .min = 0,
     .max = 604800000,
     .desc = "The cap on a delay, ms; not below initial_ms."},
    {.group = G_RETRY,
     .name = "jitter",
     .type = KEY_NUMBER,
     .offset = RETRY(jitter),
     .def_num = 0.1,
     .min = 0,
     .max = 1,
     .desc = "A delay d is drawn from d * (1 +- jitter)."},
    {.group = G_RETRY,
     .name = "timeout_ms",
     .type = KEY_INT,
     .offset = RETRY(timeout_ms),
     .def_int = 30000,
     .min = 0,
     .max = 86400000,
     .desc = "A handler running longer fails the attempt and stops the "
             "process (exit 3), ms; 0 = no limit."},

    /* schedules = ( { ... } ) */
    {.group = G_SCHEDULE,
     .name = "name",
     .type = KEY_STRING,
     .offset = SCHED(name),
     .line = SCHED(line),
     .flags = KEY_REQUIRED | KEY_NAME,
     .desc = "The schedule: letters, digits, '.', '_', '-' (it goes into "
             "event ids and metric labels)."},
    {.group = G_SCHEDULE,
     .name = "cron",
     .type = KEY_STRING,
     .offset = SCHED(cron_expr),
     .line = SCHED(cron_line),
     .flags = KEY_REQUIRED,
     .desc = "Five cron fields, or @daily and the like; L, W and # work "
             "too."},
    {.group = G_SCHEDULE,
     .name = "zone",
     .type = KEY_STRING,
     .offset = SCHED(zone),
     .line = SCHED(zone_line),
     .def_str = "UTC",
     .desc = "The IANA time zone the cron fields are read in."},
    {.group = G_SCHEDULE,
     .name = "event",
     .type = KEY_STRING,
     .offset = SCHED(event_type),
     .line = SCHED(event_line),
     .flags = KEY_REQUIRED,
     .desc = "The declared event type published at each fire time."},
    {.group = G_SCHEDULE,
     .name = "payload",
     .type = KEY_STRING,
     .offset = SCHED(payload),
     .line = SCHED(payload_line),
     .def_str = "{}",
     .desc = "A JSON object merged into every event; the ticker fills "
             "schedule, fire_time and run."},
    {.group = G_SCHEDULE,
     .name = "key",
     .type = KEY_STRING,
     .offset = SCHED(key),
     .desc = "The Kafka key of its events; default the schedule's name."},
    {.group = G_SCHEDULE,
     .name = "catch_up",
     .type = KEY_ENUM,
     .offset = SCHED(catch_up),
     .def_int = CV_CATCH_UP_LATEST,
     .names = catch_up_names,
     .desc = "After downtime: publish all missed fires, the latest one, or "
             "none."},
    {.group = G_SCHEDULE,
     .name = "catch_up_window_s",
     .type = KEY_INT,
     .offset = SCHED(catch_up_window_s),
     .def_int = 86400,
     .min = 60,
     .max = 366 * 86400,
     .desc = "Missed fires older than this are skipped, seconds."},
    {.group = G_SCHEDULE,
     .name = "enabled",
     .type = KEY_BOOL,
     .offset = SCHED(enabled),
     .def_int = 1,
     .desc = "A disabled schedule records its fire times as skipped."},
    {.group = G_SCHEDULE,
     .name = "description",
     .type = KEY_STRING,
     .desc = "What the scheduled job does, in words for people."},
};

const size_t cv_topo_nkeys = CV_ARRAY_SIZE(cv_topo_keys);

/* ---- the kinds of group ---- */

static int domain_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj);
static int schedule_finalize(struct loader *ld, const config_setting_t *g,
                             const char *what, void *obj);
static int retry_finalize(struct loader *ld, const config_setting_t *g,
                          const char *what, void *obj);
static void route_inherit(void *obj, const void *parent);
static void schedule_release(void *obj);

const struct group_def cv_topo_groups[] = {
    [G_ROOT] = {.id = "",
                .kind = "topology",
                .size = sizeof(struct cv_topology)},
    [G_TOPIC] = {.id = "topic",
                 .kind = "topic",
                 .list = "topics",
                 .name_key = "name",
                 .size = sizeof(struct cv_topo_topic)},
    [G_EVENT] = {.id = "event",
                 .kind = "event",
                 .list = "events",
                 .name_key = "type",
                 .size = sizeof(struct cv_topo_event)},
    [G_DOMAIN] = {.id = "domain",
                  .kind = "domain",
                  .list = "domains",
                  .name_key = "name",
                  .size = sizeof(struct cv_topo_domain),
                  .finalize = domain_finalize},
    [G_ROUTE] = {.id = "route",
                 .kind = "route for",
                 .list = "routes",
                 .name_key = "event",
                 .size = sizeof(struct cv_topo_route),
                 .inherit = route_inherit},
    [G_RETRY] = {.id = "retry",
                 .kind = "retry",
                 .size = sizeof(struct cv_retry_policy),
                 .finalize = retry_finalize},
    [G_SCHEDULE] = {.id = "schedule",
                    .kind = "schedule",
                    .list = "schedules",
                    .name_key = "name",
                    .size = sizeof(struct cv_topo_schedule),
                    .finalize = schedule_finalize,
                    .release = schedule_release},
};

/* ---- rules across keys ---- */

static int domain_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj)
{
    struct cv_topo_domain *d = obj;

    if (d->dlq_topic)
        return CV_OK;
    d->dlq_topic = cv_asprintf("conveyor.dlq.%s", d->name);
    if (!cv_topo_topic_name_ok(d->dlq_topic))
        return cv_cfgfile_errf(
            ld->errstr, ld->errstr_size, ld->path, g,
            "%s: the default dlq_topic would be longer than %d "
            "characters; set dlq_topic",
            what, CV_TOPIC_NAME_MAX);
    return CV_OK;
}

static int schedule_finalize(struct loader *ld, const config_setting_t *g,
                             const char *what, void *obj)
{
    struct cv_topo_schedule *s = obj;

    (void)ld;
    (void)g;
    (void)what;
    if (!s->key)
        s->key = cv_strdup(s->name);
    return CV_OK;
}

/*
 * max_ms >= initial_ms is checked on the merged policy, since a route's two
 * values may come from different groups. The upper bounds in the table
 * only catch typos (a day's delay, a week's cap).
 */
static int retry_finalize(struct loader *ld, const config_setting_t *g,
                          const char *what, void *obj)
{
    struct cv_retry_policy *p = obj;

    if (config_setting_length(g) > 0) /* `retry = {};` sets nothing */
        p->line = config_setting_source_line(g);
    if (p->max_ms < p->initial_ms)
        return cv_cfgfile_errf(
            ld->errstr, ld->errstr_size, ld->path, g,
            "%s: max_ms (%lld) is less than initial_ms (%lld)", what,
            (long long)p->max_ms, (long long)p->initial_ms);
    return CV_OK;
}

static void route_inherit(void *obj, const void *parent)
{
    struct cv_topo_route *rt = obj;
    const struct cv_topo_domain *d = parent;

    rt->retry = d->retry;
}

static void schedule_release(void *obj)
{
    struct cv_topo_schedule *s = obj;

    cv_cron_free(s->cron);
    cv_tz_free(s->tz);
}

/* ---- the table, for people and tests ---- */

void cv_topology_describe(FILE *out)
{
    char list[128];

    for (size_t i = 0; i < CV_ARRAY_SIZE(cv_topo_keys); i++) {
        const struct key_def *k = &cv_topo_keys[i];
        const char *id = cv_topo_groups[k->group].id;

        fprintf(out, "%s%s%s (", id, *id ? "." : "", k->name);
        switch (k->type) {
        case KEY_STRING:
            fprintf(out, "string");
            if (k->def_str)
                fprintf(out, ", default \"%s\"", k->def_str);
            break;
        case KEY_INT:
        case KEY_MS:
            fprintf(out, "integer %lld..%lld", k->min, k->max);
            if (!(k->flags & KEY_REQUIRED))
                fprintf(out, ", default %lld", k->def_int);
            break;
        case KEY_NUMBER:
            fprintf(out, "number %g..%g, default %g", (double)k->min,
                    (double)k->max, k->def_num);
            break;
        case KEY_BOOL:
            fprintf(out, "true or false, default %s",
                    k->def_int ? "true" : "false");
            break;
        case KEY_ENUM:
            cv_topo_alternatives(k->names, list, sizeof(list));
            fprintf(out, "%s, default %s", list, k->names[k->def_int]);
            break;
        case KEY_TOPICS:
            fprintf(out, "array of topic names");
            break;
        case KEY_LIST:
            fprintf(out, "list of %s groups", cv_topo_groups[k->items].id);
            break;
        case KEY_GROUP:
            fprintf(out, "%s group", cv_topo_groups[k->items].id);
            break;
        }
        fprintf(out, "%s)\n    %s\n",
                k->flags & KEY_REQUIRED ? ", required" : "", k->desc);
    }
}

const char *const *cv_topology_keys(void)
{
    /* Filled on first use; the program calls this before starting threads. */
    static char buf[CV_ARRAY_SIZE(cv_topo_keys)][48];
    static const char *names[CV_ARRAY_SIZE(cv_topo_keys) + 1];

    if (!names[0])
        for (size_t i = 0; i < CV_ARRAY_SIZE(cv_topo_keys); i++) {
            const char *id = cv_topo_groups[cv_topo_keys[i].group].id;
            snprintf(buf[i], sizeof(buf[i]), "%s%s%s", id, *id ? "." : "",
                     cv_topo_keys[i].name);
            names[i] = buf[i];
        }
    return names;
}
