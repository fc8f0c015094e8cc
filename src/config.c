/*
 * config.c - the runtime configuration: config/conveyor.cfg and environment.
 *
 * Every key lives in one table below (dotted name, type, default, bounds or
 * allowed values, environment variable, description). Loading fills the
 * defaults from the table, walks the file and validates each setting against
 * its table entry (an unknown group or key, a wrong type or a bad value stops
 * with "file:line: key 'x.y': expected ..., got ..."), then applies the
 * environment through the same validation, then runs one finalize step for
 * rules that involve more than one key. The describe output and the list of
 * key names come from the same table, so the reference file, --help and the
 * code cannot drift apart without a test noticing.
 *
 * Secrets stay out of the file: a postgres.conninfo read from the file that
 * carries a password is refused (DATABASE_URL and PGPASSWORD may carry one),
 * and no error message repeats a conninfo. Relative paths from the file are
 * resolved against the file's directory; paths from the environment and the
 * built-in defaults are relative to the working directory (main.c asks
 * paths.c for the installed copy of a default that is not there). Each
 * string key remembers where its value came from, for messages.
 *
 * Reading the file (file:line syntax errors, integer literals libconfig
 * would wrap) is cfgfile.c's, shared with the topology loader. This module
 * does not talk to Kafka or Postgres; kafka.c and pg.c interpret values.
 */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "log.h"

enum key_type {
    KEY_STRING,
    KEY_INT,
    KEY_ENUM,
    KEY_PROPS, /* list of ["name", "value"] pairs */
};

#define KEY_NONEMPTY 0x01 /* "" is not a valid value */
#define KEY_PATH     0x02 /* relative values from the file: file's dir */
#define KEY_NOSECRET 0x04 /* a conninfo that must not carry a password */

struct key_def {
    const char *name; /* dotted: section.key */
    enum key_type type;
    size_t offset; /* of the member in struct cv_config */
    const char *def_str;
    int def_int;
    int min, max;
    int (*parse)(const char *s); /* KEY_ENUM: value, or -1 */
    const char *allowed;         /* KEY_ENUM: "a|b|c" */
    int flags;
    const char *env; /* overriding environment variable, or NULL */
    const char *desc;
};

static int parse_log_format(const char *s)
{
    if (strcmp(s, "logfmt") == 0)
        return CV_LOG_LOGFMT;
    if (strcmp(s, "json") == 0)
        return CV_LOG_JSON;
    return -1;
}

#define OFF(m) offsetof(struct cv_config, m)

