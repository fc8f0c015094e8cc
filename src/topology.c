/*
 * topology.c - load and cross-check topology/<name>.cfg: topics, event
 * types, consumer domains and their routes.
 *
 * Loading is strict and stops at the first problem in the file itself: a
 * syntax error, an unknown key, a wrong type, a value out of range, a
 * missing required key, an illegal Kafka topic name. Each error carries
 * file:line. Optional keys get their defaults here (batch_size 500,
 * batch_wait_ms 50, parallelism 1, reset earliest, dlq_topic
 * "conveyor.dlq.<domain>", retry blocking, 3 attempts, 200 ms doubling to
 * 60 s, jitter 0.1, timeout 30 s), and every route's retry policy is
 * resolved against its domain's, so the rest of the engine never guesses.
 *
 * Checking across the file, the schema catalogue and the handlers is
 * topology_check.c's. The loaded topology is immutable after
 * cv_topology_check() and may be shared by threads. This module does not
 * create topics or talk to Kafka.
 */
#include "topology.h"

#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "cron.h"
#include "tz.h"

/* Kafka's own limit on topic names. */
#define TOPIC_NAME_MAX 249

/* ---- loading ---- */

struct loader {
    const char *path;
    char *errstr;
    size_t errstr_size;
};

/* The keys each kind of group may hold. */
static const char *const root_keys[] = {"topics", "events", "domains",
                                        "schedules", NULL};
static const char *const topic_keys[] = {"name", "partitions", "description",
                                         NULL};
static const char *const event_keys[] = {"type", "schema",      "topic",
                                         "key",  "description", NULL};
static const char *const domain_keys[] = {
    "name",        "group",           "description",
    "topics",      "routes",          "dlq_topic",
    "reset",       "batch_size",      "batch_wait_ms",
    "parallelism", "kill_switch_env", "retry",
    NULL};
static const char *const route_keys[] = {"event", "handler", "description",
                                         "retry", NULL};
static const char *const retry_keys[] = {
    "mode",   "max_attempts", "initial_ms", "factor",
    "max_ms", "jitter",       "timeout_ms", NULL};
static const char *const schedule_keys[] = {
    "name", "cron",     "zone",    "event",       "payload",
    "key",  "catch_up", "enabled", "description", "catch_up_window_s",
    NULL};

static int line_of(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

/*
 * The line of key in group g, or of g itself if the key is absent. libconfig
 * gives a group in a list the line of its '{'; a finding about one key
 * must point at that key, which may be lines further down.
 */
static int key_line(const config_setting_t *g, const char *key)
{
    const config_setting_t *m = config_setting_get_member(g, key);

    return m ? line_of(m) : line_of(g);
}

static int fail_at(struct loader *ld, const config_setting_t *s,
                   const char *fmt, ...) CV_PRINTF(3, 4);

static int fail_at(struct loader *ld, const config_setting_t *s,
                   const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cv_cfgfile_errf(ld->errstr, ld->errstr_size, ld->path, s, "%s", msg);
}

/* "a, b, c" from a NULL-terminated list. */
static void join(const char *const *names, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        int w =
            snprintf(buf + len, size - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - len)
            return;
        len += (size_t)w;
    }
}

/*
 * Errors must point at a line of this file, and a setting that came from
 * an @include'd file would point into another; topologies are one file.
 */
static int no_include(struct loader *ld, const config_setting_t *s)
{
    const char *file = config_setting_source_file(s);

    if (file)
        return cv_err(ld->errstr, ld->errstr_size,
                      "%s:%d: @include is not supported in a topology file "
                      "(from '%s')",
                      ld->path, line_of(s), file);
    return CV_OK;
}

static int check_keys(struct loader *ld, const config_setting_t *group,
                      const char *what, const char *const *allowed)
{
    char list[256];

    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        size_t k = 0;

        if (no_include(ld, s) != CV_OK)
            return CV_ERR;
        while (allowed[k] && strcmp(allowed[k], name) != 0)
            k++;
        if (!allowed[k]) {
            join(allowed, list, sizeof(list));
            return fail_at(ld, s, "%s: unknown key '%s' (expected %s)", what,
                           name, list);
        }
    }
    return CV_OK;
}

