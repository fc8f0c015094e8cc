/*
 * topology.h - topics, event types, domains and routes (topology/<name>.cfg).
 *
 *   topics  = ( { name = "marketplace.leads"; partitions = 8; } );
 *   events  = ( { type = "marketplace.lead.submitted";
 *                 schema = "marketplace.LeadSubmitted";
 *                 topic = "marketplace.leads"; key = "partner_id"; } );
 *   domains = ( { name = "leads"; group = "conveyor.leads";
 *                 topics = [ "marketplace.leads" ];
 *                 batch_size = 500; batch_wait_ms = 50; parallelism = 1;
 *                 reset = "earliest";
 *                 kill_switch_env = "EMAIL_VERIFICATION_KILL_SWITCH";
 *                 retry = { mode = "blocking"; max_attempts = 3; };
 *                 routes = ( { event = "marketplace.lead.submitted";
 *                              handler = "leads.lead_submitted";
 *                              retry = { mode = "deferred"; }; },
 *                            { event = "marketplace.job.daily_decay";
 *                              sql = ( "UPDATE ... :event.fire_time" ); }
 *                          ); } );
 *   schedules = ( { name = "weeklyPartnerPayouts"; cron = "0 2 * * MON";
 *                   zone = "UTC"; event = "marketplace.job.weekly_payouts";
 *                   payload = "{}"; key = "payouts";
 *                   catch_up = "latest"; catch_up_window_s = 86400;
 *                   enabled = true; description = "..."; } );
 *
 * cv_topology_load() reads the file and reports syntax, type and value
 * errors with file:line. Every key, with its type, default and bounds, is a
 * row of the table in topology_keys.c. cv_topology_check()
 * (topology_check.c) checks references across the file, the schema
 * catalogue and the compiled-in handlers, and reports every error it finds,
 * each with file:line.
 */
#ifndef CV_TOPOLOGY_H
#define CV_TOPOLOGY_H

#include <stdio.h>

#include "common.h"
#include "domain.h"
#include "schema.h"

struct cv_topo_topic {
    char *name;
    int partitions;
    int line; /* of its "name" key */
};

struct cv_topo_event {
    char *type;      /* ce_type, e.g. "marketplace.lead.submitted" */
    char *schema;    /* full Avro name in the catalogue */
    char *topic;     /* where producers send it */
    char *key_field; /* record field used as the Kafka key, or NULL */
    int line;        /* of its "type" key; the others' lines for errors: */
    int schema_line, topic_line, key_line;
};

/*
 * What happens when a handler fails with cv_retry(), a statement of its
 * event fails with SQLSTATE class 40 (serialization failure, deadlock), or
 * the handler runs past its timeout. A domain's `retry` group
 * sets the defaults for its routes; a route's own `retry` group overrides
 * them field by field:
 *
 *   retry = { mode = "deferred"; max_attempts = 5; initial_ms = 60000;
 *             factor = 2.0; max_ms = 480000; jitter = 0.0;
 *             timeout_ms = 30000; };
 *
 * Attempt 1 is the delivery itself; attempt n > 1 starts
 * cv_retry_delay_ms(policy, n - 1, u) after attempt n - 1 failed. After
 * max_attempts failed attempts the event is dead-lettered. A handler's
 * cv_fail() is never retried.
 */
enum cv_retry_mode {
    CV_RETRY_BLOCKING = 0, /* the partition waits at the event: order kept */
    CV_RETRY_DEFERRED = 1, /* parked in conveyor.retries; the partition
                              flows on and the event is re-run when due */
};

struct cv_retry_policy {
    int mode;           /* enum cv_retry_mode; default blocking */
    int max_attempts;   /* >= 1, the first delivery included; default 3 */
    int64_t initial_ms; /* >= 0, delay before attempt 2; default 200 */
    double factor;      /* >= 1, growth per attempt; default 2 */
    int64_t max_ms;     /* >= initial_ms, cap on a delay; default 60000 */
    double jitter;      /* 0..1: a delay d is drawn from d*(1 +- jitter);
                           default 0.1 */
    int timeout_ms;     /* handler timeout, >= 0, 0 = none; default 30000 */
    int line;           /* of the group that set it last, 0 = defaults */
};

