/*
 * test_config.c - config/conveyor.cfg, the key table, errors with file:line,
 * environment overrides, secrets, paths.
 *
 * Error cases are small files written to a temporary directory from the
 * strings below, so each case and the line it must report sit together.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "test.h"

static char tmpdir[64];
static const char *srcdir;

static const char *const env_vars[] = {
    "CONVEYOR_KAFKA_BROKERS",
    "DATABASE_URL",
    "CONVEYOR_TOPOLOGY",
    "CONVEYOR_SCHEMAS",
    "CONVEYOR_LOG_LEVEL",
    "CONVEYOR_HTTP_LISTEN",
    NULL,
};

static void clear_env(void)
{
    for (size_t i = 0; env_vars[i]; i++)
        unsetenv(env_vars[i]);
}

#define write_file(name, text, len) test_write_file(tmpdir, name, text, len)

/*
 * Loads text as a config file; expects failure with "<path>:<suffix>" in
 * the error (suffix starts with the line number).
 */
static void expect_error(const char *text, const char *suffix)
{
    struct cv_config cfg;
    char errstr[1024] = "", want[1024];
    const char *path = write_file("case.cfg", text, strlen(text));

    snprintf(want, sizeof(want), "%s:%s", path, suffix);
    CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_STR(errstr, want);
    /* a failed load leaves nothing behind */
    CHECK(cfg.path == NULL && cfg.kafka_brokers == NULL);
    cv_config_free(&cfg);
}

static void expect_ok(const char *text, struct cv_config *cfg)
{
    char errstr[1024] = "";
    const char *path = write_file("case.cfg", text, strlen(text));
    int rc = cv_config_load(path, cfg, errstr, sizeof(errstr));

    CHECK(rc == CV_OK);
    if (rc != CV_OK)
        fprintf(stderr, "  unexpected error: %s\n", errstr);
}

static void check_defaults(const struct cv_config *cfg)
{
    CHECK_STR(cfg->kafka_brokers, "dev");
    CHECK(cfg->kafka_props_n == 0);
    CHECK_STR(cfg->pg_conninfo, "");
    CHECK(cfg->pg_connect_timeout_s == 10);
    CHECK(cfg->pg_statement_timeout_ms == 0);
    CHECK(cfg->pg_lock_timeout_ms == 2000);
    CHECK(cfg->outbox_batch_size == 500);
    CHECK(cfg->outbox_poll_ms == 1000);
    CHECK(cfg->shutdown_timeout_ms == 10000);
    CHECK(cfg->log_level == CV_LOG_INFO);
    CHECK(cfg->log_format == CV_LOG_LOGFMT);
}

static void test_defaults(void)
{
    struct cv_config cfg;
    char errstr[256] = "";

    CHECK(cv_config_load(NULL, &cfg, errstr, sizeof(errstr)) == CV_OK);
    CHECK(cfg.path == NULL);
    check_defaults(&cfg);
    CHECK_STR(cfg.schema_dir, "schemas");
    CHECK_STR(cfg.topology_path, "topology/marketplace.cfg");
    cv_config_free(&cfg);
    CHECK(cfg.kafka_brokers == NULL);
    cv_config_free(&cfg); /* twice is fine */
    cv_config_free(NULL);
}

static void test_reference(void)
{
    struct cv_config cfg;
    char errstr[1024] = "", path[512], want[512];

    snprintf(path, sizeof(path), "%s/config/conveyor.cfg", srcdir);
    CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_OK);
    if (errstr[0])
        fprintf(stderr, "  %s\n", errstr);
    /* the reference file holds exactly the defaults... */
    check_defaults(&cfg);
    CHECK_STR(cfg.path, path);
    /* ...and its paths, relative to config/, name the defaults' files */
    snprintf(want, sizeof(want), "%s/config/../schemas", srcdir);
    CHECK_STR(cfg.schema_dir, want);
    snprintf(want, sizeof(want), "%s/config/../topology/marketplace.cfg",
             srcdir);
    CHECK_STR(cfg.topology_path, want);
    CHECK(access(cfg.schema_dir, R_OK) == 0);
    CHECK(access(cfg.topology_path, R_OK) == 0);
    cv_config_free(&cfg);
}