static int get_string(struct loader *ld, const config_setting_t *group,
                      const char *what, const char *key, int required,
                      char **out)
{
    const config_setting_t *s = config_setting_get_member(group, key);

    if (!s) {
        if (required)
            return fail_at(ld, group, "%s: missing '%s'", what, key);
        return CV_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(ld, s, "%s: key '%s': expected a string, got %s", what,
                       key, cv_cfgfile_type_name(s));
    if (!*config_setting_get_string(s))
        return fail_at(ld, s,
                       "%s: key '%s': expected a non-empty string, got \"\"",
                       what, key);
    *out = cv_strdup(config_setting_get_string(s));
    return CV_OK;
}

static int get_int(struct loader *ld, const config_setting_t *group,
                   const char *what, const char *key, int required, int min,
                   int max, int *out)
{
    const config_setting_t *s = config_setting_get_member(group, key);
    long long v;

    if (!s) {
        if (required)
            return fail_at(ld, group, "%s: missing '%s'", what, key);
        return CV_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_INT &&
        config_setting_type(s) != CONFIG_TYPE_INT64)
        return fail_at(ld, s, "%s: key '%s': expected integer %d..%d, got %s",
                       what, key, min, max, cv_cfgfile_type_name(s));
    v = config_setting_get_int64(s);
    if (v < min || v > max)
        return fail_at(ld, s, "%s: key '%s': expected integer %d..%d, got %lld",
                       what, key, min, max, v);
    *out = (int)v;
    return CV_OK;
}

/* Like get_int, for the millisecond values that are int64_t. */
static int get_int64(struct loader *ld, const config_setting_t *group,
                     const char *what, const char *key, long long min,
                     long long max, int64_t *out)
{
    const config_setting_t *s = config_setting_get_member(group, key);
    long long v;

    if (!s)
        return CV_OK;
    if (config_setting_type(s) != CONFIG_TYPE_INT &&
        config_setting_type(s) != CONFIG_TYPE_INT64)
        return fail_at(ld, s,
                       "%s: key '%s': expected integer %lld..%lld, got %s",
                       what, key, min, max, cv_cfgfile_type_name(s));
    v = config_setting_get_int64(s);
    if (v < min || v > max)
        return fail_at(ld, s,
                       "%s: key '%s': expected integer %lld..%lld, got %lld",
                       what, key, min, max, v);
    *out = (int64_t)v;
    return CV_OK;
}

static int get_bool(struct loader *ld, const config_setting_t *group,
                    const char *what, const char *key, int *out)
{
    const config_setting_t *s = config_setting_get_member(group, key);

    if (!s)
        return CV_OK;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail_at(ld, s, "%s: key '%s': expected true or false, got %s",
                       what, key, cv_cfgfile_type_name(s));
    *out = config_setting_get_bool(s);
    return CV_OK;
}

/* reset = "latest" | "earliest": the index in names is the value. */
static const char *const reset_names[] = {"latest", "earliest", NULL};

static int get_enum(struct loader *ld, const config_setting_t *group,
                    const char *what, const char *key, const char *const *names,
                    int *out)
{
    const config_setting_t *s = config_setting_get_member(group, key);
    const char *v;
    char list[128] = "";

    if (!s)
        return CV_OK;
    for (size_t i = 0; names[i]; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                 i ? "|" : "", names[i]);
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(ld, s, "%s: key '%s': expected %s, got %s", what, key,
                       list, cv_cfgfile_type_name(s));
    v = config_setting_get_string(s);
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], v) == 0) {
            *out = i;
            return CV_OK;
        }
    return fail_at(ld, s, "%s: key '%s': expected %s, got '%.100s'", what, key,
                   list, v);
}

/* A number (integer or float) in [min, max]. */
static int get_number(struct loader *ld, const config_setting_t *group,
                      const char *what, const char *key, double min, double max,
                      double *out)
{
    const config_setting_t *s = config_setting_get_member(group, key);
    double v;

    if (!s)
        return CV_OK;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        v = (double)config_setting_get_int64(s);
        break;
    case CONFIG_TYPE_FLOAT:
        v = config_setting_get_float(s);
        break;
    default:
        return fail_at(ld, s, "%s: key '%s': expected a number %g..%g, got %s",
                       what, key, min, max, cv_cfgfile_type_name(s));
    }
    if (!(v >= min && v <= max))
        return fail_at(ld, s, "%s: key '%s': expected a number %g..%g, got %g",
                       what, key, min, max, v);
    *out = v;
    return CV_OK;
}