static const struct key_def keys[] = {
    {.name = "kafka.brokers",
     .type = KEY_STRING,
     .offset = OFF(kafka_brokers),
     .def_str = "dev",
     .flags = KEY_NONEMPTY,
     .env = "CONVEYOR_KAFKA_BROKERS",
     .desc = "Kafka bootstrap servers, host:port[,host:port...]. \"dev\" "
             "means the dev broker (librdkafka's mock cluster)."},
    {.name = "kafka.properties",
     .type = KEY_PROPS,
     .offset = OFF(kafka_props),
     .desc = "librdkafka properties passed through as they are, a list of "
             "[\"name\", \"value\"] pairs (libconfig names cannot hold "
             "dots). Settings the engine owns (offset commits, group.id) "
             "override these."},
    {.name = "postgres.conninfo",
     .type = KEY_STRING,
     .offset = OFF(pg_conninfo),
     .def_str = "",
     .flags = KEY_NOSECRET,
     .env = "DATABASE_URL",
     .desc = "libpq connection string, a URL or key=value pairs. \"\" uses "
             "libpq's environment (PGHOST, PGDATABASE, ...). Never put a "
             "password here: use PGPASSWORD or DATABASE_URL."},
    {.name = "postgres.connect_timeout_s",
     .type = KEY_INT,
     .offset = OFF(pg_connect_timeout_s),
     .def_int = 10,
     .min = 1,
     .max = 600,
     .desc = "Seconds to wait for a Postgres connection before giving up."},
    {.name = "postgres.statement_timeout_ms",
     .type = KEY_INT,
     .offset = OFF(pg_statement_timeout_ms),
     .def_int = 0,
     .min = 0,
     .max = 3600000,
     .desc = "Postgres statement_timeout for consumer sessions, ms; 0 = "
             "none. A batch that times out is rolled back and retried as it "
             "is; no event is blamed."},
    {.name = "postgres.lock_timeout_ms",
     .type = KEY_INT,
     .offset = OFF(pg_lock_timeout_ms),
     .def_int = 2000,
     .min = 0,
     .max = 3600000,
     .desc = "Postgres lock_timeout for consumer sessions, ms; 0 = none. A "
             "batch that waits longer for a row lock is rolled back and "
             "retried, and the consumer serves its group in between: keep "
             "it below the group session timeout (6000 ms)."},
    {.name = "schemas.dir",
     .type = KEY_STRING,
     .offset = OFF(schema_dir),
     .def_str = "schemas",
     .flags = KEY_NONEMPTY | KEY_PATH,
     .env = "CONVEYOR_SCHEMAS",
     .desc = "Directory of the .avsc schemas and ids.cfg (the local "
             "catalogue)."},
    {.name = "topology.path",
     .type = KEY_STRING,
     .offset = OFF(topology_path),
     .def_str = "topology/marketplace.cfg",
     .flags = KEY_NONEMPTY | KEY_PATH,
     .env = "CONVEYOR_TOPOLOGY",
     .desc = "The topology file: topics, event types, domains and routes."},
    {.name = "outbox.batch_size",
     .type = KEY_INT,
     .offset = OFF(outbox_batch_size),
     .def_int = 500,
     .min = 1,
     .max = 100000,
     .desc = "Outbox rows the relay publishes per round trip."},
    {.name = "outbox.poll_ms",
     .type = KEY_INT,
     .offset = OFF(outbox_poll_ms),
     .def_int = 1000,
     .min = 10,
     .max = 60000,
     .desc = "How often the relay looks for outbox rows when no NOTIFY "
             "wakes it, ms."},
    {.name = "outbox.retention_hours",
     .type = KEY_INT,
     .offset = OFF(outbox_retention_hours),
     .def_int = 24,
     .min = 1,
     .max = 8760,
     .desc = "Published outbox rows older than this are deleted, hours."},
    {.name = "consumer.inbox_retention_hours",
     .type = KEY_INT,
     .offset = OFF(inbox_retention_hours),
     .def_int = 168,
     .min = 1,
     .max = 87600,
     .desc = "Inbox rows (processed event ids) older than this are deleted, "
             "hours. A copy of an event re-sent later than this is "
             "processed again."},
    {.name = "consumer.shutdown_timeout_ms",
     .type = KEY_INT,
     .offset = OFF(shutdown_timeout_ms),
     .def_int = 10000,
     .min = 100,
     .max = 600000,
     .desc = "On SIGTERM, how long a consumer may take to finish and commit "
             "its batch and leave its group, ms."},
    {.name = "ticker.tick_ms",
     .type = KEY_INT,
     .offset = OFF(ticker_tick_ms),
     .def_int = 1000,
     .min = 10,
     .max = 60000,
     .desc = "How often the ticker's leader looks for due fire times, and a "
             "standby for a leader to replace, ms."},
    {.name = "ticker.late_after_ms",
     .type = KEY_INT,
     .offset = OFF(ticker_late_after_ms),
     .def_int = 60000,
     .min = 1,
     .max = 86400000,
     .desc = "A fire time the ticker reaches later than this (downtime) is "
             "missed: the schedule's catch_up policy decides, ms (ticker "
             "clock)."},
    {.name = "ticker.leader_timeout_ms",
     .type = KEY_INT,
     .offset = OFF(ticker_leader_timeout_ms),
     .def_int = 5000,
     .min = 100,
     .max = 600000,
     .desc = "A ticker leader whose heartbeat is older than this (stopped, "
             "hung) has its Postgres session terminated by a standby, which "
             "takes over, ms."},
    {.name = "ticker.clock",
     .type = KEY_STRING,
     .offset = OFF(ticker_clock),
     .def_str = "system",
     .flags = KEY_NONEMPTY,
     .env = "CONVEYOR_CLOCK",
     .desc = "The ticker's clock: \"system\", or for tests a simulated clock "
             "\"sim:<RFC 3339 start>@<real epoch ms>x<speed>\"."},
    {.name = "http.listen",
     .type = KEY_STRING,
     .offset = OFF(http_listen),
     .def_str = "127.0.0.1:8080",
     .env = "CONVEYOR_HTTP_LISTEN",
     .desc = "Address of the HTTP endpoint of `run` and `dev` (metrics, "
             "health, admin API, dashboard), host:port; port 0 picks a free "
             "one (logged, and written to --http-port-file). \"\" turns "
             "it off."},
    {.name = "http.liveness_timeout_ms",
     .type = KEY_INT,
     .offset = OFF(http_liveness_timeout_ms),
     .def_int = 60000,
     .min = 100,
     .max = 3600000,
     .desc = "/healthz fails when a consumer, relay or ticker loop has not "
             "come round for this long (plus the relay's poll_ms or the "
             "ticker's tick_ms, which they may sleep), ms."},
    {.name = "log.level",
     .type = KEY_ENUM,
     .offset = OFF(log_level),
     .def_str = "info",
     .parse = cv_log_level_parse,
     .allowed = "error|warn|info|debug",
     .env = "CONVEYOR_LOG_LEVEL",
     .desc = "Least severe level written to stderr."},
    {.name = "log.format",
     .type = KEY_ENUM,
     .offset = OFF(log_format),
     .def_str = "logfmt",
     .parse = parse_log_format,
     .allowed = "logfmt|json",
     .desc = "Log line format: logfmt (key=value) or json (one object per "
             "line)."},
};

