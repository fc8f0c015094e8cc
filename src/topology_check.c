/*
 * topology_check.c - cv_topology_check(): a loaded topology checked across
 * the file, the schema catalogue and the compiled-in handler registry.
 *
 * Loading (topology.c) stops at the first problem within one group; the
 * checks here look at the whole and report every error they find, sorted
 * by line so the output reads like a compiler's: duplicate names, undeclared
 * topics and event types, schemas and key fields missing from the
 * catalogue, routes to unknown handlers or to events the domain does not
 * consume, unrouted event types, bad cron expressions and zones, and a
 * schedule payload the event's schema does not accept. Each route's handler
 * is resolved to its function, each schedule's cron and zone are parsed.
 *
 * The caller passes the catalogue and the registry, so tests can check
 * against their own; a NULL catalogue or registry skips the checks that
 * need it. This file sits above schedule.c (the payload check encodes a
 * sample event with it), which itself reads the topology's types: the
 * loader stays below both.
 */
#include "topology.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "codec.h"
#include "cron.h"
#include "schedule.h"
#include "sqlparam.h"
#include "sqlroute.h"
#include "target.h"
#include "tz.h"

struct finding {
    int line;
    size_t seq; /* keeps findings on one line in the order they were made */
    char *msg;
};

struct checker {
    struct finding *v;
    size_t n, cap;
    const char *path; /* the topology file, for exact lines of SQL */
};

static void report(struct checker *ck, int line, const char *fmt, ...)
    CV_PRINTF(3, 4);

static void report(struct checker *ck, int line, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    msg = cv_malloc(n > 0 ? (size_t)n + 1 : 1);
    msg[0] = '\0';
    va_start(ap, fmt);
    if (n > 0)
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (ck->n == ck->cap) {
        ck->cap = ck->cap ? ck->cap * 2 : 16;
        ck->v = cv_realloc(ck->v, ck->cap * sizeof(*ck->v));
    }
    ck->v[ck->n].line = line;
    ck->v[ck->n].seq = ck->n;
    ck->v[ck->n].msg = msg;
    ck->n++;
}

static int exact_line(struct checker *ck, int line, const char *needle)
{
    return cv_cfgfile_near_line(ck->path, line, needle);
}

static void sql_report(void *opaque, int line, const char *needle,
                       const char *msg)
{
    struct checker *ck = opaque;
    report(ck, exact_line(ck, line, needle), "%s", msg);
}

static int finding_cmp(const void *a, const void *b)
{
    const struct finding *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int domain_consumes(const struct cv_topo_domain *d, const char *topic)
{
    for (size_t i = 0; i < d->ntopics; i++)
        if (strcmp(d->topics[i], topic) == 0)
            return 1;
    return 0;
}

static void check_event_schema(struct checker *ck,
                               const struct cv_topo_event *ev,
                               const struct cv_catalogue *cat)
{
    const struct cv_schema *sch = cv_catalogue_by_name(cat, ev->schema);
    avro_schema_t field;
    int idx;

    if (!sch) {
        report(ck, ev->schema_line,
               "event '%s': schema '%s' is not in the catalogue", ev->type,
               ev->schema);
        return;
    }
    if (!ev->key_field)
        return;
    /*
     * avro_schema_record_field_get() reads an uninitialised pointer when the
     * field is missing (avro-c 1.11), so look the index up first.
     */
    idx = is_avro_record(sch->avro)
              ? avro_schema_record_field_get_index(sch->avro, ev->key_field)
              : -1;
    if (idx < 0) {
        report(ck, ev->key_line,
               "event '%s': key '%s' is not a field of schema "
               "'%s'",
               ev->type, ev->key_field, ev->schema);
        return;
    }
    field = avro_schema_record_field_get_by_index(sch->avro, idx);
    /* a null or composite key would scatter one entity over partitions */
    if (!is_avro_string(field) && !is_avro_int32(field) &&
        !is_avro_int64(field))
        report(ck, ev->key_line,
               "event '%s': key '%s' of schema '%s' has type %s; a key field "
               "must be a string, int or long",
               ev->type, ev->key_field, ev->schema,
               cv_avro_type_name(avro_typeof(field)));
}

/* Appends ", name" (or "name" first) to buf while it fits. */
static void append_name(char *buf, size_t size, const char *name)
{
    size_t len = strlen(buf);

    snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
}

static void domain_names(const struct cv_domain_def *const *defs, char *buf,
                         size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; defs[i]; i++)
        append_name(buf, size, defs[i]->name);
    if (!buf[0])
        snprintf(buf, size, "none");
}

