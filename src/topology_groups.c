/*
 * topology_groups.c - the kinds of group a topology holds (topology_int.h):
 * what each is called in messages, its size, and the rules that involve
 * more than one of its keys (finalize), what a route inherits from its
 * domain, and what the table does not know how to free (release). The
 * keys themselves are the table of topology_keys.c.
 */
#include "topology_int.h"

#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "cron.h"
#include "sqlparam.h"
#include "sqlroute.h"
#include "target.h"
#include "tz.h"

/* ---- the kinds of group ---- */

static int domain_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj);
static int schedule_finalize(struct loader *ld, const config_setting_t *g,
                             const char *what, void *obj);
static int retry_finalize(struct loader *ld, const config_setting_t *g,
                          const char *what, void *obj);
static int target_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj);
static int route_finalize(struct loader *ld, const config_setting_t *g,
                          const char *what, void *obj);
static int import_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj);
static void route_inherit(void *obj, const void *parent);
static void route_release(void *obj);
static void schedule_release(void *obj);
static void import_release(void *obj);

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
                 .inherit = route_inherit,
                 .finalize = route_finalize,
                 .release = route_release},
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
    [G_EMIT] = {.id = "emit",
                .kind = "emit of",
                .list = "emit",
                .name_key = "event",
                .size = sizeof(struct cv_topo_emit)},
    [G_IMPORT] = {.id = "import",
                  .kind = "import",
                  .list = "imports",
                  .name_key = "name",
                  .size = sizeof(struct cv_topo_import),
                  .finalize = import_finalize,
                  .release = import_release},
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

/* A route runs a handler or declared SQL, never both, never neither. */
static int route_finalize(struct loader *ld, const config_setting_t *g,
                          const char *what, void *obj)
{
    struct cv_topo_route *rt = obj;
    int declared = rt->nsql || rt->nrows || rt->nemits;

    if (rt->handler && declared)
        return cv_cfgfile_errf(ld->errstr, ld->errstr_size, ld->path, g,
                               "%s: a route has a handler or declared SQL "
                               "(sql, rows, emit), not both",
                               what);
    if (!rt->handler && !declared)
        return cv_cfgfile_errf(ld->errstr, ld->errstr_size, ld->path, g,
                               "%s: missing 'handler' (or declared SQL: "
                               "sql, rows, emit)",
                               what);
    return CV_OK;
}

static int import_finalize(struct loader *ld, const config_setting_t *g,
                           const char *what, void *obj)
{
    struct cv_topo_import *im = obj;
    const char *why = NULL;

    if (im->base_url && strncmp(im->base_url, "http://", 7) != 0 &&
        strncmp(im->base_url, "https://", 8) != 0 &&
        strncmp(im->base_url, "file://", 7) != 0)
        why = "base_url must start with http://, https:// or file://";
    else if (im->max_ms < im->initial_ms)
        why = "max_ms is less than initial_ms";
    else if (im->ncolumns == 0)
        why = "columns is empty";
    for (size_t i = 0; !why && i < im->nrequired + im->nemails; i++) {
        const char *c =
            i < im->nrequired ? im->required[i] : im->emails[i - im->nrequired];
        int found = 0;
        for (size_t j = 0; j < im->ncolumns; j++)
            found |= strcmp(im->columns[j], c) == 0;
        if (!found)
            return cv_cfgfile_errf(ld->errstr, ld->errstr_size, ld->path, g,
                                   "%s: '%s' is not one of its columns", what,
                                   c);
    }
    if (why)
        return cv_cfgfile_errf(ld->errstr, ld->errstr_size, ld->path, g,
                               "%s: %s", what, why);
    return CV_OK;
}

static void route_release(void *obj)
{
    struct cv_topo_route *rt = obj;

    cv_sqlroute_free(rt->decl);
    rt->decl = NULL;
}

static void import_release(void *obj)
{
    struct cv_topo_import *im = obj;

    if (im->sink) {
        cv_sqltext_free(im->sink);
        free(im->sink);
        im->sink = NULL;
    }
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
