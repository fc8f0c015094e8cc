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
#include "target.h"
#include "tz.h"

#define AT(type, m) (offsetof(type, m) + 1)
#define ROOT(m)     AT(struct cv_topology, m)
#define TOPIC(m)    AT(struct cv_topo_topic, m)
#define EVENT(m)    AT(struct cv_topo_event, m)
#define DOMAIN(m)   AT(struct cv_topo_domain, m)
#define ROUTE(m)    AT(struct cv_topo_route, m)
#define RETRY(m)    AT(struct cv_retry_policy, m)
#define SCHED(m)    AT(struct cv_topo_schedule, m)
#define TARGET(m)   AT(struct cv_target, m)
#define SETTING(m)  AT(struct cv_topo_setting, m)

/* reset: the index is the value of reset_earliest. */
static const char *const reset_names[] = {"latest", "earliest", NULL};
/* enum cv_retry_mode order */
static const char *const retry_mode_names[] = {"blocking", "deferred", NULL};
/* enum cv_catch_up order */
static const char *const catch_up_names[] = {"all", "latest", "none", NULL};
/* enum cv_target_auth order */
static const char *const auth_names[] = {"none", "bearer", "basic", "query",
                                         NULL};
/* enum cv_target_body order */
static const char *const body_names[] = {"json", "form", NULL};

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
    {.group = G_ROOT,
     .name = "targets",
     .type = KEY_LIST,
     .offset = ROOT(targets),
     .count = ROOT(ntargets),
     .items = G_TARGET,
     .desc = "Other services handlers call through effects: how to reach, "
             "authenticate, pace and judge each."},
    {.group = G_ROOT,
     .name = "settings",
     .type = KEY_LIST,
     .offset = ROOT(settings),
     .count = ROOT(nsettings),
     .items = G_SETTING,
     .desc = "Named values handlers read (cv_setting()), each optionally "
             "overridden by an environment variable."},

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

    /* targets = ( { ... } ) */
    {.group = G_TARGET,
     .name = "name",
     .type = KEY_STRING,
     .offset = TARGET(name),
     .line = TARGET(line),
     .flags = KEY_REQUIRED | KEY_NAME,
     .desc = "The target, as effect requests name it: letters, digits, "
             "'.', '_', '-'."},
    {.group = G_TARGET,
     .name = "description",
     .type = KEY_STRING,
     .offset = TARGET(description),
     .desc = "What the service is, in words for people."},
    {.group = G_TARGET,
     .name = "base_url",
     .type = KEY_STRING,
     .offset = TARGET(base_url),
     .flags = KEY_REQUIRED,
     .desc = "http:// or https:// and the host; request paths are appended "
             "to it."},
    {.group = G_TARGET,
     .name = "base_url_env",
     .type = KEY_STRING,
     .offset = TARGET(base_url_env),
     .desc = "An environment variable that, when set, replaces base_url (a "
             "local double in tests, a sandbox)."},
    {.group = G_TARGET,
     .name = "auth",
     .type = KEY_ENUM,
     .offset = TARGET(auth),
     .def_int = CV_AUTH_NONE,
     .names = auth_names,
     .desc = "How the secret is sent: Authorization: Bearer, HTTP basic "
             "(as the user name), or a query parameter (auth_param)."},
    {.group = G_TARGET,
     .name = "secret_env",
     .type = KEY_STRING,
     .offset = TARGET(secret_env),
     .desc = "The environment variable holding the secret (never the secret "
             "itself: it is never logged nor stored)."},
    {.group = G_TARGET,
     .name = "auth_param",
     .type = KEY_STRING,
     .offset = TARGET(auth_param),
     .desc = "auth = \"query\": the parameter's name (MillionVerifier: "
             "\"api\")."},
    {.group = G_TARGET,
     .name = "idempotency_header",
     .type = KEY_STRING,
     .offset = TARGET(idempotency_header),
     .desc = "The header that carries each request's idempotency key "
             "(Stripe: \"Idempotency-Key\"); none sent if absent."},
    {.group = G_TARGET,
     .name = "body",
     .type = KEY_ENUM,
     .offset = TARGET(body),
     .def_int = CV_BODY_JSON,
     .names = body_names,
     .desc = "How a request's JSON body is sent: as JSON, or form-encoded "
             "(Stripe)."},
    {.group = G_TARGET,
     .name = "concurrency",
     .type = KEY_INT,
     .offset = TARGET(concurrency),
     .def_int = 4,
     .min = 1,
     .max = 1000,
     .desc = "Requests in flight at most, across every process."},
    {.group = G_TARGET,
     .name = "rate_per_s",
     .type = KEY_NUMBER,
     .offset = TARGET(rate_per_s),
     .def_num = 0,
     .min = 0,
     .max = 100000,
     .desc = "Requests started per second at most; 0 = no limit."},
    {.group = G_TARGET,
     .name = "timeout_ms",
     .type = KEY_INT,
     .offset = TARGET(timeout_ms),
     .def_int = 30000,
     .min = 100,
     .max = 600000,
     .desc = "One attempt's limit, from the moment it is sent, ms."},
    {.group = G_TARGET,
     .name = "max_age_s",
     .type = KEY_INT,
     .offset = TARGET(max_age_s),
     .def_int = 0,
     .min = 0,
     .max = 31536000,
     .desc = "No attempt later than this after the first (the service "
             "forgets its idempotency keys: Stripe after 86400), seconds; "
             "0 = no limit."},
    {.group = G_TARGET,
     .name = "max_attempts",
     .type = KEY_INT,
     .offset = TARGET(retry.max_attempts),
     .def_int = 5,
     .min = 1,
     .max = 1000,
     .desc = "Attempts in all; then the request fails and its outcome says "
             "why."},
    {.group = G_TARGET,
     .name = "initial_ms",
     .type = KEY_MS,
     .offset = TARGET(retry.initial_ms),
     .def_int = 1000,
     .min = 0,
     .max = 86400000,
     .desc = "The delay before attempt 2, ms (at least what Retry-After "
             "asks)."},
    {.group = G_TARGET,
     .name = "factor",
     .type = KEY_NUMBER,
     .offset = TARGET(retry.factor),
     .def_num = 2.0,
     .min = 1,
     .max = 100,
     .desc = "Each delay is the previous one times this."},
    {.group = G_TARGET,
     .name = "max_ms",
     .type = KEY_MS,
     .offset = TARGET(retry.max_ms),
     .def_int = 60000,
     .min = 0,
     .max = 86400000,
     .desc = "The cap on a delay, ms; not below initial_ms."},
    {.group = G_TARGET,
     .name = "jitter",
     .type = KEY_NUMBER,
     .offset = TARGET(retry.jitter),
     .def_num = 0.2,
     .min = 0,
     .max = 1,
     .desc = "A delay d is drawn from d * (1 +- jitter)."},
    {.group = G_TARGET,
     .name = "error_field",
     .type = KEY_STRING,
     .offset = TARGET(error_field),
     .desc = "A 2xx answer whose JSON body has this top-level field equal "
             "to error_value is an error (MillionVerifier: \"result\")."},
    {.group = G_TARGET,
     .name = "error_value",
     .type = KEY_STRING,
     .offset = TARGET(error_value),
     .desc = "See error_field (MillionVerifier: \"error\")."},
    {.group = G_TARGET,
     .name = "outcome_headers",
     .type = KEY_STRINGS,
     .offset = TARGET(outcome_headers),
     .count = TARGET(noutcome_headers),
     .desc = "Response headers copied into the outcome event, [ "
             "\"Request-Id\" ]."},
    {.group = G_TARGET,
     .name = "kill_switch_env",
     .type = KEY_STRING,
     .offset = TARGET(kill_switch_env),
     .desc = "An environment variable that, set to 1, true, yes or on, "
             "pauses the target in that process: its requests wait."},

    /* settings = ( { ... } ) */
    {.group = G_SETTING,
     .name = "name",
     .type = KEY_STRING,
     .offset = SETTING(name),
     .line = SETTING(line),
     .flags = KEY_REQUIRED | KEY_NAME,
     .desc = "The name handlers ask for: letters, digits, '.', '_', '-'."},
    {.group = G_SETTING,
     .name = "value",
     .type = KEY_STRING,
     .offset = SETTING(value),
     .flags = KEY_REQUIRED,
     .desc = "Its value, as text (handlers cast it in SQL: $1::numeric)."},
    {.group = G_SETTING,
     .name = "env",
     .type = KEY_STRING,
     .offset = SETTING(env),
     .desc = "An environment variable whose value, when set, is used "
             "instead."},
    {.group = G_SETTING,
     .name = "description",
     .type = KEY_STRING,
     .desc = "What it sets, its unit, and where it is used."},
};

