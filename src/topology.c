/*
 * topology.c - load topology/<name>.cfg (topics, event types, consumer
 * domains with their routes and retry policies, cron schedules) through
 * the key table of topology_keys.c, and free it.
 *
 * A group is read in four steps: its unknown keys are refused first (a
 * typo is likelier than anything else), its defaults are set from the
 * table (a route's retry policy then starts from its domain's), each key of
 * the table is read and validated in table order, and the group's finalize
 * step applies the rules that involve more than one key. Loading is strict
 * and stops at the first problem: a syntax error, an unknown key, a wrong
 * type, a value out of range, a missing required key, an illegal Kafka
 * topic name, each with file:line and what was expected. Every route ends
 * up with its whole retry policy, so the rest of the engine never guesses.
 *
 * Checking across the file, the schema catalogue and the handlers is
 * topology_check.c's. The loaded topology is immutable after
 * cv_topology_check() and may be shared by threads. This module does not
 * create topics or talk to Kafka.
 */
#include "topology_int.h"

#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "target.h"

/* ---- reading settings ---- */

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

int cv_topo_topic_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CV_TOPIC_NAME_MAX || strcmp(s, ".") == 0 ||
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
    if (cv_topo_topic_name_ok(name))
        return CV_OK;
    return fail_at(ld, s,
                   "%s: key '%s': '%.*s' is not a valid Kafka topic name "
                   "(1..249 of letters, digits, '.', '_', '-')",
                   what, key, 300, name);
}

/* A group's unknown keys, before any value is read: a typo comes first. */
static int check_keys(struct loader *ld, enum group gid,
                      const config_setting_t *g, const char *what)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        char list[256] = "";
        int known = 0;

        if (no_include(ld, s) != CV_OK)
            return CV_ERR;
        for (size_t k = 0; k < cv_topo_nkeys; k++) {
            if (cv_topo_keys[k].group != gid)
                continue;
            known |= strcmp(cv_topo_keys[k].name, name) == 0;
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     list[0] ? ", " : "", cv_topo_keys[k].name);
        }
        if (!known)
            return fail_at(ld, s, "%s: unknown key '%s' (expected %s)",
                           what ? what : cv_topo_groups[gid].kind, name, list);
    }
    return CV_OK;
}

/* "a|b|c" from a NULL-terminated list. */
void cv_topo_alternatives(const char *const *names, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; names[i]; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "|" : "",
                 names[i]);
}

/*
 * What to call an element in messages: "topic 'marketplace.leads'", or
 * "topics[2]" until it has a usable name; after parent's name if any.
 */
static void label(char *buf, size_t size, const config_setting_t *elem,
                  enum group gid, int index, const char *parent)
{
    const struct group_def *gd = &cv_topo_groups[gid];
    const config_setting_t *n =
        config_setting_type(elem) == CONFIG_TYPE_GROUP
            ? config_setting_get_member(elem, gd->name_key)
            : NULL;
    int off = parent ? snprintf(buf, size, "%s: ", parent) : 0;

    if (off < 0 || (size_t)off >= size)
        return;
    if (n && config_setting_type(n) == CONFIG_TYPE_STRING &&
        *config_setting_get_string(n))
        snprintf(buf + off, size - (size_t)off, "%s '%.200s'", gd->kind,
                 config_setting_get_string(n));
    else
        snprintf(buf + off, size - (size_t)off, "%s[%d]", gd->list, index);
}

/* ---- loading ---- */

static int read_group(struct loader *ld, enum group gid,
                      const config_setting_t *g, const char *what, void *obj);
static void release(enum group gid, void *obj);