static const char *const retry_mode_names[] = {"blocking", "deferred", NULL};

static void retry_defaults(struct cv_retry_policy *p)
{
    p->mode = CV_RETRY_BLOCKING;
    p->max_attempts = 3;
    p->initial_ms = 200;
    p->factor = 2.0;
    p->max_ms = 60000;
    p->jitter = 0.1;
    p->timeout_ms = 30000;
    p->line = 0;
}

/*
 * Reads the optional `retry` group of g over *p, which holds the defaults
 * (for a domain) or the domain's policy (for a route): every key the group
 * sets wins, the others are inherited. max_ms >= initial_ms is checked on
 * the merged policy, since the two may come from different groups. The
 * upper bounds only catch typos (a day's delay, a week's cap).
 */
static int load_retry(struct loader *ld, const config_setting_t *g,
                      const char *what, struct cv_retry_policy *p)
{
    const config_setting_t *r = config_setting_get_member(g, "retry");
    char rwhat[1100];

    if (!r)
        return CV_OK;
    snprintf(rwhat, sizeof(rwhat), "%s: retry", what);
    if (!config_setting_is_group(r))
        return fail_at(ld, r, "%s: expected a group { ... }, got %s", rwhat,
                       cv_cfgfile_type_name(r));
    if (check_keys(ld, r, rwhat, retry_keys) != CV_OK ||
        get_enum(ld, r, rwhat, "mode", retry_mode_names, &p->mode) != CV_OK ||
        get_int(ld, r, rwhat, "max_attempts", 0, 1, 1000, &p->max_attempts) !=
            CV_OK ||
        get_int64(ld, r, rwhat, "initial_ms", 0, 86400000LL, &p->initial_ms) !=
            CV_OK ||
        get_number(ld, r, rwhat, "factor", 1.0, 100.0, &p->factor) != CV_OK ||
        get_int64(ld, r, rwhat, "max_ms", 0, 604800000LL, &p->max_ms) !=
            CV_OK ||
        get_number(ld, r, rwhat, "jitter", 0.0, 1.0, &p->jitter) != CV_OK ||
        get_int(ld, r, rwhat, "timeout_ms", 0, 0, 86400000, &p->timeout_ms) !=
            CV_OK)
        return CV_ERR;
    if (config_setting_length(r) > 0) /* `retry = {};` sets nothing */
        p->line = line_of(r);
    if (p->max_ms < p->initial_ms)
        return fail_at(ld, r,
                       "%s: max_ms (%lld) is less than initial_ms (%lld)",
                       rwhat, (long long)p->max_ms, (long long)p->initial_ms);
    return CV_OK;
}

int64_t cv_retry_delay_ms(const struct cv_retry_policy *p, int failures,
                          double u)
{
    double cap = p->max_ms > 0 ? (double)p->max_ms : 0.0;
    double d = p->initial_ms > 0 ? (double)p->initial_ms : 0.0;

    if (failures < 1)
        failures = 1;
    /*
     * In double, and capped before anything becomes an integer: factor^n
     * may be inf for a large failure count (a loop over failures took 7 s
     * for INT_MAX when the delay never reached the cap).
     */
    if (d > 0.0 && failures > 1)
        d *= pow(p->factor, (double)(failures - 1));
    if (!(d <= cap))
        d = cap;
    if (!(u >= 0.0)) /* NaN too */
        u = 0.0;
    if (u > 1.0)
        u = 1.0;
    if (p->jitter > 0.0)
        d *= 1.0 + p->jitter * (2.0 * u - 1.0);
    return d > 0.0 ? (int64_t)(d + 0.5) : 0;
}

