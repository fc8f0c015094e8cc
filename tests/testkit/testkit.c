/*
 * testkit.c - a domain for the integration tests only (conveyor-testkit,
 * never in the conveyor binary): its handler does what each event tells it,
 * and writes down every call where the engine cannot touch it.
 *
 *   testkit.act  events of schema conveyor.ScheduledJob; the `schedule`
 *                field is the command:
 *       "ok"          succeed
 *       "fail:N"      cv_retry() on the first N calls for this event id
 *       "failhard"    cv_fail()
 *       "hang:MS"     sleep MS milliseconds in the handler, then succeed
 *
 * A call that succeeds inserts one row into public.testkit_effects (the test
 * creates it), so the test can count effects per event. Every call appends
 * "<event id> <call number> <wall clock ms> <result> <partition>" to the
 * file named by
 * CONVEYOR_TESTKIT_LOG; the call number is counted from that file, not
 * from the engine's attempt count, so the test checks the engine against
 * an independent record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handler.h"

static int calls_so_far(const char *path, const char *id)
{
    char line[512];
    size_t n = strlen(id);
    int calls = 0;
    FILE *f = fopen(path, "r");

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, id, n) == 0 && line[n] == ' ')
            calls++;
    fclose(f);
    return calls;
}

static void note(const char *path, const struct cv_event *ev, int call,
                 const char *result)
{
    struct timespec ts;
    FILE *f = fopen(path, "a");

    if (!f)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(f, "%s %d %lld %s %d\n", cv_event_id(ev), call,
            (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, result,
            (int)cv_event_partition(ev));
    fclose(f);
}

static cv_result_t act(struct cv_ctx *ctx, const struct cv_event *ev)
{
    const char *cmd, *path = getenv("CONVEYOR_TESTKIT_LOG");
    const char *id = cv_event_id(ev);
    char attempt[16];
    int call;

    if (!path)
        return cv_fail(ctx, "CONVEYOR_TESTKIT_LOG is not set");
    if (cv_event_string(ev, "schedule", &cmd) != CV_OK)
        return cv_fail(ctx, "no command in field schedule");
    call = calls_so_far(path, id) + 1;
    if (strncmp(cmd, "fail:", 5) == 0 && call <= atoi(cmd + 5)) {
        note(path, ev, call, "retry");
        return cv_retry(ctx, "told to fail %d times, call %d", atoi(cmd + 5),
                        call);
    }
    if (strcmp(cmd, "failhard") == 0) {
        note(path, ev, call, "failed");
        return cv_fail(ctx, "told to fail for good");
    }
    if (strncmp(cmd, "hang:", 5) == 0) {
        long ms = atol(cmd + 5);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        note(path, ev, call, "hang");
        nanosleep(&ts, NULL);
    }
    note(path, ev, call, "ok");
    snprintf(attempt, sizeof(attempt), "%d", cv_event_attempt(ev));
    cv_sql_exec(ctx,
                "INSERT INTO public.testkit_effects (event_id, attempt) "
                "VALUES ($1, $2::int)",
                2, (const char *[]){id, attempt});
    return CV_HANDLED;
}

static const struct cv_handler_def handlers[] = {
    {.name = "act",
     .fn = act,
     .description = "do what the event's command says (tests only)"},
    {0},
};

const struct cv_domain_def cv_domain_testkit = {
    .name = "testkit",
    .description = "fault injection for the integration tests",
    .handlers = handlers,
};