/* The table's defaults for a group, nested groups included. */
static void set_defaults(enum group gid, void *obj)
{
    for (size_t i = 0; i < cv_topo_nkeys; i++) {
        const struct key_def *k = &cv_topo_keys[i];

        if (k->group != gid || !k->offset)
            continue;
        switch (k->type) {
        case KEY_STRING:
            if (k->def_str)
                *(char **)cv_topo_member(obj, k->offset) =
                    cv_strdup(k->def_str);
            break;
        case KEY_INT:
        case KEY_BOOL:
        case KEY_ENUM:
            *(int *)cv_topo_member(obj, k->offset) = (int)k->def_int;
            break;
        case KEY_MS:
            *(int64_t *)cv_topo_member(obj, k->offset) = k->def_int;
            break;
        case KEY_NUMBER:
            *(double *)cv_topo_member(obj, k->offset) = k->def_num;
            break;
        case KEY_GROUP:
            set_defaults(k->items, cv_topo_member(obj, k->offset));
            break;
        case KEY_TOPICS:
        case KEY_STRINGS:
        case KEY_LIST:
        case KEY_SQL:
            break;
        }
    }
}

/* An integer setting within [min, max]. */
static int read_integer(struct loader *ld, const struct key_def *k,
                        const config_setting_t *s, const char *what,
                        long long *out)
{
    int type = config_setting_type(s);

    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return fail_at(ld, s,
                       "%s: key '%s': expected integer %lld..%lld, got %s",
                       what, k->name, k->min, k->max, cv_cfgfile_type_name(s));
    *out = config_setting_get_int64(s);
    if (*out < k->min || *out > k->max)
        return fail_at(ld, s,
                       "%s: key '%s': expected integer %lld..%lld, got %lld",
                       what, k->name, k->min, k->max, *out);
    return CV_OK;
}

static int read_string(struct loader *ld, const struct key_def *k,
                       const config_setting_t *s, const char *what, void *obj)
{
    const char *v;

    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(ld, s, "%s: key '%s': expected a string, got %s", what,
                       k->name, cv_cfgfile_type_name(s));
    v = config_setting_get_string(s);
    if (!*v)
        return fail_at(ld, s,
                       "%s: key '%s': expected a non-empty string, got \"\"",
                       what, k->name);
    if ((k->flags & KEY_TOPIC) &&
        check_topic_name(ld, s, what, k->name, v) != CV_OK)
        return CV_ERR;
    /* the same characters as a topic: the name goes into ids and labels */
    if ((k->flags & KEY_NAME) && !cv_topo_topic_name_ok(v))
        return fail_at(ld, s,
                       "%s: key '%s': use letters, digits, '.', '_' and '-' "
                       "only",
                       what, k->name);
    if (k->offset) {
        char **dst = cv_topo_member(obj, k->offset);
        free(*dst);
        *dst = cv_strdup(v);
    }
    return CV_OK;
}

static int read_number(struct loader *ld, const struct key_def *k,
                       const config_setting_t *s, const char *what, double *out)
{
    double min = (double)k->min, max = (double)k->max;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        *out = (double)config_setting_get_int64(s);
        break;
    case CONFIG_TYPE_FLOAT:
        *out = config_setting_get_float(s);
        break;
    default:
        return fail_at(ld, s, "%s: key '%s': expected a number %g..%g, got %s",
                       what, k->name, min, max, cv_cfgfile_type_name(s));
    }
    if (!(*out >= min && *out <= max))
        return fail_at(ld, s, "%s: key '%s': expected a number %g..%g, got %g",
                       what, k->name, min, max, *out);
    return CV_OK;
}

static int read_enum(struct loader *ld, const struct key_def *k,
                     const config_setting_t *s, const char *what, int *out)
{
    char list[128];
    const char *v;

    cv_topo_alternatives(k->names, list, sizeof(list));
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(ld, s, "%s: key '%s': expected %s, got %s", what,
                       k->name, list, cv_cfgfile_type_name(s));
    v = config_setting_get_string(s);
    for (int i = 0; k->names[i]; i++)
        if (strcmp(k->names[i], v) == 0) {
            *out = i;
            return CV_OK;
        }
    return fail_at(ld, s, "%s: key '%s': expected %s, got '%.100s'", what,
                   k->name, list, v);
}