/* Every key of the table is in the reference file, and described. */
static void test_reference_documents_every_key(void)
{
    const char *const *names = cv_config_keys();
    char path[512], *desc = NULL;
    size_t desc_len = 0, n = 0;
    config_t lc;
    FILE *mem;

    snprintf(path, sizeof(path), "%s/config/conveyor.cfg", srcdir);
    config_init(&lc);
    CHECK(config_read_file(&lc, path) == CONFIG_TRUE);
    mem = open_memstream(&desc, &desc_len);
    cv_config_describe(mem);
    fclose(mem);
    for (; names[n]; n++) {
        if (!config_lookup(&lc, names[n]))
            fprintf(stderr, "  config/conveyor.cfg lacks '%s'\n", names[n]);
        CHECK(config_lookup(&lc, names[n]) != NULL);
        CHECK_CONTAINS(desc, names[n]);
    }
    CHECK(n == 21);
    config_destroy(&lc);
    free(desc);
}

static void test_error_classes(void)
{
    /* unknown key, with the section's keys as a hint */
    expect_error("outbox = {\n  batch_size = 10;\n  batchsize = 5;\n};\n",
                 "3: unknown key 'outbox.batchsize' (outbox keys: "
                 "batch_size, poll_ms, retention_hours)");
    /* unknown group */
    expect_error("log = { level = \"info\"; };\n\nkafak = { brokers = \"x\"; "
                 "};\n",
                 "3: unknown group 'kafak' (known: kafka, postgres, "
                 "schemas, topology, outbox, consumer, ticker, http, log)");
    /* a known section that is not a group */
    expect_error("# comment\nlog = \"debug\";\n",
                 "2: 'log' must be a group, log = { ... }; got a string");
    /* wrong types */
    expect_error("outbox = {\n  batch_size = \"500\";\n};\n",
                 "2: key 'outbox.batch_size': expected integer 1..100000, "
                 "got a string");
    expect_error("outbox = {\n  poll_ms = 1.5;\n};\n",
                 "2: key 'outbox.poll_ms': expected integer 10..60000, got "
                 "a float");
    expect_error("kafka = {\n\n  brokers = 9092;\n};\n",
                 "3: key 'kafka.brokers': expected a string, got an integer");
    expect_error("log = { level = 3; };\n",
                 "1: key 'log.level': expected error|warn|info|debug, got an "
                 "integer");
    /* out of range */
    expect_error("outbox = {\n  batch_size = 0;\n};\n",
                 "2: key 'outbox.batch_size': expected integer 1..100000, "
                 "got 0");
    expect_error("postgres = {\n  statement_timeout_ms = -1;\n};\n",
                 "2: key 'postgres.statement_timeout_ms': expected integer "
                 "0..3600000, got -1");
    expect_error("consumer = { shutdown_timeout_ms = 99999999999L; };\n",
                 "1: key 'consumer.shutdown_timeout_ms': expected integer "
                 "100..600000, got 99999999999");
    /* libconfig 1.5 would wrap this to 500 without a word */
    expect_error("# 4294967296 + 500\noutbox = {\n  batch_size = "
                 "4294967796;\n};\n",
                 "3: integer 4294967796 is out of range (append L for a "
                 "64-bit integer)");
    /* bad enum values */
    expect_error("log = {\n  format = \"text\";\n};\n",
                 "2: key 'log.format': expected logfmt|json, got 'text'");
    expect_error("log = {\n  level = \"verbose\";\n};\n",
                 "2: key 'log.level': expected error|warn|info|debug, got "
                 "'verbose'");
    /* empty strings where a value is needed */
    expect_error("schemas = {\n  dir = \"\";\n};\n",
                 "2: key 'schemas.dir': expected a non-empty string, got "
                 "\"\"");
    /* syntax errors */
    expect_error("log = {\n  level = \"info\";\n  format = ;\n};\n",
                 "3: syntax error");
    expect_error("log = {\n  level = \"info\";\n  level = \"warn\";\n};\n",
                 "3: syntax error: duplicate setting name");
    /* kafka.properties shape */
    expect_error("kafka = {\n  properties = ( [\"linger.ms\", \"5\"],\n"
                 "    [\"acks\"] );\n};\n",
                 "3: key 'kafka.properties': element 2: expected "
                 "[\"name\", \"value\"], got an array of another shape");
    expect_error("kafka = {\n  properties = ( [\"linger.ms\", \"5\"],\n"
                 "    [\"linger.ms\", \"10\"] );\n};\n",
                 "3: key 'kafka.properties': property 'linger.ms' is set "
                 "twice");
    expect_error("kafka = {\n  properties = ( [5, 6] );\n};\n",
                 "2: key 'kafka.properties': element 1: expected [\"name\", "
                 "\"value\"], got an array of another shape");
    expect_error("kafka = {\n  properties = \"linger.ms=5\";\n};\n",
                 "2: key 'kafka.properties': expected a list of [\"name\", "
                 "\"value\"] pairs, got a string");
}