/*
 * The delay before the next attempt after `failures` (>= 1) failed
 * attempts: min(initial_ms * factor^(failures-1), max_ms), then spread by
 * the jitter with u drawn uniformly from [0,1): d * (1 + jitter*(2u - 1)).
 * Never negative.
 */
int64_t cv_retry_delay_ms(const struct cv_retry_policy *p, int failures,
                          double u);

/* A statement of declared SQL, as written in the topology. */
struct cv_topo_sql {
    char *text;
    int line; /* of the string (the last line of one split over lines) */
};

/* An emit group of a declared route: every row its query returns becomes
 * an event of event_type, the columns named like the record's fields. */
struct cv_topo_emit {
    char *event_type;
    char *sql;
    int line; /* of its "event" key */
    int sql_line;
};

struct cv_sqlroute; /* declared SQL, compiled (sqlroute.h) */

/*
 * A route runs a compiled-in handler, or declared SQL (sqlroute.h): sql
 * statements run once per event, rows statements once per batch with each
 * parameter an array of the batch's values, then the emit queries.
 */
struct cv_topo_route {
    char *event_type;
    char *handler; /* "<domain def>.<handler>", or NULL for declared SQL */
    struct cv_topo_sql *sql;
    size_t nsql;
    struct cv_topo_sql *rows;
    size_t nrows;
    struct cv_topo_emit *emits;
    size_t nemits;
    int line; /* of its "event" key */
    int handler_line;
    cv_handler_fn fn;             /* resolved by cv_topology_check() */
    struct cv_sqlroute *decl;     /* compiled by cv_topology_check() */
    struct cv_retry_policy retry; /* the domain's, overridden by the route */
};

struct cv_topo_domain {
    char *name;
    char *group_id;
    char **topics;
    size_t ntopics;
    int batch_size;
    int batch_wait_ms;
    int parallelism;
    int reset_earliest;    /* 1 = earliest, 0 = latest */
    char *dlq_topic;       /* default "conveyor.dlq.<domain name>" */
    char *kill_switch_env; /* env variable that pauses the domain, or NULL */
    struct cv_retry_policy retry; /* defaults for the domain's routes */
    struct cv_topo_route *routes;
    size_t nroutes;
    int line; /* of its "name" key */
    int topics_line, dlq_line;
};

enum cv_catch_up { CV_CATCH_UP_ALL, CV_CATCH_UP_LATEST, CV_CATCH_UP_NONE };

struct cv_cron;
struct cv_tz;

/*
 * A cron schedule the ticker turns into events (DESIGN.md I-7). cron and
 * tz are parsed by cv_topology_check(); until then they are NULL.
 */
struct cv_topo_schedule {
    char *name;
    char *cron_expr;
    char *zone;       /* IANA name, default "UTC" */
    char *event_type; /* a declared event type */
    char *payload;    /* JSON object merged into every event, default "{}" */
    char *key;        /* Kafka key, default the schedule name */
    int catch_up;     /* enum cv_catch_up, default latest */
    int catch_up_window_s; /* missed fires older than this are skipped */
    int enabled;
    int line; /* of its "name" key; the others' lines for errors: */
    int cron_line, zone_line, event_line, payload_line;
    struct cv_cron *cron;
    struct cv_tz *tz;
};

/*
 * A named setting of the topology, read by handlers (cv_setting()): the
 * numbers of a formula, a threshold. An environment variable may override
 * it (PAYOUT_MIN_AMOUNT), as the seed teams' settings were environment
 * variables.
 */
struct cv_topo_setting {
    char *name;
    char *value; /* the topology's value */
    char *env;   /* a variable whose value, when set, wins; or NULL */
    int line;
};

struct cv_target;
struct cv_sqltext;

/*
 * An importer: how files named by `conveyor.imports` requests are fetched
 * (file://, http(s)://, or a path relative to base_url), read (CSV with a
 * header row, columns mapped by name) and written (the sink statement, once
 * per chunk of rows, with :col.<name> and :row.line arrays). import.h runs
 * it.
 */