/* topics = [ "a", "b" ]: declared topics, checked by name here. */
static int read_topics(struct loader *ld, const struct key_def *k,
                       const config_setting_t *s, const char *what, void *obj)
{
    char ***topics = cv_topo_member(obj, k->offset);
    size_t *n = cv_topo_member(obj, k->count);
    int type = config_setting_type(s), len = config_setting_length(s);

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return fail_at(ld, s,
                       "%s: key '%s': expected an array of topic names "
                       "[ \"a\", \"b\" ], got %s",
                       what, k->name, cv_cfgfile_type_name(s));
    if (len == 0)
        return fail_at(ld, s,
                       "%s: key '%s': a domain consumes at least one topic",
                       what, k->name);
    *topics = cv_calloc((size_t)len, sizeof(**topics));
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return fail_at(ld, e, "%s: key '%s': expected topic names, got %s",
                           what, k->name, cv_cfgfile_type_name(e));
        if (check_topic_name(ld, e, what, k->name,
                             config_setting_get_string(e)) != CV_OK)
            return CV_ERR;
        (*topics)[(*n)++] = cv_strdup(config_setting_get_string(e));
    }
    return CV_OK;
}

/* key = [ "a", "b" ]: any non-empty strings, possibly none. */
static int read_strings(struct loader *ld, const struct key_def *k,
                        const config_setting_t *s, const char *what, void *obj)
{
    char ***strings = cv_topo_member(obj, k->offset);
    size_t *n = cv_topo_member(obj, k->count);
    int type = config_setting_type(s), len = config_setting_length(s);

    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return fail_at(ld, s,
                       "%s: key '%s': expected an array of strings "
                       "[ \"a\", \"b\" ], got %s",
                       what, k->name, cv_cfgfile_type_name(s));
    *strings = cv_calloc(len ? (size_t)len : 1, sizeof(**strings));
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING ||
            !*config_setting_get_string(e))
            return fail_at(ld, e,
                           "%s: key '%s': expected non-empty strings, got %s",
                           what, k->name, cv_cfgfile_type_name(e));
        (*strings)[(*n)++] = cv_strdup(config_setting_get_string(e));
    }
    return CV_OK;
}

/* sql = "..." or sql = ( "...", "..." ): statements, each with its line. */
static int read_sql(struct loader *ld, const struct key_def *k,
                    const config_setting_t *s, const char *what, void *obj)
{
    struct cv_topo_sql **stmts = cv_topo_member(obj, k->offset);
    size_t *n = cv_topo_member(obj, k->count);
    int type = config_setting_type(s);
    int len = type == CONFIG_TYPE_STRING ? 1 : config_setting_length(s);

    if (type != CONFIG_TYPE_STRING && type != CONFIG_TYPE_ARRAY &&
        type != CONFIG_TYPE_LIST)
        return fail_at(ld, s,
                       "%s: key '%s': expected an SQL statement \"...\" or "
                       "a list of them ( \"...\", \"...\" ), got %s",
                       what, k->name, cv_cfgfile_type_name(s));
    if (len == 0)
        return fail_at(ld, s, "%s: key '%s': expected at least one statement",
                       what, k->name);
    *stmts = cv_calloc((size_t)len, sizeof(**stmts));
    for (int i = 0; i < len; i++) {
        const config_setting_t *e =
            type == CONFIG_TYPE_STRING
                ? s
                : config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING ||
            !*config_setting_get_string(e))
            return fail_at(ld, e,
                           "%s: key '%s': expected non-empty SQL strings, "
                           "got %s",
                           what, k->name, cv_cfgfile_type_name(e));
        (*stmts)[*n].text = cv_strdup(config_setting_get_string(e));
        (*stmts)[(*n)++].line = line_of(e);
    }
    return CV_OK;
}

/*
 * key = ( { ... }, ... ): a list of groups of kind k->items (an empty array
 * is an empty list too). Every element must be a group before any is read;
 * each starts from the table's defaults (and its parent's, for a route).
 */