static void test_password_in_file(void)
{
    static const char *const bad[] = {
        "host=db user=app password=hunter2 dbname=app",
        "host=db password = 'hunter 2'",
        "password=x",
        "postgresql://app:hunter2@db:5432/app",
        "postgresql://app@db/app?sslmode=require&password=hunter2",
        NULL,
    };
    static const char *const good[] = {
        "host=db user=app dbname=app",
        "host=db dbname=password application_name='password=x'",
        "postgresql://app@db:5432/app",
        "postgresql://db:5432/app?sslmode=require",
        "postgresql://[::1]:5432/app",
        "postgres://app:@db/app", /* libpq: no password, no secret */
        "",
        NULL,
    };
    char text[512];

    for (size_t i = 0; bad[i]; i++) {
        struct cv_config cfg;
        char errstr[1024] = "";
        const char *path;

        snprintf(text, sizeof(text), "postgres = {\n  conninfo = \"%s\";\n};\n",
                 bad[i]);
        path = write_file("case.cfg", text, strlen(text));
        CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_ERR);
        CHECK_CONTAINS(errstr, ":2: key 'postgres.conninfo': contains a "
                               "password");
        /* the secret itself is never repeated */
        CHECK(strstr(errstr, "hunter") == NULL);
        cv_config_free(&cfg);
    }
    for (size_t i = 0; good[i]; i++) {
        struct cv_config cfg;

        snprintf(text, sizeof(text), "postgres = {\n  conninfo = \"%s\";\n};\n",
                 good[i]);
        expect_ok(text, &cfg);
        CHECK_STR(cfg.pg_conninfo, good[i]);
        cv_config_free(&cfg);
    }
}

static void test_values(void)
{
    struct cv_config cfg;

    expect_ok("kafka = {\n"
              "  brokers = \"k1:9092,k2:9092\";\n"
              "  properties = ( [\"linger.ms\", \"5\"],\n"
              "                 [\"fetch.wait.max.ms\", \"100\"] );\n"
              "};\n"
              "postgres = { connect_timeout_s = 600; statement_timeout_ms = "
              "3600000L; };\n"
              "outbox = { batch_size = 100000; poll_ms = 10; };\n"
              "consumer = { shutdown_timeout_ms = 100; };\n"
              "log = { level = \"debug\"; format = \"json\"; };\n"
              "schemas: { dir = \"/abs/schemas\"; };\n"
              "topology = { path = \"topo.cfg\"; };\n",
              &cfg);
    CHECK_STR(cfg.kafka_brokers, "k1:9092,k2:9092");
    CHECK(cfg.kafka_props_n == 2);
    if (cfg.kafka_props_n == 2) {
        CHECK_STR(cfg.kafka_props[0].key, "linger.ms");
        CHECK_STR(cfg.kafka_props[0].value, "5");
        CHECK_STR(cfg.kafka_props[1].key, "fetch.wait.max.ms");
        CHECK_STR(cfg.kafka_props[1].value, "100");
    }
    CHECK(cfg.pg_connect_timeout_s == 600);
    CHECK(cfg.pg_statement_timeout_ms == 3600000);
    CHECK(cfg.outbox_batch_size == 100000);
    CHECK(cfg.outbox_poll_ms == 10);
    CHECK(cfg.shutdown_timeout_ms == 100);
    CHECK(cfg.log_level == CV_LOG_DEBUG);
    CHECK(cfg.log_format == CV_LOG_JSON);
    /* absolute paths stay; relative ones resolve against the file's dir */
    CHECK_STR(cfg.schema_dir, "/abs/schemas");
    {
        char want[256];
        snprintf(want, sizeof(want), "%s/topo.cfg", tmpdir);
        CHECK_STR(cfg.topology_path, want);
    }
    cv_config_free(&cfg);

    /* an empty file is all defaults; an empty properties array is fine */
    expect_ok("", &cfg);
    check_defaults(&cfg);
    CHECK_STR(cfg.schema_dir, "schemas"); /* defaults: relative to cwd */
    cv_config_free(&cfg);
    expect_ok("kafka = { properties = [ ]; };\n", &cfg);
    CHECK(cfg.kafka_props_n == 0);
    cv_config_free(&cfg);

    /* brokers as a property are fine for "dev" (the dev broker's address) */
    expect_ok("kafka = { properties = ( [\"bootstrap.servers\", "
              "\"127.0.0.1:39092\"] ); };\n",
              &cfg);
    cv_config_free(&cfg);
}