static char **str_member(struct cv_config *cfg, const struct key_def *k)
{
    return (char **)((char *)cfg + k->offset);
}

static int *int_member(struct cv_config *cfg, const struct key_def *k)
{
    return (int *)((char *)cfg + k->offset);
}

static const struct key_def *key_find(const char *name)
{
    for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* True if some key lives in the section named by the first n bytes. */
static int section_known(const char *section, size_t n)
{
    for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++)
        if (strncmp(keys[i].name, section, n) == 0 && keys[i].name[n] == '.')
            return 1;
    return 0;
}

/* "a, b, c": the keys of a section, or (section NULL) the sections. */
static void list_names(const char *section, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++) {
        const char *dot = strchr(keys[i].name, '.');
        size_t n = (size_t)(dot - keys[i].name);
        const char *item;
        int w;

        if (section) {
            if (strlen(section) != n || strncmp(section, keys[i].name, n))
                continue;
            item = dot + 1;
            n = strlen(item);
        } else {
            /* each section once: skip it if an earlier key had it */
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strncmp(keys[j].name, keys[i].name, n + 1) == 0;
            if (seen)
                continue;
            item = keys[i].name;
        }
        w = snprintf(buf + len, size - len, "%s%.*s", len ? ", " : "", (int)n,
                     item);
        if (w < 0 || (size_t)w >= size - len)
            return;
        len += (size_t)w;
    }
}

/* ---- conninfo secrets ---- */

/*
 * True if a conninfo (key=value or a postgres:// URL) sets a password; libpq
 * parses it, so quoting and percent-encoding are read as libpq reads them. A
 * conninfo libpq cannot parse has no password here: the connection says why.
 */
static int conninfo_has_password(const char *s)
{
    PQconninfoOption *opts = PQconninfoParse(s, NULL);
    int found = 0;

    if (!opts)
        return 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val)
            found = 1;
    PQconninfoFree(opts);
    return found;
}

/* ---- setting values ---- */

/*
 * Where a value came from, for messages ("config/conveyor.cfg:12" or
 * "environment variable CONVEYOR_LOG_LEVEL") and for the rules that depend
 * on it (paths, secrets).
 */
struct origin {
    const char *where;
    const char *dir; /* the file's directory with its '/', or NULL */
    int from_file;
};

static void origin_set(struct cv_config *cfg, const struct key_def *k,
                       const char *where)
{
    size_t i = (size_t)(k - keys);

    if (!cfg->origin)
        return;
    free(cfg->origin[i]);
    cfg->origin[i] = where ? cv_strdup(where) : NULL;
}

static int set_string(struct cv_config *cfg, const struct key_def *k,
                      const char *value, const struct origin *o, char *errstr,
                      size_t errstr_size)
{
    char **dst = str_member(cfg, k);

    if ((k->flags & KEY_NONEMPTY) && !*value)
        return cv_err(errstr, errstr_size,
                      "%s: key '%s': expected a non-empty string, got \"\"",
                      o->where, k->name);
    if ((k->flags & KEY_NOSECRET) && o->from_file &&
        conninfo_has_password(value))
        return cv_err(errstr, errstr_size,
                      "%s: key '%s': contains a password; secrets do not "
                      "belong in the file, set PGPASSWORD or DATABASE_URL "
                      "in the environment",
                      o->where, k->name);
    free(*dst);
    if ((k->flags & KEY_PATH) && o->dir && value[0] != '/')
        *dst = cv_asprintf("%s%s", o->dir, value);
    else
        *dst = cv_strdup(value);
    origin_set(cfg, k, o->where);
    return CV_OK;
}