static int read_list(struct loader *ld, const struct key_def *k,
                     const config_setting_t *s, const char *what, void *obj)
{
    const struct group_def *gd = &cv_topo_groups[k->items];
    size_t *n = cv_topo_member(obj, k->count);
    char *array;
    int type = config_setting_type(s), len = config_setting_length(s);

    if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && len == 0))
        return fail_at(ld, s,
                       "%s%skey '%s': expected a list ( { ... } ), got %s",
                       what ? what : "", what ? ": " : "", k->name,
                       cv_cfgfile_type_name(s));
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (no_include(ld, e) != CV_OK)
            return CV_ERR;
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return fail_at(ld, e, "%s[%d]: expected a group { ... }, got %s",
                           k->name, i, cv_cfgfile_type_name(e));
    }
    /* the member is a pointer to the group's struct: stored by memcpy */
    array = cv_calloc(len ? (size_t)len : 1, gd->size);
    memcpy(cv_topo_member(obj, k->offset), &array, sizeof(array));
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        void *elem = array + (size_t)i * gd->size;
        char ewhat[512];

        (*n)++; /* counted first: cv_topology_free() frees what was read */
        set_defaults(k->items, elem);
        if (gd->inherit)
            gd->inherit(elem, obj);
        label(ewhat, sizeof(ewhat), e, k->items, i, what);
        if (read_group(ld, k->items, e, ewhat, elem) != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

static int read_key(struct loader *ld, const struct key_def *k,
                    const config_setting_t *s, const char *what, void *obj)
{
    long long v;
    char sub[560];

    switch (k->type) {
    case KEY_STRING:
        return read_string(ld, k, s, what, obj);
    case KEY_INT:
        if (read_integer(ld, k, s, what, &v) != CV_OK)
            return CV_ERR;
        *(int *)cv_topo_member(obj, k->offset) = (int)v;
        return CV_OK;
    case KEY_MS:
        if (read_integer(ld, k, s, what, &v) != CV_OK)
            return CV_ERR;
        *(int64_t *)cv_topo_member(obj, k->offset) = (int64_t)v;
        return CV_OK;
    case KEY_NUMBER:
        return read_number(ld, k, s, what, cv_topo_member(obj, k->offset));
    case KEY_BOOL:
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
            return fail_at(ld, s,
                           "%s: key '%s': expected true or false, got %s", what,
                           k->name, cv_cfgfile_type_name(s));
        *(int *)cv_topo_member(obj, k->offset) = config_setting_get_bool(s);
        return CV_OK;
    case KEY_ENUM:
        return read_enum(ld, k, s, what, cv_topo_member(obj, k->offset));
    case KEY_TOPICS:
        return read_topics(ld, k, s, what, obj);
    case KEY_STRINGS:
        return read_strings(ld, k, s, what, obj);
    case KEY_LIST:
        return read_list(ld, k, s, what, obj);
    case KEY_SQL:
        return read_sql(ld, k, s, what, obj);
    case KEY_GROUP:
        snprintf(sub, sizeof(sub), "%s: %s", what, k->name);
        if (!config_setting_is_group(s))
            return fail_at(ld, s, "%s: expected a group { ... }, got %s", sub,
                           cv_cfgfile_type_name(s));
        return read_group(ld, k->items, s, sub, cv_topo_member(obj, k->offset));
    }
    return CV_ERR;
}

/*
 * One group whose defaults are set: unknown keys first, then each key of
 * the table in order (a missing required one is an error at the group's
 * line), then the rules across keys. what is NULL for the file itself.
 */
static int read_group(struct loader *ld, enum group gid,
                      const config_setting_t *g, const char *what, void *obj)
{
    if (check_keys(ld, gid, g, what) != CV_OK)
        return CV_ERR;
    for (size_t i = 0; i < cv_topo_nkeys; i++) {
        const struct key_def *k = &cv_topo_keys[i];
        const config_setting_t *s;

        if (k->group != gid)
            continue;
        if (k->line)
            *(int *)cv_topo_member(obj, k->line) = key_line(g, k->name);
        s = config_setting_get_member(g, k->name);
        if (!s && !(k->flags & KEY_REQUIRED))
            continue;
        if (!s && !what)
            return cv_err(ld->errstr, ld->errstr_size,
                          "%s: missing '%s = ( ... );'", ld->path, k->name);
        if (!s)
            return fail_at(ld, g, "%s: missing '%s'", what, k->name);
        if (read_key(ld, k, s, what, obj) != CV_OK)
            return CV_ERR;
    }
    return cv_topo_groups[gid].finalize
               ? cv_topo_groups[gid].finalize(ld, g, what, obj)
               : CV_OK;
}

int cv_topology_load(const char *path, struct cv_topology *t, char *errstr,
                     size_t errstr_size)
{
    struct loader ld = {path, errstr, errstr_size};
    config_t lc;

    memset(t, 0, sizeof(*t));
    config_init(&lc);
    t->path = cv_strdup(path);
    if (cv_cfgfile_read(&lc, path, errstr, errstr_size) != CV_OK ||
        read_group(&ld, G_ROOT, config_root_setting(&lc), NULL, t) != CV_OK)
        goto fail;
    config_destroy(&lc);
    return CV_OK;

fail:
    config_destroy(&lc);
    cv_topology_free(t);
    return CV_ERR;
}

/* Frees what the table's keys hold in obj, nested groups and lists too. */
static void release(enum group gid, void *obj)
{
    for (size_t i = 0; i < cv_topo_nkeys; i++) {
        const struct key_def *k = &cv_topo_keys[i];
        size_t n;

        if (k->group != gid || !k->offset)
            continue;
        n = k->count ? *(size_t *)cv_topo_member(obj, k->count) : 0;
        if (k->type == KEY_STRING) {
            free(*(char **)cv_topo_member(obj, k->offset));
        } else if (k->type == KEY_TOPICS || k->type == KEY_STRINGS) {
            char **topics = *(char ***)cv_topo_member(obj, k->offset);
            for (size_t j = 0; j < n; j++)
                free(topics[j]);
            free(topics);
        } else if (k->type == KEY_SQL) {
            struct cv_topo_sql *stmts =
                *(struct cv_topo_sql **)cv_topo_member(obj, k->offset);
            for (size_t j = 0; j < n; j++)
                free(stmts[j].text);
            free(stmts);
        } else if (k->type == KEY_LIST) {
            char *array;
            /* the member is a struct pointer: copied, not aliased */
            memcpy(&array, cv_topo_member(obj, k->offset), sizeof(array));
            for (size_t j = 0; j < n; j++)
                release(k->items, array + j * cv_topo_groups[k->items].size);
            free(array);
        } else if (k->type == KEY_GROUP) {
            release(k->items, cv_topo_member(obj, k->offset));
        }
    }
    if (cv_topo_groups[gid].release)
        cv_topo_groups[gid].release(obj);
}

void cv_topology_free(struct cv_topology *t)
{
    if (!t)
        return;
    release(G_ROOT, t);
    free(t->path);
    memset(t, 0, sizeof(*t));
}

/* ---- retries ---- */

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

const struct cv_target *cv_topology_target(const struct cv_topology *t,
                                           const char *name)
{
    for (size_t i = 0; i < t->ntargets; i++)
        if (strcmp(t->targets[i].name, name) == 0)
            return &t->targets[i];
    return NULL;
}

const char *cv_topology_setting(const struct cv_topology *t, const char *name)
{
    for (size_t i = 0; i < t->nsettings; i++) {
        const struct cv_topo_setting *st = &t->settings[i];
        const char *v;
        if (strcmp(st->name, name) != 0)
            continue;
        v = st->env ? getenv(st->env) : NULL;
        return v && *v ? v : st->value;
    }
    return NULL;
}

const struct cv_topo_import *cv_topology_import(const struct cv_topology *t,
                                                const char *name)
{
    for (size_t i = 0; i < t->nimports; i++)
        if (strcmp(t->imports[i].name, name) == 0)
            return &t->imports[i];
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