const size_t cv_topo_nkeys = CV_ARRAY_SIZE(cv_topo_keys);

/* ---- the kinds of group ---- */

static int domain_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj);
static int schedule_finalize(struct loader *ld, const config_setting_t *g,
                             const char *what, void *obj);
static int retry_finalize(struct loader *ld, const config_setting_t *g,
                          const char *what, void *obj);
static int target_finalize(struct loader *ld, const config_setting_t *g,
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
    [G_TARGET] = {.id = "target",
                  .kind = "target",
                  .list = "targets",
                  .name_key = "name",
                  .size = sizeof(struct cv_target),
                  .finalize = target_finalize},
    [G_SETTING] = {.id = "setting",
                   .kind = "setting",
                   .list = "settings",
                   .name_key = "name",
                   .size = sizeof(struct cv_topo_setting)},
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

static int target_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj)
{
    struct cv_target *t = obj;
    const char *why = NULL;

    if (strncmp(t->base_url, "http://", 7) != 0 &&
        strncmp(t->base_url, "https://", 8) != 0)
        why = "base_url must start with http:// or https://";
    else if (t->auth != CV_AUTH_NONE && !t->secret_env)
        why = "an auth other than \"none\" needs secret_env (the variable "
              "that holds the secret)";
    else if (t->auth == CV_AUTH_QUERY && !t->auth_param)
        why = "auth = \"query\" needs auth_param (the parameter's name)";
    else if (!t->error_field != !t->error_value)
        why = "error_field and error_value go together";
    else if (t->retry.max_ms < t->retry.initial_ms)
        why = "max_ms is less than initial_ms";
    if (why)
        return cv_cfgfile_errf(ld->errstr, ld->errstr_size, ld->path, g,
                               "%s: %s", what, why);
    t->max_age_ms = (int64_t)t->max_age_s * 1000;
    t->retry.mode = CV_RETRY_DEFERRED; /* the request waits, nothing else */
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