static int set_int(struct cv_config *cfg, const struct key_def *k,
                   long long value, const char *shown, const struct origin *o,
                   char *errstr, size_t errstr_size)
{
    if (value < k->min || value > k->max)
        return cv_err(errstr, errstr_size,
                      "%s: key '%s': expected integer %d..%d, got %s", o->where,
                      k->name, k->min, k->max, shown);
    *int_member(cfg, k) = (int)value;
    return CV_OK;
}

static int set_enum(struct cv_config *cfg, const struct key_def *k,
                    const char *value, const struct origin *o, char *errstr,
                    size_t errstr_size)
{
    int v = k->parse(value);

    if (v < 0)
        return cv_err(errstr, errstr_size,
                      "%s: key '%s': expected %s, got '%s'", o->where, k->name,
                      k->allowed, value);
    *int_member(cfg, k) = v;
    return CV_OK;
}

/* A value given as text (the environment) for any scalar key. */
static int set_from_text(struct cv_config *cfg, const struct key_def *k,
                         const char *value, const struct origin *o,
                         char *errstr, size_t errstr_size)
{
    char *end;
    long long v;

    switch (k->type) {
    case KEY_STRING:
        return set_string(cfg, k, value, o, errstr, errstr_size);
    case KEY_ENUM:
        return set_enum(cfg, k, value, o, errstr, errstr_size);
    case KEY_INT:
        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno || end == value || *end)
            return cv_err(errstr, errstr_size,
                          "%s: key '%s': expected integer %d..%d, got '%s'",
                          o->where, k->name, k->min, k->max, value);
        return set_int(cfg, k, v, value, o, errstr, errstr_size);
    case KEY_PROPS:
        break;
    }
    return cv_err(errstr, errstr_size, "%s: key '%s' cannot be set here",
                  o->where, k->name);
}

static void props_free(struct cv_config *cfg)
{
    for (size_t i = 0; i < cfg->kafka_props_n; i++) {
        free(cfg->kafka_props[i].key);
        free(cfg->kafka_props[i].value);
    }
    free(cfg->kafka_props);
    cfg->kafka_props = NULL;
    cfg->kafka_props_n = 0;
}

/* kafka.properties = ( ["linger.ms", "5"], ... ); */
static int set_props(struct cv_config *cfg, const struct key_def *k,
                     const config_setting_t *s, const char *path, char *errstr,
                     size_t errstr_size)
{
    int n = config_setting_length(s);
    int type = config_setting_type(s);

    if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && n == 0))
        return cv_err(errstr, errstr_size,
                      "%s:%d: key '%s': expected a list of [\"name\", "
                      "\"value\"] pairs, got %s",
                      path, config_setting_source_line(s), k->name,
                      cv_cfgfile_type_name(s));
    props_free(cfg);
    cfg->kafka_props = cv_calloc((size_t)n, sizeof(*cfg->kafka_props));
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *name, *value;
        int line = config_setting_source_line(e);

        if (config_setting_type(e) != CONFIG_TYPE_ARRAY ||
            config_setting_length(e) != 2 ||
            config_setting_type(config_setting_get_elem(e, 0)) !=
                CONFIG_TYPE_STRING)
            return cv_err(errstr, errstr_size,
                          "%s:%d: key '%s': element %d: expected [\"name\", "
                          "\"value\"], got %s",
                          path, line, k->name, i + 1,
                          config_setting_type(e) == CONFIG_TYPE_ARRAY
                              ? "an array of another shape"
                              : cv_cfgfile_type_name(e));
        name = config_setting_get_string_elem(e, 0);
        value = config_setting_get_string_elem(e, 1);
        if (!*name)
            return cv_err(errstr, errstr_size,
                          "%s:%d: key '%s': element %d: empty property name",
                          path, line, k->name, i + 1);
        for (size_t j = 0; j < cfg->kafka_props_n; j++)
            if (strcmp(cfg->kafka_props[j].key, name) == 0)
                return cv_err(errstr, errstr_size,
                              "%s:%d: key '%s': property '%s' is set twice",
                              path, line, k->name, name);
        cfg->kafka_props[cfg->kafka_props_n].key = cv_strdup(name);
        cfg->kafka_props[cfg->kafka_props_n].value = cv_strdup(value);
        cfg->kafka_props_n++;
    }
    return CV_OK;
}

