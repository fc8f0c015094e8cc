/*
 * health.c - the loops' heartbeats and /healthz (see health.h).
 *
 * A fixed table under one mutex: a process runs a few dozen loops at most
 * (consumers per domain times parallelism, one relay, one ticker).
 */
#include "health.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "common.h"

#define LOOPS_MAX 256

struct loop {
    const void *key;
    char kind[16];
    char name[96];
    int64_t slack_ms;
    int64_t last_ms; /* monotonic */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct loop loops[LOOPS_MAX];
static int nloops;

void cv_health_beat(const void *key, const char *kind, const char *name,
                    int64_t slack_ms)
{
    int64_t now = cv_mono_ms();
    int i;

    pthread_mutex_lock(&lock);
    for (i = 0; i < nloops && loops[i].key != key; i++)
        ;
    if (i == nloops && nloops < LOOPS_MAX) {
        nloops++;
        loops[i].key = key;
        snprintf(loops[i].kind, sizeof(loops[i].kind), "%s", kind);
        snprintf(loops[i].name, sizeof(loops[i].name), "%s", name);
    }
    if (i < nloops) {
        loops[i].slack_ms = slack_ms;
        loops[i].last_ms = now;
    }
    pthread_mutex_unlock(&lock);
}

void cv_health_forget(const void *key)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nloops; i++)
        if (loops[i].key == key) {
            loops[i] = loops[--nloops];
            break;
        }
    pthread_mutex_unlock(&lock);
}

int cv_health_live(struct cv_buf *out, int64_t timeout_ms)
{
    int64_t now = cv_mono_ms();
    int ok = 1;
    struct cv_buf list = {0};

    pthread_mutex_lock(&lock);
    for (int i = 0; i < nloops; i++) {
        int64_t age = now - loops[i].last_ms;
        int stuck = age > timeout_ms + loops[i].slack_ms;

        ok &= !stuck;
        /* names come from the topology: no quoting needed beyond this */
        cv_buf_printf(&list,
                      "%s{\"kind\": \"%s\", \"name\": \"%s\", "
                      "\"last_round_ms_ago\": %lld, \"stuck\": %s}",
                      i ? ", " : "", loops[i].kind, loops[i].name,
                      (long long)age, stuck ? "true" : "false");
    }
    pthread_mutex_unlock(&lock);
    cv_buf_printf(out,
                  "{\"status\": \"%s\", \"reason\": \"%s\", "
                  "\"loops\": [%s]}\n",
                  ok ? "ok" : "stuck",
                  ok ? "every loop came round in time"
                     : "a loop has not come round: see loops[].stuck",
                  list.data ? list.data : "");
    cv_buf_free(&list);
    return ok;
}

int cv_health_loops(void)
{
    int n;

    pthread_mutex_lock(&lock);
    n = nloops;
    pthread_mutex_unlock(&lock);
    return n;
}

void cv_health_free(void)
{
    pthread_mutex_lock(&lock);
    nloops = 0;
    pthread_mutex_unlock(&lock);
}