struct cv_topo_import {
    char *name;
    char *description;
    char *base_url;     /* a relative source is appended to it, or NULL */
    char *base_url_env; /* a variable that, when set, replaces base_url */
    char *secret_env;   /* Authorization: Bearer <its value>, or NULL */
    char **columns;     /* the columns the sink reads, by header name */
    size_t ncolumns;
    char **required; /* columns a row must not leave empty */
    size_t nrequired;
    char **emails; /* columns that must hold an email address */
    size_t nemails;
    char *sql; /* the sink statement */
    int sql_line;
    int chunk_rows;     /* rows per transaction */
    int concurrency;    /* imports running at once, across processes */
    int max_attempts;   /* starts in all before a transient error fails */
    int64_t initial_ms; /* the delay before attempt 2 */
    int64_t max_ms;     /* the cap on a delay */
    int max_row_bytes;  /* a longer row is a bad row */
    int timeout_ms;     /* connecting and the first byte, ms */
    int line;
    struct cv_sqltext *sink; /* compiled by cv_topology_check() */
};

struct cv_topology {
    char *path;
    struct cv_topo_topic *topics;
    size_t ntopics;
    struct cv_topo_event *events;
    size_t nevents;
    struct cv_topo_domain *domains;
    size_t ndomains;
    struct cv_topo_schedule *schedules;
    size_t nschedules;
    struct cv_target *targets; /* services called through effects (target.h) */
    size_t ntargets;
    struct cv_topo_setting *settings;
    size_t nsettings;
    struct cv_topo_import *imports; /* files read in chunks (import.h) */
    size_t nimports;
};

/* Returns CV_OK or CV_ERR with "file:line: message". t is always safe to
 * pass to cv_topology_free() afterwards. */
int cv_topology_load(const char *path, struct cv_topology *t, char *errstr,
                     size_t errstr_size);
void cv_topology_free(struct cv_topology *t);

/*
 * Every key of topology.c's table with its type, default and description,
 * and the keys' names alone, NULL-terminated: "topics" for the lists of the
 * file itself, "<group>.<key>" for the keys of a group ("domain.batch_size",
 * "route.handler", "retry.jitter", "schedule.cron"). For people, and for
 * the test that checks topology/marketplace.cfg documents every key.
 */
void cv_topology_describe(FILE *out);
const char *const *cv_topology_keys(void);

/*
 * Cross-checks and resolves handlers (route->fn). Each error is printed to
 * out (may be NULL) as "file:line: message". Checks: duplicate topic, event,
 * domain or group names; an event whose schema is not in the catalogue or
 * whose topic is not declared; a key field that is not in the schema; a
 * domain topic that is not declared; a route to an undeclared event type or
 * an unknown handler; a route whose event's topic is not consumed by the
 * domain; a declared topic that no domain consumes (unrouted topic); a
 * schedule with a bad cron expression (field and column), an unknown time
 * zone, an undeclared event type, or a payload that does not encode with
 * the event's schema. Parses each schedule's cron and zone.
 * Returns the number of errors (0 = valid).
 */
int cv_topology_check(struct cv_topology *t, const struct cv_catalogue *cat,
                      const struct cv_domain_def *const *domains, FILE *out);

const struct cv_topo_topic *cv_topology_topic(const struct cv_topology *t,
                                              const char *name);
const struct cv_topo_event *cv_topology_event(const struct cv_topology *t,
                                              const char *type);
const struct cv_topo_domain *cv_topology_domain(const struct cv_topology *t,
                                                const char *name);
const struct cv_topo_schedule *cv_topology_schedule(const struct cv_topology *t,
                                                    const char *name);
const struct cv_target *cv_topology_target(const struct cv_topology *t,
                                           const char *name);
/* A setting's value: its env variable's when that is set and not empty,
 * else the topology's; NULL if there is no such setting. */
const char *cv_topology_setting(const struct cv_topology *t, const char *name);
const struct cv_topo_import *cv_topology_import(const struct cv_topology *t,
                                                const char *name);
/* The route for an event type within a domain, or NULL. */
const struct cv_topo_route *cv_topology_route(const struct cv_topo_domain *d,
                                              const char *event_type);

#endif