static void test_include(void)
{
    struct cv_config cfg;
    const char *inc = "batch_size = 42;\n";

    write_file("inc.cfg", inc, strlen(inc));
    expect_ok("outbox = {\n  @include \"inc.cfg\"\n};\n", &cfg);
    CHECK(cfg.outbox_batch_size == 42);
    cv_config_free(&cfg);

    /* errors in an included file name that file */
    {
        char errstr[1024] = "", want[512];
        const char *path;

        inc = "\nbatch_size = 0;\n";
        write_file("inc.cfg", inc, strlen(inc));
        path =
            write_file("case.cfg", "outbox = {\n  @include \"inc.cfg\"\n};\n",
                       strlen("outbox = {\n  @include \"inc.cfg\"\n};\n"));
        CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_ERR);
        snprintf(want, sizeof(want),
                 "%s/inc.cfg:2: key 'outbox.batch_size': expected integer "
                 "1..100000, got 0",
                 tmpdir);
        CHECK_STR(errstr, want);
        cv_config_free(&cfg);

        inc = "batch_size = ;\n";
        write_file("inc.cfg", inc, strlen(inc));
        CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_ERR);
        snprintf(want, sizeof(want), "%s/inc.cfg:1: syntax error", tmpdir);
        CHECK_STR(errstr, want);
        cv_config_free(&cfg);
    }
}

/* The integer scan must not get in the way of what libconfig reads fine. */
static void test_int_literals(void)
{
    struct cv_config cfg;

    expect_ok("# 99999999999 in a comment\n"
              "/* 99999999999\n   */ // 99999999999\n"
              "postgres = { conninfo = \"port=99999999999\";\n"
              "  statement_timeout_ms = 0x10; };\n",
              &cfg);
    CHECK(cfg.pg_statement_timeout_ms == 16);
    CHECK_STR(cfg.pg_conninfo, "port=99999999999");
    cv_config_free(&cfg);
    /* a float is a type error, not a scan error */
    expect_error("outbox = {\n  batch_size = 1e3;\n};\n",
                 "2: key 'outbox.batch_size': expected integer 1..100000, "
                 "got a float");
    expect_error("outbox = {\n  batch_size = 2147483647;\n};\n",
                 "2: key 'outbox.batch_size': expected integer 1..100000, "
                 "got 2147483647");
    expect_error("outbox = {\n  batch_size = -2147483648;\n};\n",
                 "2: key 'outbox.batch_size': expected integer 1..100000, "
                 "got -2147483648");
    expect_error("outbox = {\n  batch_size = -2147483649;\n};\n",
                 "2: integer -2147483649 is out of range (append L for a "
                 "64-bit integer)");
    expect_error("outbox = {\n  batch_size = 0x100000000;\n};\n",
                 "2: integer 0x100000000 is out of range (append L for a "
                 "64-bit integer)");
    expect_error("postgres = { conninfo = \"x\\\" 99999999999\"; };\n"
                 "outbox = {\n  batch_size = 99999999999999999999L;\n};\n",
                 "3: integer 99999999999999999999L is out of range");
}