static int set_from_setting(struct cv_config *cfg, const struct key_def *k,
                            const config_setting_t *s, const char *path,
                            const char *dir, char *errstr, size_t errstr_size)
{
    char where[1100], shown[32]; /* path: up to 1023 chars (load_file) */
    struct origin o = {where, dir, 1};
    int type = config_setting_type(s);
    long long v;

    snprintf(where, sizeof(where), "%s:%d", path,
             config_setting_source_line(s));
    switch (k->type) {
    case KEY_PROPS:
        return set_props(cfg, k, s, path, errstr, errstr_size);
    case KEY_STRING:
        if (type != CONFIG_TYPE_STRING)
            return cv_err(errstr, errstr_size,
                          "%s: key '%s': expected a string, got %s", where,
                          k->name, cv_cfgfile_type_name(s));
        return set_string(cfg, k, config_setting_get_string(s), &o, errstr,
                          errstr_size);
    case KEY_ENUM:
        if (type != CONFIG_TYPE_STRING)
            return cv_err(errstr, errstr_size,
                          "%s: key '%s': expected %s, got %s", where, k->name,
                          k->allowed, cv_cfgfile_type_name(s));
        return set_enum(cfg, k, config_setting_get_string(s), &o, errstr,
                        errstr_size);
    case KEY_INT:
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return cv_err(errstr, errstr_size,
                          "%s: key '%s': expected integer %d..%d, got %s",
                          where, k->name, k->min, k->max,
                          cv_cfgfile_type_name(s));
        v = config_setting_get_int64(s);
        snprintf(shown, sizeof(shown), "%lld", v);
        return set_int(cfg, k, v, shown, &o, errstr, errstr_size);
    }
    return CV_ERR;
}

static void set_defaults(struct cv_config *cfg)
{
    for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++) {
        const struct key_def *k = &keys[i];
        switch (k->type) {
        case KEY_STRING:
            free(*str_member(cfg, k));
            *str_member(cfg, k) = cv_strdup(k->def_str);
            break;
        case KEY_INT:
            *int_member(cfg, k) = k->def_int;
            break;
        case KEY_ENUM:
            *int_member(cfg, k) = k->parse(k->def_str);
            break;
        case KEY_PROPS:
            props_free(cfg);
            break;
        }
    }
}

/* ---- reading libconfig files ---- */

/* ---- loading ---- */

static int load_file(struct cv_config *cfg, const char *path, char *errstr,
                     size_t errstr_size)
{
    config_t lc;
    config_setting_t *root;
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    int rc = CV_ERR;

    config_init(&lc);
    if (cv_cfgfile_read(&lc, path, errstr, errstr_size) != CV_OK)
        goto out;
    if (slash)
        dir = cv_strndup(path, (size_t)(slash - path) + 1);
    root = config_root_setting(&lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *group = config_setting_get_elem(root, (unsigned)i);
        const char *gname = config_setting_name(group);
        char list[512], gbuf[1024];
        const char *gfile = cv_cfgfile_name(config_setting_source_file(group),
                                            path, dir, gbuf, sizeof(gbuf));
        if (!section_known(gname, strlen(gname))) {
            list_names(NULL, list, sizeof(list));
            cv_err(errstr, errstr_size, "%s:%d: unknown group '%s' (known: %s)",
                   gfile, config_setting_source_line(group), gname, list);
            goto out;
        }
        if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
            cv_err(errstr, errstr_size,
                   "%s:%d: '%s' must be a group, %s = { ... }; got %s", gfile,
                   config_setting_source_line(group), gname, gname,
                   cv_cfgfile_type_name(group));
            goto out;
        }
        for (int j = 0; j < config_setting_length(group); j++) {
            config_setting_t *s = config_setting_get_elem(group, (unsigned)j);
            char dotted[256], sbuf[1024];
            const char *sfile = cv_cfgfile_name(config_setting_source_file(s),
                                                path, dir, sbuf, sizeof(sbuf));
            const struct key_def *k;

            snprintf(dotted, sizeof(dotted), "%s.%s", gname,
                     config_setting_name(s));
            k = key_find(dotted);
            if (!k) {
                list_names(gname, list, sizeof(list));
                cv_err(errstr, errstr_size,
                       "%s:%d: unknown key '%s' (%s keys: %s)", sfile,
                       config_setting_source_line(s), dotted, gname, list);
                goto out;
            }
            if (set_from_setting(cfg, k, s, sfile, dir, errstr, errstr_size) !=
                CV_OK)
                goto out;
        }
    }
    rc = CV_OK;

out:
    free(dir);
    config_destroy(&lc);
    return rc;
}

