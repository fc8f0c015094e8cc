/*
 * config.h - runtime configuration (config/conveyor.cfg, libconfig).
 *
 * Every key is declared in one table in config.c with its type, default,
 * bounds and description; an unknown key, a wrong type or a bad value fails
 * with file:line and what was expected. A finalize step checks rules across
 * keys. Environment variables override the file for deployment:
 *
 *   CONVEYOR_KAFKA_BROKERS  kafka.brokers
 *   DATABASE_URL            postgres.conninfo (a URL or key=value conninfo)
 *   CONVEYOR_TOPOLOGY       topology.path
 *   CONVEYOR_SCHEMAS        schemas.dir
 *   CONVEYOR_LOG_LEVEL      log.level
 *   CONVEYOR_HTTP_LISTEN    http.listen
 *
 * Secrets never live in the file: the Postgres password comes from PGPASSWORD
 * (or DATABASE_URL); a conninfo in the file that contains a password is an
 * error. Relative paths are resolved against the config file's directory.
 */
#ifndef CV_CONFIG_H
#define CV_CONFIG_H

#include <stdio.h>

#include "common.h"

struct cv_kv {
    char *key;
    char *value;
};

struct cv_config {
    char *path; /* the file loaded, or NULL for built-in defaults */

    /* kafka */
    char *kafka_brokers;       /* "dev" = the in-process dev broker */
    struct cv_kv *kafka_props; /* kafka.properties: passed to librdkafka */
    size_t kafka_props_n;

    /* postgres */
    char *pg_conninfo;
    int pg_connect_timeout_s;
    int pg_statement_timeout_ms; /* 0 = none */
    int pg_lock_timeout_ms;      /* 0 = none */

    /* schemas and topology */
    char *schema_dir;
    char *topology_path;

    /* outbox relay */
    int outbox_batch_size;
    int outbox_poll_ms;         /* fallback poll when no NOTIFY arrives */
    int outbox_retention_hours; /* published rows are deleted after this */
    int inbox_retention_hours;  /* processed event ids kept this long */

    /* consumers */
    int shutdown_timeout_ms;

    /* ticker */
    int ticker_tick_ms;           /* how often the leader looks for fires */
    int ticker_late_after_ms;     /* a fire later than this is a catch-up */
    int ticker_leader_timeout_ms; /* a leader silent this long is replaced */
    char *ticker_clock;           /* "system" or a simulated clock spec */

    /* the HTTP endpoint (http.c) */
    char *http_listen;            /* host:port; "" = off */
    int http_liveness_timeout_ms; /* a loop silent this long is stuck */

    /* logging */
    int log_level;  /* enum cv_log_level */
    int log_format; /* enum cv_log_format */

    /* per key of config.c's table: where the value came from, NULL for the
     * built-in default (string keys; see cv_config_origin) */
    char **origin;
};

/*
 * Fills cfg from path (NULL = defaults only), then applies the environment.
 * Returns CV_OK, or CV_ERR with "file:line: message" in errstr.
 * cfg is always safe to pass to cv_config_free() afterwards.
 */
int cv_config_load(const char *path, struct cv_config *cfg, char *errstr,
                   size_t errstr_size);
void cv_config_free(struct cv_config *cfg);

/*
 * Where the string key's value came from: "FILE:LINE", "environment
 * variable NAME", "the installed default", what cv_config_set_origin()
 * recorded, or NULL for the built-in default (also for an unknown key).
 * Borrowed from cfg.
 */
const char *cv_config_origin(const struct cv_config *cfg, const char *key);
/* Records where a value a command set itself came from (copied). */
void cv_config_set_origin(struct cv_config *cfg, const char *key,
                          const char *where);
/* The environment variable that overrides key, or NULL. */
const char *cv_config_env_name(const char *key);

/* Prints every key with its type, default and description (for --help and
 * the test that checks config/conveyor.cfg documents every key). */
void cv_config_describe(FILE *out);
/* The dotted names of all keys, NULL-terminated. */
const char *const *cv_config_keys(void);

#endif