static void test_file_errors(void)
{
    struct cv_config cfg;
    char errstr[1024] = "", path[256];

    snprintf(path, sizeof(path), "%s/nope.cfg", tmpdir);
    CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_CONTAINS(errstr, "nope.cfg: cannot open: No such file or directory");
    cv_config_free(&cfg);

    CHECK(cv_config_load(tmpdir, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_CONTAINS(errstr, ": cannot read: Is a directory");
    cv_config_free(&cfg);

    write_file("nul.cfg", "log = {};\0 x", 12);
    snprintf(path, sizeof(path), "%s/nul.cfg", tmpdir);
    CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_CONTAINS(errstr, "nul.cfg: contains a NUL byte");
    cv_config_free(&cfg);
}

static void test_finalize(void)
{
    struct cv_config cfg;
    char errstr[1024] = "";
    const char *text = "kafka = {\n  brokers = \"k1:9092\";\n"
                       "  properties = ( [\"bootstrap.servers\", "
                       "\"k2:9092\"] );\n};\n";
    const char *path = write_file("case.cfg", text, strlen(text));

    CHECK(cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_CONTAINS(errstr, "kafka.properties sets 'bootstrap.servers' and "
                           "kafka.brokers (or CONVEYOR_KAFKA_BROKERS) is "
                           "'k1:9092'");
    cv_config_free(&cfg);
}

static void test_env(void)
{
    struct cv_config cfg;
    char errstr[1024] = "", path[512];
    const char *text = "log = { level = \"warn\"; };\n"
                       "topology = { path = \"t.cfg\"; };\n";
    const char *file = write_file("case.cfg", text, strlen(text));

    /* the environment wins over the file and over the defaults */
    setenv("CONVEYOR_KAFKA_BROKERS", "kafka-0:9092", 1);
    setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/app", 1);
    setenv("CONVEYOR_TOPOLOGY", "topo/x.cfg", 1);
    setenv("CONVEYOR_SCHEMAS", "/srv/schemas", 1);
    setenv("CONVEYOR_LOG_LEVEL", "debug", 1);
    CHECK(cv_config_load(file, &cfg, errstr, sizeof(errstr)) == CV_OK);
    CHECK_STR(cfg.kafka_brokers, "kafka-0:9092");
    /* a password from the environment is fine */
    CHECK_STR(cfg.pg_conninfo, "postgresql://app:s3cret@db:5432/app");
    /* relative paths from the environment: against the cwd */
    CHECK_STR(cfg.topology_path, "topo/x.cfg");
    CHECK_STR(cfg.schema_dir, "/srv/schemas");
    CHECK(cfg.log_level == CV_LOG_DEBUG);
    cv_config_free(&cfg);

    CHECK(cv_config_load(NULL, &cfg, errstr, sizeof(errstr)) == CV_OK);
    CHECK_STR(cfg.kafka_brokers, "kafka-0:9092");
    cv_config_free(&cfg);

    /* bad values name the variable */
    setenv("CONVEYOR_LOG_LEVEL", "loud", 1);
    CHECK(cv_config_load(file, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_STR(errstr, "environment variable CONVEYOR_LOG_LEVEL: key "
                      "'log.level': expected error|warn|info|debug, got "
                      "'loud'");
    cv_config_free(&cfg);
    clear_env();

    setenv("CONVEYOR_TOPOLOGY", "", 1);
    CHECK(cv_config_load(NULL, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_STR(errstr, "environment variable CONVEYOR_TOPOLOGY: key "
                      "'topology.path': expected a non-empty string, got "
                      "\"\"");
    cv_config_free(&cfg);
    clear_env();

    /* the cross-key rule sees the environment too */
    snprintf(path, sizeof(path), "%s", file);
    text = "kafka = { properties = ( [\"bootstrap.servers\", \"k:1\"] ); };\n";
    file = write_file("case.cfg", text, strlen(text));
    CHECK(cv_config_load(file, &cfg, errstr, sizeof(errstr)) == CV_OK);
    cv_config_free(&cfg);
    setenv("CONVEYOR_KAFKA_BROKERS", "k:2", 1);
    CHECK(cv_config_load(file, &cfg, errstr, sizeof(errstr)) == CV_ERR);
    CHECK_CONTAINS(errstr, "give the brokers in one place");
    cv_config_free(&cfg);
    clear_env();
}

static void test_keys_and_describe(void)
{
    const char *const *names = cv_config_keys();
    char *desc = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&desc, &len);

    CHECK_STR(names[0], "kafka.brokers");
    CHECK(cv_config_keys() == names);
    cv_config_describe(mem);
    fclose(mem);
    CHECK_CONTAINS(desc, "outbox.batch_size (integer 1..100000, default 500)");
    CHECK_CONTAINS(desc, "log.level (error|warn|info|debug, default info; "
                         "env CONVEYOR_LOG_LEVEL)");
    CHECK_CONTAINS(desc, "kafka.brokers (string, default \"dev\"; env "
                         "CONVEYOR_KAFKA_BROKERS)");
    free(desc);
}

int main(void)
{
    srcdir = getenv("CONVEYOR_SOURCE_DIR");
    if (!srcdir || !*srcdir)
        srcdir = ".";
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cv_test_config.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    clear_env();

    test_defaults();
    test_reference();
    test_reference_documents_every_key();
    test_error_classes();
    test_password_in_file();
    test_values();
    test_include();
    test_int_literals();
    test_file_errors();
    test_finalize();
    test_env();
    test_keys_and_describe();

    {
        static const char *const files[] = {"case.cfg", "inc.cfg", "nul.cfg",
                                            NULL};
        char path[256];
        for (size_t i = 0; files[i]; i++) {
            snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
            unlink(path);
        }
        rmdir(tmpdir);
    }
    TEST_DONE();
}