/* Kafka: 1..249 of [A-Za-z0-9._-], and not "." or "..". */
static int topic_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > TOPIC_NAME_MAX || strcmp(s, ".") == 0 ||
        strcmp(s, "..") == 0)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int check_topic_name(struct loader *ld, const config_setting_t *s,
                            const char *what, const char *key, const char *name)
{
    if (topic_name_ok(name))
        return CV_OK;
    return fail_at(ld, s,
                   "%s: key '%s': '%.*s' is not a valid Kafka topic name "
                   "(1..249 of letters, digits, '.', '_', '-')",
                   what, key, 300, name);
}

/*
 * What to call an element in messages: "topic 'marketplace.leads'", or
 * "topics[2]" until it has a usable name.
 */
static void label(char *buf, size_t size, const config_setting_t *elem,
                  const char *kind, const char *list, int index,
                  const char *name_key)
{
    const config_setting_t *n = config_setting_type(elem) == CONFIG_TYPE_GROUP
                                    ? config_setting_get_member(elem, name_key)
                                    : NULL;

    if (n && config_setting_type(n) == CONFIG_TYPE_STRING &&
        *config_setting_get_string(n))
        snprintf(buf, size, "%s '%.200s'", kind, config_setting_get_string(n));
    else
        snprintf(buf, size, "%s[%d]", list, index);
}

/* A list of groups (an empty array is an empty list too). */
static int get_list(struct loader *ld, const config_setting_t *parent,
                    const char *what, const char *key, int required,
                    const config_setting_t **out)
{
    const config_setting_t *s = config_setting_get_member(parent, key);
    int type;

    *out = NULL;
    if (!s) {
        if (!required)
            return CV_OK;
        if (what)
            return fail_at(ld, parent, "%s: missing '%s'", what, key);
        return cv_err(ld->errstr, ld->errstr_size,
                      "%s: missing '%s = ( ... );'", ld->path, key);
    }
    type = config_setting_type(s);
    if (type != CONFIG_TYPE_LIST &&
        !(type == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0))
        return fail_at(ld, s,
                       "%s%skey '%s': expected a list ( { ... } ), "
                       "got %s",
                       what ? what : "", what ? ": " : "", key,
                       cv_cfgfile_type_name(s));
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (no_include(ld, e) != CV_OK)
            return CV_ERR;
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return fail_at(ld, e, "%s[%d]: expected a group { ... }, got %s",
                           key, i, cv_cfgfile_type_name(e));
    }
    *out = s;
    return CV_OK;
}

static int load_topics(struct loader *ld, const config_setting_t *list,
                       struct cv_topology *t)
{
    int n = config_setting_length(list);

    t->topics = cv_calloc((size_t)n, sizeof(*t->topics));
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        struct cv_topo_topic *tp = &t->topics[t->ntopics++];
        char what[256];
        char *desc = NULL;
        int rc;