static void handler_names(const struct cv_domain_def *def, char *buf,
                          size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; def->handlers && def->handlers[i].name; i++)
        append_name(buf, size, def->handlers[i].name);
    if (!buf[0])
        snprintf(buf, size, "none");
}

static void resolve_handler(struct checker *ck, const struct cv_topo_domain *d,
                            struct cv_topo_route *rt,
                            const struct cv_domain_def *const *defs)
{
    const char *dot = strchr(rt->handler, '.');
    size_t n = (size_t)(dot - rt->handler);
    const struct cv_domain_def *def = NULL;
    char list[512];

    for (size_t i = 0; defs[i] && !def; i++)
        if (strlen(defs[i]->name) == n &&
            strncmp(defs[i]->name, rt->handler, n) == 0)
            def = defs[i];
    if (!def) {
        domain_names(defs, list, sizeof(list));
        report(ck, rt->handler_line,
               "domain '%s': route for '%s': handler '%s': no compiled-in "
               "domain '%.*s' (have: %s)",
               d->name, rt->event_type, rt->handler, (int)n, rt->handler, list);
        return;
    }
    for (size_t i = 0; def->handlers && def->handlers[i].name; i++)
        if (strcmp(def->handlers[i].name, dot + 1) == 0) {
            rt->fn = def->handlers[i].fn;
            return;
        }
    handler_names(def, list, sizeof(list));
    report(ck, rt->handler_line,
           "domain '%s': route for '%s': handler '%s': domain '%s' has no "
           "handler '%s' (has: %s)",
           d->name, rt->event_type, rt->handler, def->name, dot + 1, list);
}

static void check_domain(struct checker *ck, const struct cv_topology *t,
                         size_t di, const struct cv_catalogue *cat,
                         const struct cv_domain_def *const *defs)
{
    struct cv_topo_domain *d = &t->domains[di];

    for (size_t j = 0; j < di; j++) {
        if (strcmp(t->domains[j].name, d->name) == 0)
            report(ck, d->line, "duplicate domain '%s' (first at line %d)",
                   d->name, t->domains[j].line);
        if (strcmp(t->domains[j].group_id, d->group_id) == 0)
            report(ck, d->line,
                   "domain '%s': group '%s' is also the group of domain '%s' "
                   "(line %d)",
                   d->name, d->group_id, t->domains[j].name,
                   t->domains[j].line);
    }
    for (size_t k = 0; k < d->ntopics; k++) {
        int twice = 0;
        for (size_t j = 0; j < k; j++)
            twice |= strcmp(d->topics[j], d->topics[k]) == 0;
        if (twice)
            report(ck, d->topics_line,
                   "domain '%s': topic '%s' is listed twice", d->name,
                   d->topics[k]);
        else if (!cv_topology_topic(t, d->topics[k]))
            report(ck, d->topics_line,
                   "domain '%s': topic '%s' is not declared", d->name,
                   d->topics[k]);
    }
    if (domain_consumes(d, d->dlq_topic))
        report(ck, d->dlq_line,
               "domain '%s': dlq_topic '%s' is one of the topics it consumes",
               d->name, d->dlq_topic);
    if (d->nroutes == 0)
        report(ck, d->line, "domain '%s': no routes", d->name);

    for (size_t r = 0; r < d->nroutes; r++) {
        struct cv_topo_route *rt = &d->routes[r];
        const struct cv_topo_event *ev = cv_topology_event(t, rt->event_type);

        rt->fn = NULL;
        for (size_t j = 0; j < r; j++)
            if (strcmp(d->routes[j].event_type, rt->event_type) == 0) {
                report(ck, rt->line,
                       "domain '%s': event '%s' is routed twice (first at "
                       "line %d)",
                       d->name, rt->event_type, d->routes[j].line);
                break;
            }
        if (!ev)
            report(ck, rt->line,
                   "domain '%s': route for undeclared event type '%s'", d->name,
                   rt->event_type);
        else if (!domain_consumes(d, ev->topic))
            report(ck, rt->line,
                   "domain '%s': route for '%s': the event travels on topic "
                   "'%s', which the domain does not consume",
                   d->name, rt->event_type, ev->topic);
        if (!rt->handler) {
            /* declared SQL: compiled, its parameters checked */
            cv_sqlroute_free(rt->decl);
            rt->decl = cv_sqlroute_compile(t, cat, d, rt, sql_report, ck);
        } else if (!strchr(rt->handler, '.') || rt->handler[0] == '.' ||
                   !strchr(rt->handler, '.')[1])
            report(ck, rt->handler_line,
                   "domain '%s': route for '%s': handler '%s' is not "
                   "\"<domain>.<handler>\"",
                   d->name, rt->event_type, rt->handler);
        else if (defs)
            resolve_handler(ck, d, rt, defs);
    }

    /*
     * The consumer dead-letters an event it has no route for, so a domain
     * that consumes a topic must route every event type declared on it.
     */
    for (size_t e = 0; e < t->nevents; e++) {
        const struct cv_topo_event *ev = &t->events[e];
        if (d->nroutes && domain_consumes(d, ev->topic) &&
            !cv_topology_route(d, ev->type) &&
            cv_topology_event(t, ev->type) == ev)
            report(ck, d->line,
                   "domain '%s': no route for event '%s' on its topic '%s' "
                   "(each one would be dead-lettered)",
                   d->name, ev->type, ev->topic);
    }
}

