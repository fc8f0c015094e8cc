/*
 * fuzz_config.c - libFuzzer target for the libconfig front end, the config
 * loader and the topology loader and checker.
 *
 * Each input is written to one temporary file and loaded both as a
 * configuration and as a topology; a topology that loads is also checked
 * (against the schema catalogue when one is found, and a small handler
 * registry). Built with -DCONVEYOR_FUZZ=ON (see README.md in this
 * directory); run from the repository root, e.g.:
 *
 *   CONVEYOR_SOURCE_DIR=. build-fuzz/tests/fuzz/fuzz_config -max_len=8192 \
 *       corpus/ config/ topology/ tests/unit/fixtures/topology/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "schema.h"
#include "topology.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5's parser drops a string token it cannot use (for example a
 * bare "" at the top level) without freeing the scanner's buffer. That is
 * its bug, a few bytes once per failed load, and not what this target
 * hunts; everything else libconfig allocates is freed by config_destroy().
 */
const char *__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static char path[64];
static struct cv_catalogue *cat;

static cv_result_t handle(struct cv_ctx *ctx, const struct cv_event *ev)
{
    (void)ctx;
    (void)ev;
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {.name = "lead_submitted", .fn = handle},
    {.name = "upload_completed", .fn = handle},
    {0},
};
static const struct cv_domain_def leads = {.name = "leads",
                                           .handlers = handlers};
static const struct cv_domain_def *const defs[] = {&leads, NULL};

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const env[] = {
        "CONVEYOR_KAFKA_BROKERS", "DATABASE_URL",       "CONVEYOR_TOPOLOGY",
        "CONVEYOR_SCHEMAS",       "CONVEYOR_LOG_LEVEL", NULL,
    };
    const char *src = getenv("CONVEYOR_SOURCE_DIR");
    char dir[512], errstr[512];
    int fd;

    (void)argc;
    (void)argv;
    /* the environment would override what the input says */
    for (size_t i = 0; env[i]; i++)
        unsetenv(env[i]);
    snprintf(dir, sizeof(dir), "%s/schemas", src && *src ? src : ".");
    cat = cv_catalogue_load(dir, errstr, sizeof(errstr));
    snprintf(path, sizeof(path), "/tmp/cv_fuzz_config.XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        abort();
    }
    close(fd);
    atexit(remove_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cv_config cfg;
    struct cv_topology t;
    char errstr[1024];
    FILE *fp = fopen(path, "w");

    if (!fp)
        abort();
    if (size && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);

    if (cv_config_load(path, &cfg, errstr, sizeof(errstr)) == CV_OK) {
        /* what loaded must be usable */
        if (!cfg.kafka_brokers || !cfg.pg_conninfo || !cfg.schema_dir ||
            !cfg.topology_path)
            abort();
    }
    cv_config_free(&cfg);

    if (cv_topology_load(path, &t, errstr, sizeof(errstr)) == CV_OK) {
        cv_topology_check(&t, cat, defs, NULL);
        cv_topology_check(&t, NULL, NULL, NULL);
    }
    cv_topology_free(&t);
    return 0;
}