        tp->line = key_line(g, "name");
        label(what, sizeof(what), g, "topic", "topics", i, "name");
        if (check_keys(ld, g, what, topic_keys) != CV_OK ||
            get_string(ld, g, what, "name", 1, &tp->name) != CV_OK ||
            check_topic_name(ld, config_setting_get_member(g, "name"), what,
                             "name", tp->name) != CV_OK ||
            get_int(ld, g, what, "partitions", 1, 1, 10000, &tp->partitions) !=
                CV_OK)
            return CV_ERR;
        rc = get_string(ld, g, what, "description", 0, &desc);
        free(desc);
        if (rc != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

static int load_events(struct loader *ld, const config_setting_t *list,
                       struct cv_topology *t)
{
    int n = config_setting_length(list);

    t->events = cv_calloc((size_t)n, sizeof(*t->events));
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        struct cv_topo_event *ev = &t->events[t->nevents++];
        char what[256];
        char *desc = NULL;
        int rc;

        ev->line = key_line(g, "type");
        ev->schema_line = key_line(g, "schema");
        ev->topic_line = key_line(g, "topic");
        ev->key_line = key_line(g, "key");
        label(what, sizeof(what), g, "event", "events", i, "type");
        if (check_keys(ld, g, what, event_keys) != CV_OK ||
            get_string(ld, g, what, "type", 1, &ev->type) != CV_OK ||
            get_string(ld, g, what, "schema", 1, &ev->schema) != CV_OK ||
            get_string(ld, g, what, "topic", 1, &ev->topic) != CV_OK ||
            check_topic_name(ld, config_setting_get_member(g, "topic"), what,
                             "topic", ev->topic) != CV_OK ||
            get_string(ld, g, what, "key", 0, &ev->key_field) != CV_OK)
            return CV_ERR;
        rc = get_string(ld, g, what, "description", 0, &desc);
        free(desc);
        if (rc != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

static int load_domain_topics(struct loader *ld, const config_setting_t *g,
                              const char *what, struct cv_topo_domain *d)
{
    const config_setting_t *s = config_setting_get_member(g, "topics");
    int type, n;

    if (!s)
        return fail_at(ld, g, "%s: missing 'topics'", what);
    type = config_setting_type(s);
    n = config_setting_length(s);
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return fail_at(ld, s,
                       "%s: key 'topics': expected an array of topic names "
                       "[ \"a\", \"b\" ], got %s",
                       what, cv_cfgfile_type_name(s));
    if (n == 0)
        return fail_at(ld, s,
                       "%s: key 'topics': a domain consumes at least "
                       "one topic",
                       what);
    d->topics = cv_calloc((size_t)n, sizeof(*d->topics));
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_at(ld, e,
                           "%s: key 'topics': expected topic names, got %s",
                           what, cv_cfgfile_type_name(e));
        if (check_topic_name(ld, e, what, "topics",
                             config_setting_get_string(e)) != CV_OK)
            return CV_ERR;
        d->topics[d->ntopics++] = cv_strdup(config_setting_get_string(e));
    }
    return CV_OK;
}

static int load_routes(struct loader *ld, const config_setting_t *g,
                       const char *what, struct cv_topo_domain *d)
{
    const config_setting_t *list;
    int n;

    if (get_list(ld, g, what, "routes", 0, &list) != CV_OK)
        return CV_ERR;
    if (!list)
        return CV_OK; /* cv_topology_check() reports a domain without routes */
    n = config_setting_length(list);
    d->routes = cv_calloc((size_t)n, sizeof(*d->routes));
    for (int i = 0; i < n; i++) {
        const config_setting_t *r = config_setting_get_elem(list, (unsigned)i);
        struct cv_topo_route *rt = &d->routes[d->nroutes++];
        char rwhat[1024], tmp[256];
        char *desc = NULL;
        int rc;

        rt->line = key_line(r, "event");
        rt->handler_line = key_line(r, "handler");
        label(tmp, sizeof(tmp), r, "route for", "routes", i, "event");
        snprintf(rwhat, sizeof(rwhat), "%s: %s", what, tmp);
        if (check_keys(ld, r, rwhat, route_keys) != CV_OK ||
            get_string(ld, r, rwhat, "event", 1, &rt->event_type) != CV_OK ||
            get_string(ld, r, rwhat, "handler", 1, &rt->handler) != CV_OK)
            return CV_ERR;
        rc = get_string(ld, r, rwhat, "description", 0, &desc);
        free(desc);
        rt->retry = d->retry;
        if (rc != CV_OK || load_retry(ld, r, rwhat, &rt->retry) != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

static int load_domains(struct loader *ld, const config_setting_t *list,
                        struct cv_topology *t)
{
    int n = config_setting_length(list);

    t->domains = cv_calloc((size_t)n, sizeof(*t->domains));
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        const config_setting_t *s;
        struct cv_topo_domain *d = &t->domains[t->ndomains++];
        char what[256];
        char *desc = NULL;
        int rc;

        d->line = key_line(g, "name");
        d->topics_line = key_line(g, "topics");
        d->dlq_line = key_line(g, "dlq_topic");
        d->batch_size = 500;
        d->batch_wait_ms = 50;
        d->parallelism = 1;
        d->reset_earliest = 1;
        label(what, sizeof(what), g, "domain", "domains", i, "name");
        if (check_keys(ld, g, what, domain_keys) != CV_OK ||
            get_string(ld, g, what, "name", 1, &d->name) != CV_OK)
            return CV_ERR;
        /* the name goes into the default DLQ topic and metric labels */
        if (!topic_name_ok(d->name))
            return fail_at(ld, config_setting_get_member(g, "name"),
                           "%s: key 'name': use letters, digits, '.', '_' "
                           "and '-' only",
                           what);
        if (get_string(ld, g, what, "group", 1, &d->group_id) != CV_OK ||
            load_domain_topics(ld, g, what, d) != CV_OK ||
            get_int(ld, g, what, "batch_size", 0, 1, 100000, &d->batch_size) !=
                CV_OK ||
            get_int(ld, g, what, "batch_wait_ms", 0, 0, 60000,
                    &d->batch_wait_ms) != CV_OK ||
            get_int(ld, g, what, "parallelism", 0, 1, 64, &d->parallelism) !=
                CV_OK ||
            get_string(ld, g, what, "dlq_topic", 0, &d->dlq_topic) != CV_OK ||
            get_string(ld, g, what, "kill_switch_env", 0,
                       &d->kill_switch_env) != CV_OK)
            return CV_ERR;
        s = config_setting_get_member(g, "dlq_topic");
        if (s &&
            check_topic_name(ld, s, what, "dlq_topic", d->dlq_topic) != CV_OK)
            return CV_ERR;
        if (!d->dlq_topic) {
            d->dlq_topic = cv_asprintf("conveyor.dlq.%s", d->name);
            if (!topic_name_ok(d->dlq_topic))
                return fail_at(ld, g,
                               "%s: the default dlq_topic would be longer "
                               "than %d characters; set dlq_topic",
                               what, TOPIC_NAME_MAX);
        }
        if (get_enum(ld, g, what, "reset", reset_names, &d->reset_earliest) !=
            CV_OK)
            return CV_ERR;
        rc = get_string(ld, g, what, "description", 0, &desc);
        free(desc);
        retry_defaults(&d->retry);
        if (rc != CV_OK || load_retry(ld, g, what, &d->retry) != CV_OK ||
            load_routes(ld, g, what, d) != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

/* catch_up = "all" | "latest" | "none" (enum cv_catch_up order). */
static const char *const catch_up_names[] = {"all", "latest", "none", NULL};

static int load_schedules(struct loader *ld, const config_setting_t *list,
                          struct cv_topology *t)
{
    int n = list ? config_setting_length(list) : 0;

    t->schedules = cv_calloc(n ? (size_t)n : 1, sizeof(*t->schedules));
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        struct cv_topo_schedule *s = &t->schedules[t->nschedules++];
        char what[256];
        char *desc = NULL;
        int rc;

        s->line = key_line(g, "name");
        s->cron_line = key_line(g, "cron");
        s->zone_line = key_line(g, "zone");
        s->event_line = key_line(g, "event");
        s->payload_line = key_line(g, "payload");
        s->catch_up = CV_CATCH_UP_LATEST;
        s->catch_up_window_s = 86400;
        s->enabled = 1;
        label(what, sizeof(what), g, "schedule", "schedules", i, "name");
        if (check_keys(ld, g, what, schedule_keys) != CV_OK ||
            get_string(ld, g, what, "name", 1, &s->name) != CV_OK)
            return CV_ERR;
        /* the name goes into event ids and metric labels */
        if (!topic_name_ok(s->name))
            return fail_at(ld, config_setting_get_member(g, "name"),
                           "%s: key 'name': use letters, digits, '.', '_' "
                           "and '-' only",
                           what);
        if (get_string(ld, g, what, "cron", 1, &s->cron_expr) != CV_OK ||
            get_string(ld, g, what, "zone", 0, &s->zone) != CV_OK ||
            get_string(ld, g, what, "event", 1, &s->event_type) != CV_OK ||
            get_string(ld, g, what, "payload", 0, &s->payload) != CV_OK ||
            get_string(ld, g, what, "key", 0, &s->key) != CV_OK ||
            get_enum(ld, g, what, "catch_up", catch_up_names, &s->catch_up) !=
                CV_OK ||
            get_int(ld, g, what, "catch_up_window_s", 0, 60, 366 * 86400,
                    &s->catch_up_window_s) != CV_OK ||
            get_bool(ld, g, what, "enabled", &s->enabled) != CV_OK)
            return CV_ERR;
        if (!s->zone)
            s->zone = cv_strdup("UTC");
        if (!s->payload)
            s->payload = cv_strdup("{}");
        if (!s->key)
            s->key = cv_strdup(s->name);
        rc = get_string(ld, g, what, "description", 0, &desc);
        free(desc);
        if (rc != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

int cv_topology_load(const char *path, struct cv_topology *t, char *errstr,
                     size_t errstr_size)
{
    struct loader ld = {path, errstr, errstr_size};
    const config_setting_t *root, *topics, *events, *domains, *schedules;
    config_t lc;

    memset(t, 0, sizeof(*t));
    config_init(&lc);
    t->path = cv_strdup(path);
    if (cv_cfgfile_read(&lc, path, errstr, errstr_size) != CV_OK)
        goto fail;
    root = config_root_setting(&lc);
    if (check_keys(&ld, root, "topology", root_keys) != CV_OK ||
        get_list(&ld, root, NULL, "topics", 1, &topics) != CV_OK ||
        get_list(&ld, root, NULL, "events", 1, &events) != CV_OK ||
        get_list(&ld, root, NULL, "domains", 1, &domains) != CV_OK ||
        get_list(&ld, root, NULL, "schedules", 0, &schedules) != CV_OK ||
        load_topics(&ld, topics, t) != CV_OK ||
        load_events(&ld, events, t) != CV_OK ||
        load_domains(&ld, domains, t) != CV_OK ||
        load_schedules(&ld, schedules, t) != CV_OK)
        goto fail;
    config_destroy(&lc);
    return CV_OK;

fail:
    config_destroy(&lc);
    cv_topology_free(t);
    return CV_ERR;
}

void cv_topology_free(struct cv_topology *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ntopics; i++)
        free(t->topics[i].name);
    free(t->topics);
    for (size_t i = 0; i < t->nevents; i++) {
        free(t->events[i].type);
        free(t->events[i].schema);
        free(t->events[i].topic);
        free(t->events[i].key_field);
    }
    free(t->events);
    for (size_t i = 0; i < t->ndomains; i++) {
        struct cv_topo_domain *d = &t->domains[i];
        free(d->name);
        free(d->group_id);
        for (size_t k = 0; k < d->ntopics; k++)
            free(d->topics[k]);
        free(d->topics);
        free(d->dlq_topic);
        free(d->kill_switch_env);
        for (size_t k = 0; k < d->nroutes; k++) {
            free(d->routes[k].event_type);
            free(d->routes[k].handler);
        }
        free(d->routes);
    }
    free(t->domains);
    for (size_t i = 0; i < t->nschedules; i++) {
        struct cv_topo_schedule *s = &t->schedules[i];
        free(s->name);
        free(s->cron_expr);
        free(s->zone);
        free(s->event_type);
        free(s->payload);
        free(s->key);
        cv_cron_free(s->cron);
        cv_tz_free(s->tz);
    }
    free(t->schedules);
    free(t->path);
    memset(t, 0, sizeof(*t));
}

/* ---- lookups ---- */

const struct cv_topo_topic *cv_topology_topic(const struct cv_topology *t,
                                              const char *name)
{
    for (size_t i = 0; i < t->ntopics; i++)
        if (strcmp(t->topics[i].name, name) == 0)
            return &t->topics[i];
    return NULL;
}

const struct cv_topo_event *cv_topology_event(const struct cv_topology *t,
                                              const char *type)
{
    for (size_t i = 0; i < t->nevents; i++)
        if (strcmp(t->events[i].type, type) == 0)
            return &t->events[i];
    return NULL;
}

const struct cv_topo_domain *cv_topology_domain(const struct cv_topology *t,
                                                const char *name)
{
    for (size_t i = 0; i < t->ndomains; i++)
        if (strcmp(t->domains[i].name, name) == 0)
            return &t->domains[i];
    return NULL;
}

const struct cv_topo_schedule *cv_topology_schedule(const struct cv_topology *t,
                                                    const char *name)
{
    for (size_t i = 0; i < t->nschedules; i++)
        if (strcmp(t->schedules[i].name, name) == 0)
            return &t->schedules[i];
    return NULL;
}

const struct cv_topo_route *cv_topology_route(const struct cv_topo_domain *d,
                                              const char *event_type)
{
    for (size_t i = 0; i < d->nroutes; i++)
        if (strcmp(d->routes[i].event_type, event_type) == 0)
            return &d->routes[i];
    return NULL;
}