static void check_schedule(struct checker *ck, const struct cv_topology *t,
                           size_t si, const struct cv_catalogue *cat)
{
    struct cv_topo_schedule *s = &t->schedules[si];
    const struct cv_topo_event *ev = cv_topology_event(t, s->event_type);
    char err[512];

    for (size_t j = 0; j < si; j++)
        if (strcmp(t->schedules[j].name, s->name) == 0) {
            report(ck, s->line, "duplicate schedule '%s' (first at line %d)",
                   s->name, t->schedules[j].line);
            break;
        }
    cv_cron_free(s->cron);
    s->cron = NULL;
    if (cv_cron_parse(s->cron_expr, &s->cron, err, sizeof(err)) != CV_OK ||
        cv_cron_check_fires(s->cron, err, sizeof(err)) != CV_OK)
        report(ck, s->cron_line, "schedule '%s': %s", s->name, err);
    cv_tz_free(s->tz);
    s->tz = NULL;
    if (cv_tz_load(s->zone, &s->tz, err, sizeof(err)) != CV_OK)
        report(ck, s->zone_line, "schedule '%s': %s", s->name, err);
    if (!ev) {
        report(ck, s->event_line,
               "schedule '%s': event type '%s' is not declared", s->name,
               s->event_type);
        return;
    }
    if (cat) {
        const struct cv_schema *sch = cv_catalogue_by_name(cat, ev->schema);
        char *value = NULL;
        size_t len;

        /* a sample event: the payload must encode with the event's schema */
        if (sch && cv_schedule_encode(s, sch, 0, CV_RUN_SCHEDULED, &value, &len,
                                      err, sizeof(err)) != CV_OK)
            report(ck, s->payload_line,
                   "schedule '%s': payload for event '%s': %s", s->name,
                   s->event_type, err);
        free(value);
    }
}