static int apply_env(struct cv_config *cfg, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++) {
        const struct key_def *k = &keys[i];
        char where[128];
        struct origin o = {where, NULL, 0};
        const char *v;

        if (!k->env || !(v = getenv(k->env)))
            continue;
        snprintf(where, sizeof(where), "environment variable %s", k->env);
        if (set_from_text(cfg, k, v, &o, errstr, errstr_size) != CV_OK)
            return CV_ERR;
    }
    return CV_OK;
}

static const char *prop_find(const struct cv_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->kafka_props_n; i++)
        if (strcmp(cfg->kafka_props[i].key, key) == 0)
            return cfg->kafka_props[i].value;
    return NULL;
}

/*
 * Rules across keys, on the final values (file and environment). Errors
 * name the keys; a line would point at only one of them.
 */
static int finalize(struct cv_config *cfg, char *errstr, size_t errstr_size)
{
    const char *where = cfg->path ? cfg->path : "configuration";
    const char *bs =
        prop_find(cfg, "bootstrap.servers")
            ? "bootstrap.servers"
            : (prop_find(cfg, "metadata.broker.list") ? "metadata.broker.list"
                                                      : NULL);

    /*
     * Brokers in two places and one silently winning is how a service ends
     * up talking to the wrong cluster. "dev" is the exception: it names the
     * dev broker, whose address may be given as a property (kafka.c).
     */
    if (bs && strcmp(cfg->kafka_brokers, "dev") != 0)
        return cv_err(errstr, errstr_size,
                      "%s: kafka.properties sets '%s' and kafka.brokers "
                      "(or CONVEYOR_KAFKA_BROKERS) is '%s': give the brokers "
                      "in one place",
                      where, bs, cfg->kafka_brokers);
    return CV_OK;
}

int cv_config_load(const char *path, struct cv_config *cfg, char *errstr,
                   size_t errstr_size)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->origin = cv_calloc(CV_ARRAY_SIZE(keys), sizeof(*cfg->origin));
    set_defaults(cfg);
    if (path) {
        cfg->path = cv_strdup(path);
        if (load_file(cfg, path, errstr, errstr_size) != CV_OK)
            goto fail;
    }
    if (apply_env(cfg, errstr, errstr_size) != CV_OK)
        goto fail;
    if (finalize(cfg, errstr, errstr_size) != CV_OK)
        goto fail;
    return CV_OK;

fail:
    cv_config_free(cfg);
    return CV_ERR;
}

void cv_config_free(struct cv_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++)
        if (keys[i].type == KEY_STRING)
            free(*str_member(cfg, &keys[i]));
    props_free(cfg);
    if (cfg->origin)
        for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++)
            free(cfg->origin[i]);
    free(cfg->origin);
    memset(cfg, 0, sizeof(*cfg));
}

const char *cv_config_origin(const struct cv_config *cfg, const char *key)
{
    const struct key_def *k = key_find(key);

    if (!k || !cfg->origin)
        return NULL;
    return cfg->origin[k - keys];
}

void cv_config_set_origin(struct cv_config *cfg, const char *key,
                          const char *where)
{
    const struct key_def *k = key_find(key);

    if (k)
        origin_set(cfg, k, where);
}

const char *cv_config_env_name(const char *key)
{
    const struct key_def *k = key_find(key);

    return k ? k->env : NULL;
}

void cv_config_describe(FILE *out)
{
    for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++) {
        const struct key_def *k = &keys[i];

        fprintf(out, "%s", k->name);
        switch (k->type) {
        case KEY_STRING:
            fprintf(out, " (string, default \"%s\"", k->def_str);
            break;
        case KEY_INT:
            fprintf(out, " (integer %d..%d, default %d", k->min, k->max,
                    k->def_int);
            break;
        case KEY_ENUM:
            fprintf(out, " (%s, default %s", k->allowed, k->def_str);
            break;
        case KEY_PROPS:
            fprintf(out, " (list of [\"name\", \"value\"], default empty");
            break;
        }
        if (k->env)
            fprintf(out, "; env %s", k->env);
        fprintf(out, ")\n    %s\n", k->desc);
    }
}

const char *const *cv_config_keys(void)
{
    /* Filled on first use; the program calls this before starting threads. */
    static const char *names[CV_ARRAY_SIZE(keys) + 1];

    if (!names[0])
        for (size_t i = 0; i < CV_ARRAY_SIZE(keys); i++)
            names[i] = keys[i].name;
    return names;
}
