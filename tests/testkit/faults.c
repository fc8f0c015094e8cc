/*
 * faults.c - fault injection for the integration tests, in conveyor-testkit
 * only (never in the conveyor binary).
 *
 * CONVEYOR_PG_FAULT=N[:SQLSTATE] makes the N-th statement the process
 * queues in a Postgres pipeline fail on the server with SQLSTATE (default
 * 40001, serialization_failure), through pg.h's cv_pg_fault_hook. A test
 * sweeps N upwards, one process each, until the fault no longer fires
 * (SQLite's way with its malloc and I/O faults): every statement of the
 * commit path fails once, and the engine must recover each time. A line on
 * stderr says when the fault fires.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static uint64_t fault_at;
static char fault_state[6] = "40001";

static const char *fault_hook(uint64_t nth)
{
    if (nth != fault_at)
        return NULL;
    fprintf(stderr,
            "conveyor-testkit: injected fault: pipelined statement "
            "%llu fails with SQLSTATE %s\n",
            (unsigned long long)nth, fault_state);
    return fault_state;
}

/* Before main(): the hook must be in place before any thread starts. */
__attribute__((constructor)) static void faults_init(void)
{
    const char *spec = getenv("CONVEYOR_PG_FAULT"), *colon;

    if (!spec || !*spec)
        return;
    fault_at = strtoull(spec, NULL, 10);
    colon = strchr(spec, ':');
    if (colon)
        snprintf(fault_state, sizeof(fault_state), "%s", colon + 1);
    if (fault_at)
        cv_pg_fault_hook = fault_hook;
}