/* An importer's sink: compiled, its parameters checked. */
static void check_import(struct checker *ck, const struct cv_topology *t,
                         size_t ii)
{
    struct cv_topo_import *im = &t->imports[ii];
    const unsigned allowed =
        CV_PARAM_BIT(CV_PARAM_COL) | CV_PARAM_BIT(CV_PARAM_ROW) |
        CV_PARAM_BIT(CV_PARAM_IMPORT) | CV_PARAM_BIT(CV_PARAM_CONTEXT) |
        CV_PARAM_BIT(CV_PARAM_SETTING) | CV_PARAM_BIT(CV_PARAM_ENV);
    struct cv_sqltext *q = cv_calloc(1, sizeof(*q));
    char why[512], needle[300];
    size_t at;

    for (size_t j = 0; j < ii; j++)
        if (strcmp(t->imports[j].name, im->name) == 0) {
            report(ck, im->line, "duplicate import '%s' (first at line %d)",
                   im->name, t->imports[j].line);
            break;
        }
    if (im->sink) {
        cv_sqltext_free(im->sink);
        free(im->sink);
        im->sink = NULL;
    }
    if (cv_sqlparam_compile(im->sql, allowed, q, &at, why, sizeof(why)) !=
        CV_OK) {
        snprintf(needle, sizeof(needle), "%.30s", im->sql + at);
        report(ck, exact_line(ck, im->sql_line, needle), "import '%s': sql: %s",
               im->name, why);
        free(q);
        return;
    }
    for (int k = 0; k < q->nparams; k++) {
        const struct cv_sqlparam *p = &q->params[k];
        const char *bad = NULL;
        int found = 0;

        if (p->kind == CV_PARAM_COL) {
            for (size_t c = 0; c < im->ncolumns; c++)
                found |= strcmp(im->columns[c], p->name) == 0;
            bad = found ? NULL : "is not one of its columns";
        } else if (p->kind == CV_PARAM_ROW) {
            bad = strcmp(p->name, "line") ? "is not 'line'" : NULL;
        } else if (p->kind == CV_PARAM_IMPORT) {
            bad = strcmp(p->name, "id") && strcmp(p->name, "key") &&
                          strcmp(p->name, "source")
                      ? "is not id, key or source"
                      : NULL;
        } else if (p->kind == CV_PARAM_SETTING) {
            bad = cv_topology_setting(t, p->name) ? NULL
                                                  : "is no setting of the "
                                                    "topology";
        }
        if (!bad)
            continue;
        snprintf(needle, sizeof(needle), ":%s.%s", cv_sqlparam_prefix(p->kind),
                 p->name);
        report(ck, exact_line(ck, im->sql_line, needle),
               "import '%s': sql: parameter '%s': '%s' %s", im->name, needle,
               p->name, bad);
        cv_sqltext_free(q);
        free(q);
        return;
    }
    im->sink = q;
}

int cv_topology_check(struct cv_topology *t, const struct cv_catalogue *cat,
                      const struct cv_domain_def *const *domains, FILE *out)
{
    struct checker ck = {NULL, 0, 0, t->path};
    int count;

    for (size_t i = 0; i < t->ntopics; i++) {
        const struct cv_topo_topic *tp = &t->topics[i];
        int consumed = 0;

        for (size_t j = 0; j < i; j++)
            if (strcmp(t->topics[j].name, tp->name) == 0) {
                report(&ck, tp->line, "duplicate topic '%s' (first at line %d)",
                       tp->name, t->topics[j].line);
                break;
            }
        for (size_t d = 0; d < t->ndomains && !consumed; d++)
            consumed = domain_consumes(&t->domains[d], tp->name);
        if (!consumed && cv_topology_topic(t, tp->name) == tp)
            report(&ck, tp->line, "topic '%s': no domain consumes it",
                   tp->name);
    }
    for (size_t i = 0; i < t->nevents; i++) {
        const struct cv_topo_event *ev = &t->events[i];
        int dup = 0;

        for (size_t j = 0; j < i && !dup; j++)
            if (strcmp(t->events[j].type, ev->type) == 0) {
                report(&ck, ev->line,
                       "duplicate event type '%s' (first at line %d)", ev->type,
                       t->events[j].line);
                dup = 1;
            }
        if (!cv_topology_topic(t, ev->topic))
            report(&ck, ev->topic_line,
                   "event '%s': topic '%s' is not declared", ev->type,
                   ev->topic);
        if (cat)
            check_event_schema(&ck, ev, cat);
    }
    for (size_t i = 0; i < t->ndomains; i++)
        check_domain(&ck, t, i, cat, domains);
    for (size_t i = 0; i < t->nschedules; i++)
        check_schedule(&ck, t, i, cat);
    for (size_t i = 0; i < t->ntargets; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->targets[j].name, t->targets[i].name) == 0) {
                report(&ck, t->targets[i].line,
                       "duplicate target '%s' (first at line %d)",
                       t->targets[i].name, t->targets[j].line);
                break;
            }
    for (size_t i = 0; i < t->nsettings; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->settings[j].name, t->settings[i].name) == 0) {
                report(&ck, t->settings[i].line,
                       "duplicate setting '%s' (first at line %d)",
                       t->settings[i].name, t->settings[j].line);
                break;
            }

    for (size_t i = 0; i < t->nimports; i++)
        check_import(&ck, t, i);

    if (ck.n)
        qsort(ck.v, ck.n, sizeof(*ck.v), finding_cmp);
    for (size_t i = 0; i < ck.n; i++) {
        if (out)
            fprintf(out, "%s:%d: %s\n", t->path ? t->path : "topology",
                    ck.v[i].line, ck.v[i].msg);
        free(ck.v[i].msg);
    }
    free(ck.v);
    count = (int)ck.n;
    return count;
}
